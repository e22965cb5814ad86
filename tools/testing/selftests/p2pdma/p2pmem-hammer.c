// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-hammer: stress one provider's allocate file from many processes
 * and threads at once.
 *
 * Every worker repeatedly maps 1..max-pages pages, tags each page with its
 * own value, and keeps the mapping in one of a few slots until the slot is
 * reused, so allocations of different sizes and lifetimes interleave and
 * fragment the pool.  A slot's tags are checked before it is unmapped: a
 * page handed to two mappings at once shows up as corruption.  Running out
 * of p2pmem is counted, not fatal; every other error is.  At the end the
 * provider's `available` must be back where it started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "p2pmem-common.h"

#define MAX_WORKERS	1024
#define MAX_SLOTS	64
#define SETTLE_MS	2000

/* Per-worker counters, in memory shared by all processes. */
struct worker_stats {
	uint64_t ops;		/* mmap attempts */
	uint64_t mapped;	/* successful mmaps */
	uint64_t failed;	/* mmaps refused for lack of memory */
	uint64_t errors;	/* any other failure */
	uint64_t corrupt;	/* pages not holding their tags */
};

struct slot {
	char *addr;
	size_t pages;
	uint64_t tag;
};

static struct {
	unsigned int procs;
	unsigned int threads;
	unsigned int ops;
	unsigned int max_pages;
	unsigned int slots;
	unsigned int seed;
} opt = {
	.procs = 4,
	.threads = 1,
	.ops = 1000,
	.max_pages = 64,
	.slots = 4,
	.seed = 1,
};

static char bdf[P2P_BDF_LEN];
static char allocate_path[PATH_MAX];
static struct worker_stats *stats;
static size_t page;

static uint64_t next_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static uint64_t page_tag(uint64_t tag, size_t i, int last)
{
	return (tag + 2 * i + last) * 0x9e3779b97f4a7c15ULL;
}

static void tag_slot(struct slot *s)
{
	uint64_t *w;
	size_t i;

	for (i = 0; i < s->pages; i++) {
		w = (uint64_t *)(s->addr + i * page);
		p2p_store64(&w[0], page_tag(s->tag, i, 0));
		p2p_store64(&w[page / 8 - 1], page_tag(s->tag, i, 1));
	}
}

static uint64_t bad_pages(const struct slot *s)
{
	const uint64_t *w;
	uint64_t bad = 0;
	size_t i;

	for (i = 0; i < s->pages; i++) {
		w = (const uint64_t *)(s->addr + i * page);
		if (p2p_load64(&w[0]) != page_tag(s->tag, i, 0) ||
		    p2p_load64(&w[page / 8 - 1]) != page_tag(s->tag, i, 1))
			bad++;
	}
	return bad;
}

/* Check and unmap a slot's mapping, if it holds one. */
static void release_slot(unsigned int id, struct slot *s,
			 struct worker_stats *st)
{
	uint64_t bad;

	if (!s->addr)
		return;
	bad = bad_pages(s);
	if (bad) {
		st->corrupt += bad;
		p2p_err("worker %u: %llu of %zu pages lost their tags", id,
			(unsigned long long)bad, s->pages);
	}
	if (munmap(s->addr, s->pages * page)) {
		st->errors++;
		p2p_err("worker %u: munmap %zu pages: %s", id, s->pages,
			strerror(errno));
	}
	s->addr = NULL;
}

static int out_of_memory(int err)
{
	return err == ENOMEM || err == ENOSPC || err == EAGAIN || err == EBUSY;
}

