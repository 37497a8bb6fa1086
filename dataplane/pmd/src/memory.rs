//! An in-memory link: two [`MemoryPort`]s joined by a simulated wire, on a clock the caller
//! controls.
//!
//! What lives here: [`MemoryLink`] (the wire and its constructor [`MemoryLink::pair`]), its
//! configuration [`MemoryLinkConfig`], the ports ([`MemoryPort`]) and their queues
//! ([`MemoryQueue`]), and the wire's counters ([`WireStats`]). It uses only the driver contract
//! ([`crate::port`]), the pool and the clock; no `unsafe`.
//!
//! The model, per direction:
//!
//! - **Transmit** copies each frame onto the wire (a wire is a copy: the sender's buffer goes
//!   back to the sender's pool at once), or, with [`MemoryLinkConfig::shared_pool`], moves the
//!   sender's buffer itself onto the wire (zero copy, as a veth pair hands the same buffer
//!   across). A frame occupies the wire for its serialization time
//!   (`bits / bandwidth`), queued behind the frames sent before it, then propagates for the
//!   link's latency: it arrives at `now + queueing + serialization + latency`.
//! - **Receive** hands over, in arrival order, the frames whose arrival time has come, each in a
//!   buffer freshly allocated from the *receiving* port's pool. An empty pool drops the frame
//!   and counts it, like a NIC whose fill ring ran dry. With a shared pool the receiver gets
//!   the sender's buffer as it was sent (its offload flags cleared), and nothing is dropped
//!   for want of a buffer.
//! - **Steering**: with several queues, a frame goes to the queue picked by the Toeplitz hash
//!   (the one NICs use for RSS, with the usual Microsoft key) of its IPv4 addresses and, when
//!   it has them, its TCP/UDP ports; other frames go to queue 0.
//! - **Bounds**: a direction holds at most `max_in_flight` frames (on the wire or arrived and
//!   not yet received); beyond that a frame is dropped and counted. Nothing grows without bound.
//!
//! Time only moves when the clock does; [`MemoryLink::next_arrival`] tells a simulation driver
//! where to jump a [`VirtualClock`](crate::VirtualClock) next.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::PortError;
use crate::port::{Capabilities, Checksums, MacAddr, Port, Queue, QueueStats, RxQueue, TxQueue};
use crate::time::{Clock, Timestamp};
use crate::{Offload, PacketBuf, Pool, PoolConfig};

/// A clock shared by a link's ports and queues.
pub type SharedClock = Arc<dyn Clock + Send + Sync>;

/// Length of an Ethernet header without a VLAN tag.
const ETH_HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag.
const VLAN_TAG_LEN: usize = 4;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// The smallest MTU an IPv4 link may have (RFC 791).
const MIN_MTU: u16 = 68;
/// How many emptied byte vectors a wire keeps for reuse.
const SPARE_MAX: usize = 64;

/// Configuration of a [`MemoryLink`]. Index 0 of each pair is the first port of
/// [`MemoryLink::pair`], index 1 the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLinkConfig {
    /// Port names.
    pub names: [String; 2],
    /// Port MAC addresses.
    pub macs: [MacAddr; 2],
    /// Each port's own pool: received frames land in buffers of the receiving port's pool.
    /// With `shared_pool`, `pools[0]` is the one pool of both ports and `pools[1]` is unused.
    pub pools: [PoolConfig; 2],
    /// Zero-copy mode: both ports share one pool (`pools[0]`) and the wire carries the
    /// transmitted [`PacketBuf`] itself instead of a copy of its bytes. Off by default (each
    /// port has its own pool, and a frame in flight holds no buffer of either).
    pub shared_pool: bool,
    /// Queues per port (at least 1). With more than one, frames are steered by RSS hash.
    pub queues: u16,
    /// L3 MTU: the largest frame is `mtu + 14` bytes, `mtu + 18` with a VLAN tag.
    pub mtu: u16,
    /// One-way propagation delay.
    pub latency: Duration,
    /// Bandwidth in bits per second; 0 means unlimited (no serialization delay).
    pub bandwidth_bps: u64,
    /// Most frames one direction holds (on the wire, or arrived and not yet received).
    pub max_in_flight: usize,
}

