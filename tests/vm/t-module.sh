#!/bin/sh
# Module life cycle: loads and registers "writecache" v1.6.0 by default,
# rmmod is refused while a table uses it, unloads cleanly, and with
# target_name=writecache_cxx loads beside the stock dm-writecache. The
# read-only counters core_allocations and core_ram_bytes count what live
# tables hold and return to zero when they are removed.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
devno() { cat "/sys/class/block/$(basename "$1")/dev"; }

check "insmod dm-writecache-cxx" load_ours
check "registers target writecache v1.6.0" \
	sh -c 'dmsetup targets | grep -Eq "^writecache +v1\.6\.0$"'
zero_sb "$P"
check "create a pmem table" dm_create wc "$(wc_table p "$O" "$P" 4096 0)"
check_fails "rmmod refused while a table uses the module" rmmod dm_writecache_cxx
check "module still loaded" module_loaded dm_writecache_cxx
PARAMS=/sys/module/dm_writecache_cxx/parameters
zero_sb "$HARNESS_SSD"
check "create an SSD table beside it" dm_create wcs "$(wc_table s "$O" "$HARNESS_SSD" 4096 0)"
# n_blocks is field 5 of the status line.
NB=$(($(dmsetup status wc | cut -d' ' -f5) + $(dmsetup status wcs | cut -d' ' -f5)))
RAM=$(cat $PARAMS/core_ram_bytes)
info "core_ram_bytes $RAM for $NB blocks ($((RAM / NB)) B/block), core_allocations $(cat $PARAMS/core_allocations)"
[ "$RAM" -gt $((NB * 16)) ] && [ "$RAM" -lt $((NB * 48)) ] &&
	pass "core_ram_bytes between 16 and 48 bytes per block" ||
	fail "core_ram_bytes between 16 and 48 bytes per block" "$RAM for $NB blocks"
[ "$(cat $PARAMS/core_allocations)" -gt 0 ] && pass "core_allocations counts the live tables" ||
	fail "core_allocations counts the live tables"
check "remove the SSD table" dm_remove wcs
check "remove the table" dm_remove wc
check_eq "core_ram_bytes back to 0" 0 "$(cat $PARAMS/core_ram_bytes)"
check_eq "core_allocations back to 0" 0 "$(cat $PARAMS/core_allocations)"
check "rmmod once unused" rmmod dm_writecache_cxx
check_fails "module gone" module_loaded dm_writecache_cxx

check "load stock dm-writecache" load_stock
dmesg_allow "target already registered"
check_fails "ours cannot take the name the stock module holds" load_ours
check "ours loads as writecache_cxx beside stock" load_ours target_name=writecache_cxx
check "both targets listed" sh -c \
	'dmsetup targets | grep -Eq "^writecache_cxx +v1\.6\.0$" && dmsetup targets | grep -Eq "^writecache +v1\.6\.0$"'
zero_sb "$P"
check "a writecache_cxx table works beside stock" dm_create wcx \
	"0 $(dev_sectors "$O") writecache_cxx p $O $P 4096 0"
check_eq "its table line" "0 $(dev_sectors "$O") writecache_cxx p $(devno "$O") $(devno "$P") 4096 0" \
	"$(dmsetup table wcx)"
check "remove" dm_remove wcx
check "rmmod ours" rmmod dm_writecache_cxx
check "rmmod stock" rmmod dm_writecache
check_fails "empty target_name is refused" load_ours target_name=
finish
