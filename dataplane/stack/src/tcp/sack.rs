//! The sender's SACK scoreboard and loss recovery state (RFC 6675, SACK blocks per RFC 2018,
//! D-SACK per RFC 2883, partial ACKs of peers without SACK per RFC 6582).
//!
//! [`SackScoreboard`] records which bytes above SND.UNA the peer has SACKed, as a bounded list of
//! merged ranges, and runs RFC 6675's recovery: it decides when loss recovery starts (DupAcks and
//! `IsLost`), computes `pipe` (`SetPipe`), and picks what to send next (`NextSeg`), keeping
//! `HighRxt`, `RescueRxt` and `RecoveryPoint` itself so the sender cannot get them out of step.
//!
//! # Conventions
//!
//! RFC 6675 names octets ("HighData: the highest sequence number transmitted"); this module uses
//! the exclusive ends TCP already has: `snd_una` (HighACK + 1), `snd_max` (HighData + 1, one past
//! the highest sequence number *ever* sent — not a SND.NXT rewound by a go-back-N retransmission),
//! and half-open [`SeqRange`]s, which is also what SACK blocks are on the wire (RFC 2018 §3).
//! All sizes are bytes.
//!
//! # Bounds
//!
//! At most [`MAX_SACK_RANGES`] disjoint ranges are kept. When a new block would make one more,
//! the highest range is forgotten. That is always safe: forgetting a SACK only makes the sender
//! believe more data is in flight (a larger `pipe`, fewer segments deemed lost), never less, and
//! the data is kept until it is cumulatively acknowledged anyway (RFC 2018 §8: "the data sender
//! MUST NOT discard data before it is acknowledged by the Acknowledgment Number"). The highest
//! range is also the one most likely to be reported again: receivers repeat their most recent
//! blocks first (RFC 2018 §4). Receivers send at most 4 blocks per ACK, so 32 holes in one
//! window is already an extreme case.
//!
//! # Use during loss recovery
//!
//! 1. On every ACK (also ones with no new cumulative ACK): [`SackScoreboard::on_ack`]. If its
//!    [`AckOutcome::fast_retransmit`] is `Some`, loss recovery just started (RFC 6675 §5 step 4):
//!    call the congestion controller's `on_congestion_event` and retransmit that range. If
//!    [`AckOutcome::recovery_ended`], call its `on_recovery_end`.
//! 2. While [`SackScoreboard::in_recovery`] and `cwnd - pipe(snd_max) >= SMSS` (RFC 6675 §5 (C)):
//!    send what [`SackScoreboard::next_seg`] returns; stop when it returns `None`.
//! 3. On a retransmission timeout: [`SackScoreboard::on_rto`], then retransmit from SND.UNA,
//!    skipping SACKed data with [`SackScoreboard::first_hole`].

use super::seq::{SeqNum, SeqRange};

/// RFC 6675 §2: "DupThresh: The number of duplicate acknowledgments required to trigger a fast
/// retransmission ... 3".
pub const DUP_THRESH: u32 = 3;

/// The most SACK ranges the scoreboard keeps (see the module docs on what happens beyond).
pub const MAX_SACK_RANGES: usize = 32;

/// The largest window the scoreboard works with: the half-window of sequence-number comparison.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// One ACK as the scoreboard needs it.
#[derive(Debug, Clone, Copy)]
pub struct Ack<'a> {
    /// The segment's acknowledgment number.
    pub ack: SeqNum,
    /// The blocks of the segment's SACK option, in option order (empty without the option).
    pub sack_blocks: &'a [SeqRange],
    /// One past the highest sequence number sent so far (HighData + 1).
    pub snd_max: SeqNum,
    /// The caller's RFC 5681 §2 duplicate-ACK test: no data, no SYN/FIN, acknowledgment number
    /// equal to SND.UNA, the same advertised window, and data outstanding. Used only while the
    /// peer has sent no SACK block on this connection (a peer that does not SACK); with SACK the
    /// RFC 6675 §2 definition applies instead.
    pub rfc5681_duplicate: bool,
}

/// What one ACK did to the scoreboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckOutcome {
    /// Bytes newly acknowledged cumulatively (SND.UNA advanced by this much).
    pub newly_acked: u32,
    /// Bytes newly SACKed.
    pub newly_sacked: u32,
    /// The ACK was a duplicate acknowledgment (RFC 6675 §2: it "arrives carrying a SACK block
    /// that identifies previously unacknowledged and un-SACKed octets between HighACK and
    /// HighData"; for a peer that does not SACK, RFC 5681 §2).
    pub duplicate: bool,
    /// The first SACK block reported a duplicate segment (D-SACK, RFC 2883 §4): it lies below
    /// the cumulative ACK or inside the second block. Such a block changes nothing here; it tells
    /// the sender a retransmission was spurious.
    pub dsack: bool,
    /// Loss recovery started with this ACK: the range to retransmit now (RFC 6675 §5 (4.3):
    /// "Retransmit the first data segment presumed dropped"). The sender must also reduce its
    /// congestion window (`on_congestion_event`).
    pub fast_retransmit: Option<SeqRange>,
    /// The cumulative ACK covered the recovery point: loss recovery is over (RFC 6675 §5 (A)).
    pub recovery_ended: bool,
}

/// What to send next during loss recovery ([`SackScoreboard::next_seg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextSeg {
    /// Retransmit this range (at most SMSS, never overlapping SACKed data): NextSeg rules (1)
    /// and (3), or the first unacknowledged segment after a partial ACK of a peer that does not
    /// SACK (RFC 6582 §3.2 step 5).
    Retransmit(SeqRange),
    /// Send up to SMSS bytes of new data from `snd_max` (rule (2)).
    NewData,
    /// The rescue retransmission of rule (4): retransmit this range (the tail of the
    /// outstanding data).
    Rescue(SeqRange),
}

#[derive(Debug, Clone, Copy)]
struct Recovery {
    /// RecoveryPoint + 1: `snd_max` when recovery started.
    point: SeqNum,
    /// HighRxt + 1: one past the highest byte retransmitted in this recovery.
    high_rxt: SeqNum,
    /// No rescue retransmission until SND.UNA reaches this (RescueRxt + 1).
    rescue_rxt: SeqNum,
}

