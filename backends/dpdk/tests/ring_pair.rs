//! (a) Two `net_ring` ports: frames built by hand go out of port 0 and come back in on it (a
//! `net_ring` port's TX ring is its RX ring), then go out of port 1 and come back in on it,
//! byte-exact and in the same frames (zero copy); the mbufs sit exactly in the pool's frames;
//! the pool is back to its starting free count afterwards.

mod common;

use cyclone_dpdk::{DpdkPort, Eal, EalConfig, MbufPool, MbufPoolConfig, PortConfig};
use cyclone_pmd::{Port, Queue, RxQueue, TxQueue};

#[test]
fn ring_pair_exchanges_frames_without_copy() {
    skip_unless_ready!("net_ring");
    let eal = Eal::init(&EalConfig::parse(
        "-l 0 --no-pci --vdev net_ring0 --vdev net_ring1",
    ))
    .expect("EAL starts");

    let pool = MbufPool::new(
        &eal,
        MbufPoolConfig {
            frames: 2048,
            frame_size: 2048,
            ..Default::default() // with DPDK's mempool cache: flushed before counting
        },
    )
    .expect("pool");
    let p = pool.pool().clone();
    // Object i of the mempool is frame i: the mbuf after the 64-byte object header, shifted by
    // its cache colour.
    let base = p.region_base().as_ptr() as usize;
    let addrs = pool.mbuf_addresses();
    assert_eq!(addrs.len(), p.capacity());
    for (i, a) in addrs.iter().enumerate() {
        let off = cyclone_dpdk::pool::mbuf_offset(2048, i as u32);
        assert!((64..=cyclone_dpdk::pool::reserved(2048) as usize - 128).contains(&off));
        assert_eq!(*a, base + i * 2048 + off, "mbuf {i} is not in frame {i}");
    }
    pool.flush_caches();
    let start = p.available();
    assert_eq!(start, p.capacity());
    assert_eq!(pool.dpdk_avail_count() as usize, start);

    let cfg = PortConfig {
        rx_desc: 256,
        tx_desc: 256,
        ..PortConfig::default()
    };
    let mut a = DpdkPort::open_with_pool(&eal, "net_ring0", &cfg, pool.clone()).expect("port 0");
    let mut b = DpdkPort::open_with_pool(&eal, "net_ring1", &cfg, pool.clone()).expect("port 1");
    assert_eq!(a.name(), "net_ring0");
    assert!(a.link().expect("link").up);
    println!("capabilities: {:?}", a.capabilities());
    let mut qa = a.open_queue(0).expect("queue 0 of port 0");
    let mut qb = b.open_queue(0).expect("queue 0 of port 1");
    assert!(a.open_queue(0).is_err(), "a queue opens once");

    // A burst of frames of various sizes, built by hand.
    let sizes = [60usize, 64, 128, 511, 1000, 1514];
    let mut out = Vec::new();
    let mut sent_frames = Vec::new();
    for i in 0..32u32 {
        let mut buf = qa.pool().alloc().expect("a free frame");
        buf.extend_from_slice(&common::frame(i, sizes[i as usize % sizes.len()]))
            .expect("fits");
        sent_frames.push(buf.frame_index());
        out.push(buf);
    }
    let expected = common::bytes(&out);
    let sent = qa.tx_burst(&mut out);
    assert_eq!(sent, 32);
    assert!(out.is_empty());

    let mut got = Vec::new();
    qa.rx_burst(&mut got, 64);
    assert_eq!(
        common::bytes(&got),
        expected,
        "frames arrive byte-exact and in order"
    );
    let got_frames: Vec<u32> = got.iter().map(|b| b.frame_index()).collect();
    assert_eq!(
        got_frames, sent_frames,
        "the same frames: no copy on the way"
    );
    assert_eq!(qa.stats().tx_packets, 32);
    assert_eq!(qa.stats().rx_packets, 32);
    assert_eq!(
        qa.stats().rx_bytes,
        expected.iter().map(|f| f.len() as u64).sum::<u64>()
    );

    // On to port 1, MAC addresses swapped as a forwarder would, and back in on it.
    for buf in &mut got {
        let d = buf.data_mut();
        let (dst, src) = d.split_at_mut(6);
        dst.swap_with_slice(&mut src[..6]);
    }
    let expected = common::bytes(&got);
    assert_eq!(qb.tx_burst(&mut got), 32);
    let mut back = Vec::new();
    qb.rx_burst(&mut back, 64);
    assert_eq!(common::bytes(&back), expected);
    assert_eq!(&back[0].data()[..6], &[0x02, 0xcc, 0, 0, 0, 2]);
    let eth = b.eth_stats().expect("stats");
    assert_eq!((eth.ipackets, eth.opackets), (32, 32));
    println!("port 1 xstats: {:?}", b.xstats().expect("xstats"));

    drop((back, got));
    pool.flush_caches();
    assert_eq!(p.available(), start, "every frame is back in the pool");

    // A full device: net_ring's ring holds 1023 frames, the rest stay with the caller, in
    // order, in their own frames, with their data.
    let mut many = Vec::new();
    qa.pool().alloc_burst(&mut many, 1100);
    assert_eq!(many.len(), 1100);
    for (i, b) in many.iter_mut().enumerate() {
        b.extend_from_slice(&common::frame(i as u32, 64))
            .expect("fits");
    }
    let frames: Vec<u32> = many.iter().map(|b| b.frame_index()).collect();
    let taken = qa.tx_burst(&mut many);
    println!("the ring took {taken} of 1100");
    assert!(taken < 1100 && taken > 0);
    assert_eq!(many.len(), 1100 - taken);
    let left: Vec<u32> = many.iter().map(|b| b.frame_index()).collect();
    assert_eq!(
        left,
        frames[taken..],
        "the rest stays with the caller, in order"
    );
    assert_eq!(many[0].data(), &common::frame(taken as u32, 64)[..]);
    assert_eq!(qa.stats().tx_full, (1100 - taken) as u64);
    drop(many);
    let mut drained = Vec::new();
    while qa.rx_burst(&mut drained, 64) > 0 {
        drained.clear();
    }
    pool.flush_caches();
    assert_eq!(p.available(), start, "every frame is back in the pool");

    drop((qa, qb, a, b, pool));
    p.flush_thread_cache(); // the mempool flushed DPDK's caches when it went
    assert_eq!(
        p.available(),
        start,
        "closing the ports gives nothing extra back"
    );
}
