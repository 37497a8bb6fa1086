//! ICMPv4 (RFC 792): echo request/reply and destination unreachable.
//!
//! ```text
//! | type (1) | code (1) | checksum (2) | rest of header (4) | data ...
//!   echo (types 8, 0):       rest = identifier (2) | sequence number (2);  data = echoed bytes
//!   unreachable (type 3):    rest = unused (2) | next-hop MTU (2, RFC 1191 §4, code 4);
//!                            data = the original IP header + at least 64 bits of its data
//! ```
//!
//! The checksum covers the whole ICMP message (RFC 792, "Checksum"). Other types are
//! `Unsupported` by [`Icmpv4Repr::parse`]; the [`Icmpv4Packet`] view reads any type.

use std::fmt;

use zerocopy::network_endian::U16;
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::checksum;
use super::{check_buffer, Ipv4Repr, Layer, Result, RxChecksum, TxChecksum, WireError};

/// The 8-byte ICMP header (RFC 792).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct Icmpv4Header {
    /// Message type.
    pub msg_type: u8,
    /// Code (meaning depends on the type).
    pub code: u8,
    /// Checksum of the whole message.
    pub checksum: U16,
    /// Echo: identifier. Unreachable: unused.
    pub word1: U16,
    /// Echo: sequence number. Unreachable with code 4: next-hop MTU (RFC 1191 §4).
    pub word2: U16,
}

/// An ICMPv4 message type (RFC 792). An open set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Icmpv4Type(pub u8);

impl Icmpv4Type {
    /// Echo reply.
    pub const ECHO_REPLY: Icmpv4Type = Icmpv4Type(0);
    /// Destination unreachable.
    pub const DST_UNREACHABLE: Icmpv4Type = Icmpv4Type(3);
    /// Echo request.
    pub const ECHO_REQUEST: Icmpv4Type = Icmpv4Type(8);
    /// Time exceeded (not parsed into a repr).
    pub const TIME_EXCEEDED: Icmpv4Type = Icmpv4Type(11);
}

impl fmt::Debug for Icmpv4Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv4Type::ECHO_REPLY => f.write_str("EchoReply"),
            Icmpv4Type::DST_UNREACHABLE => f.write_str("DstUnreachable"),
            Icmpv4Type::ECHO_REQUEST => f.write_str("EchoRequest"),
            Icmpv4Type::TIME_EXCEEDED => f.write_str("TimeExceeded"),
            Icmpv4Type(other) => write!(f, "Icmpv4Type({other})"),
        }
    }
}

/// A destination unreachable code (RFC 792; 4 with a next-hop MTU per RFC 1191 §4; 9-13 from
/// RFC 1122 §3.2.2.1 and RFC 1812 §5.2.7.1). An open set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnreachableCode(pub u8);

impl UnreachableCode {
    /// Net unreachable.
    pub const NET: UnreachableCode = UnreachableCode(0);
    /// Host unreachable.
    pub const HOST: UnreachableCode = UnreachableCode(1);
    /// Protocol unreachable (sent by the destination host).
    pub const PROTOCOL: UnreachableCode = UnreachableCode(2);
    /// Port unreachable (sent by the destination host: no UDP socket).
    pub const PORT: UnreachableCode = UnreachableCode(3);
    /// Fragmentation needed and DF set: path MTU discovery (RFC 1191).
    pub const FRAG_NEEDED: UnreachableCode = UnreachableCode(4);
    /// Source route failed.
    pub const SOURCE_ROUTE_FAILED: UnreachableCode = UnreachableCode(5);
    /// Communication administratively prohibited (RFC 1812 §5.2.7.1).
    pub const ADMIN_PROHIBITED: UnreachableCode = UnreachableCode(13);
}

/// A view of an ICMPv4 message: header and data.
pub struct Icmpv4Packet<B> {
    header: Ref<B, Icmpv4Header>,
    data: B,
}

impl<B: ByteSlice> fmt::Debug for Icmpv4Packet<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Icmpv4Packet")
            .field("header", self.header())
            .field("data_len", &self.data().len())
            .finish()
    }
}

