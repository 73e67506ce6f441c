// SPDX-License-Identifier: GPL-2.0
// The randomized model checker (model/checker.h) in CI:
//
//   ModelCheck.*/Pmem_N, Ssd_N   fresh (time-seeded, printed) runs, about
//                                1M operations per mode over the shards
//                                (ctest runs the shards in parallel);
//   ModelSelfTest.*              each of three re-introduced defects
//                                (CacheParams::test_*) must make the checker
//                                fail within a budget, with the violation
//                                that defect causes; so must two seeded
//                                commit-protocol bugs (the crash checks);
//   ModelCheck.DISABLED_Long     long runs (scripts/model-check.sh).
//
// Environment:
//   WC_MODEL_SEED=S      replay: one run with seed S (decimal or 0x hex)
//                        in each selected test, instead of fresh seeds
//   WC_MODEL_OPS=N       operations: of the replayed run, or (without a
//                        seed) in total per test
//   WC_MODEL_RUN_OPS=N   operations per run (default 25000)
//   WC_MODEL_MODE=pmem|ssd, WC_MODEL_MUTATE=none|defect2|defect3|defect4|
//                        skip-data-flush|flush-before-data-wait,
//   WC_MODEL_SECONDS=T   DISABLED_Long only (mode default both, no
//                        mutation; T: stop starting runs after T seconds)
//   WC_MODEL_KEEP_GOING=1  report a failed run and go on with the next
// The arm64 build (qemu-user) defines WC_MODEL_SMALL: a fraction of the
// operations.
#include "model/checker.h"
#include "platform_user.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

using namespace wc::model;

