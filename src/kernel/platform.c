// SPDX-License-Identifier: GPL-2.0
/*
 * Platform services for the C++ core: allocation, logging, panic.
 * The core never includes kernel headers; everything it needs from the
 * kernel comes through include/wc_abi.h and is implemented here.
 */
#include <linux/atomic.h>
#include <linux/device-mapper.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "wc_kernel.h"

#define DM_MSG_PREFIX "writecache"

static atomic_long_t wc_allocations = ATOMIC_LONG_INIT(0);

/* Bytes kmalloc would allocate beyond size. */
static size_t wc_kmalloc_waste(size_t size)
{
	if (size <= PAGE_SIZE)
		return 0;
	return (PAGE_SIZE << get_order(size)) - size;
}

void *wc_plat_alloc(size_t size, enum wc_alloc_ctx ctx)
{
	void *p;

	/*
	 * Setup-time arrays (the block map, the SSD mirror) can be large.
	 * kmalloc of more than a page takes a power-of-two number of pages,
	 * which can waste up to half of an array (RAM per block is a goal):
	 * vmalloc, page-granular, when that waste would pass 1/16. vmalloc
	 * too past kvmalloc's INT_MAX limit (which WARNs).
	 */
	if (ctx == WC_ALLOC_NOIO)
		p = kmalloc(size, GFP_NOIO);
	else if (size > INT_MAX || wc_kmalloc_waste(size) > size / 16)
		p = vmalloc(size);
	else
		p = kvmalloc(size, GFP_KERNEL);

	if (p)
		atomic_long_inc(&wc_allocations);
	return p;
}

void wc_plat_free(void *ptr)
{
	if (!ptr)
		return;
	atomic_long_dec(&wc_allocations);
	kvfree(ptr);
}

long wc_plat_alloc_outstanding(void)
{
	return atomic_long_read(&wc_allocations);
}

/* RAM the cores of all live targets hold for their block maps and mirrors. */
static atomic_long_t wc_ram_bytes = ATOMIC_LONG_INIT(0);

void wc_kernel_account_ram(long delta)
{
	atomic_long_add(delta, &wc_ram_bytes);
}

/*
 * Read-only counters for leak checks and the RAM-per-block benchmark:
 * /sys/module/dm_writecache_cxx/parameters/{core_allocations,core_ram_bytes}.
 */
static int wc_get_counter(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops wc_counter_ops = {
	.get = wc_get_counter,
};

module_param_cb(core_allocations, &wc_counter_ops, &wc_allocations, 0444);
MODULE_PARM_DESC(core_allocations, "allocations the C++ core holds (leak checks)");
module_param_cb(core_ram_bytes, &wc_counter_ops, &wc_ram_bytes, 0444);
MODULE_PARM_DESC(core_ram_bytes, "bytes of block map and metadata mirror held by all targets");

void wc_plat_log_error(const char *msg)
{
	DMERR("%s", msg);
}

void wc_plat_panic(const char *msg)
{
	panic("%s", msg);
}

u32 wc_plat_now_ms(void)
{
	return jiffies_to_msecs(jiffies);
}

void wc_plat_cond_resched(void)
{
	cond_resched();
}

struct wc_lock {
	spinlock_t lock;
};

struct wc_lock *wc_plat_lock_create(void)
{
	struct wc_lock *l = kmalloc(sizeof(*l), GFP_KERNEL);

	if (l)
		spin_lock_init(&l->lock);
	return l;
}

void wc_plat_lock_destroy(struct wc_lock *l)
{
	kfree(l);
}

void wc_plat_lock(struct wc_lock *l)
{
	spin_lock(&l->lock);
}

void wc_plat_unlock(struct wc_lock *l)
{
	spin_unlock(&l->lock);
}

struct wc_rwsem {
	struct rw_semaphore sem;
};

struct wc_rwsem *wc_plat_rwsem_create(void)
{
	struct wc_rwsem *s = kmalloc(sizeof(*s), GFP_KERNEL);

	if (s)
		init_rwsem(&s->sem);
	return s;
}

void wc_plat_rwsem_destroy(struct wc_rwsem *s)
{
	kfree(s);
}

void wc_plat_down_read(struct wc_rwsem *s)
{
	down_read(&s->sem);
}

void wc_plat_up_read(struct wc_rwsem *s)
{
	up_read(&s->sem);
}

void wc_plat_down_write(struct wc_rwsem *s)
{
	down_write(&s->sem);
}

void wc_plat_up_write(struct wc_rwsem *s)
{
	up_write(&s->sem);
}
