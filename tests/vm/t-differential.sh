#!/bin/sh
# Differential test against the stock dm-writecache in one boot (issue #6
# section 1).  One scenario (the function "scenario" below) drives whichever
# module holds the target name "writecache"; it runs first with the stock
# module (modprobe dm-writecache), then with ours (insmod, as "writecache"),
# and every labelled output line of the two runs must be identical, except
# for the documented differences in ALLOWED below, applied only on the
# kernel series they name.
#
# Each output line is "STEP|KIND|TEXT": KIND is table (dmsetup table, with
# MAJ:MIN replaced by the device name), status (the whole dmsetup status
# line, compared field by field), commits (how much the superblock's
# seq_count on the cache device grew during the step: the number of
# commits), rc (exit status and error text of a command; dd's transfer
# statistics dropped), md5 (data read back) or dmesg (the kernel log lines
# of the step that mention writecache, timestamps dropped).  Step names
# start with p. (pmem cache $HARNESS_PMEM), s. (SSD cache $HARNESS_SSD),
# e. (SSD cache on a dm-linear swapped to dm-error) or pe. (pmem, origin on
# a dm-linear swapped to dm-error).  The scenario never branches on a
# result, so both runs print the same steps.
#
# What it covers, for pmem and SSD mode:
#  - TABLE lines (and the status right after create) of a few tables with
#    various block sizes and options, upper case and duplicate keywords;
#  - INFO fields after a deterministic single-job O_DIRECT workload at
#    fixed offsets: new blocks, overwrites of uncommitted and of committed
#    blocks (single blocks and multi-block bios), read hits and misses
#    (single blocks, and one bio over hits and misses), a multi-block
#    write, O_DSYNC writes (REQ_FUA; the block layer follows each with a
#    flush bio), a flush bio (fsync), discards (uncommitted, committed and
#    uncached ranges), a reload with dirty blocks (loaded from media), the
#    flush, flush_on_suspend, cleaner and clear_stats messages, a reload
#    with metadata_only.  autocommit_time 3600000,
#    autocommit_blocks 1000000 and high_watermark 100 keep the module from
#    committing or writing back on its own;
#  - every message: case, extra words, unknown words, flush while suspended
#    (EBUSY), exit status and dmsetup's error text;
#  - injected errors: the SSD cache device becomes dm-error (data write
#    EIO, the commit fails and latches the error, writes then fail, reads
#    of cached and uncached blocks, flush EIO, reads once the device is
#    healthy, remove with the device failing and healthy); the origin of a
#    pmem cache becomes dm-error (writeback through the cleaner message
#    fails and latches the error; the flush message is only sent once the
#    error is latched, because stock's flush message hangs when the origin
#    fails under its writeback, see t-faults.sh).
#
# ALLOWED: documented differences, one per line "SERIES|STEP|FIELD|WHY".
# SERIES is a kernel series (6.1 matches 6.1.*, not 6.12.*); FIELD is a
# status field name (error ... discards) or another KIND.  Our module
# follows 6.12 (docs/dm-writecache-cxx.7, "DIFFERENCES FROM THE STOCK
# MODULE").  Each step with such a difference is followed by clear_stats,
# so that a counter difference does not carry over into later steps.
#
#   series  step   field            why
#   6.1     s.w5   writes_allocate  stock 6.1 counts an in-place SSD overwrite
#   6.1     s.w6b  writes_allocate  bio of N blocks as N-1 allocations (6.12
#                                   fixed it: "if (!search_used)"); 4 blocks
#                                   committed (w5) / uncommitted (w6b): +3
#
# Documented differences the scenario does not show, and why:
#  - 6.1 acknowledges an SSD FUA write before committing it, and a pmem FUA
#    write under cleaner or metadata_only without committing: from user
#    space a FUA write to a block device is an O_DSYNC write, which the
#    block layer follows with a flush bio (generic_write_sync), and that
#    commits in both, so the counters and commits per step are equal (w7,
#    w8 show it);
#  - 6.1 lowers the uncommitted count on a discard: only visible once
#    autocommit_blocks is reached, which QUIET avoids;
#  - SSD: stock gives the blocks after the first of a new multi-block run
#    fresh entries without a lookup (duplicates after a crash); ours stops
#    the run at a cached sector: not exercised, every multi-block write
#    here covers only new or only cached blocks.
ALLOWED='6.1|s.w5|writes_allocate|stock 6.1 counts the in-place SSD overwrite of a 4-block bio of committed blocks as 3 allocations (fixed in 6.12)
6.1|s.w6b|writes_allocate|stock 6.1 counts the in-place SSD overwrite of a 4-block bio of uncommitted blocks as 3 allocations (fixed in 6.12)'
. /tests/lib.sh
require_ko
. /tests/wc-select.sh
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
WC=/dev/mapper/wc
[ -n "$P" ] || skip_all "no pmem device"

