#!/bin/sh
# Power cut on persistent nvdimm, boot 1 of 2 (run by scripts/powercut.sh
# with kept --nvdimm-image/--origin-image/--ssd-image and harness.phase=1;
# skipped otherwise).  Module: harness.wc=stock|ours (tests/vm/wc-select.sh).
#
# Creates a pmem writecache with autocommit disabled (autocommit_blocks
# 1000000, autocommit_time 3600000), so that only flushes and FUA commit:
#   D1  blocks 0-1023      written, then fsync (a flush bio)      durable
#   D2  blocks 2048-4095   fio randwrite 8M, libaio O_SYNC: FUA
#                          writes and no flush, + verify           durable
#   D3  blocks 0-63        overwritten with O_SYNC (psync: FUA
#                          writes, each followed by an fsync)      durable
#   U1  blocks 5120-5183   written, never flushed (origin: zeros)  not durable
#   U2  blocks 64-127      overwritten, never flushed              not durable
# checks what reads back through the cache, that the cache holds exactly
# these blocks and that the origin has none of the durable data yet (it is
# only in pmem), writes the expected checksums to the last 64 KiB of the SSD
# disk (unused by this test, persistent), and cuts the power (sysrq b, no
# sync).  Boot 2 (t-pmem-powercut-2.sh) checks the same table after the cut.
. /tests/lib.sh
[ "$(harness_arg phase)" = 1 ] ||
	skip_all "boot 1 of a power-cut test: run scripts/powercut.sh (needs harness.phase=1 and kept images)"
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
OSZ=$(dev_sectors "$O")
WC=/dev/mapper/wc
TABLE="0 $OSZ writecache p $O $P 4096 4 autocommit_blocks 1000000 autocommit_time 3600000"
REC_SEEK=$(($(dev_bytes "$S") / 65536 - 1)) # the record: last 64 KiB of the SSD disk
# D2: O_SYNC + O_DIRECT through libaio is a REQ_FUA write and nothing else
# (the synchronous path adds an fsync, i.e. a flush bio).
FIO_D2="fio_verify $WC 8M --offset=8M --ioengine=libaio --sync=1"

[ "$HARNESS_PMEM_MODE" = nvdimm ] || skip_all "needs persistent pmem (--pmem nvdimm), not $HARNESS_PMEM_MODE"

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "zero the cache superblock" zero_sb "$P"
check "create wc: $TABLE" dm_create wc "$TABLE" || finish
wc_is_dev "$WC" || {
	fail "/dev/mapper/wc is a block device"
	finish
}
N=$(wc_field wc n_blocks)
DM=dm-$(dmsetup info -c --noheadings -o minor wc | tr -d ' ')
info "$DM write_cache: $(cat /sys/block/$DM/queue/write_cache), fua: $(cat /sys/block/$DM/queue/fua 2>/dev/null)"
check_eq "flushes and FUA reach the target ($DM has a write-back cache)" "write back" \
	"$(cat /sys/block/$DM/queue/write_cache)"

for f in A:1024 B:64 C:64 D:64; do
	dd if=/dev/urandom of=/tmp/${f%:*}.bin bs=4096 count=${f#*:} 2>/dev/null
done

S0=$(wc_sb "$P" 0 seq_count)
check "D1: write blocks 0-1023, then fsync" wc_pwrite "$WC" 0 /tmp/A.bin 0 1024 fsync
S1=$(wc_sb "$P" 0 seq_count)
check_eq "D1: the fsync committed once (seq_count +1)" $((S0 + 1)) "$S1"
FL1=$(wc_field wc flushes)
check "D2: fio randwrite 8M at 8M, libaio O_SYNC (FUA only), + verify" $FIO_D2
check_eq "D2: no flush bio was involved (flushes)" "$FL1" "$(wc_field wc flushes)"
S2=$(wc_sb "$P" 0 seq_count)
check_eq "D2: each of the 2048 FUA writes committed (seq_count +2048)" $((S1 + 2048)) "$S2"
check "D3: overwrite blocks 0-63 with O_SYNC (FUA + fsync)" wc_pwrite "$WC" 0 /tmp/B.bin 0 64 sync
S1=$(wc_sb "$P" 0 seq_count)
info "superblock seq_count $S0 -> $S1 after the durable writes"
check "D3 committed (seq_count grew)" test "$S1" -gt "$S2"
check "U1: write blocks 5120-5183, no flush" wc_pwrite "$WC" 5120 /tmp/C.bin 0 64
check "U2: overwrite blocks 64-127, no flush" wc_pwrite "$WC" 64 /tmp/D.bin 0 64
check_eq "U1/U2 did not commit (seq_count)" "$S1" "$(wc_sb "$P" 0 seq_count)"

info "status: $(wc_info wc)"
check "the cache holds D1+D2 (3072 blocks) and U1+U2 (128 uncommitted): free == n_blocks - 3200" \
	wc_cond wc "\$1 == 0 && \$3 == $N - 3200 && \$4 == 0"
check_eq "read back: blocks 0-63 (D3)" "$(md5_file /tmp/B.bin 0 64)" "$(md5_range "$WC" 0 64)"
check_eq "read back: blocks 64-127 (U2)" "$(md5_file /tmp/D.bin 0 64)" "$(md5_range "$WC" 64 64)"
check_eq "read back: blocks 128-1023 (D1)" "$(md5_file /tmp/A.bin 128 896)" "$(md5_range "$WC" 128 896)"
check_eq "read back: blocks 5120-5183 (U1)" "$(md5_file /tmp/C.bin 0 64)" "$(md5_range "$WC" 5120 64)"
ZERO1K=$(dd if=/dev/zero bs=4096 count=1024 2>/dev/null | md5sum | cut -d' ' -f1)
check_eq "nothing written back: the origin's blocks 0-1023 are still zeros" "$ZERO1K" "$(md5_range "$O" 0 1024)"

# The record: what boot 2 must find.
ZB=$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
{
	echo "powercut-record 1"
	echo "table $TABLE"
	echo "n_blocks $N"
	echo "durable 0 64 $(md5_file /tmp/B.bin 0 64)"
	echo "durable 128 896 $(md5_file /tmp/A.bin 128 896)"
	i=0
	while [ $i -lt 64 ]; do
		echo "volatile $((5120 + i)) $ZB $(md5_file /tmp/C.bin $i 1)"
		echo "volatile $((64 + i)) $(md5_file /tmp/A.bin $((64 + i)) 1) $(md5_file /tmp/D.bin $i 1)"
		i=$((i + 1))
	done
	echo "end"
} >/tmp/rec
info "record: $(wc -l </tmp/rec) lines, $(wc -c </tmp/rec) bytes"
check "the record fits in 64 KiB" test "$(wc -c </tmp/rec)" -lt 65536
check "write the record to the end of $S" \
	dd if=/tmp/rec of="$S" bs=65536 seek=$REC_SEEK count=1 conv=sync,fsync
check_eq "the record reads back from $S" "$(md5sum </tmp/rec | cut -d' ' -f1)" \
	"$(blockdev --flushbufs "$S" && dd if="$S" bs=65536 skip=$REC_SEEK count=1 2>/dev/null | tr -d '\000' | md5sum | cut -d' ' -f1)"
powercut
