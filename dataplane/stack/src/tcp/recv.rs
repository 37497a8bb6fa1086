//! The receive buffer: in-order data waiting for the application, plus out-of-order segments
//! waiting for the holes before them (RFC 9293 §3.10.7.4 seventh step: "segments with higher
//! beginning sequence numbers ... should be held for later processing").
//!
//! Memory is bounded by the window: the caller trims every segment to
//! `[RCV.NXT, RCV.NXT + free())`, and the out-of-order ranges are capped in count, so a peer
//! cannot make us hold more than `capacity` bytes in at most `max_ranges` allocations.

use super::ring::ByteRing;
use super::seq::{SeqNum, SeqRange};

/// One run of contiguous out-of-order bytes.
#[derive(Debug)]
struct OooRange {
    start: SeqNum,
    data: Vec<u8>,
    /// When it last grew, for "most recent first" SACK reporting (RFC 2018 §4).
    stamp: u64,
}

impl OooRange {
    fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }
}

/// What an insertion did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Bytes that became readable in order (RCV.NXT advances by this).
    pub advanced: usize,
    /// The segment was kept out of order (there is a hole before it).
    pub out_of_order: bool,
    /// The segment filled (part of) a hole: out-of-order data was pulled in.
    pub filled_hole: bool,
    /// The segment was dropped because the range list is full.
    pub dropped: bool,
}

/// In-order and out-of-order received data.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// In-order data, at most `capacity` bytes.
    data: ByteRing,
    ooo: Vec<OooRange>,
    max_ranges: usize,
    stamp: u64,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize, max_ranges: usize) -> RecvBuffer {
        RecvBuffer {
            data: ByteRing::new(capacity),
            ooo: Vec::new(),
            max_ranges: max_ranges.max(1),
            stamp: 0,
        }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.data.limit()
    }

    /// Bytes readable in order.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// Space from RCV.NXT on that may hold data: the receive window we can offer.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.data.free()
    }

    /// Bytes held in all: readable plus out-of-order (never more than `capacity`).
    pub(crate) fn held(&self) -> usize {
        self.data.len() + self.ooo.iter().map(|r| r.data.len()).sum::<usize>()
    }

    /// Whether out-of-order data is held.
    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Copies readable data into `buf`; returns how much.
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        self.data.read(buf)
    }

    /// Appends in-order data that fits (`payload.len() <= free()`) while nothing is held out
    /// of order: [`RecvBuffer::insert`] at RCV.NXT then advances by `payload.len()` and
    /// reports nothing else, which is all this does.
    #[inline(always)]
    pub(crate) fn push_in_order(&mut self, payload: &[u8]) {
        debug_assert!(self.ooo.is_empty() && payload.len() <= self.free());
        self.data.push(payload);
    }

    /// Stores `payload` (already trimmed to the window) at `seq`, given `rcv_nxt`.
    #[inline]
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, payload: &[u8]) -> Inserted {
        let mut result = Inserted::default();
        if payload.is_empty() {
            return result;
        }
        if seq == rcv_nxt {
            let n = self.data.push(payload);
            result.advanced = n;
            let mut next = rcv_nxt + n;
            // Pull in out-of-order ranges the new data reaches.
            while let Some(first) = self.ooo.first() {
                let gap = first.start - next;
                if gap > 0 {
                    break;
                }
                let overlap = gap.unsigned_abs() as usize;
                let range = self.ooo.remove(0);
                if let Some(rest) = range.data.get(overlap..) {
                    let n = self.data.push(rest);
                    result.advanced += n;
                    next += n;
                }
                result.filled_hole = true;
            }
            return result;
        }
        if seq.lt(rcv_nxt) {
            return result;
        }
        result.out_of_order = true;
        self.stamp += 1;
        let end = seq + payload.len();
        // Ranges overlapping or touching [seq, end): they merge with the new one.
        let first = self.ooo.iter().position(|r| r.end().ge(seq));
        let first = match first {
            Some(i) => i,
            None => self.ooo.len(),
        };
        let mut last = first;
        while let Some(r) = self.ooo.get(last) {
            if r.start.gt(end) {
                break;
            }
            last += 1;
        }
        if first == last {
            if self.ooo.len() >= self.max_ranges {
                result.dropped = true;
                result.out_of_order = false;
                return result;
            }
            self.ooo.insert(
                first,
                OooRange {
                    start: seq,
                    data: payload.to_vec(),
                    stamp: self.stamp,
                },
            );
            return result;
        }
        let merged: Vec<OooRange> = self.ooo.drain(first..last).collect();
        let start = merged.first().map_or(seq, |r| r.start.min(seq));
        let stop = merged.last().map_or(end, |r| r.end().max(end));
        let mut data = vec![0u8; stop.distance_from(start) as usize];
        for r in &merged {
            let off = r.start.distance_from(start) as usize;
            if let Some(dst) = data.get_mut(off..off + r.data.len()) {
                dst.copy_from_slice(&r.data);
            }
        }
        let off = seq.distance_from(start) as usize;
        if let Some(dst) = data.get_mut(off..off + payload.len()) {
            dst.copy_from_slice(payload);
        }
        self.ooo.insert(
            first,
            OooRange {
                start,
                data,
                stamp: self.stamp,
            },
        );
        result
    }

    /// The out-of-order ranges, most recently changed first (RFC 2018 §4: "the first SACK
    /// block ... MUST specify the contiguous block of data containing the segment which
    /// triggered this ACK"), at most `max`.
    pub(crate) fn sack_ranges(&self, max: usize) -> Vec<SeqRange> {
        let mut order: Vec<&OooRange> = self.ooo.iter().collect();
        order.sort_by_key(|r| std::cmp::Reverse(r.stamp));
        order
            .into_iter()
            .take(max)
            .map(|r| SeqRange::new(r.start, r.end()))
            .collect()
    }

    /// Drops everything (reset, or the application closed).
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.ooo.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_holes_and_reports_recent_first() {
        let mut b = RecvBuffer::new(100, 4);
        let base = SeqNum(u32::MAX - 5);
        let r = b.insert(base, base + 10u32, b"klmno");
        assert!(r.out_of_order && r.advanced == 0);
        let r = b.insert(base, base + 20u32, b"uv");
        assert!(r.out_of_order);
        assert_eq!(
            b.sack_ranges(4),
            vec![
                SeqRange::new(base + 20u32, base + 22u32),
                SeqRange::new(base + 10u32, base + 15u32)
            ]
        );
        // Overlapping and bridging insertions merge.
        b.insert(base, base + 13u32, b"nopqrstu");
        assert_eq!(b.sack_ranges(4).len(), 1);
        let r = b.insert(base, base, b"abcdefghijk");
        assert!(r.filled_hole);
        assert_eq!(r.advanced, 22);
        let mut out = [0u8; 64];
        let n = b.read(&mut out);
        assert_eq!(&out[..n], b"abcdefghijklmnopqrstuv");
        assert!(!b.has_out_of_order());
    }

    #[test]
    fn range_count_is_capped() {
        let mut b = RecvBuffer::new(1000, 2);
        let base = SeqNum(0);
        assert!(!b.insert(base, SeqNum(10), b"a").dropped);
        assert!(!b.insert(base, SeqNum(20), b"a").dropped);
        assert!(b.insert(base, SeqNum(30), b"a").dropped);
        // Extending an existing range is still fine.
        assert!(!b.insert(base, SeqNum(11), b"b").dropped);
    }
}
