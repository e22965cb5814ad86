#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure and build a test kernel out of tree.
#
# usage: build-kernel.sh OUT IMPL DEBUG [ARCH]
# ARCH is x86_64 (default), arm64 or riscv64 (cross-compiled with Debian's
# gcc-aarch64-linux-gnu / gcc-riscv64-linux-gnu).  x86_64 produces
# $OUT/build-$IMPL[-debug]/arch/x86/boot/bzImage and copies it to
# $OUT/bzImage-$IMPL[-debug] and $OUT/bzImage (the last one built); the
# other architectures build in $OUT/build-ARCH-$IMPL[-debug] and leave
# $OUT/Image-ARCH-$IMPL[-debug] and $OUT/Image-ARCH.
set -euo pipefail

OUT=$(realpath -m "$1")
IMPL=$2
DEBUG=${3:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=$OUT/src-$IMPL
# shellcheck source=harness/arch.sh
. "$TOP/harness/arch.sh"
arch_setup "${4:-x86_64}" "$IMPL" "$DEBUG" "$OUT"
FRAGS=("$TOP/harness/configs/p2pdma.config" "$ARCH_CONFIG")
[ "$DEBUG" = 1 ] && FRAGS+=("$TOP/harness/configs/debug.config")
JOBS=$(nproc)
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
export CCACHE_BASEDIR=$OUT
command -v "${CROSS}gcc" >/dev/null ||
	{ echo "build-kernel: no ${CROSS}gcc: run 'make deps'" >&2; exit 1; }
# The top-level make's command line (ARCH=riscv64 ...) reaches us through
# MAKEFLAGS; the kernel's own ARCH= must win.
unset MAKEFLAGS MFLAGS MAKELEVEL ARCH
KMAKE=(make -s -C "$SRC" O="$BUILD" "${KMAKE_ARCH[@]}" -j"$JOBS")

"$TOP/harness/prepare.sh" "$OUT" "$IMPL"
mkdir -p "$BUILD"

# Reconfigure only when a fragment changed, so a code edit stays incremental.
stamp=$(cat "${FRAGS[@]}" | sha1sum | cut -d' ' -f1)
if [ "$(cat "$BUILD/.p2pdma-config" 2>/dev/null)" != "$stamp" ]; then
	echo "  CONFIG  $ARCH_TAG$TAG (tinyconfig + ${FRAGS[*]##*/})"
	"${KMAKE[@]}" tinyconfig >/dev/null
	KCONFIG_CONFIG=$BUILD/.config "$SRC/scripts/kconfig/merge_config.sh" \
		-m -O "$BUILD" "$BUILD/.config" "${FRAGS[@]}" >/dev/null
	"${KMAKE[@]}" olddefconfig >/dev/null
	# Report fragment options Kconfig did not take (missing dependencies);
	# a later fragment overrides an earlier one, as in merge_config.sh.
	cat "${FRAGS[@]}" | sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=\(.*\)/\1 \2/p' |
	awk '{ val[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
	     END { for (i = 0; i < n; i++) print order[i], val[order[i]] }' |
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

echo "  BUILD   $ARCH_TAG$TAG ($(cat "$OUT/base-version"))"
"${KMAKE[@]}" "$IMAGE_TARGET" modules
cp "$BUILD/$IMAGE_SRC" "$KERNEL"
cp "$BUILD/$IMAGE_SRC" "$KERNEL_LAST"
# Modules the guests load (our KUnit suite, the benchmark).
mkdir -p "$MODULES"
rm -f "$MODULES"/*.ko
find "$BUILD/drivers/pci" "$BUILD/block" -name '*.ko' -exec cp {} "$MODULES/" \;
echo "$(cat "$OUT/base-version")" > "$MODULES/.kernelversion"
echo "  KERNEL  $KERNEL (Linux $(cat "$OUT/base-version"), $P2P_ARCH, p2pdma $IMPL)"
