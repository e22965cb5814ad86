// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the PCI peer-to-peer DMA core
 *
 * Four suites:
 *  - pci_p2pdma_attr: the "p2pmem" attribute grammar shared with nvmet
 *    (pci_p2pdma_enable_store() and pci_p2pdma_enable_show());
 *  - pci_p2pdma_topology: the routing rules, on synthetic hierarchies: root
 *    buses in otherwise unused PCI domains whose configuration space is a
 *    table in memory, scanned but never offered to drivers;
 *  - pci_p2pdma_host_bridges: the p2pdma.host_bridges override, its parser
 *    and its effect;
 *  - pci_p2pdma_p2pmem: the allocator and the DMA mapping path, against
 *    the first real provider found (an NVMe controller memory buffer under
 *    QEMU).  These skip when there is none.
 *
 * Everything a test takes is given back by a KUnit action, so a failed
 * assertion leaves neither p2pmem, nor mappings, nor fake buses behind.
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/bitfield.h>
#include <linux/cpu.h>
#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/genalloc.h>
#include <linux/log2.h>
#include <linux/memremap.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/percpu-refcount.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/unaligned.h>
#include <linux/workqueue.h>

#include "p2pdma.h"

KUNIT_DEFINE_ACTION_WRAPPER(p2pdma_test_put_pdev, pci_dev_put,
			    struct pci_dev *);
KUNIT_DEFINE_ACTION_WRAPPER(p2pdma_test_kvfree, kvfree, const void *);

/* Run @action(@ctx) when the test ends, or now and abort if that fails */
static void p2pdma_defer(struct kunit *test, kunit_action_t *action,
			 void *ctx)
{
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, action, ctx), 0);
}

/* The distance struct p2pdma_route carries for a refused pair */
#define P2PDMA_TEST_REFUSED	(-1)

static const char *p2pdma_map_name(enum pci_p2pdma_map_type map)
{
	switch (map) {
	case PCI_P2PDMA_MAP_UNKNOWN:
		return "UNKNOWN";
	case PCI_P2PDMA_MAP_NOT_SUPPORTED:
		return "NOT_SUPPORTED";
	case PCI_P2PDMA_MAP_BUS_ADDR:
		return "BUS_ADDR";
	case PCI_P2PDMA_MAP_THRU_HOST_BRIDGE:
		return "THRU_HOST_BRIDGE";
	}
	return "?";
}

/*
 * The first PCI device of the system, with a reference dropped when the
 * test ends, or NULL when there is none.
 */
static struct pci_dev *p2pdma_test_any_pdev(struct kunit *test)
{
	struct pci_dev *pdev = pci_get_device(PCI_ANY_ID, PCI_ANY_ID, NULL);

	if (pdev)
		p2pdma_defer(test, p2pdma_test_put_pdev, pdev);
	return pdev;
}

/* ---- pci_p2pdma_enable_store() and pci_p2pdma_enable_show() ---- */

struct p2pdma_bool_word {
	const char *word;
	bool value;
};

static const struct p2pdma_bool_word p2pdma_bool_words[] = {
	{ "0", false },
	{ "1", true },
	{ "n", false },
	{ "y", true },
	{ "no", false },
	{ "yes", true },
	{ "off", false },
	{ "on", true },
	{ "false", false },
	{ "true", true },
};

KUNIT_ARRAY_PARAM_DESC(p2pdma_bool_word, p2pdma_bool_words, word);

enum p2pdma_spelling {
	P2PDMA_LOWER,
	P2PDMA_UPPER,
	P2PDMA_TITLE,
	P2PDMA_ALTERNATE,
	P2PDMA_NR_SPELLINGS,
};

static void p2pdma_spell(char *buf, const char *word,
			 enum p2pdma_spelling spelling, bool newline)
{
	size_t i;

	for (i = 0; word[i]; i++) {
		bool upper = spelling == P2PDMA_UPPER ||
			     (spelling == P2PDMA_TITLE && !i) ||
			     (spelling == P2PDMA_ALTERNATE && (i & 1));

		buf[i] = upper ? toupper(word[i]) : word[i];
	}
	if (newline)
		buf[i++] = '\n';
	buf[i] = '\0';
}

/* Every boolean word, in any case, with and without one newline. */
static void pci_p2pdma_store_bool(struct kunit *test)
{
	const struct p2pdma_bool_word *w = test->param_value;
	enum p2pdma_spelling spelling;
	char buf[16];
	int newline;

	for (spelling = 0; spelling < P2PDMA_NR_SPELLINGS; spelling++) {
		for (newline = 0; newline <= 1; newline++) {
			struct pci_dev *p2p_dev = NULL;
			bool use = !w->value;
			int ret;

			p2pdma_spell(buf, w->word, spelling, newline);
			ret = pci_p2pdma_enable_store(buf, &p2p_dev, &use);
			KUNIT_EXPECT_EQ_MSG(test, ret, 0, "input \"%*pE\"",
					    (int)strlen(buf), buf);
			KUNIT_EXPECT_EQ_MSG(test, use, w->value,
					    "input \"%*pE\"", (int)strlen(buf),
					    buf);
			KUNIT_EXPECT_NULL_MSG(test, p2p_dev, "input \"%*pE\"",
					      (int)strlen(buf), buf);
		}
	}
}

struct p2pdma_bad_input {
	const char *desc;
	const char *input;	/* NULL: a 300 character string */
	int err;		/* the exact error, or 0 for any negative one */
};

static const struct p2pdma_bad_input p2pdma_bad_inputs[] = {
	{ "empty", "", -ENODEV },
	{ "newline", "\n", -ENODEV },
	{ "yes-please", "yes-please", -ENODEV },
	{ "no:such:dev", "no:such:dev", -ENODEV },
	{ "two", "2", -ENODEV },
	{ "one-two-newlines", "1\n\n", -ENODEV },
	{ "bad-hex-bus", "0000:zz:00.0", -ENODEV },
	{ "onoff", "onoff", -ENODEV },
	{ "of", "of", -ENODEV },
	{ "leading-space", " 1", -ENODEV },
	{ "trailing-space", "1 ", -ENODEV },
	{ "crlf", "y\r\n", -ENODEV },
	{ "hex-one", "0x1", -ENODEV },
	{ "long", NULL, -ENODEV },
	{ "absent-device", "abcd:ef:1f.7", -ENODEV },
	{ "absent-device-newline", "abcd:ef:1f.7\n", -ENODEV },
};

KUNIT_ARRAY_PARAM_DESC(p2pdma_bad_input, p2pdma_bad_inputs, desc);

/*
 * A refused input returns an error and leaves both outputs alone.  A real
 * device stands in as the previous choice so that a stray store or
 * pci_dev_put() on it shows up.
 */
static void p2pdma_expect_refused(struct kunit *test, const char *input,
				  int err, struct pci_dev *prev)
{
	int use_before;

	for (use_before = 0; use_before <= 1; use_before++) {
		unsigned int refs = prev ? kref_read(&prev->dev.kobj.kref) : 0;
		struct pci_dev *p2p_dev = prev;
		bool use = use_before;
		int ret;

		ret = pci_p2pdma_enable_store(input, &p2p_dev, &use);
		if (err)
			KUNIT_EXPECT_EQ_MSG(test, ret, err, "input \"%.40s\"",
					    input);
		else
			KUNIT_EXPECT_LT_MSG(test, ret, 0, "input \"%.40s\"",
					    input);
		KUNIT_EXPECT_EQ(test, use, (bool)use_before);
		KUNIT_EXPECT_PTR_EQ(test, p2p_dev, prev);
		if (prev)
			KUNIT_EXPECT_EQ(test, kref_read(&prev->dev.kobj.kref),
					refs);
	}
}

static void pci_p2pdma_store_invalid(struct kunit *test)
{
	const struct p2pdma_bad_input *bad = test->param_value;
	const char *input = bad->input;

	if (!input) {
		char *buf = kunit_kzalloc(test, 301, GFP_KERNEL);

		KUNIT_ASSERT_NOT_NULL(test, buf);
		memset(buf, '1', 300);
		input = buf;
	}
	p2pdma_expect_refused(test, input, bad->err,
			      p2pdma_test_any_pdev(test));
}

/*
 * Allocation cases fill a provider's memory to the last byte and hammer it
 * from every CPU.  On a live machine that would starve the provider's real
 * users, so they run only on a provider named by the administrator.
 */
static char *provider;
module_param(provider, charp, 0444);
MODULE_PARM_DESC(provider,
		 "PCI device (DDDD:BB:DD.F) whose p2pmem the allocation cases may exhaust");

static struct pci_dev *p2pdma_named_provider(struct kunit *test)
{
	struct device *dev;

	if (!provider || !*provider)
		kunit_skip(test, "set p2pdma_test.provider= to exhaust a provider");
	wait_for_device_probe();
	dev = bus_find_device_by_name(&pci_bus_type, NULL, provider);
	if (!dev)
		kunit_skip(test, "no PCI device %s", provider);
	p2pdma_defer(test, p2pdma_test_put_pdev, to_pci_dev(dev));
	KUNIT_ASSERT_TRUE_MSG(test, pci_has_p2pmem(to_pci_dev(dev)),
			      "%s has no published p2pmem", provider);
	return to_pci_dev(dev);
}

static struct pci_dev *p2pdma_find_provider(struct kunit *test)
{
	struct pci_dev *pdev = NULL;

	/* Built in, the suite may run while NVMe still probes asynchronously */
	wait_for_device_probe();
	for_each_pci_dev(pdev)
		if (pci_has_p2pmem(pdev))
			break;
	if (!pdev)
		kunit_skip(test, "no p2pmem provider");
	p2pdma_defer(test, p2pdma_test_put_pdev, pdev);
	return pdev;
}

/* A provider's name selects it, with a reference for the caller. */
static void pci_p2pdma_store_provider(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	char buf[32];
	int newline;

	for (newline = 0; newline <= 1; newline++) {
		unsigned int refs = kref_read(&provider->dev.kobj.kref);
		struct pci_dev *p2p_dev = NULL;
		bool use = false;
		int ret;

		snprintf(buf, sizeof(buf), "%s%s", pci_name(provider),
			 newline ? "\n" : "");
		ret = pci_p2pdma_enable_store(buf, &p2p_dev, &use);
		KUNIT_EXPECT_EQ(test, ret, 0);
		KUNIT_EXPECT_TRUE(test, use);
		KUNIT_EXPECT_PTR_EQ(test, p2p_dev, provider);
		if (p2p_dev != provider)
			continue;
		KUNIT_EXPECT_EQ(test, kref_read(&provider->dev.kobj.kref),
				refs + 1);
		pci_dev_put(p2p_dev);
	}
}

/* An existing device without published p2pmem cannot be chosen */
static void pci_p2pdma_store_non_provider(struct kunit *test)
{
	struct pci_dev *pdev = NULL;
	char buf[32];

	for_each_pci_dev(pdev)
		if (!pci_has_p2pmem(pdev))
			break;
	if (!pdev)
		kunit_skip(test, "no PCI device without p2pmem");
	p2pdma_defer(test, p2pdma_test_put_pdev, pdev);

	snprintf(buf, sizeof(buf), "%s\n", pci_name(pdev));
	p2pdma_expect_refused(test, buf, -ENODEV, pdev);
	p2pdma_expect_refused(test, pci_name(pdev), -ENODEV, NULL);
}

static void pci_p2pdma_show_bool(struct kunit *test)
{
	char *page = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, page);

	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_show(page, NULL, false), 2);
	KUNIT_EXPECT_STREQ(test, page, "0\n");
	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_show(page, NULL, true), 2);
	KUNIT_EXPECT_STREQ(test, page, "1\n");
}

static void pci_p2pdma_show_device(struct kunit *test)
{
	struct pci_dev *pdev = p2pdma_test_any_pdev(test);
	char *page = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	char want[32];

	KUNIT_ASSERT_NOT_NULL(test, page);
	if (!pdev)
		kunit_skip(test, "no PCI device");

	snprintf(want, sizeof(want), "%s\n", pci_name(pdev));
	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_show(page, pdev, true),
			(ssize_t)strlen(want));
	KUNIT_EXPECT_STREQ(test, page, want);
	/* A device chosen but p2pmem turned off reads back as off */
	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_show(page, pdev, false), 2);
	KUNIT_EXPECT_STREQ(test, page, "0\n");
}

/* ---- Synthetic hierarchies ---- */

/*
 * The root buses live in PCI domains FAKE_DOMAIN_BASE plus a small offset,
 * far above anything firmware hands out (two may share one).  Config space
 * is a read-only table: sizing a BAR or a window reads back zero, so no
 * resources are claimed, and the kernel cannot reprogram the ACS control
 * register the test scripted.
 */
#define FAKE_DOMAIN_BASE	0x7ff0
#define FAKE_MAX_ROOTS		2
#define FAKE_VENDOR		PCI_VENDOR_ID_REDHAT
#define FAKE_PCIE_CAP		0x40
#define FAKE_ACS_CAP		PCI_CFG_SPACE_SIZE

#define FAKE_ACS_REDIRECT	(PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC)
/* What Linux itself enables on a port when an IOMMU asks for ACS */
#define FAKE_ACS_LINUX		(PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | \
				 PCI_ACS_UF)
#define FAKE_ACS_QUIET		(PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_UF)

#define FAKE_INTEL(_dev)	((u32)PCI_VENDOR_ID_INTEL << 16 | (_dev))
#define FAKE_HB_Q35	FAKE_INTEL(0x29c0)	/* QEMU q35: not allowlisted */
#define FAKE_HB_SKX	FAKE_INTEL(0x2030)	/* Skylake-SP: allowlisted */
#define FAKE_HB_SNB	FAKE_INTEL(0x3c00)	/* Sandy Bridge-E: own ports */

enum fake_kind {
	FAKE_HOST,	/* host bridge, 00.0 of a root bus */
	FAKE_RP,	/* root port */
	FAKE_USP,	/* switch upstream port */
	FAKE_DSP,	/* switch downstream port */
	FAKE_EP,	/* PCIe endpoint */
	FAKE_RCIEP,	/* root complex integrated endpoint */
	FAKE_PCIE_PCI,	/* PCIe-to-PCI bridge */
	FAKE_PCI_DEV,	/* conventional PCI device */
};

