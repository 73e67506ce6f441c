// SPDX-License-Identifier: GPL-2.0
/*
 * dm-writecache-cxx: the device-mapper target (kernel boundary).
 *
 * The C++ core (src/core) owns the metadata, block map, commit protocol
 * and writeback choice; this file moves bios, runs the threads and timers,
 * and maps the devices:
 *  - mode 'p' (pmem): data is copied through the DAX mapping; writeback
 *    sends bios straight from pmem pages;
 *  - mode 's' (SSD): bios are remapped to the cache device (ssd_io.c
 *    counts them and does the metadata I/O); writeback copies with
 *    dm-kcopyd; flush bios, discards and FUA completions go to a worker
 *    that commits (upstream's flush thread).
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/device-mapper.h>
#include <linux/dm-kcopyd.h>
#include <linux/highmem.h>
#include <linux/mempool.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "wc_kernel.h"

#define DM_MSG_PREFIX "writecache"

static char *target_name = "writecache";
module_param(target_name, charp, 0444);
MODULE_PARM_DESC(target_name,
		 "device-mapper target name to register (default \"writecache\")");

DECLARE_DM_KCOPYD_THROTTLE_WITH_MODULE_PARM(dm_writecache_throttle,
	"A percentage of time allocated for data copying (SSD writeback)");

/* A writeback bio and the run it carries (bioset front_pad). pmem. */
struct wc_wb_io {
	struct wc_target *wc;
	struct wc_writeback_run run;
	struct bio bio;
};

/* A writeback copy (dm-kcopyd job) and its run. SSD. */
struct wc_copy {
	struct wc_target *wc;
	struct list_head entry;
	bool failed;
	struct wc_writeback_run run;
};

/* What end_io must do for a bio (per-bio data). */
enum wc_bio_kind {
	WC_BIO_OTHER = 0,
	WC_BIO_CACHE_READ,	/* remapped to the SSD: counted in flight */
	WC_BIO_CACHE_WRITE,
	WC_BIO_CACHE_FUA,	/* ...and completes only after a commit */
	WC_BIO_ORIGIN_WRITE,	/* origin activity, for pause_writeback */
};

struct wc_per_bio {
	u8 kind;
};

struct wc_target {
	struct dm_target *ti;
	struct dm_dev *origin;
	struct dm_dev *cache;
	struct wc_config cfg;
	bool flush_on_suspend;
	u64 ram_bytes;			/* accounted in core_ram_bytes */

	struct wc_cache *core;
	/* pmem mode */
	struct wc_dax_map dax;
	struct workqueue_struct *wq;		/* writeback + commit, ordered */
	struct workqueue_struct *endio_wq;
	struct work_struct writeback_work;
	struct work_struct commit_work;
	struct work_struct endio_work;
	struct timer_list autocommit_timer;
	struct timer_list max_age_timer;
	wait_queue_head_t freelist_wait;
	wait_queue_head_t writeback_wait;
	spinlock_t endio_lock;
	struct bio_list endio_list;
	struct bio_set bio_set;
	bool bio_set_ready;
	atomic_t writeback_all;
	bool suspended;

	/* SSD mode */
	struct wc_ssd_dev ssd;
	struct dm_kcopyd_client *kcopyd;
	mempool_t copy_pool;
	struct list_head copy_done;		/* under endio_lock */
	struct workqueue_struct *flush_wq;	/* commits for flush/FUA, discards */
	struct work_struct flush_work;
	spinlock_t flush_lock;
	struct bio_list flush_list;
	/* pause_writeback: origin writes in flight, and when they drained */
	spinlock_t iot_lock;
	unsigned int iot_in_flight;
	unsigned long iot_idle_since;
};

/* The core's waker: blocks were freed, or the error state latched. */
static void wc_wake_freelist(void *ctx)
{
	struct wc_target *wc = ctx;

	wake_up_all(&wc->freelist_wait);
}

static bool wc_is_ssd(struct wc_target *wc)
{
	return !wc->cfg.pmem;
}

static int wc_get_device(void *ctx, enum wc_dev_role role, const char *path,
			 struct wc_dev_info *info)
{
	struct wc_target *wc = ctx;
	struct dm_dev **slot = role == WC_DEV_ORIGIN ? &wc->origin : &wc->cache;
	int r;

	r = dm_get_device(wc->ti, path, dm_table_get_mode(wc->ti->table), slot);
	if (r)
		return r;
	info->size_bytes = bdev_nr_bytes((*slot)->bdev);
	info->logical_block_size = bdev_logical_block_size((*slot)->bdev);
	return 0;
}

static unsigned int wc_step(struct wc_target *wc)
{
	return wc->cfg.block_size >> SECTOR_SHIFT;
}

/* ---- writeback --------------------------------------------------------- */

static void wc_queue_writeback(struct wc_target *wc)
{
	if (!wc->suspended)
		queue_work(wc->wq, &wc->writeback_work);
}

static void wc_writeback_endio(struct bio *bio)
{
	struct wc_wb_io *io = container_of(bio, struct wc_wb_io, bio);
	struct wc_target *wc = io->wc;
	unsigned long flags;

	spin_lock_irqsave(&wc->endio_lock, flags);
	bio_list_add(&wc->endio_list, bio);
	spin_unlock_irqrestore(&wc->endio_lock, flags);
	queue_work(wc->endio_wq, &wc->endio_work);
}

