/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The target's state and what its files share (kernel side only):
 *   target.c     constructor, destructor, map dispatch, suspend, resume,
 *                status and messages
 *   map_pmem.c   pmem mode: one write or read bio per core call
 *   map_ssd.c    SSD mode: remapping bios, the flush worker
 *   writeback.c  writeback, commit and endio workers, timers
 */
#ifndef WC_TARGET_H
#define WC_TARGET_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/timer.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "wc_kernel.h"

#define DM_MSG_PREFIX "writecache"

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

static inline bool wc_is_ssd(struct wc_target *wc)
{
	return !wc->cfg.pmem;
}

static inline unsigned int wc_step(struct wc_target *wc)
{
	return wc->cfg.block_size >> SECTOR_SHIFT;
}

static inline bool wc_has_max_age(struct wc_target *wc)
{
	return wc->cfg.set & WC_SET_MAX_AGE;
}

/* target.c */
bool wc_remap_aligned(struct wc_target *wc, struct bio *bio);

/* map_pmem.c */
int wc_map_pmem(struct wc_target *wc, struct bio *bio);

/* map_ssd.c */
int wc_map_ssd(struct wc_target *wc, struct bio *bio);
int wc_ssd_end_io(struct wc_target *wc, struct bio *bio, blk_status_t *error);
void wc_flush_work(struct work_struct *work);

/* writeback.c */
void wc_queue_writeback(struct wc_target *wc);
void wc_arm_autocommit(struct wc_target *wc);
void wc_writeback_work(struct work_struct *work);
void wc_endio_work(struct work_struct *work);
void wc_commit_work(struct work_struct *work);
void wc_autocommit_timer(struct timer_list *t);
void wc_max_age_timer(struct timer_list *t);
unsigned long wc_max_age_period(struct wc_target *wc);

#endif /* WC_TARGET_H */
