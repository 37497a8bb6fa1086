//! Counters of a running `cyclone serve`: per queue, published by each queue's thread, read by
//! `GET /metrics` (Prometheus text format), the live line on stderr and the final report.
//!
//! - [`Metrics`]: the shared side. One [`QueueMetrics`] per queue: plain atomics for the
//!   counters and gauges ([`Counter`]), drops by reason ([`DropReason`]), HTTP responses by
//!   status class, and a request latency histogram.
//! - [`QueueRecorder`]: the queue thread's side. It owns everything it counts; every ~10 ms it
//!   stores the absolute values into the atomics (`Relaxed` stores, no read-modify-write, no
//!   lock) and merges the latencies it recorded since into the shared histogram with
//!   `try_lock` (if a scrape holds the lock, the samples wait for the next round: the packet
//!   path never blocks on a lock).
//! - [`instrument`]: wraps an application's [`Router`] so every response it produces is
//!   counted by status class (`1xx`..`5xx`) on its queue. Responses the HTTP connection makes
//!   by itself (malformed requests, timeouts, oversize heads) never reach the router: they are
//!   `cyclone_http_protocol_errors_total`.
//! - [`Totals`] and [`Totals::live_line`]: the one-line summary refreshed on stderr.
//!
//! What the latency histogram measures (see `HttpService`): from the loop iteration in which
//! the first byte of a request was read from TCP to the one in which the last byte of its
//! response was handed to TCP's send buffer. The clock is read once per iteration, so a request
//! that arrives whole and is answered at once measures 0: the resolution is one iteration.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cyclone_http::{Handler, Request, Response, Router};
use cyclone_pmd::QueueStats;
use cyclone_stack::iface::InterfaceStats;
use cyclone_stack::tcp::TcpStats;
use hdrhistogram::Histogram;

/// Largest latency the histogram tells apart (larger values count as this), in µs: one hour.
const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Significant digits of the histogram (1 % precision).
const LATENCY_SIGFIG: u8 = 2;
/// Upper bounds of the Prometheus histogram buckets, in seconds.
const BUCKETS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

macro_rules! metric_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal, $kind:ident, $help:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// How many there are.
            pub const COUNT: usize = $name::ALL.len();

            /// The name in the exposition (metric name or label value).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Counter or gauge.
            pub fn kind(self) -> Kind {
                match self { $($name::$variant => Kind::$kind,)* }
            }

            /// The `# HELP` text.
            pub fn help(self) -> &'static str {
                match self { $($name::$variant => $help,)* }
            }

            /// Index into a `[_; COUNT]` array.
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

metric_enum! {
    /// The per-queue counters and gauges.
    Counter {
        /// Frames received.
        RxPackets => "cyclone_rx_packets_total", Counter, "Frames received from the queue.";
        /// Bytes received.
        RxBytes => "cyclone_rx_bytes_total", Counter, "Bytes of the frames received.";
        /// Frames transmitted.
        TxPackets => "cyclone_tx_packets_total", Counter, "Frames the device took for transmission.";
        /// Bytes transmitted.
        TxBytes => "cyclone_tx_bytes_total", Counter, "Bytes of the frames transmitted.";
        /// Frames of the queue's pool in use.
        PoolInUse => "cyclone_pool_frames_in_use", Gauge,
            "Frames of the queue's pool not in its shared free list (in buffers, in devices, in per-thread caches). Queues of one port may share a pool.";
        /// Frames in the queue's pool.
        PoolCapacity => "cyclone_pool_frames", Gauge, "Frames in the queue's pool.";
        /// TCP connections in the TCP table.
        TcpConnections => "cyclone_tcp_connections", Gauge, "TCP connections open on the queue (every state but CLOSED).";
        /// TCP passive opens.
        TcpAccepted => "cyclone_tcp_passive_opens_total", Counter, "TCP connections opened from a listener.";
        /// TCP retransmissions.
        TcpRetransmits => "cyclone_tcp_retransmits_total", Counter, "TCP segments retransmitted (timeout, fast retransmit, SACK recovery).";
        /// RSTs sent.
        TcpResetsSent => "cyclone_tcp_resets_sent_total", Counter, "TCP RST segments sent.";
        /// RSTs received.
        TcpResetsReceived => "cyclone_tcp_resets_received_total", Counter, "TCP connections reset by the peer.";
        /// Connections timed out.
        TcpTimeouts => "cyclone_tcp_timeouts_total", Counter, "TCP connections reset after retransmissions or keep-alives went unanswered.";
        /// HTTP connections served.
        HttpConnections => "cyclone_http_connections", Gauge, "HTTP connections being served.";
        /// HTTP requests handed to the application.
        HttpRequests => "cyclone_http_requests_total", Counter, "Complete HTTP requests handed to the application.";
        /// HTTP responses queued (error responses included).
        HttpResponses => "cyclone_http_responses_total", Counter, "HTTP responses queued, protocol error responses included.";
        /// Requests refused by the connection itself.
        HttpProtocolErrors => "cyclone_http_protocol_errors_total", Counter,
            "Requests refused by the HTTP connection before reaching the application (400, 408, 413, 417, 431, 501) and responses cut short.";
    }
}