static const struct fake_kind_info {
	u32 class;	/* class code and programming interface */
	u8 hdr;		/* header layout */
	s8 pcie;	/* PCIe device/port type, -1 for conventional PCI */
} fake_kinds[] = {
	[FAKE_HOST] = { PCI_CLASS_BRIDGE_HOST << 8, PCI_HEADER_TYPE_NORMAL,
			-1 },
	[FAKE_RP] = { PCI_CLASS_BRIDGE_PCI_NORMAL, PCI_HEADER_TYPE_BRIDGE,
		      PCI_EXP_TYPE_ROOT_PORT },
	[FAKE_USP] = { PCI_CLASS_BRIDGE_PCI_NORMAL, PCI_HEADER_TYPE_BRIDGE,
		       PCI_EXP_TYPE_UPSTREAM },
	[FAKE_DSP] = { PCI_CLASS_BRIDGE_PCI_NORMAL, PCI_HEADER_TYPE_BRIDGE,
		       PCI_EXP_TYPE_DOWNSTREAM },
	[FAKE_EP] = { PCI_CLASS_MEMORY_OTHER << 8, PCI_HEADER_TYPE_NORMAL,
		      PCI_EXP_TYPE_ENDPOINT },
	[FAKE_RCIEP] = { PCI_CLASS_MEMORY_OTHER << 8, PCI_HEADER_TYPE_NORMAL,
			 PCI_EXP_TYPE_RC_END },
	[FAKE_PCIE_PCI] = { PCI_CLASS_BRIDGE_PCI_NORMAL,
			    PCI_HEADER_TYPE_BRIDGE, PCI_EXP_TYPE_PCI_BRIDGE },
	[FAKE_PCI_DEV] = { PCI_CLASS_MEMORY_OTHER << 8,
			   PCI_HEADER_TYPE_NORMAL, -1 },
};

struct fake_fn {
	const char *name;
	u8 root;		/* index into fake_scenario.roots */
	u8 bus;
	u8 devfn;
	u8 kind;		/* enum fake_kind */
	u8 sec, sub;		/* bridges: secondary and subordinate bus */
	bool mf;		/* function 0 of a multifunction device */
	bool acs;		/* has an ACS capability ... */
	u16 acs_ctrl;		/* ... with this control register */
	u32 id;			/* vendor << 16 | device, if not the default */
};

#define FAKE_DEV(_name, _root, _bus, _slot, _fn, _kind)			\
	.name = _name, .root = _root, .bus = _bus,			\
	.devfn = PCI_DEVFN(_slot, _fn), .kind = _kind

#define FAKE_BRIDGE(_name, _root, _bus, _slot, _kind, _sec, _sub)	\
	FAKE_DEV(_name, _root, _bus, _slot, 0, _kind),			\
	.sec = _sec, .sub = _sub

/*
 * 00:00.0 hb
 * 00:01.0 rp1 (ACS as Linux sets it) - 01:00.0 usp1
 *         02:00.0 dsp1 (ACS off) - 03:00.0 ep1.0 + 03:00.1 ep1.1
 *         02:01.0 dsp2 (ACS off) - 04:00.0 ep2
 *         02:02.0 dsp3 - 05:00.0 usp2
 *                 06:00.0 dsp4 (ACS off) - 07:00.0 ep3
 *                 06:01.0 dsp5 - 08:00.0 ep4
 * 00:02.0 rp2 (ACS as Linux sets it) - 09:00.0 ep5
 * 00:03.0 rp3 - 0a:00.0 pcibr - 0b:01.0 pci1, 0b:02.0 pci2
 * 00:04.0 rciep1, 00:05.0 rciep2, 00:06.0 rciep3.0 + 00:06.1 rciep3.1
 */
static const struct fake_fn fake_switch_fns[] = {
	{ FAKE_DEV("hb", 0, 0x00, 0, 0, FAKE_HOST) },
	{ FAKE_BRIDGE("rp1", 0, 0x00, 1, FAKE_RP, 0x01, 0x08),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_BRIDGE("usp1", 0, 0x01, 0, FAKE_USP, 0x02, 0x08) },
	{ FAKE_BRIDGE("dsp1", 0, 0x02, 0, FAKE_DSP, 0x03, 0x03),
	  .acs = true },
	{ FAKE_DEV("ep1.0", 0, 0x03, 0, 0, FAKE_EP), .mf = true },
	{ FAKE_DEV("ep1.1", 0, 0x03, 0, 1, FAKE_EP) },
	{ FAKE_BRIDGE("dsp2", 0, 0x02, 1, FAKE_DSP, 0x04, 0x04),
	  .acs = true },
	{ FAKE_DEV("ep2", 0, 0x04, 0, 0, FAKE_EP) },
	{ FAKE_BRIDGE("dsp3", 0, 0x02, 2, FAKE_DSP, 0x05, 0x08) },
	{ FAKE_BRIDGE("usp2", 0, 0x05, 0, FAKE_USP, 0x06, 0x08) },
	{ FAKE_BRIDGE("dsp4", 0, 0x06, 0, FAKE_DSP, 0x07, 0x07),
	  .acs = true },
	{ FAKE_DEV("ep3", 0, 0x07, 0, 0, FAKE_EP) },
	{ FAKE_BRIDGE("dsp5", 0, 0x06, 1, FAKE_DSP, 0x08, 0x08) },
	{ FAKE_DEV("ep4", 0, 0x08, 0, 0, FAKE_EP) },
	{ FAKE_BRIDGE("rp2", 0, 0x00, 2, FAKE_RP, 0x09, 0x09),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("ep5", 0, 0x09, 0, 0, FAKE_EP) },
	{ FAKE_BRIDGE("rp3", 0, 0x00, 3, FAKE_RP, 0x0a, 0x0b) },
	{ FAKE_BRIDGE("pcibr", 0, 0x0a, 0, FAKE_PCIE_PCI, 0x0b, 0x0b) },
	{ FAKE_DEV("pci1", 0, 0x0b, 1, 0, FAKE_PCI_DEV) },
	{ FAKE_DEV("pci2", 0, 0x0b, 2, 0, FAKE_PCI_DEV) },
	{ FAKE_DEV("rciep1", 0, 0x00, 4, 0, FAKE_RCIEP) },
	{ FAKE_DEV("rciep2", 0, 0x00, 5, 0, FAKE_RCIEP) },
	{ FAKE_DEV("rciep3.0", 0, 0x00, 6, 0, FAKE_RCIEP), .mf = true },
	{ FAKE_DEV("rciep3.1", 0, 0x00, 6, 1, FAKE_RCIEP) },
};

/* The same small tree under two root buses */
static const struct fake_fn fake_twin_fns[] = {
	{ FAKE_DEV("a.hb", 0, 0x00, 0, 0, FAKE_HOST) },
	{ FAKE_BRIDGE("a.rp", 0, 0x00, 1, FAKE_RP, 0x01, 0x01),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("a.ep", 0, 0x01, 0, 0, FAKE_EP) },
	{ FAKE_DEV("a.rciep", 0, 0x00, 2, 0, FAKE_RCIEP) },
	{ FAKE_DEV("b.hb", 1, 0x80, 0, 0, FAKE_HOST) },
	{ FAKE_BRIDGE("b.rp", 1, 0x80, 1, FAKE_RP, 0x81, 0x81),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("b.ep", 1, 0x81, 0, 0, FAKE_EP) },
	{ FAKE_DEV("b.rciep", 1, 0x80, 2, 0, FAKE_RCIEP) },
};

/*
 * Endpoints with ACS, as Linux leaves them when an IOMMU asks for isolation:
 *
 * 00:00.0 hb
 * 00:01.0 rp (redirects) - 01:00.0 mf.0 (redirects) + 01:00.1 mf.1
 *         (redirects) + 01:00.2 mf.2 (no ACS)
 * 00:02.0 rp2 - 02:00.0 quiet.0 + 02:00.1 quiet.1 (ACS without redirect)
 */
static const struct fake_fn fake_mfd_fns[] = {
	{ FAKE_DEV("hb", 0, 0x00, 0, 0, FAKE_HOST) },
	{ FAKE_BRIDGE("rp", 0, 0x00, 1, FAKE_RP, 0x01, 0x01),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("mf.0", 0, 0x01, 0, 0, FAKE_EP), .mf = true,
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("mf.1", 0, 0x01, 0, 1, FAKE_EP),
	  .acs = true, .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_DEV("mf.2", 0, 0x01, 0, 2, FAKE_EP) },
	{ FAKE_BRIDGE("rp2", 0, 0x00, 2, FAKE_RP, 0x02, 0x02) },
	{ FAKE_DEV("quiet.0", 0, 0x02, 0, 0, FAKE_EP), .mf = true,
	  .acs = true, .acs_ctrl = FAKE_ACS_QUIET },
	{ FAKE_DEV("quiet.1", 0, 0x02, 0, 1, FAKE_EP),
	  .acs = true, .acs_ctrl = FAKE_ACS_QUIET },
};

/*
 * Root buses without a function at 00.0, as on Skylake-SP: the first
 * function, a root port, identifies the host bridge.  On the second root
 * bus the first function is neither, so nothing identifies it.
 */
#define FAKE_SKX_RP	FAKE_INTEL(0x2031)
static const struct fake_fn fake_no_hb_fns[] = {
	{ FAKE_BRIDGE("a.rp1", 0, 0x00, 1, FAKE_RP, 0x01, 0x01),
	  .id = FAKE_SKX_RP },
	{ FAKE_DEV("a.ep1", 0, 0x01, 0, 0, FAKE_EP) },
	{ FAKE_BRIDGE("a.rp2", 0, 0x00, 2, FAKE_RP, 0x02, 0x02),
	  .id = FAKE_SKX_RP },
	{ FAKE_DEV("a.ep2", 0, 0x02, 0, 0, FAKE_EP) },
	{ FAKE_DEV("b.rciep", 1, 0x80, 1, 0, FAKE_RCIEP) },
	{ FAKE_BRIDGE("b.rp", 1, 0x80, 2, FAKE_RP, 0x81, 0x81),
	  .id = FAKE_SKX_RP },
	{ FAKE_DEV("b.ep", 1, 0x81, 0, 0, FAKE_EP) },
};

struct fake_root {
	u8 domain;		/* offset from FAKE_DOMAIN_BASE */
	u8 busnr;
	u8 bus_end;
	u32 hb_id;		/* vendor << 16 | device identifying the HB */
	bool hb_routes;		/* the host bridge is on the allowlist */
	bool hb_own_ports;	/* ... for its own root ports only */
};

#define FAKE_ROOT_Q35(_dom, _bus, _end)					\
	{ .domain = _dom, .busnr = _bus, .bus_end = _end,		\
	  .hb_id = FAKE_HB_Q35 }
#define FAKE_ROOT_SKX(_dom, _bus, _end)					\
	{ .domain = _dom, .busnr = _bus, .bus_end = _end,		\
	  .hb_id = FAKE_HB_SKX, .hb_routes = true }
#define FAKE_ROOT_SNB(_dom, _bus, _end)					\
	{ .domain = _dom, .busnr = _bus, .bus_end = _end,		\
	  .hb_id = FAKE_HB_SNB, .hb_own_ports = true }

struct fake_scenario {
	const char *desc;
	const struct fake_fn *fns;
	unsigned int nr_fns;
	struct fake_root roots[FAKE_MAX_ROOTS];
	unsigned int nr_roots;
	const char *acs_port;	/* a port whose ACS control is replaced */
	u16 acs_ctrl;		/* by this */
};

#define FAKE_SWITCH(_desc, _root)					\
	.desc = _desc, .fns = fake_switch_fns,				\
	.nr_fns = ARRAY_SIZE(fake_switch_fns),				\
	.roots = { _root }, .nr_roots = 1

#define FAKE_MFD(_desc, _root)						\
	.desc = _desc, .fns = fake_mfd_fns,				\
	.nr_fns = ARRAY_SIZE(fake_mfd_fns),				\
	.roots = { _root }, .nr_roots = 1

#define FAKE_TWINS(_desc, _root0, _root1)				\
	.desc = _desc, .fns = fake_twin_fns,				\
	.nr_fns = ARRAY_SIZE(fake_twin_fns),				\
	.roots = { _root0, _root1 }, .nr_roots = 2

static const struct fake_scenario fake_scenarios[] = {
	{ FAKE_SWITCH("switch-q35", FAKE_ROOT_Q35(0, 0x00, 0xff)) },
	{ FAKE_SWITCH("switch-skx", FAKE_ROOT_SKX(0, 0x00, 0xff)) },
	{ FAKE_SWITCH("acs-rr-dsp1-q35", FAKE_ROOT_Q35(0, 0x00, 0xff)),
	  .acs_port = "dsp1", .acs_ctrl = PCI_ACS_SV | PCI_ACS_RR },
	{ FAKE_SWITCH("acs-cr-dsp4-q35", FAKE_ROOT_Q35(0, 0x00, 0xff)),
	  .acs_port = "dsp4", .acs_ctrl = PCI_ACS_CR },
	{ FAKE_SWITCH("acs-ec-dsp2-q35", FAKE_ROOT_Q35(0, 0x00, 0xff)),
	  .acs_port = "dsp2", .acs_ctrl = PCI_ACS_EC },
	{ FAKE_SWITCH("acs-quiet-dsp1-q35", FAKE_ROOT_Q35(0, 0x00, 0xff)),
	  .acs_port = "dsp1", .acs_ctrl = FAKE_ACS_QUIET },
	{ FAKE_SWITCH("acs-rr-dsp1-skx", FAKE_ROOT_SKX(0, 0x00, 0xff)),
	  .acs_port = "dsp1", .acs_ctrl = FAKE_ACS_LINUX },
	{ FAKE_SWITCH("acs-cr-dsp4-skx", FAKE_ROOT_SKX(0, 0x00, 0xff)),
	  .acs_port = "dsp4", .acs_ctrl = PCI_ACS_CR },
	{ FAKE_TWINS("domains-skx", FAKE_ROOT_SKX(1, 0x00, 0xff),
		     FAKE_ROOT_SKX(2, 0x80, 0xff)) },
	{ FAKE_TWINS("domains-q35", FAKE_ROOT_Q35(1, 0x00, 0xff),
		     FAKE_ROOT_Q35(2, 0x80, 0xff)) },
	{ FAKE_TWINS("two-roots-skx", FAKE_ROOT_SKX(3, 0x00, 0x7f),
		     FAKE_ROOT_SKX(3, 0x80, 0xff)) },
	{ FAKE_TWINS("two-roots-skx-q35", FAKE_ROOT_SKX(3, 0x00, 0x7f),
		     FAKE_ROOT_Q35(3, 0x80, 0xff)) },
	{ FAKE_TWINS("two-roots-snb", FAKE_ROOT_SNB(4, 0x00, 0x7f),
		     FAKE_ROOT_SNB(4, 0x80, 0xff)) },
	{ FAKE_TWINS("two-roots-snb-skx", FAKE_ROOT_SNB(4, 0x00, 0x7f),
		     FAKE_ROOT_SKX(4, 0x80, 0xff)) },
	{ FAKE_MFD("endpoint-acs-q35", FAKE_ROOT_Q35(5, 0x00, 0xff)) },
	{ FAKE_MFD("endpoint-acs-skx", FAKE_ROOT_SKX(5, 0x00, 0xff)) },
	{ .desc = "no-00.0", .fns = fake_no_hb_fns,
	  .nr_fns = ARRAY_SIZE(fake_no_hb_fns),
	  .roots = { { .domain = 6, .busnr = 0x00, .bus_end = 0x7f,
		       .hb_id = FAKE_SKX_RP, .hb_routes = true },
		     { .domain = 6, .busnr = 0x80, .bus_end = 0xff } },
	  .nr_roots = 2 },
};

KUNIT_ARRAY_PARAM_DESC(fake_scenario, fake_scenarios, desc);

static const struct fake_scenario *fake_scenario_get(const char *desc)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fake_scenarios); i++)
		if (!strcmp(fake_scenarios[i].desc, desc))
			return &fake_scenarios[i];
	return NULL;
}

