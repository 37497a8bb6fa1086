//! The HTTP server on Cyclone's own stack, on the in-memory link: a client stack sends
//! requests over TCP and checks the answers byte for byte.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use cyclone::app::client::HttpClient;
use cyclone::app::http::HttpService;
use cyclone::http::apps::{install_builtin, static_files::StaticFiles};
use cyclone::http::{Router, Server, ServerConfig};
use cyclone::lab::{Lab, LabConfig};
use cyclone::pmd::fault::FaultConfig;
use cyclone::pmd::Timestamp;

struct Site {
    root: std::path::PathBuf,
}

impl Site {
    fn new(name: &str, files: &[(&str, &[u8])]) -> Site {
        let root =
            std::env::temp_dir().join(format!("cyclone-lab-http-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        for (file, data) in files {
            std::fs::write(root.join(file), data).unwrap();
        }
        Site { root }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn server(root: &std::path::Path) -> Arc<Server> {
    let mut router = Router::new();
    install_builtin(&mut router);
    router.mount("GET", "/", StaticFiles::new(root, "/").unwrap());
    Arc::new(Server::new(ServerConfig::default(), router))
}

/// Sends `request` on a new connection from host 0 and collects `expect` responses.
fn exchange(
    lab: &mut Lab,
    service: &mut HttpService,
    request: &[u8],
    expect: usize,
) -> Vec<(u16, Vec<u8>)> {
    let now = lab.now();
    let server = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let local = SocketAddrV4::new(lab.hosts[0].addr, 0);
    let conn = lab.hosts[0]
        .iface
        .tcp_mut()
        .connect(now, local, server)
        .unwrap();
    let mut client = HttpClient::new(conn);
    client.send(request);
    let service_at = std::cell::Cell::new(None);
    lab.run_until(
        5_000_000,
        |lab| {
            service.poll(lab.now(), lab.hosts[1].iface.tcp_mut());
            service_at.set(service.poll_at());
            client.pump(lab.hosts[0].iface.tcp_mut()).unwrap_or(0) >= expect
        },
        |_| service_at.get(),
    )
    .expect("responses arrive");
    let _ = lab.hosts[0].iface.tcp_mut().close(conn);
    client
        .take_responses()
        .into_iter()
        .map(|r| (r.status, r.body))
        .collect()
}

fn lab_and_service(faults: FaultConfig, root: &std::path::Path) -> (Lab, HttpService) {
    let mut lab = Lab::new(LabConfig {
        faults,
        ..LabConfig::default()
    })
    .unwrap();
    let addr = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let now = lab.now();
    let service =
        HttpService::new(lab.hosts[1].iface.tcp_mut(), addr, 64, server(root), now).unwrap();
    (lab, service)
}

#[test]
fn keep_alive_pipelining_echo_and_errors() {
    let site = Site::new("basic", &[("index.html", b"<h1>cyclone</h1>")]);
    let (mut lab, mut service) = lab_and_service(FaultConfig::default(), &site.root);

    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r, vec![(200, b"ok".to_vec())]);

    let ten: Vec<u8> = (0..10)
        .flat_map(|_| b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .collect();
    let r = exchange(&mut lab, &mut service, &ten, 10);
    assert_eq!(r.len(), 10);
    assert!(r.iter().all(|(s, b)| *s == 200 && b == b"<h1>cyclone</h1>"));

    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    let r = exchange(&mut lab, &mut service, &post, 1);
    assert_eq!(r, vec![(200, body)]);

    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r[0].0, 400);
    let r = exchange(&mut lab, &mut service, b"BLAH\r\n\r\n", 1);
    assert_eq!(r[0].0, 400);
    assert!(service.stats().accepted >= 5);
}

#[test]
fn a_large_static_file_arrives_byte_exact_through_a_lossy_link() {
    let file = patterned(5_000_000);
    let site = Site::new("big", &[("big.bin", &file)]);
    let faults = FaultConfig {
        drop: 0.02,
        reorder: 0.01,
        duplicate: 0.005,
        seed: 3,
        ..FaultConfig::default()
    };
    let (mut lab, mut service) = lab_and_service(faults, &site.root);
    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r[0].0, 200);
    assert!(r[0].1 == file, "5 MB file byte-exact");
}

#[test]
fn a_fifty_megabyte_static_file_arrives_byte_exact_over_tcp() {
    // The 50 MB download, end to end: static files → HTTP → TCP → the in-memory link
    // → the client's TCP (the `http` crate's tests stream it through a `Connection` alone).
    let file = patterned(50_000_000);
    let site = Site::new("fifty", &[("fifty.bin", &file)]);
    let (mut lab, mut service) = lab_and_service(FaultConfig::default(), &site.root);
    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /fifty.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r[0].0, 200);
    assert_eq!(r[0].1.len(), file.len());
    assert!(r[0].1 == file, "50 MB file byte-exact");
}

