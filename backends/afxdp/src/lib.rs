//! # cyclone-afxdp: Cyclone's AF_XDP backend
//!
//! Drives a Linux network interface through AF_XDP sockets: the kernel's XDP hook steers the
//! frames the dataplane owns into per-queue rings shared with user space, and user space
//! transmits by handing frames back, without a copy between the socket and Cyclone's buffers
//! (copy mode still copies once in the kernel; zero-copy drivers do not).
//!
//! What lives here, top-down:
//!
//! - [`AfXdpPort`] / [`AfXdpQueue`] (`port`, `queue`): the driver contract of `cyclone-pmd`
//!   ([`cyclone_pmd::Port`], [`cyclone_pmd::Queue`]): one socket, one UMEM and one pool per
//!   NIC queue, busy-poll or `poll()` waiting, per-queue counters.
//! - [`program`]: the XDP steering program from `ebpf/xdp_steer.c`, embedded at build time
//!   and loaded with aya; its address/port maps, XSKMAP and counters; stale-program clean-up.
//! - [`netdev`]: interface index, MAC, MTU and queue count.
//! - [`lab`]: throwaway veth + network-namespace labs for tests, benchmarks and demos.
//! - The unsafe core, and the only place `unsafe` is allowed: `umem` (the pool's region as
//!   UMEM; frame ownership across the kernel boundary), `ring` (the shared producer/consumer
//!   rings and their memory ordering), `sys` (every system call, returning `io::Result`).
//!
//! Uses `cyclone-pmd` (the contract and the pool), aya (BPF loading), libc (syscalls).

#![deny(unsafe_code)]

pub mod error;
pub mod lab;
pub mod netdev;
pub mod port;
pub mod program;
pub mod queue;
#[allow(unsafe_code)]
mod ring;
#[allow(unsafe_code)]
mod sys;
#[allow(unsafe_code)]
mod umem;

pub use error::AfXdpError;
pub use netdev::NetDev;
pub use port::{AfXdpConfig, AfXdpPort};
pub use program::{
    AttachApi, AttachMode, AttachedProgram, SteerProgram, XdpCounters, PROGRAM_NAME,
};
pub use queue::{AfXdpQueue, SocketConfig, XskStats, ZeroCopy};
