#!/bin/sh
# Every optional table argument of a pmem-mode writecache is accepted, and
# where it has an effect the effect is observed, against the module chosen by
# harness.wc=stock|ours (tests/vm/wc-select.sh, passed with --extra).  The
# cache is small (about 4 MiB, ~1020 blocks, at the end of pmem through
# start_sector) so that watermarks are reached with little I/O.
#
# Observed through `dmsetup status` unless noted:
#  - dmsetup table prints the options in canonical order whatever the input
#    order, and the printed line creates the same table again;
#  - start_sector: n_blocks follows from the area after it, the superblock
#    (magic, version, block size, n_blocks) is at that sector on pmem, and
#    the pmem before it is untouched;
#  - high_watermark/low_watermark: no writeback below the high watermark;
#    one block more and writeback runs on its own until free is just above
#    the low watermark; with high_watermark 100 nothing is written back;
#  - cleaner in the table: the cache empties, new writes go around;
#  - max_age 2000: cached blocks are written back without any flush, not
#    before ~15/16 of max_age;
#  - autocommit_blocks / autocommit_time: commits are counted with the
#    superblock's seq_count read from pmem (one increment per commit):
#    autocommit_blocks 0 commits every write bio, 16 commits every 16 new
#    blocks, autocommit_time commits after that time without a flush;
#  - fua / nofua (default fua): with the block tracepoint block_bio_queue
#    (tracefs), writeback bios to the origin carry FUA, or are plain writes
#    followed by an empty PREFLUSH;
#  - writeback_jobs: with block_rq_issue/complete, at most 1 writeback
#    request is in flight at the origin with writeback_jobs 1, more without
#    (both with nofua);
#  - metadata_only: non-REQ_META writes to uncached blocks go around
#    (writes_around grows, free unchanged), writes to cached blocks stay in
#    the cache, a FUA write that is partly cached commits (6.12.117 fix;
#    skipped against stock 6.1), and XFS metadata (REQ_META) is cached.
# If tracefs cannot be mounted the fua/nofua/writeback_jobs effects are
# skipped with a message (the options are still checked in the table).
. /tests/lib.sh
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
OSZ=$(dev_sectors "$O")
WC=/dev/mapper/wc
wc_small_setup $((4 << 20))
SS=$WC_SS
ODEV=$(cat "/sys/block/$(basename "$O")/dev")
PDEV=$(cat "/sys/block/$(basename "$P")/dev")
dd if=/dev/urandom of=/tmp/d.bin bs=4096 count=256 2>/dev/null

seq_now() { wc_sb "$P" "$SS" seq_count; }
el_ms() { echo $((($(now_cs) - $1) * 10)); } # ms since a now_cs value

check "load $WC_UNDER_TEST writecache" load_wc || finish

# ================= table: canonical order, round trip ======================
IN="nofua max_age 60000 metadata_only autocommit_time 2000 low_watermark 40 start_sector $SS autocommit_blocks 128 cleaner writeback_jobs 256 high_watermark 60"
WANT="p $ODEV $PDEV 4096 17 start_sector $SS high_watermark 60 low_watermark 40 writeback_jobs 256 autocommit_blocks 128 autocommit_time 2000 max_age 60000 cleaner nofua metadata_only"
wc_zero_at "$P" "$SS"
if check "create with every pmem option, scrambled order" dm_create wc "0 $OSZ writecache p $O $P 4096 17 $IN"; then
	GOT=$(dmsetup table wc | cut -d' ' -f4-)
	check_eq "table lists the options in canonical order" "$WANT" "$GOT"
	check "remove" dm_remove wc
	check "create again from the printed table line" dm_create wc "0 $OSZ writecache $GOT"
	check_eq "the printed table line round-trips" "$WANT" "$(dmsetup table wc | cut -d' ' -f4-)"
fi
check "remove" rmwc
wc_zero_at "$P" "$SS"
if check "create with fua" dm_create wc "0 $OSZ writecache p $O $P 4096 3 fua start_sector $SS"; then
	check_eq "table shows fua after start_sector" "p $ODEV $PDEV 4096 3 start_sector $SS fua" \
		"$(dmsetup table wc | cut -d' ' -f4-)"
fi
check "remove" rmwc
wc_zero_at "$P" "$SS"
check_fails "pause_writeback is SSD-only: refused in p mode" \
	dm_create wc "0 $OSZ writecache p $O $P 4096 4 start_sector $SS pause_writeback 100"
rmwc

