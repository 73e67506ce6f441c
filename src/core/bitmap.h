// SPDX-License-Identifier: GPL-2.0
// A bitmap over storage its owner provides (allocated once at setup; the
// bitmap never allocates). Used for the block map's free bitmap (1 = free,
// searched from a rotating cursor) and SSD mode's dirty-region map.
//
// Optionally two-level: a summary with one bit per word (set iff the word
// has a bit set) lets find_next_set() skip 4096 clear bits per summary
// word, so finding a free block in a nearly full cache of millions of
// blocks stays cheap. find_next_clear() does not use it.
//
// Bits at and past size() are kept clear, so count() is exact and no
// search returns a bit past the end.
//
// Not thread-safe: the owner serialises access.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace wc {

class Bitmap {
public:
	// Storage for `bits` bits, and for their summary.
	static constexpr size_t words_for(uint64_t bits) { return static_cast<size_t>((bits + 63) / 64); }
	static constexpr size_t summary_words_for(uint64_t bits)
	{
		return (words_for(bits) + 63) / 64;
	}

	Bitmap() = default;
	Bitmap(const Bitmap &) = delete;
	Bitmap &operator=(const Bitmap &) = delete;

	// Use `words` (words_for(bits) of them) and optionally `summary`
	// (summary_words_for(bits)); the owner keeps them alive and frees
	// them. The contents are not touched: call clear_all() or set_all().
	void attach(uint64_t *words, uint64_t bits, uint64_t *summary = nullptr)
	{
		w_ = words;
		bits_ = bits;
		words_ = words_for(bits);
		s_ = summary;
	}
	uint64_t *words() const { return w_; }
	uint64_t *summary_words() const { return s_; }

	uint64_t size() const { return bits_; }

	bool test(uint64_t i) const { return (w_[i / 64] >> (i % 64)) & 1; }
	void set(uint64_t i)
	{
		w_[i / 64] |= bit(i);
		if (s_)
			s_[i / 4096] |= bit(i / 64);
	}
	void clear(uint64_t i)
	{
		w_[i / 64] &= ~bit(i);
		if (s_ && !w_[i / 64])
			s_[i / 4096] &= ~bit(i / 64);
	}
	void clear_all()
	{
		fill(w_, words_, 0);
		if (s_)
			fill(s_, summary_words_for(bits_), 0);
	}
	void set_all()
	{
		fill(w_, words_, ~0ull);
		if (bits_ % 64)
			w_[words_ - 1] = tail_mask(bits_);
		if (s_) {
			size_t sw = summary_words_for(bits_);
			fill(s_, sw, ~0ull);
			if (words_ % 64)
				s_[sw - 1] = tail_mask(words_);
		}
	}

	// Set bits (no __builtin_popcountll: without -mpopcnt it calls
	// libgcc, which the kernel does not link).
	uint64_t count() const
	{
		uint64_t n = 0;
		for (size_t w = 0; w < words_; w++)
			n += popcount64(w_[w]);
		return n;
	}

	// The first set bit at or after i, or size() if none.
	uint64_t find_next_set(uint64_t i) const
	{
		if (i >= bits_)
			return bits_;
		size_t w = static_cast<size_t>(i / 64);
		uint64_t x = w_[w] & (~0ull << (i % 64));
		if (!x) {
			w = next_nonzero_word(w + 1);
			if (w >= words_)
				return bits_;
			x = w_[w];
		}
		return static_cast<uint64_t>(w) * 64 + ctz64(x);
	}

	// The first clear bit at or after i, or size() if none.
	uint64_t find_next_clear(uint64_t i) const
	{
		while (i < bits_) {
			uint64_t x = ~w_[i / 64] & (~0ull << (i % 64));
			if (x) {
				uint64_t r = (i & ~63ull) + ctz64(x);
				return r < bits_ ? r : bits_;
			}
			i = (i | 63) + 1;
		}
		return bits_;
	}

	// The first set bit at or after i, wrapping to 0 once (the next one
	// cyclically from i, which may be below it), or size() if none is
	// set.
	uint64_t find_next_set_wrap(uint64_t i) const
	{
		uint64_t r = find_next_set(i < bits_ ? i : 0);
		if (r == bits_ && i != 0)
			r = find_next_set(0);
		return r;
	}

	// The invariants (tests): no bit at or past size(), and the summary
	// bit of every word set iff the word has a bit set.
	bool consistent() const
	{
		if (bits_ % 64 && (w_[words_ - 1] & ~tail_mask(bits_)))
			return false;
		if (!s_)
			return true;
		for (size_t w = 0; w < words_; w++) {
			if (!!w_[w] != !!(s_[w / 64] & bit(w)))
				return false;
		}
		const size_t sw = summary_words_for(bits_);
		return !(words_ % 64) || !(s_[sw - 1] & ~tail_mask(words_));
	}

	static unsigned int popcount64(uint64_t v)
	{
		v -= (v >> 1) & 0x5555555555555555ull;
		v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
		v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
		return static_cast<unsigned int>((v * 0x0101010101010101ull) >> 56);
	}

private:
	static constexpr uint64_t bit(uint64_t i) { return 1ull << (i % 64); }
	static constexpr uint64_t tail_mask(uint64_t n) { return (1ull << (n % 64)) - 1; }
	static unsigned int ctz64(uint64_t v) { return static_cast<unsigned int>(__builtin_ctzll(v)); }
	static void fill(uint64_t *p, size_t n, uint64_t v)
	{
		for (size_t k = 0; k < n; k++)
			p[k] = v;
	}

	// The first word >= w with a bit set (through the summary if there is
	// one), or words_.
	size_t next_nonzero_word(size_t w) const
	{
		if (!s_) {
			while (w < words_ && !w_[w])
				w++;
			return w < words_ ? w : words_;
		}
		const size_t sw = summary_words_for(bits_);
		size_t s = w / 64;
		if (s >= sw)
			return words_;
		uint64_t x = s_[s] & (~0ull << (w % 64));
		while (!x) {
			if (++s >= sw)
				return words_;
			x = s_[s];
		}
		size_t r = s * 64 + ctz64(x);
		return r < words_ ? r : words_;
	}

	uint64_t *w_ = nullptr;
	uint64_t *s_ = nullptr;
	uint64_t bits_ = 0;
	size_t words_ = 0;
};

} // namespace wc
