//! A connection's timers: retransmission (RFC 6298 §5, backoff, give-up per RFC 9293 §3.8.3),
//! delayed ACK (RFC 9293 §3.8.6.3), persist (§3.8.6.1), keep-alive (§3.8.4) and TIME-WAIT
//! (§3.10.7.4, 2·MSL). Deadlines live in the connection; the layer keeps one timer-wheel entry
//! per connection at the earliest of them.

use super::congestion::CongestionControl;
use super::conn::{Conn, Ctx};
use super::seq::SeqRange;
use super::state::{TcpError, TcpState};
use crate::wire::TcpFlags;

impl Conn {
    /// Runs every timer due at `ctx.now`, then transmits.
    pub(crate) fn on_timers(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let due = |t: Option<cyclone_pmd::Timestamp>| t.is_some_and(|t| t <= now);
        if due(self.timewait_at) {
            // TIME-WAIT over: delete the TCB.
            self.timewait_at = None;
            self.state = TcpState::Closed;
            return;
        }
        if due(self.delack_at) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if due(self.rto_at) {
            self.rto_at = None;
            self.on_rto(ctx);
            if self.state == TcpState::Closed {
                return;
            }
        }
        if due(self.persist_at) {
            self.persist_at = None;
            self.on_persist(ctx);
        }
        if due(self.keepalive_at) {
            self.keepalive_at = None;
            self.on_keepalive(ctx);
            if self.state == TcpState::Closed {
                return;
            }
        }
        self.transmit(ctx);
    }

    /// The retransmission timer expired (RFC 6298 §5 (5.4)–(5.6), RFC 5681 §3.1).
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        if self.snd_una == self.snd_max {
            return;
        }
        if self.snd_wnd == 0 && self.state.is_synchronized() {
            // The peer closed its window on data in flight: what is outstanding did not fit
            // and was dropped, and retransmitting it would only probe the window. Switch to
            // the persist timer (RFC 9293 §3.8.6.1: "the transmitting host SHOULD send the
            // first zero-window probe when a zero window has existed for the retransmission
            // timeout period"): the probes do not count towards `max_retransmits` — "As long
            // as the receiving TCP continues to send acknowledgments in response to the probe
            // segments, the sending TCP MUST allow the connection to stay open" (RFC 1122
            // §4.2.2.17). The data goes again once the window opens.
            self.snd_nxt = self.snd_una;
            self.rtt_timed = None;
            self.on_persist(ctx);
            return;
        }
        self.retries += 1;
        ctx.stats.rto_expirations += 1;
        let limit = match self.state {
            TcpState::SynSent => ctx.config.syn_retries,
            TcpState::SynReceived => ctx.config.synack_retries,
            _ => ctx.config.max_retransmits,
        };
        if self.retries > limit {
            // RFC 9293 §3.8.3 R2: give up, and tell the application.
            match self.state {
                TcpState::SynSent => ctx.stats.attempt_fails += 1,
                TcpState::SynReceived => {
                    ctx.stats.attempt_fails += 1;
                    ctx.stats.syn_received_expired += 1;
                }
                _ => ctx.stats.timeouts += 1,
            }
            self.reset_with(TcpError::TimedOut);
            return;
        }
        // (5.5) back off, (5.6) restart.
        self.rtt.backoff();
        self.rtt_timed = None;
        let now = ctx.now;
        if matches!(self.state, TcpState::SynSent | TcpState::SynReceived) {
            self.syn_timed_out = true;
            let iss = self.iss;
            if self.emit(ctx, iss, TcpFlags::SYN, 0) {
                ctx.stats.retransmits += 1;
                self.stats.retransmits += 1;
            }
            self.rto_at = Some(self.rtt.deadline(now));
            return;
        }
        // RFC 5681 §3.1: ssthresh from FlightSize (held on a repeated timeout), cwnd = LW.
        // RFC 6675 §5.1: recovery ends, RecoveryPoint = HighData, no new recovery before it
        // is acknowledged; the scoreboard keeps its SACKs unless this timeout repeats one
        // without progress (RFC 2018 §8, the receiver may have reneged).
        self.cc.on_rto(now, self.flight() as usize);
        self.scoreboard.on_rto(self.snd_max);
        self.rxt_pending = None;
        self.rto_recover = Some(self.snd_max);
        // (5.4) "Retransmit the earliest segment that has not been acknowledged by the TCP
        // receiver" — the first unSACKed one; go-back-N continues from there (`send_new`).
        let una = self.snd_una;
        self.snd_nxt = una;
        let first = self
            .scoreboard
            .first_hole(una, self.snd_max)
            .unwrap_or(SeqRange::new(una, self.snd_max));
        let first = SeqRange::new(first.start, first.end.min(first.start + self.eff_mss()));
        self.send_seq_range(ctx, first);
        self.rto_at = Some(self.rtt.deadline(now));
    }

    /// The persist timer expired: probe the zero window with one byte (RFC 9293 §3.8.6.1),
    /// then back off exponentially.
    fn on_persist(&mut self, ctx: &mut Ctx<'_>) {
        if self.snd_wnd != 0 || !self.state.is_synchronized() {
            return;
        }
        // A peer that answers no probe at all is gone: give up after as many unanswered
        // probes as retransmissions (any segment from the peer resets the count).
        if self.probes_unanswered >= ctx.config.max_retransmits {
            ctx.stats.timeouts += 1;
            self.reset_with(TcpError::TimedOut);
            return;
        }
        self.probes_unanswered += 1;
        let una = self.snd_una;
        if self.snd_max != una {
            // The probe byte sent before is still unacknowledged: send it again.
            self.send_range(ctx, una, 1);
        } else if self.send.available_from(una) > 0 {
            self.send_range(ctx, una, 1);
        } else if self.fin_seq() == Some(una) {
            self.send_range(ctx, una, 0);
        }
        self.persist_backoff = self.persist_backoff.saturating_add(1);
        let shift = self.persist_backoff.min(16);
        let interval = self
            .rtt
            .rto()
            .saturating_mul(1 << shift)
            .min(ctx.config.persist_max);
        self.persist_at = Some(ctx.now + interval);
        // The probe is not a retransmission the RTO should chase.
        self.rto_at = None;
    }

    /// The keep-alive timer expired (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): probe with
    /// `<SEQ=SND.UNA-1>` and no data, or give up after `count` unanswered probes.
    fn on_keepalive(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ka) = ctx.config.keepalive else {
            return;
        };
        if !matches!(self.state, TcpState::Established | TcpState::CloseWait) {
            return;
        }
        if self.keepalive_probes >= ka.count {
            ctx.stats.keepalive_timeouts += 1;
            self.reset_with(TcpError::TimedOut);
            return;
        }
        self.keepalive_probes += 1;
        let seq = self.snd_una - 1u32;
        self.emit(ctx, seq, TcpFlags::EMPTY, 0);
        self.keepalive_at = Some(ctx.now + ka.interval);
    }
}
