//! IPv4 for a host (RFC 791, RFC 1122 §3.2.1, §3.3): input validation and demultiplexing,
//! routing, and output with ARP resolution of the next hop.
//!
//! Input accepts a packet only if its header is valid (version, lengths, checksum unless the
//! device verified it), its destination is one of our addresses or a broadcast address, its
//! source is a plausible host, and it is not a fragment (no reassembly: fragments are dropped
//! and counted). Options are skipped. We are a host: nothing is forwarded and TTL is not
//! checked on input (RFC 1122 §3.2.1.7 only asks hosts to set it).
//!
//! Output routing is: on-link (an address of ours shares the destination's prefix) → ARP for
//! the destination; otherwise → ARP for the gateway; no gateway → no route. Headers are
//! written into the buffer's headroom in front of the transport message (zero copy), with
//! the configured TTL and an identification counter; the checksum is computed in software or
//! left to the device as the port's capabilities say.

use std::net::{Ipv4Addr, SocketAddrV4};

use cyclone_pmd::{MacAddr, PacketBuf, Pool, Timestamp};

use super::arp::Hold;
use super::config::is_unicast;
use super::{Core, InterfaceSink, RX_BURST};
use crate::tcp::{Payload, PlainSegment, Tcp};
use crate::wire::{
    checksum, EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Layer, RxChecksum,
    TcpPacket, TcpRepr, TxChecksum, UnreachableCode, WireError,
};

/// Where a frame goes on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NextHop {
    /// To every host: no resolution needed.
    Broadcast,
    /// To the host with this address, resolved by ARP.
    Ip(Ipv4Addr),
}

/// The outcome of routing a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route {
    /// Where the frame goes on the link.
    pub(super) next_hop: NextHop,
    /// Our address to send from.
    pub(super) src: Ipv4Addr,
}

/// Where the last TCP segment went on the link: its destination, the next hop's MAC, and how
/// long that stays true. Routing depends only on the configuration, which does not change
/// after `Interface::new`; the MAC is the ARP cache's entry for the next hop, valid until it
/// expires and only while the cache is unchanged (same [`arp::ArpCache::generation`]): any
/// ARP update, insertion or removal sends the next segment through the full route + ARP
/// lookup again. Most segments go to the same peer as the one before (a burst, or a reply),
/// so this one entry spares them the route and the hash lookup.
///
/// [`arp::ArpCache::generation`]: super::arp::ArpCache::generation
///
/// It also holds a header template for [`SegmentSink::send_plain`] from the source address
/// the path was resolved for: the Ethernet header and the IPv4 header with every field but
/// the total length, identification and checksum filled in, and the one's complement sums
/// of the constant words of the IPv4 header and of the TCP pseudo-header (RFC 1071: the sum
/// is associative and commutative, so adding the per-segment words to a precomputed partial
/// sum gives the sum over the whole header). It lives and dies with the path: a new route
/// or ARP entry builds a new one.
///
/// [`SegmentSink::send_plain`]: crate::tcp::SegmentSink::send_plain
#[derive(Debug, Clone, Copy)]
pub(super) struct TxPath {
    dst: Ipv4Addr,
    mac: MacAddr,
    expires: Timestamp,
    arp_generation: u64,
    /// The source address of the template.
    src: Ipv4Addr,
    /// Ethernet header + IPv4 header (length, identification and checksum zero).
    head: [u8; TxPath::HEAD_LEN],
    /// Sum (RFC 1071, folded) of the IPv4 header's constant words.
    ip_sum: u32,
    /// Sum (folded) of the TCP pseudo-header's constant words (addresses, protocol).
    pseudo_sum: u32,
}

impl TxPath {
    const HEAD_LEN: usize = EthernetRepr::HEADER_LEN + Ipv4Repr::HEADER_LEN;

    /// A path to `dst` from `src` through `mac`, with its template: the bytes
    /// `send_tcp_resolved` writes (DF, DSCP 0, `ttl`, protocol TCP).
    fn new(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mac: MacAddr,
        our_mac: MacAddr,
        ttl: u8,
        expires: Timestamp,
        arp_generation: u64,
    ) -> TxPath {
        let ip = ipv4_tcp_header(src, dst, ttl, 0, 0);
        let mut head = [0; TxPath::HEAD_LEN];
        let (eth_part, ip_part) = head.split_at_mut(EthernetRepr::HEADER_LEN);
        eth_part.copy_from_slice(&ethernet_ipv4_header(mac, our_mac));
        ip_part.copy_from_slice(&ip);
        TxPath {
            dst,
            mac,
            expires,
            arp_generation,
            src,
            head,
            // The sums of the very bytes written (length, identification and checksum zero),
            // folded: one's complement sums combine folded or not (RFC 1071 §2).
            ip_sum: u32::from(checksum::sum(&ip)),
            pseudo_sum: u32::from(checksum::pseudo_header_sum(src, dst, IpProtocol::TCP.0, 0)),
        }
    }
}

/// The Ethernet header of an IPv4 frame from `ours` to `to`.
#[inline]
fn ethernet_ipv4_header(to: MacAddr, ours: MacAddr) -> [u8; EthernetRepr::HEADER_LEN] {
    let mut h = [0; EthernetRepr::HEADER_LEN];
    h[..6].copy_from_slice(&to.0);
    h[6..12].copy_from_slice(&ours.0);
    h[12..].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
    h
}

