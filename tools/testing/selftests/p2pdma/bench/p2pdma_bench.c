// SPDX-License-Identifier: GPL-2.0
/*
 * p2pdma_bench: the PCI peer-to-peer DMA paths that I/O pays for, timed
 * through the public API.
 *
 * Uses only <linux/pci-p2pdma.h>, the PCI driver API and the DMA API, so the
 * same source builds against any kernel with CONFIG_PCI_P2PDMA and the
 * figures of two implementations can be compared.  The module is two things:
 *
 * - a BAR donor, "p2pdma_bench_donor": bound through driver_override to a
 *   device whose largest memory BAR is RAM (QEMU's ivshmem-plain), it lends
 *   that BAR as published p2pmem, the same way in every kernel, so the
 *   benchmark has providers of any size;
 * - the rows, run when a list of groups is written to the write-only
 *   parameter "run" (setup, alloc, xcpu, map, hostbridge, calib).
 *
 * Each row is printed as one line
 *
 *	p2pdma-bench: <row><suffix> <median ns per operation> <fastest sample>
 *
 * and a row that cannot run on this machine as
 *
 *	p2pdma-bench: skip <row><suffix> <why>
 *
 * A row takes @rounds samples; a sample times a loop of N operations, N
 * calibrated once per row so that a sample lasts about @sample_us.
 *
 * The workloads are those of a storage target: scatterlists of mixed,
 * mostly non-power-of-two request sizes, many outstanding per CPU, freed on
 * another CPU than the one that allocated them (nvmet completes a request
 * where the fabric delivers the completion, not where it was submitted),
 * and dma_map_sgtable() of a request's pages next to the same mapping of
 * host pages.
 */
#define pr_fmt(fmt) "p2pdma-bench: " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/wait_bit.h>

static unsigned int rounds = 9;
module_param(rounds, uint, 0644);
MODULE_PARM_DESC(rounds, "samples per row (the median is reported)");

static unsigned int sample_us = 20000;
module_param(sample_us, uint, 0644);
MODULE_PARM_DESC(sample_us, "target length of one sample in microseconds");

static unsigned int max_iters = 1 << 16;
module_param(max_iters, uint, 0644);
MODULE_PARM_DESC(max_iters, "upper bound of the operations per sample");

static char *provider;
module_param(provider, charp, 0644);
MODULE_PARM_DESC(provider, "PCI name of the provider of a CMB's size (16 MiB)");

static char *large;
module_param(large, charp, 0644);
MODULE_PARM_DESC(large, "PCI name of the large provider (several GiB)");

static char *near;
module_param(near, charp, 0644);
MODULE_PARM_DESC(near, "PCI name of a DMA client below the providers' switch");

static char *far;
module_param(far, charp, 0644);
MODULE_PARM_DESC(far, "PCI name of a DMA client on another root port");

static char *suffix = "";
module_param(suffix, charp, 0644);
MODULE_PARM_DESC(suffix, "appended to every row name (the machine's variant)");

#define BENCH_MAX_SAMPLES	64
#define BENCH_SG_ENTRIES	32
#define BENCH_MAX_QD		128	/* a power of two */
#define BENCH_SIZE_SEQ		1024	/* a power of two */

/* The devices the rows work on, looked up at each run. */
struct bench_env {
	struct pci_dev *cmb;	/* provider of 16 MiB */
	struct pci_dev *large;	/* provider of several GiB, or NULL */
	struct pci_dev *near;	/* client below the providers' switch */
	struct pci_dev *far;	/* client on another root port, or NULL */
};

static struct bench_env env;

/* Serializes runs: one "run" write at a time. */
static DEFINE_MUTEX(bench_lock);

/* ---- reporting ---- */

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v. */
static u64 median(u64 *v, unsigned int n)
{
	sort(v, n, sizeof(*v), cmp_u64, NULL);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned int nr_samples(void)
{
	return clamp(rounds, 1U, (unsigned int)BENCH_MAX_SAMPLES);
}

static unsigned int clamp_iters(u64 n)
{
	return clamp_t(u64, n, 16, max(max_iters, 16U));
}

/* The median and the fastest of @n samples. */
static void report(const char *row, u64 *samples, unsigned int n)
{
	u64 med = median(samples, n);

	pr_info("%s%s %llu %llu\n", row, suffix, med, samples[0]);
}

static void report_skip(const char *row, const char *why)
{
	pr_info("skip %s%s %s\n", row, suffix, why);
}

/* ---- one CPU ---- */

/* One operation of a row; returns 0 or a negative errno. */
typedef int (*bench_op_t)(void *arg);

/* Time @n calls of @op; returns nanoseconds per call or 0 on failure. */
static u64 time_loop(bench_op_t op, void *arg, unsigned int n)
{
	unsigned int i;
	u64 t0, t1;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++)
		if (op(arg))
			return 0;
	t1 = ktime_get_ns();
	return max_t(u64, (t1 - t0) / n, 1);
}

