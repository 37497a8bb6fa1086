//! The hash maps of the packet path.
//!
//! std's `HashMap` hashes with SipHash-1-3: some 100–200 instructions for a 12-byte TCP
//! 4-tuple, on every segment. [`FastMap`] uses foldhash's fast hasher instead (a few dozen
//! instructions), keyed like std's: every map draws its own seed (`RandomState::default`
//! mixes a per-process random seed with a per-instance one), so a peer that chooses the
//! addresses and ports it sends from still cannot predict which keys collide (hash flooding).
//! Iteration order is as unspecified as std's; nothing here depends on it.

/// A `HashMap` with a fast keyed hasher; build it with `FastMap::default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashMap` with a fast keyed hasher and room for `capacity` entries.
pub fn fast_map_with_capacity<K, V>(capacity: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}
