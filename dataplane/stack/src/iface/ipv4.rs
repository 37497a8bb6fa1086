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

use cyclone_pmd::{MacAddr, PacketBuf, Timestamp};

use super::arp::Hold;
use super::config::is_unicast;
use super::{Core, InterfaceSink};
use crate::tcp::Tcp;
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
#[derive(Debug, Clone, Copy)]
pub(super) struct TxPath {
    dst: Ipv4Addr,
    mac: MacAddr,
    expires: Timestamp,
    arp_generation: u64,
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
    pub(super) fn alloc(&mut self) -> Option<PacketBuf> {
        let buf = self.pool.as_ref().and_then(|p| p.alloc());
        if buf.is_none() {
            self.stats.drop_no_buffer += 1;
        }
        buf
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
    pub(super) fn enqueue_tx(&mut self, buf: PacketBuf) {
        if self.tx.len() >= self.config.tx_queue_len {
            let excess = self.tx.len() + 1 - self.config.tx_queue_len;
            self.tx.drain(..excess);
            self.stats.drop_tx_queue_overflow += excess as u64;
        }
        self.tx.push(buf);
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
        buf.offload.tx_ip_checksum = csum == TxChecksum::Offload;
        Ok(())
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
        payload: [&[u8]; 2],
    ) -> Result<(), TxError> {
        match self.tx_path {
            Some(path)
                if path.dst == *dst.ip()
                    && now < path.expires
                    && path.arp_generation == self.arp.generation() =>
            {
                self.send_tcp_resolved(src, dst, repr, payload, path.mac)
            }
            _ => self.send_tcp_routed(now, src, dst, repr, payload),
        }
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
        payload: [&[u8]; 2],
        dst_mac: MacAddr,
    ) -> Result<(), TxError> {
        const ETH: usize = EthernetRepr::HEADER_LEN;
        const IP: usize = Ipv4Repr::HEADER_LEN;
        let data_len = payload[0].len() + payload[1].len();
        let header_len = repr.header_len();
        let segment_len = header_len + data_len;
        if IP + segment_len > usize::from(self.mtu) {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        let mut buf = self.alloc().ok_or(TxError::NoBuffer)?;
        let tcp_csum = self.csum.tcp_tx();
        let ip_csum = self.csum.ipv4_tx();
        let built = buf.append(data_len).is_ok_and(|data| {
            let (a, b) = data.split_at_mut(payload[0].len());
            a.copy_from_slice(payload[0]);
            b.copy_from_slice(payload[1]);
            true
        }) && buf.prepend(ETH + IP + header_len).is_ok()
            && buf
                .data_mut()
                .get_mut(ETH + IP..)
                .is_some_and(|segment| repr.emit(segment, *src.ip(), *dst.ip(), tcp_csum).is_ok());
        if !built {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        // IP + segment_len <= MTU < 65536.
        let [len_hi, len_lo] = ((IP + segment_len) as u16).to_be_bytes();
        let [id_hi, id_lo] = self.next_ident().to_be_bytes();
        let [s0, s1, s2, s3] = src.ip().octets();
        let [d0, d1, d2, d3] = dst.ip().octets();
        let mut ip = [
            0x45,
            0,
            len_hi,
            len_lo,
            id_hi,
            id_lo,
            0x40, // DF
            0,
            self.config.ttl,
            IpProtocol::TCP.0,
            0,
            0,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
        ];
        if ip_csum == TxChecksum::Compute {
            let [c0, c1] = crate::wire::checksum::checksum(&ip).to_be_bytes();
            ip[10] = c0;
            ip[11] = c1;
        }
        let [m0, m1, m2, m3, m4, m5] = dst_mac.0;
        let [n0, n1, n2, n3, n4, n5] = self.config.mac.0;
        let eth = [m0, m1, m2, m3, m4, m5, n0, n1, n2, n3, n4, n5, 0x08, 0x00];
        if let Some(head) = buf.data_mut().get_mut(..ETH + IP) {
            let (e, i) = head.split_at_mut(ETH);
            e.copy_from_slice(&eth);
            i.copy_from_slice(&ip);
        }
        buf.offload.tx_l4_checksum = tcp_csum == TxChecksum::Offload;
        buf.offload.tx_ip_checksum = ip_csum == TxChecksum::Offload;
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
        payload: [&[u8]; 2],
    ) -> Result<(), TxError> {
        let route = self.route(*dst.ip())?;
        if let NextHop::Ip(next_hop) = route.next_hop {
            if let Some((mac, expires)) = self.arp.lookup_entry(next_hop, now) {
                self.tx_path = Some(TxPath {
                    dst: *dst.ip(),
                    mac,
                    expires,
                    arp_generation: self.arp.generation(),
                });
                return self.send_tcp_resolved(src, dst, repr, payload, mac);
            }
        }
        if route.next_hop == NextHop::Broadcast {
            self.stats.drop_no_route += 1;
            return Err(TxError::NoRoute);
        }
        let data_len = payload[0].len() + payload[1].len();
        let segment_len = repr.buffer_len(data_len);
        if Ipv4Repr::HEADER_LEN + segment_len > usize::from(self.mtu) {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        let mut buf = self.alloc().ok_or(TxError::NoBuffer)?;
        let csum = self.csum.tcp_tx();
        let built = buf.append(data_len).is_ok_and(|data| {
            let (a, b) = data.split_at_mut(payload[0].len());
            a.copy_from_slice(payload[0]);
            b.copy_from_slice(payload[1]);
            true
        }) && buf.prepend(repr.header_len()).is_ok()
            && repr
                .emit(buf.data_mut(), *src.ip(), *dst.ip(), csum)
                .is_ok();
        if !built {
            self.stats.drop_too_big += 1;
            return Err(TxError::TooBig);
        }
        buf.offload.tx_l4_checksum = csum == TxChecksum::Offload;
        let ip = Ipv4Repr::new(*src.ip(), *dst.ip(), IpProtocol::TCP, segment_len);
        self.send_ipv4(now, buf, ip, route.next_hop)?;
        self.stats.tx_tcp += 1;
        Ok(())
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
        let csum = if self.csum.rx.ipv4 && buf.offload.rx_ip_checksum_ok {
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
    fn process_tcp(&mut self, now: Timestamp, tcp: &mut Tcp, buf: PacketBuf, rx: RxIp) {
        if rx.broadcast {
            // RFC 1122 §4.2.3.10: TCP is unicast only.
            self.stats.drop_tcp_broadcast += 1;
            return;
        }
        let csum = if self.csum.rx.tcp && buf.offload.rx_l4_checksum_ok {
            RxChecksum::Trust
        } else {
            RxChecksum::Verify
        };
        let bytes = buf.data().get(rx.l4_offset()..).unwrap_or(&[]);
        let parsed = TcpPacket::new_checked(bytes).and_then(|p| {
            // The checksum in one pass over the whole segment (header, options and data are
            // contiguous here) rather than `TcpRepr::parse`'s three; the same verdict, in the
            // same order (after the header checks, before the options).
            if csum == RxChecksum::Verify {
                let ok = u16::try_from(bytes.len()).is_ok_and(|len| {
                    let pseudo =
                        checksum::pseudo_header_sum(rx.src, rx.dst, IpProtocol::TCP.0, len);
                    checksum::add(pseudo, checksum::sum(bytes)) == 0xffff
                });
                if !ok {
                    return Err(WireError::BadChecksum { layer: Layer::Tcp });
                }
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
