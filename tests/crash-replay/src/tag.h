// SPDX-License-Identifier: GPL-2.0
// What the workload writes: self-describing 4 KiB blocks.
//
//   bytes 0..7    magic "WCTAGv1\0" (tagged data) or "WCPOISON" (poison)
//   bytes 8..15   tagged: the block number (4 KiB units of the device the
//                 workload writes); poison: the slot number in the cache
//   bytes 16..23  tagged: the version (the workload's op number; 0 is the
//                 initial content of every origin block)
//   bytes 24..31  checksum of the block with these 8 bytes zeroed
//   bytes 32..    payload, a function of (block, version)
//
// The cache device's data area starts out as poison, so a committed cache
// entry whose data never reached the cache reads back as poison.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lw {

constexpr size_t kBlockBytes = 4096;

void make_tagged(uint8_t *b, uint64_t block, uint64_t version);
void make_poison(uint8_t *b, uint64_t slot);

enum class BlockKind { Zero, Tagged, Poison, Garbage };

struct BlockInfo {
	BlockKind kind = BlockKind::Garbage;
	uint64_t block = 0;   // Tagged: the block number; Poison: the slot
	uint64_t version = 0; // Tagged only
	std::string why;      // Garbage: what is wrong
};

BlockInfo decode_block(const uint8_t *b);

} // namespace lw
