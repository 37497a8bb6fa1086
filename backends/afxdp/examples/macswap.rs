//! macswap: receives on one AF_XDP queue, swaps the Ethernet addresses in place and sends each
//! frame back out of the same queue (zero-copy within the process: the received frame is the
//! transmitted one). Prints forwarded packets per second.
//!
//! ```text
//! macswap <ifname> <ipv4> [--queue Q] [--seconds N] [--mode poll|busy] [--batch B]
//! ```

use std::time::{Duration, Instant};

use cyclone_afxdp::{AfXdpConfig, AfXdpPort};
use cyclone_pmd::{Port, RxQueue, TxQueue};

fn main() {
    if let Err(e) = run() {
        eprintln!("macswap: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: macswap <ifname> <ipv4> [--queue Q] [--seconds N] [--mode poll|busy] [--batch B]";
    let ifname = args.next().ok_or(usage)?;
    let addr = args.next().ok_or(usage)?.parse()?;
    let (mut queue, mut seconds, mut busy, mut batch) = (0u16, 10u64, false, 64usize);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(usage)?;
        match flag.as_str() {
            "--queue" => queue = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--mode" => busy = value == "busy",
            "--batch" => batch = value.parse()?,
            _ => return Err(usage.into()),
        }
    }
    let mut port = AfXdpPort::open(AfXdpConfig::new(ifname, vec![addr]))?;
    let mut q = port.open_queue(queue)?;
    let mut bufs = Vec::with_capacity(batch);
    let start = Instant::now();
    let mut next = start + Duration::from_secs(1);
    let (mut fwd, mut dropped) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs(seconds) {
        let n = q.rx_burst(&mut bufs, batch);
        for b in &mut bufs {
            let d = b.data_mut();
            if d.len() >= 12 {
                let (dst, src) = d[..12].split_at_mut(6);
                dst.swap_with_slice(src);
            }
        }
        fwd += q.tx_burst(&mut bufs) as u64;
        dropped += bufs.len() as u64; // TX ring full: drop rather than stall RX
        bufs.clear();
        if n == 0 {
            q.flush();
            if !busy {
                q.wait(Duration::from_millis(100))?;
            }
        }
        if Instant::now() >= next {
            println!("fwd_pps {fwd} tx_full_drops {dropped}");
            fwd = 0;
            dropped = 0;
            next += Duration::from_secs(1);
        }
    }
    eprintln!("macswap: {:?}", q.xsk_stats());
    Ok(())
}
