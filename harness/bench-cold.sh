#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What the first pci_p2pdma_distance_many() call of a boot costs to
# translate, per implementation.
#
# usage: bench-cold.sh
#
# Under TCG a cold call is dominated by QEMU translating the guest code it
# runs for the first time, so the "distance_*_first" rows of make bench
# follow the number of translated blocks and instructions on that path.
# This boots the benchmark guest of each kernel once more with QEMU's
# in_asm log and counts the blocks translated from the entry of
# pci_p2pdma_distance_many() until execution returns to the benchmark
# module.  Needs a finished "make bench" (its kernels and modules).
#
# Prints "cold: IMPL: N translated blocks, M instructions" per kernel.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
OUT=$(realpath -m "$OUT")
BENCH=$OUT/bench
IMPLS=${BENCH_IMPLS:-base ours}

for impl in $IMPLS; do
	if ! [ -f "$BENCH/bzImage-$impl" ] || ! [ -f "$BENCH/System.map-$impl" ] ||
	   ! [ -f "$BENCH/mod-$impl/p2pdma_bench.ko" ]; then
		echo "bench-cold: no benchmark build of $impl (make bench)" >&2
		exit 2
	fi
done

for impl in $IMPLS; do
	run=$BENCH/cold-$impl
	# One short sample per row: the first call is all we need.
	mkdir -p "$BENCH/cold-env"
	printf 'BENCH_MOD_ARGS="rounds=1 sample_us=200 max_iters=32"\nBENCH_USER_ARGS="-r 1 -t 1"\n' \
		> "$BENCH/cold-env/bench.env"
	QEMU_EXTRA="-d in_asm -D $run.tb" IMPL=$impl "$TOP/harness/run-guest" -q \
		-k "$BENCH/bzImage-$impl" -o "$run" -t 300 one-switch \
		"$TOP/harness/tests/bench-guest.sh" \
		"$BENCH/mod-$impl/p2pdma_bench.ko" "$BENCH/cold-env/bench.env" >/dev/null ||
		{ echo "bench-cold: $impl guest failed, log: $run/console.log" >&2; exit 1; }
	python3 - "$impl" "$BENCH/System.map-$impl" "$run.tb" <<'EOF'
import re
import sys

impl, sysmap, log = sys.argv[1:4]
# Modules live above the kernel image; returning there ends the call.
MODULES = 0xffffffffa0000000
entry = None
for line in open(sysmap):
    addr, _, name = line.split()[:3]
    if name == "pci_p2pdma_distance_many":
        entry = int(addr, 16)
blocks, start = [], None
for line in open(log, errors="replace"):
    if line.startswith("IN:"):
        start = None
        continue
    m = re.match(r"0x([0-9a-f]+):", line)
    if not m:
        continue
    if start is None:
        start = int(m.group(1), 16)
        blocks.append([start, 0])
    blocks[-1][1] += 1
first = next((i for i, b in enumerate(blocks) if b[0] == entry), None)
if entry is None or first is None:
    sys.exit(f"bench-cold: {impl}: pci_p2pdma_distance_many never translated")
n = insns = 0
for addr, count in blocks[first:]:
    if addr >= MODULES:
        break
    n += 1
    insns += count
print(f"cold: {impl}: {n} translated blocks, {insns} instructions")
EOF
	rm -f "$run.tb"
done
rm -rf "$BENCH/cold-env"
