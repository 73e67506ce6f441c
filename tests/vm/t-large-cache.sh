#!/bin/sh
# Defect 7 of issue 12: no O(n_blocks) work with a spinlock held or without
# rescheduling.  A cache of at least 4M blocks (512-byte blocks: a >= 2.2
# GiB cache device) is activated (format, then the resume scan over every
# entry), filled with 32768 blocks at 4 places over the origin,
# suspended and resumed, removed and created again (the load scan), read
# in large O_DIRECT reads that cross many uncached blocks (next-cached
# probes), written back, and discarded whole (blkdiscard of the device:
# a range of 32M blocks with a 16 GiB origin, few of them cached).  Then
# a fresh cache is filled to harness.large_fill_pct percent (default 90;
# high_watermark 100, so nothing is written back) and suspended/resumed and
# loaded again: scans over millions of live entries.  (A discard over
# millions of *cached* blocks is not made: upstream's writecache_discard()
# walks them without rescheduling too.)
# The soft-lockup detector runs with watchdog_thresh=1 (a lockup after 2 s)
# and RCU stalls are reported after 3 s; after each phase the kernel log
# must hold no "soft lockup" and no RCU stall.  softlockup_panic is turned
# off for the test so that a lockup fails the phase that caused it instead
# of ending the boot (vm-run's kernel log check fails the test as well);
# the settings are restored at the end.
#
# The origin is dm-zero (harness.large_origin_gb, default 16 GiB), so the
# origin costs no I/O and one discard bio can span 8M blocks (UINT_MAX
# bytes); on 6.1, whose dm-zero takes no discards, a thin volume of that
# size in a pool on the origin disk.
#
# Not in the default CI set: it needs big sparse disks, about 3 GB of
# guest RAM for the stock module and minutes under TCG.  Run it as
#   scripts/vm-run.sh --kver 6.12 --ko KO --ssd-size 6G --nvdimm-size 4608M \
#       --mem 3G --timeout 2400 tests/vm/t-large-cache.sh
# (add --append harness.wc=stock for the stock module): 12.2M blocks in SSD
# mode, 9M in pmem mode, so that a scan without rescheduling lasts several
# times the 2 s soft-lockup threshold even on a fast host.  SSD mode runs
# when the SSD holds harness.large_blocks blocks (default 4194304), pmem
# mode when pmem does; the test is skipped when neither does.
. /tests/lib.sh
. /tests/wc-select.sh

S=$HARNESS_SSD
P=$HARNESS_PMEM
WC=/dev/mapper/wc
NB=$(harness_arg large_blocks 4194304)
FILL_PCT=$(harness_arg large_fill_pct 90)
BS=512
# upstream's layout: 64-byte superblock + 16 bytes per entry, rounded up
# to the block size, then the blocks.
NEED=$(((64 + 16 * NB + BS - 1) / BS * BS + NB * BS))
big_enough() { [ -n "$1" ] && [ -b "$1" ] && [ "$(dev_bytes "$1")" -ge "$NEED" ]; }
MODES=
big_enough "$S" && MODES="s"
big_enough "$P" && MODES="$MODES p"
[ -n "$MODES" ] || skip_all "needs a cache device of $NEED bytes for $NB blocks: --ssd-size 3G and/or --nvdimm-size 2304M (SSD $(dev_bytes "$S") bytes, pmem ${P:+$(dev_bytes "$P") bytes})"
info "cache of >= $NB blocks of $BS bytes ($NEED bytes) in mode(s):$MODES; RAM $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"

# --- a watchdog that notices 2 s without rescheduling ---------------------------
K=/proc/sys/kernel
RCU=/sys/module/rcupdate/parameters/rcu_cpu_stall_timeout
OLD_THRESH=$(cat $K/watchdog_thresh)
OLD_PANIC=$(cat $K/softlockup_panic)
OLD_RCU=$(cat $RCU 2>/dev/null)
restore_watchdog() {
	echo "$OLD_THRESH" >$K/watchdog_thresh
	echo "$OLD_PANIC" >$K/softlockup_panic
	[ -n "$OLD_RCU" ] && echo "$OLD_RCU" >$RCU
}
check "watchdog_thresh=1 (soft lockup after 2 s)" sh -c "echo 1 >$K/watchdog_thresh"
check "softlockup_panic=0 during the test (a lockup fails its phase, not the boot)" sh -c "echo 0 >$K/softlockup_panic"
if [ -n "$OLD_RCU" ]; then
	check "rcu_cpu_stall_timeout=3" sh -c "echo 3 >$RCU"
