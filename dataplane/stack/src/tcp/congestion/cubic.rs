//! CUBIC (RFC 9438): the window follows a cubic function of the time since the last congestion
//! event, `W_cubic(t) = C·(t − K)^3 + W_max`, concave while it climbs back to the window where
//! the loss happened (`W_max`), convex beyond it, never slower than Reno (the Reno-friendly
//! region). Slow start, the loss window and the recovery flags are shared with NewReno
//! (parent module).
//!
//! Window math is done in segments (`cwnd / SMSS`) as `f64`, as the RFC does — `C = 0.4` is in
//! segments per second cubed — and the result converted back to bytes; every input is bounded
//! ([`MAX_CWND`]) and every result checked finite before use, so no `NaN` or overflow can reach
//! the window.

use std::time::Duration;

use cyclone_pmd::Timestamp;

use super::{CongestionControl, Window, MAX_CWND};

/// RFC 9438 §5.1: "C ... is set to 0.4."
pub const C: f64 = 0.4;
/// RFC 9438 §4.6: "β_cubic SHOULD be set to 0.7".
pub const BETA: f64 = 0.7;
/// RFC 9438 §4.3: "α_cubic = 3 × (1 − β_cubic) / (1 + β_cubic)" — the additive increase, in
/// segments per RTT, that makes the Reno-friendly estimate match Reno's average window.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// The CUBIC controller (RFC 9438), fast convergence on.
#[derive(Debug, Clone)]
pub struct Cubic {
    window: Window,
    /// W_max, in segments: the window just before the last reduction (lowered by fast
    /// convergence). 0 before the first congestion event.
    w_max: f64,
    /// cwnd_prior, in segments: the window when ssthresh was last set (RFC 9438 §4.3 uses it to
    /// switch α_cubic to 1).
    cwnd_prior: f64,
    /// K, in seconds: when W_cubic climbs back to W_max.
    k: f64,
    /// Start of the current congestion-avoidance epoch; `None` until its first ACK.
    epoch_start: Option<Timestamp>,
    /// W_est, in segments: the Reno-friendly estimate (RFC 9438 §4.3).
    w_est: f64,
    /// The next epoch follows an RTO: K = 0 and W_max = cwnd_epoch (RFC 9438 §4.8).
    epoch_after_rto: bool,
    /// The smoothed RTT last given with an ACK, in nanoseconds (0 if none yet). Kept as given
    /// and converted to seconds only where congestion avoidance uses it, not on every ACK.
    rtt_nanos: u64,
    /// Growth not yet applied to `cwnd`: fractions of a byte, in bytes.
    pending_bytes: f64,
}

impl Cubic {
    /// A fresh controller: the RFC 6928 initial window, ssthresh "arbitrarily high".
    pub fn new(smss: usize) -> Cubic {
        Cubic {
            window: Window::new(smss),
            w_max: 0.0,
            cwnd_prior: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            epoch_after_rto: false,
            rtt_nanos: 0,
            pending_bytes: 0.0,
        }
    }

    /// W_max, in segments (0 before the first congestion event).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// K, in seconds, of the current epoch.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// W_est, in segments: the Reno-friendly window estimate of the current epoch.
    pub fn w_est(&self) -> f64 {
        self.w_est
    }

