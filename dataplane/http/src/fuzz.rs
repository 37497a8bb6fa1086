//! The property shared by the proptest (`tests/split_invariance.rs`) and the cargo-fuzz target
//! (`dataplane/http/fuzz`, `request_path`): for any input bytes and any split of them into
//! reads, the connection never panics, answers with well-formed responses, its output does not
//! depend on the split, and no response carries a file from outside the static root.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::Timestamp;

use crate::apps::static_files::StaticFiles;
use crate::{apps, Connection, Router, Server, ServerConfig};

/// The fuzz server's files: `www/` is served under [`STATIC_PREFIX`]; `secret.txt`, beside
/// `www/`, must never be served.
const FUZZ_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-root");
/// Where the fuzz server mounts its static files.
pub const STATIC_PREFIX: &str = "/static/";
/// The first bytes of `secret.txt`: in any response, a path escaped the root.
pub const SECRET_MARKER: &[u8] = b"CYCLONE-FUZZ-SECRET";

/// Small limits so that the fuzzer reaches 431 / 413 / backpressure quickly; the built-in
/// applications and, when the crate's sources are at hand, static files.
fn fuzz_server() -> Arc<Server> {
    let mut router = Router::new();
    apps::install_builtin(&mut router);
    if let Ok(files) = StaticFiles::new(Path::new(FUZZ_ROOT).join("www"), STATIC_PREFIX) {
        router.mount("GET", STATIC_PREFIX, files);
    }
    let config = ServerConfig {
        max_header_bytes: 512,
        max_body_bytes: 4096,
        max_pipelined: 2,
        unix_time_at_zero: Duration::from_secs(1_700_000_000),
        ..ServerConfig::default()
    };
    Arc::new(Server::new(config, router))
}

/// Feeds `input` to a fresh connection as reads cut at `cuts` (positions, any order, out of
/// range ones ignored), draining the output after each read, then closes the read side.
/// Returns everything the connection sent.
pub fn run_split(server: &Arc<Server>, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let now = Timestamp::from_millis(1);
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut conn = Connection::new(Arc::clone(server), now);
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts {
        let mut rest = &input[start..end];
        start = end;
        while !rest.is_empty() {
            let n = conn.on_recv(now, rest);
            rest = &rest[n..];
            let sent = conn.write_to(now, |b| {
                out.extend_from_slice(b);
                b.len()
            });
            assert!(n > 0 || sent > 0, "no progress");
        }
    }
    conn.on_peer_closed();
    conn.write_to(now, |b| {
        out.extend_from_slice(b);
        b.len()
    });
    assert!(conn.should_close());
    out
}

/// Panics if `out` is not empty and does not start with a complete, parseable
/// `HTTP/1.1 NNN` response head.
pub fn assert_well_formed(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    assert!(
        out.starts_with(b"HTTP/1.1 "),
        "bad start: {:?}",
        String::from_utf8_lossy(out)
    );
    assert!(out.len() >= 13 && out[9..12].iter().all(u8::is_ascii_digit) && out[12] == b' ');
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    assert!(matches!(resp.parse(out), Ok(httparse::Status::Complete(_))));
}

/// Checks the property on `input` split at `cuts`.
pub fn check_split_invariance(input: &[u8], cuts: &[usize]) {
    let server = fuzz_server();
    let whole = run_split(&server, input, &[]);
    assert_well_formed(&whole);
    // Only `POST /echo` reflects what it is sent (every other body is fixed or a file): with
    // no `POST` in the input, the marker in the output means a file outside the root.
    if !input.windows(4).any(|w| w == b"POST") {
        assert!(
            !whole
                .windows(SECRET_MARKER.len())
                .any(|w| w == SECRET_MARKER),
            "a file from outside the static root was served"
        );
    }
    let split = run_split(&server, input, cuts);
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&split),
        "output depends on the split"
    );
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(whole, run_split(&server, input, &bytewise));
}

/// The cargo-fuzz entry point: the first byte seeds the read sizes, the rest is the input.
#[doc(hidden)]
pub fn fuzz_request_path(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let mut cuts = Vec::new();
    let mut pos = 0usize;
    let mut x = u32::from(seed) | 1;
    while pos < input.len() {
        // xorshift: deterministic read sizes 1..=64.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pos += (x % 64) as usize + 1;
        cuts.push(pos);
    }
    check_split_invariance(input, &cuts);
}
