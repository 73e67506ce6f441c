// SPDX-License-Identifier: GPL-2.0
// wc-logreplay: reads and replays dm-log-writes logs (logfmt.h, replay.h).
//
//   info   LOG [--entries]                  the super block, entry counts
//   replay --log LOG --target T --mode M (--to-entry N | --to-mark NAME | --all)
//          one state, written in place onto T (which holds the base image)
//   walk   --log LOG --seg OFFSET:FILE... --exec CMD [options]
//          every crash state in turn: the images are replayed in memory,
//          and at each checkpoint (an entry with FLUSH or FUA) written to
//          the segment files, then CMD runs (sh -c) to check them
#include "common.h"
#include "logfmt.h"
#include "replay.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

using namespace lw;

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kChunk = 1 << 20;

void usage()
{
	fprintf(stderr,
		"usage: wc-logreplay info LOG [--entries] [--split BYTE_OFFSET]\n"
		"       wc-logreplay replay --log LOG --target FILE|DEV --mode full|durable\n"
		"                    (--to-entry N | --to-mark NAME | --all)\n"
		"       wc-logreplay walk --log LOG --seg BYTE_OFFSET:FILE [--seg ...] --exec CMD\n"
		"                    [--mode durable|full|both] [--start-mark NAME]\n"
		"                    [--mark-prefix P] [--final] [--max-checks N]\n"
		"                    [--min-checks N] [--max-failures N]\n"
		"                    [--hold-back BYTE_OFFSET:BYTES --expect-fail]\n"
		"walk runs CMD with WCLR_CHECK WCLR_ENTRY WCLR_FLAGS WCLR_MODE WCLR_LAG\n"
		"WCLR_LAST_MARK WCLR_NEXT_MARK (marks starting with the prefix) set.\n");
}

// --- info ----------------------------------------------------------------------
int cmd_info(int argc, char **argv)
{
	if (argc < 1) {
		usage();
		return 2;
	}
	bool entries = false;
	uint64_t split = 0; // report writes below and above this byte offset
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--entries"))
			entries = true;
		else if (!strcmp(argv[i], "--split") && i + 1 < argc)
			split = parse_size(argv[++i], "--split");
		else
			fail("info: unknown argument '%s'", argv[i]);
	}
	uint64_t below = 0, above = 0;
	LogReader log(argv[0]);
	const LogSuper &s = log.super();
	printf("log %s: version %llu, sectorsize %u, %llu entries, %llu bytes\n", argv[0],
	       (unsigned long long)s.version, s.sectorsize, (unsigned long long)s.nr_entries,
	       (unsigned long long)log.log_bytes());
	LogEntry e;
	ReplayStats st;
	uint64_t end = 0;
	while (log.next(e, nullptr)) {
		if (entries)
			printf("%6llu @%llu %-16s sector %llu +%llu%s%s\n",
			       (unsigned long long)e.index, (unsigned long long)e.pos,
			       flags_str(e.flags).c_str(), (unsigned long long)e.sector,
			       (unsigned long long)e.nr_sectors, e.is_mark() ? " mark " : "",
			       e.mark.c_str());
		st.entries++;
		if (e.is_mark())
			st.marks++;
		else if (e.is_discard())
			st.discards++;
		else if (e.nr_sectors) {
			st.writes++;
			(e.sector * s.sectorsize < split ? below : above)++;
		}
		if (e.flags & kFlagFlush)
			st.flushes++;
		if (e.flags & kFlagFua) {
			st.fuas++;
			if (e.nr_sectors && !e.is_discard())
				st.fua_writes++;
		}
		end = e.pos + s.sectorsize * (1 + (e.is_discard() ? 0 : e.nr_sectors));
	}
	printf("entries %llu: writes %llu (FUA %llu), flushes %llu, FUA %llu, discards %llu, "
	       "marks %llu; log end at byte %llu\n",
	       (unsigned long long)st.entries, (unsigned long long)st.writes,
	       (unsigned long long)st.fua_writes, (unsigned long long)st.flushes,
	       (unsigned long long)st.fuas, (unsigned long long)st.discards,
	       (unsigned long long)st.marks, (unsigned long long)end);
	if (split)
		printf("writes below byte %llu: %llu, above: %llu\n", (unsigned long long)split,
		       (unsigned long long)below, (unsigned long long)above);
	return 0;
}

