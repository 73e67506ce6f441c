// SPDX-License-Identifier: GPL-2.0
// Regression tests for the defects of issue 12 that live in the core:
// writeback ordering (one write per origin sector in flight), writes that
// must not go around an in-flight older version, wake-ups for blocked
// writers, runs served whole (the 6.1 partial-bio rule), bounded work per
// lock hold, the uncommitted count, and upstream's error texts and codes.
#include "bio_io.h"
#include "cache.h"
#include "mem_pmem.h"
#include "platform_user.h"
#include "sim/sim_ssd.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace wc;
using wc::sim::SimSsd;
using wc::test::Call;
using wc::test::TestBio;

namespace {

// Another writer can be slipped into the middle of a copy.
class FlatPmem final : public wc::test::MemPmem {
public:
	void memcpy(void *d, const void *s, size_t n) override
	{
		MemPmem::memcpy(d, s, n);
		if (during_copy) {
			auto f = during_copy;
			during_copy = nullptr;
			f(hook_ctx);
		}
	}
	// Runs once inside the next copy: another writer racing this one.
	void (*during_copy)(void *) = nullptr;
	void *hook_ctx = nullptr;
};

struct Wakes {
	int count = 0;
	static void fn(void *ctx) { static_cast<Wakes *>(ctx)->count++; }
};

struct PmemRig {
	explicit PmemRig(uint64_t bytes = 1 << 20, uint32_t bs = 4096)
	    : mem(bytes, 0), bs(bs), step(bs / 512)
	{
		params.block_size = bs;
	}
	std::vector<uint8_t> mem;
	uint32_t bs;
	uint64_t step;
	FlatPmem pmem;
	CacheParams params;
	std::unique_ptr<Cache> cache;
	Wakes wakes;

	void open()
	{
		cache = std::make_unique<Cache>();
		ASSERT_TRUE(cache->open(params, pmem, CacheArea{mem.data(), mem.size()}).ok());
		cache->set_waker(Wakes::fn, &wakes);
		ASSERT_TRUE(cache->load().ok());
	}
	// n blocks, every word of each the id.
	std::vector<uint8_t> data(uint64_t id, uint64_t n = 1) const
	{
		std::vector<uint8_t> d(n * bs);
		for (size_t i = 0; i < d.size(); i += 8)
			std::memcpy(&d[i], &id, 8);
		return d;
	}
	// A one-block write bio (bio_io.h).
	wc_io_result write(uint64_t block, uint64_t id, uint32_t flags = 0)
	{
		auto d = data(id);
		return wc::test::write_block(*cache, block * step, d.data(), flags);
	}
	uint64_t data_id(Block b) const
	{
		uint64_t id;
		std::memcpy(&id, cache->block_data(b), 8);
		return id;
	}
	void expect_invariants() const
	{
		const char *why = "";
		EXPECT_TRUE(cache->map().check_invariants(&why)) << why;
	}
};

bool run_has(const WritebackRun &run, uint64_t sector, uint64_t step)
{
	return sector >= run.sector && sector < run.sector + run.count * step;
}

} // namespace

// Defect 2: a new version of a sector must not be written back while the
// older one is still in flight (the two writes could land in any order).
TEST(Regress, WritebackWaitsForTheOlderVersionOfASector)
{
	for (bool mutate : {false, true}) {
		PmemRig r;
		r.params.test_writeback_ignores_inflight = mutate;
		r.open();
		ASSERT_EQ(r.write(5, 1), WC_IO_DONE);
		ASSERT_TRUE(r.cache->commit().ok());
		WritebackRun old_run;
		ASSERT_TRUE(r.cache->writeback_next(&old_run, true));
		ASSERT_TRUE(run_has(old_run, 5 * r.step, r.step));
		ASSERT_EQ(r.write(5, 2), WC_IO_DONE);
		ASSERT_TRUE(r.cache->commit().ok());
		r.expect_invariants();
		WritebackRun run;
		bool second = r.cache->writeback_next(&run, true);
		if (mutate) {
			// The switch brings the defect back: the checker's target.
			EXPECT_TRUE(second);
			continue;
		}
		EXPECT_FALSE(second) << "sector 5 handed out twice";
		EXPECT_TRUE(r.cache->writeback_pending());
		EXPECT_TRUE(r.cache->writeback_take_skipped());
		EXPECT_FALSE(r.cache->writeback_take_skipped());
		r.cache->writeback_done(old_run, true);
		r.expect_invariants();
		ASSERT_TRUE(r.cache->writeback_next(&run, true));
		ASSERT_TRUE(run_has(run, 5 * r.step, r.step));
		EXPECT_EQ(r.data_id(run.blocks[0]), 2u);
		r.cache->writeback_done(run, true);
		EXPECT_FALSE(r.cache->writeback_pending());
		EXPECT_EQ(r.cache->free_blocks(), r.cache->n_blocks());
	}
}

