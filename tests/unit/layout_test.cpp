// SPDX-License-Identifier: GPL-2.0
// Format v1 (include/wc/layout.h) pinned byte by byte: the encoding of a
// superblock and an entry against bytes written out by hand from
// upstream's struct wc_memory_superblock / wc_memory_entry, the whole
// image a format leaves in each mode, the format routine's order over a
// sink, and the checks of an existing superblock.
#include "cache.h"
#include "mem_pmem.h"
#include "sim/sim_ssd.h"
#include "ssd_metadata.h"

#include <wc/layout.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace wc;
using namespace wc::layout;

namespace {

// upstream (drivers/md/dm-writecache.c):
//   struct wc_memory_superblock { union { struct {
//       __le32 magic; __le32 version; __le32 block_size; __le32 pad;
//       __le64 n_blocks; __le64 seq_count; }; __le64 padding[8]; };
//       struct wc_memory_entry entries[]; };
//   struct wc_memory_entry { __le64 original_sector; __le64 seq_count; };
// A 1 MiB area at block size 4096 holds 254 blocks (upstream's
// calculate_memory_size(): 255 do not fit, 8192 + 254 * 4096 == 1 MiB).
constexpr uint64_t kArea = 1 << 20;
constexpr uint32_t kBs = 4096;
constexpr uint64_t kN = 254;

// The superblock of that format, committed once (seq_count 0).
const uint8_t kFormattedSuperblock[64] = {
	0x21, 0x93, 0x48, 0x23,	// magic 0x23489321
	0x01, 0x00, 0x00, 0x00,	// version 1
	0x00, 0x10, 0x00, 0x00,	// block_size 4096
	0x00, 0x00, 0x00, 0x00,	// pad
	0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	// n_blocks 254
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	// seq_count 0
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	// padding[4..7]
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

std::vector<uint8_t> bytes_of(const void *p, size_t n)
{
	const uint8_t *b = static_cast<const uint8_t *>(p);
	return std::vector<uint8_t>(b, b + n);
}

// What a format leaves in the first `meta` bytes: the superblock, every
// entry free (all ones), then `gap` (the bytes up to data_offset, which
// pmem leaves alone and SSD writes from its zeroed mirror).
std::vector<uint8_t> formatted_metadata(uint64_t meta, uint8_t gap)
{
	std::vector<uint8_t> img(meta, gap);
	std::memcpy(img.data(), kFormattedSuperblock, 64);
	std::memset(img.data() + 64, 0xff, 16 * kN);
	return img;
}

} // namespace

TEST(LayoutCodec, StructsAreUpstreams)
{
	static_assert(sizeof(MemorySuperblock) == 64);
	static_assert(sizeof(MemoryEntry) == 16);
	static_assert(std::is_trivially_copyable_v<MemorySuperblock>);
	static_assert(std::is_standard_layout_v<MemorySuperblock>);
	static_assert(std::is_trivially_copyable_v<MemoryEntry>);
	EXPECT_EQ(kSuperblockBytes, 64u);
	EXPECT_EQ(kEntryBytes, 16u);
	EXPECT_EQ(entry_offset(0), 64u);
	EXPECT_EQ(entry_offset(kN), 64u + 16 * kN);
	EXPECT_EQ(data_offset(kN, kBs), 8192u);
	EXPECT_EQ(data_offset(0, 512), 512u);
}

TEST(LayoutCodec, SuperblockEncodesToUpstreamBytes)
{
	Superblock s{kMagic, kVersion, 4096, 0x0000000000123456ull, 0x0102030405060708ull};
	const uint8_t want[64] = {
		0x21, 0x93, 0x48, 0x23, 0x01, 0x00, 0x00, 0x00,
		0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	};
	MemorySuperblock m = encode(s);
	EXPECT_EQ(bytes_of(&m, 64), bytes_of(want, 64));

	// store_superblock() writes the fields (pad 0), never bytes 32..63.
	std::vector<uint8_t> buf(64, 0xa5);
	store_superblock(buf.data(), s);
	EXPECT_EQ(bytes_of(buf.data(), 32), bytes_of(want, 32));
	for (size_t i = 32; i < 64; i++)
		EXPECT_EQ(buf[i], 0xa5) << "byte " << i;

	Superblock d = load_superblock(want);
	EXPECT_EQ(d.magic, kMagic);
	EXPECT_EQ(d.version, 1u);
	EXPECT_EQ(d.block_size, 4096u);
	EXPECT_EQ(d.n_blocks, 0x123456u);
	EXPECT_EQ(d.seq_count, 0x0102030405060708ull);
	d = decode(m);
	EXPECT_EQ(d.n_blocks, 0x123456u);

	// The pad is not part of the decoded value, and a nonzero one does
	// not disturb the fields around it.
	uint8_t odd[64];
	std::memcpy(odd, want, 64);
	odd[12] = 0x77;
	EXPECT_EQ(load_superblock(odd).block_size, 4096u);
	EXPECT_EQ(load_superblock(odd).n_blocks, 0x123456u);
}

TEST(LayoutCodec, EntryEncodesToUpstreamBytes)
{
	const uint8_t want[16] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
				  0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11};
	Entry e{0x0102030405060708ull, 0x1112131415161718ull};
	MemoryEntry m = encode(e);
	EXPECT_EQ(bytes_of(&m, 16), bytes_of(want, 16));
	uint8_t buf[17] = {};
	store_entry(buf + 1, e);	// any alignment
	EXPECT_EQ(bytes_of(buf + 1, 16), bytes_of(want, 16));
	Entry d = load_entry(buf + 1);
	EXPECT_EQ(d.original_sector, e.original_sector);
	EXPECT_EQ(d.seq_count, e.seq_count);
	EXPECT_FALSE(d.is_free());