# Small cache areas at the end of each cache device (start_sector).
wc_small_setup $((2 << 20))
PSS=$WC_SS
ssd_small_setup $((2 << 20))
SSS=$WC_SS
OSECT=131072 # dm-linear origin for the fault steps: 64 MiB of the origin
CSECT=32768  # dm-linear SSD cache for the fault steps: 16 MiB of the SSD
# Options that keep the module from committing or writing back on its own.
QUIET="high_watermark 100 low_watermark 100 autocommit_blocks 1000000 autocommit_time 3600000"

dd if=/dev/urandom of=/tmp/diff.dat bs=4096 count=64 2>/dev/null

# --- recording ------------------------------------------------------------------
OUT=
emit() { echo "$1|$2|$3" >>"$OUT"; } # STEP KIND TEXT

# norm LINE: replace every MAJ:MIN word by the device's name (dm name, or
# vda/vdb/pmem0).
norm() {
	dxo=
	# shellcheck disable=SC2086 # split the line into words
	for dxw in $1; do
		case "$dxw" in
		*[0-9]:[0-9]*)
			if [ -e "/sys/dev/block/$dxw" ]; then
				if [ -r "/sys/dev/block/$dxw/dm/name" ]; then
					dxw=$(cat "/sys/dev/block/$dxw/dm/name")
				else
					dxw=$(basename "$(readlink "/sys/dev/block/$dxw")")
				fi
			fi
			;;
		esac
		dxo="$dxo${dxo:+ }$dxw"
	done
	echo "$dxo"
}

MARK=0
dmesg_mark() { MARK=$(dmesg | wc -l); }
dmesg_step() { # STEP: the new kernel log lines about writecache
	dxd=$(dmesg | tail -n +$((MARK + 1)) | grep -i writecache | sed 's/^\[[ 0-9.]*\] *//' | tr '\n' '/')
	[ -n "$dxd" ] && emit "$1" dmesg "$dxd"
	return 0
}

# SEQDEV/SEQSS: where the superblock of the current cache is (for commits).
SEQDEV=
SEQSS=
SEQ0=0
seq_now() { wc_sb "$SEQDEV" "$SEQSS" seq_count; }
seq_reset() { SEQ0=$(seq_now); }

# st STEP: status of "wc", and the commits since the last st (or seq_reset).
st() {
	emit "$1" status "$(dmsetup status wc 2>&1)"
	if [ -n "$SEQDEV" ]; then
		dxs=$(seq_now)
		emit "$1" commits $((dxs - SEQ0))
		SEQ0=$dxs
	fi
}
tbl() { emit "$1" table "$(norm "$(dmsetup table wc 2>&1)")"; }

# run STEP CMD...: run CMD, record its exit status, error text, and the
# kernel log lines it caused.
run() {
	dxst=$1
	shift
	dmesg_mark
	"$@" >/tmp/diff.cmd 2>&1
	dxrc=$?
	emit "$dxst" rc "rc=$dxrc $(grep -v -E 'records (in|out)|bytes .*copied' /tmp/diff.cmd | tr '\n' '/')"
	dmesg_step "$dxst"
}
msg() { # STEP WORDS...: dmsetup message wc 0 WORDS (bounded)
	dxmst=$1
	shift
	run "$dxmst" timeout 60 dmsetup message wc 0 "$@"
}

