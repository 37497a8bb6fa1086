//! The single-producer/single-consumer rings AF_XDP shares with the kernel.
//!
//! What lives here: [`ProducerRing`] (user space produces: the fill and TX rings) and
//! [`ConsumerRing`] (user space consumes: the RX and completion rings), both over a mapping
//! laid out as `xdp_ring_offset` says: a `u32` producer index, a `u32` consumer index, a `u32`
//! flags word and `size` descriptors. Indices run freely (wrapping `u32`); a slot is
//! `index & (size - 1)`.
//!
//! **Memory ordering** (the protocol of `net/xdp/xsk_queue.h` in the kernel and of libxdp's
//! `xsk.h`, which this mirrors access by access):
//!
//! ```text
//!   producer                               consumer
//!   LOAD.acquire  consumer   (A)           LOAD.acquire  producer   (C)
//!   STORE         descriptors              LOAD          descriptors
//!   STORE.release producer   (B)           STORE.release consumer   (D)
//! ```
//!
//! (B) pairs with (C): descriptors written before the producer index is published are visible
//! to a consumer that saw the new index. (D) pairs with (A): the consumer has finished reading
//! a slot before the producer can see it free and overwrite it. The kernel side uses
//! `smp_load_acquire`/`smp_store_release` (or a control dependency plus barrier) for the same
//! four accesses. The `flags` word (need_wakeup) is read relaxed, as libxdp does: it is a hint,
//! and a missed wakeup is retried on the next burst.
//!
//! Each ring keeps what its memory depends on alive as fields (STYLE item 7): the [`Mmap`]
//! (the shared memory itself) and, for rings on a socket, the socket (a kick needs it, and
//! the kernel frees the ring when the last mapping *and* the socket are gone).
//!
//! [`testing::pair`] builds a producer and a consumer over one anonymous mapping, so the ring
//! logic is tested without a kernel, root or a NIC.

use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::sys::Mmap;

/// `xdp_ring_offset`: byte offsets of a ring's parts in its mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

impl From<libc::xdp_ring_offset> for RingOffsets {
    fn from(o: libc::xdp_ring_offset) -> Self {
        RingOffsets {
            producer: o.producer,
            consumer: o.consumer,
            desc: o.desc,
            flags: o.flags,
        }
    }
}

/// Why a ring could not be set up over a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RingLayoutError {
    #[error("ring size {0} is not a power of two")]
    Size(u32),
    #[error("ring offsets do not fit the {0}-byte mapping or are misaligned")]
    Layout(usize),
}

/// The memory of one ring: pointers into a mapping, plus the objects keeping it valid.
#[derive(Debug)]
struct RingMem<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    /// `size - 1`; `size` is a power of two.
    mask: u32,
    /// The mapping the pointers above point into. Shared (`Arc`) only by the test pairs, where
    /// a producer and a consumer use the same memory.
    _map: Arc<Mmap>,
    /// The socket the ring belongs to: kept open while the ring is in use (kicks go to it).
    _socket: Option<Arc<OwnedFd>>,
    _marker: PhantomData<T>,
}

// SAFETY: a ring is a single-producer/single-consumer structure: each side is owned by one
// `ProducerRing`/`ConsumerRing`, which takes `&mut self` for every access, so moving it to
// another thread moves the only user-space access to that side. The shared indices are atomics.
unsafe impl<T: Send> Send for RingMem<T> {}

