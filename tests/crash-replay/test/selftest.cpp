// SPDX-License-Identifier: GPL-2.0
// Host self-test of the crash-replay tools.  Logs are built here byte by
// byte (LogBuilder, written from the kernel's format, independent of
// logfmt.cpp); the replayed images are compared byte by byte in both
// modes; the journal checker is driven through the canary's failure mode;
// the static tools are run on the same logs.
//
//   logwrites-selftest BUILD_DIR     (BUILD_DIR holds the static tools)
// Prints "ok - NAME" / "not ok - NAME" per test; exit status 1 on failure.
#include "check.h"
#include "common.h"
#include "journal.h"
#include "logfmt.h"
#include "replay.h"
#include "tag.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace lw;

namespace {

// --- a tiny test runner ---------------------------------------------------------
struct TestFailure {
	std::string what;
};

std::vector<std::pair<const char *, std::function<void()>>> &registry()
{
	static std::vector<std::pair<const char *, std::function<void()>>> r;
	return r;
}

struct Registrar {
	Registrar(const char *name, std::function<void()> fn) { registry().emplace_back(name, fn); }
};

#define TEST(name)                                              \
	void test_##name();                                     \
	const Registrar reg_##name(#name, test_##name);         \
	void test_##name()

#define EXPECT(cond)                                                                     \
	do {                                                                             \
		if (!(cond))                                                             \
			throw TestFailure{ strf("%s:%d: %s", __FILE__, __LINE__, #cond) }; \
	} while (0)

#define EXPECT_EQ(a, b)                                                                  \
	do {                                                                             \
		const auto va_ = (a);                                                    \
		const auto vb_ = (b);                                                    \
		if (!(va_ == vb_))                                                       \
			throw TestFailure{ strf("%s:%d: %s == %s (%lld vs %lld)", __FILE__, \
						__LINE__, #a, #b, (long long)va_,        \
						(long long)vb_) };                       \
	} while (0)

// The statement must throw an Error whose text contains sub.
#define EXPECT_ERROR(stmt, sub)                                                          \
	do {                                                                             \
		bool thrown_ = false;                                                    \
		try {                                                                    \
			stmt;                                                            \
		} catch (const Error &e_) {                                              \
			thrown_ = true;                                                  \
			if (!strstr(e_.what(), sub))                                     \
				throw TestFailure{ strf("%s:%d: error '%s' lacks '%s'",  \
							__FILE__, __LINE__, e_.what(),   \
							sub) };                          \
		}                                                                        \
		if (!thrown_)                                                            \
			throw TestFailure{ strf("%s:%d: no error from %s", __FILE__,     \
						__LINE__, #stmt) };                      \
	} while (0)

std::string g_tools; // the build directory with the static tools
std::string g_tmp;   // scratch directory

std::string tmp_path(const std::string &name)
{
	return g_tmp + "/" + name;
}

void write_file(const std::string &path, const std::vector<uint8_t> &b)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f.write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
	if (!f)
		throw TestFailure{ "cannot write " + path };
}

std::vector<uint8_t> read_file(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		throw TestFailure{ "cannot read " + path };
	return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
				    std::istreambuf_iterator<char>());
}

std::string read_text(const std::string &path)
{
	auto b = read_file(path);
	return std::string(b.begin(), b.end());
}

// Runs a shell command, returns its exit status; output goes to out.
int shell(const std::string &cmd, const std::string &out)
{
	int st = system((cmd + " >" + out + " 2>&1").c_str());
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// --- the hand-made log --------------------------------------------------------------
// Entry layout from drivers/md/dm-log-writes.c: super in unit 0; each entry
// one unit of header {sector, nr_sectors, flags, data_len} (little endian,
// the mark's text right after it) followed by nr_sectors units of data, none
// for discards.
class LogBuilder {
public:
	explicit LogBuilder(uint32_t ss) : ss_(ss) {}

	LogBuilder &write(uint64_t sector, const std::vector<uint8_t> &data, uint64_t flags = 0)
	{
		if (data.size() % ss_)
			throw TestFailure{ "LogBuilder: data not a multiple of the sector size" };
		entry(sector, data.size() / ss_, flags, "", &data);
		return *this;
	}
	LogBuilder &flush(uint64_t extra = 0) { return entry(0, 0, 1 | extra, "", nullptr); }
	LogBuilder &discard(uint64_t sector, uint64_t nr) { return entry(sector, nr, 4, "", nullptr); }
	LogBuilder &mark(const std::string &name) { return entry(0, 0, 8, name, nullptr); }
	// A raw header, for malformed logs.
	LogBuilder &raw(uint64_t sector, uint64_t nr, uint64_t flags, uint64_t data_len)
	{
		std::vector<uint8_t> h(ss_, 0);
		le(h, 0, sector);
		le(h, 8, nr);
		le(h, 16, flags);
		le(h, 24, data_len);
		body_.insert(body_.end(), h.begin(), h.end());
		n_++;
		return *this;
	}

	// The whole log; nr_entries may claim fewer (or more) entries.
	std::vector<uint8_t> bytes(int64_t nr_entries = -1, uint64_t magic = 0x6a736677736872ULL,
				   uint64_t version = 1) const
	{
		std::vector<uint8_t> sb(ss_, 0);
		le(sb, 0, magic);
		le(sb, 8, version);
		le(sb, 16, nr_entries < 0 ? n_ : static_cast<uint64_t>(nr_entries));
		sb[24] = static_cast<uint8_t>(ss_);
		sb[25] = static_cast<uint8_t>(ss_ >> 8);
		sb[26] = static_cast<uint8_t>(ss_ >> 16);
		std::vector<uint8_t> out = sb;
		out.insert(out.end(), body_.begin(), body_.end());
		return out;
	}
	uint64_t entries() const { return n_; }

private:
	static void le(std::vector<uint8_t> &b, size_t at, uint64_t v)
	{
		for (int i = 0; i < 8; i++)
			b[at + i] = static_cast<uint8_t>(v >> (8 * i));
	}
	LogBuilder &entry(uint64_t sector, uint64_t nr, uint64_t flags, const std::string &mark,
			  const std::vector<uint8_t> *data)
	{
		std::vector<uint8_t> h(ss_, 0);
		le(h, 0, sector);
		le(h, 8, nr);
		le(h, 16, flags);
		le(h, 24, mark.size());
		memcpy(h.data() + 32, mark.data(), mark.size());
		body_.insert(body_.end(), h.begin(), h.end());
		if (data)
			body_.insert(body_.end(), data->begin(), data->end());
		n_++;
		return *this;
	}

	uint32_t ss_;
	std::vector<uint8_t> body_;
	uint64_t n_ = 0;
};

std::vector<uint8_t> fill(size_t n, uint8_t v)
{
	return std::vector<uint8_t>(n, v);
}

// An image described as one byte value per sector.
std::vector<uint8_t> image(uint32_t ss, const std::string &per_sector)
{
	std::vector<uint8_t> b;
	for (char c : per_sector) {
		auto s = fill(ss, c == '.' ? 0 : static_cast<uint8_t>(c));
		b.insert(b.end(), s.begin(), s.end());
	}
	return b;
}

// The scenario log over an 8-sector image, and the expected images at each
// checkpoint: {entry, full, durable} with one character per sector ('.' is
// zero).  Entries 4 and 12 are plain writes after the last flush, which
// the kernel never logs there; the durable mode must hold them back.
struct Expected {
	uint64_t entry;
	const char *full;
	const char *durable;
	bool lag; // non-FUA entries after the last flush (even if overwritten)
};

LogBuilder scenario(uint32_t ss)
{
	LogBuilder lb(ss);
	lb.write(0, fill(ss, 'A'));	       //  0
	lb.write(1, fill(ss, 'B'));	       //  1
	lb.flush();			       //  2 FLUSH       A B
	lb.write(2, fill(ss, 'C'), kFlagFua);  //  3 FUA         + C
	lb.write(3, fill(ss, 'D'));	       //  4             D only in full
	lb.write(4, fill(ss, 'E'), kFlagFua);  //  5 FUA         + E
	lb.mark("m1");			       //  6
	lb.write(0, fill(ss, 'F'));	       //  7
	lb.discard(1, 1);		       //  8
	lb.flush();			       //  9 FLUSH       F . C D E
	lb.write(5, fill(ss, 'G'), kFlagFlush); // 10 FLUSH+data  G not durable yet
	lb.write(6, fill(2 * ss, 'H'), kFlagFlush | kFlagFua); // 11 FLUSH|FUA G H H
	lb.write(7, fill(ss, 'I'));	       // 12             I only in full
	lb.write(7, fill(ss, 'J'), kFlagFua);  // 13 FUA         J over I
	lb.mark("m2");			       // 14
	lb.flush();			       // 15 FLUSH       I then J: J
	return lb;
}

// 9 sectors: the FLUSH|FUA entry 11 writes sectors 6 and 7, entry 13 sector 7.
const Expected kScenario[] = {
	{ 2, "AB.......", "AB.......", false },	  { 3, "ABC......", "ABC......", false },
	{ 5, "ABCDE....", "ABC.E....", true },	  { 9, "F.CDE....", "F.CDE....", false },
	{ 10, "F.CDEG...", "F.CDE....", true },	  { 11, "F.CDEGHH.", "F.CDEGHH.", false },
	{ 13, "F.CDEGHJ.", "F.CDEGHJ.", true },	  { 15, "F.CDEGHJ.", "F.CDEGHJ.", false },
};

void replay_scenario(uint32_t ss)
{
	auto path = tmp_path(strf("scenario-%u.log", ss));
	write_file(path, scenario(ss).bytes());
	LogReader log(path);
	EXPECT_EQ(log.sectorsize(), ss);
	EXPECT_EQ(log.super().nr_entries, 16u);
	MemSink full(9 * ss), dur(9 * ss);
	Replayer rp(&full, &dur, ss);
	LogEntry e;
	std::vector<uint8_t> data;
	size_t k = 0;
	std::vector<uint64_t> points;
	while (log.next(e, &data)) {
		if (e.index == 6)
			EXPECT(e.is_mark() && e.mark == "m1");
		rp.apply(e, std::move(data));
		if (!e.is_checkpoint())
			continue;
		points.push_back(e.index);
		EXPECT(k < sizeof(kScenario) / sizeof(kScenario[0]));
		const Expected &x = kScenario[k++];
		EXPECT_EQ(e.index, x.entry);
		if (full.bytes() != image(ss, x.full))
			throw TestFailure{ strf("entry %llu: full image differs from %s",
						(unsigned long long)e.index, x.full) };
		if (dur.bytes() != image(ss, x.durable))
			throw TestFailure{ strf("entry %llu: durable image differs from %s",
						(unsigned long long)e.index, x.durable) };
		EXPECT_EQ(rp.durable_lags(), x.lag);
	}
	EXPECT_EQ(k, sizeof(kScenario) / sizeof(kScenario[0]));
	EXPECT_EQ(rp.stats().entries, 16u);
	EXPECT_EQ(rp.stats().discards, 1u);
	EXPECT_EQ(rp.stats().marks, 2u);
	EXPECT_EQ(rp.stats().fua_writes, 4u);
	EXPECT_EQ(rp.stats().flushes, 5u);
}

TEST(replay_both_modes_512)
{
	replay_scenario(512);
}

TEST(replay_both_modes_4096)
{
	replay_scenario(4096);
}

TEST(log_entry_positions_and_marks)
{
	auto path = tmp_path("positions.log");
	LogBuilder lb(512);
	lb.write(3, fill(1024, 'x')).discard(10, 100).mark("hello").flush();
	write_file(path, lb.bytes());
	LogReader log(path);
	LogEntry e;
	std::vector<uint8_t> d;
	EXPECT(log.next(e, &d));
	EXPECT_EQ(e.pos, 512u);
	EXPECT_EQ(e.sector, 3u);
	EXPECT_EQ(e.nr_sectors, 2u);
	EXPECT_EQ(d.size(), 1024u);
	EXPECT(log.next(e, &d));
	EXPECT_EQ(e.pos, 512u + 512 + 1024);
	EXPECT(e.is_discard());
	EXPECT_EQ(d.size(), 0u); // a discard carries no data in the log
	EXPECT(log.next(e, &d));
	EXPECT_EQ(e.pos, 512u + 512 + 1024 + 512);
	EXPECT(e.is_mark() && e.mark == "hello");
	EXPECT(log.next(e, &d));
	EXPECT(e.is_checkpoint() && e.nr_sectors == 0);
	EXPECT(!log.next(e, &d));
	log.rewind();
	EXPECT(log.next(e, nullptr) && e.index == 0);
	EXPECT(flags_str(kFlagFlush | kFlagFua) == "FLUSH|FUA");
	EXPECT(flags_str(0) == "WRITE");
	EXPECT(flags_str(kFlagDiscard | 0x40) == "DISCARD|0x40");
}

TEST(log_super_counts_entries)
{
	// Entries past nr_entries (logged after the last super update) are
	// not part of the log.
	auto path = tmp_path("short.log");
	LogBuilder lb(512);
	lb.write(0, fill(512, 1)).flush().write(1, fill(512, 2));
	write_file(path, lb.bytes(2));
	LogReader log(path);
	LogEntry e;
	int n = 0;
	while (log.next(e, nullptr))
		n++;
	EXPECT_EQ(n, 2);
}

TEST(log_format_errors)
{
	auto path = tmp_path("bad.log");
	LogBuilder ok(512);
	ok.write(0, fill(512, 1));
	write_file(path, ok.bytes(-1, 0x1234));
	EXPECT_ERROR(LogReader r(path), "not a dm-log-writes log");
	write_file(path, ok.bytes(-1, 0x6a736677736872ULL, 2));
	EXPECT_ERROR(LogReader r(path), "unsupported log version");
	auto b = ok.bytes();
	b[24] = 0xe8; // sectorsize 1000
	b[25] = 0x03;
	write_file(path, b);
	EXPECT_ERROR(LogReader r(path), "bad log sectorsize");

	LogEntry e;
	write_file(path, ok.bytes(5)); // claims more entries than there are
	{
		LogReader r(path);
		EXPECT(r.next(e, nullptr));
		EXPECT_ERROR(r.next(e, nullptr), "beyond the end");
	}
	LogBuilder past(512);
	past.raw(0, 1000, 0, 0);
	write_file(path, past.bytes());
	{
		LogReader r(path);
		EXPECT_ERROR(r.next(e, nullptr), "past the end");
	}
	LogBuilder inl(512);
	inl.raw(0, 0, 0, 16);
	write_file(path, inl.bytes());
	{
		LogReader r(path);
		EXPECT_ERROR(r.next(e, nullptr), "inline data");
	}
	LogBuilder longmark(512);
	longmark.raw(0, 0, kFlagMark, 480);
	write_file(path, longmark.bytes());
	{
		LogReader r(path);
		EXPECT_ERROR(r.next(e, nullptr), "does not fit");
	}
	// A write outside the image.
	LogBuilder far(512);
	far.write(8, fill(512, 1));
	write_file(path, far.bytes());
	{
		LogReader r(path);
		MemSink img(8 * 512);
		Replayer rp(&img, nullptr, 512);
		std::vector<uint8_t> d;
		EXPECT(r.next(e, &d));
		EXPECT_ERROR(rp.apply(e, d), "beyond the");
	}
}

// --- the canary: a commit that flushes before its data write completed ----------
// A toy cache in 4 KiB units: unit 0 is the metadata (a commit record
// "origin block -> slot" becomes durable with the superblock's FUA write),
// units 1-3 are cache slots, units 4-7 the origin.  The correct order logs
// the data write in the commit's flush group; the broken one logs it only
// with the next flush group, after the superblock.
constexpr uint32_t kSS = 4096;

std::vector<uint8_t> tagged(uint64_t block, uint64_t version)
{
	std::vector<uint8_t> b(kBlockBytes);
	make_tagged(b.data(), block, version);
	return b;
}

std::vector<uint8_t> poison(uint64_t slot)
{
	std::vector<uint8_t> b(kBlockBytes);
	make_poison(b.data(), slot);
	return b;
}

std::vector<uint8_t> canary_base()
{
	std::vector<uint8_t> img(8 * kSS, 0);
	for (uint64_t s = 1; s < 4; s++)
		memcpy(img.data() + s * kSS, poison(s).data(), kSS);
	for (uint64_t b = 0; b < 4; b++)
		memcpy(img.data() + (4 + b) * kSS, tagged(b, 0).data(), kSS);
	return img;
}

// Origin block 2 gets version 1 in slot 3.
LogBuilder canary_log(bool broken)
{
	LogBuilder lb(kSS);
	auto meta = fill(kSS, 'M'); // the commit record
	auto sb = fill(kSS, 'S');   // superblock with the new sequence number
	if (!broken)
		lb.write(3, tagged(2, 1)); // data, completed before the flush
	lb.write(0, meta);		   // metadata write
	lb.flush();			   // the commit's flush
	lb.write(0, sb, kFlagFua);	   // superblock: the commit point
	if (broken)
		lb.write(3, tagged(2, 1)); // data completed after the flush
	lb.flush();
	return lb;
}

// Reads origin block 2 through the toy cache in the durable state.
std::string canary_verdict(const std::vector<uint8_t> &img, const Expect &ex)
{
	const bool committed = img[0] == 'S';
	const uint8_t *p = committed ? &img[3 * kSS] : &img[(4 + 2) * kSS];
	CheckStats st;
	return ex.verify(2, p, st);
}

Journal canary_journal()
{
	// Op 1 (block 2) in flight when the commit ran; nothing acknowledged.
	return Journal::parse("wc-crashload-journal 1 blocks 4\nW 1 2 1\nC 1\nM 1 F 2\n");
}

// The durable image and verdict at each checkpoint of a log.
std::vector<std::string> canary_walk(const LogBuilder &lb, bool hold)
{
	auto path = tmp_path("canary.log");
	write_file(path, lb.bytes());
	LogReader log(path);
	MemSink dur(8 * kSS);
	dur.bytes() = canary_base();
	Replayer rp(nullptr, &dur, kSS);
	if (hold)
		rp.hold_back(kSS, 3 * kSS); // the cache slots
	Journal j = canary_journal();
	Expect ex(j, 0, 1);
	std::vector<std::string> verdicts;
	LogEntry e;
	std::vector<uint8_t> d;
	while (log.next(e, &d)) {
		rp.apply(e, std::move(d));
		if (e.is_checkpoint())
			verdicts.push_back(canary_verdict(dur.bytes(), ex));
	}
	return verdicts;
}

TEST(canary_commit_before_data_is_caught)
{
	auto good = canary_walk(canary_log(false), false);
	EXPECT_EQ(good.size(), 3u);
	for (const auto &v : good)
		EXPECT(v.empty());
	auto bad = canary_walk(canary_log(true), false);
	EXPECT_EQ(bad.size(), 3u);
	EXPECT(bad[0].empty());				// flush: not committed yet
	EXPECT(bad[1].find("poison of cache slot 3") != std::string::npos); // after the sb FUA
	EXPECT(bad[2].empty());				// the data arrived
}

TEST(hold_back_mutation_reproduces_the_canary)
{
	// The correct log, with the data write delivered one flush late.
	auto v = canary_walk(canary_log(false), true);
	EXPECT_EQ(v.size(), 3u);
	EXPECT(v[1].find("poison") != std::string::npos);
	EXPECT(v[2].empty());
}

TEST(hold_back_survives_a_split_flush)
{
	// One commit flush split over two targets (back-to-back FLUSH entries)
	// must not release the held write; the next flush group does.
	LogBuilder lb(kSS);
	lb.write(3, tagged(2, 1));
	lb.write(0, fill(kSS, 'M'));
	lb.flush().flush();
	lb.write(0, fill(kSS, 'S'), kFlagFua);
	lb.flush();
	auto v = canary_walk(lb, true);
	EXPECT_EQ(v.size(), 4u);
	EXPECT(v[0].empty() && v[1].empty());
	EXPECT(v[2].find("poison") != std::string::npos);
	EXPECT(v[3].empty());
}

// The durable images at the checkpoints of a log replayed with a hold-back.
std::vector<std::vector<uint8_t>> held_states(const LogBuilder &lb, uint64_t off, uint64_t len,
					      uint64_t *held)
{
	auto path = tmp_path("held.log");
	write_file(path, lb.bytes());
	LogReader log(path);
	MemSink dur(4 * 512);
	Replayer rp(nullptr, &dur, 512);
	rp.hold_back(off, len);
	std::vector<std::vector<uint8_t>> states;
	LogEntry e;
	std::vector<uint8_t> d;
	while (log.next(e, &d)) {
		rp.apply(e, std::move(d));
		if (e.is_checkpoint())
			states.push_back(dur.bytes());
	}
	*held = rp.held_back();
	return states;
}

TEST(hold_back_one_flush_late)
{
	LogBuilder lb(512);
	lb.write(1, fill(512, 'a')).flush(); // 'a' held
	lb.write(1, fill(512, 'b')).flush(); // 'a' lands, 'b' held
	lb.write(2, fill(512, 'c')).flush(); // 'b' lands, 'c' held
	lb.write(3, fill(512, 'd')).flush();
	uint64_t held = 0;
	auto st = held_states(lb, 512, 3 * 512, &held);
	EXPECT_EQ(st.size(), 4u);
	EXPECT(st[0] == image(512, "...."));
	EXPECT(st[1] == image(512, ".a.."));
	EXPECT(st[2] == image(512, ".b.."));
	EXPECT(st[3] == image(512, ".bc."));
	EXPECT_EQ(held, 4u);
}

TEST(hold_back_keeps_order)
{
	// 'y' lies outside the range but overwrites part of the held 'x': it
	// waits with 'x', so that it still lands after it.
	LogBuilder lb(512);
	lb.write(1, fill(1024, 'x')).write(2, fill(512, 'y')).flush();
	lb.write(3, fill(512, 'z')).flush();
	uint64_t held = 0;
	auto st = held_states(lb, 512, 512, &held);
	EXPECT_EQ(st.size(), 2u);
	EXPECT(st[0] == image(512, "...."));
	EXPECT(st[1] == image(512, ".xyz"));
	EXPECT_EQ(held, 1u);
}

// --- tags -----------------------------------------------------------------------------
TEST(tag_roundtrip_and_damage)
{
	auto b = tagged(77, 12345);
	BlockInfo bi = decode_block(b.data());
	EXPECT(bi.kind == BlockKind::Tagged);
	EXPECT_EQ(bi.block, 77u);
	EXPECT_EQ(bi.version, 12345u);
	EXPECT(tagged(77, 12345) == b); // deterministic
	EXPECT(tagged(77, 12346) != b);
	for (size_t at : { size_t(9), size_t(17), size_t(31), size_t(32), size_t(2000), size_t(4095) }) {
		auto c = b;
		c[at] ^= 1;
		BlockInfo ci = decode_block(c.data());
		EXPECT(ci.kind == BlockKind::Garbage);
		EXPECT(ci.why.find("bad checksum") != std::string::npos);
	}
	// A torn block: first half of one version, second half of another.
	auto t = tagged(77, 1), u = tagged(77, 2);
	memcpy(t.data() + 2048, u.data() + 2048, 2048);
	EXPECT(decode_block(t.data()).kind == BlockKind::Garbage);
	auto p = poison(9);
	BlockInfo pi = decode_block(p.data());
	EXPECT(pi.kind == BlockKind::Poison && pi.block == 9);
	std::vector<uint8_t> z(kBlockBytes, 0);
	EXPECT(decode_block(z.data()).kind == BlockKind::Zero);
	z[100] = 1;
	EXPECT(decode_block(z.data()).kind == BlockKind::Garbage);
}

// --- journal and the checker ------------------------------------------------------
TEST(journal_text_roundtrip_and_errors)
{
	const std::string text = "wc-crashload-journal 1 blocks 8\n"
				 "W 1 0 2\nC 1\nD 2 3 1\nM 1 F 2\nM 2 U 1\nE\n";
	Journal j = Journal::parse(text);
	EXPECT_EQ(j.blocks, 8u);
	EXPECT_EQ(j.recs.size(), 6u);
	EXPECT(j.text() == text);
	EXPECT_ERROR(Journal::parse("nonsense\n"), "bad header");
	EXPECT_ERROR(Journal::parse("wc-crashload-journal 1 blocks 8\nW 1 7 2\n"), "line 2");
	EXPECT_ERROR(Journal::parse("wc-crashload-journal 1 blocks 8\nW 1 0 0\n"), "bad record");
	EXPECT_ERROR(Journal::parse("wc-crashload-journal 1 blocks 8\nM 1 X 0\n"), "bad record");
	EXPECT_ERROR(Journal::parse("wc-crashload-journal 1 blocks 8\nC 1 2\n"), "bad record");
	EXPECT_ERROR(Journal::parse("wc-crashload-journal 1 blocks 8\nQ\n"), "bad record");

	JournalWriter w(4);
	uint64_t op = w.submit('W', 1, 2);
	EXPECT_EQ(op, 1u);
	w.done(op);
	uint64_t pos = w.position();
	uint64_t inserted = 0;
	w.mark('F', pos, [&](uint64_t k) { inserted = k; });
	EXPECT_EQ(inserted, 1u);
	w.end();
	auto path = tmp_path("journal.txt");
	w.save(path);
	Journal back = Journal::load(path);
	EXPECT_EQ(back.recs.size(), 4u);
	EXPECT(back.recs[2].type == 'M' && back.recs[2].ack == 'F' && back.recs[2].arg == 2);
}

// Verdict of one block content.
std::string verdict(const Expect &ex, uint64_t block, const std::vector<uint8_t> &b)
{
	CheckStats st;
	return ex.verify(block, b.data(), st);
}

const char *kJournal = "wc-crashload-journal 1 blocks 8\n"
		       "W 1 0 2\n" // 0  blocks 0-1 v1
		       "C 1\n"	   // 1
		       "W 2 2 1\n" // 2  block 2 v2
		       "W 3 0 1\n" // 3  block 0 v3, in flight at mark 1
		       "M 1 F 2\n" // 4  fdatasync began after C 1: op 1 durable
		       "C 2\n"	   // 5
		       "C 3\n"	   // 6
		       "W 4 3 1\n" // 7  block 3 v4
		       "C 4\n"	   // 8
		       "M 2 U 4\n" // 9  FUA write op 4 durable
		       "D 5 1 2\n" // 10 discard blocks 1-2
		       "C 5\n"	   // 11
		       "W 6 2 1\n" // 12 block 2 v6
		       "C 6\n"	   // 13
		       "M 3 F 14\n" // 14 everything so far durable
		       "W 7 4 1\n" // 15 block 4 v7, after mark 3
		       "C 7\n"
		       "E\n";

TEST(checker_between_marks)
{
	Journal j = Journal::parse(kJournal);
	const std::vector<uint8_t> zero(kBlockBytes, 0);
	{
		// Before any mark: anything written before mark 1, or the initial.
		Expect ex(j, 0, 1);
		EXPECT(verdict(ex, 0, tagged(0, 0)).empty());
		EXPECT(verdict(ex, 0, tagged(0, 3)).empty());
		EXPECT(verdict(ex, 3, tagged(3, 4)).find("not written") != std::string::npos);
		EXPECT(verdict(ex, 0, zero).find("zeroes") != std::string::npos);
	}
	{
		Expect ex(j, 1, 2);
		EXPECT_EQ(ex.required(0), 1u);
		EXPECT_EQ(ex.required(2), 0u); // op 2 completed after the fdatasync began
		EXPECT(verdict(ex, 0, tagged(0, 1)).empty());
		EXPECT(verdict(ex, 0, tagged(0, 3)).empty()); // newer, written before mark 2
		EXPECT(verdict(ex, 0, tagged(0, 0)).find("stale: version 0, but version 1 was "
							 "acknowledged (by fdatasync, mark 1)") !=
		       std::string::npos);
		EXPECT(verdict(ex, 1, tagged(0, 1)).find("data of block 0") != std::string::npos);
		EXPECT(verdict(ex, 2, tagged(2, 0)).empty());
		EXPECT(verdict(ex, 3, tagged(3, 4)).empty()); // W 4 precedes mark 2
		EXPECT(verdict(ex, 1, poison(5)).find("poison of cache slot 5") != std::string::npos);
		EXPECT(verdict(ex, 4, tagged(4, 7)).find("not written") != std::string::npos);
	}
	{
		Expect ex(j, 2, 3);
		EXPECT_EQ(ex.required(3), 4u);
		EXPECT(verdict(ex, 3, tagged(3, 0)).find("by a FUA/O_DSYNC write, mark 2") !=
		       std::string::npos);
		// Blocks 1-2 were discarded (op 5) after their acknowledged version:
		// zeroes or any older version.
		EXPECT(verdict(ex, 1, zero).empty());
		EXPECT(verdict(ex, 1, tagged(1, 0)).empty());
		EXPECT(verdict(ex, 2, zero).empty());
		EXPECT(verdict(ex, 2, tagged(2, 6)).empty());
		EXPECT(verdict(ex, 0, zero).find("zeroes") != std::string::npos);
	}
	{
		// After mark 3: v6 of block 2 is durable, so the discard no longer
		// excuses zeroes there; block 1 stays discarded.
		Expect ex(j, 3, 0);
		EXPECT_EQ(ex.required(2), 6u);
		EXPECT(verdict(ex, 2, zero).find("zeroes") != std::string::npos);
		EXPECT(verdict(ex, 2, tagged(2, 2)).find("stale") != std::string::npos);
		EXPECT(verdict(ex, 1, zero).empty());
		EXPECT(verdict(ex, 4, tagged(4, 7)).empty()); // no next mark: all writes count
		EXPECT(verdict(ex, 0, tagged(0, 3)).empty());
		EXPECT(verdict(ex, 0, tagged(0, 1)).find("stale") != std::string::npos);
		EXPECT_EQ(ex.acked_ops(), 6u);
	}
	EXPECT_ERROR(Expect(j, 2, 2), "not after");
	EXPECT_ERROR(Expect(j, 9, 0), "not in the journal");
	EXPECT_ERROR(Expect(j, 0, 9), "not in the journal");
	EXPECT_EQ(parse_mark("wcm17", "wcm"), 17u);
	EXPECT_EQ(parse_mark("", "wcm"), 0u);
	EXPECT_EQ(parse_mark("none", "wcm"), 0u);
	EXPECT_ERROR(parse_mark("wcmx", "wcm"), "bad mark");
}

// --- the static tools ---------------------------------------------------------------
std::string tool(const char *name)
{
	return g_tools + "/" + name;
}

TEST(cli_replay_and_info)
{
	auto log = tmp_path("cli.log");
	write_file(log, scenario(512).bytes());
	auto out = tmp_path("cli.out");
	EXPECT_EQ(shell(tool("wc-logreplay") + " info " + log + " --split 2048", out), 0);
	std::string text = read_text(out);
	EXPECT(text.find("16 entries") != std::string::npos);
	EXPECT(text.find("writes below byte 2048: 5, above: 5") != std::string::npos);
	for (const Expected &x : kScenario) {
		for (const char *mode : { "full", "durable" }) {
			auto target = tmp_path("cli.img");
			write_file(target, std::vector<uint8_t>(9 * 512, 0));
			EXPECT_EQ(shell(strf("%s replay --log %s --target %s --mode %s --to-entry %llu",
					     tool("wc-logreplay").c_str(), log.c_str(),
					     target.c_str(), mode, (unsigned long long)x.entry),
					out),
				  0);
			const char *want = strcmp(mode, "full") ? x.durable : x.full;
			if (read_file(target) != image(512, want))
				throw TestFailure{ strf("replay --mode %s --to-entry %llu differs",
							mode, (unsigned long long)x.entry) };
		}
	}
	auto target = tmp_path("cli.img");
	EXPECT_EQ(shell(tool("wc-logreplay") + " replay --log " + log + " --target " + target +
				" --mode durable --to-mark nosuch",
			out),
		  2);
}

TEST(cli_walk_states_and_marks)
{
	// The image split over two files, like cache and origin.
	auto log = tmp_path("walk.log");
	write_file(log, scenario(512).bytes());
	auto a = tmp_path("walk-a.img"), b = tmp_path("walk-b.img");
	write_file(a, std::vector<uint8_t>(4096, 0));
	write_file(b, std::vector<uint8_t>(4096, 0)); // sectors 8-15; the log uses 8 only
	auto calls = tmp_path("walk.calls");
	unlink(calls.c_str());
	// Each check records its environment and the state, then scribbles
	// over the files (as the writecache would), which the next state
	// must undo.
	std::string cb = strf("echo \"$WCLR_CHECK $WCLR_ENTRY $WCLR_FLAGS $WCLR_MODE $WCLR_LAG "
			      "[$WCLR_LAST_MARK] [$WCLR_NEXT_MARK]\" >>%s; cat %s %s >%s.$WCLR_CHECK; "
			      "printf scribble | dd of=%s conv=notrunc 2>/dev/null",
			      calls.c_str(), a.c_str(), b.c_str(), calls.c_str(), a.c_str());
	auto out = tmp_path("walk.out");
	int rc = shell(strf("%s walk --log %s --seg 0:%s --seg 4096:%s --mode both --mark-prefix m "
			    "--final --exec '%s'",
			    tool("wc-logreplay").c_str(), log.c_str(), a.c_str(), b.c_str(),
			    cb.c_str()),
		       out);
	if (rc)
		throw TestFailure{ "walk failed: " + read_text(out) };
	// Durable at every checkpoint, full where it differs, then END.
	const std::string want = "1 2 FLUSH durable 0 [] [m1]\n"
				 "2 3 FUA durable 0 [] [m1]\n"
				 "3 5 FUA durable 1 [] [m1]\n"
				 "4 5 FUA full 1 [] [m1]\n"
				 "5 9 FLUSH durable 0 [m1] [m2]\n"
				 "6 10 FLUSH durable 1 [m1] [m2]\n"
				 "7 10 FLUSH full 1 [m1] [m2]\n"
				 "8 11 FLUSH|FUA durable 0 [m1] [m2]\n"
				 "9 13 FUA durable 1 [m1] [m2]\n"
				 "10 13 FUA full 1 [m1] [m2]\n"
				 "11 15 FLUSH durable 0 [m2] []\n"
				 "12 16 END durable 0 [m2] []\n";
	std::string got = read_text(calls);
	if (got != want)
		throw TestFailure{ "walk calls:\n" + got };
	// The states: durable/full images of kScenario, padded to 16 sectors.
	const char *states[] = { "AB.......", "ABC......", "ABC.E....", "ABCDE....",
				 "F.CDE....", "F.CDE....", "F.CDEG...", "F.CDEGHH.",
				 "F.CDEGHJ.", "F.CDEGHJ.", "F.CDEGHJ.", "F.CDEGHJ." };
	for (int i = 0; i < 12; i++) {
		auto want_img = image(512, std::string(states[i]) + ".......");
		if (read_file(calls + strf(".%d", i + 1)) != want_img)
			throw TestFailure{ strf("walk state %d differs", i + 1) };
	}
	std::string text = read_text(out);
	EXPECT(text.find("checked 9 marks (FLUSH/FUA points; 9 durable, 3 full states; full == durable at 6)") !=
	       std::string::npos);
}

TEST(cli_walk_options)
{
	auto log = tmp_path("walk.log");
	write_file(log, scenario(512).bytes());
	auto a = tmp_path("walk-o.img");
	write_file(a, std::vector<uint8_t>(8192, 0));
	auto out = tmp_path("walk-o.out");
	std::string walk = tool("wc-logreplay") + " walk --log " + log + " --seg 0:" + a;
	// --start-mark: only checkpoints after m1; --max-checks picks evenly
	// and keeps the last one.
	EXPECT_EQ(shell(walk + " --start-mark m1 --mark-prefix m --max-checks 2 --exec 'echo "
				"$WCLR_ENTRY >>" + out + ".e'",
			out),
		  0);
	EXPECT(read_text(out + ".e") == "10\n15\n");
	EXPECT(read_text(out).find("5 checkpoints (FLUSH/FUA) after entry 6 (0 more repeat the "
				   "state before them), checking 2") != std::string::npos);
	// Without the prefix, m2 is no promise: the flush after it repeats
	// the state of the FUA before it.
	unlink((out + ".e").c_str());
	EXPECT_EQ(shell(walk + " --start-mark m1 --exec 'echo $WCLR_ENTRY >>" + out + ".e'", out),
		  0);
	EXPECT(read_text(out + ".e") == "9\n10\n11\n13\n");
	EXPECT(read_text(out).find("(1 more repeat the state before them)") != std::string::npos);
	// Failing checks stop the walk after --max-failures.
	EXPECT_EQ(shell(walk + " --max-failures 2 --exec 'exit 3'", out), 1);
	std::string text = read_text(out);
	EXPECT(text.find("FAIL check 2: entry 3 (FUA)") != std::string::npos);
	EXPECT(text.find("stopped after 2 failures") != std::string::npos);
	// Too few checkpoints fail; --expect-fail inverts the verdict.
	EXPECT_EQ(shell(walk + " --min-checks 9 --exec true", out), 1);
	EXPECT_EQ(shell(walk + " --expect-fail --exec true", out), 1);
	EXPECT_EQ(shell(walk + " --expect-fail --max-failures 1 --exec false", out), 0);
	EXPECT_EQ(shell(walk + " --start-mark nosuch --exec true", out), 2);
	EXPECT_EQ(shell(walk + " --mode full --hold-back 0:512 --exec true", out), 2);
}

TEST(cli_fill_and_crashcheck)
{
	auto origin = tmp_path("origin.img"), cache = tmp_path("cache.img");
	auto out = tmp_path("fill.out");
	EXPECT_EQ(shell(tool("wc-crashload") + " fill origin " + origin + " --bytes 64K", out), 0);
	EXPECT_EQ(shell(tool("wc-crashload") + " fill poison " + cache + " --bytes 16K", out), 0);
	auto c = read_file(cache);
	EXPECT_EQ(c.size(), 16384u);
	EXPECT(decode_block(c.data()).kind == BlockKind::Zero); // a cache to format
	EXPECT(decode_block(c.data() + 4096).kind == BlockKind::Poison);
	auto o = read_file(origin);
	BlockInfo bi = decode_block(o.data() + 5 * 4096);
	EXPECT(bi.kind == BlockKind::Tagged && bi.block == 5 && bi.version == 0);

	auto j = tmp_path("check-journal.txt");
	write_file(j, std::vector<uint8_t>(kJournal, kJournal + strlen(kJournal)));
	// Blocks 0-15 of the origin image against a 8-block journal: all initial.
	std::string check = tool("wc-crashcheck") + " --dev " + origin + " --journal " + j;
	EXPECT_EQ(shell(check + " --last-mark none --next-mark wcm1", out), 0);
	EXPECT(read_text(out).find("ok: last none next wcm1: 8 blocks") != std::string::npos);
	// After mark 3, blocks 0, 2, 3 must hold their acknowledged versions.
	EXPECT_EQ(shell(check + " --last-mark wcm3", out), 1);
	std::string text = read_text(out);
	EXPECT(text.find("BAD block 0: stale: version 0, but version 3") != std::string::npos);
	EXPECT(text.find("BAD 3") != std::string::npos);
	auto fixed = o;
	for (auto [blk, ver] : { std::pair<int, int>{ 0, 3 }, { 2, 6 }, { 3, 4 } })
		memcpy(fixed.data() + blk * 4096, tagged(blk, ver).data(), 4096);
	write_file(origin, fixed);
	EXPECT_EQ(shell(check + " --last-mark wcm3", out), 0);
	EXPECT_EQ(shell(check + " --last-mark wcm7", out), 2);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s BUILD_DIR (with the static tools)\n", argv[0]);
		return 2;
	}
	g_tools = argv[1];
	char tmpl[] = "/tmp/logwrites-selftest.XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 2;
	}
	g_tmp = tmpl;
	int failed = 0;
	for (auto &t : registry()) {
		try {
			t.second();
			printf("ok - %s\n", t.first);
		} catch (const TestFailure &f) {
			printf("not ok - %s: %s\n", t.first, f.what.c_str());
			failed++;
		} catch (const std::exception &e) {
			printf("not ok - %s: unexpected exception: %s\n", t.first, e.what());
			failed++;
		}
	}
	printf("%zu tests, %d failed\n", registry().size(), failed);
	if (!failed)
		(void)!system(("rm -rf " + g_tmp).c_str());
	else
		printf("scratch files kept in %s\n", g_tmp.c_str());
	return failed ? 1 : 0;
}
