#!/bin/sh
# Power cut on persistent nvdimm, boot 2 of 2 (run by scripts/powercut.sh
# with the images of boot 1 and harness.phase=2; skipped otherwise).
# Module: harness.wc=stock|ours (tests/vm/wc-select.sh).
#
# Reads the record boot 1 left at the end of the SSD disk, re-creates the
# same table on the same pmem (no zeroing) and checks:
#  - the cache loads without error, with exactly the committed blocks (D1+D2,
#    3072): the uncommitted U1/U2 entries are dropped at load;
#  - every durable write (fsync'ed D1, FUA-only D2 via fio --verify_only,
#    O_SYNC overwrite D3 over D1) reads back through the cache, the newer version
#    winning; the origin still has none of it, so it came from pmem;
#  - each never-flushed block reads either its old or its new content, never
#    anything else, and (autocommit disabled, no flush) it is the old one;
#  - after message flush (free == n_blocks) and removing the target, the bare
#    origin holds the same durable data and the same old contents.
. /tests/lib.sh
[ "$(harness_arg phase)" = 2 ] ||
	skip_all "boot 2 of a power-cut test: run scripts/powercut.sh (needs harness.phase=2 and boot 1's images)"
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
S=$HARNESS_SSD
WC=/dev/mapper/wc
REC_SEEK=$(($(dev_bytes "$S") / 65536 - 1))

[ "$HARNESS_PMEM_MODE" = nvdimm ] || skip_all "needs persistent pmem (--pmem nvdimm), not $HARNESS_PMEM_MODE"

dd if="$S" bs=65536 skip=$REC_SEEK count=1 2>/dev/null | tr -d '\000' >/tmp/rec
if ! check "boot 1's record is on $S" sh -c 'head -n 1 /tmp/rec | grep -q "^powercut-record 1$" && tail -n 1 /tmp/rec | grep -q "^end$"'; then
	info "record: $(head -c 200 /tmp/rec)"
	finish
fi
TABLE=$(sed -n 's/^table //p' /tmp/rec)
N=$(sed -n 's/^n_blocks //p' /tmp/rec)

check "load $WC_UNDER_TEST writecache" load_wc || finish
check "re-create wc on the same pmem (no zeroing): $TABLE" dm_create wc "$TABLE" || finish
wc_is_dev "$WC" || {
	fail "/dev/mapper/wc is a block device"
	finish
}
info "status after load: $(wc_info wc)"
check "the cache loads without error" wc_cond wc '$1 == 0'
check_eq "n_blocks as before the power cut" "$N" "$(wc_field wc n_blocks)"
check_eq "exactly the committed blocks are cached (free == n_blocks - 3072)" \
	$((N - 3072)) "$(wc_field wc free)"

# durable data through the cache
verify_durable() { # DEV LABEL
	while read -r _k _b _n _m; do
		[ "$_k" = durable ] || continue
		check_eq "$2: durable blocks $_b-$((_b + _n - 1))" "$_m" "$(md5_range "$1" "$_b" "$_n")"
	done </tmp/rec
	check "$2: D2 (fio randwrite, libaio O_SYNC) verifies" \
		fio_verify "$1" 8M --offset=8M --ioengine=libaio --sync=1 --verify_only
}
verify_durable "$WC" "through the cache"
ZERO=$(dd if=/dev/zero bs=4096 count=1024 2>/dev/null | md5sum | cut -d' ' -f1)
check_eq "the origin still has zeros in blocks 0-1023 (the data came from pmem)" "$ZERO" "$(md5_range "$O" 0 1024)"

# volatile blocks: each reads old or new; here old
classify() { # DEV: print "old", "new" or "other" per volatile block, in record order
	blockdev --flushbufs "$1"
	while read -r _k _b _old _new; do
		[ "$_k" = volatile ] || continue
		_m=$(dd if="$1" bs=4096 skip="$_b" count=1 2>/dev/null | md5sum | cut -d' ' -f1)
		if [ "$_m" = "$_old" ]; then
			echo "old $_b"
		elif [ "$_m" = "$_new" ]; then
			echo "new $_b"
		else
			echo "other $_b"
		fi
	done </tmp/rec
}
classify "$WC" >/tmp/cls.cache
info "never-flushed blocks through the cache: $(cut -d' ' -f1 /tmp/cls.cache | sort | uniq -c | tr -s ' \n' ' ')"
check_eq "never-flushed blocks: none reads garbage (neither old nor new)" 0 "$(grep -c '^other' /tmp/cls.cache)"
check_eq "never-flushed, uncommitted blocks are dropped: all 128 read their old data" 128 "$(grep -c '^old' /tmp/cls.cache)"

# flush, then the bare origin
check "message flush" dmsetup message wc 0 flush
check "after flush: free == n_blocks, writeback 0, no error" wc_cond wc '$1 == 0 && $3 == $2 && $4 == 0'
check "remove wc" dm_remove wc
verify_durable "$O" "bare origin"
classify "$O" >/tmp/cls.origin
check "bare origin: never-flushed blocks hold what the cache returned" cmp /tmp/cls.cache /tmp/cls.origin
check "unload $WC_MODULE" unload_wc
finish
