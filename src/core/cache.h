// SPDX-License-Identifier: GPL-2.0
// The cache: on-media state (through the pmem flush layer) plus the
// in-RAM block map, and the operations the kernel shim drives per block.
// One file per concern implements it:
//
//   superblock.cpp  open, format and validate the on-media superblock
//   load.cpp        the scan done at every resume (upstream's rules)
//   cache.cpp       what both modes share: entries, discard, counters
//   cache_pmem.cpp  pmem mode: one write or read bio per call
//   cache_ssd.cpp   SSD mode: mapping bios onto the cache device
//   commit.cpp      the commit protocol (pmem; SSD's is ssd_metadata.cpp)
//   writeback.cpp   choosing blocks to write back, and their completion
//
// Two media: pmem mode keeps data and metadata in mapped persistent memory
// (through the flush layer); SSD mode keeps a RAM mirror of the metadata
// (SsdMetadata) and the shim moves data with bios to the cache device.
//
// Locking: `lock_` (short, non-sleeping) covers the block map and counters.
// `gate_` is held shared by a read of a cached block, across an in-place
// copy into an uncommitted pmem block (SSD: across mapping one bio), and
// exclusive by a commit and by anything that frees blocks: a commit never
// publishes a half-copied block and no block is freed under a reader. A
// copy into a new pmem block needs no gate (it is published only once
// whole), so commits and new-block writers never wait for each other.
// Metadata I/O (SSD) runs with the gate exclusive and `lock_` dropped.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/layout.h>
#include <wc/pmem.h>
#include <wc/result.h>
#include <wc_abi.h>

#include "block_map.h"
#include "flush_layer.h"
#include "ssd_metadata.h"
#include "sync.h"

namespace wc {

// Where the cache area lives: `base` is byte start_sector*512 of the cache
// device, mapped (pmem). `bytes` is the area's size.
struct CacheArea {
	uint8_t *base;
	uint64_t bytes;
};

struct CacheParams {
	uint32_t block_size = 4096;
	uint32_t autocommit_blocks = 64;
	uint32_t high_watermark = 50;	// percent used
	uint32_t low_watermark = 45;
	bool cleaner = false;
	bool metadata_only = false;
	uint32_t max_age_ms = WC_MAX_AGE_UNSPECIFIED;
	// Test-only protocol mutations, for proving the crash checker can fail.
	bool test_skip_commit_barrier = false;
	bool test_skip_data_flush = false;
	bool test_flush_before_data_wait = false;	// SSD: the pre-5.4.19 order
	// Test-only re-introductions of fixed defects, for proving the model
	// checker can fail: write back a sector while an older version of it
	// is still in flight; send a write around the cache while an older
	// version is in flight; wake blocked writers only from writeback
	// completion.
	bool test_writeback_ignores_inflight = false;
	bool test_around_ignores_inflight = false;
	bool test_wake_only_on_writeback = false;
};

// Tells writers waiting for a free block that they may go on: called after
// blocks return to the free bitmap (outside the core's lock) and when the
// error state is latched (possibly under it). Must not sleep.
using Waker = void (*)(void *ctx);

// SSD mode: where one bio (or its first part) goes.
enum class SsdTarget {
	kCache,		// remap to the cache device at block `block`
	kOrigin,	// remap to the origin
	kNoSpace,	// no free block: wait for writeback, then retry
	kError,		// the cache is in the error state
};

struct SsdMapping {
	SsdTarget target = SsdTarget::kError;
	uint32_t block = 0;	// first cache block (kCache)
	uint64_t blocks = 0;	// how much of the bio this part covers
	bool uncommitted = false;	// read hit: wait for data writes first
	bool commit_now = false;	// write: autocommit_blocks reached
	bool arm_timer = false;		// write: (re)arm the autocommit timer
};

// One run picked for writeback: `count` blocks for consecutive origin
// sectors from `sector`; the cache blocks (blocks[]) need not be adjacent
// (pmem writes each block from its own page).
struct WritebackRun : wc_writeback_run {
	static constexpr uint32_t kMaxBlocks = WC_WRITEBACK_MAX_BLOCKS;
	WritebackRun() : wc_writeback_run{} {}
};

class Cache {
public:
	// The most blocks one call serves of a bio that is split into cached
	// and uncached runs (it bounds the probes made under the lock).
	static constexpr uint64_t kMaxRunBlocks = 1024;

	Cache() = default;
	Cache(const Cache &) = delete;
	Cache &operator=(const Cache &) = delete;