static void wc_copy_endio(int read_err, unsigned long write_err, void *context)
{
	struct wc_copy *c = context;
	struct wc_target *wc = c->wc;
	unsigned long flags;

	c->failed = read_err || write_err;
	spin_lock_irqsave(&wc->endio_lock, flags);
	list_add_tail(&c->entry, &wc->copy_done);
	spin_unlock_irqrestore(&wc->endio_lock, flags);
	queue_work(wc->endio_wq, &wc->endio_work);
}

/*
 * Completed writeback bios (pmem) and copies (SSD) free their blocks in
 * process context. Without FUA (SSD always) the origin is flushed first,
 * so nothing is freed before it is durable on the origin.
 */
static void wc_endio_work(struct work_struct *work)
{
	struct wc_target *wc = container_of(work, struct wc_target, endio_work);
	struct wc_copy *c, *tmp;
	struct bio_list list;
	LIST_HEAD(copies);
	struct bio *bio;
	int flush_err = 0;

	spin_lock_irq(&wc->endio_lock);
	list = wc->endio_list;
	bio_list_init(&wc->endio_list);
	list_splice_init(&wc->copy_done, &copies);
	spin_unlock_irq(&wc->endio_lock);
	if (bio_list_empty(&list) && list_empty(&copies))
		return;
	if (!wc->cfg.writeback_fua)
		flush_err = blkdev_issue_flush(wc->origin->bdev);

	while ((bio = bio_list_pop(&list))) {
		struct wc_wb_io *io = container_of(bio, struct wc_wb_io, bio);

		wc_cache_writeback_done(wc->core, &io->run,
					flush_err ?: (__force int)bio->bi_status);
		bio_put(bio);
	}
	list_for_each_entry_safe(c, tmp, &copies, entry) {
		int st = c->failed ? (__force int)BLK_STS_IOERR : 0;

		wc_cache_writeback_done(wc->core, &c->run, flush_err ?: st);
		mempool_free(c, &wc->copy_pool);
	}
	wake_up_all(&wc->writeback_wait);
	/* Blocks skipped while an older version was in flight may go now. */
	if (wc_cache_writeback_wanted(wc->core))
		wc_queue_writeback(wc);
}

static bool wc_writeback_throttled(struct wc_target *wc)
{
	u32 jobs = wc->cfg.writeback_jobs;

	return jobs && wc_cache_writeback_blocks(wc->core) >= jobs;
}

/* pmem: one bio per run, straight from the pmem pages; its block count. */
static u32 wc_writeback_pmem(struct wc_target *wc, bool all, sector_t origin_end)
{
	unsigned int step = wc_step(wc);
	struct wc_wb_io *io;
	struct bio *bio;
	u32 i, count;

	bio = bio_alloc_bioset(wc->origin->bdev, WC_WRITEBACK_MAX_BLOCKS,
			       REQ_OP_WRITE, GFP_NOIO, &wc->bio_set);
	io = container_of(bio, struct wc_wb_io, bio);
	io->wc = wc;
	if (!wc_cache_writeback_next(wc->core, &io->run, all)) {
		bio_put(bio);
		return 0;
	}
	bio->bi_iter.bi_sector = io->run.sector;
	bio->bi_end_io = wc_writeback_endio;
	if (wc->cfg.writeback_fua)
		bio->bi_opf |= REQ_FUA;
	for (i = 0; i < io->run.count; i++) {
		const void *addr = wc_cache_block_data(wc->core, io->run.blocks[i]);

		/* An origin that shrank drops the blocks past its end. */
		if (io->run.sector + (u64)i * step >= origin_end)
			break;
		if (!bio_add_page(bio, wc_dax_page(&wc->dax, addr),
				  wc->cfg.block_size, offset_in_page(addr)))
			break;
	}
	count = io->run.count;	/* io may be gone once submitted */
	if (!bio_sectors(bio)) {
		bio->bi_status = BLK_STS_OK;
		bio_endio(bio);
	} else {
		submit_bio(bio);
	}
	return count;
}

/* SSD: one kcopyd job per run (its cache blocks are consecutive); its count. */
static u32 wc_writeback_ssd(struct wc_target *wc, bool all, sector_t origin_end)
{
	struct dm_io_region from, to;
	struct wc_copy *c;
	u64 n;

	c = mempool_alloc(&wc->copy_pool, GFP_NOIO);
	c->wc = wc;
	c->failed = false;
	if (!wc_cache_writeback_next(wc->core, &c->run, all)) {
		mempool_free(c, &wc->copy_pool);
		return 0;
	}
	n = (u64)c->run.count * wc_step(wc);
	/* An origin that shrank drops the blocks past its end. */
	if (c->run.sector >= origin_end) {
		u32 count = c->run.count;

		wc_copy_endio(0, 0, c);
		return count;
	}
	n = min_t(u64, n, origin_end - c->run.sector);
	from.bdev = wc->cache->bdev;
	from.sector = wc->cfg.start_sector +
		      wc_cache_ssd_block_sector(wc->core, c->run.blocks[0]);
	from.count = n;
	to.bdev = wc->origin->bdev;
	to.sector = c->run.sector;
	to.count = n;
	n = c->run.count;
	dm_kcopyd_copy(wc->kcopyd, &from, 1, &to, 0, wc_copy_endio, c);
	return n;
}

/* jiffies since the last origin write (redirected by us) completed. */
static unsigned long wc_origin_idle(struct wc_target *wc)
{
	unsigned long idle = 0;

	spin_lock_irq(&wc->iot_lock);
	if (!wc->iot_in_flight)
		idle = jiffies - wc->iot_idle_since;
	spin_unlock_irq(&wc->iot_lock);
	return idle;
}

