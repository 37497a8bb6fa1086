//! The request head: finding and parsing it with `httparse` (RFC 9112 §2–§5), then the framing
//! and connection rules that `httparse` leaves to us: message body length (§6), persistence
//! (§9.3), `Host` (§3.2), `Expect` (RFC 9110 §10.1.1) and the request target forms (§3.2).

use std::mem::MaybeUninit;

use crate::error::HttpError;

/// Header lines per request at most; more is `431`.
pub(crate) const MAX_HEADERS: usize = 64;

/// Uninitialised header slots for `httparse` (no per-request zeroing).
pub(crate) type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

pub(crate) fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// What looking for a head in the received bytes found.
#[derive(Debug)]
pub(crate) enum HeadScan<'h, 'b> {
    /// A complete head of this many bytes, parsed.
    Complete(usize, httparse::Request<'h, 'b>),
    /// Not complete yet; `scanned` bytes need not be looked at again for a new line.
    NeedMore { scanned: usize },
    /// Error (400 or 431).
    Error(HttpError),
}

/// Looks for a complete request head at the start of `buf`.
///
/// Only the first `limit` bytes count, and `httparse` only ever sees whole lines (up to the last
/// LF), so the outcome depends on the bytes received, never on how they were split into reads:
/// a head is complete, malformed (400) or over the limit (431) at the same byte whatever the
/// split. Lines already parsed (`scanned`) are not parsed again unless a new LF arrived, which
/// keeps a 1-byte-per-read client from costing O(n²).
#[inline]
pub(crate) fn scan_head<'h, 'b>(
    buf: &'b [u8],
    limit: usize,
    scanned: usize,
    slots: &'h mut HeaderSlots<'b>,
) -> HeadScan<'h, 'b> {
    let window = &buf[..buf.len().min(limit)];
    let scanned = scanned.min(window.len());
    let over = buf.len() >= limit;
    // Usually the read ends with the head's final LF: no scan needed.
    let last_lf = if window.len() > scanned && window.last() == Some(&b'\n') {
        Some(window.len())
    } else {
        window[scanned..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| scanned + i + 1)
    };
    let Some(lines_end) = last_lf else {
        return if over {
            HeadScan::Error(HttpError::HeaderTooLarge { limit })
        } else {
            HeadScan::NeedMore {
                scanned: window.len(),
            }
        };
    };
    let lines = &window[..lines_end];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(lines, slots) {
        Ok(httparse::Status::Complete(n)) => HeadScan::Complete(n, req),
        Ok(httparse::Status::Partial) if over => {
            HeadScan::Error(HttpError::HeaderTooLarge { limit })
        }
        Ok(httparse::Status::Partial) => HeadScan::NeedMore {
            scanned: window.len(),
        },
        // RFC 6585 §5: too many header fields is "431 Request Header Fields Too Large".
        Err(httparse::Error::TooManyHeaders) => {
            HeadScan::Error(HttpError::HeaderTooLarge { limit })
        }
        Err(e) => HeadScan::Error(HttpError::MalformedHead(e)),
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`: §6.3 item 7), or length 0.
    None,
    /// `Content-Length: n`, n > 0.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the connection needs to know about a request head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadInfo {
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor: u8,
    /// Whether the connection persists after this request (RFC 9112 §9.3).
    pub(crate) keep_alive: bool,
    pub(crate) framing: Framing,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub(crate) expect_continue: bool,
    pub(crate) is_head: bool,
}

/// Applies the framing and connection rules to a parsed head.
#[inline(always)]
pub(crate) fn analyze(req: &httparse::Request<'_, '_>) -> Result<HeadInfo, HttpError> {
    let minor = req.version.unwrap_or(1);
    // First, a light pass: the Host lines, and whether any header the other rules look at
    // may be there (by length and first letter; a false alarm only takes the full pass).
    let mut hosts = 0u32;
    let mut maybe_framing = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let first = name.first().map_or(0, |b| b | 0x20);
        match (name.len(), first) {
            (4, b'h') => hosts += u32::from(name_is(name, b"host")),
            (6, b'e') | (10, b'c') | (14, b'c') | (17, b't') => maybe_framing = true,
            _ => {}
        }
    }
    if !maybe_framing && hosts == 1 {
        // The usual request: one Host, no body, no Connection or Expect header. The same
        // answer as the full rules give.
        return Ok(HeadInfo {
            minor,
            keep_alive: minor == 1,
            framing: Framing::None,
            expect_continue: false,
            is_head: req.method == Some("HEAD"),
        });
    }
    analyze_full(req, minor)
}

/// [`analyze`] for heads with framing or connection headers (or not exactly one Host).
#[inline(never)]
fn analyze_full(req: &httparse::Request<'_, '_>, minor: u8) -> Result<HeadInfo, HttpError> {
    let mut content_length: Option<u64> = None;
    let mut te_seen = false;
    let mut te_unsupported = false;
    let mut te_chunked_count = 0u32;
    let mut te_chunked_last = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut expect_other = false;
    let mut hosts = 0u32;

    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        // Dispatch on length and first letter: most headers are skipped after two compares.
        let first = name.first().map_or(0, |b| b | 0x20);
        match (name.len(), first) {
            (4, b'h') if name_is(name, b"host") => hosts += 1,
            (6, b'e') if name_is(name, b"expect") => {
                // RFC 9110 §10.1.1: the only expectation is "100-continue" (case-insensitive).
                if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    expect_other = true;
                }
            }
            (10, b'c') if name_is(name, b"connection") => {
                // RFC 9112 §9.6 / RFC 9110 §7.6.1: a list of case-insensitive options.
                for opt in h.value.split(|&b| b == b',').map(trim) {
                    if opt.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            (14, b'c') if name_is(name, b"content-length") => {
                // RFC 9112 §6.3 item 5: several or invalid values are unrecoverable → 400.
                if content_length.is_some() {
                    return Err(HttpError::BadRequest("more than one Content-Length"));
                }
                content_length = Some(
                    parse_decimal(trim(h.value))
                        .ok_or(HttpError::BadRequest("invalid Content-Length"))?,
                );
            }
            (17, b't') if name_is(name, b"transfer-encoding") => {
                te_seen = true;
                // RFC 9112 §6.1: a list of codings, applied in order; empty elements are
                // allowed by the list syntax (RFC 9110 §5.6.1) and skipped.
                for coding in h.value.split(|&b| b == b',').map(trim) {
                    if coding.is_empty() {
                        continue;
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        te_chunked_count += 1;
                        te_chunked_last = true;
                    } else {
                        te_unsupported = true;
                        te_chunked_last = false;
                    }
                }
            }
            _ => {}
        }
    }

    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with
    // more than one Host line.
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return Err(HttpError::BadRequest("missing or repeated Host"));
    }

    let framing = if te_seen {
        // RFC 9112 §6.3 item 3: both present is a smuggling attempt; reject and close.
        if content_length.is_some() {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
        if minor == 0 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        // RFC 9112 §6.1: a coding we do not understand → 501.
        if te_unsupported {
            return Err(HttpError::UnsupportedTransferCoding);
        }
        // RFC 9112 §6.1 / §7: chunked must be final and applied once, else 400.
        if te_chunked_count != 1 || !te_chunked_last {
            return Err(HttpError::BadRequest(
                "chunked not the single, final coding",
            ));
        }
        Framing::Chunked
    } else {
        match content_length {
            None | Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };

    // RFC 9110 §10.1.1: an HTTP/1.0 server ignores Expect; an unknown expectation may be 417.
    if minor == 1 && expect_other {
        return Err(HttpError::ExpectationFailed);
    }

    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    let keep_alive = !conn_close && (minor == 1 || conn_keep_alive);

    Ok(HeadInfo {
        minor,
        keep_alive,
        framing,
        expect_continue: minor == 1 && expect_continue && framing != Framing::None,
        is_head: req.method == Some("HEAD"),
    })
}

/// Splits a request target into path and query (RFC 9112 §3.2). Accepts origin-form
/// (`/p?q`) and absolute-form (`http://host/p?q`, §3.2.2: a server must accept it); the
/// authority- and asterisk-forms (CONNECT, `OPTIONS *`) are not served → 400.
#[inline(always)]
pub(crate) fn split_target(target: &str) -> Result<(&str, Option<&str>), HttpError> {
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(HttpError::BadRequest("unsupported request-target form"))?;
        match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            // "http://host?q" has an empty path, which means "/" (RFC 9110 §4.2.3);
            // serve it as "/" without the query.
            _ => "/",
        }
    };
    Ok(match find_query(path_and_query.as_bytes()) {
        Some(i) => (&path_and_query[..i], Some(&path_and_query[i + 1..])),
        None => (path_and_query, None),
    })
}

