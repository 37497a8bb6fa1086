//! Two `Tcp` instances wired back to back through a simulated link with a fixed delay and,
//! optionally, seeded loss and reordering: handshakes, bulk transfers, every close order.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use cyclone_pmd::Timestamp;
use cyclone_stack::tcp::{
    ConnHandle, Payload, Ready, SegmentSink, Tcp, TcpConfig, TcpError, TcpEvent, TcpState,
};
use cyclone_stack::wire::TcpRepr;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DELAY: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Outbox(Vec<(SocketAddrV4, SocketAddrV4, TcpRepr, Vec<u8>)>);

impl SegmentSink for Outbox {
    fn send_segment(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> bool {
        // Like a link with a 1500-byte MTU: the TCP header with options plus the data must
        // fit in 1480 bytes, or the interface refuses the segment.
        let len = payload.len();
        assert!(
            repr.header_len() + len <= 1480,
            "segment of {} header + {len} data bytes exceeds the MTU: {repr:?}",
            repr.header_len()
        );
        self.0.push((src, dst, *repr, payload.to_vec()));
        true
    }
}

struct Packet {
    at: Timestamp,
    to_b: bool,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    repr: TcpRepr,
    payload: Vec<u8>,
}

struct Net {
    a: Tcp,
    b: Tcp,
    now: Timestamp,
    wire: VecDeque<Packet>,
    rng: fastrand::Rng,
    loss: f64,
    reorder: f64,
    lost: u64,
}

impl Net {
    fn new(config: TcpConfig) -> Net {
        let now = Timestamp::from_millis(1_000);
        let mut b_config = config.clone();
        b_config.isn_key ^= 0xabcdef;
        Net {
            a: Tcp::new(config, now),
            b: Tcp::new(b_config, now),
            now,
            wire: VecDeque::new(),
            rng: fastrand::Rng::with_seed(7),
            loss: 0.0,
            reorder: 0.0,
            lost: 0,
        }
    }

    fn collect(&mut self, outbox: Outbox, to_b: bool) {
        for (src, dst, repr, payload) in outbox.0 {
            if std::env::var_os("TCP_TRACE").is_some() {
                eprintln!(
                    "{:?} {} -> {} {:?} seq={} ack={} win={} len={} {:?}",
                    self.now,
                    src,
                    dst,
                    repr.flags,
                    repr.seq,
                    repr.ack,
                    repr.window,
                    payload.len(),
                    repr.options
                );
            }
            if self.loss > 0.0 && self.rng.f64() < self.loss {
                self.lost += 1;
                continue;
            }
            let mut at = self.now + DELAY;
            if self.reorder > 0.0 && self.rng.f64() < self.reorder {
                at = at + Duration::from_millis(3);
            }
            self.wire.push_back(Packet {
                at,
                to_b,
                src,
                dst,
                repr,
                payload,
            });
        }
    }

    fn poll(&mut self) {
        let mut out = Outbox::default();
        self.a.poll(self.now, &mut out);
        self.collect(out, true);
        let mut out = Outbox::default();
        self.b.poll(self.now, &mut out);
        self.collect(out, false);
    }

