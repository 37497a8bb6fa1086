//! Static files from a root directory: content types by extension, `ETag` / `Last-Modified`
//! validators with `If-None-Match` / `If-Modified-Since` → `304` (RFC 9110 §13), single byte
//! ranges → `206` / `416` (RFC 9110 §14), `index.html` for directories, and a path check that no
//! request can leave the root.
//!
//! # Path safety
//! The path (after the mount prefix) is percent-decoded strictly, then:
//! - `400`: bad percent-encoding, not UTF-8, a NUL byte, a backslash, or a `.` / `..` segment
//!   (checked after decoding, so `%2e%2e`, `..%2f` and friends are caught). Empty segments
//!   (`//`) are skipped, so no segment can make the path absolute.
//! - The file is then resolved with `canonicalize` (all symlinks followed) and must lie under
//!   the canonical root: a symlink out of the root is `403`. Missing is `404`, unreadable `403`,
//!   anything but a regular file (after `index.html` for directories) `404`.
//!
//! Opening and `stat`ing files happens on the dataplane thread (blocking file-system calls on
//! the packet path): acceptable for now, a page-cache miss stalls the queue. Between the check
//! and the open a writer inside the root could swap in a symlink (TOCTOU): the root is trusted.
//!
//! # Cache
//! A request path that resolved to a small file (up to [`CACHE_FILE_MAX`] bytes) is remembered
//! with the file's canonical path, size, modification time and bytes; later requests for it cost
//! one `stat` of the canonical path (the file changed → resolved and read again) instead of the
//! path walk, `open` and `read`. Bounded: at most [`CACHE_ENTRIES`] files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use crate::date::{format_http_date, parse_http_date};
use crate::parse::trim;
use crate::request::Request;
use crate::response::{Body, FileBody, Response};
use crate::router::Handler;

/// Files up to this size are kept in memory after their first request.
pub const CACHE_FILE_MAX: u64 = 64 * 1024;
/// At most this many files are cached.
pub const CACHE_ENTRIES: usize = 1024;

/// A small file remembered by its request path.
#[derive(Debug)]
struct Cached {
    path: PathBuf,
    len: u64,
    mtime: Duration,
    bytes: Arc<Vec<u8>>,
}

/// Serves the files under `root` for paths under `prefix`.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    prefix: String,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

/// Where a response's bytes come from.
enum Source {
    File(File),
    Memory(Arc<Vec<u8>>),
}

fn mtime_of(meta: &std::fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default()
}

