#!/bin/sh
# Smoke test: a table on pmem (mode p) and one on the virtio SSD (mode s),
# both real caches with the same expectations: fio --verify through each,
# status and table lines, writes allocate cache blocks (none go around),
# the data is held in the cache (blocks in use, the origin still reads
# zeros) until the flush message writes everything back and frees every
# block, then remove and verify the data on the bare origin.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
OSZ=$(dev_sectors "$O")
ZMD5=$(dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum | cut -d' ' -f1)
# origin_md5: md5 of the origin's first 32 MiB, read from the device (its
# page cache dropped first)
origin_md5() {
	blockdev --flushbufs "$O" && dd if="$O" bs=1M count=32 2>/dev/null | md5sum | cut -d' ' -f1
}
check "insmod dm-writecache-cxx" load_ours

smoke() { # NAME MODE CACHE
	_name=$1 _mode=$2 _cache=$3
	zero_sb "$_cache"
	# Start from zeros: fio's verify accepts any block it wrote at an
	# offset, so data an earlier test left there could fake a pass.
	check "$_name: zero the origin's first 32 MiB" \
		dd if=/dev/zero of="$O" bs=1M count=32 oflag=direct conv=fsync
	check "$_name: create" dm_create "$_name" "0 $OSZ writecache $_mode $O $_cache 4096 0" || return
	info "$_name: table:  $(dmsetup table "$_name")"
	check_eq "$_name: table line" "$_mode $(cat /sys/block/$(basename "$O")/dev) $(cat /sys/block/$(basename "$_cache")/dev) 4096 0" \
		"$(dmsetup table "$_name" | cut -d' ' -f4-)"
	check "$_name: fio randwrite+verify 16M" fio_verify /dev/mapper/$_name 16M
	check "$_name: fio 2 jobs randrw+verify" fio_verify /dev/mapper/$_name 8M \
		--rw=randrw --numjobs=2 --offset=16M --offset_increment=8M
	_st=$(dmsetup status "$_name")
	info "$_name: status: $_st"
	set -- $_st
	check_eq "$_name: status has 14 INFO fields" 17 $#
	check_eq "$_name: error field" 0 "$4"
	# after "writecache": error n_blocks free wb reads read_hits writes
	# wh_uncommitted wh_committed writes_around writes_allocate ...
	[ "${10}" -gt 0 ] && pass "$_name: writes counted (${10})" || fail "$_name: writes counted" "${10}"
	[ "${14}" -gt 0 ] && pass "$_name: writes allocate cache blocks (${14})" ||
		fail "$_name: writes allocate cache blocks" "${14}"
	check_eq "$_name: no write went around (writes_around)" 0 "${13}"
	[ "$6" -lt "$5" ] && pass "$_name: blocks in use before flush ($6 free of $5)" ||
		fail "$_name: blocks in use before flush" "$6 free of $5"
	check_eq "$_name: nothing written back before flush (writeback)" 0 "$7"
	check_eq "$_name: the data is in the cache only (the origin still reads zeros)" \
		"$ZMD5" "$(origin_md5)"
	check "$_name: flush message" dmsetup message "$_name" 0 flush
	set -- $(dmsetup status "$_name")
	check_eq "$_name: after flush every block is free" "$5" "$6"
	check_eq "$_name: after flush nothing under writeback" 0 "$7"
	check "$_name: remove" dm_remove "$_name"
	check "$_name: data verified on the bare origin" fio_verify "$O" 16M --verify_only
	check "$_name: 2-job data verified on the bare origin" fio_verify "$O" 8M \
		--rw=randrw --numjobs=2 --offset=16M --offset_increment=8M --verify_only
}

smoke wcp p "$HARNESS_PMEM"
smoke wcs s "$HARNESS_SSD"
check "rmmod" rmmod dm_writecache_cxx
finish
