//! One connection's transmission control block (RFC 9293 §3.3.1) and the helpers every part
//! of the state machine uses: building and emitting segments, the advertised window, state
//! changes. Segment arrival lives in `input`, transmission in `output`, timers in `timers`,
//! loss recovery in `recovery`.

use std::net::SocketAddrV4;
use std::time::Duration;

use cyclone_pmd::Timestamp;

use super::congestion::{CongestionControl, CongestionController};
use super::layer::{PlainSegment, SegmentSink, TcpConfig};
use super::options::{window_shift_for, DEFAULT_MSS, TIMESTAMPS_LEN};
use super::recv::RecvBuffer;
use super::rtt::{RttEstimator, SendTime};
use super::sack::SackScoreboard;
use super::send::{SegmentData, SendBuffer};
use super::seq::{SeqNum, SeqRange};
use super::state::{ListenerHandle, TcpError, TcpState};
use super::stats::{ConnStats, TcpStats};
use crate::timer::TimerHandle;
use crate::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// Event bits a connection raises for the application: the public [`TcpEvents`] bits, plus
/// one internal bit.
pub(crate) mod ev {
    use super::super::state::TcpEvents;

    pub const CONNECTED: u8 = TcpEvents::CONNECTED.bits();
    pub const READABLE: u8 = TcpEvents::READABLE.bits();
    pub const WRITABLE: u8 = TcpEvents::WRITABLE.bits();
    pub const PEER_CLOSED: u8 = TcpEvents::PEER_CLOSED.bits();
    pub const CLOSED: u8 = TcpEvents::CLOSED.bits();
    pub const RESET: u8 = TcpEvents::RESET.bits();
    /// Internal: a passive connection reached ESTABLISHED (goes to the accept queue); never
    /// reported (outside [`TcpEvents::ALL`]).
    pub const ESTABLISHED_PASSIVE: u8 = 64;
    const _: () = assert!(TcpEvents::ALL & ESTABLISHED_PASSIVE == 0);
}

/// RFC 5961 §7: a global budget of challenge ACKs per second.
#[derive(Debug, Default)]
pub(crate) struct ChallengeLimiter {
    window_start: Timestamp,
    sent: u32,
}

impl ChallengeLimiter {
    /// Whether one more challenge ACK may go out now.
    pub(crate) fn allow(&mut self, now: Timestamp, limit: u32) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }
}

/// What a connection's code needs from the layer for one operation.
pub(crate) struct Ctx<'a> {
    pub now: Timestamp,
    pub config: &'a TcpConfig,
    pub stats: &'a mut TcpStats,
    pub out: &'a mut dyn SegmentSink,
    pub challenge: &'a mut ChallengeLimiter,
}

/// The transmission control block.
#[derive(Debug)]
pub(crate) struct Conn {
    pub state: TcpState,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// The listener of a passive open until the application accepts it.
    pub listener: Option<ListenerHandle>,
    /// The application holds a handle (connect, or accepted).
    pub app_owned: bool,
    /// The application closed or aborted: the handle is no longer valid.
    pub released: bool,
    pub error: Option<TcpError>,
    pub events: u8,
    pub want_writable: bool,

    // Send sequence space (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// The highest sequence number sent plus one.
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// Shift applied to the peer's window field (RFC 7323 Snd.Wind.Shift).
    pub snd_wscale: u8,
    /// Data bytes per segment before options: min(peer MSS, our MSS) (RFC 9293 §3.7.1).
    pub snd_mss: u16,
    pub send: SendBuffer,
    /// The application shut down sending: FIN follows the queued data.
    pub fin_queued: bool,