# ================= start_sector ===========================================
dd if=/dev/urandom of=/tmp/head.bin bs=4096 count=4 2>/dev/null
check "write a marker at the start of pmem" dd if=/tmp/head.bin of="$P" bs=4096 count=4 conv=fsync
if check "start_sector: create" mkwc; then
	N=$(wc_field wc n_blocks)
	check_eq "n_blocks follows from the area after start_sector" "$WC_NEXP" "$N"
	check_eq "superblock magic at start_sector" 23489321 "$(wc_sb "$P" "$SS" magic)"
	check_eq "superblock version" 1 "$(wc_sb "$P" "$SS" version)"
	check_eq "superblock block_size" 4096 "$(wc_sb "$P" "$SS" block_size)"
	check_eq "superblock n_blocks" "$N" "$(wc_sb "$P" "$SS" n_blocks)"
	check "write 256 blocks" wc_pwrite "$WC" 0 /tmp/d.bin 0 256
	check "flush" dmsetup message wc 0 flush
	check_eq "the pmem before start_sector is untouched" \
		"$(md5_file /tmp/head.bin 0 4)" "$(md5_range "$P" 0 4)"
fi
check "start_sector: remove" rmwc

# ================= high/low watermark =====================================
if check "watermarks: create (high_watermark 50 low_watermark 30)" mkwc high_watermark 50 low_watermark 30; then
	N=$(wc_field wc n_blocks)
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
	info "free after writeback: $(wc_field wc free) (low watermark: $LOWF free)"
	check "writeback stops just above the low watermark (free <= $LOWF + 8)" \
		wc_cond wc "\$3 <= $LOWF + 8"
	check "the data verifies" fio_verify "$WC" 64M --rw=write:4k --offset=0 --io_size=$((K * 4))k --verify_only
	check "flush" dmsetup message wc 0 flush
fi
check "watermarks: remove" rmwc
if check "watermarks: create (high_watermark 100 low_watermark 30)" mkwc high_watermark 100 low_watermark 30; then
	N=$(wc_field wc n_blocks)
	check "write 700 random blocks, no flush" \
		fio_verify "$WC" 64M --offset=0 --io_size=2800k
	sleep 3
	check "high_watermark 100: nothing written back (3 s later free == n_blocks - 700)" \
		wc_cond wc "\$3 == $N - 700 && \$4 == 0"
	check "flush" dmsetup message wc 0 flush
fi
check "watermarks: remove" rmwc

# ================= cleaner in the table ====================================
if check "cleaner: create without cleaner" mkwc; then
	N=$(wc_field wc n_blocks)
	check "write 200 blocks and fsync" wc_pwrite "$WC" 1000 /tmp/d.bin 0 200 fsync
	check "200 blocks cached" wc_cond wc "\$3 == $N - 200"
	T2="0 $OSZ writecache p $O $P 4096 3 start_sector $SS cleaner"
	check "reload with cleaner in the table" reload_wc "$T2"
	check "table shows cleaner" sh -c 'dmsetup table wc | grep -q " cleaner"'
	check "cleaner: the cache empties within 20 s" wc_poll 20 wc_cond wc '$3 == $2 && $4 == 0'
	check_eq "cleaner: the data is on the origin" "$(md5_file /tmp/d.bin 0 200)" "$(md5_range "$O" 1000 200)"
	A0=$(wc_field wc writes_around)
	check "write 32 new blocks" wc_pwrite "$WC" 1300 /tmp/d.bin 0 32
	check_eq "cleaner: new writes go around (writes_around +32)" $((A0 + 32)) "$(wc_field wc writes_around)"
	check_eq "cleaner: free stays n_blocks" "$N" "$(wc_field wc free)"
fi
check "cleaner: remove" rmwc

# ================= max_age ===============================================
if check "max_age: create (max_age 2000)" mkwc max_age 2000; then
	N=$(wc_field wc n_blocks)
	T0=$(now_cs)
	check "write 64 blocks, no flush" wc_pwrite "$WC" 2000 /tmp/d.bin 0 64
	F=$(wc_field wc free)
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

# ================= autocommit_blocks / autocommit_time ====================
if check "autocommit_blocks 0: create" mkwc autocommit_blocks 0; then
	S0=$(seq_now)
	check "write 32 blocks (32 bios), no flush" wc_pwrite "$WC" 3000 /tmp/d.bin 0 32
	check_eq "autocommit_blocks 0: every write bio commits (seq_count +32)" $((S0 + 32)) "$(seq_now)"
	check "overwrite 4 of them" wc_pwrite "$WC" 3000 /tmp/d.bin 100 4
	check_eq "autocommit_blocks 0: overwrites commit too (seq_count +4)" $((S0 + 36)) "$(seq_now)"
	check_eq "overwrites of committed blocks are write_hits_committed" 4 "$(wc_field wc write_hits_committed)"
