//! (b) `net_null` forwarding for a second through `cyclone_dpdk::forward`, then the pool is
//! whole again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cyclone_dpdk::{
    forward, DpdkPort, Eal, EalConfig, FwdMode, FwdStats, MbufPool, MbufPoolConfig, PortConfig,
};
use cyclone_pmd::Queue;

#[test]
fn null_pair_forwards_for_a_second() {
    skip_unless_ready!("net_null");
    let eal = Eal::init(&EalConfig::parse(
        "-l 0 --no-pci --vdev net_null0 --vdev net_null1",
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
    let mut qa = a.queue(0).expect("queue");
    let mut qb = b.queue(0).expect("queue");
    let stop = AtomicBool::new(false);
    let stats = FwdStats::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            forward(&mut qa, &mut qb, FwdMode::MacSwap, &stop, &stats);
            // Give this thread's cached frames back now, not at thread exit.
            p.flush_thread_cache();
        });
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
    });
    let (rx, tx, dropped) = stats.snapshot();
    println!("forwarded rx={rx} tx={tx} dropped={dropped} in 1 s");
    assert!(rx > 0 && tx > 0);
    assert_eq!(rx, tx + dropped);
    assert_eq!(qa.stats().rx_packets + qb.stats().rx_packets, rx);
    assert_eq!(qa.stats().tx_packets + qb.stats().tx_packets, tx);
    let eth = a.eth_stats().expect("stats");
    assert!(eth.ipackets > 0 && eth.opackets > 0);
    drop((qa, qb, a, b, pool));
    p.flush_thread_cache();
    assert_eq!(
        p.available(),
        p.capacity(),
        "every frame is back in the pool"
    );
}
