//! Edge cases of the timer wheel (`cyclone_stack::timer`): the extreme ticks (1 µs, 1 s), deadlines
//! exactly now and in the past, advancing by zero, huge jumps past everything, deadlines near
//! `u64::MAX`, stale handles after slot reuse, and re-arming from a `poll` loop.

use std::time::Duration;

use cyclone_pmd::Timestamp;
use cyclone_stack::timer::{TimerHandle, TimerWheel};

fn fire<T>(wheel: &mut TimerWheel<T>, now: Timestamp) -> Vec<T> {
    let mut out = Vec::new();
    wheel.advance(now, |_, v| out.push(v));
    out
}

fn ns(n: u64) -> Timestamp {
    Timestamp::from_nanos(n)
}

#[test]
fn tick_of_one_microsecond_fires_on_the_tick_boundary_never_before() {
    let mut wheel = TimerWheel::new(Duration::from_micros(1), ns(0));
    wheel.arm(ns(2_500), "a"); // rounds up to 3 µs
    assert!(fire(&mut wheel, ns(2_999)).is_empty());
    assert_eq!(fire(&mut wheel, ns(3_000)), ["a"]);
    wheel.arm(ns(4_000), "b"); // on a boundary: no rounding
    assert!(fire(&mut wheel, ns(3_999)).is_empty());
    assert_eq!(fire(&mut wheel, ns(4_000)), ["b"]);
}

#[test]
fn tick_of_one_second() {
    let mut wheel = TimerWheel::new(Duration::from_secs(1), Timestamp::from_millis(500));
    wheel.arm(Timestamp::from_millis(1_001), "a"); // rounds up to 2 s
    wheel.arm(Timestamp::from_millis(900), "b"); // rounds up to 1 s
    assert_eq!(wheel.next_deadline(), Some(Timestamp::from_millis(1_000)));
    assert!(fire(&mut wheel, Timestamp::from_millis(999)).is_empty());
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(1_999)), ["b"]);
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(2_000)), ["a"]);
    // An hour ahead (level 1 at 1 s ticks) and a day ahead (level 2).
    let hour = Timestamp::from_millis(2_000 + 3_600_000);
    let day = Timestamp::from_millis(2_000 + 86_400_000);
    wheel.arm(day, "day");
    wheel.arm(hour, "hour");
    assert!(fire(&mut wheel, Timestamp::from_millis(2_000 + 3_599_999)).is_empty());
    assert_eq!(fire(&mut wheel, hour), ["hour"]);
    assert_eq!(fire(&mut wheel, day), ["day"]);
}

#[test]
fn deadline_exactly_now() {
    // On a tick boundary: due at the current tick, so the next advance fires it, even by zero.
    let mut wheel = TimerWheel::new(Duration::from_micros(10), ns(50_000));
    wheel.arm(ns(50_000), "now");
    assert_eq!(wheel.next_deadline(), Some(ns(50_000)));
    assert_eq!(fire(&mut wheel, ns(50_000)), ["now"]);
    // Mid-tick: due at the next boundary (never early, at most one tick late).
    let mut wheel = TimerWheel::new(Duration::from_micros(10), ns(55_000));
    wheel.arm(ns(55_000), "now");
    assert!(fire(&mut wheel, ns(55_000)).is_empty());
    assert!(fire(&mut wheel, ns(59_999)).is_empty());
    assert_eq!(fire(&mut wheel, ns(60_000)), ["now"]);
}

#[test]
fn deadlines_in_the_past_fire_at_the_next_advance_in_arm_order() {
    let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::from_millis(1_000));
    wheel.arm(Timestamp::from_millis(999), "a");
    wheel.arm(Timestamp::ZERO, "b"); // earlier deadline, armed later: fires after "a"
    wheel.arm(Timestamp::from_millis(1_001), "c");
    assert_eq!(wheel.next_deadline(), Some(Timestamp::from_millis(1_000)));
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(1_000)), ["a", "b"]);
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(5_000)), ["c"]);
}

#[test]
fn same_tick_fires_in_arm_order_and_reset_counts_as_rearm() {
    let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    // Different levels at arm time, same tick in the end.
    let a = wheel.arm(Timestamp::from_millis(5_000), "a");
    wheel.arm(Timestamp::from_micros(4_999_500), "b");
    wheel.advance(Timestamp::from_millis(4_990), |_, _: &str| unreachable!());
    wheel.arm(Timestamp::from_millis(5_000), "c");
    assert!(wheel.reset(a, Timestamp::from_millis(5_000)));
    assert_eq!(
        fire(&mut wheel, Timestamp::from_millis(6_000)),
        ["b", "c", "a"]
    );
}

