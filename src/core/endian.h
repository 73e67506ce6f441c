// SPDX-License-Identifier: GPL-2.0
// Little-endian conversion for the on-media format, on any host.
#pragma once

#include <stdint.h>

namespace wc {

constexpr uint64_t bswap64(uint64_t v) { return __builtin_bswap64(v); }
constexpr uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr uint64_t to_le64(uint64_t v) { return v; }
constexpr uint32_t to_le32(uint32_t v) { return v; }
#else
constexpr uint64_t to_le64(uint64_t v) { return bswap64(v); }
constexpr uint32_t to_le32(uint32_t v) { return bswap32(v); }
#endif
constexpr uint64_t from_le64(uint64_t v) { return to_le64(v); }
constexpr uint32_t from_le32(uint32_t v) { return to_le32(v); }

// Two little-endian 32-bit fields as the 64-bit little-endian word that
// holds them (lo at the lower address).
constexpr uint64_t le_pair32(uint32_t lo, uint32_t hi)
{
	return to_le64((static_cast<uint64_t>(hi) << 32) | lo);
}

} // namespace wc
