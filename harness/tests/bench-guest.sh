#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# One benchmark boot of bench.topo (see harness/bench.sh), the same in both
# kernels: p2pdma_bench.ko lends ivS (16 MiB) and ivL (4 GiB) as p2pmem,
# measuring the kernel memory each takes; then the groups of kernel rows in
# BENCH_GROUPS; with the host bridge allowed (our kernel's
# p2pdma.host_bridges) the host-bridge mapping rows; then the userspace rows
# (p2pmem-bench) and fio, each into ivL's p2pmem and into host memory.
# Results are "p2pdma-bench: ROW NS [MIN]" and "p2pdma-mem: ..." lines,
# checked as KTAP so a broken benchmark shows up in CI without any timing
# assertion.
. /lib/p2pdma-lib.sh
. /test/topology.env
BENCH_MOD_ARGS=
BENCH_USER_ARGS=
BENCH_GROUPS=
BENCH_SUFFIX=
BENCH_HOSTBRIDGE=0
BENCH_USER=0
BENCH_FIO_SECONDS=0
. /test/bench.env
ktap_plan 8
wait_nvme $NVME_SERIALS || { ktap_fail "NVMe controllers probed"; exit 1; }
ktap_ok "NVMe controllers probed"
swa=$(nvme_bdf swA)
swb=$(nvme_bdf swB)
rpc=$(nvme_bdf rpC)
ivl=$(ivshmem_bdf ivL)
ivs=$(ivshmem_bdf ivS)
P=/sys/module/p2pdma_bench/parameters

# shellcheck disable=SC2086
ktap_check "p2pdma_bench loaded" insmod /test/p2pdma_bench.ko $BENCH_MOD_ARGS \
	provider="$swa" large="$ivl" near="$swb" far="$rpc" suffix="$BENCH_SUFFIX"

# The kernel memory a provider costs: what binding the donor adds to the
# memmap (struct pages), vmalloc, per-CPU and unreclaimable slab memory,
# in KiB, per-CPU vmstat deltas folded in first.
snap() {
	echo 1 > /proc/sys/vm/stat_refresh
	awk '/^nr_memmap_pages / { m = $2 * 4 }
	     END { printf "%d ", m }' /proc/vmstat
	awk '/^VmallocUsed:/ { v = $2 } /^Percpu:/ { p = $2 }
	     /^SUnreclaim:/ { s = $2 } END { print v, p, s }' /proc/meminfo
}
lend() {
	local id=$1 bdf=$2 mib=$3 b a
	b=$(snap)
	echo p2pdma_bench_donor > "/sys/bus/pci/devices/$bdf/driver_override" &&
		echo "$bdf" > /sys/bus/pci/drivers/p2pdma_bench_donor/bind ||
		return 1
	a=$(snap)
	[ -e "/sys/bus/pci/devices/$bdf/p2pmem/available" ] || return 1
	echo "$b $a" | awk -v id="$id" -v mib="$mib" -v cpus="$(cat /sys/devices/system/cpu/possible)" '{
		printf "p2pdma-mem: %s %d %s memmap=%d vmalloc=%d percpu=%d slab=%d\n",
			id, mib, cpus, $5 - $1, $6 - $2, $7 - $3, $8 - $4 }'
}
mark=$(dmesg_mark)
# Let the module's freed init sections and anything else insmod started
# settle before the first snapshot.
sleep 2
ktap_check "ivS and ivL lent as p2pmem" eval 'lend ivS "$ivs" 16 && lend ivL "$ivl" 4096'

if [ -n "$BENCH_GROUPS" ]; then
	ktap_check "kernel rows $BENCH_GROUPS" eval 'echo "$BENCH_GROUPS" > $P/run'
else
	ktap_skip "kernel rows" "memory only"
fi

# The host bridge rows need a host bridge allowed to route P2P: our
# kernel's parameter says so of q35's; the base tree has none.
HB=/sys/module/p2pdma/parameters/host_bridges
if [ "$BENCH_HOSTBRIDGE" = 1 ] && [ -w $HB ]; then
	hb=/sys/bus/pci/devices/0000:00:00.0
	ktap_check "host-bridge mapping rows" eval \
		'printf "%04x:%04x\n" "$(cat $hb/vendor)" "$(cat $hb/device)" > $HB &&
		 echo hostbridge > $P/run; r=$?; echo > $HB; [ $r = 0 ]'
else
	ktap_skip "host-bridge mapping rows" "no p2pdma.host_bridges here"
fi
dmesg_since "$mark" | sed -n 's/^\[[ 0-9.]*\] //; /^p2pdma-bench: /p' |
	tee /tmp/kbench.out
grep '^p2pdma-bench: skip ' /tmp/kbench.out | sed 's/^/# /'

if [ "$BENCH_USER" = 1 ]; then
	# shellcheck disable=SC2086
	ktap_check "p2pmem-bench userspace rows" \
		p2pmem-bench $BENCH_USER_ARGS "$ivl" "serial:swB"
else
	ktap_skip "p2pmem-bench userspace rows" "not in this variant"
fi

# fio_row ROW MEM: random 128 KiB O_DIRECT reads at queue depth 32 from
# swB with fio's buffers in MEM; the row is nanoseconds per I/O.
fio_row() {
	fio --name="$1" --filename="$(nvme_ns swB)" --ioengine=libaio \
		--direct=1 --rw=randread --bs=128k --iodepth=32 \
		--time_based --runtime="$BENCH_FIO_SECONDS" --mem="$2" \
		--output-format=terse --terse-version=3 > /tmp/fio.out 2>&1 ||
		{ sed 's/^/# /' /tmp/fio.out; return 1; }
	awk -F';' -v row="$1" '$8 > 0 {
		printf "p2pdma-bench: %s %d\n", row, 1e9 / $8; ok = 1 }
		END { exit !ok }' /tmp/fio.out
}
if [ "$BENCH_FIO_SECONDS" -gt 0 ]; then
	ktap_check "fio rows" eval 'fio_row fio_randread_128k_qd32_p2p \
		"mmapshared:$(p2pmem "$ivl")/allocate" &&
		fio_row fio_randread_128k_qd32_host malloc'
else
	ktap_skip "fio rows" "not in this variant"
fi
ktap_check "kernel log clean" dmesg_clean
ktap_exit
