# SPDX-License-Identifier: GPL-2.0
#
# The C++ flags of the core (src/core), common to every build of it: the
# one definition. Read by
#   - Kbuild (include): the kernel module;
#   - tests/unit/core-flags.cmake (file(STRINGS)): the unit tests on x86
#     (tests/unit) and arm64 (tests/unit/arm64, scripts/unit-arm64.sh) and
#     the ThreadSanitizer build (tests/tsan);
#   - scripts/fuzz.sh (wc_core_flags in scripts/lib.sh): the fuzzers.
# Each build adds only what is its own: the kernel its KBUILD_CFLAGS (ABI,
# mitigations, canary: -mcmodel=kernel, -mno-red-zone, thunks, ...), no
# unwind tables and -g1; the userspace builds their sanitizers, -g -O1 and
# -Werror. See docs/cxx-in-kbuild.md.
#
# Format: one "NAME := FLAGS" line per group, no continuation lines, no
# references to other variables: CMake and the shell read this file too.

# The language: C++20 with GNU extensions (the CMake builds turn this into
# CMAKE_CXX_STANDARD/CMAKE_CXX_EXTENSIONS, for the test code as well).
WC_CXX_STD := -std=gnu++20

# No C++ runtime: no exceptions or RTTI (no unwinder, no typeinfo), no
# guard or atexit calls, null-checked new (kmalloc can fail), freestanding
# (__STDC_HOSTED__ 0, no library builtins assumed).
WC_CXX_RUNTIME := -ffreestanding -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit -fcheck-new

# The kernel's semantics (its KBUILD_CFLAGS set the same; 6.1 has no
# -funsigned-char of its own), so that userspace tests the code the kernel
# runs. The test code gets them too.
WC_CXX_SEMANTICS := -funsigned-char -fno-strict-aliasing -fno-delete-null-pointer-checks -fno-strict-overflow -ftrivial-auto-var-init=zero

# Warnings (whether they are errors is each build's: -Werror in the unit
# builds; scripts/kbuild.sh fails on any warning).
WC_CXX_WARNINGS := -Wall -Wextra -Wmissing-declarations
