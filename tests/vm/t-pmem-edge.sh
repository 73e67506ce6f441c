#!/bin/sh
# Edge cases of a pmem-mode writecache, against the module chosen by
# harness.wc=stock|ours (tests/vm/wc-select.sh, passed with --extra).  The
# cache is made small (about 4 MiB, ~1020 blocks) with start_sector, so the
# cache area is only the tail of the pmem device.
#
# Checks:
#  - full cache: with high_watermark 100 writeback starts only when no block
#    is free, so a 1 MiB write that needs more blocks than are free must
#    wait on the freelist (writes_blocked_on_freelist > 0, and it grows with
#    the next such burst); 2x and 4x the cache size of sequential 1 MiB and
#    random 4 KiB writes pass fio's crc32c verify, and again on the bare
#    origin;
#  - discard: blkdiscard through the target counts blocks in the discards
#    field, frees exactly the cached blocks in the range (free goes back up),
#    reaches the origin (its discard sector counter), and the discarded range
#    then reads the origin's data while the rest still reads the cache;
#  - discard of uncommitted blocks leaves the autocommit count alone
#    (6.12.117 "fix uncommitted_blocks underflow"; observed through the
#    superblock's seq_count on pmem; skipped against stock 6.1);
#  - messages: flush is synchronous (free == n_blocks on return, data on the
#    origin), is case-insensitive, rejects an extra word, and fails with EBUSY
#    while suspended; flush_on_suspend writes everything back at the next
#    suspend only once; cleaner empties the cache, sends new writes around
#    (writes_around grows, free stays n_blocks) and is not shown in the table;
#    clear_stats zeroes fields 5-14 only; an unknown message fails and logs
#    "unrecognised message received".
. /tests/lib.sh
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
WC=/dev/mapper/wc
wc_small_setup $((4 << 20))
SS=$WC_SS
NEXP=$WC_NEXP
ZMD5=$(dd if=/dev/zero bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)

vda_stat() { awk -v n="$1" '{ print $n }' "/sys/block/$(basename "$O")/stat"; }

# msg_fails_busy: "dmsetup message wc 0 flush" fails with EBUSY.
msg_fails_busy() {
	if dmsetup message wc 0 flush >/tmp/msg.out 2>&1; then
		echo "message succeeded"
		return 1
	fi
	cat /tmp/msg.out
	grep -qi 'busy' /tmp/msg.out
}

# ================= full cache ==================================================
check "load $WC_UNDER_TEST writecache" load_wc || finish
if check "full cache: create (high_watermark 100 low_watermark 50)" mkwc high_watermark 100 low_watermark 50; then
	N=$(wc_field wc n_blocks)
	DM=dm-$(dmsetup info -c --noheadings -o minor wc | tr -d ' ')
	info "$DM max_sectors_kb: $(cat /sys/block/$DM/queue/max_sectors_kb)"
	check_eq "start_sector leaves a small cache: n_blocks" "$NEXP" "$N"
	check_eq "writes_blocked_on_freelist starts at 0" 0 "$(wc_field wc writes_blocked_on_freelist)"
	# With high_watermark 100, writeback starts only when no block is free,
	# and it cannot free a block while a write holds the cache: a write bio
	# that needs more blocks than are free must wait on the freelist.
	check "full cache: fio 8M sequential in 1 MiB writes (2x the cache) + verify" \
		fio_verify "$WC" 8M --rw=write --bs=1M --offset=0
	B1=$(wc_field wc writes_blocked_on_freelist)
	info "status: $(wc_info wc)"
	check "a write bigger than the free space waited on the freelist (writes_blocked_on_freelist $B1 > 0)" \
		test "$B1" -gt 0
	check_eq "writes counts blocks (8M = 2048)" 2048 "$(wc_field wc writes)"
	check "full cache: fio 16M random 4 KiB writes (4x the cache) + verify" \
		fio_verify "$WC" 16M --offset=8M
	B2=$(wc_field wc writes_blocked_on_freelist)
	info "writes_blocked_on_freelist after the random writes: $B2 (not checked: 4 KiB writes may find writeback ahead)"
	check "flush" dmsetup message wc 0 flush
	check "after flush: free == n_blocks" wc_cond wc '$3 == $2 && $4 == 0'
	check "full cache: fio 8M more in 1 MiB writes + verify" \
		fio_verify "$WC" 8M --rw=write --bs=1M --offset=24M
	B3=$(wc_field wc writes_blocked_on_freelist)
	check "writes_blocked_on_freelist grows ($B2 -> $B3)" test "$B3" -gt "$B2"
	check "no error after a full cache" wc_cond wc '$1 == 0'
	check "flush" dmsetup message wc 0 flush
	check "after flush: free == n_blocks" wc_cond wc '$3 == $2 && $4 == 0'
	check "full cache: random data verifies through the target after the flush" \
		fio_verify "$WC" 16M --offset=8M --verify_only
fi
check "full cache: remove" rmwc
check "full cache: sequential data (0-8M) verifies on the bare origin" \
	fio_verify "$O" 8M --rw=write --bs=1M --offset=0 --verify_only
