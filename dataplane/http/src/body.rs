//! Request body decoding, incremental over any split of the input: by `Content-Length`
//! (RFC 9112 §6.2) and by `Transfer-Encoding: chunked` (RFC 9112 §7.1). Chunk size lines go
//! through `httparse::parse_chunk_size`; chunk extensions are ignored and trailer fields read
//! and discarded (§7.1.1, §7.1.2). Everything is bounded: body size, line length, trailers.

use crate::error::HttpError;

/// Longest chunk-size line (size + extensions + CRLF) accepted.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// Where the body decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyDecoder {
    /// `Content-Length` bytes still to come.
    Length { remaining: u64 },
    /// Chunked coding.
    Chunked(Chunked),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Reading `chunk-size [ chunk-ext ] CRLF`.
    SizeLine,
    /// Reading `chunk-data`.
    Data { remaining: u64 },
    /// Expecting the CR (or a bare LF, RFC 9112 §2.2) after `chunk-data`.
    DataCr,
    /// Expecting the LF after `chunk-data` CR.
    DataLf,
    /// Reading the trailer section (after `last-chunk`), `read` bytes so far.
    Trailer { read: usize },
}

/// Limits the decoder enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub(crate) max_body: u64,
    pub(crate) max_trailer: usize,
}

impl BodyDecoder {
    /// Decodes from `input`, appending body bytes to `body`; `line` holds a partial chunk line
    /// between calls. Returns the bytes of `input` used and whether the body is complete.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        line: &mut Vec<u8>,
        body: &mut Vec<u8>,
        limits: BodyLimits,
    ) -> Result<(usize, bool), HttpError> {
        match self {
            BodyDecoder::Length { remaining } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                body.extend_from_slice(&input[..take]);
                *remaining -= take as u64;
                Ok((take, *remaining == 0))
            }
            BodyDecoder::Chunked(state) => decode_chunked(state, input, line, body, limits),
        }
    }
}

fn decode_chunked(
    state: &mut Chunked,
    input: &[u8],
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
    limits: BodyLimits,
) -> Result<(usize, bool), HttpError> {
    let mut i = 0;
    while i < input.len() {
        match *state {
            Chunked::SizeLine | Chunked::Trailer { .. } => {
                let max_line = match *state {
                    Chunked::SizeLine => MAX_CHUNK_LINE,
                    _ => limits.max_trailer,
                };
                let Some(lf) = input[i..].iter().position(|&b| b == b'\n') else {
                    line.extend_from_slice(&input[i..]);
                    i = input.len();
                    if line.len() > max_line {
                        return Err(line_too_long(state, limits));
                    }
                    break;
                };
                let end = i + lf + 1;
                let done = if line.is_empty() {
                    if end - i > max_line {
                        return Err(line_too_long(state, limits));
                    }
                    on_line(state, &input[i..end], body, limits)?
                } else {
                    line.extend_from_slice(&input[i..end]);
                    if line.len() > max_line {
                        return Err(line_too_long(state, limits));
                    }
                    let r = on_line(state, line, body, limits);
                    line.clear();
                    r?
                };
                i = end;
                if done {
                    return Ok((i, true));
                }
            }
            Chunked::Data { remaining } => {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                body.extend_from_slice(&input[i..i + take]);
                i += take;
                let remaining = remaining - take as u64;
                *state = if remaining == 0 {
                    Chunked::DataCr
                } else {
                    Chunked::Data { remaining }
                };
            }
            Chunked::DataCr => {
                *state = match input[i] {
                    b'\r' => Chunked::DataLf,
                    b'\n' => Chunked::SizeLine,
                    _ => return Err(HttpError::BadChunk("chunk data not followed by CRLF")),
                };
                i += 1;
            }
            Chunked::DataLf => {
                if input[i] != b'\n' {
                    return Err(HttpError::BadChunk("chunk data not followed by CRLF"));
                }
                *state = Chunked::SizeLine;
                i += 1;
            }
        }
    }
    Ok((i, false))
}

fn line_too_long(state: &Chunked, limits: BodyLimits) -> HttpError {
    match state {
        Chunked::Trailer { .. } => HttpError::HeaderTooLarge {
            limit: limits.max_trailer,
        },
        _ => HttpError::BadChunk("chunk size line too long"),
    }
}

/// Handles one whole line (ending in LF). Returns whether the body is complete.
fn on_line(
    state: &mut Chunked,
    l: &[u8],
    body: &[u8],
    limits: BodyLimits,
) -> Result<bool, HttpError> {
    match *state {
        Chunked::SizeLine => {
            // chunk-size = 1*HEXDIG (RFC 9112 §7.1); httparse accepts an empty size, we don't.
            if !l.first().is_some_and(u8::is_ascii_hexdigit) {
                return Err(HttpError::BadChunk("chunk size is not hexadecimal"));
            }
            let size = match httparse::parse_chunk_size(l) {
                Ok(httparse::Status::Complete((n, size))) if n == l.len() => size,
                // Partial on a whole line means a bare LF: chunk lines need CRLF here.
                _ => return Err(HttpError::BadChunk("invalid chunk size line")),
            };
            if size == 0 {
                // last-chunk: the trailer section follows (RFC 9112 §7.1.2).
                *state = Chunked::Trailer { read: 0 };
            } else {
                if (body.len() as u64).saturating_add(size) > limits.max_body {
                    return Err(HttpError::BodyTooLarge {
                        limit: limits.max_body,
                    });
                }
                *state = Chunked::Data { remaining: size };
            }
            Ok(false)
        }
        Chunked::Trailer { read } => {
            // An empty line ends the trailer section; trailer fields are discarded
            // (RFC 9112 §7.1.2: a recipient may discard them).
            if l == b"\r\n" || l == b"\n" {
                return Ok(true);
            }
            let read = read + l.len();
            if read > limits.max_trailer {
                return Err(HttpError::HeaderTooLarge {
                    limit: limits.max_trailer,
                });
            }
            *state = Chunked::Trailer { read };
            Ok(false)
        }
        Chunked::Data { .. } | Chunked::DataCr | Chunked::DataLf => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_body: 1 << 20,
        max_trailer: 1024,
    };

    fn decode_split(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut d = BodyDecoder::Chunked(Chunked::SizeLine);
        let (mut line, mut body) = (Vec::new(), Vec::new());
        let mut used = 0;
        for piece in input.chunks(step) {
            let (n, done) = d.decode(piece, &mut line, &mut body, LIMITS)?;
            used += n;
            if done {
                return Ok((body, used));
            }
        }
        Err(HttpError::BadChunk("incomplete"))
    }

    #[test]
    fn chunked_with_extensions_and_trailers_any_split() {
        let input = b"5;name=\"v\"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (body, used) = decode_split(input, step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(used, input.len() - 4, "step {step}");
        }
    }

    #[test]
    fn bad_chunks() {
        for bad in [
            &b"\r\nhello\r\n0\r\n\r\n"[..],
            b"x\r\n",
            b"5\r\nhelloXX",
            b"5\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            let e = decode_split(bad, 1).unwrap_err();
            assert_eq!(e.status(), Some(400), "{:?}", String::from_utf8_lossy(bad));
        }
        let e = decode_split(b"100001\r\n", 3).unwrap_err();
        assert_eq!(e.status(), Some(413));
        let long = [b"1;".as_slice(), &[b'a'; MAX_CHUNK_LINE]].concat();
        assert_eq!(decode_split(&long, 7).unwrap_err().status(), Some(400));
    }
}
