//! Ethernet II frames with an optional IEEE 802.1Q VLAN tag.
//!
//! Layout (IEEE 802.3 §3.1.1 with the Ethernet II type field; the tag is IEEE 802.1Q §9.3):
//!
//! ```text
//! | dst (6) | src (6) | ethertype (2) | payload ...                            untagged, 14 B
//! | dst (6) | src (6) | 0x8100 (2) | TCI (2) | ethertype (2) | payload ...    tagged,   18 B
//!                                    TCI = PCP (3 bits) | DEI (1) | VLAN id (12)
//! ```
//!
//! The frame check sequence is not part of the buffers a port hands out, and the 60-byte
//! minimum frame size is the port's business: parsing accepts trailing padding (it stays in
//! the payload; IPv4 trims it by its total length), emitting writes the header only.

use std::fmt;

use cyclone_pmd::MacAddr;
use zerocopy::network_endian::U16;
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::{check_buffer, Layer, Result};

/// The Ethernet II header: addresses and the EtherType (or the 802.1Q TPID when tagged).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct EthernetHeader {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
    /// EtherType of the payload, or [`EtherType::VLAN`] when an 802.1Q tag follows.
    pub ethertype: U16,
}

/// The four bytes that follow an 802.1Q TPID: tag control information and the inner EtherType.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct VlanTag {
    /// Tag control information: priority (3 bits), drop eligible (1), VLAN id (12).
    pub tci: U16,
    /// EtherType of the payload.
    pub ethertype: U16,
}

/// An EtherType (IEEE 802.3 §3.2.6, values from the IEEE registry). An open set: unknown values
/// are kept as they are, for the stack to count and drop.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q VLAN tag (the TPID).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// IEEE 802.1ad service tag (QinQ outer tag); not parsed here.
    pub const QINQ: EtherType = EtherType(0x88a8);
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("IPv4"),
            EtherType::ARP => f.write_str("ARP"),
            EtherType::VLAN => f.write_str("VLAN"),
            EtherType::IPV6 => f.write_str("IPv6"),
            EtherType::QINQ => f.write_str("QinQ"),
            EtherType(other) => write!(f, "EtherType({other:#06x})"),
        }
    }
}

/// An 802.1Q tag's control information (IEEE 802.1Q §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vlan {
    /// VLAN id, 0..=4095 (0: priority tag only, 4095: reserved).
    pub id: u16,
    /// Priority code point, 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
}

impl Vlan {
    /// A tag for VLAN `id` with priority 0.
    pub fn new(id: u16) -> Vlan {
        Vlan {
            id: id & 0x0fff,
            pcp: 0,
            dei: false,
        }
    }

    /// Decodes a TCI.
    pub fn from_tci(tci: u16) -> Vlan {
        Vlan {
            id: tci & 0x0fff,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
        }
    }

    /// Encodes the TCI (out-of-range fields are masked).
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 0x7) << 13) | (u16::from(self.dei) << 12) | (self.id & 0x0fff)
    }
}

/// A view of an Ethernet frame: header, optional VLAN tag, payload.
pub struct EthernetFrame<B> {
    header: Ref<B, EthernetHeader>,
    vlan: Option<Ref<B, VlanTag>>,
    payload: B,
}

impl<B: ByteSlice> fmt::Debug for EthernetFrame<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthernetFrame")
            .field("header", self.header())
            .field("vlan", &self.vlan())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl<B: SplitByteSlice> EthernetFrame<B> {
    /// Splits `bytes` into header, tag and payload; fails with `Truncated` if they are shorter
    /// than 14 bytes (18 when tagged). Never panics afterwards.
    pub fn new_checked(bytes: B) -> Result<Self> {
        let len = bytes.len();
        let (header, rest) = Ref::<B, EthernetHeader>::from_prefix(bytes)
            .map_err(|_| truncated(EthernetRepr::HEADER_LEN, len))?;
        if header.ethertype.get() == EtherType::VLAN.0 {
            let (vlan, payload) = Ref::<B, VlanTag>::from_prefix(rest)
                .map_err(|_| truncated(EthernetRepr::VLAN_HEADER_LEN, len))?;
            Ok(EthernetFrame {
                header,
                vlan: Some(vlan),
                payload,
            })
        } else {
            Ok(EthernetFrame {
                header,
                vlan: None,
                payload: rest,
            })
        }
    }
}

