#!/bin/sh
# Module life cycle: loads and registers "writecache" v1.6.0 by default,
# rmmod is refused while a table uses it, unloads cleanly, and with
# target_name=writecache_cxx loads beside the stock dm-writecache.
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
check "remove the table" dm_remove wc
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
