//! # Wire formats: zero-copy header views, parsed representations and checksums
//!
//! What lives here: one module per protocol, each with the same three layers (smoltcp-style):
//!
//! 1. a `#[repr(C)]` **header struct** (`EthernetHeader`, `Ipv4Header`, `TcpHeader`, …) whose
//!    fields are bytes and [`zerocopy::network_endian`] integers, so a header is read in place
//!    from any byte offset with no copy and no `unsafe`;
//! 2. a **packet view** (`EthernetFrame<B>`, `Ipv4Packet<B>`, `TcpPacket<B>`, …) over a byte
//!    slice `B` (`&[u8]` to read, `&mut [u8]` to also write). Its `new_checked` constructor
//!    validates the lengths once; afterwards no accessor or setter can panic, because the view
//!    is already split into a typed header, options and payload;
//! 3. a **representation** (`EthernetRepr`, `Ipv4Repr`, `TcpRepr`, …): plain `Copy` data with
//!    `parse` (from a view, with the semantic checks and the checksum) and `emit` (into a
//!    `&mut [u8]` the caller sized with `header_len()`/`buffer_len()`).
//!
//! | module | protocol | RFC |
//! | --- | --- | --- |
//! | [`checksum`] | Internet checksum, pseudo-header, incremental update | 1071, 1624 |
//! | [`ethernet`] | Ethernet II and one 802.1Q tag | IEEE 802.3, 802.1Q |
//! | [`arp`] | ARP for Ethernet/IPv4 | 826 |
//! | [`ipv4`] | IPv4 (options skipped, fragments exposed) | 791 |
//! | [`icmp`] | ICMPv4 echo and destination unreachable | 792 |
//! | [`udp`] | UDP | 768 |
//! | [`tcp`] | TCP header and options | 9293, 7323, 2018 |
//!
//! What it may use: `zerocopy` for the views, `cyclone_pmd::MacAddr` and the device checksum
//! capabilities from `cyclone-pmd`, nothing else of the stack. Errors are one [`WireError`] for
//! every layer, carrying the [`Layer`] and an [`ErrorKind`] so drops can be counted by reason.
//!
//! Checksums are the caller's choice: parsing takes a [`RxChecksum`] (`Verify` in software, or
//! `Trust` a device that verified it), emitting a [`TxChecksum`] (`Compute` in software, or
//! `Offload` it to the device). [`ChecksumCaps`] maps a port's [`cyclone_pmd::Capabilities`]
//! onto those choices.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

mod fuzz;

use cyclone_pmd::{Capabilities, Checksums};

pub use arp::{ArpHeader, ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetHeader, EthernetRepr, Vlan, VlanTag};
pub use icmp::{Icmpv4Header, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, UnreachableCode};
pub use ipv4::{IpProtocol, Ipv4Header, Ipv4Packet, Ipv4Repr};
pub use tcp::{
    SackBlock, SackBlocks, TcpFlags, TcpHeader, TcpOption, TcpOptionIter, TcpOptions, TcpPacket,
    TcpRepr, TcpTimestamps,
};
pub use udp::{UdpHeader, UdpPacket, UdpRepr};

#[doc(hidden)]
pub use fuzz::{fuzz_parse_frame, samples, FuzzReach};

/// The protocol layer an error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Layer {
    /// Ethernet II / 802.1Q.
    Ethernet,
    /// ARP.
    Arp,
    /// IPv4 (also the header quoted inside an ICMP error).
    Ipv4,
    /// ICMPv4.
    Icmpv4,
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Layer {
    /// How many layers there are: the size of a `[_; Layer::COUNT]` counter array.
    pub const COUNT: usize = 6;

    /// This layer's index in `0..Layer::COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "ethernet",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Icmpv4 => "icmpv4",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
        })
    }
}

/// Why a packet was rejected, without the details: a drop counter's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ErrorKind {
    /// See [`WireError::Truncated`].
    Truncated,
    /// See [`WireError::BadVersion`].
    BadVersion,
    /// See [`WireError::BadHeaderLen`].
    BadHeaderLen,
    /// See [`WireError::BadLength`].
    BadLength,
    /// See [`WireError::BadChecksum`].
    BadChecksum,
    /// See [`WireError::BadOption`].
    BadOption,
    /// See [`WireError::Unsupported`].
    Unsupported,
    /// See [`WireError::BufferTooSmall`].
    BufferTooSmall,
}

