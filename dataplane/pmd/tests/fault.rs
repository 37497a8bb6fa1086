//! The fault injector: transparent at probability 0, faults at their configured rates,
//! deterministic per seed, reordering that never loses or invents frames, one-bit corruption.

use std::collections::VecDeque;

use cyclone_pmd::fault::{Direction, FaultConfig, FaultConfigError, FaultInjector, FaultStats};
use cyclone_pmd::{PacketBuf, Pool, PoolConfig, PortError, Queue, QueueStats, RxQueue, TxQueue};
use proptest::prelude::*;

/// A queue driven by the test: frames pushed to `incoming` are received, frames transmitted are
/// recorded in `sent`; it takes at most `tx_room` frames per burst.
struct ScriptQueue {
    pool: Pool,
    incoming: VecDeque<PacketBuf>,
    sent: Vec<Vec<u8>>,
    tx_room: usize,
    stats: QueueStats,
}

impl ScriptQueue {
    fn new(frames: u32) -> ScriptQueue {
        let pool = Pool::new(PoolConfig {
            frames,
            ..PoolConfig::default()
        })
        .expect("pool");
        ScriptQueue {
            pool,
            incoming: VecDeque::new(),
            sent: Vec::new(),
            tx_room: usize::MAX,
            stats: QueueStats::default(),
        }
    }

    fn push(&mut self, frame: &[u8]) {
        let mut buf = self.pool.alloc().expect("script pool has a buffer");
        buf.extend_from_slice(frame).expect("fits");
        self.incoming.push_back(buf);
    }
}

impl RxQueue for ScriptQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let n = max.min(self.incoming.len());
        for buf in self.incoming.drain(..n) {
            self.stats.count_rx(buf.len());
            out.push(buf);
        }
        n
    }
}

impl TxQueue for ScriptQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        let n = self.tx_room.min(bufs.len());
        for buf in bufs.drain(..n) {
            self.stats.count_tx(buf.len());
            self.sent.push(buf.data().to_vec());
        }
        self.stats.tx_full += (bufs.len()) as u64;
        n
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Queue for ScriptQueue {
    fn id(&self) -> u16 {
        7
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }
}

/// Frame `i`: a 64-byte frame whose first four bytes are `i` and the rest derived from it.
fn frame(i: u32) -> Vec<u8> {
    let mut f: Vec<u8> = (0..64u32)
        .map(|j| (j.wrapping_mul(7) ^ i.wrapping_mul(13)) as u8)
        .collect();
    f[..4].copy_from_slice(&i.to_be_bytes());
    f
}

fn frames(n: u32) -> Vec<Vec<u8>> {
    (0..n).map(frame).collect()
}

fn injector(config: FaultConfig) -> FaultInjector<ScriptQueue> {
    FaultInjector::new(ScriptQueue::new(512), config).expect("valid config")
}

/// Feeds `input` to the wrapped queue `burst` frames at a time, receiving through the injector
/// after each until it has nothing more.
fn drive_rx(inj: &mut FaultInjector<ScriptQueue>, input: &[Vec<u8>], burst: usize) -> Vec<Vec<u8>> {
    let mut output = Vec::new();
    let mut bufs = Vec::new();
    for chunk in input.chunks(burst.max(1)) {
        for f in chunk {
            inj.inner_mut().push(f);
        }
        // Poll until a poll returns nothing with nothing held: a poll that only brought frames
        // to hold back returns 0 too, and the next, idle, poll releases them.
        loop {
            let n = inj.rx_burst(&mut bufs, 32);
            output.extend(bufs.drain(..).map(|b| b.data().to_vec()));
            if n == 0 && inj.pending() == 0 {
                break;
            }
        }
    }
    assert_eq!(inj.pending(), 0, "frames left behind");
    output
}

