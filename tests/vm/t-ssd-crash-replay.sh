#!/bin/sh
# t-ssd-crash-replay.sh: crash consistency of SSD mode, checked at the
# durability points of a real run, through dm-log-writes.
#
# Needs the tools of tests/crash-replay in /tests (scripts/crash-replay.sh
# builds them and passes them with --extra).  Runs against the module that
# harness.wc selects (wc-select.sh).
#
# 1. One log for cache and origin: a log-writes device "lw" over a region
#    of the SSD disk, with the cache and the origin carved out of it, so
#    every write of both lands in one total order.  The cache's data area
#    goes through dm-delay (writes held DELAY_MS), so data writes are still
#    in flight when commits run.  The writecache (small cache, low
#    watermarks, small autocommit) sits on the carve-outs.
# 2. wc-crashload writes tagged blocks from several threads (async, FUA,
#    O_DSYNC, fdatasync, discards, overwrites) and, after every durability
#    acknowledgement, puts a mark in the log and a promise in its journal.
# 3. wc-logreplay replays the log in memory and, at each FLUSH or FUA
#    entry, writes the pessimistic crash state ("durable": the last flush
#    plus later FUA writes) into two tmpfs images behind loop devices; this
#    script, called back with --checkpoint, builds the writecache on them
#    with the same table and runs wc-crashcheck: every acknowledged block
#    holds its acknowledged version or a newer one written before that
#    point, and no block holds data never written to it.
# 4. Negative control: the same replay with one cache data write per flush
#    group delivered one flush late (what a commit that flushes before its
#    data writes complete leaves behind) must fail a check.
#
# The cache starts as poison (the workload never writes poison), the
# origin as version-0 tags, so a committed cache entry whose data never
# reached the cache shows as poison.
#
# Options (--append): harness.seed=N harness.ops=N (per thread)
# harness.threads=N harness.think_ms=N harness.delay_ms=N (0: no dm-delay)
# harness.max_checks=N (default 150, 0: every checkpoint) harness.strict=1.
. /tests/lib.sh

TOOLS=/tests
CACHE_MB=1
ORIGIN_MB=8
CS=$((CACHE_MB * 2048)) # sectors
OS=$((ORIGIN_MB * 2048))
COMBO=$((CS + OS))
# Commits and writeback both happen during the run; the cache fills.
WC_OPTS="high_watermark 50 low_watermark 25 autocommit_blocks 32 autocommit_time 100"
NOPT=$(echo "$WC_OPTS" | wc -w)
CIMG=/tmp/wcr-cache.img
OIMG=/tmp/wcr-origin.img
JOURNAL=/tmp/wcr-journal
CHECKLOG=/tmp/wcr-checks.log
KNOWNLOG=/tmp/wcr-known.log
# Stock 6.12 (and 6.1) SSD mode: a multi-block write allocates entries for
# its later blocks without looking for an uncommitted entry of the same
# block (writecache_bio_copy_ssd), so two entries of one sector get the same
# seq_count; the commit frees the older one only after the superblock
# write, and a crash between the two loads as "two identical entries"
# with the cache in error state.
KNOWN_UPSTREAM="duplicate uncommitted entries from multi-block writes (writecache_bio_copy_ssd)"

# --- one checkpoint (called by wc-logreplay walk) -----------------------------
# The images hold the crash state, the loop devices expose them.  A state
# that loads with the writecache in error state fails the check; against
# the stock module that is counted as the upstream bug described above
# KNOWN_UPSTREAM (not a failure) unless harness.strict=1.
checkpoint() {
	tag="check $WCLR_CHECK entry $WCLR_ENTRY $WCLR_FLAGS $WCLR_MODE"
	if ! dmsetup create wcr --table "$WCR_TABLE" >/tmp/wcr.err 2>&1; then
		echo "$tag: creating the writecache failed: $(cat /tmp/wcr.err)"
		return 3
	fi
	[ -b /dev/mapper/wcr ] || dmsetup mknodes wcr >/dev/null 2>&1
	err=$(dmsetup status wcr | cut -d' ' -f4)
	$TOOLS/wc-crashcheck --dev /dev/mapper/wcr --journal "$JOURNAL" \
		--last-mark "$WCLR_LAST_MARK" --next-mark "$WCLR_NEXT_MARK" \
		--label "$tag" >/tmp/wcr.out 2>&1
	rc=$?
	tail -n 1 /tmp/wcr.out >>"$CHECKLOG"
	if [ "$err" != 0 ]; then
		why="writecache error $err on load: $(dmesg | grep 'writecache:' | tail -n 1 | sed 's/^\[[^]]*\] //')"
		if [ "$WC_UNDER_TEST" = stock ] && [ "$STRICT" != 1 ] &&
			echo "$why" | grep -q 'two identical entries'; then
			echo "$tag: $why; data check status $rc" >>"$KNOWNLOG"
			rc=0
		else
			echo "$tag: $why"
			[ $rc -eq 0 ] && rc=5
		fi
	fi
	[ $rc -eq 0 ] || cat /tmp/wcr.out
	dm_remove wcr || rc=4
	return $rc
}
if [ "${1:-}" = --checkpoint ]; then
	checkpoint
	exit
