//! The peer: the same TCP bulk transfer between two smoltcp 0.14 interfaces, for a ratio
//! measured in the same run as Cyclone's.
//!
//! The device is a pair of in-memory frame queues in the manner of smoltcp's `phy::Loopback`
//! ([`SmolWire`]): transmit writes the frame straight into a wire buffer, receive hands that
//! buffer to the stack, and emptied buffers are recycled (no allocation in steady state). It
//! never reorders or drops. Capabilities: Ethernet, MTU 1500 (1514-byte frames), checksums
//! computed and verified in software for every protocol (smoltcp's default), as Cyclone does
//! on a memory port.
//!
//! Socket settings follow Cyclone's defaults where smoltcp has the feature: 256 KiB send and
//! receive buffers (window scaling follows from the size), timestamps on, Nagle off, 40 ms
//! delayed ACK, CUBIC congestion control. SACK: smoltcp only receives it; without loss it
//! never matters.
//!
//! The devices match: Cyclone's [`MemoryLink`](cyclone_pmd::memory::MemoryLink) runs in its
//! zero-copy mode (both ports share one pool and the wire moves the transmitted buffer to the
//! receiver), and this device hands the transmitted `Vec` to the receiver: neither copies a
//! frame. Each stack copies the payload into the frame at transmit and out of it at receive.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use super::{Clocking, LabClock, LoopStats, ADDRS, BULK_PORT, MTU, POOL_FRAMES, SOCKET_BUFFER};
use cyclone_pmd::Timestamp;

/// Bytes offered per `send_slice` and read per `recv_slice`.
const CHUNK: usize = 64 * 1024;
/// Ethernet header length: smoltcp's MTU for an Ethernet device counts it.
const ETH_HEADER_LEN: usize = 14;
/// The client's local port.
const CLIENT_PORT: u16 = 49152;
/// Loop iterations without progress after which a run is declared stuck.
const STUCK_AFTER: u64 = 50_000_000;

/// Two frame queues (`queues[s]` carries frames from side `s` to side `1 - s`) and a shared
/// free list of frame buffers.
#[derive(Debug, Default)]
pub struct SmolWire {
    queues: [VecDeque<Vec<u8>>; 2],
    /// Frames sent from each side so far.
    sent: [u64; 2],
    spare: RefCell<Vec<Vec<u8>>>,
}

impl SmolWire {
    /// The device of side `side` (0 or 1), borrowing the wire for one poll.
    pub fn port(&mut self, side: usize) -> SmolPort<'_> {
        let [q0, q1] = &mut self.queues;
        let (tx, rx) = if side == 0 { (q0, q1) } else { (q1, q0) };
        SmolPort {
            tx,
            rx,
            spare: &self.spare,
            sent: &mut self.sent[side],
        }
    }

    /// Frames sent so far from side 0 and from side 1.
    pub fn frames_sent(&self) -> [u64; 2] {
        self.sent
    }

    /// Frames on the wire, both directions.
    pub fn in_flight(&self) -> usize {
        self.queues[0].len() + self.queues[1].len()
    }
}

/// One side's view of a [`SmolWire`]: a smoltcp [`Device`].
#[derive(Debug)]
pub struct SmolPort<'w> {
    tx: &'w mut VecDeque<Vec<u8>>,
    rx: &'w mut VecDeque<Vec<u8>>,
    spare: &'w RefCell<Vec<Vec<u8>>>,
    sent: &'w mut u64,
}

/// A received frame; its buffer goes back to the free list once read.
#[derive(Debug)]
pub struct SmolRx<'a> {
    frame: Vec<u8>,
    spare: &'a RefCell<Vec<Vec<u8>>>,
}

/// Room for one frame on the wire.
#[derive(Debug)]
pub struct SmolTx<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    spare: &'a RefCell<Vec<Vec<u8>>>,
    sent: &'a mut u64,
}

impl phy::RxToken for SmolRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.frame);
        self.spare.borrow_mut().push(self.frame);
        result
    }
}

