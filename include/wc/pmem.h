// SPDX-License-Identifier: GPL-2.0
// The persistent-memory flush layer: the four operations dm-writecache's
// pmem wrapper introduced (see docs/ and the 2018 dm-devel thread), behind
// one interface so the core is written once and each architecture supplies
// its fastest sequence:
//
//   memcpy(dst, src, n)  copy that may leave data in the CPU cache
//   flush(dst, n)        write back what memcpy left; call as late as
//                        possible (after other work, just before commit)
//   commit()             ordering barrier: everything copied+flushed or
//                        assigned before it is durable after it
//   assign(dst, v)       atomic 8-byte store to pmem (metadata); durable
//                        after the next commit() with no flush() needed
//
// To make data durable all of memcpy, flush and commit must be called.
// x86_64: memcpy is non-temporal (already on its way), flush is empty,
// commit is sfence. arm64: memcpy is cached, flush is DC CVAP per line,
// commit is DSB. A generic fallback uses memcpy and a full barrier.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace wc {

class Pmem {
public:
	virtual void memcpy(void *dst, const void *src, size_t n) = 0;
	virtual void flush(void *dst, size_t n) = 0;
	virtual void commit() = 0;
	virtual void assign(uint64_t *dst, uint64_t v) = 0;
	// Machine-check-safe read (copy_mc_to_kernel in the kernel). Returns
	// false if the source was poisoned; dst is then undefined.
	virtual bool read(void *dst, const void *src, size_t n) = 0;
	virtual const char *name() const = 0;

protected:
	~Pmem() = default;
};

// The implementation for the architecture being built.
Pmem &native_pmem();

} // namespace wc