	// Validate the superblock, formatting a zeroed one (magic and version
	// both 0) first; allocate the block map. Errors carry upstream's text.
	Status open(const CacheParams &params, Pmem &pmem, CacheArea area);
	// The same for SSD mode: `area_bytes` of `dev` (after start_sector).
	Status open_ssd(const CacheParams &params, CacheDevice &dev, uint64_t area_bytes);
	// Rebuild the in-RAM state from media (every resume).
	Status load();

	void set_waker(Waker fn, void *ctx)
	{
		waker_ = fn;
		waker_ctx_ = ctx;
	}

	// --- pmem mode (cache_pmem.cpp): one call per bio ---
	// The contracts are wc_cache_write(), wc_cache_read() and
	// wc_cache_flush() (wc_abi.h).
	wc_io_result write(wc_bio &b, wc_io_out *out);
	wc_io_result read(wc_bio &b, wc_io_out *out);
	Status flush();
	// Free every cached block in [start, end) (sectors) not being written
	// back, and make that durable.
	void discard(uint64_t start, uint64_t end);

	// --- SSD mode (cache_ssd.cpp): map a bio of `blocks` blocks at `sector` ---
	// A write: cached blocks are overwritten in place (a committed one is
	// flushed before the next commit), new ones come from a physically
	// contiguous run; with no free block an uncached write goes to the
	// origin. On kCache the device has been told of the data write
	// (CacheDevice::data_io_begin) before the gate was dropped.
	SsdMapping ssd_map_write(uint64_t sector, uint64_t blocks, bool req_meta);
	// A read: one cached block, or the origin up to the next cached block.
	SsdMapping ssd_map_read(uint64_t sector, uint64_t blocks);
	// Cache-device sector (relative to start_sector) of block b's data.
	uint64_t ssd_data_sector(Block b) const
	{
		return ssd_.metadata_sectors() + static_cast<uint64_t>(b) * (bs_ >> 9);
	}
	bool is_ssd() const { return dev_ != nullptr; }

	// --- commit ---
	Status commit();

	// --- writeback ---
	// Pick the next run to write back (oldest first; with `all`, every
	// block) and mark it in progress. False if there is nothing to do.
	bool writeback_next(WritebackRun *run, bool all);
	// Whether the oldest block is due under max_age (lock held).
	bool aged_out_locked(uint32_t now) const;
	// Data of block b (for the writeback bio).
	const uint8_t *block_data(Block b) const { return data_ + static_cast<uint64_t>(b) * bs_; }
	// The run reached the origin (ok) or failed.
	// status (for the log text): a blk_status_t (> 0) or the errno of the
	// origin flush (< 0); 0 means unknown.
	void writeback_done(const WritebackRun &run, bool ok, int status = 0);
	// Whether the watermarks (or max_age) ask for writeback now.
	bool writeback_wanted() const;
	// Blocks are left to write back (tests: a full writeback is done).
	bool writeback_pending() const;
	// Whether writeback_next() skipped a block (its sector had an older
	// version in flight) since the last call: a full writeback waits for
	// what is in flight and picks again.
	bool writeback_take_skipped();
	uint64_t writeback_blocks() const;
	uint64_t free_blocks() const;
	void count_discard(uint64_t blocks);
	void count_flush();

	// --- state ---
	uint64_t n_blocks() const { return n_blocks_; }
	// Under the lock: tests read it while other threads commit.
	uint64_t seq_count() const
	{
		Guard g(const_cast<Lock &>(lock_));
		return seq_;
	}
	bool has_error() const { return __atomic_load_n(&error_, __ATOMIC_RELAXED) != 0; }
	int error() const { return __atomic_load_n(&error_, __ATOMIC_RELAXED); }
	const char *error_message() const { return error_msg_; }
	void fill_status(wc_status *st);
	void clear_stats();
	void set_cleaner();
	const BlockMap &map() const { return map_; }
	uint32_t block_size() const { return bs_; }
	uint64_t uncommitted_blocks() const { return uncommitted_; }
	// RAM this cache holds: the block map, plus the metadata mirror in
	// SSD mode.
	uint64_t ram_bytes() const { return map_.ram_bytes() + (dev_ ? ssd_.ram_bytes() : 0); }
	// Test access to the SSD mirror.
	const SsdMetadata &ssd_metadata() const { return ssd_; }

private:
	friend class CacheTestAccess;

