//! The interface (`cyclone_stack::iface`) end to end on an in-memory link with a virtual
//! clock: two `Interface`s talking to each other, or one `Interface` and a raw queue on which
//! the test writes and reads frames byte by byte. Deterministic: time only moves when the
//! simulation loop jumps the clock to the next event (`poll_at` / `next_arrival`).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryQueue};
use cyclone_pmd::{
    Capabilities, Clock, MacAddr, PacketBuf, Pool, PoolConfig, Port, Queue, QueueStats, RxQueue,
    Timestamp, TxQueue, VirtualClock,
};
use cyclone_stack::iface::{
    ConfigError, Interface, InterfaceConfig, Ipv4Cidr, PingError, UdpError, UdpIcmpError,
};
use cyclone_stack::tcp::{ConnHandle, Payload, PlainSegment, SegmentSink};
use cyclone_stack::wire::{
    ArpOperation, ArpPacket, ArpRepr, ErrorKind, EtherType, EthernetFrame, EthernetRepr,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Layer, RxChecksum, TcpFlags,
    TcpOptions, TcpPacket, TcpRepr, TxChecksum, UdpPacket, UdpRepr, UnreachableCode,
};

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NOBODY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);

fn mac_a() -> MacAddr {
    MacAddr::local(1)
}

fn mac_b() -> MacAddr {
    MacAddr::local(2)
}

fn config(mac: MacAddr, ip: Ipv4Addr) -> InterfaceConfig {
    InterfaceConfig::new(mac, Ipv4Cidr::new(ip, 24))
}

/// A link with an `Interface` on port 0 and, on port 1, either another `Interface` or a raw
/// queue driven by the test.
struct Sim {
    clock: VirtualClock,
    _link: MemoryLink,
    a: Interface,
    qa: MemoryQueue,
    b: Option<Interface>,
    qb: MemoryQueue,
}

impl Sim {
    fn with(ca: InterfaceConfig, cb: Option<InterfaceConfig>, frames: u32) -> Sim {
        let clock = VirtualClock::new();
        let pool = PoolConfig {
            frames,
            ..PoolConfig::default()
        };
        let link_config = MemoryLinkConfig {
            latency: Duration::from_micros(10),
            pools: [pool, pool],
            ..MemoryLinkConfig::default()
        };
        let (mut pa, mut pb) = MemoryLink::pair(link_config, Arc::new(clock.clone())).unwrap();
        let caps = pa.capabilities();
        let now = clock.now();
        let a = Interface::new(ca, caps, now).unwrap();
        let b = cb.map(|cb| Interface::new(cb, pb.capabilities(), now).unwrap());
        Sim {
            clock,
            _link: pa.link(),
            qa: pa.open_queue(0).unwrap(),
            qb: pb.open_queue(0).unwrap(),
            a,
            b,
        }
    }

    /// A (10.0.0.1) and B (10.0.0.2), both interfaces.
    fn pair() -> Sim {
        Sim::with(config(mac_a(), A_IP), Some(config(mac_b(), B_IP)), 1024)
    }

    /// A (10.0.0.1) and a raw queue.
    fn raw(ca: InterfaceConfig) -> Sim {
        Sim::with(ca, None, 1024)
    }

    /// [`Sim::pair`] with a TCP connection from A to B's port 80, established: the
    /// simulation, A's end and B's (accepted) end.
    fn tcp_pair() -> (Sim, ConnHandle, ConnHandle) {
        let mut sim = Sim::pair();
        let listener = sim
            .b()
            .tcp_mut()
            .listen(SocketAddrV4::new(B_IP, 80), 4)
            .unwrap();
        let now = sim.now();
        let conn = sim
            .a
            .tcp_mut()
            .connect(now, SocketAddrV4::new(A_IP, 0), SocketAddrV4::new(B_IP, 80))
            .unwrap();
        sim.run_for(Duration::from_millis(5));
        let server = sim.b().tcp_mut().accept(listener).expect("accepted");
        (sim, conn, server)
    }

    fn b(&mut self) -> &mut Interface {
        self.b.as_mut().expect("B is an interface")
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn poll_all(&mut self) {
        let now = self.now();
        self.a.poll(now, &mut self.qa);
        if let Some(b) = self.b.as_mut() {
            b.poll(now, &mut self.qb);
        }
    }

    fn next_event(&self) -> Option<Timestamp> {
        let mut events = vec![self.a.poll_at(), self.qa.next_arrival()];
        if let Some(b) = &self.b {
            events.push(b.poll_at());
            events.push(self.qb.next_arrival());
        }
        events.into_iter().flatten().min()
    }

    /// Polls and jumps the clock from event to event until `now + d`.
    fn run_for(&mut self, d: Duration) {
        let end = self.now() + d;
        for _ in 0..100_000 {
            self.poll_all();
            match self.next_event() {
                Some(t) if t <= end => self.clock.advance_to(t),
                _ => {
                    self.clock.advance_to(end);
                    self.poll_all();
                    return;
                }
            }
        }
        panic!("the simulation did not settle");
    }

    /// Sends a frame from the raw side.
    fn send_raw(&mut self, frame: &[u8]) {
        let mut buf = self.qb.pool().alloc().unwrap();
        buf.extend_from_slice(frame).unwrap();
        let mut burst = vec![buf];
        assert_eq!(self.qb.tx_burst(&mut burst), 1);
    }

    /// Every frame that reached the raw side.
    fn recv_raw(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut burst = Vec::new();
        while self.qb.rx_burst(&mut burst, 64) > 0 {
            out.extend(burst.drain(..).map(|b| b.data().to_vec()));
        }
        out
    }
}

// ---- frame builders and parsers (the test's own, from the wire Reprs) ----

fn eth(dst: MacAddr, src: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        src,
        dst,
        ethertype,
        vlan: None,
    };
    let mut out = vec![0u8; 14];
    repr.emit(&mut out).unwrap();
    out.extend_from_slice(payload);
    out
}

fn ipv4_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload: &[u8],
    tweak: impl FnOnce(&mut Ipv4Repr),
) -> Vec<u8> {
    let mut repr = Ipv4Repr::new(src, dst, protocol, payload.len());
    tweak(&mut repr);
    let mut out = vec![0u8; 20];
    repr.emit(&mut out, TxChecksum::Compute).unwrap();
    out.extend_from_slice(payload);
    out
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    ipv4_with(src, dst, protocol, payload, |_| {})
}

fn udp(src: SocketAddrV4, dst: SocketAddrV4, data: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let mut out = vec![0u8; 8];
    out.extend_from_slice(data);
    repr.emit(&mut out, *src.ip(), *dst.ip(), TxChecksum::Compute)
        .unwrap();
    out
}

/// A UDP frame from the raw side (B) to A.
fn udp_frame_to_a(dst_port: u16, data: &[u8]) -> Vec<u8> {
    let src = SocketAddrV4::new(B_IP, 4000);
    let dst = SocketAddrV4::new(A_IP, dst_port);
    eth(
        mac_a(),
        mac_b(),
        EtherType::IPV4,
        &ipv4(B_IP, A_IP, IpProtocol::UDP, &udp(src, dst, data)),
    )
}

fn arp_frame(eth_dst: MacAddr, repr: ArpRepr) -> Vec<u8> {
    let mut arp = vec![0u8; 28];
    repr.emit(&mut arp).unwrap();
    eth(eth_dst, repr.source_mac, EtherType::ARP, &arp)
}

fn parse_eth(frame: &[u8]) -> (EthernetRepr, &[u8]) {
    let f = EthernetFrame::new_checked(frame).unwrap();
    (EthernetRepr::parse(&f), f.into_payload())
}

