#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The p2pmem/ userspace ABI of one provider (a CMB behind the switch), with
# O_DIRECT reads of a near namespace into the mapping.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
if [ "$P2PDMA_IMPL" != base ]; then
	p2pmem-abi "$(nvme_bdf swA)" "serial:swB"
	exit
fi
# Two cases document bugs of the base tree (README, "Where our core
# differs"): report them as skipped there, with the tool's reason.
p2pmem-abi "$(nvme_bdf swA)" "serial:swB" > /tmp/abi.out
sed -e 's/^not ok \([0-9]*\) \(mprotect_write\|mremap_grow_refused\) # \(.*\)/ok \1 \2 # SKIP base tree: \3/' /tmp/abi.out
! grep -q '^not ok' /tmp/abi.out ||
	! grep '^not ok' /tmp/abi.out | grep -v -q 'mprotect_write\|mremap_grow_refused'
