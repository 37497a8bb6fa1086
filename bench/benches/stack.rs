//! Stack benchmarks (issue 3), ratios in the same run, on the lean two-host lab of
//! `cyclone_bench::stack_lab` (memory link, MTU 1500, no latency, unlimited bandwidth, wall
//! clock):
//!
//! - `tcp_bulk/{cyclone,cyclone-ack-per-burst,smoltcp}`: one connection, the client sends
//!   16 MiB per iteration, the server reads and discards; throughput in bytes (criterion
//!   prints GiB/s; × 8.59 = Gbit/s). Both stacks: 256 KiB buffers, software checksums,
//!   timestamps, no Nagle, CUBIC. `cyclone` acknowledges every second segment (RFC 5681),
//!   `cyclone-ack-per-burst` once per receive burst (`TcpConfig::ack_per_burst`), as smoltcp
//!   does once per poll.
//! - `http_keepalive/{1,64}`: `GET /health` (`200 ok`) on 1 or 64 keep-alive connections, one
//!   outstanding request per connection, against `HttpService`; throughput in requests.
//!
//! Run: `cargo bench -p cyclone-bench --bench stack -- --warm-up-time 1 --measurement-time 3`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyclone_bench::stack_lab::smoltcp_peer::SmolBulk;
use cyclone_bench::stack_lab::{Clocking, CycloneBulk, HttpKeepAlive};

/// Bytes per bulk iteration.
const BULK_BYTES: u64 = 16 * 1024 * 1024;

fn tcp_bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_bulk");
    group.throughput(Throughput::Bytes(BULK_BYTES));
    let mut cyclone = CycloneBulk::new(Clocking::Wall);
    group.bench_function("cyclone", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| cyclone.transfer(BULK_BYTES)).sum())
    });
    // One ACK per receive burst (`TcpConfig::ack_per_burst`), smoltcp's ACK rate.
    let mut burst = CycloneBulk::with_ack_per_burst(Clocking::Wall, true);
    group.bench_function("cyclone-ack-per-burst", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| burst.transfer(BULK_BYTES)).sum())
    });
    let mut smoltcp = SmolBulk::new(Clocking::Wall);
    group.bench_function("smoltcp", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| smoltcp.transfer(BULK_BYTES)).sum())
    });
    group.finish();
    eprintln!(
        "tcp_bulk loop counters: cyclone {:?}; cyclone-ack-per-burst {:?}; smoltcp {:?}",
        cyclone.stats, burst.stats, smoltcp.stats
    );
}

fn http_keepalive(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_keepalive");
    for (conns, per_conn) in [(1usize, 2000u64), (64, 32)] {
        let mut lab = HttpKeepAlive::new(Clocking::Wall, conns);
        group.throughput(Throughput::Elements(conns as u64 * per_conn));
        group.bench_with_input(BenchmarkId::from_parameter(conns), &per_conn, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| lab.run(n)).sum::<Duration>())
        });
        eprintln!(
            "http_keepalive/{conns}: {} responses, {} server connections, loop {:?}",
            lab.responses,
            lab.server_connections(),
            lab.stats
        );
    }
    group.finish();
}

criterion_group!(benches, tcp_bulk, http_keepalive);
criterion_main!(benches);
