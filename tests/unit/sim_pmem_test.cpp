// SPDX-License-Identifier: GPL-2.0
// The simulated pmem used by the crash-consistency tests: the persistence
// rules of each model, crash images against a brute-force reference, the
// event hook, fault injection, and how many crash images per second it makes.
#include "sim/sim_pmem.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using wc::sim::Model;
using wc::sim::SimPmem;
using Pick = SimPmem::Pick;

namespace {

constexpr uint64_t kA = 0x1111111111111111ull;
constexpr uint64_t kB = 0x2222222222222222ull;
constexpr uint64_t kC = 0x3333333333333333ull;

uint64_t word_at(const std::vector<uint8_t> &img, size_t off)
{
	uint64_t v;
	std::memcpy(&v, img.data() + off, sizeof(v));
	return v;
}

uint64_t word_at(const SimPmem &p, size_t off)
{
	uint64_t v;
	std::memcpy(&v, p.base() + off, sizeof(v));
	return v;
}

uint64_t *wptr(SimPmem &p, size_t off)
{
	return reinterpret_cast<uint64_t *>(p.base() + off);
}

std::vector<uint8_t> image(const SimPmem &p, Pick pick, uint64_t seed = 1)
{
	std::mt19937_64 rng(seed);
	std::vector<uint8_t> img;
	p.crash_image(pick, rng, img);
	return img;
}

uint64_t oldest(const SimPmem &p, size_t off)
{
	return word_at(image(p, Pick::Oldest), off);
}

uint64_t newest(const SimPmem &p, size_t off)
{
	return word_at(image(p, Pick::Newest), off);
}

// Copies one 8-byte value into a word through memcpy (not assign).
void copy_word(SimPmem &p, size_t off, uint64_t v)
{
	p.memcpy(p.base() + off, &v, sizeof(v));
}

std::string model_name(Model m)
{
	switch (m) {
	case Model::X86:
		return "X86";
	case Model::Arm64:
		return "Arm64";
	case Model::Contract:
		return "Contract";
	}
	return "?";
}

struct ModelName {
	std::string operator()(const testing::TestParamInfo<Model> &i) const
	{
		return model_name(i.param);
	}
};

class AllModels : public testing::TestWithParam<Model> {};
INSTANTIATE_TEST_SUITE_P(Sim, AllModels,
			 testing::Values(Model::X86, Model::Arm64,
					 Model::Contract),
			 ModelName());

// Models where memcpy leaves data in the cache until flush().
class CachedCopyModels : public testing::TestWithParam<Model> {};
INSTANTIATE_TEST_SUITE_P(Sim, CachedCopyModels,
			 testing::Values(Model::Arm64, Model::Contract),
			 ModelName());

} // namespace

TEST_P(AllModels, AssignIsDurableOnlyAfterCommit)
{
	SimPmem p(4096, GetParam());
	p.assign(wptr(p, 128), kA);
	EXPECT_EQ(word_at(p, 128), kA); // loads see it at once
	EXPECT_EQ(oldest(p, 128), 0u);  // may not have reached media
	EXPECT_EQ(newest(p, 128), kA);  // may have
	EXPECT_EQ(p.uncertain_words(), 1u);
	p.commit();
	EXPECT_EQ(oldest(p, 128), kA);
	EXPECT_EQ(newest(p, 128), kA);
	EXPECT_EQ(p.uncertain_words(), 0u);
	EXPECT_EQ(p.history_size(), 0u);

	p.assign(wptr(p, 128), kB);
	EXPECT_EQ(oldest(p, 128), kA);
	EXPECT_EQ(newest(p, 128), kB);
	p.commit();
	EXPECT_EQ(oldest(p, 128), kB);
	EXPECT_TRUE(p.cpu_view_consistent());
}

TEST(SimX86, MemcpyAndCommitAreDurableWithoutFlush)
{
	// Both copy paths: NT stores (< 768 bytes) and cached+clflushopt.
	for (size_t n : {size_t(256), size_t(1024), size_t(777), size_t(5)}) {
		SCOPED_TRACE(n);
		SimPmem p(8192, Model::X86);
		std::vector<uint8_t> src(n);
		for (size_t i = 0; i < n; i++)
			src[i] = static_cast<uint8_t>(i * 7 + 1);
		const size_t off = 3; // unaligned head and tail
		p.memcpy(p.base() + off, src.data(), n);
		std::vector<uint8_t> zero(n, 0);
		auto before = image(p, Pick::Oldest);
		EXPECT_TRUE(std::equal(zero.begin(), zero.end(),
				       before.begin() + off));
		p.commit();
		auto img = image(p, Pick::Oldest);
		EXPECT_TRUE(std::equal(src.begin(), src.end(), img.begin() + off));
		EXPECT_EQ(img[off - 1], 0);
		EXPECT_EQ(img[off + n], 0);
		EXPECT_EQ(p.uncertain_words(), 0u);
	}
}

