//! [`PacketBuf`], the owned view of one frame, and [`Frame`], a frame lent to a device.

use std::fmt;
use std::ptr::NonNull;

use std::sync::atomic::Ordering;

use super::pool::{free_frame, take_one, Shared};
use crate::error::BufError;

/// Offload metadata carried with a buffer between a device and the stack: four flags, one bit
/// each.
///
/// A plain byte rather than four `bool`s on purpose: a `bool` leaves 254 invalid values, and
/// the compiler stores the tag of `Option<PacketBuf>` and `Result<PacketBuf, _>` in such a
/// niche, inside the buffer. Those values were then moved in pieces at odd offsets whose loads
/// could not be forwarded from the stores that built them, a stall per move on the transmit
/// path. A byte has no invalid value, so the only niche left is the pool pointer (null).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Offload(u8);

impl Offload {
    const RX_IP_CHECKSUM_OK: u8 = 1;
    const RX_L4_CHECKSUM_OK: u8 = 1 << 1;
    const TX_IP_CHECKSUM: u8 = 1 << 2;
    const TX_L4_CHECKSUM: u8 = 1 << 3;

    #[inline]
    fn get(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    #[inline]
    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    /// RX: the device verified the IPv4 header checksum.
    #[inline]
    pub fn rx_ip_checksum_ok(self) -> bool {
        self.get(Self::RX_IP_CHECKSUM_OK)
    }

    /// RX: the device verified the TCP/UDP checksum.
    #[inline]
    pub fn rx_l4_checksum_ok(self) -> bool {
        self.get(Self::RX_L4_CHECKSUM_OK)
    }

    /// TX: the device is asked to fill the IPv4 header checksum.
    #[inline]
    pub fn tx_ip_checksum(self) -> bool {
        self.get(Self::TX_IP_CHECKSUM)
    }

    /// TX: the device is asked to fill the TCP/UDP checksum.
    #[inline]
    pub fn tx_l4_checksum(self) -> bool {
        self.get(Self::TX_L4_CHECKSUM)
    }

    /// Sets [`Offload::rx_ip_checksum_ok`].
    #[inline]
    pub fn set_rx_ip_checksum_ok(&mut self, on: bool) {
        self.set(Self::RX_IP_CHECKSUM_OK, on);
    }

    /// Sets [`Offload::rx_l4_checksum_ok`].
    #[inline]
    pub fn set_rx_l4_checksum_ok(&mut self, on: bool) {
        self.set(Self::RX_L4_CHECKSUM_OK, on);
    }

    /// Sets [`Offload::tx_ip_checksum`].
    #[inline]
    pub fn set_tx_ip_checksum(&mut self, on: bool) {
        self.set(Self::TX_IP_CHECKSUM, on);
    }

    /// Sets [`Offload::tx_l4_checksum`].
    #[inline]
    pub fn set_tx_l4_checksum(&mut self, on: bool) {
        self.set(Self::TX_L4_CHECKSUM, on);
    }
}

impl fmt::Debug for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offload")
            .field("rx_ip_checksum_ok", &self.rx_ip_checksum_ok())
            .field("rx_l4_checksum_ok", &self.rx_l4_checksum_ok())
            .field("tx_ip_checksum", &self.tx_ip_checksum())
            .field("tx_l4_checksum", &self.tx_l4_checksum())
            .finish()
    }
}

/// An owned packet buffer: one frame of a [`Pool`](crate::Pool), with a data window inside it.
///
/// The window starts after some headroom (room to [`prepend`](PacketBuf::prepend) headers
/// without copying) and may grow into the tailroom with [`append`](PacketBuf::append). Dropping
/// the buffer returns the frame to its pool.
///
/// A frame can be held by several buffers at once ([`share`](PacketBuf::share): a TCP send
/// buffer keeps a segment's frame for retransmission while the device sends it). Each has its
/// own data window; the frame returns to the pool when the last one drops. The bytes of a
/// shared frame are read-only: a buffer that writes (`data_mut`, `prepend`, `append`, …)
/// first copies its data into a frame of its own (copy-on-write), so no holder ever sees the
/// bytes change under it.
pub struct PacketBuf {
    shared: NonNull<Shared>,
    index: u32,
    start: u32,
    len: u32,
    /// Offload flags; see [`Offload`].
    pub offload: Offload,
}

