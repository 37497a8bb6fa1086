//! Model-based test of the timer wheel (`cyclone_stack::timer`): long random sequences of arm,
//! cancel, reset, advance and poll, run against the wheel and against a plain `BinaryHeap` model,
//! must fire the same timers, in the same order, in the same `advance`/`poll` call — and stale
//! handles must never reach a live timer.
//!
//! The model states the documented semantics directly: a timer armed at deadline `d` while the
//! wheel's current tick is `e` fires at tick `max(ceil(d / tick), e)`; timers fire by that tick,
//! then by arm order (a reset is a re-arm); an `advance(now)` fires everything whose tick is at
//! most `max(floor(now / tick), e)`.
//!
//! Two drivers share one engine: seeded `fastrand` runs of 100,000+ operations (several ticks from
//! 1 ns to 1 s), and a `proptest` over short sequences, which shrinks a failure to a small case.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use cyclone_pmd::Timestamp;
use cyclone_stack::timer::{TimerHandle, TimerWheel};
use proptest::prelude::*;

/// A deadline, relative to the harness's "now" when the operation runs.
#[derive(Debug, Clone, Copy)]
enum When {
    /// `now - ticks * tick - sub_ns`, saturating.
    Back(u64, u64),
    /// Exactly `now`.
    Now,
    /// The start of the wheel's current tick.
    TickStart,
    /// `now + ticks * tick + sub_ns`, saturating.
    Ahead(u64, u64),
    /// An absolute time in ns.
    Abs(u64),
}

/// How far an advance or poll moves the clock.
#[derive(Debug, Clone, Copy)]
enum Step {
    Zero,
    OneTick,
    /// Ask with an earlier time than the latest one (the wheel must treat it as "now").
    Back(u64),
    Ahead(u64),
    /// To the wheel's `next_deadline()`.
    ToNextDeadline,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Arm(When),
    Cancel(u64),
    Reset(u64, When),
    Advance(Step),
    /// Up to `n` polls with the same now; if the flag is set, arm a timer at `When` after each.
    Poll(Step, u8, Option<When>),
}

/// Decodes one operation from three random numbers; `max_jump_bits` bounds the largest clock
/// jump (in ticks) so a run does not exhaust `u64` nanoseconds too early.
fn decode(kind: u8, a: u64, b: u64, max_jump_bits: u32) -> Op {
    match kind % 100 {
        0..=34 => Op::Arm(decode_when(a, b)),
        35..=49 => Op::Cancel(a),
        50..=64 => Op::Reset(a, decode_when(b, a.rotate_left(17))),
        65..=91 => Op::Advance(decode_step(a, b, max_jump_bits)),
        _ => Op::Poll(
            decode_step(a, b, max_jump_bits),
            (b % 8) as u8,
            (a % 3 == 0).then(|| decode_when(b.rotate_left(29), a.rotate_left(41))),
        ),
    }
}

fn decode_when(a: u64, b: u64) -> When {
    let r = a / 100;
    let sub = b % 4096;
    match a % 100 {
        0..=9 => When::Back(r % (1 << (b % 24)), sub),
        10..=14 => When::Now,
        15..=19 => When::TickStart,
        20..=49 => When::Ahead(r % 64, sub),
        // Anywhere within the wheel's 6 levels (up to 64^6 ticks).
        50..=84 => When::Ahead(r % (1u64 << (6 * (1 + b % 6))), sub),
        // Beyond the wheel's range: 2^36 to 2^41 ticks ahead.
        85..=94 => When::Ahead((1u64 << 36) + r % (1u64 << (36 + b % 6)), sub),
        // Near the end of time, or anywhere.
        95..=97 => When::Abs(u64::MAX - r % (1 << (b % 40))),
        _ => When::Abs(b),
    }
}

