// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA (P2PDMA) core.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * A provider lends ranges of one of its memory BARs to its peers.  Each range
 * gets struct pages (ZONE_DEVICE, MEMORY_DEVICE_PCI_P2PDMA) so block, RDMA and
 * userspace code can treat it like memory, and a pool hands it out.  Clients
 * are the devices that DMA to or from that memory; whether a pair may do so
 * at all, and with which addresses, is decided from the PCI topology.  See
 * Documentation/driver-api/pci/p2pdma.rst for the rules.
 */

#define pr_fmt(fmt) "pci-p2pdma: " fmt

#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/fs.h>
#include <linux/genalloc.h>
#include <linux/hash.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/percpu-refcount.h>
#include <linux/pseudo_fs.h>
#include <linux/random.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/sched.h>
#include <linux/seqlock.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <kunit/visibility.h>
#ifdef CONFIG_X86
#include <asm/processor.h>
#endif

#include "p2pdma.h"

/**
 * struct p2pdma_range - one BAR range lent by a provider
 * @p2p: the provider
 * @node: entry in &pci_p2pdma.ranges
 * @kaddr: kernel address of the first byte (memremap_pages() maps it into
 *	the linear map, so virt_to_page() works on it)
 * @size: length in bytes
 * @bus_off: PCI bus address minus CPU physical address in this BAR; a peer
 *	reached without the host bridge must be given bus addresses
 * @pgmap: the ZONE_DEVICE map.  Its percpu ref is the pin every allocation
 *	holds: memunmap_pages() cannot finish while one is held, and once it
 *	has killed the ref no new allocation can start.  Last member because
 *	struct dev_pagemap ends in a flexible array.
 */
struct p2pdma_range {
	struct pci_p2pdma *p2p;
	struct list_head node;
	void *kaddr;
	size_t size;
	u64 bus_off;
	struct dev_pagemap pgmap;
};

/* Verdicts each provider caches, see "Map-type cache". */
#define P2PDMA_CACHE_BITS	6
#define P2PDMA_CACHE_SLOTS	BIT(P2PDMA_CACHE_BITS)

/**
 * struct pci_p2pdma - provider state behind &pci_dev.p2pdma
 * @pdev: the providing function
 * @node: entry in p2pdma_providers (protected by p2pdma_lock)
 * @ranges: list of &struct p2pdma_range (changed under p2pdma_lock)
 * @pool: free space of all ranges; only the p2pdma_pool_*() helpers touch it,
 *	as they do @pcp, @pcp_max and @in_use
 * @pcp: per-CPU caches of free blocks in front of @pool
 * @pcp_max: most bytes one CPU's cache may hold
 * @in_use: bytes handed out (whole pages), see p2pdma_pool_avail()
 * @map_cache_lock: serializes stores to @map_cache with its flushes
 * @map_cache: cached verdicts per client, see "Map-type cache" below
 * @idle_wq: teardown waits here for outstanding allocations to come back
 * @freed_lock: protects @freed
 * @freed: pages userspace let go of, waiting for their refcount to be reset
 *	before they rejoin the pool; chained through page->zone_device_data
 * @reap_work: returns @freed pages to the pool
 * @window: first page offset of this provider in the address_space shared
 *	by all "allocate" files; mappings are revoked window by window
 * @published: other drivers and userspace may allocate from this provider
 * @sysfs_added: the "p2pmem" group exists
 *
 * Readers find it through &pci_dev.p2pdma under RCU, or through a page's
 * pgmap (which the page keeps alive).  It is freed only after every
 * allocation has come back, so holding an allocation keeps it valid.
 */
struct pci_p2pdma {
	struct pci_dev *pdev;
	struct list_head node;
	struct list_head ranges;
	struct gen_pool *pool;
	struct p2pdma_pcp __percpu *pcp;
	size_t pcp_max;
	atomic_long_t in_use;
	spinlock_t map_cache_lock;	/* serializes stores with flushes */
	/* Its own cache lines: @in_use changes on every allocation. */
	atomic64_t map_cache[P2PDMA_CACHE_SLOTS] ____cacheline_aligned_in_smp;
	wait_queue_head_t idle_wq;
	spinlock_t freed_lock;		/* protects @freed */
	struct page *freed;
	struct delayed_work reap_work;
	pgoff_t window;
	bool published;
	bool sysfs_added;
};

/* Serializes provider creation and removal; guards p2pdma_providers. */
static DEFINE_MUTEX(p2pdma_lock);
static LIST_HEAD(p2pdma_providers);

/*
 * Every "allocate" file shares one address_space (bin_attribute::f_mapping
 * cannot tell files apart) and each provider owns a window of it: mmap()
 * moves the VMA's page offset into the window, so revoking one provider's
 * mappings leaves everybody else's alone.  A window spans 2^48 bytes;
 * larger mappings are refused.
 */
#define P2PMEM_WINDOW_PAGES	(1UL << (48 - PAGE_SHIFT))
static pgoff_t p2pdma_next_window;	/* protected by p2pdma_lock */

/* How long teardown waits between complaints about memory still in use. */
#define P2PDMA_WAIT_WARN	(10 * HZ)

/*
 * The allocator.  Only these helpers know how free space is tracked, so a
 * faster allocator can replace genalloc without touching anything else.
 * Allocations are whole pages: userspace gets pages, and a page never holds
 * two allocations, so a page can go back on its own.  All of them are safe
 * in atomic context.
 *
 * genalloc owns the free space.  In front of it every CPU keeps a few freed
 * blocks of each power-of-two size from one page up to P2PDMA_PCP_ORDERS - 1,
 * so a buffer freed and allocated again on one CPU (one per I/O request, the
 * common pattern) never touches the shared bitmap.  Cached blocks are free
 * memory:
 *
 * - "available" is the pool size minus the bytes handed out (@in_use), so
 *   it counts cached blocks as free and stays exact whatever the caches hold;
 * - when genalloc cannot satisfy a request, every CPU's cache goes back to
 *   genalloc and the request is tried again, so cached blocks never make an
 *   allocation fail that would succeed without caches;
 * - each CPU caches at most @pcp_max bytes (1/8 of the pool shared by all
 *   possible CPUs): a block that does not fit flushes the CPU's cache.
 *
 * The helpers of the allocation and free paths are always inlined, so that
 * on a cache hit pci_alloc_p2pmem() and pci_free_p2pmem() are one function
 * each: these run once per I/O.
 */
#define P2PDMA_PCP_ORDERS	9	/* one page to 256 pages (1 MiB) */
#define P2PDMA_PCP_DEPTH	8	/* blocks per size and CPU */

/**
 * struct p2pdma_pcp - one CPU's cache of free blocks
 * @lock: taken by its CPU, and by others only to flush the cache
 * @bytes: the sum of the sizes of the cached blocks
 * @nr: number of cached blocks of each order
 * @blocks: kernel addresses of the cached blocks, per order
 */
struct p2pdma_pcp {
	raw_spinlock_t lock;
	size_t bytes;
	u8 nr[P2PDMA_PCP_ORDERS];
	void *blocks[P2PDMA_PCP_ORDERS][P2PDMA_PCP_DEPTH];
};

static struct p2pdma_range *p2pdma_page_range(struct page *page)
{
	return container_of(page->pgmap, struct p2pdma_range, pgmap);
}

/* The cache order of a @size byte allocation, or -1 if it is not cached. */
static __always_inline int p2pdma_pcp_order(size_t size)
{
	size_t pages = DIV_ROUND_UP(size, PAGE_SIZE);

	if (!is_power_of_2(pages) || pages >= 1UL << P2PDMA_PCP_ORDERS)
		return -1;
	return ilog2(pages);
}

/* Give every block of @pcp back to genalloc.  Called with @pcp->lock held. */
static bool p2pdma_pcp_flush(struct pci_p2pdma *p2p, struct p2pdma_pcp *pcp)
{
	bool flushed = pcp->bytes;
	int order;

	for (order = 0; order < P2PDMA_PCP_ORDERS; order++) {
		while (pcp->nr[order]) {
			void *addr = pcp->blocks[order][--pcp->nr[order]];

			gen_pool_free(p2p->pool, (unsigned long)addr,
				      PAGE_SIZE << order);
		}
	}
	pcp->bytes = 0;
	return flushed;
}

static bool p2pdma_pcp_flush_all(struct pci_p2pdma *p2p)
{
	unsigned long flags;
	bool flushed = false;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct p2pdma_pcp *pcp = per_cpu_ptr(p2p->pcp, cpu);

		/* Unlocked peek: a block cached meanwhile can wait. */
		if (!data_race(pcp->bytes))
			continue;
		raw_spin_lock_irqsave(&pcp->lock, flags);
		flushed |= p2pdma_pcp_flush(p2p, pcp);
		raw_spin_unlock_irqrestore(&pcp->lock, flags);
	}
	return flushed;
}

/*
 * The lock, not disabled preemption, protects a cache: a task that moves to
 * another CPU meanwhile still uses the cache correctly, only remotely.
 */
