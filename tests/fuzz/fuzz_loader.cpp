// SPDX-License-Identifier: GPL-2.0
// Fuzz the cache loader over arbitrary images: open() (superblock checks,
// format of a zeroed header) and load() (the resume scan) must never read
// or write outside the area, and whatever they accept must be a consistent
// block map that a second load reproduces exactly.
//
// Input: byte 0 picks the block size (512 << (b & 3)) and whether the image
// is padded to a larger area (b & 4); the rest is the image.
#include "cache.h"
#include "fuzz_common.h"
#include "mem_pmem.h"

#include <cstring>
#include <vector>

namespace {

using MemPmem = wc::test::MemPmem;

struct Loaded {
	bool ok = false;
	std::vector<uint64_t> sector_of_block;	// ~0 when free
};

Loaded load(std::vector<uint8_t> &area, uint32_t bs)
{
	MemPmem pmem;
	wc::Cache cache;
	wc::CacheParams p;
	p.block_size = bs;
	Loaded out;
	// Exact-size heap copy: ASan sees any access past the area.
	std::vector<uint8_t> exact(area);
	wc::Status s = cache.open(p, pmem, wc::CacheArea{exact.data(), exact.size()});
	if (!s.ok()) {
		FUZZ_CHECK(s.error().code < 0 && s.error().message, "error without text");
		return out;
	}
	s = cache.load();
	FUZZ_CHECK(s.ok(), "load failed after a successful open");
	const wc::BlockMap &m = cache.map();
	wc::Status inv = m.check();
	FUZZ_CHECK(inv.ok(), "block map invariant: %s", inv.error().message);
	uint64_t data_end = wc::layout::data_offset(cache.n_blocks(), bs) + cache.n_blocks() * bs;
	FUZZ_CHECK(data_end <= exact.size(), "accepted a cache larger than its area");
	out.ok = true;
	for (uint64_t b = 0; b < cache.n_blocks(); b++) {
		wc::Block blk = static_cast<wc::Block>(b);
		out.sector_of_block.push_back(m.is_free(blk) ? ~0ull : m.sector(blk));
	}
	area = exact;	// load may have cleared entries
	return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t bs = 512u << (data[0] & 3);
	size_t pad = (data[0] & 4) ? 64 * 1024 : 0;
	std::vector<uint8_t> area(data + 1, data + size);
	area.resize(area.size() + pad, 0);
	if (area.size() > (1u << 20))
		return 0;

	Loaded first = load(area, bs);
	if (!first.ok)
		return 0;
	// The loaded (possibly repaired) image loads again to the same state,
	// unless the first load latched an error (then entries may be dropped
	// in RAM only, as upstream does).
	Loaded second = load(area, bs);
	FUZZ_CHECK(second.ok, "a loaded image no longer opens");
	FUZZ_CHECK(second.sector_of_block == first.sector_of_block ||
			   first.sector_of_block.empty(),
		   "second load differs");
	return 0;
}