fn decode_step(a: u64, b: u64, max_jump_bits: u32) -> Step {
    let r = a / 100;
    match a % 100 {
        0..=14 => Step::Zero,
        15..=29 => Step::OneTick,
        30..=34 => Step::Back(r % (1 << (b % 30))),
        35..=64 => Step::Ahead(r % 64 * 1_000 + b % 1_000), // scaled by the tick below
        65..=89 => Step::Ahead(r % (1u64 << 18) * 1_000 + b % 1_000),
        90..=97 => Step::ToNextDeadline,
        // A big jump: up to 2^max_jump_bits ticks.
        _ => Step::Ahead(r % (1u64 << (b % u64::from(max_jump_bits + 1))) * 1_000),
    }
}

/// The reference: a binary heap of `(firing tick, arm sequence, id)` with lazy deletion.
struct Model {
    tick: u64,
    /// The current tick.
    elapsed: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    /// Live timers: id -> sequence number of their latest arm/reset.
    live: HashMap<u64, u64>,
}

impl Model {
    fn firing_tick(&self, deadline: u64) -> u64 {
        deadline.div_ceil(self.tick).max(self.elapsed)
    }

    fn arm(&mut self, id: u64, deadline: u64) {
        self.seq += 1;
        self.heap
            .push(Reverse((self.firing_tick(deadline), self.seq, id)));
        self.live.insert(id, self.seq);
    }

    fn target(&self, now: u64) -> u64 {
        (now / self.tick).max(self.elapsed)
    }

    fn drop_stale_top(&mut self) {
        while let Some(&Reverse((_, seq, id))) = self.heap.peek() {
            if self.live.get(&id) == Some(&seq) {
                return;
            }
            self.heap.pop();
        }
    }

    /// What one `poll(now)` returns.
    fn poll(&mut self, now: u64) -> Option<u64> {
        let target = self.target(now);
        self.drop_stale_top();
        match self.heap.peek() {
            Some(&Reverse((t, _, id))) if t <= target => {
                self.heap.pop();
                self.live.remove(&id);
                self.elapsed = t;
                Some(id)
            }
            _ => {
                self.elapsed = target;
                None
            }
        }
    }

    fn earliest_tick(&mut self) -> Option<u64> {
        self.drop_stale_top();
        self.heap.peek().map(|&Reverse((t, _, _))| t)
    }
}

#[derive(Debug, Default)]
struct Stats {
    arms: u64,
    fired: u64,
    cancelled: u64,
    stale_rejected: u64,
    slot_reuses: u64,
    fired_beyond_range: u64,
    max_live: usize,
}

struct Harness {
    tick: u64,
    wheel: TimerWheel<u64>,
    model: Model,
    /// Every handle ever returned, by timer id (the value stored in the wheel).
    handles: Vec<TimerHandle>,
    /// The deadline each timer was last armed with (ns).
    deadlines: Vec<u64>,
    /// The arm time of each timer (ns), to spot the ones armed beyond the wheel's range.
    armed_at: Vec<u64>,
    seen_index: Vec<bool>,
    /// The latest time passed to the wheel.
    now: u64,
    stats: Stats,
}

impl Harness {
    fn new(tick: u64, start: u64) -> Harness {
        Harness {
            tick,
            wheel: TimerWheel::new(Duration::from_nanos(tick), Timestamp::from_nanos(start)),
            model: Model {
                tick,
                elapsed: start / tick,
                seq: 0,
                heap: BinaryHeap::new(),
                live: HashMap::new(),
            },
            handles: Vec::new(),
            deadlines: Vec::new(),
            armed_at: Vec::new(),
            seen_index: Vec::new(),
            now: start,
            stats: Stats::default(),
        }
    }

    fn resolve(&self, when: When) -> u64 {
        let ticks = |t: u64| t.saturating_mul(self.tick);
        match when {
            When::Back(t, sub) => self.now.saturating_sub(ticks(t)).saturating_sub(sub),
            When::Now => self.now,
            When::TickStart => self.model.elapsed.saturating_mul(self.tick),
            When::Ahead(t, sub) => self.now.saturating_add(ticks(t)).saturating_add(sub),
            When::Abs(t) => t,
        }
    }

