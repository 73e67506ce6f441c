// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: wc_parse_table() (the writecache table line).
//
// Input: byte 0 selects the environment, the rest (up to the first NUL)
// is the table line after "writecache", split like dm_split_args().
//   bit 0     1 = no pmem support (pmem_supported = 0)
//   bits 1-2  page size 4096, 16384, 65536, 8192
//   bits 3-4  default_writeback_jobs 65536, 16384, 4096, 1
// So a seed file reads "0 p /dev/pmem0 ..." ('0': pmem, 4 KiB pages).
//
// Checked on every input: the return value and error text are one of
// upstream's pairs; the devices are looked up origin first, then cache;
// the words are not modified; nothing is allocated or left allocated; a
// successful config is sane and survives wc_format_table() -> split ->
// wc_parse_table() unchanged (and formats to the same line again).
#include "fuzz_common.h"

#include <wc_abi.h>

namespace {

constexpr int kENXIO = 6;
constexpr size_t kMaxWords = 64;	// 5 fixed + 1 + 18 options, with room
constexpr size_t kMaxInput = 4096;

// The fake block devices. get_device() accepts a path or, as
// dm_get_device() does, its "major:minor" name (which the TABLE line
// prints); anything else is -ENXIO.
struct Dev {
	const char *path;
	const char *name;
	uint64_t size_bytes;
	uint32_t logical_block_size;
	int err;	// what get_device() returns for it
};

const Dev kDevs[] = {
	{"/dev/sda", "8:0", 1ull << 30, 512, 0},
	{"/dev/sdb", "8:16", 10ull << 30, 4096, 0},
	{"/dev/pmem0", "259:0", 64ull << 20, 512, 0},
	{"/dev/pmem1", "259:1", 16ull << 20, 4096, 0},
	{"/dev/nvme0n1", "259:2", 1ull << 40, 65536, 0},
	{"/dev/vdc", "254:32", 3 * 1000 * 1000 + 123, 1024, 0},
	{"/dev/tiny", "7:0", 4096, 512, 0},
	{"/dev/empty", "7:1", 0, 512, 0},
	{"/dev/huge", "7:2", ~0ull << 12, 4096, 0},
	{"/dev/busy", "7:3", 1ull << 20, 512, -WC_EBUSY},
};
constexpr int kNumDevs = sizeof(kDevs) / sizeof(kDevs[0]);

struct Call {
	wc_dev_role role;
	int dev;	// index into kDevs, -1 if unknown
	int ret;
};

struct FakeEnv {
	std::vector<Call> calls;