static __always_inline void *p2pdma_pcp_pop(struct pci_p2pdma *p2p,
					    int order)
{
	struct p2pdma_pcp *pcp = raw_cpu_ptr(p2p->pcp);
	unsigned long flags;
	void *addr = NULL;

	raw_spin_lock_irqsave(&pcp->lock, flags);
	if (pcp->nr[order]) {
		addr = pcp->blocks[order][--pcp->nr[order]];
		pcp->bytes -= PAGE_SIZE << order;
	}
	raw_spin_unlock_irqrestore(&pcp->lock, flags);
	return addr;
}

static __always_inline bool p2pdma_pcp_push(struct pci_p2pdma *p2p,
					    int order, void *addr)
{
	struct p2pdma_pcp *pcp = raw_cpu_ptr(p2p->pcp);
	size_t size = PAGE_SIZE << order, max = READ_ONCE(p2p->pcp_max);
	unsigned long flags;
	bool cached = false;

	if (size > max)
		return false;

	raw_spin_lock_irqsave(&pcp->lock, flags);
	if (pcp->bytes + size > max)
		p2pdma_pcp_flush(p2p, pcp);
	if (pcp->nr[order] < P2PDMA_PCP_DEPTH) {
		pcp->blocks[order][pcp->nr[order]++] = addr;
		pcp->bytes += size;
		cached = true;
	}
	raw_spin_unlock_irqrestore(&pcp->lock, flags);
	return cached;
}

static int p2pdma_pool_init(struct pci_p2pdma *p2p, int nid)
{
	int cpu;

	p2p->pcp = alloc_percpu(struct p2pdma_pcp);
	if (!p2p->pcp)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		raw_spin_lock_init(&per_cpu_ptr(p2p->pcp, cpu)->lock);

	p2p->pool = gen_pool_create(PAGE_SHIFT, nid);
	if (!p2p->pool) {
		free_percpu(p2p->pcp);
		return -ENOMEM;
	}
	atomic_long_set(&p2p->in_use, 0);
	return 0;
}

/* Only once nothing is allocated any more. */
static void p2pdma_pool_destroy(struct pci_p2pdma *p2p)
{
	p2pdma_pcp_flush_all(p2p);
	gen_pool_destroy(p2p->pool);
	free_percpu(p2p->pcp);
}

static size_t p2pdma_pool_size(struct pci_p2pdma *p2p)
{
	return gen_pool_size(p2p->pool);
}

static int p2pdma_pool_add(struct pci_p2pdma *p2p, struct p2pdma_range *range)
{
	int ret;

	ret = gen_pool_add_owner(p2p->pool, (unsigned long)range->kaddr,
				 range->pgmap.range.start, range->size,
				 dev_to_node(&p2p->pdev->dev), range);
	if (!ret)
		WRITE_ONCE(p2p->pcp_max, p2pdma_pool_size(p2p) /
					 (8 * num_possible_cpus()));
	return ret;
}

static __always_inline void *p2pdma_pool_alloc(struct pci_p2pdma *p2p,
					       size_t size,
					       struct p2pdma_range **range)
{
	int order = p2pdma_pcp_order(size);
	void *addr = NULL;

	if (order >= 0)
		addr = p2pdma_pcp_pop(p2p, order);
	if (addr) {
		*range = p2pdma_page_range(virt_to_page(addr));
	} else {
		addr = (void *)gen_pool_alloc_owner(p2p->pool, size,
						    (void **)range);
		if (!addr && p2pdma_pcp_flush_all(p2p))
			addr = (void *)gen_pool_alloc_owner(p2p->pool, size,
							    (void **)range);
		if (!addr)
			return NULL;
	}
	atomic_long_add(PAGE_ALIGN(size), &p2p->in_use);
	return addr;
}

static __always_inline void p2pdma_pool_free(struct pci_p2pdma *p2p,
					     void *addr, size_t size)
{
	int order = p2pdma_pcp_order(size);

	if (order < 0 || !p2pdma_pcp_push(p2p, order, addr))
		gen_pool_free(p2p->pool, (unsigned long)addr, size);
	atomic_long_sub(PAGE_ALIGN(size), &p2p->in_use);
}

static size_t p2pdma_pool_avail(struct pci_p2pdma *p2p)
{
	return p2pdma_pool_size(p2p) - atomic_long_read(&p2p->in_use);
}

static bool p2pdma_pool_idle(struct pci_p2pdma *p2p)
{
	return !atomic_long_read(&p2p->in_use);
}

/* Must be called under rcu_read_lock(), see percpu_ref_tryget_live_rcu(). */
static bool p2pdma_range_pin(struct p2pdma_range *range, unsigned long nr)
{
	if (!percpu_ref_tryget_live_rcu(&range->pgmap.ref))
		return false;
	if (nr > 1)
		percpu_ref_get_many(&range->pgmap.ref, nr - 1);
	return true;
}

static void p2pdma_range_unpin(struct p2pdma_range *range, unsigned long nr)
{
	percpu_ref_put_many(&range->pgmap.ref, nr);
}

/*
 * Return @size bytes at @addr to the pool and drop @nr_pins pins.  Runs in
 * any context: page_free may be called from an I/O completion interrupt.
 */
static __always_inline void p2pdma_give_back(struct p2pdma_range *range,
					     void *addr, size_t size,
					     unsigned long nr_pins)
{
	struct pci_p2pdma *p2p = range->p2p;

	p2pdma_pool_free(p2p, addr, size);
	/* wq_has_sleeper() orders the free before teardown's idle check. */
	if (wq_has_sleeper(&p2p->idle_wq))
		wake_up(&p2p->idle_wq);
	/* Last: once the pins are gone the provider may be freed. */
	p2pdma_range_unpin(range, nr_pins);
}

/*
 * Pages that userspace mapped come back through page_free, called when
 * their refcount drops to 0; the core sets it back to 1 only after the
 * callback returns.  A page back in the pool before that could be handed
 * out with no reference at all (vm_insert_page() refuses it, a kernel user
 * would have its get_page() undone), so page_free only parks the page and
 * the pool takes it once the reset is visible.
 *
 * Allocations and "available" reap parked pages themselves, so the worker
 * only bounds how long they stay parked when nobody asks.  It runs after
 * P2PDMA_REAP_DELAY rather than at once: waking it for every munmap() would
 * cost that path two context switches.
 */
#define P2PDMA_REAP_DELAY	msecs_to_jiffies(20)

static void p2pdma_page_free(struct page *page)
{
	struct pci_p2pdma *p2p = p2pdma_page_range(page)->p2p;
	unsigned long flags;

	spin_lock_irqsave(&p2p->freed_lock, flags);
	page->zone_device_data = p2p->freed;
	p2p->freed = page;
	spin_unlock_irqrestore(&p2p->freed_lock, flags);

	queue_delayed_work(system_wq, &p2p->reap_work, P2PDMA_REAP_DELAY);
}

/* Put a list of parked pages back, for a later reap. */
static void p2pdma_repark(struct pci_p2pdma *p2p, struct page *first,
			  struct page *last)
{
	unsigned long flags;

	spin_lock_irqsave(&p2p->freed_lock, flags);
	last->zone_device_data = p2p->freed;
	p2p->freed = first;
	spin_unlock_irqrestore(&p2p->freed_lock, flags);
}

/* Give back @nr parked pages from @first on, each holding one pin. */
static void p2pdma_give_back_pages(struct page *first, unsigned long nr)
{
	p2pdma_give_back(p2pdma_page_range(first), page_to_virt(first),
			 nr << PAGE_SHIFT, nr);
}

/*
 * Return every parked page whose refcount is back to 1 to the pool; the
 * others stay parked.  Safe in any context.  Returns how many came back.
 *
 * munmap() parks a mapping's pages one after the other, so the list holds
 * runs of neighbours: each run goes back as one block, which costs the pool
 * one free instead of one per page and lets the next mapping of that size
 * reuse it whole.
 */
