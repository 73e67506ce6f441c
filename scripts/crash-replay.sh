#!/bin/bash
# crash-replay.sh: build the crash-replay tools and run the SSD-mode
# dm-log-writes replay test (tests/vm/t-ssd-crash-replay.sh) in a guest.
#
#   scripts/crash-replay.sh [--kver 6.12] [--wc stock|ours] [--ko KO]
#                           [--append WORDS] [vm-run options...]
# --wc stock tests the distribution's dm-writecache; ours (the default when
# --ko is given) tests KO.  Other options go to vm-run.sh as they are.
# Takes /tmp/wc-qemu.lock, so that only one guest runs at a time (not with
# WC_QEMU_LOCK_HELD=1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# die, the QEMU lock.
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
WC_DIE_TAG= # "crash-replay: MESSAGE"
KVER=6.12
WC=
KO=
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) KVER=${2:?}; shift 2 ;;
	--wc) WC=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) ARGS+=("$1"); shift ;;
	esac
done
[ -n "$WC" ] || { [ -n "$KO" ] && WC=ours || WC=stock; }
case "$WC" in stock | ours) ;; *) die "--wc must be stock or ours" ;; esac
[ "$WC" = stock ] || [ -n "$KO" ] || die "--wc ours needs --ko"

TOOLS=$REPO/build/tools
make -s -C "$REPO/tests/crash-replay" OUT="$TOOLS" >/dev/null
EXTRA=()
for t in wc-logreplay wc-crashload wc-crashcheck; do EXTRA+=(--extra "$TOOLS/$t"); done
[ -n "$KO" ] && ARGS+=(--ko "$KO")

wc_qemu_exec "$REPO/scripts/vm-run.sh" --kver "$KVER" --timeout 600 \
	"${EXTRA[@]}" --append "harness.wc=$WC" "${ARGS[@]}" "$REPO/tests/vm/t-ssd-crash-replay.sh"
