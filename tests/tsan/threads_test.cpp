// SPDX-License-Identifier: GPL-2.0
// The core under real threads, built with ThreadSanitizer (tests/tsan,
// scripts/unit-tsan.sh), driven the way src/kernel/target.c drives it from
// its contexts:
//   - writers (map() of write bios: one Cache::write per bio, its blocks
//     split across data segments of varying lengths, more of them than
//     one wc_bio holds for long bios (refill), FUA sometimes, the commit
//     inside the call; SSD: ssd_map_write, the data write, a commit after
//     a FUA completion); on no free block they wait on a wait queue, as
//     on freelist_wait, and only the core's waker (set_waker) wakes them,
//     then call again with the same wc_bio;
//   - readers (one Cache::read per bio part, segments as the writers',
//     the origin for what it sends around; SSD: ssd_map_read and the
//     data read, waiting for data writes on an uncommitted hit);
//   - discards (pmem: map(); SSD: the flush worker), some over more
//     blocks than the cache has;
//   - the writeback work (writeback_next, throttled like writeback_jobs)
//     and its completions on another thread (the endio workqueue), in
//     random order, each landing its data on the origin just before
//     writeback_done;
//   - the autocommit timer / commit work, PREFLUSH bios (pmem:
//     Cache::flush), status and messages (fill_status, clear_stats, the
//     cleaner message).
// Two sizes: about 150 blocks with small bios and commits every 2 ms
// (contention), and about 6000 blocks with long bios and commits of
// thousands of blocks, so the core's long scans drop its lock
// (LockBreaker) while writers publish.
// The data I/O is done by the test, without test locks on the cache media,
// so TSan checks that the core orders every reuse of a block after every
// I/O that could touch it. Each writer owns a range of origin blocks and
// checks what it reads there (its own last write, from the cache or, once
// written back, from the origin); readers of a range written once check
// it too, and that a block gone from the cache never comes back. At the
// end: the cache reloads from media with the same contents, and a full
// writeback leaves the newest version of every block on the origin.
//
// Any TSan report ends the run (halt_on_error): zero races is the pass.
#include "bio_io.h"
#include "cache.h"
#include "mem_pmem.h"
#include "platform_user.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace wc;
using namespace std::chrono_literals;

// Also when the binary is run by hand: stop at the first report.
extern "C" const char *__tsan_default_options()
{
	return "halt_on_error=1:second_deadlock_stack=1:history_size=4";
}

namespace {

constexpr uint32_t kBs = 4096;
constexpr uint64_t kStep = kBs / 512;
constexpr size_t kWords = kBs / 8;
constexpr uint64_t kTorn = ~0ull;
constexpr uint64_t kWritebackJobs = 32;	// blocks in writeback at most
// A writer waiting for a free block longer than this missed its wake-up.
constexpr std::chrono::milliseconds kWakeTimeout{10000};

uint64_t sector_of(uint64_t idx) { return idx * kStep; }

// The segments of a pmem bio of k blocks (bio_io.h), varied by its first
// block: whole blocks, 512-byte pieces (more than WC_BIO_SEGS from three
// blocks on: refill), 1.5 KiB pieces that split blocks, or one segment.
std::vector<uint32_t> layout_for(uint64_t idx, uint64_t k)
{
	static const uint32_t kSeg[] = {kBs, 512, 1536, 0};
	return wc::test::even_layout(k * kBs, kSeg[idx % 4]);
}

// Block contents: every 8-byte word is the tag (origin block + 1) << 32 |
// version. 0 is "never written" (the origin starts zeroed).
uint64_t make_tag(uint64_t idx, uint32_t ver) { return (idx + 1) << 32 | ver; }

void fill(uint8_t *p, uint64_t tag)
{
	for (size_t i = 0; i < kWords; i++)
		std::memcpy(p + 8 * i, &tag, 8);
}

// The block's tag, or kTorn if its words differ.
uint64_t tag_of(const uint8_t *p)
{
	uint64_t t, w;
	std::memcpy(&t, p, 8);
	for (size_t i = 1; i < kWords; i++) {
		std::memcpy(&w, p + 8 * i, 8);
		if (w != t)
			return kTorn;
	}
	return t;
}

std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char *f, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, f);
	std::vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return buf;
}

// Failures seen by any thread, reported by the test's main thread.
class Failures {
public:
	void add(const std::string &s)
	{
		std::lock_guard<std::mutex> l(m_);
		if (msgs_.size() < 20)
			msgs_.push_back(s);
		n_++;
	}
	int count()
	{
		std::lock_guard<std::mutex> l(m_);
		return n_;
	}
	std::string text()
	{
		std::lock_guard<std::mutex> l(m_);
		std::string s;
		for (auto &m : msgs_)
			s += "  " + m + "\n";
		return s;
	}

private:
	std::mutex m_;
	std::vector<std::string> msgs_;
	int n_ = 0;
};

// A wait queue with wait_event()'s semantics: the generation is sampled
// before the condition is tested (prepare_to_wait), so a wake-up after
// the test is never lost; the condition is tested without the queue's
// mutex, as the kernel tests it outside the wait-queue lock.
class WaitQueue {
public:
	void wake()
	{
		{
			std::lock_guard<std::mutex> l(m_);
			gen_++;
		}
		cv_.notify_all();
	}
	static void wake_cb(void *ctx) { static_cast<WaitQueue *>(ctx)->wake(); }

	// True once cond() holds, tested at entry and after each wake-up;
	// false if `timeout` passes first (a wake-up that never came, even if
	// cond() holds by then).
	template <class Cond>
	bool wait(Cond cond, std::chrono::milliseconds timeout)
	{
		auto deadline = std::chrono::steady_clock::now() + timeout;
		for (;;) {
			uint64_t g;
			{
				std::lock_guard<std::mutex> l(m_);
				g = gen_;
			}
			if (cond())
				return true;
			std::unique_lock<std::mutex> l(m_);
			waiters_++;
			bool woken = cv_.wait_until(l, deadline, [&] { return gen_ != g; });
			waiters_--;
			if (!woken)
				return false;
		}
	}
	// Sleep until a wake-up or the timeout (a timer-driven worker).
	void sleep(std::chrono::microseconds timeout)
	{
		std::unique_lock<std::mutex> l(m_);
		uint64_t g = gen_;
		cv_.wait_for(l, timeout, [&] { return gen_ != g; });
	}
	int waiters()
	{
		std::lock_guard<std::mutex> l(m_);
		return waiters_;
	}

private:
	std::mutex m_;
	std::condition_variable cv_;
	uint64_t gen_ = 0;
	int waiters_ = 0;
};

