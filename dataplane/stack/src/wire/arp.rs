//! ARP (RFC 826) for Ethernet hardware addresses and IPv4 protocol addresses, the only pair
//! this stack resolves.
//!
//! ```text
//! | htype (2) = 1 | ptype (2) = 0x0800 | hlen (1) = 6 | plen (1) = 4 | oper (2) |
//! | sender MAC (6) | sender IP (4) | target MAC (6) | target IP (4) |          28 bytes
//! ```
//!
//! Other hardware/protocol types and operations (RARP, InARP) are `Unsupported`.

use std::fmt;
use std::net::Ipv4Addr;

use cyclone_pmd::MacAddr;
use zerocopy::network_endian::U16;
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::{check_buffer, EtherType, Layer, Result, WireError};

/// `ar$hrd` for Ethernet (RFC 826, "Ethernet hardware").
pub const HTYPE_ETHERNET: u16 = 1;

/// An ARP packet for Ethernet/IPv4 (RFC 826 "Packet format").
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct ArpHeader {
    /// Hardware address space (`ar$hrd`), 1 for Ethernet.
    pub htype: U16,
    /// Protocol address space (`ar$pro`), the IPv4 EtherType.
    pub ptype: U16,
    /// Hardware address length (`ar$hln`), 6.
    pub hlen: u8,
    /// Protocol address length (`ar$pln`), 4.
    pub plen: u8,
    /// Operation (`ar$op`): 1 request, 2 reply.
    pub oper: U16,
    /// Sender hardware address (`ar$sha`).
    pub sha: [u8; 6],
    /// Sender protocol address (`ar$spa`).
    pub spa: [u8; 4],
    /// Target hardware address (`ar$tha`).
    pub tha: [u8; 6],
    /// Target protocol address (`ar$tpa`).
    pub tpa: [u8; 4],
}

/// An ARP operation (RFC 826 `ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
}

impl ArpOperation {
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

/// A view of an Ethernet/IPv4 ARP packet; bytes after the 28 (frame padding) are ignored.
pub struct ArpPacket<B> {
    header: Ref<B, ArpHeader>,
}

impl<B: ByteSlice> fmt::Debug for ArpPacket<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArpPacket")
            .field("header", self.header())
            .finish()
    }
}

impl<B: SplitByteSlice> ArpPacket<B> {
    /// Checks the length (`Truncated`) and that the hardware and protocol types are
    /// Ethernet/IPv4 (`Unsupported`): only then is the fixed 28-byte layout the right one.
    pub fn new_checked(bytes: B) -> Result<Self> {
        let len = bytes.len();
        let (header, _padding) =
            Ref::<B, ArpHeader>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Arp,
                needed: ArpRepr::BUFFER_LEN,
                got: len,
            })?;
        let unsupported = |field, value| WireError::Unsupported {
            layer: Layer::Arp,
            field,
            value,
        };
        if header.htype.get() != HTYPE_ETHERNET {
            return Err(unsupported("hardware type", header.htype.get().into()));
        }
        if header.ptype.get() != EtherType::IPV4.0 {
            return Err(unsupported("protocol type", header.ptype.get().into()));
        }
        if header.hlen != 6 {
            return Err(unsupported("hardware length", header.hlen.into()));
        }
        if header.plen != 4 {
            return Err(unsupported("protocol length", header.plen.into()));
        }
        Ok(ArpPacket { header })
    }
}

impl<B: ByteSlice> ArpPacket<B> {
    /// The header.
    pub fn header(&self) -> &ArpHeader {
        &self.header
    }

    /// The raw operation code.
    pub fn oper(&self) -> u16 {
        self.header.oper.get()
    }

    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(self.header.sha)
    }

    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.spa)
    }

    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(self.header.tha)
    }

    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.tpa)
    }
}

impl<B: ByteSliceMut> ArpPacket<B> {
    /// The header, writable.
    pub fn header_mut(&mut self) -> &mut ArpHeader {
        &mut self.header
    }
}