TEST_P(CachedCopyModels, MemcpyNeedsFlushBeforeCommit)
{
	SimPmem p(8192, GetParam());
	std::vector<uint8_t> src(512, 0x5a);
	p.memcpy(p.base() + 1024, src.data(), src.size());
	p.commit(); // no flush: nothing is guaranteed
	for (size_t off = 1024; off < 1024 + 512; off += 8) {
		EXPECT_EQ(oldest(p, off), 0u) << off;
		EXPECT_EQ(newest(p, off), 0x5a5a5a5a5a5a5a5aull) << off;
	}
	EXPECT_EQ(p.uncertain_words(), 64u);
	p.flush(p.base() + 1024, src.size());
	EXPECT_EQ(oldest(p, 1024), 0u); // flushed but not fenced
	p.commit();
	for (size_t off = 1024; off < 1024 + 512; off += 8)
		EXPECT_EQ(oldest(p, off), 0x5a5a5a5a5a5a5a5aull) << off;
	EXPECT_EQ(p.uncertain_words(), 0u);
}

TEST(SimArm64, FlushCoversWholeLineButContractOnlyTheRange)
{
	for (Model m : {Model::X86, Model::Arm64, Model::Contract}) {
		SCOPED_TRACE(model_name(m));
		SimPmem p(4096, m);
		std::vector<uint8_t> src(64, 0x77);
		p.memcpy(p.base() + 64, src.data(), 64);
		p.flush(p.base() + 64, 8);
		p.commit();
		EXPECT_EQ(oldest(p, 64), 0x7777777777777777ull);
		uint64_t rest = m == Model::Contract ? 0 : 0x7777777777777777ull;
		for (size_t off = 72; off < 128; off += 8)
			EXPECT_EQ(oldest(p, off), rest) << off;
	}
}

TEST_P(CachedCopyModels, StoreAfterFlushIsNotCoveredByIt)
{
	SimPmem p(4096, GetParam());
	copy_word(p, 256, kA);
	p.flush(p.base() + 256, 8);
	copy_word(p, 256, kB); // after the flush, before the fence
	p.commit();
	EXPECT_EQ(oldest(p, 256), kA);
	EXPECT_EQ(newest(p, 256), kB);
	auto u = p.uncertain();
	ASSERT_EQ(u.size(), 1u);
	EXPECT_EQ(u[0].offset, 256u);
	EXPECT_EQ(u[0].values, (std::vector<uint64_t>{kA, kB}));
	EXPECT_EQ(u[0].current, kB);
	p.flush(p.base() + 256, 8);
	p.commit();
	EXPECT_EQ(oldest(p, 256), kB);
	EXPECT_EQ(p.uncertain_words(), 0u);
}

TEST_P(CachedCopyModels, FenceCompletesOnlyEarlierFlushes)
{
	SimPmem p(4096, GetParam());
	copy_word(p, 8, kA);
	p.commit();
	p.flush(p.base() + 8, 8); // after the fence: waits for the next one
	EXPECT_EQ(oldest(p, 8), 0u);
	p.commit();
	EXPECT_EQ(oldest(p, 8), kA);
}

TEST_P(CachedCopyModels, PendingValueThenCachedStore)
{
	// assign's value is pending (NT store, or store + DC CVAP); a cached
	// store to the same word after it is not covered by the next commit.
	SimPmem p(4096, GetParam());
	p.assign(wptr(p, 16), kA);
	copy_word(p, 16, kB);
	p.commit();
	EXPECT_EQ(oldest(p, 16), kA);
	EXPECT_EQ(newest(p, 16), kB);
	EXPECT_EQ(p.uncertain()[0].values, (std::vector<uint64_t>{kA, kB}));
}

