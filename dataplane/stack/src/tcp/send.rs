//! The send buffer: the bytes from SND.UNA on — unacknowledged data kept for retransmission,
//! then data not sent yet (RFC 9293 §3.8.1: "the data must be kept until it is
//! acknowledged").
//!
//! The bytes live in chunks of one segment each: pool frames when the interface lent TCP its
//! pool, the pool can spare them and the application wrote at least a segment's worth; heap
//! memory otherwise (a small write — a typical response — is cheaper to copy once more at
//! transmission than to give a frame of its own; a lone heap chunk stays, emptied, for the
//! next response). A frame chunk is written once, by the application's `send`, behind the
//! headroom the headers will take; a segment that starts
//! at a chunk's first byte goes out as that very frame (the interface writes the headers in
//! front of the data and hands the device another buffer of the frame, [`PacketBuf::share`]),
//! so the data is never copied again, retransmissions included. Any other segment (a
//! retransmission cut differently, a window probe, a heap chunk) is copied into a fresh frame,
//! from [`Payload`].

use std::collections::VecDeque;

use cyclone_pmd::{PacketBuf, Pool};

use super::seq::SeqNum;

/// Headroom a frame chunk needs so that the largest headers fit in front of its data without
/// a copy: Ethernet (14), IPv4 without options (20), TCP with the most options (60).
const FRAME_HEADROOM: usize = 14 + 20 + 60;

/// One run of the buffer's bytes.
#[derive(Debug)]
enum Chunk {
    /// In a pool frame, the data window being the bytes.
    Frame(PacketBuf),
    /// On the heap (no pool, or the pool is short of frames).
    Heap(Vec<u8>),
}

impl Chunk {
    /// A new, empty chunk for up to `size` bytes: a frame of `pool` if there is one that can
    /// hold a whole segment with its headers in front and at least half the pool is free
    /// (the rule TCP's receive side keeps too, so that kept frames never starve the device of
    /// frames to receive into); heap memory otherwise.
    #[inline]
    fn new(pool: Option<&Pool>, size: usize) -> Chunk {
        if let Some(pool) = pool.filter(|p| p.available() * 2 >= p.capacity()) {
            if let Some(buf) = pool.alloc() {
                if buf.tailroom() >= size && buf.headroom() >= FRAME_HEADROOM {
                    return Chunk::Frame(buf);
                }
            }
        }
        Chunk::Heap(Vec::with_capacity(size))
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Frame(buf) => buf.data(),
            Chunk::Heap(v) => v,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        match self {
            Chunk::Frame(buf) => buf.len(),
            Chunk::Heap(v) => v.len(),
        }
    }

    /// Appends as much of `bytes` as fits below `size` bytes in all; returns how much. A frame
    /// that another buffer holds (a transmission still in the device or at the receiver) takes
    /// nothing: its bytes are read-only.
    #[inline]
    fn push(&mut self, bytes: &[u8], size: usize) -> usize {
        match self {
            Chunk::Frame(buf) => {
                if buf.is_shared() {
                    return 0;
                }
                let n = bytes
                    .len()
                    .min(size.saturating_sub(buf.len()))
                    .min(buf.tailroom());
                match buf.append(n) {
                    Ok(dst) => {
                        dst.copy_from_slice(&bytes[..n]);
                        n
                    }
                    Err(_) => 0,
                }
            }
            Chunk::Heap(v) => {
                let n = bytes.len().min(size.saturating_sub(v.len()));
                v.extend_from_slice(&bytes[..n]);
                n
            }
        }
    }

    /// Drops the first `n < len` bytes.
    fn trim_front(&mut self, n: usize) {
        match self {
            Chunk::Frame(buf) => {
                // Cannot fail: `n < len`.
                let _ = buf.trim_front(n);
            }
            Chunk::Heap(v) => {
                v.drain(..n);
            }
        }
    }
}

