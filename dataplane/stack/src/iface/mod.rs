//! # The interface: one stack instance per queue, run to completion
//!
//! An [`Interface`] owns everything one thread needs to serve one queue of one port: our MAC
//! and IPv4 addresses, the ARP cache, UDP sockets, the TCP layer, counters and the frames
//! waiting for the device. [`Interface::poll`] is one turn of the loop, with the time passed
//! in (never read here):
//!
//! 1. on the first poll, a gratuitous ARP announcement for each address (RFC 5227 §3);
//! 2. `rx_burst` of up to 32 frames, each parsed in place and handled to completion (ARP and
//!    ICMP echo replies are written back into the received buffer; TCP segments go to
//!    [`Tcp::input`]; UDP datagrams wait in their socket's queue in the buffer they came in);
//! 3. [`Tcp::poll`], so TCP sends what is due;
//! 4. ARP retries and give-ups;
//! 5. `tx_burst` of everything queued. What the device does not take stays queued for the
//!    next poll, up to `tx_queue_len` frames (beyond that the oldest are dropped and counted).
//!
//! [`Interface::poll_at`] says when the next poll is needed (a TCP or ARP timer), so a
//! simulation can jump a virtual clock straight there.
//!
//! Files, top-down: `config` (what an interface is told), `ipv4` (input checks, routing,
//! output), `arp` (RFC 826 cache and pending frames), `icmp` (RFC 792), `udp` (RFC 768
//! sockets), `stats` (counters). This module uses `wire` for every header and `tcp` through
//! its [`SegmentSink`] contract only. Memory is bounded everywhere by the configuration; when
//! the pool is empty a packet is dropped and counted, never waited for.

mod arp;
mod config;
mod icmp;
mod ipv4;
mod stats;
mod udp;

use cyclone_pmd::{Capabilities, MacAddr, PacketBuf, Pool, Queue, Timestamp};

use crate::tcp::{SegmentSink, Tcp};
use crate::wire::{ChecksumCaps, EtherType, EthernetFrame, EthernetRepr, TcpRepr};

pub use config::{ConfigError, InterfaceConfig, Ipv4Cidr};
pub use icmp::{EchoReply, PingError};
pub use stats::{IcmpCounters, InterfaceStats};
pub use udp::{UdpError, UdpHandle, UdpIcmpError};

/// Most frames taken from the queue per poll.
pub const RX_BURST: usize = 32;

/// The smallest MTU an IPv4 link may have (RFC 791).
const MIN_MTU: u16 = 68;

/// What one [`Interface::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Frames received from the queue.
    pub received: usize,
    /// Frames the device took.
    pub transmitted: usize,
    /// Frames still waiting for the device.
    pub tx_pending: usize,
}

impl PollOutcome {
    /// Whether any frame moved.
    pub fn did_work(&self) -> bool {
        self.received > 0 || self.transmitted > 0
    }
}

/// One stack instance: serves one queue of one port. See the [module docs](self).
#[derive(Debug)]
pub struct Interface {
    tcp: Tcp,
    core: Core,
    /// Reused receive burst vector.
    rx: Vec<PacketBuf>,
}

