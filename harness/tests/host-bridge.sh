#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The host-bridge rule and its runtime override, on any machine whose host
# bridge is not on the allowlist (q35's 8086:29c0, virt's generic ECAM
# bridge 1b36:0008): every pair the topology expects refused for lack of a
# common upstream bridge is refused with the reason and the remedy naming
# this host bridge; after writing that remedy to p2pdma.host_bridges the
# same pairs pass through the host bridge with their data verified (in the
# guest and on the host); clearing the parameter refuses them again.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
P=/sys/module/p2pdma/parameters/host_bridges
R=/sys/kernel/debug/p2pdma/routes
if [ "$P2PDMA_IMPL" = base ] || [ ! -e $P ]; then
	ktap_plan 1
	ktap_skip "$TOPO_NAME: host_bridges override" "the base tree has no p2pdma.host_bridges parameter"
	exit 0
fi

# The host bridge the core names: function 00.0 on the root bus.
hb=/sys/bus/pci/devices/0000:00:00.0
id=$(printf '%04x:%04x' "$(cat $hb/vendor)" "$(cat $hb/device)")
ktap_diag "$TOPO_ARCH: host bridge 0000:00:00.0 is $id"

refused=
n=0
for e in $EXPECT; do
	IFS=: read -r prov client want map data <<-EOT
	$e
	EOT
	[ "$want" = refused ] || continue
	refused="$refused $prov:$client"
	n=$((n + 1))
done
ktap_plan $((3 * n + 4))
[ $n -gt 0 ] || { ktap_fail "$TOPO_NAME has refused pairs to test"; exit 1; }

# copy PROVIDER CLIENT MIB: the client DMAs MiB MIB of its namespace into
# the provider's p2pmem, written to the provider's namespace and verified.
copy() {
	p2pmem-copy --quiet --src "serial:$2" --dst "serial:$1" \
		--provider "$(nvme_bdf "$1")" --length 1M --offset "$3M" --verify \
		> /tmp/copy.out 2>&1
}

for s in $NVME_SERIALS; do
	eval "start_$s=$(p2p_available "$(nvme_bdf "$s")")"
done

ktap_check "host_bridges starts empty" [ -z "$(cat $P)" ]

# 1. refused, with the reason and the remedy in the route table and the log
mib=16
for pc in $refused; do
	prov=${pc%%:*}; client=${pc#*:}
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	route=$(grep "^$pbdf $cbdf " $R | cut -d' ' -f2-)
	ktap_diag "route: $route"
	mark=$(dmesg_mark)
	if copy "$prov" "$client" $mib; then
		ktap_fail "$client -> $prov refused # the copy succeeded"
	elif ! grep -q 'Remote I/O error' /tmp/copy.out; then
		sed 's/^/# /' /tmp/copy.out
		ktap_fail "$client -> $prov refused # not with EREMOTEIO"
	elif ! echo "$route" | grep -q "refused.*p2pdma.host_bridges=$id" ||
	     ! dmesg_since "$mark" | grep "$pbdf" | grep "$cbdf" | grep -q "p2pdma.host_bridges=$id"; then
		dmesg_since "$mark" | sed 's/^/# dmesg: /'
		ktap_fail "$client -> $prov refused # the reason does not name p2pdma.host_bridges=$id"
	else
		dmesg_since "$mark" | grep "$pbdf" | grep "$cbdf" | head -n 1 | sed 's/^/# reason: /'
		ktap_ok "$client -> $prov refused, the remedy names p2pdma.host_bridges=$id"
	fi
	echo "# host-verify: $prov $client $mib refused"
	mib=$((mib + 1))
done

# 2. declared: the same pairs go through the host bridge
printf '%s' "$id" > $P
ktap_check "host_bridges=$id is accepted" [ "$(cat $P)" = "$id" ]
for pc in $refused; do
	prov=${pc%%:*}; client=${pc#*:}
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	route=$(grep "^$pbdf $cbdf " $R | cut -d' ' -f2-)
	ktap_diag "route: $route"
	if copy "$prov" "$client" $mib && echo "$route" | grep -q " host-bridge "; then
		ktap_ok "$client -> $prov through host bridge $id, verified"
	else
		sed 's/^/# /' /tmp/copy.out
		ktap_fail "$client -> $prov through host bridge $id, verified"
	fi
	echo "# host-verify: $prov $client $mib ok"
	mib=$((mib + 1))
done

# 3. cleared: refused again, the cached verdicts are gone
printf '\n' > $P
for pc in $refused; do
	prov=${pc%%:*}; client=${pc#*:}
	if copy "$prov" "$client" $mib; then
		ktap_fail "$client -> $prov refused again once host_bridges is cleared"
	else
		ktap_ok "$client -> $prov refused again once host_bridges is cleared"
	fi
	echo "# host-verify: $prov $client $mib refused"
	mib=$((mib + 1))
done

all_back=true
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	eval "want=\$start_$s"
	wait_available "$b" "$want" ||
		{ ktap_diag "$s: available $(p2p_available "$b") != $want"; all_back=false; }
done
ktap_check "every provider's available is back to its start" $all_back
ktap_check "kernel log clean" dmesg_clean
ktap_exit
