//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! > "It is essential to remember that the actual sequence number space is finite, though very
//! > large. This space ranges from 0 to 2^32 - 1. Since the space is finite, all arithmetic
//! > dealing with sequence numbers must be performed modulo 2^32."
//! > — RFC 9293 §3.4
//!
//! [`SeqNum`] deliberately implements neither `PartialOrd` nor `Ord`: "less than" modulo 2^32 is
//! not transitive (a < b < c < a is possible around the circle), so it must never reach a
//! `sort`, a `BTreeMap` or a `max()` from the standard library. Use the explicit methods
//! [`SeqNum::lt`], [`SeqNum::le`], [`SeqNum::gt`], [`SeqNum::ge`], [`SeqNum::max`],
//! [`SeqNum::min`] and [`SeqNum::in_window`] instead; they follow the usual half-window rule
//! (RFC 1982 serial-number arithmetic, as used by RFC 9293): `a < b` iff `b - a`, taken as a signed
//! 32-bit value, is positive. Two numbers exactly 2^31 apart are unordered: neither is less than
//! the other. TCP never has that much data outstanding (the largest window is 2^30, RFC 7323 §2.3),
//! so the rule is exact for any two numbers inside one connection's window.
//!
//! [`SeqRange`] is a half-open range `[start, end)` of sequence numbers — the shape of a SACK block
//! (RFC 2018 §3: the left edge is the first sequence number of the block, the right edge the one
//! just after its last).

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgment) number, arithmetic modulo 2^32 (RFC 9293 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Wraps a raw 32-bit value (for example the field of a TCP header).
    pub const fn new(raw: u32) -> SeqNum {
        SeqNum(raw)
    }

    /// The raw 32-bit value, as it goes on the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self - other` as a signed distance: positive if `self` is after `other`.
    ///
    /// Exact whenever the two are less than 2^31 apart; at exactly 2^31 it is `i32::MIN`.
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The number of sequence numbers from `earlier` up to (not including) `self`, going
    /// forward around the circle: always in `0..2^32`. Use it when `earlier` is known to be at
    /// or before `self` (for example `snd_nxt.distance_from(snd_una)` is the flight size).
    pub const fn distance_from(self, earlier: SeqNum) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// `self < other` modulo 2^32 (RFC 9293 §3.4: "The symbol "=<" means "less than or equal"
    /// (modulo 2^32)").
    ///
    /// That is `other - self` (wrapping) in `1..2^31`: `self.diff(other)` negative but not
    /// `i32::MIN`. Written as one unsigned comparison, `(other - self) - 1 < 2^31 - 1` (the
    /// subtraction of 1 sends 0 to `u32::MAX`), as this is on every segment's path.
    #[inline]
    pub const fn lt(self, other: SeqNum) -> bool {
        other.0.wrapping_sub(self.0).wrapping_sub(1) < 0x7fff_ffff
    }

    /// `self <= other` modulo 2^32: equal, or [`SeqNum::lt`]; that is `other - self`
    /// (wrapping) in `0..2^31`, one unsigned comparison.
    #[inline]
    pub const fn le(self, other: SeqNum) -> bool {
        other.0.wrapping_sub(self.0) < 0x8000_0000
    }

    /// `self > other` modulo 2^32.
    #[inline]
    pub const fn gt(self, other: SeqNum) -> bool {
        other.lt(self)
    }

    /// `self >= other` modulo 2^32.
    #[inline]
    pub const fn ge(self, other: SeqNum) -> bool {
        other.le(self)
    }

    /// The later of the two (`self` if they are unordered).
    pub const fn max(self, other: SeqNum) -> SeqNum {
        if other.gt(self) {
            other
        } else {
            self
        }
    }

    /// The earlier of the two (`self` if they are unordered).
    pub const fn min(self, other: SeqNum) -> SeqNum {
        if other.lt(self) {
            other
        } else {
            self
        }
    }

    /// `start <= self < start + len`, modulo 2^32 — the test of RFC 9293 §3.4 for "is this
    /// sequence number inside that window". Works for any `len`, including windows that cross
    /// the wrap point; an empty window (`len == 0`) contains nothing.
    pub const fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.distance_from(start) < len
    }

    /// `self + n`, wrapping (the same as `self + n` with the `Add` impl).
    pub const fn wrapping_add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// `self - n`, wrapping.
    pub const fn wrapping_sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for SeqNum {
    fn from(raw: u32) -> SeqNum {
        SeqNum(raw)
    }
}

