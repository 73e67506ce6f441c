#!/bin/bash
# killcut.sh: host-kill power-cut test of the pmem writecache.  Per round:
# fresh images; boot 1 (tests/vm/t-pmem-killcut-1.sh) runs a loop of durable
# 4 KiB writes through /dev/mapper/wc and logs each acknowledged one to the
# SSD disk; once its console shows KILLCUT-WORKLOAD-RUNNING the host waits a
# random 1.0-8.0 s and SIGKILLs that run's qemu-system-x86_64 (only the one
# started by this script's vm-run); boot 2 (tests/vm/t-pmem-killcut-2.sh) on
# the same images checks every logged write through the cache and, after a
# flush, on the bare origin.
#   scripts/killcut.sh [--kver K] [--ko KO] [--wc stock|ours] [--rounds N]
#                      [--seed S] [--timeout S] [--keep] [--corrupt]
#   --kver K     guest kernel (default 6.1)
#   --ko KO      our module (default build/kbuild/<kver>/dm-writecache-cxx.ko
#                with --wc ours)
#   --wc W       module under test: ours (default) or stock
#   --rounds N   rounds (default 3)
#   --seed S     seed for kill times and guest block sequences (default: random)
#   --timeout S  per boot (default 150)
#   --keep       keep the images of each round
#   --corrupt    SELF-CHECK ONLY (off by default): boot 2 corrupts one logged
#                block on pmem before verifying (harness.corrupt=1); every
#                round must then be reported FAIL
#
# Prints "PASS killcut-round-<i> (<records> writes verified, killed after
# <t> s)" or "FAIL killcut-round-<i> (...)" per round, then
# "killcut: N passed, M failed".  Exit status 0 iff every round passed.
# Console logs: build/vm/logs/killcut-<pid>-<i>-<phase>-KVER-W.log (unique per run)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
WC_DIE_TAG= # "killcut: MESSAGE"

KVER=6.1
KO=
WC=ours
ROUNDS=3
SEED=
TIMEOUT=150
KEEP=0
CORRUPT=0
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) KVER=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	--wc) WC=${2:?}; shift 2 ;;
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--seed) SEED=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--corrupt) CORRUPT=1; shift ;;
	-h | --help) wc_usage; exit 0 ;;
	*) wc_usage >&2; die "unknown argument $1" ;;
	esac
done
case "$WC" in stock | ours) ;; *) die "--wc must be stock or ours" ;; esac
wc_is_uint "$ROUNDS" || die "--rounds needs a number"
[ -n "$SEED" ] || SEED=$(( $(od -An -N2 -tu2 /dev/urandom) ))
wc_is_uint "$SEED" || die "--seed needs a number"
RANDOM=$SEED

FULL=$(wc_kver "$KVER") || die "no installed kernel for $KVER"
if [ "$WC" = ours ] && [ -z "$KO" ]; then
	KO=build/kbuild/$FULL/dm-writecache-cxx.ko
	[ -f "$KO" ] || die "--wc ours needs --ko (no $KO; build it with scripts/kbuild.sh $FULL, or use --wc stock)"
fi
mkdir -p build/vm/logs

VRPID= # the vm-run of boot 1 while it runs
QEMUPID=
DIR=
cleanup() {
	# only our own processes, by pid
	[ -n "$QEMUPID" ] && kill -KILL "$QEMUPID" 2>/dev/null
	[ -n "$VRPID" ] && kill "$VRPID" 2>/dev/null
	if [ -n "$DIR" ] && [ -d "$DIR" ]; then
		if [ "$KEEP" = 1 ]; then echo "killcut: kept $DIR"; else rm -rf "$DIR"; fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# qemu_of PID: the qemu-system-x86_64 started by vm-run PID (vm-run ->
# timeout -> qemu).
qemu_of() {
	local t q
	for t in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		[ "$(ps -o comm= -p "$t" 2>/dev/null)" = timeout ] || continue
		for q in $(ps -o pid= --ppid "$t" 2>/dev/null); do
			case "$(ps -o comm= -p "$q" 2>/dev/null)" in
			qemu-system-x86*) echo "$q"; return 0 ;;
			esac
		done
	done
	return 1
}

