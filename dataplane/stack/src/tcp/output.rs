//! Transmission: the handshake segments, data within min(cwnd, peer window) with sender SWS
//! avoidance and optional Nagle (RFC 9293 §3.8.6.2.1), FIN, ACKs, and arming the
//! retransmission and persist timers (RFC 6298 §5, RFC 9293 §3.8.6.1).

use super::congestion::CongestionControl;
use super::conn::{Conn, Ctx};
use super::rtt::SendTime;
use super::seq::SeqNum;
use super::state::TcpState;
use crate::wire::TcpFlags;

impl Conn {
    /// Sends whatever the connection may send now.
    #[inline]
    pub(crate) fn transmit(&mut self, ctx: &mut Ctx<'_>) {
        if self.idle_established() {
            // Nothing can go out: only the timers are (re)armed, as the full path would.
            self.arm_timers_idle(ctx);
            return;
        }
        self.transmit_any(ctx);
    }

    /// [`Conn::transmit`] for a connection with something to send (or an ACK owed): the
    /// common case — ESTABLISHED or CLOSE-WAIT with no abort, FIN, queued retransmission, loss
    /// recovery or go-back-N after a timeout ([`Conn::plain_transmit`]) — on a short path:
    /// new data, else the ACK owed, then the timers; everything else in
    /// [`Conn::transmit_other`].
    #[inline(always)]
    fn transmit_any(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.config.header_prediction && self.plain_transmit() {
            // What `transmit_other` does here, with the steps that cannot apply left out:
            // no abort (`abort_pending` clear); a synchronized state, so no handshake segment;
            // `transmit_recovery` sends nothing (no `rxt_pending`, not in recovery: RFC 6675 §5
            // sends only in recovery) and `send_new` runs (not in recovery); no FIN (no
            // `fin_queued`, so `fin_seq` is `None`).
            let mss = self.eff_mss();
            let sent = self.send_new(ctx, mss);
            if !sent && (self.ack_now || self.ack_at_poll) {
                self.send_ack(ctx);
            }
            self.arm_timers(ctx);
            return;
        }
        self.transmit_other(ctx);
    }

    /// Whether [`Conn::transmit_any`] may take its short path (see there). `rto_recover` is
    /// not needed for the equivalence (`send_new` handles it) but keeps the go-back-N after
    /// a timeout, which `skip_sacked` (RFC 6675 §5.1) steers, on the general path.
    #[inline]
    fn plain_transmit(&self) -> bool {
        matches!(self.state, TcpState::Established | TcpState::CloseWait)
            && !self.abort_pending
            && !self.fin_queued
            && self.rxt_pending.is_none()
            && !self.scoreboard.in_recovery()
            && self.rto_recover.is_none()
    }