impl ErrorKind {
    /// How many kinds there are: the size of a `[_; ErrorKind::COUNT]` counter array.
    pub const COUNT: usize = 8;

    /// This kind's index in `0..ErrorKind::COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A malformed or unsupported packet (parsing), or a buffer too small for a header (emitting).
///
/// Every variant names the [`Layer`]; [`WireError::kind`] drops the details, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header (or a length field) says it should.
    #[error("{layer}: truncated: needs {needed} bytes, has {got}")]
    Truncated {
        /// Where.
        layer: Layer,
        /// Bytes the header or its length fields require.
        needed: usize,
        /// Bytes that were there.
        got: usize,
    },
    /// An IP version other than 4.
    #[error("{layer}: bad version {version}")]
    BadVersion {
        /// Where.
        layer: Layer,
        /// The version field.
        version: u8,
    },
    /// A header length field (IPv4 IHL, TCP data offset) below the minimum header size.
    #[error("{layer}: bad header length {len} bytes")]
    BadHeaderLen {
        /// Where.
        layer: Layer,
        /// The header length the field gives, in bytes.
        len: usize,
    },
    /// A total-length field (IPv4 total length, UDP length) smaller than the header it covers.
    #[error("{layer}: bad length field {len}")]
    BadLength {
        /// Where.
        layer: Layer,
        /// The length field.
        len: usize,
    },
    /// The checksum does not verify.
    #[error("{layer}: bad checksum")]
    BadChecksum {
        /// Where.
        layer: Layer,
    },
    /// A malformed option: a length below 2, or one that runs past the header; or, on emit,
    /// options that do not fit in the header.
    #[error("{layer}: bad option (kind {kind})")]
    BadOption {
        /// Where.
        layer: Layer,
        /// The option kind.
        kind: u8,
    },
    /// Well formed but not something this stack handles (an ARP hardware type, an ICMP type).
    #[error("{layer}: unsupported {field} {value:#x}")]
    Unsupported {
        /// Where.
        layer: Layer,
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// Emitting: the caller's buffer is smaller than the header (and payload) to write.
    #[error("{layer}: buffer too small: needs {needed} bytes, has {got}")]
    BufferTooSmall {
        /// Where.
        layer: Layer,
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

impl WireError {
    /// The layer the error was found in.
    pub fn layer(&self) -> Layer {
        match *self {
            WireError::Truncated { layer, .. }
            | WireError::BadVersion { layer, .. }
            | WireError::BadHeaderLen { layer, .. }
            | WireError::BadLength { layer, .. }
            | WireError::BadChecksum { layer }
            | WireError::BadOption { layer, .. }
            | WireError::Unsupported { layer, .. }
            | WireError::BufferTooSmall { layer, .. } => layer,
        }
    }

    /// The reason, without its details.
    pub fn kind(&self) -> ErrorKind {
        match self {
            WireError::Truncated { .. } => ErrorKind::Truncated,
            WireError::BadVersion { .. } => ErrorKind::BadVersion,
            WireError::BadHeaderLen { .. } => ErrorKind::BadHeaderLen,
            WireError::BadLength { .. } => ErrorKind::BadLength,
            WireError::BadChecksum { .. } => ErrorKind::BadChecksum,
            WireError::BadOption { .. } => ErrorKind::BadOption,
            WireError::Unsupported { .. } => ErrorKind::Unsupported,
            WireError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }
}

/// Result of the wire functions.
pub type Result<T> = std::result::Result<T, WireError>;

/// What parsing does with a received checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxChecksum {
    /// Verify it in software; a mismatch is [`WireError::BadChecksum`].
    #[default]
    Verify,
    /// Do not look at it: the device verified it (its per-buffer offload flags said so), or
    /// the caller does not care (fuzzing, captures with offloaded checksums).
    Trust,
}

/// What emitting writes into a checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxChecksum {
    /// Compute it in software.
    #[default]
    Compute,
    /// Leave it for the device. The IPv4 header checksum is written as 0; the TCP and UDP
    /// checksums are seeded with the pseudo-header sum (not complemented), which is what
    /// devices doing partial checksum offload expect (Linux `CHECKSUM_PARTIAL`, DPDK
    /// `RTE_MBUF_F_TX_*_CKSUM`, AF_XDP TX metadata).
    Offload,
}

/// Which checksums a port lets the stack skip, per direction: the wire-level view of a
/// port's [`Capabilities`] (smoltcp's `ChecksumCapabilities`).
///
/// ICMP has no offload on any supported device, so it is always done in software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChecksumCaps {
    /// Checksums the device verifies on receive.
    pub rx: Checksums,
    /// Checksums the device fills on transmit.
    pub tx: Checksums,
}

impl ChecksumCaps {
    /// Everything in software.
    pub const SOFTWARE: ChecksumCaps = ChecksumCaps {
        rx: Checksums {
            ipv4: false,
            udp: false,
            tcp: false,
        },
        tx: Checksums {
            ipv4: false,
            udp: false,
            tcp: false,
        },
    };

