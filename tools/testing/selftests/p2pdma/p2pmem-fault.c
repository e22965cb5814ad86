// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-fault: fault injection and hostile input for p2pmem providers.
 *
 *   hold PROVIDER       map p2pmem and keep it (touching it, if asked) until
 *                       a deadline or SIGBUS: the provider went away
 *   churn BDF           map, touch and unmap in a loop for a while, riding
 *                       out a provider that is unbound, removed or rebound
 *   mmap-fuzz PROVIDER  table-driven and random mmap() arguments against the
 *                       "allocate" file, with the accounting checked after
 *                       every case
 *   attr-fuzz FILE      table-driven and random writes to an attribute with
 *                       a known grammar (the nvmet "p2pmem" attribute, the
 *                       p2pdma.host_bridges parameter), each checked against
 *                       that grammar and the value read back
 *
 * Exit status: 0 success, 1 failure, 2 bad usage; "hold" exits 3 when the
 * mapping faulted with SIGBUS.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "p2pmem-common.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE	0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC		0x80000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED	0x4000000
#endif
/* x86 only: elsewhere those cases are plain shared mappings */
#ifndef MAP_32BIT
#define MAP_32BIT		0
#endif
#ifndef MADV_COLD
#define MADV_COLD		20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define EXIT_SIGBUS		3
#define SETTLE_MS		2000

static size_t page;
static int base_tree;	/* known deviations of the base tree are not failures */
static char bdf[P2P_BDF_LEN];
static char allocate_path[PATH_MAX];
static int verbose;

/* ---- faults: SIGBUS and SIGSEGV turned into a return from fault_guard ---- */

static sigjmp_buf fault_jmp;
static int fault_armed;

