// SPDX-License-Identifier: GPL-2.0
// What pmem and SSD mode share: entries, superseding, discard, the error
// state and the counters. The bio paths are cache_pmem.cpp and
// cache_ssd.cpp.
#include "cache.h"
#include "endian.h"
#include "text.h"

namespace wc {

using namespace layout;

// The first error sticks (upstream's wc->error) and is logged once; it
// wakes writers waiting for a free block, which then fail.
void Cache::latch_error(int err, const char *msg, const char *detail)
{
	int expected = 0;
	if (__atomic_compare_exchange_n(&error_, &expected, err, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		error_msg_ = msg;
		wc_plat_log_error(detail ? detail : msg);
		wake();
	}
}

// upstream's "<msg>: <errno>" form.
void Cache::latch_error_errno(int err, const char *msg)
{
	char buf[96];
	TextBuf t(buf, sizeof(buf));
	t.put(msg);
	t.put(": -");
	t.put_u64(err < 0 ? static_cast<uint64_t>(-static_cast<int64_t>(err)) :
			    static_cast<uint64_t>(err));
	latch_error(err, msg, buf);
}

// An I/O error from the metadata layer, with upstream's errno suffix on
// the messages upstream formats with one.
void Cache::latch_status(const Error &e)
{
	if (__builtin_strcmp(e.message, "error flushing metadata") == 0 ||
	    __builtin_strcmp(e.message, "unable to read metadata") == 0)
		latch_error_errno(e.code, e.message);
	else
		latch_error(e.code, e.message);
}

void Cache::wake(bool from_writeback)
{
	if (params_.test_wake_only_on_writeback && !from_writeback)
		return;
	if (waker_)
		waker_(waker_ctx_);
}

bool Cache::older_in_flight_locked(uint64_t sector) const
{
	return in_flight_old_ && map_.find_in_flight(sector) != kNoBlock;
}

// A write to this sector must go into the cache (not around it): a
// version is cached, or an older one is still being written back and an
// origin write could land before it.
bool Cache::cached_for_write_locked(uint64_t sector) const
{
	if (map_.find(sector) != kNoBlock)
		return true;
	return !params_.test_around_ignores_inflight && older_in_flight_locked(sector);
}

// Sector first, then seq: a crash between the two leaves the old seq
// (free, or this epoch's uncommitted seq), which load discards.
void Cache::write_entry(Block b, uint64_t sector, uint64_t seq)
{
	if (dev_) {
		ssd_.set_entry(b, sector, seq);
		return;
	}
	FlushLayer pmem = pm();
	pmem.assign(entry_word(b, kOffOriginalSector), to_le64(sector));
	pmem.assign(entry_word(b, kOffEntrySeq), to_le64(seq));
}

void Cache::clear_entry(Block b)
{
	if (dev_) {
		ssd_.set_entry_free(b);
		return;
	}
	pm().assign(entry_word(b, kOffEntrySeq), ~0ull);
}

// `old` (indexed) loses its sector to a newer block. A committed old
// version stays valid on media until the commit that makes the new one
// durable; an uncommitted one (a racing writer) is dead at once, and its
// entry must not survive into the next commit.
//
// A block still being written back stays indexed (as an in-flight older
// version) until its write completes: the rule that keeps at most one
// write per origin sector in flight (writeback_next() skips a sector with
// one, and writes do not go around it).
void Cache::supersede_locked(Block old)
{
	uint8_t st = map_.state(old);
	if (!(st & BlockMap::kCommitted)) {
		clear_entry(old);
		uncommitted_--;
	}
	if (st & BlockMap::kInProgress)
		in_flight_old_++;
	else
		map_.index_erase(old);
	map_.unlink(old);
	map_.set_flag(old, BlockMap::kSuperseded);
	map_.push_tail(BlockMap::kSupersededList, old);
}

// Blocks from `sector` (a miss) up to the next cached one, at most
// `blocks` and at most kMaxRunBlocks: the part of a bio that goes to the
// origin in one piece. The cap bounds the probes made under lock_; the
// shim resubmits the rest of the bio.
uint64_t Cache::around_blocks_locked(uint64_t sector, uint64_t blocks, bool in_flight) const
{
	const uint64_t step = bs_ >> 9;
	uint64_t limit = blocks < kMaxRunBlocks ? blocks : kMaxRunBlocks;
	for (uint64_t n = 1; n < limit; n++) {
		uint64_t s = sector + n * step;
		if (map_.find(s) != kNoBlock ||
		    (in_flight && !params_.test_around_ignores_inflight && older_in_flight_locked(s)))
			return n;
	}
	return limit;
}

void Cache::doom_locked(Block b)
{
	uint8_t st = map_.state(b);
	clear_entry(b);
	// A discarded uncommitted block still counts towards autocommit, as
	// upstream's (t-pmem-edge checks it against stock).
	if (!(st & BlockMap::kSuperseded))
		map_.index_erase(b);
	map_.unlink(b);
	map_.set_flag(b, BlockMap::kSuperseded | BlockMap::kDoomed);
	map_.push_tail(BlockMap::kFreeing, b);
}

// gate_ exclusive: nothing else frees blocks or takes them off the
// superseded list, so the scans may drop lock_ (LockBreaker) on a cache of
// millions of blocks; a write published meanwhile is concurrent with the
// discard and may survive it.
void Cache::discard(uint64_t start, uint64_t end)
{
	ExclusiveGuard freeing(gate_);
	{
		Guard g(lock_);
		LockBreaker relax(lock_);
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
		if (blocks <= n_blocks_) {
			// Older superseded versions of these sectors must go
			// too, or a crash after the discard could resurrect
			// them.
			Block last = map_.tail(BlockMap::kSupersededList);
			for (Block b = map_.head(BlockMap::kSupersededList), nx; b != kNoBlock;
			     b = nx) {
				nx = map_.older(BlockMap::kSupersededList, b);
				if (map_.sector(b) >= start && map_.sector(b) < end)
					doom(b);
				if (b == last)
					break;
				relax.tick();
			}
			for (uint64_t s = start; s < end; s += step) {
				Block b = map_.find(s);
				if (b != kNoBlock)
					doom(b);
				relax.tick();
			}
		} else {
			// Every block, current or superseded, by position (a
			// block still being copied into is neither: it is not
			// found by its stale sector).
			for (uint64_t i = 0; i < n_blocks_; i++) {
				Block b = static_cast<Block>(i);
				uint8_t st = map_.state(b);
				uint64_t s = map_.sector(b);
				bool live = (st & BlockMap::kSuperseded) ? !(st & BlockMap::kDoomed) :
					    (st & BlockMap::kUsed) && map_.find(s) == b;
				if (live && s >= start && s < end)
					doom(b);
				relax.tick();
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
	__atomic_store_n(&params_.cleaner, true, __ATOMIC_RELAXED);
	high_free_ = low_free_ = n_blocks_;
}

} // namespace wc
