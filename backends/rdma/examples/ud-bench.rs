//! UD path benchmark for `bench/rdma/ud-vs-pingpong.sh`: two processes, one Cyclone RDMA port
//! each, addresses swapped over a TCP control socket.
//!
//! ```text
//! ud-bench server [--device rxe0] [--listen 127.0.0.1:18515]
//! ud-bench client [--device rxe0] [--connect 127.0.0.1:18515] [--mode pingpong|burst] [-n N] [-s SIZE]
//! ```
//! `pingpong`: the client sends one frame of SIZE bytes and waits for the server's echo, N
//! times (busy-polling both ways, like `ibv_ud_pingpong`). `burst`: the client sends N frames
//! as fast as the send queue takes them (bursts of 32); the server counts what arrives.
//! Results are one `RESULT key=value ...` line each.

use std::time::{Duration, Instant};

use cyclone_pmd::{PacketBuf, Port, RxQueue, TxQueue};
use cyclone_rdma::{exchange_connect, exchange_listen, RdmaConfig, RdmaPort, RdmaQueue};

struct Args {
    role: String,
    device: Option<String>,
    addr: String,
    mode: String,
    iters: u64,
    size: usize,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        role: it.next().unwrap_or_default(),
        device: None,
        addr: "127.0.0.1:18515".into(),
        mode: "pingpong".into(),
        iters: 1000,
        size: 64,
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--device" => a.device = Some(value),
            "--listen" | "--connect" => a.addr = value,
            "--mode" => a.mode = value,
            "-n" => a.iters = value.parse().expect("-n N"),
            "-s" => a.size = value.parse().expect("-s SIZE"),
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2);
            }
        }
    }
    if a.role != "server" && a.role != "client" {
        eprintln!("usage: ud-bench server|client [--device D] [--listen|--connect ADDR] [--mode pingpong|burst] [-n N] [-s SIZE]");
        std::process::exit(2);
    }
    a
}

fn send_one(q: &mut RdmaQueue, size: usize, stamp: u64) {
    let mut buf = q.pool().alloc().expect("pool has frames");
    let data = buf.append(size).expect("frame fits");
    data[..14].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    data[14..22].copy_from_slice(&stamp.to_be_bytes());
    let mut v = vec![buf];
    while !v.is_empty() {
        q.tx_burst(&mut v);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args();
    let config = RdmaConfig {
        device: a.device.clone(),
        ..RdmaConfig::default()
    };
    let mut port = RdmaPort::open(config)?;
    let local = port.local_addr();
    let peer = if a.role == "server" {
        exchange_listen(a.addr.parse()?, &local, |_| {})?
    } else {
        exchange_connect(a.addr.as_str(), &local, Duration::from_secs(30))?
    };
    port.connect(&peer)?;
    let mut q = port.open_queue(0)?;
    let mut got: Vec<PacketBuf> = Vec::with_capacity(64);
    // Both sides are ready once the exchange is done; give the peer a moment to open its queue.
    std::thread::sleep(Duration::from_millis(200));

    match (a.role.as_str(), a.mode.as_str()) {
        ("server", "pingpong") => {
            let mut echoed = 0;
            while echoed < a.iters {
                q.rx_burst(&mut got, 32);
                echoed += got.len() as u64;
                while !got.is_empty() {
                    q.tx_burst(&mut got);
                }
            }
            println!("RESULT role=server mode=pingpong echoed={echoed}");
        }
        ("client", "pingpong") => {
            let start = Instant::now();
            let mut rtts = Vec::with_capacity(a.iters as usize);
            for i in 0..a.iters {
                let t = Instant::now();
                send_one(&mut q, a.size, i);
                let deadline = t + Duration::from_secs(5);
                while got.is_empty() {
                    q.rx_burst(&mut got, 1);
                    if Instant::now() > deadline {
                        return Err(format!("no echo for frame {i} within 5 s").into());
                    }
                }
                got.clear();
                rtts.push(t.elapsed());
            }
            let total = start.elapsed();
            rtts.sort();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "RESULT role=client mode=pingpong iters={} size={} total_s={:.3} usec_per_iter={:.1} p50_rtt_us={:.1} p99_rtt_us={:.1} msg_per_s={:.0}",
                a.iters,
                a.size,
                total.as_secs_f64(),
                us(total) / a.iters as f64,
                us(rtts[rtts.len() / 2]),
                us(rtts[rtts.len() * 99 / 100]),
                a.iters as f64 / total.as_secs_f64()
            );
        }
        ("server", "burst") => {
            let mut first = None;
            let mut last = Instant::now();
            let mut n = 0u64;
            let mut idle_since = Instant::now();
            while n < a.iters {
                let k = q.rx_burst(&mut got, 64);
                got.clear();
                let now = Instant::now();
                if k > 0 {
                    first.get_or_insert(now);
                    last = now;
                    n += k as u64;
                    idle_since = now;
                } else {
                    // Stop 2 s after the last frame, or after 30 s if none ever came.
                    let patience = if first.is_some() { 2 } else { 30 };
                    if now - idle_since > Duration::from_secs(patience) {
                        break;
                    }
                }
            }
            let secs = first.map_or(0.0, |f| (last - f).as_secs_f64());
            println!(
                "RESULT role=server mode=burst received={n} of={} secs={secs:.3} rx_mpps={:.4} lost={}",
                a.iters,
                n as f64 / secs.max(1e-9) / 1e6,
                a.iters - n.min(a.iters)
            );
        }
        ("client", "burst") => {
            let start = Instant::now();
            let mut sent = 0u64;
            let mut out = Vec::with_capacity(32);
            while sent < a.iters {
                let want = 32.min(a.iters - sent) as usize;
                while out.len() < want {
                    let Some(mut buf) = q.pool().alloc() else {
                        break;
                    };
                    let data = buf.append(a.size).expect("frame fits");
                    data[..14].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
                    out.push(buf);
                }
                sent += q.tx_burst(&mut out) as u64;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "RESULT role=client mode=burst sent={sent} size={} secs={secs:.3} tx_mpps={:.4}",
                a.size,
                sent as f64 / secs / 1e6
            );
            std::thread::sleep(Duration::from_millis(500));
            q.reap();
        }
        (_, mode) => return Err(format!("unknown mode `{mode}`").into()),
    }
    Ok(())
}