/// Bytes queued by the application, starting at sequence number [`SendBuffer::start`].
#[derive(Debug)]
pub(crate) struct SendBuffer {
    /// The bytes, in order; every chunk holds at least one, but for a lone empty heap chunk
    /// left by [`SendBuffer::ack_to`] for the next write.
    chunks: VecDeque<Chunk>,
    /// Sequence number of the first byte.
    start: SeqNum,
    /// Bytes held: the sum of the chunks' lengths, at most `limit`.
    len: usize,
    limit: usize,
    /// Where the last lookup ended, as (chunk index, offset of that chunk's first byte from
    /// `start`): transmission walks forward through the buffer, so the next lookup starts
    /// there instead of at the front.
    cursor: (usize, usize),
}

impl SendBuffer {
    /// An empty buffer of `capacity` bytes whose first byte will have sequence number `start`.
    /// Memory is taken as data arrives, up to `capacity`.
    pub(crate) fn new(capacity: usize, start: SeqNum) -> SendBuffer {
        SendBuffer {
            chunks: VecDeque::new(),
            start,
            len: 0,
            limit: capacity,
            cursor: (0, 0),
        }
    }

    /// Sequence number just after the last byte held.
    #[inline]
    pub(crate) fn end(&self) -> SeqNum {
        self.start + self.len
    }

    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Free space.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.limit - self.len
    }

    /// Copies as much of `bytes` as fits; returns how much. The bytes fill the last chunk up
    /// to `segment` bytes (the connection's data per segment), then new chunks: frames of
    /// `pool` where it can spare them if the write is at least a segment's worth, the heap
    /// otherwise ([`Chunk::new`]).
    #[inline]
    pub(crate) fn write(&mut self, bytes: &[u8], pool: Option<&Pool>, segment: usize) -> usize {
        let n = bytes.len().min(self.free());
        let segment = segment.max(1);
        if let Some(Chunk::Heap(v)) = self.chunks.back_mut() {
            if v.len() + n <= segment && n < segment {
                // A small write that fits the last heap chunk (a response): appended, no new
                // chunk.
                v.extend_from_slice(&bytes[..n]);
                self.len += n;
                return n;
            }
        }
        // Whole segments' worth go to frames, the tail of such a write too (the next write
        // fills its frame up); a smaller write goes to the heap.
        let frames = if n >= segment { pool } else { None };
        if frames.is_some() && self.len == 0 {
            // A lone empty heap chunk would take the first segment: frames take it instead.
            self.chunks.pop_back();
        }
        let mut rest = &bytes[..n];
        while !rest.is_empty() {
            let pushed = match self.chunks.back_mut() {
                Some(last) => last.push(rest, segment),
                None => 0,
            };
            let pushed = if pushed > 0 {
                pushed
            } else {
                let mut chunk = Chunk::new(frames, segment);
                let pushed = chunk.push(rest, segment);
                if pushed == 0 {
                    // Cannot happen (a new chunk has room for a segment): keep every chunk
                    // non-empty rather than loop.
                    break;
                }
                self.chunks.push_back(chunk);
                pushed
            };
            rest = &rest[pushed..];
            self.len += pushed;
        }
        n - rest.len()
    }

    /// Drops the bytes before `ack` (acknowledged); returns how many were dropped.
    #[inline(always)]
    pub(crate) fn ack_to(&mut self, ack: SeqNum) -> usize {
        if ack.le(self.start) {
            return 0;
        }
        let n = (ack.distance_from(self.start) as usize).min(self.len);
        if n == self.len && self.chunks.len() == 1 {
            if let Some(Chunk::Heap(v)) = self.chunks.front_mut() {
                // All acknowledged, on the heap (a small response): the chunk stays, empty,
                // with its storage, for the next write (no allocation per response).
                v.clear();
                self.start += n;
                self.len = 0;
                self.cursor = (0, 0);
                return n;
            }
        }
        let mut left = n;
        let mut popped = 0;
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let len = front.len();
            if len <= left {
                left -= len;
                popped += 1;
                // A frame goes back to its pool (once no transmission holds it).
                self.chunks.pop_front();
            } else {
                front.trim_front(left);
                left = 0;
            }
        }
        self.start += n;
        self.len -= n;
        let (index, offset) = self.cursor;
        self.cursor = if index >= popped {
            (index - popped, offset.saturating_sub(n))
        } else {
            (0, 0)
        };
        n
    }

    /// Moves the start (used once the SYN is acknowledged, before any data is held).
    pub(crate) fn set_start(&mut self, start: SeqNum) {
        if self.len == 0 {
            self.start = start;
        }
    }

    /// The chunk holding the byte at `offset` from the start (`< len`), and the byte's offset
    /// in it.
    #[inline]
    fn locate(&mut self, offset: usize) -> (usize, usize) {
        let (mut index, mut at) = self.cursor;
        if at > offset || index >= self.chunks.len() {
            (index, at) = (0, 0);
        }
        // Every chunk holds at least one byte and `offset < len`: the walk ends in bounds.
        while let Some(chunk) = self.chunks.get(index) {
            let len = chunk.len();
            if offset < at + len {
                break;
            }
            at += len;
            index += 1;
        }
        self.cursor = (index, at);
        (index, offset - at)
    }

    /// The bytes `[seq, seq + len)`, clamped to what is held.
    #[inline]
    pub(crate) fn range(&mut self, seq: SeqNum, len: usize) -> Payload<'_> {
        match self.find(seq, len) {
            Some((index, skip, len)) => Payload::in_chunks(&self.chunks, index, skip, len),
            None => Payload::EMPTY,
        }
    }

    /// The `[seq, seq + len)` bytes of a segment (clamped to what is held), found once: the
    /// frame whose data starts with them if they are the start of a frame chunk (the segment
    /// can go out as that frame, without a copy), else the bytes to copy.
    #[inline]
    pub(crate) fn segment(&mut self, seq: SeqNum, len: usize) -> SegmentData<'_> {
        let Some((index, skip, len)) = self.find(seq, len) else {
            return SegmentData::Copy(Payload::EMPTY);
        };
        let whole_frame =
            skip == 0 && matches!(self.chunks.get(index), Some(Chunk::Frame(b)) if b.len() >= len);
        if !whole_frame {
            return SegmentData::Copy(Payload::in_chunks(&self.chunks, index, skip, len));
        }
        match self.chunks.get_mut(index) {
            Some(Chunk::Frame(buf)) => SegmentData::Frame(buf, len),
            // Cannot happen (`whole_frame`).
            _ => SegmentData::Copy(Payload::EMPTY),
        }
    }

    /// Where `[seq, seq + len)`, clamped to what is held, starts — (chunk index, offset in the
    /// chunk) — and its clamped length; `None` if it is empty.
    #[inline(always)]
    fn find(&mut self, seq: SeqNum, len: usize) -> Option<(usize, usize, usize)> {
        if seq.lt(self.start) || len == 0 {
            return None;
        }
        let offset = seq.distance_from(self.start) as usize;
        if offset >= self.len {
            return None;
        }
        let (index, skip) = self.locate(offset);
        Some((index, skip, len.min(self.len - offset)))
    }

    /// Bytes held from `seq` on.
    #[inline]
    pub(crate) fn available_from(&self, seq: SeqNum) -> usize {
        if seq.lt(self.start) {
            return self.len;
        }
        self.len
            .saturating_sub(seq.distance_from(self.start) as usize)
    }

    /// How many of the chunks are pool frames (the rest are on the heap).
    #[cfg(test)]
    fn frames(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| matches!(c, Chunk::Frame(_)))
            .count()
    }
}

