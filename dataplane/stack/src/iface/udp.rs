//! UDP sockets (RFC 768, RFC 1122 §4.1): bind to a local port, send a datagram, receive from
//! a bounded per-socket queue; and the interface's UDP input.
//!
//! Zero copy on receive: a datagram stays in the buffer it arrived in, trimmed to its payload,
//! until the application takes it ([`Interface::udp_recv`]) or copies it out
//! ([`Interface::udp_recv_from`]). On send the payload is copied once, into a fresh buffer of
//! the queue's pool, and the headers are prepended in its headroom. Checksums: a received 0
//! means "none" and is accepted (RFC 768); a computed 0 is sent as 0xffff.
//!
//! There is no fragmentation: a datagram larger than the MTU allows is an error.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use cyclone_pmd::{PacketBuf, Timestamp};

use super::config::InterfaceConfig;
use super::ipv4::{RxIp, TxError};
use super::{Core, Interface};
use crate::hash::FastMap;
use crate::wire::{
    IpProtocol, Ipv4Repr, RxChecksum, TxChecksum, UdpPacket, UdpRepr, UnreachableCode,
};

/// First port handed out by `udp_bind(0)` (RFC 6335 §6: the dynamic range).
const EPHEMERAL_FIRST: u16 = 49152;

/// A bound UDP socket. Handles of closed sockets are refused, even if their slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHandle {
    index: u32,
    generation: u32,
}

/// Why a UDP call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// The handle names no open socket.
    #[error("no such UDP socket (closed, or from another interface)")]
    InvalidHandle,
    /// Another socket is bound to the port.
    #[error("UDP port {0} is in use")]
    PortInUse(u16),
    /// Every ephemeral port is taken.
    #[error("no ephemeral UDP port is free")]
    NoFreePort,
    /// `udp_max_sockets` sockets are open.
    #[error("too many UDP sockets (the limit is {0})")]
    TooManySockets(usize),
    /// The datagram does not fit the MTU (no fragmentation).
    #[error("datagram of {len} bytes is larger than the {max} bytes the MTU allows")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// Largest payload: MTU − 28.
        max: usize,
    },
    /// Port 0, or an address nobody can be sent to (0.0.0.0, multicast, loopback).
    #[error("cannot send to {0}")]
    BadDestination(SocketAddrV4),
    /// The destination is off-link and there is no gateway (or it is one of our addresses).
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// The pool was empty, or the interface has not been polled yet (it learns its pool from
    /// the queue on the first poll).
    #[error("no packet buffer available")]
    NoBuffer,
    /// Too many next hops are being resolved by ARP.
    #[error("ARP resolution table is full")]
    ArpTableFull,
}

/// An ICMP error received about a datagram a socket sent (RFC 1122 §4.1.3.3: passed up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpIcmpError {
    /// The destination of the datagram the error is about.
    pub remote: SocketAddrV4,
    /// The destination unreachable code (port unreachable: the remote has no socket).
    pub code: UnreachableCode,
}

#[derive(Debug)]
struct Socket {
    port: u16,
    /// Received datagrams: sender and the buffer trimmed to the payload.
    rx: VecDeque<(SocketAddrV4, PacketBuf)>,
    error: Option<UdpIcmpError>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    socket: Option<Socket>,
}

/// The UDP sockets of an interface.
#[derive(Debug)]
pub(super) struct UdpSockets {
    slots: Vec<Slot>,
    by_port: FastMap<u16, u32>,
    max_sockets: usize,
    rx_queue_len: usize,
    next_ephemeral: u16,
}

impl UdpSockets {
    pub(super) fn new(config: &InterfaceConfig) -> UdpSockets {
        UdpSockets {
            slots: Vec::new(),
            by_port: FastMap::default(),
            max_sockets: config.udp_max_sockets,
            rx_queue_len: config.udp_rx_queue_len,
            next_ephemeral: EPHEMERAL_FIRST,
        }
    }