static unsigned long p2pdma_reap(struct pci_p2pdma *p2p)
{
	struct page *page, *next, *first = NULL, *last = NULL, *run = NULL;
	unsigned long flags, pfn, run_pfn = 0, run_len = 0, nr = 0;

	spin_lock_irqsave(&p2p->freed_lock, flags);
	page = p2p->freed;
	p2p->freed = NULL;
	spin_unlock_irqrestore(&p2p->freed_lock, flags);

	for (; page; page = next) {
		next = page->zone_device_data;
		if (page_ref_count(page) != 1) {
			page->zone_device_data = first;
			first = page;
			if (!last)
				last = page;
			continue;
		}
		page->zone_device_data = NULL;
		nr++;

		/* Grow the run at either end, within one range (pool chunk). */
		pfn = page_to_pfn(page);
		if (run_len && page->pgmap == run->pgmap) {
			if (pfn + 1 == run_pfn) {
				run = page;
				run_pfn = pfn;
				run_len++;
				continue;
			}
			if (pfn == run_pfn + run_len) {
				run_len++;
				continue;
			}
		}
		if (run_len)
			p2pdma_give_back_pages(run, run_len);
		run = page;
		run_pfn = pfn;
		run_len = 1;
	}
	if (run_len)
		p2pdma_give_back_pages(run, run_len);

	if (first)
		p2pdma_repark(p2p, first, last);
	return nr;
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

/*
 * Allocate @size bytes from @pdev and take @nr_pins pins on the range they
 * came from.  A provider being torn down has already left pdev->p2pdma or
 * killed its pgmap ref; either way the allocation fails instead of handing
 * out memory that is about to disappear.
 */
static __always_inline void *p2pdma_alloc_pinned(struct pci_dev *pdev,
						 size_t size,
						 unsigned long nr_pins,
						 bool need_published,
						 struct p2pdma_range **rangep)
{
	struct p2pdma_range *range;
	struct pci_p2pdma *p2p;
	void *addr = NULL;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (!p2p || (need_published && !READ_ONCE(p2p->published)))
		goto out;

	/* Pages userspace let go of rejoin the pool first. */
	if (READ_ONCE(p2p->freed))
		p2pdma_reap(p2p);
	addr = p2pdma_pool_alloc(p2p, size, &range);
	if (!addr && p2pdma_reap(p2p))
		addr = p2pdma_pool_alloc(p2p, size, &range);
	if (!addr)
		goto out;

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

static const struct dev_pagemap_ops p2pdma_pgmap_ops = {
	.page_free = p2pdma_page_free,
};

/* The range @addr was allocated from, or NULL if it is not p2pmem of @pdev. */
static __always_inline struct p2pdma_range *
p2pdma_addr_range(struct pci_dev *pdev, void *addr)
{
	struct p2pdma_range *range;
	struct page *page;

	if (!addr || !virt_addr_valid(addr))
		return NULL;

	page = virt_to_page(addr);
	if (!is_pci_p2pdma_page(page))
		return NULL;

	range = p2pdma_page_range(page);
	return range->p2p->pdev == pdev ? range : NULL;
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
	return p2pdma_alloc_pinned(pdev, size, 1, false, &range);
}
EXPORT_SYMBOL_GPL(pci_alloc_p2pmem);

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

	range = p2pdma_addr_range(pdev, addr);
	if (WARN(!range, "%s: %p is not peer-to-peer memory of this device\n",
		 pci_name(pdev), addr))
		return;

	p2pdma_give_back(range, addr, size, 1);
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
	struct p2pdma_range *range = p2pdma_addr_range(pdev, addr);

	if (!range)
		return 0;
	return virt_to_phys(addr) + range->bus_off;
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
	void *buf = pci_alloc_p2pmem(pdev, length);
	struct scatterlist *sgl;

	if (!buf)
		return NULL;

	sgl = kmalloc(sizeof(*sgl), GFP_KERNEL);
	if (!sgl) {
		pci_free_p2pmem(pdev, buf, length);
		return NULL;
	}

	/* One entry: the allocator hands out contiguous blocks. */
	sg_init_one(sgl, buf, length);
	*nents = 1;
	return sgl;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_alloc_sgl);

/**
 * pci_p2pmem_free_sgl() - free a list from pci_p2pmem_alloc_sgl()
 * @pdev: the provider the memory came from
 * @sgl: the list
 */
void pci_p2pmem_free_sgl(struct pci_dev *pdev, struct scatterlist *sgl)
{
	struct scatterlist *sg;

	for (sg = sgl; sg; sg = sg_next(sg))
		pci_free_p2pmem(pdev, sg_virt(sg), sg->length);
	kfree(sgl);
}
EXPORT_SYMBOL_GPL(pci_p2pmem_free_sgl);

/*
 * Topology.
 *
 * Everything below runs in atomic context too (pci_p2pdma_map_segment() is
 * called from dma_map_sg()), so it walks bus->self pointers (p2pdma_up()),
 * reads config space (pci_lock is a raw spinlock) and never sleeps, except
 * where the may_sleep argument says otherwise.
 */

/*
 * The bridge above @dev, as pci_upstream_bridge() has it: a root bus has
 * no ->self, and a VF's bus may be a virtual one without a bridge, so a VF
 * steps from its PF.  Always inlined: the walks below run on the first
 * question about every pair, where every call costs.
 */
static __always_inline struct pci_dev *p2pdma_up(struct pci_dev *dev)
{
	return pci_physfn(dev)->bus->self;
}

/*
 * Find the nearest device at or above both @a and @b (a bridge, or one of
 * them when the other is the same device or below it) and the number of
 * steps each takes to reach it.  Returns false if they share only the host
 * bridge, as devices in different domains do.
 */
static bool p2pdma_common_bridge(struct pci_dev *a, struct pci_dev *b,
				 int *a_hops, int *b_hops)
{
	struct pci_dev *up, *down;
	int ah, bh;

	for (up = a, ah = 0; up; up = p2pdma_up(up), ah++) {
		for (down = b, bh = 0; down; down = p2pdma_up(down), bh++) {
			if (down == up) {
				*a_hops = ah;
				*b_hops = bh;
				return true;
			}
		}
	}
	return false;
}

static int p2pdma_hops_to_root_bus(struct pci_dev *dev)
{
	int hops = 0;

	while ((dev = p2pdma_up(dev)))
		hops++;
	return hops;
}

static struct pci_bus *p2pdma_root_bus(struct pci_dev *dev)
{
	struct pci_bus *bus = dev->bus;

	while (!pci_is_root_bus(bus))
		bus = bus->parent;
	return bus;
}

/*
 * With ACS P2P Request Redirect, Completion Redirect or Egress Control a port
 * sends peer-to-peer requests up to the root complex instead of across the
 * switch.  A failed read counts as redirecting: we cannot prove otherwise.
 * Out of line: the stack frame of the read stays off the walk.
 */
static noinline bool p2pdma_acs_redirects(struct pci_dev *port)
{
	u16 ctrl;

	if (!port->acs_cap)
		return false;
	if (pci_read_config_word(port, port->acs_cap + PCI_ACS_CTRL, &ctrl))
		return true;
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * The first bridge that redirects upstream on the way between @a and @b
 * through their shared bridge, @a_hops steps above @a and @b_hops above @b,
 * or NULL.  @a's side is searched first.  Both devices are included, should
 * they be bridges themselves; the shared bridge is not: that is where the
 * request turns around.  Endpoints are skipped: their ACS controls only
 * traffic between their own functions.  *@live is set if a port on the way
 * has ACS controls, i.e. the answer came from config space and may change
 * without any device coming or going.
 *
 * One loop for both sides, without calls: this runs on the first question
 * about every pair.
 */
static struct pci_dev *p2pdma_acs_blocker(struct pci_dev *a, int a_hops,
					  struct pci_dev *b, int b_hops,
					  bool *live)
{
	struct pci_dev *dev = a;
	int hops = a_hops;

	for (;;) {
		if (!hops) {
			if (!b)
				return NULL;
			/* Now @b's side. */
			dev = b;
			hops = b_hops;
			b = NULL;
			continue;
		}
		if (dev->acs_cap && pci_is_bridge(dev)) {
			*live = true;
			if (p2pdma_acs_redirects(dev))
				return dev;
		}
		dev = p2pdma_up(dev);
		hops--;
	}
}

/*
 * Host bridges are identified by the function at devfn 00.0 of their root
 * bus.  pci_get_slot() sleeps on pci_bus_sem, which the DMA mapping path
 * cannot, so the bus notifier keeps a copy of each root bus's 00.0
 * vendor << 16 | device here, keyed by p2pdma_root_key().
 */
static DEFINE_XARRAY(p2pdma_root_ids);

static unsigned long p2pdma_root_key(struct pci_bus *root)
{
	return (unsigned long)(u32)pci_domain_nr(root) << 8 | root->number;
}

static u32 p2pdma_root_id(struct pci_bus *root)
{
	void *entry = xa_load(&p2pdma_root_ids, p2pdma_root_key(root));

	return xa_is_value(entry) ? xa_to_value(entry) : 0;
}

static bool p2pdma_is_root_dev0(struct pci_dev *pdev)
{
	return pci_is_root_bus(pdev->bus) && pdev->devfn == PCI_DEVFN(0, 0);
}

/* The function at 00.0 of @root, unreferenced: only used for reporting. */
static struct pci_dev *p2pdma_root_dev0(struct pci_bus *root)
{
	struct pci_dev *dev0 = pci_get_slot(root, PCI_DEVFN(0, 0));

	pci_dev_put(dev0);
	return dev0;
}

/*
 * Root complexes known to forward peer-to-peer requests between their root
 * ports, by the vendor and device ID of the function at 00.0 of the root
 * bus.  Everything else needs the CPU rule or the host_bridges parameter.
 */
static bool p2pdma_rc_allowlisted(u32 id)
{
	if (id >> 16 != PCI_VENDOR_ID_INTEL)
		return false;

	switch (id & 0xffff) {
	case 0x3c00:		/* Xeon E5 v1, Core i7 Extreme (Sandy Bridge-E) */
	case 0x0e00:		/* Xeon E5 v2 (Ivy Bridge-EP/E) */
	case 0x2f00:		/* Xeon E5 v3 (Haswell-EP/E) */
	case 0x6f00:		/* Xeon E5 v4 (Broadwell-EP/E) */
	case 0x2030 ... 0x2033:	/* Xeon Scalable (Skylake-SP), per mesh stop */
	case 0x09a2:		/* 3rd generation Xeon Scalable (Ice Lake-SP) */
		return true;
	default:
		return false;
	}
}

/*
 * The p2pdma.host_bridges override, readable in any context.  The seqlock
 * (not a mutex, not kmalloc) also lets the parameter be set from the kernel
 * command line before the slab allocator is up.
 */
static DEFINE_SEQLOCK(p2pdma_override_lock);
static u32 p2pdma_override_ids[P2PDMA_MAX_HOST_BRIDGES];
static unsigned int p2pdma_nr_overrides;

static unsigned int p2pdma_overrides_snapshot(u32 *ids)
{
	unsigned int seq, n;

	do {
		seq = read_seqbegin(&p2pdma_override_lock);
		n = p2pdma_nr_overrides;
		memcpy(ids, p2pdma_override_ids, n * sizeof(*ids));
	} while (read_seqretry(&p2pdma_override_lock, seq));
	return n;
}

static bool p2pdma_overridden(u32 id)
{
	u32 ids[P2PDMA_MAX_HOST_BRIDGES];
	unsigned int i, n = p2pdma_overrides_snapshot(ids);

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/**
 * p2pdma_cpu_routes_p2p() - does this CPU's root complex route P2P?
 *
 * AMD's Zen root complexes (family 17h and later) forward peer-to-peer
 * requests between all of their root ports, whatever the host bridge IDs.
 *
 * Return: true on such a CPU.
 */
VISIBLE_IF_KUNIT bool p2pdma_cpu_routes_p2p(void)
{
#ifdef CONFIG_X86
	return boot_cpu_data.x86_vendor == X86_VENDOR_AMD &&
	       boot_cpu_data.x86 >= 0x17;
#else
	return false;
#endif
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_cpu_routes_p2p);

/*
 * Can requests enter the host bridge above @root through one root port and
 * leave through another?  *@id is set to what identifies that host bridge.
 */
static bool p2pdma_host_bridge_routes(struct pci_bus *root, u32 *id)
{
	*id = p2pdma_root_id(root);
	if (p2pdma_cpu_routes_p2p())
		return true;
	if (!*id)
		return false;
	return p2pdma_rc_allowlisted(*id) || p2pdma_overridden(*id);
}

/*
 * The pair cannot use a switch: either they share none, or a port on the
 * way redirects.  The traffic then crosses the host bridge(s), which must
 * route it.  An ACS refusal keeps its reason and blocker, the port the user
 * can fix.  Out of line, so that its stack frame and saved registers are
 * not paid by pairs that share a switch.
 */
static noinline void p2pdma_route_thru_host(struct pci_dev *provider,
					    struct pci_dev *client,
					    struct p2pdma_route *route,
					    bool may_sleep)
{
	struct pci_bus *roots[] = {
		p2pdma_root_bus(provider), p2pdma_root_bus(client)
	};
	u32 id;
	int i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		if (p2pdma_host_bridge_routes(roots[i], &id))
			continue;

		route->host_bus = roots[i];
		route->host_bridge_id = id;
		if (route->reason != P2PDMA_REASON_ACS_REDIRECT) {
			route->reason = P2PDMA_REASON_HOST_BRIDGE;
			route->blocker = may_sleep ?
					 p2pdma_root_dev0(roots[i]) : NULL;
		}
		return;
	}

	route->map = PCI_P2PDMA_MAP_THRU_HOST_BRIDGE;
	route->distance = p2pdma_hops_to_root_bus(provider) +
			  p2pdma_hops_to_root_bus(client) +
			  P2PDMA_HOST_BRIDGE_PENALTY;
	route->reason = P2PDMA_REASON_OK;
	route->blocker = NULL;
}

/*
 * The decision itself, from config space and the host bridge lists only.
 * @may_sleep is false where the caller must not sleep (the DMA mapping
 * path, the cached path of pci_p2pdma_distance_many()); then a refusing
 * host bridge is reported without a blocker device.
 */
static void p2pdma_compute_route(struct pci_dev *provider,
				 struct pci_dev *client,
				 struct p2pdma_route *route, bool may_sleep)
{
	int p_hops, c_hops;

	/* Field by field: no hidden memset on the first-call path. */
	route->live = false;
	route->map = PCI_P2PDMA_MAP_NOT_SUPPORTED;
	route->distance = -1;
	route->reason = P2PDMA_REASON_OK;
	route->blocker = NULL;
	route->host_bus = NULL;
	route->host_bridge_id = 0;

	/*
	 * A device is its own nearest "bridge", at distance 0; devices in
	 * different domains share none.
	 */
	if (p2pdma_common_bridge(provider, client, &p_hops, &c_hops)) {
		route->blocker = p2pdma_acs_blocker(provider, p_hops,
						    client, c_hops,
						    &route->live);
		if (!route->blocker) {
			route->map = PCI_P2PDMA_MAP_BUS_ADDR;
			route->distance = p_hops + c_hops;
			return;
		}
		route->reason = P2PDMA_REASON_ACS_REDIRECT;
	} else if (pci_domain_nr(provider->bus) != pci_domain_nr(client->bus)) {
		route->reason = P2PDMA_REASON_OTHER_DOMAIN;
		return;
	}

	p2pdma_route_thru_host(provider, client, route, may_sleep);
}

/**
 * p2pdma_route() - decide whether and how @client may reach @provider
 * @provider: any PCI function; it need not have peer-to-peer memory
 * @client: the PCI function that would do the DMA
 * @route: the verdict
 *
 * Reads the current topology and ACS state; never looks at or changes the
 * map-type cache.  May sleep.
 */
VISIBLE_IF_KUNIT void p2pdma_route(struct pci_dev *provider,
				   struct pci_dev *client,
				   struct p2pdma_route *route)
{
	p2pdma_compute_route(provider, client, route, true);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_route);

/*
 * Map-type cache.
 *
 * Each provider remembers the verdict per client: the map type, the
 * distance and whether it depends on ACS controls read from config space
 * ("live").  The rules:
 *
 * - pci_p2pdma_map_segment() trusts the cache; on a miss it computes and
 *   stores.
 * - pci_p2pdma_distance_many() recomputes a live verdict from config space
 *   every time and stores the result, so an orchestrator setting up a new
 *   transfer sees the current ACS state and refreshes what the mapping path
 *   will use.  Any other verdict is a function of the topology and the host
 *   bridge lists only, so it is taken from the cache.
 * - Anything that can change a verdict other than ACS controls (a PCI
 *   device coming or going anywhere, writing p2pdma.host_bridges) empties
 *   every provider's cache.  A verdict computed before such a change is
 *   never stored after it: the change bumps a generation, then empties
 *   each cache under its lock; a store checks, under the same lock, that
 *   the generation is still the one its verdict was computed in.
 *
 * The cache is a direct-mapped table of P2PDMA_CACHE_SLOTS 64-bit entries,
 * indexed by a hash of the client's domain << 16 | pci_dev_id(), each
 * holding a valid bit, that key, the distance, the live flag and the map
 * type.  A lookup is one load and one compare, without a lock; a store is
 * one write under the provider's cache lock, taken with interrupts off
 * because the mapping path may run in any context.  Two clients whose keys
 * collide evict each other, which costs a recomputation, never
 * correctness.  It replaced an xarray keyed by client, whose first store
 * for a client behind a switch allocated two nodes: that was most of the
 * cost of the first question about a pair (see BENCHMARKS.md), and the
 * mapping path had to allocate with GFP_ATOMIC.
 */
#define P2PDMA_CACHE_MAP_MASK	GENMASK_ULL(1, 0)
/* Set in the map types that allow the transfer: BUS_ADDR, THRU_HOST_BRIDGE. */
#define P2PDMA_CACHE_REACHABLE	BIT_ULL(1)
#define P2PDMA_CACHE_LIVE	BIT_ULL(2)
#define P2PDMA_CACHE_DIST_SHIFT	3
#define P2PDMA_CACHE_DIST_MAX	0xfff
/* Above the distance: 32 bits of domain, 16 of bus/device/function, valid. */
#define P2PDMA_CACHE_KEY_SHIFT	15
#define P2PDMA_CACHE_VALID	BIT_ULL(48)
static atomic_t p2pdma_cache_gen = ATOMIC_INIT(0);

/* Distances never exceed 2 * 255 hops + P2PDMA_HOST_BRIDGE_PENALTY. */
static_assert(2 * 255 + P2PDMA_HOST_BRIDGE_PENALTY <= P2PDMA_CACHE_DIST_MAX);
static_assert((PCI_P2PDMA_MAP_BUS_ADDR & P2PDMA_CACHE_REACHABLE) &&
	      (PCI_P2PDMA_MAP_THRU_HOST_BRIDGE & P2PDMA_CACHE_REACHABLE) &&
	      !(PCI_P2PDMA_MAP_NOT_SUPPORTED & P2PDMA_CACHE_REACHABLE) &&
	      !(PCI_P2PDMA_MAP_UNKNOWN & P2PDMA_CACHE_REACHABLE));

/* What an entry for @client holds above P2PDMA_CACHE_KEY_SHIFT. */
static __always_inline u64 p2pdma_client_key(struct pci_dev *client)
{
	return P2PDMA_CACHE_VALID |
	       (u64)(u32)pci_domain_nr(client->bus) << 16 | pci_dev_id(client);
}

static __always_inline atomic64_t *p2pdma_cache_slot(struct pci_p2pdma *p2p,
						     u64 key)
{
	return &p2p->map_cache[hash_64(key, P2PDMA_CACHE_BITS)];
}

static void p2pdma_cache_flush(struct pci_p2pdma *p2p)
{
	unsigned long flags;
	int i;

	spin_lock_irqsave(&p2p->map_cache_lock, flags);
	for (i = 0; i < P2PDMA_CACHE_SLOTS; i++)
		atomic64_set(&p2p->map_cache[i], 0);
	spin_unlock_irqrestore(&p2p->map_cache_lock, flags);
}

static void p2pdma_invalidate_caches(void)
{
	struct pci_p2pdma *p2p;

	/* Whatever changed must be visible before the new generation is. */
	smp_mb__before_atomic();
	atomic_inc(&p2pdma_cache_gen);

	/*
	 * p2pdma.host_bridges on the kernel command line is set before any
	 * provider can exist, and before sleeping is allowed.
	 */
	if (system_state == SYSTEM_BOOTING)
		return;

	mutex_lock(&p2pdma_lock);
	list_for_each_entry(p2p, &p2pdma_providers, node)
		p2pdma_cache_flush(p2p);
	mutex_unlock(&p2pdma_lock);
}

static unsigned int p2pdma_cache_generation(void)
{
	unsigned int gen = atomic_read(&p2pdma_cache_gen);

	/* Pairs with p2pdma_invalidate_caches(): read state after gen. */
	smp_rmb();
	return gen;
}

static enum pci_p2pdma_map_type p2pdma_entry_map(u64 entry)
{
	return entry & P2PDMA_CACHE_MAP_MASK;
}

/* Only meaningful for an entry whose map type allows the transfer. */
static int p2pdma_entry_distance(u64 entry)
{
	return (entry >> P2PDMA_CACHE_DIST_SHIFT) & P2PDMA_CACHE_DIST_MAX;
}

/* The entry for @route to a client whose key is @key. */
static __always_inline u64 p2pdma_make_entry(u64 key,
					     const struct p2pdma_route *route)
{
	/* A refusal's distance (-1) is stored as junk and never read. */
	u64 dist = route->distance & P2PDMA_CACHE_DIST_MAX;

	return key << P2PDMA_CACHE_KEY_SHIFT | dist << P2PDMA_CACHE_DIST_SHIFT |
	       (u64)route->live * P2PDMA_CACHE_LIVE | route->map;
}

/* Does @entry, read from the slot of @key, hold the verdict for @key? */
static __always_inline bool p2pdma_cache_hit(u64 entry, u64 key)
{
	/* Empty slots are 0, which has no valid bit. */
	return entry >> P2PDMA_CACHE_KEY_SHIFT == key;
}

/* Store @entry in @slot of @p2p's cache, unless generation @gen is stale. */
static void p2pdma_cache_store(struct pci_p2pdma *p2p, atomic64_t *slot,
			       unsigned int gen, u64 entry)
{
	unsigned long flags;

	spin_lock_irqsave(&p2p->map_cache_lock, flags);
	/*
	 * Under the lock: an invalidation that bumps the generation after
	 * this check empties the cache after this store.
	 */
	if (gen == (unsigned int)atomic_read(&p2pdma_cache_gen))
		atomic64_set(slot, entry);
	spin_unlock_irqrestore(&p2p->map_cache_lock, flags);
}

/* One line per refused client: both devices, the reason and the remedy. */
static void p2pdma_report(struct pci_dev *provider, struct device *client,
			  struct pci_dev *pclient,
			  const struct p2pdma_route *route)
{
	const char *peer = pclient ? pci_name(pclient) : dev_name(client);
	u32 id = route->host_bridge_id;

	switch (route->reason) {
	case P2PDMA_REASON_NOT_PCI:
		pci_warn(provider, "no peer-to-peer DMA with %s: %s is not a PCI device\n",
			 peer, peer);
		break;
	case P2PDMA_REASON_OTHER_DOMAIN:
		pci_warn(provider, "no peer-to-peer DMA with %s: the devices are in different PCI domains\n",
			 peer);
		break;
	case P2PDMA_REASON_ACS_REDIRECT:
		pci_warn(provider, "no peer-to-peer DMA with %s: ACS redirect is set on %s and the host bridge does not route peer-to-peer traffic; boot with pci=disable_acs_redir=%s\n",
			 peer, pci_name(route->blocker),
			 pci_name(route->blocker));
		break;
	case P2PDMA_REASON_HOST_BRIDGE:
		if (id)
			pci_warn(provider, "no peer-to-peer DMA with %s: no common upstream bridge and host bridge %04x:%04x is not known to route peer-to-peer traffic; if it does, set p2pdma.host_bridges=%04x:%04x\n",
				 peer, id >> 16, id & 0xffff, id >> 16,
				 id & 0xffff);
		else
			pci_warn(provider, "no peer-to-peer DMA with %s: no common upstream bridge and the host bridge of %04x:%02x cannot be identified (no function 00.0)\n",
				 peer, pci_domain_nr(route->host_bus),
				 route->host_bus->number);
		break;
	default:
		break;
	}
}

/*
 * A refused mapping surfaces as an I/O error (-EREMOTEIO) far away from
 * here, so say which pair it was and why, rate limited: a refused pair may
 * keep trying.
 */
static DEFINE_RATELIMIT_STATE(p2pdma_mapping_refusals,
			      DEFAULT_RATELIMIT_INTERVAL,
			      DEFAULT_RATELIMIT_BURST);

/*
 * A refusal that came from the cache, with the reason worked out afresh.
 * If that now allows the pair, the cache entry is stale and the way out is
 * to refresh it.
 */
static void p2pdma_report_refused_mapping(struct pci_p2pdma *p2p,
					  struct device *dev)
{
	struct pci_dev *client = dev_is_pci(dev) ? to_pci_dev(dev) : NULL;
	struct p2pdma_route route = {
		.map = PCI_P2PDMA_MAP_NOT_SUPPORTED,
		.distance = -1,
		.reason = P2PDMA_REASON_NOT_PCI,
	};

	if (!__ratelimit(&p2pdma_mapping_refusals))
		return;

	if (client)
		p2pdma_compute_route(p2p->pdev, client, &route, false);
	if (route.map == PCI_P2PDMA_MAP_NOT_SUPPORTED)
		p2pdma_report(p2p->pdev, dev, client, &route);
	else
		pci_warn(p2p->pdev, "no peer-to-peer DMA with %s: refused by a cached decision the topology no longer supports; pci_p2pdma_distance_many() refreshes it\n",
			 dev_name(dev));
}

/* The map type for DMA by @dev to memory of @p2p, cached. */
static enum pci_p2pdma_map_type p2pdma_map_type(struct pci_p2pdma *p2p,
						struct device *dev)
{
	enum pci_p2pdma_map_type map;
	struct p2pdma_route route;
	struct pci_dev *client;
	atomic64_t *slot;
	unsigned int gen;
	u64 key, entry;

	/* The DMA is done by @dev itself; a PCI parent does not make it PCI. */
	if (!dev_is_pci(dev)) {
		p2pdma_report_refused_mapping(p2p, dev);
		return PCI_P2PDMA_MAP_NOT_SUPPORTED;
	}

	client = to_pci_dev(dev);
	gen = p2pdma_cache_generation();
	key = p2pdma_client_key(client);
	slot = p2pdma_cache_slot(p2p, key);
	entry = atomic64_read(slot);
	if (p2pdma_cache_hit(entry, key)) {
		map = p2pdma_entry_map(entry);
		if (map == PCI_P2PDMA_MAP_NOT_SUPPORTED)
			p2pdma_report_refused_mapping(p2p, dev);
		return map;
	}

	p2pdma_compute_route(p2p->pdev, client, &route, false);
	p2pdma_cache_store(p2p, slot, gen, p2pdma_make_entry(key, &route));
	/*
	 * Always logged the first time after the cache was emptied: that is
	 * what explains the I/O error.  If another client held the slot, the
	 * two may keep evicting each other, so then it is rate limited.
	 */
	if (route.map == PCI_P2PDMA_MAP_NOT_SUPPORTED &&
	    (!(entry & P2PDMA_CACHE_VALID << P2PDMA_CACHE_KEY_SHIFT) ||
	     __ratelimit(&p2pdma_mapping_refusals)))
		p2pdma_report(p2p->pdev, dev, client, &route);
	return route.map;
}

/*
 * The first entry of a list, or one from another range: look the range's
 * provider up.  Out of line so that the per-entry path of
 * pci_p2pdma_map_segment() needs no stack frame.
 */
static noinline void p2pdma_map_state_switch(struct pci_p2pdma_map_state *state,
					     struct device *dev,
					     struct dev_pagemap *pgmap)
{
	struct p2pdma_range *range;

	range = container_of(pgmap, struct p2pdma_range, pgmap);
	state->pgmap = pgmap;
	state->map = p2pdma_map_type(range->p2p, dev);
	state->bus_off = range->bus_off;
}

/**
 * pci_p2pdma_map_segment() - map one scatterlist entry of p2pmem for DMA
 * @state: state carried between the entries of one dma_map_sg() call;
 *	zero it before the first entry
 * @dev: the device doing the DMA
 * @sg: the entry; its page must be peer-to-peer memory
 *
 * Consecutive entries from the same pgmap reuse the previous answer, so a
 * long list costs one lookup.  Safe in atomic context.
 *
 * Return: %PCI_P2PDMA_MAP_BUS_ADDR after filling in the DMA address and
 * length of @sg with the PCI bus address; %PCI_P2PDMA_MAP_THRU_HOST_BRIDGE
 * when the caller must map @sg like ordinary memory; or
 * %PCI_P2PDMA_MAP_NOT_SUPPORTED when @dev may not reach the memory at all
 * (the DMA API turns that into -EREMOTEIO).
 */
enum pci_p2pdma_map_type
pci_p2pdma_map_segment(struct pci_p2pdma_map_state *state, struct device *dev,
		       struct scatterlist *sg)
{
	struct dev_pagemap *pgmap = sg_page(sg)->pgmap;

	if (unlikely(state->pgmap != pgmap))
		p2pdma_map_state_switch(state, dev, pgmap);

	if (state->map != PCI_P2PDMA_MAP_BUS_ADDR)
		return state->map;

	/* The peer decodes PCI bus addresses: no IOMMU, no host bridge. */
	sg_dma_mark_bus_address(sg);
	sg_dma_len(sg) = sg->length;
	sg->dma_address = state->bus_off + sg_phys(sg);
	return PCI_P2PDMA_MAP_BUS_ADDR;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_map_segment);

/*
 * The cache entry for DMA by @client to @provider's memory, for
 * pci_p2pdma_distance_many(): taken from @provider's cache unless config
 * space has a say in it (live), else computed afresh, which also refreshes
 * the cache.  Providers without peer-to-peer memory have no cache.  Never
 * sleeps: the refusals are explained by p2pdma_explain().
 */
static u64 p2pdma_distance_entry(struct pci_dev *provider,
				 struct pci_dev *client)
{
	unsigned int gen = p2pdma_cache_generation();
	u64 key = p2pdma_client_key(client);
	/* p2pdma_compute_route() sets every field. */
	struct p2pdma_route route __uninitialized;
	struct pci_p2pdma *p2p;
	atomic64_t *slot = NULL;
	u64 entry = 0;

	rcu_read_lock();
	p2p = rcu_dereference(provider->p2pdma);
	if (p2p) {
		slot = p2pdma_cache_slot(p2p, key);
		entry = atomic64_read(slot);
	}
	if (!p2pdma_cache_hit(entry, key) || entry & P2PDMA_CACHE_LIVE) {
		p2pdma_compute_route(provider, client, &route, false);
		entry = p2pdma_make_entry(key, &route);
		if (p2p)
			p2pdma_cache_store(p2p, slot, gen, entry);
	}
	rcu_read_unlock();
	return entry;
}

/* Log why @client, @pclient if it has a PCI function, is refused. */
static void p2pdma_explain(struct pci_dev *provider, struct device *client,
			   struct pci_dev *pclient)
{
	struct p2pdma_route route = {
		.map = PCI_P2PDMA_MAP_NOT_SUPPORTED,
		.distance = -1,
		.reason = P2PDMA_REASON_NOT_PCI,
	};

	/* The cache keeps no reasons: work the refusal out again. */
	if (pclient)
		p2pdma_compute_route(provider, pclient, &route, true);
	p2pdma_report(provider, client, pclient, &route);
}

/**
 * pci_p2pdma_distance_many() - how far @provider's memory is from clients
 * @provider: the PCI function whose memory would be used
 * @clients: the devices that would DMA to or from it; each is resolved to
 *	the nearest PCI function at or above it
 * @num_clients: number of entries in @clients
 * @verbose: log one warning per refused client with the reason and remedy
 *
 * Every pair whose route depends on ACS controls is evaluated afresh from
 * config space (ACS may have changed), and the answer refreshes the cache
 * pci_p2pdma_map_segment() uses; other answers change only when PCI devices
 * come or go or p2pdma.host_bridges is written, and come from the cache
 * (see "Map-type cache").  Works for any @provider, with or without
 * peer-to-peer memory.  May sleep.
 *
 * Return: the sum of the distances, or -1 if any client is refused.
 */
int pci_p2pdma_distance_many(struct pci_dev *provider, struct device **clients,
			     int num_clients, bool verbose)
{
	bool refused = false;
	int i, total = 0;

	for (i = 0; i < num_clients; i++) {
		struct device *dev = clients[i];
		struct pci_dev *pclient = NULL;
		u64 entry = 0;

		/* The PCI function at or above @dev does the DMA. */
		while (dev && !dev_is_pci(dev))
			dev = dev->parent;
		if (dev) {
			pclient = to_pci_dev(dev);
			entry = p2pdma_distance_entry(provider, pclient);
		}
		if (entry & P2PDMA_CACHE_REACHABLE) {
			total += p2pdma_entry_distance(entry);
			continue;
		}

		refused = true;
		if (verbose)
			p2pdma_explain(provider, clients[i], pclient);
	}

	return refused ? -1 : total;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_distance_many);

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
	return p2p ? READ_ONCE(p2p->published) : false;
}
EXPORT_SYMBOL_GPL(pci_has_p2pmem);

/**
 * pci_p2pmem_find_many() - pick a provider for a set of clients
 * @clients: the devices that will DMA to or from the memory
 * @num_clients: number of entries in @clients
 *
 * Considers every provider with published memory that all clients can reach
 * and picks the one with the smallest sum of distances.  When several are
 * equally near, one of them is chosen uniformly at random, so clients that
 * are equally well served spread over the providers instead of all
 * exhausting the first one.
 *
 * Return: the chosen provider with a reference the caller drops with
 * pci_dev_put(), or NULL if there is none.
 */
struct pci_dev *pci_p2pmem_find_many(struct device **clients, int num_clients)
{
	struct pci_dev *best = NULL;
	int best_dist = INT_MAX;
	unsigned int ties = 0;
	struct pci_p2pdma *p2p;

	mutex_lock(&p2pdma_lock);
	list_for_each_entry(p2p, &p2pdma_providers, node) {
		int dist;

		if (!READ_ONCE(p2p->published))
			continue;

		dist = pci_p2pdma_distance_many(p2p->pdev, clients,
						num_clients, false);
		if (dist < 0 || dist > best_dist)
			continue;
		if (dist < best_dist) {
			best_dist = dist;
			ties = 0;
		}
		/*
		 * Reservoir sampling: the n-th tie wins with probability 1/n.
		 * The first needs no random number, which is not free.
		 */
		if (++ties == 1 || !get_random_u32_below(ties))
			best = p2p->pdev;
	}
	pci_dev_get(best);
	mutex_unlock(&p2pdma_lock);

	return best;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_find_many);

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

/* Called under p2pdma_lock before the first "allocate" file appears. */
static int p2pmem_inode_init(void)
{
	static struct vfsmount *mnt;
	static int mnt_count;
	struct inode *inode;
	int ret;

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

/* Make every page of @p2p mapped to userspace fault with SIGBUS. */
static void p2pdma_revoke_mappings(struct pci_p2pdma *p2p)
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
			pages[i] = virt_to_page(kaddr + ((done + i) << PAGE_SHIFT));

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
 * MAP_SHARED only: a private mapping would need copy-on-write of device
 * memory.  Offset 0 only: each mmap() is a new allocation, not a window
 * into a file.
 */
static int p2pmem_check_vma(struct pci_dev *pdev, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE)) {
		pci_info_ratelimited(pdev, "%s: p2pmem/allocate needs MAP_SHARED\n",
				     current->comm);
		return -EINVAL;
	}
	if (vma->vm_pgoff) {
		pci_info_ratelimited(pdev, "%s: p2pmem/allocate must be mapped at offset 0\n",
				     current->comm);
		return -EINVAL;
	}
	if (vma_pages(vma) > P2PMEM_WINDOW_PAGES)
		return -EINVAL;
	return 0;
}