	MemoryEntry f = encode(kFreeEntry);
	EXPECT_EQ(bytes_of(&f, 16), std::vector<uint8_t>(16, 0xff));
	EXPECT_TRUE(decode(f).is_free());
}

TEST(LayoutCodec, FieldHelpersAreLittleEndianAtAnyAlignment)
{
	uint8_t b[13] = {};
	store_le64(b + 1, 0x1122334455667788ull);
	store_le32(b + 9, 0xa1b2c3d4u);
	const uint8_t want[13] = {0,    0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
				  0x22, 0x11, 0xd4, 0xc3, 0xb2, 0xa1};
	EXPECT_EQ(bytes_of(b, 13), bytes_of(want, 13));
	EXPECT_EQ(load_le64(b + 1), 0x1122334455667788ull);
	EXPECT_EQ(load_le32(b + 9), 0xa1b2c3d4u);

	Le64 x;
	x.set(0x0102030405060708ull);
	EXPECT_EQ(bytes_of(&x, 8), (std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1}));
	EXPECT_EQ(x.get(), 0x0102030405060708ull);
	Le32 y;
	y.set(kMagic);
	EXPECT_EQ(bytes_of(&y, 4), (std::vector<uint8_t>{0x21, 0x93, 0x48, 0x23}));
	// Word 0 holds magic (low half) and version.
	MemorySuperblock m = encode(Superblock{kMagic, kVersion, 512, 1, 0});
	EXPECT_EQ(le_word(m, 0), le_pair32(kMagic, kVersion));
	EXPECT_EQ(le_word(m, 1), to_le64(512));
	EXPECT_EQ(from_le64(le_word(m, 0)), 0x0000000123489321ull);
}

TEST(LayoutCodec, UnformattedMeansMagicAndVersionZero)
{
	EXPECT_TRUE(is_unformatted(Superblock{0, 0, 4096, 7, 9}));
	EXPECT_FALSE(is_unformatted(Superblock{0, 1, 0, 0, 0}));	// the format window
	EXPECT_FALSE(is_unformatted(Superblock{kMagic, 0, 0, 0, 0}));
}

