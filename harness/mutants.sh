#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-mutants: does the suite notice when things break?  Small
# deliberate defects ("mutants") are applied one at a time, each to a
# scratch copy (never to our files on disk): of the prepared kernel tree
# (rebuilt incrementally in a scratch copy of the build directory), of the
# guest scripts, or of check.sh's environment.  For each, the part of the
# suite that should notice runs; the mutant must make it fail ("killed").
#
# usage: mutants.sh [NAME...]     (default: every mutant; see the table)
#        mutants.sh --dry-run       apply each mutant to a copy and show the
#                                   diff; builds and runs nothing
#
# Kernel mutants are found by a Perl pattern that must match exactly once in
# the files named; when the code moves on and it no longer does, the mutant
# fails loudly ("re-aim it") rather than testing nothing.  The scratch trees
# are put in place of $OUT/src-ours and $OUT/build-ours by bind mounts in a
# private mount namespace (unshare -m, so root), which keeps every path and
# so the build incremental.  Before any mutant, each test used as a killer
# runs on the unmutated kernel and must pass.  Results: $OUT/mutants/.
# The last line is "mutants: N of M killed"; exit status 1 unless all are.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$TOP/out}
OUT=$(realpath -m "$OUT")
export OUT IMPL=ours DEBUG=0
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
export CCACHE_BASEDIR=$OUT
MUT=$OUT/mutants
SRC=$OUT/src-ours
BUILD=$OUT/build-ours
T0=$(date +%s)

die() { echo "mutants: $*" >&2; exit 2; }

