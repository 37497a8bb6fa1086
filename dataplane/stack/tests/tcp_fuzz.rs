//! The TCP segment fuzz harness (`cyclone_stack::tcp::fuzz_tcp_segments`) under proptest, so
//! that `cargo test` runs a few hundred long random scripts; `fuzz/` runs the same function
//! under libFuzzer (`cargo fuzz run tcp_segments`).

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn segments_never_break_invariants(data in proptest::collection::vec(any::<u8>(), 0..6000)) {
        cyclone_stack::tcp::fuzz_tcp_segments(&data);
    }

    /// Header prediction changes nothing but the cost: the same input sends the same segments
    /// and ends with the same counters with the fast path on and off.
    #[test]
    fn header_prediction_sends_what_the_full_path_sends(
        data in proptest::collection::vec(any::<u8>(), 0..6000)
    ) {
        prop_assert_eq!(
            cyclone_stack::tcp::fuzz_tcp_segments_digest(&data, true),
            cyclone_stack::tcp::fuzz_tcp_segments_digest(&data, false)
        );
    }
}

/// Handshake, data both ways, FIN: a hand-written input that reaches ESTABLISHED, so the
/// harness itself is known to get past the handshake.
#[test]
fn handshake_and_data_input() {
    let mut data = vec![
        0b0100_0000,
        0, // config: 700-byte receive buffer, MSS 536, no options
        0,
        0,
        0,
        0, // peer ISN 0
        // SYN (flags 1), seq = peer.nxt, ack = our_high, window 65535, no payload.
        0,
        1,
        0,
        // ACK (2), seq = peer.nxt, ack = our_high.
        0,
        2,
        0,
        // ACK with 100 bytes of data (sel bit 7, length byte 100).
        0,
        2,
        0x80,
        100,
        // send 37 bytes from the app, then read.
        204,
        1,
        206,
        5,
        // Time passes (1 s), then FIN.
        165,
        0,
        6,
        0,
    ];
    data.extend_from_slice(&[165, 165, 165]);
    cyclone_stack::tcp::fuzz_tcp_segments(&data);
}

/// Replays `CYCLONE_FUZZ_INPUT` (comma-separated bytes, as proptest prints them) — for
/// debugging a failure with `CYCLONE_FUZZ_TRACE=1`.
#[test]
fn replay_input_from_env() {
    let Ok(text) = std::env::var("CYCLONE_FUZZ_INPUT") else {
        return;
    };
    let data: Vec<u8> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect();
    cyclone_stack::tcp::fuzz_tcp_segments(&data);
}
