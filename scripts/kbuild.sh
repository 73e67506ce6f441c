#!/bin/bash
# Build dm-writecache-cxx.ko for one kernel in an out-of-tree copy
# (build/kbuild/<kver>/), so builds for several kernels never clobber each
# other. Fails if the build prints any compiler, objtool or modpost warning,
# or if the module imports a C++ runtime symbol.
#   scripts/kbuild.sh <kver>       -> build/kbuild/<kver>/dm-writecache-cxx.ko
#   scripts/kbuild.sh --canary <kver>
#                                  -> build/kbuild-canary/<kver>/...: the SSD
#                                     commit order deliberately broken, for
#                                     the crash-replay canary; never shipped
set -euo pipefail

variant=kbuild
defines=
if [ "${1:-}" = --canary ]; then
	variant=kbuild-canary
	defines=-DWC_TEST_BROKEN_COMMIT_ORDER
	shift
fi
kver=${1:?usage: kbuild.sh [--canary] <kernel version>}
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=/usr/src/linux-headers-$kver
out=$top/build/$variant/$kver
log=$out/build.log

[ -d "$kdir" ] || { echo "kbuild: no headers at $kdir" >&2; exit 1; }
mkdir -p "$out"
# Copy the sources (not the outputs) so Kbuild sees a tree of its own.
rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
	--exclude '*.mod*' --exclude 'build.log' --exclude 'Module.symvers' \
	--exclude 'modules.order' --exclude '.cache.mk' \
	"$top/Kbuild" "$top/src" "$top/include" "$out/" 2>/dev/null ||
	cp -a "$top/Kbuild" "$top/src" "$top/include" "$out/"

# Force a full rebuild so every warning is seen on every run.
find "$out" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -delete
rc=0
make -C "$kdir" M="$out" WC_TEST_DEFINES="$defines" modules >"$log" 2>&1 || rc=$?
cat "$log"
if [ $rc -ne 0 ]; then
	echo "kbuild[$kver]: FAILED (make rc=$rc)" >&2
	exit 1
fi
if grep -nE 'warning:|objtool:|WARNING:|[Ee]rror:|undefined!' "$log" >&2; then
	echo "kbuild[$kver]: FAILED (warnings above)" >&2
	exit 1
fi
ko=$out/dm-writecache-cxx.ko
# Every import must be a kernel export; a mangled C++ name or a __cxa_/
# libgcc symbol would mean the runtime leaked in.
if nm -u "$ko" | grep -E ' (_Z|__cxa_|__gxx_|_Unwind_|__atomic_)'; then
	echo "kbuild[$kver]: FAILED (C++ runtime symbols imported)" >&2
	exit 1
fi
echo "kbuild[$kver]: OK $ko"
