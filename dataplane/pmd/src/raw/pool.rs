//! The pool's shared state and the per-thread caches in front of it.
//!
//! **Fast path.** Allocation and free go to a small cache owned by the current thread (no atomic
//! operation per buffer). A cache refills from, and spills to, the shared lock-free free list
//! ([`crossbeam_queue::ArrayQueue`]) in batches, so a buffer freed on another core goes home with
//! one push and no lock.
//!
//! **Lifetime.** `Shared::refs` counts the `Pool` handles plus every frame that is *not* in the
//! shared free list (in a thread cache, in a `PacketBuf` or `Frame`, or lent to a device). Frames
//! move between a cache and buffers without touching the count; only batch moves between a cache
//! and the free list do, by the batch size. When the count reaches zero nothing can reach the
//! memory any more and it is freed. A buffer may therefore outlive every `Pool` handle.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

use super::buf::{Frame, PacketBuf};
use super::region::Region;
use crate::error::PoolError;

/// How many frames a thread cache holds at most before it spills half to the shared list.
const CACHE_MAX: usize = 512;
/// How many frames a cache takes from the shared list when it runs dry.
const CACHE_REFILL: usize = 128;

/// Unique pool ids, so a thread cache never mistakes a new pool for a dead one.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// Configuration of a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of frames.
    pub frames: u32,
    /// Size of each frame in bytes: 2048 or 4096 (what AF_XDP's aligned UMEM mode accepts).
    pub frame_size: u32,
    /// Offset of the data in a freshly allocated buffer's frame: room for headers prepended
    /// later (and for what a device writes in front of a received frame).
    pub headroom: u32,
    /// Bytes at the start of every frame that belong to the backend, not to the data: the
    /// window of a buffer never reaches into them (e.g. DPDK's `rte_mbuf` header). At most
    /// `headroom`; 0 for most backends.
    pub reserved: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            frames: 4096,
            frame_size: 2048,
            headroom: 256,
            reserved: 0,
        }
    }
}

impl PoolConfig {
    /// Checks the configuration; the error says which field is wrong and what is accepted.
    pub fn validate(&self) -> Result<(), PoolError> {
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(PoolError::FrameSize(self.frame_size));
        }
        if self.frames == 0 || self.frames > (1 << 24) {
            return Err(PoolError::FrameCount(self.frames));
        }
        // Leave at least a minimum Ethernet frame's worth of data room.
        if self.headroom > self.frame_size - 64 {
            return Err(PoolError::Headroom {
                headroom: self.headroom,
                frame_size: self.frame_size,
            });
        }
        if self.reserved > self.headroom {
            return Err(PoolError::Reserved {
                reserved: self.reserved,
                headroom: self.headroom,
            });
        }
        Ok(())
    }
}

/// Pool state shared by its handles, buffers and thread caches.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) region: Region,
    pub(crate) frame_size: u32,
    pub(crate) frame_shift: u32,
    pub(crate) headroom: u32,
    pub(crate) reserved: u32,
    pub(crate) frames: u32,
    free: ArrayQueue<u32>,
    /// Per frame, how many buffers hold it ([`PacketBuf::share`]); 1 for a frame with one
    /// owner and for a free frame, so allocation never writes it.
    handles_of: Box<[AtomicU32]>,
    refs: AtomicUsize,
    handles: AtomicUsize,
    alloc_failures: AtomicU64,
}

