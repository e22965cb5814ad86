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

# copy_with_libs BINARY: a dynamically linked program and what ldd says it needs.
copy_with_libs() {
	local bin=$1 lib
	cp "$bin" "$ROOT/usr/bin/"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$ROOT$(dirname "$lib")"
		cp -L "$lib" "$ROOT$lib"
	done
}
if [ "$P2P_ARCH" = x86_64 ]; then
	copy_with_libs "$(command -v fio)"
	for tool in rdma; do
		command -v "$tool" >/dev/null && copy_with_libs "$(command -v "$tool")"
	done
fi

printf 'root:x:0:0:root:/:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$IMG.tmp"
mv "$IMG.tmp" "$IMG"
echo "  INITRD  $IMG ($(du -h "$IMG" | cut -f1))"