    fn step_to(&self, step: Step) -> u64 {
        match step {
            Step::Zero => self.now,
            Step::OneTick => self.now.saturating_add(self.tick),
            Step::Back(ns) => self.now.saturating_sub(ns),
            // `Ahead` is in thousandths of a tick.
            Step::Ahead(milli_ticks) => {
                let ns = (u128::from(milli_ticks) * u128::from(self.tick) / 1_000)
                    .min(u128::from(u64::MAX)) as u64;
                self.now.saturating_add(ns)
            }
            Step::ToNextDeadline => self
                .wheel
                .next_deadline()
                .map_or(self.now, |t| t.as_nanos()),
        }
    }

    fn pick(&self, pick: u64) -> Option<(u64, TimerHandle)> {
        let len = self.handles.len() as u64;
        if len == 0 {
            return None;
        }
        let id = if pick % 2 == 0 {
            len - 1 - (pick / 2) % len.min(64)
        } else {
            (pick / 2) % len
        };
        Some((id, self.handles[id as usize]))
    }

    fn arm(&mut self, when: When) {
        let deadline = self.resolve(when);
        let id = self.handles.len() as u64;
        let handle = self.wheel.arm(Timestamp::from_nanos(deadline), id);
        self.model.arm(id, deadline);
        let index = handle.index() as usize;
        if index >= self.seen_index.len() {
            self.seen_index.resize(index + 1, false);
        }
        if std::mem::replace(&mut self.seen_index[index], true) {
            self.stats.slot_reuses += 1;
        }
        self.handles.push(handle);
        self.deadlines.push(deadline);
        self.armed_at.push(self.now);
        self.stats.arms += 1;
    }

    fn record_fired(&mut self, id: u64, handle: TimerHandle, at: u64) {
        assert_eq!(
            self.handles[id as usize], handle,
            "timer {id} fired with a wrong handle"
        );
        let deadline = self.deadlines[id as usize];
        assert!(
            at >= deadline,
            "timer {id} fired early: deadline {deadline} ns, now {at} ns"
        );
        let rounded = deadline.div_ceil(self.tick).saturating_mul(self.tick);
        assert!(
            at >= rounded,
            "timer {id} fired before its rounded deadline"
        );
        let armed_at = self.armed_at[id as usize];
        if deadline.saturating_sub(armed_at) / self.tick >= 1 << 36 {
            self.stats.fired_beyond_range += 1;
        }
        self.stats.fired += 1;
    }