impl Default for MemoryLinkConfig {
    /// Two ports `mem0`/`mem1` with MACs `local(1)`/`local(2)`, 1024-frame pools, one queue,
    /// MTU 1500, no latency, unlimited bandwidth and 1024 frames in flight per direction.
    fn default() -> Self {
        let pool = PoolConfig {
            frames: 1024,
            ..PoolConfig::default()
        };
        MemoryLinkConfig {
            names: ["mem0".to_string(), "mem1".to_string()],
            macs: [MacAddr::local(1), MacAddr::local(2)],
            pools: [pool, pool],
            queues: 1,
            mtu: 1500,
            latency: Duration::ZERO,
            bandwidth_bps: 0,
            max_in_flight: 1024,
            shared_pool: false,
        }
    }
}

impl MemoryLinkConfig {
    /// Checks the configuration; the error says which value is wrong.
    pub fn validate(&self) -> Result<(), PortError> {
        if self.queues == 0 {
            return Err(PortError::Config(
                "memory link: `queues` must be at least 1".to_string(),
            ));
        }
        if self.mtu < MIN_MTU {
            return Err(PortError::Config(format!(
                "memory link: `mtu` {} is below the IPv4 minimum of {MIN_MTU}",
                self.mtu
            )));
        }
        if self.max_in_flight == 0 {
            return Err(PortError::Config(
                "memory link: `max_in_flight` must be at least 1".to_string(),
            ));
        }
        let largest = usize::from(self.mtu) + ETH_HEADER_LEN + VLAN_TAG_LEN;
        let pools = if self.shared_pool {
            &self.pools[..1]
        } else {
            &self.pools[..]
        };
        for (side, pool) in pools.iter().enumerate() {
            pool.validate()?;
            let room = (pool.frame_size - pool.headroom) as usize;
            if room < largest {
                return Err(PortError::Config(format!(
                    "memory link: port {side}'s pool leaves {room} bytes after the headroom, \
                     too few for a {largest}-byte frame (MTU {} plus a tagged Ethernet header)",
                    self.mtu
                )));
            }
        }
        Ok(())
    }
}

/// Counters of one direction of the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Frames put on the wire.
    pub frames_sent: u64,
    /// Bytes of those frames.
    pub bytes_sent: u64,
    /// Frames handed to the receiver.
    pub frames_delivered: u64,
    /// Frames taken by `tx_burst` and dropped for being larger than the MTU allows.
    pub dropped_oversize: u64,
    /// Frames taken by `tx_burst` and dropped because `max_in_flight` frames were held.
    pub dropped_full: u64,
    /// Frames dropped on arrival because the receiving pool was empty.
    pub dropped_no_buffer: u64,
    /// Frames held right now (on the wire, or arrived and not yet received).
    pub in_flight: u64,
}

/// A frame on the wire.
struct InFlight {
    arrival: Timestamp,
    frame: WireFrame,
}

/// The bytes of a frame on the wire: a copy, or (shared pool) the sender's buffer itself.
enum WireFrame {
    Copy(Vec<u8>),
    Buf(PacketBuf),
}

/// One direction of the wire.
struct Wire {
    /// Frames for each receiving queue, in arrival order.
    to_queue: Vec<VecDeque<InFlight>>,
    /// Frames in all of `to_queue` (bounded by `max_in_flight`).
    held: usize,
    /// When the wire finishes serializing the last frame sent.
    busy_until: Timestamp,
    /// Emptied byte vectors, reused for the next frames.
    spare: Vec<Vec<u8>>,
    stats: WireStats,
}

