#!/bin/sh
# Every optional table argument valid in SSD mode, and every message, with
# its observable effect, against the module chosen by harness.wc=stock|ours
# (tests/vm/wc-select.sh; helpers in tests/vm/ssd-lib.sh).  The cache is
# small (4 MiB at the end of the SSD through start_sector, ~1020 blocks) so
# that watermarks are reached with little I/O.
#
# Observed through `dmsetup status` unless noted:
#  - the TABLE line: all 18 SSD option words in canonical order whatever
#    the input order, and the printed line creates the same table again;
#    the defaults print "s ORIGIN CACHE 4096 0"; fua and nofua (pmem only)
#    are refused in SSD mode with "Invalid optional argument", as stock does;
#  - start_sector: n_blocks follows from the area after it, the superblock
#    (magic, version, block size, n_blocks) is at that sector on the SSD,
#    and the SSD before it is untouched;
#  - high_watermark/low_watermark: no writeback below the high watermark;
#    one block more and writeback runs on its own until free is just above
#    the low watermark; with high_watermark 100 nothing is written back;
#  - writeback (tracefs block events on the origin): SSD-mode writeback
#    writes are plain writes followed by an empty PREFLUSH to the origin;
#    writeback_jobs 1 keeps at most one writeback write in flight, the
#    default more;
#  - autocommit_blocks / autocommit_time: commits counted with the
#    superblock's seq_count read from the SSD: the SSD default (65536) does
#    not commit 200 new blocks; 16 commits every 16 new blocks; 0 commits
#    after a single write; autocommit_time commits after that time;
#  - max_age 2000: written back without any flush, not before ~15/16 of it;
#  - cleaner in the table: the cache empties, new writes go around;
#  - metadata_only: non-REQ_META writes to uncached blocks go around, a
#    cached block is updated in place in the cache, XFS metadata (REQ_META)
#    is cached;
#  - pause_writeback: once the cache is full (high_watermark 100), writeback
#    waits until the origin has seen no redirected write for the pause:
#    while writes keep going around it stays paused, then it runs; the
#    empty flush bio sent to the origin by an fsync counts as such a write
#    (upstream, reference section 12.2); with pause_writeback 0 it starts
#    at once;
#  - messages: flush is synchronous, case-insensitive, rejects an extra
#    word and fails with EBUSY while suspended; flush_on_suspend writes
#    everything back at the next suspend only once; clear_stats zeroes
#    fields 5-14 only; cleaner empties the cache, sends new writes around
#    and is not shown in the table; an unknown message fails and logs
#    "unrecognised message received"; no message changes the TABLE line.
# If tracefs cannot be mounted the writeback bio checks are skipped with a
# message.
. /tests/lib.sh
. /tests/wc-select.sh
[ -f /tests/ssd-lib.sh ] || { fail "/tests/ssd-lib.sh" "missing (vm-run ships tests/vm/*-lib.sh)"; finish; }
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
OSZ=$(dev_sectors "$O")
WC=/dev/mapper/wc
ssd_small_setup $((4 << 20))
SS=$WC_SS
ODEV=$(cat "/sys/block/$(basename "$O")/dev")
SDEV=$(cat "/sys/block/$(basename "$S")/dev")
dd if=/dev/urandom of=/tmp/d.bin bs=4096 count=1100 2>/dev/null
f() { wc_field wc "$1"; } # f FIELD: wc_field wc FIELD
el_ms() { echo $((($(now_cs) - $1) * 10)); } # ms since a now_cs value
tbl() { dmsetup table wc | cut -d' ' -f4-; }
# dmesg_count TEXT: kernel log lines containing TEXT so far
dmesg_count() { dmesg | grep -c -F "$1"; }

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "zero the origin's first 192 MiB (all regions used here)" \
	dd if=/dev/zero of="$O" bs=1M count=192 oflag=direct conv=fsync

