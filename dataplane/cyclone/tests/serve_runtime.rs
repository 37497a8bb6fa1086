//! The `cyclone serve` runtime in-process: one end of an in-memory link is served by
//! `runtime::serve` on its own threads (real clock), the other end is driven by the test with a
//! Cyclone `Interface` and `HttpClient`. Every wait is bounded.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cyclone::app::client::{HttpClient, Response};
use cyclone::config::{AppKind, ServeConfig};
use cyclone::metrics::{Counter, Metrics};
use cyclone::pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryPort, MemoryQueue};
use cyclone::pmd::{
    Capabilities, Clock, MacAddr, MonotonicClock, PacketBuf, Pool, Port, PortError, Queue,
    QueueStats, RxQueue, TxQueue,
};
use cyclone::runtime::{serve_with_metrics, QueueWait, ServeError, ServeReport};
use cyclone::stack::iface::{Interface, InterfaceConfig, Ipv4Cidr};
use cyclone::stack::tcp::{ConnHandle, TcpEvent};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const TIMEOUT: Duration = Duration::from_secs(20);

/// Every queue of the client's port as one queue: RSS may put a reply on any of them.
struct AllQueues(Vec<MemoryQueue>);

impl RxQueue for AllQueues {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let mut got = 0;
        for q in &mut self.0 {
            got += q.rx_burst(out, max - got);
        }
        got
    }
}

impl TxQueue for AllQueues {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        self.0[0].tx_burst(bufs)
    }
    fn pool(&self) -> &Pool {
        self.0[0].pool()
    }
}

impl Queue for AllQueues {
    fn id(&self) -> u16 {
        0
    }
    fn stats(&self) -> QueueStats {
        self.0[0].stats()
    }
}

/// The test's side of the link.
struct Client {
    iface: Interface,
    queue: AllQueues,
    clock: MonotonicClock,
    events: Vec<TcpEvent>,
}

impl Client {
    fn poll(&mut self) {
        let now = self.clock.now();
        self.iface.poll(now, &mut self.queue);
        self.iface.tcp_mut().take_events(&mut self.events);
        self.events.clear();
    }

