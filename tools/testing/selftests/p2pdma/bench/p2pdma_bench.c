// SPDX-License-Identifier: GPL-2.0
/*
 * p2pdma_bench: microbenchmarks of the PCI peer-to-peer DMA fast paths.
 *
 * Uses only the public API (<linux/pci-p2pdma.h> and the DMA API), so the
 * same source builds against any kernel with CONFIG_PCI_P2PDMA and the
 * numbers of two implementations can be compared.  Everything runs from
 * module_init; each row is printed as one line
 *
 *	p2pdma-bench: <row> <median ns per operation> <fastest sample's ns>
 *
 * and a row that cannot run on this machine as
 *
 *	p2pdma-bench: skip <row> <why>
 *
 * Each row takes @rounds samples; a sample times a loop of N operations,
 * with N calibrated once per row so that a sample lasts about @sample_us.
 * The row's figure is the median of the samples' per-operation times; the
 * fastest sample follows it, a figure less sensitive to a busy host.
 *
 * The devices: the provider is a device with published p2pmem that has a
 * peer below a common PCI bridge (a switch) which also has p2pmem, the
 * "near" client.  "first" rows time the very first
 * pci_p2pdma_distance_many() call for a provider/client set since boot, so
 * they only mean something right after a fresh boot, before anything else
 * asked about these pairs.
 */
#define pr_fmt(fmt) "p2pdma-bench: " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/dma-mapping.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/wait_bit.h>
#include <linux/sizes.h>

static unsigned int rounds = 9;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds, "samples per row (the median is reported)");

static unsigned int sample_us = 20000;
module_param(sample_us, uint, 0444);
MODULE_PARM_DESC(sample_us, "target length of one sample in microseconds");

static unsigned int max_iters = 1 << 16;
module_param(max_iters, uint, 0444);
MODULE_PARM_DESC(max_iters, "upper bound of the operations per sample");

static char *provider;
module_param(provider, charp, 0444);
MODULE_PARM_DESC(provider, "PCI name of the provider (default: automatic)");

#define BENCH_MAX_SAMPLES	64
#define BENCH_SG_ENTRIES	32
#define BENCH_FRAG_MAX_PAGES	16

/* The devices every row works on. */
struct bench_env {
	struct pci_dev *prov;	/* provider with a near peer */
	struct pci_dev *near;	/* the peer below the same bridge */
	struct pci_dev *provs[8];
	int nr_provs;
};

static struct bench_env env;

/* One operation of a row; returns 0 or a negative errno. */
typedef int (*bench_op_t)(void *arg);

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

/* Operations per sample so that one sample lasts about sample_us. */
static unsigned int calibrate(bench_op_t op, void *arg)
{
	u64 per_op = time_loop(op, arg, 16);
	u64 n;

	if (!per_op)
		return 0;
	n = div64_u64((u64)sample_us * NSEC_PER_USEC, per_op);
	return clamp_t(u64, n, 16, max(max_iters, 16U));
}

/* The median and the minimum of @n samples. */
static void report(const char *row, u64 *samples, unsigned int n)
{
	u64 med = median(samples, n);

	pr_info("%s %llu %llu\n", row, med, samples[0]);
}

static void report_skip(const char *row, const char *why)
{
	pr_info("skip %s %s\n", row, why);
}

