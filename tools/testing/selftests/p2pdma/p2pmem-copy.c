// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-copy: copy a range of one block device to another through a
 * peer-to-peer memory buffer.
 *
 * The buffer is mmap()ed from a provider's p2pmem/allocate file, so both
 * the O_DIRECT read and the O_DIRECT write DMA straight between the NVMe
 * devices and the provider's BAR; the data never crosses host memory.  Each
 * thread maps its own buffer and copies its own slice of the range.  With
 * --host-buffer the same copy runs through ordinary memory as a baseline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "p2pmem-common.h"

#define DEFAULT_CHUNK		(128 * 1024)
#define VERIFY_CHUNK		(1024 * 1024)
#define MAX_THREADS		256

struct copy_worker {
	pthread_t tid;
	unsigned int idx;
	void *buf;
	uint64_t start;		/* first byte of this slice within the range */
	uint64_t len;
	/* first failure of this worker; op == NULL when none */
	const char *op;
	const char *path;
	uint64_t err_off;
	uint64_t err_len;
	int err;		/* errno, or 0 for an unexpected end of device */
};

static struct {
	const char *src_spec;
	const char *dst_spec;
	const char *provider_spec;
	uint64_t chunk;
	uint64_t src_off;
	uint64_t dst_off;
	uint64_t length;
	int have_length;
	unsigned int threads;
	int verify;
	int quiet;
	int host_buffer;
} opt = {
	.chunk = DEFAULT_CHUNK,
	.threads = 1,
};

static struct p2p_bdev src, dst;
static char provider[P2P_BDF_LEN];
static int src_fd = -1, dst_fd = -1;
static int stop_all;

static void show_synopsis(FILE *f)
{
	fprintf(f,
		"usage: p2pmem-copy --src DEV --dst DEV [options]\n"
		"\n"
		"Copy a block device range through a p2pmem buffer with O_DIRECT.\n"
		"DEV is a path, serial:SERIAL[/NSID] or pci:BDF[/NSID].\n"
		"\n"
		"  --src DEV            device to read\n"
		"  --dst DEV            device to write (its data in the range is lost)\n"
		"  --provider P         p2pmem provider: BDF or serial:SERIAL (the PCI\n"
		"                       function of that NVMe controller); default: the\n"
		"                       destination's controller, else the source's,\n"
		"                       whichever has p2pmem\n"
		"  --host-buffer        use ordinary memory instead of p2pmem (baseline)\n"
		"  --chunk SIZE         bytes per I/O and per buffer (default 128k)\n"
		"  --offset BYTES       start offset on both devices (multiple of 4k)\n"
		"  --src-offset BYTES   start offset on the source only\n"
		"  --dst-offset BYTES   start offset on the destination only\n"
		"  --length BYTES       bytes to copy (default: to the end of the\n"
		"                       smaller device)\n"
		"  --threads N          threads, each with its own buffer and slice\n"
		"  --verify             afterwards compare both ranges through host memory\n"
		"  --quiet              print only the summary (and verify) line\n"
		"  --help               this text\n"
		"\n"
		"SIZE and BYTES take an optional k, m or g suffix (powers of 1024).\n"
		"Prints \"copied N bytes in T s (X MiB/s) via BDF|host\"; exit 0 on\n"
		"success, 1 on any failure (message on stderr), 2 on bad usage.\n");
}

