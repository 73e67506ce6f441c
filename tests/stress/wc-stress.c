// SPDX-License-Identifier: GPL-2.0
/*
 * wc-stress: random O_DIRECT I/O against a block device, every read checked
 * against a model of what the device may hold (tests/stress/README.md).
 *
 * Data.  The unit of the model is the device's logical block (BLKSSZGET; on
 * a writecache it is the cache block size).  Every 512-byte sector that is
 * written carries a 32-byte stamp {magic, run seed, block, generation,
 * sector in block, writer} followed by 480 bytes derived from (run seed,
 * block, generation, sector) alone, so a sector read back tells which
 * version of which block it is and whether it is intact.  Generation 0 is
 * the initial content: zeros (the harness zeroes the region first).
 *
 * I/O.  Threads issue preadv / pwritev (some pwritev2 RWF_DSYNC), BLKDISCARD
 * and fdatasync, 1 logical block .. 1 MiB, at random block-aligned offsets.
 * Every request's iovecs are cut at random boundaries (multiples of 512
 * bytes if the kernel takes them, else of the logical block size) and each
 * iovec starts at a random 512-aligned offset of a page of a page-aligned
 * arena (or right after the previous one), so cache blocks straddle pages,
 * bvecs and iovecs.  "Disjoint" threads write only their own range,
 * "shared" threads all write one shared range, so their writes race on
 * the same blocks; reads go mostly to the thread's range, some anywhere.
 *
 * Model.  Each block keeps the records of the writes (and discards) that a
 * read may still see: {generation, start time, end time, dead time} on a
 * global event clock (start taken before the syscall, end after it).  A
 * read of a block, over [ts, te], may return version w iff w started before
 * te and w was not overwritten before ts, that is unless some write w2
 * started after w ended and w2 ended before ts (w's "dead time" is the end
 * of the first such w2).  This is exact for racing writes: for writes that
 * never overlap it leaves exactly one version.  Each sector is checked on
 * its own (a read racing a write may see old and new sectors of one
 * block).  A discard leaves the block undefined: after it, any version of
 * the block ever written, or zeros, is acceptable, until a later write
 * completes.  Records are freed once dead before the start of every read
 * in flight.
 *
 * Usage: wc-stress --dev DEV [options]; see usage() below.  Exit status 0
 * if every read matched and no request failed, 1 otherwise, 2 on a usage
 * or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SECT 512u
#define PAGE 4096u
#define MAX_IO (1u << 20)
#define MAX_SEGS 64
#define ARENA (MAX_IO + (MAX_SEGS + 2) * 2 * PAGE)
#define MAX_THREADS 32
#define NLOCKS 4096
#define STAMP_MAGIC 0x2153534552545357ULL /* "WSTRESS!" */
#define POISON 0xdb
#define T_INF UINT64_MAX

enum { REC_INIT, REC_WRITE, REC_DISCARD };

struct stamp {
	uint64_t magic;
	uint64_t run;
	uint64_t block;
	uint32_t gen;
	uint16_t sector;
	uint16_t writer;
};

struct rec {
	uint64_t ts, te, dead;
	uint32_t gen;
	uint16_t writer;
	uint8_t kind;
	uint8_t pad;
};

struct blk {
	uint32_t next_gen;
	uint16_t nrec, cap;
	uint64_t first; /* index of its records in pool */
};

/* The versions one read of one block may return. */
#define MAX_ACC 80
struct accept {
	int n;
	bool zeros;	/* generation 0 (the initial zeros) */
	bool wild;	/* after a discard: zeros or any generation <= wild_max */
	uint32_t wild_max;
	uint32_t gen[MAX_ACC];
	uint16_t writer[MAX_ACC];
};

struct thr {
	int id;
	bool shared;
	pthread_t pt;
	uint64_t rng;
	uint64_t r_first, r_n;	/* write range, blocks */
	unsigned char *arena;
	struct iovec iov[MAX_SEGS];
	int niov;
	uint32_t gens[MAX_IO / SECT];
	uint64_t opno;
	const char *opname;
	uint64_t op_off, op_len;
	/* statistics */
	uint64_t n_write, n_dsync, n_read, n_discard, n_flush;
	uint64_t b_write, b_read;
	uint64_t racy_blocks, older_blocks, wild_blocks, slot_waits;
	uint64_t straddle;	/* blocks not contained in one page of memory */
};

static struct {
	const char *dev;
	uint64_t seed;
	bool seed_set;
	double seconds;
	uint64_t ops;
	int disjoint, shared;
	uint64_t offset, size;
	unsigned int lbs;
	unsigned int max_io;
	unsigned int max_reports;
	bool discard, dsync, final_pass, canary, quiet;
	int split;	/* -1 auto, 0 logical block, 1 512 bytes */
} cfg = {
	.seconds = 0, .disjoint = 3, .shared = 3, .max_io = MAX_IO,
	.max_reports = 8, .discard = true, .dsync = true, .final_pass = true,
	.split = -1,
};

static int fd;
static bool is_bdev;
static unsigned int lbs, spb;		/* logical block size, sectors per block */
static unsigned int split_unit;
static uint64_t nblocks, base_block;	/* region, in logical blocks */
static uint64_t shared_first, shared_n;
static struct blk *blks;
static struct rec *pool;
static pthread_mutex_t locks[NLOCKS];
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t clk = 1;
static _Atomic uint64_t read_slot[MAX_THREADS + 1];
static atomic_bool stop;
static atomic_bool discard_ok = true;
static _Atomic uint64_t ops_issued, n_mismatch, n_ioerr, n_reports;
static int nthreads;
static struct thr *thrs;
static double t_start;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t tick(void)
{
	return atomic_fetch_add(&clk, 1);
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct thr *t)
{
	return splitmix(&t->rng);
}

