#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The BAR donor p2pmem_pci on donor.topo: ivA and ivB (64 and 16 MiB of RAM
# behind BAR2, below the switch of swA and swB) and ivC (32 MiB, on its own
# root port).
#  1. the "lend" parameter takes exactly its grammar;
#  2. binding with a BAR, offset or size that cannot be lent fails with the
#     errno and leaves nothing registered; a good choice registers exactly it;
#  3. by default the whole BAR2 is lent and published;
#  4. NVMe -> ivB's BAR -> NVMe copies are verified in the guest and on the
#     host (disk images, and the last chunk in ivB's shared memory file);
#     NVMe DMA into ivC is refused with the reason;
#  5. unbind/bind rounds while a process maps ivA (SIGBUS, then registered
#     again), and hot removal of ivA under a mapping and a copy.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ROUNDS=${DONOR_ROUNDS:-100}
MIB=1048576
mod=/lib/modules/p2pmem-pci.ko
if [ ! -f $mod ]; then
	ktap_plan 1
	ktap_skip "donor" "no p2pmem_pci in this kernel ($P2PDMA_IMPL)"
	exit 0
fi
ktap_plan 38
PARAM=/sys/module/p2pmem_pci/parameters/lend
DRV=/sys/bus/pci/drivers/p2pmem_pci
ia=$(ivshmem_bdf ivA)
ib=$(ivshmem_bdf ivB)
ic=$(ivshmem_bdf ivC)
pa=$(nvme_bdf swA)
pb=$(nvme_bdf swB)
ktap_diag "ivA at $ia, ivB at $ib, ivC at $ic, swA at $pa, swB at $pb"
ktap_check "insmod p2pmem_pci" insmod $mod
ktap_check "p2pmem_pci binds to nothing by itself" \
	[ ! -e "/sys/bus/pci/devices/$ia/driver" ]

# set_lend VALUE: write the parameter, as echo does (a write of nothing
# at all never reaches the kernel).
set_lend() {
	printf '%s\n' "$1" > $PARAM 2> /tmp/lend.err
}

# bind BDF: bind p2pmem_pci to BDF; prints the error of the write, if any.
bind() {
	echo p2pmem_pci > "/sys/bus/pci/devices/$1/driver_override"
	echo "$1" > $DRV/bind 2> /tmp/bind.err
}

unbind() {
	echo "$1" > $DRV/unbind
}

# nothing_registered BDF: no driver, no p2pmem group.
nothing_registered() {
	[ ! -e "/sys/bus/pci/devices/$1/driver" ] &&
		[ ! -e "/sys/bus/pci/devices/$1/p2pmem" ]
}

# ---- 1. the parameter's grammar ----
bad=0
for v in "$ia" "$ia=" "$ia=6" "$ia=2@" "$ia=2+0" "$ia=2@08" "$ia=2@1X" \
	 "${ia#0000:}=2" "$ia=2," "," "$ia=2,$ia=0" "0000:03:20.0=2" \
	 "0000:03:00.8=2" "$ia=2@1M+1M+1M" "$ia=2 " "$ia=2+-1" "$ia=02" \
	 "$ia=2@99999999999999999999" "$ia=2+16E"; do
	set_lend "$ia=0"
	if set_lend "$v"; then
		ktap_diag "accepted: '$v'"
		bad=$((bad + 1))
	elif [ "$(cat $PARAM)" != "$ia=0@0x0" ]; then
		ktap_diag "'$v' changed the list to $(cat $PARAM)"
		bad=$((bad + 1))
	fi
done
ktap_check "19 malformed lend values refused, list unchanged" [ $bad = 0 ]
set_lend "$ia=2@0x200000+2M,$ic=2+16M"
ktap_check "a good list reads back normalized" \
	[ "$(cat $PARAM)" = "$ia=2@0x200000+0x200000,$ic=2@0x0+0x1000000" ]
set_lend "$(cat $PARAM)"
ktap_check "what it reads back is accepted again" \
	[ "$(cat $PARAM)" = "$ia=2@0x200000+0x200000,$ic=2@0x0+0x1000000" ]

