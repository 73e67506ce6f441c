// SPDX-License-Identifier: GPL-2.0
// Regression tests for the defects of issue 12 that live in the core:
// writeback ordering (one write per origin sector in flight), writes that
// must not go around an in-flight older version, wake-ups for blocked
// writers, runs served whole (the 6.1 partial-bio rule), bounded work per
// lock hold, the uncommitted count, and upstream's error texts and codes.
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
	WriteResult write(uint64_t block, uint64_t id, bool force = false)
	{
		std::vector<uint8_t> d(bs);
		for (size_t i = 0; i < d.size(); i += 8)
			std::memcpy(&d[i], &id, 8);
		return cache->write_block(block * step, d.data(), false, force);
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
		ASSERT_EQ(r.write(5, 1), WriteResult::kCached);
		ASSERT_TRUE(r.cache->commit().ok());
		WritebackRun old_run;
		ASSERT_TRUE(r.cache->writeback_next(&old_run, true));
		ASSERT_TRUE(run_has(old_run, 5 * r.step, r.step));
		ASSERT_EQ(r.write(5, 2), WriteResult::kCached);
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
	ASSERT_EQ(r.write(11, 1), WriteResult::kCached);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun first;
	ASSERT_TRUE(r.cache->writeback_next(&first, true));
	ASSERT_EQ(first.count, 1u);
	for (uint64_t b = 10; b < 13; b++)
		ASSERT_EQ(r.write(b, 10 + b), WriteResult::kCached);
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
		ASSERT_EQ(r.write(3, 1), WriteResult::kCached);
		ASSERT_TRUE(r.cache->commit().ok());
		WritebackRun run;
		ASSERT_TRUE(r.cache->writeback_next(&run, true));
		ASSERT_EQ(r.write(3, 2), WriteResult::kCached);
		r.cache->discard(3 * r.step, 4 * r.step);
		r.cache->set_cleaner();
		WritePlan p = r.cache->write_plan(2 * r.step, 3, false);
		WriteResult w = r.write(3, 3);
		if (mutate) {
			EXPECT_EQ(w, WriteResult::kAround);
			continue;
		}
		// Block 2 goes around on its own; block 3 is cached.
		EXPECT_FALSE(p.cached);
		EXPECT_EQ(p.blocks, 1u);
		EXPECT_TRUE(r.cache->write_plan(3 * r.step, 2, false).cached);
		EXPECT_EQ(w, WriteResult::kCached);
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
	ASSERT_EQ(r.write(1, 1), WriteResult::kCached);
	ASSERT_TRUE(r.cache->commit().ok());
	ASSERT_EQ(r.write(1, 2), WriteResult::kCached);	// supersedes
	int before = r.wakes.count;
	ASSERT_TRUE(r.cache->commit().ok());	// frees the old version
	EXPECT_GT(r.wakes.count, before) << "commit freed a block silently";
	before = r.wakes.count;
	r.cache->discard(0, 8 * r.step);
	EXPECT_GT(r.wakes.count, before) << "discard freed a block silently";
	ASSERT_EQ(r.write(2, 3), WriteResult::kCached);
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
	ASSERT_EQ(r.write(1, 1), WriteResult::kCached);
	ASSERT_TRUE(r.cache->commit().ok());
	ASSERT_EQ(r.write(1, 2), WriteResult::kCached);
	ASSERT_TRUE(r.cache->commit().ok());
	r.cache->discard(0, 8 * r.step);
	EXPECT_EQ(r.wakes.count, 0);
}

// Defect 0 (core side): a read serves one run of hits, accepted before any
// copy; a miss reports the blocks up to the next cached one.
struct SinkLog {
	std::vector<std::string> calls;
	std::vector<uint8_t> buf;
	size_t at = 0;
	uint32_t bs = 4096;
	static void accept(void *ctx, uint64_t n)
	{
		static_cast<SinkLog *>(ctx)->calls.push_back("accept " + std::to_string(n));
	}
	static void *block(void *ctx)
	{
		auto *s = static_cast<SinkLog *>(ctx);
		s->calls.push_back("block");
		s->buf.resize(s->at + s->bs);
		return s->buf.data() + s->at;
	}
	static void done(void *ctx, int ok)
	{
		auto *s = static_cast<SinkLog *>(ctx);
		s->calls.push_back(ok ? "done" : "error");
		s->at += s->bs;
	}
	ReadSink sink() { return ReadSink{accept, block, done, this}; }
};

TEST(Regress, ReadServesOneRunAcceptedFirst)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(0, 100), WriteResult::kCached);
	ASSERT_EQ(r.write(2, 102), WriteResult::kCached);
	SinkLog log;
	uint64_t around;
	bool err;
	ASSERT_EQ(r.cache->read_run(0, 3, log.sink(), &around, &err), 1u);
	EXPECT_FALSE(err);
	EXPECT_EQ(log.calls, (std::vector<std::string>{"accept 1", "block", "done"}));
	uint64_t id;
	std::memcpy(&id, log.buf.data(), 8);
	EXPECT_EQ(id, 100u);
	SinkLog miss;
	EXPECT_EQ(r.cache->read_run(1 * r.step, 2, miss.sink(), &around, &err), 0u);
	EXPECT_EQ(around, 1u);
	EXPECT_TRUE(miss.calls.empty());
	EXPECT_EQ(r.cache->read_run(3 * r.step, 5, miss.sink(), &around, &err), 0u);
	EXPECT_EQ(around, 5u);
	wc_status st;
	r.cache->fill_status(&st);
	EXPECT_EQ(st.reads, 1u + 1u + 5u);
	EXPECT_EQ(st.read_hits, 1u);
}

// ...and the cleaner's write side splits the same way; without cleaner a
// write bio is cached whole.
TEST(Regress, WritePlanSplitsCachedAndUncachedRunsOnlyForCleaner)
{
	PmemRig r;
	r.open();
	ASSERT_EQ(r.write(0, 1), WriteResult::kCached);
	ASSERT_EQ(r.write(2, 1), WriteResult::kCached);
	WritePlan p = r.cache->write_plan(0, 3, false);
	EXPECT_TRUE(p.cached);
	EXPECT_EQ(p.blocks, 3u);
	r.cache->set_cleaner();
	p = r.cache->write_plan(0, 3, false);
	EXPECT_TRUE(p.cached);
	EXPECT_EQ(p.blocks, 1u);
	p = r.cache->write_plan(1 * r.step, 2, false);
	EXPECT_FALSE(p.cached);
	EXPECT_EQ(p.blocks, 1u);
	// A forced block of a cached run is cached even if the cleaner says
	// otherwise by now.
	EXPECT_EQ(r.write(7, 1, true), WriteResult::kCached);
	EXPECT_EQ(r.write(8, 1, false), WriteResult::kAround);
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
		ASSERT_EQ(r.write(b, b), WriteResult::kCached);
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
		ASSERT_EQ(r.write(b * 7, b), WriteResult::kCached);
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
		ASSERT_EQ(r.write(b, b), WriteResult::kCached);
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
		EXPECT_EQ(rig->write(9, 91), WriteResult::kCached);
	};
	ASSERT_EQ(r.write(9, 90), WriteResult::kCached);
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
	ASSERT_EQ(r.write(2, 3), WriteResult::kCached);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	r.cache->writeback_done(run, false, 10);
	wc_test_log_take();
	r.cache->set_cleaner();
	WritePlan p = r.cache->write_plan(5 * r.step, 1, false);
	ASSERT_TRUE(p.cached);
	EXPECT_EQ(r.write(5, 1, true), WriteResult::kError);
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
