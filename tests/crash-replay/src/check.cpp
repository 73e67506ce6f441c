// SPDX-License-Identifier: GPL-2.0
#include "check.h"

#include "common.h"
#include "tag.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace lw {

uint64_t parse_mark(const std::string &s, const std::string &prefix)
{
	if (s.empty() || s == "none")
		return 0;
	std::string num = s;
	if (!prefix.empty() && s.compare(0, prefix.size(), prefix) == 0)
		num = s.substr(prefix.size());
	if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
		fail("bad mark '%s' (expected %sN)", s.c_str(), prefix.c_str());
	uint64_t k = parse_size(num, "mark");
	if (!k)
		fail("bad mark '%s': marks count from 1", s.c_str());
	return k;
}

Expect::Expect(const Journal &j, uint64_t last_mark, uint64_t next_mark)
{
	if (next_mark && next_mark <= last_mark)
		fail("next mark %llu is not after the last mark %llu",
		     (unsigned long long)next_mark, (unsigned long long)last_mark);
	const uint64_t nb = j.blocks;
	required_.assign(nb, 0);
	source_.assign(nb, { 0, 0 });
	discard_.assign(nb, 0);
	written_.assign(nb, {});

	std::unordered_map<uint64_t, size_t> op_rec; // op -> its W/D record
	size_t cut = j.recs.size();		     // first record not in the state
	bool have_last = last_mark == 0, have_next = next_mark == 0;
	size_t acked_upto = 0; // C records before this are acknowledged
	std::unordered_set<uint64_t> acked;
	auto ack = [&](uint64_t op, uint64_t mark, char how) {
		auto it = op_rec.find(op);
		if (it == op_rec.end())
			fail("journal: acknowledged op %llu was never submitted",
			     (unsigned long long)op);
		const JRec &w = j.recs[it->second];
		if (acked.insert(op).second)
			acked_ops_++;
		if (w.type != 'W')
			return; // an acknowledged discard promises nothing to read
		for (uint64_t b = w.block; b < w.block + w.count; b++) {
			if (w.op > required_[b]) {
				required_[b] = w.op;
				source_[b] = { mark, how };
			}
		}
	};
	for (size_t i = 0; i < j.recs.size(); i++) {
		const JRec &r = j.recs[i];
		if (r.type == 'W' || r.type == 'D') {
			op_rec[r.op] = i;
		} else if (r.type == 'M') {
			if (r.op <= last_mark) {
				if (r.ack == 'F') {
					if (r.arg > i)
						fail("journal: mark %llu promises records after it",
						     (unsigned long long)r.op);
					for (; acked_upto < r.arg; acked_upto++)
						if (j.recs[acked_upto].type == 'C')
							ack(j.recs[acked_upto].op, r.op, 'F');
				} else {
					ack(r.arg, r.op, 'U');
				}
				if (r.op == last_mark)
					have_last = true;
			}
			if (r.op == next_mark) {
				have_next = true;
				cut = i;
				break;
			}
		}
	}
	if (!have_last)
		fail("mark %llu is not in the journal", (unsigned long long)last_mark);
	if (!have_next)
		fail("mark %llu is not in the journal", (unsigned long long)next_mark);

	for (size_t i = 0; i < cut; i++) {
		const JRec &r = j.recs[i];
		if (r.type != 'W' && r.type != 'D')
			continue;
		for (uint64_t b = r.block; b < r.block + r.count; b++) {
			if (r.type == 'W')
				written_[b].push_back(r.op);
			else
				discard_[b] = std::max(discard_[b], r.op);
		}
	}
	for (auto &w : written_)
		std::sort(w.begin(), w.end());
}

std::string Expect::how(uint64_t block) const
{
	const auto &src = source_[block];
	if (!src.first)
		return "";
	return strf(" (by %s, mark %llu)", src.second == 'U' ? "a FUA/O_DSYNC write" : "fdatasync",
		    (unsigned long long)src.first);
}

std::string Expect::verify(uint64_t block, const uint8_t *data, CheckStats &st) const
{
	st.blocks++;
	const uint64_t req = required_.at(block);
	const bool under_discard = discard_[block] > req;
	BlockInfo bi = decode_block(data);
	std::string why;
	switch (bi.kind) {
	case BlockKind::Zero:
		if (under_discard) {
			st.discarded++;
			return "";
		}
		why = strf("zeroes, but version %llu was acknowledged%s and nothing discarded it",
			   (unsigned long long)req, how(block).c_str());
		break;
	case BlockKind::Poison:
		why = strf("poison of cache slot %llu: a cache entry whose data was never written",
			   (unsigned long long)bi.block);
		break;
	case BlockKind::Garbage:
		why = bi.why;
		break;
	case BlockKind::Tagged: {
		if (bi.block != block) {
			why = strf("data of block %llu version %llu", (unsigned long long)bi.block,
				   (unsigned long long)bi.version);
			break;
		}
		const auto &w = written_[block];
		if (bi.version && !std::binary_search(w.begin(), w.end(), bi.version)) {
			why = strf("version %llu was not written to this block before the next mark",
				   (unsigned long long)bi.version);
			break;
		}
		if (bi.version >= req) {
			if (!bi.version)
				st.initial++;
			else if (bi.version == req)
				st.acked++;
			else
				st.newer++;
			return "";
		}
		if (under_discard) {
			st.discarded++;
			return "";
		}
		why = strf("stale: version %llu, but version %llu was acknowledged%s",
			   (unsigned long long)bi.version, (unsigned long long)req,
			   how(block).c_str());
		break;
	}
	}
	st.bad++;
	return why;
}

} // namespace lw
