#!/bin/sh
# lvm2 as a real client (Debian's lvm2 2.03 in the guest, udev off): LVM's
# writecache LV type drives the module chosen by harness.wc=stock|ours
# (tests/vm/wc-select.sh), once with the cachevol on pmem and once on the
# SSD.  The origin LV is on the origin disk.  The other writecache module
# must never get loaded (lvm2 may run `modprobe dm-writecache`).
#
# For each cache device (pmem, mode p; SSD, mode s) it proves:
#  - lvcreate --type writecache --cachevol and lvconvert --type writecache
#    --cachevol build a table "writecache p" on pmem (lvm2 reads the dax
#    queue attribute) and "writecache s" on the SSD, whose origin and cache
#    are the LV's _wcorig and _cvol devices, the _cvol mapped onto the
#    chosen PV, 4 KiB blocks; the module is in use;
#  - lvchange --cachesettings high_watermark, low_watermark, writeback_jobs,
#    autocommit_blocks, autocommit_time, max_age, and fua (pmem) reload the
#    table with exactly those options in canonical order, the cached data
#    surviving the reloads; cleaner=1 adds "cleaner" and the cache drains
#    (free == n_blocks, nothing under writeback); cleaner=0 takes it out;
#    lvconvert --cachesettings puts autocommit_blocks with nofua (pmem), or
#    with writeback_jobs and pause_writeback (SSD) in the new table;
#    pause_writeback is unknown to lvm2 2.03.16, which passes it through
#    after a y/n question (lvchange drops such a key: only lvconvert);
#  - detach in four ways, each time with files (known sha256) written
#    through xfs and still dirty in the cache (at least their size in used
#    blocks): --splitcache and --uncache while the LV is active and the fs
#    mounted, and both after lvchange -an.  Afterwards the LV is a plain
#    linear LV, no writecache table is left, split keeps the cachevol as an
#    LV and uncache removes it, and after a remount (page cache dropped)
#    every file written so far has its sha256.
. /tests/lib.sh
command -v lvm >/dev/null 2>&1 || skip_all "lvm2 (lvm) is not in the guest image"
. /tests/wc-select.sh

O=$HARNESS_ORIGIN
VG=wclvm
DM=$VG-main # dm name of the cached LV
MNT=/mnt/lvm2
W=/tmp/lvm2 # originals of the files and their sha256 sums
SETS=""     # data sets written so far (in the current round)
mkdir -p "$MNT" "$W"

