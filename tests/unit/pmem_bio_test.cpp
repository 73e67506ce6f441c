// SPDX-License-Identifier: GPL-2.0
// pmem mode's one-call-per-bio API (Cache::write, Cache::read,
// Cache::flush) over plain memory, driven as src/kernel/map_pmem.c does
// (bio_io.h): blocks split across segments anywhere, bios of more
// segments than WC_BIO_SEGS (refill), read runs that end at a miss, a
// write that waits for a free block mid-bio and is called again with the
// same wc_bio, and what commits (FUA, autocommit) and what does not (an
// empty flush with nothing uncommitted).
#include "bio_io.h"
#include "cache.h"
#include "mem_pmem.h"
#include "platform_user.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

using namespace wc;
using wc::test::Call;
using wc::test::TestBio;
using wc::test::even_layout;

namespace {

constexpr uint32_t kBs = 4096;
constexpr uint64_t kStep = kBs / 512;

// Counts barriers (a commit's, or any other).
class CountingPmem final : public wc::test::MemPmem {
public:
	void commit() override { barriers++; }
	int barriers = 0;
};

struct Rig {
	explicit Rig(uint64_t bytes = 1 << 20) : mem(bytes, 0) {}
	std::vector<uint8_t> mem;
	CountingPmem pmem;
	CacheParams params;
	std::unique_ptr<Cache> cache;

	void open()
	{
		cache = std::make_unique<Cache>();
		ASSERT_TRUE(cache->open(params, pmem, CacheArea{mem.data(), mem.size()}).ok());
		ASSERT_TRUE(cache->load().ok());
	}
	Cache &c() { return *cache; }
	// The cached data of origin block blk, or nullptr.
	const uint8_t *cached(uint64_t blk) const
	{
		Block b = cache->map().find(blk * kStep);
		return b == kNoBlock ? nullptr : cache->block_data(b);
	}
	void expect_invariants() const
	{
		const char *why = "";
		EXPECT_TRUE(cache->map().check_invariants(&why)) << why;
	}
};

// n blocks of distinct bytes (seeded): any misplaced byte shows.
std::vector<uint8_t> noise(uint64_t n, uint64_t seed)
{
	std::vector<uint8_t> d(n * kBs);
	std::mt19937_64 rng(seed);
	for (auto &x : d)
		x = static_cast<uint8_t>(rng());
	return d;
}

// Segment lengths cycling through `lens` until `bytes` are covered.
std::vector<uint32_t> cycle_layout(uint64_t bytes, const std::vector<uint32_t> &lens)
{
	std::vector<uint32_t> v;
	uint64_t at = 0;
	for (size_t i = 0; at < bytes; i++) {
		uint64_t l = lens[i % lens.size()];
		if (l > bytes - at)
			l = bytes - at;
		v.push_back(static_cast<uint32_t>(l));
		at += l;
	}
	return v;
}

// Writes n blocks at block blk with layout wl (one call, must be DONE),
// reads them back with layout rl, and compares every byte (the bio's
// buffer, and the cache blocks themselves).
void write_read_exact(Rig &r, uint64_t blk, uint64_t n, const std::vector<uint32_t> &wl,
		      const std::vector<uint32_t> &rl, uint64_t seed)
{
	auto d = noise(n, seed);
	TestBio w(blk * kStep, n, kBs, d.data(), wl);
	Call k = wc::test::call_write(r.c(), w);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, n);
	EXPECT_EQ(k.cursor, "");
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = r.cached(blk + i);
		ASSERT_NE(p, nullptr);
		EXPECT_EQ(0, std::memcmp(p, &d[i * kBs], kBs)) << "cache block of " << blk + i;
	}
	std::vector<uint8_t> got(n * kBs, 0x5a);
	TestBio rd(blk * kStep, n, kBs, got.data(), rl);
	k = wc::test::call_read(r.c(), rd);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, n);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(got, d) << "the read did not return the bytes written";
}

} // namespace

