# tests/vm/lib.sh: helpers for guest test scripts (busybox sh).
# In the guest it is /tests/lib.sh ($HARNESS_LIB); a test starts with
#   . /tests/lib.sh
# and ends with
#   finish
# See docs/vm-harness.md for the environment the harness exports.

: "${HARNESS_TEST:=$(basename "$0")}"
: "${HARNESS_ORIGIN:=/dev/vda}"
: "${HARNESS_SSD:=/dev/vdb}"
: "${HARNESS_PMEM:=/dev/pmem0}"
: "${HARNESS_KO:=}"
: "${HARNESS_KVER:=$(uname -r)}"

# The kernel log patterns (WC_DMESG_BAD, WC_DMESG_OK); /init exports the
# same ones as HARNESS_DMESG_BAD and HARNESS_DMESG_OK.
if [ -f "${HARNESS_TESTS_DIR:-/tests}/dmesg-lib.sh" ]; then
	. "${HARNESS_TESTS_DIR:-/tests}/dmesg-lib.sh"
fi

LIB_PASS=0
LIB_FAIL=0
LIB_OUT=/tmp/lib-check.$$.out

# --- reporting ------------------------------------------------------------------
info() { echo "# $*"; }
pass() {
	LIB_PASS=$((LIB_PASS + 1))
	echo "ok - $1"
}
fail() { # NAME [WHY]
	LIB_FAIL=$((LIB_FAIL + 1))
	echo "not ok - $1${2:+ ($2)}"
}

# check NAME CMD [ARGS...]: run CMD; ok if it exits 0.  Its output is shown
# when it fails (or always with CHECK_VERBOSE=1); lines it prints that start
# with "# " are always shown.
check() {
	_n=$1
	shift
	if "$@" >"$LIB_OUT" 2>&1; then
		pass "$_n"
		if [ "${CHECK_VERBOSE:-0}" = 1 ]; then
			sed 's/^/#   /' "$LIB_OUT"
		else
			grep '^# ' "$LIB_OUT"
		fi
		return 0
	else
		_rc=$?
		fail "$_n" "exit status $_rc: $*"
		tail -n 40 "$LIB_OUT" | sed 's/^/#   /'
		return $_rc
	fi
}

# check_fails NAME CMD [ARGS...]: ok if CMD exits non-zero.
check_fails() {
	_n=$1
	shift
	if "$@" >"$LIB_OUT" 2>&1; then
		fail "$_n" "succeeded but should have failed: $*"
		tail -n 40 "$LIB_OUT" | sed 's/^/#   /'
		return 1
	fi
	pass "$_n"
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1 ($3)"
	else
		fail "$1" "expected '$2', got '$3'"
		return 1
	fi
}

# finish: print the summary; exit 1 if a check failed or none ran.
finish() {
	rm -f "$LIB_OUT"
	echo "# $HARNESS_TEST: $LIB_PASS checks passed, $LIB_FAIL failed"
	if [ "$LIB_FAIL" -gt 0 ]; then
		exit 1
	fi
	if [ "$LIB_PASS" -eq 0 ]; then
		echo "# $HARNESS_TEST: no checks ran"
		exit 1
	fi
	exit 0
}

# skip_all REASON: the whole test does not apply (vm-run reports SKIP).
skip_all() {
	echo "# SKIP $*"
	exit 77
}

# harness_arg NAME [DEFAULT]: value of harness.NAME=... from the kernel
# command line (vm-run.sh --append "harness.NAME=VALUE").
harness_arg() {
	_k=$(echo "$1" | tr -c 'A-Za-z0-9_\n' '_' | tr '[:lower:]' '[:upper:]')
	eval "_v=\${HARNESS_ARG_$_k:-}"
	if [ -n "$_v" ]; then echo "$_v"; else echo "${2:-}"; fi
}

# --- block devices ----------------------------------------------------------------
# zero_sb DEV: zero the first 4 KiB (a cache device needs a zeroed or valid
# superblock).  busybox dd: oflag=direct works, oflag=dsync does not.
zero_sb() {
	dd if=/dev/zero of="$1" bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null
}

# dev_bytes DEV / dev_sectors DEV
dev_bytes() { blockdev --getsize64 "$1"; }
dev_sectors() { blockdev --getsz "$1"; }

# wait_dev PATH [SECONDS]
wait_dev() {
	_i=0
	while [ ! -b "$1" ] && [ $_i -lt $((${2:-5} * 10)) ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -b "$1" ]
}

# --- device-mapper --------------------------------------------------------------
# dm_create NAME TABLE: create the device and make sure /dev/mapper/NAME exists
# (there is no udev in the guest).
dm_create() {
	dmsetup create "$1" --table "$2" || return
	dmsetup mknodes "$1" >/dev/null 2>&1
	wait_dev "/dev/mapper/$1" 5
}

# dm_remove NAME: remove, retrying briefly while the device is busy.
dm_remove() {
	_i=0
	until dmsetup remove "$1" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -ge 10 ]; then
			dmsetup remove "$1"
			return
		fi
		sleep 0.5
	done
}