    fn get(&self, h: UdpHandle) -> Result<&Socket, UdpError> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_ref())
            .ok_or(UdpError::InvalidHandle)
    }

    fn get_mut(&mut self, h: UdpHandle) -> Result<&mut Socket, UdpError> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_mut())
            .ok_or(UdpError::InvalidHandle)
    }

    fn by_port_mut(&mut self, port: u16) -> Option<&mut Socket> {
        let index = *self.by_port.get(&port)?;
        self.slots.get_mut(index as usize)?.socket.as_mut()
    }

    fn bind(&mut self, port: u16) -> Result<UdpHandle, UdpError> {
        if self.by_port.len() >= self.max_sockets {
            return Err(UdpError::TooManySockets(self.max_sockets));
        }
        let port = match port {
            0 => self.ephemeral()?,
            p if self.by_port.contains_key(&p) => return Err(UdpError::PortInUse(p)),
            p => p,
        };
        let socket = Socket {
            port,
            rx: VecDeque::new(),
            error: None,
        };
        let index = match self.slots.iter().position(|s| s.socket.is_none()) {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    socket: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.socket = Some(socket);
        self.by_port.insert(port, index as u32);
        Ok(UdpHandle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    fn ephemeral(&mut self) -> Result<u16, UdpError> {
        let range = u32::from(u16::MAX - EPHEMERAL_FIRST) + 1;
        for _ in 0..range {
            let port = self.next_ephemeral;
            self.next_ephemeral = port.checked_add(1).unwrap_or(EPHEMERAL_FIRST);
            if !self.by_port.contains_key(&port) {
                return Ok(port);
            }
        }
        Err(UdpError::NoFreePort)
    }

    fn close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        let port = self.get(h)?.port;
        self.by_port.remove(&port);
        let slot = &mut self.slots[h.index as usize];
        slot.socket = None;
        slot.generation = slot.generation.wrapping_add(1);
        Ok(())
    }

    /// Records an ICMP error for the socket bound to `port`, if any.
    pub(super) fn deliver_error(&mut self, port: u16, remote: SocketAddrV4, code: UnreachableCode) {
        if let Some(s) = self.by_port_mut(port) {
            s.error = Some(UdpIcmpError { remote, code });
        }
    }
}

impl Core {
    /// Handles a received UDP datagram: to its socket's queue, or port unreachable.
    pub(super) fn process_udp(&mut self, now: Timestamp, mut buf: PacketBuf, rx: RxIp) {
        let csum = if self.csum.rx.udp && buf.offload.rx_l4_checksum_ok() {
            RxChecksum::Trust
        } else {
            RxChecksum::Verify
        };
        let l4 = rx.l4_offset();
        let bytes = buf.data().get(l4..).unwrap_or(&[]);
        let parsed = UdpPacket::new_checked(bytes)
            .and_then(|p| Ok((UdpRepr::parse(&p, rx.src, rx.dst, csum)?, p.payload().len())));
        let (repr, len) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                self.stats.count_wire(&err);
                return;
            }
        };
        self.stats.rx_udp += 1;
        let queue_len = self.udp.rx_queue_len;
        let Some(socket) = self.udp.by_port_mut(repr.dst_port) else {
            self.stats.udp_no_port += 1;
            // RFC 1122 §4.1.3.1: port unreachable (not for broadcasts: send_unreachable).
            self.send_unreachable(now, buf, rx, UnreachableCode::PORT);
            return;
        };
        if socket.rx.len() >= queue_len {
            self.stats.drop_udp_rx_queue_full += 1;
            return;
        }
        if buf.trim_front(l4 + UdpRepr::HEADER_LEN).is_err() {
            return;
        }
        buf.truncate(len);
        socket
            .rx
            .push_back((SocketAddrV4::new(rx.src, repr.src_port), buf));
    }

    fn udp_send(
        &mut self,
        handle: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), UdpError> {
        let port = self.udp.get(handle)?.port;
        let max = usize::from(self.mtu).saturating_sub(Ipv4Repr::HEADER_LEN + UdpRepr::HEADER_LEN);
        if data.len() > max {
            self.stats.drop_too_big += 1;
            return Err(UdpError::TooLarge {
                len: data.len(),
                max,
            });
        }
        let ip = *dst.ip();
        if dst.port() == 0 || ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
            return Err(UdpError::BadDestination(dst));
        }
        let csum = self.csum.udp_tx();
        let repr = UdpRepr {
            src_port: port,
            dst_port: dst.port(),
        };
        let sent = self.send_datagram(ip, IpProtocol::UDP, |buf, src| {
            buf.offload.set_tx_l4_checksum(csum == TxChecksum::Offload);
            buf.extend_from_slice(data).is_ok()
                && buf.prepend(UdpRepr::HEADER_LEN).is_ok()
                && repr.emit(buf.data_mut(), src, ip, csum).is_ok()
        });
        match sent {
            Ok(()) => {
                self.stats.tx_udp += 1;
                Ok(())
            }
            Err(TxError::NoRoute) => Err(UdpError::NoRoute(ip)),
            Err(TxError::NoBuffer) => Err(UdpError::NoBuffer),
            Err(TxError::TooBig) => Err(UdpError::TooLarge {
                len: data.len(),
                max,
            }),
            Err(TxError::ArpTableFull) => Err(UdpError::ArpTableFull),
        }
    }
}

