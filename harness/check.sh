#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite CI runs.  Stages: static checks of every C file we own,
# KUnit in QEMU, the integration suite in QEMU.  Every result is one line;
# the summary's last line is "N passed, N failed"; exit status 1 on failure.
#
# usage: check.sh [static|kunit|integration|reliability|build|all|debug|debug-quick
#                 |arch|arch-quick] [TOPOLOGY[:SCENARIO]|SCENARIO]
#   debug: KUnit, integration and reliability on the DEBUG=1 kernel (KASAN,
#   lockdep, kmemleak, ...); debug-quick: the subset of it CI can afford.
#   IMPL=ours|base, DEBUG=0|1 and OUT come from the environment (make check).
#   ARCH=arm64|riscv64 (environment): "all" is the arch stage, every stage
#   runs on QEMU virt; plain "all" (x86_64) ends with arch-quick for each of
#   CHECK_ARCHES (default "arm64 riscv64"; empty skips them).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
IMPL=${IMPL:-ours}
DEBUG=${DEBUG:-0}
TAG=$IMPL$([ "$DEBUG" = 1 ] && echo -debug)
KERNEL=$OUT/bzImage-$TAG
MODULES=$OUT/modules-$TAG
SRC=$OUT/src-$IMPL
# The guests' architecture (harness/arch.sh); x86_64 keeps the names above.
# shellcheck source=harness/arch.sh
. "$TOP/harness/arch.sh"
arch_setup "${ARCH:-x86_64}" "$IMPL" "$DEBUG" "$OUT" || exit 2
TAG=$ARCH_TAG$TAG
export ARCH=$P2P_ARCH
STAGE=${1:-all}
ONLY=${2:-}
PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
export IMPL OUT

pass() { PASSED=$((PASSED + 1)); echo "  PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "  FAIL  $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); PASSED=$((PASSED + 1)); echo "  SKIP  $*"; }

# Our C files, kernel and userspace.
kernel_files() {
	(cd "$TOP" && ls drivers/pci/*.c drivers/pci/*.h include/linux/*.h 2>/dev/null)
}
tool_files() {
	(cd "$TOP" && ls tools/testing/selftests/p2pdma/*.[ch] \
		tools/testing/selftests/p2pdma/hold/*.c \
		tools/testing/selftests/p2pdma/bench/*.c 2>/dev/null)
}

static_checks() {
	local f log
	[ "$IMPL" = ours ] || { echo "  (static checks apply to our files only)"; return; }
	for f in $(kernel_files) $(tool_files); do
		log=$("$SRC/scripts/checkpatch.pl" --strict --no-tree --quiet \
			--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f "$TOP/$f" 2>&1)
		if [ -z "$log" ]; then pass "checkpatch --strict $f"
		else echo "$log" | head -n 20; fail "checkpatch --strict $f"; fi
	done
	for f in $(kernel_files); do
		log=$("$SRC/scripts/kernel-doc" -none -Wall "$TOP/$f" 2>&1)
		if [ -z "$log" ]; then pass "kernel-doc -Wall $f"
		else echo "$log" | head -n 20; fail "kernel-doc -Wall $f"; fi
	done
	for f in $(cd "$TOP" && ls drivers/pci/*.c); do
		local obj=${f%.c}.o
		log=$(make -s -C "$SRC" O="$OUT/build-$TAG" C=2 CC="ccache gcc" \
			"$obj" 2>&1 | grep -E 'warning|error' | grep -F "${f##*/}")
		if [ -z "$log" ]; then pass "sparse (C=2) $f"
		else echo "$log" | head -n 20; fail "sparse (C=2) $f"; fi
	done
	for d in patches; do
		[ -f "$TOP/$d/series" ] || continue
		for p in $(grep -v '^#' "$TOP/$d/series"); do
			log=$("$SRC/scripts/checkpatch.pl" --strict --no-tree --quiet \
				"$TOP/$d/$p" 2>&1)
			if [ -z "$log" ]; then pass "checkpatch --strict $d/$p"
			else echo "$log" | head -n 20; fail "checkpatch --strict $d/$p"; fi
		done
	done
}

