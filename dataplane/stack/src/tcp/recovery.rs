//! The sender's side of ACK processing and loss recovery: how the connection drives the shared
//! building blocks — the SACK scoreboard ([`super::sack::SackScoreboard`], RFC 6675 with RFC 6582
//! partial ACKs for peers that do not SACK), the congestion controller
//! ([`super::congestion::CongestionController`], RFC 5681 / RFC 9438) and the RTT estimator
//! ([`super::rtt::RttEstimator`], RFC 6298) — in the order the scoreboard's module docs give:
//!
//! 1. every acceptable ACK goes to [`SackScoreboard::on_ack`]; new cumulative bytes go to the
//!    controller's `on_ack` (with FlightSize before the ACK), a `fast_retransmit` outcome to its
//!    `on_congestion_event` plus a retransmission queued in [`Conn::rxt_pending`], and
//!    `recovery_ended` to its `on_recovery_end`;
//! 2. while in recovery, [`Conn::transmit_recovery`] sends what `next_seg` returns as long as
//!    `cwnd - pipe >= SMSS` (RFC 6675 §5 (C));
//! 3. on a retransmission timeout (`timers`), `on_rto` on both, then go-back-N from SND.UNA
//!    skipping SACKed data ([`Conn::skip_sacked`]).
//!
//! The controller never inflates or deflates cwnd: the pipe estimate does that job.

use super::congestion::CongestionControl;
use super::conn::{ev, Conn, Ctx};
use super::sack::{Ack, NextSeg};
use super::seq::{SeqNum, SeqRange};
use crate::wire::{SackBlocks, TcpFlags, TcpRepr};

