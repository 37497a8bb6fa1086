//! The UMEM: a queue's [`Pool`] region registered with its AF_XDP socket, the fill and
//! completion rings that lend frames to the kernel and take them back, and the bookkeeping
//! that makes the frame hand-over sound.
//!
//! **Ownership.** Every frame of the pool is owned by exactly one party (see `cyclone-pmd`'s
//! `raw` module). A frame this module puts in the fill ring or the TX ring is *lent*: it is out
//! of the pool, owned by the kernel, and its bit is set in [`Frames::lent`]. It comes back
//! through the RX ring (a received frame, turned into a `PacketBuf` without a copy) or the
//! completion ring (a transmitted frame, freed to the pool). A descriptor naming a frame whose
//! bit is not set is ignored and counted: whatever the kernel writes in a ring, user space
//! never takes a frame twice. When the queue is dropped the socket is closed first (after
//! which the kernel no longer touches the UMEM: `xsk_release` unbinds and waits with
//! `synchronize_net`), and only then are the frames still lent returned to the pool.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use cyclone_pmd::{PacketBuf, Pool, RawBuf};

use crate::error::AfXdpError;
use crate::ring::{ConsumerRing, ProducerRing, RingOffsets};
use crate::sys::{self, Mmap};

/// The frames of a pool and which of them the kernel holds.
#[derive(Debug)]
struct Frames {
    pool: Pool,
    /// One bit per frame: set while lent to the kernel.
    lent: Vec<u64>,
    /// Number of set bits.
    lent_count: u32,
    /// `log2(frame_size)`.
    shift: u32,
    /// The socket the UMEM is registered with. Closed in `Drop` *before* the lent frames go
    /// back to the pool; every other holder (the rings) is dropped before this struct.
    socket: Option<Arc<OwnedFd>>,
}

impl Frames {
    fn is_lent(&self, index: u32) -> bool {
        self.lent
            .get((index / 64) as usize)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    fn lend(&mut self, index: u32) {
        if let Some(w) = self.lent.get_mut((index / 64) as usize) {
            *w |= 1 << (index % 64);
            self.lent_count += 1;
        }
    }

    /// Clears frame `index`'s lent bit; `false` if it was not lent (a bogus descriptor).
    fn take_back(&mut self, index: u32) -> bool {
        if !self.is_lent(index) {
            return false;
        }
        self.lent[(index / 64) as usize] &= !(1 << (index % 64));
        self.lent_count -= 1;
        true
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        let socket = self.socket.take();
        if self.lent_count == 0 {
            return; // nothing lent: nothing to wait for
        }
        match socket.and_then(Arc::into_inner) {
            // Last holder: closing the socket detaches it from the device (the kernel waits for
            // in-flight receives), so the lent frames are ours again.
            Some(fd) => drop(fd),
            None => {
                tracing::error!(
                    lent = self.lent_count,
                    "AF_XDP socket still referenced while its UMEM is dropped; leaking the lent frames"
                );
                return;
            }
        }
        let lent: Vec<u32> = (0..self.pool.capacity() as u32)
            .filter(|&i| self.is_lent(i))
            .collect();
        // SAFETY: each of these frames was taken from this pool by `refill`/`lend_tx` and not
        // taken back (its bit was set); the socket is closed, so the kernel no longer uses it:
        // we own it and give it up exactly once.
        unsafe { self.pool.free_indices(lent) };
        self.lent.fill(0);
        self.lent_count = 0;
    }
}

/// What the UMEM counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UmemCounters {
    /// Times the fill ring had room but the pool had no frame for it.
    pub fill_pool_empty: u64,
    /// Descriptors (RX or completion) naming a frame not lent to the kernel, ignored.
    pub bad_descs: u64,
}

/// A registered UMEM with its fill and completion rings.
#[derive(Debug)]
pub(crate) struct Umem {
    // Field order matters: the rings (holding socket references) drop before `frames`, whose
    // `Drop` closes the socket and then returns the lent frames.
    fill: ProducerRing<u64>,
    comp: ConsumerRing<u64>,
    frames: Frames,
    /// Most frames kept in the fill ring.
    fill_target: u32,
    counters: UmemCounters,
    /// Scratch for completion reaping (no allocation per burst).
    scratch: Vec<u32>,
}