static void fault_handler(int sig)
{
	if (__atomic_load_n(&fault_armed, __ATOMIC_RELAXED))
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fault_setup(void)
{
	struct sigaction sa = { .sa_handler = fault_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

static void fault_arm(int on)
{
	__atomic_store_n(&fault_armed, on, __ATOMIC_SEQ_CST);
}

static const char *sig_name(int sig)
{
	return sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" :
	       strsignal(sig);
}

static uint64_t rng_state = 1;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void rnd_seed(unsigned int seed)
{
	rng_state = (seed + 1ULL) * 0x9e3779b97f4a7c15ULL;
	rnd();
}

static unsigned int rnd_below(unsigned int n)
{
	return n ? rnd() % n : 0;
}

static int open_allocate(int flags)
{
	return open(allocate_path, flags | O_CLOEXEC);
}

static uint64_t avail_now(void)
{
	uint64_t v = 0;

	if (p2p_available(bdf, &v))
		return UINT64_MAX;
	return v;
}

static int resolve(const char *spec)
{
	if (p2p_resolve_provider(spec, bdf, sizeof(bdf)))
		return -1;
	p2p_attr_path(allocate_path, sizeof(allocate_path), bdf, "allocate");
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t page_tag(uint64_t seed, size_t i)
{
	return (seed + i) * 0x2545f4914f6cdd1dULL;
}

/* ---- hold ---- */

static struct {
	char *addr;
	size_t pages;
	size_t at;
	uint64_t passes;
} held;

static int hold_check(uint64_t seed)
{
	for (held.at = 0; held.at < held.pages; held.at++) {
		char *p = held.addr + held.at * page;

		if (p2p_load64(p) != page_tag(seed, held.at) ||
		    p2p_load64(p + page - 8) != ~page_tag(seed, held.at))
			return -1;
	}
	return 0;
}

static void hold_fill(uint64_t seed)
{
	for (held.at = 0; held.at < held.pages; held.at++) {
		char *p = held.addr + held.at * page;

		p2p_store64(p, page_tag(seed, held.at));
		p2p_store64(p + page - 8, ~page_tag(seed, held.at));
	}
}

static int cmd_hold(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "touch", no_argument, NULL, 'T' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "ready", required_argument, NULL, 'r' },
		{ }
	};
	static unsigned int seconds = 60, interval;
	static int touch;
	const char *ready = NULL;
	uint64_t size = 1 << 20;
	int c, fd, sig;
	double t0, deadline;

	while ((c = getopt_long(argc, argv, "s:t:Ti:r:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (p2p_parse_size(optarg, &size) || !size)
				return 2;
			break;
		case 't':
			if (p2p_parse_uint(optarg, &seconds))
				return 2;
			break;
		case 'T':
			touch = 1;
			break;
		case 'i':
			if (p2p_parse_uint(optarg, &interval))
				return 2;
			break;
		case 'r':
			ready = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	if (resolve(argv[optind]))
		return 1;

	fd = open_allocate(O_RDWR);
	if (fd < 0) {
		p2p_err("open %s: %s", allocate_path, strerror(errno));
		return 1;
	}
	held.pages = (size + page - 1) / page;
	held.addr = mmap(NULL, held.pages * page, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	if (held.addr == MAP_FAILED) {
		p2p_err("mmap %zu pages of %s: %s", held.pages, bdf,
			strerror(errno));
		return 1;
	}
	close(fd);
	hold_fill(0);
	if (hold_check(0)) {
		p2p_err("page %zu does not read back what was written", held.at);
		return 1;
	}
	printf("hold: %zu pages of %s mapped%s\n", held.pages, bdf,
	       touch ? ", touching them" : "");
	fflush(stdout);
	if (ready) {
		fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}

	fault_setup();
	t0 = p2p_now();
	deadline = t0 + seconds;
	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		fault_arm(0);
		printf("hold: %s at page %zu after %.3f s and %llu passes\n",
		       sig_name(sig), held.at, p2p_now() - t0,
		       (unsigned long long)held.passes);
		if (munmap(held.addr, held.pages * page)) {
			p2p_err("munmap after %s: %s", sig_name(sig),
				strerror(errno));
			return 1;
		}
		return sig == SIGBUS ? EXIT_SIGBUS : 1;
	}
	fault_arm(1);
	while (p2p_now() < deadline) {
		if (!touch) {
			sleep_ms(100);
			continue;
		}
		if (hold_check(held.passes)) {
			fault_arm(0);
			p2p_err("page %zu lost its contents (pass %llu)",
				held.at, (unsigned long long)held.passes);
			return 1;
		}
		held.passes++;
		hold_fill(held.passes);
		if (interval)
			sleep_ms(interval);
	}
	/* A last look: a revoked mapping faults here. */
	hold_check(touch ? held.passes : 0);
	fault_arm(0);
	printf("hold: no fault in %u s (%llu passes)\n", seconds,
	       (unsigned long long)held.passes);
	munmap(held.addr, held.pages * page);
	return 0;
}

/* ---- churn ---- */

static struct {
	uint64_t opens, maps, refused, absent, revoked, errors, corrupt;
} churn;

static int churn_errno_ok(int err)
{
	switch (err) {
	case ENOMEM:
	case ENOSPC:
	case EBUSY:
	case EAGAIN:
	case ENODEV:
	case ENXIO:
	case EIO:
		return 1;
	}
	return 0;
}

/* Map, tag, check and unmap once; a SIGBUS means the provider went away. */
static void churn_one(int fd, size_t pages, uint64_t seed)
{
	static char *addr;
	static size_t i;
	int sig;

	addr = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	if (addr == MAP_FAILED) {
		if (churn_errno_ok(errno)) {
			churn.refused++;
			return;
		}
		churn.errors++;
		p2p_err("mmap %zu pages: %s", pages, strerror(errno));
		return;
	}
	churn.maps++;
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig) {
		fault_arm(1);
		for (i = 0; i < pages; i++)
			p2p_store64(addr + i * page, page_tag(seed, i));
		for (i = 0; i < pages; i++) {
			if (p2p_load64(addr + i * page) != page_tag(seed, i)) {
				churn.corrupt++;
				p2p_err("page %zu of %zu lost its tag", i,
					pages);
				break;
			}
		}
	} else if (sig == SIGBUS) {
		churn.revoked++;
	} else {
		churn.errors++;
		p2p_err("%s touching a mapping of %zu pages", sig_name(sig),
			pages);
	}
	fault_arm(0);
	if (munmap(addr, pages * page)) {
		churn.errors++;
		p2p_err("munmap: %s", strerror(errno));
	}
}

static int cmd_churn(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 't' },
		{ "max-pages", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "stop-file", required_argument, NULL, 'f' },
		{ }
	};
	unsigned int seconds = 10, max_pages = 16, seed = 1, k;
	const char *stop = NULL;
	double deadline;
	int c, fd;

	while ((c = getopt_long(argc, argv, "t:m:S:f:", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (p2p_parse_uint(optarg, &seconds))
				return 2;
			break;
		case 'm':
			if (p2p_parse_uint(optarg, &max_pages) || !max_pages)
				return 2;
			break;
		case 'S':
			if (p2p_parse_uint(optarg, &seed))
				return 2;
			break;
		case 'f':
			stop = optarg;
			break;
		default:
			return 2;
		}
	}
	/* A PCI address only: the provider may be absent right now. */
	if (optind != argc - 1 ||
	    p2p_normalize_bdf(argv[optind], bdf, sizeof(bdf)))
		return 2;
	p2p_attr_path(allocate_path, sizeof(allocate_path), bdf, "allocate");
	rnd_seed(seed);
	fault_setup();

	deadline = p2p_now() + seconds;
	while (p2p_now() < deadline && !(stop && !access(stop, F_OK))) {
		fd = open_allocate(O_RDWR);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENODEV) {
				churn.absent++;
				sleep_ms(5);
				continue;
			}
			churn.errors++;
			p2p_err("open %s: %s", allocate_path, strerror(errno));
			sleep_ms(5);
			continue;
		}
		churn.opens++;
		for (k = 0; k < 4; k++)
			churn_one(fd, 1 + rnd_below(max_pages), rnd());
		close(fd);
	}
	printf("churn: %s opens %llu maps %llu refused %llu absent %llu",
	       bdf, (unsigned long long)churn.opens,
	       (unsigned long long)churn.maps,
	       (unsigned long long)churn.refused,
	       (unsigned long long)churn.absent);
	printf(" revoked %llu errors %llu corrupt %llu\n",
	       (unsigned long long)churn.revoked,
	       (unsigned long long)churn.errors,
	       (unsigned long long)churn.corrupt);
	return churn.errors || churn.corrupt ? 1 : 0;
}

/* ---- mmap-fuzz ---- */

enum fixed_mode {
	FIX_NONE,		/* no address hint */
	FIX_OVER,		/* MAP_FIXED over a reserved anonymous range */
	FIX_UNALIGNED,		/* MAP_FIXED at an address not page aligned */
	FIX_NOREPLACE_FREE,	/* MAP_FIXED_NOREPLACE where nothing is mapped */
	FIX_NOREPLACE_BUSY,	/* MAP_FIXED_NOREPLACE over a mapping */
	FIX_MODES,
};

enum post_op {
	POST_NONE,
	POST_MPROTECT_RO,	/* mprotect(PROT_READ), then write: SIGSEGV */
	POST_MPROTECT_RW,	/* mprotect(PROT_READ|PROT_WRITE) round trip */
	POST_DONTNEED,		/* MADV_DONTNEED, then read */
	POST_MADVISE_MISC,	/* a batch of other madvise() advice */
	POST_MREMAP_GROW,	/* must be refused */
	POST_MREMAP_SHRINK,	/* frees the tail */
	POST_MREMAP_MOVE,
	POST_MUNMAP_MIDDLE,	/* frees one page */
	POST_MSYNC,
	POST_MLOCK,
	POST_FORK,		/* a child touches and exits */
	POST_KERNEL_ACCESS,	/* syscalls that read and write the buffer */
	POST_LONGTERM,		/* io_uring fixed buffer: must be refused */
	POST_OPS,
};

static const char * const post_names[POST_OPS] = {
	"none", "mprotect-ro", "mprotect-rw", "dontneed", "madvise",
	"mremap-grow", "mremap-shrink", "mremap-move", "munmap-middle",
	"msync", "mlock", "fork", "kernel-access", "longterm-pin",
};

struct mcase {
	uint64_t len;
	int64_t off;
	int prot;
	int flags;
	int oflags;		/* open() flags of the allocate file */
	enum fixed_mode fixed;
	enum post_op post;
};

static struct {
	unsigned int cases, failed, mapped;
	uint64_t baseline;
} fz;

static void mcase_describe(const struct mcase *m, char *buf, size_t len)
{
	snprintf(buf, len,
		 "len %#llx off %lld prot %#x flags %#x open %s fixed %d post %s",
		 (unsigned long long)m->len, (long long)m->off, m->prot,
		 m->flags,
		 (m->oflags & O_ACCMODE) == O_RDONLY ? "ro" :
		 (m->oflags & O_ACCMODE) == O_WRONLY ? "wo" : "rw",
		 m->fixed, post_names[m->post]);
}

/* Bytes of p2pmem @m takes, or 0 when it can only be refused. */
static uint64_t mcase_pages_bytes(const struct mcase *m)
{
	if (m->len > UINT64_MAX - page)
		return 0;
	return (m->len + page - 1) / page * page;
}

/*
 * The contract: MAP_SHARED (or MAP_SHARED_VALIDATE without unknown
 * flags), offset 0, a length that fits what is free, permissions the open
 * mode allows.  Anything else must be refused without taking p2pmem.
 */
static int mcase_must_fail(const struct mcase *m, uint64_t avail)
{
	int type = m->flags & MAP_TYPE;
	uint64_t bytes = mcase_pages_bytes(m);

	if (m->flags & MAP_ANONYMOUS)
		return 0;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return 1;
	if (type == MAP_SHARED_VALIDATE && (m->flags & MAP_SYNC))
		return 1;
	if (m->off || !m->len || !bytes || bytes > avail)
		return 1;
	if (m->flags & MAP_HUGETLB)
		return 1;
	if ((m->oflags & O_ACCMODE) == O_WRONLY)
		return 1;
	if ((m->oflags & O_ACCMODE) == O_RDONLY && (m->prot & PROT_WRITE))
		return 1;
	if (m->fixed == FIX_UNALIGNED || m->fixed == FIX_NOREPLACE_BUSY)
		return 1;
	return 0;
}

/* Errors a valid request may still get for reasons outside the contract. */
static int mcase_may_fail(const struct mcase *m, int err)
{
	if ((m->prot & PROT_EXEC) && err == EPERM)
		return 1;	/* sysfs is noexec */
	if ((m->flags & MAP_LOCKED) && (err == EAGAIN || err == ENOMEM))
		return 1;
	if ((m->flags & MAP_32BIT) && err == ENOMEM)
		return 1;
	if ((m->flags & MAP_GROWSDOWN) && err == EINVAL)
		return 1;
	/* Flags outside the legacy set (MAP_32BIT, ...) are not validated. */
	if ((m->flags & MAP_TYPE) == MAP_SHARED_VALIDATE && err == EOPNOTSUPP)
		return 1;
	/* Unknown and GROWS* protection bits are the mm's business. */
	if ((m->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) && err == EINVAL)
		return 1;
	if (m->fixed != FIX_NONE && err == ENOMEM)
		return 1;
	return 0;
}

static int touch_pages(char *addr, size_t pages, int prot, uint64_t seed)
{
	size_t i;

	for (i = 0; i < pages; i++) {
		char *p = addr + i * page;

		if (prot & PROT_WRITE)
			p2p_store64(p, page_tag(seed, i));
		if ((prot & PROT_READ) && (prot & PROT_WRITE) &&
		    p2p_load64(p) != page_tag(seed, i))
			return -1;
		if ((prot & PROT_READ) && !(prot & PROT_WRITE))
			p2p_load64(p);
	}
	return 0;
}

/*
 * Run @fn in a child and report how it ended: its exit status, or 128 +
 * the signal that killed it.
 */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
	       WEXITSTATUS(status);
}

