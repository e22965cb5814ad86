// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA: the "p2pmem" sysfs group and userspace mappings.
 *
 * Copyright (c) 2026 The p2pdma authors
 */

#define pr_fmt(fmt) "pci-p2pdma: " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/pseudo_fs.h>
#include <linux/sizes.h>
#include <linux/sysfs.h>

#include "p2pdma.h"

/*
 * Every "allocate" file shares one address_space (bin_attribute::f_mapping
 * cannot tell files apart) and each provider owns a window of it: mmap()
 * moves the VMA's page offset into the window, so revoking one provider's
 * mappings leaves everybody else's alone.  A window spans 2^48 bytes;
 * larger mappings are refused.
 */
#define P2PMEM_WINDOW_PAGES	(1UL << (48 - PAGE_SHIFT))

/*
 * The provider behind a sysfs attribute of @dev.  The group exists only
 * while the provider does, and its removal waits for running handlers.
 */
static struct pci_p2pdma *p2pdma_of(struct device *dev)
{
	return rcu_dereference_protected(to_pci_dev(dev)->p2pdma, true);
}

/*
 * Userspace: mmap() of /sys/bus/pci/devices/.../p2pmem/allocate.
 *
 * Each mmap() takes one allocation the size of the VMA and inserts all of
 * its pages right away, so there is no fault handler to race with.  The
 * pool's own reference on each page (idle pages have refcount 1) moves to
 * the page table entry; when the last mapping or pin of a page goes, the
 * page comes back through p2pdma_page_free().  Hence the pins: one per page.
 */
#define P2PMEM_FS_MAGIC		0x70327066	/* "p2pf" */

/* The inode behind the shared address_space; set once, never freed. */
static struct inode *p2pmem_inode;

static int p2pmem_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, P2PMEM_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type p2pmem_fs_type = {
	.name		= "p2pmem",
	.init_fs_context = p2pmem_fs_init_fs_context,
	.kill_sb	= kill_anon_super,
};

/* Called before the first "allocate" file appears. */
static int p2pmem_inode_init(void)
{
	static DEFINE_MUTEX(lock);
	static struct vfsmount *mnt;
	static int mnt_count;
	struct inode *inode;
	int ret;

	guard(mutex)(&lock);
	if (p2pmem_inode)
		return 0;

	ret = simple_pin_fs(&p2pmem_fs_type, &mnt, &mnt_count);
	if (ret)
		return ret;

	inode = alloc_anon_inode(mnt->mnt_sb);
	if (IS_ERR(inode)) {
		simple_release_fs(&mnt, &mnt_count);
		return PTR_ERR(inode);
	}

	/* Pairs with the acquires in the open and revoke paths. */
	smp_store_release(&p2pmem_inode, inode);
	return 0;
}

static struct address_space *p2pmem_get_mapping(void)
{
	/* Pairs with p2pmem_inode_init(); the file exists, so it is set. */
	return smp_load_acquire(&p2pmem_inode)->i_mapping;
}

/**
 * p2pdma_revoke_mappings() - unmap @p2p's memory from every process
 * @p2p: the provider
 *
 * The next access to a page that was mapped faults with SIGBUS.
 */
void p2pdma_revoke_mappings(struct pci_p2pdma *p2p)
{
	/* Pairs with p2pmem_inode_init(). */
	struct inode *inode = smp_load_acquire(&p2pmem_inode);

	if (inode)
		unmap_mapping_pages(inode->i_mapping, p2p->window,
				    P2PMEM_WINDOW_PAGES, false);
}

/*
 * Every page was inserted at mmap() time.  A missing one was revoked
 * (provider gone) or discarded (MADV_DONTNEED) and will not come back.
 */
static vm_fault_t p2pmem_vma_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

/*
 * kernfs asks for write notification on all shared mappings, so a write
 * after mprotect() or soft-dirty tracking write-protected a page ends up
 * here.  The page stays where it is; return it locked so the core skips
 * its page->mapping check, which device pages never pass.
 */
