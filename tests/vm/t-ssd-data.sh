#!/bin/sh
# Data integrity through an SSD-mode writecache over the whole SSD disk
# ("writecache s ORIGIN SSD 4096 0", /dev/vdb, 256 MiB, ~65k blocks), run
# against the module chosen by harness.wc=stock|ours (tests/vm/wc-select.sh;
# helpers in tests/vm/ssd-lib.sh).
#
# Checks:
#  - fio with crc32c verify (verify_fatal) through the cache: randwrite and
#    randrw, 1 job and 2 jobs (offset_increment, no overlap), in the first
#    32 MiB of a zeroed origin; a negative control proves --verify_only
#    catches wrong data;
#  - the data lives on the SSD only: the origin's first 32 MiB still read
#    zeros, writes allocated cache blocks, nothing went around;
#  - XFS on the upper half of the device (a dm-linear on top of the cache):
#    mkfs, mount, files with md5sums, umount, xfs_repair -n, remount, md5sum -c;
#  - a table reload (suspend, load the same table, resume; resume re-reads
#    the metadata from the SSD): the cached blocks are kept (free count
#    unchanged, reads hit the cache), the committed on-media metadata maps
#    exactly the blocks in use, and all data verifies;
#  - message flush: free == n_blocks and writeback 0 on return;
#  - the target removed, the same fio data and files verify on the bare origin.
# The cache stays below the default high watermark (50 %), so until the
# flush message the data lives only on the SSD.
. /tests/lib.sh
. /tests/wc-select.sh
[ -f /tests/ssd-lib.sh ] || { fail "/tests/ssd-lib.sh" "missing (vm-run ships tests/vm/*-lib.sh)"; finish; }
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
OSZ=$(dev_sectors "$O")
HALF=$((OSZ / 2))
TABLE="0 $OSZ writecache s $O $S 4096 0"
WC=/dev/mapper/wc
MNT=/mnt/wcfs
mkdir -p "$MNT"
ZMD5=$(dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum | cut -d' ' -f1)

# fio_jobs LABEL DEV [FIO ARGS]: the four fio jobs; the same parameters
# (and so the same offsets and seeds) every time, for --verify_only later.
fio_jobs() {
	_l=$1 _d=$2
	shift 2
	check "$_l: fio randwrite, 1 job, 8M at 0" \
		fio_verify "$_d" 8M --offset=0 "$@"
	check "$_l: fio randrw, 1 job, 8M at 8M" \
		fio_verify "$_d" 8M --rw=randrw --offset=8M "$@"
	check "$_l: fio randwrite, 2 jobs, 2x4M at 16M" \
		fio_verify "$_d" 4M --numjobs=2 --offset=16M --offset_increment=4M "$@"
	check "$_l: fio randrw, 2 jobs, 2x4M at 24M" \
		fio_verify "$_d" 4M --rw=randrw --numjobs=2 --offset=24M --offset_increment=4M "$@"
}