impl phy::TxToken for SmolTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.borrow_mut().pop().unwrap_or_default();
        // A recycled buffer keeps its bytes: only growth is zero-filled (smoltcp overwrites
        // all `len` bytes anyway).
        frame.resize(len, 0);
        let result = f(&mut frame);
        self.queue.push_back(frame);
        *self.sent += 1;
        result
    }
}

impl Device for SmolPort<'_> {
    type RxToken<'a>
        = SmolRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = SmolTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: SmolInstant) -> Option<(SmolRx<'_>, SmolTx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            SmolRx {
                frame,
                spare: self.spare,
            },
            SmolTx {
                queue: self.tx,
                spare: self.spare,
                sent: self.sent,
            },
        ))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<SmolTx<'_>> {
        // The same bound as the memory link's `max_in_flight`.
        (self.tx.len() < POOL_FRAMES as usize).then_some(SmolTx {
            queue: self.tx,
            spare: self.spare,
            sent: self.sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = usize::from(MTU) + ETH_HEADER_LEN;
        // `caps.checksum` stays at its default: compute and verify everything in software.
        caps
    }
}

/// The TCP timestamp clock of the smoltcp sockets: any increasing value will do (RFC 7323
/// only needs TSval to be monotonic); a counter keeps runs deterministic.
fn tsval() -> u32 {
    static TICKS: AtomicU32 = AtomicU32::new(1);
    TICKS.fetch_add(1, Ordering::Relaxed)
}

fn smol_now(t: Timestamp) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}

fn timestamp(t: SmolInstant) -> Timestamp {
    Timestamp::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// One smoltcp host: interface, its socket set and its one TCP socket.
struct SmolHost {
    iface: Interface,
    sockets: SocketSet<'static>,
    socket: SocketHandle,
}

impl std::fmt::Debug for SmolHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // smoltcp's `Interface` has no `Debug`.
        f.debug_struct("SmolHost")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl SmolHost {
    fn new(wire: &mut SmolWire, side: usize, now: SmolInstant) -> SmolHost {
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, side as u8 + 1]);
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = 0x5eed + side as u64;
        let mut iface = Interface::new(config, &mut wire.port(side), now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(ADDRS[side]), 24))
                .unwrap_or_else(|_| panic!("smoltcp peer: no room for an address"));
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        );
        socket.set_nagle_enabled(false);
        socket.set_ack_delay(Some(SmolDuration::from_millis(40)));
        socket.set_tsval_generator(Some(tsval));
        socket.set_congestion_control(tcp::CongestionControl::Cubic);
        let mut sockets = SocketSet::new(Vec::new());
        let socket = sockets.add(socket);
        SmolHost {
            iface,
            sockets,
            socket,
        }
    }

    fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.socket)
    }

    fn poll(&mut self, now: SmolInstant, wire: &mut SmolWire, side: usize) {
        self.iface
            .poll(now, &mut wire.port(side), &mut self.sockets);
    }

    fn poll_at(&mut self, now: SmolInstant) -> Option<Timestamp> {
        self.iface.poll_at(now, &self.sockets).map(timestamp)
    }
}

/// TCP bulk on smoltcp: one established connection, reused by every
/// [`SmolBulk::transfer`].
#[derive(Debug)]
pub struct SmolBulk {
    clock: LabClock,
    wire: SmolWire,
    /// Client (index 0, side 0) and server (index 1, side 1).
    hosts: [SmolHost; 2],
    source: Vec<u8>,
    sink: Vec<u8>,
    /// Loop counters, over every transfer so far.
    pub stats: LoopStats,
}