impl Umem {
    /// Registers `pool`'s region as the UMEM of `socket` (`XDP_UMEM_REG`, chunk = frame size,
    /// no extra headroom: the kernel puts a received frame `XDP_PACKET_HEADROOM` = 256 bytes
    /// into its chunk), sizes and maps the fill and completion rings.
    pub(crate) fn register(
        socket: &Arc<OwnedFd>,
        pool: Pool,
        fill_size: u32,
        comp_size: u32,
        offsets: &sys::xdp_mmap_offsets,
    ) -> Result<Umem, AfXdpError> {
        let config = pool.config();
        let frames = Frames {
            lent: vec![0; (config.frames as usize).div_ceil(64)],
            lent_count: 0,
            shift: config.frame_size.trailing_zeros(),
            socket: Some(socket.clone()),
            pool,
        };
        let fd = socket.as_fd();
        // SAFETY: the region is the pool's, alive while `frames.pool` is. The kernel writes
        // only into chunks we lend through the fill ring, each marked in `frames.lent` and
        // kept out of the pool until it comes back or the socket is closed (`Frames::drop`,
        // which runs before the pool handle is released).
        unsafe {
            sys::set_umem_reg(
                fd,
                frames.pool.region_base(),
                frames.pool.region_len(),
                config.frame_size,
                0,
            )
        }
        .map_err(|e| AfXdpError::syscall("setsockopt(XDP_UMEM_REG)", e))?;
        sys::set_ring_size(fd, libc::XDP_UMEM_FILL_RING, fill_size)
            .map_err(|e| AfXdpError::syscall("setsockopt(XDP_UMEM_FILL_RING)", e))?;
        sys::set_ring_size(fd, libc::XDP_UMEM_COMPLETION_RING, comp_size)
            .map_err(|e| AfXdpError::syscall("setsockopt(XDP_UMEM_COMPLETION_RING)", e))?;
        let fill = map_ring::<u64>(
            socket,
            offsets.fr.into(),
            fill_size,
            libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
            "mmap(fill ring)",
        )
        .and_then(|m| {
            ProducerRing::new(m, Some(socket.clone()), offsets.fr.into(), fill_size)
                .map_err(layout("fill"))
        })?;
        let comp = map_ring::<u64>(
            socket,
            offsets.cr.into(),
            comp_size,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
            "mmap(completion ring)",
        )
        .and_then(|m| {
            ConsumerRing::new(m, Some(socket.clone()), offsets.cr.into(), comp_size)
                .map_err(layout("completion"))
        })?;
        let fill_target = fill_size.min(config.frames / 2).max(1);
        Ok(Umem {
            fill,
            comp,
            frames,
            fill_target,
            counters: UmemCounters::default(),
            scratch: Vec::with_capacity(fill_size.max(comp_size) as usize),
        })
    }

