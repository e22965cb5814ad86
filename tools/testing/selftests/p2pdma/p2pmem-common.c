// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers of the p2pmem selftest tools.
 *
 * NVMe instance numbers (nvme0, nvme1n1, ...) depend on probe order, so the
 * tools never take them from the command line.  A namespace is named by the
 * serial number of its controller ("serial:S") or by the PCI function of its
 * controller ("pci:BDF"), optionally followed by "/NSID", and is found by
 * walking /sys/block.  A p2pmem provider is named by its PCI address or by
 * the serial number of the NVMe controller that owns it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "p2pmem-common.h"

const char *p2p_prog = "p2pmem";
char p2p_last_err[512];

/* Print "prog: message" on stderr and keep the message in p2p_last_err. */
void p2p_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p2p_last_err, sizeof(p2p_last_err), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", p2p_prog, p2p_last_err);
}

/*
 * Parse a byte count: decimal digits with an optional binary suffix
 * k, m or g (either case).  Returns 0 or -1 with errno set.
 */
int p2p_parse_size(const char *str, uint64_t *val)
{
	unsigned long long num;
	unsigned int shift = 0;
	char *end;

	if (!str || !isdigit((unsigned char)*str)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	num = strtoull(str, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end) {
		errno = EINVAL;
		return -1;
	}
	if (shift && num > (UINT64_MAX >> shift)) {
		errno = ERANGE;
		return -1;
	}
	*val = (uint64_t)num << shift;
	return 0;
}

int p2p_parse_uint(const char *str, unsigned int *val)
{
	unsigned long num;
	char *end;

	if (!str || !isdigit((unsigned char)*str)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	num = strtoul(str, &end, 10);
	if (errno)
		return -1;
	if (*end || num > UINT_MAX) {
		errno = EINVAL;
		return -1;
	}
	*val = num;
	return 0;
}

/* Read a sysfs attribute into buf with surrounding white space removed. */
int p2p_sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t start = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	err = errno;
	close(fd);
	if (n < 0) {
		errno = err;
		return -1;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	while (isspace((unsigned char)buf[start]))
		start++;
	if (start)
		memmove(buf, buf + start, n - start + 1);
	return 0;
}

/* Read a decimal sysfs attribute; EINVAL if it is not a plain number. */
int p2p_sysfs_u64(const char *path, uint64_t *val)
{
	unsigned long long num;
	char buf[64], *end;

	if (p2p_sysfs_read(path, buf, sizeof(buf)))
		return -1;
	if (!isdigit((unsigned char)buf[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	num = strtoull(buf, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		errno = EINVAL;
		return -1;
	}
	*val = num;
	return 0;
}

/* Does str look like a full PCI address, domain:bus:device.function? */
int p2p_is_bdf(const char *str)
{
	unsigned int dom, bus, dev, fn;
	char extra;

	if (strspn(str, "0123456789abcdefABCDEF:.") != strlen(str))
		return 0;
	return sscanf(str, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn,
		      &extra) == 4;
}

/* Accept "dddd:bb:dd.f" or "bb:dd.f" and write the canonical long form. */
int p2p_normalize_bdf(const char *str, char *bdf, size_t len)
{
	unsigned int dom = 0, bus, dev, fn;
	char extra;

	if (strspn(str, "0123456789abcdefABCDEF:.") != strlen(str))
		goto invalid;
	if (sscanf(str, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &extra) != 4) {
		dom = 0;
		if (sscanf(str, "%x:%x.%x%c", &bus, &dev, &fn, &extra) != 3)
			goto invalid;
	}
	if (bus > 0xff || dev > 0x1f || fn > 7)
		goto invalid;
	snprintf(bdf, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

int p2p_attr_path(char *buf, size_t len, const char *bdf, const char *attr)
{
	int n = snprintf(buf, len, "%s/%s/p2pmem/%s", P2P_PCI_DEVICES, bdf,
			 attr);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int p2p_has_p2pmem(const char *bdf)
{
	char path[PATH_MAX];

	if (p2p_attr_path(path, sizeof(path), bdf, "allocate"))
		return 0;
	return access(path, F_OK) == 0;
}

int p2p_available(const char *bdf, uint64_t *val)
{
	char path[PATH_MAX];

	if (p2p_attr_path(path, sizeof(path), bdf, "available"))
		return -1;
	return p2p_sysfs_u64(path, val);
}

/*
 * Pages go back to the provider when their last reference drops, which can
 * lag behind munmap() or exit() a little; poll until `available` reads want
 * or the timeout expires.  The last value read is stored in *got.
 */
int p2p_wait_available(const char *bdf, uint64_t want, uint64_t *got,
		       unsigned int timeout_ms)
{
	unsigned int waited = 0;
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };

	for (;;) {
		if (p2p_available(bdf, got))
			return -1;
		if (*got == want)
			return 0;
		if (waited >= timeout_ms)
			break;
		nanosleep(&ts, NULL);
		waited += 10;
	}
	errno = EAGAIN;
	return -1;
}

/* Last path component of a resolved sysfs path that is a PCI address. */
static int bdf_in_path(const char *path, char *bdf, size_t len)
{
	char copy[PATH_MAX], *tok, *save = NULL;
	int found = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	for (tok = strtok_r(copy, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (p2p_is_bdf(tok)) {
			snprintf(bdf, len, "%s", tok);
			found = 1;
		}
	}
	return found ? 0 : -1;
}

static int is_nvme_instance(const char *name)
{
	if (strncmp(name, "nvme", 4) || !name[4])
		return 0;
	return strspn(name + 4, "0123456789") == strlen(name + 4);
}

/*
 * The PCI function behind a namespace.  Without native multipath the disk
 * sits below its controller, itself below the PCI function.  A multipath
 * head sits below the subsystem instead; take the first PCIe controller
 * linked from it.
 */
static void bdev_find_bdf(struct p2p_bdev *b)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/block/%s", b->name);
	if (realpath(path, real) && !bdf_in_path(real, b->bdf, sizeof(b->bdf)))
		return;

	snprintf(path, sizeof(path), "/sys/block/%s/device", b->name);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (!is_nvme_instance(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/device/%s",
			 b->name, de->d_name);
		if (realpath(path, real) &&
		    !bdf_in_path(real, b->bdf, sizeof(b->bdf)))
			break;
	}
	closedir(dir);
}

/* Fill *b from /sys/block/<name>; -1 if it is not a usable NVMe disk. */
static int bdev_from_sysfs(const char *name, struct p2p_bdev *b)
{
	char path[PATH_MAX];
	uint64_t nsid;
	const char *n;

	memset(b, 0, sizeof(*b));
	if (strncmp(name, "nvme", 4) || strlen(name) >= sizeof(b->name))
		return -1;
	/* Hidden multipath path devices have no dev_t and no /dev node. */
	snprintf(path, sizeof(path), "/sys/block/%s/dev", name);
	if (access(path, F_OK))
		return -1;
	snprintf(path, sizeof(path), "/sys/block/%s/device/serial", name);
	if (p2p_sysfs_read(path, b->serial, sizeof(b->serial)))
		return -1;
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->path, sizeof(b->path), "/dev/%s", name);
	snprintf(path, sizeof(path), "/sys/block/%s/nsid", name);
	if (!p2p_sysfs_u64(path, &nsid)) {
		b->nsid = nsid;
	} else {
		n = strrchr(name, 'n');
		b->nsid = n ? strtoul(n + 1, NULL, 10) : 0;
	}
	bdev_find_bdf(b);
	return 0;
}

/* Split "KEY/NSID" into KEY and an NSID (0 when absent). */
static int split_nsid(const char *spec, char *key, size_t len,
		      unsigned int *nsid)
{
	const char *slash = strrchr(spec, '/');
	size_t klen = slash ? (size_t)(slash - spec) : strlen(spec);

	*nsid = 0;
	if (!klen || klen >= len) {
		errno = EINVAL;
		return -1;
	}
	memcpy(key, spec, klen);
	key[klen] = '\0';
	if (slash && (p2p_parse_uint(slash + 1, nsid) || !*nsid)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/*
 * Pick the namespace whose serial (by_serial) or PCI function matches key:
 * the given NSID, or the lowest NSID present.  Two disks with the same key
 * and NSID mean two controllers share a serial; refuse to guess.
 */
static int bdev_lookup(const char *spec, const char *key, int by_serial,
		       unsigned int nsid, struct p2p_bdev *out)
{
	struct p2p_bdev cur;
	struct dirent *de;
	int found = 0, dup = 0;
	DIR *dir;

	dir = opendir("/sys/block");
	if (!dir) {
		p2p_err("%s: cannot list /sys/block: %s", spec,
			strerror(errno));
		return -1;
	}
	while ((de = readdir(dir))) {
		if (bdev_from_sysfs(de->d_name, &cur))
			continue;
		if (strcmp(by_serial ? cur.serial : cur.bdf, key))
			continue;
		if (nsid && cur.nsid != nsid)
			continue;
		if (found && cur.nsid == out->nsid) {
			dup = 1;
			continue;
		}
		if (!found || cur.nsid < out->nsid) {
			*out = cur;
			found = 1;
			dup = 0;
		}
	}
	closedir(dir);
	if (!found) {
		p2p_err("%s: no NVMe namespace found", spec);
		errno = ENODEV;
		return -1;
	}
	if (dup) {
		p2p_err("%s: several NVMe namespaces match, add /NSID or use a path",
			spec);
		errno = EEXIST;
		return -1;
	}
	return 0;
}

/*
 * Resolve a block device argument: "serial:S[/NSID]", "pci:BDF[/NSID]" or
 * a path.  For a path, bdev->bdf is filled in when it can be found.
 */
int p2p_resolve_bdev(const char *spec, struct p2p_bdev *bdev)
{
	char key[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
	unsigned int nsid;
	struct stat st;

	if (!strncmp(spec, "serial:", 7)) {
		if (split_nsid(spec + 7, key, sizeof(key), &nsid)) {
			p2p_err("%s: expected serial:SERIAL[/NSID]", spec);
			return -1;
		}
		return bdev_lookup(spec, key, 1, nsid, bdev);
	}
	if (!strncmp(spec, "pci:", 4)) {
		if (split_nsid(spec + 4, path, sizeof(path), &nsid) ||
		    p2p_normalize_bdf(path, key, sizeof(key))) {
			p2p_err("%s: expected pci:DOMAIN:BUS:DEV.FN[/NSID]",
				spec);
			return -1;
		}
		return bdev_lookup(spec, key, 0, nsid, bdev);
	}

	memset(bdev, 0, sizeof(*bdev));
	if (strlen(spec) >= sizeof(bdev->path)) {
		p2p_err("%s: path too long", spec);
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(bdev->path, sizeof(bdev->path), "%s", spec);
	snprintf(bdev->name, sizeof(bdev->name), "%s",
		 strrchr(spec, '/') ? strrchr(spec, '/') + 1 : spec);
	if (stat(spec, &st)) {
		p2p_err("%s: %s", spec, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u",
			 major(st.st_rdev), minor(st.st_rdev));
		if (realpath(path, real))
			bdf_in_path(real, bdev->bdf, sizeof(bdev->bdf));
	}
	return 0;
}

/* The PCI function of the NVMe controller with the given serial number. */
static int provider_by_serial(const char *spec, const char *serial,
			      char *bdf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], cur[P2P_SERIAL_LEN];
	char found[P2P_BDF_LEN] = "", pci[P2P_BDF_LEN];
	struct dirent *de;
	int matches = 0;
	DIR *dir;

	dir = opendir("/sys/class/nvme");
	if (!dir && errno == ENOENT) {
		p2p_err("%s: no NVMe controllers (no /sys/class/nvme)", spec);
		errno = ENODEV;
		return -1;
	}
	if (!dir) {
		p2p_err("%s: cannot list /sys/class/nvme: %s", spec,
			strerror(errno));
		return -1;
	}
	while ((de = readdir(dir))) {
		if (!is_nvme_instance(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/class/nvme/%s/serial",
			 de->d_name);
		if (p2p_sysfs_read(path, cur, sizeof(cur)) ||
		    strcmp(cur, serial))
			continue;
		snprintf(path, sizeof(path), "/sys/class/nvme/%s", de->d_name);
		if (!realpath(path, real) ||
		    bdf_in_path(real, pci, sizeof(pci))) {
			p2p_err("%s: controller %s is not a PCI device", spec,
				de->d_name);
			closedir(dir);
			errno = ENODEV;
			return -1;
		}
		if (matches && strcmp(found, pci)) {
			p2p_err("%s: serial shared by %s and %s", spec, found,
				pci);
			closedir(dir);
			errno = EEXIST;
			return -1;
		}
		snprintf(found, sizeof(found), "%s", pci);
		matches++;
	}
	closedir(dir);
	if (!matches) {
		p2p_err("%s: no NVMe controller with this serial", spec);
		errno = ENODEV;
		return -1;
	}
	snprintf(bdf, len, "%s", found);
	return 0;
}

/*
 * Resolve a provider argument ("BDF", "pci:BDF" or "serial:S") to a PCI
 * address and check that the function exists and exposes p2pmem.
 */
int p2p_resolve_provider(const char *spec, char *bdf, size_t len)
{
	char path[PATH_MAX];
	const char *addr = spec;

	if (!strncmp(spec, "serial:", 7)) {
		if (!spec[7]) {
			p2p_err("%s: empty serial", spec);
			errno = EINVAL;
			return -1;
		}
		if (provider_by_serial(spec, spec + 7, bdf, len))
			return -1;
	} else {
		if (!strncmp(spec, "pci:", 4))
			addr = spec + 4;
		if (p2p_normalize_bdf(addr, bdf, len)) {
			p2p_err("%s: not a PCI address (DOMAIN:BUS:DEV.FN) or serial:SERIAL",
				spec);
			return -1;
		}
	}

	snprintf(path, sizeof(path), "%s/%s", P2P_PCI_DEVICES, bdf);
	if (access(path, F_OK)) {
		p2p_err("%s: no PCI device %s (%s: %s)", spec, bdf, path,
			strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/p2pmem", P2P_PCI_DEVICES, bdf);
	if (access(path, F_OK)) {
		p2p_err("%s: PCI device %s has no p2pmem (%s: %s)", spec, bdf,
			path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Size in bytes of a block device or regular file. */
int p2p_dev_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -1;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) ? -1 : 0;
	if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		return 0;
	}
	errno = ENOTBLK;
	return -1;
}

/* Logical block size, the O_DIRECT alignment unit; 512 for plain files. */
unsigned int p2p_dev_block_size(int fd)
{
	struct stat st;
	int lbs;

	if (!fstat(fd, &st) && S_ISBLK(st.st_mode) &&
	    !ioctl(fd, BLKSSZGET, &lbs) && lbs > 0)
		return lbs;
	return 512;
}

double p2p_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