echo "killcut: kernel $FULL, module $WC${KO:+ ($KO)}, $ROUNDS rounds, seed $SEED${CORRUPT:+$([ "$CORRUPT" = 1 ] && echo ', SELF-CHECK: corrupting one block per round')}"
PASSED=0
FAILED=0
for ((round = 1; round <= ROUNDS; round++)); do
	T0=$(date +%s)
	GSEED=$((RANDOM * 32768 + RANDOM))
	DELAY_DS=$((10 + RANDOM % 71)) # deciseconds, 1.0 - 8.0 s
	DELAY=$((DELAY_DS / 10)).$((DELAY_DS % 10))
	DIR=$(mktemp -d "$top/build/vm/killcut.XXXXXX") || die "mktemp failed"
	COMMON=(--kver "$KVER" --timeout "$TIMEOUT" --extra tests/vm/wc-select.sh
		--nvdimm-image "$DIR/nvdimm.img" --origin-image "$DIR/origin.img" --ssd-image "$DIR/ssd.img"
		--append "harness.wc=$WC harness.seed=$GSEED")
	[ -n "$KO" ] && COMMON+=(--ko "$KO")
	LOG1=build/vm/logs/killcut-$$-$round-1-$FULL-$WC.log
	LOG2=build/vm/logs/killcut-$$-$round-2-$FULL-$WC.log
	rm -f "$LOG1" "$LOG2"
	why=

	# --- boot 1: start, wait for the workload, kill ---
	scripts/vm-run.sh "${COMMON[@]}" --append "harness.phase=1" --log "$LOG1" \
		tests/vm/t-pmem-killcut-1.sh >"$DIR/boot1.out" 2>&1 &
	VRPID=$!
	while :; do
		if grep -qa KILLCUT-WORKLOAD-RUNNING "$LOG1" 2>/dev/null; then break; fi
		if ! kill -0 "$VRPID" 2>/dev/null; then
			why="boot 1 ended before the workload started"
			break
		fi
		if [ $(($(date +%s) - T0)) -gt "$TIMEOUT" ]; then
			why="no KILLCUT-WORKLOAD-RUNNING within ${TIMEOUT}s"
			break
		fi
		sleep 0.2
	done
	if [ -z "$why" ]; then
		QEMUPID=$(qemu_of "$VRPID") || why="cannot find boot 1's qemu process"
	fi
	if [ -z "$why" ]; then
		sleep "$DELAY"
		if grep -qaE 'KILLCUT-WORKLOAD-STOPPED|^not ok' "$LOG1"; then
			why="boot 1 workload stopped or failed before the kill: $(grep -aE 'KILLCUT-WORKLOAD-STOPPED|^not ok' "$LOG1" | head -2 | tr -d '\r' | tr '\n' ' ')"
		fi
		if kill -0 "$QEMUPID" 2>/dev/null && kill -KILL "$QEMUPID"; then
			:
		else
			why="${why:+$why; }qemu $QEMUPID was gone before the kill"
		fi
	fi
	QEMUPID=
	wait "$VRPID" 2>/dev/null
	VRPID=
	LOGGED=$(tr -d '\r' <"$LOG1" | grep -a '^KILLCUT-LOGGED' | tail -1 | awk '{ print $2 }')

	# --- boot 2: verify ---
	RECS=
	if [ -z "$why" ]; then
		a2="harness.phase=2"
		[ "$CORRUPT" = 1 ] && a2="$a2 harness.corrupt=1"
		scripts/vm-run.sh "${COMMON[@]}" --append "$a2" --log "$LOG2" \
			tests/vm/t-pmem-killcut-2.sh >"$DIR/boot2.out" 2>&1
		RECS=$(tr -d '\r' <"$LOG2" | sed -n 's/^# killcut: \([0-9]*\) records verified.*/\1/p' | tail -1)
		if [ "$(wc_verdict t-pmem-killcut-2.sh "$DIR/boot2.out")" != PASS ]; then
			why="boot 2: $(wc_verdicts "$DIR/boot2.out" | grep -v '^PASS ' | head -1)"
			[ -n "$why" ] || why="boot 2: no verdict from vm-run"
		elif [ -z "$RECS" ]; then
			why="boot 2 passed but printed no record count"
		fi
	fi
	WALL=$(($(date +%s) - T0))
	if [ -z "$why" ]; then
		echo "PASS killcut-round-$round ($RECS writes verified, killed after $DELAY s; guest seed $GSEED, round wall ${WALL}s)"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL killcut-round-$round ($why; killed after $DELAY s, ~${LOGGED:-0}+ writes logged; guest seed $GSEED)"
		for f in "$DIR/boot2.out"; do
			[ -f "$f" ] && grep -E '^    \|' "$f" |
				grep -E 'not ok|(cache|origin): block [0-9]+:|# (cache|origin|log|corrupting|found|SELF)' | head -n 20
		done
		echo "    logs: $LOG1 $LOG2"
		FAILED=$((FAILED + 1))
	fi
	if [ "$KEEP" = 1 ]; then echo "killcut: kept $DIR"; else rm -rf "$DIR"; fi
	DIR=
done
echo "killcut: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -eq "$ROUNDS" ]