fn parse_arp(frame: &[u8]) -> Option<ArpRepr> {
    let (e, payload) = parse_eth(frame);
    if e.ethertype != EtherType::ARP {
        return None;
    }
    Some(ArpRepr::parse(&ArpPacket::new_checked(payload).unwrap()).unwrap())
}

/// Ethernet and IPv4 headers (IPv4 checksum verified) and the IPv4 payload.
fn parse_ipv4(frame: &[u8]) -> Option<(EthernetRepr, Ipv4Repr, Vec<u8>)> {
    let (e, payload) = parse_eth(frame);
    if e.ethertype != EtherType::IPV4 {
        return None;
    }
    let p = Ipv4Packet::new_checked(payload).unwrap();
    let ip = Ipv4Repr::parse(&p, RxChecksum::Verify).unwrap();
    Some((e, ip, p.payload().to_vec()))
}

fn ipv4_frames(frames: &[Vec<u8>]) -> Vec<(EthernetRepr, Ipv4Repr, Vec<u8>)> {
    frames.iter().filter_map(|f| parse_ipv4(f)).collect()
}

fn arp_frames(frames: &[Vec<u8>]) -> Vec<ArpRepr> {
    frames.iter().filter_map(|f| parse_arp(f)).collect()
}

/// Makes A learn B's MAC from the raw side (an ARP request for A from B).
fn teach_a_about_b(sim: &mut Sim) {
    sim.send_raw(&arp_frame(
        MacAddr::BROADCAST,
        ArpRepr::request(mac_b(), B_IP, A_IP),
    ));
    sim.run_for(Duration::from_millis(1));
}

// ---- ARP ----

#[test]
fn gratuitous_arp_on_first_poll() {
    let mut c = config(mac_a(), A_IP);
    c.addresses
        .push(Ipv4Cidr::new(Ipv4Addr::new(192, 168, 7, 1), 24));
    let mut sim = Sim::raw(c);
    assert_eq!(sim.a.poll_at(), Some(Timestamp::ZERO));
    sim.run_for(Duration::from_millis(1));
    let frames = sim.recv_raw();
    assert_eq!(frames.len(), 2);
    for (frame, ip) in frames.iter().zip([A_IP, Ipv4Addr::new(192, 168, 7, 1)]) {
        let (e, _) = parse_eth(frame);
        assert_eq!(e.dst, MacAddr::BROADCAST);
        assert_eq!(e.src, mac_a());
        let arp = parse_arp(frame).unwrap();
        assert_eq!(arp.operation, ArpOperation::Request);
        assert_eq!((arp.source_ip, arp.target_ip), (ip, ip));
        assert_eq!(arp.source_mac, mac_a());
    }
    assert_eq!(sim.a.stats().arp_tx_gratuitous, 2);
    // Only once.
    sim.run_for(Duration::from_secs(5));
    assert!(sim.recv_raw().is_empty());
    assert_eq!(sim.a.poll_at(), None);
}

#[test]
fn arp_request_answered_in_place_and_sender_learned() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let request = ArpRepr::request(mac_b(), B_IP, A_IP);
    sim.send_raw(&arp_frame(MacAddr::BROADCAST, request));
    sim.run_for(Duration::from_millis(1));
    let frames = sim.recv_raw();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0], arp_frame(mac_b(), request.reply(mac_a())));
    assert_eq!(sim.a.stats().arp_rx_requests, 1);
    assert_eq!(sim.a.stats().arp_tx_replies, 1);
    let now = sim.now();
    assert_eq!(sim.a.arp_lookup(B_IP, now), Some(mac_b()));
}

#[test]
fn arp_resolution_holds_the_first_frame_then_sends_it() {
    let mut sim = Sim::pair();
    sim.run_for(Duration::from_millis(1));
    let hb = sim.b().udp_bind(7000).unwrap();
    let ha = sim.a.udp_bind(0).unwrap();
    let dst = SocketAddrV4::new(B_IP, 7000);
    sim.a.udp_send_to(ha, dst, b"first").unwrap();
    // Held for ARP: only the request is out.
    let out = sim.a.poll(sim.now(), &mut sim.qa);
    assert_eq!(out.transmitted, 1);
    assert_eq!(sim.a.stats().arp_tx_requests, 1);
    assert_eq!(sim.b().udp_queued(hb), 0);
    sim.run_for(Duration::from_millis(1));
    let mut buf = [0u8; 64];
    let (n, from) = sim.b().udp_recv_from(hb, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"first");
    assert_eq!(from.ip(), &A_IP);
    // Resolved both ways (B learned A from the request): no more ARP.
    sim.a.udp_send_to(ha, dst, b"second").unwrap();
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.b().udp_recv_from(hb, &mut buf).unwrap().0, 6);
    assert_eq!(sim.a.stats().arp_tx_requests, 1);
    assert_eq!(sim.b().stats().arp_tx_requests, 0);
    assert_eq!(sim.b().stats().arp_tx_replies, 1);
}

#[test]
fn arp_cache_entries_expire() {
    let mut ca = config(mac_a(), A_IP);
    ca.arp_cache_timeout = Duration::from_secs(5);
    let mut sim = Sim::with(ca, Some(config(mac_b(), B_IP)), 1024);
    let hb = sim.b().udp_bind(7000).unwrap();
    let ha = sim.a.udp_bind(7001).unwrap();
    let dst = SocketAddrV4::new(B_IP, 7000);
    sim.run_for(Duration::from_millis(1));
    sim.a.udp_send_to(ha, dst, b"1").unwrap();
    sim.run_for(Duration::from_secs(4));
    sim.a.udp_send_to(ha, dst, b"2").unwrap();
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().arp_tx_requests, 1);
    sim.run_for(Duration::from_secs(2));
    let now = sim.now();
    assert_eq!(sim.a.arp_lookup(B_IP, now), None);
    sim.a.udp_send_to(ha, dst, b"3").unwrap();
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().arp_tx_requests, 2);
    assert_eq!(sim.b().udp_queued(hb), 3);
}

#[test]
fn arp_retries_then_gives_up_and_counts() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    let h = sim.a.udp_bind(0).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    sim.a
        .udp_send_to(h, SocketAddrV4::new(NOBODY, 9), b"x")
        .unwrap();
    sim.a
        .udp_send_to(h, SocketAddrV4::new(NOBODY, 9), b"y")
        .unwrap();
    // First request now, retries at +1 s, +2 s, +3 s; given up at +4 s.
    sim.run_for(Duration::from_millis(3500));
    assert_eq!(sim.a.stats().arp_tx_requests, 4);
    assert_eq!(sim.a.stats().drop_arp_timeout, 0);
    sim.run_for(Duration::from_secs(1));
    let stats = sim.a.stats();
    assert_eq!(stats.arp_tx_requests, 4);
    assert_eq!(stats.arp_resolution_failed, 1);
    assert_eq!(stats.drop_arp_timeout, 2);
    let requests = arp_frames(&sim.recv_raw());
    assert_eq!(requests.len(), 4);
    assert!(requests
        .iter()
        .all(|r| r.target_ip == NOBODY && r.source_ip == A_IP));
    assert_eq!(sim.a.poll_at(), None);
}

#[test]
fn pending_queue_overflow_drops_the_oldest_and_counts() {
    let mut sim = Sim::pair();
    sim.run_for(Duration::from_millis(1));
    let hb = sim.b().udp_bind(7000).unwrap();
    let ha = sim.a.udp_bind(0).unwrap();
    for i in 0..20u8 {
        sim.a
            .udp_send_to(ha, SocketAddrV4::new(B_IP, 7000), &[i])
            .unwrap();
    }
    assert_eq!(sim.a.stats().drop_arp_pending_overflow, 4);
    sim.run_for(Duration::from_millis(1));
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    while let Some((n, _)) = sim.b().udp_recv_from(hb, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, (4..20).collect::<Vec<u8>>());
}

