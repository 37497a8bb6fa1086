//! HTTP dates (RFC 9110 §5.6.7): IMF-fixdate formatting for `Date` / `Last-Modified`, cached per
//! second so the hot path copies 29 bytes, and parsing of all three HTTP-date formats for
//! `If-Modified-Since` / `If-Range`. Times are seconds since the Unix epoch, passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

/// `httpdate` formats years up to 9999 only: 9999-12-31T23:59:59Z.
const MAX_UNIX_SECS: u64 = 253_402_300_799;

/// Formats `unix_secs` as an IMF-fixdate (RFC 9110 §5.6.7); clamps to the year 9999.
pub fn format_http_date(unix_secs: u64) -> [u8; IMF_FIXDATE_LEN] {
    use std::io::Write;
    let t = UNIX_EPOCH + Duration::from_secs(unix_secs.min(MAX_UNIX_SECS));
    let mut buf = [b' '; IMF_FIXDATE_LEN];
    let mut cursor = &mut buf[..];
    // Exactly 29 bytes for every year 1970..=9999; a short write cannot happen.
    let _ = write!(cursor, "{}", httpdate::HttpDate::from(t));
    buf
}

/// Parses an HTTP-date in any of the three formats a recipient must accept (RFC 9110 §5.6.7):
/// IMF-fixdate, RFC 850 and asctime. Returns seconds since the Unix epoch.
pub fn parse_http_date(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let t: SystemTime = httpdate::parse_http_date(s).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// The `Date` line, plus the constant `Server` line after it, formatted at most once per second
/// (RFC 9110 §6.6.1, §10.2.4).
#[derive(Debug, Clone)]
pub(crate) struct DateCache {
    secs: u64,
    /// `Date: <IMF-fixdate>\r\n<server line>`.
    block: Vec<u8>,
}

const DATE_AT: std::ops::Range<usize> = 6..6 + IMF_FIXDATE_LEN;

impl DateCache {
    pub(crate) fn new(server_line: &[u8]) -> DateCache {
        let mut block = Vec::with_capacity(DATE_AT.end + 2 + server_line.len());
        block.extend_from_slice(b"Date: ");
        block.extend_from_slice(&format_http_date(0));
        block.extend_from_slice(b"\r\n");
        block.extend_from_slice(server_line);
        DateCache { secs: 0, block }
    }

    /// `Date: ...\r\nServer: ...\r\n` for `unix_secs`.
    pub(crate) fn get(&mut self, unix_secs: u64) -> &[u8] {
        if unix_secs != self.secs {
            self.secs = unix_secs;
            self.block[DATE_AT].copy_from_slice(&format_http_date(unix_secs));
        }
        &self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_rfc_example() {
        assert_eq!(
            &format_http_date(784_111_777),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(&format_http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &format_http_date(u64::MAX),
            b"Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn parses_all_three_formats() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(s.as_bytes()), Some(784_111_777), "{s}");
        }
        assert_eq!(parse_http_date(b"yesterday"), None);
        assert_eq!(parse_http_date(b"\xff"), None);
    }

    #[test]
    fn cache_reformats_on_a_new_second_only() {
        let mut c = DateCache::new(b"Server: x\r\n");
        assert_eq!(
            c.get(0),
            b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nServer: x\r\n"
        );
        assert_eq!(
            c.get(784_111_777),
            b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: x\r\n"
        );
        assert_eq!(
            c.get(784_111_778),
            b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\nServer: x\r\n"
        );
    }
}