// A run being extended stops before a sector with an older version in
// flight.
TEST(Regress, WritebackRunStopsAtASectorInFlight)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(11, 1), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun first;
	ASSERT_TRUE(r.cache->writeback_next(&first, true));
	ASSERT_EQ(first.count, 1u);
	for (uint64_t b = 10; b < 13; b++)
		ASSERT_EQ(r.write(b, 10 + b), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	EXPECT_FALSE(run_has(run, 11 * r.step, r.step))
	    << "run from " << run.sector << " of " << run.count;
	r.expect_invariants();
}

// Defect 3: after the newer version is discarded, a cleaner-mode write
// must still go into the cache while the older one is being written back.
TEST(Regress, CleanerWriteDoesNotGoAroundAnInFlightOlderVersion)
{
	for (bool mutate : {false, true}) {
		PmemRig r;
		r.params.test_around_ignores_inflight = mutate;
		r.open();
		ASSERT_EQ(r.write(3, 1), WC_IO_DONE);
		ASSERT_TRUE(r.cache->commit().ok());
		WritebackRun run;
		ASSERT_TRUE(r.cache->writeback_next(&run, true));
		ASSERT_EQ(r.write(3, 2), WC_IO_DONE);
		r.cache->discard(3 * r.step, 4 * r.step);
		r.cache->set_cleaner();
		// A bio over blocks 2..4, as the shim maps it: each call serves
		// the leading run, dm resubmits the rest.
		auto d = r.data(3, 3);
		Call k = wc::test::write_once(*r.cache, 2 * r.step, 3, d.data());
		ASSERT_EQ(k.r, WC_IO_ORIGIN);
		EXPECT_EQ(k.served, 0u);
		if (mutate) {
			EXPECT_EQ(k.out.run, 3u) << "the in-flight block 3 went around too";
			EXPECT_EQ(r.write(3, 3), WC_IO_ORIGIN);
			continue;
		}
		// Block 2 goes around on its own; block 3 is cached, block 4
		// goes around.
		EXPECT_EQ(k.out.run, 1u);
		{
			TestBio rest(3 * r.step, 2, r.bs, d.data(), wc::test::even_layout(3 * r.bs),
				     0, 1 * r.bs);
			k = wc::test::call_write(*r.cache, rest);
			EXPECT_EQ(k.r, WC_IO_DONE);
			EXPECT_EQ(k.served, 1u) << "the cached run is block 3 alone";
			EXPECT_EQ(k.cursor, "");
		}
		EXPECT_NE(r.cache->map().find(3 * r.step), kNoBlock);
		EXPECT_EQ(r.cache->map().find(4 * r.step), kNoBlock);
		{
			TestBio rest(4 * r.step, 1, r.bs, d.data(), wc::test::even_layout(3 * r.bs),
				     0, 2 * r.bs);
			k = wc::test::call_write(*r.cache, rest);
			EXPECT_EQ(k.r, WC_IO_ORIGIN);
			EXPECT_EQ(k.out.run, 1u);
		}
		r.expect_invariants();
		r.cache->writeback_done(run, true);
		r.expect_invariants();
	}
}

TEST(Regress, SsdWriteDoesNotGoAroundAnInFlightOlderVersion)
{
	for (bool mutate : {false, true}) {
		SimSsd ssd((1 << 20) / 512);
		CacheParams params;
		params.test_around_ignores_inflight = mutate;
		Cache c;
		ASSERT_TRUE(c.open_ssd(params, ssd, 1 << 20).ok());
		ASSERT_TRUE(c.load().ok());
		const uint64_t step = 8;
		ASSERT_EQ(c.ssd_map_write(3 * step, 1, false).target, SsdTarget::kCache);
		ASSERT_TRUE(c.commit().ok());
		WritebackRun run;
		ASSERT_TRUE(c.writeback_next(&run, true));
		ASSERT_EQ(c.ssd_map_write(3 * step, 1, false).target, SsdTarget::kCache);
		c.discard(3 * step, 4 * step);
		c.set_cleaner();
		SsdMapping m = c.ssd_map_write(2 * step, 3, false);
		EXPECT_EQ(m.target, SsdTarget::kOrigin);
		EXPECT_EQ(m.blocks, mutate ? 3u : 1u);
		SsdTarget t = c.ssd_map_write(3 * step, 1, false).target;
		EXPECT_EQ(t, mutate ? SsdTarget::kOrigin : SsdTarget::kCache);
	}
}

