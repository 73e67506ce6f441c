#!/bin/bash
# Idempotent dependency installer for Debian 12 (bookworm), run as root.
# Installs the kernel headers and guest kernels for 6.1 (linux-*-amd64) and
# the newest 6.12.*+deb12 pair that has both headers and an image, plus the
# tools the build, the unit tests and the QEMU guest need.
set -euo pipefail

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: must run as root (apt-get)" >&2
		exit 1
	fi
}

PKGS=(
	build-essential g++ make bc flex bison libelf-dev kmod cpio
	cmake googletest libgtest-dev clang libclang-rt-14-dev
	g++-aarch64-linux-gnu qemu-user
	qemu-system-x86 busybox-static ndctl dmsetup fio xfsprogs e2fsprogs
	util-linux diffutils rsync gnuplot-nox lvm2 valgrind
	linux-headers-amd64 linux-image-amd64 linux-source-6.12
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Newest 6.12 backport (6.12.N+deb12-amd64) already installed?
have612=$(ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$have612" ]; then
	v=${have612#/usr/src/linux-headers-}
	[ -e "/boot/vmlinuz-$v" ] || missing+=("linux-image-$v")
fi

if [ ${#missing[@]} -eq 0 ] && [ -n "$have612" ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

need_root
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

if [ -z "$have612" ]; then
	# Pick the newest 6.12.*+deb12-amd64 version with both headers and image.
	# (apt-cache show exits 0, printing nothing, for an image that is
	# only referenced: intersect the two package lists instead.)
	v=$(comm -12 \
		<(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' |
			awk '{print $1}' | sed 's/^linux-headers-//' | sort) \
		<(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' |
			awk '{print $1}' | sed 's/^linux-image-//' | sort) |
		sort -V | tail -1)
	if [ -z "$v" ]; then
		echo "install-deps: no linux-headers-6.12.*+deb12-amd64 package found" >&2
		exit 1
	fi
	missing+=("linux-headers-$v" "linux-image-$v")
fi

echo "install-deps: installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