    fn run(&mut self, op: Op, ctx: &dyn Fn() -> String) {
        match op {
            Op::Arm(when) => self.arm(when),
            Op::Cancel(pick) => {
                let Some((id, handle)) = self.pick(pick) else {
                    return;
                };
                let expected = self.model.live.remove(&id).map(|_| id);
                let got = self.wheel.cancel(handle);
                assert_eq!(got, expected, "cancel of timer {id}: {}", ctx());
                assert!(!self.wheel.contains(handle), "{}", ctx());
                if expected.is_some() {
                    self.stats.cancelled += 1;
                } else {
                    self.stats.stale_rejected += 1;
                }
            }
            Op::Reset(pick, when) => {
                let Some((id, handle)) = self.pick(pick) else {
                    return;
                };
                let deadline = self.resolve(when);
                let live = self.model.live.contains_key(&id);
                let got = self.wheel.reset(handle, Timestamp::from_nanos(deadline));
                assert_eq!(got, live, "reset of timer {id}: {}", ctx());
                if live {
                    self.model.arm(id, deadline);
                    self.deadlines[id as usize] = deadline;
                    self.armed_at[id as usize] = self.now;
                } else {
                    self.stats.stale_rejected += 1;
                }
            }
            Op::Advance(step) => {
                let to = self.step_to(step);
                self.now = self.now.max(to);
                let mut got = Vec::new();
                let count = self
                    .wheel
                    .advance(Timestamp::from_nanos(to), |h, id| got.push((h, id)));
                assert_eq!(count, got.len());
                let mut expected = Vec::new();
                while let Some(id) = self.model.poll(to) {
                    expected.push(id);
                }
                let got_ids: Vec<u64> = got.iter().map(|&(_, id)| id).collect();
                assert_eq!(got_ids, expected, "advance to {to} ns: {}", ctx());
                for (h, id) in got {
                    self.record_fired(id, h, self.now);
                }
            }
            Op::Poll(step, n, arm_between) => {
                let to = self.step_to(step);
                self.now = self.now.max(to);
                for _ in 0..n {
                    // `idle_at`: `poll` would return `None` and leave the wheel as it is.
                    let idle = self.wheel.idle_at(Timestamp::from_nanos(to));
                    let before = self.wheel.next_deadline();
                    let got = self.wheel.poll(Timestamp::from_nanos(to));
                    if idle {
                        assert!(got.is_none(), "idle_at({to} ns) but poll fired: {}", ctx());
                        assert_eq!(self.wheel.next_deadline(), before, "{}", ctx());
                    }
                    let expected = self.model.poll(to);
                    assert_eq!(
                        got.map(|(_, id)| id),
                        expected,
                        "poll at {to} ns: {}",
                        ctx()
                    );
                    if let Some((h, id)) = got {
                        self.record_fired(id, h, self.now);
                    }
                    if let Some(when) = arm_between {
                        self.arm(when);
                    }
                    if got.is_none() {
                        break;
                    }
                }
            }
        }
        self.check_invariants(ctx);
    }

    fn check_invariants(&mut self, ctx: &dyn Fn() -> String) {
        assert_eq!(self.wheel.len(), self.model.live.len(), "len: {}", ctx());
        assert_eq!(self.wheel.is_empty(), self.model.live.is_empty());
        self.stats.max_live = self.stats.max_live.max(self.wheel.len());
        let next = self.wheel.next_deadline().map(Timestamp::as_nanos);
        match self.model.earliest_tick() {
            None => assert_eq!(next, None, "next_deadline of an empty wheel: {}", ctx()),
            Some(tick) => {
                let next = next.unwrap_or_else(|| panic!("next_deadline None: {}", ctx()));
                let earliest = tick.saturating_mul(self.tick);
                assert!(
                    next <= earliest,
                    "next_deadline {next} > earliest {earliest}: {}",
                    ctx()
                );
                let current = self.model.elapsed.saturating_mul(self.tick);
                assert!(
                    next >= current,
                    "next_deadline {next} before current tick: {}",
                    ctx()
                );
            }
        }
    }

    /// Advances to the end of time: every timer whose rounded deadline is representable fires.
    fn finish(&mut self, ctx: &dyn Fn() -> String) {
        self.run(Op::Advance(Step::Back(0)), ctx);
        let mut got = Vec::new();
        self.wheel
            .advance(Timestamp::from_nanos(u64::MAX), |h, id| got.push((h, id)));
        let mut expected = Vec::new();
        while let Some(id) = self.model.poll(u64::MAX) {
            expected.push(id);
        }
        let got_ids: Vec<u64> = got.iter().map(|&(_, id)| id).collect();
        assert_eq!(got_ids, expected, "final advance: {}", ctx());
        self.now = u64::MAX;
        for (h, id) in got {
            self.record_fired(id, h, u64::MAX);
        }
        // What is left can never fire (rounded deadline beyond u64::MAX ns): cancel it all.
        let left: Vec<u64> = self.model.live.keys().copied().collect();
        for id in left {
            assert!(self.deadlines[id as usize].div_ceil(self.tick) > u64::MAX / self.tick);
            assert_eq!(self.wheel.cancel(self.handles[id as usize]), Some(id));
            self.model.live.remove(&id);
        }
        assert!(self.wheel.is_empty());
        assert_eq!(self.wheel.next_deadline(), None);
    }
}

