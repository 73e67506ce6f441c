// SPDX-License-Identifier: GPL-2.0
// Small freestanding text helpers: a bounded output buffer and the
// number/keyword parsing rules of the kernel's sscanf/strcasecmp, which the
// table grammar inherits from upstream.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace wc {

// Appends to a caller-owned buffer; never overflows, always NUL-terminates
// (when cap > 0) and remembers the length it would have needed.
class TextBuf {
public:
	TextBuf(char *buf, size_t cap) : buf_(buf), cap_(cap) { terminate(); }

	void put(char c);
	void put(const char *s);
	void put_u64(uint64_t v);
	// Length written so far, counting what did not fit.
	size_t length() const { return len_; }

private:
	void terminate();

	char *buf_;
	size_t cap_;
	size_t len_ = 0;
};

// Kernel "%u%c"-style parse of a whole word: optional leading spaces, at
// least one decimal digit, nothing after. Digits accumulate modulo 2^64 as
// the kernel's simple_strntoull does. Returns false if the word does not
// match exactly one field.
bool parse_u64_word(const char *s, uint64_t *out);
// "%u%c": as above, truncated to 32 bits.
bool parse_u32_word(const char *s, uint32_t *out);
// "%d%c": an optional '-' is accepted; the result is truncated to int.
bool parse_int_word(const char *s, int32_t *out);

// ASCII case-insensitive equality (the kernel's strcasecmp() == 0).
bool equals_nocase(const char *a, const char *b);

} // namespace wc
