#!/bin/bash
# scripts/powercut.sh [--kver K] [--ko KO] [--wc stock|ours] [--timeout S] [--keep]
#
# Two-boot power-cut test of a pmem-mode writecache on persistent nvdimm:
#   boot 1: tests/vm/t-pmem-powercut-1.sh writes durable and non-durable
#           data, records checksums on the SSD disk and cuts the power;
#   boot 2: tests/vm/t-pmem-powercut-2.sh re-creates the table on the same
#           pmem and checks what survived, through the cache and then on
#           the bare origin.
# Both boots use the same --nvdimm-image/--origin-image/--ssd-image files in
# a fresh temporary directory (removed at the end unless --keep).
#
#   --kver K     guest kernel, a full version or a series (default 6.1)
#   --ko KO      our module; with --wc ours and no --ko, the module built by
#                scripts/kbuild.sh for that kernel (build/kbuild/KVER/) is used
#   --wc W       stock (the distribution's dm-writecache) or ours (default)
#   --timeout S  per boot (default 300)
#   --keep       keep the temporary directory (images) for inspection
#
# Prints vm-run's "PASS <name>" / "FAIL <name> (...)" lines (a SKIP counts as
# a failure here), then "powercut: N passed, M failed".  Exit status 0 iff
# both boots passed.  Console logs: build/vm/logs/powercut-<phase>-KVER-W.log
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
WC_DIE_TAG= # "powercut: MESSAGE"

KVER=6.1
KO=
WC=ours
TIMEOUT=300
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) KVER=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	--wc) WC=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) wc_usage; exit 0 ;;
	*) wc_usage >&2; die "unknown argument $1" ;;
	esac
done
case "$WC" in stock | ours) ;; *) die "--wc must be stock or ours" ;; esac

# The full kernel version (for the default module path and the log names).
FULL=$(wc_kver "$KVER") || die "no installed kernel for $KVER"
if [ "$WC" = ours ] && [ -z "$KO" ]; then
	KO=build/kbuild/$FULL/dm-writecache-cxx.ko
	[ -f "$KO" ] || die "--wc ours needs --ko (no $KO; build it with scripts/kbuild.sh $FULL, or use --wc stock)"
fi

mkdir -p build/vm/logs
# The images must live on a filesystem with O_DIRECT (vm-run uses cache=none).
DIR=$(mktemp -d "$top/build/vm/powercut.XXXXXX") || die "mktemp failed"
cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "powercut: kept $DIR"
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT

COMMON=(--kver "$KVER" --timeout "$TIMEOUT" --extra tests/vm/wc-select.sh
	--nvdimm-image "$DIR/nvdimm.img" --origin-image "$DIR/origin.img" --ssd-image "$DIR/ssd.img"
	--append "harness.wc=$WC")
[ -n "$KO" ] && COMMON+=(--ko "$KO")

PASSED=0
FAILED=0
# boot PHASE TEST: run one boot; print its verdict lines; 0 iff it passed.
boot() {
	local phase=$1 test=$2 name out rc=1 line
	name=$(basename "$test")
	out=$DIR/boot$phase.out
	scripts/vm-run.sh "${COMMON[@]}" --append "harness.phase=$phase" \
		--log "build/vm/logs/powercut-$phase-$FULL-$WC.log" "$test" >"$out" 2>&1
	while IFS= read -r line; do
		case "$line" in
		"PASS $name"*)
			echo "$line"
			PASSED=$((PASSED + 1))
			rc=0
			;;
		"SKIP $name"*)
			line=${line#"SKIP $name"}
			line=${line# (}
			echo "FAIL $name (skipped: ${line%)})"
			FAILED=$((FAILED + 1))
			;;
		PASS\ * | SKIP\ *) echo "$line" ;;
		FAIL\ *)
			echo "$line"
			FAILED=$((FAILED + 1))
			;;
		"    |"* | "vm-run: wall time"*) echo "$line" ;;
		esac
	done <"$out"
	if ! wc_verdict "$name" "$out" >/dev/null; then
		echo "FAIL $name (no verdict from vm-run)"
		sed 's/^/    | /' "$out" | tail -n 20
		FAILED=$((FAILED + 1))
		rc=1
	fi
	return $rc
}

echo "powercut: kernel $FULL, module $WC${KO:+ ($KO)}, images in $DIR"
if boot 1 tests/vm/t-pmem-powercut-1.sh; then
	boot 2 tests/vm/t-pmem-powercut-2.sh
else
	echo "FAIL t-pmem-powercut-2.sh (not run: boot 1 failed)"
	FAILED=$((FAILED + 1))
fi
echo "powercut: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -eq 2 ]
