// SPDX-License-Identifier: GPL-2.0
// wc-crashload: the crash-consistency workload, and the initial images.
//
//   wc-crashload fill poison|origin TARGET [--bytes N]
//   wc-crashload run --dev DEV --journal FILE [--logdev NAME] [options]
//
// "run" writes tagged 4 KiB blocks (tag.h) to DEV with O_DIRECT from
// several threads at once, each owning its own stripes of blocks so that
// a block never has two ops in flight.  Each thread mixes
//   async writes (Linux AIO, several in flight: data still in flight when
//   another thread's flush starts a commit), multi-block writes, FUA-only
//   writes (AIO with RWF_DSYNC: the block layer sets REQ_FUA and sends no
//   flush), O_DSYNC pwrite (FUA, then a flush from generic_write_sync),
//   fdatasync (a flush) and BLKDISCARD,
// with overwrites concentrated on a hot set.  After each acknowledgement
// it inserts a dm-log-writes mark (DM_TARGET_MSG) and records in the
// journal (journal.h) what the mark promises.
#include "common.h"
#include "dmmsg.h"
#include "journal.h"
#include "tag.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <memory>
#include <mutex>
#include <random>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace lw;

namespace {

void usage()
{
	fprintf(stderr,
		"usage: wc-crashload fill poison|origin TARGET [--bytes N]\n"
		"         poison: block 0 zeroes (a cache to format), then poison slots\n"
		"         origin: every block tagged with version 0\n"
		"       wc-crashload run --dev DEV --journal FILE [--logdev NAME]\n"
		"         [--mark-prefix P] [--blocks N] [--threads T] [--ops N]\n"
		"         [--qd N] [--seed S] [--stripe N] [--hot-percent P] [--think-ms N]\n");
}

// --- fill ----------------------------------------------------------------------
int cmd_fill(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	const std::string kind = argv[0], target = argv[1];
	if (kind != "poison" && kind != "origin")
		fail("fill: unknown kind '%s'", kind.c_str());
	uint64_t bytes = 0;
	for (int i = 2; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--bytes" && i + 1 < argc)
			bytes = parse_size(argv[++i], "--bytes");
		else
			fail("fill: unknown argument '%s'", a.c_str());
	}
	int fd = open(target.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_errno("open %s", target.c_str());
	const bool dev = fd_is_blockdev(fd);
	if (dev) {
		// O_DIRECT: the dm devices read it with bios, not through our cache.
		close(fd);
		fd = open(target.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT);
		if (fd < 0)
			fail_errno("open %s O_DIRECT", target.c_str());
		uint64_t sz = fd_size(fd, target);
		if (bytes && bytes != sz)
			fail("fill: %s has %llu bytes, not %llu", target.c_str(),
			     (unsigned long long)sz, (unsigned long long)bytes);
		bytes = sz;
	} else if (bytes) {
		if (ftruncate(fd, static_cast<off_t>(bytes)) < 0)
			fail_errno("truncate %s", target.c_str());
	} else {
		bytes = fd_size(fd, target);
	}
	if (!bytes || bytes % kBlockBytes)
		fail("fill: %s: size %llu is not a positive multiple of 4096", target.c_str(),
		     (unsigned long long)bytes);
	const uint64_t nblocks = bytes / kBlockBytes;
	const size_t per = 256;
	AlignedBuf buf(per * kBlockBytes);
	for (uint64_t b = 0; b < nblocks; b += per) {
		size_t n = static_cast<size_t>(std::min<uint64_t>(per, nblocks - b));
		for (size_t i = 0; i < n; i++) {
			uint8_t *p = buf.data() + i * kBlockBytes;
			if (kind == "origin")
				make_tagged(p, b + i, 0);
			else if (b + i == 0)
				memset(p, 0, kBlockBytes);
			else
				make_poison(p, b + i);
		}
		pwrite_full(fd, buf.data(), n * kBlockBytes, b * kBlockBytes, target);
	}
	if (fsync(fd) < 0)
		fail_errno("fsync %s", target.c_str());
	close(fd);
	printf("fill %s: %llu blocks of %s\n", target.c_str(), (unsigned long long)nblocks,
	       kind.c_str());
	return 0;
}

// --- run -----------------------------------------------------------------------
struct Options {
	std::string dev, journal, logdev, prefix = "wcm";
	uint64_t blocks = 0;
	unsigned threads = 3;
	unsigned ops = 150;
	unsigned qd = 4;
	uint64_t seed = 1;
	unsigned stripe = 8;
	unsigned hot_percent = 50;
	unsigned think_ms = 0;
};

enum OpKind { kWrite1, kWriteN, kFuaAio, kDsync, kFdatasync, kDiscard, kWait, kKinds };
const char *const kKindNames[kKinds] = { "write", "multi-write", "fua-aio", "dsync-pwrite",
					 "fdatasync",  "discard",     "wait" };
// Percent of ops of each kind.
const unsigned kWeights[kKinds] = { 36, 20, 6, 2, 6, 4, 26 };

struct Shared {
	Options o;
	int fd = -1;	  // O_DIRECT
	int fd_dsync = -1; // O_DIRECT | O_DSYNC
	JournalWriter journal;
	std::unique_ptr<DmControl> dm;
	std::atomic<bool> failed{ false };
	std::mutex err_mu;
	std::string error;
	std::atomic<uint64_t> counts[kKinds] = {};
	std::atomic<uint64_t> blocks_written{ 0 };
	// AIO writes submitted and not yet reaped, all threads; and how many
	// flushes/FUA writes started while another thread had some.
	std::atomic<uint64_t> inflight{ 0 };
	std::atomic<uint64_t> syncs{ 0 }, syncs_racing{ 0 };

	explicit Shared(const Options &opt, uint64_t blocks) : o(opt), journal(blocks) {}

	// Records the acknowledgement and puts the mark in the log.
	void ack(char kind, uint64_t arg)
	{
		journal.mark(kind, arg, [&](uint64_t k) {
			if (dm)
				dm->message(o.logdev, strf("mark %s%llu", o.prefix.c_str(),
							   (unsigned long long)k));
		});
	}
};

long sys_io_setup(unsigned n, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, n, ctx);
}
long sys_io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}
long sys_io_submit(aio_context_t ctx, long n, struct iocb **cbs)
{
	return syscall(SYS_io_submit, ctx, n, cbs);
}
long sys_io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev,
		      struct timespec *ts)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, ts);
}

