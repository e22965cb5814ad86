#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Unbind and rebind the nvme driver of the provider swA through sysfs, round
# after round, with live users of its p2pmem:
#  - a process that maps, tags and unmaps swA's p2pmem without pause
#    (p2pmem-fault churn), riding out the unbound periods;
#  - per round, a process touching a mapping: it must get SIGBUS at unbind;
#  - O_DIRECT copies within swB through swA's CMB (p2pmem-copy), restarted
#    whenever one dies;
#  - an nvmet namespace enabled with p2pmem=swA for the whole run;
#  - every tenth round, a kernel allocation (p2pmem_hold): unbind must wait
#    for it and finish once it is freed.
# Each round waits for swA's namespace to come back.  Afterwards, with the
# users stopped, swA's available must equal its size minus the 128 KiB the
# NVMe driver keeps for submission queues, and data must still move
# through it.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ROUNDS=${REBIND_ROUNDS:-100}
SQ_BYTES=131072
ktap_plan 11
pa=$(nvme_bdf swA)
size=$(cat "$(p2pmem "$pa")/size")
full=$(p2p_available "$pa")
D=/sys/bus/pci/drivers/nvme
H=/sys/kernel/debug/p2pmem_hold/hold
ktap_diag "swA $pa: size $size, available $full"
ktap_check "before: available is size minus the driver's 128 KiB of SQs" \
	[ "$full" = $((size - SQ_BYTES)) ]

insmod /test/p2pmem_hold.ko ||
	ktap_diag "no p2pmem_hold module: the kernel-allocation rounds will fail"
nqn=p2pdma.rebind
S=/sys/kernel/config/nvmet/subsystems/$nqn
NS=$S/namespaces/1
nvmet_p2p_ns $nqn "$(nvme_ns swB)" "$pa"
ktap_check "an nvmet namespace is enabled with p2pmem=$pa" \
	[ "$(cat $NS/enable)" = 1 ]

rm -f /tmp/stop
p2pmem-fault churn --seconds 600 --stop-file /tmp/stop "$pa" \
	> /tmp/churn.out 2>&1 &
churn_pid=$!
(
	ok=0 failed=0
	while [ ! -e /tmp/stop ]; do
		# 1 MiB: short enough to finish between two unbinds even
		# while the churn competes, so "kept going" is not luck.
		if p2pmem-copy --quiet --src serial:swB --dst serial:swB \
			--src-offset 0 --dst-offset 40M --length 1M --chunk 64k \
			--provider "$pa" > /dev/null 2>&1; then
			ok=$((ok + 1))
		else
			failed=$((failed + 1))
			sleep 0.1
		fi
	done
	echo "$ok copies completed, $failed failed" > /tmp/copy.runs
) &
copy_loop=$!

sigbus=0
kernel_rounds=0
kernel_waited=0
lost=0
max_unbind=0
r=1
t_start=$(uptime_s)
while [ $r -le $ROUNDS ]; do
	rm -f /tmp/hold.ready
	p2pmem-fault hold --touch --size 16k --seconds 60 --interval-ms 2 \
		--ready /tmp/hold.ready "$pa" > /tmp/hold.out 2>&1 &
	hold_pid=$!
	wait_exists /tmp/hold.ready 5

	t0=$(uptime_s)
	if [ $((r % 10)) = 0 ] && echo "$pa 65536" > $H; then
		kernel_rounds=$((kernel_rounds + 1))
		(echo "$pa" > $D/unbind) &
		unbind_pid=$!
		sleep 0.3
		blocked=0
		kill -0 $unbind_pid 2>/dev/null && blocked=1
		echo release > $H
		if wait_pid $unbind_pid 10 && [ $blocked = 1 ]; then
			kernel_waited=$((kernel_waited + 1))
		else
			ktap_diag "round $r: unbind blocked=$blocked with a kernel allocation held"
		fi
	else
		echo "$pa" > $D/unbind
	fi
	dt=$(elapsed "$t0")
	max_unbind=$(awk -v a="$dt" -v b="$max_unbind" 'BEGIN { print (a > b) ? a : b }')

	if wait_pid $hold_pid 10; [ $? = 3 ]; then
		sigbus=$((sigbus + 1))
	else
		ktap_diag "round $r: the mapping holder did not get SIGBUS:"
		sed 's/^/#   /' /tmp/hold.out
	fi

	echo "$pa" > $D/bind
	# Live users may hold some of it already: the exact check is at the end.
	if ! wait_exists "$(p2pmem "$pa")/available" 10 ||
	   [ "$(cat "$(p2pmem "$pa")/size")" != "$size" ] ||
	   ! wait_nvme swA > /dev/null; then
		ktap_diag "round $r: swA did not come back (size $(cat "$(p2pmem "$pa")/size" 2>/dev/null))"
		lost=$((lost + 1))
	fi
	r=$((r + 1))
done
ktap_diag "$ROUNDS rounds in $(elapsed "$t_start") s, longest unbind $max_unbind s"

touch /tmp/stop
wait_pid $churn_pid 30
rc=$?
sed 's/^/# /' /tmp/churn.out
maps=$(sed -n 's/.* maps \([0-9]*\) .*/\1/p' /tmp/churn.out)
ktap_check "the churning process mapped swA's p2pmem ${maps:-no} times, no errors, no corruption" \
	[ $rc = 0 -a "${maps:-0}" -gt 0 ]
wait_pid $copy_loop 60
copies=$(sed -n 's/^\([0-9]*\) copies completed.*/\1/p' /tmp/copy.runs 2>/dev/null)
ktap_check "O_DIRECT copies through swA's CMB kept going, none hung ($(cat /tmp/copy.runs 2>/dev/null))" \
	[ "${copies:-0}" -gt 0 ]
ktap_check "$ROUNDS unbind/bind rounds, swA's p2pmem and namespace back each time" \
	[ $lost = 0 ]
ktap_check "$sigbus of $ROUNDS mapping holders got SIGBUS at unbind" \
	[ $sigbus = "$ROUNDS" ]
ktap_check "$kernel_waited of $kernel_rounds unbinds waited for a kernel allocation and finished once it was freed" \
	[ $kernel_rounds -gt 0 -a $kernel_waited = $kernel_rounds ]
rmmod p2pmem_hold
ktap_check "after: available is size minus the driver's 128 KiB of SQs" \
	wait_available "$pa" $((size - SQ_BYTES))
ktap_check "the nvmet namespace stayed enabled and re-enables with swA" \
	sh -c "[ \$(cat $NS/enable) = 1 ] && echo 0 > $NS/enable &&
	       printf '%s' $pa > $NS/p2pmem && echo 1 > $NS/enable"
echo 0 > $NS/enable
rmdir $NS $S
ktap_check "swA -> swB through swA's CMB, verified" \
	p2pmem-copy --quiet --src serial:swA --dst serial:swB \
	--provider "$pa" --src-offset 4M --dst-offset 40M --length 4M --verify
ktap_check "kernel log clean" dmesg_clean
dmesg | grep -E 'p2p|peer-to-peer' | sort | uniq -c | sort -rn | head -n 5 |
	sed 's/^/# dmesg: /'
ktap_exit