#[test]
fn arp_not_for_us_is_ignored() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    sim.send_raw(&arp_frame(
        MacAddr::BROADCAST,
        ArpRepr::request(mac_b(), B_IP, Ipv4Addr::new(10, 0, 0, 77)),
    ));
    sim.run_for(Duration::from_millis(1));
    assert!(sim.recv_raw().is_empty());
    assert_eq!(sim.a.stats().arp_ignored, 1);
    let now = sim.now();
    assert_eq!(sim.a.arp_lookup(B_IP, now), None);
}

// ---- ICMP ----

/// An ICMP message's bytes, checksum filled.
fn icmp_bytes(repr: &Icmpv4Repr) -> Vec<u8> {
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, TxChecksum::Compute).unwrap();
    out
}

#[test]
fn ping_is_answered_byte_exact() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    for len in [0usize, 56, 1472] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let echo = |request: bool| {
            let repr = if request {
                Icmpv4Repr::EchoRequest {
                    ident: 0x1234,
                    seq_no: 7,
                    data: &data,
                }
            } else {
                Icmpv4Repr::EchoReply {
                    ident: 0x1234,
                    seq_no: 7,
                    data: &data,
                }
            };
            icmp_bytes(&repr)
        };
        let request = eth(
            mac_a(),
            mac_b(),
            EtherType::IPV4,
            &ipv4_with(B_IP, A_IP, IpProtocol::ICMP, &echo(true), |ip| {
                ip.dscp_ecn = 0x28;
                ip.ttl = 3;
            }),
        );
        sim.send_raw(&request);
        sim.run_for(Duration::from_millis(1));
        let frames = sim.recv_raw();
        assert_eq!(frames.len(), 1, "payload {len}");
        let (e, ip, icmp) = parse_ipv4(&frames[0]).unwrap();
        assert_eq!((e.src, e.dst), (mac_a(), mac_b()));
        assert_eq!(
            (ip.src, ip.dst, ip.protocol),
            (A_IP, B_IP, IpProtocol::ICMP)
        );
        assert_eq!((ip.ttl, ip.dscp_ecn, ip.is_fragment()), (64, 0x28, false));
        assert_eq!(icmp, echo(false), "payload {len}");
    }
    let stats = sim.a.stats();
    assert_eq!(stats.icmp_in.echo_request, 3);
    assert_eq!(stats.icmp_out.echo_reply, 3);
}

#[test]
fn one_stack_pings_the_other() {
    let mut sim = Sim::pair();
    // The first poll gives the interface its pool; B's MAC is not known yet, so the request
    // waits for ARP, then leaves.
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().arp_tx_requests, 0);
    let data: Vec<u8> = (0..56u8).collect();
    sim.a.ping(B_IP, 0x4242, 1, &data).unwrap();
    sim.run_for(Duration::from_millis(1));
    let reply = sim.a.take_echo_reply().expect("an echo reply");
    assert_eq!((reply.from, reply.ident, reply.seq_no), (B_IP, 0x4242, 1));
    assert_eq!(reply.data.data(), &data[..]);
    assert!(sim.a.take_echo_reply().is_none());
    // Every size up to the MTU's limit, byte-exact.
    for (seq, len) in [(2u16, 0usize), (3, 1), (4, 1472)] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        sim.a.ping(B_IP, 0x4242, seq, &data).unwrap();
        sim.run_for(Duration::from_millis(1));
        let reply = sim.a.take_echo_reply().expect("an echo reply");
        assert_eq!((reply.seq_no, reply.data.data()), (seq, &data[..]));
    }
    let (a, b) = (sim.a.stats().clone(), sim.b().stats().clone());
    assert_eq!((a.icmp_out.echo_request, b.icmp_in.echo_request), (4, 4));
    assert_eq!((b.icmp_out.echo_reply, a.icmp_in.echo_reply), (4, 4));
    assert_eq!(a.arp_tx_requests, 1);
    // Bad requests are refused, not sent.
    assert_eq!(
        sim.a.ping(B_IP, 1, 1, &[0u8; 1473]),
        Err(PingError::TooLarge {
            len: 1473,
            max: 1472
        })
    );
    for bad in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        assert_eq!(
            sim.a.ping(bad, 1, 1, b"x"),
            Err(PingError::BadDestination(bad))
        );
    }
    // Replies nobody takes are bounded: the oldest go, counted.
    for seq in 0..20u16 {
        sim.a.ping(B_IP, 7, seq, b"flood").unwrap();
    }
    sim.run_for(Duration::from_millis(1));
    let kept: Vec<u16> = std::iter::from_fn(|| sim.a.take_echo_reply().map(|r| r.seq_no)).collect();
    assert_eq!(kept, (4..20).collect::<Vec<u16>>());
    assert_eq!(sim.a.stats().drop_echo_reply_overflow, 4);
}

#[test]
fn unsolicited_echo_replies_are_counted_not_kept() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let repr = Icmpv4Repr::EchoReply {
        ident: 9,
        seq_no: 9,
        data: b"nobody asked",
    };
    let icmp = icmp_bytes(&repr);
    let frame = eth(
        mac_a(),
        mac_b(),
        EtherType::IPV4,
        &ipv4_with(B_IP, A_IP, IpProtocol::ICMP, &icmp, |_| {}),
    );
    sim.send_raw(&frame);
    sim.run_for(Duration::from_millis(1));
    assert!(sim.a.take_echo_reply().is_none());
    assert_eq!(sim.a.stats().icmp_in.echo_reply, 1);
    assert!(sim.recv_raw().is_empty());
}

#[test]
fn ping_with_ip_options_is_answered_without_them() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let repr = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"abcdefgh",
    };
    let icmp = icmp_bytes(&repr);
    // A 24-byte header: 4 bytes of options (NOP NOP NOP EOL).
    let mut ip = ipv4(B_IP, A_IP, IpProtocol::ICMP, &icmp);
    ip.splice(20..20, [1, 1, 1, 0]);
    ip[0] = 0x46;
    let total = (ip.len() as u16).to_be_bytes();
    ip[2..4].copy_from_slice(&total);
    ip[10..12].copy_from_slice(&[0, 0]);
    let sum = !cyclone_stack::wire::checksum::sum(&ip[..24]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    sim.send_raw(&eth(mac_a(), mac_b(), EtherType::IPV4, &ip));
    sim.run_for(Duration::from_millis(1));
    let frames = sim.recv_raw();
    let (_, reply_ip, reply) = parse_ipv4(&frames[0]).unwrap();
    assert_eq!(frames[0].len(), 14 + 20 + 16);
    assert_eq!(reply_ip.dst, B_IP);
    let packet = Icmpv4Packet::new_checked(&reply[..]).unwrap();
    assert!(packet.verify_checksum());
    assert_eq!(packet.data(), b"abcdefgh");
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable() {
    let mut sim = Sim::pair();
    sim.run_for(Duration::from_millis(1));
    let ha = sim.a.udp_bind(5555).unwrap();
    let closed = SocketAddrV4::new(B_IP, 9999);
    sim.a.udp_send_to(ha, closed, b"anyone?").unwrap();
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.b().stats().udp_no_port, 1);
    assert_eq!(sim.b().stats().icmp_out.port_unreachable, 1);
    assert_eq!(sim.a.stats().icmp_in.port_unreachable, 1);
    assert_eq!(
        sim.a.udp_take_error(ha),
        Some(UdpIcmpError {
            remote: closed,
            code: UnreachableCode::PORT
        })
    );
    assert_eq!(sim.a.udp_take_error(ha), None);
}

