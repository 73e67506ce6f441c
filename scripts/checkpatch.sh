#!/bin/bash
# Run the kernel's checkpatch.pl (from Debian's linux-source-6.12) over the
# C shims and the C ABI header. Fails on any error or warning.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/checkpatch
tarball=$(ls /usr/src/linux-source-6.12*.tar.xz 2>/dev/null | sort -V | tail -1 || true)
if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	[ -n "$tarball" ] || { echo "checkpatch: linux-source-6.12 not installed (make deps)" >&2; exit 1; }
	mkdir -p "$dir"
	tar -C "$dir" --strip-components=1 -xf "$tarball" --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
fi
cd "$top"
"$dir/scripts/checkpatch.pl" --no-tree --terse --show-types \
	-f src/kernel/*.c include/wc_abi.h