TEST(SimX86, CachedStoreAfterNtStoreInsideLargeCopy)
{
	// assign (NT, pending) then the >= 768-byte copy's cached store to the
	// same word: before that line's clflushopt the word may persist as any
	// of its three values; the flush then covers the cached value.
	SimPmem p(4096, Model::X86);
	p.assign(wptr(p, 0), kA);
	std::vector<uint64_t> src(1024 / 8, kB);
	int checked = 0;
	p.set_event_hook([&](uint64_t ev) {
		if (ev == 2) { // the copy's store to word 0
			auto u = p.uncertain();
			ASSERT_EQ(u.size(), 1u);
			EXPECT_EQ(u[0].values,
				  (std::vector<uint64_t>{0, kA, kB}));
			checked++;
		}
		if (ev == 10) { // clflushopt of line 0
			EXPECT_EQ(p.last_event_kind(),
				  SimPmem::EventKind::Flush);
			EXPECT_EQ(p.last_event_offset(), 0u);
			checked++;
		}
	});
	p.memcpy(p.base(), src.data(), 1024);
	p.set_event_hook(nullptr);
	EXPECT_EQ(checked, 2);
	p.commit();
	EXPECT_EQ(oldest(p, 0), kB);
	EXPECT_EQ(p.uncertain_words(), 0u);
}

TEST_P(AllModels, HookFiresOncePerPrimitive)
{
	Model m = GetParam();
	SimPmem p(8192, m);
	std::vector<uint64_t> seen;
	p.set_event_hook([&](uint64_t ev) {
		seen.push_back(ev);
		EXPECT_EQ(ev, p.events());
	});
	std::vector<uint8_t> src(2048, 0x42);
	auto count = [&](auto &&op) {
		uint64_t before = p.events();
		op();
		return p.events() - before;
	};
	bool x86 = m == Model::X86, arm = m == Model::Arm64;
	EXPECT_EQ(count([&] { p.assign(wptr(p, 0), 1); }), arm ? 2u : 1u);
	EXPECT_EQ(count([&] { p.commit(); }), 1u);
	EXPECT_EQ(count([&] { p.flush(p.base(), 64); }), x86 ? 0u : 1u);
	EXPECT_EQ(count([&] { p.flush(p.base() + 60, 8); }), x86 ? 0u : 2u);
	EXPECT_EQ(count([&] { p.memcpy(p.base() + 64, src.data(), 64); }),
		  8u);
	EXPECT_EQ(count([&] { p.memcpy(p.base() + 100, src.data(), 3); }),
		  1u);
	// 1024 bytes at offset 8: 128 words over 17 lines (x86 flushes each).
	EXPECT_EQ(count([&] { p.memcpy(p.base() + 8, src.data(), 1024); }),
		  x86 ? 128u + 17u : 128u);
	EXPECT_EQ(count([&] { p.memcpy(p.base(), src.data(), 0); }), 0u);
	EXPECT_EQ(count([&] { p.flush(p.base(), 0); }), 0u);
	uint8_t buf[64];
	EXPECT_EQ(count([&] { EXPECT_TRUE(p.read(buf, p.base(), 64)); }), 0u);
	ASSERT_EQ(seen.size(), p.events());
	for (size_t i = 0; i < seen.size(); i++)
		EXPECT_EQ(seen[i], i + 1);
}

TEST_P(AllModels, CrashImageInsideHookSeesEachStore)
{
	SimPmem p(4096, GetParam());
	std::vector<uint64_t> src(8, kC);
	std::mt19937_64 rng(7);
	std::vector<uint8_t> img;
	uint64_t calls = 0;
	p.set_event_hook([&](uint64_t ev) {
		calls++;
		p.crash_image(Pick::Newest, rng, img);
		for (size_t w = 0; w < 8; w++)
			EXPECT_EQ(word_at(img, 512 + w * 8), w < ev ? kC : 0)
				<< "event " << ev << " word " << w;
		p.crash_image(Pick::Oldest, rng, img);
		for (size_t w = 0; w < 8; w++)
			EXPECT_EQ(word_at(img, 512 + w * 8), 0u);
		EXPECT_EQ(p.uncertain_words(), ev);
		EXPECT_TRUE(p.cpu_view_consistent());
	});
	p.memcpy(p.base() + 512, src.data(), 64);
	EXPECT_EQ(calls, 8u);
	p.set_event_hook(nullptr);

	// The commit's fence: inside the hook the fence has taken effect.
	p.flush(p.base() + 512, 64);
	bool fenced = false;
	p.set_event_hook([&](uint64_t) {
		if (p.last_event_kind() != SimPmem::EventKind::Fence)
			return;
		fenced = true;
		p.crash_image(Pick::Oldest, rng, img);
		EXPECT_EQ(word_at(img, 512), kC);
		EXPECT_EQ(p.uncertain_words(), 0u);
	});
	p.commit();
	EXPECT_TRUE(fenced);
}

