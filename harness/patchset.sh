#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Our work as a "git am"-able series against the pinned base.
#
# usage: patchset.sh make|apply|bisect
#   make    commit the pristine base once ($OUT/base.git), then our steps
#           (harness/patchset/NN-*.txt) on top; write $OUT/patchset/ with
#           "git format-patch" and a cover letter
#   apply   make, then "git am" the series on a checkout of the base
#           ($OUT/bisect/src-ours), run checkpatch --strict on every patch
#           and compare the result with what "make source" produces
#   bisect  apply, then build every step (x86_64, tinyconfig +
#           harness/configs/p2pdma.config, incremental with ccache)
# Results are PASS/FAIL lines; the exit status is 1 if any failed.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
MODE=${1:-make}
BASE=$OUT/base/linux-source-6.12
GIT_DIR=$OUT/base.git
TREE=$OUT/bisect/src-ours
BUILD=$OUT/bisect/build-ours
FAILED=0

pass() { echo "  PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; }
now() { date +%s; }
# git on the base repository (bare; the checkout is a worktree of it).
bgit() { git --git-dir="$GIT_DIR" "$@"; }

# The pristine base, committed once (about 1.5 minutes on 2 cores).
base_repo() {
	local t0 tree
	if bgit rev-parse -q --verify refs/heads/base >/dev/null 2>&1 &&
	   [ "$(cat "$GIT_DIR/p2pdma-base-version" 2>/dev/null)" = "$(cat "$OUT/base-version")" ]; then
		return 0
	fi
	t0=$(now)
	echo "  GIT     committing the pristine base $(cat "$OUT/base-version") to $GIT_DIR"
	rm -rf "$GIT_DIR"
	git init -q --bare "$GIT_DIR" || return 1
	bgit --work-tree="$BASE" add -A -f || return 1
	tree=$(bgit write-tree) || return 1
	GIT_AUTHOR_NAME="Debian linux-source-6.12" GIT_AUTHOR_EMAIL=debian-kernel@lists.debian.org \
	GIT_COMMITTER_NAME="p2pdma patchset" GIT_COMMITTER_EMAIL=p2pdma@example.org \
	GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z \
		bgit commit-tree "$tree" -m "Linux $(cat "$OUT/base-version") (Debian linux-source-6.12 $(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null))" \
		> "$GIT_DIR/base-commit" || return 1
	bgit update-ref refs/heads/base "$(cat "$GIT_DIR/base-commit")" || return 1
	rm -f "$GIT_DIR/index"
	cat "$OUT/base-version" > "$GIT_DIR/p2pdma-base-version"
	echo "  GIT     base committed in $(($(now) - t0)) s"
}

make_series() {
	"$TOP/harness/prepare.sh" "$OUT" ours >/dev/null || return 1
	base_repo || return 1
	python3 "$TOP/harness/patchset.py" "$TOP" "$GIT_DIR" "$(bgit rev-parse refs/heads/base)" \
		"$BASE" "$OUT/patchset" || return 1
	echo "  SERIES  $OUT/patchset: $(ls "$OUT/patchset" | wc -l) files against Linux $(cat "$OUT/base-version")"
	ls "$OUT/patchset" | sed 's/^/          /'
}

# A checkout of the base with the series applied by "git am".
apply_series() {
	local t0 n rc patches
	t0=$(now)
	# A clone sharing the base's objects, not a worktree of the bare
	# repository: checkpatch's spdxcheck.py refuses those.
	if [ ! -d "$TREE/.git" ]; then
		rm -rf "$TREE"
		mkdir -p "$OUT/bisect"
		git clone -q -s --no-checkout "$GIT_DIR" "$TREE" || return 1
	fi
	git -C "$TREE" fetch -q origin || return 1
	patches=$(ls "$OUT"/patchset/0*.patch | grep -v /0000-cover-letter.patch)
	n=$(echo "$patches" | wc -l)
	# shellcheck disable=SC2086
	(
		cd "$TREE" || exit 1
		git am --abort >/dev/null 2>&1
		git checkout -q -f --detach "$BASE_COMMIT" && git clean -q -f -d -x &&
		git -c user.name="p2pdma check" -c user.email=p2pdma@example.org \
			am -q $patches
	) > "$OUT/bisect/am.log" 2>&1
	rc=$?
	if [ $rc = 0 ] && [ "$(git -C "$TREE" rev-list --count "$BASE_COMMIT"..HEAD)" = "$n" ]; then
		pass "git am: the $n patches apply to a checkout of the pristine base ($(($(now) - t0)) s)"
	else
		sed 's/^/        /' "$OUT/bisect/am.log" | tail -n 20
		fail "git am: the series applies to the pristine base"
		return 1
	fi
}

# The tree the series ends in against what "make source" lays out: every
# file make source manages, and every file the series touches.
compare_source() {
	local f bad=0 n=0 extra=0
	while read -r f; do
		n=$((n + 1))
		if ! cmp -s "$TREE/$f" "$OUT/src-ours/$f"; then
			echo "        differs: $f"
			bad=$((bad + 1))
		fi
	done < "$OUT/src-ours/.p2pdma-managed"
	# Files make source does not lay out (the selftests, built from this
	# repository) must equal ours.
	while read -r f; do
		grep -qxF "$f" "$OUT/src-ours/.p2pdma-managed" && continue
		extra=$((extra + 1))
		if ! cmp -s "$TREE/$f" "$TOP/$f"; then
			echo "        differs from the repository: $f"
			bad=$((bad + 1))
		fi
	done < <(git -C "$TREE" diff --name-only "$BASE_COMMIT" HEAD)
	if [ "$bad" = 0 ]; then
		pass "the series' last step equals make source byte for byte ($n files; $extra more, the selftests, equal this repository's)"
	else
		fail "the series' last step differs from make source in $bad files"
	fi
}

checkpatch_series() {
	local p log
	for p in "$OUT"/patchset/0*.patch; do
		case $p in *cover-letter*) continue ;; esac
		# In the tree, so that it checks SPDX tags with spdxcheck.py,
		# which needs Debian's python3 with python3-ply and python3-git.
		log=$(cd "$TREE" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl \
			--strict --quiet --ignore FILE_PATH_CHANGES "$p" 2>&1)
		if [ -z "$log" ]; then pass "checkpatch --strict ${p##*/}"
		else echo "$log" | head -n 20 | sed 's/^/        /'; fail "checkpatch --strict ${p##*/}"; fi
	done
}

