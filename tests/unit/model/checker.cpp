// SPDX-License-Identifier: GPL-2.0
// The model checker (checker.h). One Checker is one run: its own random
// parameters, media, simulated origin, reference model and in-flight I/O,
// all driven from one seeded generator, single-threaded: "concurrency" is
// the interleaving of the operations the random stream picks (writers
// blocked on a full cache, data writes and origin writes in flight,
// completions in any order), as the kernel shim's threads would see it.
//
// The model, per origin block (the unit every bio is aligned to):
//   cur      the newest acknowledged version (version ids are global and
//            increasing; 0 is the origin's initial zeros);
//   weak/lo  after a discard or a failed write, reads may return any
//            version in [lo, max] of this block (the content is undefined
//            but must still be data written to this block);
//   durable  what a crash must keep (or newer): raised by every commit
//            that completes (to cur, i.e. writes acknowledged before it
//            began) and by FUA writes;
//   discarded  since a discard, a crash may show any version ever written
//            (until a write is durable again);
//   max      the newest version issued: nothing newer can appear.
// Every 512-byte unit of a block carries its origin sector and version in
// a pattern, so foreign, torn or stale data is recognised.
//
// pmem bios go to the core one call per bio (Cache::write / Cache::read,
// through bio_io.h's TestBio) with a random segment layout each: one
// segment, whole blocks, 512-byte pieces or random multiples of 512 bytes
// that split blocks anywhere, handed over WC_BIO_SEGS or fewer at a time
// (refill). Every block a write call serves is compared byte for byte
// with the bio's data in the cache block; every block a read call serves,
// with the cache block and (user reads) with the model's version.
#include "model/checker.h"

#include "bio_io.h"
#include "cache.h"
#include "platform_user.h"
#include "sim/sim_pmem.h"
#include "sim/sim_ssd.h"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace wc::model {

namespace {

using sim::SimPmem;
using sim::SimSsd;

constexpr uint64_t kUnit = 512;
constexpr uint64_t kBad = ~0ull;
constexpr uint8_t kCanary = 0xc5;	// read buffers, before the core copies
using wc::test::Call;
using wc::test::TestBio;

uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

// Word k of the 512-byte unit at origin sector `unit` holding version v.
uint64_t unit_word(uint64_t unit, uint64_t v, unsigned k)
{
	if (k == 0)
		return ~unit;
	if (k == 1)
		return v;
	return mix64(unit * 0x9e3779b97f4a7c15ull + v * 0xc2b2ae3d27d4eb4full + k);
}

void fill_unit(uint8_t *p, uint64_t unit, uint64_t v)
{
	if (v == 0) {
		std::memset(p, 0, kUnit);
		return;
	}
	uint64_t w[kUnit / 8];
	for (unsigned k = 0; k < kUnit / 8; k++)
		w[k] = unit_word(unit, v, k);
	std::memcpy(p, w, kUnit);
}

// The version a unit holds: 0 (zeros) or kBad when it is not exactly one
// write's data for this unit. `full` checks every word (crash images, where
// a torn write is possible); otherwise a sample (live reads).
uint64_t decode_unit(const uint8_t *p, uint64_t unit, bool full)
{
	uint64_t w[kUnit / 8];
	if (full) {
		std::memcpy(w, p, kUnit);
	} else {
		std::memcpy(w, p, 16);
		std::memcpy(&w[63], p + kUnit - 8, 8);
	}
	if (w[0] == 0 && w[1] == 0) {
		if (full) {
			for (unsigned k = 2; k < kUnit / 8; k++)
				if (w[k])
					return kBad;
		} else if (w[63]) {
			return kBad;
		}
		return 0;
	}
	if (w[0] != ~unit || w[1] == 0)
		return kBad;
	uint64_t v = w[1];
	if (full) {
		for (unsigned k = 2; k < kUnit / 8; k++)
			if (w[k] != unit_word(unit, v, k))
				return kBad;
	} else {
		if (w[63] != unit_word(unit, v, 63))
			return kBad;
		unsigned k = 2 + static_cast<unsigned>(v % 61);
		uint64_t x;
		std::memcpy(&x, p + 8 * k, 8);
		if (x != unit_word(unit, v, k))
			return kBad;
	}
	return v;
}

// What a unit that did not decode holds, for the report.
std::string describe_unit(const uint8_t *p)
{
	uint64_t w0, w1;
	std::memcpy(&w0, p, 8);
	std::memcpy(&w1, p + 8, 8);
	char buf[96];
	if (decode_unit(p, ~w0, true) != kBad)
		std::snprintf(buf, sizeof(buf), "a whole unit of sector %llu version %llu",
			      (unsigned long long)~w0, (unsigned long long)w1);
	else
		std::snprintf(buf, sizeof(buf), "a torn unit (words 0,1: %#llx %#llx)",
			      (unsigned long long)w0, (unsigned long long)w1);
	return buf;
}

// The pmem the cache sees: the simulator, plus injected machine checks
// (reads touching [off, off + len) fail while armed).
class FaultPmem final : public Pmem {
public:
	explicit FaultPmem(SimPmem &s) : s_(s) {}
	void memcpy(void *d, const void *src, size_t n) override { s_.memcpy(d, src, n); }
	void flush(void *d, size_t n) override { s_.flush(d, n); }
	void commit() override { s_.commit(); }
	void assign(uint64_t *d, uint64_t v) override { s_.assign(d, v); }
	bool read(void *d, const void *src, size_t n) override
	{
		uintptr_t a = reinterpret_cast<uintptr_t>(src) - reinterpret_cast<uintptr_t>(s_.base());
		if (bad_len_ && a < bad_off_ + bad_len_ && bad_off_ < a + n) {
			hits++;
			return false;
		}
		return s_.read(d, src, n);
	}
	const char *name() const override { return "model"; }

	void poison(size_t off, size_t len)
	{
		bad_off_ = off;
		bad_len_ = len;
	}
	void clear() { bad_len_ = 0; }
	bool armed() const { return bad_len_ != 0; }
	uint64_t hits = 0;

private:
	SimPmem &s_;
	size_t bad_off_ = 0, bad_len_ = 0;
};

// The cache device the cache sees: the SSD simulator, plus injected
// metadata write, flush and read errors, and a count of the data I/O the
// core announces (data_io_begin).
class FaultDevice final : public CacheDevice {
public:
	explicit FaultDevice(SimSsd &s) : s_(s) {}
	void submit_write(uint64_t sector, const void *buf, uint64_t sectors, bool fua) override
	{
		if (fail_write_in && --fail_write_in == 0)
			s_.fail_write(0);
		s_.submit_write(sector, buf, sectors, fua);
	}
	Status wait_writes() override { return s_.wait_writes(); }
	Status read(uint64_t sector, void *buf, uint64_t sectors) override
	{
		if (!fail_reads)
			return s_.read(sector, buf, sectors);
		s_.fail_reads(true);
		Status r = s_.read(sector, buf, sectors);
		s_.fail_reads(false);
		return r;
	}
	Status flush() override
	{
		if (fail_flush) {
			fail_flush = false;
			s_.fail_next_flush();
		}
		return s_.flush();
	}
	void wait_for_data_writes() override { s_.wait_for_data_writes(); }
	void data_io_begin(bool write) override { (write ? begun_writes : begun_reads)++; }

	void disarm()
	{
		fail_write_in = 0;
		fail_flush = false;
		fail_reads = false;
	}
	bool armed() const { return fail_write_in || fail_flush || fail_reads; }

	uint32_t fail_write_in = 0;	// the nth metadata write from now fails
	bool fail_flush = false;	// the next PREFLUSH fails
	bool fail_reads = false;	// metadata reads fail
	uint64_t begun_writes = 0, begun_reads = 0;

private:
	SimSsd &s_;
};

// The status counters (reads .. discards) as an array.
constexpr size_t kCounters = (sizeof(wc_status) - offsetof(wc_status, reads)) / 8;
void counters(const wc_status &st, uint64_t *out)
{
	std::memcpy(out, reinterpret_cast<const uint8_t *>(&st) + offsetof(wc_status, reads),
		    kCounters * 8);
}

struct Sec {
	uint64_t cur = 0;
	uint64_t lo = 0;
	bool weak = false;
	uint64_t durable = 0;
	bool discarded = false;
	uint64_t max = 0;
	uint32_t busy = 0;
	// Read back by a load that latched an error (its flush may have
	// failed): may sit only in the cache device's volatile cache, so a
	// crash may still lose it until the block is written again.
	bool unsure = false;
};

enum class BioKind : uint8_t { kWrite, kDiscard, kFlush };
enum class BioState : uint8_t { kMapping, kSleeping, kWoken, kIssued };

struct Bio {
	uint64_t id = 0;
	BioKind kind = BioKind::kWrite;
	uint64_t blk = 0, n = 0;	// origin blocks
	uint64_t ver0 = 0;		// block i gets version ver0 + i
	bool fua = false, meta = false;
	uint64_t next = 0;		// blocks mapped so far
	// pmem: the bio's data and segment layout, and the submission the
	// core holds (a NOSPACE retry calls again with the same wc_bio),
	// which starts at block tb_blk of the bio.
	std::vector<uint8_t> data;
	std::vector<uint32_t> layout;
	uint32_t fill_max = WC_BIO_SEGS;
	std::unique_ptr<TestBio> tb;
	uint64_t tb_blk = 0;
	uint32_t pending = 0;		// parts in flight
	uint32_t retries = 0;
	bool failed = false;
	BioState state = BioState::kMapping;
	uint64_t slept_at = 0;
};

// A write to the origin in flight: a write-around part of a bio, or a
// writeback run (with the data the cache handed out, snapshot at pick).
struct OriginWrite {
	uint64_t id = 0;
	uint64_t blk = 0, n = 0;
	std::vector<uint8_t> data;
	bool landed = false;
	bool fail = false;	// writeback error
	int status = 0;
	uint64_t bio = 0;	// write-around: its bio
	std::unique_ptr<WritebackRun> run;
	uint64_t picked_at = 0;
};

struct DataWrite {
	uint64_t io;
	uint64_t bio;
	Block block;
	uint64_t blocks;
};

enum class Queued : uint8_t { kFua, kFlush, kDiscard };
struct FlushItem {
	uint64_t bio;
	Queued what;
};

struct Capture {
	bool taken = false;
	std::vector<uint8_t> image;
	std::vector<uint8_t> origin;
};

class Checker {
public:
	explicit Checker(const RunOptions &opt) : opt_(opt), rng_(opt.seed)
	{
		if (const char *t = std::getenv("WC_MODEL_TRACE"))
			trace_max_ = std::max<size_t>(1, std::strtoull(t, nullptr, 0));
	}
	RunResult run();

private:
	// ---- randomness
	uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }
	bool chance(uint32_t per_mille) { return below(1000) < per_mille; }
	std::vector<uint32_t> random_layout(uint64_t bytes);
	uint32_t random_fill_max() { return below(2) ? WC_BIO_SEGS : static_cast<uint32_t>(1 + below(WC_BIO_SEGS)); }
	std::string describe_layout(const std::vector<uint32_t> &l) const;

	// ---- setup
	void setup();
	CacheParams random_params();
	bool open_cache(bool load_fault = false);
	std::string describe() const;

	// ---- geometry
	uint64_t sector_of(uint64_t blk) const { return blk * step_; }
	uint8_t *origin_block(uint64_t blk) { return &origin_[blk * bs_]; }
	void fill_block(uint8_t *p, uint64_t blk, uint64_t v) const
	{
		for (uint64_t j = 0; j < step_; j++)
			fill_unit(p + j * kUnit, blk * step_ + j, v);
	}
	uint64_t low_free() const
	{
		uint64_t n = cache_->n_blocks();
		if (cleaner_)
			return n;
		return (n * (100 - params_.low_watermark) + 50) / 100;
	}
	const uint8_t *ssd_block(Block b) const
	{
		return ssd_->current() + cache_->ssd_data_sector(b) * kUnit;
	}