TEST(SimArm64, AssignIsStoreThenFlushOfItsLine)
{
	SimPmem p(4096, Model::Arm64);
	copy_word(p, 64 + 8, kB); // same line, cached, never flushed by us
	std::vector<SimPmem::EventKind> kinds;
	p.set_event_hook([&](uint64_t ev) {
		kinds.push_back(p.last_event_kind());
		EXPECT_EQ(oldest(p, 64), 0u) << ev; // not fenced yet
		EXPECT_EQ(newest(p, 64), kA) << ev;
	});
	p.assign(wptr(p, 64), kA);
	EXPECT_EQ(kinds, (std::vector<SimPmem::EventKind>{
				 SimPmem::EventKind::Store,
				 SimPmem::EventKind::Flush}));
	p.set_event_hook(nullptr);
	p.commit();
	EXPECT_EQ(oldest(p, 64), kA);
	// DC CVAP wrote back the whole line, so the neighbour is durable too
	// (the Contract model would not promise that).
	EXPECT_EQ(oldest(p, 72), kB);
}

namespace {

// Brute-force reference: the trace of primitives each model issues, and
// per word the possible persisted values derived from the whole trace
// prefix (which store each flush covered, whether a fence came later).
class Reference {
public:
	Reference(size_t bytes, Model m)
		: m_(m), cur_(bytes / 8, 0), touches_(bytes / 8)
	{
	}

	void memcpy(size_t off, const uint8_t *src, size_t n)
	{
		if (m_ != Model::X86) {
			stores(off, src, n, false);
			return;
		}
		if (n < 768) {
			stores(off, src, n, true);
			return;
		}
		for (size_t a = off; a < off + n;) {
			size_t b = std::min(off + n, (a / 64 + 1) * 64);
			stores(a, src + (a - off), b - a, false);
			flush_words(a / 64 * 8, a / 64 * 8 + 8);
			a = b;
		}
	}

	void flush(size_t off, size_t n)
	{
		if (m_ == Model::X86)
			return;
		for (size_t a = off; a < off + n;) {
			size_t b = std::min(off + n, (a / 64 + 1) * 64);
			if (m_ == Model::Arm64)
				flush_words(a / 64 * 8, a / 64 * 8 + 8);
			else
				flush_words(a / 8, (b + 7) / 8);
			a = b;
		}
	}

	void commit()
	{
		fences_.push_back(trace_.size());
		trace_.push_back({Prim::Fence, 0, 0, 0, false});
	}

	void assign(size_t off, uint64_t v)
	{
		store(off / 8, v, m_ != Model::Arm64);
		if (m_ == Model::Arm64)
			flush_words(off / 64 * 8, off / 64 * 8 + 8);
	}

	size_t events() const { return trace_.size(); }
	size_t words() const { return cur_.size(); }

	struct Allowed {
		uint64_t guaranteed, current;
		std::set<uint64_t> values;
	};

	// Power fails after the first t primitives.
	Allowed allowed(size_t w, size_t t) const
	{
		const ptrdiff_t kNone = -2;
		std::vector<uint64_t> vals{0};     // the region starts zeroed
		std::vector<ptrdiff_t> covered{-1}; // initial value: durable
		for (size_t pos : touches_[w]) {
			if (pos >= t)
				break;
			const Prim &p = trace_[pos];
			if (p.kind == Prim::Store) {
				vals.push_back(p.v);
				covered.push_back(p.nt ? ptrdiff_t(pos) : kNone);
			} else if (covered.back() == kNone) {
				// A flush covers the value current at the flush.
				covered.back() = ptrdiff_t(pos);
			}
		}
		size_t g = 0;
		for (size_t i = 1; i < vals.size(); i++) {
			if (covered[i] == kNone)
				continue;
			auto f = std::upper_bound(fences_.begin(), fences_.end(),
						  size_t(covered[i]));
			if (f != fences_.end() && *f < t)
				g = i;
		}
		return {vals[g], vals.back(),
			std::set<uint64_t>(vals.begin() + ptrdiff_t(g),
					   vals.end())};
	}

private:
	struct Prim {
		enum Kind { Store, Flush, Fence } kind;
		size_t w0, w1; // words affected: [w0, w1)
		uint64_t v;
		bool nt;
	};