// ---- the format routine ----------------------------------------------------

namespace {

// Records stores into an image and the commits between them.
struct RecordingSink {
	std::vector<uint8_t> img;
	std::vector<std::string> ops;	// "S<off>" per store, "C0"/"C1" per commit
	int fail_at = -1;		// the commit (0 or 1) that fails
	int commits = 0;

	explicit RecordingSink(size_t bytes) : img(bytes, 0x5a) {}
	void store(uint64_t off, uint64_t le_word)
	{
		EXPECT_EQ(off % 8, 0u);
		EXPECT_LE(off + 8, img.size());
		std::memcpy(img.data() + off, &le_word, 8);
		ops.push_back("S" + std::to_string(off));
	}
	Status commit(FormatStep step)
	{
		ops.push_back(step == FormatStep::kBody ? "C0" : "C1");
		if (commits++ == fail_at)
			return Error{-WC_EIO, "commit failed"};
		return Status::success();
	}
};

} // namespace

TEST(LayoutFormat, HeaderAndEntriesThenTheMagicAlone)
{
	RecordingSink s(data_offset(kN, kBs));
	ASSERT_TRUE(layout::format(s, kBs, kN).ok());
	// The header's 8 words, then both words of every entry, commit; then
	// word 0 again (the magic), commit.
	std::vector<std::string> want;
	for (int w = 0; w < 8; w++)
		want.push_back("S" + std::to_string(8 * w));
	for (uint64_t b = 0; b < kN; b++) {
		want.push_back("S" + std::to_string(64 + 16 * b));
		want.push_back("S" + std::to_string(72 + 16 * b));
	}
	want.push_back("C0");
	want.push_back("S0");
	want.push_back("C1");
	EXPECT_EQ(s.ops, want);
	EXPECT_EQ(s.img, formatted_metadata(s.img.size(), 0x5a));
}

TEST(LayoutFormat, BeforeTheMagicTheHeaderSaysVersionOneMagicZero)
{
	RecordingSink s(data_offset(kN, kBs));
	s.fail_at = 0;
	Status r = layout::format(s, kBs, kN);
	ASSERT_FALSE(r.ok());
	EXPECT_STREQ(r.error().message, "commit failed");
	EXPECT_EQ(s.ops.back(), "C0") << "no magic after a failed commit";
	std::vector<uint8_t> want = formatted_metadata(s.img.size(), 0x5a);
	std::memset(want.data(), 0, 4);
	EXPECT_EQ(s.img, want);
	Superblock sb = load_superblock(s.img.data());
	EXPECT_FALSE(is_unformatted(sb));
	EXPECT_STREQ(check_superblock(sb, kBs, kArea).error().message,
		     "Invalid magic in the superblock");
}

// pmem: the whole area after Cache::open() of a zeroed header. Only the
// header and the entries are written; the bytes up to data_offset and the
// data area keep what they held.
TEST(LayoutFormat, PmemImageIsUpstreams)
{
	std::vector<uint8_t> area(kArea, 0x5a);
	std::memset(area.data(), 0, 8);	// magic and version 0: format
	test::MemPmem pmem;
	Cache c;
	CacheParams p;
	p.block_size = kBs;
	ASSERT_TRUE(c.open(p, pmem, CacheArea{area.data(), area.size()}).ok());
	EXPECT_EQ(c.n_blocks(), kN);
	std::vector<uint8_t> want(kArea, 0x5a);
	std::vector<uint8_t> meta = formatted_metadata(data_offset(kN, kBs), 0x5a);
	std::memcpy(want.data(), meta.data(), meta.size());
	EXPECT_EQ(area, want);
}

