//! The driver contract: ports, their queues, capabilities and counters.
//!
//! One thread drives one queue of one port to completion. A queue receives and transmits in
//! bursts of owned [`PacketBuf`]s: `rx_burst` hands buffers to the caller, `tx_burst` takes
//! them, and what the device could not take stays with the caller.

use std::fmt;

use crate::error::PortError;
use crate::{PacketBuf, Pool};

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Whether the group bit is set (broadcast or multicast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// A locally administered unicast address derived from `n`, for tests and virtual ports.
    pub fn local(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([0x02, 0xcc, b[0], b[1], b[2], b[3]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts
                .next()
                .ok_or_else(|| format!("`{s}` is not a MAC address"))?;
            *byte =
                u8::from_str_radix(part, 16).map_err(|_| format!("`{s}` is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("`{s}` is not a MAC address"));
        }
        Ok(MacAddr(out))
    }
}

/// Which checksums a device computes (TX) or verifies (RX).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksums {
    /// IPv4 header checksum.
    pub ipv4: bool,
    /// UDP checksum.
    pub udp: bool,
    /// TCP checksum.
    pub tcp: bool,
}

/// What a port can do, as data: the stack asks and does the rest in software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Largest IP packet (L3 MTU) the port carries.
    pub mtu: u16,
    /// Number of queues the port offers.
    pub max_queues: u16,
    /// Checksums the device verifies on receive (reported per buffer in its `offload` flags).
    pub rx_checksum: Checksums,
    /// Checksums the device fills on transmit when a buffer's `offload` flags ask for it.
    pub tx_checksum: Checksums,
    /// TCP segmentation offload.
    pub tso: bool,
    /// Receive-side scaling: the device spreads flows over its queues by hash.
    pub rss: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            mtu: 1500,
            max_queues: 1,
            rx_checksum: Checksums::default(),
            tx_checksum: Checksums::default(),
            tso: false,
            rss: false,
        }
    }
}

/// Per-queue counters. Plain numbers: a queue is driven by one thread, which publishes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames received and handed to the caller.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames the device took for transmission.
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames dropped on receive because the pool was empty.
    pub rx_dropped_no_buffer: u64,
    /// Frames dropped on receive because they were malformed or too large.
    pub rx_dropped_invalid: u64,
    /// Frames offered to `tx_burst` that the device could not take (left with the caller).
    pub tx_full: u64,
}

impl QueueStats {
    /// Counts a received frame.
    pub fn count_rx(&mut self, bytes: usize) {
        self.rx_packets += 1;
        self.rx_bytes += bytes as u64;
    }

    /// Counts a transmitted frame.
    pub fn count_tx(&mut self, bytes: usize) {
        self.tx_packets += 1;
        self.tx_bytes += bytes as u64;
    }
}

/// The receive half of a queue.
pub trait RxQueue {
    /// Appends up to `max` received frames to `out` and returns how many. Never blocks.
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize;
}

/// The transmit half of a queue.
pub trait TxQueue {
    /// Offers the frames in `bufs` to the device, front first, and returns how many it took.
    /// Those are removed from `bufs`; the rest stay there, in order, owned by the caller.
    /// Never blocks.
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize;

    /// The pool to allocate frames to transmit from (zero-copy: the device reads them in place).
    fn pool(&self) -> &Pool;
}

/// One queue of a port: both halves, its counters and its identity.
pub trait Queue: RxQueue + TxQueue {
    /// The queue's index in its port.
    fn id(&self) -> u16;
    /// The queue's counters so far.
    fn stats(&self) -> QueueStats;
}

/// A port: a device with one or more queues.
pub trait Port {
    /// The queue type the port hands out.
    type Queue: Queue + Send;

    /// The port's name (an interface name, a DPDK port name, an RDMA device).
    fn name(&self) -> &str;
    /// The port's MAC address.
    fn mac(&self) -> MacAddr;
    /// What the device offloads.
    fn capabilities(&self) -> Capabilities;
    /// Opens queue `id`. Each queue can be open once at a time.
    fn open_queue(&mut self, id: u16) -> Result<Self::Queue, PortError>;
}