impl Wire {
    fn new(queues: u16) -> Wire {
        Wire {
            to_queue: (0..queues).map(|_| VecDeque::new()).collect(),
            held: 0,
            busy_until: Timestamp::ZERO,
            spare: Vec::new(),
            stats: WireStats::default(),
        }
    }

    fn next_arrival(&self) -> Option<Timestamp> {
        self.to_queue
            .iter()
            .filter_map(|q| q.front().map(|f| f.arrival))
            .min()
    }
}

/// What the two ports share and change.
struct LinkState {
    /// `wires[s]` carries frames from port `s` to port `1 - s`.
    wires: [Wire; 2],
    /// `open[s][q]`: whether queue `q` of port `s` is open.
    open: [Vec<bool>; 2],
}

/// The link: fixed parameters plus the shared state.
struct Link {
    queues: u16,
    mtu: u16,
    latency: Duration,
    bandwidth_bps: u64,
    max_in_flight: usize,
    /// Both ports share one pool and the wire moves buffers (no copy).
    shared_pool: bool,
    clock: SharedClock,
    /// No latency and no bandwidth limit: a frame arrives the moment it is sent.
    instant: bool,
    state: Mutex<LinkState>,
    /// Frames in each direction's per-queue list (`queued[side][queue]` mirrors
    /// `wires[side].to_queue[queue].len()`, stored under the lock: a plain store, where an atomic
    /// add per frame cost tens of cycles each), read without the
    /// lock so that polling an empty queue costs one load, as reading a NIC ring's head does.
    queued: [Box<[AtomicUsize]>; 2],
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panic while the lock was held cannot leave the state half-updated in a way that
        // matters to a simulation: keep going with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time `len` bytes occupy the wire.
    fn serialization(&self, len: usize) -> Duration {
        if self.bandwidth_bps == 0 {
            return Duration::ZERO;
        }
        let bits = len as u128 * 8;
        let bps = u128::from(self.bandwidth_bps);
        // Round up so that N frames never take less than N * S * 8 / B in total.
        let nanos = (bits * 1_000_000_000).div_ceil(bps);
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }

    /// Largest frame accepted: the MTU plus an Ethernet header, plus a VLAN tag if it has one.
    fn max_frame_len(&self, frame: &[u8]) -> usize {
        let tagged = ethertype(frame) == Some(ETHERTYPE_VLAN);
        usize::from(self.mtu) + ETH_HEADER_LEN + if tagged { VLAN_TAG_LEN } else { 0 }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("queues", &self.queues)
            .field("mtu", &self.mtu)
            .field("latency", &self.latency)
            .field("bandwidth_bps", &self.bandwidth_bps)
            .field("max_in_flight", &self.max_in_flight)
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// A handle on the wire between two [`MemoryPort`]s: for a simulation driver to see what is in
/// flight. Cloning gives another handle on the same wire.
#[derive(Debug, Clone)]
pub struct MemoryLink {
    link: Arc<Link>,
}

impl MemoryLink {
    /// Creates two ports joined by a wire, on `clock`. Each port gets its own pool, or both
    /// share `pools[0]` ([`MemoryLinkConfig::shared_pool`]).
    pub fn pair(
        config: MemoryLinkConfig,
        clock: SharedClock,
    ) -> Result<(MemoryPort, MemoryPort), PortError> {
        config.validate()?;
        let pool0 = Pool::new(config.pools[0])?;
        let pool1 = if config.shared_pool {
            pool0.clone()
        } else {
            Pool::new(config.pools[1])?
        };
        let pools = [pool0, pool1];
        let queues = usize::from(config.queues);
        let link = Arc::new(Link {
            queues: config.queues,
            mtu: config.mtu,
            latency: config.latency,
            bandwidth_bps: config.bandwidth_bps,
            max_in_flight: config.max_in_flight,
            shared_pool: config.shared_pool,
            clock,
            instant: config.latency.is_zero() && config.bandwidth_bps == 0,
            queued: [0, 1].map(|_| (0..queues).map(|_| AtomicUsize::new(0)).collect()),
            state: Mutex::new(LinkState {
                wires: [Wire::new(config.queues), Wire::new(config.queues)],
                open: [vec![false; queues], vec![false; queues]],
            }),
        });
        let [name0, name1] = config.names;
        let [pool0, pool1] = pools;
        let port = |side: usize, name: String, pool: Pool| MemoryPort {
            side,
            name,
            mac: config.macs[side],
            pool,
            link: Arc::clone(&link),
        };
        Ok((port(0, name0, pool0), port(1, name1, pool1)))
    }

    /// When the next frame still held by the wire, in either direction, arrives (or arrived,
    /// if it is waiting to be received); `None` when the wire holds nothing.
    pub fn next_arrival(&self) -> Option<Timestamp> {
        let state = self.link.lock();
        state.wires.iter().filter_map(Wire::next_arrival).min()
    }

    /// Counters of the direction from port `from` (0 or 1) to the other; `None` for another
    /// index.
    pub fn wire_stats(&self, from: usize) -> Option<WireStats> {
        wire_stats(&self.link, from)
    }

    /// The link's clock.
    pub fn clock(&self) -> SharedClock {
        Arc::clone(&self.link.clock)
    }
}

fn wire_stats(link: &Link, from: usize) -> Option<WireStats> {
    let state = link.lock();
    let wire = state.wires.get(from)?;
    let mut stats = wire.stats;
    stats.in_flight = wire.held as u64;
    Some(stats)
}

/// One end of a [`MemoryLink`].
#[derive(Debug)]
pub struct MemoryPort {
    side: usize,
    name: String,
    mac: MacAddr,
    pool: Pool,
    link: Arc<Link>,
}

impl MemoryPort {
    /// The port's pool: received frames land in its buffers; transmit from it too.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The wire this port is on.
    pub fn link(&self) -> MemoryLink {
        MemoryLink {
            link: Arc::clone(&self.link),
        }
    }

    /// The link's clock.
    pub fn clock(&self) -> SharedClock {
        Arc::clone(&self.link.clock)
    }

    /// When the next frame travelling to this port arrives (or arrived, if it waits to be
    /// received); `None` when none is on its way.
    pub fn next_arrival(&self) -> Option<Timestamp> {
        self.link.lock().wires[1 - self.side].next_arrival()
    }

    /// Counters of the direction from this port to its peer.
    pub fn tx_wire_stats(&self) -> WireStats {
        wire_stats(&self.link, self.side).unwrap_or_default()
    }

    /// Counters of the direction from the peer to this port.
    pub fn rx_wire_stats(&self) -> WireStats {
        wire_stats(&self.link, 1 - self.side).unwrap_or_default()
    }
}

impl Port for MemoryPort {
    type Queue = MemoryQueue;

    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.link.mtu,
            max_queues: self.link.queues,
            rx_checksum: Checksums::default(),
            tx_checksum: Checksums::default(),
            tso: false,
            rss: self.link.queues > 1,
        }
    }

    fn open_queue(&mut self, id: u16) -> Result<MemoryQueue, PortError> {
        if id >= self.link.queues {
            return Err(PortError::NoSuchQueue {
                queue: id,
                queues: self.link.queues,
            });
        }
        let mut state = self.link.lock();
        let open = &mut state.open[self.side][usize::from(id)];
        if *open {
            return Err(PortError::QueueInUse(id));
        }
        *open = true;
        drop(state);
        Ok(MemoryQueue {
            side: self.side,
            id,
            pool: self.pool.clone(),
            link: Arc::clone(&self.link),
            stats: QueueStats::default(),
        })
    }
}

/// A queue of a [`MemoryPort`]. Dropping it closes it; it can then be opened again.
#[derive(Debug)]
pub struct MemoryQueue {
    side: usize,
    id: u16,
    pool: Pool,
    link: Arc<Link>,
    stats: QueueStats,
}

