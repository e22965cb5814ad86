#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load the p2pdma KUnit suite once the NVMe controllers have probed (its
# allocator and DMA cases need a real provider) and report every test case
# as one line of a flat KTAP document.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
mod=/lib/modules/p2pdma_test.ko
if [ ! -f $mod ]; then
	ktap_plan 1
	ktap_skip "kunit" "no KUnit suite in this kernel ($P2PDMA_IMPL)"
	exit 0
fi
mark=$(dmesg_mark)
insmod $mod || { ktap_plan 1; ktap_fail "insmod p2pdma_test.ko"; exit 1; }
dmesg_since "$mark" | sed 's/^\[[ 0-9.]*\] //' > /tmp/kunit.log
sed 's/^/# /' /tmp/kunit.log
# Suites are top-level results, their cases are indented four spaces.
suite=
cases=$(grep -c -E '^    (not )?ok [0-9]+ ' /tmp/kunit.log)
ktap_plan "$cases"
while IFS= read -r line; do
	case $line in
	"    # Subtest: "*) suite=${line#    # Subtest: } ;;
	"    ok "*"# SKIP"*)
		rest=${line#    ok [0-9]* }
		ktap_skip "$suite.${rest%% # SKIP*}" "${rest#*# SKIP}" ;;
	"    ok "*) ktap_ok "$suite.${line#    ok [0-9]* }" ;;
	"    not ok "*) ktap_fail "$suite.${line#    not ok [0-9]* }" ;;
	esac
done < /tmp/kunit.log
[ "$cases" -gt 0 ] || { ktap_fail "the suite reported no test cases"; exit 1; }
rmmod p2pdma_test
ktap_exit
