// SPDX-License-Identifier: GPL-2.0
// The cache core over plain memory: format, superblock validation, load
// rules, write/read/commit, supersede, discard, writeback, full cache,
// the block map's invariants and its RAM cost, and parallel writers.
#include "bio_io.h"
#include "block_map.h"
#include "cache.h"
#include "mem_pmem.h"
#include "platform_user.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace wc;
using wc::test::Call;

namespace {

// Pmem over ordinary memory: every operation is immediately "durable".
// Crash behaviour is tested with the simulator (crash_test.cpp).
class PlainPmem final : public Pmem {
public:
	void memcpy(void *d, const void *s, size_t n) override { std::memcpy(d, s, n); }
	void flush(void *, size_t) override { flushes++; }
	void commit() override { commits++; }
	void assign(uint64_t *d, uint64_t v) override { *d = v; }
	bool read(void *d, const void *s, size_t n) override
	{
		// A copy over a poisoned byte fails, as copy_mc does.
		const char *p = static_cast<const char *>(poisoned);
		const char *b = static_cast<const char *>(s);
		if (p && p >= b && p < b + n)
			return false;
		std::memcpy(d, s, n);
		return true;
	}
	const char *name() const override { return "plain"; }
	int flushes = 0, commits = 0;
	const void *poisoned = nullptr;
};

constexpr uint32_t kBs = 4096;
constexpr uint64_t kStep = kBs / 512;

struct Rig {
	explicit Rig(uint64_t bytes = 1 << 20) : mem(bytes, 0) {}
	std::vector<uint8_t> mem;
	PlainPmem pmem;
	std::unique_ptr<Cache> cache;
	CacheParams params;

	Status open()
	{
		cache = std::make_unique<Cache>();
		Status s = cache->open(params, pmem, CacheArea{mem.data(), mem.size()});
		if (!s.ok())
			return s;
		return cache->load();
	}
	void reopen() { ASSERT_TRUE(open().ok()); }
	std::string open_error()
	{
		Status s = open();
		return s.ok() ? "" : s.error().message;
	}
	uint64_t le64(size_t off) const
	{
		uint64_t v;
		std::memcpy(&v, mem.data() + off, 8);
		return v;
	}
	void put_le64(size_t off, uint64_t v) { std::memcpy(mem.data() + off, &v, 8); }
};

std::vector<uint8_t> pattern(uint64_t id)
{
	std::vector<uint8_t> d(kBs);
	for (size_t i = 0; i < kBs; i += 8)
		std::memcpy(&d[i], &id, 8);
	return d;
}

// A one-block read bio (bio_io.h): the id it holds; *hit false on a miss.
uint64_t read_id(Cache &c, uint64_t sector, bool *hit)
{
	std::vector<uint8_t> d(kBs);
	bool ioerr;
	*hit = wc::test::read_block(c, sector, d.data(), &ioerr);
	EXPECT_FALSE(ioerr);
	uint64_t id;
	std::memcpy(&id, d.data(), 8);
	return id;
}

// A one-block write bio that must be cached.
void write_id(Cache &c, uint64_t sector, uint64_t id, uint32_t flags = 0)
{
	auto d = pattern(id);
	ASSERT_EQ(wc::test::write_block(c, sector, d.data(), flags), WC_IO_DONE);
}

wc_io_result write_pattern(Cache &c, uint64_t sector, uint64_t id, uint32_t flags = 0)
{
	auto d = pattern(id);
	return wc::test::write_block(c, sector, d.data(), flags);
}

void expect_invariants(const Cache &c)
{
	const char *why = "";
	EXPECT_TRUE(c.map().check_invariants(&why)) << why;
}

} // namespace

TEST(Format, ZeroedAreaGetsUpstreamBytes)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	const uint8_t magic[] = {0x21, 0x93, 0x48, 0x23, 1, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0};
	EXPECT_EQ(0, std::memcmp(r.mem.data(), magic, sizeof(magic)));
	uint64_t n = 0;
	ASSERT_EQ(wc_layout_n_blocks(1 << 20, kBs, &n, nullptr), 0);
	EXPECT_EQ(r.cache->n_blocks(), n);
	EXPECT_EQ(r.le64(16), n);
	EXPECT_EQ(r.le64(24), 0u); // seq_count
	for (size_t off = 32; off < 64; off += 8)
		EXPECT_EQ(r.le64(off), 0u);
	for (uint64_t b = 0; b < n; b++) {
		EXPECT_EQ(r.le64(64 + 16 * b), ~0ull);
		EXPECT_EQ(r.le64(72 + 16 * b), ~0ull);
	}
	EXPECT_EQ(r.cache->map().free_count(), n);
}

