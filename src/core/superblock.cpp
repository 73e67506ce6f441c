// SPDX-License-Identifier: GPL-2.0
// Opening the cache area: format a zeroed superblock, then validate it in
// upstream's order with upstream's error texts. The layout itself is in
// include/wc/layout.h.
#include "cache.h"
#include "endian.h"

namespace wc {

using namespace layout;

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
	auto le32_at = [&](size_t off) {
		uint32_t v;
		__builtin_memcpy(&v, sb + off, 4);
		return from_le32(v);
	};
	auto le64_at = [&](size_t off) {
		uint64_t v;
		__builtin_memcpy(&v, sb + off, 8);
		return from_le64(v);
	};

	if (le32_at(kOffMagic) == 0 && le32_at(kOffVersion) == 0) {
		WC_TRY(format());
		if (!pmem_->read(sb, area_.base, sizeof(sb)))
			return Error{-WC_EIO, "Hardware memory error when reading superblock"};
	}
	if (le32_at(kOffMagic) != kMagic)
		return Error{-WC_EINVAL, "Invalid magic in the superblock"};
	if (le32_at(kOffVersion) != kVersion)
		return Error{-WC_EINVAL, "Invalid version in the superblock"};
	if (le32_at(kOffBlockSize) != bs_)
		return Error{-WC_EINVAL, "Block size does not match superblock"};

	// n_blocks comes from the superblock: every size computed from it is
	// checked for overflow before anything is addressed.
	uint64_t n = le64_at(kOffNBlocks);
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
	if (data_off + data_size > area.bytes)
		return Error{-WC_EINVAL, "Memory area is too small"};

	n_blocks_ = n;
	data_ = area_.base + data_off;
	// upstream: free-block thresholds, rounded to nearest.
	high_free_ = (n * (100 - params.high_watermark) + 50) / 100;
	low_free_ = (n * (100 - params.low_watermark) + 50) / 100;
	if (params.cleaner)
		high_free_ = low_free_ = n;
	unsigned int shift = 0;
	while ((512u << shift) < bs_)
		shift++;
	return map_.init(n, shift, params.max_age_ms != WC_MAX_AGE_UNSPECIFIED);
}

} // namespace wc
