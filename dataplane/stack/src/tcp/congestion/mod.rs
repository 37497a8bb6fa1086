//! Congestion control: the window the sender may have in flight (RFC 5681), with two
//! algorithms — [`NewReno`] (RFC 5681, RFC 6582) and [`Cubic`] (RFC 9438, the default) — behind
//! one trait, [`CongestionControl`], and one enum, [`CongestionController`], that the sender holds
//! by value (no `dyn` on the per-ACK path).
//!
//! # Division of labour with the sender
//!
//! A controller only sets `cwnd` and `ssthresh`. It does **not** inflate or deflate the window
//! during fast recovery (the RFC 5681 §3.2 "cwnd = ssthresh + 3*SMSS, +SMSS per duplicate ACK"
//! dance). Instead the sender does loss recovery the RFC 6675 way, with the SACK scoreboard
//! ([`crate::tcp::sack`]): while in recovery it transmits while `cwnd - pipe >= SMSS`, where
//! `pipe` is the scoreboard's estimate of the bytes still in the network, so segments that left
//! the network (SACKed, or deemed lost) open the window exactly as inflation would have, without
//! touching `cwnd`. The scoreboard also covers peers that do not SACK: partial ACKs (RFC 6582
//! §3.2 step 5) retransmit the first unacknowledged segment.
//!
//! The events, all in bytes, all with the time passed in:
//!
//! | event | when the sender calls it |
//! |---|---|
//! | [`CongestionControl::on_ack`] | every ACK that advances SND.UNA (grows `cwnd` unless in recovery) |
//! | [`CongestionControl::on_congestion_event`] | loss detected by duplicate ACKs / SACK: entering fast recovery |
//! | [`CongestionControl::on_recovery_end`] | the cumulative ACK covered the recovery point |
//! | [`CongestionControl::on_rto`] | the retransmission timer expired |
//!
//! `bytes_in_flight` is always the RFC 5681 FlightSize *when the event happened*: for `on_ack`
//! that is before the ACK's bytes are taken off (the data it acknowledges was in flight until
//! then).
//!
//! Both algorithms share slow start: RFC 5681 §3.1 with Appropriate Byte Counting (RFC 3465),
//! and the window grows only when the sender actually uses it (see [`CongestionControl::on_ack`]).

use std::time::Duration;

use cyclone_pmd::Timestamp;

pub mod cubic;
pub mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

/// The largest congestion window: the largest receive window TCP can advertise, 2^30 bytes
/// (RFC 7323 §2.3: window scale at most 14). More would never be usable, and the bound keeps
/// every computation (including CUBIC's `f64` ones) far from overflow.
pub const MAX_CWND: usize = 1 << 30;

/// The initial window of RFC 6928 §2:
///
/// > "IW = min (10*MSS, max (2*MSS, 14600))"
pub fn initial_window(smss: usize) -> usize {
    let smss = smss.max(1);
    smss.saturating_mul(10)
        .min(smss.saturating_mul(2).max(14_600))
        .min(MAX_CWND)
}

/// What the sender asks of a congestion controller. Sizes are in bytes.
pub trait CongestionControl {
    /// An ACK newly acknowledged `newly_acked` bytes (SND.UNA advanced by that much), at `now`.
    ///
    /// `rtt` is the connection's current smoothed RTT ([`crate::tcp::rtt::RttEstimator::srtt`]),
    /// `None` before the first sample; CUBIC uses it to look one RTT ahead (RFC 9438 §4.2).
    /// `bytes_in_flight` is the FlightSize before this ACK's bytes are removed.
    ///
    /// The window does not grow during fast recovery, nor when the sender is not using it: only
    /// when `bytes_in_flight >= cwnd / 2` — the test RFC 7661 §4.3 uses to call a cwnd
    /// "validated" (its pipeACK at least half of cwnd), and how Linux judges a slow-starting flow
    /// cwnd-limited (`tcp_is_cwnd_limited`).
    fn on_ack(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt: Option<Duration>,
        bytes_in_flight: usize,
    );

    /// [`CongestionControl::on_ack`] with the smoothed RTT in nanoseconds, as
    /// [`crate::tcp::rtt::RttEstimator::srtt_nanos`] holds it: the sender's per-ACK entry, so
    /// that a controller that does not need a `Duration` (or needs the RTT only in congestion
    /// avoidance) is not handed one on every ACK. The default converts and calls `on_ack`;
    /// an implementation that overrides it must behave exactly as `on_ack` would with
    /// `rtt.map(Duration::from_nanos)`.
    #[inline]
    fn on_ack_nanos(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt_nanos: Option<u64>,
        bytes_in_flight: usize,
    ) {
        self.on_ack(
            now,
            newly_acked,
            rtt_nanos.map(Duration::from_nanos),
            bytes_in_flight,
        )
    }

