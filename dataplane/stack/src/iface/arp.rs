//! ARP for Ethernet/IPv4 (RFC 826, with RFC 1122 §2.3.2 and RFC 5227 §3 announcements): the
//! [`ArpCache`] of resolved neighbours with expiry, the bounded queues of frames waiting for a
//! reply, and the interface's ARP input (replies built in place in the request's buffer) and
//! output (requests, retries, gratuitous announcements).
//!
//! Bounds: the cache holds at most `arp_cache_size` entries (the one closest to expiry makes
//! room), at most `arp_pending_addrs` addresses are resolved at once, each holding at most
//! `arp_pending_per_addr` frames (the oldest is dropped beyond that). An address is asked for
//! once, then again every `arp_retry` up to `arp_max_retries` times (RFC 1122 §2.3.2.1: no
//! more than one request per second per address), then its frames are dropped and counted.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use cyclone_pmd::{MacAddr, PacketBuf, Timestamp};

use super::config::{is_unicast, InterfaceConfig};
use super::Core;
use crate::hash::{fast_map_with_capacity, FastMap};
use crate::wire::{ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetRepr};

/// Bytes of an Ethernet header + an ARP packet.
const ARP_FRAME_LEN: usize = EthernetRepr::HEADER_LEN + ArpRepr::BUFFER_LEN;

#[derive(Debug, Clone, Copy)]
struct Entry {
    mac: MacAddr,
    expires: Timestamp,
}

#[derive(Debug)]
struct Pending {
    /// Frames for this next hop, Ethernet header written with a zero destination.
    frames: VecDeque<PacketBuf>,
    /// Requests sent so far.
    requests: u8,
    /// When to ask again (or give up).
    next: Timestamp,
}

/// What [`ArpCache::hold`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// The first frame for this address: the caller sends the first request.
    First,
    /// Queued behind others; a request is already out.
    Queued,
    /// Queued, and the oldest frame for the address was dropped to make room.
    DroppedOldest,
    /// Too many addresses are being resolved: the frame was dropped.
    TableFull,
}

/// What is due for a pending address at a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Send another request.
    Retry(Ipv4Addr),
    /// Gave up: this many frames were dropped.
    GaveUp(Ipv4Addr, usize),
}

/// The neighbour cache and the frames waiting for resolution.
#[derive(Debug)]
pub(super) struct ArpCache {
    entries: FastMap<Ipv4Addr, Entry>,
    /// A `BTreeMap` so retries go out in the same order every run (deterministic tests).
    pending: BTreeMap<Ipv4Addr, Pending>,
    timeout: Duration,
    retry: Duration,
    max_retries: u8,
    per_addr: usize,
    max_addrs: usize,
    max_entries: usize,
    /// Moves on whenever an entry is added, changed or removed, so a copy of an entry kept
    /// elsewhere (the interface's last TCP path) knows when it is stale.
    generation: u64,
}

impl ArpCache {
    pub(super) fn new(config: &InterfaceConfig) -> ArpCache {
        ArpCache {
            entries: fast_map_with_capacity(config.arp_cache_size.min(1024)),
            pending: BTreeMap::new(),
            timeout: config.arp_cache_timeout,
            retry: config.arp_retry,
            max_retries: config.arp_max_retries,
            per_addr: config.arp_pending_per_addr,
            max_addrs: config.arp_pending_addrs,
            max_entries: config.arp_cache_size,
            generation: 0,
        }
    }

    /// The MAC of `ip` if known and not expired (an expired entry is removed).
    pub(super) fn lookup(&mut self, ip: Ipv4Addr, now: Timestamp) -> Option<MacAddr> {
        self.lookup_entry(ip, now).map(|(mac, _)| mac)
    }

    /// [`Self::lookup`], with the time the entry expires.
    pub(super) fn lookup_entry(
        &mut self,
        ip: Ipv4Addr,
        now: Timestamp,
    ) -> Option<(MacAddr, Timestamp)> {
        match self.entries.get(&ip) {
            Some(e) if e.expires > now => Some((e.mac, e.expires)),
            Some(_) => {
                self.entries.remove(&ip);
                self.generation += 1;
                None
            }
            None => None,
        }
    }