impl Shared {
    /// Frames in the shared free list (see [`Pool::available`]).
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.free.len()
    }

    /// The buffer handles that hold frame `index` (1 unless it is shared).
    #[inline]
    pub(crate) fn handles_of(&self, index: u32) -> &AtomicU32 {
        &self.handles_of[index as usize]
    }

    /// Gives up one handle of frame `index`: whether it was the last, so that the frame goes
    /// back to the pool. The count of a frame with one owner is 1 and stays so (the usual case
    /// costs a load); a shared frame's count drops, and the one who drops it to zero sets it
    /// back to 1 for the frame's next life.
    #[inline]
    fn last_handle(&self, index: u32) -> bool {
        let count = self.handles_of(index);
        // Acquire: the other handles' reads of the frame happen before it is reused.
        if count.load(Ordering::Acquire) == 1 {
            return true;
        }
        if count.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // Pairs with the Release above in every other dropping thread.
        atomic::fence(Ordering::Acquire);
        count.store(1, Ordering::Relaxed);
        true
    }

    fn pop_free(&self) -> Option<u32> {
        self.free.pop()
    }

    fn push_free(&self, index: u32) {
        // Cannot fail: the queue holds every frame and a frame is pushed only by its one owner.
        let pushed = self.free.push(index);
        debug_assert!(
            pushed.is_ok(),
            "free list overflow: a frame was freed twice"
        );
    }
}

/// Drops `n` references to `shared`, freeing it when they were the last.
///
/// # Safety
/// The caller owns `n` references (handles or frames outside the free list) and gives them up.
unsafe fn release(shared: NonNull<Shared>, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller holds `n >= 1` references, so `shared` is alive here.
    let before = unsafe { shared.as_ref() }
        .refs
        .fetch_sub(n, Ordering::Release);
    debug_assert!(before >= n, "pool reference count underflow");
    if before == n {
        // Pairs with the Release above in every other releasing thread.
        atomic::fence(Ordering::Acquire);
        // SAFETY: the count reached zero: no handle, buffer, frame or cache can reach `shared`,
        // which was created by `Box::into_raw` in `Pool::new`.
        drop(unsafe { Box::from_raw(shared.as_ptr()) });
    }
}

/// A thread's cache of free frames of one pool.
struct LocalCache {
    pool_id: u64,
    shared: NonNull<Shared>,
    frames: Vec<u32>,
}

impl LocalCache {
    /// Moves up to `n` frames from the shared list (`self.shared`) to the cache.
    fn refill(&mut self, shared: &Shared, n: usize) {
        let mut moved = 0;
        while moved < n {
            let Some(index) = shared.pop_free() else {
                break;
            };
            self.frames.push(index);
            moved += 1;
        }
        shared.refs.fetch_add(moved, Ordering::Relaxed);
    }

    /// Moves frames from the cache to the shared list until `keep` remain.
    fn spill(&mut self, keep: usize) {
        let n = self.frames.len().saturating_sub(keep);
        if n == 0 {
            return;
        }
        // SAFETY: the cache holds `n + keep` frames, hence references, so the pool is alive.
        let shared = unsafe { self.shared.as_ref() };
        for index in self.frames.drain(keep..) {
            shared.push_free(index);
        }
        // SAFETY: the `n` frames just pushed to the free list carried `n` references.
        unsafe { release(self.shared, n) };
    }
}

/// All caches of one thread. Dropped at thread exit, which gives every cached frame back.
struct Caches(Vec<LocalCache>);

impl Caches {
    /// This thread's cache of `shared`, made on first use. A thread almost always uses one
    /// pool, so the first entry is checked before the search.
    #[inline(always)]
    fn entry(&mut self, shared: &Shared, ptr: NonNull<Shared>) -> &mut LocalCache {
        let id = shared.id;
        let pos = if self.0.first().is_some_and(|c| c.pool_id == id) {
            0
        } else {
            self.position_or_insert(id, ptr)
        };
        &mut self.0[pos]
    }

    /// Where the cache of pool `id` is, after adding it if there is none.
    #[cold]
    fn position_or_insert(&mut self, id: u64, ptr: NonNull<Shared>) -> usize {
        match self.0.iter().position(|c| c.pool_id == id) {
            Some(pos) => pos,
            None => {
                // Forget empty caches of other pools so the list stays short.
                if self.0.len() >= 8 {
                    self.0.retain(|c| !c.frames.is_empty());
                }
                self.0.push(LocalCache {
                    pool_id: id,
                    shared: ptr,
                    frames: Vec::with_capacity(CACHE_MAX + CACHE_REFILL),
                });
                self.0.len() - 1
            }
        }
    }
}

