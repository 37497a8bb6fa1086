//! The per-queue runtime of `cyclone serve`: one thread per queue, shared-nothing.
//!
//! [`serve`] opens `queues` queues of a [`Port`] and runs each on its own thread. A thread owns
//! its queue (wrapped in [`ArpShared`] so ARP replies reach every queue), an
//! [`Interface`] (the same MAC and IP on every queue: RSS already steered the flow, so each
//! queue's TCP owns the flows it receives) and an [`HttpService`] serving the application. One
//! turn of its loop:
//!
//! 1. read the clock once ([`MonotonicClock`]);
//! 2. `iface.poll` (receive, TCP, ARP, transmit), then `service.poll` (HTTP), then
//!    `iface.transmit` (TCP, ARP, transmit: no second receive) if that left TCP with
//!    something to send;
//! 3. every ~10 ms, publish the counters ([`QueueRecorder`]: atomics, no lock);
//! 4. idle strategy ([`Backoff`]): with `busy_poll`, spin; otherwise after a run of idle turns,
//!    spin a little, then yield, then [`QueueWait::wait`] — a sleep by default, a blocking
//!    wait on the device where a backend offers one — bounded by the next timer
//!    (`min(iface.poll_at(), service.poll_at())`) and by 1 ms.
//!
//! **Shutdown.** When the stop flag is set (SIGINT/SIGTERM in the CLI), each thread closes its
//! listener, lets the requests in flight finish and closes each connection once it is idle
//! (FIN after the last response), for up to the grace period; then it resets what is left,
//! flushes, and returns its [`QueueReport`]. A queue thread that panics or fails stops the
//! others the same way, and [`serve`] reports it as an error: nothing is lost silently.
//!
//! Files: `arp` (sharing ARP replies between queues). Uses `pmd` (ports, clock), `stack`
//! (interface, TCP), `app::http` and [`crate::metrics`].

mod arp;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cyclone_http::apps::{install_builtin, static_files::StaticFiles};
use cyclone_http::{Router, Server, ServerConfig};
use cyclone_pmd::memory::MemoryQueue;
use cyclone_pmd::{Clock, MonotonicClock, Port, PortError, Queue, QueueStats, Timestamp, TxQueue};
use cyclone_stack::iface::Interface;
use cyclone_stack::tcp::TcpError;

pub use arp::ArpShared;

use crate::app::http::HttpService;
use crate::config::{AppKind, ConfigError, ServeConfig};
use crate::metrics::{instrument, metrics_handler, Metrics, QueueRecorder, QueueSample, Totals};

/// How often a queue thread publishes its counters.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(10);
/// Longest an idle queue sleeps before looking again (and at the stop flag).
pub const MAX_IDLE_WAIT: Duration = Duration::from_millis(1);
/// Idle turns spent spinning before yielding.
const SPIN_TURNS: u32 = 64;
/// Idle turns spent yielding (after spinning) before waiting.
const YIELD_TURNS: u32 = 64;
/// Connections waiting to be accepted, per queue.
const BACKLOG: usize = 1024;
/// Turns spent flushing the last frames (FINs, RSTs) after the service stopped.
const FINAL_FLUSH_TURNS: u32 = 100;

/// How a queue waits when it has nothing to do. The default sleeps; a backend whose queue can
/// block until frames arrive (AF_XDP's `poll` on the socket with `need_wakeup`, an interrupt
/// mode) implements [`QueueWait::wait`] with that, and `serve` uses it unchanged.
pub trait QueueWait {
    /// Returns when frames may have arrived or after `timeout` (at most [`MAX_IDLE_WAIT`]),
    /// whichever is first. Returning early is always allowed.
    fn wait(&mut self, timeout: Duration) {
        std::thread::sleep(timeout);
    }
}

/// The in-memory link has nothing to block on: sleep.
impl QueueWait for MemoryQueue {}

/// The idle strategy of a queue thread (see the module docs).
#[derive(Debug, Clone)]
pub struct Backoff {
    busy_poll: bool,
    idle_turns: u32,
}

impl Backoff {
    /// A backoff that never waits with `busy_poll`, or spins, yields, then waits.
    pub fn new(busy_poll: bool) -> Backoff {
        Backoff {
            busy_poll,
            idle_turns: 0,
        }
    }

    /// A turn did work: start over with spinning.
    pub fn reset(&mut self) {
        self.idle_turns = 0;
    }

