// SPDX-License-Identifier: GPL-2.0
// The on-media format, version 1: bit-compatible with upstream
// dm-writecache. Every multi-byte field is little-endian on every host.
//
//   byte 0 (relative to start_sector*512 of the cache device):
//     superblock, 64 bytes
//   byte 64:
//     entries[n_blocks], 16 bytes each; entry i describes data block i
//   byte round_up(64 + 16*n_blocks, block_size):
//     data blocks, block i at data_offset + i*block_size
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace wc::layout {

inline constexpr uint32_t kMagic = 0x23489321;
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kSeqFree = ~0ull;	// entry.seq_count of a free block
inline constexpr size_t kSuperblockBytes = 64;
inline constexpr size_t kEntryBytes = 16;
// wc_entry.index is a 47-bit field upstream; keep images interchangeable.
inline constexpr uint64_t kMaxBlocks = 1ull << 47;

// Byte offsets inside the superblock.
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffBlockSize = 8;
inline constexpr size_t kOffPad = 12;
inline constexpr size_t kOffNBlocks = 16;
inline constexpr size_t kOffSeqCount = 24;

// Byte offsets inside an entry.
inline constexpr size_t kOffOriginalSector = 0;
inline constexpr size_t kOffEntrySeq = 8;

inline constexpr uint64_t entry_offset(uint64_t index)
{
	return kSuperblockBytes + kEntryBytes * index;
}

// Where the data area starts for n_blocks entries (no overflow checks:
// callers bound n_blocks first).
inline constexpr uint64_t data_offset(uint64_t n_blocks, uint32_t block_size)
{
	return (entry_offset(n_blocks) + block_size - 1) &
	       ~static_cast<uint64_t>(block_size - 1);
}

} // namespace wc::layout
