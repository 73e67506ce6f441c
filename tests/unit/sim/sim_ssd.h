// SPDX-License-Identifier: GPL-2.0
// A simulated SSD with a volatile write cache, for crash-consistency tests
// of the SSD-mode metadata (src/core/ssd_metadata.h). It implements
// wc::CacheDevice; the test plays the data writes (remapped bios) itself.
//
// Model (512-byte sectors; a sector never tears, sectors are independent):
//  - a write is in flight from submission until it completes; while in
//    flight each of its sectors may or may not be on media;
//  - a completed non-FUA write is in the volatile cache: until a flush,
//    a crash shows each of its sectors as the durable value or any value
//    a completed write has given it since (caches write back in any order);
//  - a flush makes durable every write completed before it, and nothing
//    still in flight;
//  - a completed FUA write is durable itself, and flushes nothing else.
// So a crash image is the durable content plus, per sector independently,
// any of the values written to it since (completed or in flight).
//
// Every submission, completion and flush is an event; a hook runs after
// each one and may take crash images (but not do I/O).
#pragma once

#include "ssd_metadata.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace wc::sim {

class SimSsd final : public wc::CacheDevice {
public:
	static constexpr size_t kSector = 512;

	enum class Pick { Oldest, Newest, Random };
	enum class EventKind {
		DataSubmit,	// submit_data(): now in flight
		DataComplete,	// a data write completed
		WriteSubmit,	// submit_write() (metadata): now in flight
		WriteComplete,	// a metadata write completed (FUA: durable)
		Flush,		// a PREFLUSH completed
	};
	struct Event {
		EventKind kind;
		uint64_t sector;
		uint64_t sectors;
		bool fua;
		uint64_t id;	// data writes: submit_data()'s handle
	};
	// The I/O log (order tests).
	enum class Op { Write, WaitWrites, Read, Flush, WaitData, DataWrite };
	struct LogEntry {
		Op op;
		uint64_t sector;
		uint64_t sectors;
		bool fua;
		std::vector<uint8_t> data;	// Write: the bytes submitted
	};

	// Starts zeroed and durable.
	explicit SimSsd(uint64_t sectors);
	SimSsd(const SimSsd &) = delete;
	SimSsd &operator=(const SimSsd &) = delete;

	// wc::CacheDevice.
	void submit_write(uint64_t sector, const void *buf, uint64_t sectors,
			  bool fua) override;
	wc::Status wait_writes() override;
	wc::Status read(uint64_t sector, void *buf, uint64_t sectors) override;
	wc::Status flush() override;
	// Completes every in-flight data write, in submission order.
	void wait_for_data_writes() override;

	// Data writes (the bios the target remaps to the cache device).
	uint64_t submit_data(uint64_t sector, const void *buf, uint64_t sectors,
			     bool fua = false);
	void complete_data(uint64_t id);
	std::vector<uint64_t> data_in_flight() const;
	// Writes of either kind in flight.
	size_t in_flight() const { return inflight_.size(); }

	// A persisted image if power failed now; out is resized to size().
	// Oldest = durable content only; Newest = every write, in flight or
	// not, landed; Random = per sector an independent choice.
	void crash_image(Pick pick, std::mt19937_64 &rng,
			 std::vector<uint8_t> &out) const;
	// Random's distribution: p < 0 (default) uniform over a sector's
	// possible values; p in [0, 1]: the durable value with probability
	// 1 - p, else uniform over the newer ones.
	void set_random_bias(double p_newer) { bias_ = p_newer; }
	// Sectors with more than one possible value after a crash.
	size_t uncertain_sectors() const;
	const uint8_t *durable() const { return durable_.data(); }
	const uint8_t *current() const { return current_.data(); }
	uint64_t sectors() const { return sectors_; }
	size_t size() const { return durable_.size(); }
	// Reset: durable = current = img, nothing in flight or volatile.
	void load_image(const std::vector<uint8_t> &img);

	uint64_t events() const { return events_; }
	void set_event_hook(std::function<void(const Event &)> hook);

	// Faults. A failed write changes nothing on media.
	void fail_write(uint64_t nth);	// the nth submit_write() from now (0: next)
	void fail_next_flush() { fail_flush_ = true; }
	void fail_reads(bool on) { fail_reads_ = on; }

	const std::vector<LogEntry> &log() const { return log_; }
	void clear_log() { log_.clear(); }
	void set_logging(bool on) { logging_ = on; }

private:
	struct Inflight {
		uint64_t id;
		bool data;
		bool fua;
		bool fail;
		uint64_t sector;
		uint64_t sectors;
		const void *src;	// metadata writes: checked unchanged
		std::vector<uint8_t> bytes;
	};

	[[noreturn]] static void die(const char *what);
	void check_range(uint64_t sector, uint64_t sectors, const char *op) const;
	void check_mutable(const char *op) const;
	void apply(const Inflight &w);
	void event(EventKind kind, uint64_t sector, uint64_t sectors, bool fua,
		   uint64_t id);
	void log(Op op, uint64_t sector, uint64_t sectors, bool fua,
		 const void *data);

	uint64_t sectors_;
	std::vector<uint8_t> durable_;
	std::vector<uint8_t> current_;	// what reads see: completed writes
	// Per sector, values completed writes gave it since the last flush
	// (distinct, not counting the durable one).
	std::map<uint64_t, std::vector<std::vector<uint8_t>>> volatile_;
	std::vector<Inflight> inflight_;	// submission order
	uint64_t next_id_ = 1;
	uint64_t writes_submitted_ = 0;
	std::set<uint64_t> fail_writes_;	// absolute submit_write ordinals
	bool fail_flush_ = false;
	bool fail_reads_ = false;
	bool logging_ = true;
	bool in_hook_ = false;
	double bias_ = -1.0;
	uint64_t events_ = 0;
	std::vector<LogEntry> log_;
	// crash_image()'s candidate list, kept to avoid an allocation per image.
	mutable std::vector<std::pair<uint64_t, const uint8_t *>> scratch_;
	std::function<void(const Event &)> hook_;
};

} // namespace wc::sim
