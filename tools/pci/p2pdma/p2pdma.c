// SPDX-License-Identifier: GPL-2.0
/*
 * p2pdma - which PCI devices can do peer-to-peer DMA, and if not, why.
 *
 *	p2pdma list		the p2pmem providers
 *	p2pdma topo		providers x DMA-capable functions, as a matrix
 *	p2pdma why A B		can function B DMA into provider A's p2pmem?
 *
 * Everything shown is the kernel's: the providers come from the p2pmem/
 * groups in sysfs, every decision, distance and reason from the route
 * report <debugfs>/p2pdma/routes, one line per provider and PCI function
 * of its domain:
 *
 *	PROVIDER CLIENT MAP DISTANCE REASON...
 *
 * This tool never works out a route itself: a decision it printed that
 * the kernel would not take would be worse than none.
 *
 * Copyright (c) 2026 The p2pdma authors
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/compiler.h>

#define DEBUGFS_MAGIC	0x64626720
#define NAME_LEN	32

/* Exit statuses: 0 answered, 1 the system cannot answer, 2 bad usage. */
#define EXIT_TROUBLE	1
#define EXIT_USAGE	2

struct route {
	char provider[NAME_LEN];
	char client[NAME_LEN];
	char map[NAME_LEN];	/* bus-address, host-bridge or refused */
	int distance;
	char *reason;		/* the kernel's words, remedy cut off */
	char *remedy;		/* what was in the reason's "(...)", or NULL */
};

struct routes {
	struct route *r;
	size_t n;
};

struct names {
	char (*name)[NAME_LEN];
	size_t n;
};

static const char *sysfs = "/sys";
static const char *debugfs = "/sys/kernel/debug";
static bool json;

static void print_help(FILE *f)
{
	fprintf(f,
		"usage: p2pdma [--json] [--sysfs DIR] [--debugfs DIR] COMMAND\n"
		"\n"
		"  list      the p2pmem providers: device, size, available,\n"
		"            published, driver\n"
		"  topo      a matrix of providers x DMA-capable functions with\n"
		"            a legend and one footnote per refused pair\n"
		"  why A B   can function B DMA into the p2pmem of provider A,\n"
		"            and if not, why and what to do about it\n"
		"\n"
		"  A and B are PCI functions (0000:01:00.0 or 01:00.0) or class\n"
		"  device names such as nvme0.  --json prints one JSON object.\n"
		"  Decisions come from the kernel's route report in debugfs\n"
		"  (DIR/p2pdma/routes, DIR default /sys/kernel/debug), the\n"
		"  providers from sysfs (DIR/bus/pci/devices/*/p2pmem, DIR\n"
		"  default /sys).\n"
		"\n"
		"Exit status: 0 answered, 1 the system cannot answer (no\n"
		"debugfs, no such device), 2 bad usage.\n");
}

