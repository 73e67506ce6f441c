// SPDX-License-Identifier: GPL-2.0
// Writeback: the oldest committed blocks go back to the origin in runs of
// consecutive sectors (up to 256 blocks, one bio). A completed run frees
// its blocks; a failed one latches the error and keeps them.
#include "cache.h"
#include "text.h"

namespace wc {

// upstream: max_age - max_age/16, so a timer ticking every max_age/16
// writes a block back between max_age*15/16 and max_age after it came.
bool Cache::aged_out_locked(uint32_t now) const
{
	if (params_.max_age_ms == WC_MAX_AGE_UNSPECIFIED || !map_.tracks_age())
		return false;
	Block b = map_.tail(BlockMap::kLru);
	if (b == kNoBlock)
		return false;
	uint32_t limit = params_.max_age_ms - params_.max_age_ms / 16;
	return now - map_.age(b) >= limit;
}

bool Cache::writeback_wanted() const
{
	Guard g(const_cast<Lock &>(lock_));
	return writeback_wanted_locked();
}

bool Cache::writeback_wanted_locked() const
{
	if (has_error() || map_.list_empty(BlockMap::kLru))
		return false;
	if (map_.free_count() + writeback_size_ <= high_free_)
		return true;
	// The clock only with max_age (it is a call on the write path).
	return map_.tracks_age() && aged_out_locked(wc_plat_now_ms());
}

bool Cache::writeback_pending() const
{
	Guard g(const_cast<Lock &>(lock_));
	return !has_error() && !map_.list_empty(BlockMap::kLru);
}

bool Cache::writeback_take_skipped()
{
	Guard g(lock_);
	bool skipped = skipped_in_flight_;
	skipped_in_flight_ = false;
	return skipped && !has_error();
}

// The writeback ordering rule: at most one write per origin sector in
// flight. A block whose sector still has an older version being written
// back (indexed as in flight, see supersede_locked()) waits: the two
// writes could reach the origin in either order. Its turn comes after
// that completion (writeback_done() wakes the writeback again).
bool Cache::writeback_next(WritebackRun *run, bool all)
{
	for (;;) {
		{
			// SSD: a block overwritten in place may still have its
			// data write in flight; the copy must read the new data.
			// The gate keeps new writes out while we wait and pick.
			ExclusiveGuard picking(gate_, dev_ != nullptr);
			if (dev_ && __atomic_load_n(&overwrote_committed_, __ATOMIC_RELAXED))
				dev_->wait_for_data_writes();
			Guard g(lock_);
			if (has_error())
				return false;
			if (!all && map_.free_count() + writeback_size_ > low_free_ &&
			    !aged_out_locked(wc_plat_now_ms()))
				return false;
			Block b = map_.tail(BlockMap::kLru);
			// Skipping is bounded by the writes in flight.
			while (b != kNoBlock && (map_.state(b) & BlockMap::kCommitted) &&
			       !params_.test_writeback_ignores_inflight &&
			       older_in_flight_locked(map_.sector(b))) {
				skipped_in_flight_ = true;
				b = map_.newer(BlockMap::kLru, b);
			}
			if (b == kNoBlock)
				return false;
			if (map_.state(b) & BlockMap::kCommitted) {
				pick_run_locked(run, b);
				return true;
			}
		}
		// Only committed data is written back: commit first.
		if (!commit().ok())
			return false;
	}
}

// A run of committed, idle blocks for consecutive sectors from b's, up to
// 256. SSD copies a run with one kcopyd job, so its blocks must also be
// physically consecutive on the cache device.
void Cache::pick_run_locked(WritebackRun *run, Block b)
{
	const uint64_t step = bs_ >> 9;
	run->sector = map_.sector(b);
	run->count = 0;
	for (;;) {
		map_.unlink(b);
		map_.set_flag(b, BlockMap::kInProgress);
		map_.push_tail(BlockMap::kWriteback, b);
		run->blocks[run->count++] = b;
		writeback_size_++;
		if (run->count == WritebackRun::kMaxBlocks)
			break;
		uint64_t s = run->sector + run->count * step;
		b = map_.find(s);
		if (b == kNoBlock ||
		    (map_.state(b) & (BlockMap::kCommitted | BlockMap::kInProgress)) !=
			    BlockMap::kCommitted)
			break;
		if (dev_ && b != run->blocks[0] + run->count)
			break;
		if (!params_.test_writeback_ignores_inflight && older_in_flight_locked(s)) {
			skipped_in_flight_ = true;
			break;
		}
	}
}

void Cache::writeback_done(const WritebackRun &run, bool ok, int status)
{
	ExclusiveGuard freeing(gate_);
	{
		Guard g(lock_);
		if (!ok && (status == 0 || (dev_ && status > 0))) {
			latch_error(-WC_EIO, dev_ ? "copy error" : "write error");
		} else if (!ok) {
			// Upstream's texts: "error flushing metadata: %d" (errno)
			// for the origin flush, "write error %d" (blk_status_t).
			char buf[48];
			TextBuf t(buf, sizeof(buf));
			const char *msg = status < 0 ? "error flushing metadata" : "write error";
			t.put(msg);
			t.put(status < 0 ? ": -" : " ");
			t.put_u64(status < 0 ? -(int64_t)status : status);
			latch_error(-WC_EIO, msg, buf);
		}
		for (uint32_t i = 0; i < run.count; i++) {
			Block b = run.blocks[i];
			bool superseded = map_.state(b) & BlockMap::kSuperseded;
			if (superseded) {
				// No longer an in-flight older version.
				map_.index_erase(b);
				in_flight_old_--;
			}
			map_.clear_flag(b, BlockMap::kInProgress);
			writeback_size_--;
			if (has_error()) {
				if (!superseded) {
					map_.unlink(b);
					map_.push_tail(BlockMap::kLru, b);
				}
				continue;
			}
			doom_locked(b);
		}
	}
	release_freeing(true);
}

} // namespace wc