	// ---- reporting
	void fail(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	void note(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	std::string render_trace() const;

	// ---- the model
	void promote_all();
	void ack_write(const Bio &b);
	void fail_write_bio(const Bio &b);
	bool check_live(uint64_t blk, const uint8_t *p, const char *where, bool full = false);

	// ---- after every core call / operation
	void after_core();
	void sync_data();
	void check_wakeups();
	void check_after_op();
	void check_accounting();
	uint64_t published_uncommitted() const;
	void verify_reads();

	// ---- bios
	bool pick_range(uint64_t max_n, uint64_t *blk, uint64_t *n);
	Bio &new_bio(BioKind kind, uint64_t blk, uint64_t n);
	void advance(Bio &b);
	void pmem_advance(Bio &b);
	bool check_written(const Bio &b, uint64_t from, uint64_t to);
	void ssd_advance(Bio &b);
	bool must_sleep(Bio &b);
	void submit_around(Bio &b, uint64_t off, uint64_t n);
	void maybe_finish(Bio &b);
	void finish(Bio &b);
	void data_done(const DataWrite &dw);
	template <class F>
	void read_blocks(uint64_t blk, uint64_t n, bool user, F &&check);
	template <class F>
	void pmem_read(uint64_t blk, uint64_t n, F &&check);
	static void waker(void *ctx) { static_cast<Checker *>(ctx)->on_wake(); }
	void on_wake();

	// ---- writeback
	bool throttled() const
	{
		return wb_jobs_ && cache_->writeback_blocks() >= wb_jobs_;
	}
	bool pick_one(bool all, bool *got);
	void submit_run(std::unique_ptr<WritebackRun> run);
	void land(size_t i);
	void done(size_t i);
	bool progress_writeback();
	void complete_all_writeback();
	void full_writeback();

	// ---- operations
	void op_write();
	void op_read();
	void op_discard();
	void op_flush();
	void op_commit();
	void op_complete_data();
	void op_flush_worker();
	void op_writeback();
	void op_land();
	void op_done();
	void op_retry();
	void op_crash(bool mid_op_capture);
	void op_suspend(bool reload);
	void op_msg_flush();
	void op_msg_cleaner();
	void op_clear_stats();
	void op_inject();
	void op_clock();
	bool commit_explicit();
	bool drain();
	void crash_now(Capture &c, const std::vector<Sec> &before);
	void rebaseline(const std::vector<Sec> &before, bool crashed);
	void capture(Capture &c);
	void arm_capture();
	void disarm_capture();
	bool recover_and_check(const std::vector<Sec> &before, std::vector<uint64_t> *seen);
	void final_check();
	void check_origin_equals_model(const char *when);

	RunOptions opt_;
	std::mt19937_64 rng_;
	RunResult res_;
	bool failed_ = false;
	uint64_t op_ = 0;

	// parameters
	Mode mode_ = Mode::kPmem;
	CacheParams params_;
	uint32_t bs_ = 512;
	uint64_t step_ = 1;
	uint64_t n_target_ = 0;
	uint64_t universe_ = 0;	// origin blocks
	uint64_t max_bio_ = 4;
	uint64_t wb_jobs_ = 0;
	uint64_t hot_ = 0;	// hot blocks at the start of the origin
	uint32_t p_hot_ = 0, p_fua_ = 0, p_meta_ = 0;
	sim::Model pmem_model_ = sim::Model::X86;
	double crash_bias_ = -1;

	// media and the cache
	std::unique_ptr<SimPmem> pmem_;
	std::unique_ptr<FaultPmem> fpmem_;
	std::unique_ptr<SimSsd> ssd_;
	std::unique_ptr<FaultDevice> fdev_;
	uint64_t area_bytes_ = 0;
	std::unique_ptr<Cache> cache_;
	uint64_t seq_seen_ = 0;
	bool error_seen_ = false;
	bool error_ok_ = false;		// an error was injected into this cache
	bool dropped_ = false;		// this cache lost its contents (load error)
	bool cleaner_ = false;
	bool flush_on_suspend_ = false;
	wc_status last_stats_ = {};

	// the origin and the model
	std::vector<uint8_t> origin_;
	std::vector<Sec> sec_;
	uint64_t next_ver_ = 1;

	// in flight
	std::map<uint64_t, Bio> bios_;
	uint64_t bio_ids_ = 0;
	uint32_t sleeping_ = 0;
	std::vector<OriginWrite> owrites_;
	uint64_t ow_ids_ = 0;
	std::vector<DataWrite> dwrites_;
	std::deque<FlushItem> flushq_;
	std::vector<uint8_t> wb_block_;	// per cache block: in a run in flight
	bool timer_armed_ = false;
	bool commit_work_ = false;
	bool wb_kick_ = false;
	uint32_t all_active_ = 0;
	bool inject_wb_fail_ = false;
	bool rebaseline_pending_ = false;
	bool counter_reset_ = false;	// SSD: commit_now restarted the counter
	bool no_load_faults_ = false;	// the final check's reloads

	// mid-operation crash capture
	uint64_t capture_seen_ = 0;
	Capture *capture_ = nullptr;

	// scratch
	std::vector<uint8_t> buf_;
	std::vector<uint8_t> read_buf_;

	// the last operations, for the report
	size_t trace_max_ = 40;	// WC_MODEL_TRACE
	std::vector<std::string> trace_;
	size_t trace_pos_ = 0;
	std::string cur_note_;
};

// ---------------------------------------------------------------- reporting

void Checker::fail(const char *fmt, ...)
{
	if (failed_)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	failed_ = true;
	res_.failed = true;
	res_.violation = buf;
	res_.failed_at = op_;
}

void Checker::note(const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char line[440];
	std::snprintf(line, sizeof(line), "%8llu %s", (unsigned long long)op_, buf);
	if (trace_.size() < trace_max_) {
		trace_.emplace_back(line);
	} else {
		trace_[trace_pos_] = line;
		trace_pos_ = (trace_pos_ + 1) % trace_max_;
	}
}

std::string Checker::render_trace() const
{
	std::string out;
	for (size_t i = 0; i < trace_.size(); i++) {
		out += trace_[(trace_pos_ + i) % trace_.size()];
		out += '\n';
	}
	return out;
}

std::string Checker::describe() const
{
	char buf[512];
	std::snprintf(buf, sizeof(buf),
		      "%s%s%s block_size=%u n_blocks=%llu origin_blocks=%llu max_bio=%llu "
		      "autocommit_blocks=%u watermarks=%u/%u cleaner=%d metadata_only=%d "
		      "max_age=%s writeback_jobs=%llu hot=%llu fua=%u%% meta=%u%%",
		      mode_name(mode_),
		      mode_ == Mode::kPmem ? (pmem_model_ == sim::Model::X86	  ? "/x86" :
					      pmem_model_ == sim::Model::Arm64 ? "/arm64" :
										 "/contract") :
					     "",
		      opt_.mutation == Mutation::kNone ?
			      "" :
			      (std::string(" mutation=") + mutation_name(opt_.mutation)).c_str(),
		      bs_, (unsigned long long)(cache_ ? cache_->n_blocks() : n_target_),
		      (unsigned long long)universe_, (unsigned long long)max_bio_,
		      params_.autocommit_blocks, params_.high_watermark, params_.low_watermark,
		      params_.cleaner, params_.metadata_only,
		      params_.max_age_ms == WC_MAX_AGE_UNSPECIFIED ? "-" : "1h",
		      (unsigned long long)wb_jobs_, (unsigned long long)hot_, p_fua_ / 10,
		      p_meta_ / 10);
	return buf;
}

// ---------------------------------------------------------------- setup

CacheParams Checker::random_params()
{
	CacheParams p;
	p.block_size = bs_;
	static const uint32_t kAutocommit[] = {1, 2, 3, 4, 8, 16, 64, 1u << 20};
	p.autocommit_blocks = kAutocommit[below(8)];
	p.high_watermark = static_cast<uint32_t>(below(101));
	p.low_watermark = static_cast<uint32_t>(below(p.high_watermark + 1));
	p.cleaner = below(12) == 0;
	p.metadata_only = below(4) == 0;
	p.max_age_ms = below(8) == 0 ? 3600u * 1000u : WC_MAX_AGE_UNSPECIFIED;
	p.test_writeback_ignores_inflight = opt_.mutation == Mutation::kDefect2;
	p.test_around_ignores_inflight = opt_.mutation == Mutation::kDefect3;
	p.test_wake_only_on_writeback = opt_.mutation == Mutation::kDefect4;
	p.test_skip_data_flush = opt_.mutation == Mutation::kSkipDataFlush;
	p.test_flush_before_data_wait = opt_.mutation == Mutation::kFlushBeforeDataWait;
	return p;
}

void Checker::setup()
{
	mode_ = opt_.mode;
	// Small blocks mostly: the simulators' cost is per byte.
	uint64_t r = below(100);
	bs_ = r < 80 ? 512 : r < 88 ? 1024 : 4096;
	step_ = bs_ / kUnit;
	n_target_ = below(25) == 0 ? 200 + below(120) : 4 + below(60);
	static const uint64_t kRatio[] = {1, 2, 2, 3, 4};
	universe_ = std::max<uint64_t>(4, below(6) == 0 ? n_target_ / 2 + 1 :
							    n_target_ * kRatio[below(5)]);
	// 40: bios longer than the core's batch (Cache::kBatch, 32 blocks),
	// often longer than the cache.
	static const uint64_t kBio[] = {1, 2, 3, 4, 8, 16, 40};
	max_bio_ = std::min<uint64_t>(kBio[below(7)], universe_);
	wb_jobs_ = below(3) == 0 ? 0 : 1 + below(n_target_);
	hot_ = 1 + below(std::max<uint64_t>(1, universe_ / 4));
	p_hot_ = static_cast<uint32_t>(below(700));
	p_fua_ = static_cast<uint32_t>(below(250));
	p_meta_ = static_cast<uint32_t>(below(1000));
	static const double kBias[] = {-1.0, 0.1, 0.5, 0.9};
	crash_bias_ = kBias[below(4)];
	params_ = random_params();
	cleaner_ = params_.cleaner;

	// An area that holds n_target_ blocks.
	uint64_t data_off = layout::data_offset(n_target_, bs_);
	area_bytes_ = data_off + n_target_ * bs_;
	if (mode_ == Mode::kPmem) {
		static const sim::Model kModels[] = {sim::Model::X86, sim::Model::Arm64,
						     sim::Model::Contract};
		pmem_model_ = kModels[below(3)];
		pmem_ = std::make_unique<SimPmem>(area_bytes_, pmem_model_);
		pmem_->set_random_bias(crash_bias_);
		fpmem_ = std::make_unique<FaultPmem>(*pmem_);
	} else {
		ssd_ = std::make_unique<SimSsd>(area_bytes_ / kUnit);
		ssd_->set_logging(false);
		ssd_->set_random_bias(crash_bias_);
		fdev_ = std::make_unique<FaultDevice>(*ssd_);
	}
	origin_.assign(universe_ * bs_, 0);
	sec_.assign(universe_, Sec{});
	buf_.resize(static_cast<size_t>(std::max<uint64_t>(max_bio_, 1)) * bs_);
	read_buf_.resize(static_cast<size_t>(universe_) * bs_);
}

bool Checker::open_cache(bool load_fault)
{
	cache_ = std::make_unique<Cache>();
	Status s = mode_ == Mode::kPmem ?
			   cache_->open(params_, *fpmem_, CacheArea{pmem_->base(), pmem_->size()}) :
			   cache_->open_ssd(params_, *fdev_, area_bytes_);
	if (!s.ok()) {
		fail("open failed: %s", s.error().message);
		return false;
	}
	cache_->set_waker(&Checker::waker, this);
	error_seen_ = false;
	cleaner_ = params_.cleaner;
	flush_on_suspend_ = params_.cleaner;	// as the constructor does
	if (load_fault) {
		// A metadata read error at this load (not at open).
		error_ok_ = true;
		if (mode_ == Mode::kSsd) {
			fdev_->fail_reads = true;
		} else {
			uint64_t line = 1 + below((64 + 16 * n_target_) / 64);
			fpmem_->poison(line * 64, 64);
		}
		note("inject: metadata read error at the resume");
	}
	s = cache_->load();
	if (load_fault) {
		if (fdev_)
			fdev_->fail_reads = false;
		else
			fpmem_->clear();
	}
	if (!s.ok()) {
		fail("load failed: %s", s.error().message);
		return false;
	}
	seq_seen_ = cache_->seq_count();
	counter_reset_ = false;
	dropped_ = cache_->has_error();
	after_core();
	wb_block_.assign(cache_->n_blocks(), 0);
	cache_->fill_status(&last_stats_);
	if (cache_->n_blocks() != n_target_)
		fail("the cache has %llu blocks, the area was made for %llu",
		     (unsigned long long)cache_->n_blocks(), (unsigned long long)n_target_);
	return !failed_;
}

// ---------------------------------------------------------------- the model

// A commit completed: every write acknowledged before it began is durable.
void Checker::promote_all()
{
	for (auto &s : sec_) {
		if (s.weak || s.unsure)
			continue;
		s.durable = s.cur;
		s.discarded = false;
	}
}

void Checker::ack_write(const Bio &b)
{
	for (uint64_t i = 0; i < b.n; i++) {
		Sec &s = sec_[b.blk + i];
		s.cur = b.ver0 + i;
		s.weak = false;
		s.unsure = false;
		s.lo = 0;
		if (b.fua) {
			s.durable = s.cur;
			s.discarded = false;
		}
	}
}

// A failed write leaves the old or the new data.
void Checker::fail_write_bio(const Bio &b)
{
	for (uint64_t i = 0; i < b.n; i++) {
		Sec &s = sec_[b.blk + i];
		if (!s.weak) {
			s.weak = true;
			s.lo = s.cur;
		}
	}
}

// A live read of origin block blk returned p (from the cache or origin).
// `full`: every byte of the block (otherwise a sample of each unit).
bool Checker::check_live(uint64_t blk, const uint8_t *p, const char *where, bool full)
{
	const Sec &s = sec_[blk];
	uint64_t v0 = 0;
	for (uint64_t j = 0; j < step_; j++) {
		uint64_t v = decode_unit(p + j * kUnit, blk * step_ + j, full);
		if (v == kBad) {
			fail("block %llu read from the %s holds data never written to it",
			     (unsigned long long)blk, where);
			return false;
		}
		if (j == 0)
			v0 = v;
		else if (v != v0 && !dropped_ && !s.weak) {
			fail("block %llu read from the %s mixes versions %llu and %llu",
			     (unsigned long long)blk, where, (unsigned long long)v0,
			     (unsigned long long)v);
			return false;
		}
		if (dropped_) {
			if (v > s.max) {
				fail("block %llu read version %llu from the %s, never issued",
				     (unsigned long long)blk, (unsigned long long)v, where);
				return false;
			}
			continue;
		}
		if (!s.weak && v != s.cur) {
			fail("block %llu read version %llu from the %s, the newest acknowledged "
			     "write is %llu",
			     (unsigned long long)blk, (unsigned long long)v, where,
			     (unsigned long long)s.cur);
			return false;
		}
		if (s.weak && (v < s.lo || v > s.max)) {
			fail("block %llu read version %llu from the %s, allowed [%llu, %llu]",
			     (unsigned long long)blk, (unsigned long long)v, where,
			     (unsigned long long)s.lo, (unsigned long long)s.max);
			return false;
		}
	}
	return true;
}

// ---------------------------------------------------------------- checks

void Checker::after_core()
{
	if (!cache_)
		return;
	uint64_t seq = cache_->seq_count();
	if (seq != seq_seen_) {
		if (seq < seq_seen_)
			fail("seq_count went back from %llu to %llu", (unsigned long long)seq_seen_,
			     (unsigned long long)seq);
		// Only a completed commit moves it (writeback_next commits too).
		promote_all();
		seq_seen_ = seq;
		counter_reset_ = false;
	}
	if (mode_ == Mode::kSsd)
		sync_data();
	if (cache_->has_error() && !error_seen_) {
		error_seen_ = true;
		res_.errors++;
		note("error latched: %s", cache_->error_message() ? cache_->error_message() : "?");
		if (!error_ok_)
			fail("an error latched that was not injected: %s",
			     cache_->error_message() ? cache_->error_message() : "?");
	}
}

// The cache may wait for data writes (commit, free, writeback): those
// that the SSD completed meanwhile are done.
void Checker::sync_data()
{
	if (dwrites_.empty())
		return;
	std::vector<uint64_t> live = ssd_->data_in_flight();
	if (live.size() == dwrites_.size())
		return;
	std::vector<DataWrite> finished;
	for (size_t i = 0; i < dwrites_.size();) {
		if (std::find(live.begin(), live.end(), dwrites_[i].io) != live.end()) {
			i++;
			continue;
		}
		finished.push_back(dwrites_[i]);
		dwrites_.erase(dwrites_.begin() + static_cast<ptrdiff_t>(i));
	}
	for (auto &dw : finished)
		data_done(dw);
}

// A writer that waits for a free block must have been woken once its
// wake condition holds, or it sleeps for ever (wait_event on freelist_wait).
void Checker::check_wakeups()
{
	if (!sleeping_ || failed_)
		return;
	uint64_t free = cache_->free_blocks();
	bool err = cache_->has_error();
	if (!free && !err)
		return;
	for (auto &[id, b] : bios_) {
		if (b.state != BioState::kSleeping)
			continue;
		fail("lost wake-up: the writer of blocks [%llu, %llu) has waited for a free block "
		     "since op %llu; now free_blocks() = %llu, has_error() = %d, and no wake-up came",
		     (unsigned long long)b.blk, (unsigned long long)(b.blk + b.n),
		     (unsigned long long)b.slept_at, (unsigned long long)free, err);
		return;
	}
}

uint64_t Checker::published_uncommitted() const
{
	const BlockMap &m = cache_->map();
	uint64_t n = 0;
	for (Block b = 0; b < cache_->n_blocks(); b++) {
		uint8_t st = m.state(b);
		if ((st & BlockMap::kUsed) && !(st & (BlockMap::kCommitted | BlockMap::kSuperseded)))
			n++;
	}
	return n;
}

void Checker::check_accounting()
{
	const BlockMap &m = cache_->map();
	const char *why = "";
	if (!m.check_invariants(&why)) {
		fail("block map: %s", why);
		return;
	}
	uint64_t n = cache_->n_blocks(), used = 0, in_wb = 0, uncommitted = 0;
	for (Block b = 0; b < n; b++) {
		uint8_t st = m.state(b);
		bool free = m.is_free(b);
		if (free != !(st & BlockMap::kUsed)) {
			fail("block %u: free bitmap and kUsed disagree", b);
			return;
		}
		if (free)
			continue;
		used++;
		if (st & BlockMap::kInProgress) {
			in_wb++;
			if (!wb_block_[b]) {
				fail("block %u is in writeback but in no run in flight", b);
				return;
			}
		} else if (wb_block_[b]) {
			fail("block %u of a run in flight is no longer in writeback", b);
			return;
		}
		if (!(st & (BlockMap::kCommitted | BlockMap::kSuperseded)))
			uncommitted++;
	}
	uint64_t listed = 0;
	for (uint32_t l = 0; l < BlockMap::kLists; l++)
		for (Block b = m.head(static_cast<BlockMap::List>(l)); b != kNoBlock;
		     b = m.older(static_cast<BlockMap::List>(l), b))
			listed++;
	uint64_t free = cache_->free_blocks();
	if (free != m.free_count() || free + used != n || listed != used) {
		fail("block accounting: free %llu + used %llu != n_blocks %llu (on lists: %llu)",
		     (unsigned long long)free, (unsigned long long)used, (unsigned long long)n,
		     (unsigned long long)listed);
		return;
	}
	uint64_t wb = cache_->writeback_blocks(), mine = 0;
	for (auto &ow : owrites_)
		if (ow.run)
			mine += ow.run->count;
	if (wb != in_wb || wb != mine) {
		fail("writeback_blocks() = %llu, blocks in writeback %llu, in runs in flight %llu",
		     (unsigned long long)wb, (unsigned long long)in_wb, (unsigned long long)mine);
		return;
	}
	// uncommitted_blocks() is upstream's counter (a discarded block still
	// counts until the commit; SSD restarts it when it asks for a commit):
	// it must not count fewer than are published and uncommitted, or
	// autocommit_blocks would not bound them (in the error state nothing
	// is published any more).
	if (cache_->uncommitted_blocks() < uncommitted && !cache_->has_error() &&
	    !(mode_ == Mode::kSsd && counter_reset_)) {
		fail("uncommitted_blocks() = %llu, but %llu published blocks are uncommitted",
		     (unsigned long long)cache_->uncommitted_blocks(),
		     (unsigned long long)uncommitted);
		return;
	}
	wc_status st;
	cache_->fill_status(&st);
	if (st.n_blocks != n || st.free_blocks != free || st.writeback_blocks != wb ||
	    st.error != (cache_->has_error() ? 1u : 0u)) {
		fail("status: n_blocks %llu free %llu writeback %llu error %llu disagree with the cache",
		     (unsigned long long)st.n_blocks, (unsigned long long)st.free_blocks,
		     (unsigned long long)st.writeback_blocks, (unsigned long long)st.error);
		return;
	}
	// Counters only grow (clear_stats and a new cache reset them).
	uint64_t now[kCounters], was[kCounters];
	counters(st, now);
	counters(last_stats_, was);
	for (size_t i = 0; i < kCounters; i++)
		if (now[i] < was[i]) {
			fail("status counter %zu went back from %llu to %llu", i,
			     (unsigned long long)was[i], (unsigned long long)now[i]);
			return;
		}
	if (st.read_hits > st.reads || st.writes_around > st.writes)
		fail("status: read_hits %llu > reads %llu or writes_around %llu > writes %llu",
		     (unsigned long long)st.read_hits, (unsigned long long)st.reads,
		     (unsigned long long)st.writes_around, (unsigned long long)st.writes);
	last_stats_ = st;
}

// Read every block no bio is using, as a user would, and compare.
void Checker::verify_reads()
{
	for (uint64_t blk = 0; blk < universe_ && !failed_;) {
		if (sec_[blk].busy) {
			blk++;
			continue;
		}
		uint64_t end = blk;
		while (end < universe_ && !sec_[end].busy)
			end++;
		read_blocks(blk, end - blk, false, [&](uint64_t b, const uint8_t *p, bool cached) {
			check_live(b, p, cached ? "cache" : "origin");
		});
		blk = end;
	}
}

void Checker::check_after_op()
{
	check_wakeups();
	if (failed_)
		return;
	check_accounting();
	if (failed_)
		return;
	// Full read sweeps cost O(origin blocks): every op on small
	// universes, else every few ops.
	if (universe_ <= 64 || op_ % 4 == 0)
		verify_reads();
}

// ---------------------------------------------------------------- bios

bool Checker::pick_range(uint64_t max_n, uint64_t *blk, uint64_t *n)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		uint64_t len = 1 + below(max_n);
		uint64_t start = chance(p_hot_) ? below(hot_) : below(universe_);
		if (start + len > universe_)
			len = universe_ - start;
		bool free = true;
		for (uint64_t i = 0; i < len && free; i++)
			free = !sec_[start + i].busy;
		if (free) {
			*blk = start;
			*n = len;
			return true;
		}
	}
	return false;
}

