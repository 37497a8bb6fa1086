//! The parse-and-re-emit fuzz body, shared by the cargo-fuzz target (`fuzz/`, nightly) and a
//! proptest test (`tests/wire_fuzz.rs`, stable), and the sample frames both are seeded with.
//!
//! Public only so those two can reach it; not part of the stack's API (hidden from the docs).

use std::net::Ipv4Addr;

use crate::wire::{
    checksum, ArpPacket, ArpRepr, ErrorKind, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, Icmpv4Type, IpProtocol, Ipv4Packet, Ipv4Repr, RxChecksum, TcpPacket, TcpRepr,
    TxChecksum, UdpPacket, UdpRepr,
};

/// Real frames, written out byte by byte (checksums computed independently of this crate).
#[doc(hidden)]
pub mod samples {
    /// An ARP request as captured (Wireshark's `arp-storm` sample): who has 24.166.173.159?
    /// tell 24.166.172.1 (00:07:0d:af:f4:54); broadcast, padded to the 60-byte minimum.
    pub const ARP_REQUEST: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x18, 0xa6,
        0xac, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0xa6, 0xad, 0x9f, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// A TCP SYN as Linux 6.x sends it: 10.0.2.15:48312 -> 93.184.216.34:80, MSS 1460,
    /// SACK-permitted, timestamps, NOP, window scale 7 (40-byte header), DF, TTL 64.
    pub const TCP_SYN: [u8; 74] = [
        0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x27, 0x8d, 0xc0, 0x4d, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0x3f, 0x2e, 0x40, 0x00, 0x40, 0x06, 0xb9, 0xa4, 0x0a, 0x00, 0x02, 0x0f,
        0x5d, 0xb8, 0xd8, 0x22, 0xbc, 0xb8, 0x00, 0x50, 0x9b, 0x7a, 0x4c, 0x21, 0x00, 0x00, 0x00,
        0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xeb, 0x3f, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
        0x08, 0x0a, 0x5c, 0x3a, 0x1f, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// A Linux `ping` echo request 10.0.2.15 -> 8.8.8.8: id 0x1c2b, seq 1, 56 data bytes (a
    /// 16-byte timeval then 0x10..0x37).
    pub const ICMP_ECHO_REQUEST: [u8; 98] = [
        0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x27, 0x8d, 0xc0, 0x4d, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x54, 0x8c, 0x4d, 0x40, 0x00, 0x40, 0x01, 0x92, 0x3d, 0x0a, 0x00, 0x02, 0x0f,
        0x08, 0x08, 0x08, 0x08, 0x08, 0x00, 0x86, 0xc8, 0x1c, 0x2b, 0x00, 0x01, 0x00, 0xf1, 0x53,
        0x65, 0x00, 0x00, 0x00, 0x00, 0x40, 0xe2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11,
        0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
        0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    /// A DNS query for example.com (A) 10.0.2.15:53211 -> 10.0.2.3:53.
    pub const UDP_DNS_QUERY: [u8; 71] = [
        0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x27, 0x8d, 0xc0, 0x4d, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x39, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x10, 0x6f, 0x0a, 0x00, 0x02, 0x0f,
        0x0a, 0x00, 0x02, 0x03, 0xcf, 0xdb, 0x00, 0x35, 0x00, 0x25, 0x9c, 0x46, 0xab, 0xcd, 0x01,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    /// The port unreachable 10.0.2.3 returns for that query: TOS 0xc0, the quoted IPv4
    /// header and the 8-byte UDP header.
    pub const ICMP_PORT_UNREACHABLE: [u8; 70] = [
        0x08, 0x00, 0x27, 0x8d, 0xc0, 0x4d, 0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x45,
        0xc0, 0x00, 0x38, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x61, 0xf3, 0x0a, 0x00, 0x02, 0x03,
        0x0a, 0x00, 0x02, 0x0f, 0x03, 0x03, 0x90, 0x80, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00,
        0x39, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x10, 0x6f, 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00,
        0x02, 0x03, 0xcf, 0xdb, 0x00, 0x35, 0x00, 0x25, 0x9c, 0x46,
    ];

    /// An HTTP request segment, PSH|ACK with NOP NOP timestamps, as Linux sends it.
    pub const TCP_DATA: [u8; 103] = [
        0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x27, 0x8d, 0xc0, 0x4d, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x59, 0x3f, 0x2f, 0x40, 0x00, 0x40, 0x06, 0xb9, 0x86, 0x0a, 0x00, 0x02, 0x0f,
        0x5d, 0xb8, 0xd8, 0x22, 0xbc, 0xb8, 0x00, 0x50, 0x9b, 0x7a, 0x4c, 0x22, 0x2d, 0x1e, 0x6f,
        0x01, 0x80, 0x18, 0x01, 0xf6, 0x8d, 0xd6, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x5c, 0x3a,
        0x1f, 0x4a, 0x8e, 0x2b, 0x11, 0xc0, 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54,
        0x50, 0x2f, 0x31, 0x2e, 0x31, 0x0d, 0x0a, 0x48, 0x6f, 0x73, 0x74, 0x3a, 0x20, 0x65, 0x78,
        0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x0d, 0x0a, 0x0d, 0x0a,
    ];

    /// Every sample, plus the SYN on VLAN 100 (an 802.1Q tag inserted after the addresses).
    pub fn all() -> Vec<Vec<u8>> {
        let mut tagged = TCP_SYN.to_vec();
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
        vec![
            ARP_REQUEST.to_vec(),
            TCP_SYN.to_vec(),
            TCP_DATA.to_vec(),
            ICMP_ECHO_REQUEST.to_vec(),
            UDP_DNS_QUERY.to_vec(),
            ICMP_PORT_UNREACHABLE.to_vec(),
            tagged,
        ]
    }
}

/// What [`fuzz_parse_frame`] got to: for the tests to check that their inputs reach deep.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuzzReach {
    /// An Ethernet header parsed.
    pub ethernet: bool,
    /// An ARP packet parsed into a repr.
    pub arp: bool,
    /// An IPv4 header parsed into a repr.
    pub ipv4: bool,
    /// A TCP segment parsed into a repr.
    pub tcp: bool,
    /// A UDP datagram parsed into a repr.
    pub udp: bool,
    /// An ICMP message parsed into a repr.
    pub icmp: bool,
}

/// Parses `data` as an Ethernet frame down through ARP or IPv4 → TCP/UDP/ICMP, with
/// checksums both trusted and verified, re-emits what parsed and checks the round trip:
/// emit-then-parse gives the same repr (with verified checksums), and parse-then-emit gives
/// the same bytes wherever the input was in canonical form.
///
/// # Panics
/// When a round-trip property fails: that is what the fuzzer looks for. Malformed input
/// never panics; it just stops the descent.
#[doc(hidden)]
pub fn fuzz_parse_frame(data: &[u8]) -> FuzzReach {
    let mut reach = FuzzReach::default();
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return reach;
    };
    reach.ethernet = true;
    let eth = EthernetRepr::parse(&frame);
    let header_len = eth.header_len();
    assert_eq!(header_len, frame.header_len());
    let mut header = [0u8; EthernetRepr::VLAN_HEADER_LEN];
    let header = &mut header[..header_len];
    eth.emit(header)
        .expect("ethernet emit into header_len bytes");
    assert_eq!(Some(&*header), data.get(..header_len), "ethernet bytes");
    match eth.ethertype {
        EtherType::ARP => reach.arp = fuzz_arp(frame.payload()),
        EtherType::IPV4 => fuzz_ipv4(frame.payload(), &mut reach),
        _ => {}
    }
    reach
}

fn fuzz_arp(bytes: &[u8]) -> bool {
    let Ok(packet) = ArpPacket::new_checked(bytes) else {
        return false;
    };
    let Ok(repr) = ArpRepr::parse(&packet) else {
        return false;
    };
    let mut out = [0u8; ArpRepr::BUFFER_LEN];
    repr.emit(&mut out).expect("arp emit into 28 bytes");
    // Every field of an Ethernet/IPv4 request or reply is in the repr: bytes round-trip.
    assert_eq!(
        Some(&out[..]),
        bytes.get(..ArpRepr::BUFFER_LEN),
        "arp bytes"
    );
    true
}

fn fuzz_ipv4(bytes: &[u8], reach: &mut FuzzReach) {
    let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
        return;
    };
    let repr = Ipv4Repr::parse(&packet, RxChecksum::Trust).expect("trusting never fails");
    let verified = Ipv4Repr::parse(&packet, RxChecksum::Verify);
    if let Ok(v) = verified {
        assert_eq!(v, repr);
    } else {
        assert_eq!(verified.map_err(|e| e.kind()), Err(ErrorKind::BadChecksum));
    }
    reach.ipv4 = true;

