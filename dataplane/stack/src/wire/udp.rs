//! UDP datagrams (RFC 768) over IPv4.
//!
//! ```text
//! | source port (2) | destination port (2) | length (2) | checksum (2) | data ...
//! ```
//!
//! The length covers header and data and must fit in the IP payload; bytes of the IP payload
//! past it are ignored (as Linux does). The checksum covers the IPv4 pseudo-header, the header
//! and the data (RFC 768 "Fields"); a received 0 means "no checksum" (RFC 768; RFC 1122
//! §4.1.3.4 lets a host accept it), and a computed 0 is sent as 0xffff, its other encoding.

use std::fmt;
use std::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::checksum;
use super::{check_buffer, IpProtocol, Layer, Result, RxChecksum, TxChecksum, WireError};

/// The 8-byte UDP header (RFC 768).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct UdpHeader {
    /// Source port (0: none).
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Length of header and data.
    pub length: U16,
    /// Checksum (0: none).
    pub checksum: U16,
}

/// A view of a UDP datagram: header and data (trimmed to the UDP length).
pub struct UdpPacket<B> {
    header: Ref<B, UdpHeader>,
    payload: B,
}

impl<B: ByteSlice> fmt::Debug for UdpPacket<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpPacket")
            .field("header", self.header())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl<B: SplitByteSlice> UdpPacket<B> {
    /// Splits `bytes` (the IP payload): `Truncated` below 8 bytes or below the UDP length,
    /// `BadLength` if the length is below 8 (RFC 768: "the minimum value of the length is
    /// eight"). Does not verify the checksum.
    pub fn new_checked(bytes: B) -> Result<Self> {
        let got = bytes.len();
        let (header, rest) =
            Ref::<B, UdpHeader>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Udp,
                needed: UdpRepr::HEADER_LEN,
                got,
            })?;
        let length = usize::from(header.length.get());
        if length < UdpRepr::HEADER_LEN {
            return Err(WireError::BadLength {
                layer: Layer::Udp,
                len: length,
            });
        }
        let (payload, _) =
            rest.split_at(length - UdpRepr::HEADER_LEN)
                .map_err(|_| WireError::Truncated {
                    layer: Layer::Udp,
                    needed: length,
                    got,
                })?;
        Ok(UdpPacket { header, payload })
    }
}

impl<B: ByteSlice> UdpPacket<B> {
    /// The header.
    pub fn header(&self) -> &UdpHeader {
        &self.header
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.header.src_port.get()
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.header.dst_port.get()
    }

    /// The length field (header and data).
    pub fn length(&self) -> u16 {
        self.header.length.get()
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.header.checksum.get()
    }

    /// The data.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The data, keeping the buffer's lifetime.
    pub fn into_payload(self) -> B {
        self.payload
    }

    /// Whether the checksum verifies against the pseudo-header of `src` → `dst`; a 0
    /// checksum (none sent) verifies (RFC 768).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.header.checksum.get() == 0 {
            return true;
        }
        self.sum(src, dst) == 0xffff
    }

    fn sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let pseudo =
            checksum::pseudo_header_sum(src, dst, IpProtocol::UDP.0, self.header.length.get());
        checksum::add(
            pseudo,
            checksum::add(
                checksum::sum(self.header.as_bytes()),
                checksum::sum(&self.payload),
            ),
        )
    }
}

impl<B: ByteSliceMut> UdpPacket<B> {
    /// The header, writable (the checksum is not updated).
    pub fn header_mut(&mut self) -> &mut UdpHeader {
        &mut self.header
    }

    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.payload
    }

    /// Recomputes the checksum for `src` → `dst` (a computed 0 is sent as 0xffff).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.header.checksum.set(0);
        let value = !self.sum(src, dst);
        self.header
            .checksum
            .set(if value == 0 { 0xffff } else { value });
    }
}

