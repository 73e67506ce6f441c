// SPDX-License-Identifier: GPL-2.0
// Simulated persistent memory; the model is described in sim_pmem.h.
//
// State: durable_ holds every word's guaranteed value (the Oldest image).
// Only words that may persist as something else have an Entry, so a crash
// image is one copy of durable_ plus a patch per uncertain word.
#include "sim_pmem.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace wc::sim {

namespace {

constexpr size_t kMapAlign = 4096;

// Uniform in [0, n) from one 64-bit draw (bias < n / 2^64, irrelevant here).
size_t below(std::mt19937_64 &rng, size_t n)
{
	return static_cast<size_t>(
		(static_cast<unsigned __int128>(rng()) * n) >> 64);
}

void put_word(uint8_t *img, size_t w, uint64_t v)
{
	std::memcpy(img + w * SimPmem::kWord, &v, sizeof(v));
}

} // namespace

SimPmem::History::History(uint64_t a, uint64_t b) : n_(2), inl_{a, b, 0}
{
}

void SimPmem::History::push_back(uint64_t v)
{
	if (n_ < kInline) {
		inl_[n_++] = v;
		return;
	}
	if (n_ == kInline)
		big_.assign(inl_, inl_ + kInline);
	big_.push_back(v);
	n_++;
}

void SimPmem::History::to_inline()
{
	if (n_ > kInline)
		return;
	std::copy(big_.begin(), big_.end(), inl_);
	big_.clear();
}

void SimPmem::History::erase(size_t i)
{
	if (n_ <= kInline) {
		std::copy(inl_ + i + 1, inl_ + n_, inl_ + i);
		n_--;
		return;
	}
	big_.erase(big_.begin() + static_cast<ptrdiff_t>(i));
	n_--;
	to_inline();
}

void SimPmem::History::erase_prefix(size_t k)
{
	if (n_ <= kInline) {
		std::copy(inl_ + k, inl_ + n_, inl_);
		n_ -= static_cast<uint32_t>(k);
		return;
	}
	big_.erase(big_.begin(), big_.begin() + static_cast<ptrdiff_t>(k));
	n_ -= static_cast<uint32_t>(k);
	to_inline();
}