    /// Delivers what is due, polls, and advances time to the next event; false when idle.
    fn step(&mut self) -> bool {
        self.poll();
        let mut due: Vec<Packet> = Vec::new();
        let mut rest = VecDeque::new();
        for p in self.wire.drain(..) {
            if p.at <= self.now {
                due.push(p);
            } else {
                rest.push_back(p);
            }
        }
        self.wire = rest;
        due.sort_by_key(|p| p.at);
        for p in due {
            let mut out = Outbox::default();
            if p.to_b {
                self.b.input(
                    self.now,
                    *p.src.ip(),
                    *p.dst.ip(),
                    &p.repr,
                    &p.payload,
                    &mut out,
                );
                self.collect(out, false);
            } else {
                self.a.input(
                    self.now,
                    *p.src.ip(),
                    *p.dst.ip(),
                    &p.repr,
                    &p.payload,
                    &mut out,
                );
                self.collect(out, true);
            }
        }
        self.poll();
        let next = [
            self.a.poll_at(),
            self.b.poll_at(),
            self.wire.iter().map(|p| p.at).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                true
            }
            None => false,
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }
}

fn a_addr() -> SocketAddrV4 {
    SocketAddrV4::new(A_IP, 40000)
}
fn b_addr() -> SocketAddrV4 {
    SocketAddrV4::new(B_IP, 80)
}

/// Connects A to a listener on B; returns (client, server) handles.
fn establish(net: &mut Net) -> (ConnHandle, ConnHandle) {
    let listener = net.b.listen(b_addr(), 16).unwrap();
    let client = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
    let mut server = None;
    assert!(net.run_until(Duration::from_secs(5), |n| {
        if server.is_none() {
            server = n.b.accept(listener);
        }
        server.is_some() && n.a.state(client) == Ok(TcpState::Established)
    }));
    let server = server.unwrap();
    assert_eq!(net.b.state(server), Ok(TcpState::Established));
    (client, server)
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Sends `data` from (tx, tx_handle) to (rx, rx_handle), both directions possible.
fn transfer(net: &mut Net, a_to_b: bool, tx: ConnHandle, rx: ConnHandle, data: &[u8]) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let ok = net.run_until(Duration::from_secs(600), |n| {
        let (t, r) = if a_to_b {
            (&mut n.a, &mut n.b)
        } else {
            (&mut n.b, &mut n.a)
        };
        if sent < data.len() {
            sent += t.send(tx, &data[sent..]).unwrap();
        }
        loop {
            let k = r.recv(rx, &mut buf).unwrap();
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        got.len() == data.len()
    });
    assert!(ok, "transfer stalled at {} of {}", got.len(), data.len());
    got
}

#[test]
fn handshake_transfer_both_ways_and_client_close() {
    let mut net = Net::new(TcpConfig::default());
    let (c, s) = establish(&mut net);
    let data = pattern(1 << 20, 1);
    assert_eq!(transfer(&mut net, true, c, s, &data), data);
    let data2 = pattern(1 << 20, 2);
    assert_eq!(transfer(&mut net, false, s, c, &data2), data2);
    // Client closes first: client goes through FIN-WAIT-1/2 to TIME-WAIT, server CLOSE-WAIT.
    net.a.close(c).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.b.peer_closed(s)));
    assert_eq!(net.b.state(s), Ok(TcpState::CloseWait));
    net.b.close(s).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.b.connection_count() == 0));
    // TIME-WAIT on the client, then gone after 2·MSL.
    assert_eq!(net.a.connection_count(), 1);
    assert!(net.run_until(Duration::from_secs(61), |n| n.a.connection_count() == 0));
    let st = net.a.stats();
    assert_eq!(st.active_opens, 1);
    assert_eq!(net.b.stats().passive_opens, 1);
}

#[test]
fn server_closes_first() {
    let mut net = Net::new(TcpConfig::default());
    let (c, s) = establish(&mut net);
    net.b.send(s, b"bye").unwrap();
    net.b.close(s).unwrap();
    let mut buf = [0u8; 16];
    assert!(net.run_until(Duration::from_secs(1), |n| n.a.peer_closed(c)
        || n.a.recv_available(c) > 0));
    let k = net.a.recv(c, &mut buf).unwrap();
    assert_eq!(&buf[..k], b"bye");
    assert!(net.a.peer_closed(c));
    net.a.close(c).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.a.connection_count() == 0));
    assert_eq!(net.b.connection_count(), 1); // TIME-WAIT on the server
}

