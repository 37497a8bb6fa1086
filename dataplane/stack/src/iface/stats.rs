//! Counters of one [`Interface`](super::Interface): frames in and out per protocol, drops by
//! reason, ARP and ICMP activity. Plain numbers (one thread drives an interface), read with
//! [`Interface::stats`](super::Interface::stats) and published by the runtime.
//!
//! Malformed packets are counted by the [`WireError`]'s layer and kind
//! ([`InterfaceStats::wire_drops`]), so "IPv4 bad checksum" and "UDP truncated" are distinct
//! counters without a field for each; the stack's own reasons (not for us, fragment, no route,
//! ARP timeout, …) have named fields.

use crate::wire::{ErrorKind, Layer, WireError};

/// ICMP messages by type (RFC 792), one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpCounters {
    /// Echo reply (type 0).
    pub echo_reply: u64,
    /// Destination unreachable (type 3), every code.
    pub dst_unreachable: u64,
    /// Destination unreachable, code 2 (protocol unreachable).
    pub protocol_unreachable: u64,
    /// Destination unreachable, code 3 (port unreachable).
    pub port_unreachable: u64,
    /// Echo request (type 8).
    pub echo_request: u64,
    /// Time exceeded (type 11).
    pub time_exceeded: u64,
    /// Any other type.
    pub other: u64,
}

/// Every counter of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Frames received from the queue.
    pub rx_frames: u64,
    /// Frames the device took for transmission.
    pub tx_frames: u64,
    /// ARP packets received (for us or not).
    pub rx_arp: u64,
    /// IPv4 packets accepted for local delivery.
    pub rx_ipv4: u64,
    /// ICMP messages received (checksum verified).
    pub rx_icmp: u64,
    /// UDP datagrams received (checksum verified), delivered or not.
    pub rx_udp: u64,
    /// TCP segments handed to TCP.
    pub rx_tcp: u64,
    /// ARP frames queued for transmission.
    pub tx_arp: u64,
    /// ICMP messages queued for transmission.
    pub tx_icmp: u64,
    /// UDP datagrams queued for transmission (or held for ARP).
    pub tx_udp: u64,
    /// TCP segments queued for transmission (or held for ARP).
    pub tx_tcp: u64,
    /// Of `tx_tcp`, segments sent as the send buffer's own frame, the payload not copied
    /// (the zero-copy send; see `SegmentSink::send_plain_frame`).
    pub tx_tcp_zero_copy: u64,

    /// ARP requests received.
    pub arp_rx_requests: u64,
    /// ARP replies received.
    pub arp_rx_replies: u64,
    /// ARP requests sent (resolution and retries).
    pub arp_tx_requests: u64,
    /// ARP replies sent.
    pub arp_tx_replies: u64,
    /// Gratuitous ARP announcements sent (RFC 5227 §3), one per address at start.
    pub arp_tx_gratuitous: u64,
    /// ARP packets not about us: neither targeting our address nor updating a known entry.
    pub arp_ignored: u64,
    /// ARP packets with a bogus sender (multicast MAC, our own address, a broadcast address).
    pub arp_bad_sender: u64,
    /// Addresses given up after the last retry.
    pub arp_resolution_failed: u64,
    /// Frames dropped because their next hop never answered ARP.
    pub drop_arp_timeout: u64,
    /// Frames dropped because their address's pending queue was full (oldest dropped).
    pub drop_arp_pending_overflow: u64,
    /// Frames dropped because too many addresses were being resolved at once.
    pub drop_arp_pending_table_full: u64,

    /// ICMP messages received, by type.
    pub icmp_in: IcmpCounters,
    /// ICMP messages sent, by type.
    pub icmp_out: IcmpCounters,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_rate_limited: u64,
    /// Echo requests to a broadcast address, ignored (RFC 1122 §3.2.2.6 allows it).
    pub icmp_echo_broadcast_ignored: u64,
    /// Echo replies dropped because [`Interface::ping`](super::Interface::ping)'s reply queue
    /// was full (the oldest goes).
    pub drop_echo_reply_overflow: u64,

    /// UDP datagrams for a port with no socket (port unreachable sent unless broadcast).
    pub udp_no_port: u64,
    /// UDP datagrams dropped because their socket's queue was full.
    pub drop_udp_rx_queue_full: u64,

    /// Malformed packets dropped, by `[layer][kind]` of their [`WireError`].
    pub wire: [[u64; ErrorKind::COUNT]; Layer::COUNT],
    /// Frames to another MAC address (not ours, not broadcast).
    pub drop_not_our_mac: u64,
    /// Frames with an EtherType other than ARP and IPv4, or an 802.1Q tag.
    pub drop_unknown_ethertype: u64,
    /// IPv4 packets to an address that is not ours (we are a host: no forwarding).
    pub drop_not_our_ip: u64,
    /// IPv4 packets from a source a host must ignore (RFC 1122 §3.2.1.3: broadcast,
    /// multicast, loopback, or one of our own addresses).
    pub drop_bad_src: u64,
    /// IPv4 fragments (no reassembly).
    pub drop_fragment: u64,
    /// TCP segments to a broadcast address.
    pub drop_tcp_broadcast: u64,
    /// Packets to send with no route to their destination.
    pub drop_no_route: u64,
    /// Packets to send that found the pool empty.
    pub drop_no_buffer: u64,
    /// Packets to send that did not fit the MTU or the buffer (headroom, tailroom).
    pub drop_too_big: u64,
    /// Frames dropped from the front of the transmit queue because it was full.
    pub drop_tx_queue_overflow: u64,
}

