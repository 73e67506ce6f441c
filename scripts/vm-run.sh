#!/bin/bash
# vm-run.sh: run guest test scripts in a QEMU/TCG guest with emulated pmem.
# See docs/vm-harness.md.  Usage: vm-run.sh --help
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() {
	cat <<EOF
usage: $0 --kver KVER [options] TEST.sh [TEST.sh ...]
       $0 --list-kernels

Boots /boot/vmlinuz-KVER under QEMU (TCG) with an initramfs holding the test
tools, runs the given guest test scripts in order and reports PASS/FAIL per
test.  Exit status 0 iff every test passed (or was skipped).

  --kver KVER          guest kernel: a full version (see --list-kernels) or a
                       series such as 6.1 / 6.12 (newest installed one)
  --ko PATH            our module; appears in the guest as /ko/dm-writecache-cxx.ko
  --pmem MODE          nvdimm (default; QEMU NVDIMM + fsdax namespace),
                       memmap (memmap=256M!1G legacy pmem) or none
  --smp N              guest CPUs (default 1)
  --icount             deterministic time: -icount shift=0,sleep=off (one
                       vCPU; guest clocks count executed instructions, so a
                       latency in ns is an instruction count)
  --mem SIZE           guest RAM (default 1G for nvdimm/none, 2G for memmap)
  --timeout SECONDS    whole-run host timeout (default 300); the guest
                       watchdog fires a bit earlier
  --workdir DIR        cache and scratch directory (default build/vm)
  --log FILE           serial console log (default WORKDIR/logs/NAME-KVER-PMEM.log)
  --nvdimm-image FILE  nvdimm backing file; created if missing and kept (for
                       power-cut tests); default a fresh one per run
  --nvdimm-size SIZE   pmem data size of the nvdimm (default 512M; a multiple
                       of 16M); the backing file is SIZE + 128K of label area
  --origin-image FILE  same for the origin disk (/dev/vda)
  --ssd-image FILE     same for the SSD cache disk (/dev/vdb)
  --origin-size SIZE   size of a fresh origin disk (default 1G)
  --ssd-size SIZE      size of a fresh SSD cache disk (default 256M)
  --extra FILE         copy FILE into the guest's /tests/ (repeatable)
  --append WORDS       extra kernel command line words (e.g. harness.phase=2)
  --keep               keep the run directory (disks, initrd) for inspection
  -v, --verbose        also stream the serial console to stdout
  --list-kernels       print the installed guest kernel versions and exit
EOF
}

# die, note, size_bytes, the guest kernels (wc_guest_kernels,
# wc_resolve_kver) and the kernel log patterns.
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"

KVER=
KO=
PMEM=nvdimm
SMP=1
MEM=
TIMEOUT=300
WORKDIR=$REPO/build/vm
LOG=
NVDIMM_IMAGE=
NVDIMM_SIZE=512M
ORIGIN_IMAGE=
SSD_IMAGE=
ORIGIN_SIZE=1G
SSD_SIZE=256M
EXTRA=()
APPEND_EXTRA=
KEEP=0
VERBOSE=0
TESTS=()
ICOUNT=0

while [ $# -gt 0 ]; do
	case "$1" in
	--kver) KVER=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	--pmem) PMEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--icount) ICOUNT=1; shift ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--workdir) WORKDIR=${2:?}; shift 2 ;;
	--log) LOG=${2:?}; shift 2 ;;
	--nvdimm-image) NVDIMM_IMAGE=${2:?}; shift 2 ;;
	--nvdimm-size) NVDIMM_SIZE=${2:?}; shift 2 ;;
	--origin-image) ORIGIN_IMAGE=${2:?}; shift 2 ;;
	--ssd-image) SSD_IMAGE=${2:?}; shift 2 ;;
	--origin-size) ORIGIN_SIZE=${2:?}; shift 2 ;;
	--ssd-size) SSD_SIZE=${2:?}; shift 2 ;;
	--extra) EXTRA+=("${2:?}"); shift 2 ;;
	--append) APPEND_EXTRA="$APPEND_EXTRA ${2:?}"; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	--list-kernels) wc_guest_kernels; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; TESTS+=("$@"); break ;;
	-*) usage >&2; die "unknown option $1" ;;
	*) TESTS+=("$1"); shift ;;
	esac
done

