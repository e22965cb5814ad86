#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The tables of make bench (harness/bench.sh), from its raw results.

usage: bench-report.py BENCH_DIR SMOKE(0|1) "IMPLS"

raw.tsv: IMPL VARIANT METRIC ROUND ROW VALUE FASTEST (METRIC ns or insn)
mem.tsv: IMPL VARIANT ID MIB POSSIBLE MEMMAP VMALLOC PERCPU SLAB (KiB)

A row's figure is the median over the boots of each boot's median.  Rows
are realistic (the geomean), control (host memory: the limit a P2P row is
measured against; the same code in both kernels) or ours-only (the base
tree cannot run them on this machine).
"""
import math
import re
import statistics
import sys

bench, smoke, impls = sys.argv[1], sys.argv[2] == "1", sys.argv[3].split()


def is_control(row):
    return re.search(r"_host(_|$)", row) is not None or row.startswith("calib_")


def is_ours_only(row):
    """The host-bridge rows and their host-memory limits: the base tree has
    no p2pdma.host_bridges, and q35's host bridge is not on its list."""
    return "_p2p_hostbridge" in row or "_host_far_client" in row


# P2P row -> the host-memory row it is measured against.
def host_of(row):
    for p2p, host in (("map_32sg_p2p_switch", "map_32sg_host_switch_client"),
                      ("map_32sg_p2p_hostbridge", "map_32sg_host_far_client"),
                      ("map_1sg_128k_p2p_switch", "map_1sg_128k_host_switch_client"),
                      ("map_1sg_128k_p2p_hostbridge", "map_1sg_128k_host_far_client"),
                      ("user_odirect_read_1m_p2p", "user_odirect_read_1m_host"),
                      ("fio_randread_128k_qd32_p2p", "fio_randread_128k_qd32_host")):
        if row.startswith(p2p):
            return host + row[len(p2p):]
    return None


vals, fast, rows = {}, {}, {"ns": [], "insn": []}
for line in open(f"{bench}/raw.tsv"):
    impl, var, metric, rnd, row, v, f = line.split()
    if row not in rows[metric]:
        rows[metric].append(row)
    vals.setdefault((metric, impl, row), []).append(int(v))
    fast.setdefault((metric, impl, row), []).append(int(f))


def med(metric, impl, row):
    v = vals.get((metric, impl, row))
    return statistics.median(v) if v else None


def geomean(v):
    return math.exp(sum(map(math.log, v)) / len(v)) if v else 0


def fmt(x):
    return f"{x:.0f}" if x is not None else "-"


w = max([len(r) for m in rows for r in rows[m]] + [24])
ratios = {"ns": [], "insn": []}
missing = []
with open(f"{bench}/results.tsv", "w") as out:
    out.write("metric\trow\tclass\tbase\tours\tbase_over_ours\tbase_boots\tours_boots\n")
    for metric, unit in (("ns", "ns/op"), ("insn", "instructions/op")):
        if not rows[metric]:
            continue
        print(f"{'row (' + unit + ')':<{w}}  {'base':>12}  {'ours':>12}  {'base/ours':>9}  class")
        for r in rows[metric]:
            cls = ("ours-only" if is_ours_only(r) else "control" if is_control(r)
                   else "realistic")
            b, o = med(metric, "base", r), med(metric, "ours", r)
            for i in impls:
                if med(metric, i, r) is None and not (i == "base" and cls == "ours-only"):
                    missing.append((metric, i, r))
            ratio = b / o if b and o else None
            if ratio and cls == "realistic":
                ratios[metric].append((r, ratio))
            print(f"{r:<{w}}  {fmt(b):>12}  {fmt(o):>12}  "
                  f"{(f'{ratio:.2f}x' if ratio else '-'):>9}  {cls}")
            out.write("\t".join([metric, r, cls, fmt(b), fmt(o),
                                 f"{ratio:.3f}" if ratio else "-",
                                 ",".join(map(str, vals.get((metric, "base", r), []))),
                                 ",".join(map(str, vals.get((metric, "ours", r), [])))]) + "\n")
        print()

