//! `cyclone serve` on the command line: resolves the settings, opens the port of the chosen
//! backend, wires SIGINT/SIGTERM to the runtime's stop flag, shows the live counter line on a
//! terminal, runs [`crate::runtime::serve_with_metrics`] and prints its report.
//!
//! Backends are picked by a small match on [`Backend`]; each real backend's arm is compiled only
//! with its cargo feature (`afxdp`, `dpdk`), and asking a build for a backend it does not
//! include says which feature to enable.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig};
use cyclone_pmd::{MonotonicClock, PortError};

use crate::config::{Backend, ConfigError, ServeArgs, ServeConfig};
use crate::metrics::Metrics;
use crate::runtime::{serve_with_metrics, ServeError, ServeReport};

/// Why `cyclone serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The port could not be created.
    #[error("cannot create the {backend} port on {iface}")]
    Port {
        /// The backend.
        backend: Backend,
        /// The interface.
        iface: String,
        /// Why.
        #[source]
        source: PortError,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install the SIGINT/SIGTERM handlers")]
    Signal(#[source] std::io::Error),
    /// The runtime failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The AF_XDP port could not be opened; the message (and its cause) says what to do.
    #[cfg(feature = "afxdp")]
    #[error("{message}")]
    AfXdp {
        /// What failed and what to do.
        message: String,
        /// The backend's error, if one caused it.
        #[source]
        source: Option<cyclone_afxdp::AfXdpError>,
    },
    /// The DPDK backend could not start: the EAL refused its arguments, no such port, ...
    #[cfg(feature = "dpdk")]
    #[error("dpdk backend: cannot {what}")]
    Dpdk {
        /// What could not be done.
        what: String,
        /// Why, with the DPDK call and its error text.
        #[source]
        source: cyclone_dpdk::DpdkError,
    },
    /// The backend is built in but not wired to the runtime yet.
    #[error("the {0} backend is built in but `cyclone serve` does not open its ports yet")]
    NotWired(Backend),
}

/// Runs `cyclone serve` with `args`: returns once a signal stopped it and the shutdown ended.
pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let config = args.resolve()?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while shutting down exits at once (status 1).
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .map_err(CliError::Signal)?;
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(CliError::Signal)?;
    }
    let metrics = Arc::new(Metrics::new(config.queues));
    let done = Arc::new(AtomicBool::new(false));
    let live = std::io::stderr().is_terminal().then(|| {
        let (metrics, done) = (Arc::clone(&metrics), Arc::clone(&done));
        std::thread::Builder::new()
            .name("cyclone-live".to_string())
            .spawn(move || live_line(&metrics, &done))
    });
    eprintln!(
        "cyclone serve: {} on {} ({} backend, {} queue(s)), app {}{}; Ctrl-C stops",
        config.ip,
        config.iface,
        config.backend,
        config.queues,
        config.app,
        if config.metrics { ", GET /metrics" } else { "" },
    );
    let result = serve_backend(&config, stop, Arc::clone(&metrics));
    done.store(true, Ordering::Relaxed);
    if let Some(Ok(handle)) = live {
        let _ = handle.join();
        eprintln!();
    }
    let report = result?;
    print_report(&report);
    #[cfg(feature = "afxdp")]
    afxdp::print_counters(&metrics);
    Ok(())
}

