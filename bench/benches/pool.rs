//! Pool benchmarks: burst alloc + free, ns per buffer, against the system allocator in the same
//! run (a `Vec<u8>` of a frame's size per packet, what a naive stack would do).
//!
//! Run: `cargo bench -p cyclone-bench --bench pool`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyclone_pmd::{PacketBuf, Pool, PoolConfig};

fn burst_alloc_free(c: &mut Criterion) {
    let pool = Pool::new(PoolConfig {
        frames: 8192,
        frame_size: 2048,
        headroom: 256,
        reserved: 0,
    })
    .unwrap();
    let mut group = c.benchmark_group("pool_burst_alloc_free");
    for burst in [1usize, 32, 256] {
        group.throughput(Throughput::Elements(burst as u64));
        let mut bufs: Vec<PacketBuf> = Vec::with_capacity(burst);
        group.bench_with_input(BenchmarkId::new("cyclone_pool", burst), &burst, |b, &n| {
            b.iter(|| {
                let got = pool.alloc_burst(&mut bufs, n);
                black_box(&bufs);
                bufs.clear();
                got
            })
        });
        let mut boxes: Vec<Vec<u8>> = Vec::with_capacity(burst);
        group.bench_with_input(
            BenchmarkId::new("system_allocator", burst),
            &burst,
            |b, &n| {
                b.iter(|| {
                    for _ in 0..n {
                        boxes.push(Vec::with_capacity(2048));
                    }
                    black_box(&boxes);
                    boxes.clear();
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, burst_alloc_free);
criterion_main!(benches);
