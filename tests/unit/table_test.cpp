// SPDX-License-Identifier: GPL-2.0
// The table-line grammar: upstream's order of checks, error texts, value
// parsing (the kernel's sscanf rules) and the canonical TABLE rendering.
#include <wc_abi.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct FakeDevices {
	std::map<std::string, wc_dev_info> devs = {
		{"/dev/vda", {1ull << 30, 512}},
		{"/dev/pmem0", {256ull << 20, 512}},
		{"/dev/vdb", {256ull << 20, 512}},
		{"/dev/4k", {64ull << 20, 4096}},
		{"/dev/tiny", {4096, 512}},
	};
	std::vector<std::pair<int, std::string>> calls;

	static int get(void *ctx, wc_dev_role role, const char *path,
		       wc_dev_info *info)
	{
		auto *self = static_cast<FakeDevices *>(ctx);
		self->calls.emplace_back(role, path);
		auto it = self->devs.find(path);
		if (it == self->devs.end())
			return -6; // -ENXIO, as dm_get_device would for a bad path
		*info = it->second;
		return 0;
	}
};

struct Parsed {
	int r;
	std::string error;
	wc_config cfg;
	std::vector<std::pair<int, std::string>> calls;
};

Parsed parse(const std::string &line, bool pmem_supported = true)
{
	std::istringstream in(line);
	std::vector<std::string> words;
	for (std::string w; in >> w;)
		words.push_back(w);
	std::vector<char *> argv;
	for (auto &w : words)
		argv.push_back(w.data());

	FakeDevices devs;
	wc_table_env env = {};
	env.ctx = &devs;
	env.get_device = FakeDevices::get;
	env.page_size = 4096;
	env.default_writeback_jobs = 65536;
	env.pmem_supported = pmem_supported;

	Parsed p{};
	const char *err = nullptr;
	p.r = wc_parse_table(static_cast<unsigned>(argv.size()), argv.data(),
			     &env, &p.cfg, &err);
	p.error = err ? err : "";
	p.calls = devs.calls;
	return p;
}

std::string table(const std::string &line)
{
	Parsed p = parse(line);
	EXPECT_EQ(p.r, 0) << line << ": " << p.error;
	char buf[512];
	size_t n = wc_format_table(&p.cfg, "253:0", "259:0", buf, sizeof(buf));
	EXPECT_EQ(n, std::strlen(buf));
	return buf;
}

const char *kInvalidOpt = "Invalid optional argument";

} // namespace

TEST(TableParse, MinimalPmemLineGetsUpstreamDefaults)
{
	Parsed p = parse("p /dev/vda /dev/pmem0 4096 0");
	ASSERT_EQ(p.r, 0) << p.error;
	EXPECT_EQ(p.cfg.pmem, 1);
	EXPECT_EQ(p.cfg.writeback_fua, 1); // FUA is the pmem default
	EXPECT_EQ(p.cfg.block_size, 4096u);
	EXPECT_EQ(p.cfg.high_watermark, 50u);
	EXPECT_EQ(p.cfg.low_watermark, 45u);
	EXPECT_EQ(p.cfg.autocommit_blocks, 64u);
	EXPECT_EQ(p.cfg.autocommit_time_ms, 1000u);
	EXPECT_EQ(p.cfg.writeback_jobs, 65536u);
	EXPECT_EQ(p.cfg.max_age_ms, WC_MAX_AGE_UNSPECIFIED);
	EXPECT_EQ(p.cfg.pause_writeback_ms, 0u);
	EXPECT_EQ(p.cfg.set, 0u);
	EXPECT_EQ(p.cfg.origin_bytes, 1ull << 30);
	EXPECT_EQ(p.cfg.cache_bytes, 256ull << 20);
	ASSERT_EQ(p.calls.size(), 2u);
	EXPECT_EQ(p.calls[0], std::make_pair(int(WC_DEV_ORIGIN), std::string("/dev/vda")));
	EXPECT_EQ(p.calls[1], std::make_pair(int(WC_DEV_CACHE), std::string("/dev/pmem0")));
}

TEST(TableParse, MinimalSsdLineGetsUpstreamDefaults)
{
	Parsed p = parse("S /dev/vda /dev/vdb 512 0");
	ASSERT_EQ(p.r, 0) << p.error;
	EXPECT_EQ(p.cfg.pmem, 0);
	EXPECT_EQ(p.cfg.writeback_fua, 0);
	EXPECT_EQ(p.cfg.block_size, 512u);
	EXPECT_EQ(p.cfg.autocommit_blocks, 65536u);
	EXPECT_EQ(p.cfg.pause_writeback_ms, 3000u);
}

