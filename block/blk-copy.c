// SPDX-License-Identifier: GPL-2.0
/*
 * copy_file_range() between block devices, through a peer's BAR.
 *
 * Copyright (c) 2026 The p2pdma authors
 *
 * A copy from one block device to another reads a chunk into a buffer and
 * writes it out again.  When both devices sit on PCI functions that can
 * reach a published p2pmem provider (pci_p2pmem_find_many()), the buffers
 * are that provider's BAR memory and the data moves device -> BAR ->
 * device without touching CPU memory; otherwise, or when the provider has
 * no room, the buffers are host pages.  Several chunks are in flight: the
 * read of the next chunk overlaps the write of the previous one.
 *
 * The copy is coherent with the page cache as direct I/O is: dirty source
 * pages in the range are written back first, and the destination's cached
 * pages in the range are written back and dropped before and dropped
 * again after.  It returns the number of bytes copied from the start of the
 * range; an I/O error, a fatal signal or the provider going away ends it
 * after the chunks in flight.
 *
 * <debugfs>/block/copy_file_range counts copies and bytes per path.
 */

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "blk.h"
#include "blk-copy.h"

/* Chunks in flight, and the largest chunk. */
#define BLK_COPY_DEPTH		4
#define BLK_COPY_MAX_CHUNK	SZ_1M

/**
 * blk_copy_range() - check and clamp a copy between two block devices
 * @in: the source: position, device size and logical block size
 * @out: the destination, likewise
 * @len: bytes asked for
 * @same_device: both are on the same disk (@base tells where)
 * @count: set to the bytes to copy
 *
 * Offsets and length must be multiples of both logical block sizes; a
 * range running past the end of either device is shortened to it, one
 * starting at or past the end copies nothing; overlapping ranges on one
 * device are refused.
 *
 * Return: 0, -EINVAL or -EOVERFLOW.
 */