check "full cache: random data (8M-24M) verifies on the bare origin" \
	fio_verify "$O" 16M --offset=8M --verify_only
check "full cache: sequential data (24M-32M) verifies on the bare origin" \
	fio_verify "$O" 8M --rw=write --bs=1M --offset=24M --verify_only

# ================= discard =====================================================
R=16384 # region at 64 MiB: 256 blocks
dd if=/dev/urandom of=/tmp/r.bin bs=4096 count=256 2>/dev/null
check "discard: zero the origin region first" \
	dd if=/dev/zero of="$O" bs=65536 seek=$((R / 16)) count=16 conv=fsync
if check "discard: create" mkwc; then
	N=$(wc_field wc n_blocks)
	check "discard: write 256 blocks and fsync" wc_pwrite "$WC" $R /tmp/r.bin 0 256 fsync
	check "256 blocks cached (free == n_blocks - 256)" wc_cond wc "\$3 == $N - 256 && \$14 == 0"
	DS0=$(vda_stat 14)
	check "blkdiscard 64 blocks in the middle" \
		blkdiscard -o $(((R + 64) * 4096)) -l $((64 * 4096)) "$WC"
	info "status: $(wc_info wc)"
	check_eq "discards counts the 64 blocks" 64 "$(wc_field wc discards)"
	check_eq "the 64 cached blocks in the range are freed (free)" $((N - 192)) "$(wc_field wc free)"
	check_eq "the origin received the discard (discard sectors)" 512 $(($(vda_stat 14) - DS0))
	check_eq "blocks before the range still read the cache" \
		"$(md5_file /tmp/r.bin 0 64)" "$(md5_range "$WC" $R 64)"
	check_eq "the discarded range reads the origin (zeros)" \
		"$ZMD5" "$(md5_range "$WC" $((R + 64)) 64)"
	check_eq "blocks after the range still read the cache" \
		"$(md5_file /tmp/r.bin 128 128)" "$(md5_range "$WC" $((R + 128)) 128)"
	check "blkdiscard the whole 256-block region" \
		blkdiscard -o $((R * 4096)) -l $((256 * 4096)) "$WC"
	check_eq "discards counts all 320 blocks" 320 "$(wc_field wc discards)"
	check_eq "every block freed (free == n_blocks)" "$N" "$(wc_field wc free)"
	check_eq "the origin received 2048 more discard sectors" 2560 $(($(vda_stat 14) - DS0))
	check_eq "the region now reads zeros from the origin" \
		"$(dd if=/dev/zero bs=4096 count=256 2>/dev/null | md5sum | cut -d' ' -f1)" \
		"$(md5_range "$WC" $R 256)"
	check "discard: no error" wc_cond wc '$1 == 0'
fi
check "discard: remove" rmwc

# Discarding uncommitted blocks must not lower the count of blocks towards
# autocommit_blocks (6.12.117); 6.1.192 decremented it.  Observed as commits:
# the superblock seq_count on pmem grows by one per commit.
if check "discard/autocommit: create (autocommit_blocks 16, autocommit_time 3600000)" \
	mkwc autocommit_blocks 16 autocommit_time 3600000; then
	N=$(wc_field wc n_blocks)
	S0=$(wc_sb "$P" "$SS" seq_count)
	info "superblock seq_count $S0"
	check "write 8 new blocks (8 bios, no flush)" wc_pwrite "$WC" 20000 /tmp/r.bin 0 8
	check_eq "8 blocks (< autocommit_blocks) are not committed (seq_count)" "$S0" "$(wc_sb "$P" "$SS" seq_count)"
	check "blkdiscard the 8 uncommitted blocks" blkdiscard -o $((20000 * 4096)) -l $((8 * 4096)) "$WC"
	check_eq "the 8 uncommitted blocks are freed" "$N" "$(wc_field wc free)"
	check "write 8 other new blocks" wc_pwrite "$WC" 20100 /tmp/r.bin 8 8
	S1=$(wc_sb "$P" "$SS" seq_count)
	if wc_stock_61; then
		wc_skip_61 "discarded uncommitted blocks still count towards autocommit_blocks" \
			"6.1.192 decrements uncommitted_blocks in discard (fixed in 6.12.117); seq_count $S0 -> $S1"
	else
		check_eq "discarded uncommitted blocks still count: 8+8 writes commit once (seq_count)" \
			$((S0 + 1)) "$S1"
	fi
fi
check "discard/autocommit: remove" rmwc