    /// RFC 9438 §4.2, Figure 1: "W_cubic(t) = C × (t − K)^3 + W_max", in segments, `t` in
    /// seconds from the start of the epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        C * d * d * d + self.w_max
    }

    fn segments(&self, bytes: usize) -> f64 {
        bytes as f64 / self.window.smss as f64
    }

    /// RFC 9438 §4.6 and §4.8: "ssthresh = flight_size × β_cubic".
    fn reduced(&self, bytes_in_flight: usize) -> usize {
        let v = bytes_in_flight.min(MAX_CWND) as f64 * BETA;
        // `as` saturates, and `v` is finite and below MAX_CWND.
        v as usize
    }

    /// Starts a congestion-avoidance epoch at its first ACK (RFC 9438 §4.2).
    fn start_epoch(&mut self, now: Timestamp) {
        let cwnd_epoch = self.segments(self.window.cwnd);
        self.epoch_start = Some(now);
        // §4.3: "W_est is set equal to cwnd_epoch at the start of the congestion avoidance stage."
        self.w_est = cwnd_epoch;
        if self.epoch_after_rto || self.w_max <= cwnd_epoch {
            // §4.8: "During the first congestion avoidance stage after a timeout, CUBIC increases
            // its congestion window size using Figure 1, where t is the elapsed time since the
            // beginning of the current congestion avoidance stage, K is set to 0, and W_max is
            // set to the congestion window size at the beginning of the current congestion
            // avoidance stage." The same holds when slow start overshot W_max.
            self.w_max = cwnd_epoch;
            self.k = 0.0;
        } else {
            // §4.2, Figure 2: "K = ∛((W_max − cwnd_epoch) / C)".
            self.k = ((self.w_max - cwnd_epoch) / C).cbrt();
        }
        self.epoch_after_rto = false;
        self.pending_bytes = 0.0;
    }

    /// One ACK in congestion avoidance (RFC 9438 §4.3–§4.5).
    fn congestion_avoidance(&mut self, now: Timestamp, newly_acked: usize) {
        let Some(epoch_start) = self.epoch_start else {
            self.start_epoch(now);
            return self.congestion_avoidance(now, newly_acked);
        };
        let t = now.saturating_duration_since(epoch_start).as_secs_f64();
        let cwnd = self.segments(self.window.cwnd);
        let acked = self.segments(newly_acked.min(MAX_CWND));

        // §4.3, Reno-friendly region: "W_est = W_est + α_cubic × segments_acked / cwnd", and
        // "Once W_est has grown to reach the cwnd at the time of most recently setting ssthresh
        // -- that is, W_est >= cwnd_prior -- the sender SHOULD set α_cubic to 1".
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        let max_segments = self.segments(MAX_CWND);
        self.w_est = (self.w_est + alpha * acked / cwnd).min(max_segments);

        let new_cwnd = if self.w_cubic(t) < self.w_est {
            // §4.3: "If so, CUBIC is in the Reno-friendly region and cwnd SHOULD be set to W_est
            // at each reception of a new ACK." (Never lowered on an ACK, though.)
            self.w_est.max(cwnd)
        } else {
            // §4.4 (concave, cwnd < W_max) and §4.5 (convex, cwnd >= W_max) share the rule: with
            // target = W_cubic(t + RTT) clamped to [cwnd, 1.5·cwnd] (§4.2), "cwnd MUST be
            // incremented by (target − cwnd) / cwnd for each received ACK". An ACK of several
            // segments counts as that many ACKs, as ABC does for Reno.
            // Bounded so that t + RTT stays a sane number of seconds. (A `Duration` made from
            // nanoseconds is exact, so this is the value `on_ack` was given, bounded.)
            let rtt = Duration::from_nanos(self.rtt_nanos)
                .min(Duration::from_secs(3600))
                .as_secs_f64();
            let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) / cwnd * acked
        };
        let grow_bytes = (new_cwnd - cwnd) * self.window.smss as f64;
        if !grow_bytes.is_finite() || grow_bytes <= 0.0 {
            return;
        }
        self.pending_bytes += grow_bytes;
        let whole = self.pending_bytes.floor();
        self.pending_bytes -= whole;
        // `as` saturates; `whole` is finite and non-negative.
        self.window.cwnd = self
            .window
            .cwnd
            .saturating_add(whole as usize)
            .min(MAX_CWND);
    }
}

impl CongestionControl for Cubic {
    #[inline]
    fn on_ack(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt: Option<Duration>,
        bytes_in_flight: usize,
    ) {
        // Bounded to the hour congestion avoidance bounds it to anyway, so that it fits in u64
        // nanoseconds; converted to seconds where congestion avoidance uses it.
        let rtt_nanos = rtt.map(|r| r.min(Duration::from_secs(3600)).as_nanos() as u64);
        self.on_ack_nanos(now, newly_acked, rtt_nanos, bytes_in_flight)
    }