class Worker {
public:
	Worker(Shared &s, unsigned id) : s_(s), rng_(mix64(s.o.seed * 1000 + id))
	{
		const uint64_t stripes = s.o.blocks / s.o.stripe;
		for (uint64_t st = id; st < stripes; st += s.o.threads)
			own_.push_back(st);
		if (own_.empty())
			fail("thread %u owns no stripe (too few blocks)", id);
		hot_ = std::max<size_t>(1, own_.size() / 8);
		if (sys_io_setup(s.o.qd, &ctx_) < 0)
			fail_errno("io_setup");
		for (unsigned i = 0; i < s.o.qd; i++)
			slots_.emplace_back(new Slot());
	}
	~Worker()
	{
		if (ctx_)
			sys_io_destroy(ctx_);
	}

	void run()
	{
		unsigned total = 0;
		for (unsigned w : kWeights)
			total += w;
		for (unsigned i = 0; i < s_.o.ops && !s_.failed; i++) {
			unsigned r = static_cast<unsigned>(rng_() % total);
			int kind = 0;
			while (r >= kWeights[kind])
				r -= kWeights[kind++];
			s_.counts[kind]++;
			switch (kind) {
			case kWrite1:
				aio_write(1, false);
				break;
			case kWriteN:
				aio_write(2 + below(3), false);
				break;
			case kFuaAio:
				aio_write(1 + below(2), true);
				break;
			case kDsync:
				dsync_write();
				break;
			case kFdatasync: {
				note_sync();
				uint64_t pos = s_.journal.position();
				if (fdatasync(s_.fd) < 0)
					fail_errno("fdatasync %s", s_.o.dev.c_str());
				s_.ack('F', pos);
				break;
			}
			case kDiscard:
				discard();
				break;
			case kWait:
				reap(busy() ? 1 : 0);
				// Gives writeback and the autocommit timer time to run.
				if (s_.o.think_ms)
					usleep(static_cast<useconds_t>(below(s_.o.think_ms * 1000ULL)));
				break;
			}
		}
		while (busy())
			reap(1);
	}

private:
	struct Slot {
		bool busy = false;
		uint64_t op = 0, block = 0, count = 0;
		struct iocb cb;
		AlignedBuf buf{ 4 * kBlockBytes };
	};

	uint64_t below(uint64_t n) { return rng_() % n; }

	unsigned busy() const
	{
		unsigned n = 0;
		for (const auto &sl : slots_)
			n += sl->busy;
		return n;
	}

	bool overlaps(uint64_t block, uint64_t count) const
	{
		for (const auto &sl : slots_)
			if (sl->busy && block < sl->block + sl->count && sl->block < block + count)
				return true;
		return false;
	}