#[test]
fn unknown_protocol_gets_protocol_unreachable_quoting_header_and_8_bytes() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let payload: Vec<u8> = (100..130).collect();
    let original = ipv4(B_IP, A_IP, IpProtocol(253), &payload);
    sim.send_raw(&eth(mac_a(), mac_b(), EtherType::IPV4, &original));
    sim.run_for(Duration::from_millis(1));
    let frames = sim.recv_raw();
    assert_eq!(frames.len(), 1);
    let (e, ip, icmp) = parse_ipv4(&frames[0]).unwrap();
    assert_eq!(e.dst, mac_b());
    assert_eq!(
        (ip.src, ip.dst, ip.protocol),
        (A_IP, B_IP, IpProtocol::ICMP)
    );
    let packet = Icmpv4Packet::new_checked(&icmp[..]).unwrap();
    assert!(packet.verify_checksum());
    assert_eq!((packet.msg_type().0, packet.code()), (3, 2));
    assert_eq!(packet.header().word1.get(), 0);
    assert_eq!(packet.header().word2.get(), 0);
    assert_eq!(packet.data(), &original[..28]);
    let stats = sim.a.stats();
    assert_eq!(stats.icmp_out.protocol_unreachable, 1);
    // An unknown protocol to a broadcast address gets nothing.
    let bcast = ipv4(
        B_IP,
        Ipv4Addr::new(10, 0, 0, 255),
        IpProtocol(253),
        &payload,
    );
    sim.send_raw(&eth(MacAddr::BROADCAST, mac_b(), EtherType::IPV4, &bcast));
    sim.run_for(Duration::from_millis(1));
    assert!(sim.recv_raw().is_empty());
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut c = config(mac_a(), A_IP);
    c.icmp_error_burst = 3;
    c.icmp_error_rate = 1;
    let mut sim = Sim::raw(c);
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    for _ in 0..10 {
        sim.send_raw(&udp_frame_to_a(9, b"x"));
    }
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.recv_raw().len(), 3);
    assert_eq!(sim.a.stats().icmp_rate_limited, 7);
    assert_eq!(sim.a.stats().udp_no_port, 10);
    sim.run_for(Duration::from_secs(1));
    sim.send_raw(&udp_frame_to_a(9, b"x"));
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.recv_raw().len(), 1);
}

// ---- UDP ----

#[test]
fn udp_exchange_both_ways() {
    let mut sim = Sim::pair();
    let ha = sim.a.udp_bind(5000).unwrap();
    let hb = sim.b().udp_bind(6000).unwrap();
    assert_eq!(sim.a.udp_bind(5000), Err(UdpError::PortInUse(5000)));
    sim.run_for(Duration::from_millis(1));
    sim.a
        .udp_send_to(ha, SocketAddrV4::new(B_IP, 6000), b"hello")
        .unwrap();
    sim.run_for(Duration::from_millis(1));
    let mut buf = [0u8; 3];
    // Truncated to the caller's buffer, like recvfrom(2).
    let (n, from) = sim.b().udp_recv_from(hb, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"hel"[..], SocketAddrV4::new(A_IP, 5000))
    );
    sim.b().udp_send_to(hb, from, b"world").unwrap();
    sim.run_for(Duration::from_millis(1));
    let (peer, datagram): (SocketAddrV4, PacketBuf) = sim.a.udp_recv(ha).unwrap();
    assert_eq!(peer, SocketAddrV4::new(B_IP, 6000));
    assert_eq!(datagram.data(), b"world");
    assert!(sim.a.udp_recv(ha).is_none());
    let (a, b) = (sim.a.stats().clone(), sim.b().stats().clone());
    assert_eq!((a.tx_udp, a.rx_udp, b.tx_udp, b.rx_udp), (1, 1, 1, 1));
    assert_eq!(a.wire_drops_total() + b.wire_drops_total(), 0);
}

#[test]
fn udp_send_errors() {
    let mut sim = Sim::pair();
    sim.run_for(Duration::from_millis(1));
    let h = sim.a.udp_bind(5000).unwrap();
    let b = SocketAddrV4::new(B_IP, 6000);
    assert_eq!(
        sim.a.udp_send_to(h, b, &[0u8; 1473]),
        Err(UdpError::TooLarge {
            len: 1473,
            max: 1472
        })
    );
    assert!(sim.a.udp_send_to(h, b, &[0u8; 1472]).is_ok());
    let far = Ipv4Addr::new(8, 8, 8, 8);
    assert_eq!(
        sim.a.udp_send_to(h, SocketAddrV4::new(far, 53), b"q"),
        Err(UdpError::NoRoute(far))
    );
    assert_eq!(sim.a.stats().drop_no_route, 1);
    assert_eq!(
        sim.a.udp_send_to(h, SocketAddrV4::new(B_IP, 0), b"q"),
        Err(UdpError::BadDestination(SocketAddrV4::new(B_IP, 0)))
    );
    sim.a.udp_close(h).unwrap();
    assert_eq!(sim.a.udp_send_to(h, b, b"q"), Err(UdpError::InvalidHandle));
}

#[test]
fn udp_receive_queue_is_bounded_and_checksum_zero_accepted() {
    let mut c = config(mac_a(), A_IP);
    c.udp_rx_queue_len = 4;
    let mut sim = Sim::raw(c);
    let h = sim.a.udp_bind(7).unwrap();
    sim.run_for(Duration::from_millis(1));
    for i in 0..6u8 {
        let mut frame = udp_frame_to_a(7, &[i]);
        if i == 0 {
            // No checksum (RFC 768: zero means none).
            frame[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
        }
        sim.send_raw(&frame);
    }
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.udp_queued(h), 4);
    assert_eq!(sim.a.stats().drop_udp_rx_queue_full, 2);
    assert_eq!(sim.a.udp_recv(h).unwrap().1.data(), &[0]);
}

#[test]
fn udp_broadcast_is_delivered_and_never_answered_with_icmp() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    let h = sim.a.udp_bind(67).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    for port in [67, 68] {
        let src = SocketAddrV4::new(B_IP, 4000);
        let dst = SocketAddrV4::new(Ipv4Addr::BROADCAST, port);
        let dgram = udp(src, dst, b"bcast");
        let frame = eth(
            MacAddr::BROADCAST,
            mac_b(),
            EtherType::IPV4,
            &ipv4(B_IP, Ipv4Addr::BROADCAST, IpProtocol::UDP, &dgram),
        );
        sim.send_raw(&frame);
    }
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.udp_queued(h), 1);
    assert_eq!(sim.a.stats().udp_no_port, 1);
    assert!(sim.recv_raw().is_empty());
}

// ---- IPv4 input validation ----

#[test]
fn fragments_are_dropped_and_counted() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    let h = sim.a.udp_bind(7).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let dgram = udp(
        SocketAddrV4::new(B_IP, 4000),
        SocketAddrV4::new(A_IP, 7),
        b"part",
    );
    let first = ipv4_with(B_IP, A_IP, IpProtocol::UDP, &dgram, |ip| {
        ip.dont_frag = false;
        ip.more_frags = true;
    });
    let later = ipv4_with(B_IP, A_IP, IpProtocol::UDP, &dgram, |ip| {
        ip.dont_frag = false;
        ip.frag_offset = 64;
    });
    for ip in [first, later] {
        sim.send_raw(&eth(mac_a(), mac_b(), EtherType::IPV4, &ip));
    }
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().drop_fragment, 2);
    assert_eq!(sim.a.udp_queued(h), 0);
    // No ICMP about fragments.
    assert!(sim.recv_raw().is_empty());
}

