//! # cyclone: the library facade
//!
//! Re-exports the layers a packet application builds on — [`pmd`] (ports, queues, the buffer
//! pool) and [`stack`] (wire formats, timers) — and holds what the `cyclone` command runs:
//! [`demo`], the in-memory demonstration.

#![forbid(unsafe_code)]

pub mod demo;

pub use cyclone_pmd as pmd;
pub use cyclone_stack as stack;
