// SPDX-License-Identifier: GPL-2.0
// The C entry points the kernel shim calls (include/wc_abi.h), each a thin
// forward to wc::Cache.
#include "cache.h"

#include <new>

struct wc_cache {
	wc::Cache cache;
};

namespace {
wc::Cache &C(struct wc_cache *c) { return c->cache; }
} // namespace

extern "C" int wc_cache_create(const struct wc_config *cfg, void *area,
			       uint64_t bytes, struct wc_cache **out,
			       const char **error)
{
	auto *c = new (std::nothrow) wc_cache;
	if (!c) {
		*error = "Cannot allocate memory";
		return -WC_ENOMEM;
	}
	wc::CacheParams p;
	p.block_size = cfg->block_size;
	p.autocommit_blocks = cfg->autocommit_blocks;
	p.high_watermark = cfg->high_watermark;
	p.low_watermark = cfg->low_watermark;
	p.cleaner = cfg->cleaner;
	p.metadata_only = cfg->metadata_only;
	p.max_age_ms = (cfg->set & WC_SET_MAX_AGE) ? cfg->max_age_ms :
						     WC_MAX_AGE_UNSPECIFIED;
	wc::Status s = c->cache.open(p, wc::native_pmem(),
				     wc::CacheArea{static_cast<uint8_t *>(area), bytes});
	if (!s.ok()) {
		*error = s.error().message;
		delete c;
		return s.error().code;
	}
	*out = c;
	return 0;
}

extern "C" void wc_cache_destroy(struct wc_cache *c)
{
	delete c;
}

extern "C" int wc_cache_load(struct wc_cache *c)
{
	wc::Status s = C(c).load();
	return s.ok() ? 0 : s.error().code;
}

extern "C" enum wc_write_result wc_cache_write_block(struct wc_cache *c,
						     uint64_t sector,
						     const void *src,
						     int req_meta)
{
	switch (C(c).write_block(sector, src, req_meta)) {
	case wc::WriteResult::kCached:
		return WC_WRITE_CACHED;
	case wc::WriteResult::kAround:
		return WC_WRITE_AROUND;
	case wc::WriteResult::kNoSpace:
		return WC_WRITE_NOSPACE;
	case wc::WriteResult::kError:
		break;
	}
	return WC_WRITE_ERROR;
}

extern "C" int wc_cache_end_write(struct wc_cache *c, int fua, int *arm_timer)
{
	bool arm = false;
	wc::Status s = C(c).end_write(fua, &arm);
	*arm_timer = arm;
	return s.ok() ? 0 : s.error().code;
}

extern "C" int wc_cache_read_block(struct wc_cache *c, uint64_t sector,
				   void *dst, int *io_error)
{
	bool err = false;
	bool hit = C(c).read_block(sector, dst, &err);
	*io_error = err;
	return hit;
}

extern "C" uint64_t wc_cache_next_cached(struct wc_cache *c, uint64_t sector,
					 uint64_t blocks)
{
	return C(c).next_cached(sector, blocks);
}

extern "C" void wc_cache_discard(struct wc_cache *c, uint64_t start,
				 uint64_t end)
{
	C(c).discard(start, end);
}

extern "C" int wc_cache_commit(struct wc_cache *c)
{
	wc::Status s = C(c).commit();
	return s.ok() ? 0 : s.error().code;
}

extern "C" int wc_cache_writeback_next(struct wc_cache *c,
				       struct wc_writeback_run *run, int all)
{
	return C(c).writeback_next(static_cast<wc::WritebackRun *>(run), all);
}

extern "C" const void *wc_cache_block_data(struct wc_cache *c, uint32_t block)
{
	return C(c).block_data(block);
}

extern "C" void wc_cache_writeback_done(struct wc_cache *c,
					const struct wc_writeback_run *run,
					int ok)
{
	C(c).writeback_done(*static_cast<const wc::WritebackRun *>(run), ok);
}

extern "C" int wc_cache_writeback_wanted(struct wc_cache *c)
{
	return C(c).writeback_wanted();
}

extern "C" uint64_t wc_cache_writeback_blocks(struct wc_cache *c)
{
	return C(c).writeback_blocks();
}

extern "C" uint64_t wc_cache_free_blocks(struct wc_cache *c)
{
	return C(c).free_blocks();
}

extern "C" int wc_cache_has_error(struct wc_cache *c)
{
	return C(c).has_error();
}

extern "C" void wc_cache_fill_status(struct wc_cache *c, struct wc_status *st)
{
	C(c).fill_status(st);
}

extern "C" void wc_cache_clear_stats(struct wc_cache *c)
{
	C(c).clear_stats();
}

extern "C" void wc_cache_set_cleaner(struct wc_cache *c)
{
	C(c).set_cleaner();
}

extern "C" void wc_cache_count_flush(struct wc_cache *c)
{
	C(c).count_flush();
}

extern "C" void wc_cache_count_reads(struct wc_cache *c, uint64_t blocks)
{
	C(c).count_reads(blocks);
}

extern "C" void wc_cache_count_around(struct wc_cache *c, uint64_t blocks)
{
	C(c).account_around(blocks);
}
