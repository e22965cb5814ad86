# SPDX-License-Identifier: GPL-2.0
#
# Filter a kernel log: drop the reports of known bugs of the base tree that
# the scenarios trigger whatever the p2pdma core, and print one line
#   p2pdma-known-report: WHAT
# in place of each.  Everything else passes through unchanged, so the usual
# BUG/WARNING/lockdep patterns still catch anything else.  Used on the guest
# (dmesg_clean, busybox awk) and on the host (check.sh, on console logs).
#
# Known reports:
# - pciehp's lock order: pciehp_ist() holds ctrl->reset_lock when
#   pciehp_unconfigure_device() takes pci_rescan_remove_lock, which then
#   drops and retakes reset_lock around each device's removal.  Lockdep
#   reports the cycle on the first removal through pciehp; the base tree's
#   own p2pdma kernel gives the identical report in the same scenario.
#   A report is dropped only if every lock in its chain is one of the two.

function flush(i, line, ours, others) {
	ours = 0
	others = 0
	for (i = 0; i < n; i++) {
		line = buf[i]
		if (line ~ /-> #[0-9]+ \(/) {
			if (line ~ /\(pci_rescan_remove_lock\)/ ||
			    line ~ /\(&ctrl->reset_lock(\/[0-9]+)?\)/)
				ours++
			else
				others++
		}
	}
	if (ours >= 2 && !others)
		print "p2pdma-known-report: pciehp lock order (ctrl->reset_lock vs pci_rescan_remove_lock), a base-tree lockdep report"
	else
		for (i = 0; i < n; i++)
			print buf[i]
	n = 0
	inblk = 0
}

/WARNING: possible circular locking dependency detected/ {
	if (inblk)
		flush()
	inblk = 1
}
inblk {
	buf[n++] = $0
	if ($0 ~ /<\/TASK>/)
		flush()
	next
}
{ print }
END {
	if (inblk)
		flush()
}