Bio &Checker::new_bio(BioKind kind, uint64_t blk, uint64_t n)
{
	Bio b;
	b.id = ++bio_ids_;
	b.kind = kind;
	b.blk = blk;
	b.n = n;
	for (uint64_t i = 0; i < n; i++)
		sec_[blk + i].busy++;
	return bios_.emplace(b.id, std::move(b)).first->second;
}

void Checker::on_wake()
{
	res_.wakeups++;
	if (!sleeping_)
		return;
	for (auto &[id, b] : bios_)
		if (b.state == BioState::kSleeping)
			b.state = BioState::kWoken;
	sleeping_ = 0;
}

// kNoSpace: wait_event(freelist_wait, free_blocks() || has_error()). A
// condition that already holds does not sleep: retry at once.
bool Checker::must_sleep(Bio &b)
{
	res_.blocked++;
	wb_kick_ = true;
	if (cache_->free_blocks() || cache_->has_error()) {
		if (++b.retries > 3) {
			fail("kNoSpace %u times in a row with free_blocks() = %llu", b.retries,
			     (unsigned long long)cache_->free_blocks());
			return true;
		}
		return false;
	}
	b.state = BioState::kSleeping;
	b.slept_at = op_;
	sleeping_++;
	note("bio %llu [%llu,+%llu) sleeps at block %llu", (unsigned long long)b.id,
	     (unsigned long long)b.blk, (unsigned long long)b.n,
	     (unsigned long long)(b.blk + b.next));
	return true;
}