# Build every step in turn; only what a step changes is rebuilt.
bisect_builds() {
	local c i=0 t0 t1 log subject frags=("$TOP/harness/configs/p2pdma.config")
	local kmake=(nice -n 10 make -s -C "$TREE" O="$BUILD" CC="ccache gcc" HOSTCC="ccache gcc" -j"$(nproc)")
	export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
	# The same paths relative to the build directory as harness/build-kernel.sh
	# uses, so the compiler cache serves the files no step changes.
	export CCACHE_BASEDIR=$OUT/bisect
	mkdir -p "$BUILD"
	t0=$(now)
	for c in $(git -C "$TREE" rev-list --reverse "$BASE_COMMIT"..HEAD); do
		i=$((i + 1))
		t1=$(now)
		subject=$(git -C "$TREE" log -1 --format=%s "$c")
		log=$OUT/bisect/step-$i.log
		(
			cd "$TREE" && git checkout -q --detach "$c" || exit 1
			"${kmake[@]}" tinyconfig >/dev/null &&
			KCONFIG_CONFIG=$BUILD/.config "$TREE/scripts/kconfig/merge_config.sh" \
				-m -O "$BUILD" "$BUILD/.config" "${frags[@]}" >/dev/null &&
			"${kmake[@]}" olddefconfig >/dev/null &&
			"${kmake[@]}" bzImage modules || exit 1
			if [ -f "$TREE/tools/pci/p2pdma/Makefile" ]; then
				mkdir -p "$BUILD/tools" &&
				make -s -C "$TREE/tools/pci/p2pdma" OUTPUT="$BUILD/tools/" || exit 1
			fi
			if [ -f "$TREE/tools/testing/selftests/p2pdma/Makefile" ]; then
				make -s -C "$TREE/tools/testing/selftests/p2pdma" OUT="$BUILD/tools" || exit 1
			fi
		) > "$log" 2>&1
		if [ $? != 0 ]; then
			tail -n 20 "$log" | sed 's/^/        /'
			fail "bisect: step $i builds: $subject"
		elif grep -q 'warning:' "$log"; then
			grep -m 10 'warning:' "$log" | sed 's/^/        /'
			fail "bisect: step $i builds without warnings: $subject"
		else
			pass "bisect: step $i builds ($(($(now) - t1)) s): $subject"
		fi
	done
	git -C "$TREE" checkout -q --detach refs/heads/p2pdma-applied
	echo "  TIME  bisect builds: $(($(now) - t0)) s"
}

t0=$(now)
case $MODE in
make)
	make_series || fail "make patchset"
	;;
apply|bisect)
	if make_series >/dev/null; then
		pass "make patchset: $(ls "$OUT"/patchset/0*.patch | grep -vc cover-letter) patches and a cover letter"
	else
		make_series
		fail "make patchset"
		exit 1
	fi
	BASE_COMMIT=$(bgit rev-parse refs/heads/base)
	if apply_series; then
		git -C "$TREE" update-ref refs/heads/p2pdma-applied HEAD
		checkpatch_series
		compare_source
		[ "$MODE" = bisect ] && bisect_builds
	fi
	echo "  TIME  patchset $MODE: $(($(now) - t0)) s"
	;;
*)
	sed -n '4,13p' "$0"
	exit 2
	;;
esac
[ "$FAILED" = 0 ]