# ================= table: canonical order, round trip, fua/nofua ============
IN="pause_writeback 12 metadata_only cleaner max_age 11 autocommit_time 10 autocommit_blocks 9 writeback_jobs 7 low_watermark 40 high_watermark 60 start_sector $SS"
WANT="s $ODEV $SDEV 4096 18 start_sector $SS high_watermark 60 low_watermark 40 writeback_jobs 7 autocommit_blocks 9 autocommit_time 10 max_age 11 cleaner metadata_only pause_writeback 12"
wc_zero_at "$S" "$SS"
if check "create with all 18 SSD option words, scrambled order" dm_create wc "0 $OSZ writecache s $O $S 4096 18 $IN"; then
	check_eq "table lists the options in canonical order" "$WANT" "$(tbl)"
	GOT=$(tbl)
	check "remove" dm_remove wc
	check "create again from the printed table line" dm_create wc "0 $OSZ writecache $GOT"
	check_eq "the printed table line round-trips" "$WANT" "$(tbl)"
fi
check "remove" rmwc
zero_sb "$S"
if check "create with no options" dm_create wc "$(wc_table s "$O" "$S" 4096 0)"; then
	check_eq "table without options" "s $ODEV $SDEV 4096 0" "$(tbl)"
fi
check "remove" rmwc
for OPT in fua nofua FUA; do
	wc_zero_at "$S" "$SS"
	D0=$(dmesg_count "writecache: Invalid optional argument")
	check_fails "$OPT (pmem only) is refused in SSD mode" \
		dm_create wc "0 $OSZ writecache s $O $S 4096 3 start_sector $SS $OPT"
	check_eq "... with \"Invalid optional argument\" in the kernel log" $((D0 + 1)) \
		"$(dmesg_count "writecache: Invalid optional argument")"
	rmwc
done

# ================= start_sector ===========================================
dd if=/dev/urandom of=/tmp/head.bin bs=4096 count=4 2>/dev/null
check "write a marker at the start of the SSD" dd if=/tmp/head.bin of="$S" bs=4096 count=4 oflag=direct conv=fsync
if check "start_sector: create" mkwcs; then
	N=$(f n_blocks)
	check_eq "n_blocks follows from the area after start_sector" "$WC_NEXP" "$N"
	check_eq "table shows start_sector" "s $ODEV $SDEV 4096 2 start_sector $SS" "$(tbl)"
	check_eq "superblock magic at start_sector" 23489321 "$(wc_sb "$S" "$SS" magic)"
	check_eq "superblock version" 1 "$(wc_sb "$S" "$SS" version)"
	check_eq "superblock block_size" 4096 "$(wc_sb "$S" "$SS" block_size)"
	check_eq "superblock n_blocks" "$N" "$(wc_sb "$S" "$SS" n_blocks)"
	check "write 256 blocks" wc_pwrite "$WC" 0 /tmp/d.bin 0 256
	check "flush" dmsetup message wc 0 flush
	check_eq "the SSD before start_sector is untouched" \
		"$(md5_file /tmp/head.bin 0 4)" "$(md5_range "$S" 0 4)"
	check_eq "the flushed data is on the origin" "$(md5_file /tmp/d.bin 0 256)" "$(md5_range "$O" 0 256)"
fi
check "start_sector: remove" rmwc