    let payload = packet.payload();
    let mut rebuilt = vec![0u8; repr.buffer_len()];
    repr.emit(&mut rebuilt, TxChecksum::Compute)
        .expect("ipv4 emit into buffer_len bytes");
    if let Some(dst) = rebuilt.get_mut(Ipv4Repr::HEADER_LEN..) {
        dst.copy_from_slice(payload);
    }
    let reparsed = Ipv4Packet::new_checked(&rebuilt[..]).expect("emitted ipv4 is well formed");
    assert_eq!(
        Ipv4Repr::parse(&reparsed, RxChecksum::Verify),
        Ok(repr),
        "ipv4 emit then parse"
    );
    let reserved_flag = packet.header().flags_frag.get() & 0x8000 != 0;
    if packet.header_len() == Ipv4Repr::HEADER_LEN && verified.is_ok() && !reserved_flag {
        assert_same_bytes(rebuilt.get(..20), bytes.get(..20), 10, "ipv4 bytes");
    }
    // RFC 1624 incremental update agrees with the checksum.
    let mut forwarded = rebuilt.clone();
    let mut packet_mut = Ipv4Packet::new_checked(&mut forwarded[..]).expect("same bytes");
    packet_mut.decrement_ttl();
    assert!(
        packet_mut.verify_checksum(),
        "ttl decrement keeps the checksum valid"
    );

