# tests/vm/wc-select.sh: sourced by the pmem-mode guest tests right after
# /tests/lib.sh.  It is not a test itself; vm-run copies it into the guest
# only when asked:  scripts/vm-run.sh --extra tests/vm/wc-select.sh ...
#
# Picks the module under test from the kernel command line word
#   harness.wc=stock   the distribution's dm-writecache (modprobe)
#   harness.wc=ours    dm-writecache-cxx.ko from --ko (the default)
# Both register the target name "writecache".  Provides:
#   WC_UNDER_TEST      "stock" or "ours", for messages
#   WC_MODULE          the module name in /proc/modules
#   load_wc / unload_wc
#   wc_stock_61        true when testing the stock module on a 6.1 kernel,
#                      whose behaviour differs from 6.12.117 in a few
#                      documented points (the reference, section 9)
# and small helpers shared by the pmem tests (status fields, polling, the
# on-media superblock, block checksums).

WC_UNDER_TEST=$(harness_arg wc ours)
case "$WC_UNDER_TEST" in
stock) WC_MODULE=dm_writecache ;;
ours) WC_MODULE=dm_writecache_cxx ;;
*)
	fail "harness.wc=$WC_UNDER_TEST" "must be stock or ours"
	finish
	;;
esac
if [ "$WC_UNDER_TEST" = ours ] && [ -z "$HARNESS_KO" ]; then
	skip_all "harness.wc=ours but no --ko module given (pass --ko, or --append harness.wc=stock)"
fi
info "module under test: $WC_UNDER_TEST ($WC_MODULE), kernel $HARNESS_KVER, pmem $HARNESS_PMEM_MODE"

# load_wc: load the module under test; fail if the other writecache module
# holds the target name or the target did not get registered.
load_wc() {
	for _m in dm_writecache dm_writecache_cxx; do
		if [ "$_m" != "$WC_MODULE" ] && module_loaded "$_m"; then
			echo "$_m is loaded and holds the target name" >&2
			return 1
		fi
	done
	if ! module_loaded "$WC_MODULE"; then
		case "$WC_UNDER_TEST" in
		stock) load_stock || return ;;
		ours) load_ours || return ;;
		esac
	fi
	module_loaded "$WC_MODULE" || return 1
	dmsetup targets | grep -q '^writecache '
}

unload_wc() { rmmod "$WC_MODULE"; }

# wc_stock_61: the stock 6.1 module is under test (6.12.117-only fixes absent).
wc_stock_61() {
	[ "$WC_UNDER_TEST" = stock ] || return 1
	case "$HARNESS_KVER" in 6.1.*) return 0 ;; esac
	return 1
}

# wc_skip_61 NAME WHY: report a check that is not made against stock 6.1.
wc_skip_61() {
	info "SKIP on stock $HARNESS_KVER: $1 -- $2"
}

# --- status -------------------------------------------------------------------------
# INFO fields: 1 error, 2 n_blocks, 3 free, 4 writeback, 5 reads, 6 read_hits,
# 7 writes, 8 write_hits_uncommitted, 9 write_hits_committed, 10 writes_around,
# 11 writes_allocate, 12 writes_blocked_on_freelist, 13 flushes, 14 discards.
wc_info() { dmsetup status "$1" | cut -d' ' -f4-; }

# wc_field DEV FIELD: one INFO field, by number or name.
wc_field() {
	case "$2" in
	error) _i=1 ;;
	n_blocks) _i=2 ;;
	free) _i=3 ;;
	writeback) _i=4 ;;
	reads) _i=5 ;;
	read_hits) _i=6 ;;
	writes) _i=7 ;;
	write_hits_uncommitted) _i=8 ;;
	write_hits_committed) _i=9 ;;
	writes_around) _i=10 ;;
	writes_allocate) _i=11 ;;
	writes_blocked_on_freelist) _i=12 ;;
	flushes) _i=13 ;;
	discards) _i=14 ;;
	*) _i=$2 ;;
	esac
	dmsetup status "$1" | awk -v n=$((_i + 3)) '{ print $n }'
}

# wc_cond DEV AWK-EXPR: true if the expression over the INFO fields ($1..$14)
# holds, e.g. wc_cond wc '$3 == $2 && $4 == 0'.  Prints the fields.
wc_cond() {
	_s=$(wc_info "$1") || return 1
	echo "status $1: $_s"
	echo "$_s" | awk "{ exit !($2) }"
}

# now_cs: uptime in centiseconds.
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# wc_poll SECONDS CMD...: run CMD every 0.2 s until it succeeds (status 0)
# or SECONDS have passed (status 1).  Prints the last output of CMD and the
# time it took.
wc_poll() {
	_end=$(($(now_cs) + $1 * 100))
	_t0=$(now_cs)
	shift
	while :; do
		if "$@" >/tmp/wc-poll.out 2>&1; then
			cat /tmp/wc-poll.out
			echo "# condition met after $((($(now_cs) - _t0) * 10)) ms"
			return 0
		fi
		if [ "$(now_cs)" -ge "$_end" ]; then
			cat /tmp/wc-poll.out
			echo "condition not met within $(((_end - _t0) / 100)) s"
			return 1
		fi
		sleep 0.2
	done
}

