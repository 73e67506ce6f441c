// SPDX-License-Identifier: GPL-2.0
// Small helpers shared by the crash-replay tools: errors, full reads and
// writes, little-endian fields, number parsing, a block hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace lw {

// Every failure is an Error; main() prints it and exits 2.
struct Error : std::runtime_error {
	using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// fail() with ": strerror(errno)" appended.
[[noreturn]] void fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t get_le64(const uint8_t *p);
uint32_t get_le32(const uint8_t *p);
void put_le64(uint8_t *p, uint64_t v);
void put_le32(uint8_t *p, uint32_t v);

// pread/pwrite the whole range (retrying short transfers); fail otherwise.
void pread_full(int fd, void *buf, size_t len, uint64_t off, const std::string &what);
void pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const std::string &what);

// Size in bytes of a regular file or a block device.
uint64_t fd_size(int fd, const std::string &what);
bool fd_is_blockdev(int fd);

// "123", "0x10", "4K", "16M", "1G" (binary units).
uint64_t parse_size(const std::string &s, const char *what);

// A fast 64-bit hash of a buffer (the block checksum).  Not cryptographic;
// it only has to make a torn or misplaced block visible.
uint64_t hash64(const uint8_t *p, size_t len, uint64_t seed);

// splitmix64: the deterministic payload and seed generator.
inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

// A buffer aligned for O_DIRECT.
class AlignedBuf {
public:
	explicit AlignedBuf(size_t len, size_t align = 4096);
	~AlignedBuf();
	AlignedBuf(const AlignedBuf &) = delete;
	AlignedBuf &operator=(const AlignedBuf &) = delete;
	uint8_t *data() { return p_; }
	const uint8_t *data() const { return p_; }
	size_t size() const { return len_; }

private:
	uint8_t *p_ = nullptr;
	size_t len_ = 0;
};

} // namespace lw