// SSD: the durable metadata area after SsdMetadata::format() on a zeroed
// device; the mirror is written whole, so the gap is zeros.
TEST(LayoutFormat, SsdImageIsUpstreams)
{
	sim::SimSsd ssd(kArea / 512);
	SsdMetadata md;
	SsdMetadataParams p;
	p.block_size = kBs;
	p.n_blocks = kN;
	ASSERT_TRUE(md.init(p, ssd).ok());
	ASSERT_TRUE(md.format().ok());
	const uint64_t meta = data_offset(kN, kBs);
	EXPECT_EQ(bytes_of(ssd.durable(), meta), formatted_metadata(meta, 0));
	EXPECT_EQ(bytes_of(ssd.durable() + meta, kArea - meta),
		  std::vector<uint8_t>(kArea - meta, 0));
	EXPECT_EQ(bytes_of(md.mirror(), meta), formatted_metadata(meta, 0));
}

// ---- geometry and checks -------------------------------------------------

TEST(LayoutGeometry, FreshGeometryIsUpstreams)
{
	Result<Geometry> g = fresh_geometry(kArea, kBs);
	ASSERT_TRUE(g.ok());
	EXPECT_EQ(g->n_blocks, kN);
	EXPECT_EQ(g->data_offset, 8192u);
	g = fresh_geometry(1ull << 30, 4096);	// upstream's 1 GiB example
	ASSERT_TRUE(g.ok());
	EXPECT_EQ(g->n_blocks, 261123u);
	EXPECT_EQ(g->data_offset, 4182016u);

	EXPECT_EQ(fresh_geometry(kArea, 3000).error().code, -WC_EINVAL);
	EXPECT_EQ(fresh_geometry(8191, 4096).error().code, -WC_ENOSPC);
	EXPECT_EQ(fresh_geometry(0, 512).error().code, -WC_ENOSPC);
	EXPECT_EQ(fresh_geometry(~0ull, 512).error().code, -WC_EFBIG);

	// The C entry point is the same computation.
	uint64_t n = 0, off = 0;
	ASSERT_EQ(wc_layout_n_blocks(kArea, kBs, &n, &off), 0);
	EXPECT_EQ(n, kN);
	EXPECT_EQ(off, 8192u);
	EXPECT_EQ(wc_layout_n_blocks(~0ull, 512, &n, nullptr), -WC_EFBIG);
}

TEST(LayoutGeometry, CheckSuperblockInUpstreamsOrder)
{
	auto msg = [](const Superblock &s, uint32_t bs, uint64_t area) -> std::string {
		Result<uint64_t> r = check_superblock(s, bs, area);
		return r.ok() ? "ok " + std::to_string(*r) : r.error().message;
	};
	const Superblock good = load_superblock(kFormattedSuperblock);
	EXPECT_EQ(msg(good, kBs, kArea), "ok 254");
	Superblock s = good;
	s.magic ^= 1;
	s.version = 2;	// the magic is checked first
	EXPECT_EQ(msg(s, kBs, kArea), "Invalid magic in the superblock");
	s = good;
	s.version = 2;
	s.block_size = 512;
	EXPECT_EQ(msg(s, kBs, kArea), "Invalid version in the superblock");
	EXPECT_EQ(msg(good, 512, kArea), "Block size does not match superblock");
	EXPECT_EQ(msg(good, kBs, kArea - 1), "Memory area is too small");
	s = good;
	s.n_blocks = ~0ull / 8;
	EXPECT_EQ(msg(s, kBs, kArea), "Overflow in size calculation");
	s.n_blocks = (~0ull - 64) / 16 + 1;
	EXPECT_EQ(msg(s, kBs, kArea), "Overflow in size calculation");
	s.n_blocks = 0;
	EXPECT_EQ(msg(s, kBs, kArea), "ok 0");
	Result<uint64_t> r = check_superblock(Superblock{}, kBs, kArea);
	EXPECT_EQ(r.error().code, -WC_EINVAL);
}
