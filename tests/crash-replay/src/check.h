// SPDX-License-Identifier: GPL-2.0
// What a crash state may legally hold, block by block, given the journal
// and where the state sits among the durability marks.
//
// For a crash state at log position p:
//   last mark  the last durability mark logged before p: every state it
//              promised is durable at p;
//   next mark  the first one logged after p: only ops submitted before it
//              can be in the state.
// For block b, with R = the newest acknowledged write version of b (0, the
// initial content, if none) and X = a discard of b submitted before the
// next mark with a version above R:
//   tagged for b, version v   v written to b before the next mark (or 0),
//                             and v >= R -- or any such v when X exists
//                             (a discarded block may show older data)
//   zeroes                    only when X exists
//   poison                    never (a cache slot that was never written)
//   anything else             never (torn, misplaced or foreign data)
#pragma once

#include "journal.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lw {

struct CheckStats {
	uint64_t blocks = 0;
	uint64_t initial = 0;	// version 0
	uint64_t acked = 0;	// exactly the acknowledged version
	uint64_t newer = 0;	// a newer, not yet acknowledged version
	uint64_t discarded = 0; // zero or older data under a discard
	uint64_t bad = 0;
};

class Expect {
public:
	// Marks are numbers; 0 means none (before the first / after the last).
	Expect(const Journal &j, uint64_t last_mark, uint64_t next_mark);

	uint64_t blocks() const { return required_.size(); }
	// "" when block's content is allowed, else why not.
	std::string verify(uint64_t block, const uint8_t *data, CheckStats &st) const;
	uint64_t required(uint64_t block) const { return required_.at(block); }
	uint64_t acked_ops() const { return acked_ops_; }

private:
	std::string how(uint64_t block) const; // which mark acknowledged required_

	std::vector<uint64_t> required_;
	std::vector<std::pair<uint64_t, char>> source_; // (mark, 'F' or 'U')
	std::vector<uint64_t> discard_;
	std::vector<std::vector<uint64_t>> written_; // ascending
	uint64_t acked_ops_ = 0;
};

// "wcm17" -> 17 with prefix "wcm"; "" or "none" -> 0.
uint64_t parse_mark(const std::string &s, const std::string &prefix);

} // namespace lw
