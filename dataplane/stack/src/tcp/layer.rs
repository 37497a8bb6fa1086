//! The TCP layer as the interface sees it: every connection and listener of one stack
//! instance, fed received segments and polled for timers and transmissions.
//!
//! CONTRACT (between `iface`, which owns a `Tcp` and implements [`SegmentSink`], and `tcp`):
//! - `iface` parses Ethernet/IPv4, verifies the TCP checksum (or trusts the device), parses the
//!   `TcpRepr`, and calls [`Tcp::input`] with the addresses, the repr and the payload bytes.
//! - `iface` calls [`Tcp::poll`] once per loop iteration (after input) so TCP can send what is
//!   pending (data, ACKs, retransmissions on timer expiry), and uses [`Tcp::poll_at`] to know
//!   when TCP next needs a poll.
//! - TCP sends every segment through [`SegmentSink::send_segment`]; `iface` adds IPv4 and
//!   Ethernet headers (resolving the next hop with ARP) and queues the frame. A `false` return
//!   means the segment could not be queued (no buffer): TCP treats it as lost on the wire.
//!
//! Inside: connections live in a slab of generation-checked slots (so a stale [`ConnHandle`]
//! never reaches a reused slot), found by 4-tuple through a hash map; each connection keeps its
//! own timer deadlines and has one entry in a [`TimerWheel`] at or before the earliest of them
//! (moved only when a deadline comes earlier; re-checked when it fires).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use cyclone_pmd::{PacketBuf, Pool, Timestamp};

use super::congestion::CongestionAlgorithm;
use super::conn::{ev, ChallengeLimiter, Conn, Ctx};
use super::listen::{reset_for, Listener};
use super::options::initial_seq;
use super::recv::{LentFrame, SegmentText, KEEP_FROM};
use super::rtt::RttConfig;
use super::send::Payload;
use super::seq::SeqNum;
use super::state::{ConnHandle, ListenerHandle, Ready, TcpEvent, TcpEvents, TcpState};
use super::stats::TcpStats;
use crate::hash::FastMap;
use crate::timer::TimerWheel;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// Where TCP sends segments: the interface (IPv4 + Ethernet + ARP), or a test harness.
pub trait SegmentSink {
    /// Sends one segment from `src` to `dst` with header `repr` and `payload` (bytes of the
    /// send buffer, to copy). Returns `false` if the segment could not be queued.
    fn send_segment(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> bool;

    /// Sends the segment `seg.to_repr()` describes: the same contract as
    /// [`send_segment`](Self::send_segment), for the segments that make up nearly all of a
    /// connection's life (no SYN, no MSS/window-scale/SACK option: at most NOP NOP
    /// timestamps, no urgent pointer), whose header has a fixed layout. A sink may write
    /// such a header from a template (the interface does: see `iface::ipv4::TxPath`); the
    /// frame must be the one `send_segment` would build for `seg.to_repr()`. The default does
    /// exactly that.
    fn send_plain(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seg: &PlainSegment,
        payload: Payload<'_>,
    ) -> bool {
        self.send_segment(src, dst, &seg.to_repr(), payload)
    }

    /// [`send_plain`](Self::send_plain) with the first `len` bytes of `frame`'s data as the
    /// payload: a frame of the send buffer, which the sink may send itself instead of a copy
    /// (the zero-copy send). It then writes the headers into the frame's headroom
    /// ([`PacketBuf::prepend`], which copies the frame first if a previous transmission still
    /// holds it), hands the device a [shared](PacketBuf::share) buffer of headers and payload,
    /// and leaves `frame`'s data window as it found it (the frame itself may be a copy). The
    /// frame on the wire must be the one `send_plain` would build. The default copies.
    fn send_plain_frame(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seg: &PlainSegment,
        frame: &mut PacketBuf,
        len: usize,
    ) -> bool {
        let data = frame.data();
        let payload = Payload::from_slice(&data[..len.min(data.len())]);
        self.send_plain(src, dst, seg, payload)
    }
}

/// The header of a segment with a fixed layout (see [`SegmentSink::send_plain`]): 20 bytes,
/// plus NOP NOP timestamps (12 bytes) when `timestamps` is set; urgent pointer 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainSegment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: u32,
    /// Control bits; never SYN.
    pub flags: TcpFlags,
    /// Window field (already scaled down).
    pub window: u16,
    /// The timestamps option, if sent.
    pub timestamps: Option<TcpTimestamps>,
}