static void hammer(unsigned int id)
{
	struct worker_stats *st = &stats[id];
	struct slot slots[MAX_SLOTS] = { };
	uint64_t rng = (opt.seed + 1ULL) * 0x2545f4914f6cdd1dULL ^ (id + 1);
	unsigned int op, i;
	struct slot *s;
	void *p;
	int fd;

	fd = open(allocate_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		st->errors++;
		p2p_err("worker %u: open %s: %s", id, allocate_path,
			strerror(errno));
		return;
	}
	for (op = 0; op < opt.ops; op++) {
		s = &slots[next_rand(&rng) % opt.slots];
		release_slot(id, s, st);
		s->pages = 1 + next_rand(&rng) % opt.max_pages;
		st->ops++;
		p = mmap(NULL, s->pages * page, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			if (out_of_memory(errno)) {
				st->failed++;
				continue;
			}
			st->errors++;
			p2p_err("worker %u: mmap %zu pages: %s", id, s->pages,
				strerror(errno));
			continue;
		}
		st->mapped++;
		s->addr = p;
		s->tag = ((uint64_t)id << 40) ^ ((uint64_t)op << 8);
		tag_slot(s);
	}
	for (i = 0; i < opt.slots; i++)
		release_slot(id, &slots[i], st);
	close(fd);
}

static void *hammer_thread(void *arg)
{
	hammer((uintptr_t)arg);
	return NULL;
}

/* One process: run its workers as threads (or inline when just one). */
static int run_proc(unsigned int proc)
{
	pthread_t tids[MAX_WORKERS];
	unsigned int base = proc * opt.threads, t, started;
	int ret = 0;

	if (opt.threads == 1) {
		hammer(base);
		return 0;
	}
	for (started = 0; started < opt.threads; started++) {
		errno = pthread_create(&tids[started], NULL, hammer_thread,
				       (void *)(uintptr_t)(base + started));
		if (errno) {
			p2p_err("process %u: pthread_create: %s", proc,
				strerror(errno));
			ret = 1;
			break;
		}
	}
	for (t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	return ret;
}

static int parse_count(const char *name, const char *arg, unsigned int min,
		       unsigned int max, unsigned int *val)
{
	if (p2p_parse_uint(arg, val) || *val < min || *val > max) {
		p2p_err("invalid %s '%s' (%u..%u)", name, arg, min, max);
		return -1;
	}
	return 0;
}

static void show_synopsis(FILE *f)
{
	fprintf(f,
		"usage: p2pmem-hammer [options] PROVIDER\n"
		"\n"
		"Concurrent random-size mmap/touch/munmap of PROVIDER's p2pmem/allocate.\n"
		"PROVIDER is a PCI address or serial:SERIAL (that NVMe controller).\n"
		"\n"
		"  --procs N        processes (default 4)\n"
		"  --threads N      threads per process (default 1)\n"
		"  --ops M          mmap attempts per thread (default 1000)\n"
		"  --max-pages P    largest mapping in pages (default 64)\n"
		"  --slots K        mappings each thread keeps alive (default 4)\n"
		"  --seed S         random seed (default 1)\n"
		"  --help           this text\n"
		"\n"
		"Out-of-memory mmap failures are counted, not fatal.  The last line is\n"
		"PASS (exit 0) or FAIL: reasons (exit 1); exit 2 on bad usage.\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "procs", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "ops", required_argument, NULL, 'o' },
		{ "max-pages", required_argument, NULL, 'm' },
		{ "slots", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "p:t:o:m:s:S:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			err = parse_count("procs", optarg, 1, MAX_WORKERS,
					  &opt.procs);
			break;
		case 't':
			err = parse_count("threads", optarg, 1, MAX_WORKERS,
					  &opt.threads);
			break;
		case 'o':
			err = parse_count("ops", optarg, 0, UINT_MAX, &opt.ops);
			break;
		case 'm':
			err = parse_count("max-pages", optarg, 1, 1U << 20,
					  &opt.max_pages);
			break;
		case 's':
			err = parse_count("slots", optarg, 1, MAX_SLOTS,
					  &opt.slots);
			break;
		case 'S':
			err = parse_count("seed", optarg, 0, UINT_MAX,
					  &opt.seed);
			break;
		case 'h':
			show_synopsis(stdout);
			exit(0);
		default:
			show_synopsis(stderr);
			return -1;
		}
		if (err)
			return -1;
	}
	if (optind != argc - 1) {
		show_synopsis(stderr);
		return -1;
	}
	if (opt.procs * opt.threads > MAX_WORKERS) {
		p2p_err("at most %d workers (procs x threads)", MAX_WORKERS);
		return -1;
	}
	return 0;
}

