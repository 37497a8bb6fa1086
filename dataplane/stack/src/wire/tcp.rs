//! TCP segments (RFC 9293 §3.1) and their options (RFC 9293 §3.2; window scale and
//! timestamps, RFC 7323 §2.2 and §3.2; SACK, RFC 2018 §2 and §3).
//!
//! ```text
//!  0               1               2               3
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! | DOffset | Rsrvd |C|E|U|A|P|R|S|F|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! |                    Options (DOffset > 5) ...                  |
//! ```
//!
//! This is the wire format only: sequence-number arithmetic, the window-scale clamp at 14
//! (RFC 7323 §2.3) and the state machine belong to the TCP layer above. Options are parsed by
//! a bounded, always-advancing iterator ([`TcpOptionIter`]): a length of 0 or 1, or one that
//! runs past the header, is [`WireError::BadOption`] (RFC 9293 §3.2 MUST-7: be prepared for
//! an illegal option length), so a hostile header cannot make it loop.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use zerocopy::network_endian::{U16, U32};
use zerocopy::{
    ByteSlice, ByteSliceMut, FromBytes, Immutable, IntoBytes, KnownLayout, Ref, SplitByteSlice,
    Unaligned,
};

use super::checksum;
use super::{check_buffer, IpProtocol, Layer, Result, RxChecksum, TxChecksum, WireError};

/// The fixed 20-byte TCP header (RFC 9293 §3.1).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq: U32,
    /// Acknowledgment number (meaningful when ACK is set).
    pub ack: U32,
    /// Data offset (high nibble, header length in 32-bit words) and 4 reserved bits.
    pub data_offset: u8,
    /// Control bits: CWR ECE URG ACK PSH RST SYN FIN.
    pub flags: u8,
    /// Receive window (scaled per RFC 7323 except in SYN segments).
    pub window: U16,
    /// Checksum over the pseudo-header, header and data.
    pub checksum: U16,
    /// Urgent pointer (meaningful when URG is set).
    pub urgent: U16,
}

/// TCP control bits (RFC 9293 §3.1; CWR and ECE from RFC 3168 §6.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flags.
    pub const EMPTY: TcpFlags = TcpFlags(0);

    /// Whether all of `other`'s bits are set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any of `other`'s bits are set.
    pub fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Sets `other`'s bits.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears `other`'s bits.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Option kinds (RFC 9293 §3.2, RFC 7323 §2.2/§3.2, RFC 2018 §2/§3).
mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// One SACK block (RFC 2018 §3): the received bytes `left..right` (sequence numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// Left edge: first sequence number of the block.
    pub left: u32,
    /// Right edge: the sequence number just after the block.
    pub right: u32,
}

/// Up to 4 SACK blocks, the most a 40-byte option space holds (RFC 2018 §3).
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; 4],
    len: u8,
}

impl SackBlocks {
    /// The maximum number of blocks.
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [SackBlock { left: 0, right: 0 }; 4],
            len: 0,
        }
    }

    /// The first (up to) 4 blocks of `blocks`.
    pub fn from_slice(blocks: &[SackBlock]) -> SackBlocks {
        let mut out = SackBlocks::new();
        for block in blocks.iter().take(Self::MAX) {
            out.push(*block);
        }
        out
    }

    /// Appends a block; `false` if there are already 4.
    pub fn push(&mut self, block: SackBlock) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = block;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks.
    pub fn as_slice(&self) -> &[SackBlock] {
        self.blocks.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// How many blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl std::hash::Hash for SackBlocks {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The timestamps option (RFC 7323 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the TSval echoed (valid when ACK is set).
    pub tsecr: u32,
}

/// One TCP option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0, RFC 9293 §3.2); nothing after it is read.
    EndOfList,
    /// No-operation (kind 1), padding between options.
    NoOp,
    /// Maximum segment size (kind 2, length 4, RFC 9293 §3.2, §3.7.1).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3, length 3, RFC 7323 §2.2), as received (may be > 14).
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2, RFC 2018 §2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n with n in 1..=4, RFC 2018 §3).
    Sack(SackBlocks),
    /// Timestamps (kind 8, length 10, RFC 7323 §3.2).
    Timestamps(TcpTimestamps),
    /// Any other kind, skipped by its length (RFC 9293 §3.2 MUST-5: ignore without error any
    /// option not implemented, assuming it has a length field).
    Unknown {
        /// The kind.
        kind: u8,
        /// The option's data (after kind and length).
        data: &'a [u8],
    },
}

