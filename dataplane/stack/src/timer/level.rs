//! One level of the timer wheel — 64 slots, each an intrusive list of entries, and a `u64`
//! occupancy mask — plus the tick arithmetic shared by the levels: which level and slot a
//! deadline belongs to, and when a slot comes due.
//!
//! The math follows tokio's `runtime/time/wheel/level.rs` (written anew here, without its
//! `unsafe`): level `l` has slots of `64^l` ticks and spans `64^(l+1)` ticks; the next occupied
//! slot at or after the current one is found by rotating the occupancy mask so that the current
//! slot is bit 0 and counting trailing zeros.

use super::slab::List;

/// Slots per level (bits of tick per level: 6).
pub(super) const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// Number of levels.
pub(super) const LEVELS: usize = 6;
/// Ticks the whole wheel spans: `64^6 = 2^36`.
const WHEEL_RANGE: u64 = 1 << (SLOT_BITS * LEVELS as u32);

/// Ticks covered by one slot of `level`.
const fn slot_range(level: usize) -> u64 {
    1 << (SLOT_BITS * level as u32)
}

/// Ticks covered by all of `level`'s slots.
const fn level_range(level: usize) -> u64 {
    1 << (SLOT_BITS * (level as u32 + 1))
}

/// The slot of `level` that the tick `when` falls in.
#[inline]
pub(super) const fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1)
}

/// The level a timer due at tick `when` (`when > elapsed`) is filed at: the level of the highest
/// bit in which `when` differs from `elapsed` — every lower level's slots are "current" for both.
/// Deadlines beyond the wheel's range (differing at bit 36 or above) go to the last level, whose
/// slots then act as a ring that is re-examined each time it comes round.
#[inline]
pub(super) const fn level_for(elapsed: u64, when: u64) -> usize {
    // `| (SLOTS - 1)` makes a difference confined to the lowest 6 bits land at level 0.
    let mut masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    if masked >= WHEEL_RANGE {
        masked = WHEEL_RANGE - 1;
    }
    let highest_bit = 63 - masked.leading_zeros();
    (highest_bit / SLOT_BITS) as usize
}

/// One level: 64 slot lists and the mask of the non-empty ones.
#[derive(Debug)]
pub(super) struct Level {
    /// Bit `s` is set iff `slots[s]` is non-empty.
    occupied: u64,
    slots: [List; SLOTS],
}

impl Default for Level {
    fn default() -> Level {
        Level {
            occupied: 0,
            slots: [List::default(); SLOTS],
        }
    }
}

impl Level {
    #[inline]
    pub(super) fn slot_mut(&mut self, slot: usize) -> &mut List {
        &mut self.slots[slot & (SLOTS - 1)]
    }

    /// Marks `slot` non-empty (after a push).
    #[inline]
    pub(super) fn set_occupied(&mut self, slot: usize) {
        self.occupied |= 1 << (slot & (SLOTS - 1));
    }

    /// Clears `slot`'s occupancy bit (its list just became empty).
    #[inline]
    pub(super) fn clear_occupied(&mut self, slot: usize) {
        self.occupied &= !(1 << (slot & (SLOTS - 1)));
    }

    /// Clears `slot`'s occupancy bit if its list became empty (after an unlink).
    pub(super) fn update_occupied(&mut self, slot: usize) {
        let slot = slot & (SLOTS - 1);
        if self.slots[slot].is_empty() {
            self.occupied &= !(1 << slot);
        }
    }

    /// Detaches the whole list of `slot`, leaving the slot empty.
    pub(super) fn take_slot(&mut self, slot: usize) -> List {
        let slot = slot & (SLOTS - 1);
        self.occupied &= !(1 << slot);
        std::mem::take(&mut self.slots[slot])
    }

    /// The first non-empty slot at or after `from` (wrapping round), if any.
    fn next_occupied_slot(&self, from: usize) -> Option<usize> {
        if self.occupied == 0 {
            return None;
        }
        let from = from & (SLOTS - 1);
        let zeros = self.occupied.rotate_right(from as u32).trailing_zeros() as usize;
        Some((from + zeros) & (SLOTS - 1))
    }

    /// The next slot of this level (`level`) to come due after tick `elapsed` and the tick at
    /// which it does (its first tick), or `None` if the level is empty. For levels below the
    /// last; the last level uses [`LastLevel::next_expiration`].
    pub(super) fn next_expiration(&self, level: usize, elapsed: u64) -> Option<(usize, u64)> {
        let slot = self.next_occupied_slot(slot_for(elapsed, level))?;
        let level_start = elapsed & !(level_range(level) - 1);
        // Cannot overflow: `level_start` is aligned to `level_range` and the slot's offset is
        // below it. The slot is always after the current one: a slot at or before it was emptied
        // when the wheel went past its start.
        Some((slot, level_start + slot as u64 * slot_range(level)))
    }
}

