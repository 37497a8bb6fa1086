#!/usr/bin/env bash
# Installs what Cyclone's build, tests and demo need on a fresh Debian/Ubuntu machine, and only
# what is missing. Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail

# Debian packages, and why:
# - build-essential, pkg-config, clang, libclang-dev: C shims, bindgen, and the XDP program
# - libdpdk-dev, dpdk, dpdk-dev: the DPDK backend (bindings, PMD plugins, dpdk-testpmd peer)
# - libbpf-dev, linux-libc-dev: headers for the XDP program (ebpf/)
# - libibverbs-dev, rdma-core, ibverbs-providers: the RDMA backend's bindings
# - tcpdump: reads back pcap captures in tests; valgrind: instruction counts in benchmarks
# - iproute2, ethtool, procps, iputils-ping, curl, wrk: the veth labs and the kernel-side clients
# - qemu-system-x86, busybox-static, kmod, ibverbs-utils: the SoftRoCE VM (ci/softroce)
PKGS=(build-essential pkg-config clang libclang-dev llvm libbpf-dev linux-libc-dev
  libdpdk-dev dpdk dpdk-dev libibverbs-dev rdma-core ibverbs-providers
  tcpdump valgrind iproute2 ethtool procps iputils-ping curl wrk
  qemu-system-x86 busybox-static kmod ibverbs-utils)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "ci/install.sh: installing ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "ci/install.sh: cargo is missing: install Rust (https://rustup.rs), stable 1.91 or newer" >&2
  exit 1
fi
