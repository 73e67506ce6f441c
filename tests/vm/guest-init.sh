#!/bin/sh
# /init of the QEMU test guest (busybox sh).  Installed by
# scripts/build-initramfs.sh.
#
# Boots the harness environment (mounts, watchdog, modules, pmem), runs the
# test scripts in /tests one after the other, checks the kernel log after each
# one, prints markers on the serial console for scripts/vm-run.sh and powers
# off.  Options come as harness.* words on the kernel command line:
#   harness.tests=a.sh,b.sh   tests to run (else the lines of /tests/LIST)
#   harness.timeout=N         guest watchdog in seconds (default 300)
#   harness.pmem=nvdimm|memmap|none
#   harness.origin_size=BYTES harness.ssd_size=BYTES   (expected disk sizes)
# Any other harness.KEY=VALUE word is exported as HARNESS_ARG_KEY=VALUE.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/null >/dev/console 2>&1

HD=/tmp/harness # the harness' own scratch space
mkdir -p $HD

uptime_s() { cut -d' ' -f1 /proc/uptime; }
say() { echo "harness: $*"; }

# --- command line -----------------------------------------------------------------
H_TIMEOUT=300
H_PMEM=nvdimm
H_TESTS=
H_ORIGIN_SIZE=
H_SSD_SIZE=
read -r CMDLINE </proc/cmdline
for w in $CMDLINE; do
	case "$w" in
	harness.*=*)
		k=${w#harness.}
		v=${k#*=}
		k=${k%%=*}
		case "$k" in
		timeout) H_TIMEOUT=$v ;;
		pmem) H_PMEM=$v ;;
		tests) H_TESTS=$v ;;
		origin_size) H_ORIGIN_SIZE=$v ;;
		ssd_size) H_SSD_SIZE=$v ;;
		esac
		k=$(echo "$k" | tr -c 'A-Za-z0-9_\n' '_' | tr '[:lower:]' '[:upper:]')
		export "HARNESS_ARG_$k=$v"
		;;
	esac
done

echo "===HARNESS-START kver=$(uname -r) uptime=$(uptime_s)==="

# --- watchdog -------------------------------------------------------------------------
# No sync here: with hung I/O it would block forever.
(
	sleep "$H_TIMEOUT"
	echo
	echo "===HARNESS-TIMEOUT after ${H_TIMEOUT}s==="
	echo w >/proc/sysrq-trigger
	sleep 1
	echo "harness: processes (no kernel threads):"
	ps | grep -v ' \[[^]]*\]$'
	echo "harness: blocked tasks (sysrq w) and recent kernel log:"
	dmesg | tail -n 400
	echo "===HARNESS-TIMEOUT-END==="
	poweroff -f
) &
WATCHDOG=$!

# --- modules --------------------------------------------------------------------------
echo /sbin/modprobe >/proc/sys/kernel/modprobe
t0=$(uptime_s)
nmod=0
while read -r m; do
	[ -n "$m" ] || continue
	if out=$(insmod "$m" 2>&1); then
		nmod=$((nmod + 1))
	else
		say "insmod $m failed: $out"
	fi
done </etc/modorder
say "loaded $nmod modules ($t0 -> $(uptime_s) s)"

# --- pmem -----------------------------------------------------------------------------
wait_for() { # PATH SECONDS
	i=0
	while [ ! -e "$1" ] && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}

PMEM_DEV=/dev/pmem0
case "$H_PMEM" in
nvdimm)
	wait_for /sys/bus/nd/devices/region0 10 || say "no nvdimm region0 appeared"
	if ndctl list -N 2>/dev/null | grep -q '"mode":"fsdax"'; then
		say "nvdimm: existing fsdax namespace"
	else
		say "nvdimm: creating fsdax namespace"
		ndctl create-namespace -f -e namespace0.0 --mode=fsdax >$HD/ndctl.out 2>&1 ||
			{ say "ndctl create-namespace failed:"; cat $HD/ndctl.out; }
	fi
	;;
memmap) ;;
none) PMEM_DEV= ;;
*) say "unknown harness.pmem=$H_PMEM" ;;
esac
if [ -n "$PMEM_DEV" ]; then
	if wait_for $PMEM_DEV 20; then
		say "pmem: $PMEM_DEV $(blockdev --getsize64 $PMEM_DEV) bytes, $(ndctl list -N 2>/dev/null | tr -d ' \n')"
	else
		echo "===HARNESS-PMEM-FAILED mode=$H_PMEM==="
	fi
