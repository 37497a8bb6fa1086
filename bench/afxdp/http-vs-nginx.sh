#!/usr/bin/env bash
# HTTP on one veth: Cyclone (`cyclone serve --backend afxdp`, 1 queue) against nginx
# (Debian nginx-light, 1 worker) serving the same 12-byte file, wrk from the peer namespace.
#
# Lab: namespaces cyhb-<pid>-a (servers, veth ha) and -b (client, veth hb, 198.18.100.2/24,
# tx checksum offload off: veth would pass unfilled checksums to AF_XDP). Cyclone serves
# 198.18.100.1 (the XDP program steers it to the AF_XDP socket); nginx listens on the A-side
# kernel's own 198.18.100.3 on the same veth. Servers pinned to CPU1, wrk to CPU0.
# nginx: config written to a temp dir: worker_processes 1, access_log off, sendfile,
# tcp_nodelay, keepalive_requests 10000000.
# Each run starts Cyclone, runs `wrk -t1 -c64 -d$SECS --latency` then `-c1`, stops it, then the
# same for nginx (alternating). Tables: medians over RUNS runs; ratios from the medians.
# CPU columns: busy % of CPU0 (wrk + the veth receive work of the frames it sends) and CPU1
# (server) from /proc/stat during the run.
#
# Needs root, wrk, nginx, curl. Builds the release binary itself (copied to the temp dir so
# another build cannot swap it mid-run).
# Usage: bench/afxdp/http-vs-nginx.sh [RUNS=3] [SECONDS=5]
#   env BUSY_POLL=1: Cyclone spins instead of poll(); PROFILE=1: also records a
#   `perf record -e cpu-clock -a -g` profile of one c64 Cyclone run and summarizes it.
set -euo pipefail

RUNS=${1:-3}
SECS=${2:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NSA=cyhb-$$-a
NSB=cyhb-$$-b
TMP=$(mktemp -d /tmp/cyc-http.XXXXXX)
SRV=

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
for t in wrk nginx curl taskset; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 0; }; done