// SAFETY: a `PacketBuf` owns its frame, alone or with other buffers that only read it (see
// `raw/mod.rs`), and the pool it points to is thread-safe: moving the buffer to another thread
// moves its access with it.
unsafe impl Send for PacketBuf {}
// SAFETY: `&PacketBuf` only reads the frame's bytes; writing needs `&mut PacketBuf` and a frame
// held by no other buffer.
unsafe impl Sync for PacketBuf {}

// A buffer handle stays small: it travels through every burst by value.
const _: () = assert!(std::mem::size_of::<PacketBuf>() <= 24);
// `Option<PacketBuf>` keeps its tag in the pool pointer (see `Offload`), not in a byte of its own.
const _: () = assert!(std::mem::size_of::<Option<PacketBuf>>() == std::mem::size_of::<PacketBuf>());

impl PacketBuf {
    /// Wraps frame `index`, which the caller hands over, with the pool's headroom and no data.
    pub(crate) fn new(shared: NonNull<Shared>, index: u32) -> PacketBuf {
        // SAFETY: the caller owns the frame, hence a reference that keeps the pool alive.
        let headroom = unsafe { shared.as_ref() }.headroom;
        PacketBuf {
            shared,
            index,
            start: headroom,
            len: 0,
            offload: Offload::default(),
        }
    }

    #[inline]
    fn pool(&self) -> &Shared {
        // SAFETY: this buffer owns a frame and so a reference: the pool is alive.
        unsafe { self.shared.as_ref() }
    }

    #[inline]
    fn frame_ptr(&self) -> *mut u8 {
        let pool = self.pool();
        let offset = (self.index as usize) << pool.frame_shift;
        // SAFETY: `index < frames`, so `offset + frame_size <= region.len()`: in bounds.
        unsafe { pool.region.base().as_ptr().add(offset) }
    }

    #[inline]
    fn data_ptr(&self) -> *mut u8 {
        // SAFETY: `start <= frame_size` is kept by every method: still inside the frame.
        unsafe { self.frame_ptr().add(self.start as usize) }
    }

    /// Whether at least half of this buffer's pool is free (in the shared free list; frames in
    /// thread caches count as in use). Whoever would keep a received buffer for a while (a TCP
    /// receive buffer holding the segments it got, rather than copying them) keeps it only then,
    /// so that kept buffers never starve the device of frames to receive into.
    #[inline]
    pub fn pool_half_free(&self) -> bool {
        let pool = self.pool();
        pool.available() * 2 >= pool.frames as usize
    }