/// `recv_eof` is `recv` followed by `peer_closed`: data before the FIN reads as (n, false)
/// while more is unread, the last read of it as (n, true), and after it (0, true).
#[test]
fn recv_eof_is_recv_then_peer_closed() {
    let mut net = Net::new(TcpConfig::default());
    let (c, s) = establish(&mut net);
    let mut buf = [0u8; 2];
    assert_eq!(net.a.recv_eof(c, &mut buf), Ok((0, false)));
    net.b.send(s, b"bye").unwrap();
    net.b.shutdown(s).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.a.state(c)
        == Ok(TcpState::CloseWait)));
    assert_eq!(net.a.recv_eof(c, &mut []), Ok((0, false)));
    assert_eq!(net.a.recv_eof(c, &mut buf), Ok((2, false)));
    assert!(!net.a.peer_closed(c));
    assert_eq!(net.a.recv_eof(c, &mut buf), Ok((1, true)));
    assert_eq!(buf[0], b'e');
    assert!(net.a.peer_closed(c));
    assert_eq!(net.a.recv_eof(c, &mut buf), Ok((0, true)));
    assert_eq!(net.a.recv_eof(c, &mut []), Ok((0, true)));
}

/// A 4-tuple used again: the server closed first and holds it in TIME-WAIT, the client
/// connects from the same port, and the SYN reopens it (RFC 6191) as a new connection that
/// gets the segments that follow (the demultiplexing cache follows the table), both times
/// after the tuple carried traffic.
#[test]
fn a_reused_tuple_reaches_the_new_connection() {
    let mut net = Net::new(TcpConfig::default());
    let listener = net.b.listen(b_addr(), 16).unwrap();
    for round in 0..2u64 {
        let c = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
        let mut s = None;
        assert!(net.run_until(Duration::from_secs(5), |n| {
            s = s.or_else(|| n.b.accept(listener));
            s.is_some() && n.a.state(c) == Ok(TcpState::Established)
        }));
        let s = s.unwrap();
        let data = pattern(100_000, round);
        assert_eq!(transfer(&mut net, true, c, s, &data), data);
        assert_eq!(transfer(&mut net, false, s, c, &data), data);
        // Server first: its side ends in TIME-WAIT, the client's is freed.
        net.b.close(s).unwrap();
        assert!(net.run_until(Duration::from_secs(1), |n| n.a.peer_closed(c)));
        net.a.close(c).unwrap();
        assert!(net.run_until(Duration::from_secs(1), |n| n.a.connection_count() == 0));
        assert_eq!(net.b.connection_count(), 1);
    }
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let config = TcpConfig {
        time_wait: Duration::from_secs(2),
        ..TcpConfig::default()
    };
    let mut net = Net::new(config);
    let (c, s) = establish(&mut net);
    net.a.shutdown(c).unwrap();
    net.b.shutdown(s).unwrap();
    // Both FINs cross on the wire: CLOSING on both sides, then TIME-WAIT.
    assert!(net.run_until(Duration::from_secs(1), |n| n.a.state(c)
        == Ok(TcpState::TimeWait)
        && n.b.state(s) == Ok(TcpState::TimeWait)));
    assert!(net.run_until(Duration::from_secs(3), |n| n.a.state(c)
        == Ok(TcpState::Closed)
        && n.b.state(s) == Ok(TcpState::Closed)));
    net.a.close(c).unwrap();
    net.b.close(s).unwrap();
    assert_eq!(net.a.connection_count() + net.b.connection_count(), 0);
}

#[test]
fn simultaneous_open() {
    let mut net = Net::new(TcpConfig::default());
    let c = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
    let s = net.b.connect(net.now, b_addr(), a_addr()).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n.a.state(c)
        == Ok(TcpState::Established)
        && n.b.state(s) == Ok(TcpState::Established)));
    let data = pattern(100_000, 3);
    assert_eq!(transfer(&mut net, true, c, s, &data), data);
    let mut events = Vec::new();
    net.a.take_events(&mut events);
    assert!(events.contains(&TcpEvent::Connected(c)));
}

#[test]
fn lossy_transfer_completes_and_counts_retransmits() {
    for (sack, seed) in [(true, 11u64), (false, 12)] {
        let config = TcpConfig {
            sack,
            ..TcpConfig::default()
        };
        let mut net = Net::new(config);
        let (c, s) = establish(&mut net);
        net.loss = 0.05;
        net.reorder = 0.02;
        net.rng = fastrand::Rng::with_seed(seed);
        let data = pattern(1 << 20, seed);
        assert_eq!(transfer(&mut net, true, c, s, &data), data, "sack={sack}");
        assert!(net.lost > 0);
        let st = net.a.conn_stats(c).unwrap();
        assert!(st.retransmits > 0, "sack={sack}: {st:?}");
        assert!(net.a.stats().retransmits > 0);
    }
}

