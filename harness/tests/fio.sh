#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debian's fio with its I/O buffers in p2pmem (--mem=mmapshared on the
# provider's allocate file) and O_DIRECT, crc32c-verified, on psync, libaio
# and io_uring; and the same aimed at a controller the provider cannot reach,
# which must fail with EREMOTEIO.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
prov=$(nvme_bdf swA)
mem="mmapshared:$(p2pmem "$prov")/allocate"
start=$(p2p_available "$prov")
ktap_plan 5

fio_job() {
	fio --name="$1" --filename="$2" --ioengine="$1" --direct=1 --rw=randwrite \
		--bs=64k --size=4M --iodepth=4 --mem="$mem" --verify=crc32c \
		--do_verify=1 --output-format=terse --terse-version=3 \
		> /tmp/fio.out 2>&1
}

for engine in psync libaio io_uring; do
	if fio_job $engine "$(nvme_ns swB)"; then
		ktap_ok "fio $engine randwrite+verify crc32c, buffers in $prov p2pmem"
	else
		sed 's/^/# /' /tmp/fio.out
		ktap_fail "fio $engine randwrite+verify crc32c, buffers in $prov p2pmem"
	fi
done
if fio_job psync "$(nvme_ns rpC)"; then
	ktap_fail "fio to a controller that cannot reach $prov fails # it succeeded"
elif grep -q -i 'remote I/O error\|error=121' /tmp/fio.out; then
	ktap_ok "fio to a controller that cannot reach $prov fails with EREMOTEIO"
else
	sed 's/^/# /' /tmp/fio.out
	ktap_fail "fio to a controller that cannot reach $prov fails with EREMOTEIO"
fi
ktap_check "available back to its start after fio" wait_available "$prov" "$start"
ktap_exit
