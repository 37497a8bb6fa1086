//! A structure-aware fuzz harness for segment processing: [`fuzz_tcp_segments`] reads its
//! input as a script of steps — time advances, segments from one remote peer, socket calls —
//! played against one listening [`Tcp`] and the connections it accepts, and checks invariants
//! after every step. It is a plain function so that a proptest (`tests/tcp_fuzz.rs`, run by
//! `cargo test`) and a cargo-fuzz target (`fuzz/fuzz_targets/tcp_segments.rs`) share it.
//!
//! The peer's byte stream is a function of the absolute sequence number ([`peer_byte`]), and so
//! is ours ([`app_byte`] of the offset from ISS + 1), so that whatever the fuzzer sends — overlaps,
//! retransmissions with other bounds, SYNs with data — the bytes that may legitimately reach the
//! application are known: byte `i` after IRS + 1 is `peer_byte(IRS + 1 + i)`.
//!
//! Checked after every step (a failed check panics, which is what the fuzzer looks for):
//! - no panic anywhere in the stack;
//! - bytes delivered to the application are, in order, what the peer sent from IRS + 1, and
//!   never go beyond the highest sequence number the peer sent data at;
//! - every connection holds at most its receive buffer's capacity (in-order plus out-of-order),
//!   at most its send buffer's, and SND.UNA =< SND.NXT =< SND.MAX;
//! - every segment TCP emits has a valid flag combination (no SYN with FIN or RST, no RST with
//!   FIN or data, no URG, ACK on everything but a RST answering a segment without ACK), a
//!   sequence number within [ISS − 1, ISS + 1 + bytes queued + FIN] (ISS − 1 after SND.UNA − 1
//!   for keep-alive probes), an ACK within [IRS + 1, highest peer sequence number + 1], data
//!   equal to what the application queued at that offset — or it is exactly the RST that
//!   RFC 9293 §3.10.7.1 forms for the segment just received.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::Duration;

use cyclone_pmd::{PacketBuf, Pool, PoolConfig, Timestamp};

use super::congestion::CongestionAlgorithm;
use super::layer::{KeepAlive, SegmentSink, Tcp, TcpConfig};
use super::listen::reset_for;
use super::rtt::RttConfig;
use super::send::Payload;
use super::seq::SeqNum;
use super::state::{ConnHandle, ListenerHandle, TcpEvent};
use crate::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40_000);
/// The most steps one input runs (the fuzzer's inputs are bounded anyway).
const MAX_STEPS: usize = 4096;
/// Most application handles tracked at once.
const MAX_APPS: usize = 4;

