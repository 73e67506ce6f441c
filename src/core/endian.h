// SPDX-License-Identifier: GPL-2.0
// Little-endian conversion for the on-media format, on any host. The one
// set of helpers is in <wc/layout.h> (wc::layout::to_le64, load_le64, ...);
// these names stay for the callers that use them unqualified.
//
// src/core is on the include path of the userspace builds, so this file
// also answers libc's own #include <endian.h> (from <sys/types.h>, inside
// extern "C"): hand that on to the real one, and keep the C++ in C++
// linkage.
#pragma once

#if !defined(WC_KERNEL) && defined(__has_include_next)
#if __has_include_next(<endian.h>)
#include_next <endian.h>
#endif
#endif

#ifdef __cplusplus
extern "C++" {
#include <wc/layout.h>

namespace wc {

using layout::bswap32;
using layout::bswap64;
using layout::from_le32;
using layout::from_le64;
using layout::le_pair32;
using layout::to_le32;
using layout::to_le64;

} // namespace wc
}
#endif
