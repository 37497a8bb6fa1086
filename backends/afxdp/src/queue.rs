//! [`AfXdpQueue`]: one AF_XDP socket bound to one NIC queue, with its own UMEM and pool
//! (shared-nothing), implementing the driver contract's [`Queue`].
//!
//! - **RX**: consume the RX ring in bursts; each descriptor becomes a `PacketBuf` over the very
//!   frame the kernel wrote (`umem.rs`). Then top the fill ring up from the pool.
//! - **TX**: each `PacketBuf` becomes a TX descriptor naming its frame (no copy; a buffer of
//!   another pool is copied into one of ours). Transmitted frames come back through the
//!   completion ring, reaped into the pool at every `tx_burst`. The kernel is woken with
//!   `sendto` only when the TX ring's need_wakeup flag says so (in copy mode it always does:
//!   copy-mode TX runs in the `sendto`).
//! - **Waiting**: busy-poll by calling `rx_burst` in a loop, or block in [`AfXdpQueue::wait`]
//!   (`poll(POLLIN)`) when a burst came back empty. See the README for which wins here.
//!
//! Safe code: ring access goes through `ring.rs`, frame ownership through `umem.rs`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::{PacketBuf, Pool, PoolConfig, Queue, QueueStats, RxQueue, TxQueue};

use crate::error::AfXdpError;
use crate::netdev::NetDev;
use crate::program::SteerProgram;
use crate::ring::{ConsumerRing, ProducerRing};
use crate::sys::{self, xdp_desc};
use crate::umem::{map_ring, Umem};

/// Whether to ask for zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// Try zero-copy, fall back to copy mode with a logged warning (veth: always copy).
    #[default]
    Auto,
    /// Zero-copy or an error.
    Required,
    /// Copy mode only.
    Off,
}

/// Ring sizes and modes of one queue's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketConfig {
    /// The queue's own pool; its region is the UMEM.
    pub pool: PoolConfig,
    /// RX ring entries (power of two).
    pub rx_size: u32,
    /// TX ring entries (power of two).
    pub tx_size: u32,
    /// Fill ring entries (power of two).
    pub fill_size: u32,
    /// Completion ring entries (power of two).
    pub comp_size: u32,
    /// Zero-copy request.
    pub zero_copy: ZeroCopy,
    /// Bind with `XDP_USE_NEED_WAKEUP` (kick the kernel only when it asks).
    pub need_wakeup: bool,
}

impl Default for SocketConfig {
    /// 8192 frames of 2048 bytes (16 MiB) and 2048-entry rings: the fill ring holds at most
    /// half the frames; the rest covers buffers the application holds and frames in TX.
    fn default() -> Self {
        SocketConfig {
            pool: PoolConfig {
                frames: 8192,
                frame_size: 2048,
                headroom: 256,
                reserved: 0,
            },
            rx_size: 2048,
            tx_size: 2048,
            fill_size: 2048,
            comp_size: 2048,
            zero_copy: ZeroCopy::Auto,
            need_wakeup: true,
        }
    }
}

impl SocketConfig {
    /// Checks sizes; the error names the bad field.
    pub fn validate(&self) -> Result<(), AfXdpError> {
        self.pool.validate()?;
        for (name, v) in [
            ("rx_size", self.rx_size),
            ("tx_size", self.tx_size),
            ("fill_size", self.fill_size),
            ("comp_size", self.comp_size),
        ] {
            if !v.is_power_of_two() || !(64..=1 << 16).contains(&v) {
                return Err(AfXdpError::Config(format!(
                    "`{name}` = {v}: use a power of two from 64 to 65536"
                )));
            }
        }
        Ok(())
    }
}

