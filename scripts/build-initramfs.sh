#!/bin/bash
# build-initramfs.sh KVER OUTFILE
#
# Build the base initramfs (uncompressed newc cpio) for the QEMU test guest
# running kernel KVER: busybox-static, the real block/pmem/fs tools with their
# shared libraries, a depmod'ed subset of /lib/modules/KVER, /etc/modorder (the
# modules /init insmods at boot, in dependency order) and /init itself
# (scripts/guest-init.sh).
#
# The result is cached: OUTFILE.stamp records KVER, this script's and
# guest-init.sh's checksums and the identity of every host input; when it
# matches, nothing is rebuilt.  FORCE=1 rebuilds anyway.
#
# Environment:
#   EXTRA_MODULES   more module names to copy into the tree (not loaded at boot)
#   FORCE=1         ignore the cache
set -euo pipefail

usage() {
	echo "usage: $0 KVER OUTFILE" >&2
	exit 2
}
[ $# -eq 2 ] || usage
KVER=$1
OUT=$2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT_SRC=$HERE/../tests/vm/guest-init.sh
MODDIR=/lib/modules/$KVER

log() { echo "build-initramfs: $*" >&2; }
warn() { echo "build-initramfs: WARNING: $*" >&2; }
die() {
	echo "build-initramfs: ERROR: $*" >&2
	exit 1
}

[ -d "$MODDIR" ] || die "no module tree $MODDIR (installed: $(cd /lib/modules && echo *))"
[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing"
[ -f "$INIT_SRC" ] || die "missing $INIT_SRC"
for t in cpio depmod modprobe ldd sha256sum; do
	command -v "$t" >/dev/null || die "host tool '$t' not found"
done

# --- what goes in -----------------------------------------------------------

# Modules insmod'ed by /init at boot (dependencies are added in front).
BOOT_MODULES=(
	dm-mod dm-bufio dm-log-writes dm-flakey dm-delay
	libnvdimm nd_btt nd_pmem nd_e820 nfit dax_pmem
	virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
	crc32c_generic crc32c-intel crc32c libcrc32c xfs
)
# Modules copied into the tree but not loaded: tests load them (modprobe).
# dm-writecache is the STOCK target; tests choose it or ours.
COPY_MODULES=(
	dm-writecache dm-zero dm-snapshot dm-thin-pool dm-integrity
	device_dax ext4 loop
)
read -ra _extra <<<"${EXTRA_MODULES:-}"
COPY_MODULES+=("${_extra[@]}")
# Real binaries (busybox covers everything else).  lvm is lvm2's single
# binary (tests/vm/t-lvm2.sh); LVM_COMMANDS are links to it.
BINARIES=(
	dmsetup ndctl fio mkfs.xfs xfs_repair xfs_db xfs_io
	mke2fs mkfs.ext4 e2fsck blockdev blkdiscard cmp lvm
)
LVM_COMMANDS=(
	pvcreate pvremove pvs vgcreate vgremove vgs vgchange
	lvcreate lvconvert lvchange lvremove lvs lvmconfig
)

BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox; do
	if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
		BUSYBOX=$b
		break
	fi
done
[ -n "$BUSYBOX" ] || die "static busybox not found (apt-get install busybox-static)"

# Resolve binaries to host paths (warn and skip missing ones).
declare -a BIN_PATHS=()
for b in "${BINARIES[@]}"; do
	p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$b" 2>/dev/null || true)
	if [ -z "$p" ]; then
		warn "binary '$b' not found on the host, skipped"
		continue
	fi
	BIN_PATHS+=("$p")
done

# --- cache check --------------------------------------------------------------

stamp_of() {
	echo "kver $KVER"
	echo "format 1"
	sha256sum "${BASH_SOURCE[0]}" "$INIT_SRC" | awk '{print "sum", $1}'
	echo "copy ${COPY_MODULES[*]}"
	local f
	for f in "$BUSYBOX" "${BIN_PATHS[@]}" "$MODDIR/modules.dep" "$MODDIR/modules.builtin"; do
		stat -L -c 'file %n %s %Y' "$f"
	done
}
STAMP=$(stamp_of)
if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT" ] && [ -f "$OUT.stamp" ] &&
	[ "$(cat "$OUT.stamp")" = "$STAMP" ]; then
	log "up to date: $OUT"
	exit 0
fi

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
ROOT=$(mktemp -d "$OUT.root.XXXXXX")
cleanup() { rm -rf "$ROOT" "$OUT.tmp.$$"; }
trap cleanup EXIT

log "building $OUT for $KVER"

# --- skeleton (usr-merged, like the host) --------------------------------------
mkdir -p "$ROOT"/usr/{bin,sbin,lib,lib64} "$ROOT"/{dev,proc,sys,tmp,run,mnt,root,etc,tests,ko,var}
ln -s usr/bin "$ROOT/bin"
ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"
ln -s ../tmp "$ROOT/var/tmp"
ln -s /proc/mounts "$ROOT/etc/mtab"
chmod 1777 "$ROOT/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
if [ -f /etc/mke2fs.conf ]; then cp /etc/mke2fs.conf "$ROOT/etc/"; fi

# --- busybox: every applet as a symlink -----------------------------------------
cp "$BUSYBOX" "$ROOT/usr/bin/busybox"
while read -r applet; do
	[ -n "$applet" ] || continue
	name=${applet##*/}
	[ "$name" = busybox ] && continue
	case "$applet" in
	sbin/* | usr/sbin/*) dst=$ROOT/usr/sbin/$name ;;
	*) dst=$ROOT/usr/bin/$name ;;
	esac
	[ -e "$dst" ] || [ -L "$dst" ] || ln -s /usr/bin/busybox "$dst"
done < <("$ROOT/usr/bin/busybox" --list-full)

# --- real binaries + libraries ---------------------------------------------------
copy_file() { # host path -> same path in ROOT (through the usr-merge links)
	local src=$1 dst=$ROOT$1
	[ -e "$dst" ] && [ ! -L "$dst" ] && return 0
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst"
	cp -L "$src" "$dst"
}
declare -A LIBS=()
for p in "${BIN_PATHS[@]}"; do
	name=${p##*/}
	rm -f "$ROOT/usr/bin/$name" "$ROOT/usr/sbin/$name"
	case "$p" in
	*/sbin/*) cp -L "$p" "$ROOT/usr/sbin/$name" ;;
	*) cp -L "$p" "$ROOT/usr/bin/$name" ;;
	esac
	while read -r lib; do
		LIBS[$lib]=1
	done < <(ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done
# lvm2's commands are links to lvm; it keeps its config in /etc/lvm (written
# by the test that uses it).
if [ -x "$ROOT/usr/sbin/lvm" ]; then
	for c in "${LVM_COMMANDS[@]}"; do
		rm -f "$ROOT/usr/bin/$c" "$ROOT/usr/sbin/$c"
		ln -s lvm "$ROOT/usr/sbin/$c"
	done
	mkdir -p "$ROOT/etc/lvm"
fi
# The dynamic loader must be there even if ldd's output format changes.
LIBS[/lib64/ld-linux-x86-64.so.2]=1
for lib in "${!LIBS[@]}"; do
	if [ -e "$lib" ]; then
		copy_file "$lib"
	else
		warn "library $lib not found"
	fi
done

# --- kernel modules ----------------------------------------------------------------
# show_deps NAME: print the module files NAME needs, in load order, NAME last.
# modprobe prints "install ..." lines for install hooks of dependencies
# (libnvdimm has "ndctl load-keys"); the module named after
# --ignore-install in such a line is resolved recursively instead.
show_deps() {
	local line
	{ modprobe -S "$KVER" --ignore-install --show-depends "$1" 2>/dev/null || true; } |
		while read -r line; do
			case "$line" in
			insmod\ *)
				line=${line#insmod }
				echo "${line%% *}"
				;;
			install\ *)
				local dep
				dep=$(echo "$line" | sed -n 's/.*--ignore-install[[:space:]]\+\([^[:space:]$]\+\).*/\1/p')
				if [ -n "$dep" ]; then show_deps "$dep"; fi
				;;
			esac
		done
}
is_builtin() {
	local o
	o=$(modprobe -S "$KVER" --ignore-install --show-depends "$1" 2>/dev/null || true)
	grep -q "^builtin " <<<"$o"
}

declare -A SEEN=()
ORDER=()
ALL=()
add_module() { # NAME BOOT(0/1)
	local name=$1 boot=$2 files f
	if is_builtin "$name"; then
		return 0
	fi
	files=$(show_deps "$name")
	if [ -z "$files" ]; then
		warn "module '$name' not available for $KVER, skipped"
		return 0
	fi
	for f in $files; do
		if [ -z "${SEEN[$f]:-}" ]; then
			SEEN[$f]=$boot
			ALL+=("$f")
			if [ "$boot" = 1 ]; then ORDER+=("$f"); fi
		elif [ "$boot" = 1 ] && [ "${SEEN[$f]}" = 0 ]; then
			SEEN[$f]=1
			ORDER+=("$f")
		fi
	done
}
for m in "${BOOT_MODULES[@]}"; do add_module "$m" 1; done
for m in "${COPY_MODULES[@]}"; do add_module "$m" 0; done

# Decompressed name of a module file.
plain_name() {
	local f=$1
	f=${f%.xz}
	f=${f%.zst}
	f=${f%.gz}
	echo "$f"
}
mkdir -p "$ROOT$MODDIR"
ncomp=0
for f in "${ALL[@]}"; do
	dst=$ROOT$(plain_name "$f")
	mkdir -p "$(dirname "$dst")"
	case "$f" in
	*.ko.xz) xz -dc "$f" >"$dst"; ncomp=$((ncomp + 1)) ;;
	*.ko.zst) zstd -qdc "$f" >"$dst"; ncomp=$((ncomp + 1)) ;;
	*.ko.gz) gzip -dc "$f" >"$dst"; ncomp=$((ncomp + 1)) ;;
	*.ko) cp "$f" "$dst" ;;
	*) die "unexpected module file $f" ;;
	esac
done
if [ "$ncomp" -gt 0 ]; then log "decompressed $ncomp compressed modules"; fi
for f in modules.order modules.builtin modules.builtin.modinfo; do
	if [ -f "$MODDIR/$f" ]; then cp "$MODDIR/$f" "$ROOT$MODDIR/"; fi
done
depmod -b "$ROOT" "$KVER"
: >"$ROOT/etc/modorder"
for f in "${ORDER[@]}"; do
	plain_name "$f" >>"$ROOT/etc/modorder"
done
log "$(wc -l <"$ROOT/etc/modorder") modules loaded at boot, ${#ALL[@]} in the tree"
grep -q '/dm-writecache\.ko$' <(printf '%s\n' "${ALL[@]}" | sed 's/\.\(xz\|zst\|gz\)$//') ||
	warn "stock dm-writecache not in the module tree"

# --- /init ---------------------------------------------------------------------------
cp "$INIT_SRC" "$ROOT/init"
chmod 755 "$ROOT/init"
echo "$KVER" >"$ROOT/etc/harness-kver"

# --- archive -------------------------------------------------------------------------
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"
echo "$STAMP" >"$OUT.stamp"
log "done: $OUT ($(du -m "$OUT" | cut -f1) MiB)"
