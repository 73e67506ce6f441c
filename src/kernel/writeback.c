// SPDX-License-Identifier: GPL-2.0
/*
 * Writeback and the workers around it: pmem writes each run as one bio
 * straight from the pmem pages, SSD copies it with dm-kcopyd; completions
 * free blocks in process context after the origin flush. Also the commit
 * worker and the autocommit and max_age timers.
 */
#include <linux/blkdev.h>
#include <linux/dm-kcopyd.h>
#include <linux/minmax.h>
#include <linux/mm.h>

#include "target.h"

void wc_queue_writeback(struct wc_target *wc)
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
void wc_endio_work(struct work_struct *work)
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

void wc_writeback_work(struct work_struct *work)
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

void wc_commit_work(struct work_struct *work)
{
	struct wc_target *wc = container_of(work, struct wc_target, commit_work);

	wc_cache_commit(wc->core);
}

void wc_autocommit_timer(struct timer_list *t)
{
	struct wc_target *wc = from_timer(wc, t, autocommit_timer);

	if (!wc_cache_has_error(wc->core))
		queue_work(wc->wq, &wc->commit_work);
}

unsigned long wc_max_age_period(struct wc_target *wc)
{
	return max(msecs_to_jiffies(wc->cfg.max_age_ms / 16), 1UL);
}

void wc_max_age_timer(struct timer_list *t)
{
	struct wc_target *wc = from_timer(wc, t, max_age_timer);

	if (wc->suspended || wc_cache_has_error(wc->core))
		return;
	wc_queue_writeback(wc);
	mod_timer(&wc->max_age_timer, jiffies + wc_max_age_period(wc));
}

void wc_arm_autocommit(struct wc_target *wc)
{
	if (!timer_pending(&wc->autocommit_timer))
		mod_timer(&wc->autocommit_timer,
			  jiffies + msecs_to_jiffies(wc->cfg.autocommit_time_ms));
}
