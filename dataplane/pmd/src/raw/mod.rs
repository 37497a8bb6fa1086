//! The buffer memory: the only module of this crate that may use `unsafe`.
//!
//! - [`region`]: one contiguous, page-aligned, zeroed allocation cut into fixed-size frames.
//! - [`pool`]: the pool's shared state (free list, reference count) and the per-thread caches
//!   in front of it.
//! - [`buf`]: [`PacketBuf`](buf::PacketBuf), the owned view of one frame, and
//!   [`Frame`](buf::Frame), a frame lent to a device without a data view.
//!
//! Ownership rule that every `// SAFETY:` comment here leans on: at any moment each frame index
//! is owned by exactly one of (a) the shared free list, (b) one thread cache, (c) the
//! `PacketBuf`s that hold it, one or more (`PacketBuf::share`; the pool counts them per frame),
//! (d) one `Frame`, or (e) a device the backend lent it to (outside Rust's view, tracked by the
//! backend), possibly beside buffers that share it. Only the owner touches a frame's bytes, and
//! a frame with more than one holder is only read: a buffer copies its data into a frame of its
//! own before it writes (copy-on-write). The frame returns to the pool when its last holder
//! gives it up (`free_frame`, `Pool::free_indices`).

pub(crate) mod buf;
pub(crate) mod pool;
pub(crate) mod region;

#[cfg(test)]
mod tests;