# ---- 2. choices that cannot be lent ----
# refused CHOICE ERRNO-TEXT WHAT
refused() {
	set_lend "$ia=$1"
	if bind "$ia"; then
		unbind "$ia"
		ktap_fail "$3: bind succeeded"
	elif ! grep -q "$2" /tmp/bind.err; then
		ktap_fail "$3: $(cat /tmp/bind.err), expected $2"
	else
		ktap_check "$3 ($2), nothing registered" nothing_registered "$ia"
	fi
}
refused 0 "Invalid argument" "BAR0 (256 bytes of registers) is too small"
refused 1 "Invalid argument" "BAR1 does not exist"
refused "2+4096" "Invalid argument" "4 KiB is not a multiple of a memory section"
refused "2+1000" "Invalid argument" "a size that is not a multiple of the page size"
refused "2@0x1000" "Invalid argument" "an offset not aligned as memremap_pages() needs"
refused "2@32M+64M" "Invalid argument" "offset + size past the end of the BAR"
refused "2@64M" "Invalid argument" "an offset at the end of the BAR"

set_lend "$ia=2@16M+32M"
ktap_check "BAR2 at 16 MiB + 32 MiB binds" bind "$ia"
ktap_check "... and registers exactly 32 MiB" \
	[ "$(cat "$(p2pmem "$ia")/size")" = $((32 * MIB)) ]
ktap_check "... published" [ "$(cat "$(p2pmem "$ia")/published")" = 1 ]
unbind "$ia"
ktap_check "unbind removes the p2pmem group" nothing_registered "$ia"

# ---- 3. the default: the largest prefetchable BAR, whole ----
set_lend ""
ktap_check "ivA binds with the default choice" bind "$ia"
ktap_check "ivC binds with the default choice" bind "$ic"
ktap_check "ivB binds with the default choice, 16 MiB" \
	sh -c "echo p2pmem_pci > /sys/bus/pci/devices/$ib/driver_override &&
	       echo $ib > $DRV/bind &&
	       [ \$(cat /sys/bus/pci/devices/$ib/p2pmem/size) = $((16 * MIB)) ]"
ktap_diag "ivA: $(cat "$(p2pmem "$ia")/size") bytes, $(p2p_available "$ia") available"
ktap_check "ivA lends its whole 64 MiB BAR2, all available" \
	[ "$(cat "$(p2pmem "$ia")/size")" = $((64 * MIB)) -a \
	  "$(p2p_available "$ia")" = $((64 * MIB)) ]
ktap_check "ivC lends 32 MiB" [ "$(cat "$(p2pmem "$ic")/size")" = $((32 * MIB)) ]
routes=/sys/kernel/debug/p2pdma/routes
ktap_check "the route report: swA reaches ivA with bus addresses" \
	grep -q "^$ia $pa bus-address 4 " $routes
ktap_check "the route report: swA is refused by ivC's host bridge" \
	grep -q "^$ic $pa refused -1 .*host bridge 8086:29c0" $routes

# ---- 4. data through the BAR ----
# copy N [PROVIDER]: swA MiB N..N+1 -> swB MiB N..N+1 through PROVIDER's
# BAR (ivB), verified.
copy() {
	p2pmem-copy --quiet --src serial:swA --dst serial:swB \
		--provider "${2:-$ib}" \
		--src-offset "$1"M --dst-offset "$1"M --length 1M --verify
}
ok=0
for n in 1 2 3 4; do
	copy $n && ok=$((ok + 1))
	echo "# host-verify: swB swA $n ok"
done
ktap_check "4 copies swA -> ivB's BAR -> swB, verified in the guest" [ $ok = 4 ]
# The last chunk of the last copy is still in ivB's RAM: the host finds it.
echo "# host-shm: ivB swA $((4 * MIB + 896 * 1024)) 131072"
ktap_check "ivB's available is back to 16 MiB" wait_available "$ib" $((16 * MIB))

