// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: wc_format_info() and wc_format_table() into buffers of
// arbitrary length, 0..full length + 16.
//
// Input (FuzzedDataProvider): the 14 status counters, a wc_config with
// arbitrary field values and set bits, two device names and the buffer
// lengths to try. For every length: the return value is the untruncated
// length; the buffer (an exact-size heap block, so ASan sees any write past
// len) holds the NUL-terminated prefix of the full line when len > 0; bytes
// after the terminator are untouched; len == 0 writes nothing (also with a
// NULL buffer). The full line must equal a snprintf() rendering of
// upstream's formats.
#include "fuzz_common.h"

#include <fuzzer/FuzzedDataProvider.h>
#include <wc_abi.h>

namespace {

constexpr uint8_t kFill = 0xa5;

// A counter value: mostly values near the decimal digit-count boundaries,
// where length bugs live.
uint64_t counter(FuzzedDataProvider &in)
{
	switch (in.ConsumeIntegralInRange<int>(0, 3)) {
	case 0:
		return in.ConsumeIntegralInRange<uint64_t>(0, 255);
	case 1: {
		uint64_t p = 1;
		int digits = in.ConsumeIntegralInRange<int>(0, 19);
		for (int i = 0; i < digits; i++)
			p *= 10;
		return p + in.ConsumeIntegralInRange<uint64_t>(0, 2) - 1;
	}
	case 2:
		return ~0ull - in.ConsumeIntegralInRange<uint64_t>(0, 2);
	default:
		return in.ConsumeIntegral<uint64_t>();
	}
}

uint32_t counter32(FuzzedDataProvider &in)
{
	return in.ConsumeBool() ? static_cast<uint32_t>(counter(in)) :
				  in.ConsumeIntegral<uint32_t>();
}

std::string ref_info(const wc_status &st)
{
	char buf[512];
	const int n = std::snprintf(
		buf, sizeof(buf),
		"%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		(unsigned long long)st.error, (unsigned long long)st.n_blocks,
		(unsigned long long)st.free_blocks,
		(unsigned long long)st.writeback_blocks,
		(unsigned long long)st.reads, (unsigned long long)st.read_hits,
		(unsigned long long)st.writes,
		(unsigned long long)st.write_hits_uncommitted,
		(unsigned long long)st.write_hits_committed,
		(unsigned long long)st.writes_around,
		(unsigned long long)st.writes_allocate,
		(unsigned long long)st.writes_blocked_on_freelist,
		(unsigned long long)st.flushes, (unsigned long long)st.discards);
	return std::string(buf, static_cast<size_t>(n));
}

// Upstream's STATUSTYPE_TABLE (writecache_status()), with snprintf.
std::string ref_table(const wc_config &c, const char *origin, const char *cache)
{
	std::string s;
	char tmp[64];
	const uint32_t set = c.set;
	unsigned int words = 0;

	s += c.pmem ? 'p' : 's';
	s += ' ';
	s += origin;
	s += ' ';
	s += cache;
	std::snprintf(tmp, sizeof(tmp), " %u ", c.block_size);
	s += tmp;

	const uint32_t valued = WC_SET_START_SECTOR | WC_SET_HIGH_WATERMARK |
				WC_SET_LOW_WATERMARK | WC_SET_WRITEBACK_JOBS |
				WC_SET_AUTOCOMMIT_BLOCKS | WC_SET_AUTOCOMMIT_TIME |
				WC_SET_MAX_AGE | WC_SET_PAUSE_WRITEBACK;
	const uint32_t flags = WC_SET_CLEANER | WC_SET_FUA | WC_SET_METADATA_ONLY;
	words = 2 * __builtin_popcount(set & valued) +
		__builtin_popcount(set & flags);
	std::snprintf(tmp, sizeof(tmp), "%u", words);
	s += tmp;

	auto opt = [&](uint32_t bit, const char *key, unsigned long long v) {
		if (!(set & bit))
			return;
		std::snprintf(tmp, sizeof(tmp), " %s %llu", key, v);
		s += tmp;
	};
	opt(WC_SET_START_SECTOR, "start_sector", c.start_sector);
	opt(WC_SET_HIGH_WATERMARK, "high_watermark", c.high_watermark);
	opt(WC_SET_LOW_WATERMARK, "low_watermark", c.low_watermark);
	opt(WC_SET_WRITEBACK_JOBS, "writeback_jobs", c.writeback_jobs);
	opt(WC_SET_AUTOCOMMIT_BLOCKS, "autocommit_blocks", c.autocommit_blocks);
	opt(WC_SET_AUTOCOMMIT_TIME, "autocommit_time", c.autocommit_time_ms);
	opt(WC_SET_MAX_AGE, "max_age", c.max_age_ms);
	if (set & WC_SET_CLEANER)
		s += " cleaner";
	if (set & WC_SET_FUA)
		s += c.writeback_fua ? " fua" : " nofua";
	if (set & WC_SET_METADATA_ONLY)
		s += " metadata_only";
	opt(WC_SET_PAUSE_WRITEBACK, "pause_writeback", c.pause_writeback_ms);
	return s;
}

// Format into an exact-size buffer of len bytes and check the result
// against the full line.
template <typename Fn>
void check_len(const char *what, Fn fmt, const std::string &full, size_t len)
{
	const char *f = full.c_str();

	if (len == 0) {
		size_t n = fmt(nullptr, 0);
		FUZZ_CHECK(n == full.size(), "%s(NULL, 0) = %zu, want %zu (%s)",
			   what, n, full.size(), f);
		// A real buffer and len 0: not a byte written.
		char guard = static_cast<char>(kFill);
		n = fmt(&guard, 0);
		FUZZ_CHECK(n == full.size() && guard == static_cast<char>(kFill),
			   "%s(buf, 0) = %zu wrote %#x (%s)", what, n,
			   static_cast<unsigned char>(guard), f);
		return;
	}

	char *buf = static_cast<char *>(std::malloc(len));
	std::memset(buf, kFill, len);
	const size_t n = fmt(buf, len);
	const size_t kept = full.size() < len - 1 ? full.size() : len - 1;

	FUZZ_CHECK(n == full.size(), "%s(len %zu) = %zu, want %zu (%s)", what,
		   len, n, full.size(), f);
	FUZZ_CHECK(buf[kept] == '\0', "%s(len %zu): no NUL at %zu (%s)", what,
		   len, kept, f);
	FUZZ_CHECK(std::memcmp(buf, f, kept) == 0,
		   "%s(len %zu): '%.*s' is not a prefix of '%s'", what, len,
		   static_cast<int>(kept), buf, f);
	for (size_t i = kept + 1; i < len; i++)
		FUZZ_CHECK(static_cast<uint8_t>(buf[i]) == kFill,
			   "%s(len %zu): byte %zu after the NUL written (%s)",
			   what, len, i, f);
	std::free(buf);
}

// The lengths to try: the edges around the full length, 0 and 1, and a
// few the input picks.
std::vector<size_t> lengths(FuzzedDataProvider &in, size_t full)
{
	std::vector<size_t> lens = {0, 1, 2, full - 1, full, full + 1};
	for (int i = 0; i < 4 && in.remaining_bytes(); i++)
		lens.push_back(in.ConsumeIntegralInRange<size_t>(0, full + 16));
	return lens;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzedDataProvider in(data, size);

	wc_status st;
	uint64_t *fields[] = {
		&st.error, &st.n_blocks, &st.free_blocks, &st.writeback_blocks,
		&st.reads, &st.read_hits, &st.writes,
		&st.write_hits_uncommitted, &st.write_hits_committed,
		&st.writes_around, &st.writes_allocate,
		&st.writes_blocked_on_freelist, &st.flushes, &st.discards,
	};
	for (uint64_t *f : fields)
		*f = counter(in);

	wc_config c;
	std::memset(&c, 0, sizeof(c));
	c.set = in.ConsumeIntegral<uint32_t>();
	c.pmem = in.ConsumeIntegral<uint8_t>();
	c.cleaner = in.ConsumeIntegral<uint8_t>();
	c.writeback_fua = in.ConsumeIntegral<uint8_t>();
	c.metadata_only = in.ConsumeIntegral<uint8_t>();
	c.block_size = counter32(in);
	c.start_sector = counter(in);
	c.high_watermark = counter32(in);
	c.low_watermark = counter32(in);
	c.writeback_jobs = counter32(in);
	c.autocommit_blocks = counter32(in);
	c.autocommit_time_ms = counter32(in);
	c.max_age_ms = counter32(in);
	c.pause_writeback_ms = counter32(in);
	c.origin_bytes = counter(in);
	c.cache_bytes = counter(in);
	const std::string origin = in.ConsumeRandomLengthString(80);
	const std::string cache = in.ConsumeRandomLengthString(80);
	const char *o = origin.c_str();	// up to an embedded NUL, like the kernel
	const char *ca = cache.c_str();

	// The full lines, with room to spare, against the references.
	char big[2048];
	const std::string info = ref_info(st);
	size_t n = wc_format_info(&st, big, sizeof(big));
	FUZZ_CHECK(n == info.size() && info == big, "INFO '%s' (%zu), want '%s'",
		   big, n, info.c_str());
	const std::string table = ref_table(c, o, ca);
	n = wc_format_table(&c, o, ca, big, sizeof(big));
	FUZZ_CHECK(n == table.size() && table == big,
		   "TABLE '%s' (%zu), want '%s'", fuzz::escaped(big).c_str(), n,
		   fuzz::escaped(table).c_str());

	const std::vector<size_t> info_lens = lengths(in, info.size());
	const std::vector<size_t> table_lens = lengths(in, table.size());
	for (size_t len : info_lens)
		check_len("wc_format_info",
			  [&](char *buf, size_t l) {
				  return wc_format_info(&st, buf, l);
			  },
			  info, len);
	for (size_t len : table_lens)
		check_len("wc_format_table",
			  [&](char *buf, size_t l) {
				  return wc_format_table(&c, o, ca, buf, l);
			  },
			  table, len);
	return 0;
}
