// SPDX-License-Identifier: GPL-2.0
// The pmem flush layer of the architecture being built, chosen at compile
// time: native_pmem() (the Pmem interface) and the direct entry points
// the I/O paths call (flush_layer.h).
//
// Why the sequences differ (seeds: 2018-dm-devel-writecache-pmem-wrapper,
// 2015-lkml-pmem-dax-io-path): on x86_64 non-temporal stores are faster
// than cached stores plus cache flushing, so the copy itself sends the data
// towards media ("flush early"), flush() is empty and commit() only has to
// sfence. arm64 has no such stores: the copy is cached, and cleaning lines
// eagerly after each copy is slower than cleaning them as late as possible,
// so flush() issues DC CVAP just before the commit and commit() is the DSB
// that waits for it ("flush late"). Either sequence is slow on the other
// architecture, hence one interface and per-arch classes.
#include "flush_layer.h"

#if defined(__x86_64__)
#include "pmem/x86_64.h"
#elif defined(__aarch64__)
#include "pmem/arm64.h"
#else
#include "pmem/generic.h"
#endif

namespace wc {

namespace {

#if defined(__x86_64__)
using NativePmem = X86Pmem;
#elif defined(__aarch64__)
using NativePmem = Arm64Pmem;
#else
using NativePmem = GenericPmem;
#endif

// Constant-initialised (vtable pointer only): the module loader runs no
// constructors.
constinit NativePmem g_native_pmem;

} // namespace

Pmem &native_pmem()
{
	return g_native_pmem;
}

// NativePmem is final: these calls are direct, and inline here.
void native_memcpy(void *dst, const void *src, size_t n)
{
	g_native_pmem.memcpy(dst, src, n);
}

void native_flush(void *dst, size_t n)
{
	g_native_pmem.flush(dst, n);
}

void native_commit()
{
	g_native_pmem.commit();
}

void native_assign(uint64_t *dst, uint64_t v)
{
	g_native_pmem.assign(dst, v);
}

bool native_read(void *dst, const void *src, size_t n)
{
	return g_native_pmem.read(dst, src, n);
}

} // namespace wc