impl PlainSegment {
    /// The same header as a [`TcpRepr`].
    pub fn to_repr(&self) -> TcpRepr {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: TcpOptions {
                timestamps: self.timestamps,
                ..TcpOptions::default()
            },
        }
    }
}

/// Keep-alive settings (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe (RFC 1122: at least two hours by default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is reset.
    pub count: u32,
}

/// Configuration of the TCP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Our maximum segment size (from the port's MTU: MTU − 40).
    pub mss: u16,
    /// Send buffer per connection, bytes.
    pub send_buffer: usize,
    /// Receive buffer per connection, bytes (the largest window we offer).
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Nagle's algorithm (RFC 9293 §3.7.4); off by default.
    pub nagle: bool,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3: under 0.5 s); zero acknowledges every segment.
    pub delayed_ack: Duration,
    /// Acknowledge in-order data once per receive burst instead of every second full-sized
    /// segment (what receive offload, GRO/LRO, does on Linux, and what smoltcp does per
    /// poll). The ACK still leaves in the same poll as the data it acknowledges (no added
    /// delay), but covers every segment of the burst: a "stretch ACK" (RFC 5681 §4.2 says an
    /// ACK SHOULD be sent for at least every second full-sized segment; RFC 3465 byte
    /// counting keeps the sender's window growth right). Immediate ACKs (out-of-order data, a
    /// filled hole, a full window, FIN, unacceptable segments) stay immediate, so duplicate
    /// ACKs and SACK information are unchanged. The data an ACK lets the sender send also
    /// waits for the end of the burst. Off by default. With it on, whoever calls
    /// [`Tcp::input`] must call [`Tcp::poll`] after the burst (the interface does).
    pub ack_per_burst: bool,
    /// TIME-WAIT duration, 2·MSL (RFC 9293 §3.4.2).
    pub time_wait: Duration,
    /// Retransmission timer limits (RFC 6298).
    pub rtt: RttConfig,
    /// Retransmissions of data before the connection is given up (RFC 9293 §3.8.3 R2).
    pub max_retransmits: u32,
    /// Retransmissions of a SYN before `connect` fails.
    pub syn_retries: u32,
    /// Retransmissions of a SYN-ACK before a SYN-RECEIVED entry expires.
    pub synack_retries: u32,
    /// Keep-alive; `None` (the default) disables it.
    pub keepalive: Option<KeepAlive>,
    /// Congestion controller (CUBIC by default). The initial window is RFC 6928's,
    /// `min(10·SMSS, max(2·SMSS, 14600))` ([`super::congestion::initial_window`]).
    pub congestion: CongestionAlgorithm,
    /// Key of the ISN hash (RFC 6528); draw it at random in production.
    pub isn_key: u128,
    /// Most connections (all states) at once.
    pub max_connections: usize,
    /// Most SYN-RECEIVED connections per listener.
    pub syn_backlog: usize,
    /// Most out-of-order ranges held per connection (receiver). The sender's SACK scoreboard
    /// has its own fixed bound, [`super::sack::MAX_SACK_RANGES`].
    pub max_ooo_ranges: usize,
    /// Challenge ACKs per second, all connections together (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Longest persist interval (RFC 9293 §3.8.6.1 backoff cap).
    pub persist_max: Duration,
    /// Ephemeral ports for `connect` with port 0 (RFC 6335 §6: 49152–65535).
    pub ephemeral_ports: (u16, u16),
    /// Tick of the timer wheel.
    pub timer_tick: Duration,
    /// Header prediction (the established-state fast path of `Conn::on_segment`), the plain
    /// cumulative ACK and acknowledges-nothing-new paths of `Conn::process_ack`, and the short
    /// transmit path of `Conn::transmit_any`; on by default. Turning it off changes no
    /// behaviour, only the cost: tests run both ways and compare.
    #[doc(hidden)]
    pub header_prediction: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nagle: false,
            delayed_ack: Duration::from_millis(40),
            ack_per_burst: false,
            time_wait: Duration::from_secs(60),
            rtt: RttConfig::default(),
            max_retransmits: 15,
            syn_retries: 6,
            synack_retries: 5,
            keepalive: None,
            congestion: CongestionAlgorithm::Cubic,
            isn_key: 0x005e_ed0f_c1c1_0e5e_ed0f_c1c1_0e00,
            max_connections: 65_536,
            syn_backlog: 256,
            max_ooo_ranges: 32,
            challenge_ack_limit: 1000,
            persist_max: Duration::from_secs(60),
            ephemeral_ports: (49152, 65535),
            timer_tick: Duration::from_millis(1),
            header_prediction: true,
        }
    }
}

