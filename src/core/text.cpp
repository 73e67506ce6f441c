// SPDX-License-Identifier: GPL-2.0
#include "text.h"

namespace wc {

void TextBuf::terminate()
{
	if (cap_ == 0)
		return;
	buf_[len_ < cap_ ? len_ : cap_ - 1] = '\0';
}

void TextBuf::put(char c)
{
	if (len_ + 1 < cap_)
		buf_[len_] = c;
	len_++;
	terminate();
}

void TextBuf::put(const char *s)
{
	while (*s)
		put(*s++);
}

void TextBuf::put_u64(uint64_t v)
{
	char digits[20];
	int n = 0;

	do {
		digits[n++] = static_cast<char>('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		put(digits[--n]);
}

namespace {

// The kernel's isspace(): also 0xa0 (its ctype table is Latin-1).
bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == '\xa0';
}

bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Digits only, wrapping modulo 2^64; *end is set past the last digit.
bool parse_digits(const char *s, uint64_t *out, const char **end)
{
	if (!is_digit(*s))
		return false;
	uint64_t v = 0;
	while (is_digit(*s))
		v = v * 10 + static_cast<uint64_t>(*s++ - '0');
	*out = v;
	*end = s;
	return true;
}

} // namespace

bool parse_u64_word(const char *s, uint64_t *out)
{
	const char *end;

	while (is_space(*s))
		s++;
	if (!parse_digits(s, out, &end))
		return false;
	// "%c" after the number must find nothing (end of string).
	return *end == '\0';
}

bool parse_u32_word(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!parse_u64_word(s, &v))
		return false;
	*out = static_cast<uint32_t>(v);
	return true;
}

bool parse_int_word(const char *s, int32_t *out)
{
	const char *end;
	bool neg = false;
	uint64_t v;

	while (is_space(*s))
		s++;
	if (*s == '-') {
		neg = true;
		s++;
	}
	if (!parse_digits(s, &v, &end) || *end != '\0')
		return false;
	if (neg)
		v = 0 - v;
	*out = static_cast<int32_t>(static_cast<uint32_t>(v));
	return true;
}

bool equals_nocase(const char *a, const char *b)
{
	while (*a && lower(*a) == lower(*b)) {
		a++;
		b++;
	}
	return lower(*a) == lower(*b);
}

} // namespace wc
