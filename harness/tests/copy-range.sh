#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# copy_file_range(2) between block devices on one-switch: swA and swB with
# CMBs below one switch (the copy goes device -> CMB -> device), rpC on
# another root port (no provider both reach: host memory).  Copies are made
# by xfs_io (xfsprogs, a client written by others) and by our
# p2pmem-copy-range, verified in the guest and, via host-verify lines, in
# the disk images; <debugfs>/block/copy_file_range tells which path each
# took.  Then the error cases, the page cache, an exhausted provider,
# SIGKILL and hot removal of the destination, then the source, during
# copies.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
STATS=/sys/kernel/debug/block/copy_file_range
if [ ! -r $STATS ]; then
	ktap_plan 1
	ktap_skip "copy_file_range" "no block device copy in this kernel ($P2PDMA_IMPL)"
	exit 0
fi
ktap_plan 39
MIB=1048576
A=$(nvme_ns swA); B=$(nvme_ns swB); C=$(nvme_ns rpC)
pa=$(nvme_bdf swA); pb=$(nvme_bdf swB)
full_a=$(p2p_available "$pa"); full_b=$(p2p_available "$pb")
ktap_diag "swA $A ($pa), swB $B ($pb), rpC $C"

# stat NAME: one counter.
stat() {
	sed -n "s/^$1 //p" $STATS
}

# same DEV1 MIB1 DEV2 MIB2 COUNT: COUNT MiB equal in both.
same() {
	[ "$(ns_sum "$1" "$2" "$5")" = "$(ns_sum "$3" "$4" "$5")" ]
}

# both_free: the CMBs of swA and swB are all available again.
both_free() {
	wait_available "$pa" "$full_a" && wait_available "$pb" "$full_b"
}

# copies_again: a copy swA -> swB (found anew by serial) works.
copies_again() {
	[ "$(p2pmem-copy-range "$A" $((56 * MIB)) "$(nvme_ns swB)" $((56 * MIB)) $MIB |
	     head -n 1)" = "copied $MIB" ]
}

# host_verify DST SRC FIRST COUNT: ask the host to compare MiBs too.
host_verify() {
	local i=$3
	while [ $i -lt $(($3 + $4)) ]; do
		echo "# host-verify: $1 $2 $i ok"
		i=$((i + 1))
	done
}

# ---- device -> CMB -> device, by xfs_io ----
p2p0=$(stat p2p_copies); p2pb0=$(stat p2p_bytes)
out=$(xfs_io -c "copy_range -s $((8 * MIB)) -d $((8 * MIB)) -l $((8 * MIB)) $A" "$B" 2>&1)
ktap_check "xfs_io copy_range swA -> swB, 8 MiB, succeeds" [ -z "$out" ]
[ -z "$out" ] || echo "$out" | sed 's/^/# /'
ktap_check "... copies the data" same "$A" 8 "$B" 8 8
host_verify swB swA 8 8
ktap_check "... through p2pmem: one P2P copy of 8 MiB counted" \
	[ "$(stat p2p_copies)" = $((p2p0 + 1)) -a \
	  "$(stat p2p_bytes)" = $((p2pb0 + 8 * MIB)) ]
ktap_check "... and the providers' memory is all back" both_free

# ---- across root ports: no provider both reach, host memory ----
h0=$(stat host_copies); hb0=$(stat host_bytes)
r=$(p2pmem-copy-range "$A" $((16 * MIB)) "$C" $((16 * MIB)) $((4 * MIB)) | head -n 1)
ktap_check "swA -> rpC, 4 MiB: '$r'" [ "$r" = "copied $((4 * MIB))" ]
ktap_check "... copies the data" same "$A" 16 "$C" 16 4
host_verify rpC swA 16 4
ktap_check "... through host memory: one host copy of 4 MiB counted" \
	[ "$(stat host_copies)" = $((h0 + 1)) -a \
	  "$(stat host_bytes)" = $((hb0 + 4 * MIB)) ]

# ---- the interface ----
# err ERRNO ARGS...: the call fails with ERRNO.
err() {
	local want=$1 r
	shift
	r=$(p2pmem-copy-range "$@")
	[ "$r" = "error $want" ] || { echo "# got: $r"; return 1; }
}
ktap_check "flags != 0: EINVAL" err EINVAL --flags 1 "$A" 0 "$B" 0 4096
ktap_check "source open for writing only: EBADF" \
	err EBADF --src-mode w "$A" 0 "$B" 0 4096
ktap_check "destination open for reading only: EBADF" \
	err EBADF --dst-mode r "$A" 0 "$B" 0 4096
ktap_check "destination open with O_APPEND: EBADF" \
	err EBADF --dst-mode append "$A" 0 "$B" 0 4096
ktap_check "no source descriptor: EBADF" err EBADF --bad-fd-in "$A" 0 "$B" 0 4096
ktap_check "source offset not a multiple of the block size: EINVAL" \
	err EINVAL "$A" 100 "$B" 0 4096
ktap_check "destination offset not a multiple of the block size: EINVAL" \
	err EINVAL "$A" 0 "$B" 1000 4096
ktap_check "length not a multiple of the block size: EINVAL" \
	err EINVAL "$A" 0 "$B" 0 1000
ktap_check "overlapping ranges on one device: EINVAL" \
	err EINVAL --src-mode r --dst-mode w "$A" 0 "$A" 4096 $((64 * 1024))
ktap_check "a regular file to a block device: EINVAL, as before" \
	sh -c "head -c 4096 /dev/zero > /tmp/f && [ \"\$(p2pmem-copy-range /tmp/f 0 $B 0 4096)\" = 'error EINVAL' ]"
