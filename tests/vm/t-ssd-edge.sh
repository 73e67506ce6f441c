#!/bin/sh
# Edge cases of an SSD-mode writecache, against the module chosen by
# harness.wc=stock|ours (tests/vm/wc-select.sh; helpers in
# tests/vm/ssd-lib.sh).  The cache is small (4 MiB at the end of the SSD
# through start_sector, ~1020 blocks).
#
# Checks:
#  - full cache: when no block is free, SSD mode writes uncached blocks
#    straight to the origin instead of waiting (writes_around grows,
#    writes_blocked_on_freelist stays 0, free stays 0), a bio that starts
#    uncached and runs into cached blocks goes around only up to the first
#    cached block and updates the cached rest in place, and everything
#    verifies through the target and (the written-around part) on the
#    origin; then random writes over 4x the cache, with writeback held by
#    pause_writeback and with pause_writeback 0 (writeback racing the
#    writers), verify through the target and on the bare origin;
#  - discard: blkdiscard through the target counts blocks in the discards
#    field, frees exactly the cached blocks in the range, reaches the origin
#    (its discard sector counter), and the range then reads what the origin
#    holds while the rest still reads the cache (upstream drops the cached
#    copies and passes the discard to the origin only, so "what the origin
#    holds" is all it guarantees);
#  - discard of uncommitted blocks leaves the autocommit count alone
#    (6.12.117 "fix uncommitted_blocks underflow"; stock 6.1 decrements it,
#    checked as such);
#  - commits, observed through the superblock's seq_count on the SSD:
#    plain writes and reads of uncommitted blocks do not commit, reads of
#    uncommitted blocks return the new data from the cache, an fsync commits
#    and is counted once in flushes although two flush bios are sent (the
#    second flushes the origin: its flush counter grows), a FUA write
#    without a flush commits before it completes (6.12.117 "fix REQ_FUA
#    processing"; stock 6.1 does not, checked as such), an O_DSYNC write
#    (FUA + fsync) commits on both;
#  - overwrites: of uncommitted and of committed blocks are done in place
#    (write_hits_uncommitted / write_hits_committed, free unchanged,
#    writes_allocate unchanged), and a flush after only in-place overwrites
#    of committed blocks needs no new commit;
#  - a multi-block bio: writes and writes_allocate count blocks; its
#    overwrite counts no allocations (6.12.117 "fix a quirk in statistics";
#    stock 6.1 adds n-1, checked as such); the committed metadata on the SSD
#    maps every written block to a cache block holding its data.
. /tests/lib.sh
. /tests/wc-select.sh
[ -f /tests/ssd-lib.sh ] || { fail "/tests/ssd-lib.sh" "missing (vm-run ships tests/vm/*-lib.sh)"; finish; }
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
WC=/dev/mapper/wc
ssd_small_setup $((4 << 20))
SS=$WC_SS
NEXP=$WC_NEXP
zmd5() { dd if=/dev/zero bs=4096 count="$1" 2>/dev/null | md5sum | cut -d' ' -f1; }
# f FIELD: wc_field wc FIELD
f() { wc_field wc "$1"; }

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "zero the origin's first 128 MiB (all regions used here)" \
	dd if=/dev/zero of="$O" bs=1M count=128 oflag=direct conv=fsync

