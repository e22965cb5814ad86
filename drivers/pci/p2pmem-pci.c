// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem_pci: lend a memory BAR of any PCI function as peer-to-peer memory.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * An FPGA, an accelerator or a memory device without a driver of its own
 * becomes a p2pmem provider: the administrator binds this driver to it, and
 * a BAR (by default the largest prefetchable one, whole) is handed to the
 * P2PDMA core and published, so that orchestrators, the "p2pmem" sysfs
 * group and userspace see it like an NVMe controller memory buffer.  The
 * driver matches no device by itself:
 *
 *	echo p2pmem_pci > /sys/bus/pci/devices/0000:05:00.0/driver_override
 *	echo 0000:05:00.0 > /sys/bus/pci/drivers_probe
 *
 * The p2pmem_pci.lend parameter chooses the BAR, offset and size per
 * device.  See Documentation/driver-api/pci/p2pdma.rst.
 */

#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/string.h>

/* Most devices the lend parameter names. */
#define P2PMEM_PCI_MAX_LENDS	16

/**
 * struct p2pmem_pci_lend - what to lend of one device
 * @name: the device, as pci_name() prints it (a domain of up to 8 digits)
 * @bar: the BAR
 * @offset: where the lent range starts in the BAR
 * @size: its length; 0 for the rest of the BAR
 */
struct p2pmem_pci_lend {
	char name[24];
	int bar;
	u64 offset;
	u64 size;
};

static DEFINE_MUTEX(p2pmem_pci_lock);
static struct p2pmem_pci_lend p2pmem_pci_lends[P2PMEM_PCI_MAX_LENDS];
static unsigned int p2pmem_pci_nr_lends;	/* under p2pmem_pci_lock */

/*
 * A byte count: decimal or 0x-prefixed hex, optionally followed by one of
 * K, M, G (binary multiples).  Nothing else, no overflow.
 */
static int p2pmem_pci_parse_bytes(const char *s, size_t len, u64 *val)
{
	unsigned int shift = 0;
	char buf[24];
	u64 v;

	if (len && strchr("KMG", s[len - 1])) {
		shift = s[len - 1] == 'K' ? 10 : s[len - 1] == 'M' ? 20 : 30;
		len--;
	}
	/* No octal: a leading 0 is 0 itself or starts 0x. */
	if (!len || len >= sizeof(buf) || !isdigit(s[0]) ||
	    (len > 1 && s[0] == '0' && isdigit(s[1])))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (kstrtou64(buf, 0, &v) || v > U64_MAX >> shift)
		return -EINVAL;
	*val = v << shift;
	return 0;
}

/* DDDD:BB:DD.F=BAR[@OFFSET][+SIZE], exactly. */
static int p2pmem_pci_parse_lend(const char *s, size_t len,
				 struct p2pmem_pci_lend *lend)
{
	const char *eq = memchr(s, '=', len), *end = s + len, *p, *q;
	unsigned int dom, bus, dev, fn;
	char name[sizeof(lend->name)];
	int n;

	if (!eq || eq - s >= sizeof(name))
		return -EINVAL;
	memcpy(name, s, eq - s);
	name[eq - s] = '\0';
	if (sscanf(name, "%8x:%2x:%2x.%1u%n", &dom, &bus, &dev, &fn, &n) != 4 ||
	    n != eq - s || eq - s < 12 || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(lend->name, sizeof(lend->name), "%04x:%02x:%02x.%u", dom, bus,
		 dev, fn);
	if (strcasecmp(lend->name, name))
		return -EINVAL;

	p = eq + 1;
	if (p == end || p[0] < '0' || p[0] > '5')
		return -EINVAL;
	lend->bar = p[0] - '0';
	p++;

	lend->offset = 0;
	lend->size = 0;
	if (p < end && *p == '@') {
		q = memchr(p, '+', end - p) ?: end;
		if (p2pmem_pci_parse_bytes(p + 1, q - p - 1, &lend->offset))
			return -EINVAL;
		p = q;
	}
	if (p < end && *p == '+') {
		if (p2pmem_pci_parse_bytes(p + 1, end - p - 1, &lend->size) ||
		    !lend->size)
			return -EINVAL;
		p = end;
	}
	return p == end ? 0 : -EINVAL;
}

static int p2pmem_pci_lend_set(const char *val, const struct kernel_param *kp)
{
	struct p2pmem_pci_lend lends[P2PMEM_PCI_MAX_LENDS];
	size_t len = strlen(val);
	const char *p = val, *end;
	unsigned int n = 0, i;

	if (len && val[len - 1] == '\n')
		len--;
	end = val + len;
	while (p < end) {
		const char *comma = memchr(p, ',', end - p) ?: end;

		if (n == ARRAY_SIZE(lends) ||
		    p2pmem_pci_parse_lend(p, comma - p, &lends[n]))
			goto invalid;
		for (i = 0; i < n; i++)
			if (!strcmp(lends[i].name, lends[n].name))
				goto invalid;
		n++;
		p = comma == end ? end : comma + 1;
		if (comma != end && p == end)
			goto invalid;
	}

	mutex_lock(&p2pmem_pci_lock);
	memcpy(p2pmem_pci_lends, lends, n * sizeof(*lends));
	p2pmem_pci_nr_lends = n;
	mutex_unlock(&p2pmem_pci_lock);
	return 0;

invalid:
	pr_err_ratelimited("p2pmem_pci: lend: expected up to %d DDDD:BB:DD.F=BAR[@OFFSET][+SIZE] entries separated by commas; unchanged\n",
			   P2PMEM_PCI_MAX_LENDS);
	return -EINVAL;
}

static int p2pmem_pci_lend_get(char *buf, const struct kernel_param *kp)
{
	const struct p2pmem_pci_lend *l;
	unsigned int i;
	int len = 0;

	mutex_lock(&p2pmem_pci_lock);
	for (i = 0; i < p2pmem_pci_nr_lends; i++) {
		l = &p2pmem_pci_lends[i];
		len += scnprintf(buf + len, PAGE_SIZE - len, "%s%s=%d@%#llx",
				 i ? "," : "", l->name, l->bar, l->offset);
		if (l->size)
			len += scnprintf(buf + len, PAGE_SIZE - len, "+%#llx",
					 l->size);
	}
	mutex_unlock(&p2pmem_pci_lock);
	len += scnprintf(buf + len, PAGE_SIZE - len, "\n");
	return len;
}

static const struct kernel_param_ops p2pmem_pci_lend_ops = {
	.set = p2pmem_pci_lend_set,
	.get = p2pmem_pci_lend_get,
};
module_param_cb(lend, &p2pmem_pci_lend_ops, NULL, 0644);
MODULE_PARM_DESC(lend,
		 "What to lend per device: DDDD:BB:DD.F=BAR[@OFFSET][+SIZE],... (default: the largest prefetchable memory BAR, whole)");

/* The administrator's choice for @pdev, if any. */
static bool p2pmem_pci_lend_of(struct pci_dev *pdev,
			       struct p2pmem_pci_lend *lend)
{
	bool found = false;
	unsigned int i;