/// The IPv4 header of a TCP segment (RFC 791 §3.1): version 4, no options, DSCP/ECN 0, DF
/// (TCP does its own MSS sizing), `ttl`, `total_len` and `ident` as given, checksum 0.
#[inline]
fn ipv4_tcp_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    total_len: u16,
    ident: u16,
) -> [u8; Ipv4Repr::HEADER_LEN] {
    let mut h = [0; Ipv4Repr::HEADER_LEN];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6] = 0x40; // DF
    h[8] = ttl;
    h[9] = IpProtocol::TCP.0;
    h[12..16].copy_from_slice(&src.octets());
    h[16..].copy_from_slice(&dst.octets());
    h
}

/// Why a packet was not sent (each is counted where it happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxError {
    /// No on-link subnet and no gateway for the destination.
    NoRoute,
    /// The pool was empty.
    NoBuffer,
    /// Larger than the MTU, or the buffer lacked head- or tailroom.
    TooBig,
    /// Too many addresses were being resolved.
    ArpTableFull,
}

/// A received packet accepted for local delivery, as the transport layers see it. The buffer
/// holds Ethernet header + IPv4 packet, trimmed to the IPv4 total length.
#[derive(Debug, Clone, Copy)]
pub(super) struct RxIp {
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    pub(super) protocol: IpProtocol,
    pub(super) dscp_ecn: u8,
    /// The sender's (or last router's) MAC: where replies go.
    pub(super) eth_src: MacAddr,
    /// IPv4 header length, options included.
    pub(super) header_len: usize,
    /// IPv4 total length.
    pub(super) total_len: usize,
    /// Whether the destination is a broadcast address.
    pub(super) broadcast: bool,
}

impl RxIp {
    /// Offset of the transport header in the buffer.
    pub(super) fn l4_offset(&self) -> usize {
        EthernetRepr::HEADER_LEN + self.header_len
    }
}

impl Core {
    /// Whether `ip` is one of our addresses.
    pub(super) fn is_own(&self, ip: Ipv4Addr) -> bool {
        self.config.addresses.iter().any(|c| c.addr == ip)
    }

