// SPDX-License-Identifier: GPL-2.0
// The cache core in SSD mode over the simulated SSD (sim/sim_ssd.h): open
// and format, where writes and reads go (in place, contiguous runs, full
// cache, cleaner), commits in upstream's order, FUA-style commits, load,
// writeback runs, discard, and a crash test of the whole stack: a random
// workload of writes, completions, commits, writebacks and discards, with
// a crash image taken at every device event and recovered by a fresh
// cache, which must return every durably acknowledged sector and nothing
// never written.
#include "cache.h"
#include "platform_user.h"
#include "sim/sim_ssd.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

using namespace wc;
using wc::sim::SimSsd;

namespace {

constexpr uint32_t kBs = 4096;
constexpr uint64_t kStep = kBs / 512;

// A cache device of `bytes` with an SSD-mode cache on it.
struct Rig {
	explicit Rig(uint64_t bytes = 1 << 20) : bytes(bytes), ssd(bytes / 512) {}
	uint64_t bytes;
	SimSsd ssd;
	CacheParams params;
	std::unique_ptr<Cache> cache;

	Status open()
	{
		cache = std::make_unique<Cache>();
		WC_TRY(cache->open_ssd(params, ssd, bytes));
		return cache->load();
	}
	std::string open_error()
	{
		Status s = open();
		return s.ok() ? "" : s.error().message;
	}
	uint64_t le64(uint64_t byte) const
	{
		uint64_t v;
		std::memcpy(&v, ssd.current() + byte, 8);
		return v;
	}
	// Map a write and play its data bio: `id` in every sector.
	SsdMapping write(uint64_t sector, uint64_t blocks, uint64_t id = 1)
	{
		SsdMapping m = cache->ssd_map_write(sector, blocks, false);
		if (m.target == SsdTarget::kCache) {
			std::vector<uint8_t> d(m.blocks * kBs);
			for (size_t i = 0; i < d.size(); i += 8)
				std::memcpy(&d[i], &id, 8);
			uint64_t io = ssd.submit_data(cache->ssd_data_sector(m.block), d.data(),
						      m.blocks * kStep);
			ssd.complete_data(io);
		}
		return m;
	}
	uint64_t read_id(uint64_t sector)
	{
		SsdMapping m = cache->ssd_map_read(sector, 1);
		if (m.target != SsdTarget::kCache)
			return 0;
		uint64_t v;
		std::memcpy(&v, ssd.current() + cache->ssd_data_sector(m.block) * 512, 8);
		return v;
	}
	void expect_invariants()
	{
		const char *why = "";
		EXPECT_TRUE(cache->map().check_invariants(&why)) << why;
	}
};

wc_status status(Cache &c)
{
	wc_status st;
	c.fill_status(&st);
	return st;
}

} // namespace

TEST(SsdCache, FormatsAZeroedDeviceAndValidatesLikePmem)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	uint64_t n = 0, off = 0;
	ASSERT_EQ(wc_layout_n_blocks(r.bytes, kBs, &n, &off), 0);
	EXPECT_EQ(r.cache->n_blocks(), n);
	EXPECT_EQ(r.le64(0), 0x0000000123489321ull);	// magic, version 1
	EXPECT_EQ(r.le64(16), n);
	EXPECT_EQ(r.cache->ssd_data_sector(0), off / 512);
	// Reopen: the superblock is read back, not formatted again.
	ASSERT_TRUE(r.open().ok());
	r.params.block_size = 512;
	EXPECT_EQ(r.open_error(), "Block size does not match superblock");
}

TEST(SsdCache, ReadErrorAtOpenAndTooSmallDevice)
{
	Rig r;
	r.ssd.fail_reads(true);
	EXPECT_EQ(r.open_error(), "Unable to read first block of metadata");
	Rig tiny(4096);
	EXPECT_EQ(tiny.open_error(), "Invalid device size");
}

