//! Applications that run on a stack instance: each is polled after the interface, on the same
//! thread, with the same `now`.
//!
//! - [`http`]: serves a `cyclone_http::Server` (static files, echo, health, metrics) over TCP.

pub mod http;
