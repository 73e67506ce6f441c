// SPDX-License-Identifier: GPL-2.0
// SSD-mode metadata (src/core/ssd_metadata.*): unit tests of the mirror,
// the dirty regions and the I/O order, and a crash enumeration on the
// simulated SSD (tests/unit/sim/sim_ssd.*).
//
// The crash test drives SsdMetadata the way upstream's SSD mode does: data
// writes go to cache blocks as in-flight writes that complete in random
// order (some still in flight when a commit starts), entries are stamped
// with the current seq, committed blocks are overwritten in place or
// superseded by a new block, discards free blocks, and freed blocks are
// reused only after their free markers are durable. After every device
// event it checks several crash images against upstream's invariants:
//
//   - the superblock decodes, and its seq is at least the last completed
//     commit's;
//   - every committed entry (seq < sb seq) belongs to a block life that
//     commit seq really committed, was not freed before the image's newest
//     commit began, and its block holds only that life's data, no older
//     than the last write submitted before that commit began (so never
//     missing, torn across lives, or stale);
//   - per origin sector, the winning entry (highest committed seq) holds
//     at least what the image's newest commit (or a later completed data
//     sync) promised; a promised sector is never missing;
//   - no two committed entries share sector and seq.
// Seeded protocol bugs (the pre-5.4.19 order, no PREFLUSH) and a seeded
// workload bug (reuse before the free marker is durable) must be caught.
#include "ssd_metadata.h"
#include "sim/sim_ssd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace wc;
using wc::sim::SimSsd;

namespace {

constexpr uint64_t kNone = ~0ull;

uint64_t meta_sectors_for(uint64_t n, uint32_t bs)
{
	return layout::data_offset(n, bs) >> 9;
}

// An SsdMetadata on a SimSsd big enough for n blocks of data.
struct Rig {
	SimSsd ssd;
	SsdMetadata md;

	Rig(uint32_t bs, uint64_t n, uint32_t region, bool format = true,
	    SsdMetadataParams extra = {})
		: ssd(meta_sectors_for(n, bs) + n * (bs / 512))
	{
		SsdMetadataParams p = extra;
		p.block_size = bs;
		p.n_blocks = n;
		p.region_bytes = region;
		EXPECT_TRUE(md.init(p, ssd).ok());
		if (format) {
			EXPECT_TRUE(md.format().ok());
		}
		ssd.clear_log();
	}
};

std::vector<std::pair<uint64_t, uint64_t>> writes_in(const SimSsd &ssd, bool fua)
{
	std::vector<std::pair<uint64_t, uint64_t>> w;
	for (const auto &e : ssd.log())
		if (e.op == SimSsd::Op::Write && e.fua == fua)
			w.emplace_back(e.sector, e.sectors);
	return w;
}

std::string ops(const SimSsd &ssd)
{
	std::string s;
	for (const auto &e : ssd.log()) {
		switch (e.op) {
		case SimSsd::Op::Write: s += e.fua ? "F" : "W"; break;
		case SimSsd::Op::WaitWrites: s += "w"; break;
		case SimSsd::Op::Read: s += "R"; break;
		case SimSsd::Op::Flush: s += "P"; break;
		case SimSsd::Op::WaitData: s += "D"; break;
		case SimSsd::Op::DataWrite: s += "d"; break;
		}
	}
	return s;
}

// Format v1 fields in an image (layout_test.cpp pins the codec's bytes).
uint64_t le64_at(const uint8_t *p)
{
	return layout::load_le64(p);
}

uint32_t le32_at(const uint8_t *p)
{
	return layout::load_le32(p);
}

} // namespace

// ---- the mirror --------------------------------------------------------

TEST(SsdMetadata, GeometryFollowsTheLayout)
{
	Rig r(512, 300, 2048);
	EXPECT_EQ(r.md.mirror_bytes(), layout::data_offset(300, 512));
	EXPECT_EQ(r.md.mirror_bytes(), 5120u);	// 64 + 4800 rounded to 512
	EXPECT_EQ(r.md.metadata_sectors(), 10u);
	EXPECT_EQ(r.md.regions(), 3u);
	// upstream's 1 GiB example (init does no I/O, so no device to match).
	SimSsd none(1);
	SsdMetadata big;
	SsdMetadataParams p;
	p.block_size = 4096;
	p.n_blocks = 261123;
	ASSERT_TRUE(big.init(p, none).ok());
	EXPECT_EQ(big.mirror_bytes(), 4182016u);
	EXPECT_EQ(big.metadata_sectors(), 4182016u / 512);
	EXPECT_EQ(big.regions(), (4182016u + 65535) / 65536);
	EXPECT_EQ(big.ram_bytes(), 4182016u + 8);
}

TEST(SsdMetadata, InitRejectsBadParameters)
{
	SimSsd ssd(64);
	auto try_init = [&](uint32_t bs, uint64_t n, uint32_t region) {
		SsdMetadata md;
		SsdMetadataParams p;
		p.block_size = bs;
		p.n_blocks = n;
		p.region_bytes = region;
		return md.init(p, ssd);
	};
	EXPECT_TRUE(try_init(512, 8, 512).ok());
	EXPECT_FALSE(try_init(256, 8, 512).ok());
	EXPECT_FALSE(try_init(768, 8, 512).ok());
	EXPECT_FALSE(try_init(512, 0, 512).ok());
	EXPECT_FALSE(try_init(512, layout::kMaxBlocks, 512).ok());
	EXPECT_FALSE(try_init(512, 8, 256).ok());
	EXPECT_FALSE(try_init(512, 8, 3000).ok());

	SsdMetadata md;
	SsdMetadataParams p;
	p.block_size = 512;
	p.n_blocks = 8;
	ASSERT_TRUE(md.init(p, ssd).ok());
	EXPECT_FALSE(md.init(p, ssd).ok()) << "initialised twice";
}

