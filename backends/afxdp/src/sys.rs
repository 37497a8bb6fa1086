//! Every system call of the backend, each a small function returning `io::Result`.
//!
//! What lives here: the AF_XDP socket calls (`socket`, `setsockopt` for `XDP_UMEM_REG` and the
//! ring sizes, `getsockopt` for `XDP_MMAP_OFFSETS`/`XDP_STATISTICS`/`XDP_OPTIONS`, `bind`,
//! the `sendto`/`recvfrom`/`poll` kicks), [`Mmap`] (a mapping that unmaps on drop), the
//! interface queries (`SIOCGIFMTU`, `SIOCGIFHWADDR`, `SIOCETHTOOL`/`ETHTOOL_GCHANNELS`), a
//! minimal rtnetlink client for the interface's XDP attachment (query, attach, detach), BPF
//! link detach, `setns` and `geteuid`.
//!
//! Nothing above this module calls `libc` directly. Each function keeps the errno in its
//! `io::Error`; callers attach the call's name (see `error.rs`).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

pub(crate) use libc::{xdp_desc, xdp_mmap_offsets, xdp_statistics};

/// Turns a `-1` return into the thread's errno.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The effective user id (0 = root).
pub(crate) fn geteuid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

// ---------------------------------------------------------------------------------------------
// AF_XDP socket
// ---------------------------------------------------------------------------------------------

/// `socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)`.
pub(crate) fn xsk_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; no pointers.
    let fd = check(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by `socket` and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, value)` for a plain-data `value`.
///
/// # Safety
/// `T` must be the exact C type the kernel expects for this option (it reads `size_of::<T>()`
/// bytes).
unsafe fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to `size_of::<T>()` readable bytes for the whole call; the caller
    // guarantees the type matches the option.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(fd, SOL_XDP, name)` into a zeroed `T`; returns the value and the length the
/// kernel wrote.
///
/// # Safety
/// `T` must be a plain-data C type (every bit pattern valid) matching the option.
unsafe fn getsockopt<T>(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<(T, usize)> {
    // SAFETY: the caller guarantees `T` is plain data, for which all-zero bytes are valid.
    let mut value: T = unsafe { zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is `len` writable bytes and `len` is a valid in/out length; the kernel
    // writes at most `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok((value, len as usize))
}

/// Registers `len` bytes at `addr` as the socket's UMEM, cut into `chunk_size` chunks.
///
/// # Safety
/// The kernel pins those pages and writes received frames into the chunks user space hands it
/// (fill ring) until the socket is closed: the caller must keep every chunk it lends alive and
/// untouched until the kernel gives it back or the socket is closed (`umem.rs` does).
pub(crate) unsafe fn set_umem_reg(
    fd: BorrowedFd<'_>,
    addr: NonNull<u8>,
    len: usize,
    chunk_size: u32,
    headroom: u32,
) -> io::Result<()> {
    let reg = libc::xdp_umem_reg {
        addr: addr.as_ptr() as u64,
        len: len as u64,
        chunk_size,
        headroom,
        flags: 0,
        tx_metadata_len: 0,
    };
    // SAFETY: `xdp_umem_reg` is the type of `XDP_UMEM_REG` (this layout, with
    // `tx_metadata_len`, is accepted by kernels ≥ 6.8; older ones take the shorter prefix and
    // reject the longer size with EINVAL, which the caller reports).
    unsafe { setsockopt(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg) }
}

/// Sets the size (entries, a power of two) of one of the four rings: `XDP_RX_RING`,
/// `XDP_TX_RING`, `XDP_UMEM_FILL_RING`, `XDP_UMEM_COMPLETION_RING`.
pub(crate) fn set_ring_size(fd: BorrowedFd<'_>, ring: libc::c_int, entries: u32) -> io::Result<()> {
    // SAFETY: the ring-size options take an `int`-sized count; `u32` has that size.
    unsafe { setsockopt(fd, libc::SOL_XDP, ring, &entries) }
}

/// Where producer, consumer, flags and descriptors sit in each ring's mapping.
pub(crate) fn mmap_offsets(fd: BorrowedFd<'_>) -> io::Result<xdp_mmap_offsets> {
    // SAFETY: `xdp_mmap_offsets` is the plain-data type of `XDP_MMAP_OFFSETS`.
    let (off, len) = unsafe { getsockopt::<xdp_mmap_offsets>(fd, libc::XDP_MMAP_OFFSETS) }?;
    if len != size_of::<xdp_mmap_offsets>() {
        // Pre-5.4 kernels return the layout without `flags` (no need_wakeup support).
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel returned the pre-5.4 XDP_MMAP_OFFSETS layout (no need_wakeup); Linux 5.4 or later is needed",
        ));
    }
    Ok(off)
}

