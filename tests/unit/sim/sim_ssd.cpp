// SPDX-License-Identifier: GPL-2.0
// Simulated SSD with a volatile write cache; the model is in sim_ssd.h.
//
// State: durable_ is the Oldest image; volatile_ holds, per sector, the
// other values completed writes left since the last flush; inflight_ the
// writes not yet completed. A crash image is durable_ patched per sector.
#include "sim_ssd.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wc::sim {

namespace {

size_t below(std::mt19937_64 &rng, size_t n)
{
	return static_cast<size_t>(
		(static_cast<unsigned __int128>(rng()) * n) >> 64);
}

} // namespace

SimSsd::SimSsd(uint64_t sectors) : sectors_(sectors)
{
	if (sectors == 0)
		die("a device needs at least one sector");
	durable_.assign(sectors * kSector, 0);
	current_ = durable_;
}

void SimSsd::die(const char *what)
{
	std::fprintf(stderr, "SimSsd: %s\n", what);
	std::fflush(stderr);
	std::abort();
}

void SimSsd::check_range(uint64_t sector, uint64_t sectors, const char *op) const
{
	if (sectors == 0 || sector >= sectors_ || sectors > sectors_ - sector) {
		std::fprintf(stderr, "SimSsd: %s of %llu sectors at %llu, device has %llu\n",
			     op, (unsigned long long)sectors, (unsigned long long)sector,
			     (unsigned long long)sectors_);
		die("I/O outside the device");
	}
}

void SimSsd::check_mutable(const char *op) const
{
	if (in_hook_) {
		std::fprintf(stderr, "SimSsd: %s called from the event hook\n", op);
		die("the event hook must not do I/O");
	}
}

void SimSsd::set_event_hook(std::function<void(const Event &)> hook)
{
	hook_ = std::move(hook);
}

void SimSsd::event(EventKind kind, uint64_t sector, uint64_t sectors, bool fua,
		   uint64_t id)
{
	events_++;
	if (!hook_)
		return;
	in_hook_ = true;
	hook_(Event{kind, sector, sectors, fua, id});
	in_hook_ = false;
}

void SimSsd::log(Op op, uint64_t sector, uint64_t sectors, bool fua, const void *data)
{
	if (!logging_)
		return;
	LogEntry e{op, sector, sectors, fua, {}};
	if (data)
		e.data.assign(static_cast<const uint8_t *>(data),
			      static_cast<const uint8_t *>(data) + sectors * kSector);
	log_.push_back(std::move(e));
}

void SimSsd::fail_write(uint64_t nth)
{
	fail_writes_.insert(writes_submitted_ + nth);
}

// A completed write: FUA is durable at once; otherwise it joins the
// volatile cache (a value already possible for the sector adds nothing).
void SimSsd::apply(const Inflight &w)
{
	for (uint64_t k = 0; k < w.sectors; k++) {
		uint64_t s = w.sector + k;
		const uint8_t *v = w.bytes.data() + k * kSector;
		uint8_t *cur = current_.data() + s * kSector;
		std::memcpy(cur, v, kSector);
		if (w.fua) {
			std::memcpy(durable_.data() + s * kSector, v, kSector);
			volatile_.erase(s);
			continue;
		}
		if (!std::memcmp(durable_.data() + s * kSector, v, kSector))
			continue;
		auto &vals = volatile_[s];
		bool seen = std::any_of(vals.begin(), vals.end(), [&](const auto &x) {
			return !std::memcmp(x.data(), v, kSector);
		});
		if (!seen)
			vals.emplace_back(v, v + kSector);
	}
}

void SimSsd::submit_write(uint64_t sector, const void *buf, uint64_t sectors, bool fua)
{
	check_mutable("submit_write");
	check_range(sector, sectors, "submit_write");
	bool fail = fail_writes_.erase(writes_submitted_++) != 0;
	const auto *p = static_cast<const uint8_t *>(buf);
	inflight_.push_back(Inflight{0, false, fua, fail, sector, sectors, buf,
				     std::vector<uint8_t>(p, p + sectors * kSector)});
	log(Op::Write, sector, sectors, fua, buf);
	event(EventKind::WriteSubmit, sector, sectors, fua, 0);
}

wc::Status SimSsd::wait_writes()
{
	check_mutable("wait_writes");
	log(Op::WaitWrites, 0, 0, false, nullptr);
	wc::Status first;
	for (size_t i = 0; i < inflight_.size();) {
		if (inflight_[i].data) {
			i++;
			continue;
		}
		Inflight w = std::move(inflight_[i]);
		inflight_.erase(inflight_.begin() + static_cast<ptrdiff_t>(i));
		// The device may read the buffer at any time until completion.
		if (std::memcmp(w.src, w.bytes.data(), w.bytes.size()))
			die("a write's buffer changed while the write was in flight");
		if (w.fail) {
			if (first.ok())
				first = wc::Error{-WC_EIO, "simulated write error"};
		} else {
			apply(w);
		}
		event(EventKind::WriteComplete, w.sector, w.sectors, w.fua, 0);
	}
	return first;
}