    #[inline]
    fn on_ack_nanos(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt_nanos: Option<u64>,
        bytes_in_flight: usize,
    ) {
        if let Some(rtt_nanos) = rtt_nanos {
            // Converted (and bounded) where it is used, in congestion avoidance: the same value
            // `on_ack` would have used.
            self.rtt_nanos = rtt_nanos;
        }
        if !self.window.on_ack(newly_acked, bytes_in_flight) {
            if newly_acked > 0 && !self.window.in_recovery {
                // Application-limited: RFC 9438 §5.8 — "CUBIC does not increase cwnd when the
                // flow is currently limited by the flow control window or application" — and the
                // epoch restarts when the window is used again, so that `t` does not count the
                // idle time and the window does not jump.
                self.epoch_start = None;
            }
            return;
        }
        if self.window.in_slow_start() {
            // §4.10: CUBIC "MUST employ a slow-start algorithm" — RFC 5681's, with ABC.
            self.window.slow_start(newly_acked);
            return;
        }
        self.congestion_avoidance(now, newly_acked);
    }

    fn on_congestion_event(&mut self, _now: Timestamp, bytes_in_flight: usize) {
        if self.window.in_recovery {
            return;
        }
        let cwnd = self.segments(self.window.cwnd);
        // §4.7, fast convergence: "if cwnd < W_max and fast convergence enabled, further reduce
        // W_max: W_max = cwnd × (1 + β_cubic) / 2; otherwise, remember cwnd before reduction:
        // W_max = cwnd".
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        // §4.6: "cwnd_prior = cwnd", "ssthresh = flight_size × β_cubic",
        // "cwnd = max(ssthresh, 2)" (the 2·SMSS floor is applied by `enter_recovery`).
        self.cwnd_prior = cwnd;
        self.window.enter_recovery(self.reduced(bytes_in_flight));
        self.epoch_start = None;
        self.epoch_after_rto = false;
    }

    fn on_recovery_end(&mut self, _now: Timestamp) {
        self.window.end_recovery();
        self.epoch_start = None;
    }

    fn on_rto(&mut self, _now: Timestamp, bytes_in_flight: usize) {
        // §4.8: "In the case of a timeout, CUBIC follows Reno to reduce cwnd [RFC5681] but sets
        // ssthresh using β_cubic (same as in Section 4.6)".
        let cwnd = self.segments(self.window.cwnd);
        if self.window.on_rto(self.reduced(bytes_in_flight)) {
            self.cwnd_prior = cwnd;
        }
        self.epoch_start = None;
        self.epoch_after_rto = true;
    }

    fn cwnd(&self) -> usize {
        self.window.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.window.ssthresh
    }