# I/O through wc, O_DIRECT, 4 KiB blocks from /tmp/diff.dat.
wr() { run "$1" wc_pwrite $WC "$2" /tmp/diff.dat "$3" "$4"; }           # STEP BLK SRC N: N bios
wrbio() { run "$1" wc_bio $WC "$2" /tmp/diff.dat "$3" "$4"; }           # STEP BLK SRC N: one bio
wrsync() { run "$1" wc_pwrite $WC "$2" /tmp/diff.dat "$3" "$4" sync; }  # O_DSYNC: FUA + flush
fsync_wc() { run "$1" xfs_io -c fsync $WC; }
discard() { run "$1" blkdiscard -o $(($2 * 4096)) -l $(($3 * 4096)) $WC; } # STEP BLK N
rd() { # STEP BLK N: one O_DIRECT read bio of N blocks; its md5
	dmesg_mark
	dxm=$(dd if=$WC bs=$(($3 * 4096)) count=1 skip=$(($2 * 4096)) iflag=direct,skip_bytes 2>/tmp/diff.cmd | md5sum | cut -d' ' -f1)
	emit "$1" md5 "$dxm $(grep -v -E 'records (in|out)|bytes .*copied' /tmp/diff.cmd | tr '\n' '/')"
	dmesg_step "$1"
}
quiet() { "$@" >/dev/null 2>&1; } # for commands whose output has timings

# set_dev NAME TABLE: create NAME, or replace its table (suspend/load/resume).
set_dev() {
	if dmsetup info "$1" >/dev/null 2>&1; then
		dmsetup suspend "$1" && dmsetup load "$1" --table "$2" && dmsetup resume "$1"
	else
		dm_create "$1" "$2"
	fi
}

zero_origin() { dd if=/dev/zero of="$1" bs=1M count=4 oflag=direct 2>/dev/null; }

# --- the scenario -------------------------------------------------------------
# tables MODE CACHE SS: create and remove a few tables; TABLE line and status.
tables() {
	TM=$1 TC=$2 TSS=$3
	SEQDEV=
	TI=0
	while read -r TARGS; do
		TI=$((TI + 1))
		TA=$(echo "$TARGS" | sed "s/SS/$TSS/")
		if [ "${TA#* start_sector}" = "$TA" ]; then zero_sb "$TC"; else wc_zero_at "$TC" "$TSS"; fi
		run "$TM.t$TI.create" dm_create wc "0 $(dev_sectors "$O") writecache $TM $O $TC $TA"
		tbl "$TM.t$TI"
		st "$TM.t$TI"
		run "$TM.t$TI.remove" dm_remove wc
	done
}

