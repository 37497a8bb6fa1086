//! [`Response`] and its [`Body`] (none, static bytes, owned bytes, or a region of a file that is
//! streamed as the socket drains), reason phrases, and the serialisation of a response head
//! (RFC 9112 §4 status line, §5 fields; RFC 9110 §6.6.1 `Date`, §10.2.4 `Server`).

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};

/// A response from a handler. The connection adds `Date`, `Server`, `Content-Length` and
/// `Connection`; handler headers with those names (or `Transfer-Encoding`), or with CR, LF or
/// NUL anywhere, are dropped (no response splitting).
#[derive(Debug)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<Cow<'static, str>>,
    pub(crate) headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub(crate) body: Body,
}

impl Response {
    /// An empty response with this status. Statuses outside 200..=999 become 500 (interim
    /// 1xx responses are the connection's business).
    pub fn new(status: u16) -> Response {
        Response {
            status: valid_status(status),
            content_type: None,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Body>) -> Response {
        // Built in one go rather than through the builder: no moves of the whole struct.
        Response {
            status: valid_status(status),
            content_type: Some(Cow::Borrowed("text/plain; charset=utf-8")),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Sets `Content-Type` (kept apart from other headers: no allocation for static types).
    pub fn with_content_type(mut self, value: impl Into<Cow<'static, str>>) -> Response {
        self.content_type = Some(value.into());
        self
    }

    /// Adds a header.
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The extra headers (not `Content-Type`).
    pub fn headers(&self) -> &[(Cow<'static, str>, Cow<'static, str>)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }
}

/// `status` if it is a final status (200..=999), else 500.
fn valid_status(status: u16) -> u16 {
    if (200..=999).contains(&status) {
        status
    } else {
        500
    }
}

/// A response body. Its length is always known: responses are framed by `Content-Length`.
#[derive(Debug, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// Static bytes (sent without a copy when large).
    Static(&'static [u8]),
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// A region of a file, read in chunks as the output drains.
    File(FileBody),
}

impl Body {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Static(b) => b.len() as u64,
            Body::Bytes(b) => b.len() as u64,
            Body::File(f) => f.len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Body {
        Body::Static(b)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Static(s.as_bytes())
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::Bytes(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(s.into_bytes())
    }
}

impl From<FileBody> for Body {
    fn from(f: FileBody) -> Body {
        Body::File(f)
    }
}

/// `len` bytes of an open file from its current position.
#[derive(Debug)]
pub struct FileBody {
    pub(crate) file: File,
    pub(crate) len: u64,
}

impl FileBody {
    /// `len` bytes of `file` from `offset` (seeks there now).
    pub fn new(mut file: File, offset: u64, len: u64) -> io::Result<FileBody> {
        file.seek(SeekFrom::Start(offset))?;
        Ok(FileBody { file, len })
    }
}

macro_rules! status_table {
    ($($code:literal $reason:literal,)*) => {
        /// The reason phrase for a status code (RFC 9110 §15); empty for unknown codes, which
        /// RFC 9112 §4 allows.
        pub fn reason_phrase(status: u16) -> &'static str {
            match status {
                $($code => $reason,)*
                _ => "",
            }
        }

        /// The whole status line for the codes we know (one copy on the hot path).
        fn status_line(status: u16) -> Option<&'static str> {
            match status {
                $($code => Some(concat!("HTTP/1.1 ", $code, " ", $reason, "\r\n")),)*
                _ => None,
            }
        }
    };
}

status_table! {
    100 "Continue",
    200 "OK",
    201 "Created",
    204 "No Content",
    206 "Partial Content",
    301 "Moved Permanently",
    302 "Found",
    304 "Not Modified",
    400 "Bad Request",
    403 "Forbidden",
    404 "Not Found",
    405 "Method Not Allowed",
    408 "Request Timeout",
    411 "Length Required",
    413 "Content Too Large",
    416 "Range Not Satisfiable",
    417 "Expectation Failed",
    431 "Request Header Fields Too Large",
    500 "Internal Server Error",
    501 "Not Implemented",
    503 "Service Unavailable",
    505 "HTTP Version Not Supported",
}

/// Whether a response with this status carries no content and no `Content-Length`
/// (RFC 9110 §8.6: 1xx, 204; and 304, whose length would be the 200's).
pub(crate) fn status_has_no_body(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Connection-level facts for [`write_head`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadParams<'a> {
    /// `Date: ...\r\nServer: ...\r\n`, cached per second.
    pub(crate) date_server: &'a [u8],
    /// Send `Connection: close`.
    pub(crate) close: bool,
    /// Send `Connection: keep-alive` (an HTTP/1.0 client asked for it, RFC 9112 §C.2.2).
    pub(crate) keep_alive_10: bool,
}

/// Writes the status line and header section of `resp` (body length `body_len`) to `out`.
///
/// Values borrowed as `&'static str` are compile-time constants and trusted; owned values
/// (which may carry request data) are checked for CR, LF and NUL.
pub(crate) fn write_head(out: &mut Vec<u8>, resp: &Response, body_len: u64, p: HeadParams<'_>) {
    let s = resp.status;
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
    // We always answer with our highest version, HTTP/1.1 (RFC 9110 §6.2).
    match status_line(s) {
        Some(line) => out.extend_from_slice(line.as_bytes()),
        None => {
            out.extend_from_slice(b"HTTP/1.1 ");
            write_decimal(out, u64::from(s));
            out.extend_from_slice(b" \r\n");
        }
    }
    out.extend_from_slice(p.date_server);
    if let Some(ct) = &resp.content_type {
        if trusted_or_valid(ct) {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in &resp.headers {
        if valid_name(name) && trusted_or_valid(value) && !reserved(name) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if !status_has_no_body(s) {
        let mut line = *b"00000000000000000000\r\n";
        let mut i = line.len() - 2;
        let mut n = body_len;
        loop {
            i -= 1;
            line[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(&line[i..]);
    }
    out.extend_from_slice(if p.close {
        b"Connection: close\r\n\r\n"
    } else if p.keep_alive_10 {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"\r\n"
    });
}

/// Appends `n` in decimal (no `fmt` machinery).
pub(crate) fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[expect(
    clippy::ptr_arg,
    reason = "whether the value is borrowed (a constant) or owned is the point"
)]
fn trusted_or_valid(value: &Cow<'static, str>) -> bool {
    match value {
        Cow::Borrowed(_) => true,
        Cow::Owned(v) => valid_value(v),
    }
}

/// field-name = token (RFC 9110 §5.1).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// No CR, LF or NUL (RFC 9110 §5.5).
fn valid_value(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Fields the connection owns.
fn reserved(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "date",
        "server",
    ]
    .iter()
    .any(|r| name.eq_ignore_ascii_case(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_serialisation() {
        let r = Response::text(200, "ok")
            .with_header("X-A", "1")
            .with_header("Content-Length", "99")
            .with_header("X-Bad", "a\r\nInjected: 1".to_string());
        let mut out = Vec::new();
        let p = HeadParams {
            date_server: b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: t\r\n",
            close: true,
            keep_alive_10: false,
        };
        write_head(&mut out, &r, 2, p);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: t\r\n\
             Content-Type: text/plain; charset=utf-8\r\nX-A: 1\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\n"
        );
        let mut out = Vec::new();
        write_head(&mut out, &Response::new(304), 10, p);
        assert!(!String::from_utf8(out).unwrap().contains("Content-Length"));
        assert_eq!(Response::new(101).status(), 500);
        let mut out = Vec::new();
        write_head(&mut out, &Response::new(299), 0, p);
        assert!(out.starts_with(b"HTTP/1.1 299 \r\nDate: "));
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
