//! A hierarchical timer wheel: O(1) arm, cancel and reset, driven by the caller's time.
//!
//! The design follows tokio's timer wheel (`tokio/src/runtime/time/wheel/{mod.rs,level.rs}`),
//! re-implemented without `unsafe` and without raw pointers: 6 levels of 64 slots, a `u64`
//! occupancy mask per level, `level_for` from the highest bit in which the deadline differs from
//! the current tick, deadlines rounded *up* to the tick, and whole-slot take-then-process when a
//! slot comes due — a higher level's entries cascade down to lower levels, a level-0 slot's
//! entries fire. Where tokio links entries through pointers, the entries here live in a slab
//! (`slab.rs`) and each slot is a doubly linked list through slab indices, so cancel is an O(1)
//! unlink; handles carry a generation so a stale handle never touches a reused entry.
//!
//! # Time and ticks
//!
//! The wheel never reads a clock: every call that needs the time takes a [`Timestamp`]. Time is
//! cut into ticks of a caller-chosen length (`tick`, anything from 1 ns up; 1 µs to 1 s are the
//! expected uses). Tick `k` is the instant `k * tick` after the `Timestamp` epoch. The wheel
//! keeps a *current tick*: `floor(now / tick)` of the latest `now` it was advanced to (or
//! created with); time never runs backwards for it — an earlier `now` counts as the current one.
//!
//! # When a timer fires
//!
//! A timer armed (or reset) with deadline `d` is *due* at tick `due(d) = ceil(d / tick)`, i.e. at
//! `round_up_to_tick(d)`. It fires during the first [`advance`](TimerWheel::advance) (or
//! [`poll`](TimerWheel::poll)) call after it was armed whose `now`, taken as
//! `max(now, current tick)`, satisfies `floor(now / tick) >= due(d)` — equivalently
//! `now >= round_up_to_tick(d)`. Hence a timer **never fires early** (`now >= d`) and, if the
//! caller advances at every tick boundary, **at most one tick late** (`round_up_to_tick(d) < d +
//! tick`). A deadline whose tick has already been reached — in the past, or exactly at a tick
//! boundary at or before the current tick — fires at the next call, even `advance` by zero. A
//! deadline so far out that `round_up_to_tick(d)` exceeds `u64::MAX` nanoseconds never fires.
//! Deadlines any distance ahead are fine: beyond the wheel's span of `64^6` ticks they wait on
//! the last level, whose slots form a ring that is re-examined as it comes round (each slot
//! remembers the earliest round among its timers, so a jump of the clock over many rounds costs
//! per timer, not per round), and they still fire exactly on time.
//!
//! # Firing order
//!
//! Within one `advance` (or one run of `poll` calls) timers fire in order of their *firing
//! tick* — `max(due(d), current tick when armed or reset)`, so a timer armed in the past counts
//! as due at the tick it was armed in — and, within one tick, in the order they were armed,
//! where [`reset`](TimerWheel::reset) counts as arming anew. The order is deterministic.
//!
//! # Handles
//!
//! [`arm`](TimerWheel::arm) returns a [`TimerHandle`] (slab index + generation). Once the timer has
//! fired or been cancelled, the handle is stale: [`cancel`](TimerWheel::cancel) returns `None`
//! and [`reset`](TimerWheel::reset) returns `false` for it, and it can never affect a later timer
//! that reuses the same entry (an entry whose generation would wrap is retired, not reused).

mod level;
mod slab;

use std::fmt;
use std::time::Duration;

use cyclone_pmd::Timestamp;

use level::{level_for, slot_for, LastLevel, Level, LEVELS, SLOTS};
use slab::{List, ListId, Slab, NIL, PENDING};

/// Identifies one armed timer; stale (matches nothing) once the timer fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    index: u32,
    generation: u32,
}

impl TimerHandle {
    /// The slab entry the timer occupies (reused by later timers once this one is gone).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The entry's generation when the timer was armed.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

/// The error of [`TimerWheel::try_arm`]: `u32::MAX - 1` timers are already live. Holds the value
/// that could not be armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFull<T>(pub T);

impl<T> fmt::Display for WheelFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timer wheel full: u32::MAX - 1 timers are live")
    }
}

impl<T: fmt::Debug> std::error::Error for WheelFull<T> {}

