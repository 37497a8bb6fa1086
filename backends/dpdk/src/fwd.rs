//! The L2 forwarder: receive a burst on one queue, optionally swap the MAC addresses, transmit
//! it on the other, both ways, until told to stop. Generic over [`cyclone_pmd::Queue`]; [`run`]
//! drives it over DPDK ports the way `dpdk-testpmd --forward-mode=io|macswap` does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclone_pmd::{PacketBuf, Queue, RxQueue, TxQueue};

use crate::eal::{Eal, EalConfig};
use crate::error::{DpdkError, Result};
use crate::pool::{MbufPool, MbufPoolConfig};
use crate::port::{DpdkPort, PortConfig};

/// Frames per receive burst, as testpmd's default.
pub const BURST: usize = 32;

/// What the forwarder does to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FwdMode {
    /// Forward as is.
    #[default]
    Io,
    /// Swap the source and destination MAC addresses.
    MacSwap,
}

impl std::str::FromStr for FwdMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "io" => Ok(FwdMode::Io),
            "macswap" => Ok(FwdMode::MacSwap),
            _ => Err(format!("unknown forwarding mode `{s}`: use io or macswap")),
        }
    }
}

/// Forwarding counters, written by one forwarding thread, readable from any thread.
#[derive(Debug, Default)]
pub struct FwdStats {
    /// Frames received (both directions).
    pub rx: AtomicU64,
    /// Frames transmitted.
    pub tx: AtomicU64,
    /// Frames the transmit queue did not take (dropped).
    pub dropped: AtomicU64,
}

impl FwdStats {
    /// Adds a burst's counts. One forwarding thread writes a `FwdStats` (others only read), so
    /// plain load-and-store is enough and avoids a locked instruction per counter per burst.
    #[inline]
    fn add(&self, rx: usize, tx: usize, dropped: usize) {
        let bump = |c: &AtomicU64, n: usize| {
            if n > 0 {
                c.store(c.load(Ordering::Relaxed) + n as u64, Ordering::Relaxed);
            }
        };
        bump(&self.rx, rx);
        bump(&self.tx, tx);
        bump(&self.dropped, dropped);
    }