# ================= high/low watermark =====================================
if check "watermarks: create (high_watermark 50 low_watermark 30)" mkwcs high_watermark 50 low_watermark 30; then
	N=$(f n_blocks)
	check_eq "table" "s $ODEV $SDEV 4096 6 start_sector $SS high_watermark 50 low_watermark 30" "$(tbl)"
	HIGHF=$(((N * 50 + 50) / 100)) # free blocks at the high watermark
	LOWF=$(((N * 70 + 50) / 100))  # free blocks at the low watermark
	info "n_blocks $N: writeback starts at free <= $HIGHF, stops at free > $LOWF"
	# Every other block (no contiguous runs for writeback to extend), and
	# the writer stops before writeback starts, so where writeback stops
	# depends on the watermarks only.
	K=$((N - HIGHF - 1))
	check "write $K scattered blocks (free stays above the high watermark)" \
		fio_verify "$WC" 64M --rw=write:4k --offset=0 --io_size=$((K * 4))k
	sleep 3
	check "below the high watermark nothing is written back (3 s later free == n_blocks - $K)" \
		wc_cond wc "\$3 == $N - $K && \$4 == 0"
	check "write 1 more block: free reaches the high watermark, no flush" \
		wc_pwrite "$WC" 20000 /tmp/d.bin 0 1
	check "writeback runs on its own: free rises above the low watermark within 20 s" \
		wc_poll 20 wc_cond wc "\$3 > $LOWF && \$4 == 0"
	info "free after writeback: $(f free) (low watermark: $LOWF free)"
	check "writeback stops just above the low watermark (free <= $LOWF + 8)" \
		wc_cond wc "\$3 <= $LOWF + 8"
	check "the data verifies" fio_verify "$WC" 64M --rw=write:4k --offset=0 --io_size=$((K * 4))k --verify_only
	check "flush" dmsetup message wc 0 flush
fi
check "watermarks: remove" rmwc
if check "watermarks: create (high_watermark 100 low_watermark 30)" mkwcs high_watermark 100 low_watermark 30; then
	N=$(f n_blocks)
	check "write 700 random blocks, no flush" \
		fio_verify "$WC" 64M --offset=0 --io_size=2800k
	sleep 3
	check "high_watermark 100: nothing written back (3 s later free == n_blocks - 700)" \
		wc_cond wc "\$3 == $N - 700 && \$4 == 0"
	check "flush" dmsetup message wc 0 flush
fi
check "watermarks: remove" rmwc

# ================= writeback bios, writeback_jobs (tracefs) ================
TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null
TRDEV=$(echo "$ODEV" | tr ':' ',')
# traced CMD...: run CMD with block_bio_queue, block_rq_issue and
# block_rq_complete traced; the origin's lines end up in /tmp/trace.
traced() {
	echo 0 >$TR/tracing_on
	echo >$TR/trace
	for _e in block_bio_queue block_rq_issue block_rq_complete; do
		echo 1 >$TR/events/block/$_e/enable
	done
	echo 1 >$TR/tracing_on
	"$@"
	_r=$?
	echo 0 >$TR/tracing_on
	for _e in block_bio_queue block_rq_issue block_rq_complete; do
		echo 0 >$TR/events/block/$_e/enable
	done
	grep " $TRDEV " $TR/trace >/tmp/trace
	return $_r
}
# count_bios fua|plain|preflush: bios queued to the origin that are data
# writes with FUA (rwbs W...F...), data writes without FUA, or empty
# PREFLUSH bios (rwbs starting with F).
count_bios() {
	awk -v want="$1" '/block_bio_queue:/ {
		for (i = 1; i <= NF; i++) if ($i == "+") { n = $(i + 1); break }
		for (j = 1; j <= NF; j++) if ($j == "block_bio_queue:") { rwbs = $(j + 2); break }
		if (want == "fua" && n > 0 && rwbs ~ /^W.*F/) c++
		if (want == "plain" && n > 0 && rwbs ~ /^W/ && rwbs !~ /^W.*F/) c++
		if (want == "preflush" && n == 0 && rwbs ~ /^F/) c++
	} END { print c + 0 }' /tmp/trace
}
# max_inflight: the most data requests (writes) in flight at the origin.
max_inflight() {
	awk '/block_rq_issue:|block_rq_complete:/ {
		for (i = 1; i <= NF; i++) if ($i == "+") { n = $(i + 1); break }
		if (n == 0) next
		if ($0 ~ /block_rq_issue:/) { cur++; if (cur > max) max = cur } else if (cur > 0) cur--
	} END { print max + 0 }' /tmp/trace
}
if [ -w $TR/tracing_on ] && [ -d $TR/events/block/block_bio_queue ]; then
	# 64 scattered blocks, written back by the flush message
	MAXJ_default=
	MAXJ_1=
	for J in default 1; do
		if [ $J = default ]; then set --; else set -- writeback_jobs $J; fi
		if check "writeback_jobs $J: create" mkwcs "$@"; then
			[ $J = 1 ] && check_eq "table shows writeback_jobs 1" \
				"s $ODEV $SDEV 4096 4 start_sector $SS writeback_jobs 1" "$(tbl)"
			check "writeback_jobs $J: 64 scattered blocks" \
				fio_verify "$WC" 64M --offset=128M --io_size=256k
			check "writeback_jobs $J: flush (traced)" traced dmsetup message wc 0 flush
			info "writeback_jobs $J: origin bios: $(awk '/block_bio_queue:/ { sub(/.*block_bio_queue: /, ""); printf "%s; ", $0 }' /tmp/trace | cut -c1-600)..."
			eval "MAXJ_$J=$(max_inflight)"
			check "writeback_jobs $J: writeback writes to the origin are plain writes ($(count_bios plain))" \
				test "$(count_bios plain)" -gt 0
			check_eq "writeback_jobs $J: none carries FUA" 0 "$(count_bios fua)"
			check "writeback_jobs $J: the origin gets an empty PREFLUSH ($(count_bios preflush))" \
				test "$(count_bios preflush)" -gt 0
			check "writeback_jobs $J: data on the origin" \
				fio_verify "$O" 64M --offset=128M --io_size=256k --verify_only
		fi
		check "remove" rmwc
	done
	info "most writeback requests in flight at the origin: default $MAXJ_default, writeback_jobs 1: $MAXJ_1"
	check "without writeback_jobs, several writeback requests are in flight ($MAXJ_default > 1)" \
		test "${MAXJ_default:-0}" -gt 1
	check "writeback_jobs 1: at most one writeback request in flight ($MAXJ_1)" \
		test "${MAXJ_1:-99}" -le 1
