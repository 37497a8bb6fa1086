//! [`Request`]: what a handler sees — method, path, query, headers and the whole body — all
//! borrowed from the connection's buffers (no copy, no allocation per request).

/// A complete request, handed to a [`Handler`](crate::Handler).
#[derive(Debug)]
pub struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) minor: u8,
    pub(crate) headers: &'a [httparse::Header<'a>],
    pub(crate) body: &'a mut Vec<u8>,
}

impl<'a> Request<'a> {
    /// The method, case-sensitive (RFC 9110 §9.1): `GET`, `HEAD`, `POST`, ...
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target as sent (RFC 9112 §3.2).
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path, still percent-encoded, without the query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query (after `?`), still percent-encoded, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// `(1, minor)`: `(1, 0)` or `(1, 1)`.
    pub fn version(&self) -> (u8, u8) {
        (1, self.minor)
    }

    /// The value of the first header with this name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// All header lines in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers.iter().map(|h| (h.name, h.value))
    }

    /// The body, after any chunked decoding.
    pub fn body(&self) -> &[u8] {
        self.body
    }

    /// Takes the body out (no copy). The connection then allocates a new buffer for the next
    /// request with a body, so take it only when handing the bytes on (as echo does).
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(self.body)
    }
}