static vm_fault_t p2pmem_vma_page_mkwrite(struct vm_fault *vmf)
{
	folio_lock(page_folio(vmf->page));
	return VM_FAULT_LOCKED;
}

static const struct vm_operations_struct p2pmem_vm_ops = {
	.fault		= p2pmem_vma_fault,
	.page_mkwrite	= p2pmem_vma_page_mkwrite,
};

/* Pages inserted per vm_insert_pages() call: one page table lock each. */
#define P2PMEM_INSERT_BATCH	32

/*
 * Move the pool's reference of each page to its page table entry.  If an
 * insertion fails, mmap_region() unmaps the half-built VMA, which frees the
 * pages inserted so far through page_free; the rest go back here.
 */
static int p2pmem_insert_pages(struct vm_area_struct *vma,
			       struct p2pdma_range *range, void *kaddr)
{
	unsigned long i, done, nr, left, nr_pages = vma_pages(vma);
	struct page *pages[P2PMEM_INSERT_BATCH];
	int ret = 0;

	for (done = 0; done < nr_pages && !ret; done += nr - left) {
		nr = min(nr_pages - done, (unsigned long)P2PMEM_INSERT_BATCH);
		for (i = 0; i < nr; i++)
			pages[i] = p2pdma_range_page(range, kaddr +
						     ((done + i) << PAGE_SHIFT));

		left = nr;
		ret = vm_insert_pages(vma, vma->vm_start + (done << PAGE_SHIFT),
				      pages, &left);
		for (i = 0; i < nr - left; i++)
			put_page(pages[i]);
	}
	if (ret)
		p2pdma_give_back(range, kaddr + (done << PAGE_SHIFT),
				 (nr_pages - done) << PAGE_SHIFT,
				 nr_pages - done);
	return ret;
}

/*
 * Why @vma cannot map "allocate", or NULL.  Offset 0 only: each mmap() is
 * a new allocation, not a window into a file.  MAP_SHARED only: a private
 * mapping would need copy-on-write of device memory.
 */
static const char *p2pdma_vma_refusal(struct vm_area_struct *vma)
{
	if (vma->vm_pgoff)
		return "must be mapped at offset 0";
	if (!(vma->vm_flags & VM_MAYSHARE))
		return "needs MAP_SHARED";
	if (vma_pages(vma) > P2PMEM_WINDOW_PAGES)
		return "is limited to 256 TiB per mapping";
	return NULL;
}

/*
 * The driver keeps unpublished memory for itself (-EPERM); a provider that
 * is going away has unpublished it on the way out (-ENODEV).  Teardown
 * marks it dying before it unpublishes it.
 */
static int p2pdma_check_published(struct pci_p2pdma *p2p)
{
	if (READ_ONCE(p2p->published))
		return 0;
	/* Pairs with the smp_wmb() in p2pdma_release(). */
	smp_rmb();
	if (!p2pdma_usable(p2p))
		return -ENODEV;
	pci_info_ratelimited(p2p->pdev, "p2pmem is not published (%s)\n",
			     current->comm);
	return -EPERM;
}

static int p2pdma_allocate_mmap(struct file *filp, struct kobject *kobj,
				struct bin_attribute *attr,
				struct vm_area_struct *vma)
{
	struct pci_dev *pdev = to_pci_dev(kobj_to_dev(kobj));
	const char *refusal = p2pdma_vma_refusal(vma);
	size_t len = vma->vm_end - vma->vm_start;
	struct p2pdma_range *range;
	void *kaddr;
	int ret;

	if (refusal) {
		pci_info_ratelimited(pdev, "p2pmem/allocate %s (%s)\n", refusal,
				     current->comm);
		return -EINVAL;
	}
	ret = p2pdma_check_published(p2pdma_of(&pdev->dev));
	if (ret)
		return ret;

	kaddr = p2pdma_alloc_pinned(pdev, len, vma_pages(vma), true, &range);
	if (!kaddr) {
		/* Pages a munmap() just parked count as free: take them. */
		p2pdma_reap_sync(p2pdma_of(&pdev->dev));
		kaddr = p2pdma_alloc_pinned(pdev, len, vma_pages(vma), true,
					    &range);
	}
	if (!kaddr) {
		pci_info_ratelimited(pdev, "%s: no %zu bytes of published p2pmem free\n",
				     current->comm, len);
		return -ENOMEM;
	}

