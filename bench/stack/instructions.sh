#!/usr/bin/env bash
# Instruction counts of the stack workloads under callgrind (repeatable, unlike cycles on this
# VM): TCP bulk instructions per byte for Cyclone and smoltcp (both hosts, whole transfer), and
# server-side instructions per small keep-alive HTTP request (server `Interface::poll` +
# `HttpService::poll` only). Each workload runs at two sizes; the difference cancels set-up,
# slow start and the first-touch costs.
#
# Usage: bench/stack/instructions.sh [outdir]    (default: target/stack-instructions)
# Needs valgrind. Builds `stack_instructions` in release mode (profile.release keeps symbols).
set -euo pipefail

cd "$(dirname "$0")/../.."
out="${1:-target/stack-instructions}"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
cargo build --release -q -p cyclone-bench --bin stack_instructions
bin="${CARGO_TARGET_DIR:-target}/release/stack_instructions"

# run NAME TOGGLE ARGS... -> prints the collected Ir of the toggled function(s)
run() {
    local name="$1" toggle="$2"
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind" \
        --toggle-collect="$toggle" "$bin" "$@" >"$out/$name.log" 2>&1 ||
        { echo "instructions.sh: $name failed, see $out/$name.log" >&2; exit 1; }
    awk '/^(summary|totals):/ { print $2; exit }' "$out/$name.callgrind"
}

# inclusive NAME FUNCTION -> inclusive Ir of FUNCTION in run NAME (its largest row: the
# function's own total, not one of its inlined-source rows)
inclusive() {
    callgrind_annotate --inclusive=yes --threshold=100 "$out/$1.callgrind" 2>/dev/null |
        awk -v pat="$2" 'index($0, pat) { gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0 } END { print m + 0 }'
}

mib=$((1024 * 1024))
n=$((8 * mib))
c1=$(run bulk-cyclone-1 '*CycloneBulk*transfer*' bulk-cyclone $n)
c2=$(run bulk-cyclone-2 '*CycloneBulk*transfer*' bulk-cyclone $((2 * n)))
b1=$(run bulk-cyclone-burst-1 '*CycloneBulk*transfer*' bulk-cyclone-burst $n)
b2=$(run bulk-cyclone-burst-2 '*CycloneBulk*transfer*' bulk-cyclone-burst $((2 * n)))
s1=$(run bulk-smoltcp-1 '*SmolBulk*transfer*' bulk-smoltcp $n)
s2=$(run bulk-smoltcp-2 '*SmolBulk*transfer*' bulk-smoltcp $((2 * n)))
link2=$(( $(inclusive bulk-cyclone-2 'MemoryQueue as cyclone_pmd::port::RxQueue>::rx_burst') \
        + $(inclusive bulk-cyclone-2 'MemoryQueue as cyclone_pmd::port::TxQueue>::tx_burst') ))

r1=1000; r64=25
h1a=$(run http-1-a '*server_side*' http 1 $r1)
h1b=$(run http-1-b '*server_side*' http 1 $((2 * r1)))
h64a=$(run http-64-a '*server_side*' http 64 $r64)
h64b=$(run http-64-b '*server_side*' http 64 $((2 * r64)))

per() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.2f", (b - a) / d }'; }
per0() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.0f", (b - a) / d }'; }

echo
echo "Stack instruction counts (callgrind Ir, difference of two sizes), $(date -u +%Y-%m-%d)"
echo
echo "| workload | size A | size B | Ir A | Ir B | per unit | target |"
echo "|---|---|---|---|---|---|---|"
echo "| TCP bulk, Cyclone (both hosts) | $n B | $((2 * n)) B | $c1 | $c2 | **$(per "$c1" "$c2" $n) Ir/byte** | ≤ ½ of smoltcp's (2× throughput) |"
echo "| TCP bulk, Cyclone, ack_per_burst (both hosts) | $n B | $((2 * n)) B | $b1 | $b2 | **$(per "$b1" "$b2" $n) Ir/byte** | ≤ ½ of smoltcp's |"
echo "| TCP bulk, smoltcp 0.14 (both hosts) | $n B | $((2 * n)) B | $s1 | $s2 | **$(per "$s1" "$s2" $n) Ir/byte** | – |"
echo "| of Cyclone's, the memory link rx_burst + tx_burst (zero copy: lock, queue; size B run) | | $((2 * n)) B | | $link2 | $(per 0 "$link2" $((2 * n))) Ir/byte | – |"
echo "| HTTP keep-alive, 1 conn, server side | $r1 req | $((2 * r1)) req | $h1a | $h1b | **$(per0 "$h1a" "$h1b" $r1) Ir/request** | ≤ 3,000 |"
echo "| HTTP keep-alive, 64 conns, server side | $((64 * r64)) req | $((128 * r64)) req | $h64a | $h64b | **$(per0 "$h64a" "$h64b" $((64 * r64))) Ir/request** | ≤ 3,000 |"
echo
echo "Ratio Cyclone/smoltcp Ir per byte: $(awk -v c=$((c2 - c1)) -v s=$((s2 - s1)) 'BEGIN { printf "%.2f", c / s }'); with ack_per_burst: $(awk -v c=$((b2 - b1)) -v s=$((s2 - s1)) 'BEGIN { printf "%.2f", c / s }')"
echo "Frames sent (size A): $(grep -h 'frames sent' "$out"/bulk-*-1.log | sed 's/; loop.*//' | paste -sd ';' -)"
echo "Profiles: callgrind_annotate --inclusive=yes $out/<run>.callgrind"