TEST(Format, MagicIsWrittenLastInItsOwnCommit)
{
	// Record the order of assigns: the magic's word comes after the last
	// barrier that covers everything else.
	struct OrderPmem final : public Pmem {
		std::vector<std::pair<char, size_t>> ops;
		uint8_t *base = nullptr;
		void memcpy(void *d, const void *s, size_t n) override { std::memcpy(d, s, n); }
		void flush(void *, size_t) override {}
		void commit() override { ops.push_back({'C', 0}); }
		void assign(uint64_t *d, uint64_t v) override
		{
			*d = v;
			ops.push_back({'A', size_t(reinterpret_cast<uint8_t *>(d) - base)});
		}
		bool read(void *d, const void *s, size_t n) override
		{
			std::memcpy(d, s, n);
			return true;
		}
		const char *name() const override { return "order"; }
	} p;
	std::vector<uint8_t> mem(1 << 16, 0);
	p.base = mem.data();
	Cache c;
	ASSERT_TRUE(c.open(CacheParams{}, p, CacheArea{mem.data(), mem.size()}).ok());
	ASSERT_GE(p.ops.size(), 4u);
	EXPECT_EQ(p.ops[p.ops.size() - 1].first, 'C');
	EXPECT_EQ(p.ops[p.ops.size() - 2], std::make_pair('A', size_t(0)));
	EXPECT_EQ(p.ops[p.ops.size() - 3].first, 'C');
	uint32_t magic;
	std::memcpy(&magic, mem.data(), 4);
	EXPECT_EQ(magic, 0x23489321u);
}

TEST(Superblock, RejectionsWithUpstreamTexts)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	std::vector<uint8_t> good = r.mem;

	r.mem = good;
	r.mem[0] ^= 1;
	EXPECT_EQ(r.open_error(), "Invalid magic in the superblock");
	r.mem = good;
	r.mem[4] = 2;
	EXPECT_EQ(r.open_error(), "Invalid version in the superblock");
	r.mem = good;
	r.params.block_size = 512;
	EXPECT_EQ(r.open_error(), "Block size does not match superblock");
	r.params.block_size = kBs;
	r.mem = good;
	r.put_le64(16, r.le64(16) + 1);
	EXPECT_EQ(r.open_error(), "Memory area is too small");
	r.mem = good;
	r.put_le64(16, ~0ull / 8);
	EXPECT_EQ(r.open_error(), "Overflow in size calculation");
	r.mem = good;
	r.put_le64(16, (~0ull - 64) / 16 + 1);
	EXPECT_EQ(r.open_error(), "Overflow in size calculation");
	// The format crash window: header written, magic not yet.
	r.mem = good;
	std::memset(r.mem.data(), 0, 4);
	EXPECT_EQ(r.open_error(), "Invalid magic in the superblock");
	// A machine check on the superblock.
	r.mem = good;
	r.pmem.poisoned = r.mem.data();
	EXPECT_EQ(r.open_error(), "Hardware memory error when reading superblock");
	r.pmem.poisoned = nullptr;
	// Too small to format.
	Rig tiny(8191);
	EXPECT_EQ(tiny.open_error(), "Unable to initialize device");
	r.mem = good;
	EXPECT_EQ(r.open_error(), "");
}