/// A hierarchical timer wheel holding timers with values of type `T`. See the [module
/// docs](self) for the exact firing semantics.
///
/// ```
/// use std::time::Duration;
/// use cyclone_pmd::Timestamp;
/// use cyclone_stack::timer::TimerWheel;
///
/// let mut wheel = TimerWheel::new(Duration::from_millis(1), Timestamp::ZERO);
/// let rto = wheel.arm(Timestamp::from_millis(200), "rto");
/// wheel.arm(Timestamp::from_millis(5), "delayed ack");
/// assert_eq!(wheel.cancel(rto), Some("rto"));
/// let mut fired = Vec::new();
/// wheel.advance(Timestamp::from_millis(10), |_, v| fired.push(v));
/// assert_eq!(fired, ["delayed ack"]);
/// assert_eq!(wheel.cancel(rto), None); // stale handle
/// ```
pub struct TimerWheel<T> {
    /// Tick length in nanoseconds, at least 1.
    tick_ns: u64,
    /// Divides by `tick_ns`.
    per_tick: TickDivisor,
    /// The current tick: every timer due at or before it has been moved to `pending`.
    elapsed: u64,
    /// The current tick's last nanosecond, `tick_last(elapsed, tick_ns)`: `now` is within the
    /// current tick or before it (`now / tick_ns <= elapsed`) iff `now <= elapsed_last_ns`.
    /// Kept with `elapsed` (set only through `set_elapsed`) so that `idle_at` divides nothing.
    elapsed_last_ns: u64,
    /// Levels 0 to 4.
    levels: [Level; LEVELS - 1],
    /// Level 5, the ring for deadlines beyond the wheel's range.
    last: LastLevel,
    /// Timers due at the current tick (or earlier), in firing order.
    pending: List,
    slab: Slab<T>,
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("tick_ns", &self.tick_ns)
            .field("current_tick", &self.elapsed)
            .field("len", &self.slab.len())
            .finish_non_exhaustive()
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel with ticks of `tick` (a zero tick counts as 1 ns; one longer than
    /// `u64::MAX` ns as that), whose current tick is the one `now` falls in.
    pub fn new(tick: Duration, now: Timestamp) -> TimerWheel<T> {
        TimerWheel::with_capacity(tick, now, 0)
    }

    /// Like [`new`](Self::new), with room for `capacity` timers before the slab reallocates.
    pub fn with_capacity(tick: Duration, now: Timestamp, capacity: usize) -> TimerWheel<T> {
        let tick_ns = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1);
        let elapsed = now.as_nanos() / tick_ns;
        TimerWheel {
            tick_ns,
            per_tick: TickDivisor::new(tick_ns),
            elapsed,
            elapsed_last_ns: tick_last(elapsed, tick_ns),
            levels: Default::default(),
            last: LastLevel::default(),
            pending: List::default(),
            slab: Slab::with_capacity(capacity),
        }
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_ns)
    }

    /// The start of the current tick: the latest time the wheel has been advanced to, rounded
    /// down to the tick.
    pub fn current_tick_start(&self) -> Timestamp {
        Timestamp::from_nanos(self.elapsed.saturating_mul(self.tick_ns))
    }

    /// Number of live timers (armed, neither fired nor cancelled).
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether no timer is live.
    pub fn is_empty(&self) -> bool {
        self.slab.len() == 0
    }

    /// Whether `handle` is a live timer.
    pub fn contains(&self, handle: TimerHandle) -> bool {
        self.slab.get(handle.index, handle.generation).is_some()
    }

    /// Arms a timer due at `deadline` holding `value`. O(1). A deadline whose tick has been
    /// reached fires at the next `advance`/`poll`.
    ///
    /// # Panics
    ///
    /// Only if `u32::MAX - 1` timers are live at once (over 100 GiB of entries); use
    /// [`try_arm`](Self::try_arm) to get that as an error instead.
    pub fn arm(&mut self, deadline: Timestamp, value: T) -> TimerHandle {
        match self.try_arm(deadline, value) {
            Ok(handle) => handle,
            Err(_) => panic!("timer wheel full: u32::MAX - 1 timers are live"),
        }
    }

    /// Like [`arm`](Self::arm), but gives the value back if the wheel is full.
    pub fn try_arm(&mut self, deadline: Timestamp, value: T) -> Result<TimerHandle, WheelFull<T>> {
        let when = self.due_tick(deadline);
        if self.slab.is_full() {
            return Err(WheelFull(value));
        }
        // Not full: the insert cannot fail, so the slot `list_for` marks occupied gets the entry.
        let (list, id) = list_for(
            &mut self.levels,
            &mut self.last,
            &mut self.pending,
            self.elapsed,
            when,
        );
        let (index, generation) = self
            .slab
            .insert_back(list, id, value, when)
            .map_err(WheelFull)?;
        Ok(TimerHandle { index, generation })
    }

    /// Cancels the timer and returns its value; `None` if the handle is stale (the timer fired
    /// or was cancelled). O(1).
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        let gone = self.slab.detach(handle.index, handle.generation)?;
        let (level, slot) = (gone.list as usize / SLOTS, gone.list as usize % SLOTS);
        // Levels 0 to 4 first: the common case costs one comparison.
        let lvl = match self.levels.get_mut(level) {
            Some(lvl) => lvl,
            None if level == LEVELS - 1 => &mut self.last.level,
            None => {
                // `PENDING`.
                self.pending.closed_gap(gone.prev, gone.next);
                return Some(gone.value);
            }
        };
        lvl.slot_mut(slot).closed_gap(gone.prev, gone.next);
        if gone.prev == NIL && gone.next == NIL {
            lvl.clear_occupied(slot);
        }
        Some(gone.value)
    }

    /// Moves the timer to `new_deadline` (the handle stays valid); it then fires after timers
    /// armed before this call that are due in the same tick, as if armed anew. `false` if the
    /// handle is stale. O(1).
    pub fn reset(&mut self, handle: TimerHandle, new_deadline: Timestamp) -> bool {
        let Some(entry) = self.slab.get(handle.index, handle.generation) else {
            return false;
        };
        let list = entry.list;
        let when = self.due_tick(new_deadline);
        // Already filed where it would be filed now (same tick, same list; not the last level,
        // whose filing also notes the round) and last of its list: unfiling and filing again
        // would leave every list as it is.
        if entry.when == when && entry.is_last() {
            let same_list = if when <= self.elapsed {
                list == PENDING
            } else {
                let level = level_for(self.elapsed, when);
                level < LEVELS - 1 && list == (level * SLOTS + slot_for(when, level)) as ListId
            };
            if same_list {
                return true;
            }
        }
        self.unfile(handle.index, list);
        if let Some(entry) = self.slab.entry_mut(handle.index) {
            entry.when = when;
        }
        self.file(handle.index, when);
        true
    }

    /// Advances the wheel to `now` and calls `fired` with each timer that fires, in firing order
    /// (see the module docs). Returns how many fired. The callback cannot touch the wheel; to
    /// re-arm timers while expiring, use [`poll`](Self::poll).
    pub fn advance(&mut self, now: Timestamp, mut fired: impl FnMut(TimerHandle, T)) -> usize {
        let mut count = 0;
        while let Some((handle, value)) = self.poll(now) {
            fired(handle, value);
            count += 1;
        }
        count
    }

    /// Whether [`Self::poll`]`(now)` would return `None` at once, changing nothing: `now` is
    /// within the current tick and nothing is pending (the test `poll` starts with).
    #[inline]
    pub fn idle_at(&self, now: Timestamp) -> bool {
        // `now / tick_ns <= elapsed`, without the division (see `elapsed_last_ns`).
        now.as_nanos() <= self.elapsed_last_ns && self.pending.is_empty()
    }

    /// Returns the next timer to fire by `now`, or `None` once none is left — then the wheel's
    /// current tick is `now`'s. Calling `poll(now)` until `None` fires exactly what
    /// `advance(now, ..)` would, in the same order. Between calls the wheel may be used freely:
    /// the current tick is then that of the timer just returned, so a timer armed due at or
    /// before `now` fires in the same run of polls, in order.
    #[inline]
    pub fn poll(&mut self, now: Timestamp) -> Option<(TimerHandle, T)> {
        // Within the current tick and nothing pending, nothing can be due: every occupied
        // slot comes due after the current tick (`next_expiration`: a slot at or before it was
        // emptied when the wheel went past its start), so the loop would only find that and
        // leave `elapsed` where it is.
        if self.idle_at(now) {
            return None;
        }
        self.poll_due(now)
    }

    /// [`TimerWheel::poll`] past its idle test.
    #[inline(never)]
    fn poll_due(&mut self, now: Timestamp) -> Option<(TimerHandle, T)> {
        let target = self.per_tick.div_rem(now.as_nanos()).0.max(self.elapsed);
        loop {
            if let Some(index) = self.slab.pop_front(&mut self.pending) {
                let (generation, value) = self.slab.remove(index)?;
                return Some((TimerHandle { index, generation }, value));
            }
            match self.next_expiration() {
                Some((level, slot, deadline)) if deadline <= target => {
                    self.set_elapsed(deadline);
                    self.process_slot(level, slot);
                }
                _ => {
                    self.set_elapsed(target);
                    return None;
                }
            }
        }
    }

    /// Moves the current tick to `tick`, with its last nanosecond.
    #[inline]
    fn set_elapsed(&mut self, tick: u64) {
        self.elapsed = tick;
        self.elapsed_last_ns = tick_last(tick, self.tick_ns);
    }

    /// A time at which the wheel must be advanced next, `None` if no timer is live. It is never
    /// later than the earliest firing time (`round_up_to_tick` of the earliest deadline) — so the
    /// caller may safely sleep until then — but it may be earlier: when the earliest timers sit in
    /// a higher level's slot, it is the start of that slot, and advancing there only cascades them
    /// to lower levels (asking again then gives a later time; at most 6 such steps). A due timer
    /// gives the current tick's start. Saturates at `u64::MAX` ns.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let tick = if !self.pending.is_empty() {
            self.elapsed
        } else {
            self.next_expiration()?.2
        };
        Some(Timestamp::from_nanos(tick.saturating_mul(self.tick_ns)))
    }

    /// `ceil(deadline / tick)`; cannot overflow.
    #[inline]
    fn due_tick(&self, deadline: Timestamp) -> u64 {
        self.per_tick.div_ceil(deadline.as_nanos())
    }

    /// Links the (unlinked) entry `index`, due at tick `when`, on its list: `pending` if due now,
    /// else the slot `level_for`/`slot_for` give.
    fn file(&mut self, index: u32, when: u64) {
        let (list, id) = list_for(
            &mut self.levels,
            &mut self.last,
            &mut self.pending,
            self.elapsed,
            when,
        );
        self.slab.push_back(list, id, index);
    }

    /// Unlinks the entry `index` from the list `list` it is on.
    fn unfile(&mut self, index: u32, list: ListId) {
        if list == PENDING {
            self.slab.unlink(&mut self.pending, index);
        } else if let Some(lvl) = level_mut(&mut self.levels, &mut self.last, list as usize / SLOTS)
        {
            let slot = list as usize % SLOTS;
            self.slab.unlink(lvl.slot_mut(slot), index);
            lvl.update_occupied(slot);
        }
    }

    /// The earliest slot to come due: `(level, slot, tick)`.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        // The lowest non-empty level holds the earliest slot: a level's slots all lie within
        // the current slot of the level above.
        for (level, lvl) in self.levels.iter().enumerate() {
            if let Some((slot, deadline)) = lvl.next_expiration(level, self.elapsed) {
                return Some((level, slot, deadline));
            }
        }
        let (slot, deadline) = self.last.next_expiration(self.elapsed)?;
        Some((LEVELS - 1, slot, deadline))
    }

    /// Takes the whole list of a slot that came due (the current tick is its start) and files
    /// each entry again: due ones go to `pending`, the rest to lower levels (or, for the last
    /// level's ring, back to the last level). Keeps the list order, so arm order is preserved.
    fn process_slot(&mut self, level: usize, slot: usize) {
        let Some(lvl) = level_mut(&mut self.levels, &mut self.last, level) else {
            return;
        };
        let list = lvl.take_slot(slot);
        let mut index = list.head;
        while index != NIL {
            let next = self.slab.next_of(index);
            if let Some(when) = self.slab.entry(index).map(|e| e.when) {
                self.file(index, when);
            }
            index = next;
        }
    }
}