    /// [`Conn::transmit`] for any connection: aborts, the handshake, TIME-WAIT, loss recovery,
    /// FIN, and the rest.
    #[inline(never)]
    fn transmit_other(&mut self, ctx: &mut Ctx<'_>) {
        if self.abort_pending {
            self.abort_pending = false;
            if self.state.is_synchronized() || self.state == TcpState::SynReceived {
                self.send_rst(ctx);
            }
            self.state = TcpState::Closed;
            self.clear_timers();
            return;
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => return,
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd_max == self.iss {
                    let iss = self.iss;
                    self.emit(ctx, iss, TcpFlags::SYN, 0);
                    self.snd_nxt = self.iss + 1u32;
                    self.snd_max = self.snd_nxt;
                    self.rtt_timed = Some((self.snd_nxt, SendTime::first_transmission(ctx.now)));
                } else if self.ack_now && self.state == TcpState::SynReceived {
                    let iss = self.iss;
                    self.emit(ctx, iss, TcpFlags::SYN, 0);
                }
                if self.rto_at.is_none() {
                    self.rto_at = Some(self.rtt.deadline(ctx.now));
                }
                return;
            }
            TcpState::TimeWait => {
                if self.ack_now {
                    self.send_ack(ctx);
                }
                return;
            }
            _ => {}
        }
        let mss = self.eff_mss();
        // Loss recovery first (RFC 6675 §5): the retransmission an ACK asked for, then what
        // NextSeg () picks while cwnd − pipe ≥ 1 SMSS; outside recovery, new data (and the
        // go-back-N after a timeout) within min(cwnd, SND.WND).
        let mut sent = self.transmit_recovery(ctx, mss);
        if !self.scoreboard.in_recovery() {
            sent |= self.send_new(ctx, mss);
        }
        // FIN when every byte before it has been sent.
        if let Some(fin) = self.fin_seq() {
            if self.snd_nxt == fin {
                sent |= self.send_range(ctx, fin, 0);
            }
        }
        if !sent && (self.ack_now || self.ack_at_poll) {
            self.send_ack(ctx);
        }
        self.arm_timers(ctx);
    }

    /// Whether [`Conn::transmit`] has nothing to send but its timers to arm: ESTABLISHED, no
    /// abort, no ACK owed (`ack_now`, `ack_at_poll`: a delayed ACK waits for its timer), no
    /// queued retransmission and no loss recovery (so `transmit_recovery` sends nothing,
    /// RFC 6675 §5), no FIN (ESTABLISHED never has one queued: `queue_fin` leaves the state)
    /// and no unsent byte at SND.NXT. The last also means SND.NXT ≥ the buffer's end ≥
    /// SND.MAX, so `skip_sacked` (RFC 6675 §5.1) would not move SND.NXT, and `send_new`
    /// finds nothing available: the full path would only reach `arm_timers`.
    #[inline]
    fn idle_established(&self) -> bool {
        self.state == TcpState::Established
            && !self.abort_pending
            && !self.ack_now
            && !self.ack_at_poll
            && !self.fin_queued
            && self.rxt_pending.is_none()
            && !self.scoreboard.in_recovery()
            && self.send.available_from(self.snd_nxt) == 0
    }

    /// Data from SND.NXT within the usable window (RFC 9293 §3.8.6.2.1).
    #[inline(always)]
    fn send_new(&mut self, ctx: &mut Ctx<'_>, mss: u32) -> bool {
        let mut sent = false;
        for _ in 0..4096 {
            // After an RTO, skip what the peer already SACKed (RFC 6675 §5.1).
            self.skip_sacked();
            let avail = self.send.available_from(self.snd_nxt) as u32;
            if avail == 0 {
                break;
            }
            let cwnd = u32::try_from(self.cc.cwnd()).unwrap_or(u32::MAX);
            let wnd = cwnd.min(self.snd_wnd);
            let in_flight = self.snd_nxt.distance_from(self.snd_una);
            let usable = wnd.saturating_sub(in_flight);
            let len = avail.min(usable).min(mss);
            if len == 0 {
                break;
            }
            let retransmission = self.snd_nxt.lt(self.snd_max);
            // Sender SWS avoidance: a full segment; or all queued data (Nagle, if on, also
            // wants nothing unacknowledged); or at least half the largest window the peer
            // offered; or a retransmission.
            let all_queued = len == avail;
            let nagle_ok = !ctx.config.nagle || self.snd_nxt == self.snd_una;
            let ok = len == mss
                || (all_queued && nagle_ok)
                || len >= self.max_snd_wnd / 2
                || retransmission;
            if !ok {
                break;
            }
            let seq = self.snd_nxt;
            if !self.send_range(ctx, seq, len) {
                break;
            }
            sent = true;
            if all_queued && self.rto_recover.is_none() {
                // Everything queued went out: SND.NXT is now at (or, with a FIN, past) the
                // buffer's end, so the next turn would find nothing available, and
                // `skip_sacked` does nothing without an RTO recovery: it would only break.
                break;
            }
        }
        sent
    }

    /// Sends `[seq, seq + len)` of the send buffer, with FIN if it ends at our FIN. Returns
    /// whether the sink took it (a refused segment counts as lost: the RTO recovers it).
    #[inline]
    pub(crate) fn send_range(&mut self, ctx: &mut Ctx<'_>, seq: SeqNum, len: u32) -> bool {
        let mut flags = TcpFlags::EMPTY;
        let end_data = seq + len;
        if len > 0 && end_data == self.send.end() {
            flags.insert(TcpFlags::PSH);
        }
        let with_fin = self.fin_seq() == Some(end_data);
        if with_fin {
            flags.insert(TcpFlags::FIN);
        }
        let retransmission = seq.lt(self.snd_max);
        let ok = self.emit(ctx, seq, flags, len as usize);
        let end = end_data + u32::from(with_fin);
        if end.gt(self.snd_nxt) {
            self.snd_nxt = end;
        }
        if end.gt(self.snd_max) {
            self.snd_max = end;
        }
        if retransmission {
            ctx.stats.retransmits += 1;
            self.stats.retransmits += 1;
            self.stats.bytes_retransmitted += u64::from(len);
            // Karn's rule (RFC 6298 §3): the timed segment was resent, its sample is void.
            if let Some((timed_end, _)) = self.rtt_timed {
                if seq.lt(timed_end) {
                    self.rtt_timed = None;
                }
            }
        } else {
            self.stats.bytes_sent += u64::from(len);
            if self.rtt_timed.is_none() && !self.ts_on && len > 0 {
                self.rtt_timed = Some((end, SendTime::first_transmission(ctx.now)));
            }
        }
        ok
    }

    /// [`Conn::arm_timers`] when nothing waits to be sent (no byte at SND.NXT, no FIN queued,
    /// as [`Conn::idle_established`] found): the persist branch cannot apply.
    #[inline]
    fn arm_timers_idle(&mut self, ctx: &Ctx<'_>) {
        self.arm_rto(ctx);
        self.arm_keepalive(ctx);
    }

    /// RFC 6298 (5.1): the retransmission timer runs while data is outstanding; the persist
    /// timer (RFC 9293 §3.8.6.1) while the peer's window is zero and data waits.
    #[inline(always)]
    fn arm_timers(&mut self, ctx: &Ctx<'_>) {
        let waiting = self.send.available_from(self.snd_nxt) > 0
            || self.fin_seq().is_some_and(|f| self.snd_nxt.le(f));
        if self.snd_wnd == 0 && waiting && self.rto_at.is_none() {
            if self.persist_at.is_none() {
                let shift = self.persist_backoff.min(16);
                let interval = self
                    .rtt
                    .rto()
                    .saturating_mul(1 << shift)
                    .min(ctx.config.persist_max);
                self.persist_at = Some(ctx.now + interval);
            }
        } else {
            self.arm_rto(ctx);
        }
        self.arm_keepalive(ctx);
    }

    /// RFC 6298 (5.1): while data is outstanding and neither timer runs, start the RTO.
    #[inline(always)]
    fn arm_rto(&mut self, ctx: &Ctx<'_>) {
        if self.snd_max != self.snd_una && self.rto_at.is_none() && self.persist_at.is_none() {
            self.rto_at = Some(self.rtt.deadline(ctx.now));
        }
    }

    /// RFC 1122 §4.2.3.6: the keep-alive timer of a synchronized, open connection.
    #[inline(always)]
    fn arm_keepalive(&mut self, ctx: &Ctx<'_>) {
        if let Some(ka) = &ctx.config.keepalive {
            if self.keepalive_at.is_none()
                && matches!(self.state, TcpState::Established | TcpState::CloseWait)
            {
                self.keepalive_at = Some(self.last_rx + ka.idle);
            }
        }
    }
}