static int p2pmem_alloc_mmap(struct file *filp, struct kobject *kobj,
			     struct bin_attribute *attr,
			     struct vm_area_struct *vma)
{
	struct pci_dev *pdev = to_pci_dev(kobj_to_dev(kobj));
	size_t len = vma->vm_end - vma->vm_start;
	struct p2pdma_range *range;
	void *kaddr;
	int ret;

	ret = p2pmem_check_vma(pdev, vma);
	if (ret)
		return ret;

	kaddr = p2pdma_alloc_pinned(pdev, len, vma_pages(vma), true, &range);
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

static struct pci_p2pdma *p2pdma_of(struct device *dev)
{
	return rcu_dereference(to_pci_dev(dev)->p2pdma);
}

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct pci_p2pdma *p2p;
	size_t size = 0;

	rcu_read_lock();
	p2p = p2pdma_of(dev);
	if (p2p)
		size = p2pdma_pool_size(p2p);
	rcu_read_unlock();

	return sysfs_emit(buf, "%zu\n", size);
}
static DEVICE_ATTR_RO(size);

static ssize_t available_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct pci_p2pdma *p2p;
	size_t avail = 0;

	rcu_read_lock();
	p2p = p2pdma_of(dev);
	if (p2p) {
		/* Count pages userspace just let go of as free. */
		p2pdma_reap(p2p);
		avail = p2pdma_pool_avail(p2p);
	}
	rcu_read_unlock();

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
static struct bin_attribute p2pmem_alloc_attr = {
	.size = SZ_1T,
	.f_mapping = p2pmem_get_mapping,
	.mmap = p2pmem_alloc_mmap,
	.attr = { .mode = 0660, .name = "allocate" },
};

