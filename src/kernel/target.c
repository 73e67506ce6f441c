// SPDX-License-Identifier: GPL-2.0
/*
 * dm-writecache-cxx: the device-mapper target (kernel boundary).
 *
 * The C++ core (src/core) owns the metadata, block map, commit protocol
 * and writeback choice; the shims move bios, run the threads and timers,
 * and map the devices (target.h lists the files). This one is the target
 * itself: constructor, destructor, map dispatch, suspend and resume,
 * status and messages.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/device-mapper.h>
#include <linux/dm-kcopyd.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "target.h"

static char *target_name = "writecache";
module_param(target_name, charp, 0444);
MODULE_PARM_DESC(target_name,
		 "device-mapper target name to register (default \"writecache\")");

DECLARE_DM_KCOPYD_THROTTLE_WITH_MODULE_PARM(dm_writecache_throttle,
	"A percentage of time allocated for data copying (SSD writeback)");

/* The core's waker: blocks were freed, or the error state latched. */
static void wc_wake_freelist(void *ctx)
{
	struct wc_target *wc = ctx;

	wake_up_all(&wc->freelist_wait);
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

/* Target-relative sector; I/O must be whole, aligned blocks. */
bool wc_remap_aligned(struct wc_target *wc, struct bio *bio)
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

/* ---- map dispatch ------------------------------------------------------- */

static int wc_map(struct dm_target *ti, struct bio *bio)
{
	struct wc_target *wc = ti->private;
	struct wc_per_bio *pb;

	if (!wc_is_ssd(wc))
		return wc_map_pmem(wc, bio);
	pb = dm_per_bio_data(bio, sizeof(*pb));
	pb->kind = WC_BIO_OTHER;
	return wc_map_ssd(wc, bio);
}

/* Only SSD mode has work at completion (per-bio data: its kind). */
static int wc_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	struct wc_target *wc = ti->private;

	if (!wc_is_ssd(wc))
		return DM_ENDIO_DONE;
	return wc_ssd_end_io(wc, bio, error);
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
