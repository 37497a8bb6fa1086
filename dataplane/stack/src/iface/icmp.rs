//! ICMPv4 for a host (RFC 792, RFC 1122 §3.2.2): echo replies built in place in the request's
//! buffer, destination unreachable (protocol, port) quoting the offending header and 8 bytes
//! of its payload (RFC 792; RFC 1812 §4.3.2.3 style, also built in place), received errors
//! passed to the UDP socket they concern, and the token bucket that rate-limits errors
//! (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2). Echo requests can be sent too (`Interface::ping`),
//! and their replies are kept, bounded, for the caller.
//!
//! RFC 1122 §3.2.2: no error is sent about an ICMP error, a datagram to a broadcast or
//! multicast address, or a fragment (fragments never get this far). Echo requests to a
//! broadcast address are ignored (§3.2.2.6 allows it). Replies go to the MAC address the
//! request came from — the sender's, or its router's — so no ARP lookup is needed.

use std::net::Ipv4Addr;

use cyclone_pmd::{PacketBuf, Timestamp};

use super::ipv4::{RxIp, TxError};
use super::{Core, Interface};
use crate::wire::{
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, IpProtocol, Ipv4Repr, Layer, TxChecksum,
    UnreachableCode, WireError,
};

/// Echo replies kept for [`Interface::take_echo_reply`] at most (each holds its frame).
const ECHO_REPLIES_MAX: usize = 16;

/// An echo reply received (RFC 792 type 0), for whoever sent the request with
/// [`Interface::ping`].
#[derive(Debug)]
pub struct EchoReply {
    /// Who answered.
    pub from: Ipv4Addr,
    /// The request's identifier, echoed.
    pub ident: u16,
    /// The request's sequence number, echoed.
    pub seq_no: u16,
    /// The echoed data: the frame it arrived in, trimmed to it (dropping it frees the frame).
    pub data: PacketBuf,
}

/// Why [`Interface::ping`] could not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// The data does not fit the MTU (no fragmentation).
    #[error("echo data of {len} bytes is larger than the {max} bytes the MTU allows")]
    TooLarge {
        /// Data length.
        len: usize,
        /// Largest: MTU − 28.
        max: usize,
    },
    /// 0.0.0.0, a multicast, broadcast or loopback address.
    #[error("cannot ping {0}")]
    BadDestination(Ipv4Addr),
    /// Off-link with no gateway.
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// The pool is empty.
    #[error("no packet buffer free")]
    NoBuffer,
    /// ARP holds packets for too many unresolved addresses already.
    #[error("too many addresses waiting for ARP")]
    ArpTableFull,
}

/// Echo requests (RFC 792), for diagnostics: what `ping` does.
impl Interface {
    /// Sends an echo request to `dst` with `ident`, `seq_no` and `data`, from our address
    /// towards it. Queued (or held for ARP) like any datagram; it leaves at the next poll.
    /// Replies are kept for [`Interface::take_echo_reply`]. Call it after the first poll: the
    /// interface learns its queue's pool there (before, [`PingError::NoBuffer`]).
    pub fn ping(
        &mut self,
        dst: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<(), PingError> {
        let core = &mut self.core;
        let max =
            usize::from(core.mtu).saturating_sub(Ipv4Repr::HEADER_LEN + Icmpv4Repr::HEADER_LEN);
        if data.len() > max {
            core.stats.drop_too_big += 1;
            return Err(PingError::TooLarge {
                len: data.len(),
                max,
            });
        }
        if dst.is_unspecified() || dst.is_multicast() || dst.is_loopback() || dst.is_broadcast() {
            return Err(PingError::BadDestination(dst));
        }
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        // No device offloads ICMP checksums: always computed.
        let sent = core.send_datagram(dst, IpProtocol::ICMP, |buf, _| {
            buf.append(repr.buffer_len())
                .is_ok_and(|m| repr.emit(m, TxChecksum::Compute).is_ok())
        });
        core.echo_requested |= sent.is_ok();
        match sent {
            Ok(()) => {
                core.stats.tx_icmp += 1;
                core.stats.icmp_out.count(Icmpv4Type::ECHO_REQUEST.0, 0);
                Ok(())
            }
            Err(TxError::NoRoute) => Err(PingError::NoRoute(dst)),
            Err(TxError::NoBuffer) => Err(PingError::NoBuffer),
            Err(TxError::TooBig) => Err(PingError::TooLarge {
                len: data.len(),
                max,
            }),
            Err(TxError::ArpTableFull) => Err(PingError::ArpTableFull),
        }
    }

    /// The oldest echo reply received and not yet taken. At most 16 are kept; more drop the
    /// oldest (`InterfaceStats::drop_echo_reply_overflow`).
    pub fn take_echo_reply(&mut self) -> Option<EchoReply> {
        self.core.echo_replies.pop_front()
    }
}

const NANOS_PER_TOKEN: u64 = 1_000_000_000;

/// A token bucket: `rate` tokens per second, at most `burst` held; one token per message.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: u64,
    /// Capacity, in nano-tokens.
    depth: u64,
    /// Level, in nano-tokens (integer arithmetic: no drift, no floats).
    level: u64,
    last: Timestamp,
}

