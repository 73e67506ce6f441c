// SPDX-License-Identifier: GPL-2.0
#pragma once

#include <string>
#include <vector>

// Lines the core logged through wc_plat_log_error() since the last call.
std::vector<std::string> wc_test_log_take();

// Bytes the core currently holds through wc_plat_alloc().
long wc_test_bytes_allocated();
