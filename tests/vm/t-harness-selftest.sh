#!/bin/sh
# Proves the VM harness itself: devices, pmem with DAX, the stock
# dm-writecache in pmem mode with a short fio verify.
# shellcheck source=tests/vm/lib.sh
. /tests/lib.sh

info "kernel $HARNESS_KVER, pmem mode $HARNESS_PMEM_MODE, $(nproc) cpu(s), $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM"

# --- disks ---
check "origin $HARNESS_ORIGIN is a block device" test -b "$HARNESS_ORIGIN"
check "ssd cache $HARNESS_SSD is a block device" test -b "$HARNESS_SSD"
[ -n "$HARNESS_ORIGIN_BYTES" ] &&
	check_eq "origin size in bytes" "$HARNESS_ORIGIN_BYTES" "$(dev_bytes "$HARNESS_ORIGIN")"
[ -n "$HARNESS_SSD_BYTES" ] &&
	check_eq "ssd cache size in bytes" "$HARNESS_SSD_BYTES" "$(dev_bytes "$HARNESS_SSD")"

# --- pmem ---
check "pmem $HARNESS_PMEM is a block device" test -b "$HARNESS_PMEM"
check "pmem0 is DAX-capable (/sys/block/pmem0/dax)" test -d /sys/block/pmem0/dax
NS=$(ndctl list -N 2>/dev/null | tr -d ' \n')
info "ndctl list -N: $NS"
check "ndctl shows an fsdax namespace" sh -c "ndctl list -N | grep -q '\"mode\":\"fsdax\"'"
PMEM_BYTES=$(dev_bytes "$HARNESS_PMEM" 2>/dev/null || echo 0)
check "pmem size >= 200 MiB ($PMEM_BYTES bytes)" test "$PMEM_BYTES" -ge 209715200

# --- tools and modules ---
check "dm-mod is loaded" module_loaded dm_mod
check "stock dm_writecache is not loaded at boot" sh -c '! grep -q "^dm_writecache " /proc/modules'
check "modprobe dm-writecache (stock)" load_stock
check "dm_writecache is loaded" module_loaded dm_writecache
check "writecache target registered" sh -c 'dmsetup targets | grep -q "^writecache"'

# --- stock writecache, pmem mode ---
check "zero the cache superblock on $HARNESS_PMEM" zero_sb "$HARNESS_PMEM"
TABLE=$(wc_table p "$HARNESS_ORIGIN" "$HARNESS_PMEM" 4096 0)
info "table: $TABLE"
if check "dmsetup create wc (pmem mode)" dm_create wc "$TABLE"; then
	check "/dev/mapper/wc exists" test -b /dev/mapper/wc
	check_eq "wc size equals origin size" "$(dev_sectors "$HARNESS_ORIGIN")" "$(dev_sectors /dev/mapper/wc)"
	info "status: $(dmsetup status wc)"
	check "fio 16M randwrite + crc32c verify through wc" fio_verify /dev/mapper/wc 16M
	info "status: $(dmsetup status wc)"
	check "dmsetup message wc 0 flush" dmsetup message wc 0 flush
	check "dmsetup remove wc" dm_remove wc
fi
# --- stock writecache, ssd mode (small: virtio-blk is slow under TCG) ---
check "zero the cache superblock on $HARNESS_SSD" zero_sb "$HARNESS_SSD"
if check "dmsetup create wcs (ssd mode)" dm_create wcs "$(wc_table s "$HARNESS_ORIGIN" "$HARNESS_SSD" 4096 0)"; then
	check "fio 4M randwrite + crc32c verify through wcs" fio_verify /dev/mapper/wcs 4M
	check "dmsetup message wcs 0 flush" dmsetup message wcs 0 flush
	check "dmsetup remove wcs" dm_remove wcs
fi
check "rmmod dm_writecache" rmmod dm_writecache
check "no writecache module left" sh -c '! grep -q "^dm_writecache" /proc/modules'
check "kernel log clean so far" dmesg_bad

finish