    let (src, dst) = (repr.src, repr.dst);
    match repr.protocol {
        IpProtocol::TCP => reach.tcp = fuzz_tcp(payload, src, dst),
        IpProtocol::UDP => reach.udp = fuzz_udp(payload, src, dst),
        IpProtocol::ICMP => reach.icmp = fuzz_icmp(payload),
        _ => {}
    }
}

fn fuzz_tcp(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let Ok(packet) = TcpPacket::new_checked(bytes) else {
        return false;
    };
    let verified = TcpRepr::parse(&packet, src, dst, RxChecksum::Verify);
    let repr = match TcpRepr::parse(&packet, src, dst, RxChecksum::Trust) {
        Ok(repr) => repr,
        Err(e) => {
            assert_eq!(
                e.kind(),
                ErrorKind::BadOption,
                "trusting fails only on options"
            );
            assert!(verified.is_err());
            return false;
        }
    };
    match verified {
        Ok(v) => assert_eq!(v, repr),
        Err(e) => assert_eq!(e.kind(), ErrorKind::BadChecksum),
    }
    let payload = packet.payload();
    let mut out = vec![0u8; repr.buffer_len(payload.len())];
    if repr.header_len() > TcpRepr::MAX_HEADER_LEN {
        // Parsed options that do not fit again (4 SACK blocks and timestamps in one header
        // is impossible, but the check is cheap).
        assert!(repr.emit(&mut out, src, dst, TxChecksum::Compute).is_err());
        return true;
    }
    if let Some(dst_payload) = out.get_mut(repr.header_len()..) {
        dst_payload.copy_from_slice(payload);
    }
    repr.emit(&mut out, src, dst, TxChecksum::Compute)
        .expect("tcp emit into buffer_len bytes");
    let reparsed = TcpPacket::new_checked(&out[..]).expect("emitted tcp is well formed");
    assert_eq!(reparsed.payload(), payload, "tcp payload");
    assert_eq!(
        TcpRepr::parse(&reparsed, src, dst, RxChecksum::Verify),
        Ok(repr),
        "tcp emit then parse"
    );
    let reserved_bits = packet.header().data_offset & 0x0f != 0;
    if verified.is_ok() && packet.options() == reparsed.options() && !reserved_bits {
        assert_same_bytes(Some(&out[..]), Some(bytes), 16, "tcp bytes");
    }
    // Offload: the seeded field finished the way a device does equals the software checksum.
    let mut offloaded = out.clone();
    repr.emit(&mut offloaded, src, dst, TxChecksum::Offload)
        .expect("same size");
    let finished = checksum::checksum(&offloaded);
    if let Some(field) = offloaded.get_mut(16..18) {
        field.copy_from_slice(&finished.to_be_bytes());
    }
    assert_eq!(offloaded, out, "tcp offload");
    true
}

fn fuzz_udp(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let Ok(packet) = UdpPacket::new_checked(bytes) else {
        return false;
    };
    let repr = UdpRepr::parse(&packet, src, dst, RxChecksum::Trust).expect("trusting never fails");
    let verified = UdpRepr::parse(&packet, src, dst, RxChecksum::Verify);
    match verified {
        Ok(v) => assert_eq!(v, repr),
        Err(e) => assert_eq!(e.kind(), ErrorKind::BadChecksum),
    }
    let payload = packet.payload();
    let mut out = vec![0u8; repr.buffer_len(payload.len())];
    if let Some(dst_payload) = out.get_mut(UdpRepr::HEADER_LEN..) {
        dst_payload.copy_from_slice(payload);
    }
    repr.emit(&mut out, src, dst, TxChecksum::Compute)
        .expect("udp emit into buffer_len bytes");
    let reparsed = UdpPacket::new_checked(&out[..]).expect("emitted udp is well formed");
    assert_eq!(reparsed.payload(), payload, "udp payload");
    assert_ne!(
        reparsed.checksum(),
        0,
        "a computed checksum is never sent as 0"
    );
    assert_eq!(
        UdpRepr::parse(&reparsed, src, dst, RxChecksum::Verify),
        Ok(repr),
        "udp emit then parse"
    );
    if verified.is_ok() && packet.checksum() != 0 && usize::from(packet.length()) == bytes.len() {
        assert_eq!(out, bytes, "udp bytes");
    }
    true
}