/// Everything but TCP: what the [`SegmentSink`] handed to TCP needs, split off so that TCP
/// and the sink can be borrowed at once.
#[derive(Debug)]
struct Core {
    config: InterfaceConfig,
    mtu: u16,
    csum: ChecksumCaps,
    arp: arp::ArpCache,
    /// The link-layer path of the last TCP destination (see `ipv4::TxPath`).
    tx_path: Option<ipv4::TxPath>,
    /// Our addresses that are not also a broadcast address: the destinations the receive
    /// fast path takes (`ipv4::Core::fast_tcp_rx`). The configuration does not change after
    /// `Interface::new`.
    rx_unicast: Vec<std::net::Ipv4Addr>,
    /// The last source address that passed the RFC 1122 §3.2.1.3 source checks (a pure
    /// function of the address and the configuration, so it stays true).
    rx_src_ok: Option<std::net::Ipv4Addr>,
    /// Reused by `poll_arp`.
    arp_due: Vec<arp::Due>,
    udp: udp::UdpSockets,
    icmp_errors: icmp::TokenBucket,
    /// Echo replies received, oldest first, for [`Interface::take_echo_reply`]; bounded.
    echo_replies: std::collections::VecDeque<EchoReply>,
    /// Whether this interface ever sent an echo request: until then replies are not kept, so
    /// unsolicited ones cannot hold the pool's frames.
    echo_requested: bool,
    /// Finished frames waiting for the device, oldest first.
    tx: Vec<PacketBuf>,
    /// The queue's pool, learned at each poll: outgoing frames are allocated from it.
    pool: Option<Pool>,
    /// Received TCP frames whose handling is over, emptied and kept for the next frames this
    /// interface sends: a request-reply exchange or a stream of segments and ACKs frees one
    /// frame and takes one per segment, and handing them over directly saves the pool's
    /// thread cache a free and a take (its thread-local lookups) each time. At most
    /// [`RX_BURST`], all of `pool`.
    spare: Vec<PacketBuf>,
    stats: InterfaceStats,
    ident: u16,
    /// Time of the latest poll (for sends made between polls).
    now: Timestamp,
    started: bool,
}

impl Interface {
    /// An interface with `config`, on a port that can do `capabilities`. The TCP MSS is
    /// clamped to the MTU − 40.
    pub fn new(
        config: InterfaceConfig,
        capabilities: Capabilities,
        now: Timestamp,
    ) -> Result<Interface, ConfigError> {
        config.validate()?;
        if capabilities.mtu < MIN_MTU {
            return Err(ConfigError::MtuTooSmall(capabilities.mtu));
        }
        let mut tcp_config = config.tcp.clone();
        tcp_config.mss = tcp_config.mss.min(capabilities.mtu - 40);
        let mut core = Core {
            mtu: capabilities.mtu,
            csum: ChecksumCaps::from_capabilities(&capabilities),
            arp: arp::ArpCache::new(&config),
            tx_path: None,
            rx_unicast: Vec::new(),
            rx_src_ok: None,
            arp_due: Vec::new(),
            udp: udp::UdpSockets::new(&config),
            echo_replies: std::collections::VecDeque::new(),
            echo_requested: false,
            icmp_errors: icmp::TokenBucket::new(
                config.icmp_error_rate,
                config.icmp_error_burst,
                now,
            ),
            tx: Vec::new(),
            pool: None,
            spare: Vec::with_capacity(RX_BURST),
            stats: InterfaceStats::default(),
            ident: 0,
            now,
            started: false,
            config,
        };
        core.rx_unicast = core
            .config
            .addresses
            .iter()
            .map(|c| c.addr)
            .filter(|&a| !core.is_broadcast(a))
            .collect();
        Ok(Interface {
            tcp: Tcp::new(tcp_config, now),
            core,
            rx: Vec::with_capacity(RX_BURST),
        })
    }

    /// One turn of the run-to-completion loop on `queue` at time `now` (see the
    /// [module docs](self)).
    pub fn poll<Q: Queue>(&mut self, now: Timestamp, queue: &mut Q) -> PollOutcome {
        let Interface { tcp, core, rx } = self;
        core.now = core.now.max(now);
        core.learn_pool(tcp, queue);
        if !core.started {
            core.started = true;
            core.send_gratuitous_arp();
        }
        rx.clear();
        let received = queue.rx_burst(rx, RX_BURST);
        if rx.len() == 1 {
            // A burst of one (the usual case when lightly loaded): no drain to set up.
            if let Some(buf) = rx.pop() {
                core.stats.rx_frames += 1;
                core.process_frame(now, tcp, buf);
            }
        } else if !rx.is_empty() {
            for buf in rx.drain(..) {
                core.stats.rx_frames += 1;
                core.process_frame(now, tcp, buf);
            }
        }
        Interface::finish(tcp, core, now, queue, received)
    }