// Defect 4: every free and the error state wake blocked writers.
TEST(Regress, FreesAndErrorsWakeBlockedWriters)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(1, 1), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	ASSERT_EQ(r.write(1, 2), WC_IO_DONE);	// supersedes
	int before = r.wakes.count;
	ASSERT_TRUE(r.cache->commit().ok());	// frees the old version
	EXPECT_GT(r.wakes.count, before) << "commit freed a block silently";
	before = r.wakes.count;
	r.cache->discard(0, 8 * r.step);
	EXPECT_GT(r.wakes.count, before) << "discard freed a block silently";
	ASSERT_EQ(r.write(2, 3), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	before = r.wakes.count;
	r.cache->writeback_done(run, false, 10);	// latches the error
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_GT(r.wakes.count, before) << "the error state woke nobody";
	wc_test_log_take();
}

TEST(Regress, WakeOnlyOnWritebackSwitchSilencesOtherFrees)
{
	PmemRig r;
	r.params.test_wake_only_on_writeback = true;
	r.open();
	ASSERT_EQ(r.write(1, 1), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	ASSERT_EQ(r.write(1, 2), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	r.cache->discard(0, 8 * r.step);
	EXPECT_EQ(r.wakes.count, 0);
}

// Defect 0 (core side): a read serves one run of hits, up to the first
// miss (b.sector stops there, and nothing past it is touched); a miss
// reports the blocks up to the next cached one.
TEST(Regress, ReadServesOneRunUpToTheFirstMiss)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(0, 100), WC_IO_DONE);
	ASSERT_EQ(r.write(2, 102), WC_IO_DONE);
	std::vector<uint8_t> buf(3 * r.bs, 0xa5);
	Call k = wc::test::read_once(*r.cache, 0, 3, buf.data());
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 1u);
	EXPECT_EQ(k.cursor, "");
	EXPECT_EQ(buf, [&] {
		auto want = r.data(100);
		want.resize(3 * r.bs, 0xa5);
		return want;
	}()) << "block 0 copied, and nothing past the run";
	std::vector<uint8_t> miss(5 * r.bs, 0xa5);
	const std::vector<uint8_t> untouched = miss;
	k = wc::test::read_once(*r.cache, 1 * r.step, 2, miss.data());
	EXPECT_EQ(k.r, WC_IO_ORIGIN);
	EXPECT_EQ(k.out.run, 1u);
	EXPECT_EQ(k.served, 0u);
	k = wc::test::read_once(*r.cache, 3 * r.step, 5, miss.data());
	EXPECT_EQ(k.r, WC_IO_ORIGIN);
	EXPECT_EQ(k.out.run, 5u);
	EXPECT_EQ(k.served, 0u);
	EXPECT_EQ(miss, untouched);
	wc_status st;
	r.cache->fill_status(&st);
	EXPECT_EQ(st.reads, 1u + 1u + 5u);
	EXPECT_EQ(st.read_hits, 1u);
}

// ...and the cleaner's write side splits the same way: WC_IO_ORIGIN with
// out.run for a leading uncached run, WC_IO_DONE with b.sector moved over
// a leading cached run; without cleaner a write bio is cached whole.
TEST(Regress, WriteSplitsCachedAndUncachedRunsOnlyForCleaner)
{
	PmemRig r;
	r.open();
	Cache &c = *r.cache;
	ASSERT_EQ(r.write(0, 1), WC_IO_DONE);
	ASSERT_EQ(r.write(2, 1), WC_IO_DONE);
	ASSERT_EQ(r.write(10, 1), WC_IO_DONE);
	ASSERT_EQ(r.write(12, 1), WC_IO_DONE);
	auto d = r.data(5, 3);
	Call k = wc::test::write_once(c, 10 * r.step, 3, d.data());
	EXPECT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 3u) << "without cleaner the bio is cached whole";
	c.set_cleaner();
	auto layout = wc::test::even_layout(3 * r.bs);
	{
		TestBio b(0, 3, r.bs, d.data(), layout);
		k = wc::test::call_write(c, b);
		EXPECT_EQ(k.r, WC_IO_DONE);
		EXPECT_EQ(k.served, 1u) << "the cached run is block 0";
		EXPECT_EQ(k.cursor, "");
	}
	{
		TestBio b(1 * r.step, 2, r.bs, d.data(), layout, 0, r.bs);
		k = wc::test::call_write(c, b);
		EXPECT_EQ(k.r, WC_IO_ORIGIN);
		EXPECT_EQ(k.out.run, 1u) << "block 1 goes around, up to the cached block 2";
		EXPECT_EQ(k.served, 0u);
	}
	{
		TestBio b(2 * r.step, 1, r.bs, d.data(), layout, 0, 2 * r.bs);
		k = wc::test::call_write(c, b);
		EXPECT_EQ(k.r, WC_IO_DONE);
		EXPECT_EQ(k.served, 1u);
	}
	EXPECT_EQ(c.map().find(1 * r.step), kNoBlock);
	wc_status st;
	c.fill_status(&st);
	EXPECT_EQ(st.writes_around, 1u);
	EXPECT_EQ(r.write(8, 1), WC_IO_ORIGIN);
}

