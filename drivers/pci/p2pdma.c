// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA (P2PDMA) core: providers and their lifetime.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * A provider lends ranges of one of its memory BARs to its peers.  Each range
 * gets struct pages (ZONE_DEVICE, MEMORY_DEVICE_PCI_P2PDMA) so block, RDMA and
 * userspace code can treat it like memory, and a pool hands it out
 * (p2pdma_pool.c).  Clients are the devices that DMA to or from that memory;
 * whether a pair may do so at all, and with which addresses, is decided from
 * the PCI topology (p2pdma_route.c).  See
 * Documentation/driver-api/pci/p2pdma.rst.
 */

#define pr_fmt(fmt) "pci-p2pdma: " fmt

#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "p2pdma.h"

/* Serializes changes to p2pdma_providers; readers use RCU. */
DEFINE_MUTEX(p2pdma_lock);
LIST_HEAD(p2pdma_providers);

/* How long teardown waits between complaints about memory still in use. */
#define P2PDMA_WAIT_WARN	(10 * HZ)

/**
 * pci_has_p2pmem() - does a device offer published peer-to-peer memory?
 * @pdev: the device
 *
 * Return: true if @pdev has peer-to-peer memory that its driver published.
 */
bool pci_has_p2pmem(struct pci_dev *pdev)
{
	const struct pci_p2pdma *p2p;

	guard(rcu)();
	p2p = rcu_dereference(pdev->p2pdma);
	return p2p && READ_ONCE(p2p->published) && p2pdma_usable(p2p);
}
EXPORT_SYMBOL_GPL(pci_has_p2pmem);

/**
 * pci_p2pmem_publish() - offer a provider's memory to everybody
 * @pdev: the provider
 * @publish: true to publish, false to keep the memory for its own driver
 *
 * Published memory is what pci_p2pmem_find_many() returns, what the nvmet
 * "p2pmem" attribute accepts and what the sysfs "allocate" file maps.
 */
void pci_p2pmem_publish(struct pci_dev *pdev, bool publish)
{
	struct pci_p2pdma *p2p;

	guard(rcu)();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p)
		WRITE_ONCE(p2p->published, publish);
}
EXPORT_SYMBOL_GPL(pci_p2pmem_publish);

/*
 * Provider lifetime.
 *
 * The first pci_p2pdma_add_resource() creates the provider and makes it
 * device-managed; the first range that is added creates the sysfs group.
 * Teardown, on unbind or removal:
 *
 * 1. unpublish and mark dying: pci_p2pmem_find_many() and nvmet stop
 *    choosing it, and new allocations fail;
 * 2. remove the sysfs group: kernfs waits for running mmap() handlers, and
 *    no new one can start;
 * 3. wait for RCU: every allocation that did not see "dying" is counted;
 * 4. revoke userspace mappings: the next access gets SIGBUS, and pages not
 *    pinned elsewhere come back right away;
 * 5. wait for every allocation (kernel users, pinned pages under DMA) to
 *    come back, complaining every P2PDMA_WAIT_WARN;
 * 6. unlink from pdev->p2pdma and the provider list, wait for RCU, and
 *    memunmap_pages() each range.
 *
 * Until step 6 frees still find the provider through pdev->p2pdma.
 */

/*
 * Revoke again on every round: an mmap() that was inside the handler while
 * the group was removed links its VMA into the address_space only after the
 * handler returned, so the first revocation can miss it.
 */
static void p2pdma_wait_idle(struct pci_p2pdma *p2p)
{
	unsigned long start = jiffies;

	while (!wait_event_timeout(p2p->idle_wq, p2pdma_pool_idle(p2p), HZ)) {
		p2pdma_revoke_mappings(p2p);
		p2pdma_reap_sync(p2p);
		if (time_after(jiffies, start + P2PDMA_WAIT_WARN)) {
			pci_warn(p2p->pdev, "%zu bytes of peer-to-peer memory still in use, waiting\n",
				 p2pdma_pool_size(p2p) - p2pdma_pool_avail(p2p));
			start = jiffies;
		}
	}
	/* Every page is back, so nothing can queue the work any more. */
	cancel_delayed_work_sync(&p2p->reap_work);
}

/* Free a provider that nothing can reach any more. */
static void p2pdma_free(struct pci_p2pdma *p2p)
{
	struct p2pdma_range *range, *tmp;

	list_for_each_entry_safe(range, tmp, &p2p->ranges, node) {
		list_del(&range->node);
		memunmap_pages(&range->pgmap);
		kfree(range);
	}
	xa_destroy(&p2p->map_types);
	p2pdma_pool_destroy(p2p);
	mutex_destroy(&p2p->ranges_lock);
	kfree(p2p);
}

