#!/bin/sh
# Injected faults: dm-error swapped in under the cache device, and
# separately under the origin, while writes and writeback run (the module
# is chosen by harness.wc=stock|ours, tests/vm/wc-select.sh).
#  A. SSD cache device fails under a running fio; new blocks are written
#     and flushed: the data writes fail, the commit's metadata write fails,
#     the error latches (status error=1, a DMERR), writes get EIO, reads of
#     cached data go on once the device is healthy again, the flush message
#     returns EIO. A table reload on healthy devices clears the error and
#     every committed block reads back; flush, remove, the origin holds it.
#  B. SSD origin fails during the flush message (kcopyd writeback): the
#     message fails, the error latches, the blocks stay cached; reload on a
#     healthy origin, data intact, flush works.
#  C. pmem, origin fails during writeback: the same as B. (dm-error cannot
#     sit under a DAX cache device, so pmem gets only origin faults.) Not
#     run against stock: its flush message then hangs for good (the
#     writeback worker waits on freelist_wait for writeback_size to drop,
#     and the failed completions decrement it without a wake-up).
# A flush to dm-error succeeds (the target takes no flush bios), so a
# commit with only in-place overwrites pending does not fail: A writes new
# blocks to force a metadata write.
#  D. dmsetup remove while the cache device, or the origin with dirty
#     blocks, is failing: completes, no hang.
. /tests/lib.sh
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
S=$HARNESS_SSD
OSECT=131072	# 64 MiB origin slice
CSECT=65536	# 32 MiB SSD cache slice
WC=/dev/mapper/wc

check "load the module under test" load_wc
modprobe dm-mod 2>/dev/null

# linear NAME DEV SECTORS / errdev NAME SECTORS: (re)load NAME as a linear
# map of DEV, or as dm-error, through suspend/load/resume.
set_table() { # NAME TABLE
	if dmsetup info "$1" >/dev/null 2>&1; then
		dmsetup suspend "$1" && dmsetup load "$1" --table "$2" && dmsetup resume "$1"
	else
		dm_create "$1" "$2"
	fi
}
linear() { set_table "$1" "0 $3 linear $2 0"; }
errdev() { set_table "$1" "0 $2 error"; }

# The slices under test, healthy, zeroed where it matters.
setup() { # MODE: s or p
	linear odev "$O" $OSECT || return
	dd if=/dev/zero of=/dev/mapper/odev bs=1M count=16 oflag=direct 2>/dev/null || return
	if [ "$1" = s ]; then
		linear cdev "$S" $CSECT || return
		zero_sb /dev/mapper/cdev || return
		CACHE=/dev/mapper/cdev
		TABLE="0 $OSECT writecache s /dev/mapper/odev $CACHE 4096 4 high_watermark 90 low_watermark 80"
	else
		wc_small_setup $((32 << 20))
		wc_zero_at "$HARNESS_PMEM" "$WC_SS" || return
		CACHE=$HARNESS_PMEM
		TABLE="0 $OSECT writecache p /dev/mapper/odev $CACHE 4096 6 start_sector $WC_SS high_watermark 90 low_watermark 80"
	fi
	dm_create wc "$TABLE"
}

teardown() {
	rmwc
	for _n in cdev odev; do
		dmsetup info "$_n" >/dev/null 2>&1 && dm_remove "$_n"
	done
	return 0
}

# committed_data: 4 MiB of random data at 0, flushed (committed); its md5
# in SUM.
committed_data() {
	dd if=/dev/urandom of=/tmp/fault.dat bs=1M count=4 2>/dev/null || return
	xfs_io -d -c "pwrite -q -i /tmp/fault.dat -b 65536 0 4M" -c fsync $WC || return
	SUM=$(md5sum </tmp/fault.dat | cut -d' ' -f1)
}

reads_back() { # DEV: the committed 4 MiB read back
	check_eq "$1: committed data reads back" "$SUM" "$(md5_range "$1" 0 1024)"
}

dmesg_has() { dmesg | grep -q "$1"; }

# --- A. the SSD cache device fails under running writes --------------------
info "A: SSD cache device fails"
check "A: set up" setup s
check "A: committed data" committed_data
fio --name=bg --filename=$WC --rw=randwrite --bs=4k --direct=1 --offset=8M \
	--size=8M --time_based --runtime=30 >/tmp/fio-bg.out 2>&1 &
