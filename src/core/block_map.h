// SPDX-License-Identifier: GPL-2.0
// The in-RAM block map: which cache block holds which origin block, in
// what age order, and which blocks are free. Stock dm-writecache spends
// 72-88 bytes per block (rb_node + list_head + cached metadata); this map
// spends about 25 (see ram_bytes()):
//
//   sector[b]      8 B  origin sector of block b (a RAM copy, so lookups
//                       never touch pmem)
//   prev/next[b]   8 B  links of the list b is on: the LRU (newest at the
//                       head) or the superseded list
//   state[b]       1 B  flags below
//   index          8 B  open-addressing hash, sector -> newest block,
//                       2 slots per block (load <= 0.5, linear probing);
//                       SSD mode: 1.5 slots (6 B), as lookups there are
//                       cheap next to the I/O
//                       SSD mode keeps no sector[] of its own: the metadata
//                       mirror already holds every entry's sector
//   free bitmap  1/8 B  with a rotating cursor, so SSD mode gets physically
//                       contiguous runs
//   age[b]         4 B  only with max_age: insertion time in ms
//
// A sector has at most one *current* block (the newest version). An older
// committed version that a new uncommitted write replaced leaves the index
// and waits on the superseded list until the commit that makes the new
// version durable frees it. One exception keeps writeback ordered: a
// superseded block still being written back stays indexed (flagged
// kSuperseded) until its write completes, so find_in_flight() tells that
// the sector has an origin write in flight; find() skips such blocks.
//
// Not thread-safe: the cache serialises access under its lock.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/layout.h>
#include <wc/result.h>

#include "bitmap.h"

namespace wc {

using Block = uint32_t;
inline constexpr Block kNoBlock = 0xffffffffu;
// Block indices and list sentinels must fit below kNoBlock.
inline constexpr uint64_t kMaxMapBlocks = 0x7fff0000u;

class BlockMap {
public:
	enum : uint8_t {
		kUsed = 1 << 0,		// allocated (not on the free bitmap)
		kCommitted = 1 << 1,	// its entry's seq is below the sb seq
		kInProgress = 1 << 2,	// being written back
		kSuperseded = 1 << 3,	// on the superseded list, not indexed
		kDoomed = 1 << 4,	// on kFreeing (also kSuperseded)
	};

	BlockMap() = default;
	BlockMap(const BlockMap &) = delete;
	BlockMap &operator=(const BlockMap &) = delete;
	~BlockMap();

	// Allocates the arrays for n blocks, all free. block_shift is
	// log2(block_size / 512), used to spread the hash. track_age adds
	// 4 bytes per block (insertion time, for max_age); compact_index
	// sizes the index at 1.5 slots per block instead of 2.
	Status init(uint64_t n, unsigned int block_shift, bool track_age = false,
		    bool compact_index = false);
	// Before init(): read block b's sector as the little-endian u64 at
	// base + b * stride (the SSD metadata mirror) instead of keeping a
	// copy. The owner writes it there before index_insert(b, sector).
	void use_external_sectors(const uint8_t *base, size_t stride)
	{
		ext_base_ = base;
		ext_stride_ = stride;
	}
	// Back to "all free, nothing indexed" without reallocating.
	void reset();

	uint64_t size() const { return n_; }
	uint64_t free_count() const { return free_count_; }
	uint8_t state(Block b) const { return state_[b]; }
	void set_flag(Block b, uint8_t f) { state_[b] |= f; }
	void clear_flag(Block b, uint8_t f) { state_[b] &= static_cast<uint8_t>(~f); }
	uint64_t sector(Block b) const
	{
		if (!ext_base_)
			return sector_[b];
		return layout::load_le64(ext_base_ + static_cast<size_t>(b) * ext_stride_);
	}
	bool tracks_age() const { return age_ != nullptr; }
	bool has_external_sectors() const { return ext_base_ != nullptr; }
	uint32_t age(Block b) const { return age_ ? age_[b] : 0; }
	void set_age(Block b, uint32_t now_ms)
	{
		if (age_)
			age_[b] = now_ms;
	}

	// --- the index: sector -> newest block ---
	Block find(uint64_t sector) const { return probe(sector, false); }
	// An older version of sector still being written back (superseded,
	// kInProgress, still indexed), or kNoBlock.
	Block find_in_flight(uint64_t sector) const { return probe(sector, true); }
	// Index b under sector (which must not be indexed yet).
	void index_insert(Block b, uint64_t sector);
	void index_erase(Block b);
	// Load: index b under sector in one probe sequence, unless a block is
	// indexed there already; returns that block (b not indexed) or
	// kNoBlock.
	Block index_insert_unique(Block b, uint64_t sector);
	// b takes indexed old's place (same sector); old leaves the index.
	void index_replace(Block old, Block b);

	// --- free blocks ---
	bool is_free(Block b) const { return free_.test(b); }
	// Take a free block, preferring `want` (physically contiguous with a
	// run being built); kNoBlock if none is free.
	Block alloc(Block want = kNoBlock);
	// Return b to the free bitmap (caller has made its free marker
	// durable first). b must be on no list and not indexed.
	void release(Block b);
	// During load: mark b used without touching the cursor.
	void mark_used(Block b);

	// --- lists ---
	// kLru: indexed, committed or not, idle. kWriteback: indexed, being
	// written back. kSupersededList: replaced by a newer version, freed at
	// the next commit. kFreeing: free markers written, awaiting the barrier
	// that must precede reuse.
	enum List : uint32_t { kLru = 0, kSupersededList = 1, kFreeing = 2, kWriteback = 3 };
	static constexpr uint32_t kLists = 4;
	void push_head(List l, Block b);
	void push_tail(List l, Block b);
	void unlink(Block b);
	bool list_empty(List l) const { return next_[sentinel(l)] == sentinel(l); }
	Block head(List l) const { return to_block(next_[sentinel(l)], l); }
	Block tail(List l) const { return to_block(prev_[sentinel(l)], l); }
	// Toward the tail (older) / head (newer); kNoBlock at the end.
	Block older(List l, Block b) const { return to_block(next_[b], l); }
	Block newer(List l, Block b) const { return to_block(prev_[b], l); }

	// Bytes of RAM this map holds (divide by size() for per-block).
	size_t ram_bytes() const { return bytes_; }

	// Full consistency check (tests): lists, index and bitmap agree; the
	// error's message says what is broken.
	Status check() const;
	// The same as a bool and the message (for the callers not yet on check()).
	bool check_invariants(const char **why) const
	{
		Status s = check();
		if (!s.ok())
			*why = s.error().message;
		return s.ok();
	}

private:
	uint32_t sentinel(List l) const { return static_cast<uint32_t>(n_) + l; }
	Block to_block(uint32_t v, List l) const { return v == sentinel(l) ? kNoBlock : v; }
	size_t slot_of(uint64_t sector) const;
	Block probe(uint64_t sector, bool superseded) const;

	uint64_t n_ = 0;
	unsigned int shift_ = 0;
	uint64_t *sector_ = nullptr;	// null with external sectors
	const uint8_t *ext_base_ = nullptr;
	size_t ext_stride_ = 0;
	uint32_t *prev_ = nullptr;	// n + kLists (one sentinel per list)
	uint32_t *next_ = nullptr;
	uint8_t *state_ = nullptr;
	uint32_t *age_ = nullptr;
	uint32_t *index_ = nullptr;
	size_t index_slots_ = 0;
	Bitmap free_;	// 1 = free, with a summary (the storage is ours)
	uint64_t free_count_ = 0;
	uint64_t cursor_ = 0;
	size_t bytes_ = 0;
};

} // namespace wc