// Blocks split across segments at 512-byte offsets that are not block
// boundaries (and at arbitrary bytes): each block lands and reads back
// exactly, whatever the two bios' layouts.
TEST(PmemBio, BlocksSplitAcrossSegmentsAtOddOffsetsReadBackExactly)
{
	Rig r;
	r.open();
	const uint64_t n = 4, bytes = n * kBs;
	// 512, 1536, 2560, 3584, ...: every block boundary falls inside a
	// segment.
	auto odd = cycle_layout(bytes, {512, 1536, 2560, 3584, 1024});
	auto sectors = even_layout(bytes, 512);
	auto whole = even_layout(bytes);
	auto blocks = even_layout(bytes, kBs);
	auto bytewise = cycle_layout(bytes, {1, 7, 100, 4000, 511, 513, 3});
	write_read_exact(r, 0, n, odd, whole, 1);
	write_read_exact(r, 10, n, whole, odd, 2);
	write_read_exact(r, 20, n, sectors, blocks, 3);
	write_read_exact(r, 30, n, bytewise, sectors, 4);
	write_read_exact(r, 40, n, blocks, bytewise, 5);
	// Overwrite in place (uncommitted) and into new blocks (committed).
	write_read_exact(r, 0, n, bytewise, odd, 6);
	ASSERT_TRUE(r.c().commit().ok());
	write_read_exact(r, 0, n, sectors, bytewise, 7);
	r.expect_invariants();
}

// A bio of more segments than one wc_bio holds: the core asks for the
// rest through refill() only once it has used every segment it was given,
// never past the bio's end.
TEST(PmemBio, MoreSegmentsThanWcBioSegsAreRefilled)
{
	Rig r;
	r.open();
	const uint64_t n = 8;
	auto d = noise(n, 11);
	auto layout = even_layout(n * kBs, 512);	// 64 segments
	ASSERT_EQ(layout.size(), 4u * WC_BIO_SEGS);
	TestBio w(0, n, kBs, d.data(), layout);
	Call k = wc::test::call_write(r.c(), w);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(k.refills, 3u);
	std::vector<uint8_t> got(n * kBs);
	TestBio rd(0, n, kBs, got.data(), layout);
	k = wc::test::call_read(r.c(), rd);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(k.refills, 3u);
	EXPECT_EQ(got, d);
	// A shim that gives one segment a time (allowed: nsegs > 0).
	auto d2 = noise(n, 12);
	auto odd = cycle_layout(n * kBs, {512, 1536, 2560});
	TestBio w1(16 * kStep, n, kBs, d2.data(), odd, 0, 0, 1);
	k = wc::test::call_write(r.c(), w1);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(k.refills, odd.size() - 1);
	std::vector<uint8_t> got2(n * kBs);
	TestBio rd1(16 * kStep, n, kBs, got2.data(), even_layout(n * kBs, 1024), 0, 0, 1);
	k = wc::test::call_read(r.c(), rd1);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(k.refills, n * kBs / 1024 - 1);
	EXPECT_EQ(got2, d2);
}

// A read run ends at the first miss: b.sector stops there, the cursor
// after the run's bytes, nothing past it written; the shim sends the rest
// on (a miss: WC_IO_ORIGIN up to the next cached block).
TEST(PmemBio, AReadRunEndsAtAMiss)
{
	Rig r;
	r.open();
	Cache &c = r.c();
	auto d = noise(6, 21);
	for (uint64_t i : {0, 1, 2, 4}) {
		Call k = wc::test::write_once(c, i * kStep, 1, &d[i * kBs]);
		ASSERT_EQ(k.r, WC_IO_DONE);
	}
	std::vector<uint8_t> got(6 * kBs, 0xee);
	auto layout = cycle_layout(6 * kBs, {1536, 512, 2560});
	TestBio rd(0, 6, kBs, got.data(), layout);
	Call k = wc::test::call_read(c, rd);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 3u);
	EXPECT_EQ(rd.bio().sector, 3 * kStep) << "b.sector did not stop at the miss";
	EXPECT_EQ(rd.bio().blocks, 3u);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(0, std::memcmp(got.data(), d.data(), 3 * kBs));
	for (size_t i = 3 * kBs; i < got.size(); i++)
		ASSERT_EQ(got[i], 0xee) << "byte " << i << " past the run was written";
	// The whole bio as the shim maps it: hit, miss, hit, miss.
	std::vector<std::pair<uint64_t, uint64_t>> origin;
	wc::test::MapHooks hooks;
	hooks.origin = [&](uint64_t off, uint64_t n) { origin.push_back({off, n}); };
	std::vector<bool> hit;
	std::vector<uint8_t> all(6 * kBs, 0xee);
	auto res = wc::test::map_read(c, 0, 6, all.data(), layout, hooks, &hit);
	EXPECT_TRUE(res.ok) << res.error;
	EXPECT_EQ(res.calls, 4u);
	EXPECT_EQ(origin, (std::vector<std::pair<uint64_t, uint64_t>>{{3, 1}, {5, 1}}));
	EXPECT_EQ(hit, (std::vector<bool>{true, true, true, false, true, false}));
	EXPECT_EQ(0, std::memcmp(&all[4 * kBs], &d[4 * kBs], kBs));

	// A run longer than one batch of the core (32 blocks) ending at a miss.
	const uint64_t m = 45;
	auto big = noise(m, 22);
	Call w = wc::test::write_once(c, 100 * kStep, m, big.data(), 0, 1536);
	ASSERT_EQ(w.r, WC_IO_DONE);
	ASSERT_EQ(w.served, m);
	std::vector<uint8_t> back((m + 5) * kBs, 0xee);
	k = wc::test::read_once(c, 100 * kStep, m + 5, back.data(), 3584);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, m);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(0, std::memcmp(back.data(), big.data(), m * kBs));
	for (size_t i = m * kBs; i < back.size(); i++)
		ASSERT_EQ(back[i], 0xee) << "byte " << i << " past the run was written";
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.read_hits, 3u + 4u + m);
}