    // Receive sequence space.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised (RCV.NXT + RCV.WND then).
    pub rcv_adv: SeqNum,
    /// Our shift (RFC 7323 Rcv.Wind.Shift).
    pub rcv_wscale: u8,
    /// The parts of [`Conn::rcv_window`] that depend only on `rcv_wscale`, `snd_mss` and the
    /// receive buffer's capacity, which change only in [`Conn::new`] and [`Conn::negotiate`]
    /// (both recompute them through [`RcvLimits::of`]): the offer's largest value and its SWS
    /// threshold. `rcv_window` checks them against a recomputation in debug builds.
    pub rcv_limits: RcvLimits,
    pub recv: RecvBuffer,
    pub fin_received: bool,
    /// A FIN seen beyond a hole: its sequence number.
    pub ooo_fin: Option<SeqNum>,

    // Options.
    /// Our offer in SYN-SENT; what we agreed to once synchronized.
    pub ws_on: bool,
    pub ts_on: bool,
    pub ts_recent: u32,
    pub ts_recent_at: Timestamp,
    pub last_ack_sent: SeqNum,
    pub sack_on: bool,

    // Acknowledgments.
    pub ack_now: bool,
    /// An ACK is owed at the end of the receive burst (`TcpConfig::ack_per_burst`).
    pub ack_at_poll: bool,
    pub delack_at: Option<Timestamp>,
    pub unacked_segs: u32,

    // Retransmission.
    pub rtt: RttEstimator,
    pub rtt_timed: Option<(SeqNum, SendTime)>,
    pub rto_at: Option<Timestamp>,
    pub retries: u32,
    pub syn_timed_out: bool,
    pub persist_at: Option<Timestamp>,
    pub persist_backoff: u32,
    /// Zero-window probes sent since the peer last sent anything.
    pub probes_unanswered: u32,
    pub keepalive_at: Option<Timestamp>,
    pub keepalive_probes: u32,
    pub timewait_at: Option<Timestamp>,
    pub last_rx: Timestamp,

    // Congestion control and loss recovery (the shared building blocks; `recovery` drives them).
    /// cwnd and ssthresh (RFC 5681, RFC 9438); never inflated: RFC 6675 pipe accounting.
    pub cc: CongestionController,
    /// SACKed ranges, DupAcks, HighRxt, RescueRxt and RecoveryPoint (RFC 6675, RFC 6582).
    pub scoreboard: SackScoreboard,
    /// The peer has sent SACK blocks on this connection (else partial ACKs follow RFC 6582).
    pub peer_sacks: bool,
    /// A retransmission to send at the next transmission whatever the window: the fast
    /// retransmit (RFC 6675 §5 (4.3)) or a partial ACK's (RFC 6582 §3.2 (5)).
    pub rxt_pending: Option<SeqRange>,
    /// After an RTO, go-back-N up to this SND.MAX skips SACKed data (RFC 6675 §5.1).
    pub rto_recover: Option<SeqNum>,
    /// The application aborted: send RST at the next transmission (RFC 9293 §3.10.5).
    pub abort_pending: bool,
    /// Counted in its listener's SYN queue.
    pub in_syn_queue: bool,
    /// Pending events are in the layer's event queue.
    pub event_queued: bool,

    pub stats: ConnStats,

    // The layer's bookkeeping.
    /// The connection's timer-wheel entry, and the deadline it was armed for: at or before
    /// [`Conn::next_deadline`] (lazy re-arm, see `Tcp::settle`).
    pub timer: Option<TimerHandle>,
    pub timer_at: Option<Timestamp>,
    pub dirty: bool,
}

/// See [`Conn::rcv_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RcvLimits {
    /// The largest window we can offer: the receive buffer's capacity, capped by what a 16-bit
    /// field can say with our shift (RFC 7323 §2.3).
    pub cap: u32,
    /// Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only by at least
    /// min(buffer/2, MSS) (and at least 1).
    pub threshold: u32,
}

impl RcvLimits {
    /// The limits for shift `rcv_wscale`, send MSS `snd_mss` and a receive buffer of `capacity`
    /// bytes.
    pub(crate) fn of(rcv_wscale: u8, snd_mss: u16, capacity: usize) -> RcvLimits {
        let max = u32::from(u16::MAX) << rcv_wscale;
        let cap = u32::try_from(capacity).unwrap_or(u32::MAX).min(max);
        let threshold = (cap / 2).min(u32::from(snd_mss)).max(1);
        RcvLimits { cap, threshold }
    }
}

