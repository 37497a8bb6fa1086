#!/usr/bin/env bash
# rx-drop on one AF_XDP queue of a veth: Cyclone (backends/afxdp/examples/rxdrop.rs) against
# `dpdk-testpmd --forward-mode=rxonly` with net_af_xdp, same veth, same generator.
#
# Lab: namespaces cycb-<pid>-a (receiver, veth pva, "our" address 198.18.0.2) and -b
# (generator, veth pvb). Generator: a second dpdk-testpmd --forward-mode=txonly with
# net_af_xdp on pvb (64 B UDP 198.18.0.1 -> 198.18.0.2), own --file-prefix, --no-huge,
# pinned to CPU0. Receivers pinned to CPU1 (docs/platform.md: on veth the receive-side kernel
# work runs on the sender's CPU). Median of the steady 1-s rates per run; median of RUNS runs
# each, alternating Cyclone and testpmd. Everything is torn down on exit, also on Ctrl-C.
#
# TEST=macswap (4th argument) compares forwarding instead: Cyclone's examples/macswap.rs
# (rx -> swap MACs in place -> tx on the same queue) against `dpdk-testpmd
# --forward-mode=macswap` with net_af_xdp on pva, both on CPU1, same generator; the rate is
# what each forwarder transmitted (its own count: Cyclone's fwd_pps, testpmd's Tx-pps).
# TEST=both runs rx-drop then macswap.
#
# Needs root, dpdk-testpmd (package dpdk-dev) with librte-net-af-xdp, and a release build:
#   cargo build --release -p cyclone-afxdp --example rxdrop --example macswap
# Usage: bench/afxdp/rxdrop-vs-testpmd.sh [RUNS=3] [SECONDS=10] [MODE=poll|busy] [TEST=rxdrop|macswap|both]
set -euo pipefail

RUNS=${1:-3}
SECS=${2:-10}
MODE=${3:-poll}
TEST=${4:-rxdrop}
RING=${RING:-4096}      # RX (and fill) ring entries for both receivers
FRAMES=${FRAMES:-16384} # buffers for both receivers
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RXDROP=${RXDROP:-$ROOT/target/release/examples/rxdrop}
MACSWAP=${MACSWAP:-$ROOT/target/release/examples/macswap}
NSA=cycb-$$-a
NSB=cycb-$$-b
TMP=$(mktemp -d /tmp/cyc-bench.XXXXXX)
GEN=

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v dpdk-testpmd >/dev/null || { echo "SKIP: dpdk-testpmd missing (apt-get install dpdk-dev librte-net-af-xdp23)"; exit 0; }
case "$TEST" in rxdrop|macswap|both) ;; *) echo "TEST must be rxdrop, macswap or both"; exit 1;; esac
if [ "$TEST" != macswap ]; then
    [ -x "$RXDROP" ] || { echo "build first: cargo build --release -p cyclone-afxdp --example rxdrop"; exit 1; }
fi
if [ "$TEST" != rxdrop ]; then
    [ -x "$MACSWAP" ] || { echo "build first: cargo build --release -p cyclone-afxdp --example macswap"; exit 1; }
fi

cleanup() {
    set +e
    [ -n "${GEN:-}" ] && kill -INT "$GEN" 2>/dev/null && wait "$GEN" 2>/dev/null   # our generator, by pid
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"; rm -rf /var/run/dpdk/cycb$$-*
}
trap cleanup EXIT INT TERM

ip netns add "$NSA"
ip netns add "$NSB"
ip link add name pva netns "$NSA" type veth peer name pvb netns "$NSB"
ip -n "$NSA" link set lo up
ip -n "$NSB" link set lo up
ip -n "$NSA" link set pva up
ip -n "$NSB" link set pvb up
ip netns exec "$NSB" ethtool -K pvb tx off >/dev/null

TESTPMD_COMMON="--no-huge -m 512 --no-pci --log-level=*:error"