    /// The checksum offloads a port advertises.
    pub fn from_capabilities(caps: &Capabilities) -> ChecksumCaps {
        ChecksumCaps {
            rx: caps.rx_checksum,
            tx: caps.tx_checksum,
        }
    }

    /// What to do with a received IPv4 header checksum.
    pub fn ipv4_rx(&self) -> RxChecksum {
        rx(self.rx.ipv4)
    }

    /// What to do with a received UDP checksum.
    pub fn udp_rx(&self) -> RxChecksum {
        rx(self.rx.udp)
    }

    /// What to do with a received TCP checksum.
    pub fn tcp_rx(&self) -> RxChecksum {
        rx(self.rx.tcp)
    }

    /// How to fill a transmitted IPv4 header checksum.
    pub fn ipv4_tx(&self) -> TxChecksum {
        tx(self.tx.ipv4)
    }

    /// How to fill a transmitted UDP checksum.
    pub fn udp_tx(&self) -> TxChecksum {
        tx(self.tx.udp)
    }

    /// How to fill a transmitted TCP checksum.
    pub fn tcp_tx(&self) -> TxChecksum {
        tx(self.tx.tcp)
    }
}

fn rx(offloaded: bool) -> RxChecksum {
    if offloaded {
        RxChecksum::Trust
    } else {
        RxChecksum::Verify
    }
}

fn tx(offloaded: bool) -> TxChecksum {
    if offloaded {
        TxChecksum::Offload
    } else {
        TxChecksum::Compute
    }
}

/// `BufferTooSmall` unless `got >= needed`.
#[inline]
pub(crate) fn check_buffer(layer: Layer, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        Err(WireError::BufferTooSmall { layer, needed, got })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kind_and_layer_index_counters() {
        let e = WireError::BadChecksum { layer: Layer::Tcp };
        assert_eq!(e.kind(), ErrorKind::BadChecksum);
        assert_eq!(e.layer(), Layer::Tcp);
        assert!(e.kind().index() < ErrorKind::COUNT);
        assert_eq!(Layer::Tcp.index(), Layer::COUNT - 1);
        assert_eq!(ErrorKind::BufferTooSmall.index(), ErrorKind::COUNT - 1);
        assert_eq!(e.to_string(), "tcp: bad checksum");
    }

    #[test]
    fn checksum_caps_from_port_capabilities() {
        let mut caps = Capabilities::default();
        assert_eq!(
            ChecksumCaps::from_capabilities(&caps),
            ChecksumCaps::SOFTWARE
        );
        caps.rx_checksum.tcp = true;
        caps.tx_checksum.ipv4 = true;
        let c = ChecksumCaps::from_capabilities(&caps);
        assert_eq!(c.tcp_rx(), RxChecksum::Trust);
        assert_eq!(c.udp_rx(), RxChecksum::Verify);
        assert_eq!(c.ipv4_rx(), RxChecksum::Verify);
        assert_eq!(c.ipv4_tx(), TxChecksum::Offload);
        assert_eq!(c.tcp_tx(), TxChecksum::Compute);
        assert_eq!(c.udp_tx(), TxChecksum::Compute);
    }
}
