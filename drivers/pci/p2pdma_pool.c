// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA: a provider's free space and the allocation API.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * genalloc owns the free space of all ranges of a provider, one bit per
 * page.  Allocations are whole pages: userspace gets pages, and a page
 * never holds two allocations, so a page can come back on its own.  Every
 * allocation also takes pins on the range it came from (its pgmap's percpu
 * ref), which is what keeps the memory mapped until it comes back.
 */

#define pr_fmt(fmt) "pci-p2pdma: " fmt

#include <linux/genalloc.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/percpu-refcount.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <kunit/visibility.h>

#include "p2pdma.h"

/* The range a page of peer-to-peer memory belongs to. */
static struct p2pdma_range *p2pdma_page_range(struct page *page)
{
	return container_of(page->pgmap, struct p2pdma_range, pgmap);
}

/* The kernel address of a page of peer-to-peer memory. */
static void *p2pdma_page_addr(struct page *page)
{
	struct p2pdma_range *range = p2pdma_page_range(page);
	unsigned long index;

	index = page_to_pfn(page) - PHYS_PFN(range->pgmap.range.start);
	return range->kaddr + (index << PAGE_SHIFT);
}

static void p2pdma_reap_work(struct work_struct *work);

int p2pdma_pool_init(struct pci_p2pdma *p2p, int nid)
{
	p2p->pool = gen_pool_create(PAGE_SHIFT, nid);
	if (!p2p->pool)
		return -ENOMEM;
	init_waitqueue_head(&p2p->idle_wq);
	spin_lock_init(&p2p->freed_lock);
	INIT_DELAYED_WORK(&p2p->reap_work, p2pdma_reap_work);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_init);

/* Only once nothing is allocated any more. */
void p2pdma_pool_destroy(struct pci_p2pdma *p2p)
{
	gen_pool_destroy(p2p->pool);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_destroy);

size_t p2pdma_pool_size(struct pci_p2pdma *p2p)
{
	return gen_pool_size(p2p->pool);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_size);

int p2pdma_pool_add(struct pci_p2pdma *p2p, struct p2pdma_range *range)
{
	return gen_pool_add_owner(p2p->pool, (unsigned long)range->kaddr,
				  range->pgmap.range.start, range->size,
				  dev_to_node(&p2p->pdev->dev), range);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_add);

/*
 * Safe in any context: genalloc's bitmap is updated with atomics.  What is
 * handed out is counted only by genalloc (per range): a provider-wide
 * counter would be one more cache line that every CPU allocating from the
 * provider writes on every allocation and free (rows sgl_mixed_xcpu_* of
 * make bench).
 */
static void *p2pdma_pool_alloc(struct pci_p2pdma *p2p, size_t size,
			       struct p2pdma_range **range)
{
	return (void *)gen_pool_alloc_owner(p2p->pool, size, (void **)range);
}

static void p2pdma_pool_free(struct pci_p2pdma *p2p, void *addr, size_t size)
{
	gen_pool_free(p2p->pool, (unsigned long)addr, size);
}

/* "available": the pool minus what is handed out, parked pages included. */
size_t p2pdma_pool_avail(struct pci_p2pdma *p2p)
{
	return gen_pool_avail(p2p->pool);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_avail);

bool p2pdma_pool_idle(struct pci_p2pdma *p2p)
{
	return p2pdma_pool_avail(p2p) == p2pdma_pool_size(p2p);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_pool_idle);

/* Must be called under rcu_read_lock(), see percpu_ref_tryget_live_rcu(). */
static bool p2pdma_range_pin(struct p2pdma_range *range, unsigned long nr)
{
	if (!percpu_ref_tryget_live_rcu(&range->pgmap.ref))
		return false;
	if (nr > 1)
		percpu_ref_get_many(&range->pgmap.ref, nr - 1);
	return true;
}

/**
 * p2pdma_give_back() - return memory to the pool and drop its pins
 * @range: the range it came from
 * @addr: its kernel address
 * @size: its size
 * @nr_pins: pins it holds on @range
 *
 * Runs in any context: page_free may be called from an I/O completion
 * interrupt.
 */
