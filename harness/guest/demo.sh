#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo, inside the guest: list the p2pmem providers, copy NVMe to NVMe
# through a controller memory buffer, verify it, and show a refused pair.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
echo "@@DEMO-START@@"
echo "Linux $(uname -r), p2pdma core: $P2PDMA_IMPL"
echo
echo "p2pmem providers (NVMe CMBs):"
printf '  %-8s %-14s %10s %10s %s\n' serial "PCI address" size available published
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s"); d=$(p2pmem "$b")
	printf '  %-8s %-14s %10s %10s %s\n' "$s" "$b" "$(cat "$d/size")" \
		"$(cat "$d/available")" "$(cat "$d/published")"
done
if [ -r /sys/kernel/debug/p2pdma/routes ]; then
	echo
	echo "Who can DMA into whose p2pmem (p2pdma topo, from the kernel's route report):"
	p2pdma topo | sed 's/^/  /'
fi
echo
len=$((DATA_MB * 1024 * 1024))
src=swA; dst=swB; far=rpC
echo "Copy $DATA_MB MiB $src -> $dst through $src's CMB (O_DIRECT, verified):"
p2pmem-copy --src "serial:$src" --dst "serial:$dst" --provider "serial:$src" \
	--length $len --chunk 1m --verify || exit 1
echo "The same amount $src -> $far through host memory, for comparison:"
p2pmem-copy --src "serial:$src" --dst "serial:$far" --host-buffer \
	--length $len --chunk 1m --verify || exit 1
echo
echo "A refused pair: $far ($(nvme_bdf $far)) DMA into $src's CMB:"
mark=$(dmesg_mark)
p2pmem-copy --src "serial:$far" --dst "serial:$src" --provider "serial:$src" \
	--length 1m 2>&1 | sed 's/^/  /'
echo "  kernel log:"
dmesg_since "$mark" | grep -i -E 'p2p|acs|host bridge|refus' | sed 's/^/    /'
if [ -r /sys/kernel/debug/p2pdma/routes ]; then
	echo "  p2pdma why $(nvme_bdf $src) $(nvme_bdf $far):"
	p2pdma why "$(nvme_bdf $src)" "$(nvme_bdf $far)" | sed 's/^/    /'
fi
echo "@@DEMO-END@@"