TEST(Cache, WriteReadCommitReload)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	bool hit;
	read_id(c, 0, &hit);
	EXPECT_FALSE(hit);
	write_id(c, 8 * kStep, 111);
	write_id(c, 9 * kStep, 222);
	EXPECT_EQ(read_id(c, 8 * kStep, &hit), 111u);
	EXPECT_TRUE(hit);
	EXPECT_EQ(c.uncommitted_blocks(), 2u);
	ASSERT_TRUE(c.commit().ok());
	EXPECT_EQ(c.seq_count(), 1u);
	EXPECT_EQ(r.le64(24), 1u);
	write_id(c, 10 * kStep, 333); // never committed
	r.reopen();
	EXPECT_EQ(read_id(*r.cache, 8 * kStep, &hit), 111u);
	EXPECT_TRUE(hit);
	EXPECT_EQ(read_id(*r.cache, 9 * kStep, &hit), 222u);
	read_id(*r.cache, 10 * kStep, &hit);
	EXPECT_FALSE(hit) << "an uncommitted write survived a reload";
	EXPECT_EQ(r.cache->map().free_count(), r.cache->n_blocks() - 2);
	expect_invariants(*r.cache);
}

TEST(Cache, UncommittedOverwriteInPlaceCommittedGetsNewBlock)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	uint64_t n = c.n_blocks();
	write_id(c, 0, 1);
	write_id(c, 0, 2); // uncommitted hit: in place
	EXPECT_EQ(c.map().free_count(), n - 1);
	ASSERT_TRUE(c.commit().ok());
	write_id(c, 0, 3); // committed hit: new block, old superseded
	EXPECT_EQ(c.map().free_count(), n - 2);
	bool hit;
	EXPECT_EQ(read_id(c, 0, &hit), 3u);
	expect_invariants(c);
	// Crash (reload) before the commit: the committed version.
	std::vector<uint8_t> before = r.mem;
	ASSERT_TRUE(c.commit().ok());
	EXPECT_EQ(c.map().free_count(), n - 1) << "the old version was not freed";
	r.mem = before;
	r.reopen();
	EXPECT_EQ(read_id(*r.cache, 0, &hit), 2u);
	wc_status st;
	r.cache->fill_status(&st);
	EXPECT_EQ(st.free_blocks, n - 1);
}

TEST(Load, UpstreamRules)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	// Hand-made entries: sb seq 10.
	r.put_le64(24, 10);
	auto entry = [&](uint64_t b, uint64_t sector, uint64_t seq) {
		r.put_le64(64 + 16 * b, sector);
		r.put_le64(72 + 16 * b, seq);
	};
	entry(0, 800, 3);
	entry(1, 800, 5);  // newer duplicate: wins, block 0 cleared
	entry(2, 808, 10); // uncommitted: cleared
	entry(3, 816, 7);
	entry(4, 816, 6);  // older duplicate after the newer: cleared
	entry(5, 824, 0);
	r.reopen();
	Cache &c = *r.cache;
	EXPECT_FALSE(c.has_error());
	EXPECT_EQ(c.map().find(800), 1u);
	EXPECT_EQ(c.map().find(808), kNoBlock);
	EXPECT_EQ(c.map().find(816), 3u);
	EXPECT_EQ(c.map().find(824), 5u);
	EXPECT_EQ(r.le64(72 + 16 * 0), ~0ull);
	EXPECT_EQ(r.le64(72 + 16 * 2), ~0ull);
	EXPECT_EQ(r.le64(72 + 16 * 4), ~0ull);
	EXPECT_EQ(r.le64(72 + 16 * 1), 5u);
	EXPECT_EQ(c.map().free_count(), c.n_blocks() - 3);
	// LRU: index order, block 1 the oldest.
	EXPECT_EQ(c.map().tail(BlockMap::kLru), 1u);
	EXPECT_EQ(c.map().head(BlockMap::kLru), 5u);
	// Loading again gives the same state.
	std::vector<uint8_t> img = r.mem;
	r.reopen();
	EXPECT_EQ(r.mem, img);
	EXPECT_EQ(r.cache->map().find(800), 1u);
	expect_invariants(*r.cache);
}

TEST(Load, IdenticalEntriesLatchTheError)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.put_le64(24, 10);
	r.put_le64(64, 800);
	r.put_le64(72, 4);
	r.put_le64(80, 800);
	r.put_le64(88, 4);
	wc_test_log_take();
	r.reopen();
	EXPECT_TRUE(r.cache->has_error());
	auto log = wc_test_log_take();
	ASSERT_EQ(log.size(), 1u);
	EXPECT_EQ(log[0], "two identical entries, position 1, sector 800, sequence 4");
	EXPECT_EQ(r.cache->map().find(800), 1u); // the later one, as upstream
	// Writes fail after an error; reads still work.
	EXPECT_EQ(write_pattern(*r.cache, 0, 1), WC_IO_ERROR);
	bool hit;
	read_id(*r.cache, 800, &hit);
	EXPECT_TRUE(hit);
}