TEST(SsdCache, NewWritesTakeContiguousRunsAndStopAtCachedSectors)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	SsdMapping a = r.write(10 * kStep, 1, 1);
	ASSERT_EQ(a.target, SsdTarget::kCache);
	EXPECT_EQ(a.blocks, 1u);
	// 8 blocks at sector 0: blocks 0..9 are uncached, so one run of 8
	// physically consecutive blocks.
	SsdMapping b = r.write(0, 8, 2);
	ASSERT_EQ(b.target, SsdTarget::kCache);
	EXPECT_EQ(b.blocks, 8u);
	EXPECT_EQ(b.block, a.block + 1);
	// A run over sector 10 stops before it (no second entry for it).
	SsdMapping c = r.write(8 * kStep, 4, 3);
	ASSERT_EQ(c.target, SsdTarget::kCache);
	EXPECT_EQ(c.blocks, 2u);
	wc_status st = status(*r.cache);
	EXPECT_EQ(st.writes, 11u);
	EXPECT_EQ(st.writes_allocate, 11u);
	EXPECT_EQ(st.free_blocks, r.cache->n_blocks() - 11);
	EXPECT_EQ(r.read_id(10 * kStep), 1u);
	EXPECT_EQ(r.read_id(3 * kStep), 2u);
	EXPECT_EQ(r.read_id(9 * kStep), 3u);
	r.expect_invariants();
}

TEST(SsdCache, OverwritesGoInPlaceAndCommittedOnesAreSyncedAtTheNextCommit)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	SsdMapping a = r.write(0, 4, 1);
	ASSERT_EQ(a.blocks, 4u);
	// Uncommitted: in place, all four.
	SsdMapping b = r.write(0, 4, 2);
	EXPECT_EQ(b.target, SsdTarget::kCache);
	EXPECT_EQ(b.block, a.block);
	EXPECT_EQ(b.blocks, 4u);
	EXPECT_EQ(status(*r.cache).write_hits_uncommitted, 1u);
	ASSERT_TRUE(r.cache->commit().ok());
	uint64_t seq = r.cache->seq_count();
	// Committed: still in place; the next commit only syncs the data
	// (wait for data writes, PREFLUSH) and writes no superblock.
	SsdMapping c = r.write(kStep, 2, 3);
	EXPECT_EQ(c.block, a.block + 1);
	EXPECT_EQ(c.blocks, 2u);
	EXPECT_EQ(status(*r.cache).write_hits_committed, 1u);
	r.ssd.clear_log();
	ASSERT_TRUE(r.cache->commit().ok());
	EXPECT_EQ(r.cache->seq_count(), seq);
	ASSERT_EQ(r.ssd.log().size(), 2u);
	EXPECT_EQ(r.ssd.log()[0].op, SimSsd::Op::WaitData);
	EXPECT_EQ(r.ssd.log()[1].op, SimSsd::Op::Flush);
	// Nothing pending: a commit does no I/O at all.
	r.ssd.clear_log();
	ASSERT_TRUE(r.cache->commit().ok());
	EXPECT_TRUE(r.ssd.log().empty());
	EXPECT_EQ(r.read_id(kStep), 3u);
	EXPECT_EQ(r.read_id(0), 2u);
}

TEST(SsdCache, CommitIsRegionsThenDataWaitThenFlushThenFuaSuperblock)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 1);
	r.ssd.clear_log();
	ASSERT_TRUE(r.cache->commit().ok());
	std::vector<SimSsd::Op> ops;
	for (auto &e : r.ssd.log())
		ops.push_back(e.op);
	using O = SimSsd::Op;
	std::vector<O> want = {O::Write, O::WaitWrites, O::WaitData, O::Flush, O::Write,
			       O::WaitWrites};
	EXPECT_EQ(ops, want);
	EXPECT_TRUE(r.ssd.log()[4].fua);
	EXPECT_EQ(r.ssd.log()[4].sector, 0u);
	EXPECT_EQ(r.ssd.log()[4].sectors, 8u);
	EXPECT_EQ(r.cache->seq_count(), 1u);
	EXPECT_EQ(r.le64(24), 1u);
}

TEST(SsdCache, TheBrokenOrderSwitchFlushesBeforeWaitingForData)
{
	Rig r;
	r.params.test_flush_before_data_wait = true;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 1);
	r.ssd.clear_log();
	ASSERT_TRUE(r.cache->commit().ok());
	ASSERT_GE(r.ssd.log().size(), 4u);
	EXPECT_EQ(r.ssd.log()[2].op, SimSsd::Op::Flush);
	EXPECT_EQ(r.ssd.log()[3].op, SimSsd::Op::WaitData);
}

TEST(SsdCache, AutocommitBlocksAsksForACommit)
{
	Rig r;
	r.params.autocommit_blocks = 4;
	ASSERT_TRUE(r.open().ok());
	SsdMapping a = r.write(0, 3);
	EXPECT_FALSE(a.commit_now);
	EXPECT_TRUE(a.arm_timer);
	SsdMapping b = r.write(3 * kStep, 1);
	EXPECT_TRUE(b.commit_now);
	EXPECT_FALSE(b.arm_timer);
	EXPECT_EQ(r.cache->uncommitted_blocks(), 0u);
}