struct fake_world;

struct fake_host {
#ifdef CONFIG_X86
	struct pci_sysdata sd;		/* where x86 finds the domain */
#endif
	struct fake_world *world;
	unsigned int root;
	struct resource busn;
	struct pci_host_bridge *bridge;
};

struct fake_world {
	const struct fake_scenario *sc;
	struct fake_host host[FAKE_MAX_ROOTS];
	u8 **cfg;			/* config space of each function */
	int *parent;			/* upstream bridge, -1 on a root bus */
	u16 *acs_ctrl;			/* effective ACS control */
	struct pci_dev **pdev;		/* what the PCI core made of it */
};

static int fake_domain(const struct fake_world *w, int i)
{
	return FAKE_DOMAIN_BASE + w->sc->roots[w->sc->fns[i].root].domain;
}

static struct fake_host *fake_host_of(struct pci_bus *bus)
{
#ifdef CONFIG_X86
	return container_of(bus->sysdata, struct fake_host, sd);
#else
	return bus->sysdata;
#endif
}

static const u8 *fake_cfg_find(struct pci_bus *bus, unsigned int devfn)
{
	struct fake_host *h = fake_host_of(bus);
	const struct fake_scenario *sc = h->world->sc;
	unsigned int i;

	for (i = 0; i < sc->nr_fns; i++)
		if (sc->fns[i].root == h->root &&
		    sc->fns[i].bus == bus->number &&
		    sc->fns[i].devfn == devfn)
			return h->world->cfg[i];
	return NULL;
}

static int fake_cfg_read(struct pci_bus *bus, unsigned int devfn, int where,
			 int size, u32 *val)
{
	const u8 *cfg = fake_cfg_find(bus, devfn);
	u32 v = 0;
	int i;

	if (!cfg || where < 0 || where + size > PCI_CFG_SPACE_EXP_SIZE) {
		PCI_SET_ERROR_RESPONSE(val);
		return PCIBIOS_DEVICE_NOT_FOUND;
	}
	for (i = size - 1; i >= 0; i--)
		v = v << 8 | cfg[where + i];
	*val = v;
	return PCIBIOS_SUCCESSFUL;
}

static int fake_cfg_write(struct pci_bus *bus, unsigned int devfn, int where,
			  int size, u32 val)
{
	return fake_cfg_find(bus, devfn) ? PCIBIOS_SUCCESSFUL :
					   PCIBIOS_DEVICE_NOT_FOUND;
}

static struct pci_ops fake_pci_ops = {
	.read = fake_cfg_read,
	.write = fake_cfg_write,
};

static void fake_cfg_fill(u8 *cfg, const struct fake_fn *fn,
			  const struct fake_root *root, u16 acs_ctrl)
{
	const struct fake_kind_info *k = &fake_kinds[fn->kind];

	if (fn->kind == FAKE_HOST) {
		put_unaligned_le16(root->hb_id >> 16, cfg + PCI_VENDOR_ID);
		put_unaligned_le16(root->hb_id, cfg + PCI_DEVICE_ID);
	} else if (fn->id) {
		put_unaligned_le16(fn->id >> 16, cfg + PCI_VENDOR_ID);
		put_unaligned_le16(fn->id, cfg + PCI_DEVICE_ID);
	} else {
		put_unaligned_le16(FAKE_VENDOR, cfg + PCI_VENDOR_ID);
		put_unaligned_le16(0x7f00 + fn->kind, cfg + PCI_DEVICE_ID);
	}
	put_unaligned_le32(k->class << 8, cfg + PCI_CLASS_REVISION);
	cfg[PCI_HEADER_TYPE] = k->hdr | (fn->mf ? PCI_HEADER_TYPE_MFD : 0);

	if (k->hdr == PCI_HEADER_TYPE_BRIDGE) {
		cfg[PCI_PRIMARY_BUS] = fn->bus;
		cfg[PCI_SECONDARY_BUS] = fn->sec;
		cfg[PCI_SUBORDINATE_BUS] = fn->sub;
		/* Memory windows closed: base above limit */
		put_unaligned_le16(0xfff0, cfg + PCI_MEMORY_BASE);
		put_unaligned_le16(0xfff0, cfg + PCI_PREF_MEMORY_BASE);
	}

	if (k->pcie >= 0) {
		put_unaligned_le16(PCI_STATUS_CAP_LIST, cfg + PCI_STATUS);
		cfg[PCI_CAPABILITY_LIST] = FAKE_PCIE_CAP;
		cfg[FAKE_PCIE_CAP + PCI_CAP_LIST_ID] = PCI_CAP_ID_EXP;
		put_unaligned_le16(FIELD_PREP(PCI_EXP_FLAGS_VERS, 2) |
				   FIELD_PREP(PCI_EXP_FLAGS_TYPE, k->pcie),
				   cfg + FAKE_PCIE_CAP + PCI_EXP_FLAGS);
	}

	if (fn->acs) {
		put_unaligned_le32(PCI_EXT_CAP_ID_ACS | 1 << 16,
				   cfg + FAKE_ACS_CAP);
		put_unaligned_le16(PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_RR |
				   PCI_ACS_CR | PCI_ACS_UF | PCI_ACS_EC |
				   PCI_ACS_DT, cfg + FAKE_ACS_CAP + PCI_ACS_CAP);
		put_unaligned_le16(acs_ctrl, cfg + FAKE_ACS_CAP + PCI_ACS_CTRL);
	}
}

/* The bridge whose secondary bus holds function @i, -1 on a root bus */
static int fake_parent(const struct fake_scenario *sc, unsigned int i)
{
	const struct fake_fn *fn = &sc->fns[i];
	unsigned int j;

	if (fn->bus == sc->roots[fn->root].busnr)
		return -1;
	for (j = 0; j < sc->nr_fns; j++)
		if (sc->fns[j].root == fn->root &&
		    fake_kinds[sc->fns[j].kind].hdr == PCI_HEADER_TYPE_BRIDGE &&
		    sc->fns[j].sec == fn->bus)
			return j;
	return -2;
}

static void fake_host_remove(void *data)
{
	struct pci_host_bridge *bridge = data;

	if (bridge->bus) {
		pci_lock_rescan_remove();
		pci_stop_root_bus(bridge->bus);
		pci_remove_root_bus(bridge->bus);
		pci_unlock_rescan_remove();
	}
	pci_free_host_bridge(bridge);
}

static void fake_host_add(struct kunit *test, struct fake_world *w,
			  unsigned int root)
{
	const struct fake_root *r = &w->sc->roots[root];
	int domain = FAKE_DOMAIN_BASE + r->domain;
	struct fake_host *h = &w->host[root];
	struct pci_host_bridge *bridge;
	struct device *parent;
	char name[32];
	int ret;

	if (pci_find_bus(domain, r->busnr))
		kunit_skip(test, "PCI bus %04x:%02x exists", domain, r->busnr);

	snprintf(name, sizeof(name), "fake-%04x-%02x", domain, r->busnr);
	parent = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, parent);

	h->world = w;
	h->root = root;
	h->busn = DEFINE_RES_NAMED(r->busnr, r->bus_end - r->busnr + 1,
				   "fake bus", IORESOURCE_BUS);

	bridge = pci_alloc_host_bridge(0);
	KUNIT_ASSERT_NOT_NULL(test, bridge);
	p2pdma_defer(test, fake_host_remove, bridge);
	h->bridge = bridge;

	bridge->dev.parent = parent;
	bridge->ops = &fake_pci_ops;
	bridge->busnr = r->busnr;
#ifdef CONFIG_X86
	h->sd.domain = domain;
	h->sd.node = NUMA_NO_NODE;
	bridge->sysdata = &h->sd;
#else
	bridge->sysdata = h;
#endif
#ifdef CONFIG_PCI_DOMAINS_GENERIC
	bridge->domain_nr = domain;
#endif
	pci_add_resource(&bridge->windows, &h->busn);

	pci_lock_rescan_remove();
	ret = pci_scan_root_bus_bridge(bridge);
	pci_unlock_rescan_remove();
	KUNIT_ASSERT_EQ(test, ret, 0);
}

/*
 * Build the hierarchy of @sc and check that the PCI core saw it the way the
 * table describes it; the routing expectations are computed from the table,
 * never from what the PCI core reports.
 */
static struct fake_world *fake_world_create(struct kunit *test,
					    const struct fake_scenario *sc)
{
	struct fake_world *w;
	unsigned int i;

	if (!IS_ENABLED(CONFIG_X86) && !IS_ENABLED(CONFIG_PCI_DOMAINS_GENERIC))
		kunit_skip(test, "no way to place a fake root bus in a domain");

	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	w->sc = sc;
	w->cfg = kunit_kcalloc(test, sc->nr_fns, sizeof(*w->cfg), GFP_KERNEL);
	w->parent = kunit_kcalloc(test, sc->nr_fns, sizeof(*w->parent),
				  GFP_KERNEL);
	w->acs_ctrl = kunit_kcalloc(test, sc->nr_fns, sizeof(*w->acs_ctrl),
				    GFP_KERNEL);
	w->pdev = kunit_kcalloc(test, sc->nr_fns, sizeof(*w->pdev),
				GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, w->cfg && w->parent && w->acs_ctrl && w->pdev);

	for (i = 0; i < sc->nr_fns; i++) {
		const struct fake_fn *fn = &sc->fns[i];

		w->acs_ctrl[i] = fn->acs_ctrl;
		if (sc->acs_port && !strcmp(fn->name, sc->acs_port)) {
			KUNIT_ASSERT_TRUE(test, fn->acs);
			w->acs_ctrl[i] = sc->acs_ctrl;
		}
		w->parent[i] = fake_parent(sc, i);
		KUNIT_ASSERT_GE_MSG(test, w->parent[i], -1, "%s", fn->name);
		w->cfg[i] = kunit_kzalloc(test, PCI_CFG_SPACE_EXP_SIZE,
					  GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, w->cfg[i]);
		fake_cfg_fill(w->cfg[i], fn, &sc->roots[fn->root],
			      w->acs_ctrl[i]);
	}

	for (i = 0; i < sc->nr_roots; i++)
		fake_host_add(test, w, i);

	for (i = 0; i < sc->nr_fns; i++) {
		const struct fake_fn *fn = &sc->fns[i];
		struct pci_bus *bus = pci_find_bus(fake_domain(w, i), fn->bus);

		KUNIT_ASSERT_NOT_NULL_MSG(test, bus, "no bus for %s", fn->name);
		/* The bus holds a reference until fake_host_remove() */
		w->pdev[i] = pci_get_slot(bus, fn->devfn);
		pci_dev_put(w->pdev[i]);
		KUNIT_ASSERT_NOT_NULL_MSG(test, w->pdev[i], "%s not found",
					  fn->name);
	}

	for (i = 0; i < sc->nr_fns; i++) {
		struct pci_dev *up = w->parent[i] < 0 ? NULL :
				     w->pdev[w->parent[i]];

		KUNIT_ASSERT_PTR_EQ_MSG(test, pci_upstream_bridge(w->pdev[i]),
					up, "%s", sc->fns[i].name);
	}
	return w;
}

static int fake_index(struct kunit *test, const struct fake_world *w,
		      const char *name)
{
	unsigned int i;

	for (i = 0; i < w->sc->nr_fns; i++)
		if (!strcmp(w->sc->fns[i].name, name))
			return i;
	KUNIT_FAIL_AND_ABORT(test, "no function %s", name);
	return -1;
}

static struct pci_dev *fake_pdev(struct kunit *test,
				 const struct fake_world *w, const char *name)
{
	return w->pdev[fake_index(test, w, name)];
}

/* Does any pair of @sc rely on a host bridge refusing P2P? */
static bool fake_scenario_refuses(const struct fake_scenario *sc)
{
	unsigned int i;

	for (i = 0; i < sc->nr_roots; i++)
		if (!sc->roots[i].hb_routes)
			return true;
	return false;
}

static void p2pdma_skip_if_cpu_routes(struct kunit *test)
{
	if (p2pdma_cpu_routes_p2p())
		kunit_skip(test, "this CPU routes P2P through every host bridge");
}

/* ---- The rules, restated on the table ---- */

struct fake_expect {
	enum pci_p2pdma_map_type map;
	int distance;
	enum p2pdma_reason reason;
	int blocker;			/* function index, -1 for none */
	int host_root;			/* root bus refusing, -1 for none */
};

static int fake_depth(const struct fake_world *w, int i)
{
	int depth = 0;

	while ((i = w->parent[i]) >= 0)
		depth++;
	return depth;
}

/* Steps from @i up to @anc (0 when they are the same), -1 if not above */
static int fake_hops(const struct fake_world *w, int i, int anc)
{
	int hops;

	for (hops = 0; i >= 0; i = w->parent[i], hops++)
		if (i == anc)
			return hops;
	return -1;
}

/*
 * The first function strictly below @top, on the way up from @i (included),
 * whose ACS redirects: bridges and endpoints alike.
 */
static int fake_acs_blocker(const struct fake_world *w, int i, int top)
{
	for (; i >= 0 && i != top; i = w->parent[i])
		if (w->sc->fns[i].acs && (w->acs_ctrl[i] & FAKE_ACS_REDIRECT))
			return i;
	return -1;
}

/* Does the host bridge of @r route a request between two root ports? */
static bool fake_root_routes(const struct fake_root *r, bool same_root)
{
	return r->hb_routes || (r->hb_own_ports && same_root);
}

static void fake_expect(const struct fake_world *w, int a, int b,
			bool cpu_routes, struct fake_expect *e)
{
	const struct fake_scenario *sc = w->sc;
	const struct fake_root *ra = &sc->roots[sc->fns[a].root];
	const struct fake_root *rb = &sc->roots[sc->fns[b].root];
	bool same = sc->fns[a].root == sc->fns[b].root;
	int common = -1, hops_a, hops_b = -1, blocker = -1;

	e->map = PCI_P2PDMA_MAP_BUS_ADDR;
	e->distance = 0;
	e->reason = P2PDMA_REASON_OK;
	e->blocker = -1;
	e->host_root = -1;
	if (a == b)
		return;

	e->map = PCI_P2PDMA_MAP_NOT_SUPPORTED;
	e->distance = P2PDMA_TEST_REFUSED;

	for (hops_a = 0, common = a; common >= 0;
	     common = w->parent[common], hops_a++) {
		hops_b = fake_hops(w, b, common);
		if (hops_b >= 0)
			break;
	}
	if (common >= 0) {
		blocker = fake_acs_blocker(w, a, common);
		if (blocker < 0)
			blocker = fake_acs_blocker(w, b, common);
		if (blocker < 0) {
			e->map = PCI_P2PDMA_MAP_BUS_ADDR;
			e->distance = hops_a + hops_b;
			return;
		}
	}

	/* Through the host bridge: both ends must route P2P */
	if (cpu_routes || (fake_root_routes(ra, same) &&
			   fake_root_routes(rb, same))) {
		e->map = PCI_P2PDMA_MAP_THRU_HOST_BRIDGE;
		e->distance = fake_depth(w, a) + fake_depth(w, b) +
			      P2PDMA_HOST_BRIDGE_PENALTY;
	} else if (blocker >= 0) {
		e->reason = P2PDMA_REASON_ACS_REDIRECT;
		e->blocker = blocker;
	} else {
		e->host_root = sc->fns[fake_root_routes(ra, same) ? b : a].root;
		e->reason = sc->roots[e->host_root].hb_own_ports ?
			    P2PDMA_REASON_CROSS_HOST_BRIDGE :
			    P2PDMA_REASON_HOST_BRIDGE;
	}
}

