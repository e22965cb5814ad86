#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite CI runs.  Stages: static checks of every C file we own,
# KUnit in QEMU, the integration suite in QEMU.  Every result is one line;
# the summary's last line is "N passed, N failed"; exit status 1 on failure.
#
# usage: check.sh [static|kunit|integration|reliability|build|patchset|deb|all|debug|debug-quick]
#                 [TOPOLOGY[:SCENARIO]|SCENARIO]
#   debug: KUnit, integration and reliability on the DEBUG=1 kernel (KASAN,
#   lockdep, kmemleak, ...); debug-quick: the subset of it CI can afford.
#   IMPL=ours|base, DEBUG=0|1 and OUT come from the environment (make check).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
IMPL=${IMPL:-ours}
DEBUG=${DEBUG:-0}
TAG=$IMPL$([ "$DEBUG" = 1 ] && echo -debug)
KERNEL=$OUT/bzImage-$TAG
MODULES=$OUT/modules-$TAG
SRC=$OUT/src-$IMPL
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
		tools/testing/selftests/p2pdma/bench/*.c \
		tools/pci/p2pdma/*.c 2>/dev/null)
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

# The series of make patchset: git am on the pristine base, checkpatch
# --strict on every patch, and its last step equal to make source.
# (make check-bisect also builds every step.)
patchset_stage() {
	local line
	[ "$IMPL" = ours ] || { echo "  (the patch series is made of our files only)"; return; }
	while IFS= read -r line; do
		case $line in
		"  PASS  "*) pass "patchset: ${line#  PASS  }" ;;
		"  FAIL  "*) fail "patchset: ${line#  FAIL  }" ;;
		*) echo "$line" ;;
		esac
	done < <("$TOP/harness/patchset.sh" apply 2>&1)
}

# make deb from the test configuration: the packages' contents, then the
# kernel and module taken out of the linux-image package, booted on the
# demo machine.
deb_stage() {
	local line deb=$OUT/deb
	[ "$IMPL" = ours ] || { echo "  (packages are built with our core only)"; return; }
	while IFS= read -r line; do
		case $line in
		"  PASS  "*) pass "${line#  PASS  }" ;;
		"  FAIL  "*) fail "${line#  FAIL  }" ;;
		*) echo "$line" ;;
		esac
	done < <("$TOP/harness/deb.sh" check 2>&1)
	[ -f "$deb/release" ] || return
	mkdir -p "$deb/modules"
	rm -f "$deb/modules"/*.ko
	find "$deb/root/lib/modules" -name p2pmem-pci.ko -exec cp {} "$deb/modules/" \;
	# guest() boots $KERNEL with $MODULES: the packaged ones, here.
	local KERNEL=$deb/root/boot/vmlinuz-$(cat "$deb/release") MODULES=$deb/modules
	GUEST_FILES=("$deb/release")
	guest deb-boot one-switch deb-boot.sh
	GUEST_FILES=()
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
	label=$name
	[ "$DEBUG" = 1 ] && label="$name [debug]"
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
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) skip "$label: ${line#ok * }" ;;
		"ok "*) pass "$label: ${line#ok [0-9]* }" ;;
		"not ok "*) fail "$label: ${line#not ok [0-9]* }" ;;
		esac
	done < <(tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' | grep -E '^(not )?ok [0-9]+ ')
	host_verify "$label" "$run"
	host_shm_verify "$label" "$run"
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

# host_shm_verify NAME RUNDIR: the chunks a guest announced with
# "# host-shm: DEVICE SERIAL OFFSET LENGTH" passed through DEVICE's BAR, an
# ivshmem whose RAM is RUNDIR/DEVICE.shm: LENGTH bytes at OFFSET of SERIAL's
# disk image must be found there.
host_shm_verify() {
	local name=$1 run=$2 dev serial off len n=0 bad=0
	while read -r dev serial off len; do
		n=$((n + 1))
		python3 - "$run/$dev.shm" "$run/$serial-n1.img" "$off" "$len" <<-'EOF' || bad=$((bad + 1))
		import sys
		shm, img, off, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
		with open(img, "rb") as f:
		    f.seek(off)
		    chunk = f.read(n)
		sys.exit(0 if len(chunk) == n and chunk in open(shm, "rb").read() else 1)
		EOF
	done < <(tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/s/^# host-shm: //p')
	[ $n = 0 ] && return
	if [ $bad = 0 ]; then
		pass "$name: host: $n chunks found in the donor's shared memory"
	else
		fail "$name: host: $bad of $n chunks missing from the donor's shared memory"
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
	guest donor donor donor.sh
	guest copy-range one-switch copy-range.sh
	guest copy-donor donor-copy copy-donor.sh
	topo_tool_stage
}

# The topology tool (tools/pci/p2pdma) against every topology's expectations.
topo_tool_stage() {
	local t
	for t in "$TOP"/harness/topologies/*.topo; do
		t=$(basename "$t" .topo)
		guest "topo-tool-$t" "$t" topo-tool.sh
	done
}

# The out-of-tree module the reliability scenarios load to hold kernel
# allocations, built against this kernel; prints the path of the .ko.
hold_module() {
	local dir=$OUT/hold-$TAG
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$TOP"/tools/testing/selftests/p2pdma/hold/{Kbuild,p2pmem_hold.c} "$dir/"
	if ! make -s -C "$SRC" O="$OUT/build-$TAG" CC="ccache gcc" M="$dir" \
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
patchset) patchset_stage ;;
deb) deb_stage ;;
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
all)
	build_checks
	static_checks
	patchset_stage
	kunit_stage
	integration_stage
	reliability_stage
	deb_stage
	bench_smoke
	[ "${CHECK_DEBUG:-1}" = 0 ] || debug_subset
	;;
bench) bench_smoke ;;
debug-subset) debug_subset ;;
*) echo "usage: check.sh [static|build|kunit|integration|reliability|patchset|deb|bench|all|debug|debug-quick] [TOPOLOGY[:SCENARIO]]"; exit 2 ;;
esac
summary
