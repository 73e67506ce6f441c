#!/bin/bash
# The main job: install what is missing, build the module for the newest
# installed Debian 6.1 kernel, boot it in a QEMU guest with emulated pmem
# (nvdimm, fsdax), create a writecache on pmem, write and read data
# through it and print `dmsetup status` and `dmsetup table`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
if [ "$(id -u)" = 0 ]; then
	scripts/install-deps.sh
fi
kv=$(wc_series_kver 6.1) || { echo "demo: no Debian 6.1 kernel+headers installed (run as root)" >&2; exit 1; }
scripts/kbuild.sh "$kv" | tail -n 1
log=build/demo.log
rc=0
scripts/vm-run.sh --kver "$kv" --ko "build/kbuild/$kv/dm-writecache-cxx.ko" \
	--pmem nvdimm --log "$log" tests/vm/demo-main-job.sh >build/demo.out 2>&1 || rc=$?
# Show what the guest printed for the job itself.
sed -n '/===TEST-BEGIN demo-main-job.sh===/,/===TEST-END/p' "$log" | grep -v '^\[ *[0-9.]*\]'
tail -n 2 build/demo.out
exit $rc
