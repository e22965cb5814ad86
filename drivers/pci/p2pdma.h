/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of the PCI peer-to-peer DMA core shared with its KUnit suite.
 *
 * Copyright (c) 2026 The p2pdma authors
 */

#ifndef DRIVERS_PCI_P2PDMA_H
#define DRIVERS_PCI_P2PDMA_H

#include <linux/dma-map-ops.h>
#include <linux/pci.h>
#include <linux/types.h>

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
 * @P2PDMA_REASON_ACS_REDIRECT: a port below the shared bridge redirects
 *	peer-to-peer requests upstream and the host bridge cannot route them.
 * @P2PDMA_REASON_HOST_BRIDGE: the only shared component is the host bridge
 *	(or two host bridges) and it is not known to route peer-to-peer traffic.
 * @P2PDMA_REASON_OTHER_DOMAIN: the devices are in different PCI domains.
 */
enum p2pdma_reason {
	P2PDMA_REASON_OK,
	P2PDMA_REASON_NOT_PCI,
	P2PDMA_REASON_ACS_REDIRECT,
	P2PDMA_REASON_HOST_BRIDGE,
	P2PDMA_REASON_OTHER_DOMAIN,
};

/**
 * struct p2pdma_route - the verdict for one provider/client pair
 * @map: %PCI_P2PDMA_MAP_BUS_ADDR, %PCI_P2PDMA_MAP_THRU_HOST_BRIDGE or
 *	%PCI_P2PDMA_MAP_NOT_SUPPORTED.
 * @distance: hops between the two devices (see the topology rules in
 *	Documentation/driver-api/pci/p2pdma.rst); -1 when @map is
 *	%PCI_P2PDMA_MAP_NOT_SUPPORTED.
 * @reason: why; %P2PDMA_REASON_OK whenever @map allows the transfer.
 * @blocker: for %P2PDMA_REASON_ACS_REDIRECT the port that redirects, for
 *	%P2PDMA_REASON_HOST_BRIDGE the function at 00.0 of the refusing root
 *	bus (NULL if there is none); NULL otherwise.  No reference is held.
 * @host_bus: root bus whose host bridge refused, or NULL.
 * @host_bridge_id: vendor << 16 | device of the function at 00.0 of
 *	@host_bus, 0 if there is none.
 * @live: the verdict read ACS controls from config space, which can change
 *	without any device coming or going.
 *
 * The evaluation sets every field one by one (callers may pass it
 * uninitialized memory): a new field must be set there too.
 */
struct p2pdma_route {
	enum pci_p2pdma_map_type map;
	int distance;
	enum p2pdma_reason reason;
	struct pci_dev *blocker;
	struct pci_bus *host_bus;
	u32 host_bridge_id;
	bool live;
};

#if IS_ENABLED(CONFIG_KUNIT)
void p2pdma_route(struct pci_dev *provider, struct pci_dev *client,
		  struct p2pdma_route *route);
bool p2pdma_cpu_routes_p2p(void);
int p2pdma_parse_host_bridges(const char *val, u32 *ids,
			      unsigned int max_ids);
#endif

#endif /* DRIVERS_PCI_P2PDMA_H */
