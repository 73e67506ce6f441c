// SPDX-License-Identifier: GPL-2.0
/*
 * The SSD cache device as the core drives it (struct wc_ssd_ops): metadata
 * writes and reads through dm-io on the RAM mirror, an empty PREFLUSH, and
 * the count of data bios in flight to the cache device, which a commit
 * (writes) and a free (reads and writes) wait to drain.
 */
#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/mm.h>
#include <linux/wait.h>

#include "wc_kernel.h"

static void wc_ssd_fill_mem(struct dm_io_request *req, const void *buf)
{
	if (is_vmalloc_addr(buf)) {
		req->mem.type = DM_IO_VMA;
		req->mem.ptr.vma = (void *)buf;
	} else {
		req->mem.type = DM_IO_KMEM;
		req->mem.ptr.addr = (void *)buf;
	}
}

static void wc_ssd_md_done(unsigned long error, void *context)
{
	struct wc_ssd_dev *d = context;

	if (error)
		cmpxchg(&d->md_error, 0, -EIO);
	if (atomic_dec_and_test(&d->md_pending))
		wake_up_all(&d->wait);
}

static void wc_ssd_submit_write(void *ctx, u64 sector, const void *buf,
				u64 sectors, int fua)
{
	struct wc_ssd_dev *d = ctx;
	struct dm_io_region region = {
		.bdev = d->bdev,
		.sector = d->start + sector,
		.count = sectors,
	};
	struct dm_io_request req = {
		.bi_opf = REQ_OP_WRITE | REQ_SYNC | (fua ? REQ_FUA : 0),
		.client = d->io,
		.notify.fn = wc_ssd_md_done,
		.notify.context = d,
	};

	wc_ssd_fill_mem(&req, buf);
	atomic_inc(&d->md_pending);
	if (dm_io(&req, 1, &region, NULL, IOPRIO_DEFAULT))
		wc_ssd_md_done(1, d);
}

static int wc_ssd_wait_writes(void *ctx)
{
	struct wc_ssd_dev *d = ctx;

	wait_event(d->wait, !atomic_read(&d->md_pending));
	return xchg(&d->md_error, 0);
}

static int wc_ssd_read(void *ctx, u64 sector, void *buf, u64 sectors)
{
	struct wc_ssd_dev *d = ctx;
	struct dm_io_region region = {
		.bdev = d->bdev,
		.sector = d->start + sector,
		.count = sectors,
	};
	struct dm_io_request req = {
		.bi_opf = REQ_OP_READ | REQ_SYNC,
		.client = d->io,
	};

	wc_ssd_fill_mem(&req, buf);
	return dm_io(&req, 1, &region, NULL, IOPRIO_DEFAULT);
}

static int wc_ssd_flush(void *ctx)
{
	struct wc_ssd_dev *d = ctx;

	return blkdev_issue_flush(d->bdev);
}

static void wc_ssd_data_io_begin(void *ctx, int write)
{
	struct wc_ssd_dev *d = ctx;

	atomic_inc(&d->inflight[!!write]);
}

static void wc_ssd_wait_data(void *ctx, int write)
{
	struct wc_ssd_dev *d = ctx;

	wait_event(d->wait, !atomic_read(&d->inflight[!!write]));
}

void wc_ssd_data_io_end(struct wc_ssd_dev *d, bool write)
{
	if (atomic_dec_and_test(&d->inflight[write]))
		wake_up_all(&d->wait);
}

int wc_ssd_dev_init(struct wc_ssd_dev *d, struct block_device *bdev,
		    sector_t start)
{
	memset(d, 0, sizeof(*d));
	d->bdev = bdev;
	d->start = start;
	init_waitqueue_head(&d->wait);
	d->io = dm_io_client_create();
	if (IS_ERR(d->io)) {
		int r = PTR_ERR(d->io);

		d->io = NULL;
		return r;
	}
	d->ops = (struct wc_ssd_ops){
		.ctx = d,
		.submit_write = wc_ssd_submit_write,
		.wait_writes = wc_ssd_wait_writes,
		.read = wc_ssd_read,
		.flush = wc_ssd_flush,
		.data_io_begin = wc_ssd_data_io_begin,
		.wait_data = wc_ssd_wait_data,
	};
	return 0;
}

void wc_ssd_dev_exit(struct wc_ssd_dev *d)
{
	if (d->io)
		dm_io_client_destroy(d->io);
	d->io = NULL;
}