static __noreturn __printf(2, 3) void
die(int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("p2pdma: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* snprintf() for paths and names, which never come near the sizes used. */
static __printf(3, 4) void
fmt(char *buf, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(buf, size, format, ap);
	va_end(ap);
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		die(EXIT_TROUBLE, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die(EXIT_TROUBLE, "out of memory");
	return p;
}

/* Read the first line of a small sysfs file, without its newline. */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, size, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static const char *pci_dir(void)
{
	static char path[PATH_MAX];

	fmt(path, sizeof(path), "%s/bus/pci/devices", sysfs);
	return path;
}

static void pci_attr(const char *bdf, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];

	fmt(path, sizeof(path), "%s/%s/%s", pci_dir(), bdf, attr);
	if (read_line(path, buf, size))
		fmt(buf, size, "?");
}

/* The vendor:device pair of a function, as the route report prints it. */
static void pci_id(const char *bdf, char *buf, size_t size)
{
	char ven[16], dev[16];

	pci_attr(bdf, "vendor", ven, sizeof(ven));
	pci_attr(bdf, "device", dev, sizeof(dev));
	fmt(buf, size, "%s:%s", strncmp(ven, "0x", 2) ? ven : ven + 2,
	    strncmp(dev, "0x", 2) ? dev : dev + 2);
}

static void pci_driver(const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t len;

	fmt(path, sizeof(path), "%s/%s/driver", pci_dir(), bdf);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0) {
		fmt(buf, size, "-");
		return;
	}
	target[len] = '\0';
	base = strrchr(target, '/');
	fmt(buf, size, "%s", base ? base + 1 : target);
}

static bool pci_exists(const char *bdf)
{
	char path[PATH_MAX];

	fmt(path, sizeof(path), "%s/%s", pci_dir(), bdf);
	return access(path, F_OK) == 0;
}

/* DDDD:BB:DD.F, with hexadecimal digits, as pci_name() prints it. */
static bool is_bdf(const char *s)
{
	static const char form[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(form) - 1)
		return false;
	for (i = 0; form[i]; i++) {
		if (form[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != form[i])
			return false;
	}
	return true;
}

/*
 * A device named on the command line: a PCI function with or without its
 * domain, or a class device (nvme0) whose parent is a PCI function.
 */
static void resolve(const char *arg, char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX], *base;
	struct dirent *de;
	DIR *dir;

	fmt(path, sizeof(path), "0000:%s", arg);
	if (is_bdf(path))
		arg = path;
	if (is_bdf(arg)) {
		fmt(bdf, NAME_LEN, "%s", arg);
		for (base = bdf; *base; base++)
			*base = tolower((unsigned char)*base);
		if (!pci_exists(bdf))
			die(EXIT_TROUBLE, "no PCI function %s in %s", bdf, pci_dir());
		return;
	}
	if (!*arg || strchr(arg, '/') || arg[0] == '.')
		die(EXIT_USAGE,
		    "'%s' is not a PCI function (0000:01:00.0) or a device name (nvme0)",
		    arg);
	fmt(path, sizeof(path), "%s/class", sysfs);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		fmt(path, sizeof(path), "%s/class/%s/%s/device", sysfs,
		    de->d_name, arg);
		if (!realpath(path, target))
			continue;
		base = strrchr(target, '/');
		if (base && is_bdf(base + 1) && pci_exists(base + 1)) {
			fmt(bdf, NAME_LEN, "%s", base + 1);
			closedir(dir);
			return;
		}
	}
	if (dir)
		closedir(dir);
	die(EXIT_TROUBLE,
	    "no PCI function '%s': give its address (0000:01:00.0) or a class device name such as nvme0",
	    arg);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The providers: PCI functions with a p2pmem/ group, sorted. */
static struct names providers_in_sysfs(void)
{
	struct names p = { NULL, 0 };
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	dir = opendir(pci_dir());
	if (!dir)
		die(EXIT_TROUBLE,
		    "cannot read %s: %s (is sysfs mounted? mount -t sysfs none /sys)",
		    pci_dir(), strerror(errno));
	while ((de = readdir(dir))) {
		if (!is_bdf(de->d_name))
			continue;
		fmt(path, sizeof(path), "%s/%s/p2pmem", pci_dir(), de->d_name);
		if (stat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		p.name = xrealloc(p.name, (p.n + 1) * sizeof(*p.name));
		fmt(p.name[p.n++], NAME_LEN, "%s", de->d_name);
	}
	closedir(dir);
	qsort(p.name, p.n, sizeof(*p.name), cmp_name);
	return p;
}

/* Split "words (remedy)" into the words and the remedy. */
static void split_reason(struct route *r, const char *text)
{
	size_t len = strlen(text);
	const char *open = strrchr(text, '(');

	if (len && text[len - 1] == ')' && open && open > text && open[-1] == ' ') {
		r->reason = xstrdup(text);
		r->reason[open - 1 - text] = '\0';
		r->remedy = xstrdup(open + 1);
		r->remedy[strlen(r->remedy) - 1] = '\0';
	} else {
		r->reason = xstrdup(text);
		r->remedy = NULL;
	}
}

static const char *routes_path(void)
{
	static char path[PATH_MAX];

	fmt(path, sizeof(path), "%s/p2pdma/routes", debugfs);
	return path;
}

/* Why the route report cannot be read, and how to fix it. */
static __noreturn void no_routes(int err)
{
	struct statfs sfs;

	if (statfs(debugfs, &sfs) || sfs.f_type != DEBUGFS_MAGIC)
		die(EXIT_TROUBLE,
		    "debugfs is not mounted on %s, so the kernel's route report %s cannot be read; mount it: mount -t debugfs none %s",
		    debugfs, routes_path(), debugfs);
	if (err == EACCES || err == EPERM)
		die(EXIT_TROUBLE,
		    "cannot read %s: %s (debugfs is readable by root only: run as root)",
		    routes_path(), strerror(err));
	if (err == ENOENT)
		die(EXIT_TROUBLE,
		    "%s does not exist: this kernel has no p2pdma route report; it needs CONFIG_PCI_P2PDMA=y and a p2pdma core that reports its routes",
		    routes_path());
	die(EXIT_TROUBLE, "cannot read %s: %s", routes_path(), strerror(err));
}

static struct routes read_routes(void)
{
	struct routes rs = { NULL, 0 };
	char *line = NULL, *text;
	size_t cap = 0;
	unsigned int lineno = 0;
	struct route *r;
	int used;
	FILE *f;

	f = fopen(routes_path(), "r");
	if (!f)
		no_routes(errno);
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		rs.r = xrealloc(rs.r, (rs.n + 1) * sizeof(*rs.r));
		r = &rs.r[rs.n];
		used = -1;
		if (sscanf(line, "%31s %31s %31s %d %n", r->provider, r->client,
			   r->map, &r->distance, &used) < 4 || used < 0)
			die(EXIT_TROUBLE, "%s:%u: cannot parse '%s'", routes_path(),
			    lineno, line);
		text = line + used;
		split_reason(r, text);
		rs.n++;
	}
	if (ferror(f))
		die(EXIT_TROUBLE, "cannot read %s: %s", routes_path(), strerror(errno));
	free(line);
	fclose(f);
	return rs;
}

static bool name_in(const struct names *s, const char *name)
{
	return bsearch(name, s->name, s->n, sizeof(*s->name), cmp_name);
}

static void name_add(struct names *s, const char *name)
{
	if (name_in(s, name))
		return;
	s->name = xrealloc(s->name, (s->n + 1) * sizeof(*s->name));
	fmt(s->name[s->n++], NAME_LEN, "%s", name);
	qsort(s->name, s->n, sizeof(*s->name), cmp_name);
}

static const struct route *find_route(const struct routes *rs,
				      const char *provider, const char *client)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (!strcmp(rs->r[i].provider, provider) &&
		    !strcmp(rs->r[i].client, client))
			return &rs->r[i];
	return NULL;
}