/// The SACK scoreboard and RFC 6675 recovery state of one connection's sender.
#[derive(Debug, Clone)]
pub struct SackScoreboard {
    snd_una: SeqNum,
    smss: u32,
    /// Sorted, disjoint, non-adjacent, non-empty, all at or above `snd_una`.
    ranges: Vec<SeqRange>,
    dup_acks: u32,
    recovery: Option<Recovery>,
    /// The RecoveryPoint (+1) of the last recovery or RTO: no new recovery before SND.UNA gets
    /// there (RFC 6675 §5, §5.1).
    last_recovery_point: Option<SeqNum>,
    /// The peer has sent at least one SACK block.
    sack_seen: bool,
    /// A partial ACK from a peer that does not SACK: retransmit SND.UNA next (RFC 6582).
    partial_ack_pending: bool,
    /// An RTO fired and SND.UNA has not moved since.
    rto_unanswered: bool,
}

impl SackScoreboard {
    /// An empty scoreboard for a sender whose SND.UNA is `snd_una` (the ISS + 1 after the
    /// handshake) and whose SMSS is `smss` bytes.
    pub fn new(snd_una: SeqNum, smss: usize) -> SackScoreboard {
        SackScoreboard {
            snd_una,
            smss: clamp_mss(smss),
            ranges: Vec::with_capacity(MAX_SACK_RANGES + 1),
            dup_acks: 0,
            recovery: None,
            last_recovery_point: None,
            sack_seen: false,
            partial_ack_pending: false,
            rto_unanswered: false,
        }
    }

    /// Changes the SMSS used for `IsLost` and segment sizes.
    pub fn set_mss(&mut self, smss: usize) {
        self.smss = clamp_mss(smss);
    }

    /// SND.UNA as the scoreboard knows it (HighACK + 1).
    pub fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    /// The SACKed ranges: sorted, disjoint, above SND.UNA.
    pub fn ranges(&self) -> &[SeqRange] {
        &self.ranges
    }