# ================= full cache ==================================================
F=1024  # fill region: blocks F .. F+N-1 (one cache full)
A=4096  # 256 blocks written around as 4 KiB bios, then 256 in one 1 MiB bio
R1=8192 # 16 MiB of random writes (4x the cache), held writeback
R2=12288 # 16 MiB of random writes, pause_writeback 0
dd if=/dev/urandom of=/tmp/f.bin bs=4096 count=$((NEXP + 16)) 2>/dev/null
dd if=/dev/urandom of=/tmp/a.bin bs=4096 count=512 2>/dev/null
dd if=/dev/urandom of=/tmp/s.bin bs=4096 count=16 2>/dev/null
# pause_writeback 30000: writeback (queued when the last block is taken,
# high_watermark 100) waits until the origin has seen no redirected write
# for 30 s, so while this part writes, no block is freed behind its back.
# The first such write is the empty flush bio an fsync sends to the origin
# right before the last block is taken (upstream counts it: reference
# section 12.2); then every write-around restarts the pause.
if check "full cache: create (high_watermark 100 low_watermark 50 pause_writeback 30000)" \
	mkwcs high_watermark 100 low_watermark 50 pause_writeback 30000; then
	N=$(f n_blocks)
	check_eq "start_sector leaves a small cache: n_blocks" "$NEXP" "$N"
	check "fill all but one block (4 KiB bios), then fsync" wc_pwrite "$WC" $F /tmp/f.bin 0 $((N - 1)) fsync
	check "one block left" wc_cond wc '$3 == 1 && $4 == 0'
	check "write the last free block" wc_pwrite "$WC" $((F + N - 1)) /tmp/f.bin $((N - 1)) 1
	check "the cache is full: free 0, N allocations, nothing around, writeback held (by the fsync's origin flush, reference 12.2)" \
		wc_cond wc "\$3 == 0 && \$4 == 0 && \$11 == $N && \$10 == 0"
	check "write 256 uncached blocks (4 KiB bios) into the full cache" wc_pwrite "$WC" $A /tmp/a.bin 0 256
	info "status: $(wc_info wc)"
	check_eq "full cache: they went around (writes_around)" 256 "$(f writes_around)"
	check_eq "full cache: no writer waited on the freelist (writes_blocked_on_freelist)" 0 "$(f writes_blocked_on_freelist)"
	check_eq "full cache: no new allocation (writes_allocate)" "$N" "$(f writes_allocate)"
	check "write 256 more uncached blocks in one 1 MiB bio" wc_bio "$WC" $((A + 256)) /tmp/a.bin 256 256
	check_eq "full cache: the 1 MiB bio went around (writes_around +256)" 512 "$(f writes_around)"
	HC0=$(f write_hits_committed)
	check "one 64 KiB bio: 8 uncached blocks, then 8 cached (committed) blocks" \
		wc_bio "$WC" $((F - 8)) /tmp/s.bin 0 16
	info "status: $(wc_info wc)"
	check_eq "only the uncached head went around (writes_around +8)" 520 "$(f writes_around)"
	HC1=$(f write_hits_committed)
	check "the cached tail was updated in place (write_hits_committed +1..8: $HC0 -> $HC1)" \
		test $((HC1 - HC0)) -ge 1 -a $((HC1 - HC0)) -le 8
	check "still full, nothing written back, no error" wc_cond wc '$1 == 0 && $3 == 0 && $4 == 0'
	check_eq "writes counts every block (N + 256 + 256 + 16)" $((N + 528)) "$(f writes)"
	check_eq "through the target: the head of the 64 KiB bio" "$(md5_file /tmp/s.bin 0 8)" "$(md5_range "$WC" $((F - 8)) 8)"
	check_eq "through the target: the tail of the 64 KiB bio (cached)" "$(md5_file /tmp/s.bin 8 8)" "$(md5_range "$WC" $F 8)"
	check_eq "through the target: the rest of the fill" \
		"$(md5_file /tmp/f.bin 8 $((N - 8)))" "$(md5_range "$WC" $((F + 8)) $((N - 8)))"
	check_eq "through the target: the written-around blocks" "$(md5_file /tmp/a.bin 0 512)" "$(md5_range "$WC" $A 512)"
	check_eq "on the origin: the written-around blocks" "$(md5_file /tmp/a.bin 0 512)" "$(md5_range "$O" $A 512)"
	check_eq "on the origin: the head of the 64 KiB bio" "$(md5_file /tmp/s.bin 0 8)" "$(md5_range "$O" $((F - 8)) 8)"
	check_eq "on the origin: the fill is not there (cached only)" "$(zmd5 $N)" "$(md5_range "$O" $F $N)"
	check "full cache: fio 16M random 4 KiB writes (4x the cache) + verify" fio_verify "$WC" 16M --offset=$((R1 * 4096))
	info "status: $(wc_info wc)"
	check "full cache: random writes went around, nobody waited, no error" \
		wc_cond wc '$1 == 0 && $10 > 520 && $12 == 0'
	check "flush" dmsetup message wc 0 flush
	check "after flush: free == n_blocks" wc_cond wc '$3 == $2 && $4 == 0'
	check "reload with pause_writeback 0 (writeback races the writers)" \
		reload_wc "$(ssd_table high_watermark 100 low_watermark 50 pause_writeback 0)"
	check "pause_writeback 0: fio 16M random 4 KiB writes (4x the cache) + verify" \
		fio_verify "$WC" 16M --offset=$((R2 * 4096))
	info "status: $(wc_info wc)"
	check "pause_writeback 0: no error" wc_cond wc '$1 == 0'
	check "flush" dmsetup message wc 0 flush
	check "after flush: free == n_blocks" wc_cond wc '$3 == $2 && $4 == 0'
	check "random data (first run) verifies through the target after the flush" \
		fio_verify "$WC" 16M --offset=$((R1 * 4096)) --verify_only
