# SPDX-License-Identifier: GPL-2.0
#
# Topology files (harness/topologies/*.topo) describe an emulated machine as
# data; this library turns one into QEMU arguments.  Grammar, one statement a
# line ('#' starts a comment):
#
#   include FILE                  shared pieces (relative to the topologies dir)
#   cpu MODEL                     QEMU -cpu (default qemu64)
#   iommu                         an Intel VT-d IOMMU, enabled in the guest
#   append ARG...                 extra kernel command line
#   global DRIVER.PROP=VALUE      a QEMU -global, e.g. native PCIe hotplug:
#                                 ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
#   rootport ID [on BUS] [acs=off]      PCIe root port (default on pcie.0)
#   pxb ID bus_nr=N               an extra PCIe host bridge (pxb-pcie)
#   switch ID on BUS [ports=N]    upstream port ID, downstream ports ID-d0..
#   pcibridge ID on BUS           a PCIe-to-conventional-PCI bridge
#   nvme SERIAL on BUS [cmb=MiB] [addr=A] [multifunction=on] [namespaces=N]
#   ivshmem ID on BUS [size=MiB]  ivshmem-plain: BAR2 is RAM shared with the
#                                 host through RUNDIR/ID.shm (a p2pmem_pci
#                                 donor); sizes must differ per topology,
#                                 the guest tells the devices apart by them
#   expect PROVIDER CLIENT ok|refused [base=ok|refused] [map=bus|host] [data=no]
#                                 DMA by CLIENT into PROVIDER's p2pmem: allowed
#                                 or refused; with map=, the kernel's mapping
#                                 (checked where the core reports it); data=no
#                                 when QEMU cannot carry the data (see iommu.topo)
#
# On arm64 and riscv64 (QEMU virt, P2P_ARCH from harness/arch.sh) the
# statements that only exist on q35 (cpu, iommu, pxb, other machines'
# globals) mark the topology as skipped, with the reason in TOPO_SKIP.
# virt's hotplug is native pciehp already, so the ICH9-LPC global that
# switches q35 to native hotplug is simply dropped there.

TOPO_DISK_MB=${TOPO_DISK_MB:-64}
TOPO_DATA_MB=${TOPO_DATA_MB:-32}

topology_reset() {
	TOPO_MACHINE=q35
	TOPO_CPU=qemu64
	TOPO_APPEND=
	TOPO_ARGS=()
	TOPO_SERIALS=
	TOPO_NVME_QEMU=
	TOPO_IVSHMEM=
	TOPO_EXPECT=
	TOPO_EXPECT_BASE=
	TOPO_DESC=
	TOPO_CHASSIS=1
	TOPO_DRIVES=0
	TOPO_ARCH=${P2P_ARCH:-x86_64}
	TOPO_SKIP=
}

# q35_only REASON: the statement cannot exist on virt; the first reason
# found skips the topology there.
q35_only() {
	[ "$TOPO_ARCH" = x86_64 ] && return 1
	[ -n "$TOPO_SKIP" ] || TOPO_SKIP="$*"
	return 0
}

# kv KEY DEFAULT ARGS...: the value of KEY=... among ARGS.
kv() {
	local key=$1 def=$2 a
	shift 2
	for a in "$@"; do
		case $a in "$key="*) echo "${a#*=}"; return ;; esac
	done
	echo "$def"
}

