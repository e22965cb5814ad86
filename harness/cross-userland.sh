#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest userland of a foreign architecture, from Debian only:
#  - busybox: arm64 unpacks Debian's busybox-static:arm64 (apt-get download
#    and dpkg-deb -x: installing it would replace the native busybox the
#    x86_64 guests use); Debian 12 has no riscv64 architecture, so riscv64
#    builds busybox from Debian's source package with the cross compiler
#    (defconfig, static, without tc, which does not build against 6.x
#    headers);
#  - fio: both build Debian's fio source package static with the cross
#    compiler (fio:arm64 from the archive needs Ceph, gluster and more
#    shared libraries than a guest should carry), against libaio built
#    from Debian's source package (the fio scenarios use ioengine=libaio).
# Results are cached in $OUT/cross/ARCH (busybox, fio); sources in
# $OUT/cross/src.  Needs a deb-src entry and, for arm64, the arm64 dpkg
# architecture: "make deps" (harness/cross-deps.sh) sets both up.
#
# usage: cross-userland.sh OUT ARCH
set -euo pipefail

OUT=$(realpath -m "$1")
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=harness/arch.sh
. "$TOP/harness/arch.sh"
arch_setup "$2" ours 0 "$OUT"
[ "$P2P_ARCH" != x86_64 ] || { echo "cross-userland: x86_64 uses the host's" >&2; exit 2; }
DIR=$OUT/cross/$P2P_ARCH
SRCDIR=$OUT/cross/src
JOBS=$(nproc)
unset MAKEFLAGS MFLAGS MAKELEVEL ARCH
mkdir -p "$DIR" "$SRCDIR"

die() { echo "cross-userland: $*" >&2; exit 1; }

# source_pkg NAME: the unpacked Debian source package NAME (apt-get source).
source_pkg() {
	local d
	d=$(find "$SRCDIR" -maxdepth 1 -type d -name "$1-[0-9]*" | sort | tail -n 1)
	if [ -z "$d" ]; then
		(cd "$SRCDIR" && apt-get source -qq "$1" >/dev/null 2>&1) ||
			die "apt-get source $1 failed: is there a deb-src entry? (make deps)"
		d=$(find "$SRCDIR" -maxdepth 1 -type d -name "$1-[0-9]*" | sort | tail -n 1)
	fi
	[ -n "$d" ] || die "no source tree for $1"
	echo "$d"
}

busybox_arm64() {
	local dl=$DIR/dl deb
	rm -rf "$dl"
	mkdir -p "$dl"
	(cd "$dl" && apt-get download -qq busybox-static:arm64 >/dev/null 2>&1) ||
		die "apt-get download busybox-static:arm64 failed (dpkg --add-architecture arm64; apt-get update: make deps)"
	deb=$(ls "$dl"/busybox-static_*_arm64.deb)
	dpkg-deb -x "$deb" "$dl/root"
	cp "$dl/root/bin/busybox" "$DIR/busybox"
	echo "  BUSYBOX $P2P_ARCH: $(basename "$deb")"
}

busybox_source() {
	local src b=$DIR/busybox-build
	src=$(source_pkg busybox)
	rm -rf "$b"
	cp -a "$src" "$b"
	make -s -C "$b" CROSS_COMPILE="$CROSS" defconfig >/dev/null
	sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' \
		-e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' "$b/.config"
	make -s -C "$b" CROSS_COMPILE="$CROSS" oldconfig </dev/null >/dev/null
	make -s -C "$b" CROSS_COMPILE="$CROSS" -j"$JOBS" busybox >"$b.log" 2>&1 ||
		{ tail -n 20 "$b.log" >&2; die "busybox build failed"; }
	cp "$b/busybox" "$DIR/busybox"
	rm -rf "$b"
	echo "  BUSYBOX $P2P_ARCH: $(basename "$src") built static"
}

# libaio_source: $DIR/libaio/{include,lib} with a static libaio.
libaio_source() {
	local src b=$DIR/libaio-build
	src=$(source_pkg libaio)
	rm -rf "$b" "$DIR/libaio"
	cp -a "$src" "$b"
	make -s -C "$b/src" CC="${CROSS}gcc" AR="${CROSS}ar" RANLIB="${CROSS}ranlib" \
		libaio.a >"$b.log" 2>&1 ||
		{ tail -n 20 "$b.log" >&2; die "libaio build failed"; }
	mkdir -p "$DIR/libaio/include" "$DIR/libaio/lib"
	cp "$b/src/libaio.h" "$DIR/libaio/include/"
	cp "$b/src/libaio.a" "$DIR/libaio/lib/"
	rm -rf "$b" "$b.log"
}

fio_source() {
	local src b=$DIR/fio-build
	[ -f "$DIR/libaio/lib/libaio.a" ] || libaio_source
	src=$(source_pkg fio)
	rm -rf "$b"
	cp -a "$src" "$b"
	(cd "$b" && LDFLAGS="-L$DIR/libaio/lib" ./configure --cc="${CROSS}gcc" --build-static --disable-native \
		--disable-numa --disable-rdma --disable-rados --disable-rbd \
		--disable-http --disable-gfapi --disable-libnfs --disable-pmem \
		--disable-xnvme --disable-libzbc --disable-tcmalloc --disable-dfs \
		--disable-lex \
		--extra-cflags="-I$DIR/libaio/include") >"$b.log" 2>&1 ||
		{ tail -n 20 "$b.log" >&2; die "fio configure failed"; }
	grep -q '^Linux AIO support *yes' "$b.log" ||
		{ tail -n 40 "$b.log" >&2; die "fio configure did not find libaio"; }
	make -C "$b" -j"$JOBS" fio >>"$b.log" 2>&1 ||
		{ tail -n 20 "$b.log" >&2; die "fio build failed"; }
	"${CROSS}strip" -o "$DIR/fio" "$b/fio"
	rm -rf "$b" "$b.log"
	echo "  FIO     $P2P_ARCH: $(basename "$src") built static"
}

if [ ! -x "$DIR/busybox" ]; then
	case $P2P_ARCH in
	arm64) busybox_arm64 ;;
	*) busybox_source ;;
	esac
fi
[ -x "$DIR/fio" ] || fio_source