static bool refused(const struct route *r)
{
	return strcmp(r->map, "bus-address") && strcmp(r->map, "host-bridge");
}

/* The matrix cell of a route: X, SW<n>, HB or NO. */
static void cell(const struct route *r, char *buf, size_t size)
{
	if (!strcmp(r->map, "bus-address"))
		fmt(buf, size, r->distance ? "SW%d" : "X", r->distance);
	else if (!strcmp(r->map, "host-bridge"))
		fmt(buf, size, "HB");
	else
		fmt(buf, size, "NO");
}

/*
 * A remedy the kernel names is a kernel parameter; a module parameter of
 * p2pdma that is writable at run time can be set without a reboot.
 */
static void print_remedy(const char *indent, const char *remedy)
{
	char param[PATH_MAX], cur[256];
	const char *eq;

	if (!remedy) {
		printf("%sremedy: none known to the kernel\n", indent);
		return;
	}
	printf("%sremedy: boot with %s", indent, remedy);
	eq = strchr(remedy, '=');
	if (!strncmp(remedy, "p2pdma.", 7) && eq) {
		fmt(param, sizeof(param), "%s/module/p2pdma/parameters/%.*s",
		    sysfs, (int)(eq - remedy - 7), remedy + 7);
		if (access(param, F_OK) == 0) {
			/* Writing the parameter replaces its list. */
			if (read_line(param, cur, sizeof(cur)) || !*cur ||
			    strstr(cur, eq + 1))
				*cur = '\0';
			printf(", or now: echo %s%s%s > %s", cur, *cur ? "," : "",
			       eq + 1, param);
		}
	}
	putchar('\n');
}

