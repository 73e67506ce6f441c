// SPDX-License-Identifier: GPL-2.0
#include "replay.h"

#include "common.h"

#include <algorithm>
#include <cstring>

namespace lw {

void MemSink::write(uint64_t off, const uint8_t *p, size_t len)
{
	memcpy(buf_.data() + off, p, len);
}

void MemSink::zero(uint64_t off, uint64_t len)
{
	memset(buf_.data() + off, 0, static_cast<size_t>(len));
}

void FdSink::write(uint64_t off, const uint8_t *p, size_t len)
{
	pwrite_full(fd_, p, len, off, what_);
}

void FdSink::zero(uint64_t off, uint64_t len)
{
	static const std::vector<uint8_t> zeros(1 << 20);
	while (len) {
		size_t n = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
		pwrite_full(fd_, zeros.data(), n, off, what_);
		off += n;
		len -= n;
	}
}

const char *mode_name(Mode m)
{
	return m == Mode::Full ? "full" : "durable";
}

bool parse_mode(const std::string &s, Mode &m)
{
	if (s == "full")
		m = Mode::Full;
	else if (s == "durable")
		m = Mode::Durable;
	else
		return false;
	return true;
}

Replayer::Replayer(Sink *full, Sink *durable, uint32_t sectorsize)
	: full_(full), durable_(durable), ss_(sectorsize)
{
	if (full_ && durable_ && full_->size() != durable_->size())
		fail("replay: the full and durable images differ in size");
}

void Replayer::range_check(const LogEntry &e, uint64_t off, uint64_t len) const
{
	const Sink *s = full_ ? full_ : durable_;
	if (!s)
		return;
	if (off > s->size() || len > s->size() - off)
		fail("entry %llu (%s) writes bytes %llu+%llu, beyond the %llu-byte image",
		     (unsigned long long)e.index, flags_str(e.flags).c_str(),
		     (unsigned long long)off, (unsigned long long)len,
		     (unsigned long long)s->size());
}

void Replayer::put(Sink *s, const Pending &p)
{
	if (!s)
		return;
	if (p.discard)
		s->zero(p.off, p.len);
	else
		s->write(p.off, p.data.data(), p.data.size());
}

void Replayer::apply(const LogEntry &e, std::vector<uint8_t> data)
{
	stats_.entries++;
	if (e.is_mark()) {
		stats_.marks++;
		return;
	}
	const bool flush = e.flags & kFlagFlush;
	const bool fua = e.flags & kFlagFua;
	if (flush)
		stats_.flushes++;
	if (fua)
		stats_.fuas++;

	Pending p;
	p.off = e.sector * ss_;
	p.len = e.nr_sectors * ss_;
	p.discard = e.is_discard();
	if (!p.discard && data.size() != p.len)
		fail("entry %llu: %zu data bytes for %llu sectors", (unsigned long long)e.index,
		     data.size(), (unsigned long long)e.nr_sectors);
	p.data = std::move(data);
	const bool has_payload = p.len != 0;
	if (has_payload) {
		range_check(e, p.off, p.len);
		if (p.discard)
			stats_.discards++;
		else
			stats_.writes++;
		if (fua && !p.discard)
			stats_.fua_writes++;
		stats_.bytes += p.len;
	}

	// The full image takes everything at once.
	if (has_payload)
		put(full_, p);

	if (flush) {
		// Everything logged before a FLUSH entry completed before the
		// flush was issued: all of it is durable now.
		flush_pending();
	}
	if (!has_payload)
		return;
	payloads_++;
	if (fua) {
		put(durable_, p);
		p.durable = true;
	} else {
		pending_lagging_++;
	}
	pending_.push_back(std::move(p));
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

void Replayer::flush_pending()
{
	// hold_back(): the last plain write in the range misses this flush.
	// A write held earlier stays held while nothing else was logged since
	// (one flush split over several targets), and anything after it that
	// overlaps stays with it, so that the order is kept.
	size_t pick = pending_.size();
	if (hold_len_) {
		for (size_t i = pending_.size(); i-- > 0;) {
			const Pending &q = pending_[i];
			if (!q.discard && !q.durable && !q.held &&
			    overlap(q.off, q.len, hold_off_, hold_len_)) {
				pick = i;
				break;
			}
		}
	}
	std::vector<Pending> kept;
	for (size_t i = 0; i < pending_.size(); i++) {
		Pending &q = pending_[i];
		bool keep = i == pick || (q.held && q.held_at == payloads_);
		for (const Pending &k : kept)
			keep = keep || overlap(q.off, q.len, k.off, k.len);
		if (!keep) {
			put(durable_, q);
			continue;
		}
		if (!q.held) {
			q.held = true;
			q.held_at = payloads_;
			held_ += i == pick;
		}
		kept.push_back(std::move(q));
	}
	pending_.swap(kept);
	pending_lagging_ = 0;
	for (const Pending &q : pending_)
		pending_lagging_ += !q.durable;
}

} // namespace lw
