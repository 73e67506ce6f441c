#!/bin/sh
# Regression tests for the control-path defects of issue 12, against the
# module chosen by harness.wc=stock|ours (tests/vm/wc-select.sh).
#
# Defect 5, `cleaner` in the table: upstream's constructor activates the
# cleaner fully (activate_cleaner(): watermarks and flush_on_suspend), so
# the first suspend of a table created with `cleaner` writes every cached
# block back, as after the `cleaner` message.  Checked in pmem and SSD mode,
# for a reload of a table holding dirty blocks with the same table plus
# `cleaner` (also with one block overwritten while its writeback is in
# flight), and for a table created with `cleaner` on a cache left dirty by
# a removed table; the origin sits on dm-delay (writes held 0.5 s) so that the
# cleaner's own writeback cannot be done before the suspend comes: right
# after the resume, `dmsetup suspend`; then, while suspended, status must
# show free == n_blocks and writeback 0, and the origin read directly must
# hold the data.
# Defect 8:
#  (a) upstream's kernel log messages "unable to read metadata: %d" and
#      "error flushing metadata: %d" carry the errno: an SSD cache device
#      that fails reads at resume (dm-error swapped in while suspended) logs
#      "unable to read metadata: -5"; one that fails writes and flushes
#      (dm-flakey error_writes) when a flush follows in-place overwrites of
#      committed blocks (the commit is only an SSD flush) logs "error
#      flushing metadata: -5".  ("hardware memory error when reading data:
#      %d" needs a machine check: not triggered here.)
#  (b) an SSD table whose start_sector leaves room for no block (4 KiB left
#      of a 256 MiB cache device at start_sector 524280) fails with ENOSPC
#      ("Invalid device size", dmsetup: "No space left on device"), as stock
#      6.1 and 6.12 do; 8 KiB left (start_sector 524272) gives one block.
. /tests/lib.sh
. /tests/wc-select.sh
[ -f /tests/ssd-lib.sh ] || { fail "/tests/ssd-lib.sh" "missing (vm-run ships tests/vm/*-lib.sh)"; finish; }
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
WC=/dev/mapper/wc
OS=$(dev_sectors "$O")
dd if=/dev/urandom of=/tmp/d.bin bs=4096 count=64 2>/dev/null
f() { wc_field wc "$1"; }

# set_table NAME TABLE: create NAME, or swap TABLE in (suspend/load/resume).
set_table() {
	if dmsetup info "$1" >/dev/null 2>&1; then
		dmsetup suspend "$1" && dmsetup load "$1" --table "$2" && dmsetup resume "$1"
	else
		dm_create "$1" "$2"
	fi
}
rmdev() { dmsetup info "$1" >/dev/null 2>&1 && dm_remove "$1"; return 0; }

# dmesg_has_text TEXT: the kernel log since the test began has TEXT.
dmesg_has_text() {
	if dmesg | grep -F -- "$1"; then return 0; fi
	echo "no kernel log line with '$1'; writecache lines:"
	dmesg | grep -i writecache | tail -n 10
	return 1
}

check "load $WC_UNDER_TEST writecache" load_wc || finish

# ================= defect 5: cleaner in the table flushes on suspend ===========
DELAY_MS=500
OD=/dev/mapper/odelay
R=4096 # 64 blocks from block 4096 (16 MiB)

# cleaner_suspended MODE WHAT: right after a resume of a cleaner table: suspend
# and check that everything was written back; resume; remove.
cleaner_suspended() {
	check "defect 5 ($1, $2): suspend right after the resume" dmsetup suspend wc
	info "status while suspended: $(wc_info wc)"
	check "defect 5 ($1, $2): the suspend wrote every block back (free == n_blocks, writeback 0, no error)" \
		wc_cond wc '$1 == 0 && $3 == $2 && $4 == 0'
	check_eq "defect 5 ($1, $2): the origin (read directly, table suspended) holds the data" \
		"$(md5_file /tmp/d.bin 0 64)" "$(md5_range "$O" $R 64)"
	check "defect 5 ($1, $2): resume" dmsetup resume wc
	check "defect 5 ($1, $2): remove" rmwc
}