impl<B: SplitByteSlice> Icmpv4Packet<B> {
    /// Splits `bytes` (the IP payload) into header and data; `Truncated` below 8 bytes.
    pub fn new_checked(bytes: B) -> Result<Self> {
        let got = bytes.len();
        let (header, data) =
            Ref::<B, Icmpv4Header>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Icmpv4,
                needed: Icmpv4Repr::HEADER_LEN,
                got,
            })?;
        Ok(Icmpv4Packet { header, data })
    }
}

impl<B: ByteSlice> Icmpv4Packet<B> {
    /// The header.
    pub fn header(&self) -> &Icmpv4Header {
        &self.header
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv4Type {
        Icmpv4Type(self.header.msg_type)
    }

    /// Code.
    pub fn code(&self) -> u8 {
        self.header.code
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.header.checksum.get()
    }

    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        self.header.word1.get()
    }

    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        self.header.word2.get()
    }

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191 §4; 0 from old routers).
    pub fn next_hop_mtu(&self) -> u16 {
        self.header.word2.get()
    }

    /// The bytes after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::add(
            checksum::sum(self.header.as_bytes()),
            checksum::sum(&self.data),
        ) == 0xffff
    }
}

impl<B: ByteSliceMut> Icmpv4Packet<B> {
    /// The header, writable (the checksum is not updated).
    pub fn header_mut(&mut self) -> &mut Icmpv4Header {
        &mut self.header
    }

    /// The data, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Recomputes the checksum over header and data.
    pub fn fill_checksum(&mut self) {
        self.header.checksum.set(0);
        let sum = checksum::add(
            checksum::sum(self.header.as_bytes()),
            checksum::sum(&self.data),
        );
        self.header.checksum.set(!sum);
    }

    /// Turns an echo request into its reply in place (RFC 792 "Echo or Echo Reply Message":
    /// the type becomes 0, identifier, sequence number and data stay), updating the checksum
    /// incrementally (RFC 1624 §3) rather than summing the data again. Returns `false` and
    /// changes nothing if this is not an echo request.
    pub fn echo_request_into_reply(&mut self) -> bool {
        if self.header.msg_type != Icmpv4Type::ECHO_REQUEST.0 {
            return false;
        }
        let old = u16::from_be_bytes([self.header.msg_type, self.header.code]);
        let new = u16::from_be_bytes([Icmpv4Type::ECHO_REPLY.0, self.header.code]);
        self.header.msg_type = Icmpv4Type::ECHO_REPLY.0;
        let hc = checksum::update(self.header.checksum.get(), old, new);
        // RFC 1624's update yields +0 (0x0000) for a message that is now all zeros (a reply
        // with id 0, seq 0 and zero data; ICMP has no pseudo-header to make it non-zero), where
        // only 0xffff verifies. 0xffff is valid whenever 0x0000 is (both encode zero), so use
        // it. (Found by `cargo fuzz`.)
        self.header.checksum.set(if hc == 0 { 0xffff } else { hc });
        true
    }
}

