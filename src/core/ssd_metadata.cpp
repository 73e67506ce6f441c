// SPDX-License-Identifier: GPL-2.0
// SSD-mode metadata: the RAM mirror, its dirty regions and the commit
// protocol. The contract is described in ssd_metadata.h.
#include "ssd_metadata.h"

#include <wc_abi.h>

namespace wc {

using namespace layout;

namespace {

constexpr unsigned int kSectorShift = 9;

bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

constexpr Error kFailedState = {-WC_EIO, "metadata is in the error state"};

} // namespace

SsdMetadata::~SsdMetadata()
{
	wc_plat_free(mirror_);
	wc_plat_free(dirty_.words());
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
	mirror_ = static_cast<uint8_t *>(wc_plat_alloc(bytes, WC_ALLOC_SETUP));
	uint64_t *dirty = static_cast<uint64_t *>(
		wc_plat_alloc(Bitmap::words_for(regions) * 8, WC_ALLOC_SETUP));
	dirty_.attach(dirty, regions);
	if (!mirror_ || !dirty)
		return Error{-WC_ENOMEM, "Unable to allocate memory for metadata"};
	mirror_bytes_ = bytes;
	__builtin_memset(mirror_, 0, bytes);
	dirty_.clear_all();
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

// upstream writecache_flush_region() marks only the region holding the
// start; every field we write lies inside one region.
void SsdMetadata::mark(uint64_t byte_off)
{
	dirty_.set(byte_off / region_bytes_);
}

void SsdMetadata::mark_all_dirty()
{
	dirty_.set_all();
}

uint64_t SsdMetadata::entry_sector(uint64_t b) const
{
	return load_le64(mirror_ + entry_offset(b) + kOffOriginalSector);
}

uint64_t SsdMetadata::entry_seq(uint64_t b) const
{
	return load_le64(mirror_ + entry_offset(b) + kOffEntrySeq);
}

void SsdMetadata::set_entry(uint64_t b, uint64_t original_sector, uint64_t seq)
{
	store_entry(mirror_ + entry_offset(b), Entry{original_sector, seq});
	mark(entry_offset(b));
}

void SsdMetadata::set_entry_free(uint64_t b)
{
	store_le64(mirror_ + entry_offset(b) + kOffEntrySeq, kSeqFree);
	mark(entry_offset(b));
}

SsdSuperblock SsdMetadata::superblock() const
{
	return load_superblock(mirror_);
}

void SsdMetadata::set_superblock(const SsdSuperblock &sb)
{
	store_superblock(mirror_, sb);
	mark(0);
}

uint64_t SsdMetadata::seq_count() const
{
	return load_le64(mirror_ + kOffSeqCount);
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
	dirty_.clear_all();
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

	for (uint64_t i = dirty_.find_next_set(0); i < regions_;) {
		uint64_t j = dirty_.find_next_clear(i);
		uint64_t sector = i * step, count = (j - i) * step;
		if (sector >= meta_sectors_)
			break;
		if (count > meta_sectors_ - sector)
			count = meta_sectors_ - sector;
		dev_->submit_write(sector, mirror_ + i * region_bytes_, count, false);
		any = true;
		i = dirty_.find_next_set(j);
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
	dirty_.clear_all();
	return Status::success();
}

Status SsdMetadata::commit()
{
	Status r = flush_metadata(true);
	if (!r.ok())
		return r;
	// The commit point: entries stamped seq_count become committed.
	store_le64(mirror_ + kOffSeqCount, seq_count() + 1);
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
	// The mirror is the medium; each commit writes the dirty regions and
	// flushes: all of them for the body (upstream
	// writecache_flush_all_metadata), then the superblock's alone.
	struct MirrorSink {
		SsdMetadata *md;
		void store(uint64_t off, uint64_t le_word)
		{
			__builtin_memcpy(md->mirror_ + off, &le_word, sizeof(le_word));
		}
		Status commit(FormatStep step)
		{
			if (step == FormatStep::kBody)
				md->mark_all_dirty();
			else
				md->mark(kOffMagic);
			return md->flush_metadata(false);
		}
	} sink{this};
	return layout::format(sink, bs_, n_blocks_);
}

} // namespace wc
