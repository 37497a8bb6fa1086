//! Fuzz target: the bytes are a script of time advances, segments from one peer (flags,
//! sequence and acknowledgment numbers relative to both ISNs, window, options, payload) and
//! socket calls, played against one listening `Tcp` with invariants checked after every step.
//!
//! The body is `cyclone_stack::tcp::fuzz_tcp_segments`, shared with the stable proptest run in
//! `dataplane/stack/tests/tcp_fuzz.rs`; a failure found here replays there with
//! `CYCLONE_FUZZ_INPUT=<bytes> CYCLONE_FUZZ_TRACE=1 cargo test -p cyclone-stack --test tcp_fuzz replay`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cyclone_stack::tcp::fuzz_tcp_segments(data);
});