    /// A turn did nothing at `now`; the next thing due is at `next` (if anything is).
    pub fn idle<W: QueueWait>(&mut self, queue: &mut W, now: Timestamp, next: Option<Timestamp>) {
        if self.busy_poll {
            std::hint::spin_loop();
            return;
        }
        self.idle_turns = self.idle_turns.saturating_add(1);
        if self.idle_turns <= SPIN_TURNS {
            std::hint::spin_loop();
        } else if self.idle_turns <= SPIN_TURNS + YIELD_TURNS {
            std::thread::yield_now();
        } else {
            let timeout = next
                .map_or(MAX_IDLE_WAIT, |t| t.saturating_duration_since(now))
                .min(MAX_IDLE_WAIT);
            if timeout.is_zero() {
                std::thread::yield_now();
            } else {
                queue.wait(timeout);
            }
        }
    }
}

/// Why `serve` could not start or did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// The port has fewer queues than asked for.
    #[error("port {port} offers {max} queue(s) but {asked} were asked for: lower --queues")]
    TooManyQueues {
        /// The port.
        port: String,
        /// Queues asked for.
        asked: u16,
        /// Queues the port has.
        max: u16,
    },
    /// A queue could not be opened.
    #[error("cannot open queue {queue} of port {port}")]
    OpenQueue {
        /// The port.
        port: String,
        /// The queue.
        queue: u16,
        /// Why.
        #[source]
        source: PortError,
    },
    /// The interface refused its configuration (or the port's MTU).
    #[error("queue {queue}: the interface cannot be configured")]
    Interface {
        /// The queue.
        queue: u16,
        /// Why.
        #[source]
        source: cyclone_stack::iface::ConfigError,
    },
    /// The HTTP listener could not be opened.
    #[error("queue {queue}: cannot listen on {addr}")]
    Listen {
        /// The queue.
        queue: u16,
        /// The address.
        addr: SocketAddrV4,
        /// Why.
        #[source]
        source: TcpError,
    },
    /// The static root could not be opened.
    #[error("cannot serve files from {root}")]
    StaticRoot {
        /// The root.
        root: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A queue thread could not be started.
    #[error("cannot start the thread of queue {queue}")]
    Spawn {
        /// The queue.
        queue: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A queue thread panicked; the other queues were shut down.
    #[error("the thread of queue {queue} panicked: {message}{}", others_note(*others))]
    QueuePanicked {
        /// The (first) queue that panicked.
        queue: u16,
        /// The panic message.
        message: String,
        /// How many other queues failed too.
        others: usize,
    },
}

fn others_note(others: usize) -> String {
    if others == 0 {
        String::new()
    } else {
        format!(" ({others} other queue(s) failed too)")
    }
}

/// What one queue did.
#[derive(Debug, Clone)]
pub struct QueueReport {
    /// The queue.
    pub queue: u16,
    /// The device queue's counters at the end.
    pub stats: QueueStats,
    /// HTTP connections accepted.
    pub accepted: u64,
    /// HTTP counters summed over the connections served.
    pub http: cyclone_http::ConnStats,
    /// Connections still open when the grace period ended, reset.
    pub aborted_at_shutdown: usize,
    /// From the stop flag to the end of the queue's loop.
    pub shutdown_took: Duration,
}

/// What a `serve` run did.
#[derive(Debug, Clone)]
pub struct ServeReport {
    /// Per queue, in queue order.
    pub queues: Vec<QueueReport>,
    /// The sums over the queues of the published counters.
    pub totals: Totals,
    /// From start to return.
    pub elapsed: Duration,
    /// Median and 99th percentile request latency (see [`crate::metrics`]).
    pub latency_p50: Duration,
    /// 99th percentile request latency.
    pub latency_p99: Duration,
}

impl ServeReport {
    /// Connections reset at the end of the grace period, over all queues.
    pub fn aborted_at_shutdown(&self) -> usize {
        self.queues.iter().map(|q| q.aborted_at_shutdown).sum()
    }
}

/// Runs `config` on `port` until `stop` is set (see the module docs); creates its own
/// [`Metrics`].
pub fn serve<P>(
    port: P,
    config: &ServeConfig,
    stop: Arc<AtomicBool>,
) -> Result<ServeReport, ServeError>
where
    P: Port,
    P::Queue: QueueWait,
{
    let metrics = Arc::new(Metrics::new(config.queues));
    serve_with_metrics(port, config, stop, metrics)
}

/// [`serve`] publishing into `metrics` (created with at least `config.queues` queues), which
/// the caller may read while it runs (the live line does).
pub fn serve_with_metrics<P>(
    mut port: P,
    config: &ServeConfig,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<ServeReport, ServeError>
where
    P: Port,
    P::Queue: QueueWait,
{
    config.validate()?;
    let started = std::time::Instant::now();
    let caps = port.capabilities();
    if caps.max_queues < config.queues || metrics.queues().len() < usize::from(config.queues) {
        return Err(ServeError::TooManyQueues {
            port: port.name().to_string(),
            asked: config.queues,
            max: caps.max_queues,
        });
    }
    let files = match (config.app, &config.root) {
        (AppKind::Static, Some(root)) => {
            Some(
                StaticFiles::new(root, "/").map_err(|e| ServeError::StaticRoot {
                    root: root.clone(),
                    source: e,
                })?,
            )
        }
        _ => None,
    };
    let clock = MonotonicClock::new();
    let now = clock.now();
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let addr = SocketAddrV4::new(config.ip.addr, config.port);
    let fanout = (config.queues > 1).then(|| Arc::new(arp::ArpFanout::new(config.queues)));

    // Everything that can fail is built here, before any thread starts.
    let mut workers = Vec::with_capacity(usize::from(config.queues));
    for id in 0..config.queues {
        let queue = port
            .open_queue(id)
            .map_err(|source| ServeError::OpenQueue {
                port: port.name().to_string(),
                queue: id,
                source,
            })?;
        let mut iface = Interface::new(config.interface_config(port.mac()), caps, now)
            .map_err(|source| ServeError::Interface { queue: id, source })?;
        let mut router = Router::new();
        install_builtin(&mut router);
        if let Some(files) = &files {
            router.mount("GET", "/", files.clone());
        }
        if config.metrics {
            router.get("/metrics", metrics_handler(Arc::clone(&metrics)));
        }
        let router = instrument(router, Arc::clone(&metrics), id);
        let mut server_config = ServerConfig::default();
        server_config.anchor_wall_clock(now, unix_now);
        let server = Arc::new(Server::new(server_config, router));
        let mut service =
            HttpService::new(iface.tcp_mut(), addr, BACKLOG, server, now).map_err(|source| {
                ServeError::Listen {
                    queue: id,
                    addr,
                    source,
                }
            })?;
        service.record_latencies(true);
        workers.push(Worker {
            id,
            queue: ArpShared::new(queue, fanout.clone()),
            iface,
            service,
            recorder: QueueRecorder::new(Arc::clone(&metrics), id),
            clock,
            backoff: Backoff::new(config.busy_poll),
            grace: config.grace,
        });
    }

    let failed = AtomicBool::new(false);
    let mut reports = Vec::with_capacity(workers.len());
    let mut panics: Vec<(u16, String)> = Vec::new();
    let mut spawn_error = None;
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(workers.len());
        for worker in workers {
            let id = worker.id;
            let (stop, failed) = (&*stop, &failed);
            let spawned = std::thread::Builder::new()
                .name(format!("cyclone-q{id}"))
                .spawn_scoped(s, move || {
                    let _guard = FailOnPanic(failed);
                    worker.run(stop, failed)
                });
            match spawned {
                Ok(h) => handles.push((id, h)),
                Err(source) => {
                    failed.store(true, Ordering::Relaxed);
                    spawn_error = Some(ServeError::Spawn { queue: id, source });
                    break;
                }
            }
        }
        for (id, handle) in handles {
            match handle.join() {
                Ok(report) => reports.push(report),
                Err(payload) => panics.push((id, panic_message(payload.as_ref()))),
            }
        }
    });
    if let Some((queue, message)) = panics.first().cloned() {
        return Err(ServeError::QueuePanicked {
            queue,
            message,
            others: panics.len() - 1,
        });
    }
    if let Some(e) = spawn_error {
        return Err(e);
    }
    let (mut p50, mut p99) = (Duration::ZERO, Duration::ZERO);
    for q in metrics.queues().iter().take(usize::from(config.queues)) {
        p50 = p50.max(q.latency_quantile(0.5));
        p99 = p99.max(q.latency_quantile(0.99));
    }
    Ok(ServeReport {
        queues: reports,
        totals: metrics.totals(),
        elapsed: started.elapsed(),
        latency_p50: p50,
        latency_p99: p99,
    })
}