impl Default for InterfaceStats {
    fn default() -> Self {
        InterfaceStats {
            rx_frames: 0,
            tx_frames: 0,
            rx_arp: 0,
            rx_ipv4: 0,
            rx_icmp: 0,
            rx_udp: 0,
            rx_tcp: 0,
            tx_arp: 0,
            tx_icmp: 0,
            tx_udp: 0,
            tx_tcp: 0,
            tx_tcp_zero_copy: 0,
            arp_rx_requests: 0,
            arp_rx_replies: 0,
            arp_tx_requests: 0,
            arp_tx_replies: 0,
            arp_tx_gratuitous: 0,
            arp_ignored: 0,
            arp_bad_sender: 0,
            arp_resolution_failed: 0,
            drop_arp_timeout: 0,
            drop_arp_pending_overflow: 0,
            drop_arp_pending_table_full: 0,
            icmp_in: IcmpCounters::default(),
            icmp_out: IcmpCounters::default(),
            icmp_rate_limited: 0,
            icmp_echo_broadcast_ignored: 0,
            drop_echo_reply_overflow: 0,
            udp_no_port: 0,
            drop_udp_rx_queue_full: 0,
            wire: [[0; ErrorKind::COUNT]; Layer::COUNT],
            drop_not_our_mac: 0,
            drop_unknown_ethertype: 0,
            drop_not_our_ip: 0,
            drop_bad_src: 0,
            drop_fragment: 0,
            drop_tcp_broadcast: 0,
            drop_no_route: 0,
            drop_no_buffer: 0,
            drop_too_big: 0,
            drop_tx_queue_overflow: 0,
        }
    }
}

impl InterfaceStats {
    /// Packets dropped as malformed at `layer` for `kind` (e.g. IPv4, bad checksum).
    pub fn wire_drops(&self, layer: Layer, kind: ErrorKind) -> u64 {
        self.wire[layer.index()][kind.index()]
    }

    /// Every malformed packet dropped, all layers and kinds.
    pub fn wire_drops_total(&self) -> u64 {
        self.wire.iter().flatten().sum()
    }

    /// Counts a malformed packet.
    pub(crate) fn count_wire(&mut self, err: &WireError) {
        self.wire[err.layer().index()][err.kind().index()] += 1;
    }
}

impl IcmpCounters {
    /// Counts a message of `msg_type` with `code`.
    pub(crate) fn count(&mut self, msg_type: u8, code: u8) {
        match msg_type {
            0 => self.echo_reply += 1,
            3 => {
                self.dst_unreachable += 1;
                match code {
                    2 => self.protocol_unreachable += 1,
                    3 => self.port_unreachable += 1,
                    _ => {}
                }
            }
            8 => self.echo_request += 1,
            11 => self.time_exceeded += 1,
            _ => self.other += 1,
        }
    }
}