impl Drop for Caches {
    fn drop(&mut self) {
        for cache in &mut self.0 {
            cache.spill(0);
        }
    }
}

thread_local! {
    static CACHES: RefCell<Caches> = const { RefCell::new(Caches(Vec::new())) };
}

/// A pool of fixed-size packet frames in one contiguous region.
///
/// Cloning a `Pool` gives another handle to the same frames. Buffers return to the pool when
/// dropped, on whatever thread that happens.
#[derive(Debug)]
pub struct Pool {
    shared: NonNull<Shared>,
}

// SAFETY: every field of `Shared` is thread-safe (atomics, a lock-free queue, an immutable
// region); frame bytes are reached only through owned buffers.
unsafe impl Send for Pool {}
// SAFETY: as above; `&Pool` methods only use the thread-safe parts of `Shared`.
unsafe impl Sync for Pool {}

impl Pool {
    /// Creates a pool with all its frames free.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        config.validate()?;
        let len = config.frames as usize * config.frame_size as usize;
        let region = Region::new(len).ok_or(PoolError::Alloc { bytes: len })?;
        let free = ArrayQueue::new(config.frames as usize);
        for index in 0..config.frames {
            let _ = free.push(index);
        }
        let shared = Box::new(Shared {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            region,
            frame_size: config.frame_size,
            frame_shift: config.frame_size.trailing_zeros(),
            headroom: config.headroom,
            reserved: config.reserved,
            frames: config.frames,
            free,
            handles_of: (0..config.frames).map(|_| AtomicU32::new(1)).collect(),
            refs: AtomicUsize::new(1),
            handles: AtomicUsize::new(1),
            alloc_failures: AtomicU64::new(0),
        });
        Ok(Pool {
            shared: NonNull::from(Box::leak(shared)),
        })
    }

    #[inline]
    fn shared(&self) -> &Shared {
        // SAFETY: a `Pool` handle holds a reference, so `Shared` is alive while `self` is.
        unsafe { self.shared.as_ref() }
    }

    /// The shared state's address, for building a buffer of this pool
    /// ([`PacketBuf::from_raw_unchecked`]).
    #[inline]
    pub(crate) fn shared_ptr(&self) -> NonNull<Shared> {
        self.shared
    }

    /// The pool's configuration.
    pub fn config(&self) -> PoolConfig {
        let s = self.shared();
        PoolConfig {
            frames: s.frames,
            frame_size: s.frame_size,
            headroom: s.headroom,
            reserved: s.reserved,
        }
    }

    /// Base address of the region, for registering it with a device (UMEM, MR, DPDK extmem).
    pub fn region_base(&self) -> NonNull<u8> {
        self.shared().region.base()
    }

    /// Length of the region in bytes (`frames * frame_size`).
    pub fn region_len(&self) -> usize {
        self.shared().region.len()
    }

    /// A process-unique id of this pool.
    #[inline]
    pub fn id(&self) -> u64 {
        self.shared().id
    }

    /// Frames in the shared free list. Frames cached by threads count as in use; see
    /// [`Pool::flush_thread_cache`] for an exact figure in tests.
    pub fn available(&self) -> usize {
        self.shared().available()
    }

    /// Total number of frames.
    pub fn capacity(&self) -> usize {
        self.shared().frames as usize
    }

    /// How many allocations found the pool empty.
    pub fn alloc_failures(&self) -> u64 {
        self.shared().alloc_failures.load(Ordering::Relaxed)
    }

    /// Gives this thread's cached frames of this pool back to the shared free list.
    pub fn flush_thread_cache(&self) {
        let id = self.id();
        let _ = CACHES.try_with(|c| {
            if let Ok(mut caches) = c.try_borrow_mut() {
                if let Some(cache) = caches.0.iter_mut().find(|c| c.pool_id == id) {
                    cache.spill(0);
                }
            }
        });
    }

    /// Allocates one buffer with the configured headroom and no data; `None` when the pool is
    /// empty (counted in [`Pool::alloc_failures`]).
    #[inline]
    pub fn alloc(&self) -> Option<PacketBuf> {
        let index = self.take_one()?;
        Some(PacketBuf::new(self.shared, index))
    }

    /// Appends up to `n` fresh buffers to `out`; returns how many (fewer when the pool runs dry).
    pub fn alloc_burst(&self, out: &mut Vec<PacketBuf>, n: usize) -> usize {
        let shared = self.shared;
        self.take_frames(n, |index| out.push(PacketBuf::new(shared, index)))
    }

    /// Takes one frame out of the pool to lend to a device (a fill ring, a receive queue).
    pub fn alloc_frame(&self) -> Option<Frame> {
        let index = self.take_one()?;
        Some(Frame::new(self.shared, index))
    }

    /// Appends up to `n` frames to `out`; returns how many.
    pub fn alloc_frames(&self, out: &mut Vec<Frame>, n: usize) -> usize {
        let shared = self.shared;
        self.take_frames(n, |index| out.push(Frame::new(shared, index)))
    }

    /// Takes up to `n` frames as bare indices, handing each to `sink`, and returns how many:
    /// for backends whose device keeps its own descriptors (a DPDK mempool, a fill ring). The
    /// caller owns each index until it gives it back with [`Pool::free_index`] or turns it into
    /// a buffer with [`PacketBuf::from_raw`].
    pub fn alloc_indices(&self, n: usize, sink: impl FnMut(u32)) -> usize {
        self.take_frames(n, sink)
    }

    /// Returns a frame taken with [`Pool::alloc_indices`] (or given away by
    /// [`Frame::into_index`]/[`PacketBuf::into_raw`]) to the pool.
    ///
    /// # Safety
    /// The caller owns frame `index` of this pool and gives it up: no buffer, frame or device
    /// may use it afterwards.
    #[inline]
    pub unsafe fn free_index(&self, index: u32) {
        debug_assert!(index < self.shared().frames);
        // SAFETY: the caller owns the frame and gives it up.
        unsafe { free_frame(self.shared, index) }
    }

    /// Returns several frames taken with [`Pool::alloc_indices`] at once: [`Pool::free_index`]
    /// for each, with one thread-cache lookup for all (a DPDK mempool put of a whole burst).
    ///
    /// # Safety
    /// As for [`Pool::free_index`], for every index: the caller owns each frame and gives it up.
    #[inline]
    pub unsafe fn free_indices(&self, indices: impl IntoIterator<Item = u32>) {
        let shared = self.shared;
        let s = self.shared();
        let mut rest = indices.into_iter();
        let _ = CACHES.try_with(|c| {
            let Ok(mut caches) = c.try_borrow_mut() else {
                return;
            };
            let cache = caches.entry(s, shared);
            for index in rest.by_ref() {
                debug_assert!(index < s.frames);
                if !s.last_handle(index) {
                    continue;
                }
                cache.frames.push(index);
                if cache.frames.len() > CACHE_MAX {
                    cache.spill(CACHE_MAX / 2);
                }
            }
        });
        // No cache on this thread (being torn down, or re-entered): what is left goes one by one.
        for index in rest {
            // SAFETY: the caller owns the frame and gives it up.
            unsafe { free_frame(shared, index) }
        }
    }

    /// [`take_one`] from this pool.
    #[inline]
    fn take_one(&self) -> Option<u32> {
        // SAFETY: this handle holds a reference to the pool.
        unsafe { take_one(self.shared) }
    }

    /// Takes up to `n` frame indices, handing each to `sink`, and returns how many. Ownership of
    /// every index passes to the sink. A shortfall is counted in `alloc_failures`.
    #[inline]
    fn take_frames(&self, n: usize, mut sink: impl FnMut(u32)) -> usize {
        if n == 0 {
            return 0;
        }
        let shared = self.shared();
        let cached = CACHES.try_with(|c| {
            let Ok(mut caches) = c.try_borrow_mut() else {
                return None;
            };
            let cache = caches.entry(shared, self.shared);
            if cache.frames.len() < n {
                cache.refill(shared, n.max(CACHE_REFILL));
            }
            let take = n.min(cache.frames.len());
            let from = cache.frames.len() - take;
            cache.frames.drain(from..).for_each(&mut sink);
            Some(take)
        });
        let taken = match cached {
            Ok(Some(taken)) => taken,
            // No cache on this thread (being torn down, or re-entered): use the shared list.
            _ => {
                let mut taken = 0;
                while taken < n {
                    let Some(index) = shared.pop_free() else {
                        break;
                    };
                    shared.refs.fetch_add(1, Ordering::Relaxed);
                    sink(index);
                    taken += 1;
                }
                taken
            }
        };
        if taken < n {
            shared.alloc_failures.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Takes back ownership of a frame given away with [`Frame::into_index`] or
    /// [`PacketBuf::into_raw`].
    ///
    /// # Safety
    /// `index` must name a frame of this pool that the caller owns: one given away with
    /// `into_index`/`into_raw` and not taken back since. Taking a frame back twice makes two
    /// owners of the same bytes.
    pub unsafe fn frame_from_index(&self, index: u32) -> Frame {
        debug_assert!(index < self.shared().frames);
        Frame::new(self.shared, index)
    }
}

/// [`Pool::take_frames`] for one frame of the pool at `ptr` (the per-packet case): a pop from
/// this thread's cache, refilled in a batch when empty. The frame's ownership (and its pool
/// reference) passes to the caller.
///
/// # Safety
/// The caller holds a reference to the pool (a handle, a buffer or a frame) while it runs.
#[inline]
pub(crate) unsafe fn take_one(ptr: NonNull<Shared>) -> Option<u32> {
    // SAFETY: the caller holds a reference, so the pool is alive.
    let shared = unsafe { ptr.as_ref() };
    let cached = CACHES.try_with(|c| {
        let Ok(mut caches) = c.try_borrow_mut() else {
            return None;
        };
        let cache = caches.entry(shared, ptr);
        if cache.frames.is_empty() {
            cache.refill(shared, CACHE_REFILL);
        }
        Some(cache.frames.pop())
    });
    let got = match cached {
        Ok(Some(got)) => got,
        // No cache on this thread (being torn down, or re-entered): use the shared list.
        _ => {
            let got = shared.pop_free();
            if got.is_some() {
                shared.refs.fetch_add(1, Ordering::Relaxed);
            }
            got
        }
    };
    if got.is_none() {
        shared.alloc_failures.fetch_add(1, Ordering::Relaxed);
    }
    got
}

/// Returns one frame from a dropped buffer or frame to this thread's cache.
///
/// # Safety
/// The caller owns frame `index` of `shared` (and so one reference) and gives it up.
#[inline]
pub(crate) unsafe fn free_frame(shared: NonNull<Shared>, index: u32) {
    // SAFETY: the caller's frame holds a reference, so the pool is alive.
    let s = unsafe { shared.as_ref() };
    if !s.last_handle(index) {
        // Another buffer still holds the frame (and the frame's pool reference).
        return;
    }
    let cached = CACHES.try_with(|c| {
        let Ok(mut caches) = c.try_borrow_mut() else {
            return false;
        };
        let cache = caches.entry(s, shared);
        cache.frames.push(index);
        if cache.frames.len() > CACHE_MAX {
            cache.spill(CACHE_MAX / 2);
        }
        true
    });
    if cached != Ok(true) {
        s.push_free(index);
        // SAFETY: the frame pushed to the free list carried one reference.
        unsafe { release(shared, 1) };
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        let s = self.shared();
        s.refs.fetch_add(1, Ordering::Relaxed);
        s.handles.fetch_add(1, Ordering::Relaxed);
        Pool {
            shared: self.shared,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.shared().handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last handle: give this thread's cached frames back so that, when no buffer is
            // out, the memory goes now rather than at thread exit.
            self.flush_thread_cache();
        }
        // SAFETY: this handle owns one reference and gives it up.
        unsafe { release(self.shared, 1) };
    }
}

impl PartialEq for Pool {
    fn eq(&self, other: &Self) -> bool {
        self.shared == other.shared
    }
}
impl Eq for Pool {}
