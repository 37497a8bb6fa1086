#!/bin/bash
# ci/softroce/vm.sh GUEST_SCRIPT [TIMEOUT_S]   (or: vm.sh --prepare)
#
# Boots Debian bookworm's own 6.1 kernel under QEMU (TCG: this machine has no usable KVM and its
# kernel has no RDMA) with the host's / shared read-only over 9p, loads SoftRoCE (rdma_rxe) and
# ib_uverbs, and runs GUEST_SCRIPT (a host path) as root in a chroot of the host root. The
# host's /tmp is writable inside the guest through an overlay (writes stay in the guest).
# Console output goes to stdout; the exit status is the guest script's (99: it never reported).
#
# The kernel, its modules and the initramfs are cached in $CYCLONE_SOFTROCE_DIR
# (default /var/tmp/cyclone-softroce); nothing is written to /boot or /lib/modules.
# `--prepare` only fetches the kernel (run it once ahead of time; CI does it on first use).
set -euo pipefail
W=${CYCLONE_SOFTROCE_DIR:-/var/tmp/cyclone-softroce}
PREPARE=0
if [ "${1:-}" = "--prepare" ]; then PREPARE=1; else
  [ $# -ge 1 ] || { echo "usage: $0 GUEST_SCRIPT [TIMEOUT_S] | --prepare" >&2; exit 2; }
  GUEST_SCRIPT=$(readlink -f "$1"); TMO=${2:-600}
fi
mkdir -p "$W"; cd "$W"
exec 9>"$W/.lock"; flock 9   # one VM build/boot per cache directory at a time

# 1. Host packages: the guest reuses the host's binaries and libraries through the 9p root.
PKGS="qemu-system-x86 busybox-static kmod iproute2 rdma-core ibverbs-providers ibverbs-utils"
if ! dpkg -s $PKGS >/dev/null 2>&1; then
  echo "softroce: installing $PKGS" >&2
  apt-get update -qq
  TMPDIR="$W" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $PKGS >/dev/null
fi

# 2. Debian's kernel and modules, unpacked into the cache only.
kver() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-//p' | head -1; }
KVER=${KVER:-$(cat kver 2>/dev/null || kver)}
[ -n "$KVER" ] || { apt-get update -qq; KVER=$(kver); }
if [ ! -e "k/boot/vmlinuz-$KVER" ]; then
  echo "softroce: fetching linux-image-$KVER (once)" >&2
  rm -rf k ./linux-image-*.deb
  apt-get download -qq "linux-image-$KVER"
  dpkg-deb -x ./linux-image-"$KVER"_*.deb k
  depmod -b k "$KVER"; rm -f ./linux-image-*.deb
  echo "$KVER" > kver
fi
[ "$PREPARE" = 1 ] && { echo "softroce: kernel $KVER ready in $W"; exit 0; }

# 3. initramfs: static busybox, the modules in dependency order, the guest script and /init.
rm -rf ir; mkdir -p ir/bin ir/m ir/proc ir/sys ir/dev ir/host ir/rw
cp /bin/busybox ir/bin/busybox
i=10
for f in $(for m in virtio_pci virtio_net 9pnet_virtio 9p overlay dummy crc32_generic rdma_rxe ib_uverbs; do
             modprobe -d k -S "$KVER" --show-depends "$m"; done | awk '$1=="insmod" && !s[$2]++ {print $2}'); do
  cp "$f" "ir/m/$((i++))-$(basename "$f")"
done
cp "$GUEST_SCRIPT" ir/guest.sh
cat > ir/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /m/*.ko; do insmod "$m" || echo "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host
mount -t proc proc /host/proc; mount -t sysfs sys /host/sys; mount -t devtmpfs dev /host/dev
mount -t tmpfs run /host/run; mount -t tmpfs rw /rw; mkdir /rw/u /rw/w
mount -t overlay -o lowerdir=/host/tmp,upperdir=/rw/u,workdir=/rw/w tmp /host/tmp
cp /guest.sh /host/run/guest.sh; ip link set lo up
echo "=== guest up after $(cut -d' ' -f1 /proc/uptime)s"
chroot /host /bin/bash /run/guest.sh; echo "=== GUEST_EXIT=$?"
poweroff -f
INIT
chmod +x ir/init
(cd ir && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > initrd.gz

# 4. Boot. -no-reboot + panic=-1 make QEMU exit on poweroff or on a guest panic.
ACCEL=${ACCEL:-tcg}; CPU=${CPU:-max}
set +e
timeout "$TMO" qemu-system-x86_64 -accel "$ACCEL" -cpu "$CPU" -smp "${SMP:-2}" -m "${MEM:-2G}" \
  -nographic -no-reboot -kernel "k/boot/vmlinuz-$KVER" -initrd initrd.gz \
  -append "console=ttyS0 quiet loglevel=3 panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0 ${QEMU_EXTRA:-} </dev/null | tee console.log
qrc=${PIPESTATUS[0]}
set -e
[ "$qrc" = 124 ] && echo "softroce: the VM timed out after ${TMO}s" >&2
rc=$(sed -n 's/.*=== GUEST_EXIT=\([0-9]*\).*/\1/p' console.log | tail -1)
exit "${rc:-99}"
