#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian packages (make bindeb-pkg) of the base kernel with our work, from a
# configuration the user names, with CONFIG_PCI_P2PDMA, CONFIG_ZONE_DEVICE
# and CONFIG_PCI_P2PMEM_PCI=m enabled and nothing else changed.
#
# usage: deb.sh build [KCONFIG]
#          KCONFIG: a kernel .config; default /boot/config-$(uname -r), else
#          Debian's own 6.12 amd64 configuration, taken from the
#          linux-image-6.12.*-amd64-unsigned package (apt-get download)
#        deb.sh check
#          CI: packages from the test configuration ($OUT/build-ours/.config),
#          their contents checked (PASS/FAIL lines); the guest boot of the
#          packaged kernel is check.sh's (stage deb)
# Packages land in $OUT/deb/; the build directory is $OUT/build-deb.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
MODE=${1:-build}
KCONFIG=${2:-}
SRC=$OUT/src-ours
# One level below $OUT like build-ours, so that with CCACHE_BASEDIR=$OUT the
# compiler cache serves what the test kernel already compiled.
BUILD=$OUT/build-deb
DEB=$OUT/deb
LOCALVERSION=${LOCALVERSION:--p2pdma}
FAILED=0
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
export CCACHE_BASEDIR=$OUT

pass() { echo "  PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; }
die() { echo "deb: $*" >&2; exit 1; }
now() { date +%s; }

# Debian's own amd64 configuration of 6.12: /boot/config-* of the newest
# linux-image-6.12.*+deb12-amd64-unsigned, the base's version if available.
debian_config() {
	local want pkg dir=$DEB/debian-config
	want=linux-image-$(cat "$OUT/base-version")+deb12-amd64-unsigned
	if apt-cache show "$want" >/dev/null 2>&1; then
		pkg=$want
	else
		pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' |
			cut -d' ' -f1 | sort -V | tail -n 1)
	fi
	[ -n "$pkg" ] || die "no linux-image-6.12.*-amd64-unsigned in the apt sources (apt-get update?)"
	mkdir -p "$dir"
	if ! ls "$dir/$pkg"/boot/config-* >/dev/null 2>&1; then
		echo "  APT     $pkg (for its /boot/config-*)" >&2
		(cd "$dir" && rm -f ./*.deb && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
		mkdir -p "$dir/$pkg"
		dpkg-deb --fsys-tarfile "$dir"/"$pkg"_*.deb |
			tar -x -C "$dir/$pkg" --wildcards './boot/config-*' || die "no /boot/config-* in $pkg"
		rm -f "$dir"/*.deb
	fi
	ls "$dir/$pkg"/boot/config-*
}

pick_config() {
	if [ -n "$KCONFIG" ]; then
		[ -f "$KCONFIG" ] || die "KCONFIG=$KCONFIG: no such file"
		echo "$KCONFIG"
	elif [ -f "/boot/config-$(uname -r)" ]; then
		echo "/boot/config-$(uname -r)"
	else
		debian_config
	fi
}

# The options we enable, and how the result may differ from the user's
# configuration (olddefconfig'd for this tree): those options, our KUnit
# suite's option, and nothing a user could have chosen otherwise.
OURS=(PCI_P2PDMA=y ZONE_DEVICE=y PCI_P2PMEM_PCI=m)

configure() {
	local cfg=$1 o before kmake=(make -s -C "$SRC" O="$BUILD" CC="ccache gcc" HOSTCC="ccache gcc")
	mkdir -p "$BUILD"
	cp "$cfg" "$BUILD/.config"
	"${kmake[@]}" olddefconfig >/dev/null || return 1
	before=$BUILD/.config.user
	cp "$BUILD/.config" "$before"
	for o in "${OURS[@]}"; do
		case ${o#*=} in
		y) "$SRC/scripts/config" --file "$BUILD/.config" -e "${o%=*}" ;;
		m) "$SRC/scripts/config" --file "$BUILD/.config" -m "${o%=*}" ;;
		esac
	done
	# Debian's configuration names Debian's signing certificates, which
	# are not in the source: the one change a build outside Debian needs.
	if grep -q '^CONFIG_SYSTEM_TRUSTED_KEYS="debian/' "$BUILD/.config"; then
		"$SRC/scripts/config" --file "$BUILD/.config" --set-str SYSTEM_TRUSTED_KEYS "" \
			--set-str SYSTEM_REVOCATION_KEYS ""
	fi
	"${kmake[@]}" olddefconfig >/dev/null || return 1
	for o in "${OURS[@]}"; do
		grep -qx "CONFIG_$o" "$BUILD/.config" ||
			{ echo "deb: CONFIG_$o could not be set (missing dependencies in $cfg?)" >&2; return 1; }
	done
	echo "  CONFIG  $cfg, with ${OURS[*]}; what changed:"
	"$SRC/scripts/diffconfig" "$before" "$BUILD/.config" | sed 's/^/          /'
}

build() {
	local cfg t0 jobs
	"$TOP/harness/prepare.sh" "$OUT" ours >/dev/null || die "make source failed"
	cfg=$(pick_config) || exit 1
	t0=$(now)
	configure "$cfg" || die "configuration failed"
	mkdir -p "$DEB"
	rm -f "$OUT"/*.deb "$OUT"/*.buildinfo "$OUT"/*.changes
	jobs=$(nproc)
	echo "  DEB     bindeb-pkg (Linux $(cat "$OUT/base-version")$LOCALVERSION, $jobs jobs; log: $BUILD/deb.log)"
	# bindeb-pkg writes the packages next to the build directory, in $OUT.
	if ! nice -n 10 make -C "$SRC" O="$BUILD" CC="ccache gcc" HOSTCC="ccache gcc" \
		-j"$jobs" LOCALVERSION="$LOCALVERSION" KDEB_COMPRESS=gzip \
		bindeb-pkg > "$BUILD/deb.log" 2>&1; then
		tail -n 30 "$BUILD/deb.log" >&2
		die "bindeb-pkg failed"
	fi
	rm -f "$DEB"/*.deb "$DEB"/*.buildinfo "$DEB"/*.changes
	mv "$OUT"/*.deb "$OUT"/*.buildinfo "$OUT"/*.changes "$DEB/" 2>/dev/null
	echo "  DEB     $(($(now) - t0)) s:"
	ls -s -h "$DEB"/*.deb | sed 's/^/          /'
	echo "          install: dpkg -i $DEB/linux-image-*.deb (and linux-headers-* for out-of-tree modules)"
}

# What CI checks in the packages.
check_contents() {
	local img rel cfgfile
	img=$(ls "$DEB"/linux-image-*.deb 2>/dev/null | grep -v -- '-dbg_' | head -n 1)
	if [ -z "$img" ]; then
		fail "deb: a linux-image package was built"
		return
	fi
	rel=$(dpkg-deb -f "$img" Package)
	rel=${rel#linux-image-}
	pass "deb: ${img##*/} built (Linux $rel)"
	dpkg-deb -c "$img" > "$DEB/contents.txt"
	if grep -q "\./boot/vmlinuz-$rel\$" "$DEB/contents.txt"; then
		pass "deb: the image package has /boot/vmlinuz-$rel"
	else
		fail "deb: the image package has /boot/vmlinuz-$rel"
	fi
	if grep -q "\./lib/modules/$rel/kernel/drivers/pci/p2pmem-pci\.ko" "$DEB/contents.txt"; then
		pass "deb: the image package has the p2pmem_pci module"
	else
		fail "deb: the image package has the p2pmem_pci module (drivers/pci/p2pmem-pci.ko)"
	fi
	rm -rf "$DEB/root"
	mkdir -p "$DEB/root"
	dpkg-deb -x "$img" "$DEB/root"
	cfgfile=$DEB/root/boot/config-$rel
	if grep -qx CONFIG_PCI_P2PDMA=y "$cfgfile" && grep -qx CONFIG_ZONE_DEVICE=y "$cfgfile" &&
	   grep -qx CONFIG_PCI_P2PMEM_PCI=m "$cfgfile"; then
		pass "deb: its config has PCI_P2PDMA=y, ZONE_DEVICE=y, PCI_P2PMEM_PCI=m"
	else
		fail "deb: its config has PCI_P2PDMA=y, ZONE_DEVICE=y, PCI_P2PMEM_PCI=m"
	fi
	if ls "$DEB"/linux-headers-"$rel"_*.deb >/dev/null 2>&1; then
		pass "deb: linux-headers-$rel built (out-of-tree modules)"
	else
		fail "deb: linux-headers-$rel built"
	fi
	echo "$rel" > "$DEB/release"
}

case $MODE in
build)
	build
	;;
check)
	t0=$(now)
	KCONFIG=$OUT/build-ours/.config
	if [ ! -f "$KCONFIG" ]; then
		fail "deb: no test configuration $KCONFIG (make kernel)"
		exit 1
	fi
	if build > "$DEB.log" 2>&1; then
		pass "deb: bindeb-pkg from the test configuration ($(($(now) - t0)) s)"
		check_contents
	else
		tail -n 20 "$DEB.log" | sed 's/^/        /'
		fail "deb: bindeb-pkg from the test configuration"
	fi
	;;
*)
	sed -n '7,16p' "$0"
	exit 2
	;;
esac
[ "$FAILED" = 0 ]
