// SPDX-License-Identifier: GPL-2.0
// Opening the cache area: format a zeroed superblock, then validate it in
// upstream's order with upstream's error texts. The format, its encoding
// and the checks are include/wc/layout.h's; this file supplies the media.
#include "cache.h"

namespace wc {

using namespace layout;

void Cache::assign_sb(size_t off, uint64_t le_value)
{
	pmem_->assign(reinterpret_cast<uint64_t *>(area_.base + off), le_value);
}

// layout::format() over pmem: each word one assign (atomic, durable at the
// next commit).
Status Cache::format()
{
	Result<Geometry> g = fresh_geometry(area_.bytes, bs_);
	if (!g.ok())
		return Error{g.error().code, "Unable to initialize device"};

	struct PmemSink {
		Cache *c;
		void store(uint64_t off, uint64_t le_word) { c->assign_sb(off, le_word); }
		Status commit(FormatStep)
		{
			c->pmem_->commit();
			return Status::success();
		}
	} sink{this};
	return layout::format(sink, bs_, g->n_blocks);
}

Status Cache::open(const CacheParams &params, Pmem &pmem, CacheArea area)
{
	params_ = params;
	pmem_ = &pmem;
	area_ = area;
	bs_ = params.block_size;
	if (!lock_.init() || !gate_.init())
		return Error{-WC_ENOMEM, "Cannot allocate memory"};
	if (area.bytes < kSuperblockBytes)
		return Error{-WC_EINVAL, "Memory area is too small"};

	uint8_t sb[kSuperblockBytes];
	if (!pmem_->read(sb, area_.base, sizeof(sb)))
		return Error{-WC_EIO, "Hardware memory error when reading superblock"};
	if (is_unformatted(load_superblock(sb))) {
		WC_TRY(format());
		if (!pmem_->read(sb, area_.base, sizeof(sb)))
			return Error{-WC_EIO, "Hardware memory error when reading superblock"};
	}
	uint64_t n;
	WC_TRY(validate_superblock(sb, area.bytes, &n));
	data_ = area_.base + data_offset(n, bs_);
	return init_map(n);
}

// upstream's SSD constructor: size the mirror for a fresh format of the
// device, read only the first block, format if zeroed, then validate.
Status Cache::open_ssd(const CacheParams &params, CacheDevice &dev, uint64_t area_bytes)
{
	params_ = params;
	bs_ = params.block_size;
	if (!lock_.init() || !gate_.init())
		return Error{-WC_ENOMEM, "Cannot allocate memory"};

	// upstream's calculate_memory_size(): -ENOSPC when not even one block
	// fits (e.g. start_sector near the end), -EFBIG when too many would.
	Result<Geometry> fresh = fresh_geometry(area_bytes, bs_);
	if (!fresh.ok())
		return Error{fresh.error().code, "Invalid device size"};
	SsdMetadataParams mp;
	mp.block_size = bs_;
	mp.n_blocks = fresh->n_blocks;
	mp.test_flush_before_data_wait = params.test_flush_before_data_wait;
	WC_TRY(ssd_.init(mp, dev));
	if (!ssd_.read_head(bs_ >> 9).ok())
		return Error{-WC_EIO, "Unable to read first block of metadata"};

	const uint8_t *sb = ssd_.mirror();
	if (is_unformatted(load_superblock(sb))) {
		if (!ssd_.format().ok())
			return Error{-WC_EIO, "Unable to initialize device"};
	}
	uint64_t n;
	WC_TRY(validate_superblock(sb, area_bytes, &n));
	// The mirror holds every entry's sector: the map reads it there.
	map_.use_external_sectors(ssd_.mirror() + entry_offset(0) + kOffOriginalSector,
				  kEntryBytes);
	WC_TRY(init_map(n));
	dev_ = &dev;
	return ssd_.set_n_blocks(n);
}

// layout::check_superblock(): upstream's checks, order and texts.
Status Cache::validate_superblock(const uint8_t *sb, uint64_t area_bytes, uint64_t *out_n)
{
	Result<uint64_t> n = check_superblock(load_superblock(sb), bs_, area_bytes);
	if (!n.ok())
		return n.error();
	*out_n = *n;
	return Status::success();
}

Status Cache::init_map(uint64_t n)
{
	n_blocks_ = n;
	// upstream: free-block thresholds, rounded to nearest.
	high_free_ = (n * (100 - params_.high_watermark) + 50) / 100;
	low_free_ = (n * (100 - params_.low_watermark) + 50) / 100;
	if (params_.cleaner)
		high_free_ = low_free_ = n;
	unsigned int shift = 0;
	while ((512u << shift) < bs_)
		shift++;
	// SSD mode (map reads sectors from the mirror) takes the compact
	// index: its lookups are cheap next to the I/O they steer.
	bool ssd = map_.has_external_sectors();
	Status r = map_.init(n, shift, params_.max_age_ms != WC_MAX_AGE_UNSPECIFIED, ssd);
	map_fresh_ = r.ok();
	return r;
}

} // namespace wc
