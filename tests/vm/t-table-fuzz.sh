#!/bin/sh
# Table-line fuzzer, differential against the stock module in one boot.
# A seeded generator (awk) writes random and mutated writecache lines: mode
# letters, devices, block sizes, #opt counts right and wrong, every optional
# argument with boundary, overflowing and malformed values, duplicates,
# case changes, unknown words and trailing junk. Each line is created with
# the stock dm-writecache and then with ours (as "writecache", one module at
# a time); the outcome must be identical: accepted (then the TABLE and INFO
# lines, and the table is removed) or rejected with the same ctr error text
# in the kernel log. Afterwards ours must hold no allocation and no RAM
# (core_allocations, core_ram_bytes). The harness fails the test on any
# oops, warning or hang.
#   harness.fuzz_lines=N (default 500), harness.fuzz_seed=S (default 1)
. /tests/lib.sh
require_ko

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
OSZ=$(dev_sectors "$O")
LINES=$(harness_arg fuzz_lines 500)
SEED=$(harness_arg fuzz_seed 1)
info "$LINES lines, seed $SEED"

# gen: "W|words" per line; W=1 wipes the superblock locations first.
awk -v n="$LINES" -v seed="$SEED" -v O="$O" -v P="$P" -v S="$S" '
function pick(list,   a, k) { k = split(list, a, " "); return a[int(rand() * k) + 1] }
function chance(p) { return rand() < p }
function value(   v) {
	if (chance(0.5)) return pick("0 1 2 8 40 50 60 100 2048 65536 1000 3600000 86400000 60000")
	v = pick("101 -1 4294967295 4294967296 18446744073709551615 18446744073709551616 0x10 010 +5 1e3 abc 5x 3600001 86400001 60001 99999999999999999999 0 007")
	return v
}
function mutate_case(w) {
	if (chance(0.1)) return toupper(w)
	if (chance(0.05)) return toupper(substr(w, 1, 1)) substr(w, 2)
	return w
}
BEGIN {
	srand(seed)
	split("start_sector high_watermark low_watermark writeback_jobs autocommit_blocks autocommit_time max_age pause_writeback", valued, " ")
	split("cleaner fua nofua metadata_only", flags, " ")
	for (i = 0; i < n; i++) {
		mode = chance(0.9) ? pick("s s p p S P") : pick("x ps - 0 sp")
		cache = (mode == "p" || mode == "P") ? P : S
		if (chance(0.03)) cache = "/dev/nonexistent"
		origin = chance(0.97) ? O : pick("/dev/nonexistent /dev/null")
		bs = chance(0.85) ? pick("512 1024 2048 4096 4096 4096") : pick("0 256 3000 8192 4k -4096 04096 0x1000 4096x 65536")
		words = ""
		nw = 0
		k = chance(0.2) ? 0 : int(rand() * 6) + 1
		for (j = 0; j < k; j++) {
			if (chance(0.6)) {
				key = valued[int(rand() * 8) + 1]
				if (key == "start_sector" && chance(0.7)) v = pick("0 8 2048")
				else if (chance(0.1)) { words = words " " mutate_case(key); nw++; continue }
				else v = value()
				words = words " " mutate_case(key) " " v
				nw += 2
			} else {
				words = words " " (chance(0.9) ? mutate_case(flags[int(rand() * 4) + 1]) : pick("bogus writeback cleanerx -"))
				nw++
			}
		}
		cnt = nw
		if (chance(0.1)) cnt = pick("0 1 2 3 19 20 x -1 " (nw + 1) " " (nw - 1))
		tail = chance(0.05) ? " trailing junk" : ""
		wipe = chance(0.7) ? 1 : 0
		print wipe "|" mode " " origin " " cache " " bs " " cnt words tail
	}
}' >/tmp/fuzz.lines
check_eq "generated lines" "$LINES" "$(wc -l </tmp/fuzz.lines)"

# Every start_sector the generator can produce lies in the first 33 MiB
# (larger values are beyond the devices): both runs start from zeros there.
wipe_all() {
	for _d in "$P" "$S"; do
		dd if=/dev/zero of="$_d" bs=1M count=33 oflag=direct conv=notrunc 2>/dev/null
	done
}