VISIBLE_IF_KUNIT int blk_copy_range(const struct blk_copy_end *in,
				    const struct blk_copy_end *out, u64 len,
				    bool same_device, u64 *count)
{
	u64 align = max(in->lbs, out->lbs);

	*count = 0;
	if (in->pos < 0 || out->pos < 0)
		return -EINVAL;
	if (!IS_ALIGNED(in->pos, in->lbs) || !IS_ALIGNED(in->pos, out->lbs) ||
	    !IS_ALIGNED(out->pos, in->lbs) || !IS_ALIGNED(out->pos, out->lbs) ||
	    !IS_ALIGNED(len, in->lbs) || !IS_ALIGNED(len, out->lbs))
		return -EINVAL;
	if (len > S64_MAX - in->pos || len > S64_MAX - out->pos)
		return -EOVERFLOW;
	if (in->pos >= in->size || out->pos >= out->size)
		return 0;

	len = min3(len, in->size - in->pos, out->size - out->pos);
	/* What a ssize_t return can carry everywhere, whole blocks. */
	len = min_t(u64, len, round_down(MAX_RW_COUNT, align));
	if (same_device && in->base + in->pos < out->base + out->pos + len &&
	    out->base + out->pos < in->base + in->pos + len)
		return -EINVAL;
	*count = len;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(blk_copy_range);

/**
 * blk_copy_chunk() - the largest chunk both devices take in one request
 * @max_in: largest request of the source, in bytes
 * @max_out: largest request of the destination, in bytes
 * @align: the larger logical block size
 * @count: bytes to copy
 *
 * Return: bytes per chunk, a multiple of @align, at most
 * BLK_COPY_MAX_CHUNK and no more than @count rounded up to a page.
 */
VISIBLE_IF_KUNIT u32 blk_copy_chunk(u32 max_in, u32 max_out, u32 align,
				    u64 count)
{
	u64 chunk = min3((u64)max_in, (u64)max_out, (u64)BLK_COPY_MAX_CHUNK);

	chunk = min(chunk, round_up(count, PAGE_SIZE));
	chunk = round_down(chunk, align);
	return max_t(u64, chunk, align);
}
EXPORT_SYMBOL_IF_KUNIT(blk_copy_chunk);

/**
 * blk_copy_done_bytes() - bytes copied when a copy ends
 * @issued: bytes whose chunks were issued, from the start of the range
 * @first_failed: offset of the first chunk that failed, or U64_MAX
 *
 * Chunks complete out of order; only the prefix before the first failed
 * one is known to be copied.
 *
 * Return: the bytes copied.
 */
VISIBLE_IF_KUNIT u64 blk_copy_done_bytes(u64 issued, u64 first_failed)
{
	return min(issued, first_failed);
}
EXPORT_SYMBOL_IF_KUNIT(blk_copy_done_bytes);

/* Where the copies went: <debugfs>/block/copy_file_range. */
enum blk_copy_stat_item {
	BLK_COPY_P2P_COPIES,
	BLK_COPY_P2P_BYTES,
	BLK_COPY_HOST_COPIES,
	BLK_COPY_HOST_BYTES,
	BLK_COPY_NR_STATS,
};

static atomic64_t blk_copy_stat[BLK_COPY_NR_STATS];

/**
 * struct blk_copy_slot - one buffer and the chunk in it
 * @copy: the copy
 * @page: first page of the buffer (contiguous)
 * @sgl: the buffer's list, when it is p2pmem
 * @order: the buffer's page order, when it is host memory
 * @off: offset of the chunk from the start of the range
 * @len: length of the chunk
 * @state: what the slot does now, see enum blk_copy_state
 * @status: how the last bio ended
 */
struct blk_copy_slot {
	struct blk_copy *copy;
	struct page *page;
	struct scatterlist *sgl;
	unsigned int order;
	u64 off;
	u32 len;
	int state;
	blk_status_t status;
};

enum blk_copy_state {
	BLK_COPY_IDLE,
	BLK_COPY_READING,
	BLK_COPY_READ_DONE,
	BLK_COPY_WRITING,
	BLK_COPY_WRITE_DONE,
};

/**
 * struct blk_copy - one copy_file_range() call
 * @src: source device
 * @dst: destination device
 * @pos_in: start of the range on @src
 * @pos_out: start of the range on @dst
 * @count: bytes to copy
 * @issued: bytes whose chunks were issued
 * @first_failed: offset of the first failed chunk, U64_MAX if none
 * @stop: issue nothing more
 * @provider: the p2pmem provider of the buffers, NULL for host memory
 * @chunk: bytes per buffer
 * @nr_slots: buffers
 * @slots: the buffers
 * @wait: the issuing task waits here for bios to end
 */
struct blk_copy {
	struct block_device *src, *dst;
	loff_t pos_in, pos_out;
	u64 count, issued, first_failed;
	bool stop;
	struct pci_dev *provider;
	u32 chunk;
	int nr_slots;
	struct blk_copy_slot slots[BLK_COPY_DEPTH];
	wait_queue_head_t wait;
};

/*
 * The state changes and the wake-up happen under the waitqueue's lock,
 * which the issuing task takes once more before it frees the copy: once
 * it has seen the last state change, this function no longer runs.
 */
static void blk_copy_end_io(struct bio *bio)
{
	struct blk_copy_slot *slot = bio->bi_private;
	struct blk_copy *copy = slot->copy;
	int done = op_is_write(bio_op(bio)) ? BLK_COPY_WRITE_DONE :
					       BLK_COPY_READ_DONE;
	unsigned long flags;

	slot->status = bio->bi_status;
	bio_put(bio);

	spin_lock_irqsave(&copy->wait.lock, flags);
	/* Pairs with the acquire in the issuing task. */
	smp_store_release(&slot->state, done);
	wake_up_locked(&copy->wait);
	spin_unlock_irqrestore(&copy->wait.lock, flags);
}

static void blk_copy_submit(struct blk_copy_slot *slot, bool write)
{
	struct blk_copy *copy = slot->copy;
	struct block_device *bdev = write ? copy->dst : copy->src;
	loff_t pos = (write ? copy->pos_out : copy->pos_in) + slot->off;
	struct bio *bio;

	/* Like direct I/O: nobody waits for writeback to throttle this. */
	bio = bio_alloc(bdev, 1, write ? REQ_OP_WRITE | REQ_SYNC | REQ_IDLE :
					 REQ_OP_READ, GFP_KERNEL);
	bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
	__bio_add_page(bio, slot->page, slot->len, 0);
	bio->bi_private = slot;
	bio->bi_end_io = blk_copy_end_io;
	WRITE_ONCE(slot->state, write ? BLK_COPY_WRITING : BLK_COPY_READING);
	submit_bio(bio);
}

/* Free every buffer. */
static void blk_copy_free_slots(struct blk_copy *copy)
{
	while (copy->nr_slots) {
		struct blk_copy_slot *slot = &copy->slots[--copy->nr_slots];

		if (slot->sgl)
			pci_p2pmem_free_sgl(copy->provider, slot->sgl);
		else
			__free_pages(slot->page, slot->order);
	}
}

/* One buffer of @len bytes for @slot: the provider's memory, if any. */
static bool blk_copy_alloc_buffer(struct blk_copy *copy,
				  struct blk_copy_slot *slot, u32 len)
{
	unsigned int nents;

	if (copy->provider) {
		slot->sgl = pci_p2pmem_alloc_sgl(copy->provider, &nents, len);
		slot->page = slot->sgl ? sg_page(slot->sgl) : NULL;
	} else {
		slot->sgl = NULL;
		slot->order = get_order(len);
		slot->page = alloc_pages(GFP_KERNEL | __GFP_NORETRY |
					 __GFP_NOWARN, slot->order);
	}
	return slot->page;
}

/*
 * As many of BLK_COPY_DEPTH buffers as there is room for, of the largest
 * chunk that fits at least once, halving down to @align.
 */
static int blk_copy_alloc_slots(struct blk_copy *copy, u32 chunk, u32 align)
{
	for (;;) {
		while (copy->nr_slots < BLK_COPY_DEPTH &&
		       blk_copy_alloc_buffer(copy,
					     &copy->slots[copy->nr_slots], chunk))
			copy->nr_slots++;
		if (copy->nr_slots) {
			copy->chunk = chunk;
			return 0;
		}
		if (chunk <= align)
			return -ENOMEM;
		chunk = max(round_down(chunk / 2, align), align);
	}
}

/*
 * The provider both devices reach, if their queues take p2pmem at all;
 * with a reference.
 */
static struct pci_dev *blk_copy_find_provider(struct blk_copy *copy)
{
	struct device *clients[] = {
		disk_to_dev(copy->src->bd_disk), disk_to_dev(copy->dst->bd_disk)
	};

	if (!blk_queue_pci_p2pdma(bdev_get_queue(copy->src)) ||
	    !blk_queue_pci_p2pdma(bdev_get_queue(copy->dst)))
		return NULL;
	return pci_p2pmem_find_many(clients, ARRAY_SIZE(clients));
}

/* Stop issuing: an error, a fatal signal, the provider going away. */
static bool blk_copy_should_stop(struct blk_copy *copy)
{
	if (copy->stop || copy->issued == copy->count)
		return true;
	if (fatal_signal_pending(current) ||
	    (copy->provider && !pci_has_p2pmem(copy->provider)))
		copy->stop = true;
	return copy->stop;
}

static void blk_copy_failed(struct blk_copy *copy, struct blk_copy_slot *slot)
{
	copy->first_failed = min(copy->first_failed, slot->off);
	copy->stop = true;
}

/* Move every slot one step on; true while anything is in flight. */
static bool blk_copy_step(struct blk_copy *copy)
{
	bool busy = false;
	int i;

	for (i = 0; i < copy->nr_slots; i++) {
		struct blk_copy_slot *slot = &copy->slots[i];

		/* Pairs with the release in blk_copy_end_io(). */
		switch (smp_load_acquire(&slot->state)) {
		case BLK_COPY_READ_DONE:
			/* A chunk in flight is written even when stopping. */
			if (slot->status) {
				blk_copy_failed(copy, slot);
				WRITE_ONCE(slot->state, BLK_COPY_IDLE);
				break;
			}
			blk_copy_submit(slot, true);
			busy = true;
			break;
		case BLK_COPY_WRITE_DONE:
			if (slot->status)
				blk_copy_failed(copy, slot);
			WRITE_ONCE(slot->state, BLK_COPY_IDLE);
			break;
		case BLK_COPY_READING:
		case BLK_COPY_WRITING:
			busy = true;
			break;
		}
		if (READ_ONCE(slot->state) == BLK_COPY_IDLE &&
		    !blk_copy_should_stop(copy)) {
			slot->off = copy->issued;
			slot->len = min_t(u64, copy->chunk,
					  copy->count - copy->issued);
			copy->issued += slot->len;
			blk_copy_submit(slot, false);
			busy = true;
		}
	}
	return busy;
}

static bool blk_copy_slot_done(struct blk_copy *copy)
{
	int i;

	for (i = 0; i < copy->nr_slots; i++) {
		/* Pairs with the release in blk_copy_end_io(). */
		int state = smp_load_acquire(&copy->slots[i].state);

		if (state == BLK_COPY_READ_DONE || state == BLK_COPY_WRITE_DONE)
			return true;
	}
	return false;
}

/* Run the pipeline until every issued chunk has ended. */
static void blk_copy_run(struct blk_copy *copy)
{
	while (blk_copy_step(copy))
		wait_event(copy->wait, blk_copy_slot_done(copy));
	/* The last completion has left blk_copy_end_io(). */
	spin_lock_irq(&copy->wait.lock);
	spin_unlock_irq(&copy->wait.lock);
}

/* Write back and drop what the page cache holds of @len bytes at @pos. */
static int blk_copy_sync_range(struct address_space *mapping, loff_t pos,
			       u64 len, bool drop)
{
	int ret = filemap_write_and_wait_range(mapping, pos, pos + len - 1);

	if (ret || !drop)
		return ret;
	return invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
					     (pos + len - 1) >> PAGE_SHIFT);
}