    /// Whether `seq` has been SACKed (and not yet cumulatively acknowledged).
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|r| r.contains(seq))
    }

    /// The number of bytes SACKed above SND.UNA.
    pub fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|r| r.len() as usize).sum()
    }

    /// One past the highest SACKed byte (RFC 6675's HighSACK + 1), if anything is SACKed.
    pub fn high_sacked(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.end)
    }

    /// The duplicate ACKs counted since the last cumulative ACK (RFC 6675 DupAcks).
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }

    /// Whether loss recovery (RFC 6675 §5) is on.
    pub fn in_recovery(&self) -> bool {
        self.recovery.is_some()
    }

    /// One past the highest byte retransmitted in this recovery (HighRxt + 1), if in recovery.
    pub fn high_rxt(&self) -> Option<SeqNum> {
        self.recovery.map(|r| r.high_rxt)
    }

    /// The end of the current (or last) recovery: `snd_max` when it started (RecoveryPoint + 1).
    pub fn recovery_point(&self) -> Option<SeqNum> {
        self.recovery.map(|r| r.point).or(self.last_recovery_point)
    }

    fn off(&self, seq: SeqNum) -> u32 {
        seq.distance_from(self.snd_una)
    }

    /// The offset of `snd_max` from SND.UNA, 0 if the caller's `snd_max` is behind SND.UNA and
    /// at most [`MAX_WINDOW`].
    fn limit(&self, snd_max: SeqNum) -> u32 {
        if snd_max.lt(self.snd_una) {
            0
        } else {
            self.off(snd_max).min(MAX_WINDOW)
        }
    }

    /// RFC 6675 §4, IsLost (SeqNum):
    ///
    /// > "This routine returns whether the given sequence number is considered to be lost. The
    /// > routine returns true when either DupThresh discontiguous SACKed sequences have arrived
    /// > above 'SeqNum' or more than (DupThresh - 1) * SMSS bytes with sequence numbers greater
    /// > than 'SeqNum' have been SACKed. Otherwise, the routine returns false."
    ///
    /// Acknowledged and SACKed sequence numbers are never lost.
    pub fn is_lost(&self, seq: SeqNum) -> bool {
        if seq.lt(self.snd_una) || self.is_sacked(seq) {
            return false;
        }
        let s = self.off(seq);
        let (count, bytes) = self
            .ranges
            .iter()
            .filter(|r| self.off(r.start) > s)
            .fold((0u32, 0u64), |(c, b), r| (c + 1, b + u64::from(r.len())));
        self.lost_above(count, bytes)
    }

    fn lost_above(&self, ranges_above: u32, bytes_above: u64) -> bool {
        ranges_above >= DUP_THRESH || bytes_above > u64::from(DUP_THRESH - 1) * u64::from(self.smss)
    }

    /// The unSACKed holes between SND.UNA and `snd_max`, lowest first, each with whether it is
    /// lost (`IsLost` is the same for every byte of a hole) and whether it lies below HighSACK.
    fn holes(&self, snd_max: SeqNum) -> impl Iterator<Item = Hole> + '_ {
        let limit = self.limit(snd_max);
        let n = self.ranges.len();
        let mut bytes_above: u64 = self.ranges.iter().map(|r| u64::from(r.len())).sum();
        let mut cursor = 0u32;
        (0..=n).filter_map(move |i| {
            let (end, below_sack) = match self.ranges.get(i) {
                Some(r) => (self.off(r.start).min(limit), true),
                None => (limit, false),
            };
            let start = cursor;
            let ranges_above = u32::try_from(n - i).unwrap_or(u32::MAX);
            let lost = below_sack && self.lost_above(ranges_above, bytes_above);
            if let Some(r) = self.ranges.get(i) {
                cursor = self.off(r.end).min(limit);
                bytes_above -= u64::from(r.len());
            }
            (start < end).then_some(Hole {
                start_off: start,
                end_off: end,
                lost,
                below_sack,
            })
        })
    }

    /// RFC 6675 §4, SetPipe: the bytes the sender believes are still in the network.
    ///
    /// > "(a) If IsLost (S1) returns false: Pipe is incremented by 1 octet. The effect of this
    /// > condition is that pipe is incremented for packets that have not been SACKed and have not
    /// > been determined to have been lost (i.e., those segments that are still assumed to be in
    /// > the network).
    /// > (b) If S1 <= HighRxt: Pipe is incremented by 1 octet. The effect of this condition is that
    /// > pipe is incremented for the retransmission of the octet."
    ///
    /// Computed per hole, not per octet. SACKed bytes are never counted: they left the network.
    pub fn pipe(&self, snd_max: SeqNum) -> usize {
        let rxt_end = self.recovery.map_or(0, |r| self.off(r.high_rxt));
        self.holes(snd_max)
            .map(|h| {
                let in_network = if h.lost { 0 } else { h.end_off - h.start_off };
                let retransmitted = h.end_off.min(rxt_end).saturating_sub(h.start_off);
                u64::from(in_network) + u64::from(retransmitted)
            })
            .sum::<u64>()
            .try_into()
            .unwrap_or(usize::MAX)
    }

    /// The first unSACKed range at or after `from` and below `snd_max`, at most SMSS long — the
    /// next thing to retransmit when going back after a timeout. `None` if everything from
    /// `from` on is SACKed (or `from` is outside `[snd_una, snd_max)`).
    pub fn first_hole(&self, from: SeqNum, snd_max: SeqNum) -> Option<SeqRange> {
        let from = if from.lt(self.snd_una) {
            0
        } else {
            self.off(from)
        };
        self.holes(snd_max)
            .find(|h| h.end_off > from)
            .map(|h| self.segment_in(&h, from.max(h.start_off)))
    }

    /// At most one SMSS of `hole` from offset `start`.
    fn segment_in(&self, hole: &Hole, start: u32) -> SeqRange {
        let end = start.saturating_add(self.smss).min(hole.end_off);
        SeqRange::new(self.snd_una + start, self.snd_una + end)
    }

    /// RFC 6675 §4, NextSeg: what to send next during loss recovery; `None` when there is
    /// nothing (or when not in recovery). The choice is committed: a returned retransmission
    /// advances HighRxt (RFC 6675 §5 (C.2)), a rescue sets RescueRxt, so call it only when about
    /// to send.
    ///
    /// `can_send_new` says whether the sender has unsent data the receiver's window allows
    /// (rule (2)).
    ///
    /// > "(1) If there exists a smallest unSACKed sequence number 'S2' that meets the following
    /// > three criteria for determining loss, the sequence range of one segment of up to SMSS
    /// > octets starting with S2 MUST be returned. (1.a) S2 is greater than HighRxt. (1.b) S2 is
    /// > less than the highest octet covered by any received SACK. (1.c) IsLost (S2) returns
    /// > true.
    /// > (2) If no sequence number 'S2' per rule (1) exists but there exists available unsent
    /// > data and the receiver's advertised window allows, the sequence range of one segment of
    /// > up to SMSS octets of previously unsent data starting with sequence number HighData+1
    /// > MUST be returned.
    /// > (3) If the conditions for rules (1) and (2) fail, but there exists an unSACKed sequence
    /// > number 'S3' that meets the criteria for detecting loss given in steps (1.a) and (1.b)
    /// > above (specifically excluding step (1.c)), then one segment of up to SMSS octets starting
    /// > with S3 SHOULD be returned.
    /// > (4) If the conditions for (1), (2), and (3) fail, but there exists outstanding unSACKed
    /// > data, we provide the opportunity for a single "rescue" retransmission per entry into
    /// > loss recovery. If HighACK is greater than RescueRxt (or RescueRxt is undefined), then
    /// > one segment of up to SMSS octets that MUST include the highest outstanding unSACKed
    /// > sequence number SHOULD be returned, and RescueRxt set to RecoveryPoint. HighRxt MUST
    /// > NOT be updated."
    pub fn next_seg(&mut self, snd_max: SeqNum, can_send_new: bool) -> Option<NextSeg> {
        let recovery = self.recovery?;
        let rxt_off = self.off(recovery.high_rxt);

        // RFC 6582 §3.2 step 5, for a peer that does not SACK: "If this ACK does *not*
        // acknowledge all of the data up to and including recover, then this is a partial ACK.
        // In this case, retransmit the first unacknowledged segment."
        if std::mem::take(&mut self.partial_ack_pending) {
            if let Some(seg) = self.first_hole(self.snd_una, snd_max) {
                self.advance_high_rxt(seg.end);
                return Some(NextSeg::Retransmit(seg));
            }
        }

        // Rules (1) and (3): the first unSACKed byte above HighRxt and below HighSACK; rule (1)
        // if it is lost. IsLost only gets weaker going up, so the first candidate decides.
        let candidate = self
            .holes(snd_max)
            .filter(|h| h.below_sack && h.end_off > rxt_off)
            .map(|h| (self.segment_in(&h, rxt_off.max(h.start_off)), h.lost))
            .next();
        if let Some((seg, true)) = candidate {
            self.advance_high_rxt(seg.end);
            return Some(NextSeg::Retransmit(seg));
        }
        if can_send_new {
            return Some(NextSeg::NewData);
        }
        if let Some((seg, false)) = candidate {
            self.advance_high_rxt(seg.end);
            return Some(NextSeg::Retransmit(seg));
        }
        // Rule (4), once per recovery: "HighACK is greater than RescueRxt". Both are kept
        // here as exclusive ends (HighACK + 1 = SND.UNA, RescueRxt + 1 = `rescue_rxt`), so the
        // test is strict: an ACK of exactly the first retransmission allows no rescue yet.
        if recovery.rescue_rxt.lt(self.snd_una) {
            if let Some(last) = self.holes(snd_max).last() {
                let start = last.end_off.saturating_sub(self.smss).max(last.start_off);
                let seg = SeqRange::new(self.snd_una + start, self.snd_una + last.end_off);
                if let Some(r) = self.recovery.as_mut() {
                    r.rescue_rxt = r.point;
                }
                return Some(NextSeg::Rescue(seg));
            }
        }
        None
    }

    fn advance_high_rxt(&mut self, end: SeqNum) {
        let una = self.snd_una;
        if let Some(r) = self.recovery.as_mut() {
            if end.distance_from(una) > r.high_rxt.distance_from(una) {
                r.high_rxt = end;
            }
        }
    }

    /// Processes one ACK: the cumulative acknowledgment, then its SACK blocks (RFC 6675 §5
    /// "Update ()"), the duplicate-ACK count, and the start or end of loss recovery.
    ///
    /// Robust to any input: an acknowledgment number outside `(snd_una, snd_max]` moves nothing;
    /// SACK blocks that are empty, reversed, above `snd_max` or wider than half the sequence
    /// space are ignored; blocks or parts of blocks at or below the cumulative ACK (D-SACK) are
    /// ignored.
    pub fn on_ack(&mut self, ack: Ack<'_>) -> AckOutcome {
        let mut out = AckOutcome::default();

        // The cumulative part. "If the incoming ACK is a cumulative acknowledgment, the TCP MUST
        // reset DupAcks to zero." (RFC 6675 §5)
        let advance = ack.ack.distance_from(self.snd_una);
        if advance > 0 && advance <= self.limit(ack.snd_max) {
            out.newly_acked = advance;
            self.advance_una(ack.ack);
            self.dup_acks = 0;
            self.rto_unanswered = false;
        }

        // D-SACK (RFC 2883 §4): "If the first SACK block ... reports a duplicate ... the first
        // block ... [is] covered by the cumulative acknowledgement ... or ... a subset of the
        // second block".
        if let Some(first) = ack.sack_blocks.first() {
            out.dsack = first.start.lt(first.end)
                && (first.start.lt(ack.ack)
                    || ack.sack_blocks.get(1).is_some_and(|second| {
                        second.start.le(first.start) && first.end.le(second.end)
                    }));
        }

        let before = self.sacked_bytes();
        for block in ack.sack_blocks {
            self.insert(*block, ack.snd_max);
        }
        out.newly_sacked =
            u32::try_from(self.sacked_bytes().saturating_sub(before)).unwrap_or(u32::MAX);
        if !ack.sack_blocks.is_empty() {
            self.sack_seen = true;
        }

        // RFC 6675 §2 for a SACKing peer, RFC 5681 §2 otherwise.
        out.duplicate = out.newly_sacked > 0
            || (!self.sack_seen && ack.rfc5681_duplicate && out.newly_acked == 0);

        if let Some(recovery) = self.recovery {
            // (A) "An incoming cumulative ACK for a sequence number greater than RecoveryPoint
            // signals the end of loss recovery, and the loss recovery phase MUST be terminated."
            if self.snd_una.ge(recovery.point) {
                self.recovery = None;
                out.recovery_ended = true;
            } else if out.newly_acked > 0 && !self.sack_seen {
                self.partial_ack_pending = true;
            }
        }

        if self.recovery.is_none() && out.duplicate {
            // "If the incoming ACK is a duplicate acknowledgment ... and the TCP is not currently
            // in loss recovery, the TCP MUST increase DupAcks by one and take the following steps:
            // (1) If DupAcks >= DupThresh, go to step (4). ... (2) If DupAcks < DupThresh but
            // IsLost (HighACK + 1) returns true ... go to step (4)." (RFC 6675 §5)
            self.dup_acks = self.dup_acks.saturating_add(1);
            // "If no previous loss event has occurred on the connection or the cumulative
            // acknowledgment point is beyond the last value of RecoveryPoint, a loss recovery
            // phase SHOULD be initiated" (RFC 6675 §5, and §5.1 after an RTO).
            let allowed = self
                .last_recovery_point
                .is_none_or(|point| self.snd_una.ge(point));
            if allowed && (self.dup_acks >= DUP_THRESH || self.is_lost(self.snd_una)) {
                out.fast_retransmit = self.enter_recovery(ack.snd_max);
            }
        }
        out
    }

    /// [`on_ack`](Self::on_ack) for the usual ACK: no SACK block, nothing SACKed and no
    /// recovery, and an acknowledgment number that advances SND.UNA within `(snd_una,
    /// snd_max]`. Returns the bytes newly acknowledged, with the scoreboard changed as
    /// `on_ack` changes it; `None`, having changed nothing, for any other ACK (the caller then
    /// uses `on_ack`). For these ACKs `on_ack` advances SND.UNA (with no range to trim and no
    /// HighRxt to move), resets DupAcks (RFC 6675 §5) and the RTO flag, and reports nothing
    /// else: no D-SACK and nothing newly SACKed without blocks; not a duplicate, since it
    /// acknowledges new data (RFC 6675 §2, RFC 5681 §2 (d)); no recovery to end or start.
    #[inline]
    pub fn on_plain_ack(&mut self, ack: SeqNum, snd_max: SeqNum) -> Option<u32> {
        if !self.ranges.is_empty() || self.recovery.is_some() {
            return None;
        }
        let advance = ack.distance_from(self.snd_una);
        if advance == 0 || advance > self.limit(snd_max) {
            return None;
        }
        self.snd_una = ack;
        self.dup_acks = 0;
        self.rto_unanswered = false;
        Some(advance)
    }

    /// Whether `ack` is SND.UNA (acknowledges nothing new) and no recovery is on: then
    /// [`on_ack`](Self::on_ack) of `ack` with no SACK block and not an RFC 5681 duplicate
    /// changes nothing and reports nothing (no advance, no block, not a duplicate — nothing
    /// newly SACKed and no RFC 5681 duplicate — and no recovery to end or start).
    #[inline]
    pub fn acks_nothing_outside_recovery(&self, ack: SeqNum) -> bool {
        self.recovery.is_none() && ack == self.snd_una
    }

    /// RFC 6675 §5 step (4): "(4.1) RecoveryPoint = HighData ... (4.3) Retransmit the first data
    /// segment presumed dropped -- the segment starting with sequence number HighACK + 1. To
    /// prevent repeated retransmission of the same data or a premature rescue retransmission,
    /// set both HighRxt and RescueRxt to the highest sequence number in the retransmitted
    /// segment."
    fn enter_recovery(&mut self, snd_max: SeqNum) -> Option<SeqRange> {
        let seg = self.first_hole(self.snd_una, snd_max)?;
        self.recovery = Some(Recovery {
            point: snd_max,
            high_rxt: seg.end,
            rescue_rxt: seg.end,
        });
        self.last_recovery_point = Some(snd_max);
        self.partial_ack_pending = false;
        Some(seg)
    }

    /// The retransmission timer expired (RFC 6675 §5.1):
    ///
    /// > "If an RTO occurs during loss recovery as specified in this document, RecoveryPoint MUST
    /// > be set to HighData. Further, the new value of RecoveryPoint MUST be preserved and the
    /// > loss recovery algorithm outlined in this document MUST be terminated. In addition, a new
    /// > recovery phase (as described in Section 5) MUST NOT be initiated until HighACK is
    /// > greater than or equal to the new value of RecoveryPoint."
    ///
    /// The SACK information is kept ("A SACK TCP sender SHOULD utilize all SACK information made
    /// available during the loss recovery following an RTO"), except on a second timeout with no
    /// cumulative progress in between: then the receiver may have reneged, and the ranges are
    /// cleared (RFC 2018 §8: "the data sender SHOULD turn off all of the SACKed bits, since the
    /// timeout might indicate that the data receiver has reneged").
    pub fn on_rto(&mut self, snd_max: SeqNum) {
        self.recovery = None;
        self.last_recovery_point = Some(snd_max);
        self.dup_acks = 0;
        self.partial_ack_pending = false;
        if self.rto_unanswered {
            self.ranges.clear();
        }
        self.rto_unanswered = true;
    }

    fn advance_una(&mut self, ack: SeqNum) {
        let advance = ack.distance_from(self.snd_una);
        // Drop what the ACK covers, trim a range it cuts.
        let old = self.snd_una;
        self.ranges.retain(|r| r.end.distance_from(old) > advance);
        if let Some(first) = self.ranges.first_mut() {
            if first.start.distance_from(old) < advance {
                first.start = ack;
            }
        }
        self.snd_una = ack;
        if let Some(r) = self.recovery.as_mut() {
            // Retransmitted data below the new SND.UNA is no longer outstanding.
            if r.high_rxt.distance_from(old) < advance {
                r.high_rxt = ack;
            }
        }
    }

    /// Adds one SACK block, merging it with overlapping or adjacent ranges.
    fn insert(&mut self, block: SeqRange, snd_max: SeqNum) {
        if !block.start.lt(block.end) || !block.end.gt(self.snd_una) {
            return;
        }
        let limit = self.limit(snd_max);
        let mut end = self.off(block.end);
        if end > limit {
            return; // SACKs data never sent: bogus.
        }
        let mut start = if block.start.lt(self.snd_una) {
            0
        } else {
            self.off(block.start)
        };
        if start >= end {
            return;
        }
        let first = self
            .ranges
            .iter()
            .position(|r| self.off(r.end) >= start)
            .unwrap_or(self.ranges.len());
        let mut last = first;
        while let Some(r) = self.ranges.get(last) {
            if self.off(r.start) > end {
                break;
            }
            start = start.min(self.off(r.start));
            end = end.max(self.off(r.end));
            last += 1;
        }
        self.ranges.drain(first..last);
        self.ranges.insert(
            first,
            SeqRange::new(self.snd_una + start, self.snd_una + end),
        );
        // Over the bound: forget the highest range (see the module docs).
        self.ranges.truncate(MAX_SACK_RANGES);
    }
}

