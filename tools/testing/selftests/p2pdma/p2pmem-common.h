/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the p2pmem selftest tools: sysfs attributes, size
 * arguments, and finding PCI functions and NVMe namespaces by serial number
 * or PCI address instead of by their unstable nvmeN instance numbers.
 */
#ifndef P2PMEM_COMMON_H
#define P2PMEM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define P2P_PCI_DEVICES		"/sys/bus/pci/devices"
#define P2P_BDF_LEN		32
#define P2P_SERIAL_LEN		64

/* Name printed in front of every error message, set by each tool's main(). */
extern const char *p2p_prog;
/* The message of the last p2p_err() call. */
extern char p2p_last_err[512];

/* One NVMe namespace block device as found in /sys/block. */
struct p2p_bdev {
	char name[64];			/* nvme0n1 */
	char path[96];			/* /dev/nvme0n1 */
	char serial[P2P_SERIAL_LEN];	/* controller/subsystem serial */
	char bdf[P2P_BDF_LEN];		/* PCI function, "" if not PCIe */
	unsigned int nsid;
};

/*
 * Accesses to p2pmem mappings: they are device memory, so each access must
 * really happen, once, with the given width.
 */
static inline void p2p_store64(void *addr, uint64_t val)
{
	__atomic_store_n((uint64_t *)addr, val, __ATOMIC_RELAXED);
}

static inline uint64_t p2p_load64(const void *addr)
{
	return __atomic_load_n((const uint64_t *)addr, __ATOMIC_RELAXED);
}

static inline void p2p_store8(void *addr, uint8_t val)
{
	__atomic_store_n((uint8_t *)addr, val, __ATOMIC_RELAXED);
}

static inline uint8_t p2p_load8(const void *addr)
{
	return __atomic_load_n((const uint8_t *)addr, __ATOMIC_RELAXED);
}

void p2p_err(const char *fmt, ...);

int p2p_parse_size(const char *str, uint64_t *val);
int p2p_parse_uint(const char *str, unsigned int *val);

int p2p_sysfs_read(const char *path, char *buf, size_t len);
int p2p_sysfs_u64(const char *path, uint64_t *val);

int p2p_is_bdf(const char *str);
int p2p_normalize_bdf(const char *str, char *bdf, size_t len);

int p2p_attr_path(char *buf, size_t len, const char *bdf, const char *attr);
int p2p_has_p2pmem(const char *bdf);
int p2p_available(const char *bdf, uint64_t *val);
int p2p_wait_available(const char *bdf, uint64_t want, uint64_t *got,
		       unsigned int timeout_ms);

int p2p_resolve_provider(const char *spec, char *bdf, size_t len);
int p2p_resolve_bdev(const char *spec, struct p2p_bdev *bdev);

int p2p_dev_size(int fd, uint64_t *size);
unsigned int p2p_dev_block_size(int fd);

double p2p_now(void);

#endif /* P2PMEM_COMMON_H */
