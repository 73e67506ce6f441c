// SPDX-License-Identifier: GPL-2.0
// SSD mode's metadata: the RAM mirror of the on-media metadata area
// (superblock + entries, format v1, see include/wc/layout.h), a dirty
// bitmap with one bit per region, and upstream's commit protocol over an
// abstract cache device (the kernel shim implements it with dm-io).
//
// commit(), in upstream's order (ssd_commit_flushed + ssd_commit_superblock,
// with the 5.4.19 fix "wait for data, then flush"):
//   1. write every run of dirty regions (clipped to the metadata area) and
//      wait for all of them;
//   2. wait until no data write to the cache device is in flight;
//   3. an empty PREFLUSH;
//   4. clear the dirty bitmap;
//   5. seq_count + 1 in the mirror, then a synchronous WRITE|FUA of the
//      first max(4096, block_size) bytes of the mirror (clipped).
// Everything the data writes and entries promised is durable before the
// superblock that commits them is written, so a crash shows either the old
// or the new commit, never a committed entry without its data.
//
// Errors: an I/O error stops the sequence at once (no later step runs, the
// bitmap stays dirty) and is returned; the caller latches it. The object
// then refuses to commit or format until a load() succeeds. Upstream carries
// on after a failed metadata write and still writes the superblock; we do
// not, as that could commit entries that never reached the media.
//
// Use, in upstream's order:
//   construction: init() sized by wc_layout_n_blocks() for the device; load()
//     (an error fails the constructor); magic and version 0: format();
//     else validate the superblock and set_n_blocks(its n_blocks);
//   a write: set_entry(b, sector, seq_count()), then submit the data write;
//   commit(), then set_entry_free() on the versions it superseded and
//     commit_free_markers() before any freed block is reused (discards
//     too: wait for in-flight I/O, free, commit_free_markers());
//   resume: load(); clear uncommitted entries and duplicates; if anything
//     changed, mark_all_dirty() and commit_free_markers().
//
// Not thread-safe: the caller serialises every call and does not change the
// mirror while one runs (upstream holds wc->lock across a commit).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/layout.h>
#include <wc/result.h>

#include "bitmap.h"

namespace wc {

// The cache device as the metadata code sees it. Sectors are 512 bytes,
// relative to start_sector (the shim adds it).
class CacheDevice {
public:
	// Start a write; with fua it is durable once it completes. buf must
	// not change until wait_writes() returns.
	virtual void submit_write(uint64_t sector, const void *buf,
				  uint64_t sectors, bool fua) = 0;
	// Wait for every write started by submit_write(): success, or the
	// first error.
	virtual Status wait_writes() = 0;
	virtual Status read(uint64_t sector, void *buf, uint64_t sectors) = 0;
	// An empty PREFLUSH: every write completed before it is durable.
	// Writes still in flight are not covered.
	virtual Status flush() = 0;
	// Wait until no data write (a bio remapped to the cache device) is in
	// flight; upstream's writecache_wait_for_ios(wc, WRITE).
	virtual void wait_for_data_writes() = 0;
	// The same for reads, before a block they may target is freed.
	virtual void wait_for_data_reads() {}
	// A data bio is about to be remapped to the cache device. Called with
	// the cache's gate held, so a commit or free that takes the gate next
	// sees it in flight. Simulators that play data writes themselves keep
	// the default.
	virtual void data_io_begin(bool write) { (void)write; }

protected:
	~CacheDevice() = default;
};

// upstream BITMAP_GRANULARITY: 64 KiB, or PAGE_SIZE if that is larger.
inline constexpr uint32_t kSsdRegionBytes = 65536;
// "write at least 4k when committing" (5.14): the superblock write size.
inline constexpr uint32_t kSsdSuperblockWriteMin = 4096;

struct SsdMetadataParams {
	uint32_t block_size = 4096;	// power of two, >= 512
	// Entries the mirror is sized for: a fresh format's count for the
	// device size (upstream sizes the mirror that way, then uses the
	// superblock's count; see set_n_blocks()).
	uint64_t n_blocks = 0;
	uint32_t region_bytes = kSsdRegionBytes;	// power of two, >= 512
	// Test-only protocol mutations, for proving the crash test can fail.
	bool test_flush_before_data_wait = false;	// the pre-5.4.19 order
	bool test_skip_flush = false;	// commit() without its PREFLUSH
};

// The superblock fields (decoded; pad and bytes 32..63 are not included).
using SsdSuperblock = layout::Superblock;

class SsdMetadata {
public:
	SsdMetadata() = default;
	~SsdMetadata();
	SsdMetadata(const SsdMetadata &) = delete;
	SsdMetadata &operator=(const SsdMetadata &) = delete;