# cleaner_case MODE: MODE p or s; the three sequences.
cleaner_case() {
	if [ "$1" = p ]; then
		wc_small_setup $((4 << 20)) >/dev/null
		CDEV=$P
		_m=pmem
	else
		ssd_small_setup $((4 << 20)) >/dev/null
		CDEV=$S
		_m=SSD
	fi
	T="0 $OS writecache $1 $OD $CDEV 4096 2 start_sector $WC_SS"
	TC="0 $OS writecache $1 $OD $CDEV 4096 3 start_sector $WC_SS cleaner"

	# reload with the same table plus cleaner
	check "defect 5 ($_m, reload): zero the origin region" \
		dd if=/dev/zero of="$O" bs=4096 seek=$R count=64 oflag=direct conv=fsync
	wc_zero_at "$CDEV" "$WC_SS"
	if check "defect 5 ($_m, reload): create a plain table over the delayed origin" dm_create wc "$T"; then
		N=$(f n_blocks)
		check "defect 5 ($_m, reload): 64 dirty blocks, committed" wc_pwrite "$WC" $R /tmp/d.bin 0 64 fsync
		check "defect 5 ($_m, reload): 64 blocks cached" wc_cond wc "\$3 == $N - 64"
		check "defect 5 ($_m, reload): reload the same table with cleaner" reload_wc "$TC"
		cleaner_suspended "$_m" reload
	fi

	# reload with cleaner, then overwrite a block while its writeback is in
	# flight (a newer version that may only follow the older one): the
	# suspend must write that one back too
	check "defect 5 ($_m, overwrite): zero the origin region" \
		dd if=/dev/zero of="$O" bs=4096 seek=$R count=64 oflag=direct conv=fsync
	wc_zero_at "$CDEV" "$WC_SS"
	if check "defect 5 ($_m, overwrite): create a plain table over the delayed origin" dm_create wc "$T"; then
		N=$(f n_blocks)
		check "defect 5 ($_m, overwrite): 64 dirty blocks (other data in the first), committed" \
			sh -c "dd if=/dev/urandom of=$WC bs=4096 seek=$R count=1 oflag=direct && xfs_io -d -c 'pwrite -q -b 4096 -i /tmp/d.bin -s 4096 $(((R + 1) * 4096)) $((63 * 4096))' -c fsync $WC"
		check "defect 5 ($_m, overwrite): reload the same table with cleaner" reload_wc "$TC"
		check "defect 5 ($_m, overwrite): overwrite the first block (its writeback is in flight)" \
			wc_pwrite "$WC" $R /tmp/d.bin 0 1
		cleaner_suspended "$_m" overwrite
	fi

	# create with cleaner on a cache left dirty
	check "defect 5 ($_m, create): zero the origin region" \
		dd if=/dev/zero of="$O" bs=4096 seek=$R count=64 oflag=direct conv=fsync
	wc_zero_at "$CDEV" "$WC_SS"
	if check "defect 5 ($_m, create): create a plain table over the delayed origin" dm_create wc "$T"; then
		N=$(f n_blocks)
		check "defect 5 ($_m, create): 64 dirty blocks, committed" wc_pwrite "$WC" $R /tmp/d.bin 0 64 fsync
		check "defect 5 ($_m, create): remove the table (the blocks stay dirty in the cache)" dm_remove wc
		check_eq "defect 5 ($_m, create): the origin does not hold the data yet" \
			"$(dd if=/dev/zero bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)" "$(md5_range "$O" $R 64)"
		if check "defect 5 ($_m, create): create the table with cleaner on that cache" dm_create wc "$TC"; then
			cleaner_suspended "$_m" create
		fi
	fi
}
check "dm-delay over the origin (writes held ${DELAY_MS} ms)" \
	dm_create odelay "0 $OS delay $O 0 0 $O 0 $DELAY_MS"
[ -n "$P" ] && cleaner_case p
cleaner_case s
check "remove dm-delay" rmdev odelay

# ================= defect 8a: errno in the kernel log ==========================
CSECT=65536 # a 32 MiB slice of the SSD under the cache, swappable
TS="0 $OS writecache s $O /dev/mapper/cdev 4096 0"

