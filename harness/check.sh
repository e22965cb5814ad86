#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite CI runs.  Stages: static checks of every C file we own,
# KUnit in QEMU, the integration suite in QEMU.  Every result is one line;
# the summary's last line is "N passed, N failed"; exit status 1 on failure.
#
# usage: check.sh [static|kunit|integration|reliability|build|patchset|deb|all
#                 |debug|debug-quick|arch|arch-quick] [TOPOLOGY[:SCENARIO]|SCENARIO]
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
RUNS=${CHECK_RUNS:-$OUT/runs}
TESTS=${CHECK_TESTS:-$TOP/harness/tests}
SRC=$OUT/src-$IMPL
# The guests' architecture (harness/arch.sh); x86_64 keeps the names above.
# shellcheck source=harness/arch.sh
. "$TOP/harness/arch.sh"
arch_setup "${ARCH:-x86_64}" "$IMPL" "$DEBUG" "$OUT" || exit 2
# harness/mutants.sh points these at a mutant kernel (and TESTS above at
# mutant guest scripts); after arch_setup, which sets the defaults.
KERNEL=${CHECK_KERNEL:-$KERNEL}
MODULES=${CHECK_MODULES:-$MODULES}
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
		tools/testing/selftests/p2pdma/bench/*.c \
		tools/pci/p2pdma/*.c 2>/dev/null)
}

static_checks() {
	local f log ours rc
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
	# Sparse reports in any of our files count, headers included, not
	# just in the file being compiled.
	ours=$(kernel_files | sed 's/[.]/[.]/g' | paste -sd'|')
	for f in $(cd "$TOP" && ls drivers/pci/*.c); do
		local obj=${f%.c}.o
		log=$(make -s -C "$SRC" O="$OUT/build-$TAG" C=2 CC="ccache gcc" \
			"$obj" 2>&1)
		rc=$?
		log=$(echo "$log" | grep -E "(^|/)($ours):[0-9]+(:[0-9]+)?: (warning|error)")
		if [ $rc = 0 ] && [ -z "$log" ]; then pass "sparse (C=2) $f"
		else echo "$log" | head -n 20; fail "sparse (C=2) $f (make status $rc)"; fi
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

# The in-tree users of the p2pdma API.  CALLERS_HEADER: every object of the
# base tree that includes linux/pci-p2pdma.h; built with CONFIG_PCI_P2PDMA=y
# and =n.  CALLERS_PAGES: the DMA, block, mm and nvmet code that handles
# p2pdma pages through the base headers (dma-map-ops.h, memremap.h); =y
# only, the =n side of those headers is not ours.
CALLERS_HEADER="drivers/accel/habanalabs/common/memory.o
	drivers/gpu/drm/amd/amdgpu/amdgpu_device.o
	drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.o
	drivers/gpu/drm/xe/xe_dma_buf.o
	drivers/infiniband/core/rw.o
	drivers/nvme/host/pci.o
	drivers/nvme/target/configfs.o
	drivers/nvme/target/core.o"
CALLERS_PAGES="drivers/iommu/dma-iommu.o kernel/dma/direct.o kernel/dma/mapping.o
	drivers/nvme/target/io-cmd-bdev.o block/bio.o block/blk-map.o
	block/bio-integrity.o mm/gup.o mm/memremap.o lib/iov_iter.o"

# callers_build y|n: compile the callers' objects one by one ("make
# dir/file.o") in a build directory of their own, configured as the test
# kernel plus harness/configs/callers.config (the GPU and accelerator
# drivers) with CONFIG_PCI_P2PDMA=y or =n.  Objects the test kernel's own
# build compiled already (=y) are not compiled again.
callers_build() {
	local p2p=$1 dir=$OUT/build-$TAG-callers-$1 frag=$TOP/harness/configs/callers.config
	local objs='' o stamp log sym
	mkdir -p "$dir"
	stamp=$(cat "$OUT/build-$TAG/.config" "$frag" | sha1sum | cut -d' ' -f1)
	if [ "$(cat "$dir/.p2pdma-config" 2>/dev/null)" != "$stamp" ]; then
		KCONFIG_CONFIG=$dir/.config "$SRC/scripts/kconfig/merge_config.sh" -m \
			-O "$dir" "$OUT/build-$TAG/.config" "$frag" > /dev/null
		if [ "$p2p" = y ]; then
			"$SRC/scripts/config" --file "$dir/.config" -e PCI_P2PDMA
		else
			"$SRC/scripts/config" --file "$dir/.config" -d PCI_P2PDMA
		fi
		make -s -C "$SRC" O="$dir" CC="ccache gcc" HOSTCC="ccache gcc" \
			olddefconfig > /dev/null 2>&1
		echo "$stamp" > "$dir/.p2pdma-config"
	fi
	for sym in $(sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=[ym]$/\1/p' "$frag"); do
		if ! grep -q "^$sym=[ym]" "$dir/.config"; then
			fail "callers build (CONFIG_PCI_P2PDMA=$p2p): $sym did not stick"
			rm -f "$dir/.p2pdma-config"
			return
		fi
	done
	sym=$(grep -q '^CONFIG_PCI_P2PDMA=y' "$dir/.config" && echo y || echo n)
	if [ "$sym" != "$p2p" ]; then
		fail "callers build: CONFIG_PCI_P2PDMA=$p2p did not stick"
		rm -f "$dir/.p2pdma-config"
		return
	fi
	for o in $CALLERS_HEADER $([ "$p2p" = y ] && echo "$CALLERS_PAGES"); do
		[ "$p2p" = y ] && [ -f "$OUT/build-$TAG/$o" ] && continue
		objs="$objs $o"
	done
	# shellcheck disable=SC2086
	if log=$(make -k -s -C "$SRC" O="$dir" CC="ccache gcc" HOSTCC="ccache gcc" \
		-j"$(nproc)" $objs 2>&1); then
		pass "callers build with CONFIG_PCI_P2PDMA=$p2p:$(for o in $objs; do printf ' %s' "${o##*/}"; done)"
	else
		echo "$log" | grep -E 'error|warning' | head -n 20 | sed 's/^/        /'
		fail "callers build with CONFIG_PCI_P2PDMA=$p2p"
	fi
}