#[test]
fn malformed_packets_are_dropped_and_counted_by_reason() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    let h = sim.a.udp_bind(7).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    // Bad IPv4 header checksum.
    let mut frame = udp_frame_to_a(7, b"x");
    frame[14 + 10] ^= 0xff;
    sim.send_raw(&frame);
    // Bad UDP checksum.
    let mut frame = udp_frame_to_a(7, b"x");
    let last = frame.len() - 1;
    frame[last] ^= 0xff;
    sim.send_raw(&frame);
    // Total length beyond the frame.
    let mut frame = udp_frame_to_a(7, b"x");
    frame[14 + 2..14 + 4].copy_from_slice(&200u16.to_be_bytes());
    sim.send_raw(&frame);
    // Runt Ethernet frame.
    sim.send_raw(&[0xff; 10]);
    sim.run_for(Duration::from_millis(1));
    let s = sim.a.stats();
    assert_eq!(s.wire_drops(Layer::Ipv4, ErrorKind::BadChecksum), 1);
    assert_eq!(s.wire_drops(Layer::Udp, ErrorKind::BadChecksum), 1);
    assert_eq!(s.wire_drops(Layer::Ipv4, ErrorKind::Truncated), 1);
    assert_eq!(s.wire_drops(Layer::Ethernet, ErrorKind::Truncated), 1);
    assert_eq!(s.wire_drops_total(), 4);
    assert_eq!(sim.a.udp_queued(h), 0);
    assert!(sim.recv_raw().is_empty());
}

#[test]
fn frames_for_another_mac_or_ip_are_ignored() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    let h = sim.a.udp_bind(7).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let mut other_mac = udp_frame_to_a(7, b"x");
    other_mac[..6].copy_from_slice(&MacAddr::local(99).0);
    sim.send_raw(&other_mac);
    let dgram = udp(
        SocketAddrV4::new(B_IP, 4000),
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 7),
        b"x",
    );
    let other_ip = ipv4(B_IP, Ipv4Addr::new(10, 0, 0, 77), IpProtocol::UDP, &dgram);
    sim.send_raw(&eth(mac_a(), mac_b(), EtherType::IPV4, &other_ip));
    // Our IP, but sent to the Ethernet broadcast address (RFC 1122 §3.3.6).
    let mut l2_bcast = udp_frame_to_a(7, b"x");
    l2_bcast[..6].copy_from_slice(&MacAddr::BROADCAST.0);
    sim.send_raw(&l2_bcast);
    sim.send_raw(&eth(mac_a(), mac_b(), EtherType::IPV6, &[0; 40]));
    sim.run_for(Duration::from_millis(1));
    let s = sim.a.stats();
    assert_eq!(s.drop_not_our_mac, 1);
    assert_eq!(s.drop_not_our_ip, 2);
    assert_eq!(s.drop_unknown_ethertype, 1);
    assert_eq!(sim.a.udp_queued(h), 0);
    assert!(sim.recv_raw().is_empty());
}

// ---- routing ----

#[test]
fn off_link_destination_goes_to_the_gateway_mac() {
    let gateway = Ipv4Addr::new(10, 0, 0, 254);
    let mut c = config(mac_a(), A_IP);
    c.gateway = Some(gateway);
    let mut sim = Sim::raw(c);
    let h = sim.a.udp_bind(5000).unwrap();
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let far = SocketAddrV4::new(Ipv4Addr::new(8, 8, 8, 8), 53);
    sim.a.udp_send_to(h, far, b"query").unwrap();
    sim.run_for(Duration::from_millis(1));
    // A asks for the gateway, not for 8.8.8.8.
    let requests = arp_frames(&sim.recv_raw());
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target_ip, gateway);
    // The raw side answers as the gateway.
    sim.send_raw(&arp_frame(mac_a(), requests[0].reply(mac_b())));
    sim.run_for(Duration::from_millis(1));
    let frames = ipv4_frames(&sim.recv_raw());
    assert_eq!(frames.len(), 1);
    let (e, ip, payload) = &frames[0];
    assert_eq!(e.dst, mac_b());
    assert_eq!((ip.src, ip.dst), (A_IP, *far.ip()));
    let p = UdpPacket::new_checked(&payload[..]).unwrap();
    assert!(p.verify_checksum(A_IP, *far.ip()));
    assert_eq!(p.payload(), b"query");
}

// ---- resource bounds ----

#[test]
fn pool_exhaustion_on_tx_is_counted_not_a_panic() {
    let mut sim = Sim::with(config(mac_a(), A_IP), None, 64);
    teach_a_about_b(&mut sim);
    sim.recv_raw();
    let h = sim.a.udp_bind(5000).unwrap();
    let mut held = Vec::new();
    while let Some(buf) = sim.qa.pool().alloc() {
        held.push(buf);
    }
    let dst = SocketAddrV4::new(B_IP, 6000);
    assert_eq!(sim.a.udp_send_to(h, dst, b"x"), Err(UdpError::NoBuffer));
    let repr = tcp_repr();
    let now = sim.now();
    let sent = sim.a.sink(now).send_segment(
        SocketAddrV4::new(A_IP, 80),
        SocketAddrV4::new(B_IP, 40000),
        &repr,
        Payload::EMPTY,
    );
    assert!(!sent);
    // An echo request arriving now finds no buffer on RX: the queue counts it.
    sim.send_raw(&udp_frame_to_a(9, b"x"));
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().drop_no_buffer, 2);
    assert_eq!(sim.qa.stats().rx_dropped_no_buffer, 1);
    drop(held);
    assert!(sim.a.udp_send_to(h, dst, b"x").is_ok());
    sim.run_for(Duration::from_millis(1));
    assert_eq!(ipv4_frames(&sim.recv_raw()).len(), 1);
}

/// A queue whose device takes nothing while `stuck`.
struct Stuck<'a> {
    inner: &'a mut MemoryQueue,
}

impl RxQueue for Stuck<'_> {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        self.inner.rx_burst(out, max)
    }
}

impl TxQueue for Stuck<'_> {
    fn tx_burst(&mut self, _bufs: &mut Vec<PacketBuf>) -> usize {
        0
    }

    fn pool(&self) -> &Pool {
        self.inner.pool()
    }
}

impl Queue for Stuck<'_> {
    fn id(&self) -> u16 {
        self.inner.id()
    }

    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
}

#[test]
fn tx_queue_is_bounded_and_keeps_what_the_device_refused() {
    let mut c = config(mac_a(), A_IP);
    c.tx_queue_len = 8;
    let mut sim = Sim::raw(c);
    let h = sim.a.udp_bind(5000).unwrap();
    let now = sim.now();
    let out = sim.a.poll(now, &mut Stuck { inner: &mut sim.qa });
    assert_eq!((out.transmitted, out.tx_pending), (0, 1));
    let bcast = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 255), 9);
    for i in 0..20u8 {
        sim.a.udp_send_to(h, bcast, &[i]).unwrap();
    }
    let out = sim.a.poll(now, &mut Stuck { inner: &mut sim.qa });
    assert_eq!(out.tx_pending, 8);
    assert_eq!(sim.a.poll_at(), Some(Timestamp::ZERO));
    assert_eq!(sim.a.stats().drop_tx_queue_overflow, 13);
    // The device takes them now: the newest 8, in order.
    let out = sim.a.poll(now, &mut sim.qa);
    assert_eq!((out.transmitted, out.tx_pending), (8, 0));
    sim.run_for(Duration::from_millis(1));
    let payloads: Vec<u8> = ipv4_frames(&sim.recv_raw())
        .iter()
        .map(|(_, _, udp)| udp[8])
        .collect();
    assert_eq!(payloads, (12..20).collect::<Vec<u8>>());
}

// ---- TCP: the SegmentSink and input ----

