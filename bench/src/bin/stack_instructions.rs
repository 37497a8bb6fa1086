//! `stack_instructions`: one deterministic run of a stack workload, for callgrind to count
//! (driven by `bench/stack/instructions.sh`, which runs each workload at two sizes and takes
//! the difference to cancel set-up).
//!
//! ```text
//! stack_instructions bulk-cyclone <bytes>        # TCP bulk, Cyclone → Cyclone
//! stack_instructions bulk-cyclone-burst <bytes>  # the same, one ACK per receive burst
//! stack_instructions bulk-smoltcp <bytes>        # TCP bulk, smoltcp → smoltcp
//! stack_instructions http <conns> <requests> [wall]  # keep-alive GET /health, per conn
//! ```
//!
//! Every lab runs on a stepped virtual clock ([`Clocking::DETERMINISTIC`]), so the count does
//! not depend on how fast valgrind runs. Count the bulk transfer with
//! `--toggle-collect='*transfer*'` and the HTTP server with `--toggle-collect='*server_side*'`.

use std::process::ExitCode;

use cyclone_bench::stack_lab::smoltcp_peer::SmolBulk;
use cyclone_bench::stack_lab::{Clocking, CycloneBulk, HttpKeepAlive};

fn arg(args: &[String], i: usize, what: &str) -> u64 {
    let Some(v) = args.get(i) else {
        panic!("stack_instructions: missing <{what}> (see the usage in the file's docs)");
    };
    v.parse()
        .unwrap_or_else(|_| panic!("stack_instructions: <{what}> must be a number, got {v:?}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(which @ ("bulk-cyclone" | "bulk-cyclone-burst")) => {
            let bytes = arg(&args, 2, "bytes");
            let per_burst = which == "bulk-cyclone-burst";
            let mut bulk = CycloneBulk::with_ack_per_burst(Clocking::DETERMINISTIC, per_burst);
            let before = bulk.frames();
            bulk.transfer(bytes);
            let after = bulk.frames();
            println!(
                "{which} {bytes} bytes; frames sent: client {}, server {}; loop {:?}",
                after[0].1 - before[0].1,
                after[1].1 - before[1].1,
                bulk.stats
            );
        }
        Some("bulk-smoltcp") => {
            let bytes = arg(&args, 2, "bytes");
            let mut bulk = SmolBulk::new(Clocking::DETERMINISTIC);
            let before = bulk.frames_sent();
            bulk.transfer(bytes);
            let after = bulk.frames_sent();
            println!(
                "bulk-smoltcp {bytes} bytes; frames sent: client {}, server {}; loop {:?}",
                after[0] - before[0],
                after[1] - before[1],
                bulk.stats
            );
        }
        Some("http") => {
            let conns = arg(&args, 2, "conns") as usize;
            let requests = arg(&args, 3, "requests");
            // A fourth argument `wall` runs on the wall clock instead (to inspect the loop).
            let mode = if args.get(4).map(String::as_str) == Some("wall") {
                Clocking::Wall
            } else {
                Clocking::DETERMINISTIC
            };
            let mut lab = HttpKeepAlive::new(mode, conns);
            let before = lab.frames();
            lab.run(requests);
            let after = lab.frames();
            let per = |i: usize, f: fn((u64, u64)) -> u64| {
                (f(after[i]) - f(before[i])) as f64 / lab.responses as f64
            };
            println!(
                "http {conns} conns x {requests} requests: {} responses; frames per request: \
                 server rx {:.2} tx {:.2}, client rx {:.2} tx {:.2}; loop {:?}",
                lab.responses,
                per(1, |f| f.0),
                per(1, |f| f.1),
                per(0, |f| f.0),
                per(0, |f| f.1),
                lab.stats
            );
        }
        _ => {
            eprintln!(
                "usage: stack_instructions bulk-cyclone <bytes> | bulk-cyclone-burst <bytes> | \
                 bulk-smoltcp <bytes> | \
                 http <conns> <requests-per-conn>"
            );
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
