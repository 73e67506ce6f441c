#!/bin/sh
# Host-kill power cut on persistent nvdimm, boot 2 of 2 (run by
# scripts/killcut.sh with the images of boot 1 and harness.phase=2; skipped
# otherwise).  Module: harness.wc=stock|ours (tests/vm/wc-select.sh).
# harness.seed=N must be boot 1's seed.
#
# Reads boot 1's log from the SSD disk: records 0..R-1 that are valid (magic,
# checksum, position == iteration, block and tag as the seed's sequence
# says); a torn/zero record ends it, and no valid record may follow.
# Re-creates the same table on the same pmem (no zeroing) and, through the
# cache and then (after message flush and removal) on the bare origin,
# checks each of the KC_NB blocks:
#  - it is all zeros, or exactly 128 identical lines "KC <I> <B> <tag>" with
#    B == its block number, I <= R, the seed's sequence wrote block B at
#    iteration I, and the tag of iteration I (nothing never written, nothing
#    torn or mixed);
#  - if the log has records for it, I >= the latest logged iteration L (and
#    it is not zeros): every acknowledged write survived, and a newer one
#    can only be the single in-flight, unlogged iteration R.
# Prints "# killcut: R records verified ..." for scripts/killcut.sh.
#
# harness.corrupt=1 (self-check only, off by default): before the table is
# created, overwrite 32 bytes in the middle of the pmem copy of one logged
# block, so that the test must FAIL.
. /tests/lib.sh
[ "$(harness_arg phase)" = 2 ] ||
	skip_all "boot 2 of a kill-cut test: run scripts/killcut.sh (needs harness.phase=2 and boot 1's images)"
. /tests/wc-select.sh
[ "$HARNESS_PMEM_MODE" = nvdimm ] || skip_all "needs persistent pmem (--pmem nvdimm), not $HARNESS_PMEM_MODE"

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
WC=/dev/mapper/wc
KC_NB=256
KC_LOGMAX=8192
SEED=$(harness_arg seed 1)
CORRUPT=$(harness_arg corrupt 0)
TABLE=$(wc_table p "$O" "$P" 4096 0)

kc_step() { # same as boot 1
	X=$(((X * 1103515245 + 12345) % 2147483648))
	KB=$(((X / 65536) % KC_NB))
	KT=$(((KI * 2654435761 + KB * 40503 + SEED) % 4294967296))
}

# --- the log ----------------------------------------------------------------------
# NULs become newlines (byte offsets are kept), so each record is one line
# at offset 512*i.  Prints "ok I B TAG" per valid record in order, then
# "end R" (R = valid records before the first bad one), "torn" if the slot R
# holds a non-empty invalid record, and "after OFFSET" for any non-empty
# line beyond slot R.
read_log() {
	blockdev --flushbufs "$S"
	dd if="$S" bs=1048576 count=4 2>/dev/null | tr '\000' '\n' | awk '
		BEGIN { r = 0; done = 0 }
		{
			off = pos; pos += length($0) + 1
			if ($0 == "") next
			slot = int(off / 512)
			if (!done && off % 512 == 0 && slot == r && NF == 5 && $1 == "KL" &&
			    $2 + 0 == r && ($2 * 7919 + $3 * 104729 + $4) % 4294967291 == $5 + 0) {
				print "ok", $2 + 0, $3 + 0, $4 + 0
				r++
				next
			}
			if (!done) {
				done = 1
				print "end", r
				if (slot == r) { print "torn", off; next }
			}
			print "after", off
		}
		END { if (!done) print "end", r }'
}
read_log >/tmp/log.parsed
R=$(awk '$1 == "end" { print $2 }' /tmp/log.parsed)
info "log: $R valid records; torn tail: $(grep -c '^torn' /tmp/log.parsed); records after the end: $(grep -c '^after' /tmp/log.parsed)"
check "boot 1 logged at least one durable write" test "${R:-0}" -gt 0 || finish
check_eq "no valid or garbage record after the end of the log" 0 "$(grep -c '^after' /tmp/log.parsed)"

# The seed's sequence for iterations 0..R (R: the one that may be in flight).
X=$SEED
KI=0
: >/tmp/seq
while [ $KI -le "$R" ]; do
	kc_step
	echo "$KI $KB $KT" >>/tmp/seq
	KI=$((KI + 1))
done
check "the log agrees with the seed's block sequence" awk '
	NR == FNR { b[$1] = $2; t[$1] = $3; next }
	$1 == "ok" && (b[$2] != $3 || t[$2] != $4) { print "record", $2, "is", $3, $4, "expected", b[$2], t[$2]; bad++ }
	END { exit bad > 0 }' /tmp/seq /tmp/log.parsed