static void fake_check_route(struct kunit *test, const struct fake_world *w,
			     int a, int b, const struct fake_expect *e)
{
	const char *pa = w->sc->fns[a].name, *pb = w->sc->fns[b].name;
	struct pci_dev *blocker = e->blocker < 0 ? NULL : w->pdev[e->blocker];
	struct p2pdma_route r = {
		.map = PCI_P2PDMA_MAP_UNKNOWN,
		.distance = INT_MIN,
		.reason = (enum p2pdma_reason)-1,
		.blocker = ERR_PTR(-EFAULT),
		.host_bus = ERR_PTR(-EFAULT),
		.host_bridge_id = U32_MAX,
	};

	p2pdma_compute_route(w->pdev[a], w->pdev[b], &r);
	KUNIT_EXPECT_EQ_MSG(test, r.map, e->map, "%s -> %s: got %s, want %s",
			    pa, pb, p2pdma_map_name(r.map),
			    p2pdma_map_name(e->map));
	KUNIT_EXPECT_EQ_MSG(test, r.distance, e->distance, "%s -> %s: distance",
			    pa, pb);
	KUNIT_EXPECT_EQ_MSG(test, r.reason, e->reason, "%s -> %s: reason",
			    pa, pb);
	KUNIT_EXPECT_PTR_EQ_MSG(test, r.blocker, blocker,
				"%s -> %s: blocker %s, want %s", pa, pb,
				IS_ERR_OR_NULL(r.blocker) ? "(none)" :
				pci_name(r.blocker),
				blocker ? pci_name(blocker) : "(none)");

	/* Which host bridge said no, if one did */
	if (e->host_root >= 0) {
		const struct fake_root *root = &w->sc->roots[e->host_root];

		KUNIT_EXPECT_PTR_EQ_MSG(test, r.host_bus,
					w->host[e->host_root].bridge->bus,
					"%s -> %s: host_bus", pa, pb);
		KUNIT_EXPECT_EQ_MSG(test, r.host_bridge_id,
				    root->hb_id,
				    "%s -> %s: host_bridge_id", pa, pb);
	} else if (e->reason != P2PDMA_REASON_ACS_REDIRECT) {
		KUNIT_EXPECT_NULL_MSG(test, r.host_bus, "%s -> %s: host_bus",
				      pa, pb);
		KUNIT_EXPECT_EQ_MSG(test, r.host_bridge_id, 0,
				    "%s -> %s: host_bridge_id", pa, pb);
	}
}

/*
 * The same rules written out by hand for a few pairs, so that a slip in
 * fake_expect() cannot hide one in the core.
 */
struct p2pdma_example {
	const char *provider;
	const char *client;
	enum pci_p2pdma_map_type map;
	int distance;
	enum p2pdma_reason reason;
	const char *blocker;
};

#define BUS_ADDR(_p, _c, _d)						\
	{ _p, _c, PCI_P2PDMA_MAP_BUS_ADDR, _d, P2PDMA_REASON_OK }
#define THRU_HB(_p, _c, _hops)						\
	{ _p, _c, PCI_P2PDMA_MAP_THRU_HOST_BRIDGE,			\
	  (_hops) + P2PDMA_HOST_BRIDGE_PENALTY, P2PDMA_REASON_OK }
#define REFUSED(_p, _c, _reason, _blocker)				\
	{ _p, _c, PCI_P2PDMA_MAP_NOT_SUPPORTED, P2PDMA_TEST_REFUSED,	\
	  P2PDMA_REASON_##_reason, _blocker }

static const struct p2pdma_example p2pdma_examples_skx[] = {
	BUS_ADDR("ep1.0", "ep1.0", 0),
	BUS_ADDR("hb", "hb", 0),
	BUS_ADDR("ep1.0", "ep2", 4),	/* two downstream ports: 2 + 2 */
	BUS_ADDR("ep2", "ep1.0", 4),
	BUS_ADDR("ep1.0", "ep1.1", 2),	/* two functions: 1 + 1 */
	BUS_ADDR("pci1", "pci2", 2),	/* one conventional bus: 1 + 1 */
	BUS_ADDR("ep3", "ep4", 4),	/* the nested switch */
	BUS_ADDR("ep1.0", "ep3", 6),	/* 2 + 4 */
	BUS_ADDR("ep5", "rp2", 1),
	THRU_HB("ep1.0", "ep5", 3 + 1),	/* two root ports */
	THRU_HB("ep3", "pci1", 5 + 2),
	THRU_HB("rciep1", "rciep2", 0),
	THRU_HB("rciep3.0", "rciep3.1", 0),
	THRU_HB("rciep1", "ep5", 1),
};

static const struct p2pdma_example p2pdma_examples_q35[] = {
	BUS_ADDR("ep1.0", "ep2", 4),
	BUS_ADDR("rciep1", "rciep1", 0),
	REFUSED("ep1.0", "ep5", HOST_BRIDGE, "hb"),
	REFUSED("rciep1", "rciep2", HOST_BRIDGE, "hb"),
	REFUSED("rciep3.0", "rciep3.1", HOST_BRIDGE, "hb"),
	REFUSED("pci2", "hb", HOST_BRIDGE, "hb"),
};

static const struct p2pdma_example p2pdma_examples_acs_q35[] = {
	REFUSED("ep1.0", "ep2", ACS_REDIRECT, "dsp1"),
	REFUSED("ep2", "ep1.0", ACS_REDIRECT, "dsp1"),
	REFUSED("ep3", "ep1.1", ACS_REDIRECT, "dsp1"),
	BUS_ADDR("ep1.0", "ep1.1", 2),	/* below the redirecting port */
	BUS_ADDR("ep1.0", "dsp1", 1),
	BUS_ADDR("ep2", "ep3", 6),
	BUS_ADDR("ep4", "usp1", 4),
};

static const struct p2pdma_example p2pdma_examples_acs_skx[] = {
	THRU_HB("ep1.0", "ep2", 3 + 3),
	BUS_ADDR("ep1.0", "ep1.1", 2),
	BUS_ADDR("ep2", "ep4", 6),
};

/* Across domains as across root buses: through both host bridges */
static const struct p2pdma_example p2pdma_examples_domains[] = {
	THRU_HB("a.ep", "b.ep", 1 + 1),
	THRU_HB("b.rciep", "a.hb", 0),
	BUS_ADDR("a.ep", "a.rp", 1),
	THRU_HB("a.ep", "a.rciep", 1),
};

/* Same host bridge only: within one root bus, never across two */
static const struct p2pdma_example p2pdma_examples_snb[] = {
	THRU_HB("a.ep", "a.rciep", 1),
	THRU_HB("b.rciep", "b.ep", 1),
	REFUSED("a.ep", "b.ep", CROSS_HOST_BRIDGE, "a.hb"),
	REFUSED("b.ep", "a.rciep", CROSS_HOST_BRIDGE, "b.hb"),
};

static const struct p2pdma_example p2pdma_examples_snb_skx[] = {
	THRU_HB("a.ep", "a.rciep", 1),
	REFUSED("b.ep", "a.ep", CROSS_HOST_BRIDGE, "a.hb"),
	REFUSED("a.ep", "b.ep", CROSS_HOST_BRIDGE, "a.hb"),
};

/* Functions' own ACS counts; the shared root port's does not */
static const struct p2pdma_example p2pdma_examples_ep_acs_q35[] = {
	REFUSED("mf.0", "mf.1", ACS_REDIRECT, "mf.0"),
	REFUSED("mf.1", "mf.0", ACS_REDIRECT, "mf.1"),
	REFUSED("mf.2", "mf.0", ACS_REDIRECT, "mf.0"),
	REFUSED("mf.0", "mf.2", ACS_REDIRECT, "mf.0"),
	BUS_ADDR("mf.0", "mf.0", 0),
	BUS_ADDR("mf.2", "rp", 1),
	BUS_ADDR("quiet.0", "quiet.1", 2),
};

static const struct p2pdma_example p2pdma_examples_ep_acs_skx[] = {
	THRU_HB("mf.0", "mf.1", 1 + 1),
	THRU_HB("mf.2", "quiet.1", 1 + 1),
	BUS_ADDR("quiet.1", "quiet.0", 2),
};

static const struct p2pdma_example p2pdma_examples_no_hb[] = {
	THRU_HB("a.ep1", "a.ep2", 1 + 1),
	REFUSED("a.ep1", "b.ep", HOST_BRIDGE, "b.rciep"),
	REFUSED("b.rciep", "b.ep", HOST_BRIDGE, "b.rciep"),
};

static const struct p2pdma_example p2pdma_examples_mixed[] = {
	THRU_HB("a.ep", "a.rciep", 1),
	REFUSED("a.ep", "b.ep", HOST_BRIDGE, "b.hb"),
	REFUSED("b.ep", "a.ep", HOST_BRIDGE, "b.hb"),
	REFUSED("b.rciep", "b.ep", HOST_BRIDGE, "b.hb"),
};

struct p2pdma_example_set {
	const char *scenario;
	const struct p2pdma_example *ex;
	unsigned int nr;
};

static const struct p2pdma_example_set p2pdma_example_sets[] = {
	{ "switch-skx", p2pdma_examples_skx,
	  ARRAY_SIZE(p2pdma_examples_skx) },
	{ "switch-q35", p2pdma_examples_q35,
	  ARRAY_SIZE(p2pdma_examples_q35) },
	{ "acs-rr-dsp1-q35", p2pdma_examples_acs_q35,
	  ARRAY_SIZE(p2pdma_examples_acs_q35) },
	{ "acs-rr-dsp1-skx", p2pdma_examples_acs_skx,
	  ARRAY_SIZE(p2pdma_examples_acs_skx) },
	{ "domains-skx", p2pdma_examples_domains,
	  ARRAY_SIZE(p2pdma_examples_domains) },
	{ "two-roots-skx-q35", p2pdma_examples_mixed,
	  ARRAY_SIZE(p2pdma_examples_mixed) },
	{ "two-roots-snb", p2pdma_examples_snb,
	  ARRAY_SIZE(p2pdma_examples_snb) },
	{ "two-roots-snb-skx", p2pdma_examples_snb_skx,
	  ARRAY_SIZE(p2pdma_examples_snb_skx) },
	{ "endpoint-acs-q35", p2pdma_examples_ep_acs_q35,
	  ARRAY_SIZE(p2pdma_examples_ep_acs_q35) },
	{ "endpoint-acs-skx", p2pdma_examples_ep_acs_skx,
	  ARRAY_SIZE(p2pdma_examples_ep_acs_skx) },
	{ "no-00.0", p2pdma_examples_no_hb,
	  ARRAY_SIZE(p2pdma_examples_no_hb) },
};

static void fake_check_examples(struct kunit *test, const struct fake_world *w)
{
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(p2pdma_example_sets); i++) {
		const struct p2pdma_example_set *set = &p2pdma_example_sets[i];

		if (strcmp(set->scenario, w->sc->desc))
			continue;
		for (j = 0; j < set->nr; j++) {
			const struct p2pdma_example *ex = &set->ex[j];
			struct fake_expect e = {
				.map = ex->map,
				.distance = ex->distance,
				.reason = ex->reason,
				.blocker = -1,
				.host_root = -1,
			};

			/* A refusing host bridge is named by a function. */
			if (ex->blocker &&
			    (e.reason == P2PDMA_REASON_HOST_BRIDGE ||
			     e.reason == P2PDMA_REASON_CROSS_HOST_BRIDGE))
				e.host_root = w->sc->fns[fake_index(test, w,
							ex->blocker)].root;
			else if (ex->blocker)
				e.blocker = fake_index(test, w, ex->blocker);
			fake_check_route(test, w,
					 fake_index(test, w, ex->provider),
					 fake_index(test, w, ex->client), &e);
		}
	}
}

static bool fake_has_fn(const struct fake_scenario *sc, const char *name)
{
	unsigned int i;

	for (i = 0; i < sc->nr_fns; i++)
		if (!strcmp(sc->fns[i].name, name))
			return true;
	return false;
}

/* The tables above refer to each other by name: check every name resolves */
static void pci_p2pdma_route_tables(struct kunit *test)
{
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(fake_scenarios); i++) {
		const struct fake_scenario *sc = &fake_scenarios[i];

		for (j = 0; j < sc->nr_fns; j++)
			KUNIT_EXPECT_GE_MSG(test, fake_parent(sc, j), -1,
					    "%s: %s", sc->desc,
					    sc->fns[j].name);
		if (sc->acs_port)
			KUNIT_EXPECT_TRUE_MSG(test,
					      fake_has_fn(sc, sc->acs_port),
					      "%s", sc->desc);
	}

	for (i = 0; i < ARRAY_SIZE(p2pdma_example_sets); i++) {
		const struct p2pdma_example_set *set = &p2pdma_example_sets[i];
		const struct fake_scenario *sc = fake_scenario_get(set->scenario);

		KUNIT_ASSERT_NOT_NULL_MSG(test, sc, "%s", set->scenario);
		for (j = 0; j < set->nr; j++) {
			const struct p2pdma_example *ex = &set->ex[j];

			KUNIT_EXPECT_TRUE(test, fake_has_fn(sc, ex->provider));
			KUNIT_EXPECT_TRUE(test, fake_has_fn(sc, ex->client));
			if (ex->blocker)
				KUNIT_EXPECT_TRUE(test,
						  fake_has_fn(sc, ex->blocker));
		}
	}
}

/*
 * Each hierarchy: the pairs written out by hand, if any, then every ordered
 * pair against the rules.
 */
static void pci_p2pdma_route(struct kunit *test)
{
	const struct fake_scenario *sc = test->param_value;
	bool cpu_routes = p2pdma_cpu_routes_p2p();
	struct fake_world *w;
	struct fake_expect e;
	int a, b;

	if (fake_scenario_refuses(sc))
		p2pdma_skip_if_cpu_routes(test);

	w = fake_world_create(test, sc);
	fake_check_examples(test, w);
	for (a = 0; a < sc->nr_fns; a++) {
		for (b = 0; b < sc->nr_fns; b++) {
			fake_expect(w, a, b, cpu_routes, &e);
			fake_check_route(test, w, a, b, &e);
		}
	}
}

/* A device on no PCI bus at all, gone when the test ends */
static struct device *p2pdma_non_pci_device(struct kunit *test)
{
	struct device *dev = kunit_device_register(test, "not-pci");

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	return dev;
}

/*
 * pci_p2pdma_distance_many() from @provider to the space separated @names,
 * all functions of @w.  Refusals are logged: the messages are part of what
 * is exercised.
 */