TEST(SsdMetadata, FieldsAreLittleEndianOnMedia)
{
	Rig r(512, 40, 1024);
	r.md.set_entry(3, 0x0102030405060708ull, 0x1112131415161718ull);
	const uint8_t *e = r.md.mirror() + 64 + 3 * 16;
	const uint8_t want[16] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
				  0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11};
	EXPECT_EQ(0, std::memcmp(e, want, 16));
	EXPECT_EQ(r.md.entry_sector(3), 0x0102030405060708ull);
	EXPECT_EQ(r.md.entry_seq(3), 0x1112131415161718ull);

	r.md.set_entry_free(3);	// the seq only
	EXPECT_EQ(r.md.entry_sector(3), 0x0102030405060708ull);
	EXPECT_EQ(r.md.entry_seq(3), ~0ull);

	ASSERT_TRUE(r.md.commit().ok());
	const uint8_t *sb = r.ssd.durable();
	const uint8_t magic[4] = {0x21, 0x93, 0x48, 0x23};
	EXPECT_EQ(0, std::memcmp(sb, magic, 4));
	EXPECT_EQ(le32_at(sb + 4), 1u);		// version
	EXPECT_EQ(le32_at(sb + 8), 512u);	// block size
	EXPECT_EQ(le32_at(sb + 12), 0u);	// pad
	EXPECT_EQ(le64_at(sb + 16), 40u);	// n_blocks
	EXPECT_EQ(le64_at(sb + 24), 1u);	// seq_count after one commit
	for (int i = 32; i < 64; i++)
		EXPECT_EQ(sb[i], 0) << "padding byte " << i;
	EXPECT_EQ(0, std::memcmp(sb + 64 + 3 * 16, r.md.mirror() + 64 + 3 * 16, 16));

	SsdSuperblock s = r.md.superblock();
	EXPECT_EQ(s.magic, layout::kMagic);
	EXPECT_EQ(s.version, layout::kVersion);
	EXPECT_EQ(s.block_size, 512u);
	EXPECT_EQ(s.n_blocks, 40u);
	EXPECT_EQ(s.seq_count, 1u);
	EXPECT_EQ(r.md.seq_count(), 1u);
}

// ---- dirty regions -----------------------------------------------------

TEST(SsdMetadata, DirtyRegionsAreWrittenAsRunsAndClipped)
{
	// 300 blocks of 512: a 5120-byte area (10 sectors) in 2048-byte
	// regions: 0 = sectors 0-3, 1 = 4-7, 2 = 8-11 clipped to 8-9.
	Rig r(512, 300, 2048);
	EXPECT_EQ(r.md.dirty_regions(), 0u);
	r.md.set_entry(0, 8, 0);		// region 0 (byte 64)
	r.md.set_entry(200, 9, 0);		// byte 3264: region 1
	r.md.set_entry(299, 10, 0);		// byte 4848: region 2
	EXPECT_TRUE(r.md.region_dirty(0));
	EXPECT_TRUE(r.md.region_dirty(1));
	EXPECT_TRUE(r.md.region_dirty(2));
	EXPECT_EQ(r.md.dirty_regions(), 3u);
	ASSERT_TRUE(r.md.commit_free_markers().ok());
	// Regions 0-2 are one run, clipped to the metadata area.
	EXPECT_EQ(writes_in(r.ssd, false),
		  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 10}}));
	EXPECT_EQ(ops(r.ssd), "WwP") << "free markers: no data wait, no superblock";
	EXPECT_EQ(r.md.dirty_regions(), 0u);

	// Two separate runs; a clean region between them is not written.
	r.ssd.clear_log();
	r.md.set_entry(1, 8, 0);		// region 0
	r.md.set_entry_free(299);		// region 2
	ASSERT_TRUE(r.md.commit_free_markers().ok());
	EXPECT_EQ(writes_in(r.ssd, false),
		  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 4}, {8, 2}}));
	EXPECT_EQ(ops(r.ssd), "WWwP") << "both runs in flight together";
	EXPECT_EQ(0, std::memcmp(r.ssd.durable(), r.md.mirror(), 5120));

	// Nothing dirty: nothing written, still a PREFLUSH.
	r.ssd.clear_log();
	ASSERT_TRUE(r.md.commit_free_markers().ok());
	EXPECT_EQ(ops(r.ssd), "P");
}

TEST(SsdMetadata, RegionsPastTheSuperblocksAreaAreNotWritten)
{
	// Sized for 300 blocks, then the superblock says 100: the area is
	// data_offset(100) = 2048 bytes, so only region 0 exists on media.
	Rig r(512, 300, 1024, false);
	ASSERT_TRUE(r.md.set_n_blocks(100).ok());
	EXPECT_EQ(r.md.metadata_sectors(), 4u);
	EXPECT_FALSE(r.md.set_n_blocks(400).ok());
	r.md.mark_all_dirty();
	EXPECT_EQ(r.md.dirty_regions(), r.md.regions());
	ASSERT_TRUE(r.md.commit_free_markers().ok());
	EXPECT_EQ(writes_in(r.ssd, false),
		  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 4}}));
	// Region granularity wider than the area: one clipped write.
	Rig w(4096, 32, kSsdRegionBytes);
	w.md.mark_all_dirty();
	ASSERT_TRUE(w.md.commit_free_markers().ok());
	EXPECT_EQ(writes_in(w.ssd, false),
		  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 8}}));
}

TEST(SsdMetadata, ManyRegionsAcrossBitmapWords)
{
	// 200 regions of 512 bytes: runs that cross 64-bit bitmap words.
	uint64_t n = (200 * 512 - 64) / 16;
	Rig r(512, n, 512);
	ASSERT_EQ(r.md.regions(), 200u);
	std::vector<bool> want(200, false);
	for (uint64_t reg : {0, 1, 2, 62, 63, 64, 65, 127, 128, 190, 199}) {
		uint64_t b = reg == 0 ? 0 : (reg * 512 - 64) / 16;
		r.md.set_entry(b, 1, 0);
		want[reg] = true;
	}
	std::vector<std::pair<uint64_t, uint64_t>> runs;
	for (uint64_t i = 0; i < 200;) {
		if (!want[i]) {
			i++;
			continue;
		}
		uint64_t j = i;
		while (j < 200 && want[j])
			j++;
		runs.emplace_back(i, j - i);
		i = j;
	}
	ASSERT_TRUE(r.md.commit_free_markers().ok());
	EXPECT_EQ(writes_in(r.ssd, false), runs);
}

// ---- the commit order --------------------------------------------------

TEST(SsdMetadata, CommitOrderIsUpstreams)
{
	Rig r(512, 300, 2048);
	uint8_t data[512] = {1};
	r.md.set_entry(5, 80, r.md.seq_count());
	r.ssd.submit_data(r.md.metadata_sectors() + 5, data, 1);
	ASSERT_TRUE(r.md.commit().ok());
	// Region write, wait for it, wait for data, PREFLUSH, FUA superblock.
	EXPECT_EQ(ops(r.ssd), "dWwDPFw");
	EXPECT_EQ(r.ssd.data_in_flight().size(), 0u);
	EXPECT_EQ(r.md.seq_count(), 1u);
	auto f = writes_in(r.ssd, true);
	ASSERT_EQ(f.size(), 1u);
	const auto &sbw = r.ssd.log()[5];
	EXPECT_EQ(le64_at(sbw.data.data() + 24), 1u) << "the FUA write carries the new seq";
}