/// A slab slot: the generation makes stale handles harmless.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub generation: u32,
    pub value: Option<T>,
}

impl<T> Slot<T> {
    /// The value, if the slot still holds the generation a handle was issued for.
    #[inline]
    fn live(&self, generation: u32) -> Option<&T> {
        if self.generation != generation {
            return None;
        }
        self.value.as_ref()
    }

    /// [`Slot::live`], mutably.
    #[inline]
    fn live_mut(&mut self, generation: u32) -> Option<&mut T> {
        if self.generation != generation {
            return None;
        }
        self.value.as_mut()
    }
}

/// Who has events waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventSource {
    Conn(ConnHandle),
    Listener(ListenerHandle),
}

/// All TCP state of one stack instance.
#[derive(Debug)]
pub struct Tcp {
    pub(crate) config: TcpConfig,
    pub(crate) conns: Vec<Slot<Box<Conn>>>,
    pub(crate) free_conns: Vec<u32>,
    pub(crate) live_conns: usize,
    pub(crate) by_tuple: FastMap<(SocketAddrV4, SocketAddrV4), u32>,
    /// One `by_tuple` entry, (local, remote) → slot, found without hashing (the one-entry
    /// cache of BSD's `tcp_last_inpcb`): consecutive segments often belong to the same
    /// connection (a burst, a request after its reply, a lone client). Filled by the first
    /// lookup after `by_tuple` changes and cleared by every change, so it always agrees with
    /// it; a miss does not replace it (with many connections, replacing would cost every
    /// segment and hit rarely).
    pub(crate) last_tuple: Option<((SocketAddrV4, SocketAddrV4), u32)>,
    pub(crate) listeners: Vec<Slot<Listener>>,
    pub(crate) free_listeners: Vec<u32>,
    pub(crate) listen_by_addr: FastMap<SocketAddrV4, u32>,
    pub(crate) wheel: TimerWheel<ConnHandle>,
    pub(crate) dirty: Vec<ConnHandle>,
    /// The dirty list's other buffer: `poll` swaps the two instead of allocating.
    pub(crate) dirty_spare: Vec<ConnHandle>,
    /// Who has events waiting, in the order they were queued (drained whole by
    /// `take_events`, so a plain vector).
    pub(crate) event_queue: Vec<EventSource>,
    pub(crate) stats: TcpStats,
    pub(crate) challenge: ChallengeLimiter,
    pub(crate) next_ephemeral: u16,
    pub(crate) now: Timestamp,
    /// Where send buffers take their frames ([`Tcp::use_pool`]); without one they use the
    /// heap and every segment is a copy.
    pub(crate) pool: Option<Pool>,
}

impl Tcp {
    /// A TCP layer with no connections.
    pub fn new(config: TcpConfig, now: Timestamp) -> Tcp {
        let tick = if config.timer_tick.is_zero() {
            Duration::from_millis(1)
        } else {
            config.timer_tick
        };
        Tcp {
            wheel: TimerWheel::new(tick, now),
            conns: Vec::new(),
            free_conns: Vec::new(),
            live_conns: 0,
            by_tuple: FastMap::default(),
            last_tuple: None,
            listeners: Vec::new(),
            free_listeners: Vec::new(),
            listen_by_addr: FastMap::default(),
            dirty: Vec::new(),
            dirty_spare: Vec::new(),
            event_queue: Vec::new(),
            stats: TcpStats::default(),
            challenge: ChallengeLimiter::default(),
            next_ephemeral: config.ephemeral_ports.0,
            now,
            config,
            pool: None,
        }
    }

    /// Lends TCP the pool the device sends from: send buffers keep the application's bytes in
    /// its frames, and a segment goes out as the frame it was written into (no copy between
    /// the application and the device; see [`SegmentSink::send_plain_frame`]). The
    /// [`Interface`](crate::iface::Interface) lends it the queue's pool. Data already queued
    /// stays where it is.
    pub fn use_pool(&mut self, pool: Pool) {
        self.pool = Some(pool);
    }

