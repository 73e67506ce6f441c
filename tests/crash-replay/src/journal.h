// SPDX-License-Identifier: GPL-2.0
// The workload's journal: what it submitted, what completed, and which
// states it was promised durable, in the order it happened.
//
// Text, one record a line, after a header line
//   wc-crashload-journal 1 blocks N
//   W OP BLOCK COUNT    write of COUNT blocks from BLOCK submitted; every
//                       block gets version OP (op numbers grow in journal
//                       order; version 0 is the initial content)
//   D OP BLOCK COUNT    discard submitted
//   C OP                OP completed successfully
//   M K F POS           durability mark K (dm-log-writes mark "<prefix>K"),
//                       after an fdatasync that began when the journal had
//                       POS records: every op with a C record before POS is
//                       durable
//   M K U OP            durability mark K after a FUA (O_DSYNC) write OP
//                       returned: OP is durable
//   E                   the workload finished cleanly
// A W/D record is written before the I/O is submitted and an M record
// after the mark is in the log, so a write submitted after mark K was
// logged cannot appear before mark K in the log.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace lw {

struct JRec {
	char type = 0;	    // 'W', 'D', 'C', 'M', 'E'
	uint64_t op = 0;    // W, D, C: the op; M: the mark number
	uint64_t block = 0; // W, D
	uint64_t count = 0; // W, D
	char ack = 0;	    // M: 'F' or 'U'
	uint64_t arg = 0;   // M: POS (F) or OP (U)
};

struct Journal {
	uint64_t blocks = 0;
	std::vector<JRec> recs;

	static Journal load(const std::string &path);
	static Journal parse(const std::string &text);
	std::string text() const;
};

// Thread-safe appender used by the workload.
class JournalWriter {
public:
	explicit JournalWriter(uint64_t blocks) { j_.blocks = blocks; }

	// Allocates the op number and appends the record; returns the op.
	uint64_t submit(char type, uint64_t block, uint64_t count);
	void done(uint64_t op);
	// The number of records so far (an fdatasync's POS).
	uint64_t position();
	// Appends "M K ack arg" after running insert(K) under the journal lock,
	// so no record can slip between the mark and its journal line.
	template <typename F> uint64_t mark(char ack, uint64_t arg, F insert)
	{
		std::lock_guard<std::mutex> g(mu_);
		uint64_t k = ++marks_;
		insert(k);
		JRec r;
		r.type = 'M';
		r.op = k;
		r.ack = ack;
		r.arg = arg;
		j_.recs.push_back(r);
		return k;
	}
	void end();
	void save(const std::string &path);
	uint64_t marks();

private:
	std::mutex mu_;
	Journal j_;
	uint64_t next_op_ = 1;
	uint64_t marks_ = 0;
};

} // namespace lw
