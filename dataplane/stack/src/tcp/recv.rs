//! The receive buffer: in-order data waiting for the application, plus out-of-order segments
//! waiting for the holes before them (RFC 9293 §3.10.7.4 seventh step: "segments with higher
//! beginning sequence numbers ... should be held for later processing").
//!
//! Memory is bounded by the window: the caller trims every segment to
//! `[RCV.NXT, RCV.NXT + free())`, and the out-of-order ranges are capped in count, so a peer
//! cannot make us hold more than `capacity` bytes in at most `max_ranges` allocations.
//!
//! **Zero-copy receive.** In-order text that arrives in a frame the interface lends
//! ([`LentFrame`]) stays in that frame until the application reads it, and `read` copies
//! straight from the frame: one copy between the device and the application instead of two. A
//! frame is kept when its text is at least [`KEEP_FROM`] bytes (less would pin a whole frame
//! for a few bytes) and its pool is at least half free (so kept frames never starve the device
//! of frames to receive into); other text is copied into the byte ring as before. The in-order
//! data is then the ring's first bytes followed by a sequence of pieces, kept frames and runs
//! of ring bytes, in arrival order; the window counts kept bytes as it counts the ring's.

use std::collections::VecDeque;

use cyclone_pmd::PacketBuf;

use super::ring::ByteRing;
use super::seq::{SeqNum, SeqRange};

/// In-order text of at least this many bytes may be kept in the frame it arrived in.
pub(crate) const KEEP_FROM: usize = 512;

/// A segment's text as TCP receives it: bytes to copy (`&[u8]`), or text in a received frame
/// that TCP may keep ([`LentFrame`]). TCP's input is generic over it, so the copying
/// instance compiles as if frames did not exist.
pub(crate) trait SegmentText {
    /// The text (empty once the frame was kept).
    fn bytes(&self) -> &[u8];
    /// The frame and where its text starts, if there is one and `keep(frame, text length)`
    /// says so.
    fn take_frame(
        &mut self,
        keep: impl FnOnce(&PacketBuf, usize) -> bool,
    ) -> Option<(PacketBuf, usize)>;
}

impl SegmentText for &[u8] {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self
    }

    #[inline(always)]
    fn take_frame(
        &mut self,
        _: impl FnOnce(&PacketBuf, usize) -> bool,
    ) -> Option<(PacketBuf, usize)> {
        None
    }
}

/// A received frame lent to TCP with its text, `buf.data()[at..]`; `buf` is `None` once TCP
/// has kept the frame. The frame stays in the caller's slot until then: every move of a
/// buffer whose fields were just written costs a stalled load (store forwarding).
pub(crate) struct LentFrame<'a> {
    pub(crate) buf: &'a mut Option<PacketBuf>,
    pub(crate) at: usize,
}

impl SegmentText for LentFrame<'_> {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.buf
            .as_ref()
            .and_then(|b| b.data().get(self.at..))
            .unwrap_or(&[])
    }

    #[inline(always)]
    fn take_frame(
        &mut self,
        keep: impl FnOnce(&PacketBuf, usize) -> bool,
    ) -> Option<(PacketBuf, usize)> {
        let at = self.at;
        let frame = self.buf.take_if(|f| keep(f, f.len().saturating_sub(at)))?;
        Some((frame, at))
    }
}

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

/// After the byte ring's first bytes, a part of the in-order data (see the module docs).
#[derive(Debug)]
enum Piece {
    /// A kept frame, trimmed to the text still unread.
    Frame(PacketBuf),
    /// The next this many bytes of the ring.
    Ring(usize),
}

