//! Property: for arbitrary bytes (raw, and stitched from request fragments so parsing gets
//! deep), any split into reads gives the same output, the output is well-formed, and nothing
//! panics. The same check is `cyclone_http::fuzz_request_path` for cargo-fuzz.

use cyclone_http::fuzz::check_split_invariance;
use proptest::prelude::*;

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n",
        b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /health HTTP/1.0\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"3;x=y\r\nabc\r\n",
        b"0\r\nT: v\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9999\r\n\r\n",
        b"GET /health HTTP/1.1\r\n",
        b"Host: t\r\n",
        b"\r\n",
        b"\n",
        b"GET /static/index.html HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /static/docs/readme.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=2-9\r\n\r\n",
        b"GET /static/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /static/docs/%2E%2E/..%2fsecret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
        1 => "[ -~]{0,24}".prop_map(|v| format!("X-F: {v}\r\n").into_bytes()),
        1 => "[0-9a-fA-F;= ]{1,6}".prop_map(|v| format!("{v}\r\n").into_bytes()),
    ]
}

fn stitched() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..10).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn raw_bytes(input in proptest::collection::vec(any::<u8>(), 0..300),
                 cuts in proptest::collection::vec(0usize..300, 0..16)) {
        check_split_invariance(&input, &cuts);
    }

    #[test]
    fn stitched_requests(input in stitched(),
                         cuts in proptest::collection::vec(0usize..1200, 0..24)) {
        check_split_invariance(&input, &cuts);
    }

    #[test]
    fn fuzz_entry_point(data in stitched()) {
        cyclone_http::fuzz_request_path(&data);
    }
}

/// Every input kept in the cargo-fuzz target's seeds (`dataplane/http/fuzz/seeds/`: a request
/// of each kind, and whatever the fuzzer found) passes the same check on every test run.
#[test]
fn fuzz_seeds_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/request_path");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let caught = std::panic::catch_unwind(|| cyclone_http::fuzz_request_path(&data));
        assert!(caught.is_ok(), "seed {} fails", path.display());
        replayed += 1;
    }
    assert!(replayed >= 10, "only {replayed} seeds in {}", dir.display());
}
