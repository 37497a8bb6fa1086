//! The in-memory link: frames cross byte-exact, latency, bandwidth and bounds hold, drops are
//! counted, RSS steering keeps flows together, and queues open and close properly.

use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryPort, MemoryQueue};
use cyclone_pmd::{
    Clock, MacAddr, PacketBuf, PoolConfig, Port, PortError, Queue, RxQueue, Timestamp, TxQueue,
    VirtualClock,
};
use proptest::prelude::*;

fn link(config: MemoryLinkConfig) -> (VirtualClock, MemoryPort, MemoryPort) {
    let clock = VirtualClock::new();
    let (a, b) = MemoryLink::pair(config, Arc::new(clock.clone())).expect("valid config");
    (clock, a, b)
}

fn open(port: &mut MemoryPort, id: u16) -> MemoryQueue {
    port.open_queue(id).expect("queue opens")
}

/// Sends `frames` in one burst and checks the queue took all of them.
fn send(queue: &mut MemoryQueue, frames: &[Vec<u8>]) {
    let mut bufs: Vec<PacketBuf> = Vec::new();
    for frame in frames {
        let mut buf = queue.pool().alloc().expect("sender pool has a buffer");
        buf.extend_from_slice(frame).expect("frame fits");
        bufs.push(buf);
    }
    assert_eq!(queue.tx_burst(&mut bufs), frames.len());
    assert!(bufs.is_empty());
}

/// Receives everything due now.
fn recv(queue: &mut MemoryQueue) -> Vec<Vec<u8>> {
    let mut bufs = Vec::new();
    while queue.rx_burst(&mut bufs, 16) > 0 {}
    bufs.iter().map(|b| b.data().to_vec()).collect()
}

fn ethernet(ethertype: u16, len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len.max(14)];
    f[..6].copy_from_slice(&MacAddr::local(2).0);
    f[6..12].copy_from_slice(&MacAddr::local(1).0);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f.truncate(len);
    f
}

fn ipv4_frame(
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    vlan: bool,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MacAddr::local(2).0);
    f.extend_from_slice(&MacAddr::local(1).0);
    if vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = b"flow";
    let l4_len = 8 + payload.len();
    let total = (20 + l4_len) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(l4_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn queues_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<MemoryQueue>();
    assert_send::<MemoryPort>();
}