#[test]
fn stale_handles_and_refused_connect() {
    let mut net = Net::new(TcpConfig::default());
    // No listener: RST, connect fails with ConnectionRefused.
    let c = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.a.error(c).is_some()));
    assert_eq!(net.a.error(c), Some(TcpError::ConnectionRefused));
    assert_eq!(net.b.stats().drop_no_listener, 1);
    net.a.close(c).unwrap();
    assert_eq!(net.a.state(c), Err(TcpError::InvalidHandle));
    // The slot is reused; the old handle still refers to nothing.
    let c2 = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
    assert_ne!(c, c2);
    assert_eq!(net.a.send(c, b"x"), Err(TcpError::InvalidHandle));
    assert_eq!(net.a.state(c2), Ok(TcpState::SynSent));
}

#[test]
fn abort_resets_the_peer() {
    let mut net = Net::new(TcpConfig::default());
    let (c, s) = establish(&mut net);
    net.a.abort(c).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |n| n.b.error(s).is_some()));
    assert_eq!(net.b.error(s), Some(TcpError::ConnectionReset));
    let mut events = Vec::new();
    net.b.take_events(&mut events);
    assert!(events.contains(&TcpEvent::Reset(s)));
}

/// Both directions at once under loss: ACKs ride on data segments with SACK blocks, which
/// must still fit the MTU (the sink asserts it) — RFC 6691.
#[test]
fn lossy_transfer_in_both_directions_at_once_keeps_segments_within_the_mtu() {
    let mut net = Net::new(TcpConfig::default());
    let (c, s) = establish(&mut net);
    net.loss = 0.05;
    net.reorder = 0.02;
    net.rng = fastrand::Rng::with_seed(21);
    let up = pattern(512 * 1024, 1);
    let down = pattern(512 * 1024, 2);
    let (mut sent, mut got) = ([0usize; 2], [Vec::new(), Vec::new()]);
    let mut buf = vec![0u8; 65536];
    let ok = net.run_until(Duration::from_secs(600), |n| {
        for (i, (tcp, tx, rx, data)) in [(&mut n.a, c, c, &up), (&mut n.b, s, s, &down)]
            .into_iter()
            .enumerate()
        {
            if sent[i] < data.len() {
                sent[i] += tcp.send(tx, &data[sent[i]..]).unwrap();
            }
            loop {
                let k = tcp.recv(rx, &mut buf).unwrap();
                if k == 0 {
                    break;
                }
                got[i].extend_from_slice(&buf[..k]);
            }
        }
        got[0].len() == down.len() && got[1].len() == up.len()
    });
    assert!(ok, "stalled at {} and {} bytes", got[0].len(), got[1].len());
    assert_eq!((&got[0], &got[1]), (&down, &up));
}

/// `ack_per_burst`: the same bytes arrive with far fewer pure ACKs (one per burst delivered
/// between polls instead of one per two segments), and loss recovery, which relies on the
/// out-of-order ACKs that stay immediate, still completes with and without SACK.
#[test]
fn ack_per_burst_acks_less_and_still_recovers() {
    let acks_from_receiver = |ack_per_burst: bool| {
        let mut net = Net::new(TcpConfig {
            ack_per_burst,
            ..TcpConfig::default()
        });
        let (c, s) = establish(&mut net);
        let before = net.b.stats().segments_out;
        let data = pattern(1 << 20, 5);
        assert_eq!(transfer(&mut net, true, c, s, &data), data);
        net.b.stats().segments_out - before
    };
    let (every_second, per_burst) = (acks_from_receiver(false), acks_from_receiver(true));
    assert!(
        per_burst * 2 < every_second,
        "per burst {per_burst} ACKs, every second segment {every_second}"
    );
    for (sack, seed) in [(true, 21u64), (false, 22)] {
        let mut net = Net::new(TcpConfig {
            sack,
            ack_per_burst: true,
            ..TcpConfig::default()
        });
        let (c, s) = establish(&mut net);
        net.loss = 0.05;
        net.reorder = 0.02;
        net.rng = fastrand::Rng::with_seed(seed);
        let data = pattern(1 << 20, seed);
        assert_eq!(transfer(&mut net, true, c, s, &data), data, "sack={sack}");
        assert!(net.lost > 0);
        assert!(net.a.conn_stats(c).unwrap().retransmits > 0, "sack={sack}");
    }
}

