#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The topology tool (tools/pci/p2pdma) against the topology file: for every
# pair the file expects, the cell of "p2pdma topo" and the answer of
# "p2pdma why" must say what the file says (refused, bus addresses or the
# host bridge).  Then its footnotes, "list", "--json" (checked by a small
# JSON parser in awk) and its errors: bad usage exits 2, an unmounted
# debugfs exits 1 with the command that mounts it.
. /lib/p2pdma-lib.sh
. /test/topology.env
wait_nvme $NVME_SERIALS || exit 1
ROUTES=/sys/kernel/debug/p2pdma/routes
n=0
for e in $EXPECT; do n=$((n + 1)); done

if [ "$n" = 0 ]; then
	# A machine without provider pairs (donor-copy): nothing to compare.
	ktap_plan 1
	ktap_skip "$TOPO_NAME: the tool's verdicts" "the topology expects no pairs"
	exit 0
fi
if [ ! -r "$ROUTES" ]; then
	# The base tree has no route report: the tool must say so.
	ktap_plan 2
	ktap_skip "$TOPO_NAME: the tool's verdicts" "no $ROUTES in this kernel ($P2PDMA_IMPL)"
	p2pdma topo > /dev/null 2> /tmp/topo.err
	rc=$?
	sed 's/^/# /' /tmp/topo.err
	ktap_check "$TOPO_NAME: without a route report topo exits 1 ($rc) and says so" \
		test $rc = 1 -a -n "$(grep 'no p2pdma route report' /tmp/topo.err)"
	ktap_exit
	exit
fi
ktap_plan $((2 * n + 10))

# json_ok < FILE: the input is one JSON value (RFC 8259 grammar, without
# checking what follows a backslash in strings).
json_ok() {
	awk '
	function ws() {
		while (pos <= n && index(" \t\r\n", substr(s, pos, 1)))
			pos++
	}
	function str(  c) {
		pos++
		while (pos <= n) {
			c = substr(s, pos, 1)
			if (c == "\\") { pos += 2; continue }
			pos++
			if (c == "\"") return 1
		}
		return 0
	}
	function seq(end, isobj,  c) {
		pos++
		ws()
		if (substr(s, pos, 1) == end) { pos++; return 1 }
		for (;;) {
			ws()
			if (isobj) {
				if (substr(s, pos, 1) != "\"" || !str()) return 0
				ws()
				if (substr(s, pos, 1) != ":") return 0
				pos++
			}
			if (!val()) return 0
			ws()
			c = substr(s, pos, 1)
			pos++
			if (c == end) return 1
			if (c != ",") return 0
		}
	}
	function val(  c) {
		ws()
		c = substr(s, pos, 1)
		if (c == "{") return seq("}", 1)
		if (c == "[") return seq("]", 0)
		if (c == "\"") return str()
		if (substr(s, pos, 4) == "true" || substr(s, pos, 4) == "null") { pos += 4; return 1 }
		if (substr(s, pos, 5) == "false") { pos += 5; return 1 }
		if (match(substr(s, pos), /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
			pos += RLENGTH
			return 1
		}
		return 0
	}
	{ s = s $0 "\n" }
	END { n = length(s); pos = 1; ok = val(); ws(); exit !(ok && pos > n) }'
}

# short BDF: the name the matrix uses (domain 0000 dropped, as the tool
# does when every function is in domain 0000).
short() {
	if grep -q -v '^0000:' "$ROUTES"; then echo "$1"; else echo "${1#0000:}"; fi
}

# topo_cell PROVIDER CLIENT: the matrix cell of a pair in "p2pdma topo".
topo_cell() {
	awk -v p="$(short "$1")" -v c="$(short "$2")" '
	$1 == "provider" && !col { for (i = 2; i <= NF; i++) if ($i == c) col = i; next }
	col && $1 == p { print $col; exit }
	/^$/ && col { exit }' /tmp/topo.out
}

# verdict CELL: refused, bus or host.
verdict() {
	case $1 in
	NO*) echo refused ;;
	X|SW[0-9]*) echo bus ;;
	HB) echo host ;;
	*) echo "unknown($1)" ;;
	esac
}

# want WANT MAP: the verdict the topology file expects.
want() {
	if [ "$1" = refused ]; then echo refused
	elif [ "$2" = - ]; then echo "bus|host"
	else echo "$2"
	fi
}

p2pdma topo > /tmp/topo.out 2> /tmp/topo.err
rc=$?
sed 's/^/# /' /tmp/topo.out /tmp/topo.err

for e in $EXPECT; do
	IFS=: read -r prov client exp map data <<-EOT
	$e
	EOT
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	w=$(want "$exp" "$map")
	got=$(verdict "$(topo_cell "$pbdf" "$cbdf")")
	case "|$w|" in
	*"|$got|"*) ktap_ok "$TOPO_NAME: topo: $client ($cbdf) into $prov ($pbdf): $got" ;;
	*) ktap_fail "$TOPO_NAME: topo: $client ($cbdf) into $prov ($pbdf): $got, expected $w" ;;
	esac
