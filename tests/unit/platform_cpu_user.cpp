// SPDX-License-Identifier: GPL-2.0
// Userspace implementation of the CPU-feature and machine-check-copy
// services the kernel shim src/kernel/cpu.c provides (include/wc_abi.h).
// Features are detected once, as the shim's kernel sources do at boot.
#include <wc_abi.h>

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_DCPOP
#define HWCAP_DCPOP (1 << 16)
#endif
#endif

namespace {

#if defined(__x86_64__)
int detect_clflushopt()
{
	unsigned int a, b, c, d;

	// CPUID.(EAX=7,ECX=0):EBX bit 23 = CLFLUSHOPT.
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 23)))
		return 0;
	// Like the kernel shim: the core's clflushopt path assumes 64-byte
	// lines (CPUID.1:EBX[15:8] is the clflush line size in 8-byte units).
	if (!__get_cpuid(1, &a, &b, &c, &d) || ((b >> 8) & 0xff) * 8 != 64)
		return 0;
	return 1;
}
#endif

} // namespace

extern "C" int wc_plat_cpu_has_clflushopt(void)
{
#if defined(__x86_64__)
	static const int has = detect_clflushopt();
	return has;
#else
	return 0;
#endif
}

extern "C" int wc_plat_cpu_has_dcpop(void)
{
#if defined(__aarch64__)
	static const int has = (getauxval(AT_HWCAP) & HWCAP_DCPOP) ? 1 : 0;
	return has;
#else
	return 0;
#endif
}

// No machine checks in userspace tests: a plain copy that always succeeds.
extern "C" size_t wc_plat_copy_mc(void *dst, const void *src, size_t n)
{
	if (n)
		std::memcpy(dst, src, n);
	return 0;
}