/// Opens the port of `config.backend` and serves it.
fn serve_backend(
    config: &ServeConfig,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<ServeReport, CliError> {
    match config.backend {
        Backend::Memory => {
            let link = MemoryLinkConfig {
                names: [config.iface.clone(), format!("{}-peer", config.iface)],
                queues: config.queues,
                ..MemoryLinkConfig::default()
            };
            let (port, _peer) =
                MemoryLink::pair(link, Arc::new(MonotonicClock::new())).map_err(|source| {
                    CliError::Port {
                        backend: config.backend,
                        iface: config.iface.clone(),
                        source,
                    }
                })?;
            eprintln!(
                "cyclone serve: the memory backend's peer port is not attached to anything; \
                 use the library (`cyclone::runtime::serve`) to drive it"
            );
            Ok(serve_with_metrics(port, config, stop, metrics)?)
        }
        #[cfg(feature = "afxdp")]
        Backend::Afxdp => afxdp::serve(config, stop, metrics),
        #[cfg(feature = "dpdk")]
        Backend::Dpdk => {
            let port = dpdk::open_port(config)?;
            Ok(serve_with_metrics(port, config, stop, metrics)?)
        }
        #[allow(unreachable_patterns, reason = "every backend may be built in")]
        other => Err(CliError::Config(ConfigError::BackendNotBuilt {
            backend: other,
            feature: other.feature().unwrap_or("none"),
        })),
    }
}

/// The dpdk arm: the EAL from `--dpdk-args`, the port `--iface` names, and how its queues wait.
#[cfg(feature = "dpdk")]
mod dpdk {
    use std::time::Duration;

    use cyclone_dpdk::{
        DpdkError, DpdkPort, DpdkQueue, Eal, EalConfig, MbufPoolConfig, PortConfig, PortSelector,
    };
    use cyclone_pmd::Port;

    use super::CliError;
    use crate::config::ServeConfig;
    use crate::runtime::QueueWait;

    /// Longest an idle DPDK queue sleeps in one wait. A poll-mode queue has nothing to block
    /// on, so after the runtime's spinning and yielding it sleeps in short steps: a frame that
    /// arrives meanwhile waits at most this long (`--busy-poll` never sleeps).
    pub const IDLE_SLEEP: Duration = Duration::from_micros(100);

    /// Frames per queue in the port's pool: its RX ring (1024), its TX ring (1024) and what
    /// the stack holds in between.
    const FRAMES_PER_QUEUE: u32 = 4096;

    impl QueueWait for DpdkQueue {
        fn wait(&mut self, timeout: Duration) {
            std::thread::sleep(timeout.min(IDLE_SLEEP));
        }
    }

    fn fail(what: String) -> impl FnOnce(DpdkError) -> CliError {
        move |source| CliError::Dpdk { what, source }
    }

    /// Starts the EAL with `config.dpdk_args` and opens the port `config.iface` names (a DPDK
    /// port id or device name) with `config.queues` queues and a pool of its own.
    pub fn open_port(config: &ServeConfig) -> Result<DpdkPort, CliError> {
        let args = config.dpdk_args.as_deref().unwrap_or_default();
        let eal_config = EalConfig::parse(args);
        let eal = Eal::init(&eal_config)
            .map_err(fail(format!("start the EAL with arguments `{args}`")))?;
        // `rte_eal_init` pinned this thread to the main lcore's CPU; the queue threads are
        // ours, not lcores, and must not all inherit that one CPU.
        eal.restore_affinity()
            .map_err(fail("restore the CPU affinity after the EAL start".into()))?;
        let selector: PortSelector = config.iface.parse().unwrap_or_else(|never| match never {});
        let port_config = PortConfig {
            queues: config.queues,
            pool: MbufPoolConfig {
                frames: (u32::from(config.queues) * FRAMES_PER_QUEUE).max(8192),
                ..MbufPoolConfig::default()
            },
            ..PortConfig::default()
        };
        let port = DpdkPort::open(&eal, selector, &port_config)
            .map_err(fail(format!("open DPDK port `{}`", config.iface)))?;
        eprintln!(
            "cyclone serve: DPDK port {} ({}, driver {}), MAC {}, {} queue(s), {}-byte frames",
            port.id(),
            port.name(),
            port.driver(),
            port.mac(),
            config.queues,
            port.mbuf_pool().pool().config().frame_size,
        );
        Ok(port)
    }
}

/// Refreshes one line of counters on stderr every second until `done`.
fn live_line(metrics: &Metrics, done: &AtomicBool) {
    let mut prev = metrics.totals();
    let mut at = Instant::now();
    while !done.load(Ordering::Relaxed) {
        // Sleep in small steps so the line stops promptly at shutdown.
        for _ in 0..10 {
            if done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let now = metrics.totals();
        let line = now.live_line(&prev, at.elapsed());
        at = Instant::now();
        prev = now;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }
}

/// The end-of-run summary on stdout.
pub fn print_report(report: &ServeReport) {
    let t = &report.totals;
    println!(
        "served {:.1} s: rx {} frames ({} B), tx {} frames ({} B), {} requests, {} drops; \
         latency p50 {:?} p99 {:?}",
        report.elapsed.as_secs_f64(),
        t.rx_packets,
        t.rx_bytes,
        t.tx_packets,
        t.tx_bytes,
        t.requests,
        t.drops,
        report.latency_p50,
        report.latency_p99,
    );
    for q in &report.queues {
        println!(
            "  queue {}: {} connections, {} requests, shutdown in {:?}, {} reset at the end of \
             the grace period",
            q.queue, q.accepted, q.http.requests, q.shutdown_took, q.aborted_at_shutdown
        );
    }
}

/// The `afxdp` arm of `cyclone serve`: an [`AfXdpPort`](cyclone_afxdp::AfXdpPort) on
/// `--iface` with `--queues` queues, each queue thread blocking in `poll()` on its socket when
/// idle ([`QueueWait`](crate::runtime::QueueWait) →
/// [`AfXdpQueue::wait`](cyclone_afxdp::AfXdpQueue::wait)), the XDP program's
/// and the sockets' counters published in the metrics ([`XdpCounter`](crate::metrics::XdpCounter)),
/// and the program detached when serving ends (the BPF link goes with the process anyway, even
/// on SIGKILL; the next start removes a netlink-attached leftover).
///
/// Settings only the AF_XDP backend has come from the environment: `CYCLONE_XDP_MODE`
/// (`auto`, the default: driver mode, else generic with a warning; `driver`; `skb`).
#[cfg(feature = "afxdp")]
pub mod afxdp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use cyclone_afxdp::{AfXdpConfig, AfXdpError, AfXdpPort, AfXdpQueue, AttachMode, NetDev};
    use cyclone_pmd::{
        Capabilities, MacAddr, PacketBuf, Pool, Port, PortError, Queue, QueueStats, RxQueue,
        TxQueue,
    };

    use super::CliError;
    use crate::config::ServeConfig;
    use crate::metrics::{Metrics, XdpCounter};
    use crate::runtime::{serve_with_metrics, QueueWait, ServeReport};

    /// How often the XDP program's counters are read into the metrics.
    const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
    /// `XDP_PACKET_HEADROOM` plus an Ethernet header with one VLAN tag: what a frame of the
    /// pool must hold beyond the MTU.
    const FRAME_OVERHEAD: u32 = 256 + 18;
    /// Capability bits AF_XDP needs (`CAP_NET_ADMIN`, `CAP_NET_RAW`, `CAP_BPF`).
    const NEEDED_CAPS: [(u32, &str); 3] =
        [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW"), (39, "CAP_BPF")];

    /// An idle queue thread blocks in `poll()` on the socket (after refilling the fill ring
    /// and kicking pending TX) instead of sleeping.
    impl QueueWait for AfXdpQueue {
        fn wait(&mut self, timeout: Duration) {
            // An error (EINTR) just means "look again"; the runtime's loop does.
            let _ = AfXdpQueue::wait(self, timeout);
        }
    }

    fn err(message: String) -> CliError {
        CliError::AfXdp {
            message,
            source: None,
        }
    }

    fn backend_err(iface: &str, source: AfXdpError) -> CliError {
        CliError::AfXdp {
            message: format!("cannot run AF_XDP on `{iface}`"),
            source: Some(source),
        }
    }

    /// Missing privileges, named, or `None` when the process has what AF_XDP needs.
    pub fn missing_privileges() -> Option<String> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
        let missing: Vec<&str> = NEEDED_CAPS
            .iter()
            .filter(|(bit, _)| cap_eff & (1u64 << bit) == 0)
            .map(|(_, name)| *name)
            .collect();
        (!missing.is_empty()).then(|| missing.join(", "))
    }

    /// The attach mode from `CYCLONE_XDP_MODE`.
    fn attach_mode() -> Result<AttachMode, CliError> {
        match std::env::var("CYCLONE_XDP_MODE").as_deref() {
            Err(_) | Ok("") | Ok("auto") => Ok(AttachMode::Auto),
            Ok("driver") | Ok("native") => Ok(AttachMode::Driver),
            Ok("skb") | Ok("generic") => Ok(AttachMode::Skb),
            Ok(other) => Err(err(format!(
                "CYCLONE_XDP_MODE={other} is not a mode: use auto (driver, else generic), driver \
                 or skb"
            ))),
        }
    }

    /// Checks the settings against the interface and opens the port (the steering program
    /// attached, our address configured). Every refusal says what to do.
    pub fn open_port(config: &ServeConfig) -> Result<AfXdpPort, CliError> {
        let iface = config.iface.as_str();
        if let Some(missing) = missing_privileges() {
            return Err(err(format!(
                "AF_XDP needs root (missing {missing}): run `cyclone serve --backend afxdp` as \
                 root (sudo), or grant CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK"
            )));
        }
        let mode = attach_mode()?;
        let dev = NetDev::lookup(iface).map_err(|e| backend_err(iface, e))?;
        if config.queues > dev.queues {
            return Err(err(format!(
                "--queues {} is out of range: `{iface}` has {} queue(s) (see `ethtool -l \
                 {iface}`; raise them with `ethtool -L {iface} combined N`, or create a veth \
                 with `numrxqueues N numtxqueues N`); lower --queues to at most {}",
                config.queues, dev.queues, dev.queues
            )));
        }
        let mut afxdp = AfXdpConfig::new(iface, vec![config.ip.addr]);
        // A frame must hold the kernel's headroom and a full-MTU frame: 2048-byte frames up
        // to MTU 1774, 4096-byte frames up to 3822.
        if dev.mtu + FRAME_OVERHEAD > afxdp.socket.pool.frame_size {
            if dev.mtu + FRAME_OVERHEAD > 4096 {
                return Err(err(format!(
                    "`{iface}` has MTU {}: AF_XDP without multi-buffer frames handles at most \
                     MTU {} (4096-byte frames, {FRAME_OVERHEAD} bytes of headroom and L2 \
                     header); lower it with `ip link set dev {iface} mtu 1500` (on a veth, the \
                     peer's too: driver-mode XDP also needs the peer's MTU at most 3506)",
                    dev.mtu,
                    4096 - FRAME_OVERHEAD
                )));
            }
            afxdp.socket.pool.frame_size = 4096;
        }
        afxdp.attach_mode = mode;
        let mut port = AfXdpPort::open(afxdp).map_err(|e| backend_err(iface, e))?;
        if !port.program().is_driver_mode() && mode == AttachMode::Auto {
            eprintln!(
                "cyclone serve: warning: `{iface}` refused driver-mode XDP; running in generic \
                 (skb) mode, which is slower. On a veth this happens when the peer's MTU is \
                 above 3506 (`ip link set dev PEER mtu 1500`). CYCLONE_XDP_MODE=driver makes \
                 this an error."
            );
        }
        Ok(port)
    }

    /// Serves `config` on an AF_XDP port until `stop`; the XDP program is detached when this
    /// returns (also on error).
    pub fn serve(
        config: &ServeConfig,
        stop: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
    ) -> Result<ServeReport, CliError> {
        let port = open_port(config)?;
        let ifindex = port.netdev().ifindex;
        let served = ServedPort::new(port, Arc::clone(&metrics));
        let shared = Arc::clone(&served.port);
        metrics.mark_xdp();
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let sampler = std::thread::Builder::new()
                .name("cyclone-xdp-stats".to_string())
                .spawn_scoped(s, || {
                    while !done.load(Ordering::Relaxed) {
                        sample(&shared, &metrics, config.queues);
                        std::thread::sleep(SAMPLE_INTERVAL);
                    }
                });
            let result = serve_with_metrics(served, config, stop, Arc::clone(&metrics));
            done.store(true, Ordering::Relaxed);
            if let Ok(handle) = sampler {
                let _ = handle.join();
            }
            result
        });
        sample(&shared, &metrics, config.queues);
        // The last reference: dropping the port detaches the program.
        drop(shared);
        match cyclone_afxdp::program::attached_program(ifindex) {
            Ok(None) => eprintln!(
                "cyclone serve: XDP program detached from `{}`",
                config.iface
            ),
            Ok(Some(p)) => eprintln!(
                "cyclone serve: warning: `{}` still has XDP program `{}` (id {})",
                config.iface, p.name, p.id
            ),
            Err(_) => {}
        }
        Ok(result?)
    }

    /// Reads the XDP program's per-queue counters into the metrics.
    fn sample(port: &Mutex<AfXdpPort>, metrics: &Metrics, queues: u16) {
        let port = lock(port);
        for q in 0..queues {
            let (Ok(c), Some(m)) = (port.xdp_counters(q), metrics.queue(q)) else {
                continue;
            };
            m.set_xdp(XdpCounter::Redirected, c.redirected);
            m.set_xdp(XdpCounter::Passed, c.passed);
            m.set_xdp(XdpCounter::RedirectFailed, c.dropped);
            m.set_xdp(XdpCounter::Aborted, c.aborted);
        }
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints the AF_XDP counters of each queue (after the report).
    pub fn print_counters(metrics: &Metrics) {
        if !metrics.has_xdp() {
            return;
        }
        for (i, q) in metrics.queues().iter().enumerate() {
            println!(
                "  queue {i} AF_XDP: xdp redirected {} passed {} redirect-failed {}; xsk rx-ring-full \
                 {} fill-ring-empty {} rx-dropped {} invalid-descs {} tx-wakeups {}",
                q.xdp(XdpCounter::Redirected),
                q.xdp(XdpCounter::Passed),
                q.xdp(XdpCounter::RedirectFailed),
                q.xdp(XdpCounter::RxRingFull),
                q.xdp(XdpCounter::FillRingEmpty),
                q.xdp(XdpCounter::RxDropped),
                q.xdp(XdpCounter::InvalidDescs),
                q.xdp(XdpCounter::TxWakeups),
            );
        }
    }

    /// The port as the runtime sees it: shared with the sampler thread, its queues wrapped to
    /// publish their socket statistics.
    #[derive(Debug)]
    pub struct ServedPort {
        port: Arc<Mutex<AfXdpPort>>,
        name: String,
        mac: MacAddr,
        caps: Capabilities,
        metrics: Arc<Metrics>,
    }

    impl ServedPort {
        /// Wraps `port`, publishing into `metrics`.
        pub fn new(port: AfXdpPort, metrics: Arc<Metrics>) -> ServedPort {
            ServedPort {
                name: port.name().to_string(),
                mac: port.mac(),
                caps: port.capabilities(),
                port: Arc::new(Mutex::new(port)),
                metrics,
            }
        }
    }

    impl Port for ServedPort {
        type Queue = MeteredQueue;

        fn name(&self) -> &str {
            &self.name
        }

        fn mac(&self) -> MacAddr {
            self.mac
        }

        fn capabilities(&self) -> Capabilities {
            self.caps
        }

        fn open_queue(&mut self, id: u16) -> Result<MeteredQueue, PortError> {
            let inner = lock(&self.port).open_queue(id)?;
            Ok(MeteredQueue {
                inner,
                metrics: Arc::clone(&self.metrics),
            })
        }
    }

    /// An [`AfXdpQueue`] whose `stats()` (which the runtime calls every publish interval, on
    /// the queue's thread) also publishes the socket's `XDP_STATISTICS` and ring counters.
    #[derive(Debug)]
    pub struct MeteredQueue {
        inner: AfXdpQueue,
        metrics: Arc<Metrics>,
    }

    impl RxQueue for MeteredQueue {
        fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
            self.inner.rx_burst(out, max)
        }
    }

    impl TxQueue for MeteredQueue {
        fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
            self.inner.tx_burst(bufs)
        }

        fn pool(&self) -> &Pool {
            self.inner.pool()
        }
    }

    impl Queue for MeteredQueue {
        fn id(&self) -> u16 {
            self.inner.id()
        }

        fn stats(&self) -> QueueStats {
            let x = self.inner.xsk_stats();
            if let Some(m) = self.metrics.queue(self.inner.id()) {
                m.set_xdp(XdpCounter::RxRingFull, x.rx_ring_full);
                m.set_xdp(XdpCounter::FillRingEmpty, x.rx_fill_ring_empty);
                m.set_xdp(XdpCounter::RxDropped, x.rx_dropped);
                m.set_xdp(
                    XdpCounter::InvalidDescs,
                    x.rx_invalid_descs + x.tx_invalid_descs,
                );
                m.set_xdp(XdpCounter::FillPoolEmpty, x.fill_pool_empty);
                m.set_xdp(XdpCounter::TxWakeups, x.tx_wakeups);
                m.set_xdp(XdpCounter::FramesInKernel, u64::from(x.frames_in_kernel));
            }
            x.queue
        }
    }

    impl QueueWait for MeteredQueue {
        fn wait(&mut self, timeout: Duration) {
            let _ = self.inner.wait(timeout);
        }
    }
}
