// SPDX-License-Identifier: GPL-2.0
// wc-crashcheck: reads every block of a device (the writecache rebuilt on a
// replayed crash state) and checks it against the workload's journal
// (check.h says what is allowed).  Exit 0 when every block is allowed, 1
// when one is not, 2 on errors.
#include "check.h"
#include "common.h"
#include "journal.h"
#include "tag.h"

#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

using namespace lw;

namespace {

void usage()
{
	fprintf(stderr,
		"usage: wc-crashcheck --dev DEV --journal FILE [--last-mark M] [--next-mark M]\n"
		"         [--mark-prefix P] [--max-report N] [--label TEXT]\n"
		"  marks are names such as wcm17 (or numbers); empty or 'none': no mark\n");
}

int run(int argc, char **argv)
{
	std::string dev, journal, last, next, prefix = "wcm", label;
	uint64_t max_report = 10;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		std::string v = argv[++i];
		if (a == "--dev")
			dev = v;
		else if (a == "--journal")
			journal = v;
		else if (a == "--last-mark")
			last = v;
		else if (a == "--next-mark")
			next = v;
		else if (a == "--mark-prefix")
			prefix = v;
		else if (a == "--max-report")
			max_report = parse_size(v, "--max-report");
		else if (a == "--label")
			label = v;
		else {
			usage();
			return 2;
		}
	}
	if (dev.empty() || journal.empty()) {
		usage();
		return 2;
	}
	Journal j = Journal::load(journal);
	Expect ex(j, parse_mark(last, prefix), parse_mark(next, prefix));

	int fd = open(dev.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_errno("open %s", dev.c_str());
	if (fd_is_blockdev(fd)) {
		// Read the device, not a page cache filled before the crash state.
		close(fd);
		fd = open(dev.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (fd < 0)
			fail_errno("open %s O_DIRECT", dev.c_str());
	}
	const uint64_t devblocks = fd_size(fd, dev) / kBlockBytes;
	if (devblocks < j.blocks)
		fail("%s has %llu blocks, the journal %llu", dev.c_str(),
		     (unsigned long long)devblocks, (unsigned long long)j.blocks);

	const uint64_t per = 256;
	AlignedBuf buf(per * kBlockBytes);
	CheckStats st;
	for (uint64_t b = 0; b < j.blocks; b += per) {
		uint64_t n = std::min(per, j.blocks - b);
		pread_full(fd, buf.data(), n * kBlockBytes, b * kBlockBytes, dev);
		for (uint64_t i = 0; i < n; i++) {
			std::string why = ex.verify(b + i, buf.data() + i * kBlockBytes, st);
			if (!why.empty() && st.bad <= max_report)
				printf("BAD block %llu: %s\n", (unsigned long long)(b + i), why.c_str());
		}
	}
	close(fd);
	printf("%s%s%s: last %s next %s: %llu blocks, %llu ops acknowledged: initial %llu, "
	       "acknowledged %llu, newer %llu, discarded %llu, BAD %llu\n",
	       label.c_str(), label.empty() ? "" : " ", st.bad ? "FAIL" : "ok",
	       last.empty() ? "none" : last.c_str(), next.empty() ? "none" : next.c_str(),
	       (unsigned long long)st.blocks, (unsigned long long)ex.acked_ops(),
	       (unsigned long long)st.initial, (unsigned long long)st.acked,
	       (unsigned long long)st.newer, (unsigned long long)st.discarded,
	       (unsigned long long)st.bad);
	return st.bad ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	try {
		return run(argc, argv);
	} catch (const std::exception &e) {
		fprintf(stderr, "wc-crashcheck: %s\n", e.what());
		return 2;
	}
}