impl<T> RingMem<T> {
    /// Checks the layout and builds the pointers.
    fn new(
        map: Arc<Mmap>,
        socket: Option<Arc<OwnedFd>>,
        off: RingOffsets,
        size: u32,
    ) -> Result<RingMem<T>, RingLayoutError> {
        if !size.is_power_of_two() {
            return Err(RingLayoutError::Size(size));
        }
        let len = map.len() as u64;
        let word = |o: u64| o % 4 == 0 && o + 4 <= len;
        let descs_end = off.desc + size as u64 * std::mem::size_of::<T>() as u64;
        if !word(off.producer)
            || !word(off.consumer)
            || !word(off.flags)
            || off.desc % std::mem::align_of::<T>() as u64 != 0
            || descs_end > len
        {
            return Err(RingLayoutError::Layout(map.len()));
        }
        let base = map.as_ptr();
        let at = |o: u64| {
            // SAFETY: used for the four offsets checked above to lie inside the mapping with
            // room for the object at each; the base is page-aligned, so the results are
            // in-bounds, suitably aligned pointers into the live mapping.
            unsafe { base.add(o as usize) }
        };
        Ok(RingMem {
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            descs: at(off.desc).cast(),
            mask: size - 1,
            _map: map,
            _socket: socket,
            _marker: PhantomData,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: checked in-bounds and aligned in `new`; the mapping lives as long as `self`
        // (`_map`), and the word is only ever accessed atomically (here and by the kernel).
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: `index & mask < size`, and `new` checked `size` descriptors fit the mapping.
        unsafe { self.descs.as_ptr().add((index & self.mask) as usize) }
    }

    fn size(&self) -> u32 {
        self.mask + 1
    }
}

/// The user-space producer side of a ring: the fill ring (frame addresses) and the TX ring
/// (`xdp_desc`). Usage: [`reserve`](Self::reserve) n slots, [`write`](Self::write) each,
/// [`submit`](Self::submit) them.
#[derive(Debug)]
pub(crate) struct ProducerRing<T> {
    mem: RingMem<T>,
    /// Our producer index: the next slot to fill. Only we write the shared producer word.
    prod: u32,
    /// Last seen consumer index plus `size`: we may fill slots up to (excluding) this.
    cached_limit: u32,
    /// Slots reserved and not yet submitted: `prod .. prod + reserved`.
    reserved: u32,
}

impl<T: Copy> ProducerRing<T> {
    pub(crate) fn new(
        map: Arc<Mmap>,
        socket: Option<Arc<OwnedFd>>,
        off: RingOffsets,
        size: u32,
    ) -> Result<Self, RingLayoutError> {
        let mem = RingMem::new(map, socket, off, size)?;
        // (A) Relaxed is enough at setup: nothing has been produced yet.
        let prod = mem.producer().load(Ordering::Relaxed);
        let cons = mem.consumer().load(Ordering::Relaxed);
        let cached_limit = cons.wrapping_add(mem.size());
        Ok(ProducerRing {
            mem,
            prod,
            cached_limit,
            reserved: 0,
        })
    }

    /// Free slots, re-reading the consumer index only when the cached view shows fewer than
    /// `want`.
    pub(crate) fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_limit.wrapping_sub(self.prod);
        if free >= want {
            return free;
        }
        // (A) acquire: pairs with the kernel's release of the consumer index (D), so the
        // slots it consumed are no longer being read when we overwrite them.
        let cons = self.mem.consumer().load(Ordering::Acquire);
        self.cached_limit = cons.wrapping_add(self.mem.size());
        self.cached_limit.wrapping_sub(self.prod)
    }

    /// Reserves up to `n` slots (fewer if the ring is fuller) and returns how many. A second
    /// `reserve` before `submit` replaces the first.
    pub(crate) fn reserve(&mut self, n: u32) -> u32 {
        self.reserved = self.free(n).min(n);
        self.reserved
    }

    /// Writes `value` into reserved slot `i` (`i < reserved`). Returns `false`, writing nothing,
    /// for a slot that was not reserved.
    pub(crate) fn write(&mut self, i: u32, value: T) -> bool {
        if i >= self.reserved {
            return false;
        }
        let slot = self.mem.slot(self.prod.wrapping_add(i));
        // SAFETY: slot `prod + i` is between our producer index and the consumer index + size
        // we observed with acquire in `free`: the consumer is done with it and will not read
        // it until we publish the producer index, so we are its only accessor. `T: Copy` and
        // the slot is aligned and in bounds (`RingMem::new`).
        unsafe { slot.write_volatile(value) };
        true
    }

    /// Publishes the first `n` reserved slots (`n <= reserved`) to the consumer.
    pub(crate) fn submit(&mut self, n: u32) {
        let n = n.min(self.reserved);
        self.prod = self.prod.wrapping_add(n);
        self.reserved = 0;
        // (B) release: the descriptor writes above become visible before the new index (the
        // kernel reads the producer with acquire, (C)).
        self.mem.producer().store(self.prod, Ordering::Release);
    }

    /// Whether the kernel asked to be woken (`XDP_RING_NEED_WAKEUP` in the flags word).
    pub(crate) fn needs_wakeup(&self) -> bool {
        // Relaxed: a hint; see the module doc.
        self.mem.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Entries produced and not yet consumed, re-reading the consumer index.
    pub(crate) fn outstanding(&mut self) -> u32 {
        let free = self.free(self.mem.size());
        self.mem.size() - free.min(self.mem.size())
    }
}

/// The user-space consumer side of a ring: the RX ring (`xdp_desc`) and the completion ring
/// (frame addresses). Usage: [`peek`](Self::peek) up to n entries, [`read`](Self::read) each,
/// [`release`](Self::release) them.
#[derive(Debug)]
pub(crate) struct ConsumerRing<T> {
    mem: RingMem<T>,
    /// Our consumer index: the next slot to read. Only we write the shared consumer word.
    cons: u32,
    /// Last seen producer index.
    cached_prod: u32,
    /// Entries peeked and not yet released: `cons .. cons + peeked`.
    peeked: u32,
}

impl<T: Copy> ConsumerRing<T> {
    pub(crate) fn new(
        map: Arc<Mmap>,
        socket: Option<Arc<OwnedFd>>,
        off: RingOffsets,
        size: u32,
    ) -> Result<Self, RingLayoutError> {
        let mem = RingMem::new(map, socket, off, size)?;
        let cons = mem.consumer().load(Ordering::Relaxed);
        let cached_prod = mem.producer().load(Ordering::Relaxed);
        Ok(ConsumerRing {
            mem,
            cons,
            cached_prod,
            peeked: 0,
        })
    }

    /// Entries ready to read, re-reading the producer index only when the cached view shows
    /// fewer than `want`.
    pub(crate) fn available(&mut self, want: u32) -> u32 {
        let avail = self.cached_prod.wrapping_sub(self.cons);
        if avail >= want {
            return avail;
        }
        // (C) acquire: pairs with the producer's release (B): the descriptors it wrote before
        // publishing this index are visible to the reads below.
        self.cached_prod = self.mem.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cons)
    }

    /// Makes up to `n` entries readable and returns how many. A second `peek` before
    /// `release` replaces the first.
    pub(crate) fn peek(&mut self, n: u32) -> u32 {
        self.peeked = self.available(n).min(n);
        self.peeked
    }

    /// Reads peeked entry `i` (`i < peeked`); `None` for an entry that was not peeked.
    pub(crate) fn read(&self, i: u32) -> Option<T> {
        if i >= self.peeked {
            return None;
        }
        let slot = self.mem.slot(self.cons.wrapping_add(i));
        // SAFETY: slot `cons + i` is below the producer index we read with acquire: the
        // producer finished writing it and will not touch it again until we release it, so
        // this read does not race. In bounds and aligned by `RingMem::new`; `T: Copy`.
        Some(unsafe { slot.read_volatile() })
    }

    /// Gives the first `n` peeked entries (`n <= peeked`) back to the producer.
    pub(crate) fn release(&mut self, n: u32) {
        let n = n.min(self.peeked);
        self.cons = self.cons.wrapping_add(n);
        self.peeked = 0;
        // (D) release: our reads of those slots happen before the producer may reuse them
        // (it loads the consumer index with acquire, (A)).
        self.mem.consumer().store(self.cons, Ordering::Release);
    }

    /// Whether the kernel asked to be woken (`XDP_RING_NEED_WAKEUP`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.mem.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Ring size in entries.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn size(&self) -> u32 {
        self.mem.size()
    }
}