/// In-order and out-of-order received data.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// Every in-order byte copied in; with the kept frames', at most `capacity` bytes.
    data: ByteRing,
    /// What follows the ring's first `data.len() - ring_in_pieces` bytes, in order; empty
    /// while no frame is kept.
    pieces: VecDeque<Piece>,
    /// Ring bytes in `pieces`' `Ring` runs.
    ring_in_pieces: usize,
    /// Bytes in `pieces`' frames.
    frame_bytes: usize,
    ooo: Vec<OooRange>,
    max_ranges: usize,
    stamp: u64,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize, max_ranges: usize) -> RecvBuffer {
        RecvBuffer {
            data: ByteRing::new(capacity),
            pieces: VecDeque::new(),
            ring_in_pieces: 0,
            frame_bytes: 0,
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
        self.data.len() + self.frame_bytes
    }

    /// Space from RCV.NXT on that may hold data: the receive window we can offer.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.data.free().saturating_sub(self.frame_bytes)
    }

    /// Bytes held in all: readable plus out-of-order (never more than `capacity`).
    pub(crate) fn held(&self) -> usize {
        self.len() + self.ooo.iter().map(|r| r.data.len()).sum::<usize>()
    }

    /// Whether out-of-order data is held.
    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Copies readable data into `buf`; returns how much. Kept frames that are read to the
    /// end go back to their pool.
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        if self.pieces.is_empty() {
            self.data.read(buf)
        } else {
            self.read_pieces(buf)
        }
    }

    /// [`RecvBuffer::read`] with frames kept.
    #[inline(never)]
    fn read_pieces(&mut self, buf: &mut [u8]) -> usize {
        // The ring's bytes before the pieces come first.
        let lead = self
            .data
            .len()
            .saturating_sub(self.ring_in_pieces)
            .min(buf.len());
        let mut n = self.data.read(&mut buf[..lead]);
        while n < buf.len() {
            let rest = &mut buf[n..];
            match self.pieces.front_mut() {
                None => break,
                Some(Piece::Frame(frame)) => {
                    let text = frame.data();
                    let k = text.len().min(rest.len());
                    rest[..k].copy_from_slice(&text[..k]);
                    n += k;
                    self.frame_bytes -= k;
                    if k == text.len() {
                        self.pieces.pop_front();
                    } else if frame.trim_front(k).is_err() {
                        // Cannot happen: `k` is less than the frame's length.
                        break;
                    }
                }
                Some(Piece::Ring(run)) => {
                    let k = (*run).min(rest.len());
                    let got = self.data.read(&mut rest[..k]);
                    n += got;
                    *run -= got;
                    self.ring_in_pieces -= got;
                    if *run == 0 {
                        self.pieces.pop_front();
                    } else if got < k {
                        // Cannot happen: the ring holds every run's bytes.
                        break;
                    }
                }
            }
        }
        n
    }

    /// Appends in-order data that fits (`payload.len() <= free()`) while nothing is held out
    /// of order: [`RecvBuffer::insert`] at RCV.NXT then advances by `payload.len()` and
    /// reports nothing else, which is all this does. A lent frame is kept if the module's
    /// rules allow (its text then stays where it is), else its text is copied.
    #[inline(always)]
    pub(crate) fn push_in_order(&mut self, payload: &mut impl SegmentText) {
        debug_assert!(self.ooo.is_empty() && payload.bytes().len() <= self.free());
        let keep = |frame: &PacketBuf, len: usize| len >= KEEP_FROM && frame.pool_half_free();
        let Some((frame, at)) = payload.take_frame(keep) else {
            self.push_copy(payload.bytes());
            return;
        };
        // Trimmed where it is kept (see `LentFrame`).
        self.pieces.push_back(Piece::Frame(frame));
        if let Some(Piece::Frame(frame)) = self.pieces.back_mut() {
            // `keep` saw text after `at`, so the trim cannot fail.
            if frame.trim_front(at).is_ok() {
                self.frame_bytes += frame.len();
            }
        }
    }

    /// Appends in-order bytes to the ring (as a run after the kept frames, if any).
    #[inline(always)]
    fn push_copy(&mut self, bytes: &[u8]) -> usize {
        let n = self.data.push(bytes);
        if !self.pieces.is_empty() && n > 0 {
            self.ring_in_pieces += n;
            match self.pieces.back_mut() {
                Some(Piece::Ring(run)) => *run += n,
                _ => self.pieces.push_back(Piece::Ring(n)),
            }
        }
        n
    }

    /// Stores `payload` (already trimmed to the window) at `seq`, given `rcv_nxt`.
    #[inline]
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, payload: &[u8]) -> Inserted {
        let mut result = Inserted::default();
        if payload.is_empty() {
            return result;
        }
        if seq == rcv_nxt {
            let n = self.push_copy(payload);
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
                    let n = self.push_copy(rest);
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
        self.pieces.clear();
        self.ring_in_pieces = 0;
        self.frame_bytes = 0;
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

    fn pool_of_512() -> cyclone_pmd::Pool {
        cyclone_pmd::Pool::new(cyclone_pmd::PoolConfig {
            frames: 512,
            ..cyclone_pmd::PoolConfig::default()
        })
        .unwrap()
    }

    /// Kept frames, copied text, holes filled past kept frames and reads of any size, against
    /// a plain byte stream: the same bytes in the same order, the same window, and no frame
    /// left behind.
    #[test]
    fn kept_frames_and_copied_text_read_back_in_order() {
        let pool = pool_of_512();
        let mut rng = fastrand::Rng::with_seed(0x2e70);
        for round in 0..200 {
            let capacity = [4096, 20_000, 65_536][round % 3];
            let mut b = RecvBuffer::new(capacity, 4);
            let mut rcv_nxt = SeqNum(rng.u32(..));
            let (mut sent, mut read) = (Vec::new(), Vec::new());
            let mut byte = 0u8;
            let mut text = |n: usize| -> Vec<u8> {
                (0..n)
                    .map(|_| {
                        byte = byte.wrapping_add(1);
                        byte
                    })
                    .collect()
            };
            for _ in 0..60 {
                let free = b.free();
                match rng.u8(..4) {
                    // A lent frame: kept when its text is long enough, else copied.
                    0 if free > 0 => {
                        let t = text(rng.usize(1..=free.min(1448)));
                        let at = rng.usize(0..64);
                        let mut frame = pool.alloc().unwrap();
                        frame.extend_from_slice(&vec![0xee; at]).unwrap();
                        frame.extend_from_slice(&t).unwrap();
                        let mut slot = Some(frame);
                        b.push_in_order(&mut LentFrame { buf: &mut slot, at });
                        assert_eq!(slot.is_none(), t.len() >= KEEP_FROM, "kept iff long");
                        rcv_nxt += t.len();
                        sent.extend_from_slice(&t);
                    }
                    // Copied text.
                    1 if free > 0 => {
                        let t = text(rng.usize(1..=free.min(600)));
                        b.push_in_order(&mut t.as_slice());
                        rcv_nxt += t.len();
                        sent.extend_from_slice(&t);
                    }
                    // A hole: text beyond it first, then the text that fills it.
                    2 if free > 2 => {
                        let t = text(rng.usize(2..=free.min(900)));
                        let cut = rng.usize(1..t.len());
                        let r = b.insert(rcv_nxt, rcv_nxt + cut, &t[cut..]);
                        assert!(r.out_of_order);
                        let r = b.insert(rcv_nxt, rcv_nxt, &t[..cut]);
                        assert!(r.filled_hole && r.advanced == t.len());
                        rcv_nxt += t.len();
                        sent.extend_from_slice(&t);
                    }
                    _ => {
                        let mut out = vec![0u8; rng.usize(0..3000)];
                        let n = b.read(&mut out);
                        read.extend_from_slice(&out[..n]);
                    }
                }
                assert_eq!(b.len(), sent.len() - read.len());
                assert_eq!(b.free(), capacity - b.len());
                assert!(!b.has_out_of_order());
            }
            let mut out = vec![0u8; capacity];
            let n = b.read(&mut out);
            read.extend_from_slice(&out[..n]);
            assert_eq!(read, sent, "round {round}");
            assert_eq!(b.len(), 0);
            assert!(b.pieces.is_empty() && b.ring_in_pieces == 0 && b.frame_bytes == 0);
        }
        pool.flush_thread_cache();
        assert_eq!(
            pool.available(),
            512,
            "every kept frame went back to the pool"
        );
    }

    /// A frame whose pool is less than half free is not kept: its text is copied.
    #[test]
    fn frames_of_a_busy_pool_are_copied() {
        let pool = pool_of_512();
        let mut taken: Vec<_> = (0..300).map(|_| pool.alloc().unwrap()).collect();
        pool.flush_thread_cache();
        let mut b = RecvBuffer::new(65_536, 4);
        let mut frame = taken.pop().unwrap();
        frame.extend_from_slice(&[7u8; 1000]).unwrap();
        let mut slot = Some(frame);
        b.push_in_order(&mut LentFrame {
            buf: &mut slot,
            at: 0,
        });
        assert!(slot.is_some(), "not kept: 213 of 512 frames free");
        drop(taken);
        pool.flush_thread_cache();
        let mut out = [0u8; 1000];
        assert_eq!(b.read(&mut out), 1000);
        assert_eq!(out, [7u8; 1000]);
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
