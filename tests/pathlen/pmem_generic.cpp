// SPDX-License-Identifier: GPL-2.0
// tests/pathlen/pmem_generic.cpp: replaces src/core/pmem.cpp in the
// callgrind build (PMEM=generic, the default). valgrind may not know the
// x86 layer's non-temporal stores and cache-line write-backs, so the core
// gets the generic layer (src/core/pmem/generic.h: a cached copy and a full
// barrier). Besides native_pmem() it defines the direct entry points some
// versions of the core call (native_memcpy() and friends, flush_layer.h);
// keep the list in step with src/core/pmem.cpp.
#include <stddef.h>
#include <stdint.h>

#include <wc/pmem.h>

#include "pmem/generic.h"

namespace wc {

Pmem &native_pmem();
void native_memcpy(void *dst, const void *src, size_t n);
void native_flush(void *dst, size_t n);
void native_commit();
void native_assign(uint64_t *dst, uint64_t v);
bool native_read(void *dst, const void *src, size_t n);

namespace {
constinit GenericPmem g_generic_pmem;
} // namespace

Pmem &native_pmem()
{
	return g_generic_pmem;
}

void native_memcpy(void *dst, const void *src, size_t n)
{
	g_generic_pmem.memcpy(dst, src, n);
}

void native_flush(void *dst, size_t n)
{
	g_generic_pmem.flush(dst, n);
}

void native_commit()
{
	g_generic_pmem.commit();
}

void native_assign(uint64_t *dst, uint64_t v)
{
	g_generic_pmem.assign(dst, v);
}

bool native_read(void *dst, const void *src, size_t n)
{
	return g_generic_pmem.read(dst, src, n);
}

} // namespace wc