// No free block mid-bio: WC_IO_NOSPACE with the blocks before it cached,
// b.sector and the cursor after them; called again with the same wc_bio
// once blocks are free, it completes the bio, every block's data right.
// A FUA bio commits only at its end.
TEST(PmemBio, NoSpaceMidBioThenRetryCompletesTheBio)
{
	for (uint64_t n : {5u, 40u}) {	// within one batch, and across batches
		Rig r;
		r.open();
		Cache &c = r.c();
		const uint64_t blocks = c.n_blocks();
		const uint64_t room = n - 3;	// free blocks left for the bio
		ASSERT_GT(blocks, n + 10);
		auto filler = noise(1, 30);
		for (uint64_t i = 0; i < blocks - room; i++)
			ASSERT_EQ(wc::test::write_block(c, (1000 + i) * kStep, filler.data()),
				  WC_IO_DONE);
		ASSERT_TRUE(c.commit().ok());
		ASSERT_EQ(c.free_blocks(), room);
		auto d = noise(n, 31 + n);
		auto layout = cycle_layout(n * kBs, {512, 3584, 1536, 7168});
		TestBio b(10 * kStep, n, kBs, d.data(), layout, WC_BIO_FUA);
		uint64_t seq = c.seq_count();
		Call k = wc::test::call_write(c, b);
		ASSERT_EQ(k.r, WC_IO_NOSPACE);
		EXPECT_EQ(k.served, room);
		EXPECT_EQ(b.bio().sector, (10 + room) * kStep);
		EXPECT_EQ(b.bio().blocks, n - room);
		EXPECT_EQ(k.cursor, "");
		EXPECT_EQ(c.seq_count(), seq) << "a FUA bio committed before its end";
		for (uint64_t i = 0; i < room; i++) {
			ASSERT_NE(r.cached(10 + i), nullptr);
			EXPECT_EQ(0, std::memcmp(r.cached(10 + i), &d[i * kBs], kBs));
		}
		// Still no room: NOSPACE again, nothing more served.
		k = wc::test::call_write(c, b);
		ASSERT_EQ(k.r, WC_IO_NOSPACE);
		EXPECT_EQ(k.served, room);
		EXPECT_EQ(k.cursor, "");
		// Writeback frees the filler; the retry finishes the bio.
		c.discard(1000 * kStep, (1000 + blocks) * kStep);
		ASSERT_GE(c.free_blocks(), n - room);
		k = wc::test::call_write(c, b);
		ASSERT_EQ(k.r, WC_IO_DONE);
		EXPECT_EQ(k.served, n);
		EXPECT_EQ(k.cursor, "");
		EXPECT_EQ(c.seq_count(), seq + 1) << "the FUA bio did not commit at its end";
		EXPECT_FALSE(k.out.arm_timer);
		EXPECT_EQ(c.uncommitted_blocks(), 0u);
		std::vector<uint8_t> got(n * kBs);
		Call rk = wc::test::read_once(c, 10 * kStep, n, got.data(), 2560);
		ASSERT_EQ(rk.r, WC_IO_DONE);
		EXPECT_EQ(rk.served, n);
		EXPECT_EQ(got, d);
		wc_status st;
		c.fill_status(&st);
		EXPECT_EQ(st.writes_blocked_on_freelist, 2u);
		EXPECT_EQ(st.writes, blocks - room + n);
		r.expect_invariants();
		// And after a reload (the commit made it durable).
		r.open();
		std::vector<uint8_t> again(n * kBs);
		rk = wc::test::read_once(*r.cache, 10 * kStep, n, again.data());
		ASSERT_EQ(rk.r, WC_IO_DONE);
		EXPECT_EQ(again, d);
	}
}