fn truncated(needed: usize, got: usize) -> super::WireError {
    super::WireError::Truncated {
        layer: Layer::Ethernet,
        needed,
        got,
    }
}

impl<B: ByteSlice> EthernetFrame<B> {
    /// The fixed header (its `ethertype` is the TPID when tagged).
    pub fn header(&self) -> &EthernetHeader {
        &self.header
    }

    /// The destination address.
    pub fn dst(&self) -> MacAddr {
        MacAddr(self.header.dst)
    }

    /// The source address.
    pub fn src(&self) -> MacAddr {
        MacAddr(self.header.src)
    }

    /// The payload's EtherType (the inner one when tagged).
    pub fn ethertype(&self) -> EtherType {
        match &self.vlan {
            Some(tag) => EtherType(tag.ethertype.get()),
            None => EtherType(self.header.ethertype.get()),
        }
    }

    /// The 802.1Q tag, if any.
    pub fn vlan(&self) -> Option<Vlan> {
        self.vlan.as_ref().map(|tag| Vlan::from_tci(tag.tci.get()))
    }

    /// 14, or 18 when tagged.
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            EthernetRepr::VLAN_HEADER_LEN
        } else {
            EthernetRepr::HEADER_LEN
        }
    }

    /// The bytes after the header (including any padding up to the minimum frame size).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload, keeping the buffer's lifetime.
    pub fn into_payload(self) -> B {
        self.payload
    }
}

impl<B: ByteSliceMut> EthernetFrame<B> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.header.dst = mac.0;
    }

    /// Sets the source address.
    pub fn set_src(&mut self, mac: MacAddr) {
        self.header.src = mac.0;
    }

    /// Sets the payload's EtherType (the inner one when tagged).
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        match &mut self.vlan {
            Some(tag) => tag.ethertype.set(ethertype.0),
            None => self.header.ethertype.set(ethertype.0),
        }
    }

    /// Rewrites the tag of a tagged frame; returns `false` (and changes nothing) if the frame
    /// is untagged: adding a tag moves the payload, which [`EthernetRepr::emit`] does.
    pub fn set_vlan(&mut self, vlan: Vlan) -> bool {
        match &mut self.vlan {
            Some(tag) => {
                tag.tci.set(vlan.tci());
                true
            }
            None => false,
        }
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.payload
    }
}

/// A parsed Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src: MacAddr,
    /// Destination address.
    pub dst: MacAddr,
    /// The payload's EtherType (never [`EtherType::VLAN`] when `vlan` is set).
    pub ethertype: EtherType,
    /// The 802.1Q tag, if any.
    pub vlan: Option<Vlan>,
}

impl EthernetRepr {
    /// Length of an untagged header.
    pub const HEADER_LEN: usize = 14;
    /// Length of a header with one 802.1Q tag.
    pub const VLAN_HEADER_LEN: usize = 18;

    /// Reads a checked frame's header (nothing left to validate: any EtherType is kept).
    pub fn parse<B: ByteSlice>(frame: &EthernetFrame<B>) -> EthernetRepr {
        EthernetRepr {
            src: frame.src(),
            dst: frame.dst(),
            ethertype: frame.ethertype(),
            vlan: frame.vlan(),
        }
    }

    /// 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            Self::VLAN_HEADER_LEN
        } else {
            Self::HEADER_LEN
        }
    }

    /// Writes the header into `buf[..self.header_len()]`; the payload goes after it.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        check_buffer(Layer::Ethernet, self.header_len(), len)?;
        let (header, rest) = Ref::<&mut [u8], EthernetHeader>::from_prefix(buf)
            .map_err(|_| buffer_too_small(self.header_len(), len))?;
        let header = Ref::into_mut(header);
        header.dst = self.dst.0;
        header.src = self.src.0;
        match self.vlan {
            Some(vlan) => {
                header.ethertype.set(EtherType::VLAN.0);
                let (tag, _) = Ref::<&mut [u8], VlanTag>::from_prefix(rest)
                    .map_err(|_| buffer_too_small(self.header_len(), len))?;
                let tag = Ref::into_mut(tag);
                tag.tci.set(vlan.tci());
                tag.ethertype.set(self.ethertype.0);
            }
            None => header.ethertype.set(self.ethertype.0),
        }
        Ok(())
    }
}

