//! Fuzz target: an arbitrary byte slice parsed as an Ethernet frame down through ARP and
//! IPv4 → TCP/UDP/ICMP, with what parsed re-emitted and the round trips checked.
//!
//! The body is `cyclone_stack::wire::fuzz_parse_frame`, shared with the stable proptest run
//! in `dataplane/stack/tests/wire_fuzz.rs`. Checksums are both trusted (so mutated frames get
//! past them into the deeper parsers) and verified on every parse.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cyclone_stack::wire::fuzz_parse_frame(data);
});
