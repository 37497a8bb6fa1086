//! # cyclone-http: an HTTP/1.1 server (RFC 9112) as a sans-IO state machine
//!
//! Bytes and time go in, bytes to send come out. Nothing here opens a socket or reads a clock,
//! so the same [`Connection`] runs on Cyclone's TCP stack, on kernel sockets, and in tests fed
//! byte by byte on a virtual clock. It uses `cyclone-pmd` only for [`Timestamp`]; it knows
//! nothing of TCP. No `unsafe`, and no panics on any input.
//!
//! ## Layers, top-down
//! - [`apps`]: built-in handlers — static files, `POST /echo`, `GET /health`.
//! - [`Router`] / [`Handler`] (`router`): method + path → handler; `404`, `405` + `Allow`.
//! - [`Connection`] (`conn`): one per TCP connection; parsing, framing, keep-alive,
//!   pipelining, `100-continue`, timeouts, error responses, output queue.
//! - `parse` (head via `httparse`, framing rules), `body` (Content-Length / chunked),
//!   [`Request`], [`Response`] / [`Body`], `output` (the send queue), `date`, [`HttpError`].
//! - [`ServerConfig`] / [`Server`] (`config`): limits, timers, wall-clock anchor, routes.
//!
//! ## Driving a connection
//! ```
//! use std::sync::Arc;
//! use cyclone_http::{apps, Connection, Router, Server, ServerConfig};
//! use cyclone_pmd::Timestamp;
//!
//! let mut router = Router::new();
//! apps::install_builtin(&mut router); // GET /health, POST /echo
//! let server = Arc::new(Server::new(ServerConfig::default(), router));
//!
//! let now = Timestamp::from_millis(5);
//! let mut conn = Connection::new(server, now);          // on accept
//! let mut sent = Vec::new();
//! // On receive: offer the bytes; keep what was not taken (backpressure) for later.
//! let taken = conn.on_recv(now, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
//! assert_eq!(taken, 33);
//! // When the socket can take data: copy out as much as it accepts.
//! loop {
//!     let chunk = conn.pending_output();
//!     if chunk.is_empty() { break; }
//!     let n = chunk.len();            // = socket.send(chunk)
//!     sent.extend_from_slice(chunk);
//!     conn.consume(now, n);
//! }
//! assert!(sent.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! // Timers: arm conn.poll_timeout(); when it fires call conn.on_timeout(now).
//! // FIN from the peer: conn.on_peer_closed() (after offering every byte received).
//! // Close the socket when conn.should_close() (= wants_close() and output flushed).
//! assert!(!conn.should_close());
//! ```
//! After offering data that was not fully taken, retry when [`Connection::accepts_input`]
//! turns true again (it does once queued responses drain).
//!
//! ## Behaviour (status codes)
//! | condition | answer |
//! |---|---|
//! | malformed request line / header, bad `Content-Length`, missing or repeated `Host` (HTTP/1.1), bad request-target form | `400`, close |
//! | both `Content-Length` and `Transfer-Encoding` (smuggling, RFC 9112 §6.3) | `400`, close |
//! | `Transfer-Encoding` other than a single final `chunked`: unknown coding → `501`; `chunked` twice / not last → `400` | close |
//! | bad chunk (RFC 9112 §7.1) | `400`, close |
//! | head longer than `max_header_bytes`, or more than 64 header lines | `431`, close |
//! | body longer than `max_body_bytes` (known from `Content-Length` → at once, before any `100 Continue`) | `413`, close |
//! | `Expect` other than `100-continue` | `417`, close |
//! | request not complete `request_timeout` after its first byte | `408`, close |
//! | no request in progress and no progress either way for `idle_timeout` | close silently |
//! | no route for the path / route with another method | `404` / `405` + `Allow` |
//!
//! After an error response no further input is parsed (RFC 9112 §9.6): the stream is not
//! resynchronised. Every response carries `Date` (IMF-fixdate from
//! [`ServerConfig::unix_time_at_zero`] + `now`, formatted once per second) and `Server`, is
//! framed by `Content-Length` and says `HTTP/1.1`.
//!
//! ## Costs
//! A small keep-alive request that arrives whole is parsed in place (no copy), with
//! uninitialised `httparse` header slots; the response head and a small body are written into
//! one reused output buffer, and a head identical to the previous one (same status, static
//! content type, length, second) is reused from a per-connection cache, together with its
//! body when that is small and static. Driven through [`Connection::on_recv_with`], such a
//! repeated response that is first in line goes from the cache straight to the sink (the
//! socket's send buffer: one copy per response, no output-queue bookkeeping); no allocation
//! happens unless a handler allocates. `examples/keepalive_loop.rs` measures instructions per
//! request under callgrind (about 1,090 for `GET /health` with one `Host` header, of which
//! `httparse` is about 570; about 1,540 with three headers). File bodies
//! stream through one 64 KiB buffer read as the output drains. Static files are opened with
//! blocking calls on the dataplane thread (see [`apps::static_files`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apps;
mod body;
mod config;
mod conn;
pub mod date;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod output;
mod parse;
mod request;
mod response;
mod router;

pub use config::{Server, ServerConfig};
pub use conn::{ConnStats, Connection};
pub use cyclone_pmd::Timestamp;
pub use error::HttpError;
pub use fuzz::fuzz_request_path;
pub use output::FILE_CHUNK;
pub use request::Request;
pub use response::{reason_phrase, Body, FileBody, Response};
pub use router::{Handler, Router};