# --- lvm2 in the busybox guest --------------------------------------------------
# No udev: libdevmapper makes the /dev/mapper nodes itself, lvm2 scans /dev
# through the filter; no lvmetad in 2.03, no dmeventd (monitoring).
lvm_setup() {
	mkdir -p /etc/lvm /run/lvm /run/lock/lvm || return
	_f="\"a|^$O\$|\", \"a|^$HARNESS_SSD\$|\""
	[ -n "$HARNESS_PMEM" ] && _f="$_f, \"a|^$HARNESS_PMEM\$|\""
	cat >/etc/lvm/lvm.conf <<EOF
devices {
	filter = [ $_f, "r|.*|" ]
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
EOF
	lvm version && lvmconfig --validate
}

# logged CMD...: run an lvm2 command; its messages are shown as "# lvm: ...".
logged() {
	"$@" >/tmp/lvm.out 2>&1
	_r=$?
	sed 's/^ */# lvm: /' /tmp/lvm.out
	return $_r
}
majmin() { dmsetup info -c --noheadings -o major,minor --separator : "$1"; }
lvq() { lvs --noheadings -o "$1" "$2" | tr -d ' '; } # lvq FIELD VG/LV
tfield() { dmsetup table "$1" | cut -d' ' -f"$2"; }  # tfield DMNAME FIELDS

# wc_used_at_least N: at least N cache blocks in use (data not written back).
wc_used_at_least() { wc_cond "$DM" "\$2 - \$3 >= $1 && \$1 == 0"; }

# --- data through xfs -----------------------------------------------------------
# write_set NAME: two files (1 MiB and 3 MiB + 5 bytes of random data) copied
# into the fs and synced; their sha256 is added to $W/sums.
write_set() {
	dd if=/dev/urandom of="$W/$1.a" bs=64k count=16 2>/dev/null &&
		dd if=/dev/urandom of="$W/$1.b" bs=1 count=5 2>/dev/null &&
		dd if=/dev/urandom bs=64k count=48 2>/dev/null >>"$W/$1.b" || return
	(cd "$W" && sha256sum "$1.a" "$1.b") >>"$W/sums" || return
	cp "$W/$1.a" "$W/$1.b" "$MNT/" && sync
}

# verify_all: remount with the page cache dropped; every file has its sha256
# and the fs holds exactly the files written.
verify_all() {
	umount "$MNT" || return
	echo 3 >/proc/sys/vm/drop_caches
	mount /dev/mapper/"$DM" "$MNT" || return
	(cd "$MNT" && sha256sum -c "$W/sums") || return
	[ "$(cd "$MNT" && ls | sort | tr '\n' ' ')" = "$(cut -d' ' -f3 "$W/sums" | sort | tr '\n' ' ')" ]
}

# new_set NAME: write a data set and check that it sits in the cache (1026
# data blocks at least).
new_set() {
	check "write set $1 through xfs" write_set "$1"
	check "set $1 is in the cache (dirty)" wc_used_at_least 1026
	SETS="$SETS $1"
}

# --- checks on the lvm2-built table ---------------------------------------------
# check_wc_table MODE CDEV OPTS: the LV is writecache MODE over its _wcorig and
# _cvol devices, the _cvol is on CDEV, the optional part is "4096 OPTS".
check_wc_table() {
	check_eq "lvs: segtype" writecache "$(lvq segtype $VG/main)"
	check_eq "table: writecache $1" "writecache $1" "$(tfield "$DM" 3-4)"
	check_eq "table: origin is main_wcorig" "$(majmin $VG-main_wcorig)" "$(tfield "$DM" 5)"
	check_eq "table: cache is fast_cvol" "$(majmin $VG-fast_cvol)" "$(tfield "$DM" 6)"
	check_eq "fast_cvol is on $2" "linear $(cat "/sys/block/${2#/dev/}/dev")" "$(tfield $VG-fast_cvol 3-4)"
	check_eq "table: block size and options" "4096 $3" "$(tfield "$DM" 7-)"
	_used=$(awk -v m="$WC_MODULE" '$1 == m { print $3 }' /proc/modules)
	check "$WC_MODULE is in use (refcount ${_used:-none})" [ "${_used:-0}" -ge 1 ]
}

# check_detached KEPT: the LV is plain linear, no writecache table is left,
# the cachevol is an LV of its own (KEPT=yes, split) or gone (no, uncache).
check_detached() {
	check_eq "lvs: segtype after detach" linear "$(lvq segtype $VG/main)"
	check "no writecache table left" sh -c '! dmsetup table | grep -q " writecache "'
	check_fails "no fast_cvol device left" dmsetup info $VG-fast_cvol
	if [ "$1" = yes ]; then
		check_eq "split: the cachevol is LV fast again" fast "$(lvq lv_name $VG/fast)"
	else
		check_eq "uncache: the cachevol LV is removed" "main" "$(lvs --noheadings -o lv_name $VG | tr -d ' \n')"
	fi
}

# detach HOW WHEN KEPT: HOW splitcache|uncache, WHEN active|inactive; the
# files of every set must read back after it.
detach() {
	if [ "$2" = inactive ]; then
		check "umount" umount "$MNT"
		check "lvchange -an" lvchange -an $VG/main
		check_fails "LV inactive: no dm device" dmsetup info "$DM"
	fi
	_t0=$(now_cs)
	check "lvconvert --$1 ($2)" logged lvconvert -y --"$1" $VG/main
	info "lvconvert --$1 ($2) took $((($(now_cs) - _t0) * 10)) ms"
	check_detached "$3"
	if [ "$2" = inactive ]; then
		check "lvchange -ay" lvchange -ay $VG/main
		check "mount" mount /dev/mapper/"$DM" "$MNT"
	fi
	check "after $1 ($2): files of sets$SETS have their sha256" verify_all
}

# attach MODE CDEV OPTS SETTINGS: lvconvert --type writecache --cachevol fast
# onto the mounted LV (the cachevol LV fast must exist and be inactive).
# lvm2 asks y/n before it passes a setting it does not know to the kernel.
lvconvert_wc() {
	echo y | logged lvconvert -y --type writecache --cachevol fast ${1:+--cachesettings "$1"} $VG/main
}
attach() {
	check "lvconvert --type writecache --cachevol fast${4:+ --cachesettings '$4'}" lvconvert_wc "$4"
	check_wc_table "$1" "$2" "$3"
}

# round MODE CDEV: everything above with the cachevol on CDEV.
round() {
	M=$1 C=$2
	info "=== cachevol on $C (mode $M; queue/dax $(cat "/sys/block/${C#/dev/}/queue/dax" 2>/dev/null)) ==="
	: >"$W/sums"
	SETS=""
	umount "$MNT" 2>/dev/null
	check "lvcreate cachevol fast on $C" lvcreate -y -an -n fast -L 100M $VG "$C"

	# lvcreate --type writecache, mkfs, first data set.
	check "lvcreate --type writecache --cachevol fast" \
		logged lvcreate -y --type writecache --cachevol fast -n main -L 400M $VG "$O" || return
	check_wc_table "$M" "$C" 0
	check "mkfs.xfs" mkfs.xfs -f -q /dev/mapper/"$DM"
	check "mount" mount /dev/mapper/"$DM" "$MNT" || return
	new_set A

	# cachesettings: every option in the table, the cache kept.
	S="high_watermark=60 low_watermark=40 writeback_jobs=8 autocommit_blocks=128 autocommit_time=1000 max_age=3600000"
	T="high_watermark 60 low_watermark 40 writeback_jobs 8 autocommit_blocks 128 autocommit_time 1000 max_age 3600000"
	check "lvchange --cachesettings '$S'" lvchange --cachesettings "$S" $VG/main
	TAIL="" N=12
	if [ "$M" = p ]; then
		check "lvchange --cachesettings fua=1" lvchange --cachesettings fua=1 $VG/main
		TAIL=" fua" N=13
	fi
	check_wc_table "$M" "$C" "$N $T$TAIL"
	check "set A still in the cache after the reloads" wc_used_at_least 1026

	# cleaner: shown in the table, drains the cache; cleaner=0 removes it.
	check "lvchange --cachesettings cleaner=1" lvchange --cachesettings cleaner=1 $VG/main
	check_eq "table: cleaner added" "4096 $((N + 1)) $T cleaner$TAIL" "$(tfield "$DM" 7-)"
	check "cleaner drains the cache (free == n_blocks, no writeback)" \
		wc_poll 60 wc_cond "$DM" '$1 == 0 && $3 == $2 && $4 == 0'
	check "lvchange --cachesettings cleaner=0" lvchange --cachesettings cleaner=0 $VG/main
	check_eq "table: cleaner gone" "4096 $N $T$TAIL" "$(tfield "$DM" 7-)"
	new_set B
	detach splitcache active yes

	# lvconvert --type writecache (with settings) onto the mounted LV.
	if [ "$M" = p ]; then
		attach p "$C" "3 autocommit_blocks 64 nofua" "autocommit_blocks=64 nofua=1"
	else
		attach s "$C" "6 writeback_jobs 4 autocommit_blocks 64 pause_writeback 1500" \
			"pause_writeback=1500 autocommit_blocks=64 writeback_jobs=4"
	fi
	new_set C
	detach uncache active no

	check "lvcreate cachevol fast on $C again" lvcreate -y -an -n fast -L 100M $VG "$C"
	attach "$M" "$C" 0
	new_set D
	detach splitcache inactive yes

	attach "$M" "$C" 0
	new_set E
	detach uncache inactive no

	check "umount" umount "$MNT"
	check "lvremove main" lvremove -y $VG/main
}

# ================================================================================
check "load $WC_UNDER_TEST writecache" load_wc || finish
check "lvm2 setup (lvm.conf: udev off, filter)" lvm_setup || finish
PVS="$O $HARNESS_SSD"
[ -b "$HARNESS_PMEM" ] && PVS="$PVS $HARNESS_PMEM"
for d in $PVS; do zero_sb "$d"; done
check "pvcreate $PVS" pvcreate -y $PVS
check "vgcreate $VG" vgcreate $VG $PVS || finish

if [ -b "$HARNESS_PMEM" ]; then
	round p "$HARNESS_PMEM"
else
	info "no pmem: the pmem round is skipped"
fi
round s "$HARNESS_SSD"

# lvm2 never loaded the other module (with ours holding the target name a
# `modprobe dm-writecache` would fail to register it and say so).
for m in dm_writecache dm_writecache_cxx; do
	[ "$m" = "$WC_MODULE" ] && continue
	check_fails "$m was never loaded" module_loaded "$m"
done
check_fails "no second writecache target registration was tried" \
	sh -c 'dmesg | grep -i "already registered"'

# Leave the guest clean.
umount "$MNT" 2>/dev/null
check "vgremove" vgremove -ff $VG
check "pvremove" pvremove -y $PVS
check "no dm devices left" sh -c '[ -z "$(dmsetup ls | grep -v "^No devices")" ]'
check "unload $WC_MODULE" unload_wc
finish
