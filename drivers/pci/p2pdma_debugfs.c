// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA: the route report in debugfs.
 *
 * Copyright (c) 2026 The p2pdma authors
 */

#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/seq_file.h>

#include "p2pdma.h"

/*
 * <debugfs>/p2pdma/routes answers the question users otherwise take to a
 * mailing list: can these two devices do peer-to-peer DMA, and if not, why?
 * One line for every provider and every PCI function but bridges:
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
	case P2PDMA_REASON_CROSS_HOST_BRIDGE:
		seq_printf(m, "host bridge %04x:%04x routes peer-to-peer traffic only between its own root ports",
			   id >> 16, id & 0xffff);
		break;
	case P2PDMA_REASON_HOST_BRIDGE:
		if (id)
			seq_printf(m, "no shared upstream bridge; host bridge %04x:%04x not known to route peer-to-peer traffic (p2pdma.host_bridges=%04x:%04x)",
				   id >> 16, id & 0xffff, id >> 16, id & 0xffff);
		else
			seq_printf(m, "no shared upstream bridge; the host bridge of %04x:%02x cannot be identified",
				   pci_domain_nr(route->host_bus),
				   route->host_bus->number);
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
			if (client->class >> 16 == PCI_BASE_CLASS_BRIDGE)
				continue;
			p2pdma_compute_route(p2p->pdev, client, &route);
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

void __init p2pdma_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("p2pdma", NULL);

	debugfs_create_file("routes", 0444, dir, NULL, &p2pdma_routes_fops);
}
