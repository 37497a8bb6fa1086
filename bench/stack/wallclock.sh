#!/usr/bin/env bash
# Where the wall-clock time of a TCP bulk transfer goes, for Cyclone (both ACK modes) and
# smoltcp in the same run: `perf record` with the cpu-clock software event (hardware counters
# are not available in this VM) over a 1 GiB transfer each, in interleaved rounds; for each
# stack the fastest round's time and the share of each function in its samples.
# Complements instructions.sh: callgrind counts a `rep movsb` copy as one instruction per
# byte and says nothing of stalls, so copies and checksums weigh differently here.
#
# Usage: bench/stack/wallclock.sh [outdir] [bytes] [rounds]
#        (defaults: target/stack-wallclock, 1 GiB, 3)
# For a build for this CPU (both stacks): RUSTFLAGS="-C target-cpu=native"
#        CARGO_TARGET_DIR=target/native bench/stack/wallclock.sh
# Needs perf (Debian: linux-perf). Builds `stack_instructions` in release mode.
set -euo pipefail

cd "$(dirname "$0")/../.."
out="${1:-target/stack-wallclock}"
bytes="${2:-1073741824}"
rounds="${3:-3}"
mkdir -p "$out"
command -v perf >/dev/null || { echo "wallclock.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
cargo build --release -q -p cyclone-bench --bin stack_instructions
bin="${CARGO_TARGET_DIR:-target}/release/stack_instructions"
runs=(bulk-cyclone bulk-cyclone-burst bulk-smoltcp)

declare -A best
for round in $(seq 1 "$rounds"); do
    for run in "${runs[@]}"; do
        perf record -q -e cpu-clock -F 5000 -o "$out/$run.$round.perf" "$bin" "$run" "$bytes" \
            >"$out/$run.log" 2>&1 || { echo "wallclock.sh: $run failed, see $out/$run.log" >&2; exit 1; }
        perf report -i "$out/$run.$round.perf" --no-children --sort symbol --stdio \
            >"$out/$run.$round.txt" 2>/dev/null
        ms=$(awk '/^# Event count/ { gsub(/[^0-9]/, "", $5); printf "%.0f", $5 / 1e6 }' "$out/$run.$round.txt")
        echo "round $round: $run $ms ms"
        if [[ -z "${best[$run]:-}" ]] || ((ms < ${best[$run]%%:*})); then
            best[$run]="$ms:$round"
        fi
    done
done

for run in "${runs[@]}"; do
    ms=${best[$run]%%:*}
    round=${best[$run]##*:}
    echo
    echo "== $run: $bytes bytes in $ms ms of cpu-clock (fastest of $rounds, round $round); functions above 1 %:"
    awk '/^ +[0-9.]+%/ && $1 + 0 >= 1 {
        pct = $1; $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ +- +-$/, "")
        printf "  %7s  %s\n", pct, substr($0, 1, 110)
    }' "$out/$run.$round.txt"
done
echo
ratio() { awk -v s="${best[bulk-smoltcp]%%:*}" -v c="${best[$1]%%:*}" 'BEGIN { printf "%.2f", s / c }'; }
echo "Throughput ratio Cyclone / smoltcp (fastest smoltcp time / fastest Cyclone time):" \
    "$(ratio bulk-cyclone)×; with ack_per_burst: $(ratio bulk-cyclone-burst)×"
echo "Profiles: perf report -i $out/<run>.<round>.perf"
