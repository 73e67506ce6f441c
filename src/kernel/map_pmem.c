// SPDX-License-Identifier: GPL-2.0
/*
 * pmem mode's map: one core call per bio. The bio is described once (its
 * sector, blocks, flags and segments); the core copies its data to or from
 * pmem through the DAX mapping, and on a write commits when the bio asks.
 */
#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/mm.h>

#include "target.h"

/*
 * A bio as the core walks it (struct wc_bio): its segments by their
 * kernel addresses, a multi-page bvec at a time. The core copies to and
 * from them directly, so a block split across bvecs needs no bounce
 * buffer, and the bio itself is never advanced.
 */
#ifdef CONFIG_HIGHMEM
#error "the pmem path addresses bio pages through the direct map"
#endif

struct wc_bio_walk {
	struct wc_bio b;
	struct bio *bio;
	struct bvec_iter iter;
};

static void wc_walk_fill(struct wc_bio_walk *w)
{
	unsigned int n = 0;

	while (n < WC_BIO_SEGS && w->iter.bi_size) {
		struct bio_vec bv = mp_bvec_iter_bvec(w->bio->bi_io_vec, w->iter);

		w->b.segs[n].addr = page_address(bv.bv_page) + bv.bv_offset;
		w->b.segs[n].len = bv.bv_len;
		bio_advance_iter_single(w->bio, &w->iter, bv.bv_len);
		n++;
	}
	w->b.nsegs = n;
}

static void wc_walk_refill(struct wc_bio *b)
{
	wc_walk_fill(container_of(b, struct wc_bio_walk, b));
}

static void wc_walk_init(struct wc_target *wc, struct wc_bio_walk *w,
			 struct bio *bio)
{
	w->bio = bio;
	w->iter = bio->bi_iter;
	w->b.sector = bio->bi_iter.bi_sector;
	w->b.blocks = bio_sectors(bio) / wc_step(wc);
	w->b.flags = (bio->bi_opf & REQ_FUA ? WC_BIO_FUA : 0) |
		     (bio->bi_opf & REQ_META ? WC_BIO_META : 0);
	w->b.seg = 0;
	w->b.off = 0;
	w->b.refill = wc_walk_refill;
	wc_walk_fill(w);
}

/*
 * One map call serves one run of a bio: all of it cached, or all of it
 * sent to the origin; dm core resubmits the rest.
 */
static void wc_accept_run(struct wc_target *wc, struct bio *bio, u64 blocks)
{
	unsigned int step = wc_step(wc);

	if (blocks < bio_sectors(bio) / step)
		dm_accept_partial_bio(bio, blocks * step);
}

/* The blocks the core served: from the bio's start up to w->b.sector. */
static void wc_accept_served(struct wc_target *wc, struct wc_bio_walk *w)
{
	wc_accept_run(wc, w->bio, (w->b.sector - w->bio->bi_iter.bi_sector) /
			       wc_step(wc));
}

static int wc_map_read(struct wc_target *wc, struct bio *bio)
{
	struct wc_bio_walk w __uninitialized;	/* wc_walk_init() */
	struct wc_io_out out;

	wc_walk_init(wc, &w, bio);
	switch (wc_cache_read(wc->core, &w.b, &out)) {
	case WC_IO_ORIGIN:
		wc_accept_run(wc, bio, out.run);
		bio_set_dev(bio, wc->origin->bdev);
		return DM_MAPIO_REMAPPED;
	case WC_IO_DONE:
		wc_accept_served(wc, &w);
#if ARCH_IMPLEMENTS_FLUSH_DCACHE_PAGE
		{
			struct bvec_iter iter;
			struct bio_vec bv;

			bio_for_each_segment(bv, bio, iter)
				flush_dcache_page(bv.bv_page);
		}
#endif
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	default:	/* a machine check */
		bio_io_error(bio);
		return DM_MAPIO_SUBMITTED;
	}
}

static int wc_map_write(struct wc_target *wc, struct bio *bio)
{
	struct wc_bio_walk w __uninitialized;	/* wc_walk_init() */
	struct wc_io_out out;
	enum wc_io_result r;

	wc_walk_init(wc, &w, bio);
	while ((r = wc_cache_write(wc->core, &w.b, &out)) == WC_IO_NOSPACE) {
		wc_queue_writeback(wc);
		wait_event(wc->freelist_wait, wc_cache_free_blocks(wc->core) ||
			   wc_cache_has_error(wc->core));
	}
	switch (r) {
	case WC_IO_ORIGIN:	/* cleaner / metadata_only */
		wc_accept_run(wc, bio, out.run);
		bio_set_dev(bio, wc->origin->bdev);
		return DM_MAPIO_REMAPPED;
	case WC_IO_DONE:
		wc_accept_served(wc, &w);
		if (out.arm_timer)
			wc_arm_autocommit(wc);
		if (out.writeback)
			wc_queue_writeback(wc);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	default:
		bio_io_error(bio);
		return DM_MAPIO_SUBMITTED;
	}
}

int wc_map_pmem(struct wc_target *wc, struct bio *bio)
{
	if (bio->bi_opf & REQ_PREFLUSH) {
		if (wc_cache_flush(wc->core))
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

	if (bio_data_dir(bio) == READ)
		return wc_map_read(wc, bio);
	return wc_map_write(wc, bio);
}
