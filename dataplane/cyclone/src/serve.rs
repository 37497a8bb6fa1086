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
    let result = serve_backend(&config, stop, metrics);
    done.store(true, Ordering::Relaxed);
    if let Some(Ok(handle)) = live {
        let _ = handle.join();
        eprintln!();
    }
    let report = result?;
    print_report(&report);
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
        // TODO(lead): open a `cyclone_afxdp` port on `config.iface` with `config.queues`
        // queues, `impl QueueWait` for its queue (poll(2) on the socket when need_wakeup is
        // set), and call `serve_with_metrics(port, config, stop, metrics)`.
        #[cfg(feature = "afxdp")]
        Backend::Afxdp => Err(CliError::NotWired(Backend::Afxdp)),
        // TODO(lead): the same with a `cyclone_dpdk` port (EAL arguments from the config).
        #[cfg(feature = "dpdk")]
        Backend::Dpdk => Err(CliError::NotWired(Backend::Dpdk)),
        #[allow(unreachable_patterns, reason = "every backend may be built in")]
        other => Err(CliError::Config(ConfigError::BackendNotBuilt {
            backend: other,
            feature: other.feature().unwrap_or("none"),
        })),
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