impl SmolBulk {
    /// Builds both interfaces and opens the connection (client → server port
    /// [`BULK_PORT`]).
    pub fn new(mode: Clocking) -> SmolBulk {
        let clock = LabClock::new(mode);
        let mut wire = SmolWire::default();
        let now = smol_now(clock.now());
        let mut hosts = [
            SmolHost::new(&mut wire, 0, now),
            SmolHost::new(&mut wire, 1, now),
        ];
        hosts[1]
            .tcp()
            .listen(BULK_PORT)
            .unwrap_or_else(|e| panic!("smoltcp peer: listen on {BULK_PORT}: {e:?}"));
        let [client, _] = &mut hosts;
        let remote = (IpAddress::Ipv4(ADDRS[1]), BULK_PORT);
        let socket = client.sockets.get_mut::<tcp::Socket>(client.socket);
        socket
            .connect(client.iface.context(), remote, CLIENT_PORT)
            .unwrap_or_else(|e| panic!("smoltcp peer: connect: {e:?}"));
        let mut bulk = SmolBulk {
            clock,
            wire,
            hosts,
            source: vec![0x5a; CHUNK],
            sink: vec![0; CHUNK],
            stats: LoopStats::default(),
        };
        while !(bulk.hosts[0].tcp().may_send() && bulk.hosts[1].tcp().may_recv()) {
            let now = smol_now(bulk.clock.tick());
            bulk.stats.iterations += 1;
            bulk.poll_both(now);
            if bulk.wire.in_flight() == 0 {
                let next = bulk.next_event(now);
                bulk.clock.idle(next, &mut bulk.stats);
            }
            if bulk.stats.iterations > STUCK_AFTER {
                panic!(
                    "smoltcp peer: no connection after {STUCK_AFTER} iterations: client {}, server {}",
                    bulk.hosts[0].tcp().state(),
                    bulk.hosts[1].tcp().state()
                );
            }
        }
        bulk
    }

    /// Frames sent so far by the client and by the server.
    pub fn frames_sent(&self) -> [u64; 2] {
        self.wire.frames_sent()
    }

    fn poll_both(&mut self, now: SmolInstant) {
        for (side, host) in self.hosts.iter_mut().enumerate() {
            host.poll(now, &mut self.wire, side);
        }
    }

    fn next_event(&mut self, now: SmolInstant) -> Option<Timestamp> {
        let [a, b] = &mut self.hosts;
        [a.poll_at(now), b.poll_at(now)].into_iter().flatten().min()
    }

    /// Sends `bytes` from client to server; the server reads and discards them. Returns the
    /// wall time from the first send to the last byte read.
    #[inline(never)]
    pub fn transfer(&mut self, bytes: u64) -> Duration {
        let start = Instant::now();
        let (mut sent, mut received) = (0u64, 0u64);
        let mut quiet = 0u64;
        while received < bytes {
            let now = smol_now(self.clock.tick());
            self.stats.iterations += 1;
            let mut progress = false;
            if sent < bytes {
                let want = (bytes - sent).min(CHUNK as u64) as usize;
                let n = self.hosts[0]
                    .tcp()
                    .send_slice(&self.source[..want])
                    .unwrap_or_else(|e| panic!("smoltcp peer: bulk send failed: {e:?}"));
                sent += n as u64;
                progress |= n > 0;
            }
            self.poll_both(now);
            progress |= self.wire.in_flight() > 0;
            let [_, server] = &mut self.hosts;
            let socket = server.sockets.get_mut::<tcp::Socket>(server.socket);
            while socket.can_recv() {
                let n = socket
                    .recv_slice(&mut self.sink)
                    .unwrap_or_else(|e| panic!("smoltcp peer: bulk recv failed: {e:?}"));
                if n == 0 {
                    break;
                }
                received += n as u64;
                progress = true;
            }
            if progress {
                quiet = 0;
            } else {
                quiet += 1;
                let next = self.next_event(now);
                self.clock.idle(next, &mut self.stats);
                if quiet > STUCK_AFTER {
                    panic!(
                        "smoltcp peer: bulk transfer stuck ({:?}): sent {sent}, received {received} of {bytes}",
                        self.stats
                    );
                }
            }
        }
        start.elapsed()
    }
}

/// One smoltcp TCP bulk transfer of `bytes` on fresh interfaces and connection, in wall time.
/// Returns the transfer's duration (setup excluded) and the bytes moved.
pub fn smoltcp_bulk(bytes: u64) -> (Duration, u64) {
    let mut bulk = SmolBulk::new(Clocking::Wall);
    (bulk.transfer(bytes), bytes)
}

/// The addresses, for the report.
pub fn addrs() -> [Ipv4Addr; 2] {
    ADDRS
}
