#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Stress: every CPU allocates and frees random sizes for a fixed number of
# operations, and afterwards every provider's available must be exact.
#  1. the kernel API: the KUnit suite's concurrency case (one worker per
#     CPU on the first provider, swA), five times, while p2pmem-hammer
#     does the same from userspace on swB and rpC;
#  2. one- and two-page mappings from every CPU, so that a page freed on
#     one CPU is mapped again on another at once;
#  3. userspace: p2pmem-hammer on all three providers at once, while fio
#     does O_DIRECT I/O through swB's CMB into swA's namespace.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ktap_plan 8
ncpu=$(grep -c ^processor /proc/cpuinfo)
OPS=${STRESS_OPS:-1000}
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	eval "start_$s=$(p2p_available "$b")"
done

# hammer SERIAL SEED: p2pmem-hammer on one provider in the background.
hammer() {
	p2pmem-hammer --procs "$ncpu" --threads 2 --ops "$OPS" --max-pages 256 \
		--slots 4 --seed "$2" "serial:$1" > "/tmp/hammer.$1" 2>&1 &
	eval "hammer_$1=$!"
}

# hammer_done SERIAL: wait for it, show its summary, succeed if it passed.
hammer_done() {
	local pid rc
	eval "pid=\$hammer_$1"
	wait_pid "$pid" 120
	rc=$?
	sed "s/^/# $1: /" "/tmp/hammer.$1" | grep -v 'available start'
	[ $rc = 0 ]
}

# all_exact: every provider's available is back where it started.
all_exact() {
	local s b want ok=0
	for s in $NVME_SERIALS; do
		b=$(nvme_bdf "$s")
		eval "want=\$start_$s"
		wait_available "$b" "$want" ||
			{ ktap_diag "$s: available $(p2p_available "$b"), expected $want"; ok=1; }
	done
	return $ok
}

# ---- 1. kernel API from every CPU, userspace on the other providers ----
mod=/lib/modules/p2pdma_test.ko
hammer swB 1
hammer rpC 2
if [ ! -f $mod ] || [ ! -w /sys/module/kunit/parameters/filter_glob ]; then
	if [ "$P2PDMA_IMPL" = base ]; then
		ktap_skip "KUnit concurrency case x5 on swA" "no KUnit suite in this kernel ($P2PDMA_IMPL)"
	else
		ktap_fail "KUnit concurrency case x5 on swA # no KUnit suite or filter_glob in this kernel"
	fi
else
	# No newline: a charp parameter keeps it, and the glob would not match.
	printf '*.pci_p2pdma_alloc_concurrent' > /sys/module/kunit/parameters/filter_glob
	passed=0
	for i in 1 2 3 4 5; do
		mark=$(dmesg_mark)
		insmod $mod && rmmod p2pdma_test
		dmesg_since "$mark" | sed 's/^\[[ 0-9.]*\] //' > /tmp/kunit.log
		res=$(grep -E '^    (not )?ok [0-9]+ pci_p2pdma_alloc_concurrent' /tmp/kunit.log)
		grep -m1 'workers' /tmp/kunit.log | sed 's/^ *# */# /'
		grep -A8 'not ok' /tmp/kunit.log | sed 's/^/# /'
		case $res in
		*"not ok"*) ;;
		*ok*) passed=$((passed + 1)) ;;
		esac
	done
	printf '*' > /sys/module/kunit/parameters/filter_glob
	ktap_check "KUnit concurrency case: $passed of 5 runs passed on swA, $ncpu workers each" \
		[ $passed = 5 ]
fi
ktap_check "meanwhile hammer on swB: no error, available exact" hammer_done swB
ktap_check "meanwhile hammer on rpC: no error, available exact" hammer_done rpC

# ---- 2. free and re-allocation racing on one page ----
# The last unmap of a page returns it to the pool from page_free, before
# free_zone_device_folio() resets its refcount to 1; an mmap on another CPU
# that gets that page at once must not fail (vm_insert_page() refuses a
# page with no references: a spurious EINVAL).
einval=0
failed=0
other=0
for seed in 11 12 13 14 15 16; do
	if ! p2pmem-hammer --procs "$ncpu" --threads 2 --ops 3000 --max-pages 2 \
		--slots 1 --seed $seed "serial:swA" > /tmp/race.out 2>&1; then
		failed=$((failed + 1))
		sed 's/^/# /' /tmp/race.out | grep -v 'Invalid argument' | tail -n 3
		# A run that failed without a single EINVAL failed for
		# another reason (accounting, corruption, a crash).
		grep -q 'mmap [0-9]* pages: Invalid argument' /tmp/race.out ||
			other=$((other + 1))
	fi
	einval=$((einval + $(grep -c 'mmap [0-9]* pages: Invalid argument' /tmp/race.out)))
done
if [ $failed = 0 ] && [ $einval = 0 ]; then
	ktap_ok "one- and two-page mmap/munmap from every CPU: 6 hammer runs passed, no spurious EINVAL"
elif [ $other != 0 ] || [ $einval = 0 ]; then
	ktap_fail "one- and two-page mmap/munmap from every CPU # $failed of 6 hammer runs failed, $other without EINVAL"
elif [ "$P2PDMA_IMPL" = base ]; then
	ktap_skip "one- and two-page mmap/munmap from every CPU: no spurious EINVAL" \
		"the base tree has the race too ($einval EINVAL)"
else
	ktap_fail "one- and two-page mmap/munmap from every CPU: no spurious EINVAL # $einval EINVAL: a freed page reused before its refcount was reset"
fi

# ---- 3. userspace on every provider, with I/O through a CMB ----
# fio keeps its buffers for its whole run; it must outlast the hammers,
# whose accounting check includes them, so it runs until it is told to stop.
pb=$(nvme_bdf swB)
fio --name=cmb --filename="$(nvme_ns swA)" --ioengine=libaio --iodepth=4 \
	--direct=1 --rw=randwrite --bs=32k --offset=8M --size=8M \
	--time_based --runtime=600 --verify=crc32c \
	--verify_backlog=16 --mem="mmapshared:$(p2pmem "$pb")/allocate" \
	> /tmp/fio.out 2>&1 &
fio_pid=$!
n=0
while [ "$(p2p_available "$pb")" = "$start_swB" ] && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done
t0=$(uptime_s)
hammer swA 3
hammer swB 4
hammer rpC 5
ok=true
for s in swA swB rpC; do hammer_done $s || ok=false; done
ktap_diag "the hammers took $(elapsed "$t0") s"
ktap_check "hammer on swA, swB and rpC at once: no error, each available exact" $ok
# SIGINT ends fio's jobs cleanly (it then exits 128); what counts is that
# its job saw no error and no verify failure.
kill -INT $fio_pid
wait_pid $fio_pid 60
rc=$?
if [ $rc != 124 ] && grep -q 'err= 0' /tmp/fio.out &&
   ! grep -q -i 'verify.*fail\|bad magic\|bad checksum\|got signal' /tmp/fio.out; then
	ktap_ok "fio through swB's CMB, competing with the hammers, verified (crc32c)"
else
	sed 's/^/# /' /tmp/fio.out | tail -n 20
	ktap_fail "fio through swB's CMB, competing with the hammers, verified (crc32c) # status $rc"
fi
ktap_check "afterwards every provider's available is exactly where it started" \
	all_exact
ktap_check "kernel log clean" dmesg_clean
ktap_exit
