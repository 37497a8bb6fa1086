//! The timer wheel's storage: a slab of entries (a `Vec` plus a free list) addressed by `u32`
//! indices with generation counters, and the intrusive doubly linked lists that thread the
//! entries of one wheel slot together through those indices.
//!
//! No pointers and no `unsafe`: a list is a `(head, tail)` pair of slab indices and every entry
//! carries its `prev`/`next` neighbours, so unlinking any entry is O(1). A free entry's `next`
//! links the free list. Lookups by handle check both the index (bounds) and the generation, so a
//! handle that outlived its timer can never reach the timer that reused the entry.

/// "No entry": the end of a list (or of the free list).
pub(super) const NIL: u32 = u32::MAX;

/// Which list an entry is on: `level * 64 + slot` for a wheel slot, or one of the constants below.
pub(super) type ListId = u16;

/// The list of timers already due (fired by the next `poll`/`advance`).
pub(super) const PENDING: ListId = 6 * 64;

/// The entry is on the free list (or retired).
const FREE: ListId = PENDING + 1;

/// One timer, or a free entry.
#[derive(Debug)]
pub(super) struct Entry<T> {
    /// The timer's value; `None` while the entry is free.
    value: Option<T>,
    /// The deadline in ticks, rounded up.
    pub(super) when: u64,
    prev: u32,
    next: u32,
    /// Bumped every time the entry is freed; a handle matches only its own generation.
    generation: u32,
    /// The list the entry is linked on.
    pub(super) list: ListId,
}

/// The head and tail of an intrusive list; `Default` is the empty list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct List {
    pub(super) head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> List {
        List {
            head: NIL,
            tail: NIL,
        }
    }
}

impl<T> Entry<T> {
    /// Whether the entry is the last of its list.
    pub(super) fn is_last(&self) -> bool {
        self.next == NIL
    }
}

impl List {
    pub(super) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Fixes the ends after the entry between `prev` and `next` left the list.
    #[inline]
    pub(super) fn closed_gap(&mut self, prev: u32, next: u32) {
        if prev == NIL {
            self.head = next;
        }
        if next == NIL {
            self.tail = prev;
        }
    }
}

/// What [`Slab::detach`] returns.
pub(super) struct Detached<T> {
    pub(super) list: ListId,
    pub(super) prev: u32,
    pub(super) next: u32,
    pub(super) value: T,
}

/// The slab of timer entries.
#[derive(Debug)]
pub(super) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list, linked through `Entry::next`.
    free: u32,
    /// Live (armed, not yet fired or cancelled) entries.
    len: usize,
}

