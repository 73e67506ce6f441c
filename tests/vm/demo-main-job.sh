#!/bin/sh
# The README's main job, inside the guest: load dm-writecache-cxx, create a
# writecache on emulated pmem (QEMU nvdimm, fsdax), write and read data
# through it, print `dmsetup status` and `dmsetup table`, remove it.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
check "insmod dm-writecache-cxx" load_ours
info "pmem: $P ($(dev_bytes "$P") bytes), origin: $O ($(dev_bytes "$O") bytes)"
zero_sb "$P"
TABLE="0 $(dev_sectors "$O") writecache p $O $P 4096 0"
info "dmsetup create wc --table \"$TABLE\""
check "create the writecache" dm_create wc "$TABLE"
dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null
check "write 8 MiB through /dev/mapper/wc" \
	dd if=/tmp/data of=/dev/mapper/wc bs=1M seek=4 oflag=direct conv=fsync
check "read it back" \
	dd if=/dev/mapper/wc of=/tmp/back bs=1M skip=4 count=8 iflag=direct
check "data read back is what was written" cmp /tmp/data /tmp/back
echo "---- dmsetup status wc"
dmsetup status wc
echo "---- dmsetup table wc"
dmsetup table wc
echo "----"
check "remove the writecache" dm_remove wc
check "rmmod dm-writecache-cxx" rmmod dm_writecache_cxx
finish
