#!/bin/bash
# Every test: style, both kernel builds, the userspace unit tests (x86 with
# ASan+UBSan, and arm64 under qemu-user, in the background), the fuzzers
# (bounded), the man page, the VM tests on the 6.1 guest (nvdimm fsdax
# pmem; memmap and two-vCPU runs of the data tests), a subset on the 6.12
# guest, and two-boot power cuts. Each item starts with "=== NAME" and
# ends with "(took N s)"; the end gives the total time (per item:
# build/check-times.txt, "SECONDS NAME" lines), then the last line,
# "N passed, M failed". Exits non-zero on any failure. Installs missing
# dependencies first (root).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
mkdir -p build
summary=build/check-summary.txt
: >"$summary"
times=build/check-times.txt
: >"$times"
passed=0
failed=0
skipped=0
T_START=$(date +%s)

# begin NAME: start an item ("=== NAME"); took: its wall time so far.
begin() {
	ITEM=$1
	T_ITEM=$(date +%s)
	echo "=== $ITEM"
}
took() {
	local s=$(($(date +%s) - T_ITEM))
	echo "(took $s s)"
	echo "$s $ITEM" >>"$times"
}

result() { # STATUS NAME
	case $1 in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
	echo "$1 $2" | tee -a "$summary"
}

step() { # NAME CMD...: one test item from one command
	local name=$1
	shift
	begin "$name"
	if "$@"; then result PASS "$name"; else result FAIL "$name"; fi
	took
}

if [ "$(id -u)" = 0 ]; then
	scripts/install-deps.sh || { echo "dependency install failed"; exit 1; }
fi

step checkpatch scripts/checkpatch.sh

declare -A KVER
while read -r series ver; do KVER[$series]=$ver; done < <(wc_kernels)
for series in 6.1 6.12; do
	if [ -z "${KVER[$series]:-}" ]; then
		result FAIL "kbuild-$series (no $series headers+image installed)"
		continue
	fi
	step "kbuild-${KVER[$series]} (no warnings)" \
		sh -c 'scripts/kbuild.sh "$1" >/dev/null' kbuild "${KVER[$series]}"
done

# Unit tests: one result per GoogleTest case, from ctest's own verdicts
# (a DISABLED_ case, such as the model checker's long run, is a skip).
begin "unit tests (ASan+UBSan)"
if scripts/unit.sh >build/unit.log 2>&1; then :; fi
tail -n 5 build/unit.log
n=0
while read -r st name; do
	n=$((n + 1))
	result "$st" "unit: $name"
done < <(sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([^ ]*\) .*\(Passed\|Failed\|Skipped\|Not Run (Disabled)\|Not Run\|Exception\|Timeout\).*/\2 \1/p' build/unit.log |
	sed 's/^Passed/PASS/; s/^Failed/FAIL/; s/^Skipped/SKIP/; s/^Not Run (Disabled)/SKIP/; s/^Not Run/FAIL/; s/^Exception/FAIL/; s/^Timeout/FAIL/')
[ $n -gt 0 ] || { result FAIL "unit tests (did not build or run)"; sed 's/^/  /' build/unit.log | tail -40; }
grep -E '(RAM per cache block|crash enumeration|seeded bug|format crash|crash states)' build/unit.log || true
took

# The core under real threads with ThreadSanitizer (its own build): no
# test failure and no TSan report; its canary race must be reported.
step "unit tests under ThreadSanitizer (threads, zero races)" sh -c \
	'scripts/unit-tsan.sh >build/unit-tsan.log 2>&1 || { tail -60 build/unit-tsan.log; exit 1; }'

# The same unit tests cross-built for arm64, run under qemu-user: about
# five minutes of one core, so in the background while the guests run.
T_ARM64=$(date +%s)
rm -f build/unit-arm64.end
{
	scripts/unit-arm64.sh >build/unit-arm64.log 2>&1
	rc=$?
	date +%s >build/unit-arm64.end
	exit $rc
} &
ARM64_PID=$!

# Fuzzers: replay the corpora, then a bounded run of each target.
step "fuzz: corpus replay" scripts/fuzz.sh --regress
step "fuzz: 20 s per target" scripts/fuzz.sh --seconds 20

step "man page renders without warnings" sh -c \
	'! MANWIDTH=80 man --warnings -l docs/dm-writecache-cxx.7 2>&1 >/dev/null | grep .'

