// SPDX-License-Identifier: GPL-2.0
// Opening the cache area: format a zeroed superblock, then validate it in
// upstream's order with upstream's error texts. The layout itself is in
// include/wc/layout.h.
#include "cache.h"
#include "endian.h"

namespace wc {

using namespace layout;

namespace {

uint32_t le32_at(const uint8_t *sb, size_t off)
{
	uint32_t v;
	__builtin_memcpy(&v, sb + off, 4);
	return from_le32(v);
}

uint64_t le64_at(const uint8_t *sb, size_t off)
{
	uint64_t v;
	__builtin_memcpy(&v, sb + off, 8);
	return from_le64(v);
}

} // namespace

void Cache::assign_sb(size_t off, uint64_t le_value)
{
	pmem_->assign(reinterpret_cast<uint64_t *>(area_.base + off), le_value);
}

// upstream init_memory(): header, then every entry free, commit, and only
// then the magic, committed on its own. A crash before the magic leaves
// magic 0 / version 1, which the next open rejects ("Invalid magic")
// instead of silently re-formatting over whatever is there.
Status Cache::format()
{
	uint64_t n, data_off;
	int r = wc_layout_n_blocks(area_.bytes, bs_, &n, &data_off);
	if (r)
		return Error{r, "Unable to initialize device"};

	for (size_t w = 0; w < kSuperblockBytes / 8; w++)
		assign_sb(w * 8, 0);
	assign_sb(kOffMagic, le_pair32(0, kVersion));
	assign_sb(kOffBlockSize, le_pair32(bs_, 0));
	assign_sb(kOffNBlocks, to_le64(n));
	assign_sb(kOffSeqCount, to_le64(0));
	for (uint64_t b = 0; b < n; b++) {
		pmem_->assign(entry_word(static_cast<Block>(b), kOffOriginalSector), ~0ull);
		pmem_->assign(entry_word(static_cast<Block>(b), kOffEntrySeq), ~0ull);
	}
	pmem_->commit();
	assign_sb(kOffMagic, le_pair32(kMagic, kVersion));
	pmem_->commit();
	return Status::success();
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
	if (le32_at(sb, kOffMagic) == 0 && le32_at(sb, kOffVersion) == 0) {
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

	uint64_t fresh;
	// upstream's calculate_memory_size(): -ENOSPC when not even one block
	// fits (e.g. start_sector near the end), -EFBIG when too many would.
	if (int r = wc_layout_n_blocks(area_bytes, bs_, &fresh, nullptr))
		return Error{r, "Invalid device size"};
	SsdMetadataParams mp;
	mp.block_size = bs_;
	mp.n_blocks = fresh;
	mp.test_flush_before_data_wait = params.test_flush_before_data_wait;
	WC_TRY(ssd_.init(mp, dev));
	if (!ssd_.read_head(bs_ >> 9).ok())
		return Error{-WC_EIO, "Unable to read first block of metadata"};

	const uint8_t *sb = ssd_.mirror();
	if (le32_at(sb, kOffMagic) == 0 && le32_at(sb, kOffVersion) == 0) {
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

// upstream's checks, in its order and with its texts. n_blocks comes from
// the superblock: every size computed from it is checked for overflow
// before anything is addressed.
Status Cache::validate_superblock(const uint8_t *sb, uint64_t area_bytes, uint64_t *out_n)
{
	if (le32_at(sb, kOffMagic) != kMagic)
		return Error{-WC_EINVAL, "Invalid magic in the superblock"};
	if (le32_at(sb, kOffVersion) != kVersion)
		return Error{-WC_EINVAL, "Invalid version in the superblock"};
	if (le32_at(sb, kOffBlockSize) != bs_)
		return Error{-WC_EINVAL, "Block size does not match superblock"};

	uint64_t n = le64_at(sb, kOffNBlocks);
	constexpr Error kOverflow = {-WC_EINVAL, "Overflow in size calculation"};
	if (n > (~0ull - kSuperblockBytes) / kEntryBytes)
		return kOverflow;
	uint64_t meta = kSuperblockBytes + n * kEntryBytes;
	if (meta > ~0ull - bs_)
		return kOverflow;
	uint64_t data_off = data_offset(n, bs_);
	if (n && n > ~0ull / bs_)
		return kOverflow;
	uint64_t data_size = n * bs_;
	if (data_off + data_size < data_off)
		return kOverflow;
	if (data_off + data_size > area_bytes)
		return Error{-WC_EINVAL, "Memory area is too small"};
	*out_n = n;
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
