//! # cyclone: the library facade
//!
//! Re-exports the layers a packet application builds on: [`pmd`] (ports, queues, the buffer
//! pool) and [`stack`] (wire formats, timers).

#![forbid(unsafe_code)]

pub use cyclone_pmd as pmd;
pub use cyclone_stack as stack;