/* Median of @rounds samples of @op on this CPU. */
static void run_row(const char *row, bench_op_t op, void *arg)
{
	u64 samples[BENCH_MAX_SAMPLES], per_op;
	unsigned int i, n;

	per_op = time_loop(op, arg, 16);
	if (!per_op) {
		report_skip(row, "operation failed");
		return;
	}
	n = clamp_iters(div64_u64((u64)sample_us * NSEC_PER_USEC, per_op));
	for (i = 0; i < nr_samples(); i++) {
		samples[i] = time_loop(op, arg, n);
		if (!samples[i]) {
			report_skip(row, "operation failed");
			return;
		}
		cond_resched();
	}
	report(row, samples, nr_samples());
}

/* ---- request sizes ---- */

/*
 * What a storage target allocates per request: mostly 4 to 128 KiB, many
 * sizes not a power of two (sector multiples, 20.5 KiB, 100 KiB, one page
 * beyond 128 KiB), a few large transfers.  Weights in percent.
 */
static const struct {
	u32 bytes;
	u32 weight;
} bench_sizes[] = {
	{ SZ_4K, 29 }, { 4608, 4 }, { SZ_8K, 14 }, { 12288, 6 },
	{ SZ_16K, 10 }, { 20992, 4 }, { SZ_32K, 10 }, { 61440, 4 },
	{ SZ_64K, 6 }, { 102400, 4 }, { SZ_128K, 6 }, { 135168, 1 },
	{ SZ_256K, 1 }, { SZ_1M, 1 },
};

static u32 size_seq[BENCH_SIZE_SEQ];

static u32 xorshift32(u32 *state)
{
	/* Deterministic, so every kernel sees the same sequence. */
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void init_size_seq(void)
{
	u32 seed = 0x2545f491, r, i, j;

	for (i = 0; i < BENCH_SIZE_SEQ; i++) {
		r = xorshift32(&seed) % 100;
		for (j = 0; r >= bench_sizes[j].weight; j++)
			r -= bench_sizes[j].weight;
		size_seq[i] = bench_sizes[j].bytes;
	}
}

static u32 request_size(u32 *pos)
{
	return size_seq[(*pos)++ & (BENCH_SIZE_SEQ - 1)];
}

/* ---- scatterlists, one CPU, QD outstanding ---- */

/*
 * A queue of @qd requests on one CPU: each operation completes the oldest
 * (frees its scatterlist) and submits a new one of the next size.
 */
struct qd_run {
	struct pci_dev *pdev;
	unsigned int qd, head;
	u32 pos;
	struct scatterlist *sgl[BENCH_MAX_QD];
};

static int op_qd(void *data)
{
	struct qd_run *q = data;
	struct scatterlist **slot = &q->sgl[q->head];
	unsigned int nents;

	if (*slot)
		pci_p2pmem_free_sgl(q->pdev, *slot);
	*slot = pci_p2pmem_alloc_sgl(q->pdev, &nents, request_size(&q->pos));
	q->head = (q->head + 1) % q->qd;
	return *slot ? 0 : -ENOMEM;
}

static void qd_drain(struct qd_run *q)
{
	unsigned int i;

	for (i = 0; i < q->qd; i++) {
		if (q->sgl[i])
			pci_p2pmem_free_sgl(q->pdev, q->sgl[i]);
		q->sgl[i] = NULL;
	}
}

static void row_sgl_qd(const char *row, struct pci_dev *pdev, unsigned int qd)
{
	struct qd_run *q;
	unsigned int i;

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q) {
		report_skip(row, "out of memory");
		return;
	}
	q->pdev = pdev;
	q->qd = qd;
	/* Steady state: the queue is full before anything is timed. */
	for (i = 0; i < qd; i++) {
		if (op_qd(q)) {
			report_skip(row, "pool too small");
			goto out;
		}
	}
	run_row(row, op_qd, q);
out:
	qd_drain(q);
	kfree(q);
}

