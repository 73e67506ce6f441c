#!/bin/sh
# Corrupt metadata images, differential against the stock module in one
# boot. A valid SSD-mode cache image (8 MiB, committed entries including
# overwritten blocks) and a valid pmem-mode one are made with the stock
# module; then each mutation of them (superblock fields, entries, a
# truncated device, seeded random byte flips) is written back and loaded by
# stock and by ours, one module at a time. The outcome must be identical:
# rejected with the same ctr error text, or accepted with the same INFO
# status and the same data read back through the cache (upstream's
# documented recovery: uncommitted entries dropped, the newer of two
# versions kept, "two identical entries" latching the error). The harness
# fails the test on any oops, warning or hang. Stock 6.12 WARNs in
# vmalloc(0) on an n_blocks of 0, so that image is loaded by ours only and
# must be rejected.
#   harness.corrupt_random=N random flips per mode (default 20)
. /tests/lib.sh
. /tests/wc-select.sh
require_ko

O=$HARNESS_ORIGIN
S=$HARNESS_SSD
OSECT=131072		# 64 MiB origin slice
ISECT=16384		# 8 MiB cache image
NRAND=$(harness_arg corrupt_random 20)

# put_le64 FILE BYTE_OFFSET VALUE (decimal, or -1 for all ones)
put_le64() {
	awk -v v="$3" 'BEGIN {
		if (v == -1) { for (i = 0; i < 8; i++) printf "\377"; exit }
		for (i = 0; i < 8; i++) { printf "%c", v % 256; v = int(v / 256) }
	}' | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