static int fake_distances(struct kunit *test, const struct fake_world *w,
			  const char *provider, const char *names)
{
	char *buf = kunit_kstrdup(test, names, GFP_KERNEL);
	struct device *clients[8];
	char *name;
	int n = 0;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	while ((name = strsep(&buf, " "))) {
		KUNIT_ASSERT_LT(test, n, ARRAY_SIZE(clients));
		clients[n++] = &fake_pdev(test, w, name)->dev;
	}
	return pci_p2pdma_distance_many(fake_pdev(test, w, provider), clients,
					n, true);
}

/* pci_p2pdma_distance_many() sums the clients' distances */
static void pci_p2pdma_distance_many_sum(struct kunit *test)
{
	struct fake_world *w =
		fake_world_create(test, fake_scenario_get("switch-skx"));
	struct pci_dev *provider = fake_pdev(test, w, "ep1.0");
	struct device *clients[2];

	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep1.0"), 0);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep2"), 4);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep2 ep1.1 ep3"),
			4 + 2 + 6);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "pci1", "pci2 pcibr"),
			2 + 1);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep2 ep5"),
			4 + 3 + 1 + P2PDMA_HOST_BRIDGE_PENALTY);

	/* No clients: nothing is reachable, as in 6.12 */
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(provider, clients, 0,
						       true), -1);
	KUNIT_EXPECT_NULL(test, pci_p2pmem_find_many(clients, 0));

	/* A client that is no PCI device cannot be reached */
	clients[0] = &fake_pdev(test, w, "ep2")->dev;
	clients[1] = p2pdma_non_pci_device(test);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(provider, clients, 2,
						       false), -1);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(provider, &clients[1],
						       1, true), -1);
}

/* One refused client refuses the whole set */
static void pci_p2pdma_distance_many_refused(struct kunit *test)
{
	struct fake_world *w;

	p2pdma_skip_if_cpu_routes(test);
	w = fake_world_create(test, fake_scenario_get("two-roots-skx-q35"));
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "a.ep", "a.rp b.ep"), -1);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "a.ep", "b.rciep"), -1);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "a.ep", "a.rp a.rciep"),
			1 + 1 + P2PDMA_HOST_BRIDGE_PENALTY);
}

/* Clients in another domain add up like those behind another root bus */
static void pci_p2pdma_distance_many_domains(struct kunit *test)
{
	struct fake_world *w;

	w = fake_world_create(test, fake_scenario_get("domains-skx"));
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "a.ep", "a.rp b.ep"),
			1 + 1 + 1 + P2PDMA_HOST_BRIDGE_PENALTY);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "a.ep", "b.rciep"),
			1 + P2PDMA_HOST_BRIDGE_PENALTY);
}

/* ... and so does a redirecting port or a host bridge off the allowlist */
static void pci_p2pdma_distance_many_blocked(struct kunit *test)
{
	struct fake_world *w;

	p2pdma_skip_if_cpu_routes(test);
	w = fake_world_create(test, fake_scenario_get("acs-rr-dsp1-q35"));
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep1.1"), 2);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep1.0", "ep1.1 ep2"), -1);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep3", "ep4 rciep1"), -1);
	KUNIT_EXPECT_EQ(test, fake_distances(test, w, "ep3", "ep4 dsp4"),
			4 + 1);
}

/* Routes follow the ACS control register as it is now, never a stale copy */
static void pci_p2pdma_route_acs_live(struct kunit *test)
{
	struct fake_world *w;
	struct pci_dev *ep1, *ep2, *dsp1;
	struct p2pdma_route r;
	u8 *ctrl;

	p2pdma_skip_if_cpu_routes(test);
	w = fake_world_create(test, fake_scenario_get("switch-q35"));
	ep1 = fake_pdev(test, w, "ep1.0");
	ep2 = fake_pdev(test, w, "ep2");
	dsp1 = fake_pdev(test, w, "dsp1");
	ctrl = w->cfg[fake_index(test, w, "dsp1")] + FAKE_ACS_CAP +
	       PCI_ACS_CTRL;

	p2pdma_compute_route(ep1, ep2, &r);
	KUNIT_EXPECT_EQ(test, r.map, PCI_P2PDMA_MAP_BUS_ADDR);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(ep1, &ep2->dev, false), 4);

	put_unaligned_le16(PCI_ACS_SV | PCI_ACS_RR, ctrl);
	p2pdma_compute_route(ep1, ep2, &r);
	KUNIT_EXPECT_EQ(test, r.map, PCI_P2PDMA_MAP_NOT_SUPPORTED);
	KUNIT_EXPECT_EQ(test, r.reason, P2PDMA_REASON_ACS_REDIRECT);
	KUNIT_EXPECT_PTR_EQ(test, r.blocker, dsp1);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(ep1, &ep2->dev, true), -1);

	put_unaligned_le16(PCI_ACS_SV, ctrl);
	p2pdma_compute_route(ep1, ep2, &r);
	KUNIT_EXPECT_EQ(test, r.map, PCI_P2PDMA_MAP_BUS_ADDR);
	KUNIT_EXPECT_EQ(test, r.distance, 4);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(ep1, &ep2->dev, false), 4);
}

/*
 * The built-in host bridge list, entry by entry: these are facts about
 * hardware carried over from Linux 6.12, with the limit attached to each.
 */
struct p2pdma_rc_fact {
	u32 id;
	bool any;		/* routes across host bridges */
	bool own_ports;		/* routes between its own root ports */
};

static const struct p2pdma_rc_fact p2pdma_rc_facts[] = {
	{ FAKE_INTEL(0x3c00), false, true },
	{ FAKE_INTEL(0x3c01), false, true },
	{ FAKE_INTEL(0x2f00), false, true },
	{ FAKE_INTEL(0x2f01), false, true },
	{ FAKE_INTEL(0x2030), true, true },
	{ FAKE_INTEL(0x2031), true, true },
	{ FAKE_INTEL(0x2032), true, true },
	{ FAKE_INTEL(0x2033), true, true },
	{ FAKE_INTEL(0x2020), true, true },
	{ FAKE_INTEL(0x09a2), true, true },
	/* Neighbours and look-alikes that are not on the list */
	{ FAKE_INTEL(0x3c02), false, false },
	{ FAKE_INTEL(0x2f02), false, false },
	{ FAKE_INTEL(0x2034), false, false },
	{ FAKE_INTEL(0x0e00), false, false },
	{ FAKE_INTEL(0x6f00), false, false },
	{ FAKE_HB_Q35, false, false },
	{ (u32)PCI_VENDOR_ID_AMD << 16 | 0x2030, false, false },
	{ (u32)PCI_VENDOR_ID_REDHAT << 16 | 0x0008, false, false },
};

static void p2pdma_rc_fact_desc(const struct p2pdma_rc_fact *f, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%04x:%04x", f->id >> 16,
		 f->id & 0xffff);
}

KUNIT_ARRAY_PARAM(p2pdma_rc_fact, p2pdma_rc_facts, p2pdma_rc_fact_desc);

static void pci_p2pdma_host_bridge_list(struct kunit *test)
{
	const struct p2pdma_rc_fact *f = test->param_value;

	KUNIT_EXPECT_EQ(test, p2pdma_allowlisted(f->id, true), f->own_ports);
	KUNIT_EXPECT_EQ(test, p2pdma_allowlisted(f->id, false), f->any);
}

/* ---- The p2pdma.host_bridges override ---- */

struct p2pdma_hb_case {
	const char *desc;
	const char *val;
	int ret;		/* entries parsed, or the error */
	u32 ids[2];
};

static const struct p2pdma_hb_case p2pdma_hb_cases[] = {
	{ "empty", "", 0 },
	{ "newline", "\n", 0 },
	{ "one", "8086:29c0", 1, { 0x808629c0 } },
	{ "one-newline", "8086:29c0\n", 1, { 0x808629c0 } },
	{ "upper-case", "8086:29C0", 1, { 0x808629c0 } },
	{ "two", "8086:29c0,1022:1480", 2, { 0x808629c0, 0x10221480 } },
	{ "two-newline", "1022:1480,8086:2030\n", 2,
	  { 0x10221480, 0x80862030 } },
	{ "vendor-only", "8086", -EINVAL },
	{ "no-device", "8086:", -EINVAL },
	{ "short-device", "8086:29c", -EINVAL },
	{ "no-vendor", ":29c0", -EINVAL },
	{ "long-vendor", "18086:29c0", -EINVAL },
	{ "long-device", "8086:129c0", -EINVAL },
	{ "not-hex", "zzzz:29c0", -EINVAL },
	{ "dash", "8086-29c0", -EINVAL },
	{ "space", "8086 29c0", -EINVAL },
	{ "leading-space", " 8086:29c0", -EINVAL },
	{ "trailing-space", "8086:29c0 ", -EINVAL },
	{ "two-newlines", "8086:29c0\n\n", -EINVAL },
	{ "trailing-comma", "8086:29c0,", -EINVAL },
	{ "leading-comma", ",8086:29c0", -EINVAL },
	{ "double-comma", "8086:29c0,,1022:1480", -EINVAL },
	{ "semicolon", "8086:29c0;1022:1480", -EINVAL },
	{ "comma-space", "8086:29c0, 1022:1480", -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(p2pdma_hb_case, p2pdma_hb_cases, desc);

static void pci_p2pdma_host_bridges_parse(struct kunit *test)
{
	const struct p2pdma_hb_case *hc = test->param_value;
	u32 ids[P2PDMA_MAX_HOST_BRIDGES] = {};
	int i, ret;

	ret = p2pdma_parse_host_bridges(hc->val, ids, ARRAY_SIZE(ids));
	KUNIT_ASSERT_EQ(test, ret, hc->ret);
	for (i = 0; i < ret; i++)
		KUNIT_EXPECT_EQ_MSG(test, ids[i], hc->ids[i], "entry %d", i);
}

/* The list holds @max_ids entries and not one more */
static void pci_p2pdma_host_bridges_parse_max(struct kunit *test)
{
	const int max = P2PDMA_MAX_HOST_BRIDGES;
	u32 ids[P2PDMA_MAX_HOST_BRIDGES + 1];
	char *val = kunit_kzalloc(test, 10 * (max + 1) + 1, GFP_KERNEL);
	int i, len = 0;

	KUNIT_ASSERT_NOT_NULL(test, val);
	for (i = 0; i <= max; i++)
		len += sprintf(val + len, "%s1b36:%04x", i ? "," : "", i);

	KUNIT_EXPECT_EQ(test, p2pdma_parse_host_bridges(val, ids, max + 1),
			max + 1);
	KUNIT_EXPECT_EQ(test, p2pdma_parse_host_bridges(val, ids, max),
			-EINVAL);
	/* Drop the last entry: exactly @max fit */
	val[len - 10] = '\0';
	KUNIT_ASSERT_EQ(test, p2pdma_parse_host_bridges(val, ids, max), max);
	for (i = 0; i < max; i++)
		KUNIT_EXPECT_EQ(test, ids[i], (u32)PCI_VENDOR_ID_REDHAT << 16 | i);
	KUNIT_EXPECT_EQ(test, p2pdma_parse_host_bridges("", ids, 0), 0);
	KUNIT_EXPECT_EQ(test, p2pdma_parse_host_bridges("8086:29c0", ids, 0),
			-EINVAL);
}

#define P2PDMA_HB_PARAM		"/sys/module/p2pdma/parameters/host_bridges"
#define P2PDMA_HB_PARAM_LEN	(P2PDMA_MAX_HOST_BRIDGES * 10 + 2)

static int p2pdma_hb_param_write(const char *val)
{
	struct file *f = filp_open(P2PDMA_HB_PARAM, O_WRONLY, 0);
	loff_t pos = 0;
	ssize_t ret;

	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_write(f, val, strlen(val), &pos);
	filp_close(f, NULL);
	return ret < 0 ? ret : 0;
}

static int p2pdma_hb_param_read(char *buf)
{
	struct file *f = filp_open(P2PDMA_HB_PARAM, O_RDONLY, 0);
	loff_t pos = 0;
	ssize_t ret;

	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_read(f, buf, P2PDMA_HB_PARAM_LEN - 1, &pos);
	filp_close(f, NULL);
	if (ret < 0)
		return ret;
	buf[ret] = '\0';
	return 0;
}

static void p2pdma_hb_param_restore(void *saved)
{
	p2pdma_hb_param_write(saved);
}

/*
 * Start from an empty p2pdma.host_bridges list; whatever it held is put
 * back when the test ends.  sysfs drops empty writes, so the list is
 * cleared the way "echo > host_bridges" does it, with a lone newline.
 */
static void p2pdma_hb_param_take(struct kunit *test)
{
	char *saved = kunit_kzalloc(test, P2PDMA_HB_PARAM_LEN, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, saved);
	if (p2pdma_hb_param_read(saved))
		kunit_skip(test, "cannot read %s", P2PDMA_HB_PARAM);
	p2pdma_defer(test, p2pdma_hb_param_restore, saved);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("\n"), 0);
}

static void p2pdma_expect_q35_route(struct kunit *test, struct fake_world *w,
				    bool routes)
{
	struct pci_dev *ep1 = fake_pdev(test, w, "ep1.0");
	struct pci_dev *ep5 = fake_pdev(test, w, "ep5");
	struct p2pdma_route r;

	p2pdma_compute_route(ep1, ep5, &r);
	if (routes) {
		KUNIT_EXPECT_EQ(test, r.map, PCI_P2PDMA_MAP_THRU_HOST_BRIDGE);
		KUNIT_EXPECT_EQ(test, r.distance,
				3 + 1 + P2PDMA_HOST_BRIDGE_PENALTY);
		KUNIT_EXPECT_EQ(test, r.reason, P2PDMA_REASON_OK);
	} else {
		KUNIT_EXPECT_EQ(test, r.map, PCI_P2PDMA_MAP_NOT_SUPPORTED);
		KUNIT_EXPECT_EQ(test, r.reason, P2PDMA_REASON_HOST_BRIDGE);
		KUNIT_EXPECT_PTR_EQ(test, r.host_bus,
				    fake_pdev(test, w, "hb")->bus);
	}
}

/*
 * Declaring the q35 host bridge through the module parameter lets its root
 * ports talk; bad input leaves the list as it was.  The parameter is
 * written through sysfs like an administrator would, and restored at the
 * end.
 */
static void pci_p2pdma_host_bridges_override(struct kunit *test)
{
	char *now = kunit_kzalloc(test, P2PDMA_HB_PARAM_LEN, GFP_KERNEL);
	struct fake_world *w;

	KUNIT_ASSERT_NOT_NULL(test, now);
	p2pdma_skip_if_cpu_routes(test);
	p2pdma_hb_param_take(test);

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_read(now), 0);
	KUNIT_EXPECT_STREQ(test, now, "\n");

	w = fake_world_create(test, fake_scenario_get("switch-q35"));
	p2pdma_expect_q35_route(test, w, false);

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("8086:29c0\n"), 0);
	p2pdma_expect_q35_route(test, w, true);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_read(now), 0);
	KUNIT_EXPECT_STREQ(test, now, "8086:29c0\n");

	KUNIT_EXPECT_EQ(test, p2pdma_hb_param_write("8086:29c0,zz"), -EINVAL);
	p2pdma_expect_q35_route(test, w, true);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_read(now), 0);
	KUNIT_EXPECT_STREQ(test, now, "8086:29c0\n");

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("1022:1480,8086:29c0"), 0);
	p2pdma_expect_q35_route(test, w, true);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_read(now), 0);
	KUNIT_EXPECT_STREQ(test, now, "1022:1480,8086:29c0\n");

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("1022:1480"), 0);
	p2pdma_expect_q35_route(test, w, false);

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("\n"), 0);
	p2pdma_expect_q35_route(test, w, false);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_read(now), 0);
	KUNIT_EXPECT_STREQ(test, now, "\n");
}

