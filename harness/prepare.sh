#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare a kernel source tree: the pristine Debian linux-source-6.12 base,
# hard-linked (never edited in place), plus, for IMPL=ours, our overlay files
# and our patch series.  Files are only replaced when their content changes so
# that Kbuild rebuilds just what we touched.
#
# usage: prepare.sh OUT IMPL
set -euo pipefail

OUT=$1
IMPL=$2
TOP=$(cd "$(dirname "$0")/.." && pwd)
TARBALL=${P2PDMA_BASE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
BASE=$OUT/base/linux-source-6.12
SRC=$OUT/src-$IMPL

die() { echo "prepare: $*" >&2; exit 1; }

unpack_base() {
	[ -f "$OUT/base/.unpacked" ] && return
	[ -f "$TARBALL" ] || die "$TARBALL missing: run 'make deps'"
	echo "  UNPACK  $TARBALL"
	rm -rf "$OUT/base"
	mkdir -p "$OUT/base"
	tar -xJf "$TARBALL" -C "$OUT/base"
	touch "$OUT/base/.unpacked"
}

base_version() {
	make -s --no-print-directory -C "$BASE" kernelversion 2>/dev/null
}

# install SRC_FILE DEST: copy when the content differs, breaking hard links.
install_file() {
	if ! cmp -s "$1" "$2"; then
		mkdir -p "$(dirname "$2")"
		cp --remove-destination "$1" "$2"
		echo "  UPDATE  ${2#"$SRC"/}"
	fi
}

# Our kernel-tree files: everything under the kernel-mirroring directories.
overlay_files() {
	cd "$TOP"
	for d in drivers include Documentation tools lib mm kernel block arch; do
		if [ -d "$d" ]; then
			find "$d" -type f ! -name '*.o' ! -name '.*.cmd' \
				! -path 'tools/testing/selftests/p2pdma/*' -print
		fi
	done | sort
}

# Apply the series to copies of the files it touches, in a scratch tree.
patched_files() {
	local scratch=$1 series=$TOP/patches/series p
	[ -f "$series" ] || return 0
	grep -v '^\s*\(#\|$\)' "$series" | while read -r p; do
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$TOP/patches/$p"
	done | sort -u > "$scratch.list"
	while read -r f; do
		mkdir -p "$scratch/$(dirname "$f")"
		if [ -f "$TOP/$f" ]; then
			cp "$TOP/$f" "$scratch/$f"
		elif [ -f "$BASE/$f" ]; then
			cp "$BASE/$f" "$scratch/$f"
		fi
	done < "$scratch.list"
	grep -v '^\s*\(#\|$\)' "$series" | while read -r p; do
		patch -s -p1 -d "$scratch" --no-backup-if-mismatch -i "$TOP/patches/$p" \
			|| die "patch $p does not apply"
	done
}

unpack_base
mkdir -p "$OUT"
base_version > "$OUT/base-version"

if [ ! -f "$SRC/.p2pdma-tree" ]; then
	echo "  TREE    $SRC ($IMPL, base $(cat "$OUT/base-version"))"
	rm -rf "$SRC"
	cp -al "$BASE" "$SRC"
	touch "$SRC/.p2pdma-tree"
fi

# What we managed last time, so files we stop owning go back to the base.
old_list=$SRC/.p2pdma-managed
new_list=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$new_list" "$scratch" "$scratch.list"' EXIT

if [ "$IMPL" = ours ]; then
	overlay_files > "$new_list.overlay"
	patched_files "$scratch"
	# A file both overlaid and patched is taken from the scratch tree.
	while read -r f; do
		[ -f "$scratch/$f" ] && continue
		install_file "$TOP/$f" "$SRC/$f"
	done < "$new_list.overlay"
	[ -f "$scratch.list" ] && while read -r f; do
		install_file "$scratch/$f" "$SRC/$f"
	done < "$scratch.list"
	cat "$new_list.overlay" "$scratch.list" 2>/dev/null | sort -u > "$new_list"
	rm -f "$new_list.overlay"
elif [ "$IMPL" != base ]; then
	die "IMPL must be 'ours' or 'base', not '$IMPL'"
fi

if [ -f "$old_list" ]; then
	comm -23 "$old_list" "$new_list" | while read -r f; do
		if [ -f "$BASE/$f" ]; then
			install_file "$BASE/$f" "$SRC/$f"
		else
			rm -f "$SRC/$f"
			echo "  REMOVE  $f"
		fi
	done
fi
cp "$new_list" "$old_list"
