// SPDX-License-Identifier: GPL-2.0
/*
 * Platform services for the C++ core: allocation, logging, panic.
 * The core never includes kernel headers; everything it needs from the
 * kernel comes through include/wc_abi.h and is implemented here.
 */
#include <linux/atomic.h>
#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/slab.h>

#include "wc_abi.h"

#define DM_MSG_PREFIX "writecache"

static atomic_long_t wc_allocations = ATOMIC_LONG_INIT(0);

void *wc_plat_alloc(size_t size, enum wc_alloc_ctx ctx)
{
	void *p = kmalloc(size, ctx == WC_ALLOC_NOIO ? GFP_NOIO : GFP_KERNEL);

	if (p)
		atomic_long_inc(&wc_allocations);
	return p;
}

void wc_plat_free(void *ptr)
{
	if (!ptr)
		return;
	atomic_long_dec(&wc_allocations);
	kfree(ptr);
}

long wc_plat_alloc_outstanding(void)
{
	return atomic_long_read(&wc_allocations);
}

void wc_plat_log_error(const char *msg)
{
	DMERR("%s", msg);
}

void wc_plat_panic(const char *msg)
{
	panic("%s", msg);
}