TEST(SsdMetadata, SeededOrderSwitchesChangeTheOrder)
{
	SsdMetadataParams wrong;
	wrong.test_flush_before_data_wait = true;
	Rig a(512, 40, 1024, true, wrong);
	a.md.set_entry(1, 8, 0);
	ASSERT_TRUE(a.md.commit().ok());
	EXPECT_EQ(ops(a.ssd), "WwPDFw");

	SsdMetadataParams noflush;
	noflush.test_skip_flush = true;
	Rig b(512, 40, 1024, true, noflush);
	b.md.set_entry(1, 8, 0);
	ASSERT_TRUE(b.md.commit().ok());
	EXPECT_EQ(ops(b.ssd), "WwDFw");
}

TEST(SsdMetadata, SyncDataWaitsThenFlushes)
{
	Rig r(512, 40, 1024);
	ASSERT_TRUE(r.md.sync_data().ok());
	EXPECT_EQ(ops(r.ssd), "DP");
}

TEST(SsdMetadata, SuperblockWriteIsAtLeast4KiB)
{
	{	// 512-byte blocks, a 10-sector area: 8 sectors (4 KiB).
		Rig r(512, 300, 2048);
		ASSERT_TRUE(r.md.commit().ok());
		EXPECT_EQ(writes_in(r.ssd, true),
			  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 8}}));
	}
	{	// A 3-sector area: clipped to it.
		Rig r(512, 64, 1024);
		ASSERT_EQ(r.md.metadata_sectors(), 3u);
		ASSERT_TRUE(r.md.commit().ok());
		EXPECT_EQ(writes_in(r.ssd, true),
			  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 3}}));
	}
	{	// 8 KiB blocks: one block, 16 sectors.
		Rig r(8192, 16, kSsdRegionBytes);
		ASSERT_TRUE(r.md.commit().ok());
		EXPECT_EQ(writes_in(r.ssd, true),
			  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 16}}));
	}
	{	// 4 KiB blocks: 8 sectors.
		Rig r(4096, 32, kSsdRegionBytes);
		ASSERT_TRUE(r.md.commit().ok());
		EXPECT_EQ(writes_in(r.ssd, true),
			  (std::vector<std::pair<uint64_t, uint64_t>>{{0, 8}}));
	}
}

// ---- format ------------------------------------------------------------

TEST(SsdMetadata, FormatWritesTheMagicLast)
{
	Rig r(512, 300, 2048, false);
	ASSERT_TRUE(r.md.format().ok());
	// Everything, PREFLUSH; then region 0 with the magic, PREFLUSH.
	EXPECT_EQ(ops(r.ssd), "WwPWwP");
	auto w = writes_in(r.ssd, false);
	ASSERT_EQ(w.size(), 2u);
	EXPECT_EQ(w[0], std::make_pair(uint64_t(0), uint64_t(10)));
	EXPECT_EQ(w[1], std::make_pair(uint64_t(0), uint64_t(4)));
	const uint8_t *first = r.ssd.log()[0].data.data();
	EXPECT_EQ(le32_at(first), 0u) << "no magic in the first write";
	EXPECT_EQ(le32_at(first + 4), 1u);
	const uint8_t *second = r.ssd.log()[3].data.data();
	EXPECT_EQ(le32_at(second), layout::kMagic);
	EXPECT_TRUE(writes_in(r.ssd, true).empty()) << "format writes no FUA superblock";

	SsdSuperblock sb = r.md.superblock();
	EXPECT_EQ(sb.magic, layout::kMagic);
	EXPECT_EQ(sb.n_blocks, 300u);
	EXPECT_EQ(sb.seq_count, 0u);
	for (uint64_t b = 0; b < 300; b++) {
		EXPECT_EQ(r.md.entry_sector(b), ~0ull);
		EXPECT_EQ(r.md.entry_seq(b), ~0ull);
	}
	EXPECT_EQ(0, std::memcmp(r.ssd.durable(), r.md.mirror(), 5120));
}

// Every crash during format leaves the device unformatted (magic and
// version 0: formatted again), in upstream's window (magic 0, version 1:
// "Invalid magic"), or fully formatted: never a magic before the entries.
TEST(SsdMetadata, FormatCrashStatesAreUnformattedWindowOrComplete)
{
	SimSsd ssd(meta_sectors_for(300, 512) + 300);
	SsdMetadata md;
	SsdMetadataParams p;
	p.block_size = 512;
	p.n_blocks = 300;
	p.region_bytes = 1024;
	ASSERT_TRUE(md.init(p, ssd).ok());
	std::mt19937_64 rng(7);
	uint64_t checked = 0, blank = 0, window = 0, done = 0;
	std::vector<std::string> bad;
	ssd.set_event_hook([&](const SimSsd::Event &) {
		std::vector<uint8_t> img;
		for (int i = 0; i < 8; i++) {
			auto pick = i == 0 ? SimSsd::Pick::Oldest :
				    i == 1 ? SimSsd::Pick::Newest : SimSsd::Pick::Random;
			ssd.crash_image(pick, rng, img);
			checked++;
			uint32_t magic = le32_at(img.data()), version = le32_at(img.data() + 4);
			if (magic == 0 && version == 0) {
				blank++;
				continue;
			}
			if (magic == 0 && version == 1) {
				window++;
				continue;
			}
			const layout::Superblock sb = layout::load_superblock(img.data());
			bool ok = magic == layout::kMagic && version == 1 && sb.n_blocks == 300 &&
				  sb.seq_count == 0;
			for (uint64_t b = 0; ok && b < 300; b++) {
				const layout::Entry en =
					layout::load_entry(img.data() + layout::entry_offset(b));
				ok = en.original_sector == ~0ull && en.is_free();
			}
			if (ok)
				done++;
			else if (bad.size() < 3)
				bad.push_back("magic " + std::to_string(magic) + " with an incomplete format");
		}
	});
	ASSERT_TRUE(md.format().ok());
	ssd.set_event_hook(nullptr);
	std::printf("SSD format crash states: %llu checked (%llu blank, %llu in the magic "
		    "window, %llu formatted)\n",
		    (unsigned long long)checked, (unsigned long long)blank,
		    (unsigned long long)window, (unsigned long long)done);
	EXPECT_TRUE(bad.empty()) << bad[0];
	EXPECT_GT(window, 0u);
	EXPECT_GT(done, 0u);
}

