/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals shared by the units of the PCI peer-to-peer DMA core and its
 * KUnit suite.
 *
 *   p2pdma.c		providers and their lifetime, "p2pmem" words
 *   p2pdma_pool.c	free space of a provider, the allocation API, pages
 *			coming back from users
 *   p2pdma_route.c	which clients reach which provider, and how
 *   p2pdma_sysfs.c	the "p2pmem" sysfs group and userspace mappings
 *   p2pdma_debugfs.c	the route report
 *
 * Copyright (c) 2026 The p2pdma authors
 */

#ifndef DRIVERS_PCI_P2PDMA_H
#define DRIVERS_PCI_P2PDMA_H

#include <linux/dma-map-ops.h>
#include <linux/genalloc.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

/**
 * struct p2pdma_range - one BAR range lent by a provider
 * @p2p: the provider
 * @node: entry in &pci_p2pdma.ranges (RCU)
 * @kaddr: kernel address of the first byte
 * @size: length in bytes
 * @bus_off: PCI bus address minus CPU physical address in this BAR; a peer
 *	reached without the host bridge must be given bus addresses
 * @pgmap: the ZONE_DEVICE map.  Its percpu ref is the pin every allocation
 *	holds: memunmap_pages() cannot finish while one is held.  Last member
 *	because struct dev_pagemap ends in a flexible array.
 *
 * Addresses are turned into pages and back with the range's own bounds,
 * never with virt_addr_valid() or virt_to_page(): on arm64 the first is
 * false for every ZONE_DEVICE address, since memblock never hears of them.
 */
struct p2pdma_range {
	struct pci_p2pdma *p2p;
	struct list_head node;
	void *kaddr;
	size_t size;
	u64 bus_off;
	struct dev_pagemap pgmap;
};

/* Clients whose map type a provider remembers without a lookup. */
#define P2PDMA_MEMO_SLOTS	4

/**
 * struct pci_p2pdma - provider state behind &pci_dev.p2pdma
 * @pdev: the providing function
 * @node: entry in the list of providers (RCU, written under p2pdma_lock)
 * @ranges_lock: serializes adding ranges and creating the sysfs group
 * @ranges: list of &struct p2pdma_range (RCU, written under @ranges_lock)
 * @pool: free space of all ranges, see p2pdma_pool.c
 * @idle_wq: teardown waits here for outstanding allocations to come back
 * @freed_lock: protects @freed
 * @freed: pages userspace let go of, waiting for their refcount to be reset
 *	before they rejoin the pool; chained through page->zone_device_data
 * @reap_work: returns @freed pages to the pool
 * @map_types: cached &enum pci_p2pdma_map_type per client, see
 *	p2pdma_route.c
 * @window: first page offset of this provider in the address_space shared
 *	by all "allocate" files; mappings are revoked window by window
 * @published: other drivers and userspace may allocate from this provider
 * @dying: teardown has begun: no new allocation, no publishing
 * @sysfs_added: the "p2pmem" group exists (under @ranges_lock)
 * @map_memo: map types of the first clients to map since @map_types last
 *	changed, each a client's struct device pointer ORed with its map
 *	type; 0 is an empty slot.  Written under the lock of @map_types, see
 *	p2pdma_route.c.  Read on every mapping and rarely written, so it gets
 *	a cache line of its own.
 *
 * Readers find it through &pci_dev.p2pdma under RCU, or through a page's
 * pgmap (which the page keeps alive).  &pci_dev.p2pdma is cleared only
 * after every allocation came back, so that frees can always find it.
 */
struct pci_p2pdma {
	struct pci_dev *pdev;
	struct list_head node;
	struct mutex ranges_lock;	/* serializes range adds */
	struct list_head ranges;
	struct gen_pool *pool;
	wait_queue_head_t idle_wq;
	spinlock_t freed_lock;		/* protects @freed */
	struct page *freed;
	struct delayed_work reap_work;
	struct xarray map_types;
	pgoff_t window;
	bool published;
	bool dying;
	bool sysfs_added;
	unsigned long map_memo[P2PDMA_MEMO_SLOTS] ____cacheline_aligned_in_smp;
};

/**
 * p2pdma_usable() - may new allocations come from @p2p?
 * @p2p: a provider
 *
 * Return: false once its teardown has begun.
 */
static inline bool p2pdma_usable(const struct pci_p2pdma *p2p)
{
	return !READ_ONCE(p2p->dying);
}

/**
 * p2pdma_find_range() - the range of @p2p that holds @addr
 * @p2p: the provider
 * @addr: any kernel address
 *
 * Called under rcu_read_lock(), or with an allocation from @p2p held.
 *
 * Return: the range, or NULL if @addr is not memory of @p2p.
 */
static inline struct p2pdma_range *
p2pdma_find_range(struct pci_p2pdma *p2p, void *addr)
{
	struct p2pdma_range *range;

	list_for_each_entry_rcu(range, &p2p->ranges, node, true)
		if (addr >= range->kaddr && addr < range->kaddr + range->size)
			return range;
	return NULL;
}

/**
 * p2pdma_range_page() - the page of @range holding @addr
 * @range: a range of a provider
 * @addr: a kernel address inside @range
 *
 * Return: the struct page of @addr.
 */
static inline struct page *p2pdma_range_page(struct p2pdma_range *range,
					     void *addr)
{
	unsigned long index = (addr - range->kaddr) >> PAGE_SHIFT;

	return pfn_to_page(PHYS_PFN(range->pgmap.range.start) + index);
}

