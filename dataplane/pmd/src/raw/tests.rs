//! Tests of the pool's `unsafe fn`s (frames handed out as raw parts or indices and taken
//! back), kept here because this module is the only place `unsafe` may be written.

use std::collections::HashSet;

use super::buf::PacketBuf;
use super::pool::{Pool, PoolConfig};

fn pool(frames: u32) -> Pool {
    Pool::new(PoolConfig {
        frames,
        frame_size: 2048,
        headroom: 128,
        reserved: 0,
    })
    .expect("pool")
}

/// Free frames once this thread's cache has been given back.
fn settled_available(pool: &Pool) -> usize {
    pool.flush_thread_cache();
    pool.available()
}

#[test]
fn raw_round_trip_keeps_the_window_and_the_frame() {
    let pool = pool(4);
    let mut b = pool.alloc().unwrap();
    b.extend_from_slice(b"abc").unwrap();
    let index = b.frame_index();
    let raw = b.into_raw();
    assert_eq!((raw.index, raw.offset, raw.len), (index, 128, 3));
    // SAFETY: `raw` came from `into_raw` just above and is taken back once.
    let back = unsafe { PacketBuf::from_raw(&pool, raw) }.unwrap();
    assert_eq!(back.data(), b"abc");
    drop(back);
    assert_eq!(settled_available(&pool), 4);
}

#[test]
fn raw_indices_round_trip() {
    let pool = pool(8);
    let mut got = Vec::new();
    assert_eq!(pool.alloc_indices(10, |i| got.push(i)), 8);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 8);
    assert!(pool.alloc().is_none());
    for i in got {
        // SAFETY: each index came from `alloc_indices` above and is freed once.
        unsafe { pool.free_index(i) };
    }
    assert_eq!(settled_available(&pool), 8);
}
