// SPDX-License-Identifier: GPL-2.0
// Shared helpers for the libFuzzer targets (tests/fuzz/fuzz_*.cpp):
// an invariant check that traps, and the kernel's dm_split_args() word
// splitting with every word in its own exact-size heap block so that
// AddressSanitizer sees any read past a word or past argv[argc - 1].
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// Print what broke, then trap: libFuzzer records the input as a crash.
#define FUZZ_CHECK(cond, ...)                                              \
	do {                                                               \
		if (!(cond)) {                                             \
			std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", \
				     __FILE__, __LINE__, #cond);           \
			std::fprintf(stderr, "  " __VA_ARGS__);            \
			std::fprintf(stderr, "\n");                        \
			__builtin_trap();                                  \
		}                                                          \
	} while (0)

namespace fuzz {

// The kernel's isspace() (lib/ctype.c): HT, LF, VT, FF, CR, space and, in
// its Latin-1 table, 0xa0 (no-break space).
inline bool kernel_isspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

// dm_split_args() (drivers/md/dm-table.c) over the C string s: words are
// separated by whitespace; a backslash makes the next character (anything
// but the terminating NUL) part of the word; a trailing lone backslash is
// kept. Stops after max_words words (the rest of the line is dropped).
inline std::vector<std::string> split_args(const char *s, size_t max_words)
{
	std::vector<std::string> words;
	const unsigned char *p = reinterpret_cast<const unsigned char *>(s);

	while (words.size() < max_words) {
		while (*p && kernel_isspace(*p))
			p++;
		if (!*p)
			break;
		std::string w;
		while (*p) {
			if (*p == '\\' && p[1]) {
				w.push_back(static_cast<char>(p[1]));
				p += 2;
				continue;
			}
			if (kernel_isspace(*p))
				break;
			w.push_back(static_cast<char>(*p++));
		}
		if (*p)
			p++;	// the separator
		words.push_back(std::move(w));
	}
	return words;
}

// argc/argv for a word list. argv has exactly argc entries (no trailing
// NULL) and each word is its own malloc'd block of strlen + 1 bytes.
class Argv {
public:
	explicit Argv(const std::vector<std::string> &words)
		: argc_(static_cast<unsigned int>(words.size())),
		  argv_(new char *[words.size()])
	{
		for (size_t i = 0; i < words.size(); i++) {
			argv_[i] = static_cast<char *>(std::malloc(words[i].size() + 1));
			std::memcpy(argv_[i], words[i].c_str(), words[i].size() + 1);
		}
	}
	~Argv()
	{
		for (unsigned int i = 0; i < argc_; i++)
			std::free(argv_[i]);
		delete[] argv_;
	}
	Argv(const Argv &) = delete;
	Argv &operator=(const Argv &) = delete;

	unsigned int argc() const { return argc_; }
	char **argv() { return argv_; }
	// The words still read as they were handed over.
	bool unchanged(const std::vector<std::string> &words) const
	{
		for (unsigned int i = 0; i < argc_; i++)
			if (words[i] != argv_[i])
				return false;
		return true;
	}

private:
	unsigned int argc_;
	char **argv_;
};

// Printable rendering of a byte string for failure messages.
inline std::string escaped(const std::string &s)
{
	std::string out;
	char tmp[8];

	for (unsigned char c : s) {
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out.push_back(static_cast<char>(c));
		} else {
			std::snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			out += tmp;
		}
	}
	return out;
}

} // namespace fuzz