// --- replay --------------------------------------------------------------------
int cmd_replay(int argc, char **argv)
{
	std::string logp, target, to_mark;
	Mode mode = Mode::Durable;
	bool have_mode = false, all = false;
	uint64_t to_entry = UINT64_MAX;
	for (int i = 0; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--all") {
			all = true;
			continue;
		}
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		std::string v = argv[++i];
		if (a == "--log")
			logp = v;
		else if (a == "--target")
			target = v;
		else if (a == "--mode") {
			if (!parse_mode(v, mode))
				fail("--mode must be full or durable");
			have_mode = true;
		} else if (a == "--to-entry")
			to_entry = parse_size(v, "--to-entry");
		else if (a == "--to-mark")
			to_mark = v;
		else {
			usage();
			return 2;
		}
	}
	int stops = all + !to_mark.empty() + (to_entry != UINT64_MAX);
	if (logp.empty() || target.empty() || !have_mode || stops != 1) {
		usage();
		return 2;
	}
	LogReader log(logp);
	int fd = open(target.c_str(), O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail_errno("open %s", target.c_str());
	FdSink sink(fd, fd_size(fd, target), target);
	Replayer rp(mode == Mode::Full ? &sink : nullptr, mode == Mode::Durable ? &sink : nullptr,
		    log.sectorsize());
	LogEntry e;
	std::vector<uint8_t> data;
	bool reached = all;
	while (log.next(e, &data)) {
		rp.apply(e, std::move(data));
		if (e.index == to_entry || (!to_mark.empty() && e.is_mark() && e.mark == to_mark)) {
			reached = true;
			break;
		}
	}
	if (fsync(fd) < 0)
		fail_errno("fsync %s", target.c_str());
	close(fd);
	if (!reached)
		fail("the log has no %s", to_mark.empty() ? "such entry" : "such mark");
	printf("replayed %llu entries (%s) onto %s%s\n", (unsigned long long)rp.stats().entries,
	       mode_name(mode), target.c_str(),
	       rp.durable_lags() && mode == Mode::Durable ? "; later non-FUA writes held back" : "");
	return 0;
}

// --- walk ----------------------------------------------------------------------
struct Segment {
	uint64_t off = 0, len = 0;
	std::string path;
	int fd = -1;
	bool direct = false;
};

struct WalkOptions {
	std::string log, exec, start_mark, prefix;
	std::vector<Segment> segs;
	bool durable = true, full = false, final_check = false, expect_fail = false;
	uint64_t hold_off = 0, hold_len = 0;
	uint64_t max_checks = 0, min_checks = 0, max_failures = 3;
};

class Walker {
public:
	explicit Walker(WalkOptions &o) : o_(o), log_(o.log) {}
	~Walker()
	{
		for (Segment &s : o_.segs)
			if (s.fd >= 0)
				close(s.fd);
	}
	Walker(const Walker &) = delete;
	Walker &operator=(const Walker &) = delete;

	int run();

private:
	void load_base();
	void sync(const MemSink &img);
	void check(uint64_t entry, const std::string &flags, Mode m, bool lag);

	WalkOptions &o_;
	LogReader log_;
	uint64_t image_bytes_ = 0;
	std::unique_ptr<MemSink> dur_, full_;
	std::string last_mark_, next_mark_;
	uint64_t checks_ = 0, durable_checks_ = 0, full_checks_ = 0, same_ = 0, failures_ = 0;
	uint64_t synced_pages_ = 0;
	double sync_secs_ = 0, exec_secs_ = 0;
};

