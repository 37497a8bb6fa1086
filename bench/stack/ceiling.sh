#!/usr/bin/env bash
# How far removing passes over the data could take Cyclone's TCP bulk throughput against
# smoltcp: the same 1 GiB transfer as wallclock.sh, built several ways and run in interleaved
# rounds with smoltcp, fastest round of each kept:
#   current         the working tree as it is (the zero-copy send);
#   base            the stack before the zero-copy send (CEILING_BASE, default 9f2c72e), the
#                   tree the patches below apply to;
#   no-send-pass    ceiling/no-send-pass.patch: no copy from the send buffer into the frame
#                   and no transmit checksum for full-sized text (the best a zero-copy send
#                   with the checksum fused into the application's write could do);
#   no-data-passes  ceiling/no-data-passes.patch: that, and no receive checksum either (a
#                   device that verifies it), leaving only the application's two copies;
# (The seventh session's sum-at-write variant, the send buffer's frames summed as `send` writes
# them, is no longer built here: it was tested, did not change the wall clock and was not kept.
# Its patch and the script that measured it are in commit a19c0a5: check that out and run this
# script there to repeat it.)
# The patches are experiments, not features (the stubbed builds put garbage on the wire):
# they are applied in a scratch git worktree, removed on exit.
#
# Usage: bench/stack/ceiling.sh [rounds] [bytes]   (defaults: 5, 1 GiB)
# Needs git. Builds into target/stack-ceiling/<variant>.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)
rounds="${1:-5}"
base="${CEILING_BASE:-9f2c72e}"
bytes="${2:-1073741824}"
targets="${CARGO_TARGET_DIR:-$root/target}/stack-ceiling"
mkdir -p "$targets"
scratch=$(mktemp -d)
cleanup() {
    git -C "$root" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# build VARIANT REV [PATCH] -> target/stack-ceiling/VARIANT/release/stack_instructions
build() {
    local variant="$1" rev="$2" patch="${3:-}"
    git -C "$root" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true
    git -C "$root" worktree add --detach -q "$scratch/tree" "$rev"
    if [[ -n "$patch" ]]; then
        git -C "$scratch/tree" apply "$root/bench/stack/ceiling/$patch" || {
            echo "ceiling.sh: $patch no longer applies to this tree; update it" >&2
            exit 1
        }
    fi
    (cd "$scratch/tree" && CARGO_TARGET_DIR="$targets/$variant" \
        cargo build --release -q -p cyclone-bench --bin stack_instructions)
}

# The working tree, uncommitted changes included: stash create records them without touching
# the index or the tree (it prints nothing when there are none).
current=$(git -C "$root" stash create)
build current "${current:-HEAD}"
# The patches were written for the send path before the zero-copy send (which removed the
# send-buffer copy they stub out).
build base "$base"
build no-send-pass "$base" no-send-pass.patch
build no-data-passes "$base" no-data-passes.patch

# ms COMMAND... -> wall-clock milliseconds of one run
ms() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

declare -A best
keep() { if [[ -z "${best[$1]:-}" ]] || (($2 < best[$1])); then best[$1]=$2; fi; }
for round in $(seq 1 "$rounds"); do
    line="round $round:"
    for variant in current base no-send-pass no-data-passes; do
        bin="$targets/$variant/release/stack_instructions"
        for run in bulk-cyclone bulk-cyclone-burst; do
            t=$(ms "$bin" "$run" "$bytes")
            keep "$variant/$run" "$t"
            line+=" $variant/$run $t"
        done
    done
    t=$(ms "$targets/current/release/stack_instructions" bulk-smoltcp "$bytes")
    keep smoltcp "$t"
    echo "$line smoltcp $t (ms)"
done

s=${best[smoltcp]}
echo
echo "TCP bulk, $bytes bytes, fastest of $rounds interleaved rounds (wall clock, ms; the ratio is"
echo "smoltcp's time over Cyclone's, so above 1 is faster than smoltcp), $(date -u +%Y-%m-%d)"
echo
echo "| build | default ACKs | ratio | ack_per_burst | ratio |"
echo "|---|---|---|---|---|"
for variant in current base no-send-pass no-data-passes; do
    d=${best[$variant/bulk-cyclone]}
    b=${best[$variant/bulk-cyclone-burst]}
    awk -v v="$variant" -v d="$d" -v b="$b" -v s="$s" \
        'BEGIN { printf "| %s | %d | %.2f× | %d | %.2f× |\n", v, d, s / d, b, s / b }'
done
echo "| smoltcp 0.14 | $s | – | – | – |"
