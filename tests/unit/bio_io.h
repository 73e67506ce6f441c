// SPDX-License-Identifier: GPL-2.0
// Driving pmem mode's one-call-per-bio API (Cache::write, Cache::read,
// Cache::flush; wc_abi.h) from the tests, the way src/kernel/map_pmem.c
// does: a struct wc_bio over a flat buffer cut into data segments of any
// lengths (a block may be split anywhere), handed to the core
// WC_BIO_SEGS (or fewer) at a time through refill(), with its cursor and
// refills checked.
//
//   TestBio          one (re)submitted bio: its wc_bio, the segment layout
//                    it walks, and checks of what the core did with it;
//   even_layout()    segments of one length (0: one segment);
//   write_one() ...  one call (write/read) with its result, out, how far
//                    b.sector moved and whether seq_count() moved;
//   map_write() / map_read()   the shim's map of a whole bio: NOSPACE
//                    waits, runs sent to the origin, the rest resubmitted
//                    (dm_accept_partial_bio), until the bio is done.
// Shared by the unit tests, the model checker and tests/tsan.
#pragma once

#include "cache.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace wc::test {

// Segment lengths covering `bytes`: pieces of seg_len (the last one
// shorter if it does not divide), or one segment (seg_len 0).
inline std::vector<uint32_t> even_layout(uint64_t bytes, uint32_t seg_len = 0)
{
	std::vector<uint32_t> v;
	if (!bytes)
		return v;
	if (!seg_len || seg_len >= bytes) {
		v.push_back(static_cast<uint32_t>(bytes));
		return v;
	}
	for (uint64_t at = 0; at < bytes; at += seg_len)
		v.push_back(static_cast<uint32_t>(bytes - at < seg_len ? bytes - at : seg_len));
	return v;
}

// One bio as the core sees it. `data` is the start of the whole bio's
// buffer and `layout` its segments (summing to the whole bio; empty: one
// segment); this submission starts `start` bytes in (dm resubmits the
// rest of a bio from there, its first segment cut) and covers the rest
// of the layout.
// refill() gives at most fill_max segments a time (the shim: up to
// WC_BIO_SEGS). Not copyable: the wc_bio is the core's handle.
class TestBio {
public:
	TestBio(uint64_t sector, uint64_t blocks, uint32_t bs, const void *data,
		std::vector<uint32_t> layout, uint32_t flags = 0, uint64_t start = 0,
		uint32_t fill_max = WC_BIO_SEGS)
		: data_(static_cast<uint8_t *>(const_cast<void *>(data))), layout_(std::move(layout)),
		  bs_(bs), start_(start), fill_max_(fill_max ? fill_max : 1), first_sector_(sector),
		  single_(start + blocks * bs)
	{
		if (fill_max_ > WC_BIO_SEGS)
			fill_max_ = WC_BIO_SEGS;
		// Find the segment holding byte `start`.
		uint64_t at = 0;
		next_ = 0;
		while (next_ < count() && at + len(next_) <= start) {
			at += len(next_);
			next_++;
		}
		next_at_ = at;
		std::memset(&w_, 0, sizeof(w_));
		w_.self = this;
		w_.b.sector = sector;
		w_.b.blocks = blocks;
		w_.b.flags = flags;
		w_.b.refill = &TestBio::refill_cb;
		fill();
		fills_ = 0;	// the shim's first fill is not a refill
	}
	TestBio(const TestBio &) = delete;
	TestBio &operator=(const TestBio &) = delete;

	wc_bio &bio() { return w_.b; }
	const wc_bio &bio() const { return w_.b; }
	uint64_t first_sector() const { return first_sector_; }
	uint64_t start() const { return start_; }
	// Blocks the core has served (b.sector moved over).
	uint64_t served() const { return (w_.b.sector - first_sector_) / (bs_ >> 9); }
	// Bytes the cursor moved over since this submission's start.
	uint64_t consumed() const
	{
		const wc_bio &b = w_.b;
		if (b.seg < b.nsegs)
			return seg_at_[b.seg] + b.off - start_;
		return fill_end_ - start_;
	}
	uint32_t refills() const { return fills_; }
	uint32_t segments() const { return static_cast<uint32_t>(count()); }
	bool overrun() const { return overrun_; }

