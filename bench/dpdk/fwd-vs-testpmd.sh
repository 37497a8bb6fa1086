#!/usr/bin/env bash
# Cyclone's DPDK forwarder against dpdk-testpmd on a net_null pair: same EAL arguments, one
# forwarding lcore, bursts of 32, io and macswap modes, runs alternating between the two tools.
# Each run's rate is the median of its steady 1-s intervals (first two and last left out), summed
# over both ports' RX; the table shows the median of the runs, the ratio of those medians, and
# the median of the per-run ratios (each cyclone run against the testpmd run just before it,
# which is steadier when other work shares the machine). A run that printed no steady interval
# counts as failed and is left out.
#
# usage: bench/dpdk/fwd-vs-testpmd.sh [RUNS (3)] [SECONDS (8)]
#   env: FWD=<path to cyclone-dpdk-fwd> (default: built with cargo --release)
#        CACHE="0 256"  DPDK mempool cache sizes to run Cyclone with (256 is the default; see
#                       backends/dpdk/README.md)
#        MODES="io macswap"  FRAMES=32768  FRAME_SIZE=4096 (Cyclone frame size: 2048 or 4096)
set -u  # no -e/pipefail: the tools are stopped by timeout, which exits non-zero

RUNS=${1:-3}
SECS=${2:-8}
MODES=${MODES:-io macswap}
CACHE=${CACHE:-0 256}
FRAMES=${FRAMES:-32768}
EAL="-l 0-1 --no-huge -m 512 --no-pci --vdev net_null0 --vdev net_null1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [[ $(id -u) != 0 ]]; then echo "SKIP: needs root"; exit 0; fi
command -v dpdk-testpmd >/dev/null || { echo "SKIP: dpdk-testpmd missing (apt-get install dpdk-dev)"; exit 0; }
if [[ -z ${FWD:-} ]]; then
  (cd "$ROOT" && cargo build --release -q -p cyclone-dpdk --bin cyclone-dpdk-fwd) || exit 1
  FWD=$ROOT/target/release/cyclone-dpdk-fwd
fi

median() { grep -v '^0$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print 0} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# Steady intervals: drop the first two and the last.
steady() { awk '{a[NR]=$1} END {for (i=3; i<NR; i++) print a[i]}'; }

testpmd_run() { # mode -> Mpps
  timeout -s INT $((SECS + 5)) dpdk-testpmd $EAL --file-prefix cyc-bench-tp -- \
    --auto-start --stats-period 1 --forward-mode="$1" --nb-cores=1 --burst=32 \
    --total-num-mbufs="$FRAMES" 2>/dev/null </dev/null |
    awk '/Rx-pps:/ {v[n++]=$2} END {for (i=0; i+1<n; i+=2) if (v[i]+v[i+1]>0) print (v[i]+v[i+1])/1e6}' |
    steady | median
}

cyclone_run() { # mode cache -> Mpps
  timeout $((SECS + 10)) "$FWD" --mode "$1" --dpdk-cache "$2" --frames "$FRAMES" --frame-size "${FRAME_SIZE:-4096}" --seconds "$SECS" \
    --dpdk-args "$EAL --file-prefix cyc-bench-fwd" 2>/dev/null |
    awk '/^second/ {print $3}' | steady | median
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)
declare -A R
for mode in $MODES; do
  for run in $(seq 1 "$RUNS"); do
    R[tp,$mode]+="$(testpmd_run "$mode") "
    tp=$(tr ' ' '\n' <<<"${R[tp,$mode]}" | grep . | tail -1)
    for c in $CACHE; do
      cy=$(cyclone_run "$mode" "$c")
      R[cy$c,$mode]+="$cy "
      R[ratio$c,$mode]+="$(awk -v a="$cy" -v b="$tp" 'BEGIN {print (a>0 && b>0) ? a/b : 0}') "
    done
    echo "run $run $mode (load $(load)): testpmd ${R[tp,$mode]}| $(for c in $CACHE; do echo -n "cyclone(cache $c) ${R[cy$c,$mode]}| "; done)" >&2
  done
done

echo
echo "net_null pair, $RUNS runs x ${SECS}s, median Mpps (sum of RX over both ports);" \
  "load average (1/5/15 min) at start $LOAD_START, at end $(load)"
printf "%-8s %-16s %9s %9s %7s %13s\n" mode cyclone "testpmd" "cyclone" "ratio" "paired ratio"
for mode in $MODES; do
  tp=$(tr ' ' '\n' <<<"${R[tp,$mode]}" | grep . | median)
  for c in $CACHE; do
    cy=$(tr ' ' '\n' <<<"${R[cy$c,$mode]}" | grep . | median)
    pr=$(tr ' ' '\n' <<<"${R[ratio$c,$mode]}" | grep . | median)
    printf "%-8s %-16s %9.2f %9.2f %7.2f %13.2f\n" "$mode" "dpdk_cache=$c" "$tp" "$cy" \
      "$(awk -v a="$cy" -v b="$tp" 'BEGIN {print (b>0) ? a/b : 0}')" "$pr"
  done
done