    /// Polls for `d` (letting the server publish its counters, say).
    fn idle(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.poll();
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn connect(&mut self, local_port: u16) -> HttpClient {
        let now = self.clock.now();
        let conn = self
            .iface
            .tcp_mut()
            .connect(
                now,
                SocketAddrV4::new(CLIENT_IP, local_port),
                SocketAddrV4::new(SERVER_IP, 80),
            )
            .expect("connect");
        HttpClient::new(conn)
    }

    /// Pumps `client` until it has `expect` responses.
    fn wait_responses(&mut self, client: &mut HttpClient, expect: usize) -> Vec<Response> {
        let start = Instant::now();
        loop {
            self.poll();
            let n = client
                .pump(self.iface.tcp_mut())
                .expect("connection stays up");
            if n >= expect {
                return client.take_responses();
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "timed out waiting for {expect} response(s)"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// One request on a new connection from `local_port`, closed after the answer.
    fn exchange(&mut self, local_port: u16, request: &[u8]) -> Response {
        let mut client = self.connect(local_port);
        client.send(request);
        let mut r = self.wait_responses(&mut client, 1);
        let _ = self.iface.tcp_mut().close(client.conn());
        r.remove(0)
    }

    fn close(&mut self, conn: ConnHandle) {
        let _ = self.iface.tcp_mut().close(conn);
    }
}

/// The served side, running on its own thread.
struct Server {
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    handle: Option<JoinHandle<Result<ServeReport, ServeError>>>,
}

impl Server {
    /// Sets the stop flag and waits (polling the client so closes complete) for the report.
    fn stop(mut self, client: &mut Client) -> (Result<ServeReport, ServeError>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let handle = self.handle.take().expect("running");
        while !handle.is_finished() {
            assert!(started.elapsed() < TIMEOUT, "serve did not return");
            client.poll();
            std::thread::sleep(Duration::from_micros(200));
        }
        let took = started.elapsed();
        (handle.join().expect("serve does not panic"), took)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn start<P>(port: P, config: ServeConfig) -> Server
where
    P: Port + Send + 'static,
    P::Queue: QueueWait,
{
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::new(config.queues));
    let handle = {
        let (stop, metrics) = (Arc::clone(&stop), Arc::clone(&metrics));
        std::thread::spawn(move || serve_with_metrics(port, &config, stop, metrics))
    };
    Server {
        stop,
        metrics,
        handle: Some(handle),
    }
}

fn link(queues: u16) -> (MemoryPort, MemoryPort) {
    let config = MemoryLinkConfig {
        queues,
        ..MemoryLinkConfig::default()
    };
    MemoryLink::pair(config, Arc::new(MonotonicClock::new())).expect("link")
}

fn client_on(mut port: MemoryPort) -> Client {
    let clock = MonotonicClock::new();
    let queues = (0..port.capabilities().max_queues)
        .map(|q| port.open_queue(q).expect("client queue"))
        .collect();
    let config = InterfaceConfig::new(port.mac(), Ipv4Cidr::new(CLIENT_IP, 24));
    Client {
        iface: Interface::new(config, port.capabilities(), clock.now()).expect("client iface"),
        queue: AllQueues(queues),
        clock,
        events: Vec::new(),
    }
}

fn config(queues: u16) -> ServeConfig {
    let mut c = ServeConfig::memory(Ipv4Cidr::new(SERVER_IP, 24));
    c.queues = queues;
    c
}

struct Site(PathBuf);

impl Site {
    fn new(name: &str, files: &[(&str, &[u8])]) -> Site {
        let root =
            std::env::temp_dir().join(format!("cyclone-serve-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        for (file, data) in files {
            std::fs::write(root.join(file), data).unwrap();
        }
        Site(root)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A parsed Prometheus exposition: (name, labels, value) per sample, after checking that every
/// sample's family was declared with `# TYPE` first.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("a name");
            let kind = parts.next().expect("a type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.is_empty() && !line.starts_with('#'),
            "stray line `{line}`"
        );
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').expect("closed labels");
                for pair in l.split(',') {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                        "{line}"
                    );
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
                (n, l)
            }
            None => (series, ""),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "`{name}` has no # TYPE");
        samples.push((name.to_string(), labels.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, String, f64)], name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l == labels)
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("no sample {name}{{{labels}}}"))
}

#[test]
fn health_static_file_echo_and_metrics_over_the_runtime() {
    let file: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let site = Site::new(
        "files",
        &[("big.bin", &file), ("index.html", b"<h1>cyclone</h1>")],
    );
    let (server_port, client_port) = link(1);
    let mut c = config(1);
    c.app = AppKind::Static;
    c.root = Some(site.0.clone());
    c.metrics = true;
    let server = start(server_port, c);
    let mut client = client_on(client_port);

    let r = client.exchange(40_000, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    let r = client.exchange(40_001, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"<h1>cyclone</h1>"[..])
    );
    let r = client.exchange(40_002, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.body == file, "static file byte-exact");
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = client.exchange(40_003, &post("/echo", &body));
    assert_eq!(r.status, 200);
    assert!(r.body == body, "echo byte-exact");
    let r = client.exchange(40_004, b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);

    client.idle(Duration::from_millis(50)); // let the queue publish
    let r = client.exchange(40_005, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).expect("utf-8 exposition");
    let s = parse_prometheus(&text);
    let q0 = "queue=\"0\"";
    assert!(sample(&s, "cyclone_rx_packets_total", q0) > 100.0);
    assert!(sample(&s, "cyclone_tx_bytes_total", q0) > 400_000.0);
    assert!(sample(&s, "cyclone_http_requests_total", q0) >= 5.0);
    assert!(sample(&s, "cyclone_tcp_passive_opens_total", q0) >= 5.0);
    assert!(sample(&s, "cyclone_pool_frames", q0) > 0.0);
    assert!(
        sample(
            &s,
            "cyclone_http_responses_by_class_total",
            "queue=\"0\",class=\"2xx\""
        ) >= 4.0
    );
    assert!(
        sample(
            &s,
            "cyclone_http_responses_by_class_total",
            "queue=\"0\",class=\"4xx\""
        ) >= 1.0
    );
    assert!(sample(&s, "cyclone_http_request_duration_seconds_count", q0) >= 5.0);
    assert_eq!(
        sample(
            &s,
            "cyclone_http_request_duration_seconds_bucket",
            "queue=\"0\",le=\"+Inf\""
        ),
        sample(&s, "cyclone_http_request_duration_seconds_count", q0)
    );
    assert_eq!(
        sample(
            &s,
            "cyclone_drops_total",
            "queue=\"0\",reason=\"rx_no_buffer\""
        ),
        0.0
    );

    let (report, _) = server.stop(&mut client);
    let report = report.expect("serve returns a report");
    assert_eq!(report.queues.len(), 1);
    assert!(report.queues[0].http.requests >= 6);
    assert!(report.totals.requests >= 6);
}

#[test]
fn two_queues_share_the_connections_and_count_them_per_queue() {
    let (server_port, client_port) = link(2);
    let server = start(server_port, config(2));
    let mut client = client_on(client_port);
    for i in 0..16u16 {
        let r = client.exchange(41_000 + i, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
    }
    client.idle(Duration::from_millis(50));
    let opens: Vec<u64> = server
        .metrics
        .queues()
        .iter()
        .map(|q| q.get(Counter::TcpAccepted))
        .collect();
    assert_eq!(opens.iter().sum::<u64>(), 16);
    assert!(
        opens.iter().all(|n| *n > 0),
        "RSS spreads flows over both queues: {opens:?}"
    );
    let metrics = Arc::clone(&server.metrics);
    let (report, _) = server.stop(&mut client);
    let report = report.expect("report");
    let accepted: Vec<u64> = report.queues.iter().map(|q| q.accepted).collect();
    assert_eq!(accepted, opens);
    for (q, m) in report.queues.iter().zip(metrics.queues()) {
        assert_eq!(q.http.requests, m.get(Counter::HttpRequests));
        assert!(m.get(Counter::RxPackets) > 0);
    }
}

#[test]
fn graceful_shutdown_completes_a_response_in_flight_and_refuses_new_connections() {
    let (server_port, client_port) = link(1);
    let mut c = config(1);
    c.grace = Duration::from_secs(3);
    let server = start(server_port, c);
    let mut client = client_on(client_port);
    // Warm up ARP both ways, so the shutdown below races nothing but the request.
    assert_eq!(
        client
            .exchange(42_000, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .status,
        200
    );

    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let request = post("/echo", &body);
    let half = request.len() / 2;
    let mut http = client.connect(42_001);
    http.send(&request[..half]);
    // Let the first half arrive, so the request is in flight when the stop comes.
    let until = Instant::now() + Duration::from_millis(100);
    while Instant::now() < until {
        client.poll();
        http.pump(client.iface.tcp_mut()).expect("up");
        std::thread::sleep(Duration::from_micros(200));
    }
    server.stop.store(true, Ordering::Relaxed);
    client.idle(Duration::from_millis(50));

    // A new connection is refused now.
    let late = client.connect(42_002).conn();
    let refused_by = Instant::now() + Duration::from_secs(5);
    while !client.iface.tcp().is_closed(late) && Instant::now() < refused_by {
        client.poll();
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(client.iface.tcp().is_closed(late), "the listener is closed");

    http.send(&request[half..]);
    let r = client.wait_responses(&mut http, 1);
    assert_eq!(r[0].status, 200);
    assert!(
        r[0].body == body,
        "the response in flight completes byte-exact"
    );
    client.close(http.conn());
    let (report, took) = server.stop(&mut client);
    let report = report.expect("report");
    assert_eq!(report.aborted_at_shutdown(), 0, "everything closed cleanly");
    assert!(
        took < Duration::from_secs(3),
        "returned once the last connection closed: {took:?}"
    );
}

#[test]
fn stop_returns_at_once_when_idle_and_within_the_grace_period_otherwise() {
    // Nothing connected: back almost at once.
    let (server_port, client_port) = link(1);
    let server = start(server_port, config(1));
    let mut client = client_on(client_port);
    client.idle(Duration::from_millis(20));
    let (report, took) = server.stop(&mut client);
    report.expect("report");
    assert!(took < Duration::from_millis(500), "{took:?}");

    // A keep-alive connection whose peer never closes: reset when the grace period ends.
    let (server_port, client_port) = link(1);
    let mut c = config(1);
    c.grace = Duration::from_millis(300);
    let server = start(server_port, c);
    let mut client = client_on(client_port);
    let mut http = client.connect(43_000);
    http.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.wait_responses(&mut http, 1)[0].status, 200);
    let (report, took) = server.stop(&mut client);
    let report = report.expect("report");
    assert_eq!(report.aborted_at_shutdown(), 1);
    assert!(
        took >= Duration::from_millis(250),
        "waited for the grace period: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1_500),
        "and not much longer: {took:?}"
    );
}

/// A port whose queue `panic_on` panics on its 100th receive burst.
struct PanickyPort {
    inner: MemoryPort,
    panic_on: u16,
}

struct PanickyQueue {
    inner: MemoryQueue,
    panic: bool,
    bursts: AtomicU32,
}

impl RxQueue for PanickyQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        if self.panic && self.bursts.fetch_add(1, Ordering::Relaxed) == 100 {
            panic!("injected failure");
        }
        self.inner.rx_burst(out, max)
    }
}

impl TxQueue for PanickyQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        self.inner.tx_burst(bufs)
    }
    fn pool(&self) -> &Pool {
        self.inner.pool()
    }
}

impl Queue for PanickyQueue {
    fn id(&self) -> u16 {
        self.inner.id()
    }
    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
}

impl QueueWait for PanickyQueue {}

impl Port for PanickyPort {
    type Queue = PanickyQueue;
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn mac(&self) -> MacAddr {
        self.inner.mac()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn open_queue(&mut self, id: u16) -> Result<PanickyQueue, PortError> {
        Ok(PanickyQueue {
            inner: self.inner.open_queue(id)?,
            panic: id == self.panic_on,
            bursts: AtomicU32::new(0),
        })
    }
}

#[test]
fn a_panicking_queue_is_reported_and_stops_the_others() {
    let (server_port, client_port) = link(2);
    let port = PanickyPort {
        inner: server_port,
        panic_on: 1,
    };
    let server = start(port, config(2));
    let mut client = client_on(client_port);
    let handle = server.handle.as_ref().expect("running");
    let started = Instant::now();
    // No stop flag: the panic alone must end the run.
    while !handle.is_finished() {
        assert!(
            started.elapsed() < TIMEOUT,
            "serve did not return after a panic"
        );
        client.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (result, _) = server.stop(&mut client);
    match result {
        Err(ServeError::QueuePanicked {
            queue,
            message,
            others,
        }) => {
            assert_eq!(queue, 1);
            assert!(message.contains("injected failure"), "{message}");
            assert_eq!(others, 0);
        }
        other => panic!("expected a panic report, got {other:?}"),
    }
}

#[test]
fn a_port_with_too_few_queues_is_refused_before_starting() {
    let (server_port, _client_port) = link(1);
    let stop = Arc::new(AtomicBool::new(true));
    let e = cyclone::runtime::serve(server_port, &config(2), stop).expect_err("1 queue < 2");
    assert!(
        matches!(
            e,
            ServeError::TooManyQueues {
                asked: 2,
                max: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("lower --queues"));
}
