// SPDX-License-Identifier: GPL-2.0
// INFO status rendering and message-word recognition (upstream's formats).
#include "text.h"

#include <wc_abi.h>

extern "C" size_t wc_format_info(const struct wc_status *st, char *buf,
				 size_t len)
{
	const uint64_t fields[] = {
		st->error, st->n_blocks, st->free_blocks, st->writeback_blocks,
		st->reads, st->read_hits, st->writes,
		st->write_hits_uncommitted, st->write_hits_committed,
		st->writes_around, st->writes_allocate,
		st->writes_blocked_on_freelist, st->flushes, st->discards,
	};
	wc::TextBuf out(buf, len);

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (i)
			out.put(' ');
		out.put_u64(fields[i]);
	}
	return out.length();
}

extern "C" enum wc_message wc_parse_message(unsigned int argc, char **argv)
{
	static constexpr struct {
		const char *word;
		wc_message msg;
	} kMessages[] = {
		{"flush", WC_MSG_FLUSH},
		{"flush_on_suspend", WC_MSG_FLUSH_ON_SUSPEND},
		{"cleaner", WC_MSG_CLEANER},
		{"clear_stats", WC_MSG_CLEAR_STATS},
	};

	if (argc == 0)
		return WC_MSG_INVALID;
	for (const auto &m : kMessages)
		if (wc::equals_nocase(argv[0], m.word))
			return argc == 1 ? m.msg : WC_MSG_INVALID;
	return WC_MSG_UNKNOWN;
}
