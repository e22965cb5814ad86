#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guests' base initramfs: busybox, our init and shell library, our
# static test programs and Debian's fio with the shared libraries it needs.
#
# usage: mkinitramfs.sh OUT
set -euo pipefail

OUT=$(realpath -m "$1")
TOP=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$OUT/initramfs
IMG=$OUT/initramfs.cpio.gz

rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,etc,lib,lib64,usr/bin,opt/bin,proc,sys,dev,tmp,test}
cp /bin/busybox "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
cp "$TOP/harness/guest/init" "$ROOT/init"
cp "$TOP/harness/guest/lib.sh" "$ROOT/lib/p2pdma-lib.sh"
cp "$TOP/harness/guest/known-reports.awk" "$ROOT/lib/p2pdma-known-reports.awk"
if [ -d "$OUT/tools" ]; then
	find "$OUT/tools" -maxdepth 1 -type f -perm -u+x -exec cp {} "$ROOT/opt/bin/" \;
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
copy_with_libs "$(command -v fio)"
for tool in rdma xfs_io; do
	command -v "$tool" >/dev/null && copy_with_libs "$(command -v "$tool")"
done

printf 'root:x:0:0:root:/:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$IMG.tmp"
mv "$IMG.tmp" "$IMG"
echo "  INITRD  $IMG ($(du -h "$IMG" | cut -f1))"
