// SPDX-License-Identifier: GPL-2.0
// Userspace implementation of the platform services the kernel shim
// provides (include/wc_abi.h): malloc with a live-allocation counter, and
// a log that tests can inspect.
#include "platform_user.h"

#include <wc_abi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <new>

namespace {
std::atomic<long> g_allocs{0};
std::atomic<long> g_bytes{0};
std::mutex g_log_mu;
std::vector<std::string> g_log;
} // namespace

long wc_test_bytes_allocated()
{
	return g_bytes.load();
}

std::vector<std::string> wc_test_log_take()
{
	std::lock_guard<std::mutex> l(g_log_mu);
	std::vector<std::string> out;
	out.swap(g_log);
	return out;
}

// Each block carries its size in a 16-byte header so the test can count
// live bytes (the RAM-per-block figure).
extern "C" void *wc_plat_alloc(size_t size, enum wc_alloc_ctx)
{
	auto *p = static_cast<unsigned char *>(std::malloc(size + 16));
	if (!p)
		return nullptr;
	*reinterpret_cast<size_t *>(p) = size;
	g_allocs++;
	g_bytes += static_cast<long>(size);
	return p + 16;
}

extern "C" void wc_plat_free(void *ptr)
{
	if (!ptr)
		return;
	auto *p = static_cast<unsigned char *>(ptr) - 16;
	g_allocs--;
	g_bytes -= static_cast<long>(*reinterpret_cast<size_t *>(p));
	std::free(p);
}

std::atomic<int64_t> g_clock_offset_ms{0};

void wc_test_advance_clock_ms(uint32_t ms)
{
	g_clock_offset_ms += ms;
}

extern "C" uint32_t wc_plat_now_ms(void)
{
	auto now = std::chrono::steady_clock::now().time_since_epoch();
	int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
	return static_cast<uint32_t>(ms + g_clock_offset_ms.load());
}

struct wc_lock {
	std::mutex mu;
};

extern "C" struct wc_lock *wc_plat_lock_create(void)
{
	return new (std::nothrow) wc_lock;
}

extern "C" void wc_plat_lock_destroy(struct wc_lock *l)
{
	delete l;
}

// Core locks this thread holds: cond_resched() under one would be
// "scheduling while atomic" in the kernel.
thread_local int t_locks_held = 0;
std::atomic<long> g_resched_calls{0};
std::atomic<long> g_resched_under_lock{0};

extern "C" void wc_plat_lock(struct wc_lock *l)
{
	l->mu.lock();
	t_locks_held++;
}

extern "C" void wc_plat_unlock(struct wc_lock *l)
{
	t_locks_held--;
	l->mu.unlock();
}

extern "C" void wc_plat_cond_resched(void)
{
	g_resched_calls++;
	if (t_locks_held)
		g_resched_under_lock++;
}

long wc_test_resched_calls()
{
	return g_resched_calls.load();
}

long wc_test_resched_under_lock()
{
	return g_resched_under_lock.load();
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

struct wc_rwsem {
	std::shared_mutex mu;
};

extern "C" struct wc_rwsem *wc_plat_rwsem_create(void)
{
	return new (std::nothrow) wc_rwsem;
}

extern "C" void wc_plat_rwsem_destroy(struct wc_rwsem *s)
{
	delete s;
}

extern "C" void wc_plat_down_read(struct wc_rwsem *s)
{
	s->mu.lock_shared();
}

extern "C" void wc_plat_up_read(struct wc_rwsem *s)
{
	s->mu.unlock_shared();
}

extern "C" void wc_plat_down_write(struct wc_rwsem *s)
{
	s->mu.lock();
}

extern "C" void wc_plat_up_write(struct wc_rwsem *s)
{
	s->mu.unlock();
}