fn tcp_repr() -> TcpRepr {
    TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq: 0x0102_0304,
        ack: 0x0a0b_0c0d,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 4096,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some(cyclone_stack::wire::TcpTimestamps { tsval: 5, tsecr: 6 }),
            ..TcpOptions::default()
        },
    }
}

#[test]
fn segment_sink_builds_a_correct_frame() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    teach_a_about_b(&mut sim);
    sim.recv_raw();
    let repr = tcp_repr();
    let (src, dst) = (SocketAddrV4::new(A_IP, 80), SocketAddrV4::new(B_IP, 40000));
    let now = sim.now();
    assert!(sim
        .a
        .sink(now)
        .send_segment(src, dst, &repr, Payload::from_slice(b"hello, world")));
    // Too big for the MTU: refused.
    let big = vec![0u8; 1500];
    assert!(!sim
        .a
        .sink(now)
        .send_segment(src, dst, &repr, Payload::from_slice(&big)));
    sim.run_for(Duration::from_millis(1));
    let frames = ipv4_frames(&sim.recv_raw());
    assert_eq!(frames.len(), 1);
    let (e, ip, segment) = &frames[0];
    assert_eq!((e.src, e.dst), (mac_a(), mac_b()));
    assert_eq!((ip.src, ip.dst, ip.protocol), (A_IP, B_IP, IpProtocol::TCP));
    assert!(ip.dont_frag && !ip.is_fragment());
    assert_eq!(ip.ttl, 64);
    assert_eq!(ip.payload_len, 20 + 12 + 12);
    let packet = TcpPacket::new_checked(&segment[..]).unwrap();
    assert!(packet.verify_checksum(A_IP, B_IP));
    assert_eq!(
        TcpRepr::parse(&packet, A_IP, B_IP, RxChecksum::Verify).unwrap(),
        repr
    );
    assert_eq!(packet.payload(), b"hello, world");
    assert_eq!(sim.a.stats().tx_tcp, 1);
}

#[test]
fn segment_sink_waits_for_arp_and_offloads_checksums() {
    let clock = VirtualClock::new();
    let (mut pa, mut pb) =
        MemoryLink::pair(MemoryLinkConfig::default(), Arc::new(clock.clone())).unwrap();
    let mut caps: Capabilities = pa.capabilities();
    caps.tx_checksum.ipv4 = true;
    caps.tx_checksum.tcp = true;
    let mut a = Interface::new(config(mac_a(), A_IP), caps, clock.now()).unwrap();
    let mut qa = pa.open_queue(0).unwrap();
    let mut qb = pb.open_queue(0).unwrap();
    let (src, dst) = (SocketAddrV4::new(A_IP, 80), SocketAddrV4::new(B_IP, 40000));
    a.poll(clock.now(), &mut qa);
    // Unresolved: held (counts as queued), an ARP request goes out.
    assert!(a
        .sink(clock.now())
        .send_segment(src, dst, &tcp_repr(), Payload::from_slice(b"data")));
    a.poll(clock.now(), &mut qa);
    let mut burst = Vec::new();
    qb.rx_burst(&mut burst, 8);
    let frames: Vec<Vec<u8>> = burst.drain(..).map(|b| b.data().to_vec()).collect();
    let request = arp_frames(&frames).pop().unwrap();
    assert_eq!(request.target_ip, B_IP);
    let mut reply = qb.pool().alloc().unwrap();
    reply
        .extend_from_slice(&arp_frame(mac_a(), request.reply(mac_b())))
        .unwrap();
    qb.tx_burst(&mut vec![reply]);
    a.poll(clock.now(), &mut qa);
    qb.rx_burst(&mut burst, 8);
    assert_eq!(burst.len(), 1);
    let frame = burst[0].data();
    let (_, payload) = parse_eth(frame);
    let ip = Ipv4Packet::new_checked(payload).unwrap();
    // Left for the device: IPv4 checksum 0, TCP checksum seeded with the pseudo-header sum.
    assert_eq!(ip.checksum(), 0);
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    let len = ip.payload().len() as u16;
    assert_eq!(
        tcp.checksum(),
        cyclone_stack::wire::checksum::pseudo_header_sum(A_IP, B_IP, 6, len)
    );
    assert_eq!(tcp.payload(), b"data");
}

#[test]
fn tcp_segments_reach_tcp_after_their_checksum() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    let mut repr = tcp_repr();
    repr.src_port = 40000;
    repr.dst_port = 80;
    let mut segment = vec![0u8; repr.buffer_len(3)];
    let header_len = repr.header_len();
    segment[header_len..].copy_from_slice(b"GET");
    repr.emit(&mut segment, B_IP, A_IP, TxChecksum::Compute)
        .unwrap();
    let good = eth(
        mac_a(),
        mac_b(),
        EtherType::IPV4,
        &ipv4(B_IP, A_IP, IpProtocol::TCP, &segment),
    );
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    sim.send_raw(&good);
    sim.send_raw(&bad);
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.a.stats().rx_tcp, 1);
    assert_eq!(
        sim.a.stats().wire_drops(Layer::Tcp, ErrorKind::BadChecksum),
        1
    );
}

/// The receive fast path (untagged, no IP options, TCP, to our unicast address, from a
/// plausible host) takes only what the full path would take, and everything else is counted
/// by the full path as before. Each frame carries a SYN to a closed port (answered with RST
/// when delivered).
#[test]
fn tcp_receive_fast_path_takes_only_what_the_full_path_takes() {
    let mut sim = Sim::raw(config(mac_a(), A_IP));
    teach_a_about_b(&mut sim);
    sim.recv_raw();
    let segment_from = |src: Ipv4Addr, dst: Ipv4Addr| {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 9,
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let mut segment = vec![0u8; repr.buffer_len(0)];
        repr.emit(&mut segment, src, dst, TxChecksum::Compute)
            .unwrap();
        segment
    };
    let good_ip = || ipv4(B_IP, A_IP, IpProtocol::TCP, &segment_from(B_IP, A_IP));
    let frame = |ip: &[u8]| eth(mac_a(), mac_b(), EtherType::IPV4, ip);
    let bcast = Ipv4Addr::new(10, 0, 0, 255);
    let mut delivered = 0;
    // Delivered: plain; twice more (the source cache); with Ethernet padding; with IP
    // options (the full path).
    for _ in 0..3 {
        sim.send_raw(&frame(&good_ip()));
        delivered += 1;
    }
    let mut padded = frame(&good_ip());
    padded.extend_from_slice(&[0xee; 6]);
    sim.send_raw(&padded);
    delivered += 1;
    let mut with_options = good_ip();
    with_options[0] = 0x46;
    let total = (with_options.len() + 4) as u16;
    with_options[2..4].copy_from_slice(&total.to_be_bytes());
    with_options.splice(20..20, [1u8, 1, 1, 0]);
    with_options[10..12].copy_from_slice(&[0, 0]);
    let c = cyclone_stack::wire::checksum::checksum(&with_options[..24]);
    with_options[10..12].copy_from_slice(&c.to_be_bytes());
    sim.send_raw(&frame(&with_options));
    delivered += 1;
    // Dropped, each for its reason.
    let mut bad_ip_sum = good_ip();
    bad_ip_sum[10] ^= 0xff;
    sim.send_raw(&frame(&bad_ip_sum));
    let mut long = good_ip();
    long[2..4].copy_from_slice(&200u16.to_be_bytes());
    sim.send_raw(&frame(&long));
    let fragment = ipv4_with(
        B_IP,
        A_IP,
        IpProtocol::TCP,
        &segment_from(B_IP, A_IP),
        |ip| {
            ip.dont_frag = false;
            ip.more_frags = true;
        },
    );
    sim.send_raw(&frame(&fragment));
    for src in [A_IP, bcast, Ipv4Addr::new(127, 0, 0, 1)] {
        sim.send_raw(&frame(&ipv4(
            src,
            A_IP,
            IpProtocol::TCP,
            &segment_from(src, A_IP),
        )));
    }
    sim.send_raw(&eth(
        mac_a(),
        MacAddr([0x03, 0, 0, 0, 0, 1]),
        EtherType::IPV4,
        &good_ip(),
    ));
    sim.send_raw(&frame(&ipv4(
        B_IP,
        bcast,
        IpProtocol::TCP,
        &segment_from(B_IP, bcast),
    )));
    sim.send_raw(&frame(&ipv4(
        B_IP,
        NOBODY,
        IpProtocol::TCP,
        &segment_from(B_IP, NOBODY),
    )));
    sim.send_raw(&eth(
        MacAddr::BROADCAST,
        mac_b(),
        EtherType::IPV4,
        &good_ip(),
    ));
    let mut bad_tcp_sum = frame(&good_ip());
    let last = bad_tcp_sum.len() - 1;
    bad_tcp_sum[last] ^= 1;
    sim.send_raw(&bad_tcp_sum);
    sim.run_for(Duration::from_millis(1));
    let s = sim.a.stats();
    assert_eq!(s.rx_tcp, delivered);
    assert_eq!(s.wire_drops(Layer::Ipv4, ErrorKind::BadChecksum), 1);
    assert_eq!(s.wire_drops(Layer::Ipv4, ErrorKind::Truncated), 1);
    assert_eq!(s.wire_drops(Layer::Tcp, ErrorKind::BadChecksum), 1);
    assert_eq!(s.wire_drops_total(), 3);
    assert_eq!(s.drop_fragment, 1);
    assert_eq!(s.drop_bad_src, 4);
    assert_eq!(s.drop_tcp_broadcast, 1);
    assert_eq!(s.drop_not_our_ip, 2);
    assert_eq!(s.rx_ipv4, delivered + 2);
    // One RST per delivered SYN.
    let rsts = ipv4_frames(&sim.recv_raw())
        .into_iter()
        .filter(|(_, _, seg)| {
            TcpPacket::new_checked(&seg[..]).is_ok_and(|t| t.flags().contains(TcpFlags::RST))
        })
        .count() as u64;
    assert_eq!(rsts, delivered);
}