static int parse_size_arg(const char *name, const char *arg, uint64_t *val)
{
	if (p2p_parse_size(arg, val)) {
		p2p_err("invalid %s '%s'", name, arg);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "provider", required_argument, NULL, 'p' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "offset", required_argument, NULL, 'o' },
		{ "src-offset", required_argument, NULL, 'S' },
		{ "dst-offset", required_argument, NULL, 'D' },
		{ "length", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "verify", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "host-buffer", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:d:p:c:o:l:t:vqh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 's':
			opt.src_spec = optarg;
			break;
		case 'd':
			opt.dst_spec = optarg;
			break;
		case 'p':
			opt.provider_spec = optarg;
			break;
		case 'c':
			if (parse_size_arg("chunk", optarg, &opt.chunk))
				return -1;
			break;
		case 'o':
			if (parse_size_arg("offset", optarg, &opt.src_off))
				return -1;
			opt.dst_off = opt.src_off;
			break;
		case 'S':
			if (parse_size_arg("src-offset", optarg, &opt.src_off))
				return -1;
			break;
		case 'D':
			if (parse_size_arg("dst-offset", optarg, &opt.dst_off))
				return -1;
			break;
		case 'l':
			if (parse_size_arg("length", optarg, &opt.length))
				return -1;
			opt.have_length = 1;
			break;
		case 't':
			if (p2p_parse_uint(optarg, &opt.threads) ||
			    !opt.threads || opt.threads > MAX_THREADS) {
				p2p_err("invalid threads '%s' (1..%d)", optarg,
					MAX_THREADS);
				return -1;
			}
			break;
		case 'v':
			opt.verify = 1;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'H':
			opt.host_buffer = 1;
			break;
		case 'h':
			show_synopsis(stdout);
			exit(0);
		default:
			show_synopsis(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		p2p_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!opt.src_spec || !opt.dst_spec) {
		p2p_err("--src and --dst are required (see --help)");
		return -1;
	}
	if (opt.host_buffer && opt.provider_spec) {
		p2p_err("--host-buffer and --provider exclude each other");
		return -1;
	}
	return 0;
}

/* Without --provider, use whichever controller of the pair has p2pmem. */
static int choose_provider(void)
{
	if (opt.provider_spec)
		return p2p_resolve_provider(opt.provider_spec, provider,
					    sizeof(provider));
	if (dst.bdf[0] && p2p_has_p2pmem(dst.bdf)) {
		snprintf(provider, sizeof(provider), "%s", dst.bdf);
		return 0;
	}
	if (src.bdf[0] && p2p_has_p2pmem(src.bdf)) {
		snprintf(provider, sizeof(provider), "%s", src.bdf);
		return 0;
	}
	p2p_err("no --provider given and neither %s nor %s sits on a PCI device with p2pmem",
		src.path, dst.path);
	return -1;
}

static void print_io_error(const char *op, const char *path, uint64_t off,
			   uint64_t len, int err)
{
	p2p_err("%s %s offset %llu length %llu: %s", op, path,
		(unsigned long long)off, (unsigned long long)len,
		err ? strerror(err) : "unexpected end of device");
}

/*
 * Transfer len bytes in full, continuing after short transfers.  Returns 0,
 * or -1 with the failing operation recorded in *w.
 */
static int xfer(struct copy_worker *w, int writing, int fd, const char *path,
		char *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;
	ssize_t n;

	while (done < len) {
		if (writing)
			n = pwrite(fd, buf + done, len - done, off + done);
		else
			n = pread(fd, buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->op = writing ? "write" : "read";
			w->path = path;
			w->err_off = off + done;
			w->err_len = len - done;
			w->err = n < 0 ? errno : 0;
			return -1;
		}
		done += n;
	}
	return 0;
}

static void *copy_slice(void *arg)
{
	struct copy_worker *w = arg;
	uint64_t pos, n;

	for (pos = 0; pos < w->len; pos += n) {
		if (__atomic_load_n(&stop_all, __ATOMIC_RELAXED))
			break;
		n = w->len - pos < opt.chunk ? w->len - pos : opt.chunk;
		if (xfer(w, 0, src_fd, src.path, w->buf, n,
			 opt.src_off + w->start + pos) ||
		    xfer(w, 1, dst_fd, dst.path, w->buf, n,
			 opt.dst_off + w->start + pos)) {
			__atomic_store_n(&stop_all, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	return NULL;
}

static int open_direct(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		p2p_err("open %s with O_DIRECT: %s", path, strerror(errno));
	return fd;
}

/* Check offsets and length against both devices; fill in the length. */
static int check_range(uint64_t src_size, uint64_t dst_size,
		       unsigned int align)
{
	uint64_t room;
	long page = sysconf(_SC_PAGESIZE);

	if (!opt.chunk || opt.chunk % page || opt.chunk > SSIZE_MAX) {
		p2p_err("chunk %llu is not a non-zero multiple of the page size %ld",
			(unsigned long long)opt.chunk, page);
		return -1;
	}
	if (opt.src_off % 4096 || opt.dst_off % 4096 ||
	    opt.src_off % align || opt.dst_off % align) {
		p2p_err("offsets must be multiples of 4096 and of the logical block size %u",
			align);
		return -1;
	}
	if (opt.src_off > src_size || opt.dst_off > dst_size) {
		p2p_err("offset beyond the end of the device (source %llu bytes, destination %llu bytes)",
			(unsigned long long)src_size,
			(unsigned long long)dst_size);
		return -1;
	}
	room = src_size - opt.src_off;
	if (dst_size - opt.dst_off < room)
		room = dst_size - opt.dst_off;
	if (!opt.have_length)
		opt.length = room - room % align;
	if (opt.length > room) {
		p2p_err("length %llu exceeds the %llu bytes left after the offset",
			(unsigned long long)opt.length,
			(unsigned long long)room);
		return -1;
	}
	if (!opt.length || opt.length % align) {
		p2p_err("length %llu is not a non-zero multiple of the logical block size %u",
			(unsigned long long)opt.length, align);
		return -1;
	}
	return 0;
}

static void *map_buffer(const char *allocate, uint64_t size, unsigned int idx)
{
	void *buf;
	int fd;

	if (opt.host_buffer) {
		errno = posix_memalign(&buf, sysconf(_SC_PAGESIZE), size);
		if (errno) {
			p2p_err("allocate host buffer %u length %llu: %s", idx,
				(unsigned long long)size, strerror(errno));
			return NULL;
		}
		return buf;
	}
	fd = open(allocate, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		p2p_err("open %s: %s", allocate, strerror(errno));
		return NULL;
	}
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		p2p_err("mmap %s offset 0 length %llu (buffer %u): %s",
			allocate, (unsigned long long)size, idx,
			strerror(errno));
		buf = NULL;
	}
	/* The mapping keeps the allocation; the descriptor is not needed. */
	close(fd);
	return buf;
}

static int read_full(int fd, const char *path, char *buf, uint64_t len,
		     uint64_t off)
{
	uint64_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			print_io_error("verify read", path, off + done,
				       len - done, n < 0 ? errno : 0);
			return -1;
		}
		done += n;
	}
	return 0;
}

/*
 * Read both ranges back through host memory, bypassing the page cache, and
 * report the first byte that differs.
 */
static int verify_copy(void)
{
	char *a = NULL, *b = NULL;
	int fa, fb = -1, ret = -1;
	uint64_t pos, n, i;

	fa = open_direct(src.path, O_RDONLY);
	if (fa < 0)
		return -1;
	fb = open_direct(dst.path, O_RDONLY);
	if (fb < 0)
		goto out;
	if (posix_memalign((void **)&a, 4096, VERIFY_CHUNK) ||
	    posix_memalign((void **)&b, 4096, VERIFY_CHUNK)) {
		p2p_err("verify: out of memory");
		goto out;
	}
	for (pos = 0; pos < opt.length; pos += n) {
		n = opt.length - pos;
		if (n > VERIFY_CHUNK)
			n = VERIFY_CHUNK;
		if (read_full(fa, src.path, a, n, opt.src_off + pos) ||
		    read_full(fb, dst.path, b, n, opt.dst_off + pos))
			goto out;
		if (!memcmp(a, b, n))
			continue;
		for (i = 0; a[i] == b[i]; i++)
			;
		p2p_err("verify: first mismatch at byte %llu of the range (src offset %llu, dst offset %llu): src 0x%02x dst 0x%02x",
			(unsigned long long)(pos + i),
			(unsigned long long)(opt.src_off + pos + i),
			(unsigned long long)(opt.dst_off + pos + i),
			(unsigned char)a[i], (unsigned char)b[i]);
		goto out;
	}
	printf("verify: ok, %llu bytes identical\n",
	       (unsigned long long)opt.length);
	ret = 0;
out:
	free(a);
	free(b);
	if (fb >= 0)
		close(fb);
	close(fa);
	return ret;
}

static void release_buffers(struct copy_worker *w, unsigned int n,
			    uint64_t size)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!w[i].buf)
			continue;
		if (opt.host_buffer)
			free(w[i].buf);
		else
			munmap(w[i].buf, size);
	}
}