fi
check "autocommit_blocks 0: remove" rmwc
if check "autocommit_blocks 16: create (autocommit_time 3600000)" mkwc autocommit_blocks 16 autocommit_time 3600000; then
	S0=$(seq_now)
	check "write 15 new blocks" wc_pwrite "$WC" 3000 /tmp/d.bin 0 15
	check_eq "15 new blocks: no commit (seq_count)" "$S0" "$(seq_now)"
	check "write the 16th" wc_pwrite "$WC" 3015 /tmp/d.bin 15 1
	check_eq "16 new blocks: one commit (seq_count +1)" $((S0 + 1)) "$(seq_now)"
	check "write 16 more" wc_pwrite "$WC" 3016 /tmp/d.bin 16 16
	check_eq "32 new blocks: two commits (seq_count +2)" $((S0 + 2)) "$(seq_now)"
	check "fsync" xfs_io -c fsync "$WC"
	check_eq "a flush with nothing uncommitted does not commit (seq_count +2)" $((S0 + 2)) "$(seq_now)"
	check "write 1 block, then fsync" wc_pwrite "$WC" 3100 /tmp/d.bin 0 1 fsync
	check_eq "a flush commits the uncommitted block (seq_count +3)" $((S0 + 3)) "$(seq_now)"
fi
check "autocommit_blocks 16: remove" rmwc
if check "autocommit_time 1500: create (autocommit_blocks 100000)" mkwc autocommit_blocks 100000 autocommit_time 1500; then
	S0=$(seq_now)
	T0=$(now_cs)
	check "write 8 blocks, no flush" wc_pwrite "$WC" 3000 /tmp/d.bin 0 8
	S=$(seq_now)
	E=$(el_ms "$T0")
	if [ "$E" -lt 1200 ]; then
		check_eq "autocommit_time: no commit yet ($E ms after the write)" "$S0" "$S"
	else
		info "seq_count read $E ms after the write (TCG slow): no early-commit check"
	fi
	seq_is() { [ "$(seq_now)" = "$1" ]; }
	check "autocommit_time: committed without a flush within 20 s" wc_poll 20 seq_is $((S0 + 1))
	E=$(el_ms "$T0")
	check "autocommit_time: not before 1500 ms (committed after $E ms >= 1400)" test "$E" -ge 1400
	sleep 2
	check_eq "no further commits without writes" $((S0 + 1)) "$(seq_now)"
fi
check "autocommit_time: remove" rmwc

# ================= fua / nofua / writeback_jobs (tracefs) =================
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
wb_variant() { # LABEL OPTS...: write 32 blocks, trace the flush message
	_l=$1
	shift
	check "$_l: create" mkwc "$@" || return 1
	check "$_l: write 32 blocks" wc_pwrite "$WC" 4000 /tmp/d.bin 0 32
	check "$_l: flush (traced)" traced dmsetup message wc 0 flush
	info "$_l: origin bios: $(awk '/block_bio_queue:/ { sub(/.*block_bio_queue: /, ""); printf "%s; ", $0 }' /tmp/trace)"
}
if [ -w $TR/tracing_on ] && [ -d $TR/events/block/block_bio_queue ]; then
	if wb_variant "default (fua)"; then
		check "default: writeback bios carry FUA ($(count_bios fua))" test "$(count_bios fua)" -gt 0
		check_eq "default: no writeback without FUA" 0 "$(count_bios plain)"
		check_eq "default: no separate origin PREFLUSH" 0 "$(count_bios preflush)"
	fi
	check "remove" rmwc
	if wb_variant "fua" fua; then
		check "fua: writeback bios carry FUA ($(count_bios fua))" test "$(count_bios fua)" -gt 0
		check_eq "fua: no writeback without FUA" 0 "$(count_bios plain)"
		check_eq "fua: no separate origin PREFLUSH" 0 "$(count_bios preflush)"
	fi
	check "remove" rmwc
	if wb_variant "nofua" nofua; then
		check "nofua: writeback bios are plain writes ($(count_bios plain))" test "$(count_bios plain)" -gt 0
		check_eq "nofua: no writeback bio with FUA" 0 "$(count_bios fua)"
		check "nofua: the origin gets an empty PREFLUSH ($(count_bios preflush))" test "$(count_bios preflush)" -gt 0
	fi
	check "remove" rmwc

	# writeback_jobs: 64 scattered blocks, written back by the flush message
	# (nofua: plain writes, dispatched together unless throttled)
	MAXJ_default=
	MAXJ_1=
	for J in default 1; do
		if [ $J = default ]; then set -- nofua; else set -- nofua writeback_jobs $J; fi
		if check "writeback_jobs $J: create" mkwc "$@"; then
			check "writeback_jobs $J: 64 scattered blocks" \
				fio_verify "$WC" 64M --offset=128M --io_size=256k
			check "writeback_jobs $J: flush (traced)" traced dmsetup message wc 0 flush
			eval "MAXJ_$J=$(max_inflight)"
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
	info "SKIP fua/nofua/writeback_jobs effects: tracefs or block tracepoints not available"
