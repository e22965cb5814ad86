#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# One benchmark run on one-switch (see harness/bench.sh): the p2pdma_bench
# module first, right after boot, so its "first" distance rows really are
# the first questions about those pairs; then the userspace rows of
# p2pmem-bench.  Results are "p2pdma-bench: ROW NS" lines, also checked as
# KTAP so a broken benchmark shows up in CI without any timing assertion.
. /lib/p2pdma-lib.sh
. /test/topology.env
BENCH_MOD_ARGS=
BENCH_USER_ARGS=
[ -f /test/bench.env ] && . /test/bench.env
ktap_plan 4
wait_nvme $NVME_SERIALS || { ktap_fail "NVMe controllers probed"; exit 1; }
ktap_ok "NVMe controllers probed"

mod=/test/p2pdma_bench.ko
mark=$(dmesg_mark)
# shellcheck disable=SC2086
if insmod $mod provider="$(nvme_bdf swA)" $BENCH_MOD_ARGS; then
	ktap_ok "p2pdma_bench module ran"
	rmmod p2pdma_bench
else
	ktap_fail "p2pdma_bench module ran"
fi
dmesg_since "$mark" | sed -n 's/^\[[ 0-9.]*\] //; /^p2pdma-bench: /p' |
	tee /tmp/kbench.out
grep -q '^p2pdma-bench: skip ' /tmp/kbench.out && ktap_diag "some kernel rows were skipped"

# shellcheck disable=SC2086
ktap_check "p2pmem-bench userspace rows" \
	p2pmem-bench $BENCH_USER_ARGS "$(nvme_bdf swA)" "serial:swB"
ktap_check "kernel log clean" dmesg_clean
ktap_exit