TEST(SsdCache, FullCacheSendsNewWritesToTheOriginUpToTheNextCachedBlock)
{
	Rig r(64 * 1024);
	ASSERT_TRUE(r.open().ok());
	uint64_t n = r.cache->n_blocks();
	ASSERT_GE(n, 4u);
	// Fill every block with sectors 100.. so sector 100+n-1 is cached.
	for (uint64_t i = 0; i < n; i++)
		ASSERT_EQ(r.write((100 + i) * kStep, 1).target, SsdTarget::kCache);
	SsdMapping m = r.write(90 * kStep, 20);
	EXPECT_EQ(m.target, SsdTarget::kOrigin);
	EXPECT_EQ(m.blocks, 10u);	// stops at sector 100
	EXPECT_EQ(status(*r.cache).writes_around, 10u);
	// A cached, uncommitted block is still overwritten in place.
	EXPECT_EQ(r.write(100 * kStep, 1).target, SsdTarget::kCache);
	// A committed block under writeback needs a new block: no space.
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	SsdMapping w = r.cache->ssd_map_write(run.sector, 1, false);
	EXPECT_EQ(w.target, SsdTarget::kNoSpace);
	EXPECT_EQ(status(*r.cache).writes_blocked_on_freelist, 1u);
}

TEST(SsdCache, CleanerAndMetadataOnlySendMissesAround)
{
	Rig r;
	r.params.metadata_only = true;
	ASSERT_TRUE(r.open().ok());
	EXPECT_EQ(r.cache->ssd_map_write(0, 2, false).target, SsdTarget::kOrigin);
	EXPECT_EQ(r.cache->ssd_map_write(0, 2, true).target, SsdTarget::kCache);
	r.cache->set_cleaner();
	EXPECT_EQ(r.cache->ssd_map_write(64, 1, true).target, SsdTarget::kOrigin);
	// Cached blocks keep being updated in the cache.
	EXPECT_EQ(r.cache->ssd_map_write(0, 1, false).target, SsdTarget::kCache);
}

TEST(SsdCache, ReadsCoverRunsOfCachedBlocksAndMissesStopAtTheNextOne)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(4 * kStep, 3, 7);
	SsdMapping miss = r.cache->ssd_map_read(0, 16);
	EXPECT_EQ(miss.target, SsdTarget::kOrigin);
	EXPECT_EQ(miss.blocks, 4u);
	SsdMapping hit = r.cache->ssd_map_read(4 * kStep, 16);
	EXPECT_EQ(hit.target, SsdTarget::kCache);
	EXPECT_EQ(hit.blocks, 3u);
	EXPECT_TRUE(hit.uncommitted);
	ASSERT_TRUE(r.cache->commit().ok());
	EXPECT_FALSE(r.cache->ssd_map_read(5 * kStep, 1).uncommitted);
	wc_status st = status(*r.cache);
	EXPECT_EQ(st.reads, 4u + 3u + 1u);
	EXPECT_EQ(st.read_hits, 4u);
}

TEST(SsdCache, LoadKeepsCommittedAndDropsUncommittedEntries)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 2, 1);
	ASSERT_TRUE(r.cache->commit().ok());
	r.write(8 * kStep, 1, 2);	// never committed
	// Reopen at once, as after a crash.
	ASSERT_TRUE(r.open().ok());
	EXPECT_EQ(r.read_id(0), 1u);
	EXPECT_EQ(r.read_id(kStep), 1u);
	EXPECT_EQ(r.read_id(8 * kStep), 0u);
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 2);
	r.expect_invariants();
}

TEST(SsdCache, LoadReadErrorDropsEverythingAndLatchesTheError)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 2);
	ASSERT_TRUE(r.cache->commit().ok());
	r.ssd.fail_reads(true);
	ASSERT_TRUE(r.cache->load().ok());
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_STREQ(r.cache->error_message(), "unable to read metadata");
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks());
	EXPECT_EQ(r.cache->ssd_map_write(0, 1, false).target, SsdTarget::kError);
	auto log = wc_test_log_take();
	ASSERT_FALSE(log.empty());
}

