#!/usr/bin/env bash
# Installs what Cyclone's build, tests and demo need on a fresh Debian/Ubuntu machine, and only
# what is missing. Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail

# Debian packages: tcpdump reads back the pcap captures in tests; valgrind counts instructions
# in benchmarks; iproute2/ethtool/procps build the veth labs; curl is a client in the demo.
PKGS=(build-essential pkg-config tcpdump valgrind iproute2 ethtool procps curl)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "ci/install.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "ci/install.sh: cargo is missing: install Rust (https://rustup.rs), stable 1.86 or newer" >&2
  exit 1
fi