# workload MODE CACHE SS: the deterministic workload, messages and states.
workload() {
	M=$1 WCD=$2 WSS=$3
	zero_origin "$O"
	wc_zero_at "$WCD" "$WSS"
	SEQDEV=$WCD SEQSS=$WSS
	BASE="0 $(dev_sectors "$O") writecache $M $O $WCD 4096 10 start_sector $WSS $QUIET"
	run "$M.create" dm_create wc "$BASE"
	seq_reset
	tbl "$M.create"
	st "$M.create"
	wr "$M.w1" 100 0 4 # 4 new blocks, 4 bios
	st "$M.w1"
	wr "$M.w2" 101 10 1 # overwrite an uncommitted block
	st "$M.w2"
	rd "$M.r1" 100 1 # hit
	st "$M.r1"
	rd "$M.r2" 500 1 # miss
	st "$M.r2"
	rd "$M.r3" 100 4 # one bio, 4 hits
	st "$M.r3"
	rd "$M.r4" 98 8 # one bio: 2 misses, 4 hits, 2 misses
	st "$M.r4"
	fsync_wc "$M.f1" # a flush bio: commit
	st "$M.f1"
	wr "$M.w3" 102 11 1 # overwrite a committed block
	st "$M.w3"
	wrbio "$M.w4" 200 16 8 # 8 new blocks, one bio
	st "$M.w4"
	rd "$M.r5" 200 8
	fsync_wc "$M.f2"
	st "$M.f2"
	wrbio "$M.w5" 200 24 4 # overwrite 4 committed blocks, one bio
	st "$M.w5"
	rd "$M.r6" 198 12
	msg "$M.cs1" clear_stats
	st "$M.cs1"
	wrbio "$M.w6a" 216 28 4 # 4 new blocks, one bio
	st "$M.w6a"
	wrbio "$M.w6b" 216 32 4 # overwrite them (uncommitted), one bio
	st "$M.w6b"
	rd "$M.r7" 216 4
	msg "$M.cs2" clear_stats
	st "$M.cs2"
	wrsync "$M.w7" 300 36 1 # O_DSYNC: a FUA write of a new block, then a flush
	st "$M.w7"
	wrsync "$M.w8" 100 37 1 # O_DSYNC overwrite of a committed block
	st "$M.w8"
	wrbio "$M.w9" 400 40 4 # new, uncommitted
	st "$M.w9"
	discard "$M.d1" 400 4 # discard uncommitted blocks
	st "$M.d1"
	discard "$M.d2" 204 4 # discard committed blocks
	st "$M.d2"
	discard "$M.d3" 700 8 # discard an uncached range
	st "$M.d3"
	discard "$M.d4" 198 12 # a range with cached and uncached blocks
	st "$M.d4"
	rd "$M.r8" 196 16 # discarded: the origin's zeros
	rd "$M.r9" 400 4
	st "$M.r9"
	wr "$M.w10" 450 44 2 # uncommitted
	run "$M.rl" reload_wc "$BASE" # suspend commits; the new table loads from media
	tbl "$M.rl"
	st "$M.rl"
	rd "$M.r11" 96 12 # hits and misses after the reload
	st "$M.r11"
	wr "$M.w11" 460 45 2 # uncommitted blocks for the flush message
	msg "$M.m1" flush # commit, write everything back, wait
	st "$M.m1"
	rd "$M.r10" 96 12 # misses: written back to the origin
	st "$M.r10"
	msg "$M.cs3" clear_stats
	st "$M.cs3"

	# flush_on_suspend: the next suspend writes everything back, once.
	wr "$M.fos.w1" 500 46 4
	msg "$M.fos.msg" flush_on_suspend
	run "$M.fos.suspend" dmsetup suspend wc
	run "$M.fos.resume" dmsetup resume wc
	st "$M.fos.1"
	wr "$M.fos.w2" 510 50 1
	run "$M.fos.suspend2" dmsetup suspend wc
	run "$M.fos.resume2" dmsetup resume wc
	st "$M.fos.2" # the block stays cached

	# Messages while suspended.
	run "$M.busy.suspend" dmsetup suspend wc
	msg "$M.busy.flush" flush # EBUSY
	msg "$M.busy.clear_stats" clear_stats
	msg "$M.busy.flush_on_suspend" flush_on_suspend
	run "$M.busy.resume" dmsetup resume wc
	st "$M.busy"
	run "$M.busy.suspend2" dmsetup suspend wc # writes back block 510
	run "$M.busy.resume2" dmsetup resume wc
	st "$M.busy.2"

	# Every message word: case, extra words, unknown.
	wr "$M.msg.w" 520 51 2
	msg "$M.msg.FLUSH" FLUSH
	st "$M.msg.FLUSH"
	msg "$M.msg.flush_x" flush now
	msg "$M.msg.fos_x" flush_on_suspend 1
	msg "$M.msg.cleaner_x" cleaner 1
	msg "$M.msg.cs_x" clear_stats 1
	msg "$M.msg.unknown" foo
	msg "$M.msg.unknown2" flush_now
	msg "$M.msg.Clear_Stats" Clear_Stats
	msg "$M.msg.Flush_On_Suspend" Flush_On_Suspend
	st "$M.msg"
	tbl "$M.msg"

	# cleaner: everything is written back; new writes go around.
	wrbio "$M.cln.w1" 600 52 4
	fsync_wc "$M.cln.f"
	st "$M.cln.w1"
	msg "$M.cln.msg" CLEANER
	run "$M.cln.wait" quiet wc_poll 60 wc_cond wc '$4 == 0 && $3 == $2'
	st "$M.cln"
	tbl "$M.cln" # cleaner from a message is not shown
	wr "$M.cln.w2" 610 56 1 # new block: around
	wr "$M.cln.w3" 600 57 1 # written back block: around
	st "$M.cln.w2"
	rd "$M.cln.r" 600 4
	st "$M.cln.r"

	# Reload with metadata_only: plain writes of new blocks go around.
	run "$M.mo.reload" reload_wc "$BASE" # clears the cleaner
	run "$M.mo.reload2" reload_wc "$(echo "$BASE" | sed 's/ 10 start_sector/ 11 start_sector/') metadata_only"
	tbl "$M.mo"
	st "$M.mo"
	wr "$M.mo.w1" 620 58 1
	st "$M.mo.w1"
	run "$M.remove" dm_remove wc
	SEQDEV=
}

