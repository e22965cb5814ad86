/* SPDX-License-Identifier: GPL-2.0 */
/*
 * copy_file_range() between block devices: what the KUnit suite sees.
 *
 * Copyright (c) 2026 The p2pdma authors
 */
#ifndef BLK_COPY_H
#define BLK_COPY_H

#include <linux/types.h>

/**
 * struct blk_copy_end - one end of a copy
 * @pos: byte offset on the device
 * @size: size of the device in bytes
 * @lbs: its logical block size
 * @base: where the device starts on its disk (partitions), in bytes
 */
struct blk_copy_end {
	loff_t pos;
	u64 size;
	u32 lbs;
	u64 base;
};

#if IS_ENABLED(CONFIG_KUNIT)
int blk_copy_range(const struct blk_copy_end *in,
		   const struct blk_copy_end *out, u64 len, bool same_device,
		   u64 *count);
u32 blk_copy_chunk(u32 max_in, u32 max_out, u32 align, u64 count);
u64 blk_copy_done_bytes(u64 issued, u64 first_failed);
#endif

#endif /* BLK_COPY_H */
