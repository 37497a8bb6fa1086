//! The retransmission timer's round-trip estimator (RFC 6298), with Karn's rule built into the
//! types and RTT samples from timestamp echoes (RFC 7323 §4).
//!
//! The estimator never reads a clock: the caller passes `now` in. An [`RttSample`] can only be
//! made in two ways, so a sample that Karn's algorithm forbids cannot reach the estimator:
//!
//! - [`SendTime::rtt_sample`] — the sender stamps each segment with a [`SendTime`] when it first
//!   sends it and calls [`SendTime::mark_retransmitted`] when it sends it again. A retransmitted
//!   segment's `SendTime` yields no sample:
//!   > "RTT samples MUST NOT be made using segments that were retransmitted (and thus for which it
//!   > is ambiguous whether the reply was for the first instance of the packet or a later
//!   > instance)." — RFC 6298 §3
//! - [`RttSample::from_timestamp_echo`] — with the timestamps option (RFC 7323 §4, RTTM) the
//!   echoed TSval names the transmission an ACK answers, so a sample is unambiguous even when
//!   the segment was retransmitted; RFC 7323 §4.2 fixes which TSval the receiver echoes so that
//!   the measured RTT never underestimates the path.
//!
//! Minimum RTO: RFC 6298 (2.4) says "Whenever RTO is computed, if it is less than 1 second, then
//! the RTO SHOULD be rounded up to 1 second." Linux uses 200 ms (`TCP_RTO_MIN`), and so do we by
//! default ([`RttConfig::default`]): with a 1 s floor a single tail loss on a data-centre path
//! stalls a connection 1000 times its RTT, and interoperating peers (Linux) already expect the
//! 200 ms behaviour. The floor is configurable; set it to 1 s for strict RFC behaviour.

use std::time::Duration;

use cyclone_pmd::Timestamp;

/// When a segment was sent, and whether it has been sent more than once (Karn's algorithm).
///
/// Keep one per segment in the send queue: [`SendTime::first_transmission`] when it is first
/// sent, [`SendTime::mark_retransmitted`] when it is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTime {
    /// The time of the latest transmission.
    at: Timestamp,
    retransmitted: bool,
}

impl SendTime {
    /// A segment sent for the first time at `now`.
    pub const fn first_transmission(now: Timestamp) -> SendTime {
        SendTime {
            at: now,
            retransmitted: false,
        }
    }

    /// The segment was sent again at `now`: from now on it gives no RTT sample (RFC 6298 §3).
    pub fn mark_retransmitted(&mut self, now: Timestamp) {
        self.at = now;
        self.retransmitted = true;
    }

    /// The time of the latest transmission.
    pub const fn sent_at(&self) -> Timestamp {
        self.at
    }

    /// Whether the segment has been sent more than once.
    pub const fn is_retransmitted(&self) -> bool {
        self.retransmitted
    }

    /// The RTT sample given by an ACK arriving at `now` that newly acknowledges this segment, or
    /// `None` if the segment was retransmitted (Karn's algorithm, RFC 6298 §3).
    pub fn rtt_sample(&self, now: Timestamp) -> Option<RttSample> {
        if self.retransmitted {
            None
        } else {
            Some(RttSample(now.as_nanos().saturating_sub(self.at.as_nanos())))
        }
    }
}

/// One valid round-trip time measurement. Constructible only through [`SendTime::rtt_sample`]
/// (Karn's rule) or [`RttSample::from_timestamp_echo`] (RFC 7323).
///
/// Held in nanoseconds: it is always the difference of two [`Timestamp`]s, so it fits, and the
/// estimator computes in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RttSample(u64);

impl RttSample {
    /// A sample from the timestamps option (RFC 7323 §4.1): `echoed_send_time` is the local time
    /// at which the TSval now echoed in the ACK's TSecr was sent; `now` is the ACK's arrival.
    ///
    /// Only take a sample from an ACK that acknowledges new data (RFC 7323 §4.1): an ACK that
    /// advances nothing may echo an old TSval (a delayed or duplicate ACK) and would overestimate.
    pub fn from_timestamp_echo(echoed_send_time: Timestamp, now: Timestamp) -> RttSample {
        RttSample(now.as_nanos().saturating_sub(echoed_send_time.as_nanos()))
    }

