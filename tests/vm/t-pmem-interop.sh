#!/bin/sh
# Interop with the stock dm-writecache in one boot, both directions, on
# the same pmem and origin: stock formats and fills a cache and is removed
# with dirty blocks (no flush); ours loads that cache and reads the data;
# then ours writes more, is removed dirty, and stock reads both sets,
# writes them back, and the bare origin holds everything.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
TABLE=$(wc_table p "$O" "$P" 4096 0)
# Two regions, each written by one module (fixed seeds: fio replays the
# same offsets and patterns for --verify_only).
A="--offset=0 --randseed=11"
B="--offset=64M --randseed=22"
status_free() { set -- $(dmsetup status wc); echo "$6"; }

# Earlier tests in the same boot may have left fio data at these offsets,
# and fio's verify accepts any block it wrote there: start from zeros.
check "zero both regions on the origin" sh -c \
	"dd if=/dev/zero of=$O bs=1M count=16 oflag=direct conv=fsync 2>/dev/null &&
	 dd if=/dev/zero of=$O bs=1M seek=64 count=16 oflag=direct conv=fsync 2>/dev/null"
zero_sb "$P"
check "stock: load" load_stock
check "stock: create a pmem cache" dm_create wc "$TABLE"
check "stock: write region A (no flush)" fio_verify /dev/mapper/wc 16M $A --do_verify=0
FREE_A=$(status_free)
info "stock: $FREE_A blocks free after region A"
check "stock: remove with dirty blocks" dm_remove wc
check "stock: unload" rmmod dm_writecache
check_fails "region A is not on the bare origin yet" fio_verify "$O" 16M $A --verify_only

check "ours: load" load_ours
check "ours: create on the stock-formatted cache" dm_create wc "$TABLE"
check_eq "ours: same blocks in use as stock left" "$FREE_A" "$(status_free)"
check "ours: region A reads back through the cache" fio_verify /dev/mapper/wc 16M $A --verify_only
check "ours: write region B (no flush)" fio_verify /dev/mapper/wc 16M $B --do_verify=0
FREE_B=$(status_free)
check "ours: remove with dirty blocks" dm_remove wc
check "ours: unload" rmmod dm_writecache_cxx
check_fails "region B is not on the bare origin yet" fio_verify "$O" 16M $B --verify_only

check "stock: load again" load_stock
check "stock: create on ours' cache" dm_create wc "$TABLE"
check_eq "stock: same blocks in use as ours left" "$FREE_B" "$(status_free)"
check "stock: region A reads back" fio_verify /dev/mapper/wc 16M $A --verify_only
check "stock: region B reads back" fio_verify /dev/mapper/wc 16M $B --verify_only
check "stock: flush message" dmsetup message wc 0 flush
set -- $(dmsetup status wc)
check_eq "stock: every block free after flush" "$5" "$6"
check "stock: remove" dm_remove wc
check "stock: unload" rmmod dm_writecache
check "bare origin: region A" fio_verify "$O" 16M $A --verify_only
check "bare origin: region B" fio_verify "$O" 16M $B --verify_only
finish