using PlainPmem = wc::test::MemPmem;

// An SSD in memory. Metadata I/O is synchronous; the data bios are the
// test's (data_io_end() is their completion, as the shim's end_io). No
// lock covers the media: the core must order the I/O itself.
class ThreadDevice final : public CacheDevice {
public:
	explicit ThreadDevice(uint64_t bytes) : media_(bytes, 0) {}

	void submit_write(uint64_t sector, const void *buf, uint64_t sectors, bool) override
	{
		if (!in_range(sector, sectors)) {
			bad_io_++;
			return;
		}
		std::memcpy(media_.data() + sector * 512, buf, sectors * 512);
	}
	Status wait_writes() override { return Status::success(); }
	Status read(uint64_t sector, void *buf, uint64_t sectors) override
	{
		if (!in_range(sector, sectors))
			return Error{-WC_EIO, "read past the device"};
		std::memcpy(buf, media_.data() + sector * 512, sectors * 512);
		return Status::success();
	}
	Status flush() override { return Status::success(); }
	void wait_for_data_writes() override { wait_idle(true); }
	void wait_for_data_reads() override { wait_idle(false); }
	void data_io_begin(bool write) override
	{
		std::lock_guard<std::mutex> l(m_);
		inflight_[write]++;
	}

	// The data bio completed.
	void data_io_end(bool write)
	{
		{
			std::lock_guard<std::mutex> l(m_);
			inflight_[write]--;
		}
		cv_.notify_all();
	}
	void wait_idle(bool write)
	{
		std::unique_lock<std::mutex> l(m_);
		cv_.wait(l, [&] { return inflight_[write] == 0; });
	}
	bool in_range(uint64_t sector, uint64_t sectors) const
	{
		return sectors <= media_.size() / 512 && sector <= media_.size() / 512 - sectors;
	}
	uint8_t *at(uint64_t sector) { return media_.data() + sector * 512; }
	int bad_io() const { return bad_io_.load(); }

private:
	std::vector<uint8_t> media_;
	std::mutex m_;
	std::condition_variable cv_;
	int64_t inflight_[2] = {0, 0};
	std::atomic<int> bad_io_{0};
};

// The origin device. Its own lock stands for the device's per-sector
// atomicity; the test's checks see any stale or misordered write.
class Origin {
public:
	explicit Origin(uint64_t blocks) : data_(blocks * kBs, 0), blocks_(blocks) {}
	bool write(uint64_t idx, const uint8_t *src, uint64_t n)
	{
		if (idx > blocks_ || n > blocks_ - idx)
			return false;
		std::lock_guard<std::mutex> l(m_);
		std::memcpy(data_.data() + idx * kBs, src, n * kBs);
		return true;
	}
	bool read(uint64_t idx, uint8_t *dst, uint64_t n)
	{
		if (idx > blocks_ || n > blocks_ - idx)
			return false;
		std::lock_guard<std::mutex> l(m_);
		std::memcpy(dst, data_.data() + idx * kBs, n * kBs);
		return true;
	}
	uint64_t blocks() const { return blocks_; }

private:
	std::mutex m_;
	std::vector<uint8_t> data_;
	uint64_t blocks_;
};

enum class Mode { kPmem, kSsd };

// One threaded run: the cache, the ranges, the pace of I/O and commits.
struct Shape {
	const char *name;
	Mode mode;
	uint64_t area_bytes;	// the cache area (blocks: a bit less than /4 KiB)
	uint64_t range;		// blocks per owner's range (five ranges)
	uint64_t max_bio;	// blocks per bio
	unsigned fua_one_in;	// FUA writes: one in this many
	std::chrono::microseconds commit_period;	// the autocommit timer
	uint32_t autocommit_blocks;
	uint32_t high_watermark, low_watermark;
	bool cleaner_at_end;	// the cleaner message at 70% of the run
	bool expect_lock_breaks;	// long scans drop the core's lock
};

// What a range's owner knows about each of its blocks.
struct Range {
	uint64_t lo = 0, n = 0;
	std::vector<uint64_t> want;	// last tag written (0: never)
	std::vector<uint8_t> tainted;	// discarded since the last write
	void init(uint64_t l, uint64_t count)
	{
		lo = l;
		n = count;
		want.assign(count, 0);
		tainted.assign(count, 0);
	}
};

// What a read of block idx may return: the last tag written; after a
// discard (until the next write) a miss may return whatever the origin
// holds for this block, but never another block's data. A hit is always
// the last write (only a block under writeback survives a discard).
std::string judge(uint64_t idx, uint64_t want, bool tainted, bool hit, uint64_t got)
{
	if (got == kTorn)
		return fmt("block %lu: torn data (%s)", idx, hit ? "cache" : "origin");
	if (hit || !tainted) {
		if (got != want)
			return fmt("block %lu: %s gave tag %#lx, last written %#lx", idx,
				   hit ? "the cache" : "the origin", got, want);
		return "";
	}
	if (got != 0 && (got >> 32) != idx + 1)
		return fmt("block %lu: the origin holds another block's data (%#lx)", idx, got);
	return "";
}

struct Counters {
	std::atomic<uint64_t> writes{0}, fua{0}, reads{0}, hits{0}, misses{0}, discards{0},
		nospace_waits{0}, runs{0}, run_blocks{0}, commits{0}, max_queue{0},
		out_of_order{0}, refills{0}, flushes{0};
};

// The target: a cache on pmem or SSD, the origin, and the workers the
// shim runs (writeback, its completions, the commit timer).
class Stack {
public:
	Stack(Mode mode, uint64_t area_bytes, uint64_t origin_blocks, const CacheParams &p,
	      uint64_t max_bio = 4, std::chrono::microseconds commit_period = 2ms)
		: mode_(mode), bytes_(area_bytes), params_(p), origin_(origin_blocks),
		  max_bio_(max_bio), commit_period_(commit_period)
	{
		if (mode == Mode::kPmem)
			mem_.assign(area_bytes, 0);
		else
			dev_ = std::make_unique<ThreadDevice>(area_bytes);
	}

	// Open (format on first use) and load, as the constructor and a
	// resume do; the waker wakes the writers waiting for free blocks.
	Status open()
	{
		cache_.reset();
		cache_ = std::make_unique<Cache>();
		Status s = mode_ == Mode::kSsd ?
			cache_->open_ssd(params_, *dev_, bytes_) :
			cache_->open(params_, pmem_, CacheArea{mem_.data(), mem_.size()});
		if (!s.ok())
			return s;
		cache_->set_waker(&WaitQueue::wake_cb, &freelist_);
		return cache_->load();
	}