impl MemoryQueue {
    /// When the next frame for this queue arrives (or arrived, if it waits to be received).
    pub fn next_arrival(&self) -> Option<Timestamp> {
        let state = self.link.lock();
        state.wires[1 - self.side].to_queue[usize::from(self.id)]
            .front()
            .map(|f| f.arrival)
    }
}

impl RxQueue for MemoryQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let queue = usize::from(self.id);
        let queued = &self.link.queued[1 - self.side][queue];
        // A stale zero (a frame sent by another thread a moment ago) is seen at the next poll.
        if max == 0 || queued.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        // With no latency and no bandwidth limit a frame arrives when it is sent, and the
        // sender's clock is this one: everything queued is due, no need to read the clock.
        let now = (!self.link.instant).then(|| self.link.clock.now());
        let mut state = self.link.lock();
        let Wire {
            to_queue,
            held,
            spare,
            stats,
            ..
        } = &mut state.wires[1 - self.side];
        let frames = &mut to_queue[queue];
        let mut got = 0;
        while got < max {
            if now.is_some_and(|now| frames.front().is_some_and(|f| f.arrival > now)) {
                break;
            }
            let Some(frame) = frames.pop_front() else {
                break;
            };
            *held -= 1;
            let bytes = match frame.frame {
                WireFrame::Buf(mut buf) => {
                    // The sender's TX offload requests mean nothing to the receiver, and no
                    // device verified anything on the way.
                    buf.offload = Offload::default();
                    self.stats.count_rx(buf.len());
                    stats.frames_delivered += 1;
                    out.push(buf);
                    got += 1;
                    continue;
                }
                WireFrame::Copy(bytes) => bytes,
            };
            match self.pool.alloc() {
                Some(mut buf) => {
                    if buf.extend_from_slice(&bytes).is_ok() {
                        self.stats.count_rx(buf.len());
                        stats.frames_delivered += 1;
                        out.push(buf);
                        got += 1;
                    } else {
                        // Cannot happen with a validated config; count rather than panic.
                        self.stats.rx_dropped_invalid += 1;
                    }
                }
                None => {
                    self.stats.rx_dropped_no_buffer += 1;
                    stats.dropped_no_buffer += 1;
                }
            }
            if spare.len() < SPARE_MAX {
                spare.push(bytes);
            }
        }
        queued.store(frames.len(), Ordering::Relaxed);
        got
    }
}

impl TxQueue for MemoryQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        let taken = bufs.len();
        if taken == 0 {
            return 0;
        }
        let link = &*self.link;
        let now = link.clock.now();
        let mut state = link.lock();
        let wire = &mut state.wires[self.side];
        for buf in bufs.drain(..) {
            let data = buf.data();
            let len = data.len();
            if len > link.max_frame_len(data) {
                wire.stats.dropped_oversize += 1;
                continue;
            }
            if wire.held >= link.max_in_flight {
                wire.stats.dropped_full += 1;
                continue;
            }
            // An instant link's frame arrives when it is sent; otherwise it waits for the
            // frames before it to leave the wire, takes its own serialization time, and
            // propagates.
            let arrival = if link.instant {
                now
            } else {
                let done = now.max(wire.busy_until) + link.serialization(len);
                wire.busy_until = done;
                done + link.latency
            };
            let queue = usize::from(steer(data, link.queues));
            let frames = &mut wire.to_queue[queue];
            // Each frame is built in its push: moving a finished `InFlight` through the stack
            // cost a stalled load (store forwarding) per frame.
            if link.shared_pool {
                // Both ports share the pool: the buffer itself travels.
                frames.push_back(InFlight {
                    arrival,
                    frame: WireFrame::Buf(buf),
                });
            } else {
                let mut bytes = wire.spare.pop().unwrap_or_default();
                bytes.clear();
                bytes.extend_from_slice(data);
                // `buf` drops here: the wire kept a copy, the frame goes back to its pool.
                frames.push_back(InFlight {
                    arrival,
                    frame: WireFrame::Copy(bytes),
                });
            }
            link.queued[self.side][queue].store(frames.len(), Ordering::Relaxed);
            wire.held += 1;
            wire.stats.frames_sent += 1;
            wire.stats.bytes_sent += len as u64;
            self.stats.count_tx(len);
        }
        taken
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Queue for MemoryQueue {
    fn id(&self) -> u16 {
        self.id
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }
}