    /// The pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.frames.pool
    }

    /// Counters so far.
    pub(crate) fn counters(&self) -> UmemCounters {
        self.counters
    }

    /// Frames the kernel holds now (fill ring, RX ring, TX ring, completion ring).
    pub(crate) fn lent(&self) -> u32 {
        self.frames.lent_count
    }

    /// Tops the fill ring up to its target from the pool; returns how many frames were added.
    /// An empty pool is counted, never fatal: the kernel then drops (and counts) what it
    /// cannot place.
    pub(crate) fn refill(&mut self) -> u32 {
        let in_ring = self.fill.outstanding();
        let want = self.fill_target.saturating_sub(in_ring);
        if want < 16.min(self.fill_target) {
            return 0; // refill in batches
        }
        let n = self.fill.reserve(want);
        let Umem {
            fill,
            frames,
            scratch,
            ..
        } = self;
        scratch.clear();
        frames
            .pool
            .alloc_indices(n as usize, |index| scratch.push(index));
        let got = scratch.len() as u32;
        for (i, &index) in scratch.iter().enumerate() {
            // Cannot fail: `i < got <= n` reserved slots.
            fill.write(i as u32, (index as u64) << frames.shift);
            frames.lend(index);
        }
        fill.submit(got);
        if got < n {
            self.counters.fill_pool_empty += 1;
        }
        got
    }

    /// Whether the kernel wants a wakeup to use the fill ring.
    pub(crate) fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// Turns a received descriptor into a buffer over the frame the kernel wrote (no copy).
    /// `None` for a descriptor naming a frame we did not lend or a window that does not fit.
    pub(crate) fn take_rx(&mut self, desc: sys::xdp_desc) -> Option<PacketBuf> {
        let shift = self.frames.shift;
        let index = u32::try_from(desc.addr >> shift).ok()?;
        let offset = (desc.addr & ((1u64 << shift) - 1)) as u32;
        if !self.frames.take_back(index) {
            self.counters.bad_descs += 1;
            return None;
        }
        let raw = RawBuf {
            index,
            offset,
            len: desc.len,
        };
        // SAFETY: frame `index` was lent to the kernel (bit was set, now cleared) and handed
        // back in the RX ring: we own it again and pass ownership to the buffer. A window that
        // does not fit is reported and the frame goes back to the pool (`from_raw`'s contract).
        match unsafe { PacketBuf::from_raw(&self.frames.pool, raw) } {
            Ok(buf) => Some(buf),
            Err(_) => {
                self.counters.bad_descs += 1;
                None
            }
        }
    }

    /// Gives `buf`'s frame to the kernel for transmission and returns its TX descriptor.
    /// `Err(buf)` if the buffer is not from this UMEM's pool (the caller copies it).
    pub(crate) fn lend_tx(&mut self, buf: PacketBuf) -> Result<sys::xdp_desc, PacketBuf> {
        if buf.pool_id() != self.frames.pool.id() {
            return Err(buf);
        }
        let addr = buf.region_offset();
        let raw = buf.into_raw();
        self.frames.lend(raw.index);
        Ok(sys::xdp_desc {
            addr,
            len: raw.len,
            options: 0,
        })
    }

    /// Takes back a frame lent with [`lend_tx`](Self::lend_tx) whose descriptor did not make it
    /// into the TX ring, as the buffer it was.
    pub(crate) fn unlend_tx(&mut self, desc: sys::xdp_desc) -> Option<PacketBuf> {
        self.take_rx(desc)
    }

    /// Frees up to `max` transmitted frames from the completion ring back to the pool; returns
    /// how many.
    pub(crate) fn reap(&mut self, max: u32) -> u32 {
        let n = self.comp.peek(max);
        if n == 0 {
            return 0;
        }
        let shift = self.frames.shift;
        self.scratch.clear();
        for i in 0..n {
            let Some(addr) = self.comp.read(i) else { break };
            let index = (addr >> shift) as u32;
            if (addr >> shift) <= u32::MAX as u64 && self.frames.take_back(index) {
                self.scratch.push(index);
            } else {
                self.counters.bad_descs += 1;
            }
        }
        self.comp.release(n);
        // SAFETY: every index in `scratch` was lent for TX (bit was set, now cleared) and the
        // kernel returned it in the completion ring: we own it and give it up once.
        unsafe { self.frames.pool.free_indices(self.scratch.drain(..)) };
        n
    }
}

/// Maps one ring of `socket` whose entries are `T`s: `desc + size * size_of::<T>()` bytes at
/// page offset `pgoff` (`XDP_PGOFF_RX_RING`, `XDP_UMEM_PGOFF_FILL_RING`, ...).
pub(crate) fn map_ring<T>(
    socket: &Arc<OwnedFd>,
    off: RingOffsets,
    size: u32,
    pgoff: libc::off_t,
    call: &'static str,
) -> Result<Arc<Mmap>, AfXdpError> {
    let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
    Mmap::ring(socket.as_fd(), len, pgoff)
        .map(Arc::new)
        .map_err(|e| AfXdpError::syscall(call, e))
}

pub(crate) fn layout(ring: &'static str) -> impl Fn(crate::ring::RingLayoutError) -> AfXdpError {
    move |e| AfXdpError::Syscall {
        call: "mmap(ring layout)",
        source: io::Error::other(format!("{ring} ring: {e}")),
    }
}