fi

# ================= metadata_only ==========================================
X=5000
if check "metadata_only: create without it" mkwc; then
	N=$(wc_field wc n_blocks)
	check "cache block $X (write + fsync)" wc_pwrite "$WC" $X /tmp/d.bin 0 1 fsync
	check "reload with metadata_only" reload_wc "0 $OSZ writecache p $O $P 4096 3 start_sector $SS metadata_only"
	check "table shows metadata_only" sh -c 'dmsetup table wc | grep -q " metadata_only$"'
	check "block $X is still cached" wc_cond wc "\$3 == $N - 1"
	A0=$(wc_field wc writes_around)
	check "write 64 uncached blocks" wc_pwrite "$WC" 6000 /tmp/d.bin 0 64
	check_eq "metadata_only: uncached writes go around (writes_around +64)" $((A0 + 64)) "$(wc_field wc writes_around)"
	check_eq "metadata_only: free unchanged" $((N - 1)) "$(wc_field wc free)"
	check "overwrite the cached block $X" wc_pwrite "$WC" $X /tmp/d.bin 1 1
	check_eq "metadata_only: a cached block is updated in the cache (writes_around unchanged)" \
		$((A0 + 64)) "$(wc_field wc writes_around)"
	check_eq "... as a committed hit" 1 "$(wc_field wc write_hits_committed)"
	check "fsync" xfs_io -c fsync "$WC"
	check_eq "after the commit the old copy is freed (free == n_blocks - 1)" $((N - 1)) "$(wc_field wc free)"
	check_eq "block $X reads the new data" "$(md5_file /tmp/d.bin 1 1)" "$(md5_range "$WC" $X 1)"
	# A FUA write without a flush: O_SYNC + O_DIRECT through libaio (the
	# synchronous path would add an fsync, i.e. a flush bio, after it).
	S0=$(seq_now)
	FL0=$(wc_field wc flushes)
	check "one FUA bio (libaio, O_SYNC) over blocks $X (cached) and $((X + 1)) (not cached), + verify" \
		fio_verify "$WC" 8k --rw=write --bs=8k --offset=$((X * 4096)) --ioengine=libaio --sync=1
	info "status: $(wc_info wc)"
	check_eq "no flush bio came with it (flushes)" "$FL0" "$(wc_field wc flushes)"
	check_eq "the uncached half went around (writes_around +65)" $((A0 + 65)) "$(wc_field wc writes_around)"
	if wc_stock_61; then
		wc_skip_61 "a partly cached FUA bio commits (seq_count $S0 -> $(seq_now))" \
			"6.1.192 returns early on the write-around path and skips the commit (fixed in 6.12.117)"
	else
		check_eq "a partly cached FUA bio commits (seq_count +1)" $((S0 + 1)) "$(seq_now)"
		check_eq "... and the commit frees the old copy of block $X (free == n_blocks - 1)" \
			$((N - 1)) "$(wc_field wc free)"
	fi
	check "both blocks read back" \
		fio_verify "$WC" 8k --rw=write --bs=8k --offset=$((X * 4096)) --verify_only

	# filesystem metadata is REQ_META: XFS caches its log/metadata writes
	check "flush" dmsetup message wc 0 flush
	W0=$(wc_field wc writes_allocate)
	A1=$(wc_field wc writes_around)
	mkdir -p /mnt/wcmeta
	check "mkfs.xfs through metadata_only" mkfs.xfs -f -K -q "$WC"
	check "mount, write a 1 MiB file, umount" sh -c \
		"mount $WC /mnt/wcmeta && dd if=/dev/urandom of=/mnt/wcmeta/f bs=65536 count=16 2>/dev/null && umount /mnt/wcmeta"
	info "status: $(wc_info wc)"
	check "XFS metadata (REQ_META) is cached (writes_allocate grows: $W0 -> $(wc_field wc writes_allocate))" \
		test "$(wc_field wc writes_allocate)" -gt "$W0"
	check "mkfs and file data go around (writes_around grows by > 16384 blocks)" \
		test "$(wc_field wc writes_around)" -gt $((A1 + 16384))
	check "xfs_repair -n" xfs_repair -n "$WC"
	check "no error" wc_cond wc '$1 == 0'
fi
check "metadata_only: remove" rmwc
check "unload $WC_MODULE" unload_wc
finish
