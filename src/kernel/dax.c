// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping the pmem cache device: the whole range through
 * dax_direct_access(), or page by page into a vmap() when the driver
 * cannot hand out one contiguous mapping. Writeback sends bios straight
 * from pmem pages, so every page must have a struct page (fsdax).
 */
#include <linux/dax.h>
#include <linux/device-mapper.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>

#include "wc_kernel.h"

int wc_dax_map(struct dm_dev *dev, u64 start_sector, struct wc_dax_map *m)
{
	u64 bytes = bdev_nr_bytes(dev->bdev);
	long pages = bytes >> PAGE_SHIFT;
	struct page **array;
	sector_t offset;
	void *kaddr;
	pfn_t pfn;
	long da, i;
	int id, r;

	memset(m, 0, sizeof(*m));
	if (!pages)
		return -EINVAL;
	offset = get_start_sect(dev->bdev);
	if (offset & (PAGE_SIZE / 512 - 1))
		return -EINVAL;
	offset >>= PAGE_SHIFT - SECTOR_SHIFT;

	id = dax_read_lock();
	da = dax_direct_access(dev->dax_dev, offset, pages, DAX_ACCESS, &kaddr, &pfn);
	if (da < 0) {
		r = da;
		goto out;
	}
	if (!pfn_t_has_page(pfn)) {
		r = -EOPNOTSUPP;
		goto out;
	}
	if (da == pages) {
		m->base = kaddr;
	} else {
		array = vmalloc(array_size(pages, sizeof(*array)));
		if (!array) {
			r = -ENOMEM;
			goto out;
		}
		for (i = 0; i < pages;) {
			long got = dax_direct_access(dev->dax_dev, offset + i,
						     pages - i, DAX_ACCESS, NULL, &pfn);

			if (got <= 0 || !pfn_t_has_page(pfn)) {
				r = got < 0 ? got : (got ? -EOPNOTSUPP : -EINVAL);
				vfree(array);
				goto out;
			}
			while (got-- && i < pages) {
				array[i++] = pfn_t_to_page(pfn);
				pfn.val++;
			}
			cond_resched();
		}
		m->base = vmap(array, pages, VM_MAP, PAGE_KERNEL);
		vfree(array);
		if (!m->base) {
			r = -ENOMEM;
			goto out;
		}
		m->vmapped = true;
	}
	m->bytes = (u64)pages << PAGE_SHIFT;
	r = 0;
out:
	dax_read_unlock(id);
	if (r)
		return r;
	if ((start_sector << SECTOR_SHIFT) >= m->bytes) {
		wc_dax_unmap(m);
		return -EINVAL;
	}
	m->area = (u8 *)m->base + (start_sector << SECTOR_SHIFT);
	m->area_bytes = m->bytes - (start_sector << SECTOR_SHIFT);
	return 0;
}

void wc_dax_unmap(struct wc_dax_map *m)
{
	if (m->vmapped && m->base)
		vunmap(m->base);
	m->base = NULL;
	m->vmapped = false;
}

struct page *wc_dax_page(const struct wc_dax_map *m, const void *addr)
{
	return m->vmapped ? vmalloc_to_page(addr) : virt_to_page(addr);
}

/* No-ops on x86; they matter where caches alias (a vmap on arm64). */
void wc_dax_flush_cache(const struct wc_dax_map *m)
{
	if (m->vmapped)
		flush_kernel_vmap_range(m->base, m->bytes);
}

void wc_dax_invalidate_cache(const struct wc_dax_map *m)
{
	if (m->vmapped)
		invalidate_kernel_vmap_range(m->base, m->bytes);
}