/// The last nanosecond of tick `tick` (ticks of `tick_ns` >= 1 ns): `(tick + 1) * tick_ns - 1`,
/// or `u64::MAX` when that is past `u64::MAX` ns. So `n / tick_ns <= tick` iff
/// `n <= tick_last(tick, tick_ns)` for every `n: u64` (floor division: `n / d <= t` iff
/// `n < (t + 1) * d`; when `(t + 1) * d` overflows, every `n` is below it).
fn tick_last(tick: u64, tick_ns: u64) -> u64 {
    tick.checked_add(1)
        .and_then(|t| t.checked_mul(tick_ns))
        .map_or(u64::MAX, |end| end - 1)
}

/// Division of nanoseconds by the tick without a `div` instruction (which costs as much as the
/// rest of an arm): one widening multiply by a precomputed reciprocal, then at most one
/// correction.
#[derive(Debug, Clone, Copy)]
struct TickDivisor {
    divisor: u64,
    /// `floor((2^64 - 1) / divisor)`.
    reciprocal: u64,
}

impl TickDivisor {
    fn new(divisor: u64) -> TickDivisor {
        let divisor = divisor.max(1);
        TickDivisor {
            divisor,
            reciprocal: u64::MAX / divisor,
        }
    }

    /// `(n / divisor, n % divisor)`.
    #[inline]
    fn div_rem(self, n: u64) -> (u64, u64) {
        // With m = reciprocal >= (2^64 - d) / d: n * m / 2^64 >= n / d - n / 2^64 > n / d - 1,
        // and n * m / 2^64 <= n / d. So the estimate is `n / d` or one less: never too big
        // (`q * d <= n`, no overflow), and one correction suffices.
        let mut q = ((u128::from(n) * u128::from(self.reciprocal)) >> 64) as u64;
        let mut r = n - q * self.divisor;
        if r >= self.divisor {
            q += 1;
            r -= self.divisor;
        }
        (q, r)
    }