double since(std::chrono::steady_clock::time_point t)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void Walker::load_base()
{
	for (Segment &s : o_.segs) {
		s.fd = open(s.path.c_str(), O_RDWR | O_CLOEXEC);
		if (s.fd < 0)
			fail_errno("open %s", s.path.c_str());
		if (fd_is_blockdev(s.fd)) {
			// Bypass the page cache: the check writes under it.
			close(s.fd);
			s.fd = open(s.path.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT);
			if (s.fd < 0)
				fail_errno("open %s O_DIRECT", s.path.c_str());
			s.direct = true;
		}
		s.len = fd_size(s.fd, s.path);
		if (s.off % kPage || s.len % kPage)
			fail("segment %s: offset and size must be multiples of 4096", s.path.c_str());
		image_bytes_ = std::max(image_bytes_, s.off + s.len);
	}
	for (size_t i = 0; i < o_.segs.size(); i++)
		for (size_t k = i + 1; k < o_.segs.size(); k++) {
			const Segment &a = o_.segs[i], &b = o_.segs[k];
			if (a.off < b.off + b.len && b.off < a.off + a.len)
				fail("segments %s and %s overlap", a.path.c_str(), b.path.c_str());
		}
	dur_.reset(new MemSink(image_bytes_));
	for (const Segment &s : o_.segs) {
		AlignedBuf buf(kChunk);
		for (uint64_t at = 0; at < s.len; at += kChunk) {
			size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, s.len - at));
			pread_full(s.fd, buf.data(), n, at, s.path);
			memcpy(dur_->bytes().data() + s.off + at, buf.data(), n);
		}
	}
	if (o_.full) {
		full_.reset(new MemSink(image_bytes_));
		full_->bytes() = dur_->bytes();
	}
}

// Makes the segment files equal to img, writing only the pages that differ
// (the replay's progress and whatever the last check wrote).
void Walker::sync(const MemSink &img)
{
	AlignedBuf buf(kChunk);
	for (const Segment &s : o_.segs) {
		bool wrote = false;
		for (uint64_t at = 0; at < s.len; at += kChunk) {
			size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, s.len - at));
			pread_full(s.fd, buf.data(), n, at, s.path);
			const uint8_t *want = img.bytes().data() + s.off + at;
			for (size_t p = 0; p < n; p += kPage) {
				if (!memcmp(buf.data() + p, want + p, kPage))
					continue;
				memcpy(buf.data() + p, want + p, kPage);
				pwrite_full(s.fd, buf.data() + p, kPage, at + p, s.path);
				synced_pages_++;
				wrote = true;
			}
		}
		if (wrote && s.direct && fdatasync(s.fd) < 0)
			fail_errno("fdatasync %s", s.path.c_str());
	}
}

void Walker::check(uint64_t entry, const std::string &flags, Mode m, bool lag)
{
	auto t0 = std::chrono::steady_clock::now();
	sync(m == Mode::Full ? *full_ : *dur_);
	sync_secs_ += since(t0);
	checks_++;
	(m == Mode::Full ? full_checks_ : durable_checks_)++;
	setenv("WCLR_CHECK", strf("%llu", (unsigned long long)checks_).c_str(), 1);
	setenv("WCLR_ENTRY", strf("%llu", (unsigned long long)entry).c_str(), 1);
	setenv("WCLR_FLAGS", flags.c_str(), 1);
	setenv("WCLR_MODE", mode_name(m), 1);
	setenv("WCLR_LAG", lag ? "1" : "0", 1);
	setenv("WCLR_LAST_MARK", last_mark_.c_str(), 1);
	setenv("WCLR_NEXT_MARK", next_mark_.c_str(), 1);
	fflush(stdout);
	fflush(stderr);
	t0 = std::chrono::steady_clock::now();
	pid_t pid = fork();
	if (pid < 0)
		fail_errno("fork");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", o_.exec.c_str(), static_cast<char *>(nullptr));
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail_errno("waitpid");
	exec_secs_ += since(t0);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc) {
		failures_++;
		printf("FAIL check %llu: entry %llu (%s), %s state, last mark %s, next mark %s: "
		       "exit status %d\n",
		       (unsigned long long)checks_, (unsigned long long)entry, flags.c_str(),
		       mode_name(m), last_mark_.empty() ? "none" : last_mark_.c_str(),
		       next_mark_.empty() ? "none" : next_mark_.c_str(), rc);
	}
}