TEST(TableParse, ModeErrors)
{
	EXPECT_EQ(parse("").error, "Bad arguments");
	EXPECT_EQ(parse("").r, -WC_EINVAL);
	EXPECT_EQ(parse("x /dev/vda /dev/vdb 4096 0").error, "Bad arguments");
	EXPECT_EQ(parse("ps /dev/vda /dev/vdb 4096 0").error, "Bad arguments");
	Parsed p = parse("p /dev/vda /dev/pmem0 4096 0", false);
	EXPECT_EQ(p.r, -WC_EOPNOTSUPP);
	EXPECT_EQ(p.error, "Persistent memory or DAX not supported on this system");
	EXPECT_TRUE(p.calls.empty()); // mode is checked before any device
}

TEST(TableParse, MissingWordsAreBadArguments)
{
	EXPECT_EQ(parse("s").error, "Bad arguments");
	EXPECT_EQ(parse("s /dev/vda").error, "Bad arguments");
	EXPECT_EQ(parse("s /dev/vda /dev/vdb").error, "Bad arguments");
	// No #opt_args word at all: dm_read_arg_group's text.
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096").error,
		  "Invalid number of feature args");
}

TEST(TableParse, DeviceLookupOrderAndErrors)
{
	Parsed p = parse("s /dev/nope /dev/vdb 4096 0");
	EXPECT_EQ(p.error, "Origin data device lookup failed");
	EXPECT_EQ(p.r, -6);
	EXPECT_EQ(p.calls.size(), 1u);
	p = parse("s /dev/vda /dev/nope 4096 0");
	EXPECT_EQ(p.error, "Cache data device lookup failed");
	EXPECT_EQ(p.calls.size(), 2u);
	// The device lookups come before the block size is looked at.
	EXPECT_EQ(parse("s /dev/nope /dev/vdb junk 0").error,
		  "Origin data device lookup failed");
}

TEST(TableParse, BlockSize)
{
	for (const char *bs : {"512", "1024", "2048", "4096"})
		EXPECT_EQ(parse(std::string("s /dev/vda /dev/vdb ") + bs + " 0").r, 0) << bs;
	for (const char *bs : {"0", "256", "8192", "1000", "-4096", "4096k",
			       "0x1000", "+4096", "40960"})
		EXPECT_EQ(parse(std::string("s /dev/vda /dev/vdb ") + bs + " 0").error,
			  "Invalid block size") << bs;
	// The kernel's sscanf skips leading whitespace, which includes 0xa0.
	EXPECT_EQ(parse("s /dev/vda /dev/vdb \xa0" "4096 0").r, 0);
	// The kernel's %u wraps modulo 2^32: 2^32 + 4096 reads as 4096.
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4294971392 0").r, 0);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4294971392 0").cfg.block_size, 4096u);
	EXPECT_EQ(parse("s /dev/vda /dev/4k 512 0").error,
		  "Block size is smaller than device logical block size");
	EXPECT_EQ(parse("s /dev/4k /dev/vdb 2048 0").error,
		  "Block size is smaller than device logical block size");
	EXPECT_EQ(parse("s /dev/4k /dev/vdb 4096 0").r, 0);
}

TEST(TableParse, OptionalArgumentCount)
{
	const char *kCount = "Invalid number of feature args";
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 1").error, kCount);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 19 cleaner").error, kCount);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 x").error, kCount);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 -1").error, kCount);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 3 cleaner cleaner").error, kCount);
	// Words after the declared group are ignored, as upstream does.
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 1 cleaner junk").r, 0);
	EXPECT_EQ(parse("s /dev/vda /dev/vdb 4096 0 junk").r, 0);
	// 18 words: the SSD maximum (8 valued args + 2 flags).
	Parsed p = parse("s /dev/vda /dev/vdb 4096 18 start_sector 8 high_watermark 60"
			 " low_watermark 40 writeback_jobs 7 autocommit_blocks 9"
			 " autocommit_time 10 max_age 11 cleaner metadata_only"
			 " pause_writeback 12");
	ASSERT_EQ(p.r, 0) << p.error;
}

