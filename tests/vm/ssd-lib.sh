# tests/vm/ssd-lib.sh: helpers for the SSD-mode guest tests (t-ssd-*), sourced
# after /tests/lib.sh and /tests/wc-select.sh.  It is not a test itself;
# vm-run copies it into the guest's /tests/ (as every tests/vm/*-lib.sh).
#
# The SSD cache device is $HARNESS_SSD (/dev/vdb, 256 MiB, virtio, as slow
# as the origin under TCG: keep I/O small).  Provides:
#   ssd_small_setup BYTES   a small cache area at the end of the SSD
#                           (WC_SS, WC_AREA, WC_NEXP)
#   ssd_table / mkwcs       table line / create "wc" on that area
#   ssd_seq, seq_is, seq_ge the superblock's seq_count on the SSD (commits)
#   blk_stat                /sys/block/DEV/stat fields (flushes, discards)
#   ssd_media_check         the committed metadata on the SSD maps blocks to
#                           cache blocks that hold the expected data
#   wc_bio                  one write bio of several blocks (xfs_io -d)

S=$HARNESS_SSD

# ssd_small_setup BYTES: choose a small cache area at the end of the SSD
# (start_sector) of at least BYTES; sets WC_SS (the start_sector), WC_AREA
# (its size in bytes) and WC_NEXP (upstream's n_blocks for it).
ssd_small_setup() {
	WC_SS=$(wc_small_start "$S" "$1")
	WC_AREA=$(($(dev_bytes "$S") - WC_SS * 512))
	WC_NEXP=$(wc_nblocks_for "$WC_AREA" 4096)
	info "small SSD cache area: start_sector $WC_SS, $WC_AREA bytes, expected n_blocks $WC_NEXP"
}

# ssd_table [OPTS...]: an SSD-mode table line over the whole origin with
# start_sector WC_SS plus OPTS, 4 KiB blocks.
ssd_table() {
	echo "0 $(dev_sectors "$HARNESS_ORIGIN") writecache s $HARNESS_ORIGIN $S 4096 $(($# + 2)) start_sector $WC_SS${*:+ $*}"
}

# mkwcs [OPTS...]: create "wc", a fresh small SSD cache (its superblock
# zeroed first): ssd_table OPTS.  Sets TABLE.  Fails unless /dev/mapper/wc
# is a block device.
mkwcs() {
	wc_zero_at "$S" "$WC_SS" || return
	TABLE=$(ssd_table "$@")
	echo "# table: $TABLE"
	dm_create wc "$TABLE" && wc_is_dev /dev/mapper/wc
}

# ssd_seq: the superblock seq_count of the small cache (one increment per
# commit), read from the SSD.
ssd_seq() { wc_sb "$S" "$WC_SS" seq_count; }

# seq_is N: the superblock seq_count is N (for wc_poll).
seq_is() {
	_sm_sq=$(ssd_seq)
	echo "seq_count $_sm_sq (want $1)"
	[ "$_sm_sq" = "$1" ]
}

# seq_ge N: the superblock seq_count is at least N (for wc_poll).
seq_ge() {
	_sm_sq=$(ssd_seq)
	echo "seq_count $_sm_sq (want >= $1)"
	[ "$_sm_sq" -ge "$1" ]
}

# blk_stat DEV FIELD: a field of /sys/block/DEV/stat by name: writes (I/Os),
# wsect (sectors written), discards (I/Os), dsect (sectors discarded),
# flushes (flush requests completed).
blk_stat() {
	case "$2" in
	reads) _sm_f=1 ;;
	writes) _sm_f=5 ;;
	wsect) _sm_f=7 ;;
	discards) _sm_f=12 ;;
	dsect) _sm_f=14 ;;
	flushes) _sm_f=16 ;;
	*) return 2 ;;
	esac
	awk -v n=$_sm_f '{ print $n + 0 }' "/sys/block/$(basename "$1")/stat"
}

