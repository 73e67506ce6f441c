// SPDX-License-Identifier: GPL-2.0
/*
 * dm-writecache-cxx: the device-mapper target (kernel boundary).
 *
 * SKELETON. This stage validates the complete upstream table grammar (in
 * the C++ core, with upstream's error texts), renders upstream's TABLE,
 * INFO and IMA status and accepts upstream's messages, but it caches
 * nothing: every bio is passed through to the origin device. The cache
 * device is opened and checked (DAX for 'p') but never written.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/device-mapper.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "wc_abi.h"

#define DM_MSG_PREFIX "writecache"

static char *target_name = "writecache";
module_param(target_name, charp, 0444);
MODULE_PARM_DESC(target_name,
		 "device-mapper target name to register (default \"writecache\")");

struct wc_target {
	struct dm_target *ti;
	struct dm_dev *origin;
	struct dm_dev *cache;
	struct wc_config cfg;
	u64 n_blocks;
	bool flush_on_suspend;
	/* Skeleton counters: every block is a write-around or an origin read. */
	atomic64_t reads;
	atomic64_t writes;
	atomic64_t flushes;
	atomic64_t discards;
};

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

static void wc_dtr(struct dm_target *ti)
{
	struct wc_target *wc = ti->private;

	if (!wc)
		return;
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
	u64 area;
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

	if (wc->cfg.pmem) {
		r = wc_check_pmem(wc);
		if (r)
			goto bad;
	}

	/* The geometry a fresh format of this cache area would have. */
	area = wc->cfg.cache_bytes - (wc->cfg.start_sector << SECTOR_SHIFT);
	r = wc_layout_n_blocks(area, wc->cfg.block_size, &wc->n_blocks, NULL);
	if (r) {
		ti->error = wc->cfg.pmem ? "Unable to initialize device" :
					   "Invalid device size";
		goto bad;
	}

	ti->num_flush_bios = wc->cfg.pmem ? 1 : 2;
	ti->flush_supported = true;
	ti->num_discard_bios = 1;
	return 0;

bad:
	wc_dtr(ti);
	return r;
}

static int wc_map(struct dm_target *ti, struct bio *bio)
{
	struct wc_target *wc = ti->private;
	unsigned int bs_sectors = wc->cfg.block_size >> SECTOR_SHIFT;
	u64 blocks;

	bio_set_dev(bio, wc->origin->bdev);

	/* dm core sends PREFLUSH only as empty bios, one per flush bio. */
	if (bio->bi_opf & REQ_PREFLUSH) {
		if (dm_bio_get_target_bio_nr(bio) == 0)
			atomic64_inc(&wc->flushes);
		return DM_MAPIO_REMAPPED;
	}

	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	if ((((unsigned int)bio->bi_iter.bi_sector | bio_sectors(bio)) &
	     (bs_sectors - 1)) != 0) {
		DMERR("I/O is not aligned, sector %llu, size %u, block size %u",
		      (unsigned long long)bio->bi_iter.bi_sector,
		      bio->bi_iter.bi_size, wc->cfg.block_size);
		return DM_MAPIO_KILL;
	}

	blocks = bio_sectors(bio) / bs_sectors;
	if (bio_op(bio) == REQ_OP_DISCARD)
		atomic64_add(blocks, &wc->discards);
	else if (bio_data_dir(bio) == READ)
		atomic64_add(blocks, &wc->reads);
	else
		atomic64_add(blocks, &wc->writes);
	return DM_MAPIO_REMAPPED;
}

static void wc_status(struct dm_target *ti, status_type_t type,
		      unsigned int status_flags, char *result,
		      unsigned int maxlen)
{
	struct wc_target *wc = ti->private;
	struct wc_status st = {};

	switch (type) {
	case STATUSTYPE_INFO:
		st.n_blocks = wc->n_blocks;
		st.free_blocks = wc->n_blocks;
		st.reads = atomic64_read(&wc->reads);
		st.writes = atomic64_read(&wc->writes);
		st.writes_around = st.writes;
		st.flushes = atomic64_read(&wc->flushes);
		st.discards = atomic64_read(&wc->discards);
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

static int wc_message(struct dm_target *ti, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen)
{
	struct wc_target *wc = ti->private;

	switch (wc_parse_message(argc, argv)) {
	case WC_MSG_FLUSH:
		/* Nothing is ever cached, so a flush has nothing to write back. */
		return dm_suspended(ti) ? -EBUSY : 0;
	case WC_MSG_FLUSH_ON_SUSPEND:
		wc->flush_on_suspend = true;
		return 0;
	case WC_MSG_CLEANER:
		/* Like upstream: not shown in the TABLE line. */
		wc->flush_on_suspend = true;
		return 0;
	case WC_MSG_CLEAR_STATS:
		atomic64_set(&wc->reads, 0);
		atomic64_set(&wc->writes, 0);
		atomic64_set(&wc->flushes, 0);
		atomic64_set(&wc->discards, 0);
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