static uint64_t rnd_below(struct thr *t, uint64_t n)
{
	return n ? rnd(t) % n : 0;
}

static void msg(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&print_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "wc-stress: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* --- sector contents ---------------------------------------------------------- */
static uint64_t fill_seed(uint64_t block, uint32_t gen, unsigned int s)
{
	uint64_t x = cfg.seed ^ (block * 0xd6e8feb86659fd93ULL) ^
		     ((uint64_t)gen << 32) ^ ((uint64_t)s << 16);

	splitmix(&x);
	return x;
}

static void make_sector(unsigned char *p, uint64_t block, uint32_t gen,
			unsigned int s, uint16_t writer)
{
	struct stamp h = {
		.magic = STAMP_MAGIC, .run = cfg.seed, .block = block,
		.gen = gen, .sector = (uint16_t)s, .writer = writer,
	};
	uint64_t x = fill_seed(block, gen, s);
	unsigned int i;

	if (gen == 0) {
		memset(p, 0, SECT);
		return;
	}
	memcpy(p, &h, sizeof(h));
	for (i = sizeof(h); i < SECT; i += 8) {
		uint64_t v = splitmix(&x);

		memcpy(p + i, &v, 8);
	}
}

static bool all_zero(const unsigned char *p)
{
	unsigned int i;

	for (i = 0; i < SECT; i++)
		if (p[i])
			return false;
	return true;
}

static bool all_poison(const unsigned char *p)
{
	unsigned int i;

	for (i = 0; i < SECT; i++)
		if (p[i] != POISON)
			return false;
	return true;
}

/* The 480 bytes after the stamp are those of (block, gen, s). */
static bool fill_intact(const unsigned char *p, uint64_t block, uint32_t gen,
			unsigned int s)
{
	uint64_t x = fill_seed(block, gen, s);
	unsigned int i;

	for (i = sizeof(struct stamp); i < SECT; i += 8) {
		uint64_t v = splitmix(&x), w;

		memcpy(&w, p + i, 8);
		if (v != w)
			return false;
	}
	return true;
}

/* --- the model ------------------------------------------------------------------ */
static pthread_mutex_t *lock_of(uint64_t b)
{
	return &locks[b & (NLOCKS - 1)];
}

static uint64_t min_read_start(void)
{
	uint64_t m = T_INF;
	int i;

	for (i = 0; i <= nthreads; i++) {
		uint64_t v = atomic_load(&read_slot[i]);

		if (v < m)
			m = v;
	}
	return m;
}

/* Free the records no read in flight or to come can return.  Lock held. */
static void prune(struct blk *bk)
{
	struct rec *r = pool + bk->first;
	uint64_t minr = min_read_start();
	unsigned int i = 0;

	while (i < bk->nrec) {
		if (r[i].dead != T_INF && r[i].dead < minr) {
			r[i] = r[--bk->nrec];
			continue;
		}
		i++;
	}
}

/* Give each of blocks b0..b0+n-1 a new record (a write or discard in flight). */
static void register_blocks(struct thr *t, uint64_t b0, unsigned int n, int kind)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t b = b0 + i;
		struct blk *bk = &blks[b];
		pthread_mutex_t *lk = lock_of(b);
		struct rec *r;

		pthread_mutex_lock(lk);
		while (bk->nrec == bk->cap) {
			prune(bk);
			if (bk->nrec < bk->cap)
				break;
			/* Reads in flight still need them; they finish. */
			pthread_mutex_unlock(lk);
			t->slot_waits++;
			usleep(200);
			pthread_mutex_lock(lk);
		}
		r = pool + bk->first + bk->nrec++;
		r->gen = ++bk->next_gen;
		r->writer = (uint16_t)t->id;
		r->kind = (uint8_t)kind;
		r->ts = tick();
		r->te = T_INF;
		r->dead = T_INF;
		t->gens[i] = r->gen;
		pthread_mutex_unlock(lk);
	}
}

/* The writes registered for b0..b0+n-1 ended at te. */
static void complete_blocks(struct thr *t, uint64_t b0, unsigned int n, uint64_t te)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		uint64_t b = b0 + i;
		struct blk *bk = &blks[b];
		struct rec *r = pool + bk->first, *me = NULL;

		pthread_mutex_lock(lock_of(b));
		for (j = 0; j < bk->nrec; j++)
			if (r[j].gen == t->gens[i] && r[j].te == T_INF)
				me = &r[j];
		if (!me) {
			pthread_mutex_unlock(lock_of(b));
			msg("wc-stress: internal error: lost record of block %" PRIu64 " gen %u\n",
			    b, t->gens[i]);
			abort();
		}
		me->te = te;
		for (j = 0; j < bk->nrec; j++)
			if (r[j].te != T_INF && r[j].te < me->ts && r[j].dead == T_INF)
				r[j].dead = te;
		prune(bk);
		pthread_mutex_unlock(lock_of(b));
	}
}

/* What a read of block b over [ts, te] may return. */
static void acceptable(uint64_t b, uint64_t ts, uint64_t te, struct accept *a)
{
	struct blk *bk = &blks[b];
	struct rec *r = pool + bk->first;
	unsigned int j;

	a->n = 0;
	a->zeros = false;
	a->wild = false;
	pthread_mutex_lock(lock_of(b));
	for (j = 0; j < bk->nrec; j++) {
		if (r[j].ts >= te || r[j].dead < ts)
			continue;
		switch (r[j].kind) {
		case REC_INIT:
			a->zeros = true;
			break;
		case REC_DISCARD:
			a->wild = true;
			break;
		default:
			if (a->n < MAX_ACC) {
				a->gen[a->n] = r[j].gen;
				a->writer[a->n] = r[j].writer;
				a->n++;
			}
		}
	}
	a->wild_max = bk->next_gen;
	pthread_mutex_unlock(lock_of(b));
}

