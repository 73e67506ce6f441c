# shellcheck shell=bash
# scripts/lib.sh: what the host scripts share; sourced (bash), never run.
#
#   . "$HERE/lib.sh"        (HERE: this directory; any time before first use)
#
# It sets no shell options and runs nothing but variable assignments, so it
# is safe under set -euo pipefail and without. What is here:
#   messages      die, note, wc_usage (the script's header comment)
#   options       wc_is_uint, size_bytes
#   kernels       wc_series_kver, wc_kernels, wc_kver (the build kernels of
#                 scripts/kernels.sh), wc_guest_kernels, wc_resolve_kver
#                 (the guest kernels of vm-run.sh)
#   verdicts      wc_verdicts, wc_verdict: the "PASS|FAIL|SKIP name" lines
#                 of vm-run.sh and the runners built on it
#   QEMU lock     WC_QEMU_LOCK, WC_USE_QEMU_LOCK, wc_qemu_run, wc_qemu_exec
#   kernel log    WC_DMESG_BAD, WC_DMESG_OK (from tests/vm/dmesg-lib.sh,
#                 which the guest uses too)
#   core flags    wc_core_flags (src/core/flags.mk)

WC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WC_REPO=$(cd "$WC_LIB_DIR/.." && pwd)
# The script that sourced this file (every host script is in scripts/).
WC_SELF=$WC_LIB_DIR/$(basename "${BASH_SOURCE[1]:-lib.sh}")

# --- messages ---------------------------------------------------------------
# WC_PROG: the name in messages (the script's, without .sh; a script may
# set another after sourcing). WC_DIE_TAG: what die puts before the
# message ("ERROR: "; the scripts that have always printed their errors
# without it set it empty after sourcing).
WC_PROG=$(basename "$WC_SELF" .sh)
WC_DIE_TAG='ERROR: '

# die MESSAGE: print "PROG: ERROR: MESSAGE" on stderr, exit 2 (usage or
# environment error).
die() {
	echo "$WC_PROG: $WC_DIE_TAG$*" >&2
	exit 2
}
# note MESSAGE: "PROG: MESSAGE" on stdout.
note() { echo "$WC_PROG: $*"; }

# wc_usage: the script's header comment (its lines after the #! line up to
# the first line that is not a comment), without the leading "# ".
wc_usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$WC_SELF"
}

# --- option values ----------------------------------------------------------
# wc_is_uint VALUE: status 0 iff VALUE is a non-empty string of digits.
wc_is_uint() {
	case "$1" in
	'' | *[!0-9]*) return 1 ;;
	esac
}

# size_bytes SIZE: 1G, 256M, 512K, plain bytes (binary units).
size_bytes() {
	local s=$1
	case "$s" in
	*[kK]) echo $((${s%?} * 1024)) ;;
	*[mM]) echo $((${s%?} * 1024 * 1024)) ;;
	*[gG]) echo $((${s%?} * 1024 * 1024 * 1024)) ;;
	*[!0-9]* | "") return 1 ;;
	*) echo "$s" ;;
	esac
}

# --- kernels ----------------------------------------------------------------
# The series this project builds for, and the Debian flavour of each: the
# newest 6.1 (linux-headers-amd64) and the newest 6.12 backport. Never
# hard-code a version: Debian's ABI number moves.
WC_SERIES="6.1 6.12"

# wc_series_kver SERIES: the newest installed version of SERIES that has
# both headers (/usr/src/linux-headers-V) and an image (/boot/vmlinuz-V):
# what the module is built for and booted with. Status 1 (no output) if
# there is none, 2 for a series not in WC_SERIES.
wc_series_kver() {
	local pattern d v best=""
	case "$1" in
	6.1) pattern='6.1.0-*-amd64' ;;
	6.12) pattern='6.12.*+deb12-amd64' ;;
	*) return 2 ;;
	esac
	for d in /usr/src/linux-headers-$pattern; do
		[ -d "$d" ] || continue
		v=${d#/usr/src/linux-headers-}
		[ -e "/boot/vmlinuz-$v" ] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -1)
	done
	[ -n "$best" ] || return 1
	echo "$best"
}

# wc_kernels: one "SERIES VERSION" line per series that has a kernel
# (scripts/kernels.sh).
wc_kernels() {
	local s v
	for s in $WC_SERIES; do
		v=$(wc_series_kver "$s") && echo "$s $v"
	done
	return 0
}

# wc_kver KVER: KVER as a full version: a series (6.1, 6.12) is resolved
# by wc_series_kver (status 1, no output, if none is installed); anything
# else is taken to be a full version already.
wc_kver() {
	case "$1" in
	6.1 | 6.12) wc_series_kver "$1" ;;
	*) echo "$1" ;;
	esac
}