# verdicts LABEL OUTFILE: one result per "PASS|FAIL|SKIP name" line a
# runner printed (vm-run, powercut, killcut); none at all is a failure.
verdicts() {
	local label=$1 out=$2 seen=0 st name rest
	while read -r st name rest; do
		seen=$((seen + 1))
		result "$st" "$label $name${rest:+ $rest}"
	done < <(wc_verdicts "$out")
	[ $seen -gt 0 ] || result FAIL "$label (no verdicts; see $out)"
}

vm() { # LABEL KVER PMEM [--smp N] TESTS...
	local label=$1 kv=$2 pmem=$3 smp=1
	shift 3
	if [ "$1" = --smp ]; then
		smp=$2
		shift 2
	fi
	local ko=build/kbuild/$kv/dm-writecache-cxx.ko f extra=()
	for f in ${VM_EXTRA:-}; do extra+=(--extra "$f"); done
	begin "VM $label: $kv, pmem=$pmem: $*"
	if [ ! -f "$ko" ]; then
		for t in "$@"; do result FAIL "vm[$label] $(basename "$t") (no module built)"; done
		took
		return
	fi
	scripts/vm-run.sh --kver "$kv" --ko "$ko" --pmem "$pmem" --smp "$smp" \
		--timeout 3000 ${VM_APPEND:+--append "$VM_APPEND"} "${extra[@]}" \
		--log "build/vm-$label.log" "$@" >"build/vm-$label.out" 2>&1
	grep -v '^    | ok' "build/vm-$label.out" | tail -n 60
	verdicts "vm[$label]" "build/vm-$label.out"
	took
}

# Static guest tools: the I/O stress program (tests/vm/t-stress.sh), with
# its host self-test (a clean run passes, a canary run must fail).
step "wc-stress: build and host self-test" make -s -C tests/stress test
step "guest tools: wc-vecio (tests/tools)" make -s -C tests/tools
GUEST_TOOLS="build/tools/wc-stress build/tools/wc-vecio"

# Power-cut tests need two boots (scripts/powercut.sh, scripts/killcut.sh).
# The crash replay needs its tools (scripts/crash-replay.sh); the large
# cache (t-large-cache.sh, millions of blocks) needs a boot of its own and
# minutes: make check-long.
ALL_VM_TESTS=$(ls tests/vm/t-*.sh | grep -v -e powercut -e killcut -e crash-replay -e large-cache)
SMOKE="tests/vm/t-module.sh tests/vm/t-smoke.sh tests/vm/t-pmem-data.sh tests/vm/t-pmem-interop.sh tests/vm/t-ssd-data.sh tests/vm/t-faults.sh tests/vm/t-regress-io.sh tests/vm/t-regress-ctl.sh"
if [ -n "${KVER[6.1]:-}" ]; then
	# Bounded for CI time: 8 random flips per mode in t-corrupt-images
	# (default 20), 20 s per mode of t-stress (scripts/stress-long.sh runs
	# it for as long as you like).
	VM_APPEND="harness.corrupt_random=8 harness.stress_seconds=20" VM_EXTRA="$GUEST_TOOLS" \
		vm 6.1-nvdimm "${KVER[6.1]}" nvdimm $ALL_VM_TESTS tests/vm/demo-main-job.sh
	vm 6.1-memmap "${KVER[6.1]}" memmap tests/vm/t-smoke.sh tests/vm/t-pmem-data.sh
	# Two vCPUs: parallel pmem copies and SSD mappings under multi-job fio.
	vm 6.1-smp2 "${KVER[6.1]}" nvdimm --smp 2 tests/vm/t-pmem-data.sh tests/vm/t-ssd-data.sh
fi
[ -n "${KVER[6.12]:-}" ] && VM_APPEND="harness.stress_seconds=20" VM_EXTRA="$GUEST_TOOLS" \
	vm 6.12-nvdimm "${KVER[6.12]}" nvdimm $SMOKE tests/vm/t-stress.sh

