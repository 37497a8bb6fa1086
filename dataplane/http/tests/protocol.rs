//! RFC 9112 behaviour of a `Connection`, fed bytes and times in-process: keep-alive,
//! pipelining, bodies (Content-Length, chunked, 100-continue), HEAD, persistence, every error
//! status and the close that follows it, timeouts, routing, backpressure, echo.

mod common;

use std::time::Duration;

use common::*;
use cyclone_http::{Response, Router, ServerConfig};

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let mut c = Client::builtin();
    for i in 0..5 {
        let r = one_response(&c.exchange(GET_HEALTH));
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, b"ok");
        assert_eq!(r.header("Connection"), None);
        assert!(!c.conn.wants_close());
    }
    assert_eq!(c.conn.stats().requests, 5);
}

#[test]
fn every_response_has_date_and_server() {
    let mut c = Client::builtin();
    let r = one_response(&c.exchange(GET_HEALTH));
    // 1_700_000_000 s + 1 ms.
    assert_eq!(r.header("Date"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
    assert_eq!(r.header("Server"), Some("cyclone"));
    c.advance(Duration::from_secs(61));
    let r = one_response(&c.exchange(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Date"), Some("Tue, 14 Nov 2023 22:14:21 GMT"));
    assert_eq!(r.header("Server"), Some("cyclone"));
}

/// Repeated answers come from the per-connection response cache; everything they depend on
/// (method, body, status, second, persistence) must still show.
#[test]
fn cached_responses_follow_the_request_and_the_clock() {
    let mut router = builtin_router();
    router.get("/a", |_: &mut cyclone_http::Request<'_>| {
        Response::text(200, "aa")
    });
    router.get("/b", |_: &mut cyclone_http::Request<'_>| {
        Response::text(200, "bb")
    });
    let mut c = Client::new(server_with(config(), router));
    let first = c.exchange(GET_HEALTH);
    assert_eq!(c.exchange(GET_HEALTH), first, "same second, same bytes");
    let head = c.exchange(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        head.ends_with(b"Content-Length: 2\r\n\r\n"),
        "HEAD: no body"
    );
    assert_eq!(c.exchange(GET_HEALTH), first, "GET after HEAD has its body");
    // Same length, same head, another static body.
    let a = one_response(&c.exchange(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"));
    let b = one_response(&c.exchange(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(
        (a.body.as_slice(), b.body.as_slice()),
        (&b"aa"[..], &b"bb"[..])
    );
    // A new second: a new Date.
    c.advance(Duration::from_secs(1));
    let r = one_response(&c.exchange(GET_HEALTH));
    assert_eq!(r.header("Date"), Some("Tue, 14 Nov 2023 22:13:21 GMT"));
    assert_eq!(r.body, b"ok");
    // The last response of the connection says so.
    let r =
        one_response(&c.exchange(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    assert_eq!(
        (r.header("Connection"), r.body.as_slice()),
        (Some("close"), &b"ok"[..])
    );
}

#[test]
fn ten_pipelined_requests_in_one_write_are_answered_in_order() {
    let mut router = builtin_router();
    router.get("/n", |req: &mut cyclone_http::Request<'_>| {
        Response::text(200, req.query().unwrap_or("").to_string())
    });
    let mut c = Client::new(server_with(config(), router));
    let mut burst = Vec::new();
    for i in 0..10 {
        burst.extend_from_slice(format!("GET /n?{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    assert_eq!(c.conn.on_recv(c.now, &burst), burst.len());
    let rs = parse_responses(&c.recv());
    let bodies: Vec<String> = rs
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    assert_eq!(bodies, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn pipelining_is_bounded_by_backpressure() {
    let cfg = ServerConfig {
        max_pipelined: 3,
        ..config()
    };
    let mut c = Client::new(server_with(cfg, builtin_router()));
    let burst = GET_HEALTH.repeat(10);
    let taken = c.conn.on_recv(c.now, &burst);
    assert_eq!(
        taken,
        3 * GET_HEALTH.len(),
        "stops after 3 queued responses"
    );
    assert!(!c.conn.accepts_input());
    c.backlog.extend_from_slice(&burst[taken..]);
    let rs = parse_responses(&c.recv());
    assert_eq!(rs.len(), 10);
    assert!(rs.iter().all(|r| r.status == 200));
}

#[test]
fn content_length_body_and_echo_of_one_mebibyte() {
    let body = pattern(1 << 20, 7);
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut c = Client::builtin();
    // In uneven reads.
    for piece in req.chunks(1460) {
        c.send(piece);
    }
    let r = one_response(&c.recv());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1048576"));
    assert!(r.body == body, "echo is byte-exact");
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, piece) in body.chunks(chunk).enumerate() {
        // Chunk extensions, which must be ignored (RFC 9112 §7.1.1).
        out.extend_from_slice(format!("{:X};i={i};name=\"q\"\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0;end\r\nX-Trailer: discarded\r\n\r\n");
    out
}

#[test]
fn chunked_echo_of_one_mebibyte() {
    let body = pattern(1 << 20, 9);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&body, 3000));
    let mut c = Client::builtin();
    for piece in req.chunks(4096) {
        c.send(piece);
    }
    let r = one_response(&c.recv());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1048576"));
    assert!(r.body == body);
}

#[test]
fn chunked_upload_one_byte_at_a_time_then_keep_alive() {
    let body = b"hello, chunked world";
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(body, 3));
    req.extend_from_slice(GET_HEALTH);
    let mut c = Client::builtin();
    let mut out = Vec::new();
    for b in &req {
        c.send(std::slice::from_ref(b));
        out.extend(c.recv());
    }
    let rs = parse_responses(&out);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].body, body);
    assert_eq!(rs[1].body, b"ok");
    assert!(!c.conn.wants_close());
}

#[test]
fn expect_100_continue() {
    let mut c = Client::builtin();
    let out = c.exchange(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    let r = one_response(&c.exchange(b"hello"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(c.conn.stats().continues, 1);
}

#[test]
fn expect_100_continue_over_the_limit_is_413_at_once() {
    let cfg = ServerConfig {
        max_body_bytes: 10,
        ..config()
    };
    let mut c = Client::new(server_with(cfg, builtin_router()));
    let out = c.exchange(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    let r = one_response(&out);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.conn.should_close());
}

#[test]
fn head_has_get_headers_and_no_body() {
    let mut c = Client::builtin();
    let out = c.exchange(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let rs = parse_responses_with(&out, &[true]);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, 200);
    assert_eq!(rs[0].header("Content-Length"), Some("2"));
    assert!(rs[0].body.is_empty());
    assert!(out.ends_with(b"\r\n\r\n"));
    // Still usable.
    assert_eq!(one_response(&c.exchange(GET_HEALTH)).body, b"ok");
}

#[test]
fn connection_close_closes_after_the_response() {
    let mut c = Client::builtin();
    let mut req = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(GET_HEALTH); // must be ignored
    let r = one_response(&c.exchange(&req));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.conn.should_close());
    assert_eq!(c.conn.poll_timeout(), None);
}

#[test]
fn http10_is_close_by_default_and_keep_alive_on_request() {
    let mut c = Client::builtin();
    let r = one_response(&c.exchange(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert!(!c.conn.wants_close());
    let r = one_response(&c.exchange(b"GET /health HTTP/1.0\r\n\r\n"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.conn.should_close());
}

/// Sends `req`, expects one response with `status` and `Connection: close`, and a connection
/// that then wants to close and takes (discards) further input.
fn expect_error(c: &mut Client, req: &[u8], status: u16) {
    let out = c.exchange(req);
    let r = one_response(&out);
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(req));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.conn.should_close(), "closed after {status}");
    assert_eq!(
        c.exchange(GET_HEALTH),
        b"",
        "no further requests after an error"
    );
}

#[test]
fn error_statuses_close_the_connection() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET /health HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 400),
        (b"GET\x01 / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", 400),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 67108865\r\n\r\n", 413),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n", 417),
    ];
    for &(req, status) in cases {
        expect_error(&mut Client::builtin(), req, status);
    }
}

#[test]
fn header_section_over_the_limit_is_431() {
    let mut big = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9000));
    big.extend_from_slice(b"\r\n\r\n");
    expect_error(&mut Client::builtin(), &big, 431);
    // Same, arriving in small reads: the connection stops buffering at the limit.
    let mut c = Client::builtin();
    let mut out = Vec::new();
    for piece in big.chunks(100) {
        c.send(piece);
        out.extend(c.recv());
    }
    assert_eq!(one_response(&out).status, 431);
    // Too many header lines.
    let mut many = b"GET /health HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    expect_error(&mut Client::builtin(), &many, 431);
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let cfg = ServerConfig {
        max_body_bytes: 100,
        ..config()
    };
    let mut c = Client::new(server_with(cfg, builtin_router()));
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&[b'x'; 101], 50));
    expect_error(&mut c, &req, 413);
}

#[test]
fn slow_request_gets_408_and_close() {
    let mut c = Client::builtin();
    assert!(c.exchange(b"GET /health HTTP/1.1\r\nHo").is_empty());
    let deadline = c.conn.poll_timeout().unwrap();
    assert_eq!(deadline, c.now + Duration::from_secs(10));
    c.advance(Duration::from_secs(9));
    c.conn.on_timeout(c.now);
    assert!(c.exchange(b"st: t\r\n").is_empty(), "not yet");
    c.now = deadline;
    c.conn.on_timeout(c.now);
    let r = one_response(&c.recv());
    assert_eq!(r.status, 408);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.conn.should_close());
}

#[test]
fn slow_body_gets_408() {
    let mut c = Client::builtin();
    c.exchange(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    c.advance(Duration::from_secs(10));
    c.conn.on_timeout(c.now);
    assert_eq!(one_response(&c.recv()).status, 408);
    assert!(c.conn.should_close());
}

#[test]
fn idle_keep_alive_connection_closes_silently() {
    let mut c = Client::builtin();
    c.exchange(GET_HEALTH);
    let deadline = c.conn.poll_timeout().unwrap();
    assert_eq!(deadline, c.now + Duration::from_secs(60));
    c.now = deadline;
    c.conn.on_timeout(c.now);
    assert!(c.recv().is_empty());
    assert!(c.conn.should_close());
}

#[test]
fn a_peer_that_stops_reading_is_dropped_after_the_idle_timeout() {
    let mut c = Client::builtin();
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    c.send(&[b'z'; 100_000]);
    assert!(c.conn.has_pending_output());
    c.advance(Duration::from_secs(60));
    c.conn.on_timeout(c.now);
    assert!(c.conn.should_close());
    assert!(c.recv().is_empty());
}

#[test]
fn peer_close_finishes_in_flight_responses() {
    let mut c = Client::builtin();
    c.send(GET_HEALTH);
    c.send(b"GET /health HTTP/1.1\r\n"); // incomplete: dropped
    c.conn.on_peer_closed();
    assert!(c.conn.wants_close());
    assert!(!c.conn.should_close(), "still has a response to send");
    assert_eq!(one_response(&c.recv()).status, 200);
    assert!(c.conn.should_close());
}

#[test]
fn routing_404_and_405_with_allow() {
    let mut c = Client::builtin();
    let r = one_response(&c.exchange(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(r.status, 404);
    let r =
        one_response(&c.exchange(b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    let r = one_response(&c.exchange(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    // 404 and 405 keep the connection open.
    assert!(!c.conn.wants_close());
}

#[test]
fn caller_registered_metrics_handler() {
    let mut router = builtin_router();
    router.get("/metrics", |_req: &mut cyclone_http::Request<'_>| {
        Response::text(200, "requests_total 1\n".to_string())
    });
    let mut c = Client::new(server_with(config(), router));
    let r = one_response(&c.exchange(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(r.body, b"requests_total 1\n");
}

#[test]
fn absolute_form_target_and_leading_empty_lines() {
    let mut c = Client::builtin();
    let r = one_response(&c.exchange(b"\r\nGET http://t/health?x HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn router_prefers_exact_then_longest_prefix() {
    let mut router = Router::new();
    router
        .mount("GET", "/", |_r: &mut cyclone_http::Request<'_>| {
            Response::text(200, "root")
        })
        .mount("GET", "/a/", |_r: &mut cyclone_http::Request<'_>| {
            Response::text(200, "a")
        })
        .get("/a/x", |_r: &mut cyclone_http::Request<'_>| {
            Response::text(200, "exact")
        });
    let mut c = Client::new(server_with(config(), router));
    for (path, want) in [
        ("/", "root"),
        ("/b", "root"),
        ("/a/y", "a"),
        ("/a/x", "exact"),
    ] {
        let r =
            one_response(&c.exchange(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()));
        assert_eq!(r.body, want.as_bytes(), "{path}");
    }
}

/// `on_recv_with`: repeated small responses first in line go to the sink; what it does not
/// take is queued and sent before later responses; the bytes it took count as sent.
#[test]
fn on_recv_with_sends_cached_responses_through_the_sink_in_order() {
    let mut plain = Client::builtin();
    let mut c = Client::builtin();
    let one = plain.exchange(GET_HEALTH);
    // The first response builds the cache (queued); the next ones leave through the sink.
    assert_eq!(c.conn.on_recv(c.now, GET_HEALTH), GET_HEALTH.len());
    let mut wire = c.recv();
    let mut taken = 0;
    let burst = GET_HEALTH.repeat(4);
    let n = c.conn.on_recv_with(c.now, &burst, &mut |b: &[u8]| {
        taken += 1;
        wire.extend_from_slice(b);
        b.len()
    });
    assert_eq!((n, taken), (burst.len(), 4));
    assert!(!c.conn.has_pending_output());
    // A sink that takes only part: the rest is queued, and later responses queue behind it.
    let mut calls = 0;
    let n = c.conn.on_recv_with(c.now, &burst, &mut |b: &[u8]| {
        calls += 1;
        wire.extend_from_slice(&b[..5]);
        5
    });
    assert_eq!((n, calls), (burst.len(), 1));
    assert!(c.conn.has_pending_output());
    wire.extend_from_slice(&c.recv());
    assert_eq!(wire, one.repeat(9));
    let stats = c.conn.stats();
    assert_eq!((stats.responses, stats.bytes_sent), (9, wire.len() as u64));
}

/// The `Date` second is computed once per second: it still turns over exactly when the wall
/// clock (anchor plus monotonic time) does, also with an anchor that is not a whole second.
#[test]
fn date_turns_over_at_the_wall_clock_second() {
    let cfg = ServerConfig {
        unix_time_at_zero: Duration::from_millis(UNIX_AT_ZERO * 1000 + 500),
        ..config()
    };
    // Client::new starts at 1 ms: 1_700_000_000.501 s.
    let mut c = Client::new(server_with(cfg, builtin_router()));
    let date = |c: &mut Client| {
        one_response(&c.exchange(GET_HEALTH))
            .header("Date")
            .map(str::to_owned)
    };
    assert_eq!(
        date(&mut c).as_deref(),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    c.advance(Duration::from_millis(498)); // .999
    assert_eq!(
        date(&mut c).as_deref(),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    c.advance(Duration::from_millis(1)); // 1.000
    assert_eq!(
        date(&mut c).as_deref(),
        Some("Tue, 14 Nov 2023 22:13:21 GMT")
    );
    c.advance(Duration::from_millis(999)); // 1.999
    assert_eq!(
        date(&mut c).as_deref(),
        Some("Tue, 14 Nov 2023 22:13:21 GMT")
    );
    c.advance(Duration::from_millis(1));
    assert_eq!(
        date(&mut c).as_deref(),
        Some("Tue, 14 Nov 2023 22:13:22 GMT")
    );
}

/// Whatever a request sequence is, `on_recv_with` (cached responses straight to the sink)
/// puts the same bytes on the wire as `on_recv` and a drain, and counts the same.
#[test]
fn on_recv_with_sends_the_same_bytes_as_on_recv() {
    let router = || {
        let mut router = builtin_router();
        router.get("/a", |_: &mut cyclone_http::Request<'_>| {
            Response::text(200, "aa")
        });
        router.get("/b", |_: &mut cyclone_http::Request<'_>| {
            Response::text(200, "bb")
        });
        router.get("/n", |req: &mut cyclone_http::Request<'_>| {
            Response::text(200, req.query().unwrap_or("").to_string())
        });
        router
    };
    let mut plain = Client::new(server_with(config(), router()));
    let mut direct = Client::new(server_with(config(), router()));
    let steps: &[(&[u8], u64)] = &[
        (GET_HEALTH, 0),
        (GET_HEALTH, 0),
        (b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (GET_HEALTH, 0),
        (b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"GET /n?1 HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 0),
        (GET_HEALTH, 999),
        (GET_HEALTH, 1),
        (b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0),
        (b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0),
        (
            b"GET /health HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n",
            0,
        ),
        (
            b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            0,
        ),
    ];
    let mut wire = Vec::new();
    let mut sunk = 0;
    for &(req, ms) in steps {
        plain.advance(Duration::from_millis(ms));
        direct.advance(Duration::from_millis(ms));
        let expected = plain.exchange(req);
        let now = direct.now;
        let n = direct.conn.on_recv_with(now, req, |b: &[u8]| {
            sunk += 1;
            wire.extend_from_slice(b);
            b.len()
        });
        assert_eq!(n, req.len());
        wire.extend_from_slice(&direct.recv());
        assert_eq!(
            String::from_utf8_lossy(&wire),
            String::from_utf8_lossy(&expected),
            "after {:?}",
            String::from_utf8_lossy(req)
        );
        wire.clear();
    }
    assert_eq!(plain.conn.stats(), direct.conn.stats());
    assert!(direct.conn.wants_close());
    // Repeats went through the sink: GET, HEAD, /b, 404, HTTP/1.0, pipelined GET, close.
    assert!(sunk >= 6, "{sunk} responses through the sink");
}