fn buffer_too_small(needed: usize, got: usize) -> super::WireError {
    super::WireError::BufferTooSmall {
        layer: Layer::Ethernet,
        needed,
        got,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireError;

    /// An ARP request as captured (Wireshark's `arp-storm` sample): broadcast, untagged,
    /// padded to the 60-byte minimum.
    const ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x18,
        0xa6, 0xac, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0xa6, 0xad, 0x9f, // arp
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, // padding
    ];

    /// The start of a frame on VLAN 100, priority 5, carrying IPv4.
    const TAGGED: [u8; 22] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x81, 0x00, 0xa0,
        0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x14,
    ];

    #[test]
    fn parses_untagged() {
        let frame = EthernetFrame::new_checked(&ARP_FRAME[..]).unwrap();
        assert_eq!(frame.header_len(), 14);
        assert_eq!(frame.dst(), MacAddr::BROADCAST);
        assert_eq!(frame.src(), MacAddr([0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54]));
        assert_eq!(frame.ethertype(), EtherType::ARP);
        assert_eq!(frame.vlan(), None);
        assert_eq!(frame.payload().len(), 46);
        let repr = EthernetRepr::parse(&frame);
        let mut out = [0u8; 14];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, ARP_FRAME[..14]);
    }

    #[test]
    fn parses_tagged() {
        let frame = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(frame.header_len(), 18);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(
            frame.vlan(),
            Some(Vlan {
                id: 100,
                pcp: 5,
                dei: false
            })
        );
        assert_eq!(frame.payload(), &[0x45, 0x00, 0x00, 0x14]);
        let repr = EthernetRepr::parse(&frame);
        assert_eq!(repr.header_len(), 18);
        let mut out = [0u8; 18];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, TAGGED[..18]);
    }

    #[test]
    fn truncated_frames() {
        for len in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&ARP_FRAME[..len]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Ethernet,
                    needed: 14,
                    got: len
                }
            );
        }
        for len in 14..18 {
            assert_eq!(
                EthernetFrame::new_checked(&TAGGED[..len]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Ethernet,
                    needed: 18,
                    got: len
                }
            );
        }
        assert!(EthernetFrame::new_checked(&ARP_FRAME[..14]).is_ok());
    }

    #[test]
    fn setters_and_emit_round_trip() {
        let mut bytes = TAGGED;
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        frame.set_dst(MacAddr::local(1));
        frame.set_src(MacAddr::local(2));
        frame.set_ethertype(EtherType::ARP);
        assert!(frame.set_vlan(Vlan::new(4000)));
        frame.payload_mut()[0] = 0x46;
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        let repr = EthernetRepr::parse(&frame);
        assert_eq!(
            repr,
            EthernetRepr {
                src: MacAddr::local(2),
                dst: MacAddr::local(1),
                ethertype: EtherType::ARP,
                vlan: Some(Vlan::new(4000)),
            }
        );
        assert_eq!(frame.payload()[0], 0x46);

        let mut untagged = ARP_FRAME;
        let mut frame = EthernetFrame::new_checked(&mut untagged[..]).unwrap();
        assert!(!frame.set_vlan(Vlan::new(1)));
    }

    #[test]
    fn emit_needs_room() {
        let repr = EthernetRepr {
            src: MacAddr::local(1),
            dst: MacAddr::BROADCAST,
            ethertype: EtherType::IPV4,
            vlan: Some(Vlan::new(7)),
        };
        let mut small = [0u8; 17];
        assert_eq!(
            repr.emit(&mut small).unwrap_err(),
            WireError::BufferTooSmall {
                layer: Layer::Ethernet,
                needed: 18,
                got: 17
            }
        );
    }

    #[test]
    fn vlan_tci_round_trip() {
        for tci in [0u16, 1, 0x0fff, 0x1000, 0xe064, 0xffff] {
            assert_eq!(Vlan::from_tci(tci).tci(), tci);
        }
        assert_eq!(format!("{:?}", EtherType(0x1234)), "EtherType(0x1234)");
    }
}
