//! One contiguous, page-aligned, zero-initialised memory region.
//!
//! The region is what a backend registers with its device: AF_XDP as UMEM, RDMA as a memory
//! region, DPDK as external memory. It never moves and never grows while the pool lives.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of the region: a page, as AF_XDP's UMEM registration requires.
pub(crate) const PAGE_SIZE: usize = 4096;

#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Region` is a plain owned allocation. It hands out raw pointers only; who may read or
// write which frame is decided by frame ownership (see `raw/mod.rs`), not by the region.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` gives access to nothing but the base pointer and length.
unsafe impl Sync for Region {}

impl Region {
    /// Allocates `len` zeroed bytes aligned to a page. `None` if `len` is zero, too large for a
    /// `Layout`, or the allocator refuses.
    pub(crate) fn new(len: usize) -> Option<Region> {
        let layout = Layout::from_size_align(len, PAGE_SIZE).ok()?;
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: `layout` has a non-zero size (checked above) and a valid power-of-two alignment.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        NonNull::new(ptr).map(|ptr| Region { ptr, layout })
    }

    pub(crate) fn base(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly this `layout` and is freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