/// Iterates over an options area, yielding each option or the first error (then stopping).
///
/// Every step consumes at least one byte, and the iterator stops after `EndOfList`, at the
/// end of the area, or after an error: it always terminates.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates over `options` (the bytes between the fixed header and the data).
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }

    fn bad(&mut self, kind: u8) -> Option<Result<TcpOption<'a>>> {
        self.rest = &[];
        Some(Err(WireError::BadOption {
            layer: Layer::Tcp,
            kind,
        }))
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        match kind {
            option_kind::END => {
                // RFC 9293 §3.2: "used at the end of all options"; the rest is padding.
                self.rest = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            option_kind::NOP => {
                self.rest = after_kind;
                return Some(Ok(TcpOption::NoOp));
            }
            _ => {}
        }
        // Every other option is kind, length (counting both), data.
        let Some((&len, _)) = after_kind.split_first() else {
            return self.bad(kind);
        };
        let len = usize::from(len);
        if len < 2 || len > self.rest.len() {
            return self.bad(kind);
        }
        let (option, rest) = self.rest.split_at(len);
        let data = option.get(2..).unwrap_or(&[]);
        let parsed = match (kind, data.len()) {
            (option_kind::MSS, 2) => TcpOption::MaxSegmentSize(be16(data)),
            (option_kind::WINDOW_SCALE, 1) => {
                TcpOption::WindowScale(data.first().copied().unwrap_or(0))
            }
            (option_kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (option_kind::SACK, n) if n > 0 && n % 8 == 0 && n / 8 <= SackBlocks::MAX => {
                let mut blocks = SackBlocks::new();
                for edges in data.chunks_exact(8) {
                    let (left, right) = edges.split_at(4);
                    blocks.push(SackBlock {
                        left: be32(left),
                        right: be32(right),
                    });
                }
                TcpOption::Sack(blocks)
            }
            (option_kind::TIMESTAMPS, 8) => {
                let (tsval, tsecr) = data.split_at(4);
                TcpOption::Timestamps(TcpTimestamps {
                    tsval: be32(tsval),
                    tsecr: be32(tsecr),
                })
            }
            // A known option with the wrong length is malformed (RFC 9293 §3.2 MUST-7).
            (
                option_kind::MSS
                | option_kind::WINDOW_SCALE
                | option_kind::SACK_PERMITTED
                | option_kind::SACK
                | option_kind::TIMESTAMPS,
                _,
            ) => return self.bad(kind),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        self.rest = rest;
        Some(Ok(parsed))
    }
}

/// Writes the checksum field (bytes 16..18) of a TCP header at the start of `segment`.
fn set_checksum(segment: &mut [u8], value: u16) {
    if let Some(field) = segment.get_mut(16..18) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

fn be16(bytes: &[u8]) -> u16 {
    bytes.try_into().map_or(0, u16::from_be_bytes)
}

fn be32(bytes: &[u8]) -> u32 {
    bytes.try_into().map_or(0, u32::from_be_bytes)
}

/// The options this stack understands, parsed out of a header (unknown ones dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only, RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift count (SYN only, RFC 7323 §2.2), as received.
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only, RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3).
    pub sack: SackBlocks,
    /// Timestamps (RFC 7323 §3.2).
    pub timestamps: Option<TcpTimestamps>,
}

/// The options area of nearly every segment after the handshake (RFC 7323 Appendix A, what
/// Linux, the BSDs and this stack send): NOP, NOP, timestamps, and nothing else; `None` for
/// any other 12 bytes.
#[inline]
fn nop_nop_timestamps(options: &[u8; 12]) -> Option<TcpTimestamps> {
    let [1, 1, 8, 10, a0, a1, a2, a3, b0, b1, b2, b3] = *options else {
        return None;
    };
    Some(TcpTimestamps {
        tsval: u32::from_be_bytes([a0, a1, a2, a3]),
        tsecr: u32::from_be_bytes([b0, b1, b2, b3]),
    })
}

impl TcpOptions {
    /// The most option bytes a header holds (data offset 15 → 60-byte header).
    pub const MAX_LEN: usize = 40;

