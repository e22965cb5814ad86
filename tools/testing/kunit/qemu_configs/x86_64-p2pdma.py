# SPDX-License-Identifier: GPL-2.0
#
# x86_64 on QEMU's q35 with a PCIe switch and two NVMe controllers that have
# controller memory buffers, so that the PCI P2PDMA suite finds a provider
# and a peer below the same switch (TCG only):
#
#   ./tools/testing/kunit/kunit.py run --kunitconfig=drivers/pci \
#	--arch=x86_64-p2pdma

from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_PCIEPORTBUS=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV_NVME=y''',
			   qemu_arch='x86_64',
			   kernel_path='arch/x86/boot/bzImage',
			   kernel_command_line='console=ttyS0',
			   extra_qemu_params=[
				   '-M', 'q35', '-smp', '2',
				   '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1',
				   '-device', 'x3130-upstream,id=up1,bus=rp1',
				   '-device', 'xio3130-downstream,id=dn1,bus=up1,chassis=2',
				   '-device', 'xio3130-downstream,id=dn2,bus=up1,chassis=3',
				   '-drive', 'if=none,id=d1,file=null-co://,format=raw',
				   '-drive', 'if=none,id=d2,file=null-co://,format=raw',
				   '-device', 'nvme,serial=kunit1,drive=d1,bus=dn1,cmb_size_mb=16',
				   '-device', 'nvme,serial=kunit2,drive=d2,bus=dn2,cmb_size_mb=16',
			   ])