# relay_results PREFIX CMD...: CMD's "  PASS  "/"  FAIL  " lines become
# results (named with PREFIX), the rest of its output is shown.
relay_results() {
	local prefix=$1 line
	shift
	while IFS= read -r line; do
		case $line in
		"  PASS  "*) pass "$prefix${line#  PASS  }" ;;
		"  FAIL  "*) fail "$prefix${line#  FAIL  }" ;;
		*) echo "$line" ;;
		esac
	done < <("$@" 2>&1)
}

# The series of make patchset: git am on the pristine base, checkpatch
# --strict on every patch, and its last step equal to make source.
# (make check-bisect also builds every step.)
patchset_stage() {
	[ "$IMPL" = ours ] || { echo "  (the patch series is made of our files only)"; return; }
	relay_results "patchset: " "$TOP/harness/patchset.sh" apply
}

# make deb from the test configuration: the packages' contents, then the
# kernel and module taken out of the linux-image package, booted on the
# demo machine.
deb_stage() {
	local deb=$OUT/deb
	[ "$IMPL" = ours ] || { echo "  (packages are built with our core only)"; return; }
	relay_results "" "$TOP/harness/deb.sh" check
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

# The kernel, the guests' initramfs, and the callers of the API with
# CONFIG_PCI_P2PDMA=y and =n (the stubs).
build_checks() {
	local o missing=
	if timed "kernel build ($TAG) and initramfs" \
		make -s -C "$TOP" kernel initramfs IMPL="$IMPL" DEBUG="$DEBUG" OUT="$OUT"; then
		pass "kernel build ($TAG, Linux $(cat "$OUT/base-version"))"
	else
		fail "kernel build ($TAG)"
		summary
		exit 1
	fi
	for o in $CALLERS_HEADER $CALLERS_PAGES; do
		[ -f "$OUT/build-$TAG/$o" ] || missing="$missing ${o##*/}"
	done
	echo "  INFO  callers compiled by the kernel build (CONFIG_PCI_P2PDMA=y); not in it:${missing:- none}"
	timed "callers build (CONFIG_PCI_P2PDMA=y)" callers_build y
	timed "callers build (CONFIG_PCI_P2PDMA=n)" callers_build n
}

# Files copied next to the guest script (/test/) on every guest run.
GUEST_FILES=()
# Guests the ONLY filter let through (a filter that matches none fails).
GUESTS_RUN=0
KTAP_BAD=0

# timed WHAT CMD...: run CMD and print its wall time as a TIME line.
timed() {
	local what=$1 t0 rc
	shift
	t0=$(date +%s)
	"$@"
	rc=$?
	echo "  TIME  $what: $(($(date +%s) - t0)) s"
	return $rc
}

# ktap_results LABEL RUNDIR: the KTAP block the guest's init printed at the
# end (@@KTAP-BEGIN@@ .. @@KTAP-END@@) becomes results.  Nothing counts as
# a pass by default: no block, no plan, a "Bail out!", or a plan "1..N"
# whose results are not all there is a failure, one for every missing
# result.  KTAP_BAD is set to the number of failures counted.
ktap_results() {
	local label=$1 run=$2 block line num plan='' bad=0 seen=' ' i missing=0
	block=$run/ktap.txt
	tr -d '\r' < "$run/console.log" 2>/dev/null |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' > "$block"
	if ! grep -q '^@@KTAP-END@@$' "$block"; then
		fail "$label: the guest printed no KTAP block (the script never finished)"
		KTAP_BAD=1
		return
	fi
	while IFS= read -r line; do
		case $line in
		"ok "*|"not ok "*)
			num=${line#not }
			num=${num#ok }
			num=${num%% *}
			case $num in
			''|*[!0-9]*) continue ;;
			esac
			case $seen in
			*" $num "*) fail "$label: result $num reported twice: $line"
				bad=$((bad + 1)) ;;
			esac
			seen="$seen$num "
			;;
		esac
		case $line in
		"ok "*"# SKIP"*) skip "$label: ${line#ok * }" ;;
		"ok "*) pass "$label: ${line#ok [0-9]* }" ;;
		"not ok "*) fail "$label: ${line#not ok [0-9]* }"
			bad=$((bad + 1)) ;;
		"1.."*)
			if [ -n "$plan" ]; then
				fail "$label: a second KTAP plan: $line"
				bad=$((bad + 1))
			else
				plan=${line#1..}
			fi
			;;
		"Bail out!"*)
			fail "$label: the guest bailed out: $line"
			bad=$((bad + 1))
			;;
		esac
	done < "$block"
	case $plan in
	'')
		fail "$label: the guest printed no KTAP plan (1..N)"
		KTAP_BAD=$((bad + 1))
		return
		;;
	*[!0-9]*|0)
		fail "$label: unparsable or empty KTAP plan '1..$plan'"
		KTAP_BAD=$((bad + 1))
		return
		;;
	esac
	for ((i = 1; i <= plan; i++)); do
		case $seen in
		*" $i "*) ;;
		*) missing=$((missing + 1))
		   fail "$label: result $i of $plan missing (the script died or skipped it)" ;;
		esac
	done
	for num in $seen; do
		if [ "$num" -lt 1 ] || [ "$num" -gt "$plan" ]; then
			fail "$label: result $num is outside the plan 1..$plan"
			bad=$((bad + 1))
		fi
	done
	KTAP_BAD=$((bad + missing))
}