# --- checks ---------------------------------------------------------------------
[ -n "$KVER" ] || { usage >&2; die "--kver is required (installed: $(wc_guest_kernels | tr '\n' ' '))"; }
KVER_ARG=$KVER
KVER=$(wc_resolve_kver "$KVER_ARG") || die "no installed kernel matches '$KVER_ARG' (installed: $(wc_guest_kernels | tr '\n' ' '))"
KERNEL=/boot/vmlinuz-$KVER
[ -r "$KERNEL" ] || die "$KERNEL not readable"
[ ${#TESTS[@]} -gt 0 ] || die "no test scripts given"
case "$PMEM" in nvdimm | memmap | none) ;; *) die "--pmem must be nvdimm, memmap or none" ;; esac
case "$SMP" in '' | *[!0-9]*) die "--smp needs a number" ;; esac
[ "$ICOUNT" = 1 ] && [ "$SMP" != 1 ] && die "--icount needs one vCPU (--smp 1)"
case "$TIMEOUT" in '' | *[!0-9]*) die "--timeout needs seconds" ;; esac
ORIGIN_BYTES=$(size_bytes "$ORIGIN_SIZE") || die "bad --origin-size $ORIGIN_SIZE"
SSD_BYTES=$(size_bytes "$SSD_SIZE") || die "bad --ssd-size $SSD_SIZE"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed (scripts/install-deps.sh)"
LIB=$REPO/tests/vm/lib.sh
[ -f "$LIB" ] || die "missing $LIB"

declare -A SEEN_NAMES=()
NAMES=()
for t in "${TESTS[@]}"; do
	[ -f "$t" ] || die "test script $t not found"
	n=$(basename "$t")
	case "$n" in *[!A-Za-z0-9._+-]*) die "test name '$n' has unsupported characters" ;; esac
	case "$n" in lib.sh | wc-select.sh | *-lib.sh | LIST) die "test name '$n' is reserved" ;; esac
	[ -z "${SEEN_NAMES[$n]:-}" ] || die "two tests named $n"
	SEEN_NAMES[$n]=1
	NAMES+=("$n")
done
if [ -n "$KO" ]; then
	[ -f "$KO" ] || die "--ko $KO not found"
	vm=$(modinfo -F vermagic "$KO" 2>/dev/null | awk '{print $1}' || true)
	[ -z "$vm" ] || [ "$vm" = "$KVER" ] ||
		die "--ko $KO is built for '$vm', not for the guest kernel $KVER"
fi

# Memory.
if [ -z "$MEM" ]; then
	[ "$PMEM" = memmap ] && MEM=2G || MEM=1G
fi
MEM_MIB=$(($(size_bytes "$MEM" || die "bad --mem $MEM") / 1048576))
# The nvdimm backing file: the data size (a multiple of 16 MiB, which keeps
# the region 16 MiB-aligned) plus a 128 KiB label area.
NV_DATA_BYTES=$(size_bytes "$NVDIMM_SIZE") || die "bad --nvdimm-size $NVDIMM_SIZE"
[ "$NV_DATA_BYTES" -gt 0 ] && [ $((NV_DATA_BYTES % (16 * 1048576))) = 0 ] ||
	die "--nvdimm-size must be a positive multiple of 16M"
NV_SIZE_K=$((NV_DATA_BYTES / 1024 + 128)) # default 512 MiB + 128 KiB = 524416K
# Hot-plug address space for the nvdimm: 1 GiB unless it needs more.
NV_MAXMEM_MIB=1024
while [ "$NV_MAXMEM_MIB" -le $((NV_SIZE_K / 1024)) ]; do NV_MAXMEM_MIB=$((NV_MAXMEM_MIB + 1024)); done
if [ "$PMEM" = memmap ] && [ "$MEM_MIB" -lt 1536 ]; then
	die "--pmem memmap needs --mem >= 1536M (pmem is memmap=256M!1G)"
fi

# Guest watchdog: fires before the host timeout so that the guest can dump
# its blocked tasks.  Boot (BIOS, initrd load, kernel) takes ~10-15 s.
if [ "$TIMEOUT" -ge 90 ]; then
	GUEST_TIMEOUT=$((TIMEOUT - 30))
else
	GUEST_TIMEOUT=$((TIMEOUT * 2 / 3))
