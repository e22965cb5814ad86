#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark the p2pdma paths that I/O pays for, our core against the base
# tree's own implementation, in the same run.  See BENCHMARKS.md.
#
# usage: bench.sh [--smoke]
#
# Builds both kernels (incrementally, under the shared build lock), builds
# the p2pdma_bench module (tools/testing/selftests/p2pdma/bench) against
# each kernel's build tree, then boots bench.topo in several variants,
# base and ours alternately:
#
#   main     2 vCPUs: setup calls, scatterlists, mapping (also through the
#            host bridge, ours only), userspace and fio rows
#   iommu    bench-iommu.topo: the mapping rows under VT-d
#   insn     main's kernel rows under -icount shift=0: instructions per
#            operation, which do not depend on the host's load
#   insn8    8 vCPUs under -icount shift=0: the scatterlist rows across
#            CPUs
#   smp8     the same timed (not by default: 8 vCPU threads on this
#            machine's 2 cores time the host's scheduler, see BENCHMARKS.md)
#
# Every boot also measures the kernel memory of lending a 16 MiB and a 4 GiB
# BAR as p2pmem, at 2 and at 8 possible CPUs.  (A 6.12 x86 guest counts
# QEMU's hotpluggable CPUs as possible only under a hypervisor it
# recognizes, which TCG is not, so possible CPUs here are present ones.)  Prints the tables and, last, "bench: geomean speedup X.XX
# over base (N realistic rows)".  Results: $OUT/bench/results.tsv,
# $OUT/bench/raw.tsv (every boot's figures), $OUT/bench/mem.tsv.
#
# --smoke: one short boot per kernel and variant with tiny samples; checks
# that every row is produced, makes no timing assertions.  For CI.
#
# Environment: BENCH_ROUNDS (5 boots per kernel and timed variant),
# BENCH_INSN_ROUNDS (2), BENCH_VARIANTS (all of the above), BENCH_IMPLS
# ("base ours"), BENCH_BUILD (1; 0 uses the kernels and modules already
# built), GUEST_TIMEOUT (seconds per boot).  Do not run it under the build
# lock yourself: it takes the lock for the builds.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
OUT=$(realpath -m "$OUT")
BENCH=$OUT/bench
LOCK=$OUT/.build.lock
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
IMPLS=${BENCH_IMPLS:-base ours}
VARIANTS=${BENCH_VARIANTS:-main iommu insn insn8}
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	INSN_ROUNDS=1
	MOD_ARGS="rounds=1 sample_us=200 max_iters=32"
	USER_ARGS="-r 1 -t 1"
	FIO_SECONDS=1
else
	ROUNDS=${BENCH_ROUNDS:-5}
	INSN_ROUNDS=${BENCH_INSN_ROUNDS:-2}
	MOD_ARGS="rounds=15 sample_us=5000"
	USER_ARGS="-r 11 -t 100"
	FIO_SECONDS=3
fi
TIMEOUT=${GUEST_TIMEOUT:-400}
export OUT

mkdir -p "$BENCH"

# Kernel, module and a snapshot of both, atomically with respect to other
# builds: the module's vermagic must match the kernel it is booted with.
build_impl() {
	local impl=$1 mod=$BENCH/mod-$1
	rm -rf "$mod"
	mkdir -p "$mod"
	cp "$TOP"/tools/testing/selftests/p2pdma/bench/{Kbuild,p2pdma_bench.c} "$mod/"
	# shellcheck disable=SC2016
	flock "$LOCK" env TOP="$TOP" OUT="$OUT" BENCH="$BENCH" IMPL="$impl" \
		MOD="$mod" BUILD="${BENCH_BUILD:-1}" bash -c '
		set -e
		if [ "$BUILD" = 1 ]; then
			make -s -C "$TOP" kernel IMPL="$IMPL" OUT="$OUT"
		fi
		make -s -C "$OUT/src-$IMPL" O="$OUT/build-$IMPL" \
			CC="ccache gcc" M="$MOD" modules
		cp "$OUT/build-$IMPL/arch/x86/boot/bzImage" "$BENCH/bzImage-$IMPL"
		cp "$OUT/build-$IMPL/System.map" "$BENCH/System.map-$IMPL"
	'
}

for impl in $IMPLS; do
	echo "  BENCH   building $impl"
	build_impl "$impl"
done
# The guests' initramfs carries p2pmem-bench.
make -s -C "$TOP" initramfs OUT="$OUT"