# guest NAME TOPOLOGY SCRIPT [run-guest options]: one guest run; its KTAP
# results and the cleanliness of its kernel log become results.
guest() {
	local name=$1 topo=$2 script=$3 rc run line label t0
	shift 3
	run=$RUNS/$TAG/$name
	label=${ARCH_TAG:+${ARCH_TAG%-}: }$name
	[ "$DEBUG" = 1 ] && label="$label [debug]"
	if [ -n "$ONLY" ] && [ "$ONLY" != "$topo" ] && [ "$ONLY" != "$topo:$name" ] &&
	   [ "$ONLY" != "$name" ]; then
		return
	fi
	GUESTS_RUN=$((GUESTS_RUN + 1))
	echo "  RUN   $name on $topo (log: ${run#"$TOP"/}/console.log)"
	# Debug kernels: report every KASAN finding, not just the first, and
	# allow for a kernel several times slower.
	[ "$DEBUG" = 1 ] && set -- -a kasan_multi_shot -t 900 "$@"
	# No result of an earlier run may count; run-guest's messages go next
	# to the run directory first (it empties the directory when it starts).
	rm -rf "$run"
	mkdir -p "$RUNS/$TAG"
	t0=$(date +%s)
	"$TOP/harness/run-guest" -q -k "$KERNEL" -m "$MODULES" -o "$run" "$@" \
		"$topo" "$TESTS/$script" "${GUEST_FILES[@]}" \
		2> "$run.stderr"
	rc=$?
	echo "  TIME  guest $label: $(($(date +%s) - t0)) s"
	mkdir -p "$run"
	mv -f "$run.stderr" "$run/run-guest.stderr"
	if [ "$rc" = 77 ] && [ -f "$run/skip" ]; then
		skip "$label: $topo cannot exist on $P2P_ARCH: $(cat "$run/skip")"
		return
	fi
	if [ ! -s "$run/console.log" ]; then
		sed 's/^/        /' "$run/run-guest.stderr"
		fail "$label: the guest did not run (run-guest status $rc: $(head -n 1 "$run/run-guest.stderr"))"
		return
	fi
	ktap_results "$label" "$run"
	host_verify "$label" "$run"
	host_shm_verify "$label" "$run"
	if [ "$rc" = 124 ]; then
		fail "$label: guest finished (no exit status: timeout or crash)"
		tail -n 30 "$run/console.log" | sed 's/^/        /'
	elif [ "$rc" != 0 ] && [ "$KTAP_BAD" = 0 ]; then
		# A script that fails must say which test failed.
		sed 's/^/        /' "$run/run-guest.stderr"
		fail "$label: the guest script exited with status $rc but reported no failing result"
	elif [ -s "$run/run-guest.stderr" ]; then
		sed 's/^/        run-guest: /' "$run/run-guest.stderr"
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

# only_matched: a TOPOLOGY[:SCENARIO] filter must select at least one guest.
only_matched() {
	[ -n "$ONLY" ] || return 0
	[ "$GUESTS_RUN" -gt 0 ] && return 0
	fail "'$ONLY' matches no guest of stage $STAGE (see the guest names in harness/check.sh)"
}

# host_verify NAME RUNDIR: the copies a guest announced with
# "# host-verify: CLIENT SRC_MIB PROVIDER DST_MIB ok|refused" are checked in
# the disk images: MiB DST_MIB of the provider's namespace must now equal
# MiB SRC_MIB of the client's (random data, not zeros), or, if refused,
# still be zeros as the host made it.  The short form "DST SRC MIB
# ok|refused" is a copy between the same MiB of two different disks (both
# random data: refused means they still differ).
host_verify() {
	local name=$1 run=$2 client src prov dst want n=0 bad=0 got a b c d e
	while read -r a b c d e; do
		n=$((n + 1))
		if [ -z "$e" ]; then
			prov=$a client=$b src=$c dst=$c want=$d
			if [ "$prov" = "$client" ]; then
				echo "        host: $a $b $c $d: a disk copied onto itself proves nothing"
				bad=$((bad + 1))
				continue
			fi
		else
			client=$a src=$b prov=$c dst=$d want=$e
		fi
		if ! cmp -s <(dd if="$run/$prov-n1.img" bs=1M skip="$dst" count=1 status=none) \
			    <(dd if="$run/$client-n1.img" bs=1M skip="$src" count=1 status=none); then
			got=differs
		elif cmp -s <(dd if="$run/$client-n1.img" bs=1M skip="$src" count=1 status=none) \
			    <(head -c 1048576 /dev/zero); then
			got="equal, but zeros"
		else
			got=copied
		fi
		if [ "$want" = refused ] && [ "$got" = differs ] &&
		   { [ -z "$e" ] ||
		     cmp -s <(dd if="$run/$prov-n1.img" bs=1M skip="$dst" count=1 status=none) \
			    <(head -c 1048576 /dev/zero); }; then
			got=untouched
		fi
		case $want:$got in
		ok:copied|refused:untouched) ;;
		*)
			echo "        host: $client MiB $src -> $prov MiB $dst: expected $want, found $got"
			bad=$((bad + 1)) ;;
		esac
	done < <(sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/s/^# host-verify: //p' "$run/ktap.txt" 2>/dev/null)
	[ $n = 0 ] && return
	if [ $bad = 0 ]; then
		pass "$name: host: $n copies checked in the disk images"
	else
		fail "$name: host: $bad of $n copies wrong in the disk images"
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
		# pciehp.topo is one-switch.topo with native hotplug: the same
		# pairs and decisions; it is there for hotplug-pciehp.
		[ "$t" = pciehp ] && continue
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
	local mod t0
	t0=$(date +%s)
	if mod=$(hold_module); then
		pass "p2pmem_hold.ko builds against $TAG"
		GUEST_FILES=("$mod")
	else
		fail "p2pmem_hold.ko builds against $TAG"
	fi
	echo "  TIME  p2pmem_hold.ko build: $(($(date +%s) - t0)) s"
	guest hotplug one-switch hotplug.sh
	guest hotplug-pciehp pciehp hotplug.sh
	# Unknown kernel parameters become init's environment.
	guest rebind one-switch rebind.sh -a "REBIND_ROUNDS=$REBIND_ROUNDS"
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
	guest rebind one-switch rebind.sh -a REBIND_ROUNDS=20
	guest stress one-switch stress.sh
	GUEST_FILES=()
}

