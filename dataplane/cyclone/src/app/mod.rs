//! Applications that run on a stack instance: each is polled after the interface, on the same
//! thread, with the same `now`.
//!
//! - [`bulk`]: one end of a bulk TCP transfer (send all, shut down, read to end of stream).
//! - [`client`]: a small HTTP/1.1 client on the stack's TCP (demo, tests, benchmarks).
//! - [`http`]: serves a `cyclone_http::Server` (static files, echo, health, metrics) over TCP.

pub mod bulk;
pub mod client;
pub mod http;