# The mutants: NAME|KIND|FILES|PATTERN|REPLACEMENT|KILLER|WHAT
#  core:    FILES (globs in the prepared tree) must hold exactly one match
#           of PATTERN (Perl, whole file), replaced by REPLACEMENT (literal
#           but for \n and \t; use \K to keep a prefix); the kernel is
#           rebuilt.
#  script:  the same on a scratch copy of harness/tests/FILES.
#  env:     PATTERN is VAR=VALUE for check.sh's environment, or - for
#           none (the KILLER spec itself is the defect: no control run).
#  KILLER:  check.sh STAGE[:FILTER], e.g. integration:one-switch:abi.
# shellcheck disable=SC2016 # patterns and replacements are literal
MUTANTS=(
'map-page-off|core|drivers/pci/p2pdma*.c|sg->dma_address\s*=[^;]*bus_off[^;]*\K;| + PAGE_SIZE;|integration:one-switch:abi|a bus address off by one page in pci_p2pdma_map_segment()'
'acs-ignored|core|drivers/pci/p2pdma*.c|return ctrl & \(PCI_ACS_RR[^;]*;|return false;|kunit|ACS P2P redirect never seen on a port'
'all-bridges-allowlisted|core|drivers/pci/p2pdma*.c|if \(p2pdma_overridden\(id\)\)|if (true)|integration:pairs-one-switch|every host bridge treated as allowlisted'
'pool-free-slip|core|drivers/pci/p2pdma_pool.c|gen_pool_free\(p2p->pool, \(unsigned long\)addr, size\K| - (size > PAGE_SIZE ? PAGE_SIZE : 0)|integration:one-switch:abi|a multi-page free gives back one page too few to the pool'
'endpoint-acs-ignored|core|drivers/pci/p2pdma_route.c|\tif \(!dev->acs_cap\)\n\t\treturn false;|\tif (!dev->acs_cap)\n\t\treturn false;\n\tif (!pci_is_bridge(dev))\n\t\treturn false;|kunit|ACS redirect on endpoints (multi-function devices, SR-IOV functions) ignored, as before its fix'
'same-host-bridge-rule-lost|core|drivers/pci/p2pdma_route.c|\t\treturn P2PDMA_RC_OWN_PORTS;\n|\t\tfallthrough;\n|kunit|the "same host bridge only" limit of Xeon E5 v1/v3 lost'
'allowlist-id-dropped|core|drivers/pci/p2pdma_route.c|\tcase 0x3c01:[^\n]*\n||kunit|one host-bridge ID of the 6.12 table (0x3c01) missing'
'no-root-port-standin|core|drivers/pci/p2pdma_route.c|PCI_DEVFN\(0, 0\)\W+pci_pcie_type\(dev\) == PCI_EXP_TYPE_ROOT_PORT\)|PCI_DEVFN(0, 0))|kunit|a root bus without 00.0 never identified by its first root port'
'restore-keeps-verdicts|core|drivers/pci/p2pdma_route.c|\tif \(p2pdma_acs_redirects\(dev\)\)\n\t\tp2pdma_forget_verdicts\(\);|\t(void)dev;|kunit|cached verdicts kept after pci_restore_state() turned ACS redirect on'
'memo-kept-on-store|core|drivers/pci/p2pdma_route.c|GFP_ATOMIC\);\n\t\tp2pdma_memo_forget\(p2p\);|GFP_ATOMIC);|kunit|a verdict stored for a pair leaves the old answer in the memo of the mapping path'
'memo-kept-on-forget|core|drivers/pci/p2pdma_route.c|\t\tp2pdma_memo_forget\(p2p\);\n\t\txa_unlock_irqrestore|\t\txa_unlock_irqrestore|kunit|emptying the map-type caches leaves the memos as they were'
'teardown-not-woken|core|drivers/pci/p2pdma_pool.c|\tif \(unlikely\(!p2pdma_usable\(p2p\)\)\)\n\t\twake_up\(&p2p->idle_wq\);\n||kunit|the free that idles a dying pool does not wake teardown'
'distance-no-clients|core|drivers/pci/p2pdma_route.c|\tif \(num_clients <= 0\)\n\t\treturn -1;\n||kunit|pci_p2pdma_distance_many() with no clients returns 0 instead of -1'
'sparse-in-header|core|drivers/pci/p2pdma.h|\n#endif[^\n]*\n*\z|\nstatic __maybe_unused u32 p2pdma_mutant(void __iomem *p)\n{\n\tu32 *q = p;\n\n\treturn *q;\n}\n#endif\n|static|an __iomem pointer used as a plain one in our private header (sparse)'
'script-dies-early|script|pairs.sh|\nktap_plan |\nexit 1\nktap_plan |integration:pairs-one-switch|a guest script that exits before its KTAP plan'
'script-dies-halfway|script|pairs.sh|\tsrc_mib=\$pair\n|\t[ $pair = 4 ] && exit 0\n\tsrc_mib=$pair\n|integration:pairs-one-switch|a guest script that dies after three pairs'
'script-bails-out|script|pairs.sh|\nktap_exit\n|\necho "Bail out! mutant"\nktap_exit\n|integration:pairs-one-switch|a guest script that prints Bail out! after its results'
'script-status-only|script|pairs.sh|\nktap_exit\n|\nexit 3\n|integration:pairs-one-switch|a guest script that fails without a failing result'
'copy-onto-itself|script|pairs.sh|--src-offset \$\{src_mib\}M\s*\\\n\s*--dst-offset \$\{dst_mib\}M|--offset ${src_mib}M|integration:pairs-one-switch|pair copies with --offset (source and destination range the same)'
'copy-lands-elsewhere|script|pairs.sh|--dst-offset \$\{dst_mib\}M|--dst-offset $((dst_mib + 1))M|integration:pairs-one-switch|pair copies written one MiB past the range the host checks'
'no-kernel|env|-|CHECK_KERNEL=/nonexistent|-|integration:pairs-one-switch|run-guest cannot start (no kernel)'
'only-typo|env|-|-|-|integration:one-swich|an ONLY filter that matches no guest (no control run)'
)

field() { echo "$1" | cut -d'|' -f"$2"; }

# files_of GLOBS DIR: the files GLOBS name below DIR.
files_of() {
	(cd "$2" && for g in $1; do for f in $g; do [ -f "$f" ] && echo "$f"; done; done)
}