    /// See the field: equal generations mean no entry changed in between.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of live-or-expired entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// RFC 826 "merge": refreshes `ip`'s entry if there is one; returns whether there was.
    pub(super) fn update(&mut self, ip: Ipv4Addr, mac: MacAddr, now: Timestamp) -> bool {
        match self.entries.get_mut(&ip) {
            Some(e) => {
                e.mac = mac;
                e.expires = now + self.timeout;
                self.generation += 1;
                true
            }
            None => false,
        }
    }

    /// Adds (or refreshes) `ip` → `mac`; when full, the entry closest to expiry (lowest
    /// address among equals, for determinism) makes room.
    pub(super) fn insert(&mut self, ip: Ipv4Addr, mac: MacAddr, now: Timestamp) {
        self.generation += 1;
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.max_entries {
            let victim = self
                .entries
                .iter()
                .min_by_key(|(ip, e)| (e.expires, **ip))
                .map(|(ip, _)| *ip);
            if let Some(victim) = victim {
                self.entries.remove(&victim);
            }
        }
        self.entries.insert(
            ip,
            Entry {
                mac,
                expires: now + self.timeout,
            },
        );
    }

    /// Holds `frame` until `ip` resolves.
    pub(super) fn hold(&mut self, ip: Ipv4Addr, frame: PacketBuf, now: Timestamp) -> Hold {
        if let Some(p) = self.pending.get_mut(&ip) {
            let mut hold = Hold::Queued;
            if p.frames.len() >= self.per_addr {
                p.frames.pop_front();
                hold = Hold::DroppedOldest;
            }
            p.frames.push_back(frame);
            return hold;
        }
        if self.pending.len() >= self.max_addrs {
            return Hold::TableFull;
        }
        let mut frames = VecDeque::with_capacity(self.per_addr.min(16));
        frames.push_back(frame);
        self.pending.insert(
            ip,
            Pending {
                frames,
                requests: 1,
                next: now + self.retry,
            },
        );
        Hold::First
    }

    /// Whether frames wait for `ip`.
    pub(super) fn is_pending(&self, ip: Ipv4Addr) -> bool {
        self.pending.contains_key(&ip)
    }

    /// The frames that waited for `ip`, now resolved.
    pub(super) fn take_pending(&mut self, ip: Ipv4Addr) -> Option<VecDeque<PacketBuf>> {
        self.pending.remove(&ip).map(|p| p.frames)
    }

    /// Retries and give-ups due at `now`, in address order, into `out`.
    pub(super) fn due(&mut self, now: Timestamp, out: &mut Vec<Due>) {
        let mut gave_up = Vec::new();
        for (ip, p) in self.pending.iter_mut() {
            if p.next > now {
                continue;
            }
            if p.requests > self.max_retries {
                gave_up.push(*ip);
            } else {
                p.requests += 1;
                p.next = now + self.retry;
                out.push(Due::Retry(*ip));
            }
        }
        for ip in gave_up {
            let dropped = self.pending.remove(&ip).map_or(0, |p| p.frames.len());
            out.push(Due::GaveUp(ip, dropped));
        }
    }

    /// When the next retry or give-up is due.
    #[inline]
    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        // Nearly always nothing is being resolved: skip walking the empty table (inline, the
        // walk out of line).
        if self.pending.is_empty() {
            return None;
        }
        self.next_pending_deadline()
    }

    #[inline(never)]
    fn next_pending_deadline(&self) -> Option<Timestamp> {
        self.pending.values().map(|p| p.next).min()
    }
}

