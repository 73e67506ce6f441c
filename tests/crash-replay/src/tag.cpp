// SPDX-License-Identifier: GPL-2.0
#include "tag.h"

#include "common.h"

#include <cstring>

namespace lw {

namespace {

// The magics as little-endian words of their ASCII bytes.
constexpr uint8_t kTagMagic[8] = { 'W', 'C', 'T', 'A', 'G', 'v', '1', 0 };
constexpr uint8_t kPoisonMagic[8] = { 'W', 'C', 'P', 'O', 'I', 'S', 'O', 'N' };
constexpr size_t kSumOff = 24;
constexpr size_t kPayloadOff = 32;

uint64_t block_sum(const uint8_t *b)
{
	uint8_t head[kPayloadOff];
	memcpy(head, b, sizeof(head));
	memset(head + kSumOff, 0, 8);
	uint64_t h = hash64(head, sizeof(head), 0x5743);
	return hash64(b + kPayloadOff, kBlockBytes - kPayloadOff, h);
}

void fill_payload(uint8_t *b, uint64_t seed)
{
	uint64_t x = mix64(seed);
	for (size_t i = kPayloadOff; i < kBlockBytes; i += 8) {
		x = mix64(x);
		put_le64(b + i, x);
	}
}

} // namespace

void make_tagged(uint8_t *b, uint64_t block, uint64_t version)
{
	memcpy(b, kTagMagic, 8);
	put_le64(b + 8, block);
	put_le64(b + 16, version);
	fill_payload(b, mix64(block) ^ version);
	put_le64(b + kSumOff, 0);
	put_le64(b + kSumOff, block_sum(b));
}

void make_poison(uint8_t *b, uint64_t slot)
{
	memcpy(b, kPoisonMagic, 8);
	put_le64(b + 8, slot);
	memset(b + 16, 0x5a, kBlockBytes - 16);
}

BlockInfo decode_block(const uint8_t *b)
{
	BlockInfo bi;
	if (!memcmp(b, kPoisonMagic, 8)) {
		bi.kind = BlockKind::Poison;
		bi.block = get_le64(b + 8);
		return bi;
	}
	if (!memcmp(b, kTagMagic, 8)) {
		bi.block = get_le64(b + 8);
		bi.version = get_le64(b + 16);
		if (get_le64(b + kSumOff) != block_sum(b)) {
			bi.why = strf("bad checksum (tag says block %llu version %llu)",
				      (unsigned long long)bi.block,
				      (unsigned long long)bi.version);
			return bi;
		}
		bi.kind = BlockKind::Tagged;
		return bi;
	}
	size_t i = 0;
	while (i < kBlockBytes && !b[i])
		i++;
	if (i == kBlockBytes) {
		bi.kind = BlockKind::Zero;
		return bi;
	}
	bi.why = strf("no tag (first bytes %02x %02x %02x %02x %02x %02x %02x %02x)", b[0], b[1],
		      b[2], b[3], b[4], b[5], b[6], b[7]);
	return bi;
}

} // namespace lw