/* ---- every CPU at once ---- */

/*
 * Every online CPU runs @op @n times, started together; the figure is the
 * wall time from the first start to the last end divided by @n: the cost
 * of one operation while every CPU does the same.  @finish runs on each
 * CPU after its loop, untimed.
 */
struct par_run {
	int (*op)(void *arg, unsigned int idx);
	void (*finish)(void *arg, unsigned int idx);
	void *arg;
	unsigned int n;
	unsigned int nr_threads;
	atomic_t ready;
	atomic_t running;
	atomic_t failed;
	struct par_slot {
		struct par_run *run;
		struct task_struct *task;
		u64 start, end;
	} thread[] __counted_by(nr_threads);
};

static int par_thread(void *data)
{
	struct par_slot *slot = data;
	struct par_run *r = slot->run;
	unsigned int idx = slot - r->thread, i;

	atomic_inc(&r->ready);
	while (atomic_read(&r->ready) < r->nr_threads)
		cpu_relax();

	slot->start = ktime_get_ns();
	for (i = 0; i < r->n; i++) {
		if (r->op(r->arg, idx)) {
			atomic_inc(&r->failed);
			break;
		}
	}
	slot->end = ktime_get_ns();
	if (r->finish)
		r->finish(r->arg, idx);

	if (atomic_dec_and_test(&r->running))
		wake_up_var(&r->running);

	/* Exit only through kthread_stop(), so no thread outlives the row. */
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static struct par_run *par_alloc(unsigned int nr_threads)
{
	struct par_run *r;
	unsigned int i;

	r = kzalloc(struct_size(r, thread, nr_threads), GFP_KERNEL);
	if (!r)
		return NULL;
	r->nr_threads = nr_threads;
	for (i = 0; i < nr_threads; i++)
		r->thread[i].run = r;
	return r;
}

/* One sample; nanoseconds per operation or 0 on failure. */
static u64 par_sample(struct par_run *r)
{
	u64 first = U64_MAX, last = 0;
	unsigned int cpu, i = 0;
	struct task_struct *t;
	bool ok = true;

	atomic_set(&r->ready, 0);
	atomic_set(&r->running, r->nr_threads);
	atomic_set(&r->failed, 0);

	for_each_online_cpu(cpu) {
		if (i == r->nr_threads)
			break;
		t = kthread_create(par_thread, &r->thread[i], "p2pbench/%u",
				   cpu);
		if (IS_ERR(t)) {
			ok = false;
			break;
		}
		kthread_bind(t, cpu);
		r->thread[i++].task = t;
	}
	ok = ok && i == r->nr_threads;
	/*
	 * A thread stopped before it ever ran does not run par_thread(), so
	 * stop them only once all are done, or if not all could be created.
	 */
	if (ok) {
		for (i = 0; i < r->nr_threads; i++)
			wake_up_process(r->thread[i].task);
		wait_var_event(&r->running, !atomic_read(&r->running));
	}
	for (i = 0; i < r->nr_threads; i++) {
		if (r->thread[i].task)
			kthread_stop(r->thread[i].task);
		r->thread[i].task = NULL;
	}
	if (!ok || atomic_read(&r->failed))
		return 0;

	for (i = 0; i < r->nr_threads; i++) {
		first = min(first, r->thread[i].start);
		last = max(last, r->thread[i].end);
	}
	return max_t(u64, (last - first) / r->n, 1);
}

/*
 * @reset runs before every sample, with no thread running, and puts the
 * workload back into its initial state.
 */
static void run_row_parallel(const char *row, struct par_run *r,
			     void (*reset)(void *arg))
{
	u64 samples[BENCH_MAX_SAMPLES], per_op;
	unsigned int i;

	r->n = 64;
	reset(r->arg);
	per_op = par_sample(r);
	if (!per_op) {
		report_skip(row, "operation failed");
		return;
	}
	r->n = clamp_iters(div64_u64((u64)sample_us * NSEC_PER_USEC, per_op));
	for (i = 0; i < nr_samples(); i++) {
		reset(r->arg);
		samples[i] = par_sample(r);
		if (!samples[i]) {
			report_skip(row, "operation failed");
			return;
		}
	}
	report(row, samples, nr_samples());
}

/* ---- scatterlists across CPUs ---- */

/*
 * CPU i submits requests into ring i; CPU i + 1 completes them, so a
 * scatterlist is freed on another CPU than the one that allocated it, with
 * up to @qd requests of each CPU outstanding.  An operation completes
 * whatever the previous CPU submitted meanwhile and submits one request.
 *
 * Nothing waits: a vCPU the host preempts would otherwise make the others
 * spin, and the row would time the host's scheduler.  When a queue is full
 * because its consumer is not running, its producer completes its own
 * oldest request; the row reports how many completions were remote.
 */
struct xcpu_ring {
	struct scatterlist *slot[BENCH_MAX_QD];
	unsigned int head ____cacheline_aligned;	/* the producer's */
	unsigned int tail ____cacheline_aligned;	/* any consumer's */
	bool done;
	u32 pos;
	unsigned long remote, local;
};

struct xcpu_run {
	struct pci_dev *pdev;
	unsigned int qd, nr;
	struct xcpu_ring ring[] __counted_by(nr);
};

/* Either consumer may pop: the next CPU, or the producer itself. */
static struct scatterlist *ring_pop(struct xcpu_ring *ring)
{
	unsigned int tail = READ_ONCE(ring->tail);
	struct scatterlist *sgl;

	do {
		/* Acquire: the slot was written before head moved past it. */
		if (tail == smp_load_acquire(&ring->head))
			return NULL;
		sgl = READ_ONCE(ring->slot[tail % BENCH_MAX_QD]);
	} while (!try_cmpxchg(&ring->tail, &tail, tail + 1));
	return sgl;
}

static struct xcpu_ring *xcpu_in(struct xcpu_run *x, unsigned int idx)
{
	return &x->ring[(idx + x->nr - 1) % x->nr];
}

/* Complete what the previous CPU submitted so far. */
static void xcpu_complete(struct xcpu_run *x, unsigned int idx)
{
	struct xcpu_ring *in = xcpu_in(x, idx);
	struct scatterlist *sgl;

	while ((sgl = ring_pop(in))) {
		pci_p2pmem_free_sgl(x->pdev, sgl);
		x->ring[idx].remote++;
	}
}

static int op_xcpu(void *arg, unsigned int idx)
{
	struct xcpu_run *x = arg;
	struct xcpu_ring *out = &x->ring[idx];
	struct scatterlist *sgl;
	unsigned int nents;

	xcpu_complete(x, idx);
	/* Acquire: a slot is read by its consumer before tail moves on. */
	if (out->head - smp_load_acquire(&out->tail) >= x->qd) {
		sgl = ring_pop(out);
		if (sgl) {
			pci_p2pmem_free_sgl(x->pdev, sgl);
			out->local++;
		}
	}
	sgl = pci_p2pmem_alloc_sgl(x->pdev, &nents, request_size(&out->pos));
	if (!sgl)
		return -ENOMEM;
	WRITE_ONCE(out->slot[out->head % BENCH_MAX_QD], sgl);
	/* Release: publish the slot before the new head. */
	smp_store_release(&out->head, out->head + 1);
	return 0;
}

/* Complete everything the previous CPU submits until it is done. */
static void xcpu_finish(void *arg, unsigned int idx)
{
	struct xcpu_run *x = arg;
	struct xcpu_ring *in = xcpu_in(x, idx);

	/* Release: every submission of this CPU precedes its "done". */
	smp_store_release(&x->ring[idx].done, true);
	/*
	 * Acquire: once "done", the previous CPU's last head is visible.
	 * Sleep between polls: a vCPU spinning here while others finish
	 * their loop would add its instructions to the row under -icount.
	 */
	while (!smp_load_acquire(&in->done)) {
		xcpu_complete(x, idx);
		usleep_range(20, 50);
	}
	xcpu_complete(x, idx);
}

/* Between samples, with no thread running: free what is left. */
static void xcpu_reset(void *arg)
{
	struct xcpu_run *x = arg;
	struct scatterlist *sgl;
	unsigned int i;

	for (i = 0; i < x->nr; i++) {
		while ((sgl = ring_pop(&x->ring[i])))
			pci_p2pmem_free_sgl(x->pdev, sgl);
		x->ring[i].done = false;
		x->ring[i].pos = i * (BENCH_SIZE_SEQ / x->nr);
	}
}

static void row_sgl_xcpu(const char *row, struct pci_dev *pdev,
			 unsigned int qd)
{
	unsigned int nr = num_online_cpus(), i;
	unsigned long remote = 0, local = 0;
	struct xcpu_run *x;
	struct par_run *r;

	if (nr < 2) {
		report_skip(row, "one CPU");
		return;
	}
	x = kvzalloc(struct_size(x, ring, nr), GFP_KERNEL);
	r = par_alloc(nr);
	if (!x || !r) {
		report_skip(row, "out of memory");
		goto out;
	}
	x->pdev = pdev;
	x->qd = qd;
	x->nr = nr;
	r->op = op_xcpu;
	r->finish = xcpu_finish;
	r->arg = x;
	run_row_parallel(row, r, xcpu_reset);
	xcpu_reset(x);
	for (i = 0; i < nr; i++) {
		remote += x->ring[i].remote;
		local += x->ring[i].local;
	}
	pr_info("info: %s%s: %lu of %lu completions on another CPU\n", row,
		suffix, remote, remote + local);
out:
	kfree(r);
	kvfree(x);
}

static void bench_alloc(void)
{
	row_sgl_qd("sgl_mixed_qd32_16m", env.cmb, 32);
	if (env.large)
		row_sgl_qd("sgl_mixed_qd32_4g", env.large, 32);
	else
		report_skip("sgl_mixed_qd32_4g", "no large provider");
}

static void bench_xcpu(void)
{
	if (num_online_cpus() <= 2)
		row_sgl_xcpu("sgl_mixed_xcpu_qd32_16m", env.cmb, 32);
	if (!env.large) {
		report_skip("sgl_mixed_xcpu_qd32_4g", "no large provider");
		return;
	}
	row_sgl_xcpu("sgl_mixed_xcpu_qd32_4g", env.large, 32);
	row_sgl_xcpu("sgl_mixed_xcpu_qd128_4g", env.large, 128);
}

/* ---- topology ---- */

struct dist_arg {
	struct pci_dev *pdev;
	struct device *clients[4];
	int nr;
	bool refused;		/* the verdict the row expects */
};

static int op_distance(void *data)
{
	struct dist_arg *d = data;
	int dist = pci_p2pdma_distance_many(d->pdev, d->clients, d->nr, false);

	return (dist < 0) == d->refused ? 0 : -EREMOTEIO;
}

static int op_find(void *data)
{
	struct dist_arg *d = data;
	struct pci_dev *found;

	found = pci_p2pmem_find_many(d->clients, d->nr);
	if (!found)
		return -ENODEV;
	pci_dev_put(found);
	return 0;
}

/*
 * What nvmet and RDMA ask once per namespace or queue: the distance of a
 * provider to its clients (read from config space, ACS included, in both
 * kernels) and the nearest provider of a set of clients.
 */
static void bench_setup(void)
{
	struct dist_arg d = {
		.pdev = env.cmb, .nr = 1, .clients = { &env.near->dev },
	};

	run_row("distance_switch_pair", op_distance, &d);

	d.pdev = env.near;
	d.nr = 4;
	d.clients[0] = &env.cmb->dev;
	d.clients[1] = &env.near->dev;
	d.clients[2] = &env.cmb->dev;
	d.clients[3] = &env.near->dev;
	run_row("distance_switch_4clients", op_distance, &d);

	if (env.far) {
		d.pdev = env.cmb;
		d.nr = 1;
		d.clients[0] = &env.far->dev;
		d.refused = true;
		run_row("distance_refused_far", op_distance, &d);
	}

	d.clients[0] = &env.near->dev;
	d.clients[1] = &env.cmb->dev;
	d.nr = 1;
	run_row("find_many_1client", op_find, &d);
	d.nr = 2;
	run_row("find_many_2clients", op_find, &d);
}

/* ---- DMA mapping ---- */

/* @nents segments of @seg bytes, each its own allocation. */
struct map_req {
	struct sg_table sgt;
	struct device *dev;
	struct pci_dev *prov;	/* p2pmem from it, or NULL: host pages */
	size_t seg;
};

static int op_map(void *data)
{
	struct map_req *m = data;
	int ret;

	ret = dma_map_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
	if (ret)
		return ret;
	dma_unmap_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
	return 0;
}

static void map_req_free(struct map_req *m)
{
	struct scatterlist *sg;
	int i;

	for_each_sgtable_sg(&m->sgt, sg, i) {
		if (!sg_page(sg))
			continue;
		if (m->prov)
			pci_free_p2pmem(m->prov, sg_virt(sg), m->seg);
		else
			__free_pages(sg_page(sg), get_order(m->seg));
	}
	sg_free_table(&m->sgt);
}

static int map_req_alloc(struct map_req *m, unsigned int nents)
{
	struct scatterlist *sg;
	struct page *page;
	void *addr;
	int i;

	if (sg_alloc_table(&m->sgt, nents, GFP_KERNEL))
		return -ENOMEM;
	for_each_sgtable_sg(&m->sgt, sg, i) {
		if (m->prov) {
			addr = pci_alloc_p2pmem(m->prov, m->seg);
			page = addr ? virt_to_page(addr) : NULL;
		} else {
			page = alloc_pages(GFP_KERNEL, get_order(m->seg));
		}
		if (!page) {
			map_req_free(m);
			return -ENOMEM;
		}
		sg_set_page(sg, page, m->seg, 0);
	}
	return 0;
}

/*
 * A request mapped for @client: once in p2pmem of @prov, once in host
 * memory of the same shape.  The host row is the limit the P2P row is
 * measured against.  Shapes: 32 separate pages (scattered host buffers),
 * and one 128 KiB segment, which is what pci_p2pmem_alloc_sgl() hands
 * nvmet and what a bio into mmapped p2pmem merges into.
 */
static void rows_map(const char *where, struct pci_dev *prov,
		     struct pci_dev *client, const char *host_name)
{
	static const struct {
		const char *shape;
		unsigned int nents;
		size_t seg;
	} shapes[] = {
		{ "32sg", BENCH_SG_ENTRIES, PAGE_SIZE },
		{ "1sg_128k", 1, SZ_128K },
	};
	char p2p_row[64], host_row[64];
	struct map_req p2p, host;
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(shapes); i++) {
		snprintf(p2p_row, sizeof(p2p_row), "map_%s_p2p_%s",
			 shapes[i].shape, where);
		snprintf(host_row, sizeof(host_row), "map_%s_host_%s",
			 shapes[i].shape, host_name);
		p2p = (struct map_req) { .dev = &client->dev, .prov = prov,
					 .seg = shapes[i].seg };
		host = (struct map_req) { .dev = &client->dev,
					  .seg = shapes[i].seg };
		if (map_req_alloc(&p2p, shapes[i].nents)) {
			report_skip(p2p_row, "out of memory");
			continue;
		}
		if (map_req_alloc(&host, shapes[i].nents)) {
			report_skip(host_row, "out of memory");
			map_req_free(&p2p);
			continue;
		}
		ret = op_map(&p2p);
		if (ret) {
			pr_info("%s%s: dma_map_sgtable: %d\n", p2p_row, suffix,
				ret);
			report_skip(p2p_row, "mapping refused");
		} else {
			run_row(p2p_row, op_map, &p2p);
		}
		run_row(host_row, op_map, &host);
		map_req_free(&host);
		map_req_free(&p2p);
	}
}