/// A parsed UDP header. The data stays in the packet ([`UdpPacket::payload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Length of the UDP header.
    pub const HEADER_LEN: usize = 8;

    /// Reads a checked datagram sent from `src` to `dst`, verifying its checksum if `csum`
    /// says so.
    pub fn parse<B: ByteSlice>(
        packet: &UdpPacket<B>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        csum: RxChecksum,
    ) -> Result<UdpRepr> {
        if csum == RxChecksum::Verify && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum { layer: Layer::Udp });
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// 8.
    pub fn header_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Header plus `payload_len` bytes of data: the size of the buffer [`Self::emit`] takes.
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        Self::HEADER_LEN + payload_len
    }

    /// Writes the header into `datagram[..8]`, whose data (`datagram[8..]`, already in place:
    /// zero-copy) is all of the rest, so the length field is `datagram.len()`. The checksum
    /// is computed over the pseudo-header, header and data (0 sent as 0xffff), or, with
    /// [`TxChecksum::Offload`], seeded with the pseudo-header sum for the device to finish.
    pub fn emit(
        &self,
        datagram: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        csum: TxChecksum,
    ) -> Result<()> {
        let got = datagram.len();
        check_buffer(Layer::Udp, Self::HEADER_LEN, got)?;
        let length = u16::try_from(got).map_err(|_| WireError::BadLength {
            layer: Layer::Udp,
            len: got,
        })?;
        let (header, payload) =
            Ref::<&mut [u8], UdpHeader>::from_prefix(datagram).map_err(|_| {
                WireError::BufferTooSmall {
                    layer: Layer::Udp,
                    needed: Self::HEADER_LEN,
                    got,
                }
            })?;
        let header = Ref::into_mut(header);
        *header = UdpHeader {
            src_port: U16::new(self.src_port),
            dst_port: U16::new(self.dst_port),
            length: U16::new(length),
            checksum: U16::ZERO,
        };
        let pseudo = checksum::pseudo_header_sum(src, dst, IpProtocol::UDP.0, length);
        match csum {
            TxChecksum::Compute => {
                let sum = checksum::add(
                    pseudo,
                    checksum::add(checksum::sum(header.as_bytes()), checksum::sum(payload)),
                );
                let value = !sum;
                header.checksum.set(if value == 0 { 0xffff } else { value });
            }
            TxChecksum::Offload => header.checksum.set(pseudo),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::samples;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

    fn dns() -> &'static [u8] {
        &samples::UDP_DNS_QUERY[14 + 20..]
    }

    #[test]
    fn parses_dns_query() {
        let packet = UdpPacket::new_checked(dns()).unwrap();
        assert_eq!(packet.length(), 37);
        assert_eq!(packet.checksum(), 0x9c46);
        assert!(packet.verify_checksum(SRC, DST));
        assert!(!packet.verify_checksum(DST, Ipv4Addr::new(10, 0, 2, 4)));
        let repr = UdpRepr::parse(&packet, SRC, DST, RxChecksum::Verify).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 53211,
                dst_port: 53
            }
        );
        assert_eq!(&packet.payload()[12..20], b"\x07example");
    }

    #[test]
    fn emit_round_trips_bytes() {
        let repr = UdpRepr {
            src_port: 53211,
            dst_port: 53,
        };
        let payload = &dns()[8..];
        let mut out = vec![0u8; repr.buffer_len(payload.len())];
        out[8..].copy_from_slice(payload);
        repr.emit(&mut out, SRC, DST, TxChecksum::Compute).unwrap();
        assert_eq!(out, dns());
    }

    #[test]
    fn offload_seeds_pseudo_header_sum() {
        let repr = UdpRepr {
            src_port: 53211,
            dst_port: 53,
        };
        let mut out = dns().to_vec();
        repr.emit(&mut out, SRC, DST, TxChecksum::Offload).unwrap();
        let seed = u16::from_be_bytes([out[6], out[7]]);
        assert_eq!(seed, checksum::pseudo_header_sum(SRC, DST, 17, 37));
        // What a device does: checksum the datagram from the seeded field, store the result.
        let value = checksum::checksum(&out);
        out[6..8].copy_from_slice(&value.to_be_bytes());
        assert_eq!(out, dns());
    }

    #[test]
    fn zero_checksum_means_none_and_computed_zero_is_sent_as_ones() {
        let mut none = dns().to_vec();
        none[6..8].copy_from_slice(&[0, 0]);
        let packet = UdpPacket::new_checked(&none[..]).unwrap();
        assert!(UdpRepr::parse(&packet, SRC, DST, RxChecksum::Verify).is_ok());

        // Find data whose checksum computes to 0: adjust one word so the sum is 0xffff.
        let repr = UdpRepr {
            src_port: 1,
            dst_port: 2,
        };
        let mut out = vec![0u8; 10];
        repr.emit(&mut out, SRC, DST, TxChecksum::Compute).unwrap();
        let value = u16::from_be_bytes([out[6], out[7]]);
        // Putting the would-be checksum into the data makes the total sum 0xffff, so the
        // checksum computes to 0.
        out[8..10].copy_from_slice(&value.to_be_bytes());
        repr.emit(&mut out, SRC, DST, TxChecksum::Compute).unwrap();
        assert_eq!(out[6..8], [0xff, 0xff]);
        let packet = UdpPacket::new_checked(&out[..]).unwrap();
        assert!(packet.verify_checksum(SRC, DST));
    }

    #[test]
    fn rejects_bad_lengths_and_checksums() {
        for len in 0..8 {
            assert!(matches!(
                UdpPacket::new_checked(&dns()[..len]),
                Err(WireError::Truncated { needed: 8, .. })
            ));
        }
        for len in 8..dns().len() {
            assert_eq!(
                UdpPacket::new_checked(&dns()[..len]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Udp,
                    needed: 37,
                    got: len
                }
            );
        }
        let mut bad = dns().to_vec();
        bad[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&bad[..]).unwrap_err(),
            WireError::BadLength {
                layer: Layer::Udp,
                len: 7
            }
        );
        // Shorter than the IP payload: the rest is ignored, and the checksum no longer matches.
        bad[4..6].copy_from_slice(&36u16.to_be_bytes());
        let packet = UdpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(packet.payload().len(), 28);
        assert_eq!(
            UdpRepr::parse(&packet, SRC, DST, RxChecksum::Verify),
            Err(WireError::BadChecksum { layer: Layer::Udp })
        );
        assert!(UdpRepr::parse(&packet, SRC, DST, RxChecksum::Trust).is_ok());
        let repr = UdpRepr {
            src_port: 1,
            dst_port: 2,
        };
        assert!(matches!(
            repr.emit(&mut [0u8; 7], SRC, DST, TxChecksum::Compute),
            Err(WireError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            repr.emit(&mut vec![0u8; 65536], SRC, DST, TxChecksum::Compute),
            Err(WireError::BadLength { len: 65536, .. })
        ));
    }

    #[test]
    fn fill_checksum_after_in_place_edit() {
        let mut bytes = dns().to_vec();
        let mut packet = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.payload_mut()[0] = 0x12;
        packet.header_mut().dst_port.set(5353);
        packet.fill_checksum(SRC, DST);
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum(SRC, DST));
        assert_eq!(packet.dst_port(), 5353);
    }
}
