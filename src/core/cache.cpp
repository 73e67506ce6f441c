// SPDX-License-Identifier: GPL-2.0
// The write, read and discard paths (pmem mode; SSD mode maps bios in
// cache_ssd.cpp and shares discard). Data goes through the flush layer; the
// index is updated under the short lock; the copy itself runs outside the
// lock with the commit gate held shared.
#include "cache.h"
#include "endian.h"

namespace wc {

using namespace layout;

// The first error sticks (upstream's wc->error) and is logged once.
void Cache::latch_error(int err, const char *msg, const char *detail)
{
	int expected = 0;
	if (__atomic_compare_exchange_n(&error_, &expected, err, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		error_msg_ = msg;
		wc_plat_log_error(detail ? detail : msg);
	}
}

// Sector first, then seq: a crash between the two leaves the old seq
// (free, or this epoch's uncommitted seq), which load discards.
void Cache::write_entry(Block b, uint64_t sector, uint64_t seq)
{
	if (dev_) {
		ssd_.set_entry(b, sector, seq);
		return;
	}
	pmem_->assign(entry_word(b, kOffOriginalSector), to_le64(sector));
	pmem_->assign(entry_word(b, kOffEntrySeq), to_le64(seq));
}

void Cache::clear_entry(Block b)
{
	if (dev_) {
		ssd_.set_entry_free(b);
		return;
	}
	pmem_->assign(entry_word(b, kOffEntrySeq), ~0ull);
}

// `old` (indexed) loses its sector to a newer block. A committed old
// version stays valid on media until the commit that makes the new one
// durable; an uncommitted one (a racing writer) is dead at once, and its
// entry must not survive into the next commit.
void Cache::supersede_locked(Block old)
{
	if (!(map_.state(old) & BlockMap::kCommitted))
		clear_entry(old);
	map_.index_erase(old);
	map_.unlink(old);
	map_.set_flag(old, BlockMap::kSuperseded);
	map_.push_tail(BlockMap::kSupersededList, old);
}

WriteResult Cache::write_block(uint64_t sector, const void *src, bool req_meta)
{
	// A new block is copied before it is published (entry, index, LRU),
	// so no commit can see it half-written: that copy runs without the
	// gate and never waits for a commit. Only an in-place overwrite of an
	// uncommitted block, which a commit may be publishing, holds the gate
	// shared across its copy. Cross-CPU durability of the copy: taking
	// lock_ to publish is a locked instruction (x86: drains this CPU's
	// write-combining buffers) and a release (arm64: orders the stores
	// before the commit's DC CVAP).
	SharedGuard in_place_copy(gate_, false);
	Block b;
	bool in_place;
	for (;;) {
		bool need_gate = false;
		{
			Guard g(lock_);
			if (has_error()) {
				stats_.writes++;
				return WriteResult::kError;
			}
			Block hit = map_.find(sector);
			if (hit != kNoBlock && !(map_.state(hit) & BlockMap::kCommitted)) {
				if (!in_place_copy.held()) {
					need_gate = true;	// look again once held
				} else {
					stats_.write_hits_uncommitted++;
					b = hit;
					in_place = true;
				}
			} else {
				if (hit != kNoBlock) {
					stats_.write_hits_committed++;
				} else if (params_.cleaner || (params_.metadata_only && !req_meta)) {
					stats_.writes++;
					stats_.writes_around++;
					return WriteResult::kAround;
				}
				b = map_.alloc();
				if (b == kNoBlock) {
					stats_.writes_blocked_on_freelist++;
					return WriteResult::kNoSpace;
				}
				in_place = false;
				stats_.writes_allocate++;
			}
			if (!need_gate)
				stats_.writes++;
		}
		if (!need_gate)
			break;
		in_place_copy.take();
	}

	pmem_->memcpy(data_ + static_cast<uint64_t>(b) * bs_, src, bs_);
	if (in_place)
		return WriteResult::kCached;

	Guard g(lock_);
	write_entry(b, sector, seq_);
	Block cur = map_.find(sector);
	if (cur != kNoBlock)
		supersede_locked(cur);
	map_.index_insert(b, sector);
	map_.push_head(BlockMap::kLru, b);
	map_.set_age(b, wc_plat_now_ms());
	uncommitted_++;
	return WriteResult::kCached;
}

Status Cache::end_write(bool fua, bool *arm_timer)
{
	*arm_timer = false;
	bool need;
	{
		Guard g(lock_);
		need = fua || uncommitted_ >= params_.autocommit_blocks;
		if (!need)
			*arm_timer = true;
	}
	if (!need)
		return Status::success();
	WC_TRY(commit());
	if (has_error())
		return Error{-WC_EIO, "commit failed"};
	return Status::success();
}

bool Cache::read_block(uint64_t sector, void *dst, bool *io_error)
{
	*io_error = false;
	SharedGuard reading(gate_);	// no block is freed under us
	Block b;
	{
		Guard g(lock_);
		stats_.reads++;
		b = map_.find(sector);
		if (b == kNoBlock)
			return false;
		stats_.read_hits++;
	}
	if (!pmem_->read(dst, data_ + static_cast<uint64_t>(b) * bs_, bs_)) {
		latch_error(-WC_EIO, "hardware memory error when reading data");
		*io_error = true;
	}
	return true;
}

uint64_t Cache::next_cached(uint64_t sector, uint64_t limit_blocks) const
{
	Guard g(const_cast<Lock &>(lock_));
	return next_cached_locked(sector, limit_blocks);
}

uint64_t Cache::next_cached_locked(uint64_t sector, uint64_t limit_blocks) const
{
	const uint64_t step = bs_ >> 9;
	// Probing each block is bounded by the bio; past the cache's own size
	// a scan of the used blocks is cheaper.
	if (limit_blocks <= n_blocks_) {
		for (uint64_t i = 0; i < limit_blocks; i++)
			if (map_.find(sector + i * step) != kNoBlock)
				return sector + i * step;
		return ~0ull;
	}
	uint64_t best = ~0ull, end = sector + limit_blocks * step;
	for (Block b = map_.head(BlockMap::kLru); b != kNoBlock;
	     b = map_.older(BlockMap::kLru, b)) {
		uint64_t s = map_.sector(b);
		if (s >= sector && s < end && s < best)
			best = s;
	}
	return best;
}

void Cache::doom_locked(Block b)
{
	clear_entry(b);
	if (!(map_.state(b) & BlockMap::kSuperseded))
		map_.index_erase(b);
	map_.unlink(b);
	map_.set_flag(b, BlockMap::kSuperseded);
	map_.push_tail(BlockMap::kFreeing, b);
}

void Cache::discard(uint64_t start, uint64_t end)
{
	ExclusiveGuard freeing(gate_);
	{
		Guard g(lock_);
		const uint64_t step = bs_ >> 9;
		uint64_t blocks = (end - start) / step;
		stats_.discards += blocks;
		if (has_error())
			return;

		// Blocks being written back survive (upstream does the same);
		// the writeback completion frees them.
		auto doom = [&](Block b) {
			if (!(map_.state(b) & BlockMap::kInProgress))
				doom_locked(b);
		};
		// Older superseded versions of these sectors must go too, or a
		// crash after the discard could resurrect them.
		for (Block b = map_.head(BlockMap::kSupersededList), nx; b != kNoBlock; b = nx) {
			nx = map_.older(BlockMap::kSupersededList, b);
			if (map_.sector(b) >= start && map_.sector(b) < end)
				doom(b);
		}
		if (blocks <= n_blocks_) {
			for (uint64_t s = start; s < end; s += step) {
				Block b = map_.find(s);
				if (b != kNoBlock)
					doom(b);
			}
		} else {
			for (Block b = map_.head(BlockMap::kLru), nx; b != kNoBlock; b = nx) {
				nx = map_.older(BlockMap::kLru, b);
				if (map_.sector(b) >= start && map_.sector(b) < end)
					doom(b);
			}
		}
	}
	release_freeing();
}

void Cache::fill_status(wc_status *st)
{
	Guard g(lock_);
	*st = stats_;
	st->error = has_error() ? 1 : 0;
	st->n_blocks = n_blocks_;
	st->free_blocks = map_.free_count();
	st->writeback_blocks = writeback_size_;
}

void Cache::account_around(uint64_t blocks)
{
	Guard g(lock_);
	stats_.writes += blocks;
	stats_.writes_around += blocks;
}

void Cache::count_discard(uint64_t blocks)
{
	Guard g(lock_);
	stats_.discards += blocks;
}

void Cache::count_flush()
{
	Guard g(lock_);
	stats_.flushes++;
}

void Cache::count_reads(uint64_t blocks)
{
	Guard g(lock_);
	stats_.reads += blocks;
}

uint64_t Cache::writeback_blocks() const
{
	Guard g(const_cast<Lock &>(lock_));
	return writeback_size_;
}

uint64_t Cache::free_blocks() const
{
	Guard g(const_cast<Lock &>(lock_));
	return map_.free_count();
}

void Cache::clear_stats()
{
	Guard g(lock_);
	stats_ = wc_status{};
}

void Cache::set_cleaner()
{
	Guard g(lock_);
	params_.cleaner = true;
	high_free_ = low_free_ = n_blocks_;
}

} // namespace wc