void p2pdma_give_back(struct p2pdma_range *range, void *addr, size_t size,
		      unsigned long nr_pins)
{
	struct pci_p2pdma *p2p = range->p2p;

	/*
	 * Teardown marks the provider dying and waits for an RCU grace period
	 * before it waits for the pool to be idle.  A free inside a read-side
	 * section therefore either sees "dying" and wakes teardown, or ends
	 * before the grace period does and is seen by teardown's first idle
	 * check.  That spares every free the full barrier wq_has_sleeper()
	 * would take (rows sgl_mixed_* of make bench).
	 */
	rcu_read_lock();
	p2pdma_pool_free(p2p, addr, size);
	if (unlikely(!p2pdma_usable(p2p)))
		wake_up(&p2p->idle_wq);
	rcu_read_unlock();
	/* Last: once the pins are gone the provider may be freed. */
	percpu_ref_put_many(&range->pgmap.ref, nr_pins);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_give_back);

/*
 * Pages that userspace mapped come back through page_free, called when
 * their refcount drops to 0; the core sets it back to 1 only after the
 * callback returns.  A page back in the pool before that could be handed
 * out with no reference at all (vm_insert_page() refuses it, a kernel user
 * would have its get_page() undone), so page_free only parks the page and
 * the reap work returns it once the reset is visible.
 *
 * Only the work reaps: a munmap() of a large mapping parks millions of
 * pages, and walking them belongs in process context with cond_resched(),
 * not in an allocation that may run with interrupts off.  It runs after
 * P2PDMA_REAP_DELAY so that one pass collects a whole munmap(); callers
 * that can sleep and need the pages now use p2pdma_reap_sync().
 */
#define P2PDMA_REAP_DELAY	msecs_to_jiffies(20)
/* Pages reaped between two chances to reschedule. */
#define P2PDMA_REAP_BATCH	512

static void p2pdma_page_free(struct page *page)
{
	struct pci_p2pdma *p2p;
	unsigned long flags;

	p2p = p2pdma_page_range(page)->p2p;
	spin_lock_irqsave(&p2p->freed_lock, flags);
	page->zone_device_data = p2p->freed;
	p2p->freed = page;
	spin_unlock_irqrestore(&p2p->freed_lock, flags);

	queue_delayed_work(system_wq, &p2p->reap_work, P2PDMA_REAP_DELAY);
}

const struct dev_pagemap_ops p2pdma_pgmap_ops = {
	.page_free = p2pdma_page_free,
};

/*
 * A run of neighbouring reaped pages: munmap() parks a mapping's pages one
 * after the other, so each run goes back as one block, which costs the
 * pool one free instead of one per page.
 */
struct p2pdma_run {
	struct page *first;
	unsigned long pfn;
	unsigned long nr;
};

static void p2pdma_run_give_back(struct p2pdma_run *run)
{
	struct page *first = run->first;

	if (!run->nr)
		return;
	p2pdma_give_back(p2pdma_page_range(first), p2pdma_page_addr(first),
			 run->nr << PAGE_SHIFT, run->nr);
	run->nr = 0;
}

/* Add @page to @run if it is a neighbour in the same range, else flush. */
static void p2pdma_run_add(struct p2pdma_run *run, struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	if (run->nr && page->pgmap == run->first->pgmap) {
		if (pfn + 1 == run->pfn) {
			run->first = page;
			run->pfn = pfn;
			run->nr++;
			return;
		}
		if (pfn == run->pfn + run->nr) {
			run->nr++;
			return;
		}
	}
	p2pdma_run_give_back(run);
	run->first = page;
	run->pfn = pfn;
	run->nr = 1;
}

/*
 * Return every parked page whose refcount is back to 1 to the pool; the
 * others are parked again.  Process context only.
 */
static void p2pdma_reap(struct pci_p2pdma *p2p)
{
	struct page *page, *next, *keep = NULL, *keep_last = NULL;
	struct p2pdma_run run = { .nr = 0 };
	unsigned long flags, seen = 0;

	spin_lock_irqsave(&p2p->freed_lock, flags);
	page = p2p->freed;
	p2p->freed = NULL;
	spin_unlock_irqrestore(&p2p->freed_lock, flags);

	for (; page; page = next) {
		next = page->zone_device_data;
		if (page_ref_count(page) != 1) {
			page->zone_device_data = keep;
			keep = page;
			if (!keep_last)
				keep_last = page;
		} else {
			page->zone_device_data = NULL;
			p2pdma_run_add(&run, page);
		}
		if (!(++seen % P2PDMA_REAP_BATCH))
			cond_resched();
	}
	p2pdma_run_give_back(&run);

	if (keep) {
		spin_lock_irqsave(&p2p->freed_lock, flags);
		keep_last->zone_device_data = p2p->freed;
		p2p->freed = keep;
		spin_unlock_irqrestore(&p2p->freed_lock, flags);
	}
}