/* JSON strings: what the kernel and sysfs print is plain ASCII, but be safe. */
static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* SEP, then the opening of a JSON object naming a PCI function. */
static void json_device(const char *sep, const char *name, const char *id,
			const char *drv)
{
	printf("%s{\"device\": ", sep);
	json_str(name);
	fputs(", \"id\": ", stdout);
	json_str(id);
	fputs(", \"driver\": ", stdout);
	json_str(strcmp(drv, "-") ? drv : NULL);
}

static void json_route(const struct route *r)
{
	char c[NAME_LEN];

	cell(r, c, sizeof(c));
	fputs("{\"provider\": ", stdout);
	json_str(r->provider);
	fputs(", \"client\": ", stdout);
	json_str(r->client);
	fputs(", \"map\": ", stdout);
	json_str(r->map);
	printf(", \"distance\": %d, \"allowed\": %s, \"cell\": ", r->distance,
	       refused(r) ? "false" : "true");
	json_str(c);
	fputs(", \"reason\": ", stdout);
	json_str(r->reason);
	fputs(", \"remedy\": ", stdout);
	json_str(r->remedy);
	putchar('}');
}

static int cmd_list(void)
{
	struct names p = providers_in_sysfs();
	char size[32], avail[32], pub[8], drv[NAME_LEN], id[NAME_LEN];
	size_t i;

	if (json)
		fputs("{\"providers\": [", stdout);
	else if (!p.n)
		printf("No p2pmem providers (no %s/*/p2pmem).\n", pci_dir());
	else
		printf("%-13s %-10s %-12s %12s %12s %s\n", "DEVICE", "ID",
		       "DRIVER", "SIZE", "AVAILABLE", "PUBLISHED");
	for (i = 0; i < p.n; i++) {
		pci_attr(p.name[i], "p2pmem/size", size, sizeof(size));
		pci_attr(p.name[i], "p2pmem/available", avail, sizeof(avail));
		pci_attr(p.name[i], "p2pmem/published", pub, sizeof(pub));
		pci_driver(p.name[i], drv, sizeof(drv));
		pci_id(p.name[i], id, sizeof(id));
		if (!json) {
			printf("%-13s %-10s %-12s %12s %12s %s\n", p.name[i],
			       id, drv, size, avail,
			       !strcmp(pub, "1") ? "yes" : "no");
			continue;
		}
		json_device(i ? ", " : "", p.name[i], id, drv);
		printf(", \"size\": %s, \"available\": %s, \"published\": %s}",
		       isdigit((unsigned char)size[0]) ? size : "null",
		       isdigit((unsigned char)avail[0]) ? avail : "null",
		       !strcmp(pub, "1") ? "true" : "false");
	}
	if (json)
		puts("]}");
	free(p.name);
	return 0;
}