metric_enum! {
    /// Why frames or segments were dropped (label `reason` of `cyclone_drops_total`).
    DropReason {
        /// The pool was empty on receive.
        RxNoBuffer => "rx_no_buffer", Counter, "";
        /// The device found the frame malformed or too large.
        RxInvalid => "rx_invalid", Counter, "";
        /// The device's transmit ring was full (the frame waited, or was dropped by the
        /// interface's transmit queue bound: see tx_queue_overflow).
        TxRingFull => "tx_ring_full", Counter, "";
        /// Malformed headers (any layer).
        Malformed => "malformed", Counter, "";
        /// Frames to another MAC address.
        NotOurMac => "not_our_mac", Counter, "";
        /// Frames of an unhandled EtherType.
        UnknownEthertype => "unknown_ethertype", Counter, "";
        /// Packets to another IP address.
        NotOurIp => "not_our_ip", Counter, "";
        /// Packets from a source a host must ignore.
        BadSource => "bad_source", Counter, "";
        /// IPv4 fragments (no reassembly).
        Fragment => "fragment", Counter, "";
        /// No route to send a packet.
        NoRoute => "no_route", Counter, "";
        /// The pool was empty on transmit.
        TxNoBuffer => "tx_no_buffer", Counter, "";
        /// A packet to send did not fit.
        TooBig => "too_big", Counter, "";
        /// The interface's transmit queue was full.
        TxQueueOverflow => "tx_queue_overflow", Counter, "";
        /// The next hop never answered ARP, or its pending queue overflowed.
        Arp => "arp", Counter, "";
        /// UDP to a port with no socket, or a full socket queue.
        Udp => "udp", Counter, "";
        /// TCP segments to a port with no listener.
        TcpNoListener => "tcp_no_listener", Counter, "";
        /// SYNs dropped: accept queue, SYN queue or connection table full.
        TcpBacklogFull => "tcp_backlog_full", Counter, "";
        /// TCP segments outside the window, with a bad ACK or sequence number, or PAWS.
        TcpUnacceptable => "tcp_unacceptable", Counter, "";
        /// Out-of-order segments dropped because the reassembly queue was full.
        TcpReassemblyFull => "tcp_reassembly_full", Counter, "";
        /// TCP segments dropped for other reasons.
        TcpOther => "tcp_other", Counter, "";
    }
}