static int child_read(void *arg)
{
	p2p_load64(arg);
	return 0;
}

static int child_write(void *arg)
{
	p2p_store64(arg, 0xdead);
	return 0;
}

static int child_touch(void *arg)
{
	p2p_store64(arg, 0x1234);
	return p2p_load64(arg) == 0x1234 ? 0 : 1;
}

/* Why the case failed, shared with the parent that reports it. */
static char *fz_reason;
/* Kernels without CONFIG_ADVISE_SYSCALLS have no madvise(). */
static int have_madvise;

static int fz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fz_reason, 512, fmt, ap);
	va_end(ap);
	return 1;
}

/*
 * Register @len bytes at @addr as an io_uring fixed buffer: a FOLL_LONGTERM
 * pin.  Returns 0 if the kernel took it, -1 if it refused, -2 without
 * io_uring.
 */
static int longterm_pin(void *addr, size_t len)
{
	struct io_uring_params params = { };
	struct iovec iov = { .iov_base = addr, .iov_len = len };
	int ring, ret;

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		return -2;
	ret = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		      &iov, 1);
	close(ring);
	return ret ? -1 : 0;
}

/*
 * What happens after a successful mapping.  Faults the operation makes
 * legitimate (SIGSEGV after mprotect, SIGBUS after MADV_DONTNEED) are run
 * in a child; only broken accounting or kernel errors fail the case.
 */
