//! # cyclone: the library facade
//!
//! Re-exports the layers a packet application builds on — [`pmd`] (ports, queues, the buffer
//! pool) and [`stack`] (wire formats, timers) — and holds what the `cyclone` command runs:
//! [`app`], the applications served on a stack instance (HTTP); [`config`], [`runtime`] and
//! [`metrics`], the `cyclone serve` process (settings, one thread per queue, counters) and
//! [`serve`], its command-line glue; [`demo`], the in-memory demonstration.

#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod demo;
pub mod lab;
pub mod metrics;
pub mod runtime;
pub mod serve;

pub use cyclone_http as http;
pub use cyclone_pmd as pmd;
pub use cyclone_stack as stack;