/// Largest jump (bits of ticks) for a tick so that a run cannot use up `u64` nanoseconds.
fn max_jump_bits(tick: u64) -> u32 {
    (63 - (u64::MAX / tick).leading_zeros())
        .saturating_sub(6)
        .min(38)
}

/// Runs `f` on its own thread and fails if it takes longer than `limit`: a broken wheel may loop
/// forever instead of panicking, and that must fail the test too.
fn with_watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the wheel did not finish within {limit:?}: it hangs")
        }
    }
}

fn run_seeded(seed: u64, tick: u64, ops: usize) -> Stats {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = rng.u64(..1 << 40);
    let mut h = Harness::new(tick, start);
    let bits = max_jump_bits(tick);
    for i in 0..ops {
        let op = decode(rng.u8(..), rng.u64(..), rng.u64(..), bits);
        h.run(op, &|| {
            format!("seed {seed}, tick {tick} ns, op #{i} {op:?}")
        });
    }
    h.finish(&|| format!("seed {seed}, tick {tick} ns, finish"));
    h.stats
}

#[test]
fn wheel_matches_heap_model_on_long_random_runs() {
    const OPS: usize = 100_000;
    let cases = [
        (1, 1_000),         // 1 µs
        (2, 1),             // 1 ns: the whole u64 range is 2^64 ticks, many wheel rounds
        (3, 1_000_000),     // 1 ms
        (4, 1_000_000_000), // 1 s
        (5, 7),             // a tick that is not a power of ten
        (6, 1_000),
    ];
    for (seed, tick) in cases {
        let stats = with_watchdog(Duration::from_secs(120), move || {
            run_seeded(seed, tick, OPS)
        });
        eprintln!("seed {seed}, tick {tick} ns: {stats:?}");
        assert!(
            stats.fired > 10_000,
            "seed {seed}: too few timers fired: {stats:?}"
        );
        assert!(stats.cancelled > 1_000, "seed {seed}: {stats:?}");
        assert!(stats.stale_rejected > 5_000, "seed {seed}: {stats:?}");
        assert!(stats.slot_reuses > 10_000, "seed {seed}: {stats:?}");
        if tick <= 1_000 {
            assert!(stats.fired_beyond_range > 100, "seed {seed}: {stats:?}");
        }
    }
}

/// An extra seed from the environment: `CYCLONE_TIMER_SEED=123 cargo test -p cyclone-stack`.
#[test]
fn wheel_matches_heap_model_on_env_seed() {
    let Some(seed) = std::env::var("CYCLONE_TIMER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    else {
        return;
    };
    let ticks = [1, 7, 1_000, 1_000_000, 1_000_000_000];
    let tick = ticks[(seed % ticks.len() as u64) as usize];
    eprintln!("{:?}", run_seeded(seed, tick, 100_000));
}

proptest! {
    // Shrinking is capped in time: a hang (caught by the watchdog) is slow to shrink.
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_time: 30_000,
        ..ProptestConfig::default()
    })]

    /// Short sequences, so that a failure shrinks to a readable case.
    #[test]
    fn wheel_matches_heap_model_on_short_runs(
        tick in prop::sample::select(vec![1u64, 3, 1_000, 1_000_000, 1_000_000_000]),
        start in 0u64..1 << 40,
        ops in prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>()), 1..300),
    ) {
        with_watchdog(Duration::from_secs(20), move || {
            let mut h = Harness::new(tick, start);
            let bits = max_jump_bits(tick);
            for (i, &(kind, a, b)) in ops.iter().enumerate() {
                let op = decode(kind, a, b, bits);
                h.run(op, &|| format!("op #{i} {op:?}"));
            }
            h.finish(&|| "finish".to_string());
        });
    }
}
