#!/bin/bash
# The core under real threads with ThreadSanitizer (tests/tsan): a build of
# its own in build/unit-tsan (TSan cannot share the ASan+UBSan build).
# Fails on any test failure or any TSan report (halt_on_error); then a
# canary must be reported, proving the build is instrumented. Arguments go
# to the test binary (e.g. --gtest_filter=Threads.SsdMode);
# WC_TSAN_SECONDS sets the length of each threaded run (default 2).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build/unit-tsan
jobs=$(nproc)
[ "$jobs" -le 2 ] || jobs=2
cmake -S "$top/tests/tsan" -B "$bdir" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$bdir" -j"$jobs" >/dev/null
[ "$(nm "$bdir/libwccore_tsan.a" | grep -c " U __tsan_write")" -gt 0 ] ||
	{ echo "unit-tsan: the core is not instrumented" >&2; exit 1; }

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
"$bdir/threads_test" "$@"

if out=$("$bdir/threads_test" --gtest_also_run_disabled_tests \
	--gtest_filter='TsanCanary.*' 2>&1); then
	echo "unit-tsan: the canary race was not reported" >&2
	exit 1
fi
grep -q 'ThreadSanitizer: data race' <<<"$out" ||
	{ echo "$out" | tail -20; echo "unit-tsan: the canary failed without a TSan report" >&2; exit 1; }
echo "unit-tsan: canary race reported, as it must be"