/// The socket's drop counters (`XDP_STATISTICS`).
pub(crate) fn statistics(fd: BorrowedFd<'_>) -> io::Result<xdp_statistics> {
    // SAFETY: `xdp_statistics` is the plain-data type of `XDP_STATISTICS`; a shorter answer
    // from an older kernel leaves the remaining fields zero.
    unsafe { getsockopt::<xdp_statistics>(fd, libc::XDP_STATISTICS) }.map(|(s, _)| s)
}

/// Whether the bound socket runs in zero-copy mode (`XDP_OPTIONS` & `XDP_OPTIONS_ZEROCOPY`).
pub(crate) fn is_zero_copy(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: `xdp_options` is the plain-data type of `XDP_OPTIONS`.
    let (opts, _) = unsafe { getsockopt::<libc::xdp_options>(fd, libc::XDP_OPTIONS) }?;
    Ok(opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}

/// Binds the socket to queue `queue` of interface `ifindex` with `flags` (`XDP_COPY`,
/// `XDP_ZEROCOPY`, `XDP_USE_NEED_WAKEUP`).
pub(crate) fn bind(fd: BorrowedFd<'_>, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let addr = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `addr` is a valid `sockaddr_xdp` for the duration of the call and the length
    // passed is its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_xdp).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Wakes the kernel to send what the TX ring holds: `sendto(fd, NULL, 0, MSG_DONTWAIT)`.
pub(crate) fn kick_tx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length send with null buffer and address: the kernel reads no memory.
    let ret = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Wakes the kernel to refill from the fill ring: `recvfrom(fd, NULL, 0, MSG_DONTWAIT)`.
pub(crate) fn kick_rx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length receive with null buffer and address: the kernel writes no memory.
    let ret = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits up to `timeout` for the socket to become readable (`poll(POLLIN)`); `Ok(true)` when
/// it is. `EINTR` counts as "not yet".
pub(crate) fn poll_in(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid `pollfd` for the call; nfds is 1.
    match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
        Ok(n) => Ok(n > 0 && pfd.revents & libc::POLLIN != 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Memory mappings
// ---------------------------------------------------------------------------------------------

/// A shared memory mapping, unmapped on drop: a ring the kernel exposes through the socket
/// (`mmap(fd, XDP_PGOFF_*)`), or anonymous memory for kernel-free ring tests.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory that lives until drop; which thread touches which bytes
// is decided by the ring protocol in `ring.rs`, not by the mapping.
unsafe impl Send for Mmap {}
// SAFETY: as above: `&Mmap` hands out only the base pointer and length.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Maps `len` bytes of the socket's ring at page offset `pgoff` (`XDP_PGOFF_RX_RING`, ...).
    pub(crate) fn ring(fd: BorrowedFd<'_>, len: usize, pgoff: libc::off_t) -> io::Result<Mmap> {
        // SAFETY: a fresh shared mapping chosen by the kernel (null hint); no existing memory
        // is affected. The kernel checks `pgoff` and `len` against the ring it created.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff,
            )
        };
        Self::from_ret(ptr, len)
    }

    /// Maps `len` zeroed anonymous bytes (kernel-free ring tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh shared anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        Self::from_ret(ptr, len)
    }

    fn from_ret(ptr: *mut libc::c_void, len: usize) -> io::Result<Mmap> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmap { ptr, len })
    }

    /// Base address; valid for `len()` bytes until drop.
    pub(crate) fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned; nothing references the mapping
        // after its owner drops it (rings hold their `Mmap` and never hand out references).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// ---------------------------------------------------------------------------------------------
// Interface queries (ioctl on a throwaway datagram socket in the calling thread's netns)
// ---------------------------------------------------------------------------------------------

/// `struct ifreq`: a name and a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EthtoolChannels {
    pub cmd: u32,
    pub max_rx: u32,
    pub max_tx: u32,
    pub max_other: u32,
    pub max_combined: u32,
    pub rx_count: u32,
    pub tx_count: u32,
    pub other_count: u32,
    pub combined_count: u32,
}

fn ifreq(name: &str) -> io::Result<IfReq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: [0; 24],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    Ok(req)
}

fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by `socket` and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs interface ioctl `request` with `req`.
fn if_ioctl(request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    let sock = ioctl_socket()?;
    // SAFETY: `req` is a valid, writable `struct ifreq` for the call; every request used here
    // reads the name and writes at most the 24-byte union (or, for SIOCETHTOOL, the struct the
    // union's pointer names, which the caller keeps alive).
    check(unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut IfReq) }).map(drop)
}

/// Interface index of `name` (0 never: a missing interface is `ENODEV`).
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// L3 MTU of `name` (`SIOCGIFMTU`).
pub(crate) fn if_mtu(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    if_ioctl(libc::SIOCGIFMTU, &mut req)?;
    let mtu = i32::from_ne_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]);
    Ok(mtu.max(0) as u32)
}

/// MAC address of `name` (`SIOCGIFHWADDR`: a `sockaddr` whose `sa_data` starts with it).
pub(crate) fn if_mac(name: &str) -> io::Result<[u8; 6]> {
    let mut req = ifreq(name)?;
    if_ioctl(libc::SIOCGIFHWADDR, &mut req)?;
    let mut mac = [0; 6];
    mac.copy_from_slice(&req.data[2..8]);
    Ok(mac)
}

/// Channel counts of `name` (`SIOCETHTOOL` / `ETHTOOL_GCHANNELS`, what `ethtool -l` shows).
pub(crate) fn ethtool_channels(name: &str) -> io::Result<EthtoolChannels> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..EthtoolChannels::default()
    };
    let mut req = ifreq(name)?;
    let ptr = (&mut ch as *mut EthtoolChannels) as usize;
    req.data[..size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
    // `ch` lives on this frame until after the call, as `if_ioctl` requires.
    if_ioctl(SIOCETHTOOL, &mut req)?;
    Ok(ch)
}

// ---------------------------------------------------------------------------------------------
// Network namespaces
// ---------------------------------------------------------------------------------------------

/// Moves the calling *thread* into the network namespace `ns` (a `/var/run/netns/<name>` or
/// `/proc/thread-self/ns/net` file). Other threads are unaffected.
pub(crate) fn setns_net(ns: &File) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace file for the call; `setns` touches no user memory.
    check(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: the interface's XDP attachment
// ---------------------------------------------------------------------------------------------

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;

/// An XDP program attached to an interface, as rtnetlink reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XdpAttachment {
    /// Kernel program id.
    pub prog_id: u32,
    /// `XDP_ATTACHED_*`: 1 driver, 2 generic (skb), 3 hardware, 4 several.
    pub mode: u8,
}