TEST(TableParse, EveryOptionalArgumentAndItsBounds)
{
	const std::string s = "s /dev/vda /dev/vdb 4096 ";
	const std::string p = "p /dev/vda /dev/pmem0 4096 ";
	struct Case {
		std::string line;
		bool ok;
	} cases[] = {
		{s + "2 start_sector 0", true},
		{s + "2 start_sector 524287", true},   // last sector of 256 MiB
		{s + "2 start_sector 524288", false},  // == size in sectors
		{s + "2 start_sector 18446744073709551615", false},
		{s + "2 start_sector -1", false},
		{s + "4 high_watermark 0 low_watermark 0", true},
		{s + "2 high_watermark 100", true},
		{s + "2 high_watermark 101", false},
		{s + "2 high_watermark -1", false},
		{s + "4 high_watermark 50 low_watermark 50", true},
		{s + "2 low_watermark 100", false},    // high 50 < low 100
		{s + "2 low_watermark 101", false},
		{s + "2 writeback_jobs 0", true},
		{s + "2 writeback_jobs 4294967295", true},
		{s + "2 writeback_jobs 1x", false},
		{s + "2 autocommit_blocks 0", true},
		{s + "2 autocommit_time 3600000", true},
		{s + "2 autocommit_time 3600001", false},
		{s + "2 max_age 86400000", true},
		{s + "2 max_age 86400001", false},
		{s + "2 pause_writeback 60000", true},
		{s + "2 pause_writeback 60001", false},
		{p + "2 pause_writeback 100", false},  // SSD only
		{s + "1 fua", false},                  // pmem only
		{s + "1 nofua", false},
		{p + "1 fua", true},
		{p + "1 nofua", true},
		{s + "1 cleaner", true},
		{s + "1 metadata_only", true},
		{s + "1 start_sector", false},         // valued key without value
		{s + "1 bogus", false},
		{s + "2 CLEANER METADATA_ONLY", true}, // keywords are case-insensitive
		{s + "2 High_Watermark 70", true},
	};
	for (const auto &c : cases) {
		Parsed r = parse(c.line);
		if (c.ok) {
			EXPECT_EQ(r.r, 0) << c.line << ": " << r.error;
		} else {
			EXPECT_EQ(r.r, -WC_EINVAL) << c.line;
			const bool wm = c.line.find("low_watermark 100") != std::string::npos;
			EXPECT_EQ(r.error, wm ? "High watermark must be greater than or equal to low watermark" :
					       kInvalidOpt) << c.line;
		}
	}
}

TEST(TableParse, ValuesAndDuplicatesLastWins)
{
	Parsed p = parse("p /dev/vda /dev/pmem0 4096 11 high_watermark 90 high_watermark 80"
			 " nofua fua nofua autocommit_time 5 max_age 6");
	ASSERT_EQ(p.r, 0) << p.error;
	EXPECT_EQ(p.cfg.high_watermark, 80u);
	EXPECT_EQ(p.cfg.writeback_fua, 0);
	EXPECT_EQ(p.cfg.autocommit_time_ms, 5u);
	EXPECT_EQ(p.cfg.max_age_ms, 6u);
	EXPECT_EQ(p.cfg.set, unsigned(WC_SET_HIGH_WATERMARK | WC_SET_FUA |
				      WC_SET_AUTOCOMMIT_TIME | WC_SET_MAX_AGE));
	// %d wraps like the kernel's: 2^32 + 70 reads as 70.
	p = parse("s /dev/vda /dev/vdb 4096 2 high_watermark 4294967366");
	ASSERT_EQ(p.r, 0) << p.error;
	EXPECT_EQ(p.cfg.high_watermark, 70u);
}

TEST(TableFormat, CanonicalOrderWhateverTheInputOrder)
{
	EXPECT_EQ(table("s /dev/vda /dev/vdb 4096 0"), "s 253:0 259:0 4096 0");
	EXPECT_EQ(table("p /dev/vda /dev/pmem0 512 0"), "p 253:0 259:0 512 0");
	EXPECT_EQ(table("s /dev/vda /dev/vdb 4096 18 pause_writeback 12 metadata_only"
			" cleaner max_age 11 autocommit_time 10 autocommit_blocks 9"
			" writeback_jobs 7 low_watermark 40 high_watermark 60 start_sector 8"),
		  "s 253:0 259:0 4096 18 start_sector 8 high_watermark 60 low_watermark 40"
		  " writeback_jobs 7 autocommit_blocks 9 autocommit_time 10 max_age 11"
		  " cleaner metadata_only pause_writeback 12");
	// Duplicates collapse and the word count is recomputed.
	EXPECT_EQ(table("p /dev/vda /dev/pmem0 4096 5 nofua cleaner fua cleaner nofua"),
		  "p 253:0 259:0 4096 2 cleaner nofua");
	EXPECT_EQ(table("p /dev/vda /dev/pmem0 4096 1 fua"), "p 253:0 259:0 4096 1 fua");
}

TEST(TableFormat, TruncatesLikeSnprintf)
{
	Parsed p = parse("s /dev/vda /dev/vdb 4096 1 cleaner");
	ASSERT_EQ(p.r, 0);
	char buf[8];
	size_t n = wc_format_table(&p.cfg, "253:0", "259:0", buf, sizeof(buf));
	EXPECT_EQ(n, std::strlen("s 253:0 259:0 4096 1 cleaner"));
	EXPECT_STREQ(buf, "s 253:0");
}
