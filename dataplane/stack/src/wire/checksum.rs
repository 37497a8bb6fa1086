//! The Internet checksum (RFC 1071), the IPv4 pseudo-header sum for TCP and UDP (RFC 9293
//! §3.1, RFC 768), and incremental update (RFC 1624).
//!
//! Vocabulary: a **sum** is the folded 16-bit one's complement sum of big-endian 16-bit words
//! (an odd trailing byte is padded with a zero byte, RFC 1071 §4.1); the **checksum** that goes
//! on the wire is its complement, `!sum`. Sums combine with [`add`]; a sum of bytes may be
//! combined with the sum of the bytes that follow it only if it covers an even number of
//! bytes (every header here does).
//!
//! Verifying a received header is `sum(header) == 0xffff` (RFC 1071 §1: the sum including the
//! checksum field is all ones), i.e. `checksum(header) == 0`.

use std::net::Ipv4Addr;

/// Folds a wide one's complement accumulator to 16 bits with end-around carries
/// (RFC 1071 §2(C)). Never returns 0 for a non-zero input.
///
/// Each step adds a value's two halves with the end-around carry in one add: the high half of
/// `x + x.rotate_right(half)` is `hi + lo` plus the carry out of the low half's `lo + hi`,
/// which is 1 exactly when `hi + lo` wraps, and then `hi + lo + 1 − 2^half` cannot wrap
/// again. The result is ≡ `acc` modulo 2^32 − 1 and then 2^16 − 1, and 0 only for 0: the
/// same value as five shift-and-add folds.
#[inline]
pub(crate) fn fold(acc: u64) -> u16 {
    let s = (acc.wrapping_add(acc.rotate_right(32)) >> 32) as u32;
    (s.wrapping_add(s.rotate_right(16)) >> 16) as u16
}

/// Adds one 8-byte word as two 32-bit halves: at most 2^33 per call, so a `u64` holds the sum
/// of 2^31 words (16 GiB) without overflow; [`sum`] feeds it at most [`BLOCK`] bytes.
#[inline(always)]
fn add_word(acc: u64, w: u64) -> u64 {
    acc + (w & 0xffff_ffff) + (w >> 32)
}

/// The most bytes summed into one accumulator (even, so an odd final byte is only ever in the
/// last block).
const BLOCK: usize = 1 << 30;

/// The one's complement sum of `data` (RFC 1071), folded to 16 bits, not complemented.
///
/// Written for speed (RFC 1071 §2(B), (C)): the words are read 8 bytes at a time in native byte
/// order (the sum is byte-order independent, so one byte swap at the end gives the big-endian
/// result) and added with end-around carries (up to [`SHORT`] bytes: a 64-bit add-with-carry
/// chain; beyond, their 32-bit halves accumulate in a `u64`, deferred carries, a loop the
/// compiler vectorises), and the accumulator is folded once at the end. Any length and
/// alignment.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    sum_in_blocks(data, BLOCK)
}

/// [`sum`] with the block size as a parameter, so tests can cross block boundaries cheaply.
#[inline(always)]
fn sum_in_blocks(data: &[u8], block: usize) -> u16 {
    let mut rest = data;
    let mut total = 0;
    while rest.len() > block {
        let (head, after) = rest.split_at(block);
        total = add(total, u16::from_be(fold(native_sum(head))));
        rest = after;
    }
    add(total, u16::from_be(fold(native_sum(rest))))
}

/// Inputs up to this many bytes (any segment of a 1500-byte MTU and more) take
/// [`native_sum_short`]; longer ones (jumbo frames, offload-sized buffers) the vectorised loop.
const SHORT: usize = 2048;

/// Inputs from this many bytes on (a full-sized segment, not a header) are summed in four
/// chains by [`native_sum_short`].
const CHAINS_FROM: usize = 256;

/// The unfolded sum of `data` read as native-endian words (at most [`BLOCK`] bytes). Inlined
/// whole so that a caller summing a header of known length gets straight-line code; the long
/// loops are out of line.
#[inline(always)]
fn native_sum(data: &[u8]) -> u64 {
    if data.len() <= SHORT {
        native_sum_short(data)
    } else {
        native_sum_long(data)
    }
}

