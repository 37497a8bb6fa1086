//! IPv4 headers (RFC 791 §3.1).
//!
//! ```text
//!  0               1               2               3
//! |Version|  IHL  |  DSCP   |ECN|          Total Length         |
//! |        Identification         |Flags|    Fragment Offset    |
//! |  Time to Live |    Protocol   |        Header Checksum        |
//! |                        Source Address                         |
//! |                      Destination Address                      |
//! |                 Options (IHL > 5) ...                         |
//! ```
//!
//! Validation ([`Ipv4Packet::new_checked`]): version 4, `20 <= IHL*4 <= total length <= buffer`
//! (bytes past the total length are link padding and are dropped from the payload). The
//! header checksum is verified by [`Ipv4Repr::parse`] when the caller asks for it. Options are
//! skipped, never interpreted. Fragments are exposed (flags, offset, [`Ipv4Repr::is_fragment`])
//! for the stack to drop or reassemble: this module does neither.

use std::fmt;
use std::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::checksum;
use super::{check_buffer, Layer, Result, RxChecksum, TxChecksum, WireError};

/// The fixed 20-byte IPv4 header (RFC 791 §3.1).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct Ipv4Header {
    /// Version (high nibble, 4) and IHL (low nibble, header length in 32-bit words).
    pub version_ihl: u8,
    /// DSCP (high 6 bits, RFC 2474) and ECN (low 2 bits, RFC 3168); RFC 791's type of service.
    pub dscp_ecn: u8,
    /// Total length: header and data, in bytes.
    pub total_len: U16,
    /// Identification, for reassembly.
    pub ident: U16,
    /// Flags (3 high bits: reserved, DF, MF) and fragment offset (13 bits, 8-byte units).
    pub flags_frag: U16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Header checksum (RFC 791 §3.1: the complement of the one's complement sum of the header).
    pub checksum: U16,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

/// Don't Fragment (RFC 791 §3.1, flags bit 1).
const FLAG_DF: u16 = 0x4000;
/// More Fragments (RFC 791 §3.1, flags bit 2).
const FLAG_MF: u16 = 0x2000;
/// The fragment offset bits.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// An IP protocol number (IANA "Assigned Internet Protocol Numbers"). An open set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP (RFC 792).
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// TCP (RFC 9293).
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP (RFC 768).
    pub const UDP: IpProtocol = IpProtocol(17);
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProtocol::ICMP => f.write_str("ICMP"),
            IpProtocol::TCP => f.write_str("TCP"),
            IpProtocol::UDP => f.write_str("UDP"),
            IpProtocol(other) => write!(f, "IpProtocol({other})"),
        }
    }
}

/// A view of an IPv4 packet: header, options, payload (trimmed to the total length).
pub struct Ipv4Packet<B> {
    header: Ref<B, Ipv4Header>,
    options: B,
    payload: B,
}

impl<B: ByteSlice> fmt::Debug for Ipv4Packet<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ipv4Packet")
            .field("header", self.header())
            .field("options", &self.options())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl<B: SplitByteSlice> Ipv4Packet<B> {
    /// Validates version, IHL and total length against each other and the buffer (RFC 791
    /// §3.1), and splits the packet. Never panics afterwards. Does not verify the checksum.
    pub fn new_checked(bytes: B) -> Result<Self> {
        let got = bytes.len();
        let (header, rest) =
            Ref::<B, Ipv4Header>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Ipv4,
                needed: Ipv4Repr::HEADER_LEN,
                got,
            })?;
        let (header_len, total_len) = check_header(&header, got)?;
        let (options, rest) = rest
            .split_at(header_len - Ipv4Repr::HEADER_LEN)
            .map_err(|_| WireError::Truncated {
                layer: Layer::Ipv4,
                needed: header_len,
                got,
            })?;
        let (payload, _padding) =
            rest.split_at(total_len - header_len)
                .map_err(|_| WireError::Truncated {
                    layer: Layer::Ipv4,
                    needed: total_len,
                    got,
                })?;
        Ok(Ipv4Packet {
            header,
            options,
            payload,
        })
    }
}

/// RFC 791 §3.1 length rules: version 4, IHL >= 5, IHL*4 <= total length <= `got`.
/// Returns (header length, total length) in bytes.
fn check_header(header: &Ipv4Header, got: usize) -> Result<(usize, usize)> {
    let version = header.version_ihl >> 4;
    if version != 4 {
        return Err(WireError::BadVersion {
            layer: Layer::Ipv4,
            version,
        });
    }
    let header_len = usize::from(header.version_ihl & 0x0f) * 4;
    if header_len < Ipv4Repr::HEADER_LEN {
        return Err(WireError::BadHeaderLen {
            layer: Layer::Ipv4,
            len: header_len,
        });
    }
    let total_len = usize::from(header.total_len.get());
    if total_len < header_len {
        return Err(WireError::BadLength {
            layer: Layer::Ipv4,
            len: total_len,
        });
    }
    if got < total_len {
        return Err(WireError::Truncated {
            layer: Layer::Ipv4,
            needed: total_len,
            got,
        });
    }
    Ok((header_len, total_len))
}

