#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Every provider-client pair the topology file lists: the client DMAs a chunk
# of its namespace into the provider's p2pmem (O_DIRECT, through a mapping of
# p2pmem/allocate), the provider writes it to its own namespace, and the copy
# is verified byte for byte, or the pair is refused with EREMOTEIO as
# expected.  With our core the kernel log must also name both devices and the
# reason, and the core's route report (debugfs p2pdma/routes) must have a
# well-formed line for the pair that agrees with the expectation.
#
# Pair number K reads MiB K of the client (random data the host wrote into
# the image, different for every MiB of every disk) and writes MiB 32+K of
# the provider (zeros until then): no two pairs share a range, a provider
# that is its own client copies between two distinct ranges, and a DMA that
# lands at the wrong address, or moves nothing, leaves the wrong bytes.  The
# host checks every range again in the disk images (check.sh host_verify).
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
exp=$EXPECT
[ "$P2PDMA_IMPL" = base ] && exp=$EXPECT_BASE
n=0
for e in $exp; do n=$((n + 1)); done
ktap_plan $((n + 3))
DST_BASE=32

for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	eval "start_$s=$(p2p_available "$b")"
	ktap_diag "$s at $b: $(cat "$(p2pmem "$b")/size") bytes of p2pmem"
done

# Our core must report every pair; the base tree has no report.
ROUTES=/sys/kernel/debug/p2pdma/routes
need_routes=$([ "$P2PDMA_IMPL" = base ] && echo 0 || echo 1)
if [ $need_routes = 1 ]; then
	ktap_check "$TOPO_NAME: the core's route report $ROUTES is readable" [ -r $ROUTES ]
else
	ktap_skip "$TOPO_NAME: the core's route report" "the base tree has none"
fi

# route_of PROVIDER_BDF CLIENT_BDF: the core's report line for the pair
# ("MAP DISTANCE REASON..."), empty when the core has no such line.
route_of() {
	[ -r $ROUTES ] && grep "^$1 $2 " $ROUTES | head -n 1 | cut -d' ' -f3-
}

# route_problem ROUTE WANT MAP: why the report line disagrees with the
# expectation (WANT ok|refused, MAP bus|host|-), or nothing if it agrees.
route_problem() {
	local rmap rdist
	rmap=${1%% *}
	rdist=$(echo "$1" | cut -d' ' -f2)
	case $rdist in
	''|*[!0-9-]*) echo "unparsable distance '$rdist'"; return ;;
	esac
	case $rmap in
	bus-address|host-bridge|refused) ;;
	*) echo "unparsable map type '$rmap'"; return ;;
	esac
	if [ "$2" = refused ] && [ "$rmap" != refused ]; then
		echo "reported $rmap, expected refused"
	elif [ "$2" = ok ] && [ "$rmap" = refused ]; then
		echo "reported refused, expected allowed"
	elif [ "$3" = bus ] && [ "$rmap" != bus-address ]; then
		echo "reported $rmap, expected bus-address"
	elif [ "$3" = host ] && [ "$rmap" != host-bridge ]; then
		echo "reported $rmap, expected host-bridge"
	fi
}

pair=0
for e in $exp; do
	IFS=: read -r prov client want map data <<-EOT
	$e
	EOT
	pair=$((pair + 1))
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	name="$TOPO_NAME: $client ($cbdf) DMA into $prov ($pbdf) p2pmem: $want"
	[ "$map" = - ] || name="$name via $map"
	route=$(route_of "$pbdf" "$cbdf")
	[ -n "$route" ] && ktap_diag "route: $route"
	if [ $need_routes = 1 ]; then
		if [ -z "$route" ]; then
			ktap_fail "$name # the core's route report has no line for the pair"
			continue
		fi
		problem=$(route_problem "$route" "$want" "$map")
		if [ -n "$problem" ]; then
			ktap_fail "$name # route report: $problem: $route"
			continue
		fi
	fi
	if [ "$data" = no ]; then
		if [ $need_routes = 1 ]; then
			ktap_ok "$name (the decision; QEMU cannot carry this transfer, see the topology file)"
		else
			ktap_skip "$name" "QEMU cannot carry this transfer and the core reports no route"
		fi
		continue
	fi
	src_mib=$pair
	dst_mib=$((DST_BASE + pair))
	mark=$(dmesg_mark)
	out=$(p2pmem-copy --src "serial:$client" --dst "serial:$prov" \
		--provider "$pbdf" --length 1M --src-offset ${src_mib}M \
		--dst-offset ${dst_mib}M --verify 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	echo "# host-verify: $client $src_mib $prov $dst_mib $want"
	if [ "$want" = ok ]; then
		ktap_check "$name" [ $rc = 0 ]
	elif [ $rc = 0 ] || ! echo "$out" | grep -q 'Remote I/O error'; then
		ktap_fail "$name # expected EREMOTEIO"
	elif [ "$P2PDMA_IMPL" != base ] &&
	     ! dmesg_since "$mark" | grep "$pbdf" | grep -q "$cbdf"; then
		dmesg_since "$mark" | sed 's/^/# dmesg: /'
		ktap_fail "$name # the kernel log does not name the pair"
	else
		dmesg_since "$mark" | grep "$pbdf" | grep "$cbdf" | head -n 1 | sed 's/^/# reason: /'
		ktap_ok "$name"
	fi
done

all_back=true
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	eval "want=\$start_$s"
	wait_available "$b" "$want" || { ktap_diag "$s: available $(p2p_available "$b") != $want"; all_back=false; }
done
ktap_check "$TOPO_NAME: every provider's available is back to its start" $all_back
ktap_check "$TOPO_NAME: kernel log clean" dmesg_clean
ktap_exit