TEST(Load, MachineCheckOnAnEntryDropsTheRest)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	for (uint64_t i = 0; i < 4; i++)
		write_id(c, i * kStep, i + 1);
	ASSERT_TRUE(c.commit().ok());
	r.pmem.poisoned = r.mem.data() + 64 + 16 * 2;
	r.reopen();
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_EQ(r.cache->map().free_count(), r.cache->n_blocks() - 2);
	r.pmem.poisoned = nullptr;
}

// Entries are read in chunks; a machine check inside a later chunk must
// still keep exactly the entries before it.
TEST(Load, MachineCheckInsideALaterChunkKeepsTheEntriesBefore)
{
	Rig r(4 << 20);
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	const uint64_t n = 200;
	ASSERT_GE(c.n_blocks(), n);
	for (uint64_t i = 0; i < n; i++)
		write_id(c, i * kStep, i + 1);
	ASSERT_TRUE(c.commit().ok());
	const uint64_t bad = 150;
	r.pmem.poisoned = r.mem.data() + 64 + 16 * bad + 8;
	r.reopen();
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_EQ(r.cache->map().free_count(), r.cache->n_blocks() - bad);
	r.pmem.poisoned = nullptr;
	bool hit;
	EXPECT_EQ(read_id(*r.cache, (bad - 1) * kStep, &hit), bad);
	EXPECT_TRUE(hit);
	read_id(*r.cache, bad * kStep, &hit);
	EXPECT_FALSE(hit);
	expect_invariants(*r.cache);
}

// Many sectors written twice across commits: the scan keeps the newest
// version of each and frees the rest, with one probe per entry.
TEST(Load, NewestVersionWinsAcrossManyDuplicates)
{
	Rig r(4 << 20);
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	for (uint64_t i = 0; i < 100; i++)
		write_id(c, i * kStep, i + 1);
	ASSERT_TRUE(c.commit().ok());
	std::vector<uint8_t> first = r.mem;
	for (uint64_t i = 0; i < 100; i += 2)
		write_id(c, i * kStep, 1000 + i);
	ASSERT_TRUE(c.commit().ok());
	// Put the old committed entries back beside the new ones: what a crash
	// before the superseded blocks were freed leaves on media.
	for (uint64_t b = 0; b < 100; b++)
		std::memcpy(r.mem.data() + 64 + 16 * b, first.data() + 64 + 16 * b, 16);
	r.reopen();
	EXPECT_FALSE(r.cache->has_error());
	EXPECT_EQ(r.cache->map().free_count(), r.cache->n_blocks() - 100);
	bool hit;
	for (uint64_t i = 0; i < 100; i++) {
		uint64_t want = i % 2 ? i + 1 : 1000 + i;
		EXPECT_EQ(read_id(*r.cache, i * kStep, &hit), want) << i;
		EXPECT_TRUE(hit);
	}
	expect_invariants(*r.cache);
}

TEST(Cache, DiscardFreesAndDoesNotResurrect)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	write_id(c, 0, 1);
	write_id(c, kStep, 2);
	ASSERT_TRUE(c.commit().ok());
	write_id(c, 0, 3); // superseding version, uncommitted
	c.discard(0, 2 * kStep);
	bool hit;
	read_id(c, 0, &hit);
	EXPECT_FALSE(hit);
	EXPECT_EQ(c.map().free_count(), c.n_blocks());
	expect_invariants(c);
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.discards, 2u);
	r.reopen();
	read_id(*r.cache, 0, &hit);
	EXPECT_FALSE(hit) << "a discarded block came back after reload";
}