# wc_bio DEV OFFSET_BLOCKS SRCFILE SRC_BLOCK COUNT: ONE O_DIRECT write of
# COUNT 4 KiB blocks (a single pwrite, so a single bio up to the device's
# max I/O size) from SRCFILE to DEV.
wc_bio() {
	xfs_io -d -c "pwrite -q -b $(($5 * 4096)) -i $3 -s $(($4 * 4096)) $(($2 * 4096)) $(($5 * 4096))" "$1"
}

# --- the committed metadata on the cache device ------------------------------
# ssd_media_map DEV START_SECTOR: "sector index" for the newest committed
# entry (seq_count < the superblock's) of every sector in the on-media
# metadata (format v1: 64-byte superblock, then 16-byte entries
# {original_sector, seq_count}, little-endian).
ssd_media_map() {
	_sm_n=$(wc_sb "$1" "$2" n_blocks) || return
	_sm_sq=$(wc_sb "$1" "$2" seq_count) || return
	dd if="$1" bs=512 skip="$2" count=$(((64 + 16 * _sm_n + 511) / 512)) 2>/dev/null |
		od -A n -v -t u8 -j 64 -N $((16 * _sm_n)) |
		awk -v sq="$_sm_sq" '{
			i = NR - 1
			if ($2 + 0 < sq + 0 && (!($1 in seq) || $2 + 0 > seq[$1] + 0)) { seq[$1] = $2; idx[$1] = i }
		} END { for (s in idx) print s, idx[s] }'
}

# ssd_media_check DEV START_SECTOR BLOCK SRCFILE SRC_BLOCK COUNT: for each
# of COUNT 4 KiB blocks from origin block BLOCK on, the committed on-media
# metadata names a cache block, and that cache block on DEV holds 4 KiB
# block SRC_BLOCK+k of SRCFILE.  Proves the data and the metadata really
# are on the cache device in upstream's format.
ssd_media_check() {
	_sm_d=$1 _sm_ss=$2 _sm_b=$3 _sm_src=$4 _sm_sb=$5 _sm_c=$6
	blockdev --flushbufs "$_sm_d" || return
	_sm_n=$(wc_sb "$_sm_d" "$_sm_ss" n_blocks) || return
	_sm_doff=$((((64 + 16 * _sm_n + 4095) / 4096) * 8)) # data offset in sectors
	ssd_media_map "$_sm_d" "$_sm_ss" >/tmp/media.map || return
	echo "# on-media map: $(wc -l </tmp/media.map) committed blocks, n_blocks $_sm_n, seq_count $(wc_sb "$_sm_d" "$_sm_ss" seq_count)"
	_sm_k=0 _sm_bad=0
	while [ $_sm_k -lt "$_sm_c" ]; do
		_sm_sec=$(((_sm_b + _sm_k) * 8))
		_sm_i=$(awk -v s=$_sm_sec '$1 == s { print $2 }' /tmp/media.map)
		if [ -z "$_sm_i" ]; then
			echo "block $((_sm_b + _sm_k)) (sector $_sm_sec): no committed entry on the cache device"
			_sm_bad=$((_sm_bad + 1))
		else
			_sm_got=$(dd if="$_sm_d" bs=512 skip=$((_sm_ss + _sm_doff + _sm_i * 8)) count=8 2>/dev/null | md5sum | cut -d' ' -f1)
			_sm_want=$(md5_file "$_sm_src" $((_sm_sb + _sm_k)) 1)
			if [ "$_sm_got" != "$_sm_want" ]; then
				echo "block $((_sm_b + _sm_k)) (sector $_sm_sec): cache block $_sm_i holds other data"
				_sm_bad=$((_sm_bad + 1))
			fi
		fi
		_sm_k=$((_sm_k + 1))
	done
	echo "# $((_sm_c - _sm_bad)) of $_sm_c blocks found in committed cache blocks on $_sm_d"
	[ $_sm_bad -eq 0 ]
}

# ssd_media_has DEV START_SECTOR BLOCK: the committed on-media metadata has
# an entry for 4 KiB origin block BLOCK.
ssd_media_has() {
	blockdev --flushbufs "$1" || return
	ssd_media_map "$1" "$2" | awk -v s=$(($3 * 8)) '$1 == s { found = 1; print "# block '"$3"': cache block " $2 } END { exit !found }'
}