else
	info "SKIP writeback bio and writeback_jobs effects: tracefs or block tracepoints not available"
fi

# ================= autocommit_blocks / autocommit_time ====================
if check "default autocommit_blocks (SSD: 65536): create (autocommit_time 3600000)" mkwcs autocommit_time 3600000; then
	S0=$(ssd_seq)
	check "write 200 new blocks, no flush" wc_pwrite "$WC" 3000 /tmp/d.bin 0 200
	sleep 1
	check_eq "SSD default: 200 new blocks do not commit (seq_count)" "$S0" "$(ssd_seq)"
fi
check "remove" rmwc
if check "autocommit_blocks 16: create (autocommit_time 3600000)" mkwcs autocommit_blocks 16 autocommit_time 3600000; then
	check_eq "table" "s $ODEV $SDEV 4096 6 start_sector $SS autocommit_blocks 16 autocommit_time 3600000" "$(tbl)"
	S0=$(ssd_seq)
	check "write 15 new blocks" wc_pwrite "$WC" 3000 /tmp/d.bin 0 15
	sleep 1
	check_eq "15 new blocks: no commit (seq_count)" "$S0" "$(ssd_seq)"
	check "write the 16th" wc_pwrite "$WC" 3015 /tmp/d.bin 15 1
	check "16 new blocks: one commit (seq_count +1 within 10 s)" wc_poll 10 seq_is $((S0 + 1))
	check "write 16 more" wc_pwrite "$WC" 3016 /tmp/d.bin 16 16
	check "32 new blocks: two commits (seq_count +2 within 10 s)" wc_poll 10 seq_is $((S0 + 2))
	check "fsync" xfs_io -c fsync "$WC"
	check_eq "a flush with nothing uncommitted does not commit (seq_count +2)" $((S0 + 2)) "$(ssd_seq)"
	check "write 1 block, then fsync" wc_pwrite "$WC" 3100 /tmp/d.bin 0 1 fsync
	check_eq "a flush commits the uncommitted block (seq_count +3)" $((S0 + 3)) "$(ssd_seq)"