// ---- load and errors ---------------------------------------------------

TEST(SsdMetadata, LoadReadsTheWholeArea)
{
	Rig r(512, 300, 2048);
	r.md.set_entry(7, 56, 0);
	r.md.set_entry(299, 64, 0);
	ASSERT_TRUE(r.md.commit().ok());

	SsdMetadata m2;
	SsdMetadataParams p;
	p.block_size = 512;
	p.n_blocks = 300;
	p.region_bytes = 2048;
	ASSERT_TRUE(m2.init(p, r.ssd).ok());
	r.ssd.clear_log();
	ASSERT_TRUE(m2.load().ok());
	ASSERT_EQ(r.ssd.log().size(), 1u);
	EXPECT_EQ(r.ssd.log()[0].sector, 0u);
	EXPECT_EQ(r.ssd.log()[0].sectors, 10u);
	EXPECT_EQ(0, std::memcmp(m2.mirror(), r.md.mirror(), 5120));
	EXPECT_EQ(m2.entry_sector(299), 64u);
	EXPECT_EQ(m2.seq_count(), 1u);
	EXPECT_EQ(m2.dirty_regions(), 0u);
}

TEST(SsdMetadata, ReadErrorFreesEveryEntryAndReportsIt)
{
	Rig r(512, 300, 2048);
	for (uint64_t b = 0; b < 300; b += 7)
		r.md.set_entry(b, b * 8, 0);
	ASSERT_TRUE(r.md.commit().ok());
	std::vector<uint8_t> media(r.ssd.durable(), r.ssd.durable() + 5120);

	r.ssd.fail_reads(true);
	Status s = r.md.load();
	ASSERT_FALSE(s.ok());
	EXPECT_EQ(s.error().code, -WC_EIO);
	EXPECT_STREQ(s.error().message, "unable to read metadata");
	EXPECT_TRUE(r.md.failed());
	for (uint64_t b = 0; b < 300; b++) {
		EXPECT_EQ(r.md.entry_sector(b), ~0ull);
		EXPECT_EQ(r.md.entry_seq(b), ~0ull);
	}
	// The superblock keeps its last known value, not the read's garbage.
	EXPECT_EQ(r.md.superblock().magic, layout::kMagic);
	EXPECT_EQ(r.md.seq_count(), 1u);

	// The all-free mirror must never reach the media: a later reload
	// can still find the cached blocks.
	r.ssd.clear_log();
	r.md.set_entry_free(0);
	EXPECT_FALSE(r.md.commit().ok());
	EXPECT_FALSE(r.md.commit_free_markers().ok());
	EXPECT_FALSE(r.md.sync_data().ok());
	EXPECT_FALSE(r.md.format().ok());
	EXPECT_TRUE(r.ssd.log().empty()) << ops(r.ssd);
	EXPECT_EQ(0, std::memcmp(r.ssd.durable(), media.data(), media.size()));

	// A good load recovers.
	r.ssd.fail_reads(false);
	ASSERT_TRUE(r.md.load().ok());
	EXPECT_FALSE(r.md.failed());
	EXPECT_EQ(r.md.entry_sector(7), 56u);
	EXPECT_EQ(r.md.entry_seq(7), 0u);
}

TEST(SsdMetadata, MetadataWriteErrorStopsTheCommit)
{
	Rig r(512, 300, 2048);
	r.md.set_entry(0, 8, 0);
	r.md.set_entry(299, 16, 0);
	r.ssd.fail_write(1);	// the second region run
	Status s = r.md.commit();
	ASSERT_FALSE(s.ok());
	EXPECT_EQ(s.error().code, -WC_EIO);
	EXPECT_STREQ(s.error().message, "error writing metadata");
	// Both runs were in flight and waited for; nothing after that.
	EXPECT_EQ(ops(r.ssd), "WWw");
	EXPECT_EQ(r.md.seq_count(), 0u) << "no commit point after a failed write";
	EXPECT_EQ(r.md.dirty_regions(), 2u) << "the regions stay dirty";
	EXPECT_TRUE(r.md.failed());
}

TEST(SsdMetadata, FlushErrorStopsTheCommit)
{
	Rig r(512, 40, 1024);
	r.md.set_entry(0, 8, 0);
	r.ssd.fail_next_flush();
	Status s = r.md.commit();
	ASSERT_FALSE(s.ok());
	EXPECT_STREQ(s.error().message, "error flushing metadata");
	EXPECT_EQ(ops(r.ssd), "WwDP");
	EXPECT_EQ(r.md.seq_count(), 0u);
	EXPECT_TRUE(writes_in(r.ssd, true).empty());

	Rig f(512, 40, 1024);
	f.ssd.fail_next_flush();
	EXPECT_STREQ(f.md.commit_free_markers().error().message, "error flushing metadata");
	Rig d(512, 40, 1024);
	d.ssd.fail_next_flush();
	EXPECT_STREQ(d.md.sync_data().error().message, "error flushing metadata");
}

TEST(SsdMetadata, SuperblockWriteErrorIsReported)
{
	Rig r(512, 40, 1024);
	r.md.set_entry(0, 8, 0);
	r.ssd.fail_write(1);	// region write ok, superblock fails
	Status s = r.md.commit();
	ASSERT_FALSE(s.ok());
	EXPECT_EQ(s.error().code, -WC_EIO);
	EXPECT_STREQ(s.error().message, "error writing superblock");
	EXPECT_EQ(ops(r.ssd), "WwDPFw");
	EXPECT_TRUE(r.md.failed());
	EXPECT_EQ(le64_at(r.ssd.durable() + 24), 0u) << "the failed write changed nothing";
	r.ssd.clear_log();
	EXPECT_FALSE(r.md.commit().ok());
	EXPECT_TRUE(r.ssd.log().empty());
}

TEST(SsdMetadata, FormatStopsAtTheFirstError)
{
	Rig r(512, 40, 1024, false);
	r.ssd.fail_next_flush();
	EXPECT_FALSE(r.md.format().ok());
	EXPECT_EQ(ops(r.ssd), "WwP") << "no magic after a failed flush";
	EXPECT_EQ(le32_at(r.ssd.current()), 0u);
}

