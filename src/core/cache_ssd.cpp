// SPDX-License-Identifier: GPL-2.0
// SSD mode: where each bio goes. Data never passes through the core: the
// shim remaps the bio to the cache device (at ssd_data_sector()) or to the
// origin. The core picks the target, updates the block map and the
// metadata mirror, and reports the data I/O to the device while it still
// holds the gate, so a commit or a free that follows waits for it.
//
// Upstream's rules (writecache_map_write / writecache_bio_copy_ssd /
// writecache_map_read), with two differences:
//  - a new run stops at a sector that is already cached; upstream gives
//    the following blocks fresh entries without a lookup, which can leave
//    two entries with one sector and one seq (a "two identical entries"
//    error after a crash);
//  - a read hit covers a run of physically consecutive cached blocks
//    rather than one block per bio (the same counters result).
#include "cache.h"

namespace wc {

void Cache::insert_new_locked(Block b, uint64_t sector)
{
	write_entry(b, sector, seq_);
	map_.index_insert(b, sector);
	map_.push_head(BlockMap::kLru, b);
	map_.set_age(b, wc_plat_now_ms());
	uncommitted_++;
}

// Straight to the origin, up to the next cached block (or one whose older
// version is still being written back: a write must not race it).
SsdMapping Cache::around_locked(uint64_t sector, uint64_t blocks)
{
	SsdMapping m;
	m.target = SsdTarget::kOrigin;
	m.blocks = around_blocks_locked(sector, blocks, true);
	stats_.writes += m.blocks;
	stats_.writes_around += m.blocks;
	return m;
}

SsdMapping Cache::ssd_map_write(uint64_t sector, uint64_t blocks, bool req_meta)
{
	const uint64_t step = bs_ >> 9;
	SsdMapping m;
	SharedGuard mapping(gate_);
	Guard g(lock_);

	if (has_error()) {
		stats_.writes += blocks;
		m.target = SsdTarget::kError;
		return m;
	}
	Block hit = map_.find(sector);
	bool in_place = false;
	// An older version still being written back: the write must take a
	// new block (or wait for one), never go around it.
	bool in_flight = hit == kNoBlock && !params_.test_around_ignores_inflight &&
			 older_in_flight_locked(sector);
	if (in_flight) {
		stats_.write_hits_committed++;	// upstream finds that entry
	} else if (hit != kNoBlock) {
		if (!(map_.state(hit) & BlockMap::kCommitted)) {
			stats_.write_hits_uncommitted++;
			in_place = true;
		} else {
			stats_.write_hits_committed++;
			// A block being written back keeps its data: the new
			// version goes to a new block.
			if (!(map_.state(hit) & BlockMap::kInProgress)) {
				overwrote_committed_ = true;
				in_place = true;
			}
		}
	} else if (params_.cleaner || (params_.metadata_only && !req_meta)) {
		return around_locked(sector, blocks);
	}

	if (in_place) {
		// Extend over the following sectors while they are cached in
		// the following cache blocks.
		m.block = hit;
		m.blocks = 1;
		while (m.blocks < blocks) {
			uint64_t next = static_cast<uint64_t>(hit) + m.blocks;
			if (next >= n_blocks_ ||
			    map_.find(sector + m.blocks * step) != static_cast<Block>(next))
				break;
			uint8_t st = map_.state(static_cast<Block>(next));
			if (st & BlockMap::kInProgress)
				break;
			if (st & BlockMap::kCommitted)
				overwrote_committed_ = true;
			m.blocks++;
		}
	} else {
		Block b = map_.alloc();
		if (b == kNoBlock) {
			if (hit == kNoBlock && !in_flight)
				return around_locked(sector, blocks);
			stats_.writes_blocked_on_freelist++;
			m.target = SsdTarget::kNoSpace;
			return m;
		}
		if (hit != kNoBlock)
			supersede_locked(hit);
		insert_new_locked(b, sector);
		m.block = b;
		m.blocks = 1;
		// One bio covers the run only while the next free block is
		// the physically next one.
		while (m.blocks < blocks) {
			uint64_t next = static_cast<uint64_t>(b) + m.blocks;
			uint64_t s = sector + m.blocks * step;
			if (next >= n_blocks_ || !map_.is_free(static_cast<Block>(next)) ||
			    map_.find(s) != kNoBlock)
				break;
			map_.alloc(static_cast<Block>(next));
			insert_new_locked(static_cast<Block>(next), s);
			m.blocks++;
		}
		stats_.writes_allocate += m.blocks;
	}
	stats_.writes += m.blocks;
	m.target = SsdTarget::kCache;
	if (uncommitted_ >= params_.autocommit_blocks) {
		uncommitted_ = 0;
		m.commit_now = true;
	} else {
		m.arm_timer = true;
	}
	dev_->data_io_begin(true);
	return m;
}

SsdMapping Cache::ssd_map_read(uint64_t sector, uint64_t blocks)
{
	const uint64_t step = bs_ >> 9;
	SsdMapping m;
	SharedGuard mapping(gate_);
	Guard g(lock_);

	Block b = map_.find(sector);
	if (b == kNoBlock) {
		m.target = SsdTarget::kOrigin;
		m.blocks = around_blocks_locked(sector, blocks, false);
		stats_.reads += m.blocks;
		return m;
	}
	m.target = SsdTarget::kCache;
	m.block = b;
	m.blocks = 0;
	for (;;) {
		if (!(map_.state(b) & BlockMap::kCommitted))
			m.uncommitted = true;
		m.blocks++;
		uint64_t next = static_cast<uint64_t>(m.block) + m.blocks;
		if (m.blocks == blocks || next >= n_blocks_)
			break;
		b = static_cast<Block>(next);
		if (map_.find(sector + m.blocks * step) != b)
			break;
	}
	stats_.reads += m.blocks;
	stats_.read_hits += m.blocks;
	dev_->data_io_begin(false);
	return m;
}

} // namespace wc