	void store(size_t w, uint64_t v, bool nt)
	{
		cur_[w] = v;
		touches_[w].push_back(trace_.size());
		trace_.push_back({Prim::Store, w, w + 1, v, nt});
	}

	void stores(size_t off, const uint8_t *src, size_t n, bool nt)
	{
		for (size_t w = off / 8; w * 8 < off + n; w++) {
			uint8_t bytes[8];
			std::memcpy(bytes, &cur_[w], 8);
			for (size_t i = 0; i < 8; i++)
				if (w * 8 + i >= off && w * 8 + i < off + n)
					bytes[i] = src[w * 8 + i - off];
			uint64_t v;
			std::memcpy(&v, bytes, 8);
			store(w, v, nt);
		}
	}

	void flush_words(size_t w0, size_t w1)
	{
		w1 = std::min(w1, cur_.size());
		for (size_t w = w0; w < w1; w++)
			touches_[w].push_back(trace_.size());
		trace_.push_back({Prim::Flush, w0, w1, 0, false});
	}

	Model m_;
	std::vector<uint64_t> cur_;
	std::vector<Prim> trace_;
	std::vector<std::vector<size_t>> touches_; // per word: trace positions
	std::vector<size_t> fences_;
};

// Compares everything the simulator reports with the reference after t
// events.
void check_against(const SimPmem &p, const Reference &ref, size_t t,
		   std::mt19937_64 &rng)
{
	std::vector<uint8_t> old_img, new_img, img;
	p.crash_image(Pick::Oldest, rng, old_img);
	p.crash_image(Pick::Newest, rng, new_img);
	std::map<size_t, SimPmem::UncertainWord> unc;
	for (auto &u : p.uncertain())
		unc[u.offset] = u;
	std::vector<Reference::Allowed> allowed;
	size_t n_unc = 0;
	for (size_t w = 0; w < ref.words(); w++) {
		allowed.push_back(ref.allowed(w, t));
		const auto &a = allowed.back();
		size_t off = w * 8;
		EXPECT_EQ(word_at(old_img, off), a.guaranteed) << "word " << w;
		EXPECT_EQ(word_at(new_img, off), a.current) << "word " << w;
		EXPECT_EQ(word_at(p, off), a.current) << "word " << w;
		auto it = unc.find(off);
		if (a.values.size() > 1) {
			n_unc++;
			ASSERT_NE(it, unc.end()) << "word " << w;
			const auto &u = it->second;
			EXPECT_EQ(std::set<uint64_t>(u.values.begin(),
						     u.values.end()),
				  a.values)
				<< "word " << w;
			EXPECT_EQ(u.values.size(), a.values.size());
			EXPECT_EQ(u.values[0], a.guaranteed);
			EXPECT_EQ(u.current, a.current);
		} else {
			EXPECT_EQ(it, unc.end()) << "word " << w;
		}
	}
	EXPECT_EQ(p.uncertain_words(), n_unc);
	for (int k = 0; k < 4; k++) {
		p.crash_image(Pick::Random, rng, img);
		for (size_t w = 0; w < ref.words(); w++)
			EXPECT_TRUE(allowed[w].values.count(word_at(img, w * 8)))
				<< "word " << w << " value " << std::hex
				<< word_at(img, w * 8);
	}
}

} // namespace