static bool acc_has(const struct accept *a, uint32_t g)
{
	int i;

	if (g == 0)
		return a->zeros || a->wild;
	if (a->wild && g <= a->wild_max)
		return true;
	for (i = 0; i < a->n; i++)
		if (a->gen[i] == g)
			return true;
	return false;
}

/* --- request layout --------------------------------------------------------------- */
/* Cut len bytes into iovecs placed at random 512-aligned offsets of pages. */
static void build_iov(struct thr *t, size_t len)
{
	size_t units = len / split_unit, cut[MAX_SEGS + 1], cur = 0;
	int ncut = 0, i, j, maxseg;

	maxseg = units < MAX_SEGS ? (int)units : MAX_SEGS;
	if (maxseg > 1 && rnd_below(t, 4)) {
		int want = 1 + (int)rnd_below(t, maxseg - 1);

		for (i = 0; i < want; i++) {
			size_t c = (1 + rnd_below(t, units - 1)) * split_unit;

			for (j = 0; j < ncut && cut[j] != c; j++)
				;
			if (j == ncut)
				cut[ncut++] = c;
		}
		for (i = 1; i < ncut; i++)	/* insertion sort */
			for (j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
				size_t x = cut[j];

				cut[j] = cut[j - 1];
				cut[j - 1] = x;
			}
	}
	cut[ncut] = len;
	t->niov = ncut + 1;
	for (i = 0; i < t->niov; i++) {
		size_t seglen = cut[i] - (i ? cut[i - 1] : 0);

		if (i == 0 || rnd_below(t, 4)) {
			/* a fresh page, at 0 or a random 512-byte offset */
			cur = (cur + PAGE - 1) / PAGE * PAGE;
			if (rnd_below(t, 3))
				cur += SECT * rnd_below(t, PAGE / SECT);
		}
		t->iov[i].iov_base = t->arena + cur;
		t->iov[i].iov_len = seglen;
		cur += seglen;
	}
	if (cur > ARENA) {
		msg("wc-stress: internal error: arena overflow\n");
		abort();
	}
}

/* Pointer to sector k of the request's data (iovecs are 512-multiples). */
struct cursor {
	int seg;
	size_t off;
};

static unsigned char *next_sector(struct thr *t, struct cursor *c)
{
	unsigned char *p;

	while (c->off >= t->iov[c->seg].iov_len) {
		c->seg++;
		c->off = 0;
	}
	p = (unsigned char *)t->iov[c->seg].iov_base + c->off;
	c->off += SECT;
	return p;
}

static void describe_iov(struct thr *t, char *buf, size_t n)
{
	size_t used = 0;
	int i;

	used += snprintf(buf + used, n - used, "%d iovec%s:", t->niov, t->niov > 1 ? "s" : "");
	for (i = 0; i < t->niov && used + 40 < n; i++)
		used += snprintf(buf + used, n - used, " [page+%zu %zu]",
				 (size_t)((unsigned char *)t->iov[i].iov_base - t->arena) % PAGE,
				 t->iov[i].iov_len);
	if (i < t->niov)
		snprintf(buf + used, n - used, " ...");
}

/* Blocks of this request not contained in one page of memory. */
static void count_straddle(struct thr *t)
{
	struct cursor c = { 0, 0 };
	size_t nb = 0, total = 0;
	int i;

	if (lbs <= SECT)
		return;
	for (i = 0; i < t->niov; i++)
		total += t->iov[i].iov_len;
	for (nb = 0; nb < total / lbs; nb++) {
		unsigned char *first = next_sector(t, &c), *last = first;
		unsigned int s;

		for (s = 1; s < spb; s++)
			last = next_sector(t, &c);
		if ((uintptr_t)first / PAGE != ((uintptr_t)last + SECT - 1) / PAGE ||
		    last != first + lbs - SECT)
			t->straddle++;
	}
}

/* --- failure reports ---------------------------------------------------------------- */
static void io_error(struct thr *t, ssize_t r, int err)
{
	char lay[512];

	atomic_fetch_add(&n_ioerr, 1);
	atomic_store(&stop, true);
	describe_iov(t, lay, sizeof(lay));
	if (r < 0)
		msg("I/O ERROR: thread %d op %" PRIu64 " %s offset %" PRIu64 " length %" PRIu64
		    " (%s): %s\n", t->id, t->opno, t->opname, t->op_off, t->op_len, lay,
		    strerror(err));
	else
		msg("I/O ERROR: thread %d op %" PRIu64 " %s offset %" PRIu64 " length %" PRIu64
		    " (%s): short transfer of %zd bytes\n", t->id, t->opno, t->opname, t->op_off,
		    t->op_len, lay, r);
}

static void describe_got(const unsigned char *p, uint64_t b, unsigned int s,
			 char *buf, size_t n)
{
	struct stamp h;

	memcpy(&h, p, sizeof(h));
	if (all_zero(p))
		snprintf(buf, n, "zeros");
	else if (all_poison(p))
		snprintf(buf, n, "the read buffer's poison (0x%02x): no data transferred", POISON);
	else if (h.magic != STAMP_MAGIC)
		snprintf(buf, n, "no stamp (unrecognised data)");
	else if (h.run != cfg.seed)
		snprintf(buf, n, "a stamp of another run (seed %" PRIu64 "): block %" PRIu64
			 " gen %u sector %u", h.run, h.block, h.gen, h.sector);
	else
		snprintf(buf, n, "block %" PRIu64 " gen %u sector %u written by thread %u%s%s",
			 h.block, h.gen, h.sector, h.writer,
			 (h.block != b || h.sector != s) ? " (MISPLACED)" : "",
			 fill_intact(p, h.block, h.gen, h.sector) ? "" : " (stamp intact, rest CORRUPT)");
}

