// SPDX-License-Identifier: GPL-2.0
// The commit protocol (pmem), over the flush layer (SSD mode's I/O
// sequence is SsdMetadata::commit(), driven by commit_ssd() below):
//
//   1. every uncommitted block's data is flushed (arm64: DC CVAP now, as
//      late as possible; x86: nothing, the copy was non-temporal); its
//      entry {sector, seq = S} was written with assign()
//   2. barrier                  -> data and entries durable
//   3. sb.seq_count = S + 1     -> every entry with seq S is committed
//   4. barrier                  -> the commit point
//   5. older versions those blocks replaced get free markers, barrier,
//      and only then return to the free bitmap
//
// The contract: a commit makes durable every write that completed before
// it began. A crash anywhere leaves either the old or the new version of
// each block: load() drops entries with seq >= sb.seq_count and, for two
// committed versions of a sector, keeps the higher seq.
#include "cache.h"
#include "endian.h"

namespace wc {

void Cache::barrier()
{
	pm().commit();
}

Status Cache::commit()
{
	if (dev_)
		return commit_ssd();
	{
		// Nothing to commit: no gate, no barrier.
		Guard g(lock_);
		if (!has_error() && !uncommitted_locked()) {
			uncommitted_ = 0;
			return Status::success();
		}
	}
	ExclusiveGuard exclusive(gate_);
	Status r = commit_pmem();
	release_freeing();
	return r;
}

// gate_ exclusive. The loops over the uncommitted blocks drop lock_ now
// and then (a commit may cover millions of blocks), and new-block writers
// publish meanwhile; what keeps it right:
//  - seq_ moves to S + 1 first: blocks published from then on carry S + 1,
//    which this commit's sb.seq_count = S + 1 leaves uncommitted; they go
//    to the LRU head, ahead of `head`, so the walks never meet them;
//  - the blocks from `head` on (seq S) stay put: in-place writers, frees
//    and readers are held off by the gate, writeback takes only committed
//    blocks, and a publish that would supersede one of them waits for this
//    commit (committing_, see write_block());
//  - the walk that sets kCommitted holds its place at a block not yet
//    marked, which writeback cannot take;
//  - only blocks superseded before the commit began are freed: the
//    superseded list up to `last_superseded` (later ones are appended).
Status Cache::commit_pmem()
{
	Guard g(lock_);
	if (has_error())
		return Error{-WC_EIO, "the cache is in the error state"};
	Block head = map_.head(BlockMap::kLru);
	if (head == kNoBlock || (map_.state(head) & BlockMap::kCommitted)) {
		// Nothing new; superseded blocks only exist beside a newer
		// uncommitted version, so there is nothing to free either.
		uncommitted_ = 0;	// discarded ones counted till now
		return Status::success();
	}
	const uint64_t next_seq = seq_ + 1;
	seq_ = next_seq;
	// What counts now is this commit's (discarded blocks included, as in
	// upstream); later publishes count towards the next.
	const uint64_t counted = uncommitted_;
	committing_ = true;
	Block last_superseded = map_.tail(BlockMap::kSupersededList);
	LockBreaker relax(lock_);

	// 1. Uncommitted blocks form a prefix of the LRU (newest first).
	if (!params_.test_skip_data_flush) {
		for (Block b = head; b != kNoBlock && !(map_.state(b) & BlockMap::kCommitted);
		     b = map_.older(BlockMap::kLru, b)) {
			pm().flush(data_ + static_cast<uint64_t>(b) * bs_, bs_);
			relax.tick();
		}
	}
	// 2.
	if (!params_.test_skip_commit_barrier)
		barrier();
	// 3., 4.
	pm().assign(reinterpret_cast<uint64_t *>(area_.base + layout::kOffSeqCount),
		      to_le64(next_seq));
	barrier();
	for (Block b = head; b != kNoBlock && !(map_.state(b) & BlockMap::kCommitted);) {
		Block older = map_.older(BlockMap::kLru, b);
		map_.set_flag(b, BlockMap::kCommitted);
		b = older;
		relax.tick();
	}
	uncommitted_ -= counted;
	committing_ = false;
	// 5.
	free_superseded_locked(last_superseded, relax);
	return Status::success();
}

// SSD: the same steps, with the I/O in SsdMetadata::commit() (write the
// dirty metadata regions, wait for data writes, PREFLUSH, FUA superblock).
// Writers are held off by the gate, so the set of uncommitted blocks is
// fixed while lock_ is dropped for the I/O (and by the LockBreaker).
Status Cache::commit_ssd()
{
	ExclusiveGuard exclusive(gate_);
	bool fresh, overwrote;
	{
		Guard g(lock_);
		uncommitted_ = 0;
		if (has_error())
			return Error{-WC_EIO, "the cache is in the error state"};
		Block head = map_.head(BlockMap::kLru);
		fresh = head != kNoBlock && !(map_.state(head) & BlockMap::kCommitted);
		overwrote = overwrote_committed_;
	}
	if (!fresh && !overwrote)
		return Status::success();
	// Only committed blocks were overwritten in place: their entries are
	// unchanged, so making the data durable is the whole commit.
	Status r = fresh ? ssd_.commit() : ssd_.sync_data();
	if (!r.ok()) {
		latch_status(r.error());
		return r;
	}
	{
		Guard g(lock_);
		LockBreaker relax(lock_);
		overwrote_committed_ = false;
		if (fresh) {
			seq_ = ssd_.seq_count();
			for (Block b = map_.head(BlockMap::kLru);
			     b != kNoBlock && !(map_.state(b) & BlockMap::kCommitted);) {
				Block older = map_.older(BlockMap::kLru, b);
				map_.set_flag(b, BlockMap::kCommitted);
				b = older;
				relax.tick();
			}
			free_superseded_locked(map_.tail(BlockMap::kSupersededList), relax);
		}
	}
	release_freeing();
	return Status::success();
}

// Superseded versions up to `last` get free markers and move to kFreeing;
// the caller then runs release_freeing(). gate_ exclusive: nobody else
// takes blocks off this list, so the walk's next block stays valid while
// relax drops the lock (publishers only append after `last`).
void Cache::free_superseded_locked(Block last, LockBreaker &relax)
{
	if (last == kNoBlock)
		return;
	for (Block b = map_.head(BlockMap::kSupersededList), nx; b != kNoBlock; b = nx) {
		nx = map_.older(BlockMap::kSupersededList, b);
		if (!(map_.state(b) & BlockMap::kInProgress)) {
			// (in writeback: its completion frees it)
			clear_entry(b);
			map_.unlink(b);
			map_.set_flag(b, BlockMap::kDoomed);
			map_.push_tail(BlockMap::kFreeing, b);
		}
		if (b == last)
			break;
		relax.tick();
	}
}

// Free markers must be durable before a block is reused: otherwise a
// crash could pair the old, still committed seq with the new sector. SSD
// also waits for data I/O that may still target these blocks (a read that
// found one before it was freed, an in-place write), as upstream does.
// gate_ exclusive: only this thread touches kFreeing.
void Cache::release_freeing(bool from_writeback)
{
	{
		Guard g(lock_);
		if (map_.list_empty(BlockMap::kFreeing))
			return;
	}
	if (!dev_) {
		barrier();
	} else {
		dev_->wait_for_data_reads();
		dev_->wait_for_data_writes();
		Status r = ssd_.commit_free_markers();
		if (!r.ok()) {
			// Not durable: keep the blocks out of use for good.
			latch_status(r.error());
			return;
		}
	}
	{
		Guard g(lock_);
		LockBreaker relax(lock_);
		while (!map_.list_empty(BlockMap::kFreeing)) {
			Block b = map_.head(BlockMap::kFreeing);
			map_.unlink(b);
			map_.release(b);
			relax.tick();
		}
	}
	wake(from_writeback);
}

} // namespace wc