TEST(Cache, WritebackRunsAndFrees)
{
	Rig r;
	r.params.high_watermark = 10;
	r.params.low_watermark = 5;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	uint64_t n = c.n_blocks();
	uint64_t used = n / 5;
	for (uint64_t i = 0; i < used; i++)
		write_id(c, (1000 + i) * kStep, i + 7);
	EXPECT_TRUE(c.writeback_wanted());
	std::map<uint64_t, uint64_t> origin;
	WritebackRun run;
	int runs = 0;
	while (c.writeback_next(&run, false)) {
		runs++;
		ASSERT_GE(run.count, 1u);
		for (uint32_t i = 0; i < run.count; i++) {
			uint64_t id;
			std::memcpy(&id, c.block_data(run.blocks[i]), 8);
			origin[run.sector + i * kStep] = id;
		}
		c.writeback_done(run, true);
	}
	EXPECT_GE(runs, 1);
	EXPECT_FALSE(c.writeback_wanted());
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.writeback_blocks, 0u);
	EXPECT_GE(st.free_blocks, (n * 95 + 50) / 100);
	// Blocks written back hold what was written, and now read from origin.
	for (auto &[sector, id] : origin)
		EXPECT_EQ(id, sector / kStep - 1000 + 7);
	expect_invariants(c);
	// writeback of everything empties the cache.
	while (c.writeback_next(&run, true))
		c.writeback_done(run, true);
	EXPECT_EQ(c.map().free_count(), n);
}

TEST(Cache, WritebackErrorLatchesAndKeepsBlocks)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	write_id(c, 0, 5);
	WritebackRun run;
	ASSERT_TRUE(c.writeback_next(&run, true));
	c.writeback_done(run, false);
	EXPECT_TRUE(c.has_error());
	bool hit;
	EXPECT_EQ(read_id(c, 0, &hit), 5u);
	EXPECT_TRUE(hit);
	expect_invariants(c);
}

// The kernel log says what failed, in upstream's words: the writeback
// bio's blk_status_t, or the errno of the origin flush before the frees.
TEST(Cache, WritebackErrorLogsUpstreamsText)
{
	for (int status : {10, -5}) {
		Rig r;
		ASSERT_TRUE(r.open().ok());
		Cache &c = *r.cache;
		write_id(c, 0, 5);
		WritebackRun run;
		ASSERT_TRUE(c.writeback_next(&run, true));
		wc_test_log_take();
		c.writeback_done(run, false, status);
		EXPECT_TRUE(c.has_error());
		auto log = wc_test_log_take();
		ASSERT_EQ(log.size(), 1u);
		EXPECT_EQ(log[0], status > 0 ? "write error 10" : "error flushing metadata: -5");
		EXPECT_EQ(c.map().free_count(), c.n_blocks() - 1) << "the block stays cached";
	}
}

TEST(Cache, FullCacheSaysNoSpace)
{
	Rig r(64 * 1024);
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	uint64_t n = c.n_blocks();
	for (uint64_t i = 0; i < n; i++)
		write_id(c, i * kStep, i);
	EXPECT_EQ(write_pattern(c, n * kStep, 9), WC_IO_NOSPACE);
	EXPECT_EQ(write_pattern(c, 0, 9), WC_IO_DONE); // in place
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.writes_blocked_on_freelist, 1u);
	EXPECT_EQ(st.free_blocks, 0u);
}

TEST(Cache, CleanerAndMetadataOnlySendMissesAround)
{
	Rig r;
	r.params.metadata_only = true;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	auto d = pattern(1);
	Call k = wc::test::write_once(c, 0, 1, d.data());
	EXPECT_EQ(k.r, WC_IO_ORIGIN);
	EXPECT_EQ(k.out.run, 1u);
	EXPECT_EQ(k.served, 0u);
	k = wc::test::write_once(c, 0, 1, d.data(), WC_BIO_META);
	EXPECT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 1u);
	k = wc::test::write_once(c, 0, 1, d.data());	// a hit
	EXPECT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 1u);
	c.set_cleaner();
	k = wc::test::write_once(c, kStep, 1, d.data(), WC_BIO_META);
	EXPECT_EQ(k.r, WC_IO_ORIGIN);
	EXPECT_EQ(k.out.run, 1u);
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.writes, 4u);
	EXPECT_EQ(st.writes_around, 2u);
}

