// SPDX-License-Identifier: GPL-2.0
// A simulated persistent memory for crash-consistency tests. Every store,
// cache-line flush and fence issued through the wc::Pmem operations is an
// "event"; after any event the simulator can produce a persisted image that
// the chosen hardware model allows if power failed right then.
//
// Model (8-byte word granularity; aligned 8-byte stores never tear, stores to
// different words may persist in any order):
//  - each word has a guaranteed persisted value plus the values written
//    since; any of them may be on media (NT stores drain early, cached lines
//    are evicted at any time), so a crash shows the guaranteed value or any
//    later one, chosen independently per word;
//  - a value becomes pending when it is written by a non-temporal store or
//    its line is flushed while it is the word's current value; a later store
//    to the word is not covered by that flush;
//  - a fence makes every pending value guaranteed (the newest pending value
//    of each word); flushes or NT stores after the fence wait for the next.
// This over-approximates real hardware slightly (it ignores that stores to
// one cache line persist in order), which is safe for finding bugs. One
// limit the other way: a copy that covers only part of a word is one store
// of the merged word, though real byte stores could tear inside it; the
// core only writes pmem in aligned words and blocks.
#pragma once

#include <wc/pmem.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace wc::sim {

// Which primitive sequence implements the wc::Pmem operations.
//  X86:      memcpy = NT 8-byte stores (copies >= 768 bytes: cached stores
//            + clflushopt per 64-byte line, as upstream does), flush = no-op,
//            commit = sfence, assign = one NT 8-byte store.
//  Arm64:    memcpy = cached stores, flush = DC CVAP per 64-byte line,
//            commit = DSB, assign = cached store + DC CVAP of its line.
//  Contract: only what include/wc/pmem.h promises, i.e. the weakest of all
//            architectures: memcpy = cached stores, flush = write back only
//            the words overlapping [dst, dst+n) (one event per 64-byte
//            piece), commit = fence, assign = one NT store. Code correct here
//            is correct on both X86 and Arm64.
enum class Model { X86, Arm64, Contract };

class SimPmem final : public wc::Pmem {
public:
	static constexpr size_t kWord = 8;
	static constexpr size_t kLine = 64;
	static constexpr size_t kX86CachedCopyMin = 768;

	enum class Pick { Oldest, Newest, Random };
	enum class EventKind { Store, Flush, Fence };
	struct UncertainWord {
		size_t offset;
		uint64_t current; // the CPU's view
		// Distinct possible persisted values, in first-seen order; [0] is
		// the guaranteed one. current is among them.
		std::vector<uint64_t> values;
	};

	// bytes must be a non-zero multiple of 8. Starts zeroed and persisted.
	SimPmem(size_t bytes, Model model);
	~SimPmem();
	SimPmem(const SimPmem &) = delete;
	SimPmem &operator=(const SimPmem &) = delete;

	// The CPU's view: what loads see now. 4096-byte aligned, like a mapping.
	uint8_t *base() { return cpu_; }
	const uint8_t *base() const { return cpu_; }
	size_t size() const { return size_; }
	Model model() const { return model_; }

	// wc::Pmem. dst/src in pmem must lie inside [base(), base()+size()).
	void memcpy(void *dst, const void *src, size_t n) override;
	void flush(void *dst, size_t n) override;
	void commit() override;
	void assign(uint64_t *dst, uint64_t v) override;
	bool read(void *dst, const void *src, size_t n) override;
	const char *name() const override;

	// Events: one per word stored, per line flushed, per fence.
	uint64_t events() const { return events_; }
	EventKind last_event_kind() const { return last_kind_; }
	size_t last_event_offset() const { return last_off_; } // fence: 0
	// Called after every event with events(). The hook may inspect the
	// simulator (crash_image etc.) but must not store, flush, fence or
	// load_image: that aborts.
	void set_event_hook(std::function<void(uint64_t event)> hook);

	// A persisted image allowed by the model if power failed now; out is
	// resized to size(). Oldest = guaranteed values, Newest = CPU view,
	// Random = per uncertain word an independent choice (see bias).
	void crash_image(Pick pick, std::mt19937_64 &rng,
			 std::vector<uint8_t> &out) const;
	// Random's distribution: p < 0 (default) picks uniformly among a word's
	// history entries (a value stored twice may weigh double); p in [0, 1]
	// keeps the guaranteed value with probability 1-p, else picks uniformly
	// among the newer entries (p = 1: never the guaranteed entry).
	void set_random_bias(double p_newer);
	// Words with more than one possible persisted value, and the values.
	size_t uncertain_words() const { return unc_.size(); }
	std::vector<UncertainWord> uncertain() const;
	// Values held in all uncertain words' histories (memory use).
	size_t history_size() const;
	// The guaranteed (Pick::Oldest) image, without copying.
	const uint8_t *persisted() const
	{
		return reinterpret_cast<const uint8_t *>(durable_.data());
	}

	// Reset: CPU view = persisted = img (size() bytes), no history, no
	// poison, events() = 0. The hook stays installed.
	void load_image(const std::vector<uint8_t> &img);
	// False if base() was stored to bypassing the API (now or earlier).
	bool cpu_view_consistent() const;

	// read() fails for any range touching a poisoned 64-byte line (machine
	// checks are per cache line). Stores do not clear poison.
	void poison(size_t off, size_t n);
	void clear_poison();

private:
	// The values of one uncertain word, inline up to three (most words
	// have two), so crash images walk one contiguous array.
	class History {
	public:
		History(uint64_t a, uint64_t b);
		size_t size() const { return n_; }
		const uint64_t *data() const
		{
			return n_ <= kInline ? inl_ : big_.data();
		}
		uint64_t operator[](size_t i) const { return data()[i]; }
		uint64_t back() const { return data()[n_ - 1]; }
		void push_back(uint64_t v);
		void erase(size_t i);
		void erase_prefix(size_t k);

	private:
		static constexpr size_t kInline = 3;
		void to_inline();
		uint32_t n_;
		uint64_t inl_[kInline];
		std::vector<uint64_t> big_; // all values when n_ > kInline
	};
	struct Entry {
		uint32_t word;
		int32_t pending; // index in vals of the newest pending value, -1 none
		History vals;    // [0] guaranteed, back() current
	};

	[[noreturn]] static void die(const char *what);
	size_t offset_of(const void *p, size_t n, const char *op) const;
	void check_mutable(const char *op) const;
	uint64_t current(size_t w) const;
	void store_word(size_t w, uint64_t v, bool nt);
	void store_range(size_t off, const uint8_t *src, size_t n, bool nt);
	void mark_pending(size_t w);
	void flush_words(size_t w0, size_t w1, size_t event_off);
	void fence();
	void event(EventKind kind, size_t off);
	void drop_entry(size_t slot);

	size_t size_;
	size_t words_;
	Model model_;
	uint8_t *cpu_;
	std::vector<uint64_t> durable_; // guaranteed value per word
	std::vector<int32_t> slot_;     // word -> index in unc_, -1 if certain
	std::vector<Entry> unc_;        // words with several possible values
	std::vector<uint32_t> pend_;    // words whose Entry has a pending value
	std::vector<uint8_t> poisoned_; // per line
	size_t n_poisoned_ = 0;
	bool bypass_seen_ = false;
	bool in_hook_ = false;
	double bias_ = -1.0;
	uint64_t events_ = 0;
	EventKind last_kind_ = EventKind::Fence;
	size_t last_off_ = 0;
	std::function<void(uint64_t)> hook_;
};

} // namespace wc::sim