    /// The configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// The global counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Processes one received segment (checksum already checked by the caller).
    pub fn input(
        &mut self,
        now: Timestamp,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &TcpRepr,
        payload: &[u8],
        out: &mut dyn SegmentSink,
    ) {
        self.input_text(now, src, dst, repr, &mut { payload }, out);
    }

    /// Whether text of `len` bytes could stay in the frame it arrived in (zero-copy receive,
    /// see [`Tcp::input_frame`]): an interface lends TCP only such frames, and passes other
    /// text to [`Tcp::input`].
    #[inline(always)]
    pub fn may_keep(len: usize) -> bool {
        len >= KEEP_FROM
    }

    /// [`Tcp::input`] of a segment whose text is `frame.data()[at..]`, the frame lent: in-order
    /// text may stay in it until the application reads it, so that `recv` copies it straight
    /// out of the frame (zero-copy receive; the rules are the receive buffer's, in
    /// `tcp/recv.rs`). TCP takes the frame out of `frame` when it keeps it.
    pub fn input_frame(
        &mut self,
        now: Timestamp,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &TcpRepr,
        frame: (&mut Option<PacketBuf>, usize),
        out: &mut dyn SegmentSink,
    ) {
        let (buf, at) = frame;
        self.input_text(now, src, dst, repr, &mut LentFrame { buf, at }, out);
    }

