//! Option negotiation helpers and initial sequence numbers.
//!
//! - ISN (RFC 6528 §3): `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`, M a
//!   timer ticking every 4 µs, F SipHash-2-4 keyed with `TcpConfig::isn_key` (so tests are
//!   deterministic; a real deployment draws the key at random at start-up).
//! - Window scale (RFC 7323 §2.3): the shift we offer is the smallest that fits our receive
//!   buffer in 16 bits, at most 14.

use std::net::SocketAddrV4;

use cyclone_pmd::Timestamp;

use super::seq::SeqNum;

/// The largest window-scale shift (RFC 7323 §2.3).
pub(crate) const MAX_WINDOW_SCALE: u8 = 14;

/// The MSS assumed when the peer sends none (RFC 9293 §3.7.1: 536 for IPv4).
pub(crate) const DEFAULT_MSS: u16 = 536;

/// Bytes of the timestamps option as emitted (NOP NOP TS).
pub(crate) const TIMESTAMPS_LEN: u16 = 12;

/// The shift that makes `buffer` fit a 16-bit window field.
pub(crate) fn window_shift_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < MAX_WINDOW_SCALE && (buffer >> shift) > usize::from(u16::MAX) {
        shift += 1;
    }
    shift
}

/// The initial sequence number of RFC 6528 for a connection.
pub(crate) fn initial_seq(
    key: u128,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    now: Timestamp,
) -> SeqNum {
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&local.ip().octets());
    msg[4..6].copy_from_slice(&local.port().to_be_bytes());
    msg[6..10].copy_from_slice(&remote.ip().octets());
    msg[10..12].copy_from_slice(&remote.port().to_be_bytes());
    let f = siphash24(key, &msg) as u32;
    // M: a 4-microsecond timer (RFC 6528 §3, as RFC 793's ISN clock).
    let m = (now.as_nanos() / 4_000) as u32;
    SeqNum(m.wrapping_add(f))
}

/// SipHash-2-4 (Aumasson and Bernstein) of `msg` under the 128-bit `key`.
pub(crate) fn siphash24(key: u128, msg: &[u8]) -> u64 {
    let k0 = key as u64;
    let k1 = (key >> 64) as u64;
    let mut v0 = k0 ^ 0x736f_6d65_7073_6575;
    let mut v1 = k1 ^ 0x646f_7261_6e64_6f6d;
    let mut v2 = k0 ^ 0x6c79_6765_6e65_7261;
    let mut v3 = k1 ^ 0x7465_6462_7974_6573;
    fn round(v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64) {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13);
        *v1 ^= *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16);
        *v3 ^= *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21);
        *v3 ^= *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17);
        *v1 ^= *v2;
        *v2 = v2.rotate_left(32);
    }
    let mut chunks = msg.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v3 ^= m;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= m;
    }
    let mut last = [0u8; 8];
    let rem = chunks.remainder();
    last[..rem.len()].copy_from_slice(rem);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v3 ^= m;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^= m;
    v2 ^= 0xff;
    for _ in 0..4 {
        round(&mut v0, &mut v1, &mut v2, &mut v3);
    }
    v0 ^ v1 ^ v2 ^ v3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vector() {
        // The reference implementation's test vector: key 00..0f, message 00..0e.
        let key = u128::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn window_shift() {
        assert_eq!(window_shift_for(65535), 0);
        assert_eq!(window_shift_for(256 * 1024), 3);
        assert_eq!(window_shift_for(usize::MAX), 14);
    }
}
