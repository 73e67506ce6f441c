#!/bin/sh
# Table-line grammar, differential against the stock module in one boot.
# Covers: every optional argument and its bounds, duplicates, word counts,
# the mode letter, block size rules, device lookup failures, the pmem DAX
# check, and for each line the outcome: accepted (then the TABLE and INFO
# status right after creation) or rejected (then the ctr error text and
# errno from dmesg). The same list runs against the stock dm-writecache
# and against ours; every outcome must be identical, and must also match
# the expectation written beside the line.
# I/O through the cache is covered by the t-pmem-* and t-ssd-* tests.
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
OSZ=$(dev_sectors "$O")
SSZ=$(dev_sectors "$S")

# expectation|mode-and-args (words after "writecache")
cat >/tmp/cases <<CASES
ok|s $O $S 4096 0
ok|p $O $P 4096 0
ok|S $O $S 512 0
ok|P $O $P 512 0
Bad arguments|x $O $S 4096 0
Bad arguments|s $O
Bad arguments|s $O $S
Invalid number of feature args|s $O $S 4096
Origin data device lookup failed|s /dev/nonexistent $S 4096 0
Cache data device lookup failed|s $O /dev/nonexistent 4096 0
Invalid block size|s $O $S 1000 0
Invalid block size|s $O $S 8192 0
Invalid block size|s $O $S 256 0
Invalid block size|s $O $S 4k 0
Invalid number of feature args|s $O $S 4096 19
Invalid number of feature args|s $O $S 4096 2 cleaner
Invalid number of feature args|s $O $S 4096 x
Invalid optional argument|s $O $S 4096 1 start_sector
Invalid optional argument|s $O $S 4096 1 bogus
Invalid optional argument|s $O $S 4096 1 fua
Invalid optional argument|s $O $S 4096 1 nofua
Invalid optional argument|p $O $P 4096 2 pause_writeback 10
Invalid optional argument|s $O $S 4096 2 start_sector $SSZ
Invalid optional argument|s $O $S 4096 2 high_watermark 101
Invalid optional argument|s $O $S 4096 2 low_watermark -1
Invalid optional argument|s $O $S 4096 2 autocommit_time 3600001
Invalid optional argument|s $O $S 4096 2 max_age 86400001
Invalid optional argument|s $O $S 4096 2 pause_writeback 60001
Invalid optional argument|s $O $S 4096 2 writeback_jobs 12x
High watermark must be greater than or equal to low watermark|s $O $S 4096 2 high_watermark 10
ok|s $O $S 4096 18 pause_writeback 12 metadata_only cleaner max_age 11 autocommit_time 10 autocommit_blocks 9 writeback_jobs 7 low_watermark 40 high_watermark 60 start_sector 8
ok|p $O $P 4096 7 nofua cleaner fua cleaner nofua high_watermark 70
ok|p $O $P 4096 4 start_sector 2048 FUA Metadata_Only
ok|s $O $S 4096 4 high_watermark 0 low_watermark 0
ok|s $O $S 4096 1 cleaner trailing words ignored
CASES

# run_case ARGS: print "ok <table> | <info>" or "err <dmesg error text>"
# Zero every superblock location the cases use (start_sector 0, 8, 2048):
# the stock module formats accepted caches, and a stale format would turn
# the next case into "Invalid magic".
wipe() {
	for _d in "$P" "$S"; do
		for _off in 0 1 256; do
			dd if=/dev/zero of="$_d" bs=4096 seek=$_off count=1 \
				oflag=direct conv=notrunc 2>/dev/null
		done
	done
}

run_case() {
	wipe
	_before=$(dmesg | wc -l)
	if dmsetup create wcg --table "0 $OSZ $TARGET $1" >/dev/null 2>&1; then
		_t=$(dmsetup table wcg | cut -d' ' -f3-)
		_s=$(dmsetup status wcg | cut -d' ' -f3-)
		dmsetup remove wcg
		echo "ok $_t | $_s"
	else
		_e=$(dmesg | tail -n +$((_before + 1)) |
			sed -n "s/.*: $TARGET: \(.*\)$/\1/p" | tail -n 1)
		echo "err ${_e:-<no dmesg line>}"
	fi
}

run_all() { # OUTFILE
	: >"$1"
	while IFS='|' read -r _exp _args; do
		echo "$(run_case "$_args")" >>"$1"
	done </tmp/cases
}

TARGET=writecache
check "load stock dm-writecache" load_stock
run_all /tmp/stock.out
check "unload stock" rmmod dm_writecache
check "load ours as writecache" load_ours
run_all /tmp/ours.out
check "unload ours" rmmod dm_writecache_cxx

i=0
while IFS='|' read -r _exp _args; do
	i=$((i + 1))
	_st=$(sed -n "${i}p" /tmp/stock.out)
	_our=$(sed -n "${i}p" /tmp/ours.out)
	case "$_exp" in
	ok) _want="ok " ;;
	*) _want="err $_exp (" ;;
	esac
	case "$_our" in
	"$_want"*) pass "expected outcome: $_args => $_our" ;;
	*) fail "expected outcome: $_args" "want '$_want...', got '$_our'" ;;
	esac
	check_eq "same as stock: $_args" "$_st" "$_our"
done </tmp/cases

# 6.1's stock module oopses on a non-DAX 'p' cache (fixed in 6.12), so this
# case runs against ours only.
check "load ours again" load_ours
_r=$(run_case "p $O $S 4096 0")
check_eq "non-DAX cache in p mode is refused" \
	"err Cache device is not a DAX device (-EOPNOTSUPP)" "$_r"
check "unload ours" rmmod dm_writecache_cxx
finish