static void describe_acc(const struct accept *a, char *buf, size_t n)
{
	size_t used = 0;
	int i, cnt = a->n + (a->zeros ? 1 : 0);

	if (a->wild)
		used += snprintf(buf + used, n - used,
				 "zeros or any gen <= %u (a discard in the way), or", a->wild_max);
	if (cnt > 1)
		used += snprintf(buf + used, n - used, " one of (racing writes):");
	if (a->zeros)
		used += snprintf(buf + used, n - used, " zeros (gen 0)");
	for (i = 0; i < a->n && used + 40 < n; i++)
		used += snprintf(buf + used, n - used, "%s gen %u (thread %u)",
				 (i || a->zeros) ? "," : "", a->gen[i], a->writer[i]);
	if (!cnt && !a->wild)
		snprintf(buf + used, n - used, " nothing (model error)");
}

static void hexline(char *buf, size_t n, const unsigned char *p, unsigned int from)
{
	size_t used = 0;
	unsigned int i;

	for (i = from; i < from + 16 && i < SECT; i++)
		used += snprintf(buf + used, n - used, "%02x", p[i]);
}

/* Is the sector, 8 bytes at a time, a mix of two or more acceptable versions? */
static bool torn_mix(const unsigned char *p, uint64_t b, unsigned int s, const struct accept *a)
{
	static __thread unsigned char v[MAX_ACC + 1][SECT];
	unsigned int i, k, nv = 0, used = 0;
	uint64_t mask = 0;

	if (a->wild)
		return false;
	if (a->zeros)
		make_sector(v[nv++], b, 0, s, 0);
	for (k = 0; k < (unsigned int)a->n; k++)
		make_sector(v[nv++], b, a->gen[k], s, a->writer[k]);
	if (nv < 2)
		return false;
	for (i = 0; i < SECT; i += 8) {
		for (k = 0; k < nv && memcmp(v[k] + i, p + i, 8); k++)
			;
		if (k == nv)
			return false;
		if (k < 64)
			mask |= 1ULL << k;
	}
	for (k = 0; k < 64; k++)
		used += (mask >> k) & 1;
	return used > 1;
}

/* Report the first bad block of a request in full (up to --max-reports). */
static void mismatch(struct thr *t, uint64_t b, unsigned int s, const unsigned char *p,
		     const struct accept *a)
{
	char got[256], exp[1024], lay[512], hx1[40], hx2[40];
	unsigned char want[SECT];
	uint64_t dev_off = (base_block + b) * (uint64_t)lbs + (uint64_t)s * SECT;
	unsigned int i, k;
	uint32_t g = 0;
	uint16_t w = 0;

	if (atomic_fetch_add(&n_reports, 1) >= cfg.max_reports)
		return;
	/* Compare against the newest acceptable version. */
	for (k = 0; k < (unsigned int)a->n; k++)
		if (a->gen[k] > g) {
			g = a->gen[k];
			w = a->writer[k];
		}
	make_sector(want, b, g, s, w);
	for (i = 0; i < SECT && want[i] == p[i]; i++)
		;
	if (i == SECT)	/* only the writer field differs, or a wildcard miss */
		i = 0;
	describe_got(p, b, s, got, sizeof(got));
	if (torn_mix(p, b, s, a))
		snprintf(got, sizeof(got), "TORN: a mix of the acceptable versions within one sector");
	describe_acc(a, exp, sizeof(exp));
	describe_iov(t, lay, sizeof(lay));
	hexline(hx1, sizeof(hx1), want, i & ~15u);
	hexline(hx2, sizeof(hx2), p, i & ~15u);
	msg("MISMATCH: thread %d op %" PRIu64 " %s offset %" PRIu64 " length %" PRIu64 " (%s)\n"
	    "  at device offset %" PRIu64 " (block %" PRIu64 " of %u bytes, sector %u of it)\n"
	    "  expected:%s\n"
	    "  got:      %s\n"
	    "  first differing byte vs gen %u: device offset %" PRIu64
	    " (+%u in the sector): expected 0x%02x, got 0x%02x\n"
	    "  expected @+%u: %s\n"
	    "  got      @+%u: %s\n",
	    t->id, t->opno, t->opname, t->op_off, t->op_len, lay,
	    dev_off, base_block + b, lbs, s, exp, got, g, dev_off + i, i, want[i], p[i],
	    i & ~15u, hx1, i & ~15u, hx2);
}

/* Check the request's data, blocks b0..b0+n-1, read over [ts, te]. */
static void check_blocks(struct thr *t, uint64_t b0, unsigned int n, uint64_t ts, uint64_t te)
{
	struct cursor c = { 0, 0 };
	struct accept a;
	unsigned int i, s, nbad = 0;
	uint64_t first_bad = 0, last_bad = 0;

	for (i = 0; i < n; i++) {
		uint64_t b = b0 + i;
		bool bad = false, newest = true;
		uint32_t top = 0;
		int k;

		acceptable(b, ts, te, &a);
		for (k = 0; k < a.n; k++)
			if (a.gen[k] > top)
				top = a.gen[k];
		if (a.n + (a.zeros ? 1 : 0) > 1)
			t->racy_blocks++;
		if (a.wild)
			t->wild_blocks++;
		for (s = 0; s < spb; s++) {
			unsigned char *p = next_sector(t, &c);
			struct stamp h;
			bool ok;

			memcpy(&h, p, sizeof(h));
			if (bad)
				continue;
			if (all_zero(p))
				ok = a.zeros || a.wild;
			else
				ok = h.magic == STAMP_MAGIC && h.run == cfg.seed && h.block == b &&
				     h.sector == s && h.gen && acc_has(&a, h.gen) &&
				     fill_intact(p, b, h.gen, s);
			if (!ok) {
				/* one per block; the rest of the request in one line */
				if (!nbad++)
					mismatch(t, b, s, p, &a);
				else
					last_bad = base_block + b;
				if (nbad == 1)
					first_bad = last_bad = base_block + b;
				bad = true;
			} else if (!a.wild && (all_zero(p) ? top != 0 : h.gen != top)) {
				newest = false;
			}
		}
		if (!newest)
			t->older_blocks++;
	}
	if (nbad) {
		atomic_fetch_add(&n_mismatch, nbad);
		atomic_store(&stop, true);
		if (nbad > 1)
			msg("  ... thread %d op %" PRIu64 ": %u bad blocks in this request in all,"
			    " blocks %" PRIu64 "..%" PRIu64 "\n", t->id, t->opno, nbad, first_bad,
			    last_bad);
	}
}

