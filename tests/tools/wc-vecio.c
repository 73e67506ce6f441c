// SPDX-License-Identifier: GPL-2.0
/*
 * wc-vecio: one O_DIRECT pwritev/preadv over iovecs placed at chosen page
 * offsets, so that the bio's bvecs split the device blocks where the test
 * wants them (tests/vm/t-regress-io.sh).
 *
 *   wc-vecio write   [-s SEEDS] [-f] DEV OFFSET SEG...  one pwritev of the
 *                                                    pattern (-f: then fsync)
 *   wc-vecio read    [-s SEEDS] DEV OFFSET SEG...   one preadv, then verify
 *   wc-vecio dump    DEV OFFSET SEG...              one preadv, data to stdout
 *   wc-vecio pattern [-s SEEDS] OFFSET LEN          the pattern to stdout
 *
 * SEG is LEN@PAGEOFF: LEN bytes starting PAGEOFF bytes into a page of a
 * mapping of its own (so no two segments are virtually contiguous and the
 * block layer cannot merge them into one bvec), e.g. "4096@0 4096@512"
 * gives bvecs [4096][3584][512].  OFFSET and LEN take a k/m suffix.
 *
 * The pattern: the 64-bit little-endian word at device byte p (p a multiple
 * of 8) is mix(p, seed), so data from another place or another write shows
 * up.  SEEDS is a comma list of seeds, one per 4 KiB of the I/O (-B changes
 * the unit), the last one repeating; the default is 1.
 *
 * Before a read the buffer is filled with the byte 0xA5 ("untouched"), so a
 * read that never filled part of the caller's buffer is told apart from
 * zeros, stale data (another seed) and garbage.  Exit status: 0 ok,
 * 1 data mismatch, 2 usage, 3 the system call failed (errno printed),
 * 4 a short transfer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096u
#define SECTOR 512u
#define MAX_SEGS 256
#define MAX_SEEDS 256
#define POISON 0xA5
#define MAX_GUESS_SEED 64

static const char *prog = "wc-vecio";

static uint64_t seeds[MAX_SEEDS];
static unsigned int n_seeds;
static uint64_t seed_unit = 4096;
static int do_fsync;

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: %s write   [-s SEEDS] [-B UNIT] [-f] DEV OFFSET LEN@PAGEOFF...\n"
		"       %s read    [-s SEEDS] [-B UNIT] DEV OFFSET LEN@PAGEOFF...\n"
		"       %s dump    DEV OFFSET LEN@PAGEOFF...\n"
		"       %s pattern [-s SEEDS] [-B UNIT] OFFSET LEN\n",
		prog, prog, prog, prog);
	exit(2);
}

static uint64_t mix(uint64_t p, uint64_t seed)
{
	uint64_t z = p + 0x9e3779b97f4a7c15ull * (seed + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The seed for device byte p of an I/O that starts at device byte start. */
static uint64_t seed_at(uint64_t start, uint64_t p)
{
	uint64_t i = (p - start) / seed_unit;

	if (i >= n_seeds)
		i = n_seeds - 1;
	return seeds[i];
}

static void put_le64(unsigned char *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

/* Fill len bytes (a multiple of 8) for device bytes [pos, pos + len). */
static void fill(unsigned char *b, uint64_t start, uint64_t pos, size_t len)
{
	for (size_t i = 0; i < len; i += 8)
		put_le64(b + i, mix(pos + i, seed_at(start, pos + i)));
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	if (*end == 'k' || *end == 'K') {
		v <<= 10;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v <<= 20;
		end++;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void parse_seeds(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;

	if (!copy) {
		perror("strdup");
		exit(3);
	}
	n_seeds = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n_seeds == MAX_SEEDS || parse_u64(tok, &seeds[n_seeds])) {
			fprintf(stderr, "%s: bad seed list '%s'\n", prog, s);
			exit(2);
		}
		n_seeds++;
	}
	free(copy);
	if (!n_seeds)
		usage();
}

struct seg {
	size_t len;
	size_t off;
	unsigned char *map;
	size_t map_len;
};

static struct seg segs[MAX_SEGS];
static struct iovec iov[MAX_SEGS];
static unsigned int n_segs;
static size_t total;

static void parse_segs(int argc, char **argv)
{
	if (argc < 1)
		usage();
	if (argc > MAX_SEGS) {
		fprintf(stderr, "%s: at most %u segments\n", prog, MAX_SEGS);
		exit(2);
	}
	for (int i = 0; i < argc; i++) {
		char *at = strchr(argv[i], '@');
		uint64_t len, off;
		struct seg *s = &segs[n_segs];

		if (!at)
			usage();
		*at = 0;
		if (parse_u64(argv[i], &len) || parse_u64(at + 1, &off) || !len ||
		    off >= PAGE || len % 8) {
			fprintf(stderr, "%s: bad segment '%s@%s' (LEN > 0, a multiple of 8; PAGEOFF < %u)\n",
				prog, argv[i], at + 1, PAGE);
			exit(2);
		}
		*at = '@';
		s->len = len;
		s->off = off;
		/* A guard page after each segment: no two mappings adjoin. */
		s->map_len = (off + len + PAGE - 1) / PAGE * PAGE + PAGE;
		s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->map == MAP_FAILED) {
			perror("mmap");
			exit(3);
		}
		/* Small pages only: each page is a bvec of its own. */
		madvise(s->map, s->map_len, MADV_NOHUGEPAGE);
		memset(s->map, POISON, s->map_len);
		iov[n_segs].iov_base = s->map + off;
		iov[n_segs].iov_len = len;
		total += len;
		n_segs++;
	}
}