    /// [`Tcp::input`] for either kind of text (one instance each).
    #[inline(always)]
    fn input_text(
        &mut self,
        now: Timestamp,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &TcpRepr,
        payload: &mut impl SegmentText,
        out: &mut dyn SegmentSink,
    ) {
        self.now = self.now.max(now);
        self.stats.segments_in += 1;
        let local = SocketAddrV4::new(dst, repr.dst_port);
        let remote = SocketAddrV4::new(src, repr.src_port);
        if let Some(handle) = self.lookup(local, remote) {
            if self.reopens_time_wait(handle, repr) {
                // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above RCV.NXT ends TIME-WAIT.
                self.free_conn(handle);
            } else {
                let per_burst = self.config.ack_per_burst;
                let mut deferred = false;
                self.with_conn(handle, out, |conn, ctx| {
                    conn.on_segment(ctx, repr, payload);
                    // With `ack_per_burst`, an established connection that owes no immediate
                    // ACK transmits at the end of the burst (`poll`), once.
                    if per_burst
                        && conn.state == TcpState::Established
                        && !conn.ack_now
                        && !conn.abort_pending
                    {
                        deferred = true;
                    } else {
                        conn.transmit(ctx);
                    }
                });
                if deferred {
                    self.mark_dirty(handle);
                }
                return;
            }
        }
        let listener = self
            .listen_by_addr
            .get(&local)
            .or_else(|| {
                self.listen_by_addr
                    .get(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port()))
            })
            .copied();
        match listener {
            Some(index) => self.listen_input(index, local, remote, repr, payload.bytes(), out),
            None => {
                // RFC 9293 §3.10.7.1: CLOSED. "An incoming segment not containing a RST causes
                // a RST to be sent in response."
                self.stats.drop_no_listener += 1;
                if !repr.flags.contains(TcpFlags::RST) {
                    self.send_reset(local, remote, repr, payload.bytes().len(), out);
                }
            }
        }
    }

    fn send_reset(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        repr: &TcpRepr,
        payload_len: usize,
        out: &mut dyn SegmentSink,
    ) {
        let rst = reset_for(repr, payload_len);
        self.stats.resets_sent += 1;
        if out.send_segment(local, remote, &rst, Payload::EMPTY) {
            self.stats.segments_out += 1;
        } else {
            self.stats.segments_sink_refused += 1;
        }
    }

    fn reopens_time_wait(&self, handle: ConnHandle, repr: &TcpRepr) -> bool {
        // The segment's flags first: only a bare SYN can reopen, and most segments are not.
        if !repr.flags.contains(TcpFlags::SYN)
            || repr.flags.intersects(TcpFlags::ACK | TcpFlags::RST)
        {
            return false;
        }
        let Some(conn) = self.conn(handle) else {
            return false;
        };
        conn.state == TcpState::TimeWait && SeqNum(repr.seq).gt(conn.rcv_nxt)
    }

    /// RFC 9293 §3.10.7.2: LISTEN.
    fn listen_input(
        &mut self,
        index: u32,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        repr: &TcpRepr,
        payload: &[u8],
        out: &mut dyn SegmentSink,
    ) {
        let flags = repr.flags;
        if flags.contains(TcpFlags::RST) {
            // "An incoming RST should be ignored."
            self.stats.drop_other += 1;
            return;
        }
        if flags.contains(TcpFlags::ACK) {
            // "Any acknowledgment is bad if it arrives on a connection still in the LISTEN
            // state. An acceptable reset segment should be formed ... <SEQ=SEG.ACK><CTL=RST>".
            self.stats.drop_bad_ack += 1;
            self.send_reset(local, remote, repr, payload.len(), out);
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            self.stats.drop_other += 1;
            return;
        }
        let Some(slot) = self.listeners.get_mut(index as usize) else {
            return;
        };
        let generation = slot.generation;
        let Some(listener) = slot.value.as_mut() else {
            return;
        };
        // A bounded SYN queue and accept queue: a SYN flood costs a counter, not memory.
        if listener.accept_queue.len() >= listener.backlog
            || listener.syn_queue >= self.config.syn_backlog
        {
            self.stats.drop_backlog_full += 1;
            return;
        }
        if self.live_conns >= self.config.max_connections {
            self.stats.drop_table_full += 1;
            return;
        }
        listener.syn_queue += 1;
        let now = self.now;
        let iss = initial_seq(self.config.isn_key, local, remote, now);
        let mut conn = Conn::new(&self.config, now, local, remote, iss, TcpState::SynReceived);
        let seq = SeqNum(repr.seq);
        conn.irs = seq;
        conn.rcv_nxt = seq + 1u32;
        conn.rcv_adv = conn.rcv_nxt;
        conn.negotiate(&self.config, &repr.options);
        conn.snd_wnd = u32::from(repr.window);
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = seq;
        conn.listener = Some(ListenerHandle { index, generation });
        conn.in_syn_queue = true;
        self.stats.passive_opens += 1;
        let handle = self.insert_conn(conn);
        self.with_conn(handle, out, |conn, ctx| {
            // "Note that any other incoming control or data (combined with SYN) will be
            // processed in the SYN-RECEIVED state" (RFC 9293 §3.10.7.2): text is kept.
            conn.queue_syn_text(ctx, seq, payload);
            conn.transmit(ctx);
        });
    }

    /// Sends what is pending and runs expired timers.
    #[inline]
    pub fn poll(&mut self, now: Timestamp, out: &mut dyn SegmentSink) {
        // Nothing dirty and no timer that `wheel.poll` could return: what the loops below do
        // then (nothing), without the call.
        if self.dirty.is_empty() && self.wheel.idle_at(now) {
            self.now = self.now.max(now);
            return;
        }
        self.poll_work(now, out);
    }

    /// [`Tcp::poll`] when the dirty list or the wheel may have work.
    #[inline(never)]
    fn poll_work(&mut self, now: Timestamp, out: &mut dyn SegmentSink) {
        self.now = self.now.max(now);
        while let Some((timer, handle)) = self.wheel.poll(now) {
            let Some(conn) = self.conn_mut(handle) else {
                continue;
            };
            if conn.timer != Some(timer) {
                continue;
            }
            conn.timer = None;
            conn.timer_at = None;
            if conn.next_deadline().is_some_and(|d| d <= self.now) {
                self.with_conn(handle, out, |conn, ctx| conn.on_timers(ctx));
            } else {
                // The entry was left at an earlier deadline that has since moved later (see
                // `settle`): nothing is due yet, arm at the real deadline.
                self.settle(handle);
            }
        }
        if self.dirty.is_empty() {
            return;
        }
        // The list is walked in place in `dirty_spare` (the two swapped: no vector moved out
        // and dropped); what the transmits mark dirty meanwhile goes to the emptied `dirty`,
        // for the next poll, as before. Only this function touches `dirty_spare`.
        std::mem::swap(&mut self.dirty, &mut self.dirty_spare);
        let mut i = 0;
        while let Some(&handle) = self.dirty_spare.get(i) {
            i += 1;
            self.with_conn(handle, out, |conn, ctx| {
                conn.dirty = false;
                conn.transmit(ctx);
            });
        }
        self.dirty_spare.clear();
    }

    /// When TCP next needs [`Tcp::poll`] (a timer), if ever.
    pub fn poll_at(&self) -> Option<Timestamp> {
        if !self.dirty.is_empty() {
            return Some(self.now);
        }
        self.wheel.next_deadline()
    }

    // ---- slab and bookkeeping -------------------------------------------------------------

    /// The connection of this 4-tuple: `by_tuple`, through its last hit.
    #[inline(always)]
    pub(crate) fn lookup(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Option<ConnHandle> {
        let key = (local, remote);
        let index = match self.last_tuple {
            // The remote port first: it tells a server's connections apart soonest.
            Some(((l, r), index))
                if r.port() == remote.port() && r.ip() == remote.ip() && l == local =>
            {
                index
            }
            Some(_) => *self.by_tuple.get(&key)?,
            None => {
                let index = *self.by_tuple.get(&key)?;
                self.last_tuple = Some((key, index));
                index
            }
        };
        let slot = self.conns.get(index as usize)?;
        Some(ConnHandle {
            index,
            generation: slot.generation,
        })
    }

    pub(crate) fn conn(&self, handle: ConnHandle) -> Option<&Conn> {
        let conn = self
            .conns
            .get(handle.index as usize)?
            .live(handle.generation)?;
        Some(conn)
    }

    pub(crate) fn conn_mut(&mut self, handle: ConnHandle) -> Option<&mut Conn> {
        live_conn(&mut self.conns, handle)
    }

    pub(crate) fn insert_conn(&mut self, conn: Conn) -> ConnHandle {
        let key = (conn.local, conn.remote);
        let boxed = Box::new(conn);
        self.live_conns += 1;
        let handle = match self.free_conns.pop() {
            Some(index) => match self.conns.get_mut(index as usize) {
                Some(slot) => {
                    slot.value = Some(boxed);
                    ConnHandle {
                        index,
                        generation: slot.generation,
                    }
                }
                None => unreachable_slot(&mut self.conns, boxed),
            },
            None => unreachable_slot(&mut self.conns, boxed),
        };
        self.by_tuple.insert(key, handle.index);
        self.last_tuple = None;
        handle
    }

    /// Removes a connection for good: its slot's generation moves on.
    pub(crate) fn free_conn(&mut self, handle: ConnHandle) {
        let Some(slot) = self.conns.get_mut(handle.index as usize) else {
            return;
        };
        if slot.generation != handle.generation {
            return;
        }
        let Some(conn) = slot.value.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.live_conns = self.live_conns.saturating_sub(1);
        self.free_conns.push(handle.index);
        if self.by_tuple.get(&(conn.local, conn.remote)) == Some(&handle.index) {
            self.by_tuple.remove(&(conn.local, conn.remote));
            self.last_tuple = None;
        }
        if let Some(timer) = conn.timer {
            self.wheel.cancel(timer);
        }
        if let Some(lh) = conn.listener {
            if let Some(listener) = self.listener_mut(lh) {
                if conn.in_syn_queue {
                    listener.syn_queue = listener.syn_queue.saturating_sub(1);
                }
                listener.accept_queue.retain(|h| *h != handle);
            }
        }
    }

    pub(crate) fn listener_mut(&mut self, handle: ListenerHandle) -> Option<&mut Listener> {
        self.listeners
            .get_mut(handle.index as usize)?
            .live_mut(handle.generation)
    }

    pub(crate) fn listener(&self, handle: ListenerHandle) -> Option<&Listener> {
        self.listeners
            .get(handle.index as usize)?
            .live(handle.generation)
    }

    /// Runs `f` on a connection with a context, then settles the consequences (events,
    /// accept queue, timers, freeing). Inlined: `f` is a closure, different at each caller.
    #[inline(always)]
    pub(crate) fn with_conn(
        &mut self,
        handle: ConnHandle,
        out: &mut dyn SegmentSink,
        f: impl FnOnce(&mut Conn, &mut Ctx<'_>),
    ) {
        let now = self.now;
        {
            let Tcp {
                conns,
                config,
                stats,
                challenge,
                wheel,
                event_queue,
                ..
            } = self;
            let Some(conn) = live_conn(conns, handle) else {
                return;
            };
            let mut ctx = Ctx {
                now,
                config,
                stats,
                out,
                challenge,
            };
            f(conn, &mut ctx);
            // `settle`'s common case, on the connection at hand.
            if settle_live(conn, handle, wheel, event_queue) {
                return;
            }
        }
        self.settle(handle);
    }

    /// After anything happened to a connection: move it to its listener's accept queue,
    /// queue its events, re-arm its timer, free it when it is over.
    pub(crate) fn settle(&mut self, handle: ConnHandle) {
        {
            let Tcp {
                conns,
                wheel,
                event_queue,
                ..
            } = self;
            let Some(conn) = live_conn(conns, handle) else {
                return;
            };
            if settle_live(conn, handle, wheel, event_queue) {
                return;
            }
        }
        let Some(conn) = self.conn_mut(handle) else {
            return;
        };
        let mut to_accept = None;
        let mut leave_syn_queue = None;
        if conn.events & ev::ESTABLISHED_PASSIVE != 0 {
            conn.events &= !ev::ESTABLISHED_PASSIVE;
            to_accept = conn.listener;
        }
        if conn.in_syn_queue && conn.state != TcpState::SynReceived {
            conn.in_syn_queue = false;
            leave_syn_queue = conn.listener;
        }
        let state = conn.state;
        let owned = conn.app_owned && !conn.released;
        let queue_event = owned && conn.events != 0 && !conn.event_queued;
        if queue_event {
            conn.event_queued = true;
        }
        let free = state == TcpState::Closed && !owned;
        let deadline = if state == TcpState::Closed {
            None
        } else {
            conn.next_deadline()
        };
        let old_timer = conn.timer;
        // Lazy re-arm: the wheel entry only has to fire no later than the earliest deadline.
        // Most segments push a deadline later (the RTO restarts on every ACK, the delayed ACK
        // is cancelled by the ACK that goes out), so the entry stays where it is and `poll`
        // re-checks the deadlines when it fires; only a deadline earlier than the entry (or a
        // first one) moves it. An entry left without any deadline fires once, for nothing.
        let rearm = match (deadline, old_timer, conn.timer_at) {
            (None, _, _) => false,
            (Some(d), Some(_), Some(entry)) => d < entry,
            (Some(_), _, _) => true,
        };
        if queue_event {
            self.event_queue.push(EventSource::Conn(handle));
        }
        if let Some(lh) = leave_syn_queue {
            if let Some(l) = self.listener_mut(lh) {
                l.syn_queue = l.syn_queue.saturating_sub(1);
            }
        }
        if let Some(lh) = to_accept {
            let mut notify = false;
            if let Some(l) = self.listener_mut(lh) {
                l.accept_queue.push_back(handle);
                if !l.notified {
                    l.notified = true;
                    notify = true;
                }
            }
            if notify {
                self.event_queue.push(EventSource::Listener(lh));
            }
        }
        if free {
            self.free_conn(handle);
            return;
        }
        if state == TcpState::Closed {
            // A connection the application still holds: keep it (for its error and final
            // reads) but take it out of demultiplexing and timing.
            if let Some(timer) = old_timer {
                self.wheel.cancel(timer);
            }
            let key = self.conn(handle).map(|c| (c.local, c.remote));
            if let Some(key) = key {
                if self.by_tuple.get(&key) == Some(&handle.index) {
                    self.by_tuple.remove(&key);
                    self.last_tuple = None;
                }
            }
            if let Some(conn) = self.conn_mut(handle) {
                conn.timer = None;
                conn.timer_at = None;
            }
            return;
        }
        if rearm {
            if let Some(timer) = old_timer {
                self.wheel.cancel(timer);
            }
            let timer = deadline.and_then(|d| self.wheel.try_arm(d, handle).ok());
            if let Some(conn) = self.conn_mut(handle) {
                conn.timer = timer;
                conn.timer_at = deadline;
            }
        }
    }

    /// Marks a connection as having something to send at the next poll.
    pub(crate) fn mark_dirty(&mut self, handle: ConnHandle) {
        if let Some(conn) = self.conn_mut(handle) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(handle);
            }
        }
    }

    /// Drains the event queue into `events` (see [`TcpEvent`]).
    pub fn take_events(&mut self, events: &mut Vec<TcpEvent>) {
        self.drain_ready(|ready| match ready {
            Ready::Acceptable(lh) => events.push(TcpEvent::Acceptable(lh)),
            Ready::Conn(h, set) => events.extend(set.events(h)),
        });
    }

    /// Drains the event queue into `ready`: the same events as [`Tcp::take_events`], in the
    /// same order, but one entry per connection with its events as a set (expanding each
    /// entry with [`Ready::events`] gives exactly `take_events`'s list).
    #[inline]
    pub fn take_ready(&mut self, ready: &mut Vec<Ready>) {
        self.drain_ready(|r| ready.push(r));
    }

    /// Walks the event queue in order: a listener with connections waiting, a connection
    /// still owned by the application with its (non-empty) set of events, which it clears.
    #[inline]
    fn drain_ready(&mut self, mut f: impl FnMut(Ready)) {
        if self.event_queue.is_empty() {
            return;
        }
        // Nothing below queues events, so the whole queue is taken, walked in order, and its
        // buffer given back.
        let mut queue = std::mem::take(&mut self.event_queue);
        for &source in &queue {
            match source {
                EventSource::Listener(lh) => {
                    if self
                        .listener(lh)
                        .is_some_and(|l| !l.accept_queue.is_empty())
                    {
                        f(Ready::Acceptable(lh));
                    }
                }
                EventSource::Conn(h) => {
                    let Some(conn) = self.conn_mut(h) else {
                        continue;
                    };
                    conn.event_queued = false;
                    let bits = std::mem::take(&mut conn.events);
                    if conn.released || !conn.app_owned {
                        continue;
                    }
                    // Connected, Readable, Writable, PeerClosed, Closed, Reset
                    // (ESTABLISHED_PASSIVE is internal and never reported).
                    let set = TcpEvents::from_bits(bits);
                    if !set.is_empty() {
                        f(Ready::Conn(h, set));
                    }
                }
            }
        }
        queue.clear();
        self.event_queue = queue;
    }
}

