#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The data path of make bench (see harness/bench.sh), on donor.topo: the
# same O_DIRECT copy swA -> swB through ivA's BAR (RAM behind it, lent by
# p2pmem_pci), through swA's CMB (emulated as MMIO), and through host
# memory, alternating, DP_ROUNDS times; and the same copy made by the
# kernel (copy_file_range(), which picks a CMB of the pair).  Prints "p2pdma-datapath: ROW NS"
# per copy; checked as KTAP, no timing assertion.
. /lib/p2pdma-lib.sh
. /test/topology.env
DP_ROUNDS=5
DP_MIB=32
[ -f /test/datapath.env ] && . /test/datapath.env
ktap_plan 3
wait_nvme $NVME_SERIALS || { ktap_fail "NVMe controllers probed"; exit 1; }
ia=$(ivshmem_bdf ivA)
insmod /lib/modules/p2pmem-pci.ko &&
	echo p2pmem_pci > "/sys/bus/pci/devices/$ia/driver_override" &&
	echo "$ia" > /sys/bus/pci/drivers/p2pmem_pci/bind
ktap_check "ivA lent as p2pmem" [ -e "/sys/bus/pci/devices/$ia/p2pmem" ]

# one ROW ARGS...: one copy, its time as a row.
one() {
	local row=$1 out s
	shift
	out=$(p2pmem-copy --quiet --src serial:swA --dst serial:swB \
		--offset 0 --length ${DP_MIB}M --chunk 1M "$@") || return 1
	s=$(echo "$out" | sed -n 's/^copied [0-9]* bytes in \([0-9.]*\) s .*/\1/p')
	[ -n "$s" ] || return 1
	echo "p2pdma-datapath: $row $(awk -v s="$s" 'BEGIN { printf "%d", s * 1e9 }')"
}

# kcopy: the copy by copy_file_range(), timed from /proc/uptime.
kcopy() {
	local t0 t1 r
	t0=$(cut -d' ' -f1 /proc/uptime)
	r=$(p2pmem-copy-range "$(nvme_ns swA)" 0 "$(nvme_ns swB)" 0 \
		$((DP_MIB * 1048576)) | head -n 1)
	t1=$(cut -d' ' -f1 /proc/uptime)
	[ "$r" = "copied $((DP_MIB * 1048576))" ] || return 1
	echo "p2pdma-datapath: copy_${DP_MIB}m_kernel_copy_range $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1e9 }')"
}

bad=0
i=0
while [ $i -lt "$DP_ROUNDS" ]; do
	i=$((i + 1))
	one "copy_${DP_MIB}m_ivshmem_bar" --provider "$ia" || bad=$((bad + 1))
	one "copy_${DP_MIB}m_host_memory" --host-buffer || bad=$((bad + 1))
	one "copy_${DP_MIB}m_nvme_cmb" --provider "$(nvme_bdf swA)" || bad=$((bad + 1))
	kcopy || bad=$((bad + 1))
done
ktap_check "$((DP_ROUNDS * 4)) timed copies" [ $bad = 0 ]
ktap_check "kernel log clean" dmesg_clean
ktap_exit