# The kernel, the guests' initramfs, and the contract that the tree builds
# with CONFIG_PCI_P2PDMA=n too (the stubs).
build_checks() {
	local b=$OUT/build-$TAG-nop2p log
	if make -s -C "$TOP" kernel initramfs IMPL="$IMPL" DEBUG="$DEBUG" OUT="$OUT"; then
		pass "kernel build ($TAG, Linux $(cat "$OUT/base-version"))"
	else
		fail "kernel build ($TAG)"
		summary
		exit 1
	fi
	mkdir -p "$b"
	cp "$OUT/build-$TAG/.config" "$b/.config"
	"$SRC/scripts/config" --file "$b/.config" -d PCI_P2PDMA
	log=$(make -s -C "$SRC" O="$b" CC="ccache gcc" -j"$(nproc)" olddefconfig \
		>/dev/null 2>&1 && make -s -C "$SRC" O="$b" CC="ccache gcc" \
		-j"$(nproc)" drivers/pci/ drivers/nvme/ kernel/dma/ mm/ block/ \
		drivers/infiniband/core/ 2>&1)
	if [ $? = 0 ] && ! grep -q '^CONFIG_PCI_P2PDMA=y' "$b/.config"; then
		pass "callers build with CONFIG_PCI_P2PDMA=n"
	else
		echo "$log" | tail -n 20
		fail "callers build with CONFIG_PCI_P2PDMA=n"
	fi
}

# Files copied next to the guest script (/test/) on every guest run.
GUEST_FILES=()

# guest NAME TOPOLOGY SCRIPT [run-guest options]: one guest run; its KTAP
# results and the cleanliness of its kernel log become results.
guest() {
	local name=$1 topo=$2 script=$3 rc run line label
	shift 3
	run=$OUT/runs/$TAG/$name
	label=${ARCH_TAG:+${ARCH_TAG%-}: }$name
	[ "$DEBUG" = 1 ] && label="$label [debug]"
	if [ -n "$ONLY" ] && [ "$ONLY" != "$topo" ] && [ "$ONLY" != "$topo:$name" ] &&
	   [ "$ONLY" != "$name" ]; then
		return
	fi
	echo "  RUN   $name on $topo (log: ${run#"$TOP"/}/console.log)"
	# Debug kernels: report every KASAN finding, not just the first, and
	# allow for a kernel several times slower.
	[ "$DEBUG" = 1 ] && set -- -a kasan_multi_shot -t 900 "$@"
	"$TOP/harness/run-guest" -q -k "$KERNEL" -m "$MODULES" -o "$run" "$@" \
		"$topo" "$TOP/harness/tests/$script" "${GUEST_FILES[@]}" 2>/dev/null
	rc=$?
	if [ "$rc" = 77 ] && [ -f "$run/skip" ]; then
		skip "$label: $topo cannot exist on $P2P_ARCH: $(cat "$run/skip")"
		return
	fi
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) skip "$label: ${line#ok * }" ;;
		"ok "*) pass "$label: ${line#ok [0-9]* }" ;;
		"not ok "*) fail "$label: ${line#not ok [0-9]* }" ;;
		esac
	done < <(tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' | grep -E '^(not )?ok [0-9]+ ')
	host_verify "$label" "$run"
	if [ "$rc" = 124 ]; then
		fail "$label: guest finished (no exit status: timeout or crash)"
		tail -n 30 "$run/console.log" | sed 's/^/        /'
	fi
	# Known base-tree reports are named, not counted: known-reports.awk.
	tr -d '\r' < "$run/console.log" 2>/dev/null |
		awk -f "$TOP/harness/guest/known-reports.awk" > "$run/console.filtered"
	sed -n 's/^.*p2pdma-known-report: /  NOTE  '"$label"': not ours: /p' "$run/console.filtered" | sort -u
	if grep -E -q 'BUG:|WARNING:|Oops|KASAN:|UBSAN:|possible circular|inconsistent lock|kmemleak: [1-9][0-9]* new suspected|general protection fault|Kernel panic' "$run/console.filtered"; then
		grep -E -m 5 -A 10 'BUG:|WARNING:|Oops|KASAN:|UBSAN:|possible circular|inconsistent lock|kmemleak: [1-9]|general protection|Kernel panic' \
			"$run/console.filtered" | sed 's/^/        /'
		fail "$label: kernel log has a BUG/WARNING/Oops/KASAN/lockdep report"
	fi
	# Debug kernels: init scans for leaks once the script is done.
	line=$(tr -d '\r' < "$run/console.log" 2>/dev/null | sed -n 's/^@@KMEMLEAK \([0-9a-z]*\)@@$/\1/p')
	if [ "$line" = 0 ]; then
		pass "$label: kmemleak finds no leak"
	elif [ "$line" = disabled ]; then
		grep -m 5 -i 'kmemleak' "$run/console.log" | sed 's/^/        /'
		fail "$label: kmemleak is disabled in the guest"
	elif [ -n "$line" ]; then
		grep -m 40 '^kmemleak-report: ' "$run/console.log" | sed 's/^/        /'
		fail "$label: kmemleak finds $line suspected leaks"
	elif [ "$DEBUG" = 1 ] && [ "$rc" != 124 ]; then
		fail "$label: no kmemleak scan on a debug kernel"
	fi
}

