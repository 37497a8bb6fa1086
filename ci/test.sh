#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of every crate and feature, and the RDMA
# tests inside a SoftRoCE VM. Installs what is missing first. Tests that need root, a veth lab,
# DPDK or RDMA run when those are there and otherwise print `SKIP: <what is missing>`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh
mkdir -p target

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (every crate, every feature, all targets; warnings are errors)"
cargo clippy --workspace --all-features --all-targets --locked -- -D warnings

echo "== cargo test (every crate, every feature)"
# One test thread per core is the default; the veth and DPDK tests each make their own
# namespaces and EAL processes, so they may run side by side.
set +e
cargo test --workspace --all-features --locked 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e

echo "== RDMA tests in a SoftRoCE VM"
# In CI the VM must run: a skip there would hide a broken step.
if [ "${CI:-}" = true ]; then export CYCLONE_SOFTROCE_REQUIRED=1; fi
set +e
bash ci/softroce/run.sh 2>&1 | tee target/softroce-output.log
rdma_status=${PIPESTATUS[0]}
set -e

# One summary line over everything above (cargo's own "test result:" lines plus the VM's).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' \
  target/test-output.log target/softroce-output.log
if [ "$status" -ne 0 ] || [ "$rdma_status" -ne 0 ]; then
  echo "ci/test.sh: FAILED (cargo test: $status, softroce: $rdma_status)" >&2
  exit 1
fi