	Cache &cache() { return *cache_; }
	Origin &origin() { return origin_; }
	WaitQueue &freelist() { return freelist_; }
	Counters &counters() { return ctr_; }
	ThreadDevice *device() { return dev_.get(); }
	Failures &failures() { return fails_; }
	bool stopping() const { return stop_.load(); }
	uint64_t max_bio() const { return max_bio_; }

	// Where block b's data is.
	uint8_t *block_ptr(Block b)
	{
		if (mode_ == Mode::kSsd)
			return dev_->at(cache_->ssd_data_sector(b));
		return const_cast<uint8_t *>(cache_->block_data(b));
	}

	// --- the shim's map() ---

	// A write bio of k blocks from origin block idx; data holds k blocks.
	bool write_bio(uint64_t idx, uint64_t k, const uint8_t *data, bool fua)
	{
		bool ok = mode_ == Mode::kSsd ? write_bio_ssd(idx, k, data, fua) :
						write_bio_pmem(idx, k, data, fua);
		if (ok && cache_->writeback_wanted())
			kick_writeback();
		ctr_.writes++;
		if (fua)
			ctr_.fua++;
		return ok;
	}

	// A read bio: buf gets k blocks, hit[i] says block i came from the
	// cache.
	bool read_bio(uint64_t idx, uint64_t k, uint8_t *buf, bool *hit)
	{
		bool ok = mode_ == Mode::kSsd ? read_bio_ssd(idx, k, buf, hit) :
						read_bio_run(idx, k, buf, hit);
		ctr_.reads++;
		for (uint64_t i = 0; ok && i < k; i++)
			(hit[i] ? ctr_.hits : ctr_.misses)++;
		return ok;
	}

	// Two reads of a bio, without data: if the first sends its leading
	// blocks to the origin and nobody else writes them, so must the second
	// (at least as many).
	std::string probe_around(uint64_t idx, uint64_t k)
	{
		uint64_t a1 = 0, a2 = 0;
		if (!around_of(idx, k, &a1) || !a1)
			return "";
		if (!around_of(idx, k, &a2) || a2 < a1)
			return fmt("read of %lu+%lu: %lu blocks around, then %lu", idx, k,
				   (unsigned long)a1, (unsigned long)a2);
		return "";
	}

	// A discard bio (pmem: map(); SSD: the flush worker).
	void discard(uint64_t idx, uint64_t k)
	{
		cache_->discard(sector_of(idx), sector_of(idx + k));
		ctr_.discards++;
	}

	// An empty PREFLUSH bio: pmem, Cache::flush() (commits what is
	// uncommitted); SSD, the shim counts it and the flush worker commits.
	void flush_bio()
	{
		if (mode_ == Mode::kSsd) {
			cache_->count_flush();
			commit("flush bio");
			return;
		}
		Status s = cache_->flush();
		if (!s.ok())
			fails_.add(fmt("flush bio: %s", s.error().message));
		ctr_.flushes++;
	}

	// A commit that must succeed (flush bio, FUA completion, timer).
	void commit(const char *who)
	{
		Status s = cache_->commit();
		if (!s.ok())
			fails_.add(fmt("%s: commit failed: %s", who, s.error().message));
		ctr_.commits++;
	}

	// --- the workers ---

	void kick_writeback() { wb_kick_.wake(); }
	void kick_commit() { commit_kick_.wake(); }

	// The writeback work: runs while the watermarks (or max_age) ask,
	// or for everything (the flush message, sometimes), throttled.
	void writeback_worker()
	{
		std::mt19937_64 rng(77);
		while (!wb_stop_.load()) {
			wb_kick_.sleep(2ms);	// kicked, or the max_age timer
			bool all = rng() % 16 == 0;
			if (!all && !cache_->writeback_wanted())
				continue;
			// A full writeback goes round again while blocks are left
			// (ones skipped while an older version was in flight);
			// here at most 4 rounds, as writers never stop.
			for (int round = 0; round < 4 && !wb_stop_.load(); round++) {
				if (!writeback_pass(all))
					return;
				if (!all || !cache_->writeback_pending())
					break;
			}
		}
	}

	// One pass of the writeback work; false on a failure.
	bool writeback_pass(bool all)
	{
		while (!cache_->has_error() && !wb_stop_.load()) {
			WritebackRun run;
			if (!cache_->writeback_next(&run, all))
				break;
			if (!check_run(run))
				return false;
			queue_run(run);
			if (throttled() &&
			    !wb_wait_.wait([&] { return !throttled() || wb_stop_.load(); },
					   kWakeTimeout)) {
				fails_.add("writeback: throttled, no completion came");
				return false;
			}
		}
		// The flush message: wait until every run has completed.
		if (all && !wb_wait_.wait([&] { return !cache_->writeback_blocks() ||
							  wb_stop_.load(); },
				       kWakeTimeout)) {
			fails_.add("writeback: a full writeback never drained");
			return false;
		}
		return true;
	}

	// The endio workqueue: completes queued runs in random order; each
	// run's data lands on the origin just before writeback_done().
	void completion_worker()
	{
		std::mt19937_64 rng(78);
		std::vector<uint8_t> buf(WritebackRun::kMaxBlocks * kBs);
		uint64_t last_seq = 0;
		for (;;) {
			Queued q;
			{
				std::unique_lock<std::mutex> l(q_m_);
				q_cv_.wait(l, [&] { return !queue_.empty() || comp_stop_; });
				if (queue_.empty())
					return;
				if (queue_.size() > ctr_.max_queue.load())
					ctr_.max_queue = queue_.size();
				size_t i = rng() % queue_.size();
				q = queue_[i];
				queue_[i] = queue_.back();
				queue_.pop_back();
			}
			if (q.seq < last_seq)
				ctr_.out_of_order++;
			last_seq = q.seq;
			complete_run(q.run, buf.data());
			if (rng() % 4 == 0)
				std::this_thread::sleep_for(100us);	// let runs pile up
		}
	}

	// The commit timer (and commit work queued by the SSD map).
	void commit_worker()
	{
		while (!stopping()) {
			commit_kick_.sleep(commit_period_);
			commit("timer");
		}
	}

