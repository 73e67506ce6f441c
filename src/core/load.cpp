// SPDX-License-Identifier: GPL-2.0
// The scan done at every resume, with upstream's rules:
//   - an entry with seq >= sb.seq_count is uncommitted: cleared (if not
//     already free) and the block is free;
//   - two committed entries for one sector: the higher seq wins, the
//     other is cleared;
//   - two with the same seq: an error (latched), and the later one wins;
//   - a machine check on an entry latches the error, and that entry and
//     every later one are treated as free without touching the media.
// LRU order afterwards is index order (block 0 oldest), as upstream's.
// Entries cleared here are made durable (pmem: a barrier; SSD: the whole
// mirror rewritten, as upstream's writecache_flush_all_metadata).
#include "cache.h"
#include "endian.h"
#include "text.h"

namespace wc {

using namespace layout;

bool Cache::read_entry(Block b, uint64_t *sector, uint64_t *seq)
{
	if (dev_) {
		*sector = ssd_.entry_sector(b);
		*seq = ssd_.entry_seq(b);
		return true;
	}
	uint64_t e[2];
	if (!pmem_->read(e, area_.base + entry_offset(b), sizeof(e)))
		return false;
	*sector = from_le64(e[0]);
	*seq = from_le64(e[1]);
	return true;
}

Status Cache::load()
{
	ExclusiveGuard exclusive(gate_);
	// SSD: a read error leaves every entry free (upstream drops the
	// cache's contents) and latches the error.
	if (dev_ && !ssd_.load().ok())
		latch_error(-WC_EIO, "unable to read metadata");
	if (scan_entries()) {
		if (!dev_) {
			barrier();
		} else {
			ssd_.mark_all_dirty();
			Status r = ssd_.commit_free_markers();
			if (!r.ok())
				latch_error(r.error().code, r.error().message);
		}
	}
	return Status::success();
}

bool Cache::scan_entries()
{
	Guard g(lock_);
	map_.reset();
	writeback_size_ = 0;
	uncommitted_ = 0;
	overwrote_committed_ = false;

	uint64_t le_seq;
	if (dev_) {
		le_seq = to_le64(ssd_.seq_count());
	} else if (!pmem_->read(&le_seq, area_.base + kOffSeqCount, 8)) {
		latch_error(-WC_EIO, "hardware memory error when reading superblock");
		le_seq = 0;
	}
	seq_ = from_le64(le_seq);

	bool drop = has_error();
	const uint32_t now = wc_plat_now_ms();
	bool need_barrier = false;
	for (uint64_t i = 0; i < n_blocks_; i++) {
		Block b = static_cast<Block>(i);
		uint64_t sector, seq;
		if (drop)
			continue;
		if (!read_entry(b, &sector, &seq)) {
			latch_error(-WC_EIO, "hardware memory error when reading metadata entry");
			drop = true;
			continue;
		}
		if (seq >= seq_) {
			if (seq != ~0ull) {
				clear_entry(b);
				need_barrier = true;
			}
			continue;
		}
		Block old = map_.find(sector);
		if (old != kNoBlock) {
			uint64_t old_sector, old_seq;
			if (!read_entry(old, &old_sector, &old_seq)) {
				latch_error(-WC_EIO, "hardware memory error when reading metadata entry");
				drop = true;
				continue;
			}
			if (old_seq == seq) {
				char msg[160];
				TextBuf t(msg, sizeof(msg));
				t.put("two identical entries, position ");
				t.put_u64(i);
				t.put(", sector ");
				t.put_u64(sector);
				t.put(", sequence ");
				t.put_u64(seq);
				latch_error(-WC_EINVAL, "two identical entries", msg);
			}
			if (old_seq > seq) {
				clear_entry(b);
				need_barrier = true;
				continue;
			}
			clear_entry(old);
			map_.index_erase(old);
			map_.unlink(old);
			map_.release(old);
			need_barrier = true;
		}
		map_.mark_used(b);
		map_.set_flag(b, BlockMap::kCommitted);
		map_.index_insert(b, sector);
		map_.push_head(BlockMap::kLru, b);
		map_.set_age(b, now);
	}
	return need_barrier;
}

} // namespace wc
