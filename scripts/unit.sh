#!/bin/bash
# Build and run the userspace unit tests (CMake + GoogleTest, ASan + UBSan).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build/unit
cmake -S "$top/tests/unit" -B "$bdir" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$bdir" -j"$(nproc)" >/dev/null
cd "$bdir"
ctest --output-on-failure -j"$(nproc)"