/// Sends `input` through the injector `burst` frames at a time, then an empty burst to let
/// held frames go; returns what reached the device.
fn drive_tx(inj: &mut FaultInjector<ScriptQueue>, input: &[Vec<u8>], burst: usize) -> Vec<Vec<u8>> {
    for chunk in input.chunks(burst.max(1)) {
        let mut bufs: Vec<PacketBuf> = chunk
            .iter()
            .map(|f| {
                let mut b = inj.pool().alloc().expect("buffer");
                b.extend_from_slice(f).expect("fits");
                b
            })
            .collect();
        assert_eq!(inj.tx_burst(&mut bufs), chunk.len());
    }
    assert_eq!(inj.tx_burst(&mut Vec::new()), 0);
    assert_eq!(inj.pending(), 0, "frames left behind");
    std::mem::take(&mut inj.inner_mut().sent)
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// Whether `count` events out of `n` trials is within five standard deviations of `n * p`.
fn near_rate(count: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= 5.0 * sd + 1.0
}

#[test]
fn zero_probabilities_are_transparent() {
    let input = frames(1000);
    let mut inj = injector(FaultConfig {
        seed: 42,
        ..FaultConfig::default()
    });
    assert_eq!(drive_rx(&mut inj, &input, 16), input);
    assert_eq!(drive_tx(&mut inj, &input, 16), input);
    let stats = inj.fault_stats();
    assert_eq!(
        stats,
        FaultStats {
            frames: 2000,
            ..FaultStats::default()
        }
    );
    assert_eq!(inj.id(), 7);
    assert_eq!(inj.stats().rx_packets, 1000);
    assert_eq!(inj.stats().tx_packets, 1000);
}

#[test]
fn drop_all_lets_nothing_through() {
    let input = frames(500);
    let mut inj = injector(FaultConfig {
        drop: 1.0,
        duplicate: 1.0,
        reorder: 1.0,
        corrupt: 1.0,
        ..FaultConfig::default()
    });
    assert!(drive_rx(&mut inj, &input, 8).is_empty());
    assert!(drive_tx(&mut inj, &input, 8).is_empty());
    assert_eq!(inj.rx_fault_stats().dropped, 500);
    assert_eq!(inj.tx_fault_stats().dropped, 500);
    assert_eq!(inj.fault_stats().duplicated, 0);
    // Dropped frames went back to the pool.
    inj.pool().flush_thread_cache();
    assert_eq!(inj.pool().available(), inj.pool().capacity());
}

#[test]
fn rates_match_the_configured_probabilities() {
    const N: u32 = 10_000;
    let input = frames(N);
    for (seed, drop, duplicate, reorder, corrupt) in [
        (1, 0.1, 0.0, 0.0, 0.0),
        (2, 0.0, 0.2, 0.0, 0.0),
        (3, 0.0, 0.0, 0.1, 0.0),
        (4, 0.0, 0.0, 0.0, 0.05),
        (5, 0.05, 0.1, 0.15, 0.02),
    ] {
        let config = FaultConfig {
            drop,
            duplicate,
            reorder,
            corrupt,
            seed,
            ..FaultConfig::default()
        };
        let mut inj = injector(config);
        let out = drive_rx(&mut inj, &input, 32);
        let s = inj.rx_fault_stats();
        let n = u64::from(N);
        assert_eq!(s.frames, n);
        assert!(near_rate(s.dropped, n, drop), "{config:?}: {s:?}");
        // Copies, held frames and corruption only happen to frames not dropped.
        let kept = n - s.dropped;
        assert!(
            near_rate(s.duplicated, kept, duplicate),
            "{config:?}: {s:?}"
        );
        assert!(near_rate(s.reordered, kept, reorder), "{config:?}: {s:?}");
        assert!(near_rate(s.corrupted, kept, corrupt), "{config:?}: {s:?}");
        assert_eq!(s.duplicate_skipped, 0);
        assert_eq!(out.len() as u64, kept + s.duplicated);

        let mut inj = injector(config);
        let out = drive_tx(&mut inj, &input, 32);
        let s = inj.tx_fault_stats();
        assert!(near_rate(s.dropped, n, drop), "tx {config:?}: {s:?}");
        assert_eq!(out.len() as u64, n - s.dropped + s.duplicated);
    }
}

#[test]
fn same_seed_replays_and_another_seed_differs() {
    let input = frames(2000);
    let config = FaultConfig {
        drop: 0.05,
        duplicate: 0.05,
        reorder: 0.1,
        corrupt: 0.05,
        seed: 0xc0ffee,
        ..FaultConfig::default()
    };
    let run = |config: FaultConfig| {
        let mut inj = injector(config);
        let rx = drive_rx(&mut inj, &input, 16);
        let tx = drive_tx(&mut inj, &input, 16);
        (rx, tx, inj.fault_stats())
    };
    let first = run(config);
    assert_eq!(run(config), first);
    let other = run(FaultConfig {
        seed: 0xdecaf,
        ..config
    });
    assert_ne!(other.0, first.0);
    assert_ne!(other.1, first.1);
    // The two directions draw different sequences.
    assert_ne!(first.0, first.1);
}

#[test]
fn reordering_happens_within_bounds() {
    let input = frames(1000);
    let mut inj = injector(FaultConfig {
        reorder: 0.3,
        reorder_depth: 3,
        seed: 9,
        ..FaultConfig::default()
    });
    let out = drive_rx(&mut inj, &input, 64);
    assert_eq!(sorted(out.clone()), sorted(input.clone()));
    let seq: Vec<u32> = out
        .iter()
        .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
        .collect();
    let inversions = seq.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 100, "only {inversions} inversions");
    // A held frame comes out at most a few places late.
    for (pos, &i) in seq.iter().enumerate() {
        assert!(pos <= i as usize + 2 * 3, "frame {i} came out at {pos}");
    }
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let input = frames(2000);
    let mut inj = injector(FaultConfig {
        corrupt: 1.0,
        seed: 77,
        ..FaultConfig::default()
    });
    let out = drive_rx(&mut inj, &input, 16);
    assert_eq!(out.len(), input.len());
    for (got, want) in out.iter().zip(&input) {
        assert_eq!(got.len(), want.len());
        let flipped: u32 = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
    }
    assert_eq!(inj.rx_fault_stats().corrupted, 2000);

    // Both directions: tx corruption too, with a partial rate.
    let mut inj = injector(FaultConfig {
        corrupt: 0.5,
        seed: 78,
        direction: Direction::Tx,
        ..FaultConfig::default()
    });
    let out = drive_tx(&mut inj, &input, 16);
    let changed = out.iter().zip(&input).filter(|(a, b)| a != b).count() as u64;
    assert_eq!(changed, inj.tx_fault_stats().corrupted);
    for (got, want) in out.iter().zip(&input) {
        let flipped: u32 = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!(flipped <= 1);
    }
}

