//! Segment arrival for a connection (RFC 9293 §3.10.7.3 SYN-SENT, §3.10.7.4 the other
//! states), hardened per RFC 5961 (blind RST, SYN and data injection) and RFC 7323 (PAWS).

use std::time::Duration;

use super::conn::{ev, Conn, Ctx};
use super::recv::SegmentText;
use super::rtt::RttSample;
use super::send::Payload;
use super::seq::SeqNum;
use super::state::{TcpError, TcpState};
use crate::wire::{TcpFlags, TcpRepr};

/// RFC 7323 §5.5: TS.Recent older than 24 days is invalid (the peer's clock may have wrapped).
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Conn {
    /// Processes a segment for this connection; the caller then runs `transmit`.
    pub(crate) fn on_segment(
        &mut self,
        ctx: &mut Ctx<'_>,
        repr: &TcpRepr,
        payload: &mut impl SegmentText,
    ) {
        self.stats.segments_in += 1;
        self.last_rx = ctx.now;
        self.probes_unanswered = 0;
        if self.keepalive_at.is_some() || self.keepalive_probes > 0 {
            self.keepalive_probes = 0;
            self.keepalive_at = None;
        }
        if self.state == TcpState::Established
            && ctx.config.header_prediction
            && self.predicted(ctx, repr, payload)
        {
            return;
        }
        let payload = payload.bytes();
        match self.state {
            TcpState::SynSent => self.on_syn_sent(ctx, repr, payload),
            TcpState::Closed | TcpState::Listen => {}
            _ => self.on_synchronized(ctx, repr, payload),
        }
    }

    /// Header prediction (Van Jacobson's, as in BSD's `tcp_input`): in ESTABLISHED, the next
    /// expected segment with only ACK (and PSH) set, an acceptable acknowledgment, no SACK
    /// blocks and (with timestamps on) a timestamp that is not older than TS.Recent — a pure
    /// ACK or in-order data, the common case — goes straight to the steps that can apply to
    /// it. Returns `false`, having changed nothing, for any other segment: `on_synchronized`
    /// then runs the full §3.10.7.4.
    ///
    /// Why this is `on_synchronized` for the segments it takes, step by step:
    /// - SYN-RECEIVED cases: the state is ESTABLISHED.
    /// - RFC 7323 §5.3 R1 PAWS: SEG.TSval >= TS.Recent, so not "older": the test passes. With
    ///   timestamps off there is no test (and a timestamp on the segment is ignored there too).
    /// - First, the sequence number: SEG.SEQ = RCV.NXT is acceptable when RCV.WND > 0
    ///   (`in_window` of its own left edge), and for a zero-length segment also when
    ///   RCV.WND = 0. Data with RCV.WND = 0 is the zero-window special case: not taken here.
    /// - Second (RST), fourth (SYN): the flags are ACK or ACK|PSH only; the third (security)
    ///   and sixth (URG) steps do nothing in either path.
    /// - Fifth, the ACK: SND.UNA =< SEG.ACK =< SND.MAX lies inside RFC 5961 §5.2's acceptable
    ///   range (SND.UNA − MAX.SND.WND =< SEG.ACK =< SND.NXT), so no challenge ACK; then the
    ///   same TS.Recent update (RFC 7323 §4.3 (2)) and the same `process_ack` (for data that
    ///   acknowledges nothing new outside recovery, the window update it reduces to). The
    ///   state stays ESTABLISHED (`process_ack` changes no state), so no FIN-WAIT/CLOSING/
    ///   LAST-ACK move.
    /// - Seventh, the text: ESTABLISHED can receive data; a released connection (data for a
    ///   closed application answered with RST) is not taken here; otherwise the same
    ///   `accept_text`, which trims to the buffer and handles reassembly and delayed ACKs
    ///   (for text that fits with nothing out of order, its case `accept_in_order`).
    /// - Eighth, FIN: not set.
    ///
    /// So the fast path skips only decisions whose outcome it has checked; the tests run the
    /// packet scripts and the fuzz harness with `TcpConfig::header_prediction` on and off and
    /// compare every segment sent.
    fn predicted(
        &mut self,
        ctx: &mut Ctx<'_>,
        repr: &TcpRepr,
        payload: &mut impl SegmentText,
    ) -> bool {
        let len = payload.bytes().len();
        let seq = SeqNum(repr.seq);
        let ack = SeqNum(repr.ack);
        if repr.flags.bits() & !TcpFlags::PSH.bits() != TcpFlags::ACK.bits()
            || seq != self.rcv_nxt
            || !repr.options.sack.is_empty()
            || ack.lt(self.snd_una)
            || ack.gt(self.snd_max)
        {
            return false;
        }
        let mut ts_recent = None;
        if self.ts_on {
            let Some(ts) = repr.options.timestamps else {
                return false;
            };
            if (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                return false;
            }
            // RFC 7323 §4.3 (2): SEG.SEQ =< Last.ACK.sent (and SEG.TSval >= TS.Recent).
            if seq.le(self.last_ack_sent) {
                ts_recent = Some(ts.tsval);
            }
        }
        if len > 0 && (self.released || self.rcv_wnd_advertised() == 0) {
            return false;
        }
        if let Some(tsval) = ts_recent {
            self.ts_recent = tsval;
            self.ts_recent_at = ctx.now;
        }
        // (SEG.ACK = SND.UNA first: it fails at once for the usual ACK of new data.)
        if ack == self.snd_una && len > 0 && self.scoreboard.acks_nothing_outside_recovery(ack) {
            // Data that acknowledges nothing new, outside recovery, without SACK blocks (checked
            // above): `process_ack` would take its acknowledges-nothing-new case (a segment
            // with data is no RFC 5681 §2 duplicate, by (b)) and only update the send window.
            let window = u32::from(repr.window) << self.snd_wscale;
            self.update_send_window(seq, ack, window);
        } else {
            self.process_ack(ctx, repr, len, ack);
        }
        if len > 0 {
            if self.in_order_fits(len) {
                self.accept_in_order(ctx, payload, len);
            } else {
                self.accept_text(ctx, seq, payload.bytes(), false);
            }
        }
        true
    }

    /// Whether `len` bytes of text at RCV.NXT take [`Conn::accept_in_order`]: they fit the
    /// receive buffer whole, nothing is held out of order and no FIN waits beyond a hole.
    #[inline(always)]
    fn in_order_fits(&self, len: usize) -> bool {
        len <= self.recv.free() && !self.recv.has_out_of_order() && self.ooo_fin.is_none()
    }

    /// [`Conn::accept_text`] for text at RCV.NXT that [`Conn::in_order_fits`] (`len` bytes):
    /// nothing to trim, all of it fits, no hole filled and none left, so it appends (keeping
    /// a lent frame where the receive buffer's rules allow), advances RCV.NXT, raises READABLE
    /// and takes the delayed-ACK decision, as `accept_text` would.
    #[inline(always)]
    fn accept_in_order(&mut self, ctx: &mut Ctx<'_>, payload: &mut impl SegmentText, len: usize) {
        self.recv.push_in_order(payload);
        self.rcv_nxt += len;
        self.stats.bytes_received += len as u64;
        self.events |= ev::READABLE;
        self.delay_ack(ctx);
    }

    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2) after in-order text that filled no
    /// hole: at least every second full-sized segment, and within the delayed-ACK timeout.
    #[inline(always)]
    fn delay_ack(&mut self, ctx: &Ctx<'_>) {
        self.unacked_segs += 1;
        if self.unacked_segs >= 2 && ctx.config.ack_per_burst {
            // One ACK for the whole receive burst, sent when the burst is done.
            self.ack_at_poll = true;
        } else if self.unacked_segs >= 2 || ctx.config.delayed_ack.is_zero() {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(ctx.now + ctx.config.delayed_ack);
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, ctx: &mut Ctx<'_>, repr: &TcpRepr, payload: &[u8]) {
        let flags = repr.flags;
        let seg_ack = SeqNum(repr.ack);
        let seq = SeqNum(repr.seq);
        // First, the ACK bit.
        if flags.contains(TcpFlags::ACK) && (seg_ack.le(self.iss) || seg_ack.gt(self.snd_max)) {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is
            // set, if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST>".
            if !flags.contains(TcpFlags::RST) {
                let repr = super::listen::reset_for(repr, 0);
                if ctx
                    .out
                    .send_segment(self.local, self.remote, &repr, Payload::EMPTY)
                {
                    ctx.stats.segments_out += 1;
                }
                ctx.stats.resets_sent += 1;
            }
            ctx.stats.drop_bad_seq += 1;
            return;
        }
        // Second, the RST bit: acceptable only with an acceptable ACK (RFC 5961 §3.2 keeps
        // the RFC 793 rule in SYN-SENT).
        if flags.contains(TcpFlags::RST) {
            if flags.contains(TcpFlags::ACK) {
                ctx.stats.resets_received += 1;
                ctx.stats.attempt_fails += 1;
                self.reset_with(TcpError::ConnectionRefused);
            } else {
                ctx.stats.drop_bad_seq += 1;
            }
            return;
        }
        // Fourth, the SYN bit.
        if !flags.contains(TcpFlags::SYN) {
            ctx.stats.drop_other += 1;
            return;
        }
        self.irs = seq;
        self.rcv_nxt = seq + 1u32;
        self.rcv_adv = self.rcv_nxt;
        self.negotiate(ctx.config, &repr.options);
        // RFC 7323 §2.2: the window of a SYN is not scaled.
        self.snd_wnd = u32::from(repr.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seq;
        self.snd_wl2 = seg_ack;
        if flags.contains(TcpFlags::ACK) {
            self.snd_una = seg_ack;
            if self.snd_nxt.lt(self.snd_una) {
                self.snd_nxt = self.snd_una;
            }
            self.rtt_from_ack(ctx, repr, seg_ack);
            self.handshake_done(ctx);
            self.events |= ev::CONNECTED | ev::WRITABLE;
            // "form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it" — and
            // "If there are other controls or text in the segment, then continue processing at
            // the sixth step under Section 3.10.7.4": the text of a SYN,ACK is kept.
            self.ack_now = true;
            if !payload.is_empty() {
                self.accept_text(ctx, seq + 1u32, payload, false);
            }
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): SYN-RECEIVED, send SYN,ACK. "If
            // there are other controls or text in the segment, queue them for processing after
            // the ESTABLISHED state has been reached".
            self.set_state(TcpState::SynReceived);
            self.queue_syn_text(ctx, seq, payload);
            let iss = self.iss;
            self.emit(ctx, iss, TcpFlags::SYN, 0);
        }
    }

    /// The text of a SYN that moved us to SYN-RECEIVED (from LISTEN, RFC 9293 §3.10.7.2, or
    /// SYN-SENT, §3.10.7.3): "queue them for processing after the ESTABLISHED state has been
    /// reached". It is stored in order after IRS (and so acknowledged by the SYN,ACK, which
    /// spares the peer a retransmission); the application sees it once ESTABLISHED
    /// (`handshake_done` raises READABLE, and `recv` returns nothing before). A FIN on a SYN
    /// is not kept: the peer retransmits it. The text is trimmed to the window we would offer.
    pub(crate) fn queue_syn_text(&mut self, ctx: &mut Ctx<'_>, syn_seq: SeqNum, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let room = self.rcv_window() as usize;
        let data = payload.get(..payload.len().min(room)).unwrap_or(&[]);
        if data.is_empty() {
            return;
        }
        let pending = self.events & ev::READABLE;
        self.accept_text(ctx, syn_seq + 1u32, data, false);
        // No READABLE before ESTABLISHED.
        self.events = (self.events & !ev::READABLE) | pending;
        self.ack_now = true;
    }

    /// Common to both ways into ESTABLISHED.
    fn handshake_done(&mut self, ctx: &mut Ctx<'_>) {
        self.set_state(TcpState::Established);
        ctx.stats.established += 1;
        self.rto_at = None;
        self.retries = 0;
        if self.syn_timed_out {
            // RFC 6298 (5.7).
            self.rtt.on_handshake_after_syn_timeout();
        }
        self.send.set_start(self.iss + 1u32);
        if self.recv.len() > 0 {
            // Text that came with a SYN (`queue_syn_text`) is readable from now on.
            self.events |= ev::READABLE;
        }
    }

    /// An RTT sample from an ACK that acknowledges new data (RFC 6298 §3 with Karn's rule, or
    /// RFC 7323 §4 from the echoed timestamp).
    pub(crate) fn rtt_from_ack(&mut self, ctx: &Ctx<'_>, repr: &TcpRepr, ack: SeqNum) {
        if self.ts_on {
            if let Some(ts) = repr.options.timestamps {
                let elapsed = Conn::tsval(ctx.now).wrapping_sub(ts.tsecr);
                // An echo from the future or more than an hour old is not ours.
                if ts.tsecr != 0 && elapsed < 3_600_000 {
                    let sent = cyclone_pmd::Timestamp(
                        ctx.now
                            .as_nanos()
                            .saturating_sub(u64::from(elapsed) * 1_000_000),
                    );
                    self.rtt
                        .on_sample(RttSample::from_timestamp_echo(sent, ctx.now));
                    self.rtt_timed = None;
                    return;
                }
            }
        }
        if let Some((end, sent)) = self.rtt_timed {
            if ack.ge(end) {
                if let Some(sample) = sent.rtt_sample(ctx.now) {
                    self.rtt.on_sample(sample);
                }
                self.rtt_timed = None;
            }
        }
    }

    /// RFC 9293 §3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn on_synchronized(&mut self, ctx: &mut Ctx<'_>, repr: &TcpRepr, payload: &[u8]) {
        let flags = repr.flags;
        let seq = SeqNum(repr.seq);
        let rst = flags.contains(TcpFlags::RST);
        let syn = flags.contains(TcpFlags::SYN);

        // A retransmitted SYN in SYN-RECEIVED: our SYN,ACK was lost; send it again.
        if self.state == TcpState::SynReceived
            && syn
            && !rst
            && !flags.contains(TcpFlags::ACK)
            && seq == self.irs
        {
            let iss = self.iss;
            if self.emit(ctx, iss, TcpFlags::SYN, 0) {
                ctx.stats.retransmits += 1;
                self.stats.retransmits += 1;
            }
            return;
        }

        // Simultaneous open (RFC 9293 §3.5 figure 8): the peer's SYN,ACK repeats the SYN we
        // already took; the SYN is trimmed (it is below RCV.NXT) and the ACK processed.
        if self.state == TcpState::SynReceived
            && syn
            && !rst
            && flags.contains(TcpFlags::ACK)
            && seq == self.irs
        {
            let mut trimmed = *repr;
            trimmed.flags.remove(TcpFlags::SYN);
            trimmed.seq = repr.seq.wrapping_add(1);
            self.on_synchronized(ctx, &trimmed, payload);
            return;
        }

        // RFC 7323 §5.3 R1: PAWS.
        if self.ts_on && !rst && self.state != TcpState::SynReceived {
            if let Some(ts) = repr.options.timestamps {
                let older = (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                let stale = ctx.now.saturating_duration_since(self.ts_recent_at) > PAWS_IDLE;
                if older && !stale {
                    ctx.stats.drop_paws += 1;
                    self.stats.segments_dropped += 1;
                    self.ack_now = true;
                    return;
                }
            }
        }

        // First: the sequence number (the acceptability table of §3.10.7.4).
        let seg_len = payload.len() + usize::from(syn) + usize::from(flags.contains(TcpFlags::FIN));
        let rcv_wnd = self.rcv_wnd_advertised();
        let last = seq + seg_len.saturating_sub(1);
        let mut acceptable = match (seg_len == 0, rcv_wnd == 0) {
            (true, true) => seq == self.rcv_nxt,
            (true, false) => seq.in_window(self.rcv_nxt, rcv_wnd),
            (false, true) => false,
            (false, false) => {
                seq.in_window(self.rcv_nxt, rcv_wnd) || last.in_window(self.rcv_nxt, rcv_wnd)
            }
        };
        // "If the RCV.WND is zero, no segments will be acceptable, but special allowance
        // should be made to accept valid ACKs, URGs, and RSTs": a segment at RCV.NXT is
        // processed for its control bits, its text is dropped (and acknowledged).
        let mut zero_window = false;
        if !acceptable && rcv_wnd == 0 && seq == self.rcv_nxt {
            acceptable = true;
            zero_window = true;
        }
        if !acceptable {
            // "If an incoming segment is not acceptable, an acknowledgment should be sent in
            // reply (unless the RST bit is set...)".
            if !rst {
                self.ack_now = true;
            }
            ctx.stats.drop_out_of_window += 1;
            self.stats.segments_dropped += 1;
            return;
        }

        // Second: RST (RFC 5961 §3.2).
        if rst {
            if self.state == TcpState::TimeWait {
                // RFC 1337 §3 fix (TW-A), where RFC 9293 would "enter the CLOSED state": "ignore
                // RST segments in TIME-WAIT state", so an old duplicate (or forged) RST cannot
                // cut 2·MSL short and let old segments into a new incarnation.
                ctx.stats.drop_other += 1;
                return;
            }
            if seq != self.rcv_nxt {
                // In the window but not exact: challenge ACK.
                self.challenge_ack(ctx);
                return;
            }
            ctx.stats.resets_received += 1;
            match self.state {
                TcpState::SynReceived => {
                    if self.listener.is_some() && !self.app_owned {
                        // Passive open: "return this connection to LISTEN" — the listener
                        // stays, this embryonic connection goes.
                        self.state = TcpState::Closed;
                        self.clear_timers();
                    } else {
                        ctx.stats.attempt_fails += 1;
                        self.reset_with(TcpError::ConnectionRefused);
                    }
                }
                TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait => self.reset_with(TcpError::ConnectionReset),
                _ => {
                    // CLOSING, LAST-ACK: "enter the CLOSED state, delete the TCB".
                    self.state = TcpState::Closed;
                    self.clear_timers();
                    self.events |= ev::CLOSED;
                }
            }
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
        if syn {
            self.challenge_ack(ctx);
            return;
        }

        // Fifth: the ACK field.
        if !flags.contains(TcpFlags::ACK) {
            ctx.stats.drop_other += 1;
            return;
        }
        let ack = SeqNum(repr.ack);
        if self.state == TcpState::SynReceived {
            if self.snd_una.lt(ack) && ack.le(self.snd_max) {
                self.snd_una = self.iss + 1u32;
                self.snd_wnd = u32::from(repr.window) << self.snd_wscale;
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                self.rtt_from_ack(ctx, repr, ack);
                self.handshake_done(ctx);
                if self.listener.is_some() && !self.app_owned {
                    self.events |= ev::ESTABLISHED_PASSIVE;
                } else {
                    self.events |= ev::CONNECTED | ev::WRITABLE;
                }
                if self.fin_queued {
                    // close() in SYN-RECEIVED queued a FIN (RFC 9293 §3.10.4).
                    self.state = TcpState::FinWait1;
                }
            } else {
                // "If the segment acknowledgment is not acceptable, form a reset segment
                // <SEQ=SEG.ACK><CTL=RST> and send it."
                let rst = super::listen::reset_for(repr, 0);
                if ctx
                    .out
                    .send_segment(self.local, self.remote, &rst, Payload::EMPTY)
                {
                    ctx.stats.segments_out += 1;
                }
                ctx.stats.resets_sent += 1;
                ctx.stats.drop_bad_ack += 1;
                return;
            }
        }

        // RFC 5961 §5.2: acceptable if SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT.
        let lowest = self.snd_una - self.max_snd_wnd.max(1);
        if ack.gt(self.snd_max) || ack.lt(lowest) {
            ctx.stats.drop_bad_ack += 1;
            self.challenge_ack(ctx);
            return;
        }

        // RFC 7323 §4.3 (2): TS.Recent follows the segment that fills RCV.NXT.
        if self.ts_on {
            if let Some(ts) = repr.options.timestamps {
                if seq.le(self.last_ack_sent) && (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0
                {
                    self.ts_recent = ts.tsval;
                    self.ts_recent_at = ctx.now;
                }
            }
        }

        self.process_ack(ctx, repr, payload.len(), ack);

        match self.state {
            TcpState::FinWait1 if self.fin_acked() => self.set_state(TcpState::FinWait2),
            TcpState::Closing if self.fin_acked() => self.enter_time_wait(ctx.now, ctx.config),
            TcpState::LastAck if self.fin_acked() => {
                self.closed_normally();
                return;
            }
            _ => {}
        }

        // Sixth: URG is ignored (RFC 9293 §3.8.5 leaves it to the application; we have none).

        // Seventh: the segment text.
        let mut fin = flags.contains(TcpFlags::FIN);
        if !payload.is_empty() {
            if !self.state.can_receive_data() {
                // After the peer's FIN: "this should not occur ... ignore the segment text".
                self.stats.segments_dropped += 1;
                fin = false;
            } else if self.released {
                // RFC 9293 §3.6.1 / RFC 1122 §4.2.2.13: data for an application that has
                // closed is answered with RST.
                self.send_rst(ctx);
                self.state = TcpState::Closed;
                self.clear_timers();
                return;
            } else {
                fin = self.accept_text(ctx, seq, payload, zero_window) && fin;
            }
        }

        // Eighth: FIN.
        if fin {
            let fin_seq = seq + payload.len();
            if fin_seq == self.rcv_nxt {
                self.receive_fin(ctx);
            } else if fin_seq.gt(self.rcv_nxt) && !zero_window {
                self.ooo_fin = Some(fin_seq);
                self.ack_now = true;
            }
        }
    }

    /// Stores the text of an acceptable segment; returns whether all of it fitted (so a FIN
    /// after it stands).
    fn accept_text(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: SeqNum,
        payload: &[u8],
        zero_window: bool,
    ) -> bool {
        if zero_window {
            self.ack_now = true;
            self.stats.segments_dropped += 1;
            return false;
        }
        // Trim what we already have.
        let (seq, data) = if seq.lt(self.rcv_nxt) {
            let skip = self.rcv_nxt.distance_from(seq) as usize;
            (self.rcv_nxt, payload.get(skip..).unwrap_or(&[]))
        } else {
            (seq, payload)
        };
        // Trim what lies beyond the space we have.
        let offset = seq.distance_from(self.rcv_nxt) as usize;
        let room = self.recv.free().saturating_sub(offset);
        let whole = data.len() <= room;
        let data = data.get(..data.len().min(room)).unwrap_or(&[]);
        if data.is_empty() {
            self.ack_now = true;
            return whole;
        }
        let inserted = self.recv.insert(self.rcv_nxt, seq, data);
        if inserted.dropped {
            ctx.stats.drop_reassembly_full += 1;
            self.stats.segments_dropped += 1;
            self.ack_now = true;
            return false;
        }
        self.rcv_nxt += inserted.advanced;
        self.stats.bytes_received += inserted.advanced as u64;
        if inserted.advanced > 0 {
            self.events |= ev::READABLE;
        }
        if inserted.out_of_order || inserted.filled_hole || !whole {
            // RFC 5681 §4.2: "an immediate ACK SHOULD be generated when an out-of-order
            // segment arrives" and when it "fills in all or part of a gap".
            self.ack_now = true;
        } else {
            self.delay_ack(ctx);
        }
        if let Some(fin_seq) = self.ooo_fin {
            if fin_seq == self.rcv_nxt {
                self.ooo_fin = None;
                self.receive_fin(ctx);
            }
        }
        whole
    }

    /// The peer's FIN at RCV.NXT (eighth step).
    fn receive_fin(&mut self, ctx: &mut Ctx<'_>) {
        if !self.fin_received {
            self.rcv_nxt += 1u32;
            self.fin_received = true;
            self.events |= ev::PEER_CLOSED | ev::READABLE;
        }
        // "FIN implies PUSH ... send an acknowledgment for the FIN" — at once (RFC 5681 §4.2).
        self.ack_now = true;
        match self.state {
            TcpState::SynReceived | TcpState::Established => self.set_state(TcpState::CloseWait),
            TcpState::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(ctx.now, ctx.config);
                } else {
                    // Simultaneous close (RFC 9293 §3.6, figure 13).
                    self.set_state(TcpState::Closing);
                }
            }
            TcpState::FinWait2 => self.enter_time_wait(ctx.now, ctx.config),
            TcpState::TimeWait => {
                // A retransmitted FIN: restart the 2·MSL timeout.
                self.timewait_at = Some(ctx.now + ctx.config.time_wait);
            }
            _ => {}
        }
    }
}