fi
check "autocommit_blocks 16: remove" rmwc
if check "autocommit_blocks 0: create (autocommit_time 3600000)" mkwcs autocommit_blocks 0 autocommit_time 3600000; then
	S0=$(ssd_seq)
	check "write 1 block, no flush" wc_pwrite "$WC" 3000 /tmp/d.bin 0 1
	check "autocommit_blocks 0: a single write commits (seq_count +1 within 10 s)" wc_poll 10 seq_is $((S0 + 1))
	check "write 8 more, no flush" wc_pwrite "$WC" 3001 /tmp/d.bin 1 8
	check "autocommit_blocks 0: committed again without a flush (seq_count > $((S0 + 1)) within 10 s)" \
		wc_poll 10 seq_ge $((S0 + 2))
	S2=$(ssd_seq)
	check "... at most one commit per write (seq_count $S2 <= $((S0 + 9)))" test "$S2" -le $((S0 + 9))
	check_eq "the 9 blocks read back" "$(md5_file /tmp/d.bin 0 9)" "$(md5_range "$WC" 3000 9)"
fi
check "autocommit_blocks 0: remove" rmwc
if check "autocommit_time 1500: create (autocommit_blocks 100000)" mkwcs autocommit_blocks 100000 autocommit_time 1500; then
	S0=$(ssd_seq)
	T0=$(now_cs)
	check "write 8 blocks, no flush" wc_pwrite "$WC" 3000 /tmp/d.bin 0 8
	SQ=$(ssd_seq)
	E=$(el_ms "$T0")
	if [ "$E" -lt 1200 ]; then
		check_eq "autocommit_time: no commit yet ($E ms after the write)" "$S0" "$SQ"
	else
		info "seq_count read $E ms after the write (TCG slow): no early-commit check"
	fi
	check "autocommit_time: committed without a flush within 20 s" wc_poll 20 seq_is $((S0 + 1))
	E=$(el_ms "$T0")
	check "autocommit_time: not before 1500 ms (committed after $E ms >= 1400)" test "$E" -ge 1400
	sleep 2
	check_eq "no further commits without writes" $((S0 + 1)) "$(ssd_seq)"
fi
check "autocommit_time: remove" rmwc

# ================= max_age ===============================================
if check "max_age: create (max_age 2000)" mkwcs max_age 2000; then
	N=$(f n_blocks)
	check_eq "table" "s $ODEV $SDEV 4096 4 start_sector $SS max_age 2000" "$(tbl)"
	T0=$(now_cs)
	check "write 64 blocks, no flush" wc_pwrite "$WC" 2000 /tmp/d.bin 0 64
	F=$(f free)
	E=$(el_ms "$T0")
	if [ "$E" -lt 1500 ]; then
		check_eq "max_age: not written back at once (free after $E ms)" $((N - 64)) "$F"
	else
		info "status read $E ms after the write (TCG slow): no early-writeback check"
	fi
	check "max_age: written back without a flush within 20 s" wc_poll 20 wc_cond wc '$3 == $2 && $4 == 0'
	E=$(el_ms "$T0")
	check "max_age: not before ~15/16 of max_age (clean after $E ms >= 1800)" test "$E" -ge 1800
	check_eq "max_age: the data is on the origin" "$(md5_file /tmp/d.bin 0 64)" "$(md5_range "$O" 2000 64)"
fi
check "max_age: remove" rmwc