static int mcase_post(const struct mcase *m, char *addr, size_t pages,
		      uint64_t before)
{
	static const int advice[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTFORK, MADV_DOFORK, MADV_COLD, MADV_PAGEOUT,
		MADV_FREE, MADV_REMOVE, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
		MADV_MERGEABLE, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
		MADV_DONTDUMP, MADV_WIPEONFORK, MADV_KEEPONFORK,
	};
	size_t len = pages * page, i;
	char buf[64], path[64];
	uint64_t got;
	struct iovec local, remote;
	int rc, fds[2], fd;
	void *q;

	switch (m->post) {
	case POST_NONE:
		return 0;
	case POST_MPROTECT_RO:
		if (mprotect(addr, len, PROT_READ))
			return fz_fail("mprotect(PROT_READ): %s", strerror(errno));
		rc = in_child(child_write, addr);
		if (rc != 128 + SIGSEGV)
			return fz_fail("write to a read-only mapping: child status %d", rc);
		return 0;
	case POST_MPROTECT_RW:
		if (mprotect(addr, len, PROT_READ) ||
		    mprotect(addr, len, PROT_READ | PROT_WRITE))
			return fz_fail("mprotect round trip: %s", strerror(errno));
		rc = in_child(child_touch, addr);
		if (rc)
			return fz_fail("write after mprotect(RW): child status %d", rc);
		return 0;
	case POST_DONTNEED:
		if (!have_madvise)
			return 0;
		if (madvise(addr, len, MADV_DONTNEED))
			return fz_fail("MADV_DONTNEED: %s", strerror(errno));
		rc = in_child(child_read, addr);
		if (rc && rc != 128 + SIGBUS)
			return fz_fail("read after MADV_DONTNEED: child status %d", rc);
		if (verbose)
			printf("# read after MADV_DONTNEED: %s\n",
			       rc ? "SIGBUS" : "ok");
		return 0;
	case POST_MADVISE_MISC:
		for (i = 0; i < ARRAY_SIZE(advice); i++)
			madvise(addr, len, advice[i]);
		return 0;
	case POST_MREMAP_GROW:
		q = mremap(addr, len, len + page, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 0;
		munmap(q, len + page);
		if (!base_tree)
			return fz_fail("mremap grew the mapping");
		printf("# base tree: mremap grew a mapping (no VM_DONTEXPAND)\n");
		return 0;
	case POST_MREMAP_SHRINK:
		if (pages < 2)
			return 0;
		q = mremap(addr, len, page, 0);
		if (q == MAP_FAILED)
			return fz_fail("mremap shrink: %s", strerror(errno));
		if (p2p_wait_available(bdf, before + len - page, &got,
				       SETTLE_MS) && errno == EAGAIN)
			return fz_fail("mremap shrink freed %lld bytes, not %zu",
				       (long long)(got - before), len - page);
		return 0;
	case POST_MREMAP_MOVE:
		q = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (q == MAP_FAILED)
			return 0;
		q = mremap(addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, q);
		if (q == MAP_FAILED)
			return 0;
		if ((m->prot & PROT_READ) && (m->prot & PROT_WRITE) &&
		    touch_pages(q, pages, m->prot, 7))
			return fz_fail("moved mapping does not read back");
		return 0;
	case POST_MUNMAP_MIDDLE:
		if (pages < 3)
			return 0;
		if (munmap(addr + page, page))
			return fz_fail("munmap of one page: %s", strerror(errno));
		if (p2p_wait_available(bdf, before + page, &got,
				       SETTLE_MS) && errno == EAGAIN)
			return fz_fail("unmapping one page freed %lld bytes",
				       (long long)(got - before));
		return 0;
	case POST_MSYNC:
		if (msync(addr, len, MS_SYNC) || msync(addr, len, MS_ASYNC))
			return fz_fail("msync: %s", strerror(errno));
		msync(addr, len, MS_INVALIDATE);
		return 0;
	case POST_MLOCK:
		if (mlock(addr, len) == 0)
			munlock(addr, len);
		return 0;
	case POST_FORK:
		if (!(m->prot & PROT_WRITE) || !(m->prot & PROT_READ))
			return 0;
		rc = in_child(child_touch, addr);
		if (rc)
			return fz_fail("child of fork() cannot use the mapping: status %d", rc);
		if (p2p_load64(addr) != 0x1234)
			return fz_fail("the parent does not see the child's write");
		return 0;
	case POST_KERNEL_ACCESS:
		if (!(m->prot & PROT_READ))
			return 0;
		/* copy_{to,from}_user through a pipe work on device memory */
		if (pipe(fds))
			return 0;
		if (write(fds[1], addr, 32) != 32)
			rc = fz_fail("write(2) from the mapping: %s",
				     strerror(errno));
		else
			rc = read(fds[0], buf, 32) == 32 ? 0 :
			     fz_fail("pipe read back");
		close(fds[0]);
		close(fds[1]);
		if (rc)
			return rc;
		/* GUP without FOLL_PCI_P2PDMA: refused or served, never a crash */
		local.iov_base = buf;
		local.iov_len = 32;
		remote.iov_base = addr;
		remote.iov_len = 32;
		process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		snprintf(path, sizeof(path), "/proc/%d/mem", getpid());
		fd = open(path, O_RDWR);
		if (fd >= 0) {
			if (pread(fd, buf, 32, (off_t)(uintptr_t)addr) < 0 &&
			    verbose)
				printf("# /proc/self/mem read: %s\n",
				       strerror(errno));
			close(fd);
		}
		if (pipe(fds) == 0) {
			local.iov_base = addr;
			local.iov_len = page;
			vmsplice(fds[1], &local, 1, SPLICE_F_NONBLOCK);
			close(fds[0]);
			close(fds[1]);
		}
		return 0;
	case POST_LONGTERM:
		/* A long-term pin would hold up the provider's removal. */
		if (!longterm_pin(addr, len))
			return fz_fail("io_uring took p2pmem as a fixed buffer");
		return 0;
	default:
		return 0;
	}
}

struct mcase_run {
	const struct mcase *m;
	uint64_t avail;
};

/* One case, in its own process; returns nonzero on a contract violation. */
static int mcase_child(void *arg)
{
	const struct mcase *m = ((struct mcase_run *)arg)->m;
	uint64_t avail = ((struct mcase_run *)arg)->avail;
	uint64_t bytes = mcase_pages_bytes(m), now;
	int must_fail = mcase_must_fail(m, avail);
	char *hint = NULL, *addr;
	size_t pages = bytes / page;
	int fd, flags = m->flags;

	fd = open_allocate(m->oflags);
	if (fd < 0)
		return fz_fail("open %s: %s", allocate_path, strerror(errno));

	if (m->fixed != FIX_NONE && bytes && bytes < (1ULL << 40)) {
		hint = mmap(NULL, bytes + 2 * page, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (hint == MAP_FAILED)
			hint = NULL;
		else
			hint += page;
	}
	switch (m->fixed) {
	case FIX_OVER:
		flags |= MAP_FIXED;
		break;
	case FIX_UNALIGNED:
		flags |= MAP_FIXED;
		if (hint)
			hint += 123;
		break;
	case FIX_NOREPLACE_FREE:
		flags |= MAP_FIXED_NOREPLACE;
		if (hint)
			munmap(hint - page, bytes + 2 * page);
		break;
	case FIX_NOREPLACE_BUSY:
		flags |= MAP_FIXED_NOREPLACE;
		break;
	default:
		break;
	}
	if (!hint && m->fixed != FIX_NONE)
		must_fail = must_fail || m->fixed == FIX_UNALIGNED;

	addr = mmap(hint, m->len, m->prot, flags, fd, m->off);
	if (addr == MAP_FAILED) {
		int err = errno;

		now = avail_now();
		if (now != avail)
			return fz_fail("refused mmap (%s) changed available %llu -> %llu",
				       strerror(err), (unsigned long long)avail,
				       (unsigned long long)now);
		if (must_fail || (m->flags & MAP_ANONYMOUS) ||
		    mcase_may_fail(m, err))
			return 0;
		if (m->fixed == FIX_NOREPLACE_BUSY || !hint)
			return 0;
		return fz_fail("valid mmap refused: %s", strerror(err));
	}
	if (must_fail)
		return fz_fail("mmap accepted, the contract says it must be refused");
	if (m->fixed == FIX_OVER && hint && addr != hint)
		return fz_fail("MAP_FIXED mapped at %p, not %p", addr, hint);

	now = avail_now();
	if (m->flags & MAP_ANONYMOUS) {
		if (now != avail)
			return fz_fail("an anonymous mapping took p2pmem");
		return 0;
	}
	if (now != avail - bytes)
		return fz_fail("available %llu after mapping %llu bytes, expected %llu",
			       (unsigned long long)now,
			       (unsigned long long)bytes,
			       (unsigned long long)(avail - bytes));
	if (m->prot & (PROT_READ | PROT_WRITE)) {
		if (touch_pages(addr, pages, m->prot, 42))
			return fz_fail("mapping does not read back what was written");
	}
	return mcase_post(m, addr, pages, now);
}

static void mcase_run(const struct mcase *m, const char *what)
{
	struct mcase_run r = { .m = m };
	char desc[256];
	uint64_t got;
	int rc;

	fz.cases++;
	r.avail = avail_now();
	if (r.avail != fz.baseline) {
		p2p_err("available is %llu before the case, not %llu",
			(unsigned long long)r.avail,
			(unsigned long long)fz.baseline);
		fz.baseline = r.avail;
	}
	fz_reason[0] = '\0';
	rc = in_child(mcase_child, &r);
	if (p2p_wait_available(bdf, fz.baseline, &got, SETTLE_MS)) {
		mcase_describe(m, desc, sizeof(desc));
		printf("FAIL %s case %u (%s): available %llu, not %llu, after the case\n",
		       what, fz.cases, desc, (unsigned long long)got,
		       (unsigned long long)fz.baseline);
		fz.failed++;
		fz.baseline = got;
		return;
	}
	if (rc) {
		mcase_describe(m, desc, sizeof(desc));
		if (rc > 128)
			snprintf(fz_reason, 512, "killed by %s",
				 strsignal(rc - 128));
		printf("FAIL %s case %u (%s): %s\n", what, fz.cases, desc,
		       fz_reason);
		fz.failed++;
	} else if (verbose) {
		mcase_describe(m, desc, sizeof(desc));
		printf("# ok %s case %u (%s)\n", what, fz.cases, desc);
	}
}

static void mmap_table(uint64_t avail)
{
	const int rw = PROT_READ | PROT_WRITE;
	const uint64_t pg = page;
	const struct mcase table[] = {
		/* lengths */
		{ 1, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg - 1, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg + 1, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ 17 * pg + 5, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ avail, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ avail + 1, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ avail + pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ 0, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ 1ULL << 40, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ (1ULL << 48) + pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ 1ULL << 62, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ UINT64_MAX, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ UINT64_MAX - pg + 2, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		/* offsets */
		{ pg, (int64_t)pg, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 1, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, -(int64_t)pg, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 1LL << 40, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, (1LL << 40) - (int64_t)pg, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, INT64_MAX & ~(int64_t)(pg - 1), rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ 2 * pg, (int64_t)(avail - pg), rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		/* mapping types and flags */
		{ pg, 0, rw, MAP_PRIVATE, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, PROT_READ, MAP_PRIVATE, O_RDONLY, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED_VALIDATE, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED | MAP_SYNC, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED | MAP_PRIVATE, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw, 0, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_POPULATE, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_LOCKED, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_NORESERVE, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_HUGETLB, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_32BIT, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_GROWSDOWN, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_STACK, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_UNINITIALIZED, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_ANONYMOUS, O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED | MAP_DENYWRITE | MAP_EXECUTABLE,
		  O_RDWR, FIX_NONE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_OVER, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_UNALIGNED, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NOREPLACE_FREE, POST_NONE },
		{ 4 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NOREPLACE_BUSY, POST_NONE },
		/* protections and open modes */
		{ pg, 0, PROT_NONE, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, PROT_READ, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, PROT_WRITE, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw | PROT_EXEC, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw | PROT_GROWSDOWN, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, rw | PROT_GROWSUP, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, 0x100 | rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_NONE },
		{ pg, 0, PROT_READ, MAP_SHARED, O_RDONLY, FIX_NONE, POST_NONE },
		{ pg, 0, rw, MAP_SHARED, O_RDONLY, FIX_NONE, POST_NONE },
		{ pg, 0, PROT_READ, MAP_SHARED, O_WRONLY, FIX_NONE, POST_NONE },
		/* what a valid mapping goes through afterwards */
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MPROTECT_RO },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MPROTECT_RW },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_DONTNEED },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MADVISE_MISC },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MREMAP_GROW },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MREMAP_SHRINK },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MREMAP_MOVE },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MUNMAP_MIDDLE },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MSYNC },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MLOCK },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_FORK },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_KERNEL_ACCESS },
		{ 8 * pg, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_LONGTERM },
		{ avail, 0, rw, MAP_SHARED, O_RDWR, FIX_NONE, POST_MUNMAP_MIDDLE },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(table); i++)
		mcase_run(&table[i], "table");
}