/// Sets the shared failure flag if the thread unwinds, so the other queues shut down.
struct FailOnPanic<'a>(&'a AtomicBool);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// Everything one queue thread owns.
struct Worker<Q> {
    id: u16,
    queue: ArpShared<Q>,
    iface: Interface,
    service: HttpService,
    recorder: QueueRecorder,
    clock: MonotonicClock,
    backoff: Backoff,
    grace: Duration,
}

impl<Q: Queue + QueueWait> Worker<Q> {
    /// The loop (see the module docs), until the stop (or failure) flag and the drain end.
    fn run(mut self, stop: &AtomicBool, failed: &AtomicBool) -> QueueReport {
        let mut next_publish = Timestamp::ZERO;
        let mut drain: Option<(Timestamp, Timestamp)> = None; // (started, deadline)
        let mut aborted = 0;
        let end = loop {
            let now = self.clock.now();
            if drain.is_none() && (stop.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed)) {
                self.service.begin_drain(now, self.iface.tcp_mut());
                drain = Some((now, now + self.grace));
            }
            let worked = self.turn(now);
            if now >= next_publish {
                self.publish();
                next_publish = now + PUBLISH_INTERVAL;
            }
            if let Some((started, deadline)) = drain {
                if self.service.connections() == 0 && self.iface.tx_queued() == 0 {
                    break now.saturating_duration_since(started);
                }
                if now >= deadline {
                    aborted = self.service.abort_all(self.iface.tcp_mut());
                    self.flush_out();
                    break self.clock.now().saturating_duration_since(started);
                }
            }
            if worked {
                self.backoff.reset();
            } else {
                let next = [
                    self.iface.poll_at(),
                    self.service.poll_at(),
                    Some(next_publish),
                    drain.map(|(_, d)| d),
                ]
                .into_iter()
                .flatten()
                .min();
                self.backoff.idle(&mut self.queue, now, next);
            }
        };
        self.flush_out();
        self.publish();
        self.recorder.flush();
        // Frames this thread cached go back to the shared free list for whoever comes next.
        self.queue.pool().flush_thread_cache();
        QueueReport {
            queue: self.id,
            stats: self.queue.stats(),
            accepted: self.service.stats().accepted,
            http: self.service.http_totals(),
            aborted_at_shutdown: aborted,
            shutdown_took: end,
        }
    }

    /// One turn at `now`; whether any frame moved.
    fn turn(&mut self, now: Timestamp) -> bool {
        let first = self.iface.poll(now, &mut self.queue);
        self.service.poll(now, self.iface.tcp_mut());
        let recorder = &mut self.recorder;
        self.service.drain_latencies(|d| recorder.record_latency(d));
        let mut worked = first.did_work();
        // The service queued data or a close: let TCP send it in this turn (no second
        // receive burst: what arrived meanwhile is for the next turn).
        if self.iface.poll_at().is_some_and(|t| t <= now) {
            worked |= self.iface.transmit(now, &mut self.queue).did_work();
        }
        worked
    }

    /// Polls until the interface has handed every frame to the device (bounded).
    fn flush_out(&mut self) {
        for _ in 0..FINAL_FLUSH_TURNS {
            let now = self.clock.now();
            self.iface.poll(now, &mut self.queue);
            self.service.poll(now, self.iface.tcp_mut());
            if self.iface.tx_queued() == 0 {
                break;
            }
            std::thread::yield_now();
        }
    }

    fn publish(&mut self) {
        let pool = self.queue.pool();
        let capacity = pool.capacity();
        let queue_stats = self.queue.stats();
        let tcp = self.iface.tcp();
        self.recorder.publish(&QueueSample {
            queue: &queue_stats,
            iface: self.iface.stats(),
            tcp: tcp.stats(),
            tcp_connections: tcp.connection_count(),
            pool: (capacity.saturating_sub(pool.available()), capacity),
            http_connections: self.service.connections(),
            http: self.service.http_totals(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(u32);
    impl QueueWait for Counting {
        fn wait(&mut self, _timeout: Duration) {
            self.0 += 1;
        }
    }

    #[test]
    fn backoff_spins_yields_then_waits_and_busy_poll_never_waits() {
        let mut q = Counting(0);
        let mut b = Backoff::new(false);
        let now = Timestamp::from_millis(5);
        for _ in 0..SPIN_TURNS + YIELD_TURNS {
            b.idle(&mut q, now, None);
        }
        assert_eq!(q.0, 0);
        b.idle(&mut q, now, None);
        assert_eq!(q.0, 1);
        // A timer due now: yield instead of waiting.
        b.idle(&mut q, now, Some(now));
        assert_eq!(q.0, 1);
        b.reset();
        b.idle(&mut q, now, None);
        assert_eq!(q.0, 1);
        let mut busy = Backoff::new(true);
        for _ in 0..1000 {
            busy.idle(&mut q, now, None);
        }
        assert_eq!(q.0, 1);
    }
}