void Checker::advance(Bio &b)
{
	b.state = BioState::kMapping;
	if (mode_ == Mode::kPmem)
		pmem_advance(b);
	else
		ssd_advance(b);
	if (failed_ || b.state == BioState::kSleeping)
		return;
	b.state = BioState::kIssued;
	maybe_finish(b);
}

// Segment lengths for a bio of `bytes`: one segment; whole blocks (one
// to three per segment); 512-byte pieces; the pages of a buffer that
// starts at a random 4-byte-aligned offset into a page (O_DIRECT with
// dma_alignment: segments of any multiple of 4 bytes, splitting even a
// 512-byte block); or random multiples of 512 up to a per-bio maximum,
// which split blocks at any sector. With the fill sizes of
// random_fill_max(), counts below and above WC_BIO_SEGS both make the
// core call refill().
std::vector<uint32_t> Checker::random_layout(uint64_t bytes)
{
	std::vector<uint32_t> v;
	const uint64_t units = bytes / kUnit;
	const uint64_t shape = below(16);
	if (shape < 2 || units <= 1) {
		v.push_back(static_cast<uint32_t>(bytes));
		return v;
	}
	if (shape == 6 || shape == 7) {
		const uint64_t page = 4096;
		uint64_t first = page - 4 * below(page / 4);	// 4..4096
		for (uint64_t at = 0; at < bytes;) {
			uint64_t n = std::min(at ? page : first, bytes - at);
			v.push_back(static_cast<uint32_t>(n));
			at += n;
		}
		return v;
	}
	uint64_t max_units = 1;
	if (shape >= 8) {
		const uint64_t kMax[] = {2, 3, step_ + 1, 2 * step_ + 1, 5};
		max_units = kMax[below(5)];
	}
	for (uint64_t at = 0; at < units;) {
		uint64_t n = shape < 4 ? step_ * (1 + below(3)) : shape < 6 ? 1 : 1 + below(max_units);
		n = std::min(n, units - at);
		v.push_back(static_cast<uint32_t>(n * kUnit));
		at += n;
	}
	return v;
}

std::string Checker::describe_layout(const std::vector<uint32_t> &l) const
{
	std::string s = std::to_string(l.size()) + " segments (";
	for (size_t i = 0; i < l.size() && i < 12; i++)
		s += (i ? " " : "") + std::to_string(l[i]);
	if (l.size() > 12)
		s += " ...";
	return s + ")";
}

// Blocks [from, to) of write bio b were just served by the cache: each
// cache block holds exactly the bio's bytes for it.
bool Checker::check_written(const Bio &b, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		uint64_t blk = b.blk + i;
		Block cb = cache_->map().find(sector_of(blk));
		if (cb == kNoBlock) {
			fail("write bio %llu: block %llu was served but is not cached",
			     (unsigned long long)b.id, (unsigned long long)blk);
			return false;
		}
		const uint8_t *p = cache_->block_data(cb);
		const uint8_t *want = &b.data[i * bs_];
		if (std::memcmp(p, want, bs_)) {
			size_t at = 0;
			while (p[at] == want[at])
				at++;
			fail("write bio %llu: cache block %u of origin block %llu differs from the bio's "
			     "data from byte %zu (bio of %llu blocks, %s, %u per fill)",
			     (unsigned long long)b.id, cb, (unsigned long long)blk, at,
			     (unsigned long long)b.n, describe_layout(b.layout).c_str(), b.fill_max);
			return false;
		}
	}
	return true;
}

// map_pmem.c wc_map_write(): one core call per bio (Cache::write). It
// caches the bio, or its leading cached run (cleaner, metadata_only), or
// sends its leading uncached run to the origin (WC_IO_ORIGIN); dm
// resubmits the rest (the next loop round, a new wc_bio from that byte of
// the layout on). WC_IO_NOSPACE: the writer sleeps, and calls again with
// the same wc_bio.
void Checker::pmem_advance(Bio &b)
{
	while (b.next < b.n && !b.failed && !failed_) {
		if (!b.tb) {
			uint32_t flags = (b.fua ? WC_BIO_FUA : 0) | (b.meta ? WC_BIO_META : 0);
			b.tb = std::make_unique<TestBio>(sector_of(b.blk + b.next), b.n - b.next, bs_,
							 b.data.data(), b.layout, flags, b.next * bs_,
							 b.fill_max);
			b.tb_blk = b.next;
		}
		TestBio &tb = *b.tb;
		const uint64_t left = b.n - b.tb_blk, before = b.next - b.tb_blk;
		const bool may_split = cleaner_ || (params_.metadata_only && !b.meta);
		Call k = wc::test::call_write(*cache_, tb);
		after_core();
		if (failed_)
			return;
		const uint64_t served = k.served;
		if (k.r == WC_IO_DONE || k.r == WC_IO_NOSPACE) {
			if (served < before || served > left || !k.cursor.empty()) {
				fail("write bio %llu (%s): %s after serving %llu of %llu blocks (%llu before)%s%s",
				     (unsigned long long)b.id, describe_layout(b.layout).c_str(),
				     k.r == WC_IO_DONE ? "DONE" : "NOSPACE", (unsigned long long)served,
				     (unsigned long long)left, (unsigned long long)before,
				     k.cursor.empty() ? "" : ": ", k.cursor.c_str());
				return;
			}
			if (!check_written(b, b.next, b.tb_blk + served))
				return;
			if (served > before)
				b.retries = 0;
			b.next = b.tb_blk + served;
		}
		if (k.r != WC_IO_DONE && k.committed()) {
			fail("write bio %llu: a commit inside a call that did not finish it (result %d)",
			     (unsigned long long)b.id, k.r);
			return;
		}
		res_.refills += k.refills;
		switch (k.r) {
		case WC_IO_DONE:
			b.tb.reset();
			if (served == before) {
				fail("write bio %llu: DONE with nothing served", (unsigned long long)b.id);
				return;
			}
			if (served < left && !may_split) {
				fail("write bio %llu: DONE after %llu of %llu blocks without cleaner or "
				     "metadata_only",
				     (unsigned long long)b.id, (unsigned long long)served,
				     (unsigned long long)left);
				return;
			}
			if (b.fua && !k.committed()) {
				fail("write bio %llu: FUA, and seq_count() stayed at %llu",
				     (unsigned long long)b.id, (unsigned long long)k.seq_after);
				return;
			}
			if (bool(k.out.arm_timer) == k.committed()) {
				fail("write bio %llu: arm_timer %d after a call that %s",
				     (unsigned long long)b.id, k.out.arm_timer,
				     k.committed() ? "committed" : "did not commit");
				return;
			}
			if (k.out.arm_timer) {
				timer_armed_ = true;
				uint64_t u = published_uncommitted();
				if (u >= params_.autocommit_blocks)
					fail("write did not commit with %llu blocks uncommitted "
					     "(autocommit_blocks %u)",
					     (unsigned long long)u, params_.autocommit_blocks);
			}
			if (b.fua)
				res_.commits++;
			if (bool(k.out.writeback) != cache_->writeback_wanted())
				fail("write bio %llu: out.writeback %d, writeback_wanted() %d",
				     (unsigned long long)b.id, k.out.writeback,
				     cache_->writeback_wanted());
			if (k.out.writeback)
				wb_kick_ = true;
			break;
		case WC_IO_NOSPACE:
			if (served)
				res_.nospace_mid_bio++;
			if (must_sleep(b))
				return;
			break;
		case WC_IO_ORIGIN:
			if (served || tb.consumed() || before || k.out.run < 1 || k.out.run > left) {
				fail("write bio %llu: ORIGIN of %llu of %llu blocks after serving %llu "
				     "(%llu before, %llu bytes taken)",
				     (unsigned long long)b.id, (unsigned long long)k.out.run,
				     (unsigned long long)left, (unsigned long long)served,
				     (unsigned long long)before, (unsigned long long)tb.consumed());
				return;
			}
			if (!may_split) {
				fail("write bio %llu went around without cleaner or metadata_only",
				     (unsigned long long)b.id);
				return;
			}
			b.tb.reset();
			submit_around(b, b.next, k.out.run);
			b.next += k.out.run;
			break;
		case WC_IO_ERROR:
			b.tb.reset();
			b.failed = true;
			if (!cache_->has_error())
				fail("write bio %llu failed without the error state",
				     (unsigned long long)b.id);
			break;
		}
	}
}

// map_ssd.c wc_map_ssd(), writes: one mapping per part of the bio.
void Checker::ssd_advance(Bio &b)
{
	while (b.next < b.n && !b.failed && !failed_) {
		uint64_t blk = b.blk + b.next, left = b.n - b.next;
		uint64_t begun = fdev_->begun_writes;
		SsdMapping m = cache_->ssd_map_write(sector_of(blk), left, b.meta);
		after_core();
		if (m.target == SsdTarget::kCache || m.target == SsdTarget::kOrigin) {
			if (m.blocks < 1 || m.blocks > left) {
				fail("ssd_map_write(%llu blocks) mapped %llu", (unsigned long long)left,
				     (unsigned long long)m.blocks);
				return;
			}
		}
		switch (m.target) {
		case SsdTarget::kCache: {
			b.retries = 0;
			if (fdev_->begun_writes != begun + 1) {
				fail("ssd_map_write to the cache announced %llu data writes",
				     (unsigned long long)(fdev_->begun_writes - begun));
				return;
			}
			if (m.block + m.blocks > cache_->n_blocks()) {
				fail("ssd_map_write mapped blocks [%u, +%llu) past the cache", m.block,
				     (unsigned long long)m.blocks);
				return;
			}
			for (uint64_t i = 0; i < m.blocks; i++) {
				Block cb = static_cast<Block>(m.block + i);
				if (wb_block_[cb]) {
					fail("a data write into block %u, which is being written back", cb);
					return;
				}
				for (auto &dw : dwrites_)
					if (cb >= dw.block && cb < dw.block + dw.blocks) {
						fail("two data writes to cache block %u in flight", cb);
						return;
					}
			}
			for (uint64_t i = 0; i < m.blocks; i++)
				fill_block(&buf_[i * bs_], blk + i, b.ver0 + b.next + i);
			uint64_t io = ssd_->submit_data(cache_->ssd_data_sector(m.block), buf_.data(),
							m.blocks * step_);
			dwrites_.push_back(DataWrite{io, b.id, m.block, m.blocks});
			b.pending++;
			b.next += m.blocks;
			if (m.commit_now) {
				commit_work_ = true;
				counter_reset_ = true;
			} else if (m.arm_timer) {
				timer_armed_ = true;
				if (cache_->uncommitted_blocks() >= params_.autocommit_blocks)
					fail("ssd_map_write did not ask for a commit with uncommitted_blocks() "
					     "= %llu (autocommit_blocks %u)",
					     (unsigned long long)cache_->uncommitted_blocks(),
					     params_.autocommit_blocks);
			}
			if (cache_->writeback_wanted())
				wb_kick_ = true;
			break;
		}
		case SsdTarget::kOrigin:
			submit_around(b, b.next, m.blocks);
			b.next += m.blocks;
			break;
		case SsdTarget::kNoSpace:
			if (must_sleep(b))
				return;
			break;
		case SsdTarget::kError:
			b.failed = true;
			break;
		}
	}
}