/// An open `NETLINK_ROUTE` socket.
fn netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: `fd` was just returned by `socket` and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn nl_send(fd: RawFd, msg: &[u8]) -> io::Result<()> {
    // SAFETY: `msg` is readable for its length during the call; a null address sends to the
    // kernel (the socket's default peer).
    let ret = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn nl_recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length during the call.
    let ret = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A netlink request: header + `ifinfomsg` for `ifindex` + `attrs`.
fn nl_link_msg(ty: u16, flags: u16, ifindex: u32, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDR + IFINFOMSG + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
                                              // ifinfomsg: family, pad, type, index, flags, change
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(attrs);
    m
}

/// Appends attribute `ty` with `payload`, padded to 4 bytes.
fn nla(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

/// Iterates attributes in `buf` as `(type, payload)`, stopping at the first malformed one.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & !NLA_F_NESTED;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// Splits `buf` into netlink messages `(type, payload)`.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDR {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < NLMSG_HDR || len > buf.len() {
            return None;
        }
        let payload = &buf[NLMSG_HDR..len];
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// The error code of an `NLMSG_ERROR` payload (0 = ACK).
fn nl_error(payload: &[u8]) -> io::Result<()> {
    let code = payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(-libc::EPROTO);
    if code < 0 {
        Err(io::Error::from_raw_os_error(-code))
    } else {
        Ok(())
    }
}

/// The XDP program attached to `ifindex`, if any (`RTM_GETLINK`, `IFLA_XDP`).
pub(crate) fn xdp_query(ifindex: u32) -> io::Result<Option<XdpAttachment>> {
    let sock = netlink_socket()?;
    let msg = nl_link_msg(libc::RTM_GETLINK, libc::NLM_F_REQUEST as u16, ifindex, &[]);
    nl_send(sock.as_raw_fd(), &msg)?;
    let mut buf = vec![0u8; 32 * 1024];
    let n = nl_recv(sock.as_raw_fd(), &mut buf)?;
    for (ty, payload) in messages(&buf[..n]) {
        if ty == libc::NLMSG_ERROR as u16 {
            nl_error(payload)?;
            continue;
        }
        if ty != libc::RTM_NEWLINK || payload.len() < IFINFOMSG {
            continue;
        }
        for (aty, xdp) in attrs(&payload[IFINFOMSG..]) {
            if aty != IFLA_XDP {
                continue;
            }
            let mut found = XdpAttachment {
                prog_id: 0,
                mode: 0,
            };
            for (xty, v) in attrs(xdp) {
                match (xty, v) {
                    (IFLA_XDP_ATTACHED, [mode, ..]) => found.mode = *mode,
                    (IFLA_XDP_PROG_ID, [a, b, c, d, ..]) => {
                        found.prog_id = u32::from_ne_bytes([*a, *b, *c, *d])
                    }
                    _ => {}
                }
            }
            return Ok((found.mode != 0 && found.prog_id != 0).then_some(found));
        }
        return Ok(None);
    }
    Err(io::Error::from_raw_os_error(libc::EPROTO))
}

/// Attaches program `prog_fd` to `ifindex` (or detaches with `prog_fd = -1`) through
/// rtnetlink (`RTM_SETLINK`, `IFLA_XDP_FD` + `IFLA_XDP_FLAGS`). An attachment made this way
/// outlives the process; one made with a BPF link does not.
pub(crate) fn xdp_set(ifindex: u32, prog_fd: RawFd, flags: u32) -> io::Result<()> {
    let mut inner = Vec::new();
    nla(&mut inner, IFLA_XDP_FD, &prog_fd.to_ne_bytes());
    nla(&mut inner, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    let mut outer = Vec::new();
    nla(&mut outer, IFLA_XDP | NLA_F_NESTED, &inner);
    let msg = nl_link_msg(
        libc::RTM_SETLINK,
        (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
        ifindex,
        &outer,
    );
    let sock = netlink_socket()?;
    nl_send(sock.as_raw_fd(), &msg)?;
    let mut buf = vec![0u8; 4096];
    let n = nl_recv(sock.as_raw_fd(), &mut buf)?;
    for (ty, payload) in messages(&buf[..n]) {
        if ty == libc::NLMSG_ERROR as u16 {
            return nl_error(payload);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EPROTO))
}

// ---------------------------------------------------------------------------------------------
// BPF links
// ---------------------------------------------------------------------------------------------

const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_DETACH: libc::c_long = 34;

/// Detaches BPF link `link_id` from whatever it is attached to, even if another process holds
/// it (`BPF_LINK_GET_FD_BY_ID` then `BPF_LINK_DETACH`).
pub(crate) fn bpf_link_detach_by_id(link_id: u32) -> io::Result<()> {
    // `union bpf_attr` is 144+ bytes; both commands read only their first words
    // (`link_id`/`link_fd`), the rest must be zero.
    let mut attr = [0u32; 36];
    attr[0] = link_id;
    // SAFETY: `attr` is a zeroed buffer at least as large as the size passed; the kernel reads
    // it and writes nothing.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_GET_FD_BY_ID,
            attr.as_ptr(),
            size_of::<[u32; 36]>() as u32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh link fd that nobody else owns.
    let link = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let mut attr = [0u32; 36];
    attr[0] = link.as_raw_fd() as u32;
    // SAFETY: as above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_DETACH,
            attr.as_ptr(),
            size_of::<[u32; 36]>() as u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_attributes_round_trip() {
        let mut inner = Vec::new();
        nla(&mut inner, IFLA_XDP_ATTACHED, &[1]);
        nla(&mut inner, IFLA_XDP_PROG_ID, &77u32.to_ne_bytes());
        let mut outer = Vec::new();
        nla(&mut outer, IFLA_XDP | NLA_F_NESTED, &inner);
        let (ty, xdp) = attrs(&outer).next().unwrap();
        assert_eq!(ty, IFLA_XDP);
        let got: Vec<_> = attrs(xdp).collect();
        assert_eq!(got[0], (IFLA_XDP_ATTACHED, &[1u8][..]));
        assert_eq!(got[1], (IFLA_XDP_PROG_ID, &77u32.to_ne_bytes()[..]));
    }

    #[test]
    fn bad_interface_names_are_enodev() {
        assert_eq!(ifreq("").err().unwrap().raw_os_error(), Some(libc::ENODEV));
        assert_eq!(
            ifreq("a-name-that-is-too-long")
                .err()
                .unwrap()
                .raw_os_error(),
            Some(libc::ENODEV)
        );
    }
}