	// superblock.cpp
	Status format();
	void assign_sb(size_t off, uint64_t le_value);
	// load.cpp
	struct RawEntry {
		uint64_t sector;
		uint64_t seq;
	};
	bool read_entry(Block b, uint64_t *sector, uint64_t *seq);
	uint32_t read_entries(Block first, uint32_t count, RawEntry *out);
	// Rebuild the map from the entries; true if entries were cleared.
	bool scan_entries();
	bool scan_entry(Block b, const RawEntry &e, uint32_t now, bool *need_barrier);
	Status validate_superblock(const uint8_t *sb, uint64_t area_bytes, uint64_t *n);
	Status init_map(uint64_t n);
	// commit.cpp (gate_ exclusive; *_locked: lock_ held too)
	Status commit_pmem();
	Status commit_ssd();
	void free_superseded_locked(Block last, LockBreaker &relax);
	// Make the free markers of the blocks on kFreeing durable, then free
	// them. gate_ exclusive, lock_ not held (SSD waits for I/O).
	void release_freeing(bool from_writeback = false);
	void barrier();
	// cache_pmem.cpp
	struct Slot {
		Block block;
		bool in_place;	// an uncommitted hit, overwritten in place
	};
	// Blocks one lock hold plans (stack array) and publishes.
	static constexpr uint32_t kBatch = 32;
	bool plan_around_locked(wc_bio &b, bool meta, wc_io_out *out);
	uint32_t plan_batch_locked(const wc_bio &b, Slot *slots, bool gate_held, bool *need_gate);
	bool publish_locked(uint64_t sector, Block b, bool gate_held);
	void copy_in(wc_bio &b, uint8_t *dst);
	bool copy_out(wc_bio &b, const uint8_t *src);
	// Some published write is not committed yet (pmem).
	bool uncommitted_locked() const;
	bool writeback_wanted_locked() const;
	// cache.cpp
	// With in_flight, a sector whose older version is still being written
	// back counts as cached (writes must not go around it).
	uint64_t around_blocks_locked(uint64_t sector, uint64_t blocks, bool in_flight) const;
	bool cached_for_write_locked(uint64_t sector) const;
	bool older_in_flight_locked(uint64_t sector) const;
	void wake(bool from_writeback = false);
	void write_entry(Block b, uint64_t sector, uint64_t seq);
	void clear_entry(Block b);
	void supersede_locked(Block old);
	void latch_error(int err, const char *msg, const char *detail = nullptr);
	void latch_error_errno(int err, const char *msg);
	void latch_status(const Error &e);
	// Move b (not in progress) to kFreeing with its free marker written.
	void doom_locked(Block b);
	// cache_ssd.cpp
	void insert_new_locked(Block b, uint64_t sector);
	SsdMapping around_locked(uint64_t sector, uint64_t blocks);
	// writeback.cpp
	void pick_run_locked(WritebackRun *run, Block b);

	uint64_t *entry_word(Block b, size_t off) const
	{
		return reinterpret_cast<uint64_t *>(area_.base + layout::entry_offset(b) + off);
	}

	Pmem *pmem_ = nullptr;		// pmem mode
	// The I/O paths' view of pmem_ (direct calls to the native layer).
	FlushLayer pm() const { return FlushLayer(pmem_); }
	CacheArea area_ = {};
	CacheDevice *dev_ = nullptr;	// SSD mode
	SsdMetadata ssd_;
	bool overwrote_committed_ = false;	// SSD: sync data before next commit
	CacheParams params_;
	uint32_t bs_ = 0;
	uint64_t n_blocks_ = 0;
	uint8_t *data_ = nullptr;
	uint64_t seq_ = 0;
	uint64_t uncommitted_ = 0;
	uint64_t high_free_ = 0;	// writeback starts when free <= this
	uint64_t low_free_ = 0;		// ...and runs while free + wb <= this
	uint64_t writeback_size_ = 0;
	uint64_t in_flight_old_ = 0;	// superseded blocks still in writeback
	bool committing_ = false;	// pmem: a commit is between its seq steps
	bool skipped_in_flight_ = false;	// writeback_next() skipped one
	Waker waker_ = nullptr;
	void *waker_ctx_ = nullptr;
	int error_ = 0;
	const char *error_msg_ = nullptr;
	wc_status stats_ = {};
	Lock lock_;
	Gate gate_;
	BlockMap map_;
	// The map is as init() left it: the first scan need not reset it.
	bool map_fresh_ = false;
};

} // namespace wc
