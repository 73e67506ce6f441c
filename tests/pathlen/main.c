// SPDX-License-Identifier: GPL-2.0
/*
 * tests/pathlen/main.c: a userspace driver of the core's pmem write path,
 * for valgrind --tool=callgrind (scripts/pathlen.sh --callgrind).
 *
 * Creates a pmem-mode cache in a malloc'ed area through the C ABI (the
 * table line parsed by wc_parse_table, as the kernel's constructor does;
 * wc_cache_create, wc_cache_load), then
 *   warm_loop():    W writes to distinct random blocks of region 1
 *   measure_loop(): N writes to distinct random blocks of region 0
 * each write one 4 KiB bio through drive_write_bio() (drive.c), in the
 * durable modes followed by an empty flush bio (drive_flush_bio): mode
 * fdatasync = write + flush, dsync = FUA write + flush (what O_DSYNC sends
 * on a block device). Run it with --toggle-collect=measure_loop: the
 * inclusive cost of drive_write_bio + drive_flush_bio over N is the core's
 * instructions per write.
 *
 *   pathlen-drive [-n N] [-w W] [-m none|fdatasync|dsync] [-r REGION_BLOCKS]
 *                 [-a AREA_MIB] [-b BLOCK_SIZE] [-s SEED]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drive.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct sizes {
	uint64_t origin;
	uint64_t cache;
};

static int get_device(void *ctx, enum wc_dev_role role, const char *path,
		      struct wc_dev_info *info)
{
	const struct sizes *s = ctx;

	(void)path;
	info->size_bytes = role == WC_DEV_ORIGIN ? s->origin : s->cache;
	info->logical_block_size = 512;
	return 0;
}

enum mode { M_NONE, M_FDATASYNC, M_DSYNC };

static struct {
	struct wc_cache *c;
	enum mode mode;
	uint32_t bs;
	const void *data;
	const uint32_t *perm;	/* a permutation of the region's blocks */
} g;

static void one_write(uint64_t block)
{
	uint64_t sector = block * (g.bs >> 9);

	if (drive_write_bio(g.c, sector, 1, g.bs, g.data, g.mode == M_DSYNC)) {
		fprintf(stderr, "pathlen-drive: write of block %llu not cached\n",
			(unsigned long long)block);
		exit(1);
	}
	if (g.mode != M_NONE && drive_flush_bio(g.c)) {
		fprintf(stderr, "pathlen-drive: flush failed\n");
		exit(1);
	}
}

/* Not measured: brings the allocator, the index and the caches to a steady state. */
__attribute__((noinline)) void warm_loop(uint64_t n, uint64_t base);
__attribute__((noinline)) void warm_loop(uint64_t n, uint64_t base)
{
	for (uint64_t i = 0; i < n; i++)
		one_write(base + g.perm[i]);
}

/* Measured (callgrind --toggle-collect=measure_loop). */
__attribute__((noinline)) void measure_loop(uint64_t n, uint64_t base);
__attribute__((noinline)) void measure_loop(uint64_t n, uint64_t base)
{
	for (uint64_t i = 0; i < n; i++)
		one_write(base + g.perm[i]);
}

static int usage(void)
{
	fprintf(stderr, "usage: pathlen-drive [-n N] [-w W] [-m none|fdatasync|dsync] "
		"[-r REGION_BLOCKS] [-a AREA_MIB] [-b BLOCK_SIZE] [-s SEED]\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t n = 4000, w = (uint64_t)-1, region = 8192, area_mib = 256;
	uint32_t bs = 4096;
	const char *mode = "none";
	int opt;

	while ((opt = getopt(argc, argv, "n:w:m:r:a:b:s:")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'w': w = strtoull(optarg, NULL, 0); break;
		case 'm': mode = optarg; break;
		case 'r': region = strtoull(optarg, NULL, 0); break;
		case 'a': area_mib = strtoull(optarg, NULL, 0); break;
		case 'b': bs = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': rng = strtoull(optarg, NULL, 0) | 1; break;
		default: return usage();
		}
	}
	if (w == (uint64_t)-1)
		w = n;
	if (!strcmp(mode, "none"))
		g.mode = M_NONE;
	else if (!strcmp(mode, "fdatasync"))
		g.mode = M_FDATASYNC;
	else if (!strcmp(mode, "dsync"))
		g.mode = M_DSYNC;
	else
		return usage();
	if (n > region || w > region || bs < 512 || bs > 4096 || (bs & (bs - 1))) {
		fprintf(stderr, "pathlen-drive: need N, W <= REGION_BLOCKS and a block size of 512..4096\n");
		return 2;
	}

	/* The cache: AREA_MIB of "pmem", a zeroed superblock. */
	struct sizes sz = { .origin = 2 * region * bs + (1u << 20), .cache = area_mib << 20 };
	void *area = aligned_alloc(4096, sz.cache);
	if (!area) {
		perror("pathlen-drive: aligned_alloc");
		return 1;
	}
	memset(area, 0, 4096);
	char w0[] = "p", w1[] = "/dev/origin", w2[] = "/dev/pmem", w3[16], w4[] = "0";
	snprintf(w3, sizeof(w3), "%u", bs);
	char *words[] = { w0, w1, w2, w3, w4 };
	struct wc_table_env env = {
		.ctx = &sz,
		.get_device = get_device,
		.page_size = 4096,
		.default_writeback_jobs = 0x10000000 / 4096,
		.pmem_supported = 1,
	};
	struct wc_config cfg;
	const char *error = "";
	if (wc_parse_table(5, words, &env, &cfg, &error)) {
		fprintf(stderr, "pathlen-drive: table: %s\n", error);
		return 1;
	}
	if (wc_cache_create(&cfg, area, sz.cache, &g.c, &error)) {
		fprintf(stderr, "pathlen-drive: create: %s\n", error);
		return 1;
	}
	if (wc_cache_load(g.c)) {
		fprintf(stderr, "pathlen-drive: load failed\n");
		return 1;
	}
	g.bs = bs;

	/* The data of every write, and the order of the blocks. */
	void *data = aligned_alloc(4096, bs);
	uint32_t *perm = malloc(region * sizeof(*perm));
	if (!data || !perm)
		return 1;
	memset(data, 0x5a, bs);
	for (uint64_t i = 0; i < region; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = region - 1; i > 0; i--) {
		uint64_t j = next_rand() % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	g.data = data;
	g.perm = perm;

	warm_loop(w, region);
	measure_loop(n, 0);

	struct wc_status st;
	wc_cache_fill_status(g.c, &st);
	printf("pathlen-drive: abi=\"%s\" mode=%s writes=%llu warm=%llu block_size=%u "
	       "n_blocks=%llu free=%llu writeback=%llu cache_writes=%llu flushes=%llu\n",
	       drive_abi, mode, (unsigned long long)n, (unsigned long long)w, bs,
	       (unsigned long long)st.n_blocks, (unsigned long long)st.free_blocks,
	       (unsigned long long)st.writeback_blocks, (unsigned long long)st.writes,
	       (unsigned long long)st.flushes);
	if (st.writes != n + w || st.writeback_blocks) {
		fprintf(stderr, "pathlen-drive: unexpected status\n");
		return 1;
	}
	wc_cache_destroy(g.c);
	free(perm);
	free(data);
	free(area);
	return 0;
}