# unable to read metadata: dm-error under the cache device at resume
check "defect 8a (read): a linear slice of the SSD as the cache device" \
	set_table cdev "0 $CSECT linear $S 0"
check "defect 8a (read): zero its superblock" zero_sb /dev/mapper/cdev
if check "defect 8a (read): create an SSD table" dm_create wc "$TS"; then
	check "defect 8a (read): 16 blocks, committed" wc_pwrite "$WC" 0 /tmp/d.bin 0 16 fsync
	check "defect 8a (read): suspend" dmsetup suspend wc
	check "defect 8a (read): the cache device fails every I/O (dm-error)" set_table cdev "0 $CSECT error"
	check "defect 8a (read): resume (reads the metadata)" dmsetup resume wc
	check "defect 8a (read): the error latched (status error 1)" wc_cond wc '$1 == 1'
	check "defect 8a: kernel log 'unable to read metadata: -5' (upstream's format string)" \
		dmesg_has_text "unable to read metadata: -5"
	check "defect 8a (read): the cache device works again" set_table cdev "0 $CSECT linear $S 0"
	check "defect 8a (read): remove" rmwc
fi

# error flushing metadata: the SSD fails writes (and so flushes) when a
# flush commits in-place overwrites of committed blocks
check "defect 8a (flush): zero the cache superblock" zero_sb /dev/mapper/cdev
if check "defect 8a (flush): create an SSD table" dm_create wc "$TS"; then
	check "defect 8a (flush): 16 blocks, committed" wc_pwrite "$WC" 0 /tmp/d.bin 0 16 fsync
	check "defect 8a (flush): overwrite 4 committed blocks (in place on the SSD)" wc_pwrite "$WC" 0 /tmp/d.bin 16 4
	check_eq "defect 8a (flush): ... counted as write_hits_committed" 4 "$(f write_hits_committed)"
	check "defect 8a (flush): the cache device fails writes and flushes (dm-flakey error_writes)" \
		set_table cdev "0 $CSECT flakey $S 0 0 3600 1 error_writes"
	check_fails "defect 8a (flush): fsync fails" xfs_io -c fsync "$WC"
	info "status: $(wc_info wc)"
	check "defect 8a: kernel log 'error flushing metadata: -5' (upstream's format string)" \
		dmesg_has_text "error flushing metadata: -5"
	check "defect 8a (flush): the cache device works again" set_table cdev "0 $CSECT linear $S 0"
	check "defect 8a (flush): remove" rmwc
fi
check "defect 8a: remove the slice" rmdev cdev

# ================= defect 8b: no room for a block =============================
SSZ=$(dev_sectors "$S")
# create_err TABLE: try to create "wc"; print dmsetup's error text.
create_err() {
	if dmsetup create wc --table "$1" >/tmp/cerr.out 2>&1; then
		echo "created"
		rmwc
		return 0
	fi
	cat /tmp/cerr.out
	return 1
}
info "SSD $S: $SSZ sectors"
ENOSPC_SS=$((SSZ - 8))
wc_zero_at "$S" $((SSZ - 8))
check_fails "defect 8b: SSD table with start_sector $ENOSPC_SS (4 KiB left: no block fits) is refused" \
	create_err "0 $OS writecache s $O $S 4096 2 start_sector $ENOSPC_SS"
info "dmsetup: $(grep -i 'failed' /tmp/cerr.out | head -1)"
check "defect 8b: ... with ENOSPC ('No space left on device', as stock 6.1 and 6.12)" \
	grep -q 'No space left on device' /tmp/cerr.out
check "defect 8b: ... and the kernel log says 'Invalid device size'" dmesg_has_text "Invalid device size"
wc_zero_at "$S" $((SSZ - 16))
if check "defect 8b: start_sector $((SSZ - 16)) (8 KiB left) gives a cache" \
	dm_create wc "0 $OS writecache s $O $S 4096 2 start_sector $((SSZ - 16))"; then
	check_eq "defect 8b: ... of one block (n_blocks)" 1 "$(f n_blocks)"
	check "defect 8b: remove" rmwc
fi
check "unload $WC_MODULE" unload_wc
finish