# on ARGS...: the bus named after 'on'.
on() {
	while [ $# -gt 0 ]; do
		[ "$1" = on ] && { echo "$2"; return; }
		shift
	done
	echo pcie.0
}

topology_disk() {
	local img=$1
	truncate -s "${TOPO_DISK_MB}M" "$img"
	head -c "${TOPO_DATA_MB}M" /dev/urandom | dd of="$img" conv=notrunc status=none
}

topology_statement() {
	local run=$1 dir=$2 kw=$3
	shift 3
	local id=${1:-}
	case $kw in
	include)
		topology_parse "$dir/$1" "$run" ;;
	cpu)
		q35_only "-cpu $1 is an x86 CPU model (q35 only)" && return
		TOPO_CPU=$1 ;;
	iommu)
		q35_only "intel-iommu (VT-d) is a q35 device" && return
		TOPO_MACHINE=q35,kernel-irqchip=split
		TOPO_ARGS+=(-device intel-iommu,intremap=on)
		TOPO_APPEND+=" intel_iommu=on iommu=nopt" ;;
	append)
		TOPO_APPEND+=" $*" ;;
	global)
		case $TOPO_ARCH:$1 in
		x86_64:*) ;;
		*:ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off) return ;;
		*) q35_only "-global $1 is for another machine" && return ;;
		esac
		TOPO_ARGS+=(-global "$1") ;;
	rootport)
		local acs=
		[ "$(kv acs on "$@")" = off ] && acs=,disable-acs=on
		TOPO_ARGS+=(-device "pcie-root-port,id=$id,bus=$(on "$@"),chassis=$TOPO_CHASSIS,slot=$TOPO_CHASSIS$acs")
		TOPO_CHASSIS=$((TOPO_CHASSIS + 1)) ;;
	pxb)
		q35_only "pxb-pcie (an extra host bridge) needs ACPI firmware on virt; a -kernel boot has only the device tree's one host bridge" && return
		TOPO_ARGS+=(-device "pxb-pcie,id=$id,bus_nr=$(kv bus_nr 0x80 "$@"),bus=pcie.0") ;;
	switch)
		local n i
		n=$(kv ports 2 "$@")
		TOPO_ARGS+=(-device "x3130-upstream,id=$id,bus=$(on "$@")")
		for ((i = 0; i < n; i++)); do
			TOPO_ARGS+=(-device "xio3130-downstream,id=$id-d$i,bus=$id,chassis=$TOPO_CHASSIS,slot=$i")
			TOPO_CHASSIS=$((TOPO_CHASSIS + 1))
		done ;;
	pcibridge)
		TOPO_ARGS+=(-device "pcie-pci-bridge,id=$id,bus=$(on "$@")") ;;
	nvme)
		local cmb addr mf ns opts n
		cmb=$(kv cmb 16 "$@")
		addr=$(kv addr "" "$@")
		mf=$(kv multifunction "" "$@")
		ns=$(kv namespaces 1 "$@")
		opts="serial=$id,id=ctl-$id,bus=$(on "$@")"
		[ "$cmb" != 0 ] && opts+=",cmb_size_mb=$cmb"
		[ -n "$addr" ] && opts+=",addr=$addr"
		[ -n "$mf" ] && opts+=",multifunction=$mf"
		TOPO_ARGS+=(-device "nvme,$opts")
		for ((n = 1; n <= ns; n++)); do
			topology_disk "$run/$id-n$n.img"
			TOPO_ARGS+=(-drive "if=none,id=drv-$id-$n,file=$run/$id-n$n.img,format=raw")
			TOPO_ARGS+=(-device "nvme-ns,drive=drv-$id-$n,bus=ctl-$id,nsid=$n")
		done
		TOPO_SERIALS+=" $id"
		# What device_add needs to plug the controller back in (namespace 1).
		TOPO_NVME_QEMU+=" $id:$(on "$@"):$cmb" ;;
	ivshmem)
		local size
		size=$(kv size 64 "$@")
		truncate -s "${size}M" "$run/$id.shm"
		TOPO_ARGS+=(-object "memory-backend-file,id=mem-$id,size=${size}M,share=on,mem-path=$run/$id.shm")
		TOPO_ARGS+=(-device "ivshmem-plain,id=$id,memdev=mem-$id,bus=$(on "$@")")
		TOPO_IVSHMEM+=" $id:$size:$(on "$@")" ;;
	expect)
		local base map data
		base=$(kv base "$3" "$@")
		map=$(kv map - "$@")
		data=$(kv data yes "$@")
		TOPO_EXPECT+=" $1:$2:$3:$map:$data"
		TOPO_EXPECT_BASE+=" $1:$2:$base:$map:$data" ;;
	*)
		echo "topology: unknown statement '$kw'" >&2
		return 1 ;;
	esac
}

topology_parse() {
	local file=$1 run=$2 line
	local dir
	dir=$(dirname "$file")
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		"##"*) TOPO_DESC+="${line###}"$'\n'; continue ;;
		esac
		line=${line%%#*}
		# shellcheck disable=SC2086
		[ -n "${line// /}" ] && topology_statement "$run" "$dir" $line
	done < "$file"
}

# topology_load FILE RUNDIR: parse FILE, creating disk images in RUNDIR.
topology_load() {
	topology_reset
	TOPO_NAME=$(basename "$1" .topo)
	topology_parse "$1" "$2"
}

# topology_env: what the guest scripts learn about the machine.
topology_env() {
	echo "TOPO_NAME='$TOPO_NAME'"
	echo "TOPO_ARCH='$TOPO_ARCH'"
	echo "NVME_SERIALS='${TOPO_SERIALS# }'"
	echo "NVME_QEMU='${TOPO_NVME_QEMU# }'"
	echo "IVSHMEM='${TOPO_IVSHMEM# }'"
	echo "EXPECT='${TOPO_EXPECT# }'"
	echo "EXPECT_BASE='${TOPO_EXPECT_BASE# }'"
	echo "DISK_MB=$TOPO_DISK_MB"
	echo "DATA_MB=$TOPO_DATA_MB"
}
