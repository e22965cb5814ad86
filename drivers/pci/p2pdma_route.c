// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA: which clients may reach which provider, and how.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * A request from a client to a provider's BAR travels up from the client
 * to the nearest bridge above both and down again to the provider.  If no
 * function on the way redirects it upstream (ACS), the pair talks with PCI
 * bus addresses and the root complex never sees the traffic.  Otherwise,
 * or when the pair shares nothing but the root complex, the host bridge
 * must forward it between root ports, which only some are known to do;
 * then the client's DMA is mapped like any memory access.  The rules are in
 * Documentation/driver-api/pci/p2pdma.rst.
 *
 * Everything that decides runs in atomic context too: pci_p2pdma_map_segment()
 * is called from dma_map_sg().  It walks bus->self pointers, reads config
 * space (pci_lock is a raw spinlock) and never sleeps.
 */

#define pr_fmt(fmt) "pci-p2pdma: " fmt

#include <linux/bitfield.h>
#include <linux/dma-map-ops.h>
#include <linux/init.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/processor.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/rwsem.h>
#include <linux/scatterlist.h>
#include <linux/seqlock.h>
#include <linux/string.h>
#include <linux/xarray.h>
#include <kunit/visibility.h>

#include "pci.h"
#include "p2pdma.h"

/* The parameter is p2pdma.host_bridges, whatever this object is linked in. */
#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "p2pdma."

/*
 * The bridge above @dev, as pci_upstream_bridge() has it: a root bus has
 * no ->self, and a VF's bus may be a virtual one without a bridge, so a VF
 * steps from its PF.
 */
static struct pci_dev *p2pdma_up(struct pci_dev *dev)
{
	return pci_physfn(dev)->bus->self;
}

/*
 * Find the nearest device at or above both @a and @b (a bridge, or one of
 * them when the other is the same device or below it) and the number of
 * steps each takes to reach it.  Returns NULL if they share only the host
 * bridge, as devices in different domains do.
 */