/* ---- A real provider ---- */

#define P2PMEM_SLOTS		16384
#define P2PMEM_STRESS_OPS	256
#define P2PMEM_STRESS_SLOTS	8

struct p2pmem_chunk {
	void *addr;
	size_t size;
};

/* Every p2pmem allocation a test holds, released when it ends */
struct p2pmem_ctx {
	struct pci_dev *pdev;
	struct p2pmem_chunk *chunks;
	unsigned int nr;
	int bar;		/* the BAR the memory comes from */
	size_t chunk;		/* allocation unit when exhausting */
	size_t baseline;	/* bytes available when the test began */
};

static void *p2pmem_alloc(struct p2pmem_ctx *c, size_t size)
{
	void *addr;

	if (c->nr == P2PMEM_SLOTS)
		return NULL;
	addr = pci_alloc_p2pmem(c->pdev, size);
	if (addr) {
		c->chunks[c->nr].addr = addr;
		c->chunks[c->nr].size = size;
		c->nr++;
	}
	return addr;
}

static void p2pmem_free_from(struct p2pmem_ctx *c, unsigned int first)
{
	while (c->nr > first) {
		c->nr--;
		pci_free_p2pmem(c->pdev, c->chunks[c->nr].addr,
				c->chunks[c->nr].size);
	}
}

static void p2pmem_release(void *data)
{
	p2pmem_free_from(data, 0);
}

static int p2pmem_bar(struct pci_dev *pdev, phys_addr_t phys, size_t size)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		struct resource *res = &pdev->resource[bar];

		if (resource_type(res) == IORESOURCE_MEM &&
		    phys >= res->start && phys + size - 1 <= res->end)
			return bar;
	}
	return -1;
}

/*
 * Exhaust the provider in @unit sized allocations, then in halves of it
 * down to a page, and return how many bytes that took.  The allocations
 * stay with the caller.
 */
static size_t p2pmem_exhaust(struct kunit *test, struct p2pmem_ctx *c,
			     size_t unit)
{
	size_t total = 0;

	for (; unit >= PAGE_SIZE; unit /= 2)
		while (p2pmem_alloc(c, unit))
			total += unit;
	KUNIT_ASSERT_LT_MSG(test, c->nr, P2PMEM_SLOTS,
			    "too many allocations to count the pool");
	return total;
}

/* Bytes the provider can hand out now, by exhausting it and giving back */
static size_t p2pmem_available(struct kunit *test, struct p2pmem_ctx *c)
{
	unsigned int first = c->nr;
	size_t total = p2pmem_exhaust(test, c, c->chunk);

	p2pmem_free_from(c, first);
	return total;
}

static struct p2pmem_ctx *p2pmem_ctx_get(struct kunit *test)
{
	struct pci_dev *pdev = p2pdma_named_provider(test);
	struct p2pmem_ctx *c;
	size_t bar_len;
	void *probe;

	c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c);
	c->chunks = kvcalloc(P2PMEM_SLOTS, sizeof(*c->chunks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c->chunks);
	p2pdma_defer(test, p2pdma_test_kvfree, c->chunks);
	c->pdev = pdev;
	p2pdma_defer(test, p2pmem_release, c);

	probe = p2pmem_alloc(c, PAGE_SIZE);
	if (!probe)
		kunit_skip(test, "%s has no free p2pmem", pci_name(pdev));
	c->bar = p2pmem_bar(pdev, virt_to_phys(probe), PAGE_SIZE);
	p2pmem_free_from(c, 0);
	KUNIT_ASSERT_GE_MSG(test, c->bar, 0, "p2pmem of %s outside its BARs",
			    pci_name(pdev));

	/* Keep a count of the whole BAR within P2PMEM_SLOTS / 2 chunks */
	bar_len = pci_resource_len(pdev, c->bar);
	c->chunk = roundup_pow_of_two(max_t(size_t, PAGE_SIZE,
					    bar_len / (P2PMEM_SLOTS / 2)));
	c->baseline = p2pmem_available(test, c);
	kunit_info(test, "provider %s BAR %d: %zu bytes available\n",
		   pci_name(pdev), c->bar, c->baseline);
	return c;
}

/* Where @addr is, seen from the CPU and from the bus, must agree */
static void p2pmem_check_buffer(struct kunit *test, struct p2pmem_ctx *c,
				void *addr, size_t size)
{
	phys_addr_t phys = virt_to_phys(addr);
	pci_bus_addr_t bus;
	int bar;

	KUNIT_EXPECT_TRUE(test, IS_ALIGNED((unsigned long)addr, PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(virt_to_page(addr)));
	bar = p2pmem_bar(c->pdev, phys, size);
	KUNIT_EXPECT_EQ_MSG(test, bar, c->bar, "%zu bytes at %pa", size,
			    &phys);
	if (bar < 0)
		return;
	bus = pci_bus_address(c->pdev, bar) +
	      (phys - pci_resource_start(c->pdev, bar));
	KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(c->pdev, addr), bus);
	KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(c->pdev,
						     addr + size - 1),
			bus + size - 1);
}

static void pci_p2pdma_alloc_sizes(struct kunit *test)
{
	static const size_t sizes[] = {
		SZ_4K, SZ_64K, SZ_1M, 1, 100, SZ_4K + 1, 12345, SZ_64K - 1,
		3 * SZ_64K + 17,
	};
	struct p2pmem_ctx *c = p2pmem_ctx_get(test);
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		void *addr = p2pmem_alloc(c, sizes[i]);

		KUNIT_EXPECT_NOT_NULL_MSG(test, addr, "%zu bytes", sizes[i]);
		if (addr)
			p2pmem_check_buffer(test, c, addr, sizes[i]);
	}

	/* No two allocations share a byte */
	for (i = 0; i < c->nr; i++) {
		for (j = i + 1; j < c->nr; j++) {
			unsigned long a = (unsigned long)c->chunks[i].addr;
			unsigned long b = (unsigned long)c->chunks[j].addr;

			KUNIT_EXPECT_TRUE(test, a + c->chunks[i].size <= b ||
					  b + c->chunks[j].size <= a);
		}
	}

	/* More than the BAR holds is refused */
	KUNIT_EXPECT_NULL(test, p2pmem_alloc(c, pci_resource_len(c->pdev,
								 c->bar) * 2));

	p2pmem_free_from(c, 0);
	KUNIT_EXPECT_EQ(test, p2pmem_available(test, c), c->baseline);
}

static void pci_p2pdma_alloc_exhaust(struct kunit *test)
{
	struct p2pmem_ctx *c = p2pmem_ctx_get(test);
	unsigned int nr;
	size_t total;

	KUNIT_ASSERT_GT(test, c->baseline, 0);

	total = p2pmem_exhaust(test, c, c->chunk);
	KUNIT_EXPECT_EQ(test, total, c->baseline);
	KUNIT_EXPECT_NULL(test, p2pmem_alloc(c, 1));
	KUNIT_EXPECT_NULL(test, p2pmem_alloc(c, PAGE_SIZE));
	nr = c->nr;

	/* Everything given back can be taken again, the same way */
	p2pmem_free_from(c, 0);
	KUNIT_EXPECT_EQ(test, p2pmem_exhaust(test, c, c->chunk), total);
	KUNIT_EXPECT_EQ(test, c->nr, nr);
	p2pmem_free_from(c, 0);

	/* ... and page by page, when that many fit in the ledger */
	if (c->baseline / PAGE_SIZE < P2PMEM_SLOTS) {
		total = p2pmem_exhaust(test, c, PAGE_SIZE);
		KUNIT_EXPECT_EQ(test, total, c->baseline);
		p2pmem_free_from(c, 0);
	}
	KUNIT_EXPECT_EQ(test, p2pmem_available(test, c), c->baseline);
}

struct p2pmem_sgl {
	struct pci_dev *pdev;
	struct scatterlist *sgl;
};

static void p2pmem_sgl_release(void *data)
{
	struct p2pmem_sgl *s = data;

	pci_p2pmem_free_sgl(s->pdev, s->sgl);
}

/* A p2pmem scatterlist of @length bytes, freed when the test ends */
static struct p2pmem_sgl *p2pmem_sgl_get(struct kunit *test,
					 struct pci_dev *pdev, u32 length)
{
	struct p2pmem_sgl *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	unsigned int nents = UINT_MAX;

	KUNIT_ASSERT_NOT_NULL(test, s);
	s->pdev = pdev;
	s->sgl = pci_p2pmem_alloc_sgl(pdev, &nents, length);
	KUNIT_ASSERT_NOT_NULL_MSG(test, s->sgl, "%u bytes", length);
	p2pdma_defer(test, p2pmem_sgl_release, s);
	KUNIT_EXPECT_EQ(test, nents, 1);
	return s;
}

static void pci_p2pdma_alloc_sgl(struct kunit *test)
{
	static const u32 lengths[] = { SZ_4K, 12345, SZ_64K + 1, SZ_1M };
	struct p2pmem_ctx *c = p2pmem_ctx_get(test);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lengths); i++) {
		struct p2pmem_sgl *s = p2pmem_sgl_get(test, c->pdev,
						      lengths[i]);
		struct scatterlist *sg = s->sgl;

		KUNIT_EXPECT_EQ(test, sg->length, lengths[i]);
		KUNIT_EXPECT_EQ(test, sg->offset, 0);
		KUNIT_EXPECT_TRUE(test, sg_is_last(sg));
		KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(sg_page(sg)));
		p2pmem_check_buffer(test, c, sg_virt(sg), sg->length);
		kunit_release_action(test, p2pmem_sgl_release, s);
	}
	KUNIT_EXPECT_EQ(test, p2pmem_available(test, c), c->baseline);
}

struct p2pmem_slot {
	void *addr;
	size_t size;
	u32 stamp;
};

struct p2pmem_worker {
	struct work_struct work;
	struct pci_dev *pdev;
	unsigned int cpu;
	unsigned int allocs;
	unsigned int clobbered;
};

/*
 * Write @s->stamp into the first word of every page of @s, or count how
 * many of those words no longer hold it.
 */
static unsigned int p2pmem_stamp(struct p2pmem_slot *s, bool check)
{
	unsigned int bad = 0;
	size_t off;

	for (off = 0; off < s->size; off += PAGE_SIZE) {
		u32 *word = s->addr + off;

		if (!check)
			WRITE_ONCE(*word, s->stamp);
		else if (READ_ONCE(*word) != s->stamp)
			bad++;
	}
	return bad;
}

/*
 * Allocate and free in a ring of slots, stamping each buffer: memory
 * handed to two workers at once shows up as a clobbered stamp.
 */
static void p2pmem_stress(struct work_struct *work)
{
	struct p2pmem_worker *wk = container_of(work, struct p2pmem_worker,
						work);
	struct p2pmem_slot slot[P2PMEM_STRESS_SLOTS] = {};
	unsigned int i;

	for (i = 0; i < P2PMEM_STRESS_OPS + P2PMEM_STRESS_SLOTS; i++) {
		struct p2pmem_slot *s = &slot[i % P2PMEM_STRESS_SLOTS];

		if (s->addr) {
			wk->clobbered += p2pmem_stamp(s, true);
			pci_free_p2pmem(wk->pdev, s->addr, s->size);
			s->addr = NULL;
		}
		if (i >= P2PMEM_STRESS_OPS)
			continue;

		s->size = ((i + wk->cpu) % 4 + 1) * PAGE_SIZE - (i & 1) * 100;
		s->addr = pci_alloc_p2pmem(wk->pdev, s->size);
		if (!s->addr)
			continue;
		s->stamp = wk->cpu << 16 | i;
		p2pmem_stamp(s, false);
		wk->allocs++;
		cond_resched();
	}
}

static void pci_p2pdma_alloc_concurrent(struct kunit *test)
{
	struct p2pmem_ctx *c = p2pmem_ctx_get(test);
	struct p2pmem_worker *wk;
	unsigned int cpu, allocs = 0, clobbered = 0, workers = 0;

	wk = kunit_kcalloc(test, nr_cpu_ids, sizeof(*wk), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, wk);

	cpus_read_lock();
	for_each_online_cpu(cpu) {
		INIT_WORK(&wk[cpu].work, p2pmem_stress);
		wk[cpu].pdev = c->pdev;
		wk[cpu].cpu = cpu;
		queue_work_on(cpu, system_wq, &wk[cpu].work);
		workers++;
	}
	cpus_read_unlock();

	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		if (!wk[cpu].pdev)
			continue;
		flush_work(&wk[cpu].work);
		allocs += wk[cpu].allocs;
		clobbered += wk[cpu].clobbered;
	}
	kunit_info(test, "%u workers, %u allocations\n", workers, allocs);

	/* Each worker holds at most P2PMEM_STRESS_SLOTS * 4 pages */
	if (workers * P2PMEM_STRESS_SLOTS * 4 * PAGE_SIZE <= c->baseline)
		KUNIT_EXPECT_EQ(test, allocs, workers * P2PMEM_STRESS_OPS);
	else
		KUNIT_EXPECT_GT(test, allocs, 0);
	KUNIT_EXPECT_EQ(test, clobbered, 0);
	KUNIT_EXPECT_EQ(test, p2pmem_available(test, c), c->baseline);
}

/*
 * The map-type cache gives what the rules give, for every PCI function:
 * first as a miss, then as hits (or, where two functions share a slot of
 * the provider's table, as misses again).
 */
static void pci_p2pdma_distance_cached(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct pci_dev *pdev = NULL;
	unsigned int checked = 0;
	struct p2pdma_route r;
	int round;

	for (round = 0; round < 3; round++) {
		for_each_pci_dev(pdev) {
			struct device *client = &pdev->dev;

			p2pdma_compute_route(provider, pdev, &r);
			KUNIT_EXPECT_EQ_MSG(test,
					    pci_p2pdma_distance_many(provider,
								     &client,
								     1, false),
					    r.map == PCI_P2PDMA_MAP_NOT_SUPPORTED ?
					    -1 : r.distance,
					    "round %d, client %s", round,
					    pci_name(pdev));
			checked++;
		}
	}
	kunit_info(test, "%u answers checked\n", checked);
	KUNIT_EXPECT_GT(test, checked, 3);
}

/*
 * Request-sized scatterlists as nvmet takes them: allocated on one CPU,
 * completed and freed on another.  Each CPU fills a batch; the next CPU
 * checks and frees it.
 */
#define P2PMEM_SGL_REQS		32