	mutex_lock(&p2pmem_pci_lock);
	for (i = 0; i < p2pmem_pci_nr_lends && !found; i++) {
		if (!strcmp(p2pmem_pci_lends[i].name, pci_name(pdev))) {
			*lend = p2pmem_pci_lends[i];
			found = true;
		}
	}
	mutex_unlock(&p2pmem_pci_lock);
	return found;
}

/* The largest prefetchable memory BAR, or -1. */
static int p2pmem_pci_default_bar(struct pci_dev *pdev)
{
	resource_size_t best_len = 0;
	int bar, best = -1;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		unsigned long flags = pci_resource_flags(pdev, bar);

		if (!(flags & IORESOURCE_MEM) || !(flags & IORESOURCE_PREFETCH))
			continue;
		if (pci_resource_len(pdev, bar) > best_len) {
			best_len = pci_resource_len(pdev, bar);
			best = bar;
		}
	}
	return best;
}

/* Refuse what cannot be lent, saying why; the core checks alignment. */
static int p2pmem_pci_check(struct pci_dev *pdev,
			    const struct p2pmem_pci_lend *lend)
{
	unsigned long flags = pci_resource_flags(pdev, lend->bar);
	resource_size_t len = pci_resource_len(pdev, lend->bar);

	if (flags & IORESOURCE_IO) {
		pci_err(pdev, "BAR %d is an I/O BAR; only memory can be lent\n",
			lend->bar);
		return -EINVAL;
	}
	if (!(flags & IORESOURCE_MEM) || !len) {
		pci_err(pdev, "BAR %d is not a memory BAR\n", lend->bar);
		return -EINVAL;
	}
	if (!PAGE_ALIGNED(lend->offset) || !PAGE_ALIGNED(lend->size)) {
		pci_err(pdev, "offset %#llx and size %#llx must be multiples of the page size\n",
			lend->offset, lend->size);
		return -EINVAL;
	}
	if (lend->offset >= len || lend->size > len - lend->offset) {
		pci_err(pdev, "offset %#llx + size %#llx is past the end of BAR %d (%pa bytes)\n",
			lend->offset, lend->size, lend->bar, &len);
		return -EINVAL;
	}
	return 0;
}

static int p2pmem_pci_probe(struct pci_dev *pdev,
			    const struct pci_device_id *id)
{
	struct p2pmem_pci_lend lend = { .bar = -1 };
	int ret;

	if (!p2pmem_pci_lend_of(pdev, &lend)) {
		lend.bar = p2pmem_pci_default_bar(pdev);
		if (lend.bar < 0) {
			pci_err(pdev, "no prefetchable memory BAR to lend; choose one with p2pmem_pci.lend=%s=BAR\n",
				pci_name(pdev));
			return -EINVAL;
		}
	}
	ret = p2pmem_pci_check(pdev, &lend);
	if (ret)
		return ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	/*
	 * Nobody else may map what peers will write to.  On a managed
	 * device the region goes back by itself, after the P2PDMA core's
	 * teardown, which was registered later.
	 */
	ret = pci_request_region(pdev, lend.bar, KBUILD_MODNAME);
	if (ret) {
		pci_err(pdev, "BAR %d is claimed by another driver\n",
			lend.bar);
		return -EBUSY;
	}

	ret = pci_p2pdma_add_resource(pdev, lend.bar, lend.size, lend.offset);
	if (ret)
		return ret;
	pci_p2pmem_publish(pdev, true);
	return 0;
}

/*
 * No remove: the P2PDMA core's own teardown (revoking mappings, waiting
 * for allocations) runs as device-managed cleanup on unbind, before the
 * region is released and the device disabled.
 */
static struct pci_driver p2pmem_pci_driver = {
	.name		= KBUILD_MODNAME,
	.probe		= p2pmem_pci_probe,
};
module_pci_driver(p2pmem_pci_driver);

MODULE_DESCRIPTION("Lend a PCI BAR as peer-to-peer DMA memory");
MODULE_LICENSE("GPL");