    /// `ceil(n / divisor)`, without overflow.
    #[inline]
    fn div_ceil(self, n: u64) -> u64 {
        // As in `div_rem`, the estimate `q` is `n / d` or one less, and `r = n - q * d < 2d`:
        // if `r < d`, the answer is `q + (r != 0)`; else the true quotient is `q + 1` with
        // remainder `r - d`, so the answer is `q + 1 + (r > d)`. Both are `q + (r != 0) + (r > d)`.
        let q = ((u128::from(n) * u128::from(self.reciprocal)) >> 64) as u64;
        let r = n - q * self.divisor;
        q + u64::from(r != 0) + u64::from(r > self.divisor)
    }
}

/// The list a timer due at tick `when` goes on — `pending` if due by `elapsed`, else the slot
/// `level_for`/`slot_for` give — and its id. A slot is marked occupied (and the last level's
/// round noted) here: the caller must then push the entry on the list.
#[inline]
fn list_for<'a>(
    levels: &'a mut [Level; LEVELS - 1],
    last: &'a mut LastLevel,
    pending: &'a mut List,
    elapsed: u64,
    when: u64,
) -> (&'a mut List, ListId) {
    if when <= elapsed {
        return (pending, PENDING);
    }
    let level = level_for(elapsed, when);
    let slot = slot_for(when, level);
    let id = (level * SLOTS + slot) as ListId;
    let lvl = match levels.get_mut(level) {
        Some(lvl) => lvl,
        None => {
            last.note_push(slot, when);
            &mut last.level
        }
    };
    lvl.set_occupied(slot);
    (lvl.slot_mut(slot), id)
}