static void bench_map(void)
{
	rows_map("switch", env.cmb, env.near, "switch_client");
}

/* Only meaningful once the host bridge is allowed to route P2P. */
static void bench_hostbridge(void)
{
	if (!env.far) {
		report_skip("map_32sg_p2p_hostbridge", "no far client");
		return;
	}
	rows_map("hostbridge", env.cmb, env.far, "far_client");
}

/*
 * Known work: a loop of two instructions per iteration.  Under QEMU's
 * -icount shift=0 the guest clock advances one nanosecond per
 * instruction, so this row reads 2 ns per iteration there and proves the
 * other rows are instruction counts.
 */
static int op_calib(void *data)
{
#ifdef CONFIG_X86
	unsigned long n = 1000;

	asm volatile("1: dec %0\n\tjnz 1b" : "+r" (n));
#else
	unsigned long n;

	for (n = 0; n < 1000; n++)
		barrier();
#endif
	return 0;
}

static void bench_calib(void)
{
	run_row("calib_1000_loop_iterations", op_calib, NULL);
}

/* ---- devices ---- */

static struct pci_dev *get_dev(const char *name, bool need_p2pmem)
{
	struct pci_dev *pdev = NULL;

	if (!name || !*name)
		return NULL;
	for_each_pci_dev(pdev) {
		if (!strcmp(pci_name(pdev), name))
			break;
	}
	if (pdev && need_p2pmem && !pci_has_p2pmem(pdev)) {
		pr_err("error: %s has no published p2pmem\n", name);
		pci_dev_put(pdev);
		return NULL;
	}
	return pdev;
}