# variant NAME: sets topo, cpus, qemu, metric and writes the variant's
# bench.env (what bench-guest.sh runs).
variant() {
	local groups="" hb=0 user=0 fio=0 suffix="" mod=$MOD_ARGS
	# RDRAND, so that the guest's CRNG is ready at boot as on real
	# machines: without an entropy source every random number takes the
	# CRNG's slow path, thousands of instructions (find_many_*).
	topo=bench cpus=2 qemu="-cpu qemu64,+rdrand" metric=ns
	case $1 in
	main)	groups=setup,alloc,xcpu,map hb=1 user=1 fio=$FIO_SECONDS ;;
	smp8)	groups=xcpu cpus=8 suffix=_8cpu ;;
	iommu)	groups=map topo=bench-iommu hb=1 suffix=_iommu ;;
	insn)	groups=calib,setup,alloc,xcpu,map hb=1 metric=insn
		qemu+=" -icount shift=0,sleep=off" ;;
	insn8)	groups=xcpu cpus=8 suffix=_8cpu metric=insn
		qemu+=" -icount shift=0,sleep=off" ;;
	*)	echo "bench: unknown variant $1" >&2; return 1 ;;
	esac
	# Instruction counts need no repetition within a boot.
	[ "$metric" = insn ] && [ "$SMOKE" = 0 ] && mod="rounds=5 sample_us=2000"
	mkdir -p "$BENCH/env-$1"
	cat > "$BENCH/env-$1/bench.env" <<-EOF
	BENCH_MOD_ARGS="$mod"
	BENCH_USER_ARGS="$USER_ARGS"
	BENCH_GROUPS=$groups
	BENCH_SUFFIX=$suffix
	BENCH_HOSTBRIDGE=$hb
	BENCH_USER=$user
	BENCH_FIO_SECONDS=$fio
	EOF
}

# One boot: "p2pdma-bench: ROW NS [MIN]" lines go to raw.tsv as
# IMPL VARIANT METRIC ROUND ROW NS MIN, "p2pdma-mem:" lines to mem.tsv as
# IMPL VARIANT ID MIB POSSIBLE MEMMAP VMALLOC PERCPU SLAB (KiB).
boot() {
	local impl=$1 var=$2 round=$3 run=$BENCH/runs/$1-$2-$3 rc=0 t0
	variant "$var"
	t0=$(date +%s)
	GUEST_CPUS=$cpus QEMU_EXTRA=$qemu IMPL=$impl "$TOP/harness/run-guest" -q \
		-k "$BENCH/bzImage-$impl" -o "$run" -t "$TIMEOUT" "$topo" \
		"$TOP/harness/tests/bench-guest.sh" \
		"$BENCH/mod-$impl/p2pdma_bench.ko" "$BENCH/env-$var/bench.env" || rc=$?
	tr -d '\r' < "$run/console.log" |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' > "$run/result.txt"
	while read -r _ row ns min extra; do
		if [ -n "$extra" ] || ! [[ $ns =~ ^[0-9]+$ && ${min:=$ns} =~ ^[0-9]+$ ]]; then
			continue
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$var" "$metric" \
			"$round" "$row" "$ns" "$min" >> "$BENCH/raw.tsv"
	done < <(grep '^p2pdma-bench: ' "$run/result.txt")
	sed -n 's/^p2pdma-mem: \([a-zA-Z]*\) \([0-9]*\) \([-0-9]*\) memmap=\([-0-9]*\) vmalloc=\([-0-9]*\) percpu=\([-0-9]*\) slab=\([-0-9]*\)$/\1\t\2\t\3\t\4\t\5\t\6\t\7/p' \
		"$run/result.txt" | sed "s/^/$impl\t$var\t/" >> "$BENCH/mem.tsv"
	if [ "$rc" != 0 ] || grep -q -E '^(not ok |p2pdma-bench: skip )' "$run/result.txt"; then
		echo "  BENCH   $impl $var round $round FAILED (status $rc), log: $run/console.log" >&2
		grep -E '^not ok |skip ' "$run/result.txt" | sed 's/^/          /' >&2 || true
		return 1
	fi
	echo "  BENCH   $impl $var round $round: $(grep -c -E '^p2pdma-bench: [a-z0-9_]+ [0-9]+( [0-9]+)?$' "$run/result.txt") rows in $(($(date +%s) - t0)) s"
}

rm -rf "$BENCH/runs"
: > "$BENCH/raw.tsv"
: > "$BENCH/mem.tsv"
failed=0
for var in $VARIANTS; do
	n=$ROUNDS
	case $var in
	insn*)	n=$INSN_ROUNDS ;;
	esac
	for ((round = 1; round <= n; round++)); do
		for impl in $IMPLS; do
			boot "$impl" "$var" "$round" || failed=1
		done
	done
done

python3 "$TOP/harness/bench-report.py" "$BENCH" "$SMOKE" "$IMPLS" || failed=1
exit $failed