powercut() { # LABEL KVER
	local label=$1 kv=$2
	begin "power cut $label: $kv"
	scripts/powercut.sh --kver "$kv" --ko "build/kbuild/$kv/dm-writecache-cxx.ko" \
		>"build/powercut-$label.out" 2>&1
	grep -v '^    | ok' "build/powercut-$label.out" | tail -n 40
	verdicts "powercut[$label]" "build/powercut-$label.out"
	took
}
[ -n "${KVER[6.1]:-}" ] && powercut 6.1 "${KVER[6.1]}"
# QEMU killed with SIGKILL at random moments of a durable-write loop.
if [ -n "${KVER[6.1]:-}" ]; then
	begin "killcut 6.1: ${KVER[6.1]}"
	scripts/killcut.sh --kver "${KVER[6.1]}" --rounds 2 \
		--ko "build/kbuild/${KVER[6.1]}/dm-writecache-cxx.ko" >build/killcut.out 2>&1
	tail -n 8 build/killcut.out
	verdicts "killcut[6.1]" build/killcut.out
	took
fi
# (The power cut on 6.12, scripts/powercut.sh --kver 6.12, passes too but
# is left out of CI for time: the commit protocol is the core's, the same
# on both kernels, and 6.12's DAX path runs in its data tests.)

# SSD crash consistency through dm-log-writes: every FLUSH/FUA point of a
# logged run replayed and checked (scripts/crash-replay.sh), then the same
# on a build with the commit order broken on purpose, which must fail.
step "crash-replay tools: self-test" make -s -C tests/crash-replay test
crash_replay() { # LABEL KVER KO
	local label=$1 kv=$2 ko=$3
	scripts/crash-replay.sh --kver "$kv" --ko "$ko" --append harness.max_checks=0 \
		--log "build/crash-replay-$label.log" >"build/crash-replay-$label.out" 2>&1
	grep -E '^# (walk: checked|log:|time:)|^not ok' "build/crash-replay-$label.log"
}
if [ -n "${KVER[6.12]:-}" ]; then
	kv=${KVER[6.12]}
	begin "crash replay ours: $kv"
	crash_replay ours "$kv" "build/kbuild/$kv/dm-writecache-cxx.ko"
	verdicts "crash-replay[$kv]" build/crash-replay-ours.out
	took
	begin "crash replay canary: $kv (module built with the commit order broken)"
	if scripts/kbuild.sh --canary "$kv" >build/kbuild-canary.log 2>&1; then
		crash_replay canary "$kv" "build/kbuild-canary/$kv/dm-writecache-cxx.ko"
		if [ "$(wc_verdict t-ssd-crash-replay.sh build/crash-replay-canary.out)" = FAIL ] &&
			grep -q '^not ok - replay: every FLUSH/FUA entry' build/crash-replay-canary.log &&
			grep -q 'BAD block .*a cache entry whose data was never written' build/crash-replay-canary.log; then
			result PASS "crash-replay canary: the broken commit order is caught"
		else
			result FAIL "crash-replay canary: the broken commit order went unnoticed"
		fi
	else
		tail -n 20 build/kbuild-canary.log
		result FAIL "crash-replay canary: build failed"
	fi
	took
fi

# The path-length benchmark's quick form: instructions per 4 KiB write
# under -icount against raw, dm-zero, dm-linear, stock and ours, in one
# 6.1 boot, plus the core under callgrind. No figure is asserted; every
# figure must be taken (numbers: make bench, docs/performance.md). The TCG
# wall-clock benchmark's smoke run moved to make check-long for time.
step "path-length benchmark, quick (scripts/pathlen.sh --quick)" \
	scripts/pathlen.sh --quick --out build/pathlen-quick

begin "unit tests, arm64 under qemu-user (background job)"
if wait $ARM64_PID; then
	result PASS "unit tests on arm64 (qemu-user): $(grep -o '[0-9]* tests failed out of [0-9]*' build/unit-arm64.log)"
else
	result FAIL "unit tests on arm64 (qemu-user)"
	tail -n 40 build/unit-arm64.log
fi
T_ARM64_END=$(cat build/unit-arm64.end 2>/dev/null || date +%s)
echo "(the job ran $((T_ARM64_END - T_ARM64)) s in the background)"
took

echo
grep -E '^(FAIL|SKIP)' "$summary" || true
[ $skipped -gt 0 ] && echo "($skipped skipped; reasons in build/vm-*.out)"
T_ALL=$(($(date +%s) - T_START))
echo "total wall time: $T_ALL s ($((T_ALL / 60)) min $((T_ALL % 60)) s; per item in $times)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
