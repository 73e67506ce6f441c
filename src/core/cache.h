// SPDX-License-Identifier: GPL-2.0
// The cache: on-media state (through the pmem flush layer) plus the
// in-RAM block map, and the operations the kernel shim drives per block.
// One file per concern implements it:
//
//   superblock.cpp  open, format and validate the on-media superblock
//   load.cpp        the scan done at every resume (upstream's rules)
//   cache.cpp       write, read and discard paths
//   commit.cpp      the commit protocol
//   writeback.cpp   choosing blocks to write back, and their completion
//
// Locking: `lock_` (short, non-sleeping) covers the block map and counters.
// `gate_` is held shared across a data copy into pmem and exclusive by a
// commit and by anything that frees blocks, so copies of different blocks
// run in parallel while a commit never sees a half-copied block.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/layout.h>
#include <wc/pmem.h>
#include <wc/result.h>
#include <wc_abi.h>

#include "block_map.h"
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
};

enum class WriteResult {
	kCached,	// copied into the cache
	kAround,	// send to the origin (cleaner / metadata_only miss)
	kNoSpace,	// no free block: wait for writeback, then retry
	kError,		// the cache is in the error state
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
	Cache() = default;
	Cache(const Cache &) = delete;
	Cache &operator=(const Cache &) = delete;

	// Validate the superblock, formatting a zeroed one (magic and version
	// both 0) first; allocate the block map. Errors carry upstream's text.
	Status open(const CacheParams &params, Pmem &pmem, CacheArea area);
	// Rebuild the in-RAM state from media (every resume).
	Status load();

	// --- the I/O paths, one block at a time ---
	// Copy one block of `src` for origin `sector` into the cache.
	WriteResult write_block(uint64_t sector, const void *src, bool req_meta);
	// After the blocks of one bio: commit when the bio was FUA or enough
	// blocks are uncommitted. *arm_timer says to (re)arm the autocommit
	// timer. A failed commit fails the bio.
	Status end_write(bool fua, bool *arm_timer);
	// Copy the cached block for `sector` into dst; false on a miss.
	bool read_block(uint64_t sector, void *dst, bool *io_error);
	// First cached sector in [sector, sector + limit_blocks blocks), or
	// ~0 if none: where an origin read or write-around must stop.
	uint64_t next_cached(uint64_t sector, uint64_t limit_blocks) const;
	// Free every cached block in [start, end) (sectors) not being written
	// back, and make that durable.
	void discard(uint64_t start, uint64_t end);

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
	void writeback_done(const WritebackRun &run, bool ok);
	// Whether the watermarks (or max_age) ask for writeback now.
	bool writeback_wanted() const;
	uint64_t writeback_blocks() const;
	uint64_t free_blocks() const;
	// Blocks of a bio beyond the first that went around the cache.
	void account_around(uint64_t blocks);
	void count_flush();
	void count_reads(uint64_t blocks);

	// --- state ---
	uint64_t n_blocks() const { return n_blocks_; }
	uint64_t seq_count() const { return seq_; }
	bool has_error() const { return __atomic_load_n(&error_, __ATOMIC_RELAXED) != 0; }
	int error() const { return __atomic_load_n(&error_, __ATOMIC_RELAXED); }
	const char *error_message() const { return error_msg_; }
	void fill_status(wc_status *st);
	void clear_stats();
	void set_cleaner();
	const BlockMap &map() const { return map_; }
	uint32_t block_size() const { return bs_; }
	uint64_t uncommitted_blocks() const { return uncommitted_; }

private:
	friend class CacheTestAccess;

	// superblock.cpp
	Status format();
	void assign_sb(size_t off, uint64_t le_value);
	// load.cpp
	bool read_entry(Block b, uint64_t *sector, uint64_t *seq);
	// commit.cpp (lock_ held, gate_ exclusive)
	Status commit_locked();
	void free_superseded_locked();
	void release_freeing_locked();
	void barrier();
	// cache.cpp
	void write_entry(Block b, uint64_t sector, uint64_t seq);
	void clear_entry(Block b);
	void supersede_locked(Block old);
	void latch_error(int err, const char *msg, const char *detail = nullptr);

	uint64_t *entry_word(Block b, size_t off) const
	{
		return reinterpret_cast<uint64_t *>(area_.base + layout::entry_offset(b) + off);
	}

	Pmem *pmem_ = nullptr;
	CacheArea area_ = {};
	CacheParams params_;
	uint32_t bs_ = 0;
	uint64_t n_blocks_ = 0;
	uint8_t *data_ = nullptr;
	uint64_t seq_ = 0;
	uint64_t uncommitted_ = 0;
	uint64_t high_free_ = 0;	// writeback starts when free <= this
	uint64_t low_free_ = 0;		// ...and runs while free + wb <= this
	uint64_t writeback_size_ = 0;
	int error_ = 0;
	const char *error_msg_ = nullptr;
	wc_status stats_ = {};
	Lock lock_;
	Gate gate_;
	BlockMap map_;
};

} // namespace wc
