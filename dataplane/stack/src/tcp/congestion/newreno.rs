//! NewReno: RFC 5681 slow start and congestion avoidance, with RFC 6582's one reduction per
//! window of data. Recovery itself (what to retransmit, how much may be sent) is the sender's,
//! with the SACK scoreboard; this type only moves `cwnd` and `ssthresh` (see the parent module).

use std::time::Duration;

use cyclone_pmd::Timestamp;

use super::{CongestionControl, Window, MAX_CWND};

/// The NewReno controller (RFC 5681, RFC 6582).
#[derive(Debug, Clone)]
pub struct NewReno {
    window: Window,
    /// RFC 3465 §2.1 / RFC 5681 §3.1 byte counter for congestion avoidance.
    bytes_acked: usize,
}

impl NewReno {
    /// A fresh controller: the RFC 6928 initial window, ssthresh "arbitrarily high".
    pub fn new(smss: usize) -> NewReno {
        NewReno {
            window: Window::new(smss),
            bytes_acked: 0,
        }
    }

    /// RFC 5681 eq. (4): "ssthresh = max (FlightSize / 2, 2*SMSS)".
    fn halved(&self, bytes_in_flight: usize) -> usize {
        (bytes_in_flight / 2).max(self.window.smss.saturating_mul(2))
    }
}

impl CongestionControl for NewReno {
    #[inline]
    fn on_ack_nanos(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        _rtt_nanos: Option<u64>,
        bytes_in_flight: usize,
    ) {
        // NewReno does not use the RTT.
        self.on_ack(now, newly_acked, None, bytes_in_flight)
    }

    fn on_ack(
        &mut self,
        _now: Timestamp,
        newly_acked: usize,
        _rtt: Option<Duration>,
        bytes_in_flight: usize,
    ) {
        if !self.window.on_ack(newly_acked, bytes_in_flight) {
            return;
        }
        if self.window.in_slow_start() {
            self.window.slow_start(newly_acked);
            return;
        }
        // Congestion avoidance, RFC 5681 §3.1 (the RFC 3465 §2.1 byte-counting form):
        //
        // > "the RECOMMENDED way to increase cwnd during congestion avoidance is to count the
        // > number of bytes that have been acknowledged by ACKs for new data. ... When the number
        // > of bytes acknowledged reaches cwnd, then cwnd can be incremented by up to SMSS bytes."
        self.bytes_acked = self.bytes_acked.saturating_add(newly_acked);
        if self.bytes_acked >= self.window.cwnd {
            self.bytes_acked -= self.window.cwnd;
            self.window.cwnd = self
                .window
                .cwnd
                .saturating_add(self.window.smss)
                .min(MAX_CWND);
        }
    }

    fn on_congestion_event(&mut self, _now: Timestamp, bytes_in_flight: usize) {
        // RFC 6582 §3.2 step 2 and RFC 6675 §5: no second reduction within one recovery.
        if self.window.in_recovery {
            return;
        }
        self.window.enter_recovery(self.halved(bytes_in_flight));
        self.bytes_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Timestamp) {
        self.window.end_recovery();
    }

    fn on_rto(&mut self, _now: Timestamp, bytes_in_flight: usize) {
        // RFC 5681 §3.1: "When a TCP sender detects segment loss using the retransmission timer
        // ... the value of ssthresh MUST be set to no more than the value given in equation (4)".
        self.window.on_rto(self.halved(bytes_in_flight));
        self.bytes_acked = 0;
    }

    fn cwnd(&self) -> usize {
        self.window.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.window.ssthresh
    }

    fn set_mss(&mut self, mss: usize) {
        self.window.set_mss(mss);
    }

    fn mss(&self) -> usize {
        self.window.smss
    }

