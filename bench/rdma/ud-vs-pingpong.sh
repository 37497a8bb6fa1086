#!/bin/bash
# bench/rdma/ud-vs-pingpong.sh — Cyclone's UD path against rdma-core's ibv_ud_pingpong, both on
# SoftRoCE (rxe0 on a dummy netdev) inside the QEMU guest of ci/softroce/vm.sh.
#
#   ping-pong: 64-byte messages, N round trips, busy-polling, two processes (server + client)
#              Cyclone: examples/ud-bench.rs --mode pingpong   vs   ibv_ud_pingpong -s 64
#   burst:     Cyclone's unidirectional rate, 64-byte frames in bursts of 32 (ibv_ud_pingpong
#              has no one-way mode; its ping-pong message rate is the reference point)
#
# The guest runs under TCG (instruction emulation) and SoftRoCE is the kernel doing the NIC's
# work in software, so absolute numbers mean nothing: compare the two columns with each other.
# Env: N (round trips, default 2000), BURST_N (frames, default 20000), REPS (default 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-2000}; BURST_N=${BURST_N:-20000}; REPS=${REPS:-3}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (QEMU guest)"; exit 0; }
cd "$ROOT"
cargo build --release -p cyclone-rdma --example ud-bench
BIN="$ROOT/target/release/examples/ud-bench"

GUEST=$(mktemp /tmp/cyclone-rdma-bench.XXXXXX.sh)
trap 'rm -f "$GUEST"' EXIT
{
  echo "BIN='$BIN'; N=$N; BURST_N=$BURST_N; REPS=$REPS"
  cat <<'GUEST'
set -u
ip link add d0 type dummy && ip addr add 198.18.0.1/24 dev d0 && ip link set d0 up
rdma link add rxe0 type rxe netdev d0
# The GID Cyclone picks (RoCE v2, IPv4-mapped) is the one ibv_ud_pingpong gets with -g.
GIDX=$(ibv_devinfo -d rxe0 -v | awk '/GID\[/ && /::ffff:198.18.0.1, RoCE v2/ {gsub(/[^0-9]/,"",$1); print $1; exit}')
echo "gid index: ${GIDX:=1}"
for r in $(seq "$REPS"); do
  ibv_ud_pingpong -d rxe0 -g "$GIDX" -s 64 -n "$N" > /tmp/srv.log 2>&1 & S=$!
  sleep 1; echo "IBV $(ibv_ud_pingpong -d rxe0 -g "$GIDX" -s 64 -n "$N" 127.0.0.1 2>&1 | grep 'iters in')"; wait $S
  "$BIN" server --device rxe0 --listen 127.0.0.1:18515 --mode pingpong -n "$N" > /tmp/csrv.log 2>&1 & S=$!
  echo "CYC $("$BIN" client --device rxe0 --connect 127.0.0.1:18515 --mode pingpong -n "$N" -s 64 | grep RESULT)"; wait $S
  "$BIN" server --device rxe0 --listen 127.0.0.1:18516 --mode burst -n "$BURST_N" > /tmp/bsrv.log 2>&1 & S=$!
  C=$("$BIN" client --device rxe0 --connect 127.0.0.1:18516 --mode burst -n "$BURST_N" -s 64 | grep RESULT); wait $S
  echo "BURST $C $(grep RESULT /tmp/bsrv.log)"
done
GUEST
} > "$GUEST"
LOG=/tmp/cyclone-rdma-bench.log
bash "$ROOT/ci/softroce/vm.sh" "$GUEST" "${TIMEOUT:-900}" > "$LOG" 2>&1 || { cat "$LOG"; exit 1; }
grep -aE '^(IBV|CYC|BURST|gid)' "$LOG" | tr -d '\r'
python3 - "$LOG" <<'PY'
import re, statistics, sys
text = open(sys.argv[1], errors="replace").read()
ibv = [float(m) for m in re.findall(r"IBV .*iters in [\d.]+ seconds = ([\d.]+) usec/iter", text)]
cyc = [dict(re.findall(r"(\w+)=([\d.]+)", l)) for l in re.findall(r"^CYC (.*)$", text, re.M)]
bur = [dict(re.findall(r"(\w+)=([\d.]+)", l)) for l in re.findall(r"^BURST (.*)$", text, re.M)]
med = lambda xs: statistics.median(xs) if xs else float("nan")
c_us = med([float(c["usec_per_iter"]) for c in cyc])
i_us = med(ibv)
print(f"\n| 64-byte UD, SoftRoCE in QEMU TCG (median of {len(ibv)}/{len(cyc)} runs) | ibv_ud_pingpong | Cyclone UD |")
print("|---|---|---|")
print(f"| ping-pong round trip (µs/iter) | {i_us:.1f} | {c_us:.1f} |")
print(f"| ping-pong message rate (round trips/s) | {1e6/i_us:.0f} | {1e6/c_us:.0f} |")
print(f"| ping-pong p50 / p99 RTT (µs) | – | {med([float(c['p50_rtt_us']) for c in cyc]):.1f} / {med([float(c['p99_rtt_us']) for c in cyc]):.1f} |")
if bur:
    tx = med([float(b["tx_mpps"]) * 1e6 for b in bur]); rx = med([float(b["rx_mpps"]) * 1e6 for b in bur])
    lost = med([float(b["lost"]) for b in bur]); n = bur[0].get("of", "?")
    print(f"| one-way burst, sender rate (frames/s) | – | {tx:.0f} |")
    print(f"| one-way burst, receiver rate (frames/s), lost of {n} | – | {rx:.0f}, {lost:.0f} lost |")
print("\nTCG emulation + software RoCE: only the ratio between the columns means anything.")
PY
