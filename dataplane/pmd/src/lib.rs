//! # cyclone-pmd: the poll-mode driver contract
//!
//! The bottom layer of Cyclone. What lives here, top-down:
//!
//! - [`Port`], [`Queue`], [`RxQueue`], [`TxQueue`] (`port`): the contract every backend
//!   implements: burst receive and transmit per queue, with owned buffers; [`Capabilities`] as
//!   data; per-queue [`QueueStats`].
//! - [`Pool`], [`PacketBuf`], [`Frame`] (`raw`): the zero-copy buffer pool: fixed-size frames in
//!   one page-aligned region that a backend registers with its device (AF_XDP UMEM, RDMA MR,
//!   DPDK external memory). A buffer returns to its pool when dropped.
//! - [`memory`]: an in-memory link joining two ports, on a virtual clock, with latency and
//!   bandwidth; [`fault`]: a fault injector around any queue; [`pcap`]: a capture around any
//!   queue.
//! - [`time`]: time as an input ([`Timestamp`], [`VirtualClock`], [`MonotonicClock`]).
//!
//! This crate depends on nothing of Cyclone's. Its only `unsafe` code is in the `raw` module.

#![deny(unsafe_code)]

pub mod error;
pub mod fault;
pub mod memory;
pub mod pcap;
pub mod port;
#[allow(unsafe_code)]
mod raw;
pub mod time;

pub use error::{BufError, PoolError, PortError};
pub use port::{Capabilities, Checksums, MacAddr, Port, Queue, QueueStats, RxQueue, TxQueue};
pub use raw::buf::{Frame, Offload, PacketBuf, RawBuf};
pub use raw::pool::{Pool, PoolConfig};
pub use time::{Clock, MonotonicClock, Timestamp, VirtualClock};