#[test]
fn duplicates_skip_when_the_pool_is_empty() {
    let mut inj = FaultInjector::new(
        ScriptQueue::new(8),
        FaultConfig {
            duplicate: 1.0,
            ..FaultConfig::default()
        },
    )
    .expect("valid");
    // Every frame of the pool is taken by the frames waiting to be received.
    for i in 0..8 {
        inj.inner_mut().push(&frame(i));
    }
    let mut got = Vec::new();
    while inj.rx_burst(&mut got, 32) > 0 {}
    assert_eq!(got.len(), 8);
    let s = inj.rx_fault_stats();
    assert_eq!((s.duplicated, s.duplicate_skipped), (0, 8));

    // With buffers back, the copies come, each right after its original.
    drop(got);
    for i in 0..4 {
        inj.inner_mut().push(&frame(i));
    }
    let mut got = Vec::new();
    while inj.rx_burst(&mut got, 32) > 0 {}
    let data: Vec<Vec<u8>> = got.iter().map(|b| b.data().to_vec()).collect();
    let want: Vec<Vec<u8>> = (0..4).flat_map(|i| [frame(i), frame(i)]).collect();
    assert_eq!(data, want);
    assert_eq!(inj.rx_fault_stats().duplicated, 4);
}

#[test]
fn held_frames_go_out_when_traffic_stops() {
    let mut inj = injector(FaultConfig {
        reorder: 1.0,
        reorder_depth: 4,
        ..FaultConfig::default()
    });
    inj.inner_mut().push(&frame(1));
    let mut got = Vec::new();
    assert_eq!(inj.rx_burst(&mut got, 32), 0, "held back");
    assert_eq!(inj.pending(), 1);
    assert_eq!(inj.rx_burst(&mut got, 32), 1, "released on an idle poll");
    assert_eq!(got[0].data(), &frame(1)[..]);

    // Transmit: held until an empty burst, or release_held.
    let mut burst = vec![{
        let mut b = inj.pool().alloc().expect("buffer");
        b.extend_from_slice(&frame(2)).expect("fits");
        b
    }];
    assert_eq!(inj.tx_burst(&mut burst), 1);
    assert!(inj.inner().sent.is_empty());
    inj.release_held();
    assert_eq!(inj.inner().sent, vec![frame(2)]);
    assert_eq!(inj.pending(), 0);

    // The bound: never more than `reorder_depth` frames held.
    for i in 0..10 {
        inj.inner_mut().push(&frame(i));
    }
    let mut got = Vec::new();
    assert!(inj.rx_burst(&mut got, 32) >= 6);
    assert!(inj.pending() <= 4);
}