/* Split the range into one contiguous, chunk-aligned slice per thread. */
static void plan_slices(struct copy_worker *w, unsigned int threads)
{
	uint64_t chunks = (opt.length + opt.chunk - 1) / opt.chunk;
	uint64_t first, last;
	unsigned int i;

	for (i = 0; i < threads; i++) {
		first = chunks * i / threads;
		last = chunks * (i + 1) / threads;
		w[i].idx = i;
		w[i].start = first * opt.chunk;
		w[i].len = last * opt.chunk;
		if (w[i].len > opt.length)
			w[i].len = opt.length;
		w[i].len -= w[i].start;
	}
}

static int run_copy(struct copy_worker *w, unsigned int threads,
		    double *secs)
{
	unsigned int i, started;
	double t0;
	int ret = 0;

	t0 = p2p_now();
	for (started = 0; started < threads; started++) {
		errno = pthread_create(&w[started].tid, NULL, copy_slice,
				       &w[started]);
		if (errno) {
			p2p_err("pthread_create: %s", strerror(errno));
			__atomic_store_n(&stop_all, 1, __ATOMIC_RELAXED);
			ret = -1;
			break;
		}
	}
	for (i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (i = 0; i < started; i++) {
		if (w[i].op) {
			print_io_error(w[i].op, w[i].path, w[i].err_off,
				       w[i].err_len, w[i].err);
			ret = -1;
			break;
		}
	}
	if (!ret && fdatasync(dst_fd) && errno != EINVAL) {
		p2p_err("fdatasync %s: %s", dst.path, strerror(errno));
		ret = -1;
	}
	*secs = p2p_now() - t0;
	return ret;
}

int main(int argc, char **argv)
{
	struct copy_worker *w = NULL;
	char allocate[PATH_MAX] = "";
	uint64_t src_size, dst_size, bufsize = 0, page;
	unsigned int align, threads = 0, i;
	int ret = 1;
	double secs;

	p2p_prog = "p2pmem-copy";
	if (parse_args(argc, argv))
		return 2;
	if (p2p_resolve_bdev(opt.src_spec, &src) ||
	    p2p_resolve_bdev(opt.dst_spec, &dst))
		return 1;
	if (!opt.host_buffer) {
		if (choose_provider())
			return 1;
		p2p_attr_path(allocate, sizeof(allocate), provider,
			      "allocate");
	}

	src_fd = open_direct(src.path, O_RDONLY);
	if (src_fd < 0)
		return 1;
	dst_fd = open_direct(dst.path, O_WRONLY);
	if (dst_fd < 0)
		goto out;
	if (p2p_dev_size(src_fd, &src_size)) {
		p2p_err("size of %s: %s", src.path, strerror(errno));
		goto out;
	}
	if (p2p_dev_size(dst_fd, &dst_size)) {
		p2p_err("size of %s: %s", dst.path, strerror(errno));
		goto out;
	}
	align = p2p_dev_block_size(src_fd);
	if (p2p_dev_block_size(dst_fd) > align)
		align = p2p_dev_block_size(dst_fd);
	if (check_range(src_size, dst_size, align))
		goto out;

	threads = opt.threads;
	if ((opt.length + opt.chunk - 1) / opt.chunk < threads)
		threads = (opt.length + opt.chunk - 1) / opt.chunk;
	page = sysconf(_SC_PAGESIZE);
	bufsize = opt.chunk;
	if ((opt.length + page - 1) / page * page < bufsize)
		bufsize = (opt.length + page - 1) / page * page;

	w = calloc(threads, sizeof(*w));
	if (!w) {
		p2p_err("out of memory");
		goto out;
	}
	plan_slices(w, threads);
	for (i = 0; i < threads; i++) {
		w[i].buf = map_buffer(allocate, bufsize, i);
		if (!w[i].buf)
			goto out;
	}

	if (!opt.quiet) {
		printf("copy: src=%s dst=%s src_offset=%llu dst_offset=%llu",
		       src.path, dst.path, (unsigned long long)opt.src_off,
		       (unsigned long long)opt.dst_off);
		printf(" length=%llu chunk=%llu threads=%u buffer=%s%s\n",
		       (unsigned long long)opt.length,
		       (unsigned long long)opt.chunk, threads,
		       opt.host_buffer ? "host" : "p2pmem:",
		       opt.host_buffer ? "" : provider);
	}
	fflush(stdout);

	if (run_copy(w, threads, &secs))
		goto out;
	printf("copied %llu bytes in %.3f s (%.1f MiB/s) via %s\n",
	       (unsigned long long)opt.length, secs,
	       secs > 0 ? opt.length / 1048576.0 / secs : 0.0,
	       opt.host_buffer ? "host" : provider);
	fflush(stdout);
	ret = opt.verify ? (verify_copy() ? 1 : 0) : 0;
out:
	if (w)
		release_buffers(w, threads, bufsize);
	free(w);
	if (dst_fd >= 0)
		close(dst_fd);
	close(src_fd);
	return ret;
}