// A part of a bio sent to the origin: it must not race an origin write of
// the same block still in flight.
void Checker::submit_around(Bio &b, uint64_t off, uint64_t n)
{
	res_.arounds += n;
	uint64_t blk = b.blk + off;
	for (auto &ow : owrites_) {
		if (ow.landed || ow.blk >= blk + n || blk >= ow.blk + ow.n)
			continue;
		uint64_t s = std::max(ow.blk, blk);
		fail("two writes to origin block %llu in flight: a write-around (bio %llu) while %s "
		     "(since op %llu) has not landed",
		     (unsigned long long)s, (unsigned long long)b.id,
		     ow.run ? "a writeback run" : "another write-around",
		     (unsigned long long)ow.picked_at);
		return;
	}
	OriginWrite ow;
	ow.id = ++ow_ids_;
	ow.blk = blk;
	ow.n = n;
	ow.bio = b.id;
	ow.picked_at = op_;
	ow.data.resize(n * bs_);
	for (uint64_t i = 0; i < n; i++)
		fill_block(&ow.data[i * bs_], blk + i, b.ver0 + off + i);
	owrites_.push_back(std::move(ow));
	b.pending++;
	note("bio %llu: [%llu,+%llu) around the cache", (unsigned long long)b.id,
	     (unsigned long long)blk, (unsigned long long)n);
}

void Checker::maybe_finish(Bio &b)
{
	if (b.state == BioState::kIssued && b.pending == 0)
		finish(b);
}

void Checker::finish(Bio &b)
{
	if (b.kind == BioKind::kWrite) {
		if (b.failed)
			fail_write_bio(b);
		else
			ack_write(b);
	}
	for (uint64_t i = 0; i < b.n; i++)
		sec_[b.blk + i].busy--;
	bios_.erase(b.id);
}

void Checker::data_done(const DataWrite &dw)
{
	auto it = bios_.find(dw.bio);
	if (it == bios_.end())
		return;
	Bio &b = it->second;
	if (b.fua) {
		// end_io hands a FUA write to the flush worker: it completes
		// after the commit that follows.
		flushq_.push_back(FlushItem{b.id, Queued::kFua});
		return;
	}
	b.pending--;
	maybe_finish(b);
}

// A read bio over [blk, blk + n) the way the shim maps it; check(b, p,
// from_cache) sees every block's data. user: an SSD hit on an uncommitted
// block waits for the data writes in flight (wc_map_ssd); the sweep's
// reads only look.
template <class F>
void Checker::read_blocks(uint64_t blk, uint64_t n, bool user, F &&check)
{
	uint64_t i = 0;
	while (i < n && !failed_) {
		uint64_t s = sector_of(blk + i), left = n - i;
		if (mode_ == Mode::kPmem) {
			pmem_read(blk, n, check);
			return;
		}
		uint64_t begun = fdev_->begun_reads;
		SsdMapping m = cache_->ssd_map_read(s, left);
		after_core();
		if ((m.target != SsdTarget::kCache && m.target != SsdTarget::kOrigin) ||
		    m.blocks < 1 || m.blocks > left) {
			fail("ssd_map_read(%llu blocks): target %d, %llu blocks", (unsigned long long)left,
			     static_cast<int>(m.target), (unsigned long long)m.blocks);
			return;
		}
		if (m.target == SsdTarget::kOrigin) {
			for (uint64_t k = 0; k < m.blocks && !failed_; k++)
				check(blk + i + k, origin_block(blk + i + k), false);
			i += m.blocks;
			continue;
		}
		if (fdev_->begun_reads != begun + 1 || m.block + m.blocks > cache_->n_blocks()) {
			fail("ssd_map_read hit at block %u (+%llu): %llu data reads announced", m.block,
			     (unsigned long long)m.blocks, (unsigned long long)(fdev_->begun_reads - begun));
			return;
		}
		if (m.uncommitted && user) {
			ssd_->wait_for_data_writes();
			sync_data();
		}
		std::memcpy(read_buf_.data(), ssd_block(m.block), m.blocks * bs_);
		for (uint64_t k = 0; k < m.blocks && !failed_; k++)
			check(blk + i + k, &read_buf_[k * bs_], true);
		i += m.blocks;
	}
}

// map_pmem.c wc_map_read(): one core call per bio (Cache::read), with a
// random segment layout over read_buf_; dm resubmits the rest after each
// part. WC_IO_DONE: the leading run of hits, up to b.sector, each block
// byte for byte the cache block's; the run ends at a miss. WC_IO_ORIGIN:
// out.run leading misses, up to the next cached block. Nothing past what
// a call served is written.
template <class F>
void Checker::pmem_read(uint64_t blk, uint64_t n, F &&check)
{
	std::vector<uint32_t> layout = random_layout(n * bs_);
	const uint32_t fill_max = random_fill_max();
	std::memset(read_buf_.data(), kCanary, n * bs_);
	auto untouched = [&](uint64_t i) {
		const uint8_t *p = &read_buf_[i * bs_];
		for (uint32_t k = 0; k < bs_; k++)
			if (p[k] != kCanary)
				return false;
		return true;
	};
	auto cached = [&](uint64_t b) { return cache_->map().find(sector_of(b)) != kNoBlock; };
	uint64_t i = 0;
	while (i < n && !failed_) {
		const uint64_t left = n - i;
		TestBio tb(sector_of(blk + i), left, bs_, read_buf_.data(), layout, 0, i * bs_,
			   fill_max);
		Call k = wc::test::call_read(*cache_, tb);
		after_core();
		if (failed_)
			return;
		res_.refills += k.refills;
		if (k.r == WC_IO_ERROR) {
			if (!fpmem_->armed())
				fail("read reported a machine check nobody injected");
			return;	// the bio fails
		}
		if (k.r == WC_IO_ORIGIN) {
			const uint64_t run = k.out.run;
			if (k.served || tb.consumed() || run < 1 || run > left || !untouched(i)) {
				fail("read of [%llu,+%llu): ORIGIN of %llu blocks after serving %llu "
				     "(%llu bytes taken)",
				     (unsigned long long)(blk + i), (unsigned long long)left,
				     (unsigned long long)run, (unsigned long long)k.served,
				     (unsigned long long)tb.consumed());
				return;
			}
			for (uint64_t r = 0; r < run; r++)
				if (cached(blk + i + r)) {
					fail("read sent cached block %llu to the origin",
					     (unsigned long long)(blk + i + r));
					return;
				}
			if (run < left && run < Cache::kMaxRunBlocks && !cached(blk + i + run)) {
				fail("read's origin run of %llu blocks stops before miss %llu",
				     (unsigned long long)run, (unsigned long long)(blk + i + run));
				return;
			}
			for (uint64_t r = 0; r < run && !failed_; r++)
				check(blk + i + r, origin_block(blk + i + r), false);
			i += run;
			continue;
		}
		const uint64_t served = k.served;
		if (k.r != WC_IO_DONE || served < 1 || served > left || !k.cursor.empty()) {
			fail("read of [%llu,+%llu) (%s, %u per fill): result %d after serving %llu "
			     "blocks%s%s",
			     (unsigned long long)(blk + i), (unsigned long long)left,
			     describe_layout(layout).c_str(), fill_max, k.r, (unsigned long long)served,
			     k.cursor.empty() ? "" : ": ", k.cursor.c_str());
			return;
		}
		for (uint64_t r = 0; r < served; r++) {
			Block cb = cache_->map().find(sector_of(blk + i + r));
			const uint8_t *got = &read_buf_[(i + r) * bs_];
			if (cb == kNoBlock || std::memcmp(got, cache_->block_data(cb), bs_)) {
				fail("read of [%llu,+%llu) (%s, %u per fill): block %llu %s",
				     (unsigned long long)(blk + i), (unsigned long long)left,
				     describe_layout(layout).c_str(), fill_max,
				     (unsigned long long)(blk + i + r),
				     cb == kNoBlock ? "was served but is not cached" :
						      "differs from its cache block");
				return;
			}
		}
		if (served < left) {
			if (served < Cache::kMaxRunBlocks && cached(blk + i + served)) {
				fail("read run of %llu blocks stops before cached block %llu",
				     (unsigned long long)served, (unsigned long long)(blk + i + served));
				return;
			}
			if (!untouched(i + served)) {
				fail("read of [%llu,+%llu) wrote past its run of %llu blocks",
				     (unsigned long long)(blk + i), (unsigned long long)left,
				     (unsigned long long)served);
				return;
			}
		}
		for (uint64_t r = 0; r < served && !failed_; r++)
			check(blk + i + r, &read_buf_[(i + r) * bs_], true);
		i += served;
	}
}

// ---------------------------------------------------------------- writeback

// One writeback_next() as the writeback work calls it. False when it gave
// nothing (*got false) or the run failed a check.
bool Checker::pick_one(bool all, bool *got)
{
	auto run = std::make_unique<WritebackRun>();
	*got = cache_->writeback_next(run.get(), all);
	after_core();
	if (failed_)
		return false;
	if (!*got) {
		// Nothing given, with nothing in flight that could hold a
		// block back: the watermark (or `all`) says there is nothing.
		if (!cache_->has_error() && cache_->writeback_blocks() == 0 &&
		    cache_->writeback_pending()) {
			if (all)
				fail("writeback_next(all) gave nothing with blocks cached and no "
				     "writeback in flight (a full writeback would leave them)");
			else if (cache_->free_blocks() <= low_free())
				fail("writeback_next gave nothing with free_blocks() = %llu <= the low "
				     "watermark's %llu",
				     (unsigned long long)cache_->free_blocks(),
				     (unsigned long long)low_free());
		}
		return false;
	}
	submit_run(std::move(run));
	return !failed_;
}

