#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# nvmet, the orchestrator: a subsystem whose namespace is swB's namespace 1,
# its configfs p2pmem attribute set to a near provider, a far provider, auto,
# off, a device without p2pmem and malformed strings; then hosts connected
# through a loop port and through an RDMA port over soft-RoCE do verified I/O
# while the attribute is set.
#
# nvmet's p2pmem data path cannot run here: nvmet only takes request buffers
# from p2pmem when the transport's device is a PCI device that can do P2P
# DMA (nvme-rdma on a real RNIC); the loop transport has no such device and
# soft-RoCE uses virtual DMA.  So what is asserted of the I/O is the
# fallback: the provider's available never moves while it runs, and nvmet
# never logs "using p2pmem".
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ktap_plan 35
base=$([ "$P2PDMA_IMPL" = base ] && echo 1 || echo 0)
near=$(nvme_bdf swA)
far=$(nvme_bdf rpC)
ns_dev=$(nvme_ns swB)
nqn=p2pdma.test
S=/sys/kernel/config/nvmet/subsystems/$nqn
NS=$S/namespaces/1

mkdir $S && echo 1 > $S/attr_allow_any_host && echo p2ptarget > $S/attr_serial
mkdir $NS && echo -n "$ns_dev" > $NS/device_path

attr() { cat $NS/p2pmem; }
# set_p2pmem VALUE: write the attribute; the status is the write's.
set_p2pmem() { printf '%s' "$1" > $NS/p2pmem 2>/tmp/err; }
enable() { echo "$1" > $NS/enable 2>/tmp/err; }

ktap_check "p2pmem defaults to 0" [ "$(attr)" = 0 ]
set_p2pmem "$near"
ktap_check "p2pmem accepts a near provider ($near) and shows its name" [ "$(attr)" = "$near" ]
ktap_check "namespace enables with the near provider" enable 1
ktap_check "p2pmem cannot change while the namespace is enabled" eval '! set_p2pmem 0'
enable 0
set_p2pmem "$far"
ktap_check "p2pmem accepts a far provider ($far)" [ "$(attr)" = "$far" ]
ktap_check "namespace refuses to enable with a far provider" eval '! enable 1'
ktap_check "the namespace stays disabled" [ "$(cat $NS/enable)" = 0 ]
set_p2pmem 1
ktap_check "p2pmem 1 (auto) shows 1" [ "$(attr)" = 1 ]
ktap_check "namespace enables with auto: a provider near $ns_dev exists" enable 1
enable 0
set_p2pmem 0
ktap_check "p2pmem 0 shows 0" [ "$(attr)" = 0 ]
set_p2pmem "$near"
for bad in 0000:00:00.0 0000:00:01.0; do
	if set_p2pmem "$bad"; then
		ktap_fail "a device without p2pmem ($bad) is refused"
	else
		ktap_check "a device without p2pmem ($bad) is refused, attribute unchanged" [ "$(attr)" = "$near" ]
	fi
done
# Upstream takes anything starting with y/n/o/0/1 as a boolean; we do not.
nl='
'
for bad in no:such:dev yes-please 0000:00:1f.7 "$nl" "1$nl$nl" offf 2 \
	"0000:03:00.0 " " 1" "$(head -c 300 /dev/zero | tr '\0' 'y')"; do
	set_p2pmem "$bad"
	rc=$?
	name="malformed p2pmem '$(echo "$bad" | tr '\n' '~')' is refused, attribute unchanged"
	if [ $rc != 0 ] && [ "$(attr)" = "$near" ]; then
		ktap_ok "$name"
	elif [ $base = 1 ]; then
		ktap_skip "$name" "the base tree accepts it (shows $(attr))"
	else
		ktap_fail "$name # shows $(attr)"
	fi
	set_p2pmem "$near"
done
for good in YES off True 0; do
	set_p2pmem "$good"
	ktap_check "boolean word '$good' is accepted" [ $? = 0 ]
done

# connect TRANSPORT ARGS: connect a host to the subsystem and find its disk.
connect() {
	echo "transport=$1,nqn=$nqn$2" > /dev/nvme-fabrics || return 1
	wait_nvme p2ptarget && nvme_ns p2ptarget
}

disconnect() {
	c=$(nvme_ctrl p2ptarget) && echo 1 > /sys/class/nvme/$c/delete_controller
}