int Walker::run()
{
	auto t0 = std::chrono::steady_clock::now();
	const uint32_t ss = log_.sectorsize();
	auto user_mark = [&](const LogEntry &e) {
		return e.is_mark() && e.mark.compare(0, o_.prefix.size(), o_.prefix) == 0;
	};

	// Pass 1: the checkpoints, and for each entry the next user mark.
	std::vector<uint64_t> points;
	std::vector<std::pair<uint64_t, std::string>> marks; // (entry, name)
	uint64_t start = 0, repeats = 0;
	bool started = o_.start_mark.empty();
	// A checkpoint with no data entry and no user mark since the previous
	// one (a flush split over several targets, back-to-back flushes) is
	// the same state with the same promises: skip it.
	bool changed = true;
	LogEntry e;
	while (log_.next(e, nullptr)) {
		if (!started && e.is_mark() && e.mark == o_.start_mark) {
			started = true;
			start = e.index;
		}
		if (user_mark(e) || (!e.is_mark() && e.nr_sectors))
			changed = true;
		if (started && e.is_checkpoint()) {
			if (changed)
				points.push_back(e.index);
			else
				repeats++;
			changed = false;
		}
		if (user_mark(e))
			marks.emplace_back(e.index, e.mark);
	}
	if (!started)
		fail("the log has no mark '%s'", o_.start_mark.c_str());
	const uint64_t total_points = points.size();
	if (o_.max_checks && points.size() > o_.max_checks) {
		// Evenly spaced, always including the last one.
		std::vector<uint64_t> pick;
		for (uint64_t i = 0; i < o_.max_checks; i++)
			pick.push_back(points[(i + 1) * points.size() / o_.max_checks - 1]);
		points.swap(pick);
	}
	std::set<uint64_t> chosen(points.begin(), points.end());
	printf("# walk: %llu entries, %llu checkpoints (FLUSH/FUA) after entry %llu (%llu more "
	       "repeat the state before them), checking %zu in %s mode%s\n",
	       (unsigned long long)log_.super().nr_entries, (unsigned long long)total_points,
	       (unsigned long long)start, (unsigned long long)repeats, chosen.size(),
	       o_.durable && o_.full ? "durable and full" : o_.durable ? "durable" : "full",
	       o_.durable && o_.full ? " (full only where it differs)" : "");

	load_base();
	if (image_bytes_ % ss)
		fail("image size %llu is not a multiple of the log sectorsize %u",
		     (unsigned long long)image_bytes_, ss);
	Replayer rp(full_.get(), o_.durable ? dur_.get() : nullptr, ss);
	if (o_.hold_len)
		rp.hold_back(o_.hold_off, o_.hold_len);

	// Pass 2: replay, stopping at the chosen checkpoints.
	log_.rewind();
	size_t next_mark_i = 0;
	std::vector<uint8_t> data;
	const uint64_t progress_every = std::max<uint64_t>(25, chosen.size() / 10);
	auto run_point = [&](uint64_t entry, const std::string &flags) {
		next_mark_ = next_mark_i < marks.size() ? marks[next_mark_i].second : "";
		bool lag = o_.durable && rp.durable_lags();
		if (o_.durable)
			check(entry, flags, Mode::Durable, lag);
		if (o_.full && (!o_.durable || lag))
			check(entry, flags, Mode::Full, lag);
		else if (o_.full)
			same_++;
		uint64_t done = durable_checks_ ? durable_checks_ : full_checks_;
		if (done % progress_every == 0)
			printf("# walk: %llu checks done (entry %llu), %llu failed\n",
			       (unsigned long long)done, (unsigned long long)entry,
			       (unsigned long long)failures_);
		fflush(stdout);
	};
	while (log_.next(e, &data)) {
		rp.apply(e, std::move(data));
		data = std::vector<uint8_t>();
		if (user_mark(e)) {
			last_mark_ = e.mark;
			next_mark_i++;
		}
		if (chosen.count(e.index))
			run_point(e.index, flags_str(e.flags));
		if (failures_ >= o_.max_failures)
			break;
	}
	if (o_.final_check && failures_ < o_.max_failures)
		run_point(log_.super().nr_entries, "END");

	const ReplayStats &st = rp.stats();
	const double secs = since(t0);
	const uint64_t points_checked = o_.durable ? durable_checks_ : full_checks_;
	printf("# walk: entries %llu: writes %llu (FUA %llu), flushes %llu, FUA %llu, discards "
	       "%llu, marks %llu; %llu pages synced\n",
	       (unsigned long long)st.entries, (unsigned long long)st.writes,
	       (unsigned long long)st.fua_writes, (unsigned long long)st.flushes,
	       (unsigned long long)st.fuas, (unsigned long long)st.discards,
	       (unsigned long long)st.marks, (unsigned long long)synced_pages_);
	printf("# walk: checked %llu marks (FLUSH/FUA points; %llu durable, %llu full states; "
	       "full == durable at %llu), %llu failed, %.1fs (writing states %.1fs, checking "
	       "%.1fs)\n",
	       (unsigned long long)points_checked, (unsigned long long)durable_checks_,
	       (unsigned long long)full_checks_, (unsigned long long)same_,
	       (unsigned long long)failures_, secs, sync_secs_, exec_secs_);
	if (o_.hold_len)
		printf("# walk: mutation: %llu writes in bytes %llu+%llu delivered one flush late\n",
		       (unsigned long long)rp.held_back(), (unsigned long long)o_.hold_off,
		       (unsigned long long)o_.hold_len);
	if (o_.expect_fail) {
		if (!failures_) {
			printf("walk: expected a failing check, but all %llu passed\n",
			       (unsigned long long)points_checked);
			return 1;
		}
		printf("# walk: caught, as expected, at check %llu\n", (unsigned long long)checks_);
		return 0;
	}
	if (failures_ >= o_.max_failures)
		printf("walk: stopped after %llu failures\n", (unsigned long long)failures_);
	if (points_checked < o_.min_checks) {
		printf("walk: only %llu checkpoints checked, fewer than %llu\n",
		       (unsigned long long)points_checked, (unsigned long long)o_.min_checks);
		return 1;
	}
	return failures_ ? 1 : 0;
}