fi
check "full cache: remove" rmwc
check_eq "bare origin: the fill and the 64 KiB bio" \
	"$( (cat /tmp/s.bin && dd if=/tmp/f.bin bs=4096 skip=8 count=$((NEXP - 8)) 2>/dev/null) | md5sum | cut -d' ' -f1)" \
	"$(md5_range "$O" $((F - 8)) $((NEXP + 8)))"
check_eq "bare origin: the written-around blocks" "$(md5_file /tmp/a.bin 0 512)" "$(md5_range "$O" $A 512)"
check "bare origin: random data, first run" fio_verify "$O" 16M --offset=$((R1 * 4096)) --verify_only
check "bare origin: random data, pause_writeback 0" fio_verify "$O" 16M --offset=$((R2 * 4096)) --verify_only

# ================= discard =====================================================
R=16384 # region at 64 MiB: 256 blocks
dd if=/dev/urandom of=/tmp/p.bin bs=4096 count=256 2>/dev/null
dd if=/dev/urandom of=/tmp/r.bin bs=4096 count=256 2>/dev/null
check "discard: the origin region holds pattern P" \
	dd if=/tmp/p.bin of="$O" bs=4096 seek=$R count=256 oflag=direct conv=fsync
if check "discard: create" mkwcs; then
	N=$(f n_blocks)
	check "write data D over the 256 blocks and fsync" wc_pwrite "$WC" $R /tmp/r.bin 0 256 fsync
	check "256 blocks cached (free == n_blocks - 256)" wc_cond wc "\$3 == $N - 256 && \$14 == 0"
	check_eq "the origin still holds P" "$(md5_file /tmp/p.bin 0 256)" "$(md5_range "$O" $R 256)"
	DS0=$(blk_stat "$O" dsect)
	check "blkdiscard 64 blocks in the middle" \
		blkdiscard -o $(((R + 64) * 4096)) -l $((64 * 4096)) "$WC"
	info "status: $(wc_info wc)"
	check_eq "discards counts the 64 blocks" 64 "$(f discards)"
	check_eq "the 64 cached blocks in the range are freed (free)" $((N - 192)) "$(f free)"
	check_eq "the origin received the discard (discard sectors)" 512 $(($(blk_stat "$O" dsect) - DS0))
	check_eq "blocks before the range still read D from the cache" \
		"$(md5_file /tmp/r.bin 0 64)" "$(md5_range "$WC" $R 64)"
	ORG=$(md5_range "$O" $((R + 64)) 64)
	if [ "$ORG" = "$(zmd5 64)" ]; then _what=zeros; elif [ "$ORG" = "$(md5_file /tmp/p.bin 64 64)" ]; then _what=P; else _what=other; fi
	info "after the discard the origin range holds: $_what"
	check_eq "the discarded range reads what the origin holds" "$ORG" "$(md5_range "$WC" $((R + 64)) 64)"
	check "... which is not the discarded cache data D" test "$ORG" != "$(md5_file /tmp/r.bin 64 64)"
	check_eq "blocks after the range still read D from the cache" \
		"$(md5_file /tmp/r.bin 128 128)" "$(md5_range "$WC" $((R + 128)) 128)"
	check "blkdiscard the whole 256-block region" \
		blkdiscard -o $((R * 4096)) -l $((256 * 4096)) "$WC"
	check_eq "discards counts all 320 blocks" 320 "$(f discards)"
	check_eq "every block freed (free == n_blocks)" "$N" "$(f free)"
	check_eq "the origin received 2048 more discard sectors" 2560 $(($(blk_stat "$O" dsect) - DS0))
	check_eq "the region reads what the origin holds" "$(md5_range "$O" $R 256)" "$(md5_range "$WC" $R 256)"
	check "discard: no error" wc_cond wc '$1 == 0'
fi
check "discard: remove" rmwc

# Discarding uncommitted blocks must not lower the count of blocks towards
# autocommit_blocks (6.12.117); 6.1.192 decremented it.  SSD mode commits
# on reaching autocommit_blocks from the writeback workqueue: poll.
if check "discard/autocommit: create (autocommit_blocks 16, autocommit_time 3600000)" \
	mkwcs autocommit_blocks 16 autocommit_time 3600000; then
	N=$(f n_blocks)
	S0=$(ssd_seq)
	info "superblock seq_count $S0"
	check "write 8 new blocks (8 bios, no flush)" wc_pwrite "$WC" 20000 /tmp/r.bin 0 8
	sleep 1
	check_eq "8 blocks (< autocommit_blocks) are not committed (seq_count)" "$S0" "$(ssd_seq)"
	check "blkdiscard the 8 uncommitted blocks" blkdiscard -o $((20000 * 4096)) -l $((8 * 4096)) "$WC"
	check_eq "the 8 uncommitted blocks are freed" "$N" "$(f free)"
	check_eq "the discarded uncommitted blocks read the origin (zeros)" "$(zmd5 8)" "$(md5_range "$WC" 20000 8)"
	check "write 8 other new blocks" wc_pwrite "$WC" 20100 /tmp/r.bin 8 8
	if wc_stock_61; then
		sleep 2
		check_eq "stock 6.1: the discard took the 8 blocks off the autocommit count, 8+8 writes do not commit (seq_count; fixed in 6.12.117)" \
			"$S0" "$(ssd_seq)"
	else
		check "discarded uncommitted blocks still count: 8+8 writes commit (seq_count +1 within 10 s)" \
			wc_poll 10 seq_is $((S0 + 1))
	fi
