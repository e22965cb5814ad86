#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark the p2pdma fast paths of our core against the base tree's own
# implementation, in the same run.
#
# usage: bench.sh [--smoke]
#
# Builds both kernels (incrementally, under the shared build lock), builds the
# p2pdma_bench module (tools/testing/selftests/p2pdma/bench) against each
# kernel's build tree, then boots one-switch alternately base, ours, base,
# ours ... BENCH_ROUNDS times each.  Every boot loads the module right after
# the NVMe controllers probed and runs p2pmem-bench (the userspace rows).
# The figure of a row is the median over the boots of each boot's median.
#
# Prints a table (row, ns/op base, ns/op ours, base/ours) and as its last line
# "bench: geomean speedup X.XX over base".  Results: $OUT/bench/results.tsv
# (the table, plus the fastest sample of each side), $OUT/bench/raw.tsv
# (every boot's median and fastest sample per row).
#
# --smoke: one short boot per kernel with tiny samples; checks that every row
# is produced, makes no timing assertions.  For CI.
#
# Environment: BENCH_ROUNDS (7), BENCH_IMPLS ("base ours"), BENCH_BUILD (1;
# 0 uses the kernels and modules already built), BENCH_MOD_ARGS and
# BENCH_USER_ARGS (sample settings of the module and of p2pmem-bench),
# GUEST_TIMEOUT (seconds per boot).  Do not run it under the build lock
# yourself: it takes the lock for the builds.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
OUT=$(realpath -m "$OUT")
BENCH=$OUT/bench
LOCK=$OUT/.build.lock
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
IMPLS=${BENCH_IMPLS:-base ours}
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	MOD_ARGS=${BENCH_MOD_ARGS:-rounds=1 sample_us=200 max_iters=32}
	USER_ARGS=${BENCH_USER_ARGS:--r 1 -t 1}
else
	ROUNDS=${BENCH_ROUNDS:-7}
	MOD_ARGS=${BENCH_MOD_ARGS:-rounds=21 sample_us=5000}
	USER_ARGS=${BENCH_USER_ARGS:--r 15 -t 100}
fi
TIMEOUT=${GUEST_TIMEOUT:-240}
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

printf 'BENCH_MOD_ARGS="%s"\nBENCH_USER_ARGS="%s"\n' "$MOD_ARGS" "$USER_ARGS" \
	> "$BENCH/bench.env"

# One boot: its "p2pdma-bench: ROW NS [MIN]" lines go to raw.tsv as
# IMPL ROUND ROW NS MIN.
boot() {
	local impl=$1 round=$2 run=$BENCH/runs/$1-$2 rc=0 t0
	t0=$(date +%s)
	IMPL=$impl "$TOP/harness/run-guest" -q -k "$BENCH/bzImage-$impl" -o "$run" \
		-t "$TIMEOUT" one-switch "$TOP/harness/tests/bench-guest.sh" \
		"$BENCH/mod-$impl/p2pdma_bench.ko" "$BENCH/bench.env" || rc=$?
	tr -d '\r' < "$run/console.log" |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' > "$run/result.txt"
	while read -r _ row ns min extra; do
		if [ -n "$extra" ] || ! [[ $ns =~ ^[0-9]+$ && ${min:=$ns} =~ ^[0-9]+$ ]]; then
			continue
		fi
		printf '%s\t%s\t%s\t%s\t%s\n' "$impl" "$round" "$row" "$ns" "$min" \
			>> "$BENCH/raw.tsv"
	done < <(grep '^p2pdma-bench: ' "$run/result.txt")
	if [ "$rc" != 0 ] || grep -q -E '^(not ok |p2pdma-bench: skip )' "$run/result.txt"; then
		echo "  BENCH   $impl round $round FAILED (status $rc), log: $run/console.log" >&2
		grep -E '^not ok |skip ' "$run/result.txt" | sed 's/^/          /' >&2 || true
		return 1
	fi
	echo "  BENCH   $impl round $round: $(grep -c -E '^p2pdma-bench: [a-z0-9_]+ [0-9]+( [0-9]+)?$' "$run/result.txt") rows in $(($(date +%s) - t0)) s"
}

# The data path, with our kernel only (the base tree has no BAR donor): one
# boot of donor.topo copying through a RAM-backed BAR, an NVMe CMB and host
# memory, alternating.  Its rows go to datapath.tsv as ROW NS.
datapath() {
	local run=$BENCH/runs/datapath rc=0
	[[ " $IMPLS " == *" ours "* ]] || return 0
	if [ "$SMOKE" = 1 ]; then
		printf 'DP_ROUNDS=1\nDP_MIB=4\n' > "$BENCH/datapath.env"
	else
		printf 'DP_ROUNDS=%s\nDP_MIB=32\n' "${BENCH_DP_ROUNDS:-7}" \
			> "$BENCH/datapath.env"
	fi
	IMPL=ours "$TOP/harness/run-guest" -q -k "$BENCH/bzImage-ours" \
		-m "$OUT/modules-ours" -o "$run" -t "$TIMEOUT" donor \
		"$TOP/harness/tests/bench-datapath.sh" "$BENCH/datapath.env" || rc=$?
	tr -d '\r' < "$run/console.log" |
		sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' > "$run/result.txt"
	sed -n 's/^p2pdma-datapath: \([a-z0-9_]*\) \([0-9]*\)$/\1\t\2/p' \
		"$run/result.txt" > "$BENCH/datapath.tsv"
	if [ "$rc" != 0 ] || grep -q '^not ok ' "$run/result.txt" ||
	   [ ! -s "$BENCH/datapath.tsv" ]; then
		echo "  BENCH   data path FAILED (status $rc), log: $run/console.log" >&2
		return 1
	fi
	echo "  BENCH   data path: $(wc -l < "$BENCH/datapath.tsv") copies"
}