static uint64_t pick_len(uint64_t avail)
{
	switch (rnd_below(10)) {
	case 0:
		return 0;
	case 1:
		return avail;
	case 2:
		return avail + 1 + rnd_below(2 * page);
	case 3:
		return rnd() >> rnd_below(64);
	case 4:
		return 1 + rnd_below(page);
	default:
		return (1 + rnd_below(64)) * page - rnd_below(2) * rnd_below(page);
	}
}

static int64_t pick_off(void)
{
	switch (rnd_below(12)) {
	case 0:
		return (int64_t)page * (1 + rnd_below(1024));
	case 1:
		return 1 + rnd_below(page - 1);
	case 2:
		return -(int64_t)page;
	case 3:
		return (int64_t)(rnd() & ~(uint64_t)(page - 1) & INT64_MAX);
	default:
		return 0;
	}
}

static void mmap_random(unsigned int iterations, uint64_t avail)
{
	static const int types[] = {
		MAP_SHARED, MAP_SHARED, MAP_SHARED, MAP_SHARED_VALIDATE,
		MAP_PRIVATE, 0,
	};
	static const int extra[] = {
		MAP_POPULATE, MAP_LOCKED, MAP_NORESERVE, MAP_HUGETLB, MAP_32BIT,
		MAP_GROWSDOWN, MAP_STACK, MAP_SYNC, MAP_ANONYMOUS,
		MAP_UNINITIALIZED,
	};
	static const int oflags[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY, O_WRONLY };
	struct mcase m;
	unsigned int i, k;

	for (i = 0; i < iterations; i++) {
		memset(&m, 0, sizeof(m));
		m.len = pick_len(avail);
		m.off = pick_off();
		m.prot = rnd_below(8) ? (PROT_READ | PROT_WRITE) : rnd_below(8);
		if (!rnd_below(16))
			m.prot |= rnd_below(2) ? PROT_GROWSDOWN : PROT_GROWSUP;
		m.flags = types[rnd_below(ARRAY_SIZE(types))];
		for (k = 0; k < ARRAY_SIZE(extra); k++)
			if (!rnd_below(12))
				m.flags |= extra[k];
		m.oflags = oflags[rnd_below(ARRAY_SIZE(oflags))];
		m.fixed = rnd_below(3) ? FIX_NONE : rnd_below(FIX_MODES);
		m.post = rnd_below(2) ? POST_NONE : rnd_below(POST_OPS);
		/* Huge mappings with post operations only waste time. */
		if (mcase_pages_bytes(&m) > avail)
			m.post = POST_NONE;
		mcase_run(&m, "random");
	}
}

