//! Malformed frames: every prefix and every single-byte mutation of real frames, bad checksums,
//! bad length fields and hostile TCP options. Parsing must return an error (the right one)
//! and never panic.

use cyclone_stack::wire::{
    samples, ArpPacket, ArpRepr, ErrorKind, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Layer, RxChecksum, TcpPacket, TcpRepr,
    TxChecksum, UdpPacket, UdpRepr, WireError,
};

/// How far a frame parsed.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Arp(ArpRepr),
    Tcp(TcpRepr, usize),
    Udp(UdpRepr, usize),
    Icmp,
    OtherEtherType(EtherType),
    OtherProtocol(IpProtocol),
}

/// Parses Ethernet → ARP | IPv4 → TCP/UDP/ICMP, the way the stack's receive path will.
fn parse_chain(frame: &[u8], csum: RxChecksum) -> Result<Parsed, WireError> {
    let frame = EthernetFrame::new_checked(frame)?;
    let eth = EthernetRepr::parse(&frame);
    match eth.ethertype {
        EtherType::ARP => {
            let packet = ArpPacket::new_checked(frame.payload())?;
            Ok(Parsed::Arp(ArpRepr::parse(&packet)?))
        }
        EtherType::IPV4 => {
            let packet = Ipv4Packet::new_checked(frame.payload())?;
            let ip = Ipv4Repr::parse(&packet, csum)?;
            let payload = packet.payload();
            match ip.protocol {
                IpProtocol::TCP => {
                    let tcp = TcpPacket::new_checked(payload)?;
                    let repr = TcpRepr::parse(&tcp, ip.src, ip.dst, csum)?;
                    Ok(Parsed::Tcp(repr, tcp.payload().len()))
                }
                IpProtocol::UDP => {
                    let udp = UdpPacket::new_checked(payload)?;
                    let repr = UdpRepr::parse(&udp, ip.src, ip.dst, csum)?;
                    Ok(Parsed::Udp(repr, udp.payload().len()))
                }
                IpProtocol::ICMP => {
                    let icmp = Icmpv4Packet::new_checked(payload)?;
                    Icmpv4Repr::parse(&icmp, csum)?;
                    Ok(Parsed::Icmp)
                }
                other => Ok(Parsed::OtherProtocol(other)),
            }
        }
        other => Ok(Parsed::OtherEtherType(other)),
    }
}

/// The IPv4 samples: none has link padding, so the IP total length reaches the last byte.
fn ipv4_samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tcp syn", samples::TCP_SYN.to_vec()),
        ("tcp data", samples::TCP_DATA.to_vec()),
        ("udp", samples::UDP_DNS_QUERY.to_vec()),
        ("icmp echo", samples::ICMP_ECHO_REQUEST.to_vec()),
        ("icmp unreachable", samples::ICMP_PORT_UNREACHABLE.to_vec()),
    ]
}

#[test]
fn samples_parse_fully() {
    for (name, frame) in ipv4_samples() {
        let parsed = parse_chain(&frame, RxChecksum::Verify);
        assert!(
            matches!(parsed, Ok(Parsed::Tcp(..) | Parsed::Udp(..) | Parsed::Icmp)),
            "{name}: {parsed:?}"
        );
    }
    assert!(matches!(
        parse_chain(&samples::ARP_REQUEST, RxChecksum::Verify),
        Ok(Parsed::Arp(_))
    ));
}

#[test]
fn every_prefix_is_truncated() {
    for (name, frame) in ipv4_samples() {
        for len in 0..frame.len() {
            for csum in [RxChecksum::Verify, RxChecksum::Trust] {
                let err = parse_chain(&frame[..len], csum).unwrap_err();
                let expected_layer = if len < 14 {
                    Layer::Ethernet
                } else {
                    Layer::Ipv4
                };
                assert_eq!(err.kind(), ErrorKind::Truncated, "{name} [..{len}]: {err}");
                assert_eq!(err.layer(), expected_layer, "{name} [..{len}]: {err}");
            }
        }
    }
    // ARP: the 28-byte packet ends at 42; the rest is padding.
    for len in 0..samples::ARP_REQUEST.len() {
        let parsed = parse_chain(&samples::ARP_REQUEST[..len], RxChecksum::Verify);
        if len < 42 {
            assert_eq!(
                parsed.unwrap_err().kind(),
                ErrorKind::Truncated,
                "[..{len}]"
            );
        } else {
            assert!(matches!(parsed, Ok(Parsed::Arp(_))), "[..{len}]");
        }
    }
}