/// The peer's byte at absolute sequence number `seq`.
pub fn peer_byte(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

/// Our application's byte at offset `off` of its stream.
pub fn app_byte(off: u64) -> u8 {
    (off.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
}

/// Reads the fuzzer's bytes; zeros once they run out.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
}

/// One connection as the harness knows it: from our SYN-ACK (ISS, IRS) on.
#[derive(Debug)]
struct Session {
    iss: SeqNum,
    /// IRS + 1: the sequence number of the peer's first data byte.
    base: SeqNum,
    /// The ACK of our SYN-ACK: RCV.NXT in SYN-RECEIVED, which no segment moves (text and FIN
    /// are only processed once an ACK has made the connection ESTABLISHED), so every
    /// retransmission of that SYN-ACK carries it again.
    synack_ack: SeqNum,
    /// Other values `base` may have: a SYN-ACK identical to this session's (same ISS, same
    /// ACK) that also fits a new SYN, which the stack may have answered with a new connection
    /// (the old one gone, the ISS clock not moved) — the accepted connection tells which.
    alt_bases: Vec<SeqNum>,
    handle: Option<ConnHandle>,
    /// Bytes the application queued with `send`.
    queued: u64,
    /// Bytes the application read.
    delivered: u64,
    /// The application closed the handle.
    closed: bool,
    /// The furthest the peer has sent, as an offset from `base` (SYN and FIN counted).
    peer_max: u32,
}

impl Session {
    /// Takes note of a peer segment covering `[start, end)`.
    fn peer_sent(&mut self, end: SeqNum) {
        let off = end.distance_from(self.base);
        if off < 1 << 31 {
            self.peer_max = self.peer_max.max(off);
        }
    }
}

/// The sink: checks every segment TCP emits.
struct Checker {
    /// The segment being processed by `input`, for RFC 9293 §3.10.7.1 RSTs.
    last_input: Option<(TcpRepr, usize)>,
    sessions: Vec<Session>,
    /// The end (sequence number after the last byte, SYN and FIN counted) of every segment the
    /// peer sent.
    peer_ends: Vec<SeqNum>,
    /// The highest end of anything we sent (the peer acknowledges up to it).
    our_high: Option<SeqNum>,
    segments: u64,
    /// `CYCLONE_FUZZ_TRACE` is set: print every step.
    trace: bool,
    /// A hash of every segment sent, in order.
    digest: std::hash::DefaultHasher,
}

impl Checker {
    fn current(&self) -> Option<&Session> {
        self.sessions.last()
    }

    fn check(&mut self, src: SocketAddrV4, dst: SocketAddrV4, repr: &TcpRepr, payload: &[u8]) {
        self.segments += 1;
        if self.trace {
            eprintln!(
                "  out {:?} seq={} ack={} win={} len={}",
                repr.flags,
                repr.seq,
                repr.ack,
                repr.window,
                payload.len()
            );
        }
        assert_eq!((src, dst), (LOCAL, REMOTE), "segment to an unknown address");
        let f = repr.flags;
        assert!(
            !f.contains(TcpFlags::URG) && repr.urgent == 0,
            "URG sent: {repr:?}"
        );
        assert!(
            !(f.contains(TcpFlags::SYN) && f.intersects(TcpFlags::FIN | TcpFlags::RST)),
            "invalid flags {f:?}"
        );
        if f.contains(TcpFlags::RST) {
            assert!(
                !f.contains(TcpFlags::FIN) && payload.is_empty(),
                "RST with FIN or data: {repr:?}"
            );
            // The RST of RFC 9293 §3.10.7.1 / §3.10.7.3 for the segment being processed.
            if let Some((input, len)) = self.last_input {
                let answer = reset_for(&input, len);
                let answer_no_data = reset_for(&input, 0);
                if (repr.seq, repr.ack, repr.flags) == (answer.seq, answer.ack, answer.flags)
                    || (repr.seq, repr.ack, repr.flags)
                        == (answer_no_data.seq, answer_no_data.ack, answer_no_data.flags)
                {
                    return;
                }
            }
        } else {
            assert!(f.contains(TcpFlags::ACK), "segment without ACK: {repr:?}");
        }
        if f.contains(TcpFlags::SYN) {
            assert!(payload.is_empty(), "data on our SYN-ACK");
            let seq = SeqNum(repr.seq);
            let ack = SeqNum(repr.ack);
            // Either a retransmission of the current connection's SYN-ACK — by its timer, or
            // because a segment hit it in SYN-RECEIVED: a retransmitted SYN, and (RFC 9293
            // §3.10.7.4, first check) any unacceptable segment, a SYN with another sequence
            // number included, gets an acknowledgment, which in SYN-RECEIVED is the SYN-ACK
            // again — recognised by its ISS and ACK, and only before the connection was
            // accepted (accepted is ESTABLISHED, which sends no SYN).
            let resent = self
                .current()
                .is_some_and(|s| s.handle.is_none() && s.iss == seq && s.synack_ack == ack);
            // Or the answer to the SYN being processed (LISTEN, RFC 9293 §3.10.7.2), whose
            // ACK is IRS + 1 plus the text that came with the SYN and was kept.
            let syn_in = self
                .last_input
                .filter(|(r, _)| {
                    r.flags.contains(TcpFlags::SYN) && !r.flags.contains(TcpFlags::ACK)
                })
                .map(|(r, len)| (SeqNum(r.seq) + 1u32, len))
                .filter(|(base, len)| ack.distance_from(*base) as usize <= *len)
                .map(|(base, _)| base);
            match (resent, syn_in) {
                (true, None) => {}
                // Both fit: the SYN-ACK the new connection would send is the one the current
                // connection repeats. The accepted connection's IRS tells which it was.
                (true, Some(base)) => {
                    if let Some(s) = self.sessions.last_mut() {
                        if s.base != base && !s.alt_bases.contains(&base) {
                            s.alt_bases.push(base);
                        }
                    }
                }
                (false, Some(base)) => {
                    let mut session = Session {
                        iss: seq,
                        base,
                        synack_ack: ack,
                        alt_bases: Vec::new(),
                        handle: None,
                        queued: 0,
                        delivered: 0,
                        closed: false,
                        peer_max: 0,
                    };
                    for end in &self.peer_ends {
                        session.peer_sent(*end);
                    }
                    self.sessions.push(session);
                }
                (false, None) => panic!("a SYN-ACK answering no SYN: {repr:?}"),
            }
        }
        let Some(s) = self.current() else {
            panic!("a segment before any SYN-ACK: {repr:?}");
        };
        // Sequence number: within what this connection can have sent.
        let seg_len = payload.len() as u64
            + u64::from(f.contains(TcpFlags::SYN))
            + u64::from(f.contains(TcpFlags::FIN));
        // (A keep-alive probe's SND.UNA − 1 is at least ISS: SND.UNA > ISS once synchronized.)
        let off = i64::from(SeqNum(repr.seq).diff(s.iss));
        let max_end = 1 + s.queued as i64 + 1;
        assert!(
            off >= 0 && off + seg_len as i64 <= max_end,
            "seq out of bounds: off {off} len {seg_len}, queued {} ({repr:?})",
            s.queued
        );
        // Data: what the application queued at that offset.
        let data_off = off - 1 + i64::from(f.contains(TcpFlags::SYN));
        for (i, b) in payload.iter().enumerate() {
            let at = data_off + i as i64;
            assert!(at >= 0, "data before ISS + 1");
            assert_eq!(*b, app_byte(at as u64), "corrupt data at offset {at}");
        }
        // Acknowledgment: within what the peer sent.
        if f.contains(TcpFlags::ACK) {
            let off = SeqNum(repr.ack).distance_from(s.base);
            assert!(
                off <= s.peer_max,
                "ACK {} is {off} past IRS + 1, the peer sent {} ({repr:?})",
                repr.ack,
                s.peer_max
            );
        }
        let end = SeqNum(repr.seq) + seg_len as u32;
        if self.our_high.is_none_or(|h| end.gt(h)) {
            self.our_high = Some(end);
        }
    }
}

struct Sink<'a>(&'a mut Checker);

