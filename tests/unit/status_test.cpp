// SPDX-License-Identifier: GPL-2.0
// INFO status line, message words and on-media geometry.
#include <wc/layout.h>
#include <wc_abi.h>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

TEST(InfoStatus, FourteenFieldsInUpstreamOrder)
{
	wc_status st = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18446744073709551615ull};
	char buf[512];
	wc_format_info(&st, buf, sizeof(buf));
	EXPECT_STREQ(buf, "1 2 3 4 5 6 7 8 9 10 11 12 13 18446744073709551615");
	wc_status zero = {};
	wc_format_info(&zero, buf, sizeof(buf));
	EXPECT_STREQ(buf, "0 0 0 0 0 0 0 0 0 0 0 0 0 0");
}

namespace {
wc_message msg(std::vector<std::string> words)
{
	std::vector<char *> argv;
	for (auto &w : words)
		argv.push_back(w.data());
	return wc_parse_message(static_cast<unsigned>(argv.size()), argv.data());
}
} // namespace

TEST(Messages, WordsAndCounts)
{
	EXPECT_EQ(msg({"flush"}), WC_MSG_FLUSH);
	EXPECT_EQ(msg({"FLUSH"}), WC_MSG_FLUSH);
	EXPECT_EQ(msg({"flush_on_suspend"}), WC_MSG_FLUSH_ON_SUSPEND);
	EXPECT_EQ(msg({"cleaner"}), WC_MSG_CLEANER);
	EXPECT_EQ(msg({"clear_stats"}), WC_MSG_CLEAR_STATS);
	EXPECT_EQ(msg({"flush", "now"}), WC_MSG_INVALID); // -EINVAL, no DMERR
	EXPECT_EQ(msg({"frobnicate"}), WC_MSG_UNKNOWN);
	EXPECT_EQ(msg({"frobnicate", "x"}), WC_MSG_UNKNOWN);
	EXPECT_EQ(msg({}), WC_MSG_INVALID);
}

namespace {
// Upstream's calculate_memory_size(), step for step, as the oracle.
int upstream_n_blocks(uint64_t size, uint32_t bs, uint64_t *n_out)
{
	uint64_t n = size / (bs + 16);
	while (true) {
		if (!n)
			return -WC_ENOSPC;
		uint64_t off = 64 + 16 * n;
		off = (off + bs - 1) & ~uint64_t(bs - 1);
		if (off + n * bs <= size)
			break;
		n--;
	}
	if (n >= (1ull << 47))
		return -WC_EFBIG;
	*n_out = n;
	return 0;
}
} // namespace

TEST(Layout, OneGibWith4kBlocksHolds261123)
{
	uint64_t n = 0, off = 0;
	ASSERT_EQ(wc_layout_n_blocks(1ull << 30, 4096, &n, &off), 0);
	EXPECT_EQ(n, 261123u);
	EXPECT_EQ(off, 4182016u);
	EXPECT_EQ(off, wc::layout::data_offset(n, 4096));
}

TEST(Layout, TooSmallIsEnospc)
{
	uint64_t n = 0;
	EXPECT_EQ(wc_layout_n_blocks(0, 4096, &n, nullptr), -WC_ENOSPC);
	EXPECT_EQ(wc_layout_n_blocks(4096, 4096, &n, nullptr), -WC_ENOSPC);
	EXPECT_EQ(wc_layout_n_blocks(8191, 4096, &n, nullptr), -WC_ENOSPC);
	ASSERT_EQ(wc_layout_n_blocks(8192, 4096, &n, nullptr), 0);
	EXPECT_EQ(n, 1u);
}

TEST(Layout, MatchesUpstreamLoopOnRandomSizes)
{
	std::mt19937_64 rng(12345);
	for (int i = 0; i < 20000; i++) {
		uint32_t bs = 512u << (rng() % 4);
		uint64_t size = rng() % (i % 2 ? (1ull << 24) : (1ull << 40));
		uint64_t want = 0, got = 0;
		int rw = upstream_n_blocks(size, bs, &want);
		int rg = wc_layout_n_blocks(size, bs, &got, nullptr);
		ASSERT_EQ(rg, rw) << size << " " << bs;
		if (!rw) {
			ASSERT_EQ(got, want) << size << " " << bs;
		}
	}
}

TEST(Layout, SuperblockFieldOffsetsAreUpstreams)
{
	using namespace wc::layout;
	EXPECT_EQ(kMagic, 0x23489321u);
	EXPECT_EQ(kOffMagic, 0u);
	EXPECT_EQ(kOffVersion, 4u);
	EXPECT_EQ(kOffBlockSize, 8u);
	EXPECT_EQ(kOffPad, 12u);
	EXPECT_EQ(kOffNBlocks, 16u);
	EXPECT_EQ(kOffSeqCount, 24u);
	EXPECT_EQ(entry_offset(0), 64u);
	EXPECT_EQ(entry_offset(3), 112u);
}
