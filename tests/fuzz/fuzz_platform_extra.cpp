// SPDX-License-Identifier: GPL-2.0
// Platform services that tests/unit/platform_user.cpp may not (yet)
// provide, linked into every fuzz target. All are weak: where
// platform_user.cpp (or anything else linked) defines the same symbol, that
// definition wins and these are dropped.
//
// Not a fuzz target: scripts/fuzz.sh treats a tests/fuzz/*.cpp without
// LLVMFuzzerTestOneInput as a support source linked into every target.
#include <wc_abi.h>

#include <cstring>

// The generic (non-CLFLUSHOPT, non-DC CVAP) flush path.
extern "C" __attribute__((weak)) int wc_plat_cpu_has_clflushopt(void)
{
	return 0;
}

extern "C" __attribute__((weak)) int wc_plat_cpu_has_dcpop(void)
{
	return 0;
}

// Userspace memory never reports a machine check: everything copied.
extern "C" __attribute__((weak)) size_t wc_plat_copy_mc(void *dst,
							const void *src,
							size_t n)
{
	std::memcpy(dst, src, n);
	return 0;
}