/// `take_ready` lists the same events as `take_events`, in the same order, once each entry is
/// expanded with `Ready::events`: the same run (accepts, data both ways, a short write, a
/// half-close, a close, an abort), drained after every step by one or the other.
#[test]
fn take_ready_expands_to_take_events() {
    fn run(ready: bool) -> Vec<(bool, TcpEvent)> {
        let mut log = Vec::new();
        let drain = |tcp: &mut Tcp, side: bool, log: &mut Vec<(bool, TcpEvent)>| {
            if ready {
                let mut r = Vec::new();
                tcp.take_ready(&mut r);
                for entry in r {
                    if let Ready::Conn(_, set) = entry {
                        assert!(!set.is_empty());
                    }
                    log.extend(entry.events().map(|e| (side, e)));
                }
            } else {
                let mut e = Vec::new();
                tcp.take_events(&mut e);
                log.extend(e.into_iter().map(|e| (side, e)));
            }
        };
        let config = TcpConfig {
            send_buffer: 8 * 1024,
            ..TcpConfig::default()
        };
        let mut net = Net::new(config);
        let listener = net.b.listen(b_addr(), 16).unwrap();
        let c1 = net.a.connect(net.now, a_addr(), b_addr()).unwrap();
        let c2 = net
            .a
            .connect(net.now, a_addr(), SocketAddrV4::new(B_IP, 80))
            .err();
        assert!(c2.is_some(), "the same 4-tuple twice is refused");
        let c2 = net
            .a
            .connect(net.now, SocketAddrV4::new(A_IP, 40001), b_addr())
            .unwrap();
        let mut servers = Vec::new();
        let data = pattern(100_000, 9);
        let mut sent = [0usize; 2];
        let mut buf = vec![0u8; 4096];
        let mut step = 0;
        while step < 4000 && net.step() {
            step += 1;
            drain(&mut net.a, false, &mut log);
            drain(&mut net.b, true, &mut log);
            while let Some(s) = net.b.accept(listener) {
                servers.push(s);
            }
            for (i, c) in [c1, c2].into_iter().enumerate() {
                if sent[i] < data.len() && net.a.state(c) == Ok(TcpState::Established) {
                    sent[i] += net.a.send(c, &data[sent[i]..]).unwrap_or(0);
                    if sent[i] == data.len() {
                        net.a.shutdown(c).unwrap();
                    }
                }
            }
            for (i, &s) in servers.iter().enumerate() {
                while net.b.recv(s, &mut buf).unwrap_or(0) > 0 {}
                if net.b.peer_closed(s) {
                    if i == 0 {
                        let _ = net.b.send(s, b"bye");
                        let _ = net.b.close(s);
                    } else {
                        let _ = net.b.abort(s);
                    }
                }
            }
            while net.a.recv(c1, &mut buf).unwrap_or(0) > 0 {}
        }
        log
    }
    let events = run(false);
    assert!(events
        .iter()
        .any(|e| matches!(e, (true, TcpEvent::Acceptable(_)))));
    assert!(events
        .iter()
        .any(|e| matches!(e, (false, TcpEvent::Writable(_)))));
    assert!(events
        .iter()
        .any(|e| matches!(e, (false, TcpEvent::Reset(_)))));
    assert!(events
        .iter()
        .any(|e| matches!(e, (false, TcpEvent::PeerClosed(_)))));
    assert_eq!(run(true), events);
}