    /// The data bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: `start + len <= frame_size` is kept by every method and the frame is in the
        // region. Nobody writes it while `&self` lives: a buffer writes only a frame it holds
        // alone (`make_unique`), and this one holds it.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.len as usize) }
    }

    /// The data bytes, writable. A shared frame is first copied (see [`PacketBuf::share`]);
    /// should its pool have no frame for the copy, the slice is empty.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        if self.make_unique().is_err() {
            return &mut [];
        }
        self.data_mut_unique()
    }

    /// [`PacketBuf::data_mut`] once [`PacketBuf::make_unique`] succeeded.
    #[inline]
    fn data_mut_unique(&mut self) -> &mut [u8] {
        debug_assert!(!self.is_shared());
        // SAFETY: as in `data`; `&mut self` and a frame no other buffer holds (the caller made
        // it so) make this the only view of the frame.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), self.len as usize) }
    }

    /// The whole frame, headroom and tailroom included, writable, once
    /// [`PacketBuf::make_unique`] succeeded. For devices that write wherever they like in a
    /// frame.
    fn frame_mut_unique(&mut self) -> &mut [u8] {
        debug_assert!(!self.is_shared());
        let size = self.pool().frame_size as usize;
        // SAFETY: the frame spans `frame_size` bytes of the region and is held by `&mut self`
        // alone (the caller made it so).
        unsafe { std::slice::from_raw_parts_mut(self.frame_ptr(), size) }
    }

    /// Another buffer over the same frame, with the same data window and offload flags: no
    /// copy. The frame goes back to its pool when the last of its buffers drops, and while
    /// more than one holds it its bytes are read-only (a write first copies: see
    /// [`PacketBuf::make_unique`]). Windows are each buffer's own: trimming one leaves the
    /// other as it was.
    ///
    /// Give a device at most one buffer of a frame at a time: a device may keep its own
    /// descriptor in the frame (DPDK's mbuf in the reserved area).
    #[inline]
    pub fn share(&self) -> PacketBuf {
        // Relaxed, as for `Arc::clone`: a new handle comes from an existing one, which keeps
        // the frame alive; the count only has to stay exact.
        let before = self
            .pool()
            .handles_of(self.index)
            .fetch_add(1, Ordering::Relaxed);
        if before > u32::MAX / 2 {
            // Two billion buffers of one frame can only be a leak of handles (`mem::forget` in
            // a loop); wrapping would free a frame still in use.
            std::process::abort();
        }
        PacketBuf {
            shared: self.shared,
            index: self.index,
            start: self.start,
            len: self.len,
            offload: self.offload,
        }
    }

    /// Whether other buffers hold this frame too ([`PacketBuf::share`]).
    #[inline]
    pub fn is_shared(&self) -> bool {
        // Acquire: pairs with the Release of a handle dropped elsewhere, so that its reads of
        // the frame happen before this buffer writes it.
        self.pool().handles_of(self.index).load(Ordering::Acquire) != 1
    }

    /// Makes the frame this buffer's alone: a shared frame's data window is copied into a
    /// fresh frame of the same pool, at the same offset (bytes outside the window are not),
    /// and the shared one is let go. Every write calls it first; a buffer of a frame nobody
    /// else holds pays one load. Fails when the frame is shared and the pool is empty.
    #[inline]
    pub fn make_unique(&mut self) -> Result<(), BufError> {
        if self.is_shared() {
            return self.copy_to_own_frame();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn copy_to_own_frame(&mut self) -> Result<(), BufError> {
        // SAFETY: this buffer holds a frame, hence a reference to the pool.
        let Some(index) = (unsafe { take_one(self.shared) }) else {
            return Err(BufError::SharedNoFrame);
        };
        let old = PacketBuf {
            shared: self.shared,
            index: self.index,
            start: self.start,
            len: self.len,
            offload: self.offload,
        };
        self.index = index;
        let len = self.len as usize;
        // SAFETY: the window is in bounds in both frames (same offsets, same frame size); the
        // new frame came from the pool and is this buffer's alone, and the old one is only
        // read (`old` holds it until the copy is done), so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(old.data_ptr(), self.data_ptr(), len) };
        // `old` drops here: the shared frame loses this buffer's handle.
        drop(old);
        Ok(())
    }

    /// Data length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the buffer holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes in front of the data (down to the pool's reserved area).
    #[inline]
    pub fn headroom(&self) -> usize {
        (self.start - self.pool().reserved) as usize
    }

    /// Free bytes after the data.
    #[inline]
    pub fn tailroom(&self) -> usize {
        (self.pool().frame_size - self.start - self.len) as usize
    }

    /// Size of the frame: the most data this buffer can hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.pool().frame_size as usize
    }

    /// Grows the data by `n` bytes at the front (into the headroom) and returns them.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.headroom() {
            return Err(BufError::Headroom {
                need: n,
                have: self.headroom(),
            });
        }
        self.make_unique()?;
        self.start -= n as u32;
        self.len += n as u32;
        Ok(&mut self.data_mut_unique()[..n])
    }

    /// Grows the data by `n` bytes at the back (into the tailroom) and returns them. Their
    /// content is whatever the frame held: write all of it.
    #[inline]
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.tailroom() {
            return Err(BufError::Tailroom {
                need: n,
                have: self.tailroom(),
            });
        }
        self.make_unique()?;
        let old = self.len as usize;
        self.len += n as u32;
        Ok(&mut self.data_mut_unique()[old..])
    }

    /// Appends a copy of `bytes`.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), BufError> {
        self.append(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Removes `n` bytes from the front of the data (they become headroom).
    #[inline]
    pub fn trim_front(&mut self, n: usize) -> Result<(), BufError> {
        if n > self.len() {
            return Err(BufError::TooShort {
                need: n,
                have: self.len(),
            });
        }
        self.start += n as u32;
        self.len -= n as u32;
        Ok(())
    }

    /// Shortens the data to `len` bytes; no effect if it is already shorter.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.len = len as u32;
        }
    }

    /// Empties the buffer and restores the pool's headroom.
    #[inline]
    pub fn reset(&mut self) {
        self.start = self.pool().headroom;
        self.len = 0;
        self.offload = Offload::default();
    }

    /// Sets the data window to `offset..offset + len` of the frame (offsets count from the
    /// frame's first byte; the pool's reserved area is off limits); for devices that wrote a
    /// frame at a place of their choosing. Bytes outside the old window keep their content.
    pub fn set_window(&mut self, offset: usize, len: usize) -> Result<(), BufError> {
        let size = self.capacity();
        let reserved = self.pool().reserved as usize;
        if offset < reserved || offset > size || len > size - offset {
            return Err(BufError::Window {
                offset,
                len,
                frame_size: size,
            });
        }
        self.start = offset as u32;
        self.len = len as u32;
        Ok(())
    }

    /// Copies `bytes` into the frame at `offset` and makes them the data window.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), BufError> {
        self.set_window(offset, bytes.len())?;
        self.make_unique()?;
        self.frame_mut_unique()[offset..offset + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Index of the frame in its pool.
    #[inline]
    pub fn frame_index(&self) -> u32 {
        self.index
    }

    /// Offset of the first data byte from the start of its frame.
    #[inline]
    pub fn frame_offset(&self) -> usize {
        self.start as usize
    }

    /// Offset of the first data byte from the start of the pool's region: what a device
    /// descriptor (an AF_XDP `xdp_desc.addr`, an RDMA SGE offset) names.
    #[inline]
    pub fn region_offset(&self) -> u64 {
        ((self.index as u64) << self.pool().frame_shift) + self.start as u64
    }

    /// Id of the pool this buffer belongs to.
    #[inline]
    pub fn pool_id(&self) -> u64 {
        self.pool().id
    }

    /// Gives the frame away to a device, keeping its data window in the returned [`RawBuf`].
    /// Take it back with [`PacketBuf::from_raw`]; until then the frame is out of the pool.
    /// The device gets this buffer's handle: if the frame [is shared](PacketBuf::is_shared),
    /// it may only read it (transmit), and giving the index back to the pool
    /// ([`Pool::free_index`](crate::Pool::free_index)) drops that one handle.
    pub fn into_raw(self) -> RawBuf {
        let raw = RawBuf {
            index: self.index,
            offset: self.start,
            len: self.len,
        };
        std::mem::forget(self);
        raw
    }

    /// Takes back a frame given away with [`PacketBuf::into_raw`] or [`Frame::into_index`],
    /// with the data window `raw` names.
    ///
    /// # Safety
    /// `raw.index` must name a frame of `pool` that the caller owns (given away and not taken
    /// back since). The window is checked and an error returned (with the frame returned to the
    /// pool) if it does not fit the frame.
    pub unsafe fn from_raw(pool: &crate::Pool, raw: RawBuf) -> Result<PacketBuf, BufError> {
        // SAFETY: the caller guarantees it owns the frame.
        let frame = unsafe { pool.frame_from_index(raw.index) };
        frame.into_buf(raw.offset as usize, raw.len as usize)
    }

    /// [`PacketBuf::from_raw`] without the window check, for a device's receive fast path that
    /// has checked the window itself (e.g. once per burst against bounds it computed once):
    /// reads nothing from the pool but its address, and cannot fail.
    ///
    /// # Safety
    /// As for [`PacketBuf::from_raw`]: `raw.index` names a frame of `pool` that the caller owns
    /// (given away and not taken back since) and hands over. In addition the window must lie
    /// in the frame outside the pool's reserved area:
    /// `pool.config().reserved <= raw.offset` and `raw.offset + raw.len <= frame_size`
    /// (computed without overflow). Debug builds assert all of it but ownership.
    #[inline]
    pub unsafe fn from_raw_unchecked(pool: &crate::Pool, raw: RawBuf) -> PacketBuf {
        let shared = pool.shared_ptr();
        #[cfg(debug_assertions)]
        {
            // SAFETY: `pool` is a live handle, so its shared state is alive.
            let s = unsafe { shared.as_ref() };
            debug_assert!(raw.index < s.frames, "frame {} out of range", raw.index);
            debug_assert!(
                raw.offset >= s.reserved
                    && u64::from(raw.offset) + u64::from(raw.len) <= u64::from(s.frame_size),
                "window {}+{} does not fit a {}-byte frame with {} reserved",
                raw.offset,
                raw.len,
                s.frame_size,
                s.reserved
            );
        }
        // The caller's frame becomes this buffer's: it carries the frame's pool reference (as
        // `Frame::into_buf` would), and the window invariant `reserved <= start`,
        // `start + len <= frame_size` that every method relies on holds by the contract.
        PacketBuf {
            shared,
            index: raw.index,
            start: raw.offset,
            len: raw.len,
            offload: Offload::default(),
        }
    }
}