impl Drop for MemoryQueue {
    fn drop(&mut self) {
        let mut state = self.link.lock();
        if let Some(open) = state.open[self.side].get_mut(usize::from(self.id)) {
            *open = false;
        }
    }
}

/// The ethertype of an Ethernet frame (the outer one for a tagged frame).
fn ethertype(frame: &[u8]) -> Option<u16> {
    be16(frame, 12)
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// The Microsoft RSS key that most NIC drivers use by default.
const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz hash of `input` under `key` (Microsoft's RSS specification): for every set bit
/// of the input, XOR in the 32 key bits starting at that bit's position.
fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            let next = i * 8 + bit + 32;
            let next_bit = key.get(next / 8).map_or(0, |k| (k >> (7 - next % 8)) & 1);
            window = (window << 1) | u32::from(next_bit);
        }
    }
    hash
}

/// The RSS hash input of a frame: IPv4 source and destination addresses, then the TCP/UDP
/// source and destination ports if the frame is TCP or UDP and not a fragment. `None` for
/// other frames.
fn rss_input(frame: &[u8], input: &mut [u8; 12]) -> Option<usize> {
    let mut l3 = ETH_HEADER_LEN;
    let mut ethertype = ethertype(frame)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = be16(frame, 16)?;
        l3 += VLAN_TAG_LEN;
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(l3..)?;
    let first = *ip.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || ip.len() < ihl {
        return None;
    }
    input[..8].copy_from_slice(ip.get(12..20)?);
    let protocol = ip[9];
    // More-fragments flag or a fragment offset: only the first fragment has the ports.
    let fragment = be16(ip, 6)? & 0x3fff != 0;
    if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP) && !fragment {
        if let Some(ports) = ip.get(ihl..ihl + 4) {
            input[8..].copy_from_slice(ports);
            return Some(12);
        }
    }
    Some(8)
}

