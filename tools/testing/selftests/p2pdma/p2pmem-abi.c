// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-abi: exercise the userspace ABI of one p2pmem provider and report
 * the results as KTAP.
 *
 * Covers the sysfs attributes (size, available, published) and the
 * allocate file: one allocation per MAP_SHARED mmap(), exact accounting in
 * `available` while mapped and after munmap(), refused mapping variants,
 * exhaustion, fork(), mremap(), partial unmapping and, given a block
 * device, O_DIRECT I/O into the mapping.
 *
 * Every test runs in its own child process so that a crash (SIGBUS,
 * SIGSEGV) or a hang is reported against that test, and after every test
 * `available` must be back at its value from before the first test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "p2pmem-common.h"

#define T_PASS		0
#define T_FAIL		1
#define T_SKIP		4

#define MIB		(1024 * 1024)
#define TEST_TIMEOUT	60	/* seconds per test, unless it says otherwise */
#define PROBE_TIMEOUT	5	/* seconds for a single access that may hang */
#define SETTLE_MS	1000	/* how long freed pages may take to return */
#define PREFILL_SLACK	256	/* pages left for the 1-page exhaustion maps */

static char bdf[P2P_BDF_LEN];
static char allocate_path[PATH_MAX];
static const char *dev_spec;
static int no_write;
static size_t page;
static uint64_t start_avail;
static char reason[512];

/* ---- reporting ---- */

static int result(int code, const char *fmt, va_list ap)
{
	vsnprintf(reason, sizeof(reason), fmt, ap);
	return code;
}

static int fail(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = result(T_FAIL, fmt, ap);
	va_end(ap);
	return ret;
}

static int skip(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = result(T_SKIP, fmt, ap);
	va_end(ap);
	return ret;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "unknown errno";
}

/* ---- helpers ---- */

static int open_allocate(int flags)
{
	return open(allocate_path, flags | O_CLOEXEC);
}

/* mmap() of the allocate file; returns MAP_FAILED with errno set. */
static void *map_alloc(size_t len, int prot, int flags, off_t off)
{
	void *p;
	int fd, err;

	fd = open_allocate(O_RDWR);
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, len, prot, flags, fd, off);
	err = errno;
	close(fd);
	errno = err;
	return p;
}

static int read_avail(uint64_t *val)
{
	if (p2p_available(bdf, val))
		return fail("reading available: %s", strerror(errno));
	return T_PASS;
}

/* Wait for `available` to read want; fail naming the situation if not. */
static int expect_avail(uint64_t want, const char *when)
{
	uint64_t got = 0;

	if (!p2p_wait_available(bdf, want, &got, SETTLE_MS))
		return T_PASS;
	if (errno != EAGAIN)
		return fail("reading available %s: %s", when, strerror(errno));
	return fail("available %llu %s, expected %llu (%+lld bytes)",
		    (unsigned long long)got, when, (unsigned long long)want,
		    (long long)(got - want));
}

static uint64_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = (seed + i) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ ((uint64_t)i << 40);
}

static void fill_words(void *map, size_t len, uint64_t seed)
{
	uint64_t *w = map;
	size_t i;

	for (i = 0; i < len / 8; i++)
		p2p_store64(&w[i], pattern(seed, i));
}

/* Offset of the first word that does not hold the pattern, or -1. */
static long check_words(const void *map, size_t len, uint64_t seed)
{
	const uint64_t *w = map;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (p2p_load64(&w[i]) != pattern(seed, i))
			return i * 8;
	return -1;
}

static void copy_from_map(void *dst, const void *map, size_t len)
{
	const uint64_t *s = map;
	uint64_t *d = dst;
	size_t i;

	for (i = 0; i < len / 8; i++)
		d[i] = p2p_load64(&s[i]);
}

/* Mark the first and last word of every page with its own tag. */
static void tag_pages(void *map, size_t pages, uint64_t seed)
{
	uint64_t *w;
	size_t i;

	for (i = 0; i < pages; i++) {
		w = (uint64_t *)((char *)map + i * page);
		p2p_store64(&w[0], pattern(seed, 2 * i));
		p2p_store64(&w[page / 8 - 1], pattern(seed, 2 * i + 1));
	}
}

static int check_tag(const void *map, size_t i, uint64_t seed)
{
	const uint64_t *w;

	w = (const uint64_t *)((const char *)map + i * page);
	return p2p_load64(&w[0]) == pattern(seed, 2 * i) &&
	       p2p_load64(&w[page / 8 - 1]) == pattern(seed, 2 * i + 1);
}

/*
 * Run fn(arg) in a child process with a deadline, for accesses whose
 * outcome is only to be reported: the access may raise SIGBUS or never
 * complete.  Describes the outcome in buf; returns PROBE_*.
 */
#define PROBE_DONE	0
#define PROBE_FAILED	1
#define PROBE_SIGNAL	2
#define PROBE_HUNG	3