/* Fork the processes and collect them; returns the number that died. */
static unsigned int run_all(void)
{
	unsigned int i, started, died = 0;
	pid_t pids[MAX_WORKERS];
	int status;

	fflush(stdout);
	for (started = 0; started < opt.procs; started++) {
		pids[started] = fork();
		if (pids[started] < 0) {
			p2p_err("fork: %s", strerror(errno));
			died++;
			break;
		}
		if (!pids[started])
			_exit(run_proc(started));
	}
	for (i = 0; i < started; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i]) {
			p2p_err("waitpid: %s", strerror(errno));
			died++;
		} else if (WIFSIGNALED(status)) {
			p2p_err("process %u killed by signal %d (%s)", i,
				WTERMSIG(status), strsignal(WTERMSIG(status)));
			died++;
		} else if (WEXITSTATUS(status)) {
			died++;
		}
	}
	return died;
}

int main(int argc, char **argv)
{
	struct worker_stats sum = { };
	unsigned int i, workers, died;
	uint64_t start, end = 0;
	char why[256] = "";
	double t0, secs;
	size_t len;

	p2p_prog = "p2pmem-hammer";
	if (parse_args(argc, argv))
		return 2;
	page = sysconf(_SC_PAGESIZE);
	if (p2p_resolve_provider(argv[optind], bdf, sizeof(bdf)))
		return 1;
	p2p_attr_path(allocate_path, sizeof(allocate_path), bdf, "allocate");
	if (p2p_available(bdf, &start)) {
		p2p_err("%s/%s/p2pmem/available: %s", P2P_PCI_DEVICES, bdf,
			strerror(errno));
		return 1;
	}

	workers = opt.procs * opt.threads;
	len = workers * sizeof(*stats);
	stats = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED) {
		p2p_err("mmap of the statistics: %s", strerror(errno));
		return 1;
	}
	printf("hammer: provider %s procs %u threads %u ops %u", bdf,
	       opt.procs, opt.threads, opt.ops);
	printf(" max_pages %u slots %u seed %u available %llu\n",
	       opt.max_pages, opt.slots, opt.seed, (unsigned long long)start);

	t0 = p2p_now();
	died = run_all();
	secs = p2p_now() - t0;

	for (i = 0; i < workers; i++) {
		sum.ops += stats[i].ops;
		sum.mapped += stats[i].mapped;
		sum.failed += stats[i].failed;
		sum.errors += stats[i].errors;
		sum.corrupt += stats[i].corrupt;
	}
	printf("ops %llu mapped %llu failures %llu errors %llu corrupt %llu seconds %.3f\n",
	       (unsigned long long)sum.ops, (unsigned long long)sum.mapped,
	       (unsigned long long)sum.failed, (unsigned long long)sum.errors,
	       (unsigned long long)sum.corrupt, secs);

	if (p2p_wait_available(bdf, start, &end, SETTLE_MS) &&
	    errno != EAGAIN) {
		p2p_err("reading available: %s", strerror(errno));
		snprintf(why, sizeof(why), "available unreadable");
	}
	printf("available start %llu end %llu\n", (unsigned long long)start,
	       (unsigned long long)end);

	if (died)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%s%u processes failed", why[0] ? ", " : "", died);
	if (sum.errors)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%s%llu errors", why[0] ? ", " : "",
			 (unsigned long long)sum.errors);
	if (sum.corrupt)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%s%llu corrupt pages", why[0] ? ", " : "",
			 (unsigned long long)sum.corrupt);
	if (end != start)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%savailable %+lld bytes", why[0] ? ", " : "",
			 (long long)(end - start));
	if (why[0]) {
		printf("FAIL: %s\n", why);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