    /// The steps of [`Interface::poll`] after the receive burst alone: [`Tcp::poll`], ARP
    /// timers, `tx_burst` of everything queued. For a second step in the same turn, after the
    /// application queued data (a response) on TCP: it leaves at once without another
    /// receive burst (frames that arrived meanwhile wait for the next poll, a moment later),
    /// so a turn pays for one `rx_burst`, not two. Before the first poll it is that poll.
    pub fn transmit<Q: Queue>(&mut self, now: Timestamp, queue: &mut Q) -> PollOutcome {
        if !self.core.started {
            return self.poll(now, queue);
        }
        let Interface { tcp, core, .. } = self;
        core.now = core.now.max(now);
        core.learn_pool(tcp, queue);
        Interface::finish(tcp, core, now, queue, 0)
    }

    /// The end of a poll: TCP sends what is due, ARP timers, the device takes the frames.
    #[inline(always)]
    fn finish<Q: Queue>(
        tcp: &mut Tcp,
        core: &mut Core,
        now: Timestamp,
        queue: &mut Q,
        received: usize,
    ) -> PollOutcome {
        tcp.poll(now, &mut InterfaceSink { core, now });
        core.poll_arp(now);
        let transmitted = core.flush(queue);
        PollOutcome {
            received,
            transmitted,
            tx_pending: core.tx.len(),
        }
    }

    /// When the next poll is needed even if no frame arrives: the earliest TCP or ARP timer;
    /// [`Timestamp::ZERO`] (at once) before the first poll or while frames wait for the
    /// device; `None` if nothing is scheduled.
    pub fn poll_at(&self) -> Option<Timestamp> {
        if !self.core.started || !self.core.tx.is_empty() {
            return Some(Timestamp::ZERO);
        }
        match (self.tcp.poll_at(), self.core.arp.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The TCP layer.
    pub fn tcp(&self) -> &Tcp {
        &self.tcp
    }

    /// The TCP layer, for its socket API.
    pub fn tcp_mut(&mut self) -> &mut Tcp {
        &mut self.tcp
    }

    /// The TCP layer and a sink for it to send through, at once (for TCP calls that send).
    pub fn tcp_and_sink(&mut self, now: Timestamp) -> (&mut Tcp, InterfaceSink<'_>) {
        let now = now.max(self.core.now);
        (
            &mut self.tcp,
            InterfaceSink {
                core: &mut self.core,
                now,
            },
        )
    }

    /// A [`SegmentSink`] that sends through this interface (frames leave at the next poll).
    pub fn sink(&mut self, now: Timestamp) -> InterfaceSink<'_> {
        self.tcp_and_sink(now).1
    }

    /// The counters.
    pub fn stats(&self) -> &InterfaceStats {
        &self.core.stats
    }

    /// The configuration.
    pub fn config(&self) -> &InterfaceConfig {
        &self.core.config
    }

    /// The MAC address `ip` resolves to, if the ARP cache has a live entry.
    pub fn arp_lookup(&mut self, ip: std::net::Ipv4Addr, now: Timestamp) -> Option<MacAddr> {
        self.core.arp.lookup(ip, now)
    }

    /// Frames waiting for the device.
    pub fn tx_queued(&self) -> usize {
        self.core.tx.len()
    }
}

/// Sends TCP segments through an [`Interface`]: adds IPv4 and Ethernet headers, resolves the
/// next hop with ARP and queues the frame. Get one from [`Interface::sink`] or
/// [`Interface::tcp_and_sink`]; [`Interface::poll`] uses its own.
#[derive(Debug)]
pub struct InterfaceSink<'a> {
    core: &'a mut Core,
    now: Timestamp,
}

