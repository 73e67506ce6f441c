/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tests/pathlen/drive.h: the per-bio calls of the kernel shim's pmem write
 * path (src/kernel/target.c), for the callgrind driver (main.c).
 */
#ifndef PATHLEN_DRIVE_H
#define PATHLEN_DRIVE_H

#include <stddef.h>
#include <stdint.h>

#include <wc_abi.h>

/*
 * One write bio of `blocks` cache blocks at target sector `sector` (512-byte
 * sectors), data at `data` (blocks * block_size bytes, one segment), FUA if
 * `fua`. Returns 0, or -1 if the core did not cache it (error state, no
 * free block, or a write-around: none of these may happen here).
 */
int drive_write_bio(struct wc_cache *c, uint64_t sector, uint64_t blocks,
		    uint32_t block_size, const void *data, int fua);

/* One empty REQ_PREFLUSH bio (fdatasync, or the flush after an O_DSYNC write). */
int drive_flush_bio(struct wc_cache *c);

/* Which ABI drive.c was built for (printed with the results). */
extern const char drive_abi[];

#endif