/// The data of a segment, as [`SendBuffer::segment`] found it.
#[derive(Debug)]
pub(crate) enum SegmentData<'a> {
    /// The first `len` bytes of this frame.
    Frame(&'a mut PacketBuf, usize),
    /// Bytes to copy.
    Copy(Payload<'a>),
}

/// The payload of a segment TCP asks a [`SegmentSink`](super::SegmentSink) to send: bytes of
/// the send buffer, in one or more pieces, to copy into the frame.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    /// The first piece: all of the bytes, usually.
    first: &'a [u8],
    /// Where the rest is: the chunks from this index on (their first bytes).
    rest: Option<(&'a VecDeque<Chunk>, usize)>,
    /// Bytes in all.
    len: usize,
}

impl<'a> Payload<'a> {
    /// No data.
    pub const EMPTY: Payload<'static> = Payload {
        first: &[],
        rest: None,
        len: 0,
    };

    /// The payload `bytes`.
    pub fn from_slice(bytes: &'a [u8]) -> Payload<'a> {
        Payload {
            first: bytes,
            rest: None,
            len: bytes.len(),
        }
    }

    /// `len` bytes of `chunks` from byte `skip` of chunk `index` on (all held).
    #[inline]
    fn in_chunks(chunks: &'a VecDeque<Chunk>, index: usize, skip: usize, len: usize) -> Self {
        let bytes = chunks.get(index).map_or(&[][..], |c| c.bytes());
        let first = bytes.get(skip..).unwrap_or(&[]);
        let first = &first[..first.len().min(len)];
        Payload {
            first,
            rest: (first.len() < len).then_some((chunks, index + 1)),
            len,
        }
    }

    /// Bytes in all.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes as consecutive slices.
    pub fn pieces(&self) -> impl Iterator<Item = &'a [u8]> {
        std::iter::once(self.first)
            .filter(|b| !b.is_empty())
            .chain(self.rest_pieces())
    }

    /// The pieces after the first.
    fn rest_pieces(&self) -> impl Iterator<Item = &'a [u8]> {
        let mut left = self.len - self.first.len();
        self.rest
            .into_iter()
            .flat_map(|(chunks, next)| chunks.range(next..))
            .map_while(move |chunk| {
                let bytes = chunk.bytes();
                let piece = &bytes[..bytes.len().min(left)];
                left -= piece.len();
                (!piece.is_empty()).then_some(piece)
            })
    }

    /// Copies the bytes into `out`, which must be [`Payload::len`] bytes long (a shorter or
    /// longer `out` gets the bytes that fit).
    #[inline]
    pub fn copy_to(&self, out: &mut [u8]) {
        let n = self.first.len().min(out.len());
        out[..n].copy_from_slice(&self.first[..n]);
        if self.rest.is_some() {
            self.copy_rest(&mut out[n..]);
        }
    }

    /// The bytes after the first piece into `out`.
    #[inline(never)]
    fn copy_rest(&self, mut out: &mut [u8]) {
        for piece in self.rest_pieces() {
            let n = piece.len().min(out.len());
            let (dst, rest) = out.split_at_mut(n);
            dst.copy_from_slice(&piece[..n]);
            out = rest;
        }
    }

    /// The bytes, copied.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        self.copy_to(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use cyclone_pmd::PoolConfig;

    use super::*;

    fn bytes(b: &mut SendBuffer, seq: u32, len: usize) -> Vec<u8> {
        let range = b.range(SeqNum(seq), len).to_vec();
        let segment = match b.segment(SeqNum(seq), len) {
            SegmentData::Frame(frame, n) => frame.data()[..n].to_vec(),
            SegmentData::Copy(payload) => payload.to_vec(),
        };
        assert_eq!(range, segment, "range and segment agree");
        range
    }

    /// The frame `segment` finds for `[seq, seq + len)`, if it finds one.
    fn frame_at(b: &mut SendBuffer, seq: SeqNum, len: usize) -> Option<&mut PacketBuf> {
        match b.segment(seq, len) {
            SegmentData::Frame(frame, n) if n == len => Some(frame),
            _ => None,
        }
    }

    #[test]
    fn write_ack_range_across_the_sequence_wrap() {
        let mut b = SendBuffer::new(8, SeqNum(u32::MAX - 2));
        assert_eq!(b.write(b"abcdefghij", None, 3), 8);
        assert_eq!(b.free(), 0);
        assert_eq!(b.ack_to(SeqNum(u32::MAX)), 2);
        assert_eq!(b.write(b"XY", None, 3), 2);
        assert_eq!(bytes(&mut b, u32::MAX, 8), b"cdefghXY");
        assert_eq!(bytes(&mut b, 3, 100), b"ghXY");
        assert_eq!(b.available_from(SeqNum(3)), 4);
        assert_eq!(b.ack_to(SeqNum(1000)), 8);
        assert_eq!(b.len(), 0);
        assert!(b.range(SeqNum(1000), 5).is_empty());
    }

    #[test]
    fn partial_acks_and_ranges_inside_chunks() {
        let mut b = SendBuffer::new(6, SeqNum(100));
        assert_eq!(b.write(b"abcdef", None, 4), 6);
        assert_eq!(b.ack_to(SeqNum(99)), 0); // old ACK
        assert_eq!(b.ack_to(SeqNum(103)), 3); // inside the first chunk
        assert_eq!(b.write(b"ghij", None, 4), 3);
        assert_eq!(bytes(&mut b, 103, 6), b"defghi");
        assert_eq!(bytes(&mut b, 105, 2), b"fg"); // across a chunk boundary
        assert_eq!(bytes(&mut b, 102, 6), b""); // before SND.UNA
        assert_eq!(b.ack_to(SeqNum(107)), 4);
        assert_eq!(bytes(&mut b, 107, 6), b"hi");
        assert_eq!(b.end(), SeqNum(109));
        assert_eq!(b.free(), 4);
        assert_eq!(b.ack_to(SeqNum(110)), 2);
        assert_eq!(bytes(&mut b, 109, 6), b"");
        b.set_start(SeqNum(5));
        assert_eq!(b.end(), SeqNum(5));
    }

    #[test]
    fn ranges_match_a_flat_copy_whatever_the_lookup_order() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut b = SendBuffer::new(5000, SeqNum(1));
        for piece in data.chunks(333) {
            b.write(piece, None, 1000);
        }
        let mut rng = fastrand::Rng::with_seed(9);
        let mut acked = 0usize;
        for _ in 0..500 {
            let at = rng.usize(acked..5000);
            let len = rng.usize(0..2000);
            let want = &data[at..(at + len).min(5000)];
            assert_eq!(bytes(&mut b, 1 + at as u32, len), want);
            if rng.u8(..10) == 0 {
                let to = rng.usize(acked..=at);
                b.ack_to(SeqNum(1 + to as u32));
                acked = to;
            }
        }
    }

    fn pool(frames: u32) -> Pool {
        Pool::new(PoolConfig {
            frames,
            ..PoolConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn large_writes_go_to_frames_and_small_ones_to_reused_heap() {
        // Big enough that a thread cache's refill (from the shared list) leaves half free.
        let pool = pool(1024);
        let mut b = SendBuffer::new(10_000, SeqNum(0));
        let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        // A write under a segment's worth stays on the heap; a larger one fills that chunk,
        // then takes frames, its tail included.
        assert_eq!(b.write(&data[..1000], Some(&pool), 1448), 1000);
        assert_eq!(b.frames(), 0);
        assert_eq!(b.write(&data[1000..4000], Some(&pool), 1448), 3000);
        assert_eq!(b.frames(), 2); // heap 1448, frame 1448, frame 1104
        assert!(frame_at(&mut b, SeqNum(0), 1448).is_none(), "a heap chunk");
        let frame = frame_at(&mut b, SeqNum(1448), 1448).expect("a whole frame");
        assert_eq!(frame.data(), &data[1448..2896]);
        // A prefix of a frame goes out as the frame; a segment from inside one does not.
        assert!(frame_at(&mut b, SeqNum(1448), 100).is_some());
        assert!(frame_at(&mut b, SeqNum(1449), 100).is_none());
        assert!(
            frame_at(&mut b, SeqNum(1448), 1449).is_none(),
            "longer than the frame"
        );
        assert_eq!(bytes(&mut b, 1400, 100), &data[1400..1500]);
        // The frame is in flight (another buffer holds it) when it is acknowledged: it goes
        // back to the pool with the device's buffer.
        let in_flight = frame_at(&mut b, SeqNum(1448), 1448).unwrap().share();
        pool.flush_thread_cache();
        let before = pool.available();
        assert_eq!(b.ack_to(SeqNum(2896)), 2896);
        pool.flush_thread_cache();
        assert_eq!(pool.available(), before);
        assert_eq!(in_flight.data(), &data[1448..2896]);
        drop(in_flight);
        pool.flush_thread_cache();
        assert_eq!(pool.available(), before + 1);
        // Request/response: a small write acknowledged whole leaves its chunk, emptied, for
        // the next, which reuses its storage.
        assert_eq!(b.ack_to(SeqNum(4000)), 1104);
        assert_eq!(b.write(b"more", Some(&pool), 1448), 4);
        assert_eq!(bytes(&mut b, 4000, 10), b"more");
        assert_eq!(b.ack_to(SeqNum(4004)), 4);
        assert!(
            matches!(b.chunks.front(), Some(Chunk::Heap(v)) if v.is_empty() && v.capacity() >= 1448)
                && b.chunks.len() == 1,
            "the emptied chunk and its storage stay"
        );
        assert_eq!(b.write(b"again", Some(&pool), 1448), 5);
        assert_eq!(b.chunks.len(), 1, "appended to the kept chunk");
        assert_eq!(bytes(&mut b, 4004, 9), b"again");
        assert_eq!(b.ack_to(SeqNum(4009)), 5);
        // ... but a large write after it starts with a frame.
        assert_eq!(b.write(&data[..1448], Some(&pool), 1448), 1448);
        assert_eq!(b.frames(), 1);
        assert!(frame_at(&mut b, SeqNum(4009), 1448).is_some());
        // A frame in flight (another buffer holds it) takes no more bytes: the tail of a
        // large write, shared, then the next write goes to a new chunk.
        assert_eq!(b.write(&data[..1500], Some(&pool), 1448), 1500);
        assert_eq!(b.frames(), 3); // 1448, 1448, 52
        let tail = frame_at(&mut b, SeqNum(4009 + 2896), 52).unwrap().share();
        assert_eq!(b.write(&data[..1448], Some(&pool), 1448), 1448);
        assert_eq!(b.frames(), 4);
        assert!(
            frame_at(&mut b, SeqNum(4009 + 2896), 1448).is_none(),
            "the shared frame still ends after its 52 bytes"
        );
        assert!(frame_at(&mut b, SeqNum(4009 + 2896 + 52), 1448).is_some());
        assert_eq!(tail.data(), &data[1448..1500]);
        assert_eq!(
            bytes(&mut b, 4009 + 2896, 100),
            [&data[1448..1500], &data[..48]].concat()
        );
    }

    #[test]
    fn a_pool_short_of_frames_leaves_the_data_on_the_heap() {
        let pool = pool(1024);
        let held: Vec<_> = (0..600).map(|_| pool.alloc().unwrap()).collect();
        pool.flush_thread_cache();
        let mut b = SendBuffer::new(10_000, SeqNum(0));
        assert_eq!(b.write(&[1; 3000], Some(&pool), 1000), 3000);
        assert_eq!(b.frames(), 0, "fewer than half the frames free");
        drop(held);
        pool.flush_thread_cache();
        assert_eq!(b.write(&[2; 1000], Some(&pool), 1000), 1000);
        assert_eq!(b.frames(), 1);
        // A write of less than a segment's worth goes to the heap, frames free or not.
        assert_eq!(b.write(&[3; 999], Some(&pool), 1000), 999);
        assert_eq!(b.frames(), 1);
        assert_eq!(bytes(&mut b, 2999, 2), [1, 2]);
    }
}