	// What is wrong with the cursor after a call that served `blocks`
	// blocks ("" if nothing): it must sit exactly after their bytes, be
	// in range, and refill() must have been called only with every
	// segment used and never past the bio's data.
	std::string cursor_error(uint64_t blocks) const
	{
		const wc_bio &b = w_.b;
		char buf[200];
		if (bad_refill_) {
			std::snprintf(buf, sizeof(buf), "refill() called at segment %u of %u (off %u)",
				      bad_seg_, bad_nsegs_, bad_off_);
			return buf;
		}
		if (overrun_)
			return "the core asked for data past the bio's end";
		if (b.seg > b.nsegs || (b.seg < b.nsegs && b.off >= b.segs[b.seg].len) ||
		    (b.seg == b.nsegs && b.off)) {
			std::snprintf(buf, sizeof(buf), "cursor out of range: segment %u of %u, off %u",
				      b.seg, b.nsegs, b.off);
			return buf;
		}
		if (consumed() != blocks * bs_) {
			std::snprintf(buf, sizeof(buf),
				      "cursor moved over %llu bytes for %llu blocks of %u",
				      (unsigned long long)consumed(), (unsigned long long)blocks, bs_);
			return buf;
		}
		return "";
	}

private:
	// wc_bio first: the refill callback finds its TestBio from it.
	struct Walk {
		wc_bio b;
		TestBio *self;
	};

	static void refill_cb(wc_bio *b)
	{
		reinterpret_cast<Walk *>(b)->self->refill();
	}
	void refill()
	{
		wc_bio &b = w_.b;
		if ((b.seg != b.nsegs || b.off) && !bad_refill_) {
			bad_refill_ = true;
			bad_seg_ = b.seg;
			bad_nsegs_ = b.nsegs;
			bad_off_ = b.off;
		}
		fills_++;
		fill();
		if (b.nsegs == 0) {
			// Past the data: give it something harmless, and say so.
			overrun_ = true;
			scratch_.resize(bs_ ? bs_ : 512);
			b.segs[0].addr = scratch_.data();
			b.segs[0].len = static_cast<uint32_t>(scratch_.size());
			seg_at_[0] = fill_end_;
			b.nsegs = 1;
			fill_end_ += scratch_.size();
		}
	}
	// The next segments of the layout (the first one cut at start_).
	void fill()
	{
		wc_bio &b = w_.b;
		uint32_t n = 0;
		while (n < fill_max_ && next_ < count()) {
			uint64_t lo = next_at_ > start_ ? next_at_ : start_;
			uint64_t hi = next_at_ + len(next_);
			b.segs[n].addr = data_ + lo;
			b.segs[n].len = static_cast<uint32_t>(hi - lo);
			seg_at_[n] = lo;
			n++;
			next_at_ = hi;
			next_++;
		}
		b.nsegs = n;
		if (n)
			fill_end_ = next_at_;
	}

	size_t count() const { return layout_.empty() ? 1 : layout_.size(); }
	uint64_t len(size_t i) const { return layout_.empty() ? single_ : layout_[i]; }

	Walk w_;
	uint8_t *data_;
	std::vector<uint32_t> layout_;
	uint32_t bs_;
	uint64_t start_;
	uint32_t fill_max_;
	uint64_t first_sector_;
	uint64_t single_;		// the one segment's length (empty layout)
	size_t next_ = 0;		// the next layout segment to hand out
	uint64_t next_at_ = 0;		// its byte offset
	uint64_t seg_at_[WC_BIO_SEGS] = {};	// byte offsets of segs[]
	uint64_t fill_end_ = 0;
	uint32_t fills_ = 0;
	bool overrun_ = false, bad_refill_ = false;
	uint32_t bad_seg_ = 0, bad_nsegs_ = 0, bad_off_ = 0;
	std::vector<uint8_t> scratch_;
};