put_byte() { # FILE OFFSET BYTE
	awk -v b="$3" 'BEGIN { printf "%c", b }' | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
get_le64() { # FILE OFFSET
	od -A n -t u8 -j "$2" -N 8 "$1" | tr -d ' '
}

linear() { # NAME DEV START SECTORS
	if dmsetup info "$1" >/dev/null 2>&1; then
		dmsetup suspend "$1" && dmsetup load "$1" --table "0 $4 linear $2 $3" &&
			dmsetup resume "$1"
	else
		dm_create "$1" "0 $4 linear $2 $3"
	fi
}

check "origin slice" linear odev "$O" 0 $OSECT
check "zero the origin slice" dd if=/dev/zero of=/dev/mapper/odev bs=1M count=64 oflag=direct
wc_small_setup $((8 << 20))

# mode_table MODE: the table line for the image under test.
mode_table() {
	if [ "$1" = s ]; then
		echo "0 $OSECT writecache s /dev/mapper/odev /dev/mapper/cdev 4096 0"
	else
		echo "0 $OSECT writecache p /dev/mapper/odev $HARNESS_PMEM 4096 2 start_sector $WC_SS"
	fi
}

# put_image MODE FILE [SECTORS]: the image onto the cache device (SSD: a
# linear slice of SECTORS, default the image's size; pmem: at start_sector).
put_image() {
	if [ "$1" = s ]; then
		_n=${3:-$ISECT}
		linear cdev "$S" 0 "$_n" || return
		dd if="$2" of=/dev/mapper/cdev bs=4096 count=$((_n / 8)) oflag=direct \
			conv=notrunc 2>/dev/null
	else
		dd if="$2" of="$HARNESS_PMEM" bs=512 seek="$WC_SS" conv=notrunc,fsync 2>/dev/null
	fi
}

get_image() { # MODE FILE
	if [ "$1" = s ]; then
		dd if=/dev/mapper/cdev of="$2" bs=1M iflag=direct 2>/dev/null
	else
		blockdev --flushbufs "$HARNESS_PMEM"
		dd if="$HARNESS_PMEM" of="$2" bs=512 skip="$WC_SS" count=$ISECT 2>/dev/null
	fi
}

# settle: when the loaded cache is above the high watermark (50 % used),
# wait until the writeback that resume started is over: nothing in flight
# and the status unchanged for 0.3 s (at most 5 s).
settle() {
	_i=0
	while [ $_i -lt 17 ]; do
		_a=$(dmsetup status wci | cut -d' ' -f4-)
		set -- $_a
		[ $(($3 * 2)) -ge "$2" ] && return 0
		sleep 0.3
		_b=$(dmsetup status wci | cut -d' ' -f4-)
		set -- $_b
		[ "$_a" = "$_b" ] && [ "$4" = 0 ] && return 0
		_i=$((_i + 1))
	done
}

# outcome MODE: load the image; "ok <status> <md5 of the first 256 blocks>"
# or "err <ctr error text>"; the table is removed again.
outcome() {
	# Recovered blocks may be written back (a tiny n_blocks is above the
	# watermark): every run starts from a zeroed origin.
	dd if=/dev/zero of=/dev/mapper/odev bs=1M count=1 oflag=direct 2>/dev/null
	_before=$(dmesg | wc -l)
	if dmsetup create wci --table "$(mode_table "$1")" >/dev/null 2>&1; then
		settle
		_st=$(dmsetup status wci | cut -d' ' -f4-)
		# One O_DIRECT bio per block: a buffered read sends bios that
		# mix cached and uncached blocks, which stock 6.1 answers
		# wrongly (the dm_accept_partial_bio bug, t-regress-io.sh).
		_md=$(dd if=/dev/mapper/wci bs=4096 count=256 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
		_log=$(dmesg | tail -n +$((_before + 1)) | sed -n 's/.*writecache: \(.*\)$/\1/p' | head -n 1)
		dm_remove wci >/dev/null 2>&1 || echo "REMOVE FAILED"
		echo "ok $_st $_md${_log:+ log: $_log}"
	else
		# The table's error line ("table: 254:2: writecache: <text>"),
		# else the last device-mapper line.
		_e=$(dmesg | tail -n +$((_before + 1)) |
			sed -n 's/.*device-mapper: table: [0-9:]*: \(.*\)$/\1/p' | tail -n 1)
		[ -n "$_e" ] || _e=$(dmesg | tail -n +$((_before + 1)) |
			sed -n 's/.*device-mapper: \(.*\)$/\1/p' | tail -n 1)
		echo "err ${_e:-<no dmesg line>}"
	fi
}

# make_valid MODE: a committed cache image in /tmp/valid-MODE.img, written
# with the stock module: 200 blocks, 40 of them overwritten after a commit.
make_valid() {
	if [ "$1" = s ]; then
		linear cdev "$S" 0 $ISECT || return
		zero_sb /dev/mapper/cdev || return
	else
		wc_zero_at "$HARNESS_PMEM" "$WC_SS" || return
	fi
	dm_create wci "$(mode_table "$1")" || return
	xfs_io -d -c "pwrite -q -S 0x5a -b 65536 0 800k" -c fsync /dev/mapper/wci || return
	xfs_io -d -c "pwrite -q -S 0xa5 -b 4096 40k 160k" -c fsync /dev/mapper/wci || return
	dm_remove wci || return
	get_image "$1" "/tmp/valid-$1.img"
}

check "load stock" load_stock
check "valid SSD image (stock)" make_valid s
check "valid pmem image (stock)" make_valid p
check "unload stock" rmmod dm_writecache
NB=$(get_le64 /tmp/valid-s.img 16)
SEQ=$(get_le64 /tmp/valid-s.img 24)
info "SSD image: n_blocks $NB, seq_count $SEQ"

# The mutations: NAME|MODES|commands on $IMG (a copy of the valid image).
# Entry b lives at 64 + 16 b: original_sector, then seq_count.
cat >/tmp/mutations <<'EOF'
valid|s p|:
magic flipped|s p|put_byte $IMG 0 34
magic and version zero (re-format)|s p|put_le64 $IMG 0 0
version 2|s p|put_byte $IMG 4 2
block size 512|s p|put_le64 $IMG 8 512
n_blocks + 1|s p|put_le64 $IMG 16 $((NB + 1))
n_blocks 0|s p|put_le64 $IMG 16 0
n_blocks 1|s p|put_le64 $IMG 16 1
n_blocks huge (overflow)|s p|put_le64 $IMG 16 1152921504606846976
n_blocks all ones|s p|put_le64 $IMG 16 -1
seq_count 0 (nothing committed)|s p|put_le64 $IMG 24 0
seq_count 1|s p|put_le64 $IMG 24 1
seq_count all ones|s p|put_le64 $IMG 24 -1
entry 0 uncommitted (seq = sb seq)|s p|put_le64 $IMG 72 $SEQ
entry 5 duplicates entry 4 (same sector and seq)|s p|put_le64 $IMG 144 $(get_le64 $IMG 128); put_le64 $IMG 152 $(get_le64 $IMG 136)
entry 5 older copy of entry 4|s p|put_le64 $IMG 144 $(get_le64 $IMG 128); put_le64 $IMG 152 0
entry 3 beyond the origin|s p|put_le64 $IMG 112 99999999999
entry 3 sector all ones|s p|put_le64 $IMG 112 -1
entry 7 unaligned sector|s p|put_le64 $IMG 176 3
entries zeroed|s p|dd if=/dev/zero of=$IMG bs=64 seek=1 count=64 conv=notrunc 2>/dev/null
entries random|s p|dd if=/dev/urandom of=$IMG bs=64 seek=1 count=16 conv=notrunc 2>/dev/null
device truncated to half|s|TRUNC=$((ISECT / 2))
device truncated to the metadata|s|TRUNC=16
EOF
# Seeded random flips in the superblock and the first entries.
awk -v n="$NRAND" 'BEGIN { srand(7); for (i = 0; i < n; i++)
	printf "random flip %d|s p|put_byte $IMG %d %d\n", i, int(rand() * 1024), int(rand() * 256) }' >>/tmp/mutations

# run_all MODULE: every mutation in both modes, results to /tmp/res-MODULE.
run_all() {
	: >"/tmp/res-$1"
	while IFS='|' read -r _name _modes _cmd; do
		for _m in $_modes; do
			if [ "$1" = stock ] && [ "$_name" = "n_blocks 0" ]; then
				echo "$_m $_name: not run (stock WARNs in vmalloc(0))" >>"/tmp/res-$1"
				continue
			fi
			IMG=/tmp/img
			cp "/tmp/valid-$_m.img" $IMG
			TRUNC=
			eval "$_cmd"
			put_image "$_m" $IMG $TRUNC || echo "PUT FAILED"
			echo "$_m $_name: $(outcome "$_m")" >>"/tmp/res-$1"
		done
	done </tmp/mutations
}

check "load stock" load_stock
run_all stock
check "unload stock" rmmod dm_writecache
check "load ours" load_ours
run_all ours
check_eq "no allocation left" 0 "$(cat /sys/module/dm_writecache_cxx/parameters/core_allocations)"
check "unload ours" rmmod dm_writecache_cxx

n=$(wc -l </tmp/res-ours)
info "$n loads per module: $(grep -c ': ok ' /tmp/res-ours) accepted, $(grep -c ': err ' /tmp/res-ours) rejected"
check_eq "no rejection without a kernel log line" 0 "$(grep -c '<no dmesg line>' /tmp/res-ours)"
check_eq "no failed remove" 0 "$(grep -c 'REMOVE FAILED' /tmp/res-ours)"
i=0
while read -r _line; do
	i=$((i + 1))
	_st=$(sed -n "${i}p" /tmp/res-stock)
	case "$_st" in
	*": not run "*)
		case "$_line" in
		*": err "*) pass "${_line#*: } (ours only: ${_st#*: })" ;;
		*) fail "${_line%%: *}: rejected" "${_line#*: }" ;;
		esac
		continue
		;;
	esac
	if [ "$_st" = "$_line" ]; then
		pass "${_line%%: *}: same as stock: ${_line#*: }"
	else
		fail "${_line%%: *}: same as stock" "stock '${_st#*: }', ours '${_line#*: }'"
	fi
done </tmp/res-ours
dm_remove cdev
dm_remove odev
finish