int cmd_walk(int argc, char **argv)
{
	WalkOptions o;
	o.prefix = "wcm";
	for (int i = 0; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--final") {
			o.final_check = true;
			continue;
		}
		if (a == "--expect-fail") {
			o.expect_fail = true;
			continue;
		}
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		std::string v = argv[++i];
		if (a == "--log") {
			o.log = v;
		} else if (a == "--seg") {
			size_t colon = v.find(':');
			if (colon == std::string::npos || colon + 1 == v.size())
				fail("--seg wants BYTE_OFFSET:FILE, not '%s'", v.c_str());
			Segment s;
			s.off = parse_size(v.substr(0, colon), "--seg offset");
			s.path = v.substr(colon + 1);
			o.segs.push_back(s);
		} else if (a == "--hold-back") {
			size_t colon = v.find(':');
			if (colon == std::string::npos)
				fail("--hold-back wants BYTE_OFFSET:BYTES, not '%s'", v.c_str());
			o.hold_off = parse_size(v.substr(0, colon), "--hold-back offset");
			o.hold_len = parse_size(v.substr(colon + 1), "--hold-back length");
		} else if (a == "--exec") {
			o.exec = v;
		} else if (a == "--mode") {
			o.durable = v == "durable" || v == "both";
			o.full = v == "full" || v == "both";
			if (!o.durable && !o.full)
				fail("--mode must be durable, full or both");
		} else if (a == "--start-mark") {
			o.start_mark = v;
		} else if (a == "--mark-prefix") {
			o.prefix = v;
		} else if (a == "--max-checks") {
			o.max_checks = parse_size(v, "--max-checks");
		} else if (a == "--min-checks") {
			o.min_checks = parse_size(v, "--min-checks");
		} else if (a == "--max-failures") {
			o.max_failures = parse_size(v, "--max-failures");
			if (!o.max_failures)
				fail("--max-failures must be at least 1");
		} else {
			usage();
			return 2;
		}
	}
	if (o.log.empty() || o.segs.empty() || o.exec.empty()) {
		usage();
		return 2;
	}
	if (o.hold_len && (o.full || !o.durable))
		fail("--hold-back mutates the durable state: use --mode durable");
	Walker w(o);
	return w.run();
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
		if (cmd == "info")
			return cmd_info(argc - 2, argv + 2);
		if (cmd == "replay")
			return cmd_replay(argc - 2, argv + 2);
		if (cmd == "walk")
			return cmd_walk(argc - 2, argv + 2);
		usage();
		return 2;
	} catch (const std::exception &e) {
		fflush(stdout);
		fprintf(stderr, "wc-logreplay: %s\n", e.what());
		return 2;
	}
}
