//! Server settings ([`ServerConfig`]) and the shared, read-only [`Server`] (settings + router)
//! that every [`Connection`](crate::Connection) of one dataplane thread points to.

use std::time::Duration;

use cyclone_pmd::Timestamp;

use crate::router::Router;

/// Limits and timers of the HTTP server. Every limit maps to a status code; see the crate docs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request head (request line + header section, RFC 9112 §2.1), in bytes. A head
    /// that does not end within it is answered with `431` and the connection is closed.
    pub max_header_bytes: usize,
    /// Largest request body (after chunked decoding), in bytes; larger is `413` and close.
    pub max_body_bytes: u64,
    /// The whole request (head and body) must arrive within this time from its first byte;
    /// otherwise `408` and close.
    pub request_timeout: Duration,
    /// A connection with no request in progress that makes no progress in either direction
    /// for this long is closed silently (keep-alive idle, or a peer that stopped reading).
    pub idle_timeout: Duration,
    /// Responses queued but not yet fully sent, at most. At the bound the connection stops
    /// taking input (`on_recv` returns less than it was given): backpressure on pipelining.
    pub max_pipelined: usize,
    /// The `Server` header value (RFC 9110 §10.2.4). Characters other than visible ASCII
    /// and space are dropped.
    pub server_name: String,
    /// Wall-clock time (since the Unix epoch) at monotonic [`Timestamp::ZERO`]. The server never
    /// reads a clock: the `Date` header is `unix_time_at_zero + now`. Set it once at start-up
    /// with [`ServerConfig::anchor_wall_clock`].
    pub unix_time_at_zero: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_header_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_pipelined: 16,
            server_name: "cyclone".to_string(),
            unix_time_at_zero: Duration::ZERO,
        }
    }
}

impl ServerConfig {
    /// Ties the monotonic clock to the wall clock: `mono_now` and `unix_now` (e.g.
    /// `SystemTime::now().duration_since(UNIX_EPOCH)`) read at the same moment.
    pub fn anchor_wall_clock(&mut self, mono_now: Timestamp, unix_now: Duration) {
        self.unix_time_at_zero = unix_now.saturating_sub(Duration::from_nanos(mono_now.as_nanos()));
    }

    /// Time since the Unix epoch at monotonic time `now`.
    pub(crate) fn unix_time(&self, now: Timestamp) -> Duration {
        self.unix_time_at_zero
            .saturating_add(Duration::from_nanos(now.as_nanos()))
    }
}

/// Settings plus router: everything connections share. Build one per dataplane thread (or
/// share it in an `Arc` across threads: it is read-only) and hand it to each
/// [`Connection`](crate::Connection).
#[derive(Debug)]
pub struct Server {
    pub(crate) config: ServerConfig,
    pub(crate) router: Router,
    /// `Server: <name>\r\n`, formatted once.
    pub(crate) server_line: Vec<u8>,
}

impl Server {
    /// A server with these settings and routes.
    pub fn new(mut config: ServerConfig, router: Router) -> Server {
        config
            .server_name
            .retain(|c| c == ' ' || c.is_ascii_graphic());
        let mut server_line = Vec::with_capacity(config.server_name.len() + 10);
        if !config.server_name.is_empty() {
            server_line.extend_from_slice(b"Server: ");
            server_line.extend_from_slice(config.server_name.as_bytes());
            server_line.extend_from_slice(b"\r\n");
        }
        // Zero would stall every connection forever.
        config.max_pipelined = config.max_pipelined.max(1);
        Server {
            config,
            router,
            server_line,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The routes.
    pub fn router(&self) -> &Router {
        &self.router
    }
}