static int cmd_mmap_fuzz(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "base", no_argument, NULL, 'b' },
		{ }
	};
	unsigned int iterations = 200, seed = 1, table_cases;
	int c;

	while ((c = getopt_long(argc, argv, "n:S:vb", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (p2p_parse_uint(optarg, &iterations))
				return 2;
			break;
		case 'S':
			if (p2p_parse_uint(optarg, &seed))
				return 2;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'b':
			base_tree = 1;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	if (resolve(argv[optind]))
		return 1;
	rnd_seed(seed);
	fz_reason = mmap(NULL, 512, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fz_reason == MAP_FAILED)
		return 1;
	have_madvise = !madvise(fz_reason, page, MADV_NORMAL);
	if (!have_madvise)
		printf("# no madvise() in this kernel: %s\n", strerror(errno));
	fz.baseline = avail_now();
	if (fz.baseline == UINT64_MAX || fz.baseline < 64 * page) {
		p2p_err("%s: too little p2pmem available", bdf);
		return 1;
	}
	printf("mmap-fuzz: provider %s, %llu bytes available, seed %u\n", bdf,
	       (unsigned long long)fz.baseline, seed);
	mmap_table(fz.baseline);
	table_cases = fz.cases;
	mmap_random(iterations, fz.baseline);
	printf("mmap-fuzz: %u table and %u random cases, %u failed\n",
	       table_cases, fz.cases - table_cases, fz.failed);
	return fz.failed ? 1 : 0;
}

/* ---- attr-fuzz ---- */

enum grammar { G_P2PMEM, G_HOST_BRIDGES };

#define AF_MAX_INPUT	6000
#define AF_MAX_PROVIDERS 16

static struct {
	enum grammar grammar;
	const char *path;
	size_t limit;		/* bytes of one write() the store sees */
	int lenient;
	char *providers[AF_MAX_PROVIDERS];
	unsigned int nr_providers;
	unsigned int cases, failed;
} af;

/* Expected outcome of a write: accepted with @shown read back, or refused. */
struct verdict {
	int accept;
	char shown[512];
};

static int read_attr(char *buf, size_t len)
{
	if (p2p_sysfs_read(af.path, buf, len))
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The string the kernel's parser sees: up to the first NUL, within limit. */
static size_t effective(const char *in, size_t len, char *out, size_t outlen)
{
	size_t n = len < af.limit ? len : af.limit;

	n = strnlen(in, n);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, in, n);
	out[n] = '\0';
	return n;
}

static int is_bool_word(const char *s, int *val)
{
	static const char * const yes[] = { "1", "y", "yes", "on", "true" };
	static const char * const no[] = { "0", "n", "no", "off", "false" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*val = 1;
			return 1;
		}
		if (!strcasecmp(s, no[i])) {
			*val = 0;
			return 1;
		}
	}
	return 0;
}

static void verdict_p2pmem(const char *in, size_t len, struct verdict *v)
{
	char s[AF_MAX_INPUT + 1];
	size_t n = effective(in, len, s, sizeof(s));
	unsigned int i;
	int val;

	v->accept = 0;
	if (n && s[n - 1] == '\n')
		s[--n] = '\0';
	if (!n || strchr(s, '\n') || n >= 24)
		return;
	if (is_bool_word(s, &val)) {
		v->accept = 1;
		snprintf(v->shown, sizeof(v->shown), "%d", val);
		return;
	}
	for (i = 0; i < af.nr_providers; i++) {
		if (!strcmp(s, af.providers[i])) {
			v->accept = 1;
			snprintf(v->shown, sizeof(v->shown), "%.64s", s);
			return;
		}
	}
}

static int hex4(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static void verdict_host_bridges(const char *in, size_t len, struct verdict *v)
{
	char s[AF_MAX_INPUT + 1], *p, *out = v->shown;
	size_t n = effective(in, len, s, sizeof(s));
	unsigned int entries = 0, i;

	v->accept = 0;
	if (n && s[n - 1] == '\n')
		s[--n] = '\0';
	v->shown[0] = '\0';
	if (!n) {
		v->accept = 1;
		return;
	}
	for (p = s;;) {
		if (strlen(p) < 9 || !hex4(p) || p[4] != ':' || !hex4(p + 5) ||
		    ++entries > 16)
			return;
		if (out != v->shown)
			*out++ = ',';
		for (i = 0; i < 9; i++)
			*out++ = tolower((unsigned char)p[i]);
		*out = '\0';
		p += 9;
		if (!*p)
			break;
		if (*p++ != ',')
			return;
	}
	v->accept = 1;
}

/* Lenient mode: any value the attribute can legitimately show. */
static int plausible(const char *shown)
{
	struct verdict v;
	unsigned int i;

	if (af.grammar == G_HOST_BRIDGES) {
		verdict_host_bridges(shown, strlen(shown), &v);
		return v.accept;
	}
	if (!strcmp(shown, "0") || !strcmp(shown, "1"))
		return 1;
	for (i = 0; i < af.nr_providers; i++)
		if (!strcmp(shown, af.providers[i]))
			return 1;
	return 0;
}

static void escape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < outlen; i++) {
		unsigned char c = in[i];

		if (c == '\n')
			o += sprintf(out + o, "\\n");
		else if (c == '\\')
			o += sprintf(out + o, "\\\\");
		else if (isprint(c))
			out[o++] = c;
		else
			o += sprintf(out + o, "\\x%02x", c);
	}
	out[o] = '\0';
	if (i < len)
		snprintf(out + o, outlen - o, "...(%zu bytes)", len);
}

static void af_case(const char *in, size_t len, const char *what)
{
	char before[512], after[512], esc[160];
	struct verdict v;
	const char *why = NULL;
	ssize_t ret;
	int fd, err = 0;

	af.cases++;
	if (read_attr(before, sizeof(before))) {
		p2p_err("read %s: %s", af.path, strerror(errno));
		af.failed++;
		return;
	}
	fd = open(af.path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		p2p_err("open %s: %s", af.path, strerror(errno));
		af.failed++;
		return;
	}
	ret = write(fd, in, len);
	if (ret < 0)
		err = errno;
	close(fd);
	if (read_attr(after, sizeof(after))) {
		p2p_err("read %s: %s", af.path, strerror(errno));
		af.failed++;
		return;
	}

	if (af.grammar == G_P2PMEM)
		verdict_p2pmem(in, len, &v);
	else
		verdict_host_bridges(in, len, &v);

	if (!len) {
		/* sysfs returns 0, configfs -EFAULT: either way, no change */
		if (strcmp(before, after))
			why = "an empty write changed the value";
	} else if (ret < 0 && strcmp(before, after)) {
		why = "refused, but the value changed";
	} else if (ret >= 0 && !plausible(after)) {
		why = "accepted, and the value shown is not one the grammar allows";
	} else if (af.lenient) {
		why = NULL;
	} else if (v.accept && ret < 0) {
		why = "refused, the grammar accepts it";
	} else if (!v.accept && ret >= 0) {
		why = "accepted, the grammar refuses it";
	} else if (v.accept && (size_t)ret != (len < af.limit ? len : af.limit)) {
		why = "accepted, but write() returned a short count";
	} else if (v.accept && strcmp(after, v.shown)) {
		why = "accepted, but shows something else";
	}

	escape(in, len, esc, sizeof(esc));
	if (why) {
		af.failed++;
		printf("FAIL %s \"%s\": %s (write %zd%s%s, ", what, esc, why,
		       ret, err ? " " : "", err ? strerror(err) : "");
		printf("before \"%s\", after \"%s\", expected %s \"%s\")\n",
		       before, after, v.accept ? "accepted" : "refused",
		       v.accept ? v.shown : before);
	} else if (verbose) {
		printf("# ok %s \"%s\": %s%s, shows \"%s\"\n", what, esc,
		       ret < 0 ? "refused: " : "accepted",
		       ret < 0 ? strerror(err) : "", after);
	}
}