metric_enum! {
    /// AF_XDP counters of a queue (backend `afxdp` only): the XDP steering program's per-queue
    /// counters and the socket's `XDP_STATISTICS`. Rendered once a backend published them.
    XdpCounter {
        /// Frames the XDP program redirected to the queue's socket.
        Redirected => "cyclone_xdp_redirected_total", Counter, "Frames the XDP program redirected to the queue's AF_XDP socket.";
        /// Frames the XDP program passed to the kernel.
        Passed => "cyclone_xdp_passed_total", Counter, "Frames the XDP program passed to the kernel's stack (not for the dataplane's address).";
        /// Redirects that failed.
        RedirectFailed => "cyclone_xdp_redirect_failed_total", Counter, "Frames whose redirect to the socket failed (dropped).";
        /// Frames on a queue beyond the program's maps.
        Aborted => "cyclone_xdp_aborted_total", Counter, "Frames that arrived on a queue index beyond the program's maps.";
        /// RX ring full drops.
        RxRingFull => "cyclone_xsk_rx_ring_full_total", Counter, "Frames the kernel dropped because the socket's RX ring was full (the queue thread fell behind).";
        /// Fill ring empty.
        FillRingEmpty => "cyclone_xsk_fill_ring_empty_total", Counter, "Times the kernel found the fill ring empty: frames dropped for lack of a buffer.";
        /// Other kernel drops.
        RxDropped => "cyclone_xsk_rx_dropped_total", Counter, "Frames the kernel dropped for other reasons (too large for a frame...).";
        /// Invalid descriptors, both rings.
        InvalidDescs => "cyclone_xsk_invalid_descs_total", Counter, "Invalid RX and TX descriptors the kernel saw.";
        /// Pool empty when refilling.
        FillPoolEmpty => "cyclone_xsk_fill_pool_empty_total", Counter, "Times the fill ring had room but the queue's pool was empty.";
        /// TX wakeups.
        TxWakeups => "cyclone_xsk_tx_wakeups_total", Counter, "sendto() wakeups issued to make the kernel transmit.";
        /// Frames lent to the kernel.
        FramesInKernel => "cyclone_xsk_frames_in_kernel", Gauge, "Frames of the queue's pool the kernel holds (fill, RX, TX and completion rings).";
    }
}

/// HTTP status classes counted (`1xx` to `5xx`).
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The shared latency histogram of a queue (µs) and the exact sum of its samples.
#[derive(Debug)]
struct Latency {
    histogram: Histogram<u64>,
    sum_us: u64,
}

fn new_histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5):
    // this cannot fail, and it runs at start-up, never on the packet path.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// The shared counters of one queue.
#[derive(Debug)]
pub struct QueueMetrics {
    counters: [AtomicU64; Counter::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
    status: [AtomicU64; 5],
    latency: Mutex<Latency>,
    xdp: [AtomicU64; XdpCounter::COUNT],
}

impl QueueMetrics {
    fn new() -> QueueMetrics {
        QueueMetrics {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            status: std::array::from_fn(|_| AtomicU64::new(0)),
            xdp: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: Mutex::new(Latency {
                histogram: new_histogram(),
                sum_us: 0,
            }),
        }
    }

    /// The last published value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter.index()].load(Ordering::Relaxed)
    }