impl SegmentSink for Sink<'_> {
    fn send_segment(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> bool {
        let data = payload.to_vec();
        std::hash::Hash::hash(&(src, dst, repr, &data), &mut self.0.digest);
        self.0.check(src, dst, repr, &data);
        true
    }
}

/// Where the text starts in a lent frame (the bytes before it stand for the headers).
const LENT_AT: usize = 54;

/// `payload` in a frame of the harness's pool, as an interface lends it (text TCP may keep,
/// see `Tcp::may_keep`), or `None`: too short, too long for a frame, or the pool is empty.
fn lend(payload: &[u8]) -> Option<PacketBuf> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    if !Tcp::may_keep(payload.len()) {
        return None;
    }
    let pool = POOL
        .get_or_init(|| {
            Pool::new(PoolConfig {
                frames: 256,
                frame_size: 4096,
                ..PoolConfig::default()
            })
            .ok()
        })
        .as_ref()?;
    let mut frame = pool.alloc()?;
    frame.extend_from_slice(&[0xee; LENT_AT]).ok()?;
    frame.extend_from_slice(payload).ok()?;
    Some(frame)
}

fn config_from(input: &mut Input<'_>) -> TcpConfig {
    let a = input.u8();
    let b = input.u8();
    let recv_buffer = [700, 4096, 65_535, 300_000][usize::from(a & 3)];
    TcpConfig {
        mss: [536, 1460, 100, 9000][usize::from((a >> 2) & 3)],
        send_buffer: [1000, 8192, 70_000, 300_000][usize::from((a >> 4) & 3)],
        recv_buffer,
        window_scaling: a & 0x40 != 0,
        timestamps: a & 0x80 != 0,
        sack: b & 1 != 0,
        nagle: b & 2 != 0,
        delayed_ack: if b & 4 != 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(40)
        },
        ack_per_burst: b & 64 != 0,
        time_wait: Duration::from_millis(500),
        rtt: RttConfig::default(),
        max_retransmits: 4,
        syn_retries: 2,
        synack_retries: 2,
        keepalive: (b & 8 != 0).then_some(KeepAlive {
            idle: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            count: 2,
        }),
        congestion: if b & 16 != 0 {
            CongestionAlgorithm::NewReno
        } else {
            CongestionAlgorithm::Cubic
        },
        max_connections: 4,
        syn_backlog: 2,
        max_ooo_ranges: 3,
        challenge_ack_limit: if b & 32 != 0 { 2 } else { 1000 },
        persist_max: Duration::from_secs(4),
        ..TcpConfig::default()
    }
}