SimPmem::SimPmem(size_t bytes, Model model)
	: size_(bytes), words_(bytes / kWord), model_(model)
{
	if (bytes == 0 || bytes % kWord)
		die("size must be a non-zero multiple of 8");
	if (words_ > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
		die("size too large");
	size_t alloc = (bytes + kMapAlign - 1) / kMapAlign * kMapAlign;
	cpu_ = static_cast<uint8_t *>(std::aligned_alloc(kMapAlign, alloc));
	if (!cpu_)
		die("out of memory");
	std::memset(cpu_, 0, alloc);
	durable_.assign(words_, 0);
	slot_.assign(words_, -1);
	poisoned_.assign((bytes + kLine - 1) / kLine, 0);
}

SimPmem::~SimPmem()
{
	std::free(cpu_);
}

void SimPmem::die(const char *what)
{
	std::fprintf(stderr, "SimPmem: %s\n", what);
	std::fflush(stderr);
	std::abort();
}

size_t SimPmem::offset_of(const void *p, size_t n, const char *op) const
{
	auto a = reinterpret_cast<uintptr_t>(p);
	auto b = reinterpret_cast<uintptr_t>(cpu_);
	if (a < b || a - b > size_ || n > size_ - (a - b)) {
		std::fprintf(stderr, "SimPmem: %s of %zu bytes at %p outside "
			     "[%p, +%zu)\n", op, n, p, static_cast<void *>(cpu_),
			     size_);
		die("access outside the pmem region");
	}
	return a - b;
}

void SimPmem::check_mutable(const char *op) const
{
	if (in_hook_) {
		std::fprintf(stderr, "SimPmem: %s called from the event hook\n",
			     op);
		die("the event hook must not change pmem");
	}
}

uint64_t SimPmem::current(size_t w) const
{
	int32_t s = slot_[w];
	return s < 0 ? durable_[w] : unc_[s].vals.back();
}

void SimPmem::store_word(size_t w, uint64_t v, bool nt)
{
	uint64_t cur = current(w);
	uint64_t seen;
	std::memcpy(&seen, cpu_ + w * kWord, sizeof(seen));
	// Checked here too, as this store would hide a bypassing one.
	if (seen != cur)
		bypass_seen_ = true;
	std::memcpy(cpu_ + w * kWord, &v, sizeof(v));

	int32_t s = slot_[w];
	if (s < 0) {
		if (v != cur) {
			slot_[w] = static_cast<int32_t>(unc_.size());
			unc_.push_back(Entry{static_cast<uint32_t>(w), -1,
					     {cur, v}});
		}
	} else if (v != cur) {
		// Keep entries distinct, except [0] and the pending one whose
		// positions carry meaning, so history stays bounded by the
		// number of distinct values. Moving v to the end is exact:
		// before a fence only membership matters, and v is now stored
		// after any flush so far.
		Entry &e = unc_[s];
		for (size_t j = 1; j + 1 < e.vals.size(); j++) {
			if (static_cast<int32_t>(j) == e.pending ||
			    e.vals[j] != v)
				continue;
			e.vals.erase(j);
			if (static_cast<int32_t>(j) < e.pending)
				e.pending--;
			break;
		}
		e.vals.push_back(v);
	}
	if (nt)
		mark_pending(w);
	event(EventKind::Store, w * kWord);
}

// One store per word touched; a partly covered word keeps its other bytes.
void SimPmem::store_range(size_t off, const uint8_t *src, size_t n, bool nt)
{
	size_t end = off + n;
	for (size_t w = off / kWord; w * kWord < end; w++) {
		size_t lo = std::max(off, w * kWord);
		size_t hi = std::min(end, (w + 1) * kWord);
		uint64_t v = current(w);
		std::memcpy(reinterpret_cast<uint8_t *>(&v) + (lo - w * kWord),
			    src + (lo - off), hi - lo);
		store_word(w, v, nt);
	}
}

// The word's current value will be guaranteed by the next fence.
void SimPmem::mark_pending(size_t w)
{
	int32_t s = slot_[w];
	if (s < 0)
		return; // current value already guaranteed
	Entry &e = unc_[s];
	if (e.pending < 0)
		pend_.push_back(static_cast<uint32_t>(w));
	e.pending = static_cast<int32_t>(e.vals.size() - 1);
}

void SimPmem::flush_words(size_t w0, size_t w1, size_t event_off)
{
	for (size_t w = w0; w < w1; w++)
		mark_pending(w);
	event(EventKind::Flush, event_off);
}

void SimPmem::fence()
{
	for (uint32_t w : pend_) {
		int32_t s = slot_[w];
		Entry &e = unc_[s];
		e.vals.erase_prefix(static_cast<size_t>(e.pending));
		e.pending = -1;
		const uint64_t *v = e.vals.data();
		durable_[w] = v[0];
		if (std::all_of(v, v + e.vals.size(),
				[g = v[0]](uint64_t x) { return x == g; }))
			drop_entry(static_cast<size_t>(s));
	}
	pend_.clear();
	event(EventKind::Fence, 0);
}

void SimPmem::drop_entry(size_t s)
{
	slot_[unc_[s].word] = -1;
	if (s + 1 != unc_.size()) {
		unc_[s] = std::move(unc_.back());
		slot_[unc_[s].word] = static_cast<int32_t>(s);
	}
	unc_.pop_back();
}

void SimPmem::event(EventKind kind, size_t off)
{
	events_++;
	last_kind_ = kind;
	last_off_ = off;
	if (!hook_)
		return;
	struct Guard {
		bool &flag;
		~Guard() { flag = false; }
	} guard{in_hook_};
	in_hook_ = true;
	hook_(events_);
}

void SimPmem::memcpy(void *dst, const void *src, size_t n)
{
	if (!n)
		return;
	check_mutable("memcpy");
	size_t off = offset_of(dst, n, "memcpy");
	auto *s = static_cast<const uint8_t *>(src);
	auto sa = reinterpret_cast<uintptr_t>(src);
	auto da = reinterpret_cast<uintptr_t>(dst);
	if (sa < da + n && da < sa + n)
		die("memcpy with overlapping source and destination");

	if (model_ != Model::X86) {
		store_range(off, s, n, false);
		return;
	}
	if (n < kX86CachedCopyMin) {
		store_range(off, s, n, true);
		return;
	}
	// Upstream's memcpy_flushcache_optimized: per line, cached copy then
	// clflushopt (which covers the whole line).
	for (size_t a = off; a < off + n;) {
		size_t line = a / kLine;
		size_t b = std::min(off + n, (line + 1) * kLine);
		store_range(a, s + (a - off), b - a, false);
		flush_words(line * kLine / kWord,
			    std::min(words_, (line + 1) * kLine / kWord),
			    line * kLine);
		a = b;
	}
}

void SimPmem::flush(void *dst, size_t n)
{
	if (!n)
		return;
	check_mutable("flush");
	size_t off = offset_of(dst, n, "flush");
	if (model_ == Model::X86)
		return; // memcpy already flushed
	for (size_t a = off; a < off + n;) {
		size_t line = a / kLine;
		size_t b = std::min(off + n, (line + 1) * kLine);
		if (model_ == Model::Arm64) // DC CVAP writes back the whole line
			flush_words(line * kLine / kWord,
				    std::min(words_, (line + 1) * kLine / kWord),
				    line * kLine);
		else // the contract covers only the bytes asked for
			flush_words(a / kWord, (b + kWord - 1) / kWord, a);
		a = b;
	}
}

void SimPmem::commit()
{
	check_mutable("commit");
	fence();
}

void SimPmem::assign(uint64_t *dst, uint64_t v)
{
	check_mutable("assign");
	size_t off = offset_of(dst, sizeof(v), "assign");
	if (off % kWord)
		die("assign to an unaligned address");
	size_t w = off / kWord;
	if (model_ != Model::Arm64) {
		store_word(w, v, true);
		return;
	}
	store_word(w, v, false);
	size_t line = off / kLine;
	flush_words(line * kLine / kWord,
		    std::min(words_, (line + 1) * kLine / kWord), line * kLine);
}

bool SimPmem::read(void *dst, const void *src, size_t n)
{
	if (!n)
		return true;
	size_t off = offset_of(src, n, "read");
	auto *d = static_cast<uint8_t *>(dst);
	if (n_poisoned_) {
		for (size_t line = off / kLine; line * kLine < off + n; line++) {
			if (!poisoned_[line])
				continue;
			// Like copy_mc: data up to the bad line, then garbage.
			size_t good = std::max(off, line * kLine) - off;
			std::memcpy(d, cpu_ + off, good);
			std::memset(d + good, 0xee, n - good);
			return false;
		}
	}
	std::memcpy(d, cpu_ + off, n);
	return true;
}

const char *SimPmem::name() const
{
	switch (model_) {
	case Model::X86:
		return "sim-x86";
	case Model::Arm64:
		return "sim-arm64";
	case Model::Contract:
		return "sim-contract";
	}
	return "sim";
}

void SimPmem::set_event_hook(std::function<void(uint64_t event)> hook)
{
	if (in_hook_)
		die("set_event_hook from inside the hook");
	hook_ = std::move(hook);
}

void SimPmem::crash_image(Pick pick, std::mt19937_64 &rng,
			  std::vector<uint8_t> &out) const
{
	out.resize(size_);
	uint8_t *img = out.data();
	std::memcpy(img, durable_.data(), size_);
	if (pick == Pick::Oldest)
		return;
	if (pick == Pick::Newest) {
		for (const Entry &e : unc_)
			put_word(img, e.word, e.vals.back());
		return;
	}
	if (bias_ < 0) {
		// Most uncertain words have two entries: one random bit each.
		uint64_t bits = 0;
		unsigned nbits = 0;
		for (const Entry &e : unc_) {
			const uint64_t *v = e.vals.data();
			size_t n = e.vals.size(), i;
			if (n == 2) {
				if (!nbits) {
					bits = rng();
					nbits = 64;
				}
				i = bits & 1;
				bits >>= 1;
				nbits--;
			} else {
				i = below(rng, n);
			}
			put_word(img, e.word, v[i]);
		}
		return;
	}
	bool always = bias_ >= 1.0;
	auto thr = static_cast<uint64_t>(bias_ * 18446744073709551616.0);
	for (const Entry &e : unc_) {
		if (!always && rng() >= thr)
			continue; // keeps the guaranteed value
		size_t n = e.vals.size();
		put_word(img, e.word, e.vals[n == 2 ? 1 : 1 + below(rng, n - 1)]);
	}
}

void SimPmem::set_random_bias(double p_newer)
{
	bias_ = p_newer;
}

size_t SimPmem::history_size() const
{
	size_t n = 0;
	for (const Entry &e : unc_)
		n += e.vals.size();
	return n;
}

std::vector<SimPmem::UncertainWord> SimPmem::uncertain() const
{
	std::vector<UncertainWord> r;
	r.reserve(unc_.size());
	for (const Entry &e : unc_) {
		UncertainWord u{e.word * kWord, e.vals.back(), {}};
		for (const uint64_t *v = e.vals.data(),
				    *end = v + e.vals.size(); v < end; v++)
			if (std::find(u.values.begin(), u.values.end(), *v) ==
			    u.values.end())
				u.values.push_back(*v);
		r.push_back(std::move(u));
	}
	std::sort(r.begin(), r.end(),
		  [](const UncertainWord &a, const UncertainWord &b) {
			  return a.offset < b.offset;
		  });
	return r;
}

void SimPmem::load_image(const std::vector<uint8_t> &img)
{
	check_mutable("load_image");
	if (img.size() != size_)
		die("load_image: image size differs from the region size");
	std::memcpy(cpu_, img.data(), size_);
	std::memcpy(durable_.data(), img.data(), size_);
	for (const Entry &e : unc_) // cheaper than refilling slot_
		slot_[e.word] = -1;
	unc_.clear();
	pend_.clear();
	if (n_poisoned_)
		clear_poison();
	bypass_seen_ = false;
	events_ = 0;
	last_kind_ = EventKind::Fence;
	last_off_ = 0;
}

bool SimPmem::cpu_view_consistent() const
{
	if (bypass_seen_)
		return false;
	for (size_t w = 0; w < words_; w++) {
		uint64_t v;
		std::memcpy(&v, cpu_ + w * kWord, sizeof(v));
		if (v != current(w))
			return false;
	}
	return true;
}

void SimPmem::poison(size_t off, size_t n)
{
	if (off > size_ || n > size_ - off)
		die("poison outside the pmem region");
	for (size_t line = off / kLine; line * kLine < off + n; line++) {
		if (!poisoned_[line])
			n_poisoned_++;
		poisoned_[line] = 1;
	}
}

void SimPmem::clear_poison()
{
	std::fill(poisoned_.begin(), poisoned_.end(), 0);
	n_poisoned_ = 0;
}

} // namespace wc::sim
