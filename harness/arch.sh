# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034,SC2054
#
# What differs between the target architectures of the test guests, sourced
# by the harness scripts.  arch_setup ARCH IMPL DEBUG OUT sets:
#
#   P2P_ARCH      x86_64 (default), arm64 or riscv64
#   KARCH         the kernel's ARCH= (x86, arm64, riscv)
#   CROSS         CROSS_COMPILE= prefix ("" natively)
#   ARCH_TAG      "" for x86_64, "arm64-" / "riscv64-" otherwise: the prefix of
#                 every per-arch output, so x86_64 keeps its historic paths
#   TAG           IMPL[-debug]
#   BUILD         the kernel build directory
#   IMAGE_SRC     the boot image inside BUILD, IMAGE_TARGET its make target
#   KERNEL        $OUT/bzImage-TAG or $OUT/Image-ARCH-TAG
#   KERNEL_LAST   $OUT/bzImage or $OUT/Image-ARCH (the last one built)
#   MODULES       the modules the guests load
#   INITRAMFS     the guests' base initramfs
#   TOOLS_OUT     our static test programs
#   KMAKE_ARCH    ARCH=, CROSS_COMPILE=, CC= for make in the kernel tree
#   ARCH_CONFIG   the arch's config fragment
#   QEMU_BIN, QEMU_MACHINE_ARGS, CONSOLE   how to boot it
arch_setup() {
	P2P_ARCH=${1:-x86_64}
	local impl=$2 debug=${3:-0} out=$4
	TAG=$impl
	[ "$debug" = 1 ] && TAG=$impl-debug
	case $P2P_ARCH in
	x86_64|x86|amd64)
		P2P_ARCH=x86_64
		KARCH=x86
		CROSS=
		ARCH_TAG=
		IMAGE_TARGET=bzImage
		IMAGE_SRC=arch/x86/boot/bzImage
		KERNEL=$out/bzImage-$TAG
		KERNEL_LAST=$out/bzImage
		QEMU_BIN=qemu-system-x86_64
		QEMU_MACHINE_ARGS=()
		CONSOLE=ttyS0
		;;
	arm64|aarch64)
		P2P_ARCH=arm64
		KARCH=arm64
		CROSS=aarch64-linux-gnu-
		ARCH_TAG=arm64-
		IMAGE_TARGET=Image
		IMAGE_SRC=arch/arm64/boot/Image
		KERNEL=$out/Image-arm64-$TAG
		KERNEL_LAST=$out/Image-arm64
		QEMU_BIN=qemu-system-aarch64
		# GICv3 with an ITS: MSI/MSI-X for NVMe and the PCIe ports.
		# -cpu max with QEMU's cheap pointer-authentication hash: the
		# architected QARMA one dominates TCG time.
		QEMU_MACHINE_ARGS=(-M virt,gic-version=3 -cpu max,pauth-impdef=on)
		CONSOLE=ttyAMA0
		;;
	riscv64|riscv)
		P2P_ARCH=riscv64
		KARCH=riscv
		CROSS=riscv64-linux-gnu-
		ARCH_TAG=riscv64-
		IMAGE_TARGET=Image
		IMAGE_SRC=arch/riscv/boot/Image
		KERNEL=$out/Image-riscv64-$TAG
		KERNEL_LAST=$out/Image-riscv64
		QEMU_BIN=qemu-system-riscv64
		# MSIs through the AIA's IMSIC: the xio3130 downstream ports
		# have no INTx, so pciehp on the switch ports needs MSI (with
		# the PLIC: "pciehp: Cannot get irq -1"); with the PLIC the two
		# functions of a multifunction NVMe device, sharing INTA, also
		# lose completions ("I/O tag ... timeout, completion polled").
		# The console is SBI's (riscv64.config).
		QEMU_MACHINE_ARGS=(-M virt,aia=aplic-imsic -bios default)
		CONSOLE=hvc0
		;;
	*)
		echo "arch: ARCH must be x86_64, arm64 or riscv64, not '$P2P_ARCH'" >&2
		return 2
		;;
	esac
	BUILD=$out/build-$ARCH_TAG$TAG
	MODULES=$out/modules-$ARCH_TAG$TAG
	INITRAMFS=$out/initramfs${ARCH_TAG:+-${ARCH_TAG%-}}.cpio.gz
	TOOLS_OUT=$out/tools${ARCH_TAG:+-${ARCH_TAG%-}}
	# make variables for the kernel tree (out-of-tree builds, modules).
	KMAKE_ARCH=(ARCH="$KARCH" CROSS_COMPILE="$CROSS" CC="ccache ${CROSS}gcc"
		HOSTCC="ccache gcc")
	ARCH_CONFIG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/configs/$P2P_ARCH.config
}