#[test]
fn direction_limits_the_faults() {
    let input = frames(100);
    let mut rx_only = injector(FaultConfig {
        drop: 1.0,
        direction: Direction::Rx,
        ..FaultConfig::default()
    });
    assert!(drive_rx(&mut rx_only, &input, 10).is_empty());
    assert_eq!(drive_tx(&mut rx_only, &input, 10), input);
    assert_eq!(rx_only.tx_fault_stats(), FaultStats::default());

    let mut tx_only = injector(FaultConfig {
        drop: 1.0,
        direction: Direction::Tx,
        ..FaultConfig::default()
    });
    assert_eq!(drive_rx(&mut tx_only, &input, 10), input);
    assert!(drive_tx(&mut tx_only, &input, 10).is_empty());
    assert_eq!(tx_only.rx_fault_stats(), FaultStats::default());
}

#[test]
fn a_full_device_keeps_the_rest_with_the_caller() {
    let mut inj = injector(FaultConfig {
        duplicate: 1.0,
        ..FaultConfig::default()
    });
    inj.inner_mut().tx_room = 3;
    let make = |inj: &FaultInjector<ScriptQueue>, range: std::ops::Range<u32>| -> Vec<PacketBuf> {
        range
            .map(|i| {
                let mut b = inj.pool().alloc().expect("buffer");
                b.extend_from_slice(&frame(i)).expect("fits");
                b
            })
            .collect()
    };
    // Two frames become four; the device takes three.
    let mut burst = make(&inj, 0..2);
    assert_eq!(inj.tx_burst(&mut burst), 2);
    assert_eq!(inj.pending(), 1);
    // The leftover goes first, then the new burst; again one copy waits.
    let mut burst = make(&inj, 2..4);
    assert_eq!(inj.tx_burst(&mut burst), 2);
    assert_eq!(inj.pending(), 1);
    inj.inner_mut().tx_room = 0;
    let mut burst = make(&inj, 4..6);
    assert_eq!(
        inj.tx_burst(&mut burst),
        0,
        "device full: the burst stays with the caller"
    );
    assert_eq!(burst.len(), 2);
    inj.inner_mut().tx_room = usize::MAX;
    assert_eq!(inj.tx_burst(&mut burst), 2);
    let want: Vec<Vec<u8>> = (0..6).flat_map(|i| [frame(i), frame(i)]).collect();
    assert_eq!(inj.inner().sent, want);
}

#[test]
fn invalid_configs_are_rejected() {
    for (drop, duplicate, reorder, corrupt) in [
        (-0.1, 0.0, 0.0, 0.0),
        (0.0, 1.1, 0.0, 0.0),
        (0.0, 0.0, f64::NAN, 0.0),
        (0.0, 0.0, 0.0, f64::INFINITY),
    ] {
        let config = FaultConfig {
            drop,
            duplicate,
            reorder,
            corrupt,
            ..FaultConfig::default()
        };
        let err = config.validate().expect_err("out of range");
        assert!(matches!(err, FaultConfigError::Probability { .. }));
        assert!(FaultInjector::new(ScriptQueue::new(8), config).is_err());
        assert!(matches!(PortError::from(err), PortError::Config(_)));
    }
    let no_depth = FaultConfig {
        reorder: 0.5,
        reorder_depth: 0,
        ..FaultConfig::default()
    };
    assert_eq!(no_depth.validate(), Err(FaultConfigError::ReorderDepth));
    let edges = FaultConfig {
        drop: 0.0,
        duplicate: 1.0,
        reorder: 1.0,
        corrupt: 0.0,
        ..FaultConfig::default()
    };
    assert_eq!(edges.validate(), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// With only reordering on, the frames that come out are exactly the frames that went in.
    #[test]
    fn reordering_never_loses_or_invents(
        seed in any::<u64>(),
        reorder in 0.0f64..=1.0,
        depth in 1usize..8,
        n in 0u32..300,
        burst in 1usize..40,
    ) {
        let config = FaultConfig { reorder, reorder_depth: depth, seed, ..FaultConfig::default() };
        let input = frames(n);
        let mut inj = injector(config);
        let rx = drive_rx(&mut inj, &input, burst);
        prop_assert_eq!(sorted(rx), sorted(input.clone()));
        let tx = drive_tx(&mut inj, &input, burst);
        prop_assert_eq!(sorted(tx), sorted(input));
    }
}