# host_verify NAME RUNDIR: the copies a guest announced with
# "# host-verify: PROVIDER CLIENT MIB ok|refused" are checked in the disk
# images: MiB number MIB of the provider's namespace must now equal the
# client's (which no other copy touched), or differ from it if refused.
host_verify() {
	local name=$1 run=$2 prov client mib want n=0 bad=0 same
	while read -r prov client mib want; do
		n=$((n + 1))
		if cmp -s <(dd if="$run/$prov-n1.img" bs=1M skip="$mib" count=1 status=none) \
			  <(dd if="$run/$client-n1.img" bs=1M skip="$mib" count=1 status=none); then
			same=ok
		else
			same=refused
		fi
		if [ "$same" != "$want" ]; then
			echo "        host: MiB $mib of $prov vs $client: expected $want"
			bad=$((bad + 1))
		fi
	done < <(tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/s/^# host-verify: //p')
	[ $n = 0 ] && return
	if [ $bad = 0 ]; then
		pass "$name: host: $n copies checked in the disk images"
	else
		fail "$name: host: $bad of $n copies differ in the disk images"
	fi
}

kunit_stage() {
	guest kunit one-switch kunit.sh
}

integration_stage() {
	local t
	for t in "$TOP"/harness/topologies/*.topo; do
		t=$(basename "$t" .topo)
		guest "pairs-$t" "$t" pairs.sh
	done
	guest abi one-switch abi.sh
	guest fio one-switch fio.sh
	guest nvmet one-switch nvmet.sh
}

# The out-of-tree module the reliability scenarios load to hold kernel
# allocations, built against this kernel; prints the path of the .ko.
hold_module() {
	local dir=$OUT/hold-$TAG
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$TOP"/tools/testing/selftests/p2pdma/hold/{Kbuild,p2pmem_hold.c} "$dir/"
	if ! make -s -C "$SRC" O="$OUT/build-$TAG" "${KMAKE_ARCH[@]}" M="$dir" \
		modules > "$dir/build.log" 2>&1; then
		sed 's/^/        /' "$dir/build.log" | tail -n 20 >&2
		return 1
	fi
	echo "$dir/p2pmem_hold.ko"
}

# Fault injection and hostile input (Documentation/driver-api/pci/p2pdma.rst,
# "Reliability").
reliability_stage() {
	local mod
	if mod=$(hold_module); then
		pass "p2pmem_hold.ko builds against $TAG"
		GUEST_FILES=("$mod")
	else
		fail "p2pmem_hold.ko builds against $TAG"
	fi
	guest hotplug one-switch hotplug.sh
	guest hotplug-pciehp pciehp hotplug.sh
	guest rebind one-switch rebind.sh
	guest hostile one-switch hostile.sh
	guest stress one-switch stress.sh
	GUEST_FILES=()
}

# The part of the debug run CI can afford: the KUnit suite, the data path
# on the default machine, and the removal and rebind scenarios, whose
# teardown paths are where KASAN, lockdep and kmemleak earn their keep.
debug_quick_stage() {
	local mod
	kunit_stage
	guest pairs-one-switch one-switch pairs.sh
	guest abi one-switch abi.sh
	if mod=$(hold_module); then
		GUEST_FILES=("$mod")
	else
		fail "p2pmem_hold.ko builds against $TAG"
	fi
	guest hotplug one-switch hotplug.sh
	# Unknown kernel parameters become init's environment.
	guest rebind one-switch rebind.sh -a REBIND_ROUNDS=20
	guest stress one-switch stress.sh
	GUEST_FILES=()
}

# The benchmark stays alive in CI: one short boot of our kernel, every row
# must be produced; timing is make bench's business, not a test's.
bench_smoke() {
	local log=$OUT/bench-smoke.log
	if BENCH_IMPLS=$IMPL "$TOP/harness/bench.sh" --smoke > "$log" 2>&1; then
		pass "bench: smoke run produces every row ($(tail -n 1 "$log"))"
	else
		tail -n 20 "$log" | sed 's/^/        /'
		fail "bench: smoke run"
	fi
}

# What CI can afford of the debug kernel (KASAN, lockdep, kmemleak) next to
# everything else: its build, the KUnit suite and the pairs of the default
# machine.  The whole debug run is make check-debug.
debug_subset() {
	DEBUG=1
	TAG=$IMPL-debug
	KERNEL=$OUT/bzImage-$TAG
	MODULES=$OUT/modules-$TAG
	if ! make -s -C "$TOP" kernel IMPL="$IMPL" DEBUG=1 OUT="$OUT"; then
		fail "kernel build ($TAG)"
		return
	fi
	pass "kernel build ($TAG, Linux $(cat "$OUT/base-version"))"
	kunit_stage
	guest pairs-one-switch one-switch pairs.sh
}

# arm64 and riscv64 on QEMU virt (harness/arch.sh, README "Targets").
# arch_switch ARCH: later guests and builds are for ARCH (non-debug).
arch_switch() {
	DEBUG=0
	arch_setup "$1" "$IMPL" 0 "$OUT" || exit 2
	TAG=$ARCH_TAG$IMPL
	export ARCH=$P2P_ARCH
}

arch_build() {
	if make -s -C "$TOP" kernel initramfs ARCH="$P2P_ARCH" IMPL="$IMPL" \
		DEBUG="$DEBUG" OUT="$OUT"; then
		pass "$P2P_ARCH: kernel build ($TAG, Linux $(cat "$OUT/base-version"))"
	else
		fail "$P2P_ARCH: kernel build ($TAG)"
		return 1
	fi
}

# What plain "make check" (CI) runs for each architecture: the kernel
# build, KUnit and the default topology's pairs.
arch_quick() {
	local t0
	t0=$(date +%s)
	arch_switch "$1"
	if arch_build; then
		kunit_stage
		guest pairs-one-switch one-switch pairs.sh
	fi
	echo "  TIME  $P2P_ARCH (build, KUnit, one-switch pairs): $(( $(date +%s) - t0 )) s"
}

# "make check ARCH=...": KUnit, every topology's pairs (q35-only ones are
# skipped with the reason), the userspace ABI, fio, nvmet, the host-bridge
# rule and its override, and hot removal under a live mapping (native
# pciehp on virt's root ports and switch ports).
arch_full() {
	local t0 mod
	t0=$(date +%s)
	if [ -z "$ONLY" ]; then
		arch_build || return
	fi
	kunit_stage
	integration_stage
	guest host-bridge one-switch host-bridge.sh
	if mod=$(hold_module); then
		pass "$P2P_ARCH: p2pmem_hold.ko builds against $TAG"
		GUEST_FILES=("$mod")
	else
		fail "$P2P_ARCH: p2pmem_hold.ko builds against $TAG"
	fi
	guest hotplug one-switch hotplug.sh
	GUEST_FILES=()
	echo "  TIME  $P2P_ARCH: $(( $(date +%s) - t0 )) s"
}

summary() {
	echo
	echo "== p2pdma check ($IMPL, Linux $(cat "$OUT/base-version" 2>/dev/null)) =="
	local f
	for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
	[ "$SKIPPED" = 0 ] || echo "  ($SKIPPED skipped, counted as passed)"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

case $STAGE in
static) static_checks ;;
build) build_checks ;;
kunit) kunit_stage ;;
integration) integration_stage ;;
reliability) reliability_stage ;;
debug|debug-quick)
	[ "$DEBUG" = 1 ] || { echo "check.sh: $STAGE needs DEBUG=1"; exit 2; }
	t0=$(date +%s)
	if [ -z "$ONLY" ]; then
		if make -s -C "$TOP" kernel initramfs IMPL="$IMPL" DEBUG=1 OUT="$OUT"; then
			pass "kernel build ($TAG, Linux $(cat "$OUT/base-version"))"
		else
			fail "kernel build ($TAG)"
			summary
			exit 1
		fi
	fi
	if [ "$STAGE" = debug ]; then
		kunit_stage
		integration_stage
		reliability_stage
	else
		debug_quick_stage
	fi
	echo "  TIME  $STAGE: $(( $(date +%s) - t0 )) s"
	;;
all|arch)
	if [ "$P2P_ARCH" != x86_64 ]; then
		arch_full
		summary
		exit
	fi
	[ "$STAGE" = arch ] && { echo "check.sh: arch needs ARCH=arm64|riscv64"; exit 2; }
	build_checks
	static_checks
	kunit_stage
	integration_stage
	reliability_stage
	bench_smoke
	[ "${CHECK_DEBUG:-1}" = 0 ] || debug_subset
	for a in ${CHECK_ARCHES-arm64 riscv64}; do arch_quick "$a"; done
	;;
arch-quick)
	if [ "$P2P_ARCH" != x86_64 ]; then arch_quick "$P2P_ARCH"
	else for a in ${CHECK_ARCHES-arm64 riscv64}; do arch_quick "$a"; done; fi
	;;
bench) bench_smoke ;;
debug-subset) debug_subset ;;
*) echo "usage: check.sh [static|build|kunit|integration|reliability|bench|all|debug|debug-quick|arch|arch-quick] [TOPOLOGY[:SCENARIO]]"; exit 2 ;;
esac
summary
