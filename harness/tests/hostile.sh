#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Hostile input, table-driven and random (fixed seeds, so a failure can be
# replayed with the command printed):
#  - the nvmet configfs "p2pmem" attribute: long strings, embedded NULs and
#    newlines, near misses of device names, checked against the grammar of
#    pci_p2pdma_enable_store() (the base tree's looser grammar only has to
#    keep the value unchanged on error and show something valid);
#  - the mmap() argument space of p2pmem/allocate: lengths, offsets, flags,
#    protections, open modes, and what happens to a mapping afterwards;
#  - the p2pdma.host_bridges parameter (our core only): bad input is an
#    error and leaves the old value; a good one takes effect at once;
#  - mmap/munmap from every CPU at once until the provider is exhausted.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ktap_plan 10
base=$([ "$P2PDMA_IMPL" = base ] && echo 1 || echo 0)
SEED=${HOSTILE_SEED:-1}
pa=$(nvme_bdf swA)
pc=$(nvme_bdf rpC)
providers=
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	[ "$(cat "$(p2pmem "$b")/published" 2>/dev/null)" = 1 ] &&
		providers=$providers${providers:+,}$b
done
ktap_diag "providers: $providers"
start=$(p2p_available "$pa")

# run NAME CMD...: one result from a tool, its output as diagnostics.
run() {
	local name=$1 rc
	shift
	"$@" > /tmp/out 2>&1
	rc=$?
	grep -v '^# ok' /tmp/out | sed 's/^/# /' | tail -n 40
	if [ $rc = 0 ]; then ktap_ok "$name"; else ktap_fail "$name"; fi
}

# ---- nvmet p2pmem attribute ----
nqn=p2pdma.hostile
S=/sys/kernel/config/nvmet/subsystems/$nqn
NS=$S/namespaces/1
mkdir $S && mkdir $NS && printf '%s' "$(nvme_ns swB)" > $NS/device_path
lenient=
[ $base = 1 ] && lenient=--lenient
run "nvmet p2pmem: table and 400 random writes match the grammar${lenient:+ (lenient: base tree)}" \
	p2pmem-fault attr-fuzz --grammar p2pmem --providers "$providers" \
	$lenient --iterations 400 --seed "$SEED" $NS/p2pmem
printf '%s' "$pa" > $NS/p2pmem && echo 1 > $NS/enable
busy_ok=true
for v in 0 1 off "$pc" "$pa" garbage "$(head -c 300 /dev/zero | tr '\0' x)"; do
	if printf '%s' "$v" > $NS/p2pmem 2>/dev/null ||
	   [ "$(cat $NS/p2pmem)" != "$pa" ]; then
		busy_ok=false
		ktap_diag "'$v' accepted or value changed while enabled"
	fi
done
ktap_check "nvmet p2pmem: every write refused while the namespace is enabled" $busy_ok
echo 0 > $NS/enable
rmdir $NS $S

# ---- mmap argument space ----
# The base tree lets mremap() grow a mapping (the new part faults with
# SIGBUS); --base reports that instead of failing on it.
base_opt=
[ $base = 1 ] && base_opt=--base
run "mmap: table and 300 random argument sets keep the contract and the accounting${base_opt:+ (base tree: mremap may grow)}" \
	p2pmem-fault mmap-fuzz $base_opt --iterations 300 --seed "$SEED" "$pa"
ktap_check "mmap: available back to $start" wait_available "$pa" "$start"

# ---- p2pdma.host_bridges ----
P=/sys/module/p2pdma/parameters/host_bridges
if [ $base = 1 ] || [ ! -e $P ]; then
	# Our core must have it: missing there is a failure, not a skip.
	for t in "host_bridges: table and 300 random writes match the grammar" \
		 "host_bridges: a refused write leaves the old value" \
		 "host_bridges: declaring the q35 host bridge lets rpC reach swA, clearing it refuses again"; do
		if [ $base = 1 ]; then
			ktap_skip "$t" "the base tree has no p2pdma.host_bridges parameter"
		else
			ktap_fail "$t # no $P"
		fi
	done
else
	run "host_bridges: table and 300 random writes match the grammar" \
		p2pmem-fault attr-fuzz --grammar host_bridges --iterations 300 \
		--seed "$SEED" $P
	printf '1022:1480' > $P
	old=$(cat $P)
	printf '8086:29c0,' > $P 2>/dev/null
	rc1=$?
	printf '8086:29c0\n8086:29c0' > $P 2>/dev/null
	rc2=$?
	ktap_check "host_bridges: a refused write leaves the old value" \
		[ $rc1 != 0 -a $rc2 != 0 -a "$(cat $P)" = "$old" ]
	# The q35 host bridge (8086:29c0) routes in QEMU: rpC may then DMA
	# into swA's CMB through it; the cached refusal must not stick.
	copy() {
		p2pmem-copy --quiet --src serial:rpC --dst serial:swA \
			--provider "$pa" --src-offset 4M --dst-offset 36M --length 1M --verify \
			> /tmp/copy.out 2>&1
	}
	copy && before=ok || before=refused
	printf '8086:29c0' > $P
	copy && during=ok || during=refused
	printf '\n' > $P
	copy && after=ok || after=refused
	ktap_diag "rpC -> swA: $before, with 8086:29c0 declared: $during, cleared: $after"
	ktap_check "host_bridges: declaring the q35 host bridge lets rpC reach swA, clearing it refuses again" \
		[ $before = refused -a $during = ok -a $after = refused ]
	dmesg | grep 'host bridges declared\|no host bridges declared' | tail -n 2 |
		sed 's/^/# dmesg: /'
fi

# ---- concurrent mmap/munmap until exhaustion ----
ncpu=$(grep -c ^processor /proc/cpuinfo)
p2pmem-hammer --procs $((2 * ncpu)) --threads 2 --ops 400 --max-pages 1024 \
	--slots 4 --seed "$SEED" "$pa" > /tmp/hammer.out 2>&1
rc=$?
sed 's/^/# /' /tmp/hammer.out
ktap_check "hammer: $((4 * ncpu)) workers map and unmap until exhausted, no error, available exact" \
	[ $rc = 0 ]
fails=$(sed -n 's/.* failures \([0-9]*\) .*/\1/p' /tmp/hammer.out)
ktap_check "hammer: the provider really ran out ($fails refused mmaps)" \
	[ "${fails:-0}" -gt 0 ]

n=$(dmesg | grep -c 'p2pmem: expected\|p2pmem: no PCI device\|host_bridges: expected')
ktap_diag "$n parser complaints in the kernel log"
ktap_check "kernel log clean" dmesg_clean
ktap_exit
