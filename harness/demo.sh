#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: boot the default topology, move data peer to peer, verify it
# inside the guest and again on the host from the disk images.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
KERNEL=$1
RUN=$OUT/runs/demo
echo "Booting Linux $(cat "$OUT/base-version") (p2pdma: ${IMPL:-ours}) on topology one-switch:"
sed -n 's/^## \{0,1\}/  /p' "$TOP/harness/topologies/one-switch.topo"
"$TOP/harness/run-guest" -q -k "$KERNEL" -o "$RUN" one-switch "$TOP/harness/guest/demo.sh"
rc=$?
tr -d '\r' < "$RUN/console.log" | sed -n '/^@@KTAP-BEGIN@@$/,/^@@KTAP-END@@$/p' |
	sed -n '/@@DEMO-START@@/,/@@DEMO-END@@/p' | grep -v '@@DEMO'
if [ $rc != 0 ]; then
	echo "demo: the guest failed (status $rc); console log: $RUN/console.log"
	exit 1
fi
mb=$(sed -n "s/^DATA_MB=//p" "$RUN/cpio/test/topology.env")
echo
for d in swB rpC; do
	if cmp -n $((mb * 1024 * 1024)) "$RUN/swA-n1.img" "$RUN/$d-n1.img"; then
		echo "Host check: the first $mb MiB of $d's disk image equal swA's, byte for byte."
	else
		echo "Host check FAILED: $d's disk image differs from swA's"
		exit 1
	fi
done
