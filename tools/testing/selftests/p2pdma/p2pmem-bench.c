// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-bench: time the userspace paths of a p2pmem provider.
 *
 *   p2pmem-bench [-r ROUNDS] [-t SAMPLE_MS] PROVIDER [BLOCKDEV]
 *
 * Rows, one line each, in the format of the p2pdma_bench kernel module:
 *
 *   p2pdma-bench: user_mmap_munmap_64k NS MIN   mmap() of 64 KiB of the
 *	provider's "allocate" file and munmap() (pages inserted and freed)
 *   p2pdma-bench: user_odirect_read_1m_p2p NS MIN   an O_DIRECT read of
 *	1 MiB from BLOCKDEV into a p2pmem mapping (the data path)
 *   p2pdma-bench: user_odirect_read_1m_host NS MIN  the same read into host
 *	memory, the limit the P2P read is measured against
 *
 * NS is the median over ROUNDS samples of the time per operation, followed
 * by the fastest sample (less sensitive to a busy host); each
 * sample repeats the operation for about SAMPLE_MS milliseconds (the count
 * is calibrated once per row).  PROVIDER is a PCI address or "serial:S" of
 * an NVMe controller, BLOCKDEV a path, "serial:S[/NSID]" or "pci:BDF".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "p2pmem-common.h"

#define MAX_SAMPLES	64
#define MAP_LEN		(64 * 1024)
#define READ_LEN	(1024 * 1024)

struct row {
	const char *name;
	int (*op)(struct row *row);
	int fd;			/* the allocate file */
	int bdev;		/* O_DIRECT descriptor, or -1 */
	void *buf;		/* p2pmem mapping to read into */
};

static unsigned int rounds = 9;
static unsigned int sample_ms = 20;

static int op_mmap(struct row *row)
{
	void *p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		       row->fd, 0);

	if (p == MAP_FAILED) {
		p2p_err("%s: mmap: %s", row->name, strerror(errno));
		return -1;
	}
	if (munmap(p, MAP_LEN)) {
		p2p_err("%s: munmap: %s", row->name, strerror(errno));
		return -1;
	}
	return 0;
}

static int op_read(struct row *row)
{
	ssize_t n = pread(row->bdev, row->buf, READ_LEN, 0);

	if (n != READ_LEN) {
		p2p_err("%s: pread: %s", row->name,
			n < 0 ? strerror(errno) : "short read");
		return -1;
	}
	return 0;
}

/* Seconds per operation over n operations, or a negative value. */
static double time_loop(struct row *row, unsigned long n)
{
	unsigned long i;
	double t0 = p2p_now();

	for (i = 0; i < n; i++)
		if (row->op(row))
			return -1;
	return (p2p_now() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run_row(struct row *row)
{
	double samples[MAX_SAMPLES], per_op, med;
	unsigned int i, nr = rounds;
	unsigned long n;

	per_op = time_loop(row, 4);
	if (per_op < 0)
		return -1;
	n = per_op > 0 ? sample_ms / 1e3 / per_op : 1000;
	if (n < 4)
		n = 4;
	if (n > 100000)
		n = 100000;

	for (i = 0; i < nr; i++) {
		samples[i] = time_loop(row, n);
		if (samples[i] < 0)
			return -1;
	}
	qsort(samples, nr, sizeof(samples[0]), cmp_double);
	med = nr & 1 ? samples[nr / 2] :
		(samples[nr / 2 - 1] + samples[nr / 2]) / 2;
	printf("p2pdma-bench: %s %.0f %.0f\n", row->name, med * 1e9,
	       samples[0] * 1e9);
	fflush(stdout);
	return 0;
}

static int bad_args(void)
{
	fprintf(stderr, "usage: %s [-r ROUNDS] [-t SAMPLE_MS] PROVIDER [BLOCKDEV]\n",
		p2p_prog);
	return 2;
}

int main(int argc, char **argv)
{
	char bdf[P2P_BDF_LEN], path[PATH_MAX];
	struct row mmap_row = { .name = "user_mmap_munmap_64k", .op = op_mmap,
				.bdev = -1 };
	struct row read_row = { .name = "user_odirect_read_1m_p2p",
				.op = op_read, .bdev = -1 };
	struct row host_row = { .name = "user_odirect_read_1m_host",
				.op = op_read, .bdev = -1 };
	struct p2p_bdev bdev;
	int opt, ret = 0;

	p2p_prog = "p2pmem-bench";
	while ((opt = getopt(argc, argv, "r:t:")) != -1) {
		switch (opt) {
		case 'r':
			if (p2p_parse_uint(optarg, &rounds) || !rounds ||
			    rounds > MAX_SAMPLES)
				return bad_args();
			break;
		case 't':
			if (p2p_parse_uint(optarg, &sample_ms))
				return bad_args();
			break;
		default:
			return bad_args();
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return bad_args();

	if (p2p_resolve_provider(argv[optind], bdf, sizeof(bdf)) ||
	    p2p_attr_path(path, sizeof(path), bdf, "allocate"))
		return 1;
	mmap_row.fd = open(path, O_RDWR | O_CLOEXEC);
	if (mmap_row.fd < 0) {
		p2p_err("%s: %s", path, strerror(errno));
		return 1;
	}
	if (run_row(&mmap_row))
		ret = 1;

	if (argc - optind < 2)
		goto out;
	if (p2p_resolve_bdev(argv[optind + 1], &bdev))
		return 1;
	read_row.bdev = open(bdev.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (read_row.bdev < 0) {
		p2p_err("%s: %s", bdev.path, strerror(errno));
		return 1;
	}
	read_row.buf = mmap(NULL, READ_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			    mmap_row.fd, 0);
	if (read_row.buf == MAP_FAILED) {
		p2p_err("mmap %d bytes of %s: %s", READ_LEN, path,
			strerror(errno));
		return 1;
	}
	host_row.bdev = read_row.bdev;
	if (posix_memalign(&host_row.buf, 4096, READ_LEN)) {
		p2p_err("%d bytes of host memory: out of memory", READ_LEN);
		return 1;
	}
	if (run_row(&read_row) || run_row(&host_row))
		ret = 1;
	free(host_row.buf);
	munmap(read_row.buf, READ_LEN);
	close(read_row.bdev);
out:
	close(mmap_row.fd);
	return ret;
}
