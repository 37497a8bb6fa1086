//! Two Cyclone stacks talk TCP and HTTP through DPDK: a pair of `net_ring` ports over two
//! crossed `rte_ring`s (`Eal::ring_pair`, a back-to-back cable in memory), one shared pool
//! (zero copy end to end), an `Interface` on each port, an `HttpService` on one and an
//! `HttpClient` on the other: `GET /health`, `POST /echo` of 1 MB byte-exact, a 4 MB TCP bulk
//! transfer each way byte-exact; afterwards every frame is back in the pool.
//!
//! Runs as root with the `net_ring` plugin installed; prints `SKIP: ...` and passes otherwise.
//! One test per file: the EAL starts once per process.

#![cfg(feature = "dpdk")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclone::app::bulk::BulkEnd;
use cyclone::app::client::HttpClient;
use cyclone::app::http::HttpService;
use cyclone::http::apps::install_builtin;
use cyclone::http::{Router, Server, ServerConfig};
use cyclone::pmd::{Clock, MacAddr, MonotonicClock, Port, Queue, TxQueue};
use cyclone::stack::iface::{Interface, InterfaceConfig};
use cyclone_dpdk::{DpdkPort, DpdkQueue, Eal, EalConfig, MbufPool, MbufPoolConfig, PortConfig};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 2);

/// One stack on one DPDK queue.
struct Host {
    iface: Interface,
    queue: DpdkQueue,
}

impl Host {
    /// A stack with `ip` on queue 0 of `port`. Ports made by `rte_eth_from_rings` have no MAC
    /// of their own (all zeroes) and take any frame: each stack gets a local one, `mac_id`.
    fn new(port: &mut DpdkPort, ip: Ipv4Addr, mac_id: u32, now: cyclone::pmd::Timestamp) -> Host {
        let mac = if port.mac() == MacAddr::default() {
            MacAddr::local(mac_id)
        } else {
            port.mac()
        };
        let config = InterfaceConfig::new(mac, format!("{ip}/24").parse().expect("cidr"));
        let iface = Interface::new(config, port.capabilities(), now).expect("interface");
        let queue = port.open_queue(0).expect("queue 0");
        Host { iface, queue }
    }

    fn poll(&mut self, now: cyclone::pmd::Timestamp) -> bool {
        self.iface.poll(now, &mut self.queue).did_work()
    }
}

/// Both hosts, the server's HTTP service, on a real clock.
struct Pair {
    clock: MonotonicClock,
    server: Host,
    client: Host,
    service: HttpService,
}

impl Pair {
    /// Polls everything until `done` says so; panics after `limit`.
    fn run_until(&mut self, what: &str, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let now = self.clock.now();
            self.server.poll(now);
            self.service.poll(now, self.server.iface.tcp_mut());
            self.server.poll(now);
            self.client.poll(now);
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not done within {limit:?}"
            );
        }
    }
}

/// Deterministic bytes.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// One request on a new connection from the client; its responses.
fn http(pair: &mut Pair, request: &[u8], expect: usize) -> Vec<(u16, Vec<u8>)> {
    let now = pair.clock.now();
    let conn = pair
        .client
        .iface
        .tcp_mut()
        .connect(
            now,
            SocketAddrV4::new(CLIENT, 0),
            SocketAddrV4::new(SERVER, 80),
        )
        .expect("connect");
    let mut client = HttpClient::new(conn);
    client.send(request);
    pair.run_until("HTTP exchange", Duration::from_secs(30), |p| {
        client.pump(p.client.iface.tcp_mut()).expect("client") >= expect
    });
    let _ = pair.client.iface.tcp_mut().close(conn);
    client
        .take_responses()
        .into_iter()
        .map(|r| (r.status, r.body))
        .collect()
}