#[test]
fn advance_by_zero_and_backwards_is_harmless() {
    let mut wheel = TimerWheel::new(Duration::from_micros(1), Timestamp::from_millis(10));
    wheel.arm(Timestamp::from_millis(11), 1);
    for _ in 0..3 {
        assert!(fire(&mut wheel, Timestamp::from_millis(10)).is_empty());
    }
    // Time running backwards counts as "no time passed".
    assert!(fire(&mut wheel, Timestamp::from_millis(3)).is_empty());
    assert_eq!(wheel.current_tick_start(), Timestamp::from_millis(10));
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(11)), [1]);
}

#[test]
fn huge_jump_fires_everything_in_deadline_order() {
    let tick = Duration::from_micros(1);
    let mut wheel = TimerWheel::new(tick, Timestamp::ZERO);
    // From level 0 to well beyond the wheel's range (2^36 µs is about 19 hours).
    let mut deadlines: Vec<u64> = (0..40).map(|shift| (1u64 << shift) * 1_000 + 17).collect();
    deadlines.reverse();
    for &d in &deadlines {
        wheel.arm(ns(d), d);
    }
    assert_eq!(wheel.len(), 40);
    let fired = fire(&mut wheel, Timestamp::from_millis(1 << 50));
    deadlines.reverse();
    assert_eq!(fired, deadlines);
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn next_deadline_steps_reach_the_earliest_timer_without_firing_early() {
    let mut wheel = TimerWheel::new(Duration::from_micros(1), Timestamp::ZERO);
    let deadline = Timestamp::from_millis(3 * 3_600_000); // 3 h: beyond 64^5 µs, level 5
    wheel.arm(deadline, ());
    let mut steps = 0;
    loop {
        let next = wheel.next_deadline().expect("a timer is live");
        assert!(next <= deadline);
        steps += 1;
        if wheel.advance(next, |_, ()| {}) == 1 {
            assert_eq!(next, deadline);
            break;
        }
        assert!(steps <= 6, "cascading takes at most one step per level");
    }
}

#[test]
fn deadlines_near_u64_max_do_not_overflow() {
    for tick in [
        Duration::from_nanos(1),
        Duration::from_micros(1),
        Duration::from_secs(1),
    ] {
        let mut wheel = TimerWheel::new(tick, ns(u64::MAX - 5_000_000_000));
        let top = wheel.arm(ns(u64::MAX), "max");
        wheel.arm(ns(u64::MAX - 1), "max-1");
        wheel.arm(ns(u64::MAX - 3_000_000_000), "max-3s");
        assert!(wheel.next_deadline().is_some());
        assert!(fire(&mut wheel, ns(u64::MAX - 3_000_000_001)).is_empty());
        let fired = fire(&mut wheel, ns(u64::MAX));
        let tick_ns = tick.as_nanos() as u64;
        if u64::MAX % tick_ns == 0 {
            // u64::MAX is a tick boundary (1 ns ticks): everything fires.
            assert_eq!(fired, ["max-3s", "max-1", "max"]);
        } else {
            // Rounded up, u64::MAX lies past the end of time: it can never fire.
            assert_eq!(fired[0], "max-3s");
            assert!(!fired.contains(&"max"));
            assert_eq!(wheel.next_deadline(), Some(ns(u64::MAX)));
            assert!(fire(&mut wheel, ns(u64::MAX)).is_empty());
            assert_eq!(wheel.cancel(top), Some("max"));
        }
        // Far beyond the wheel's range from a wheel at the epoch.
        let mut wheel = TimerWheel::new(tick, Timestamp::ZERO);
        let far = (u64::MAX / tick_ns - 2) * tick_ns; // the third-last tick boundary
        wheel.arm(ns(far), "far");
        assert!(fire(&mut wheel, ns(far - 1)).is_empty());
        assert_eq!(fire(&mut wheel, ns(far)), ["far"]);
    }
}

#[test]
fn zero_and_enormous_ticks_are_clamped() {
    let mut wheel = TimerWheel::new(Duration::ZERO, ns(10));
    assert_eq!(wheel.tick(), Duration::from_nanos(1));
    wheel.arm(ns(11), 'a');
    assert_eq!(fire(&mut wheel, ns(11)), ['a']);
    let mut wheel = TimerWheel::new(Duration::MAX, ns(10));
    assert_eq!(wheel.tick(), Duration::from_nanos(u64::MAX));
    wheel.arm(ns(0), 'b');
    wheel.arm(ns(11), 'c');
    assert_eq!(fire(&mut wheel, ns(u64::MAX - 1)), ['b']);
    assert_eq!(fire(&mut wheel, ns(u64::MAX)), ['c']);
}

#[test]
fn stale_handles_never_touch_the_timer_that_reused_the_entry() {
    let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    let fired = wheel.arm(Timestamp::from_millis(1), "fired");
    let cancelled = wheel.arm(Timestamp::from_millis(9), "cancelled");
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(1)), ["fired"]);
    assert_eq!(wheel.cancel(cancelled), Some("cancelled"));
    // Both entries are reused by new timers.
    let a = wheel.arm(Timestamp::from_millis(20), "a");
    let b = wheel.arm(Timestamp::from_millis(30), "b");
    let reused: Vec<u32> = vec![a.index(), b.index()];
    assert!(reused.contains(&fired.index()) && reused.contains(&cancelled.index()));
    for stale in [fired, cancelled] {
        assert!(!wheel.contains(stale));
        assert_eq!(wheel.cancel(stale), None);
        assert!(!wheel.reset(stale, Timestamp::from_millis(2)));
    }
    assert_eq!(wheel.len(), 2);
    assert!(fire(&mut wheel, Timestamp::from_millis(19)).is_empty());
    assert_eq!(fire(&mut wheel, Timestamp::from_millis(30)), ["a", "b"]);
    assert_eq!(wheel.cancel(a), None);
}