impl Conn {
    /// End of stream for the application: the peer's FIN arrived and every byte before it
    /// has been read.
    #[inline]
    pub(crate) fn at_eof(&self) -> bool {
        self.fin_received && self.recv.len() == 0
    }

    /// A connection with ISS `iss`, not yet in any list.
    pub(crate) fn new(
        config: &TcpConfig,
        now: Timestamp,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        state: TcpState,
    ) -> Conn {
        let rcv_wscale = if config.window_scaling {
            window_shift_for(config.recv_buffer)
        } else {
            0
        };
        let snd_mss = DEFAULT_MSS.min(config.mss);
        let recv = RecvBuffer::new(config.recv_buffer, config.max_ooo_ranges);
        let rcv_limits = RcvLimits::of(rcv_wscale, snd_mss, recv.capacity());
        Conn {
            state,
            local,
            remote,
            listener: None,
            app_owned: false,
            released: false,
            error: None,
            events: 0,
            want_writable: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            snd_wscale: 0,
            snd_mss,
            send: SendBuffer::new(config.send_buffer, iss + 1u32),
            fin_queued: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_wscale,
            rcv_limits,
            recv,
            fin_received: false,
            ooo_fin: None,
            ws_on: config.window_scaling,
            ts_on: config.timestamps,
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SeqNum(0),
            sack_on: config.sack,
            ack_now: false,
            ack_at_poll: false,
            delack_at: None,
            unacked_segs: 0,
            rtt: RttEstimator::new(config.rtt),
            rtt_timed: None,
            rto_at: None,
            retries: 0,
            syn_timed_out: false,
            persist_at: None,
            persist_backoff: 0,
            probes_unanswered: 0,
            keepalive_at: None,
            keepalive_probes: 0,
            timewait_at: None,
            last_rx: now,
            cc: CongestionController::new(config.congestion, usize::from(DEFAULT_MSS)),
            scoreboard: SackScoreboard::new(iss + 1u32, usize::from(DEFAULT_MSS)),
            peer_sacks: false,
            rxt_pending: None,
            rto_recover: None,
            abort_pending: false,
            in_syn_queue: false,
            event_queued: false,
            stats: ConnStats::default(),
            timer: None,
            timer_at: None,
            dirty: false,
        }
    }

    /// Bytes per data segment once options are accounted for (RFC 6691: the MSS excludes
    /// options, so the sender subtracts the ones it always sends).
    pub(crate) fn eff_mss(&self) -> u32 {
        let ts = if self.ts_on { TIMESTAMPS_LEN } else { 0 };
        u32::from(self.snd_mss.saturating_sub(ts).max(64))
    }

    /// Bytes sent and not acknowledged.
    pub(crate) fn flight(&self) -> u32 {
        self.snd_max.distance_from(self.snd_una)
    }