    /// The last published drops for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()].load(Ordering::Relaxed)
    }

    /// Every drop, summed over the reasons (the transmit ring being full is not a drop by
    /// itself, so it is left out).
    pub fn drops_total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| **r != DropReason::TxRingFull)
            .map(|r| self.drops(*r))
            .sum()
    }

    /// Responses the application produced with a status in class `class` (1 to 5).
    pub fn responses_of_class(&self, class: usize) -> u64 {
        class
            .checked_sub(1)
            .and_then(|i| self.status.get(i))
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Request latencies published so far: (count, sum).
    pub fn latency_count_sum(&self) -> (u64, Duration) {
        let l = lock(&self.latency);
        (l.histogram.len(), Duration::from_micros(l.sum_us))
    }

    /// The latency at quantile `q` (0..=1) of the samples published so far.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(lock(&self.latency).histogram.value_at_quantile(q))
    }

    /// The last published AF_XDP counter `counter` (0 for other backends).
    pub fn xdp(&self, counter: XdpCounter) -> u64 {
        self.xdp[counter.index()].load(Ordering::Relaxed)
    }

    /// Publishes an AF_XDP counter (absolute value; see [`Metrics::mark_xdp`]).
    pub fn set_xdp(&self, counter: XdpCounter, value: u64) {
        self.xdp[counter.index()].store(value, Ordering::Relaxed);
    }

    fn count_status(&self, status: u16) {
        let class = usize::from(status / 100);
        if let Some(a) = class.checked_sub(1).and_then(|i| self.status.get(i)) {
            a.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Histograms stay usable after a panic elsewhere: keep the data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The counters of every queue of a `cyclone serve` process.
#[derive(Debug)]
pub struct Metrics {
    queues: Box<[QueueMetrics]>,
    started: Instant,
    /// Whether an AF_XDP backend publishes [`XdpCounter`]s (rendered only then).
    xdp: std::sync::atomic::AtomicBool,
}

impl Metrics {
    /// Counters for `queues` queues, all zero.
    pub fn new(queues: u16) -> Metrics {
        Metrics {
            queues: (0..queues).map(|_| QueueMetrics::new()).collect(),
            started: Instant::now(),
            xdp: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The counters of queue `queue`.
    pub fn queue(&self, queue: u16) -> Option<&QueueMetrics> {
        self.queues.get(usize::from(queue))
    }

    /// Every queue's counters, in queue order.
    pub fn queues(&self) -> &[QueueMetrics] {
        &self.queues
    }

    /// Marks these metrics as those of an AF_XDP port: the [`XdpCounter`]s are rendered.
    pub fn mark_xdp(&self) {
        self.xdp.store(true, Ordering::Relaxed);
    }

    /// Whether an AF_XDP backend publishes [`XdpCounter`]s.
    pub fn has_xdp(&self) -> bool {
        self.xdp.load(Ordering::Relaxed)
    }

    /// The sums over the queues (for the live line and the report).
    pub fn totals(&self) -> Totals {
        let sum = |c: Counter| self.queues.iter().map(|q| q.get(c)).sum::<u64>();
        Totals {
            rx_packets: sum(Counter::RxPackets),
            tx_packets: sum(Counter::TxPackets),
            rx_bytes: sum(Counter::RxBytes),
            tx_bytes: sum(Counter::TxBytes),
            connections: sum(Counter::HttpConnections),
            requests: sum(Counter::HttpRequests),
            drops: self.queues.iter().map(QueueMetrics::drops_total).sum(),
        }
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096 + 2048 * self.queues.len());
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "cyclone_queues",
            "gauge",
            "Queues served, one thread each.",
        );
        let _ = writeln!(out, "cyclone_queues {}", self.queues.len());
        header(
            &mut out,
            "cyclone_uptime_seconds",
            "gauge",
            "Seconds since the dataplane started.",
        );
        let _ = writeln!(
            out,
            "cyclone_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        for c in Counter::ALL {
            header(&mut out, c.name(), c.kind().name(), c.help());
            for (i, q) in self.queues.iter().enumerate() {
                let _ = writeln!(out, "{}{{queue=\"{i}\"}} {}", c.name(), q.get(*c));
            }
        }
        if self.has_xdp() {
            for c in XdpCounter::ALL {
                header(&mut out, c.name(), c.kind().name(), c.help());
                for (i, q) in self.queues.iter().enumerate() {
                    let _ = writeln!(out, "{}{{queue=\"{i}\"}} {}", c.name(), q.xdp(*c));
                }
            }
        }
        let name = "cyclone_drops_total";
        header(
            &mut out,
            name,
            "counter",
            "Frames and segments dropped, by reason (tx_ring_full counts frames the device \
             refused at first; they wait in the interface's transmit queue).",
        );
        for (i, q) in self.queues.iter().enumerate() {
            for r in DropReason::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{queue=\"{i}\",reason=\"{}\"}} {}",
                    r.name(),
                    q.drops(*r)
                );
            }
        }
        let name = "cyclone_http_responses_by_class_total";
        header(
            &mut out,
            name,
            "counter",
            "HTTP responses produced by the application (router), by status class.",
        );
        for (i, q) in self.queues.iter().enumerate() {
            for (c, class) in STATUS_CLASSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{queue=\"{i}\",class=\"{class}\"}} {}",
                    q.responses_of_class(c + 1)
                );
            }
        }
        let name = "cyclone_http_request_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "From the loop iteration that read a request's first byte to the one that handed \
             the last byte of its response to TCP (resolution: one loop iteration).",
        );
        for (i, q) in self.queues.iter().enumerate() {
            let l = lock(&q.latency);
            for le in BUCKETS_S {
                let bound_us = (le * 1e6) as u64;
                let n = l.histogram.count_between(0, bound_us);
                let _ = writeln!(out, "{name}_bucket{{queue=\"{i}\",le=\"{le}\"}} {n}");
            }
            let count = l.histogram.len();
            let _ = writeln!(out, "{name}_bucket{{queue=\"{i}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "{name}_sum{{queue=\"{i}\"}} {:.6}",
                l.sum_us as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count{{queue=\"{i}\"}} {count}");
        }
        out
    }
}

/// What a queue thread publishes: its own counters, read where they live.
#[derive(Debug, Clone, Copy)]
pub struct QueueSample<'a> {
    /// The device queue's counters.
    pub queue: &'a QueueStats,
    /// The interface's counters.
    pub iface: &'a InterfaceStats,
    /// The TCP layer's counters.
    pub tcp: &'a TcpStats,
    /// TCP connections in the table.
    pub tcp_connections: usize,
    /// Frames of the pool in use and its capacity.
    pub pool: (usize, usize),
    /// HTTP connections being served.
    pub http_connections: usize,
    /// HTTP counters summed over every connection served so far.
    pub http: cyclone_http::ConnStats,
}

/// The queue thread's side of [`Metrics`]: publishes absolute values, keeps latencies until
/// they can be merged without waiting.
#[derive(Debug)]
pub struct QueueRecorder {
    metrics: Arc<Metrics>,
    queue: usize,
    pending: Histogram<u64>,
    pending_sum_us: u64,
}

impl QueueRecorder {
    /// The recorder of queue `queue` (an index below the count given to [`Metrics::new`]).
    pub fn new(metrics: Arc<Metrics>, queue: u16) -> QueueRecorder {
        QueueRecorder {
            metrics,
            queue: usize::from(queue),
            pending: new_histogram(),
            pending_sum_us: 0,
        }
    }

    /// Records one request's latency (kept locally until the next publish).
    pub fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.pending.saturating_record(us.min(LATENCY_MAX_US));
        self.pending_sum_us = self.pending_sum_us.saturating_add(us);
    }

    /// Stores the sample's values and merges pending latencies if the histogram is free.
    pub fn publish(&mut self, sample: &QueueSample<'_>) {
        let Some(q) = self.metrics.queues.get(self.queue) else {
            return;
        };
        let set = |c: Counter, v: u64| q.counters[c.index()].store(v, Ordering::Relaxed);
        let s = sample;
        set(Counter::RxPackets, s.queue.rx_packets);
        set(Counter::RxBytes, s.queue.rx_bytes);
        set(Counter::TxPackets, s.queue.tx_packets);
        set(Counter::TxBytes, s.queue.tx_bytes);
        set(Counter::PoolInUse, s.pool.0 as u64);
        set(Counter::PoolCapacity, s.pool.1 as u64);
        set(Counter::TcpConnections, s.tcp_connections as u64);
        set(Counter::TcpAccepted, s.tcp.passive_opens);
        set(Counter::TcpRetransmits, s.tcp.retransmits);
        set(Counter::TcpResetsSent, s.tcp.resets_sent);
        set(Counter::TcpResetsReceived, s.tcp.resets_received);
        set(
            Counter::TcpTimeouts,
            s.tcp.timeouts + s.tcp.keepalive_timeouts,
        );
        set(Counter::HttpConnections, s.http_connections as u64);
        set(Counter::HttpRequests, s.http.requests);
        set(Counter::HttpResponses, s.http.responses);
        set(Counter::HttpProtocolErrors, s.http.errors);
        let drops = drop_counts(s);
        for (a, v) in q.drops.iter().zip(drops) {
            a.store(v, Ordering::Relaxed);
        }
        if !self.pending.is_empty() {
            if let Ok(mut shared) = q.latency.try_lock() {
                merge_into(&mut self.pending, &mut self.pending_sum_us, &mut shared);
            }
        }
    }

    /// Merges pending latencies, waiting for the lock if needed (at the end of a run).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(q) = self.metrics.queues.get(self.queue) {
            let mut shared = lock(&q.latency);
            merge_into(&mut self.pending, &mut self.pending_sum_us, &mut shared);
        }
    }
}