/* devres action: tear the provider down, see "Provider lifetime". */
static void p2pdma_release(void *data)
{
	struct pci_p2pdma *p2p = data;

	WRITE_ONCE(p2p->dying, true);
	/* Pairs with the smp_rmb() in p2pdma_check_published(). */
	smp_wmb();
	WRITE_ONCE(p2p->published, false);
	mutex_lock(&p2p->ranges_lock);
	p2pdma_sysfs_remove(p2p);
	mutex_unlock(&p2p->ranges_lock);
	synchronize_rcu();

	p2pdma_revoke_mappings(p2p);
	p2pdma_wait_idle(p2p);

	mutex_lock(&p2pdma_lock);
	list_del_rcu(&p2p->node);
	RCU_INIT_POINTER(p2p->pdev->p2pdma, NULL);
	mutex_unlock(&p2pdma_lock);
	synchronize_rcu();
	p2pdma_free(p2p);
}

/*
 * The provider of @pdev, created and made device-managed if it has none.
 * Called under p2pdma_lock: two first adds must not create two providers.
 */
static struct pci_p2pdma *p2pdma_get_or_create(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;
	int ret;

	lockdep_assert_held(&p2pdma_lock);
	p2p = rcu_dereference_protected(pdev->p2pdma,
					lockdep_is_held(&p2pdma_lock));
	if (p2p)
		return p2p;

	p2p = kzalloc(sizeof(*p2p), GFP_KERNEL);
	if (!p2p)
		return ERR_PTR(-ENOMEM);

	ret = p2pdma_pool_init(p2p, dev_to_node(&pdev->dev));
	if (ret) {
		kfree(p2p);
		return ERR_PTR(ret);
	}
	p2p->pdev = pdev;
	mutex_init(&p2p->ranges_lock);
	INIT_LIST_HEAD(&p2p->ranges);
	xa_init_flags(&p2p->map_types, XA_FLAGS_LOCK_IRQ);
	p2p->window = p2pdma_new_window();

	/* Not _or_reset: the release action takes p2pdma_lock. */
	ret = devm_add_action(&pdev->dev, p2pdma_release, p2p);
	if (ret) {
		p2pdma_free(p2p);
		return ERR_PTR(ret);
	}

	list_add_tail_rcu(&p2p->node, &p2pdma_providers);
	rcu_assign_pointer(pdev->p2pdma, p2p);
	return p2p;
}

/*
 * The range must be a memory BAR slice aligned the way memremap_pages()
 * needs: arch_add_memory() takes whole subsections (SPARSEMEM_VMEMMAP,
 * which ZONE_DEVICE depends on), for both start and size.
 */
static int p2pdma_check_bar(struct pci_dev *pdev, int bar, size_t *size,
			    u64 offset)
{
	resource_size_t start, len;

	if (bar < 0 || bar >= PCI_STD_NUM_BARS ||
	    !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM) ||
	    (pci_resource_flags(pdev, bar) & IORESOURCE_UNSET)) {
		pci_err(pdev, "BAR %d is not an assigned memory BAR, no peer-to-peer memory there\n",
			bar);
		return -EINVAL;
	}

	len = pci_resource_len(pdev, bar);
	if (offset >= len) {
		pci_err(pdev, "offset %#llx is outside BAR %d (%pa bytes)\n",
			offset, bar, &len);
		return -EINVAL;
	}

	if (!*size)
		*size = len - offset;
	if (*size > len - offset) {
		pci_err(pdev, "%#zx bytes at offset %#llx do not fit in BAR %d (%pa bytes)\n",
			*size, offset, bar, &len);
		return -EINVAL;
	}

	start = pci_resource_start(pdev, bar) + offset;
	if (!IS_ALIGNED(start, SUBSECTION_SIZE) ||
	    !IS_ALIGNED(*size, SUBSECTION_SIZE)) {
		pci_err(pdev, "BAR %d range %pa + %#zx is not %#lx aligned as memremap_pages() requires\n",
			bar, &start, *size, SUBSECTION_SIZE);
		return -EINVAL;
	}
	return 0;
}

static bool p2pdma_range_overlaps(struct pci_p2pdma *p2p, struct range *r)
{
	struct p2pdma_range *range;

	list_for_each_entry(range, &p2p->ranges, node)
		if (r->start <= range->pgmap.range.end &&
		    range->pgmap.range.start <= r->end)
			return true;
	return false;
}

