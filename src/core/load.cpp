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
#include "text.h"

namespace wc {

using namespace layout;

bool Cache::read_entry(Block b, uint64_t *sector, uint64_t *seq)
{
	RawEntry e;
	if (read_entries(b, 1, &e) != 1)
		return false;
	*sector = e.sector;
	*seq = e.seq;
	return true;
}

// pmem: one machine-check-safe copy for the whole run; if it fails, entry
// by entry to find the first bad one. Returns how many read cleanly.
uint32_t Cache::read_entries(Block first, uint32_t count, RawEntry *out)
{
	if (dev_) {
		for (uint32_t j = 0; j < count; j++) {
			out[j].sector = ssd_.entry_sector(first + j);
			out[j].seq = ssd_.entry_seq(first + j);
		}
		return count;
	}
	// Read as they lie (MemoryEntry), then decoded in place.
	static_assert(sizeof(RawEntry) == sizeof(MemoryEntry), "entries are read as they lie");
	uint32_t good = count;
	if (!pmem_->read(out, area_.base + entry_offset(first), count * sizeof(RawEntry))) {
		for (good = 0; good < count; good++) {
			if (!pmem_->read(&out[good], area_.base + entry_offset(first + good),
					 sizeof(RawEntry)))
				break;
		}
	}
	for (uint32_t j = 0; j < good; j++) {
		Entry e = load_entry(&out[j]);
		out[j].sector = e.original_sector;
		out[j].seq = e.seq_count;
	}
	return good;
}

Status Cache::load()
{
	ExclusiveGuard exclusive(gate_);
	// SSD: a read error leaves every entry free (upstream drops the
	// cache's contents) and latches the error.
	if (dev_) {
		Status r = ssd_.load();
		if (!r.ok()) {
			latch_status(Error{r.error().code, "unable to read metadata"});
		} else if (!(r = ssd_.sync_data()).ok()) {
			// What was read may sit in the device's volatile cache
			// (free markers whose flush failed under the previous
			// table): make it durable before a block it frees is
			// reused, or a crash could pair an old entry with new
			// data.
			latch_status(r.error());
		}
	}
	if (scan_entries()) {
		if (!dev_) {
			barrier();
		} else {
			ssd_.mark_all_dirty();
			Status r = ssd_.commit_free_markers();
			if (!r.ok())
				latch_status(r.error());
		}
	}
	return Status::success();
}

bool Cache::scan_entries()
{
	Guard g(lock_);
	// The constructor has just built an empty map; later resumes rebuild.
	if (!map_fresh_)
		map_.reset();
	map_fresh_ = false;
	writeback_size_ = 0;
	in_flight_old_ = 0;
	committing_ = false;
	uncommitted_ = 0;
	overwrote_committed_ = false;

	// sb.seq_count: upstream reads just this field (pmem: machine-check
	// safe; on a machine check, the error and 0).
	if (dev_) {
		seq_ = ssd_.seq_count();
	} else {
		Le64 raw;
		if (pmem_->read(&raw, area_.base + kOffSeqCount, sizeof(raw))) {
			seq_ = raw.get();
		} else {
			latch_error_errno(-WC_EIO, "hardware memory error when reading superblock");
			seq_ = 0;
		}
	}

	const uint32_t now = wc_plat_now_ms();
	bool need_barrier = false;
	// Entries come in chunks of 1 KiB: activation cost is per call, not
	// per byte, on a cache of a million blocks.
	constexpr uint32_t kChunk = 64;
	RawEntry chunk[kChunk];
	bool drop = has_error();
	// gate_ exclusive and the device suspended: nothing else changes the
	// map, so lock_ may be dropped between chunks (millions of entries).
	LockBreaker relax(lock_, 64);
	for (uint64_t i = 0; i < n_blocks_ && !drop; i += kChunk) {
		relax.tick();
		uint64_t left = n_blocks_ - i;
		uint32_t want = left < kChunk ? static_cast<uint32_t>(left) : kChunk;
		uint32_t got = read_entries(static_cast<Block>(i), want, chunk);
		for (uint32_t j = 0; j < got && !drop; j++) {
			if (!scan_entry(static_cast<Block>(i + j), chunk[j], now, &need_barrier))
				drop = true;
		}
		if (got < want && !drop) {
			latch_error(-WC_EIO, "hardware memory error when reading metadata entry");
			drop = true;
		}
	}
	return need_barrier;
}

// One entry of the scan, by upstream's rules (top of file). False when a
// machine check latched the error: this entry and all later stay free.
bool Cache::scan_entry(Block b, const RawEntry &e, uint32_t now, bool *need_barrier)
{
	if (e.seq >= seq_) {
		if (e.seq != kSeqFree) {
			clear_entry(b);
			*need_barrier = true;
		}
		return true;
	}
	Block old = map_.index_insert_unique(b, e.sector);
	if (old != kNoBlock) {
		uint64_t old_sector, old_seq;
		if (!read_entry(old, &old_sector, &old_seq)) {
			latch_error(-WC_EIO, "hardware memory error when reading metadata entry");
			return false;
		}
		if (old_seq == e.seq) {
			char msg[160];
			TextBuf t(msg, sizeof(msg));
			t.put("two identical entries, position ");
			t.put_u64(b);
			t.put(", sector ");
			t.put_u64(e.sector);
			t.put(", sequence ");
			t.put_u64(e.seq);
			latch_error(-WC_EINVAL, "two identical entries", msg);
		}
		*need_barrier = true;
		if (old_seq > e.seq) {
			clear_entry(b);
			return true;
		}
		map_.index_replace(old, b);
		clear_entry(old);
		map_.unlink(old);
		map_.release(old);
	}
	map_.mark_used(b);
	map_.set_flag(b, BlockMap::kCommitted);
	map_.push_head(BlockMap::kLru, b);
	map_.set_age(b, now);
	return true;
}

} // namespace wc