    /// Parses an options area: known options are kept (a repeated one: the last wins), unknown
    /// ones skipped, the first malformed one is an error.
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        let mut out = TcpOptions::default();
        // NOP NOP timestamps read directly gives what the iterator below gives for them.
        if let Some(ts) = <&[u8; 12]>::try_from(options)
            .ok()
            .and_then(nop_nop_timestamps)
        {
            out.timestamps = Some(ts);
            return Ok(out);
        }
        if options.is_empty() {
            return Ok(out);
        }
        for option in TcpOptionIter::new(options) {
            match option? {
                TcpOption::MaxSegmentSize(mss) => out.mss = Some(mss),
                TcpOption::WindowScale(shift) => out.window_scale = Some(shift),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::Sack(blocks) => out.sack = blocks,
                TcpOption::Timestamps(ts) => out.timestamps = Some(ts),
                TcpOption::EndOfList | TcpOption::NoOp | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(out)
    }

    /// Bytes [`Self::emit`] writes: always a multiple of 4. May exceed [`Self::MAX_LEN`]
    /// (4 SACK blocks with timestamps), which `emit` refuses.
    pub fn len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12; // NOP NOP TS, or SACK-permitted TS
        } else if self.sack_permitted {
            len += 4; // NOP NOP SACK-permitted
        }
        if self.window_scale.is_some() {
            len += 4; // NOP WS
        }
        if !self.sack.is_empty() {
            len += 4 + 8 * self.sack.len(); // NOP NOP SACK
        }
        len
    }

    /// Whether there are no options to emit.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the options into `buf[..self.len()]` in the order and alignment Linux uses
    /// (`tcp_options_write`): MSS; SACK-permitted folded into the timestamps' padding, or
    /// NOP NOP timestamps, or NOP NOP SACK-permitted; NOP window scale; NOP NOP SACK blocks.
    /// Every 4-byte word is filled, so no trailing padding is needed (RFC 9293 §3.2).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = self.len();
        if len > Self::MAX_LEN {
            return Err(WireError::BadOption {
                layer: Layer::Tcp,
                kind: option_kind::SACK,
            });
        }
        check_buffer(Layer::Tcp, len, buf.len())?;
        // The options of every segment after the handshake, without SACK blocks: NOP NOP
        // timestamps, written in one go (the same bytes as the general path below).
        if let (Some(ts), None, None, false, true) = (
            self.timestamps,
            self.mss,
            self.window_scale,
            self.sack_permitted,
            self.sack.is_empty(),
        ) {
            let [a0, a1, a2, a3] = ts.tsval.to_be_bytes();
            let [b0, b1, b2, b3] = ts.tsecr.to_be_bytes();
            if let Some(dst) = buf.get_mut(..12) {
                dst.copy_from_slice(&[
                    option_kind::NOP,
                    option_kind::NOP,
                    option_kind::TIMESTAMPS,
                    10,
                    a0,
                    a1,
                    a2,
                    a3,
                    b0,
                    b1,
                    b2,
                    b3,
                ]);
            }
            return Ok(());
        }
        let mut w = Writer { buf, at: 0 };
        if let Some(mss) = self.mss {
            w.put(&[option_kind::MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        match (self.timestamps, self.sack_permitted) {
            (Some(ts), sack_permitted) => {
                if sack_permitted {
                    w.put(&[option_kind::SACK_PERMITTED, 2]);
                } else {
                    w.put(&[option_kind::NOP, option_kind::NOP]);
                }
                w.put(&[option_kind::TIMESTAMPS, 10]);
                w.put(&ts.tsval.to_be_bytes());
                w.put(&ts.tsecr.to_be_bytes());
            }
            (None, true) => w.put(&[
                option_kind::NOP,
                option_kind::NOP,
                option_kind::SACK_PERMITTED,
                2,
            ]),
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            w.put(&[option_kind::NOP, option_kind::WINDOW_SCALE, 3, shift]);
        }
        if !self.sack.is_empty() {
            // At most 2 + 8 * 4 = 34: fits a u8.
            let option_len = (2 + 8 * self.sack.len()) as u8;
            w.put(&[
                option_kind::NOP,
                option_kind::NOP,
                option_kind::SACK,
                option_len,
            ]);
            for block in self.sack.as_slice() {
                w.put(&block.left.to_be_bytes());
                w.put(&block.right.to_be_bytes());
            }
        }
        Ok(())
    }
}

/// Appends bytes to a buffer already checked to be long enough (and ignores any overflow
/// rather than panicking).
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

/// A view of a TCP segment: header, options, data.
pub struct TcpPacket<B> {
    header: Ref<B, TcpHeader>,
    options: B,
    payload: B,
}

impl<B: ByteSlice> fmt::Debug for TcpPacket<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpPacket")
            .field("header", self.header())
            .field("options", &self.options())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl<B: SplitByteSlice> TcpPacket<B> {
    /// Splits `bytes` (the whole IP payload: TCP has no length field, RFC 9293 §3.1 "TCP
    /// Length" comes from IP): `Truncated` below 20 bytes or below the data offset,
    /// `BadHeaderLen` for a data offset below 5. Options and checksum are checked by
    /// [`TcpRepr::parse`].
    pub fn new_checked(bytes: B) -> Result<Self> {
        let got = bytes.len();
        let (header, rest) =
            Ref::<B, TcpHeader>::from_prefix(bytes).map_err(|_| WireError::Truncated {
                layer: Layer::Tcp,
                needed: TcpRepr::HEADER_LEN,
                got,
            })?;
        let header_len = usize::from(header.data_offset >> 4) * 4;
        if header_len < TcpRepr::HEADER_LEN {
            return Err(WireError::BadHeaderLen {
                layer: Layer::Tcp,
                len: header_len,
            });
        }
        let (options, payload) = rest
            .split_at(header_len - TcpRepr::HEADER_LEN)
            .map_err(|_| WireError::Truncated {
                layer: Layer::Tcp,
                needed: header_len,
                got,
            })?;
        Ok(TcpPacket {
            header,
            options,
            payload,
        })
    }
}

impl<B: ByteSlice> TcpPacket<B> {
    /// The fixed header.
    pub fn header(&self) -> &TcpHeader {
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

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        self.header.seq.get()
    }

    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        self.header.ack.get()
    }

    /// Header length in bytes, options included (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.header.data_offset >> 4) * 4
    }

    /// Control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.header.flags)
    }

    /// Window field (unscaled).
    pub fn window(&self) -> u16 {
        self.header.window.get()
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.header.checksum.get()
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        self.header.urgent.get()
    }

    /// The raw options area.
    pub fn options(&self) -> &[u8] {
        &self.options
    }

    /// The options one by one.
    pub fn option_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(&self.options)
    }

    /// The data.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The data, keeping the buffer's lifetime.
    pub fn into_payload(self) -> B {
        self.payload
    }

    /// SEG.LEN (RFC 9293 §3.3.1): data length, plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags().contains(TcpFlags::SYN))
            + usize::from(self.flags().contains(TcpFlags::FIN))
    }

    /// Whether the checksum verifies against the pseudo-header of `src` → `dst`
    /// (RFC 9293 §3.1 "Checksum").
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.sum(src, dst) == 0xffff
    }

    fn sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let len = TcpRepr::HEADER_LEN + self.options.len() + self.payload.len();
        // A segment longer than 65535 bytes cannot come from IPv4; its sum cannot verify.
        let Ok(len) = u16::try_from(len) else {
            return 0;
        };
        let pseudo = checksum::pseudo_header_sum(src, dst, IpProtocol::TCP.0, len);
        let header = checksum::add(
            checksum::sum(self.header.as_bytes()),
            checksum::sum(&self.options),
        );
        checksum::add(pseudo, checksum::add(header, checksum::sum(&self.payload)))
    }
}

