//! A bounded byte ring for the receive buffer: storage, a head and a length, with
//! bytes going in and out by `copy_from_slice` in at most two pieces (the ring's halves).
//!
//! `VecDeque<u8>` did the same job but its `extend`/`drain`/`as_slices` are generic and cost
//! more per call than the copies they wrap for small segments. Storage grows on demand (a
//! doubling, linearised), never past `limit`, so an idle connection still holds little memory;
//! when the ring empties its head returns to 0, so the usual request/response pattern never
//! wraps.

/// At least this many bytes are allocated on the first write (below `limit`).
const MIN_STORAGE: usize = 256;

/// Bytes `[head, head + len)` of `buf`, modulo `buf.len()`.
#[derive(Debug)]
pub(crate) struct ByteRing {
    buf: Box<[u8]>,
    /// Index of the first byte; `< buf.len()` when the storage is not empty, else 0.
    head: usize,
    len: usize,
    /// Most bytes held (and most storage allocated).
    limit: usize,
}

impl ByteRing {
    /// An empty ring that will hold at most `limit` bytes; no storage yet.
    pub(crate) fn new(limit: usize) -> ByteRing {
        ByteRing {
            buf: Box::default(),
            head: 0,
            len: 0,
            limit,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Room left under the limit.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// `head + x` modulo the storage size, for `x <= storage size`.
    #[inline]
    fn wrap(&self, x: usize) -> usize {
        let i = self.head + x;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Appends as much of `bytes` as fits under the limit; returns how much.
    #[inline(always)]
    pub(crate) fn push(&mut self, bytes: &[u8]) -> usize {
        // `len <= limit` always holds.
        let n = bytes.len().min(self.limit - self.len);
        let bytes = &bytes[..n];
        // Fast path: the data does not wrap and there is room after it (`get_mut` fails
        // exactly when `head + len + n` passes the end of the storage).
        let tail = self.head + self.len;
        if let Some(dst) = self.buf.get_mut(tail..tail + n) {
            dst.copy_from_slice(bytes);
            self.len += n;
        } else {
            self.push_wrapping(bytes);
        }
        n
    }

    /// [`ByteRing::push`] of `bytes` (which fit under the limit) when they wrap or need more
    /// storage.
    #[inline(never)]
    fn push_wrapping(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if self.len + n > self.buf.len() {
            self.grow(self.len + n);
        }
        let tail = self.wrap(self.len);
        let first = n.min(self.buf.len() - tail);
        let (a, b) = bytes.split_at(first);
        self.buf[tail..tail + first].copy_from_slice(a);
        self.buf[..b.len()].copy_from_slice(b);
        self.len += n;
    }

    /// Reallocates the storage to hold at least `needed` (`<= limit`) bytes, linearised.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, needed: usize) {
        let size = needed
            .max(self.buf.len() * 2)
            .max(MIN_STORAGE)
            .min(self.limit)
            .max(needed);
        let mut v = Vec::with_capacity(size);
        let [a, b] = self.range(0, self.len);
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        v.resize(size, 0);
        self.buf = v.into_boxed_slice();
        self.head = 0;
    }

    /// Drops the first `n` bytes (clamped to what is held).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 { 0 } else { self.wrap(n) };
    }

    /// Drops everything (the storage stays).
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The bytes `[offset, offset + len)` (clamped to what is held) as at most two slices.
    #[inline]
    pub(crate) fn range(&self, offset: usize, len: usize) -> [&[u8]; 2] {
        if offset >= self.len {
            return [&[], &[]];
        }
        let len = len.min(self.len - offset);
        let start = self.head + offset;
        if let Some(run) = self.buf.get(start..start + len) {
            // Not wrapped (the usual case).
            return [run, &[]];
        }
        let start = self.wrap(offset);
        let first = len.min(self.buf.len() - start);
        [&self.buf[start..start + first], &self.buf[..len - first]]
    }

    /// Copies the first `min(out.len(), len())` bytes into `out` and drops them; returns how
    /// many.
    #[inline]
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        if n == 0 {
            return 0;
        }
        let out = &mut out[..n];
        if let Some(src) = self.buf.get(self.head..self.head + n) {
            // Not wrapped (the usual case).
            out.copy_from_slice(src);
        } else {
            let [a, b] = self.range(0, n);
            let (x, y) = out.split_at_mut(a.len());
            x.copy_from_slice(a);
            y.copy_from_slice(b);
        }
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    fn all(r: &ByteRing, offset: usize, len: usize) -> Vec<u8> {
        let [a, b] = r.range(offset, len);
        [a, b].concat()
    }

    #[test]
    fn empty() {
        let mut r = ByteRing::new(16);
        assert_eq!(r.len(), 0);
        assert_eq!(r.free(), 16);
        assert_eq!(r.range(0, 10), [&[] as &[u8], &[]]);
        assert_eq!(r.read(&mut [0; 4]), 0);
        r.consume(5);
        assert_eq!(r.len(), 0);
        assert_eq!(r.push(b""), 0);
        let mut z = ByteRing::new(0);
        assert_eq!(z.push(b"abc"), 0);
        assert_eq!(z.free(), 0);
    }

    #[test]
    fn full_and_partial_writes() {
        let mut r = ByteRing::new(10);
        assert_eq!(r.push(b"abcdef"), 6);
        assert_eq!(r.push(b"ghijkl"), 4);
        assert_eq!(r.free(), 0);
        assert_eq!(r.push(b"x"), 0);
        assert_eq!(all(&r, 0, 100), b"abcdefghij");
        // Storage never exceeds the limit.
        assert_eq!(r.buf.len(), 10);
    }

    #[test]
    fn wrap_around_and_partial_consume() {
        let mut r = ByteRing::new(8);
        assert_eq!(r.push(b"abcdefgh"), 8);
        r.consume(5); // a partial ack
        assert_eq!(all(&r, 0, 8), b"fgh");
        assert_eq!(r.push(b"12345"), 5); // wraps: "fgh" at 5..8, "12345" at 0..5
        assert_eq!(r.free(), 0);
        let [a, b] = r.range(0, 8);
        assert_eq!((a, b), (&b"fgh"[..], &b"12345"[..]));
        assert_eq!(all(&r, 2, 3), b"h12");
        assert_eq!(all(&r, 4, 100), b"2345");
        assert_eq!(all(&r, 8, 1), b"");
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"fgh1");
        assert_eq!(all(&r, 0, 8), b"2345");
        r.consume(4);
        assert_eq!(r.len(), 0);
        assert_eq!(r.head, 0);
    }