impl From<SeqNum> for u32 {
    fn from(seq: SeqNum) -> u32 {
        seq.0
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        self.wrapping_add(n)
    }
}

/// Adds a byte count. Counts of 2^32 or more wrap, which is still right modulo 2^32.
impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        // Truncation is reduction modulo 2^32, exactly the arithmetic wanted.
        self.wrapping_add(n as u32)
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        *self = *self + n;
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        self.wrapping_sub(n)
    }
}

impl SubAssign<u32> for SeqNum {
    fn sub_assign(&mut self, n: u32) {
        *self = *self - n;
    }
}

/// `a - b` is the signed distance [`SeqNum::diff`]; for an unsigned byte count use
/// [`SeqNum::distance_from`] (or [`SeqRange::len`]).
impl Sub<SeqNum> for SeqNum {
    type Output = i32;
    fn sub(self, other: SeqNum) -> i32 {
        self.diff(other)
    }
}

/// A half-open range `[start, end)` of sequence numbers, `end` reached from `start` going forward.
///
/// `start == end` is the empty range. The length is `end.distance_from(start)`, so a range is at
/// most 2^32 - 1 long; ranges built by this crate are always shorter than 2^31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqRange {
    /// The first sequence number in the range (a SACK block's left edge).
    pub start: SeqNum,
    /// The sequence number just after the range (a SACK block's right edge).
    pub end: SeqNum,
}

impl SeqRange {
    /// `[start, end)`.
    pub const fn new(start: SeqNum, end: SeqNum) -> SeqRange {
        SeqRange { start, end }
    }

    /// `[start, start + len)`.
    pub const fn from_len(start: SeqNum, len: u32) -> SeqRange {
        SeqRange {
            start,
            end: start.wrapping_add(len),
        }
    }

    /// The number of sequence numbers in the range.
    pub const fn len(&self) -> u32 {
        self.end.distance_from(self.start)
    }

    /// Whether the range is empty.
    pub const fn is_empty(&self) -> bool {
        self.start.0 == self.end.0
    }

    /// Whether `seq` is in `[start, end)`.
    pub const fn contains(&self, seq: SeqNum) -> bool {
        seq.in_window(self.start, self.len())
    }
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn add_and_sub_wrap() {
        let s = SeqNum(u32::MAX - 1);
        assert_eq!(s + 3u32, SeqNum(1));
        assert_eq!(s + 3usize, SeqNum(1));
        assert_eq!(SeqNum(1) - 3u32, SeqNum(u32::MAX - 1));
        assert_eq!(SeqNum(1) - s, 3);
        assert_eq!(s - SeqNum(1), -3);
        assert_eq!(SeqNum(1).distance_from(s), 3);
        let mut t = s;
        t += 2u32;
        assert_eq!(t, SeqNum(0));
        t += 5usize;
        assert_eq!(t, SeqNum(5));
        t -= 6u32;
        assert_eq!(t, SeqNum(u32::MAX));
        // Adding a multiple of 2^32 bytes is the identity.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(SeqNum(7) + (1usize << 32), SeqNum(7));
    }

    #[test]
    fn comparisons_across_the_wrap_point() {
        let before = SeqNum(u32::MAX - 10);
        let after = SeqNum(5);
        assert!(before.lt(after));
        assert!(before.le(after));
        assert!(after.gt(before));
        assert!(after.ge(before));
        assert!(!after.lt(before));
        assert!(!before.gt(after));
        assert_eq!(before.max(after), after);
        assert_eq!(after.max(before), after);
        assert_eq!(before.min(after), before);
        assert!(before.le(before) && before.ge(before));
        assert!(!before.lt(before) && !before.gt(before));
    }