static struct attribute *p2pmem_attrs[] = {
	&dev_attr_available.attr, &dev_attr_published.attr,
	&dev_attr_size.attr, NULL
};

static struct bin_attribute *p2pmem_bin_attrs[] = {
	&p2pmem_alloc_attr,
	NULL,
};

static const struct attribute_group p2pmem_group = {
	.name = "p2pmem",
	.attrs = p2pmem_attrs,
	.bin_attrs = p2pmem_bin_attrs,
};

/*
 * Provider lifetime.
 *
 * The first range creates the provider, makes it device-managed (one devres
 * action for all ranges, so the teardown order below holds however many
 * ranges were added) and creates the sysfs group.  Teardown, on unbind or
 * removal:
 *
 * 1. unpublish: pci_p2pmem_find_many() and nvmet stop choosing it;
 * 2. remove the sysfs group: kernfs waits for running mmap() handlers, and
 *    no new one can start;
 * 3. unlink from pdev->p2pdma and wait for RCU: no new allocation;
 * 4. revoke userspace mappings: the next access gets SIGBUS, and pages not
 *    pinned elsewhere come back right away;
 * 5. wait for every allocation (kernel users, pinned pages under DMA) to
 *    come back, complaining every P2PDMA_WAIT_WARN;
 * 6. memunmap_pages() each range, free the rest.
 */