TEST(SsdCache, WritebackRunsAreSectorAndBlockContiguous)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 4);			// blocks b..b+3
	r.write(100 * kStep, 1);	// block b+4
	r.write(4 * kStep, 2);		// blocks b+5, b+6: sector-adjacent to
					// the first run but not block-adjacent
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	EXPECT_EQ(run.sector, 0u);
	EXPECT_EQ(run.count, 4u);
	for (uint32_t i = 1; i < run.count; i++)
		EXPECT_EQ(run.blocks[i], run.blocks[0] + i);
	r.cache->writeback_done(run, true);
	EXPECT_EQ(r.read_id(0), 0u);
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 3);
	// The freed entries are durable free markers.
	ASSERT_TRUE(r.open().ok());
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 3);
}

TEST(SsdCache, CopyErrorLatchesAndKeepsTheBlocks)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 2);
	ASSERT_TRUE(r.cache->commit().ok());
	WritebackRun run;
	ASSERT_TRUE(r.cache->writeback_next(&run, true));
	r.cache->writeback_done(run, false);
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_STREQ(r.cache->error_message(), "copy error");
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 2);
	EXPECT_EQ(r.read_id(0), 1u);	// reads go on after an error
	wc_test_log_take();
}

// SSD: a failed kcopyd job is "copy error" whatever its status, as
// upstream; a failed origin flush before the frees says so.
TEST(SsdCache, WritebackErrorLogsUpstreamsText)
{
	for (int status : {10, -5}) {
		Rig r;
		ASSERT_TRUE(r.open().ok());
		r.write(0, 1);
		ASSERT_TRUE(r.cache->commit().ok());
		WritebackRun run;
		ASSERT_TRUE(r.cache->writeback_next(&run, true));
		wc_test_log_take();
		r.cache->writeback_done(run, false, status);
		EXPECT_TRUE(r.cache->has_error());
		auto log = wc_test_log_take();
		ASSERT_EQ(log.size(), 1u);
		EXPECT_EQ(log[0], status > 0 ? "copy error" : "error flushing metadata: -5");
	}
}

TEST(SsdCache, MetadataWriteErrorLatchesUpstreamsText)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 1);
	r.ssd.fail_write(0);
	EXPECT_FALSE(r.cache->commit().ok());
	EXPECT_TRUE(r.cache->has_error());
	EXPECT_STREQ(r.cache->error_message(), "error writing metadata");
	EXPECT_FALSE(r.cache->commit().ok());
	wc_test_log_take();
}

TEST(SsdCache, DiscardFreesDurablyAndCountsBlocks)
{
	Rig r;
	ASSERT_TRUE(r.open().ok());
	r.write(0, 8);
	ASSERT_TRUE(r.cache->commit().ok());
	r.cache->discard(2 * kStep, 6 * kStep);
	EXPECT_EQ(status(*r.cache).discards, 4u);
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 4);
	EXPECT_EQ(r.read_id(3 * kStep), 0u);
	ASSERT_TRUE(r.open().ok());
	EXPECT_EQ(status(*r.cache).free_blocks, r.cache->n_blocks() - 4);
	EXPECT_EQ(r.read_id(3 * kStep), 0u);
	EXPECT_EQ(r.read_id(7 * kStep), 1u);
}

TEST(SsdCache, RamPerBlockIncludingTheMirrorIsAtMost32Bytes)
{
	Rig r(64ull << 20);
	ASSERT_TRUE(r.open().ok());
	double per_block = double(r.cache->ram_bytes()) / double(r.cache->n_blocks());
	std::printf("SSD mode RAM per block: %.1f bytes (%llu blocks)\n", per_block,
		    (unsigned long long)r.cache->n_blocks());
	EXPECT_LE(per_block, 32.0);	// the goal; stock: 88
	EXPECT_GT(per_block, 16.0);	// the mirror alone is 16
}

// ---- crash test of the whole SSD stack ---------------------------------