// An empty flush counts a flush and commits only if something is
// uncommitted: with nothing, seq_count() stays and no barrier is issued.
TEST(PmemBio, AnEmptyFlushCommitsOnlyWhatIsUncommitted)
{
	Rig r;
	r.open();
	Cache &c = r.c();
	int barriers = r.pmem.barriers;
	ASSERT_TRUE(c.flush().ok());
	EXPECT_EQ(c.seq_count(), 0u) << "a flush of nothing committed";
	EXPECT_EQ(r.pmem.barriers, barriers) << "a flush of nothing issued a barrier";
	auto d = noise(2, 40);
	Call k = wc::test::write_once(c, 0, 2, d.data(), 0, 512);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_FALSE(k.committed());
	EXPECT_TRUE(k.out.arm_timer);
	ASSERT_TRUE(c.flush().ok());
	EXPECT_EQ(c.seq_count(), 1u) << "the flush did not commit the uncommitted write";
	EXPECT_EQ(c.uncommitted_blocks(), 0u);
	EXPECT_GT(r.pmem.barriers, barriers);
	barriers = r.pmem.barriers;
	ASSERT_TRUE(c.flush().ok());
	EXPECT_EQ(c.seq_count(), 1u);
	EXPECT_EQ(r.pmem.barriers, barriers);
	// A discard leaves nothing to commit either (it is durable itself).
	k = wc::test::write_once(c, 8 * kStep, 1, d.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	c.discard(8 * kStep, 9 * kStep);
	uint64_t seq = c.seq_count();
	ASSERT_TRUE(c.flush().ok());
	EXPECT_EQ(c.seq_count(), seq);
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.flushes, 4u);
	// The committed data survives a reload.
	r.open();
	std::vector<uint8_t> got(2 * kBs);
	k = wc::test::read_once(*r.cache, 0, 2, got.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(got, d);
}

// A FUA write commits before it returns (seq_count() moves); the empty
// flush an fsync sends after it then has nothing to do.
TEST(PmemBio, AFuaWriteCommitsAndTheFollowingFlushDoesNot)
{
	Rig r;
	r.open();
	Cache &c = r.c();
	auto d = noise(3, 50);
	Call k = wc::test::write_once(c, 4 * kStep, 3, d.data(), WC_BIO_FUA, 1536);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 3u);
	EXPECT_TRUE(k.committed());
	EXPECT_EQ(k.seq_after, k.seq_before + 1) << "one commit for the bio, at its end";
	EXPECT_FALSE(k.out.arm_timer);
	EXPECT_EQ(c.uncommitted_blocks(), 0u);
	int barriers = r.pmem.barriers;
	uint64_t seq = c.seq_count();
	ASSERT_TRUE(c.flush().ok());
	EXPECT_EQ(c.seq_count(), seq);
	EXPECT_EQ(r.pmem.barriers, barriers);
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.flushes, 1u);
	// A FUA overwrite of an uncommitted block in place commits too.
	k = wc::test::write_once(c, 20 * kStep, 1, d.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_FALSE(k.committed());
	k = wc::test::write_once(c, 20 * kStep, 1, d.data() + kBs, WC_BIO_FUA);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_TRUE(k.committed());
	c.fill_status(&st);
	EXPECT_EQ(st.write_hits_uncommitted, 1u);
}