/* Drop the domain from names when every function is in domain 0000. */
static const char *short_name(const char *bdf, bool all_zero)
{
	return all_zero ? bdf + 5 : bdf;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * The number of the first footnote, in matrix order, with the reason and
 * remedy of refused route R.
 */
static int same_note(const struct routes *rs, const struct names *prov,
		     const struct names *cli, const struct route *r)
{
	const struct route *o;
	size_t i, j;
	int note = 0;

	for (i = 0; i < prov->n; i++) {
		for (j = 0; j < cli->n; j++) {
			o = find_route(rs, prov->name[i], cli->name[j]);
			if (!o || !refused(o))
				continue;
			note++;
			if (same_text(o->reason, r->reason) &&
			    same_text(o->remedy, r->remedy))
				return note;
		}
	}
	return note;
}

/* One matrix column, padded to WIDTH unless it ends the line. */
static void column(const char *text, int width, bool last)
{
	if (last)
		printf("  %s\n", text);
	else
		printf("  %-*s", width, text);
}

static int cmd_topo(void)
{
	struct routes rs = read_routes();
	struct names prov = { NULL, 0 }, cli = { NULL, 0 };
	char c[NAME_LEN], id[NAME_LEN], drv[NAME_LEN];
	const struct route *r;
	bool all_zero = true;
	int width = 0, pwidth = 0, w, note = 0, first;
	size_t i, j;

	for (i = 0; i < rs.n; i++) {
		name_add(&prov, rs.r[i].provider);
		name_add(&cli, rs.r[i].client);
		if (strncmp(rs.r[i].provider, "0000:", 5) ||
		    strncmp(rs.r[i].client, "0000:", 5))
			all_zero = false;
	}
	if (json) {
		fputs("{\"providers\": [", stdout);
		for (i = 0; i < prov.n; i++) {
			fputs(i ? ", " : "", stdout);
			json_str(prov.name[i]);
		}
		fputs("], \"functions\": [", stdout);
		for (i = 0; i < cli.n; i++) {
			pci_id(cli.name[i], id, sizeof(id));
			pci_driver(cli.name[i], drv, sizeof(drv));
			json_device(i ? ",\n  " : "\n  ", cli.name[i], id, drv);
			printf(", \"provider\": %s}",
			       name_in(&prov, cli.name[i]) ? "true" : "false");
		}
		fputs("], \"routes\": [", stdout);
		for (i = 0; i < rs.n; i++) {
			fputs(i ? ",\n  " : "\n  ", stdout);
			json_route(&rs.r[i]);
		}
		puts("]}");
		return 0;
	}
	if (!prov.n) {
		printf("No p2pmem providers: the kernel's route report %s is empty.\n",
		       routes_path());
		return 0;
	}

	/* Column width: the longest name or cell ("NO[12]"). */
	for (i = 0; i < cli.n; i++) {
		w = strlen(short_name(cli.name[i], all_zero));
		width = w > width ? w : width;
	}
	for (i = 0; i < rs.n; i++) {
		cell(&rs.r[i], c, sizeof(c));
		w = strlen(c) + (refused(&rs.r[i]) ? snprintf(NULL, 0, "[%zu]", rs.n) : 0);
		width = w > width ? w : width;
	}
	for (i = 0; i < prov.n; i++) {
		w = strlen(short_name(prov.name[i], all_zero));
		pwidth = w > pwidth ? w : pwidth;
	}
	if (pwidth < 8)
		pwidth = 8;

	printf("Peer-to-peer DMA by a client (column) into a provider's p2pmem (row)%s:\n\n",
	       all_zero ? ", PCI domain 0000" : "");
	printf("%-*s", pwidth, "provider");
	for (j = 0; j < cli.n; j++)
		column(short_name(cli.name[j], all_zero), width, j + 1 == cli.n);
	for (i = 0; i < prov.n; i++) {
		printf("%-*s", pwidth, short_name(prov.name[i], all_zero));
		for (j = 0; j < cli.n; j++) {
			r = find_route(&rs, prov.name[i], cli.name[j]);
			if (!r)
				fmt(c, sizeof(c), "-");
			else if (refused(r))
				fmt(c, sizeof(c), "NO[%d]", ++note);
			else
				cell(r, c, sizeof(c));
			column(c, width, j + 1 == cli.n);
		}
	}

	printf("\nLegend:\n"
	       "  X      the provider itself (same function)\n"
	       "  SW<n>  through a switch (a shared upstream bridge), distance n: PCI bus addresses\n"
	       "  HB     through a host bridge known to route peer-to-peer traffic\n"
	       "  NO[k]  refused: footnote k says why and what to do\n"
	       "  -      not in the kernel's report (another PCI domain)\n");

	printf("\nFunctions:\n");
	for (j = 0; j < cli.n; j++) {
		pci_id(cli.name[j], id, sizeof(id));
		pci_driver(cli.name[j], drv, sizeof(drv));
		printf("  %-*s  %-9s  %s%s\n", width,
		       short_name(cli.name[j], all_zero), id, drv,
		       name_in(&prov, cli.name[j]) ? ", p2pmem provider" : "");
	}

	if (note)
		printf("\nRefused:\n");
	note = 0;
	for (i = 0; i < prov.n; i++) {
		for (j = 0; j < cli.n; j++) {
			r = find_route(&rs, prov.name[i], cli.name[j]);
			if (!r || !refused(r))
				continue;
			printf("  [%d] %s into %s: ", ++note,
			       short_name(r->client, all_zero),
			       short_name(r->provider, all_zero));
			/* A reason and remedy given already are referred to. */
			first = same_note(&rs, &prov, &cli, r);
			if (first < note) {
				printf("as [%d]\n", first);
				continue;
			}
			printf("%s\n", r->reason);
			print_remedy("      ", r->remedy);
		}
	}
	return 0;
}

static int cmd_why(const char *a, const char *b)
{
	char provider[NAME_LEN], client[NAME_LEN];
	struct names p;
	struct routes rs;
	const struct route *r;
	size_t i;

	resolve(a, provider);
	resolve(b, client);
	p = providers_in_sysfs();
	rs = read_routes();
	r = find_route(&rs, provider, client);
	if (!r) {
		for (i = 0; i < rs.n && strcmp(rs.r[i].provider, provider); i++)
			;
		if (i == rs.n && !name_in(&p, provider))
			die(EXIT_TROUBLE,
			    "%s is not a p2pmem provider (it has no %s/%s/p2pmem); 'p2pdma list' shows the providers",
			    provider, pci_dir(), provider);
		die(EXIT_TROUBLE,
		    "the kernel's route report has no line for client %s and provider %s (bridges and functions of other PCI domains are not reported)",
		    client, provider);
	}
	if (json) {
		json_route(r);
		putchar('\n');
		return 0;
	}
	if (refused(r)) {
		printf("no: %s cannot DMA into the p2pmem of %s\n", client, provider);
		printf("  reason: %s\n", r->reason);
		print_remedy("  ", r->remedy);
		return 0;
	}
	printf("yes: %s can DMA into the p2pmem of %s\n", client, provider);
	if (!strcmp(r->map, "host-bridge"))
		printf("  route:  through the host bridge (distance %d), mapped like host memory\n",
		       r->distance);
	else if (r->distance)
		printf("  route:  through a switch (distance %d), with PCI bus addresses\n",
		       r->distance);
	else
		printf("  route:  the provider itself, with PCI bus addresses\n");
	printf("  reason: %s\n", r->reason);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "debugfs", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			sysfs = optarg;
			break;
		case 'd':
			debugfs = optarg;
			break;
		case 'h':
			print_help(stdout);
			return 0;
		default:
			print_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "list") && argc == 0)
		return cmd_list();
	if (!strcmp(cmd, "topo") && argc == 0)
		return cmd_topo();
	if (!strcmp(cmd, "why") && argc == 2)
		return cmd_why(argv[0], argv[1]);
	if (!strcmp(cmd, "help")) {
		print_help(stdout);
		return 0;
	}
	if (!strcmp(cmd, "list") || !strcmp(cmd, "topo") || !strcmp(cmd, "why"))
		fprintf(stderr, "p2pdma: wrong number of arguments for '%s'\n", cmd);
	else
		fprintf(stderr, "p2pdma: unknown command '%s'\n", cmd);
	print_help(stderr);
	return EXIT_USAGE;
}
