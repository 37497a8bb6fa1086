//! TCP (RFC 9293): building blocks, the connection state machine, and the socket API.
//!
//! - [`seq`]: sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
//! - [`rtt`]: the retransmission timer's estimator (RFC 6298).
//! - [`congestion`]: congestion control — NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438).
//! - [`sack`]: the SACK scoreboard of the sender (RFC 2018, RFC 6675).
//! - `layer`: [`Tcp`], every connection and listener of one stack instance, and the
//!   [`SegmentSink`] contract with the interface below.
//! - The state machine, split by concern: `conn` (the TCB and segment building), `input`
//!   (segment arrival, §3.10.7), `output` (transmission), `recovery` (ACK processing and how
//!   the sender drives [`sack`], [`congestion`] and [`rtt`] through loss recovery), `timers`,
//!   `send`/`recv` (buffers and reassembly, over the byte ring `ring`), `listen` (listeners, SYN queue, RST for closed
//!   ports), `options` (ISN, window scale), `socket` (the API), `stats`, `state`.

pub mod congestion;
mod layer;
pub mod rtt;
pub mod sack;
pub mod seq;

mod conn;
mod fuzz;
mod input;
mod listen;
mod options;
mod output;
mod recovery;
mod recv;
mod ring;
mod send;
mod socket;
mod state;
mod stats;
mod timers;

pub use congestion::CongestionAlgorithm;
#[doc(hidden)]
pub use fuzz::{fuzz_tcp_segments, fuzz_tcp_segments_digest};
pub use layer::{KeepAlive, PlainSegment, SegmentSink, Tcp, TcpConfig};
pub use send::Payload;
pub use state::{ConnHandle, ListenerHandle, Ready, TcpError, TcpEvent, TcpEvents, TcpState};
pub use stats::{ConnStats, TcpStats};
