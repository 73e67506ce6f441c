// SPDX-License-Identifier: GPL-2.0
#pragma once

#include <cstdint>
#include <string>
#include <vector>

// Lines the core logged through wc_plat_log_error() since the last call.
std::vector<std::string> wc_test_log_take();

// Bytes the core currently holds through wc_plat_alloc().
long wc_test_bytes_allocated();

// Moves wc_plat_now_ms() forward (max_age tests).
void wc_test_advance_clock_ms(uint32_t ms);

// wc_plat_cond_resched() calls so far, and how many came with a core lock
// held by the calling thread (a kernel bug: scheduling while atomic).
long wc_test_resched_calls();
long wc_test_resched_under_lock();
