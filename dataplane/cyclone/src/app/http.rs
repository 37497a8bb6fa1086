//! Serving HTTP/1.1 over the stack's TCP: glue between TCP events and the sans-IO
//! [`cyclone_http::Connection`] state machines.
//!
//! Per loop iteration, after `Interface::poll`: take TCP's events, accept new connections, and
//! for every connection that an event or a timer touched, move bytes TCP → HTTP (keeping what
//! HTTP did not take: backpressure), HTTP → TCP (as much as the send buffer takes; large files
//! stream as it drains), and close when HTTP says so: shutdown first so the response is
//! delivered, then close once the peer has closed too (or after a linger time, abort).
//! Only touched connections are visited, so 10,000 idle keep-alive connections cost nothing.
//!
//! For the runtime: [`HttpService::http_totals`] sums the HTTP counters of every connection
//! served; with [`HttpService::record_latencies`] on, each response records its latency (from
//! the poll that read the request's first byte to the poll that handed its last byte to TCP;
//! the clock is read once per poll, so the resolution is one poll) for
//! [`HttpService::drain_latencies`]; [`HttpService::begin_drain`] stops accepting and closes
//! each connection once it has no request in flight, and [`HttpService::abort_all`] resets
//! what is left when the grace period ends. A request counts as in flight from its first byte
//! until its response is handed to TCP; when the bytes read in one poll complete a request
//! *and* start the next, the next one is not seen as in flight (pipelining only).

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use cyclone_http::{ConnStats, Connection, Server};
use cyclone_pmd::Timestamp;
use cyclone_stack::tcp::{ConnHandle, ListenerHandle, Ready, Tcp, TcpError, TcpEvents};
use cyclone_stack::timer::{TimerHandle, TimerWheel};

/// How long a connection we shut down may wait for the peer's FIN before it is aborted.
const LINGER: Duration = Duration::from_secs(5);
/// Bytes read from TCP per `recv` call.
const READ_CHUNK: usize = 16 * 1024;
/// Most latencies kept between two [`HttpService::drain_latencies`] calls (beyond: not kept).
const LATENCIES_MAX: usize = 64 * 1024;

struct HttpConn {
    http: Connection,
    /// Received bytes HTTP has not taken yet (it applies backpressure).
    inbox: Vec<u8>,
    /// The connection's wheel timer and when it fires. Armed lazily: it is moved only when
    /// the connection's deadline comes *earlier* than it; when it fires before the (since
    /// postponed) deadline, the service finds nothing due and arms it again. So keep-alive
    /// traffic, which only ever postpones the idle deadline, costs no wheel operation.
    timer: Option<(TimerHandle, Timestamp)>,
    /// We sent FIN (`shutdown`) and wait for the peer's.
    shut_down: bool,
    /// `on_peer_closed` was delivered.
    eof_delivered: bool,
    linger_until: Option<Timestamp>,
    /// When the first byte of the request in flight was read, if one is.
    request_since: Option<Timestamp>,
    /// `bytes_received` and `responses` of the connection's stats as last seen by `pump`.
    rx_mark: u64,
    responses_mark: u64,
}

/// The connections, in a vector indexed by their TCP slot ([`Tcp::conn_slot`]): one index
/// and one handle compare per lookup, no hashing.
#[derive(Default)]
struct Conns {
    slots: Vec<Option<(ConnHandle, HttpConn)>>,
    len: usize,
}

impl Conns {
    fn len(&self) -> usize {
        self.len
    }

    fn get_mut(&mut self, c: ConnHandle) -> Option<&mut HttpConn> {
        match self.slots.get_mut(Tcp::conn_slot(c)) {
            Some(Some((h, conn))) if *h == c => Some(conn),
            _ => None,
        }
    }

    fn contains(&self, c: ConnHandle) -> bool {
        matches!(self.slots.get(Tcp::conn_slot(c)), Some(Some((h, _))) if *h == c)
    }