fn clamp_mss(smss: usize) -> u32 {
    u32::try_from(smss).unwrap_or(u32::MAX).clamp(1, 1 << 30)
}

#[derive(Debug, Clone, Copy)]
struct Hole {
    start_off: u32,
    end_off: u32,
    lost: bool,
    below_sack: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSS: u32 = 1000;

    fn r(start: u32, end: u32) -> SeqRange {
        SeqRange::new(SeqNum(start), SeqNum(end))
    }

    /// A SACK-only ACK (no cumulative progress).
    fn sack(sb: &mut SackScoreboard, ack: u32, blocks: &[SeqRange], snd_max: u32) -> AckOutcome {
        sb.on_ack(Ack {
            ack: SeqNum(ack),
            sack_blocks: blocks,
            snd_max: SeqNum(snd_max),
            rfc5681_duplicate: false,
        })
    }

    #[test]
    fn merges_overlapping_and_adjacent_blocks() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        sack(&mut sb, 0, &[r(3000, 4000)], 10_000);
        sack(&mut sb, 0, &[r(5000, 6000)], 10_000);
        assert_eq!(sb.ranges(), &[r(3000, 4000), r(5000, 6000)]);
        // Adjacent on the left, overlapping on the right.
        sack(&mut sb, 0, &[r(4000, 5500)], 10_000);
        assert_eq!(sb.ranges(), &[r(3000, 6000)]);
        sack(&mut sb, 0, &[r(1000, 2000), r(8000, 9000)], 10_000);
        sack(&mut sb, 0, &[r(500, 9500)], 10_000);
        assert_eq!(sb.ranges(), &[r(500, 9500)]);
        assert_eq!(sb.sacked_bytes(), 9000);
        assert!(sb.is_sacked(SeqNum(500)) && !sb.is_sacked(SeqNum(9500)));
        assert_eq!(sb.high_sacked(), Some(SeqNum(9500)));
    }

    #[test]
    fn cumulative_ack_clears_and_trims() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        sack(&mut sb, 0, &[r(1000, 2000), r(3000, 5000)], 10_000);
        let out = sack(&mut sb, 4000, &[], 10_000);
        assert_eq!(out.newly_acked, 4000);
        assert_eq!(sb.ranges(), &[r(4000, 5000)]);
        assert_eq!(sb.snd_una(), SeqNum(4000));
        sack(&mut sb, 6000, &[], 10_000);
        assert!(sb.ranges().is_empty());
        assert_eq!(sb.sacked_bytes(), 0);
    }

    #[test]
    fn ignores_bogus_and_dsack_blocks() {
        let mut sb = SackScoreboard::new(SeqNum(5000), MSS as usize);
        // Below the cumulative ACK: a D-SACK.
        let out = sack(&mut sb, 5000, &[r(4000, 5000)], 10_000);
        assert!(out.dsack);
        assert!(!out.duplicate);
        assert!(sb.ranges().is_empty());
        // Above snd_max, empty, reversed.
        sack(
            &mut sb,
            5000,
            &[r(9000, 11_000), r(6000, 6000), r(7000, 6000)],
            10_000,
        );
        assert!(sb.ranges().is_empty());
        // Straddling the cumulative ACK: the part above is kept.
        sack(&mut sb, 5000, &[r(4000, 6000)], 10_000);
        assert_eq!(sb.ranges(), &[r(5000, 6000)]);
        // D-SACK inside the second block.
        let out = sack(&mut sb, 5000, &[r(7200, 7400), r(7000, 8000)], 10_000);
        assert!(out.dsack);
        assert_eq!(sb.ranges(), &[r(5000, 6000), r(7000, 8000)]);
        // An ACK beyond snd_max moves nothing.
        let out = sack(&mut sb, 20_000, &[], 10_000);
        assert_eq!(out.newly_acked, 0);
        assert_eq!(sb.snd_una(), SeqNum(5000));
    }

    #[test]
    fn range_count_is_bounded_dropping_the_highest() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        for i in 0..40u32 {
            sack(&mut sb, 0, &[r(i * 200 + 100, i * 200 + 150)], 100_000);
        }
        assert_eq!(sb.ranges().len(), MAX_SACK_RANGES);
        assert_eq!(sb.ranges()[0], r(100, 150));
        assert_eq!(sb.high_sacked(), Some(SeqNum(31 * 200 + 150)));
        // A new low block still gets in, pushing the highest out.
        sack(&mut sb, 0, &[r(10, 20)], 100_000);
        assert_eq!(sb.ranges()[0], r(10, 20));
        assert_eq!(sb.high_sacked(), Some(SeqNum(30 * 200 + 150)));
    }

    #[test]
    fn is_lost_rules() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        // 2 SMSS SACKed above 0: not "more than (DupThresh − 1)·SMSS".
        sack(&mut sb, 0, &[r(1000, 3000)], 10_000);
        assert!(!sb.is_lost(SeqNum(0)));
        // One byte more.
        sack(&mut sb, 0, &[r(3000, 3001)], 10_000);
        assert!(sb.is_lost(SeqNum(0)));
        assert!(!sb.is_lost(SeqNum(1000)), "SACKed is never lost");
        assert!(!sb.is_lost(SeqNum(3001)), "nothing SACKed above");
        // Three discontiguous small blocks are enough on their own.
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        sack(&mut sb, 0, &[r(100, 110), r(200, 210), r(300, 310)], 10_000);
        assert!(sb.is_lost(SeqNum(0)));
        assert!(sb.is_lost(SeqNum(99)));
        assert!(!sb.is_lost(SeqNum(110)));
    }

    /// Ten segments of 1000 bytes, 0..10_000 outstanding; segments 2 and 5 are lost (the
    /// receiver got 0, 1 — so the ACK is 2000 — and 3, 4, 6, 7, 8, 9).
    #[test]
    fn two_holes_recovered_in_order_with_hand_worked_pipe() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        let snd_max = 10_000;
        let out = sack(&mut sb, 2000, &[], snd_max);
        assert_eq!(out.newly_acked, 2000);
        assert!(!out.duplicate);
        // Segment 3 arrives: one dup ACK, 1 SMSS above the hole: no loss yet.
        let out = sack(&mut sb, 2000, &[r(3000, 4000)], snd_max);
        assert!(out.duplicate && out.fast_retransmit.is_none());
        // pipe: hole [2000,3000) not lost → 1000; hole [4000,10000) not lost → 6000.
        assert_eq!(sb.pipe(SeqNum(snd_max)), 7000);
        // Segment 4: 2 SMSS above, 2 dup ACKs, still not lost.
        let out = sack(&mut sb, 2000, &[r(3000, 5000)], snd_max);
        assert!(out.fast_retransmit.is_none());
        assert_eq!(sb.dup_acks(), 2);
        // Segment 6: 3 SMSS SACKed above 2000 and the third dup ACK: recovery.
        let out = sack(&mut sb, 2000, &[r(6000, 7000), r(3000, 5000)], snd_max);
        assert_eq!(out.fast_retransmit, Some(r(2000, 3000)));
        assert!(sb.in_recovery());
        assert_eq!(sb.recovery_point(), Some(SeqNum(snd_max)));
        assert_eq!(sb.high_rxt(), Some(SeqNum(3000)));
        // pipe: [2000,3000) lost (3000 SACKed above) but retransmitted → 1000 (b);
        // [5000,6000): 1000 SACKed above → not lost → 1000 (a); [7000,10000) → 3000 (a).
        assert_eq!(sb.pipe(SeqNum(snd_max)), 5000);
        // Nothing lost above HighRxt yet; no new data: rule (3) retransmits [5000, 6000).
        // With new data available rule (2) comes first.
        assert_eq!(
            sb.clone().next_seg(SeqNum(snd_max), true),
            Some(NextSeg::NewData)
        );
        // Segments 7 and 8 arrive: [5000,6000) now has 3000 SACKed above → lost.
        sack(&mut sb, 2000, &[r(6000, 9000), r(3000, 5000)], snd_max);
        // pipe: [2000,3000) → 1000 (b); [5000,6000) lost, not retransmitted → 0; [9000,10000) → 1000.
        assert_eq!(sb.pipe(SeqNum(snd_max)), 2000);
        // Rule (1) picks the second hole even though new data could be sent.
        assert_eq!(
            sb.next_seg(SeqNum(snd_max), true),
            Some(NextSeg::Retransmit(r(5000, 6000)))
        );
        assert_eq!(sb.high_rxt(), Some(SeqNum(6000)));
        assert_eq!(sb.pipe(SeqNum(snd_max)), 3000);
        // Nothing left to retransmit below HighSACK; rule (2) if there is new data.
        assert_eq!(sb.next_seg(SeqNum(snd_max), true), Some(NextSeg::NewData));
        // Without new data and before the first retransmission is ACKed: no rescue yet.
        assert_eq!(sb.next_seg(SeqNum(snd_max), false), None);
        // The first retransmission arrives: partial ACK to 5000.
        let out = sack(&mut sb, 5000, &[r(6000, 9000)], snd_max);
        assert_eq!(out.newly_acked, 3000);
        assert!(!out.recovery_ended);
        assert_eq!(sb.pipe(SeqNum(snd_max)), 2000);
        // Now a rescue retransmission of the tail is allowed, once.
        assert_eq!(
            sb.next_seg(SeqNum(snd_max), false),
            Some(NextSeg::Rescue(r(9000, 10_000)))
        );
        assert_eq!(sb.next_seg(SeqNum(snd_max), false), None);
        // The second retransmission arrives: everything up to 9000.
        let out = sack(&mut sb, 9000, &[], snd_max);
        assert!(!out.recovery_ended);
        let out = sack(&mut sb, 10_000, &[], snd_max);
        assert!(out.recovery_ended);
        assert!(!sb.in_recovery());
        assert_eq!(sb.pipe(SeqNum(snd_max)), 0);
        assert_eq!(sb.next_seg(SeqNum(snd_max), true), None);
    }

    #[test]
    fn no_rescue_when_the_ack_just_covers_the_first_retransmission() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        let out = sack(&mut sb, 0, &[r(1000, 4000)], 5000);
        assert_eq!(out.fast_retransmit, Some(r(0, 1000)));
        // HighACK = 999 = RescueRxt: not greater, no rescue (RFC 6675 §4 NextSeg (4)).
        sack(&mut sb, 1000, &[r(1000, 4000)], 5000);
        assert_eq!(sb.next_seg(SeqNum(5000), false), None);
        sack(&mut sb, 4000, &[], 5000);
        assert_eq!(
            sb.next_seg(SeqNum(5000), false),
            Some(NextSeg::Rescue(r(4000, 5000)))
        );
    }

    #[test]
    fn enters_recovery_on_is_lost_before_three_dup_acks() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        // One ACK SACKing three segments at once (ACK loss): IsLost(HighACK + 1) is true.
        let out = sack(&mut sb, 0, &[r(1000, 4000)], 10_000);
        assert_eq!(sb.dup_acks(), 1);
        assert_eq!(out.fast_retransmit, Some(r(0, 1000)));
    }

    #[test]
    fn no_new_recovery_before_the_recovery_point() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        sack(&mut sb, 0, &[r(1000, 4000)], 10_000);
        assert!(sb.in_recovery());
        sb.on_rto(SeqNum(10_000));
        assert!(!sb.in_recovery());
        assert_eq!(sb.recovery_point(), Some(SeqNum(10_000)));
        // SACK information survives a first RTO.
        assert_eq!(sb.ranges(), &[r(1000, 4000)]);
        assert_eq!(sb.first_hole(SeqNum(0), SeqNum(10_000)), Some(r(0, 1000)));
        assert_eq!(
            sb.first_hole(SeqNum(1000), SeqNum(10_000)),
            Some(r(4000, 5000))
        );
        // More SACKs below the recovery point do not start a new recovery.
        let out = sack(&mut sb, 500, &[r(5000, 9000)], 12_000);
        assert!(out.duplicate && out.fast_retransmit.is_none());
        // Past it they do.
        sack(&mut sb, 10_000, &[], 12_000);
        let out = sack(&mut sb, 10_000, &[r(11_000, 12_000)], 14_000);
        assert!(out.fast_retransmit.is_none());
        let out = sack(&mut sb, 10_000, &[r(11_000, 14_000)], 14_000);
        assert_eq!(out.fast_retransmit, Some(r(10_000, 11_000)));
    }

    #[test]
    fn second_rto_without_progress_clears_sacks() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        sack(&mut sb, 0, &[r(1000, 2000)], 10_000);
        sb.on_rto(SeqNum(10_000));
        assert_eq!(sb.sacked_bytes(), 1000);
        sb.on_rto(SeqNum(10_000));
        assert_eq!(sb.sacked_bytes(), 0);
    }

    #[test]
    fn peer_without_sack_uses_dup_acks_and_partial_acks() {
        let mut sb = SackScoreboard::new(SeqNum(0), MSS as usize);
        let dup = |sb: &mut SackScoreboard, ack: u32| {
            sb.on_ack(Ack {
                ack: SeqNum(ack),
                sack_blocks: &[],
                snd_max: SeqNum(10_000),
                rfc5681_duplicate: true,
            })
        };
        assert!(dup(&mut sb, 0).fast_retransmit.is_none());
        assert!(dup(&mut sb, 0).fast_retransmit.is_none());
        assert_eq!(dup(&mut sb, 0).fast_retransmit, Some(r(0, 1000)));
        // Partial ACK: retransmit the next unacknowledged segment (RFC 6582).
        let out = sack(&mut sb, 3000, &[], 10_000);
        assert!(!out.recovery_ended);
        assert_eq!(
            sb.next_seg(SeqNum(10_000), false),
            Some(NextSeg::Retransmit(r(3000, 4000)))
        );
        let out = sack(&mut sb, 10_000, &[], 10_000);
        assert!(out.recovery_ended);
    }

    #[test]
    fn works_across_the_wrap_point() {
        let base = u32::MAX - 2500;
        let s = |off: u32| base.wrapping_add(off);
        let mut sb = SackScoreboard::new(SeqNum(base), MSS as usize);
        let snd_max = s(6000);
        sack(&mut sb, base, &[r(s(1000), s(2000))], snd_max);
        let out = sack(&mut sb, base, &[r(s(2000), s(3000))], snd_max);
        assert!(out.duplicate && out.fast_retransmit.is_none());
        let out = sack(&mut sb, base, &[r(s(4000), s(5000))], snd_max);
        assert_eq!(out.fast_retransmit, Some(r(base, s(1000))));
        assert_eq!(sb.ranges(), &[r(s(1000), s(3000)), r(s(4000), s(5000))]);
        sack(&mut sb, base, &[r(s(3000), s(4000))], snd_max);
        assert_eq!(sb.ranges(), &[r(s(1000), s(5000))]);
        // pipe: [0,1000) retransmitted → 1000; [5000,6000) → 1000.
        assert_eq!(sb.pipe(SeqNum(snd_max)), 2000);
        let out = sack(&mut sb, s(3000), &[], snd_max);
        assert_eq!(out.newly_acked, 3000);
        assert_eq!(sb.ranges(), &[r(s(3000), s(5000))]);
        assert_eq!(sb.sacked_bytes(), 2000);
        let out = sack(&mut sb, snd_max, &[], snd_max);
        assert!(out.recovery_ended);
        assert!(sb.ranges().is_empty());
    }

    /// The calls a sender makes during one loss episode, with the congestion controller and
    /// the RTT estimator (the order documented in the module docs).
    #[test]
    fn sender_walkthrough_with_congestion_control() {
        use crate::tcp::congestion::{CongestionAlgorithm, CongestionControl};
        use crate::tcp::rtt::{RttEstimator, SendTime};
        use cyclone_pmd::Timestamp;
        use std::time::Duration;

        let mss = MSS as usize;
        let mut cc = CongestionAlgorithm::NewReno.build(mss);
        let mut rtt = RttEstimator::default();
        let mut sb = SackScoreboard::new(SeqNum(0), mss);
        let t0 = Timestamp::from_millis(0);
        let sent = SendTime::first_transmission(t0);
        let mut snd_max = SeqNum(10_000); // the initial window, ten segments, is in flight
        let mut now = t0 + Duration::from_millis(50);

        // Segments 0 and 1 are acknowledged; segment 2 was lost.
        let out = sb.on_ack(Ack {
            ack: SeqNum(2000),
            sack_blocks: &[],
            snd_max,
            rfc5681_duplicate: false,
        });
        if let Some(sample) = sent.rtt_sample(now) {
            rtt.on_sample(sample);
        }
        cc.on_ack(now, out.newly_acked as usize, rtt.srtt(), 10_000);
        assert_eq!(cc.cwnd(), 12_000);
        snd_max += 4000u32; // slow start let four more segments go

        // Segments 3, 4, 5 arrive: three duplicate ACKs with SACK.
        let mut fast_retransmit = None;
        for end in [4000, 5000, 6000] {
            let blocks = [r(3000, end)];
            let out = sb.on_ack(Ack {
                ack: SeqNum(2000),
                sack_blocks: &blocks,
                snd_max,
                rfc5681_duplicate: false,
            });
            if let Some(seg) = out.fast_retransmit {
                cc.on_congestion_event(now, snd_max.distance_from(sb.snd_una()) as usize);
                fast_retransmit = Some(seg);
            }
        }
        assert_eq!(fast_retransmit, Some(r(2000, 3000)));
        assert_eq!(cc.cwnd(), 6000); // FlightSize 12 000 halved
                                     // pipe: the retransmission (1000) + [6000, 14000) still in flight (8000) = 9000 > cwnd.
        assert_eq!(sb.pipe(snd_max), 9000);

        // More SACKs drain the pipe; the sender sends while cwnd − pipe >= SMSS.
        let mut new_segments = 0;
        for end in [7000, 8000, 9000, 10_000, 11_000, 12_000, 13_000, 14_000] {
            now = now + Duration::from_millis(1);
            let blocks = [r(3000, end)];
            let out = sb.on_ack(Ack {
                ack: SeqNum(2000),
                sack_blocks: &blocks,
                snd_max,
                rfc5681_duplicate: false,
            });
            assert!(out.fast_retransmit.is_none() && !out.recovery_ended);
            while cc.cwnd().saturating_sub(sb.pipe(snd_max)) >= mss {
                match sb.next_seg(snd_max, true) {
                    Some(NextSeg::NewData) => {
                        snd_max += MSS;
                        new_segments += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        // Once everything above the hole is SACKed, pipe = 1000 (the retransmission) + new data,
        // held at cwnd = 6000: five new segments.
        assert_eq!(new_segments, 5);
        assert_eq!(sb.pipe(snd_max), 6000);

        // The retransmission arrives: the ACK covers the recovery point (14 000).
        let out = sb.on_ack(Ack {
            ack: SeqNum(14_000),
            sack_blocks: &[],
            snd_max,
            rfc5681_duplicate: false,
        });
        assert!(out.recovery_ended);
        cc.on_ack(now, out.newly_acked as usize, rtt.srtt(), 12_000);
        cc.on_recovery_end(now);
        assert!(!cc.in_recovery());
        assert_eq!(cc.cwnd(), 6000);
        assert_eq!(sb.pipe(snd_max), 5000);
    }

    fn check_invariants(sb: &SackScoreboard) -> Result<(), TestCaseError> {
        let una = sb.snd_una();
        prop_assert!(sb.ranges().len() <= MAX_SACK_RANGES);
        let mut prev_end: Option<u32> = None;
        for range in sb.ranges() {
            let s = range.start.distance_from(una);
            let e = range.end.distance_from(una);
            prop_assert!(s < e, "empty or reversed range {range}");
            prop_assert!(e <= MAX_WINDOW);
            if let Some(p) = prev_end {
                prop_assert!(
                    p < s,
                    "ranges not sorted/disjoint/merged: {:?}",
                    sb.ranges()
                );
            }
            prev_end = Some(e);
        }
        Ok(())
    }

    proptest! {
        /// Random ACKs and SACK blocks (valid, overlapping, bogus, D-SACK, far away), RTOs and
        /// NextSeg calls never panic and keep the ranges sorted, disjoint, merged and above the
        /// cumulative ACK.
        #[test]
        fn random_acks_never_panic_and_keep_invariants(
            base: u32,
            ops in proptest::collection::vec(
                (0u32..4, 0u32..40_000, proptest::collection::vec((0u32..45_000, 0u32..5000), 0..5),
                 any::<bool>(), any::<u32>()),
                0..100,
            ),
        ) {
            let mut sb = SackScoreboard::new(SeqNum(base), 1000);
            let mut snd_max = SeqNum(base);
            let mut una = SeqNum(base);
            for (kind, x, blocks, flag, wild) in ops {
                match kind {
                    0 => {
                        // Send more.
                        snd_max += x % 5000;
                    }
                    1 | 2 => {
                        // An ACK, usually sane, sometimes wild.
                        let ack = if flag { una + (x % (snd_max.distance_from(una) + 1)) } else { SeqNum(wild) };
                        let blocks: Vec<SeqRange> = blocks
                            .iter()
                            .map(|&(s, l)| {
                                if wild % 7 == 0 {
                                    SeqRange::new(SeqNum(s ^ wild), SeqNum(l.wrapping_mul(wild)))
                                } else {
                                    SeqRange::from_len(SeqNum(base) + s, l)
                                }
                            })
                            .collect();
                        // Without blocks, `on_plain_ack` either does what `on_ack` does or
                        // declines having changed nothing.
                        let before = sb.clone();
                        let mut plain = sb.clone();
                        let plain_out = if blocks.is_empty() {
                            plain.on_plain_ack(ack, snd_max)
                        } else {
                            None
                        };
                        let out = sb.on_ack(Ack {
                            ack,
                            sack_blocks: &blocks,
                            snd_max,
                            rfc5681_duplicate: flag,
                        });
                        match plain_out {
                            Some(newly_acked) => {
                                prop_assert_eq!(out, AckOutcome { newly_acked, ..AckOutcome::default() });
                                prop_assert_eq!(format!("{plain:?}"), format!("{sb:?}"));
                            }
                            None => prop_assert_eq!(format!("{plain:?}"), format!("{before:?}")),
                        }
                        una = sb.snd_una();
                        prop_assert!(out.newly_acked <= MAX_WINDOW);
                        if let Some(seg) = out.fast_retransmit {
                            prop_assert!(!seg.is_empty() && seg.len() <= 1000);
                        }
                    }
                    _ => {
                        if flag {
                            sb.on_rto(snd_max);
                        } else if let Some(NextSeg::Retransmit(seg) | NextSeg::Rescue(seg)) =
                            sb.next_seg(snd_max, wild % 2 == 0)
                        {
                            prop_assert!(!seg.is_empty() && seg.len() <= 1000);
                            prop_assert!(seg.start.ge(sb.snd_una()) && seg.end.le(snd_max));
                            prop_assert!(!sb.is_sacked(seg.start));
                        }
                    }
                }
                check_invariants(&sb)?;
                // An ACK of SND.UNA without blocks that is no RFC 5681 duplicate, outside
                // recovery, changes and reports nothing (`acks_nothing_outside_recovery`).
                let una_now = sb.snd_una();
                if sb.acks_nothing_outside_recovery(una_now) {
                    let mut probe = sb.clone();
                    let out = probe.on_ack(Ack {
                        ack: una_now,
                        sack_blocks: &[],
                        snd_max,
                        rfc5681_duplicate: false,
                    });
                    prop_assert_eq!(out, AckOutcome::default());
                    prop_assert_eq!(format!("{probe:?}"), format!("{sb:?}"));
                } else {
                    prop_assert!(sb.in_recovery());
                }
                prop_assert!(sb.pipe(snd_max) <= 2 * snd_max.distance_from(una) as usize);
                let _ = sb.is_lost(SeqNum(wild));
                let _ = sb.first_hole(SeqNum(wild), snd_max);
            }
        }
    }
}