impl SegmentSink for InterfaceSink<'_> {
    /// `false` when there is no route, no buffer, the segment exceeds the MTU, or ARP has no
    /// room for it; a segment held for ARP counts as queued.
    fn send_segment(
        &mut self,
        src: std::net::SocketAddrV4,
        dst: std::net::SocketAddrV4,
        repr: &TcpRepr,
        payload: crate::tcp::Payload<'_>,
    ) -> bool {
        self.core
            .send_tcp(self.now, src, dst, repr, payload)
            .is_ok()
    }

    /// The frame of `send_segment(src, dst, &seg.to_repr(), payload)`, from the header
    /// template of the last TCP path when it still holds (see `ipv4::TxPath`).
    fn send_plain(
        &mut self,
        src: std::net::SocketAddrV4,
        dst: std::net::SocketAddrV4,
        seg: &crate::tcp::PlainSegment,
        payload: crate::tcp::Payload<'_>,
    ) -> bool {
        self.core
            .send_tcp_plain(self.now, src, dst, seg, payload)
            .is_ok()
    }

    /// The frame itself when the template holds and the frame has the headroom (the
    /// zero-copy send, see `ipv4::Core::send_tcp_plain_frame`); else a copy, as `send_plain`.
    fn send_plain_frame(
        &mut self,
        src: std::net::SocketAddrV4,
        dst: std::net::SocketAddrV4,
        seg: &crate::tcp::PlainSegment,
        frame: &mut PacketBuf,
        len: usize,
    ) -> bool {
        self.core
            .send_tcp_plain_frame(self.now, src, dst, seg, frame, len)
            .is_ok()
    }
}

impl Core {
    /// Demultiplexes one received frame by EtherType after the link-layer filter.
    fn process_frame(&mut self, now: Timestamp, tcp: &mut Tcp, mut buf: PacketBuf) {
        if let Some(rx) = self.fast_tcp_rx(&buf) {
            // What `process_ipv4` does for this packet once its checks pass.
            self.stats.rx_ipv4 += 1;
            buf.truncate(EthernetRepr::HEADER_LEN + rx.total_len);
            self.process_tcp(now, tcp, buf, rx);
            return;
        }
        let (dst, src, ethertype, tagged) = match EthernetFrame::new_checked(buf.data()) {
            Ok(f) => (f.dst(), f.src(), f.ethertype(), f.vlan().is_some()),
            Err(err) => {
                self.stats.count_wire(&err);
                return;
            }
        };
        let l2_broadcast = dst == MacAddr::BROADCAST;
        if dst != self.config.mac && !l2_broadcast {
            self.stats.drop_not_our_mac += 1;
            return;
        }
        if tagged {
            self.stats.drop_unknown_ethertype += 1;
            return;
        }
        match ethertype {
            EtherType::ARP => self.process_arp(now, buf),
            EtherType::IPV4 => self.process_ipv4(now, tcp, buf, src, l2_broadcast),
            _ => self.stats.drop_unknown_ethertype += 1,
        }
    }

    /// Outgoing frames come from the queue's pool: take it (again) if it is not the one held,
    /// and lend it to TCP.
    #[inline(always)]
    fn learn_pool<Q: Queue>(&mut self, tcp: &mut Tcp, queue: &Q) {
        if self.pool.as_ref().map(Pool::id) != Some(queue.pool().id()) {
            self.pool = Some(queue.pool().clone());
            self.spare.clear();
            // TCP's send buffers write into the frames the device sends.
            tcp.use_pool(queue.pool().clone());
        }
    }

    /// Offers the queued frames to the device; returns how many it took.
    fn flush<Q: Queue>(&mut self, queue: &mut Q) -> usize {
        if self.tx.is_empty() {
            return 0;
        }
        let taken = queue.tx_burst(&mut self.tx);
        self.stats.tx_frames += taken as u64;
        taken
    }
}