// A bio whose run was planned as cached stays cached (WC_BIO_PLANNED): it
// waited for a free block mid-run, the cleaner message came meanwhile,
// and its retry with the same wc_bio caches the rest of the run.
TEST(Regress, APlannedRunIsCachedAfterTheCleanerMessage)
{
	PmemRig r(64 * 1024);
	r.open();
	Cache &c = *r.cache;
	const uint64_t n = c.n_blocks();
	ASSERT_GE(n, 4u);
	for (uint64_t i = 0; i + 1 < n; i++)
		ASSERT_EQ(r.write(100 + i, 1), WC_IO_DONE);
	auto d = r.data(7, 3);
	TestBio b(7 * r.step, 3, r.bs, d.data(), wc::test::even_layout(3 * r.bs, 512));
	Call k = wc::test::call_write(c, b);
	ASSERT_EQ(k.r, WC_IO_NOSPACE);
	EXPECT_EQ(k.served, 1u) << "the last free block took the first block of the bio";
	EXPECT_EQ(k.cursor, "");
	EXPECT_TRUE(b.bio().flags & WC_BIO_PLANNED);
	c.set_cleaner();
	c.discard(100 * r.step, (100 + n) * r.step);
	k = wc::test::call_write(c, b);
	ASSERT_EQ(k.r, WC_IO_DONE);
	EXPECT_EQ(k.served, 3u);
	EXPECT_EQ(k.cursor, "");
	for (uint64_t i = 7; i < 10; i++) {
		Block cb = c.map().find(i * r.step);
		ASSERT_NE(cb, kNoBlock) << "block " << i << " of the planned run went uncached";
		EXPECT_EQ(r.data_id(cb), 7u);
	}
	EXPECT_EQ(r.write(20, 1), WC_IO_ORIGIN) << "a new bio follows the cleaner";
	r.expect_invariants();
}