fi
check "discard/autocommit: remove" rmwc

# ================= commits, reads, overwrites, multi-block bios ================
W=20480 # region at 80 MiB (zeroed above)
dd if=/dev/urandom of=/tmp/w.bin bs=4096 count=64 2>/dev/null
if check "commits: create (autocommit_blocks 100000 autocommit_time 3600000: no autocommit)" \
	mkwcs autocommit_blocks 100000 autocommit_time 3600000; then
	N=$(f n_blocks)
	S0=$(ssd_seq)
	check "write 4 new blocks (4 bios, no flush)" wc_pwrite "$WC" $W /tmp/w.bin 0 4
	check "4 blocks allocated (free, writes, writes_allocate)" wc_cond wc "\$3 == $N - 4 && \$7 == 4 && \$11 == 4"
	check_eq "plain writes do not commit (seq_count)" "$S0" "$(ssd_seq)"
	check_eq "reads of the uncommitted blocks return the new data" "$(md5_file /tmp/w.bin 0 4)" "$(md5_range "$WC" $W 4)"
	check_eq "... served from the cache (read_hits)" 4 "$(f read_hits)"
	check_eq "reads do not commit (seq_count)" "$S0" "$(ssd_seq)"
	check_eq "the origin still holds zeros" "$(zmd5 4)" "$(md5_range "$O" $W 4)"
	check "overwrite 1 uncommitted block" wc_pwrite "$WC" $((W + 1)) /tmp/w.bin 10 1
	check "overwritten in place (write_hits_uncommitted 1, free and writes_allocate unchanged)" \
		wc_cond wc "\$8 == 1 && \$3 == $N - 4 && \$11 == 4"
	check_eq "the overwritten block reads the newest data" "$(md5_file /tmp/w.bin 10 1)" "$(md5_range "$WC" $((W + 1)) 1)"

	# fsync: dm sends two flush bios; the first commits (flushes +1), the
	# second goes to the origin.
	OF0=$(blk_stat "$O" flushes)
	SF0=$(blk_stat "$S" flushes)
	check "fsync" xfs_io -c fsync "$WC"
	check_eq "an fsync commits (seq_count +1)" $((S0 + 1)) "$(ssd_seq)"
	check_eq "... and is counted once (flushes)" 1 "$(f flushes)"
	check_eq "... its second flush bio flushed the origin (origin flush requests +1)" 1 $(($(blk_stat "$O" flushes) - OF0))
	check "... the commit flushed the SSD (SSD flush requests: $SF0 -> $(blk_stat "$S" flushes))" \
		test "$(blk_stat "$S" flushes)" -gt "$SF0"

	# overwrite committed blocks: in place on the SSD
	check "overwrite the 4 committed blocks (4 bios)" wc_pwrite "$WC" $W /tmp/w.bin 4 4
	info "status: $(wc_info wc)"
	check_eq "overwrites of committed blocks are write_hits_committed" 4 "$(f write_hits_committed)"
	check "... done in place (free and writes_allocate unchanged)" wc_cond wc "\$3 == $N - 4 && \$11 == 4"
	check_eq "the overwritten blocks read the new data" "$(md5_file /tmp/w.bin 4 4)" "$(md5_range "$WC" $W 4)"
	check "fsync" xfs_io -c fsync "$WC"
	check_eq "a flush after only in-place overwrites of committed blocks makes no new commit (seq_count)" \
		$((S0 + 1)) "$(ssd_seq)"
	check_eq "flushes counts it" 2 "$(f flushes)"

	# FUA without a flush: libaio + O_SYNC (one REQ_FUA bio, no fsync after)
	FL0=$(f flushes)
	check "one FUA bio (libaio, O_SYNC) to a new block, + verify" \
		fio_verify "$WC" 4k --rw=write --bs=4k --offset=$(((W + 8) * 4096)) --ioengine=libaio --sync=1
	check_eq "no flush bio came with it (flushes)" "$FL0" "$(f flushes)"
	if wc_stock_61; then
		check_eq "stock 6.1: a FUA write is NOT committed in SSD mode (seq_count unchanged; fixed in 6.12.117)" \
			$((S0 + 1)) "$(ssd_seq)"
		S1=$((S0 + 1))
	else
		check_eq "a FUA write is committed before it completes (seq_count +1)" $((S0 + 2)) "$(ssd_seq)"
		S1=$((S0 + 2))
	fi
	check "an O_DSYNC write (xfs_io -d -s: FUA, then fsync) to a new block" wc_pwrite "$WC" $((W + 9)) /tmp/w.bin 9 1 sync
	check_eq "the O_DSYNC write is committed (seq_count +1)" $((S1 + 1)) "$(ssd_seq)"
	check_eq "... with one flush (flushes +1)" $((FL0 + 1)) "$(f flushes)"

	# one multi-block bio to new blocks, then its overwrite
	A0=$(f writes_allocate)
	WR0=$(f writes)
	HU0=$(f write_hits_uncommitted)
	check "one 64 KiB bio to 16 new blocks" wc_bio "$WC" $((W + 16)) /tmp/w.bin 16 16
	info "status: $(wc_info wc)"
	check_eq "writes counts its 16 blocks" $((WR0 + 16)) "$(f writes)"
	check_eq "writes_allocate counts its 16 blocks" $((A0 + 16)) "$(f writes_allocate)"
	check_eq "16 blocks allocated (free)" $((N - 22)) "$(f free)"
	check "overwrite the 16 uncommitted blocks with one 64 KiB bio" wc_bio "$WC" $((W + 16)) /tmp/w.bin 32 16
	info "status: $(wc_info wc)"
	check_eq "writes counts 16 more blocks" $((WR0 + 32)) "$(f writes)"
	HU1=$(f write_hits_uncommitted)
	check "write_hits_uncommitted grows ($HU0 -> $HU1; upstream counts one per contiguous run)" \
		test "$HU1" -gt "$HU0" -a "$HU1" -le $((HU0 + 16))
	check_eq "no allocation (free unchanged)" $((N - 22)) "$(f free)"
	if wc_stock_61; then
		check_eq "stock 6.1: the overwrite adds n-1 per run to writes_allocate (quirk fixed in 6.12.117)" \
			$((A0 + 16 + 15 * (HU1 - HU0))) "$(f writes_allocate)"
	else
		check_eq "the overwrite allocates nothing (writes_allocate unchanged)" $((A0 + 16)) "$(f writes_allocate)"
	fi
	check_eq "the 16 blocks read the newest data" "$(md5_file /tmp/w.bin 32 16)" "$(md5_range "$WC" $((W + 16)) 16)"
	check "fsync" xfs_io -c fsync "$WC"
	check "on the SSD, the committed metadata maps the 4 overwritten blocks to cache blocks holding their data" \
		ssd_media_check "$S" "$SS" $W /tmp/w.bin 4 4
	check "... the FUA block $((W + 8)) is committed on the SSD" ssd_media_has "$S" "$SS" $((W + 8))
	check "... (the O_DSYNC block $((W + 9)))" ssd_media_check "$S" "$SS" $((W + 9)) /tmp/w.bin 9 1
	check "... (the 16 blocks of the multi-block bio)" ssd_media_check "$S" "$SS" $((W + 16)) /tmp/w.bin 32 16
	check_eq "the origin still holds zeros (nothing written back)" "$(zmd5 32)" "$(md5_range "$O" $W 32)"
	check "flush" dmsetup message wc 0 flush
	check "after flush: free == n_blocks, no error" wc_cond wc '$1 == 0 && $3 == $2 && $4 == 0'
	check_eq "on the origin: the 4 overwritten blocks" "$(md5_file /tmp/w.bin 4 4)" "$(md5_range "$O" $W 4)"
	check_eq "on the origin: the O_DSYNC block" "$(md5_file /tmp/w.bin 9 1)" "$(md5_range "$O" $((W + 9)) 1)"
	check_eq "on the origin: the 16 blocks" "$(md5_file /tmp/w.bin 32 16)" "$(md5_range "$O" $((W + 16)) 16)"
fi
check "commits: remove" rmwc
check "the FUA block verifies on the bare origin" \
	fio_verify "$O" 4k --rw=write --bs=4k --offset=$(((W + 8) * 4096)) --verify_only
check "unload $WC_MODULE" unload_wc
finish
