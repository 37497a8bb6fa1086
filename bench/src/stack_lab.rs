//! A lean two-host lab for the stack benchmarks: two Cyclone [`Interface`]s on a
//! [`MemoryLink`] in zero-copy mode (one 8192-frame pool shared by both ports, the wire moves
//! the buffers; MTU 1500, no latency, unlimited bandwidth, 4096 frames in flight per
//! direction), driven in one thread, with nothing in between (no fault injector, no capture:
//! unlike `cyclone::lab`, a benchmark must not pay for those). The smoltcp peer lives in
//! [`smoltcp_peer`].
//!
//! What lives here:
//! - [`Clocking`] and [`LabClock`]: how time moves (see below).
//! - [`CyclonePair`]: the link and the two hosts.
//! - [`CycloneBulk`] / [`tcp_bulk`]: one connection, the client sends N bytes, the server
//!   reads and discards them.
//! - [`HttpKeepAlive`] / [`http_keepalive`]: a client keeping `conns` keep-alive connections
//!   busy with `GET /health` (one outstanding request per connection) against
//!   [`HttpService`] answering `200 ok`.
//!
//! ## Time
//! The link and both stacks read one [`VirtualClock`]; the driver moves it once per loop
//! iteration, so both hosts see the same `now` within an iteration:
//! - [`Clocking::Wall`] (criterion): the virtual clock is set to a [`MonotonicClock`]'s reading
//!   at the top of every iteration, i.e. it is advanced by the measured wall time. Timers
//!   (RTO, delayed ACK, HTTP timeouts) run in real time; a stall on a timer shows up as lost
//!   wall time, and is counted in [`LoopStats::idle_iterations`].
//! - [`Clocking::Stepped`] (callgrind): the clock advances by a fixed step per iteration and,
//!   when nothing is left to do, jumps to the next frame arrival or timer (counted in
//!   [`LoopStats::clock_jumps`]). The instruction count of a run is then independent of how
//!   fast the machine (or valgrind) runs: repeatable.
//!
//! ## Where the work is
//! Server-side work of the HTTP run is in `server_side`, client-side work in
//! `client_side`; both are `#[inline(never)]` so that
//! `valgrind --tool=callgrind --toggle-collect='*server_side*'` counts one side only.
//! [`CycloneBulk::transfer`] and [`smoltcp_peer::SmolBulk::transfer`] hold the whole bulk
//! transfer (both hosts), for `--toggle-collect='*transfer*'`.

pub mod smoltcp_peer;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclone::app::http::HttpService;
use cyclone_http::{Router, Server, ServerConfig};
use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryQueue};
use cyclone_pmd::{Clock, MonotonicClock, PoolConfig, Port, Timestamp, VirtualClock};
use cyclone_stack::iface::{Interface, InterfaceConfig, Ipv4Cidr};
use cyclone_stack::tcp::{ConnHandle, TcpConfig, TcpEvent};

/// The hosts' addresses: client, server (RFC 2544 benchmarking range).
pub const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2)];
/// The link's L3 MTU (both stacks).
pub const MTU: u16 = 1500;
/// Send and receive buffer per connection, bytes (both stacks; Cyclone's default).
pub const SOCKET_BUFFER: usize = 256 * 1024;
/// Frames the link holds per direction (the shared pool has twice as many).
pub const POOL_FRAMES: u32 = 4096;
/// The bulk receiver's port.
pub const BULK_PORT: u16 = 5001;
/// The HTTP server's port.
pub const HTTP_PORT: u16 = 80;
/// The request the HTTP client sends (one `Host` header, as in `cyclone-http`'s own
/// instruction count).
pub const REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n";
/// Bytes the bulk sender offers per `send` call, and the receiver reads per `recv`.
const CHUNK: usize = 64 * 1024;
/// Loop iterations without any progress after which a run is declared stuck.
const STUCK_AFTER: u64 = 50_000_000;

/// How time moves in a lab; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clocking {
    /// The virtual clock follows the monotonic clock (wall time).
    Wall,
    /// A fixed step per loop iteration, with jumps over idle time (deterministic).
    Stepped(Duration),
}