# make_files: files of several sizes on the mounted filesystem, then their
# md5sums in /tmp/fs.md5 (43 files).
make_files() {
	mkdir -p "$MNT/d" || return
	dd if=/dev/urandom of="$MNT/big" bs=65536 count=64 2>/dev/null || return
	dd if=/dev/urandom of="$MNT/mid" bs=4096 count=25 2>/dev/null || return
	echo "a small file" >"$MNT/small" || return
	for _i in $(seq 1 40); do
		dd if=/dev/urandom of="$MNT/d/f$_i" bs=1024 count=$_i 2>/dev/null || return
	done
	sync
	(cd "$MNT" && md5sum big mid small d/*) >/tmp/fs.md5 || return
	echo "# $(wc -l </tmp/fs.md5) files, $(du -sk "$MNT" | cut -f1) KiB"
	[ "$(wc -l </tmp/fs.md5)" -eq 43 ]
}

# verify_files DEV [MOUNT OPTIONS]: mount DEV, md5sum -c every recorded
# file, umount.
verify_files() {
	mount ${2:+-o "$2"} "$1" "$MNT" || return
	(cd "$MNT" && md5sum -c /tmp/fs.md5) >/tmp/fs.check 2>&1
	_r=$?
	grep -v ': OK$' /tmp/fs.check
	echo "# $(grep -c ': OK$' /tmp/fs.check) of $(wc -l </tmp/fs.md5) files OK"
	umount "$MNT" || return
	return $_r
}

# media_in_use N: the committed on-media metadata (newest entry per sector)
# maps exactly N blocks.
media_in_use() {
	blockdev --flushbufs "$S" || return
	_cnt=$(ssd_media_map "$S" 0 | wc -l)
	echo "# on-media committed blocks: $_cnt, blocks in use: $1"
	[ "$_cnt" -eq "$1" ]
}

cleanup() {
	umount "$MNT" 2>/dev/null
	for _d in wcfs orgfs wc; do
		dmsetup info "$_d" >/dev/null 2>&1 && dm_remove "$_d"
	done
}

check "load $WC_UNDER_TEST writecache" load_wc || finish
# fio's verify accepts any block it once wrote at an offset: start from zeros
# (also the 4 MiB at 100M the negative control reads).
check "zero the origin's first 32 MiB and 4 MiB at 100M" sh -c \
	"dd if=/dev/zero of=$O bs=1M count=32 oflag=direct conv=fsync 2>/dev/null &&
	 dd if=/dev/zero of=$O bs=1M seek=100 count=4 oflag=direct conv=fsync 2>/dev/null"
check "zero the cache superblock" zero_sb "$S"
info "table: $TABLE"
if check "create wc" dm_create wc "$TABLE" && wc_is_dev "$WC"; then
	N=$(wc_field wc n_blocks)
	info "status after create: $(wc_info wc)"
	check_eq "n_blocks from the SSD size" "$(wc_nblocks_for "$(dev_bytes "$S")" 4096)" "$N"
	check "a new cache is empty (free == n_blocks, no error)" wc_cond wc '$1 == 0 && $3 == $2 && $2 > 0'

	# --- fio through the cache ---
	fio_jobs "through the cache" "$WC"
	check_fails "negative control: fio --verify_only fails on a region fio never wrote" \
		fio_verify "$WC" 4M --offset=100M --verify_only
	info "status after fio: $(wc_info wc)"
	check "fio data is held in the cache (free < n_blocks, nothing written back)" \
		wc_cond wc "\$3 < \$2 && \$4 == 0"
	check "fio writes allocated cache blocks, none went around" wc_cond wc '$11 > 0 && $10 == 0'
	check_eq "the origin's first 32 MiB still read zeros (the data is on the SSD only)" \
		"$ZMD5" "$(md5_range "$O" 0 8192)"

	# --- XFS in the upper half, through a linear target on top ---
	if check "create wcfs (upper half of wc)" dm_create wcfs "0 $HALF linear $WC $HALF"; then
		check "mkfs.xfs on wcfs" mkfs.xfs -f -K -q /dev/mapper/wcfs
		if check "mount wcfs" mount /dev/mapper/wcfs "$MNT"; then
			check "create files and record md5sums" make_files
			check "umount" umount "$MNT"
		fi
		check "xfs_repair -n through the cache" xfs_repair -n /dev/mapper/wcfs
		check "remount: every file matches its md5sum" verify_files /dev/mapper/wcfs
	fi
	info "status before reload: $(wc_info wc)"
	check "still below the high watermark: nothing written back" wc_cond wc '$3 > $2 / 2 && $4 == 0'

	# --- table reload: suspend, load the same table, resume ---
	check "suspend wc" dmsetup suspend wc
	FREE_SUSP=$(wc_field wc free)
	check "load the same table" dmsetup load wc --table "$TABLE"
	check "resume wc" dmsetup resume wc
	info "status after reload: $(wc_info wc)"
	check_eq "n_blocks unchanged by the reload" "$N" "$(wc_field wc n_blocks)"
	check_eq "cached blocks kept by the reload (free count as at suspend)" \
		"$FREE_SUSP" "$(wc_field wc free)"
	check "still cached after the reload (free < n_blocks)" wc_cond wc "\$3 < $N"
	check "the committed metadata on the SSD maps every block in use" \
		media_in_use $((N - FREE_SUSP))
	HITS0=$(wc_field wc read_hits)
	fio_jobs "after reload" "$WC" --verify_only
	HITS1=$(wc_field wc read_hits)
	check "reads after the reload are served from the cache (read_hits $HITS0 -> $HITS1)" \
		test "$HITS1" -gt "$HITS0"
	check "after reload: xfs_repair -n" xfs_repair -n /dev/mapper/wcfs
	check "after reload: every file matches its md5sum" verify_files /dev/mapper/wcfs

	# --- flush: synchronous writeback of everything ---
	check "message flush" dmsetup message wc 0 flush
	info "status after flush: $(wc_info wc)"
	check "after flush: free == n_blocks and writeback 0" wc_cond wc '$3 == $2 && $4 == 0'
	check "after flush: no error" wc_cond wc '$1 == 0'
	check "remove wcfs" dm_remove wcfs
	check "remove wc" dm_remove wc

	# --- the bare origin ---
	fio_jobs "bare origin" "$O" --verify_only
	if check "create orgfs (upper half of the bare origin)" dm_create orgfs "0 $HALF linear $O $HALF"; then
		check "bare origin: xfs_repair -n" xfs_repair -n /dev/mapper/orgfs
		check "bare origin: every file matches its md5sum" verify_files /dev/mapper/orgfs ro
		check "remove orgfs" dm_remove orgfs
	fi
fi
cleanup
check "unload $WC_MODULE" unload_wc
finish
