#!/bin/bash
# Long runs of the core's randomized model checker (tests/unit/model/,
# docs/model-check.md): builds the userspace unit tests (ASan + UBSan, in
# build/unit) and runs ModelCheck.DISABLED_Long.
#
#   scripts/model-check.sh [--ops N] [--seed S] [--mode pmem|ssd|both]
#                          [--mutate none|defect2|defect3|defect4|...]
#                          [--run-ops N] [--seconds T] [--trace N]
#                          [--keep-going] [-j N]
#
#   --ops N       operations per mode (default 1000000); with --seed, the
#                 length of the one run replayed
#   --seed S      replay the run with seed S (as printed by a failure)
#                 instead of fresh seeds
#   --mode M      pmem, ssd or both (default both)
#   --mutate D    re-introduce a fixed defect (CacheParams::test_*: defect2,
#                 defect3, defect4) or a commit-protocol bug (skip-data-flush
#                 for pmem, flush-before-data-wait for SSD): the run should
#                 fail
#   --run-ops N   operations per run before new parameters (default 25000)
#   --seconds T   stop starting new runs after T seconds (per mode)
#   --trace N     operations shown before a failure (default 40)
#   --keep-going  report a failed run and go on with the next (fresh seeds)
#   -j N          build jobs (default 2)
# Exits non-zero on a violation; the report names the seed to replay.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build/unit
jobs=2
mode=both
unset WC_MODEL_SEED WC_MODEL_OPS WC_MODEL_RUN_OPS WC_MODEL_SECONDS WC_MODEL_TRACE \
	WC_MODEL_KEEP_GOING
export WC_MODEL_OPS=1000000 WC_MODEL_MUTATE=none
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
usage() { wc_usage; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--ops) export WC_MODEL_OPS=$2; shift 2 ;;
	--seed) export WC_MODEL_SEED=$2; shift 2 ;;
	--mode) mode=$2; shift 2 ;;
	--mutate) export WC_MODEL_MUTATE=$2; shift 2 ;;
	--run-ops) export WC_MODEL_RUN_OPS=$2; shift 2 ;;
	--seconds) export WC_MODEL_SECONDS=$2; shift 2 ;;
	--trace) export WC_MODEL_TRACE=$2; shift 2 ;;
	--keep-going) export WC_MODEL_KEEP_GOING=1; shift ;;
	-j) jobs=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "model-check: unknown argument $1" >&2; usage 2 ;;
	esac
done
case $mode in pmem|ssd|both) export WC_MODEL_MODE=$mode ;;
*) echo "model-check: --mode pmem, ssd or both" >&2; exit 2 ;; esac
case $WC_MODEL_MUTATE in
none|defect2|defect3|defect4|skip-data-flush|flush-before-data-wait) ;;
*) echo "model-check: --mutate none, defect2, defect3, defect4, skip-data-flush" \
	"or flush-before-data-wait" >&2; exit 2 ;; esac

cmake -S "$top/tests/unit" -B "$bdir" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$bdir" -j"$jobs" --target unit_tests >/dev/null
exec "$bdir/unit_tests" --gtest_also_run_disabled_tests \
	--gtest_filter='ModelCheck.DISABLED_Long'