static const char *seg_text(void)
{
	static char buf[4096];
	size_t n = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < n_segs && n < sizeof(buf) - 64; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%zu@%zu", i ? " " : "",
				      segs[i].len, segs[i].off);
	return buf;
}

/* The bvecs one page each, as the block layer builds them (one page per
 * bvec unless two pages happen to be physically contiguous). */
static const char *bvec_text(void)
{
	static char buf[4096];
	size_t n = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < n_segs && n < sizeof(buf) - 64; i++) {
		size_t off = segs[i].off, left = segs[i].len;

		while (left && n < sizeof(buf) - 64) {
			size_t l = PAGE - off < left ? PAGE - off : left;

			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%zu]", l);
			left -= l;
			off = 0;
		}
	}
	return buf;
}

static int open_dev(const char *dev, int flags)
{
	int fd = open(dev, flags | O_DIRECT);

	if (fd < 0) {
		fprintf(stderr, "%s: open %s: %s\n", prog, dev, strerror(errno));
		exit(3);
	}
	return fd;
}

static void transfer(int write, const char *dev, uint64_t start)
{
	int fd = open_dev(dev, write ? O_WRONLY : O_RDONLY);
	ssize_t r;

	if (write)
		r = pwritev(fd, iov, (int)n_segs, (off_t)start);
	else
		r = preadv(fd, iov, (int)n_segs, (off_t)start);
	if (r < 0) {
		fprintf(stderr, "%s: %s %s at %" PRIu64 " (%s; bvecs %s): %s\n", prog,
			write ? "pwritev" : "preadv", dev, start, seg_text(), bvec_text(),
			strerror(errno));
		exit(3);
	}
	if ((size_t)r != total) {
		fprintf(stderr, "%s: short %s: %zd of %zu bytes\n", prog,
			write ? "pwritev" : "preadv", r, total);
		exit(4);
	}
	if (write && do_fsync && fsync(fd)) {
		fprintf(stderr, "%s: fsync %s: %s\n", prog, dev, strerror(errno));
		exit(3);
	}
	close(fd);
}

/* The sector at b holds the pattern of seed k for device byte pos. */
static int is_pattern(const unsigned char *b, uint64_t pos, uint64_t k)
{
	for (unsigned int i = 0; i < SECTOR; i += 8)
		if (get_le64(b + i) != mix(pos + i, k))
			return 0;
	return 1;
}

/* What a 512-byte sector of data read from device byte pos holds. */
static const char *classify(const unsigned char *b, uint64_t start, uint64_t pos, uint64_t *seed)
{
	int all_poison = 1, all_zero = 1;

	for (unsigned int i = 0; i < SECTOR; i++) {
		if (b[i] != POISON)
			all_poison = 0;
		if (b[i])
			all_zero = 0;
	}
	if (all_poison)
		return "untouched (the caller's buffer was never filled)";
	if (all_zero)
		return "zeros";
	if (is_pattern(b, pos, seed_at(start, pos))) {
		*seed = seed_at(start, pos);
		return "ok";
	}
	/* Stale data: another seed of the list, or a small one. */
	for (unsigned int j = 0; j < n_seeds + MAX_GUESS_SEED; j++) {
		uint64_t k = j < n_seeds ? seeds[j] : j - n_seeds;

		if (is_pattern(b, pos, k)) {
			*seed = k;
			return "data of another write";
		}
	}
	return "other data";
}