    fn set_mss(&mut self, mss: usize) {
        let old = self.window.smss as f64;
        self.window.set_mss(mss);
        // Keep the segment-denominated state meaning the same number of bytes.
        let scale = old / self.window.smss as f64;
        if scale.is_finite() {
            self.w_max *= scale;
            self.cwnd_prior *= scale;
            self.w_est *= scale;
        }
        self.epoch_start = None;
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

    /// One round trip of a cwnd-limited sender acknowledged one segment per ACK, all ACKs of the
    /// round at `now`. Returns the time of the next round.
    fn round(cc: &mut Cubic, now: Timestamp, rtt: Duration) -> Timestamp {
        let window = cc.cwnd();
        let mut acked = 0;
        while acked < window {
            let n = MSS.min(window - acked);
            cc.on_ack(now, n, Some(rtt), cc.cwnd());
            acked += n;
        }
        now + rtt
    }

    /// A controller that has just lost at a window of `w_max` segments and finished recovery.
    fn after_loss(w_max: usize) -> (Cubic, Timestamp) {
        let mut cc = Cubic::new(MSS);
        let now = Timestamp::from_millis(1);
        cc.on_congestion_event(now, cc.cwnd());
        cc.on_recovery_end(now);
        // Jump the window to w_max with a second, fast-convergence-free loss: set it directly
        // through slow start from a high ssthresh.
        let mut cc2 = Cubic::new(MSS);
        while cc2.cwnd() < w_max * MSS {
            let n = (w_max * MSS - cc2.cwnd()).min(2 * MSS);
            cc2.on_ack(now, n, None, cc2.cwnd());
        }
        assert_eq!(cc2.cwnd(), w_max * MSS);
        cc2.on_congestion_event(now, cc2.cwnd());
        cc2.on_recovery_end(now);
        (cc2, now)
    }

    #[test]
    fn loss_drops_to_beta_wmax() {
        let (cc, _) = after_loss(100);
        assert_eq!(cc.w_max(), 100.0);
        assert_eq!(cc.cwnd(), 70 * MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        assert!(!cc.in_slow_start());
    }

    #[test]
    fn concave_up_to_wmax_at_k_then_convex() {
        // A long fat path: W_max = 1000 segments, RTT 100 ms, so that the cubic curve (not the
        // Reno-friendly estimate) governs.
        let (mut cc, mut now) = after_loss(1000);
        let rtt = Duration::from_millis(100);
        // K = ∛(W_max·(1−β)/C) = ∛(1000·0.3/0.4) = ∛750 ≈ 9.0856 s.
        let k = (1000.0f64 * 0.3 / 0.4).cbrt();
        let start = now;
        let mut samples = Vec::new();
        for _ in 0..250 {
            now = round(&mut cc, now, rtt);
            let t = now.saturating_duration_since(start).as_secs_f64();
            samples.push((t, cc.cwnd() as f64 / MSS as f64));
        }
        assert!((cc.k() - k).abs() < 1e-9);
        // The cwnd tracks W_cubic: between W_cubic(t) − 1% and W_cubic(t + RTT) (+1 segment).
        for &(t, w) in &samples[5..] {
            let lo = cc.w_cubic(t) * 0.99;
            let hi = cc.w_cubic(t + 0.1) + 1.0;
            assert!(
                w >= lo && w <= hi,
                "t={t:.1} cwnd={w:.1} lo={lo:.1} hi={hi:.1}"
            );
        }
        // A few points against the formula W(t) = 0.4·(t − K)^3 + 1000, within 1.5%.
        for (t, expected) in [(2.0, 857.6), (5.0, 972.7), (9.0, 1000.0), (13.0, 1024.0)] {
            let formula: f64 = 0.4 * (t - k).powi(3) + 1000.0;
            assert!(
                (formula - expected).abs() < 0.5,
                "formula at {t}: {formula}"
            );
            let (_, w) = samples
                .iter()
                .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
                .copied()
                .unwrap_or_default();
            assert!(
                (w - expected).abs() / expected < 0.015,
                "t={t}: {w} vs {expected}"
            );
        }
        // Concave before K: growth per RTT shrinks; convex after: it grows.
        let growth = |i: usize| samples[i + 1].1 - samples[i].1;
        assert!(growth(10) > growth(40) && growth(40) > growth(80));
        assert!(growth(120) < growth(160) && growth(160) < growth(200));
        // Plateau around K.
        let at_k = samples
            .iter()
            .find(|s| s.0 >= k)
            .map(|s| s.1)
            .unwrap_or_default();
        assert!((at_k - 1000.0).abs() < 5.0, "cwnd at K: {at_k}");
    }

    #[test]
    fn reno_friendly_region_dominates_for_small_bdp() {
        // W_max = 10 segments, RTT 1 ms: W_cubic needs K ≈ 1.96 s to get back to 10 segments,
        // while Reno grows by α per millisecond round trip.
        let (mut cc, mut now) = after_loss(10);
        let rtt = Duration::from_millis(1);
        let start = now;
        for _ in 0..100 {
            now = round(&mut cc, now, rtt);
        }
        let t = now.saturating_duration_since(start).as_secs_f64();
        let w = cc.cwnd() as f64 / MSS as f64;
        assert!(cc.w_cubic(t) < 10.0);
        assert!(w > 50.0, "cwnd {w}");
        assert!(
            (w - cc.w_est()).abs() <= 1.0,
            "cwnd {w} vs W_est {}",
            cc.w_est()
        );
        // W_est: α = 0.529 segments per RTT from 7 until it passes cwnd_prior = 10 (6 rounds),
        // then 1 per RTT: about 10 + 94 = 104 after 100 rounds.
        assert!((95.0..=110.0).contains(&w), "cwnd {w}");
    }

    #[test]
    fn fast_convergence_lowers_wmax() {
        let (mut cc, now) = after_loss(100);
        // A second loss before regaining W_max: W_max = 70·(1 + 0.7)/2 = 59.5.
        cc.on_congestion_event(now, cc.cwnd());
        assert!((cc.w_max() - 59.5).abs() < 1e-9);
        assert_eq!(cc.cwnd(), 49 * MSS);
    }

    #[test]
    fn one_reduction_per_recovery_and_no_growth_inside() {
        let (mut cc, now) = after_loss(100);
        cc.on_congestion_event(now, 70 * MSS);
        let cwnd = cc.cwnd();
        cc.on_congestion_event(now, 70 * MSS);
        cc.on_ack(now + Duration::from_secs(5), 10 * MSS, None, cwnd);
        assert_eq!(cc.cwnd(), cwnd);
    }

    #[test]
    fn rto_goes_to_one_segment_then_k_is_zero() {
        let (mut cc, now) = after_loss(100);
        cc.on_rto(now, 70 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        assert_eq!(cc.ssthresh(), 49 * MSS);
        assert!(!cc.in_recovery());
        // Slow start back to ssthresh, then the first epoch starts with K = 0 at cwnd_epoch.
        let rtt = Duration::from_millis(100);
        let mut now = now;
        while cc.in_slow_start() {
            now = round(&mut cc, now, rtt);
        }
        // The round that reached ssthresh finished in congestion avoidance, whose epoch began
        // at cwnd_epoch = ssthresh.
        assert!(cc.cwnd() >= 49 * MSS);
        round(&mut cc, now, rtt);
        assert_eq!(cc.k(), 0.0);
        assert_eq!(cc.w_max(), 49.0);
        assert!(cc.cwnd() > 49 * MSS);
    }

    #[test]
    fn app_limited_does_not_grow() {
        let (mut cc, now) = after_loss(100);
        let cwnd = cc.cwnd();
        cc.on_ack(now + Duration::from_secs(20), MSS, None, MSS);
        assert_eq!(cc.cwnd(), cwnd);
    }

    /// The sender's entry, `on_ack_nanos`, leaves the controller exactly where `on_ack` with the
    /// same RTT as a `Duration` does: through slow start, a loss, the concave and convex regions,
    /// with RTTs beyond the one-hour bound and ACKs without an RTT.
    #[test]
    fn on_ack_nanos_matches_on_ack() {
        let (mut a, mut now) = after_loss(300);
        let mut b = a.clone();
        let rtts = [
            Some(Duration::from_micros(37)),
            Some(Duration::from_millis(100)),
            None,
            Some(Duration::from_nanos(123_456_789)),
            Some(Duration::from_secs(7200)),
            Some(Duration::from_millis(3)),
        ];
        for i in 0..4000u64 {
            let rtt = rtts[(i % rtts.len() as u64) as usize];
            let n = MSS * (1 + (i % 3) as usize);
            let flight = a.cwnd();
            a.on_ack(now, n, rtt, flight);
            b.on_ack_nanos(
                now,
                n,
                rtt.map(|r| r.as_nanos().min(u64::MAX as u128) as u64),
                flight,
            );
            assert_eq!(a.cwnd(), b.cwnd(), "ACK {i}");
            assert_eq!(a.w_est().to_bits(), b.w_est().to_bits(), "ACK {i}");
            if i == 2000 {
                a.on_congestion_event(now, flight);
                b.on_congestion_event(now, flight);
                a.on_recovery_end(now);
                b.on_recovery_end(now);
            }
            now = now + Duration::from_millis(5);
        }
        assert!(a.cwnd() > 300 * MSS);
    }

    #[test]
    fn constants() {
        assert!((ALPHA - 0.529_411_764_7).abs() < 1e-9);
        let cc = Cubic::new(MSS);
        assert_eq!(cc.cwnd(), 10 * MSS);
        assert_eq!(cc.w_max(), 0.0);
    }
}
