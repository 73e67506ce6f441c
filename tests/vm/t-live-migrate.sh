#!/bin/sh
# Live migration between the stock module and ours without unmounting or
# removing the device (the procedure in docs/dm-writecache-cxx.7): stock
# holds "writecache", ours is loaded as "writecache_cxx"; the suspended
# device's table is replaced by the same line with the other target name
# and resumed. Dirty blocks survive each swap (status shows them cached;
# data verifies), in both directions and both modes, with xfs mounted
# on top the whole time.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
OSECT=655360	# 320 MiB origin slice (xfs needs 300)
MNT=/mnt/lm
mkdir -p $MNT

check "load stock" load_stock
check "load ours beside it" load_ours target_name=writecache_cxx
check "origin slice" dm_create odev "0 $OSECT linear $O 0"

# swap NAME TARGET: replace the suspended table's target name. USED: the
# blocks in use once suspended (the suspend committed, which frees the
# versions that newer writes superseded).
swap() {
	_t=$(dmsetup table "$1" | sed "s/ writecache[_a-z]* / $2 /") || return
	dmsetup suspend "$1" || return
	USED=$(used "$1")
	dmsetup load "$1" --table "$_t" && dmsetup resume "$1"
}
used() { dmsetup status "$1" | awk '{ print $5 - $6 }'; }

migrate() { # MODE CACHE
	zero_sb "$2"
	check "$1: zero the origin slice" dd if=/dev/zero of=/dev/mapper/odev bs=1M count=16 oflag=direct
	check "$1: stock table" dm_create lm "0 $OSECT writecache $1 /dev/mapper/odev $2 4096 0" || return
	check "$1: mkfs.xfs" mkfs.xfs -q -f /dev/mapper/lm
	check "$1: mount" mount /dev/mapper/lm $MNT
	check "$1: files" sh -c "dd if=/dev/urandom of=$MNT/a bs=64k count=64 && sync && md5sum $MNT/a > /tmp/lm.md5"
	check "$1: swap to ours, mounted" swap lm writecache_cxx
	[ "$USED" -gt 0 ] && pass "$1: dirty blocks under stock ($USED)" || fail "$1: dirty blocks under stock"
	check "$1: now ours" sh -c "dmsetup table lm | grep -q ' writecache_cxx '"
	check_eq "$1: the dirty blocks came along" "$USED" "$(used lm)"
	check "$1: data verifies under ours" sh -c "echo 3 > /proc/sys/vm/drop_caches; md5sum -c /tmp/lm.md5"
	check "$1: more files under ours" sh -c "dd if=/dev/urandom of=$MNT/b bs=64k count=32 && sync && md5sum $MNT/a $MNT/b > /tmp/lm.md5"
	check "$1: swap back to stock" swap lm writecache
	check_eq "$1: the dirty blocks came back" "$USED" "$(used lm)"
	check "$1: data verifies under stock" sh -c "echo 3 > /proc/sys/vm/drop_caches; md5sum -c /tmp/lm.md5"
	check "$1: umount" umount $MNT
	check "$1: xfs_repair -n" xfs_repair -n /dev/mapper/lm
	check "$1: remove" dm_remove lm
}

migrate s "$HARNESS_SSD"
[ -n "$HARNESS_PMEM" ] && migrate p "$HARNESS_PMEM"
check "remove the origin slice" dm_remove odev
check "rmmod ours" rmmod dm_writecache_cxx
check "rmmod stock" rmmod dm_writecache
finish
