//! Shared helpers of the real-kernel tests: skipping, frame builders and checksums.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use cyclone_afxdp::lab::{skip_reason, VethLab};
use cyclone_afxdp::AfXdpQueue;
use cyclone_pmd::{PacketBuf, RxQueue};

/// A lab, or `None` after printing `SKIP: <why>`.
pub fn lab(queues: u16) -> Option<VethLab> {
    if let Some(why) = skip_reason() {
        println!("SKIP: {why}");
        return None;
    }
    match VethLab::new(queues) {
        Ok(lab) => Some(lab),
        Err(e) => {
            println!("SKIP: cannot build a veth lab: {e}");
            None
        }
    }
}

/// Receives until `pred` matches a frame or `timeout` passes; returns the matching frame.
pub fn rx_until(
    q: &mut AfXdpQueue,
    timeout: Duration,
    mut pred: impl FnMut(&[u8]) -> bool,
) -> Option<PacketBuf> {
    let end = Instant::now() + timeout;
    let mut bufs = Vec::new();
    while Instant::now() < end {
        bufs.clear();
        q.rx_burst(&mut bufs, 32);
        if let Some(pos) = bufs.iter().position(|b| pred(b.data())) {
            return Some(bufs.swap_remove(pos));
        }
        if bufs.is_empty() {
            let _ = q.wait(Duration::from_millis(20));
        }
    }
    None
}

pub fn ethertype(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[12], f[13]])
}

/// Whether `f` is an ARP request for `ip`.
pub fn is_arp_request_for(f: &[u8], ip: Ipv4Addr) -> bool {
    f.len() >= 42 && ethertype(f) == 0x0806 && f[20..22] == [0, 1] && f[38..42] == ip.octets()
}

/// Internet checksum (RFC 1071) over `data` starting from `sum`.
pub fn checksum(data: &[u8], mut sum: u32) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The pseudo-header sum for UDP.
pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        17,
        len,
    ]
    .iter()
    .map(|&w| u32::from(w))
    .sum()
}

/// An Ethernet + IPv4 + UDP frame with correct checksums.
pub fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let ip_len = 20 + udp_len;
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let c = checksum(&udp, pseudo(src, dst, udp_len));
    udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

/// Parses a UDP/IPv4 frame: (src, dst, sport, dport, payload), checking both checksums.
pub fn parse_udp(f: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16, Vec<u8>)> {
    if f.len() < 42 || ethertype(f) != 0x0800 || f[23] != 17 {
        return None;
    }
    let ihl = usize::from(f[14] & 0xf) * 4;
    let ip = &f[14..14 + ihl];
    assert_eq!(checksum(ip, 0), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &f[14 + ihl..];
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let udp = &udp[..len];
    assert_eq!(
        checksum(udp, pseudo(src, dst, len as u16)),
        0,
        "UDP checksum (is tx offload off on the peer?)"
    );
    Some((
        src,
        dst,
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
        udp[8..].to_vec(),
    ))
}
