//! Timer benchmarks: the hierarchical timer wheel (`cyclone_stack::timer::TimerWheel`) against a
//! lazy-deletion binary heap (`cyclone_bench::heap_timer::HeapTimer`), with 1k, 100k and 1M live
//! timers armed at random deadlines.
//!
//! - `timer_arm_cancel`: arm one more timer at a random deadline among the live ones and cancel
//!   it; time per arm+cancel pair.
//! - `timer_arm_expire`: steady state — arm a timer at the far end of the live range and move the
//!   clock on so that, on average, one timer expires; time per timer (its arm plus its expiry).
//!
//! Each structure is populated once per benchmark (criterion's `iter_custom` then runs as many
//! iterations as it likes on it), so the 1M setups take a fraction of a second, not minutes.
//! Ticks are 1 µs; the live deadlines span `n × 10 µs` (10 ms to 10 s: levels 0 to 4).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyclone_bench::heap_timer::HeapTimer;
use cyclone_pmd::Timestamp;
use cyclone_stack::timer::TimerWheel;

const TICK: Duration = Duration::from_micros(1);
/// Average clock step per expired timer.
const STEP_NS: u64 = 10_000;
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// xorshift64*: enough randomness for deadlines, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// The two timers' common surface.
trait Timers {
    type Handle: Copy;
    fn build(now: Timestamp, capacity: usize) -> Self;
    fn arm(&mut self, deadline: Timestamp, value: u64) -> Self::Handle;
    fn cancel(&mut self, handle: Self::Handle) -> Option<u64>;
    fn advance(&mut self, now: Timestamp) -> usize;
}

impl Timers for TimerWheel<u64> {
    type Handle = cyclone_stack::timer::TimerHandle;
    fn build(now: Timestamp, capacity: usize) -> Self {
        TimerWheel::with_capacity(TICK, now, capacity)
    }
    fn arm(&mut self, deadline: Timestamp, value: u64) -> Self::Handle {
        TimerWheel::arm(self, deadline, value)
    }
    fn cancel(&mut self, handle: Self::Handle) -> Option<u64> {
        TimerWheel::cancel(self, handle)
    }
    fn advance(&mut self, now: Timestamp) -> usize {
        TimerWheel::advance(self, now, |_, v| {
            black_box(v);
        })
    }
}

impl Timers for HeapTimer<u64> {
    type Handle = cyclone_bench::heap_timer::HeapHandle;
    fn build(now: Timestamp, capacity: usize) -> Self {
        HeapTimer::with_capacity(TICK, now, capacity)
    }
    fn arm(&mut self, deadline: Timestamp, value: u64) -> Self::Handle {
        HeapTimer::arm(self, deadline, value)
    }
    fn cancel(&mut self, handle: Self::Handle) -> Option<u64> {
        HeapTimer::cancel(self, handle)
    }
    fn advance(&mut self, now: Timestamp) -> usize {
        HeapTimer::advance(self, now, |_, v| {
            black_box(v);
        })
    }
}

/// A populated timer structure and its clock.
struct Fixture<T> {
    timers: T,
    now: u64,
    span: u64,
    rng: Rng,
}

impl<T: Timers> Fixture<T> {
    fn new(n: usize) -> Fixture<T> {
        let now = 1_000_000_000;
        let span = n as u64 * STEP_NS;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let mut timers = T::build(Timestamp::from_nanos(now), n + 1);
        for i in 0..n as u64 {
            timers.arm(Timestamp::from_nanos(now + 1 + rng.below(span)), i);
        }
        Fixture {
            timers,
            now,
            span,
            rng,
        }
    }

    fn arm_cancel(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            let deadline = Timestamp::from_nanos(self.now + 1 + self.rng.below(self.span));
            let handle = self.timers.arm(deadline, i);
            black_box(self.timers.cancel(black_box(handle)));
        }
        start.elapsed()
    }

    fn arm_expire(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            let deadline = self.now + self.span + self.rng.below(STEP_NS);
            self.timers.arm(Timestamp::from_nanos(deadline), i);
            self.now += STEP_NS;
            black_box(self.timers.advance(Timestamp::from_nanos(self.now)));
        }
        start.elapsed()
    }
}

fn arm_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_arm_cancel");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut wheel = Fixture::<TimerWheel<u64>>::new(n);
        group.bench_function(BenchmarkId::new("wheel", n), |b| {
            b.iter_custom(|iters| wheel.arm_cancel(iters))
        });
        assert_eq!(wheel.timers.len(), n);
        drop(wheel);
        let mut heap = Fixture::<HeapTimer<u64>>::new(n);
        group.bench_function(BenchmarkId::new("heap", n), |b| {
            b.iter_custom(|iters| heap.arm_cancel(iters))
        });
        assert_eq!(heap.timers.len(), n);
    }
    group.finish();
}

fn arm_expire(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_arm_expire");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut wheel = Fixture::<TimerWheel<u64>>::new(n);
        group.bench_function(BenchmarkId::new("wheel", n), |b| {
            b.iter_custom(|iters| wheel.arm_expire(iters))
        });
        drop(wheel);
        let mut heap = Fixture::<HeapTimer<u64>>::new(n);
        group.bench_function(BenchmarkId::new("heap", n), |b| {
            b.iter_custom(|iters| heap.arm_expire(iters))
        });
    }
    group.finish();
}

criterion_group!(benches, arm_cancel, arm_expire);
criterion_main!(benches);