static void put_devices(void)
{
	pci_dev_put(env.cmb);
	pci_dev_put(env.large);
	pci_dev_put(env.near);
	pci_dev_put(env.far);
	memset(&env, 0, sizeof(env));
}

static int get_devices(void)
{
	env.cmb = get_dev(provider, true);
	env.large = get_dev(large, true);
	env.near = get_dev(near, false);
	env.far = get_dev(far, false);
	if (!env.cmb || !env.near) {
		pr_err("error: need provider= (published p2pmem) and near=\n");
		put_devices();
		return -ENODEV;
	}
	pr_info("info: provider %s large %s near %s far %s cpus %u/%u rounds %u sample_us %u\n",
		pci_name(env.cmb), env.large ? pci_name(env.large) : "-",
		pci_name(env.near), env.far ? pci_name(env.far) : "-",
		num_online_cpus(), num_possible_cpus(), nr_samples(),
		sample_us);
	return 0;
}

/* ---- the "run" parameter ---- */

static const struct {
	const char *name;
	void (*run)(void);
} bench_groups[] = {
	{ "calib", bench_calib },
	{ "setup", bench_setup },
	{ "alloc", bench_alloc },
	{ "xcpu", bench_xcpu },
	{ "map", bench_map },
	{ "hostbridge", bench_hostbridge },
};

