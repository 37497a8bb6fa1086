//! The `parse_frame` fuzz target's body run as property tests on stable Rust: arbitrary bytes,
//! and real frames with random mutations (byte changes, truncation, insertion, length-field
//! rewrites). `cargo fuzz run parse_frame` in `fuzz/` runs the same body under libFuzzer.

use cyclone_stack::wire::{fuzz_parse_frame, samples, FuzzReach};
use proptest::prelude::*;

/// A random edit of a frame.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at (index mod len).
    Set(usize, u8),
    /// XOR the byte at (index mod len) with a non-zero mask.
    Flip(usize, u8),
    /// Cut the frame at (index mod (len + 1)).
    Truncate(usize),
    /// Insert bytes at (index mod (len + 1)).
    Insert(usize, Vec<u8>),
    /// Overwrite a 16-bit big-endian field at an even offset (lengths, ports, checksums).
    Word(usize, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        4 => (any::<usize>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        3 => (any::<usize>(), prop_oneof![Just(0u16), Just(0xffff), any::<u16>()])
            .prop_map(|(i, w)| Mutation::Word(i, w)),
    ]
}

fn apply(frame: &mut Vec<u8>, mutation: &Mutation) {
    let len = frame.len();
    match mutation {
        Mutation::Set(i, v) if len > 0 => frame[i % len] = *v,
        Mutation::Flip(i, m) if len > 0 => frame[i % len] ^= *m,
        Mutation::Truncate(i) => frame.truncate(i % (len + 1)),
        Mutation::Insert(i, bytes) => {
            let at = i % (len + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Word(i, w) if len >= 2 => {
            let at = (i % (len / 2)) * 2;
            frame[at..at + 2].copy_from_slice(&w.to_be_bytes());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4096,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..1600)) {
        fuzz_parse_frame(&data);
    }

    #[test]
    fn mutated_real_frames(
        which in 0..7usize,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut frame = samples::all().swap_remove(which);
        for m in &mutations {
            apply(&mut frame, m);
        }
        fuzz_parse_frame(&frame);
    }

    #[test]
    fn real_frames_with_random_payloads(
        which in 0..7usize,
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        // Keep the headers, replace what follows the first 42 bytes: reaches the L4 parsers
        // with garbage under headers that (with checksums trusted) still parse.
        let mut frame = samples::all().swap_remove(which);
        frame.truncate(42);
        frame.extend_from_slice(&tail);
        fuzz_parse_frame(&frame);
    }
}

/// The mutation strategy must reach every parser, or the properties above test little.
#[test]
fn mutations_reach_every_layer() {
    let mut rng = fastrand::Rng::with_seed(0xf022);
    let mut seen = FuzzReach::default();
    let seeds = samples::all();
    for _ in 0..20_000 {
        let mut frame = seeds[rng.usize(..seeds.len())].clone();
        let at = rng.usize(..frame.len());
        frame[at] ^= rng.u8(1..);
        let reach = fuzz_parse_frame(&frame);
        seen.ethernet |= reach.ethernet;
        seen.arp |= reach.arp;
        seen.ipv4 |= reach.ipv4;
        seen.tcp |= reach.tcp;
        seen.udp |= reach.udp;
        seen.icmp |= reach.icmp;
    }
    assert_eq!(
        seen,
        FuzzReach {
            ethernet: true,
            arp: true,
            ipv4: true,
            tcp: true,
            udp: true,
            icmp: true
        }
    );
}