// autocommit_blocks reached inside a bio commits once, at the bio's end;
// out.writeback says whether the watermarks want writeback.
TEST(PmemBio, AutocommitAtTheBiosEndAndTheWritebackHint)
{
	Rig r;
	r.params.autocommit_blocks = 4;
	r.params.high_watermark = 10;
	r.params.low_watermark = 5;
	r.open();
	Cache &c = r.c();
	auto d = noise(10, 60);
	Call k = wc::test::write_once(c, 0, 10, d.data(), 0, 512);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.seq_after, k.seq_before + 1) << "one commit, at the end of the bio";
	EXPECT_FALSE(k.out.arm_timer);
	EXPECT_EQ(bool(k.out.writeback), c.writeback_wanted());
	k = wc::test::write_once(c, 20 * kStep, 1, d.data());
	EXPECT_TRUE(k.out.arm_timer);
	EXPECT_FALSE(k.committed());
	EXPECT_EQ(bool(k.out.writeback), c.writeback_wanted());
	// Past the high watermark: writeback is wanted.
	const uint64_t many = c.n_blocks() / 5;
	std::vector<uint8_t> lots(many * kBs, 7);
	k = wc::test::write_once(c, 100 * kStep, many, lots.data(), 0, 4096);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_TRUE(k.out.writeback);
	EXPECT_TRUE(c.writeback_wanted());
}

// metadata_only: a REQ_META bio is cached whole; a data bio's leading
// run of misses goes to the origin (out.run), counted as writes_around.
TEST(PmemBio, MetadataOnlySendsADataBiosMissesAround)
{
	Rig r;
	r.params.metadata_only = true;
	r.open();
	Cache &c = r.c();
	auto d = noise(4, 70);
	Call k = wc::test::write_once(c, 0, 4, d.data(), WC_BIO_META, 1536);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 4u);
	k = wc::test::write_once(c, 8 * kStep, 4, d.data(), 0, 1536);
	ASSERT_EQ(k.r, WC_IO_ORIGIN);
	EXPECT_EQ(k.out.run, 4u);
	EXPECT_EQ(k.served, 0u);
	EXPECT_EQ(k.cursor, "");
	// A data bio over cached blocks then misses: the cached run first.
	std::vector<std::pair<uint64_t, uint64_t>> origin;
	wc::test::MapHooks hooks;
	hooks.origin = [&](uint64_t off, uint64_t n) { origin.push_back({off, n}); };
	auto d2 = noise(6, 71);
	auto res = wc::test::map_write(c, 2 * kStep, 6, d2.data(), even_layout(6 * kBs, 512), 0,
				       hooks);
	ASSERT_TRUE(res.ok) << res.error;
	EXPECT_EQ(res.cached, 2u);
	EXPECT_EQ(res.around, 4u);
	EXPECT_EQ(origin, (std::vector<std::pair<uint64_t, uint64_t>>{{2, 4}}));
	ASSERT_NE(r.cached(2), nullptr);
	EXPECT_EQ(0, std::memcmp(r.cached(3), &d2[kBs], kBs));
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.writes_around, 8u);
	EXPECT_EQ(st.writes, 4u + 4u + 6u);
}

// A machine check on a cached block fails the read (WC_IO_ERROR) and
// latches the error; writes then fail too.
TEST(PmemBio, AMachineCheckFailsTheReadBio)
{
	class PoisonPmem final : public wc::test::MemPmem {
	public:
		bool read(void *d, const void *s, size_t n) override
		{
			const char *b = static_cast<const char *>(s);
			if (poisoned && poisoned >= b && poisoned < b + n)
				return false;
			std::memcpy(d, s, n);
			return true;
		}
		const char *poisoned = nullptr;
	} pmem;
	std::vector<uint8_t> mem(1 << 20, 0);
	Cache c;
	ASSERT_TRUE(c.open(CacheParams{}, pmem, CacheArea{mem.data(), mem.size()}).ok());
	ASSERT_TRUE(c.load().ok());
	auto d = noise(3, 80);
	ASSERT_EQ(wc::test::write_once(c, 0, 3, d.data()).r, WC_IO_DONE);
	pmem.poisoned = reinterpret_cast<const char *>(c.block_data(c.map().find(kStep))) + 700;
	std::vector<uint8_t> got(3 * kBs);
	Call k = wc::test::read_once(c, 0, 3, got.data(), 512);
	EXPECT_EQ(k.r, WC_IO_ERROR);
	EXPECT_TRUE(c.has_error());
	wc_test_log_take();
	EXPECT_EQ(wc::test::write_once(c, 10 * kStep, 1, d.data()).r, WC_IO_ERROR);
	EXPECT_FALSE(c.flush().ok());
}