size=$((DISK_MB * MIB))
r=$(p2pmem-copy-range "$A" $((size - MIB)) "$B" $((40 * MIB)) $((4 * MIB)) | head -n 1)
ktap_check "a range past the source's end is shortened: '$r'" [ "$r" = "copied $MIB" ]
r=$(p2pmem-copy-range "$A" 0 "$B" $((size - 8192)) $MIB | head -n 1)
ktap_check "a range past the destination's end is shortened: '$r'" [ "$r" = "copied 8192" ]
r=$(p2pmem-copy-range "$A" "$size" "$B" 0 $MIB | head -n 1)
ktap_check "a source offset at the end copies nothing: '$r'" [ "$r" = "copied 0" ]
r=$(p2pmem-copy-range --file-pos "$A" $((24 * MIB)) "$B" $((26 * MIB)) $MIB | tail -n 1)
ktap_check "NULL offsets use and advance the file positions: '$r'" \
	[ "$r" = "pos_in $((25 * MIB)) pos_out $((27 * MIB))" ]
r=$(p2pmem-copy-range "$A" $((24 * MIB)) "$B" $((28 * MIB)) $MIB | tail -n 1)
ktap_check "given offsets are advanced: '$r'" \
	[ "$r" = "off_in $((25 * MIB)) off_out $((29 * MIB))" ]

# ---- the page cache ----
# Dirty source pages are written back first; cached destination pages are
# dropped, so buffered readers see the new data.
head -c $MIB /dev/urandom > /tmp/new
dd if=/tmp/new of="$A" bs=1M seek=30 count=1 conv=notrunc 2>/dev/null
dd if="$B" of=/dev/null bs=1M skip=30 count=1 2>/dev/null
p2pmem-copy-range "$A" $((30 * MIB)) "$B" $((30 * MIB)) $MIB > /dev/null
ktap_check "a dirty source page is copied, not what the disk had" \
	[ "$(ns_sum "$B" 30 1)" = "$(md5sum < /tmp/new | cut -d' ' -f1)" ]
ktap_check "a buffered read of the destination sees the new data" \
	[ "$(dd if="$B" bs=1M skip=30 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" = \
	  "$(md5sum < /tmp/new | cut -d' ' -f1)" ]

# ---- the providers exhausted: host memory instead of failing ----
rm -f /tmp/ha /tmp/hb
p2pmem-fault hold --size "$full_a" --seconds 60 --ready /tmp/ha "$pa" > /dev/null 2>&1 &
ha=$!
p2pmem-fault hold --size "$full_b" --seconds 60 --ready /tmp/hb "$pb" > /dev/null 2>&1 &
hb=$!
wait_exists /tmp/ha 10
wait_exists /tmp/hb 10
h0=$(stat host_copies); p2p0=$(stat p2p_copies)
# From random data to zeros no other copy here writes, so that a copy that
# moved nothing fails.
r=$(p2pmem-copy-range "$A" $((20 * MIB)) "$B" $((50 * MIB)) $((2 * MIB)) | head -n 1)
ktap_check "with both CMBs taken, swA -> swB still copies: '$r'" \
	[ "$r" = "copied $((2 * MIB))" ]
ktap_check "... through host memory" \
	[ "$(stat host_copies)" = $((h0 + 1)) -a "$(stat p2p_copies)" = "$p2p0" ]
ktap_check "... the data" same "$A" 20 "$B" 50 2
echo "# host-verify: swA 20 swB 50 ok"
echo "# host-verify: swA 21 swB 51 ok"
kill $ha $hb
wait $ha $hb 2>/dev/null

# ---- SIGKILL: the chunks in flight finish, nothing is held ----
xfs_io -c "copy_range -s 0 -d 0 -l $((DATA_MB * MIB)) $A" "$B" &
pid=$!
sleep 0.2
kill -9 $pid
wait_pid $pid 10
rc=$?
ktap_check "SIGKILL ends a copy in progress (status $rc)" [ $rc = 137 ]
ktap_check "... and the CMBs are all free again" both_free

# remove_during_copies SERIAL BDF SRC DST WHAT: copies SRC -> DST in a loop
# that ends with the first failure; SERIAL (at BDF) is removed meanwhile.
remove_during_copies() {
	(while p2pmem-copy-range "$3" 0 "$4" 0 $((48 * MIB)) > /tmp/cr.out; do
		:
	done) &
	loop=$!
	sleep 0.5
	nvme_unplug "$1"
	ktap_check "$1 hot-removed during copies $5 it" \
		wait_gone "/sys/bus/pci/devices/$2" 20
	wait_pid $loop 60
	ktap_check "the copy $5 the removed device ends with an error, no hang" \
		[ $? = 0 ]
	sed 's/^/# last: /' /tmp/cr.out
}

# ---- the destination, then the source, removed during copies ----
sum_c=$(ns_sum "$C" 0 "$DATA_MB")
remove_during_copies swB "$pb" "$A" "$B" into
ktap_check "swA's CMB is all free again" wait_available "$pa" "$full_a"
ktap_check "rpC is untouched" [ "$(ns_sum "$C" 0 "$DATA_MB")" = "$sum_c" ]
nvme_replug swB
ktap_check "swB plugged back in" wait_for 20 nvme_ns swB
ktap_check "a copy swA -> swB works again" copies_again

remove_during_copies swA "$pa" "$A" "$C" "out of"
nvme_replug swA
ktap_check "swA plugged back in, its CMB all available" \
	sh -c ". /lib/p2pdma-lib.sh; wait_for 20 nvme_ns swA > /dev/null &&
	       wait_available $pa $full_a"
ktap_check "kernel log clean" dmesg_clean
ktap_exit
