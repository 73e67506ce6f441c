// SPDX-License-Identifier: GPL-2.0
// SSD-mode metadata: the RAM mirror, its dirty regions and the commit
// protocol. The contract is described in ssd_metadata.h.
#include "ssd_metadata.h"

#include <wc_abi.h>

#include "endian.h"

namespace wc {

using namespace layout;

namespace {

constexpr unsigned int kSectorShift = 9;

bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

// First bit >= i that is set (want = true) or clear, or `bits`.
uint64_t next_bit(const uint64_t *map, uint64_t bits, uint64_t i, bool want)
{
	while (i < bits) {
		uint64_t w = map[i / 64];
		if (!want)
			w = ~w;
		w &= ~0ull << (i % 64);
		if (w) {
			uint64_t r = (i & ~63ull) + static_cast<uint64_t>(__builtin_ctzll(w));
			return r < bits ? r : bits;
		}
		i = (i | 63) + 1;
	}
	return bits;
}

// No __builtin_popcountll: without -mpopcnt it calls libgcc, which the
// kernel does not link.
unsigned int popcount64(uint64_t v)
{
	v -= (v >> 1) & 0x5555555555555555ull;
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return static_cast<unsigned int>((v * 0x0101010101010101ull) >> 56);
}

constexpr Error kFailedState = {-WC_EIO, "metadata is in the error state"};

} // namespace

SsdMetadata::~SsdMetadata()
{
	wc_plat_free(mirror_);
	wc_plat_free(dirty_);
}

Status SsdMetadata::init(const SsdMetadataParams &params, CacheDevice &dev)
{
	constexpr Error kBadSize = {-WC_EINVAL, "Invalid device size"};

	if (mirror_)
		return Error{-WC_EINVAL, "SSD metadata initialised twice"};
	if (!pow2(params.block_size) || params.block_size < 512 ||
	    !pow2(params.region_bytes) || params.region_bytes < 512)
		return kBadSize;
	if (params.n_blocks == 0 || params.n_blocks >= kMaxBlocks)
		return kBadSize;
	// n_blocks < 2^47 keeps this far below 2^64.
	uint64_t bytes = data_offset(params.n_blocks, params.block_size);
	uint64_t regions = (bytes + params.region_bytes - 1) / params.region_bytes;
	// upstream: the bitops take int-sized indices.
	if (regions > (1ull << 31))
		return Error{-WC_EFBIG, "Invalid device size"};

	dev_ = &dev;
	params_ = params;
	bs_ = params.block_size;
	region_bytes_ = params.region_bytes;
	regions_ = regions;
	dirty_words_ = (regions + 63) / 64;
	mirror_ = static_cast<uint8_t *>(wc_plat_alloc(bytes, WC_ALLOC_SETUP));
	dirty_ = static_cast<uint64_t *>(wc_plat_alloc(dirty_words_ * 8, WC_ALLOC_SETUP));
	if (!mirror_ || !dirty_)
		return Error{-WC_ENOMEM, "Unable to allocate memory for metadata"};
	mirror_bytes_ = bytes;
	__builtin_memset(mirror_, 0, bytes);
	__builtin_memset(dirty_, 0, dirty_words_ * 8);
	n_blocks_ = params.n_blocks;
	meta_sectors_ = bytes >> kSectorShift;
	return Status::success();
}

Status SsdMetadata::set_n_blocks(uint64_t n)
{
	if (n == 0 || n >= kMaxBlocks || data_offset(n, bs_) > mirror_bytes_)
		return Error{-WC_EINVAL, "Memory area is too small"};
	n_blocks_ = n;
	meta_sectors_ = data_offset(n, bs_) >> kSectorShift;
	return Status::success();
}

uint64_t SsdMetadata::get64(uint64_t off) const
{
	uint64_t v;
	__builtin_memcpy(&v, mirror_ + off, 8);
	return from_le64(v);
}

void SsdMetadata::put64(uint64_t off, uint64_t v)
{
	v = to_le64(v);
	__builtin_memcpy(mirror_ + off, &v, 8);
}

// upstream writecache_flush_region() marks only the region holding the
// start; every field we write lies inside one region.
void SsdMetadata::mark(uint64_t byte_off)
{
	uint64_t i = byte_off / region_bytes_;
	dirty_[i / 64] |= 1ull << (i % 64);
}

void SsdMetadata::mark_all_dirty()
{
	for (uint64_t w = 0; w < dirty_words_; w++)
		dirty_[w] = ~0ull;
	// Keep bits past the last region clear so dirty_regions() is exact.
	if (regions_ % 64)
		dirty_[dirty_words_ - 1] = (1ull << (regions_ % 64)) - 1;
}

uint64_t SsdMetadata::dirty_regions() const
{
	uint64_t n = 0;
	for (uint64_t w = 0; w < dirty_words_; w++)
		n += popcount64(dirty_[w]);
	return n;
}

uint64_t SsdMetadata::entry_sector(uint64_t b) const
{
	return get64(entry_offset(b) + kOffOriginalSector);
}

uint64_t SsdMetadata::entry_seq(uint64_t b) const
{
	return get64(entry_offset(b) + kOffEntrySeq);
}

void SsdMetadata::set_entry(uint64_t b, uint64_t original_sector, uint64_t seq)
{
	put64(entry_offset(b) + kOffOriginalSector, original_sector);
	put64(entry_offset(b) + kOffEntrySeq, seq);
	mark(entry_offset(b));
}

void SsdMetadata::set_entry_free(uint64_t b)
{
	put64(entry_offset(b) + kOffEntrySeq, kSeqFree);
	mark(entry_offset(b));
}

SsdSuperblock SsdMetadata::superblock() const
{
	uint64_t mv = get64(kOffMagic), bp = get64(kOffBlockSize);
	return SsdSuperblock{
		static_cast<uint32_t>(mv), static_cast<uint32_t>(mv >> 32),
		static_cast<uint32_t>(bp), get64(kOffNBlocks), get64(kOffSeqCount),
	};
}

void SsdMetadata::set_superblock(const SsdSuperblock &sb)
{
	put64(kOffMagic, (static_cast<uint64_t>(sb.version) << 32) | sb.magic);
	put64(kOffBlockSize, sb.block_size);	// pad = 0
	put64(kOffNBlocks, sb.n_blocks);
	put64(kOffSeqCount, sb.seq_count);
	mark(0);
}

uint64_t SsdMetadata::seq_count() const
{
	return get64(kOffSeqCount);
}

Status SsdMetadata::fail(const Status &s, const char *msg)
{
	failed_ = true;
	return Error{s.error().code, msg};
}

Status SsdMetadata::read_head(uint64_t sectors)
{
	if (sectors > meta_sectors_)
		sectors = meta_sectors_;
	Status r = dev_->read(0, mirror_, sectors);
	if (!r.ok())
		return fail(r, "unable to read metadata");
	return Status::success();
}

Status SsdMetadata::load()
{
	uint8_t sb[kSuperblockBytes];

	__builtin_memcpy(sb, mirror_, sizeof(sb));
	__builtin_memset(dirty_, 0, dirty_words_ * 8);
	Status r = dev_->read(0, mirror_, meta_sectors_);
	if (!r.ok()) {
		// A failed read leaves the buffer undefined: drop every
		// cached block, as upstream does, and keep the last known
		// superblock rather than whatever the read left.
		__builtin_memcpy(mirror_, sb, sizeof(sb));
		__builtin_memset(mirror_ + kSuperblockBytes, 0xff,
				 (meta_sectors_ << kSectorShift) - kSuperblockBytes);
		return fail(r, "unable to read metadata");
	}
	failed_ = false;
	return Status::success();
}

// Every run of dirty regions in one write each, clipped to the metadata
// area; all in flight together, then waited for.
Status SsdMetadata::write_dirty_regions()
{
	const uint64_t step = region_bytes_ >> kSectorShift;
	bool any = false;

	for (uint64_t i = next_bit(dirty_, regions_, 0, true); i < regions_;) {
		uint64_t j = next_bit(dirty_, regions_, i, false);
		uint64_t sector = i * step, count = (j - i) * step;
		if (sector >= meta_sectors_)
			break;
		if (count > meta_sectors_ - sector)
			count = meta_sectors_ - sector;
		dev_->submit_write(sector, mirror_ + i * region_bytes_, count, false);
		any = true;
		i = next_bit(dirty_, regions_, j, true);
	}
	return any ? dev_->wait_writes() : Status::success();
}

Status SsdMetadata::flush_metadata(bool wait_for_data)
{
	if (failed_)
		return kFailedState;
	Status r = write_dirty_regions();
	if (!r.ok())
		return fail(r, "error writing metadata");
	// The 5.4.19 fix: data writes still in flight are not covered by a
	// PREFLUSH, so wait for them first.
	if (wait_for_data && !params_.test_flush_before_data_wait)
		dev_->wait_for_data_writes();
	if (!(wait_for_data && params_.test_skip_flush)) {
		r = dev_->flush();
		if (!r.ok())
			return fail(r, "error flushing metadata");
	}
	if (wait_for_data && params_.test_flush_before_data_wait)
		dev_->wait_for_data_writes();
	__builtin_memset(dirty_, 0, dirty_words_ * 8);
	return Status::success();
}

Status SsdMetadata::commit()
{
	Status r = flush_metadata(true);
	if (!r.ok())
		return r;
	// The commit point: entries stamped seq_count become committed.
	put64(kOffSeqCount, seq_count() + 1);
	uint64_t count = (bs_ > kSsdSuperblockWriteMin ? bs_ : kSsdSuperblockWriteMin) >>
			 kSectorShift;
	if (count > meta_sectors_)
		count = meta_sectors_;
	dev_->submit_write(0, mirror_, count, true);
	r = dev_->wait_writes();
	if (!r.ok())
		return fail(r, "error writing superblock");
	return Status::success();
}

Status SsdMetadata::sync_data()
{
	if (failed_)
		return kFailedState;
	dev_->wait_for_data_writes();
	Status r = dev_->flush();
	if (!r.ok())
		return fail(r, "error flushing metadata");
	return Status::success();
}

Status SsdMetadata::format()
{
	if (failed_)
		return kFailedState;
	for (uint64_t off = 0; off < kSuperblockBytes; off += 8)
		put64(off, 0);
	set_superblock(SsdSuperblock{0, kVersion, bs_, n_blocks_, 0});
	for (uint64_t b = 0; b < n_blocks_; b++) {
		put64(entry_offset(b) + kOffOriginalSector, ~0ull);
		put64(entry_offset(b) + kOffEntrySeq, kSeqFree);
	}
	mark_all_dirty();
	Status r = flush_metadata(false);
	if (!r.ok())
		return r;
	// Only now the magic, on its own: a crash before it leaves a header
	// the next open rejects instead of silently re-formatting.
	set_superblock(SsdSuperblock{kMagic, kVersion, bs_, n_blocks_, 0});
	return flush_metadata(false);
}

} // namespace wc