	// dmsetup status and messages.
	void status_worker(bool cleaner_at_end, std::chrono::steady_clock::time_point cleaner_at,
			   unsigned flush_one_in)
	{
		std::mt19937_64 rng(79);
		Cache &c = *cache_;
		const uint64_t n = c.n_blocks();
		bool cleaner = false;
		while (!stopping()) {
			wc_status st;
			c.fill_status(&st);
			if (st.n_blocks != n || st.free_blocks > n ||
			    st.writeback_blocks > n - st.free_blocks)
				fails_.add(fmt("status: %lu blocks, %lu free, %lu in writeback",
					       (unsigned long)st.n_blocks, (unsigned long)st.free_blocks,
					       (unsigned long)st.writeback_blocks));
			(void)c.writeback_wanted();
			(void)c.writeback_pending();
			if (c.free_blocks() > n || c.writeback_blocks() > n)
				fails_.add("status: counters out of range");
			if (rng() % 64 == 0)
				c.clear_stats();
			if (rng() % flush_one_in == 0)	// a PREFLUSH bio
				flush_bio();
			if (cleaner_at_end && !cleaner &&
			    std::chrono::steady_clock::now() >= cleaner_at) {
				c.set_cleaner();	// the "cleaner" message
				kick_writeback();
				cleaner = true;
			}
			std::this_thread::sleep_for(500us);
		}
	}

	void stop_io() { stop_ = true; commit_kick_.wake(); }
	void stop_writeback()
	{
		wb_stop_ = true;
		wb_kick_.wake();
		wb_wait_.wake();
	}
	void stop_completions()
	{
		{
			std::lock_guard<std::mutex> l(q_m_);
			comp_stop_ = true;
		}
		q_cv_.notify_all();
	}

	// Single-threaded: write back everything, completing each run at once.
	void writeback_all_now()
	{
		std::vector<uint8_t> buf(WritebackRun::kMaxBlocks * kBs);
		WritebackRun run;
		do {
			while (cache_->writeback_next(&run, true)) {
				if (!check_run(run))
					return;
				complete_run(run, buf.data());
			}
		} while (!cache_->has_error() && cache_->writeback_pending());
	}

private:
	struct Queued {
		WritebackRun run;
		uint64_t seq;
	};

	bool throttled() { return cache_->writeback_blocks() >= kWritebackJobs; }

	bool check_run(const WritebackRun &run)
	{
		const uint64_t n = cache_->n_blocks();
		bool ok = run.count >= 1 && run.count <= WritebackRun::kMaxBlocks &&
			  run.sector % kStep == 0 && run.sector / kStep <= origin_.blocks() &&
			  run.count <= origin_.blocks() - run.sector / kStep;
		for (uint32_t i = 0; ok && i < run.count; i++) {
			ok = run.blocks[i] < n;
			if (ok && mode_ == Mode::kSsd)
				ok = run.blocks[i] == run.blocks[0] + i;	// one copy
		}
		if (!ok)
			fails_.add(fmt("writeback run: sector %lu, %u blocks, first %u",
				       (unsigned long)run.sector, run.count, run.blocks[0]));
		return ok;
	}

	void queue_run(const WritebackRun &run)
	{
		{
			std::lock_guard<std::mutex> l(q_m_);
			queue_.push_back(Queued{run, ++q_seq_});
		}
		q_cv_.notify_all();
	}

	// The bio (pmem) or kcopyd job (SSD) of one run: read the cache
	// blocks, check they hold the run's origin blocks, land them on the
	// origin, and tell the core.
	void complete_run(const WritebackRun &run, uint8_t *buf)
	{
		const uint64_t idx = run.sector / kStep;
		for (uint32_t i = 0; i < run.count; i++) {
			const uint8_t *src = mode_ == Mode::kSsd ? block_ptr(run.blocks[0]) + i * kBs :
								    block_ptr(run.blocks[i]);
			std::memcpy(buf + i * kBs, src, kBs);
			uint64_t t = tag_of(buf + i * kBs);
			if (t == kTorn || (t >> 32) != idx + i + 1)
				fails_.add(fmt("writeback of block %lu: cache block %u holds %#lx",
					       (unsigned long)(idx + i), run.blocks[i], t));
		}
		origin_.write(idx, buf, run.count);
		cache_->writeback_done(run, true);
		ctr_.runs++;
		ctr_.run_blocks += run.count;
		wb_wait_.wake();
		// Blocks skipped while this run was in flight may go now.
		if (cache_->writeback_wanted())
			kick_writeback();
	}

	// Wait on freelist_wait for a free block (or the error), as the shim.
	bool wait_for_space()
	{
		ctr_.nospace_waits++;
		kick_writeback();
		if (freelist_.wait([&] { return cache_->free_blocks() > 0 || cache_->has_error(); },
				   kWakeTimeout))
			return true;
		fails_.add("writer: no wake-up for a free block in 10 s");
		return false;
	}

	// wc_map_write(): one call per bio; NOSPACE waits on freelist_wait
	// and calls again with the same wc_bio; what the cleaner sends
	// around goes to the origin, and dm resubmits the rest.
	bool write_bio_pmem(uint64_t idx, uint64_t k, const uint8_t *data, bool fua)
	{
		wc::test::MapHooks hooks;
		hooks.origin = [&](uint64_t off, uint64_t n) {
			origin_.write(idx + off, data + off * kBs, n);
		};
		hooks.nospace = [&] { return wait_for_space(); };
		wc::test::BioResult res =
			wc::test::map_write(*cache_, sector_of(idx), k, data, layout_for(idx, k),
					    fua ? WC_BIO_FUA : 0, hooks);
		ctr_.refills += res.refills;
		if (!res.error.empty()) {
			fails_.add(fmt("write of %lu+%lu: %s", (unsigned long)idx, (unsigned long)k,
				       res.error.c_str()));
			return false;
		}
		if (!res.ok) {
			// (A wait for space that timed out is reported already.)
			if (cache_->has_error())
				fails_.add(fmt("write of %lu+%lu: the error state", (unsigned long)idx,
					       (unsigned long)k));
			return false;
		}
		// The commit is inside the call (seq_count() moves; other
		// threads' commits may move it too, so only its absence says
		// anything). The periodic commit worker stands for the timer
		// res.arm_timer would arm.
		if (fua && res.cached && !res.committed)
			fails_.add(fmt("FUA write of %lu+%lu did not commit", (unsigned long)idx,
				       (unsigned long)k));
		return true;
	}

