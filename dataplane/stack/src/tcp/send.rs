//! The send buffer: a bounded byte ring holding data from SND.UNA on — unacknowledged data
//! kept for retransmission, then data not sent yet (RFC 9293 §3.8.1: "the data must be kept
//! until it is acknowledged").

use std::collections::VecDeque;

use super::seq::SeqNum;

/// Bytes queued by the application, starting at sequence number [`SendBuffer::start`].
#[derive(Debug)]
pub(crate) struct SendBuffer {
    data: VecDeque<u8>,
    capacity: usize,
    /// Sequence number of `data[0]`.
    start: SeqNum,
}

impl SendBuffer {
    /// An empty buffer of `capacity` bytes whose first byte will have sequence number `start`.
    /// Memory grows with use, up to `capacity`.
    pub(crate) fn new(capacity: usize, start: SeqNum) -> SendBuffer {
        SendBuffer {
            data: VecDeque::new(),
            capacity,
            start,
        }
    }

    /// Sequence number just after the last byte held.
    pub(crate) fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// Free space.
    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Copies as much of `bytes` as fits; returns how much.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        // A slice extends the ring with (at most two) `memcpy`s; `iter().take(n)` would not.
        self.data.extend(&bytes[..n]);
        n
    }

    /// Drops the bytes before `ack` (acknowledged); returns how many were dropped.
    pub(crate) fn ack_to(&mut self, ack: SeqNum) -> usize {
        if ack.le(self.start) {
            return 0;
        }
        let n = (ack.distance_from(self.start) as usize).min(self.data.len());
        if n == self.data.len() {
            // Everything acknowledged (the usual case between requests): the same empty
            // buffer, without a drain.
            self.data.clear();
        } else {
            self.data.drain(..n);
        }
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
    pub(crate) fn slice(&self, seq: SeqNum, len: usize) -> [&[u8]; 2] {
        if seq.lt(self.start) {
            return [&[], &[]];
        }
        let offset = seq.distance_from(self.start) as usize;
        if offset >= self.data.len() {
            return [&[], &[]];
        }
        let len = len.min(self.data.len() - offset);
        let (a, b) = self.data.as_slices();
        if offset < a.len() {
            let first_end = a.len().min(offset + len);
            let first = a.get(offset..first_end).unwrap_or(&[]);
            let second = b.get(..len - first.len()).unwrap_or(&[]);
            [first, second]
        } else {
            let off = offset - a.len();
            [b.get(off..off + len).unwrap_or(&[]), &[]]
        }
    }

    /// Bytes held from `seq` on.
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
}
