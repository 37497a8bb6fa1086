//! Runs N small keep-alive requests (`GET /health`) through one `Connection`, for measuring
//! instructions per request: `valgrind --tool=callgrind` with two values of N, and divide the
//! difference by the difference of N.
//!
//! `cargo build --release -p cyclone-http --example keepalive_loop`, then
//! `valgrind --tool=callgrind target/release/examples/keepalive_loop 1000 [full]` and 11000.

use std::sync::Arc;

use cyclone_http::{apps, Connection, Router, Server, ServerConfig, Timestamp};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut router = Router::new();
    apps::install_builtin(&mut router);
    let server = Arc::new(Server::new(ServerConfig::default(), router));
    let mut conn = Connection::new(server, Timestamp::ZERO);
    // What wrk sends; `full` adds the headers curl sends.
    let req: &[u8] = if std::env::args().nth(2).as_deref() == Some("full") {
        b"GET /health HTTP/1.1\r\nHost: bench:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
    } else {
        b"GET /health HTTP/1.1\r\nHost: bench:8080\r\n\r\n"
    };
    // Driven as `cyclone::app::http` drives it: responses first in line go to the sink (here
    // a counter standing in for the socket's send) from inside `on_recv_with`; anything
    // queued (the first response, which fills the cache) is drained after.
    let mut sent = 0usize;
    for i in 0..n {
        let now = Timestamp::from_micros(i);
        let taken = conn.on_recv_with(now, req, &mut |b: &[u8]| {
            sent += b.len();
            b.len()
        });
        assert_eq!(taken, req.len());
        let out = conn.pending_output();
        let len = out.len();
        sent += len;
        conn.consume(now, len);
    }
    println!("{n} requests, {sent} bytes sent, {:?}", conn.stats());
}
