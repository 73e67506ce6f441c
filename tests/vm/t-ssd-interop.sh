#!/bin/sh
# SSD-mode interop with the stock dm-writecache in one boot, both
# directions, on the same SSD and origin (tests/vm/wc-select.sh; helpers in
# tests/vm/ssd-lib.sh):
#   1. stock formats the SSD cache ("writecache s ORIGIN SSD 4096 0"),
#      writes blocks and writes them back (flush: freed entries on media),
#      writes region A (fio) and 64 blocks FA, commits with an fsync,
#      overwrites 16 of FA in place, and is removed with dirty blocks;
#   2. ours loads that cache: the same blocks in use, A and FA read back
#      from the cache; it writes region B and 64 blocks FB, overwrites 16
#      of FA again, and is removed with dirty blocks; the committed
#      metadata it left on the SSD maps FA and FB to cache blocks holding
#      their data;
#   3. stock loads ours' cache: the same blocks in use, A, B, FA, FB read
#      back; the flush message writes everything back and the bare origin
#      holds all of it.
# Without --ko (harness.wc=stock) "ours" is the stock module too, loaded
# afresh: the test then proves stock -> stock only (and itself).
. /tests/lib.sh
. /tests/wc-select.sh
[ -f /tests/ssd-lib.sh ] || { fail "/tests/ssd-lib.sh" "missing (vm-run ships tests/vm/*-lib.sh)"; finish; }
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
WC=/dev/mapper/wc
TABLE=$(wc_table s "$O" "$S" 4096 0)
if [ -n "$HARNESS_KO" ]; then
	SECOND=ours
else
	SECOND=stock
	info "no --ko module: the second module is stock again (stock -> stock -> stock only)"
fi
# Two fio regions, each written by one module (fixed seeds: fio replays the
# same offsets and patterns for --verify_only), and two file regions.
RA="--offset=0 --randseed=11"
RB="--offset=64M --randseed=22"
FA=40960 # 160 MiB
FB=41984 # 164 MiB
X=45056  # 176 MiB: written and written back by the first module
dd if=/dev/urandom of=/tmp/fa.bin bs=4096 count=96 2>/dev/null
dd if=/dev/urandom of=/tmp/fb.bin bs=4096 count=64 2>/dev/null
# expected contents of FA at the end: blocks 0-15 overwritten by the first
# module (fa 64-79), blocks 8-23 then by the second one (fa 80-95)
{
	dd if=/tmp/fa.bin bs=4096 skip=64 count=8 2>/dev/null
	dd if=/tmp/fa.bin bs=4096 skip=80 count=16 2>/dev/null
	dd if=/tmp/fa.bin bs=4096 skip=24 count=40 2>/dev/null
} >/tmp/fa-final.bin
{
	dd if=/tmp/fa.bin bs=4096 skip=64 count=16 2>/dev/null
	dd if=/tmp/fa.bin bs=4096 skip=16 count=48 2>/dev/null
} >/tmp/fa-mid.bin
used() { set -- $(dmsetup status wc); echo $(($5 - $6)); }
load_mod() { # stock|ours
	case "$1" in
	stock) load_stock ;;
	ours) load_ours ;;
	esac
}
unload_mod() { # stock|ours
	case "$1" in
	stock) rmmod dm_writecache ;;
	ours) rmmod dm_writecache_cxx ;;
	esac
}

# Earlier tests in the same boot may have left fio data at these offsets,
# and fio's verify accepts any block it wrote there: start from zeros.
check "zero the regions on the origin" sh -c \
	"dd if=/dev/zero of=$O bs=1M count=16 oflag=direct conv=fsync 2>/dev/null &&
	 dd if=/dev/zero of=$O bs=1M seek=64 count=16 oflag=direct conv=fsync 2>/dev/null &&
	 dd if=/dev/zero of=$O bs=1M seek=160 count=20 oflag=direct conv=fsync 2>/dev/null"
for _m in dm_writecache dm_writecache_cxx; do module_loaded $_m && rmmod $_m; done
zero_sb "$S"