/// The peer's side of the harness.
struct Peer {
    isn: SeqNum,
    /// The next in-order sequence number the peer would send.
    nxt: SeqNum,
    /// The acknowledgment number of the peer's last segment (repeating it makes duplicate ACKs).
    last_ack: Option<SeqNum>,
}

fn segment(input: &mut Input<'_>, peer: &mut Peer, checker: &Checker) -> (TcpRepr, Vec<u8>) {
    let fl = input.u8();
    let sel = input.u8();
    let mut flags = TcpFlags::EMPTY;
    for (bit, flag) in [
        (1, TcpFlags::SYN),
        (2, TcpFlags::ACK),
        (4, TcpFlags::FIN),
        (8, TcpFlags::RST),
        (16, TcpFlags::PSH),
        (32, TcpFlags::URG),
    ] {
        if fl & bit != 0 {
            flags.insert(flag);
        }
    }
    // The common cases are made likely: ACK on, SYN/RST rare.
    if fl & 0xc0 != 0 {
        flags.insert(TcpFlags::ACK);
        if fl & 0x80 != 0 {
            flags.remove(TcpFlags::SYN | TcpFlags::RST);
        }
    }
    let seq = match sel & 3 {
        0 => peer.nxt,
        1 => peer.nxt + (i32::from(input.u8() as i8) * 16) as u32,
        2 => peer.isn + i32::from(input.u16() as i16) as u32,
        _ => SeqNum(input.u32()),
    };
    let our_iss = checker.current().map_or(SeqNum(0), |s| s.iss);
    let our_high = checker.our_high.unwrap_or(our_iss + 1u32);
    let ack = match (sel >> 2) & 3 {
        0 => our_high,
        1 => match peer.last_ack {
            Some(a) if input.u8() & 1 == 0 => a,
            _ => our_high - u32::from(input.u8()),
        },
        2 => our_iss + i32::from(input.u16() as i16) as u32,
        _ => SeqNum(input.u32()),
    };
    let window = match (sel >> 4) & 3 {
        0 => u16::MAX,
        1 => 0,
        _ => input.u16(),
    };
    let mut options = TcpOptions::default();
    if sel & 0x40 != 0 {
        let o = input.u8();
        if o & 1 != 0 {
            options.mss = Some(input.u16());
        }
        if o & 2 != 0 {
            options.window_scale = Some(input.u8() % 16);
        }
        options.sack_permitted = o & 4 != 0;
        if o & 8 != 0 {
            options.timestamps = Some(TcpTimestamps {
                tsval: input.u32(),
                tsecr: input.u32(),
            });
        }
        let n = usize::from((o >> 4) & 3);
        let mut blocks = [SackBlock { left: 0, right: 0 }; 3];
        for b in blocks.iter_mut().take(n) {
            let left = our_iss + 1u32 + u32::from(input.u16());
            b.left = left.0;
            b.right = (left + u32::from(input.u16() % 4000)).0;
        }
        options.sack = SackBlocks::from_slice(blocks.get(..n).unwrap_or(&[]));
    }
    let len = match sel >> 7 {
        0 => 0,
        _ => match input.u8() {
            l @ 0..=127 => usize::from(l),
            l @ 128..=239 => usize::from(l - 127) * 16,
            _ => usize::from(input.u16() % 3000),
        },
    };
    let syn = u32::from(flags.contains(TcpFlags::SYN));
    let first = seq + syn;
    let payload: Vec<u8> = (0..len as u32).map(|i| peer_byte((first + i).0)).collect();
    let end = first + len as u32 + u32::from(flags.contains(TcpFlags::FIN));
    if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
        peer.isn = seq;
        peer.nxt = end;
    } else if seq.le(peer.nxt) && end.gt(peer.nxt) {
        peer.nxt = end;
    }
    if flags.contains(TcpFlags::ACK) {
        peer.last_ack = Some(ack);
    }
    let repr = TcpRepr {
        src_port: REMOTE.port(),
        dst_port: LOCAL.port(),
        seq: seq.0,
        ack: ack.0,
        flags,
        window,
        urgent: if flags.contains(TcpFlags::URG) {
            input.u16()
        } else {
            0
        },
        options,
    };
    (repr, payload)
}