	bool write_bio_ssd(uint64_t idx, uint64_t k, const uint8_t *data, bool fua)
	{
		Cache &c = *cache_;
		for (uint64_t done = 0; done < k;) {
			SsdMapping m = c.ssd_map_write(sector_of(idx + done), k - done, false);
			if (m.target == SsdTarget::kNoSpace) {
				if (!wait_for_space())
					return false;
				continue;
			}
			if (m.target == SsdTarget::kError || m.blocks == 0 || m.blocks > k - done) {
				fails_.add(fmt("ssd_map_write(%lu, %lu): target %d, %lu blocks",
					       idx + done, k - done, (int)m.target,
					       (unsigned long)m.blocks));
				if (m.target == SsdTarget::kCache)
					dev_->data_io_end(true);
				return false;
			}
			if (m.target == SsdTarget::kCache) {
				uint64_t s = c.ssd_data_sector(m.block);
				if (!dev_->in_range(s, m.blocks * kStep))
					fails_.add(fmt("ssd_map_write: block %u past the device", m.block));
				else
					std::memcpy(dev_->at(s), data + done * kBs, m.blocks * kBs);
				dev_->data_io_end(true);
				if (m.commit_now)
					kick_commit();	// the commit work
			} else {
				origin_.write(idx + done, data + done * kBs, m.blocks);
			}
			done += m.blocks;
		}
		if (fua)
			commit("FUA completion");	// the flush worker, after end_io
		return true;
	}

	// A read bio's first part, its data dropped: *around = blocks it
	// sends to the origin (0: a cache hit). False on a failure.
	bool around_of(uint64_t idx, uint64_t k, uint64_t *around)
	{
		std::vector<uint8_t> buf(k * kBs);
		std::vector<uint8_t> hit(k);
		Cache &c = *cache_;
		if (mode_ == Mode::kSsd) {
			SsdMapping m = c.ssd_map_read(sector_of(idx), k);
			if (m.target == SsdTarget::kCache)
				dev_->data_io_end(false);
			*around = m.target == SsdTarget::kOrigin ? m.blocks : 0;
			return m.target == SsdTarget::kCache || m.target == SsdTarget::kOrigin;
		}
		wc::test::Call call = wc::test::read_once(c, sector_of(idx), k, buf.data(), 512);
		*around = call.r == WC_IO_ORIGIN ? call.out.run : 0;
		return call.r != WC_IO_ERROR && (call.r != WC_IO_ORIGIN || call.out.run <= k);
	}

	// wc_map_read(): one call per part of the bio (dm resubmits the
	// rest), the origin for what the core sends around.
	bool read_bio_run(uint64_t idx, uint64_t k, uint8_t *buf, bool *hit)
	{
		wc::test::MapHooks hooks;
		hooks.origin = [&](uint64_t off, uint64_t n) {
			origin_.read(idx + off, buf + off * kBs, n);
		};
		std::vector<bool> h;
		wc::test::BioResult res = wc::test::map_read(*cache_, sector_of(idx), k, buf,
							     layout_for(idx + 1, k), hooks, &h);
		ctr_.refills += res.refills;
		if (!res.ok) {
			fails_.add(fmt("read of %lu+%lu: %s", (unsigned long)idx, (unsigned long)k,
				       res.error.empty() ? "failed" : res.error.c_str()));
			return false;
		}
		for (uint64_t i = 0; i < k; i++)
			hit[i] = h[i];
		return true;
	}

	bool read_bio_ssd(uint64_t idx, uint64_t k, uint8_t *buf, bool *hit)
	{
		Cache &c = *cache_;
		for (uint64_t done = 0; done < k;) {
			SsdMapping m = c.ssd_map_read(sector_of(idx + done), k - done);
			bool cached = m.target == SsdTarget::kCache;
			if ((!cached && m.target != SsdTarget::kOrigin) || m.blocks == 0 ||
			    m.blocks > k - done) {
				fails_.add(fmt("ssd_map_read(%lu, %lu): target %d, %lu blocks",
					       idx + done, k - done, (int)m.target,
					       (unsigned long)m.blocks));
				if (cached)
					dev_->data_io_end(false);
				return false;
			}
			if (cached) {
				// A block still being written must not be read half-done.
				if (m.uncommitted)
					dev_->wait_idle(true);
				uint64_t s = c.ssd_data_sector(m.block);
				if (!dev_->in_range(s, m.blocks * kStep))
					fails_.add(fmt("ssd_map_read: block %u past the device", m.block));
				else
					std::memcpy(buf + done * kBs, dev_->at(s), m.blocks * kBs);
				dev_->data_io_end(false);
			} else {
				origin_.read(idx + done, buf + done * kBs, m.blocks);
			}
			for (uint64_t i = 0; i < m.blocks; i++)
				hit[done + i] = cached;
			done += m.blocks;
		}
		return true;
	}

	Mode mode_;
	uint64_t bytes_;
	CacheParams params_;
	std::vector<uint8_t> mem_;
	PlainPmem pmem_;
	std::unique_ptr<ThreadDevice> dev_;
	Origin origin_;
	uint64_t max_bio_;
	std::chrono::microseconds commit_period_;
	std::unique_ptr<Cache> cache_;
	Failures fails_;
	Counters ctr_;

	WaitQueue freelist_;	// freelist_wait
	WaitQueue wb_wait_;	// writeback_wait
	WaitQueue wb_kick_;	// queue_work(writeback_work)
	WaitQueue commit_kick_;	// queue_work(commit_work)
	std::atomic<bool> stop_{false}, wb_stop_{false};

	std::mutex q_m_;
	std::condition_variable q_cv_;
	std::vector<Queued> queue_;
	uint64_t q_seq_ = 0;
	bool comp_stop_ = false;
};

// A thread that owns range r: writes bios (FUA sometimes), reads them
// back, checks that what a read sends around stays uncached, and
// (discards) discards some, then often writes them again at once.
void owner(Stack &st, Range &r, unsigned seed, bool discards, unsigned fua_one_in)
{
	std::mt19937_64 rng(seed);
	Failures &f = st.failures();
	const uint64_t max_bio = st.max_bio();
	std::vector<uint8_t> buf(max_bio * kBs);
	std::unique_ptr<bool[]> hit(new bool[max_bio]);
	uint32_t ver = 0;
	auto write = [&](uint64_t off, uint64_t k) {
		++ver;
		for (uint64_t i = 0; i < k; i++)
			fill(buf.data() + i * kBs, make_tag(r.lo + off + i, ver));
		if (!st.write_bio(r.lo + off, k, buf.data(), rng() % fua_one_in == 0))
			return false;
		for (uint64_t i = 0; i < k; i++) {
			r.want[off + i] = make_tag(r.lo + off + i, ver);
			r.tainted[off + i] = 0;
		}
		return true;
	};
	auto check_read = [&](uint64_t off, uint64_t k) {
		if (!st.read_bio(r.lo + off, k, buf.data(), hit.get()))
			return false;
		for (uint64_t i = 0; i < k; i++) {
			std::string e = judge(r.lo + off + i, r.want[off + i], r.tainted[off + i],
					      hit[i], tag_of(buf.data() + i * kBs));
			if (!e.empty()) {
				f.add("owner: " + e);
				return false;
			}
		}
		return true;
	};
	while (!st.stopping()) {
		unsigned op = rng() % 16;
		uint64_t off = rng() % r.n;
		uint64_t k = 1 + rng() % max_bio;
		if (off + k > r.n)
			k = r.n - off;
		if (op < 8) {
			if (!write(off, k))
				return;
		} else if (op < 13) {
			if (!check_read(off, k))
				return;
		} else if (op < 15 && discards) {
			if (rng() % 4 == 0) {
				// Past the end of the range (the last one), over more
				// blocks than the cache has: the scan of every block.
				uint64_t all = st.cache().n_blocks() + 1;
				st.cache().discard(sector_of(r.lo + off), sector_of(r.lo + off + all));
				k = r.n - off;
			} else {
				st.discard(r.lo + off, k);
			}
			for (uint64_t i = 0; i < k; i++)
				r.tainted[off + i] = 1;
			// A write right after the discard, while an older version
			// may still be in writeback.
			if (rng() % 2 && !write(off, k < max_bio ? k : max_bio))
				return;
		} else {
			// Nothing enters the cache here but our own writes: blocks
			// a read sends to the origin stay uncached.
			std::string e = st.probe_around(r.lo + off, k);
			if (!e.empty()) {
				f.add("owner: " + e);
				return;
			}
		}
	}
}