impl<B: ByteSlice> Ipv4Packet<B> {
    /// The fixed header.
    pub fn header(&self) -> &Ipv4Header {
        &self.header
    }

    /// Header length in bytes, options included (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.header.version_ihl & 0x0f) * 4
    }

    /// DSCP (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.header.dscp_ecn >> 2
    }

    /// ECN codepoint (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.header.dscp_ecn & 0x3
    }

    /// Total length, header included.
    pub fn total_len(&self) -> u16 {
        self.header.total_len.get()
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        self.header.ident.get()
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.header.flags_frag.get() & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.header.flags_frag.get() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field is in 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.header.flags_frag.get() & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a non-zero offset): the stack drops these or
    /// sends them to reassembly.
    pub fn is_fragment(&self) -> bool {
        self.header.flags_frag.get() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.header.ttl
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.header.protocol)
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        self.header.checksum.get()
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.src)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header.dst)
    }

    /// The options bytes, uninterpreted (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.options
    }

    /// The payload: `total length - header length` bytes (link padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload, keeping the buffer's lifetime.
    pub fn into_payload(self) -> B {
        self.payload
    }

    /// Whether the header checksum verifies (RFC 791 §3.1; RFC 1071 §1: the sum over the
    /// header, checksum included, is all ones).
    pub fn verify_checksum(&self) -> bool {
        checksum::add(
            checksum::sum(self.header.as_bytes()),
            checksum::sum(&self.options),
        ) == 0xffff
    }
}

impl<B: ByteSliceMut> Ipv4Packet<B> {
    /// The fixed header, writable (the checksum is not updated).
    pub fn header_mut(&mut self) -> &mut Ipv4Header {
        &mut self.header
    }

    /// Sets the source address (the checksum is not updated: see [`Self::fill_checksum`] or
    /// [`checksum::update32`], which the TCP/UDP pseudo-header also needs).
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        self.header.src = addr.octets();
    }

    /// Sets the destination address (the checksum is not updated).
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        self.header.dst = addr.octets();
    }

    /// Sets the TTL (the checksum is not updated).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.header.ttl = ttl;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.header.checksum.set(value);
    }

    /// Recomputes the header checksum (options included).
    pub fn fill_checksum(&mut self) {
        self.header.checksum.set(0);
        let sum = checksum::add(
            checksum::sum(self.header.as_bytes()),
            checksum::sum(&self.options),
        );
        self.header.checksum.set(!sum);
    }

    /// Decrements the TTL by one (saturating at 0) and updates the checksum incrementally
    /// (RFC 1624 §3; TTL shares its 16-bit word with the protocol). Returns the new TTL:
    /// a forwarder drops the packet when it is 0 (RFC 1812 §5.3.1).
    pub fn decrement_ttl(&mut self) -> u8 {
        let old_ttl = self.header.ttl;
        let new_ttl = old_ttl.saturating_sub(1);
        let protocol = self.header.protocol;
        let old_word = u16::from_be_bytes([old_ttl, protocol]);
        let new_word = u16::from_be_bytes([new_ttl, protocol]);
        let hc = checksum::update(self.header.checksum.get(), old_word, new_word);
        self.header.ttl = new_ttl;
        self.header.checksum.set(hc);
        new_ttl
    }

    /// The options, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.options
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.payload
    }
}

