#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# copy_file_range() between the namespaces of nA and nB (no CMBs) through
# ivA's BAR, lent by p2pmem_pci (donor-copy.topo): the copy takes the
# donor, the data is verified in the guest and in the disk images, and
# unbinding the donor while copies run ends its part cleanly: the unbind
# completes, no copy fails, the copies go on through host memory.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
STATS=/sys/kernel/debug/block/copy_file_range
mod=/lib/modules/p2pmem-pci.ko
if [ ! -r $STATS ] || [ ! -f $mod ]; then
	ktap_plan 1
	ktap_skip "copy-donor" "no block device copy or donor in this kernel ($P2PDMA_IMPL)"
	exit 0
fi
ktap_plan 9
MIB=1048576
A=$(nvme_ns nA); B=$(nvme_ns nB)
ia=$(ivshmem_bdf ivA)

stat() {
	sed -n "s/^$1 //p" $STATS
}

insmod $mod
echo p2pmem_pci > "/sys/bus/pci/devices/$ia/driver_override"
echo "$ia" > /sys/bus/pci/drivers/p2pmem_pci/bind
ktap_check "ivA lent as p2pmem" [ "$(p2p_available "$ia")" = $((64 * MIB)) ]

p0=$(stat p2p_copies); pb0=$(stat p2p_bytes)
out=$(xfs_io -c "copy_range -s $((4 * MIB)) -d $((4 * MIB)) -l $((16 * MIB)) $A" "$B" 2>&1)
[ -z "$out" ] || echo "$out" | sed 's/^/# /'
ktap_check "xfs_io copy_range nA -> nB, 16 MiB, through ivA's BAR" \
	[ -z "$out" -a "$(stat p2p_copies)" = $((p0 + 1)) -a \
	  "$(stat p2p_bytes)" = $((pb0 + 16 * MIB)) ]
ktap_check "... the data" \
	[ "$(ns_sum "$A" 4 16)" = "$(ns_sum "$B" 4 16)" ]
i=4
while [ $i -lt 20 ]; do
	echo "# host-verify: nB nA $i ok"
	i=$((i + 1))
done
ktap_check "... and ivA's memory is all back" wait_available "$ia" $((64 * MIB))

# Copies of MiB 24..56 in a loop while the donor is unbound.
cat > /tmp/loop.sh <<-'EOS'
	n=0 bad=0
	while [ $n -lt 40 ]; do
		r=$(p2pmem-copy-range "$1" $((24 * 1048576)) "$2" $((24 * 1048576)) \
			$((32 * 1048576)) | head -n 1)
		case $r in
		"copied "[1-9]*) ;;
		*) bad=$((bad + 1)); echo "# $r" ;;
		esac
		n=$((n + 1))
	done
	exit $bad
EOS
p0=$(stat p2p_copies); h0=$(stat host_copies)
sh /tmp/loop.sh "$A" "$B" &
loop=$!
sleep 0.3
t0=$(uptime_s)
echo "$ia" > /sys/bus/pci/drivers/p2pmem_pci/unbind
ktap_diag "unbind took $(elapsed "$t0") s"
ktap_check "unbinding the donor during copies completes" \
	[ ! -e "/sys/bus/pci/devices/$ia/p2pmem" ]
wait_pid $loop 120
ktap_check "no copy failed (each copied something)" [ $? = 0 ]
ktap_diag "copies: $(($(stat p2p_copies) - p0)) through ivA, $(($(stat host_copies) - h0)) through host memory"
ktap_check "copies went through ivA, then through host memory" \
	[ "$(stat p2p_copies)" -gt "$p0" -a "$(stat host_copies)" -gt "$h0" ]
r=$(p2pmem-copy-range "$A" $((24 * MIB)) "$B" $((24 * MIB)) $((32 * MIB)) | head -n 1)
ktap_check "a last whole copy, and nB has nA's data" \
	[ "$r" = "copied $((32 * MIB))" -a \
	  "$(ns_sum "$A" 24 32)" = "$(ns_sum "$B" 24 32)" ]
rmmod p2pmem_pci
ktap_check "kernel log clean" dmesg_clean
ktap_exit