    /// The measured round-trip time.
    pub const fn rtt(&self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

/// The estimator's limits and constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// The RTO before any sample (RFC 6298 (2.1): "Until a round-trip time (RTT) measurement has
    /// been made for a segment sent between the sender and receiver, the sender SHOULD set
    /// RTO <- 1 second"). Default 1 s.
    pub initial_rto: Duration,
    /// The smallest RTO (RFC 6298 (2.4)). Default 200 ms, as Linux — see the module docs.
    pub min_rto: Duration,
    /// The largest RTO, backoff included (RFC 6298 (2.5): "A maximum value MAY be placed on RTO
    /// provided it is at least 60 seconds"). Default 60 s.
    pub max_rto: Duration,
    /// The clock granularity G of RFC 6298 §2. Default 1 ms (the timer wheel's tick).
    pub granularity: Duration,
}

impl Default for RttConfig {
    fn default() -> RttConfig {
        RttConfig {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            granularity: Duration::from_millis(1),
        }
    }
}

impl RttConfig {
    /// The RTO of RFC 6298 taken literally: a 1 s floor.
    pub fn rfc6298() -> RttConfig {
        RttConfig {
            min_rto: Duration::from_secs(1),
            ..RttConfig::default()
        }
    }
}

/// RTO after a SYN timed out (RFC 6298 (5.7)).
const SYN_TIMEOUT_RTO: Duration = Duration::from_secs(3);
/// Bound on the backoff shift: a `u64` of nanoseconds has 64 bits.
const MAX_BACKOFF_SHIFT: u32 = 63;

/// The RFC 6298 estimator: SRTT, RTTVAR and the RTO with exponential backoff.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    config: RttConfig,
    /// `config`'s granularity, `min_rto` and `max_rto` in nanoseconds (saturated), converted
    /// once: the configuration does not change after `new`.
    granularity_ns: u64,
    min_rto_ns: u64,
    max_rto_ns: u64,
    /// SRTT and RTTVAR, in nanoseconds; `None` before the first sample.
    smoothed: Option<(u64, u64)>,
    /// RTO from the last computation, before backoff, in nanoseconds, already clamped.
    base_rto: u64,
    /// Number of consecutive timer backoffs since the last valid sample.
    backoffs: u32,
    /// The latest and the smallest sample, in nanoseconds.
    latest: Option<u64>,
    min_rtt: Option<u64>,
}

