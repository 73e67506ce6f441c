// SPDX-License-Identifier: GPL-2.0
// Userspace implementation of the platform services the kernel shim
// provides (include/wc_abi.h): malloc with a live-allocation counter, and
// a log that tests can inspect.
#include "platform_user.h"

#include <wc_abi.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {
std::atomic<long> g_allocs{0};
std::mutex g_log_mu;
std::vector<std::string> g_log;
} // namespace

std::vector<std::string> wc_test_log_take()
{
	std::lock_guard<std::mutex> l(g_log_mu);
	std::vector<std::string> out;
	out.swap(g_log);
	return out;
}

extern "C" void *wc_plat_alloc(size_t size, enum wc_alloc_ctx)
{
	void *p = std::malloc(size);
	if (p)
		g_allocs++;
	return p;
}

extern "C" void wc_plat_free(void *ptr)
{
	if (!ptr)
		return;
	g_allocs--;
	std::free(ptr);
}

extern "C" long wc_plat_alloc_outstanding(void)
{
	return g_allocs.load();
}

extern "C" void wc_plat_log_error(const char *msg)
{
	std::lock_guard<std::mutex> l(g_log_mu);
	g_log.emplace_back(msg);
}

extern "C" void wc_plat_panic(const char *msg)
{
	std::fprintf(stderr, "wc_plat_panic: %s\n", msg);
	std::abort();
}