	// Allocate the mirror (zeroed) and the bitmap. Once per object.
	Status init(const SsdMetadataParams &params, CacheDevice &dev);
	// Use n entries (the superblock's n_blocks) within the allocation:
	// the metadata area shrinks to data_offset(n). "Memory area is too
	// small" if it does not fit.
	Status set_n_blocks(uint64_t n);

	// Read the first `sectors` (clipped to the area): the constructor only
	// needs the superblock.
	Status read_head(uint64_t sectors);
	// Read the whole metadata area into the mirror and clear the bitmap.
	// On a read error, like upstream's resume: everything after the
	// superblock becomes 0xff (every entry free), and the error is
	// returned; unlike upstream the superblock keeps its previous RAM
	// value rather than what the failed read left. At construction the
	// caller must fail on any error and never format afterwards (format()
	// refuses).
	Status load();
	// upstream init_memory(): header without magic, every entry free,
	// write everything + PREFLUSH; then the magic, write + PREFLUSH. A
	// crash in between leaves magic 0 / version 1 ("Invalid magic").
	// seq_count stays 0.
	Status format();

	// The commit (see the top of this file).
	Status commit();
	// Steps 1-4 only (upstream writecache_commit_flushed): write the dirty
	// regions, optionally wait for data writes, PREFLUSH, clear the
	// bitmap. Makes free markers durable before their blocks are reused.
	Status flush_metadata(bool wait_for_data);
	Status commit_free_markers() { return flush_metadata(false); }
	// Wait for data writes, PREFLUSH: upstream's commit when nothing is
	// uncommitted but a committed block was overwritten in place.
	Status sync_data();

	// --- the mirror (b < n_blocks(); every setter marks its region) ---
	uint64_t entry_sector(uint64_t b) const;
	uint64_t entry_seq(uint64_t b) const;
	void set_entry(uint64_t b, uint64_t original_sector, uint64_t seq);
	// A free marker: seq = ~0 only, as upstream rewrites just that field.
	void set_entry_free(uint64_t b);
	SsdSuperblock superblock() const;
	// Writes the fields and pad = 0; bytes 32..63 are left alone.
	void set_superblock(const SsdSuperblock &sb);
	uint64_t seq_count() const;
	// Every region dirty (upstream writecache_flush_all_metadata).
	void mark_all_dirty();

	// --- geometry and state ---
	uint64_t n_blocks() const { return n_blocks_; }
	uint32_t block_size() const { return bs_; }
	uint64_t metadata_sectors() const { return meta_sectors_; }
	// Byte size of the allocation (data_offset(params.n_blocks)).
	uint64_t mirror_bytes() const { return mirror_bytes_; }
	uint32_t region_bytes() const { return region_bytes_; }
	uint64_t regions() const { return regions_; }
	bool region_dirty(uint64_t i) const { return dirty_.test(i); }
	uint64_t dirty_regions() const { return dirty_.count(); }
	const uint8_t *mirror() const { return mirror_; }
	// RAM held: mirror + bitmap.
	uint64_t ram_bytes() const { return mirror_bytes_ + Bitmap::words_for(regions_) * 8; }
	// An I/O error happened since the last successful load().
	bool failed() const { return failed_; }

private:
	void mark(uint64_t byte_off);
	Status fail(const Status &s, const char *msg);
	Status write_dirty_regions();

	CacheDevice *dev_ = nullptr;
	SsdMetadataParams params_;
	uint8_t *mirror_ = nullptr;
	Bitmap dirty_;	// one bit per region (the storage is ours)
	uint64_t mirror_bytes_ = 0;
	uint64_t regions_ = 0;
	uint64_t n_blocks_ = 0;
	uint64_t meta_sectors_ = 0;
	uint32_t bs_ = 0;
	uint32_t region_bytes_ = 0;
	bool failed_ = false;
};

} // namespace wc