// One call of the core with a bio, and what came of it.
struct Call {
	wc_io_result r = WC_IO_ERROR;
	wc_io_out out = {};
	uint64_t served = 0;		// blocks b.sector moved over
	uint64_t seq_before = 0, seq_after = 0;
	std::string cursor;		// TestBio::cursor_error(served)
	uint32_t refills = 0;
	bool committed() const { return seq_after != seq_before; }
};

inline Call call_write(Cache &c, TestBio &tb)
{
	Call k;
	k.seq_before = c.seq_count();
	k.r = c.write(tb.bio(), &k.out);
	k.seq_after = c.seq_count();
	k.served = tb.served();
	k.cursor = tb.cursor_error(k.served);
	k.refills = tb.refills();
	return k;
}

inline Call call_read(Cache &c, TestBio &tb)
{
	Call k;
	k.seq_before = c.seq_count();
	k.r = c.read(tb.bio(), &k.out);
	k.seq_after = c.seq_count();
	k.served = tb.served();
	k.cursor = k.r == WC_IO_ERROR ? "" : tb.cursor_error(k.served);
	k.refills = tb.refills();
	return k;
}

// One write call of a bio of `blocks` blocks from `data`, cut into
// seg_len pieces (0: one segment).
inline Call write_once(Cache &c, uint64_t sector, uint64_t blocks, const void *data,
		       uint32_t flags = 0, uint32_t seg_len = 0)
{
	const uint32_t bs = c.block_size();
	TestBio tb(sector, blocks, bs, data,
		   seg_len ? even_layout(blocks * bs, seg_len) : std::vector<uint32_t>(), flags);
	return call_write(c, tb);
}

// One read call into dst (blocks * block_size bytes).
inline Call read_once(Cache &c, uint64_t sector, uint64_t blocks, void *dst,
		      uint32_t seg_len = 0)
{
	const uint32_t bs = c.block_size();
	TestBio tb(sector, blocks, bs, dst,
		   seg_len ? even_layout(blocks * bs, seg_len) : std::vector<uint32_t>());
	return call_read(c, tb);
}

// A one-block write: WC_IO_DONE (cached), ORIGIN, NOSPACE or ERROR.
inline wc_io_result write_block(Cache &c, uint64_t sector, const void *block, uint32_t flags = 0)
{
	return write_once(c, sector, 1, block, flags).r;
}

// A one-block read: true on a hit (dst filled); *io_error: a machine check.
inline bool read_block(Cache &c, uint64_t sector, void *dst, bool *io_error = nullptr)
{
	Call k = read_once(c, sector, 1, dst);
	if (io_error)
		*io_error = k.r == WC_IO_ERROR;
	return k.r == WC_IO_DONE || k.r == WC_IO_ERROR;
}

// What the map of one whole bio did.
struct BioResult {
	bool ok = true;			// false: the bio failed (WC_IO_ERROR, or gave up)
	std::string error;		// a protocol violation the helper saw ("" if none)
	uint64_t cached = 0;		// blocks served by the cache
	uint64_t around = 0;		// blocks sent to the origin
	uint32_t calls = 0, nospace = 0, refills = 0;
	bool arm_timer = false, writeback = false;
	bool committed = false;		// seq_count() moved during a call
};

// The callbacks of map_write()/map_read(): blocks [off, off + n) of the
// bio go to (come from) the origin; nospace() waits for a free block as
// wait_event(freelist_wait, ...) and returns false to give up.
struct MapHooks {
	std::function<void(uint64_t off, uint64_t n)> origin;
	std::function<bool()> nospace;
};