// ---- the simulated SSD itself ------------------------------------------

TEST(SimSsd, VolatileCacheFlushAndFua)
{
	SimSsd ssd(4);
	std::mt19937_64 rng(1);
	std::vector<uint8_t> img;
	uint8_t a[512], b[512], c[1024];
	std::memset(a, 0xaa, sizeof(a));
	std::memset(b, 0xbb, sizeof(b));
	std::memset(c, 0xcc, sizeof(c));

	ssd.submit_write(0, a, 1, false);
	EXPECT_EQ(ssd.uncertain_sectors(), 1u) << "in flight: maybe on media";
	ASSERT_TRUE(ssd.wait_writes().ok());
	ssd.crash_image(SimSsd::Pick::Oldest, rng, img);
	EXPECT_EQ(img[0], 0) << "volatile until a flush";
	ssd.crash_image(SimSsd::Pick::Newest, rng, img);
	EXPECT_EQ(img[0], 0xaa);

	uint64_t id = ssd.submit_data(1, c, 2);
	ASSERT_TRUE(ssd.flush().ok());
	ssd.crash_image(SimSsd::Pick::Oldest, rng, img);
	EXPECT_EQ(img[0], 0xaa) << "completed before the flush: durable";
	EXPECT_EQ(img[512], 0) << "in flight at the flush: not covered";
	ssd.complete_data(id);
	ssd.crash_image(SimSsd::Pick::Oldest, rng, img);
	EXPECT_EQ(img[512], 0);

	ssd.submit_write(3, b, 1, true);
	ASSERT_TRUE(ssd.wait_writes().ok());
	ssd.crash_image(SimSsd::Pick::Oldest, rng, img);
	EXPECT_EQ(img[3 * 512], 0xbb) << "FUA: durable itself";
	EXPECT_EQ(img[512], 0) << "FUA flushes nothing else";

	// Random images mix sectors independently.
	bool seen[2][2] = {};
	for (int i = 0; i < 200; i++) {
		ssd.crash_image(SimSsd::Pick::Random, rng, img);
		seen[img[512] == 0xcc][img[1024] == 0xcc] = true;
	}
	EXPECT_TRUE(seen[0][0] && seen[0][1] && seen[1][0] && seen[1][1]);

	std::vector<uint8_t> back(512);
	ASSERT_TRUE(ssd.read(1, back.data(), 1).ok());
	EXPECT_EQ(back[0], 0xcc) << "reads see completed writes";
}

TEST(SimSsd, HookSeesEveryEvent)
{
	SimSsd ssd(8);
	std::vector<SimSsd::EventKind> kinds;
	ssd.set_event_hook([&](const SimSsd::Event &e) { kinds.push_back(e.kind); });
	uint8_t buf[512] = {};
	uint64_t id = ssd.submit_data(4, buf, 1);
	ssd.submit_write(0, buf, 1, true);
	ASSERT_TRUE(ssd.wait_writes().ok());
	ASSERT_TRUE(ssd.flush().ok());
	ssd.complete_data(id);
	using K = SimSsd::EventKind;
	EXPECT_EQ(kinds, (std::vector<K>{K::DataSubmit, K::WriteSubmit, K::WriteComplete,
					 K::Flush, K::DataComplete}));
	EXPECT_EQ(ssd.events(), 5u);
}

TEST(SimSsdDeathTest, BufferChangedInFlightAborts)
{
	EXPECT_DEATH(
		{
			SimSsd ssd(2);
			uint8_t buf[512] = {};
			ssd.submit_write(0, buf, 1, false);
			buf[3] = 1;
			(void)ssd.wait_writes();
		},
		"buffer changed");
}

// ---- crash enumeration -------------------------------------------------

namespace {

struct CrashConfig {
	const char *name;
	uint32_t bs;
	uint64_t n_blocks;
	uint32_t region;
	uint64_t universe;	// origin blocks the workload writes
};

struct CrashStats {
	uint64_t events = 0;
	uint64_t images = 0;
	uint64_t committed_checks = 0;	// committed entries verified
	uint64_t commits = 0;
	uint64_t in_commit = 0;	// images with a commit that had not returned
	std::vector<std::string> violations;
};

constexpr uint64_t kTag = 0x5353445f44415441ull;	// "SSD_DATA"

uint64_t mix(uint64_t id, uint64_t j, uint64_t k)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull ^ (j << 32) ^ k;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

// A data sector: tag, write id, block, sector-in-block, then a pattern of
// all three, so a sector from another write, block or position shows.
void fill_sector(uint8_t *p, uint64_t id, uint64_t block, uint64_t j)
{
	uint64_t w[64];
	w[0] = kTag;
	w[1] = id;
	w[2] = block;
	w[3] = j;
	for (uint64_t k = 4; k < 64; k++)
		w[k] = mix(id, j, k);
	std::memcpy(p, w, 512);
}

// The write id in a data sector: 0 if never written, kNone if garbage or
// not sector j of block `block`.
uint64_t decode_sector(const uint8_t *p, uint64_t block, uint64_t j)
{
	uint64_t w[64];
	std::memcpy(w, p, 512);
	if (w[0] != kTag) {
		bool zero = std::all_of(w, w + 64, [](uint64_t v) { return v == 0; });
		return zero ? 0 : kNone;
	}
	if (w[2] != block || w[3] != j)
		return kNone;
	for (uint64_t k = 4; k < 64; k++)
		if (w[k] != mix(w[1], j, k))
			return kNone;
	return w[1];
}

class SsdCrashRun {
public:
	struct Options {
		SsdMetadataParams seeded;	// test_* switches
		bool reuse_before_marker_durable = false;	// a workload bug
		int random_images = 6;
		int ops = 800;
		size_t stop_after = 5;	// violations
	};

	SsdCrashRun(const CrashConfig &cfg, uint64_t seed, const Options &opt)
		: cfg_(cfg), opt_(opt), rng_(seed),
		  spb_(cfg.bs / 512), meta_(meta_sectors_for(cfg.n_blocks, cfg.bs)),
		  ssd_(meta_ + cfg.n_blocks * spb_)
	{
		SsdMetadataParams p = opt.seeded;
		p.block_size = cfg.bs;
		p.n_blocks = cfg.n_blocks;
		p.region_bytes = cfg.region;
		EXPECT_TRUE(md_.init(p, ssd_).ok());
		EXPECT_TRUE(md_.format().ok());
		ssd_.set_logging(false);
		blocks_.resize(cfg.n_blocks);
		block_lives_.resize(cfg.n_blocks);
		for (uint64_t b = 0; b < cfg.n_blocks; b++)
			free_pool_.push_back(b);
		drop_time_.assign(cfg.universe, 0);
		writes_.push_back({});	// id 0: never written
	}

