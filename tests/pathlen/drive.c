// SPDX-License-Identifier: GPL-2.0
/*
 * tests/pathlen/drive.c: the calls the kernel shim makes into the core per
 * bio, and nothing else, so that callgrind's inclusive cost of
 * drive_write_bio() / drive_flush_bio() is the core's path length per bio.
 * Mirror src/kernel/target.c here when its map path changes.
 *
 * Per-block ABI (wc_map_write and wc_map_pmem's REQ_PREFLUSH branch up to
 * the one-call-per-bio redesign): wc_cache_write_plan, then
 * wc_cache_write_block per block (force = 1), wc_cache_end_write (FUA:
 * commit), wc_cache_writeback_wanted; a flush bio is
 * wc_cache_has_error + wc_cache_count_flush + wc_cache_commit.
 *
 * One-call-per-bio ABI (include/wc_abi.h defines WC_BIO_SEGS): one
 * wc_cache_write per write bio, one wc_cache_flush per flush bio. That
 * branch follows the header as it stood while the redesign was under way
 * (one segment per bio, no refill); check it against target.c.
 */
#include "drive.h"

#ifdef WC_BIO_SEGS

const char drive_abi[] = "one call per bio (wc_cache_write)";

int drive_write_bio(struct wc_cache *c, uint64_t sector, uint64_t blocks,
		    uint32_t block_size, const void *data, int fua)
{
	struct wc_bio b = {
		.sector = sector,
		.blocks = blocks,
		.flags = fua ? WC_BIO_FUA : 0,
		.nsegs = 1,
	};
	struct wc_io_out out;

	b.segs[0].addr = (void *)data;
	b.segs[0].len = (uint32_t)(blocks * block_size);
	if (wc_cache_write(c, &b, &out) != WC_IO_DONE || b.blocks)
		return -1;
	return 0;
}

int drive_flush_bio(struct wc_cache *c)
{
	return wc_cache_flush(c) ? -1 : 0;
}

#else

const char drive_abi[] = "per block (wc_cache_write_plan + wc_cache_write_block)";

int drive_write_bio(struct wc_cache *c, uint64_t sector, uint64_t blocks,
		    uint32_t block_size, const void *data, int fua)
{
	const unsigned char *p = data;
	uint64_t run, i;
	int arm = 0;

	if (!wc_cache_write_plan(c, sector, blocks, 0, &run))
		return -1;	/* write-around: not expected here */
	if (run != blocks)
		return -1;	/* the shim would accept a partial bio */
	for (i = 0; i < blocks; i++) {
		if (wc_cache_write_block(c, sector, p, 0, 1) != WC_WRITE_CACHED)
			return -1;	/* no space / error: not expected */
		sector += block_size >> 9;
		p += block_size;
	}
	if (wc_cache_end_write(c, fua, &arm))
		return -1;
	(void)arm;	/* the shim arms its autocommit timer */
	if (wc_cache_writeback_wanted(c))
		return -1;	/* the shim queues writeback: not expected */
	return 0;
}

int drive_flush_bio(struct wc_cache *c)
{
	if (wc_cache_has_error(c))
		return -1;
	wc_cache_count_flush(c);
	return wc_cache_commit(c) ? -1 : 0;
}

#endif