/// The receiving queue of a frame on a port with `queues` queues: the low 7 bits of the RSS
/// hash index a 128-entry redirection table filled round-robin, as NICs do by default.
fn steer(frame: &[u8], queues: u16) -> u16 {
    if queues <= 1 {
        return 0;
    }
    let mut input = [0u8; 12];
    match rss_input(frame, &mut input) {
        Some(len) => ((toeplitz(&RSS_KEY, &input[..len]) & 0x7f) % u32::from(queues)) as u16,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verification suite of Microsoft's RSS specification, IPv4 rows.
    #[test]
    fn toeplitz_matches_the_rss_specification() {
        /// Destination, source, destination port, source port, hash with ports, hash without.
        type Row = ([u8; 4], [u8; 4], u16, u16, u32, u32);
        let rows: [Row; 3] = [
            (
                [161, 142, 100, 80],
                [66, 9, 149, 187],
                1766,
                2794,
                0x51cc_c178,
                0x323e_8fc2,
            ),
            (
                [65, 69, 140, 83],
                [199, 92, 111, 2],
                4739,
                14230,
                0xc626_b0ea,
                0xd718_262a,
            ),
            (
                [12, 22, 207, 184],
                [24, 19, 198, 95],
                38024,
                12898,
                0x5c2b_394a,
                0xd2d0_a5de,
            ),
        ];
        for (dst, src, dport, sport, with_ports, without) in rows {
            let mut input = Vec::new();
            input.extend_from_slice(&src);
            input.extend_from_slice(&dst);
            assert_eq!(toeplitz(&RSS_KEY, &input), without);
            input.extend_from_slice(&sport.to_be_bytes());
            input.extend_from_slice(&dport.to_be_bytes());
            assert_eq!(toeplitz(&RSS_KEY, &input), with_ports);
        }
    }

    /// Zero-copy mode: one pool for both ports, the transmitted buffer itself arrives (same
    /// frame, same bytes, offload flags cleared), latency still applies, and the frame goes
    /// back to the shared pool only when the receiver drops it.
    #[test]
    fn shared_pool_moves_the_buffer_across() {
        use crate::VirtualClock;
        let clock = VirtualClock::new();
        let config = MemoryLinkConfig {
            shared_pool: true,
            latency: Duration::from_micros(10),
            ..MemoryLinkConfig::default()
        };
        let frames = config.pools[0].frames as usize;
        let (mut a, mut b) =
            MemoryLink::pair(config, Arc::new(clock.clone())).expect("valid config");
        assert_eq!(a.pool().id(), b.pool().id());
        let (mut qa, mut qb) = (
            a.open_queue(0).expect("open"),
            b.open_queue(0).expect("open"),
        );
        let pool = qa.pool().clone();
        let mut buf = pool.alloc().expect("a buffer");
        let mut frame = vec![0u8; 60];
        frame[..6].copy_from_slice(&MacAddr::local(2).0);
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame[20..].fill(0xab);
        buf.extend_from_slice(&frame).expect("fits");
        buf.offload.set_tx_l4_checksum(true);
        let index = buf.frame_index();
        let mut bufs = vec![buf];
        assert_eq!(qa.tx_burst(&mut bufs), 1);
        // On the wire: the buffer is neither free nor copied.
        pool.flush_thread_cache();
        assert_eq!(pool.available(), frames - 1);
        let mut got = Vec::new();
        assert_eq!(qb.rx_burst(&mut got, 8), 0, "not before the latency");
        clock.advance(Duration::from_micros(10));
        assert_eq!(qb.rx_burst(&mut got, 8), 1);
        assert_eq!(got[0].frame_index(), index);
        assert_eq!(got[0].data(), &frame[..]);
        assert_eq!(got[0].offload, Offload::default());
        pool.flush_thread_cache();
        assert_eq!(pool.available(), frames - 1);
        assert_eq!(a.tx_wire_stats().frames_delivered, 1);
        got.clear();
        pool.flush_thread_cache();
        assert_eq!(pool.available(), frames);
        // Frames still in flight when the link goes away return to the pool too.
        let mut bufs = vec![pool.alloc().expect("a buffer")];
        bufs[0].extend_from_slice(&frame).expect("fits");
        assert_eq!(qb.tx_burst(&mut bufs), 1);
        drop((qa, qb, a, b));
        pool.flush_thread_cache();
        assert_eq!(pool.available(), frames);
    }

    #[test]
    fn rss_input_reads_ipv4_and_ports() {
        let mut frame = vec![0u8; 14 + 20 + 8];
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame[14] = 0x45;
        frame[14 + 9] = IPPROTO_UDP;
        frame[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
        frame[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
        frame[34..36].copy_from_slice(&1000u16.to_be_bytes());
        frame[36..38].copy_from_slice(&2000u16.to_be_bytes());
        let mut input = [0u8; 12];
        assert_eq!(rss_input(&frame, &mut input), Some(12));
        assert_eq!(input, [10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xe8, 0x07, 0xd0]);
        // A later fragment hashes on the addresses only.
        frame[14 + 6..14 + 8].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(rss_input(&frame, &mut input), Some(8));
        // Not IPv4, or truncated: no hash.
        assert_eq!(rss_input(&frame[..20], &mut input), None);
        frame[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(rss_input(&frame, &mut input), None);
    }
}