# The benchmark stays alive in CI: one short boot of our kernel per variant
# of bench.topo (2 and 8 vCPUs, VT-d, instruction counting), every row must
# be produced; timing is make bench's business, not a test's.
bench_smoke() {
	local log=$OUT/bench-smoke.log
	# The kernel is built already (build stage): no rebuild.
	if BENCH_BUILD=0 BENCH_IMPLS=$IMPL timed "bench smoke" \
		"$TOP/harness/bench.sh" --smoke > "$log" 2>&1; then
		grep '^  TIME' "$log"
		pass "bench: smoke run produces every row ($(grep -v '^  TIME' "$log" | tail -n 1))"
	else
		tail -n 20 "$log" | sed 's/^/        /'
		grep '^  TIME' "$log"
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
	if ! timed "kernel build ($TAG)" make -s -C "$TOP" kernel IMPL="$IMPL" DEBUG=1 OUT="$OUT"; then
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

# Rebind rounds: 20 in make check, 100 in the full debug run.
REBIND_ROUNDS=${REBIND_ROUNDS:-$([ "$STAGE" = debug ] && echo 100 || echo 20)}
T_START=$(date +%s)

case $STAGE in
static) timed "static checks" static_checks ;;
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
		if timed "kernel build ($TAG) and initramfs" \
			make -s -C "$TOP" kernel initramfs IMPL="$IMPL" DEBUG=1 OUT="$OUT"; then
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
	timed "static checks" static_checks
	timed "patch series" patchset_stage
	kunit_stage
	integration_stage
	reliability_stage
	deb_stage
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
*) echo "usage: check.sh [static|build|kunit|integration|reliability|patchset|deb|bench|all|debug|debug-quick|arch|arch-quick] [TOPOLOGY[:SCENARIO]]"; exit 2 ;;
esac
only_matched
echo "  TIME  check.sh $STAGE${ONLY:+ $ONLY}: $(($(date +%s) - T_START)) s"
summary