# errors_ssd: the SSD cache device (dm-linear cdev) becomes dm-error.
errors_ssd() {
	SEQDEV=
	run e.odev set_dev odev "0 $OSECT linear $O 0"
	run e.cdev set_dev cdev "0 $CSECT linear $S 0"
	zero_origin /dev/mapper/odev
	zero_sb /dev/mapper/cdev
	ET="0 $OSECT writecache s /dev/mapper/odev /dev/mapper/cdev 4096 4 high_watermark 100 autocommit_time 3600000"
	run e.create dm_create wc "$ET"
	tbl e.create
	wrbio e.w1 0 0 4
	fsync_wc e.f1
	wr e.w2 8 4 2 # cached, uncommitted
	st e.w2
	run e.fail set_dev cdev "0 $CSECT error"
	wr e.w3 16 6 1 # new block: its data write fails
	st e.w3
	fsync_wc e.f2 # the commit's metadata write fails
	st e.f2
	wr e.w4 20 7 1 # error latched: EIO
	st e.w4
	wr e.w5 0 8 1 # overwrite of a cached block
	st e.w5
	rd e.r1 0 1 # cached, cache device failing
	rd e.r2 40 1 # not cached
	st e.r2
	msg e.flush flush
	discard e.d1 40 1
	st e.flush
	run e.heal set_dev cdev "0 $CSECT linear $S 0"
	rd e.r3 0 4 # cached (committed)
	rd e.r4 8 2 # cached (uncommitted)
	rd e.r5 40 1
	msg e.flush2 flush
	st e.heal
	run e.remove timeout 60 dmsetup remove wc
	# Remove while the cache device fails, with dirty blocks.
	zero_sb /dev/mapper/cdev
	run e2.create dm_create wc "$ET"
	wrbio e2.w1 0 0 4
	fsync_wc e2.f1
	wr e2.w2 8 4 1
	run e2.fail set_dev cdev "0 $CSECT error"
	run e2.remove timeout 60 dmsetup remove wc
	run e2.heal set_dev cdev "0 $CSECT linear $S 0"
	run e.rm_cdev dm_remove cdev
	run e.rm_odev dm_remove odev
}

# errors_pmem: the origin (dm-linear odev) of a pmem cache becomes dm-error.
errors_pmem() {
	SEQDEV=
	run pe.odev set_dev odev "0 $OSECT linear $O 0"
	zero_origin /dev/mapper/odev
	wc_zero_at "$P" "$PSS"
	PT="0 $OSECT writecache p /dev/mapper/odev $P 4096 6 start_sector $PSS high_watermark 100 autocommit_time 3600000"
	run pe.create dm_create wc "$PT"
	tbl pe.create
	wrbio pe.w1 0 0 4
	fsync_wc pe.f1
	wr pe.w2 8 4 1 # uncommitted
	st pe.w2
	run pe.fail set_dev odev "0 $OSECT error"
	rd pe.r1 0 4 # cached
	rd pe.r2 40 1 # not cached: the origin fails
	wr pe.w3 16 5 1 # new block: cached
	st pe.w3
	# Writeback through the cleaner message (it does not wait); the
	# failed writes latch the error.  Wait until nothing is in flight.
	msg pe.cleaner cleaner
	run pe.wait quiet wc_poll 60 wc_cond wc '$1 == 1 && $4 == 0'
	st pe.cleaner
	wr pe.w4 24 6 1 # EIO
	st pe.w4
	msg pe.flush flush # EIO (only once the error is latched; see the top)
	fsync_wc pe.f2
	discard pe.d1 0 1
	st pe.flush
	rd pe.r3 0 4 # still served from pmem
	rd pe.r4 8 1
	run pe.heal set_dev odev "0 $OSECT linear $O 0"
	rd pe.r5 40 1
	run pe.remove timeout 60 dmsetup remove wc
	run pe.rm_odev dm_remove odev
}

scenario() { # OUTFILE
	OUT=$1
	: >"$OUT"
	emit target version "$(dmsetup targets | grep '^writecache ')"
	tables p "$P" "$PSS" <<EOF
4096 0
512 2 start_sector SS
4096 15 start_sector SS high_watermark 60 low_watermark 40 writeback_jobs 16 autocommit_blocks 32 autocommit_time 500 max_age 10000 nofua
4096 4 start_sector SS cleaner fua
4096 5 start_sector SS metadata_only HIGH_WATERMARK 70
4096 6 start_sector SS autocommit_blocks 5 Autocommit_Blocks 7
EOF
	tables s "$S" "$SSS" <<EOF
4096 0
4096 4 start_sector SS pause_writeback 500
4096 13 start_sector SS high_watermark 60 low_watermark 40 writeback_jobs 16 autocommit_blocks 32 autocommit_time 500 metadata_only
4096 5 start_sector SS cleaner max_age 20000
1024 2 start_sector SS
2048 6 start_sector SS PAUSE_WRITEBACK 0 low_watermark 0
EOF
	workload p "$P" "$PSS"
	workload s "$S" "$SSS"
	errors_ssd
	errors_pmem
	# Anything left (a failed step) must not leak into the other run.
	rmwc
	for _n in cdev odev; do
		dmsetup info "$_n" >/dev/null 2>&1 && { dmsetup resume "$_n"; dm_remove "$_n"; }
	done
	return 0
}