done

for e in $EXPECT; do
	IFS=: read -r prov client exp map data <<-EOT
	$e
	EOT
	pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
	w=$(want "$exp" "$map")
	out=$(p2pdma why "$pbdf" "$cbdf" 2>&1)
	echo "$out" | sed 's/^/# /'
	case $out in
	no:*) got=refused ;;
	yes:*"through the host bridge"*) got=host ;;
	yes:*"PCI bus addresses"*) got=bus ;;
	*) got=unknown ;;
	esac
	case "|$w|" in
	*"|$got|"*) ktap_ok "$TOPO_NAME: why: $client ($cbdf) into $prov ($pbdf): $got" ;;
	*) ktap_fail "$TOPO_NAME: why: $client ($cbdf) into $prov ($pbdf): $got, expected $w" ;;
	esac
done

ktap_check "$TOPO_NAME: topo exits 0 with a legend" \
	test $rc = 0 -a -n "$(grep '^Legend:' /tmp/topo.out)"

# One footnote per refused cell: a reason with a remedy line, or "as [k]"
# an earlier footnote with the same reason and remedy.
cells=$(awk '/^provider/ { on = 1; next } /^$/ { on = 0 } on' /tmp/topo.out |
	grep -o 'NO\[[0-9]*\]' | wc -l)
notes=$(grep -c '^  \[[0-9]*\] .* into .*: ' /tmp/topo.out)
same=$(grep -c '^  \[[0-9]*\] .* into .*: as \[[0-9]*\]$' /tmp/topo.out)
remedies=$(grep -c '^      remedy: ' /tmp/topo.out)
refused=$(grep -c ' refused ' "$ROUTES")
ktap_check "$TOPO_NAME: topo: $cells refused cells, $notes footnotes ($same as an earlier one), $remedies remedies, $refused refused routes" \
	test "$cells" = "$notes" -a $((notes - same)) = "$remedies" -a "$cells" = "$refused"

# list: every NVMe controller with its size from sysfs.
p2pdma list > /tmp/list.out 2>&1
sed 's/^/# /' /tmp/list.out
bad=
for s in $NVME_SERIALS; do
	b=$(nvme_bdf "$s")
	grep -q "^$b .* $(cat "$(p2pmem "$b")/size") " /tmp/list.out || bad="$bad $s"
done
ktap_check "$TOPO_NAME: list shows every NVMe CMB with its size${bad:+ (missing:$bad)}" test -z "$bad"

set -- $EXPECT
IFS=: read -r prov client exp map data <<-EOT
$1
EOT
pbdf=$(nvme_bdf "$prov"); cbdf=$(nvme_bdf "$client")
p2pdma --json list > /tmp/list.json
p2pdma --json topo > /tmp/topo.json
p2pdma --json why "$pbdf" "$cbdf" > /tmp/why.json
sed 's/^/# why --json: /' /tmp/why.json
nroutes=$(grep -c '"provider": "[^"]*", "client"' /tmp/topo.json)
lines=$(wc -l < "$ROUTES")

truncated_rejected() { ! head -c 100 /tmp/topo.json | json_ok; }
topo_json_ok() { [ "$nroutes" = "$lines" ] && json_ok < /tmp/topo.json; }
why_json_ok() {
	grep -q "\"provider\": \"$pbdf\", \"client\": \"$cbdf\"" /tmp/why.json &&
		json_ok < /tmp/why.json
}
ktap_check "$TOPO_NAME: the JSON check rejects a truncated document" truncated_rejected
ktap_check "$TOPO_NAME: list --json parses" json_ok < /tmp/list.json
ktap_check "$TOPO_NAME: topo --json parses and has all $lines routes ($nroutes)" topo_json_ok
ktap_check "$TOPO_NAME: why --json parses and names the pair" why_json_ok

p2pdma frobnicate > /dev/null 2>&1
rc1=$?
p2pdma why "$pbdf" > /dev/null 2>&1
rc2=$?
ktap_check "$TOPO_NAME: bad usage exits 2 (unknown command: $rc1, missing argument: $rc2)" \
	test $rc1 = 2 -a $rc2 = 2

umount /sys/kernel/debug
p2pdma topo > /dev/null 2> /tmp/nodebugfs.err
rc=$?
mount -t debugfs debugfs /sys/kernel/debug
sed 's/^/# /' /tmp/nodebugfs.err
ktap_check "$TOPO_NAME: without debugfs topo exits 1 ($rc) and says how to mount it" \
	test $rc = 1 -a -n "$(grep 'mount -t debugfs' /tmp/nodebugfs.err)"
ktap_check "$TOPO_NAME: kernel log clean" dmesg_clean
ktap_exit