static int probe(int (*fn)(void *), void *arg, char *buf, size_t len)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(buf, len, "fork failed: %s", strerror(errno));
		return PROBE_FAILED;
	}
	if (!pid) {
		alarm(PROBE_TIMEOUT);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid) {
		snprintf(buf, len, "waitpid failed: %s", strerror(errno));
		return PROBE_FAILED;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
		snprintf(buf, len, "did not complete within %d s",
			 PROBE_TIMEOUT);
		return PROBE_HUNG;
	}
	if (WIFSIGNALED(status)) {
		snprintf(buf, len, "killed by SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ?: "(unknown)");
		return PROBE_SIGNAL;
	}
	if (WEXITSTATUS(status)) {
		snprintf(buf, len, "wrong data (step %d)", WEXITSTATUS(status));
		return PROBE_FAILED;
	}
	snprintf(buf, len, "completed");
	return PROBE_DONE;
}

/* ---- sysfs attributes ---- */

static int read_attr_u64(const char *attr, uint64_t *val)
{
	char path[PATH_MAX];

	p2p_attr_path(path, sizeof(path), bdf, attr);
	if (p2p_sysfs_u64(path, val))
		return fail("%s: %s", path, strerror(errno));
	return T_PASS;
}

static int t_size_readable(void)
{
	uint64_t size;

	if (read_attr_u64("size", &size))
		return T_FAIL;
	diag("size %llu", (unsigned long long)size);
	if (!size)
		return fail("size is 0");
	return T_PASS;
}

static int t_available_readable(void)
{
	uint64_t avail;

	if (read_attr_u64("available", &avail))
		return T_FAIL;
	diag("available %llu", (unsigned long long)avail);
	return T_PASS;
}

static int t_published_readable(void)
{
	char path[PATH_MAX], buf[64];

	p2p_attr_path(path, sizeof(path), bdf, "published");
	if (p2p_sysfs_read(path, buf, sizeof(buf)))
		return fail("%s: %s", path, strerror(errno));
	diag("published '%s'", buf);
	if (strcmp(buf, "0") && strcmp(buf, "1"))
		return fail("published reads '%s', expected 0 or 1", buf);
	return T_PASS;
}

static int t_available_within_size(void)
{
	uint64_t size, avail;

	if (read_attr_u64("size", &size) ||
	    read_attr_u64("available", &avail))
		return T_FAIL;
	if (avail > size)
		return fail("available %llu > size %llu",
			    (unsigned long long)avail,
			    (unsigned long long)size);
	return T_PASS;
}

/* ---- mapping and accounting ---- */

/*
 * Map len bytes: `available` must drop by exactly len at mmap() time, stay
 * there once every page has been touched (no second allocation on fault),
 * and come back after munmap().
 */