/// [`native_sum`] beyond [`SHORT`] bytes.
#[inline(never)]
fn native_sum_long(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        acc = add_word(acc, w.try_into().map_or(0, u64::from_ne_bytes));
    }
    // The last 0..=7 bytes: 16-bit words, then an odd byte padded with zero after it
    // (RFC 1071 §4.1). Small loops rather than a copy into a padded buffer: headers are
    // short, and this tail is most of their cost.
    let mut halves = words.remainder().chunks_exact(2);
    for h in &mut halves {
        acc += u64::from(h.try_into().map_or(0, u16::from_ne_bytes));
    }
    if let Some(&odd) = halves.remainder().first() {
        acc += u64::from(u16::from_ne_bytes([odd, 0]));
    }
    acc
}

/// [`native_sum`] for inputs up to [`SHORT`] bytes: whole 8-byte words summed exactly in 128
/// bits (an add and an add-with-carry per word, the chain of classic checksum loops), which
/// the compiler does not vectorise: for headers and small segments the vector loop's set-up
/// and reduction cost more than the words themselves, and for a full segment it still takes
/// more instructions. From [`CHAINS_FROM`] bytes on, the words go into four independent
/// chains (one word in four each), which a core with several adders runs side by side instead
/// of waiting on one carry chain; shorter inputs take two words per step in one chain, with
/// less set-up. The part above bit 63 (below 2^8: at most 256 words in all) is worth
/// 2^64 ≡ 1 (mod 2^16 − 1), and the low 64 bits are split into 32-bit halves, so the result
/// is ≡ [`native_sum`]'s modulo 0xffff, and zero only when `data` is all zeros, as
/// [`native_sum`]'s: both fold to the same 16-bit sum.
#[inline(always)]
fn native_sum_short(data: &[u8]) -> u64 {
    let (mut total, mut rest) = if data.len() < CHAINS_FROM {
        (0, data)
    } else if cfg!(target_feature = "avx2") {
        sum_in_lanes(data)
    } else {
        sum_in_chains(data)
    };
    let word = |b: &[u8]| u128::from(b.try_into().map_or(0, u64::from_ne_bytes));
    let mut pairs = rest.chunks_exact(16);
    for p in &mut pairs {
        total += word(&p[..8]) + word(&p[8..]);
    }
    rest = pairs.remainder();
    if let Some((w, after)) = rest.split_first_chunk::<8>() {
        total += u128::from(u64::from_ne_bytes(*w));
        rest = after;
    }
    let (low, high) = (total as u64, (total >> 64) as u64);
    let mut acc = (low & 0xffff_ffff) + (low >> 32) + high;
    if let Some((w, after)) = rest.split_first_chunk::<4>() {
        acc += u64::from(u32::from_ne_bytes(*w));
        rest = after;
    }
    if let Some((w, after)) = rest.split_first_chunk::<2>() {
        acc += u64::from(u16::from_ne_bytes(*w));
        rest = after;
    }
    if let Some(&odd) = rest.first() {
        acc += u64::from(u16::from_ne_bytes([odd, 0]));
    }
    acc
}

/// The exact sum of the 32-byte blocks of `data` in four chains, and the bytes after them
/// (see [`native_sum_short`]). Out of line: only full-sized segments come here.
#[inline(never)]
fn sum_in_chains(data: &[u8]) -> (u128, &[u8]) {
    let word = |b: &[u8]| u128::from(b.try_into().map_or(0, u64::from_ne_bytes));
    let mut chains = [0u128; 4];
    let mut quads = data.chunks_exact(32);
    for q in &mut quads {
        chains[0] += word(&q[..8]);
        chains[1] += word(&q[8..16]);
        chains[2] += word(&q[16..24]);
        chains[3] += word(&q[24..]);
    }
    (
        chains[0] + chains[1] + (chains[2] + chains[3]),
        quads.remainder(),
    )
}

/// [`sum_in_chains`] for a build whose CPU has 256-bit vectors (AVX2: `-C target-cpu=native`
/// or `x86-64-v3`): the blocks summed as 16-bit words (≡ the sum of the 8-byte words modulo
/// 2^16 − 1, as 2^16 ≡ 1) into sixteen 32-bit lanes, a loop the compiler turns into one
/// widening load and one add per 16 bytes, half the time of the four add-with-carry chains
/// (17 against 36 ns per 1,460 B). With SSE2 only it takes as long as the chains and more
/// instructions, so a portable build keeps the chains. A lane gains at most 0xffff per block
/// and `data` is at most [`SHORT`] bytes (64 blocks): no lane overflows.
#[inline(never)]
fn sum_in_lanes(data: &[u8]) -> (u128, &[u8]) {
    debug_assert!(data.len() <= SHORT);
    let mut lanes = [0u32; 16];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(2)) {
            *lane += u32::from(u16::from_ne_bytes([word[0], word[1]]));
        }
    }
    let total: u64 = lanes.iter().map(|&l| u64::from(l)).sum();
    (u128::from(total), blocks.remainder())
}

