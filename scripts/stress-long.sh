#!/bin/bash
# stress-long.sh: build wc-stress (tests/stress) and run the guest stress
# test tests/vm/t-stress.sh for a long time.
#
#   scripts/stress-long.sh [--seconds N] [--kver K] [--provider ours|stock]
#                          [--ko KO] [--seed N] [--modes p,s] [--smp N]
#                          [--append WORDS] [vm-run options...]
# --seconds: per mode (pmem, then SSD; default 600).  --kver: a series or
# full version (default 6.12).  --provider ours (default) needs the module:
# --ko, else build/kbuild/<full kver>/dm-writecache-cxx.ko, built with
# scripts/kbuild.sh if missing.  --smp defaults to 2 (races between CPUs).
# Other options go to vm-run.sh as they are.  Takes /tmp/wc-qemu.lock, so
# that only one guest runs at a time (not with WC_QEMU_LOCK_HELD=1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# wc_kver, wc_is_uint, the QEMU lock.
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
WC_DIE_TAG= # "stress-long: MESSAGE"
SECONDS_PER_MODE=600
KVER=6.12
PROVIDER=ours
KO=
SEED=
MODES=
SMP=2
APPEND=()
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_PER_MODE=${2:?}; shift 2 ;;
	--kver) KVER=${2:?}; shift 2 ;;
	--provider) PROVIDER=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	--seed) SEED=${2:?}; shift 2 ;;
	--modes) MODES=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--append) APPEND+=("${2:?}"); shift 2 ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	*) ARGS+=("$1"); shift ;;
	esac
done
wc_is_uint "$SECONDS_PER_MODE" || die "--seconds takes a number"
case "$PROVIDER" in ours | stock) ;; *) die "--provider must be ours or stock" ;; esac

# A series (6.1, 6.12) means the newest installed kernel of it.
FULL=$(wc_kver "$KVER") || die "no $KVER kernel installed (scripts/kernels.sh)"

make -s -C "$REPO/tests/stress" OUT=build/tools
if [ "$PROVIDER" = ours ]; then
	if [ -z "$KO" ]; then
		KO=$REPO/build/kbuild/$FULL/dm-writecache-cxx.ko
		[ -f "$KO" ] || "$HERE/kbuild.sh" "$FULL" >/dev/null
	fi
	ARGS+=(--ko "$KO")
fi

NMODES=2
[ -n "$MODES" ] && NMODES=$(echo "$MODES" | tr ',' '\n' | grep -c .)
# Boot, zeroing and the final flushes take a few minutes at most.
TIMEOUT=$((SECONDS_PER_MODE * NMODES + 400))
WORDS="harness.wc=$PROVIDER harness.stress_seconds=$SECONDS_PER_MODE"
[ -n "$SEED" ] && WORDS="$WORDS harness.stress_seed=$SEED"
[ -n "$MODES" ] && WORDS="$WORDS harness.stress_modes=$MODES"
for w in "${APPEND[@]}"; do WORDS="$WORDS $w"; done

echo "stress-long: $FULL, provider $PROVIDER, $SECONDS_PER_MODE s per mode, smp $SMP, timeout $TIMEOUT s"
wc_qemu_exec "$HERE/vm-run.sh" --kver "$FULL" --smp "$SMP" --timeout "$TIMEOUT" \
	--extra "$REPO/build/tools/wc-stress" --append "$WORDS" "${ARGS[@]}" "$REPO/tests/vm/t-stress.sh"