impl Conn {
    /// The fifth step for an acceptable ACK in a synchronized state: SND.UNA, RTT, congestion
    /// control, duplicate ACKs and loss recovery, and the send window (RFC 9293 §3.10.7.4).
    #[inline(always)]
    pub(crate) fn process_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        repr: &TcpRepr,
        payload_len: usize,
        ack: SeqNum,
    ) {
        let seq = SeqNum(repr.seq);
        let window = u32::from(repr.window) << self.snd_wscale;

        // The usual ACK: new data acknowledged, no SACK block on it (or SACK off), nothing
        // SACKed and no recovery. `on_plain_ack` then does what `on_ack` would, whose outcome
        // is only `newly_acked`: the rest of this function would see no SACK block, no
        // recovery before or after (so no end of it, no partial ACK) and no fast retransmit;
        // FlightSize before the ACK is taken first either way. (`header_prediction` off turns
        // this off too, so the tests compare it with the general path.)
        if ctx.config.header_prediction && (!self.sack_on || repr.options.sack.is_empty()) {
            let flight_before = self.flight() as usize;
            if let Some(newly_acked) = self.scoreboard.on_plain_ack(ack, self.snd_max) {
                self.on_new_ack(ctx, repr, ack, newly_acked, flight_before);
                self.update_send_window(seq, ack, window);
                return;
            }
        }
        self.process_ack_full(ctx, repr, payload_len, ack, seq, window);
    }

    /// RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT: "(a) the receiver of the ACK has outstanding
    /// data, (b) the incoming acknowledgment carries no data, (c) the SYN and FIN bits are
    /// both off, (d) the acknowledgment number is equal to the greatest acknowledgment
    /// received on the given connection (TCP.UNA from [RFC793]) and (e) the advertised window
    /// in the incoming acknowledgment equals the advertised window in the last incoming
    /// acknowledgment." A zero window is excluded as well: the ACKs of window probes repeat
    /// themselves without saying anything about loss. (`window` is the scaled SEG.WND.)
    #[inline(always)]
    fn rfc5681_duplicate(
        &self,
        repr: &TcpRepr,
        payload_len: usize,
        ack: SeqNum,
        window: u32,
    ) -> bool {
        payload_len == 0
            && !repr.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && ack == self.snd_una
            && window == self.snd_wnd
            && self.snd_wnd != 0
            && self.snd_max != self.snd_una
    }

    /// [`Conn::process_ack`] for any ACK (out of line, so that the usual ACK's path does not
    /// pay for its frame): `seq` is SEG.SEQ and `window` the scaled SEG.WND.
    #[inline(never)]
    fn process_ack_full(
        &mut self,
        ctx: &mut Ctx<'_>,
        repr: &TcpRepr,
        payload_len: usize,
        ack: SeqNum,
        seq: SeqNum,
        window: u32,
    ) {
        // (Here rather than in `process_ack`, whose inline part is the usual sender's ACK.)
        if ctx.config.header_prediction && (!self.sack_on || repr.options.sack.is_empty()) {
            // The other usual ACK (a data receiver's): it acknowledges nothing new and is no
            // duplicate, outside recovery. `on_ack` then changes nothing and reports nothing:
            // no advance (so DupAcks is not reset, RFC 6675 §5), no D-SACK and nothing SACKed
            // without blocks, not a duplicate (nothing newly SACKed, and not an RFC 5681 §2
            // duplicate), no recovery to end or partial ACK, none to start; `peer_sacks` stays.
            // What is left of this function is the window update.
            if self.scoreboard.acks_nothing_outside_recovery(ack)
                && !self.rfc5681_duplicate(repr, payload_len, ack, window)
            {
                self.update_send_window(seq, ack, window);
                return;
            }
        }

        // SACK blocks count only if SACK was agreed in the SYNs (RFC 2018 §2: "The SACK option
        // ... MUST NOT be sent" otherwise, so a block on a non-SACK connection is bogus).
        let mut blocks = [SeqRange::default(); SackBlocks::MAX];
        let mut nblocks = 0;
        if self.sack_on {
            for (slot, b) in blocks.iter_mut().zip(repr.options.sack.as_slice()) {
                *slot = SeqRange::new(SeqNum(b.left), SeqNum(b.right));
                nblocks += 1;
            }
        }
        let blocks = blocks.get(..nblocks).unwrap_or(&[]);

        let rfc5681_duplicate = self.rfc5681_duplicate(repr, payload_len, ack, window);

        // FlightSize before this ACK (the controller's `on_ack` wants it so).
        let flight_before = self.flight() as usize;
        let was_in_recovery = self.scoreboard.in_recovery();
        let out = self.scoreboard.on_ack(Ack {
            ack,
            sack_blocks: blocks,
            snd_max: self.snd_max,
            rfc5681_duplicate,
        });
        if !blocks.is_empty() {
            self.peer_sacks = true;
        }

        if out.newly_acked > 0 {
            self.on_new_ack(ctx, repr, ack, out.newly_acked, flight_before);
        }

        if out.recovery_ended {
            // RFC 6675 §5 (A) / RFC 6582 §3.2 (3): the cumulative ACK covers RecoveryPoint.
            self.cc.on_recovery_end(ctx.now);
        } else if was_in_recovery && out.newly_acked > 0 && !self.peer_sacks {
            // RFC 6582 §3.2 (5): "If this ACK does *not* acknowledge all of the data up to and
            // including recover, then this is a partial ACK. In this case, retransmit the first
            // unacknowledged segment." The scoreboard returns it first; it is sent whatever
            // pipe says (the partial ACK's deflation and "+SMSS" of RFC 6582 let it out).
            if let Some(NextSeg::Retransmit(r) | NextSeg::Rescue(r)) =
                self.scoreboard.next_seg(self.snd_max, false)
            {
                self.rxt_pending = Some(r);
            }
        }

        if let Some(r) = out.fast_retransmit {
            // RFC 6675 §5 (4.2): "ssthresh = cwnd = (FlightSize / 2)" (β of the algorithm), and
            // (4.3): "Retransmit the first data segment presumed dropped".
            ctx.stats.fast_retransmits += 1;
            self.stats.recoveries += 1;
            self.cc.on_congestion_event(ctx.now, self.flight() as usize);
            self.rxt_pending = Some(r);
        }

        self.update_send_window(seq, ack, window);
    }

    /// SND.UNA moved to `ack` (by `newly_acked` bytes, FlightSize `flight_before` before the
    /// ACK): free the send buffer, RTT sample, RTO restart, congestion window growth.
    #[inline(always)]
    fn on_new_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        repr: &TcpRepr,
        ack: SeqNum,
        newly_acked: u32,
        flight_before: usize,
    ) {
        let freed = self.send.ack_to(ack);
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        self.stats.bytes_acked += freed as u64;
        self.rtt_from_ack(ctx, repr, ack);
        self.retries = 0;
        self.persist_backoff = 0;
        // RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else restart it.
        self.rto_at = (self.snd_una != self.snd_max).then(|| self.rtt.deadline(ctx.now));
        if let Some(r) = self.rto_recover {
            if ack.ge(r) {
                self.rto_recover = None;
            }
        }
        // A queued retransmission the ACK already covers is void.
        if let Some(r) = self.rxt_pending {
            if r.end.le(ack) {
                self.rxt_pending = None;
            }
        }
        // RFC 5681 §3.1 growth (the controller holds it during recovery).
        self.cc.on_ack_nanos(
            ctx.now,
            newly_acked as usize,
            self.rtt.srtt_nanos(),
            flight_before,
        );
        if freed > 0 && self.want_writable && self.send.free() > 0 {
            self.want_writable = false;
            self.events |= ev::WRITABLE;
        }
    }

    /// The send window update of RFC 9293 §3.10.7.4 (fifth step) for `SEG.SEQ = seq`,
    /// `SEG.ACK = ack` and the scaled `window`.
    #[inline(always)]
    pub(crate) fn update_send_window(&mut self, seq: SeqNum, ack: SeqNum, window: u32) {
        // Window update (RFC 9293 §3.10.7.4 fifth step, ESTABLISHED): "If SND.UNA =< SEG.ACK =<
        // SND.NXT, the send window should be updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 =
        // SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <- SEG.WND".
        if ack.ge(self.snd_una)
            && (self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack)))
        {
            let was_closed = self.snd_wnd == 0;
            self.snd_wnd = window;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            if window > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
                if was_closed && self.snd_nxt.gt(self.snd_una) {
                    // The window reopens without covering what we sent into it (the probe, or
                    // data in flight when it closed): the receiver dropped it, so it goes again
                    // from SND.UNA now rather than after a retransmission timeout.
                    self.snd_nxt = self.snd_una;
                }
            }
        }
    }

    /// Sends a range of the sequence space the scoreboard chose: its data, and our FIN if the
    /// range covers it. Returns whether something went out.
    pub(crate) fn send_seq_range(&mut self, ctx: &mut Ctx<'_>, range: SeqRange) -> bool {
        let data_end = if range.end.gt(self.send.end()) {
            self.send.end()
        } else {
            range.end
        };
        if data_end.lt(range.start) {
            return false;
        }
        let len = data_end.distance_from(range.start);
        if len == 0 && self.fin_seq() != Some(range.start) {
            return false;
        }
        self.send_range(ctx, range.start, len)
    }

    /// Loss recovery's transmissions (RFC 6675 §5): first the retransmission an ACK asked for
    /// (fast retransmit, step (4.3), or a partial ACK's, RFC 6582 §3.2 (5)), whatever the window;
    /// then, "(C) If cwnd - pipe >= 1 SMSS, the sender SHOULD transmit one or more segments",
    /// as NextSeg () chooses. Returns whether anything was sent.
    pub(crate) fn transmit_recovery(&mut self, ctx: &mut Ctx<'_>, mss: u32) -> bool {
        let mut sent = false;
        if let Some(r) = self.rxt_pending.take() {
            sent |= self.send_seq_range(ctx, r);
        }
        if !self.scoreboard.in_recovery() {
            return sent;
        }
        // Bounded: a burst is at most cwnd / SMSS segments anyway.
        for _ in 0..1024 {
            let pipe = self.scoreboard.pipe(self.snd_max);
            if self.cc.cwnd().saturating_sub(pipe) < mss as usize {
                break;
            }
            let wnd_end = self.snd_una + self.snd_wnd;
            let can_send_new =
                self.send.available_from(self.snd_max) > 0 && self.snd_max.lt(wnd_end);
            match self.scoreboard.next_seg(self.snd_max, can_send_new) {
                Some(NextSeg::Retransmit(r) | NextSeg::Rescue(r)) => {
                    if !self.send_seq_range(ctx, r) {
                        break;
                    }
                }
                Some(NextSeg::NewData) => {
                    // Rule (2): "one segment of up to SMSS octets of previously unsent data".
                    let start = self.snd_max;
                    let avail = self.send.available_from(start) as u32;
                    let len = avail.min(mss).min(wnd_end.distance_from(start));
                    if len == 0 || !self.send_range(ctx, start, len) {
                        break;
                    }
                }
                None => break,
            }
            sent = true;
        }
        sent
    }

    /// Go-back-N after a timeout skips what the peer SACKed (RFC 6675 §5.1: "A SACK TCP sender
    /// SHOULD utilize all SACK information made available during the loss recovery following
    /// an RTO"): moves SND.NXT to the next unSACKed byte below SND.MAX.
    pub(crate) fn skip_sacked(&mut self) {
        if self.rto_recover.is_none() || !self.snd_nxt.lt(self.snd_max) {
            return;
        }
        match self.scoreboard.first_hole(self.snd_nxt, self.snd_max) {
            Some(hole) => {
                if hole.start.gt(self.snd_nxt) {
                    self.snd_nxt = hole.start;
                }
            }
            None => self.snd_nxt = self.snd_max,
        }
    }
}