	vma->vm_pgoff = range->p2p->window;
	vma->vm_ops = &p2pmem_vm_ops;
	/*
	 * Growing with mremap() is refused: the memory after the allocation
	 * belongs to others.  Core dumps skip it, like any device memory.
	 */
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);

	return p2pmem_insert_pages(vma, range, kaddr);
}

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct pci_p2pdma *p2p;
	size_t size = 0;

	p2p = p2pdma_of(dev);
	if (p2p)
		size = p2pdma_pool_size(p2p);

	return sysfs_emit(buf, "%zu\n", size);
}
static DEVICE_ATTR_RO(size);

static ssize_t available_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct pci_p2pdma *p2p;
	size_t avail = 0;

	p2p = p2pdma_of(dev);
	if (p2p) {
		/* Count pages userspace just let go of as free. */
		p2pdma_reap_sync(p2p);
		avail = p2pdma_pool_avail(p2p);
	}

	return sysfs_emit(buf, "%zu\n", avail);
}
static DEVICE_ATTR_RO(available);

static ssize_t published_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", pci_has_p2pmem(to_pci_dev(dev)));
}
static DEVICE_ATTR_RO(published);

/*
 * The size is not a limit: scripting languages (Python's mmap module)
 * refuse to map past the end of a file, so claim a size nobody reaches.
 */
static struct bin_attribute p2pdma_allocate_attr = {
	.size = SZ_1T,
	.f_mapping = p2pmem_get_mapping,
	.mmap = p2pdma_allocate_mmap,
	.attr = { .mode = 0660, .name = "allocate" },
};

static struct attribute *p2pdma_sysfs_attrs[] = {
	&dev_attr_available.attr, &dev_attr_published.attr,
	&dev_attr_size.attr, NULL
};

static struct bin_attribute *p2pdma_sysfs_bin_attrs[] = {
	&p2pdma_allocate_attr,
	NULL,
};

static const struct attribute_group p2pdma_sysfs_group = {
	.name = "p2pmem",
	.attrs = p2pdma_sysfs_attrs,
	.bin_attrs = p2pdma_sysfs_bin_attrs,
};

/* The next provider's window, handed out under p2pdma_lock. */
pgoff_t p2pdma_new_window(void)
{
	static pgoff_t next;
	pgoff_t window = next;

	lockdep_assert_held(&p2pdma_lock);
	next += P2PMEM_WINDOW_PAGES;
	return window;
}

/**
 * p2pdma_sysfs_add() - create the "p2pmem" group of a provider
 * @p2p: the provider, with its first range added
 *
 * Called under @p2p->ranges_lock.  Without the group the memory still
 * serves kernel users, so a failure is only logged.
 */
void p2pdma_sysfs_add(struct pci_p2pdma *p2p)
{
	int ret;

	lockdep_assert_held(&p2p->ranges_lock);
	ret = p2pmem_inode_init();
	if (!ret)
		ret = sysfs_create_group(&p2p->pdev->dev.kobj, &p2pdma_sysfs_group);
	if (ret) {
		pci_err(p2p->pdev, "cannot create the p2pmem sysfs group: %d\n",
			ret);
		return;
	}
	p2p->sysfs_added = true;
}

/**
 * p2pdma_sysfs_remove() - remove the "p2pmem" group of a provider
 * @p2p: the provider
 *
 * Waits for mmap() and show handlers that are running.  Called under
 * @p2p->ranges_lock.
 */
void p2pdma_sysfs_remove(struct pci_p2pdma *p2p)
{
	lockdep_assert_held(&p2p->ranges_lock);
	if (p2p->sysfs_added)
		sysfs_remove_group(&p2p->pdev->dev.kobj, &p2pdma_sysfs_group);
	p2p->sysfs_added = false;
}
