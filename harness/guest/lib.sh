# SPDX-License-Identifier: GPL-2.0
# Shell library for the guest test scripts (busybox ash): KTAP output,
# finding NVMe controllers by serial number, and p2pmem helpers.

KTAP_N=0
KTAP_FAILED=0

# ktap_plan N: start a KTAP document announcing N tests.
ktap_plan() {
	echo "KTAP version 1"
	echo "1..$1"
}

ktap_ok() {
	KTAP_N=$((KTAP_N + 1))
	echo "ok $KTAP_N $*"
}

ktap_fail() {
	KTAP_N=$((KTAP_N + 1))
	KTAP_FAILED=$((KTAP_FAILED + 1))
	echo "not ok $KTAP_N $*"
}

ktap_skip() {
	KTAP_N=$((KTAP_N + 1))
	echo "ok $KTAP_N $1 # SKIP ${2:-}"
}

# ktap_check NAME CMD...: one test case from a command's exit status.
ktap_check() {
	name=$1
	shift
	if "$@"; then ktap_ok "$name"; else ktap_fail "$name"; fi
}

ktap_diag() {
	echo "# $*"
}

ktap_exit() {
	[ "$KTAP_FAILED" -eq 0 ]
}

# nvme_ctrl SERIAL: the controller name (nvmeN) of the controller with SERIAL.
nvme_ctrl() {
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/serial" ] || continue
		if [ "$(tr -d ' ' < "$c/serial")" = "$1" ]; then
			basename "$c"
			return 0
		fi
	done
	return 1
}

# nvme_bdf SERIAL: the PCI address of the controller with SERIAL.
nvme_bdf() {
	c=$(nvme_ctrl "$1") || return 1
	basename "$(readlink -f "/sys/class/nvme/$c/device")"
}

# nvme_ns SERIAL [NSID]: the block device node of a namespace (default 1).
nvme_ns() {
	c=$(nvme_ctrl "$1") || return 1
	for b in /sys/class/nvme/$c/nvme*n*; do
		[ -e "$b/nsid" ] || continue
		if [ "$(cat "$b/nsid")" = "${2:-1}" ]; then
			echo "/dev/$(basename "$b")"
			return 0
		fi
	done
	return 1
}

# wait_nvme SERIAL...: wait (up to 30 s) until every controller has namespace 1.
wait_nvme() {
	i=0
	while [ $i -lt 300 ]; do
		missing=0
		for s in "$@"; do
			ns=$(nvme_ns "$s") || { missing=1; break; }
			[ -b "$ns" ] || { missing=1; break; }
		done
		[ $missing = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "# timeout waiting for NVMe controllers: $*"
	return 1
}

# p2pmem BDF: the p2pmem sysfs directory of a PCI device.
p2pmem() {
	echo "/sys/bus/pci/devices/$1/p2pmem"
}

# p2p_available BDF: bytes of p2pmem free on a provider.
p2p_available() {
	cat "$(p2pmem "$1")/available"
}

# wait_available BDF BYTES: wait up to 2 s for a provider's available to settle.
wait_available() {
	i=0
	while [ $i -lt 20 ]; do
		[ "$(p2p_available "$1")" = "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# dmesg_mark: a mark for dmesg_since (the number of lines logged so far).
dmesg_mark() {
	dmesg | wc -l
}

# dmesg_since MARK: what the kernel logged after MARK.
dmesg_since() {
	dmesg | tail -n +$(($1 + 1))
}

# dmesg_clean: the kernel log has no oops, warning, KASAN or lockdep report.
dmesg_clean() {
	! dmesg | grep -E -q 'BUG:|WARNING:|Oops|KASAN|possible circular|lockdep|UBSAN|kmemleak: [1-9]|general protection|Call Trace'
}