    /// Sequence number of our FIN, if the application shut down.
    pub(crate) fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.send.end())
    }

    /// Whether our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una.gt(f))
    }

    /// The receive window to offer, in bytes, with receiver SWS avoidance (RFC 9293
    /// §3.8.6.2.2): the right edge moves only when it can move by min(buffer/2, MSS); it never
    /// moves left (RFC 9293 §3.8.6 "shrinking the window" is discouraged).
    #[inline]
    pub(crate) fn rcv_window(&self) -> u32 {
        // The limits that depend only on the shift, the MSS and the buffer's capacity were
        // computed when those last changed.
        debug_assert_eq!(
            self.rcv_limits,
            RcvLimits::of(self.rcv_wscale, self.snd_mss, self.recv.capacity()),
            "rcv_limits out of date"
        );
        let RcvLimits { cap, threshold } = self.rcv_limits;
        // Free space, capped by what a 16-bit field can say with our shift (RFC 7323 §2.3): free
        // space is at most the capacity, so capping it by `cap` (capacity capped by that
        // maximum) is the same as capping it by the maximum.
        let free = u32::try_from(self.recv.free()).unwrap_or(u32::MAX).min(cap);
        let current = if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.distance_from(self.rcv_nxt)
        } else {
            0
        };
        if free >= current.saturating_add(threshold) || free == cap {
            free
        } else {
            current.min(free.max(current))
        }
    }

    /// The RCV.WND of the acceptability test: what we last advertised.
    pub(crate) fn rcv_wnd_advertised(&self) -> u32 {
        if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.distance_from(self.rcv_nxt)
        } else {
            0
        }
    }

    /// Our TSval: the time in milliseconds (RFC 7323 §5.4: a clock between 1 ms and 1 s per tick).
    pub(crate) fn tsval(now: Timestamp) -> u32 {
        now.as_millis() as u32
    }

    /// The options of a segment we send.
    fn options(&self, now: Timestamp, config: &TcpConfig, syn: bool) -> TcpOptions {
        let mut o = TcpOptions::default();
        if syn {
            o.mss = Some(config.mss);
            if self.ws_on {
                o.window_scale = Some(self.rcv_wscale);
            }
            o.sack_permitted = self.sack_on;
        }
        if self.ts_on {
            o.timestamps = Some(TcpTimestamps {
                tsval: Self::tsval(now),
                tsecr: self.ts_recent,
            });
        }
        if !syn && self.sack_on && self.recv.has_out_of_order() {
            // RFC 2018 §3: at most 3 blocks fit beside the timestamps option, 4 without.
            let max = if self.ts_on { 3 } else { 4 };
            let blocks: Vec<SackBlock> = self
                .recv
                .sack_ranges(max)
                .into_iter()
                .map(|r| SackBlock {
                    left: r.start.0,
                    right: r.end.0,
                })
                .collect();
            o.sack = SackBlocks::from_slice(&blocks);
        }
        o
    }

    /// The flags, acknowledgment and window field of a segment we send with `flags`: every
    /// segment but the first SYN carries ACK. Records what the segment acknowledges and
    /// advertises.
    #[inline(always)]
    fn ack_fields(&mut self, mut flags: TcpFlags) -> (TcpFlags, u32, u16) {
        let syn = flags.contains(TcpFlags::SYN);
        if self.state != TcpState::SynSent || !syn {
            flags.insert(TcpFlags::ACK);
        }
        let window = self.rcv_window();
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        let shift = if syn { 0 } else { self.rcv_wscale };
        let field = (window >> shift).min(u32::from(u16::MAX));
        let ack = if flags.contains(TcpFlags::ACK) {
            self.last_ack_sent = self.rcv_nxt;
            let edge = self.rcv_nxt + (field << shift);
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
            self.ack_now = false;
            self.ack_at_poll = false;
            self.delack_at = None;
            self.unacked_segs = 0;
            self.rcv_nxt.0
        } else {
            0
        };
        (flags, ack, field as u16)
    }

    /// Builds the header of a segment at `seq` with `flags` (see [`Conn::ack_fields`]).
    pub(crate) fn header(&mut self, ctx: &Ctx<'_>, seq: SeqNum, flags: TcpFlags) -> TcpRepr {
        let syn = flags.contains(TcpFlags::SYN);
        let options = self.options(ctx.now, ctx.config, syn);
        let (flags, ack, window) = self.ack_fields(flags);
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack,
            flags,
            window,
            urgent: 0,
            options,
        }
    }

    /// Sends a segment carrying `len` bytes of the send buffer from `seq`. Returns whether the
    /// sink took it.
    pub(crate) fn emit(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: SeqNum,
        flags: TcpFlags,
        len: usize,
    ) -> bool {
        let ok = if flags.contains(TcpFlags::SYN) || (self.sack_on && self.recv.has_out_of_order())
        {
            self.emit_general(ctx, seq, flags, len)
        } else {
            // No SYN and no SACK blocks to report: `options` would hold the timestamps (if
            // agreed) and nothing else, so the header has the fixed layout of a
            // `PlainSegment`, whose `to_repr` is the `header` of the general path (and with
            // no SACK block, its trimming loop does nothing).
            let timestamps = self.ts_on.then(|| TcpTimestamps {
                tsval: Self::tsval(ctx.now),
                tsecr: self.ts_recent,
            });
            let (flags, ack, window) = self.ack_fields(flags);
            let seg = PlainSegment {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq: seq.0,
                ack,
                flags,
                window,
                timestamps,
            };
            let (local, remote) = (self.local, self.remote);
            // A segment that starts a frame of the send buffer goes out as that frame.
            match self.send.segment(seq, len) {
                SegmentData::Frame(frame, len) => {
                    ctx.out.send_plain_frame(local, remote, &seg, frame, len)
                }
                SegmentData::Copy(payload) => ctx.out.send_plain(local, remote, &seg, payload),
            }
        };
        if ok {
            ctx.stats.segments_out += 1;
            self.stats.segments_out += 1;
        } else {
            ctx.stats.segments_sink_refused += 1;
        }
        if flags.contains(TcpFlags::RST) {
            ctx.stats.resets_sent += 1;
        }
        ok
    }

    /// [`Conn::emit`] for any segment: the header as a [`TcpRepr`], SACK blocks trimmed to
    /// fit.
    fn emit_general(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: SeqNum,
        flags: TcpFlags,
        len: usize,
    ) -> bool {
        let mut repr = self.header(ctx, seq, flags);
        // RFC 6691 §2: options and data together must fit the MSS, so a data segment that
        // carries SACK blocks (our ACK piggybacked on data) sends fewer blocks, most recent
        // kept; pure ACKs always have room for them.
        let room = usize::from(self.snd_mss).saturating_sub(len);
        while repr.options.len() > room && !repr.options.sack.is_empty() {
            let blocks = repr.options.sack.as_slice();
            repr.options.sack = SackBlocks::from_slice(&blocks[..blocks.len() - 1]);
        }
        let (local, remote) = (self.local, self.remote);
        let payload = self.send.range(seq, len);
        ctx.out.send_segment(local, remote, &repr, payload)
    }

    /// An ACK now (no data): `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
    pub(crate) fn send_ack(&mut self, ctx: &mut Ctx<'_>) {
        let seq = self.snd_nxt;
        self.emit(ctx, seq, TcpFlags::EMPTY, 0);
    }

    /// A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited (RFC 5961 §7).
    pub(crate) fn challenge_ack(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.challenge.allow(ctx.now, ctx.config.challenge_ack_limit) {
            ctx.stats.challenge_acks += 1;
            self.send_ack(ctx);
        } else {
            ctx.stats.challenge_acks_suppressed += 1;
        }
    }

    /// Sends RST `<SEQ=SND.NXT><CTL=RST,ACK>` (RFC 9293 §3.10.5 ABORT).
    pub(crate) fn send_rst(&mut self, ctx: &mut Ctx<'_>) {
        let seq = self.snd_nxt.max(self.snd_max);
        self.emit(ctx, seq, TcpFlags::RST, 0);
    }

    /// Enters `state`, raising the events the application sees.
    pub(crate) fn set_state(&mut self, state: TcpState) {
        self.state = state;
    }

    /// The connection ends with `error` (RST received, timeout, abort): CLOSED, buffers freed.
    pub(crate) fn reset_with(&mut self, error: TcpError) {
        self.error = Some(error);
        self.state = TcpState::Closed;
        self.events |= ev::RESET;
        self.clear_timers();
        self.recv.clear();
    }

    /// The connection ends normally.
    pub(crate) fn closed_normally(&mut self) {
        self.state = TcpState::Closed;
        self.events |= ev::CLOSED;
        self.clear_timers();
    }

    pub(crate) fn clear_timers(&mut self) {
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.timewait_at = None;
    }

    /// Enters TIME-WAIT for 2·MSL (RFC 9293 §3.10.7.4, eighth step). The application hears
    /// `Closed` now: see [`super::TcpEvent::Closed`] for why not when TIME-WAIT ends.
    pub(crate) fn enter_time_wait(&mut self, now: Timestamp, config: &TcpConfig) {
        self.state = TcpState::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.timewait_at = Some(now + config.time_wait);
        self.events |= ev::CLOSED;
    }

    /// Applies the peer's SYN options (RFC 9293 §3.7.1, RFC 7323 §1.3 and §3.2, RFC 2018 §2):
    /// an option is on only if both sides sent it in their SYNs.
    pub(crate) fn negotiate(&mut self, config: &TcpConfig, peer: &TcpOptions) {
        let peer_mss = peer.mss.unwrap_or(DEFAULT_MSS).max(64);
        self.snd_mss = peer_mss.min(config.mss);
        match (config.window_scaling && self.ws_on, peer.window_scale) {
            (true, Some(shift)) => {
                // RFC 7323 §2.3: a shift above 14 is taken as 14.
                self.snd_wscale = shift.min(super::options::MAX_WINDOW_SCALE);
                self.ws_on = true;
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
                self.ws_on = false;
            }
        }
        self.ts_on = config.timestamps && self.ts_on && peer.timestamps.is_some();
        if let Some(ts) = peer.timestamps.filter(|_| self.ts_on) {
            self.ts_recent = ts.tsval;
        }
        self.sack_on = config.sack && self.sack_on && peer.sack_permitted;
        // The SMSS of RFC 5681 §2 is the data per segment once options are taken off; before
        // any ACK the controller re-derives the RFC 6928 initial window from it.
        let mss = self.eff_mss() as usize;
        self.cc.set_mss(mss);
        self.scoreboard.set_mss(mss);
        // `snd_mss` and `rcv_wscale` changed.
        self.rcv_limits = RcvLimits::of(self.rcv_wscale, self.snd_mss, self.recv.capacity());
    }

    /// Queues FIN after the data (RFC 9293 §3.10.4 CLOSE, or a half-close).
    pub(crate) fn queue_fin(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            TcpState::SynReceived | TcpState::Established => {
                self.fin_queued = true;
                self.state = TcpState::FinWait1;
            }
            TcpState::CloseWait => {
                self.fin_queued = true;
                self.state = TcpState::LastAck;
            }
            _ => {}
        }
    }

    /// The counters the application reads, with the current RTT, window and congestion
    /// state filled in (computed when asked, not after every segment).
    pub(crate) fn stats_snapshot(&self) -> ConnStats {
        let mut stats = self.stats;
        stats.srtt = self.rtt.srtt();
        stats.rto = self.rtt.rto();
        stats.cwnd = u32::try_from(self.cc.cwnd()).unwrap_or(u32::MAX);
        stats.ssthresh = u32::try_from(self.cc.ssthresh()).unwrap_or(u32::MAX);
        stats.snd_wnd = self.snd_wnd;
        stats
    }

    /// Whether a timer of the connection is due before `t`: `next_deadline() < t`, one
    /// deadline at a time.
    #[inline(always)]
    pub(crate) fn has_deadline_before(&self, t: Timestamp) -> bool {
        let before = |d: Option<Timestamp>| d.is_some_and(|d| d < t);
        before(self.rto_at)
            || before(self.delack_at)
            || before(self.persist_at)
            || before(self.keepalive_at)
            || before(self.timewait_at)
    }

    /// The earliest of the connection's timers.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        fn earlier(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        earlier(
            earlier(self.rto_at, self.delack_at),
            earlier(
                self.persist_at,
                earlier(self.keepalive_at, self.timewait_at),
            ),
        )
    }
}