	CrashStats run()
	{
		ssd_.set_event_hook([this](const SimSsd::Event &e) { crash_point(e); });
		for (int i = 0; i < opt_.ops && stats_.violations.size() < opt_.stop_after; i++)
			step();
		ssd_.set_event_hook(nullptr);
		return stats_;
	}

private:
	struct Life {
		uint64_t block, sector, stamp;
		uint64_t alloc_time, free_time = kNone;
		bool free_durable = false;
		std::vector<uint64_t> writes;	// ids, in submission order
	};
	struct WriteRec {
		uint64_t life = kNone;
		uint64_t submit_time = 0;
	};
	struct BlockState {
		uint64_t life = kNone;	// current life, kNone when free
		uint64_t inflight = 0;	// SimSsd handle of its data write
	};

	uint64_t tick() { return ++now_; }

	bool alive(const Life &l, uint64_t t) const
	{
		return l.alloc_time < t && l.free_time > t;
	}

	// Ids of the newest write to each origin block that has a live
	// version now (the promise a commit or sync starting now makes).
	std::vector<uint64_t> snapshot() const
	{
		std::vector<uint64_t> p(cfg_.universe, 0);
		for (const auto &[s, b] : newest_) {
			const Life &l = lives_[blocks_[b].life];
			p[s] = l.writes.empty() ? 0 : l.writes.back();
		}
		return p;
	}

	void sync_inflight()
	{
		auto ids = ssd_.data_in_flight();
		for (auto &bs : blocks_)
			if (bs.inflight && std::find(ids.begin(), ids.end(), bs.inflight) == ids.end())
				bs.inflight = 0;
	}

	void write_data(uint64_t b)
	{
		BlockState &bs = blocks_[b];
		if (bs.inflight) {	// one write per block in flight at a time
			ssd_.complete_data(bs.inflight);
			bs.inflight = 0;
		}
		uint64_t id = writes_.size();
		writes_.push_back({bs.life, tick()});
		lives_[bs.life].writes.push_back(id);
		std::vector<uint8_t> buf(cfg_.bs);
		for (uint64_t j = 0; j < spb_; j++)
			fill_sector(buf.data() + j * 512, id, b, j);
		uint64_t h = ssd_.submit_data(meta_ + b * spb_, buf.data(), spb_);
		if (rng_() % 2)
			ssd_.complete_data(h);
		else
			bs.inflight = h;
	}

	bool allocate(uint64_t s)
	{
		if (free_pool_.empty())
			return false;
		size_t i = rng_() % free_pool_.size();
		uint64_t b = free_pool_[i];
		free_pool_[i] = free_pool_.back();
		free_pool_.pop_back();
		uint64_t seq = md_.seq_count();
		Life l;
		l.block = b;
		l.sector = s;
		l.stamp = seq;
		l.alloc_time = tick();
		lives_.push_back(std::move(l));
		blocks_[b].life = lives_.size() - 1;
		block_lives_[b].push_back(blocks_[b].life);
		md_.set_entry(b, s * spb_, seq);
		uncommitted_++;
		auto it = newest_.find(s);
		if (it != newest_.end())
			superseded_.push_back(it->second);
		newest_[s] = b;
		write_data(b);
		return true;
	}

	void write(uint64_t s)
	{
		auto it = newest_.find(s);
		if (it == newest_.end()) {
			allocate(s);
			return;
		}
		uint64_t b = it->second;
		const Life &l = lives_[blocks_[b].life];
		bool committed = l.stamp < md_.seq_count();
		// A committed block under writeback gets a new block (upstream);
		// otherwise SSD mode overwrites in place.
		if (committed && rng_() % 4 == 0 && allocate(s))
			return;
		if (committed)
			overwrote_committed_ = true;
		write_data(b);
	}

	void free_block(uint64_t b)
	{
		lives_[blocks_[b].life].free_time = tick();
		blocks_[b].life = kNone;
		md_.set_entry_free(b);
		if (opt_.reuse_before_marker_durable)
			free_pool_.push_back(b);
		else
			freeing_.push_back(b);
	}

	// The free markers of `done` are durable: the blocks may be reused.
	void release(const std::vector<uint64_t> &done)
	{
		for (uint64_t b : done) {
			lives_[block_lives_[b].back()].free_durable = true;
			free_pool_.push_back(b);
		}
	}

	void free_markers()
	{
		auto done = freeing_;
		tick();
		ASSERT_TRUE(md_.commit_free_markers().ok());
		freeing_.clear();
		release(done);
	}

	void discard(uint64_t s, uint64_t n)
	{
		// Upstream waits for in-flight I/O before freeing: a late data
		// write must not land in a reused block.
		ssd_.wait_for_data_writes();
		sync_inflight();
		for (uint64_t x = s; x < s + n && x < cfg_.universe; x++) {
			auto it = newest_.find(x);
			if (it == newest_.end())
				continue;
			if (lives_[blocks_[it->second].life].stamp == md_.seq_count())
				uncommitted_--;
			free_block(it->second);
			newest_.erase(it);
			for (size_t i = 0; i < superseded_.size();) {
				uint64_t b = superseded_[i];
				if (lives_[blocks_[b].life].sector == x) {
					free_block(b);
					superseded_.erase(superseded_.begin() + static_cast<ptrdiff_t>(i));
				} else {
					i++;
				}
			}
			drop_time_[x] = tick();
		}
		if (rng_() % 2)
			free_markers();
	}

	// upstream writecache_flush(): commit the new entries, free the
	// versions they replaced and make those markers durable; with nothing
	// new but a committed block overwritten, wait for data and flush.
	void commit()
	{
		if (uncommitted_) {
			uint64_t S = md_.seq_count();
			commit_begin_.resize(S + 1);
			promise_.resize(S + 1);
			commit_begin_[S] = tick();
			promise_[S] = snapshot();
			auto done = freeing_;
			Status st = md_.commit();
			ASSERT_TRUE(st.ok());
			stats_.commits++;
			completed_seq_ = S + 1;
			freeing_.clear();
			release(done);
			sync_inflight();
			uncommitted_ = 0;
			overwrote_committed_ = false;
			auto old = superseded_;
			superseded_.clear();
			for (uint64_t b : old)
				free_block(b);
			if (!freeing_.empty())
				free_markers();
		} else if (overwrote_committed_) {
			uint64_t t = tick();
			auto p = snapshot();
			ASSERT_TRUE(md_.sync_data().ok());
			sync_inflight();
			sync_time_ = t;
			sync_promise_ = p;
			overwrote_committed_ = false;
		}
	}

