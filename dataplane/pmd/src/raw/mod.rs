//! The buffer memory: the only module of this crate that may use `unsafe`.
//!
//! - [`region`]: one contiguous, page-aligned, zeroed allocation cut into fixed-size frames.
//! - [`pool`]: the pool's shared state (free list, reference count) and the per-thread caches
//!   in front of it.
//! - [`buf`]: [`PacketBuf`](buf::PacketBuf), the owned view of one frame, and
//!   [`Frame`](buf::Frame), a frame lent to a device without a data view.
//!
//! Ownership rule that every `// SAFETY:` comment here leans on: at any moment each frame index
//! is owned by exactly one of (a) the shared free list, (b) one thread cache, (c) one
//! `PacketBuf`, (d) one `Frame`, or (e) a device the backend lent it to (outside Rust's view,
//! tracked by the backend). Only the owner touches a frame's bytes.

pub(crate) mod buf;
pub(crate) mod pool;
pub(crate) mod region;

#[cfg(test)]
mod tests;