/* p2pdma.c */
extern struct mutex p2pdma_lock;
extern struct list_head p2pdma_providers;

/* p2pdma_pool.c */
extern const struct dev_pagemap_ops p2pdma_pgmap_ops;
int p2pdma_pool_init(struct pci_p2pdma *p2p, int nid);
void p2pdma_pool_destroy(struct pci_p2pdma *p2p);
int p2pdma_pool_add(struct pci_p2pdma *p2p, struct p2pdma_range *range);
size_t p2pdma_pool_size(struct pci_p2pdma *p2p);
size_t p2pdma_pool_avail(struct pci_p2pdma *p2p);
bool p2pdma_pool_idle(struct pci_p2pdma *p2p);
void *p2pdma_alloc_pinned(struct pci_dev *pdev, size_t size,
			  unsigned long nr_pins, bool need_published,
			  struct p2pdma_range **rangep);
void p2pdma_give_back(struct p2pdma_range *range, void *addr, size_t size,
		      unsigned long nr_pins);
void p2pdma_reap_sync(struct pci_p2pdma *p2p);

/* p2pdma_route.c */

/*
 * Added to the distance of every route through a host bridge.  It is larger
 * than any path inside one PCI hierarchy can be (a bus number per bridge, so
 * fewer than 2 * 256 hops), which makes a route below a shared switch always
 * rank nearer than one through the root complex.
 */
#define P2PDMA_HOST_BRIDGE_PENALTY	1024

/* Most entries the p2pdma.host_bridges parameter accepts. */
#define P2PDMA_MAX_HOST_BRIDGES		16

/**
 * enum p2pdma_reason - why a provider/client pair got the route it got
 * @P2PDMA_REASON_OK: the pair may do peer-to-peer DMA.
 * @P2PDMA_REASON_NOT_PCI: the client has no PCI device above it.
 * @P2PDMA_REASON_ACS_REDIRECT: a function below the shared bridge redirects
 *	peer-to-peer requests upstream and the host bridge cannot route them.
 * @P2PDMA_REASON_HOST_BRIDGE: the only shared component is the host bridge
 *	(or two host bridges) and it is not known to route peer-to-peer traffic.
 * @P2PDMA_REASON_CROSS_HOST_BRIDGE: both host bridges are known to route
 *	peer-to-peer traffic, but @host_bridge_id's only between its own root
 *	ports, and the pair sits below two different host bridges.
 */
enum p2pdma_reason {
	P2PDMA_REASON_OK,
	P2PDMA_REASON_NOT_PCI,
	P2PDMA_REASON_ACS_REDIRECT,
	P2PDMA_REASON_HOST_BRIDGE,
	P2PDMA_REASON_CROSS_HOST_BRIDGE,
};

/**
 * struct p2pdma_route - the verdict for one provider/client pair
 * @map: %PCI_P2PDMA_MAP_BUS_ADDR, %PCI_P2PDMA_MAP_THRU_HOST_BRIDGE or
 *	%PCI_P2PDMA_MAP_NOT_SUPPORTED.
 * @distance: hops between the two devices (see the topology rules in
 *	Documentation/driver-api/pci/p2pdma.rst); -1 when @map is
 *	%PCI_P2PDMA_MAP_NOT_SUPPORTED.
 * @reason: why; %P2PDMA_REASON_OK whenever @map allows the transfer.
 * @blocker: for %P2PDMA_REASON_ACS_REDIRECT the function that redirects,
 *	NULL otherwise.  No reference is held.
 * @host_bus: root bus whose host bridge refused, or NULL.
 * @host_bridge_id: vendor << 16 | device of what identifies the host bridge
 *	of @host_bus (see p2pdma_route.c), 0 if nothing does.
 */
struct p2pdma_route {
	enum pci_p2pdma_map_type map;
	int distance;
	enum p2pdma_reason reason;
	struct pci_dev *blocker;
	struct pci_bus *host_bus;
	u32 host_bridge_id;
};

void p2pdma_compute_route(struct pci_dev *provider, struct pci_dev *client,
			  struct p2pdma_route *route);
void p2pdma_report(struct pci_dev *provider, struct device *client,
		   const struct p2pdma_route *route);
void p2pdma_forget_verdicts(void);
int __init p2pdma_route_init(void);

#if IS_ENABLED(CONFIG_KUNIT)
bool p2pdma_cpu_routes_p2p(void);
bool p2pdma_allowlisted(u32 id, bool same_host_bridge);
int p2pdma_parse_host_bridges(const char *val, u32 *ids,
			      unsigned int max_ids);
enum pci_p2pdma_map_type p2pdma_cached_map_type(struct pci_dev *provider,
						struct pci_dev *client);
void p2pdma_set_cached_map_type(struct pci_dev *provider,
				struct pci_dev *client,
				enum pci_p2pdma_map_type map);
#endif

/* p2pdma_sysfs.c */
void p2pdma_sysfs_add(struct pci_p2pdma *p2p);
void p2pdma_sysfs_remove(struct pci_p2pdma *p2p);
void p2pdma_revoke_mappings(struct pci_p2pdma *p2p);
pgoff_t p2pdma_new_window(void);

/* p2pdma_debugfs.c */
#ifdef CONFIG_DEBUG_FS
void __init p2pdma_debugfs_init(void);
#else
static inline void p2pdma_debugfs_init(void)
{
}
#endif

#endif /* DRIVERS_PCI_P2PDMA_H */