static void p2pdma_reap_work(struct work_struct *work)
{
	struct pci_p2pdma *p2p = container_of(to_delayed_work(work),
					      struct pci_p2pdma, reap_work);

	p2pdma_reap(p2p);
	/* A page caught between page_free and its reset: look again soon. */
	if (READ_ONCE(p2p->freed))
		queue_delayed_work(system_wq, &p2p->reap_work, 1);
}

/**
 * p2pdma_reap_sync() - return parked pages to the pool now
 * @p2p: the provider
 *
 * Runs the reap work at once and waits for it.  May sleep.
 */
void p2pdma_reap_sync(struct pci_p2pdma *p2p)
{
	if (!READ_ONCE(p2p->freed))
		return;
	mod_delayed_work(system_wq, &p2p->reap_work, 0);
	flush_delayed_work(&p2p->reap_work);
}

/*
 * Allocate and pin, see p2pdma_alloc_pinned().  Inlined into its callers,
 * so that the one-pin, published-or-not allocation of kernel users tests
 * neither and the allocation API makes no call of its own before genalloc
 * (rows sgl_mixed_* of make bench).
 */
static __always_inline void *p2pdma_alloc(struct pci_dev *pdev, size_t size,
					  unsigned long nr_pins,
					  bool need_published,
					  struct p2pdma_range **rangep)
{
	struct p2pdma_range *range;
	struct pci_p2pdma *p2p;
	void *addr = NULL;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (!p2p || !p2pdma_usable(p2p) ||
	    (need_published && !READ_ONCE(p2p->published)))
		goto out;

	addr = p2pdma_pool_alloc(p2p, size, &range);
	if (!addr) {
		/* Pages parked by a munmap() will be back shortly. */
		if (READ_ONCE(p2p->freed))
			mod_delayed_work(system_wq, &p2p->reap_work, 0);
		goto out;
	}

	if (!p2pdma_range_pin(range, nr_pins)) {
		p2pdma_pool_free(p2p, addr, size);
		addr = NULL;
		goto out;
	}
	*rangep = range;
out:
	rcu_read_unlock();
	return addr;
}

/**
 * p2pdma_alloc_pinned() - allocate and pin peer-to-peer memory
 * @pdev: the provider
 * @size: bytes, rounded up to whole pages
 * @nr_pins: pins to take on the range the memory comes from
 * @need_published: fail unless the provider is published
 * @rangep: set to that range
 *
 * A provider being torn down is marked dying before teardown waits for its
 * allocations (after an RCU grace period), so an allocation either fails
 * or is counted in what teardown waits for.  Safe in atomic context.
 *
 * Return: the kernel address of the memory, or NULL.
 */
void *p2pdma_alloc_pinned(struct pci_dev *pdev, size_t size,
			  unsigned long nr_pins, bool need_published,
			  struct p2pdma_range **rangep)
{
	return p2pdma_alloc(pdev, size, nr_pins, need_published, rangep);
}

/**
 * pci_alloc_p2pmem() - allocate peer-to-peer memory
 * @pdev: the provider to allocate from
 * @size: number of bytes; rounded up to whole pages
 *
 * The allocation keeps the provider's memory mapped until it is returned
 * with pci_free_p2pmem(), even if the provider is unbound or removed in the
 * meantime: teardown waits for it.  Safe in atomic context.
 *
 * Return: the kernel address of the memory, or NULL if @pdev has no
 * peer-to-peer memory, it is going away, or not enough is free.
 */
void *pci_alloc_p2pmem(struct pci_dev *pdev, size_t size)
{
	struct p2pdma_range *range;

	if (!size)
		return NULL;
	return p2pdma_alloc(pdev, size, 1, false, &range);
}
EXPORT_SYMBOL_GPL(pci_alloc_p2pmem);

/*
 * The range of @pdev's memory holding @addr, or NULL.  Called under
 * rcu_read_lock(); &pci_dev.p2pdma stays set while any allocation is out.
 * A walk of the provider's few ranges, which stay in cache.  The struct
 * page of @addr would name its range in ten instructions fewer, but the
 * struct pages of a large BAR span tens of MiB and the one of a completing
 * request is usually not in cache.
 */
