//! Real-device tests: two Cyclone endpoints on one RDMA device (SoftRoCE `rxe0` in CI's VM,
//! see `ci/softroce/`), talking through UD queue pairs. They run when `CYCLONE_RDMA_DEVICE`
//! names the device and skip (passing, with a message) otherwise. `CYCLONE_RDMA_GID_INDEX`
//! overrides the GID choice.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclone::app::client::HttpClient;
use cyclone::app::http::HttpService;
use cyclone_http::apps::install_builtin;
use cyclone_http::{Router, Server, ServerConfig};
use cyclone_pmd::{
    Clock, MonotonicClock, PacketBuf, Pool, PoolConfig, Port, Queue, RxQueue, TxQueue,
};
use cyclone_rdma::{RdmaConfig, RdmaPort, RdmaQueue};
use cyclone_stack::iface::{Interface, InterfaceConfig};

fn device() -> Option<String> {
    match std::env::var("CYCLONE_RDMA_DEVICE") {
        Ok(dev) if !dev.is_empty() => Some(dev),
        _ => {
            println!(
                "SKIP: no RDMA device (set CYCLONE_RDMA_DEVICE; CI runs them in the SoftRoCE VM)"
            );
            None
        }
    }
}

fn config(dev: &str) -> RdmaConfig {
    RdmaConfig {
        pool: PoolConfig {
            frames: 1024,
            ..PoolConfig::default()
        },
        rx_ring: 256,
        tx_ring: 256,
        gid_index: std::env::var("CYCLONE_RDMA_GID_INDEX")
            .ok()
            .and_then(|s| s.parse().ok()),
        ..RdmaConfig::device(dev)
    }
}

/// Two ports on `dev`, each connected to the other, with their queues and pool handles.
fn pair(dev: &str) -> (RdmaPort, RdmaPort, RdmaQueue, RdmaQueue, Pool, Pool) {
    let mut a = RdmaPort::open(config(dev)).expect("open endpoint A");
    let mut b = RdmaPort::open(config(dev)).expect("open endpoint B");
    println!("A: {}\nB: {}", a.local_addr(), b.local_addr());
    a.connect(&b.local_addr()).expect("A → B");
    b.connect(&a.local_addr()).expect("B → A");
    let qa = a.open_queue(0).expect("queue A");
    let qb = b.open_queue(0).expect("queue B");
    let (pa, pb) = (a.pool().clone(), b.pool().clone());
    (a, b, qa, qb, pa, pb)
}

/// Frames of this pool not in the shared free list, after this thread's cache is flushed.
fn in_use(pool: &Pool) -> usize {
    pool.flush_thread_cache();
    pool.capacity() - pool.available()
}

/// Test frame `seq` of `len` bytes from `src` to `dst`: an Ethernet header (local
/// experimental EtherType 0x88b5), the sequence number, then a pattern.
fn frame(seq: u32, len: usize, src: [u8; 6], dst: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2_654_435_761);
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f
}

/// Sends `frames` on `tx` (all of them, retrying as the send queue drains) while receiving
/// on `rx` until `frames.len()` arrived; returns what arrived.
fn exchange(
    tx: &mut RdmaQueue,
    rx: &mut RdmaQueue,
    frames: &[Vec<u8>],
    deadline: Instant,
) -> Vec<PacketBuf> {
    let mut out = Vec::new();
    for f in frames {
        let mut buf = tx.pool().alloc().expect("a frame to send");
        buf.extend_from_slice(f).unwrap();
        out.push(buf);
    }
    let mut got = Vec::new();
    while (!out.is_empty() || got.len() < frames.len()) && Instant::now() < deadline {
        if !out.is_empty() {
            tx.tx_burst(&mut out);
        }
        rx.rx_burst(&mut got, 64);
    }
    assert!(out.is_empty(), "{} frames were never taken", out.len());
    got
}

