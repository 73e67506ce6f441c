// SPDX-License-Identifier: GPL-2.0
// pmem mode's I/O paths, one call per bio (wc_cache_write/read/flush).
//
// A write bio: under one hold of lock_ the blocks of a batch are looked up
// and allocated; the data is copied outside the lock, straight from the
// bio's segments into pmem through the flush layer; one more hold
// publishes the batch (entries, index, LRU) and, after the last batch,
// decides the commit. A bio of up to kBatch blocks takes lock_ twice.
//
// The gate (cache.h): a new block is copied before it is published, so no
// commit can see it half-written and the copy needs no gate. Only an
// in-place overwrite of an uncommitted block, which a commit may be
// publishing, holds the gate shared across its copy; so does a publish
// that supersedes a block a running commit is committing. Cross-CPU
// durability of the copy: taking lock_ to publish is a locked instruction
// (x86: drains this CPU's write-combining buffers) and a release (arm64:
// orders the stores before the commit's DC CVAP).
#include "cache.h"

namespace wc {

namespace {

uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

// Walk `bytes` of the bio from its cursor, one piece per segment (a block
// may be split across segments anywhere): fn(segment address, offset of
// the piece in the walk, length) returns false to stop. Refills the
// segments when they run out; the cursor ends after the last piece.
template <typename Fn>
bool walk_pieces(wc_bio &b, uint32_t bytes, Fn fn)
{
	uint32_t done = 0;
	while (done < bytes) {
		if (b.seg == b.nsegs) {
			b.refill(&b);
			b.seg = 0;
			b.off = 0;
		}
		const wc_seg &s = b.segs[b.seg];
		uint32_t n = s.len - b.off < bytes - done ? s.len - b.off : bytes - done;
		if (!fn(static_cast<uint8_t *>(s.addr) + b.off, done, n))
			return false;
		done += n;
		b.off += n;
		if (b.off == s.len) {
			b.seg++;
			b.off = 0;
		}
	}
	return true;
}

} // namespace

// Copy one block from the bio's segments (at its cursor) to dst.
void Cache::copy_in(wc_bio &b, uint8_t *dst)
{
	FlushLayer pmem = pm();
	walk_pieces(b, bs_, [&](uint8_t *seg, uint32_t at, uint32_t n) {
		pmem.memcpy(dst + at, seg, n);
		return true;
	});
}

// Copy one block from pmem to the bio's segments; false on a machine
// check.
bool Cache::copy_out(wc_bio &b, const uint8_t *src)
{
	FlushLayer pmem = pm();
	return walk_pieces(b, bs_, [&](uint8_t *seg, uint32_t at, uint32_t n) {
		return pmem.read(seg, src + at, n);
	});
}

bool Cache::uncommitted_locked() const
{
	Block head = map_.head(BlockMap::kLru);
	return head != kNoBlock && !(map_.state(head) & BlockMap::kCommitted);
}

// cleaner / metadata_only: the bio's leading run is wholly cached or
// wholly sent around. True (and out->run) when it goes around; otherwise
// b is cut to the cached run, which the rest of the call caches whatever
// the cleaner message does meanwhile (WC_BIO_PLANNED).
bool Cache::plan_around_locked(wc_bio &b, bool meta, wc_io_out *out)
{
	b.flags |= WC_BIO_PLANNED;
	if (!params_.cleaner && !(params_.metadata_only && !meta))
		return false;
	const uint64_t step = bs_ >> 9;
	uint64_t limit = min64(b.blocks, kMaxRunBlocks);
	bool cached = cached_for_write_locked(b.sector);
	uint64_t n = 1;
	while (n < limit && cached_for_write_locked(b.sector + n * step) == cached)
		n++;
	if (cached) {
		b.blocks = n;
		return false;
	}
	stats_.writes += n;
	stats_.writes_around += n;
	out->run = n;
	return true;
}

// Look up (and allocate) the next blocks of b, at most kBatch. Stops
// before an uncommitted hit while the gate is not held (*need_gate) and
// where no block is free.
uint32_t Cache::plan_batch_locked(const wc_bio &b, Slot *slots, bool gate_held, bool *need_gate)
{
	const uint64_t step = bs_ >> 9;
	uint32_t limit = static_cast<uint32_t>(min64(b.blocks, kBatch));
	uint32_t n = 0;
	for (; n < limit; n++) {
		uint64_t sector = b.sector + n * step;
		Block hit = map_.find(sector);
		if (hit != kNoBlock && !(map_.state(hit) & BlockMap::kCommitted)) {
			if (!gate_held) {
				*need_gate = true;
				break;
			}
			stats_.write_hits_uncommitted++;
			slots[n] = {hit, true};
		} else {
			Block nb = map_.alloc();
			if (nb == kNoBlock)
				break;
			// (upstream counts an in-flight older version as a hit)
			if (hit != kNoBlock || (in_flight_old_ && older_in_flight_locked(sector)))
				stats_.write_hits_committed++;
			stats_.writes_allocate++;
			slots[n] = {nb, false};
		}
		stats_.writes++;
	}
	return n;
}

// Publish new block b for sector; false (nothing done) if it would
// supersede a block a running commit is committing while the gate is not
// held: the caller takes the gate, which waits for that commit.
bool Cache::publish_locked(uint64_t sector, Block b, bool gate_held)
{
	Block cur = map_.find(sector);
	if (cur != kNoBlock && !(map_.state(cur) & BlockMap::kCommitted) && committing_ &&
	    !gate_held)
		return false;
	write_entry(b, sector, seq_);
	if (cur != kNoBlock)
		supersede_locked(cur);
	map_.index_insert(b, sector);
	map_.push_head(BlockMap::kLru, b);
	if (map_.tracks_age())
		map_.set_age(b, wc_plat_now_ms());
	uncommitted_++;
	return true;
}

wc_io_result Cache::write(wc_bio &b, wc_io_out *out)
{
	*out = {};
	const uint64_t step = bs_ >> 9;
	const bool fua = b.flags & WC_BIO_FUA;
	SharedGuard gate(gate_, false);
	bool commit_now = false;
	// Not zeroed on every call (the kernel builds with
	// -ftrivial-auto-var-init=zero): only filled entries are read.
	Slot slots[kBatch] __attribute__((uninitialized));

	while (b.blocks) {
		uint32_t n;
		bool need_gate = false;
		{
			Guard g(lock_);
			if (has_error()) {
				stats_.writes++;
				return WC_IO_ERROR;
			}
			if (!(b.flags & WC_BIO_PLANNED)) {
				if ((params_.cleaner || params_.metadata_only) &&
				    plan_around_locked(b, b.flags & WC_BIO_META, out))
					return WC_IO_ORIGIN;
				b.flags |= WC_BIO_PLANNED;
			}
			n = plan_batch_locked(b, slots, gate.held(), &need_gate);
			if (n == 0 && !need_gate) {
				stats_.writes_blocked_on_freelist++;
				return WC_IO_NOSPACE;
			}
		}
		if (n == 0) {
			gate.take();	// look again once held
			continue;
		}

		uint8_t *data = data_;
		for (uint32_t i = 0; i < n; i++)
			copy_in(b, data + static_cast<uint64_t>(slots[i].block) * bs_);

		Guard g(lock_);
		for (uint32_t i = 0; i < n; i++) {
			if (slots[i].in_place)
				continue;
			while (!publish_locked(b.sector + i * step, slots[i].block, gate.held())) {
				Unguard waiting(lock_);
				gate.take();
			}
		}
		b.sector += n * step;
		b.blocks -= n;
		if (b.blocks == 0) {
			commit_now = fua || uncommitted_ >= params_.autocommit_blocks;
			out->arm_timer = !commit_now;
			out->writeback = writeback_wanted_locked();
		}
	}
	if (!commit_now)
		return WC_IO_DONE;
	gate.release();	// the commit takes it exclusive
	Status st = commit();
	if (!st.ok() || has_error())
		return WC_IO_ERROR;
	Guard g(lock_);
	out->writeback = writeback_wanted_locked();
	return WC_IO_DONE;
}

wc_io_result Cache::read(wc_bio &b, wc_io_out *out)
{
	*out = {};
	const uint64_t step = bs_ >> 9;
	// Held across the run: its blocks may be superseded by newer
	// versions (also cached) but not freed.
	SharedGuard reading(gate_);
	Block blocks[kBatch] __attribute__((uninitialized));
	uint64_t left = min64(b.blocks, kMaxRunBlocks);
	bool first = true;
	while (left) {
		uint32_t n = 0;
		{
			Guard g(lock_);
			uint32_t limit = static_cast<uint32_t>(min64(left, kBatch));
			for (; n < limit; n++) {
				blocks[n] = map_.find(b.sector + n * step);
				if (blocks[n] == kNoBlock)
					break;
			}
			if (n == 0 && first) {
				out->run = around_blocks_locked(b.sector, b.blocks, false);
				stats_.reads += out->run;
				return WC_IO_ORIGIN;
			}
			stats_.reads += n;
			stats_.read_hits += n;
		}
		first = false;
		for (uint32_t i = 0; i < n; i++) {
			if (!copy_out(b, data_ + static_cast<uint64_t>(blocks[i]) * bs_)) {
				latch_error_errno(-WC_EIO, "hardware memory error when reading data");
				return WC_IO_ERROR;
			}
			b.sector += step;
			b.blocks--;
		}
		if (n < kBatch)
			break;	// a miss (or the end): the run ends here
		left -= n;
	}
	return WC_IO_DONE;
}

// An empty flush with nothing uncommitted takes neither the gate nor a
// barrier (O_DSYNC: the FUA write has committed already).
Status Cache::flush()
{
	{
		Guard g(lock_);
		if (has_error())
			return Error{-WC_EIO, "the cache is in the error state"};
		stats_.flushes++;
		if (!uncommitted_locked()) {
			uncommitted_ = 0;	// discarded ones counted till now
			return Status::success();
		}
	}
	WC_TRY(commit());
	if (has_error())
		return Error{-WC_EIO, "commit failed"};
	return Status::success();
}

} // namespace wc