wc::Status SimSsd::read(uint64_t sector, void *buf, uint64_t sectors)
{
	check_mutable("read");
	check_range(sector, sectors, "read");
	log(Op::Read, sector, sectors, false, nullptr);
	if (fail_reads_) {
		// The buffer's content is undefined after a failed read.
		std::memset(buf, 0x5a, sectors * kSector);
		return wc::Error{-WC_EIO, "simulated read error"};
	}
	std::memcpy(buf, current_.data() + sector * kSector, sectors * kSector);
	return wc::Status::success();
}

wc::Status SimSsd::flush()
{
	check_mutable("flush");
	log(Op::Flush, 0, 0, false, nullptr);
	if (fail_flush_) {
		fail_flush_ = false;
		return wc::Error{-WC_EIO, "simulated flush error"};
	}
	for (auto &kv : volatile_)
		std::memcpy(durable_.data() + kv.first * kSector,
			    current_.data() + kv.first * kSector, kSector);
	volatile_.clear();
	event(EventKind::Flush, 0, 0, false, 0);
	return wc::Status::success();
}

uint64_t SimSsd::submit_data(uint64_t sector, const void *buf, uint64_t sectors, bool fua)
{
	check_mutable("submit_data");
	check_range(sector, sectors, "submit_data");
	uint64_t id = next_id_++;
	const auto *p = static_cast<const uint8_t *>(buf);
	inflight_.push_back(Inflight{id, true, fua, false, sector, sectors, nullptr,
				     std::vector<uint8_t>(p, p + sectors * kSector)});
	log(Op::DataWrite, sector, sectors, fua, nullptr);
	event(EventKind::DataSubmit, sector, sectors, fua, id);
	return id;
}

void SimSsd::complete_data(uint64_t id)
{
	check_mutable("complete_data");
	auto it = std::find_if(inflight_.begin(), inflight_.end(),
			       [&](const Inflight &w) { return w.data && w.id == id; });
	if (it == inflight_.end())
		die("complete_data: no such data write in flight");
	Inflight w = std::move(*it);
	inflight_.erase(it);
	apply(w);
	event(EventKind::DataComplete, w.sector, w.sectors, w.fua, w.id);
}

void SimSsd::wait_for_data_writes()
{
	check_mutable("wait_for_data_writes");
	log(Op::WaitData, 0, 0, false, nullptr);
	for (;;) {
		auto it = std::find_if(inflight_.begin(), inflight_.end(),
				       [](const Inflight &w) { return w.data; });
		if (it == inflight_.end())
			return;
		complete_data(it->id);
	}
}

std::vector<uint64_t> SimSsd::data_in_flight() const
{
	std::vector<uint64_t> ids;
	for (const auto &w : inflight_)
		if (w.data)
			ids.push_back(w.id);
	return ids;
}

size_t SimSsd::uncertain_sectors() const
{
	std::set<uint64_t> s;
	for (const auto &kv : volatile_)
		s.insert(kv.first);
	for (const auto &w : inflight_)
		for (uint64_t k = 0; k < w.sectors; k++)
			if (std::memcmp(durable_.data() + (w.sector + k) * kSector,
					w.bytes.data() + k * kSector, kSector))
				s.insert(w.sector + k);
	return s.size();
}

void SimSsd::crash_image(Pick pick, std::mt19937_64 &rng, std::vector<uint8_t> &out) const
{
	// memcpy, not vector assignment: ASan's memmove is a byte loop.
	out.resize(durable_.size());
	std::memcpy(out.data(), durable_.data(), durable_.size());
	if (pick == Pick::Oldest)
		return;
	if (pick == Pick::Newest) {
		for (const auto &kv : volatile_)
			std::memcpy(out.data() + kv.first * kSector,
				    current_.data() + kv.first * kSector, kSector);
		for (const auto &w : inflight_)
			std::memcpy(out.data() + w.sector * kSector, w.bytes.data(),
				    w.bytes.size());
		return;
	}
	// Candidates besides the durable value, grouped by sector (a stable
	// sort keeps images reproducible for a seed).
	auto &cand = scratch_;
	cand.clear();
	for (const auto &kv : volatile_)
		for (const auto &v : kv.second)
			cand.emplace_back(kv.first, v.data());
	for (const auto &w : inflight_)
		for (uint64_t k = 0; k < w.sectors; k++)
			cand.emplace_back(w.sector + k, w.bytes.data() + k * kSector);
	std::stable_sort(cand.begin(), cand.end(), [](const auto &a, const auto &b) {
		return a.first < b.first;
	});
	for (size_t i = 0; i < cand.size();) {
		size_t j = i;
		while (j < cand.size() && cand[j].first == cand[i].first)
			j++;
		size_t n = j - i, pick_i;
		if (bias_ < 0) {
			pick_i = below(rng, n + 1);	// 0: durable
		} else {
			double u = static_cast<double>(rng() >> 11) * 0x1p-53;
			pick_i = u < bias_ ? 1 + below(rng, n) : 0;
		}
		if (pick_i)
			std::memcpy(out.data() + cand[i].first * kSector,
				    cand[i + pick_i - 1].second, kSector);
		i = j;
	}
}

void SimSsd::load_image(const std::vector<uint8_t> &img)
{
	check_mutable("load_image");
	if (img.size() != durable_.size())
		die("load_image: wrong size");
	durable_ = img;
	current_ = img;
	volatile_.clear();
	inflight_.clear();
	events_ = 0;
}

} // namespace wc::sim
