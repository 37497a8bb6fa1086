//! # cyclone: the library facade
//!
//! Re-exports the layers a packet application builds on — [`pmd`] (ports, queues, the buffer
//! pool) and [`stack`] (wire formats, timers) — and holds what the `cyclone` command runs:
//! [`app`], the applications served on a stack instance (HTTP), and [`demo`], the in-memory
//! demonstration.

#![forbid(unsafe_code)]

pub mod app;
pub mod demo;
pub mod lab;

pub use cyclone_http as http;
pub use cyclone_pmd as pmd;
pub use cyclone_stack as stack;
