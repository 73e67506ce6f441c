#!/bin/bash
# scripts/fuzz-table-long.sh: the long table-line fuzz of issue #6 (section
# 3).  Runs tests/vm/t-table-fuzz.sh (each generated line is created with
# the stock dm-writecache and with ours in one boot; outcome, TABLE and INFO
# lines and ctr error text must match) over 10,000 lines on the newest
# installed 6.1 and 6.12 kernels (scripts/kernels.sh), building our module
# for each first (scripts/kbuild.sh).
#
#   scripts/fuzz-table-long.sh [--lines N] [--seed S] [--kver KVER]...
#
#   --lines N     table lines per kernel (default 10000; about 0.6 s of
#                 guest time each under TCG: 10000 take about 100 minutes
#                 per kernel)
#   --seed S      first generator seed (default 1); see --chunk
#   --chunk C     lines per boot (default 1000).  Boot k (k = 0, 1, ...)
#                 runs min(C, what is left) lines of seed S+k, so a failing
#                 boot is reproduced by one t-table-fuzz run with
#                 harness.fuzz_lines and harness.fuzz_seed as printed.
#                 The boots also get log_buf_len=2M, so that the kernel log
#                 of a failing boot is kept whole
#   --kver KVER   a series (6.1, 6.12) or a full version; repeatable
#                 (default: every series scripts/kernels.sh lists)
#   --keep-going  go on with a kernel's next boots after a failed one
#                 (default: stop that kernel at its first failure)
#   --no-build    use the module already in build/kbuild/KVER/
#   --no-lock     do not take /tmp/wc-qemu.lock (the caller holds it; so
#                 does WC_QEMU_LOCK_HELD=1 in the environment); by default
#                 each boot takes it, so other guests can run in between
#
# The host timeout of each boot is computed from its line count.  Logs:
# build/vm/logs/fuzz-table-long-KVER-sSEED-NlN.log, one per boot.  Exit
# status 0 iff every boot passed on every kernel.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# die, note, wc_usage, the kernels, verdict lines, the QEMU lock
# (WC_USE_QEMU_LOCK: 0 with WC_QEMU_LOCK_HELD=1 in the environment).
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"

LINES=10000
SEED=1
CHUNK=1000
KVERS=()
BUILD=1
KEEP_GOING=0
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) LINES=${2:?}; shift 2 ;;
	--seed) SEED=${2:?}; shift 2 ;;
	--chunk) CHUNK=${2:?}; shift 2 ;;
	--kver) KVERS+=("${2:?}"); shift 2 ;;
	--keep-going) KEEP_GOING=1; shift ;;
	--no-build) BUILD=0; shift ;;
	--no-lock) WC_USE_QEMU_LOCK=0; shift ;;
	-h | --help) wc_usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[[ "$LINES" =~ ^[1-9][0-9]*$ ]] || die "--lines must be a positive number"
[[ "$CHUNK" =~ ^[1-9][0-9]*$ ]] || die "--chunk must be a positive number"
[ "$CHUNK" -le 5000 ] || die "--chunk must be at most 5000 (the kernel log must not wrap)"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed must be a number"

# Series -> the newest installed version of each.
if [ ${#KVERS[@]} -eq 0 ]; then
	mapfile -t KVERS < <(wc_kernels | awk '{ print $2 }')
	[ ${#KVERS[@]} -gt 0 ] || die "no installed kernel (scripts/kernels.sh)"
else
	for i in "${!KVERS[@]}"; do
		if [[ "${KVERS[i]}" =~ ^[0-9]+\.[0-9]+$ ]]; then
			v=$(wc_series_kver "${KVERS[i]}") || true
			[ -n "$v" ] || die "no installed kernel of series ${KVERS[i]}"
			KVERS[i]=$v
		fi
	done
fi

mkdir -p "$REPO/build/vm/logs"
declare -A RESULT
FAILED=0
START=$(date +%s)
for k in "${KVERS[@]}"; do
	ko=$REPO/build/kbuild/$k/dm-writecache-cxx.ko
	if [ "$BUILD" = 1 ]; then
		note "$k: building the module"
		blog=$REPO/build/fuzz-table-long-kbuild-$k.log
		"$HERE/kbuild.sh" "$k" >"$blog" 2>&1 || {
			tail -n 20 "$blog" >&2
			die "kbuild for $k failed ($blog)"
		}
	fi
	[ -f "$ko" ] || die "no module at $ko"
	done_lines=0 acc=0 rej=0 boot=0 fails=""
	while [ "$done_lines" -lt "$LINES" ]; do
		n=$((LINES - done_lines))
		[ "$n" -gt "$CHUNK" ] && n=$CHUNK
		seed=$((SEED + boot))
		# About 0.6 s of guest time per line under TCG (more on 6.12),
		# plus the line-by-line comparison; allow 1 s per line plus 5
		# minutes for the boot and the module loads.
		timeout=$((300 + n))
		log=$REPO/build/vm/logs/fuzz-table-long-$k-s$seed-${n}l.log
		VM=("$HERE/vm-run.sh" --kver "$k" --ko "$ko" --timeout "$timeout" --log "$log"
			--append "log_buf_len=2M harness.fuzz_lines=$n harness.fuzz_seed=$seed"
			"$REPO/tests/vm/t-table-fuzz.sh")
		note "$k: boot $((boot + 1)): lines $((done_lines + 1))-$((done_lines + n)) of $LINES (harness.fuzz_lines=$n harness.fuzz_seed=$seed), timeout ${timeout}s"
		set +e
		wc_qemu_run "${VM[@]}" >"$log.out" 2>&1
		rc=$?
		set -e
		grep -E "$WC_VERDICT_ERE|wall time" "$log.out" | sed "s/^/fuzz-table-long: $k:   /"
		a=$(grep -a -o '# ours: [0-9]* accepted, [0-9]* rejected' "$log" | awk '{ print $3 }' | tail -n 1)
		r=$(grep -a -o '# ours: [0-9]* accepted, [0-9]* rejected' "$log" | awk '{ print $5 }' | tail -n 1)
		acc=$((acc + ${a:-0})) rej=$((rej + ${r:-0}))
		if [ $rc -ne 0 ]; then
			grep -a -E '^# (line [0-9]+:|  (stock|ours):)|^not ok - ' "$log" | head -n 40 |
				sed "s/^/fuzz-table-long: $k:   /" || true
			fails="$fails seed $seed ($n lines, log $log)"
			FAILED=1
		fi
		done_lines=$((done_lines + n))
		boot=$((boot + 1))
		[ $rc -ne 0 ] && [ "$KEEP_GOING" = 0 ] && break
	done
	if [ -z "$fails" ]; then
		RESULT[$k]="PASS: $done_lines lines in $boot boot(s), ours accepted $acc and rejected $rej, all as stock"
	else
		RESULT[$k]="FAIL after $done_lines of $LINES lines:$fails"
	fi
	note "$k: ${RESULT[$k]}"
done

note "wall time $(($(date +%s) - START)) s (lock waits included)"
for k in "${KVERS[@]}"; do note "$k: ${RESULT[$k]}"; done
exit $FAILED