/// A parsed IPv4 header (options dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// DSCP and ECN bits (the second header byte).
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Length of a header without options (the only kind emitted).
    pub const HEADER_LEN: usize = 20;
    /// The largest payload a 16-bit total length allows after a 20-byte header.
    pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - Self::HEADER_LEN;

    /// An unfragmented packet with the usual defaults: TTL 64, DF set (RFC 1191 path MTU
    /// discovery, as Linux does), identification 0 (RFC 6864 §4.1: atomic datagrams need no
    /// unique id), best-effort DSCP, not ECN-capable.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            payload_len,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Reads a checked packet, verifying the header checksum if `csum` says so.
    pub fn parse<B: ByteSlice>(packet: &Ipv4Packet<B>, csum: RxChecksum) -> Result<Ipv4Repr> {
        if csum == RxChecksum::Verify && !packet.verify_checksum() {
            return Err(WireError::BadChecksum { layer: Layer::Ipv4 });
        }
        Ok(Self::from_header(packet.header(), packet.payload().len()))
    }

    /// Reads the IPv4 header quoted in an ICMP error (RFC 792: "Internet Header + 64 bits of
    /// Original Data Datagram"). Unlike [`Ipv4Packet::new_checked`], the total length may
    /// exceed the bytes present (it describes the original datagram, which was cut), and the
    /// checksum is not verified. Returns the header and the quoted bytes after it (options
    /// skipped).
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let got = bytes.len();
        let (header, rest) =
            Ref::<&[u8], Ipv4Header>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Ipv4,
                needed: Self::HEADER_LEN,
                got,
            })?;
        // The same rules as a received header, except "total length <= buffer".
        let (header_len, total_len) = check_header(&header, usize::MAX)?;
        let data = rest
            .get(header_len - Self::HEADER_LEN..)
            .ok_or(WireError::Truncated {
                layer: Layer::Ipv4,
                needed: header_len,
                got,
            })?;
        Ok((Self::from_header(&header, total_len - header_len), data))
    }

    fn from_header(header: &Ipv4Header, payload_len: usize) -> Ipv4Repr {
        let flags_frag = header.flags_frag.get();
        Ipv4Repr {
            src: Ipv4Addr::from(header.src),
            dst: Ipv4Addr::from(header.dst),
            protocol: IpProtocol(header.protocol),
            ttl: header.ttl,
            payload_len,
            dscp_ecn: header.dscp_ecn,
            ident: header.ident.get(),
            dont_frag: flags_frag & FLAG_DF != 0,
            more_frags: flags_frag & FLAG_MF != 0,
            frag_offset: (flags_frag & FRAG_OFFSET_MASK) << 3,
        }
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// 20: options are never emitted.
    pub fn header_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header into `buf[..20]` (the payload goes after it, and is not
    /// touched). `BadLength` if the payload does not fit a 16-bit total length. With
    /// [`TxChecksum::Offload`] the checksum field is left 0 for the device.
    pub fn emit(&self, buf: &mut [u8], csum: TxChecksum) -> Result<()> {
        let got = buf.len();
        check_buffer(Layer::Ipv4, Self::HEADER_LEN, got)?;
        let total_len = u16::try_from(Self::HEADER_LEN + self.payload_len).map_err(|_| {
            WireError::BadLength {
                layer: Layer::Ipv4,
                len: Self::HEADER_LEN + self.payload_len,
            }
        })?;
        let (header, _) = Ref::<&mut [u8], Ipv4Header>::from_prefix(buf).map_err(|_| {
            WireError::BufferTooSmall {
                layer: Layer::Ipv4,
                needed: Self::HEADER_LEN,
                got,
            }
        })?;
        let header = Ref::into_mut(header);
        let mut flags_frag = (self.frag_offset >> 3) & FRAG_OFFSET_MASK;
        if self.dont_frag {
            flags_frag |= FLAG_DF;
        }
        if self.more_frags {
            flags_frag |= FLAG_MF;
        }
        *header = Ipv4Header {
            version_ihl: 0x45,
            dscp_ecn: self.dscp_ecn,
            total_len: U16::new(total_len),
            ident: U16::new(self.ident),
            flags_frag: U16::new(flags_frag),
            ttl: self.ttl,
            protocol: self.protocol.0,
            checksum: U16::ZERO,
            src: self.src.octets(),
            dst: self.dst.octets(),
        };
        if csum == TxChecksum::Compute {
            let value = checksum::checksum(header.as_bytes());
            header.checksum.set(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::samples;

    fn syn_ip() -> &'static [u8] {
        &samples::TCP_SYN[14..]
    }

    fn syn_repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 2, 15),
            dst: Ipv4Addr::new(93, 184, 216, 34),
            protocol: IpProtocol::TCP,
            ttl: 64,
            payload_len: 40,
            dscp_ecn: 0,
            ident: 0x3f2e,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn parses_real_header() {
        let packet = Ipv4Packet::new_checked(syn_ip()).unwrap();
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 60);
        assert_eq!(packet.checksum(), 0xb9a4);
        assert!(packet.verify_checksum());
        assert!(!packet.is_fragment());
        assert_eq!(packet.payload().len(), 40);
        assert_eq!(
            Ipv4Repr::parse(&packet, RxChecksum::Verify).unwrap(),
            syn_repr()
        );
    }

    #[test]
    fn emit_round_trips_bytes() {
        let mut out = [0u8; 20];
        syn_repr().emit(&mut out, TxChecksum::Compute).unwrap();
        assert_eq!(out, syn_ip()[..20]);
        syn_repr().emit(&mut out, TxChecksum::Offload).unwrap();
        assert_eq!(out[10..12], [0, 0]);
        assert_eq!(syn_repr().buffer_len(), 60);
    }

    #[test]
    fn trims_link_padding() {
        // The ARP sample is padded; an IPv4 packet shorter than 46 bytes is padded the same way.
        let mut bytes = syn_ip().to_vec();
        bytes.extend_from_slice(&[0xee; 6]);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload(), &syn_ip()[20..]);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut bad = syn_ip().to_vec();
        bad[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadVersion {
                layer: Layer::Ipv4,
                version: 6
            }
        );
        bad[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadHeaderLen {
                layer: Layer::Ipv4,
                len: 16
            }
        );
        bad[0] = 0x4f; // 60-byte header: longer than a total length of 40
        bad[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadLength {
                layer: Layer::Ipv4,
                len: 40
            }
        );
        bad[0] = 0x45;
        bad[2..4].copy_from_slice(&61u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Truncated {
                layer: Layer::Ipv4,
                needed: 61,
                got: 60
            }
        );
        let packet = Ipv4Packet::new_checked(&bad[..59]);
        assert!(matches!(packet, Err(WireError::Truncated { .. })));
        for len in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&syn_ip()[..len]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Ipv4,
                    needed: 20,
                    got: len
                }
            );
        }
    }

    #[test]
    fn checksum_is_the_callers_choice() {
        let mut bad = syn_ip().to_vec();
        bad[8] = 63; // TTL changed, checksum not
        let packet = Ipv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&packet, RxChecksum::Verify),
            Err(WireError::BadChecksum { layer: Layer::Ipv4 })
        );
        assert_eq!(Ipv4Repr::parse(&packet, RxChecksum::Trust).unwrap().ttl, 63);
    }

    #[test]
    fn options_are_skipped() {
        // The SYN's header with a 4-byte Router Alert option (RFC 2113) inserted.
        let mut bytes = vec![0x46];
        bytes.extend_from_slice(&syn_ip()[1..20]);
        bytes.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        bytes.extend_from_slice(&syn_ip()[20..]);
        bytes[2..4].copy_from_slice(&64u16.to_be_bytes());
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(packet.payload(), &syn_ip()[20..]);
        let repr = Ipv4Repr::parse(&packet, RxChecksum::Verify).unwrap();
        assert_eq!(repr, syn_repr());
    }

    #[test]
    fn fragments_are_exposed() {
        let mut repr = syn_repr();
        repr.dont_frag = false;
        repr.more_frags = true;
        repr.frag_offset = 1480;
        let mut bytes = vec![0u8; repr.buffer_len()];
        repr.emit(&mut bytes, TxChecksum::Compute).unwrap();
        assert_eq!(bytes[6..8], [0x20, 0xb9]); // MF | 185
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.is_fragment() && packet.more_frags() && !packet.dont_frag());
        assert_eq!(packet.frag_offset(), 1480);
        let parsed = Ipv4Repr::parse(&packet, RxChecksum::Verify).unwrap();
        assert_eq!(parsed, repr);
        assert!(parsed.is_fragment());
    }

    #[test]
    fn decrement_ttl_updates_checksum_incrementally() {
        let mut bytes = syn_ip().to_vec();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        for expected in (0..64).rev() {
            assert_eq!(packet.decrement_ttl(), expected);
            assert!(packet.verify_checksum());
        }
        assert_eq!(packet.decrement_ttl(), 0);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn address_rewrite_with_incremental_checksum() {
        let mut bytes = syn_ip().to_vec();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        let old = packet.src();
        let new = Ipv4Addr::new(203, 0, 113, 7);
        packet.set_src(new);
        let hc = checksum::update32(packet.checksum(), old.into(), new.into());
        packet.set_checksum(hc);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn emit_rejects_oversized_payload_and_small_buffer() {
        let mut repr = syn_repr();
        repr.payload_len = Ipv4Repr::MAX_PAYLOAD_LEN + 1;
        assert!(matches!(
            repr.emit(&mut [0u8; 20], TxChecksum::Compute),
            Err(WireError::BadLength { .. })
        ));
        assert!(matches!(
            syn_repr().emit(&mut [0u8; 19], TxChecksum::Compute),
            Err(WireError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn quoted_header() {
        // The header quoted by the ICMP port-unreachable sample: total length 57, only 28
        // bytes present.
        let quoted = &samples::ICMP_PORT_UNREACHABLE[14 + 20 + 8..];
        let (repr, data) = Ipv4Repr::parse_quoted(quoted).unwrap();
        assert_eq!(repr.protocol, IpProtocol::UDP);
        assert_eq!(repr.payload_len, 37);
        assert_eq!(data.len(), 8);
        assert!(Ipv4Repr::parse_quoted(&quoted[..19]).is_err());
        let mut bad = quoted.to_vec();
        bad[0] = 0x47; // 28-byte header, only 28 bytes: no data
        let (_, data) = Ipv4Repr::parse_quoted(&bad).unwrap();
        assert!(data.is_empty());
        bad[0] = 0x48; // 32-byte header, only 28 bytes
        assert!(matches!(
            Ipv4Repr::parse_quoted(&bad),
            Err(WireError::Truncated { needed: 32, .. })
        ));
    }
}