/// `len` bytes each way on one TCP connection (client → server and back), byte-exact.
fn bulk(pair: &mut Pair, len: usize) {
    let addr = SocketAddrV4::new(SERVER, 5001);
    let listener = pair.server.iface.tcp_mut().listen(addr, 4).expect("listen");
    let now = pair.clock.now();
    let c = pair
        .client
        .iface
        .tcp_mut()
        .connect(now, SocketAddrV4::new(CLIENT, 0), addr)
        .expect("connect");
    let (up, down) = (pattern(len, 1), pattern(len, 2));
    let mut ends: [Option<BulkEnd>; 2] = [Some(BulkEnd::new(c, up.clone())), None];
    let mut done = [false; 2];
    pair.run_until("bulk transfer", Duration::from_secs(60), |p| {
        if ends[1].is_none() {
            let accepted = p.server.iface.tcp_mut().accept(listener);
            ends[1] = accepted.map(|s| BulkEnd::new(s, down.clone()));
        }
        for (i, host) in [&mut p.client, &mut p.server].into_iter().enumerate() {
            if let Some(end) = ends[i].as_mut() {
                done[i] = end.pump(host.iface.tcp_mut());
            }
        }
        done[0] && done[1]
    });
    let got: Vec<Vec<u8>> = ends
        .into_iter()
        .map(|end| end.map(BulkEnd::into_received).unwrap_or_default())
        .collect();
    assert!(got[1] == up, "client → server: {len} bytes byte-exact");
    assert!(got[0] == down, "server → client: {len} bytes byte-exact");
    let _ = pair.server.iface.tcp_mut().close_listener(listener);
}

#[test]
fn two_stacks_speak_tcp_and_http_over_a_dpdk_ring_pair() {
    if let Some(why) = cyclone_dpdk::env::skip_reason(&["net_ring"]) {
        println!("SKIP: {why}");
        return;
    }
    let eal = Eal::init(&EalConfig::parse("-l 0 --no-pci")).expect("EAL starts");
    let (a, b) = eal
        .ring_pair("srv", "cli", 1024)
        .expect("a crossed ring pair");
    assert_ne!(a.id, b.id);
    assert_eq!(
        (a.name.as_str(), b.name.as_str()),
        ("net_ring_srv", "net_ring_cli")
    );

    let pool = MbufPool::new(
        &eal,
        MbufPoolConfig {
            frames: 8192,
            ..MbufPoolConfig::default()
        },
    )
    .expect("pool");
    pool.flush_caches();
    let start = pool.pool().available();
    assert_eq!(start, pool.pool().capacity());

    let cfg = PortConfig {
        rx_desc: 512,
        tx_desc: 512,
        ..PortConfig::default()
    };
    let mut pa = DpdkPort::open_with_pool(&eal, a.id, &cfg, pool.clone()).expect("server port");
    let mut pb = DpdkPort::open_with_pool(&eal, b.id, &cfg, pool.clone()).expect("client port");
    println!(
        "ports {} ({}) and {} ({}), capabilities {:?}",
        pa.name(),
        pa.mac(),
        pb.name(),
        pb.mac(),
        pa.capabilities()
    );

    let clock = MonotonicClock::new();
    let now = clock.now();
    let mut server = Host::new(&mut pa, SERVER, 1, now);
    let client = Host::new(&mut pb, CLIENT, 2, now);
    let mut router = Router::new();
    install_builtin(&mut router);
    let http_server = Arc::new(Server::new(ServerConfig::default(), router));
    let service = HttpService::new(
        server.iface.tcp_mut(),
        SocketAddrV4::new(SERVER, 80),
        64,
        http_server,
        now,
    )
    .expect("listen on :80");
    let mut pair = Pair {
        clock,
        server,
        client,
        service,
    };

    let r = http(&mut pair, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    assert_eq!(r, vec![(200, b"ok".to_vec())]);

    let body = pattern(1 << 20, 7);
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    let r = http(&mut pair, &post, 1);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, 200);
    assert!(r[0].1 == body, "1 MB echoed byte-exact");

    bulk(&mut pair, 4 << 20);

    // Let the closes finish (FIN, ACK; TIME-WAIT holds no frame), then the wire go quiet:
    // frames still in a ring when the ports close would never come back.
    let mut quiet_since = Instant::now();
    pair.run_until("connections close", Duration::from_secs(10), |p| {
        let busy = p.service.connections() > 0
            || p.server.iface.tx_queued() > 0
            || p.client.iface.tx_queued() > 0;
        if busy {
            quiet_since = Instant::now();
        }
        quiet_since.elapsed() > Duration::from_millis(300)
    });
    let (sa, sb) = (pair.server.queue.stats(), pair.client.queue.stats());
    println!("server queue {sa:?}\nclient queue {sb:?}");
    assert!(sa.rx_packets > 1000 && sb.rx_packets > 1000);
    assert_eq!(sa.rx_dropped_invalid + sb.rx_dropped_invalid, 0);
    assert_eq!(
        pair.server.queue.pool(),
        pool.pool(),
        "both queues use the one pool"
    );

    drop(pair);
    drop((pa, pb));
    pool.flush_caches();
    assert_eq!(
        pool.pool().available(),
        start,
        "every frame is back in the pool"
    );
}
