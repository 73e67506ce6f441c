// SPDX-License-Identifier: GPL-2.0
#include "block_map.h"

namespace wc {
namespace {

constexpr uint32_t kEmptySlot = 0xffffffffu;

template <typename T>
T *alloc_array(size_t count, size_t *bytes)
{
	size_t sz = count * sizeof(T);
	if (count && sz / count != sizeof(T))
		return nullptr;
	void *p = wc_plat_alloc(sz ? sz : 1, WC_ALLOC_SETUP);
	if (p)
		*bytes += sz;
	return static_cast<T *>(p);
}

} // namespace

BlockMap::~BlockMap()
{
	wc_plat_free(sector_);
	wc_plat_free(prev_);
	wc_plat_free(next_);
	wc_plat_free(state_);
	wc_plat_free(index_);
	wc_plat_free(free_.words());
	wc_plat_free(free_.summary_words());
	wc_plat_free(age_);
}

Status BlockMap::init(uint64_t n, unsigned int block_shift, bool track_age,
		      bool compact_index)
{
	if (n == 0 || n > kMaxMapBlocks)
		return Error{-WC_ENOMEM, "Cannot allocate memory"};
	n_ = n;
	shift_ = block_shift;
	index_slots_ = static_cast<size_t>(n) * 2;
	if (compact_index)
		index_slots_ = static_cast<size_t>(n) + static_cast<size_t>(n) / 2 + 1;
	if (!ext_base_)
		sector_ = alloc_array<uint64_t>(n, &bytes_);
	prev_ = alloc_array<uint32_t>(n + kLists, &bytes_);
	next_ = alloc_array<uint32_t>(n + kLists, &bytes_);
	state_ = alloc_array<uint8_t>(n, &bytes_);
	index_ = alloc_array<uint32_t>(index_slots_, &bytes_);
	uint64_t *free_words = alloc_array<uint64_t>(Bitmap::words_for(n), &bytes_);
	uint64_t *free_summary = alloc_array<uint64_t>(Bitmap::summary_words_for(n), &bytes_);
	free_.attach(free_words, n, free_summary);
	if (track_age) {
		age_ = alloc_array<uint32_t>(n, &bytes_);
		if (!age_)
			return Error{-WC_ENOMEM, "Cannot allocate memory"};
	}
	if ((!sector_ && !ext_base_) || !prev_ || !next_ || !state_ || !index_ ||
	    !free_words || !free_summary)
		return Error{-WC_ENOMEM, "Cannot allocate memory"};
	reset();
	return Status::success();
}

void BlockMap::reset()
{
	for (uint64_t b = 0; b < n_; b++) {
		if (sector_)
			sector_[b] = ~0ull;
		state_[b] = 0;
	}
	for (uint32_t l = 0; l < kLists; l++) {
		uint32_t s = sentinel(static_cast<List>(l));
		prev_[s] = next_[s] = s;
	}
	for (size_t i = 0; i < index_slots_; i++)
		index_[i] = kEmptySlot;
	free_.set_all();
	free_count_ = n_;
	cursor_ = 0;
}

// Multiplicative hashing of the block number, reduced to [0, slots) by a
// 64x64->128 multiply (no division, no power-of-two table).
size_t BlockMap::slot_of(uint64_t sector) const
{
	uint64_t h = (sector >> shift_) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return static_cast<size_t>((static_cast<unsigned __int128>(h) * index_slots_) >> 64);
}

// The indexed block of `sector` that is (superseded = true) or is not an
// in-flight older version.
Block BlockMap::probe(uint64_t sector, bool superseded) const
{
	size_t i = slot_of(sector);
	for (;;) {
		uint32_t b = index_[i];
		if (b == kEmptySlot)
			return kNoBlock;
		if (this->sector(b) == sector && !!(state_[b] & kSuperseded) == superseded)
			return b;
		if (++i == index_slots_)
			i = 0;
	}
}

void BlockMap::index_insert(Block b, uint64_t sector)
{
	if (sector_)
		sector_[b] = sector;
	size_t i = slot_of(sector);
	while (index_[i] != kEmptySlot) {
		if (++i == index_slots_)
			i = 0;
	}
	index_[i] = b;
}

Block BlockMap::index_insert_unique(Block b, uint64_t sector)
{
	size_t i = slot_of(sector);
	for (;;) {
		uint32_t c = index_[i];
		if (c == kEmptySlot)
			break;
		if (this->sector(c) == sector)
			return c;
		if (++i == index_slots_)
			i = 0;
	}
	if (sector_)
		sector_[b] = sector;
	index_[i] = b;
	return kNoBlock;
}

void BlockMap::index_replace(Block old, Block b)
{
	uint64_t s = sector(old);
	size_t i = slot_of(s);
	while (index_[i] != old)
		if (++i == index_slots_)
			i = 0;
	if (sector_)
		sector_[b] = s;
	index_[i] = b;
}

// Linear-probing deletion by backward shift: no tombstones, so lookups
// stay short however long the cache runs.
void BlockMap::index_erase(Block b)
{
	size_t i = slot_of(sector(b));
	while (index_[i] != b) {
		if (index_[i] == kEmptySlot)
			return;
		if (++i == index_slots_)
			i = 0;
	}
	size_t hole = i;
	for (;;) {
		if (++i == index_slots_)
			i = 0;
		uint32_t c = index_[i];
		if (c == kEmptySlot)
			break;
		size_t home = slot_of(sector(c));
		// c may fill the hole unless its home lies cyclically in (hole, i].
		bool home_after_hole = hole <= i ? (home > hole && home <= i) :
						   (home > hole || home <= i);
		if (!home_after_hole) {
			index_[hole] = c;
			hole = i;
		}
	}
	index_[hole] = kEmptySlot;
}

Block BlockMap::alloc(Block want)
{
	if (free_count_ == 0)
		return kNoBlock;
	uint64_t b;
	if (want != kNoBlock && want < n_ && is_free(want))
		b = want;
	else
		b = free_.find_next_set_wrap(cursor_);	// one is free (free_count_)
	free_.clear(b);
	free_count_--;
	cursor_ = b + 1 < n_ ? b + 1 : 0;
	state_[b] = kUsed;
	return static_cast<Block>(b);
}

void BlockMap::mark_used(Block b)
{
	free_.clear(b);
	free_count_--;
	state_[b] = kUsed;
}

void BlockMap::release(Block b)
{
	free_.set(b);
	free_count_++;
	state_[b] = 0;
	if (sector_)
		sector_[b] = ~0ull;
}

void BlockMap::push_head(List l, Block b)
{
	uint32_t s = sentinel(l);
	uint32_t first = next_[s];
	next_[b] = first;
	prev_[b] = s;
	prev_[first] = b;
	next_[s] = b;
}

void BlockMap::push_tail(List l, Block b)
{
	uint32_t s = sentinel(l);
	uint32_t last = prev_[s];
	prev_[b] = last;
	next_[b] = s;
	next_[last] = b;
	prev_[s] = b;
}

void BlockMap::unlink(Block b)
{
	next_[prev_[b]] = next_[b];
	prev_[next_[b]] = prev_[b];
	prev_[b] = next_[b] = b;
}

Status BlockMap::check() const
{
	auto broken = [](const char *why) { return Status(Error{-WC_EINVAL, why}); };
	uint64_t free = 0, on_lists = 0, indexed = 0;
	for (uint64_t b = 0; b < n_; b++) {
		bool f = is_free(static_cast<Block>(b));
		if (f != !(state_[b] & kUsed))
			return broken("free bitmap disagrees with kUsed");
		free += f;
	}
	if (free != free_count_)
		return broken("free_count wrong");
	if (!free_.consistent())
		return broken("free bitmap summary disagrees with its words");
	for (uint32_t l = 0; l < kLists; l++) {
		List list = static_cast<List>(l);
		uint32_t s = sentinel(list);
		uint32_t prev = s;
		for (uint32_t b = next_[s]; b != s; b = next_[b]) {
			if (b >= n_ || prev_[b] != prev)
				return broken("broken list links");
			if (!(state_[b] & kUsed))
				return broken("free block on a list");
			bool sup = state_[b] & kSuperseded;
			bool indexed_list = list == kLru || list == kWriteback;
			if (sup == indexed_list)
				return broken("kSuperseded disagrees with the list");
			if (indexed_list &&
			    !(state_[b] & kInProgress) != (list == kLru))
				return broken("kInProgress disagrees with the list");
			if (!sup && find(sector(b)) != b)
				return broken("LRU block not found by its sector");
			if (sup && (state_[b] & kInProgress) &&
			    find_in_flight(sector(b)) == kNoBlock)
				return broken("superseded block in writeback not indexed");
			if (++on_lists > n_)
				return broken("list cycle");
			prev = b;
		}
	}
	for (size_t i = 0; i < index_slots_; i++) {
		if (index_[i] == kEmptySlot)
			continue;
		Block b = index_[i];
		if (b >= n_ || !(state_[b] & kUsed))
			return broken("index holds a free block");
		if ((state_[b] & kSuperseded) && !(state_[b] & kInProgress))
			return broken("index holds a superseded block not in writeback");
		bool reachable = (state_[b] & kSuperseded) ? find_in_flight(sector(b)) != kNoBlock :
							     find(sector(b)) == b;
		if (!reachable)
			return broken("index entry unreachable from its home slot");
		indexed++;
	}
	if (on_lists != n_ - free_count_)
		return broken("a used block is on no list");
	return Status::success();
}

} // namespace wc