/// Everything an AF_XDP queue counted: the contract's [`QueueStats`] plus the socket's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    /// rx/tx packets and bytes, drops, `tx_full` (frames `tx_burst` could not take: TX ring
    /// full). `rx_dropped_no_buffer` is the kernel's fill-ring-empty count.
    pub queue: QueueStats,
    /// `XDP_STATISTICS.rx_dropped`: frames the kernel dropped for other reasons (too big...).
    pub rx_dropped: u64,
    /// `XDP_STATISTICS.rx_ring_full`: frames dropped because our RX ring was full.
    pub rx_ring_full: u64,
    /// `XDP_STATISTICS.rx_fill_ring_empty_descs`: times the kernel found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    /// `XDP_STATISTICS.rx_invalid_descs` / `tx_invalid_descs`.
    pub rx_invalid_descs: u64,
    /// See `rx_invalid_descs`.
    pub tx_invalid_descs: u64,
    /// `XDP_STATISTICS.tx_ring_empty_descs`.
    pub tx_ring_empty: u64,
    /// Times the fill ring had room but the pool was empty.
    pub fill_pool_empty: u64,
    /// Descriptors naming a frame the kernel did not hold (ignored).
    pub bad_descs: u64,
    /// `sendto` wakeups issued, and those that failed with a non-transient error.
    pub tx_wakeups: u64,
    /// See `tx_wakeups`.
    pub tx_wakeup_errors: u64,
    /// Buffers from another pool copied into this queue's pool to be sent.
    pub tx_copied: u64,
    /// Frames the kernel holds now (fill, RX, TX and completion rings).
    pub frames_in_kernel: u32,
}

/// One queue of an [`AfXdpPort`](crate::AfXdpPort).
#[derive(Debug)]
pub struct AfXdpQueue {
    // Drop order matters (fields drop top to bottom): the RX/TX rings release their socket
    // references before `umem`, whose drop closes the socket and then returns lent frames.
    rx: ConsumerRing<xdp_desc>,
    tx: ProducerRing<xdp_desc>,
    /// For kicks and statistics; dropped before `umem`, which holds the last reference.
    socket: Arc<OwnedFd>,
    umem: Umem,
    id: u16,
    zero_copy: bool,
    need_wakeup: bool,
    stats: QueueStats,
    tx_wakeups: u64,
    tx_wakeup_errors: u64,
    tx_copied: u64,
    /// Cleared on drop so the port can open the queue again.
    open_flag: Arc<[AtomicBool]>,
}