/// Whether header name `name` is `lower` (lowercase letters and `-`), ignoring case. Exact
/// for names `httparse` accepts (tokens, RFC 9110 §5.6.2): among token bytes, only `A`-`Z` and
/// `a`-`z` become a lowercase letter with bit 5 set, and only `-` becomes `-`. No early exit.
#[inline(always)]
fn name_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len()
        && name
            .iter()
            .zip(lower)
            .fold(0u8, |acc, (&a, &b)| acc | ((a | 0x20) ^ b))
            == 0
}

/// Where the first `?` of `b` is. Short paths are the rule: up to 8 bytes take two
/// overlapping 4-byte words, longer ones 8-byte words, tested for a `?` byte all at once
/// (the exact byte is then found by a plain scan).
#[inline(always)]
fn find_query(b: &[u8]) -> Option<usize> {
    const Q: u64 = 0x3f3f_3f3f_3f3f_3f3f;
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Whether a word has a zero byte after xor with `?`s: no false negatives, and no false
    // positives for "some byte is zero".
    #[inline(always)]
    fn has(w: u64) -> bool {
        let x = w ^ Q;
        x.wrapping_sub(LO) & !x & HI != 0
    }
    #[inline(always)]
    fn word4(b: &[u8]) -> u64 {
        u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    #[inline(always)]
    fn word8(b: &[u8]) -> u64 {
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    let n = b.len();
    let maybe = if n < 4 {
        true
    } else if n <= 8 {
        // Two overlapping words in the low half; the zero high half never matches `?`.
        has(word4(b)) || has(word4(&b[n - 4..]))
    } else {
        let mut i = 0;
        let mut hit = false;
        while i + 8 < n && !hit {
            hit = has(word8(&b[i..]));
            i += 8;
        }
        hit || has(word8(&b[n - 8..]))
    };
    if maybe {
        b.iter().position(|&c| c == b'?')
    } else {
        None
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Strips optional whitespace (OWS: SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// `1*DIGIT` as a u64; `None` on anything else or on overflow.
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(head: &str) -> Result<HeadInfo, HttpError> {
        let mut slots = header_slots();
        let mut req = httparse::Request::new(&mut []);
        let n = req
            .parse_with_uninit_headers(head.as_bytes(), &mut slots)
            .unwrap();
        assert!(n.is_complete());
        analyze(&req)
    }

    #[test]
    fn framing_rules() {
        let h = "GET / HTTP/1.1\r\nHost: a\r\n";
        assert_eq!(info(&format!("{h}\r\n")).unwrap().framing, Framing::None);
        let i = info(&format!("{h}Content-Length: 5\r\n\r\n")).unwrap();
        assert_eq!(i.framing, Framing::Length(5));
        let i = info(&format!("{h}Transfer-Encoding: ,Chunked\r\n\r\n")).unwrap();
        assert_eq!(i.framing, Framing::Chunked);
        for (extra, status) in [
            ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
            ("Content-Length: +5\r\n", 400),
            ("Content-Length: 99999999999999999999999\r\n", 400),
            ("Transfer-Encoding: gzip\r\n", 501),
            ("Transfer-Encoding: gzip, chunked\r\n", 501),
            ("Transfer-Encoding: chunked, chunked\r\n", 400),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                400,
            ),
            ("Transfer-Encoding: \r\n", 400),
            ("Expect: 200-ok\r\n", 417),
            ("Host: b\r\n", 400),
        ] {
            let e = info(&format!("{h}{extra}\r\n")).unwrap_err();
            assert_eq!(e.status(), Some(status), "{extra:?}");
        }
    }

    #[test]
    fn persistence_rules() {
        assert!(
            info("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            !info("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!info("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            info("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/a?b").unwrap(), ("/a", Some("b")));
        assert_eq!(split_target("/a").unwrap(), ("/a", None));
        assert_eq!(split_target("HTTP://h:80/x?y").unwrap(), ("/x", Some("y")));
        assert_eq!(split_target("http://h").unwrap(), ("/", None));
        assert!(split_target("*").is_err());
        assert!(split_target("h:443").is_err());
    }

    #[test]
    fn query_search_and_name_compare_match_the_plain_versions() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // Mostly path bytes, sometimes `?` or a byte next to it.
                        match rng % 16 {
                            0 => b'?',
                            1 => b'?' ^ 1,
                            2 => 0xbf,
                            _ => b'a' + (rng % 26) as u8,
                        }
                    })
                    .collect();
                assert_eq!(find_query(&b), b.iter().position(|&c| c == b'?'), "{b:?}");
            }
        }
        for name in [
            "Host",
            "HOST",
            "host",
            "hosT",
            "hos",
            "hostx",
            "h0st",
            "Content-Length",
        ] {
            for lit in ["host", "content-length"] {
                let lit = lit.as_bytes();
                assert_eq!(
                    name_is(name.as_bytes(), lit),
                    name.as_bytes().eq_ignore_ascii_case(lit),
                    "{name} {lit:?}"
                );
            }
        }
    }

    #[test]
    fn scan_is_line_based_and_bounded() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut s = header_slots();
        assert!(
            matches!(scan_head(req, 8192, 0, &mut s), HeadScan::Complete(n, _) if n == req.len())
        );
        assert!(matches!(
            scan_head(&req[..10], 8192, 0, &mut s),
            HeadScan::NeedMore { scanned: 10 }
        ));
        assert!(matches!(
            scan_head(req, 20, 0, &mut s),
            HeadScan::Error(HttpError::HeaderTooLarge { .. })
        ));
        // A bad byte on an unfinished line is judged once the line ends.
        assert!(matches!(
            scan_head(b"GET / HTTP/1.1\r\nX\x01", 8192, 0, &mut s),
            HeadScan::NeedMore { .. }
        ));
        assert!(matches!(
            scan_head(b"GET / HTTP/1.1\r\nX\x01\r\n", 8192, 0, &mut s),
            HeadScan::Error(HttpError::MalformedHead(_))
        ));
    }
}