# --- the two runs -------------------------------------------------------------
T0=$(now_cs)
check "load stock dm-writecache" load_stock
scenario /tmp/diff.stock
check "unload stock" rmmod dm_writecache
T1=$(now_cs)
check "load ours as writecache" load_ours
scenario /tmp/diff.ours
PARAMS=/sys/module/dm_writecache_cxx/parameters
check_eq "no allocation left (core_allocations)" 0 "$(cat $PARAMS/core_allocations)"
check_eq "no RAM left (core_ram_bytes)" 0 "$(cat $PARAMS/core_ram_bytes)"
check "unload ours" rmmod dm_writecache_cxx
T2=$(now_cs)
info "guest time: stock run $(((T1 - T0) / 100)) s, ours $(((T2 - T1) / 100)) s"

NS=$(wc -l </tmp/diff.stock)
NO=$(wc -l </tmp/diff.ours)
info "$NS lines from stock, $NO from ours"
check "the scenario printed enough lines" test "$NS" -gt 200

# --- comparison -------------------------------------------------------------
echo "$ALLOWED" >/tmp/diff.allowed
awk -v kver="$HARNESS_KVER" -v allowed=/tmp/diff.allowed -v ours=/tmp/diff.ours '
function parse(l, r,   i) {
	i = index(l, "|"); r["step"] = substr(l, 1, i - 1); l = substr(l, i + 1)
	i = index(l, "|"); r["kind"] = substr(l, 1, i - 1); r["text"] = substr(l, i + 1)
}
BEGIN {
	FS = "\n"
	while ((getline a < allowed) > 0) {
		if (split(a, f, "|") < 4) continue
		if (index(kver, f[1] ".") == 1) why[f[2] "|" f[3]] = f[4]
	}
	n = split("error n_blocks free writeback reads read_hits writes write_hits_uncommitted write_hits_committed writes_around writes_allocate writes_blocked_on_freelist flushes discards", nm, " ")
}
{
	s = $0
	if ((getline o < ours) <= 0) o = "<no line>"
	if (s == o) next
	parse(s, S); parse(o, U)
	if (S["step"] != U["step"] || S["kind"] != U["kind"]) {
		print "DIFF " S["step"] " " S["kind"] ": stock: " S["text"]
		print "  ... " S["step"] " " S["kind"] ":  ours: " o
		next
	}
	if (S["kind"] == "status") {
		ns = split(S["text"], sf, " "); nu = split(U["text"], uf, " ")
		bad = (ns != nu); al = ""
		for (i = 1; i <= ns && i <= nu; i++) {
			if (sf[i] == uf[i]) continue
			name = (i > 3 && i - 3 <= n) ? nm[i - 3] : "word" i
			k = S["step"] "|" name
			if (k in why) al = al " " name " stock " sf[i] " ours " uf[i] " (" why[k] ")"
			else bad = 1
		}
	} else {
		k = S["step"] "|" S["kind"]
		bad = !(k in why); al = bad ? "" : " (" why[k] ")"
	}
	if (bad) {
		print "DIFF " S["step"] " " S["kind"] ": stock: " S["text"]
		print "  ... " S["step"] " " S["kind"] ":  ours: " U["text"]
	} else {
		print "ALLOWED " S["step"] " " S["kind"] ":" al
	}
}
END {
	while ((getline o < ours) > 0) print "DIFF extra line from ours: " o
}' /tmp/diff.stock >/tmp/diff.result
while IFS= read -r l; do info "$l"; done </tmp/diff.result
check_eq "lines that differ from stock (not allowed)" 0 "$(grep -c '^DIFF' /tmp/diff.result)"
info "allowed differences seen: $(grep -c '^ALLOWED' /tmp/diff.result)"
if [ "${CHECK_VERBOSE:-0}" = 1 ] || [ "$(harness_arg diff_dump 0)" = 1 ]; then
	sed 's/^/# stock: /' /tmp/diff.stock
	sed 's/^/# ours: /' /tmp/diff.ours
fi
finish