# --- 1. stock ---
check "stock: load" load_stock || finish
if check "stock: create an SSD cache" dm_create wc "$TABLE" && wc_is_dev "$WC"; then
	N=$(wc_field wc n_blocks)
	check "stock: write 64 blocks and write them back (flush)" sh -c \
		"xfs_io -d -c 'pwrite -q -b 4096 -i /tmp/fa.bin $((X * 4096)) 262144' $WC && dmsetup message wc 0 flush"
	check "stock: write region A (no flush)" fio_verify "$WC" 16M $RA --do_verify=0
	check "stock: write 64 blocks FA, fsync (committed)" wc_pwrite "$WC" $FA /tmp/fa.bin 0 64 fsync
	check "stock: overwrite 16 of them in place" wc_pwrite "$WC" $FA /tmp/fa.bin 64 16
	USED_1=$(used)
	info "stock: $USED_1 blocks in use; status $(wc_info wc)"
	check "stock: blocks in use" test "$USED_1" -gt 0
	check "stock: remove with dirty blocks" dm_remove wc
fi
check "stock: unload" unload_mod stock
check_fails "region A is not on the bare origin" fio_verify "$O" 16M $RA --verify_only
check "the SSD holds FA's committed blocks in format v1" ssd_media_check "$S" 0 $FA /tmp/fa-mid.bin 0 64

# --- 2. ours (or stock again) ---
check "$SECOND: load" load_mod $SECOND
if check "$SECOND: create on the stock-formatted cache" dm_create wc "$TABLE" && wc_is_dev "$WC"; then
	check_eq "$SECOND: same n_blocks" "$N" "$(wc_field wc n_blocks)"
	check_eq "$SECOND: same blocks in use as stock left" "$USED_1" "$(used)"
	check "$SECOND: region A reads back through the cache" fio_verify "$WC" 16M $RA --verify_only
	check_eq "$SECOND: FA reads back through the cache" "$(md5_file /tmp/fa-mid.bin 0 64)" "$(md5_range "$WC" $FA 64)"
	check "$SECOND: read from the cache (read_hits > 0)" wc_cond wc '$6 > 0'
	check "$SECOND: write region B (no flush)" fio_verify "$WC" 16M $RB --do_verify=0
	check "$SECOND: write 64 blocks FB, fsync" wc_pwrite "$WC" $FB /tmp/fb.bin 0 64 fsync
	check "$SECOND: overwrite FA blocks 8-23" wc_pwrite "$WC" $((FA + 8)) /tmp/fa.bin 80 16
	USED_2=$(used)
	info "$SECOND: $USED_2 blocks in use; status $(wc_info wc)"
	check "$SECOND: no error" wc_cond wc '$1 == 0'
	check "$SECOND: remove with dirty blocks" dm_remove wc
fi
check "$SECOND: unload" unload_mod $SECOND
check_fails "region B is not on the bare origin" fio_verify "$O" 16M $RB --verify_only
check "the SSD holds FA's committed blocks as $SECOND left them" ssd_media_check "$S" 0 $FA /tmp/fa-final.bin 0 64
check "the SSD holds FB's committed blocks" ssd_media_check "$S" 0 $FB /tmp/fb.bin 0 64

# --- 3. stock again ---
check "stock: load again" load_stock
if check "stock: create on $SECOND's cache" dm_create wc "$TABLE" && wc_is_dev "$WC"; then
	check_eq "stock: same blocks in use as $SECOND left" "$USED_2" "$(used)"
	check "stock: region A reads back" fio_verify "$WC" 16M $RA --verify_only
	check "stock: region B reads back" fio_verify "$WC" 16M $RB --verify_only
	check_eq "stock: FA reads back" "$(md5_file /tmp/fa-final.bin 0 64)" "$(md5_range "$WC" $FA 64)"
	check_eq "stock: FB reads back" "$(md5_file /tmp/fb.bin 0 64)" "$(md5_range "$WC" $FB 64)"
	check "stock: flush message" dmsetup message wc 0 flush
	check "stock: every block free after flush, no error" wc_cond wc '$1 == 0 && $3 == $2 && $4 == 0'
	check "stock: remove" dm_remove wc
fi
check "stock: unload" unload_mod stock
check "bare origin: region A" fio_verify "$O" 16M $RA --verify_only
check "bare origin: region B" fio_verify "$O" 16M $RB --verify_only
check_eq "bare origin: FA" "$(md5_file /tmp/fa-final.bin 0 64)" "$(md5_range "$O" $FA 64)"
check_eq "bare origin: FB" "$(md5_file /tmp/fb.bin 0 64)" "$(md5_range "$O" $FB 64)"
check_eq "bare origin: the blocks written back first" "$(md5_file /tmp/fa.bin 0 64)" "$(md5_range "$O" $X 64)"
finish