/// A parsed ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_mac: MacAddr,
    /// Sender protocol address.
    pub source_ip: Ipv4Addr,
    /// Target hardware address (ignored, usually zero, in a request).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Bytes of an Ethernet/IPv4 ARP packet.
    pub const BUFFER_LEN: usize = 28;

    /// Reads a checked packet; an operation other than request/reply is `Unsupported`.
    pub fn parse<B: ByteSlice>(packet: &ArpPacket<B>) -> Result<ArpRepr> {
        let operation = match packet.oper() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => {
                return Err(WireError::Unsupported {
                    layer: Layer::Arp,
                    field: "operation",
                    value: other.into(),
                })
            }
        };
        Ok(ArpRepr {
            operation,
            source_mac: packet.sender_mac(),
            source_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// A request asking who has `target_ip` (RFC 826 "Packet Generation"; the target hardware
    /// address is zero).
    pub fn request(source_mac: MacAddr, source_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_mac,
            source_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// The reply to this request from the owner of its target address (RFC 826 "Packet
    /// Reception": swap sender and target, fill in the local hardware address, set the opcode
    /// to reply).
    pub fn reply(&self, local_mac: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_mac: local_mac,
            source_ip: self.target_ip,
            target_mac: self.source_mac,
            target_ip: self.source_ip,
        }
    }

    /// 28.
    pub fn buffer_len(&self) -> usize {
        Self::BUFFER_LEN
    }

    /// Writes the packet into `buf[..28]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        check_buffer(Layer::Arp, Self::BUFFER_LEN, len)?;
        let (header, _) = Ref::<&mut [u8], ArpHeader>::from_prefix(buf).map_err(|_| {
            WireError::BufferTooSmall {
                layer: Layer::Arp,
                needed: Self::BUFFER_LEN,
                got: len,
            }
        })?;
        *Ref::into_mut(header) = ArpHeader {
            htype: U16::new(HTYPE_ETHERNET),
            ptype: U16::new(EtherType::IPV4.0),
            hlen: 6,
            plen: 4,
            oper: U16::new(self.operation.code()),
            sha: self.source_mac.0,
            spa: self.source_ip.octets(),
            tha: self.target_mac.0,
            tpa: self.target_ip.octets(),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ARP part of a captured request (Wireshark `arp-storm`): who has 24.166.173.159?
    /// tell 24.166.172.1 (00:07:0d:af:f4:54).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x18,
        0xa6, 0xac, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0xa6, 0xad, 0x9f,
    ];

    fn request_repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_mac: MacAddr([0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54]),
            source_ip: Ipv4Addr::new(24, 166, 172, 1),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(24, 166, 173, 159),
        }
    }

    #[test]
    fn parses_captured_request() {
        let packet = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request_repr());
    }

    #[test]
    fn emit_round_trips_bytes() {
        let mut out = [0u8; 28];
        request_repr().emit(&mut out).unwrap();
        assert_eq!(out, REQUEST);
        assert_eq!(
            ArpRepr::request(
                request_repr().source_mac,
                request_repr().source_ip,
                request_repr().target_ip
            ),
            request_repr()
        );
    }

    #[test]
    fn reply_swaps_and_round_trips() {
        let me = MacAddr::local(9);
        let reply = request_repr().reply(me);
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(reply.source_ip, Ipv4Addr::new(24, 166, 173, 159));
        assert_eq!(reply.target_mac, request_repr().source_mac);
        let mut out = [0u8; 28];
        reply.emit(&mut out).unwrap();
        assert_eq!(out[6..8], [0x00, 0x02]);
        let parsed = ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap();
        assert_eq!(parsed, reply);
    }

    #[test]
    fn rejects_truncated_and_foreign() {
        for len in 0..28 {
            assert!(matches!(
                ArpPacket::new_checked(&REQUEST[..len]),
                Err(WireError::Truncated { needed: 28, .. })
            ));
        }
        let mut foreign = REQUEST;
        foreign[1] = 6; // IEEE 802 hardware
        assert!(matches!(
            ArpPacket::new_checked(&foreign[..]),
            Err(WireError::Unsupported {
                field: "hardware type",
                ..
            })
        ));
        let mut rarp = REQUEST;
        rarp[7] = 3;
        let packet = ArpPacket::new_checked(&rarp[..]).unwrap();
        assert!(matches!(
            ArpRepr::parse(&packet),
            Err(WireError::Unsupported {
                field: "operation",
                value: 3,
                ..
            })
        ));
        assert!(matches!(
            request_repr().emit(&mut [0u8; 27]),
            Err(WireError::BufferTooSmall { .. })
        ));
    }
}
