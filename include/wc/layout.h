// SPDX-License-Identifier: GPL-2.0
// The on-media format, version 1: bit-compatible with upstream
// dm-writecache. Every multi-byte field is little-endian on every host.
//
//   byte 0 (relative to start_sector*512 of the cache device):
//     superblock, 64 bytes (struct wc_memory_superblock)
//   byte 64:
//     entries[n_blocks], 16 bytes each (struct wc_memory_entry); entry i
//     describes data block i
//   byte round_up(64 + 16*n_blocks, block_size):
//     data blocks, block i at data_offset + i*block_size
//
// This header is the only encoder and decoder of the format: the typed
// structs as they lie on media (MemorySuperblock, MemoryEntry, with
// little-endian fields), their decoded host-order values (Superblock,
// Entry), one set of little-endian load/store helpers, the checks an
// existing superblock must pass, and the format routine both modes run
// (format(), over a sink that stores words and commits).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/result.h>

namespace wc::layout {

inline constexpr uint32_t kMagic = 0x23489321;	// on media: 21 93 48 23
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kSeqFree = ~0ull;	// entry.seq_count of a free block
// wc_entry.index is a 47-bit field upstream; keep images interchangeable.
inline constexpr uint64_t kMaxBlocks = 1ull << 47;

// --- byte order ---------------------------------------------------------

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

// A field at p, any alignment.
inline uint32_t load_le32(const void *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, sizeof(v));
	return from_le32(v);
}

inline uint64_t load_le64(const void *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, sizeof(v));
	return from_le64(v);
}

inline void store_le32(void *p, uint32_t v)
{
	v = to_le32(v);
	__builtin_memcpy(p, &v, sizeof(v));
}

inline void store_le64(void *p, uint64_t v)
{
	v = to_le64(v);
	__builtin_memcpy(p, &v, sizeof(v));
}

// A field as it lies on media (upstream's __le32 / __le64).
struct Le32 {
	uint32_t raw;
	constexpr uint32_t get() const { return from_le32(raw); }
	constexpr void set(uint32_t v) { raw = to_le32(v); }
};

struct Le64 {
	uint64_t raw;
	constexpr uint64_t get() const { return from_le64(raw); }
	constexpr void set(uint64_t v) { raw = to_le64(v); }
};

// --- the structs as they lie on media -----------------------------------

// struct wc_memory_superblock. Upstream's is a union of these fields with
// __le64 padding[8]: bytes 32..63 are written 0 by a format and never read.
struct MemorySuperblock {
	Le32 magic;
	Le32 version;
	Le32 block_size;	// bytes
	Le32 pad;		// written 0
	Le64 n_blocks;
	Le64 seq_count;		// the commit counter
	Le64 padding[4];
};

// struct wc_memory_entry.
struct MemoryEntry {
	Le64 original_sector;	// 512-byte sector on the origin
	Le64 seq_count;		// kSeqFree: the block is free
};

static_assert(sizeof(Le32) == 4 && alignof(Le32) == 4, "an __le32");
static_assert(sizeof(Le64) == 8 && alignof(Le64) == 8, "an __le64");
static_assert(sizeof(MemorySuperblock) == 64, "struct wc_memory_superblock is 64 bytes");
static_assert(offsetof(MemorySuperblock, magic) == 0, "magic at 0");
static_assert(offsetof(MemorySuperblock, version) == 4, "version at 4");
static_assert(offsetof(MemorySuperblock, block_size) == 8, "block_size at 8");
static_assert(offsetof(MemorySuperblock, pad) == 12, "pad at 12");
static_assert(offsetof(MemorySuperblock, n_blocks) == 16, "n_blocks at 16");
static_assert(offsetof(MemorySuperblock, seq_count) == 24, "seq_count at 24");
static_assert(offsetof(MemorySuperblock, padding) == 32, "padding from 32");
static_assert(sizeof(MemoryEntry) == 16, "struct wc_memory_entry is 16 bytes");
static_assert(offsetof(MemoryEntry, original_sector) == 0, "original_sector at 0");
static_assert(offsetof(MemoryEntry, seq_count) == 8, "seq_count at 8");

inline constexpr size_t kSuperblockBytes = sizeof(MemorySuperblock);
inline constexpr size_t kEntryBytes = sizeof(MemoryEntry);

// Byte offsets inside the superblock (the pmem paths assign 8-byte words).
inline constexpr size_t kOffMagic = offsetof(MemorySuperblock, magic);
inline constexpr size_t kOffVersion = offsetof(MemorySuperblock, version);
inline constexpr size_t kOffBlockSize = offsetof(MemorySuperblock, block_size);
inline constexpr size_t kOffPad = offsetof(MemorySuperblock, pad);
inline constexpr size_t kOffNBlocks = offsetof(MemorySuperblock, n_blocks);
inline constexpr size_t kOffSeqCount = offsetof(MemorySuperblock, seq_count);

// Byte offsets inside an entry.
inline constexpr size_t kOffOriginalSector = offsetof(MemoryEntry, original_sector);
inline constexpr size_t kOffEntrySeq = offsetof(MemoryEntry, seq_count);

// --- geometry -------------------------------------------------------------

// Byte offset of entry `index`.
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

struct Geometry {
	uint64_t n_blocks;
	uint64_t data_offset;
};

