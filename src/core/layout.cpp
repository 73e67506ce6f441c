// SPDX-License-Identifier: GPL-2.0
// Geometry of a fresh format: how many blocks fit (upstream's
// calculate_memory_size(), with the same result).
#include <wc/layout.h>
#include <wc_abi.h>

namespace wc::layout {
namespace {

bool fits(uint64_t n, uint32_t bs, uint64_t size)
{
	return data_offset(n, bs) + n * bs <= size;
}

} // namespace
} // namespace wc::layout

extern "C" int wc_layout_n_blocks(uint64_t size_bytes, uint32_t block_size,
				  uint64_t *n_blocks, uint64_t *data_off)
{
	using namespace wc::layout;

	if (block_size == 0 || (block_size & (block_size - 1)))
		return -WC_EINVAL;
	// Upper bound; upstream then steps down one block at a time. fits()
	// is monotonic in n, so a binary search gives the same n without
	// upstream's O(size/bs^2) loop.
	uint64_t hi = size_bytes / (block_size + kEntryBytes);
	if (hi == 0)
		return -WC_ENOSPC;
	if (!fits(hi, block_size, size_bytes)) {
		uint64_t lo = 0;	// fits(lo) holds trivially
		while (hi - lo > 1) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (fits(mid, block_size, size_bytes))
				lo = mid;
			else
				hi = mid;
		}
		hi = lo;
	}
	if (hi == 0)
		return -WC_ENOSPC;
	if (hi >= kMaxBlocks)
		return -WC_EFBIG;
	*n_blocks = hi;
	if (data_off)
		*data_off = data_offset(hi, block_size);
	return 0;
}