    #[test]
    fn half_window_apart_is_unordered() {
        let a = SeqNum(0);
        let b = SeqNum(1 << 31);
        assert!(!a.lt(b) && !b.lt(a) && !a.gt(b) && !b.gt(a));
        assert!(!a.le(b) && !a.ge(b));
        assert_eq!(a.max(b), a);
        assert_eq!(b.max(a), b);
        // One less than half the circle is still ordered.
        assert!(a.lt(SeqNum((1 << 31) - 1)));
        assert!(a.gt(SeqNum((1 << 31) + 1)));
    }

    #[test]
    fn in_window_wraps() {
        let start = SeqNum(u32::MAX - 1);
        assert!(start.in_window(start, 4));
        assert!(SeqNum(u32::MAX).in_window(start, 4));
        assert!(SeqNum(0).in_window(start, 4));
        assert!(SeqNum(1).in_window(start, 4));
        assert!(!SeqNum(2).in_window(start, 4));
        assert!(!SeqNum(u32::MAX - 2).in_window(start, 4));
        assert!(!start.in_window(start, 0));
        // The largest window covers all but the number just before its start.
        assert!(SeqNum(122).in_window(SeqNum(124), u32::MAX));
        assert!(!SeqNum(123).in_window(SeqNum(124), u32::MAX));
    }

    #[test]
    fn ranges() {
        let r = SeqRange::from_len(SeqNum(u32::MAX - 1), 4);
        assert_eq!(r.end, SeqNum(2));
        assert_eq!(r.len(), 4);
        assert!(r.contains(SeqNum(0)) && r.contains(SeqNum(u32::MAX - 1)));
        assert!(!r.contains(SeqNum(2)));
        assert!(SeqRange::new(SeqNum(9), SeqNum(9)).is_empty());
        assert_eq!(r.to_string(), "[4294967294, 2)");
    }

    /// The one-comparison `lt`/`le` against their definitions (RFC 1982 signed difference),
    /// at the boundaries and around them.
    #[test]
    fn lt_le_match_the_signed_difference() {
        fn lt_def(a: SeqNum, b: SeqNum) -> bool {
            a.diff(b) < 0 && a.diff(b) != i32::MIN
        }
        let edges = [
            0u32,
            1,
            2,
            0x7fff_fffe,
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0001,
            0x8000_0002,
        ];
        let edges = edges.iter().flat_map(|&e| [e, e.wrapping_neg()]);
        for base in [0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX, 0x1234_5678] {
            for d in edges.clone() {
                let (a, b) = (SeqNum(base), SeqNum(base.wrapping_add(d)));
                assert_eq!(a.lt(b), lt_def(a, b), "{a} < {b}");
                assert_eq!(a.le(b), a == b || lt_def(a, b), "{a} <= {b}");
                assert_eq!(b.lt(a), lt_def(b, a), "{b} < {a}");
                assert_eq!(b.le(a), a == b || lt_def(b, a), "{b} <= {a}");
            }
        }
    }

    proptest! {
        #[test]
        fn lt_le_match_definition(a: u32, b: u32) {
            let (a, b) = (SeqNum(a), SeqNum(b));
            prop_assert_eq!(a.lt(b), a.diff(b) < 0 && a.diff(b) != i32::MIN);
            prop_assert_eq!(a.le(b), a == b || (a.diff(b) < 0 && a.diff(b) != i32::MIN));
        }

        #[test]
        fn order_is_consistent(a: u32, d in 1u32..(1 << 31)) {
            let a = SeqNum(a);
            let b = a + d;
            prop_assert!(a.lt(b));
            prop_assert!(b.gt(a));
            prop_assert!(!b.lt(a));
            prop_assert_eq!(b - a, d as i32);
            prop_assert_eq!(b.distance_from(a), d);
            prop_assert_eq!(a.max(b), b);
            prop_assert_eq!(b.min(a), a);
            prop_assert!(b.in_window(a, d + 1));
            prop_assert!(!b.in_window(a, d));
        }
    }
}