impl<B: ByteSliceMut> TcpPacket<B> {
    /// The fixed header, writable (the checksum is not updated).
    pub fn header_mut(&mut self) -> &mut TcpHeader {
        &mut self.header
    }

    /// Sets the sequence number (the checksum is not updated).
    pub fn set_seq(&mut self, seq: u32) {
        self.header.seq.set(seq);
    }

    /// Sets the acknowledgment number (the checksum is not updated).
    pub fn set_ack(&mut self, ack: u32) {
        self.header.ack.set(ack);
    }

    /// Sets the control bits (the checksum is not updated).
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.header.flags = flags.0;
    }

    /// Sets the window (the checksum is not updated).
    pub fn set_window(&mut self, window: u16) {
        self.header.window.set(window);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.header.checksum.set(value);
    }

    /// Recomputes the checksum for `src` → `dst`.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.header.checksum.set(0);
        let value = !self.sum(src, dst);
        self.header.checksum.set(value);
    }

    /// The options area, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.options
    }

    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.payload
    }
}

/// A parsed TCP header. The data stays in the packet ([`TcpPacket::payload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window: u16,
    /// Urgent pointer (meaningful when `flags` has URG).
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
}

impl TcpRepr {
    /// Length of a header without options.
    pub const HEADER_LEN: usize = 20;
    /// Length of the longest header (data offset 15).
    pub const MAX_HEADER_LEN: usize = 60;