# dm_mknodes: recreate every /dev/mapper node.
dm_mknodes() { dmsetup mknodes >/dev/null 2>&1; }

# wc_table MODE ORIGIN CACHE [BLOCKSIZE [NOPTS OPTS...]]: a writecache table line
# for the whole ORIGIN, e.g. wc_table p /dev/vda /dev/pmem0 4096 0
wc_table() {
	_m=$1 _o=$2 _c=$3
	shift 3
	echo "0 $(blockdev --getsz "$_o") writecache $_m $_o $_c ${*:-4096 0}"
}

# --- I/O ---------------------------------------------------------------------------
# fio_verify DEV SIZE [FIO ARGS...]: 4k random writes over SIZE bytes of DEV,
# then read back and verify (crc32c).  Prints fio's summary lines; all
# output on failure.
fio_verify() {
	_dev=$1 _size=$2
	shift 2
	_out=/tmp/fio.$$.out
	fio --name=verify --filename="$_dev" --size="$_size" --rw=randwrite --bs=4k \
		--ioengine=psync --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 \
		"$@" >"$_out" 2>&1
	_rc=$?
	if [ $_rc -eq 0 ] && grep -q 'err= *0' "$_out"; then
		grep -E '^ *(write|read):' "$_out" | sed 's/^ */#   fio /'
	else
		[ $_rc -eq 0 ] && _rc=1
		sed 's/^/#   fio: /' "$_out"
	fi
	rm -f "$_out"
	return $_rc
}

# --- modules -----------------------------------------------------------------------
module_loaded() { grep -q "^$1 " /proc/modules; }

# load_ours [PARAMS...]: insmod our dm-writecache-cxx.ko (needs vm-run --ko).
load_ours() {
	if [ -z "$HARNESS_KO" ] || [ ! -f "$HARNESS_KO" ]; then
		echo "no module: run vm-run.sh with --ko" >&2
		return 1
	fi
	insmod "$HARNESS_KO" "$@"
}

# load_stock: the distribution's dm-writecache.
load_stock() { modprobe dm-writecache; }

# unload_writecache: rmmod whichever writecache module is loaded.
unload_writecache() {
	_r=0
	for _m in dm_writecache_cxx dm_writecache; do
		if module_loaded $_m; then
			rmmod $_m || _r=1
		fi
	done
	return $_r
}

# require_ko: skip the test when no module was given to vm-run.
require_ko() {
	[ -n "$HARNESS_KO" ] || skip_all "no --ko module given"
}

# --- kernel log ------------------------------------------------------------------
# dmesg_allow ERE: do not fail the test for kernel log lines matching ERE
# (for tests that provoke a warning on purpose).
dmesg_allow() {
	[ -n "${HARNESS_DMESG_ALLOW_FILE:-}" ] && echo "$1" >>"$HARNESS_DMESG_ALLOW_FILE"
}

# dmesg_bad [FILE]: print the kernel log lines since the test began (or
# those saved in FILE, by a test that clears the log itself) that would
# fail it; status 0 if there are none.
dmesg_bad() {
	if [ -n "${1:-}" ]; then cat "$1"; else dmesg; fi | grep -E "${HARNESS_DMESG_BAD:-${WC_DMESG_BAD:-.}}" |
		grep -v -E "${HARNESS_DMESG_OK:-${WC_DMESG_OK:-^\$}}" >/tmp/dmesg-bad.$$
	if [ -s "${HARNESS_DMESG_ALLOW_FILE:-/nonexistent}" ]; then
		grep -v -E -f "$HARNESS_DMESG_ALLOW_FILE" /tmp/dmesg-bad.$$ >/tmp/dmesg-bad2.$$
		mv /tmp/dmesg-bad2.$$ /tmp/dmesg-bad.$$
	fi
	cat /tmp/dmesg-bad.$$
	! [ -s /tmp/dmesg-bad.$$ ]
	_r=$?
	rm -f /tmp/dmesg-bad.$$
	return $_r
}

# powercut: end the test (and the boot) with an immediate reset, no sync, no
# unmount (sysrq b).  vm-run reports the test as passed if every check so
# far passed and the kernel log is clean.  Later tests in the same boot do
# not run.  Run the next phase in a new vm-run with the same --*-image files.
powercut() {
	_c=ok
	[ "$LIB_FAIL" -gt 0 ] && _c=bad
	[ "$LIB_PASS" -eq 0 ] && _c=bad
	_d=ok
	dmesg_bad >/tmp/powercut.bad || _d=bad
	[ $_d = bad ] && sed 's/^/# bad dmesg: /' /tmp/powercut.bad
	echo "# $HARNESS_TEST: $LIB_PASS checks passed, $LIB_FAIL failed; power cut"
	echo "===TEST-POWERCUT $HARNESS_TEST checks=$_c dmesg=$_d==="
	echo b >/proc/sysrq-trigger
	sleep 10
}