// wc_map_write() for a whole bio, with dm resubmitting the rest after
// each partial accept.
inline BioResult map_write(Cache &c, uint64_t sector, uint64_t blocks, const void *data,
			   const std::vector<uint32_t> &layout, uint32_t flags,
			   const MapHooks &hooks, uint32_t fill_max = WC_BIO_SEGS)
{
	const uint32_t bs = c.block_size();
	const uint64_t step = bs >> 9;
	BioResult res;
	uint64_t done = 0;
	while (done < blocks) {
		TestBio tb(sector + done * step, blocks - done, bs, data, layout, flags, done * bs,
			   fill_max);
		Call k;
		for (;;) {
			k = call_write(c, tb);
			res.calls++;
			res.committed |= k.committed();
			if (k.r != WC_IO_NOSPACE)
				break;
			res.nospace++;
			if (!k.cursor.empty()) {
				res.error = "write (NOSPACE): " + k.cursor;
				res.ok = false;
				return res;
			}
			if (!hooks.nospace || !hooks.nospace()) {
				res.ok = false;
				return res;
			}
		}
		res.refills += k.refills;
		uint64_t left = blocks - done;
		switch (k.r) {
		case WC_IO_ORIGIN:
			if (k.out.run < 1 || k.out.run > left || k.served || tb.consumed()) {
				res.error = "write: ORIGIN of " + std::to_string(k.out.run) + " of " +
					    std::to_string(left) + " blocks after serving " +
					    std::to_string(k.served);
				res.ok = false;
				return res;
			}
			if (hooks.origin)
				hooks.origin(done, k.out.run);
			res.around += k.out.run;
			done += k.out.run;
			break;
		case WC_IO_DONE:
			if (k.served < 1 || k.served > left || !k.cursor.empty()) {
				res.error = "write: DONE after serving " + std::to_string(k.served) + " of " +
					    std::to_string(left) + " blocks" +
					    (k.cursor.empty() ? "" : ": " + k.cursor);
				res.ok = false;
				return res;
			}
			res.cached += k.served;
			res.arm_timer = k.out.arm_timer;
			res.writeback |= k.out.writeback;
			done += k.served;
			break;
		default:
			res.ok = false;
			return res;
		}
	}
	return res;
}

// wc_map_read() for a whole bio into dst; hit[i] (if given) says block i
// came from the cache.
inline BioResult map_read(Cache &c, uint64_t sector, uint64_t blocks, void *dst,
			  const std::vector<uint32_t> &layout, const MapHooks &hooks,
			  std::vector<bool> *hit = nullptr, uint32_t fill_max = WC_BIO_SEGS)
{
	const uint32_t bs = c.block_size();
	const uint64_t step = bs >> 9;
	BioResult res;
	if (hit)
		hit->assign(blocks, false);
	uint64_t done = 0;
	while (done < blocks) {
		TestBio tb(sector + done * step, blocks - done, bs, dst, layout, 0, done * bs,
			   fill_max);
		Call k = call_read(c, tb);
		res.calls++;
		res.refills += k.refills;
		uint64_t left = blocks - done;
		if (k.r == WC_IO_ORIGIN) {
			if (k.out.run < 1 || k.out.run > left || k.served || tb.consumed()) {
				res.error = "read: ORIGIN of " + std::to_string(k.out.run) + " of " +
					    std::to_string(left) + " blocks after serving " +
					    std::to_string(k.served);
				res.ok = false;
				return res;
			}
			if (hooks.origin)
				hooks.origin(done, k.out.run);
			res.around += k.out.run;
			done += k.out.run;
		} else if (k.r == WC_IO_DONE) {
			if (k.served < 1 || k.served > left || !k.cursor.empty()) {
				res.error = "read: DONE after serving " + std::to_string(k.served) + " of " +
					    std::to_string(left) + " blocks" +
					    (k.cursor.empty() ? "" : ": " + k.cursor);
				res.ok = false;
				return res;
			}
			if (hit)
				for (uint64_t i = 0; i < k.served; i++)
					(*hit)[done + i] = true;
			res.cached += k.served;
			done += k.served;
		} else {
			res.ok = false;
			return res;
		}
	}
	return res;
}

} // namespace wc::test