#[test]
fn frames_cross_both_ways_byte_exact() {
    let (_clock, mut a, mut b) = link(MemoryLinkConfig::default());
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));

    let mut tagged = ethernet(0x8100, 1518, 0x5a);
    tagged[16..18].copy_from_slice(&[0x08, 0x00]);
    let a_to_b = vec![
        ethernet(0x0800, 14, 0),
        ethernet(0x0800, 60, 0x11),
        ethernet(0x86dd, 1514, 0x22),
        tagged,
    ];
    let b_to_a: Vec<Vec<u8>> = (0..5u8)
        .map(|i| {
            let mut f = ethernet(0x0806, 42 + usize::from(i) * 100, i);
            for (j, byte) in f.iter_mut().enumerate().skip(14) {
                *byte = (j as u8).wrapping_mul(31).wrapping_add(i);
            }
            f
        })
        .collect();

    send(&mut qa, &a_to_b);
    send(&mut qb, &b_to_a);
    assert_eq!(recv(&mut qb), a_to_b);
    assert_eq!(recv(&mut qa), b_to_a);

    let sa = qa.stats();
    assert_eq!(sa.tx_packets, 4);
    assert_eq!(
        sa.tx_bytes,
        a_to_b.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(sa.rx_packets, 5);
    assert_eq!(
        sa.rx_bytes,
        b_to_a.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(qb.stats().rx_packets, 4);
    assert_eq!(a.tx_wire_stats().frames_delivered, 4);
    assert_eq!(a.rx_wire_stats().frames_delivered, 5);
    assert_eq!(a.link().next_arrival(), None);

    // A wire is a copy: the senders' buffers went back to their pools (and `recv` dropped the
    // received ones).
    for port in [&a, &b] {
        port.pool().flush_thread_cache();
        assert_eq!(port.pool().available(), port.pool().capacity());
    }
}

#[test]
fn latency_is_respected() {
    let latency = Duration::from_millis(5);
    let (clock, mut a, mut b) = link(MemoryLinkConfig {
        latency,
        ..MemoryLinkConfig::default()
    });
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    clock.advance(Duration::from_secs(7));
    let sent = clock.now();

    send(&mut qa, &[ethernet(0x0800, 100, 1)]);
    assert_eq!(b.next_arrival(), Some(sent + latency));
    assert_eq!(qb.next_arrival(), Some(sent + latency));
    assert_eq!(a.next_arrival(), None);
    assert!(recv(&mut qb).is_empty());

    clock.advance_to(Timestamp(sent.as_nanos() + latency.as_nanos() as u64 - 1));
    assert!(recv(&mut qb).is_empty(), "delivered before its time");
    assert_eq!(a.tx_wire_stats().in_flight, 1);

    clock.advance(Duration::from_nanos(1));
    assert_eq!(recv(&mut qb).len(), 1, "not delivered at its time");
    assert_eq!(b.next_arrival(), None);
}

#[test]
fn bandwidth_is_respected() {
    const N: u64 = 10;
    const S: usize = 1000;
    const B: u64 = 8_000_000; // 1 ms per 1000-byte frame
    let latency = Duration::from_millis(2);
    let (clock, mut a, mut b) = link(MemoryLinkConfig {
        latency,
        bandwidth_bps: B,
        ..MemoryLinkConfig::default()
    });
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    let t0 = clock.now();

    let frames: Vec<Vec<u8>> = (0..N as u8).map(|i| ethernet(0x0800, S, i)).collect();
    send(&mut qa, &frames);

    // Jump from arrival to arrival, as a simulation driver does.
    let link = a.link();
    let mut arrivals = Vec::new();
    while let Some(next) = link.next_arrival() {
        clock.advance_to(next);
        for frame in recv(&mut qb) {
            arrivals.push((clock.now(), frame));
        }
    }
    assert_eq!(arrivals.len(), N as usize);
    let per_frame = Duration::from_nanos(S as u64 * 8 * 1_000_000_000 / B);
    for (k, (at, frame)) in arrivals.iter().enumerate() {
        assert_eq!(frame, &frames[k], "arrival order");
        assert_eq!(*at, t0 + per_frame * (k as u32 + 1) + latency, "frame {k}");
    }
    let total = arrivals[N as usize - 1].0.saturating_duration_since(t0);
    assert_eq!(
        total,
        Duration::from_nanos(N * S as u64 * 8 * 1_000_000_000 / B) + latency
    );

    // An idle wire does not queue: a frame sent later only pays its own serialization.
    clock.advance(Duration::from_millis(100));
    let t1 = clock.now();
    send(&mut qa, &[ethernet(0x0800, S, 0xee)]);
    assert_eq!(b.next_arrival(), Some(t1 + per_frame + latency));

    // Directions are independent: b's wire is idle.
    send(&mut qb, &[ethernet(0x0800, S / 2, 0xdd)]);
    assert_eq!(a.next_arrival(), Some(t1 + per_frame / 2 + latency));
}

#[test]
fn in_flight_bound_drops_and_counts() {
    let (clock, mut a, mut b) = link(MemoryLinkConfig {
        max_in_flight: 4,
        latency: Duration::from_millis(1),
        ..MemoryLinkConfig::default()
    });
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    let frames: Vec<Vec<u8>> = (0..10u8).map(|i| ethernet(0x0800, 64, i)).collect();

    // The device takes every frame; those beyond the bound are dropped.
    send(&mut qa, &frames);
    let stats = a.tx_wire_stats();
    assert_eq!(stats.frames_sent, 4);
    assert_eq!(stats.dropped_full, 6);
    assert_eq!(stats.in_flight, 4);
    assert_eq!(qa.stats().tx_packets, 4);

    // Arrived but not yet received still counts against the bound.
    clock.advance(Duration::from_millis(1));
    send(&mut qa, &frames[..1]);
    assert_eq!(a.tx_wire_stats().dropped_full, 7);

    assert_eq!(recv(&mut qb), frames[..4].to_vec());
    assert_eq!(a.tx_wire_stats().in_flight, 0);
    send(&mut qa, &frames[4..8]);
    assert_eq!(a.tx_wire_stats().dropped_full, 7);
    assert_eq!(a.tx_wire_stats().in_flight, 4);
}

#[test]
fn empty_receive_pool_drops_counts_and_recovers() {
    let small = PoolConfig {
        frames: 8,
        ..PoolConfig::default()
    };
    let mut config = MemoryLinkConfig::default();
    config.pools[1] = small;
    let (_clock, mut a, mut b) = link(config);
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    let frames: Vec<Vec<u8>> = (0..12u8).map(|i| ethernet(0x0800, 64, i)).collect();

    send(&mut qa, &frames);
    let mut held = Vec::new();
    while qb.rx_burst(&mut held, 32) > 0 {}
    assert_eq!(held.len(), 8);
    let data: Vec<Vec<u8>> = held.iter().map(|b| b.data().to_vec()).collect();
    assert_eq!(data, frames[..8].to_vec());
    assert_eq!(qb.stats().rx_dropped_no_buffer, 4);
    assert_eq!(qb.stats().rx_packets, 8);
    assert_eq!(b.rx_wire_stats().dropped_no_buffer, 4);
    assert_eq!(b.rx_wire_stats().in_flight, 0);

    // Nothing arrives while the pool stays empty...
    send(&mut qa, &frames[..2]);
    assert_eq!(qb.rx_burst(&mut held, 32), 0);
    assert_eq!(qb.stats().rx_dropped_no_buffer, 6);

    // ...and everything does once the buffers come back.
    drop(held);
    send(&mut qa, &frames[..5]);
    assert_eq!(recv(&mut qb), frames[..5].to_vec());
    assert_eq!(qb.stats().rx_dropped_no_buffer, 6);
}

#[test]
fn oversize_frames_are_taken_dropped_and_counted() {
    let (_clock, mut a, mut b) = link(MemoryLinkConfig::default());
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    let tagged = |len| {
        let mut f = ethernet(0x8100, len, 3);
        f[16..18].copy_from_slice(&[0x08, 0x00]);
        f
    };
    let frames = vec![
        ethernet(0x0800, 1514, 1), // MTU + 14: fits
        ethernet(0x0800, 1515, 2), // one byte too many
        tagged(1518),              // MTU + 18 with a VLAN tag: fits
        tagged(1519),              // one byte too many
    ];
    send(&mut qa, &frames);
    assert_eq!(a.tx_wire_stats().dropped_oversize, 2);
    assert_eq!(a.tx_wire_stats().frames_sent, 2);
    assert_eq!(qa.stats().tx_packets, 2);
    assert_eq!(recv(&mut qb), vec![frames[0].clone(), frames[2].clone()]);
    // The dropped frames went back to the sender's pool too.
    a.pool().flush_thread_cache();
    assert_eq!(a.pool().available(), a.pool().capacity());
}

#[test]
fn rss_keeps_a_flow_on_one_queue_and_spreads_flows() {
    const QUEUES: u16 = 4;
    let (_clock, mut a, mut b) = link(MemoryLinkConfig {
        queues: QUEUES,
        ..MemoryLinkConfig::default()
    });
    let caps = b.capabilities();
    assert_eq!(caps.max_queues, QUEUES);
    assert!(caps.rss);
    let mut qa = open(&mut a, 0);
    let mut qbs: Vec<MemoryQueue> = (0..QUEUES).map(|q| open(&mut b, q)).collect();
    let counts = |qbs: &mut Vec<MemoryQueue>| -> Vec<usize> {
        qbs.iter_mut().map(|q| recv(q).len()).collect()
    };

    // One UDP flow: every frame on the same queue, tagged or not.
    let flow = ipv4_frame(17, [10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000, false);
    let flow_tagged = ipv4_frame(17, [10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000, true);
    send(&mut qa, &vec![flow.clone(); 50]);
    send(&mut qa, &vec![flow_tagged; 50]);
    let got = counts(&mut qbs);
    assert_eq!(got.iter().sum::<usize>(), 100);
    assert_eq!(got.iter().filter(|&&n| n > 0).count(), 1, "{got:?}");

    // Many TCP flows: spread over every queue.
    let flows: Vec<Vec<u8>> = (0..256u16)
        .map(|i| {
            ipv4_frame(
                6,
                [192, 168, 1, (i % 7) as u8],
                [10, 0, 0, 9],
                40000 + i,
                80,
                false,
            )
        })
        .collect();
    send(&mut qa, &flows);
    let got = counts(&mut qbs);
    assert_eq!(got.iter().sum::<usize>(), 256);
    for (q, &n) in got.iter().enumerate() {
        assert!(
            n >= 256 / usize::from(QUEUES) / 2,
            "queue {q} got {n} of 256: {got:?}"
        );
    }

    // Frames without IPv4 go to queue 0.
    send(&mut qa, &vec![ethernet(0x0806, 42, 0); 10]);
    assert_eq!(counts(&mut qbs), vec![10, 0, 0, 0]);
}

#[test]
fn open_queue_errors_and_reopen() {
    let (_clock, mut a, mut b) = link(MemoryLinkConfig {
        queues: 2,
        ..MemoryLinkConfig::default()
    });
    assert_eq!(a.name(), "mem0");
    assert_eq!(b.name(), "mem1");
    assert_eq!(a.mac(), MacAddr::local(1));
    assert_eq!(b.mac(), MacAddr::local(2));
    let caps = a.capabilities();
    assert_eq!(
        (caps.mtu, caps.max_queues, caps.rss, caps.tso),
        (1500, 2, true, false)
    );
    assert!(!caps.rx_checksum.ipv4 && !caps.tx_checksum.tcp);

    assert!(matches!(
        a.open_queue(2),
        Err(PortError::NoSuchQueue {
            queue: 2,
            queues: 2
        })
    ));
    let q0 = open(&mut a, 0);
    assert_eq!(q0.id(), 0);
    assert!(matches!(a.open_queue(0), Err(PortError::QueueInUse(0))));
    let q1 = open(&mut a, 1);
    assert_eq!(q1.id(), 1);
    // The peer's queues are its own.
    let _b0 = open(&mut b, 0);
    drop(q0);
    let again = open(&mut a, 0);
    assert_eq!(again.id(), 0);

    let (_clock, single, _) = link(MemoryLinkConfig::default());
    let caps = single.capabilities();
    assert_eq!((caps.max_queues, caps.rss), (1, false));
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = |config: MemoryLinkConfig| {
        MemoryLink::pair(config, Arc::new(VirtualClock::new())).map(|_| ())
    };
    let zero_queues = MemoryLinkConfig {
        queues: 0,
        ..MemoryLinkConfig::default()
    };
    assert!(matches!(bad(zero_queues), Err(PortError::Config(_))));
    let tiny_mtu = MemoryLinkConfig {
        mtu: 40,
        ..MemoryLinkConfig::default()
    };
    assert!(matches!(bad(tiny_mtu), Err(PortError::Config(_))));
    let no_room = MemoryLinkConfig {
        max_in_flight: 0,
        ..MemoryLinkConfig::default()
    };
    assert!(matches!(bad(no_room), Err(PortError::Config(_))));
    let mut small_frames = MemoryLinkConfig::default();
    small_frames.pools[0].headroom = 1024;
    let err = bad(small_frames).expect_err("a 1518-byte frame does not fit 1024 bytes");
    assert!(err.to_string().contains("port 0"), "{err}");
    let mut bad_pool = MemoryLinkConfig::default();
    bad_pool.pools[1].frame_size = 1000;
    assert!(matches!(bad(bad_pool), Err(PortError::Pool(_))));
}

#[test]
fn ping_pong_on_a_virtual_clock() {
    let latency = Duration::from_micros(250);
    let (clock, mut a, mut b) = link(MemoryLinkConfig {
        latency,
        bandwidth_bps: 1_000_000_000,
        ..MemoryLinkConfig::default()
    });
    let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
    let link = a.link();
    let frame = ethernet(0x0800, 125, 9); // 1000 bits: 1 us at 1 Gbit/s
    send(&mut qa, std::slice::from_ref(&frame));
    let mut round_trips = 0;
    while let Some(next) = link.next_arrival() {
        clock.advance_to(next);
        let at_b = recv(&mut qb);
        if !at_b.is_empty() {
            send(&mut qb, &at_b); // echo
        }
        let at_a = recv(&mut qa);
        if !at_a.is_empty() {
            assert_eq!(at_a, vec![frame.clone()]);
            round_trips += 1;
            if round_trips < 100 {
                send(&mut qa, &at_a);
            }
        }
    }
    assert_eq!(round_trips, 100);
    let one_way = latency + Duration::from_micros(1);
    assert_eq!(clock.now(), Timestamp::ZERO + one_way * 200);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any burst of frames up to the MTU crosses unchanged and in order.
    #[test]
    fn any_frames_cross_unchanged(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=1514), 1..32),
        latency_us in 0u64..1000,
        bandwidth in prop_oneof![Just(0u64), 1_000_000u64..10_000_000_000],
    ) {
        let (clock, mut a, mut b) = link(MemoryLinkConfig {
            latency: Duration::from_micros(latency_us),
            bandwidth_bps: bandwidth,
            ..MemoryLinkConfig::default()
        });
        let (mut qa, mut qb) = (open(&mut a, 0), open(&mut b, 0));
        send(&mut qa, &frames);
        let mut got = Vec::new();
        while let Some(next) = b.next_arrival() {
            clock.advance_to(next);
            got.extend(recv(&mut qb));
        }
        prop_assert_eq!(got, frames);
    }
}