    /// Loss detected by duplicate ACKs or SACK: the sender enters fast recovery. Reduces
    /// `ssthresh` and sets `cwnd = ssthresh` (RFC 6675 §5 step 4.2). A second call before
    /// [`CongestionControl::on_recovery_end`] is ignored: one reduction per window of data
    /// (RFC 6582 §3.2, RFC 6675 §5).
    fn on_congestion_event(&mut self, now: Timestamp, bytes_in_flight: usize);

    /// The cumulative ACK reached the recovery point: fast recovery is over, growth resumes.
    fn on_recovery_end(&mut self, now: Timestamp);

    /// The retransmission timer expired: `ssthresh` is reduced (unless this is a repeated timeout
    /// of the same data) and `cwnd` falls to the loss window of one segment (RFC 5681 §3.1).
    /// Ends fast recovery, if it was on.
    fn on_rto(&mut self, now: Timestamp, bytes_in_flight: usize);

    /// The congestion window.
    fn cwnd(&self) -> usize;

    /// The slow-start threshold (`usize::MAX` until the first loss: "arbitrarily high",
    /// RFC 5681 §3.1).
    fn ssthresh(&self) -> usize;

    /// The sender's maximum segment size (SMSS). Before any ACK or loss, also re-derives the
    /// initial window from it (RFC 6928); afterwards keeps `cwnd` but never below one segment.
    fn set_mss(&mut self, mss: usize);

    /// The SMSS in use.
    fn mss(&self) -> usize;

    /// Whether fast recovery is on (between `on_congestion_event` and `on_recovery_end`/`on_rto`).
    fn in_recovery(&self) -> bool;

    /// Whether the window grows by slow start (`cwnd < ssthresh`).
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }
}

/// Which algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CongestionAlgorithm {
    /// RFC 5681 congestion avoidance, RFC 6582 recovery: halves on loss, +1 SMSS per RTT.
    NewReno,
    /// RFC 9438: β = 0.7 and cubic growth; the default, as on Linux.
    #[default]
    Cubic,
}

impl CongestionAlgorithm {
    /// A controller of this algorithm for a sender with the given SMSS.
    pub fn build(self, smss: usize) -> CongestionController {
        CongestionController::new(self, smss)
    }
}

/// A controller of either algorithm, held by value.
#[derive(Debug, Clone)]
pub enum CongestionController {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
}

impl CongestionController {
    /// A fresh controller: `cwnd` = the RFC 6928 initial window, `ssthresh` = `usize::MAX`.
    pub fn new(algorithm: CongestionAlgorithm, smss: usize) -> CongestionController {
        match algorithm {
            CongestionAlgorithm::NewReno => CongestionController::NewReno(NewReno::new(smss)),
            CongestionAlgorithm::Cubic => CongestionController::Cubic(Cubic::new(smss)),
        }
    }

    /// Which algorithm this is.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        match self {
            CongestionController::NewReno(_) => CongestionAlgorithm::NewReno,
            CongestionController::Cubic(_) => CongestionAlgorithm::Cubic,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $cc:ident => $e:expr) => {
        match $self {
            CongestionController::NewReno($cc) => $e,
            CongestionController::Cubic($cc) => $e,
        }
    };
}

impl CongestionControl for CongestionController {
    #[inline]
    fn on_ack(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt: Option<Duration>,
        bytes_in_flight: usize,
    ) {
        delegate!(self, cc => cc.on_ack(now, newly_acked, rtt, bytes_in_flight))
    }
    #[inline]
    fn on_ack_nanos(
        &mut self,
        now: Timestamp,
        newly_acked: usize,
        rtt_nanos: Option<u64>,
        bytes_in_flight: usize,
    ) {
        delegate!(self, cc => cc.on_ack_nanos(now, newly_acked, rtt_nanos, bytes_in_flight))
    }
    fn on_congestion_event(&mut self, now: Timestamp, bytes_in_flight: usize) {
        delegate!(self, cc => cc.on_congestion_event(now, bytes_in_flight))
    }
    fn on_recovery_end(&mut self, now: Timestamp) {
        delegate!(self, cc => cc.on_recovery_end(now))
    }
    fn on_rto(&mut self, now: Timestamp, bytes_in_flight: usize) {
        delegate!(self, cc => cc.on_rto(now, bytes_in_flight))
    }
    fn cwnd(&self) -> usize {
        delegate!(self, cc => cc.cwnd())
    }
    fn ssthresh(&self) -> usize {
        delegate!(self, cc => cc.ssthresh())
    }
    fn set_mss(&mut self, mss: usize) {
        delegate!(self, cc => cc.set_mss(mss))
    }
    fn mss(&self) -> usize {
        delegate!(self, cc => cc.mss())
    }
    fn in_recovery(&self) -> bool {
        delegate!(self, cc => cc.in_recovery())
    }
}