/* --- operations ----------------------------------------------------------------------- */
static void fill_blocks(struct thr *t, uint64_t b0, unsigned int n)
{
	struct cursor c = { 0, 0 };
	unsigned int i, s;

	for (i = 0; i < n; i++) {
		uint32_t g = t->gens[i];

		/* --canary: thread 0 sometimes writes a version it never
		 * recorded; the model must catch it. */
		if (cfg.canary && t->id == 0 && i == 0 && t->n_write % 20 == 19)
			g += 1000000;
		for (s = 0; s < spb; s++)
			make_sector(next_sector(t, &c), b0 + i, g, s, (uint16_t)t->id);
	}
}

static void set_op(struct thr *t, const char *name, uint64_t b0, unsigned int n)
{
	t->opno++;
	t->opname = name;
	t->op_off = (base_block + b0) * (uint64_t)lbs;
	t->op_len = (uint64_t)n * lbs;
}

static void do_write(struct thr *t, uint64_t b0, unsigned int n, bool dsync)
{
	size_t len = (size_t)n * lbs;
	ssize_t r;
	uint64_t te;

	set_op(t, dsync ? "pwritev2(RWF_DSYNC)" : "pwritev", b0, n);
	build_iov(t, len);
	count_straddle(t);
	register_blocks(t, b0, n, REC_WRITE);
	fill_blocks(t, b0, n);
	if (dsync)
		r = pwritev2(fd, t->iov, t->niov, t->op_off, RWF_DSYNC);
	else
		r = pwritev(fd, t->iov, t->niov, t->op_off);
	te = tick();
	if (r != (ssize_t)len) {
		io_error(t, r, errno);	/* the records stay "in flight" */
		return;
	}
	complete_blocks(t, b0, n, te);
	t->n_write++;
	t->n_dsync += dsync;
	t->b_write += len;
}

static void do_read(struct thr *t, uint64_t b0, unsigned int n)
{
	size_t len = (size_t)n * lbs;
	uint64_t ts, te;
	ssize_t r;
	int i;

	set_op(t, "preadv", b0, n);
	build_iov(t, len);
	count_straddle(t);
	for (i = 0; i < t->niov; i++)
		memset(t->iov[i].iov_base, POISON, t->iov[i].iov_len);
	atomic_store(&read_slot[t->id], atomic_load(&clk));
	ts = tick();
	r = preadv(fd, t->iov, t->niov, t->op_off);
	te = tick();
	if (r != (ssize_t)len)
		io_error(t, r, errno);
	else
		check_blocks(t, b0, n, ts, te);
	atomic_store(&read_slot[t->id], T_INF);
	t->n_read++;
	t->b_read += len;
}

static void do_discard(struct thr *t, uint64_t b0, unsigned int n)
{
	uint64_t range[2];
	uint64_t te;
	int r, err;

	set_op(t, is_bdev ? "BLKDISCARD" : "fallocate(PUNCH_HOLE)", b0, n);
	t->niov = 0;
	range[0] = t->op_off;
	range[1] = t->op_len;
	register_blocks(t, b0, n, REC_DISCARD);
	if (is_bdev)
		r = ioctl(fd, BLKDISCARD, range);
	else
		r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)range[0], (off_t)range[1]);
	err = errno;
	te = tick();
	/* A discard that failed left the block as it was: still covered. */
	complete_blocks(t, b0, n, te);
	if (r) {
		if (err == EOPNOTSUPP) {
			if (atomic_exchange(&discard_ok, false))
				msg("wc-stress: discard not supported (%s); no more discards\n",
				    strerror(err));
			return;
		}
		io_error(t, -1, err);
		return;
	}
	t->n_discard++;
}

static void do_flush(struct thr *t)
{
	t->opno++;
	t->opname = "fdatasync";
	t->op_off = 0;
	t->op_len = 0;
	t->niov = 0;
	if (fdatasync(fd)) {
		io_error(t, -1, errno);
		return;
	}
	t->n_flush++;
}

static unsigned int pick_blocks(struct thr *t, uint64_t limit)
{
	uint64_t bytes, n, maxb = cfg.max_io / lbs;
	unsigned int r = (unsigned int)rnd_below(t, 100);

	if (r < 35)
		bytes = lbs;
	else if (r < 70)
		bytes = 1 + rnd_below(t, 16384);
	else if (r < 90)
		bytes = 1 + rnd_below(t, 262144);
	else
		bytes = 1 + rnd_below(t, cfg.max_io);
	n = (bytes + lbs - 1) / lbs;
	if (n > maxb)
		n = maxb;
	if (n > limit)
		n = limit;
	return n ? (unsigned int)n : 1;
}

