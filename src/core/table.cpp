// SPDX-License-Identifier: GPL-2.0
// The writecache table line: parsing (upstream's order and error texts,
// so that dmesg reads the same as with the stock target) and the canonical
// STATUSTYPE_TABLE rendering.
#include "text.h"

#include <wc_abi.h>

namespace wc {
namespace {

constexpr uint32_t kMaxOptWords = 18;
constexpr uint32_t kDefaultHighWatermark = 50;
constexpr uint32_t kDefaultLowWatermark = 45;
constexpr uint32_t kAutocommitBlocksSsd = 65536;
constexpr uint32_t kAutocommitBlocksPmem = 64;
constexpr uint32_t kAutocommitMs = 1000;
constexpr uint32_t kPauseWritebackMs = 3000;
constexpr uint32_t kMaxAutocommitMs = 3600000;
constexpr uint32_t kMaxAgeMs = 86400000;
constexpr uint32_t kMaxPauseMs = 60000;

// dm_shift_arg() over the argument vector.
class Args {
public:
	Args(unsigned int argc, char **argv) : argc_(argc), argv_(argv) {}
	const char *shift()
	{
		if (argc_ == 0)
			return nullptr;
		argc_--;
		return *argv_++;
	}
	unsigned int remaining() const { return argc_; }

private:
	unsigned int argc_;
	char **argv_;
};

struct Failure {
	int err;
	const char *msg;
};

constexpr Failure kBadArguments = {-WC_EINVAL, "Bad arguments"};
constexpr Failure kInvalidOptional = {-WC_EINVAL, "Invalid optional argument"};

// Each optional keyword: how it parses its value (if any) into cfg.
// Returns false for "Invalid optional argument".
bool parse_optional(Args &as, uint32_t &opt_words, const char *key,
		    wc_config *cfg)
{
	const bool has_value = opt_words >= 1;
	uint32_t u32;
	int32_t i32;
	uint64_t u64;

	if (equals_nocase(key, "start_sector") && has_value) {
		opt_words--;
		if (!parse_u64_word(as.shift(), &u64))
			return false;
		cfg->start_sector = u64;
		cfg->set |= WC_SET_START_SECTOR;
		// sector_t is 64-bit on every arch we build for.
		return u64 < (cfg->cache_bytes >> 9);
	}
	if (equals_nocase(key, "high_watermark") && has_value) {
		opt_words--;
		if (!parse_int_word(as.shift(), &i32) || i32 < 0 || i32 > 100)
			return false;
		cfg->high_watermark = static_cast<uint32_t>(i32);
		cfg->set |= WC_SET_HIGH_WATERMARK;
		return true;
	}
	if (equals_nocase(key, "low_watermark") && has_value) {
		opt_words--;
		if (!parse_int_word(as.shift(), &i32) || i32 < 0 || i32 > 100)
			return false;
		cfg->low_watermark = static_cast<uint32_t>(i32);
		cfg->set |= WC_SET_LOW_WATERMARK;
		return true;
	}
	if (equals_nocase(key, "writeback_jobs") && has_value) {
		opt_words--;
		if (!parse_u32_word(as.shift(), &u32))
			return false;
		cfg->writeback_jobs = u32;
		cfg->set |= WC_SET_WRITEBACK_JOBS;
		return true;
	}
	if (equals_nocase(key, "autocommit_blocks") && has_value) {
		opt_words--;
		if (!parse_u32_word(as.shift(), &u32))
			return false;
		cfg->autocommit_blocks = u32;
		cfg->set |= WC_SET_AUTOCOMMIT_BLOCKS;
		return true;
	}
	if (equals_nocase(key, "autocommit_time") && has_value) {
		opt_words--;
		if (!parse_u32_word(as.shift(), &u32) || u32 > kMaxAutocommitMs)
			return false;
		cfg->autocommit_time_ms = u32;
		cfg->set |= WC_SET_AUTOCOMMIT_TIME;
		return true;
	}
	if (equals_nocase(key, "max_age") && has_value) {
		opt_words--;
		if (!parse_u32_word(as.shift(), &u32) || u32 > kMaxAgeMs)
			return false;
		cfg->max_age_ms = u32;
		cfg->set |= WC_SET_MAX_AGE;
		return true;
	}
	if (equals_nocase(key, "cleaner")) {
		cfg->cleaner = 1;
		cfg->set |= WC_SET_CLEANER;
		return true;
	}
	if (equals_nocase(key, "fua") || equals_nocase(key, "nofua")) {
		if (!cfg->pmem)
			return false;
		cfg->writeback_fua = equals_nocase(key, "fua");
		cfg->set |= WC_SET_FUA;
		return true;
	}
	if (equals_nocase(key, "metadata_only")) {
		cfg->metadata_only = 1;
		cfg->set |= WC_SET_METADATA_ONLY;
		return true;
	}
	if (equals_nocase(key, "pause_writeback") && has_value) {
		if (cfg->pmem)
			return false;
		opt_words--;
		if (!parse_u32_word(as.shift(), &u32) || u32 > kMaxPauseMs)
			return false;
		cfg->pause_writeback_ms = u32;
		cfg->set |= WC_SET_PAUSE_WRITEBACK;
		return true;
	}
	return false;
}

Failure parse(unsigned int argc, char **argv, const wc_table_env *env,
	      wc_config *cfg)
{
	Args as(argc, argv);
	wc_dev_info origin = {}, cache = {};
	const char *word;

	*cfg = wc_config{};

	word = as.shift();
	if (!word)
		return kBadArguments;
	if (equals_nocase(word, "s")) {
		cfg->pmem = 0;
	} else if (equals_nocase(word, "p")) {
		if (!env->pmem_supported)
			return {-WC_EOPNOTSUPP,
				"Persistent memory or DAX not supported on this system"};
		cfg->pmem = 1;
		cfg->writeback_fua = 1;
	} else {
		return kBadArguments;
	}

	word = as.shift();
	if (!word)
		return kBadArguments;
	int r = env->get_device(env->ctx, WC_DEV_ORIGIN, word, &origin);
	if (r)
		return {r, "Origin data device lookup failed"};

	word = as.shift();
	if (!word)
		return kBadArguments;
	r = env->get_device(env->ctx, WC_DEV_CACHE, word, &cache);
	if (r)
		return {r, "Cache data device lookup failed"};
	cfg->origin_bytes = origin.size_bytes;
	cfg->cache_bytes = cache.size_bytes;

	word = as.shift();
	if (!word)
		return kBadArguments;
	uint32_t bs;
	if (!parse_u32_word(word, &bs) || bs < 512 || bs > env->page_size ||
	    (bs & (bs - 1)))
		return {-WC_EINVAL, "Invalid block size"};
	if (bs < origin.logical_block_size || bs < cache.logical_block_size)
		return {-WC_EINVAL,
			"Block size is smaller than device logical block size"};
	cfg->block_size = bs;

	cfg->high_watermark = kDefaultHighWatermark;
	cfg->low_watermark = kDefaultLowWatermark;
	cfg->writeback_jobs = env->default_writeback_jobs;
	cfg->autocommit_blocks = cfg->pmem ? kAutocommitBlocksPmem :
					     kAutocommitBlocksSsd;
	cfg->autocommit_time_ms = kAutocommitMs;
	cfg->max_age_ms = WC_MAX_AGE_UNSPECIFIED;
	cfg->pause_writeback_ms = cfg->pmem ? 0 : kPauseWritebackMs;

	// dm_read_arg_group(): the word count, 0..18, and that many words.
	constexpr Failure kBadCount = {-WC_EINVAL, "Invalid number of feature args"};
	uint32_t opt_words;
	word = as.shift();
	if (!word || !parse_u32_word(word, &opt_words) ||
	    opt_words > kMaxOptWords || as.remaining() < opt_words)
		return kBadCount;

	while (opt_words) {
		word = as.shift();
		opt_words--;
		if (!parse_optional(as, opt_words, word, cfg))
			return kInvalidOptional;
	}

	if (cfg->high_watermark < cfg->low_watermark)
		return {-WC_EINVAL,
			"High watermark must be greater than or equal to low watermark"};
	return {0, nullptr};
}

} // namespace
} // namespace wc

