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

#[test]
fn a_shared_frame_returns_to_the_pool_with_its_last_buffer() {
    let pool = pool(4);
    let mut a = pool.alloc().unwrap();
    a.extend_from_slice(b"segment").unwrap();
    assert!(!a.is_shared());
    let mut b = a.share();
    assert!(a.is_shared() && b.is_shared());
    assert_eq!(b.frame_index(), a.frame_index());
    assert_eq!(b.data(), b"segment");
    // Windows are each buffer's own.
    b.trim_front(3).unwrap();
    assert_eq!((a.data(), b.data()), (&b"segment"[..], &b"ment"[..]));
    let c = b.share();
    assert_eq!(settled_available(&pool), 3);
    drop(a);
    drop(c);
    assert_eq!(
        settled_available(&pool),
        3,
        "one buffer still holds the frame"
    );
    assert!(!b.is_shared());
    drop(b);
    assert_eq!(settled_available(&pool), 4);
    // The frame's count was reset for its next life: a fresh buffer of it is not shared.
    let fresh: Vec<_> = (0..4).map(|_| pool.alloc().unwrap()).collect();
    assert!(fresh.iter().all(|f| !f.is_shared()));
}

#[test]
fn writing_a_shared_frame_copies_it_first() {
    let pool = pool(3);
    let mut kept = pool.alloc().unwrap();
    kept.extend_from_slice(b"payload").unwrap();
    let mut sent = kept.share();
    // Headers in front of the shared data: the writer moves to a frame of its own.
    sent.prepend(2).unwrap().copy_from_slice(b"H:");
    assert_ne!(sent.frame_index(), kept.frame_index());
    assert_eq!(sent.data(), b"H:payload");
    assert_eq!(kept.data(), b"payload");
    assert!(!kept.is_shared() && !sent.is_shared());
    // Every writer copies: data_mut, append, write_at.
    let mut other = kept.share();
    other.data_mut()[0] = b'P';
    assert_eq!(
        (kept.data(), other.data()),
        (&b"payload"[..], &b"Payload"[..])
    );
    drop(other);
    let mut tail = kept.share();
    tail.extend_from_slice(b"!").unwrap();
    assert_eq!(
        (kept.data(), tail.data()),
        (&b"payload"[..], &b"payload!"[..])
    );
    drop(tail);
    let mut at = kept.share();
    at.write_at(200, b"x").unwrap();
    assert_eq!((kept.data(), at.data()), (&b"payload"[..], &b"x"[..]));
    drop(at);
    // A buffer alone again writes in place.
    let index = kept.frame_index();
    kept.data_mut()[0] = b'p';
    assert_eq!(kept.frame_index(), index);
    drop((kept, sent));
    assert_eq!(settled_available(&pool), 3);
}

#[test]
fn a_shared_frame_is_not_written_when_the_pool_has_no_frame_for_the_copy() {
    let pool = pool(1);
    let mut a = pool.alloc().unwrap();
    a.extend_from_slice(b"abc").unwrap();
    let mut b = a.share();
    assert!(matches!(b.prepend(1), Err(crate::BufError::SharedNoFrame)));
    assert!(b.append(1).is_err());
    assert!(b.data_mut().is_empty());
    assert_eq!((a.data(), b.data()), (&b"abc"[..], &b"abc"[..]));
    assert_eq!(pool.alloc_failures(), 3);
}

#[test]
fn a_device_gives_back_one_handle_of_a_shared_frame() {
    let pool = pool(2);
    let mut kept = pool.alloc().unwrap();
    kept.extend_from_slice(b"abc").unwrap();
    // The device takes one buffer of the frame and gives its index back when done.
    let raw = kept.share().into_raw();
    // SAFETY: the index came from `into_raw` above and is given back once.
    unsafe { pool.free_indices([raw.index]) };
    assert_eq!(settled_available(&pool), 1);
    assert_eq!(kept.data(), b"abc");
    assert!(!kept.is_shared());
    let raw = kept.share().into_raw();
    drop(kept);
    assert_eq!(settled_available(&pool), 1, "the device still holds it");
    // SAFETY: as above.
    unsafe { pool.free_index(raw.index) };
    assert_eq!(settled_available(&pool), 2);
}

#[test]
fn buffers_of_one_frame_drop_on_different_threads() {
    let pool = pool(64);
    for _ in 0..200 {
        let mut a = pool.alloc().unwrap();
        a.extend_from_slice(&[7; 100]).unwrap();
        let shares: Vec<_> = (0..4).map(|_| a.share()).collect();
        let handles: Vec<_> = shares
            .into_iter()
            .map(|b| std::thread::spawn(move || assert_eq!(b.data(), &[7; 100][..])))
            .collect();
        drop(a);
        for h in handles {
            h.join().unwrap();
        }
    }
    assert_eq!(settled_available(&pool), 64);
}