impl Clocking {
    /// The step used by the instruction-count runs: 1 µs of virtual time per iteration.
    pub const DETERMINISTIC: Clocking = Clocking::Stepped(Duration::from_micros(1));
}

/// Counters of a lab's driving loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Loop iterations.
    pub iterations: u64,
    /// Iterations in which no frame moved and no byte was sent or read.
    pub idle_iterations: u64,
    /// Times a stepped clock jumped over idle time to the next event.
    pub clock_jumps: u64,
    /// Virtual time skipped by those jumps.
    pub jumped: Duration,
}

/// The one clock of a lab: a [`VirtualClock`] moved by the driver.
#[derive(Debug, Clone)]
pub struct LabClock {
    clock: VirtualClock,
    wall: MonotonicClock,
    mode: Clocking,
}

impl LabClock {
    /// A clock at zero.
    pub fn new(mode: Clocking) -> LabClock {
        LabClock {
            clock: VirtualClock::new(),
            wall: MonotonicClock::new(),
            mode,
        }
    }

    /// The shared virtual clock (what the link reads).
    pub fn virtual_clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// Now, without moving.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock for a new loop iteration and returns the new now.
    pub fn tick(&self) -> Timestamp {
        match self.mode {
            Clocking::Wall => self.clock.advance_to(self.wall.now()),
            Clocking::Stepped(step) => self.clock.advance(step),
        }
        self.clock.now()
    }

    /// After an idle iteration: a stepped clock jumps to `next` (the earliest pending event)
    /// if that is later than now; a wall clock does nothing (real time has to pass).
    pub fn idle(&self, next: Option<Timestamp>, stats: &mut LoopStats) {
        stats.idle_iterations += 1;
        if let (Clocking::Stepped(_), Some(t)) = (self.mode, next) {
            let now = self.clock.now();
            if t > now {
                stats.clock_jumps += 1;
                stats.jumped += t.saturating_duration_since(now);
                self.clock.advance_to(t);
            }
        }
    }
}

/// One host: a stack instance and its queue.
#[derive(Debug)]
pub struct Host {
    /// The stack instance.
    pub iface: Interface,
    /// Its queue (queue 0 of its port).
    pub queue: MemoryQueue,
    /// Its address.
    pub addr: Ipv4Addr,
}

impl Host {
    /// When this host needs a poll: a frame has arrived for it, or a stack timer is due (or
    /// TCP has something to send).
    pub fn due(&self, now: Timestamp) -> bool {
        self.queue.next_arrival().is_some_and(|t| t <= now)
            || self.iface.poll_at().is_some_and(|t| t <= now)
    }

