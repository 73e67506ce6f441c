// SPDX-License-Identifier: GPL-2.0
// Replaying a dm-log-writes log onto images, in two modes.
//
// dm-log-writes logs a FUA or FLUSH bio when it completes; every other
// write (and discard) waits on a list until a FLUSH is *submitted*, which
// takes the list; when that FLUSH completes, the list is logged, then the
// FLUSH entry.  So a plain write appears right before the first flush that
// was issued after it completed: the log is already in "what a flush made
// durable" order.
//
//   full     applies every entry up to the chosen one (like xfstests'
//            replay-log).
//   durable  the pessimistic crash state: everything up to and including
//            the last FLUSH entry, plus the FUA writes logged after it.
//            Non-FUA entries after the last FLUSH are held back (they may
//            not have reached media); a FLUSH entry's own data counts as
//            durable only with FUA (PREFLUSH orders what came before).
//
// With the kernel's grouping the two differ only when the entry chosen
// falls inside a flush group, or for a FLUSH entry that carries data
// without FUA; durable_lags() tells when they differ.
//
// Discards are replayed as zeroes.  A discarded range reads back as
// undefined; zeroes are one legal outcome, and the one that exposes a
// reader still relying on the discarded data.
#pragma once

#include "logfmt.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lw {

// Where replayed entries land.
class Sink {
public:
	virtual ~Sink() = default;
	virtual uint64_t size() const = 0;
	virtual void write(uint64_t off, const uint8_t *p, size_t len) = 0;
	virtual void zero(uint64_t off, uint64_t len) = 0;
};

// An in-memory image.
class MemSink : public Sink {
public:
	explicit MemSink(uint64_t size) : buf_(static_cast<size_t>(size)) {}
	uint64_t size() const override { return buf_.size(); }
	void write(uint64_t off, const uint8_t *p, size_t len) override;
	void zero(uint64_t off, uint64_t len) override;
	std::vector<uint8_t> &bytes() { return buf_; }
	const std::vector<uint8_t> &bytes() const { return buf_; }

private:
	std::vector<uint8_t> buf_;
};

// A file or block device, written in place.
class FdSink : public Sink {
public:
	FdSink(int fd, uint64_t size, std::string what) : fd_(fd), size_(size), what_(std::move(what)) {}
	uint64_t size() const override { return size_; }
	void write(uint64_t off, const uint8_t *p, size_t len) override;
	void zero(uint64_t off, uint64_t len) override;

private:
	int fd_;
	uint64_t size_;
	std::string what_;
};

enum class Mode { Full, Durable };
const char *mode_name(Mode m);
bool parse_mode(const std::string &s, Mode &m);

struct ReplayStats {
	uint64_t entries = 0, writes = 0, flushes = 0, fuas = 0, fua_writes = 0;
	uint64_t discards = 0, marks = 0, bytes = 0;
};

// Applies entries in log order to a full image and/or a durable image
// (either may be null).
class Replayer {
public:
	Replayer(Sink *full, Sink *durable, uint32_t sectorsize);

	// data: the entry's payload as LogReader::next() returned it.
	void apply(const LogEntry &e, std::vector<uint8_t> data);
	// True when the durable image misses entries the full one has.
	bool durable_lags() const { return pending_lagging_ != 0; }
	// Test-of-the-test mutation of the durable state: at each FLUSH, the
	// last plain write overlapping [off, off + len) stays pending until the
	// next FLUSH that follows other entries, as if it had completed after
	// the flush was issued (what a commit that flushes before waiting for
	// in-flight data produces).
	void hold_back(uint64_t off, uint64_t len)
	{
		hold_off_ = off;
		hold_len_ = len;
	}
	uint64_t held_back() const { return held_; }
	const ReplayStats &stats() const { return stats_; }

private:
	struct Pending {
		uint64_t off = 0, len = 0;
		bool discard = false;
		bool durable = false; // already in the durable image (FUA)
		bool held = false;    // delayed by hold_back()
		uint64_t held_at = 0; // payloads_ when it was held
		std::vector<uint8_t> data;
	};
	void put(Sink *s, const Pending &p);
	void flush_pending();
	void range_check(const LogEntry &e, uint64_t off, uint64_t len) const;

	Sink *full_;
	Sink *durable_;
	uint32_t ss_;
	// Entries since the last FLUSH, in log order.  At the next FLUSH they
	// are all applied again in order, so that a FUA write applied early
	// and an older plain write to the same place end up in log order.
	std::vector<Pending> pending_;
	size_t pending_lagging_ = 0;
	uint64_t hold_off_ = 0, hold_len_ = 0, held_ = 0;
	uint64_t payloads_ = 0; // entries with data or a range so far
	ReplayStats stats_;
};

} // namespace lw
