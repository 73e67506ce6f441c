# SPDX-License-Identifier: GPL-2.0
# Cross-compile for arm64 with Debian's aarch64-linux-gnu toolchain and run
# the results (ctest, gtest discovery) under qemu-user. The emulated CPU
# must have DC CVAP (FEAT_DPB): "max" does.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(WC_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${WC_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(WC_QEMU_CPU max CACHE STRING "qemu-aarch64 -cpu model (needs DC CVAP)")
find_program(WC_QEMU_AARCH64 qemu-aarch64 NO_CMAKE_FIND_ROOT_PATH REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${WC_QEMU_AARCH64} -L ${WC_AARCH64_SYSROOT} -cpu ${WC_QEMU_CPU})