/* A random run of blocks in [first, first+count): a third near the start. */
static uint64_t pick_start(struct thr *t, uint64_t first, uint64_t count, unsigned int n)
{
	uint64_t span = count - n + 1;

	if (rnd_below(t, 3) == 0 && span > 64)
		span = 64;
	return first + rnd_below(t, span);
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	while (!atomic_load(&stop)) {
		unsigned int r, n;
		uint64_t b0;

		if (cfg.ops && atomic_fetch_add(&ops_issued, 1) >= cfg.ops)
			break;
		r = (unsigned int)rnd_below(t, 100);
		if (r < 40) {
			n = pick_blocks(t, t->r_n);
			b0 = pick_start(t, t->r_first, t->r_n, n);
			do_write(t, b0, n, cfg.dsync && rnd_below(t, 10) == 0);
		} else if (r < 88) {
			if (rnd_below(t, 7) == 0) {	/* anywhere in the region */
				n = pick_blocks(t, nblocks);
				b0 = pick_start(t, 0, nblocks, n);
			} else {
				n = pick_blocks(t, t->r_n);
				b0 = pick_start(t, t->r_first, t->r_n, n);
			}
			do_read(t, b0, n);
		} else if (r < 92 && cfg.discard && atomic_load(&discard_ok)) {
			n = pick_blocks(t, t->r_n);
			if (n * lbs > 262144)
				n = 262144 / lbs;
			b0 = pick_start(t, t->r_first, t->r_n, n);
			do_discard(t, b0, n);
		} else if (r < 97) {
			do_flush(t);
		} else {
			/* read back the thread's own range from its start */
			n = pick_blocks(t, t->r_n);
			do_read(t, t->r_first, n);
		}
	}
	return NULL;
}

/* Read the whole region once more, every block checked, after all I/O. */
static void final_pass(struct thr *t)
{
	uint64_t b = 0, chunk = MAX_IO / lbs;

	while (b < nblocks) {
		unsigned int n = (unsigned int)(nblocks - b < chunk ? nblocks - b : chunk);

		do_read(t, b, n);
		b += n;
		if (atomic_load(&n_ioerr))
			break;
	}
}

/* --- setup ------------------------------------------------------------------------------ */
static void usage(int rc)
{
	printf("usage: wc-stress --dev DEV [options]\n"
	       "  --dev DEV          block device (O_DIRECT; or a regular file, with --lbs)\n"
	       "  --seed N           replay a run (default: random, printed)\n"
	       "  --seconds N        stop after N seconds (default 30 without --ops)\n"
	       "  --ops N            stop after N operations in all\n"
	       "  --disjoint N       threads on their own ranges (default 3)\n"
	       "  --shared N         threads on one shared range (default 3)\n"
	       "  --offset BYTES     start of the region (default 0)\n"
	       "  --size BYTES       size of the region (default: to the end, at most 64M);\n"
	       "                     K, M, G suffixes\n"
	       "  --max-io BYTES     largest request (default 1M)\n"
	       "  --lbs N            logical block size of a regular file (default 4096)\n"
	       "  --split block|512  cut iovecs at logical block or 512-byte boundaries\n"
	       "                     (default: 512 if the kernel takes it)\n"
	       "  --no-discard --no-dsync --no-final\n"
	       "  --max-reports N    mismatches printed in full (default 8)\n"
	       "  --canary           write unrecorded versions on purpose (self-test: must fail)\n"
	       "  --quiet            no progress lines\n");
	exit(rc);
}

static uint64_t parse_num(const char *s, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		die("bad number for %s: %s", opt, s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		die("bad number for %s: %s", opt, s);
	return v;
}

/* The value after option argv[*i]; *i moves past it. */
static const char *optval(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		die("%s needs a value", argv[*i]);
	return argv[++*i];
}

static void parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--dev")) {
			cfg.dev = optval(argc, argv, &i);
		} else if (!strcmp(a, "--seed")) {
			cfg.seed = parse_num(optval(argc, argv, &i), a);
			cfg.seed_set = true;
		} else if (!strcmp(a, "--seconds")) {
			cfg.seconds = atof(optval(argc, argv, &i));
		} else if (!strcmp(a, "--ops")) {
			cfg.ops = parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--disjoint")) {
			cfg.disjoint = (int)parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--shared")) {
			cfg.shared = (int)parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--offset")) {
			cfg.offset = parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--size")) {
			cfg.size = parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--max-io")) {
			cfg.max_io = (unsigned int)parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--lbs")) {
			cfg.lbs = (unsigned int)parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--split")) {
			const char *v = optval(argc, argv, &i);

			if (!strcmp(v, "block"))
				cfg.split = 0;
			else if (!strcmp(v, "512"))
				cfg.split = 1;
			else
				die("--split takes block or 512");
		} else if (!strcmp(a, "--max-reports")) {
			cfg.max_reports = (unsigned int)parse_num(optval(argc, argv, &i), a);
		} else if (!strcmp(a, "--no-discard")) {
			cfg.discard = false;
		} else if (!strcmp(a, "--no-dsync")) {
			cfg.dsync = false;
		} else if (!strcmp(a, "--no-final")) {
			cfg.final_pass = false;
		} else if (!strcmp(a, "--canary")) {
			cfg.canary = true;
		} else if (!strcmp(a, "--quiet")) {
			cfg.quiet = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(0);
		} else {
			fprintf(stderr, "wc-stress: unknown option %s\n", a);
			usage(2);
		}
	}
	if (!cfg.dev)
		usage(2);
	if (cfg.disjoint < 0 || cfg.shared < 0 || cfg.disjoint + cfg.shared < 1 ||
	    cfg.disjoint + cfg.shared > MAX_THREADS)
		die("need 1..%d threads", MAX_THREADS);
	if (cfg.max_io < SECT || cfg.max_io > MAX_IO || cfg.max_io % SECT)
		die("--max-io must be a multiple of 512 up to 1M");
	if (!cfg.seconds && !cfg.ops)
		cfg.seconds = 30;
}