/// `len` bytes of a pattern that does not repeat within a TCP window (a misplaced segment
/// shows).
fn patterned(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Polls the lab, the service and `client` until `done(lab, responses so far)`, waking for
/// the service's timers and for `wake_at`.
fn drive(
    lab: &mut Lab,
    service: &mut HttpService,
    client: &mut HttpClient,
    wake_at: Option<Timestamp>,
    mut done: impl FnMut(&mut Lab, &HttpService, usize) -> bool,
) {
    let service_at = std::cell::Cell::new(None);
    lab.run_until(
        5_000_000,
        |lab| {
            service.poll(lab.now(), lab.hosts[1].iface.tcp_mut());
            service_at.set(service.poll_at());
            let n = client.pump(lab.hosts[0].iface.tcp_mut()).unwrap_or(0);
            done(lab, service, n)
        },
        |_| [service_at.get(), wake_at].into_iter().flatten().min(),
    )
    .expect("the lab makes progress");
}

#[test]
fn keep_alive_idle_timeout_counts_from_the_last_request() {
    let idle = Duration::from_secs(2);
    let mut router = Router::new();
    install_builtin(&mut router);
    let config = ServerConfig {
        idle_timeout: idle,
        ..ServerConfig::default()
    };
    let mut lab = Lab::new(LabConfig::default()).unwrap();
    let addr = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let now = lab.now();
    let server = Arc::new(Server::new(config, router));
    let mut service =
        HttpService::new(lab.hosts[1].iface.tcp_mut(), addr, 64, server, now).unwrap();
    let local = SocketAddrV4::new(lab.hosts[0].addr, 0);
    let conn = lab.hosts[0]
        .iface
        .tcp_mut()
        .connect(now, local, addr)
        .unwrap();
    let mut client = HttpClient::new(conn);
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

    client.send(request);
    drive(&mut lab, &mut service, &mut client, None, |_, _, n| n >= 1);
    let first = lab.now();
    let later = first + Duration::from_millis(1500);
    drive(
        &mut lab,
        &mut service,
        &mut client,
        Some(later),
        |lab, _, _| lab.now() >= later,
    );
    client.send(request);
    drive(&mut lab, &mut service, &mut client, None, |_, _, n| n >= 2);
    let second = lab.now();

    // Past the idle deadline of the first request, not of the second: still open (the timer
    // armed after the first request fires, finds the deadline postponed, and re-arms).
    let past_first = first + idle + Duration::from_millis(500);
    drive(
        &mut lab,
        &mut service,
        &mut client,
        Some(past_first),
        |lab, _, _| lab.now() >= past_first,
    );
    assert!(!lab.hosts[0].iface.tcp().peer_closed(conn));
    assert_eq!(service.connections(), 1);

    // The server closes (FIN) once idle for `idle` after the second exchange.
    drive(&mut lab, &mut service, &mut client, None, |lab, _, _| {
        lab.hosts[0].iface.tcp().peer_closed(conn)
    });
    let closed = lab.now();
    assert!(closed >= second + idle, "closed early: {closed:?}");
    assert!(
        closed < second + idle + Duration::from_millis(100),
        "closed late: {closed:?}"
    );
    let totals = service.http_totals();
    assert_eq!(
        (totals.requests, totals.responses, totals.timeouts),
        (2, 2, 1)
    );

    // The client closes too: the connection leaves the service, its counters stay counted.
    lab.hosts[0].iface.tcp_mut().close(conn).unwrap();
    drive(
        &mut lab,
        &mut service,
        &mut client,
        None,
        |_, service, _| service.connections() == 0,
    );
    assert_eq!(service.http_totals(), totals);
}