TEST_P(AllModels, MatchesBruteForceReferenceAtEveryEvent)
{
	const size_t kBytes = 1024; // 16 lines: room for x86's large copies
	const uint8_t kAlphabet[] = {0x00, 0x11, 0x22};
	const uint64_t kValues[] = {0, 1, 2, kA, ~0ull};
	size_t total_events = 0;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		SCOPED_TRACE(seed);
		std::mt19937_64 prog(seed), rng(seed * 1000);
		SimPmem p(kBytes, GetParam());
		Reference ref(kBytes, GetParam());
		p.set_event_hook([&](uint64_t ev) {
			ASSERT_LE(ev, ref.events());
			if (!testing::Test::HasFailure())
				check_against(p, ref, ev, rng);
		});
		for (int op = 0; op < 50 && !HasFailure(); op++) {
			unsigned r = prog() % 100;
			if (r < 8) { // large copy
				size_t off = prog() % 200, n = 768 + prog() % (256 - off);
				std::vector<uint8_t> src(n, kAlphabet[prog() % 3]);
				ref.memcpy(off, src.data(), n);
				p.memcpy(p.base() + off, src.data(), n);
			} else if (r < 40) {
				size_t off = prog() % kBytes;
				size_t n = 1 + prog() % std::min<size_t>(kBytes - off, 100);
				std::vector<uint8_t> src(n, kAlphabet[prog() % 3]);
				if (prog() % 2)
					for (auto &b : src)
						b = kAlphabet[prog() % 3];
				ref.memcpy(off, src.data(), n);
				p.memcpy(p.base() + off, src.data(), n);
			} else if (r < 65) {
				size_t off = prog() % (kBytes / 8) * 8;
				uint64_t v = kValues[prog() % 5];
				ref.assign(off, v);
				p.assign(wptr(p, off), v);
			} else if (r < 82) {
				size_t off = prog() % kBytes;
				size_t n = 1 + prog() % std::min<size_t>(kBytes - off, 200);
				ref.flush(off, n);
				p.flush(p.base() + off, n);
			} else {
				ref.commit();
				p.commit();
			}
			ASSERT_EQ(p.events(), ref.events());
		}
		total_events += p.events();
	}
	std::printf("[   INFO   ] %zu events checked\n", total_events);
}

TEST_P(AllModels, RandomReachesEveryAllowedValue)
{
	Model m = GetParam();
	SimPmem p(4096, m);
	// Word 0 with four possible values, words 1..100 with two.
	if (m == Model::X86) {
		p.assign(wptr(p, 0), kA);
		p.assign(wptr(p, 0), kB);
		p.assign(wptr(p, 0), kC);
	} else {
		copy_word(p, 0, kA);
		copy_word(p, 0, kB);
		copy_word(p, 0, kC);
	}
	for (size_t w = 1; w <= 100; w++)
		copy_word(p, w * 8, w);
	ASSERT_EQ(p.uncertain_words(), 101u);
	std::mt19937_64 rng(42);
	std::vector<std::set<uint64_t>> seen(101);
	std::vector<uint8_t> img;
	for (int i = 0; i < 300; i++) {
		p.crash_image(Pick::Random, rng, img);
		for (size_t w = 0; w <= 100; w++)
			seen[w].insert(word_at(img, w * 8));
		for (size_t w = 101; w < 512; w++)
			ASSERT_EQ(word_at(img, w * 8), 0u);
	}
	EXPECT_EQ(seen[0], (std::set<uint64_t>{0, kA, kB, kC}));
	for (size_t w = 1; w <= 100; w++)
		EXPECT_EQ(seen[w], (std::set<uint64_t>{0, w})) << w;
}

TEST_P(AllModels, RandomBiasKnob)
{
	SimPmem p(4096, GetParam());
	for (size_t w = 0; w < 64; w++)
		p.assign(wptr(p, w * 8), kA + w);
	std::mt19937_64 rng(3);
	std::vector<uint8_t> img;
	p.set_random_bias(0.0);
	p.crash_image(Pick::Random, rng, img);
	EXPECT_EQ(img, image(p, Pick::Oldest));
	p.set_random_bias(1.0);
	p.crash_image(Pick::Random, rng, img);
	EXPECT_EQ(img, image(p, Pick::Newest));
	p.set_random_bias(0.1);
	size_t newer = 0;
	for (int i = 0; i < 100; i++) {
		p.crash_image(Pick::Random, rng, img);
		for (size_t w = 0; w < 64; w++)
			newer += word_at(img, w * 8) != 0;
	}
	EXPECT_GT(newer, 6400u * 5 / 100); // about 10%
	EXPECT_LT(newer, 6400u * 15 / 100);
}