/* Does the kernel take iovecs that are not multiples of the logical block? */
static bool probe_sub_block_split(struct thr *t)
{
	struct iovec iov[2];
	ssize_t r;

	if (lbs == SECT)
		return true;
	iov[0].iov_base = t->arena;
	iov[0].iov_len = SECT;
	iov[1].iov_base = t->arena + PAGE;
	iov[1].iov_len = lbs - SECT;
	r = preadv(fd, iov, 2, (off_t)(base_block * lbs));
	if (r == (ssize_t)lbs)
		return true;
	if (r < 0 && errno != EINVAL)
		die("probe read failed: %s", strerror(errno));
	return false;
}

static void setup_model(void)
{
	uint64_t b, total = 0, idx = 0;

	blks = calloc(nblocks, sizeof(*blks));
	if (!blks)
		die("out of memory");
	for (b = 0; b < nblocks; b++) {
		bool sh = b >= shared_first && b < shared_first + shared_n;
		unsigned int writers = sh ? (unsigned int)cfg.shared : 1;

		blks[b].cap = (uint16_t)(2 * writers + 4);
		total += blks[b].cap;
	}
	pool = calloc(total, sizeof(*pool));
	if (!pool)
		die("out of memory for %" PRIu64 " records", total);
	for (b = 0; b < nblocks; b++) {
		blks[b].first = idx;
		idx += blks[b].cap;
		blks[b].nrec = 1;	/* the initial zeros, gen 0, since time 0 */
		pool[blks[b].first] = (struct rec){ .ts = 0, .te = 0, .dead = T_INF,
						    .kind = REC_INIT };
	}
}

static unsigned char *alloc_arena(void)
{
	void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	/* 4 KiB pages, so that consecutive pages are rarely contiguous. */
	madvise(p, ARENA, MADV_NOHUGEPAGE);
	return p;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

static void print_replay(int argc, char **argv)
{
	int i;

	printf("wc-stress: replay with: wc-stress --seed %" PRIu64, cfg.seed);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed")) {
			i++;
			continue;
		}
		printf(" %s", argv[i]);
	}
	printf("\n");
}

static void totals(struct thr *sum)
{
	int i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i <= nthreads; i++) {
		struct thr *t = &thrs[i];

		sum->n_write += t->n_write;
		sum->n_dsync += t->n_dsync;
		sum->n_read += t->n_read;
		sum->n_discard += t->n_discard;
		sum->n_flush += t->n_flush;
		sum->b_write += t->b_write;
		sum->b_read += t->b_read;
		sum->racy_blocks += t->racy_blocks;
		sum->older_blocks += t->older_blocks;
		sum->wild_blocks += t->wild_blocks;
		sum->slot_waits += t->slot_waits;
		sum->straddle += t->straddle;
	}
}