fi

# --- kernel log check ---------------------------------------------------------------
# The patterns: tests/vm/dmesg-lib.sh (in /tests from vm-run's overlay; the
# host's scripts/lib.sh reads the same file).  Without it every line is bad.
if [ -f /tests/dmesg-lib.sh ]; then
	. /tests/dmesg-lib.sh
else
	say "no /tests/dmesg-lib.sh: every kernel log line counts as a problem"
	WC_DMESG_BAD=. WC_DMESG_OK='^$'
fi
export HARNESS_DMESG_BAD="$WC_DMESG_BAD"
export HARNESS_DMESG_OK="$WC_DMESG_OK"

# dmesg_scan FILE [ALLOWFILE]: print the offending lines, return 1 if any.
dmesg_scan() {
	grep -E "$HARNESS_DMESG_BAD" "$1" | grep -v -E "$HARNESS_DMESG_OK" >$HD/bad.tmp
	if [ -n "$2" ] && [ -s "$2" ]; then
		grep -v -E -f "$2" $HD/bad.tmp >$HD/bad.tmp2
		mv $HD/bad.tmp2 $HD/bad.tmp
	fi
	[ -s $HD/bad.tmp ] || return 0
	cat $HD/bad.tmp
	return 1
}

dmesg -c >$HD/boot.dmesg
if dmesg_scan $HD/boot.dmesg >$HD/boot.bad; then
	echo "===BOOT-DMESG ok==="
else
	echo "===BOOT-DMESG bad==="
	sed 's/^/harness: boot dmesg: /' $HD/boot.bad
fi

# --- environment for tests --------------------------------------------------------
HARNESS_KVER=$(uname -r)
export HARNESS_KVER
export HARNESS_KO=
[ -f /ko/dm-writecache-cxx.ko ] && HARNESS_KO=/ko/dm-writecache-cxx.ko
export HARNESS_ORIGIN=/dev/vda HARNESS_SSD=/dev/vdb HARNESS_PMEM=$PMEM_DEV
export HARNESS_PMEM_MODE="$H_PMEM"
export HARNESS_ORIGIN_BYTES="$H_ORIGIN_SIZE" HARNESS_SSD_BYTES="$H_SSD_SIZE"
export HARNESS_TESTS_DIR=/tests HARNESS_LIB=/tests/lib.sh
export DM_DISABLE_UDEV=1 # no udev: libdevmapper creates /dev/mapper nodes itself

# --- tests ------------------------------------------------------------------------
if [ -n "$H_TESTS" ]; then
	TESTS=$(echo "$H_TESTS" | tr ',' ' ')
elif [ -f /tests/LIST ]; then
	TESTS=$(grep -v '^[[:space:]]*#' /tests/LIST)
else
	TESTS=
	say "no tests given (harness.tests= or /tests/LIST)"
fi

for t in $TESTS; do
	dmesg -c >"$HD/pre-$t.dmesg" # whatever came since the last check
	export HARNESS_TEST="$t"
	export HARNESS_DMESG_ALLOW_FILE="$HD/allow-$t"
	: >"$HARNESS_DMESG_ALLOW_FILE"
	echo "===TEST-BEGIN $t==="
	t0=$(uptime_s)
	if [ -f "/tests/$t" ]; then
		(cd /tests && exec sh "/tests/$t") </dev/null
		rc=$?
	else
		say "test /tests/$t not found"
		rc=127
	fi
	t1=$(uptime_s)
	dmesg -c >"$HD/$t.dmesg"
	cat "$HD/pre-$t.dmesg" "$HD/$t.dmesg" >"$HD/all-$t.dmesg"
	if dmesg_scan "$HD/all-$t.dmesg" "$HARNESS_DMESG_ALLOW_FILE" >"$HD/$t.bad"; then
		d=ok
	else
		d=bad
		say "kernel log of $t has problems:"
		sed 's/^/harness: bad dmesg: /' "$HD/$t.bad"
	fi
	if [ $rc -ne 0 ] || [ $d = bad ]; then
		say "kernel log during $t:"
		sed 's/^/harness: dmesg: /' "$HD/all-$t.dmesg" | tail -n 200
	fi
	say "$t took $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s (guest time)"
	echo "===TEST-END $t rc=$rc dmesg=$d==="
done

kill $WATCHDOG 2>/dev/null
echo "===HARNESS-DONE uptime=$(uptime_s)==="
sync
poweroff -f
sleep 5
echo o >/proc/sysrq-trigger
