#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure and build a test kernel out of tree.
#
# usage: build-kernel.sh OUT IMPL DEBUG
# Produces $OUT/build-$IMPL[-debug]/arch/x86/boot/bzImage and copies it to
# $OUT/bzImage-$IMPL[-debug] and $OUT/bzImage (the last one built).
set -euo pipefail

OUT=$(realpath -m "$1")
IMPL=$2
DEBUG=${3:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=$OUT/src-$IMPL
TAG=$IMPL
FRAGS=("$TOP/harness/configs/p2pdma.config")
if [ "$DEBUG" = 1 ]; then
	TAG=$IMPL-debug
	FRAGS+=("$TOP/harness/configs/debug.config")
fi
BUILD=$OUT/build-$TAG
JOBS=$(nproc)
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
export CCACHE_BASEDIR=$OUT
KMAKE=(make -s -C "$SRC" O="$BUILD" CC="ccache gcc" HOSTCC="ccache gcc" -j"$JOBS")

"$TOP/harness/prepare.sh" "$OUT" "$IMPL"
mkdir -p "$BUILD"

# Reconfigure only when a fragment changed, so a code edit stays incremental.
stamp=$(cat "${FRAGS[@]}" | sha1sum | cut -d' ' -f1)
if [ "$(cat "$BUILD/.p2pdma-config" 2>/dev/null)" != "$stamp" ]; then
	echo "  CONFIG  $TAG (tinyconfig + ${FRAGS[*]##*/})"
	"${KMAKE[@]}" tinyconfig >/dev/null
	KCONFIG_CONFIG=$BUILD/.config "$SRC/scripts/kconfig/merge_config.sh" \
		-m -O "$BUILD" "$BUILD/.config" "${FRAGS[@]}" >/dev/null
	"${KMAKE[@]}" olddefconfig >/dev/null
	# Report fragment options Kconfig did not take (missing dependencies).
	cat "${FRAGS[@]}" | sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=\(.*\)/\1 \2/p' |
	while read -r sym val; do
		grep -qE "^(menu)?config ${sym#CONFIG_}\$" -r "$SRC" --include='Kconfig*' || continue
		if [ "$val" = n ]; then
			grep -q "^$sym=" "$BUILD/.config" && echo "  WARN    $sym should be n"
		else
			grep -qx "$sym=$val" "$BUILD/.config" || echo "  WARN    $sym=$val not set"
		fi
	done
	echo "$stamp" > "$BUILD/.p2pdma-config"
fi

echo "  BUILD   $TAG ($(cat "$OUT/base-version"))"
"${KMAKE[@]}" bzImage modules
cp "$BUILD/arch/x86/boot/bzImage" "$OUT/bzImage-$TAG"
cp "$BUILD/arch/x86/boot/bzImage" "$OUT/bzImage"
# Modules the guests load (our KUnit suite, the benchmark).
mkdir -p "$OUT/modules-$TAG"
rm -f "$OUT/modules-$TAG"/*.ko
find "$BUILD/drivers/pci" "$BUILD/block" -name '*.ko' -exec cp {} "$OUT/modules-$TAG/" \;
echo "$(cat "$OUT/base-version")" > "$OUT/modules-$TAG/.kernelversion"
echo "  KERNEL  $OUT/bzImage-$TAG (Linux $(cat "$OUT/base-version"), p2pdma $IMPL)"