static ssize_t blk_copy_data(struct blk_copy *copy, u32 align)
{
	u32 chunk = blk_copy_chunk(queue_max_bytes(bdev_get_queue(copy->src)),
				   queue_max_bytes(bdev_get_queue(copy->dst)),
				   align, copy->count);
	bool p2p = false;
	u64 done;

	copy->provider = blk_copy_find_provider(copy);
	if (copy->provider && !blk_copy_alloc_slots(copy, chunk, align)) {
		p2p = true;
	} else {
		/* Host pages do not depend on the provider staying. */
		pci_dev_put(copy->provider);
		copy->provider = NULL;
		if (blk_copy_alloc_slots(copy, min_t(u32, chunk, SZ_256K),
					 align))
			return -ENOMEM;
	}

	blk_copy_run(copy);
	blk_copy_free_slots(copy);
	pci_dev_put(copy->provider);

	done = blk_copy_done_bytes(copy->issued, copy->first_failed);
	atomic64_inc(&blk_copy_stat[p2p ? BLK_COPY_P2P_COPIES :
					  BLK_COPY_HOST_COPIES]);
	atomic64_add(done, &blk_copy_stat[p2p ? BLK_COPY_P2P_BYTES :
					       BLK_COPY_HOST_BYTES]);
	if (done)
		return done;
	if (fatal_signal_pending(current))
		return -EINTR;
	return copy->first_failed != U64_MAX ? -EIO : 0;
}