/* One line for bytes [from, to) of an I/O at start that read wrong. */
static void report(uint64_t start, uint64_t from, uint64_t to, const char *what, uint64_t seed)
{
	printf("#   bytes %" PRIu64 "..%" PRIu64 " of the I/O (4 KiB blocks %" PRIu64 "-%" PRIu64
	       "): %s", from - start, to - start - 1, (from - start) / 4096,
	       (to - start - 1) / 4096, what);
	if (!strcmp(what, "data of another write"))
		printf(" (seed %" PRIu64 ", expected %" PRIu64 ")", seed, seed_at(start, from));
	printf("\n");
}

/* Verify the segments just read; one line per run of sectors alike. */
static int verify(uint64_t start)
{
	uint64_t pos = start, run_start = 0, run_seed = 0, seed = 0;
	const char *run = NULL;
	unsigned int bad = 0;

	for (unsigned int i = 0; i < n_segs; i++) {
		for (size_t o = 0; o < segs[i].len; o += SECTOR, pos += SECTOR) {
			const char *c = classify(segs[i].map + segs[i].off + o, start, pos, &seed);

			if (run && (c != run || seed != run_seed)) {
				if (strcmp(run, "ok"))
					report(start, run_start, pos, run, run_seed);
				run = NULL;
			}
			if (!run) {
				run = c;
				run_seed = seed;
				run_start = pos;
			}
			if (strcmp(c, "ok"))
				bad++;
			seed = 0;
		}
	}
	if (run && strcmp(run, "ok"))
		report(start, run_start, pos, run, run_seed);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd;
	uint64_t start = 0, len = 0;
	int opt;

	if (argc < 2)
		usage();
	cmd = argv[1];
	seeds[0] = 1;
	n_seeds = 1;
	argc--;
	argv++;
	while ((opt = getopt(argc, argv, "+s:B:f")) != -1) {
		switch (opt) {
		case 's':
			parse_seeds(optarg);
			break;
		case 'f':
			do_fsync = 1;
			break;
		case 'B':
			if (parse_u64(optarg, &seed_unit) || !seed_unit || seed_unit % SECTOR)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	if (!strcmp(cmd, "pattern")) {
		unsigned char buf[65536];

		if (argc != 2 || parse_u64(argv[0], &start) || parse_u64(argv[1], &len) ||
		    start % 8 || len % 8)
			usage();
		for (uint64_t done = 0; done < len;) {
			size_t n = len - done < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);

			fill(buf, start, start + done, n);
			if (fwrite(buf, 1, n, stdout) != n) {
				perror("write");
				return 3;
			}
			done += n;
		}
		return 0;
	}
	if (argc < 3 || parse_u64(argv[1], &start) || start % SECTOR)
		usage();
	parse_segs(argc - 2, argv + 2);

	if (!strcmp(cmd, "write")) {
		uint64_t pos = start;

		for (unsigned int i = 0; i < n_segs; i++) {
			fill(segs[i].map + segs[i].off, start, pos, segs[i].len);
			pos += segs[i].len;
		}
		transfer(1, argv[0], start);
		printf("# wc-vecio: wrote %zu bytes at %" PRIu64 " of %s in one pwritev: iovecs %s, bvecs %s\n",
		       total, start, argv[0], seg_text(), bvec_text());
		return 0;
	}
	if (!strcmp(cmd, "read")) {
		int r;

		transfer(0, argv[0], start);
		r = verify(start);
		printf("# wc-vecio: read %zu bytes at %" PRIu64 " of %s in one preadv: iovecs %s, bvecs %s: %s\n",
		       total, start, argv[0], seg_text(), bvec_text(), r ? "WRONG DATA" : "data ok");
		return r;
	}
	if (!strcmp(cmd, "dump")) {
		transfer(0, argv[0], start);
		for (unsigned int i = 0; i < n_segs; i++)
			if (fwrite(segs[i].map + segs[i].off, 1, segs[i].len, stdout) != segs[i].len) {
				perror("write");
				return 3;
			}
		return 0;
	}
	usage();
	return 2;
}
