// SPDX-License-Identifier: GPL-2.0
// arm64 pmem primitives: arm64 has no non-temporal store that bypasses the
// cache, so memcpy() is a plain cached copy, flush() cleans each line to
// the Point of Persistence (DC CVAP; DC CVAC to the Point of Coherency on
// CPUs without FEAT_DPB), and commit() is the DSB that waits for those
// cleans to complete.
//
// The logic is a template over the instructions (Isa) so unit tests can run
// it, on any host, against a model that tracks which bytes are durable.
// Arm64Pmem is the real thing.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/pmem.h>
#include <wc_abi.h>

namespace wc {

#if defined(__aarch64__)
struct Arm64Isa {
	static void copy_cached(void *d, const void *s, size_t n)
	{
		__builtin_memcpy(d, s, n);
	}

	// Aligned: a single STR, single-copy atomic.
	static void store8(uint64_t *d, uint64_t v)
	{
		__atomic_store_n(d, v, __ATOMIC_RELAXED);
	}

	// "memory": earlier stores to the line must not sink past the clean.
	// DC CVAP is spelt as its SYS encoding because the assembler accepts
	// the mnemonic only with -march=armv8.2-a or later.
	static void dc_cvap(uintptr_t p)
	{
		asm volatile("sys #3, c7, c12, #1, %0" : : "r"(p) : "memory");
	}

	static void dc_cvac(uintptr_t p)
	{
		asm volatile("dc cvac, %0" : : "r"(p) : "memory");
	}

	static void dsb_sy() { asm volatile("dsb sy" ::: "memory"); }

	static uint64_t ctr_el0()
	{
		uint64_t v;

		asm volatile("mrs %0, ctr_el0" : "=r"(v));
		return v;
	}

	static bool has_dcpop() { return wc_plat_cpu_has_dcpop(); }
};
#endif

template <typename Isa>
class Arm64PmemT final : public Pmem {
public:
	constexpr Arm64PmemT() = default;

	void memcpy(void *dst, const void *src, size_t n) override
	{
		if (n)
			Isa::copy_cached(dst, src, n);
	}

	// Issues the cleans without waiting for them: several flush()es can
	// overlap and the single DSB in commit() waits for all of them.
	void flush(void *dst, size_t n) override
	{
		if (!n)
			return;
		uintptr_t line = dcache_line_size();
		uintptr_t p = reinterpret_cast<uintptr_t>(dst) & ~(line - 1);
		uintptr_t end = reinterpret_cast<uintptr_t>(dst) + n;

		if (Isa::has_dcpop()) {
			for (; p < end; p += line)
				Isa::dc_cvap(p);
		} else {
			for (; p < end; p += line)
				Isa::dc_cvac(p);
		}
	}

	// DSB, not DMB: a DMB only orders, a DSB waits until the cleans have
	// completed. SY, not ISH: the Point of Persistence (the memory
	// controller) is outside the inner-shareable domain; it is also the
	// barrier the kernel's own clean-to-PoP routine ends with. Full, not
	// ST, so the wait does not rest on cleans counting as stores; it is
	// paid once per commit, not per line.
	void commit() override { Isa::dsb_sy(); }

	// An aligned 8-byte store is single-copy atomic. Its line is cleaned
	// right away (a clean is ordered after earlier stores to the same
	// line), so metadata needs no flush(): the caller only has to
	// commit(). One clean per word costs more than a batched flush, but
	// assign() is for a few metadata words per commit, and it saves the
	// core from tracking which metadata lines it dirtied.
	void assign(uint64_t *dst, uint64_t v) override
	{
		Isa::store8(dst, v);
		if (Isa::has_dcpop())
			Isa::dc_cvap(reinterpret_cast<uintptr_t>(dst));
		else
			Isa::dc_cvac(reinterpret_cast<uintptr_t>(dst));
	}

	bool read(void *dst, const void *src, size_t n) override
	{
		return wc_plat_copy_mc(dst, src, n) == 0;
	}

	const char *name() const override { return "arm64"; }

	// Smallest data cache line of this CPU: CTR_EL0.DminLine is log2 of
	// the number of 4-byte words. Read on every flush() rather than
	// cached, so there is no mutable global state. (The kernel uses a
	// system-wide sanitised value for parts whose cores disagree; no
	// arm64 part with differing D-cache lines is known to us.)
	static uintptr_t dcache_line_size()
	{
		return static_cast<uintptr_t>(4) << ((Isa::ctr_el0() >> 16) & 0xf);
	}
};

#if defined(__aarch64__)
using Arm64Pmem = Arm64PmemT<Arm64Isa>;
#endif

} // namespace wc