    /// `(rx, tx, dropped)` now.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.rx.load(Ordering::Relaxed),
            self.tx.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// One burst from `rx` to `tx`; returns how many frames were received.
#[inline]
fn step<R: RxQueue + ?Sized, T: TxQueue + ?Sized>(
    rx: &mut R,
    tx: &mut T,
    burst: &mut Vec<PacketBuf>,
    mode: FwdMode,
    stats: &FwdStats,
) -> usize {
    let n = rx.rx_burst(burst, BURST);
    if n == 0 {
        return 0;
    }
    if mode == FwdMode::MacSwap {
        for b in burst.iter_mut() {
            if let Some(hdr) = b.data_mut().get_mut(..12) {
                let (dst, src) = hdr.split_at_mut(6);
                dst.swap_with_slice(src);
            }
        }
    }
    let sent = tx.tx_burst(burst);
    let dropped = burst.len();
    burst.clear(); // what the device did not take goes back to the pool
    stats.add(n, sent, dropped);
    n
}

/// Forwards between `a` and `b` (a→b and b→a) until `stop` is set.
pub fn forward<Q: Queue>(a: &mut Q, b: &mut Q, mode: FwdMode, stop: &AtomicBool, stats: &FwdStats) {
    let mut burst = Vec::with_capacity(2 * BURST);
    while !stop.load(Ordering::Relaxed) {
        step(a, b, &mut burst, mode, stats);
        step(b, a, &mut burst, mode, stats);
    }
}

/// Forwards what `q` receives back out of `q` until `stop` is set (a port and itself).
pub fn forward_loop<Q: Queue>(q: &mut Q, mode: FwdMode, stop: &AtomicBool, stats: &FwdStats) {
    let mut burst = Vec::with_capacity(2 * BURST);
    while !stop.load(Ordering::Relaxed) {
        let n = q.rx_burst(&mut burst, BURST);
        if n == 0 {
            continue;
        }
        // Receive and transmit on one queue: split the borrow through a second buffer list.
        if mode == FwdMode::MacSwap {
            for b in burst.iter_mut() {
                if let Some(hdr) = b.data_mut().get_mut(..12) {
                    let (dst, src) = hdr.split_at_mut(6);
                    dst.swap_with_slice(src);
                }
            }
        }
        let sent = q.tx_burst(&mut burst);
        let dropped = burst.len();
        burst.clear();
        stats.add(n, sent, dropped);
    }
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct FwdConfig {
    /// EAL arguments.
    pub eal: EalConfig,
    /// io or macswap.
    pub mode: FwdMode,
    /// How long to run; 0: until stopped ([`run_until`]'s flag).
    pub seconds: u64,
    /// Frames in the shared pool (testpmd's `--total-num-mbufs`).
    pub frames: u32,
    /// DPDK mempool cache size in front of the pool (see [`MbufPoolConfig::dpdk_cache`]).
    pub dpdk_cache: u32,
    /// Frame size, 2048 or 4096.
    pub frame_size: u32,
}

/// The outcome of [`run`].
#[derive(Debug, Clone, Default)]
pub struct FwdSummary {
    /// The ports forwarded between (one name twice for a port and itself).
    pub ports: Vec<String>,
    /// Frames received, transmitted and dropped.
    pub rx: u64,
    /// Frames transmitted.
    pub tx: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Received frames per second, in millions, for each whole second.
    pub mpps: Vec<f64>,
    /// Elapsed time.
    pub elapsed: Duration,
}

impl FwdSummary {
    /// Median of the per-second rates, leaving out the first second (warm-up).
    pub fn median_mpps(&self) -> f64 {
        let mut v: Vec<f64> = self.mpps.iter().skip(1).copied().collect();
        if v.is_empty() {
            v = self.mpps.clone();
        }
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
}

/// Starts the EAL, opens ports 0 and 1 (or port 0 alone) over one shared pool, and forwards on
/// one worker lcore (a plain thread if there is none) for `seconds`, calling `each_second`
/// with the second's number and its Mpps.
pub fn run(config: &FwdConfig, each_second: impl FnMut(u64, f64)) -> Result<FwdSummary> {
    run_until(config, &AtomicBool::new(false), each_second)
}

/// [`run`], ending early when `stop` is set (a SIGINT handler's flag), checked every 50 ms;
/// with `seconds == 0` it runs until then. A last partial second is not reported.
pub fn run_until(
    config: &FwdConfig,
    stop_flag: &AtomicBool,
    mut each_second: impl FnMut(u64, f64),
) -> Result<FwdSummary> {
    let eal = Eal::init(&config.eal)?;
    let ports = eal.ports();
    if ports.is_empty() {
        return Err(DpdkError::NoPorts);
    }
    let pool = MbufPool::new(
        &eal,
        MbufPoolConfig {
            frames: config.frames,
            dpdk_cache: config.dpdk_cache,
            frame_size: config.frame_size,
        },
    )?;
    let port_cfg = PortConfig {
        rx_desc: 512,
        tx_desc: 512,
        ..PortConfig::default()
    };
    let a = DpdkPort::open_with_pool(&eal, ports[0].id, &port_cfg, pool.clone())?;
    let b = match ports.get(1) {
        Some(p) => Some(DpdkPort::open_with_pool(
            &eal,
            p.id,
            &port_cfg,
            pool.clone(),
        )?),
        None => None,
    };
    let mut names = vec![ports[0].name.clone()];
    names.push(ports.get(1).unwrap_or(&ports[0]).name.clone());
    let qa = a.queue(0)?;
    let qb = match &b {
        Some(b) => Some(b.queue(0)?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FwdStats::default());
    let mode = config.mode;
    let work = {
        let (stop, stats, pool) = (stop.clone(), stats.clone(), pool.clone());
        move || {
            let mut qa = qa;
            match qb {
                Some(mut qb) => forward(&mut qa, &mut qb, mode, &stop, &stats),
                None => forward_loop(&mut qa, mode, &stop, &stats),
            }
            // What this lcore cached (DPDK's mempool cache, Cyclone's thread cache) goes back.
            pool.flush_caches();
        }
    };
    let start = Instant::now();
    let mut mpps = Vec::new();
    let mut report = |stop: &AtomicBool| {
        let mut last = stats.snapshot().0;
        let mut tick = start;
        let mut s = 0;
        while config.seconds == 0 || s < config.seconds {
            s += 1;
            let next = start + Duration::from_secs(s);
            while !stop_flag.load(Ordering::Relaxed) && Instant::now() < next {
                let left = next.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
            if stop_flag.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            let rx = stats.snapshot().0;
            let rate = (rx - last) as f64 / now.duration_since(tick).as_secs_f64() / 1e6;
            each_second(s, rate);
            mpps.push(rate);
            last = rx;
            tick = now;
        }
        stop.store(true, Ordering::Relaxed);
    };
    let (_, workers) = eal.lcores();
    match workers.first() {
        Some(&lcore) => {
            let job = eal.launch(lcore, work)?;
            report(&stop);
            job.join()?;
        }
        // No worker lcore (`-l 0`): forward on a plain thread, report from this one.
        None => std::thread::scope(|s| {
            s.spawn(work);
            report(&stop);
        }),
    }
    let elapsed = start.elapsed();
    let (rx, tx, dropped) = stats.snapshot();
    drop((a, b));
    Ok(FwdSummary {
        ports: names,
        rx,
        tx,
        dropped,
        mpps,
        elapsed,
    })
}