    fn in_recovery(&self) -> bool {
        self.window.in_recovery
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// One round trip of a cwnd-limited sender: the whole window is acknowledged, `per_ack`
    /// bytes at a time. Returns the new time.
    fn round(cc: &mut NewReno, now: Timestamp, per_ack: usize) -> Timestamp {
        let window = cc.cwnd();
        let mut acked = 0;
        while acked < window {
            let n = per_ack.min(window - acked);
            // An ACK-clocked, cwnd-limited sender keeps the whole window in flight.
            let flight = cc.cwnd();
            cc.on_ack(now, n, Some(Duration::from_millis(10)), flight);
            acked += n;
        }
        now + Duration::from_millis(10)
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = NewReno::new(MSS);
        assert_eq!(cc.cwnd(), 10 * MSS);
        let mut now = Timestamp::ZERO;
        for expected in [20, 40, 80, 160] {
            now = round(&mut cc, now, MSS);
            assert_eq!(cc.cwnd(), expected * MSS);
        }
    }

    #[test]
    fn slow_start_doubles_with_delayed_acks_thanks_to_abc() {
        let mut cc = NewReno::new(MSS);
        let mut now = Timestamp::ZERO;
        for expected in [20, 40, 80] {
            now = round(&mut cc, now, 2 * MSS);
            assert_eq!(cc.cwnd(), expected * MSS);
        }
        // A stretch ACK of 10 segments grows cwnd by L = 2 SMSS only (RFC 3465).
        let before = cc.cwnd();
        cc.on_ack(now, 10 * MSS, None, before);
        assert_eq!(cc.cwnd(), before + 2 * MSS);
    }

    #[test]
    fn aimd_one_segment_per_rtt_and_halving_on_loss() {
        let mut cc = NewReno::new(MSS);
        let now = Timestamp::ZERO;
        cc.on_congestion_event(now, 40 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
        assert!(cc.in_recovery());
        // No growth while in recovery, and no second reduction.
        cc.on_ack(now, 5 * MSS, None, 20 * MSS);
        cc.on_congestion_event(now, 20 * MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
        cc.on_recovery_end(now);
        assert!(!cc.in_recovery());
        assert!(!cc.in_slow_start());
        let mut now = now;
        for expected in 21..=30 {
            now = round(&mut cc, now, MSS);
            assert_eq!(cc.cwnd(), expected * MSS);
        }
        // Delayed ACKs make no difference to the per-RTT increase with byte counting.
        now = round(&mut cc, now, 2 * MSS);
        assert_eq!(cc.cwnd(), 31 * MSS);
        // Loss halves the flight size.
        cc.on_congestion_event(now, 31 * MSS);
        assert_eq!(cc.cwnd(), 15 * MSS + MSS / 2);
        // Never below 2 SMSS.
        cc.on_recovery_end(now);
        cc.on_congestion_event(now, MSS);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        assert_eq!(cc.cwnd(), 2 * MSS);
    }

    #[test]
    fn rto_resets_to_one_segment_and_holds_ssthresh_on_repeat() {
        let mut cc = NewReno::new(MSS);
        let now = Timestamp::ZERO;
        cc.on_congestion_event(now, 40 * MSS);
        cc.on_rto(now, 30 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        assert_eq!(cc.ssthresh(), 15 * MSS);
        assert!(!cc.in_recovery());
        // The retransmission times out again: ssthresh is held, not recomputed from the
        // (now tiny) flight size.
        cc.on_rto(now, MSS);
        assert_eq!(cc.ssthresh(), 15 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        // Slow start after the RTO counts at most 1 SMSS per ACK (RFC 3465 §2.3).
        cc.on_ack(now, 2 * MSS, None, MSS);
        assert_eq!(cc.cwnd(), 2 * MSS);
        // Once new data is acknowledged a later RTO reduces ssthresh again.
        cc.on_rto(now, 2 * MSS);
        assert_eq!(cc.ssthresh(), 2 * MSS);
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        let mut cc = NewReno::new(MSS);
        let now = Timestamp::ZERO;
        cc.on_congestion_event(now, 24 * MSS);
        cc.on_rto(now, 24 * MSS);
        assert_eq!(cc.ssthresh(), 12 * MSS);
        let mut now = now;
        while cc.in_slow_start() {
            now = round(&mut cc, now, MSS);
        }
        assert_eq!(cc.cwnd(), 12 * MSS);
        round(&mut cc, now, MSS);
        assert_eq!(cc.cwnd(), 13 * MSS);
    }

    #[test]
    fn no_growth_when_application_limited() {
        let mut cc = NewReno::new(MSS);
        cc.on_ack(Timestamp::ZERO, MSS, None, 2 * MSS);
        assert_eq!(cc.cwnd(), 10 * MSS);
        cc.on_ack(Timestamp::ZERO, MSS, None, 5 * MSS);
        assert_eq!(cc.cwnd(), 11 * MSS);
        cc.on_ack(Timestamp::ZERO, 0, None, 11 * MSS);
        assert_eq!(cc.cwnd(), 11 * MSS);
    }

    #[test]
    fn set_mss_before_and_after_start() {
        let mut cc = NewReno::new(536);
        assert_eq!(cc.cwnd(), 5_360);
        cc.set_mss(1460);
        assert_eq!(cc.cwnd(), 14_600);
        cc.on_ack(Timestamp::ZERO, 1460, None, 14_600);
        cc.set_mss(536);
        assert_eq!(cc.cwnd(), 14_600 + 1460);
        assert_eq!(cc.mss(), 536);
    }
}