void Checker::submit_run(std::unique_ptr<WritebackRun> run)
{
	const WritebackRun &r = *run;
	const uint64_t n = cache_->n_blocks();
	if (r.count < 1 || r.count > WritebackRun::kMaxBlocks || r.sector % step_ ||
	    r.sector / step_ + r.count > universe_) {
		fail("writeback run of %u blocks at sector %llu", r.count,
		     (unsigned long long)r.sector);
		return;
	}
	const uint64_t blk = r.sector / step_;
	for (uint32_t i = 0; i < r.count; i++) {
		Block b = r.blocks[i];
		if (b >= n) {
			fail("writeback run names block %u of %llu", b, (unsigned long long)n);
			return;
		}
		uint8_t st = cache_->map().state(b);
		if ((st & (BlockMap::kInProgress | BlockMap::kCommitted | BlockMap::kUsed)) !=
		    (BlockMap::kInProgress | BlockMap::kCommitted | BlockMap::kUsed)) {
			fail("writeback run block %u has state %#x (not committed, in progress)", b, st);
			return;
		}
		if (wb_block_[b]) {
			fail("block %u handed out for writeback twice", b);
			return;
		}
		if (mode_ == Mode::kSsd && b != r.blocks[0] + i) {
			fail("SSD writeback run is not physically contiguous (block %u after %u)", b,
			     r.blocks[0]);
			return;
		}
	}
	OriginWrite ow;
	ow.data.resize(static_cast<size_t>(r.count) * bs_);
	if (mode_ == Mode::kPmem) {
		for (uint32_t i = 0; i < r.count; i++)
			std::memcpy(&ow.data[i * bs_], cache_->block_data(r.blocks[i]), bs_);
	} else {
		for (auto &dw : dwrites_)
			if (dw.block < r.blocks[0] + r.count && r.blocks[0] < dw.block + dw.blocks) {
				fail("writeback copies block %u while a data write to it is in flight",
				     std::max(dw.block, r.blocks[0]));
				return;
			}
		std::memcpy(ow.data.data(), ssd_block(r.blocks[0]), ow.data.size());
	}
	// What it writes: one version of each block, and the newest one.
	for (uint32_t i = 0; i < r.count; i++) {
		const uint8_t *p = &ow.data[i * bs_];
		const Sec &s = sec_[blk + i];
		uint64_t v0 = kBad;
		for (uint64_t j = 0; j < step_; j++) {
			uint64_t v = decode_unit(p + j * kUnit, (blk + i) * step_ + j, false);
			if (v == kBad) {
				fail("writeback of block %llu (cache block %u) carries data not written to it",
				     (unsigned long long)(blk + i), r.blocks[i]);
				return;
			}
			// (A block a crash left torn between two versions is weak.)
			if (j && v != v0 && !s.weak && !dropped_) {
				fail("writeback of block %llu (cache block %u) mixes versions %llu and %llu",
				     (unsigned long long)(blk + i), r.blocks[i], (unsigned long long)v0,
				     (unsigned long long)v);
				return;
			}
			v0 = v;
		}
		if (!s.busy && !s.weak && !dropped_ && v0 != s.cur) {
			fail("writeback of block %llu carries version %llu, the newest acknowledged is %llu",
			     (unsigned long long)(blk + i), (unsigned long long)v0,
			     (unsigned long long)s.cur);
			return;
		}
	}
	for (auto &o : owrites_) {
		if (o.landed || o.blk >= blk + r.count || blk >= o.blk + o.n)
			continue;
		fail("two writes to origin block %llu in flight: a writeback run while %s (since op "
		     "%llu) has not landed",
		     (unsigned long long)std::max(o.blk, blk),
		     o.run ? "another writeback run" : "a write-around",
		     (unsigned long long)o.picked_at);
		return;
	}
	for (uint32_t i = 0; i < r.count; i++)
		wb_block_[r.blocks[i]] = 1;
	ow.id = ++ow_ids_;
	ow.blk = blk;
	ow.n = r.count;
	ow.picked_at = op_;
	if (inject_wb_fail_) {
		inject_wb_fail_ = false;
		ow.fail = true;
		static const int kStatus[] = {0, 10, -5};
		ow.status = kStatus[below(3)];
	}
	note("writeback run [%llu,+%u) from block %u%s", (unsigned long long)blk, r.count,
	     r.blocks[0], ow.fail ? " (will fail)" : "");
	ow.run = std::move(run);
	owrites_.push_back(std::move(ow));
	res_.writeback_runs++;
}

// An origin write lands: its data reaches the origin (a failed writeback:
// some of it, or none).
void Checker::land(size_t i)
{
	OriginWrite &ow = owrites_[i];
	if (ow.run) {
		// The device reads the blocks while the write is in flight: they
		// must not have changed.
		for (uint32_t k = 0; k < ow.n; k++) {
			Block b = ow.run->blocks[k];
			const uint8_t *now = mode_ == Mode::kPmem ? cache_->block_data(b) :
								    ssd_block(ow.run->blocks[0]) + k * bs_;
			if (std::memcmp(now, &ow.data[k * bs_], bs_)) {
				fail("cache block %u changed while being written back (origin block %llu)",
				     b, (unsigned long long)(ow.blk + k));
				return;
			}
		}
	}
	for (uint64_t k = 0; k < ow.n; k++)
		if (!ow.fail || below(2))
			std::memcpy(origin_block(ow.blk + k), &ow.data[k * bs_], bs_);
	ow.landed = true;
	note("origin write [%llu,+%llu) landed (%s)", (unsigned long long)ow.blk,
	     (unsigned long long)ow.n, ow.run ? "writeback" : "around");
	if (!ow.run) {
		uint64_t bio = ow.bio;
		owrites_.erase(owrites_.begin() + static_cast<ptrdiff_t>(i));
		auto it = bios_.find(bio);
		if (it != bios_.end()) {
			it->second.pending--;
			maybe_finish(it->second);
		}
	}
}

// The completion worker: writeback_done() for a landed run.
void Checker::done(size_t i)
{
	OriginWrite ow = std::move(owrites_[i]);
	owrites_.erase(owrites_.begin() + static_cast<ptrdiff_t>(i));
	for (uint32_t k = 0; k < ow.run->count; k++)
		wb_block_[ow.run->blocks[k]] = 0;
	if (ow.fail)
		error_ok_ = true;
	note("writeback_done [%llu,+%u) %s", (unsigned long long)ow.blk, ow.run->count,
	     ow.fail ? "failed" : "ok");
	cache_->writeback_done(*ow.run, !ow.fail, ow.fail ? ow.status : 0);
	if (ow.fail)
		res_.writeback_errors++;
	after_core();
	if (cache_->writeback_wanted())
		wb_kick_ = true;
}

// One step of writeback completion: land or complete something in flight.
bool Checker::progress_writeback()
{
	std::vector<size_t> can_land, can_done;
	for (size_t i = 0; i < owrites_.size(); i++) {
		if (!owrites_[i].landed)
			can_land.push_back(i);
		else if (owrites_[i].run)
			can_done.push_back(i);
	}
	if (can_land.empty() && can_done.empty())
		return false;
	if (!can_done.empty() && (can_land.empty() || below(2)))
		done(can_done[below(can_done.size())]);
	else
		land(can_land[below(can_land.size())]);
	return true;
}

// Wait until no writeback is in flight (completions in random order).
void Checker::complete_all_writeback()
{
	for (;;) {
		bool any = false;
		for (auto &ow : owrites_)
			any = any || ow.run;
		if (!any || failed_)
			return;
		std::vector<size_t> can_land, can_done;
		for (size_t i = 0; i < owrites_.size(); i++) {
			if (!owrites_[i].run)
				continue;
			(owrites_[i].landed ? can_done : can_land).push_back(i);
		}
		if (!can_done.empty() && (can_land.empty() || below(2)))
			done(can_done[below(can_done.size())]);
		else
			land(can_land[below(can_land.size())]);
	}
}

// The writeback work with writeback_all set (the flush message,
// flush_on_suspend; writeback.c wc_writeback_work): pick until nothing is
// given or the blocks in use when it began are done, wait for the runs in
// flight, and pick again while blocks were skipped for an older version in
// flight; completions race the picks.
void Checker::full_writeback()
{
	all_active_++;
	uint64_t budget = cache_->n_blocks() - cache_->free_blocks();
	for (uint64_t guard = 0; !failed_; guard++) {
		if (guard > 100000) {
			fail("a full writeback did not finish");
			break;
		}
		if (!owrites_.empty() && below(3) == 0) {
			progress_writeback();
			continue;
		}
		if (throttled()) {
			if (!progress_writeback()) {
				fail("throttled with nothing in flight");
				break;
			}
			continue;
		}
		bool got = false;
		if (budget) {
			uint64_t before = cache_->writeback_blocks();
			pick_one(true, &got);
			if (got) {
				uint64_t n = cache_->writeback_blocks() - before;
				budget -= std::min(budget, n);
			}
		}
		if (got || failed_)
			continue;
		if (cache_->has_error())
			break;
		complete_all_writeback();
		if (!cache_->writeback_take_skipped())
			break;
	}
	complete_all_writeback();
	all_active_--;
}

// ---------------------------------------------------------------- operations

void Checker::op_write()
{
	uint64_t blk, n;
	if (!pick_range(max_bio_, &blk, &n))
		return;
	Bio &b = new_bio(BioKind::kWrite, blk, n);
	b.fua = chance(p_fua_);
	b.meta = chance(p_meta_);
	b.ver0 = next_ver_;
	next_ver_ += n;
	for (uint64_t i = 0; i < n; i++)
		sec_[blk + i].max = b.ver0 + i;
	res_.writes++;
	if (mode_ == Mode::kPmem) {
		b.data.resize(n * bs_);
		for (uint64_t i = 0; i < n; i++)
			fill_block(&b.data[i * bs_], blk + i, b.ver0 + i);
		b.layout = random_layout(n * bs_);
		b.fill_max = random_fill_max();
		res_.segments += b.layout.size();
	}
	note("write bio %llu [%llu,+%llu) v%llu%s%s%s%s", (unsigned long long)b.id,
	     (unsigned long long)blk, (unsigned long long)n, (unsigned long long)b.ver0,
	     b.fua ? " FUA" : "", b.meta ? " META" : "", mode_ == Mode::kPmem ? ", " : "",
	     mode_ == Mode::kPmem ? describe_layout(b.layout).c_str() : "");
	advance(b);
}

void Checker::op_read()
{
	uint64_t blk, n;
	if (!pick_range(max_bio_, &blk, &n))
		return;
	res_.reads++;
	note("read [%llu,+%llu)", (unsigned long long)blk, (unsigned long long)n);
	read_blocks(blk, n, true, [&](uint64_t b, const uint8_t *p, bool cached) {
		check_live(b, p, cached ? "cache" : "origin", true);
	});
}

void Checker::op_discard()
{
	uint64_t blk, n;
	if (!pick_range(max_bio_ * 2, &blk, &n))
		return;
	res_.discards++;
	Bio &b = new_bio(BioKind::kDiscard, blk, n);
	note("discard bio %llu [%llu,+%llu)", (unsigned long long)b.id, (unsigned long long)blk,
	     (unsigned long long)n);
	// From now on reads may see older data, and nothing is owed after a
	// crash until a write is durable again.
	for (uint64_t i = 0; i < n; i++) {
		Sec &s = sec_[blk + i];
		s.weak = true;
		s.lo = 0;
		s.discarded = true;
	}
	if (cache_->has_error()) {
		if (mode_ == Mode::kSsd)
			cache_->count_discard(n);
		b.state = BioState::kIssued;
		b.failed = true;
		maybe_finish(b);
		return;
	}
	if (mode_ == Mode::kPmem) {
		cache_->discard(sector_of(blk), sector_of(blk + n));
		after_core();
		b.state = BioState::kIssued;
		maybe_finish(b);
		return;
	}
	b.state = BioState::kIssued;
	b.pending = 1;
	flushq_.push_back(FlushItem{b.id, Queued::kDiscard});
}

// A commit the caller asked for; true if it succeeded (it then made every
// acknowledged write durable).
bool Checker::commit_explicit()
{
	Status st = cache_->commit();
	after_core();
	res_.commits++;
	if (st.ok() && !cache_->has_error()) {
		promote_all();
		counter_reset_ = false;
		uint64_t left = published_uncommitted();
		if (left || cache_->uncommitted_blocks())
			fail("after a commit: %llu published blocks uncommitted, uncommitted_blocks() = %llu",
			     (unsigned long long)left, (unsigned long long)cache_->uncommitted_blocks());
		return true;
	}
	return false;
}

void Checker::op_flush()
{
	res_.flushes++;
	note("flush");
	if (mode_ == Mode::kPmem) {
		// wc_map_pmem(): wc_cache_flush() counts it and commits only
		// if a write is uncommitted (DM_MAPIO_KILL on an error).
		const bool err = cache_->has_error();
		const uint64_t pending = published_uncommitted();
		const uint64_t seq = cache_->seq_count();
		Status st = cache_->flush();
		after_core();
		if (err) {
			if (st.ok())
				fail("an empty flush succeeded in the error state");
			return;
		}
		if (!st.ok() || cache_->has_error())
			return;
		const bool committed = cache_->seq_count() != seq;
		if (committed)
			res_.commits++;
		if (committed != (pending > 0)) {
			fail("an empty flush with %llu published blocks uncommitted %s",
			     (unsigned long long)pending, committed ? "committed" : "did not commit");
			return;
		}
		promote_all();
		counter_reset_ = false;
		if (published_uncommitted() || cache_->uncommitted_blocks())
			fail("after an empty flush: %llu published blocks uncommitted, "
			     "uncommitted_blocks() = %llu",
			     (unsigned long long)published_uncommitted(),
			     (unsigned long long)cache_->uncommitted_blocks());
		return;
	}
	if (cache_->has_error())
		return;	// DM_MAPIO_KILL
	cache_->count_flush();
	Bio &b = new_bio(BioKind::kFlush, 0, 0);
	b.state = BioState::kIssued;
	b.pending = 1;
	flushq_.push_back(FlushItem{b.id, Queued::kFlush});
}

