#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of the workspace. Installs what is missing
# first. Tests that need root, a veth lab, DPDK or SoftRoCE run when those are there and
# otherwise skip with a message saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked 2>&1 | tee target/test-output.log
# The tests' own verdict is cargo's exit status (pipefail); print a one-line summary too.
awk '/^test result:/ { split($0, a, " "); p += a[4]; f += a[6] } END { printf "%d passed, %d failed\n", p, f }' \
  target/test-output.log