// Defect 7: scans over a large cache give the CPU up now and then, never
// with the core's lock held.
TEST(Regress, LargeScansRescheduleWithoutTheLock)
{
	PmemRig r(64ull << 20, 512);	// ~120k blocks of 512 bytes
	r.params.autocommit_blocks = 1u << 30;
	r.open();
	const uint64_t n = r.cache->n_blocks();
	ASSERT_GT(n, 100000u);
	const uint64_t used = 60000;
	long before = wc_test_resched_calls();
	for (uint64_t b = 0; b < used; b++)
		ASSERT_EQ(r.write(b, b), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	long after_commit = wc_test_resched_calls();
	EXPECT_GE(after_commit - before, static_cast<long>(used / 4096));
	ASSERT_TRUE(r.cache->load().ok());	// the resume scan
	long after_load = wc_test_resched_calls();
	EXPECT_GE(after_load - after_commit, static_cast<long>(n / 4096));
	r.cache->discard(0, n * r.step);	// by sector
	long after_discard = wc_test_resched_calls();
	EXPECT_GE(after_discard - after_load, static_cast<long>(n / 4096));
	EXPECT_EQ(r.cache->free_blocks(), n);
	for (uint64_t b = 0; b < 100; b++)
		ASSERT_EQ(r.write(b * 7, b), WC_IO_DONE);
	r.cache->discard(0, ~0ull >> 10);	// past the cache's size: by position
	EXPECT_EQ(r.cache->free_blocks(), n);
	EXPECT_EQ(wc_test_resched_under_lock(), 0);
	r.expect_invariants();
}

// Defect 8: the uncommitted count is upstream's: a block superseded before
// its commit (two writers racing on one sector) no longer counts; a
// discarded one still does, as in upstream (t-pmem-edge checks it against
// stock); a commit clears it.
TEST(Regress, UncommittedCountIsUpstreams)
{
	PmemRig r;
	r.open();
	for (uint64_t b = 0; b < 4; b++)
		ASSERT_EQ(r.write(b, b), WC_IO_DONE);
	EXPECT_EQ(r.cache->uncommitted_blocks(), 4u);
	r.cache->discard(0, 2 * r.step);
	EXPECT_EQ(r.cache->uncommitted_blocks(), 4u);
	ASSERT_TRUE(r.cache->commit().ok());
	EXPECT_EQ(r.cache->uncommitted_blocks(), 0u);

	// A second writer of block 9 publishes while the first is copying;
	// the first then supersedes it: one sector, one uncommitted block.
	r.pmem.hook_ctx = &r;
	r.pmem.during_copy = [](void *ctx) {
		auto *rig = static_cast<PmemRig *>(ctx);
		EXPECT_EQ(rig->write(9, 91), WC_IO_DONE);
	};
	ASSERT_EQ(r.write(9, 90), WC_IO_DONE);
	EXPECT_EQ(r.cache->uncommitted_blocks(), 1u);
	r.expect_invariants();
}

// Defect 8: upstream's errno for a device with no room for one block, and
// its "<msg>: <errno>" texts.
TEST(Regress, UpstreamErrnoAndTexts)
{
	SimSsd ssd(64);
	Cache c;
	CacheParams params;
	Status s = c.open_ssd(params, ssd, 4096);
	ASSERT_FALSE(s.ok());
	EXPECT_EQ(s.error().code, -WC_ENOSPC);
	EXPECT_STREQ(s.error().message, "Invalid device size");

	SimSsd big((1 << 20) / 512);
	Cache d;
	ASSERT_TRUE(d.open_ssd(params, big, 1 << 20).ok());
	ASSERT_TRUE(d.load().ok());
	wc_test_log_take();
	big.fail_reads(true);
	ASSERT_TRUE(d.load().ok());
	auto log = wc_test_log_take();
	ASSERT_EQ(log.size(), 1u);
	EXPECT_EQ(log[0], "unable to read metadata: -5");
}

// In the error state a cleaner-mode write fails like any other (upstream
// checks the error first); it is not sent around to the origin.
TEST(Regress, CleanerWriteInTheErrorStateFails)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(2, 3), WC_IO_DONE);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	r.cache->writeback_done(run, false, 10);
	wc_test_log_take();
	r.cache->set_cleaner();
	auto d = r.data(1, 2);
	Call k = wc::test::write_once(*r.cache, 5 * r.step, 2, d.data());
	EXPECT_EQ(k.r, WC_IO_ERROR);
	EXPECT_EQ(k.served, 0u);
	EXPECT_EQ(r.write(6, 1, WC_BIO_FUA), WC_IO_ERROR);
}

// Found by the model checker (SSD seed 0xae833854d772eb18): a free
// marker whose flush failed under one table is read back by the next as
// free; reusing that block before the marker is durable let a crash pair
// the old committed entry with new data. A resume makes what it read
// durable first.
TEST(Regress, SsdResumeMakesWhatItReadDurable)
{
	SimSsd ssd((1 << 20) / 512);
	CacheParams params;
	{
		Cache a;
		ASSERT_TRUE(a.open_ssd(params, ssd, 1 << 20).ok());
		ASSERT_TRUE(a.load().ok());
		ASSERT_EQ(a.ssd_map_write(0, 1, false).target, SsdTarget::kCache);
		ASSERT_TRUE(a.commit().ok());
		WritebackRun run;
		ASSERT_TRUE(a.writeback_next(&run, true));
		ssd.fail_next_flush();
		a.writeback_done(run, true);	// the free marker's flush fails
		EXPECT_TRUE(a.has_error());
	}
	wc_test_log_take();
	const size_t meta = 4096;
	ASSERT_NE(0, std::memcmp(ssd.durable(), ssd.current(), meta))
	    << "the free marker should not be durable yet";
	Cache b;
	ASSERT_TRUE(b.open_ssd(params, ssd, 1 << 20).ok());
	ASSERT_TRUE(b.load().ok());
	EXPECT_FALSE(b.has_error());
	EXPECT_EQ(b.free_blocks(), b.n_blocks());
	EXPECT_EQ(0, std::memcmp(ssd.durable(), ssd.current(), meta));
}