/// Moves the pending samples into the shared histogram.
fn merge_into(pending: &mut Histogram<u64>, pending_sum_us: &mut u64, shared: &mut Latency) {
    // Same bounds on both sides: `add` cannot fail; if it did, the samples are dropped rather
    // than kept forever.
    let _ = shared.histogram.add(&*pending);
    shared.sum_us = shared.sum_us.saturating_add(*pending_sum_us);
    pending.reset();
    *pending_sum_us = 0;
}

/// Drops by reason from the three layers' counters.
fn drop_counts(s: &QueueSample<'_>) -> [u64; DropReason::COUNT] {
    let (q, i, t) = (s.queue, s.iface, s.tcp);
    let mut out = [0; DropReason::COUNT];
    for r in DropReason::ALL {
        out[r.index()] = match r {
            DropReason::RxNoBuffer => q.rx_dropped_no_buffer,
            DropReason::RxInvalid => q.rx_dropped_invalid,
            DropReason::TxRingFull => q.tx_full,
            DropReason::Malformed => i.wire_drops_total(),
            DropReason::NotOurMac => i.drop_not_our_mac,
            DropReason::UnknownEthertype => i.drop_unknown_ethertype,
            DropReason::NotOurIp => i.drop_not_our_ip,
            DropReason::BadSource => i.drop_bad_src,
            DropReason::Fragment => i.drop_fragment + i.drop_tcp_broadcast,
            DropReason::NoRoute => i.drop_no_route,
            DropReason::TxNoBuffer => i.drop_no_buffer,
            DropReason::TooBig => i.drop_too_big,
            DropReason::TxQueueOverflow => i.drop_tx_queue_overflow,
            DropReason::Arp => {
                i.drop_arp_timeout + i.drop_arp_pending_overflow + i.drop_arp_pending_table_full
            }
            DropReason::Udp => i.udp_no_port + i.drop_udp_rx_queue_full,
            DropReason::TcpNoListener => t.drop_no_listener,
            DropReason::TcpBacklogFull => t.drop_backlog_full + t.drop_table_full,
            DropReason::TcpUnacceptable => {
                t.drop_out_of_window + t.drop_bad_ack + t.drop_bad_seq + t.drop_paws
            }
            DropReason::TcpReassemblyFull => t.drop_reassembly_full,
            DropReason::TcpOther => t.drop_other,
        };
    }
    out
}

