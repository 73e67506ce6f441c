// SPDX-License-Identifier: GPL-2.0
// src/core/bitmap.h: set/clear/test, counts, the searches (with the
// summary and without, with wraparound), against a std::vector<bool>
// reference.
#include "bitmap.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace wc;

namespace {

// A bitmap with its storage (and optionally a summary).
struct Owned {
	std::vector<uint64_t> words, summary;
	Bitmap bm;
	Owned(uint64_t bits, bool with_summary)
		: words(Bitmap::words_for(bits), 0xdeadbeefdeadbeefull),
		  summary(Bitmap::summary_words_for(bits), 0xdeadbeefdeadbeefull)
	{
		bm.attach(words.data(), bits, with_summary ? summary.data() : nullptr);
		bm.clear_all();
	}
};

uint64_t ref_next(const std::vector<bool> &ref, uint64_t i, bool want)
{
	for (; i < ref.size(); i++)
		if (ref[i] == want)
			return i;
	return ref.size();
}

uint64_t ref_next_wrap(const std::vector<bool> &ref, uint64_t i)
{
	uint64_t r = ref_next(ref, i, true);
	return r < ref.size() ? r : ref_next(ref, 0, true);
}

} // namespace

TEST(Bitmap, StorageSizes)
{
	EXPECT_EQ(Bitmap::words_for(0), 0u);
	EXPECT_EQ(Bitmap::words_for(1), 1u);
	EXPECT_EQ(Bitmap::words_for(64), 1u);
	EXPECT_EQ(Bitmap::words_for(65), 2u);
	EXPECT_EQ(Bitmap::summary_words_for(64 * 64), 1u);
	EXPECT_EQ(Bitmap::summary_words_for(64 * 64 + 1), 2u);
}

TEST(Bitmap, SetClearTestCount)
{
	for (bool summary : {false, true}) {
		Owned o(130, summary);
		Bitmap &b = o.bm;
		EXPECT_EQ(b.size(), 130u);
		EXPECT_EQ(b.count(), 0u);
		b.set(0);
		b.set(63);
		b.set(64);
		b.set(129);
		EXPECT_TRUE(b.test(0) && b.test(63) && b.test(64) && b.test(129));
		EXPECT_FALSE(b.test(1) || b.test(65) || b.test(128));
		EXPECT_EQ(b.count(), 4u);
		b.set(64);	// idempotent
		EXPECT_EQ(b.count(), 4u);
		b.clear(63);
		b.clear(62);	// already clear
		EXPECT_FALSE(b.test(63));
		EXPECT_EQ(b.count(), 3u);
		b.set_all();
		EXPECT_EQ(b.count(), 130u) << "no bits past the end";
		EXPECT_TRUE(b.consistent());
		EXPECT_EQ(o.words[2], (1ull << 2) - 1);
		b.clear_all();
		EXPECT_EQ(b.count(), 0u);
		EXPECT_EQ(b.find_next_set(0), 130u);
	}
}

TEST(Bitmap, FindNext)
{
	for (bool summary : {false, true}) {
		Owned o(300, summary);
		Bitmap &b = o.bm;
		EXPECT_EQ(b.find_next_set(0), 300u);
		EXPECT_EQ(b.find_next_clear(0), 0u);
		b.set(5);
		b.set(200);
		EXPECT_EQ(b.find_next_set(0), 5u);
		EXPECT_EQ(b.find_next_set(5), 5u);
		EXPECT_EQ(b.find_next_set(6), 200u);
		EXPECT_EQ(b.find_next_set(201), 300u);
		EXPECT_EQ(b.find_next_set(300), 300u);
		EXPECT_EQ(b.find_next_set(1000), 300u);
		b.set_all();
		EXPECT_EQ(b.find_next_clear(0), 300u) << "never past the end";
		EXPECT_EQ(b.find_next_clear(299), 300u);
		b.clear(70);
		EXPECT_EQ(b.find_next_clear(0), 70u);
		EXPECT_EQ(b.find_next_clear(71), 300u);
	}
}