    #[test]
    fn grows_keeping_order_across_a_wrap() {
        let mut r = ByteRing::new(1000);
        let first: Vec<u8> = (0..200).collect();
        r.push(&first);
        r.consume(150);
        let second: Vec<u8> = (0..=255).rev().collect();
        r.push(&second); // wraps in the 256-byte storage, then grows
        assert!(r.buf.len() > 256 && r.buf.len() <= 1000);
        let want: Vec<u8> = first[150..].iter().chain(&second).copied().collect();
        assert_eq!(all(&r, 0, 1000), want);
    }

    /// Random operations against `VecDeque` as the model.
    #[test]
    fn matches_vecdeque() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for limit in [1, 7, 64, 300, 1500] {
            let mut r = ByteRing::new(limit);
            let mut model = VecDeque::new();
            let mut counter = 0u8;
            for _ in 0..4000 {
                match next(4) {
                    0 => {
                        let data: Vec<u8> = (0..next(limit + 20))
                            .map(|_| {
                                counter = counter.wrapping_add(1);
                                counter
                            })
                            .collect();
                        let n = r.push(&data);
                        assert_eq!(n, data.len().min(limit - model.len()));
                        model.extend(&data[..n]);
                    }
                    1 => {
                        let n = next(limit + 2);
                        r.consume(n);
                        model.drain(..n.min(model.len()));
                    }
                    2 => {
                        let mut out = vec![0; next(limit + 2)];
                        let n = r.read(&mut out);
                        let want: Vec<u8> = model.drain(..n).collect();
                        assert_eq!(&out[..n], want);
                        assert_eq!(n, out.len().min(n + model.len()));
                    }
                    _ => {
                        let (off, len) = (next(limit + 2), next(limit + 2));
                        let want: Vec<u8> = model.iter().skip(off).take(len).copied().collect();
                        assert_eq!(all(&r, off, len), want);
                    }
                }
                assert_eq!(r.len(), model.len());
                assert!(r.buf.len() <= limit);
            }
        }
    }
}
