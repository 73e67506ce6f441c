#!/bin/bash
# crash-replay.sh: build the crash-replay tools and run the SSD-mode
# dm-log-writes replay test (tests/vm/t-ssd-crash-replay.sh) in a guest.
#
#   scripts/crash-replay.sh [--kver 6.12] [--wc stock|ours] [--ko KO]
#                           [--append WORDS] [vm-run options...]
# --wc stock tests the distribution's dm-writecache; ours (the default when
# --ko is given) tests KO.  Other options go to vm-run.sh as they are.
# Takes /tmp/wc-qemu.lock, so that only one guest runs at a time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
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
case "$WC" in stock | ours) ;; *) echo "crash-replay: --wc must be stock or ours" >&2; exit 2 ;; esac
[ "$WC" = stock ] || [ -n "$KO" ] || { echo "crash-replay: --wc ours needs --ko" >&2; exit 2; }

TOOLS=$REPO/build/tools
make -s -C "$REPO/tests/crash-replay" OUT="$TOOLS" >/dev/null
EXTRA=()
for t in wc-logreplay wc-crashload wc-crashcheck; do EXTRA+=(--extra "$TOOLS/$t"); done
[ -n "$KO" ] && ARGS+=(--ko "$KO")

exec flock /tmp/wc-qemu.lock "$REPO/scripts/vm-run.sh" --kver "$KVER" --timeout 600 \
	"${EXTRA[@]}" --append "harness.wc=$WC" "${ARGS[@]}" "$REPO/tests/vm/t-ssd-crash-replay.sh"