# mutate NAME FILES PATTERN REPLACEMENT FROMDIR TODIR: apply the mutant to
# the one file of FILES (in FROMDIR) that matches, writing TODIR/FILE
# (replaced, never written through, since TODIR may hard-link FROMDIR).
# Prints the file.
mutate() {
	local name=$1 files=$2 from=$5 to=$6 f n total=0 hit=
	for f in $(files_of "$files" "$from"); do
		n=$(PAT=$3 perl -0777 -ne '$n = () = /$ENV{PAT}/g; print $n' "$from/$f")
		total=$((total + n))
		[ "$n" -gt 0 ] && hit=$f
	done
	if [ "$total" != 1 ]; then
		echo "mutants: $name: the pattern matches $total times in $files (expected once): the code changed, re-aim this mutant" >&2
		return 1
	fi
	PAT=$3 REPL=$4 perl -0777 -pe \
		'BEGIN { ($r = $ENV{REPL}) =~ s/\\n/\n/g; $r =~ s/\\t/\t/g } s/$ENV{PAT}/$r/' \
		"$from/$hit" > "$to/$hit.mutant"
	if cmp -s "$from/$hit" "$to/$hit.mutant"; then
		echo "mutants: $name: the replacement changed nothing in $hit" >&2
		return 1
	fi
	rm -f "$to/$hit"
	mv "$to/$hit.mutant" "$to/$hit"
	echo "$hit"
}

# restore FILE: the scratch tree's FILE back to the prepared one (a fresh
# copy, so its time stamp makes Kbuild recompile it).
restore() {
	rm -f "$MUT/src/$1"
	cp "$SRC/$1" "$MUT/src/$1"
}

# killer SPEC [VAR=VALUE...]: run check.sh's part named by SPEC
# (STAGE[:FILTER]); its log is the standard output.
killer() {
	local spec=$1 stage filter
	shift
	stage=${spec%%:*}
	filter=
	[ "$stage" != "$spec" ] && filter=${spec#*:}
	# shellcheck disable=SC2086 # no filter: no argument
	env CHECK_RUNS="$MUT/runs" "$@" "$TOP/harness/check.sh" "$stage" $filter
}

# in_scratch CMD...: run CMD with the scratch kernel tree and build
# directory in place of the prepared ones.
in_scratch() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m bash -c 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 && "$@"' \
		_ "$MUT/src" "$SRC" "$MUT/build" "$BUILD" "$@"
}

# scratch_kernel: build the scratch tree; its kernel and modules go to
# $MUT/bzImage and $MUT/modules.
scratch_kernel() {
	in_scratch make -s -C "$SRC" O="$BUILD" CC="ccache gcc" HOSTCC="ccache gcc" \
		-j"$(nproc)" bzImage modules || return 1
	cp "$MUT/build/arch/x86/boot/bzImage" "$MUT/bzImage"
	rm -rf "$MUT/modules"
	mkdir -p "$MUT/modules"
	find "$MUT/build/drivers/pci" -name '*.ko' -exec cp {} "$MUT/modules/" \;
}

if [ "${1:-}" = --dry-run ]; then
	[ -d "$SRC" ] || die "no prepared tree $SRC (make prepare)"
	bad=0
	for m in "${MUTANTS[@]}"; do
		IFS='|' read -r name kind files pat repl spec what <<< "$m"
		[ "$kind" = env ] && { echo "== $name: $spec ${pat#-} ($what)"; continue; }
		from=$SRC
		[ "$kind" = script ] && from=$TOP/harness/tests
		dry=$(mktemp -d)
		# shellcheck disable=SC2046 # one file per line, no blanks
		(cd "$from" && cp --parents $(files_of "$files" "$from") "$dry/")
		echo "== $name: $what; killer $spec"
		if f=$(mutate "$name" "$files" "$pat" "$repl" "$from" "$dry"); then
			diff -u "$from/$f" "$dry/$f" | tail -n +3
		else
			bad=$((bad + 1))
		fi
		rm -rf "$dry"
	done
	exit $((bad > 0))