# ================= cleaner in the table ====================================
if check "cleaner: create without cleaner" mkwcs; then
	N=$(f n_blocks)
	check "write 200 blocks and fsync" wc_pwrite "$WC" 1000 /tmp/d.bin 0 200 fsync
	check "200 blocks cached" wc_cond wc "\$3 == $N - 200"
	check "reload with cleaner in the table" reload_wc "$(ssd_table cleaner)"
	check_eq "table shows cleaner" "s $ODEV $SDEV 4096 3 start_sector $SS cleaner" "$(tbl)"
	check "cleaner: the cache empties within 20 s" wc_poll 20 wc_cond wc '$3 == $2 && $4 == 0'
	check_eq "cleaner: the data is on the origin" "$(md5_file /tmp/d.bin 0 200)" "$(md5_range "$O" 1000 200)"
	A0=$(f writes_around)
	check "write 32 new blocks" wc_pwrite "$WC" 1300 /tmp/d.bin 0 32
	check_eq "cleaner: new writes go around (writes_around +32)" $((A0 + 32)) "$(f writes_around)"
	check_eq "cleaner: free stays n_blocks" "$N" "$(f free)"
	check_eq "cleaner: the written-around data is on the origin" "$(md5_file /tmp/d.bin 0 32)" "$(md5_range "$O" 1300 32)"
fi
check "cleaner: remove" rmwc

# ================= metadata_only ==========================================
X=5000
if check "metadata_only: create without it" mkwcs; then
	N=$(f n_blocks)
	check "cache block $X (write + fsync)" wc_pwrite "$WC" $X /tmp/d.bin 0 1 fsync
	check "reload with metadata_only" reload_wc "$(ssd_table metadata_only)"
	check_eq "table shows metadata_only" "s $ODEV $SDEV 4096 3 start_sector $SS metadata_only" "$(tbl)"
	check "block $X is still cached" wc_cond wc "\$3 == $N - 1"
	A0=$(f writes_around)
	check "write 64 uncached blocks" wc_pwrite "$WC" 6000 /tmp/d.bin 0 64
	check_eq "metadata_only: uncached writes go around (writes_around +64)" $((A0 + 64)) "$(f writes_around)"
	check_eq "metadata_only: free unchanged" $((N - 1)) "$(f free)"
	check_eq "metadata_only: the written-around data is on the origin" "$(md5_file /tmp/d.bin 0 64)" "$(md5_range "$O" 6000 64)"
	check "overwrite the cached block $X" wc_pwrite "$WC" $X /tmp/d.bin 1 1
	check_eq "metadata_only: a cached block is updated in the cache (writes_around unchanged)" \
		$((A0 + 64)) "$(f writes_around)"
	check_eq "... as a committed hit" 1 "$(f write_hits_committed)"
	check_eq "... in place (free unchanged)" $((N - 1)) "$(f free)"
	check_eq "block $X reads the new data" "$(md5_file /tmp/d.bin 1 1)" "$(md5_range "$WC" $X 1)"
	check_eq "the origin still holds zeros at block $X (no version of it written back)" \
		"$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" "$(md5_range "$O" $X 1)"

	# filesystem metadata is REQ_META: XFS caches its log/metadata writes
	check "flush" dmsetup message wc 0 flush
	W0=$(f writes_allocate)
	A1=$(f writes_around)
	mkdir -p /mnt/wcmeta
	check "mkfs.xfs through metadata_only" mkfs.xfs -f -K -q "$WC"
	check "mount, write a 1 MiB file, umount" sh -c \
		"mount $WC /mnt/wcmeta && dd if=/dev/urandom of=/mnt/wcmeta/f bs=65536 count=16 2>/dev/null && umount /mnt/wcmeta"
	info "status: $(wc_info wc)"
	check "XFS metadata (REQ_META) is cached (writes_allocate grows: $W0 -> $(f writes_allocate))" \
		test "$(f writes_allocate)" -gt "$W0"
	check "mkfs and file data go around (writes_around grows by > 16384 blocks)" \
		test "$(f writes_around)" -gt $((A1 + 16384))
	check "xfs_repair -n" xfs_repair -n "$WC"
	check "no error" wc_cond wc '$1 == 0'
fi
check "metadata_only: remove" rmwc

