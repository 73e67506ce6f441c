// SPDX-License-Identifier: GPL-2.0
// x86_64 pmem primitives: data leaves memcpy() already on its way to media
// (non-temporal movnti stores, or cached stores + clflushopt for large
// copies), so flush() has nothing to do and commit() is sfence, which
// drains both the write-combining buffers and pending clflushopts.
//
// The logic is a template over the instructions (Isa) so unit tests can run
// it, on any host, against a model that tracks which bytes are durable.
// X86Pmem is the real thing: inline asm only, because the kernel build has
// -mno-sse2 and so no intrinsics.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/pmem.h>
#include <wc_abi.h>

namespace wc {

#if defined(__x86_64__)
struct X86Isa {
	// -fno-strict-aliasing is set everywhere, but say it anyway.
	typedef uint64_t __attribute__((may_alias)) u64_alias;
	typedef uint32_t __attribute__((may_alias)) u32_alias;

	static void nt8(void *d, uint64_t v)
	{
		asm volatile("movnti %1, %0" : "=m"(*static_cast<u64_alias *>(d))
			     : "r"(v));
	}

	static void nt4(void *d, uint32_t v)
	{
		asm volatile("movnti %1, %0" : "=m"(*static_cast<u32_alias *>(d))
			     : "r"(v));
	}

	static void copy_cached(void *d, const void *s, size_t n)
	{
		__builtin_memcpy(d, s, n);
	}

	// "memory": the stores to the line before it must not sink past it.
	static void clflushopt(const void *p)
	{
		asm volatile("clflushopt %0"
			     : "+m"(*const_cast<volatile char *>(
				     static_cast<const char *>(p)))
			     :
			     : "memory");
	}

	static void clflush(const void *p)
	{
		asm volatile("clflush %0"
			     : "+m"(*const_cast<volatile char *>(
				     static_cast<const char *>(p)))
			     :
			     : "memory");
	}

	static void sfence() { asm volatile("sfence" ::: "memory"); }

	static bool has_clflushopt() { return wc_plat_cpu_has_clflushopt(); }
};
#endif

template <typename Isa>
class X86PmemT final : public Pmem {
public:
	// Upstream measured cached copy + clflushopt beating movnti from
	// 1 KiB blocks on (512 B: movnti wins) and switches at 768.
	static constexpr size_t kClflushoptMin = 768;
	// clflushopt line size of every x86_64 CPU that has the instruction;
	// the shims report no CLFLUSHOPT if the CPU says otherwise.
	static constexpr size_t kLine = 64;

	constexpr X86PmemT() = default;

	void memcpy(void *dst, const void *src, size_t n) override
	{
		if (uses_clflushopt(n))
			copy_clflushopt(dst, src, n);
		else
			copy_nt(dst, src, n);
	}

	void flush(void *, size_t) override {}

	void commit() override { Isa::sfence(); }

	// dst must be 8-byte aligned (movnti of an aligned qword is atomic).
	void assign(uint64_t *dst, uint64_t v) override { Isa::nt8(dst, v); }

	bool read(void *dst, const void *src, size_t n) override
	{
		return wc_plat_copy_mc(dst, src, n) == 0;
	}

	const char *name() const override { return "x86_64"; }

	// Which path memcpy() takes for n bytes.
	static bool uses_clflushopt(size_t n)
	{
		return n >= kClflushoptMin && Isa::has_clflushopt();
	}

	// The non-temporal path, any size and alignment. Aligned 8- and
	// 4-byte pieces go through movnti; the 1-3 bytes movnti cannot
	// store at either end are stored cached and their line written back
	// at once, so nothing is left for flush().
	static void copy_nt(void *dst, const void *src, size_t n)
	{
		auto *d = static_cast<unsigned char *>(dst);
		auto *s = static_cast<const unsigned char *>(src);
		size_t head = static_cast<size_t>(-reinterpret_cast<uintptr_t>(d)) & 3;

		if (head) {
			if (head > n)
				head = n;
			copy_cached_and_write_back(d, s, head);
			d += head;
			s += head;
			n -= head;
		}
		if (n >= 4 && (reinterpret_cast<uintptr_t>(d) & 4)) {
			Isa::nt4(d, load<uint32_t>(s));
			d += 4;
			s += 4;
			n -= 4;
		}
		for (; n >= 32; d += 32, s += 32, n -= 32) {
			Isa::nt8(d, load<uint64_t>(s));
			Isa::nt8(d + 8, load<uint64_t>(s + 8));
			Isa::nt8(d + 16, load<uint64_t>(s + 16));
			Isa::nt8(d + 24, load<uint64_t>(s + 24));
		}
		for (; n >= 8; d += 8, s += 8, n -= 8)
			Isa::nt8(d, load<uint64_t>(s));
		if (n >= 4) {
			Isa::nt4(d, load<uint32_t>(s));
			d += 4;
			s += 4;
			n -= 4;
		}
		if (n)
			copy_cached_and_write_back(d, s, n);
	}

	// The large-copy path (CPU must have CLFLUSHOPT): whole 64-byte
	// lines are copied cached and written back with clflushopt, the
	// unaligned head and tail go through copy_nt().
	static void copy_clflushopt(void *dst, const void *src, size_t n)
	{
		auto *d = static_cast<unsigned char *>(dst);
		auto *s = static_cast<const unsigned char *>(src);
		size_t head = static_cast<size_t>(-reinterpret_cast<uintptr_t>(d)) &
			      (kLine - 1);

		if (head) {
			if (head > n)
				head = n;
			copy_nt(d, s, head);
			d += head;
			s += head;
			n -= head;
		}
		for (; n >= kLine; d += kLine, s += kLine, n -= kLine) {
			Isa::copy_cached(d, s, kLine);
			Isa::clflushopt(d);
		}
		if (n)
			copy_nt(d, s, n);
	}

private:
	template <typename T>
	static T load(const unsigned char *s)
	{
		T v;

		__builtin_memcpy(&v, s, sizeof(v));	// unaligned load
		return v;
	}

	// At most 3 bytes inside one aligned 4-byte word: one line.
	static void copy_cached_and_write_back(unsigned char *d,
					       const unsigned char *s, size_t n)
	{
		Isa::copy_cached(d, s, n);
		// clflush is in every x86_64 CPU; clflushopt is cheaper
		// (not ordered against other lines' flushes).
		if (Isa::has_clflushopt())
			Isa::clflushopt(d);
		else
			Isa::clflush(d);
	}
};

#if defined(__x86_64__)
using X86Pmem = X86PmemT<X86Isa>;
#endif

} // namespace wc
