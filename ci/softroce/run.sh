#!/bin/bash
# ci/softroce/run.sh — cyclone-rdma's real-device tests on SoftRoCE.
#
# Builds cyclone-rdma's test binaries on the host (the host kernel has no RDMA), boots a QEMU
# guest with Debian's 6.1 kernel (ci/softroce/vm.sh), creates `rxe0` on a dummy netdev there
# and runs every test binary with CYCLONE_RDMA_DEVICE=rxe0. Before `rxe0` exists it also runs
# the "no device" error test. Prints `SOFTROCE SUMMARY: N passed, N failed` and exits non-zero
# when a test failed or the VM did not finish. Skips (exit 0, with a message) when not root or
# QEMU is missing, unless CYCLONE_SOFTROCE_REQUIRED=1.
#
# Env: CYCLONE_SOFTROCE_TIMEOUT (s, default 900), CYCLONE_SOFTROCE_DIR (cache), TEST_ARGS
# (extra libtest arguments, e.g. a test name filter).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip() {
  if [ "${CYCLONE_SOFTROCE_REQUIRED:-0}" = 1 ]; then echo "softroce: $*" >&2; exit 1; fi
  echo "SKIP softroce: $*"; exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (QEMU boot of a guest sharing / over 9p)"
command -v qemu-system-x86_64 >/dev/null || [ "${CYCLONE_SOFTROCE_INSTALL:-0}" = 1 ] ||
  skip "qemu-system-x86_64 missing: apt-get install qemu-system-x86 busybox-static kmod ibverbs-utils (or set CYCLONE_SOFTROCE_INSTALL=1)"

cd "$ROOT"
echo "softroce: building cyclone-rdma's tests on the host"
BINS=$(cargo test -p cyclone-rdma --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
[ -n "$BINS" ] || { echo "softroce: no test binaries were built" >&2; exit 1; }
ERRORS_BIN=$(echo "$BINS" | grep '/errors-' | head -1 || true)

GUEST=$(mktemp /tmp/cyclone-softroce-guest.XXXXXX.sh)
trap 'rm -f "$GUEST"' EXIT
{
  echo "BINS='$(echo $BINS)'; ERRORS_BIN='$ERRORS_BIN'; TEST_ARGS='${TEST_ARGS:-}'; cd '$ROOT'"
  cat <<'GUEST'
set -u
export RUST_BACKTRACE=1
pass=0; fail=0
run() {  # run BIN ARGS...: one test binary, its libtest summary added to the totals
  local out=/tmp/cyclone-test.out rc
  "$@" 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '^test result:' "$out" | tail -1)
  local p f
  p=$(echo "$line" | sed -n 's/.* \([0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
  if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then fail=$((fail + 1)); echo "=== $1 exited with $rc"; fi
}
echo "=== before rxe0 exists: the no-device error"
[ -n "$ERRORS_BIN" ] && run "$ERRORS_BIN" --exact a_kernel_without_rdma_or_without_devices_is_explained --nocapture
ip link add d0 type dummy && ip addr add 198.18.0.1/24 dev d0 && ip link set d0 up
rdma link add rxe0 type rxe netdev d0
ibv_devinfo -d rxe0 | grep -E 'hca_id|state|active_mtu|link_layer'
export CYCLONE_RDMA_DEVICE=rxe0
for b in $BINS; do
  echo "=== $(basename "$b")"
  run "$b" --test-threads=1 --nocapture $TEST_ARGS
done
echo "SOFTROCE SUMMARY: $pass passed, $fail failed"
[ "$fail" = 0 ]
GUEST
} > "$GUEST"

start=$(date +%s)
set +e
bash "$ROOT/ci/softroce/vm.sh" "$GUEST" "${CYCLONE_SOFTROCE_TIMEOUT:-900}" > /tmp/cyclone-softroce-console.log 2>&1
rc=$?
set -e
cat /tmp/cyclone-softroce-console.log
summary=$(grep -a 'SOFTROCE SUMMARY' /tmp/cyclone-softroce-console.log | tail -1 | tr -d '\r')
echo "softroce: VM run took $(( $(date +%s) - start ))s, guest exit $rc"
echo "${summary:-SOFTROCE SUMMARY: the guest did not report (timeout or crash, exit $rc)}"
exit "$rc"
