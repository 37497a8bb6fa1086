//! The packet-buffer pool: configuration, ownership, headroom, exhaustion, cross-thread frees.

use std::collections::HashSet;

use cyclone_pmd::{BufError, PacketBuf, Pool, PoolConfig, PoolError};
use proptest::prelude::*;

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
fn bad_configurations_are_refused_with_the_field_named() {
    let ok = PoolConfig::default();
    assert_eq!(
        Pool::new(PoolConfig {
            frame_size: 1500,
            ..ok
        })
        .err(),
        Some(PoolError::FrameSize(1500))
    );
    assert_eq!(
        Pool::new(PoolConfig { frames: 0, ..ok }).err(),
        Some(PoolError::FrameCount(0))
    );
    assert_eq!(
        Pool::new(PoolConfig {
            headroom: 2000,
            ..ok
        })
        .err(),
        Some(PoolError::Headroom {
            headroom: 2000,
            frame_size: 2048
        })
    );
    assert!(Pool::new(PoolConfig {
        frame_size: 4096,
        ..ok
    })
    .is_ok());
}

#[test]
fn region_is_page_aligned_and_frames_are_distinct() {
    let pool = pool(256);
    assert_eq!(pool.region_base().as_ptr() as usize % 4096, 0);
    assert_eq!(pool.region_len(), 256 * 2048);
    let mut bufs = Vec::new();
    assert_eq!(pool.alloc_burst(&mut bufs, 256), 256);
    let frames: HashSet<u32> = bufs.iter().map(|b| b.frame_index()).collect();
    assert_eq!(frames.len(), 256, "every buffer has its own frame");
    // Write each buffer's index into it, then read all back: no two buffers share bytes.
    for (i, b) in bufs.iter_mut().enumerate() {
        b.extend_from_slice(&(i as u32).to_le_bytes().repeat(400))
            .unwrap();
    }
    for (i, b) in bufs.iter().enumerate() {
        assert!(b.data().chunks(4).all(|c| c == (i as u32).to_le_bytes()));
        let off = b.region_offset();
        assert_eq!(off, u64::from(b.frame_index()) * 2048 + 128);
        assert!(off + b.len() as u64 <= pool.region_len() as u64);
    }
}

#[test]
fn exhaustion_is_counted_not_a_panic_and_frees_make_room_again() {
    let pool = pool(8);
    let mut bufs = Vec::new();
    assert_eq!(
        pool.alloc_burst(&mut bufs, 16),
        8,
        "a burst gets what there is"
    );
    assert_eq!(pool.alloc_failures(), 1);
    assert!(pool.alloc().is_none());
    assert!(pool.alloc_frame().is_none());
    assert_eq!(pool.alloc_failures(), 3);
    bufs.truncate(3);
    assert_eq!(pool.alloc_burst(&mut bufs, 5), 5);
    drop(bufs);
    assert_eq!(settled_available(&pool), 8);
}

#[test]
fn headroom_prepend_append_trim() {
    let pool = pool(4);
    let mut b = pool.alloc().unwrap();
    assert_eq!(
        (b.len(), b.headroom(), b.tailroom(), b.capacity()),
        (0, 128, 1920, 2048)
    );
    b.extend_from_slice(b"payload").unwrap();
    b.prepend(4).unwrap().copy_from_slice(b"hdr:");
    assert_eq!(b.data(), b"hdr:payload");
    assert_eq!(b.headroom(), 124);
    b.trim_front(4).unwrap();
    assert_eq!(b.data(), b"payload");
    b.truncate(3);
    assert_eq!(b.data(), b"pay");
    assert_eq!(b.headroom(), 128, "trimmed bytes become headroom again");
    assert_eq!(
        b.prepend(129),
        Err(BufError::Headroom {
            need: 129,
            have: 128
        })
    );
    assert_eq!(
        b.append(1918).err(),
        Some(BufError::Tailroom {
            need: 1918,
            have: 1917
        })
    );
    assert_eq!(
        b.trim_front(4),
        Err(BufError::TooShort { need: 4, have: 3 })
    );
    assert_eq!(b.data(), b"pay", "failed operations change nothing");
    b.reset();
    assert_eq!((b.len(), b.headroom()), (0, 128));
    assert!(b.set_window(2000, 49).is_err());
    b.write_at(0, b"whole frame").unwrap();
    assert_eq!((b.headroom(), b.data()), (0, &b"whole frame"[..]));
}

