#!/bin/sh
# Host-kill power cut on persistent nvdimm, boot 1 of 2 (run by
# scripts/killcut.sh with kept --nvdimm-image/--origin-image/--ssd-image and
# harness.phase=1; skipped otherwise).  Module: harness.wc=stock|ours
# (tests/vm/wc-select.sh).  harness.seed=N picks the block sequence.
#
# Creates "writecache p ORIGIN PMEM 4096 0" over the whole origin (pmem
# superblock zeroed first), prints KILLCUT-WORKLOAD-RUNNING and then loops
# over durable writes, never ending on its own; the host SIGKILLs QEMU.
# Iteration i:
#   1. writes one 4 KiB block to block B(i) (0..KC_NB-1, an LCG of the seed,
#      see kc_step) of /dev/mapper/wc: 128 identical 32-byte lines
#      "KC <i:8> <B:8> <tag:10>\n" (numbers space-padded:
#      busybox awk reads leading zeros as octal), with O_DIRECT and an fsync (a flush);
#   2. only after that returned, appends a 512-byte record
#      "KL <i:8> <B:8> <tag:10> <sum:10>\n" + NUL padding at sector i of the
#      SSD disk (not used by the table), with O_DIRECT and an fsync.
# So every valid log record is an acknowledged durable write; at most
# iteration <number of records> is in flight (written but not logged).
# Boot 2 (t-pmem-killcut-2.sh) checks the data against the log.
. /tests/lib.sh
[ "$(harness_arg phase)" = 1 ] ||
	skip_all "boot 1 of a kill-cut test: run scripts/killcut.sh (needs harness.phase=1 and kept images)"
. /tests/wc-select.sh
[ "$HARNESS_PMEM_MODE" = nvdimm ] || skip_all "needs persistent pmem (--pmem nvdimm), not $HARNESS_PMEM_MODE"

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
WC=/dev/mapper/wc
KC_NB=256        # blocks 0..255 of the origin (1 MiB): overwrites are frequent
KC_LOGMAX=8192   # log records (4 MiB of the SSD disk); then the loop idles
SEED=$(harness_arg seed 1)
TABLE=$(wc_table p "$O" "$P" 4096 0)

# kc_step: advance the LCG state X and set KB (the block) and KT (the tag)
# of iteration KI.  Boot 2 has the same function.
kc_step() {
	X=$(((X * 1103515245 + 12345) % 2147483648))
	KB=$(((X / 65536) % KC_NB))
	KT=$(((KI * 2654435761 + KB * 40503 + SEED) % 4294967296))
}

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "zero the cache superblock" zero_sb "$P"
check "zero the log area (first 4 MiB of $S)" \
	dd if=/dev/zero of="$S" bs=1048576 count=4 oflag=direct conv=fsync || finish
check "create wc: $TABLE" dm_create wc "$TABLE" || finish
wc_is_dev "$WC" || {
	fail "/dev/mapper/wc is a block device"
	finish
}
info "status: $(wc_info wc)"
info "seed $SEED, $KC_NB blocks, log on $S"
[ "$LIB_FAIL" -eq 0 ] || finish

echo "KILLCUT-WORKLOAD-RUNNING"
X=$SEED
KI=0
while [ $KI -lt $KC_LOGMAX ]; do
	kc_step
	L=$(printf 'KC %8d %8d %10d\n' $KI $KB $KT)
	L="$L
"
	L=$L$L$L$L L=$L$L$L$L L=$L$L$L$L L=$L$L # 128 lines, 4096 bytes
	printf '%s' "$L" >/tmp/blk
	if ! dd if=/tmp/blk of="$WC" bs=4096 seek=$KB count=1 oflag=direct conv=notrunc,fsync 2>/tmp/dd.err; then
		fail "iteration $KI: durable write of block $KB" "$(cat /tmp/dd.err)"
		break
	fi
	SUM=$(((KI * 7919 + KB * 104729 + KT) % 4294967291))
	printf 'KL %8d %8d %10d %10d\n' $KI $KB $KT $SUM >/tmp/rec
	if ! dd if=/tmp/rec of="$S" bs=512 seek=$KI count=1 oflag=direct conv=sync,notrunc,fsync 2>/tmp/dd.err; then
		fail "iteration $KI: log record" "$(cat /tmp/dd.err)"
		break
	fi
	KI=$((KI + 1))
	[ $((KI % 25)) -eq 0 ] && echo "KILLCUT-LOGGED $KI"
done
echo "KILLCUT-WORKLOAD-STOPPED $KI"
# Not killed yet (or a write failed): wait for the host.
finish