/*
 * Create struct pages for the range and hand it to the pool.  Called under
 * @p2p->ranges_lock only: memremap_pages() takes the memory hotplug lock
 * and may take long, and must not hold up PCI hotplug on p2pdma_lock.
 */
static int p2pdma_range_add(struct pci_p2pdma *p2p, int bar, size_t size,
			    u64 offset)
{
	struct pci_dev *pdev = p2p->pdev;
	struct p2pdma_range *range;
	void *kaddr;
	int ret;

	lockdep_assert_held(&p2p->ranges_lock);
	range = kzalloc(sizeof(*range), GFP_KERNEL);
	if (!range)
		return -ENOMEM;

	range->p2p = p2p;
	range->size = size;
	range->bus_off = pci_bus_address(pdev, bar) -
			 pci_resource_start(pdev, bar);
	range->pgmap.range.start = pci_resource_start(pdev, bar) + offset;
	range->pgmap.range.end = range->pgmap.range.start + size - 1;
	range->pgmap.nr_range = 1;
	range->pgmap.type = MEMORY_DEVICE_PCI_P2PDMA;
	range->pgmap.ops = &p2pdma_pgmap_ops;

	if (p2pdma_range_overlaps(p2p, &range->pgmap.range)) {
		pci_err(pdev, "BAR %d [mem %#llx-%#llx] already holds peer-to-peer memory\n",
			bar, range->pgmap.range.start, range->pgmap.range.end);
		ret = -EBUSY;
		goto free;
	}

	kaddr = memremap_pages(&range->pgmap, dev_to_node(&pdev->dev));
	if (IS_ERR(kaddr)) {
		ret = PTR_ERR(kaddr);
		pci_err(pdev, "cannot create struct pages for BAR %d [mem %#llx-%#llx]: %d\n",
			bar, range->pgmap.range.start, range->pgmap.range.end,
			ret);
		goto free;
	}
	range->kaddr = kaddr;

	ret = p2pdma_pool_add(p2p, range);
	if (ret) {
		memunmap_pages(&range->pgmap);
		goto free;
	}

	list_add_tail_rcu(&range->node, &p2p->ranges);
	pci_info(pdev, "peer-to-peer DMA memory in BAR %d: [mem %#llx-%#llx]\n",
		 bar, range->pgmap.range.start, range->pgmap.range.end);
	return 0;

free:
	kfree(range);
	return ret;
}

/**
 * pci_p2pdma_add_resource() - lend part of a BAR as peer-to-peer memory
 * @pdev: the provider
 * @bar: a memory BAR of @pdev
 * @size: bytes to lend; 0 means the rest of the BAR after @offset
 * @offset: where the range starts inside the BAR
 *
 * Start and size must be aligned to a memory subsection (2 MiB on most
 * architectures).  A device may add several ranges; the first one creates
 * the "p2pmem" sysfs group.  Everything is undone automatically when the
 * driver unbinds: outstanding allocations are waited for and userspace
 * mappings revoked.  A range that fails to be added leaves those already
 * added alone.  The memory is private to the caller until
 * pci_p2pmem_publish().  May sleep.
 *
 * Return: 0 on success, -EINVAL for a range that is not usable, -EBUSY if
 * it overlaps one already added, or another negative errno.
 */