/// Kernel-free rings: a producer and a consumer over one anonymous mapping.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The layout used for test rings: indices and flags on separate cache lines, like the
    /// kernel's.
    pub(crate) fn offsets() -> RingOffsets {
        RingOffsets {
            producer: 0,
            consumer: 64,
            flags: 128,
            desc: 192,
        }
    }

    /// A producer and a consumer of the same `size`-entry ring.
    pub(crate) fn pair<T: Copy>(size: u32) -> (ProducerRing<T>, ConsumerRing<T>) {
        let len = 192 + size as usize * std::mem::size_of::<T>();
        let map = Arc::new(Mmap::anonymous(len.next_multiple_of(4096)).expect("anonymous mmap"));
        let p = ProducerRing::new(map.clone(), None, offsets(), size).expect("layout");
        let c = ConsumerRing::new(map, None, offsets(), size).expect("layout");
        (p, c)
    }

    /// Sets or clears the need-wakeup flag, as the kernel would.
    pub(crate) fn set_need_wakeup<T>(p: &ProducerRing<T>, on: bool) {
        let v = if on { libc::XDP_RING_NEED_WAKEUP } else { 0 };
        p.mem.flags().store(v, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{pair, set_need_wakeup};
    use super::*;

    #[test]
    fn fifo_order_and_capacity() {
        let (mut p, mut c) = pair::<u64>(8);
        assert_eq!(c.peek(8), 0);
        assert_eq!(p.reserve(10), 8, "never more than the ring holds");
        for i in 0..8 {
            assert!(p.write(i, 100 + i as u64));
        }
        assert!(!p.write(8, 0), "unreserved slot");
        p.submit(8);
        assert_eq!(p.reserve(1), 0, "full");
        assert_eq!(c.peek(3), 3);
        assert_eq!(
            (0..3).map(|i| c.read(i).unwrap()).collect::<Vec<_>>(),
            [100, 101, 102]
        );
        assert_eq!(c.read(3), None, "not peeked");
        c.release(3);
        assert_eq!(p.reserve(8), 3, "three slots freed");
        assert_eq!(c.peek(16), 5);
        assert_eq!(c.read(4), Some(107));
    }

    #[test]
    fn partial_submit_and_release() {
        let (mut p, mut c) = pair::<libc::xdp_desc>(4);
        assert_eq!(p.reserve(4), 4);
        for i in 0..4 {
            p.write(
                i,
                libc::xdp_desc {
                    addr: i as u64 * 2048,
                    len: 60 + i,
                    options: 0,
                },
            );
        }
        p.submit(2);
        assert_eq!(c.peek(4), 2, "only the submitted two are visible");
        assert_eq!(c.read(1).map(|d| d.len), Some(61));
        c.release(1);
        assert_eq!(c.peek(4), 1);
        assert_eq!(c.read(0).map(|d| d.addr), Some(2048));
        assert_eq!(p.outstanding(), 1);
    }

    #[test]
    fn indices_wrap_around_u32() {
        let (p, c) = pair::<u64>(4);
        // Start both sides just below the wrap point, as a long-running ring would be.
        let start = u32::MAX - 5;
        p.mem.producer().store(start, Ordering::Relaxed);
        p.mem.consumer().store(start, Ordering::Relaxed);
        let (mut p, mut c) = {
            let map = p.mem._map.clone();
            drop((p, c));
            (
                ProducerRing::<u64>::new(map.clone(), None, testing::offsets(), 4).unwrap(),
                ConsumerRing::<u64>::new(map, None, testing::offsets(), 4).unwrap(),
            )
        };
        let mut next = 0u64;
        let mut expect = 0u64;
        for _ in 0..20 {
            let n = p.reserve(3);
            for i in 0..n {
                p.write(i, next);
                next += 1;
            }
            p.submit(n);
            let k = c.peek(4);
            for i in 0..k {
                assert_eq!(c.read(i), Some(expect));
                expect += 1;
            }
            c.release(k);
        }
        assert_eq!(expect, next);
        assert!(next >= 40);
    }

    #[test]
    fn need_wakeup_flag() {
        let (p, c) = pair::<u64>(4);
        assert!(!p.needs_wakeup());
        set_need_wakeup(&p, true);
        assert!(p.needs_wakeup() && c.needs_wakeup());
        assert_eq!(c.size(), 4);
    }

    #[test]
    fn rejects_bad_layouts() {
        let map = Arc::new(Mmap::anonymous(4096).unwrap());
        assert_eq!(
            ProducerRing::<u64>::new(map.clone(), None, testing::offsets(), 6).err(),
            Some(RingLayoutError::Size(6))
        );
        assert_eq!(
            ConsumerRing::<u64>::new(map, None, testing::offsets(), 1024).err(),
            Some(RingLayoutError::Layout(4096))
        );
    }

    #[test]
    fn two_threads_pass_a_million_entries_in_order() {
        const N: u64 = 1_000_000;
        let (mut p, mut c) = pair::<u64>(64);
        let producer = std::thread::spawn(move || {
            let mut next = 0;
            while next < N {
                let n = p.reserve(16.min((N - next) as u32));
                for i in 0..n {
                    p.write(i, next);
                    next += 1;
                }
                p.submit(n);
                if n == 0 {
                    std::hint::spin_loop();
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            let k = c.peek(32);
            for i in 0..k {
                assert_eq!(c.read(i), Some(expect));
                expect += 1;
            }
            c.release(k);
            if k == 0 {
                std::hint::spin_loop();
            }
        }
        producer.join().unwrap();
    }
}
