//! Test helpers: a connection driven in-process on a virtual time line, a response parser, and
//! a self-deleting temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyclone_http::{apps, Connection, Router, Server, ServerConfig, Timestamp};

/// 2023-11-14T22:13:20Z at Timestamp::ZERO.
pub const UNIX_AT_ZERO: u64 = 1_700_000_000;

pub fn config() -> ServerConfig {
    ServerConfig {
        unix_time_at_zero: Duration::from_secs(UNIX_AT_ZERO),
        ..ServerConfig::default()
    }
}

pub fn builtin_router() -> Router {
    let mut r = Router::new();
    apps::install_builtin(&mut r);
    r
}

pub fn server_with(config: ServerConfig, router: Router) -> Arc<Server> {
    Arc::new(Server::new(config, router))
}

/// A connection, the time, and everything it sent.
pub struct Client {
    pub conn: Connection,
    pub now: Timestamp,
    /// Bytes offered but not taken (backpressure).
    pub backlog: Vec<u8>,
}

impl Client {
    pub fn new(server: Arc<Server>) -> Client {
        let now = Timestamp::from_millis(1);
        Client {
            conn: Connection::new(server, now),
            now,
            backlog: Vec::new(),
        }
    }

    pub fn builtin() -> Client {
        Client::new(server_with(config(), builtin_router()))
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    /// Offers bytes (plus any backlog); keeps what is not taken.
    pub fn send(&mut self, bytes: &[u8]) {
        self.backlog.extend_from_slice(bytes);
        let n = self.conn.on_recv(self.now, &self.backlog);
        self.backlog.drain(..n);
    }

    /// Drains all output (re-offering the backlog as the connection accepts it).
    pub fn recv(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let now = self.now;
            let sent = self.conn.write_to(now, |b| {
                out.extend_from_slice(b);
                b.len()
            });
            if !self.backlog.is_empty() && self.conn.accepts_input() {
                let before = self.backlog.len();
                self.send(&[]);
                if self.backlog.len() != before {
                    continue;
                }
            }
            if sent == 0 {
                break;
            }
        }
        out
    }

    /// Sends and drains.
    pub fn exchange(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes);
        self.recv()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a stream of responses. `head_flags[i]` says the i-th final response answers HEAD
/// (it has Content-Length but no body); missing entries mean "not HEAD".
pub fn parse_responses_with(mut out: &[u8], head_flags: &[bool]) -> Vec<Resp> {
    let mut resps = Vec::new();
    let mut finals = 0;
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let n = match r.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("bad response {other:?}: {:?}", String::from_utf8_lossy(out)),
        };
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        out = &out[n..];
        let is_head = status >= 200 && head_flags.get(finals).copied().unwrap_or(false);
        let len: usize = if status < 200 || status == 204 || status == 304 || is_head {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .expect("Content-Length")
        };
        if status >= 200 {
            finals += 1;
        }
        assert!(out.len() >= len, "short body");
        resps.push(Resp {
            status,
            headers,
            body: out[..len].to_vec(),
        });
        out = &out[len..];
    }
    resps
}

pub fn parse_responses(out: &[u8]) -> Vec<Resp> {
    parse_responses_with(out, &[])
}

pub fn one_response(out: &[u8]) -> Resp {
    let mut r = parse_responses(out);
    assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(out));
    r.pop().unwrap()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "cyclone-http-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift64).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}