# P2P against host memory, per kernel: the physical limit of a P2P path.
with open(f"{bench}/p2p-host.tsv", "w") as out:
    for metric in ("ns", "insn"):
        pairs = [(r, host_of(r)) for r in rows[metric] if host_of(r)]
        if not pairs:
            continue
        print(f"{'P2P / host memory (' + ('time' if metric == 'ns' else 'instructions') + ')':<{w}}"
              f"  {'base':>12}  {'ours':>12}")
        for r, h in pairs:
            cells = []
            for i in ("base", "ours"):
                p, q = med(metric, i, r), med(metric, i, h)
                cells.append(f"{p / q:.2f}" if p and q else "-")
            print(f"{r:<{w}}  {cells[0]:>12}  {cells[1]:>12}")
            out.write(f"{metric}\t{r}\t{h}\t{cells[0]}\t{cells[1]}\n")
        print()

# Memory: a 16 MiB and a 4 GiB BAR lent as p2pmem, per kernel and number of
# possible CPUs; per MiB of BAR from the difference, per provider the rest.
mem = {}
for line in open(f"{bench}/mem.tsv"):
    impl, var, ident, mib, possible, *kib = line.split()
    total = sum(map(int, kib))
    mem.setdefault((impl, possible, int(mib)), []).append((list(map(int, kib)), total))
if mem:
    print("memory per provider (KiB: memmap + vmalloc + percpu + slab = total)")
    with open(f"{bench}/mem-summary.tsv", "w") as out:
        out.write("impl\tpossible\tbar_mib\tmemmap\tvmalloc\tpercpu\tslab\ttotal\n")
        for (impl, possible, mib) in sorted(mem):
            samples = mem[(impl, possible, mib)]
            parts = [statistics.median(s[0][k] for s in samples) for k in range(4)]
            total = statistics.median(s[1] for s in samples)
            print(f"  {impl:<5} cpus {possible:<7} BAR {mib:>5} MiB: "
                  f"{parts[0]:.0f} + {parts[1]:.0f} + {parts[2]:.0f} + {parts[3]:.0f} = {total:.0f}"
                  f"  ({len(samples)} boots)")
            out.write("\t".join(map(str, [impl, possible, mib] + [f"{p:.0f}" for p in parts]
                                    + [f"{total:.0f}"])) + "\n")
        for impl in impls:
            for possible in sorted({k[1] for k in mem if k[0] == impl}):
                s = mem.get((impl, possible, 16))
                l = mem.get((impl, possible, 4096))
                if not s or not l:
                    continue
                ts = statistics.median(x[1] for x in s)
                tl = statistics.median(x[1] for x in l)
                per_mib = (tl - ts) / (4096 - 16)
                print(f"  {impl:<5} cpus {possible:<7} {per_mib * 1024:.0f} bytes per MiB of BAR, "
                      f"{ts - 16 * per_mib:.0f} KiB per provider")
    print()

for m, i, r in missing:
    print(f"bench: no {m} figure for {r} from {i}", file=sys.stderr)
if not rows["ns"] and not rows["insn"]:
    print("bench: no results", file=sys.stderr)
if smoke:
    n = len(rows["ns"]) + len(rows["insn"])
    print(f"bench: smoke run of {' '.join(impls)}: {n} rows, "
          f"{'all present' if not missing and n else 'SOME MISSING'} "
          "(one short boot each: not a measurement)")
else:
    for m, what in (("insn", "instructions"), ("ns", "time")):
        v = [x for _, x in ratios[m]]
        if not v:
            continue
        low = [f"{r} {x:.2f}x" for r, x in ratios[m] if x < 1.0]
        print(f"bench: {what}: {len(v)} realistic rows, {len(v) - len(low)} at >= 1.00x"
              + (f"; below: {', '.join(low)}" if low else ""))
    if ratios["insn"]:
        print(f"bench: geomean instructions ratio {geomean([x for _, x in ratios['insn']]):.2f} "
              f"over base ({len(ratios['insn'])} realistic rows)")
    if ratios["ns"]:
        print(f"bench: geomean speedup {geomean([x for _, x in ratios['ns']]):.2f} "
              f"over base ({len(ratios['ns'])} realistic rows)")
sys.exit(1 if missing or not (rows["ns"] or rows["insn"]) else 0)