impl<T> Slab<T> {
    pub(super) fn with_capacity(capacity: usize) -> Slab<T> {
        Slab {
            entries: Vec::with_capacity(capacity),
            free: NIL,
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry can be inserted: the free list is empty and all `u32::MAX - 1` indices
    /// are in use.
    #[inline]
    pub(super) fn is_full(&self) -> bool {
        self.free == NIL && self.entries.len() >= NIL as usize
    }

    /// Stores `value` (due at tick `when`) in a free entry and appends it to `list`, recording
    /// `id` as the list it is on: [`insert`](Self::insert) and [`push_back`](Self::push_back) in
    /// one pass. Returns the index and generation, or gives `value` back (leaving `list` as it
    /// was) if all `u32::MAX - 1` indices are in use.
    #[inline]
    pub(super) fn insert_back(
        &mut self,
        list: &mut List,
        id: ListId,
        value: T,
        when: u64,
    ) -> Result<(u32, u32), T> {
        let old_tail = list.tail;
        let (index, generation) = if let Some(entry) = self.entries.get_mut(self.free as usize) {
            let index = self.free;
            self.free = entry.next;
            entry.value = Some(value);
            entry.when = when;
            entry.prev = old_tail;
            entry.next = NIL;
            entry.list = id;
            (index, entry.generation)
        } else {
            (self.push_entry(value, when, old_tail, id)?, 0)
        };
        match self.entries.get_mut(old_tail as usize) {
            Some(tail) => tail.next = index,
            None => list.head = index,
        }
        list.tail = index;
        self.len += 1;
        Ok((index, generation))
    }

    /// Appends a new entry (the free list is empty), linked after `prev` on the list `id`;
    /// gives `value` back if all `u32::MAX - 1` indices are in use. Out of line: after warm-up,
    /// entries come from the free list.
    #[cold]
    #[inline(never)]
    fn push_entry(&mut self, value: T, when: u64, prev: u32, id: ListId) -> Result<u32, T> {
        let index = self.entries.len();
        if index >= NIL as usize {
            return Err(value);
        }
        self.entries.push(Entry {
            value: Some(value),
            when,
            prev,
            next: NIL,
            generation: 0,
            list: id,
        });
        Ok(index as u32)
    }

    /// The live entry at `index` if its generation is `generation`.
    pub(super) fn get(&self, index: u32, generation: u32) -> Option<&Entry<T>> {
        self.entries
            .get(index as usize)
            .filter(|e| e.generation == generation && e.value.is_some())
    }

    /// The entry at `index` (live or not); `index` comes from one of our own lists.
    pub(super) fn entry(&self, index: u32) -> Option<&Entry<T>> {
        self.entries.get(index as usize)
    }

    pub(super) fn entry_mut(&mut self, index: u32) -> Option<&mut Entry<T>> {
        self.entries.get_mut(index as usize)
    }

    /// Takes the value out of the (already unlinked) live entry at `index` and frees the entry,
    /// returning the generation the entry had and the value. An entry whose generation would
    /// wrap is retired instead of freed, so no handle can ever match a later timer.
    pub(super) fn remove(&mut self, index: u32) -> Option<(u32, T)> {
        let entry = self.entries.get_mut(index as usize)?;
        let value = entry.value.take()?;
        let generation = entry.generation;
        entry.list = FREE;
        entry.prev = NIL;
        if generation == u32::MAX {
            entry.next = NIL;
        } else {
            entry.generation = generation + 1;
            entry.next = self.free;
            self.free = index;
        }
        self.len -= 1;
        Some((generation, value))
    }

    /// Cancels the live entry `index` of generation `generation` in one pass: unlinks it from
    /// its neighbours, frees it and returns the list it was on, its former neighbours (so the
    /// caller can fix that list's head and tail) and its value. `None` if the handle is stale.
    #[inline]
    pub(super) fn detach(&mut self, index: u32, generation: u32) -> Option<Detached<T>> {
        let entry = self
            .entries
            .get_mut(index as usize)
            .filter(|e| e.generation == generation)?;
        let value = entry.value.take()?;
        let (prev, next, list) = (entry.prev, entry.next, entry.list);
        entry.list = FREE;
        entry.prev = NIL;
        if generation == u32::MAX {
            entry.next = NIL;
        } else {
            entry.generation = generation + 1;
            entry.next = self.free;
            self.free = index;
        }
        self.len -= 1;
        if let Some(p) = self.entries.get_mut(prev as usize) {
            p.next = next;
        }
        if let Some(n) = self.entries.get_mut(next as usize) {
            n.prev = prev;
        }
        Some(Detached {
            list,
            prev,
            next,
            value,
        })
    }

    /// Appends the entry at `index` to `list`, recording `id` as the list it is on.
    pub(super) fn push_back(&mut self, list: &mut List, id: ListId, index: u32) {
        let old_tail = list.tail;
        let Some(entry) = self.entries.get_mut(index as usize) else {
            return;
        };
        entry.prev = old_tail;
        entry.next = NIL;
        entry.list = id;
        match self.entries.get_mut(old_tail as usize) {
            Some(tail) => tail.next = index,
            None => list.head = index,
        }
        list.tail = index;
    }

    /// Removes the entry at `index` from `list` (the list it is on).
    pub(super) fn unlink(&mut self, list: &mut List, index: u32) {
        let Some(entry) = self.entries.get_mut(index as usize) else {
            return;
        };
        let (prev, next) = (entry.prev, entry.next);
        entry.prev = NIL;
        entry.next = NIL;
        match self.entries.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => list.head = next,
        }
        match self.entries.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => list.tail = prev,
        }
    }

    /// Unlinks and returns the first entry of `list`.
    pub(super) fn pop_front(&mut self, list: &mut List) -> Option<u32> {
        let head = list.head;
        if head == NIL {
            return None;
        }
        self.unlink(list, head);
        Some(head)
    }

    /// The entry after `index` on its list (read before the entry is relinked elsewhere).
    pub(super) fn next_of(&self, index: u32) -> u32 {
        self.entries.get(index as usize).map_or(NIL, |e| e.next)
    }
}
