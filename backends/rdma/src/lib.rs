//! # cyclone-rdma: Cyclone's RDMA verbs backend
//!
//! Carries Cyclone's Ethernet frames as **UD datagrams** between two endpoints on any RDMA
//! device (SoftRoCE `rxe`, RoCE NICs, InfiniBand): a point-to-point virtual Ethernet link
//! whose "wire" is a pair of UD queue pairs. What lives here, top-down:
//!
//! - [`RdmaPort`] (`port`): opens a device by name (or the first), checks the port, picks the
//!   GID ([`gid`]: RoCE v2 IPv4-mapped first), creates the pool and registers its whole region
//!   as **one memory region**, creates the CQs and the UD QP and brings it to RTS;
//!   implements [`cyclone_pmd::Port`] (1 queue; MTU from the port's active MTU).
//! - [`RdmaQueue`] (`queue`): burst RX from the receive CQ (zero copy: the 40-byte GRH lands
//!   in the headroom, the frame at the buffer's data offset; the receive queue is refilled
//!   from the pool) and burst TX (one chained `ibv_post_send` per burst, selective
//!   signalling, completions return frames to the pool); implements [`cyclone_pmd::Queue`].
//! - [`EndpointAddr`] (`addr`): how peers find each other — GID, QPN, Q_Key, LID and MAC as
//!   one line of text, given in configuration, written to a file, or swapped over a TCP
//!   control socket with [`exchange_listen`]/[`exchange_connect`].
//! - [`RdmaConfig`], [`QpMode`] (`config`); [`RdmaError`] (`error`): each failed verb keeps
//!   its name and errno; a kernel without RDMA and a missing device say what to do.
//! - `sys`: the only module with `unsafe` — the libibverbs calls (through
//!   `cyclone-verbs-sys`) and the bookkeeping of frames lent to the device.
//!
//! Raw-packet QPs ([`QpMode::RawPacket`], frames straight on the wire on mlx4/mlx5) are a
//! documented stub that errors clearly.
//!
//! ```no_run
//! use cyclone_pmd::{Port, RxQueue};
//! use cyclone_rdma::{RdmaConfig, RdmaPort};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut port = RdmaPort::open(RdmaConfig::device("rxe0"))?;
//! println!("{}", port.local_addr()); // give this line to the peer
//! let peer = "cyclone-rdma-ud gid=::ffff:198.18.0.1 qpn=18 qkey=0xc1c1001 lid=0 mac=02:00:00:00:00:01".parse()?;
//! port.connect(&peer)?;
//! let mut queue = port.open_queue(0)?;
//! let mut frames = Vec::new();
//! queue.rx_burst(&mut frames, 32);
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

pub mod addr;
pub mod config;
mod device;
pub mod error;
pub mod gid;
mod port;
mod queue;
#[allow(unsafe_code)]
mod sys;

pub use addr::{exchange_connect, exchange_listen, EndpointAddr};
pub use config::{QpMode, RdmaConfig, DEFAULT_QKEY};
pub use device::devices;
pub use error::RdmaError;
pub use port::RdmaPort;
pub use queue::{RdmaQueue, RdmaStats};
