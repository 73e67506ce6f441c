// SPDX-License-Identifier: GPL-2.0
#include "common.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lw {

static std::string vstrf(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(nullptr, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return fmt;
	std::string s(static_cast<size_t>(n) + 1, '\0');
	vsnprintf(&s[0], s.size(), fmt, ap);
	s.resize(static_cast<size_t>(n));
	return s;
}

std::string strf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	std::string s = vstrf(fmt, ap);
	va_end(ap);
	return s;
}

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	std::string s = vstrf(fmt, ap);
	va_end(ap);
	throw Error(s);
}

void fail_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	std::string s = vstrf(fmt, ap);
	va_end(ap);
	throw Error(s + ": " + strerror(e));
}

uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint32_t get_le32(const uint8_t *p)
{
	return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
	       static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void pread_full(int fd, void *buf, size_t len, uint64_t off, const std::string &what)
{
	auto *p = static_cast<uint8_t *>(buf);
	while (len) {
		ssize_t n = pread(fd, p, len, static_cast<off_t>(off));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail_errno("read %s at %llu", what.c_str(), (unsigned long long)off);
		}
		if (n == 0)
			fail("read %s at %llu: unexpected end", what.c_str(),
			     (unsigned long long)off);
		p += n;
		len -= static_cast<size_t>(n);
		off += static_cast<uint64_t>(n);
	}
}

void pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const std::string &what)
{
	auto *p = static_cast<const uint8_t *>(buf);
	while (len) {
		ssize_t n = pwrite(fd, p, len, static_cast<off_t>(off));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail_errno("write %s at %llu", what.c_str(), (unsigned long long)off);
		}
		if (n == 0)
			fail("write %s at %llu: no progress", what.c_str(),
			     (unsigned long long)off);
		p += n;
		len -= static_cast<size_t>(n);
		off += static_cast<uint64_t>(n);
	}
}

bool fd_is_blockdev(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISBLK(st.st_mode);
}

uint64_t fd_size(int fd, const std::string &what)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail_errno("stat %s", what.c_str());
	if (S_ISREG(st.st_mode))
		return static_cast<uint64_t>(st.st_size);
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
			fail_errno("BLKGETSIZE64 %s", what.c_str());
		return sz;
	}
	fail("%s is neither a regular file nor a block device", what.c_str());
}

uint64_t parse_size(const std::string &s, const char *what)
{
	if (s.empty())
		fail("%s: empty number", what);
	errno = 0;
	char *end = nullptr;
	unsigned long long v = strtoull(s.c_str(), &end, 0);
	if (errno || end == s.c_str() || s[0] == '-')
		fail("%s: bad number '%s'", what, s.c_str());
	uint64_t mul = 1;
	std::string suf(end);
	if (suf == "K" || suf == "k")
		mul = 1ULL << 10;
	else if (suf == "M" || suf == "m")
		mul = 1ULL << 20;
	else if (suf == "G" || suf == "g")
		mul = 1ULL << 30;
	else if (!suf.empty())
		fail("%s: bad number '%s'", what, s.c_str());
	if (v > UINT64_MAX / mul)
		fail("%s: '%s' is too large", what, s.c_str());
	return v * mul;
}

uint64_t hash64(const uint8_t *p, size_t len, uint64_t seed)
{
	// One multiply per word (the checker hashes every block of every
	// crash state, under TCG); position-dependent through the rotation.
	uint64_t h = mix64(seed ^ len);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		h ^= get_le64(p + i);
		h = ((h << 29) | (h >> 35)) * 0x9e3779b97f4a7c15ULL;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return mix64(h);
}

AlignedBuf::AlignedBuf(size_t len, size_t align) : len_(len)
{
	void *p = nullptr;
	if (posix_memalign(&p, align, len ? len : align))
		throw std::bad_alloc();
	p_ = static_cast<uint8_t *>(p);
	memset(p_, 0, len);
}

AlignedBuf::~AlignedBuf()
{
	free(p_);
}

} // namespace lw