    /// The next moment this host needs a poll, if any.
    pub fn next_event(&self) -> Option<Timestamp> {
        [self.queue.next_arrival(), self.iface.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Two Cyclone hosts on a memory link: `hosts[0]` is the client, `hosts[1]` the server.
#[derive(Debug)]
pub struct CyclonePair {
    /// The lab's clock.
    pub clock: LabClock,
    /// Client and server.
    pub hosts: [Host; 2],
    link: MemoryLink,
}

impl CyclonePair {
    /// Builds the link and both interfaces (default stack settings, MSS from the MTU).
    pub fn new(mode: Clocking) -> CyclonePair {
        CyclonePair::with_ack_per_burst(mode, false)
    }

    /// [`CyclonePair::new`], with [`TcpConfig::ack_per_burst`] set as given on both hosts.
    pub fn with_ack_per_burst(mode: Clocking, ack_per_burst: bool) -> CyclonePair {
        let clock = LabClock::new(mode);
        // One pool for both ports, as large as the two a copying link would have: the wire
        // moves buffers instead of copying frames (the smoltcp device copies none either).
        let pool = PoolConfig {
            frames: 2 * POOL_FRAMES,
            ..PoolConfig::default()
        };
        let config = MemoryLinkConfig {
            pools: [pool, pool],
            shared_pool: true,
            mtu: MTU,
            latency: Duration::ZERO,
            bandwidth_bps: 0,
            max_in_flight: POOL_FRAMES as usize,
            ..MemoryLinkConfig::default()
        };
        let (mut p0, mut p1) = MemoryLink::pair(config, Arc::new(clock.virtual_clock().clone()))
            .unwrap_or_else(|e| panic!("stack lab: cannot build the memory link: {e}"));
        let link = p0.link();
        let host = |port: &mut cyclone_pmd::memory::MemoryPort, i: usize| {
            let queue = port
                .open_queue(0)
                .unwrap_or_else(|e| panic!("stack lab: cannot open queue 0 of port {i}: {e}"));
            let mut config = InterfaceConfig::new(port.mac(), Ipv4Cidr::new(ADDRS[i], 24));
            config.tcp = TcpConfig {
                send_buffer: SOCKET_BUFFER,
                recv_buffer: SOCKET_BUFFER,
                ack_per_burst,
                ..TcpConfig::default()
            };
            let iface = Interface::new(config, port.capabilities(), clock.now())
                .unwrap_or_else(|e| panic!("stack lab: interface {i} refused its config: {e}"));
            Host {
                iface,
                queue,
                addr: ADDRS[i],
            }
        };
        let hosts = [host(&mut p0, 0), host(&mut p1, 1)];
        CyclonePair { clock, hosts, link }
    }

    /// The earliest pending event of the link or either stack.
    pub fn next_event(&self) -> Option<Timestamp> {
        [
            self.link.next_arrival(),
            self.hosts[0].iface.poll_at(),
            self.hosts[1].iface.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Polls both hosts at `now`; whether any frame moved.
    pub fn poll_both(&mut self, now: Timestamp) -> bool {
        let mut moved = false;
        for h in &mut self.hosts {
            moved |= h.iface.poll(now, &mut h.queue).did_work();
        }
        moved
    }
}

fn drain_events(host: &mut Host, events: &mut Vec<TcpEvent>) {
    host.iface.tcp_mut().take_events(events);
    events.clear();
}

fn stuck(what: &str, stats: &LoopStats, detail: String) -> ! {
    panic!("stack lab: {what} made no progress for {STUCK_AFTER} iterations ({stats:?}); {detail}")
}

/// TCP bulk on Cyclone: one established connection, reused by every [`CycloneBulk::transfer`].
#[derive(Debug)]
pub struct CycloneBulk {
    pair: CyclonePair,
    client: ConnHandle,
    server: ConnHandle,
    source: Vec<u8>,
    sink: Vec<u8>,
    events: Vec<TcpEvent>,
    /// Loop counters, over every transfer so far.
    pub stats: LoopStats,
}

impl CycloneBulk {
    /// Builds the lab and opens the connection (client → server port [`BULK_PORT`]).
    pub fn new(mode: Clocking) -> CycloneBulk {
        CycloneBulk::with_ack_per_burst(mode, false)
    }

    /// [`CycloneBulk::new`] with [`TcpConfig::ack_per_burst`] as given (one ACK per receive
    /// burst, as smoltcp acknowledges once per poll).
    pub fn with_ack_per_burst(mode: Clocking, ack_per_burst: bool) -> CycloneBulk {
        let mut pair = CyclonePair::with_ack_per_burst(mode, ack_per_burst);
        let now = pair.clock.now();
        let [client, server] = &mut pair.hosts;
        let listener = server
            .iface
            .tcp_mut()
            .listen(SocketAddrV4::new(server.addr, BULK_PORT), 1)
            .unwrap_or_else(|e| panic!("stack lab: listen on {BULK_PORT}: {e}"));
        let conn = client
            .iface
            .tcp_mut()
            .connect(
                now,
                SocketAddrV4::new(client.addr, 0),
                SocketAddrV4::new(server.addr, BULK_PORT),
            )
            .unwrap_or_else(|e| panic!("stack lab: connect: {e}"));
        let mut events = Vec::new();
        let mut stats = LoopStats::default();
        let accepted = loop {
            let now = pair.clock.tick();
            stats.iterations += 1;
            let moved = pair.poll_both(now);
            if let Some(c) = pair.hosts[1].iface.tcp_mut().accept(listener) {
                break c;
            }
            drain_events(&mut pair.hosts[0], &mut events);
            drain_events(&mut pair.hosts[1], &mut events);
            if !moved {
                pair.clock.idle(pair.next_event(), &mut stats);
            }
            if stats.iterations > STUCK_AFTER {
                stuck("the bulk handshake", &stats, String::new());
            }
        };
        CycloneBulk {
            pair,
            client: conn,
            server: accepted,
            source: vec![0x5a; CHUNK],
            sink: vec![0; CHUNK],
            events,
            stats,
        }
    }

    /// Sends `bytes` from client to server; the server reads and discards them. Returns the
    /// wall time from the first `send` to the last byte read.
    #[inline(never)]
    pub fn transfer(&mut self, bytes: u64) -> Duration {
        let start = Instant::now();
        let (mut sent, mut received) = (0u64, 0u64);
        let mut quiet = 0u64;
        while received < bytes {
            let now = self.pair.clock.tick();
            self.stats.iterations += 1;
            let [client, server] = &mut self.pair.hosts;
            let mut progress = false;
            if sent < bytes {
                let want = (bytes - sent).min(CHUNK as u64) as usize;
                let n = client
                    .iface
                    .tcp_mut()
                    .send(self.client, &self.source[..want])
                    .unwrap_or_else(|e| panic!("stack lab: bulk send failed: {e}"));
                sent += n as u64;
                progress |= n > 0;
            }
            progress |= client.iface.poll(now, &mut client.queue).did_work();
            progress |= server.iface.poll(now, &mut server.queue).did_work();
            loop {
                let n = server
                    .iface
                    .tcp_mut()
                    .recv(self.server, &mut self.sink)
                    .unwrap_or_else(|e| panic!("stack lab: bulk recv failed: {e}"));
                if n == 0 {
                    break;
                }
                received += n as u64;
                progress = true;
            }
            drain_events(client, &mut self.events);
            drain_events(server, &mut self.events);
            if progress {
                quiet = 0;
            } else {
                quiet += 1;
                self.pair
                    .clock
                    .idle(self.pair.next_event(), &mut self.stats);
                if quiet > STUCK_AFTER {
                    stuck(
                        "the Cyclone bulk transfer",
                        &self.stats,
                        format!("sent {sent}, received {received} of {bytes}"),
                    );
                }
            }
        }
        start.elapsed()
    }
}

impl CycloneBulk {
    /// Frames received and sent so far by the client and by the server: `[(rx, tx); 2]`.
    pub fn frames(&self) -> [(u64, u64); 2] {
        self.pair.hosts.each_ref().map(|h| {
            let s = h.iface.stats();
            (s.rx_frames, s.tx_frames)
        })
    }
}

/// One Cyclone TCP bulk transfer of `bytes` on a fresh lab and connection, in wall time.
/// Returns the transfer's duration (setup excluded) and the bytes moved.
pub fn tcp_bulk(bytes: u64) -> (Duration, u64) {
    let mut bulk = CycloneBulk::new(Clocking::Wall);
    (bulk.transfer(bytes), bytes)
}

/// A client connection of the HTTP run: reads responses framed by `Content-Length`.
#[derive(Debug)]
struct ClientConn {
    handle: ConnHandle,
    inbox: Vec<u8>,
    /// Requests still to send on this connection, counting the one outstanding.
    remaining: u64,
}

impl ClientConn {
    /// Splits complete responses off the inbox; returns how many.
    fn complete_responses(&mut self) -> u64 {
        let mut done = 0;
        let mut start = 0;
        while let Some(len) = response_len(&self.inbox[start..]) {
            start += len;
            done += 1;
        }
        self.inbox.drain(..start);
        done
    }
}

/// Length of the complete response at the start of `buf` (head + `Content-Length` body).
fn response_len(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut body = 0usize;
    for line in buf[..head].split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(b"content-length") {
            let value = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
            body = value.parse().unwrap_or_else(|_| {
                panic!("stack lab: bad Content-Length {value:?} in a response")
            });
        }
    }
    (buf.len() >= head + body).then_some(head + body)
}

/// The HTTP keep-alive lab: `conns` client connections to an [`HttpService`] serving
/// `GET /health` (`200 ok`).
#[derive(Debug)]
pub struct HttpKeepAlive {
    pair: CyclonePair,
    service: HttpService,
    clients: ClientSet,
    /// Loop counters, over every run so far.
    pub stats: LoopStats,
    /// Responses received so far.
    pub responses: u64,
}

/// The server's side of one loop iteration, as the runtime's turn: poll the interface, run
/// the HTTP service, and transmit if that queued anything, so the response leaves in the
/// same step (run-to-completion). Kept out of line so that callgrind can count it alone.
#[inline(never)]
fn server_side(now: Timestamp, host: &mut Host, service: &mut HttpService) {
    host.iface.poll(now, &mut host.queue);
    service.poll(now, host.iface.tcp_mut());
    if host.iface.poll_at().is_some_and(|t| t <= now) {
        host.iface.transmit(now, &mut host.queue);
    }
}

/// The client's side of one loop iteration: poll, read responses, send the next request on
/// each connection that got its answer, poll again to send them. Returns responses completed.
#[inline(never)]
fn client_side(now: Timestamp, host: &mut Host, clients: &mut ClientSet) -> u64 {
    host.iface.poll(now, &mut host.queue);
    let tcp = host.iface.tcp_mut();
    tcp.take_events(&mut clients.events);
    let mut completed = 0;
    for event in clients.events.drain(..) {
        let TcpEvent::Readable(h) = event else {
            continue;
        };
        let Some(&i) = clients.by_handle.get(&h) else {
            continue;
        };
        let c = &mut clients.conns[i];
        loop {
            let n = tcp
                .recv(c.handle, &mut clients.scratch)
                .unwrap_or_else(|e| panic!("stack lab: client recv failed: {e}"));
            if n == 0 {
                break;
            }
            c.inbox.extend_from_slice(&clients.scratch[..n]);
        }
        let done = c.complete_responses();
        assert!(
            done <= 1,
            "stack lab: {done} responses to one outstanding request"
        );
        if done > 0 {
            completed += done;
            c.remaining = c.remaining.saturating_sub(done);
            if c.remaining > 0 {
                send_request(tcp, c);
            }
        }
    }
    if host.iface.poll_at().is_some_and(|t| t <= now) {
        host.iface.poll(now, &mut host.queue);
    }
    completed
}

/// The HTTP client's connections and its reused buffers.
#[derive(Debug)]
struct ClientSet {
    conns: Vec<ClientConn>,
    by_handle: HashMap<ConnHandle, usize>,
    events: Vec<TcpEvent>,
    scratch: Vec<u8>,
}

fn send_request(tcp: &mut cyclone_stack::tcp::Tcp, c: &mut ClientConn) {
    let n = tcp
        .send(c.handle, REQUEST)
        .unwrap_or_else(|e| panic!("stack lab: client send failed: {e}"));
    assert_eq!(
        n,
        REQUEST.len(),
        "stack lab: a request did not fit an empty send buffer"
    );
}

/// The HTTP lab's router: `GET /health` only.
fn router() -> Router {
    let mut router = Router::new();
    router.get("/health", cyclone_http::apps::health::health);
    router
}

impl HttpKeepAlive {
    /// Builds the lab, starts the service and opens `conns` connections (all accepted before
    /// this returns).
    pub fn new(mode: Clocking, conns: usize) -> HttpKeepAlive {
        assert!(conns > 0, "stack lab: HTTP needs at least one connection");
        let mut pair = CyclonePair::new(mode);
        let now = pair.clock.now();
        let server_addr = SocketAddrV4::new(pair.hosts[1].addr, HTTP_PORT);
        let server = Arc::new(Server::new(ServerConfig::default(), router()));
        let service = HttpService::new(
            pair.hosts[1].iface.tcp_mut(),
            server_addr,
            conns.max(16),
            server,
            now,
        )
        .unwrap_or_else(|e| panic!("stack lab: HTTP listen on {HTTP_PORT}: {e}"));
        let client_addr = SocketAddrV4::new(pair.hosts[0].addr, 0);
        let mut clients = ClientSet {
            conns: Vec::with_capacity(conns),
            by_handle: HashMap::with_capacity(conns),
            events: Vec::new(),
            scratch: vec![0; 16 * 1024],
        };
        for i in 0..conns {
            let handle = pair.hosts[0]
                .iface
                .tcp_mut()
                .connect(now, client_addr, server_addr)
                .unwrap_or_else(|e| panic!("stack lab: HTTP connect #{i}: {e}"));
            clients.by_handle.insert(handle, i);
            clients.conns.push(ClientConn {
                handle,
                inbox: Vec::with_capacity(1024),
                remaining: 0,
            });
        }
        let mut lab = HttpKeepAlive {
            pair,
            service,
            clients,
            stats: LoopStats::default(),
            responses: 0,
        };
        let mut quiet = 0u64;
        while lab.service.connections() < conns {
            let now = lab.pair.clock.tick();
            lab.stats.iterations += 1;
            let moved = lab.pair.poll_both(now);
            lab.service.poll(now, lab.pair.hosts[1].iface.tcp_mut());
            drain_events(&mut lab.pair.hosts[0], &mut lab.clients.events);
            if moved {
                quiet = 0;
            } else {
                quiet += 1;
                let next = lab.next_event();
                lab.pair.clock.idle(next, &mut lab.stats);
                if quiet > STUCK_AFTER {
                    stuck(
                        "the HTTP connection set-up",
                        &lab.stats,
                        format!("{} of {conns} accepted", lab.service.connections()),
                    );
                }
            }
        }
        // Settle: let the last handshake ACKs and events go through.
        for _ in 0..4 {
            let now = lab.pair.clock.tick();
            lab.pair.poll_both(now);
            lab.service.poll(now, lab.pair.hosts[1].iface.tcp_mut());
            drain_events(&mut lab.pair.hosts[0], &mut lab.clients.events);
        }
        lab
    }

    fn next_event(&self) -> Option<Timestamp> {
        [self.pair.next_event(), self.service.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Frames received and sent so far by the client and by the server: `[(rx, tx); 2]`.
    pub fn frames(&self) -> [(u64, u64); 2] {
        self.pair.hosts.each_ref().map(|h| {
            let s = h.iface.stats();
            (s.rx_frames, s.tx_frames)
        })
    }

    /// Connections the server holds open.
    pub fn server_connections(&self) -> usize {
        self.service.connections()
    }

    /// Runs `requests_per_conn` requests on every connection, one outstanding per connection;
    /// returns the wall time. Each host is polled only when it has something to do (a frame
    /// arrived, a timer or a send is due), as two independent busy-polling hosts would be.
    pub fn run(&mut self, requests_per_conn: u64) -> Duration {
        let start = Instant::now();
        let total = requests_per_conn * self.clients.conns.len() as u64;
        if total == 0 {
            return start.elapsed();
        }
        let tcp = self.pair.hosts[0].iface.tcp_mut();
        for c in &mut self.clients.conns {
            c.remaining = requests_per_conn;
            send_request(tcp, c);
        }
        let mut completed = 0u64;
        let mut quiet = 0u64;
        while completed < total {
            let now = self.pair.clock.tick();
            self.stats.iterations += 1;
            let [client, server] = &mut self.pair.hosts;
            let mut worked = false;
            if client.due(now) {
                worked = true;
                completed += client_side(now, client, &mut self.clients);
            }
            if server.due(now) || self.service.poll_at().is_some_and(|t| t <= now) {
                worked = true;
                server_side(now, server, &mut self.service);
            }
            if worked {
                quiet = 0;
            } else {
                quiet += 1;
                let next = [
                    client.next_event(),
                    server.next_event(),
                    self.service.poll_at(),
                ]
                .into_iter()
                .flatten()
                .min();
                self.pair.clock.idle(next, &mut self.stats);
                if quiet > STUCK_AFTER {
                    stuck(
                        "the HTTP keep-alive run",
                        &self.stats,
                        format!("{completed} of {total} responses"),
                    );
                }
            }
        }
        self.responses += completed;
        start.elapsed()
    }
}

/// `conns` keep-alive connections × `requests_per_conn` small requests on a fresh lab, in wall
/// time (connection set-up excluded).
pub fn http_keepalive(conns: usize, requests_per_conn: u64) -> Duration {
    let mut lab = HttpKeepAlive::new(Clocking::Wall, conns);
    lab.run(requests_per_conn)
}
