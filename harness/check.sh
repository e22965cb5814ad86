#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite CI runs.  Stages: static checks of every C file we own,
# KUnit in QEMU, the integration suite in QEMU.  Every result is one line;
# the summary's last line is "N passed, N failed"; exit status 1 on failure.
#
# usage: check.sh [static|kunit|integration|build|all] [TOPOLOGY[:SCENARIO]]
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
	(cd "$TOP" && ls tools/testing/selftests/p2pdma/*.[ch] 2>/dev/null)
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

# guest NAME TOPOLOGY SCRIPT [run-guest options]: one guest run; its KTAP
# results and the cleanliness of its kernel log become results.
guest() {
	local name=$1 topo=$2 script=$3 rc run line
	shift 3
	run=$OUT/runs/$TAG/$name
	if [ -n "$ONLY" ] && [ "$ONLY" != "$topo" ] && [ "$ONLY" != "$topo:$name" ] &&
	   [ "$ONLY" != "$name" ]; then
		return
	fi
	echo "  RUN   $name on $topo (log: ${run#"$TOP"/}/console.log)"
	"$TOP/harness/run-guest" -q -k "$KERNEL" -m "$MODULES" -o "$run" "$@" \
		"$topo" "$TOP/harness/tests/$script" 2>/dev/null
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) skip "$name: ${line#ok * }" ;;
		"ok "*) pass "$name: ${line#ok [0-9]* }" ;;
		"not ok "*) fail "$name: ${line#not ok [0-9]* }" ;;
		esac
	done < <(tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' | grep -E '^(not )?ok [0-9]+ ')
	if [ "$rc" = 124 ]; then
		fail "$name: guest finished (no exit status: timeout or crash)"
		tail -n 30 "$run/console.log" | sed 's/^/        /'
	fi
	if grep -E -q 'BUG:|WARNING:|Oops|KASAN:|UBSAN:|possible circular|inconsistent lock|kmemleak: [1-9][0-9]* new suspected|general protection fault|Kernel panic' "$run/console.log"; then
		grep -E -m 5 -A 10 'BUG:|WARNING:|Oops|KASAN:|UBSAN:|possible circular|inconsistent lock|kmemleak: [1-9]|general protection|Kernel panic' \
			"$run/console.log" | sed 's/^/        /'
		fail "$name: kernel log has a BUG/WARNING/Oops/KASAN/lockdep report"
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

summary() {
	echo
	echo "== p2pdma check ($TAG, Linux $(cat "$OUT/base-version" 2>/dev/null)) =="
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
all)
	build_checks
	static_checks
	kunit_stage
	integration_stage
	;;
*) echo "usage: check.sh [static|build|kunit|integration|all] [TOPOLOGY[:SCENARIO]]"; exit 2 ;;
esac
summary