TEST_P(AllModels, WordsNeverTear)
{
	SimPmem p(512, GetParam());
	p.load_image(std::vector<uint8_t>(512, 0xaa));
	std::mt19937_64 prog(5);
	for (int i = 0; i < 200; i++) {
		size_t w = prog() % 64;
		uint64_t v = (prog() % 2 ? 0x5555555555555555ull :
					   0x3333333333333333ull);
		if (prog() % 2)
			p.assign(wptr(p, w * 8), v);
		else
			copy_word(p, w * 8, v);
		if (prog() % 8 == 0)
			p.flush(p.base() + prog() % 256, 64);
		if (prog() % 16 == 0)
			p.commit();
	}
	ASSERT_GT(p.uncertain_words(), 0u);
	std::mt19937_64 rng(9);
	std::vector<uint8_t> img;
	for (int i = 0; i < 500; i++) {
		p.crash_image(Pick::Random, rng, img);
		for (size_t off = 0; off < 512; off += 8)
			for (size_t b = 1; b < 8; b++)
				ASSERT_EQ(img[off + b], img[off])
					<< "torn word at " << off;
	}

	// A partial-word copy is one store: the word is old or merged-new.
	SimPmem q(64, GetParam());
	q.load_image(std::vector<uint8_t>(64, 0xaa));
	const uint8_t five[5] = {1, 2, 3, 4, 5};
	q.memcpy(q.base() + 6, five, 5); // bytes 6..10: two words
	for (int i = 0; i < 100; i++) {
		q.crash_image(Pick::Random, rng, img);
		uint64_t w0 = word_at(img, 0), w1 = word_at(img, 8);
		EXPECT_TRUE(w0 == 0xaaaaaaaaaaaaaaaaull ||
			    w0 == word_at(q, 0));
		EXPECT_TRUE(w1 == 0xaaaaaaaaaaaaaaaaull ||
			    w1 == word_at(q, 8));
	}
}

TEST_P(AllModels, HistoriesStayBoundedAndCollapse)
{
	SimPmem p(4096, GetParam());
	// Many stores to one word without flush or fence: three values only.
	for (int i = 0; i < 1000; i++)
		copy_word(p, 8, kA * (1 + i % 3));
	EXPECT_LE(p.history_size(), 4u);
	ASSERT_EQ(p.uncertain().size(), 1u);
	EXPECT_EQ(p.uncertain()[0].values.size(), 4u); // 0, A, B, C
	std::vector<uint8_t> block(4096 - 64, 0x99);
	p.memcpy(p.base() + 64, block.data(), block.size());
	EXPECT_EQ(p.uncertain_words(), 1 + block.size() / 8);
	p.flush(p.base(), 4096);
	p.commit();
	EXPECT_EQ(p.uncertain_words(), 0u);
	EXPECT_EQ(p.history_size(), 0u);
	EXPECT_EQ(image(p, Pick::Oldest), image(p, Pick::Newest));
}

TEST_P(AllModels, LoadImageResets)
{
	SimPmem p(1024, GetParam());
	p.assign(wptr(p, 0), kA);
	copy_word(p, 8, kB);
	p.poison(512, 8);
	ASSERT_GT(p.uncertain_words(), 0u);
	std::vector<uint8_t> img(1024);
	for (size_t i = 0; i < img.size(); i++)
		img[i] = static_cast<uint8_t>(i);
	p.load_image(img);
	EXPECT_EQ(p.uncertain_words(), 0u);
	EXPECT_EQ(p.history_size(), 0u);
	EXPECT_EQ(p.events(), 0u);
	EXPECT_EQ(image(p, Pick::Oldest), img);
	EXPECT_EQ(image(p, Pick::Newest), img);
	EXPECT_EQ(image(p, Pick::Random), img);
	EXPECT_TRUE(std::equal(img.begin(), img.end(), p.base()));
	EXPECT_TRUE(p.cpu_view_consistent());
	uint8_t buf[16];
	EXPECT_TRUE(p.read(buf, p.base() + 508, 16)); // poison is gone
	// It works as a fresh region afterwards.
	p.assign(wptr(p, 0), kC);
	EXPECT_EQ(oldest(p, 0), word_at(img, 0));
	EXPECT_EQ(newest(p, 0), kC);
}

TEST_P(AllModels, CpuViewConsistentCatchesDirectStores)
{
	SimPmem p(1024, GetParam());
	p.assign(wptr(p, 0), kA);
	EXPECT_TRUE(p.cpu_view_consistent());
	p.base()[100] = 1; // bypasses the flush layer
	EXPECT_FALSE(p.cpu_view_consistent());
	p.load_image(std::vector<uint8_t>(1024, 0));
	EXPECT_TRUE(p.cpu_view_consistent());
	// Still caught after an API store overwrote the same word.
	*wptr(p, 200) = kB;
	p.assign(wptr(p, 200), kC);
	EXPECT_FALSE(p.cpu_view_consistent());
}