/// The last level. Besides the deadlines of the current *round* (the `64^6`-tick span `elapsed`
/// is in), its slots hold those of later rounds — the slots form a ring, and a timer beyond the
/// wheel's range waits in the slot its deadline will fall in. Each slot remembers the earliest
/// round among its timers (a lower bound after cancels), so a slot comes due only in a round in
/// which it may hold a due timer: a big jump of the clock costs per timer, not per round passed.
#[derive(Debug)]
pub(super) struct LastLevel {
    pub(super) level: Level,
    /// For each occupied slot: no later than the earliest round of its timers.
    min_round: [u64; SLOTS],
}

const LAST: usize = LEVELS - 1;

impl Default for LastLevel {
    fn default() -> LastLevel {
        LastLevel {
            level: Level::default(),
            min_round: [0; SLOTS],
        }
    }
}

/// The round of tick `when`: which `64^6`-tick span of time it falls in.
const fn round_of(when: u64) -> u64 {
    when >> (SLOT_BITS * LEVELS as u32)
}

impl LastLevel {
    /// Records that a timer due at tick `when` was just pushed on `slot` (before the slot is
    /// marked occupied).
    #[inline]
    pub(super) fn note_push(&mut self, slot: usize, when: u64) {
        let slot = slot & (SLOTS - 1);
        let round = round_of(when);
        if self.level.occupied & (1 << slot) == 0 || round < self.min_round[slot] {
            self.min_round[slot] = round;
        }
    }

    /// The next slot to come due after tick `elapsed` and its tick, or `None` if the level is
    /// empty (or the tick is beyond `u64`: nothing can be due then). A slot comes due at its
    /// start in the first round that is both not yet past for it and not before its timers'
    /// earliest round.
    pub(super) fn next_expiration(&self, elapsed: u64) -> Option<(usize, u64)> {
        let current_round = round_of(elapsed);
        let current_slot = slot_for(elapsed, LAST);
        let mut best: Option<(usize, u64)> = None;
        let mut bits = self.level.occupied;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let first_round = if slot > current_slot {
                current_round
            } else {
                current_round + 1
            };
            let round = self.min_round[slot].max(first_round);
            // Rounds past the end of `u64` ticks cannot hold a timer.
            let Some(start) = round.checked_mul(WHEEL_RANGE) else {
                continue;
            };
            let deadline = start + slot as u64 * slot_range(LAST);
            if best.is_none_or(|(_, d)| deadline < d) {
                best = Some((slot, deadline));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_for_picks_the_highest_differing_digit() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(64, 127), 0);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, WHEEL_RANGE - 1), 5);
        assert_eq!(level_for(0, WHEEL_RANGE), 5);
        assert_eq!(level_for(0, u64::MAX), 5);
        assert_eq!(level_for(u64::MAX - 1, u64::MAX), 0);
    }

    #[test]
    fn next_occupied_slot_wraps() {
        let mut level = Level::default();
        assert_eq!(level.next_occupied_slot(5), None);
        level.set_occupied(3);
        assert_eq!(level.next_occupied_slot(0), Some(3));
        assert_eq!(level.next_occupied_slot(3), Some(3));
        assert_eq!(level.next_occupied_slot(4), Some(3));
        level.set_occupied(63);
        assert_eq!(level.next_occupied_slot(4), Some(63));
    }

    #[test]
    fn last_level_ring_slot_behind_is_due_next_round() {
        let mut last = LastLevel::default();
        last.note_push(2, WHEEL_RANGE + 2 * slot_range(LAST));
        last.level.set_occupied(2);
        let elapsed = 5 * slot_range(LAST) + 7;
        assert_eq!(
            last.next_expiration(elapsed),
            Some((2, WHEEL_RANGE + 2 * slot_range(LAST)))
        );
        // Past the last representable round: never due.
        assert_eq!(last.next_expiration(u64::MAX - 3), None);
    }

    #[test]
    fn last_level_skips_rounds_without_timers() {
        let mut last = LastLevel::default();
        let far = 1000 * WHEEL_RANGE + 9 * slot_range(LAST) + 5;
        last.note_push(9, far);
        last.level.set_occupied(9);
        assert_eq!(last.next_expiration(3), Some((9, far - 5)));
        // An earlier timer pushed on the same slot lowers the slot's round.
        last.note_push(9, 2 * WHEEL_RANGE + 9 * slot_range(LAST));
        assert_eq!(
            last.next_expiration(3),
            Some((9, 2 * WHEEL_RANGE + 9 * slot_range(LAST)))
        );
    }
}