namespace {

#ifdef WC_MODEL_SMALL
constexpr uint64_t kOpsPerMode = 20000;		// qemu-user: ~15x slower
constexpr uint64_t kShardRunOps = 5000;
constexpr uint64_t kSelfTestBudget = 100000;
#else
constexpr uint64_t kOpsPerMode = 1000000;
constexpr uint64_t kShardRunOps = 25000;
constexpr uint64_t kSelfTestBudget = 400000;
#endif
// Self-test runs are short: more parameter sets, some of which cannot
// show a given defect (defect 3 needs cleaner, metadata_only or a full
// SSD cache).
constexpr uint64_t kSelfTestRunOps = 5000;
constexpr int kShards = 4;

bool env_u64(const char *name, uint64_t *out)
{
	const char *v = std::getenv(name);
	if (!v || !*v)
		return false;
	char *end = nullptr;
	*out = std::strtoull(v, &end, 0);
	return end && *end == '\0';
}

std::string env_str(const char *name, const char *dflt)
{
	const char *v = std::getenv(name);
	return v && *v ? v : dflt;
}

std::string replay_command(const RunOptions &o)
{
	char buf[256];
	std::snprintf(buf, sizeof(buf),
		      "scripts/model-check.sh --mode %s --seed 0x%016llx --ops %llu%s%s",
		      mode_name(o.mode), (unsigned long long)o.seed, (unsigned long long)o.ops,
		      o.mutation == Mutation::kNone ? "" : " --mutate ",
		      o.mutation == Mutation::kNone ? "" : mutation_name(o.mutation));
	return buf;
}

std::string report(const RunOptions &o, const RunResult &r)
{
	std::string s = "model checker violation at operation " + std::to_string(r.failed_at) +
			" of " + std::to_string(o.ops) + ":\n  " + r.violation + "\n  run: " +
			r.setup + "\n  replay: " + replay_command(o) +
			"\n  last operations:\n" + r.trace;
	return s;
}

struct Totals {
	uint64_t runs = 0, ops = 0, crashes = 0, reloads = 0, resumes = 0, blocked = 0,
		 wakeups = 0, arounds = 0, wb_runs = 0, wb_errors = 0, errors = 0, flushes = 0,
		 segments = 0, refills = 0, nospace_mid_bio = 0;
	void add(const RunResult &r)
	{
		runs++;
		ops += r.ops;
		crashes += r.crashes;
		reloads += r.reloads;
		resumes += r.resumes;
		blocked += r.blocked;
		wakeups += r.wakeups;
		arounds += r.arounds;
		wb_runs += r.writeback_runs;
		wb_errors += r.writeback_errors;
		errors += r.errors;
		flushes += r.flush_messages;
		segments += r.segments;
		refills += r.refills;
		nospace_mid_bio += r.nospace_mid_bio;
	}
	void print(const char *what, double secs) const
	{
		std::printf("[ model ] %s: %llu runs, %llu ops in %.1f s; %llu crashes, %llu reloads, "
			    "%llu resumes, %llu flush messages, %llu writeback runs (%llu failed), "
			    "%llu write-around blocks, %llu blocked writes (%llu mid-bio), %llu wake-ups, "
			    "%llu errors; pmem bios: %llu write segments, %llu refills\n",
			    what, (unsigned long long)runs, (unsigned long long)ops, secs,
			    (unsigned long long)crashes, (unsigned long long)reloads,
			    (unsigned long long)resumes, (unsigned long long)flushes,
			    (unsigned long long)wb_runs, (unsigned long long)wb_errors,
			    (unsigned long long)arounds, (unsigned long long)blocked,
			    (unsigned long long)nospace_mid_bio, (unsigned long long)wakeups,
			    (unsigned long long)errors, (unsigned long long)segments,
			    (unsigned long long)refills);
	}
};

double since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs of `run_ops` until `total` operations (or `seconds`); stops at the
// first violation, which it returns in *bad (WC_MODEL_KEEP_GOING: reports
// each and goes on).
bool run_series(Mode mode, Mutation mut, uint64_t base, uint64_t total, uint64_t run_ops,
		double seconds, const char *what, RunOptions *bad, RunResult *bad_result)
{
	auto t0 = std::chrono::steady_clock::now();
	Totals t;
	uint64_t keep = 0, failures = 0;
	bool keep_going = env_u64("WC_MODEL_KEEP_GOING", &keep) && keep;
	for (uint64_t i = 0; t.ops < total; i++) {
		if (seconds > 0 && since(t0) > seconds)
			break;
		RunOptions o;
		o.mode = mode;
		o.mutation = mut;
		o.seed = series_seed(base, i);
		o.ops = std::min(run_ops, total - t.ops);
		RunResult r = run_model(o);
		t.add(r);
		if (!r.failed)
			continue;
		if (bad_result->violation.empty()) {
			*bad = o;
			*bad_result = r;
		}
		if (!keep_going) {
			t.print(what, since(t0));
			return false;
		}
		failures++;
		std::printf("%s\n", report(o, r).c_str());
		std::fflush(stdout);
	}
	t.print(what, since(t0));
	if (failures)
		std::printf("[ model ] %s: %llu failed runs\n", what, (unsigned long long)failures);
	return failures == 0;
}

void check_mode(Mode mode, int shard)
{
	uint64_t seed, ops;
	if (env_u64("WC_MODEL_SEED", &seed)) {
		RunOptions o;
		o.mode = mode;
		o.seed = seed;
		o.ops = env_u64("WC_MODEL_OPS", &ops) ? ops : kShardRunOps;
		std::printf("[ model ] replay %s\n", replay_command(o).c_str());
		RunResult r = run_model(o);
		if (r.failed)
			FAIL() << report(o, r);
		return;
	}
	uint64_t total = env_u64("WC_MODEL_OPS", &ops) ? ops : kOpsPerMode / kShards;
	uint64_t run_ops = env_u64("WC_MODEL_RUN_OPS", &ops) ? ops : kShardRunOps;
	uint64_t base = fresh_seed();
	std::printf("[ model ] %s shard %d: base seed 0x%016llx (runs: series_seed(base, i))\n",
		    mode_name(mode), shard, (unsigned long long)base);
	RunOptions bad;
	RunResult r;
	std::string what = std::string(mode_name(mode)) + " shard " + std::to_string(shard);
	if (!run_series(mode, Mutation::kNone, base, total, run_ops, 0, what.c_str(), &bad, &r))
		FAIL() << report(bad, r);
}

struct Shard {
	Mode mode;
	int shard;
};

void PrintTo(const Shard &s, std::ostream *os)
{
	*os << mode_name(s.mode) << " shard " << s.shard;
}

class ModelCheck : public ::testing::TestWithParam<Shard> {};

TEST_P(ModelCheck, RandomOperationsAgainstTheModel)
{
	check_mode(GetParam().mode, GetParam().shard);
}

std::vector<Shard> shards()
{
	std::vector<Shard> v;
	for (Mode m : {Mode::kPmem, Mode::kSsd})
		for (int i = 0; i < kShards; i++)
			v.push_back({m, i});
	return v;
}

INSTANTIATE_TEST_SUITE_P(Modes, ModelCheck, ::testing::ValuesIn(shards()),
			 [](const auto &info) {
				 return std::string(info.param.mode == Mode::kPmem ? "Pmem_" : "Ssd_") +
					std::to_string(info.param.shard);
			 });

// ---- self-test: the checker catches each re-introduced defect ------------

struct SelfTest {
	Mutation mutation;
	Mode mode;
	// The violations that defect causes (any of them).
	std::vector<std::string> expect;
};

void PrintTo(const SelfTest &t, std::ostream *os)
{
	*os << mutation_name(t.mutation) << " in " << mode_name(t.mode) << " mode";
}

class ModelSelfTest : public ::testing::TestWithParam<SelfTest> {};

TEST_P(ModelSelfTest, CatchesTheDefect)
{
	const SelfTest &p = GetParam();
	uint64_t seed, ops;
	bool replay = env_u64("WC_MODEL_SEED", &seed);
	uint64_t budget = env_u64("WC_MODEL_OPS", &ops) ? ops : kSelfTestBudget;
	uint64_t run_ops = env_u64("WC_MODEL_RUN_OPS", &ops) ? ops : kSelfTestRunOps;
	uint64_t base = replay ? seed : fresh_seed();
	if (replay)
		run_ops = budget;
	std::printf("[ model ] self-test %s/%s: base seed 0x%016llx\n", mutation_name(p.mutation),
		    mode_name(p.mode), (unsigned long long)base);
	auto t0 = std::chrono::steady_clock::now();
	uint64_t done_ops = 0;
	for (uint64_t i = 0; done_ops < budget; i++) {
		RunOptions o;
		o.mode = p.mode;
		o.mutation = p.mutation;
		o.seed = replay ? seed : series_seed(base, i);
		o.ops = std::min(run_ops, budget - done_ops);
		RunResult r = run_model(o);
		if (!r.failed) {
			done_ops += r.ops;
			continue;
		}
		done_ops += r.failed_at;
		std::printf("[ model ] self-test %s/%s: caught after %llu operations (%llu runs, "
			    "%.2f s): %s\n  replay: %s\n",
			    mutation_name(p.mutation), mode_name(p.mode), (unsigned long long)done_ops,
			    (unsigned long long)(i + 1), since(t0), r.violation.c_str(),
			    replay_command(o).c_str());
		bool expected = false;
		for (auto &e : p.expect)
			expected = expected || r.violation.find(e) != std::string::npos;
		EXPECT_TRUE(expected) << "the defect was caught, but not as expected:\n"
				      << report(o, r);
		wc_test_log_take();
		return;
	}
	FAIL() << "the checker did not catch " << mutation_name(p.mutation) << " in "
	       << mode_name(p.mode) << " mode within " << budget << " operations (base seed 0x"
	       << std::hex << base << ")";
}

// Defects 2 and 3 put two writes of one origin block in flight (seen when
// the second is issued); either can also show first as stale data: with
// defect 2 a second run can be handed out once the first has landed but
// not completed, and completing them in the other order leaves the older
// version on media; with defect 3 a write-around is lost to the older
// version the cache still holds (a read, or a crash, returns it). Defect 4
// leaves a writer asleep with its condition true.
const std::vector<std::string> kRaceOrStale = {"two writes to origin block",
					       "the newest acknowledged write is",
					       "a durable write was lost"};
const std::vector<std::string> kLostWake = {"lost wake-up"};
// The crash-protocol canaries: a crash image loses or tears committed data.
const std::vector<std::string> kCrashLoss = {"after the crash"};

INSTANTIATE_TEST_SUITE_P(
	Defects, ModelSelfTest,
	::testing::Values(SelfTest{Mutation::kDefect2, Mode::kPmem, kRaceOrStale},
			  SelfTest{Mutation::kDefect2, Mode::kSsd, kRaceOrStale},
			  SelfTest{Mutation::kDefect3, Mode::kPmem, kRaceOrStale},
			  SelfTest{Mutation::kDefect3, Mode::kSsd, kRaceOrStale},
			  SelfTest{Mutation::kDefect4, Mode::kPmem, kLostWake},
			  SelfTest{Mutation::kDefect4, Mode::kSsd, kLostWake},
			  SelfTest{Mutation::kSkipDataFlush, Mode::kPmem, kCrashLoss},
			  SelfTest{Mutation::kFlushBeforeDataWait, Mode::kSsd, kCrashLoss}),
	[](const auto &info) {
		std::string n = mutation_name(info.param.mutation);
		for (char &c : n)
			if (c == '-')
				c = '_';
		return n + "_" + mode_name(info.param.mode);
	});

// ---- long runs: scripts/model-check.sh -----------------------------------

TEST(ModelCheck, DISABLED_Long)
{
	std::string mode_s = env_str("WC_MODEL_MODE", "both");
	Mutation mut = Mutation::kNone;
	ASSERT_TRUE(parse_mutation(env_str("WC_MODEL_MUTATE", "none"), &mut))
		<< "WC_MODEL_MUTATE: none, defect2, defect3, defect4, skip-data-flush or "
		   "flush-before-data-wait";
	std::vector<Mode> modes;
	Mode m;
	if (mode_s == "both")
		modes = {Mode::kPmem, Mode::kSsd};
	else if (parse_mode(mode_s, &m))
		modes = {m};
	else
		FAIL() << "WC_MODEL_MODE: pmem, ssd or both";
	uint64_t seed, ops, run_ops, secs = 0;
	bool replay = env_u64("WC_MODEL_SEED", &seed);
	uint64_t total = env_u64("WC_MODEL_OPS", &ops) ? ops : 1000000;
	if (!env_u64("WC_MODEL_RUN_OPS", &run_ops))
		run_ops = replay ? total : kShardRunOps;
	env_u64("WC_MODEL_SECONDS", &secs);
	for (Mode mode : modes) {
		uint64_t base = replay ? seed : fresh_seed();
		std::printf("[ model ] long run %s%s%s: %s seed 0x%016llx, %llu operations\n",
			    mode_name(mode), mut == Mutation::kNone ? "" : " mutation ",
			    mut == Mutation::kNone ? "" : mutation_name(mut),
			    replay ? "replaying" : "base", (unsigned long long)base,
			    (unsigned long long)total);
		RunOptions bad;
		RunResult r;
		bool ok;
		if (replay) {
			bad.mode = mode;
			bad.mutation = mut;
			bad.seed = seed;
			bad.ops = total;
			auto t0 = std::chrono::steady_clock::now();
			r = run_model(bad);
			Totals t;
			t.add(r);
			t.print("replay", since(t0));
			ok = !r.failed;
		} else {
			ok = run_series(mode, mut, base, total, run_ops, double(secs), mode_name(mode),
					&bad, &r);
		}
		if (!ok)
			ADD_FAILURE() << report(bad, r);
	}
}

} // namespace
