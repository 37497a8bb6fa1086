//! Why a connection answered with an error status or stopped: [`HttpError`], one variant per
//! cause, each mapped to the status code sent (if any) by [`HttpError::status`].

use std::io;
use std::time::Duration;

/// A request the server refused, or a response it could not finish. After any of these the
/// connection is closed once the output is flushed (the server never tries to resync a stream).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request line or a header line does not parse (RFC 9112 §3, §5).
    #[error("malformed request head")]
    MalformedHead(#[source] httparse::Error),
    /// The head parses but breaks a rule of RFC 9112/9110 (named in the message).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Both `Content-Length` and `Transfer-Encoding`: a request-smuggling vector
    /// (RFC 9112 §6.3 item 3, §11.2).
    #[error("request has both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A chunked body that does not follow RFC 9112 §7.1.
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// The head (or the trailer section) did not fit in `max_header_bytes`.
    #[error("request header section larger than {limit} bytes")]
    HeaderTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than `max_body_bytes`.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1).
    #[error("unsupported expectation")]
    ExpectationFailed,
    /// The request did not fully arrive within `request_timeout`.
    #[error("request not complete within {0:?}")]
    RequestTimeout(Duration),
    /// Reading a response body file failed after its head was sent; the response is cut.
    #[error("reading the response body file failed")]
    BodyRead(#[source] io::Error),
    /// A response body file was shorter than announced; the response is cut.
    #[error("response body file ended {missing} bytes early")]
    BodyTruncated {
        /// Bytes announced but not available.
        missing: u64,
    },
}

impl HttpError {
    /// The status code answered for this error, or `None` when nothing more can be sent.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            HttpError::MalformedHead(_)
            | HttpError::BadRequest(_)
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::BadChunk(_) => 400,
            HttpError::RequestTimeout(_) => 408,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::ExpectationFailed => 417,
            HttpError::HeaderTooLarge { .. } => 431,
            HttpError::UnsupportedTransferCoding => 501,
            HttpError::BodyRead(_) | HttpError::BodyTruncated { .. } => return None,
        })
    }
}