fi

. /tests/wc-select.sh

for t in wc-logreplay wc-crashload wc-crashcheck; do
	[ -x "$TOOLS/$t" ] || skip_all "no $TOOLS/$t (build tests/crash-replay and pass it with --extra; scripts/crash-replay.sh does both)"
done

SEED=$(harness_arg seed 1)
OPS=$(harness_arg ops 120)
THREADS=$(harness_arg threads 3)
THINK_MS=$(harness_arg think_ms 20)
DELAY_MS=$(harness_arg delay_ms 10)
# At most this many checkpoints, evenly spaced (0: all of them).  A
# check costs 0.3-0.9 s under TCG, depending on the module.
MAX_CHECKS=$(harness_arg max_checks 150)
STRICT=$(harness_arg strict 0)
LOGS=$(($(dev_sectors "$HARNESS_SSD") - COMBO))
# The cache's data area starts after the superblock and entries, rounded
# to the block size (upstream's layout, which ours shares).
NB=$(wc_nblocks_for $((CS * 512)) 4096)
DATA_OFF=$(((64 + 16 * NB + 4095) / 4096 * 4096))
DS=$((DATA_OFF / 512))
LOOPC=
LOOPO=

# copy_base: the combo region starts as the base images; the log starts empty.
copy_base() {
	dd if=$CIMG of=/dev/mapper/lwdata bs=1M oflag=direct conv=fsync 2>/dev/null &&
		dd if=$OIMG of=/dev/mapper/lwdata bs=1M seek=$CACHE_MB oflag=direct conv=fsync 2>/dev/null &&
		zero_sb /dev/mapper/lwlog
}

still_logging() {
	_s=$(dmsetup status lw) || return
	echo "# log-writes: $_s"
	case "$_s" in *logging_disabled*) return 1 ;; esac
}

# cache_table: the cache carve-out.  Its data area (after the metadata
# blocks) goes through dm-delay with writes held DELAY_MS: data writes stay
# in flight while commits run, so a commit that flushes before its data
# writes complete gets caught, not just one that lost a race by chance.
cache_table() {
	if [ "$DELAY_MS" -gt 0 ]; then
		echo "0 $DS linear /dev/mapper/lw 0
$DS $((CS - DS)) delay /dev/mapper/lw $DS 0 /dev/mapper/lw $DS $DELAY_MS /dev/mapper/lw $DS 0"
	else
		echo "0 $CS linear /dev/mapper/lw 0"
	fi
}

# restore_base: the walker starts from the images' content.
restore_base() {
	dd if=$CIMG.base of=$CIMG bs=1M conv=notrunc 2>/dev/null &&
		dd if=$OIMG.base of=$OIMG bs=1M conv=notrunc 2>/dev/null
}

# log_summary: what the log holds, cache and origin writes apart.
log_summary() {
	$TOOLS/wc-logreplay info /dev/mapper/lwlog --split $((CS * 512)) >/tmp/wcr.out || return
	sed -n -e 's/^entries/# log: entries/p' \
		-e 's/^writes below byte [0-9]*: \([0-9]*\), above: \([0-9]*\)/# log: writes to the cache \1, to the origin \2/p' /tmp/wcr.out
}

attach_loops() {
	LOOPC=$(losetup -f) && losetup "$LOOPC" $CIMG &&
		LOOPO=$(losetup -f) && losetup "$LOOPO" $OIMG &&
		echo "# cache image on $LOOPC, origin image on $LOOPO"
}

cleanup() {
	for d in wcr wc wcc wco lw lwdata lwlog; do
		dmsetup info $d >/dev/null 2>&1 && dm_remove $d
	done
	[ -n "$LOOPC" ] && losetup -d "$LOOPC"
	[ -n "$LOOPO" ] && losetup -d "$LOOPO"
	rm -f $CIMG $OIMG $CIMG.base $OIMG.base $JOURNAL $CHECKLOG $KNOWNLOG /tmp/wcr.err /tmp/wcr.out
	return 0
}