# ================= pause_writeback ========================================
P=20480 # fill region (a cache full) at 80 MiB; written-around blocks after it
# fill_full: N-1 blocks and an fsync (its second flush bio goes to the
# origin), then the last free block (free 0: the high watermark 100 is
# reached and writeback is queued).
fill_full() {
	check "fill all but one block, then fsync" wc_pwrite "$WC" $P /tmp/d.bin 0 $((N - 1)) fsync &&
		check "write the last free block" wc_pwrite "$WC" $((P + N - 1)) /tmp/d.bin $((N - 1)) 1
}
if check "pause_writeback 5000: create (high_watermark 100 low_watermark 50)" \
	mkwcs high_watermark 100 low_watermark 50 pause_writeback 5000; then
	N=$(f n_blocks)
	check_eq "table" "s $ODEV $SDEV 4096 8 start_sector $SS high_watermark 100 low_watermark 50 pause_writeback 5000" "$(tbl)"
	if fill_full; then
		check "the fsync's origin flush bio holds writeback back (reference 12.2): full, nothing under writeback" \
			wc_cond wc '$3 == 0 && $4 == 0'
		# write around one uncached block every 0.5 s for 7 s (longer than
		# the pause): each one restarts the pause
		T0=$(now_cs)
		I=0
		T1=$T0
		while [ "$(el_ms "$T0")" -lt 7000 ]; do
			wc_pwrite "$WC" $((P + N + I)) /tmp/d.bin $I 1 || break
			T1=$(now_cs)
			I=$((I + 1))
			sleep 0.5
		done
		info "$I blocks written around in $(el_ms "$T0") ms; status: $(wc_info wc)"
		check_eq "while blocks keep going around, writeback stays paused: every one went around (writes_around)" \
			"$I" "$(f writes_around)"
		check "... and no block was freed (free 0, writeback 0, writes_blocked_on_freelist 0)" \
			wc_cond wc '$3 == 0 && $4 == 0 && $12 == 0'
		check "once the origin is idle, writeback runs: free rises within 20 s" \
			wc_poll 20 wc_cond wc '$3 > 0'
		E=$(el_ms "$T1")
		check "... not before the pause (first block freed $E ms after the last write-around >= 4500)" \
			test "$E" -ge 4500
		check "writeback goes on to the low watermark (free > n_blocks / 2 - 8 within 20 s)" \
			wc_poll 20 wc_cond wc "\$3 > $N / 2 - 8 && \$4 == 0"
		check_eq "the written-around blocks are on the origin" "$(md5_file /tmp/d.bin 0 "$I")" \
			"$(md5_range "$O" $((P + N)) "$I")"
		check "flush (not paused)" dmsetup message wc 0 flush
		check "after flush: free == n_blocks" wc_cond wc '$3 == $2 && $4 == 0'
		check_eq "the fill is on the origin" "$(md5_file /tmp/d.bin 0 "$N")" "$(md5_range "$O" $P "$N")"
	fi
fi
check "pause_writeback 5000: remove" rmwc
if check "pause_writeback 0: create (high_watermark 100 low_watermark 50)" \
	mkwcs high_watermark 100 low_watermark 50 pause_writeback 0; then
	N=$(f n_blocks)
	check_eq "table" "s $ODEV $SDEV 4096 8 start_sector $SS high_watermark 100 low_watermark 50 pause_writeback 0" "$(tbl)"
	if fill_full; then
		check "pause_writeback 0: writeback starts at once after the origin flush (free > 0 within 3 s)" \
			wc_poll 3 wc_cond wc '$3 > 0'
		check "writeback goes on to the low watermark (free > n_blocks / 2 - 8 within 20 s)" \
			wc_poll 20 wc_cond wc "\$3 > $N / 2 - 8 && \$4 == 0"
	fi
	check "flush" dmsetup message wc 0 flush
fi
check "pause_writeback 0: remove" rmwc