fi

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
# Remove run directories left behind by killed runs (run.PID.*).
for d in "$WORKDIR"/run.*.*; do
	[ -d "$d" ] || continue
	p=${d#"$WORKDIR"/run.}
	p=${p%%.*}
	case "$p" in '' | *[!0-9]*) continue ;; esac
	kill -0 "$p" 2>/dev/null || rm -rf "$d"
done
RUN=$(mktemp -d "$WORKDIR/run.$$.XXXXXX")
QPID=
TAILPID=
cleanup() {
	if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null || true; fi
	if [ -n "$TAILPID" ]; then kill "$TAILPID" 2>/dev/null || true; fi
	if [ "$KEEP" = 1 ]; then
		note "run directory kept: $RUN"
	else
		rm -rf "$RUN"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$LOG" ]; then
	mkdir -p "$WORKDIR/logs"
	lname=${NAMES[0]%.sh}
	[ ${#NAMES[@]} -gt 1 ] && lname="$lname+$((${#NAMES[@]} - 1))"
	LOG=$WORKDIR/logs/$lname-$KVER-$PMEM.log
fi
mkdir -p "$(dirname "$LOG")"

START=$(date +%s.%N)

# --- initramfs: cached base + per-run overlay --------------------------------------
BASE=$WORKDIR/base-$KVER.cpio
flock "$BASE.lock" "$HERE/build-initramfs.sh" "$KVER" "$BASE" ||
	die "building the base initramfs failed"

OV=$RUN/overlay
mkdir -p "$OV/tests" "$OV/ko"
cp "$LIB" "$OV/tests/lib.sh"
# Shared by the writecache tests (module selection and helpers).
cp "$REPO/tests/vm/wc-select.sh" "$OV/tests/wc-select.sh"
for f in "$REPO"/tests/vm/*-lib.sh; do
	[ -e "$f" ] && cp "$f" "$OV/tests/"
done
for i in "${!TESTS[@]}"; do
	cp "${TESTS[$i]}" "$OV/tests/${NAMES[$i]}"
	echo "${NAMES[$i]}" >>"$OV/tests/LIST"
done
for f in "${EXTRA[@]}"; do
	[ -e "$f" ] || die "--extra $f not found"
	cp -r "$f" "$OV/tests/"
done
[ -n "$KO" ] && cp "$KO" "$OV/ko/dm-writecache-cxx.ko"
chmod -R a+rX "$OV"
chmod 755 "$OV"/tests/*
(cd "$OV" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$RUN/overlay.cpio"
cat "$BASE" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"

# --- disks -------------------------------------------------------------------------
# disk_image FILE BYTES: reuse FILE if it exists, else create it sparse.
disk_image() {
	if [ ! -e "$1" ]; then
		mkdir -p "$(dirname "$1")"
		truncate -s "$2" "$1"
	fi
}
[ -n "$ORIGIN_IMAGE" ] || ORIGIN_IMAGE=$RUN/origin.img
[ -n "$SSD_IMAGE" ] || SSD_IMAGE=$RUN/ssd.img
disk_image "$ORIGIN_IMAGE" "$ORIGIN_BYTES"
disk_image "$SSD_IMAGE" "$SSD_BYTES"
ORIGIN_BYTES=$(stat -c %s "$ORIGIN_IMAGE")
SSD_BYTES=$(stat -c %s "$SSD_IMAGE")

# cache=none (O_DIRECT) gives honest flush/FUA behaviour but needs a
# filesystem that supports O_DIRECT (tmpfs does not).
DRIVE_CACHE="cache=none,aio=native"
if ! dd if=/dev/zero of="$RUN/odirect.probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	note "warning: $RUN does not support O_DIRECT, using cache=writeback"
	DRIVE_CACHE="cache=writeback"
fi
rm -f "$RUN/odirect.probe"

QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp "$SMP" -nographic -no-reboot -net none)
[ "$ICOUNT" = 1 ] && QEMU+=(-icount shift=0,sleep=off)
APPEND="console=ttyS0 loglevel=5 panic=-1 oops=panic softlockup_panic=1"
APPEND="$APPEND sysctl.kernel.hung_task_panic=1 sysctl.kernel.hung_task_timeout_secs=120"
APPEND="$APPEND harness.timeout=$GUEST_TIMEOUT harness.pmem=$PMEM"
APPEND="$APPEND harness.origin_size=$ORIGIN_BYTES harness.ssd_size=$SSD_BYTES"
case "$PMEM" in
nvdimm)
	[ -n "$NVDIMM_IMAGE" ] || NVDIMM_IMAGE=$RUN/nvdimm.img
	if [ -e "$NVDIMM_IMAGE" ]; then
		[ "$(stat -c %s "$NVDIMM_IMAGE")" = $((NV_SIZE_K * 1024)) ] ||
			die "$NVDIMM_IMAGE must be exactly ${NV_SIZE_K}K"
	else
		mkdir -p "$(dirname "$NVDIMM_IMAGE")"
		truncate -s "${NV_SIZE_K}K" "$NVDIMM_IMAGE"
	fi
	QEMU+=(-machine "q35,nvdimm=on" -m "${MEM_MIB}M,slots=2,maxmem=$((MEM_MIB + NV_MAXMEM_MIB))M")
	QEMU+=(-object "memory-backend-file,id=mem1,share=on,mem-path=$NVDIMM_IMAGE,size=${NV_SIZE_K}K")
	QEMU+=(-device "nvdimm,id=nv1,memdev=mem1,label-size=128K")
	;;
memmap)
	QEMU+=(-machine q35 -m "${MEM_MIB}M")
	APPEND="$APPEND memmap=256M!1G"
	;;
none)
	QEMU+=(-machine q35 -m "${MEM_MIB}M")
	;;
esac
QEMU+=(-drive "file=$ORIGIN_IMAGE,format=raw,if=virtio,$DRIVE_CACHE")
QEMU+=(-drive "file=$SSD_IMAGE,format=raw,if=virtio,$DRIVE_CACHE")
QEMU+=(-kernel "$KERNEL" -initrd "$RUN/initrd.cpio" -append "$APPEND$APPEND_EXTRA")

NV_NOTE=
[ "$PMEM" = nvdimm ] && [ "$NVDIMM_SIZE" != 512M ] && NV_NOTE=" ($NVDIMM_SIZE)"
note "kernel $KVER, pmem=$PMEM$NV_NOTE, smp=$SMP, mem=${MEM_MIB}M, timeout=${TIMEOUT}s, tests: ${NAMES[*]}"
note "log: $LOG"
{
	printf 'vm-run:'
	printf ' %q' "${QEMU[@]}"
	echo
} >"$LOG"

# --- run ---------------------------------------------------------------------------
set +e
timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >>"$LOG" 2>&1 &
QPID=$!
if [ "$VERBOSE" = 1 ]; then
	tail -n +1 -f --pid="$QPID" "$LOG" &
	TAILPID=$!
fi
wait "$QPID"
QRC=$?
QPID=
if [ -n "$TAILPID" ]; then
	wait "$TAILPID"
	TAILPID=
fi
set -e
END=$(date +%s.%N)
WALL=$(awk -v a="$START" -v b="$END" 'BEGIN{printf "%.1f", b - a}')

# --- results -------------------------------------------------------------------------
CLEAN=$RUN/console.txt
tr -d '\r' <"$LOG" >"$CLEAN"

has() { grep -qF -- "$1" "$CLEAN"; }

# Why did the guest stop early?
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
	DIED="host timeout after ${TIMEOUT}s"
elif has "===HARNESS-TIMEOUT"; then
	DIED="guest watchdog timeout after ${GUEST_TIMEOUT}s"
elif has "Kernel panic"; then
	DIED="kernel panic: $(grep -o 'Kernel panic.*' "$CLEAN" | head -1 | cut -c1-120)"
elif has "===TEST-POWERCUT"; then
	DIED="an earlier test ended the boot with a power cut"
elif [ "$QRC" != 0 ]; then
	DIED="qemu exited with status $QRC"
elif ! has "===HARNESS-START"; then
	DIED="guest never reached /init"
else
	DIED="guest stopped unexpectedly"
fi

# section NAME: the console lines of test NAME (BEGIN .. END or end of log).
section() {
	awk -v b="===TEST-BEGIN $1===" -v e="===TEST-END $1 " -v p="===TEST-POWERCUT $1 " '
		index($0, b) { on = 1 }
		on { print }
		on && (index($0, e) || index($0, p)) { exit }' "$CLEAN"
}
show() { # indent the lines of stdin, keep the last N
	tail -n "$1" | sed 's/^/    | /'
}

PASSED=0
FAILED=0
SKIPPED=0
SHOWN_TAIL=0
# Kernel log lines that explain a crash: the guest's own list
# (tests/vm/dmesg-lib.sh, through scripts/lib.sh).
BAD_RE=$WC_DMESG_BAD
OK_RE=$WC_DMESG_OK

# The environment itself: kernel trouble while booting, or no pmem.
if has "===HARNESS-START"; then
	BOOT_BAD=
	if has "===BOOT-DMESG bad==="; then
		BOOT_BAD="kernel log at boot: $(grep -o 'harness: boot dmesg: .*' "$CLEAN" | head -1 | sed 's/harness: boot dmesg: //' | cut -c1-100)"
	fi
	if has "===HARNESS-PMEM-FAILED"; then
		BOOT_BAD="${BOOT_BAD:+$BOOT_BAD; }pmem setup failed"
	fi
	if [ -n "$BOOT_BAD" ]; then
		echo "FAIL harness-boot ($BOOT_BAD)"
		FAILED=$((FAILED + 1))
		awk '/===HARNESS-START/ { on = 1 } on { print } /===TEST-BEGIN/ { exit }' "$CLEAN" | show 80
	fi
fi

for n in "${NAMES[@]}"; do
	end=$(grep -oE "===TEST-END $(printf '%s' "$n" | sed 's/[.+]/\\&/g') rc=[0-9]+ dmesg=[a-z]+===" "$CLEAN" | head -1 || true)
	pc=$(grep -oE "===TEST-POWERCUT $(printf '%s' "$n" | sed 's/[.+]/\\&/g') checks=[a-z]+ dmesg=[a-z]+===" "$CLEAN" | head -1 || true)
	if [ -n "$end" ]; then
		rc=$(echo "$end" | sed -E 's/.* rc=([0-9]+) .*/\1/')
		dm=$(echo "$end" | sed -E 's/.* dmesg=([a-z]+)===/\1/')
		if [ "$rc" = 0 ] && [ "$dm" = ok ]; then
			echo "PASS $n"
			PASSED=$((PASSED + 1))
			continue
		fi
		if [ "$rc" = 77 ] && [ "$dm" = ok ]; then
			why=$(section "$n" | grep -o '# SKIP.*' | head -1 | sed 's/# SKIP *//')
			echo "SKIP $n${why:+ ($why)}"
			SKIPPED=$((SKIPPED + 1))
			continue
		fi
		why=
		[ "$rc" != 0 ] && why="exit status $rc"
		[ "$dm" != ok ] && why="${why:+$why, }kernel log: $(section "$n" | grep -o 'harness: bad dmesg: .*' | head -1 | sed 's/harness: bad dmesg: //' | cut -c1-100)"
	elif [ -n "$pc" ]; then
		if echo "$pc" | grep -q 'checks=ok dmesg=ok'; then
			echo "PASS $n (ended in a power cut)"
			PASSED=$((PASSED + 1))
			continue
		fi
		why="before power cut: $(echo "$pc" | sed -E 's/.*(checks=[a-z]+ dmesg=[a-z]+).*/\1/')"
	elif has "===TEST-BEGIN $n==="; then
		why="did not finish: $DIED"
		first=$(section "$n" | grep -oE "($BAD_RE).*" | grep -vE "$OK_RE" | head -1 | cut -c1-100 || true)
		[ -z "$first" ] || why="$why; first: $first"
	else
		why="not run: $DIED"
	fi
	echo "FAIL $n ($why)"
	FAILED=$((FAILED + 1))
	if has "===TEST-BEGIN $n==="; then
		section "$n" | show 150
	elif ! has "===TEST-BEGIN" && [ "$SHOWN_TAIL" = 0 ]; then
		# Nothing ran at all: show how the boot ended.
		show 60 <"$CLEAN"
		SHOWN_TAIL=1
	fi
done
note "wall time ${WALL}s (qemu exit status $QRC), log: $LOG"
if [ "$SKIPPED" -gt 0 ]; then
	echo "vm-run: $PASSED passed, $FAILED failed, $SKIPPED skipped"
else
	echo "vm-run: $PASSED passed, $FAILED failed"
fi
[ "$FAILED" = 0 ]