#[test]
fn a_handle_from_another_wheel_or_made_up_is_rejected() {
    let mut other = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    let foreign: Vec<TimerHandle> = (0..5)
        .map(|i| other.arm(Timestamp::from_millis(i), i))
        .collect();
    let mut wheel: TimerWheel<u64> = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    for h in &foreign {
        assert_eq!(wheel.cancel(*h), None);
        assert!(!wheel.reset(*h, Timestamp::ZERO));
    }
}

#[test]
fn poll_lets_the_caller_rearm_while_expiring() {
    let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    wheel.arm(Timestamp::from_millis(10), 0u32);
    let now = Timestamp::from_millis(100);
    let mut fired = Vec::new();
    while let Some((_, n)) = wheel.poll(now) {
        fired.push(n);
        if n < 5 {
            // A periodic timer: every 10 ms after the last firing tick.
            let next = wheel.current_tick_start() + Duration::from_millis(10);
            wheel.arm(next, n + 1);
        }
    }
    assert_eq!(fired, [0, 1, 2, 3, 4, 5]);
    assert_eq!(wheel.current_tick_start(), now);
}

#[test]
fn retiring_a_slot_keeps_handles_unique_across_many_reuses() {
    let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
    let first = wheel.arm(Timestamp::from_millis(1), 0);
    assert_eq!(wheel.cancel(first), Some(0));
    let mut last = first;
    for i in 1..1_000 {
        let h = wheel.arm(Timestamp::from_millis(1), i);
        assert_eq!(h.index(), first.index());
        assert_ne!(h, last);
        assert_eq!(wheel.cancel(last), None);
        assert_eq!(wheel.cancel(h), Some(i));
        last = h;
    }
}

/// A reset to the same tick keeps "as if armed anew" ordering: the timer moves behind the
/// others due in that tick — and when it is already last in its list, the wheel may leave it
/// where it is (same order either way). At level 0, at a higher level, after the clock moved
/// (the level a new filing would pick changes), and for a pending (due) timer.
#[test]
fn reset_to_the_same_tick_orders_as_a_re_arm() {
    let ms = Timestamp::from_millis;
    let mut wheel = TimerWheel::new(Duration::from_millis(1), ms(0));
    let a = wheel.arm(ms(50), "a");
    let _b = wheel.arm(ms(50), "b");
    let c = wheel.arm(ms(50), "c");
    assert!(wheel.reset(c, ms(50))); // last already
    assert!(wheel.reset(a, ms(50))); // moves behind b and c
    assert!(wheel.reset(a, ms(50))); // last already
    assert_eq!(fire(&mut wheel, ms(50)), ["b", "c", "a"]);

    // Level 2 (5,000 ticks away), then after the clock moved close to it.
    let x = wheel.arm(ms(5_000), "x");
    let y = wheel.arm(ms(5_000), "y");
    assert!(wheel.reset(y, ms(5_000)));
    assert!(wheel.reset(x, ms(5_000)));
    assert!(fire(&mut wheel, ms(4_990)).is_empty());
    let z = wheel.arm(ms(5_000), "z");
    assert!(wheel.reset(x, ms(5_000)));
    assert!(wheel.reset(x, ms(5_000)));
    assert!(wheel.reset(z, ms(5_000)));
    assert_eq!(fire(&mut wheel, ms(5_000)), ["y", "x", "z"]);

    // Pending: due timers reset to a past deadline fire in reset order at the next advance.
    let p = wheel.arm(ms(5_000), "p");
    let q = wheel.arm(ms(4_000), "q");
    assert!(wheel.reset(q, ms(4_000)));
    assert!(wheel.reset(p, ms(3_000)));
    assert_eq!(fire(&mut wheel, ms(5_000)), ["q", "p"]);
}