/// A parsed ICMPv4 message of a supported type. Borrows its data from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to echo.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// Why.
        code: UnreachableCode,
        /// Next-hop MTU for [`UnreachableCode::FRAG_NEEDED`] (RFC 1191 §4), else 0.
        next_hop_mtu: u16,
        /// The header of the datagram that could not be delivered.
        header: Ipv4Repr,
        /// The quoted bytes after that header (RFC 792: at least its first 64 bits, enough
        /// for the TCP/UDP ports).
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Length of the ICMP header.
    pub const HEADER_LEN: usize = 8;
    /// Bytes of original data an error message must quote (RFC 792: "64 bits").
    pub const QUOTED_DATA_LEN: usize = 8;

    /// Reads a checked message, verifying its checksum if `csum` says so. Types other than
    /// echo request/reply and destination unreachable are `Unsupported`. The code of an echo
    /// message is not checked (Linux ignores it too). An unreachable message must quote an
    /// IPv4 header and 8 bytes after it (`Truncated` otherwise).
    pub fn parse(packet: &Icmpv4Packet<&'a [u8]>, csum: RxChecksum) -> Result<Icmpv4Repr<'a>> {
        if csum == RxChecksum::Verify && !packet.verify_checksum() {
            return Err(WireError::BadChecksum {
                layer: Layer::Icmpv4,
            });
        }
        let data: &'a [u8] = packet.data;
        match packet.msg_type() {
            Icmpv4Type::ECHO_REQUEST => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Type::ECHO_REPLY => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Type::DST_UNREACHABLE => {
                let (header, quoted) = Ipv4Repr::parse_quoted(data)?;
                if quoted.len() < Self::QUOTED_DATA_LEN {
                    return Err(WireError::Truncated {
                        layer: Layer::Icmpv4,
                        needed: data.len().saturating_sub(quoted.len()) + Self::QUOTED_DATA_LEN,
                        got: data.len(),
                    });
                }
                let code = UnreachableCode(packet.code());
                Ok(Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: if code == UnreachableCode::FRAG_NEEDED {
                        packet.next_hop_mtu()
                    } else {
                        0
                    },
                    header,
                    data: quoted,
                })
            }
            other => Err(WireError::Unsupported {
                layer: Layer::Icmpv4,
                field: "type",
                value: other.0.into(),
            }),
        }
    }

    /// Bytes of the whole message: header, (quoted header,) data.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                Self::HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { data, .. } => {
                Self::HEADER_LEN + Ipv4Repr::HEADER_LEN + data.len()
            }
        }
    }

    /// Writes the whole message into `buf[..self.buffer_len()]`, copying the data. No device
    /// offloads ICMP checksums; [`TxChecksum::Offload`] leaves the field 0 all the same.
    pub fn emit(&self, buf: &mut [u8], csum: TxChecksum) -> Result<()> {
        let needed = self.buffer_len();
        let got = buf.len();
        check_buffer(Layer::Icmpv4, needed, got)?;
        let too_small = || WireError::BufferTooSmall {
            layer: Layer::Icmpv4,
            needed,
            got,
        };
        let message = buf.get_mut(..needed).ok_or_else(too_small)?;
        let (header, rest) =
            Ref::<&mut [u8], Icmpv4Header>::from_prefix(message).map_err(|_| too_small())?;
        let header = Ref::into_mut(header);
        let (msg_type, code, word1, word2) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                copy(rest, data).ok_or_else(too_small)?;
                (Icmpv4Type::ECHO_REQUEST, 0, ident, seq_no)
            }
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                copy(rest, data).ok_or_else(too_small)?;
                (Icmpv4Type::ECHO_REPLY, 0, ident, seq_no)
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                header: quoted,
                data,
            } => {
                quoted.emit(rest, TxChecksum::Compute)?;
                let after = rest.get_mut(Ipv4Repr::HEADER_LEN..).ok_or_else(too_small)?;
                copy(after, data).ok_or_else(too_small)?;
                (Icmpv4Type::DST_UNREACHABLE, code.0, 0, next_hop_mtu)
            }
        };
        *header = Icmpv4Header {
            msg_type: msg_type.0,
            code,
            checksum: U16::ZERO,
            word1: U16::new(word1),
            word2: U16::new(word2),
        };
        if csum == TxChecksum::Compute {
            let sum = checksum::add(checksum::sum(header.as_bytes()), checksum::sum(rest));
            header.checksum.set(!sum);
        }
        Ok(())
    }
}