impl StaticFiles {
    /// Files under `root` (which must exist) for request paths starting with `prefix` (mount
    /// it on the router with the same prefix: `router.mount("GET", prefix, files)`).
    pub fn new(root: impl AsRef<Path>, prefix: &str) -> io::Result<StaticFiles> {
        Ok(StaticFiles {
            root: root.as_ref().canonicalize()?,
            prefix: prefix.to_string(),
            cache: Arc::default(),
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The request path relative to the mount prefix, percent-decoded and checked (no NUL,
    /// backslash, `.` or `..` segment), or the status to answer.
    fn relative(&self, path: &str) -> Result<String, u16> {
        let rel = path.strip_prefix(self.prefix.as_str()).ok_or(404u16)?;
        let decoded = percent_decode(rel.as_bytes()).ok_or(400u16)?;
        let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
        if decoded.contains(['\0', '\\']) || decoded.split('/').any(|s| s == "." || s == "..") {
            return Err(400);
        }
        Ok(decoded)
    }

    /// A cached small file that has not changed since it was read: one `stat`.
    fn cached(&self, rel: &str) -> Option<(PathBuf, u64, Duration, Arc<Vec<u8>>)> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let hit = cache.get(rel)?;
        let meta = std::fs::metadata(&hit.path).ok()?;
        (meta.is_file() && meta.len() == hit.len && mtime_of(&meta) == hit.mtime)
            .then(|| (hit.path.clone(), hit.len, hit.mtime, hit.bytes.clone()))
    }

    /// Reads a small file into the cache; `None` (serve from the file) when it is too large,
    /// the cache is full, or the read comes up short.
    fn fill(
        &self,
        rel: String,
        path: &Path,
        file: &mut File,
        len: u64,
        mtime: Duration,
    ) -> Option<Arc<Vec<u8>>> {
        if len > CACHE_FILE_MAX {
            return None;
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 != len {
            return None;
        }
        let bytes = Arc::new(bytes);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() < CACHE_ENTRIES || cache.contains_key(&rel) {
            let entry = Cached {
                path: path.to_path_buf(),
                len,
                mtime,
                bytes: bytes.clone(),
            };
            cache.insert(rel, entry);
        }
        Some(bytes)
    }

    /// Maps a checked relative path to a regular file under the root, or to the status to answer.
    fn resolve(&self, decoded: &str) -> Result<(PathBuf, File, std::fs::Metadata), u16> {
        let mut candidate = self.root.clone();
        for seg in decoded.split('/') {
            match seg {
                "" => continue,
                "." | ".." => return Err(400),
                s => candidate.push(s),
            }
        }
        let mut real = self.contained(&candidate)?;
        let mut meta = real.metadata().map_err(io_status)?;
        if meta.is_dir() {
            real = self.contained(&real.join("index.html"))?;
            meta = real.metadata().map_err(io_status)?;
        }
        if !meta.is_file() {
            return Err(404);
        }
        let file = File::open(&real).map_err(io_status)?;
        Ok((real, file, meta))
    }

    /// Canonicalizes `p` (following symlinks) and checks it is under the root.
    fn contained(&self, p: &Path) -> Result<PathBuf, u16> {
        let real = p.canonicalize().map_err(io_status)?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(403)
        }
    }
}

fn io_status(e: io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::PermissionDenied => 403,
        _ => 404,
    }
}

impl Handler for StaticFiles {
    fn handle(&self, req: &mut Request<'_>) -> Response {
        let rel = match self.relative(req.path()) {
            Ok(rel) => rel,
            Err(status) => return Response::text(status, crate::reason_phrase(status)),
        };
        let (path, len, mtime, source) = match self.cached(&rel) {
            Some((path, len, mtime, bytes)) => (path, len, mtime, Source::Memory(bytes)),
            None => {
                let (path, mut file, meta) = match self.resolve(&rel) {
                    Ok(found) => found,
                    Err(status) => return Response::text(status, crate::reason_phrase(status)),
                };
                let (len, mtime) = (meta.len(), mtime_of(&meta));
                match self.fill(rel, &path, &mut file, len, mtime) {
                    Some(bytes) => (path, len, mtime, Source::Memory(bytes)),
                    None => (path, len, mtime, Source::File(file)),
                }
            }
        };
        // A strong validator from size and modification time (as nginx does).
        let etag = format!(
            "\"{:x}-{:x}{:09x}\"",
            len,
            mtime.as_secs(),
            mtime.subsec_nanos()
        );
        let last_modified =
            String::from_utf8_lossy(&format_http_date(mtime.as_secs())).into_owned();
        let ctype = content_type(&path);

        // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
        let not_modified = match req.header("if-none-match") {
            Some(inm) => none_match_hits(inm, &etag),
            None => req
                .header("if-modified-since")
                .and_then(parse_http_date)
                .is_some_and(|since| mtime.as_secs() <= since),
        };
        if not_modified {
            // RFC 9110 §15.4.5: the validators a 200 would have carried; no content.
            return Response::new(304)
                .with_header("ETag", etag)
                .with_header("Last-Modified", last_modified);
        }

        // RFC 9110 §14.2: Range applies to GET only (HEAD answers as GET would).
        let range = if matches!(req.method(), "GET" | "HEAD") {
            req.header("range")
                .filter(|_| if_range_holds(req.header("if-range"), &etag, mtime.as_secs()))
                .map(|r| parse_range(r, len))
                .unwrap_or(RangeSpec::Ignore)
        } else {
            RangeSpec::Ignore
        };
        let (status, offset, count) = match range {
            RangeSpec::Ignore => (200, 0, len),
            RangeSpec::Unsatisfiable => {
                // RFC 9110 §15.5.17: 416 with the current length.
                return Response::text(416, "Range Not Satisfiable")
                    .with_header("Content-Range", format!("bytes */{len}"))
                    .with_header("Accept-Ranges", "bytes");
            }
            RangeSpec::Bytes { first, last } => (206, first, last - first + 1),
        };
        let body: Body = match source {
            Source::File(file) => match FileBody::new(file, offset, count) {
                Ok(b) => b.into(),
                Err(_) => return Response::text(500, "Internal Server Error"),
            },
            Source::Memory(bytes) => {
                let range = offset as usize..(offset + count) as usize;
                bytes
                    .get(range)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default()
                    .into()
            }
        };
        let mut resp = Response::new(status)
            .with_content_type(ctype)
            .with_header("ETag", etag)
            .with_header("Last-Modified", last_modified)
            .with_header("Accept-Ranges", "bytes")
            .with_body(body);
        if status == 206 {
            let last = offset + count - 1;
            resp = resp.with_header("Content-Range", format!("bytes {offset}-{last}/{len}"));
        }
        resp
    }
}

/// Strict percent-decoding (RFC 3986 §2.1): `%` must be followed by two hex digits.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 9110 §13.1.2: `*`, or a list of entity tags compared weakly.
fn none_match_hits(value: &[u8], etag: &str) -> bool {
    let value = trim(value);
    if value == b"*" {
        return true;
    }
    let ours = etag.as_bytes();
    value
        .split(|&b| b == b',')
        .map(trim)
        .any(|t| t.strip_prefix(b"W/").unwrap_or(t) == ours)
}

/// RFC 9110 §13.1.5: honour Range only if If-Range (when present) still matches — a strong
/// entity-tag comparison, or a date equal to Last-Modified.
fn if_range_holds(value: Option<&[u8]>, etag: &str, mtime_secs: u64) -> bool {
    let Some(v) = value.map(trim) else {
        return true;
    };
    if v.starts_with(b"\"") {
        v == etag.as_bytes()
    } else if v.starts_with(b"W/") {
        false
    } else {
        parse_http_date(v) == Some(mtime_secs)
    }
}

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// Serve the whole representation (no, invalid, or multiple ranges; RFC 9110 §14.2 lets a
    /// server ignore Range).
    Ignore,
    /// `416`.
    Unsatisfiable,
    /// Bytes `first..=last`.
    Bytes {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
}

/// Parses a single byte range (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
pub fn parse_range(value: &[u8], len: u64) -> RangeSpec {
    let value = trim(value);
    let Some(unit) = value.get(..6) else {
        return RangeSpec::Ignore;
    };
    if !unit.eq_ignore_ascii_case(b"bytes=") {
        return RangeSpec::Ignore;
    }
    let spec = trim(&value[6..]);
    if spec.contains(&b',') {
        return RangeSpec::Ignore;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return RangeSpec::Ignore;
    };
    let (a, b) = (trim(&spec[..dash]), trim(&spec[dash + 1..]));
    let num = crate::parse::parse_decimal;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeSpec::Ignore,
        (true, false) => match num(b) {
            None => RangeSpec::Ignore,
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if len == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Bytes {
                first: len.saturating_sub(n),
                last: len - 1,
            },
        },
        (false, _) => {
            let Some(first) = num(a) else {
                return RangeSpec::Ignore;
            };
            let last = if b.is_empty() {
                u64::MAX
            } else {
                match num(b) {
                    Some(l) if l >= first => l,
                    _ => return RangeSpec::Ignore,
                }
            };
            if first >= len {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Bytes {
                    first,
                    last: last.min(len - 1),
                }
            }
        }
    }
}

/// `Content-Type` by file extension; `application/octet-stream` when unknown.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "csv" => "text/csv; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSpec::*;
        let r = |s: &str| parse_range(s.as_bytes(), 100);
        assert_eq!(r("bytes=0-9"), Bytes { first: 0, last: 9 });
        assert_eq!(
            r("Bytes=90-"),
            Bytes {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            r("bytes=90-1000"),
            Bytes {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            r("bytes=-10"),
            Bytes {
                first: 90,
                last: 99
            }
        );
        assert_eq!(r("bytes=-1000"), Bytes { first: 0, last: 99 });
        assert_eq!(r("bytes=100-"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=5-2"), Ignore);
        assert_eq!(r("bytes=0-1,5-6"), Ignore);
        assert_eq!(r("items=0-1"), Ignore);
        assert_eq!(r("bytes=x-1"), Ignore);
        assert_eq!(parse_range(b"bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode(b"a%2E%2eb").unwrap(), b"a..b");
        assert_eq!(percent_decode(b"%00").unwrap(), b"\0");
        assert!(percent_decode(b"%").is_none());
        assert!(percent_decode(b"%2").is_none());
        assert!(percent_decode(b"%zz").is_none());
    }

    #[test]
    fn etag_matching() {
        assert!(none_match_hits(b"\"a\", W/\"b\"", "\"b\""));
        assert!(none_match_hits(b" * ", "\"b\""));
        assert!(!none_match_hits(b"\"a\"", "\"b\""));
        assert!(if_range_holds(Some(b"\"b\""), "\"b\"", 0));
        assert!(!if_range_holds(Some(b"W/\"b\""), "\"b\"", 0));
    }
}
