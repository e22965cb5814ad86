#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Every provider-client pair the topology file lists: the client DMAs a chunk
# of its namespace into the provider's p2pmem (O_DIRECT, through a mapping of
# p2pmem/allocate) and the copy is verified byte for byte, or the pair is
# refused with EREMOTEIO as expected.  With our core the kernel log must also
# name both devices and the reason.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
exp=$EXPECT
[ "$P2PDMA_IMPL" = base ] && exp=$EXPECT_BASE
n=0
for e in $exp; do n=$((n + 1)); done
ktap_plan $((n + 2))

for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	eval "start_$s=$(p2p_available "$b")"
	ktap_diag "$s at $b: $(cat "$(p2pmem "$b")/size") bytes of p2pmem"
done

# route_of PROVIDER_BDF CLIENT_BDF: the core's report line for the pair
# ("CLIENT MAP DISTANCE REASON..."), empty when the core has no report.
route_of() {
	f=/sys/kernel/debug/p2pdma/routes
	[ -r "$f" ] && grep "^$1 $2 " "$f" | cut -d' ' -f2-
}

pair=0
for e in $exp; do
	IFS=: read -r prov client want map data <<-EOT
	$e
	EOT
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	name="$TOPO_NAME: $client ($cbdf) DMA into $prov ($pbdf) p2pmem: $want"
	[ "$map" = - ] || name="$name via $map"
	route=$(route_of "$pbdf" "$cbdf")
	[ -n "$route" ] && ktap_diag "route: $route"
	if [ "$map" != - ] && [ -n "$route" ]; then
		case $map in
		bus) word=bus-address ;;
		host) word=host-bridge ;;
		esac
		if ! echo "$route" | grep -q " $word "; then
			ktap_fail "$name # the core reports: $route"
			continue
		fi
	fi
	if [ "$data" = no ]; then
		if [ -n "$route" ]; then
			ktap_ok "$name (the decision; QEMU cannot carry this transfer, see the topology file)"
		else
			ktap_skip "$name" "QEMU cannot carry this transfer and the core reports no route"
		fi
		continue
	fi
	# Each pair copies its own MiB, so the host can check every one of
	# them in the disk images afterwards.
	pair=$((pair + 1))
	mark=$(dmesg_mark)
	out=$(p2pmem-copy --src "serial:$client" --dst "serial:$prov" \
		--provider "$pbdf" --length 1M --offset ${pair}M --verify 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	echo "# host-verify: $prov $client $pair $want"
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
