//! Fuzz target: the bytes (after the first, which seeds the read sizes) are what a client sends
//! on one connection to a server with the built-in applications and static files; checked:
//! no panic, the output is the same for any split into reads and starts with a well-formed
//! response, and no file from outside the static root is served.
//!
//! The body is `cyclone_http::fuzz_request_path`, shared with the stable proptest run in
//! `dataplane/http/tests/split_invariance.rs`, which also replays every file in
//! `seeds/request_path/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cyclone_http::fuzz_request_path(data);
});