fn check_tcp(tcp: &Tcp, checker: &Checker) {
    let mut live = 0;
    for slot in &tcp.conns {
        let Some(conn) = slot.value.as_deref() else {
            continue;
        };
        live += 1;
        assert!(
            conn.recv.held() <= conn.recv.capacity(),
            "receive buffer holds {} > {}",
            conn.recv.held(),
            conn.recv.capacity()
        );
        assert!(
            conn.send.len() <= tcp.config.send_buffer,
            "send buffer over"
        );
        assert!(
            conn.snd_una.le(conn.snd_nxt) && conn.snd_nxt.le(conn.snd_max),
            "SND.UNA {} SND.NXT {} SND.MAX {}",
            conn.snd_una,
            conn.snd_nxt,
            conn.snd_max
        );
        assert!(
            conn.snd_max.distance_from(conn.snd_una) as usize <= conn.send.len() + 2,
            "more in flight than queued"
        );
    }
    assert_eq!(live, tcp.live_conns, "connection count");
    assert!(tcp.live_conns <= tcp.config.max_connections);
    for s in &checker.sessions {
        if let Some(h) = s.handle.filter(|_| !s.closed) {
            assert!(tcp.recv_available(h) <= tcp.config.recv_buffer);
        }
    }
}

fn read_app(tcp: &mut Tcp, checker: &mut Checker, which: usize, max: usize) {
    let Some(s) = checker
        .sessions
        .iter_mut()
        .filter(|s| s.handle.is_some() && !s.closed)
        .nth(which)
    else {
        return;
    };
    let Some(h) = s.handle else {
        return;
    };
    let mut buf = vec![0u8; max];
    let Ok(n) = tcp.recv(h, &mut buf) else {
        return;
    };
    for (i, b) in buf.iter().take(n).enumerate() {
        let seq = s.base + (s.delivered as u32).wrapping_add(i as u32);
        assert_eq!(
            *b,
            peer_byte(seq.0),
            "delivered byte {} (seq {seq}) is not the peer's",
            s.delivered + i as u64
        );
    }
    s.delivered += n as u64;
    if n > 0 {
        assert!(
            s.delivered <= u64::from(s.peer_max),
            "delivered {} bytes, the peer sent {}",
            s.delivered,
            s.peer_max
        );
    }
}

/// Runs one fuzz input; panics if an invariant breaks (see the module docs).
#[doc(hidden)]
pub fn fuzz_tcp_segments(data: &[u8]) {
    run(data, None);
}