fn fuzz_icmp(bytes: &[u8]) -> bool {
    let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
        return false;
    };
    let Ok(repr) = Icmpv4Repr::parse(&packet, RxChecksum::Trust) else {
        return false;
    };
    let verified = Icmpv4Repr::parse(&packet, RxChecksum::Verify);
    match verified {
        Ok(v) => assert_eq!(v, repr),
        Err(e) => assert_eq!(e.kind(), ErrorKind::BadChecksum),
    }
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, TxChecksum::Compute)
        .expect("icmp emit into buffer_len bytes");
    let reparsed = Icmpv4Packet::new_checked(&out[..]).expect("emitted icmp is well formed");
    assert_eq!(
        Icmpv4Repr::parse(&reparsed, RxChecksum::Verify),
        Ok(repr),
        "icmp emit then parse"
    );
    let echo = matches!(
        repr,
        Icmpv4Repr::EchoRequest { .. } | Icmpv4Repr::EchoReply { .. }
    );
    if echo && verified.is_ok() && packet.code() == 0 {
        assert_same_bytes(Some(&out[..]), Some(bytes), 2, "icmp echo bytes");
    }
    // Answering in place keeps the checksum valid.
    if packet.msg_type() == Icmpv4Type::ECHO_REQUEST {
        let mut reply = out.clone();
        let mut reply_packet = Icmpv4Packet::new_checked(&mut reply[..]).expect("same bytes");
        assert!(reply_packet.echo_request_into_reply());
        assert!(reply_packet.verify_checksum(), "echo reply checksum");
    }
    true
}

/// Asserts `emitted == original`, except that a checksum (at `field`) the original sent as
/// 0xffff may be emitted as 0x0000: both encode one's complement zero and both verify
/// (RFC 1624 §3), so a sender may use either; this crate emits 0x0000 (except for UDP, where
/// 0 means "none" and 0xffff is sent, RFC 768).
fn assert_same_bytes(emitted: Option<&[u8]>, original: Option<&[u8]>, field: usize, what: &str) {
    let (Some(emitted), Some(original)) = (emitted, original) else {
        panic!("{what}: missing bytes");
    };
    let zero = [0x00, 0x00];
    let ones = [0xff, 0xff];
    if emitted.get(field..field + 2) == Some(&zero[..])
        && original.get(field..field + 2) == Some(&ones[..])
    {
        let mut normalized = emitted.to_vec();
        if let Some(f) = normalized.get_mut(field..field + 2) {
            f.copy_from_slice(&ones);
        }
        assert_eq!(normalized, original, "{what}");
    } else {
        assert_eq!(emitted, original, "{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_reaches_its_deepest_layer() {
        let reach: Vec<FuzzReach> = samples::all().iter().map(|f| fuzz_parse_frame(f)).collect();
        assert!(reach[0].arp);
        assert!(reach[1].tcp && reach[2].tcp && reach[6].tcp);
        assert!(reach[3].icmp && reach[5].icmp);
        assert!(reach[4].udp);
    }

    /// Found by `cargo fuzz` in its first second: an echo whose checksum field is 0xffff
    /// (one's complement -0) verifies, and re-emits with 0x0000 (+0).
    #[test]
    fn checksum_of_all_ones_is_the_other_zero() {
        let mut frame = samples::ICMP_ECHO_REQUEST.to_vec();
        // Data chosen so the message sums to 0xffff without its checksum: all 0xff words.
        frame[34..].fill(0xff);
        frame[34..36].copy_from_slice(&[0x00, 0x00]); // type 0 (reply), code 0
        frame[36..38].copy_from_slice(&[0xff, 0xff]); // checksum: -0
        let reach = fuzz_parse_frame(&frame);
        assert!(reach.icmp);
    }

    #[test]
    fn sample_checksums_verify() {
        for frame in samples::all() {
            let frame = EthernetFrame::new_checked(&frame[..]).unwrap();
            if frame.ethertype() == EtherType::IPV4 {
                let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
                assert!(ip.verify_checksum());
            }
        }
    }
}