rm -rf "$BENCH/runs"
: > "$BENCH/raw.tsv"
: > "$BENCH/datapath.tsv"
failed=0
for ((round = 1; round <= ROUNDS; round++)); do
	for impl in $IMPLS; do
		boot "$impl" "$round" || failed=1
	done
done
datapath || failed=1

# Median per implementation and row; ratio base/ours; geometric mean.
python3 - "$BENCH/raw.tsv" "$BENCH/results.tsv" "$SMOKE" "$IMPLS" "$BENCH/datapath.tsv" <<'EOF' || failed=1
import math
import statistics
import sys

raw, results, smoke, impls = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4].split()
# Rows whose work is the same code in both kernels: they must come out
# equal within noise, not faster.  They still count in the geomean.
SANITY = {"user_odirect_read_1m"}
meds, mins, rows = {}, {}, []
for line in open(raw):
    impl, rnd, row, ns, fastest = line.split()
    if row not in rows:
        rows.append(row)
    meds.setdefault((impl, row), []).append(int(ns))
    mins.setdefault((impl, row), []).append(int(fastest))


def med(impl, row):
    v = meds.get((impl, row))
    return statistics.median(v) if v else None


def fastest(impl, row):
    v = mins.get((impl, row))
    return min(v) if v else None


def equal_within_noise(r):
    """Each kernel's median lies within the other's range of boot medians."""
    b, o = meds.get(("base", r)), meds.get(("ours", r))
    if not b or not o:
        return False
    return min(o) <= med("base", r) <= max(o) and min(b) <= med("ours", r) <= max(b)


def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v)) if v else 0


def fmt(x):
    return f"{x:.0f}" if x is not None else "-"


missing = [(i, r) for i in impls for r in rows if (i, r) not in meds]
w = max([len(r) for r in rows] + [3])
ratios, min_ratios, speed = [], [], []
with open(results, "w") as f:
    f.write("row\tbase_ns\tours_ns\tbase_over_ours\tbase_min_ns\t"
            "ours_min_ns\tbase_over_ours_min\tbase_boots\tours_boots\n")
    print(f"{'row':<{w}}  {'base ns/op':>12}  {'ours ns/op':>12}  {'base/ours':>9}")
    for r in rows:
        b, o = med("base", r), med("ours", r)
        bm, om = fastest("base", r), fastest("ours", r)
        ratio = b / o if b and o else None
        min_ratio = bm / om if bm and om else None
        if ratio:
            ratios.append(ratio)
            if r not in SANITY:
                speed.append(ratio)
        if min_ratio:
            min_ratios.append(min_ratio)
        print(f"{r:<{w}}  {fmt(b):>12}  {fmt(o):>12}  "
              f"{(f'{ratio:.2f}x' if ratio else '-'):>9}"
              f"{'  (sanity row)' if r in SANITY else ''}")
        f.write("\t".join([r, fmt(b), fmt(o), f"{ratio:.3f}" if ratio else "-",
                           fmt(bm), fmt(om),
                           f"{min_ratio:.3f}" if min_ratio else "-",
                           ",".join(map(str, meds.get(("base", r), []))),
                           ",".join(map(str, meds.get(("ours", r), [])))]) + "\n")
# The data path: median time per copy of each kind, and P2P against host
# memory, which is the physical limit of a copy through a peer's BAR.
dp = {}
for line in open(sys.argv[5]):
    row, ns = line.split()
    dp.setdefault(row, []).append(int(ns))
if dp:
    host = [r for r in dp if r.endswith("_host_memory")]
    hmed = statistics.median(dp[host[0]]) if host else None
    for r in sorted(dp):
        m = statistics.median(dp[r])
        rel = f"  {hmed / m:.2f}x host memory's throughput" if hmed and r not in host else ""
        print(f"datapath {r:<{w}}  {m / 1e6:10.1f} ms  ({len(dp[r])} copies){rel}")
for i, r in missing:
    print(f"bench: no figure for {r} from {i}", file=sys.stderr)
if not rows:
    print("bench: no results", file=sys.stderr)
if smoke:
    print(f"bench: smoke run of {' '.join(impls)}: {len(rows)} rows, "
          f"{'all present' if not missing and rows else 'SOME MISSING'} "
          "(one short boot each: not a measurement)")
elif ratios:
    print(f"bench: {len(speed)} speed rows, {sum(x >= 1 for x in speed)} at >= 1.00x; "
          f"fastest samples: geomean {geomean(min_ratios):.2f}")
    for r in rows:
        if r in SANITY and med("base", r) and med("ours", r):
            print(f"bench: sanity row {r}: {med('base', r) / med('ours', r):.2f}x, "
                  + ("equal within noise" if equal_within_noise(r) else "NOT equal within noise")
                  + " (each kernel's median within the other's per-boot range)")
    print(f"bench: geomean speedup {geomean(ratios):.2f} over base")
sys.exit(1 if missing or not rows else 0)
EOF
exit $failed