fi

[ "$(id -u)" = 0 ] || die "needs root (a private mount namespace for the scratch tree)"
want=("$@")
selected() {
	[ ${#want[@]} = 0 ] && return 0
	local w
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}
for w in "${want[@]}"; do
	printf '%s\n' "${MUTANTS[@]}" | cut -d'|' -f1 | grep -qx "$w" || die "no mutant $w"
done

echo "  MUTANT  the unmutated kernel (make kernel initramfs)"
make -s -C "$TOP" kernel initramfs IMPL=ours OUT="$OUT" || die "the kernel does not build"
rm -rf "$MUT"
mkdir -p "$MUT"
cp -al "$SRC" "$MUT/src"
cp -a "$BUILD" "$MUT/build"
cp -r "$TOP/harness/tests" "$MUT/tests"

# Control: every killer passes without a mutant.
killers=$(for m in "${MUTANTS[@]}"; do
	selected "$(field "$m" 1)" || continue
	[ "$(field "$m" 2)" = env ] && [ "$(field "$m" 4)" = - ] && continue
	field "$m" 6
done | sort -u)
for k in $killers; do
	t=$(date +%s)
	if killer "$k" > "$MUT/control-${k//[:\/]/_}.log" 2>&1; then
		echo "  CONTROL $k passes without a mutant ($(($(date +%s) - t)) s)"
	else
		grep '  FAIL' "$MUT/control-${k//[:\/]/_}.log" | head -n 5
		die "control: $k fails without a mutant: nothing a mutant does can be judged by it"
	fi
done

killed=0
total=0
survivors=()
for m in "${MUTANTS[@]}"; do
	IFS='|' read -r name kind files pat repl spec what <<< "$m"
	selected "$name" || continue
	total=$((total + 1))
	t=$(date +%s)
	log=$MUT/$name.log
	status=
	case $kind in
	core)
		if ! f=$(mutate "$name" "$files" "$pat" "$repl" "$SRC" "$MUT/src"); then
			status="not applied"
		elif ! scratch_kernel > "$MUT/$name.build" 2>&1; then
			tail -n 20 "$MUT/$name.build"
			status="does not build"
			restore "$f"
		else
			if [ "${spec%%:*}" = static ]; then
				in_scratch env CHECK_RUNS="$MUT/runs" "$TOP/harness/check.sh" static > "$log" 2>&1
			else
				killer "$spec" CHECK_KERNEL="$MUT/bzImage" \
					CHECK_MODULES="$MUT/modules" > "$log" 2>&1
			fi
			[ $? != 0 ] && status=killed || status=survived
			restore "$f"
		fi
		;;
	script)
		rm -rf "$MUT/tests-mutant"
		cp -r "$MUT/tests" "$MUT/tests-mutant"
		if ! mutate "$name" "$files" "$pat" "$repl" "$MUT/tests" "$MUT/tests-mutant" > /dev/null; then
			status="not applied"
		else
			killer "$spec" CHECK_TESTS="$MUT/tests-mutant" > "$log" 2>&1
			[ $? != 0 ] && status=killed || status=survived
		fi
		;;
	env)
		[ "$pat" = - ] && pat=CHECK_MUTANT=$name
		killer "$spec" "$pat" > "$log" 2>&1
		[ $? != 0 ] && status=killed || status=survived
		;;
	esac
	dt=$(($(date +%s) - t))
	if [ "$status" = killed ]; then
		killed=$((killed + 1))
		echo "  KILLED  $name ($what) by $spec in $dt s:"
		grep '^  FAIL' "$log" | head -n 3 | sed 's/^  FAIL  /          /'
	else
		survivors+=("$name: $status")
		echo "  ALIVE   $name ($what): $status under $spec in $dt s (log: $log)"
	fi
done

echo "  TIME    check-mutants: $(($(date +%s) - T0)) s"
for s in "${survivors[@]}"; do echo "  survived: $s"; done
echo "mutants: $killed of $total killed"
[ "$killed" = "$total" ]
