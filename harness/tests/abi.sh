#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The p2pmem/ userspace ABI of one provider (a CMB behind the switch), with
# O_DIRECT reads of a near namespace into the mapping.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
p2pmem-abi "$(nvme_bdf swA)" "serial:swB"