static int map_and_account(size_t len)
{
	uint64_t a0;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	if (a0 < len)
		return skip("only %llu bytes available",
			    (unsigned long long)a0);
	p = map_alloc(len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap %zu bytes: %s", len, strerror(errno));
	if (expect_avail(a0 - len, "after mmap"))
		return T_FAIL;
	tag_pages(p, len / page, 1);
	if (expect_avail(a0 - len, "after touching every page"))
		return T_FAIL;
	if (munmap(p, len))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after munmap");
}

static int t_mmap_one_page(void)
{
	return map_and_account(page);
}

static int t_mmap_one_mib(void)
{
	return map_and_account(MIB);
}

static int t_pattern_readback(void)
{
	uint64_t first, last;
	size_t len = MIB;
	uint8_t *b;
	long bad;
	void *p;

	p = map_alloc(len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap %zu bytes: %s", len, strerror(errno));
	fill_words(p, len, 0x1234);
	bad = check_words(p, len, 0x1234);
	if (bad >= 0)
		return fail("word pattern differs at byte %ld", bad);
	/* Byte stores must land in the right byte lanes of the BAR. */
	b = p;
	p2p_store8(&b[1], 0xa5);
	p2p_store8(&b[len - 2], 0x5a);
	first = pattern(0x1234, 0);
	last = pattern(0x1234, len / 8 - 1);
	if (p2p_load8(&b[0]) != (first & 0xff) || p2p_load8(&b[1]) != 0xa5 ||
	    p2p_load8(&b[len - 2]) != 0x5a ||
	    p2p_load8(&b[len - 1]) != last >> 56)
		return fail("byte stores are not read back as written");
	first = (first & ~0xff00ULL) | 0xa500ULL;
	last = (last & ~(0xffULL << 48)) | (0x5aULL << 48);
	if (p2p_load64(&b[0]) != first || p2p_load64(&b[len - 8]) != last)
		return fail("byte stores disturbed neighbouring bytes");
	if (munmap(p, len))
		return fail("munmap: %s", strerror(errno));
	return T_PASS;
}

/* A mapping that must be refused: any error, or exactly want_err if set. */
static int expect_refused(size_t len, int prot, int flags, off_t off,
			  int want_err, const char *what)
{
	uint64_t a0;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(len, prot, flags, off);
	if (p != MAP_FAILED) {
		munmap(p, len);
		return fail("%s was accepted", what);
	}
	diag("%s: %s", what, errname(errno));
	if (want_err && errno != want_err)
		return fail("%s failed with %s, expected %s", what,
			    errname(errno), errname(want_err));
	return expect_avail(a0, "after the refused mmap");
}

static int t_map_private_refused(void)
{
	return expect_refused(page, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0,
			      EINVAL, "MAP_PRIVATE");
}

static int t_nonzero_offset_refused(void)
{
	int ret;

	ret = expect_refused(page, PROT_READ | PROT_WRITE, MAP_SHARED, page, 0,
			     "offset of one page");
	if (ret)
		return ret;
	return expect_refused(page, PROT_READ | PROT_WRITE, MAP_SHARED,
			      (off_t)1 << 30, 0, "offset of 1 GiB");
}

static int t_zero_length_refused(void)
{
	return expect_refused(0, PROT_READ | PROT_WRITE, MAP_SHARED, 0, EINVAL,
			      "length 0");
}

static int t_oversize_refused(void)
{
	uint64_t a0;
	size_t len;

	if (read_avail(&a0))
		return T_FAIL;
	len = (a0 / page + 1) * page;
	diag("asking for %zu bytes with %llu available", len,
	     (unsigned long long)a0);
	return expect_refused(len, PROT_READ | PROT_WRITE, MAP_SHARED, 0, 0,
			      "length beyond available");
}

/*
 * Read-only shared mappings are not forbidden by the ABI; report what the
 * provider does with them, and require only consistent accounting and no
 * crash when the mapping is read.
 */
static int probe_read(void *p)
{
	return p2p_load64(p) == p2p_load64(p) ? 0 : 1;
}

static int probe_write(void *p)
{
	p2p_store64(p, 0x0123456789abcdefULL);
	return p2p_load64(p) == 0x0123456789abcdefULL ? 0 : 1;
}

static int t_prot_read_only(void)
{
	char what[128];
	uint64_t a0;
	void *p;
	int fd;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(page, PROT_READ, MAP_SHARED, 0);
	if (p == MAP_FAILED) {
		diag("PROT_READ MAP_SHARED: refused with %s", errname(errno));
		return expect_avail(a0, "after the refused mmap");
	}
	if (probe(probe_read, p, what, sizeof(what)) != PROBE_DONE)
		return fail("PROT_READ mapping accepted, but reading it %s",
			    what);
	diag("PROT_READ MAP_SHARED: accepted, reading it %s", what);
	if (expect_avail(a0 - page, "while mapped read-only"))
		return T_FAIL;
	if (munmap(p, page))
		return fail("munmap: %s", strerror(errno));
	if (expect_avail(a0, "after munmap"))
		return T_FAIL;

	/* A writable shared mapping of a read-only descriptor is refused. */
	fd = open_allocate(O_RDONLY);
	if (fd < 0) {
		diag("open O_RDONLY: %s", errname(errno));
		return T_PASS;
	}
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED) {
		munmap(p, page);
		return fail("writable MAP_SHARED of an O_RDONLY descriptor accepted");
	}
	diag("PROT_WRITE MAP_SHARED of an O_RDONLY descriptor: %s",
	     errname(errno));
	return expect_avail(a0, "after the refused mmap");
}

/*
 * A read-only shared mapping of a read-write descriptor may be made
 * writable; if mprotect() allows it, a write must then complete (or at
 * least fail with a signal), never fault forever.
 */
static int t_mprotect_write(void)
{
	char what[128];
	uint64_t a0;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(page, PROT_READ, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return skip("PROT_READ mapping refused (%s)", errname(errno));
	/* Fault the page in read-only so the write is a write-protect fault. */
	probe(probe_read, p, what, sizeof(what));
	if (mprotect(p, page, PROT_READ | PROT_WRITE)) {
		diag("mprotect to PROT_READ|PROT_WRITE: %s", errname(errno));
	} else {
		if (probe(probe_write, p, what, sizeof(what)) == PROBE_HUNG)
			return fail("made writable by mprotect, but a write %s",
				    what);
		diag("mprotect to PROT_READ|PROT_WRITE: allowed, a write %s",
		     what);
	}
	if (munmap(p, page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after munmap");
}

/* Closing the descriptor must neither free nor invalidate the mapping. */
static int t_close_fd_keeps_mapping(void)
{
	uint64_t a0;
	long bad;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 4 pages: %s", strerror(errno));
	fill_words(p, 4 * page, 77);
	bad = check_words(p, 4 * page, 77);
	if (bad >= 0)
		return fail("pattern differs at byte %ld after close()", bad);
	if (expect_avail(a0 - 4 * page, "with the descriptor closed"))
		return T_FAIL;
	if (munmap(p, 4 * page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after munmap");
}

/* ---- concurrent first faults ---- */

#define RACE_THREADS	4
#define RACE_PAGES	16
#define RACE_ROUNDS	20

struct race {
	pthread_barrier_t start;
	char *map;
	unsigned int round;
};

/* Every thread touches every page of a fresh mapping at the same time. */
static void *race_touch(void *arg)
{
	struct race *r = arg;
	uint64_t *w;
	unsigned int i;

	pthread_barrier_wait(&r->start);
	for (i = 0; i < RACE_PAGES; i++) {
		w = (uint64_t *)(r->map + i * page);
		p2p_load64(&w[1]);
		p2p_store64(&w[2], r->round);
	}
	return NULL;
}

static int race_round(struct race *r, uint64_t a0)
{
	pthread_t tids[RACE_THREADS];
	unsigned int t, started;
	int ret = T_PASS;

	r->map = map_alloc(RACE_PAGES * page, PROT_READ | PROT_WRITE,
			   MAP_SHARED, 0);
	if (r->map == MAP_FAILED)
		return fail("mmap %d pages: %s", RACE_PAGES, strerror(errno));
	for (started = 0; started < RACE_THREADS; started++) {
		errno = pthread_create(&tids[started], NULL, race_touch, r);
		if (errno) {
			/* Threads already waiting on the barrier never leave it. */
			return fail("pthread_create: %s", strerror(errno));
		}
	}
	for (t = 0; t < RACE_THREADS; t++)
		pthread_join(tids[t], NULL);
	if (expect_avail(a0 - RACE_PAGES * page,
			 "after concurrent first touches"))
		ret = T_FAIL;
	if (munmap(r->map, RACE_PAGES * page) && !ret)
		ret = fail("munmap: %s", strerror(errno));
	if (!ret)
		ret = expect_avail(a0, "after munmap");
	return ret;
}

/*
 * Concurrent first faults on one mapping must not allocate a page twice
 * (an old upstream bug); `available` shows any extra allocation.
 */
static int t_concurrent_first_faults(void)
{
	struct race r;
	uint64_t a0;
	int ret = T_PASS;

	if (read_avail(&a0))
		return T_FAIL;
	if (pthread_barrier_init(&r.start, NULL, RACE_THREADS))
		return fail("pthread_barrier_init failed");
	for (r.round = 0; r.round < RACE_ROUNDS && !ret; r.round++)
		ret = race_round(&r, a0);
	pthread_barrier_destroy(&r.start);
	return ret;
}

/* ---- exhaustion ---- */

struct map_list {
	void **addr;
	size_t *len;
	size_t n, cap;
};

static int list_add(struct map_list *l, void *addr, size_t len)
{
	void *na, *nl;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		na = realloc(l->addr, l->cap * sizeof(*l->addr));
		if (na)
			l->addr = na;
		nl = realloc(l->len, l->cap * sizeof(*l->len));
		if (nl)
			l->len = nl;
		if (!na || !nl)
			return -1;
	}
	l->addr[l->n] = addr;
	l->len[l->n] = len;
	l->n++;
	return 0;
}

static int list_unmap(struct map_list *l)
{
	int ret = 0;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (munmap(l->addr[i], l->len[i]))
			ret = -1;
	l->n = 0;
	return ret;
}

/*
 * Large providers cannot be exhausted one page at a time (the map count
 * limit is ~65530), so first take all but PREFILL_SLACK pages in large,
 * halving pieces.
 */
static int prefill(struct map_list *l, int fd, size_t *bytes)
{
	uint64_t avail;
	size_t want;
	void *p;

	*bytes = 0;
	for (;;) {
		if (p2p_available(bdf, &avail))
			return fail("reading available: %s", strerror(errno));
		if (avail <= (uint64_t)(PREFILL_SLACK + 64) * page)
			return T_PASS;
		want = (avail - PREFILL_SLACK * page) / page * page;
		for (;;) {
			p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fd, 0);
			if (p != MAP_FAILED)
				break;
			want = want / 2 / page * page;
			if (want < 64 * page)
				return T_PASS;
		}
		if (list_add(l, p, want)) {
			munmap(p, want);
			return fail("out of memory");
		}
		*bytes += want;
	}
}

static int t_exhaust_one_page_maps(void)
{
	struct map_list l = { };
	uint64_t a0, a1, left;
	size_t pre, count = 0, limit;
	int fd, err, ret;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	fd = open_allocate(O_RDWR);
	if (fd < 0)
		return fail("open %s: %s", allocate_path, strerror(errno));
	ret = prefill(&l, fd, &pre);
	if (ret)
		goto out;
	if (read_avail(&a1)) {
		ret = T_FAIL;
		goto out;
	}
	limit = a1 / page + 64;
	for (;;) {
		p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			break;
		if (list_add(&l, p, page)) {
			munmap(p, page);
			ret = fail("out of memory");
			goto out;
		}
		if (++count > limit) {
			ret = fail("%zu 1-page maps succeeded with %llu bytes available",
				   count, (unsigned long long)a1);
			goto out;
		}
	}
	err = errno;
	if (p2p_available(bdf, &left)) {
		ret = fail("reading available: %s", strerror(errno));
		goto out;
	}
	diag("prefilled %zu bytes, then %zu 1-page maps; next mmap: %s; available %llu",
	     pre, count, errname(err), (unsigned long long)left);
	if (err != ENOMEM && err != ENOSPC && err != EAGAIN && err != EBUSY)
		ret = fail("exhaustion reported as %s", errname(err));
	else if (left >= page)
		ret = fail("mmap failed (%s) with %llu bytes still available",
			   errname(err), (unsigned long long)left);
	else if (count != a1 / page)
		ret = fail("%zu 1-page maps fit, available promised %llu",
			   count, (unsigned long long)(a1 / page));
out:
	close(fd);
	if (list_unmap(&l) && !ret)
		ret = fail("munmap: %s", strerror(errno));
	free(l.addr);
	free(l.len);
	if (ret)
		return ret;
	return expect_avail(a0, "after unmapping everything");
}

/* ---- fork ---- */

static int read_full(int fd, void *buf, size_t len)
{
	return read(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int write_full(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int wait_child(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return fail("%s killed by signal %d (%s)", what,
			    WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (WEXITSTATUS(status))
		return fail("%s failed at step %d", what, WEXITSTATUS(status));
	return T_PASS;
}

/* The child stopped talking: report how it ended. */
static int child_silent(pid_t pid)
{
	char why[sizeof(reason)];

	reason[0] = '\0';
	wait_child(pid, "child");
	snprintf(why, sizeof(why), "%s", reason[0] ? reason : "exited");
	return fail("child did not report (%s)", why);
}

/* Child side: sees the parent's page 0, writes page 1, sees parent's page 2. */
static int fork_data_child(void *p, int from_parent, int to_parent)
{
	char c = 0;

	if (!check_tag(p, 0, 10))
		return 1;
	tag_pages((char *)p + page, 1, 11);
	if (write_full(to_parent, &c, 1) || read_full(from_parent, &c, 1))
		return 2;
	if (!check_tag((char *)p + 2 * page, 0, 12))
		return 3;
	return 0;
}

static int t_fork_shares_data(void)
{
	int down[2], up[2], ret;
	uint64_t a0;
	char c = 0;
	pid_t pid;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 4 pages: %s", strerror(errno));
	tag_pages(p, 1, 10);
	if (pipe(down) || pipe(up))
		return fail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid)
		_exit(fork_data_child(p, down[0], up[1]));
	if (read_full(up[0], &c, 1))
		return child_silent(pid);
	if (!check_tag((char *)p + page, 0, 11))
		return fail("parent does not see the child's write");
	tag_pages((char *)p + 2 * page, 1, 12);
	write_full(down[1], &c, 1);
	ret = wait_child(pid, "child");
	if (ret)
		return ret;
	if (munmap(p, 4 * page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after parent and child unmapped");
}

/* Child side: report `available` before and after dropping its copy. */
static int fork_count_child(void *p, int from_parent, int to_parent)
{
	uint64_t v;
	char c;

	if (p2p_available(bdf, &v) || write_full(to_parent, &v, sizeof(v)))
		return 1;
	if (read_full(from_parent, &c, 1))
		return 2;
	if (munmap(p, 4 * page))
		return 3;
	/* The parent still maps the pages: nothing may be freed. */
	usleep(100 * 1000);
	if (p2p_available(bdf, &v) || write_full(to_parent, &v, sizeof(v)))
		return 4;
	return 0;
}

static int t_fork_accounting(void)
{
	int down[2], up[2], ret;
	uint64_t a0, a1, v;
	char c = 0;
	pid_t pid;
	void *p;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 4 pages: %s", strerror(errno));
	tag_pages(p, 4, 20);
	a1 = a0 - 4 * page;
	if (expect_avail(a1, "after mmap"))
		return T_FAIL;
	if (pipe(down) || pipe(up))
		return fail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid)
		_exit(fork_count_child(p, down[0], up[1]));
	if (read_full(up[0], &v, sizeof(v)))
		return child_silent(pid);
	if (v != a1)
		return fail("child reads available %llu after fork, expected %llu",
			    (unsigned long long)v, (unsigned long long)a1);
	if (expect_avail(a1, "in the parent after fork"))
		return T_FAIL;
	write_full(down[1], &c, 1);
	if (read_full(up[0], &v, sizeof(v)))
		return child_silent(pid);
	if (v != a1)
		return fail("available %llu after the child's munmap, expected %llu",
			    (unsigned long long)v, (unsigned long long)a1);
	ret = wait_child(pid, "child");
	if (ret)
		return ret;
	if (expect_avail(a1, "after the child exited"))
		return T_FAIL;
	if (!check_tag(p, 3, 20))
		return fail("parent's data lost after the child exited");
	if (munmap(p, 4 * page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after both unmapped");
}

/* ---- mremap and partial munmap ---- */

static int t_mremap_grow_refused(void)
{
	static const struct {
		int flags;
		const char *name;
	} modes[] = {
		{ 0, "in place" },
		{ MREMAP_MAYMOVE, "with MREMAP_MAYMOVE" },
	};
	char what[128];
	uint64_t a0;
	unsigned int i;
	void *p, *q;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 4 pages: %s", strerror(errno));
	tag_pages(p, 4, 30);
	for (i = 0; i < 2; i++) {
		q = mremap(p, 4 * page, 8 * page, modes[i].flags);
		if (q != MAP_FAILED) {
			probe(probe_read, (char *)q + 6 * page, what,
			      sizeof(what));
			munmap(q, 8 * page);
			return fail("growing %s succeeded; reading a new page %s",
				    modes[i].name, what);
		}
		diag("mremap 4 -> 8 pages %s: %s", modes[i].name,
		     errname(errno));
	}
	for (i = 0; i < 4; i++)
		if (!check_tag(p, i, 30))
			return fail("page %u changed by the refused mremap", i);
	if (expect_avail(a0 - 4 * page, "after the refused mremap"))
		return T_FAIL;
	if (munmap(p, 4 * page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after munmap");
}

static int t_mremap_shrink_frees(void)
{
	uint64_t a0;
	unsigned int i;
	void *p, *q;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(8 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 8 pages: %s", strerror(errno));
	tag_pages(p, 8, 40);
	q = mremap(p, 8 * page, 4 * page, 0);
	if (q == MAP_FAILED)
		return fail("mremap 8 -> 4 pages: %s", strerror(errno));
	if (q != p)
		return fail("shrinking mremap moved the mapping");
	if (expect_avail(a0 - 4 * page, "after shrinking 8 to 4 pages"))
		return T_FAIL;
	for (i = 0; i < 4; i++)
		if (!check_tag(p, i, 40))
			return fail("page %u lost its data after shrinking", i);
	if (munmap(p, 4 * page))
		return fail("munmap: %s", strerror(errno));
	return expect_avail(a0, "after munmap");
}

static int t_partial_munmap_frees(void)
{
	char *p;
	uint64_t a0;
	unsigned int i;

	if (read_avail(&a0))
		return T_FAIL;
	p = map_alloc(8 * page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap 8 pages: %s", strerror(errno));
	tag_pages(p, 8, 50);
	if (munmap(p + 3 * page, page))
		return fail("munmap of page 3: %s", strerror(errno));
	if (expect_avail(a0 - 7 * page, "after unmapping 1 of 8 pages"))
		return T_FAIL;
	for (i = 0; i < 8; i++)
		if (i != 3 && !check_tag(p, i, 50))
			return fail("page %u lost its data", i);
	if (munmap(p, 3 * page))
		return fail("munmap of pages 0-2: %s", strerror(errno));
	if (expect_avail(a0 - 4 * page, "after unmapping 4 of 8 pages"))
		return T_FAIL;
	if (munmap(p + 4 * page, 4 * page))
		return fail("munmap of pages 4-7: %s", strerror(errno));
	return expect_avail(a0, "after unmapping all pages");
}

/* ---- O_DIRECT I/O into the mapping ---- */

static int pread_full(int fd, void *buf, size_t len, off_t off,
		      const char *what)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return fail("%s at offset %lld: %s", what, (long long)off,
			    strerror(errno));
	if ((size_t)n != len)
		return fail("%s at offset %lld: %zd of %zu bytes", what,
			    (long long)off, n, len);
	return T_PASS;
}

/*
 * Compare len bytes of the mapping at map with the host buffer; both were
 * read from the device at byte dev_off.
 */
static int compare_map(const void *map, const char *host, size_t len,
		       off_t dev_off)
{
	char *copy = malloc(len);
	size_t i;

	if (!copy)
		return fail("out of memory");
	copy_from_map(copy, map, len);
	if (!memcmp(copy, host, len)) {
		free(copy);
		return T_PASS;
	}
	for (i = 0; copy[i] == host[i]; i++)
		;
	free(copy);
	return fail("O_DIRECT data differs from a buffered read at device offset %lld",
		    (long long)(dev_off + i));
}

struct dev_io {
	struct p2p_bdev bdev;
	int direct;		/* O_DIRECT descriptor */
	int buffered;
	size_t len;
	char *host;		/* buffered read of [0, len) */
};

static void dev_close(struct dev_io *d)
{
	if (d->direct >= 0)
		close(d->direct);
	if (d->buffered >= 0)
		close(d->buffered);
	free(d->host);
}

/* Open the device both ways and read up to max bytes from 0, buffered. */
static int dev_open(struct dev_io *d, int flags, size_t max)
{
	uint64_t size;

	d->direct = -1;
	d->buffered = -1;
	d->host = NULL;
	if (!dev_spec)
		return skip("no block device given");
	if (flags != O_RDONLY && no_write)
		return skip("--no-write given");
	if (p2p_resolve_bdev(dev_spec, &d->bdev))
		return fail("%s", p2p_last_err);
	d->direct = open(d->bdev.path, flags | O_DIRECT | O_CLOEXEC);
	if (d->direct < 0)
		return fail("open %s O_DIRECT: %s", d->bdev.path,
			    strerror(errno));
	d->buffered = open(d->bdev.path, O_RDONLY | O_CLOEXEC);
	if (d->buffered < 0)
		return fail("open %s: %s", d->bdev.path, strerror(errno));
	if (p2p_dev_size(d->direct, &size))
		return fail("size of %s: %s", d->bdev.path, strerror(errno));
	d->len = size < max ? size / page * page : max;
	if (d->len < 4 * page)
		return skip("%s is too small", d->bdev.path);
	d->host = malloc(d->len);
	if (!d->host)
		return fail("out of memory");
	diag("device %s (serial %s, PCI %s), %zu bytes",
	     d->bdev.path, d->bdev.serial[0] ? d->bdev.serial : "?",
	     d->bdev.bdf[0] ? d->bdev.bdf : "none", d->len);
	return pread_full(d->buffered, d->host, d->len, 0, "buffered read");
}

static int odirect_read(struct dev_io *d)
{
	size_t len = d->len, part = 2 * page;
	off_t off = len - part;
	char *p;
	int ret;

	p = map_alloc(len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap %zu bytes: %s", len, strerror(errno));
	/* Pre-fill so that a read that moves no data cannot pass. */
	fill_words(p, len, 60);
	ret = pread_full(d->direct, p, len, 0, "O_DIRECT read into p2pmem");
	if (!ret)
		ret = compare_map(p, d->host, len, 0);
	/* A read into the middle of the mapping, from a nonzero offset. */
	if (!ret) {
		fill_words(p, len, 61);
		ret = pread_full(d->direct, p + page, part, off,
				 "O_DIRECT read into p2pmem");
	}
	if (!ret)
		ret = compare_map(p + page, d->host + off, part, off);
	munmap(p, len);
	return ret;
}

static int t_odirect_read(void)
{
	struct dev_io d;
	uint64_t a0;
	int ret;

	if (read_avail(&a0))
		return T_FAIL;
	ret = dev_open(&d, O_RDONLY, MIB);
	if (!ret)
		ret = odirect_read(&d);
	dev_close(&d);
	if (ret)
		return ret;
	return expect_avail(a0, "after munmap");
}

/*
 * Read a range into p2pmem and check it; then fill the mapping with a new
 * pattern, write it to the device from p2pmem and read the device back into
 * host memory: it must hold the new pattern, so a write that moved no data
 * or the wrong pages fails.  The original content is put back from host
 * memory.  Nothing is written unless the read was correct.
 */
static int odirect_write_back(struct dev_io *d)
{
	size_t len = d->len;
	char *p, *check = NULL;
	ssize_t n;
	long bad;
	int ret;

	p = map_alloc(len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (p == MAP_FAILED)
		return fail("mmap %zu bytes: %s", len, strerror(errno));
	fill_words(p, len, 70);
	ret = pread_full(d->direct, p, len, 0, "O_DIRECT read into p2pmem");
	if (!ret)
		ret = compare_map(p, d->host, len, 0);
	if (ret)
		goto out;
	if (posix_memalign((void **)&check, page, len)) {
		ret = fail("out of memory");
		goto out;
	}
	fill_words(check, len, 71);
	if (!memcmp(check, d->host, len)) {
		ret = fail("the device already holds the new pattern");
		goto out;
	}
	fill_words(p, len, 71);
	n = pwrite(d->direct, p, len, 0);
	if (n != (ssize_t)len) {
		ret = n < 0 ? fail("O_DIRECT write from p2pmem: %s",
				   strerror(errno)) :
			      fail("O_DIRECT write from p2pmem: %zd of %zu bytes",
				   n, len);
		goto out;
	}
	memset(check, 0, len);
	ret = pread_full(d->direct, check, len, 0, "O_DIRECT read to host");
	if (!ret) {
		bad = check_words(check, len, 71);
		if (bad >= 0)
			ret = fail("device lacks the pattern written from p2pmem at offset %ld",
				   bad);
	}
	/* Put the original content back, through host memory. */
	memcpy(check, d->host, len);
	n = pwrite(d->direct, check, len, 0);
	if (n != (ssize_t)len && !ret)
		ret = fail("restoring the device content: %s",
			   n < 0 ? strerror(errno) : "short write");
out:
	free(check);
	munmap(p, len);
	return ret;
}

static int t_odirect_write_back(void)
{
	struct dev_io d;
	uint64_t a0;
	int ret;

	if (read_avail(&a0))
		return T_FAIL;
	ret = dev_open(&d, O_RDWR, 256 * 1024);
	if (!ret)
		ret = odirect_write_back(&d);
	dev_close(&d);
	if (ret)
		return ret;
	return expect_avail(a0, "after munmap");
}

/* ---- runner ---- */

static const struct {
	const char *name;
	int (*fn)(void);
	unsigned int timeout;	/* seconds */
} tests[] = {
	{ "size_readable", t_size_readable, TEST_TIMEOUT },
	{ "available_readable", t_available_readable, TEST_TIMEOUT },
	{ "published_readable", t_published_readable, TEST_TIMEOUT },
	{ "available_within_size", t_available_within_size, TEST_TIMEOUT },
	{ "mmap_one_page", t_mmap_one_page, TEST_TIMEOUT },
	{ "mmap_one_mib", t_mmap_one_mib, TEST_TIMEOUT },
	{ "pattern_readback", t_pattern_readback, TEST_TIMEOUT },
	{ "map_private_refused", t_map_private_refused, TEST_TIMEOUT },
	{ "nonzero_offset_refused", t_nonzero_offset_refused, TEST_TIMEOUT },
	{ "zero_length_refused", t_zero_length_refused, TEST_TIMEOUT },
	{ "oversize_refused", t_oversize_refused, TEST_TIMEOUT },
	{ "prot_read_only", t_prot_read_only, TEST_TIMEOUT },
	{ "mprotect_write", t_mprotect_write, TEST_TIMEOUT },
	{ "close_fd_keeps_mapping", t_close_fd_keeps_mapping, TEST_TIMEOUT },
	{ "concurrent_first_faults", t_concurrent_first_faults, TEST_TIMEOUT },
	{ "exhaust_one_page_maps", t_exhaust_one_page_maps, 600 },
	{ "fork_shares_data", t_fork_shares_data, TEST_TIMEOUT },
	{ "fork_accounting", t_fork_accounting, TEST_TIMEOUT },
	{ "mremap_grow_refused", t_mremap_grow_refused, TEST_TIMEOUT },
	{ "mremap_shrink_frees", t_mremap_shrink_frees, TEST_TIMEOUT },
	{ "partial_munmap_frees", t_partial_munmap_frees, TEST_TIMEOUT },
	{ "odirect_read", t_odirect_read, TEST_TIMEOUT },
	{ "odirect_write_back", t_odirect_write_back, TEST_TIMEOUT },
};

#define NR_TESTS	ARRAY_SIZE(tests)

/* Run one test in a child; its verdict code comes back as the exit status. */
static int run_one(unsigned int i)
{
	unsigned int timeout = tests[i].timeout;
	int pfd[2], status, code;
	ssize_t n;
	pid_t pid;

	reason[0] = '\0';
	if (pipe(pfd))
		return fail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		close(pfd[0]);
		alarm(timeout);
		code = tests[i].fn();
		fflush(stdout);
		write_full(pfd[1], reason, strlen(reason));
		_exit(code);
	}
	close(pfd[1]);
	n = read(pfd[0], reason, sizeof(reason) - 1);
	reason[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == SIGALRM)
			return fail("timed out after %u s", timeout);
		return fail("killed by signal %d (%s)", WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
	}
	code = WEXITSTATUS(status);
	if (code != T_PASS && code != T_SKIP)
		code = T_FAIL;
	if (code == T_FAIL && !reason[0])
		snprintf(reason, sizeof(reason), "failed");
	return code;
}

/* Whatever a test did, the provider must be whole again afterwards. */
static int check_no_leak(int code)
{
	uint64_t got = 0;

	if (!p2p_wait_available(bdf, start_avail, &got, SETTLE_MS))
		return code;
	if (code == T_FAIL)
		return code;
	if (errno != EAGAIN)
		return fail("reading available: %s", strerror(errno));
	return fail("available %llu after the test, %llu before the first test (%+lld bytes)",
		    (unsigned long long)got, (unsigned long long)start_avail,
		    (long long)(got - start_avail));
}

static void show_synopsis(FILE *f)
{
	fprintf(f,
		"usage: p2pmem-abi [--no-write] PROVIDER [DEV]\n"
		"\n"
		"Test the p2pmem sysfs and mmap ABI of one provider; KTAP on stdout.\n"
		"PROVIDER is a PCI address or serial:SERIAL (that NVMe controller's PCI\n"
		"function).  DEV, a path, serial:SERIAL[/NSID] or pci:BDF[/NSID], adds\n"
		"O_DIRECT tests; odirect_write_back writes a pattern to the first 256 KiB\n"
		"of DEV from p2pmem, reads it back, and restores the old content\n"
		"(unless --no-write is given).\n"
		"Exit 0 if every test passed or was skipped, 1 otherwise, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	int argi = 1, failed = 0, code;
	unsigned int i;

	p2p_prog = "p2pmem-abi";
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		show_synopsis(stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--no-write")) {
		no_write = 1;
		argi++;
	}
	if (argc - argi < 1 || argc - argi > 2 || argv[argi][0] == '-') {
		show_synopsis(stderr);
		return 2;
	}
	dev_spec = argc - argi == 2 ? argv[argi + 1] : NULL;
	page = sysconf(_SC_PAGESIZE);

	printf("KTAP version 1\n");
	if (p2p_resolve_provider(argv[argi], bdf, sizeof(bdf))) {
		printf("Bail out! %s\n", p2p_last_err);
		return 1;
	}
	p2p_attr_path(allocate_path, sizeof(allocate_path), bdf, "allocate");
	if (p2p_available(bdf, &start_avail)) {
		printf("Bail out! cannot read %s/%s/p2pmem/available: %s\n",
		       P2P_PCI_DEVICES, bdf, strerror(errno));
		return 1;
	}
	printf("# provider %s, %llu bytes available, page size %zu\n", bdf,
	       (unsigned long long)start_avail, page);
	printf("1..%zu\n", NR_TESTS);
	for (i = 0; i < NR_TESTS; i++) {
		code = check_no_leak(run_one(i));
		if (code == T_FAIL) {
			failed++;
			printf("not ok %u %s # %s\n", i + 1, tests[i].name,
			       reason);
		} else if (code == T_SKIP) {
			printf("ok %u %s # SKIP %s\n", i + 1, tests[i].name,
			       reason);
		} else {
			printf("ok %u %s\n", i + 1, tests[i].name);
		}
		fflush(stdout);
	}
	printf("# %u of %zu tests failed\n", failed, NR_TESTS);
	return failed ? 1 : 0;
}