impl AfXdpQueue {
    /// Creates the socket for queue `id` of `dev`, registers its pool as UMEM, binds and
    /// points the program's XSKMAP entry for the queue at it.
    pub(crate) fn open(
        dev: &NetDev,
        id: u16,
        cfg: &SocketConfig,
        program: &mut SteerProgram,
        open_flag: Arc<[AtomicBool]>,
    ) -> Result<AfXdpQueue, AfXdpError> {
        let pool = Pool::new(cfg.pool)?;
        let socket =
            Arc::new(sys::xsk_socket().map_err(|e| AfXdpError::syscall("socket(AF_XDP)", e))?);
        let offsets = sys::mmap_offsets(socket.as_fd())
            .map_err(|e| AfXdpError::syscall("getsockopt(XDP_MMAP_OFFSETS)", e))?;
        let mut umem = Umem::register(&socket, pool, cfg.fill_size, cfg.comp_size, &offsets)?;
        sys::set_ring_size(socket.as_fd(), libc::XDP_RX_RING, cfg.rx_size)
            .map_err(|e| AfXdpError::syscall("setsockopt(XDP_RX_RING)", e))?;
        sys::set_ring_size(socket.as_fd(), libc::XDP_TX_RING, cfg.tx_size)
            .map_err(|e| AfXdpError::syscall("setsockopt(XDP_TX_RING)", e))?;
        let rx_map = map_ring::<xdp_desc>(
            &socket,
            offsets.rx.into(),
            cfg.rx_size,
            libc::XDP_PGOFF_RX_RING,
            "mmap(rx ring)",
        )?;
        let rx = ConsumerRing::new(rx_map, Some(socket.clone()), offsets.rx.into(), cfg.rx_size)
            .map_err(|e| AfXdpError::syscall("mmap(rx ring)", io::Error::other(e.to_string())))?;
        let tx_map = map_ring::<xdp_desc>(
            &socket,
            offsets.tx.into(),
            cfg.tx_size,
            libc::XDP_PGOFF_TX_RING,
            "mmap(tx ring)",
        )?;
        let tx = ProducerRing::new(tx_map, Some(socket.clone()), offsets.tx.into(), cfg.tx_size)
            .map_err(|e| AfXdpError::syscall("mmap(tx ring)", io::Error::other(e.to_string())))?;
        let wake = if cfg.need_wakeup {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        let fd = socket.as_fd();
        let zero_copy = match cfg.zero_copy {
            ZeroCopy::Off => {
                sys::bind(fd, dev.ifindex, id.into(), libc::XDP_COPY | wake)
                    .map_err(|e| bind_err(dev, e))?;
                false
            }
            ZeroCopy::Required | ZeroCopy::Auto => {
                match sys::bind(fd, dev.ifindex, id.into(), libc::XDP_ZEROCOPY | wake) {
                    Ok(()) => true,
                    Err(e) if cfg.zero_copy == ZeroCopy::Required => {
                        return Err(AfXdpError::ZeroCopyUnsupported {
                            ifname: dev.name.clone(),
                            queue: id,
                            source: e,
                        })
                    }
                    Err(e) => {
                        tracing::warn!(
                            ifname = %dev.name, queue = id, error = %e,
                            "zero-copy AF_XDP refused; falling back to copy mode (one copy per frame in the kernel)"
                        );
                        sys::bind(fd, dev.ifindex, id.into(), libc::XDP_COPY | wake)
                            .map_err(|e| bind_err(dev, e))?;
                        false
                    }
                }
            }
        };
        let zero_copy = sys::is_zero_copy(fd).unwrap_or(zero_copy);
        program.set_socket(id, fd)?;
        // Lend frames only now that nothing can fail: an error above leaves none lent (and the
        // few frames that arrive meanwhile are dropped and counted as fill-ring-empty).
        umem.refill();
        tracing::info!(ifname = %dev.name, queue = id, zero_copy, "AF_XDP socket bound");
        Ok(AfXdpQueue {
            rx,
            tx,
            socket,
            umem,
            id,
            zero_copy,
            need_wakeup: cfg.need_wakeup,
            stats: QueueStats::default(),
            tx_wakeups: 0,
            tx_wakeup_errors: 0,
            tx_copied: 0,
            open_flag,
        })
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Whether the socket runs in zero-copy mode.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Blocks until a frame may be waiting in the RX ring or `timeout` passes (`poll()`);
    /// `Ok(true)` if the socket is readable. Call it after an empty `rx_burst` instead of
    /// spinning, to leave the CPU to the kernel's receive work.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        self.umem.refill();
        self.flush();
        if self.rx.available(1) > 0 {
            return Ok(true);
        }
        sys::poll_in(self.fd(), timeout)
    }

    /// Wakes the kernel if the TX ring still holds frames it has not sent (copy-mode TX sends
    /// at most a batch per wakeup) and reaps completions.
    pub fn flush(&mut self) {
        self.umem.reap(u32::MAX);
        if self.tx.outstanding() > 0 {
            self.kick_tx();
        }
    }

    fn kick_tx(&mut self) {
        if self.need_wakeup && !self.tx.needs_wakeup() {
            return;
        }
        self.tx_wakeups += 1;
        if let Err(e) = sys::kick_tx(self.fd()) {
            match e.raw_os_error() {
                // Transient: the kernel is busy or out of skbs; the frames stay in the ring
                // and the next kick sends them.
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                | Some(libc::ENETDOWN) => {}
                _ => self.tx_wakeup_errors += 1,
            }
        }
    }

    /// All counters, including the socket's `XDP_STATISTICS`.
    pub fn xsk_stats(&self) -> XskStats {
        let k = sys::statistics(self.fd()).unwrap_or(sys::xdp_statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: 0,
            rx_fill_ring_empty_descs: 0,
            tx_ring_empty_descs: 0,
        });
        let u = self.umem.counters();
        let mut queue = self.stats;
        queue.rx_dropped_no_buffer = k.rx_fill_ring_empty_descs;
        XskStats {
            queue,
            rx_dropped: k.rx_dropped,
            rx_ring_full: k.rx_ring_full,
            rx_fill_ring_empty: k.rx_fill_ring_empty_descs,
            rx_invalid_descs: k.rx_invalid_descs,
            tx_invalid_descs: k.tx_invalid_descs,
            tx_ring_empty: k.tx_ring_empty_descs,
            fill_pool_empty: u.fill_pool_empty,
            bad_descs: u.bad_descs,
            tx_wakeups: self.tx_wakeups,
            tx_wakeup_errors: self.tx_wakeup_errors,
            tx_copied: self.tx_copied,
            frames_in_kernel: self.umem.lent(),
        }
    }

