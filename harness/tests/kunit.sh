#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load the p2pdma KUnit suite once the NVMe controllers have probed (its
# allocator and DMA cases need a real provider) and report every test case
# as one line of a flat KTAP document, read from KUnit's debugfs results.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
mod=/lib/modules/p2pdma_test.ko
if [ ! -f $mod ]; then
	ktap_plan 1
	ktap_skip "kunit" "no KUnit suite in this kernel ($P2PDMA_IMPL)"
	exit 0
fi
# The allocation cases exhaust a provider: name the first controller's.
set -- $NVME_SERIALS
prov=$(nvme_bdf "$1") || { ktap_plan 1; ktap_fail "no PCI address for $1"; exit 1; }
insmod $mod provider="$prov" ||
	{ ktap_plan 1; ktap_fail "insmod p2pdma_test.ko"; exit 1; }
# The block layer's copy_file_range() arithmetic, where the kernel has it.
if [ -f /lib/modules/blk-copy-test.ko ]; then
	insmod /lib/modules/blk-copy-test.ko ||
		{ ktap_plan 1; ktap_fail "insmod blk-copy-test.ko"; exit 1; }
fi
: > /tmp/cases
for d in /sys/kernel/debug/kunit/*/; do
	suite=$(basename "$d")
	sed 's/^/# /' "$d/results"
	# Test cases are indented four spaces, parameters eight.
	grep -E '^    (not )?ok [0-9]+ ' "$d/results" | sed "s/^/$suite /" >> /tmp/cases
done
ktap_plan "$(wc -l < /tmp/cases)"
while read -r suite res rest; do
	case "$res $rest" in
	"ok "*"# SKIP"*)
		rest=${rest#[0-9]* }
		ktap_skip "$suite.${rest%% # SKIP*}" "${rest#*# SKIP}" ;;
	"ok "*) ktap_ok "$suite.${rest#[0-9]* }" ;;
	*) rest=${rest#ok }; ktap_fail "$suite.${rest#[0-9]* }" ;;
	esac
done < /tmp/cases
[ -s /tmp/cases ] || { ktap_fail "the suite reported no test cases"; exit 1; }
rmmod p2pdma_test
[ -f /lib/modules/blk-copy-test.ko ] && rmmod blk_copy_test
ktap_exit
