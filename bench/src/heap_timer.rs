//! The peer the timer wheel (`cyclone_stack::timer::TimerWheel`) is benchmarked against: a
//! `BinaryHeap` timer with lazy deletion, with the same API shape and the same firing semantics
//! (deadlines rounded up to the tick; firing by tick, then by arm order; a reset is a re-arm).
//!
//! Arm pushes `(tick, sequence, slot)` on the heap — O(log n). Cancel and reset are O(1): they
//! only mark the generation-checked slot (a cancelled entry stays in the heap, dead; a reset
//! pushes a new entry and kills the old one), and pops skip dead entries. So that a cancel-heavy
//! load cannot grow the heap without bound, it is rebuilt without its dead entries once they
//! outnumber the live ones (amortised O(1) per cancel).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use cyclone_pmd::Timestamp;

/// Identifies one armed timer of a [`HeapTimer`]; stale once it fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeapHandle {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    generation: u32,
    /// The sequence number of the slot's live heap entry (`NONE` if the slot is free).
    seq: u64,
}

const NONE: u64 = u64::MAX;

/// A binary-heap timer with lazy deletion.
#[derive(Debug)]
pub struct HeapTimer<T> {
    tick_ns: u64,
    /// The current tick.
    elapsed: u64,
    next_seq: u64,
    /// `(firing tick, sequence, slot)`, earliest first.
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// Dead entries in `heap`.
    dead: usize,
}

impl<T> HeapTimer<T> {
    /// An empty timer with ticks of `tick` (at least 1 ns) whose current tick is `now`'s.
    pub fn new(tick: Duration, now: Timestamp) -> HeapTimer<T> {
        HeapTimer::with_capacity(tick, now, 0)
    }

    /// Like [`new`](Self::new), with room for `capacity` timers.
    pub fn with_capacity(tick: Duration, now: Timestamp, capacity: usize) -> HeapTimer<T> {
        let tick_ns = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1);
        HeapTimer {
            tick_ns,
            elapsed: now.as_nanos() / tick_ns,
            next_seq: 0,
            heap: BinaryHeap::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            len: 0,
            dead: 0,
        }
    }

    /// Number of live timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn firing_tick(&self, deadline: Timestamp) -> u64 {
        let ns = deadline.as_nanos();
        (ns / self.tick_ns + u64::from(ns % self.tick_ns != 0)).max(self.elapsed)
    }

    fn push(&mut self, index: u32, deadline: Timestamp) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap
            .push(Reverse((self.firing_tick(deadline), seq, index)));
        seq
    }

    /// Arms a timer due at `deadline` holding `value`. O(log n).
    pub fn arm(&mut self, deadline: Timestamp, value: T) -> HeapHandle {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    value: None,
                    generation: 0,
                    seq: NONE,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let seq = self.push(index, deadline);
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        slot.seq = seq;
        self.len += 1;
        HeapHandle {
            index,
            generation: slot.generation,
        }
    }

    fn live_slot(&mut self, handle: HeapHandle) -> Option<&mut Slot<T>> {
        self.slots
            .get_mut(handle.index as usize)
            .filter(|s| s.generation == handle.generation && s.value.is_some())
    }

    /// Frees slot `index` and returns its value.
    fn release(&mut self, index: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        let value = slot.value.take()?;
        slot.seq = NONE;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }

    /// Cancels the timer; `None` for a stale handle. O(1) (amortised, with the rebuild).
    pub fn cancel(&mut self, handle: HeapHandle) -> Option<T> {
        self.live_slot(handle)?;
        let value = self.release(handle.index);
        self.dead += 1;
        self.maybe_compact();
        value
    }

    /// Moves the timer to `new_deadline`; `false` for a stale handle. O(log n).
    pub fn reset(&mut self, handle: HeapHandle, new_deadline: Timestamp) -> bool {
        if self.live_slot(handle).is_none() {
            return false;
        }
        let seq = self.push(handle.index, new_deadline);
        if let Some(slot) = self.slots.get_mut(handle.index as usize) {
            slot.seq = seq;
        }
        self.dead += 1;
        self.maybe_compact();
        true
    }

    fn maybe_compact(&mut self) {
        if self.dead > 1024 && self.dead > self.len {
            let slots = &self.slots;
            self.heap
                .retain(|&Reverse((_, seq, index))| slots[index as usize].seq == seq);
            self.dead = 0;
        }
    }

    /// Returns the next timer to fire by `now` (earliest tick, then arm order), or `None`.
    pub fn poll(&mut self, now: Timestamp) -> Option<(HeapHandle, T)> {
        let target = (now.as_nanos() / self.tick_ns).max(self.elapsed);
        while let Some(&Reverse((tick, seq, index))) = self.heap.peek() {
            let live = self.slots[index as usize].seq == seq;
            if live && tick > target {
                break;
            }
            self.heap.pop();
            if !live {
                self.dead -= 1;
                continue;
            }
            self.elapsed = tick;
            let generation = self.slots[index as usize].generation;
            let value = self.release(index)?;
            return Some((HeapHandle { index, generation }, value));
        }
        self.elapsed = target;
        None
    }

    /// Advances to `now`, calling `fired` for each timer that fires, in order; returns how many.
    pub fn advance(&mut self, now: Timestamp, mut fired: impl FnMut(HeapHandle, T)) -> usize {
        let mut count = 0;
        while let Some((handle, value)) = self.poll(now) {
            fired(handle, value);
            count += 1;
        }
        count
    }

    /// The earliest firing time, if any timer is live (exact, unlike the wheel's lower bound).
    /// Takes `&mut self` to drop dead entries from the top.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        while let Some(&Reverse((tick, seq, index))) = self.heap.peek() {
            if self.slots[index as usize].seq == seq {
                return Some(Timestamp::from_nanos(tick.saturating_mul(self.tick_ns)));
            }
            self.heap.pop();
            self.dead -= 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_tick_then_arm_order_and_skips_cancelled() {
        let mut heap = HeapTimer::new(Duration::from_millis(1), Timestamp::ZERO);
        let a = heap.arm(Timestamp::from_micros(2_500), "a");
        heap.arm(Timestamp::from_millis(3), "b");
        let c = heap.arm(Timestamp::from_millis(1), "c");
        heap.arm(Timestamp::from_millis(2), "d");
        assert_eq!(heap.cancel(c), Some("c"));
        assert_eq!(heap.cancel(c), None);
        assert!(heap.reset(a, Timestamp::from_millis(3)));
        assert_eq!(heap.next_deadline(), Some(Timestamp::from_millis(2)));
        let mut fired = Vec::new();
        heap.advance(Timestamp::from_millis(3), |_, v| fired.push(v));
        assert_eq!(fired, ["d", "b", "a"]);
        assert!(heap.is_empty());
        assert!(!heap.reset(a, Timestamp::ZERO));
    }

    #[test]
    fn compaction_keeps_live_timers() {
        let mut heap = HeapTimer::new(Duration::from_micros(1), Timestamp::ZERO);
        let keep: Vec<_> = (0..10u64)
            .map(|i| heap.arm(Timestamp::from_micros(100 + i), i))
            .collect();
        for i in 0..5_000u64 {
            let h = heap.arm(Timestamp::from_micros(50 + i % 7), 1_000 + i);
            assert_eq!(heap.cancel(h), Some(1_000 + i));
        }
        assert!(heap.heap.len() < 2_100);
        let mut fired = Vec::new();
        heap.advance(Timestamp::from_millis(1), |_, v| fired.push(v));
        assert_eq!(fired, (0..10).collect::<Vec<_>>());
        assert_eq!(heap.cancel(keep[0]), None);
    }
}