// The round trips through `PacketBuf::into_raw`/`from_raw` and `Pool::alloc_indices`/
// `free_index` call `unsafe fn`s: they are tested inside the crate, in `src/raw/tests.rs`, the
// only place `unsafe` may be written.

#[test]
fn frames_lent_to_a_device_keep_their_window() {
    let pool = pool(4);
    let frame = pool.alloc_frame().unwrap();
    assert_eq!(frame.region_offset(), u64::from(frame.index()) * 2048);
    assert!(
        frame.into_buf(2040, 9).is_err(),
        "a window past the frame's end is refused"
    );
    let frame = pool.alloc_frame().unwrap();
    let buf = frame.into_buf(10, 60).unwrap();
    assert_eq!((buf.headroom(), buf.len()), (10, 60));
    drop(buf);
    assert_eq!(
        settled_available(&pool),
        4,
        "refused windows give the frame back too"
    );
}

#[test]
fn buffers_freed_on_other_threads_go_home() {
    let pool = pool(1024);
    let mut bufs = Vec::new();
    assert_eq!(pool.alloc_burst(&mut bufs, 1000), 1000);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<PacketBuf>>();
    let worker = std::thread::spawn(move || {
        let mut n = 0;
        for batch in rx {
            n += batch.len();
        }
        n
    });
    while !bufs.is_empty() {
        let at = bufs.len().saturating_sub(32);
        tx.send(bufs.split_off(at)).unwrap();
    }
    drop(tx);
    assert_eq!(worker.join().unwrap(), 1000);
    // The worker's cache was given back at thread exit.
    assert_eq!(settled_available(&pool), 1024);
}

#[test]
fn many_threads_alloc_and_free_concurrently_without_losing_frames() {
    let pool = pool(512);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..20_000u32 {
                    if (i + t) % 3 == 0 {
                        held.truncate(held.len() / 2);
                    } else {
                        pool.alloc_burst(&mut held, 8);
                    }
                    if let Some(b) = held.last_mut() {
                        let _ = b.extend_from_slice(&[t as u8; 16]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(settled_available(&pool), 512);
}

#[test]
fn a_buffer_may_outlive_every_pool_handle() {
    let pool = pool(4);
    let mut b = pool.alloc().unwrap();
    drop(pool);
    b.extend_from_slice(b"still here").unwrap();
    assert_eq!(b.data(), b"still here");
    drop(b); // frees the region (checked under valgrind/miri-style runs; here: no crash)
}

proptest! {
    /// Random alloc/free sequences: frames are never shared and never lost.
    #[test]
    fn random_alloc_free_sequences_keep_accounting(ops in proptest::collection::vec((0u8..3, 1usize..40), 1..200)) {
        let pool = pool(64);
        let mut held: Vec<PacketBuf> = Vec::new();
        for (op, n) in ops {
            match op {
                0 => { pool.alloc_burst(&mut held, n); }
                1 => { let keep = held.len().saturating_sub(n); held.truncate(keep); }
                _ => { if let Some(b) = pool.alloc() { held.push(b); } }
            }
            let distinct: HashSet<u32> = held.iter().map(|b| b.frame_index()).collect();
            prop_assert_eq!(distinct.len(), held.len());
            prop_assert!(held.len() <= 64);
        }
        drop(held);
        prop_assert_eq!(settled_available(&pool), 64);
    }
}

#[test]
fn the_reserved_area_is_off_limits_to_the_data_window() {
    let pool = Pool::new(PoolConfig {
        frames: 4,
        frame_size: 2048,
        headroom: 256,
        reserved: 192,
    })
    .unwrap();
    let mut b = pool.alloc().unwrap();
    assert_eq!(
        b.headroom(),
        64,
        "headroom counts down to the reserved area only"
    );
    assert!(b.prepend(65).is_err());
    b.prepend(64).unwrap();
    assert_eq!(b.frame_offset(), 192);
    assert!(b.set_window(191, 10).is_err());
    assert!(b.write_at(100, b"x").is_err());
    assert!(b.set_window(192, 10).is_ok());
    assert_eq!(
        Pool::new(PoolConfig {
            frames: 4,
            frame_size: 2048,
            headroom: 128,
            reserved: 129
        })
        .err(),
        Some(PoolError::Reserved {
            reserved: 129,
            headroom: 128
        })
    );
}