# The common superblock locations (start_sector 0, 8, 2048).
wipe() {
	for _d in "$P" "$S"; do
		for _off in 0 1 256; do
			dd if=/dev/zero of="$_d" bs=4096 seek=$_off count=1 \
				oflag=direct conv=notrunc 2>/dev/null
		done
	done
}

# run_line ARGS: "ok <table> | <info>" or "err <ctr error text from dmesg>".
# The kernel log is read and cleared per line (dmesg -c): counting lines
# breaks once the ring buffer wraps, after about 500 lines. What is read
# goes to $KMSG, which is checked for oopses and warnings at the end (the
# harness no longer sees those lines).
KMSG=/tmp/fuzz.kmsg
: >$KMSG
run_line() {
	dmesg -c >>$KMSG
	if dmsetup create wcf --table "0 $OSZ writecache $1" >/dev/null 2>&1; then
		_t=$(dmsetup table wcf | cut -d' ' -f3-)
		_s=$(dmsetup status wcf | cut -d' ' -f3-)
		dm_remove wcf >/dev/null 2>&1 || echo "REMOVE FAILED"
		echo "ok $_t | $_s"
	else
		dmesg -c >/tmp/fuzz.new
		cat /tmp/fuzz.new >>$KMSG
		# The table's error line ("table: 254:2: writecache: <text>"),
		# else the last device-mapper line.
		_e=$(sed -n 's/.*device-mapper: table: [0-9:]*: \(.*\)$/\1/p' /tmp/fuzz.new | tail -n 1)
		[ -n "$_e" ] || _e=$(sed -n 's/.*device-mapper: \(.*\)$/\1/p' /tmp/fuzz.new | tail -n 1)
		echo "err ${_e:-<no dmesg line>}"
	fi
}

run_all() { # OUTFILE
	wipe_all
	: >"$1"
	while IFS='|' read -r _w _args; do
		[ "$_w" = 1 ] && wipe
		run_line "$_args" >>"$1"
	done </tmp/fuzz.lines
}

check "load stock dm-writecache" load_stock
run_all /tmp/fuzz.stock
check "unload stock" rmmod dm_writecache
check "load ours" load_ours
run_all /tmp/fuzz.ours
PARAMS=/sys/module/dm_writecache_cxx/parameters
check_eq "no allocation left (core_allocations)" 0 "$(cat $PARAMS/core_allocations)"
check_eq "no RAM left (core_ram_bytes)" 0 "$(cat $PARAMS/core_ram_bytes)"
check "unload ours" rmmod dm_writecache_cxx

acc=$(grep -c '^ok ' /tmp/fuzz.ours)
rej=$(grep -c '^err ' /tmp/fuzz.ours)
info "ours: $acc accepted, $rej rejected"
check_eq "every line accepted or rejected" "$LINES" $((acc + rej))
[ "$acc" -gt 0 ] && [ "$rej" -gt 0 ] && pass "both outcomes occur" ||
	fail "both outcomes occur" "$acc accepted, $rej rejected"
check_eq "every rejection has a kernel log line" 0 "$(grep -c '<no dmesg line>' /tmp/fuzz.ours)"
check_eq "no table failed to go away" 0 "$(grep -c 'REMOVE FAILED' /tmp/fuzz.ours)"
dmesg -c >>$KMSG
bad=$(dmesg_bad $KMSG)
[ -z "$bad" ] && pass "no oops, warning or BUG while the lines ran" ||
	fail "no oops, warning or BUG while the lines ran" "$(echo "$bad" | head -n 3)"
# Line by line against stock, in one pass; print the first few differences.
ndiff=$(awk -F'|' -v S=/tmp/fuzz.stock -v U=/tmp/fuzz.ours '
{
	getline st <S
	getline our <U
	if (st != our) {
		n++
		if (n <= 10)
			printf "# line %d: %s\n#   stock: %s\n#   ours:  %s\n", NR, $2, st, our >"/dev/stderr"
	}
}
END { print n + 0 }' /tmp/fuzz.lines 2>/tmp/fuzz.diff)
cat /tmp/fuzz.diff
check_eq "lines whose outcome differs from stock" 0 "$ndiff"
finish