// The autocommit timer or the commit work item (SSD commit_now).
void Checker::op_commit()
{
	note("commit (%s)", commit_work_ ? "commit work" : timer_armed_ ? "autocommit timer" : "extra");
	bool timer = timer_armed_ && !commit_work_;
	commit_work_ = false;
	timer_armed_ = false;
	if (timer && cache_->has_error())
		return;
	commit_explicit();
}

void Checker::op_complete_data()
{
	size_t i = below(dwrites_.size());
	DataWrite dw = dwrites_[i];
	dwrites_.erase(dwrites_.begin() + static_cast<ptrdiff_t>(i));
	ssd_->complete_data(dw.io);
	note("data write to block %u (+%llu) completed", dw.block, (unsigned long long)dw.blocks);
	data_done(dw);
}

// wc_flush_work(): discards first, then one commit for every flush and FUA
// write taken from the list.
void Checker::op_flush_worker()
{
	std::deque<FlushItem> list;
	list.swap(flushq_);
	note("flush worker: %zu items", list.size());
	std::vector<FlushItem> others;
	for (auto &it : list) {
		if (it.what != Queued::kDiscard) {
			others.push_back(it);
			continue;
		}
		auto bi = bios_.find(it.bio);
		if (bi == bios_.end())
			continue;
		Bio &b = bi->second;
		cache_->discard(sector_of(b.blk), sector_of(b.blk + b.n));
		after_core();
		if (cache_->has_error())
			b.failed = true;
		b.pending--;
		maybe_finish(b);
	}
	if (others.empty())
		return;
	bool ok = commit_explicit();
	for (auto &it : others) {
		auto bi = bios_.find(it.bio);
		if (bi == bios_.end())
			continue;
		Bio &b = bi->second;
		if (!ok)
			b.failed = true;
		b.pending--;
		maybe_finish(b);
	}
}

void Checker::op_writeback()
{
	bool all = all_active_ > 0 || below(6) == 0;
	wb_kick_ = false;
	uint64_t picks = 1 + below(4);
	note("writeback work (%s, up to %llu runs)", all ? "all" : "watermarks",
	     (unsigned long long)picks);
	for (uint64_t i = 0; i < picks && !throttled(); i++) {
		bool got = false;
		if (!pick_one(all, &got) || !got)
			break;
	}
}

void Checker::op_land()
{
	std::vector<size_t> can;
	for (size_t i = 0; i < owrites_.size(); i++)
		if (!owrites_[i].landed)
			can.push_back(i);
	if (!can.empty())
		land(can[below(can.size())]);
}

void Checker::op_done()
{
	std::vector<size_t> can;
	for (size_t i = 0; i < owrites_.size(); i++)
		if (owrites_[i].landed && owrites_[i].run)
			can.push_back(i);
	if (!can.empty())
		done(can[below(can.size())]);
}

// A woken writer runs: wait_event() re-checks its condition.
void Checker::op_retry()
{
	std::vector<uint64_t> woken;
	for (auto &[id, b] : bios_)
		if (b.state == BioState::kWoken)
			woken.push_back(id);
	if (woken.empty())
		return;
	Bio &b = bios_[woken[below(woken.size())]];
	note("bio %llu woken", (unsigned long long)b.id);
	if (!cache_->free_blocks() && !cache_->has_error()) {
		b.state = BioState::kSleeping;
		b.slept_at = op_;
		sleeping_++;
		return;
	}
	b.retries = 0;
	advance(b);
}

void Checker::op_msg_flush()
{
	res_.flush_messages++;
	note("message flush");
	if (cache_->has_error())
		return;	// -EIO
	commit_explicit();
	full_writeback();
	if (failed_ || cache_->has_error())
		return;
	check_origin_equals_model("the flush message");
	if (!failed_ && bios_.empty() && cache_->free_blocks() != cache_->n_blocks())
		fail("after the flush message with no I/O in flight, %llu of %llu blocks are not free",
		     (unsigned long long)(cache_->n_blocks() - cache_->free_blocks()),
		     (unsigned long long)cache_->n_blocks());
}

void Checker::op_msg_cleaner()
{
	note("message cleaner");
	flush_on_suspend_ = true;
	cleaner_ = true;
	cache_->set_cleaner();
	after_core();
	wb_kick_ = true;
}

void Checker::op_clear_stats()
{
	note("message clear_stats");
	cache_->clear_stats();
	wc_status st;
	cache_->fill_status(&st);
	uint64_t c[kCounters];
	counters(st, c);
	for (size_t i = 0; i < kCounters; i++)
		if (c[i]) {
			fail("clear_stats left counter %zu at %llu", i, (unsigned long long)c[i]);
			return;
		}
	last_stats_ = st;
}

// Faults: a writeback error, a metadata write or flush error (SSD), a
// machine check on a cached block's data (pmem).
void Checker::op_inject()
{
	if (error_ok_ || cache_->has_error() || inject_wb_fail_ || (fdev_ && fdev_->armed()) ||
	    (fpmem_ && fpmem_->armed()))
		return;
	uint64_t what = below(3);
	if (what == 0) {
		note("inject: the next writeback run fails");
		inject_wb_fail_ = true;
		error_ok_ = true;
		return;
	}
	if (mode_ == Mode::kSsd) {
		if (what == 1) {
			fdev_->fail_write_in = static_cast<uint32_t>(1 + below(4));
			note("inject: metadata write %u from now fails", fdev_->fail_write_in);
		} else {
			fdev_->fail_flush = true;
			note("inject: the next flush fails");
		}
		error_ok_ = true;
		return;
	}
	// A machine check on the data of a cached block.
	Block b = kNoBlock;
	for (int k = 0; k < 8 && b == kNoBlock; k++) {
		Block c = static_cast<Block>(below(cache_->n_blocks()));
		if (!cache_->map().is_free(c))
			b = c;
	}
	if (b == kNoBlock)
		return;
	size_t off = static_cast<size_t>(cache_->block_data(b) - pmem_->base()) +
		     static_cast<size_t>(below(bs_ / 64)) * 64;
	fpmem_->poison(off, 64);
	error_ok_ = true;
	note("inject: machine check on cache block %u", b);
}

void Checker::op_clock()
{
	note("clock +2h");
	wc_test_advance_clock_ms(2u * 3600u * 1000u);
	wb_kick_ = true;
}

// Let every bio in flight finish (dm waits for them before postsuspend):
// the threads go on, writeback frees blocks, sleepers wake.
bool Checker::drain()
{
	for (uint64_t guard = 0; !bios_.empty() && !failed_; guard++) {
		if (guard > 200000) {
			fail("hang: %zu bios never complete (e.g. bio %llu, state %d)", bios_.size(),
			     (unsigned long long)bios_.begin()->first,
			     static_cast<int>(bios_.begin()->second.state));
			return false;
		}
		bool woken = false;
		for (auto &[id, b] : bios_)
			woken = woken || b.state == BioState::kWoken;
		uint64_t what = below(6);
		if (what == 0 && woken)
			op_retry();
		else if (what == 1 && !dwrites_.empty())
			op_complete_data();
		else if (what == 2 && !flushq_.empty())
			op_flush_worker();
		else if (what == 3 && (commit_work_ || timer_armed_))
			op_commit();
		else if (what == 4 && !owrites_.empty())
			progress_writeback();
		else if (what == 5)
			op_writeback();
		check_wakeups();
	}
	return !failed_;
}

// Suspend (postsuspend: commit, flush_on_suspend's full writeback, wait
// for writeback) and resume (load from media); `reload`: a table reload in
// between, with new parameters (same block size).
void Checker::op_suspend(bool reload)
{
	note(reload ? "table reload" : "suspend/resume");
	if (!drain())
		return;
	timer_armed_ = false;
	commit_work_ = false;
	// A failed commit (the error state) leaves acknowledged writes that a
	// reload may lose: the next clean load is checked like a crash.
	if (!commit_explicit())
		rebaseline_pending_ = true;
	if (flush_on_suspend_) {
		flush_on_suspend_ = false;
		full_writeback();
	}
	complete_all_writeback();
	if (failed_)
		return;
	if (reload) {
		res_.reloads++;
		bool pending_fault = inject_wb_fail_ || (fdev_ && fdev_->armed());
		cache_.reset();
		if (fpmem_)
			fpmem_->clear();
		params_ = random_params();
		error_ok_ = pending_fault;
		// A metadata read error at this resume, now and then.
		bool load_fault = !pending_fault && !no_load_faults_ && below(12) == 0;
		if (!open_cache(load_fault))
			return;
		note("new table: %s", describe().c_str());
		if (rebaseline_pending_ && !dropped_) {
			rebaseline_pending_ = false;
			rebaseline(sec_, false);	// not durable: a reload, no crash
		}
	} else {
		res_.resumes++;
		if (cache_->has_error())
			dropped_ = true;	// the scan is skipped in the error state
		Status st = cache_->load();
		counter_reset_ = false;
		seq_seen_ = cache_->seq_count();
		// An error the load latched may have dropped the contents too.
		if (cache_->has_error())
			dropped_ = true;
		after_core();
		if (!st.ok())
			fail("load at resume failed: %s", st.error().message);
		wb_block_.assign(cache_->n_blocks(), 0);
	}
	if (failed_)
		return;
	if (cache_->writeback_blocks() || cache_->uncommitted_blocks())
		fail("after resume: %llu blocks in writeback, %llu uncommitted",
		     (unsigned long long)cache_->writeback_blocks(),
		     (unsigned long long)cache_->uncommitted_blocks());
	cache_->fill_status(&last_stats_);
	verify_reads();
}

void Checker::capture(Capture &c)
{
	std::vector<uint8_t> img;
	uint64_t pick = below(10);
	if (mode_ == Mode::kPmem)
		pmem_->crash_image(pick == 0 ? SimPmem::Pick::Oldest :
				   pick == 1 ? SimPmem::Pick::Newest :
					       SimPmem::Pick::Random,
				   rng_, c.image);
	else
		ssd_->crash_image(pick == 0 ? SimSsd::Pick::Oldest :
				  pick == 1 ? SimSsd::Pick::Newest :
					      SimSsd::Pick::Random,
				  rng_, c.image);
	// Origin writes in flight may or may not have landed, block by block.
	c.origin = origin_;
	for (auto &ow : owrites_) {
		if (ow.landed)
			continue;
		for (uint64_t k = 0; k < ow.n; k++)
			if (below(2))
				std::memcpy(&c.origin[(ow.blk + k) * bs_], &ow.data[k * bs_], bs_);
	}
	c.taken = true;
}

// Crash at one of the next operation's device events, chosen uniformly
// (reservoir sampling) among those that can change what a crash leaves
// for the metadata: SSD, every event; pmem, fences and stores to the
// superblock and entries (data stores are covered by the fence after).
void Checker::arm_capture()
{
	capture_seen_ = 0;
	auto event = [this]() {
		if (!capture_)
			return;
		if (below(++capture_seen_) == 0)
			capture(*capture_);
	};
	if (mode_ == Mode::kPmem) {
		const size_t meta_end = layout::data_offset(cache_->n_blocks(), bs_);
		pmem_->set_event_hook([this, event, meta_end](uint64_t) {
			auto k = pmem_->last_event_kind();
			if (k == SimPmem::EventKind::Fence ||
			    (k == SimPmem::EventKind::Store && pmem_->last_event_offset() < meta_end))
				event();
		});
	} else {
		ssd_->set_event_hook([event](const SimSsd::Event &) { event(); });
	}
}

void Checker::disarm_capture()
{
	if (mode_ == Mode::kPmem)
		pmem_->set_event_hook(nullptr);
	else
		ssd_->set_event_hook(nullptr);
	capture_ = nullptr;
}

