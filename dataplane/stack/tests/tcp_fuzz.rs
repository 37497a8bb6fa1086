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

/// Regression: a second SYN, with another sequence number, hits the connection in
/// SYN-RECEIVED; the stack answers with its SYN-ACK again (same ISS, ACK = RCV.NXT, RFC 9293
/// §3.10.7.4), whose ACK happens to fall inside the new SYN's text. The checker took that for
/// the answer to the new SYN, opened a second session with the same ISS and then checked the
/// real connection's data against it ("seq out of bounds").
#[test]
fn synack_repeated_for_a_second_syn_in_syn_received() {
    cyclone_stack::tcp::fuzz_tcp_segments(include_bytes!(
        "fuzz-seeds/seq-out-of-bounds-synack-repeat.bin"
    ));
}

/// Regression: the accepted connection is aborted and the peer sends its SYN again, same
/// sequence number, within the same instant: the new connection has the old one's ISS and
/// IRS. The checker took its SYN-ACK for a repetition of the old (already accepted) session's
/// and then found no session to give the accepted connection ("accepted a connection we
/// never sent a SYN-ACK for"); an accepted connection is ESTABLISHED and sends no SYN.
#[test]
fn same_iss_and_irs_after_the_accepted_connection_is_aborted() {
    cyclone_stack::tcp::fuzz_tcp_segments(include_bytes!(
        "fuzz-seeds/accepted-reopen-same-iss-irs.bin"
    ));
}

/// The other reading of an identical SYN-ACK: the half-open connection is reset, and a new
/// SYN (another IRS, with text up to the same RCV.NXT) opens a new one within the same
/// instant, so with the same ISS: its SYN-ACK is byte for byte the old one's. The accepted
/// connection is the new one, and the checker follows it (IRS + 1 = 991, not 1001).
#[test]
fn identical_synack_from_a_new_connection() {
    let data = [
        0b0100_0000,
        0, // config: 700-byte receive buffer, MSS 536, no options
        0xe8,
        0x03,
        0,
        0, // peer ISN 1000
        // SYN at 1000, no text: SYN-ACK <ISS><ACK=1001>.
        0,
        1,
        0,
        // RST at RCV.NXT (1001): the SYN-RECEIVED connection goes back to LISTEN.
        0,
        8,
        0,
        // SYN at ISN − 10 = 990 with 10 bytes of text: SYN-ACK <ISS><ACK=1001> again.
        0,
        1,
        0x82,
        0xf6,
        0xff,
        10,
        // ACK of our SYN: ESTABLISHED, accepted, its 10 bytes read.
        0,
        2,
        0,
        // Send 148 bytes (checked against this connection's ISS), read, time passes.
        204,
        4,
        206,
        4,
        165,
        165,
    ];
    cyclone_stack::tcp::fuzz_tcp_segments(&data);
}

/// `CYCLONE_FUZZ_SWEEP` (default 10 000) random inputs like the proptest's (0..6000 bytes),
/// seeded `CYCLONE_FUZZ_SEED` (default 1) and up, on one thread; fails listing the seeds of the
/// inputs that broke an invariant and how (`CYCLONE_FUZZ_SWEEP=1 CYCLONE_FUZZ_SEED=<seed>`
/// replays one, with `CYCLONE_FUZZ_TRACE=1` and `--nocapture` traced). By hand, in release:
/// `cargo test --release -p cyclone-stack --test tcp_fuzz -- --ignored sweep`.
#[test]
#[ignore = "long: run by hand, in release"]
fn sweep_random_inputs() {
    let var = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let cases = var("CYCLONE_FUZZ_SWEEP", 10_000);
    let first = var("CYCLONE_FUZZ_SEED", 1);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = Vec::new();
    for seed in first..first + cases {
        // SplitMix64.
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let len = (next() % 6000) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Err(e) = std::panic::catch_unwind(|| cyclone_stack::tcp::fuzz_tcp_segments(&data)) {
            let message = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            let short: String = message.chars().take(40).collect();
            failed.push(format!("{seed}: {short}"));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failed.is_empty(),
        "{} of {cases} failed (seed: message): {failed:#?}",
        failed.len()
    );
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

/// Replays `CYCLONE_FUZZ_FILE` (raw bytes) — for debugging.
#[test]
fn replay_file_from_env() {
    let Ok(path) = std::env::var("CYCLONE_FUZZ_FILE") else {
        return;
    };
    let data = std::fs::read(path).expect("read CYCLONE_FUZZ_FILE");
    cyclone_stack::tcp::fuzz_tcp_segments(&data);
}