static __always_inline struct p2pdma_range *
p2pdma_addr_range(struct pci_dev *pdev, void *addr)
{
	struct pci_p2pdma *p2p = rcu_dereference(pdev->p2pdma);

	return p2p ? p2pdma_find_range(p2p, addr) : NULL;
}

/**
 * pci_free_p2pmem() - return memory from pci_alloc_p2pmem()
 * @pdev: the provider it was allocated from
 * @addr: what pci_alloc_p2pmem() returned; NULL is ignored
 * @size: the size that was asked for
 *
 * Safe in any context.
 */
void pci_free_p2pmem(struct pci_dev *pdev, void *addr, size_t size)
{
	struct p2pdma_range *range;

	if (!addr)
		return;

	rcu_read_lock();
	range = p2pdma_addr_range(pdev, addr);
	if (!WARN(!range, "%s: %p is not peer-to-peer memory of this device\n",
		  pci_name(pdev), addr))
		p2pdma_give_back(range, addr, size, 1);
	rcu_read_unlock();
}
EXPORT_SYMBOL_GPL(pci_free_p2pmem);

/**
 * pci_p2pmem_virt_to_bus() - PCI bus address of peer-to-peer memory
 * @pdev: the provider the memory came from
 * @addr: an address inside an allocation from @pdev
 *
 * This is the address a peer below the same bridge must use.  Devices that
 * reach the memory through the host bridge need a DMA mapping instead
 * (dma_map_sg() and friends do that, see pci_p2pdma_map_segment()).
 *
 * Return: the bus address, or 0 if @addr is not peer-to-peer memory of @pdev.
 */
pci_bus_addr_t pci_p2pmem_virt_to_bus(struct pci_dev *pdev, void *addr)
{
	struct p2pdma_range *range;
	pci_bus_addr_t bus = 0;

	if (!addr)
		return 0;

	rcu_read_lock();
	range = p2pdma_addr_range(pdev, addr);
	if (range)
		bus = range->pgmap.range.start + (addr - range->kaddr) +
		      range->bus_off;
	rcu_read_unlock();
	return bus;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_virt_to_bus);

/**
 * pci_p2pmem_alloc_sgl() - allocate peer-to-peer memory in a scatterlist
 * @pdev: the provider to allocate from
 * @nents: set to the number of entries of the returned list
 * @length: number of bytes
 *
 * The memory is physically contiguous, so the list has a single entry.
 * Free it with pci_p2pmem_free_sgl().  May sleep.
 *
 * Return: the scatterlist, or NULL on failure.
 */
struct scatterlist *pci_p2pmem_alloc_sgl(struct pci_dev *pdev,
					 unsigned int *nents, u32 length)
{
	struct p2pdma_range *range;
	struct scatterlist *list;
	void *mem;

	mem = length ? p2pdma_alloc(pdev, length, 1, false, &range) : NULL;
	if (!mem)
		return NULL;

	/*
	 * One entry, as the allocator hands out contiguous blocks; its page
	 * comes from the range, not from virt_to_page() as in sg_init_one().
	 * Initialized in place rather than by sg_init_table(), a call and a
	 * memset() for 32 bytes (rows sgl_mixed_* of make bench).
	 */
	list = kmalloc(sizeof(*list), GFP_KERNEL);
	if (!list) {
		p2pdma_give_back(range, mem, length, 1);
		return NULL;
	}
	*nents = 1;
	*list = (struct scatterlist){};
	sg_set_page(list, p2pdma_range_page(range, mem), length, 0);
	sg_mark_end(list);
	return list;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_alloc_sgl);

/**
 * pci_p2pmem_free_sgl() - free a list from pci_p2pmem_alloc_sgl()
 * @pdev: the provider the memory came from
 * @sgl: the list
 */
void pci_p2pmem_free_sgl(struct pci_dev *pdev, struct scatterlist *sgl)
{
	struct scatterlist *entry = sgl;

	/* pci_p2pmem_alloc_sgl() gives one entry, but free a whole list. */
	while (entry) {
		pci_free_p2pmem(pdev, sg_virt(entry), entry->length);
		entry = sg_next(entry);
	}
	kfree(sgl);
}
EXPORT_SYMBOL_GPL(pci_p2pmem_free_sgl);