else
	info "no $RCU: RCU stalls are reported after the kernel's default timeout"
fi
info "watchdog_thresh $(cat $K/watchdog_thresh), softlockup_panic $(cat $K/softlockup_panic), rcu_cpu_stall_timeout $(cat $RCU 2>/dev/null)"

# clean_log PHASE: the kernel log since the last call has no soft lockup and
# no RCU stall; prints the phase's duration.
LOGPOS=0
T_PHASE=$(now_cs)
clean_log() {
	dmesg >/tmp/large.dmesg
	_n_lines=$(wc -l </tmp/large.dmesg)
	tail -n +$((LOGPOS + 1)) /tmp/large.dmesg >/tmp/large.new
	LOGPOS=$_n_lines
	info "$1: $((($(now_cs) - T_PHASE) * 10)) ms"
	T_PHASE=$(now_cs)
	if grep -E -i 'soft lockup|rcu.*stall|detected stall' /tmp/large.new; then
		grep -E -A 12 -i 'soft lockup|rcu.*stall' /tmp/large.new | head -n 40
		return 1
	fi
	return 0
}
phase() { # NAME CMD...: run CMD (a check), then the log check for NAME
	_ph=$1
	shift
	T_PHASE=$(now_cs)
	check "$_ph" "$@"
	check "$_ph: no soft lockup or RCU stall" clean_log "$_ph"
}

check "load $WC_UNDER_TEST writecache" load_wc || { restore_watchdog; finish; }
# The origin: dm-zero (reads zeros, drops writes and discards), so that
# origin I/O costs nothing and a discard bio can be 4 GiB (UINT_MAX bytes:
# 8M blocks of 512 bytes); virtio-blk caps discards at 2 GiB.
# 6.1's dm-zero takes no discards: there the origin is a thin volume of
# the same size in a pool on the origin disk (a discard of unprovisioned
# space costs no I/O, and dm-thin takes discards of up to 16 GiB).
OGB=$(harness_arg large_origin_gb 16)
# dm_queue NAME ATTR: a queue attribute of dm device NAME
dm_queue() { cat "/sys/block/dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')/queue/$2"; }
thin_origin() {
	_to_s=$(dev_sectors "$HARNESS_ORIGIN")
	dd if=/dev/zero of="$HARNESS_ORIGIN" bs=1M count=1 oflag=direct 2>/dev/null &&
		dm_create tmeta "0 65536 linear $HARNESS_ORIGIN 0" &&
		dm_create tdata "0 $((_to_s - 65536)) linear $HARNESS_ORIGIN 65536" &&
		dm_create tpool "0 $((_to_s - 65536)) thin-pool /dev/mapper/tmeta /dev/mapper/tdata 128 0" &&
		dmsetup message tpool 0 "create_thin 0" &&
		dm_create zorigin "0 $((OGB << 21)) thin /dev/mapper/tpool 0"
}
check "origin: dm-zero of $OGB GiB" dm_create zorigin "0 $((OGB << 21)) zero"
if [ "$(dm_queue zorigin discard_max_bytes)" = 0 ]; then
	check "origin: this dm-zero takes no discards; a thin volume of $OGB GiB instead" \
		sh -c 'dmsetup remove zorigin'
	check "origin: thin pool on $HARNESS_ORIGIN, thin volume of $OGB GiB" thin_origin
fi
O=/dev/mapper/zorigin
info "origin $(dmsetup table zorigin | cut -d' ' -f3) discard_max_bytes $(dm_queue zorigin discard_max_bytes)"
clean_log "start" >/dev/null

# fill: 4 MiB (8192 blocks) in 64 KiB bios at each of 4 places over the
# origin, then fsync.
OB=$(dev_bytes "$O")
fill() {
	for _f_o in 0 $((OB / 4)) $((OB / 2)) $((OB - (4 << 20))); do
		xfs_io -d -c "pwrite -q -S 0x5a -b 65536 $_f_o 4m" "$WC" || return
	done
	xfs_io -c fsync "$WC"
}
ZZ=$(dd if=/dev/zero bs=1M count=4 2>/dev/null | tr '\000' Z | md5sum | cut -d' ' -f1) # 4 MiB of 0x5a
cached() { # the number of cached blocks
	echo $(($(wc_field wc n_blocks) - $(wc_field wc free)))
}