/// Level `level` of the wheel (borrowing only the levels, not the slab).
fn level_mut<'a>(
    levels: &'a mut [Level; LEVELS - 1],
    last: &'a mut LastLevel,
    level: usize,
) -> Option<&'a mut Level> {
    if level == LEVELS - 1 {
        Some(&mut last.level)
    } else {
        levels.get_mut(level)
    }
}

#[cfg(test)]
mod tests {
    use super::{tick_last, TickDivisor};
    use proptest::prelude::*;

    proptest! {
        /// `idle_at`'s test without the division: `n / d <= t` iff `n <= tick_last(t, d)`.
        #[test]
        fn tick_last_matches_division(
            d in prop_oneof![1..=1_000u64, 1..=u64::MAX, Just(u64::MAX), Just(1u64)],
            t in prop_oneof![0..=1_000u64, any::<u64>(), Just(u64::MAX)],
            n in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64)],
        ) {
            // Also the edges of tick `t` itself and of `n`'s own tick.
            let q = n / d;
            let edges = [
                n,
                t.saturating_mul(d),
                t.saturating_add(1).saturating_mul(d),
                t.saturating_add(1).saturating_mul(d).saturating_sub(1),
            ];
            for n in edges {
                prop_assert_eq!(n / d <= t, n <= tick_last(t, d), "{} / {} vs {}", n, d, t);
            }
            // `n` is within its own tick, and past the one before.
            prop_assert!(n <= tick_last(q, d));
            if q > 0 {
                prop_assert!(n > tick_last(q - 1, d));
            }
        }
    }

    #[test]
    fn tick_divisor_matches_division() {
        let divisors = [
            1,
            2,
            3,
            7,
            10,
            1_000,
            999_999,
            1_000_000_000,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut rng = 0x1234_5678_9abc_def0_u64;
        for &d in &divisors {
            let div = TickDivisor::new(d);
            let edges = [
                0,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
                u64::MAX / d * d,
            ];
            for n in edges.into_iter().chain((0..10_000).map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng >> (rng % 64)
            })) {
                assert_eq!(div.div_rem(n), (n / d, n % d), "{n} / {d}");
                assert_eq!(div.div_ceil(n), n.div_ceil(d), "ceil({n} / {d})");
            }
        }
    }
}