	void step()
	{
		uint64_t s = rng_() % cfg_.universe;
		switch (rng_() % 16) {
		case 0: case 1: case 2: case 3: case 4: case 5:
			write(s);
			break;
		case 6:
			write(s % 4);	// hot blocks: many in-place overwrites
			break;
		case 7: case 8: case 9: {
			auto ids = ssd_.data_in_flight();
			if (!ids.empty()) {
				ssd_.complete_data(ids[rng_() % ids.size()]);
				sync_inflight();
			}
			break;
		}
		case 10: case 11: case 12:
			commit();
			break;
		case 13:
			discard(s, 1 + rng_() % 3);
			break;
		case 14:
			if (!freeing_.empty())
				free_markers();
			break;
		case 15:
			// Full cache: commit so superseded blocks come back.
			if (free_pool_.size() < 4)
				commit();
			else
				write(s);
			break;
		}
	}

	void violation(const std::string &what, const SimSsd::Event &e, const char *kind)
	{
		static const char *names[] = {"data submit", "data completion", "metadata submit",
					      "metadata completion", "flush"};
		if (stats_.violations.size() < opt_.stop_after)
			stats_.violations.push_back(
				what + " [" + kind + " image after event " +
				std::to_string(ssd_.events()) + ": " +
				names[static_cast<int>(e.kind)] +
				(e.fua ? " (FUA)" : "") + ", sb seq in RAM " +
				std::to_string(md_.seq_count()) + "]");
	}

	void crash_point(const SimSsd::Event &e)
	{
		stats_.events++;
		std::vector<uint8_t> &img = img_;
		ssd_.crash_image(SimSsd::Pick::Oldest, rng_, img);
		check_image(img, e, "oldest");
		if (ssd_.uncertain_sectors() == 0)
			return;
		ssd_.crash_image(SimSsd::Pick::Newest, rng_, img);
		check_image(img, e, "newest");
		for (int i = 0; i < opt_.random_images; i++) {
			ssd_.set_random_bias(i % 2 ? 0.5 : -1.0);
			ssd_.crash_image(SimSsd::Pick::Random, rng_, img);
			check_image(img, e, "random");
		}
	}

	void check_image(const std::vector<uint8_t> &img, const SimSsd::Event &e,
			 const char *kind)
	{
		stats_.images++;
		const uint8_t *m = img.data();
		auto bad = [&](const std::string &w) { violation(w, e, kind); };
		const layout::Superblock sb = layout::load_superblock(m);
		if (sb.magic != layout::kMagic || sb.version != layout::kVersion ||
		    sb.block_size != cfg_.bs || sb.n_blocks != cfg_.n_blocks) {
			bad("superblock does not decode");
			return;
		}
		uint64_t Q = sb.seq_count;
		if (Q < completed_seq_) {
			bad("sb seq " + std::to_string(Q) + " below the completed commit's " +
			    std::to_string(completed_seq_));
			return;
		}
		if (Q > md_.seq_count()) {
			bad("sb seq " + std::to_string(Q) + " was never committed");
			return;
		}
		if (Q == 0)
			return;	// no commit yet: nothing is committed or promised
		if (Q > completed_seq_)
			stats_.in_commit++;	// shows a commit that has not returned
		const uint64_t T = Q - 1, tT = commit_begin_[T];
		// A completed data sync after commit T promises more.
		const bool use_sync = sync_time_ > tT;

		committed_.clear();
		for (uint64_t b = 0; b < cfg_.n_blocks; b++) {
			const layout::Entry en = layout::load_entry(m + layout::entry_offset(b));
			uint64_t osec = en.original_sector;
			uint64_t S = en.seq_count;
			if (S >= Q)
				continue;
			stats_.committed_checks++;
			auto where = [&] {
				return "block " + std::to_string(b) + " entry (sector " +
				       std::to_string(osec) + ", seq " + std::to_string(S) + ")";
			};
			const Life *l = nullptr;
			uint64_t li = kNone;
			for (auto it = block_lives_[b].rbegin(); it != block_lives_[b].rend(); ++it) {
				const Life &c = lives_[*it];
				if (c.sector * spb_ == osec && c.stamp == S &&
				    alive(c, commit_begin_[S])) {
					l = &c;
					li = *it;
					break;
				}
			}
			if (!l) {
				bad(where() + " is committed, but commit " + std::to_string(S) +
				    " never committed it");
				continue;
			}
			if (l->free_durable) {
				bad(where() + " survives a completed free-marker commit");
				continue;
			}
			if (!alive(*l, tT)) {
				bad(where() + " was freed before commit " + std::to_string(T) +
				    " began, yet is still committed");
				continue;
			}
			uint64_t t_min = use_sync && alive(*l, sync_time_) ? sync_time_ : tT;
			uint64_t min_id = 0;
			for (uint64_t id : l->writes)
				if (writes_[id].submit_time < t_min)
					min_id = id;
			if (!min_id) {
				bad(where() + " is committed with no data written before its commit");
				continue;
			}
			uint64_t lowest = kNone;
			for (uint64_t j = 0; j < spb_; j++) {
				uint64_t id = decode_sector(m + (meta_ + b * spb_ + j) * 512, b, j);
				auto at = [&] { return where() + ", data sector " + std::to_string(j); };
				if (id == kNone) {
					bad(at() + " holds garbage or another block's data");
					lowest = kNone;
					break;
				}
				if (id == 0) {
					bad(at() + " was never written (expected write >= " +
					    std::to_string(min_id) + ")");
					lowest = kNone;
					break;
				}
				if (writes_[id].life != li) {
					bad(at() + " holds write " + std::to_string(id) +
					    " of another life of the block (reused too early?)");
					lowest = kNone;
					break;
				}
				if (id < min_id) {
					bad(at() + " holds write " + std::to_string(id) +
					    ", older than write " + std::to_string(min_id) +
					    " the commit made durable");
					lowest = kNone;
					break;
				}
				lowest = std::min(lowest, id);
			}
			if (lowest != kNone)
				committed_.push_back({l->sector, S, lowest});
		}
		// Per origin block: upstream's winner is the highest committed seq.
		std::sort(committed_.begin(), committed_.end());
		size_t ci = 0;
		for (uint64_t s = 0; s < cfg_.universe; s++) {
			uint64_t win_seq = 0, win_low = kNone;
			for (; ci < committed_.size() && committed_[ci][0] == s; ci++) {
				if (ci && committed_[ci - 1][0] == s && committed_[ci - 1][1] == committed_[ci][1])
					bad("two identical entries for sector " + std::to_string(s * spb_));
				win_seq = committed_[ci][1];
				win_low = committed_[ci][2];
			}
			uint64_t promised = 0;
			if (drop_time_[s] < tT)
				promised = promise_[T][s];
			if (use_sync && drop_time_[s] < sync_time_)
				promised = std::max(promised, sync_promise_[s]);
			if (!promised)
				continue;
			if (win_low == kNone) {
				bad("sector " + std::to_string(s * spb_) + ": durable write " +
				    std::to_string(promised) + " lost, no committed entry");
				continue;
			}
			if (win_low < promised)
				bad("sector " + std::to_string(s * spb_) + ": the winning entry (seq " +
				    std::to_string(win_seq) + ") holds write " + std::to_string(win_low) +
				    ", older than durable write " + std::to_string(promised));
		}
	}

