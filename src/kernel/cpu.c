// SPDX-License-Identifier: GPL-2.0
/*
 * CPU features and the machine-check-safe copy for the C++ core's pmem
 * layer (src/core/pmem). The core cannot use alternatives, so it asks
 * here and branches.
 */
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>
#if defined(CONFIG_X86) || defined(CONFIG_ARM64)
#include <asm/cpufeature.h>
#endif
#ifdef CONFIG_X86
#include <asm/processor.h>
#endif

#include "wc_abi.h"

int wc_plat_cpu_has_clflushopt(void)
{
#ifdef CONFIG_X86
	/* The core's clflushopt copy steps 64 bytes per line. */
	return boot_cpu_has(X86_FEATURE_CLFLUSHOPT) &&
	       boot_cpu_data.x86_clflush_size == 64;
#else
	return 0;
#endif
}

int wc_plat_cpu_has_dcpop(void)
{
#ifdef CONFIG_ARM64
	/* A system feature: final before any module can load. */
	return cpus_have_cap(ARM64_HAS_DCPOP);
#else
	return 0;
#endif
}

size_t wc_plat_copy_mc(void *dst, const void *src, size_t n)
{
	/* x86's copy_mc_to_kernel() takes an unsigned int length. */
	while (n) {
		unsigned int chunk = min_t(size_t, n, SZ_1G);
		unsigned long left = copy_mc_to_kernel(dst, src, chunk);

		if (left)
			return n - chunk + left;
		dst += chunk;
		src += chunk;
		n -= chunk;
	}
	return 0;
}