/// Counts every response of a router by status class on one queue. Built by [`instrument`].
struct StatusCounting {
    inner: Router,
    metrics: Arc<Metrics>,
    queue: usize,
}

impl Handler for StatusCounting {
    fn handle(&self, req: &mut Request<'_>) -> Response {
        let response = self.inner.dispatch(req);
        if let Some(q) = self.metrics.queues.get(self.queue) {
            q.count_status(response.status());
        }
        response
    }
}

/// Methods routed through [`instrument`]'s counting wrapper (a request with another method
/// gets `405` from the outer router, uncounted).
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Wraps `router` so that every response it gives (404 and 405 included) is counted by status
/// class on queue `queue`. Paths that do not start with `/` (`OPTIONS *`) are answered `404`
/// by the outer router, uncounted.
pub fn instrument(router: Router, metrics: Arc<Metrics>, queue: u16) -> Router {
    let counting = Arc::new(StatusCounting {
        inner: router,
        metrics,
        queue: usize::from(queue),
    });
    let mut outer = Router::new();
    for method in METHODS {
        let c = Arc::clone(&counting);
        outer.mount(method, "/", move |req: &mut Request<'_>| c.handle(req));
    }
    outer
}

/// `GET /metrics`: the Prometheus text exposition of every queue.
pub fn metrics_handler(metrics: Arc<Metrics>) -> impl Handler + 'static {
    move |_req: &mut Request<'_>| {
        Response::new(200)
            .with_content_type("text/plain; version=0.0.4; charset=utf-8")
            .with_body(metrics.render_prometheus())
    }
}

/// Sums over the queues, for the live line and the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// HTTP connections being served now.
    pub connections: u64,
    /// HTTP requests so far.
    pub requests: u64,
    /// Drops so far.
    pub drops: u64,
}

impl Totals {
    /// One line of rates between `prev` and `self`, `elapsed` apart: rx/tx packets per
    /// second, Mbit/s both ways, connections, requests per second, drops (total and new).
    pub fn live_line(&self, prev: &Totals, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
        let bits = (self.rx_bytes + self.tx_bytes).saturating_sub(prev.rx_bytes + prev.tx_bytes);
        format!(
            "rx {} pps  tx {} pps  {:.1} Mbit/s  conns {}  req/s {}  drops {} (+{})",
            si(rate(self.rx_packets, prev.rx_packets)),
            si(rate(self.tx_packets, prev.tx_packets)),
            bits as f64 * 8.0 / secs / 1e6,
            self.connections,
            si(rate(self.requests, prev.requests)),
            self.drops,
            self.drops.saturating_sub(prev.drops),
        )
    }
}