/*
 * pause_writeback (SSD): wait until the origin saw no redirected write for
 * `pause`; not for the cleaner, a full writeback or a suspend.
 */
static void wc_writeback_pause(struct wc_target *wc)
{
	unsigned long pause = msecs_to_jiffies(wc->cfg.pause_writeback_ms);

	if (!pause)
		return;
	for (;;) {
		unsigned long idle;

		if (wc->cfg.cleaner || wc->suspended ||
		    atomic_read(&wc->writeback_all) || wc_cache_has_error(wc->core))
			return;
		idle = wc_origin_idle(wc);
		if (idle >= pause)
			return;
		set_current_state(TASK_IDLE);
		schedule_timeout(min(pause - idle, (unsigned long)HZ));
	}
}

static void wc_writeback_work(struct work_struct *work)
{
	struct wc_target *wc = container_of(work, struct wc_target, writeback_work);
	sector_t origin_end = bdev_nr_sectors(wc->origin->bdev);
	bool all = atomic_read(&wc->writeback_all) > 0;
	u64 budget = U64_MAX;
	struct blk_plug plug;

	/* Queued by a completion racing postsuspend: not now. */
	if (wc->suspended && !all)
		return;
	if (wc_is_ssd(wc)) {
		dm_kcopyd_client_flush(wc->kcopyd);
		wc_writeback_pause(wc);
	}
	/*
	 * Everything means the blocks dirty now, as upstream's one pass over
	 * its tree: under a steady stream of writes the cache never empties.
	 */
	if (all) {
		struct wc_status st;

		wc_cache_fill_status(wc->core, &st);
		budget = st.n_blocks - st.free_blocks;
	}
	for (;;) {
		blk_start_plug(&plug);
		while (budget && !wc_cache_has_error(wc->core)) {
			u32 n = wc_is_ssd(wc) ? wc_writeback_ssd(wc, all, origin_end) :
						wc_writeback_pmem(wc, all, origin_end);
			if (!n)
				break;
			budget -= min_t(u64, budget, n);
			if (wc_writeback_throttled(wc)) {
				blk_finish_plug(&plug);
				wait_event(wc->writeback_wait, !wc_writeback_throttled(wc));
				blk_start_plug(&plug);
			}
			cond_resched();
		}
		blk_finish_plug(&plug);
		if (!all)
			break;
		/*
		 * Blocks whose older version was still in flight were skipped
		 * (one write per origin sector in flight); once those land,
		 * pick again.
		 */
		wait_event(wc->writeback_wait,
			   !wc_cache_writeback_blocks(wc->core));
		if (!wc_cache_writeback_take_skipped(wc->core))
			break;
	}
}

static void wc_commit_work(struct work_struct *work)
{
	struct wc_target *wc = container_of(work, struct wc_target, commit_work);

	wc_cache_commit(wc->core);
}

static void wc_autocommit_timer(struct timer_list *t)
{
	struct wc_target *wc = from_timer(wc, t, autocommit_timer);

	if (!wc_cache_has_error(wc->core))
		queue_work(wc->wq, &wc->commit_work);
}

static unsigned long wc_max_age_period(struct wc_target *wc)
{
	return max(msecs_to_jiffies(wc->cfg.max_age_ms / 16), 1UL);
}

static void wc_max_age_timer(struct timer_list *t)
{
	struct wc_target *wc = from_timer(wc, t, max_age_timer);

	if (wc->suspended || wc_cache_has_error(wc->core))
		return;
	wc_queue_writeback(wc);
	mod_timer(&wc->max_age_timer, jiffies + wc_max_age_period(wc));
}

static bool wc_has_max_age(struct wc_target *wc)
{
	return wc->cfg.set & WC_SET_MAX_AGE;
}

/* ---- map (pmem) -------------------------------------------------------- */

/* Target-relative sector; I/O must be whole, aligned blocks. */
static bool wc_remap_aligned(struct wc_target *wc, struct bio *bio)
{
	unsigned int step = wc_step(wc);

	bio->bi_iter.bi_sector = dm_target_offset(wc->ti, bio->bi_iter.bi_sector);
	if ((((unsigned int)bio->bi_iter.bi_sector | bio_sectors(bio)) &
	     (step - 1)) == 0)
		return true;
	DMERR("I/O is not aligned, sector %llu, size %u, block size %u",
	      (unsigned long long)bio->bi_iter.bi_sector,
	      bio->bi_iter.bi_size, wc->cfg.block_size);
	return false;
}

/* Whether some block of the bio spans two bvecs (pages): it needs a bounce. */
static bool wc_bio_straddles(struct bio *bio, unsigned int bs)
{
	struct bvec_iter iter;
	struct bio_vec bv;

	bio_for_each_segment(bv, bio, iter)
		if (bv.bv_len % bs)
			return true;
	return false;
}

/*
 * The block at the bio's current position, mapped; a block that straddles
 * bvecs (O_DIRECT with 512-byte aligned iovecs) goes through the bounce,
 * which wc_map_pmem() allocated if any block of the bio needs it.
 */
