#!/bin/bash
# Print the installed Debian kernel versions this project builds for, one
# per line as "<series> <version>": the newest 6.1 (linux-headers-amd64)
# and the newest 6.12 backport (6.12.*+deb12-amd64). Only versions with
# both headers (/usr/src/linux-headers-V) and an image (/boot/vmlinuz-V)
# are listed. Never hard-code a version: Debian's ABI number moves.
#   scripts/kernels.sh          -> all series
#   scripts/kernels.sh 6.1      -> just the version for that series
set -euo pipefail

newest() {
	local pattern=$1 v best=""
	for d in /usr/src/linux-headers-$pattern; do
		[ -d "$d" ] || continue
		v=${d#/usr/src/linux-headers-}
		[ -e "/boot/vmlinuz-$v" ] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -1)
	done
	echo "$best"
}

v61=$(newest '6.1.0-*-amd64')
v612=$(newest '6.12.*+deb12-amd64')

case "${1:-}" in
6.1) [ -n "$v61" ] && echo "$v61" ;;
6.12) [ -n "$v612" ] && echo "$v612" ;;
"")
	[ -n "$v61" ] && echo "6.1 $v61"
	[ -n "$v612" ] && echo "6.12 $v612"
	;;
*) echo "usage: $0 [6.1|6.12]" >&2; exit 2 ;;
esac
exit 0