/// Where a sample's L4 header starts, and where its TCP data-offset byte is, if any.
fn l4_offsets(frame: &[u8]) -> (usize, Option<usize>) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let l4 = 14 + ihl;
    let data_offset = (frame[23] == 6).then_some(l4 + 12);
    (l4, data_offset)
}

#[test]
fn every_single_byte_mutation_is_caught() {
    for (name, frame) in ipv4_samples() {
        let (l4, data_offset_byte) = l4_offsets(&frame);
        let mut mutated = frame.clone();
        for at in 0..frame.len() {
            for value in 0..=255u8 {
                if value == frame[at] {
                    continue;
                }
                mutated[at] = value;
                // Trusting checksums: anything goes, as long as nothing panics.
                let _ = parse_chain(&mutated, RxChecksum::Trust);
                let verified = parse_chain(&mutated, RxChecksum::Verify);
                let ctx = format!("{name}: byte {at} = {value:#04x}: {verified:?}");
                match at {
                    // Addresses: the frame still parses, to the same thing.
                    0..=11 => {
                        assert_eq!(verified, parse_chain(&frame, RxChecksum::Verify), "{ctx}")
                    }
                    // EtherType: another protocol, or ARP/VLAN that fails to parse.
                    12 | 13 => assert!(
                        matches!(verified, Ok(Parsed::OtherEtherType(_)) | Err(_)),
                        "{ctx}"
                    ),
                    // IPv4 header: every change is caught by a length check or the checksum.
                    _ if at < l4 => {
                        let err = verified.expect_err(&ctx);
                        assert_eq!(err.layer(), Layer::Ipv4, "{ctx}");
                        assert!(
                            matches!(
                                err.kind(),
                                ErrorKind::BadVersion
                                    | ErrorKind::BadHeaderLen
                                    | ErrorKind::BadLength
                                    | ErrorKind::Truncated
                                    | ErrorKind::BadChecksum
                            ),
                            "{ctx}"
                        );
                    }
                    // TCP data offset: below 5, past the segment, or the checksum.
                    _ if Some(at) == data_offset_byte => {
                        let err = verified.expect_err(&ctx);
                        assert_eq!(err.layer(), Layer::Tcp, "{ctx}");
                        assert!(
                            matches!(
                                err.kind(),
                                ErrorKind::BadHeaderLen
                                    | ErrorKind::Truncated
                                    | ErrorKind::BadChecksum
                            ),
                            "{ctx}"
                        );
                    }
                    // L4 header and data: the checksum catches every single-byte change
                    // (or, for the UDP length, the length check).
                    _ => {
                        let err = verified.expect_err(&ctx);
                        assert!(
                            err.kind() == ErrorKind::BadChecksum
                                || (err.layer() == Layer::Udp
                                    && matches!(
                                        err.kind(),
                                        ErrorKind::Truncated | ErrorKind::BadLength
                                    )),
                            "{ctx}"
                        );
                        assert_ne!(err.layer(), Layer::Ipv4, "{ctx}");
                    }
                }
            }
            mutated[at] = frame[at];
        }
    }
}

#[test]
fn arp_mutations_never_panic() {
    let frame = samples::ARP_REQUEST;
    let mut mutated = frame;
    for at in 14..42 {
        for value in 0..=255u8 {
            mutated[at] = value;
            match parse_chain(&mutated, RxChecksum::Verify) {
                Ok(Parsed::Arp(_)) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "byte {at}: {e}"),
                other => panic!("byte {at}: {other:?}"),
            }
        }
        mutated[at] = frame[at];
    }
}

fn flip_checksum(frame: &[u8], at: usize) -> Vec<u8> {
    let mut bad = frame.to_vec();
    bad[at] ^= 0x5a;
    bad
}