# Speed, for the record (the benchmark proper is make bench).
t0=$(uptime_s)
p2pmem-copy --quiet --src serial:swA --dst serial:swB --provider "$ia" \
	--offset 8M --length 16M > /dev/null
tp=$(elapsed "$t0")
t0=$(uptime_s)
p2pmem-copy --quiet --src serial:swA --dst serial:swB --host-buffer \
	--offset 8M --length 16M > /dev/null
th=$(elapsed "$t0")
ktap_diag "16 MiB swA -> swB: ${tp} s through ivA's BAR, ${th} s through host memory (TCG)"

mark=$(dmesg_mark)
out=$(p2pmem-copy --src serial:swA --dst serial:swB --provider "$ic" \
	--offset 24M --length 1M 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc != 0 ] && echo "$out" | grep -q 'Remote I/O error'; then
	ktap_ok "swA DMA into ivC's BAR is refused with EREMOTEIO"
else
	ktap_fail "swA DMA into ivC's BAR is refused with EREMOTEIO"
fi
if dmesg_since "$mark" | grep "$ic" | grep "$pa" | grep -q 8086:29c0; then
	ktap_ok "... and the kernel log names both and the host bridge"
else
	ktap_fail "... and the kernel log names both and the host bridge"
fi
ktap_check "ivC's available is back to 32 MiB" wait_available "$ic" $((32 * MIB))

# ---- 5. unbind under live users, rebind, hot removal ----
sigbus=0
back=0
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	rm -f /tmp/hold.ready
	p2pmem-fault hold --touch --size 64k --seconds 30 --interval-ms 2 \
		--ready /tmp/hold.ready "$ia" > /tmp/hold.out 2>&1 &
	hold=$!
	wait_exists /tmp/hold.ready 10
	unbind "$ia"
	wait_pid $hold 10
	[ $? = 3 ] && sigbus=$((sigbus + 1))
	bind "$ia" && wait_available "$ia" $((64 * MIB)) && back=$((back + 1))
done
ktap_check "$ROUNDS unbinds under a live mapping: SIGBUS every time" \
	[ $sigbus = "$ROUNDS" ]
ktap_check "$ROUNDS rebinds: 64 MiB registered and available every time" \
	[ $back = "$ROUNDS" ]
ktap_check "a copy through ivA works after the rounds" copy 5 "$ia"
echo "# host-verify: swB swA 5 ok"

rm -f /tmp/hold.ready
p2pmem-fault hold --touch --size 256k --seconds 60 --interval-ms 5 \
	--ready /tmp/hold.ready "$ia" > /tmp/hold.out 2>&1 &
hold=$!
# Copies in a loop that ends with the first one that fails.
(while p2pmem-copy --quiet --src serial:swA --dst serial:swB --provider "$ia" \
	--offset 8M --length 16M; do :; done) > /tmp/copy.out 2>&1 &
cp_pid=$!
wait_exists /tmp/hold.ready 10
sum_b=$(ns_sum "$(nvme_ns swB)" 24 $((DATA_MB - 24)))
qmp device_del id=ivA
ktap_check "ivA hot-removed under a mapping and a copy" \
	wait_gone "/sys/bus/pci/devices/$ia" 20
wait_pid $hold 10
ktap_check "the process touching ivA's p2pmem gets SIGBUS" [ $? = 3 ]
wait_pid $cp_pid 60
rc=$?
sed 's/^/# copy: /' /tmp/copy.out
ktap_check "copies through ivA fail once it is gone, no hang" [ $rc = 0 ]
ktap_check "swB beyond the copy's range is untouched" \
	[ "$(ns_sum "$(nvme_ns swB)" 24 $((DATA_MB - 24)))" = "$sum_b" ]
ktap_check "ivC is still a provider" [ "$(p2p_available "$ic")" = $((32 * MIB)) ]
unbind "$ic"
unbind "$ib"
ktap_check "rmmod p2pmem_pci" rmmod p2pmem_pci
ktap_check "kernel log clean" dmesg_clean
ktap_exit