    /// Whether `ip` is the limited broadcast or one of our subnets' directed broadcasts.
    pub(super) fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast()
            || self
                .config
                .addresses
                .iter()
                .any(|c| c.broadcast() == Some(ip))
    }

    /// Our address to use towards `next_hop`: the one on its subnet, else the first.
    pub(super) fn source_for(&self, next_hop: Ipv4Addr) -> Ipv4Addr {
        let first = self.config.addresses.first().map(|c| c.addr);
        self.config
            .addresses
            .iter()
            .find(|c| c.contains(next_hop))
            .map(|c| c.addr)
            .or(first)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Routes `dst` (RFC 1122 §3.3.1.1: on-link → direct, else → the gateway), counting a
    /// failure.
    pub(super) fn route(&mut self, dst: Ipv4Addr) -> Result<Route, TxError> {
        let route = self.lookup_route(dst);
        if route.is_none() {
            self.stats.drop_no_route += 1;
        }
        route.ok_or(TxError::NoRoute)
    }

    fn lookup_route(&self, dst: Ipv4Addr) -> Option<Route> {
        let addresses = &self.config.addresses;
        if dst.is_broadcast() {
            let src = addresses.first()?.addr;
            return Some(Route {
                next_hop: NextHop::Broadcast,
                src,
            });
        }
        if let Some(c) = addresses.iter().find(|c| c.broadcast() == Some(dst)) {
            return Some(Route {
                next_hop: NextHop::Broadcast,
                src: c.addr,
            });
        }
        // No loopback, no multicast (no IGMP), nothing to 0.0.0.0.
        if !is_unicast(dst) || self.is_own(dst) {
            return None;
        }
        if let Some(c) = addresses.iter().find(|c| c.contains(dst)) {
            return Some(Route {
                next_hop: NextHop::Ip(dst),
                src: c.addr,
            });
        }
        let gateway = self.config.gateway?;
        Some(Route {
            next_hop: NextHop::Ip(gateway),
            src: self.source_for(gateway),
        })
    }

    /// A fresh buffer from the queue's pool, or `None` (counted) when it is empty.
    #[inline(always)]
    pub(super) fn alloc(&mut self) -> Option<PacketBuf> {
        if let Some(buf) = self.spare.pop() {
            return Some(buf);
        }
        let buf = self.pool.as_ref().and_then(|p| p.alloc());
        if buf.is_none() {
            self.stats.drop_no_buffer += 1;
        }
        buf
    }

    /// Keeps `buf`, a received frame whose handling is over, among the spares for the next
    /// [`Core::alloc`]s (emptied, with the pool's headroom), unless [`RX_BURST`] are kept
    /// already, the frame is of another pool or another buffer holds it too (the sender's
    /// send buffer, on a link that hands over the very frame); else it goes back to its pool.
    #[inline(always)]
    pub(super) fn recycle(&mut self, mut buf: PacketBuf) {
        if self.spare.len() < RX_BURST
            && self.pool.as_ref().is_some_and(|p| p.id() == buf.pool_id())
            && !buf.is_shared()
        {
            buf.reset();
            self.spare.push(buf);
        }
    }

    /// The next IPv4 identification (RFC 791 §3.2; RFC 6864 §4.1 makes it matter only for
    /// fragments, but a counter costs nothing and helps when reading captures).
    pub(super) fn next_ident(&mut self) -> u16 {
        let ident = self.ident;
        self.ident = self.ident.wrapping_add(1);
        ident
    }

    /// Queues a finished frame for the device; when the queue is full the oldest frame is
    /// dropped (counted) to make room.
    #[inline(always)]
    pub(super) fn enqueue_tx(&mut self, buf: PacketBuf) {
        if self.tx.len() >= self.config.tx_queue_len {
            self.make_tx_room();
        }
        self.tx.push(buf);
    }

    /// [`Self::enqueue_tx`] on a full queue: drops (and counts) the oldest frames so that one
    /// more fits. Out of line: the queue is full only when the device stalls.
    #[cold]
    #[inline(never)]
    fn make_tx_room(&mut self) {
        let excess = self.tx.len() + 1 - self.config.tx_queue_len;
        self.tx.drain(..excess);
        self.stats.drop_tx_queue_overflow += excess as u64;
    }

    /// Writes IPv4 (`ip`, whose payload is all of `buf`) and Ethernet (to `dst_mac`) headers
    /// into the headroom of `buf`.
    pub(super) fn push_headers(
        &mut self,
        buf: &mut PacketBuf,
        mut ip: Ipv4Repr,
        dst_mac: MacAddr,
    ) -> Result<(), TxError> {
        ip.payload_len = buf.len();
        ip.ttl = self.config.ttl;
        ip.ident = self.next_ident();
        let csum = self.csum.ipv4_tx();
        let eth = EthernetRepr {
            src: self.config.mac,
            dst: dst_mac,
            ethertype: EtherType::IPV4,
            vlan: None,
        };
        let fits = ip.buffer_len() <= usize::from(self.mtu)
            && buf
                .prepend(Ipv4Repr::HEADER_LEN)
                .is_ok_and(|h| ip.emit(h, csum).is_ok())
            && buf
                .prepend(EthernetRepr::HEADER_LEN)
                .is_ok_and(|h| eth.emit(h).is_ok());
        if !fits {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        buf.offload.set_tx_ip_checksum(csum == TxChecksum::Offload);
        Ok(())
    }

    /// Sends a datagram (UDP, ICMP) of `protocol` to `dst`: routed, a fresh buffer that `build`
    /// fills with the message given our source address towards `dst` (false: it did not
    /// fit, counted as too big), IPv4 headers with DF clear, then [`Core::send_ipv4`].
    pub(super) fn send_datagram(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        build: impl FnOnce(&mut PacketBuf, Ipv4Addr) -> bool,
    ) -> Result<(), TxError> {
        let route = self.route(dst)?;
        let mut buf = self.alloc().ok_or(TxError::NoBuffer)?;
        if !build(&mut buf, route.src) {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        let mut ip = Ipv4Repr::new(route.src, dst, protocol, buf.len());
        ip.dont_frag = false;
        let now = self.now;
        self.send_ipv4(now, buf, ip, route.next_hop)
    }

    /// Sends the transport message in `buf` as the payload of `ip` to `next_hop`: headers
    /// prepended, then queued for the device, or held until ARP resolves the next hop.
    pub(super) fn send_ipv4(
        &mut self,
        now: Timestamp,
        mut buf: PacketBuf,
        ip: Ipv4Repr,
        next_hop: NextHop,
    ) -> Result<(), TxError> {
        let target = match next_hop {
            NextHop::Broadcast => None,
            NextHop::Ip(ip) => Some(ip),
        };
        let known = match target {
            None => Some(MacAddr::BROADCAST),
            Some(ip) => self.arp.lookup(ip, now),
        };
        self.push_headers(&mut buf, ip, known.unwrap_or(MacAddr::ZERO))?;
        match (known, target) {
            (Some(_), _) | (None, None) => {
                self.enqueue_tx(buf);
                Ok(())
            }
            (None, Some(ip)) => match self.arp.hold(ip, buf, now) {
                Hold::First => {
                    self.send_arp_request(ip);
                    Ok(())
                }
                Hold::Queued => Ok(()),
                Hold::DroppedOldest => {
                    self.stats.drop_arp_pending_overflow += 1;
                    Ok(())
                }
                Hold::TableFull => {
                    self.stats.drop_arp_pending_table_full += 1;
                    Err(TxError::ArpTableFull)
                }
            },
        }
    }

    /// Builds and sends one TCP segment (the [`SegmentSink`](crate::tcp::SegmentSink) work):
    /// payload copied once into a fresh buffer, TCP, IPv4 (DF set) and Ethernet headers
    /// prepended.
    pub(super) fn send_tcp(
        &mut self,
        now: Timestamp,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> Result<(), TxError> {
        match self.live_path(now, *dst.ip()) {
            Some(path) => self.send_tcp_resolved(src, dst, repr, payload, path.mac),
            None => self.send_tcp_routed(now, src, dst, repr, payload),
        }
    }

    /// The cached path if it still leads to `dst`: same destination, its ARP entry not
    /// expired and the ARP table unchanged since it was built.
    #[inline]
    fn live_path(&self, now: Timestamp, dst: Ipv4Addr) -> Option<TxPath> {
        self.tx_path.filter(|path| {
            path.dst == dst && now < path.expires && path.arp_generation == self.arp.generation()
        })
    }

    /// Sends a [`PlainSegment`] (the [`SegmentSink::send_plain`] work): from the path's
    /// template when the last TCP destination's path is still valid (the conditions of
    /// [`Self::send_tcp`]) and was resolved for this source, with software checksums; else
    /// as `seg.to_repr()` through [`Self::send_tcp`].
    ///
    /// [`SegmentSink::send_plain`]: crate::tcp::SegmentSink::send_plain
    pub(super) fn send_tcp_plain(
        &mut self,
        now: Timestamp,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seg: &PlainSegment,
        payload: Payload<'_>,
    ) -> Result<(), TxError> {
        if self.template_holds(now, src, dst) {
            self.send_template_copy(seg, payload)
        } else {
            self.send_tcp(now, src, dst, &seg.to_repr(), payload)
        }
    }

    /// A plain segment from the template (the caller checked it holds), `payload` copied into
    /// a fresh buffer.
    ///
    /// The buffer is built where the device takes it from, at the back of the transmit queue:
    /// a buffer moved right after its fields were written piece by piece is read back in
    /// other pieces, and such loads wait for the stores (a store-forwarding stall, several
    /// per segment when the finished buffer travelled through `Result`s into the queue).
    #[inline(always)]
    fn send_template_copy(
        &mut self,
        seg: &PlainSegment,
        payload: Payload<'_>,
    ) -> Result<(), TxError> {
        let header_len = Self::plain_header_len(seg);
        self.check_mtu(header_len, payload.len())?;
        let Some(buf) = self.alloc() else {
            return Err(TxError::NoBuffer);
        };
        let ident = self.next_ident();
        let ip_offload = self.csum.ipv4_tx() == TxChecksum::Offload;
        if self.tx.len() >= self.config.tx_queue_len {
            self.make_tx_room();
        }
        self.tx.push(buf);
        // The caller checked the path (`send_tcp_plain`).
        let (Some(buf), Some(path)) = (self.tx.last_mut(), self.tx_path.as_ref()) else {
            self.tx.pop();
            return Err(TxError::NoRoute);
        };
        let head = TxPath::HEAD_LEN + header_len;
        if !Self::fill_frame(buf, payload, head)
            || Self::write_template(path, ident, ip_offload, seg, buf, header_len).is_err()
        {
            // Cannot happen with a validated pool: its frames hold an MTU-sized packet.
            self.tx.pop();
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        self.stats.tx_tcp += 1;
        Ok(())
    }

    /// [`Self::send_tcp_plain`] with the first `len` bytes of `frame` (a frame of a TCP send
    /// buffer) as the payload, the [`SegmentSink::send_plain_frame`] work: on the template
    /// path, the headers go into the frame's headroom and the device gets a shared buffer of
    /// the frame (zero copy; `frame`'s window is restored); else a copy of the bytes goes the
    /// way of [`Self::send_tcp_plain`].
    ///
    /// [`SegmentSink::send_plain_frame`]: crate::tcp::SegmentSink::send_plain_frame
    pub(super) fn send_tcp_plain_frame(
        &mut self,
        now: Timestamp,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seg: &PlainSegment,
        frame: &mut PacketBuf,
        len: usize,
    ) -> Result<(), TxError> {
        let header_len = Self::plain_header_len(seg);
        let head = TxPath::HEAD_LEN + header_len;
        let len = len.min(frame.len());
        let payload = Payload::from_slice(&frame.data()[..len]);
        if !self.template_holds(now, src, dst) {
            return self.send_tcp(now, src, dst, &seg.to_repr(), payload);
        }
        if frame.headroom() < head || self.pool.as_ref().map(Pool::id) != Some(frame.pool_id()) {
            // Not a frame the device can be handed: a copy, from the template all the same.
            return self.send_template_copy(seg, payload);
        }
        self.check_mtu(header_len, len)?;
        // The headers go in front of the payload, in this frame, or, if a previous
        // transmission still holds it, in a copy of its whole window that `frame` moves to.
        if frame.make_unique().is_err() {
            self.stats.drop_no_buffer += 1;
            return Err(TxError::NoBuffer);
        }
        let (offset, frame_len) = (frame.frame_offset(), frame.len());
        frame.truncate(len);
        if frame.prepend(head).is_err() {
            // Cannot happen: the frame is this buffer's alone and has the headroom.
            let _ = frame.set_window(offset, frame_len);
            return Err(TxError::TooBig);
        }
        let ident = self.next_ident();
        let ip_offload = self.csum.ipv4_tx() == TxChecksum::Offload;
        // The caller checked the path (`send_tcp_plain`).
        let written = match self.tx_path.as_ref() {
            Some(path) => Self::write_template(path, ident, ip_offload, seg, frame, header_len),
            None => Err(TxError::NoRoute),
        };
        let tx = frame.share();
        // Cannot fail: the window it had, in the same place of the (maybe new) frame.
        let _ = frame.set_window(offset, frame_len);
        written?;
        self.enqueue_tx(tx);
        self.stats.tx_tcp += 1;
        self.stats.tx_tcp_zero_copy += 1;
        Ok(())
    }

    /// Whether a plain segment from `src` to `dst` may be written from the template of the
    /// last TCP path: still valid (the conditions of [`Self::send_tcp`]), resolved for this
    /// source, and software checksums.
    #[inline(always)]
    fn template_holds(&self, now: Timestamp, src: SocketAddrV4, dst: SocketAddrV4) -> bool {
        // Asked of the path in place: it is not copied out.
        self.tx_path.as_ref().is_some_and(|path| {
            path.dst == *dst.ip()
                && now < path.expires
                && path.arp_generation == self.arp.generation()
                && path.src == *src.ip()
        }) && self.csum.tcp_tx() == TxChecksum::Compute
    }

    /// The TCP header length of a [`PlainSegment`]: 20 bytes, and NOP NOP timestamps.
    #[inline(always)]
    fn plain_header_len(seg: &PlainSegment) -> usize {
        if seg.timestamps.is_some() {
            TcpRepr::HEADER_LEN + 12
        } else {
            TcpRepr::HEADER_LEN
        }
    }

    /// The headers of a [`PlainSegment`] from the template of the path the caller found live
    /// (`tx_path`, read in place), written into the first `TxPath::HEAD_LEN + header_len`
    /// bytes of `buf`, in front of the payload (the rest of `buf`). The bytes are
    /// those [`Self::send_tcp_resolved`] writes for `seg.to_repr()`:
    /// - Ethernet and IPv4 headers: the template is built from the same values, and the
    ///   total length and identification are filled the same way; the IPv4 checksum is the
    ///   complement of the sum of the template's constant words plus those two (the checksum
    ///   field is zero in both sums);
    /// - TCP header: `TcpRepr::emit`'s layout (ports, seq, ack, data offset, flags, window,
    ///   checksum, urgent 0) and `TcpOptions::emit`'s NOP NOP timestamps;
    /// - TCP checksum: `TcpRepr::emit` complements pseudo-header + header + data summed in
    ///   one pass; here the same words are summed in another order (RFC 1071 §2(B)). One's
    ///   complement sums of the same words can differ only as +0 (0x0000) against −0
    ///   (0xffff), and end-around-carry addition gives 0x0000 only when every word is zero,
    ///   which the protocol word (6) rules out in both (likewise 0x4500 for IPv4).
    ///
    /// `ident` is the packet's IPv4 identification, `ip_offload` whether the device fills the
    /// IPv4 checksum.
    #[inline(always)]
    fn write_template(
        path: &TxPath,
        ident: u16,
        ip_offload: bool,
        seg: &PlainSegment,
        buf: &mut PacketBuf,
        header_len: usize,
    ) -> Result<(), TxError> {
        const HEAD: usize = TxPath::HEAD_LEN;
        const IP: usize = Ipv4Repr::HEADER_LEN;
        let Some(segment_len) = buf.len().checked_sub(HEAD) else {
            return Err(TxError::TooBig);
        };
        let Some((head, data)) = buf.data_mut().split_at_mut_checked(HEAD + header_len) else {
            return Err(TxError::TooBig);
        };
        // IPv4: IP + segment_len <= MTU < 65536.
        let total_len = (IP + segment_len) as u16;
        let ip_csum = if ip_offload {
            0
        } else {
            !checksum::fold(u64::from(path.ip_sum) + u64::from(total_len) + u64::from(ident))
        };
        // TCP: header_len <= 32, so the data offset fits its nibble.
        let offset_flags = (((header_len / 4) as u16) << 12) | u16::from(seg.flags.bits());
        let mut sum = u64::from(path.pseudo_sum)
            + u64::from(segment_len as u16)
            + u64::from(seg.src_port)
            + u64::from(seg.dst_port)
            + u64::from(seg.seq >> 16)
            + u64::from(seg.seq & 0xffff)
            + u64::from(seg.ack >> 16)
            + u64::from(seg.ack & 0xffff)
            + u64::from(offset_flags)
            + u64::from(seg.window)
            + u64::from(checksum::sum(data));
        let (ip_part, tcp) = head.split_at_mut(HEAD);
        ip_part.copy_from_slice(&path.head);
        let (_, ip_hdr) = ip_part.split_at_mut(EthernetRepr::HEADER_LEN);
        ip_hdr[2..4].copy_from_slice(&total_len.to_be_bytes());
        ip_hdr[4..6].copy_from_slice(&ident.to_be_bytes());
        ip_hdr[10..12].copy_from_slice(&ip_csum.to_be_bytes());
        let (fixed, options) = tcp.split_at_mut(TcpRepr::HEADER_LEN);
        if let Some(ts) = seg.timestamps {
            sum += u64::from(0x0101u16)
                + u64::from(0x080au16)
                + u64::from(ts.tsval >> 16)
                + u64::from(ts.tsval & 0xffff)
                + u64::from(ts.tsecr >> 16)
                + u64::from(ts.tsecr & 0xffff);
            let [t0, t1, t2, t3] = ts.tsval.to_be_bytes();
            let [e0, e1, e2, e3] = ts.tsecr.to_be_bytes();
            options.copy_from_slice(&[1, 1, 8, 10, t0, t1, t2, t3, e0, e1, e2, e3]);
        }
        let [p0, p1] = seg.src_port.to_be_bytes();
        let [q0, q1] = seg.dst_port.to_be_bytes();
        let [s0, s1, s2, s3] = seg.seq.to_be_bytes();
        let [a0, a1, a2, a3] = seg.ack.to_be_bytes();
        let [o0, o1] = offset_flags.to_be_bytes();
        let [w0, w1] = seg.window.to_be_bytes();
        let [k0, k1] = (!checksum::fold(sum)).to_be_bytes();
        fixed.copy_from_slice(&[
            p0, p1, q0, q1, s0, s1, s2, s3, a0, a1, a2, a3, o0, o1, w0, w1, k0, k1, 0, 0,
        ]);
        buf.offload.set_tx_l4_checksum(false);
        buf.offload.set_tx_ip_checksum(ip_offload);
        Ok(())
    }

    /// A fresh buffer for a TCP segment with a `header_len`-byte header: `payload` copied in
    /// once, behind `head` bytes of room for the headers the
    /// caller writes. Refused (and counted) when the IPv4 packet would exceed the MTU.
    #[inline(always)]
    fn tcp_frame(
        &mut self,
        payload: Payload<'_>,
        header_len: usize,
        head: usize,
    ) -> Result<PacketBuf, TxError> {
        self.check_mtu(header_len, payload.len())?;
        let mut buf = self.alloc().ok_or(TxError::NoBuffer)?;
        if !Self::fill_frame(&mut buf, payload, head) {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        Ok(buf)
    }

    /// `TooBig` (counted) when a TCP segment with a `header_len`-byte header and `data_len`
    /// bytes of data would make an IPv4 packet larger than the MTU.
    #[inline(always)]
    fn check_mtu(&mut self, header_len: usize, data_len: usize) -> Result<(), TxError> {
        if Ipv4Repr::HEADER_LEN + header_len + data_len > usize::from(self.mtu) {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        Ok(())
    }

    /// Copies `payload` into the empty `buf` behind `head` bytes of room for headers; false
    /// when its frame lacks the room.
    #[inline(always)]
    fn fill_frame(buf: &mut PacketBuf, payload: Payload<'_>, head: usize) -> bool {
        buf.append(payload.len()).is_ok_and(|data| {
            payload.copy_to(data);
            true
        }) && buf.prepend(head).is_ok()
    }

    /// [`Self::send_tcp`] when the next hop's MAC is known: the segment, IPv4 header and
    /// Ethernet header written in one buffer, one pass each, and queued. The bytes are those
    /// `TcpRepr::emit`, `Ipv4Repr::emit` (with `Ipv4Repr::new`'s defaults: DF, DSCP 0) and
    /// `EthernetRepr::emit` write on the routed path.
    fn send_tcp_resolved(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
        dst_mac: MacAddr,
    ) -> Result<(), TxError> {
        const ETH: usize = EthernetRepr::HEADER_LEN;
        const IP: usize = Ipv4Repr::HEADER_LEN;
        let header_len = repr.header_len();
        let segment_len = header_len + payload.len();
        let mut buf = self.tcp_frame(payload, header_len, ETH + IP + header_len)?;
        let tcp_csum = self.csum.tcp_tx();
        let ip_csum = self.csum.ipv4_tx();
        let emitted = buf
            .data_mut()
            .get_mut(ETH + IP..)
            .is_some_and(|segment| repr.emit(segment, *src.ip(), *dst.ip(), tcp_csum).is_ok());
        if !emitted {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        // IP + segment_len <= MTU < 65536.
        let mut ip = ipv4_tcp_header(
            *src.ip(),
            *dst.ip(),
            self.config.ttl,
            (IP + segment_len) as u16,
            self.next_ident(),
        );
        if ip_csum == TxChecksum::Compute {
            let [c0, c1] = checksum::checksum(&ip).to_be_bytes();
            ip[10] = c0;
            ip[11] = c1;
        }
        let eth = ethernet_ipv4_header(dst_mac, self.config.mac);
        if let Some(head) = buf.data_mut().get_mut(..ETH + IP) {
            let (e, i) = head.split_at_mut(ETH);
            e.copy_from_slice(&eth);
            i.copy_from_slice(&ip);
        }
        buf.offload
            .set_tx_l4_checksum(tcp_csum == TxChecksum::Offload);
        buf.offload
            .set_tx_ip_checksum(ip_csum == TxChecksum::Offload);
        self.enqueue_tx(buf);
        self.stats.tx_tcp += 1;
        Ok(())
    }

    /// [`Self::send_tcp`] the long way: route, ARP (holding the segment if the next hop is
    /// not resolved yet), and, once resolved, a new [`TxPath`].
    fn send_tcp_routed(
        &mut self,
        now: Timestamp,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        repr: &TcpRepr,
        payload: Payload<'_>,
    ) -> Result<(), TxError> {
        let route = self.route(*dst.ip())?;
        if let NextHop::Ip(next_hop) = route.next_hop {
            if let Some((mac, expires)) = self.arp.lookup_entry(next_hop, now) {
                self.tx_path = Some(TxPath::new(
                    *src.ip(),
                    *dst.ip(),
                    mac,
                    self.config.mac,
                    self.config.ttl,
                    expires,
                    self.arp.generation(),
                ));
                return self.send_tcp_resolved(src, dst, repr, payload, mac);
            }
        }
        if route.next_hop == NextHop::Broadcast {
            self.stats.drop_no_route += 1;
            return Err(TxError::NoRoute);
        }
        let segment_len = repr.buffer_len(payload.len());
        let mut buf = self.tcp_frame(payload, repr.header_len(), repr.header_len())?;
        let csum = self.csum.tcp_tx();
        if repr
            .emit(buf.data_mut(), *src.ip(), *dst.ip(), csum)
            .is_err()
        {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        buf.offload.set_tx_l4_checksum(csum == TxChecksum::Offload);
        let ip = Ipv4Repr::new(*src.ip(), *dst.ip(), IpProtocol::TCP, segment_len);
        self.send_ipv4(now, buf, ip, route.next_hop)?;
        self.stats.tx_tcp += 1;
        Ok(())
    }

    /// The receive fast path: the checks of `process_frame` and [`Self::process_ipv4`] for
    /// the usual frame (untagged Ethernet to our MAC, IPv4 without options, TCP, to one of
    /// our addresses), read straight from the bytes. `Some` only when the full path would
    /// hand the packet to [`Self::process_tcp`] with this `RxIp` (having counted nothing but
    /// `rx_ipv4`); `None` (nothing counted, nothing changed but the source cache) sends the
    /// frame down the full path, which decides and counts as always:
    /// - Ethernet: destination our (unicast) MAC, so not a link-layer broadcast; EtherType
    ///   IPv4, so no 802.1Q tag (RFC 1122 §3.3.6 then has nothing to discard);
    /// - IPv4 (RFC 791 §3.1): version 4, IHL 5 (no options), 20 ≤ total length ≤ the bytes
    ///   after the Ethernet header, header checksum (unless the device verified it: the same
    ///   condition as `process_ipv4`; with no options `verify_checksum` is the sum of the 20
    ///   bytes), not a fragment (MF clear, offset 0), protocol TCP;
    /// - destination one of our addresses that is not also a broadcast address
    ///   (`rx_unicast`), so `broadcast` is false and the `is_own` test passes;
    /// - source (RFC 1122 §3.2.1.3): unicast, not a broadcast address, not ours (cached in
    ///   `rx_src_ok` once it passed: the answer depends only on the fixed configuration),
    ///   and the Ethernet source not multicast.
    pub(super) fn fast_tcp_rx(&mut self, buf: &PacketBuf) -> Option<RxIp> {
        const ETH: usize = EthernetRepr::HEADER_LEN;
        let frame = buf.data();
        let (eth, rest) = frame.split_first_chunk::<ETH>()?;
        let (ip, _) = rest.split_first_chunk::<{ Ipv4Repr::HEADER_LEN }>()?;
        let (eth_dst, eth_rest) = eth.split_first_chunk::<6>()?;
        let (eth_src, ethertype) = eth_rest.split_first_chunk::<6>()?;
        let [version_ihl, dscp_ecn, l0, l1, _, _, f0, f1, _, protocol, _, _, s0, s1, s2, s3, d0, d1, d2, d3] =
            *ip;
        if *eth_dst != self.config.mac.0
            || self.config.mac == MacAddr::BROADCAST
            || *ethertype != [0x08, 0x00]
            || version_ihl != 0x45
            || protocol != IpProtocol::TCP.0
            || u16::from_be_bytes([f0, f1]) & 0x3fff != 0
        {
            return None;
        }
        let total_len = usize::from(u16::from_be_bytes([l0, l1]));
        if total_len < Ipv4Repr::HEADER_LEN || total_len > rest.len() {
            return None;
        }
        if !(self.csum.rx.ipv4 && buf.offload.rx_ip_checksum_ok()) && checksum::sum(ip) != 0xffff {
            return None;
        }
        let dst = Ipv4Addr::new(d0, d1, d2, d3);
        let src = Ipv4Addr::new(s0, s1, s2, s3);
        let eth_src = MacAddr(*eth_src);
        if !self.rx_unicast.contains(&dst) || eth_src.is_multicast() {
            return None;
        }
        if self.rx_src_ok != Some(src) {
            if !is_unicast(src) || self.is_broadcast(src) || self.is_own(src) {
                return None;
            }
            self.rx_src_ok = Some(src);
        }
        Some(RxIp {
            src,
            dst,
            protocol: IpProtocol::TCP,
            dscp_ecn,
            eth_src,
            header_len: Ipv4Repr::HEADER_LEN,
            total_len,
            broadcast: false,
        })
    }

    /// Validates a received IPv4 packet (RFC 791 §3.1, RFC 1122 §3.2.1) and hands it to its
    /// protocol; the TCP layer receives its segments through `tcp`.
    pub(super) fn process_ipv4(
        &mut self,
        now: Timestamp,
        tcp: &mut Tcp,
        mut buf: PacketBuf,
        eth_src: MacAddr,
        l2_broadcast: bool,
    ) {
        let csum = if self.csum.rx.ipv4 && buf.offload.rx_ip_checksum_ok() {
            RxChecksum::Trust
        } else {
            RxChecksum::Verify
        };
        let parsed = match buf.data().get(EthernetRepr::HEADER_LEN..) {
            Some(bytes) => Ipv4Packet::new_checked(bytes)
                .and_then(|p| Ok((Ipv4Repr::parse(&p, csum)?, p.header_len()))),
            None => Err(WireError::Truncated {
                layer: Layer::Ipv4,
                needed: EthernetRepr::HEADER_LEN + Ipv4Repr::HEADER_LEN,
                got: buf.len(),
            }),
        };
        let (ip, header_len) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                self.stats.count_wire(&err);
                return;
            }
        };
        let broadcast = self.is_broadcast(ip.dst);
        // RFC 1122 §3.3.6: discard a unicast datagram that came as a link-layer broadcast.
        if !(broadcast || (self.is_own(ip.dst) && !l2_broadcast)) {
            self.stats.drop_not_our_ip += 1;
            return;
        }
        // RFC 1122 §3.2.1.3: a source that is not a host's address is discarded.
        if !is_unicast(ip.src)
            || self.is_broadcast(ip.src)
            || self.is_own(ip.src)
            || eth_src.is_multicast()
        {
            self.stats.drop_bad_src += 1;
            return;
        }
        if ip.is_fragment() {
            self.stats.drop_fragment += 1;
            return;
        }
        self.stats.rx_ipv4 += 1;
        let rx = RxIp {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            dscp_ecn: ip.dscp_ecn,
            eth_src,
            header_len,
            total_len: header_len + ip.payload_len,
            broadcast,
        };
        // Ethernet padding after a short packet is not part of it.
        buf.truncate(EthernetRepr::HEADER_LEN + rx.total_len);
        match rx.protocol {
            IpProtocol::ICMP => self.process_icmp(buf, rx),
            IpProtocol::UDP => self.process_udp(now, buf, rx),
            IpProtocol::TCP => self.process_tcp(now, tcp, buf, rx),
            // RFC 1122 §3.2.2.1: protocol unreachable for a protocol we do not speak.
            _ => self.send_unreachable(now, buf, rx, UnreachableCode::PROTOCOL),
        }
    }

    /// Checks a TCP segment's checksum (or trusts the device) and hands it to TCP.
    #[inline(always)]
    pub(super) fn process_tcp(&mut self, now: Timestamp, tcp: &mut Tcp, buf: PacketBuf, rx: RxIp) {
        if rx.broadcast {
            // RFC 1122 §4.2.3.10: TCP is unicast only.
            self.stats.drop_tcp_broadcast += 1;
            return;
        }
        let csum = if self.csum.rx.tcp && buf.offload.rx_l4_checksum_ok() {
            RxChecksum::Trust
        } else {
            RxChecksum::Verify
        };
        let bytes = buf.data().get(rx.l4_offset()..).unwrap_or(&[]);
        let checksum_ok = || tcp_checksum_ok(rx.src, rx.dst, bytes);
        // The usual header layouts, read directly (`TcpRepr::parse_fixed_layout`: the same
        // repr and payload, and neither header check nor option parsing can fail for them,
        // so the checksum is the only verdict left, as below).
        let mut repr = TcpRepr::default();
        if let Some(payload) = TcpRepr::parse_fixed_layout(bytes, &mut repr) {
            if csum == RxChecksum::Verify && !checksum_ok() {
                self.stats
                    .count_wire(&WireError::BadChecksum { layer: Layer::Tcp });
                return;
            }
            self.stats.rx_tcp += 1;
            if !Tcp::may_keep(payload.len()) {
                let mut sink = InterfaceSink { core: self, now };
                tcp.input(now, rx.src, rx.dst, &repr, payload, &mut sink);
                // TCP copied what it keeps: the frame can carry the next segment out.
                self.recycle(buf);
                return;
            }
            // Zero-copy receive: TCP may keep the frame with its text, the frame's tail
            // (`process_frame` cut it to the IPv4 length), or gives it back.
            let at = buf.len() - payload.len();
            let mut frame = Some(buf);
            let mut sink = InterfaceSink { core: self, now };
            tcp.input_frame(now, rx.src, rx.dst, &repr, (&mut frame, at), &mut sink);
            if let Some(buf) = frame {
                self.recycle(buf);
            }
            return;
        }
        let parsed = TcpPacket::new_checked(bytes).and_then(|p| {
            // The checksum in one pass over the whole segment (header, options and data are
            // contiguous here) rather than `TcpRepr::parse`'s three; the same verdict, in the
            // same order (after the header checks, before the options).
            if csum == RxChecksum::Verify && !checksum_ok() {
                return Err(WireError::BadChecksum { layer: Layer::Tcp });
            }
            Ok((TcpRepr::parse(&p, rx.src, rx.dst, RxChecksum::Trust)?, p))
        });
        match parsed {
            Ok((repr, packet)) => {
                self.stats.rx_tcp += 1;
                let mut sink = InterfaceSink { core: self, now };
                tcp.input(now, rx.src, rx.dst, &repr, packet.payload(), &mut sink);
            }
            Err(err) => self.stats.count_wire(&err),
        }
    }
}

/// Whether the TCP segment `bytes` from `src` to `dst` has a correct checksum (pseudo-header
/// included); a segment too long for the pseudo-header's length field has none.
#[inline(always)]
fn tcp_checksum_ok(src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> bool {
    match u16::try_from(bytes.len()) {
        Ok(len) => {
            let pseudo = checksum::pseudo_header_sum(src, dst, IpProtocol::TCP.0, len);
            checksum::add(pseudo, checksum::sum(bytes)) == 0xffff
        }
        Err(_) => false,
    }
}
