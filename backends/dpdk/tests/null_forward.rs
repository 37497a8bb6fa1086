//! (b) `net_null` forwarding for a second through `cyclone_dpdk::forward` on a worker lcore
//! (with DPDK's mempool cache in front of the pool), then the pool is whole again once that
//! lcore flushed its caches.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyclone_dpdk::{
    forward, DpdkPort, Eal, EalConfig, FwdMode, FwdStats, MbufPool, MbufPoolConfig, PortConfig,
};
use cyclone_pmd::Queue;

#[test]
fn null_pair_forwards_for_a_second() {
    skip_unless_ready!("net_null");
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        println!("SKIP: needs 2 CPUs (a worker lcore on CPU 1)");
        return;
    }
    // Forward on worker lcore 1, where DPDK's mempool cache (256, the default) is in front of
    // the pool: net_null allocates and frees mbufs one by one through it.
    let eal = Eal::init(&EalConfig::parse(
        "-l 0-1 --no-pci --vdev net_null0 --vdev net_null1",
    ))
    .expect("EAL starts");
    assert_eq!(eal.ports().len(), 2);
    let pool = MbufPool::new(
        &eal,
        MbufPoolConfig {
            frames: 2048,
            ..MbufPoolConfig::default()
        },
    )
    .expect("pool");
    let p = pool.pool().clone();
    let cfg = PortConfig {
        rx_desc: 512,
        tx_desc: 512,
        ..PortConfig::default()
    };
    let a = DpdkPort::open_with_pool(&eal, 0, &cfg, pool.clone()).expect("port 0");
    let b = DpdkPort::open_with_pool(&eal, 1, &cfg, pool.clone()).expect("port 1");
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FwdStats::default());
    let (_, workers) = eal.lcores();
    let lcore = *workers.first().expect("a worker lcore");
    let job = {
        let (mut qa, mut qb) = (a.queue(0).expect("queue"), b.queue(0).expect("queue"));
        let (stop, stats, pool) = (stop.clone(), stats.clone(), pool.clone());
        eal.launch(lcore, move || {
            forward(&mut qa, &mut qb, FwdMode::MacSwap, &stop, &stats);
            let cached = pool.dpdk_cached();
            // Give this lcore's cached frames (DPDK's cache, then Cyclone's) back now.
            pool.flush_caches();
            (qa.stats(), qb.stats(), cached, pool.dpdk_cached())
        })
        .expect("launch")
    };
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let (sa, sb, cached, after) = job.join().expect("the forwarding job");
    println!("lcore {lcore}: {cached} frames in DPDK's cache before the flush, {after} after");
    assert!(
        cached <= 256 * 3 / 2,
        "DPDK's cache holds at most 1.5 x its size"
    );
    assert_eq!(after, 0);
    let (rx, tx, dropped) = stats.snapshot();
    println!("forwarded rx={rx} tx={tx} dropped={dropped} in 1 s");
    assert!(rx > 0 && tx > 0);
    assert_eq!(rx, tx + dropped);
    assert_eq!(sa.rx_packets + sb.rx_packets, rx);
    assert_eq!(sa.tx_packets + sb.tx_packets, tx);
    let eth = a.eth_stats().expect("stats");
    assert!(eth.ipackets > 0 && eth.opackets > 0);
    drop((a, b, pool));
    p.flush_thread_cache();
    assert_eq!(
        p.available(),
        p.capacity(),
        "every frame is back in the pool"
    );
}