static void af_str(const char *s, const char *what)
{
	af_case(s, strlen(s), what);
}

static void af_table_p2pmem(void)
{
	static const char * const words[] = {
		"0", "1", "y", "Y", "n", "N", "yes", "YES", "yEs", "no", "on",
		"ON", "off", "Off", "true", "TRUE", "false", "FaLsE",
		"1\n", "0\n", "off\n",
		"", "\n", "\n\n", "1\n\n", "\n1", " 1", "1 ", "1\r\n", "\t1",
		"yes-please", "no:such:dev", "offf", "of", "tru", "truee", "2",
		"-1", "01", "0x1", "+1", "yes\nno", "nO\n", "%s%s%n%n",
		"../../../../etc/passwd", "\xff\xfe\xfd", "\x7f", "\x1b[2J",
		"0000:00:1f.7", "ffff:ff:1f.7", "ffffffff:ff:1f.7",
		"fffffffff:ff:1f.7", "0000:00:00.0", "0000:00:01.0",
		"0000:00:1f.0", "0000:00:1f.2", "00:00.0", "0000:00:00",
		":00:00.0", "0000::00.0", "0000:00:00.", "0000:zz:00.0",
		"pci0000:00", "nvme0", "nvme0n1",
	};
	char buf[AF_MAX_INPUT], name[64];
	unsigned int i, p;
	size_t n;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		af_str(words[i], "table");
	af_case("1\0garbage", 9, "table");
	af_case("\0", 1, "table");
	af_case("0\0\n", 3, "table");

	/* Near misses of each provider's name. */
	for (p = 0; p < af.nr_providers; p++) {
		const char *b = af.providers[p];
		static const char * const fmts[] = {
			"%s", "%s\n", "%s\n\n", " %s", "%s ", "%s\r", "%s\t",
			"0%s", "%s0", "x%s", "%s,%s", "%s\n%s", "%s%s",
		};

		for (i = 0; i < ARRAY_SIZE(fmts); i++) {
			snprintf(name, sizeof(name), fmts[i], b, b);
			af_str(name, "near-miss");
		}
		snprintf(name, sizeof(name), "%s", b + 1);	/* "000:03:00.0" */
		af_str(name, "near-miss");
		snprintf(name, sizeof(name), "%.*s", (int)strlen(b) - 1, b);
		af_str(name, "near-miss");
		snprintf(name, sizeof(name), "%s", b + 5);	/* "03:00.0" */
		af_str(name, "near-miss");
		for (i = 0; b[i]; i++) {
			snprintf(name, sizeof(name), "%s", b);
			name[i] = toupper((unsigned char)b[i]) != b[i] ?
				  toupper((unsigned char)b[i]) :
				  isdigit((unsigned char)b[i]) ?
				  (b[i] == '9' ? '0' : b[i] + 1) : '_';
			af_str(name, "near-miss");
		}
		n = snprintf(buf, sizeof(buf), "%s", b);
		buf[n] = '\0';
		af_case(buf, n + 1, "near-miss");	/* with its NUL */
		memcpy(buf + n + 1, "junk", 4);
		af_case(buf, n + 5, "near-miss");
	}

	/* Long ones: at, around and beyond one page. */
	for (n = 0; n < sizeof(buf); n++)
		buf[n] = "0123456789abcdef:."[n % 18];
	af_case(buf, 23, "long");
	af_case(buf, 24, "long");
	af_case(buf, 4095, "long");
	af_case(buf, 4096, "long");
	af_case(buf, 5000, "long");
	memset(buf, '1', sizeof(buf));
	af_case(buf, 4095, "long");
	memset(buf, '\n', sizeof(buf));
	af_case(buf, 4096, "long");
}

static void af_table_host_bridges(void)
{
	static const char * const words[] = {
		"", "\n", "8086:29c0", "8086:29C0", "8086:29c0\n",
		"8086:29c0,1022:1480", "8086:29c0,1022:1480\n", "abcd:ef01",
		"8086:29c0\n\n", "\n8086:29c0", "8086", "8086:", ":29c0",
		"8086:29c", "8086:29c00", "808:629c0", "8086-29c0",
		"0x8086:0x29c0", "8086:29c0,", ",8086:29c0",
		"8086:29c0,,1022:1480", " 8086:29c0", "8086:29c0 ",
		"8086:29c0\r", "g086:29c0", "8086:29cg", "8086:29c0;1022:1480",
		"8086:29c0, 1022:1480", "8086 :29c0", "8086::29c0",
		"*:*", "8086:*", "ffff:ffff", "0000:0000", "-1", "1",
		"8086:29c0,1022:1480,1022:1480", "%s%n", "\xff\xfe",
	};
	char buf[AF_MAX_INPUT];
	unsigned int i, k;
	size_t n;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		af_str(words[i], "table");
	af_case("8086:29c0\0garbage", 17, "table");
	af_case("\0008086:29c0", 10, "table");
	af_case("8086:29c0,\0", 11, "table");

	/* 15, 16 and 17 entries, and separators on the edges. */
	for (k = 15; k <= 17; k++) {
		for (i = 0, n = 0; i < k; i++)
			n += sprintf(buf + n, "%s%04x:%04x", i ? "," : "",
				     0x1000 + i, 0x2000 + i);
		af_case(buf, n, "table");
		buf[n] = '\n';
		af_case(buf, n + 1, "table");
	}
	for (n = 0; n + 10 <= sizeof(buf); n += 10)
		memcpy(buf + n, "8086:29c0,", 10);
	af_case(buf, 4096, "long");
	af_case(buf, 4095, "long");
	af_case(buf, 5000, "long");
	memset(buf, 'f', sizeof(buf));
	af_case(buf, 4096, "long");
}

/* A valid input of the grammar, as a seed for mutations. */
static size_t af_valid(char *buf)
{
	static const char * const words[] = {
		"1", "0", "yes", "no", "on", "off", "true", "false", "y", "n",
	};
	unsigned int i, k;
	size_t n = 0;

	if (af.grammar == G_HOST_BRIDGES) {
		k = rnd_below(18);
		for (i = 0; i < k; i++)
			n += sprintf(buf + n, "%s%04x:%04x", i ? "," : "",
				     (unsigned int)rnd_below(0x10000),
				     (unsigned int)rnd_below(0x10000));
		return n;
	}
	if (af.nr_providers && rnd_below(2))
		return sprintf(buf, "%s",
			       af.providers[rnd_below(af.nr_providers)]);
	return sprintf(buf, "%s", words[rnd_below(ARRAY_SIZE(words))]);
}

