// SPDX-License-Identifier: GPL-2.0
// A randomized model checker for the cache core (docs/model-check.md).
//
// One run: a cache with random parameters over the pmem simulator or the
// SSD simulator, a random stream of operations driven the way the kernel
// shim drives the core (src/kernel/map_pmem.c, map_ssd.c: pmem bios one
// call each, with random segment layouts), and a reference model of
// what the cache promises:
//   - a read returns the newest acknowledged data of every block;
//   - after a commit (FUA, flush) completes, a crash keeps that data (or
//     newer), and never shows data that was not written to that block;
//   - after a full writeback (the flush message) the origin holds the
//     model's data;
// and invariants checked after every operation: no origin sector has two
// writes in flight (the simulated origin lands in-flight writes in random
// order), block accounting adds up, the block map is consistent, no
// writer waiting for a free block misses its wake-up, no error appears
// that was not injected.
//
// A run is fully determined by (mode, mutation, seed, ops).
#pragma once

#include <cstdint>
#include <string>

namespace wc::model {

enum class Mode { kPmem, kSsd };

// Test-only re-introductions of fixed defects (CacheParams::test_*).
enum class Mutation {
	kNone,
	kDefect2,	// test_writeback_ignores_inflight
	kDefect3,	// test_around_ignores_inflight
	kDefect4,	// test_wake_only_on_writeback
	// Crash-protocol canaries (the crash checks must see them too):
	kSkipDataFlush,		// test_skip_data_flush (pmem, arm64/contract)
	kFlushBeforeDataWait,	// test_flush_before_data_wait (SSD)
};

const char *mode_name(Mode m);
const char *mutation_name(Mutation m);
bool parse_mode(const std::string &s, Mode *m);
bool parse_mutation(const std::string &s, Mutation *m);

struct RunOptions {
	Mode mode = Mode::kPmem;
	Mutation mutation = Mutation::kNone;
	uint64_t seed = 1;
	uint64_t ops = 20000;
};

struct RunResult {
	bool failed = false;
	std::string violation;	// the first violation
	uint64_t failed_at = 0;	// 1-based index of the operation that failed
	uint64_t ops = 0;	// operations run
	std::string setup;	// the run's parameters
	std::string trace;	// the operations leading to the failure
	// What the run exercised.
	uint64_t writes = 0, reads = 0, discards = 0, flushes = 0, commits = 0;
	uint64_t writeback_runs = 0, writeback_errors = 0, arounds = 0;
	uint64_t blocked = 0, wakeups = 0, crashes = 0, resumes = 0, reloads = 0;
	uint64_t flush_messages = 0, errors = 0;
	// pmem bios: data segments of write bios, refill() calls (writes and
	// reads), write calls that stopped with WC_IO_NOSPACE mid-bio.
	uint64_t segments = 0, refills = 0, nospace_mid_bio = 0;
};

RunResult run_model(const RunOptions &opt);

// A seed from the clock, mixed (for fresh CI seeds).
uint64_t fresh_seed();
// The seed of run i of a series that starts at `base`.
uint64_t series_seed(uint64_t base, uint64_t i);

} // namespace wc::model