impl Drop for PacketBuf {
    fn drop(&mut self) {
        // SAFETY: this buffer holds its frame and gives its handle up exactly once, here.
        unsafe { free_frame(self.shared, self.index) }
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("pool", &self.pool().id)
            .field("frame", &self.index)
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

/// A frame's index and data window while a device holds it (see [`PacketBuf::into_raw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawBuf {
    /// Frame index in the pool.
    pub index: u32,
    /// Offset of the data in the frame.
    pub offset: u32,
    /// Data length.
    pub len: u32,
}

/// A frame taken from the pool without a data view, to lend to a device (an AF_XDP fill ring,
/// an RDMA receive queue). Dropping it returns the frame to the pool.
pub struct Frame {
    shared: NonNull<Shared>,
    index: u32,
}

// SAFETY: like `PacketBuf`, a `Frame` is sole owner of its frame and the pool is thread-safe.
unsafe impl Send for Frame {}
// SAFETY: `&Frame` exposes only the index and addresses, never the bytes.
unsafe impl Sync for Frame {}

impl Frame {
    pub(crate) fn new(shared: NonNull<Shared>, index: u32) -> Frame {
        Frame { shared, index }
    }

    #[inline]
    fn pool(&self) -> &Shared {
        // SAFETY: the frame holds a reference, so the pool is alive.
        unsafe { self.shared.as_ref() }
    }

