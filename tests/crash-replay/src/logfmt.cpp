// SPDX-License-Identifier: GPL-2.0
#include "logfmt.h"

#include "common.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace lw {

std::string flags_str(uint64_t flags)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {
		{ kFlagFlush, "FLUSH" }, { kFlagFua, "FUA" }, { kFlagDiscard, "DISCARD" },
		{ kFlagMark, "MARK" },	 { kFlagMeta, "META" },
	};
	std::string s;
	for (const auto &n : names) {
		if (flags & n.bit) {
			if (!s.empty())
				s += '|';
			s += n.name;
			flags &= ~n.bit;
		}
	}
	if (flags)
		s += strf("%s0x%llx", s.empty() ? "" : "|", (unsigned long long)flags);
	return s.empty() ? "WRITE" : s;
}

LogSuper parse_super(const uint8_t *buf, size_t len)
{
	if (len < 28)
		fail("log super block too short");
	LogSuper s;
	s.magic = get_le64(buf);
	s.version = get_le64(buf + 8);
	s.nr_entries = get_le64(buf + 16);
	s.sectorsize = get_le32(buf + 24);
	if (s.magic != kLogMagic)
		fail("not a dm-log-writes log (magic 0x%llx)", (unsigned long long)s.magic);
	if (s.version != kLogVersion)
		fail("unsupported log version %llu", (unsigned long long)s.version);
	if (s.sectorsize < 512 || s.sectorsize > 65536 || (s.sectorsize & (s.sectorsize - 1)))
		fail("bad log sectorsize %u", s.sectorsize);
	return s;
}

// One aligned window of the log; sequential reading touches each byte once.
struct LogReader::Chunk {
	static constexpr size_t kBytes = 1 << 20;
	AlignedBuf buf{ kBytes };
	uint64_t start = 0;
	size_t len = 0;
};

LogReader::LogReader(const std::string &path) : path_(path), chunk_(new Chunk)
{
	fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd_ < 0)
		fail_errno("open %s", path.c_str());
	if (fd_is_blockdev(fd_)) {
		// Reopen O_DIRECT: the log was written by bios under the page cache.
		int dfd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
		if (dfd < 0) {
			int e = errno;
			close(fd_);
			errno = e;
			fail_errno("open %s O_DIRECT", path.c_str());
		}
		close(fd_);
		fd_ = dfd;
	}
	size_ = fd_size(fd_, path_);
	uint8_t sb[32];
	if (size_ < sizeof(sb))
		fail("%s: too small for a log", path.c_str());
	read(0, sb, sizeof(sb));
	super_ = parse_super(sb, sizeof(sb));
	rewind();
}

LogReader::~LogReader()
{
	if (fd_ >= 0)
		close(fd_);
}

void LogReader::rewind()
{
	next_index_ = 0;
	next_pos_ = super_.sectorsize;
}

void LogReader::read(uint64_t off, uint8_t *dst, size_t len)
{
	if (off > size_ || len > size_ - off)
		fail("%s: log entry beyond the end of the log (offset %llu)", path_.c_str(),
		     (unsigned long long)off);
	Chunk &c = *chunk_;
	while (len) {
		if (off < c.start || off >= c.start + c.len) {
			c.start = off & ~static_cast<uint64_t>(Chunk::kBytes - 1);
			c.len = static_cast<size_t>(std::min<uint64_t>(Chunk::kBytes, size_ - c.start));
			// O_DIRECT needs aligned lengths; the device size is a
			// multiple of its logical block size, files do not care.
			pread_full(fd_, c.buf.data(), c.len, c.start, path_);
		}
		size_t at = static_cast<size_t>(off - c.start);
		size_t n = std::min(len, c.len - at);
		memcpy(dst, c.buf.data() + at, n);
		dst += n;
		off += n;
		len -= n;
	}
}

bool LogReader::next(LogEntry &e, std::vector<uint8_t> *data)
{
	if (next_index_ >= super_.nr_entries)
		return false;
	const uint32_t ss = super_.sectorsize;
	std::vector<uint8_t> hdr(ss);
	read(next_pos_, hdr.data(), ss);
	e = LogEntry();
	e.index = next_index_;
	e.pos = next_pos_;
	e.sector = get_le64(hdr.data());
	e.nr_sectors = get_le64(hdr.data() + 8);
	e.flags = get_le64(hdr.data() + 16);
	e.data_len = get_le64(hdr.data() + 24);

	uint64_t payload = 0;
	if (e.is_mark()) {
		if (e.data_len >= ss - kEntryHeaderBytes)
			fail("entry %llu: mark length %llu does not fit a sector",
			     (unsigned long long)e.index, (unsigned long long)e.data_len);
		e.mark.assign(reinterpret_cast<const char *>(hdr.data() + kEntryHeaderBytes),
			      static_cast<size_t>(e.data_len));
	} else if (e.data_len) {
		// The kernel only gives marks inline data.
		fail("entry %llu: inline data on a non-mark entry is not supported",
		     (unsigned long long)e.index);
	}
	// Like the kernel's next_sector: every entry but a discard is followed
	// by nr_sectors units of data (none for marks and empty flushes).
	if (!e.is_discard()) {
		if (e.nr_sectors > (size_ - e.pos) / ss)
			fail("entry %llu at %llu: %llu sectors run past the end of the log",
			     (unsigned long long)e.index, (unsigned long long)e.pos,
			     (unsigned long long)e.nr_sectors);
		payload = e.nr_sectors * ss;
	}
	if (data) {
		const uint64_t want = e.is_mark() ? 0 : payload;
		data->resize(static_cast<size_t>(want));
		if (want)
			read(e.pos + ss, data->data(), static_cast<size_t>(want));
	}
	next_pos_ = e.pos + ss + payload;
	next_index_++;
	return true;
}

} // namespace lw