impl Core {
    /// Handles a received ARP frame (RFC 826 "Packet Reception"), answering a request for one
    /// of our addresses in the same buffer.
    pub(super) fn process_arp(&mut self, now: Timestamp, mut buf: PacketBuf) {
        self.stats.rx_arp += 1;
        let parsed = buf
            .data()
            .get(EthernetRepr::HEADER_LEN..)
            .ok_or(crate::wire::WireError::Truncated {
                layer: crate::wire::Layer::Arp,
                needed: ARP_FRAME_LEN,
                got: buf.len(),
            })
            .and_then(|bytes| ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)));
        let arp = match parsed {
            Ok(arp) => arp,
            Err(err) => {
                self.stats.count_wire(&err);
                return;
            }
        };
        match arp.operation {
            ArpOperation::Request => self.stats.arp_rx_requests += 1,
            ArpOperation::Reply => self.stats.arp_rx_replies += 1,
        }
        let sender = arp.source_ip;
        // A probe (RFC 5227 §2.1.1) has sender 0.0.0.0: answer it, learn nothing.
        let probe = sender.is_unspecified();
        if arp.source_mac.is_multicast()
            || arp.source_mac == MacAddr::ZERO
            || arp.source_mac == self.config.mac
            || self.is_own(sender)
            || (!probe && (!is_unicast(sender) || self.is_broadcast(sender)))
        {
            self.stats.arp_bad_sender += 1;
            return;
        }
        let for_us = self.is_own(arp.target_ip);
        // RFC 826: "If the pair <protocol type, sender protocol address> is already in my
        // translation table, update the sender hardware address field ... set Merge_flag".
        let merged = !probe && self.arp.update(sender, arp.source_mac, now);
        // An address we are resolving is worth learning from any ARP it sends (an
        // announcement, a request for someone else), not only from the reply.
        let wanted = !probe && !merged && self.arp.is_pending(sender);
        // "If Merge_flag is false, add the triplet to the translation table" (when the
        // packet is for us; otherwise only the merge applies).
        if !probe && !merged && (for_us || wanted) {
            self.arp.insert(sender, arp.source_mac, now);
        }
        if merged || wanted || (for_us && !probe) {
            self.release_pending(sender, arp.source_mac);
        }
        if !for_us {
            if !merged && !wanted {
                self.stats.arp_ignored += 1;
            }
            return;
        }
        if arp.operation == ArpOperation::Request {
            // "Swap hardware and protocol fields, putting the local hardware and protocol
            // addresses in the sender fields; set the opcode to reply" — in place.
            let reply = arp.reply(self.config.mac);
            let eth = EthernetRepr {
                src: self.config.mac,
                dst: arp.source_mac,
                ethertype: EtherType::ARP,
                vlan: None,
            };
            buf.truncate(ARP_FRAME_LEN);
            buf.offload = Default::default();
            let data = buf.data_mut();
            let (eth_bytes, arp_bytes) = data.split_at_mut(EthernetRepr::HEADER_LEN);
            if eth.emit(eth_bytes).is_ok() && reply.emit(arp_bytes).is_ok() {
                self.stats.arp_tx_replies += 1;
                self.stats.tx_arp += 1;
                self.enqueue_tx(buf);
            }
        }
    }

    /// Sends the frames that waited for `ip`, now known to be at `mac`.
    pub(super) fn release_pending(&mut self, ip: Ipv4Addr, mac: MacAddr) {
        let Some(frames) = self.arp.take_pending(ip) else {
            return;
        };
        for mut frame in frames {
            if let Some(dst) = frame.data_mut().get_mut(..6) {
                dst.copy_from_slice(&mac.0);
            }
            self.enqueue_tx(frame);
        }
    }

    /// Sends an ARP request for `target` from our address on its subnet.
    pub(super) fn send_arp_request(&mut self, target: Ipv4Addr) {
        let src = self.source_for(target);
        let repr = ArpRepr::request(self.config.mac, src, target);
        if self.send_arp(repr) {
            self.stats.arp_tx_requests += 1;
        }
    }

    /// Announces each of our addresses (RFC 5227 §3 "ARP Announcement": a request with our
    /// address as both sender and target), so neighbours refresh stale entries.
    pub(super) fn send_gratuitous_arp(&mut self) {
        for i in 0..self.config.addresses.len() {
            let ip = self.config.addresses[i].addr;
            let repr = ArpRepr::request(self.config.mac, ip, ip);
            if self.send_arp(repr) {
                self.stats.arp_tx_gratuitous += 1;
            }
        }
    }

    /// Builds a broadcast ARP frame in a fresh buffer and queues it.
    fn send_arp(&mut self, repr: ArpRepr) -> bool {
        let Some(mut buf) = self.alloc() else {
            return false;
        };
        let eth = EthernetRepr {
            src: self.config.mac,
            dst: MacAddr::BROADCAST,
            ethertype: EtherType::ARP,
            vlan: None,
        };
        let built = match buf.append(ARP_FRAME_LEN) {
            Ok(data) => {
                let (eth_bytes, arp_bytes) = data.split_at_mut(EthernetRepr::HEADER_LEN);
                eth.emit(eth_bytes).is_ok() && repr.emit(arp_bytes).is_ok()
            }
            Err(_) => false,
        };
        if !built {
            self.stats.drop_too_big += 1;
            return false;
        }
        self.stats.tx_arp += 1;
        self.enqueue_tx(buf);
        true
    }

    /// Runs ARP timers: retries and give-ups (the test for "nothing due" inline, the work
    /// out of line).
    #[inline]
    pub(super) fn poll_arp(&mut self, now: Timestamp) {
        if self.arp.next_deadline().is_none_or(|t| t > now) {
            return;
        }
        self.run_arp_timers(now);
    }

    #[inline(never)]
    fn run_arp_timers(&mut self, now: Timestamp) {
        let mut due = std::mem::take(&mut self.arp_due);
        due.clear();
        self.arp.due(now, &mut due);
        for d in &due {
            match *d {
                Due::Retry(ip) => self.send_arp_request(ip),
                Due::GaveUp(_, dropped) => {
                    self.stats.arp_resolution_failed += 1;
                    self.stats.drop_arp_timeout += dropped as u64;
                }
            }
        }
        self.arp_due = due;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::{InterfaceConfig, Ipv4Cidr};
    use cyclone_pmd::{Pool, PoolConfig};

    fn cache(size: usize, per_addr: usize, addrs: usize) -> ArpCache {
        let mut c = InterfaceConfig::new(
            MacAddr::local(1),
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24),
        );
        c.arp_cache_size = size;
        c.arp_pending_per_addr = per_addr;
        c.arp_pending_addrs = addrs;
        c.arp_max_retries = 2;
        ArpCache::new(&c)
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn entries_expire_and_the_oldest_is_evicted() {
        let mut c = cache(2, 4, 4);
        c.insert(ip(2), MacAddr::local(2), t(0));
        c.insert(ip(3), MacAddr::local(3), t(1));
        assert_eq!(c.lookup(ip(2), t(59)), Some(MacAddr::local(2)));
        // Full: the entry expiring first (10.0.0.2) goes.
        c.insert(ip(4), MacAddr::local(4), t(2));
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(ip(2), t(2)), None);
        assert!(c.update(ip(3), MacAddr::local(33), t(30)));
        assert!(!c.update(ip(9), MacAddr::local(9), t(30)));
        assert_eq!(c.lookup(ip(3), t(89)), Some(MacAddr::local(33)));
        assert_eq!(c.lookup(ip(3), t(90)), None);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn pending_is_bounded_retried_then_given_up() {
        let pool = Pool::new(PoolConfig {
            frames: 16,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut c = cache(8, 2, 1);
        assert_eq!(c.hold(ip(2), pool.alloc().unwrap(), t(0)), Hold::First);
        assert_eq!(c.hold(ip(2), pool.alloc().unwrap(), t(0)), Hold::Queued);
        assert_eq!(
            c.hold(ip(2), pool.alloc().unwrap(), t(0)),
            Hold::DroppedOldest
        );
        assert_eq!(c.hold(ip(3), pool.alloc().unwrap(), t(0)), Hold::TableFull);
        assert_eq!(c.next_deadline(), Some(t(1)));
        let mut due = Vec::new();
        c.due(t(0), &mut due);
        assert!(due.is_empty());
        c.due(t(1), &mut due);
        c.due(t(2), &mut due);
        assert_eq!(due, [Due::Retry(ip(2)), Due::Retry(ip(2))]);
        due.clear();
        c.due(t(3), &mut due);
        assert_eq!(due, [Due::GaveUp(ip(2), 2)]);
        assert!(!c.is_pending(ip(2)));
        assert_eq!(c.next_deadline(), None);
        // Every frame went back to the pool.
        drop(c);
        pool.flush_thread_cache();
        assert_eq!(pool.available(), 16);
    }
}