static void *wc_bio_block(struct bio *bio, unsigned int bs, void *bounce,
			  bool copy_in)
{
	struct bio_vec bv = bio_iter_iovec(bio, bio->bi_iter);
	struct bvec_iter iter = bio->bi_iter;
	unsigned int done = 0;

	if (bv.bv_len >= bs)
		return bvec_kmap_local(&bv);
	if (!copy_in)
		return bounce;
	while (done < bs) {
		void *p;

		bv = bio_iter_iovec(bio, iter);
		bv.bv_len = min(bv.bv_len, bs - done);
		p = bvec_kmap_local(&bv);
		memcpy((u8 *)bounce + done, p, bv.bv_len);
		kunmap_local(p);
		done += bv.bv_len;
		bio_advance_iter(bio, &iter, bv.bv_len);
	}
	return bounce;
}

static void wc_bio_block_done(struct bio *bio, unsigned int bs, void *p,
			      void *bounce, bool copy_out)
{
	struct bvec_iter iter = bio->bi_iter;
	unsigned int done = 0;

	if (p != bounce) {
		kunmap_local(p);
		if (copy_out)
			flush_dcache_page(bio_page(bio));
		return;
	}
	while (copy_out && done < bs) {
		struct bio_vec bv = bio_iter_iovec(bio, iter);
		void *q;

		bv.bv_len = min(bv.bv_len, bs - done);
		q = bvec_kmap_local(&bv);
		memcpy(q, (u8 *)bounce + done, bv.bv_len);
		kunmap_local(q);
		flush_dcache_page(bv.bv_page);
		done += bv.bv_len;
		bio_advance_iter(bio, &iter, bv.bv_len);
	}
}

/*
 * One map call serves one run of a bio: all of it cached, or all of it
 * sent to the origin. The run is accepted (dm_accept_partial_bio) before
 * the bio is advanced: 6.1's dm core gets the resubmitted tail wrong when
 * a target accepts part of a bio it has already advanced.
 */
static void wc_accept_run(struct wc_target *wc, struct bio *bio, u64 blocks)
{
	unsigned int step = wc_step(wc);

	if (blocks < bio_sectors(bio) / step)
		dm_accept_partial_bio(bio, blocks * step);
}

/* A read's walk over the bio, for the core's read sink. */
struct wc_read_walk {
	struct wc_target *wc;
	struct bio *bio;
	void *bounce;
	void *mapped;
};

static void wc_read_accept(void *ctx, u64 blocks)
{
	struct wc_read_walk *w = ctx;

	wc_accept_run(w->wc, w->bio, blocks);
}

static void *wc_read_block(void *ctx)
{
	struct wc_read_walk *w = ctx;

	w->mapped = wc_bio_block(w->bio, w->wc->cfg.block_size, w->bounce, false);
	return w->mapped;
}

static void wc_read_done(void *ctx, int ok)
{
	struct wc_read_walk *w = ctx;
	unsigned int bs = w->wc->cfg.block_size;

	wc_bio_block_done(w->bio, bs, w->mapped, w->bounce, ok);
	if (ok)
		bio_advance(w->bio, bs);
}

static int wc_map_read(struct wc_target *wc, struct bio *bio, void *bounce)
{
	struct wc_read_walk walk = { .wc = wc, .bio = bio, .bounce = bounce };
	const struct wc_read_sink sink = {
		.accept = wc_read_accept,
		.block = wc_read_block,
		.done = wc_read_done,
		.ctx = &walk,
	};
	u64 blocks = bio_sectors(bio) / wc_step(wc), around;
	int io_error;

	if (!wc_cache_read_run(wc->core, bio->bi_iter.bi_sector, blocks, &sink,
			       &around, &io_error)) {
		wc_accept_run(wc, bio, around);
		bio_set_dev(bio, wc->origin->bdev);
		return DM_MAPIO_REMAPPED;
	}
	if (io_error)
		bio->bi_status = BLK_STS_IOERR;
	bio_endio(bio);
	return DM_MAPIO_SUBMITTED;
}

static void wc_arm_autocommit(struct wc_target *wc)
{
	if (!timer_pending(&wc->autocommit_timer))
		mod_timer(&wc->autocommit_timer,
			  jiffies + msecs_to_jiffies(wc->cfg.autocommit_time_ms));
}