	static int get_device(void *ctx, wc_dev_role role, const char *path,
			      wc_dev_info *info)
	{
		auto *self = static_cast<FakeEnv *>(ctx);

		FUZZ_CHECK(path != nullptr, "get_device(NULL)");
		FUZZ_CHECK(role == WC_DEV_ORIGIN || role == WC_DEV_CACHE,
			   "role %d", static_cast<int>(role));
		for (int i = 0; i < kNumDevs; i++) {
			if (std::strcmp(path, kDevs[i].path) &&
			    std::strcmp(path, kDevs[i].name))
				continue;
			self->calls.push_back({role, i, kDevs[i].err});
			if (kDevs[i].err)
				return kDevs[i].err;
			info->size_bytes = kDevs[i].size_bytes;
			info->logical_block_size = kDevs[i].logical_block_size;
			return 0;
		}
		self->calls.push_back({role, -1, -kENXIO});
		return -kENXIO;
	}
};

wc_table_env make_env(uint8_t sel, FakeEnv *fake)
{
	static const uint32_t kPage[] = {4096, 16384, 65536, 8192};
	static const uint32_t kJobs[] = {65536, 16384, 4096, 1};
	wc_table_env env = {};

	env.ctx = fake;
	env.get_device = FakeEnv::get_device;
	env.pmem_supported = !(sel & 1);
	env.page_size = kPage[(sel >> 1) & 3];
	env.default_writeback_jobs = kJobs[(sel >> 3) & 3];
	return env;
}

const char *const kUnset = "(error not set)";

struct Parsed {
	int r;
	const char *error;
	wc_config cfg;
	std::vector<Call> calls;
};

Parsed parse_words(const std::vector<std::string> &words, uint8_t sel,
		   const std::string &line)
{
	FakeEnv fake;
	wc_table_env env = make_env(sel, &fake);
	fuzz::Argv av(words);
	Parsed p;
	const long allocs = wc_plat_alloc_outstanding();

	std::memset(&p.cfg, 0xa5, sizeof(p.cfg));
	p.error = kUnset;	// the parser must overwrite it
	p.r = wc_parse_table(av.argc(), av.argv(), &env, &p.cfg, &p.error);
	p.calls = fake.calls;
	FUZZ_CHECK(av.unchanged(words), "parser modified argv: %s",
		   fuzz::escaped(line).c_str());
	FUZZ_CHECK(wc_plat_alloc_outstanding() == allocs,
		   "parser leaked allocations: %s", fuzz::escaped(line).c_str());
	return p;
}

bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

// Upstream's error texts (src/core/table.cpp), each with its return value.
// Inval: -EINVAL. AfterDevices: -EINVAL, after both devices were acquired.
// NoPmem: -EOPNOTSUPP. *Lookup: what get_device() returned.
enum class Ret { Inval, AfterDevices, NoPmem, OriginLookup, CacheLookup };
const struct {
	const char *text;
	Ret ret;
} kErrors[] = {
	{"Bad arguments", Ret::Inval},
	{"Persistent memory or DAX not supported on this system",
	 Ret::NoPmem},
	{"Origin data device lookup failed", Ret::OriginLookup},
	{"Cache data device lookup failed", Ret::CacheLookup},
	{"Invalid block size", Ret::AfterDevices},
	{"Block size is smaller than device logical block size",
	 Ret::AfterDevices},
	{"Invalid number of feature args", Ret::AfterDevices},
	{"Invalid optional argument", Ret::AfterDevices},
	{"High watermark must be greater than or equal to low watermark",
	 Ret::AfterDevices},
};

void check_failure(const Parsed &p, const wc_table_env &env,
		   const std::string &line)
{
	const char *l = line.c_str();

	FUZZ_CHECK(p.r < 0, "r=%d: %s", p.r, l);
	FUZZ_CHECK(p.error != nullptr && p.error != kUnset,
		   "r=%d without an error text: %s", p.r, l);
	FUZZ_CHECK(p.calls.size() <= 2, "%zu lookups: %s", p.calls.size(), l);
	FUZZ_CHECK(p.calls.empty() || p.calls[0].role == WC_DEV_ORIGIN,
		   "first lookup is not the origin: %s", l);
	FUZZ_CHECK(p.calls.size() < 2 || (p.calls[0].ret == 0 &&
					  p.calls[1].role == WC_DEV_CACHE),
		   "second lookup is not the cache after the origin: %s", l);

	for (const auto &e : kErrors) {
		if (std::strcmp(p.error, e.text))
			continue;
		switch (e.ret) {
		case Ret::Inval:
			FUZZ_CHECK(p.r == -WC_EINVAL, "'%s' r=%d: %s", p.error,
				   p.r, l);
			break;
		case Ret::AfterDevices:
			FUZZ_CHECK(p.r == -WC_EINVAL && p.calls.size() == 2 &&
					   p.calls[1].ret == 0,
				   "'%s' r=%d: %s", p.error, p.r, l);
			break;
		case Ret::NoPmem:
			FUZZ_CHECK(p.r == -WC_EOPNOTSUPP && !env.pmem_supported &&
					   p.calls.empty(),
				   "'%s' r=%d: %s", p.error, p.r, l);
			break;
		case Ret::OriginLookup:
			FUZZ_CHECK(p.calls.size() == 1 &&
					   p.calls[0].role == WC_DEV_ORIGIN &&
					   p.calls[0].ret == p.r,
				   "'%s' r=%d: %s", p.error, p.r, l);
			break;
		case Ret::CacheLookup:
			FUZZ_CHECK(p.calls.size() == 2 &&
					   p.calls[1].role == WC_DEV_CACHE &&
					   p.calls[1].ret == p.r,
				   "'%s' r=%d: %s", p.error, p.r, l);
			break;
		}
		return;
	}
	FUZZ_CHECK(false, "unknown error text '%s' (r=%d): %s",
		   fuzz::escaped(p.error).c_str(), p.r, l);
}

void check_success(const Parsed &p, const wc_table_env &env,
		   const std::string &line)
{
	const char *l = line.c_str();
	const wc_config &c = p.cfg;

	FUZZ_CHECK(p.calls.size() == 2 && p.calls[0].role == WC_DEV_ORIGIN &&
			   p.calls[1].role == WC_DEV_CACHE &&
			   p.calls[0].ret == 0 && p.calls[1].ret == 0,
		   "success without both devices: %s", l);
	const Dev &origin = kDevs[p.calls[0].dev];
	const Dev &cache = kDevs[p.calls[1].dev];
	const uint32_t set = c.set;

	FUZZ_CHECK(!(set & ~((WC_SET_PAUSE_WRITEBACK << 1) - 1)),
		   "unknown set bits %#x: %s", set, l);
	FUZZ_CHECK(c.origin_bytes == origin.size_bytes &&
			   c.cache_bytes == cache.size_bytes,
		   "device sizes: %s", l);
	FUZZ_CHECK(c.pmem <= 1 && c.cleaner <= 1 && c.writeback_fua <= 1 &&
			   c.metadata_only <= 1,
		   "flag byte not 0/1: %s", l);
	FUZZ_CHECK(!c.pmem || env.pmem_supported, "pmem unsupported: %s", l);

	// Block size.
	FUZZ_CHECK(is_pow2(c.block_size) && c.block_size >= 512 &&
			   c.block_size <= env.page_size,
		   "block_size %u (page %u): %s", c.block_size, env.page_size,
		   l);
	FUZZ_CHECK(c.block_size >= origin.logical_block_size &&
			   c.block_size >= cache.logical_block_size,
		   "block_size %u below a logical block size: %s", c.block_size,
		   l);

	// Watermarks.
	FUZZ_CHECK(c.high_watermark <= 100 && c.low_watermark <= 100 &&
			   c.high_watermark >= c.low_watermark,
		   "watermarks %u/%u: %s", c.high_watermark, c.low_watermark, l);
	if (!(set & WC_SET_HIGH_WATERMARK))
		FUZZ_CHECK(c.high_watermark == 50, "default high: %s", l);
	if (!(set & WC_SET_LOW_WATERMARK))
		FUZZ_CHECK(c.low_watermark == 45, "default low: %s", l);

	// start_sector.
	if (set & WC_SET_START_SECTOR)
		FUZZ_CHECK(c.start_sector < (c.cache_bytes >> 9),
			   "start_sector %llu >= %llu sectors: %s",
			   static_cast<unsigned long long>(c.start_sector),
			   static_cast<unsigned long long>(c.cache_bytes >> 9), l);
	else
		FUZZ_CHECK(c.start_sector == 0, "default start_sector: %s", l);

	// Mode-specific options.
	if (set & WC_SET_FUA)
		FUZZ_CHECK(c.pmem, "fua/nofua in SSD mode: %s", l);
	else
		FUZZ_CHECK(c.writeback_fua == c.pmem, "default fua: %s", l);
	if (set & WC_SET_PAUSE_WRITEBACK)
		FUZZ_CHECK(!c.pmem, "pause_writeback in pmem mode: %s", l);
	else
		FUZZ_CHECK(c.pause_writeback_ms == (c.pmem ? 0u : 3000u),
			   "default pause %u: %s", c.pause_writeback_ms, l);
	FUZZ_CHECK(c.pause_writeback_ms <= 60000, "pause %u: %s",
		   c.pause_writeback_ms, l);

	// Times.
	FUZZ_CHECK(c.autocommit_time_ms <= 3600000, "autocommit_time %u: %s",
		   c.autocommit_time_ms, l);
	if (!(set & WC_SET_AUTOCOMMIT_TIME))
		FUZZ_CHECK(c.autocommit_time_ms == 1000, "default time: %s", l);
	FUZZ_CHECK(c.max_age_ms <= 86400000 ||
			   c.max_age_ms == WC_MAX_AGE_UNSPECIFIED,
		   "max_age %u: %s", c.max_age_ms, l);
	if (!(set & WC_SET_MAX_AGE))
		FUZZ_CHECK(c.max_age_ms == WC_MAX_AGE_UNSPECIFIED,
			   "default max_age: %s", l);

	// Other defaults and flags.
	if (!(set & WC_SET_WRITEBACK_JOBS))
		FUZZ_CHECK(c.writeback_jobs == env.default_writeback_jobs,
			   "default writeback_jobs: %s", l);
	if (!(set & WC_SET_AUTOCOMMIT_BLOCKS))
		FUZZ_CHECK(c.autocommit_blocks == (c.pmem ? 64u : 65536u),
			   "default autocommit_blocks: %s", l);
	FUZZ_CHECK(c.cleaner == !!(set & WC_SET_CLEANER), "cleaner: %s", l);
	FUZZ_CHECK(c.metadata_only == !!(set & WC_SET_METADATA_ONLY),
		   "metadata_only: %s", l);
}

bool same_config(const wc_config &a, const wc_config &b)
{
	return a.set == b.set && a.pmem == b.pmem && a.cleaner == b.cleaner &&
	       a.writeback_fua == b.writeback_fua &&
	       a.metadata_only == b.metadata_only &&
	       a.block_size == b.block_size &&
	       a.start_sector == b.start_sector &&
	       a.high_watermark == b.high_watermark &&
	       a.low_watermark == b.low_watermark &&
	       a.writeback_jobs == b.writeback_jobs &&
	       a.autocommit_blocks == b.autocommit_blocks &&
	       a.autocommit_time_ms == b.autocommit_time_ms &&
	       a.max_age_ms == b.max_age_ms &&
	       a.pause_writeback_ms == b.pause_writeback_ms &&
	       a.origin_bytes == b.origin_bytes &&
	       a.cache_bytes == b.cache_bytes;
}

std::string format(const wc_config &c, const char *origin, const char *cache)
{
	char buf[1024];
	size_t n = wc_format_table(&c, origin, cache, buf, sizeof(buf));

	FUZZ_CHECK(n < sizeof(buf), "TABLE line of %zu bytes", n);
	FUZZ_CHECK(std::strlen(buf) == n, "TABLE length %zu vs strlen %zu", n,
		   std::strlen(buf));
	return std::string(buf, n);
}

// wc_format_table() -> split -> wc_parse_table() gives the same config,
// which formats to the same line.
void check_round_trip(const Parsed &p, uint8_t sel, const std::string &line)
{
	const char *origin = kDevs[p.calls[0].dev].name;
	const char *cache = kDevs[p.calls[1].dev].name;
	const std::string table = format(p.cfg, origin, cache);
	const char *l = line.c_str();
	const char *t = table.c_str();

	const std::vector<std::string> words =
		fuzz::split_args(table.c_str(), kMaxWords);
	Parsed again = parse_words(words, sel, table);

	FUZZ_CHECK(again.r == 0, "TABLE line '%s' does not parse (%d, %s); from: %s",
		   t, again.r, again.error ? again.error : "(null)", l);
	FUZZ_CHECK(again.calls.size() == 2 &&
			   again.calls[0].dev == p.calls[0].dev &&
			   again.calls[1].dev == p.calls[1].dev,
		   "TABLE line '%s' names other devices; from: %s", t, l);
	FUZZ_CHECK(same_config(p.cfg, again.cfg),
		   "TABLE line '%s' parses to another config; from: %s", t, l);
	const std::string table2 = format(again.cfg, origin, cache);
	FUZZ_CHECK(table2 == table, "TABLE '%s' then '%s'; from: %s", t,
		   table2.c_str(), l);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > kMaxInput)
		return 0;