// Read every block of the recovered cache: each must hold what the crash
// may leave (at least what was durable in `before`, nothing newer than
// issued). *seen gets the version of each unit.
bool Checker::recover_and_check(const std::vector<Sec> &before, std::vector<uint64_t> *seen)
{
	seen->assign(universe_ * step_, 0);
	read_blocks(0, universe_, true, [&](uint64_t blk, const uint8_t *p, bool cached) {
		const Sec &was = before[blk];
		uint64_t lo = was.discarded || sec_[blk].discarded ? 0 : was.durable;
		uint64_t hi = sec_[blk].max;
		for (uint64_t j = 0; j < step_ && !failed_; j++) {
			uint64_t v = decode_unit(p + j * kUnit, blk * step_ + j, true);
			if (v == kBad) {
				Block cb = cached ? cache_->map().find(sector_of(blk)) : kNoBlock;
				fail("after the crash, block %llu (unit %llu) from the %s (block %d) is torn or "
				     "foreign: %s",
				     (unsigned long long)blk, (unsigned long long)j,
				     cached ? "cache" : "origin", cb == kNoBlock ? -1 : int(cb),
				     describe_unit(p + j * kUnit).c_str());
				return;
			}
			if (v < lo || v > hi) {
				fail("after the crash, block %llu reads version %llu from the %s; the crash "
				     "must keep [%llu, %llu]%s",
				     (unsigned long long)blk, (unsigned long long)v,
				     cached ? "cache" : "origin", (unsigned long long)lo,
				     (unsigned long long)hi, v < lo ? ": a durable write was lost" : "");
				return;
			}
			if (mode_ == Mode::kPmem && j && v != (*seen)[blk * step_]) {
				fail("after the crash, block %llu mixes versions %llu and %llu (pmem)",
				     (unsigned long long)blk, (unsigned long long)(*seen)[blk * step_],
				     (unsigned long long)v);
				return;
			}
			(*seen)[blk * step_ + j] = v;
		}
	});
	return !failed_;
}

// Power fails: everything in flight is gone; reload from the image (and
// the origin as it landed), check, and go on from the recovered state.
void Checker::crash_now(Capture &c, const std::vector<Sec> &before)
{
	res_.crashes++;
	note("crash (%zu bios, %zu origin writes, %zu data writes in flight)", bios_.size(),
	     owrites_.size(), dwrites_.size());
	bios_.clear();
	sleeping_ = 0;
	for (auto &s : sec_)
		s.busy = 0;
	owrites_.clear();
	dwrites_.clear();
	flushq_.clear();
	timer_armed_ = commit_work_ = wb_kick_ = false;
	all_active_ = 0;
	inject_wb_fail_ = false;
	rebaseline_pending_ = false;
	cache_.reset();
	if (fpmem_)
		fpmem_->clear();
	if (fdev_)
		fdev_->disarm();
	error_ok_ = false;
	if (mode_ == Mode::kPmem)
		pmem_->load_image(c.image);
	else
		ssd_->load_image(c.image);
	origin_ = c.origin;
	if (below(3) == 0)
		params_ = random_params();
	if (!open_cache())
		return;
	rebaseline(before, true);
}

// Read back what a fresh load left (after a crash, or a reload of a cache
// whose last commit failed): it must be what a crash may leave, and the
// model goes on from it. `crashed`: crashing the loaded image again at
// once must read the same.
void Checker::rebaseline(const std::vector<Sec> &before, bool crashed)
{
	std::vector<uint64_t> seen;
	if (!recover_and_check(before, &seen))
		return;
	check_accounting();
	// A second crash right away (the image the load left durable) must
	// read the same.
	if (!failed_ && crashed && below(2) == 0) {
		Capture again;
		if (mode_ == Mode::kPmem)
			pmem_->crash_image(SimPmem::Pick::Oldest, rng_, again.image);
		else
			ssd_->crash_image(SimSsd::Pick::Oldest, rng_, again.image);
		cache_.reset();
		if (mode_ == Mode::kPmem)
			pmem_->load_image(again.image);
		else
			ssd_->load_image(again.image);
		if (!open_cache())
			return;
		std::vector<uint64_t> seen2;
		if (!recover_and_check(before, &seen2))
			return;
		if (seen2 != seen) {
			for (size_t u = 0; u < seen.size(); u++)
				if (seen[u] != seen2[u]) {
					fail("a second load after the crash reads unit %zu as version %llu, "
					     "the first read %llu",
					     u, (unsigned long long)seen2[u], (unsigned long long)seen[u]);
					return;
				}
		}
	}
	// Go on from what the load left. A load without an error made what it
	// read durable (SSD: it flushes the cache device first).
	const bool durable_now = crashed || !cache_->has_error();
	for (uint64_t blk = 0; blk < universe_; blk++) {
		Sec &s = sec_[blk];
		uint64_t lo = ~0ull, hi = 0;
		for (uint64_t j = 0; j < step_; j++) {
			lo = std::min(lo, seen[blk * step_ + j]);
			hi = std::max(hi, seen[blk * step_ + j]);
		}
		if (lo != s.cur || s.weak)
			note("  block %llu: was %llu%s, now %llu", (unsigned long long)blk,
			     (unsigned long long)s.cur, s.weak ? " (weak)" : "", (unsigned long long)lo);
		s.cur = lo;
		s.weak = lo != hi;	// an SSD block torn between two writes
		s.lo = lo;
		if (durable_now) {
			s.durable = lo;
			s.discarded = false;
			s.unsure = false;
		} else if (lo != s.durable) {
			s.unsure = true;
		}
	}
}

void Checker::op_crash(bool mid_op)
{
	Capture c;
	if (!mid_op) {
		capture(c);
		crash_now(c, sec_);
		return;
	}
	// Crash at a random device event inside the next operation.
	std::vector<Sec> before = sec_;
	capture_ = &c;
	arm_capture();
	note("crash armed inside the next operation");
	// The next operation, from the ones that do I/O.
	switch (below(8)) {
	case 0: case 1: case 2: op_write(); break;
	case 3: if (commit_work_ || timer_armed_ || below(2)) op_commit(); else op_flush(); break;
	case 4: op_discard(); break;
	case 5: op_writeback(); break;
	case 6: op_msg_flush(); break;
	case 7: if (mode_ == Mode::kSsd && !flushq_.empty()) op_flush_worker(); else op_done(); break;
	}
	disarm_capture();
	if (failed_)
		return;
	if (!c.taken)
		capture(c);	// fewer events than armed: crash after it
	crash_now(c, before);
}

void Checker::check_origin_equals_model(const char *when)
{
	for (uint64_t blk = 0; blk < universe_; blk++) {
		if (sec_[blk].busy)
			continue;
		if (!check_live(blk, origin_block(blk), "origin")) {
			res_.violation += std::string(" (the origin after ") + when + ")";
			return;
		}
	}
}

// End of the run: let everything finish, clear any error with a table
// reload, write everything back, and the origin must equal the model.
void Checker::final_check()
{
	note("final flush");
	if (!drain())
		return;
	no_load_faults_ = true;
	inject_wb_fail_ = false;
	if (fdev_)
		fdev_->disarm();
	if (cache_->has_error() || dropped_) {
		op_suspend(true);
		if (failed_)
			return;
	}
	if (cache_->has_error() || dropped_) {
		fail("the final reload did not clear the error state");
		return;
	}
	op_msg_flush();
	if (!failed_ && !cache_->has_error())
		check_origin_equals_model("the final flush");
}

// ---------------------------------------------------------------- the run

RunResult Checker::run()
{
	setup();
	if (!open_cache()) {
		res_.setup = describe();
		return res_;
	}
	res_.setup = describe();
	for (op_ = 1; op_ <= opt_.ops && !failed_; op_++) {
		bool woken = false;
		for (auto &[id, b] : bios_)
			woken = woken || b.state == BioState::kWoken;
		bool ssd = mode_ == Mode::kSsd;
		bool err = cache_->has_error();
		// Weights (per 1000); disabled ones are skipped.
		struct Choice {
			uint32_t w;
			int op;
		};
		const Choice choices[] = {
			{260, 0},					// write
			{60, 1},					// read
			{30, 2},					// discard
			{25, 3},					// empty flush
			{commit_work_ || timer_armed_ ? 60u : 8u, 4},	// commit work / timer
			{ssd && !dwrites_.empty() ? 120u : 0u, 5},	// data write completes
			{ssd && !flushq_.empty() ? 60u : 0u, 6},	// flush worker
			{wb_kick_ ? 90u : 40u, 7},			// writeback work
			{!owrites_.empty() ? 90u : 0u, 8},		// an origin write lands
			{!owrites_.empty() ? 70u : 0u, 9},		// a writeback completes
			{woken ? 120u : 0u, 10},			// a woken writer runs
			{2, 11},					// crash now
			{2, 12},					// crash inside the next op
			{3, 13},					// suspend/resume
			{err || dropped_ ? 40u : 3u, 14},		// table reload
			{3, 15},					// flush message
			{1, 16},					// cleaner message
			{2, 17},					// clear_stats
			{2, 18},					// inject a fault
			{params_.max_age_ms != WC_MAX_AGE_UNSPECIFIED ? 2u : 0u, 19},
		};
		uint64_t total = 0;
		for (auto &c : choices)
			total += c.w;
		uint64_t r = below(total);
		int op = 0;
		for (auto &c : choices) {
			if (r < c.w) {
				op = c.op;
				break;
			}
			r -= c.w;
		}
		switch (op) {
		case 0: op_write(); break;
		case 1: op_read(); break;
		case 2: op_discard(); break;
		case 3: op_flush(); break;
		case 4: op_commit(); break;
		case 5: op_complete_data(); break;
		case 6: op_flush_worker(); break;
		case 7: op_writeback(); break;
		case 8: op_land(); break;
		case 9: op_done(); break;
		case 10: op_retry(); break;
		case 11: op_crash(false); break;
		case 12: op_crash(true); break;
		case 13: op_suspend(false); break;
		case 14: op_suspend(true); break;
		case 15: op_msg_flush(); break;
		case 16: op_msg_cleaner(); break;
		case 17: op_clear_stats(); break;
		case 18: op_inject(); break;
		case 19: op_clock(); break;
		}
		if (!failed_)
			check_after_op();
	}
	res_.ops = op_ - 1;
	if (!failed_) {
		final_check();
		if (failed_)
			res_.failed_at = opt_.ops + 1;
	}
	if (failed_)
		res_.trace = render_trace();
	wc_test_log_take();
	return res_;
}

} // namespace

const char *mode_name(Mode m)
{
	return m == Mode::kPmem ? "pmem" : "ssd";
}

const char *mutation_name(Mutation m)
{
	switch (m) {
	case Mutation::kNone: return "none";
	case Mutation::kDefect2: return "defect2";
	case Mutation::kDefect3: return "defect3";
	case Mutation::kDefect4: return "defect4";
	case Mutation::kSkipDataFlush: return "skip-data-flush";
	case Mutation::kFlushBeforeDataWait: return "flush-before-data-wait";
	}
	return "?";
}

bool parse_mode(const std::string &s, Mode *m)
{
	if (s == "pmem")
		*m = Mode::kPmem;
	else if (s == "ssd")
		*m = Mode::kSsd;
	else
		return false;
	return true;
}

bool parse_mutation(const std::string &s, Mutation *m)
{
	for (Mutation x : {Mutation::kNone, Mutation::kDefect2, Mutation::kDefect3,
			   Mutation::kDefect4, Mutation::kSkipDataFlush,
			   Mutation::kFlushBeforeDataWait})
		if (s == mutation_name(x)) {
			*m = x;
			return true;
		}
	return false;
}

RunResult run_model(const RunOptions &opt)
{
	Checker c(opt);
	return c.run();
}

uint64_t fresh_seed()
{
	uint64_t t = static_cast<uint64_t>(
		std::chrono::high_resolution_clock::now().time_since_epoch().count());
	return mix64(t ^ (static_cast<uint64_t>(std::random_device{}()) << 32));
}

uint64_t series_seed(uint64_t base, uint64_t i)
{
	return i == 0 ? base : mix64(base + 0x9e3779b97f4a7c15ull * i);
}

} // namespace wc::model