/**
 * blkdev_copy_file_range() - copy_file_range() between two block devices
 * @file_in: the source, open for reading
 * @pos_in: where to read
 * @file_out: the destination, open for writing
 * @pos_out: where to write
 * @len: bytes to copy
 *
 * Return: the bytes copied, which may be fewer than @len (the end of a
 * device, an I/O error, a fatal signal), or a negative errno.
 */
ssize_t blkdev_copy_file_range(struct file *file_in, loff_t pos_in,
			       struct file *file_out, loff_t pos_out,
			       size_t len)
{
	struct block_device *src = file_bdev(file_in), *dst = file_bdev(file_out);
	struct blk_copy_end in = {
		.pos = pos_in, .size = bdev_nr_bytes(src),
		.lbs = bdev_logical_block_size(src),
		.base = (u64)src->bd_start_sect << SECTOR_SHIFT,
	};
	struct blk_copy_end out = {
		.pos = pos_out, .size = bdev_nr_bytes(dst),
		.lbs = bdev_logical_block_size(dst),
		.base = (u64)dst->bd_start_sect << SECTOR_SHIFT,
	};
	struct blk_copy *copy;
	ssize_t ret;
	u64 count;

	if (!(file_in->f_mode & FMODE_READ) ||
	    !(file_out->f_mode & FMODE_WRITE) || (file_out->f_flags & O_APPEND))
		return -EBADF;
	if (bdev_read_only(dst))
		return -EPERM;
	if (IS_SWAPFILE(src->bd_mapping->host) ||
	    IS_SWAPFILE(dst->bd_mapping->host))
		return -ETXTBSY;

	/* A partition and its whole disk, or two partitions, may overlap. */
	ret = blk_copy_range(&in, &out, len, bdev_whole(src) == bdev_whole(dst),
			     &count);
	if (ret || !count)
		return ret;
	ret = rw_verify_area(READ, file_in, &pos_in, count);
	if (!ret)
		ret = rw_verify_area(WRITE, file_out, &pos_out, count);
	if (ret)
		return ret;

	ret = blk_copy_sync_range(src->bd_mapping, pos_in, count, false);
	if (!ret)
		ret = blk_copy_sync_range(dst->bd_mapping, pos_out, count, true);
	if (ret)
		return ret;

	copy = kzalloc(sizeof(*copy), GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	copy->src = src;
	copy->dst = dst;
	copy->pos_in = pos_in;
	copy->pos_out = pos_out;
	copy->count = count;
	copy->first_failed = U64_MAX;
	init_waitqueue_head(&copy->wait);
	for (int i = 0; i < BLK_COPY_DEPTH; i++)
		copy->slots[i].copy = copy;

	ret = blk_copy_data(copy, max(in.lbs, out.lbs));
	kfree(copy);

	/* As after a direct write: readers must not see the old data. */
	if (ret > 0 &&
	    invalidate_inode_pages2_range(dst->bd_mapping, pos_out >> PAGE_SHIFT,
					  (pos_out + ret - 1) >> PAGE_SHIFT))
		pr_warn_ratelimited("%pg: page cache of the copied range could not be dropped; readers may see stale data\n",
				    dst);
	return ret;
}

#ifdef CONFIG_DEBUG_FS
static int blk_copy_stats_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "p2p_copies %lld\np2p_bytes %lld\nhost_copies %lld\nhost_bytes %lld\n",
		   atomic64_read(&blk_copy_stat[BLK_COPY_P2P_COPIES]),
		   atomic64_read(&blk_copy_stat[BLK_COPY_P2P_BYTES]),
		   atomic64_read(&blk_copy_stat[BLK_COPY_HOST_COPIES]),
		   atomic64_read(&blk_copy_stat[BLK_COPY_HOST_BYTES]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(blk_copy_stats);

static int __init blk_copy_debugfs_init(void)
{
	debugfs_create_file("copy_file_range", 0444, blk_debugfs_root, NULL,
			    &blk_copy_stats_fops);
	return 0;
}
late_initcall(blk_copy_debugfs_init);
#endif