static const u32 p2pmem_req_sizes[] = {
	SZ_4K, SZ_8K, 3 * SZ_4K, SZ_16K + 512, SZ_128K, SZ_128K + SZ_4K,
	5 * SZ_64K, SZ_1M,
};

struct p2pmem_sgl_batch {
	struct work_struct work;
	struct pci_dev *pdev;
	unsigned int owner;
	struct scatterlist *sgl[P2PMEM_SGL_REQS];
	unsigned int allocated, bad;
};

static u64 p2pmem_sgl_stamp(const struct p2pmem_sgl_batch *b, unsigned int i)
{
	return (u64)b->owner << 32 | i;
}

static void p2pmem_sgl_fill(struct work_struct *work)
{
	struct p2pmem_sgl_batch *b = container_of(work, typeof(*b), work);
	unsigned int i, nents;

	for (i = 0; i < P2PMEM_SGL_REQS; i++) {
		u32 len = p2pmem_req_sizes[(b->owner + i) %
					   ARRAY_SIZE(p2pmem_req_sizes)];
		struct scatterlist *sgl;
		u64 *buf;

		sgl = pci_p2pmem_alloc_sgl(b->pdev, &nents, len);
		if (!sgl)
			continue;
		buf = sg_virt(sgl);
		buf[0] = p2pmem_sgl_stamp(b, i);
		buf[len / sizeof(*buf) - 1] = ~p2pmem_sgl_stamp(b, i);
		b->sgl[i] = sgl;
		b->allocated++;
	}
}

static void p2pmem_sgl_drain(struct work_struct *work)
{
	struct p2pmem_sgl_batch *b = container_of(work, typeof(*b), work);
	unsigned int i;

	for (i = 0; i < P2PMEM_SGL_REQS; i++) {
		struct scatterlist *sgl = b->sgl[i];
		u64 *buf;

		if (!sgl)
			continue;
		buf = sg_virt(sgl);
		if (buf[0] != p2pmem_sgl_stamp(b, i) ||
		    buf[sgl->length / sizeof(*buf) - 1] !=
		    ~p2pmem_sgl_stamp(b, i))
			b->bad++;
		pci_p2pmem_free_sgl(b->pdev, sgl);
		b->sgl[i] = NULL;
	}
}

static unsigned int p2pmem_next_cpu(unsigned int cpu)
{
	cpu = cpumask_next(cpu, cpu_online_mask);
	return cpu < nr_cpu_ids ? cpu : cpumask_first(cpu_online_mask);
}

/* Run @fn for every batch, batch i on the i + @shift-th online CPU. */
static void p2pmem_sgl_run(struct p2pmem_sgl_batch *b, unsigned int n,
			   work_func_t fn, unsigned int shift)
{
	unsigned int i, cpu = cpumask_first(cpu_online_mask);

	for (i = 0; i < shift; i++)
		cpu = p2pmem_next_cpu(cpu);
	for (i = 0; i < n; i++) {
		INIT_WORK(&b[i].work, fn);
		queue_work_on(cpu, system_wq, &b[i].work);
		cpu = p2pmem_next_cpu(cpu);
	}
	for (i = 0; i < n; i++)
		flush_work(&b[i].work);
}

static void pci_p2pdma_sgl_cross_cpu(struct kunit *test)
{
	struct p2pmem_ctx *c = p2pmem_ctx_get(test);
	struct p2pmem_sgl_batch *b;
	unsigned int i, n, allocated = 0, bad = 0;

	cpus_read_lock();
	n = num_online_cpus();
	b = kunit_kcalloc(test, n, sizeof(*b), GFP_KERNEL);
	if (!b) {
		cpus_read_unlock();
		KUNIT_ASSERT_NOT_NULL(test, b);
	}
	for (i = 0; i < n; i++) {
		b[i].pdev = c->pdev;
		b[i].owner = i;
	}
	p2pmem_sgl_run(b, n, p2pmem_sgl_fill, 0);
	p2pmem_sgl_run(b, n, p2pmem_sgl_drain, 1);
	cpus_read_unlock();

	for (i = 0; i < n; i++) {
		allocated += b[i].allocated;
		bad += b[i].bad;
	}
	kunit_info(test, "%u CPUs, %u lists\n", n, allocated);
	KUNIT_EXPECT_GT(test, allocated, 0);
	KUNIT_EXPECT_EQ(test, bad, 0);
	KUNIT_EXPECT_EQ(test, p2pmem_available(test, c), c->baseline);
}

/*
 * pci_p2pmem_find_many(): the nearest published provider wins, equally
 * near ones share the load, unpublished ones are never chosen, and a
 * client that is no PCI function is resolved to the function above it
 * (nvmet passes its namespace's block device).
 */
#define P2PDMA_FIND_ROUNDS	64

static void pci_p2pdma_find_many_choice(struct kunit *test)
{
	struct pci_dev *a = p2pdma_named_provider(test), *b = NULL, *got;
	struct device *clients[2], *child;
	unsigned int i, picks_a = 0, picks_b = 0;
	int dist;

	for_each_pci_dev(b) {
		if (b == a || !pci_has_p2pmem(b))
			continue;
		clients[0] = &b->dev;
		if (pci_p2pdma_distance_many(a, clients, 1, false) >= 0 &&
		    pci_p2pdma_distance_many(a, clients, 1, false) <
		    P2PDMA_HOST_BRIDGE_PENALTY)
			break;
	}
	if (!b)
		kunit_skip(test, "no second provider below a switch with %s",
			   pci_name(a));
	p2pdma_defer(test, p2pdma_test_put_pdev, b);

	/* Alone, each provider is its own nearest. */
	clients[0] = &a->dev;
	got = pci_p2pmem_find_many(clients, 1);
	KUNIT_EXPECT_PTR_EQ(test, got, a);
	pci_dev_put(got);

	/* Both as clients: a tie, which must be spread. */
	clients[0] = &a->dev;
	clients[1] = &b->dev;
	dist = pci_p2pdma_distance_many(a, clients, 2, false);
	KUNIT_ASSERT_EQ(test, dist, pci_p2pdma_distance_many(b, clients, 2,
							     false));
	for (i = 0; i < P2PDMA_FIND_ROUNDS; i++) {
		got = pci_p2pmem_find_many(clients, 2);
		picks_a += got == a;
		picks_b += got == b;
		pci_dev_put(got);
	}
	KUNIT_EXPECT_EQ(test, picks_a + picks_b, P2PDMA_FIND_ROUNDS);
	KUNIT_EXPECT_GT(test, picks_a, 0);
	KUNIT_EXPECT_GT(test, picks_b, 0);

	/* Unpublished: never chosen, even when nearest. */
	pci_p2pmem_publish(b, false);
	clients[0] = &b->dev;
	got = pci_p2pmem_find_many(clients, 1);
	pci_p2pmem_publish(b, true);
	KUNIT_EXPECT_PTR_NE(test, got, b);
	pci_dev_put(got);

	/* A child device stands for its PCI function. */
	child = device_find_any_child(&b->dev);
	if (!child)
		kunit_skip(test, "%s has no child device", pci_name(b));
	clients[0] = child;
	clients[1] = &b->dev;
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(a, clients, 2, false),
			2 * pci_p2pdma_distance_many(a, &clients[1], 1, false));
	got = pci_p2pmem_find_many(clients, 2);
	KUNIT_EXPECT_PTR_EQ(test, got, b);
	pci_dev_put(got);
	put_device(child);
}

/* Ranges that cannot be added are refused and change nothing. */
static void pci_p2pdma_add_resource_refused(struct kunit *test)
{
	struct pci_dev *pdev = p2pdma_named_provider(test);
	struct p2pdma_range *range;
	size_t size, avail, len, start;
	struct pci_p2pdma *p2p;
	int bar = -1, i;
	void *probe;

	probe = pci_alloc_p2pmem(pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, probe);
	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	range = p2pdma_find_range(p2p, probe);
	size = p2pdma_pool_size(p2p);
	rcu_read_unlock();
	pci_free_p2pmem(pdev, probe, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, range);
	avail = p2pdma_pool_avail(p2p);

	for (i = 0; i < PCI_STD_NUM_BARS; i++)
		if (pci_resource_start(pdev, i) <= range->pgmap.range.start &&
		    range->pgmap.range.end <= pci_resource_end(pdev, i))
			bar = i;
	KUNIT_ASSERT_GE(test, bar, 0);

	len = pci_resource_len(pdev, bar);
	start = range->pgmap.range.start - pci_resource_start(pdev, bar);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, -1, 0, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, PCI_STD_NUM_BARS,
						      0, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, bar, 0, len),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, bar,
						      len + SUBSECTION_SIZE, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, bar, PAGE_SIZE, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, bar,
						      SUBSECTION_SIZE, start),
			-EBUSY);

	KUNIT_EXPECT_EQ(test, p2pdma_pool_size(p2p), size);
	KUNIT_EXPECT_EQ(test, p2pdma_pool_avail(p2p), avail);
	KUNIT_EXPECT_TRUE(test, pci_has_p2pmem(pdev));
}

/* Another device whose route from @provider is @map, see below. */
static struct pci_dev *p2pdma_find_client(struct kunit *test,
					  struct pci_dev *provider,
					  enum pci_p2pdma_map_type map,
					  u64 dma_limit);

/*
 * pci_restore_state() re-enables ACS after a reset or resume without any
 * device coming or going: if it leaves redirection on, the cached verdicts
 * must go; if it leaves it off, they stay (a stale refusal is safe).
 */
static void pci_p2pdma_restore_forgets(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct pci_dev *client, *port = NULL;
	struct device *dev;
	u16 ctrl;

	client = p2pdma_find_client(test, provider, PCI_P2PDMA_MAP_BUS_ADDR, 0);
	if (!client)
		client = provider;
	dev = &client->dev;
	for_each_pci_dev(port)
		if (port->acs_cap && pci_is_bridge(port))
			break;
	if (!port)
		kunit_skip(test, "no port with ACS to restore");
	p2pdma_defer(test, p2pdma_test_put_pdev, port);
	KUNIT_ASSERT_EQ(test, pci_read_config_word(port, port->acs_cap +
						   PCI_ACS_CTRL, &ctrl), 0);
	if (ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC))
		kunit_skip(test, "%s redirects already", pci_name(port));

	KUNIT_ASSERT_GE(test, pci_p2pdma_distance_many(provider, &dev, 1,
						       false), 0);
	KUNIT_ASSERT_EQ(test, p2pdma_cached_map_type(provider, client),
			PCI_P2PDMA_MAP_BUS_ADDR);

	pci_save_state(port);
	pci_restore_state(port);
	KUNIT_EXPECT_EQ(test, p2pdma_cached_map_type(provider, client),
			PCI_P2PDMA_MAP_BUS_ADDR);

	/* Redirection on, as a restore with an IOMMU leaves it. */
	pci_write_config_word(port, port->acs_cap + PCI_ACS_CTRL,
			      ctrl | PCI_ACS_RR);
	pci_save_state(port);
	pci_restore_state(port);
	KUNIT_EXPECT_EQ(test, p2pdma_cached_map_type(provider, client),
			PCI_P2PDMA_MAP_UNKNOWN);
	pci_write_config_word(port, port->acs_cap + PCI_ACS_CTRL, ctrl);
}

/*
 * The free that leaves a dying provider's pool idle wakes teardown at once;
 * without the wake, teardown would notice only at its next poll, a second
 * later.  A pool of its own over a plain buffer: one range whose pin is a
 * bare percpu_ref, no struct pages.
 */
struct p2pdma_idle_waiter {
	struct work_struct work;
	struct pci_p2pdma *p2p;
	long left;
};

static void p2pdma_idle_wait(struct work_struct *work)
{
	struct p2pdma_idle_waiter *w = container_of(work, typeof(*w), work);

	w->left = wait_event_timeout(w->p2p->idle_wq, p2pdma_pool_idle(w->p2p),
				     30 * HZ);
}

static void p2pdma_test_ref_release(struct percpu_ref *ref)
{
}

static void p2pdma_test_ref_exit(void *ref)
{
	percpu_ref_exit(ref);
}

/* gen_pool_destroy() BUGs on memory still allocated: leak it instead. */
static void p2pdma_test_pool_destroy(void *p2p)
{
	if (p2pdma_pool_idle(p2p))
		p2pdma_pool_destroy(p2p);
}

static void pci_p2pdma_free_wakes_teardown(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct p2pdma_idle_waiter *w;
	struct p2pdma_range *range;
	struct pci_p2pdma *p2p;
	unsigned long addr;
	void *owner;
	int i;

	p2p = kunit_kzalloc(test, sizeof(*p2p), GFP_KERNEL);
	range = kunit_kzalloc(test, sizeof(*range), GFP_KERNEL);
	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p2p);
	KUNIT_ASSERT_NOT_NULL(test, range);
	KUNIT_ASSERT_NOT_NULL(test, w);
	range->kaddr = kunit_kzalloc(test, SZ_64K, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, range->kaddr);
	range->p2p = p2p;
	range->size = SZ_64K;
	p2p->pdev = provider;

	KUNIT_ASSERT_EQ(test, percpu_ref_init(&range->pgmap.ref,
					      p2pdma_test_ref_release, 0,
					      GFP_KERNEL), 0);
	p2pdma_defer(test, p2pdma_test_ref_exit, &range->pgmap.ref);
	KUNIT_ASSERT_EQ(test, p2pdma_pool_init(p2p, NUMA_NO_NODE), 0);
	p2pdma_defer(test, p2pdma_test_pool_destroy, p2p);
	KUNIT_ASSERT_EQ(test, p2pdma_pool_add(p2p, range), 0);

	addr = gen_pool_alloc_owner(p2p->pool, PAGE_SIZE, &owner);
	KUNIT_ASSERT_NE(test, addr, 0);
	KUNIT_EXPECT_PTR_EQ(test, owner, (void *)range);
	percpu_ref_get(&range->pgmap.ref);
	KUNIT_EXPECT_FALSE(test, p2pdma_pool_idle(p2p));

	/* What teardown does before it waits for the pool. */
	WRITE_ONCE(p2p->dying, true);
	synchronize_rcu();

	w->p2p = p2p;
	INIT_WORK(&w->work, p2pdma_idle_wait);
	queue_work(system_unbound_wq, &w->work);
	for (i = 0; i < 10000 && !wq_has_sleeper(&p2p->idle_wq); i++)
		usleep_range(1000, 2000);
	KUNIT_EXPECT_TRUE_MSG(test, wq_has_sleeper(&p2p->idle_wq),
			      "the waiter never slept");

	p2pdma_give_back(range, (void *)addr, PAGE_SIZE, 1);
	flush_work(&w->work);
	/* Woken, it returns early; missed, it returns 1 after 30 s. */
	KUNIT_EXPECT_GT_MSG(test, w->left, 20 * HZ,
			    "woken %ld jiffies before its timeout", w->left);
	KUNIT_EXPECT_TRUE(test, p2pdma_pool_idle(p2p));
}

/* ---- DMA mapping of p2pmem ---- */