# verified_io DISK: write 2 MiB through the fabric, read it back and read it
# from the backing namespace; all three must match.
verified_io() {
	head -c 2097152 /dev/urandom > /tmp/pattern
	dd if=/tmp/pattern of="$1" bs=128k oflag=direct conv=fsync 2>/dev/null &&
	dd if="$1" of=/tmp/back bs=128k count=16 iflag=direct 2>/dev/null &&
	dd if="$ns_dev" of=/tmp/backing bs=128k count=16 iflag=direct 2>/dev/null &&
	cmp /tmp/pattern /tmp/back && cmp /tmp/pattern /tmp/backing
}

# io_no_p2pmem DISK: verified I/O on DISK in the background while the near
# provider's available is sampled; sets io_ok (the I/O verified), samples,
# moved (samples that differed from the start) and p2p_msgs (nvmet's
# "using p2pmem" messages meanwhile).
io_no_p2pmem() {
	local mark start pid
	mark=$(dmesg_mark)
	start=$(p2p_available "$near")
	verified_io "$1" &
	pid=$!
	moved=0
	samples=0
	while ! pid_gone $pid; do
		[ "$(p2p_available "$near")" = "$start" ] || moved=$((moved + 1))
		samples=$((samples + 1))
		sleep 0.02
	done
	wait $pid && io_ok=true || io_ok=false
	[ "$(p2p_available "$near")" = "$start" ] || moved=$((moved + 1))
	p2p_msgs=$(dmesg_since "$mark" | grep -c 'using p2pmem')
}

set_p2pmem "$near"
enable 1
P=/sys/kernel/config/nvmet/ports/1
mkdir $P && echo loop > $P/addr_trtype
ln -s $S $P/subsystems/$nqn
disk=$(connect loop "")
ktap_check "loop host connects to the subsystem with p2pmem=$near" [ -b "$disk" ]
io_no_p2pmem "$disk"
ktap_check "loop host: 2 MiB written, read back and found on the backing disk" $io_ok
ktap_check "loop host: $near's available unchanged during the I/O ($moved of $samples samples moved)" \
	[ $moved = 0 ]
ktap_check "loop host: nvmet does not use p2pmem (no 'using p2pmem' message)" \
	[ "$p2p_msgs" = 0 ]
disconnect
rm $P/subsystems/$nqn
rmdir $P

{ ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy; } && ip addr add 10.99.0.1/24 dev dummy0 && ip link set dummy0 up
if ! command -v rdma >/dev/null; then
	# arm64/riscv64 guests: iproute2's rdma is not built for them.
	ktap_skip "RDMA (soft-RoCE) host connects" "no rdma tool in the $TOPO_ARCH guest"
	ktap_skip "RDMA host: verified I/O" "no rdma tool in the $TOPO_ARCH guest"
elif rdma link add rxe0 type rxe netdev dummy0 2>/tmp/err; then
	P=/sys/kernel/config/nvmet/ports/2
	mkdir $P && echo rdma > $P/addr_trtype && echo ipv4 > $P/addr_adrfam &&
		echo 10.99.0.1 > $P/addr_traddr && echo 4420 > $P/addr_trsvcid
	ln -s $S $P/subsystems/$nqn
	mark=$(dmesg_mark)
	disk=$(connect rdma ",traddr=10.99.0.1,trsvcid=4420")
	ktap_check "RDMA (soft-RoCE) host connects with p2pmem=$near" [ -b "$disk" ]
	io_no_p2pmem "$disk"
	ktap_check "RDMA host: 2 MiB written, read back and found on the backing disk" $io_ok
	ktap_check "RDMA host: $near's available unchanged during the I/O ($moved of $samples samples moved)" \
		[ $moved = 0 ]
	ktap_check "RDMA host: soft-RoCE is no PCI device, nvmet does not use p2pmem" \
		[ "$p2p_msgs" = 0 ]
	dmesg_since "$mark" | grep -i -E 'p2p|peer' | sed 's/^/# /'
	disconnect
	rm $P/subsystems/$nqn
	rmdir $P
else
	sed 's/^/# /' /tmp/err
	ktap_fail "RDMA (soft-RoCE) host connects # rdma link add failed"
	ktap_fail "RDMA host: verified I/O # no rxe device"
	ktap_fail "RDMA host: available unchanged during the I/O # no rxe device"
	ktap_fail "RDMA host: nvmet does not use p2pmem # no rxe device"
fi
enable 0
rmdir $NS && rmdir $S
ktap_check "subsystem removed cleanly" [ ! -e $S ]
ktap_exit