# Starts the generator for $1 seconds in the background.
generator() {
    ip netns exec "$NSB" timeout -s INT "$1" taskset -c 0 dpdk-testpmd --lcores '0@0,1@0' $TESTPMD_COMMON \
        --file-prefix "cycb$$-gen" --vdev net_af_xdp0,iface=pvb,start_queue=0,queue_count=1 -- \
        --forward-mode=txonly --txpkts=64 --auto-start --stats-period 1 --nb-cores=1 \
        --total-num-mbufs=16384 >"$TMP/gen.log" 2>&1 &
    GEN=$!
}

# Median of numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }

# The generator's offered rate in the last run: median of its steady Tx-pps blocks.
gen_rate() { grep -o 'Tx-pps: *[0-9]*' "$TMP/gen.log" | awk '{print $2}' | awk '$1>0' | sed '1d;$d' | median; }

run_cyclone() {
    generator $((SECS + 6))
    sleep 2
    ip netns exec "$NSA" taskset -c 1 "$RXDROP" pva 198.18.0.2 --seconds "$SECS" --mode "$MODE" --ring "$RING" --frames "$FRAMES" \
        >"$TMP/cyc.log" 2>"$TMP/cyc.err" || { cat "$TMP/cyc.err" >&2; }
    wait "$GEN" || true
    gen_rate >>"$TMP/offered.cyc"
    grep '^cpu_percent' "$TMP/cyc.log" | awk '{print $2}' >>"$TMP/cpu.cyc"
    grep '^median_pps' "$TMP/cyc.log" | awk '{print $2}'
}

run_testpmd() {
    generator $((SECS + 8))
    sleep 2
    ip netns exec "$NSA" timeout -s INT "$((SECS + 2))" taskset -c 1 dpdk-testpmd --lcores '0@1,1@1' $TESTPMD_COMMON \
        --file-prefix "cycb$$-rx" --vdev net_af_xdp0,iface=pva,start_queue=0,queue_count=1 -- \
        --forward-mode=rxonly --auto-start --stats-period 1 --nb-cores=1 --rxd="$RING" \
        --total-num-mbufs="$FRAMES" >"$TMP/pmd.log" 2>&1 || true
    wait "$GEN" || true
    gen_rate >>"$TMP/offered.pmd"
    # Rx-pps of each 1-s block; drop the first and last non-zero blocks, take the median.
    grep -o 'Rx-pps: *[0-9]*' "$TMP/pmd.log" | awk '{print $2}' | awk '$1>0' | sed '1d;$d' | median
}

run_macswap_cyclone() {
    generator $((SECS + 6))
    sleep 2
    ip netns exec "$NSA" taskset -c 1 "$MACSWAP" pva 198.18.0.2 --seconds "$SECS" --mode "$MODE" \
        >"$TMP/mcyc.log" 2>"$TMP/mcyc.err" || { cat "$TMP/mcyc.err" >&2; }
    wait "$GEN" || true
    gen_rate >>"$TMP/offered.mcyc"
    grep -o 'tx_full_drops [0-9]*' "$TMP/mcyc.log" | awk '{s+=$2} END {print s+0}' >>"$TMP/drops.mcyc"
    grep '^fwd_pps' "$TMP/mcyc.log" | awk '{print $2}' | awk '$1>0' | sed '1d;$d' | median
}

run_macswap_testpmd() {
    generator $((SECS + 8))
    sleep 2
    ip netns exec "$NSA" timeout -s INT "$((SECS + 2))" taskset -c 1 dpdk-testpmd --lcores '0@1,1@1' $TESTPMD_COMMON \
        --file-prefix "cycb$$-fwd" --vdev net_af_xdp0,iface=pva,start_queue=0,queue_count=1 -- \
        --forward-mode=macswap --port-topology=loop --auto-start --stats-period 1 --nb-cores=1 \
        --rxd="$RING" --txd="$RING" --total-num-mbufs="$FRAMES" >"$TMP/mpmd.log" 2>&1 || true
    wait "$GEN" || true
    gen_rate >>"$TMP/offered.mpmd"
    grep -o 'Tx-pps: *[0-9]*' "$TMP/mpmd.log" | awk '{print $2}' | awk '$1>0' | sed '1d;$d' | median
}