/// Runs one fuzz input with header prediction on or off; returns a hash of every segment
/// sent and of the final counters (equal for both settings: the fast path is only faster).
#[doc(hidden)]
pub fn fuzz_tcp_segments_digest(data: &[u8], header_prediction: bool) -> u64 {
    run(data, Some(header_prediction))
}

fn run(data: &[u8], header_prediction: Option<bool>) -> u64 {
    let mut input = Input { data, pos: 0 };
    let mut config = config_from(&mut input);
    if let Some(on) = header_prediction {
        config.header_prediction = on;
    }
    let mut now = Timestamp::from_millis(1_000_000);
    let mut tcp = Tcp::new(config, now);
    let listener: ListenerHandle = match tcp.listen(LOCAL, 2) {
        Ok(l) => l,
        Err(e) => panic!("listen: {e}"),
    };
    let mut checker = Checker {
        last_input: None,
        sessions: Vec::new(),
        peer_ends: Vec::new(),
        our_high: None,
        segments: 0,
        trace: std::env::var_os("CYCLONE_FUZZ_TRACE").is_some(),
        digest: std::hash::DefaultHasher::new(),
    };
    let isn = SeqNum(input.u32());
    let mut peer = Peer {
        isn,
        nxt: isn,
        last_ack: None,
    };
    let mut events = Vec::new();
    for _ in 0..MAX_STEPS {
        if input.done() {
            break;
        }
        let op = input.u8();
        match op {
            0..=159 => {
                let (repr, payload) = segment(&mut input, &mut peer, &checker);
                let seg_len = repr.segment_len(payload.len()) as u32;
                if seg_len > 0 {
                    let end = SeqNum(repr.seq) + seg_len;
                    checker.peer_ends.push(end);
                    for s in &mut checker.sessions {
                        s.peer_sent(end);
                    }
                }
                if checker.trace {
                    eprintln!(
                        "{now:?} in {:?} seq={} ack={} win={} len={} {:?}",
                        repr.flags,
                        repr.seq,
                        repr.ack,
                        repr.window,
                        payload.len(),
                        repr.options
                    );
                }
                checker.last_input = Some((repr, payload.len()));
                // Text an interface would lend in its frame goes in one (behind a header's
                // worth of other bytes), so TCP may keep it: the zero-copy receive path.
                match lend(&payload) {
                    Some(frame) => {
                        let mut slot = Some(frame);
                        tcp.input_frame(
                            now,
                            *REMOTE.ip(),
                            *LOCAL.ip(),
                            &repr,
                            (&mut slot, LENT_AT),
                            &mut Sink(&mut checker),
                        );
                    }
                    None => tcp.input(
                        now,
                        *REMOTE.ip(),
                        *LOCAL.ip(),
                        &repr,
                        &payload,
                        &mut Sink(&mut checker),
                    ),
                }
                checker.last_input = None;
                tcp.poll(now, &mut Sink(&mut checker));
            }
            160..=199 => {
                let d = [
                    Duration::ZERO,
                    Duration::from_millis(1),
                    Duration::from_millis(5),
                    Duration::from_millis(40),
                    Duration::from_millis(200),
                    Duration::from_secs(1),
                    Duration::from_secs(3),
                    Duration::from_secs(61),
                ][usize::from(op % 8)];
                let target = now + d;
                if checker.trace {
                    eprintln!("{now:?} wait {d:?}");
                }
                // Every timer up to `target`, in order.
                for _ in 0..10_000 {
                    match tcp.poll_at() {
                        Some(t) if t <= target => {
                            now = now.max(t);
                            tcp.poll(now, &mut Sink(&mut checker));
                        }
                        _ => break,
                    }
                }
                now = target;
                tcp.poll(now, &mut Sink(&mut checker));
            }
            _ => {
                let arg = input.u8();
                let which = usize::from(arg & 3);
                let handle = checker
                    .sessions
                    .iter()
                    .filter(|s| s.handle.is_some() && !s.closed)
                    .nth(which)
                    .and_then(|s| s.handle);
                if checker.trace {
                    eprintln!("{now:?} app op {} arg {arg} on {handle:?}", op % 6);
                }
                match (op % 6, handle) {
                    (0 | 1, Some(h)) => {
                        let len = usize::from(arg) * 37;
                        let Some(s) = checker.sessions.iter_mut().find(|s| s.handle == Some(h))
                        else {
                            continue;
                        };
                        let bytes: Vec<u8> =
                            (0..len as u64).map(|i| app_byte(s.queued + i)).collect();
                        if let Ok(n) = tcp.send(h, &bytes) {
                            s.queued += n as u64;
                        }
                    }
                    (2 | 3, Some(_)) => {
                        read_app(&mut tcp, &mut checker, which, usize::from(arg) * 64 + 1)
                    }
                    (4, Some(h)) => {
                        let _ = tcp.shutdown(h);
                    }
                    (5, Some(h)) => {
                        let _ = if arg & 0x80 != 0 {
                            tcp.abort(h)
                        } else {
                            tcp.close(h)
                        };
                        if let Some(s) = checker.sessions.iter_mut().find(|s| s.handle == Some(h)) {
                            s.closed = true;
                        }
                    }
                    _ => {}
                }
                tcp.poll(now, &mut Sink(&mut checker));
            }
        }
        // The application: accept, drain events.
        while let Some(h) = tcp.accept(listener) {
            if checker
                .sessions
                .iter()
                .filter(|s| s.handle.is_some())
                .count()
                >= MAX_APPS
            {
                let _ = tcp.abort(h);
                continue;
            }
            // ISS alone is not unique: two connections opened at the same instant get the
            // same one (RFC 6528's clock has not moved).
            let key = tcp.conn(h).map(|c| (c.iss, c.irs + 1u32));
            let Some((iss, base)) = key else {
                panic!("accept returned a handle without a connection");
            };
            match checker.sessions.iter_mut().rev().find(|s| {
                s.handle.is_none()
                    && s.iss == iss
                    && (s.base == base || s.alt_bases.contains(&base))
            }) {
                Some(s) => {
                    s.handle = Some(h);
                    s.alt_bases.clear();
                    if s.base != base {
                        // The SYN-ACK answered the other SYN: nothing was sent or delivered
                        // yet, only what the peer sent is counted from the other base.
                        s.base = base;
                        s.peer_max = 0;
                        for end in &checker.peer_ends {
                            s.peer_sent(*end);
                        }
                    }
                }
                None => panic!("accepted a connection we never sent a SYN-ACK for"),
            }
        }
        events.clear();
        tcp.take_events(&mut events);
        for e in &events {
            if let TcpEvent::Readable(h) = e {
                let which = checker
                    .sessions
                    .iter()
                    .filter(|s| s.handle.is_some() && !s.closed)
                    .position(|s| s.handle == Some(*h));
                // Read only sometimes, so that windows fill up too.
                if let Some(which) = which.filter(|_| checker.segments % 4 != 3) {
                    read_app(&mut tcp, &mut checker, which, 4096);
                }
            }
        }
        check_tcp(&tcp, &checker);
    }
    if std::env::var_os("CYCLONE_FUZZ_STATS").is_some() {
        let accepted = checker
            .sessions
            .iter()
            .filter(|s| s.handle.is_some())
            .count();
        let delivered: u64 = checker.sessions.iter().map(|s| s.delivered).sum();
        let queued: u64 = checker.sessions.iter().map(|s| s.queued).sum();
        eprintln!(
            "stats: sessions {} accepted {accepted} delivered {delivered} queued {queued} \
             segments out {} retransmits {} fast {} rto {} challenge {}",
            checker.sessions.len(),
            checker.segments,
            tcp.stats.retransmits,
            tcp.stats.fast_retransmits,
            tcp.stats.rto_expirations,
            tcp.stats.challenge_acks,
        );
    }
    std::hash::Hash::hash(&format!("{:?}", tcp.stats), &mut checker.digest);
    std::hash::Hasher::finish(&checker.digest)
}