impl Default for RttEstimator {
    fn default() -> RttEstimator {
        RttEstimator::new(RttConfig::default())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// An estimator with no sample yet: RTO = `config.initial_rto` (clamped to the limits).
    ///
    /// A `config` with `min_rto > max_rto` is repaired by raising `max_rto` to `min_rto`.
    pub fn new(mut config: RttConfig) -> RttEstimator {
        if config.max_rto < config.min_rto {
            config.max_rto = config.min_rto;
        }
        let base_rto =
            nanos(config.initial_rto).clamp(nanos(config.min_rto), nanos(config.max_rto));
        RttEstimator {
            granularity_ns: nanos(config.granularity),
            min_rto_ns: nanos(config.min_rto),
            max_rto_ns: nanos(config.max_rto),
            config,
            smoothed: None,
            base_rto,
            backoffs: 0,
            latest: None,
            min_rtt: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RttConfig {
        &self.config
    }

    /// Feeds one valid RTT measurement (RFC 6298 §2) and clears any backoff.
    ///
    /// > "(2.2) When the first RTT measurement R is made, the host MUST set
    /// > SRTT <- R, RTTVAR <- R/2, RTO <- SRTT + max (G, K*RTTVAR) where K = 4."
    /// >
    /// > "(2.3) When a subsequent RTT measurement R' is made, a host MUST set
    /// > RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|,
    /// > SRTT <- (1 - alpha) * SRTT + alpha * R'. The value of SRTT used in the update to RTTVAR
    /// > is its value before updating SRTT itself using the second assignment. ...
    /// > alpha=1/8 and beta=1/4."
    ///
    /// Arithmetic is in integer nanoseconds, rounded down.
    #[inline]
    pub fn on_sample(&mut self, sample: RttSample) {
        let r = sample.0;
        let (srtt, rttvar) = match self.smoothed {
            None => (r, r / 2),
            Some((srtt, rttvar)) => {
                // Compute in u128 so that 7·SRTT or 3·RTTVAR cannot overflow.
                let err = u128::from(srtt.abs_diff(r));
                let rttvar = (3 * u128::from(rttvar) + err) / 4;
                let srtt = (7 * u128::from(srtt) + u128::from(r)) / 8;
                (
                    u64::try_from(srtt).unwrap_or(u64::MAX),
                    u64::try_from(rttvar).unwrap_or(u64::MAX),
                )
            }
        };
        self.smoothed = Some((srtt, rttvar));
        // RTO <- SRTT + max (G, K*RTTVAR), then (2.4) the floor and (2.5) the ceiling.
        let var_term = self.granularity_ns.max(rttvar.saturating_mul(4));
        self.base_rto = srtt
            .saturating_add(var_term)
            .clamp(self.min_rto_ns, self.max_rto_ns);
        // RFC 6298 §5: "once a new RTT measurement is obtained (which can only happen when new
        // data has been sent and acknowledged), the computations outlined in Section 2 are
        // performed, including the computation of RTO, which may result in "collapsing" RTO back
        // down after it has been subject to exponential back off (rule 5.5)."
        self.backoffs = 0;
        self.latest = Some(sample.0);
        self.min_rtt = Some(self.min_rtt.map_or(sample.0, |m| m.min(sample.0)));
    }

    /// Doubles the RTO after the retransmission timer expired, up to `max_rto`.
    ///
    /// > "(5.5) The host MUST set RTO <- RTO * 2 ("back off the timer"). The maximum value
    /// > discussed in (2.5) above may be used to provide an upper bound to this doubling
    /// > operation." — RFC 6298 §5
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// How many times the timer has backed off since the last valid sample (the retry count
    /// the caller compares against its limit before giving up, RFC 9293 §3.8.3 R2).
    pub fn backoff_count(&self) -> u32 {
        self.backoffs
    }

    /// The SYN (or SYN-ACK) timed out: RFC 6298 (5.7): "If the timer expires awaiting the ACK of
    /// a SYN segment and the TCP implementation is using an RTO less than 3 seconds, the RTO MUST
    /// be re-initialized to 3 seconds when data transmission begins (i.e., after the three-way
    /// handshake completes)." Call it when the handshake completes after such a timeout; it has
    /// no effect once a sample has been taken, since a sample replaces the RTO anyway.
    pub fn on_handshake_after_syn_timeout(&mut self) {
        if self.smoothed.is_none() {
            self.base_rto = self
                .base_rto
                .max(nanos(SYN_TIMEOUT_RTO))
                .min(self.max_rto_ns);
            self.backoffs = 0;
        }
    }

    /// The current RTO, backoff included, within `[min_rto, max_rto]`.
    pub fn rto(&self) -> Duration {
        Duration::from_nanos(self.rto_nanos())
    }

    /// [`rto`](Self::rto) in nanoseconds.
    #[inline]
    fn rto_nanos(&self) -> u64 {
        let max = self.max_rto_ns;
        let shift = self.backoffs.min(MAX_BACKOFF_SHIFT);
        let backed_off = match self.base_rto.checked_shl(shift) {
            // `checked_shl` only rejects shifts >= 64; detect bits shifted out by shifting back.
            Some(v) if v >> shift == self.base_rto => v,
            _ => u64::MAX,
        };
        backed_off.min(max)
    }

    /// When a retransmission timer started at `now` expires: `now + self.rto()` (saturating),
    /// without the round trip through `Duration`.
    #[inline]
    pub fn deadline(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_nanos(now.as_nanos().saturating_add(self.rto_nanos()))
    }

    /// SRTT, or `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|(s, _)| Duration::from_nanos(s))
    }

    /// SRTT in nanoseconds, or `None` before the first sample.
    #[inline]
    pub fn srtt_nanos(&self) -> Option<u64> {
        self.smoothed.map(|(s, _)| s)
    }

    /// RTTVAR, or `None` before the first sample.
    pub fn rttvar(&self) -> Option<Duration> {
        self.smoothed.map(|(_, v)| Duration::from_nanos(v))
    }

    /// The latest sample.
    pub fn latest_rtt(&self) -> Option<Duration> {
        self.latest.map(Duration::from_nanos)
    }

    /// The smallest sample seen on the connection.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(Duration::from_nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn sample(rtt: Duration) -> RttSample {
        SendTime::first_transmission(Timestamp::from_millis(1_000))
            .rtt_sample(Timestamp::from_millis(1_000) + rtt)
            .unwrap_or(RttSample(0))
    }

    #[test]
    fn initial_rto_is_one_second() {
        let est = RttEstimator::default();
        assert_eq!(est.rto(), ms(1_000));
        assert_eq!(est.srtt(), None);
        assert_eq!(est.rttvar(), None);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut est = RttEstimator::default();
        est.on_sample(sample(ms(100)));
        assert_eq!(est.srtt(), Some(ms(100)));
        assert_eq!(est.rttvar(), Some(ms(50)));
        // 100 + max(1, 4·50) = 300 ms.
        assert_eq!(est.rto(), ms(300));
    }

    #[test]
    fn known_sequence() {
        // Hand-computed with α = 1/8, β = 1/4:
        // R=100: SRTT=100, RTTVAR=50,  RTO=100+200=300
        // R=200: RTTVAR=¾·50+¼·|100−200|=37.5+25=62.5; SRTT=⅞·100+⅛·200=112.5; RTO=112.5+250=362.5
        // R=120: RTTVAR=¾·62.5+¼·|112.5−120|=46.875+1.875=48.75; SRTT=⅞·112.5+⅛·120=113.4375;
        //        RTO=113.4375+195=308.4375
        let mut est = RttEstimator::default();
        est.on_sample(sample(ms(100)));
        est.on_sample(sample(ms(200)));
        assert_eq!(est.rttvar(), Some(Duration::from_micros(62_500)));
        assert_eq!(est.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(est.rto(), Duration::from_micros(362_500));
        est.on_sample(sample(ms(120)));
        assert_eq!(est.rttvar(), Some(Duration::from_micros(48_750)));
        assert_eq!(est.srtt(), Some(Duration::from_nanos(113_437_500)));
        assert_eq!(est.rto(), Duration::from_nanos(308_437_500));
    }

    #[test]
    fn converges_to_a_steady_rtt() {
        let mut est = RttEstimator::default();
        for _ in 0..200 {
            est.on_sample(sample(ms(50)));
        }
        assert_eq!(est.srtt(), Some(ms(50)));
        // RTTVAR decays to ~0, so the RTO is SRTT + G, then floored at 200 ms.
        assert_eq!(est.rto(), ms(200));
        assert_eq!(est.min_rtt(), Some(ms(50)));
        assert_eq!(est.latest_rtt(), Some(ms(50)));
    }

    #[test]
    fn granularity_term_when_rttvar_is_tiny() {
        let mut est = RttEstimator::new(RttConfig {
            min_rto: Duration::ZERO,
            granularity: ms(10),
            ..RttConfig::default()
        });
        for _ in 0..200 {
            est.on_sample(sample(ms(5)));
        }
        assert_eq!(est.rto(), ms(15));
    }

    #[test]
    fn min_and_max_rto() {
        let mut est = RttEstimator::new(RttConfig::rfc6298());
        est.on_sample(sample(ms(10)));
        assert_eq!(est.rto(), ms(1_000));
        let mut est = RttEstimator::default();
        est.on_sample(sample(Duration::from_secs(100)));
        assert_eq!(est.rto(), Duration::from_secs(60));
    }

    #[test]
    fn backoff_doubles_caps_and_resets_on_sample() {
        let mut est = RttEstimator::default();
        est.on_sample(sample(ms(100)));
        assert_eq!(est.rto(), ms(300));
        est.backoff();
        assert_eq!(est.rto(), ms(600));
        est.backoff();
        assert_eq!(est.rto(), ms(1_200));
        assert_eq!(est.backoff_count(), 2);
        for _ in 0..100 {
            est.backoff();
        }
        assert_eq!(est.rto(), Duration::from_secs(60));
        est.on_sample(sample(ms(100)));
        assert_eq!(est.backoff_count(), 0);
        assert!(est.rto() < ms(400));
        // Backoff with no sample yet: 1 s, 2 s, 4 s.
        let mut est = RttEstimator::default();
        est.backoff();
        est.backoff();
        assert_eq!(est.rto(), ms(4_000));
        for _ in 0..u16::MAX {
            est.backoff();
        }
        assert_eq!(est.rto(), Duration::from_secs(60));
    }

    #[test]
    fn karn_retransmitted_segment_gives_no_sample() {
        let t0 = Timestamp::from_millis(10);
        let mut sent = SendTime::first_transmission(t0);
        assert_eq!(
            sent.rtt_sample(Timestamp::from_millis(60)).map(|s| s.rtt()),
            Some(ms(50))
        );
        sent.mark_retransmitted(Timestamp::from_millis(1_010));
        assert!(sent.is_retransmitted());
        assert_eq!(sent.sent_at(), Timestamp::from_millis(1_010));
        assert_eq!(sent.rtt_sample(Timestamp::from_millis(1_100)), None);
    }

    #[test]
    fn timestamp_echo_sample() {
        let s =
            RttSample::from_timestamp_echo(Timestamp::from_millis(5), Timestamp::from_millis(45));
        assert_eq!(s.rtt(), ms(40));
        // A clock that seems to go back gives a zero sample, never a panic.
        let s =
            RttSample::from_timestamp_echo(Timestamp::from_millis(50), Timestamp::from_millis(45));
        assert_eq!(s.rtt(), Duration::ZERO);
    }

    #[test]
    fn syn_timeout_sets_three_seconds() {
        let mut est = RttEstimator::default();
        est.backoff();
        est.on_handshake_after_syn_timeout();
        assert_eq!(est.rto(), ms(3_000));
        assert_eq!(est.backoff_count(), 0);
    }

    #[test]
    fn deadline_and_bad_config() {
        let est = RttEstimator::new(RttConfig {
            min_rto: ms(500),
            max_rto: ms(100),
            initial_rto: ms(10),
            granularity: ms(1),
        });
        assert_eq!(est.rto(), ms(500));
        assert_eq!(
            est.deadline(Timestamp::from_millis(1)),
            Timestamp::from_millis(501)
        );
        let mut est = RttEstimator::default();
        est.on_sample(sample(Duration::MAX));
        est.on_sample(sample(Duration::ZERO));
        assert_eq!(est.rto(), Duration::from_secs(60));
    }
}