static int wc_map_write(struct wc_target *wc, struct bio *bio, void *bounce)
{
	unsigned int bs = wc->cfg.block_size;
	int meta = !!(bio->bi_opf & REQ_META);
	u64 blocks = bio_sectors(bio) / wc_step(wc), run;
	int arm = 0;

	if (!wc_cache_write_plan(wc->core, bio->bi_iter.bi_sector, blocks, meta,
				 &run)) {
		/* cleaner / metadata_only: uncached blocks go around. */
		wc_accept_run(wc, bio, run);
		wc_cache_count_around(wc->core, run);
		bio_set_dev(bio, wc->origin->bdev);
		return DM_MAPIO_REMAPPED;
	}
	wc_accept_run(wc, bio, run);

	while (bio->bi_iter.bi_size) {
		enum wc_write_result res;
		void *p = wc_bio_block(bio, bs, bounce, true);

		res = wc_cache_write_block(wc->core, bio->bi_iter.bi_sector, p,
					   meta, 1);
		wc_bio_block_done(bio, bs, p, bounce, false);
		if (res == WC_WRITE_CACHED) {
			bio_advance(bio, bs);
			continue;
		}
		if (res == WC_WRITE_NOSPACE) {
			wc_queue_writeback(wc);
			wait_event(wc->freelist_wait,
				   wc_cache_free_blocks(wc->core) ||
				   wc_cache_has_error(wc->core));
			continue;
		}
		bio_io_error(bio);	/* WC_WRITE_ERROR */
		return DM_MAPIO_SUBMITTED;
	}

	if (wc_cache_end_write(wc->core, !!(bio->bi_opf & REQ_FUA), &arm)) {
		bio_io_error(bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (arm)
		wc_arm_autocommit(wc);
	if (wc_cache_writeback_wanted(wc->core))
		wc_queue_writeback(wc);
	bio_endio(bio);
	return DM_MAPIO_SUBMITTED;
}

static int wc_map_pmem(struct wc_target *wc, struct bio *bio)
{
	void *bounce;
	int r;

	if (bio->bi_opf & REQ_PREFLUSH) {
		if (wc_cache_has_error(wc->core))
			return DM_MAPIO_KILL;
		wc_cache_count_flush(wc->core);
		if (wc_cache_commit(wc->core))
			return DM_MAPIO_KILL;
		/* The origin may hold write-arounds: flush it too. */
		if (wc->cfg.cleaner || wc->cfg.metadata_only) {
			bio_set_dev(bio, wc->origin->bdev);
			return DM_MAPIO_REMAPPED;
		}
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}

	if (!wc_remap_aligned(wc, bio))
		return DM_MAPIO_KILL;

	if (bio_op(bio) == REQ_OP_DISCARD) {
		u64 start = bio->bi_iter.bi_sector;

		wc_cache_discard(wc->core, start, start + bio_sectors(bio));
		if (wc_cache_has_error(wc->core))
			return DM_MAPIO_KILL;
		bio_set_dev(bio, wc->origin->bdev);
		return DM_MAPIO_REMAPPED;
	}

	bounce = NULL;
	if (wc_bio_straddles(bio, wc->cfg.block_size)) {
		bounce = kmalloc(wc->cfg.block_size, GFP_NOIO);
		if (!bounce)
			return DM_MAPIO_REQUEUE;
	}
	if (bio_data_dir(bio) == READ)
		r = wc_map_read(wc, bio, bounce);
	else
		r = wc_map_write(wc, bio, bounce);
	kfree(bounce);
	return r;
}

/* ---- map (SSD) --------------------------------------------------------- */

/* Flush bios, discards and FUA completions: handled by the flush worker. */
static void wc_offload(struct wc_target *wc, struct bio *bio)
{
	unsigned long flags;

	spin_lock_irqsave(&wc->flush_lock, flags);
	bio_list_add(&wc->flush_list, bio);
	spin_unlock_irqrestore(&wc->flush_lock, flags);
	queue_work(wc->flush_wq, &wc->flush_work);
}

/*
 * One commit serves every flush and FUA bio taken from the list: each of
 * them completed (FUA) or arrived (flush) before the commit began.
 */
static void wc_flush_work(struct work_struct *work)
{
	struct wc_target *wc = container_of(work, struct wc_target, flush_work);
	struct bio_list list, done;
	struct bio *bio;
	blk_status_t st;

	spin_lock_irq(&wc->flush_lock);
	list = wc->flush_list;
	bio_list_init(&wc->flush_list);
	spin_unlock_irq(&wc->flush_lock);
	bio_list_init(&done);

	while ((bio = bio_list_pop(&list))) {
		if (bio_op(bio) != REQ_OP_DISCARD) {
			bio_list_add(&done, bio);
			continue;
		}
		wc_cache_discard(wc->core, bio->bi_iter.bi_sector, bio_end_sector(bio));
		if (wc_cache_has_error(wc->core)) {
			bio_io_error(bio);
			continue;
		}
		bio_set_dev(bio, wc->origin->bdev);
		submit_bio_noacct(bio);
	}
	if (bio_list_empty(&done))
		return;
	st = wc_cache_commit(wc->core) || wc_cache_has_error(wc->core) ?
		BLK_STS_IOERR : BLK_STS_OK;
	while ((bio = bio_list_pop(&done))) {
		bio->bi_status = st;
		bio_endio(bio);
	}
}

static int wc_ssd_to_origin(struct wc_target *wc, struct bio *bio)
{
	if (bio_op(bio) == REQ_OP_WRITE && wc->cfg.pause_writeback_ms) {
		struct wc_per_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

		pb->kind = WC_BIO_ORIGIN_WRITE;
		spin_lock_irq(&wc->iot_lock);
		wc->iot_in_flight++;
		spin_unlock_irq(&wc->iot_lock);
	}
	bio_set_dev(bio, wc->origin->bdev);
	return DM_MAPIO_REMAPPED;
}

static int wc_ssd_to_cache(struct wc_target *wc, struct bio *bio,
			   const struct wc_ssd_mapping *m, enum wc_bio_kind kind)
{
	struct wc_per_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	pb->kind = kind;
	bio_set_dev(bio, wc->cache->bdev);
	bio->bi_iter.bi_sector = wc->cfg.start_sector + m->cache_sector;
	return DM_MAPIO_REMAPPED;
}

static int wc_map_ssd(struct wc_target *wc, struct bio *bio)
{
	unsigned int step = wc_step(wc);
	struct wc_ssd_mapping m;
	enum wc_ssd_target t;
	u64 blocks;

	if (bio->bi_opf & REQ_PREFLUSH) {
		if (wc_cache_has_error(wc->core))
			return DM_MAPIO_KILL;
		/* The second flush bio flushes the origin (write-arounds). */
		if (dm_bio_get_target_bio_nr(bio))
			return wc_ssd_to_origin(wc, bio);
		wc_cache_count_flush(wc->core);
		wc_offload(wc, bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (!wc_remap_aligned(wc, bio))
		return DM_MAPIO_KILL;
	blocks = bio_sectors(bio) / step;
	if (bio_op(bio) == REQ_OP_DISCARD) {
		if (wc_cache_has_error(wc->core)) {
			wc_cache_count_discard(wc->core, blocks);
			return DM_MAPIO_KILL;
		}
		wc_offload(wc, bio);
		return DM_MAPIO_SUBMITTED;
	}

	if (bio_data_dir(bio) == READ) {
		t = wc_cache_ssd_map_read(wc->core, bio->bi_iter.bi_sector, blocks, &m);
		if (m.blocks < blocks)
			dm_accept_partial_bio(bio, m.blocks * step);
		if (t != WC_SSD_CACHE)
			return wc_ssd_to_origin(wc, bio);
		/* A block still being written must not be read half-done. */
		if (m.uncommitted)
			wait_event(wc->ssd.wait, !atomic_read(&wc->ssd.inflight[WRITE]));
		return wc_ssd_to_cache(wc, bio, &m, WC_BIO_CACHE_READ);
	}

	for (;;) {
		t = wc_cache_ssd_map_write(wc->core, bio->bi_iter.bi_sector, blocks,
					   !!(bio->bi_opf & REQ_META), &m);
		if (t != WC_SSD_NOSPACE)
			break;
		wc_queue_writeback(wc);
		wait_event(wc->freelist_wait, wc_cache_free_blocks(wc->core) ||
			   wc_cache_has_error(wc->core));
	}
	if (t == WC_SSD_ERROR)
		return DM_MAPIO_KILL;
	if (m.blocks < blocks)
		dm_accept_partial_bio(bio, m.blocks * step);
	if (t == WC_SSD_ORIGIN)
		return wc_ssd_to_origin(wc, bio);
	if (m.commit_now)
		queue_work(wc->wq, &wc->commit_work);
	else if (m.arm_timer)
		wc_arm_autocommit(wc);
	if (wc_cache_writeback_wanted(wc->core))
		wc_queue_writeback(wc);
	if (bio->bi_opf & REQ_FUA) {
		/* The commit after completion makes it durable (6.12 semantics). */
		bio->bi_opf &= ~REQ_FUA;
		return wc_ssd_to_cache(wc, bio, &m, WC_BIO_CACHE_FUA);
	}
	return wc_ssd_to_cache(wc, bio, &m, WC_BIO_CACHE_WRITE);
}

static int wc_map(struct dm_target *ti, struct bio *bio)
{
	struct wc_target *wc = ti->private;
	struct wc_per_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	pb->kind = WC_BIO_OTHER;
	return wc_is_ssd(wc) ? wc_map_ssd(wc, bio) : wc_map_pmem(wc, bio);
}

static int wc_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	struct wc_target *wc = ti->private;
	struct wc_per_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	unsigned long flags;

	switch (pb->kind) {
	case WC_BIO_CACHE_READ:
		wc_ssd_data_io_end(&wc->ssd, false);
		break;
	case WC_BIO_CACHE_WRITE:
		wc_ssd_data_io_end(&wc->ssd, true);
		break;
	case WC_BIO_CACHE_FUA:
		wc_ssd_data_io_end(&wc->ssd, true);
		if (*error)
			break;
		pb->kind = WC_BIO_OTHER;
		wc_offload(wc, bio);
		return DM_ENDIO_INCOMPLETE;
	case WC_BIO_ORIGIN_WRITE:
		spin_lock_irqsave(&wc->iot_lock, flags);
		if (!--wc->iot_in_flight)
			wc->iot_idle_since = jiffies;
		spin_unlock_irqrestore(&wc->iot_lock, flags);
		break;
	}
	pb->kind = WC_BIO_OTHER;
	return DM_ENDIO_DONE;
}

/* ---- constructor / destructor ------------------------------------------ */

static void wc_dtr(struct dm_target *ti)
{
	struct wc_target *wc = ti->private;

	if (!wc)
		return;
	if (wc->core) {
		del_timer_sync(&wc->autocommit_timer);
		del_timer_sync(&wc->max_age_timer);
	}
	if (wc->flush_wq)
		destroy_workqueue(wc->flush_wq);
	if (wc->wq)
		destroy_workqueue(wc->wq);
	if (wc->kcopyd)
		dm_kcopyd_client_destroy(wc->kcopyd);
	if (wc->endio_wq)
		destroy_workqueue(wc->endio_wq);
	if (wc->core)
		wc_cache_destroy(wc->core);
	wc_kernel_account_ram(-(long)wc->ram_bytes);
	wc_ssd_dev_exit(&wc->ssd);
	mempool_exit(&wc->copy_pool);
	if (wc->bio_set_ready)
		bioset_exit(&wc->bio_set);
	wc_dax_unmap(&wc->dax);
	if (wc->cache)
		dm_put_device(ti, wc->cache);
	if (wc->origin)
		dm_put_device(ti, wc->origin);
	kfree(wc);
	ti->private = NULL;
}

static int wc_check_pmem(struct wc_target *wc)
{
	struct dm_target *ti = wc->ti;

	if (!IS_ENABLED(CONFIG_FS_DAX) || !wc->cache->dax_dev) {
		ti->error = "Cache device is not a DAX device";
		return -EOPNOTSUPP;
	}
	if (!dax_synchronous(wc->cache->dax_dev)) {
		ti->error = "Asynchronous persistent memory not supported as pmem cache";
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Threads, timers and lists both modes use. */
static int wc_ctr_common(struct wc_target *wc)
{
	struct dm_target *ti = wc->ti;

	wc->wq = alloc_workqueue("writecache-writeback", WQ_MEM_RECLAIM, 1);
	wc->endio_wq = alloc_workqueue("writecache-endio", WQ_MEM_RECLAIM, 1);
	if (!wc->wq || !wc->endio_wq) {
		ti->error = "Could not allocate writeback workqueue";
		return -ENOMEM;
	}
	INIT_WORK(&wc->writeback_work, wc_writeback_work);
	INIT_WORK(&wc->commit_work, wc_commit_work);
	INIT_WORK(&wc->endio_work, wc_endio_work);
	INIT_WORK(&wc->flush_work, wc_flush_work);
	timer_setup(&wc->autocommit_timer, wc_autocommit_timer, 0);
	timer_setup(&wc->max_age_timer, wc_max_age_timer, 0);
	init_waitqueue_head(&wc->freelist_wait);
	init_waitqueue_head(&wc->writeback_wait);
	spin_lock_init(&wc->endio_lock);
	bio_list_init(&wc->endio_list);
	INIT_LIST_HEAD(&wc->copy_done);
	spin_lock_init(&wc->flush_lock);
	bio_list_init(&wc->flush_list);
	/* iot_idle_since 0: idle since boot, as upstream's dm_iot_init. */
	spin_lock_init(&wc->iot_lock);
	atomic_set(&wc->writeback_all, 0);
	return 0;
}

static int wc_ctr_pmem(struct wc_target *wc)
{
	struct dm_target *ti = wc->ti;
	const char *error;
	int r;

	r = wc_check_pmem(wc);
	if (r)
		return r;
	r = wc_dax_map(wc->cache, wc->cfg.start_sector, &wc->dax);
	if (r) {
		ti->error = "Unable to map persistent memory for cache";
		return r;
	}
	r = bioset_init(&wc->bio_set, BIO_POOL_SIZE,
			offsetof(struct wc_wb_io, bio), BIOSET_NEED_BVECS);
	if (r) {
		ti->error = "Could not allocate bio set";
		return r;
	}
	wc->bio_set_ready = true;
	r = wc_cache_create(&wc->cfg, wc->dax.area, wc->dax.area_bytes,
			    &wc->core, &error);
	if (r) {
		wc->core = NULL;
		ti->error = (char *)error;
		return r;
	}
	wc_dax_flush_cache(&wc->dax);
	return 0;
}

static int wc_ctr_ssd(struct wc_target *wc)
{
	struct dm_target *ti = wc->ti;
	const char *error;
	int r;

	r = mempool_init_kmalloc_pool(&wc->copy_pool, 16, sizeof(struct wc_copy));
	if (r) {
		ti->error = "Could not allocate mempool";
		return r;
	}
	wc->flush_wq = alloc_workqueue("writecache-flush", WQ_MEM_RECLAIM, 1);
	if (!wc->flush_wq) {
		ti->error = "Couldn't spawn flush thread";
		return -ENOMEM;
	}
	r = wc_ssd_dev_init(&wc->ssd, wc->cache->bdev, wc->cfg.start_sector);
	if (r) {
		ti->error = "Unable to allocate dm-io client";
		return r;
	}
	wc->kcopyd = dm_kcopyd_client_create(&dm_kcopyd_throttle);
	if (IS_ERR(wc->kcopyd)) {
		r = PTR_ERR(wc->kcopyd);
		wc->kcopyd = NULL;
		ti->error = "Unable to allocate dm-kcopyd client";
		return r;
	}
	r = wc_cache_create_ssd(&wc->cfg, &wc->ssd.ops,
				wc->cfg.cache_bytes - (wc->cfg.start_sector << SECTOR_SHIFT),
				&wc->core, &error);
	if (r) {
		wc->core = NULL;
		ti->error = (char *)error;
		return r;
	}
	return 0;
}

static int wc_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct wc_table_env env = {
		.get_device = wc_get_device,
		.page_size = PAGE_SIZE,
		.default_writeback_jobs = min_t(unsigned long, 0x10000000 / PAGE_SIZE,
						totalram_pages() / 16),
		.pmem_supported = IS_ENABLED(CONFIG_ARCH_HAS_PMEM_API) &&
				  IS_ENABLED(CONFIG_FS_DAX),
	};
	struct wc_target *wc;
	const char *error;
	int r;

	wc = kzalloc(sizeof(*wc), GFP_KERNEL);
	if (!wc) {
		ti->error = "Cannot allocate writecache structure";
		return -ENOMEM;
	}
	wc->ti = ti;
	ti->private = wc;
	env.ctx = wc;

	r = wc_parse_table(argc, argv, &env, &wc->cfg, &error);
	if (r) {
		ti->error = (char *)error;
		goto bad;
	}

	r = wc_ctr_common(wc);
	if (!r)
		r = wc->cfg.pmem ? wc_ctr_pmem(wc) : wc_ctr_ssd(wc);
	if (r)
		goto bad;

	wc_cache_set_waker(wc->core, wc_wake_freelist, wc);
	/* Like upstream's constructor: the cleaner argument in full. */
	if (wc->cfg.cleaner)
		wc->flush_on_suspend = true;
	wc->ram_bytes = wc_cache_ram_bytes(wc->core);
	wc_kernel_account_ram(wc->ram_bytes);
	wc->suspended = true;	/* until the first resume loads the map */
	ti->num_flush_bios = wc->cfg.pmem ? 1 : 2;
	ti->flush_supported = true;
	ti->num_discard_bios = 1;
	ti->per_io_data_size = sizeof(struct wc_per_bio);
	return 0;

bad:
	wc_dtr(ti);
	return r;
}

/* ---- suspend / resume -------------------------------------------------- */

static void wc_postsuspend(struct dm_target *ti)
{
	struct wc_target *wc = ti->private;
	bool all = false;

	del_timer_sync(&wc->autocommit_timer);
	del_timer_sync(&wc->max_age_timer);
	if (wc->flush_wq)
		flush_workqueue(wc->flush_wq);
	wc_cache_commit(wc->core);
	if (wc->flush_on_suspend) {
		wc->flush_on_suspend = false;
		atomic_inc(&wc->writeback_all);
		all = true;
		queue_work(wc->wq, &wc->writeback_work);
	}
	wc->suspended = true;
	flush_workqueue(wc->wq);
	wait_event(wc->writeback_wait, !wc_cache_writeback_blocks(wc->core));
	flush_workqueue(wc->endio_wq);
	if (all)
		atomic_dec(&wc->writeback_all);
	wc_dax_flush_cache(&wc->dax);
}

static void wc_resume(struct dm_target *ti)
{
	struct wc_target *wc = ti->private;

	wc_dax_invalidate_cache(&wc->dax);
	wc_cache_load(wc->core);
	wc->suspended = false;
	if (wc_cache_writeback_wanted(wc->core))
		wc_queue_writeback(wc);
	if (wc_has_max_age(wc))
		mod_timer(&wc->max_age_timer, jiffies + wc_max_age_period(wc));
}

/* ---- status and messages ----------------------------------------------- */

static void wc_status(struct dm_target *ti, status_type_t type,
		      unsigned int status_flags, char *result,
		      unsigned int maxlen)
{
	struct wc_target *wc = ti->private;
	struct wc_status st = {};

	switch (type) {
	case STATUSTYPE_INFO:
		wc_cache_fill_status(wc->core, &st);
		wc_format_info(&st, result, maxlen);
		break;
	case STATUSTYPE_TABLE:
		wc_format_table(&wc->cfg, wc->origin->name, wc->cache->name,
				result, maxlen);
		break;
	case STATUSTYPE_IMA:
		*result = '\0';
		break;
	}
}

/* Synchronous: on return every block dirty when it began is written back. */
static int wc_message_flush(struct wc_target *wc)
{
	if (dm_suspended(wc->ti))
		return -EBUSY;
	if (wc_cache_has_error(wc->core))
		return -EIO;
	wc_cache_commit(wc->core);
	atomic_inc(&wc->writeback_all);
	queue_work(wc->wq, &wc->writeback_work);
	flush_workqueue(wc->wq);
	wait_event(wc->writeback_wait, !wc_cache_writeback_blocks(wc->core));
	atomic_dec(&wc->writeback_all);
	return wc_cache_has_error(wc->core) ? -EIO : 0;
}

static int wc_message(struct dm_target *ti, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen)
{
	struct wc_target *wc = ti->private;

	switch (wc_parse_message(argc, argv)) {
	case WC_MSG_FLUSH:
		return wc_message_flush(wc);
	case WC_MSG_FLUSH_ON_SUSPEND:
		wc->flush_on_suspend = true;
		return 0;
	case WC_MSG_CLEANER:
		/* Like upstream: not shown in the TABLE line. */
		wc->flush_on_suspend = true;
		wc->cfg.cleaner = 1;	/* the pause no longer applies */
		wc_cache_set_cleaner(wc->core);
		if (!dm_suspended(ti))
			wc_queue_writeback(wc);
		return 0;
	case WC_MSG_CLEAR_STATS:
		wc_cache_clear_stats(wc->core);
		return 0;
	case WC_MSG_UNKNOWN:
		DMERR("unrecognised message received: %s", argv[0]);
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

static int wc_iterate_devices(struct dm_target *ti,
			      iterate_devices_callout_fn fn, void *data)
{
	struct wc_target *wc = ti->private;

	return fn(ti, wc->origin, 0, ti->len, data);
}

static void wc_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct wc_target *wc = ti->private;
	unsigned int bs = wc->cfg.block_size;

	limits->logical_block_size = max(limits->logical_block_size, bs);
	limits->physical_block_size = max(limits->physical_block_size, bs);
	limits->io_min = max(limits->io_min, bs);
}

static struct target_type wc_target_type = {
	.name = "writecache",
	.version = {1, 6, 0},
	.module = THIS_MODULE,
	.ctr = wc_ctr,
	.dtr = wc_dtr,
	.map = wc_map,
	.end_io = wc_end_io,
	.postsuspend = wc_postsuspend,
	.resume = wc_resume,
	.status = wc_status,
	.message = wc_message,
	.iterate_devices = wc_iterate_devices,
	.io_hints = wc_io_hints,
};

static int __init wc_module_init(void)
{
	int r;

	if (!target_name || !*target_name) {
		DMERR("target_name must not be empty");
		return -EINVAL;
	}
	wc_target_type.name = target_name;
	r = dm_register_target(&wc_target_type);
	if (r < 0)
		DMERR("registering target '%s' failed: %d", target_name, r);
	return r;
}

static void __exit wc_module_exit(void)
{
	dm_unregister_target(&wc_target_type);
}

module_init(wc_module_init);
module_exit(wc_module_exit);

MODULE_DESCRIPTION(DM_NAME " writecache target (C++ core)");
MODULE_LICENSE("GPL");
