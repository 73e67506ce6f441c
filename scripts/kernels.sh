#!/bin/bash
# Print the installed Debian kernel versions this project builds for, one
# per line as "<series> <version>": the newest 6.1 (linux-headers-amd64)
# and the newest 6.12 backport (6.12.*+deb12-amd64). Only versions with
# both headers (/usr/src/linux-headers-V) and an image (/boot/vmlinuz-V)
# are listed. Never hard-code a version: Debian's ABI number moves.
#   scripts/kernels.sh          -> all series
#   scripts/kernels.sh 6.1      -> just the version for that series
# (The logic is wc_series_kver / wc_kernels in scripts/lib.sh, which the
# host scripts call directly.)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
6.1 | 6.12) wc_series_kver "$1" || true ;;
"") wc_kernels ;;
*) echo "usage: $0 [6.1|6.12]" >&2; exit 2 ;;
esac
exit 0