macswap_table() {
    declare -a MC MP
    for i in $(seq 1 "$RUNS"); do
        c=$(run_macswap_cyclone); MC+=("${c:-0}")
        p=$(run_macswap_testpmd); MP+=("${p:-0}")
        echo "macswap run $i: cyclone ${c:-0} pps, testpmd ${p:-0} pps" >&2
    done
    local cm pm
    cm=$(printf '%s\n' "${MC[@]}" | median)
    pm=$(printf '%s\n' "${MP[@]}" | median)
    printf '\n| macswap, veth, copy mode, 64 B, 1 queue (%s) | Mpps forwarded, median | runs (Mpps) |\n|---|---|---|\n' "$MODE"
    printf '| Cyclone examples/macswap | %.3f | %s |\n' "$(echo "$cm/1000000" | bc -l)" "$(printf '%s\n' "${MC[@]}" | awk '{printf "%s%.3f", (NR>1?" / ":""), $1/1e6}')"
    printf '| dpdk-testpmd macswap, net_af_xdp | %.3f | %s |\n' "$(echo "$pm/1000000" | bc -l)" "$(printf '%s\n' "${MP[@]}" | awk '{printf "%s%.3f", (NR>1?" / ":""), $1/1e6}')"
    printf '| generator offered (median) during Cyclone / testpmd runs | %s / %s | |\n' "$(om mcyc)" "$(om mpmd)"
    printf '| Cyclone TX-ring-full drops per run (median) | %s | |\n' "$(median <"$TMP/drops.mcyc")"
    if [ "$pm" != 0 ]; then printf '| ratio Cyclone / testpmd | %.2f× | |\n' "$(echo "$cm/$pm" | bc -l)"; fi
}
om() { median <"$TMP/offered.$1" | awk '{printf "%.3f", $1/1e6}'; }

if [ "$TEST" = macswap ]; then
    macswap_table
    exit 0
fi

declare -a CYC PMD
for i in $(seq 1 "$RUNS"); do
    c=$(run_cyclone); CYC+=("${c:-0}")
    p=$(run_testpmd); PMD+=("${p:-0}")
    echo "run $i: cyclone ${c:-0} pps, testpmd ${p:-0} pps" >&2
done

cm=$(printf '%s\n' "${CYC[@]}" | median)
pm=$(printf '%s\n' "${PMD[@]}" | median)
printf '\n| rx-drop, veth, copy mode, 64 B, 1 queue (%s) | Mpps median | runs (Mpps) |\n|---|---|---|\n' "$MODE"
printf '| Cyclone AF_XDP rxdrop | %.3f | %s |\n' "$(echo "$cm/1000000" | bc -l)" "$(printf '%s\n' "${CYC[@]}" | awk '{printf "%s%.3f", (NR>1?" / ":""), $1/1e6}')"
printf '| dpdk-testpmd rxonly, net_af_xdp | %.3f | %s |\n' "$(echo "$pm/1000000" | bc -l)" "$(printf '%s\n' "${PMD[@]}" | awk '{printf "%s%.3f", (NR>1?" / ":""), $1/1e6}')"
printf '| generator offered (txonly, median) during Cyclone / testpmd runs | %s / %s | |\n' "$(om cyc)" "$(om pmd)"
printf '| Cyclone receiver CPU (%%, median; testpmd always spins at 100) | %s | |\n' "$(median <"$TMP/cpu.cyc")"
if [ "$pm" != 0 ]; then printf '| ratio Cyclone / testpmd | %.2f× | |\n' "$(echo "$cm/$pm" | bc -l)"; fi
[ "$TEST" = both ] && macswap_table
exit 0