# wc_guest_kernels: installed kernels a guest can boot (an image and a
# module tree), oldest first (vm-run.sh --list-kernels).
wc_guest_kernels() {
	local f v
	for f in /boot/vmlinuz-*; do
		[ -e "$f" ] || continue
		v=${f#/boot/vmlinuz-}
		[ -f "/lib/modules/$v/modules.dep" ] && echo "$v"
	done | sort -V
}

# wc_resolve_kver ARG: a full installed version (it has an image), or the
# newest guest kernel of a series ("6.1" matches 6.1.x / 6.1-..., not 6.12).
wc_resolve_kver() {
	local want=$1 v match=
	if [ -e "/boot/vmlinuz-$want" ]; then
		echo "$want"
		return 0
	fi
	while read -r v; do
		case "$v" in
		"$want".* | "$want"-*) match=$v ;;
		esac
	done < <(wc_guest_kernels)
	[ -n "$match" ] || return 1
	echo "$match"
}

# --- verdicts ---------------------------------------------------------------
# vm-run.sh prints one line per test, "PASS name", "SKIP name (why)" or
# "FAIL name (why)"; powercut.sh, killcut.sh, crash-replay.sh, ... pass
# them on or print their own in the same form.
WC_VERDICT_ERE='^(PASS|FAIL|SKIP) '

# wc_verdicts FILE: the verdict lines in FILE, in order.
wc_verdicts() { grep -E "$WC_VERDICT_ERE" "$1"; }

# wc_verdict NAME FILE: the status (PASS, FAIL or SKIP) of the first
# verdict line for NAME in FILE; status 1 (no output) if there is none.
wc_verdict() {
	awk -v n="$1" '$2 == n && ($1 == "PASS" || $1 == "FAIL" || $1 == "SKIP") { print $1; f = 1; exit }
		END { exit !f }' "$2"
}

# --- the QEMU lock ----------------------------------------------------------
# One guest at a time on this machine: every runner that boots guests on
# its own behalf takes WC_QEMU_LOCK (flock) around each boot. A caller that
# already holds it says so with WC_QEMU_LOCK_HELD=1 in the environment (and
# the runners' --no-lock sets WC_USE_QEMU_LOCK=0), else it would wait for
# itself.
WC_QEMU_LOCK=/tmp/wc-qemu.lock
WC_USE_QEMU_LOCK=1
[ -n "${WC_QEMU_LOCK_HELD:-}" ] && WC_USE_QEMU_LOCK=0

# wc_qemu_run [--stamp FILE] CMD...: run CMD holding the lock (just run it
# if WC_USE_QEMU_LOCK=0); CMD sees WC_QEMU_LOCK_HELD=1. --stamp FILE:
# append the time (date +%s) the lock was taken to FILE.
wc_qemu_run() {
	local stamp=
	if [ "${1:-}" = --stamp ]; then
		stamp=$2
		shift 2
	fi
	if [ "$WC_USE_QEMU_LOCK" != 1 ]; then
		"$@"
		return
	fi
	if [ -z "$stamp" ]; then
		WC_QEMU_LOCK_HELD=1 flock "$WC_QEMU_LOCK" "$@"
		return
	fi
	# shellcheck disable=SC2016
	WC_QEMU_LOCK_HELD=1 flock "$WC_QEMU_LOCK" \
		bash -c 'date +%s >>"$0"; exec "$@"' "$stamp" "$@"
}

# wc_qemu_exec CMD...: the same without a stamp, replacing the shell.
wc_qemu_exec() {
	if [ "$WC_USE_QEMU_LOCK" != 1 ]; then
		exec "$@"
	fi
	export WC_QEMU_LOCK_HELD=1
	exec flock "$WC_QEMU_LOCK" "$@"
}

# --- the kernel log ---------------------------------------------------------
# The kernel log lines that fail a test (and the expected noise), defined
# once for the guest's /init and tests/vm/lib.sh and for vm-run.sh.
# shellcheck source=tests/vm/dmesg-lib.sh
. "$WC_REPO/tests/vm/dmesg-lib.sh"

# --- the core's compile flags -----------------------------------------------
# wc_core_flags GROUP...: the flags of the named groups of src/core/flags.mk
# (WC_CXX_STD, WC_CXX_RUNTIME, ...), on one line. Status 1 if one is missing.
wc_core_flags() {
	local g line all=""
	for g in "$@"; do
		line=$(sed -n "s/^${g}[[:space:]]*:=[[:space:]]*//p" "$WC_REPO/src/core/flags.mk")
		[ -n "$line" ] || {
			echo "$WC_PROG: no $g in $WC_REPO/src/core/flags.mk" >&2
			return 1
		}
		all="$all${all:+ }$line"
	done
	echo "$all"
}