// A reader of a range written once before the run: every read returns
// that data, and a block that left the cache never comes back.
void static_reader(Stack &st, const Range &r, unsigned seed)
{
	std::mt19937_64 rng(seed);
	Failures &f = st.failures();
	const uint64_t max_bio = st.max_bio();
	std::vector<uint8_t> buf(max_bio * kBs);
	std::vector<uint8_t> gone(r.n, 0);
	std::unique_ptr<bool[]> hit(new bool[max_bio]);
	while (!st.stopping()) {
		uint64_t off = rng() % r.n;
		uint64_t k = 1 + rng() % max_bio;
		if (off + k > r.n)
			k = r.n - off;
		if (!st.read_bio(r.lo + off, k, buf.data(), hit.get()))
			return;
		for (uint64_t i = 0; i < k; i++) {
			std::string e = judge(r.lo + off + i, r.want[off + i], false, hit[i],
					      tag_of(buf.data() + i * kBs));
			if (e.empty() && hit[i] && gone[off + i])
				e = fmt("block %lu: cached again after it was written back",
					r.lo + off + i);
			if (!e.empty()) {
				f.add("reader: " + e);
				return;
			}
			if (!hit[i])
				gone[off + i] = 1;
		}
	}
}

// Every block of r as one thread reads it now: the blocks that are not
// as they must be (reported unless `quiet`).
int verify(Stack &st, const Range &r, const char *when, bool quiet)
{
	std::vector<uint8_t> buf(kBs);
	int bad = 0;
	for (uint64_t i = 0; i < r.n; i++) {
		bool hit;
		bool ok = st.read_bio(r.lo + i, 1, buf.data(), &hit);
		std::string e = ok ? judge(r.lo + i, r.want[i], r.tainted[i], hit, tag_of(buf.data())) :
				     "read failed";
		if (!e.empty()) {
			bad++;
			if (!quiet)
				ADD_FAILURE() << when << ": " << e;
		}
	}
	return bad;
}

void expect_invariants(const Cache &c, const char *when)
{
	const char *why = "";
	EXPECT_TRUE(c.map().check_invariants(&why)) << when << ": " << why;
}

double seconds_per_mode()
{
	const char *s = std::getenv("WC_TSAN_SECONDS");
	double v = s ? std::atof(s) : 0;
	return v > 0 ? v : 2.0;
}

// Five ranges of origin blocks, together more than the cache holds:
// three writers', one written once and read by two readers, and (last,
// so a discard may run past it) one with discards.
constexpr int kWriters = 3;