    /// Reads a checked segment sent from `src` to `dst`: verifies the checksum if `csum` says
    /// so, then parses the options (`BadOption` for a malformed one).
    pub fn parse<B: ByteSlice>(
        packet: &TcpPacket<B>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        csum: RxChecksum,
    ) -> Result<TcpRepr> {
        if csum == RxChecksum::Verify && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum { layer: Layer::Tcp });
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq(),
            ack: packet.ack(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: TcpOptions::parse(packet.options())?,
        })
    }

    /// The data of the segment `bytes` (header, options, data) when its header has one of
    /// the two layouts of nearly every segment after the handshake: no options (data offset
    /// 5), or NOP NOP timestamps and nothing else (data offset 8); `None` for any other (or
    /// too short) segment. For those, `repr` becomes what [`TcpPacket::new_checked`] and
    /// [`Self::parse`] with [`RxChecksum::Trust`] give, which cannot fail on them (the header
    /// fits, and these options parse), read straight from the bytes; the caller checks the
    /// checksum itself. `None` leaves `repr` as it was.
    ///
    /// The header is written field by field into the caller's `repr`, where it stays: a repr
    /// returned (in an `Option`, whose tag lives in one of its bytes) was moved in other
    /// pieces than it was written in, and those loads waited for the stores, a
    /// store-forwarding stall per segment received.
    #[inline]
    pub fn parse_fixed_layout<'a>(bytes: &'a [u8], repr: &mut TcpRepr) -> Option<&'a [u8]> {
        let (h, rest) = bytes.split_first_chunk::<{ Self::HEADER_LEN }>()?;
        let [p0, p1, q0, q1, s0, s1, s2, s3, a0, a1, a2, a3, offset, flags, w0, w1, _, _, u0, u1] =
            *h;
        let (timestamps, payload) = match offset >> 4 {
            5 => (None, rest),
            8 => {
                let (o, payload) = rest.split_first_chunk::<12>()?;
                (Some(nop_nop_timestamps(o)?), payload)
            }
            _ => return None,
        };
        repr.src_port = u16::from_be_bytes([p0, p1]);
        repr.dst_port = u16::from_be_bytes([q0, q1]);
        repr.seq = u32::from_be_bytes([s0, s1, s2, s3]);
        repr.ack = u32::from_be_bytes([a0, a1, a2, a3]);
        repr.flags = TcpFlags(flags);
        repr.window = u16::from_be_bytes([w0, w1]);
        repr.urgent = u16::from_be_bytes([u0, u1]);
        let options = &mut repr.options;
        options.mss = None;
        options.window_scale = None;
        options.sack_permitted = false;
        options.sack = SackBlocks::new();
        options.timestamps = timestamps;
        Some(payload)
    }

    /// Header length with the options [`Self::emit`] writes.
    pub fn header_len(&self) -> usize {
        Self::HEADER_LEN + self.options.len()
    }

    /// Header plus `payload_len` bytes of data: the size of the buffer [`Self::emit`] takes.
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// SEG.LEN (RFC 9293 §3.3.1) of a segment carrying `payload_len` bytes.
    pub fn segment_len(&self, payload_len: usize) -> usize {
        payload_len
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes header and options into `segment[..self.header_len()]`, whose data
    /// (`segment[header_len..]`, already in place: zero-copy) is all of the rest. The
    /// checksum is computed over pseudo-header, header and data, or, with
    /// [`TxChecksum::Offload`], seeded with the pseudo-header sum for the device to finish.
    /// `BadOption` if the options exceed 40 bytes, `BadLength` if the segment exceeds 65535.
    pub fn emit(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        csum: TxChecksum,
    ) -> Result<()> {
        let header_len = self.header_len();
        if header_len > Self::MAX_HEADER_LEN {
            return Err(WireError::BadOption {
                layer: Layer::Tcp,
                kind: option_kind::SACK,
            });
        }
        let got = segment.len();
        check_buffer(Layer::Tcp, header_len, got)?;
        let length = u16::try_from(got).map_err(|_| WireError::BadLength {
            layer: Layer::Tcp,
            len: got,
        })?;
        let too_small = || WireError::BufferTooSmall {
            layer: Layer::Tcp,
            needed: header_len,
            got,
        };
        let (header, rest) =
            Ref::<&mut [u8], TcpHeader>::from_prefix(&mut *segment).map_err(|_| too_small())?;
        let header = Ref::into_mut(header);
        let options = rest
            .get_mut(..header_len - Self::HEADER_LEN)
            .ok_or_else(too_small)?;
        // header_len <= 60, so the data offset fits its nibble.
        let data_offset = ((header_len / 4) as u8) << 4;
        *header = TcpHeader {
            src_port: U16::new(self.src_port),
            dst_port: U16::new(self.dst_port),
            seq: U32::new(self.seq),
            ack: U32::new(self.ack),
            data_offset,
            flags: self.flags.0,
            window: U16::new(self.window),
            checksum: U16::ZERO,
            urgent: U16::new(self.urgent),
        };
        self.options.emit(options)?;
        let pseudo = checksum::pseudo_header_sum(src, dst, IpProtocol::TCP.0, length);
        match csum {
            TxChecksum::Compute => {
                // One pass over header, options and data, which are contiguous (the checksum
                // field is still zero).
                let sum = checksum::add(pseudo, checksum::sum(segment));
                set_checksum(segment, !sum);
            }
            TxChecksum::Offload => set_checksum(segment, pseudo),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::samples;

    /// `parse_fixed_layout` agrees with `new_checked` + `parse` (Trust) whenever it answers,
    /// and answers for every segment with either layout.
    #[test]
    fn fixed_layout_parse_matches_the_general_parse() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut answered = 0;
        for i in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if bytes.len() >= 20 {
                // Bias towards the two layouts (and near misses).
                match i % 4 {
                    0 => bytes[12] = 0x50 | (bytes[12] & 0x0f),
                    1 | 2 if bytes.len() >= 32 => {
                        bytes[12] = 0x80 | (bytes[12] & 0x0f);
                        bytes[20..24].copy_from_slice(&[1, 1, 8, 10]);
                        if i % 4 == 2 {
                            bytes[20 + (next() % 4) as usize] ^= 1 << (next() % 8);
                        }
                    }
                    _ => {}
                }
            }
            let general = TcpPacket::new_checked(&bytes[..]).and_then(|p| {
                let repr = TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust)?;
                Ok((repr, p.payload().to_vec()))
            });
            let offset = bytes.get(12).map(|b| b >> 4);
            let fixed_layout = match offset {
                Some(5) => bytes.len() >= 20,
                Some(8) => bytes.get(20..24) == Some(&[1, 1, 8, 10][..]) && bytes.len() >= 32,
                _ => false,
            };
            // Whatever it held before, a parsed repr is the same.
            let mut repr = TcpRepr {
                seq: 7,
                flags: TcpFlags::SYN,
                options: TcpOptions {
                    mss: Some(1),
                    window_scale: Some(2),
                    sack_permitted: true,
                    sack: SackBlocks::from_slice(&[SackBlock { left: 1, right: 2 }]),
                    timestamps: Some(TcpTimestamps { tsval: 1, tsecr: 2 }),
                },
                ..TcpRepr::default()
            };
            let before = repr;
            match TcpRepr::parse_fixed_layout(&bytes, &mut repr) {
                Some(payload) => {
                    answered += 1;
                    assert_eq!(general, Ok((repr, payload.to_vec())), "{bytes:?}");
                }
                None => {
                    assert!(!fixed_layout, "{bytes:?}");
                    assert_eq!(repr, before, "{bytes:?}: refused, yet written");
                }
            }
        }
        assert!(answered > 5000);
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    const DST: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

    fn syn() -> &'static [u8] {
        &samples::TCP_SYN[14 + 20..]
    }

    fn syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 48312,
            dst_port: 80,
            seq: 0x9b7a_4c21,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                sack: SackBlocks::new(),
                timestamps: Some(TcpTimestamps {
                    tsval: 0x5c3a_1f07,
                    tsecr: 0,
                }),
            },
        }
    }

    #[test]
    fn parses_linux_syn() {
        let packet = TcpPacket::new_checked(syn()).unwrap();
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), TcpFlags::SYN);
        assert_eq!(packet.segment_len(), 1);
        assert!(packet.verify_checksum(SRC, DST));
        let options: Vec<_> = packet.option_iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps(TcpTimestamps {
                    tsval: 0x5c3a_1f07,
                    tsecr: 0
                }),
                TcpOption::NoOp,
                TcpOption::WindowScale(7),
            ]
        );
        let repr = TcpRepr::parse(&packet, SRC, DST, RxChecksum::Verify).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(format!("{:?}", repr.flags), "SYN");
    }

    #[test]
    fn emit_round_trips_linux_syn_bytes() {
        let repr = syn_repr();
        assert_eq!(repr.header_len(), 40);
        let mut out = vec![0u8; repr.buffer_len(0)];
        repr.emit(&mut out, SRC, DST, TxChecksum::Compute).unwrap();
        assert_eq!(out, syn());
    }

    #[test]
    fn data_segment_with_sack_round_trips() {
        let mut repr = syn_repr();
        repr.flags = TcpFlags::ACK | TcpFlags::PSH;
        repr.ack = 0x0102_0304;
        repr.options = TcpOptions {
            timestamps: Some(TcpTimestamps { tsval: 7, tsecr: 9 }),
            sack: SackBlocks::from_slice(&[
                SackBlock {
                    left: 100,
                    right: 200,
                },
                SackBlock {
                    left: 300,
                    right: 400,
                },
                SackBlock {
                    left: 500,
                    right: 600,
                },
            ]),
            ..TcpOptions::default()
        };
        assert_eq!(repr.header_len(), 20 + 12 + 4 + 24);
        let payload = b"GET / HTTP/1.1\r\n\r\n";
        let mut out = vec![0u8; repr.buffer_len(payload.len())];
        out[repr.header_len()..].copy_from_slice(payload);
        repr.emit(&mut out, SRC, DST, TxChecksum::Compute).unwrap();
        // NOP NOP TS, NOP NOP SACK: Linux's layout.
        assert_eq!(out[20..24], [1, 1, 8, 10]);
        assert_eq!(out[32..36], [1, 1, 5, 26]);
        let packet = TcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(packet.payload(), payload);
        assert_eq!(packet.segment_len(), payload.len());
        assert_eq!(
            TcpRepr::parse(&packet, SRC, DST, RxChecksum::Verify).unwrap(),
            repr
        );
    }

    #[test]
    fn four_sack_blocks_parse_but_do_not_fit_with_timestamps() {
        let blocks: Vec<SackBlock> = (0..4)
            .map(|i| SackBlock {
                left: i * 10,
                right: i * 10 + 5,
            })
            .collect();
        let options = TcpOptions {
            sack: SackBlocks::from_slice(&blocks),
            ..TcpOptions::default()
        };
        assert_eq!(options.len(), 36);
        let mut buf = [0u8; 36];
        options.emit(&mut buf).unwrap();
        assert_eq!(TcpOptions::parse(&buf).unwrap(), options);
        assert_eq!(TcpOptions::parse(&buf).unwrap().sack.as_slice(), blocks);
        let too_many = TcpOptions {
            timestamps: Some(TcpTimestamps::default()),
            ..options
        };
        assert_eq!(too_many.len(), 48);
        assert!(matches!(
            too_many.emit(&mut [0u8; 48]),
            Err(WireError::BadOption { .. })
        ));
        let repr = TcpRepr {
            options: too_many,
            ..syn_repr()
        };
        assert!(matches!(
            repr.emit(&mut [0u8; 100], SRC, DST, TxChecksum::Compute),
            Err(WireError::BadOption { .. })
        ));
        let mut sack = SackBlocks::from_slice(&blocks);
        assert!(!sack.push(SackBlock::default()));
        assert_eq!(sack.len(), 4);
    }

    #[test]
    fn option_parsing_edge_cases() {
        let bad = |bytes: &[u8], kind: u8| {
            assert_eq!(
                TcpOptions::parse(bytes),
                Err(WireError::BadOption {
                    layer: Layer::Tcp,
                    kind
                }),
                "{bytes:02x?}"
            );
        };
        // Zero and one lengths would loop forever in a naive parser.
        bad(&[0x22, 0x00, 0x01, 0x01], 0x22);
        bad(&[0x22, 0x01, 0x01, 0x01], 0x22);
        bad(&[option_kind::MSS, 0x00, 0x05, 0xb4], option_kind::MSS);
        // Running past the end, or no length byte at all.
        bad(&[0x01, 0x01, 0x22, 0x05, 0x00], 0x22);
        bad(&[0x01, 0x01, 0x01, 0x22], 0x22);
        bad(
            &[option_kind::TIMESTAMPS, 10, 0, 0, 0, 0, 0, 0, 0],
            option_kind::TIMESTAMPS,
        );
        // Known kinds with the wrong length.
        bad(&[option_kind::MSS, 3, 0x05, 0x01], option_kind::MSS);
        bad(
            &[option_kind::WINDOW_SCALE, 4, 7, 0],
            option_kind::WINDOW_SCALE,
        );
        bad(
            &[option_kind::SACK_PERMITTED, 3, 0, 1],
            option_kind::SACK_PERMITTED,
        );
        bad(&[option_kind::SACK, 2, 1, 1], option_kind::SACK);
        bad(&[option_kind::SACK, 6, 0, 0, 0, 1], option_kind::SACK);
        bad(
            &[option_kind::TIMESTAMPS, 6, 0, 0, 0, 1],
            option_kind::TIMESTAMPS,
        );

        // Unknown options are skipped by their length; EOL stops everything after it.
        let ok = TcpOptions::parse(&[
            0x1e,
            0x06,
            0xaa,
            0xbb,
            0xcc,
            0xdd, // MPTCP-like, unknown here
            option_kind::MSS,
            4,
            0x05,
            0x78, // 1400
            option_kind::END,
            0x22,
            0x00,
            0xff, // garbage after EOL is padding
        ])
        .unwrap();
        assert_eq!(ok.mss, Some(1400));
        let unknown: Vec<_> = TcpOptionIter::new(&[0xfe, 0x04, 0x12, 0x34, 0x00])
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            unknown,
            [
                TcpOption::Unknown {
                    kind: 0xfe,
                    data: &[0x12, 0x34]
                },
                TcpOption::EndOfList
            ]
        );
        // An error ends the iteration.
        let mut iter = TcpOptionIter::new(&[0x22, 0x00, option_kind::MSS, 4, 0, 1]);
        assert!(matches!(iter.next(), Some(Err(_))));
        assert_eq!(iter.next(), None);
        assert_eq!(TcpOptions::parse(&[]).unwrap(), TcpOptions::default());
        assert_eq!(TcpOptions::parse(&[1; 40]).unwrap(), TcpOptions::default());
    }

    #[test]
    fn header_validation() {
        for len in 0..20 {
            assert!(matches!(
                TcpPacket::new_checked(&syn()[..len]),
                Err(WireError::Truncated { needed: 20, .. })
            ));
        }
        for len in 20..40 {
            assert_eq!(
                TcpPacket::new_checked(&syn()[..len]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Tcp,
                    needed: 40,
                    got: len
                }
            );
        }
        for offset in 0..5u8 {
            let mut bad = syn().to_vec();
            bad[12] = offset << 4;
            assert_eq!(
                TcpPacket::new_checked(&bad[..]).unwrap_err(),
                WireError::BadHeaderLen {
                    layer: Layer::Tcp,
                    len: usize::from(offset) * 4
                }
            );
        }
        let mut bad = syn().to_vec();
        bad[4] ^= 0x80; // sequence number
        let packet = TcpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&packet, SRC, DST, RxChecksum::Verify),
            Err(WireError::BadChecksum { layer: Layer::Tcp })
        );
        assert!(TcpRepr::parse(&packet, SRC, DST, RxChecksum::Trust).is_ok());
        // The right checksum for other addresses is the wrong one here.
        let packet = TcpPacket::new_checked(syn()).unwrap();
        assert!(TcpRepr::parse(&packet, DST, SRC, RxChecksum::Verify).is_ok());
        assert!(TcpRepr::parse(&packet, SRC, SRC, RxChecksum::Verify).is_err());
    }

    #[test]
    fn offload_seeds_pseudo_header_sum() {
        let repr = syn_repr();
        let mut out = vec![0u8; repr.buffer_len(0)];
        repr.emit(&mut out, SRC, DST, TxChecksum::Offload).unwrap();
        assert_eq!(
            u16::from_be_bytes([out[16], out[17]]),
            checksum::pseudo_header_sum(SRC, DST, 6, 40)
        );
        let value = checksum::checksum(&out);
        out[16..18].copy_from_slice(&value.to_be_bytes());
        assert_eq!(out, syn());
    }

    #[test]
    fn in_place_edit_and_fill_checksum() {
        let mut bytes = syn().to_vec();
        let mut packet = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.set_flags(TcpFlags::SYN | TcpFlags::ACK);
        packet.set_ack(42);
        packet.set_seq(7);
        packet.set_window(1000);
        packet.fill_checksum(DST, SRC);
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        let repr = TcpRepr::parse(&packet, DST, SRC, RxChecksum::Verify).unwrap();
        assert_eq!((repr.seq, repr.ack, repr.window), (7, 42, 1000));
        assert_eq!(format!("{:?}", repr.flags), "ACK|SYN");
        assert!(repr.flags.intersects(TcpFlags::SYN | TcpFlags::FIN));
    }

    #[test]
    fn incremental_seq_update_matches_recompute() {
        let mut bytes = syn().to_vec();
        let mut packet = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        let old = packet.seq();
        let hc = checksum::update32(packet.checksum(), old, 0xdead_beef);
        packet.set_seq(0xdead_beef);
        packet.set_checksum(hc);
        assert!(packet.verify_checksum(SRC, DST));
    }
}