for M in $MODES; do
	if [ "$M" = s ]; then CD=$S; MN=SSD; else CD=$P; MN=pmem; fi
	TABLE="0 $(dev_sectors "$O") writecache $M $O $CD $BS 0"
	check "$MN: zero the cache superblock" zero_sb "$CD"
	phase "$MN: create (format $(dev_bytes "$CD") bytes, resume scan)" dm_create wc "$TABLE" || continue
	N=$(wc_field wc n_blocks)
	check "$MN: n_blocks $N >= $NB" test "$N" -ge "$NB"
	info "$MN: discard_max_bytes $(dm_queue wc discard_max_bytes)"
	phase "$MN: write 32768 blocks at 4 places, fsync" fill
	check_eq "$MN: 32768 blocks cached" 32768 "$(cached)"
	phase "$MN: suspend + resume (resume scan of $N entries)" sh -c 'dmsetup suspend wc && dmsetup resume wc'
	check_eq "$MN: still 32768 blocks cached" 32768 "$(cached)"
	phase "$MN: remove" dm_remove wc
	phase "$MN: create again (load scan of $N entries)" dm_create wc "$TABLE"
	check_eq "$MN: the 32768 blocks were loaded" 32768 "$(cached)"
	phase "$MN: O_DIRECT read of 256 MiB from 0 in 1 MiB reads (cached, then uncached blocks)" \
		dd if="$WC" of=/dev/null bs=1M count=256 iflag=direct
	phase "$MN: O_DIRECT read of 64 MiB in 4 MiB reads far from any cached block" \
		dd if="$WC" of=/dev/null bs=4M skip=$((OB / 4 / 4194304 + 8)) count=16 iflag=direct
	check_eq "$MN: the cached data reads back" "$ZZ" "$(dd if="$WC" bs=1M count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
	phase "$MN: flush (write back 32768 blocks)" dmsetup message wc 0 flush
	check "$MN: after the flush nothing is cached" wc_cond wc '$3 == $2 && $4 == 0'
	phase "$MN: write 32768 blocks again" fill
	phase "$MN: blkdiscard the whole device ($(dev_sectors "$O") sectors)" blkdiscard "$WC"
	info "$MN: status after the discard: $(wc_info wc)"
	check "$MN: the discard freed every block" wc_cond wc '$1 == 0 && $3 == $2'
	phase "$MN: remove" dm_remove wc

	# Most of the cache in use: every entry of the scans is a live one.
	check "$MN: zero the cache superblock" zero_sb "$CD"
	phase "$MN: create with high_watermark 100 low_watermark 100 (no writeback)" \
		dm_create wc "0 $(dev_sectors "$O") writecache $M $O $CD $BS 4 high_watermark 100 low_watermark 100" || continue
	N=$(wc_field wc n_blocks)
	FILL=$((N * FILL_PCT / 100 / 2048)) # MiB
	[ $((FILL << 20)) -le "$OB" ] || FILL=$((OB >> 20))
	phase "$MN: fill $FILL MiB ($((FILL * 2048)) blocks, $FILL_PCT% of the cache) in 1 MiB writes, fsync" \
		xfs_io -d -c "pwrite -q -S 0x5a -b 1m 0 ${FILL}m" -c fsync "$WC"
	info "$MN: status: $(wc_info wc)"
	check_eq "$MN: $((FILL * 2048)) blocks cached" $((FILL * 2048)) "$(cached)"
	phase "$MN: suspend + resume (resume scan of $N entries, $((FILL * 2048)) in use)" \
		sh -c 'dmsetup suspend wc && dmsetup resume wc'
	phase "$MN: remove (the blocks stay in the cache)" dm_remove wc
	phase "$MN: create again (load scan of $N entries, $((FILL * 2048)) in use)" \
		dm_create wc "0 $(dev_sectors "$O") writecache $M $O $CD $BS 4 high_watermark 100 low_watermark 100"
	check_eq "$MN: the $((FILL * 2048)) blocks were loaded" $((FILL * 2048)) "$(cached)"
	check_eq "$MN: the cached data reads back" "$ZZ" "$(dd if="$WC" bs=1M count=4 skip=$((FILL - 4)) iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
	phase "$MN: remove" dm_remove wc
done
check "remove the origin" dm_remove zorigin
for _d in tpool tdata tmeta; do
	if dmsetup info $_d >/dev/null 2>&1; then check "remove $_d" dm_remove $_d; fi
done
check "unload $WC_MODULE" unload_wc
restore_watchdog
info "watchdog restored: watchdog_thresh $(cat $K/watchdog_thresh), softlockup_panic $(cat $K/softlockup_panic)"
finish