// A run of shape sh; with `seeded` (p carries a seeded defect) nothing is
// reported, and the returned count of failures must not be 0.
int run_stack(const Shape &sh, CacheParams p = {}, bool seeded = false)
{
	p.autocommit_blocks = sh.autocommit_blocks;
	p.high_watermark = sh.high_watermark;
	p.low_watermark = sh.low_watermark;
	if (sh.mode == Mode::kPmem)
		p.max_age_ms = 500;
	const uint64_t origin_blocks = (kWriters + 2) * sh.range;
	Stack st(sh.mode, sh.area_bytes, origin_blocks, p, sh.max_bio, sh.commit_period);
	if (!st.open().ok()) {
		ADD_FAILURE() << "open failed";
		return -1;
	}
	Cache &c = st.cache();
	EXPECT_LT(c.n_blocks(), origin_blocks);
	const long resched_before = wc_test_resched_calls();

	std::vector<Range> ranges(kWriters + 2);
	for (int i = 0; i < kWriters + 2; i++)
		ranges[i].init(i * sh.range, sh.range);
	Range &fixed = ranges[kWriters];	// written once, then only read
	Range &discarded = ranges[kWriters + 1];
	{
		std::vector<uint8_t> d(kBs);
		for (uint64_t i = 0; i < fixed.n; i++) {
			fixed.want[i] = make_tag(fixed.lo + i, 1);
			fill(d.data(), fixed.want[i]);
			EXPECT_TRUE(st.write_bio(fixed.lo + i, 1, d.data(), false));
		}
		EXPECT_TRUE(c.commit().ok());
	}

	const auto start = std::chrono::steady_clock::now();
	const auto length = std::chrono::duration<double>(seconds_per_mode());
	const auto cleaner_at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
						length * 0.7);
	std::thread completer([&] { st.completion_worker(); });
	std::thread writeback([&] { st.writeback_worker(); });
	std::vector<std::thread> io;
	io.emplace_back([&] { st.commit_worker(); });
	io.emplace_back([&] { st.status_worker(sh.cleaner_at_end, cleaner_at, 2 * sh.fua_one_in); });
	for (int i = 0; i < kWriters; i++)
		io.emplace_back([&, i] { owner(st, ranges[i], 100 + i, false, sh.fua_one_in); });
	io.emplace_back([&] { owner(st, discarded, 200, true, sh.fua_one_in); });
	for (int i = 0; i < 2; i++)
		io.emplace_back([&, i] { static_reader(st, fixed, 300 + i); });

	std::this_thread::sleep_for(length);
	st.stop_io();
	for (auto &t : io)
		t.join();
	st.stop_writeback();
	writeback.join();
	st.stop_completions();
	completer.join();

	Failures &f = st.failures();
	Counters &n = st.counters();
	const long lock_breaks = wc_test_resched_calls() - resched_before;
	std::printf("  %s: %lu blocks; %lu writes (%lu FUA), %lu reads (%lu blocks hit, %lu "
		    "missed), %lu discards, %lu commits; %lu waits for a free block; %lu "
		    "writeback runs (%lu blocks), up to %lu queued, %lu completed out of order; "
		    "the lock dropped in %ld long scans; %lu empty flushes, %lu segment refills\n",
		    sh.name, (unsigned long)c.n_blocks(), (unsigned long)n.writes.load(),
		    (unsigned long)n.fua.load(), (unsigned long)n.reads.load(),
		    (unsigned long)n.hits.load(), (unsigned long)n.misses.load(),
		    (unsigned long)n.discards.load(), (unsigned long)n.commits.load(),
		    (unsigned long)n.nospace_waits.load(), (unsigned long)n.runs.load(),
		    (unsigned long)n.run_blocks.load(), (unsigned long)n.max_queue.load(),
		    (unsigned long)n.out_of_order.load(), lock_breaks,
		    (unsigned long)n.flushes.load(), (unsigned long)n.refills.load());
	int bad = f.count();
	if (!seeded) {
		EXPECT_EQ(f.count(), 0) << f.text();
		EXPECT_FALSE(c.has_error()) << c.error_message();
		if (st.device()) {
			EXPECT_EQ(st.device()->bad_io(), 0);
		}
		// The run did what it is for.
		EXPECT_GT(n.hits.load(), 0u);
		EXPECT_GT(n.misses.load(), 0u);
		EXPECT_GT(n.runs.load(), 0u);
		EXPECT_GT(n.out_of_order.load(), 0u) << "completions never reordered";
		if (sh.mode == Mode::kPmem) {
			EXPECT_GT(n.refills.load(), 0u) << "no bio had more segments than a wc_bio";
		}
		if (sh.expect_lock_breaks) {
			EXPECT_GT(lock_breaks, 0) << "no scan was long enough to drop the lock";
		}
		EXPECT_EQ(wc_test_resched_under_lock(), 0) << "cond_resched with the core's lock held";
	}

	// Quiesced: what each owner last wrote, then the same after a reload
	// from media, then on the origin after a full writeback.
	EXPECT_TRUE(c.commit().ok());
	EXPECT_EQ(c.writeback_blocks(), 0u);
	for (auto &r : ranges)
		bad += verify(st, r, "after the run", seeded);
	expect_invariants(c, "after the run");
	if (!st.open().ok()) {
		ADD_FAILURE() << "reload failed";
		return -1;
	}
	Cache &c2 = st.cache();
	for (auto &r : ranges)
		bad += verify(st, r, "after a reload", seeded);
	expect_invariants(c2, "after a reload");
	st.writeback_all_now();
	EXPECT_TRUE(c2.commit().ok());
	EXPECT_EQ(c2.free_blocks(), c2.n_blocks());
	if (!seeded) {
		EXPECT_EQ(f.count(), 0) << f.text();
	}
	for (auto &r : ranges)
		bad += verify(st, r, "after a full writeback", seeded);	// all from the origin
	if (!seeded) {
		EXPECT_FALSE(c2.has_error());
	}
	return bad;
}

// About 150 blocks, small bios, a commit every 2 ms: contention.
constexpr Shape kSmall{"", Mode::kPmem, 640 << 10, 48, 4, 8, 2ms, 16, 50, 40, false, false};

Shape shape(Mode mode, bool cleaner, bool large)
{
	Shape s = kSmall;
	s.mode = mode;
	s.cleaner_at_end = cleaner;
	if (large) {
		// About 6000 blocks, long bios, commits of thousands of blocks,
		// discards over all of them: scans that drop the lock.
		s.area_bytes = 25 << 20;
		s.range = 2500;
		s.max_bio = 32;
		s.fua_one_in = 512;
		s.commit_period = 400ms;
		s.autocommit_blocks = 1 << 20;
		s.high_watermark = 90;
		s.low_watermark = 80;
		s.expect_lock_breaks = true;
	}
	return s;
}

} // namespace

TEST(Threads, Pmem)
{
	Shape s = shape(Mode::kPmem, false, false);
	s.name = "pmem";
	run_stack(s);
}
TEST(Threads, PmemThenCleaner)
{
	Shape s = shape(Mode::kPmem, true, false);
	s.name = "pmem, then cleaner";
	run_stack(s);
}
TEST(Threads, PmemLarge)
{
	Shape s = shape(Mode::kPmem, false, true);
	s.name = "pmem, large";
	run_stack(s);
}
// The checks can fail: with the seeded defect of writing a block back
// while an older version of it is still in flight, a completion order
// lands old data over new on the origin.
TEST(Threads, SeededWritebackOfAnInflightBlockIsCaught)
{
	Shape s = shape(Mode::kPmem, false, false);
	s.name = "pmem, seeded: writeback ignores in-flight";
	CacheParams p;
	p.test_writeback_ignores_inflight = true;
	EXPECT_GT(run_stack(s, p, true), 0) << "stale origin data went unnoticed";
}
TEST(Threads, Ssd)
{
	Shape s = shape(Mode::kSsd, false, false);
	s.name = "ssd";
	run_stack(s);
}
TEST(Threads, SsdThenCleaner)
{
	Shape s = shape(Mode::kSsd, true, false);
	s.name = "ssd, then cleaner";
	run_stack(s);
}
TEST(Threads, SsdLarge)
{
	Shape s = shape(Mode::kSsd, false, true);
	s.name = "ssd, large";
	run_stack(s);
}