# ================= messages ==================================================
M=30000 # message tests write from block 30000 (117 MiB) on
dd if=/dev/urandom of=/tmp/m.bin bs=4096 count=200 2>/dev/null
if check "messages: create" mkwc; then
	N=$(wc_field wc n_blocks)

	# flush
	check "write 200 blocks (no flush)" wc_pwrite "$WC" $M /tmp/m.bin 0 200
	check "200 blocks cached" wc_cond wc "\$3 == $N - 200"
	check "message flush" dmsetup message wc 0 flush
	check "flush is synchronous: on return free == n_blocks, writeback 0" wc_cond wc '$3 == $2 && $4 == 0'
	check_eq "flushed data is on the origin" "$(md5_file /tmp/m.bin 0 200)" "$(md5_range "$O" $M 200)"
	check "write 10 blocks" wc_pwrite "$WC" $((M + 200)) /tmp/m.bin 0 10
	check "message FLUSH (case-insensitive)" dmsetup message wc 0 FLUSH
	check "after FLUSH: free == n_blocks" wc_cond wc '$3 == $2'
	check_fails "message flush with an extra word is rejected" dmsetup message wc 0 flush now

	# flush while suspended
	check "write 20 blocks" wc_pwrite "$WC" $((M + 300)) /tmp/m.bin 20 20
	check "suspend" dmsetup suspend wc
	check "flush while suspended fails with EBUSY" msg_fails_busy
	check "the refused flush wrote nothing back (free == n_blocks - 20)" wc_cond wc "\$3 == $N - 20"
	check "resume" dmsetup resume wc
	check "flush after resume" dmsetup message wc 0 flush
	check "after flush: free == n_blocks" wc_cond wc '$3 == $2'

	# flush_on_suspend
	check "write 100 blocks" wc_pwrite "$WC" $((M + 400)) /tmp/m.bin 100 100
	check "suspend + resume without flush_on_suspend" sh -c 'dmsetup suspend wc && dmsetup resume wc'
	check "a plain suspend keeps the cache (free == n_blocks - 100)" wc_cond wc "\$3 == $N - 100"
	check "message flush_on_suspend" dmsetup message wc 0 flush_on_suspend
	check "the message itself writes nothing back" wc_cond wc "\$3 == $N - 100"
	check "suspend" dmsetup suspend wc
	check "flush_on_suspend: everything written back by the suspend (status while suspended)" \
		wc_cond wc '$3 == $2 && $4 == 0'
	check "resume" dmsetup resume wc
	check_eq "flush_on_suspend: data is on the origin" \
		"$(md5_file /tmp/m.bin 100 100)" "$(md5_range "$O" $((M + 400)) 100)"
	check "write 50 blocks" wc_pwrite "$WC" $((M + 600)) /tmp/m.bin 0 50
	check "suspend + resume again" sh -c 'dmsetup suspend wc && dmsetup resume wc'
	check "flush_on_suspend applied once only (free == n_blocks - 50)" wc_cond wc "\$3 == $N - 50"

	# clear_stats
	info "status before clear_stats: $(wc_info wc)"
	check "statistics are non-zero before clear_stats" wc_cond wc '$5 + $7 + $11 + $13 > 0'
	FREE=$(wc_field wc free)
	check "message clear_stats" dmsetup message wc 0 clear_stats
	info "status after clear_stats: $(wc_info wc)"
	check "clear_stats: fields 5-14 are 0" \
		wc_cond wc '$5 == 0 && $6 == 0 && $7 == 0 && $8 == 0 && $9 == 0 && $10 == 0 && $11 == 0 && $12 == 0 && $13 == 0 && $14 == 0'
	check "clear_stats: error, n_blocks, free, writeback untouched" \
		wc_cond wc "\$1 == 0 && \$2 == $N && \$3 == $FREE && \$4 == 0"

	# unknown message
	check_fails "an unknown message fails" dmsetup message wc 0 bogus_message
	check "dmesg: unrecognised message received: bogus_message" \
		sh -c 'dmesg | grep "unrecognised message received: bogus_message"'

	# cleaner
	check "write 100 blocks" wc_pwrite "$WC" $((M + 700)) /tmp/m.bin 0 100
	check "message cleaner" dmsetup message wc 0 cleaner
	check "cleaner: the cache empties (free == n_blocks within 20 s)" \
		wc_poll 20 wc_cond wc '$3 == $2 && $4 == 0'
	A0=$(wc_field wc writes_around)
	check "write 32 new blocks under cleaner" wc_pwrite "$WC" $((M + 900)) /tmp/m.bin 0 32
	info "status: $(wc_info wc)"
	check_eq "cleaner: new writes go around (writes_around +32)" $((A0 + 32)) "$(wc_field wc writes_around)"
	check_eq "cleaner: free stays n_blocks" "$N" "$(wc_field wc free)"
	check_eq "cleaner: the written-around data is on the origin" \
		"$(md5_file /tmp/m.bin 0 32)" "$(md5_range "$O" $((M + 900)) 32)"
	info "table: $(dmsetup table wc)"
	check "a cleaner enabled by message is not in the table line" \
		sh -c '! dmsetup table wc | grep -q cleaner'
	check "reload the table (turns cleaner off)" reload_wc "$TABLE"
	check "write 16 blocks" wc_pwrite "$WC" $((M + 1000)) /tmp/m.bin 0 16
	check "after the reload new writes are cached again (free == n_blocks - 16)" wc_cond wc "\$3 == $N - 16"
	check "messages: flush" dmsetup message wc 0 flush
	check "messages: no error" wc_cond wc '$1 == 0'
fi
check "messages: remove" rmwc
check "unload $WC_MODULE" unload_wc
finish