# ================= messages ==================================================
M=30000 # message tests write from block 30000 (117 MiB) on
dd if=/dev/urandom of=/tmp/m.bin bs=4096 count=200 2>/dev/null
# msg_fails_busy: "dmsetup message wc 0 flush" fails with EBUSY.
msg_fails_busy() {
	if dmsetup message wc 0 flush >/tmp/msg.out 2>&1; then
		echo "message succeeded"
		return 1
	fi
	cat /tmp/msg.out
	grep -qi 'busy' /tmp/msg.out
}
if check "messages: create" mkwcs; then
	N=$(f n_blocks)
	T=$(tbl)
	check_eq "table" "s $ODEV $SDEV 4096 2 start_sector $SS" "$T"

	# flush
	check "write 200 blocks (no flush)" wc_pwrite "$WC" $M /tmp/m.bin 0 200
	check "200 blocks cached" wc_cond wc "\$3 == $N - 200"
	check "message flush" dmsetup message wc 0 flush
	check "flush is synchronous: on return free == n_blocks, writeback 0" wc_cond wc '$3 == $2 && $4 == 0'
	check_eq "flushed data is on the origin" "$(md5_file /tmp/m.bin 0 200)" "$(md5_range "$O" $M 200)"
	check_eq "flush: TABLE line unchanged" "$T" "$(tbl)"
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
	check_eq "flush_on_suspend: TABLE line unchanged" "$T" "$(tbl)"
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
	FREE=$(f free)
	check "message clear_stats" dmsetup message wc 0 clear_stats
	info "status after clear_stats: $(wc_info wc)"
	check "clear_stats: fields 5-14 are 0" \
		wc_cond wc '$5 == 0 && $6 == 0 && $7 == 0 && $8 == 0 && $9 == 0 && $10 == 0 && $11 == 0 && $12 == 0 && $13 == 0 && $14 == 0'
	check "clear_stats: error, n_blocks, free, writeback untouched" \
		wc_cond wc "\$1 == 0 && \$2 == $N && \$3 == $FREE && \$4 == 0"
	check_eq "clear_stats: TABLE line unchanged" "$T" "$(tbl)"

	# unknown message
	check_fails "an unknown message fails" dmsetup message wc 0 bogus_message
	check "dmesg: unrecognised message received: bogus_message" \
		sh -c 'dmesg | grep "unrecognised message received: bogus_message"'

	# cleaner
	check "write 100 blocks" wc_pwrite "$WC" $((M + 700)) /tmp/m.bin 0 100
	check "message cleaner" dmsetup message wc 0 cleaner
	check "cleaner: the cache empties (free == n_blocks within 20 s)" \
		wc_poll 20 wc_cond wc '$3 == $2 && $4 == 0'
	check_eq "cleaner: the data is on the origin" "$(md5_file /tmp/m.bin 0 100)" "$(md5_range "$O" $((M + 700)) 100)"
	A0=$(f writes_around)
	check "write 32 new blocks under cleaner" wc_pwrite "$WC" $((M + 900)) /tmp/m.bin 0 32
	info "status: $(wc_info wc)"
	check_eq "cleaner: new writes go around (writes_around +32)" $((A0 + 32)) "$(f writes_around)"
	check_eq "cleaner: free stays n_blocks" "$N" "$(f free)"
	check_eq "cleaner: the written-around data is on the origin" \
		"$(md5_file /tmp/m.bin 0 32)" "$(md5_range "$O" $((M + 900)) 32)"
	check_eq "a cleaner enabled by message is not in the TABLE line" "$T" "$(tbl)"
	check "reload the table (turns cleaner off)" reload_wc "$TABLE"
	check "write 16 blocks" wc_pwrite "$WC" $((M + 1000)) /tmp/m.bin 0 16
	check "after the reload new writes are cached again (free == n_blocks - 16)" wc_cond wc "\$3 == $N - 16"
	check "messages: flush" dmsetup message wc 0 flush
	check "messages: no error" wc_cond wc '$1 == 0'
fi
check "messages: remove" rmwc
check "unload $WC_MODULE" unload_wc
finish