/* The last byte of @provider's memory BARs, as the CPU sees them */
static u64 p2pdma_bar_end(struct pci_dev *provider)
{
	u64 end = 0;
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++)
		if (pci_resource_flags(provider, bar) & IORESOURCE_MEM)
			end = max_t(u64, end, pci_resource_end(provider, bar));
	return end;
}

/*
 * Another device, neither a bridge nor a host bridge, whose route from
 * @provider is @map and whose DMA mask reaches @dma_limit.  The reference
 * is dropped when the test ends.
 */
static struct pci_dev *p2pdma_find_client(struct kunit *test,
					  struct pci_dev *provider,
					  enum pci_p2pdma_map_type map,
					  u64 dma_limit)
{
	struct pci_dev *pdev = NULL;
	struct p2pdma_route r;

	for_each_pci_dev(pdev) {
		if (pci_is_bridge(pdev) || pdev == provider ||
		    pdev->class >> 8 == PCI_CLASS_BRIDGE_HOST ||
		    dma_get_mask(&pdev->dev) < dma_limit)
			continue;
		p2pdma_compute_route(provider, pdev, &r);
		if (r.map == map)
			break;
	}
	if (pdev)
		p2pdma_defer(test, p2pdma_test_put_pdev, pdev);
	return pdev;
}

struct p2pdma_mapping {
	struct device *dev;
	struct sg_table sgt;
};

static void p2pdma_unmap(void *data)
{
	struct p2pdma_mapping *m = data;

	dma_unmap_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
}

/* Map @length bytes of @provider's p2pmem for @client; unmapped at the end */
static int p2pdma_map(struct kunit *test, struct pci_dev *provider,
		      struct pci_dev *client, u32 length,
		      struct p2pdma_mapping **mapping)
{
	struct p2pmem_sgl *s = p2pmem_sgl_get(test, provider, length);
	struct p2pdma_mapping *m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, m);
	m->dev = &client->dev;
	m->sgt.sgl = s->sgl;
	m->sgt.orig_nents = 1;
	m->sgt.nents = 1;
	ret = dma_map_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
	if (!ret)
		p2pdma_defer(test, p2pdma_unmap, m);
	*mapping = m;
	return ret;
}

static void p2pdma_check_bus_mapping(struct kunit *test,
				     struct pci_dev *provider,
				     struct pci_dev *client)
{
	struct p2pdma_mapping *m;
	struct scatterlist *sg;

	KUNIT_ASSERT_EQ_MSG(test, p2pdma_map(test, provider, client, SZ_64K,
					     &m), 0, "client %s",
			    pci_name(client));
	sg = m->sgt.sgl;
	KUNIT_EXPECT_EQ(test, m->sgt.nents, 1);
	KUNIT_EXPECT_TRUE(test, sg_dma_is_bus_address(sg));
	KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
			pci_p2pmem_virt_to_bus(provider, sg_virt(sg)));
	KUNIT_EXPECT_EQ(test, sg_dma_len(sg), SZ_64K);
}

/* The provider is always near itself */
static void pci_p2pdma_map_self(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);

	p2pdma_check_bus_mapping(test, provider, provider);
}

/* So is a peer below the same switch, if there is one */
static void pci_p2pdma_map_near(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct pci_dev *client;

	client = p2pdma_find_client(test, provider, PCI_P2PDMA_MAP_BUS_ADDR, 0);
	if (!client)
		kunit_skip(test, "no other device near %s", pci_name(provider));
	kunit_info(test, "near client %s\n", pci_name(client));
	p2pdma_check_bus_mapping(test, provider, client);
}

/* A device the provider cannot reach gets -EREMOTEIO */
static void pci_p2pdma_map_refused(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct pci_dev *client;
	struct p2pdma_mapping *m;

	client = p2pdma_find_client(test, provider,
				    PCI_P2PDMA_MAP_NOT_SUPPORTED, 0);
	if (!client)
		kunit_skip(test, "every device can reach %s",
			   pci_name(provider));
	kunit_info(test, "refused client %s\n", pci_name(client));
	KUNIT_EXPECT_EQ(test, p2pdma_map(test, provider, client, SZ_64K, &m),
			-EREMOTEIO);
}

/* Through the host bridge the mapping is an ordinary one */
static void pci_p2pdma_map_host_bridge(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct pci_dev *client;
	struct p2pdma_mapping *m;

	client = p2pdma_find_client(test, provider,
				    PCI_P2PDMA_MAP_THRU_HOST_BRIDGE,
				    p2pdma_bar_end(provider));
	if (!client)
		kunit_skip(test, "no device reaches %s through the host bridge",
			   pci_name(provider));
	kunit_info(test, "client %s\n", pci_name(client));
	KUNIT_ASSERT_EQ(test, p2pdma_map(test, provider, client, SZ_64K, &m),
			0);
	KUNIT_EXPECT_EQ(test, m->sgt.nents, 1);
	KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(m->sgt.sgl));
	KUNIT_EXPECT_EQ(test, sg_dma_len(m->sgt.sgl), SZ_64K);
}

/*
 * Declaring the refusing host bridge through p2pdma.host_bridges takes
 * effect at once, even for a pair whose refusal the mapping path has
 * already cached; clearing the list refuses the pair again.
 */
static void pci_p2pdma_map_override(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct p2pdma_mapping *m;
	struct pci_dev *client;
	struct p2pdma_route r;
	char id[16];
	int i;

	p2pdma_skip_if_cpu_routes(test);
	client = p2pdma_find_client(test, provider,
				    PCI_P2PDMA_MAP_NOT_SUPPORTED,
				    p2pdma_bar_end(provider));
	if (!client)
		kunit_skip(test, "every device can reach %s",
			   pci_name(provider));
	p2pdma_hb_param_take(test);
	p2pdma_compute_route(provider, client, &r);
	if (r.map != PCI_P2PDMA_MAP_NOT_SUPPORTED || !r.host_bridge_id)
		kunit_skip(test, "%s is not refused by an identified host bridge",
			   pci_name(client));
	kunit_info(test, "client %s, host bridge %04x:%04x\n",
		   pci_name(client), r.host_bridge_id >> 16,
		   r.host_bridge_id & 0xffff);

	/*
	 * Three times each time: the first evaluates and stores, the second
	 * finds the answer in the xarray and remembers it, the memo answers
	 * the third.
	 */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, p2pdma_map(test, provider, client,
						 SZ_64K, &m), -EREMOTEIO);

	snprintf(id, sizeof(id), "%04x:%04x", r.host_bridge_id >> 16,
		 r.host_bridge_id & 0xffff);
	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write(id), 0);
	for (i = 0; i < 3; i++) {
		KUNIT_ASSERT_EQ(test, p2pdma_map(test, provider, client,
						 SZ_64K, &m), 0);
		KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(m->sgt.sgl));
		KUNIT_EXPECT_EQ(test, sg_dma_len(m->sgt.sgl), SZ_64K);
		kunit_release_action(test, p2pdma_unmap, m);
	}

	KUNIT_ASSERT_EQ(test, p2pdma_hb_param_write("\n"), 0);
	KUNIT_EXPECT_EQ(test, p2pdma_map(test, provider, client, SZ_64K, &m),
			-EREMOTEIO);
}

/*
 * Whatever the map-type cache says, the mapping path does at once, even
 * right after the memo answered for the same pair: a verdict stored for
 * the pair (as pci_p2pdma_distance_many() stores one after ACS changed)
 * replaces the one the memo holds.  Each verdict is used three times: the
 * memo answers the third.
 */
struct p2pdma_pair {
	struct pci_dev *provider;
	struct device *client;
};

/* Put the verdict computed from config space back, whatever happened. */
static void p2pdma_refresh_pair(void *data)
{
	struct p2pdma_pair *pair = data;

	pci_p2pdma_distance_many(pair->provider, &pair->client, 1, false);
}

static void pci_p2pdma_map_follows_cache(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	struct p2pdma_mapping *m;
	struct p2pdma_pair *pair;
	struct pci_dev *client;
	int i;

	client = p2pdma_find_client(test, provider, PCI_P2PDMA_MAP_BUS_ADDR, 0);
	if (!client)
		client = provider;
	kunit_info(test, "client %s\n", pci_name(client));
	pair = kunit_kzalloc(test, sizeof(*pair), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pair);
	pair->provider = provider;
	pair->client = &client->dev;
	p2pdma_defer(test, p2pdma_refresh_pair, pair);

	for (i = 0; i < 3; i++)
		p2pdma_check_bus_mapping(test, provider, client);

	p2pdma_set_cached_map_type(provider, client,
				   PCI_P2PDMA_MAP_NOT_SUPPORTED);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, p2pdma_map(test, provider, client,
						 SZ_4K, &m), -EREMOTEIO);

	/* The verdict computed from config space comes back. */
	KUNIT_EXPECT_GE(test, pci_p2pdma_distance_many(provider, &pair->client,
						       1, false), 0);
	for (i = 0; i < 3; i++)
		p2pdma_check_bus_mapping(test, provider, client);
}

/*
 * More clients than the memo has slots, mapped in turn three times (see
 * pci_p2pdma_map_follows_cache()): each mapping gets its own pair's
 * verdict, whether the memo, which holds the first clients only, or the
 * xarray answers.
 */
static void pci_p2pdma_map_many_clients(struct kunit *test)
{
	struct pci_dev *provider = p2pdma_find_provider(test);
	unsigned int clients = 0, checked = 0;
	struct p2pdma_mapping *m;
	struct pci_dev *pdev = NULL;
	struct p2pdma_route r;
	pci_bus_addr_t bus;
	int round, ret;

	for_each_pci_dev(pdev) {
		p2pdma_compute_route(provider, pdev, &r);
		if (r.map != PCI_P2PDMA_MAP_THRU_HOST_BRIDGE)
			clients++;
	}
	if (clients <= P2PDMA_MEMO_SLOTS)
		kunit_skip(test, "%u clients, not more than the memo's %d",
			   clients, P2PDMA_MEMO_SLOTS);

	for (round = 0; round < 3; round++) {
		pdev = NULL;
		for_each_pci_dev(pdev) {
			p2pdma_compute_route(provider, pdev, &r);
			if (r.map == PCI_P2PDMA_MAP_THRU_HOST_BRIDGE)
				continue;
			ret = p2pdma_map(test, provider, pdev, SZ_4K, &m);
			checked++;
			if (r.map == PCI_P2PDMA_MAP_NOT_SUPPORTED) {
				KUNIT_EXPECT_EQ_MSG(test, ret, -EREMOTEIO,
						    "client %s", pci_name(pdev));
				continue;
			}
			KUNIT_EXPECT_EQ_MSG(test, ret, 0, "client %s",
					    pci_name(pdev));
			if (ret)
				continue;
			KUNIT_EXPECT_TRUE(test,
					  sg_dma_is_bus_address(m->sgt.sgl));
			bus = pci_p2pmem_virt_to_bus(provider,
						     sg_virt(m->sgt.sgl));
			KUNIT_EXPECT_EQ(test, sg_dma_address(m->sgt.sgl), bus);
			kunit_release_action(test, p2pdma_unmap, m);
		}
	}
	kunit_info(test, "%u clients, %u mappings checked\n", clients,
		   checked);
	KUNIT_EXPECT_EQ(test, checked, 3 * clients);
}

static struct kunit_case pci_p2pdma_attr_cases[] = {
	KUNIT_CASE_PARAM(pci_p2pdma_store_bool, p2pdma_bool_word_gen_params),
	KUNIT_CASE_PARAM(pci_p2pdma_store_invalid,
			 p2pdma_bad_input_gen_params),
	KUNIT_CASE(pci_p2pdma_store_non_provider),
	KUNIT_CASE(pci_p2pdma_store_provider),
	KUNIT_CASE(pci_p2pdma_show_bool),
	KUNIT_CASE(pci_p2pdma_show_device),
	{}
};

static struct kunit_suite pci_p2pdma_attr_suite = {
	.name = "pci_p2pdma_attr",
	.test_cases = pci_p2pdma_attr_cases,
};

static struct kunit_case pci_p2pdma_topology_cases[] = {
	KUNIT_CASE(pci_p2pdma_route_tables),
	KUNIT_CASE_PARAM(pci_p2pdma_route, fake_scenario_gen_params),
	KUNIT_CASE(pci_p2pdma_distance_many_sum),
	KUNIT_CASE(pci_p2pdma_distance_many_refused),
	KUNIT_CASE(pci_p2pdma_distance_many_domains),
	KUNIT_CASE(pci_p2pdma_distance_many_blocked),
	KUNIT_CASE(pci_p2pdma_route_acs_live),
	{}
};

static struct kunit_suite pci_p2pdma_topology_suite = {
	.name = "pci_p2pdma_topology",
	.test_cases = pci_p2pdma_topology_cases,
};

static struct kunit_case pci_p2pdma_host_bridges_cases[] = {
	KUNIT_CASE_PARAM(pci_p2pdma_host_bridges_parse,
			 p2pdma_hb_case_gen_params),
	KUNIT_CASE(pci_p2pdma_host_bridges_parse_max),
	KUNIT_CASE(pci_p2pdma_host_bridges_override),
	KUNIT_CASE_PARAM(pci_p2pdma_host_bridge_list,
			 p2pdma_rc_fact_gen_params),
	{}
};

static struct kunit_suite pci_p2pdma_host_bridges_suite = {
	.name = "pci_p2pdma_host_bridges",
	.test_cases = pci_p2pdma_host_bridges_cases,
};

static struct kunit_case pci_p2pdma_p2pmem_cases[] = {
	KUNIT_CASE(pci_p2pdma_alloc_sizes),
	KUNIT_CASE(pci_p2pdma_alloc_exhaust),
	KUNIT_CASE(pci_p2pdma_alloc_sgl),
	KUNIT_CASE(pci_p2pdma_free_wakes_teardown),
	KUNIT_CASE_SLOW(pci_p2pdma_alloc_concurrent),
	KUNIT_CASE(pci_p2pdma_distance_cached),
	KUNIT_CASE(pci_p2pdma_restore_forgets),
	KUNIT_CASE(pci_p2pdma_sgl_cross_cpu),
	KUNIT_CASE(pci_p2pdma_find_many_choice),
	KUNIT_CASE(pci_p2pdma_add_resource_refused),
	KUNIT_CASE(pci_p2pdma_map_self),
	KUNIT_CASE(pci_p2pdma_map_near),
	KUNIT_CASE(pci_p2pdma_map_refused),
	KUNIT_CASE(pci_p2pdma_map_host_bridge),
	KUNIT_CASE(pci_p2pdma_map_override),
	KUNIT_CASE(pci_p2pdma_map_follows_cache),
	KUNIT_CASE(pci_p2pdma_map_many_clients),
	{}
};

static struct kunit_suite pci_p2pdma_p2pmem_suite = {
	.name = "pci_p2pdma_p2pmem",
	.test_cases = pci_p2pdma_p2pmem_cases,
};

kunit_test_suites(&pci_p2pdma_attr_suite, &pci_p2pdma_topology_suite,
		  &pci_p2pdma_host_bridges_suite, &pci_p2pdma_p2pmem_suite);

MODULE_DESCRIPTION("KUnit tests for PCI peer-to-peer DMA");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