static void af_random(unsigned int iterations)
{
	static const char alphabet[] = "0123456789abcdefABCDEF:.,\n \tyesnoftrux";
	char buf[AF_MAX_INPUT];
	unsigned int i, k, edits;
	size_t n, at;

	for (i = 0; i < iterations; i++) {
		switch (rnd_below(4)) {
		case 0:	/* random bytes, any value */
			n = rnd_below(64);
			for (k = 0; k < n; k++)
				buf[k] = rnd();
			break;
		case 1:	/* random characters of the grammar's alphabet */
			n = rnd_below(rnd_below(8) ? 40 : sizeof(buf));
			for (k = 0; k < n; k++)
				buf[k] = alphabet[rnd_below(sizeof(alphabet) - 1)];
			break;
		default: /* a valid input with a few edits */
			n = af_valid(buf);
			edits = rnd_below(4);
			for (k = 0; k < edits && n + 2 < sizeof(buf); k++) {
				at = rnd_below(n + 1);
				switch (rnd_below(5)) {
				case 0:	/* insert */
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = alphabet[rnd_below(sizeof(alphabet) - 1)];
					n++;
					break;
				case 1:	/* delete */
					if (at < n) {
						memmove(buf + at, buf + at + 1,
							n - at - 1);
						n--;
					}
					break;
				case 2:	/* replace */
					if (at < n && rnd_below(4))
						buf[at] = alphabet[rnd_below(sizeof(alphabet) - 1)];
					else if (at < n)
						buf[at] = rnd();
					break;
				case 3:	/* trailing newline or NUL */
					buf[n++] = rnd_below(2) ? '\n' : '\0';
					break;
				default: /* flip case */
					if (at < n)
						buf[at] ^= isalpha((unsigned char)buf[at]) ?
							   0x20 : 0;
					break;
				}
			}
			break;
		}
		af_case(buf, n, "random");
	}
}

static int cmd_attr_fuzz(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "grammar", required_argument, NULL, 'g' },
		{ "providers", required_argument, NULL, 'p' },
		{ "lenient", no_argument, NULL, 'l' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ }
	};
	unsigned int iterations = 300, seed = 1, table_cases;
	char original[512], *list = NULL, *tok, *save;
	int c, fd;

	af.grammar = -1;
	while ((c = getopt_long(argc, argv, "g:p:ln:S:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (!strcmp(optarg, "p2pmem"))
				af.grammar = G_P2PMEM;
			else if (!strcmp(optarg, "host_bridges"))
				af.grammar = G_HOST_BRIDGES;
			else
				return 2;
			break;
		case 'p':
			list = optarg;
			break;
		case 'l':
			af.lenient = 1;
			break;
		case 'n':
			if (p2p_parse_uint(optarg, &iterations))
				return 2;
			break;
		case 'S':
			if (p2p_parse_uint(optarg, &seed))
				return 2;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || (int)af.grammar < 0)
		return 2;
	af.path = argv[optind];
	/* configfs stores see at most a page minus its NUL, sysfs a page */
	af.limit = af.grammar == G_P2PMEM ? 4095 : 4096;
	for (tok = list ? strtok_r(list, ",", &save) : NULL;
	     tok && af.nr_providers < AF_MAX_PROVIDERS;
	     tok = strtok_r(NULL, ",", &save))
		af.providers[af.nr_providers++] = tok;
	rnd_seed(seed);
	if (read_attr(original, sizeof(original))) {
		p2p_err("read %s: %s", af.path, strerror(errno));
		return 1;
	}
	printf("attr-fuzz: %s (%s grammar%s), value \"%s\", seed %u\n",
	       af.path, af.grammar == G_P2PMEM ? "p2pmem" : "host_bridges",
	       af.lenient ? ", lenient" : "", original, seed);

	if (af.grammar == G_P2PMEM)
		af_table_p2pmem();
	else
		af_table_host_bridges();
	table_cases = af.cases;
	af_random(iterations);

	/* Put the original value back. */
	fd = open(af.path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (!original[0])
			snprintf(original, sizeof(original), "\n");
		if (write(fd, original, strlen(original)) < 0)
			p2p_err("restoring \"%s\": %s", original,
				strerror(errno));
		close(fd);
	}
	printf("attr-fuzz: %u table and %u random cases, %u failed\n",
	       table_cases, af.cases - table_cases, af.failed);
	return af.failed ? 1 : 0;
}

static void show_help(FILE *f)
{
	fprintf(f,
		"usage: p2pmem-fault COMMAND [options] ARG\n"
		"\n"
		"  hold [--size S] [--seconds N] [--touch] [--interval-ms M] [--ready FILE] PROVIDER\n"
		"      map S bytes (default 1M) and keep them for N seconds (default 60),\n"
		"      rewriting and checking every page when --touch is given; FILE is\n"
		"      created once the mapping is up.  Exits 3 on SIGBUS.\n"
		"  churn [--seconds N] [--max-pages P] [--seed S] [--stop-file F] BDF\n"
		"      map, tag, check and unmap 1..P pages in a loop for N seconds or\n"
		"      until F exists; the provider may disappear and come back.\n"
		"  mmap-fuzz [--iterations N] [--seed S] [--verbose] [--base] PROVIDER\n"
		"      a table of mmap() arguments, then N random ones (--base: the\n"
		"      base tree's mremap() growing a mapping is not a failure).\n"
		"  attr-fuzz --grammar p2pmem|host_bridges [--providers A,B] [--lenient]\n"
		"            [--iterations N] [--seed S] [--verbose] FILE\n"
		"      a table of writes to FILE, then N random ones, each checked\n"
		"      against the grammar (--lenient: only that a refused write\n"
		"      changes nothing and an accepted one shows a valid value).\n"
		"\n"
		"PROVIDER is a PCI address or serial:SERIAL.  Exit status: 0 pass,\n"
		"1 fail, 2 bad usage, 3 SIGBUS (hold).\n");
}

int main(int argc, char **argv)
{
	const char *cmd;
	int ret;

	p2p_prog = "p2pmem-fault";
	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		show_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	argv++;
	argc--;
	if (!strcmp(cmd, "hold"))
		ret = cmd_hold(argc, argv);
	else if (!strcmp(cmd, "churn"))
		ret = cmd_churn(argc, argv);
	else if (!strcmp(cmd, "mmap-fuzz"))
		ret = cmd_mmap_fuzz(argc, argv);
	else if (!strcmp(cmd, "attr-fuzz"))
		ret = cmd_attr_fuzz(argc, argv);
	else
		ret = 2;
	if (ret == 2)
		show_help(stderr);
	return ret;
}