cleanup() {
    set +e
    [ -n "${SRV:-}" ] && kill -INT "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
    [ -f "$TMP/nginx.pid" ] && kill -QUIT "$(cat "$TMP/nginx.pid")" 2>/dev/null && sleep 0.3
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [ -z "${CYCLONE:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p cyclone --features afxdp)
    cp "$ROOT/target/release/cyclone" "$TMP/cyclone"
    CYCLONE=$TMP/cyclone
fi

ip netns add "$NSA"
ip netns add "$NSB"
ip link add name ha netns "$NSA" type veth peer name hb netns "$NSB"
ip -n "$NSA" addr add 198.18.100.3/24 dev ha
ip -n "$NSB" addr add 198.18.100.2/24 dev hb
ip netns exec "$NSB" ethtool -K hb tx off >/dev/null
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip -n "$NSA" link set ha up
ip -n "$NSB" link set hb up

mkdir -p "$TMP/www" "$TMP/nginx"
printf 'hello world\n' >"$TMP/www/index.html"   # 12 bytes, as in the platform report
chmod 755 "$TMP" "$TMP/www"; chmod 644 "$TMP/www/index.html"  # nginx's worker runs as nobody
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    default_type text/html;
    server {
        listen 198.18.100.3:80 reuseport backlog=4096;
        root $TMP/www;
    }
}
CONF

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }
# wrk latency "123.45us" / "1.23ms" / "1.2s" -> µs
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1e6} else print v}'; }
cpu_snap() { awk '/^cpu[01] /{print $1, $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
cpu_busy() { # $1 before, $2 after -> "cpu0% cpu1%"
    paste -d' ' <(echo "$1") <(echo "$2") | awk '{printf "%.0f ", 100*($5-$2)/(($6-$3)>0?($6-$3):1)}'
}

wait_up() {
    for _ in $(seq 1 100); do
        ip netns exec "$NSB" curl -s --fail -m 1 -o /dev/null "http://$1/index.html" && return 0
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2; return 1
}

# run_wrk NAME CONNS IP -> appends "rps p50us p99us cpu0 cpu1 errors" to $TMP/NAME.cCONNS
run_wrk() {
    local name=$1 c=$2 ip=$3 before after out
    before=$(cpu_snap)
    out=$(ip netns exec "$NSB" taskset -c 0 wrk -t1 -c"$c" -d"${SECS}s" --latency "http://$ip/index.html")
    after=$(cpu_snap)
    echo "$out" >>"$TMP/$name.c$c.log"
    local rps p50 p99 errs
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
    errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ {e=e $0 ";"} END {print (e==""?"0":"1")}')
    echo "$rps $p50 $p99 $(cpu_busy "$before" "$after")$errs" >>"$TMP/$name.c$c"
    echo "  $name c$c: $rps req/s, p50 ${p50} us, p99 ${p99} us, cpu0/cpu1 $(cpu_busy "$before" "$after")% errors=$errs" >&2
}

CYC_FLAGS=()
[ -n "${BUSY_POLL:-}" ] && CYC_FLAGS+=(--busy-poll)

cyclone_run() {
    ip netns exec "$NSA" taskset -c 1 "$CYCLONE" serve --backend afxdp --iface ha --ip 198.18.100.1/24 \
        --app static --root "$TMP/www" "${CYC_FLAGS[@]}" >"$TMP/cyclone.out" 2>"$TMP/cyclone.err" &
    SRV=$!
    wait_up 198.18.100.1
    run_wrk cyclone 64 198.18.100.1
    run_wrk cyclone 1 198.18.100.1
    kill -INT "$SRV"; wait "$SRV" || true; SRV=
    grep -h "AF_XDP" "$TMP/cyclone.out" | sed 's/^ */    /' >&2 || true
}

nginx_run() {
    ip netns exec "$NSA" taskset -c 1 nginx -c "$TMP/nginx.conf" -e "$TMP/nginx/error.log"
    wait_up 198.18.100.3
    run_wrk nginx 64 198.18.100.3
    run_wrk nginx 1 198.18.100.3
    kill -QUIT "$(cat "$TMP/nginx.pid")"
    for _ in $(seq 1 50); do [ -f "$TMP/nginx.pid" ] || break; sleep 0.1; done
}

for i in $(seq 1 "$RUNS"); do
    echo "run $i" >&2
    cyclone_run
    nginx_run
done

col() { awk -v c="$2" '{print $c}' "$TMP/$1" | median; }
runs() { awk -v c="$2" '{printf "%s%s", (NR>1?" / ":""), $c}' "$TMP/$1"; }
mode=$([ -n "${BUSY_POLL:-}" ] && echo "busy-poll" || echo "poll() when idle")
echo
echo "| wrk -t1, ${SECS}s, veth, server CPU1 / wrk CPU0 | req/s (median) | p50 µs | p99 µs | CPU0 % (wrk) | CPU1 % (server) | runs req/s | errors |"
echo "|---|---|---|---|---|---|---|---|"
for c in 64 1; do
    for s in cyclone nginx; do
        f=$s.c$c
        label=$([ $s = cyclone ] && echo "Cyclone AF_XDP ($mode)" || echo "nginx 1 worker")
        printf '| %s, c%s | %.0f | %.0f | %.0f | %s | %s | %s | %s |\n' "$label" "$c" \
            "$(col $f 1)" "$(col $f 2)" "$(col $f 3)" "$(col $f 4)" "$(col $f 5)" "$(runs $f 1)" \
            "$(awk '{s+=$6} END {print s+0}' "$TMP/$f")"
    done
done
for c in 64 1; do
    cr=$(col cyclone.c$c 1); nr=$(col nginx.c$c 1); cp=$(col cyclone.c$c 2); np=$(col nginx.c$c 2)
    printf '| ratio Cyclone / nginx, c%s | %.2f× req/s | %.2f× p50 | | | | | |\n' "$c" \
        "$(echo "$cr/$nr" | bc -l)" "$(echo "$cp/$np" | bc -l)"
done

if [ -n "${PROFILE:-}" ] && command -v perf >/dev/null; then
    echo >&2; echo "profile: perf record -e cpu-clock -a -g during a c64 Cyclone run" >&2
    ip netns exec "$NSA" taskset -c 1 "$CYCLONE" serve --backend afxdp --iface ha --ip 198.18.100.1/24 \
        --app static --root "$TMP/www" "${CYC_FLAGS[@]}" >/dev/null 2>&1 &
    SRV=$!
    wait_up 198.18.100.1
    perf record -q -e cpu-clock -F 999 -a -g -o "$TMP/perf.data" -- \
        ip netns exec "$NSB" taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "http://198.18.100.1/index.html" >/dev/null 2>&1
    kill -INT "$SRV"; wait "$SRV" || true; SRV=
    echo; echo "Where the time goes (perf, cpu-clock, all CPUs, by CPU and command):"; echo '```'
    perf report -i "$TMP/perf.data" --no-children --sort cpu,comm --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -12
    echo '```'; echo "Top symbols on CPU0 (wrk's CPU):"; echo '```'
    perf report -i "$TMP/perf.data" --no-children --cpu 0 --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -25
    echo '```'; echo "Top symbols on CPU1 (Cyclone's CPU):"; echo '```'
    perf report -i "$TMP/perf.data" --no-children --cpu 1 --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -25
    echo '```'
fi
