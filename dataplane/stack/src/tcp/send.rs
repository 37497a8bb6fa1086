//! The send buffer: a bounded byte ring holding data from SND.UNA on — unacknowledged data
//! kept for retransmission, then data not sent yet (RFC 9293 §3.8.1: "the data must be kept
//! until it is acknowledged").

use super::ring::ByteRing;
use super::seq::SeqNum;

/// Bytes queued by the application, starting at sequence number [`SendBuffer::start`].
#[derive(Debug)]
pub(crate) struct SendBuffer {
    /// At most `capacity` bytes.
    data: ByteRing,
    /// Sequence number of the first byte of `data`.
    start: SeqNum,
}

impl SendBuffer {
    /// An empty buffer of `capacity` bytes whose first byte will have sequence number `start`.
    /// Memory grows with use, up to `capacity`.
    pub(crate) fn new(capacity: usize, start: SeqNum) -> SendBuffer {
        SendBuffer {
            data: ByteRing::new(capacity),
            start,
        }
    }

    /// Sequence number just after the last byte held.
    #[inline]
    pub(crate) fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }

    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// Free space.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.data.free()
    }

    /// Copies as much of `bytes` as fits; returns how much.
    #[inline]
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        self.data.push(bytes)
    }

    /// Drops the bytes before `ack` (acknowledged); returns how many were dropped.
    #[inline(always)]
    pub(crate) fn ack_to(&mut self, ack: SeqNum) -> usize {
        if ack.le(self.start) {
            return 0;
        }
        let n = (ack.distance_from(self.start) as usize).min(self.data.len());
        self.data.consume(n);
        self.start += n;
        n
    }

    /// Moves the start (used once the SYN is acknowledged, before any data is held).
    pub(crate) fn set_start(&mut self, start: SeqNum) {
        if self.data.is_empty() {
            self.start = start;
        }
    }

    /// The bytes `[seq, seq + len)` (clamped to what is held) as the ring's two halves.
    #[inline]
    pub(crate) fn slice(&self, seq: SeqNum, len: usize) -> [&[u8]; 2] {
        if seq.lt(self.start) {
            return [&[], &[]];
        }
        self.data.range(seq.distance_from(self.start) as usize, len)
    }

    /// Bytes held from `seq` on.
    #[inline]
    pub(crate) fn available_from(&self, seq: SeqNum) -> usize {
        if seq.lt(self.start) {
            return self.data.len();
        }
        self.data
            .len()
            .saturating_sub(seq.distance_from(self.start) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ack_slice_wrap() {
        let mut b = SendBuffer::new(8, SeqNum(u32::MAX - 2));
        assert_eq!(b.write(b"abcdefghij"), 8);
        assert_eq!(b.free(), 0);
        assert_eq!(b.ack_to(SeqNum(u32::MAX)), 2);
        assert_eq!(b.write(b"XY"), 2);
        let [x, y] = b.slice(SeqNum(u32::MAX), 8);
        let all: Vec<u8> = x.iter().chain(y.iter()).copied().collect();
        assert_eq!(all, b"cdefghXY");
        let [x, y] = b.slice(SeqNum(3), 100);
        let all: Vec<u8> = x.iter().chain(y.iter()).copied().collect();
        assert_eq!(all, b"ghXY");
        assert_eq!(b.available_from(SeqNum(3)), 4);
        assert_eq!(b.ack_to(SeqNum(1000)), 8);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn partial_acks_across_the_wrap() {
        let mut b = SendBuffer::new(6, SeqNum(100));
        assert_eq!(b.write(b"abcdef"), 6);
        assert_eq!(b.ack_to(SeqNum(99)), 0); // old ACK
        assert_eq!(b.ack_to(SeqNum(104)), 4);
        assert_eq!(b.write(b"ghij"), 4); // wraps
        assert_eq!(b.slice(SeqNum(104), 6), [&b"ef"[..], &b"ghij"[..]]);
        assert_eq!(b.slice(SeqNum(103), 6), [&[] as &[u8], &[]]); // before SND.UNA
        assert_eq!(b.ack_to(SeqNum(107)), 3);
        assert_eq!(b.slice(SeqNum(107), 6), [&b"hij"[..], &[]]);
        assert_eq!(b.end(), SeqNum(110));
        assert_eq!(b.free(), 3);
        assert_eq!(b.ack_to(SeqNum(110)), 3);
        assert_eq!(b.slice(SeqNum(110), 6), [&[] as &[u8], &[]]);
        b.set_start(SeqNum(5));
        assert_eq!(b.end(), SeqNum(5));
    }
}