/* Median of @rounds samples of @op on this CPU. */
static void run_row(const char *row, bench_op_t op, void *arg)
{
	u64 samples[BENCH_MAX_SAMPLES];
	unsigned int i, n = calibrate(op, arg);

	if (!n) {
		report_skip(row, "operation failed");
		return;
	}
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

/* ---- allocation ---- */

struct alloc_arg {
	struct pci_dev *pdev;
	size_t size;
};

static int op_alloc_free(void *data)
{
	struct alloc_arg *a = data;
	void *p = pci_alloc_p2pmem(a->pdev, a->size);

	if (!p)
		return -ENOMEM;
	pci_free_p2pmem(a->pdev, p, a->size);
	return 0;
}

/*
 * All online CPUs run the same loop at once.  The figure is the wall time
 * from the first CPU's start to the last CPU's end divided by the number of
 * operations each CPU did: the latency of one operation under contention.
 */
struct par_run {
	bench_op_t op;
	void *arg;
	unsigned int n;
	unsigned int nr_threads;
	unsigned int nr_slots;
	atomic_t ready;
	atomic_t running;
	atomic_t failed;
	struct par_slot {
		struct task_struct *task;
		u64 start, end;
	} cpu[] __counted_by(nr_slots);
};

static int par_thread(void *data)
{
	struct par_run *r = data;
	unsigned int cpu = raw_smp_processor_id();
	unsigned int i;

	/* Start together; the loader sleeps meanwhile. */
	atomic_inc(&r->ready);
	while (atomic_read(&r->ready) < r->nr_threads)
		cpu_relax();

	r->cpu[cpu].start = ktime_get_ns();
	for (i = 0; i < r->n; i++) {
		if (r->op(r->arg)) {
			atomic_inc(&r->failed);
			break;
		}
	}
	r->cpu[cpu].end = ktime_get_ns();

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

static u64 par_sample(struct par_run *r)
{
	u64 first = U64_MAX, last = 0;
	struct task_struct *t;
	unsigned int cpu;
	bool ok = true;

	atomic_set(&r->ready, 0);
	atomic_set(&r->running, r->nr_threads);
	atomic_set(&r->failed, 0);

	for_each_online_cpu(cpu) {
		t = kthread_create(par_thread, r, "p2pbench/%u", cpu);
		if (IS_ERR(t)) {
			ok = false;
			break;
		}
		kthread_bind(t, cpu);
		r->cpu[cpu].task = t;
	}
	/*
	 * A thread stopped before it ever ran does not run par_thread(), so
	 * stop them only once all are done, or if not all could be created.
	 */
	if (ok) {
		for_each_online_cpu(cpu)
			wake_up_process(r->cpu[cpu].task);
		wait_var_event(&r->running, !atomic_read(&r->running));
	}
	for_each_online_cpu(cpu) {
		if (r->cpu[cpu].task)
			kthread_stop(r->cpu[cpu].task);
		r->cpu[cpu].task = NULL;
	}
	if (!ok || atomic_read(&r->failed))
		return 0;

	for_each_online_cpu(cpu) {
		first = min(first, r->cpu[cpu].start);
		last = max(last, r->cpu[cpu].end);
	}
	return max_t(u64, (last - first) / r->n, 1);
}

static void run_row_parallel(const char *row, bench_op_t op, void *arg)
{
	u64 samples[BENCH_MAX_SAMPLES];
	struct par_run *r;
	unsigned int i;

	r = kzalloc(struct_size(r, cpu, nr_cpu_ids), GFP_KERNEL);
	if (!r) {
		report_skip(row, "out of memory");
		return;
	}
	r->nr_slots = nr_cpu_ids;
	r->op = op;
	r->arg = arg;
	r->n = calibrate(op, arg);
	r->nr_threads = num_online_cpus();
	if (!r->n) {
		report_skip(row, "operation failed");
		goto out;
	}

	for (i = 0; i < nr_samples(); i++) {
		samples[i] = par_sample(r);
		if (!samples[i])
			break;
	}

	if (i < nr_samples())
		report_skip(row, "operation failed");
	else
		report(row, samples, nr_samples());
out:
	kfree(r);
}

static void bench_alloc(void)
{
	static const struct {
		const char *one, *all;
		size_t size;
	} sizes[] = {
		{ "alloc_free_4k", "alloc_free_4k_allcpus", SZ_4K },
		{ "alloc_free_64k", "alloc_free_64k_allcpus", SZ_64K },
		{ "alloc_free_1m", "alloc_free_1m_allcpus", SZ_1M },
	};
	struct alloc_arg a = { .pdev = env.prov };
	int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		a.size = sizes[i].size;
		run_row(sizes[i].one, op_alloc_free, &a);
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		a.size = sizes[i].size;
		run_row_parallel(sizes[i].all, op_alloc_free, &a);
	}
}

/*
 * Fragmentation: fill the pool with allocations of 1 to 16 pages (a fixed
 * pseudo-random sequence, the same on every kernel), top it up with single
 * pages until nothing is left, then free random allocations until a tenth
 * of the memory is free again, in holes all over the pool.
 */
struct frag_block {
	void *addr;
	size_t size;
};

static u32 frag_rand(u32 *state)
{
	/* xorshift32: deterministic, so every kernel sees the same pattern. */
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void bench_frag(void)
{
	unsigned int nr = 0, max_blocks, i;
	struct alloc_arg a = { .pdev = env.prov };
	size_t total = 0, freed = 0;
	struct frag_block *blocks;
	u32 seed = 0x2545f491;
	bool small = false;

	/* Enough slots for a pool of 1 GiB in single pages. */
	max_blocks = SZ_1G / PAGE_SIZE;
	blocks = kvcalloc(max_blocks, sizeof(*blocks), GFP_KERNEL);
	if (!blocks) {
		report_skip("frag90_alloc_free_4k", "out of memory");
		return;
	}

	while (nr < max_blocks) {
		size_t size = small ? PAGE_SIZE :
			(1 + frag_rand(&seed) % BENCH_FRAG_MAX_PAGES) * PAGE_SIZE;
		void *p = pci_alloc_p2pmem(env.prov, size);

		if (!p) {
			if (small)
				break;
			small = true;
			continue;
		}
		blocks[nr].addr = p;
		blocks[nr].size = size;
		total += size;
		nr++;
	}

	while (nr && freed < total / 10) {
		i = frag_rand(&seed) % nr;
		if (!blocks[i].addr)
			continue;
		pci_free_p2pmem(env.prov, blocks[i].addr, blocks[i].size);
		blocks[i].addr = NULL;
		freed += blocks[i].size;
	}
	pr_info("info: fragmented pool: %zu KiB in %u allocations, %zu KiB free in holes\n",
		total >> 10, nr, freed >> 10);

	a.size = SZ_4K;
	run_row("frag90_alloc_free_4k", op_alloc_free, &a);
	a.size = SZ_64K;
	run_row("frag90_alloc_free_64k", op_alloc_free, &a);

	for (i = 0; i < nr; i++)
		if (blocks[i].addr)
			pci_free_p2pmem(env.prov, blocks[i].addr,
					blocks[i].size);
	kvfree(blocks);
}

/* ---- scatterlists ---- */

static int op_sgl(void *data)
{
	struct alloc_arg *a = data;
	struct scatterlist *sgl;
	unsigned int nents;

	sgl = pci_p2pmem_alloc_sgl(a->pdev, &nents, a->size);
	if (!sgl)
		return -ENOMEM;
	pci_p2pmem_free_sgl(a->pdev, sgl);
	return 0;
}

static void bench_sgl(void)
{
	struct alloc_arg a = { .pdev = env.prov };

	a.size = SZ_128K;
	run_row("alloc_free_sgl_128k", op_sgl, &a);
	a.size = SZ_1M;
	run_row("alloc_free_sgl_1m", op_sgl, &a);
}

/* ---- topology ---- */

struct dist_arg {
	struct pci_dev *pdev;
	struct device *clients[4];
	int nr;
};

static int op_distance(void *data)
{
	struct dist_arg *d = data;

	return pci_p2pdma_distance_many(d->pdev, d->clients, d->nr,
					false) < 0 ? -EREMOTEIO : 0;
}

static void time_first(const char *row, struct dist_arg *d)
{
	u64 t0 = ktime_get_ns(), ns;

	if (op_distance(d)) {
		report_skip(row, "pair refused");
		return;
	}
	ns = max_t(u64, ktime_get_ns() - t0, 1);
	report(row, &ns, 1);
}

/*
 * Must run before anything else asks about these pairs: the provider with
 * its near peer, then the near peer as provider with four clients (the
 * provider and itself, twice each) that were not asked about yet.
 */
static void bench_distance_first(struct dist_arg *one, struct dist_arg *four)
{
	time_first("distance_1client_first", one);
	time_first("distance_4clients_first", four);
}

static void bench_distance(struct dist_arg *one, struct dist_arg *four)
{
	run_row("distance_1client", op_distance, one);
	run_row("distance_4clients", op_distance, four);
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

static void bench_find(void)
{
	struct dist_arg d = {
		.clients = { &env.near->dev, &env.prov->dev },
	};

	d.nr = 1;
	run_row("find_many_1client", op_find, &d);
	d.nr = 2;
	run_row("find_many_2clients", op_find, &d);
}

/* ---- DMA mapping ---- */

struct map_arg {
	struct sg_table sgt;
	struct device *dev;
};

static int op_map(void *data)
{
	struct map_arg *m = data;
	int ret;

	ret = dma_map_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
	if (ret)
		return ret;
	dma_unmap_sgtable(m->dev, &m->sgt, DMA_BIDIRECTIONAL, 0);
	return 0;
}

static void bench_map(void)
{
	const char *row = "dma_map_unmap_32sg_near";
	void *pages[BENCH_SG_ENTRIES] = { };
	struct map_arg m = { .dev = &env.near->dev };
	struct scatterlist *sg;
	int i, ret;

	if (sg_alloc_table(&m.sgt, BENCH_SG_ENTRIES, GFP_KERNEL)) {
		report_skip(row, "out of memory");
		return;
	}
	for_each_sgtable_sg(&m.sgt, sg, i) {
		pages[i] = pci_alloc_p2pmem(env.prov, PAGE_SIZE);
		if (!pages[i]) {
			report_skip(row, "no p2pmem");
			goto out;
		}
		sg_set_page(sg, virt_to_page(pages[i]), PAGE_SIZE, 0);
	}

	ret = op_map(&m);
	if (ret) {
		pr_info("%s: dma_map_sgtable: %d\n", row, ret);
		report_skip(row, "mapping refused");
		goto out;
	}
	run_row(row, op_map, &m);
out:
	for (i = 0; i < BENCH_SG_ENTRIES; i++)
		if (pages[i])
			pci_free_p2pmem(env.prov, pages[i], PAGE_SIZE);
	sg_free_table(&m.sgt);
}

/* ---- setup ---- */

/* Do @a and @b share an upstream bridge (not just the host bridge)? */
static bool share_bridge(struct pci_dev *a, struct pci_dev *b)
{
	struct pci_dev *x, *y;

	for (x = pci_upstream_bridge(a); x; x = pci_upstream_bridge(x))
		for (y = pci_upstream_bridge(b); y; y = pci_upstream_bridge(y))
			if (x == y)
				return true;
	return false;
}

/*
 * Pick the devices from the topology alone: asking p2pdma would spoil the
 * "first" rows.
 */
static int find_devices(void)
{
	struct pci_dev *pdev = NULL;
	int i, j;

	for_each_pci_dev(pdev) {
		if (!pci_has_p2pmem(pdev))
			continue;
		if (env.nr_provs == ARRAY_SIZE(env.provs))
			break;
		env.provs[env.nr_provs++] = pci_dev_get(pdev);
	}
	pci_dev_put(pdev);

	for (i = 0; i < env.nr_provs && !env.prov; i++) {
		if (provider && strcmp(pci_name(env.provs[i]), provider))
			continue;
		for (j = 0; j < env.nr_provs; j++) {
			if (i != j && share_bridge(env.provs[i], env.provs[j])) {
				env.prov = env.provs[i];
				env.near = env.provs[j];
				break;
			}
		}
	}
	if (!env.prov) {
		pr_err("error: no provider with published p2pmem and a peer below the same bridge\n");
		return -ENODEV;
	}
	pr_info("info: provider %s near %s providers %d cpus %u/%u rounds %u sample_us %u\n",
		pci_name(env.prov), pci_name(env.near), env.nr_provs,
		num_online_cpus(), num_possible_cpus(), nr_samples(),
		sample_us);
	return 0;
}

static void put_devices(void)
{
	int i;

	for (i = 0; i < env.nr_provs; i++)
		pci_dev_put(env.provs[i]);
	memset(&env, 0, sizeof(env));
}

static int __init p2pdma_bench_init(void)
{
	struct dist_arg one, four;
	int ret;

	ret = find_devices();
	if (ret) {
		put_devices();
		return ret;
	}

	one = (struct dist_arg) {
		.pdev = env.prov, .nr = 1,
		.clients = { &env.near->dev },
	};
	four = (struct dist_arg) {
		.pdev = env.near, .nr = 4,
		.clients = { &env.prov->dev, &env.near->dev,
			     &env.prov->dev, &env.near->dev },
	};

	bench_distance_first(&one, &four);
	bench_distance(&one, &four);
	bench_find();
	bench_alloc();
	bench_sgl();
	bench_map();
	bench_frag();
	pr_info("done\n");
	return 0;
}

static void __exit p2pdma_bench_exit(void)
{
	put_devices();
}

module_init(p2pdma_bench_init);
module_exit(p2pdma_bench_exit);
MODULE_DESCRIPTION("Microbenchmarks of PCI peer-to-peer DMA");
MODULE_LICENSE("GPL");