# --- cache geometry and on-media superblock ---------------------------------------
# wc_nblocks_for BYTES BLOCKSIZE: upstream's n_blocks for a cache area of BYTES.
wc_nblocks_for() {
	_n=$(($1 / ($2 + 16)))
	while [ "$_n" -gt 0 ]; do
		_off=$(((64 + 16 * _n + $2 - 1) / $2 * $2))
		[ $((_off + _n * $2)) -le "$1" ] && break
		_n=$((_n - 1))
	done
	echo "$_n"
}

# wc_small_start DEV BYTES: a start_sector (multiple of 8) that leaves at
# least BYTES of DEV for the cache area.
wc_small_start() { echo $((($(dev_bytes "$1") - $2) / 4096 * 8)); }

# wc_zero_at DEV SECTOR: zero the 4 KiB superblock area at SECTOR.
wc_zero_at() {
	dd if=/dev/zero of="$1" bs=512 seek="$2" count=8 conv=fsync 2>/dev/null
}

# wc_sb DEV START_SECTOR FIELD: a superblock field read from the cache
# device (page cache dropped first): magic (hex), version, block_size,
# n_blocks, seq_count (decimal).
wc_sb() {
	case "$3" in
	magic) _o=0 _t=x4 _w=4 ;;
	version) _o=4 _t=u4 _w=4 ;;
	block_size) _o=8 _t=u4 _w=4 ;;
	n_blocks) _o=16 _t=u8 _w=8 ;;
	seq_count) _o=24 _t=u8 _w=8 ;;
	*) return 2 ;;
	esac
	blockdev --flushbufs "$1" || return
	dd if="$1" bs=512 skip="$2" count=1 2>/dev/null | od -A n -t "$_t" -j "$_o" -N "$_w" | tr -d ' \n'
}

# wc_small_setup BYTES: choose a small cache area at the end of the pmem
# device (start_sector) of at least BYTES; sets WC_SS (the start_sector),
# WC_AREA (its size in bytes) and WC_NEXP (upstream's n_blocks for it).
wc_small_setup() {
	WC_SS=$(wc_small_start "$HARNESS_PMEM" "$1")
	WC_AREA=$(($(dev_bytes "$HARNESS_PMEM") - WC_SS * 512))
	WC_NEXP=$(wc_nblocks_for "$WC_AREA" 4096)
	info "small cache area: start_sector $WC_SS, $WC_AREA bytes, expected n_blocks $WC_NEXP"
}

# mkwc [OPTS...]: create "wc", a fresh small pmem cache (its superblock
# zeroed first) over the whole origin: start_sector WC_SS plus OPTS, 4 KiB
# blocks.  Sets TABLE.  Fails unless /dev/mapper/wc is a block device.
mkwc() {
	wc_zero_at "$HARNESS_PMEM" "$WC_SS" || return
	TABLE="0 $(dev_sectors "$HARNESS_ORIGIN") writecache p $HARNESS_ORIGIN $HARNESS_PMEM 4096 $(($# + 2)) start_sector $WC_SS${*:+ $*}"
	echo "# table: $TABLE"
	dm_create wc "$TABLE" && wc_is_dev /dev/mapper/wc
}

# reload_wc TABLE: suspend, load TABLE, resume.
reload_wc() {
	dmsetup suspend wc && dmsetup load wc --table "$1" && dmsetup resume wc
}

# rmwc: remove "wc" if it exists (resuming it first if suspended).
rmwc() {
	dmsetup info wc >/dev/null 2>&1 || return 0
	dmsetup resume wc 2>/dev/null
	dm_remove wc
}

# --- data -----------------------------------------------------------------------------
# md5_range DEV OFFSET_BLOCKS COUNT_BLOCKS: md5 of 4 KiB blocks of DEV, read
# after dropping DEV's page cache (so the read goes to the device).
md5_range() {
	blockdev --flushbufs "$1" || return
	dd if="$1" bs=4096 skip="$2" count="$3" 2>/dev/null | md5sum | cut -d' ' -f1
}

# md5_file FILE OFFSET_BLOCKS COUNT_BLOCKS
md5_file() {
	dd if="$1" bs=4096 skip="$2" count="$3" 2>/dev/null | md5sum | cut -d' ' -f1
}

# wc_pwrite DEV OFFSET_BLOCKS SRCFILE SRC_BLOCK COUNT [MODE]: O_DIRECT
# writes of 4 KiB each (one bio per block) from SRCFILE to DEV with xfs_io.
# MODE: plain (default), sync (O_SYNC: every write is REQ_FUA), fsync (one
# fsync at the end: a flush bio).
wc_pwrite() {
	_o="-d"
	_w=
	case "${6:-plain}" in
	plain) ;;
	sync) _o="-d -s" ;;
	fsync) _w=-W ;;
	*) return 2 ;;
	esac
	xfs_io $_o -c "pwrite -q $_w -b 4096 -i $3 -s $(($4 * 4096)) $(($2 * 4096)) $(($5 * 4096))" "$1"
}

# wc_is_dev PATH: the dm node exists and is a block device (a failed create
# must never leave I/O to write a regular file in /dev/mapper).
wc_is_dev() { [ -b "$1" ]; }