// A write bio commits at its end when it is FUA or autocommit_blocks are
// uncommitted; otherwise it says to arm the autocommit timer.
TEST(Cache, AutocommitAndFua)
{
	Rig r;
	r.params.autocommit_blocks = 3;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	auto one = pattern(1);
	Call k = wc::test::write_once(c, 0, 1, one.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_TRUE(k.out.arm_timer);
	EXPECT_EQ(c.seq_count(), 0u);
	// A bio of two blocks reaches 3 uncommitted at its end: one commit.
	std::vector<uint8_t> two(2 * kBs, 1);
	k = wc::test::write_once(c, kStep, 2, two.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 2u);
	EXPECT_FALSE(k.out.arm_timer);
	EXPECT_EQ(c.seq_count(), 1u);
	EXPECT_EQ(c.uncommitted_blocks(), 0u);
	k = wc::test::write_once(c, 3 * kStep, 1, one.data(), WC_BIO_FUA);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_FALSE(k.out.arm_timer);
	EXPECT_EQ(c.seq_count(), 2u);
	// An uncommitted overwrite in place (no new block) still counts
	// nothing new: the timer is armed again.
	k = wc::test::write_once(c, 4 * kStep, 1, one.data());
	EXPECT_TRUE(k.out.arm_timer);
	k = wc::test::write_once(c, 4 * kStep, 1, one.data());
	EXPECT_TRUE(k.out.arm_timer);
	EXPECT_EQ(c.seq_count(), 2u);
	EXPECT_EQ(c.uncommitted_blocks(), 1u);
}

TEST(BlockMap, RandomOpsKeepInvariants)
{
	BlockMap m;
	ASSERT_TRUE(m.init(1000, 3).ok());
	std::mt19937_64 rng(7);
	std::map<uint64_t, Block> model;
	for (int i = 0; i < 20000; i++) {
		uint64_t sector = (rng() % 3000) * 8;
		auto it = model.find(sector);
		if (it == model.end() && m.free_count() && rng() % 3) {
			Block b = m.alloc(rng() % 2 ? kNoBlock : Block(rng() % 1000));
			ASSERT_NE(b, kNoBlock);
			m.index_insert(b, sector);
			m.push_head(BlockMap::kLru, b);
			model[sector] = b;
		} else if (it != model.end()) {
			Block b = it->second;
			m.index_erase(b);
			m.unlink(b);
			m.release(b);
			model.erase(it);
		}
		if (i % 1000 == 0) {
			const char *why = "";
			ASSERT_TRUE(m.check_invariants(&why)) << why;
		}
	}
	for (auto &[sector, b] : model)
		ASSERT_EQ(m.find(sector), b);
	EXPECT_EQ(m.free_count(), 1000 - model.size());
}

TEST(BlockMap, AllocatesContiguousRunsWhenItCan)
{
	BlockMap m;
	ASSERT_TRUE(m.init(256, 3).ok());
	Block a = m.alloc();
	for (int i = 1; i < 100; i++)
		ASSERT_EQ(m.alloc(a + i), Block(a + i));
	// Taken blocks are skipped.
	Block b = m.alloc(5);
	EXPECT_NE(b, 5u);
	EXPECT_EQ(b, 100u);
}

TEST(BlockMap, RamPerBlockAtOneMillionBlocks)
{
	long before = wc_test_bytes_allocated();
	{
		BlockMap m;
		ASSERT_TRUE(m.init(1 << 20, 3).ok());
		// Fill it: the cost does not grow with use.
		for (uint64_t i = 0; i < (1 << 20); i++) {
			Block b = m.alloc();
			m.index_insert(b, i * 8);
			m.push_head(BlockMap::kLru, b);
		}
		long bytes = wc_test_bytes_allocated() - before;
		double per_block = double(bytes) / double(1 << 20);
		std::printf("RAM per cache block (1M blocks, full): %.2f bytes "
			    "(stock: 72 pmem, 88 SSD)\n", per_block);
		EXPECT_LE(per_block, 32.0);
		EXPECT_EQ(size_t(bytes), m.ram_bytes());
		EXPECT_EQ(m.find(12345 * 8), m.find(12345 * 8));
		EXPECT_NE(m.find(12345 * 8), kNoBlock);
	}
	EXPECT_EQ(wc_test_bytes_allocated(), before) << "block map leaked";
}

TEST(Cache, ParallelWritersOfDistinctSectors)
{
	Rig r(8 << 20);
	r.params.autocommit_blocks = 16;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	constexpr int kThreads = 4, kPer = 300;
	std::vector<std::thread> ts;
	for (int t = 0; t < kThreads; t++)
		ts.emplace_back([&, t] {
			for (int i = 0; i < kPer; i++) {
				uint64_t sector = uint64_t(t * kPer + i % 200) * kStep;
				auto d = pattern(uint64_t(t) << 32 | uint64_t(i));
				uint32_t flags = i % 50 == 0 ? WC_BIO_FUA : 0;
				wc_io_result w;
				while ((w = wc::test::write_block(c, sector, d.data(), flags)) ==
				       WC_IO_NOSPACE)
					std::this_thread::yield();
				ASSERT_EQ(w, WC_IO_DONE);
			}
		});
	for (auto &t : ts)
		t.join();
	ASSERT_TRUE(c.commit().ok());
	for (int t = 0; t < kThreads; t++)
		for (int j = 0; j < 200; j++) {
			int last = j + 200 <= kPer - 1 ? j + 200 : j;
			bool hit;
			EXPECT_EQ(read_id(c, uint64_t(t * kPer + j) * kStep, &hit),
				  uint64_t(t) << 32 | uint64_t(last));
		}
	expect_invariants(c);
	r.reopen();
	expect_invariants(*r.cache);
}

// Pmem whose data copies can be held in the middle (after the first byte
// went in), to see what a commit does while a copy is in flight.
class HoldingPmem final : public wc::test::MemPmem {
public:
	void memcpy(void *d, const void *s, size_t n) override
	{
		std::memcpy(d, s, 1);
		{
			std::unique_lock<std::mutex> l(m);
			if (hold) {
				held = true;
				cv.notify_all();
				cv.wait(l, [&] { return !hold; });
			}
		}
		std::memcpy(static_cast<char *>(d) + 1, static_cast<const char *>(s) + 1, n - 1);
	}
	const char *name() const override { return "holding"; }

	void wait_held()
	{
		std::unique_lock<std::mutex> l(m);
		cv.wait(l, [&] { return held; });
	}
	void release()
	{
		std::lock_guard<std::mutex> l(m);
		hold = false;
		cv.notify_all();
	}
	std::mutex m;
	std::condition_variable cv;
	bool hold = false, held = false;
};

struct HoldingRig {
	std::vector<uint8_t> mem = std::vector<uint8_t>(1 << 20, 0);
	HoldingPmem pmem;
	Cache cache;
	HoldingRig()
	{
		CacheParams params;
		EXPECT_TRUE(cache.open(params, pmem, CacheArea{mem.data(), mem.size()}).ok());
		EXPECT_TRUE(cache.load().ok());
	}
	// Writes id 2 to sector with its copy held half-way, starts a commit,
	// and says whether the commit finished within `wait`; then lets the
	// copy finish, and both must succeed.
	bool commit_finishes_during_held_write(uint64_t sector, std::chrono::milliseconds wait)
	{
		pmem.hold = true;
		auto writer = std::async(std::launch::async, [&] {
			auto d = pattern(2);
			return wc::test::write_block(cache, sector, d.data());
		});
		pmem.wait_held();
		auto committer = std::async(std::launch::async, [&] { return cache.commit().ok(); });
		bool done = committer.wait_for(wait) == std::future_status::ready;
		pmem.release();
		EXPECT_TRUE(committer.get());
		EXPECT_EQ(writer.get(), WC_IO_DONE);
		return done;
	}
};

// A write into a new block is invisible until published, so a commit
// (a flush from another writer) neither waits for its copy nor blocks it.
TEST(CommitGate, CommitDoesNotWaitForANewBlockCopy)
{
	HoldingRig r;
	write_id(r.cache, 0, 1);	// something to commit
	EXPECT_TRUE(r.commit_finishes_during_held_write(8 * kStep, std::chrono::seconds(10)))
		<< "the commit waited for a copy into an unpublished block";
	bool hit;
	EXPECT_EQ(read_id(r.cache, 8 * kStep, &hit), 2u);
	EXPECT_TRUE(hit);
	expect_invariants(r.cache);
}

// An in-place overwrite of an uncommitted block is what a commit may be
// publishing: the commit must wait until that copy is whole.
TEST(CommitGate, CommitWaitsForAnInPlaceCopy)
{
	HoldingRig r;
	write_id(r.cache, 0, 1);	// uncommitted: the next write is in place
	EXPECT_FALSE(r.commit_finishes_during_held_write(0, std::chrono::milliseconds(200)))
		<< "the commit published a half-copied block";
	wc_status st;
	r.cache.fill_status(&st);
	EXPECT_EQ(st.write_hits_uncommitted, 1u);
	bool hit;
	EXPECT_EQ(read_id(r.cache, 0, &hit), 2u);
	expect_invariants(r.cache);
}

// Writers of overlapping sectors (in-place and new-block writes), readers
// and a thread committing in a loop: every sector ends with its last
// write, and the map stays consistent, also after a reload.
TEST(CommitGate, WritersReadersAndCommitsTogether)
{
	Rig r(8 << 20);
	r.params.autocommit_blocks = 1000000;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	constexpr int kThreads = 3, kPer = 3000, kSectors = 40;
	std::atomic<bool> stop{false};
	std::thread committer([&] {
		while (!stop.load())
			ASSERT_TRUE(c.commit().ok());
	});
	std::thread reader([&] {
		std::vector<uint8_t> d(kBs);
		while (!stop.load()) {
			for (int j = 0; j < kThreads * kSectors; j++) {
				bool ioerr;
				if (wc::test::read_block(c, uint64_t(j) * kStep, d.data(), &ioerr)) {
					ASSERT_FALSE(ioerr);
					// A read racing a write of the same sector may see
					// either version, but never another sector's data
					// (a block freed and reused under the reader).
					for (size_t i = 0; i < kBs; i += 8) {
						uint64_t w;
						std::memcpy(&w, &d[i], 8);
						ASSERT_EQ(w >> 32, uint64_t(j / kSectors))
							<< "sector " << j << " read another sector's block";
					}
				}
			}
		}
	});
	std::vector<std::thread> ts;
	for (int t = 0; t < kThreads; t++)
		ts.emplace_back([&, t] {
			for (int i = 0; i < kPer; i++) {
				uint64_t sector = uint64_t(t * kSectors + i % kSectors) * kStep;
				auto d = pattern(uint64_t(t) << 32 | uint64_t(i));
				wc_io_result w;
				while ((w = wc::test::write_block(c, sector, d.data())) == WC_IO_NOSPACE)
					ASSERT_TRUE(c.commit().ok());
				ASSERT_EQ(w, WC_IO_DONE);
			}
		});
	for (auto &t : ts)
		t.join();
	stop = true;
	committer.join();
	reader.join();
	ASSERT_TRUE(c.commit().ok());
	auto check = [&](Cache &cc) {
		for (int t = 0; t < kThreads; t++)
			for (int j = 0; j < kSectors; j++) {
				int last = kPer - kSectors + j;
				bool hit;
				EXPECT_EQ(read_id(cc, uint64_t(t * kSectors + j) * kStep, &hit),
					  uint64_t(t) << 32 | uint64_t(last));
				EXPECT_TRUE(hit);
			}
		expect_invariants(cc);
	};
	check(c);
	r.reopen();
	check(*r.cache);
}

TEST(Cache, MaxAgeWritesBackOldBlocksOnly)
{
	Rig r;
	r.params.max_age_ms = 1600;
	ASSERT_TRUE(r.open().ok());
	Cache &c = *r.cache;
	write_id(c, 0, 1);
	EXPECT_FALSE(c.writeback_wanted()) << "far below the watermark, nothing old";
	wc_test_advance_clock_ms(1000);
	write_id(c, 10 * kStep, 2); // not contiguous: not swept into the run
	EXPECT_FALSE(c.writeback_wanted());
	wc_test_advance_clock_ms(600); // block 0: 1600 ms >= 1600 - 100
	EXPECT_TRUE(c.writeback_wanted());
	WritebackRun run;
	ASSERT_TRUE(c.writeback_next(&run, false));
	EXPECT_EQ(run.sector, 0u);
	EXPECT_EQ(run.count, 1u) << "the younger block must not be included";
	c.writeback_done(run, true);
	EXPECT_FALSE(c.writeback_next(&run, false)) << "block 1 is only 600 ms old";
	wc_test_advance_clock_ms(1000);
	EXPECT_TRUE(c.writeback_next(&run, false));
}