static int find_group(const char *name)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(bench_groups); i++)
		if (!strcmp(bench_groups[i].name, name))
			return i;
	return -EINVAL;
}

#define BENCH_MAX_GROUPS	16

/* "run": a comma-separated list of groups, all checked before any runs. */
static int run_set(const char *val, const struct kernel_param *kp)
{
	int groups[BENCH_MAX_GROUPS], nr = 0, ret = 0, i;
	char *list, *cur, *name;

	list = kstrdup(val, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	cur = strim(list);
	while ((name = strsep(&cur, ","))) {
		i = find_group(name);
		if (i < 0 || nr == BENCH_MAX_GROUPS) {
			ret = -EINVAL;
			goto out;
		}
		groups[nr++] = i;
	}

	mutex_lock(&bench_lock);
	ret = get_devices();
	if (!ret) {
		for (i = 0; i < nr; i++)
			bench_groups[groups[i]].run();
		put_devices();
		pr_info("done%s\n", suffix);
	}
	mutex_unlock(&bench_lock);
out:
	kfree(list);
	return ret;
}

static const struct kernel_param_ops run_ops = {
	.set = run_set,
};
module_param_cb(run, &run_ops, NULL, 0200);
MODULE_PARM_DESC(run, "groups of rows to run: calib,setup,alloc,xcpu,map,hostbridge");

/* ---- the BAR donor ---- */

static int donor_bar(struct pci_dev *pdev)
{
	resource_size_t best = 0;
	int bar, found = -ENODEV;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
			continue;
		if (pci_resource_len(pdev, bar) > best) {
			best = pci_resource_len(pdev, bar);
			found = bar;
		}
	}
	return found;
}

static int donor_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int bar = donor_bar(pdev), ret;

	if (bar < 0)
		return bar;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pci_p2pdma_add_resource(pdev, bar, 0, 0);
	if (ret)
		return ret;
	pci_p2pmem_publish(pdev, true);
	pci_info(pdev, "p2pdma-bench: lent BAR %d (%pR) as p2pmem\n", bar,
		 &pdev->resource[bar]);
	return 0;
}

static void donor_remove(struct pci_dev *pdev)
{
	pci_p2pmem_publish(pdev, false);
}

/* No ID table: bound only through driver_override. */
static struct pci_driver bench_donor = {
	.name = "p2pdma_bench_donor",
	.probe = donor_probe,
	.remove = donor_remove,
};

static int __init p2pdma_bench_init(void)
{
	init_size_seq();
	return pci_register_driver(&bench_donor);
}

static void __exit p2pdma_bench_exit(void)
{
	pci_unregister_driver(&bench_donor);
}

module_init(p2pdma_bench_init);
module_exit(p2pdma_bench_exit);
MODULE_DESCRIPTION("Benchmark of PCI peer-to-peer DMA, with a BAR donor");
MODULE_LICENSE("GPL");
