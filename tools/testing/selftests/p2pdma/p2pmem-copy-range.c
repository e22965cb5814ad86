// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-copy-range: one copy_file_range(2) call between two files (block
 * devices, for the in-kernel copy through p2pmem), reporting exactly what
 * the kernel answered.
 *
 *   p2pmem-copy-range [options] SRC SRC_OFF DST DST_OFF LEN
 *
 * Prints "copied N" and, with --file-pos, "pos_in X pos_out Y" (the file
 * positions afterwards); or "error ENAME" for a failed call.  Exit status:
 * 0 copied, 1 the call failed, 2 bad usage or a failed open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdbool.h>

static void print_help(void)
{
	fprintf(stderr,
		"usage: p2pmem-copy-range [options] SRC SRC_OFF DST DST_OFF LEN\n"
		"  --flags N       the flags argument (default 0)\n"
		"  --file-pos      pass NULL offsets: seek the files to SRC_OFF and\n"
		"                  DST_OFF first and print the positions afterwards\n"
		"  --src-mode M    open SRC with M: r, w or rw (default r)\n"
		"  --dst-mode M    open DST with M: r, w, rw or append (default w)\n"
		"  --bad-fd-in     pass -1 as the source descriptor\n"
		"Prints \"copied N\" or \"error ENAME\"; exit 0 copied, 1 the call\n"
		"failed, 2 for bad arguments.\n");
	exit(2);
}

static int open_mode(const char *path, const char *mode)
{
	int flags;

	if (!strcmp(mode, "r"))
		flags = O_RDONLY;
	else if (!strcmp(mode, "w"))
		flags = O_WRONLY;
	else if (!strcmp(mode, "rw"))
		flags = O_RDWR;
	else if (!strcmp(mode, "append"))
		flags = O_WRONLY | O_APPEND;
	else
		print_help();
	return open(path, flags);
}

static const char *errno_name(int err)
{
	switch (err) {
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EOVERFLOW: return "EOVERFLOW";
	case EIO: return "EIO";
	case EINTR: return "EINTR";
	case EPERM: return "EPERM";
	case EXDEV: return "EXDEV";
	case EISDIR: return "EISDIR";
	case ENOMEM: return "ENOMEM";
	case ETXTBSY: return "ETXTBSY";
	default: return strerror(err);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flags", required_argument, NULL, 'f' },
		{ "file-pos", no_argument, NULL, 'p' },
		{ "src-mode", required_argument, NULL, 's' },
		{ "dst-mode", required_argument, NULL, 'd' },
		{ "bad-fd-in", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *src_mode = "r", *dst_mode = "w";
	unsigned long long len;
	bool file_pos = false, bad_fd = false;
	unsigned int flags = 0;
	loff_t off_in, off_out;
	int in, out, opt;
	ssize_t ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			flags = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			file_pos = true;
			break;
		case 's':
			src_mode = optarg;
			break;
		case 'd':
			dst_mode = optarg;
			break;
		case 'b':
			bad_fd = true;
			break;
		default:
			print_help();
		}
	}
	if (argc - optind != 5)
		print_help();
	off_in = strtoll(argv[optind + 1], NULL, 0);
	off_out = strtoll(argv[optind + 3], NULL, 0);
	len = strtoull(argv[optind + 4], NULL, 0);

	in = open_mode(argv[optind], src_mode);
	out = open_mode(argv[optind + 2], dst_mode);
	if (in < 0 || out < 0) {
		perror("open");
		return 2;
	}
	if (bad_fd)
		in = -1;

	if (file_pos) {
		if (lseek(in, off_in, SEEK_SET) < 0 ||
		    lseek(out, off_out, SEEK_SET) < 0) {
			perror("lseek");
			return 2;
		}
		ret = copy_file_range(in, NULL, out, NULL, len, flags);
	} else {
		ret = copy_file_range(in, &off_in, out, &off_out, len, flags);
	}
	if (ret < 0) {
		printf("error %s\n", errno_name(errno));
		return 1;
	}
	printf("copied %zd\n", ret);
	if (file_pos)
		printf("pos_in %lld pos_out %lld\n",
		       (long long)lseek(in, 0, SEEK_CUR),
		       (long long)lseek(out, 0, SEEK_CUR));
	else
		printf("off_in %lld off_out %lld\n", (long long)off_in,
		       (long long)off_out);
	return 0;
}
