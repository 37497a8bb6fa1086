//! # cyclone-dpdk: the DPDK backend
//!
//! What lives here, top-down, and what it may use:
//!
//! - [`fwd`]: an L2 forwarder (io / macswap) generic over `cyclone_pmd::Queue`, and [`fwd::run`],
//!   which drives it over DPDK ports like `dpdk-testpmd` does.
//! - [`DpdkPort`], [`DpdkQueue`] (`port`): DPDK ethdev ports implementing `cyclone_pmd::Port`
//!   and `Queue`: queue counts, descriptors, RSS, MTU, promiscuous mode, link, checksum
//!   offloads as `Capabilities`, per-queue counters plus the device's stats and xstats.
//! - [`MbufPool`] (`pool`): one buffer pool seen from both sides. Each frame of the Cyclone
//!   [`Pool`](cyclone_pmd::Pool) *is* an mbuf: its first [`pool::reserved`] bytes hold the
//!   mempool object header and the `struct rte_mbuf` (staggered by a cache colour so that the
//!   mbufs of a burst do not all fall into the same L1 sets), the rest is the mbuf's data
//!   buffer. The DPDK mempool over it uses Cyclone's mempool ops: a driver's `rte_mempool_get`
//!   takes frames from the Cyclone pool, `rte_mempool_put` returns them (through DPDK's
//!   per-lcore cache of 256 by default, whose frames count as in use until
//!   [`MbufPool::flush_caches`]; directly with cache size 0). RX turns an mbuf into a
//!   `PacketBuf` over the same frame and TX a `PacketBuf` into its frame's mbuf, by reading and
//!   writing a few mbuf fields: no copy, no per-packet call into DPDK.
//! - [`Eal`], [`EalConfig`] (`eal`): the EAL, started once per process.
//! - [`env`](mod@env): what the machine offers (root, PMD plugins, hugepages), for skipping tests.
//! - `sys`: every `unsafe` line of the crate (FFI to `cyclone-dpdk-sys`, the mempool ops, the
//!   mbuf conversions). Everything else denies `unsafe`.
//!
//! See `README.md` beside this crate for the design, its invariants and measurements.

#![deny(unsafe_code)]

pub mod eal;
pub mod env;
pub mod error;
pub mod fwd;
pub mod pool;
pub mod port;
#[allow(unsafe_code)]
mod sys;

pub use eal::{Eal, EalConfig, LcoreJob, PortInfo};
pub use error::{DpdkError, Result};
pub use fwd::{forward, forward_loop, FwdConfig, FwdMode, FwdStats, FwdSummary};
pub use pool::{MbufPool, MbufPoolConfig};
pub use port::{DpdkPort, DpdkQueue, PortConfig, PortSelector};
pub use sys::{EthStats, Link};