/*
 * Revoke again on every round: an mmap() that was inside the handler while
 * the group was removed links its VMA into the address_space only after the
 * handler returned, so the first revocation can miss it.  Parked pages are
 * reaped here too, in case the work is slow to run.
 */
static void p2pdma_wait_idle(struct pci_p2pdma *p2p)
{
	unsigned long start = jiffies;

	while (!wait_event_timeout(p2p->idle_wq, p2pdma_pool_idle(p2p), HZ)) {
		p2pdma_revoke_mappings(p2p);
		p2pdma_reap(p2p);
		if (time_after(jiffies, start + P2PDMA_WAIT_WARN)) {
			pci_warn(p2p->pdev, "%zu bytes of peer-to-peer memory still in use, waiting\n",
				 p2pdma_pool_size(p2p) - p2pdma_pool_avail(p2p));
			start = jiffies;
		}
	}
	/* Every page is back, so nothing can queue the work any more. */
	cancel_delayed_work_sync(&p2p->reap_work);
}

/* Free a provider that no allocation can reach any more. */
static void p2pdma_free(struct pci_p2pdma *p2p)
{
	struct p2pdma_range *range, *tmp;

	list_for_each_entry_safe(range, tmp, &p2p->ranges, node) {
		list_del(&range->node);
		memunmap_pages(&range->pgmap);
		kfree(range);
	}
	p2pdma_pool_destroy(p2p);
	kfree(p2p);
}