# --- the self-check switch -------------------------------------------------------------
corrupt_one() {
	# the latest logged write of a block that the in-flight iteration R
	# did not touch: its pmem copy is what the cache must return
	_inflight=$(awk -v r="$R" '$1 == r { print $2 }' /tmp/seq)
	set -- $(awk -v f="$_inflight" 'BEGIN { best = -1 } $1 == "ok" { last[$3] = $2 }
		END { for (b in last) if (b != f && last[b] > best) { best = last[b]; bb = b } ; print best, bb }' /tmp/log.parsed)
	_pat=$(printf 'KC %8d %8d ' "$1" "$2")
	echo "# corrupting iteration $1 (block $2) on $P"
	# find its cache block via the pmem metadata: 64-byte superblock, then
	# n_blocks entries {le64 original_sector, le64 seq_count}; data blocks
	# start at the next 4 KiB boundary.  Superseded entries for the same
	# sector may remain, so take the entry whose data holds this iteration.
	_nb=$(wc_sb "$P" 0 n_blocks)
	_ds=$(((64 + 16 * _nb + 4095) / 4096))
	_e=
	for _c in $(od -A n -v -t u8 -j 64 -N $((16 * _nb)) "$P" | awk -v s=$(($2 * 8)) '
		{ for (k = 1; k <= NF; k++) { if (n % 2 == 0 && $k == s) print int(n / 2); n++ } }'); do
		_got=$(dd if="$P" bs=4096 skip=$((_ds + _c)) count=1 2>/dev/null | head -c ${#_pat})
		echo "# entry $_c for sector $(($2 * 8)), pmem block $((_ds + _c)): \"$_got\""
		[ "$_got" = "$_pat" ] && _e=$_c
	done
	[ -n "$_e" ] || { echo "no metadata entry for sector $(($2 * 8)) holds '$_pat'"; return 1; }
	printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n' |
		dd of="$P" bs=32 seek=$(((_ds + _e) * 128 + 64)) count=1 conv=notrunc,fsync 2>/dev/null || return
	blockdev --flushbufs "$P"
}
if [ "$CORRUPT" = 1 ]; then
	info "SELF-CHECK: harness.corrupt=1, this test must fail"
	check "self-check: corrupt one logged block on pmem" corrupt_one
fi

# --- the data -----------------------------------------------------------------------
# verify_dev DEV LABEL: check blocks 0..KC_NB-1 of DEV against the log.
verify_dev() {
	# one O_DIRECT 4 KiB read per block (each bio is exactly one block)
	blockdev --flushbufs "$1"
	: >/tmp/data.bin
	_b=0
	while [ $_b -lt $KC_NB ]; do
		dd if="$1" bs=4096 skip=$_b count=1 iflag=direct 2>/dev/null >>/tmp/data.bin || return
		_b=$((_b + 1))
	done
	[ "$(wc -c </tmp/data.bin)" -eq $((KC_NB * 4096)) ] || { echo "short read of $1"; return 1; }
	# for comparison only: one buffered 1 MiB read (multi-block bios)
	blockdev --flushbufs "$1"
	_m1=$(dd if="$1" bs=4096 count=$KC_NB 2>/dev/null | md5sum | cut -d' ' -f1)
	_m2=$(md5sum </tmp/data.bin | cut -d' ' -f1)
	[ "$_m1" = "$_m2" ] && _same=yes || _same=NO
	echo "# $2: one buffered $((KC_NB * 4))K read equals the per-block O_DIRECT reads: $_same"
	tr '\000' '\n' </tmp/data.bin >/tmp/data.txt
	awk -v nb=$KC_NB -v r="$R" -v label="$2" '
		FILENAME == "/tmp/seq" { sb[$1] = $2; st[$1] = $3; next }
		FILENAME == "/tmp/log.parsed" { if ($1 == "ok") last[$3] = $2; next }
		{
			b = int(pos / 4096); pos += length($0) + 1
			if ($0 == "") { empty[b]++; next }
			n[b]++
			if (!(b in line)) line[b] = $0
			else if (line[b] != $0) mixed[b] = 1
			if (length($0) != 31) badlen[b] = 1
		}
		END {
			for (b = 0; b < nb; b++) {
				l = (b in last) ? last[b] : -1
				why = ""
				if (!(b in n)) {
					if (l >= 0) why = "zeros, but iteration " l " was logged"
				} else if (empty[b] || mixed[b] || badlen[b] || n[b] != 128) {
					why = "torn or mixed (" n[b] " data lines, first \"" line[b] "\")"
				} else {
					split(line[b], f, " ")
					i = f[2] + 0
					if (f[1] != "KC" || f[3] + 0 != b) why = "foreign data \"" line[b] "\""
					else if (i > r) why = "iteration " i " was never written (log ends at " r ")"
					else if (sb[i] != b || st[i] != f[4] + 0) why = "iteration " i " never wrote this content (\"" line[b] "\")"
					else if (i < l) why = "stale: iteration " i ", but iteration " l " was logged"
					else if (i > l) inflight++
				}
				if (why != "") { print label ": block " b ": " why; bad++ }
				else if (l >= 0) okb++
			}
			printf "# %s: %d logged blocks intact, %d bad, %d hold the in-flight write\n", label, okb, bad, inflight
			exit bad > 0
		}' /tmp/seq /tmp/log.parsed /tmp/data.txt
}

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "re-create wc on the same pmem (no zeroing): $TABLE" dm_create wc "$TABLE" || finish
wc_is_dev "$WC" || {
	fail "/dev/mapper/wc is a block device"
	finish
}
info "status after load: $(wc_info wc)"
check "the cache loads without error" wc_cond wc '$1 == 0'
check "through the cache: every logged write intact, nothing else" verify_dev "$WC" cache
check "message flush" dmsetup message wc 0 flush
check "after flush: free == n_blocks, writeback 0, no error" wc_cond wc '$1 == 0 && $3 == $2 && $4 == 0'
check "remove wc" dm_remove wc
check "bare origin: every logged write intact, nothing else" verify_dev "$O" origin
check "unload $WC_MODULE" unload_wc
[ "$LIB_FAIL" -eq 0 ] && echo "# killcut: $R records verified"
finish