TEST_P(AllModels, PoisonMakesReadFail)
{
	SimPmem p(4096, GetParam());
	std::vector<uint8_t> src(256);
	for (size_t i = 0; i < src.size(); i++)
		src[i] = static_cast<uint8_t>(i + 1);
	p.memcpy(p.base() + 1024, src.data(), src.size());
	uint8_t buf[256];
	ASSERT_TRUE(p.read(buf, p.base() + 1024, 256));
	EXPECT_EQ(std::memcmp(buf, src.data(), 256), 0);

	p.poison(1024 + 130, 4); // line 1024+128..1024+191
	EXPECT_FALSE(p.read(buf, p.base() + 1024, 256));
	EXPECT_EQ(std::memcmp(buf, src.data(), 128), 0); // up to the bad line
	EXPECT_FALSE(p.read(buf, p.base() + 1024 + 191, 1));
	EXPECT_TRUE(p.read(buf, p.base() + 1024, 128));
	EXPECT_TRUE(p.read(buf, p.base() + 1024 + 192, 64));
	EXPECT_EQ(std::memcmp(buf, src.data() + 192, 64), 0);
	p.clear_poison();
	EXPECT_TRUE(p.read(buf, p.base() + 1024, 256));
}

TEST(SimPmemDeathTest, MisuseAborts)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(
		{
			SimPmem p(1024, Model::Arm64);
			p.set_event_hook([&](uint64_t) { p.commit(); });
			p.assign(wptr(p, 0), 1);
		},
		"commit called from the event hook");
	EXPECT_DEATH(
		{
			SimPmem p(1024, Model::X86);
			uint64_t v = 1;
			p.memcpy(p.base() + 1020, &v, 8);
		},
		"outside the pmem region");
	EXPECT_DEATH(
		{
			SimPmem p(1024, Model::X86);
			p.assign(reinterpret_cast<uint64_t *>(p.base() + 4), 1);
		},
		"unaligned");
}

TEST(SimPmemBench, CrashImagesPerSecond)
{
	// A few-hundred-KiB region like a small cache device: metadata words
	// assigned but not committed, plus data blocks copied but not flushed.
	const size_t kBytes = 256 * 1024;
	struct Case {
		const char *what;
		Model m;
		size_t meta_words, data_bytes;
		Pick pick;
	} cases[] = {
		{"x86   oldest, 64 uncertain", Model::X86, 64, 0, Pick::Oldest},
		{"x86   random, 64 uncertain", Model::X86, 64, 0, Pick::Random},
		{"arm64 random, 64+512 uncertain", Model::Arm64, 64, 4096,
		 Pick::Random},
		{"arm64 random, 64+8192 uncertain", Model::Arm64, 64, 65536,
		 Pick::Random},
	};
	std::vector<uint8_t> img;
	std::vector<uint8_t> data(65536, 0x6b);
	for (const Case &c : cases) {
		SimPmem p(kBytes, c.m);
		for (size_t w = 0; w < c.meta_words; w++)
			p.assign(wptr(p, 64 + w * 16), w + 1);
		p.memcpy(p.base() + 65536, data.data(), c.data_bytes);
		std::mt19937_64 rng(1);
		uint64_t n = 0;
		auto t0 = std::chrono::steady_clock::now();
		double secs = 0;
		do {
			for (int i = 0; i < 64; i++, n++)
				p.crash_image(c.pick, rng, img);
			secs = std::chrono::duration<double>(
				       std::chrono::steady_clock::now() - t0)
				       .count();
		} while (secs < 0.3);
		std::printf("[   INFO   ] %-34s %8.0f images/s (%zu KiB)\n",
			    c.what, n / secs, kBytes / 1024);
	}
	// The enumerator's inner loop: image, then load it for recovery.
	SimPmem a(kBytes, Model::Arm64), b(kBytes, Model::Arm64);
	for (size_t w = 0; w < 64; w++)
		a.assign(wptr(a, 64 + w * 16), w + 1);
	a.memcpy(a.base() + 65536, data.data(), 4096);
	std::mt19937_64 rng(1);
	uint64_t n = 0;
	auto t0 = std::chrono::steady_clock::now();
	double secs = 0;
	do {
		for (int i = 0; i < 64; i++, n++) {
			a.crash_image(Pick::Random, rng, img);
			b.load_image(img);
		}
		secs = std::chrono::duration<double>(
			       std::chrono::steady_clock::now() - t0)
			       .count();
	} while (secs < 0.3);
	std::printf("[   INFO   ] %-34s %8.0f images/s\n",
		    "arm64 random + load_image", n / secs);
}