impl TokenBucket {
    /// A full bucket.
    pub(super) fn new(rate: u32, burst: u32, now: Timestamp) -> TokenBucket {
        let depth = u64::from(burst).saturating_mul(NANOS_PER_TOKEN);
        TokenBucket {
            rate: u64::from(rate),
            depth,
            level: depth,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub(super) fn take(&mut self, now: Timestamp) -> bool {
        let elapsed = now.as_nanos().saturating_sub(self.last.as_nanos());
        self.last = self.last.max(now);
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.depth);
        if self.level >= NANOS_PER_TOKEN {
            self.level -= NANOS_PER_TOKEN;
            true
        } else {
            false
        }
    }
}

impl Core {
    /// Handles a received ICMP message.
    pub(super) fn process_icmp(&mut self, buf: PacketBuf, rx: RxIp) {
        let bytes = buf.data().get(rx.l4_offset()..).unwrap_or(&[]);
        let packet = match Icmpv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(err) => {
                self.stats.count_wire(&err);
                return;
            }
        };
        // No device verifies ICMP checksums: always in software.
        if !packet.verify_checksum() {
            self.stats.count_wire(&WireError::BadChecksum {
                layer: Layer::Icmpv4,
            });
            return;
        }
        let (msg_type, code) = (packet.msg_type(), packet.code());
        self.stats.rx_icmp += 1;
        self.stats.icmp_in.count(msg_type.0, code);
        match msg_type {
            Icmpv4Type::ECHO_REQUEST if rx.broadcast => {
                self.stats.icmp_echo_broadcast_ignored += 1;
            }
            Icmpv4Type::ECHO_REQUEST => self.echo_reply(buf, rx),
            Icmpv4Type::ECHO_REPLY if self.echo_requested => {
                match Icmpv4Repr::parse(&packet, crate::wire::RxChecksum::Trust) {
                    Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) => {
                        self.keep_echo_reply(buf, rx, ident, seq_no)
                    }
                    Ok(_) => {}
                    Err(err) => self.stats.count_wire(&err),
                }
            }
            Icmpv4Type::DST_UNREACHABLE => {
                let parsed = Icmpv4Repr::parse(&packet, crate::wire::RxChecksum::Trust);
                match parsed {
                    Ok(Icmpv4Repr::DstUnreachable {
                        code, header, data, ..
                    }) if header.protocol == IpProtocol::UDP && self.is_own(header.src) => {
                        let port = |at: usize| {
                            data.get(at..at + 2)
                                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
                        };
                        let remote = std::net::SocketAddrV4::new(header.dst, port(2));
                        self.udp.deliver_error(port(0), remote, code);
                    }
                    Ok(_) => {}
                    Err(err) => self.stats.count_wire(&err),
                }
            }
            _ => {}
        }
    }

    /// Keeps a received echo reply for [`Interface::take_echo_reply`], in its own frame
    /// trimmed to the echoed data.
    fn keep_echo_reply(&mut self, mut buf: PacketBuf, rx: RxIp, ident: u16, seq_no: u16) {
        if buf
            .trim_front(rx.l4_offset() + Icmpv4Repr::HEADER_LEN)
            .is_err()
        {
            return;
        }
        if self.echo_replies.len() >= ECHO_REPLIES_MAX {
            self.echo_replies.pop_front();
            self.stats.drop_echo_reply_overflow += 1;
        }
        self.echo_replies.push_back(EchoReply {
            from: rx.src,
            ident,
            seq_no,
            data: buf,
        });
    }

    /// Turns the echo request in `buf` into its reply, in place (RFC 792: swap the addresses,
    /// type 0, same identifier, sequence number and data). IP options of the request are
    /// removed by sliding the headers over them.
    fn echo_reply(&mut self, mut buf: PacketBuf, rx: RxIp) {
        let options = rx.header_len - Ipv4Repr::HEADER_LEN;
        if options > 0 {
            let fixed = EthernetRepr::HEADER_LEN + Ipv4Repr::HEADER_LEN;
            buf.data_mut().copy_within(..fixed, options);
            if buf.trim_front(options).is_err() {
                return;
            }
        }
        let payload_len = rx.total_len - rx.header_len;
        let mut ip = Ipv4Repr::new(rx.dst, rx.src, IpProtocol::ICMP, payload_len);
        ip.dont_frag = false;
        // RFC 1812 §4.3.2.5: the reply keeps the request's TOS.
        ip.dscp_ecn = rx.dscp_ecn;
        // The headers are rewritten where they are: step past them, then prepend anew.
        let headers = EthernetRepr::HEADER_LEN + Ipv4Repr::HEADER_LEN;
        if buf.trim_front(headers).is_err() {
            return;
        }
        let turned = Icmpv4Packet::new_checked(buf.data_mut())
            .is_ok_and(|mut icmp| icmp.echo_request_into_reply());
        buf.offload = Default::default();
        if turned && self.push_headers(&mut buf, ip, rx.eth_src).is_ok() {
            self.stats.tx_icmp += 1;
            self.stats.icmp_out.count(Icmpv4Type::ECHO_REPLY.0, 0);
            self.enqueue_tx(buf);
        }
    }

    /// Answers the datagram in `buf` with destination unreachable `code`, quoting its IPv4
    /// header and the first 8 bytes of its payload, built in place in the same buffer.
    /// Rate-limited; never about a broadcast or an ICMP error.
    pub(super) fn send_unreachable(
        &mut self,
        now: Timestamp,
        mut buf: PacketBuf,
        rx: RxIp,
        code: UnreachableCode,
    ) {
        if rx.broadcast || rx.protocol == IpProtocol::ICMP {
            return;
        }
        if !self.icmp_errors.take(now) {
            self.stats.icmp_rate_limited += 1;
            return;
        }
        let quote = (rx.header_len + Icmpv4Repr::QUOTED_DATA_LEN).min(rx.total_len);
        if buf.trim_front(EthernetRepr::HEADER_LEN).is_err() {
            return;
        }
        buf.truncate(quote);
        buf.offload = Default::default();
        let written = buf.prepend(Icmpv4Repr::HEADER_LEN).is_ok_and(|h| {
            // Type, code, checksum (filled below), 4 unused bytes.
            h.copy_from_slice(&[Icmpv4Type::DST_UNREACHABLE.0, code.0, 0, 0, 0, 0, 0, 0]);
            true
        });
        if !written {
            self.stats.drop_too_big += 1;
            return;
        }
        if let Ok(mut icmp) = Icmpv4Packet::new_checked(buf.data_mut()) {
            icmp.fill_checksum();
        }
        let mut ip = Ipv4Repr::new(rx.dst, rx.src, IpProtocol::ICMP, buf.len());
        ip.dont_frag = false;
        if self.push_headers(&mut buf, ip, rx.eth_src).is_ok() {
            self.stats.tx_icmp += 1;
            self.stats
                .icmp_out
                .count(Icmpv4Type::DST_UNREACHABLE.0, code.0);
            self.enqueue_tx(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_then_the_rate() {
        let t = Timestamp::from_millis;
        let mut b = TokenBucket::new(10, 3, t(0));
        assert!(b.take(t(0)) && b.take(t(0)) && b.take(t(0)));
        assert!(!b.take(t(0)));
        assert!(!b.take(t(99)));
        assert!(b.take(t(100)));
        assert!(!b.take(t(100)));
        // A long pause refills to the burst, not beyond.
        let mut taken = 0;
        while b.take(t(100_000)) {
            taken += 1;
        }
        assert_eq!(taken, 3);
        // Time going backwards gives nothing.
        assert!(!b.take(t(50)));
    }
}