static struct pci_dev *p2pdma_common_upstream(struct pci_dev *a,
					      struct pci_dev *b,
					      int *a_hops, int *b_hops)
{
	struct pci_dev *up, *down;
	int ah, bh;

	for (up = a, ah = 0; up; up = p2pdma_up(up), ah++) {
		for (down = b, bh = 0; down; down = p2pdma_up(down), bh++) {
			if (down == up) {
				*a_hops = ah;
				*b_hops = bh;
				return up;
			}
		}
	}
	return NULL;
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
 * With ACS P2P Request Redirect, Completion Redirect or Egress Control a
 * function sends peer-to-peer requests up to the root complex instead of
 * straight to the peer: a switch port for traffic between its ports, a
 * function of a multi-function device or an SR-IOV function for traffic to
 * its siblings.  Linux enables redirection on every function with an ACS
 * capability when an IOMMU wants isolation.  A failed read counts as
 * redirecting: we cannot prove otherwise.
 */
static bool p2pdma_acs_redirects(struct pci_dev *dev)
{
	u16 ctrl;

	if (!dev->acs_cap)
		return false;
	if (pci_read_config_word(dev, dev->acs_cap + PCI_ACS_CTRL, &ctrl))
		return true;
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * The first function that redirects on the way from @dev @hops steps up,
 * or NULL.  @dev is included, the device @hops above it is not: that is
 * where the request turns around.  A port's redirect acts on requests it
 * would forward from its link to a peer port; a request between two
 * devices below the port never reaches another port, so the port's own
 * controls do not apply to it.  Linux 6.12 counts the shared device too.
 */
static struct pci_dev *p2pdma_acs_blocker(struct pci_dev *dev, int hops)
{
	for (; hops > 0; hops--, dev = p2pdma_up(dev))
		if (p2pdma_acs_redirects(dev))
			return dev;
	return NULL;
}

/*
 * Host bridges.
 *
 * A host bridge is identified by the first function on its root bus when
 * that is at devfn 00.0, or is a root port (Skylake-SP has no 00.0 on most
 * of its root buses, and its root ports carry the IDs).  Finding it means
 * walking the bus's device list, which the DMA mapping path cannot lock, so
 * the bus notifier keeps vendor << 16 | device of every root bus's
 * identifying function here, keyed by p2pdma_root_key().
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

/* The function identifying the host bridge of @root, ignoring @leaving. */
static u32 p2pdma_find_root_id(struct pci_bus *root, struct pci_dev *leaving)
{
	struct pci_dev *dev;
	u32 id = 0;

	down_read(&pci_bus_sem);
	list_for_each_entry(dev, &root->devices, bus_list) {
		if (dev == leaving)
			continue;
		if (dev->devfn == PCI_DEVFN(0, 0) ||
		    pci_pcie_type(dev) == PCI_EXP_TYPE_ROOT_PORT)
			id = (u32)dev->vendor << 16 | dev->device;
		break;
	}
	up_read(&pci_bus_sem);
	return id;
}

/*
 * A function on @root came or goes: who identifies its host bridge now?
 * Serialized, so that two events on one root bus cannot store their
 * answers in the wrong order.
 */
static void p2pdma_root_changed(struct pci_bus *root, struct pci_dev *leaving)
{
	static DEFINE_MUTEX(lock);
	unsigned long key = p2pdma_root_key(root);
	u32 id;

	guard(mutex)(&lock);
	id = p2pdma_find_root_id(root, leaving);
	if (!id) {
		xa_erase(&p2pdma_root_ids, key);
		return;
	}
	if (xa_err(xa_store(&p2pdma_root_ids, key, xa_mk_value(id),
			    GFP_KERNEL)))
		pr_warn("%04x:%02x: out of memory, host bridge treated as unknown\n",
			pci_domain_nr(root), root->number);
}

/**
 * enum p2pdma_rc_scope - where a root complex forwards peer-to-peer traffic
 * @P2PDMA_RC_UNKNOWN: not known to forward it at all.
 * @P2PDMA_RC_OWN_PORTS: between the root ports of one host bridge only;
 *	across sockets it is known to corrupt data or hang.
 * @P2PDMA_RC_ANY: between any of its root ports, across host bridges too.
 */
enum p2pdma_rc_scope {
	P2PDMA_RC_UNKNOWN,
	P2PDMA_RC_OWN_PORTS,
	P2PDMA_RC_ANY,
};

/*
 * Intel root complexes known to route peer-to-peer traffic, by the device
 * ID of the function that identifies the host bridge.  These are the IDs
 * and limits Linux 6.12 ships; add an ID only with its source named.
 */
static enum p2pdma_rc_scope p2pdma_intel_rc_scope(u16 device)
{
	switch (device) {
	case 0x3c00:	/* Xeon E5 v1 / Core i7 (Sandy Bridge-E) DMI2 */
	case 0x3c01:	/* ... the same, in PCI Express mode */
	case 0x2f00:	/* Xeon E5 v3 / E7 v3 / Core i7 (Haswell-E) DMI2 */
	case 0x2f01:	/* ... root port 0 */
		return P2PDMA_RC_OWN_PORTS;
	case 0x2020:	/* Xeon Scalable (Skylake-SP) DMI3 */
	case 0x2030:	/* Xeon Scalable (Skylake-SP) root port A */
	case 0x2031:	/* ... root port B */
	case 0x2032:	/* ... root port C */
	case 0x2033:	/* ... root port D */
	case 0x09a2:	/* 3rd generation Xeon Scalable (Ice Lake-SP) */
		return P2PDMA_RC_ANY;
	default:
		return P2PDMA_RC_UNKNOWN;
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
 * p2pdma_allowlisted() - may this host bridge route a peer-to-peer request?
 * @id: vendor << 16 | device of the function identifying the host bridge
 * @same_host_bridge: the request leaves through a root port of the same
 *	host bridge it entered
 *
 * Return: true if the built-in list or p2pdma.host_bridges says so.
 */
VISIBLE_IF_KUNIT bool p2pdma_allowlisted(u32 id, bool same_host_bridge)
{
	enum p2pdma_rc_scope scope = P2PDMA_RC_UNKNOWN;

	if (p2pdma_overridden(id))
		return true;
	if (id >> 16 == PCI_VENDOR_ID_INTEL)
		scope = p2pdma_intel_rc_scope(id & 0xffff);
	return scope == P2PDMA_RC_ANY ||
	       (scope == P2PDMA_RC_OWN_PORTS && same_host_bridge);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_allowlisted);

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
 * The pair cannot use a switch: either they share none, or a function on
 * the way redirects.  The traffic then crosses the host bridge(s), which
 * must route it.  An ACS refusal keeps its reason and blocker, the function
 * the user can fix.
 */
static void p2pdma_route_thru_host(struct pci_dev *provider,
				   struct pci_dev *client,
				   struct p2pdma_route *route)
{
	struct pci_bus *roots[] = {
		p2pdma_root_bus(provider), p2pdma_root_bus(client)
	};
	bool same = roots[0] == roots[1];
	int i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		u32 id = p2pdma_root_id(roots[i]);

		if (p2pdma_cpu_routes_p2p() ||
		    (id && p2pdma_allowlisted(id, same)))
			continue;

		route->host_bus = roots[i];
		route->host_bridge_id = id;
		if (route->reason != P2PDMA_REASON_ACS_REDIRECT)
			route->reason = id && p2pdma_allowlisted(id, true) ?
					P2PDMA_REASON_CROSS_HOST_BRIDGE :
					P2PDMA_REASON_HOST_BRIDGE;
		return;
	}

	route->map = PCI_P2PDMA_MAP_THRU_HOST_BRIDGE;
	route->distance = p2pdma_hops_to_root_bus(provider) +
			  p2pdma_hops_to_root_bus(client) +
			  P2PDMA_HOST_BRIDGE_PENALTY;
	route->reason = P2PDMA_REASON_OK;
	route->blocker = NULL;
}

/**
 * p2pdma_compute_route() - decide whether and how @client may reach @provider
 * @provider: any PCI function; it need not have peer-to-peer memory
 * @client: the PCI function that would do the DMA
 * @route: the verdict
 *
 * Reads the current topology, ACS controls and host bridge lists; never
 * looks at or changes the map-type cache.  Safe in atomic context.
 */
void p2pdma_compute_route(struct pci_dev *provider, struct pci_dev *client,
			  struct p2pdma_route *route)
{
	struct pci_dev *common;
	int p_hops, c_hops;

	*route = (struct p2pdma_route) {
		.map = PCI_P2PDMA_MAP_NOT_SUPPORTED,
		.distance = -1,
		.reason = P2PDMA_REASON_OK,
	};

	/*
	 * A device is its own nearest "bridge", at distance 0.  Devices in
	 * different domains share none: their traffic crosses two host
	 * bridges, like that of two root buses of one domain.
	 */
	common = p2pdma_common_upstream(provider, client, &p_hops, &c_hops);
	if (common) {
		route->blocker = p2pdma_acs_blocker(provider, p_hops);
		if (!route->blocker)
			route->blocker = p2pdma_acs_blocker(client, c_hops);
		if (!route->blocker) {
			route->map = PCI_P2PDMA_MAP_BUS_ADDR;
			route->distance = p_hops + c_hops;
			return;
		}
		route->reason = P2PDMA_REASON_ACS_REDIRECT;
	}

	p2pdma_route_thru_host(provider, client, route);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_compute_route);

/**
 * p2pdma_report() - log why a pair is refused
 * @provider: the provider
 * @client: the device that would do the DMA
 * @route: its verdict
 *
 * One line naming both devices, the reason and the remedy; rate limited
 * as a whole, on top of the once per pair of the mapping path, so that no
 * storm of refusals floods the log.
 */
void p2pdma_report(struct pci_dev *provider, struct device *client,
		   const struct p2pdma_route *route)
{
	const char *peer = dev_name(client);
	u32 id = route->host_bridge_id;

	switch (route->reason) {
	case P2PDMA_REASON_NOT_PCI:
		dev_warn_ratelimited(&provider->dev, "no peer-to-peer DMA with %s: %s is not a PCI device\n",
				     peer, peer);
		break;
	case P2PDMA_REASON_ACS_REDIRECT:
		dev_warn_ratelimited(&provider->dev, "no peer-to-peer DMA with %s: ACS redirect is set on %s and the host bridge does not route peer-to-peer traffic; boot with pci=disable_acs_redir=%s\n",
				     peer, pci_name(route->blocker),
				     pci_name(route->blocker));
		break;
	case P2PDMA_REASON_CROSS_HOST_BRIDGE:
		dev_warn_ratelimited(&provider->dev, "no peer-to-peer DMA with %s: host bridge %04x:%04x routes peer-to-peer traffic only between its own root ports\n",
				     peer, id >> 16, id & 0xffff);
		break;
	case P2PDMA_REASON_HOST_BRIDGE:
		if (id)
			dev_warn_ratelimited(&provider->dev, "no peer-to-peer DMA with %s: no common upstream bridge and host bridge %04x:%04x is not known to route peer-to-peer traffic; if it does, set p2pdma.host_bridges=%04x:%04x\n",
					     peer, id >> 16, id & 0xffff,
					     id >> 16, id & 0xffff);
		else
			dev_warn_ratelimited(&provider->dev, "no peer-to-peer DMA with %s: no common upstream bridge and the host bridge of %04x:%02x cannot be identified\n",
					     peer, pci_domain_nr(route->host_bus),
					     route->host_bus->number);
		break;
	default:
		break;
	}
}

/*
 * Map-type cache.
 *
 * Each provider remembers, per client, the map type pci_p2pdma_map_segment()
 * needs, so the mapping path reads no config space.  The rules:
 *
 * - pci_p2pdma_map_segment() trusts the cache; on a miss it computes and
 *   stores.
 * - pci_p2pdma_distance_many() always computes afresh from config space
 *   and stores the result, so an orchestrator setting up a transfer sees the
 *   current ACS controls and refreshes what the mapping path will use.
 * - Whatever else can change a verdict empties every provider's cache: a
 *   PCI device coming or going, a write to p2pdma.host_bridges, and
 *   pci_restore_state() re-enabling ACS after a reset or resume.  A verdict
 *   computed before such a change is never stored after it: the change bumps
 *   a generation before emptying the caches, and a store checks the
 *   generation under the xarray lock that emptying takes too.
 *
 * Entries are xarray value entries keyed by the client's domain and
 * pci_dev_id().  A refusal is logged once per pair and cache generation:
 * the entry records that it was.
 */
#define P2PDMA_ENTRY_MAP	GENMASK(1, 0)
#define P2PDMA_ENTRY_REPORTED	BIT(2)

/*
 * The memo.  Looking the client up in the xarray costs more than the rest
 * of mapping a one-segment request, which is what nvmet maps per I/O (row
 * map_1sg_128k_p2p_switch of make bench: 391 instructions with the lookup,
 * 229 with the memo, 242 for host memory).  So each provider also keeps the
 * first few clients that map its memory in &pci_p2pdma.map_memo: a PCI
 * client's struct device pointer with the map type in its low bits.
 *
 * Slots are written only under the xarray's lock, so they never keep what
 * the xarray no longer says:
 * - a slot is filled from an xarray hit, and only if the entry is still the
 *   same under the lock;
 * - whoever changes or drops entries empties the memo under the lock
 *   before returning.
 * A full memo stays as it is until the next change: with more clients than
 * slots, the others look the xarray up as before, and the memo's cache line
 * is not written on every mapping.  A slot cannot outlive the struct device
 * it names: a PCI device coming or going empties every cache.
 */
#define P2PDMA_MEMO_MAP		GENMASK(1, 0)
/* Room for every map type below the lowest bit of a struct device *. */
static_assert(__alignof__(struct device) > P2PDMA_MEMO_MAP);
static_assert((P2PDMA_MEMO_MAP & PCI_P2PDMA_MAP_THRU_HOST_BRIDGE) ==
	      PCI_P2PDMA_MAP_THRU_HOST_BRIDGE);

/* Empty @p2p's memo after its xarray changed.  Under the xarray's lock. */
static void p2pdma_memo_forget(struct pci_p2pdma *p2p)
{
	unsigned int i;

	lockdep_assert_held(&p2p->map_types.xa_lock);
	for (i = 0; i < P2PDMA_MEMO_SLOTS; i++)
		WRITE_ONCE(p2p->map_memo[i], 0);
}

/* An empty slot of @p2p's memo, or -1. */
static int p2pdma_memo_free_slot(struct pci_p2pdma *p2p)
{
	unsigned int i;

	for (i = 0; i < P2PDMA_MEMO_SLOTS; i++)
		if (!READ_ONCE(p2p->map_memo[i]))
			return i;
	return -1;
}

static bool p2pdma_memo_holds(struct pci_p2pdma *p2p, unsigned long memo)
{
	unsigned int i;

	for (i = 0; i < P2PDMA_MEMO_SLOTS; i++)
		if (READ_ONCE(p2p->map_memo[i]) == memo)
			return true;
	return false;
}

/*
 * Remember that the xarray said @cached for @dev (key @key), if a slot is
 * free and the entry has not changed since.  Any context.
 */
static void p2pdma_memo_fill(struct pci_p2pdma *p2p, struct device *dev,
			     unsigned long key, void *cached)
{
	unsigned long memo = (unsigned long)dev |
			     FIELD_GET(P2PDMA_ENTRY_MAP, xa_to_value(cached));
	unsigned long flags;
	int slot;

	/* A full memo is the steady state with many clients: no lock. */
	if (p2pdma_memo_free_slot(p2p) < 0)
		return;

	xa_lock_irqsave(&p2p->map_types, flags);
	/* Another CPU may have remembered @dev meanwhile. */
	if (xa_load(&p2p->map_types, key) == cached &&
	    !p2pdma_memo_holds(p2p, memo)) {
		slot = p2pdma_memo_free_slot(p2p);
		if (slot >= 0)
			WRITE_ONCE(p2p->map_memo[slot], memo);
	}
	xa_unlock_irqrestore(&p2p->map_types, flags);
}

static atomic_t p2pdma_verdict_gen = ATOMIC_INIT(0);

static unsigned int p2pdma_verdict_generation(void)
{
	/* Pairs with the full barrier of atomic_inc_return() below. */
	return atomic_read_acquire(&p2pdma_verdict_gen);
}

/**
 * p2pdma_forget_verdicts() - empty every provider's map-type cache
 *
 * Does not sleep; callable with interrupts off (not from NMI).
 */
void p2pdma_forget_verdicts(void)
{
	struct pci_p2pdma *p2p;
	unsigned long flags;

	atomic_inc_return(&p2pdma_verdict_gen);

	rcu_read_lock();
	list_for_each_entry_rcu(p2p, &p2pdma_providers, node) {
		xa_destroy(&p2p->map_types);
		/*
		 * A fill between the two sections finds the xarray empty and
		 * fills nothing.
		 */
		xa_lock_irqsave(&p2p->map_types, flags);
		p2pdma_memo_forget(p2p);
		xa_unlock_irqrestore(&p2p->map_types, flags);
	}
	rcu_read_unlock();
}

/*
 * Store @entry for @key unless the cache was emptied since @gen.  An entry
 * that already holds @entry is left alone without taking the lock: setup
 * paths ask about the same pairs again and again (rows distance_* of make
 * bench), and skipping a store is always safe.
 */
static void p2pdma_verdict_store(struct pci_p2pdma *p2p, unsigned long key,
				 unsigned int gen, unsigned long entry)
{
	unsigned long flags;

	if (xa_load(&p2p->map_types, key) == xa_mk_value(entry))
		return;

	xa_lock_irqsave(&p2p->map_types, flags);
	/* A failed store only costs a recomputation next time. */
	if (gen == (unsigned int)atomic_read(&p2pdma_verdict_gen)) {
		__xa_store(&p2p->map_types, key, xa_mk_value(entry),
			   GFP_ATOMIC);
		p2pdma_memo_forget(p2p);
	}
	xa_unlock_irqrestore(&p2p->map_types, flags);
}

/* The key of @client in a provider's cache. */
static unsigned long p2pdma_client_key(struct pci_dev *client)
{
	return (unsigned long)pci_domain_nr(client->bus) << 16 |
	       pci_dev_id(client);
}

/*
 * A cache miss: compute, explain a refusal once, store.  Out of line so
 * that a hit pays for none of it (rows map_1sg_128k_p2p_* of make bench).
 */
static noinline enum pci_p2pdma_map_type
p2pdma_map_type_miss(struct pci_p2pdma *p2p, struct device *dev)
{
	struct p2pdma_route route = { .reason = P2PDMA_REASON_NOT_PCI };
	struct pci_dev *client;
	unsigned long entry;
	unsigned int gen;

	/* The DMA is done by @dev itself; a PCI parent does not make it PCI. */
	if (!dev_is_pci(dev)) {
		p2pdma_report(p2p->pdev, dev, &route);
		return PCI_P2PDMA_MAP_NOT_SUPPORTED;
	}

	client = to_pci_dev(dev);
	/* Before computing: a change during the computation voids it. */
	gen = p2pdma_verdict_generation();
	p2pdma_compute_route(p2p->pdev, client, &route);
	entry = FIELD_PREP(P2PDMA_ENTRY_MAP, route.map);
	if (route.map == PCI_P2PDMA_MAP_NOT_SUPPORTED) {
		/* The I/O error this causes surfaces far away: explain it. */
		p2pdma_report(p2p->pdev, dev, &route);
		entry |= P2PDMA_ENTRY_REPORTED;
	}
	p2pdma_verdict_store(p2p, p2pdma_client_key(client), gen, entry);
	return route.map;
}

/*
 * The map type for DMA by @dev to memory of @p2p from the xarray, which
 * then goes into the memo.  A refusal not yet explained (stored by
 * pci_p2pdma_distance_many()) counts as a miss.  Out of line: the memo
 * answers most calls.
 */
static noinline enum pci_p2pdma_map_type
p2pdma_map_type_lookup(struct pci_p2pdma *p2p, struct device *dev)
{
	unsigned long entry, key;
	void *cached;

	if (!dev_is_pci(dev))
		return p2pdma_map_type_miss(p2p, dev);
	key = p2pdma_client_key(to_pci_dev(dev));
	cached = xa_load(&p2p->map_types, key);
	if (!xa_is_value(cached))
		return p2pdma_map_type_miss(p2p, dev);
	entry = xa_to_value(cached);
	if (!(entry & P2PDMA_ENTRY_REPORTED) &&
	    FIELD_GET(P2PDMA_ENTRY_MAP, entry) == PCI_P2PDMA_MAP_NOT_SUPPORTED)
		return p2pdma_map_type_miss(p2p, dev);
	p2pdma_memo_fill(p2p, dev, key, cached);
	return FIELD_GET(P2PDMA_ENTRY_MAP, entry);
}

/*
 * The map type for DMA by @dev to memory of @p2p: memo, then xarray.  Only
 * PCI devices are remembered, so a non-PCI device that a freed PCI device's
 * struct device was reused for can never match.
 */
static enum pci_p2pdma_map_type p2pdma_map_type(struct pci_p2pdma *p2p,
						struct device *dev)
{
	unsigned long memo;
	unsigned int i;

	if (dev_is_pci(dev)) {
		for (i = 0; i < P2PDMA_MEMO_SLOTS; i++) {
			memo = READ_ONCE(p2p->map_memo[i]);
			if ((memo & ~P2PDMA_MEMO_MAP) == (unsigned long)dev)
				return memo & P2PDMA_MEMO_MAP;
		}
	}
	return p2pdma_map_type_lookup(p2p, dev);
}

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * p2pdma_cached_map_type() - what the mapping path would take from the cache
 * @provider: a provider
 * @client: a PCI function
 *
 * Return: the cached map type, or %PCI_P2PDMA_MAP_UNKNOWN if none.
 */
VISIBLE_IF_KUNIT enum pci_p2pdma_map_type
p2pdma_cached_map_type(struct pci_dev *provider, struct pci_dev *client)
{
	enum pci_p2pdma_map_type map = PCI_P2PDMA_MAP_UNKNOWN;
	struct pci_p2pdma *p2p;
	void *cached;

	rcu_read_lock();
	p2p = rcu_dereference(provider->p2pdma);
	if (p2p) {
		cached = xa_load(&p2p->map_types, p2pdma_client_key(client));
		if (xa_is_value(cached))
			map = FIELD_GET(P2PDMA_ENTRY_MAP, xa_to_value(cached));
	}
	rcu_read_unlock();
	return map;
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_cached_map_type);

/**
 * p2pdma_set_cached_map_type() - store a verdict as distance_many() would
 * @provider: a provider
 * @client: a PCI function
 * @map: the map type to store; a refusal is stored as already reported
 */
VISIBLE_IF_KUNIT void
p2pdma_set_cached_map_type(struct pci_dev *provider, struct pci_dev *client,
			   enum pci_p2pdma_map_type map)
{
	unsigned long entry = FIELD_PREP(P2PDMA_ENTRY_MAP, map);
	unsigned int gen = p2pdma_verdict_generation();
	struct pci_p2pdma *p2p;

	if (map == PCI_P2PDMA_MAP_NOT_SUPPORTED)
		entry |= P2PDMA_ENTRY_REPORTED;
	rcu_read_lock();
	p2p = rcu_dereference(provider->p2pdma);
	if (p2p)
		p2pdma_verdict_store(p2p, p2pdma_client_key(client), gen,
				     entry);
	rcu_read_unlock();
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_set_cached_map_type);
#endif

/*
 * The peer decodes PCI bus addresses: no IOMMU mapping, no host bridge;
 * the DMA API leaves entries marked so alone when it unmaps.
 */
static void p2pdma_use_bus_address(struct scatterlist *sg, u64 bus_off)
{
	sg->dma_address = sg_phys(sg) + bus_off;
	sg_dma_len(sg) = sg->length;
	sg_dma_mark_bus_address(sg);
}

static enum pci_p2pdma_map_type
p2pdma_map_cached(struct pci_p2pdma_map_state *state, struct scatterlist *sg)
{
	if (state->map == PCI_P2PDMA_MAP_BUS_ADDR)
		p2pdma_use_bus_address(sg, state->bus_off);
	return state->map;
}

/*
 * The first entry of a list, or one from another range: look the range's
 * provider up.  Kept out of line so that the entries after the first,
 * which only compare a pointer, pay for no register saves (rows
 * map_32sg_p2p_* of make bench).
 */
static noinline enum pci_p2pdma_map_type
p2pdma_map_new_pgmap(struct pci_p2pdma_map_state *state, struct device *dev,
		     struct scatterlist *sg)
{
	struct dev_pagemap *pgmap = sg_page(sg)->pgmap;
	struct p2pdma_range *range;

	range = container_of(pgmap, struct p2pdma_range, pgmap);
	state->pgmap = pgmap;
	state->map = p2pdma_map_type(range->p2p, dev);
	state->bus_off = range->bus_off;
	return p2pdma_map_cached(state, sg);
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
	if (unlikely(state->pgmap != sg_page(sg)->pgmap))
		return p2pdma_map_new_pgmap(state, dev, sg);
	return p2pdma_map_cached(state, sg);
}

/* The verdict for @client, refreshing @provider's cache if it has one. */
static void p2pdma_refresh_route(struct pci_dev *provider,
				 struct pci_dev *client,
				 struct p2pdma_route *route)
{
	unsigned int gen = p2pdma_verdict_generation();
	struct pci_p2pdma *p2p;

	p2pdma_compute_route(provider, client, route);

	rcu_read_lock();
	p2p = rcu_dereference(provider->p2pdma);
	if (p2p)
		p2pdma_verdict_store(p2p, p2pdma_client_key(client), gen,
				     FIELD_PREP(P2PDMA_ENTRY_MAP, route->map));
	rcu_read_unlock();
}

/**
 * pci_p2pdma_distance_many() - how far @provider's memory is from clients
 * @provider: the PCI function whose memory would be used
 * @clients: the devices that would DMA to or from it; each is resolved to
 *	the nearest PCI function at or above it
 * @num_clients: number of entries in @clients
 * @verbose: log one warning per refused client with the reason and remedy
 *
 * Every pair is evaluated afresh from config space (ACS controls may have
 * changed) and the answer refreshes the cache pci_p2pdma_map_segment()
 * uses.  Works for any @provider, with or without peer-to-peer memory.
 * Safe in atomic context.
 *
 * Return: the sum of the distances, or -1 if any client is refused or
 * there are none.
 */
int pci_p2pdma_distance_many(struct pci_dev *provider, struct device **clients,
			     int num_clients, bool verbose)
{
	struct p2pdma_route route;
	bool refused = false;
	int i, total = 0;

	if (num_clients <= 0)
		return -1;

	for (i = 0; i < num_clients; i++) {
		struct device *dev = clients[i];

		/* The PCI function at or above @dev does the DMA. */
		while (dev && !dev_is_pci(dev))
			dev = dev->parent;
		if (dev) {
			p2pdma_refresh_route(provider, to_pci_dev(dev), &route);
		} else {
			route.map = PCI_P2PDMA_MAP_NOT_SUPPORTED;
			route.reason = P2PDMA_REASON_NOT_PCI;
		}

		if (route.map != PCI_P2PDMA_MAP_NOT_SUPPORTED) {
			total += route.distance;
			continue;
		}
		refused = true;
		if (verbose)
			p2pdma_report(provider, clients[i], &route);
	}

	return refused ? -1 : total;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_distance_many);

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

	/* A linked provider's device outlives the grace period. */
	rcu_read_lock();
	list_for_each_entry_rcu(p2p, &p2pdma_providers, node) {
		int dist;

		if (!READ_ONCE(p2p->published) || !p2pdma_usable(p2p))
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
		 * The first needs no random number: drawing one costs a
		 * ChaCha20 block now and then (row find_many_1client).
		 */
		if (++ties == 1 || !get_random_u32_below(ties))
			best = p2p->pdev;
	}
	pci_dev_get(best);
	rcu_read_unlock();

	return best;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_find_many);

/*
 * p2pdma.host_bridges: host bridges (vendor:device of the function that
 * identifies them, as the route report prints it) that the administrator
 * declares able to route peer-to-peer traffic, on top of the built-in list.
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
	p2pdma_forget_verdicts();

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
		 "Host bridges (VVVV:DDDD of the function identifying them, comma separated) that route peer-to-peer traffic");

/**
 * pci_p2pdma_acs_restored() - ACS controls of @dev were written again
 * @dev: a function whose config space pci_restore_state() rewrote
 *
 * A reset or resume re-enables ACS without any device coming or going, so
 * a cached verdict to use bus addresses may be wrong now.  Only a restore
 * that leaves redirection on can make one wrong: a stale refusal is safe,
 * and pci_p2pdma_distance_many() refreshes it.  Does not sleep.
 */
void pci_p2pdma_acs_restored(struct pci_dev *dev)
{
	if (p2pdma_acs_redirects(dev))
		p2pdma_forget_verdicts();
}

/*
 * Bus notifier: keeps p2pdma_root_ids current and empties the map-type
 * caches whenever a PCI device comes or goes.
 */
static int p2pdma_bus_notify(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);

	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		if (pci_is_root_bus(pdev->bus))
			p2pdma_root_changed(pdev->bus, NULL);
		p2pdma_forget_verdicts();
		break;
	case BUS_NOTIFY_DEL_DEVICE:
		if (pci_is_root_bus(pdev->bus))
			p2pdma_root_changed(pdev->bus, pdev);
		p2pdma_forget_verdicts();
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		/* Again: its driver could map DMA until it was unbound. */
		p2pdma_forget_verdicts();
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block p2pdma_bus_nb = {
	.notifier_call = p2pdma_bus_notify,
};

/* After pci_bus_type exists (postcore), before buses are scanned. */
int __init p2pdma_route_init(void)
{
	struct pci_bus *bus = NULL;
	int ret;

	ret = bus_register_notifier(&pci_bus_type, &p2pdma_bus_nb);
	if (ret) {
		pr_err("cannot watch the PCI bus: %d; host bridges will be treated as unknown\n",
		       ret);
		return ret;
	}

	/* Root buses that appeared before the notifier, should there be any. */
	while ((bus = pci_find_next_bus(bus)))
		p2pdma_root_changed(bus, NULL);
	return 0;
}