// ---- configuration ----

#[test]
fn bad_configuration_is_refused_with_the_reason() {
    let mut caps = Capabilities::default();
    let mut c = config(mac_a(), A_IP);
    c.addresses.clear();
    assert_eq!(
        Interface::new(c, caps, Timestamp::ZERO).err(),
        Some(ConfigError::NoAddress)
    );
    let mut c = config(mac_a(), A_IP);
    c.gateway = Some(Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(
        Interface::new(c, caps, Timestamp::ZERO).err(),
        Some(ConfigError::GatewayNotOnLink(Ipv4Addr::new(192, 168, 0, 1)))
    );
    caps.mtu = 60;
    assert_eq!(
        Interface::new(config(mac_a(), A_IP), caps, Timestamp::ZERO).err(),
        Some(ConfigError::MtuTooSmall(60))
    );
}

#[test]
fn tcp_transfer_between_two_interfaces() {
    let (mut sim, conn, server) = Sim::tcp_pair();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 8192];
    for _ in 0..10_000 {
        if sent < data.len() {
            sent += sim.a.tcp_mut().send(conn, &data[sent..]).unwrap();
        }
        loop {
            let n = sim.b().tcp_mut().recv(server, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
        sim.run_for(Duration::from_micros(100));
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes arrived intact and in order");
    // One ARP exchange, everything else TCP; nothing malformed on either side.
    assert_eq!(sim.a.stats().arp_tx_requests, 1);
    assert!(sim.a.stats().tx_tcp > 100);
    let a_tx = sim.a.stats().tx_tcp;
    assert_eq!(sim.b().stats().rx_tcp, a_tx);
    assert_eq!(
        sim.a.stats().wire_drops_total() + sim.b().stats().wire_drops_total(),
        0
    );
}

/// Frames free in `pool`'s shared list once this thread's cache has been given back.
fn free_frames(pool: &Pool) -> usize {
    pool.flush_thread_cache();
    pool.available()
}

/// Zero-copy receive: full-sized in-order segments stay in the frames they arrived in until
/// the application reads them (so the receiver's pool lends that many frames), the bytes read
/// are the bytes sent, and every frame goes back to the pool once read.
#[test]
fn tcp_keeps_received_frames_until_the_application_reads() {
    let (mut sim, conn, server) = Sim::tcp_pair();
    let pool = sim.qb.pool().clone();
    let idle = free_frames(&pool);
    // 40 full segments and a short one, all within the window, nothing read yet.
    let mss = 1460 - 12;
    let data: Vec<u8> = (0..40 * mss + 100).map(|i| (i % 253) as u8).collect();
    assert_eq!(sim.a.tcp_mut().send(conn, &data).unwrap(), data.len());
    sim.run_for(Duration::from_millis(5));
    assert_eq!(sim.b().tcp_mut().recv_available(server), data.len());
    let lent = idle - free_frames(&pool);
    assert_eq!(
        lent, 40,
        "one frame kept per full-sized segment, none for the short one"
    );
    // Read in odd-sized pieces, crossing frame boundaries.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1000];
    loop {
        let n = sim.b().tcp_mut().recv(server, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == data, "the bytes arrived intact and in order");
    sim.run_for(Duration::from_millis(50));
    assert!(
        free_frames(&pool) >= idle,
        "every kept frame went back to the pool"
    );
}

/// Zero-copy send: the application's bytes are written once, into frames of the queue's pool
/// (one per segment), and each data segment goes out as the frame it was written into, the
/// headers put in front; the frames stay in the send buffer until acknowledged, then go back.
#[test]
fn tcp_sends_the_frames_the_application_wrote() {
    let (mut sim, conn, server) = Sim::tcp_pair();
    let pool = sim.qa.pool().clone();
    let idle = free_frames(&pool);
    let mss = 1460 - 12;
    let data: Vec<u8> = (0..40 * mss + 100).map(|i| (i % 251) as u8).collect();
    assert_eq!(sim.a.tcp_mut().send(conn, &data).unwrap(), data.len());
    assert_eq!(
        idle - free_frames(&pool),
        41,
        "one frame per segment's worth"
    );
    let before = sim.a.stats().tx_tcp_zero_copy;
    let rx_before = sim.a.stats().rx_tcp;
    sim.run_for(Duration::from_millis(5));
    assert_eq!(
        sim.a.stats().tx_tcp_zero_copy - before,
        41,
        "every data segment sent from its own frame"
    );
    let mut got = vec![0u8; data.len() + 1];
    let n = sim.b().tcp_mut().recv(server, &mut got).unwrap();
    assert!(
        n == data.len() && got[..n] == data[..],
        "the bytes arrived intact"
    );
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.a.tcp().send_queued(conn), 0);
    // What may still be out is the interface's spares: received frames (the ACKs) it keeps
    // to build its next frames in, at most one per frame received.
    let received = sim.a.stats().rx_tcp - rx_before;
    let out = idle - free_frames(&pool).min(idle);
    assert!(
        out as u64 <= received,
        "acknowledged frames went back to the pool: {out} out, {received} received"
    );
}

/// The interface keeps the last TCP destination's next-hop MAC: a changed ARP entry (RFC 826
/// merge) or an expired one must not leave segments going to the old MAC.
#[test]
fn tcp_path_follows_arp_changes_and_expiry() {
    let mut ca = config(mac_a(), A_IP);
    ca.arp_cache_timeout = Duration::from_secs(5);
    let mut sim = Sim::raw(ca);
    teach_a_about_b(&mut sim);
    sim.recv_raw();
    let (src, dst) = (SocketAddrV4::new(A_IP, 80), SocketAddrV4::new(B_IP, 40000));
    // Each segment twice: through `send_segment`, then `send_plain` (the header template,
    // which must follow the path just the same).
    let send = |sim: &mut Sim, data: &[u8]| -> Vec<(EthernetRepr, Ipv4Repr, Vec<u8>)> {
        let now = sim.now();
        assert!(sim
            .a
            .sink(now)
            .send_segment(src, dst, &tcp_repr(), Payload::from_slice(data)));
        sim.run_for(Duration::from_millis(1));
        let first = ipv4_frames(&sim.recv_raw());
        let now = sim.now();
        assert!(sim
            .a
            .sink(now)
            .send_plain(src, dst, &plain_segment(), Payload::from_slice(data)));
        sim.run_for(Duration::from_millis(1));
        let second = ipv4_frames(&sim.recv_raw());
        assert_eq!(first.len(), second.len());
        for (f, g) in first.iter().zip(&second) {
            assert_eq!((f.0, &f.2), (g.0, &g.2));
            assert_eq!(f.1.ident.wrapping_add(1), g.1.ident);
        }
        first
    };
    let check = |frames: &[(EthernetRepr, Ipv4Repr, Vec<u8>)], mac: MacAddr, data: &[u8]| {
        assert_eq!(frames.len(), 1);
        let (e, ip, segment) = &frames[0];
        assert_eq!(e.dst, mac);
        assert_eq!(e.src, mac_a());
        assert_eq!(
            (ip.src, ip.dst, ip.ttl, ip.dont_frag),
            (A_IP, B_IP, 64, true)
        );
        let tcp = TcpPacket::new_checked(&segment[..]).unwrap();
        assert!(tcp.verify_checksum(A_IP, B_IP));
        assert_eq!(tcp.payload(), data);
    };
    check(&send(&mut sim, b"one"), mac_b(), b"one");
    check(&send(&mut sim, b"two"), mac_b(), b"two");
    // B moves to another MAC: its next ARP message updates A's entry.
    let moved = MacAddr::local(3);
    sim.send_raw(&arp_frame(
        MacAddr::BROADCAST,
        ArpRepr::request(moved, B_IP, A_IP),
    ));
    sim.run_for(Duration::from_millis(1));
    sim.recv_raw();
    check(&send(&mut sim, b"three"), moved, b"three");
    // The entry expires: the segment waits for ARP instead of going to the old MAC.
    sim.clock.advance_to(sim.now() + Duration::from_secs(6));
    let requests_before = sim.a.stats().arp_tx_requests;
    let now = sim.now();
    assert!(sim
        .a
        .sink(now)
        .send_plain(src, dst, &plain_segment(), Payload::from_slice(b"four")));
    sim.run_for(Duration::from_millis(1));
    let frames = sim.recv_raw();
    assert!(ipv4_frames(&frames).is_empty());
    assert_eq!(arp_frames(&frames).len(), 1);
    assert_eq!(sim.a.stats().arp_tx_requests, requests_before + 1);
}

fn plain_segment() -> PlainSegment {
    let r = tcp_repr();
    PlainSegment {
        src_port: r.src_port,
        dst_port: r.dst_port,
        seq: r.seq,
        ack: r.ack,
        flags: r.flags,
        window: r.window,
        timestamps: r.options.timestamps,
    }
}

/// `send_plain` (from the path's header template, after the first segment) and
/// `send_plain_frame` (the same, in the send buffer's own frame) build the very frames
/// `send_segment` builds for `seg.to_repr()`: every field value, payload lengths odd and even,
/// with and without timestamps, frames held elsewhere or not.
#[test]
fn tcp_header_template_matches_send_segment() {
    #[derive(Clone, Copy)]
    enum Send {
        Segment,
        Plain,
        Frame,
    }
    let frames = |how: Send| -> Vec<Vec<u8>> {
        let mut sim = Sim::raw(config(mac_a(), A_IP));
        teach_a_about_b(&mut sim);
        sim.recv_raw();
        let (src, dst) = (SocketAddrV4::new(A_IP, 80), SocketAddrV4::new(B_IP, 40000));
        let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let flag_sets = [
            TcpFlags::ACK,
            TcpFlags::ACK | TcpFlags::PSH,
            TcpFlags::ACK | TcpFlags::FIN,
            TcpFlags::ACK | TcpFlags::RST,
            TcpFlags::RST,
            TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
        ];
        for i in 0..200 {
            let r = next();
            let seg = PlainSegment {
                src_port: r as u16,
                dst_port: (r >> 16) as u16,
                seq: (r >> 8) as u32,
                ack: (r >> 24) as u32,
                flags: flag_sets[i % flag_sets.len()],
                window: match i % 4 {
                    0 => 0,
                    1 => u16::MAX,
                    _ => (r >> 40) as u16,
                },
                timestamps: (i % 3 != 0).then(|| cyclone_stack::wire::TcpTimestamps {
                    tsval: (next() >> 3) as u32,
                    tsecr: if i % 5 == 0 { u32::MAX } else { next() as u32 },
                }),
            };
            let len = match i % 5 {
                0 => 0,
                1 => 1,
                2 => 1448,
                _ => (next() % 1449) as usize,
            };
            let payload = Payload::from_slice(&data[..len]);
            let now = sim.now();
            match how {
                Send::Segment => {
                    assert!(sim
                        .a
                        .sink(now)
                        .send_segment(src, dst, &seg.to_repr(), payload))
                }
                Send::Plain => assert!(sim.a.sink(now).send_plain(src, dst, &seg, payload)),
                Send::Frame => {
                    // A send buffer's frame: the payload and maybe more bytes after it, and
                    // every other time still held by a previous transmission (so the headers
                    // go into a copy of it).
                    let extra = i % 3;
                    let mut frame = sim.qa.pool().alloc().unwrap();
                    frame.extend_from_slice(&data[..len + extra]).unwrap();
                    let held = (i % 2 == 0).then(|| frame.share());
                    let before = frame.frame_index();
                    assert!(sim
                        .a
                        .sink(now)
                        .send_plain_frame(src, dst, &seg, &mut frame, len));
                    assert_eq!(frame.data(), &data[..len + extra], "window restored");
                    if let Some(held) = held {
                        assert_eq!(
                            held.data(),
                            &data[..len + extra],
                            "a shared frame is read-only"
                        );
                    }
                    // From the second segment on (the first builds the path) the frame itself
                    // goes out: copied first only if a previous transmission holds it.
                    if i > 0 {
                        let copied = frame.frame_index() != before;
                        assert_eq!(copied, i % 2 == 0, "segment {i}");
                    }
                }
            }
        }
        sim.run_for(Duration::from_millis(1));
        let out = sim.recv_raw();
        assert_eq!(out.len(), 200);
        out
    };
    let (general, plain, zero_copy) = (
        frames(Send::Segment),
        frames(Send::Plain),
        frames(Send::Frame),
    );
    for (i, ((g, p), z)) in general.iter().zip(&plain).zip(&zero_copy).enumerate() {
        assert_eq!(g, p, "frame {i}");
        assert_eq!(g, z, "frame {i} sent as the send buffer's frame");
    }
    for f in &plain {
        let (_, ip, segment) = ipv4_frames(std::slice::from_ref(f)).remove(0);
        let tcp = TcpPacket::new_checked(&segment[..]).unwrap();
        assert!(tcp.verify_checksum(ip.src, ip.dst));
    }
}