    /// Stores `conn` in `c`'s slot; returns what was there (a connection TCP freed without
    /// an event we saw), if anything.
    fn insert(&mut self, c: ConnHandle, conn: HttpConn) -> Option<HttpConn> {
        let i = Tcp::conn_slot(c);
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let old = self.slots[i].replace((c, conn));
        if old.is_none() {
            self.len += 1;
        }
        old.map(|(_, conn)| conn)
    }

    fn remove(&mut self, c: ConnHandle) -> Option<HttpConn> {
        let slot = self.slots.get_mut(Tcp::conn_slot(c))?;
        if !matches!(slot, Some((h, _)) if *h == c) {
            return None;
        }
        self.len -= 1;
        slot.take().map(|(_, conn)| conn)
    }

    fn iter(&self) -> impl Iterator<Item = (ConnHandle, &HttpConn)> {
        self.slots.iter().flatten().map(|(c, conn)| (*c, conn))
    }

    fn drain(&mut self) -> impl Iterator<Item = (ConnHandle, HttpConn)> + '_ {
        self.len = 0;
        self.slots.drain(..).flatten()
    }
}

/// Counters of the HTTP service.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpServiceStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections that ended (closed, reset or aborted).
    pub ended: u64,
    /// Connections aborted because the peer did not close after our FIN.
    pub lingered_out: u64,
    /// Connections reset by the peer or timed out in TCP.
    pub reset: u64,
}