int main(int argc, char **argv)
{
	struct stat st;
	uint64_t devsize, dsk, per;
	struct thr sum, *mt;
	double last = 0;
	int i, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	if (!cfg.seed_set) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		cfg.seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
			    ((uint64_t)getpid() << 40)) % 1000000000000ULL;
	}
	fd = open(cfg.dev, O_RDWR | O_DIRECT);
	if (fd < 0)
		die("open %s: %s", cfg.dev, strerror(errno));
	if (fstat(fd, &st))
		die("fstat %s: %s", cfg.dev, strerror(errno));
	is_bdev = S_ISBLK(st.st_mode);
	if (is_bdev) {
		int ss;

		if (ioctl(fd, BLKSSZGET, &ss))
			die("BLKSSZGET %s: %s", cfg.dev, strerror(errno));
		lbs = (unsigned int)ss;
		if (ioctl(fd, BLKGETSIZE64, &devsize))
			die("BLKGETSIZE64 %s: %s", cfg.dev, strerror(errno));
	} else {
		lbs = cfg.lbs ? cfg.lbs : 4096;
		devsize = (uint64_t)st.st_size;
	}
	if (lbs < SECT || lbs > 65536 || (lbs & (lbs - 1)))
		die("unsupported logical block size %u", lbs);
	if (lbs > cfg.max_io)
		die("--max-io is smaller than a logical block (%u)", lbs);
	spb = lbs / SECT;
	if (cfg.offset % lbs)
		die("--offset must be a multiple of the logical block size %u", lbs);
	if (cfg.offset >= devsize)
		die("--offset beyond the end of %s (%" PRIu64 " bytes)", cfg.dev, devsize);
	if (!cfg.size)
		cfg.size = devsize - cfg.offset < (64u << 20) ? devsize - cfg.offset : (64u << 20);
	if (cfg.offset + cfg.size > devsize)
		die("region %" PRIu64 "+%" PRIu64 " beyond the end of %s (%" PRIu64 " bytes)",
		    cfg.offset, cfg.size, cfg.dev, devsize);
	base_block = cfg.offset / lbs;
	nblocks = cfg.size / lbs;
	nthreads = cfg.disjoint + cfg.shared;
	/* The shared range is a quarter of the region (all of it without
	 * disjoint threads); the rest is split among the disjoint threads. */
	shared_n = cfg.shared ? (cfg.disjoint ? nblocks / 4 : nblocks) : 0;
	dsk = nblocks - shared_n;
	per = cfg.disjoint ? dsk / cfg.disjoint : 0;
	if ((cfg.disjoint && per < 16) || (cfg.shared && shared_n < 16))
		die("region too small: %" PRIu64 " blocks for %d+%d threads", nblocks,
		    cfg.disjoint, cfg.shared);
	shared_first = dsk;
	setup_model();
	for (i = 0; i < NLOCKS; i++)
		pthread_mutex_init(&locks[i], NULL);
	for (i = 0; i <= MAX_THREADS; i++)
		atomic_store(&read_slot[i], T_INF);

	thrs = calloc(nthreads + 1, sizeof(*thrs));
	if (!thrs)
		die("out of memory");
	for (i = 0; i <= nthreads; i++) {
		struct thr *t = &thrs[i];

		t->id = i;
		t->shared = i >= cfg.disjoint && i < nthreads;
		t->rng = cfg.seed ^ (0x5851f42d4c957f2dULL * (uint64_t)(i + 1));
		t->arena = alloc_arena();
		if (i < cfg.disjoint) {
			t->r_first = (uint64_t)i * per;
			t->r_n = per;
		} else if (i < nthreads) {
			t->r_first = shared_first;
			t->r_n = shared_n;
		} else {
			t->r_first = 0;
			t->r_n = nblocks;
		}
	}
	mt = &thrs[nthreads];
	if (cfg.split < 0)
		cfg.split = probe_sub_block_split(mt);
	else if (cfg.split == 1 && !probe_sub_block_split(mt))
		die("--split 512: the kernel rejects iovecs that are not multiples of %u bytes", lbs);
	split_unit = cfg.split ? SECT : lbs;

	printf("wc-stress: seed %" PRIu64 "\n", cfg.seed);
	print_replay(argc, argv);
	printf("wc-stress: %s: logical block %u bytes, region %" PRIu64 "+%" PRIu64
	       " (%" PRIu64 " blocks); %d disjoint threads (%" PRIu64
	       " blocks each), %d shared (%" PRIu64 " blocks)\n",
	       cfg.dev, lbs, cfg.offset, cfg.size, nblocks, cfg.disjoint, per, cfg.shared,
	       shared_n);
	printf("wc-stress: iovecs cut at %u-byte boundaries%s, up to %u bytes per request;"
	       " discards %s, RWF_DSYNC writes %s; bound: %.0f s%s",
	       split_unit, split_unit > SECT ? " (the kernel wants whole logical blocks per iovec)" : "",
	       cfg.max_io, cfg.discard ? "on" : "off", cfg.dsync ? "on" : "off", cfg.seconds,
	       cfg.seconds ? "" : " (none)");
	if (cfg.ops)
		printf(", %" PRIu64 " ops", cfg.ops);
	printf("%s\n", cfg.canary ? "; CANARY: unrecorded versions are written on purpose" : "");

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t_start = now_s();
	for (i = 0; i < nthreads; i++) {
		r = pthread_create(&thrs[i].pt, NULL, thr_main, &thrs[i]);
		if (r)
			die("pthread_create: %s", strerror(r));
	}
	for (;;) {
		double el = now_s() - t_start;
		uint64_t done;

		if (cfg.seconds && el >= cfg.seconds)
			atomic_store(&stop, true);
		totals(&sum);
		done = sum.n_write + sum.n_read + sum.n_discard + sum.n_flush;
		if (atomic_load(&stop) || (cfg.ops && done >= cfg.ops))
			break;
		if (!cfg.quiet && el - last >= 10) {
			last = el;
			msg("wc-stress: %.0f s: %" PRIu64 " writes (%" PRIu64 " MiB), %" PRIu64
			    " reads (%" PRIu64 " MiB), %" PRIu64 " discards, %" PRIu64 " flushes\n",
			    el, sum.n_write, sum.b_write >> 20, sum.n_read, sum.b_read >> 20,
			    sum.n_discard, sum.n_flush);
		}
		usleep(100000);
	}
	/* Ops-bounded runs end when the threads run out of ops. */
	for (i = 0; i < nthreads; i++)
		pthread_join(thrs[i].pt, NULL);
	{
		double el = now_s() - t_start;
		uint64_t fr0 = mt->n_read, bad0 = atomic_load(&n_mismatch);

		totals(&sum);
		printf("wc-stress: %.1f s, %" PRIu64 " ops: %" PRIu64 " writes (%" PRIu64
		       " MiB, %" PRIu64 " RWF_DSYNC), %" PRIu64 " reads (%" PRIu64 " MiB), %" PRIu64
		       " discards, %" PRIu64 " flushes\n",
		       el, sum.n_write + sum.n_read + sum.n_discard + sum.n_flush, sum.n_write,
		       sum.b_write >> 20, sum.n_dsync, sum.n_read, sum.b_read >> 20,
		       sum.n_discard, sum.n_flush);
		printf("wc-stress: blocks read with racing versions: %" PRIu64
		       " (an older one seen: %" PRIu64 "), after a discard: %" PRIu64
		       "; blocks straddling pages or iovecs: %" PRIu64 "; record waits: %" PRIu64 "\n",
		       sum.racy_blocks, sum.older_blocks, sum.wild_blocks, sum.straddle,
		       sum.slot_waits);
		if (cfg.final_pass && !atomic_load(&n_ioerr)) {
			double f0 = now_s();

			final_pass(mt);
			printf("wc-stress: final pass: %" PRIu64 " blocks read back in %" PRIu64
			       " reads (%.1f s), %" PRIu64 " bad\n", nblocks, mt->n_read - fr0,
			       now_s() - f0, atomic_load(&n_mismatch) - bad0);
		}
	}
	if (atomic_load(&n_mismatch) || atomic_load(&n_ioerr)) {
		printf("wc-stress: FAIL: %" PRIu64 " bad blocks, %" PRIu64
		       " I/O errors (seed %" PRIu64 ")\n",
		       atomic_load(&n_mismatch), atomic_load(&n_ioerr), cfg.seed);
		return 1;
	}
	printf("wc-stress: PASS (seed %" PRIu64 ")\n", cfg.seed);
	return 0;
}
