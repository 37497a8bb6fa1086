//! rx-drop: receives on one AF_XDP queue, counts and drops, printing packets per second.
//!
//! ```text
//! rxdrop <ifname> <ipv4> [--queue Q] [--seconds N] [--mode poll|busy] [--batch B]
//!        [--ring R] [--frames F]
//! ```
//! Prints `rx_pps <n>` once a second and, at the end, `median_pps <n>` over the seconds
//! between the first and last non-zero ones. Run it in the interface's namespace
//! (`ip netns exec`), pinned with `taskset`; see `bench/afxdp/rxdrop-vs-testpmd.sh`.

use std::time::{Duration, Instant};

use cyclone_afxdp::{AfXdpConfig, AfXdpPort};
use cyclone_pmd::{Port, RxQueue};

fn main() {
    if let Err(e) = run() {
        eprintln!("rxdrop: {e}");
        let mut src = std::error::Error::source(e.as_ref());
        while let Some(s) = src {
            eprintln!("  caused by: {s}");
            src = s.source();
        }
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: rxdrop <ifname> <ipv4> [--queue Q] [--seconds N] [--mode poll|busy] [--batch B]";
    let ifname = args.next().ok_or(usage)?;
    let addr = args.next().ok_or(usage)?.parse()?;
    let (mut queue, mut seconds, mut busy, mut batch) = (0u16, 10u64, false, 64usize);
    let mut config = AfXdpConfig::new(ifname, vec![addr]);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(usage)?;
        match flag.as_str() {
            "--queue" => queue = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--mode" => busy = value == "busy",
            "--batch" => batch = value.parse()?,
            "--ring" => {
                config.socket.rx_size = value.parse()?;
                config.socket.fill_size = config.socket.rx_size;
            }
            "--frames" => config.socket.pool.frames = value.parse()?,
            _ => return Err(usage.into()),
        }
    }
    let mut port = AfXdpPort::open(config)?;
    let mut q = port.open_queue(queue)?;
    eprintln!(
        "rxdrop: queue {queue}, zero_copy={}, mode={}",
        q.is_zero_copy(),
        if busy { "busy" } else { "poll" }
    );
    let mut bufs = Vec::with_capacity(batch);
    let start = Instant::now();
    let mut next = start + Duration::from_secs(1);
    let (mut count, mut rates) = (0u64, Vec::new());
    while start.elapsed() < Duration::from_secs(seconds) {
        let n = q.rx_burst(&mut bufs, batch);
        count += n as u64;
        bufs.clear(); // drop: frames go back to the pool
        if n == 0 && !busy {
            q.wait(Duration::from_millis(100))?;
        }
        let now = Instant::now();
        if now >= next {
            println!("rx_pps {count}");
            rates.push(count);
            count = 0;
            next += Duration::from_secs(1);
        }
    }
    let first = rates.iter().position(|&r| r > 0);
    let last = rates.iter().rposition(|&r| r > 0);
    let mut steady: Vec<u64> = match (first, last) {
        (Some(f), Some(l)) if l > f + 1 => rates[f + 1..l].to_vec(),
        (Some(f), Some(l)) => rates[f..=l].to_vec(),
        _ => vec![0],
    };
    steady.sort_unstable();
    println!("median_pps {}", steady[steady.len() / 2]);
    // CPU time of this process (utime + stime, fields 14 and 15 of /proc/self/stat, in ticks
    // of 1/100 s), to compare busy-polling with poll() waiting.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        println!(
            "cpu_percent {:.0}",
            ticks as f64 / start.elapsed().as_secs_f64()
        );
    }
    let s = q.xsk_stats();
    eprintln!("rxdrop: {s:?}");
    eprintln!("rxdrop: xdp {:?}", port.xdp_counters(queue)?);
    Ok(())
}
