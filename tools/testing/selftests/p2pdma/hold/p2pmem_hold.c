// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem_hold: kernel allocations of peer-to-peer memory held on demand, so
 * that unbinding or removing a provider can be tested while a kernel user
 * still has its memory (the role an NVMe-oF target plays with an RDMA
 * client, which QEMU cannot provide).
 *
 * Uses only the public API, so it builds against any kernel with
 * CONFIG_PCI_P2PDMA.  One debugfs file, p2pmem_hold/hold:
 *
 *	write "BDF BYTES"	pci_alloc_p2pmem() BYTES from device BDF and
 *				fill them with a pattern
 *	write "release"		check every pattern, then pci_free_p2pmem()
 *				it all; -EIO if a pattern was lost
 *	read			"BDF BYTES" per allocation held
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

struct hold {
	struct list_head node;
	struct pci_dev *pdev;
	void *addr;
	size_t size;
	u8 pattern;
};

static LIST_HEAD(holds);
static DEFINE_MUTEX(holds_lock);
static struct dentry *hold_dir;
static u8 next_pattern = 0x5a;

static int hold_alloc(const char *name, size_t size)
{
	struct device *dev;
	struct hold *h;

	dev = bus_find_device_by_name(&pci_bus_type, NULL, name);
	if (!dev)
		return -ENODEV;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h) {
		put_device(dev);
		return -ENOMEM;
	}
	h->pdev = to_pci_dev(dev);
	h->size = size;
	h->addr = pci_alloc_p2pmem(h->pdev, size);
	if (!h->addr) {
		pci_dev_put(h->pdev);
		kfree(h);
		return -ENOMEM;
	}
	if (!pci_p2pmem_virt_to_bus(h->pdev, h->addr))
		pr_warn("%s: no bus address for %p\n", name, h->addr);

	mutex_lock(&holds_lock);
	h->pattern = next_pattern++;
	memset(h->addr, h->pattern, size);
	list_add_tail(&h->node, &holds);
	mutex_unlock(&holds_lock);
	return 0;
}

static bool hold_intact(const struct hold *h)
{
	return !memchr_inv(h->addr, h->pattern, h->size);
}

/* Free everything; false if some memory did not hold its pattern. */
static bool hold_release_all(void)
{
	struct hold *h, *tmp;
	bool intact = true;

	mutex_lock(&holds_lock);
	list_for_each_entry_safe(h, tmp, &holds, node) {
		if (!hold_intact(h)) {
			pr_err("%s: %zu bytes at %p lost their pattern\n",
			       pci_name(h->pdev), h->size, h->addr);
			intact = false;
		}
		list_del(&h->node);
		pci_free_p2pmem(h->pdev, h->addr, h->size);
		pci_dev_put(h->pdev);
		kfree(h);
	}
	mutex_unlock(&holds_lock);
	return intact;
}

static ssize_t hold_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	char buf[64], name[32];
	unsigned long size;
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	if (sysfs_streq(buf, "release"))
		return hold_release_all() ? count : -EIO;

	if (sscanf(buf, "%31s %lu", name, &size) != 2 || !size)
		return -EINVAL;
	ret = hold_alloc(name, size);
	return ret ? ret : count;
}

static int hold_show(struct seq_file *m, void *v)
{
	struct hold *h;

	mutex_lock(&holds_lock);
	list_for_each_entry(h, &holds, node)
		seq_printf(m, "%s %zu\n", pci_name(h->pdev), h->size);
	mutex_unlock(&holds_lock);
	return 0;
}

static int hold_open(struct inode *inode, struct file *file)
{
	return single_open(file, hold_show, NULL);
}

static const struct file_operations hold_fops = {
	.owner = THIS_MODULE,
	.open = hold_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = hold_write,
};

static int __init hold_init(void)
{
	hold_dir = debugfs_create_dir("p2pmem_hold", NULL);
	debugfs_create_file("hold", 0600, hold_dir, NULL, &hold_fops);
	return 0;
}
module_init(hold_init);

static void __exit hold_exit(void)
{
	debugfs_remove_recursive(hold_dir);
	hold_release_all();
}
module_exit(hold_exit);

MODULE_DESCRIPTION("Hold peer-to-peer memory allocations for removal tests");
MODULE_LICENSE("GPL");
