/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations shared by the kernel shims (C only; never seen by the core). */
#ifndef WC_KERNEL_H
#define WC_KERNEL_H

#include <linux/device-mapper.h>
#include <linux/types.h>

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

#endif /* WC_KERNEL_H */