static void p2pdma_link(struct pci_p2pdma *p2p)
{
	lockdep_assert_held(&p2pdma_lock);
	list_add_tail(&p2p->node, &p2pdma_providers);
	rcu_assign_pointer(p2p->pdev->p2pdma, p2p);
}

static void p2pdma_unlink(struct pci_p2pdma *p2p)
{
	mutex_lock(&p2pdma_lock);
	list_del(&p2p->node);
	RCU_INIT_POINTER(p2p->pdev->p2pdma, NULL);
	mutex_unlock(&p2pdma_lock);
	/* Allocations that found the provider before have their pins now. */
	synchronize_rcu();
}

/* devres action: tear the provider down, see "Provider lifetime". */
static void p2pdma_release(void *data)
{
	struct pci_p2pdma *p2p = data;

	WRITE_ONCE(p2p->published, false);
	if (p2p->sysfs_added)
		sysfs_remove_group(&p2p->pdev->dev.kobj, &p2pmem_group);
	p2pdma_unlink(p2p);
	p2pdma_revoke_mappings(p2p);
	p2pdma_wait_idle(p2p);
	p2pdma_free(p2p);
}

static struct pci_p2pdma *p2pdma_create(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;
	int ret;

	lockdep_assert_held(&p2pdma_lock);

	ret = p2pmem_inode_init();
	if (ret)
		return ERR_PTR(ret);

	p2p = kzalloc(sizeof(*p2p), GFP_KERNEL);
	if (!p2p)
		return ERR_PTR(-ENOMEM);

	ret = p2pdma_pool_init(p2p, dev_to_node(&pdev->dev));
	if (ret) {
		kfree(p2p);
		return ERR_PTR(ret);
	}

	p2p->pdev = pdev;
	INIT_LIST_HEAD(&p2p->ranges);
	spin_lock_init(&p2p->map_cache_lock);
	init_waitqueue_head(&p2p->idle_wq);
	spin_lock_init(&p2p->freed_lock);
	INIT_DELAYED_WORK(&p2p->reap_work, p2pdma_reap_work);
	p2p->window = p2pdma_next_window;
	p2pdma_next_window += P2PMEM_WINDOW_PAGES;
	return p2p;
}