namespace {

// A 512-byte sector's content: origin sector, version, then a pattern.
void fill(uint8_t *p, uint64_t sector, uint64_t version)
{
	uint64_t w[64];
	w[0] = sector;
	w[1] = version;
	for (int k = 2; k < 64; k++)
		w[k] = (sector * 0x9e3779b97f4a7c15ull) ^ (version << 20) ^ uint64_t(k);
	std::memcpy(p, w, 512);
}

// The version a sector holds: 0 if zero, ~0 if not a valid sector-s write.
uint64_t decode(const uint8_t *p, uint64_t sector)
{
	uint64_t w[64];
	std::memcpy(w, p, 512);
	bool zero = true;
	for (auto v : w)
		zero = zero && v == 0;
	if (zero)
		return 0;
	uint8_t want[512];
	fill(want, sector, w[1]);
	if (w[0] != sector || std::memcmp(want, p, 512) != 0)
		return ~0ull;
	return w[1];
}

class StackCrash {
public:
	StackCrash(uint64_t seed, bool broken_order)
		: rng_(seed), bytes_(48 * kBs), ssd_(bytes_ / 512)
	{
		params_.autocommit_blocks = 1000;
		params_.test_flush_before_data_wait = broken_order;
		cache_ = std::make_unique<Cache>();
		EXPECT_TRUE(cache_->open_ssd(params_, ssd_, bytes_).ok());
		EXPECT_TRUE(cache_->load().ok());
		origin_.assign(kUniverse * kBs, 0);
		required_.assign(kUniverse * kStep, 0);
	}

	// Returns the violations found (stops after a few).
	std::vector<std::string> run(int ops)
	{
		ssd_.set_event_hook([this](const SimSsd::Event &) { crash(); });
		for (int i = 0; i < ops && violations_.size() < 3; i++)
			step();
		ssd_.set_event_hook(nullptr);
		return violations_;
	}
	uint64_t images() const { return images_; }

private:
	static constexpr uint64_t kUniverse = 64;	// origin blocks

	struct Pending {
		uint64_t io;
		std::vector<std::pair<uint64_t, uint64_t>> sectors;	// sector, version
	};

	uint64_t below(uint64_t n) { return rng_() % n; }

	void step()
	{
		switch (below(10)) {
		case 0: case 1: case 2: case 3:
			write();
			break;
		case 4: case 5:
			complete();
			break;
		case 6: case 7:
			flush();
			break;
		case 8:
			writeback();
			break;
		case 9:
			discard();
			break;
		}
	}

	void write()
	{
		uint64_t blk = below(kUniverse), n = 1 + below(4);
		if (blk + n > kUniverse)
			n = kUniverse - blk;
		// Like any sane submitter, never two overlapping writes in
		// flight (their order on the device would be undefined).
		for (size_t i = 0; i < pending_.size();) {
			uint64_t s = pending_[i].sectors.front().first;
			uint64_t e = pending_[i].sectors.back().first + 1;
			if (s < (blk + n) * kStep && e > blk * kStep)
				complete_at(i);
			else
				i++;
		}
		SsdMapping m = cache_->ssd_map_write(blk * kStep, n, false);
		if (m.target == SsdTarget::kNoSpace || m.target == SsdTarget::kError)
			return;
		Pending p;
		std::vector<uint8_t> d(m.blocks * kBs);
		for (uint64_t i = 0; i < m.blocks * kStep; i++) {
			uint64_t s = blk * kStep + i, v = ++version_;
			fill(&d[i * 512], s, v);
			p.sectors.push_back({s, v});
		}
		if (m.target == SsdTarget::kOrigin) {
			// Write-arounds: durable at once in this model.
			std::memcpy(&origin_[blk * kBs], d.data(), d.size());
			for (auto &sv : p.sectors)
				required_[sv.first] = sv.second;
			return;
		}
		p.io = ssd_.submit_data(cache_->ssd_data_sector(m.block), d.data(),
					m.blocks * kStep);
		pending_.push_back(std::move(p));
	}

	// The cache may have waited for data writes (commit, free,
	// writeback): those are completed now.
	void sync_pending()
	{
		auto live = ssd_.data_in_flight();
		std::set<uint64_t> in_flight(live.begin(), live.end());
		for (size_t i = 0; i < pending_.size();) {
			if (in_flight.count(pending_[i].io)) {
				i++;
				continue;
			}
			for (auto &sv : pending_[i].sectors)
				completed_.push_back(sv);
			pending_.erase(pending_.begin() + long(i));
		}
	}

	void complete()
	{
		if (pending_.empty())
			return;
		complete_at(below(pending_.size()));
	}

	void complete_at(size_t i)
	{
		ssd_.complete_data(pending_[i].io);
		for (auto &sv : pending_[i].sectors)
			completed_.push_back(sv);
		pending_.erase(pending_.begin() + long(i));
	}