	const uint8_t sel = data[0];
	// The line is a C string, as the dm ioctl hands it over.
	const std::string line(reinterpret_cast<const char *>(data + 1),
			       strnlen(reinterpret_cast<const char *>(data + 1),
				       size - 1));
	const std::vector<std::string> words =
		fuzz::split_args(line.c_str(), kMaxWords);
	const std::string shown = fuzz::escaped(line);

	FakeEnv unused;
	const wc_table_env env = make_env(sel, &unused);
	Parsed p = parse_words(words, sel, shown);

	// FUZZ_VERBOSE=1 build/fuzz/fuzz_table FILE...: what each input does.
	static const bool verbose = std::getenv("FUZZ_VERBOSE");
	if (verbose) {
		std::string what =
			p.r && p.error && p.error != kUnset ? p.error : "";
		if (p.r == 0 && p.calls.size() == 2 && p.calls[0].dev >= 0 &&
		    p.calls[1].dev >= 0)
			what = format(p.cfg, kDevs[p.calls[0].dev].name,
				      kDevs[p.calls[1].dev].name);
		std::fprintf(stderr, "fuzz_table: '%s' -> %d %s\n",
			     shown.c_str(), p.r, what.c_str());
	}

	if (p.r == 0) {
		check_success(p, env, shown);
		check_round_trip(p, sel, shown);
	} else {
		check_failure(p, env, shown);
	}
	return 0;
}