/// `1234.5` → `1.2k`, `2_500_000` → `2.5M`.
fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prometheus_names_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Counter::ALL {
            assert!(c.name().starts_with("cyclone_"));
            assert!(c
                .name()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert_eq!(c.kind() == Kind::Counter, c.name().ends_with("_total"));
            assert!(seen.insert(c.name()));
            assert_eq!(Counter::ALL[c.index()], *c);
        }
        for r in DropReason::ALL {
            assert!(seen.insert(r.name()));
            assert_eq!(DropReason::ALL[r.index()], *r);
        }
    }

    #[test]
    fn published_values_and_latencies_appear_in_the_exposition() {
        let metrics = Arc::new(Metrics::new(2));
        let mut rec = QueueRecorder::new(Arc::clone(&metrics), 1);
        let queue = QueueStats {
            rx_packets: 7,
            rx_bytes: 700,
            rx_dropped_no_buffer: 2,
            ..QueueStats::default()
        };
        let iface = InterfaceStats::default();
        let tcp = TcpStats {
            retransmits: 3,
            ..TcpStats::default()
        };
        rec.record_latency(Duration::from_micros(50));
        rec.record_latency(Duration::from_millis(3));
        rec.publish(&QueueSample {
            queue: &queue,
            iface: &iface,
            tcp: &tcp,
            tcp_connections: 1,
            pool: (10, 100),
            http_connections: 1,
            http: cyclone_http::ConnStats {
                requests: 2,
                ..Default::default()
            },
        });
        let text = metrics.render_prometheus();
        assert!(text.contains("cyclone_rx_packets_total{queue=\"1\"} 7\n"));
        assert!(text.contains("cyclone_rx_packets_total{queue=\"0\"} 0\n"));
        assert!(text.contains("cyclone_tcp_retransmits_total{queue=\"1\"} 3\n"));
        assert!(text.contains("cyclone_drops_total{queue=\"1\",reason=\"rx_no_buffer\"} 2\n"));
        assert!(text.contains("cyclone_pool_frames_in_use{queue=\"1\"} 10\n"));
        assert!(text.contains(
            "cyclone_http_request_duration_seconds_bucket{queue=\"1\",le=\"0.0001\"} 1\n"
        ));
        assert!(text.contains(
            "cyclone_http_request_duration_seconds_bucket{queue=\"1\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains("cyclone_http_request_duration_seconds_count{queue=\"1\"} 2\n"));
        assert!(text.contains("# TYPE cyclone_http_request_duration_seconds histogram\n"));
        let totals = metrics.totals();
        assert_eq!(totals.rx_packets, 7);
        assert_eq!(totals.drops, 2);
        assert_eq!(totals.requests, 2);
    }

    #[test]
    fn status_classes_are_counted_through_the_instrumented_router() {
        let metrics = Arc::new(Metrics::new(1));
        let mut router = Router::new();
        router.get("/ok", |_: &mut Request<'_>| Response::text(200, "ok"));
        let router = instrument(router, Arc::clone(&metrics), 0);
        let server = Arc::new(cyclone_http::Server::new(
            cyclone_http::ServerConfig::default(),
            router,
        ));
        let now = cyclone_pmd::Timestamp::ZERO;
        let mut conn = cyclone_http::Connection::new(server, now);
        let reqs = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nPOST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(conn.on_recv(now, reqs), reqs.len());
        let q = metrics.queue(0).expect("queue 0");
        assert_eq!(q.responses_of_class(2), 1);
        assert_eq!(q.responses_of_class(4), 2, "404 and 405");
    }

    #[test]
    fn live_line_shows_rates() {
        let prev = Totals::default();
        let now = Totals {
            rx_packets: 2_000,
            tx_packets: 1_000,
            rx_bytes: 1_000_000,
            tx_bytes: 250_000,
            connections: 3,
            requests: 500,
            drops: 1,
        };
        let line = now.live_line(&prev, Duration::from_secs(2));
        assert_eq!(
            line,
            "rx 1.0k pps  tx 500 pps  5.0 Mbit/s  conns 3  req/s 250  drops 1 (+1)"
        );
    }
}