    /// Index of the frame in its pool.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Offset of the frame's first byte from the start of the region.
    pub fn region_offset(&self) -> u64 {
        (self.index as u64) << self.pool().frame_shift
    }

    /// Gives the frame to a device; take it back with [`Pool::frame_from_index`](crate::Pool::frame_from_index).
    pub fn into_index(self) -> u32 {
        let index = self.index;
        std::mem::forget(self);
        index
    }

    /// Turns the frame into a buffer whose data is `offset..offset + len` of the frame (what a
    /// device wrote). A window that does not fit is an error, and the frame goes back to the pool.
    pub fn into_buf(self, offset: usize, len: usize) -> Result<PacketBuf, BufError> {
        let shared = self.shared;
        let index = self.into_index();
        let mut buf = PacketBuf::new(shared, index);
        buf.set_window(offset, len)?;
        Ok(buf)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: this frame is owned here and given up exactly once.
        unsafe { free_frame(self.shared, self.index) }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("pool", &self.pool().id)
            .field("index", &self.index)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Offload;

    #[test]
    fn offload_flags_are_independent_bits() {
        type Get = fn(Offload) -> bool;
        type Set = fn(&mut Offload, bool);
        let flags: [(Get, Set); 4] = [
            (Offload::rx_ip_checksum_ok, Offload::set_rx_ip_checksum_ok),
            (Offload::rx_l4_checksum_ok, Offload::set_rx_l4_checksum_ok),
            (Offload::tx_ip_checksum, Offload::set_tx_ip_checksum),
            (Offload::tx_l4_checksum, Offload::set_tx_l4_checksum),
        ];
        for (i, (_, set)) in flags.iter().enumerate() {
            let mut o = Offload::default();
            set(&mut o, true);
            for (j, (get, _)) in flags.iter().enumerate() {
                assert_eq!(get(o), i == j, "setting flag {i} shows in flag {j}");
            }
            // Clearing it leaves the others as they were.
            let mut all = Offload::default();
            for (_, s) in &flags {
                s(&mut all, true);
            }
            set(&mut all, false);
            for (j, (get, _)) in flags.iter().enumerate() {
                assert_eq!(get(all), i != j, "clearing flag {i} shows in flag {j}");
            }
        }
        assert_eq!(
            format!("{:?}", Offload::default()),
            "Offload { rx_ip_checksum_ok: false, rx_l4_checksum_ok: false, \
             tx_ip_checksum: false, tx_l4_checksum: false }"
        );
    }
}