info "cache ${CACHE_MB}M + origin ${ORIGIN_MB}M, log $((LOGS / 2048))M; $THREADS threads x $OPS ops, seed $SEED"
t0=$(now_cs)
check "load writecache" load_wc || finish
check "load loop" modprobe loop
check "load dm-log-writes" modprobe dm-log-writes
check "data region" dm_create lwdata "0 $COMBO linear $HARNESS_SSD 0"
check "log region" dm_create lwlog "0 $LOGS linear $HARNESS_SSD $COMBO"
check "cache image: poison" $TOOLS/wc-crashload fill poison $CIMG --bytes $((CS * 512))
check "origin image: version-0 tags" $TOOLS/wc-crashload fill origin $OIMG --bytes $((OS * 512))
check "keep the base images" sh -c "cp $CIMG $CIMG.base && cp $OIMG $OIMG.base"
check "base images onto the data region" copy_base
check "log-writes" dm_create lw "0 $COMBO log-writes /dev/mapper/lwdata /dev/mapper/lwlog"
check "cache carve-out (data area writes delayed ${DELAY_MS} ms)" dm_create wcc "$(cache_table)"
check "origin carve-out" dm_create wco "0 $OS linear /dev/mapper/lw $CS"
check "create wc (formats the cache)" \
	dm_create wc "0 $OS writecache s /dev/mapper/wco /dev/mapper/wcc 4096 $NOPT $WC_OPTS"
check "start mark" dmsetup message lw 0 mark wcstart
check "workload" $TOOLS/wc-crashload run --dev /dev/mapper/wc --logdev lw --journal $JOURNAL \
	--threads "$THREADS" --ops "$OPS" --seed "$SEED" --think-ms "$THINK_MS"
info "wc status after the workload: $(wc_info wc)"
check "remove wc" dm_remove wc
check "remove cache carve-out" dm_remove wcc
check "remove origin carve-out" dm_remove wco
check "log-writes never ran out of log space" still_logging
check "remove log-writes (logs its end mark)" dm_remove lw
t1=$(now_cs)
check "log" log_summary
check "loop devices on the images" attach_loops

export WCR_TABLE="0 $OS writecache s $LOOPO $LOOPC 4096 $NOPT $WC_OPTS"
export JOURNAL CHECKLOG KNOWNLOG WC_UNDER_TEST STRICT
: >$CHECKLOG
: >$KNOWNLOG
REPLAY_OK=0
check "replay: every FLUSH/FUA entry, durable state (+ full where it differs)" \
	$TOOLS/wc-logreplay walk --log /dev/mapper/lwlog \
	--seg 0:$CIMG --seg $((CS * 512)):$OIMG \
	--mode both --start-mark wcstart --mark-prefix wcm --final \
	--min-checks 20 --max-checks "$MAX_CHECKS" --max-failures 3 \
	--exec "sh /tests/$HARNESS_TEST --checkpoint" && REPLAY_OK=1
t2=$(now_cs)
info "last check: $(tail -n 1 $CHECKLOG)"
if [ -s $KNOWNLOG ]; then
	info "stock module: $(wc -l <$KNOWNLOG) crash states hit the upstream bug: $KNOWN_UPSTREAM"
	sed -n '1,3s/^/#   /p' $KNOWNLOG
fi

# Negative control: the checks must see what a commit that flushes before
# waiting for in-flight data leaves behind.  Meaningful only when the
# unmutated replay passed.
if [ $REPLAY_OK = 1 ]; then
	check "restore the base images" restore_base
	check "negative control: a cache data write that misses its commit's flush is caught" \
		$TOOLS/wc-logreplay walk --log /dev/mapper/lwlog \
		--seg 0:$CIMG --seg $((CS * 512)):$OIMG \
		--mode durable --start-mark wcstart --mark-prefix wcm --max-failures 1 \
		--hold-back $DATA_OFF:$((CS * 512 - DATA_OFF)) --expect-fail \
		--exec "sh /tests/$HARNESS_TEST --checkpoint"
	grep -m 3 -E '^(BAD|FAIL)' "$LIB_OUT" | sed 's/^/# caught: /'
else
	info "negative control skipped: the unmutated replay already fails"
fi
t3=$(now_cs)
info "time: workload and teardown $(((t1 - t0) / 100))s, replay and checks $(((t2 - t1) / 100))s, negative control $(((t3 - t2) / 100))s"

check "clean up" cleanup
check "unload loop" rmmod loop
check "unload writecache" unload_wc
finish
