#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guests' base initramfs: busybox, our init and shell library, our
# static test programs and Debian's fio with the shared libraries it needs.
# arm64 and riscv64 take busybox and a static fio from cross-userland.sh and
# our tools from $OUT/tools-ARCH, and leave $OUT/initramfs-ARCH.cpio.gz.
#
# usage: mkinitramfs.sh OUT [ARCH]
set -euo pipefail

OUT=$(realpath -m "$1")
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=harness/arch.sh
. "$TOP/harness/arch.sh"
arch_setup "${2:-x86_64}" ours 0 "$OUT"
ROOT=$OUT/initramfs${ARCH_TAG:+-${ARCH_TAG%-}}
IMG=$INITRAMFS

rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,etc,lib,lib64,usr/bin,opt/bin,proc,sys,dev,tmp,test}
if [ "$P2P_ARCH" = x86_64 ]; then
	cp /bin/busybox "$ROOT/bin/busybox"
else
	"$TOP/harness/cross-userland.sh" "$OUT" "$P2P_ARCH"
	cp "$OUT/cross/$P2P_ARCH/busybox" "$ROOT/bin/busybox"
	cp "$OUT/cross/$P2P_ARCH/fio" "$ROOT/usr/bin/fio"
fi
ln -s busybox "$ROOT/bin/sh"
cp "$TOP/harness/guest/init" "$ROOT/init"
cp "$TOP/harness/guest/lib.sh" "$ROOT/lib/p2pdma-lib.sh"
cp "$TOP/harness/guest/known-reports.awk" "$ROOT/lib/p2pdma-known-reports.awk"
if [ -d "$TOOLS_OUT" ]; then
	find "$TOOLS_OUT" -maxdepth 1 -type f -perm -u+x -exec cp {} "$ROOT/opt/bin/" \;
fi

# copy_with_libs DIR BINARY: a dynamically linked program and what ldd
# says it needs, below DIR.
copy_with_libs() {
	local dir=$1 bin=$2 lib
	mkdir -p "$dir/usr/bin"
	cp "$bin" "$dir/usr/bin/"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$dir$(dirname "$lib")"
		cp -L "$lib" "$dir$lib"
	done
}
if [ "$P2P_ARCH" = x86_64 ]; then
	for tool in rdma xfs_io; do
		command -v "$tool" >/dev/null &&
			copy_with_libs "$ROOT" "$(command -v "$tool")"
	done
	# fio and its libraries (ceph, icu, ...: some 60 MB) are an archive
	# of their own, which run-guest adds only for the scripts that run fio.
	rm -rf "$ROOT-fio"
	copy_with_libs "$ROOT-fio" "$(command -v fio)"
	(cd "$ROOT-fio" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initramfs-fio.cpio.gz.tmp"
	mv "$OUT/initramfs-fio.cpio.gz.tmp" "$OUT/initramfs-fio.cpio.gz"
fi

printf 'root:x:0:0:root:/:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$IMG.tmp"
mv "$IMG.tmp" "$IMG"
if [ "$P2P_ARCH" = x86_64 ]; then
	echo "  INITRD  $IMG ($(du -h "$IMG" | cut -f1); fio: $(du -h "$OUT/initramfs-fio.cpio.gz" | cut -f1))"
else
	echo "  INITRD  $IMG ($(du -h "$IMG" | cut -f1))"
fi
