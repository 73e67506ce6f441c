// SPDX-License-Identifier: GPL-2.0
// Fallback pmem primitives for architectures without a tuned sequence:
// a cached copy and a full barrier. There is no portable way to write a
// cache line back, so this is durable only where stores that are globally
// visible are also persistent (or on hosts used for testing).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/pmem.h>
#include <wc_abi.h>

namespace wc {

class GenericPmem final : public Pmem {
public:
	constexpr GenericPmem() = default;

	void memcpy(void *dst, const void *src, size_t n) override
	{
		if (n)
			__builtin_memcpy(dst, src, n);
	}

	void flush(void *, size_t) override {}

	void commit() override { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

	// dst must be 8-byte aligned.
	void assign(uint64_t *dst, uint64_t v) override
	{
		__atomic_store_n(dst, v, __ATOMIC_RELAXED);
	}

	bool read(void *dst, const void *src, size_t n) override
	{
		return wc_plat_copy_mc(dst, src, n) == 0;
	}

	const char *name() const override { return "generic"; }
};

} // namespace wc