	// A range of count blocks inside one of our stripes, clear of our
	// in-flight I/O; overwrites come from the hot stripes half the time.
	uint64_t pick(uint64_t count)
	{
		for (;;) {
			for (int attempt = 0; attempt < 8; attempt++) {
				bool hot = below(100) < s_.o.hot_percent;
				uint64_t st = own_[below(hot ? hot_ : own_.size())];
				uint64_t b = st * s_.o.stripe + below(s_.o.stripe - count + 1);
				if (!overlaps(b, count))
					return b;
			}
			reap(1);
		}
	}

	// Collects at least min completions (none waited for when 0).
	void reap(long min)
	{
		struct io_event ev[16];
		struct timespec zero = { 0, 0 };
		long n;
		do {
			n = sys_io_getevents(ctx_, min, 16, ev, min ? nullptr : &zero);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			fail_errno("io_getevents");
		for (long i = 0; i < n; i++) {
			Slot &sl = *slots_.at(static_cast<size_t>(ev[i].data));
			if (ev[i].res != static_cast<int64_t>(sl.count * kBlockBytes))
				fail("write of blocks %llu+%llu (op %llu) failed: %lld",
				     (unsigned long long)sl.block, (unsigned long long)sl.count,
				     (unsigned long long)sl.op, (long long)ev[i].res);
			s_.journal.done(sl.op);
			sl.busy = false;
			s_.inflight--;
		}
	}

	// Counts a flush or FUA write that starts while other threads' writes
	// are in flight: the commit it triggers has data writes to wait for.
	void note_sync()
	{
		s_.syncs++;
		if (s_.inflight > busy())
			s_.syncs_racing++;
	}

	void fill(uint8_t *p, uint64_t block, uint64_t count, uint64_t op)
	{
		for (uint64_t i = 0; i < count; i++)
			make_tagged(p + i * kBlockBytes, block + i, op);
		s_.blocks_written += count;
	}

	void aio_write(uint64_t count, bool fua)
	{
		if (busy() == slots_.size())
			reap(1);
		size_t idx = 0;
		while (slots_[idx]->busy)
			idx++;
		uint64_t block = pick(count);
		Slot &sl = *slots_[idx];
		sl.block = block;
		sl.count = count;
		sl.op = s_.journal.submit('W', block, count);
		fill(sl.buf.data(), block, count, sl.op);
		memset(&sl.cb, 0, sizeof(sl.cb));
		sl.cb.aio_data = idx;
		sl.cb.aio_lio_opcode = IOCB_CMD_PWRITE;
		sl.cb.aio_fildes = static_cast<uint32_t>(s_.fd);
		sl.cb.aio_buf = reinterpret_cast<uintptr_t>(sl.buf.data());
		sl.cb.aio_nbytes = count * kBlockBytes;
		sl.cb.aio_offset = static_cast<int64_t>(block * kBlockBytes);
		// RWF_DSYNC on async direct I/O: REQ_FUA and no flush after it.
		sl.cb.aio_rw_flags = fua ? RWF_DSYNC : 0;
		if (fua)
			note_sync();
		struct iocb *cbs[1] = { &sl.cb };
		long r;
		do {
			r = sys_io_submit(ctx_, 1, cbs);
		} while (r < 0 && (errno == EINTR || errno == EAGAIN));
		if (r != 1)
			fail_errno("io_submit");
		sl.busy = true;
		s_.inflight++;
		if (!fua)
			return;
		while (sl.busy)
			reap(1);
		s_.ack('U', sl.op);
	}

	void dsync_write()
	{
		uint64_t block = pick(1);
		uint64_t op = s_.journal.submit('W', block, 1);
		fill(buf_.data(), block, 1, op);
		note_sync();
		pwrite_full(s_.fd_dsync, buf_.data(), kBlockBytes, block * kBlockBytes, s_.o.dev);
		s_.journal.done(op);
		s_.ack('U', op);
	}

	void discard()
	{
		// Nothing of ours in flight: the discard must not race our writes.
		while (busy())
			reap(1);
		uint64_t count = 1 + below(s_.o.stripe);
		uint64_t block = pick(count);
		uint64_t op = s_.journal.submit('D', block, count);
		uint64_t range[2] = { block * kBlockBytes, count * kBlockBytes };
		if (ioctl(s_.fd, BLKDISCARD, range) < 0)
			fail_errno("BLKDISCARD %s blocks %llu+%llu", s_.o.dev.c_str(),
				   (unsigned long long)block, (unsigned long long)count);
		s_.journal.done(op);
	}

	Shared &s_;
	std::mt19937_64 rng_;
	std::vector<uint64_t> own_;
	size_t hot_ = 1;
	aio_context_t ctx_ = 0;
	std::vector<std::unique_ptr<Slot>> slots_;
	AlignedBuf buf_{ kBlockBytes };
};

unsigned to_uint(const char *s, const char *what, unsigned lo, unsigned hi)
{
	uint64_t v = parse_size(s, what);
	if (v < lo || v > hi)
		fail("%s must be in %u..%u", what, lo, hi);
	return static_cast<unsigned>(v);
}

int cmd_run(int argc, char **argv)
{
	Options o;
	for (int i = 0; i < argc; i++) {
		std::string a = argv[i];
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		const char *v = argv[++i];
		if (a == "--dev")
			o.dev = v;
		else if (a == "--journal")
			o.journal = v;
		else if (a == "--logdev")
			o.logdev = v;
		else if (a == "--mark-prefix")
			o.prefix = v;
		else if (a == "--blocks")
			o.blocks = parse_size(v, "--blocks");
		else if (a == "--threads")
			o.threads = to_uint(v, "--threads", 1, 64);
		else if (a == "--ops")
			o.ops = to_uint(v, "--ops", 1, 10000000);
		else if (a == "--qd")
			o.qd = to_uint(v, "--qd", 1, 64);
		else if (a == "--seed")
			o.seed = parse_size(v, "--seed");
		else if (a == "--stripe")
			o.stripe = to_uint(v, "--stripe", 4, 1024);
		else if (a == "--hot-percent")
			o.hot_percent = to_uint(v, "--hot-percent", 0, 100);
		else if (a == "--think-ms")
			o.think_ms = to_uint(v, "--think-ms", 0, 10000);
		else {
			usage();
			return 2;
		}
	}
	if (o.dev.empty() || o.journal.empty()) {
		usage();
		return 2;
	}
	int fd = open(o.dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		fail_errno("open %s", o.dev.c_str());
	const uint64_t devblocks = fd_size(fd, o.dev) / kBlockBytes;
	if (!o.blocks)
		o.blocks = devblocks;
	if (o.blocks > devblocks)
		fail("--blocks %llu: %s has only %llu blocks", (unsigned long long)o.blocks,
		     o.dev.c_str(), (unsigned long long)devblocks);
	o.blocks -= o.blocks % o.stripe;

	Shared s(o, o.blocks);
	s.fd = fd;
	s.fd_dsync = open(o.dev.c_str(), O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (s.fd_dsync < 0)
		fail_errno("open %s O_DSYNC", o.dev.c_str());
	if (!o.logdev.empty())
		s.dm.reset(new DmControl());

	auto t0 = std::chrono::steady_clock::now();
	std::vector<std::unique_ptr<Worker>> workers;
	for (unsigned t = 0; t < o.threads; t++)
		workers.emplace_back(new Worker(s, t));
	std::vector<std::thread> threads;
	for (unsigned t = 0; t < o.threads; t++) {
		threads.emplace_back([&s, &workers, t] {
			try {
				workers[t]->run();
			} catch (const std::exception &e) {
				std::lock_guard<std::mutex> g(s.err_mu);
				if (s.error.empty())
					s.error = strf("thread %u: %s", t, e.what());
				s.failed = true;
			}
		});
	}
	for (auto &th : threads)
		th.join();
	workers.clear();
	if (s.failed) {
		s.journal.save(o.journal);
		fail("%s", s.error.c_str());
	}
	// The final promise: everything written is durable.
	uint64_t pos = s.journal.position();
	if (fdatasync(fd) < 0)
		fail_errno("fdatasync %s", o.dev.c_str());
	s.ack('F', pos);
	s.journal.end();
	s.journal.save(o.journal);
	close(s.fd_dsync);
	close(fd);

	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	printf("# wc-crashload: %u threads x %u ops in %.1fs on %llu blocks, seed %llu:",
	       o.threads, o.ops, secs, (unsigned long long)o.blocks, (unsigned long long)o.seed);
	for (int k = 0; k < kKinds; k++)
		printf(" %s %llu%s", kKindNames[k], (unsigned long long)s.counts[k].load(),
		       k + 1 < kKinds ? "," : "");
	printf("; %llu blocks written, %llu marks; %llu of %llu flushes/FUA writes started with "
	       "other threads' writes in flight\n",
	       (unsigned long long)s.blocks_written.load(), (unsigned long long)s.journal.marks(),
	       (unsigned long long)s.syncs_racing.load(), (unsigned long long)s.syncs.load());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	try {
		std::string cmd = argv[1];
		if (cmd == "fill")
			return cmd_fill(argc - 2, argv + 2);
		if (cmd == "run")
			return cmd_run(argc - 2, argv + 2);
		usage();
		return 2;
	} catch (const std::exception &e) {
		fprintf(stderr, "wc-crashload: %s\n", e.what());
		return 1;
	}
}
