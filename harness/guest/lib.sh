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
	local name=$1
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
	local c
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
	local c
	c=$(nvme_ctrl "$1") || return 1
	basename "$(readlink -f "/sys/class/nvme/$c/device")"
}

# ivshmem_bdf ID: the PCI address of the ivshmem-plain device ID of the
# topology, told apart from the others by the size of its BAR2.
ivshmem_bdf() {
	local e size d
	for e in $IVSHMEM; do
		[ "${e%%:*}" = "$1" ] || continue
		size=${e#*:}
		size=$((${size%%:*} * 1048576))
		for d in /sys/bus/pci/devices/*; do
			[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] ||
				continue
			set -- $(sed -n 3p "$d/resource")
			[ $(($2 - $1 + 1)) = "$size" ] && { basename "$d"; return 0; }
		done
	done
	return 1
}

# nvme_ns SERIAL [NSID]: the block device node of a namespace (default 1).
nvme_ns() {
	local c b
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

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds;
# fails if it still has not after SECONDS.
wait_for() {
	local wf_left=$(($1 * 10))
	shift
	until "$@"; do
		[ "$wf_left" -le 0 ] && return 1
		sleep 0.1
		wf_left=$((wf_left - 1))
	done
}

# nvme_ready SERIAL...: every controller has namespace 1 as a block device.
nvme_ready() {
	local s ns
	for s in "$@"; do
		ns=$(nvme_ns "$s") && [ -b "$ns" ] || return 1
	done
}

# wait_nvme SERIAL...: wait (up to 30 s) until every controller has namespace 1.
wait_nvme() {
	wait_for 30 nvme_ready "$@" && return 0
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

# p2p_available_is BDF BYTES: a provider has BYTES of p2pmem free.
p2p_available_is() {
	[ "$(p2p_available "$1")" = "$2" ]
}

# wait_available BDF BYTES: wait up to 2 s for a provider's available to settle.
wait_available() {
	wait_for 2 p2p_available_is "$1" "$2"
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
# (Lockdep reports start with "WARNING:"; a bare "lockdep" would match the
# boot banner "RCU lockdep checking is enabled" of every debug kernel.)
# Reports of known base-tree bugs are set aside first, each one named in a
# KTAP diagnostic: see known-reports.awk.
dmesg_clean() {
	dmesg | awk -f /lib/p2pdma-known-reports.awk > /tmp/dmesg.filtered
	sed -n 's/.*p2pdma-known-report: /# not ours: /p' /tmp/dmesg.filtered
	! grep -E -q 'BUG:|WARNING:|Oops|KASAN|possible circular|inconsistent lock|UBSAN|kmemleak: [1-9]|general protection|Call Trace' /tmp/dmesg.filtered
}

# Hot-plug helpers.  Scripts must not use these functions' locals as
# globals of their own; busybox ash scopes "local" dynamically.

# qmp COMMAND KEY=VALUE...: have the host send a QMP command to this guest's
# QEMU (see run-guest).  Written to the console directly, so the request is
# not replayed when init prints the script's output again.
qmp() {
	echo "@@QMP $*@@" > /dev/console
}

# uptime_s: seconds since boot, with hundredths.
uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

# elapsed START: seconds since START (an uptime_s value), with hundredths.
elapsed() {
	awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }'
}

# wait_gone PATH SECONDS: wait until PATH disappears.
wait_gone() {
	wait_for "$2" [ ! -e "$1" ]
}

# wait_exists PATH SECONDS: wait until PATH appears.
wait_exists() {
	wait_for "$2" [ -e "$1" ]
}

# pid_gone PID: the process has exited (it may still need reaping).
pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

# wait_pid PID SECONDS: wait for a child to exit and return its status; 124
# (after killing it) if it is still running after SECONDS.
wait_pid() {
	if ! wait_for "$2" pid_gone "$1"; then
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

# nvme_qemu SERIAL FIELD: bus or cmb (MiB) of a controller, from the topology.
nvme_qemu() {
	local e rest
	for e in $NVME_QEMU; do
		[ "${e%%:*}" = "$1" ] || continue
		rest=${e#*:}
		case $2 in
		bus) echo "${rest%%:*}" ;;
		cmb) echo "${rest#*:}" ;;
		esac
		return 0
	done
	return 1
}

# nvme_unplug SERIAL: ask QEMU to remove a controller (QEMU id ctl-SERIAL).
nvme_unplug() {
	qmp device_del "id=ctl-$1"
}

# nvme_replug SERIAL: plug a removed controller back in, with its namespace 1
# (drive drv-SERIAL-1, which outlives the controller) and its CMB.
nvme_replug() {
	qmp device_add driver=nvme "id=ctl-$1" "serial=$1" \
		"bus=$(nvme_qemu "$1" bus)" "cmb_size_mb=$(nvme_qemu "$1" cmb)" \
		"drive=drv-$1-1"
}

# ns_sum DEV SKIP_MIB COUNT_MIB: md5 of COUNT_MIB MiB of DEV after SKIP_MIB.
ns_sum() {
	dd if="$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null |
		md5sum | cut -d' ' -f1
}

# nvmet_p2p_ns NQN DEVICE P2PMEM: an nvmet subsystem open to any host whose
# namespace 1 is DEVICE with its p2pmem attribute set to P2PMEM, enabled.
nvmet_p2p_ns() {
	local ns=/sys/kernel/config/nvmet/subsystems/$1/namespaces/1
	mkdir "${ns%/namespaces/1}" &&
		echo 1 > "${ns%/namespaces/1}/attr_allow_any_host" &&
		mkdir "$ns" && printf '%s' "$2" > "$ns/device_path" &&
		printf '%s' "$3" > "$ns/p2pmem" && echo 1 > "$ns/enable"
}