/// The connection `handle` names, if its slot still holds it (a split borrow of
/// `Tcp::conns` for the methods that hold other fields of `Tcp` at the same time).
#[inline]
fn live_conn(conns: &mut [Slot<Box<Conn>>], handle: ConnHandle) -> Option<&mut Conn> {
    let conn = conns
        .get_mut(handle.index as usize)?
        .live_mut(handle.generation)?;
    Some(conn)
}

/// [`Tcp::settle`] for the common case, in one borrow: a live connection (not CLOSED, so
/// nothing to free or take out of demultiplexing) that has not just left SYN-RECEIVED (no
/// accept queue or SYN queue change): at most its events to queue and its timer to move —
/// exactly what the general path does for it, in the same order. Returns `false`, having
/// changed nothing, for any other connection.
#[inline(always)]
fn settle_live(
    conn: &mut Conn,
    handle: ConnHandle,
    wheel: &mut TimerWheel<ConnHandle>,
    event_queue: &mut Vec<EventSource>,
) -> bool {
    if conn.state == TcpState::Closed
        || conn.in_syn_queue
        || conn.events & ev::ESTABLISHED_PASSIVE != 0
    {
        return false;
    }
    if conn.events != 0 && !conn.event_queued && conn.app_owned && !conn.released {
        conn.event_queued = true;
        event_queue.push(EventSource::Conn(handle));
    }
    // Lazy re-arm (see `Tcp::settle`): with an entry, only a deadline before it moves it
    // (asked of each deadline, without their minimum, which only a move needs).
    let rearm = match (conn.timer, conn.timer_at) {
        (Some(_), Some(entry)) => conn.has_deadline_before(entry),
        _ => conn.next_deadline().is_some(),
    };
    if rearm {
        let deadline = conn.next_deadline();
        if let Some(timer) = conn.timer {
            wheel.cancel(timer);
        }
        conn.timer = deadline.and_then(|d| wheel.try_arm(d, handle).ok());
        conn.timer_at = deadline;
    }
    true
}

/// Appends a new slot (generation 0) holding `conn`.
fn unreachable_slot(conns: &mut Vec<Slot<Box<Conn>>>, conn: Box<Conn>) -> ConnHandle {
    let index = conns.len() as u32;
    conns.push(Slot {
        generation: 0,
        value: Some(conn),
    });
    ConnHandle {
        index,
        generation: 0,
    }
}