/// One's complement addition of two sums (RFC 1071 §1).
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The Internet checksum of `data`: `!sum(data)`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// The sum of the IPv4 pseudo-header for TCP (RFC 9293 §3.1) and UDP (RFC 768): source
/// address, destination address, zero, protocol, and the TCP/UDP length (header + data).
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    let acc = u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

/// Incrementally updates checksum `hc` after a 16-bit field changed from `old` to `new`
/// (RFC 1624 §3, eqn. 3: `HC' = ~(~HC + ~m + m')`), which, unlike RFC 1141's eqn. 2, gives
/// the same result as recomputing the checksum from scratch, except when the data becomes all
/// zeros: then it gives 0x0000 where only 0xffff verifies. IPv4 headers and TCP/UDP (with
/// their pseudo-header) are never all zeros; an ICMP message can be, see
/// `Icmpv4Packet::echo_request_into_reply`.
///
/// `old` and `new` are the whole 16-bit word at an even offset from the start of the summed
/// data; to change a single byte, pass the word that contains it (the IPv4 TTL shares its word
/// with the protocol, see `Ipv4Packet::decrement_ttl`).
#[inline]
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    !add(add(!hc, !old), new)
}

/// [`update`] for a 32-bit field (an IPv4 address, a TCP sequence number) at an even offset.
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update(hc, (old >> 16) as u16, (new >> 16) as u16);
    update(hc, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §4.1, transcribed as plainly as possible: the reference the fast [`sum`] is
    /// tested against.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            // Fold as we go, so the 32-bit accumulator never overflows.
            acc = (acc & 0xffff) + (acc >> 16);
            i += 2;
        }
        if i < data.len() {
            acc += u32::from(data[i]) << 8;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0xff, 0xff]), 0xffff);
        assert_eq!(sum(&[0xff; 64]), 0xffff);
        assert_eq!(sum(&[0; 1000]), 0);
        // Carries out of every position.
        assert_eq!(sum(&[0xff; 4001]), reference_sum(&[0xff; 4001]));
    }

    #[test]
    fn known_ipv4_header() {
        // A header from Wikipedia's IPv4 checksum example: checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
        assert_eq!(sum(&h), 0xffff);
    }

    #[test]
    fn differential_against_reference() {
        let mut rng = fastrand::Rng::with_seed(0x1071);
        let mut backing = vec![0u8; 5100];
        for round in 0..4000 {
            // Mostly random bytes; some rounds all-ones or sparse, to stress the carries.
            match round % 4 {
                0 => backing.fill(0xff),
                1 => backing.iter_mut().for_each(|b| *b = rng.u8(0xf0..=0xff)),
                _ => rng.fill(&mut backing),
            }
            let offset = rng.usize(0..8);
            // Both loops: up to SHORT bytes and beyond.
            let len = rng.usize(0..5000);
            let data = &backing[offset..offset + len];
            assert_eq!(sum(data), reference_sum(data), "offset {offset} len {len}");
        }
        // Every length and every alignment up to a few cache lines, exhaustively.
        rng.fill(&mut backing);
        for offset in 0..8 {
            for len in 0..300 {
                let data = &backing[offset..offset + len];
                assert_eq!(sum(data), reference_sum(data), "offset {offset} len {len}");
            }
        }
    }

    /// The most carries (every byte 0xff) and none (all zeros, which must stay 0x0000 rather
    /// than 0xffff), at every length the short sum takes and a little beyond.
    #[test]
    fn saturated_and_zero_data() {
        let ones = vec![0xffu8; SHORT + 64];
        let zeros = vec![0u8; SHORT + 64];
        for len in 0..=ones.len() {
            assert_eq!(
                sum(&ones[..len]),
                reference_sum(&ones[..len]),
                "0xff len {len}"
            );
            assert_eq!(
                sum(&zeros[..len]),
                reference_sum(&zeros[..len]),
                "zero len {len}"
            );
        }
    }

    /// The two block sums (one is compiled in, the other is tested here all the same) fold
    /// to the same sum, with the same tail, for every length up to `SHORT` and random bytes,
    /// all ones and all zeros.
    #[test]
    fn block_sums_agree() {
        let mut rng = fastrand::Rng::with_seed(0x6c61);
        let mut random = vec![0u8; SHORT];
        rng.fill(&mut random);
        for data in [random, vec![0xff; SHORT], vec![0; SHORT]] {
            for len in (CHAINS_FROM..=SHORT).step_by(7).chain([SHORT]) {
                let (a, rest_a) = sum_in_chains(&data[..len]);
                let (b, rest_b) = sum_in_lanes(&data[..len]);
                let fold128 = |t: u128| {
                    fold(((t as u64) & 0xffff_ffff) + ((t as u64) >> 32) + (t >> 64) as u64)
                };
                assert_eq!(fold128(a) % 0xffff, fold128(b) % 0xffff, "len {len}");
                assert_eq!((fold128(a) == 0), (fold128(b) == 0), "len {len}");
                assert_eq!(rest_a, rest_b);
            }
        }
    }

    /// `fold` against plain shift-and-add folding, at the edges and at random.
    #[test]
    fn fold_matches_shift_and_add() {
        fn slow(mut acc: u64) -> u16 {
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        }
        let mut rng = fastrand::Rng::with_seed(5);
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0xffff_ffff_0000_0001,
            0x8000_0000_8000_0000,
            u64::MAX - 1,
            u64::MAX,
        ];
        for acc in edges.into_iter().chain((0..100_000).map(|_| rng.u64(..))) {
            assert_eq!(fold(acc), slow(acc), "{acc:#x}");
        }
        for hi in 0..=0x1_ffffu64 {
            let acc = (hi << 16) | 0xffff;
            assert_eq!(fold(acc), slow(acc), "{acc:#x}");
        }
    }

    #[test]
    fn block_boundaries() {
        let mut rng = fastrand::Rng::with_seed(30);
        let data: Vec<u8> = (0..700).map(|_| rng.u8(..)).collect();
        for block in [2, 8, 16, 64, 256] {
            for len in [0, 1, 2, 7, 63, 64, 65, 255, 256, 257, 699] {
                let d = &data[1..1 + len];
                assert_eq!(sum_in_blocks(d, block), reference_sum(d), "{block} {len}");
            }
        }
    }

    #[test]
    fn combining_even_prefix_sums() {
        let mut rng = fastrand::Rng::with_seed(7);
        let data: Vec<u8> = (0..1501).map(|_| rng.u8(..)).collect();
        for split in (0..data.len()).step_by(2) {
            let (a, b) = data.split_at(split);
            assert_eq!(add(sum(a), sum(b)), reference_sum(&data));
        }
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(192, 168, 1, 10);
        let dst = Ipv4Addr::new(10, 255, 0, 254);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 6]);
        bytes.extend_from_slice(&1480u16.to_be_bytes());
        assert_eq!(pseudo_header_sum(src, dst, 6, 1480), reference_sum(&bytes));
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut rng = fastrand::Rng::with_seed(1624);
        for _ in 0..20_000 {
            let len = 2 * rng.usize(2..40);
            let mut data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            // A non-zero word elsewhere: all-zero data is the one case where the RFC 1624
            // result (0x0000) and recomputation (0xffff) are the two encodings of zero.
            data[0] |= 1;
            let hc = checksum(&data);
            let at = 2 * rng.usize(1..len / 2);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            let new = match rng.u8(0..4) {
                0 => 0,
                1 => 0xffff,
                2 => old.wrapping_sub(0x100), // a TTL decrement
                _ => rng.u16(..),
            };
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            assert_eq!(update(hc, old, new), checksum(&data), "{data:02x?} at {at}");
        }
    }

    #[test]
    fn incremental_update32_equals_recomputation() {
        let mut rng = fastrand::Rng::with_seed(0x9a7);
        for _ in 0..5_000 {
            let mut data: Vec<u8> = (0..20).map(|_| rng.u8(..)).collect();
            data[0] |= 0x40;
            let hc = checksum(&data);
            let old = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
            let new = rng.u32(..);
            data[12..16].copy_from_slice(&new.to_be_bytes());
            assert_eq!(update32(hc, old, new), checksum(&data));
        }
    }
}
