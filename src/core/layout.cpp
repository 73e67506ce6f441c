// SPDX-License-Identifier: GPL-2.0
// Geometry of a fresh format (upstream's calculate_memory_size(), with the
// same result) and the checks of an existing superblock. The format itself
// is in include/wc/layout.h.
#include <wc/layout.h>
#include <wc_abi.h>

namespace wc::layout {
namespace {

bool fits(uint64_t n, uint32_t bs, uint64_t size)
{
	return data_offset(n, bs) + n * bs <= size;
}

} // namespace

Result<Geometry> fresh_geometry(uint64_t area_bytes, uint32_t block_size)
{
	if (block_size == 0 || (block_size & (block_size - 1)))
		return Error{-WC_EINVAL, "Invalid block size"};
	// Upper bound; upstream then steps down one block at a time. fits()
	// is monotonic in n, so a binary search gives the same n without
	// upstream's O(size/bs^2) loop.
	uint64_t hi = area_bytes / (block_size + kEntryBytes);
	constexpr Error kNoSpace = {-WC_ENOSPC, "Device is too small"};
	if (hi == 0)
		return kNoSpace;
	if (!fits(hi, block_size, area_bytes)) {
		uint64_t lo = 0;	// fits(lo) holds trivially
		while (hi - lo > 1) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (fits(mid, block_size, area_bytes))
				lo = mid;
			else
				hi = mid;
		}
		hi = lo;
	}
	if (hi == 0)
		return kNoSpace;
	if (hi >= kMaxBlocks)
		return Error{-WC_EFBIG, "Device is too big"};
	return Geometry{hi, data_offset(hi, block_size)};
}

Result<uint64_t> check_superblock(const Superblock &s, uint32_t bs, uint64_t area_bytes)
{
	if (s.magic != kMagic)
		return Error{-WC_EINVAL, "Invalid magic in the superblock"};
	if (s.version != kVersion)
		return Error{-WC_EINVAL, "Invalid version in the superblock"};
	if (s.block_size != bs)
		return Error{-WC_EINVAL, "Block size does not match superblock"};

	const uint64_t n = s.n_blocks;
	constexpr Error kOverflow = {-WC_EINVAL, "Overflow in size calculation"};
	if (n > (~0ull - kSuperblockBytes) / kEntryBytes)
		return kOverflow;
	uint64_t meta = kSuperblockBytes + n * kEntryBytes;
	if (meta > ~0ull - bs)
		return kOverflow;
	uint64_t data_off = data_offset(n, bs);
	if (n && n > ~0ull / bs)
		return kOverflow;
	uint64_t data_size = n * bs;
	if (data_off + data_size < data_off)
		return kOverflow;
	if (data_off + data_size > area_bytes)
		return Error{-WC_EINVAL, "Memory area is too small"};
	return n;
}

} // namespace wc::layout

extern "C" int wc_layout_n_blocks(uint64_t size_bytes, uint32_t block_size,
				  uint64_t *n_blocks, uint64_t *data_off)
{
	wc::Result<wc::layout::Geometry> g = wc::layout::fresh_geometry(size_bytes, block_size);
	if (!g.ok())
		return g.error().code;
	*n_blocks = g->n_blocks;
	if (data_off)
		*data_off = g->data_offset;
	return 0;
}