extern "C" int wc_parse_table(unsigned int argc, char **argv,
			      const struct wc_table_env *env,
			      struct wc_config *cfg, const char **error)
{
	wc::Failure f = wc::parse(argc, argv, env, cfg);

	*error = f.msg;
	return f.err;
}

extern "C" size_t wc_format_table(const struct wc_config *cfg,
				  const char *origin_name,
				  const char *cache_name, char *buf, size_t len)
{
	wc::TextBuf out(buf, len);
	const uint32_t set = cfg->set;
	uint64_t words = 0;

	out.put(cfg->pmem ? 'p' : 's');
	out.put(' ');
	out.put(origin_name);
	out.put(' ');
	out.put(cache_name);
	out.put(' ');
	out.put_u64(cfg->block_size);
	out.put(' ');

	static constexpr uint32_t kValued[] = {
		WC_SET_START_SECTOR, WC_SET_HIGH_WATERMARK, WC_SET_LOW_WATERMARK,
		WC_SET_WRITEBACK_JOBS, WC_SET_AUTOCOMMIT_BLOCKS,
		WC_SET_AUTOCOMMIT_TIME, WC_SET_MAX_AGE, WC_SET_PAUSE_WRITEBACK,
	};
	static constexpr uint32_t kFlags[] = {
		WC_SET_CLEANER, WC_SET_FUA, WC_SET_METADATA_ONLY,
	};
	for (uint32_t bit : kValued)
		words += (set & bit) ? 2 : 0;
	for (uint32_t bit : kFlags)
		words += (set & bit) ? 1 : 0;
	out.put_u64(words);

	auto valued = [&](uint32_t bit, const char *key, uint64_t v) {
		if (!(set & bit))
			return;
		out.put(' ');
		out.put(key);
		out.put(' ');
		out.put_u64(v);
	};
	valued(WC_SET_START_SECTOR, "start_sector", cfg->start_sector);
	valued(WC_SET_HIGH_WATERMARK, "high_watermark", cfg->high_watermark);
	valued(WC_SET_LOW_WATERMARK, "low_watermark", cfg->low_watermark);
	valued(WC_SET_WRITEBACK_JOBS, "writeback_jobs", cfg->writeback_jobs);
	valued(WC_SET_AUTOCOMMIT_BLOCKS, "autocommit_blocks",
	       cfg->autocommit_blocks);
	valued(WC_SET_AUTOCOMMIT_TIME, "autocommit_time",
	       cfg->autocommit_time_ms);
	valued(WC_SET_MAX_AGE, "max_age", cfg->max_age_ms);
	if (set & WC_SET_CLEANER)
		out.put(" cleaner");
	if (set & WC_SET_FUA)
		out.put(cfg->writeback_fua ? " fua" : " nofua");
	if (set & WC_SET_METADATA_ONLY)
		out.put(" metadata_only");
	valued(WC_SET_PAUSE_WRITEBACK, "pause_writeback",
	       cfg->pause_writeback_ms);
	return out.length();
}