TEST(Bitmap, FindNextWraps)
{
	for (bool summary : {false, true}) {
		Owned o(10000, summary);
		Bitmap &b = o.bm;
		EXPECT_EQ(b.find_next_set_wrap(0), 10000u) << "none set";
		EXPECT_EQ(b.find_next_set_wrap(9999), 10000u);
		b.set(17);
		EXPECT_EQ(b.find_next_set_wrap(0), 17u);
		EXPECT_EQ(b.find_next_set_wrap(17), 17u);
		EXPECT_EQ(b.find_next_set_wrap(18), 17u) << "wraps to the start";
		EXPECT_EQ(b.find_next_set_wrap(9999), 17u);
		b.set(9999);
		EXPECT_EQ(b.find_next_set_wrap(18), 9999u);
		b.set(4096 * 2 + 3);	// a later summary word
		EXPECT_EQ(b.find_next_set_wrap(18), 4096u * 2 + 3);
		b.clear(4096 * 2 + 3);
		b.clear(9999);
		EXPECT_EQ(b.find_next_set_wrap(18), 17u);
		b.clear(17);
		EXPECT_EQ(b.find_next_set_wrap(18), 10000u);
	}
}

// The summary stays exact under any sequence of operations: every search
// agrees with the reference, with and without the summary.
TEST(Bitmap, RandomOperationsMatchReference)
{
	std::mt19937_64 rng(1);
	for (uint64_t bits : {1ull, 63ull, 64ull, 65ull, 4095ull, 4096ull, 4097ull, 20000ull}) {
		Owned with(bits, true), without(bits, false);
		std::vector<bool> ref(bits);
		for (int step = 0; step < 20000; step++) {
			uint64_t i = rng() % bits;
			switch (rng() % 16) {
			case 0:
				if (rng() % 64 == 0) {
					with.bm.set_all();
					without.bm.set_all();
					ref.assign(bits, true);
				}
				break;
			case 1:
				if (rng() % 64 == 0) {
					with.bm.clear_all();
					without.bm.clear_all();
					ref.assign(bits, false);
				}
				break;
			case 2: case 3: case 4: case 5: case 6: case 7:
				with.bm.set(i);
				without.bm.set(i);
				ref[i] = true;
				break;
			default:
				with.bm.clear(i);
				without.bm.clear(i);
				ref[i] = false;
				break;
			}
			uint64_t q = rng() % (bits + 2);
			for (Bitmap *b : {&with.bm, &without.bm}) {
				ASSERT_EQ(b->test(i), ref[i]);
				ASSERT_EQ(b->find_next_set(q), ref_next(ref, q < bits ? q : bits, true))
					<< bits << " " << q;
				ASSERT_EQ(b->find_next_clear(q), ref_next(ref, q < bits ? q : bits, false));
				if (q < bits) {
					ASSERT_EQ(b->find_next_set_wrap(q), ref_next_wrap(ref, q));
				}
			}
			if (step % 512 == 0) {
				ASSERT_TRUE(with.bm.consistent());
				ASSERT_TRUE(without.bm.consistent());
				uint64_t n = 0;
				for (bool v : ref)
					n += v;
				ASSERT_EQ(with.bm.count(), n);
				ASSERT_EQ(without.bm.count(), n);
			}
		}
	}
}

TEST(Bitmap, Popcount)
{
	EXPECT_EQ(Bitmap::popcount64(0), 0u);
	EXPECT_EQ(Bitmap::popcount64(~0ull), 64u);
	EXPECT_EQ(Bitmap::popcount64(0x8000000000000001ull), 2u);
	EXPECT_EQ(Bitmap::popcount64(0x0123456789abcdefull), 32u);
}

TEST(Bitmap, ConsistentCatchesAStaleSummary)
{
	Owned o(5000, true);
	o.bm.set(4100);
	EXPECT_TRUE(o.bm.consistent());
	o.summary[1] = 0;	// word 64 has a bit, its summary bit is gone
	EXPECT_FALSE(o.bm.consistent());
	o.summary[1] = 1;
	EXPECT_TRUE(o.bm.consistent());
	o.words[Bitmap::words_for(5000) - 1] |= 1ull << 63;	// past the end
	EXPECT_FALSE(o.bm.consistent());
}