	// A flush bio: everything completed before it is durable after it.
	void flush()
	{
		auto acked = completed_;
		completed_.clear();
		if (!cache_->commit().ok()) {
			violations_.push_back("commit failed");
			return;
		}
		sync_pending();
		for (auto &sv : acked)
			if (sv.second > required_[sv.first])
				required_[sv.first] = sv.second;
	}

	void writeback()
	{
		WritebackRun run;
		bool picked = cache_->writeback_next(&run, below(2));
		sync_pending();
		if (!picked)
			return;
		// The copy reads what the device returns now (completed data).
		const uint8_t *src = ssd_.current() + cache_->ssd_data_sector(run.blocks[0]) * 512;
		std::memcpy(&origin_[run.sector * 512], src, uint64_t(run.count) * kBs);
		cache_->writeback_done(run, true);
		sync_pending();
	}

	void discard()
	{
		uint64_t blk = below(kUniverse), n = 1 + below(3);
		if (blk + n > kUniverse)
			n = kUniverse - blk;
		uint64_t lo = blk * kStep, hi = (blk + n) * kStep;
		// From the moment it is issued, reads may fall through to older
		// origin data, and no later flush vouches for the discarded
		// writes.
		for (uint64_t s = lo; s < hi; s++)
			required_[s] = 0;
		cache_->discard(lo, hi);
		sync_pending();
		std::erase_if(completed_, [&](const std::pair<uint64_t, uint64_t> &sv) {
			return sv.first >= lo && sv.first < hi;
		});
	}

	// Recover a crash image in a fresh cache and read every sector.
	void crash()
	{
		if (violations_.size() >= 3)
			return;
		images_++;
		SimSsd::Pick pick = images_ % 3 == 0 ? SimSsd::Pick::Oldest : SimSsd::Pick::Random;
		ssd_.crash_image(pick, rng_, image_);
		SimSsd dev(bytes_ / 512);
		dev.load_image(image_);
		Cache c;
		if (!c.open_ssd(params_, dev, bytes_).ok() || !c.load().ok() || c.has_error()) {
			violations_.push_back("recovery failed");
			wc_test_log_take();
			return;
		}
		for (uint64_t blk = 0; blk < kUniverse; blk++) {
			SsdMapping m = c.ssd_map_read(blk * kStep, 1);
			const uint8_t *src = m.target == SsdTarget::kCache ?
						     dev.current() + c.ssd_data_sector(m.block) * 512 :
						     &origin_[blk * kBs];
			for (uint64_t j = 0; j < kStep; j++) {
				uint64_t s = blk * kStep + j, v = decode(src + j * 512, s);
				if (v == ~0ull || v > version_) {
					violations_.push_back("sector " + std::to_string(s) +
							      ": data never written to it");
					return;
				}
				if (v < required_[s]) {
					violations_.push_back(
						std::string(m.target == SsdTarget::kCache ? "cache" : "origin") +
						" image " + std::to_string(images_) +
						", sector " + std::to_string(s) + ": version " +
						std::to_string(v) + " older than the acknowledged " +
						std::to_string(required_[s]));
					return;
				}
			}
		}
	}

	std::mt19937_64 rng_;
	uint64_t bytes_;
	SimSsd ssd_;
	CacheParams params_;
	std::unique_ptr<Cache> cache_;
	std::vector<uint8_t> origin_;
	std::vector<uint64_t> required_;	// per sector: durable version
	std::vector<Pending> pending_;
	std::vector<std::pair<uint64_t, uint64_t>> completed_;
	std::vector<std::string> violations_;
	std::vector<uint8_t> image_;
	uint64_t version_ = 0;
	uint64_t images_ = 0;
};

} // namespace

TEST(SsdStackCrash, EveryDurableWriteSurvivesEveryCrashImage)
{
	uint64_t images = 0;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		StackCrash t(seed, false);
		auto v = t.run(700);
		images += t.images();
		ASSERT_TRUE(v.empty()) << "seed " << seed << ": " << v[0];
	}
	std::printf("SSD stack: %llu crash images recovered and checked\n",
		    (unsigned long long)images);
	EXPECT_GT(images, 10000u);
}

TEST(SsdStackCrash, FlushBeforeWaitingForDataIsCaught)
{
	size_t caught = 0;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		StackCrash t(seed, true);
		caught += !t.run(700).empty();
	}
	std::printf("broken order caught in %zu of 12 runs\n", caught);
	EXPECT_GE(caught, 3u);
	wc_test_log_take();
}