/// Copies `src` to the start of `dst`; `None` if it does not fit.
fn copy(dst: &mut [u8], src: &[u8]) -> Option<()> {
    dst.get_mut(..src.len())?.copy_from_slice(src);
    Some(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::fuzz::samples;
    use crate::wire::IpProtocol;

    fn echo_bytes() -> &'static [u8] {
        &samples::ICMP_ECHO_REQUEST[14 + 20..]
    }

    #[test]
    fn parses_linux_ping() {
        let packet = Icmpv4Packet::new_checked(echo_bytes()).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(packet.checksum(), 0x86c8);
        let repr = Icmpv4Repr::parse(&packet, RxChecksum::Verify).unwrap();
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        else {
            panic!("not an echo request: {repr:?}");
        };
        assert_eq!((ident, seq_no, data.len()), (0x1c2b, 1, 56));
        assert_eq!(&data[16..], &(0x10..0x38).collect::<Vec<u8>>()[..]);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, TxChecksum::Compute).unwrap();
        assert_eq!(out, echo_bytes());
    }

    #[test]
    fn echo_reply_in_place_equals_emitted_reply() {
        let mut bytes = echo_bytes().to_vec();
        let mut packet = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(packet.echo_request_into_reply());
        assert!(!packet.echo_request_into_reply());
        let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum());
        let Ok(Icmpv4Repr::EchoReply { data, .. }) = Icmpv4Repr::parse(&packet, RxChecksum::Verify)
        else {
            panic!("not a reply");
        };
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1c2b,
            seq_no: 1,
            data,
        };
        let mut out = vec![0u8; reply.buffer_len()];
        reply.emit(&mut out, TxChecksum::Compute).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn all_zero_echo_reply_gets_a_valid_checksum() {
        let request = Icmpv4Repr::EchoRequest {
            ident: 0,
            seq_no: 0,
            data: &[0; 56],
        };
        let mut bytes = vec![0u8; request.buffer_len()];
        request.emit(&mut bytes, TxChecksum::Compute).unwrap();
        assert_eq!(bytes[2..4], [0xf7, 0xff]);
        let mut packet = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(packet.echo_request_into_reply());
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn parses_port_unreachable() {
        let bytes = &samples::ICMP_PORT_UNREACHABLE[14 + 20..];
        let packet = Icmpv4Packet::new_checked(bytes).unwrap();
        let repr = Icmpv4Repr::parse(&packet, RxChecksum::Verify).unwrap();
        let Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu,
            header,
            data,
        } = repr
        else {
            panic!("not unreachable: {repr:?}");
        };
        assert_eq!(code, UnreachableCode::PORT);
        assert_eq!(next_hop_mtu, 0);
        assert_eq!(header.src, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(header.dst, Ipv4Addr::new(10, 0, 2, 3));
        assert_eq!(header.protocol, IpProtocol::UDP);
        // The quoted UDP header: ports 53211 -> 53.
        assert_eq!(data[..4], [0xcf, 0xdb, 0x00, 0x35]);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, TxChecksum::Compute).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn frag_needed_carries_mtu() {
        let bytes = &samples::ICMP_PORT_UNREACHABLE[14 + 20..];
        let Ok(Icmpv4Repr::DstUnreachable { header, data, .. }) = Icmpv4Repr::parse(
            &Icmpv4Packet::new_checked(bytes).unwrap(),
            RxChecksum::Verify,
        ) else {
            panic!()
        };
        let repr = Icmpv4Repr::DstUnreachable {
            code: UnreachableCode::FRAG_NEEDED,
            next_hop_mtu: 1400,
            header,
            data,
        };
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, TxChecksum::Compute).unwrap();
        assert_eq!(out[6..8], 1400u16.to_be_bytes());
        let parsed = Icmpv4Repr::parse(
            &Icmpv4Packet::new_checked(&out[..]).unwrap(),
            RxChecksum::Verify,
        )
        .unwrap();
        assert_eq!(parsed, repr);
    }

    #[test]
    fn rejects_bad_messages() {
        for len in 0..8 {
            assert!(matches!(
                Icmpv4Packet::new_checked(&echo_bytes()[..len]),
                Err(WireError::Truncated { needed: 8, .. })
            ));
        }
        let mut bad = echo_bytes().to_vec();
        bad[20] ^= 1;
        let packet = Icmpv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&packet, RxChecksum::Verify),
            Err(WireError::BadChecksum {
                layer: Layer::Icmpv4
            })
        );
        assert!(Icmpv4Repr::parse(&packet, RxChecksum::Trust).is_ok());
        let mut other = echo_bytes().to_vec();
        other[0] = 13; // timestamp request
        let packet = Icmpv4Packet::new_checked(&other[..]).unwrap();
        assert!(matches!(
            Icmpv4Repr::parse(&packet, RxChecksum::Trust),
            Err(WireError::Unsupported { value: 13, .. })
        ));
        // An unreachable quoting too little.
        let short = &samples::ICMP_PORT_UNREACHABLE[14 + 20..14 + 20 + 8 + 20 + 7];
        let packet = Icmpv4Packet::new_checked(short).unwrap();
        assert!(matches!(
            Icmpv4Repr::parse(&packet, RxChecksum::Trust),
            Err(WireError::Truncated {
                layer: Layer::Icmpv4,
                needed: 28,
                got: 27
            })
        ));
        let repr = Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: &[1, 2, 3],
        };
        assert!(matches!(
            repr.emit(&mut [0u8; 10], TxChecksum::Compute),
            Err(WireError::BufferTooSmall { needed: 11, .. })
        ));
    }
}