// How many blocks a fresh format of area_bytes holds (upstream's
// calculate_memory_size(), with the same result). Errors: -WC_EINVAL (block
// size not a power of two), -WC_ENOSPC (not one block fits), -WC_EFBIG (more
// than kMaxBlocks would). The messages are generic: callers that report
// upstream's text use their own with the code.
Result<Geometry> fresh_geometry(uint64_t area_bytes, uint32_t block_size);

// --- decoded values -------------------------------------------------------

// The superblock's fields in host order (pad and padding are not kept: a
// format writes them 0 and nothing reads them).
struct Superblock {
	uint32_t magic;
	uint32_t version;
	uint32_t block_size;
	uint64_t n_blocks;
	uint64_t seq_count;
};

struct Entry {
	uint64_t original_sector;
	uint64_t seq_count;
	constexpr bool is_free() const { return seq_count == kSeqFree; }
};

// What a format writes into every entry.
inline constexpr Entry kFreeEntry = {~0ull, kSeqFree};

constexpr MemorySuperblock encode(const Superblock &s)
{
	MemorySuperblock m{};
	m.magic.set(s.magic);
	m.version.set(s.version);
	m.block_size.set(s.block_size);
	m.pad.set(0);
	m.n_blocks.set(s.n_blocks);
	m.seq_count.set(s.seq_count);
	return m;
}

constexpr Superblock decode(const MemorySuperblock &m)
{
	return Superblock{m.magic.get(), m.version.get(), m.block_size.get(),
			  m.n_blocks.get(), m.seq_count.get()};
}

constexpr MemoryEntry encode(const Entry &e)
{
	MemoryEntry m{};
	m.original_sector.set(e.original_sector);
	m.seq_count.set(e.seq_count);
	return m;
}

constexpr Entry decode(const MemoryEntry &m)
{
	return Entry{m.original_sector.get(), m.seq_count.get()};
}

// From and to bytes at any alignment (a pmem copy, the SSD mirror, a test
// image).
inline Superblock load_superblock(const void *p)
{
	MemorySuperblock m;
	__builtin_memcpy(&m, p, sizeof(m));
	return decode(m);
}

// Bytes 0..31 (the fields, pad 0); bytes 32..63 are left alone.
inline void store_superblock(void *p, const Superblock &s)
{
	const MemorySuperblock m = encode(s);
	__builtin_memcpy(p, &m, offsetof(MemorySuperblock, padding));
}

inline Entry load_entry(const void *p)
{
	MemoryEntry m;
	__builtin_memcpy(&m, p, sizeof(m));
	return decode(m);
}

inline void store_entry(void *p, const Entry &e)
{
	const MemoryEntry m = encode(e);
	__builtin_memcpy(p, &m, sizeof(m));
}

// Word i (8 bytes at byte 8*i) of an encoded struct, as it lies on media:
// the unit a pmem assign() stores atomically.
template <typename T>
inline uint64_t le_word(const T &m, size_t i)
{
	uint64_t w;
	__builtin_memcpy(&w, reinterpret_cast<const uint8_t *>(&m) + 8 * i, 8);
	return w;
}

// Magic and version both 0: a device to format (upstream checks only those
// two fields).
constexpr bool is_unformatted(const Superblock &s)
{
	return s.magic == 0 && s.version == 0;
}

// upstream's checks of an existing superblock, in its order and with its
// texts; returns its n_blocks. Every size computed from n_blocks is checked
// for overflow before anything is addressed.
Result<uint64_t> check_superblock(const Superblock &s, uint32_t block_size,
				  uint64_t area_bytes);

// --- format ---------------------------------------------------------------

// The two commits of a format.
enum class FormatStep {
	kBody,	// header without magic and every entry free
	kMagic,	// then the word holding the magic, on its own
};

// upstream init_memory(), for n_blocks (from fresh_geometry()): the header
// with magic 0 (pad and bytes 32..63 zeroed, seq_count 0), every entry
// free, commit; only then the magic, commit. A crash in between leaves
// magic 0 / version 1, which the next open rejects ("Invalid magic")
// instead of silently re-formatting over whatever is there.
//
// The sink is the medium:
//   void sink.store(uint64_t off, uint64_t le_word)
//       the 8-byte word at byte off (a multiple of 8) of the area, already
//       little-endian (pmem: one assign; SSD: the RAM mirror);
//   R sink.commit(FormatStep step)
//       make everything stored so far durable; R is a Status (or anything
//       with ok()), and the format stops at the first that is not ok.
template <typename Sink>
auto format(Sink &sink, uint32_t block_size, uint64_t n_blocks)
	-> decltype(sink.commit(FormatStep::kBody))
{
	MemorySuperblock sb = encode(Superblock{0, kVersion, block_size, n_blocks, 0});
	for (size_t w = 0; w < sizeof(sb) / 8; w++)
		sink.store(8 * w, le_word(sb, w));
	const MemoryEntry free_entry = encode(kFreeEntry);
	for (uint64_t b = 0; b < n_blocks; b++) {
		sink.store(entry_offset(b), le_word(free_entry, 0));
		sink.store(entry_offset(b) + 8, le_word(free_entry, 1));
	}
	auto r = sink.commit(FormatStep::kBody);
	if (!r.ok())
		return r;
	sb.magic.set(kMagic);
	static_assert(kOffMagic == 0 && kOffVersion == 4, "magic shares word 0 with version");
	sink.store(0, le_word(sb, 0));
	return sink.commit(FormatStep::kMagic);
}

} // namespace wc::layout
