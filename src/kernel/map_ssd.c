// SPDX-License-Identifier: GPL-2.0
/*
 * SSD mode's map: bios are remapped to the cache device (ssd_io.c counts
 * them and does the metadata I/O) or to the origin; flush bios, discards
 * and FUA completions go to the flush worker, which commits (upstream's
 * flush thread).
 */
#include <linux/bio.h>
#include <linux/blkdev.h>

#include "target.h"

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
void wc_flush_work(struct work_struct *work)
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

int wc_map_ssd(struct wc_target *wc, struct bio *bio)
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

/* end_io of a bio map_ssd remapped (per-bio data: its kind). */
int wc_ssd_end_io(struct wc_target *wc, struct bio *bio, blk_status_t *error)
{
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