    /// Copies a buffer of another pool into a fresh buffer of ours; `Err` gives it back when
    /// our pool is empty.
    fn adopt(&mut self, buf: PacketBuf) -> Result<PacketBuf, PacketBuf> {
        let Some(mut own) = self.umem.pool().alloc() else {
            return Err(buf);
        };
        if own.extend_from_slice(buf.data()).is_err() {
            return Err(buf);
        }
        own.offload = buf.offload;
        self.tx_copied += 1;
        Ok(own)
    }
}

fn bind_err(dev: &NetDev, e: io::Error) -> AfXdpError {
    match e.raw_os_error() {
        Some(libc::EBUSY) => AfXdpError::Config(format!(
            "`bind(AF_XDP)` on `{}`: the queue is busy (another AF_XDP socket, e.g. a DPDK \
             net_af_xdp or xdpsock process, is bound to it): {e}",
            dev.name
        )),
        _ => AfXdpError::syscall("bind(AF_XDP)", e),
    }
}

impl RxQueue for AfXdpQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let n = self.rx.peek(max.min(u32::MAX as usize) as u32);
        let mut got = 0;
        for i in 0..n {
            let Some(desc) = self.rx.read(i) else { break };
            match self.umem.take_rx(desc) {
                Some(buf) => {
                    self.stats.count_rx(buf.len());
                    out.push(buf);
                    got += 1;
                }
                None => self.stats.rx_dropped_invalid += 1,
            }
        }
        self.rx.release(n);
        self.umem.refill();
        if n == 0 && self.need_wakeup && self.umem.fill_needs_wakeup() {
            // The driver sleeps until told the fill ring has frames again.
            let _ = sys::kick_rx(self.fd());
        }
        got
    }
}

impl TxQueue for AfXdpQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        self.umem.reap(u32::MAX);
        if bufs.is_empty() {
            return 0;
        }
        let initial = bufs.len();
        let room = self.tx.reserve(bufs.len().min(u32::MAX as usize) as u32);
        let mut written = 0u32;
        let mut back: Vec<PacketBuf> = Vec::new();
        {
            let mut drained = bufs.drain(..room as usize);
            while let Some(buf) = drained.next() {
                if buf.is_empty() {
                    continue; // nothing to send: taken and dropped
                }
                let buf = if buf.pool_id() == self.umem.pool().id() {
                    buf
                } else {
                    match self.adopt(buf) {
                        Ok(own) => own,
                        Err(buf) => {
                            back.push(buf);
                            back.extend(drained.by_ref());
                            break;
                        }
                    }
                };
                let len = buf.len();
                match self.umem.lend_tx(buf) {
                    Ok(desc) => {
                        if self.tx.write(written, desc) {
                            written += 1;
                            self.stats.count_tx(len);
                        } else if let Some(buf) = self.umem.unlend_tx(desc) {
                            back.push(buf);
                        }
                    }
                    Err(buf) => back.push(buf),
                }
            }
        }
        self.tx.submit(written);
        if !back.is_empty() {
            bufs.splice(0..0, back);
        }
        self.stats.tx_full += bufs.len() as u64;
        if written > 0 {
            // Copy-mode TX sends at most 32 frames per wakeup (the kernel's TX_BATCH_SIZE):
            // kick until the ring drains, a bounded number of times.
            for _ in 0..written.div_ceil(32).min(8) {
                self.kick_tx();
                if self.tx.outstanding() == 0 {
                    break;
                }
            }
        }
        initial - bufs.len()
    }

    fn pool(&self) -> &Pool {
        self.umem.pool()
    }
}

impl Queue for AfXdpQueue {
    fn id(&self) -> u16 {
        self.id
    }

    fn stats(&self) -> QueueStats {
        self.xsk_stats().queue
    }
}

impl Drop for AfXdpQueue {
    fn drop(&mut self) {
        if let Some(flag) = self.open_flag.get(self.id as usize) {
            flag.store(false, Ordering::Release);
        }
        tracing::debug!(queue = self.id, "AF_XDP queue closed");
    }
}