/// The window state and the rules both algorithms share: slow start with ABC, the loss window,
/// the "is the window used" test, and the recovery and timeout flags.
#[derive(Debug, Clone)]
struct Window {
    cwnd: usize,
    ssthresh: usize,
    smss: usize,
    in_recovery: bool,
    /// An ACK or a loss has been seen: from then on `set_mss` no longer resets the window.
    started: bool,
    /// An RTO fired and no new data has been acknowledged since (RFC 5681 §3.1: the next RTO
    /// holds ssthresh).
    rto_unanswered: bool,
    /// Slow start after an RTO: ABC limit L = 1 SMSS (RFC 3465 §2.3).
    slow_start_after_rto: bool,
}

impl Window {
    fn new(smss: usize) -> Window {
        let smss = smss.max(1);
        Window {
            cwnd: initial_window(smss),
            ssthresh: usize::MAX,
            smss,
            in_recovery: false,
            started: false,
            rto_unanswered: false,
            slow_start_after_rto: false,
        }
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// RFC 7661 §4.3: the window counts as used ("validated") when at least half of it is.
    fn is_cwnd_limited(&self, bytes_in_flight: usize) -> bool {
        bytes_in_flight.saturating_mul(2) >= self.cwnd
    }

    /// The bookkeeping of every ACK; returns whether the window may grow on this one.
    fn on_ack(&mut self, newly_acked: usize, bytes_in_flight: usize) -> bool {
        self.started = true;
        if newly_acked == 0 {
            return false;
        }
        self.rto_unanswered = false;
        !self.in_recovery && self.is_cwnd_limited(bytes_in_flight)
    }

    /// Slow start, RFC 5681 §3.1 with RFC 3465 §2.2 ABC:
    ///
    /// > "During slow start, a TCP increments cwnd by at most SMSS bytes for each ACK received
    /// > that cumulatively acknowledges new data." — RFC 5681 §3.1, eq. (2): cwnd += min (N, SMSS)
    /// >
    /// > "This document specifies that TCP implementations MAY use L=2*SMSS bytes and MUST NOT
    /// > use L > 2*SMSS bytes." — RFC 3465 §2.2, cwnd += min (N, L)
    ///
    /// After an RTO L is 1 SMSS (RFC 3465 §2.3: the ACKs of a post-timeout slow start may cover
    /// data that left the network long ago). Growth stops at ssthresh; congestion avoidance
    /// takes over from the next ACK.
    fn slow_start(&mut self, newly_acked: usize) {
        let limit = if self.slow_start_after_rto {
            self.smss
        } else {
            self.smss.saturating_mul(2)
        };
        self.cwnd = self
            .cwnd
            .saturating_add(newly_acked.min(limit))
            .min(self.ssthresh)
            .min(MAX_CWND);
        if !self.in_slow_start() {
            self.slow_start_after_rto = false;
        }
    }

    /// Enters fast recovery with the given ssthresh (already computed by the algorithm):
    /// RFC 6675 §5 (4.2) "ssthresh = cwnd = ...". Never below 2 SMSS (RFC 5681 eq. (4)).
    fn enter_recovery(&mut self, ssthresh: usize) {
        self.started = true;
        self.ssthresh = ssthresh.max(self.smss.saturating_mul(2)).min(MAX_CWND);
        self.cwnd = self.ssthresh;
        self.in_recovery = true;
        self.slow_start_after_rto = false;
    }

    /// RFC 6582 §3.2 step 3, full acknowledgment: "Set cwnd to either (1) min (ssthresh,
    /// max(FlightSize, SMSS) + SMSS) or (2) ssthresh". We take (2): with RFC 6675 the sender
    /// never inflated cwnd, and (2) resumes at the reduced rate.
    fn end_recovery(&mut self) {
        if self.in_recovery {
            self.in_recovery = false;
            self.cwnd = self.ssthresh.max(self.smss);
        }
    }

    /// A retransmission timeout with the ssthresh the algorithm computed from FlightSize.
    ///
    /// > "when a TCP sender detects segment loss using the retransmission timer and the given
    /// > segment has already been retransmitted by way of the retransmission timer at least once,
    /// > the value of ssthresh is held constant." — RFC 5681 §3.1
    /// >
    /// > "upon a timeout (as specified in [RFC2988]) cwnd MUST be set to no more than the loss
    /// > window, LW, which equals 1 full-sized segment" — RFC 5681 §3.1
    ///
    /// Returns whether ssthresh was reduced (false for a repeated timeout).
    fn on_rto(&mut self, ssthresh: usize) -> bool {
        self.started = true;
        let reduce = !self.rto_unanswered;
        if reduce {
            self.ssthresh = ssthresh.max(self.smss.saturating_mul(2)).min(MAX_CWND);
        }
        self.cwnd = self.smss;
        self.in_recovery = false;
        self.rto_unanswered = true;
        self.slow_start_after_rto = true;
        reduce
    }

    fn set_mss(&mut self, mss: usize) {
        self.smss = mss.clamp(1, MAX_CWND);
        if self.started {
            self.cwnd = self.cwnd.max(self.smss);
        } else {
            self.cwnd = initial_window(self.smss);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6928_initial_window() {
        assert_eq!(initial_window(1460), 14_600);
        assert_eq!(initial_window(536), 5_360);
        // max(2·MSS, 14600) wins for big segments: 9000-byte jumbo frames get 2 segments.
        assert_eq!(initial_window(8960), 17_920);
        assert_eq!(initial_window(4000), 14_600);
        assert_eq!(initial_window(0), 10);
        assert_eq!(initial_window(usize::MAX), MAX_CWND);
    }

    #[test]
    fn enum_dispatch() {
        let mut cc = CongestionController::new(CongestionAlgorithm::default(), 1460);
        assert_eq!(cc.algorithm(), CongestionAlgorithm::Cubic);
        assert_eq!(cc.cwnd(), 14_600);
        assert_eq!(cc.ssthresh(), usize::MAX);
        assert!(cc.in_slow_start());
        cc.set_mss(1000);
        assert_eq!(cc.mss(), 1000);
        assert_eq!(cc.cwnd(), 10_000);
        let mut reno = CongestionAlgorithm::NewReno.build(1000);
        assert_eq!(reno.algorithm(), CongestionAlgorithm::NewReno);
        reno.on_congestion_event(Timestamp::ZERO, 10_000);
        assert!(reno.in_recovery());
        assert_eq!(reno.cwnd(), 5_000);
        reno.on_recovery_end(Timestamp::ZERO);
        assert!(!reno.in_recovery());
        reno.on_rto(Timestamp::ZERO, 5_000);
        assert_eq!(reno.cwnd(), 1_000);
    }

    #[derive(Debug, Clone)]
    enum Event {
        Ack(usize, u64, usize),
        Loss(usize),
        End,
        Rto(usize),
        Mss(usize),
        Wait(u64),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            6 => (0usize..200_000, 0u64..10_000_000_000, 0usize..usize::MAX)
                .prop_map(|(a, r, f)| Event::Ack(a, r, f)),
            1 => any::<usize>().prop_map(Event::Loss),
            1 => Just(Event::End),
            1 => any::<usize>().prop_map(Event::Rto),
            1 => any::<usize>().prop_map(Event::Mss),
            2 => any::<u64>().prop_map(Event::Wait),
        ]
    }

    proptest! {
        /// Any sequence of events, with absurd sizes and times, never panics and keeps
        /// SMSS <= cwnd <= MAX_CWND and 2·SMSS <= ssthresh (once set).
        #[test]
        fn never_panics_and_stays_in_bounds(
            reno in any::<bool>(),
            events in proptest::collection::vec(event(), 0..200),
        ) {
            let alg = if reno { CongestionAlgorithm::NewReno } else { CongestionAlgorithm::Cubic };
            let mut cc = alg.build(1460);
            let mut now = Timestamp::ZERO;
            for e in events {
                match e {
                    Event::Ack(a, r, f) => cc.on_ack(now, a, Some(Duration::from_nanos(r)), f),
                    Event::Loss(f) => cc.on_congestion_event(now, f),
                    Event::End => cc.on_recovery_end(now),
                    Event::Rto(f) => cc.on_rto(now, f),
                    Event::Mss(m) => cc.set_mss(m),
                    Event::Wait(d) => now = now + Duration::from_nanos(d),
                }
                prop_assert!(cc.cwnd() >= cc.mss());
                prop_assert!(cc.cwnd() <= MAX_CWND);
                prop_assert!(cc.ssthresh() == usize::MAX || cc.ssthresh() <= MAX_CWND);
            }
        }
    }
}
