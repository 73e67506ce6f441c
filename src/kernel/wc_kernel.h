/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations shared by the kernel shims (C only; never seen by the core). */
#ifndef WC_KERNEL_H
#define WC_KERNEL_H

#include <linux/device-mapper.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "wc_abi.h"

struct wc_dax_map {
	void *base;		/* the whole device, mapped */
	u64 bytes;
	bool vmapped;
	void *area;		/* base + start_sector * 512 */
	u64 area_bytes;
};

int wc_dax_map(struct dm_dev *dev, u64 start_sector, struct wc_dax_map *m);
void wc_dax_unmap(struct wc_dax_map *m);
struct page *wc_dax_page(const struct wc_dax_map *m, const void *addr);
void wc_dax_flush_cache(const struct wc_dax_map *m);
void wc_dax_invalidate_cache(const struct wc_dax_map *m);

/* platform.c: the core_ram_bytes counter. */
void wc_kernel_account_ram(long delta);

/* SSD mode: the cache device under the core (ssd_io.c). */
struct wc_ssd_dev {
	struct block_device *bdev;
	sector_t start;			/* start_sector */
	struct dm_io_client *io;
	atomic_t inflight[2];		/* data bios to the cache, [write] */
	atomic_t md_pending;		/* metadata writes in flight */
	int md_error;			/* first metadata write error */
	wait_queue_head_t wait;
	struct wc_ssd_ops ops;
};

int wc_ssd_dev_init(struct wc_ssd_dev *d, struct block_device *bdev,
		    sector_t start);
void wc_ssd_dev_exit(struct wc_ssd_dev *d);
/* A data bio the core reported with data_io_begin() completed. */
void wc_ssd_data_io_end(struct wc_ssd_dev *d, bool write);

#endif /* WC_KERNEL_H */
