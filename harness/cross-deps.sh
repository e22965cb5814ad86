#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What "make deps" adds, as root, for the arm64 and riscv64 guests'
# userland (harness/cross-userland.sh): the arm64 dpkg architecture, so
# that "apt-get download busybox-static:arm64" works (nothing of it is
# installed), and a deb-src entry mirroring the configured Debian archive,
# for "apt-get source busybox fio".
set -euo pipefail

changed=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	echo "  DEPS    dpkg --add-architecture arm64"
	changed=1
fi
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat > /etc/apt/sources.list.d/p2pdma-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	echo "  DEPS    deb-src entry: /etc/apt/sources.list.d/p2pdma-src.sources"
	changed=1
fi
if [ $changed = 1 ]; then
	apt-get -o DPkg::Lock::Timeout=900 update -qq
fi