#[test]
fn bad_checksums_are_rejected_unless_trusted() {
    // IPv4 header checksum at 24..26 in every untagged sample.
    for (name, frame) in ipv4_samples() {
        let bad = flip_checksum(&frame, 24);
        assert_eq!(
            parse_chain(&bad, RxChecksum::Verify),
            Err(WireError::BadChecksum { layer: Layer::Ipv4 }),
            "{name}"
        );
        assert_eq!(
            parse_chain(&bad, RxChecksum::Trust),
            parse_chain(&frame, RxChecksum::Verify),
            "{name}"
        );
    }
    let cases = [
        (&samples::TCP_SYN[..], 34 + 16, Layer::Tcp),
        (&samples::TCP_DATA[..], 34 + 16, Layer::Tcp),
        (&samples::UDP_DNS_QUERY[..], 34 + 6, Layer::Udp),
        (&samples::ICMP_ECHO_REQUEST[..], 34 + 2, Layer::Icmpv4),
    ];
    for (frame, at, layer) in cases {
        let bad = flip_checksum(frame, at);
        assert_eq!(
            parse_chain(&bad, RxChecksum::Verify),
            Err(WireError::BadChecksum { layer })
        );
        assert!(parse_chain(&bad, RxChecksum::Trust).is_ok());
    }
}

/// Rebuilds the TCP SYN sample with `options` (a multiple of 4 bytes) and correct checksums.
fn syn_with_options(options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let src = "10.0.2.15".parse().unwrap();
    let dst = "93.184.216.34".parse().unwrap();
    let mut frame = samples::TCP_SYN[..34 + 20].to_vec();
    frame.extend_from_slice(options);
    let tcp_len = 20 + options.len();
    frame[34 + 12] = ((tcp_len / 4) as u8) << 4;
    let mut ip = Ipv4Repr::parse(
        &Ipv4Packet::new_checked(&samples::TCP_SYN[14..]).unwrap(),
        RxChecksum::Verify,
    )
    .unwrap();
    ip.payload_len = tcp_len;
    ip.emit(&mut frame[14..34], TxChecksum::Compute).unwrap();
    let mut tcp = TcpPacket::new_checked(&mut frame[34..]).unwrap();
    tcp.fill_checksum(src, dst);
    frame
}

#[test]
fn hostile_tcp_options_are_errors_not_loops() {
    let cases: [(&[u8], u8); 6] = [
        (&[0x22, 0x00, 0x01, 0x01], 0x22),                   // zero length
        (&[0x22, 0x01, 0x01, 0x01], 0x22),                   // length 1
        (&[0x02, 0x00, 0x05, 0xb4], 0x02),                   // MSS with zero length
        (&[0x01, 0x01, 0x22, 0x09], 0x22),                   // runs past the header
        (&[0x01, 0x01, 0x01, 0x08], 0x08),                   // no length byte
        (&[0x05, 0x09, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], 0x05), // SACK with a bad length
    ];
    for (options, kind) in cases {
        let frame = syn_with_options(options);
        assert_eq!(
            parse_chain(&frame, RxChecksum::Verify),
            Err(WireError::BadOption {
                layer: Layer::Tcp,
                kind
            }),
            "{options:02x?}"
        );
    }
    // 40 bytes of NOPs and an unknown option: fine, no options kept.
    let mut options = vec![0x01; 36];
    options.extend_from_slice(&[0xfd, 0x04, 0xbe, 0xef]);
    let Ok(Parsed::Tcp(repr, 0)) = parse_chain(&syn_with_options(&options), RxChecksum::Verify)
    else {
        panic!("NOPs and an unknown option must parse");
    };
    assert_eq!(repr.options, Default::default());
}

#[test]
fn vlan_tagged_frame_parses_through_to_tcp() {
    let tagged = samples::all().pop().unwrap();
    let frame = EthernetFrame::new_checked(&tagged[..]).unwrap();
    assert_eq!(frame.vlan().map(|v| v.id), Some(100));
    let untagged = parse_chain(&samples::TCP_SYN, RxChecksum::Verify).unwrap();
    assert_eq!(parse_chain(&tagged, RxChecksum::Verify).unwrap(), untagged);
}
