// SPDX-License-Identifier: GPL-2.0
// The on-disk format of a dm-log-writes log (drivers/md/dm-log-writes.c,
// format version 1), and a sequential reader for it.
//
// Layout, in units of the log's sectorsize S (the logged device's logical
// block size, 512 or 4096):
//   unit 0                 super: le64 magic, le64 version, le64 nr_entries,
//                          le32 sectorsize
//   then nr_entries times: one unit of header {le64 sector, le64 nr_sectors,
//                          le64 flags, le64 data_len}, a MARK's name inline
//                          after the header; then nr_sectors units of data,
//                          except for DISCARD entries, which carry none.
// sector and nr_sectors are in units of S, relative to the logged device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lw {

constexpr uint64_t kLogMagic = 0x6a736677736872ULL;
constexpr uint64_t kLogVersion = 1;
constexpr size_t kEntryHeaderBytes = 32;

enum LogFlag : uint64_t {
	kFlagFlush = 1 << 0,
	kFlagFua = 1 << 1,
	kFlagDiscard = 1 << 2,
	kFlagMark = 1 << 3,
	kFlagMeta = 1 << 4,
};

// "FLUSH|FUA", "MARK", "WRITE" for no flags.
std::string flags_str(uint64_t flags);

struct LogSuper {
	uint64_t magic = 0;
	uint64_t version = 0;
	uint64_t nr_entries = 0;
	uint32_t sectorsize = 0;
};

struct LogEntry {
	uint64_t index = 0;	  // 0-based position in the log
	uint64_t pos = 0;	  // byte offset of the header in the log
	uint64_t sector = 0;	  // in units of sectorsize
	uint64_t nr_sectors = 0;  // in units of sectorsize
	uint64_t flags = 0;
	uint64_t data_len = 0;	  // header field: the mark's length
	std::string mark;	  // MARK entries only

	bool is_mark() const { return flags & kFlagMark; }
	bool is_discard() const { return flags & kFlagDiscard; }
	// The durability points a crash check looks at.
	bool is_checkpoint() const { return flags & (kFlagFlush | kFlagFua); }
};

// Parses the super block in buf (at least 32 bytes); fails on a bad magic,
// version or sectorsize.
LogSuper parse_super(const uint8_t *buf, size_t len);

// Reads a log from a file or block device, front to back.  Block devices
// are read with O_DIRECT (no stale page cache) in large aligned chunks.
class LogReader {
public:
	explicit LogReader(const std::string &path);
	~LogReader();
	LogReader(const LogReader &) = delete;
	LogReader &operator=(const LogReader &) = delete;

	const LogSuper &super() const { return super_; }
	uint32_t sectorsize() const { return super_.sectorsize; }
	uint64_t log_bytes() const { return size_; }

	// The next entry, or false after nr_entries.  With data non-null it
	// receives the entry's payload (nr_sectors * sectorsize bytes; empty
	// for discards, marks and empty flushes).
	bool next(LogEntry &e, std::vector<uint8_t> *data);
	// Back to the first entry.
	void rewind();

private:
	void read(uint64_t off, uint8_t *dst, size_t len);

	std::string path_;
	int fd_ = -1;
	uint64_t size_ = 0;
	LogSuper super_;
	uint64_t next_index_ = 0;
	uint64_t next_pos_ = 0;
	struct Chunk;
	std::unique_ptr<Chunk> chunk_;
};

} // namespace lw
