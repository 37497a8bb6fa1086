//! # cyclone-stack: the user-space network stack
//!
//! Layers, top-down; each uses only the ones below it:
//!
//! - [`iface`]: the interface: one stack instance per queue (ARP, IPv4, ICMP, UDP sockets, the
//!   TCP layer), polled to completion with the time passed in.
//! - [`hash`]: the hash map type of the packet path (a fast keyed hasher).
//! - [`timer`]: a hierarchical timer wheel (O(1) arm/cancel/reset) driven by the caller's time.
//! - [`wire`]: zero-copy header views and parsed representations for Ethernet (802.1Q), ARP,
//!   IPv4, ICMPv4, UDP and TCP, with checksums.
//!
//! No `unsafe`, and no clock: time is always passed in (see `cyclone_pmd::time`).

#![forbid(unsafe_code)]

pub mod hash;
pub mod iface;
pub mod tcp;
pub mod timer;
pub mod wire;