	CrashConfig cfg_;
	Options opt_;
	std::mt19937_64 rng_;
	uint64_t spb_, meta_;
	SimSsd ssd_;
	SsdMetadata md_;
	uint64_t now_ = 0;
	std::vector<Life> lives_;
	std::vector<WriteRec> writes_;
	std::vector<BlockState> blocks_;
	std::vector<std::vector<uint64_t>> block_lives_;
	std::vector<uint64_t> free_pool_, freeing_, superseded_;
	std::map<uint64_t, uint64_t> newest_;	// origin block -> newest cache block
	std::vector<uint64_t> drop_time_;	// last discard, per origin block
	std::vector<uint64_t> commit_begin_;	// per commit number (seq before)
	std::vector<std::vector<uint64_t>> promise_;
	uint64_t sync_time_ = 0;
	std::vector<uint64_t> sync_promise_;
	uint64_t uncommitted_ = 0;
	uint64_t completed_seq_ = 0;
	bool overwrote_committed_ = false;
	CrashStats stats_;
	std::vector<uint8_t> img_;	// reused: images are large
	std::vector<std::array<uint64_t, 3>> committed_;	// sector, seq, lowest id
};

const CrashConfig kConfigs[] = {
	// 3-sector area in 1 KiB regions (the last clipped); the 4 KiB
	// superblock write is clipped to the whole area.
	{"512B x 64, 1 KiB regions", 512, 64, 1024, 40},
	// Blocks of 8 sectors: torn data writes inside a block.
	{"4KiB x 32, 64 KiB regions", 4096, 32, kSsdRegionBytes, 24},
	// An 11-sector area: entries past the superblock's 4 KiB write reach
	// media only through region writes.
	{"512B x 320, 1 KiB regions", 512, 320, 1024, 200},
};

CrashStats run_all(const SsdCrashRun::Options &opt, int seeds, uint64_t seed0,
		   bool per_config = false)
{
	CrashStats total;
	for (const auto &cfg : kConfigs) {
		uint64_t images0 = total.images, checks0 = total.committed_checks;
		for (int i = 0; i < seeds; i++) {
			SsdCrashRun run(cfg, seed0 + static_cast<uint64_t>(i), opt);
			CrashStats s = run.run();
			total.events += s.events;
			total.images += s.images;
			total.committed_checks += s.committed_checks;
			total.commits += s.commits;
			total.in_commit += s.in_commit;
			for (auto &v : s.violations)
				if (total.violations.size() < opt.stop_after)
					total.violations.push_back(std::string(cfg.name) + ": " + v);
			if (total.violations.size() >= opt.stop_after)
				return total;
		}
		if (per_config)
			std::printf("  %s: %llu crash states, %llu committed entries verified\n",
				    cfg.name, (unsigned long long)(total.images - images0),
				    (unsigned long long)(total.committed_checks - checks0));
	}
	return total;
}

void report(const char *what, const CrashStats &s)
{
	std::printf("%s: %llu events, %llu crash states checked (%llu inside a commit), "
		    "%llu committed entries verified, %llu commits, %zu violations%s%s\n",
		    what, (unsigned long long)s.events, (unsigned long long)s.images,
		    (unsigned long long)s.in_commit,
		    (unsigned long long)s.committed_checks, (unsigned long long)s.commits,
		    s.violations.size(), s.violations.empty() ? "" : "; first: ",
		    s.violations.empty() ? "" : s.violations[0].c_str());
}

} // namespace

TEST(SsdCrash, NoViolationsInAtLeast100kCrashStates)
{
	SsdCrashRun::Options opt;
	CrashStats s = run_all(opt, 8, 100, true);
	report("SSD crash enumeration", s);
	for (auto &v : s.violations)
		ADD_FAILURE() << v;
	EXPECT_GE(s.images, 100000u);
	EXPECT_GT(s.committed_checks, 100000u);
}

// The checker must catch seeded protocol bugs, or it proves nothing.
TEST(SsdCrash, PreflushBeforeWaitingForDataIsCaught)
{
	SsdCrashRun::Options opt;
	opt.seeded.test_flush_before_data_wait = true;
	opt.stop_after = 1;
	CrashStats s = run_all(opt, 4, 100);
	report("seeded bug (pre-5.4.19 order: PREFLUSH, then wait for data)", s);
	EXPECT_FALSE(s.violations.empty());
}

TEST(SsdCrash, MissingPreflushIsCaught)
{
	SsdCrashRun::Options opt;
	opt.seeded.test_skip_flush = true;
	opt.stop_after = 1;
	CrashStats s = run_all(opt, 4, 100);
	report("seeded bug (no PREFLUSH)", s);
	EXPECT_FALSE(s.violations.empty());
}

TEST(SsdCrash, ReuseBeforeTheFreeMarkerIsDurableIsCaught)
{
	SsdCrashRun::Options opt;
	opt.reuse_before_marker_durable = true;
	opt.stop_after = 1;
	CrashStats s = run_all(opt, 4, 100);
	report("seeded workload bug (block reused before its free marker is durable)", s);
	EXPECT_FALSE(s.violations.empty());
}