/// The UDP socket API.
impl Interface {
    /// Binds a socket to local `port` on all our addresses; port 0 picks a free ephemeral
    /// port (49152–65535).
    pub fn udp_bind(&mut self, port: u16) -> Result<UdpHandle, UdpError> {
        self.core.udp.bind(port)
    }

    /// Closes a socket; datagrams still queued go back to the pool.
    pub fn udp_close(&mut self, handle: UdpHandle) -> Result<(), UdpError> {
        self.core.udp.close(handle)
    }

    /// The local port of a socket.
    pub fn udp_local_port(&self, handle: UdpHandle) -> Result<u16, UdpError> {
        Ok(self.core.udp.get(handle)?.port)
    }

    /// Sends `data` to `dst` from the socket's port and our address towards `dst`. The frame
    /// is queued (or held for ARP) and leaves at the next [`Interface::poll`]; ARP decisions
    /// use the time of the latest poll. `data` is copied once, into a buffer of the queue's
    /// pool.
    pub fn udp_send_to(
        &mut self,
        handle: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), UdpError> {
        self.core.udp_send(handle, dst, data)
    }

    /// Copies the next datagram into `buf` and returns its length and sender. A datagram
    /// longer than `buf` is truncated to it (the rest is discarded, like `recvfrom(2)`).
    pub fn udp_recv_from(
        &mut self,
        handle: UdpHandle,
        buf: &mut [u8],
    ) -> Option<(usize, SocketAddrV4)> {
        let (from, datagram) = self.udp_recv(handle)?;
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram.data()[..n]);
        Some((n, from))
    }

    /// Takes the next datagram without copying: the buffer it arrived in, trimmed to its
    /// payload. Dropping it returns it to the pool.
    pub fn udp_recv(&mut self, handle: UdpHandle) -> Option<(SocketAddrV4, PacketBuf)> {
        self.core.udp.get_mut(handle).ok()?.rx.pop_front()
    }

    /// Datagrams waiting in the socket's queue.
    pub fn udp_queued(&self, handle: UdpHandle) -> usize {
        self.core.udp.get(handle).map_or(0, |s| s.rx.len())
    }

    /// Takes the last ICMP error received about a datagram this socket sent.
    pub fn udp_take_error(&mut self, handle: UdpHandle) -> Option<UdpIcmpError> {
        self.core.udp.get_mut(handle).ok()?.error.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::Ipv4Cidr;
    use cyclone_pmd::MacAddr;

    fn sockets(max: usize) -> UdpSockets {
        let mut c = InterfaceConfig::new(
            MacAddr::local(1),
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24),
        );
        c.udp_max_sockets = max;
        UdpSockets::new(&c)
    }

    #[test]
    fn bind_close_and_stale_handles() {
        let mut s = sockets(2);
        let a = s.bind(53).unwrap();
        assert_eq!(s.bind(53), Err(UdpError::PortInUse(53)));
        let b = s.bind(0).unwrap();
        assert_eq!(s.get(b).unwrap().port, EPHEMERAL_FIRST);
        assert_eq!(s.bind(54), Err(UdpError::TooManySockets(2)));
        s.close(a).unwrap();
        assert_eq!(s.close(a), Err(UdpError::InvalidHandle));
        let c = s.bind(53).unwrap();
        // Same slot, new generation: the old handle stays dead.
        assert_eq!(c.index, a.index);
        assert!(s.get(a).is_err());
        assert!(s.get(c).is_ok());
    }

    #[test]
    fn ephemeral_ports_wrap_and_skip_bound_ones() {
        let mut s = sockets(4);
        s.next_ephemeral = u16::MAX;
        s.bind(EPHEMERAL_FIRST).unwrap();
        let a = s.bind(0).unwrap();
        let b = s.bind(0).unwrap();
        assert_eq!(s.get(a).unwrap().port, u16::MAX);
        assert_eq!(s.get(b).unwrap().port, EPHEMERAL_FIRST + 1);
    }
}