#[test]
fn ud_endpoints_exchange_bursts_byte_exact_and_pools_return_to_their_level() {
    let Some(dev) = device() else { return };
    let (a, b, mut qa, mut qb, pa, pb) = pair(&dev);
    let (mac_a, mac_b) = (a.mac().0, b.mac().0);
    let max = a.max_frame();
    println!(
        "device {dev}: active MTU {}, max frame {max}, L3 MTU {}, GID index {}",
        a.active_mtu(),
        a.capabilities().mtu,
        a.gid_index()
    );
    assert_eq!(a.capabilities().max_queues, 1);
    assert_eq!(usize::from(a.capabilities().mtu), max - 14);
    let (start_a, start_b) = (in_use(&pa), in_use(&pb));
    assert_eq!(start_a, 256, "the receive queue is posted full at open");
    let deadline = Instant::now() + Duration::from_secs(60);

    const BURSTS: u32 = 8;
    const BURST: u32 = 32;
    for round in 0..BURSTS {
        for dir in 0..2u32 {
            let (tx, rx, src, dst) = if dir == 0 {
                (&mut qa, &mut qb, mac_a, mac_b)
            } else {
                (&mut qb, &mut qa, mac_b, mac_a)
            };
            let frames: Vec<Vec<u8>> = (0..BURST)
                .map(|i| {
                    let seq = (dir << 16) | (round * BURST + i);
                    // Every size from 60 bytes up to the largest datagram, both ends included.
                    let len = match i {
                        0 => 60,
                        1 => max,
                        _ => 60 + (seq as usize * 37) % (max - 60),
                    };
                    frame(seq, len, src, dst)
                })
                .collect();
            let mut got = exchange(tx, rx, &frames, deadline);
            assert_eq!(
                got.len(),
                frames.len(),
                "round {round} dir {dir}: frames lost"
            );
            got.sort_by_key(|b| u32::from_be_bytes(b.data()[14..18].try_into().unwrap()));
            for (buf, want) in got.iter().zip(&frames) {
                assert_eq!(
                    buf.data(),
                    &want[..],
                    "round {round} dir {dir}: bytes differ"
                );
            }
        }
    }
    let sent = u64::from(BURSTS * BURST);
    assert_eq!(qa.stats().tx_packets, sent);
    assert_eq!(qb.stats().rx_packets, sent);
    assert_eq!(qb.stats().tx_packets, sent);
    assert_eq!(qa.stats().rx_packets, sent);

    // A frame larger than a datagram is taken and dropped, never sent.
    let mut big = qa.pool().alloc().unwrap();
    big.append(max + 1 - big.len()).unwrap();
    let mut v = vec![big];
    assert_eq!(qa.tx_burst(&mut v), 1);
    assert_eq!(qa.rdma_stats().tx_dropped_oversize, 1);

    // Quiesce: reap every send, refill every receive; then the pools are back where they were.
    let mut none = Vec::new();
    while (qa.tx_in_flight() > 0 || qb.tx_in_flight() > 0) && Instant::now() < deadline {
        qa.rx_burst(&mut none, 64);
        qb.rx_burst(&mut none, 64);
    }
    assert!(none.is_empty(), "no stray frames");
    assert_eq!((qa.rx_posted(), qb.rx_posted()), (256, 256));
    assert_eq!((in_use(&pa), in_use(&pb)), (start_a, start_b));
    println!(
        "A {:?} {:?}\nB {:?} {:?}",
        qa.stats(),
        qa.rdma_stats(),
        qb.stats(),
        qb.rdma_stats()
    );
    assert_eq!(qa.rdma_stats().verb_errors + qb.rdma_stats().verb_errors, 0);

    // Closing gives every frame back.
    drop((qa, qb, a, b));
    assert_eq!((in_use(&pa), in_use(&pb)), (0, 0));
}

#[test]
fn tcp_and_http_between_two_cyclone_stacks_over_the_rdma_port() {
    let Some(dev) = device() else { return };
    let (a, b, mut qa, mut qb, pa, pb) = pair(&dev);
    let clock = MonotonicClock::new();
    let now = clock.now();
    let mut ia = Interface::new(
        InterfaceConfig::new(a.mac(), "10.0.0.1/24".parse().unwrap()),
        a.capabilities(),
        now,
    )
    .unwrap();
    let mut ib = Interface::new(
        InterfaceConfig::new(b.mac(), "10.0.0.2/24".parse().unwrap()),
        b.capabilities(),
        now,
    )
    .unwrap();
    let mut router = Router::new();
    install_builtin(&mut router);
    let server = Arc::new(Server::new(ServerConfig::default(), router));
    let server_addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    let mut service = HttpService::new(ib.tcp_mut(), server_addr, 16, server, now).unwrap();

    // One TCP connection, two requests on it: a health check and a 24 KiB echo (many
    // segments at an MSS of MTU − 40).
    let body: Vec<u8> = (0..24 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let conn = ia
        .tcp_mut()
        .connect(
            now,
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0),
            server_addr,
        )
        .unwrap();
    let mut client = HttpClient::new(conn);
    client.send(b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n");
    client.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: b\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = false;
    while Instant::now() < deadline {
        let now = clock.now();
        ia.poll(now, &mut qa);
        ib.poll(now, &mut qb);
        service.poll(now, ib.tcp_mut());
        if client.pump(ia.tcp_mut()).expect("client") >= 2 {
            done = true;
            break;
        }
    }
    assert!(done, "responses did not arrive within 120 s");
    let responses = client.take_responses();
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body, b"ok");
    assert_eq!(responses[1].status, 200);
    assert!(responses[1].body == body, "echoed body differs");
    println!(
        "HTTP over UD: 2 responses, {} + {} bytes; A {:?}; B {:?}",
        responses[0].body.len(),
        responses[1].body.len(),
        qa.stats(),
        qb.stats()
    );

    // Close both ends cleanly, then everything goes back to the pools.
    ia.tcp_mut().close(conn).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && (ia.tcp_mut().connection_count() > 0) {
        let now = clock.now();
        ia.poll(now, &mut qa);
        ib.poll(now, &mut qb);
        service.poll(now, ib.tcp_mut());
    }
    drop((service, ia, ib, qa, qb, a, b));
    assert_eq!((in_use(&pa), in_use(&pb)), (0, 0));
}