/* Make a new provider device-managed and visible in sysfs. */
static int p2pdma_expose(struct pci_p2pdma *p2p)
{
	struct device *dev = &p2p->pdev->dev;
	int ret;

	ret = devm_add_action_or_reset(dev, p2pdma_release, p2p);
	if (ret)
		return ret;

	ret = sysfs_create_group(&dev->kobj, &p2pmem_group);
	if (ret) {
		pci_err(p2p->pdev, "cannot create the p2pmem sysfs group: %d\n",
			ret);
		devm_release_action(dev, p2pdma_release, p2p);
		return ret;
	}
	p2p->sysfs_added = true;
	return 0;
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

/* Create struct pages for the range and hand it to the pool. */
static int p2pdma_range_add(struct pci_p2pdma *p2p, int bar, size_t size,
			    u64 offset)
{
	struct pci_dev *pdev = p2p->pdev;
	struct p2pdma_range *range;
	void *kaddr;
	int ret;

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

	list_add_tail(&range->node, &p2p->ranges);
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
 * mappings revoked.  The memory is private to the caller until
 * pci_p2pmem_publish().
 *
 * Return: 0 on success, -EINVAL for a range that is not usable, -EBUSY if
 * it overlaps one already added, or another negative errno.
 */
int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar, size_t size,
			    u64 offset)
{
	struct pci_p2pdma *p2p;
	bool created = false;
	int ret;

	ret = p2pdma_check_bar(pdev, bar, &size, offset);
	if (ret)
		return ret;

	mutex_lock(&p2pdma_lock);
	p2p = rcu_dereference_protected(pdev->p2pdma,
					lockdep_is_held(&p2pdma_lock));
	if (!p2p) {
		p2p = p2pdma_create(pdev);
		if (IS_ERR(p2p)) {
			ret = PTR_ERR(p2p);
			goto unlock;
		}
		created = true;
	}

	ret = p2pdma_range_add(p2p, bar, size, offset);
	if (ret) {
		if (created)
			p2pdma_free(p2p);
		goto unlock;
	}

	if (created)
		p2pdma_link(p2p);
	mutex_unlock(&p2pdma_lock);

	/* Outside the lock: on failure the release action takes it. */
	return created ? p2pdma_expose(p2p) : 0;

unlock:
	mutex_unlock(&p2pdma_lock);
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
 * @p2p_dev: set to the named provider, with a reference, or to NULL
 * @use_p2pdma: set to whether p2pmem should be used
 *
 * Accepts exactly the name of a PCI device that has published
 * peer-to-peer memory (as pci_name() prints it), which selects that
 * provider, or a boolean word: 0 1 n y no yes off on false true in any
 * case, which turns p2pmem off or on with the provider left for
 * pci_p2pmem_find_many() to choose.  *@p2p_dev is overwritten without
 * dropping whatever it pointed to: the caller owns the previous reference.
 * Nothing is changed on error.
 *
 * Return: 0 on success; -ENODEV for a PCI device name that does not exist
 * or has no published p2pmem; -EINVAL for anything else.
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
		*p2p_dev = NULL;
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
	return -EINVAL;
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

/*
 * p2pdma.host_bridges: host bridges (vendor:device of the function at 00.0
 * of their root bus) that the administrator declares able to route
 * peer-to-peer traffic, on top of the built-in list.
 */

static int p2pdma_parse_hex4(const char *s, u16 *val)
{
	int i, digit;

	*val = 0;
	for (i = 0; i < 4; i++) {
		digit = hex_to_bin(s[i]);
		if (digit < 0)
			return -EINVAL;
		*val = *val << 4 | digit;
	}
	return 0;
}

/**
 * p2pdma_parse_host_bridges() - parse a p2pdma.host_bridges value
 * @val: "VVVV:DDDD[,VVVV:DDDD...]" with exactly four hex digits per ID, no
 *	spaces, at most one trailing newline; empty clears the list
 * @ids: receives vendor << 16 | device per entry
 * @max_ids: room in @ids
 *
 * Return: the number of entries, or -EINVAL if @val is malformed or has
 * more than @max_ids entries.
 */
VISIBLE_IF_KUNIT int p2pdma_parse_host_bridges(const char *val, u32 *ids,
					       unsigned int max_ids)
{
	const char *p = val, *end = val + strlen(val);
	unsigned int n = 0;
	u16 vendor, device;

	if (end > p && end[-1] == '\n')
		end--;
	if (p == end)
		return 0;

	for (;;) {
		if (end - p < 9 || n == max_ids ||
		    p2pdma_parse_hex4(p, &vendor) || p[4] != ':' ||
		    p2pdma_parse_hex4(p + 5, &device))
			return -EINVAL;
		ids[n++] = (u32)vendor << 16 | device;
		p += 9;
		if (p == end)
			return n;
		if (*p++ != ',')
			return -EINVAL;
	}
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_parse_host_bridges);

static int p2pdma_host_bridges_set(const char *val,
				   const struct kernel_param *kp)
{
	u32 ids[P2PDMA_MAX_HOST_BRIDGES];
	unsigned long flags;
	int n;

	n = p2pdma_parse_host_bridges(val, ids, ARRAY_SIZE(ids));
	if (n < 0) {
		pr_err_ratelimited("host_bridges: expected up to %d VVVV:DDDD entries separated by commas; list unchanged\n",
				   P2PDMA_MAX_HOST_BRIDGES);
		return n;
	}

	write_seqlock_irqsave(&p2pdma_override_lock, flags);
	memcpy(p2pdma_override_ids, ids, n * sizeof(*ids));
	p2pdma_nr_overrides = n;
	write_sequnlock_irqrestore(&p2pdma_override_lock, flags);
	p2pdma_invalidate_caches();

	/* Auditable: an override changes what the kernel lets devices do. */
	if (n)
		pr_info("host bridges declared to route peer-to-peer traffic: %.*s\n",
			(int)strcspn(val, "\n"), val);
	else
		pr_info("no host bridges declared to route peer-to-peer traffic\n");
	return 0;
}

static int p2pdma_host_bridges_get(char *buf, const struct kernel_param *kp)
{
	u32 ids[P2PDMA_MAX_HOST_BRIDGES];
	unsigned int i, n = p2pdma_overrides_snapshot(ids);
	int len = 0;

	for (i = 0; i < n; i++)
		len += scnprintf(buf + len, PAGE_SIZE - len, "%s%04x:%04x",
				 i ? "," : "", ids[i] >> 16, ids[i] & 0xffff);
	len += scnprintf(buf + len, PAGE_SIZE - len, "\n");
	return len;
}

static const struct kernel_param_ops p2pdma_host_bridges_ops = {
	.set = p2pdma_host_bridges_set,
	.get = p2pdma_host_bridges_get,
};
module_param_cb(host_bridges, &p2pdma_host_bridges_ops, NULL, 0644);
MODULE_PARM_DESC(host_bridges,
		 "Host bridges (VVVV:DDDD of function 00.0 on the root bus, comma separated) that route peer-to-peer traffic");

/*
 * Bus notifier: keeps p2pdma_root_ids current and empties the map-type
 * caches whenever a PCI device comes or goes.
 */
static void p2pdma_root_added(struct pci_dev *pdev)
{
	u32 id = (u32)pdev->vendor << 16 | pdev->device;
	struct pci_bus *root = pdev->bus;

	if (!p2pdma_is_root_dev0(pdev))
		return;
	if (xa_err(xa_store(&p2pdma_root_ids, p2pdma_root_key(root),
			    xa_mk_value(id), GFP_KERNEL)))
		pr_warn("%04x:%02x: out of memory, host bridge treated as unknown\n",
			pci_domain_nr(root), root->number);
}

static void p2pdma_root_removed(struct pci_dev *pdev)
{
	if (!p2pdma_is_root_dev0(pdev))
		return;
	xa_erase(&p2pdma_root_ids, p2pdma_root_key(pdev->bus));
}

static int p2pdma_bus_notify(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);

	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		p2pdma_root_added(pdev);
		/* The topology changed: cached routes may be wrong now. */
		p2pdma_invalidate_caches();
		break;
	case BUS_NOTIFY_DEL_DEVICE:
		p2pdma_root_removed(pdev);
		p2pdma_invalidate_caches();
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		/* Again: its driver could map DMA until it was unbound. */
		p2pdma_invalidate_caches();
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block p2pdma_bus_nb = {
	.notifier_call = p2pdma_bus_notify,
};

/* After pci_bus_type exists (postcore), before buses are scanned. */
#ifdef CONFIG_DEBUG_FS
/*
 * <debugfs>/p2pdma/routes answers the question users otherwise take to a
 * mailing list: can these two devices do peer-to-peer DMA, and if not, why?
 * One line for every provider and every other PCI function of its domain:
 *
 *	PROVIDER CLIENT MAP DISTANCE REASON
 *
 * MAP is bus-address, host-bridge or refused.  Routes are worked out afresh
 * from config space, exactly as pci_p2pdma_distance_many() would, but the
 * cache is left alone: reading a debug file must not change DMA decisions.
 */
static const char *p2pdma_map_name(enum pci_p2pdma_map_type map)
{
	switch (map) {
	case PCI_P2PDMA_MAP_BUS_ADDR:
		return "bus-address";
	case PCI_P2PDMA_MAP_THRU_HOST_BRIDGE:
		return "host-bridge";
	default:
		return "refused";
	}
}

static void p2pdma_show_reason(struct seq_file *m,
			       const struct p2pdma_route *route)
{
	u32 id = route->host_bridge_id;

	switch (route->reason) {
	case P2PDMA_REASON_OK:
		if (route->map == PCI_P2PDMA_MAP_THRU_HOST_BRIDGE)
			seq_puts(m, "host bridges route peer-to-peer traffic");
		else if (route->distance)
			seq_puts(m, "shared upstream bridge");
		else
			seq_puts(m, "same function");
		break;
	case P2PDMA_REASON_ACS_REDIRECT:
		seq_printf(m, "ACS redirect on %s (pci=disable_acs_redir=%s)",
			   pci_name(route->blocker), pci_name(route->blocker));
		break;
	case P2PDMA_REASON_HOST_BRIDGE:
		seq_printf(m, "no shared upstream bridge; host bridge %04x:%04x not known to route peer-to-peer traffic (p2pdma.host_bridges=%04x:%04x)",
			   id >> 16, id & 0xffff, id >> 16, id & 0xffff);
		break;
	case P2PDMA_REASON_OTHER_DOMAIN:
		seq_puts(m, "different PCI domains");
		break;
	default:
		seq_puts(m, "not a PCI device");
		break;
	}
}

static int p2pdma_routes_show(struct seq_file *m, void *unused)
{
	struct p2pdma_route route;
	struct pci_dev *client;
	struct pci_p2pdma *p2p;

	mutex_lock(&p2pdma_lock);
	list_for_each_entry(p2p, &p2pdma_providers, node) {
		client = NULL;
		for_each_pci_dev(client) {
			/* Bridges forward DMA, they do not master it. */
			if (client->class >> 16 == PCI_BASE_CLASS_BRIDGE ||
			    pci_domain_nr(client->bus) !=
			    pci_domain_nr(p2p->pdev->bus))
				continue;
			p2pdma_compute_route(p2p->pdev, client, &route, true);
			seq_printf(m, "%s %s %s %d ", pci_name(p2p->pdev),
				   pci_name(client), p2pdma_map_name(route.map),
				   route.distance);
			p2pdma_show_reason(m, &route);
			seq_putc(m, '\n');
		}
	}
	mutex_unlock(&p2pdma_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(p2pdma_routes);

static void __init p2pdma_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("p2pdma", NULL);

	debugfs_create_file("routes", 0444, dir, NULL, &p2pdma_routes_fops);
}
#else
static inline void p2pdma_debugfs_init(void)
{
}
#endif

static int __init p2pdma_init(void)
{
	struct pci_dev *pdev = NULL;
	int ret;

	ret = bus_register_notifier(&pci_bus_type, &p2pdma_bus_nb);
	if (ret) {
		pr_err("cannot watch the PCI bus: %d; host bridges will be treated as unknown\n",
		       ret);
		return ret;
	}

	/* Devices that appeared before the notifier, should there be any. */
	for_each_pci_dev(pdev)
		p2pdma_root_added(pdev);
	p2pdma_debugfs_init();
	return 0;
}
postcore_initcall_sync(p2pdma_init);
