// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for copy_file_range() between block devices: range checks,
 * chunk sizes and the bytes a copy reports.
 *
 * Copyright (c) 2026 The p2pdma authors
 */

#include <kunit/test.h>
#include <linux/fs.h>
#include <linux/sizes.h>

#include "blk-copy.h"

/* Two 64 MiB devices, 512-byte and 4 KiB logical blocks. */
#define DEV_SIZE	(64ULL << 20)

struct blk_copy_range_case {
	const char *desc;
	loff_t in, out;
	u32 lbs_in, lbs_out;
	u64 len;
	bool same;
	int ret;
	u64 count;
	u64 base_in, base_out;	/* partitions: where they start on the disk */
};

static const struct blk_copy_range_case blk_copy_range_cases[] = {
	{ "whole", 0, 0, 512, 512, DEV_SIZE, false, 0, DEV_SIZE },
	{ "one block", 512, 1024, 512, 512, 512, false, 0, 512 },
	{ "zero length", 0, 0, 512, 512, 0, false, 0, 0 },
	{ "past the source's end", DEV_SIZE - SZ_1M, 0, 512, 512, SZ_4M, false,
	  0, SZ_1M },
	{ "past the destination's end", 0, DEV_SIZE - SZ_4K, 512, 4096, SZ_1M,
	  false, 0, SZ_4K },
	{ "at the source's end", DEV_SIZE, 0, 512, 512, SZ_1M, false, 0, 0 },
	{ "beyond the destination's end", 0, DEV_SIZE + SZ_1M, 512, 512,
	  SZ_1M, false, 0, 0 },
	{ "source offset off the 4k blocks", 512, 0, 512, 4096, SZ_4K, false,
	  -EINVAL, 0 },
	{ "destination offset off the 4k blocks", 0, 512, 4096, 512, SZ_4K,
	  false, -EINVAL, 0 },
	{ "length off the 4k blocks", 0, 0, 512, 4096, SZ_4K + 512, false,
	  -EINVAL, 0 },
	{ "length not a block", 0, 0, 512, 512, 100, false, -EINVAL, 0 },
	{ "negative source offset", -512, 0, 512, 512, 512, false, -EINVAL, 0 },
	{ "offset plus length wraps", 0, SZ_1M, 512, 512,
	  round_down(S64_MAX, 512), false, -EOVERFLOW, 0 },
	{ "same device, overlapping", 0, SZ_1M, 512, 512, SZ_2M, true,
	  -EINVAL, 0 },
	{ "same device, overlapping backwards", SZ_1M, 0, 512, 512, SZ_2M,
	  true, -EINVAL, 0 },
	{ "same device, adjacent", 0, SZ_1M, 512, 512, SZ_1M, true, 0, SZ_1M },
	{ "same device, clamped apart", DEV_SIZE - SZ_1M, DEV_SIZE - SZ_2M,
	  512, 512, SZ_4M, true, 0, SZ_1M },
	{ "different devices, same offsets", SZ_1M, SZ_1M, 512, 512, SZ_2M,
	  false, 0, SZ_2M },
	{ "a partition overlapping its disk", 0, SZ_1M + SZ_512K, 512, 512,
	  SZ_1M, true, -EINVAL, 0, SZ_1M, 0 },
	{ "two partitions of one disk, apart", 0, 0, 512, 512, SZ_1M, true, 0,
	  SZ_1M, 0, SZ_32M },
	{ "two partitions of one disk, overlapping", SZ_4M, 0, 512, 512, SZ_1M,
	  true, -EINVAL, 0, 0, SZ_4M },
};

static void blk_copy_range_desc(const struct blk_copy_range_case *c,
				char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(blk_copy_range, blk_copy_range_cases, blk_copy_range_desc);

static void blk_copy_range_test(struct kunit *test)
{
	const struct blk_copy_range_case *c = test->param_value;
	struct blk_copy_end in = { c->in, DEV_SIZE, c->lbs_in, c->base_in };
	struct blk_copy_end out = { c->out, DEV_SIZE, c->lbs_out, c->base_out };
	u64 count = 12345;

	KUNIT_EXPECT_EQ(test, blk_copy_range(&in, &out, c->len, c->same,
					     &count), c->ret);
	KUNIT_EXPECT_EQ(test, count, c->count);
}

/* A ssize_t must carry the result: very long copies are cut in whole blocks */
static void blk_copy_range_huge(struct kunit *test)
{
	struct blk_copy_end in = { 0, U64_MAX >> 2, 4096 };
	struct blk_copy_end out = { 0, U64_MAX >> 2, 512 };
	u64 count;

	KUNIT_EXPECT_EQ(test, blk_copy_range(&in, &out, 1ULL << 40, false,
					     &count), 0);
	KUNIT_EXPECT_LE(test, count, (u64)MAX_RW_COUNT);
	KUNIT_EXPECT_GT(test, count, 0);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(count, 4096));
}

static void blk_copy_chunk_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(SZ_2M, SZ_4M, 512, SZ_64M), SZ_1M);
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(SZ_128K, SZ_4M, 512, SZ_64M),
			SZ_128K);
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(SZ_4M, SZ_256K, 4096, SZ_64M),
			SZ_256K);
	/* A short copy takes one chunk, rounded up to a page */
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(SZ_4M, SZ_4M, 512, 1536),
			PAGE_SIZE);
	/* Odd queue limits are cut to whole blocks, never below one */
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(SZ_64K + 512, SZ_4M, 4096,
					     SZ_64M), SZ_64K);
	KUNIT_EXPECT_EQ(test, blk_copy_chunk(512, 512, 4096, SZ_64M), 4096);
}

static void blk_copy_done_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, blk_copy_done_bytes(SZ_4M, U64_MAX), SZ_4M);
	/* The second chunk failed while later ones completed */
	KUNIT_EXPECT_EQ(test, blk_copy_done_bytes(SZ_4M, SZ_1M), SZ_1M);
	KUNIT_EXPECT_EQ(test, blk_copy_done_bytes(SZ_4M, 0), 0);
	KUNIT_EXPECT_EQ(test, blk_copy_done_bytes(0, U64_MAX), 0);
}

static struct kunit_case blk_copy_cases[] = {
	KUNIT_CASE_PARAM(blk_copy_range_test, blk_copy_range_gen_params),
	KUNIT_CASE(blk_copy_range_huge),
	KUNIT_CASE(blk_copy_chunk_test),
	KUNIT_CASE(blk_copy_done_test),
	{}
};

static struct kunit_suite blk_copy_suite = {
	.name = "blk_copy",
	.test_cases = blk_copy_cases,
};

kunit_test_suite(blk_copy_suite);

MODULE_DESCRIPTION("KUnit tests for copy_file_range() between block devices");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
