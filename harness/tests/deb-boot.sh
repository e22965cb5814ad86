#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The kernel taken out of the linux-image package "make deb" built, booted
# on the demo machine: it is the packaged release, every NVMe controller
# memory buffer is a p2pmem provider, the packaged p2pmem_pci module loads,
# and the topology tool sees the providers.
. /lib/p2pdma-lib.sh
. /test/topology.env
ktap_plan 5
want=$(cat /test/release)
ktap_check "deb: the guest runs the packaged kernel ($(uname -r), package $want)" \
	test "$(uname -r)" = "$want"
wait_nvme $NVME_SERIALS || exit 1
bad=
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	size=$(cat "$(p2pmem "$b")/size" 2>/dev/null)
	ktap_diag "$s at $b: ${size:-no} p2pmem"
	[ "${size:-0}" -gt 0 ] || bad="$bad $s"
done
ktap_check "deb: every NVMe CMB is a p2pmem provider${bad:+ (not:$bad)}" test -z "$bad"
insmod /lib/modules/p2pmem-pci.ko 2>&1 | sed 's/^/# /'
ktap_check "deb: the packaged p2pmem_pci module loads" test -d /sys/module/p2pmem_pci
n=$(p2pdma list | grep -c '^0000:')
ktap_check "deb: p2pdma list shows the $(echo $NVME_SERIALS | wc -w) providers ($n)" \
	test "$n" = "$(echo $NVME_SERIALS | wc -w)"
ktap_check "deb: kernel log clean" dmesg_clean
ktap_exit