/// An HTTP server bound to one TCP listener of one stack instance.
pub struct HttpService {
    server: Arc<Server>,
    listener: ListenerHandle,
    conns: Conns,
    timers: TimerWheel<ConnHandle>,
    /// No timer of `timers` is due before this (a lower bound: timers moved later or
    /// cancelled since it was computed leave it early), so most polls skip the wheel.
    timers_due: Option<Timestamp>,
    ready: Vec<Ready>,
    touched: Vec<ConnHandle>,
    scratch: Vec<u8>,
    stats: HttpServiceStats,
    /// HTTP counters of the connections that have left the service.
    closed_totals: ConnStats,
    /// Latencies of responses completed since the last drain (when recording).
    latencies: Vec<Duration>,
    record_latencies: bool,
    /// Shutting down: no new connections, close each one once idle.
    draining: bool,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("listener", &self.listener)
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl HttpService {
    /// Listens on `addr` and serves `server` there.
    pub fn new(
        tcp: &mut Tcp,
        addr: SocketAddrV4,
        backlog: usize,
        server: Arc<Server>,
        now: Timestamp,
    ) -> Result<HttpService, TcpError> {
        let listener = tcp.listen(addr, backlog)?;
        Ok(HttpService {
            server,
            listener,
            conns: Conns::default(),
            timers: TimerWheel::new(Duration::from_millis(1), now),
            timers_due: None,
            ready: Vec::new(),
            touched: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            stats: HttpServiceStats::default(),
            closed_totals: ConnStats::default(),
            latencies: Vec::new(),
            record_latencies: false,
            draining: false,
        })
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> HttpServiceStats {
        self.stats
    }

    /// Requests answered so far, summed over open connections (closed ones are in `stats`).
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// HTTP counters summed over every connection served so far (requests, responses,
    /// protocol errors, bytes). Sums the open connections' counters: O(connections), for
    /// periodic reporting rather than per request.
    pub fn http_totals(&self) -> ConnStats {
        let mut totals = self.closed_totals;
        for (_, conn) in self.conns.iter() {
            add_stats(&mut totals, &conn.http.stats());
        }
        totals
    }

    /// Whether to record each response's latency for [`HttpService::drain_latencies`]
    /// (off by default; at most 65,536 are kept between drains).
    pub fn record_latencies(&mut self, on: bool) {
        self.record_latencies = on;
        if !on {
            self.latencies = Vec::new();
        }
    }

    /// Hands the latencies recorded since the last call to `f`, oldest first.
    pub fn drain_latencies(&mut self, mut f: impl FnMut(Duration)) {
        for d in self.latencies.drain(..) {
            f(d);
        }
    }

    /// Connections with a request in flight: its bytes are arriving, or its response is not
    /// yet all handed to TCP.
    pub fn in_flight(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| {
                c.request_since.is_some() || c.http.has_pending_output() || !c.inbox.is_empty()
            })
            .count()
    }

    /// Whether [`HttpService::begin_drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Starts a graceful shutdown: closes the listener (no new connections; ones not yet
    /// accepted are aborted by TCP) and, from now on, ends each connection (FIN after its
    /// last response) as soon as no request is in flight on it. Connections leave the service
    /// once the peer closes too; see [`HttpService::connections`].
    pub fn begin_drain(&mut self, now: Timestamp, tcp: &mut Tcp) {
        if self.draining {
            return;
        }
        self.draining = true;
        // The listener may already be gone if TCP dropped it; nothing else to do then.
        let _ = tcp.close_listener(self.listener);
        let all: Vec<ConnHandle> = self.conns.iter().map(|(c, _)| c).collect();
        for c in all {
            self.service(now, tcp, c);
        }
    }

    /// Resets every connection still open (the end of a grace period); returns how many.
    pub fn abort_all(&mut self, tcp: &mut Tcp) -> usize {
        let n = self.conns.len();
        for (c, conn) in self.conns.drain() {
            // A connection TCP already forgot is gone either way.
            let _ = tcp.abort(c);
            if let Some((t, _)) = conn.timer {
                self.timers.cancel(t);
            }
            add_stats(&mut self.closed_totals, &conn.http.stats());
        }
        self.stats.ended += n as u64;
        n
    }

    /// When the service next needs a poll (an HTTP or linger timer), if ever. Timers are
    /// postponed lazily, so this may be earlier than needed (a poll then finds nothing due).
    pub fn poll_at(&self) -> Option<Timestamp> {
        self.timers_due
    }

    /// Handles TCP's events and expired timers. Call after `Interface::poll`, then poll the
    /// interface again (or next iteration) to send what this queued.
    pub fn poll(&mut self, now: Timestamp, tcp: &mut Tcp) {
        tcp.take_ready(&mut self.ready);
        // Indexed loops and `clear` rather than `drain`: no iterator to drop per poll.
        for i in 0..self.ready.len() {
            match self.ready[i] {
                Ready::Acceptable(l) if l == self.listener => self.accept(now, tcp, l),
                Ready::Acceptable(_) => {}
                Ready::Conn(c, set) => {
                    // Serviced once for any of these (servicing again right away would
                    // find nothing new), before a Closed or Reset of the same set forgets it.
                    if set.intersects(
                        TcpEvents::READABLE | TcpEvents::WRITABLE | TcpEvents::PEER_CLOSED,
                    ) {
                        self.touched.push(c);
                    }
                    if set.contains(TcpEvents::CLOSED) {
                        self.forget(c);
                    } else if set.contains(TcpEvents::RESET) {
                        if self.conns.contains(c) {
                            self.stats.reset += 1;
                        }
                        self.forget(c);
                    }
                }
            }
        }
        self.ready.clear();

        if self.timers_due.is_some_and(|t| t <= now) {
            let conns = &mut self.conns;
            let touched = &mut self.touched;
            self.timers.advance(now, |_, c| {
                // The timer is spent: the service arms a new one if a deadline remains.
                if let Some(conn) = conns.get_mut(c) {
                    conn.timer = None;
                }
                touched.push(c);
            });
            self.timers_due = self.timers.next_deadline();
        }
        for i in 0..self.touched.len() {
            let c = self.touched[i];
            self.service(now, tcp, c);
        }
        self.touched.clear();
    }

    /// Takes every connection waiting on listener `l`.
    fn accept(&mut self, now: Timestamp, tcp: &mut Tcp, l: ListenerHandle) {
        while let Some(c) = tcp.accept(l) {
            self.stats.accepted += 1;
            let stale = self.conns.insert(
                c,
                HttpConn {
                    http: Connection::new(self.server.clone(), now),
                    inbox: Vec::new(),
                    timer: None,
                    shut_down: false,
                    eof_delivered: false,
                    linger_until: None,
                    request_since: None,
                    rx_mark: 0,
                    responses_mark: 0,
                },
            );
            // A slot TCP reused without telling us the last connection in it ended.
            if let Some(old) = stale {
                self.end(old);
            }
            self.touched.push(c);
        }
    }

    fn forget(&mut self, c: ConnHandle) {
        if let Some(conn) = self.conns.remove(c) {
            self.end(conn);
        }
    }

    /// Accounts for a connection that left the service.
    fn end(&mut self, conn: HttpConn) {
        self.stats.ended += 1;
        if let Some((t, _)) = conn.timer {
            self.timers.cancel(t);
        }
        add_stats(&mut self.closed_totals, &conn.http.stats());
    }

    /// Moves bytes both ways for one connection and decides whether it ends.
    fn service(&mut self, now: Timestamp, tcp: &mut Tcp, c: ConnHandle) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let latencies = if self.record_latencies && self.latencies.len() < LATENCIES_MAX {
            Some(&mut self.latencies)
        } else {
            None
        };
        let result = pump(
            now,
            tcp,
            c,
            conn,
            &mut self.scratch,
            self.draining,
            latencies,
        );
        if let Err(end) = result {
            match end {
                End::Closed => {}
                End::Lingered => self.stats.lingered_out += 1,
                End::Error => self.stats.reset += 1,
            }
            self.forget(c);
            return;
        }
        // The earliest of HTTP's deadline and the linger. A timer already armed at or before
        // it stays (lazy postponement, see `HttpConn::timer`); none is needed without one.
        let deadline = match (conn.http.poll_timeout(), conn.linger_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(d) = deadline {
            match conn.timer {
                Some((_, at)) if at <= d => return,
                Some((t, _)) => {
                    self.timers.reset(t, d);
                    conn.timer = Some((t, d));
                }
                None => conn.timer = Some((self.timers.arm(d, c), d)),
            }
            self.timers_due = Some(self.timers_due.map_or(d, |t| t.min(d)));
        }
    }
}

/// Why a connection left the service.
enum End {
    Closed,
    Lingered,
    Error,
}

/// Adds the counters `s` to `totals`.
fn add_stats(totals: &mut ConnStats, s: &ConnStats) {
    totals.requests += s.requests;
    totals.responses += s.responses;
    totals.errors += s.errors;
    totals.continues += s.continues;
    totals.timeouts += s.timeouts;
    totals.bytes_received += s.bytes_received;
    totals.bytes_sent += s.bytes_sent;
}

/// Offers received bytes to HTTP, with TCP's send buffer as the sink for responses first in
/// line; a failed send sets `send_failed`.
fn offer(
    now: Timestamp,
    tcp: &mut Tcp,
    c: ConnHandle,
    http: &mut Connection,
    data: &[u8],
    send_failed: &mut bool,
) -> usize {
    http.on_recv_with(now, data, |bytes: &[u8]| match tcp.send(c, bytes) {
        Ok(n) => n,
        Err(_) => {
            *send_failed = true;
            0
        }
    })
}

fn pump(
    now: Timestamp,
    tcp: &mut Tcp,
    c: ConnHandle,
    conn: &mut HttpConn,
    scratch: &mut [u8],
    draining: bool,
    latencies: Option<&mut Vec<Duration>>,
) -> Result<(), End> {
    // The connection's timer is never later than its deadline (see `HttpService::service`),
    // so while it is pending and not due, no deadline has passed.
    if conn.timer.is_none_or(|(_, at)| at <= now)
        && conn.http.poll_timeout().is_some_and(|t| t <= now)
    {
        conn.http.on_timeout(now);
    }
    if conn.linger_until.is_some_and(|t| t <= now) {
        let _ = tcp.abort(c);
        return Err(End::Lingered);
    }
    // TCP → HTTP, leftovers first. A response first in line goes to TCP from inside
    // `on_recv_with` (no copy into HTTP's output queue); a send error ends the connection
    // below, like one from the send loop.
    let mut send_failed = false;
    if !conn.inbox.is_empty() {
        let n = offer(now, tcp, c, &mut conn.http, &conn.inbox, &mut send_failed);
        conn.inbox.drain(..n);
    }
    // TCP's "FIN received and nothing left unread", as of the last read (nothing below
    // reads or receives before it is used); `None` until a read.
    let mut eof = None;
    while conn.inbox.is_empty() && conn.http.accepts_input() {
        let (got, at_eof) = tcp.recv_eof(c, scratch).map_err(|_| End::Error)?;
        eof = Some(at_eof);
        if got == 0 {
            break;
        }
        let data = &scratch[..got];
        let taken = offer(now, tcp, c, &mut conn.http, data, &mut send_failed);
        if taken < got {
            conn.inbox.extend_from_slice(&data[taken..]);
        }
        // A short read emptied TCP's buffer: no need to ask again.
        if got < scratch.len() {
            break;
        }
    }
    if send_failed {
        return Err(End::Error);
    }
    // `peer_closed`: FIN received and nothing left unread (known from the last read, if
    // any: sending to TCP in between changes neither).
    if !conn.eof_delivered && conn.inbox.is_empty() && eof.unwrap_or_else(|| tcp.peer_closed(c)) {
        conn.http.on_peer_closed();
        conn.eof_delivered = true;
    }
    let received = conn.http.stats().bytes_received;
    if received > conn.rx_mark {
        conn.rx_mark = received;
        conn.request_since.get_or_insert(now);
    }
    // HTTP → TCP, as much as the send buffer takes.
    while conn.http.has_pending_output() {
        let out = conn.http.pending_output();
        if out.is_empty() {
            break;
        }
        let len = out.len();
        let sent = tcp.send(c, out).map_err(|_| End::Error)?;
        conn.http.consume(now, sent);
        if sent < len {
            break;
        }
    }
    // Responses completed: every one queued so far is handed to TCP.
    let responses = conn.http.stats().responses;
    if responses > conn.responses_mark && !conn.http.has_pending_output() {
        let since = conn.request_since.take().unwrap_or(now);
        if let Some(out) = latencies {
            let latency = now.saturating_duration_since(since);
            let n = (responses - conn.responses_mark).min(LATENCIES_MAX as u64);
            out.extend(std::iter::repeat_n(latency, n as usize));
        }
        conn.responses_mark = responses;
    }
    // Draining: a connection with nothing in flight takes no more requests (as if the peer
    // had closed its side): it closes below, after its output.
    if draining
        && !conn.eof_delivered
        && conn.request_since.is_none()
        && conn.inbox.is_empty()
        && !conn.http.has_pending_output()
    {
        conn.http.on_peer_closed();
        conn.eof_delivered = true;
    }
    // Closing: FIN once the response is queued; full close once the peer has closed too.
    if conn.http.should_close() {
        if tcp.peer_closed(c) {
            // Discard anything still unread so close() is orderly rather than a reset.
            while tcp.recv(c, scratch).map_err(|_| End::Error)? > 0 {}
            tcp.close(c).map_err(|_| End::Error)?;
            return Err(End::Closed);
        }
        if !conn.shut_down {
            tcp.shutdown(c).map_err(|_| End::Error)?;
            conn.shut_down = true;
            conn.linger_until = Some(now + LINGER);
        }
    }
    Ok(())
}
