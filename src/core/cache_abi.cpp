// SPDX-License-Identifier: GPL-2.0
// The C entry points the kernel shim calls (include/wc_abi.h), each a thin
// forward to wc::Cache.
#include "cache.h"

#include <new>

namespace {

// The shim's wc_ssd_ops as the core's CacheDevice.
class OpsDevice final : public wc::CacheDevice {
public:
	explicit OpsDevice(const wc_ssd_ops &ops) : ops_(ops) {}
	void submit_write(uint64_t sector, const void *buf, uint64_t sectors,
			  bool fua) override
	{
		ops_.submit_write(ops_.ctx, sector, buf, sectors, fua);
	}
	wc::Status wait_writes() override { return status(ops_.wait_writes(ops_.ctx)); }
	wc::Status read(uint64_t sector, void *buf, uint64_t sectors) override
	{
		return status(ops_.read(ops_.ctx, sector, buf, sectors));
	}
	wc::Status flush() override { return status(ops_.flush(ops_.ctx)); }
	void wait_for_data_writes() override { ops_.wait_data(ops_.ctx, 1); }
	void wait_for_data_reads() override { ops_.wait_data(ops_.ctx, 0); }
	void data_io_begin(bool write) override { ops_.data_io_begin(ops_.ctx, write); }

private:
	static wc::Status status(int r)
	{
		if (r)
			return wc::Error{r, "I/O error"};
		return wc::Status::success();
	}
	wc_ssd_ops ops_;
};

} // namespace

struct wc_cache {
	explicit wc_cache(const wc_ssd_ops *ops) : device(ops ? *ops : wc_ssd_ops{}) {}
	OpsDevice device;	// SSD mode only
	wc::Cache cache;
};

namespace {

wc::Cache &C(struct wc_cache *c) { return c->cache; }

wc::CacheParams params_of(const struct wc_config *cfg)
{
	wc::CacheParams p;
	p.block_size = cfg->block_size;
	p.autocommit_blocks = cfg->autocommit_blocks;
	p.high_watermark = cfg->high_watermark;
	p.low_watermark = cfg->low_watermark;
	p.cleaner = cfg->cleaner;
	p.metadata_only = cfg->metadata_only;
	p.max_age_ms = (cfg->set & WC_SET_MAX_AGE) ? cfg->max_age_ms :
						     WC_MAX_AGE_UNSPECIFIED;
#ifdef WC_TEST_BROKEN_COMMIT_ORDER
	// The crash-replay canary build: PREFLUSH before the data writes
	// finish, the order 5.4.19 fixed. Never in a normal build.
	p.test_flush_before_data_wait = true;
#endif
	return p;
}

wc::SsdTarget fill_mapping(const wc::Cache &c, const wc::SsdMapping &m,
			   struct wc_ssd_mapping *out)
{
	out->cache_sector = m.target == wc::SsdTarget::kCache ? c.ssd_data_sector(m.block) : 0;
	out->blocks = m.blocks;
	out->uncommitted = m.uncommitted;
	out->commit_now = m.commit_now;
	out->arm_timer = m.arm_timer;
	return m.target;
}

enum wc_ssd_target to_abi(wc::SsdTarget t)
{
	switch (t) {
	case wc::SsdTarget::kCache:
		return WC_SSD_CACHE;
	case wc::SsdTarget::kOrigin:
		return WC_SSD_ORIGIN;
	case wc::SsdTarget::kNoSpace:
		return WC_SSD_NOSPACE;
	case wc::SsdTarget::kError:
		break;
	}
	return WC_SSD_ERROR;
}

} // namespace

extern "C" int wc_cache_create(const struct wc_config *cfg, void *area,
			       uint64_t bytes, struct wc_cache **out,
			       const char **error)
{
	auto *c = new (std::nothrow) wc_cache(nullptr);
	if (!c) {
		*error = "Cannot allocate memory";
		return -WC_ENOMEM;
	}
	wc::Status s = c->cache.open(params_of(cfg), wc::native_pmem(),
				     wc::CacheArea{static_cast<uint8_t *>(area), bytes});
	if (!s.ok()) {
		*error = s.error().message;
		delete c;
		return s.error().code;
	}
	*out = c;
	return 0;
}

extern "C" int wc_cache_create_ssd(const struct wc_config *cfg,
				   const struct wc_ssd_ops *ops, uint64_t bytes,
				   struct wc_cache **out, const char **error)
{
	auto *c = new (std::nothrow) wc_cache(ops);
	if (!c) {
		*error = "Cannot allocate memory";
		return -WC_ENOMEM;
	}
	wc::Status s = c->cache.open_ssd(params_of(cfg), c->device, bytes);
	if (!s.ok()) {
		*error = s.error().message;
		delete c;
		return s.error().code;
	}
	*out = c;
	return 0;
}

extern "C" enum wc_ssd_target wc_cache_ssd_map_write(struct wc_cache *c,
						     uint64_t sector,
						     uint64_t blocks,
						     int req_meta,
						     struct wc_ssd_mapping *m)
{
	return to_abi(fill_mapping(C(c), C(c).ssd_map_write(sector, blocks, req_meta), m));
}

extern "C" enum wc_ssd_target wc_cache_ssd_map_read(struct wc_cache *c,
						    uint64_t sector,
						    uint64_t blocks,
						    struct wc_ssd_mapping *m)
{
	return to_abi(fill_mapping(C(c), C(c).ssd_map_read(sector, blocks), m));
}

extern "C" uint64_t wc_cache_ssd_block_sector(struct wc_cache *c, uint32_t block)
{
	return C(c).ssd_data_sector(block);
}

extern "C" uint64_t wc_cache_ram_bytes(struct wc_cache *c)
{
	return C(c).ram_bytes();
}

extern "C" void wc_cache_count_discard(struct wc_cache *c, uint64_t blocks)
{
	C(c).count_discard(blocks);
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

extern "C" void wc_cache_set_waker(struct wc_cache *c, void (*fn)(void *ctx), void *ctx)
{
	C(c).set_waker(fn, ctx);
}

extern "C" enum wc_io_result wc_cache_write(struct wc_cache *c, struct wc_bio *b,
					    struct wc_io_out *out)
{
	return C(c).write(*b, out);
}

extern "C" enum wc_io_result wc_cache_read(struct wc_cache *c, struct wc_bio *b,
					   struct wc_io_out *out)
{
	return C(c).read(*b, out);
}

extern "C" int wc_cache_flush(struct wc_cache *c)
{
	wc::Status s = C(c).flush();
	return s.ok() ? 0 : s.error().code;
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
					int status)
{
	C(c).writeback_done(*static_cast<const wc::WritebackRun *>(run), status == 0, status);
}

extern "C" int wc_cache_writeback_wanted(struct wc_cache *c)
{
	return C(c).writeback_wanted();
}

extern "C" int wc_cache_writeback_take_skipped(struct wc_cache *c)
{
	return C(c).writeback_take_skipped();
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