int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar, size_t size,
			    u64 offset)
{
	struct pci_p2pdma *p2p;
	int ret;

	ret = p2pdma_check_bar(pdev, bar, &size, offset);
	if (ret)
		return ret;

	mutex_lock(&p2pdma_lock);
	p2p = p2pdma_get_or_create(pdev);
	mutex_unlock(&p2pdma_lock);
	if (IS_ERR(p2p))
		return PTR_ERR(p2p);

	mutex_lock(&p2p->ranges_lock);
	ret = p2pdma_range_add(p2p, bar, size, offset);
	if (!ret && !p2p->sysfs_added)
		p2pdma_sysfs_add(p2p);
	mutex_unlock(&p2p->ranges_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_add_resource);

/*
 * configfs/sysfs helpers for "use p2pmem" attributes (nvmet's ns/p2pmem).
 */

/* Exact words only: kstrtobool() would read "no:such:dev" as "no". */
static int p2pdma_parse_bool(const char *word, bool *val)
{
	static const char * const yes[] = { "1", "y", "yes", "on", "true" };
	static const char * const no[] = { "0", "n", "no", "off", "false" };
	int i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(word, yes[i])) {
			*val = true;
			return 0;
		}
		if (!strcasecmp(word, no[i])) {
			*val = false;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Shaped like pci_name(): a domain of four or more hex digits, then
 * ":bb:dd.f" as in this template ('x' a hex digit, 'd' a decimal one).
 */
static bool p2pdma_looks_like_pci_name(const char *s)
{
	static const char tail[] = ":xx:xx.d";
	const size_t tail_len = sizeof(tail) - 1;
	size_t len = strlen(s), dom, i;

	if (len < 4 + tail_len)
		return false;

	dom = len - tail_len;
	for (i = 0; i < dom; i++)
		if (!isxdigit(s[i]))
			return false;

	for (i = 0; i < tail_len; i++) {
		char c = s[dom + i];
		bool ok;

		switch (tail[i]) {
		case 'x':
			ok = isxdigit(c);
			break;
		case 'd':
			ok = isdigit(c);
			break;
		default:
			ok = c == tail[i];
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Longest word accepted: a PCI name with a 32-bit domain ("ffffffff:..")
 * is 17 characters.
 */
#define P2PDMA_ENABLE_WORD_MAX	24

/**
 * pci_p2pdma_enable_store() - parse a "use p2pmem" attribute write
 * @page: what userspace wrote (at most one trailing newline)
 * @p2p_dev: set to the named provider, with a reference; left alone for
 *	a boolean word (callers pass NULL)
 * @use_p2pdma: set to whether p2pmem should be used
 *
 * Accepts exactly the name of a PCI device that has published
 * peer-to-peer memory (as pci_name() prints it), which selects that
 * provider, or a boolean word: 0 1 n y no yes off on false true in any
 * case, which turns p2pmem off or on with the provider left for
 * pci_p2pmem_find_many() to choose.  A device name overwrites *@p2p_dev
 * without dropping whatever it pointed to: the caller owns the previous
 * reference.  Nothing is changed on error.
 *
 * Return: 0 on success; -ENODEV for anything else, as in Linux 6.12: a
 * PCI device name that does not exist or has no published p2pmem, or a
 * string that is neither a name nor a boolean word.
 */
int pci_p2pdma_enable_store(const char *page, struct pci_dev **p2p_dev,
			    bool *use_p2pdma)
{
	char word[P2PDMA_ENABLE_WORD_MAX];
	size_t len = strlen(page);
	struct pci_dev *pdev;
	struct device *dev;
	bool val;

	if (len && page[len - 1] == '\n')
		len--;
	if (!len || len >= sizeof(word) || memchr(page, '\n', len))
		goto invalid;
	memcpy(word, page, len);
	word[len] = '\0';

	if (!p2pdma_parse_bool(word, &val)) {
		*use_p2pdma = val;
		return 0;
	}

	dev = bus_find_device_by_name(&pci_bus_type, NULL, word);
	if (!dev) {
		if (!p2pdma_looks_like_pci_name(word))
			goto invalid;
		pr_err_ratelimited("p2pmem: no PCI device %s\n", word);
		return -ENODEV;
	}

	pdev = to_pci_dev(dev);
	if (!pci_has_p2pmem(pdev)) {
		dev_err_ratelimited(&pdev->dev, "p2pmem: device has no published peer-to-peer memory\n");
		pci_dev_put(pdev);
		return -ENODEV;
	}

	*p2p_dev = pdev;
	*use_p2pdma = true;
	return 0;

invalid:
	pr_err_ratelimited("p2pmem: expected a PCI device with p2pmem or one of 0 1 n y no yes off on false true, got \"%*pE\"\n",
			   (int)min_t(size_t, len, P2PDMA_ENABLE_WORD_MAX),
			   page);
	return -ENODEV;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_enable_store);

/**
 * pci_p2pdma_enable_show() - show a "use p2pmem" attribute
 * @page: the buffer (a page)
 * @p2p_dev: the selected provider, or NULL
 * @use_p2pdma: whether p2pmem is used
 *
 * The output reads back through pci_p2pdma_enable_store() unchanged.
 *
 * Return: the number of characters written: "0", "1" (any provider) or
 * the selected provider's name, followed by a newline.
 */
ssize_t pci_p2pdma_enable_show(char *page, struct pci_dev *p2p_dev,
			       bool use_p2pdma)
{
	const char *choice = "0";

	if (use_p2pdma)
		choice = p2p_dev ? pci_name(p2p_dev) : "1";
	return scnprintf(page, PAGE_SIZE, "%s\n", choice);
}
EXPORT_SYMBOL_GPL(pci_p2pdma_enable_show);

static int __init p2pdma_init(void)
{
	int ret;

	ret = p2pdma_route_init();
	if (ret)
		return ret;
	p2pdma_debugfs_init();
	return 0;
}
postcore_initcall_sync(p2pdma_init);
