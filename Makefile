# SPDX-License-Identifier: GPL-2.0
#
# p2pdma: the Linux PCI peer-to-peer DMA subsystem, as an overlay and patch
# series on Debian's linux-source-6.12.  See README.md.
#
#   make demo            boot the default topology and move data peer to peer
#   make check           every test CI runs; last line "N passed, N failed"
#   make check-debug     KUnit, integration and reliability on the debug kernel
#   make bench           our core against the base tree's, last line the speedup
#   make check-mutants   deliberate defects the suite must each notice
#   make patchset        a git format-patch series ($(OUT)/patchset); check-bisect
#   make deb             Debian packages (KCONFIG=.config) in $(OUT)/deb
#
# Variables: OUT (build output, default out), IMPL (ours|base), DEBUG (0|1),
# ARCH (x86_64|arm64|riscv64: the guests' architecture, default x86_64).

OUT    ?= out
IMPL   ?= ours
DEBUG  ?= 0
ARCH   ?= x86_64
export OUT := $(abspath $(OUT))
# Outputs of the other architectures carry its name; x86_64 keeps its paths.
ARCHSFX := $(if $(filter-out x86_64,$(ARCH)),-$(ARCH))
CROSS_x86_64  :=
CROSS_arm64   := aarch64-linux-gnu-
CROSS_riscv64 := riscv64-linux-gnu-

TAG     := $(IMPL)$(if $(filter 1,$(DEBUG)),-debug)
KERNEL  := $(OUT)/bzImage-$(TAG)
MODULES := $(OUT)/modules-$(TAG)
DEPS    := bc flex bison libelf-dev libssl-dev dwarves cpio ccache sparse \
	   qemu-system-x86 busybox-static fio linux-source-6.12 xz-utils \
	   python3 python3-ply python3-git iproute2 gcc libc6-dev make patch kmod \
	   perl xfsprogs debhelper rsync \
	   gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm \
	   gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-system-misc

.PHONY: all deps prepare kernel tools initramfs demo check check-static \
	kunit integration reliability check-debug check-debug-quick source \
	clean distclean help bench bench-smoke check-mutants \
	patchset check-bisect deb

all: kernel

help:
	@sed -n '3,/^# Variables/p' Makefile

deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "  DEPS    all installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "  DEPS    installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "Missing packages; as root, run:"; \
		echo "apt-get update && apt-get install -y --no-install-recommends" $$missing; \
		exit 1; fi
	@if [ "$$(id -u)" = 0 ]; then harness/cross-deps.sh; \
	elif ! dpkg --print-foreign-architectures | grep -qx arm64; then \
		echo "run as root: harness/cross-deps.sh (arm64/riscv64 guest userland)"; fi

prepare:
	@harness/prepare.sh $(OUT) $(IMPL)

kernel:
	@mkdir -p $(OUT)
	@harness/build-kernel.sh $(OUT) $(IMPL) $(DEBUG) $(ARCH)

# The test programs, and the topology tool built in the kernel tree it
# belongs to (tools/pci/p2pdma), all static for the guests' initramfs.
tools:
	@$(MAKE) -s -C tools/testing/selftests/p2pdma OUT=$(OUT)/tools$(ARCHSFX) \
		CROSS_COMPILE=$(CROSS_$(ARCH))
	@if [ "$(ARCH)" = x86_64 ]; then \
		harness/prepare.sh $(OUT) ours >/dev/null && \
		$(MAKE) -s -C $(OUT)/src-ours/tools/pci/p2pdma OUTPUT=$(OUT)/tools/ LDFLAGS=-static; fi

initramfs: tools
	@harness/mkinitramfs.sh $(OUT) $(ARCH)

# The two commands of a fresh clone install what they need first (deps).
demo: deps
	@$(MAKE) --no-print-directory kernel initramfs
	@IMPL=$(IMPL) harness/demo.sh $(KERNEL)

check: deps
	@IMPL=$(IMPL) DEBUG=$(DEBUG) harness/check.sh

kunit: kernel initramfs
	@IMPL=$(IMPL) DEBUG=$(DEBUG) harness/check.sh kunit

integration: kernel initramfs
	@IMPL=$(IMPL) DEBUG=$(DEBUG) harness/check.sh integration

reliability: kernel initramfs
	@IMPL=$(IMPL) DEBUG=$(DEBUG) harness/check.sh reliability

# The debug kernel (KASAN, lockdep, kmemleak, ...) through KUnit, the
# integration suite and the reliability scenarios; -quick is the subset
# that fits in CI next to "make check".
check-debug: deps
	@IMPL=$(IMPL) DEBUG=1 harness/check.sh debug

check-debug-quick:
	@IMPL=$(IMPL) DEBUG=1 harness/check.sh debug-quick

check-static: prepare
	@IMPL=$(IMPL) harness/check.sh static

# Both kernels booted alternately on bench.topo in five variants; see
# harness/bench.sh and BENCHMARKS.md.  bench-smoke: one short boot of each,
# no timing assertions.
bench:
	@harness/bench.sh

bench-smoke:
	@harness/bench.sh --smoke

# Deliberate defects, one at a time, each of which the suite must notice;
# see harness/mutants.sh and README.md ("Mutation check").  Needs root.
check-mutants: deps
	@harness/mutants.sh $(MUTANTS)

# Our work as a git format-patch series with a cover letter against the
# pinned base ($(OUT)/patchset); check-bisect applies it with git am,
# runs checkpatch on every patch and builds every step.
patchset:
	@harness/patchset.sh make

check-bisect:
	@harness/patchset.sh bisect

# Debian packages of the kernel with our series ($(OUT)/deb), from KCONFIG
# (default: /boot/config-$(uname -r), else Debian's 6.12 configuration).
deb:
	@harness/deb.sh build $(KCONFIG)

# A patched source tree for a real machine: configure it with your own
# .config (enable CONFIG_PCI_P2PDMA) and build it as usual.
source: prepare
	@echo "  SOURCE  $(OUT)/src-$(IMPL): Linux $$(cat $(OUT)/base-version) with p2pdma ($(IMPL))"
	@echo "          cd $(OUT)/src-$(IMPL) && cp /boot/config-\$$(uname -r) .config &&"
	@echo "          scripts/config -e PCI_P2PDMA && make olddefconfig && make -j\$$(nproc)"

clean:
	rm -rf $(OUT)/runs $(OUT)/tools $(OUT)/initramfs*

distclean:
	rm -rf $(OUT)
