/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C ABI between the C++ core (src/core) and the kernel shims
 * (src/kernel). Plain C types only; readable by C (kernel) and C++ (core,
 * userspace tests). Anything a kernel header defines stays on the C side.
 */
#ifndef WC_ABI_H
#define WC_ABI_H

#ifdef __cplusplus
#include <stddef.h>
#include <stdint.h>
extern "C" {
#else
#include <linux/types.h>
#endif

/*
 * Errno values the core returns (negated). Identical to the kernel's
 * asm-generic values on every architecture we build for.
 */
#define WC_EIO		5
#define WC_ENOMEM	12
#define WC_EBUSY	16
#define WC_EINVAL	22
#define WC_EFBIG	27
#define WC_ENOSPC	28
#define WC_EOPNOTSUPP	95

/* ---- Platform services the shim provides to the core ------------------ */

/* Allocation context: the I/O path must never recurse into reclaim. */
enum wc_alloc_ctx {
	WC_ALLOC_SETUP = 0,	/* may sleep, may reclaim, may be large (kvmalloc) */
	WC_ALLOC_NOIO = 1,	/* may sleep, no I/O (GFP_NOIO), small */
};

void *wc_plat_alloc(size_t size, enum wc_alloc_ctx ctx);
void wc_plat_free(void *ptr);
/* Number of core allocations not yet freed (leak checks). */
long wc_plat_alloc_outstanding(void);
/* Log one line at error level (DMERR in the kernel). */
void wc_plat_log_error(const char *msg);
/* Never returns; callers follow it with __builtin_trap(). */
void wc_plat_panic(const char *msg);

/* A monotonic clock in milliseconds (wraps; compare with differences). */
uint32_t wc_plat_now_ms(void);
/*
 * Let the scheduler in during long loops (cond_resched in the kernel);
 * never called with the core's lock held.
 */
void wc_plat_cond_resched(void);

/* A lock for short critical sections (no sleeping while held). */
struct wc_lock;
struct wc_lock *wc_plat_lock_create(void);
void wc_plat_lock_destroy(struct wc_lock *l);	/* NULL is a no-op */
void wc_plat_lock(struct wc_lock *l);
void wc_plat_unlock(struct wc_lock *l);

/*
 * A sleeping reader/writer gate: data copies hold it shared, commits and
 * frees exclusive (rw_semaphore in the kernel).
 */
struct wc_rwsem;
struct wc_rwsem *wc_plat_rwsem_create(void);
void wc_plat_rwsem_destroy(struct wc_rwsem *s);	/* NULL is a no-op */
void wc_plat_down_read(struct wc_rwsem *s);
void wc_plat_up_read(struct wc_rwsem *s);
void wc_plat_down_write(struct wc_rwsem *s);
void wc_plat_up_write(struct wc_rwsem *s);

/* CPU features, detected once by the shim (x86: CLFLUSHOPT; arm64: DC CVAP). */
int wc_plat_cpu_has_clflushopt(void);
int wc_plat_cpu_has_dcpop(void);
/* Machine-check-safe copy from pmem; returns the number of bytes NOT copied. */
size_t wc_plat_copy_mc(void *dst, const void *src, size_t n);

/* ---- Table line ------------------------------------------------------- */

enum wc_dev_role {
	WC_DEV_ORIGIN = 0,
	WC_DEV_CACHE = 1,
};

struct wc_dev_info {
	uint64_t size_bytes;
	uint32_t logical_block_size;
};

/*
 * What the table parser needs from the kernel. get_device() acquires the
 * device (dm_get_device) and keeps it in ctx; the shim's destructor
 * releases whatever was acquired, whether or not parsing succeeded.
 */
struct wc_table_env {
	void *ctx;
	int (*get_device)(void *ctx, enum wc_dev_role role, const char *path,
			  struct wc_dev_info *info);
	uint32_t page_size;
	uint32_t default_writeback_jobs;	/* upstream MAX_WRITEBACK_JOBS */
	int pmem_supported;			/* ARCH_HAS_PMEM_API && FS_DAX */
};

/* Bits of wc_config.set: which optional arguments the table line gave. */
#define WC_SET_START_SECTOR		(1u << 0)
#define WC_SET_HIGH_WATERMARK		(1u << 1)
#define WC_SET_LOW_WATERMARK		(1u << 2)
#define WC_SET_WRITEBACK_JOBS		(1u << 3)
#define WC_SET_AUTOCOMMIT_BLOCKS	(1u << 4)
#define WC_SET_AUTOCOMMIT_TIME		(1u << 5)
#define WC_SET_MAX_AGE			(1u << 6)
#define WC_SET_CLEANER			(1u << 7)
#define WC_SET_FUA			(1u << 8)
#define WC_SET_METADATA_ONLY		(1u << 9)
#define WC_SET_PAUSE_WRITEBACK		(1u << 10)

#define WC_MAX_AGE_UNSPECIFIED		0xffffffffu

struct wc_config {
	uint32_t set;			/* WC_SET_* */
	uint8_t pmem;			/* mode 'p' */
	uint8_t cleaner;
	uint8_t writeback_fua;
	uint8_t metadata_only;
	uint32_t block_size;		/* bytes */
	uint64_t start_sector;		/* 512-byte sectors */
	uint32_t high_watermark;	/* percent used */
	uint32_t low_watermark;		/* percent used */
	uint32_t writeback_jobs;	/* blocks in flight, 0 = unlimited */
	uint32_t autocommit_blocks;
	uint32_t autocommit_time_ms;
	uint32_t max_age_ms;		/* WC_MAX_AGE_UNSPECIFIED = off */
	uint32_t pause_writeback_ms;
	uint64_t origin_bytes;
	uint64_t cache_bytes;
};

/*
 * Parse a writecache table line (the words after "writecache") in
 * upstream's order, acquiring the devices through env. Returns 0 or a
 * negative WC_E* value with *error pointing at a static message
 * (upstream's text, for ti->error).
 */
int wc_parse_table(unsigned int argc, char **argv,
		   const struct wc_table_env *env, struct wc_config *cfg,
		   const char **error);

/*
 * Format the STATUSTYPE_TABLE line: "<p|s> <origin> <cache> <bs> <#opt>
 * [opts]" in upstream's canonical order. Returns the length written
 * (always NUL-terminated when len > 0), truncating like snprintf.
 */
size_t wc_format_table(const struct wc_config *cfg, const char *origin_name,
		       const char *cache_name, char *buf, size_t len);

/* ---- Messages --------------------------------------------------------- */

enum wc_message {
	WC_MSG_INVALID = 0,		/* wrong word count: -EINVAL silently */
	WC_MSG_UNKNOWN = 1,		/* DMERR "unrecognised message" */
	WC_MSG_FLUSH,
	WC_MSG_FLUSH_ON_SUSPEND,
	WC_MSG_CLEANER,
	WC_MSG_CLEAR_STATS,
};

enum wc_message wc_parse_message(unsigned int argc, char **argv);

/* ---- Status ----------------------------------------------------------- */

/* The 14 INFO status fields, in upstream's order. */
struct wc_status {
	uint64_t error;			/* 0 or 1 */
	uint64_t n_blocks;
	uint64_t free_blocks;
	uint64_t writeback_blocks;
	uint64_t reads;
	uint64_t read_hits;
	uint64_t writes;
	uint64_t write_hits_uncommitted;
	uint64_t write_hits_committed;
	uint64_t writes_around;
	uint64_t writes_allocate;
	uint64_t writes_blocked_on_freelist;
	uint64_t flushes;
	uint64_t discards;
};

size_t wc_format_info(const struct wc_status *st, char *buf, size_t len);

/* ---- The cache (pmem mode: one call per bio) --------------------------- */

struct wc_cache;

#define WC_WRITEBACK_MAX_BLOCKS 256	/* BIO_MAX_VECS */

/* A run of consecutive origin sectors picked for writeback. */
struct wc_writeback_run {
	uint64_t sector;
	uint32_t count;
	uint32_t blocks[WC_WRITEBACK_MAX_BLOCKS];
};

/*
 * Validate (formatting a zeroed superblock first) the cache area at `area`
 * (`bytes` long, already offset by start_sector). On error *error is
 * upstream's text for ti->error.
 */
int wc_cache_create(const struct wc_config *cfg, void *area, uint64_t bytes,
		    struct wc_cache **out, const char **error);
void wc_cache_destroy(struct wc_cache *c);
/* Rebuild the in-RAM state from media (every resume). */
int wc_cache_load(struct wc_cache *c);
/*
 * Called when writers waiting for a free block may go on (blocks freed, or
 * the error state latched); must not sleep. Set once, before I/O.
 */
void wc_cache_set_waker(struct wc_cache *c, void (*fn)(void *ctx), void *ctx);

/*
 * A bio as the core walks it: its blocks, flags and data segments. The
 * shim describes the first WC_BIO_SEGS segments; the core asks for more
 * with refill() (bios with more segments) and moves the cursor (seg, off)
 * and sector/blocks as it serves blocks. Segments may split a block
 * anywhere (O_DIRECT with 512-byte iovecs).
 */
#define WC_BIO_SEGS	16
#define WC_BIO_FUA	(1u << 0)
#define WC_BIO_META	(1u << 1)
#define WC_BIO_PLANNED	(1u << 2)	/* set by the core: cache the rest */

struct wc_seg {
	void *addr;
	uint32_t len;
};

struct wc_bio {
	uint64_t sector;	/* first block not yet served (target-relative) */
	uint64_t blocks;	/* blocks left */
	uint32_t flags;		/* WC_BIO_* */
	uint32_t nsegs;		/* valid entries of segs[] */
	uint32_t seg;		/* cursor: segs[seg], byte off */
	uint32_t off;
	struct wc_seg segs[WC_BIO_SEGS];
	/* Put the next segments in segs[] and set nsegs (> 0). */
	void (*refill)(struct wc_bio *b);
};

enum wc_io_result {
	WC_IO_DONE = 0,		/* served: the blocks up to b->sector */
	WC_IO_ORIGIN = 1,	/* send out->run leading blocks to the origin */
	WC_IO_NOSPACE = 2,	/* no free block: wait, then call again */
	WC_IO_ERROR = 3,	/* fail the bio (error state, commit failed, MCE) */
};

struct wc_io_out {
	uint64_t run;		/* WC_IO_ORIGIN: blocks to send around */
	uint8_t arm_timer;	/* write: (re)arm the autocommit timer */
	uint8_t writeback;	/* write: writeback is wanted */
};

/*
 * A write bio: copies its blocks into the cache (or says which leading run
 * goes to the origin under cleaner / metadata_only), then commits when
 * the bio is FUA or autocommit_blocks are uncommitted. On WC_IO_DONE the
 * blocks from the bio's first sector up to b->sector are cached (fewer
 * than the bio's: the shim accepts that part and dm resubmits the rest).
 * On WC_IO_NOSPACE the shim waits for a free block and calls again with
 * the same b.
 */
enum wc_io_result wc_cache_write(struct wc_cache *c, struct wc_bio *b,
				 struct wc_io_out *out);
/*
 * A read bio: copies its leading run of cached blocks (WC_IO_DONE, up to
 * b->sector), or says how many leading blocks to read from the origin
 * (WC_IO_ORIGIN). WC_IO_ERROR: a machine check.
 */
enum wc_io_result wc_cache_read(struct wc_cache *c, struct wc_bio *b,
				struct wc_io_out *out);
/*
 * An empty flush (REQ_PREFLUSH): counted; commits only if a write is
 * uncommitted. 0 or -errno (the error state).
 */
int wc_cache_flush(struct wc_cache *c);
void wc_cache_discard(struct wc_cache *c, uint64_t start, uint64_t end);
int wc_cache_commit(struct wc_cache *c);
int wc_cache_writeback_next(struct wc_cache *c, struct wc_writeback_run *run,
			    int all);
const void *wc_cache_block_data(struct wc_cache *c, uint32_t block);
/*
 * status: 0, a blk_status_t of the writeback bio (> 0), or the errno of
 * the origin flush that preceded it (< 0).
 */
void wc_cache_writeback_done(struct wc_cache *c,
			     const struct wc_writeback_run *run, int status);
int wc_cache_writeback_wanted(struct wc_cache *c);
/*
 * Whether a block was skipped since the last call because an older version
 * of its sector was in flight: a full writeback waits and picks again.
 */
int wc_cache_writeback_take_skipped(struct wc_cache *c);
uint64_t wc_cache_writeback_blocks(struct wc_cache *c);
uint64_t wc_cache_free_blocks(struct wc_cache *c);
int wc_cache_has_error(struct wc_cache *c);
void wc_cache_fill_status(struct wc_cache *c, struct wc_status *st);
void wc_cache_clear_stats(struct wc_cache *c);
void wc_cache_set_cleaner(struct wc_cache *c);
/* Counts a flush the shim handles itself (SSD mode). */
void wc_cache_count_flush(struct wc_cache *c);

/* ---- SSD mode ---------------------------------------------------------- */

/*
 * The cache device, as the core drives it. Sectors are 512 bytes, relative
 * to start_sector. Metadata I/O: submit_write() starts a write (FUA if
 * asked) of a buffer that stays unchanged until wait_writes() returns the
 * first error of everything submitted; read() and flush() (an empty
 * PREFLUSH) are synchronous. Data I/O is the bios the shim remaps: the core
 * calls data_io_begin() before it lets a commit or a free run, and
 * wait_data() waits until none of the given direction is in flight.
 */
struct wc_ssd_ops {
	void *ctx;
	void (*submit_write)(void *ctx, uint64_t sector, const void *buf,
			     uint64_t sectors, int fua);
	int (*wait_writes)(void *ctx);
	int (*read)(void *ctx, uint64_t sector, void *buf, uint64_t sectors);
	int (*flush)(void *ctx);
	void (*data_io_begin)(void *ctx, int write);
	void (*wait_data)(void *ctx, int write);
};

enum wc_ssd_target {
	WC_SSD_CACHE = 0,	/* remap to the cache device */
	WC_SSD_ORIGIN = 1,	/* remap to the origin */
	WC_SSD_NOSPACE = 2,	/* no free block: wait, then retry */
	WC_SSD_ERROR = 3,	/* the cache is in the error state */
};

/* Where the first `blocks` blocks of a bio go. */
struct wc_ssd_mapping {
	uint64_t cache_sector;	/* WC_SSD_CACHE: relative to start_sector */
	uint64_t blocks;
	int uncommitted;	/* read: wait for in-flight data writes first */
	int commit_now;		/* write: queue a commit (autocommit_blocks) */
	int arm_timer;		/* write: arm the autocommit timer */
};

/*
 * Validate (formatting a zeroed superblock first) the SSD cache area of
 * `bytes` (after start_sector); ops stays valid until destroy.
 */
int wc_cache_create_ssd(const struct wc_config *cfg,
			const struct wc_ssd_ops *ops, uint64_t bytes,
			struct wc_cache **out, const char **error);
enum wc_ssd_target wc_cache_ssd_map_write(struct wc_cache *c, uint64_t sector,
					  uint64_t blocks, int req_meta,
					  struct wc_ssd_mapping *m);
enum wc_ssd_target wc_cache_ssd_map_read(struct wc_cache *c, uint64_t sector,
					 uint64_t blocks,
					 struct wc_ssd_mapping *m);
/* Cache-device sector of a writeback run's first block (SSD). */
uint64_t wc_cache_ssd_block_sector(struct wc_cache *c, uint32_t block);
/* RAM the core holds for this cache, in bytes (block map + mirror). */
uint64_t wc_cache_ram_bytes(struct wc_cache *c);
void wc_cache_count_discard(struct wc_cache *c, uint64_t blocks);

/* ---- On-media layout -------------------------------------------------- */

/*
 * Number of cache blocks a fresh format of size_bytes (already reduced by
 * start_sector) holds, exactly as upstream's calculate_memory_size().
 * Returns 0, -WC_ENOSPC or -WC_EFBIG.
 */
int wc_layout_n_blocks(uint64_t size_bytes, uint32_t block_size,
		       uint64_t *n_blocks, uint64_t *data_offset);

#ifdef __cplusplus
}
#endif

#endif /* WC_ABI_H */