FIO=$!
sleep 2
check "A: cache device becomes dm-error" errdev cdev $CSECT
check_fails "A: new blocks, flushed: the writes fail" \
	xfs_io -d -c "pwrite -q -b 65536 24M 256k" -c fsync $WC
check "A: the error latches (status error=1)" wc_poll 20 wc_cond wc '$1 == 1'
wait $FIO
info "A: background fio exit status $? (expected: an I/O error)"
check "A: a DMERR names the failure" dmesg_has "device-mapper: writecache: "
check "A: cache device healthy again" linear cdev "$S" $CSECT
check_fails "A: writes get EIO" xfs_io -d -c "pwrite -q 20M 4k" $WC
reads_back $WC
check_fails "A: flush message fails" dmsetup message wc 0 flush
check_eq "A: still error=1" 1 "$(wc_field wc error)"
check "A: reload on healthy devices" reload_wc "$TABLE"
check_eq "A: the reload cleared the error" 0 "$(wc_field wc error)"
reads_back $WC
check "A: flush message" dmsetup message wc 0 flush
check "A: remove" dm_remove wc
reads_back /dev/mapper/odev
teardown

# --- B. the origin fails during SSD writeback ---------------------------------
info "B: SSD origin fails during writeback"
check "B: set up" setup s
check "B: committed data" committed_data
USED=$(($(wc_field wc n_blocks) - $(wc_field wc free)))
check "B: origin becomes dm-error" errdev odev $OSECT
check_fails "B: flush message fails" dmsetup message wc 0 flush
check_eq "B: error latched" 1 "$(wc_field wc error)"
check_eq "B: the blocks stay cached" "$USED" $(($(wc_field wc n_blocks) - $(wc_field wc free)))
reads_back $WC
check "B: origin healthy again" linear odev "$O" $OSECT
check "B: reload" reload_wc "$TABLE"
check_eq "B: error cleared" 0 "$(wc_field wc error)"
reads_back $WC
check "B: flush message" dmsetup message wc 0 flush
check "B: remove" dm_remove wc
reads_back /dev/mapper/odev
teardown

# --- C. the origin fails during pmem writeback --------------------------------
if [ "$WC_UNDER_TEST" = stock ]; then
	info "SKIP C on stock: its flush message hangs when the origin fails (see the top)"
elif [ -n "$HARNESS_PMEM" ]; then
	info "C: pmem, origin fails during writeback"
	check "C: set up" setup p
	check "C: committed data" committed_data
	USED=$(($(wc_field wc n_blocks) - $(wc_field wc free)))
	check "C: origin becomes dm-error" errdev odev $OSECT
	check_fails "C: flush message fails" dmsetup message wc 0 flush
	check_eq "C: error latched" 1 "$(wc_field wc error)"
	check_eq "C: the blocks stay cached" "$USED" $(($(wc_field wc n_blocks) - $(wc_field wc free)))
	check_fails "C: writes get EIO" xfs_io -d -c "pwrite -q 20M 4k" $WC
	reads_back $WC
	check "C: origin healthy again" linear odev "$O" $OSECT
	check "C: reload" reload_wc "$TABLE"
	check_eq "C: error cleared" 0 "$(wc_field wc error)"
	reads_back $WC
	check "C: flush message" dmsetup message wc 0 flush
	check "C: remove" dm_remove wc
	reads_back /dev/mapper/odev
	teardown
fi

# --- D. remove while faulty -----------------------------------------------------
info "D: remove while faulty"
check "D: set up (SSD)" setup s
check "D: committed data" committed_data
xfs_io -d -c "pwrite -q 8M 1M" $WC >/dev/null 2>&1
check "D: cache device becomes dm-error" errdev cdev $CSECT
check "D: remove completes" timeout 120 dmsetup remove wc
teardown
check "D: set up (SSD) again" setup s
check "D: dirty data" committed_data
check "D: origin becomes dm-error" errdev odev $OSECT
check "D: remove with dirty blocks completes" timeout 120 dmsetup remove wc
teardown

check "unload" unload_wc
finish