namespace {

// A cache of a few blocks, all holding committed data.
struct Full {
	explicit Full(Mode mode, CacheParams p = {})
		: st(mode, 96 << 10, 64, p)
	{
		EXPECT_TRUE(st.open().ok());
		n = st.cache().n_blocks();
		std::vector<uint8_t> d(kBs);
		for (uint64_t i = 0; i < n; i++) {
			fill(d.data(), make_tag(i, 1));
			EXPECT_TRUE(st.write_bio(i, 1, d.data(), false));
		}
		EXPECT_TRUE(st.cache().commit().ok());
		EXPECT_EQ(st.cache().free_blocks(), 0u);
	}
	// Every block in writeback, the runs held (not completed).
	std::vector<WritebackRun> take_all_runs()
	{
		std::vector<WritebackRun> runs;
		WritebackRun r;
		while (st.cache().writeback_next(&r, true))
			runs.push_back(r);
		return runs;
	}
	// A writer of block `idx` that finds no free block and waits on the
	// free list as the shim does, with `timeout`; then writes again.
	struct Waiter {
		std::thread t;
		bool first_nospace = false, woken = false;
		int second = -1;	// the retry's result
	};
	void start_waiter(Waiter &w, uint64_t idx, std::chrono::milliseconds timeout)
	{
		w.t = std::thread([this, &w, idx, timeout] {
			Cache &c = st.cache();
			std::vector<uint8_t> d(kBs);
			fill(d.data(), make_tag(idx, 2));
			auto attempt = [&] {
				if (!c.is_ssd())
					return static_cast<int>(
						wc::test::write_block(c, sector_of(idx), d.data()));
				SsdMapping m = c.ssd_map_write(sector_of(idx), 1, false);
				if (m.target == SsdTarget::kCache)
					st.device()->data_io_end(true);
				return static_cast<int>(m.target);
			};
			int nospace = c.is_ssd() ? static_cast<int>(SsdTarget::kNoSpace) :
						   static_cast<int>(WC_IO_NOSPACE);
			w.first_nospace = attempt() == nospace;
			w.woken = st.freelist().wait(
				[&] { return c.free_blocks() > 0 || c.has_error(); }, timeout);
			w.second = attempt();
		});
		// Until it sleeps on the queue: a wake-up before that proves nothing.
		for (int i = 0; i < 5000 && st.freelist().waiters() == 0; i++)
			std::this_thread::sleep_for(1ms);
		EXPECT_EQ(st.freelist().waiters(), 1) << "the writer did not block";
	}
	Stack st;
	uint64_t n = 0;
};

} // namespace

// A discard frees blocks outside any writeback completion: the core's
// waker must wake the writer waiting for one.
TEST(WakeUp, DiscardWakesAWriterWaitingForABlock)
{
	Full full(Mode::kPmem);
	Full::Waiter w;
	full.start_waiter(w, full.n, kWakeTimeout);
	full.st.discard(0, 2);
	w.t.join();
	EXPECT_TRUE(w.first_nospace);
	EXPECT_TRUE(w.woken) << "no wake-up after the discard freed blocks";
	EXPECT_EQ(w.second, static_cast<int>(WC_IO_DONE));
	expect_invariants(full.st.cache(), "after the discard");
}

// The same with the seeded defect (wake only from writeback completion):
// the writer must stay asleep, or the test above could not fail.
TEST(WakeUp, SeededWakeOnlyOnWritebackIsCaught)
{
	CacheParams p;
	p.test_wake_only_on_writeback = true;
	Full full(Mode::kPmem, p);
	Full::Waiter w;
	full.start_waiter(w, full.n, 300ms);
	full.st.discard(0, 2);
	w.t.join();
	EXPECT_TRUE(w.first_nospace);
	EXPECT_FALSE(w.woken) << "woken although the waker was not called";
	EXPECT_EQ(w.second, static_cast<int>(WC_IO_DONE));
}

// Every block is in writeback; the first completion fails: the latched
// error must wake the writer, whose retry then fails.
TEST(WakeUp, LatchedErrorWakesAWriterWaitingForABlock)
{
	Full full(Mode::kPmem);
	auto runs = full.take_all_runs();
	ASSERT_FALSE(runs.empty());
	Full::Waiter w;
	full.start_waiter(w, full.n, kWakeTimeout);
	full.st.cache().writeback_done(runs[0], false);
	w.t.join();
	EXPECT_TRUE(w.first_nospace);
	EXPECT_TRUE(w.woken) << "no wake-up after the error was latched";
	EXPECT_EQ(w.second, static_cast<int>(WC_IO_ERROR));
	for (size_t i = 1; i < runs.size(); i++)
		full.st.cache().writeback_done(runs[i], false);
	EXPECT_EQ(full.st.cache().writeback_blocks(), 0u);
}

// SSD: a write to a block under writeback with no free block waits; a
// completed run frees blocks and the waker lets it go on.
TEST(WakeUp, SsdWritebackCompletionWakesAWriterWaitingForABlock)
{
	Full full(Mode::kSsd);
	auto runs = full.take_all_runs();
	ASSERT_FALSE(runs.empty());
	Full::Waiter w;
	full.start_waiter(w, 0, kWakeTimeout);
	full.st.cache().writeback_done(runs.back(), true);
	w.t.join();
	EXPECT_TRUE(w.first_nospace);
	EXPECT_TRUE(w.woken) << "no wake-up after a writeback completion freed blocks";
	EXPECT_EQ(w.second, static_cast<int>(SsdTarget::kCache));
	for (size_t i = 0; i + 1 < runs.size(); i++)
		full.st.cache().writeback_done(runs[i], true);
	expect_invariants(full.st.cache(), "after the writeback");
}

// The userspace platform locks are real: a plain counter under the core's
// Lock, and under the Gate held exclusive, adds up (and TSan sees the
// happens-before); two threads hold the Gate shared at once.
TEST(PlatformLocks, LockAndGateAreRealPthreadLocks)
{
	Lock lock;
	Gate gate;
	ASSERT_TRUE(lock.init());
	ASSERT_TRUE(gate.init());
	uint64_t under_lock = 0, under_gate = 0;
	constexpr int kThreads = 4, kIters = 20000;
	std::vector<std::thread> ts;
	for (int t = 0; t < kThreads; t++)
		ts.emplace_back([&] {
			for (int i = 0; i < kIters; i++) {
				{
					Guard g(lock);
					under_lock++;
				}
				if (i % 4 == 0) {
					ExclusiveGuard e(gate);
					under_gate++;
				} else {
					SharedGuard s(gate);
					uint64_t a = under_gate;
					EXPECT_EQ(a, under_gate);
				}
			}
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(under_lock, uint64_t(kThreads) * kIters);
	EXPECT_EQ(under_gate, uint64_t(kThreads) * kIters / 4);

	std::atomic<int> inside{0};
	auto both_inside = [&] {
		SharedGuard s(gate);
		inside++;
		for (int i = 0; i < 5000 && inside.load() < 2; i++)
			std::this_thread::sleep_for(1ms);
		return inside.load() == 2;
	};
	auto other = std::async(std::launch::async, both_inside);
	EXPECT_TRUE(both_inside()) << "the gate is not shared";
	EXPECT_TRUE(other.get());
}

// Run by scripts/unit-tsan.sh, which expects this to fail with a TSan
// report: the build really is instrumented and halts on a race.
TEST(TsanCanary, DISABLED_AnUnlockedCounterIsReported)
{
	uint64_t counter = 0;
	std::thread a([&] {
		for (int i = 0; i < 1000; i++)
			counter++;
	});
	for (int i = 0; i < 1000; i++)
		counter++;
	a.join();
	EXPECT_GT(counter, 0u);
}
