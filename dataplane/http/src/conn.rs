//! [`Connection`]: the per-TCP-connection HTTP/1.1 state machine (RFC 9112). Bytes and time go
//! in (`on_recv`, `on_timeout`, `on_peer_closed`); bytes to send come out (`pending_output` +
//! `consume`), with a deadline (`poll_timeout`) and a close signal (`wants_close`,
//! `should_close`). No I/O except reading response body files, no clock, no panics.

use std::borrow::Cow;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::Timestamp;

use crate::body::{BodyDecoder, BodyLimits, Chunked};
use crate::config::Server;
use crate::date::DateCache;
use crate::error::HttpError;
use crate::output::OutQueue;
use crate::parse::{analyze, header_slots, scan_head, split_target, Framing, HeadInfo, HeadScan};
use crate::request::Request;
use crate::response::{reason_phrase, status_has_no_body, write_head, Body, HeadParams, Response};

/// The interim response to `Expect: 100-continue` (RFC 9110 §10.1.1, §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A body buffer that grew past this is freed after its request instead of being kept.
const KEEP_BODY_CAPACITY: usize = 1024 * 1024;

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Complete requests handed to a handler.
    pub requests: u64,
    /// Responses queued, error responses included (interim `100 Continue` not).
    pub responses: u64,
    /// Requests refused with an error status, and responses cut short.
    pub errors: u64,
    /// `100 Continue` responses sent.
    pub continues: u64,
    /// Request timeouts (`408`) and idle closes.
    pub timeouts: u64,
    /// Bytes taken by `on_recv` (including bytes discarded while closing).
    pub bytes_received: u64,
    /// Bytes passed to `consume`.
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head; `inbuf` holds what arrived of it.
    Head,
    /// Reading the body of the request whose head is in `head_buf`.
    Body {
        info: HeadInfo,
        decoder: BodyDecoder,
    },
    /// No more requests: flush the output, then close. Input is discarded.
    Closing,
}

/// One HTTP/1.1 connection, sans-IO. See the crate docs for how to drive it.
#[derive(Debug)]
pub struct Connection {
    server: Arc<Server>,
    phase: Phase,
    /// A partial request head (at most `max_header_bytes`).
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` already looked at for a line end.
    scanned: usize,
    /// The head of the request whose body is being read.
    head_buf: Vec<u8>,
    /// That request's body so far.
    body_buf: Vec<u8>,
    /// A partial chunk-size or trailer line.
    line_buf: Vec<u8>,
    out: OutQueue,
    date: DateCache,
    /// When the first byte of the request in progress arrived.
    request_started: Timestamp,
    /// Last time bytes moved in either direction.
    last_activity: Timestamp,
    stats: ConnStats,
    last_error: Option<HttpError>,
    /// The last response head written (with its body when that is small and static), and
    /// what it depended on.
    last_head: Option<(HeadKey, Vec<u8>)>,
    /// What the cached bytes were last written from, when they are a whole response (body
    /// included): the inputs themselves, compared as they are on the fast path.
    last_raw: Option<RawKey>,
    /// The Unix second last computed for `Date`: `[from, until)` timestamps map to it.
    second: (Timestamp, Timestamp, u64),
    /// The request and idle timeouts in nanoseconds (added to timestamps on every poll).
    timeouts_ns: (u64, u64),
}

/// Takes response bytes at once (the socket's `send`): returns how many it took. A type
/// parameter rather than a trait object, so the socket call inlines into the request path.
pub(crate) trait Sink: FnMut(&[u8]) -> usize {}

impl<F: FnMut(&[u8]) -> usize> Sink for F {}

/// The sink type of [`Connection::on_recv`], which has none.
type NoSink = fn(&[u8]) -> usize;

/// A static body up to this size is cached with its head: keep-alive traffic that repeats a
/// small constant answer (`200 ok`) is then one copy.
const CACHED_BODY: usize = 256;

/// Everything a response head depends on, for responses without extra headers whose
/// content type is a `&'static str` (compared by address: the same constant); and, when the
/// cached bytes include the body, which static body that is (by address; its length is
/// `body_len`).
#[derive(Debug, Clone, Copy)]
struct HeadKey {
    status: u16,
    content_type: Option<(usize, usize)>,
    body_len: u64,
    close: bool,
    keep_alive_10: bool,
    secs: u64,
    /// The address of the small static body the cached bytes end with, if they do.
    body: Option<usize>,
}

/// The inputs of a response's bytes, for a response without extra headers whose content
/// type is static or absent and whose body is static or empty: the status, `HEAD`, the
/// persistence flags, the content type and body by address and length (`(0, 0)`: none), and
/// the second. The cached bytes are a function of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawKey {
    status: u16,
    /// `is_head | close << 1 | keep_alive_10 << 2`.
    flags: u8,
    content_type: (usize, usize),
    body: (usize, usize),
    secs: u64,
}

impl RawKey {
    /// The key of `resp` if it has one (see [`RawKey`]).
    #[inline(always)]
    fn of(resp: &Response, flags: u8, secs: u64) -> Option<RawKey> {
        if !resp.headers.is_empty() {
            return None;
        }
        let content_type = match &resp.content_type {
            None => (0, 0),
            Some(Cow::Borrowed(s)) => (s.as_ptr() as usize, s.len()),
            Some(Cow::Owned(_)) => return None,
        };
        let body = match resp.body {
            Body::Empty => (0, 0),
            Body::Static(b) => (b.as_ptr() as usize, b.len()),
            _ => return None,
        };
        Some(RawKey {
            status: resp.status,
            flags,
            content_type,
            body,
            secs,
        })
    }
}

impl PartialEq for HeadKey {
    /// Field by field, inlined (it is on the path of every cached response).
    #[inline(always)]
    fn eq(&self, o: &HeadKey) -> bool {
        self.status == o.status
            && self.content_type == o.content_type
            && self.body_len == o.body_len
            && self.close == o.close
            && self.keep_alive_10 == o.keep_alive_10
            && self.secs == o.secs
            && self.body == o.body
    }
}

impl Eq for HeadKey {}

impl HeadKey {
    fn of(
        resp: &Response,
        body_len: u64,
        close: bool,
        keep_alive_10: bool,
        secs: u64,
        body: Option<&'static [u8]>,
    ) -> Option<HeadKey> {
        if !resp.headers.is_empty() {
            return None;
        }
        let content_type = match &resp.content_type {
            None => None,
            Some(Cow::Borrowed(s)) => Some((s.as_ptr() as usize, s.len())),
            Some(Cow::Owned(_)) => return None,
        };
        Some(HeadKey {
            status: resp.status,
            content_type,
            body_len,
            close,
            keep_alive_10,
            secs,
            body: body.map(|b| b.as_ptr() as usize),
        })
    }
}

impl Connection {
    /// A new connection (just accepted at `now`).
    pub fn new(server: Arc<Server>, now: Timestamp) -> Connection {
        let date = DateCache::new(&server.server_line);
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let timeouts_ns = (
            ns(server.config.request_timeout),
            ns(server.config.idle_timeout),
        );
        Connection {
            server,
            phase: Phase::Head,
            inbuf: Vec::new(),
            scanned: 0,
            head_buf: Vec::new(),
            body_buf: Vec::new(),
            line_buf: Vec::new(),
            out: OutQueue::default(),
            date,
            request_started: now,
            last_activity: now,
            stats: ConnStats::default(),
            last_error: None,
            last_head: None,
            last_raw: None,
            second: (Timestamp::ZERO, Timestamp::ZERO, 0),
            timeouts_ns,
        }
    }

    /// Takes received bytes; returns how many were taken. Fewer than `data.len()` means
    /// backpressure (`max_pipelined` responses are waiting to be sent): keep the rest, drain
    /// the output, and offer it again once [`Connection::accepts_input`] is true. Requests are
    /// answered (handlers run) inside this call; their responses queue up in order.
    pub fn on_recv(&mut self, now: Timestamp, data: &[u8]) -> usize {
        self.recv(now, data, None::<&mut NoSink>)
    }

    /// [`Connection::on_recv`] with a sink that takes response bytes at once: a response that
    /// would be first in an empty output queue and whose bytes are cached (a repeat of the
    /// last small static response) is offered to `sink`, which returns how many bytes it took
    /// (the socket's `send`); what it does not take is queued as usual. Responses leave in the
    /// same order either way, and the bytes it takes count as sent (`bytes_sent`).
    pub fn on_recv_with(
        &mut self,
        now: Timestamp,
        data: &[u8],
        mut sink: impl FnMut(&[u8]) -> usize,
    ) -> usize {
        self.recv(now, data, Some(&mut sink))
    }

    fn recv<S: Sink>(&mut self, now: Timestamp, data: &[u8], mut sink: Option<&mut S>) -> usize {
        let mut used = 0;
        while used < data.len() {
            let n = match self.phase {
                Phase::Closing => data.len() - used,
                Phase::Head => {
                    if self.out.responses() >= self.server.config.max_pipelined {
                        break;
                    }
                    self.recv_head(now, &data[used..], sink.as_deref_mut())
                }
                Phase::Body { info, decoder } => {
                    self.recv_body(now, info, decoder, &data[used..], sink.as_deref_mut())
                }
            };
            if n == 0 {
                break;
            }
            used += n;
        }
        if used > 0 {
            self.last_activity = now;
            self.stats.bytes_received += used as u64;
        }
        used
    }

    /// The read side was closed by the peer (FIN): no more bytes will be offered. A request
    /// still incomplete is dropped; queued responses are still sent, then the connection
    /// wants to close. Offer every byte received before the FIN first.
    pub fn on_peer_closed(&mut self) {
        self.close_input();
    }

    /// The next bytes to send; empty when there is nothing (now). Send as many as the socket
    /// takes and report them with [`Connection::consume`]. File bodies are read from disk
    /// here, one chunk at a time, only after the previous chunk was consumed.
    pub fn pending_output(&mut self) -> &[u8] {
        if let Err(e) = self.out.prepare() {
            // The head promised a length we can no longer deliver: cut the connection.
            self.out.clear();
            self.stats.errors += 1;
            self.last_error = Some(e);
            self.close_input();
        }
        self.out.front()
    }

    /// `n` bytes of the slice last returned by [`Connection::pending_output`] were sent at
    /// `now` (anything beyond that slice is ignored: call `pending_output` again).
    pub fn consume(&mut self, now: Timestamp, n: usize) {
        if n > 0 {
            self.out.consume(n);
            self.last_activity = now;
            self.stats.bytes_sent += n as u64;
        }
    }

    /// Convenience loop over `pending_output` / `consume`: offers bytes to `sink`, which returns
    /// how many it took, until it takes less than offered or nothing is left. Returns the total.
    pub fn write_to(&mut self, now: Timestamp, mut sink: impl FnMut(&[u8]) -> usize) -> usize {
        let mut total = 0;
        loop {
            let chunk = self.pending_output();
            let len = chunk.len();
            if len == 0 {
                break;
            }
            let n = sink(chunk).min(len);
            self.consume(now, n);
            total += n;
            if n < len {
                break;
            }
        }
        total
    }

    /// When [`Connection::on_timeout`] must be called next, if ever: the request deadline while
    /// a request is arriving, else the idle deadline. `None` once the connection should close.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.should_close() {
            return None;
        }
        let (request_ns, idle_ns) = self.timeouts_ns;
        Some(if self.request_in_progress() {
            Timestamp(self.request_started.0.saturating_add(request_ns))
        } else {
            Timestamp(self.last_activity.0.saturating_add(idle_ns))
        })
    }

    /// Handles the timers at `now` (early calls do nothing). A request that is still arriving
    /// gets `408` and the connection closes after it; an idle connection (or one whose peer
    /// stopped reading) closes at once, dropping unsent output.
    pub fn on_timeout(&mut self, now: Timestamp) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        self.stats.timeouts += 1;
        if self.request_in_progress() {
            let limit = self.server.config.request_timeout;
            self.fail(now, HttpError::RequestTimeout(limit));
            // The 408 gets a fresh idle period to be sent in.
            self.last_activity = now;
        } else {
            self.out.clear();
            self.close_input();
        }
    }

    /// The connection will take no more requests: close it once the output is flushed.
    pub fn wants_close(&self) -> bool {
        matches!(self.phase, Phase::Closing)
    }

    /// Whether bytes are waiting to be sent.
    pub fn has_pending_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// `wants_close() && !has_pending_output()`: close the socket now.
    pub fn should_close(&self) -> bool {
        self.wants_close() && !self.has_pending_output()
    }

    /// Whether `on_recv` would take bytes now (false while backpressured by `max_pipelined`).
    pub fn accepts_input(&self) -> bool {
        !matches!(self.phase, Phase::Head)
            || self.out.responses() < self.server.config.max_pipelined
    }

    /// Bytes of response data held in memory (not counting static bodies): bounded by the
    /// queued small responses and owned bodies plus one file chunk.
    pub fn buffered_output_bytes(&self) -> usize {
        self.out.buffered_bytes()
    }

    /// The counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// Why the connection last refused a request or cut a response, if it did.
    pub fn last_error(&self) -> Option<&HttpError> {
        self.last_error.as_ref()
    }

    fn request_in_progress(&self) -> bool {
        match self.phase {
            Phase::Head => !self.inbuf.is_empty(),
            Phase::Body { .. } => true,
            Phase::Closing => false,
        }
    }

    fn close_input(&mut self) {
        self.phase = Phase::Closing;
        self.inbuf.clear();
        self.scanned = 0;
    }

    /// Reads (part of) a head from `input`; returns the bytes used.
    #[inline(always)]
    fn recv_head<S: Sink>(&mut self, now: Timestamp, input: &[u8], sink: Option<&mut S>) -> usize {
        let limit = self.server.config.max_header_bytes;
        if self.inbuf.is_empty() {
            // Fast path: a head that arrives whole is parsed in place, never copied.
            self.request_started = now;
            let mut slots = header_slots();
            return match scan_head(input, limit, 0, &mut slots) {
                HeadScan::Complete(n, req) => {
                    self.on_head(now, &input[..n], &req, sink);
                    n
                }
                HeadScan::NeedMore { scanned } => {
                    self.scanned = scanned;
                    self.inbuf.extend_from_slice(input);
                    input.len()
                }
                HeadScan::Error(e) => {
                    self.fail(now, e);
                    input.len()
                }
            };
        }
        self.recv_head_more(now, input, sink)
    }

    /// The rest of a head that arrived in pieces.
    #[inline(never)]
    fn recv_head_more<S: Sink>(
        &mut self,
        now: Timestamp,
        input: &[u8],
        sink: Option<&mut S>,
    ) -> usize {
        let limit = self.server.config.max_header_bytes;
        let mut buf = mem::take(&mut self.inbuf);
        let old = buf.len();
        // Never more than the limit: a head that does not end within it is 431.
        let take = limit.saturating_sub(old).min(input.len());
        buf.extend_from_slice(&input[..take]);
        let mut slots = header_slots();
        let (used, keep) = match scan_head(&buf, limit, self.scanned, &mut slots) {
            HeadScan::Complete(n, req) => {
                self.scanned = 0;
                self.on_head(now, &buf[..n], &req, sink);
                (n - old, false)
            }
            HeadScan::NeedMore { scanned } => {
                self.scanned = scanned;
                (buf.len() - old, true)
            }
            HeadScan::Error(e) => {
                self.fail(now, e);
                (input.len(), false)
            }
        };
        if !keep {
            buf.clear();
        }
        self.inbuf = buf;
        used
    }

    /// A complete head arrived: answer it, or start reading its body.
    #[inline(always)]
    fn on_head<S: Sink>(
        &mut self,
        now: Timestamp,
        head: &[u8],
        req: &httparse::Request<'_, '_>,
        sink: Option<&mut S>,
    ) {
        let info = match analyze(req) {
            Ok(info) => info,
            Err(e) => return self.fail(now, e),
        };
        let method = req.method.unwrap_or_default();
        let target = req.path.unwrap_or_default();
        let (path, query) = match split_target(target) {
            Ok(pq) => pq,
            Err(e) => return self.fail(now, e),
        };
        match info.framing {
            Framing::None => {
                self.body_buf.clear();
                let mut r = Request {
                    method,
                    target,
                    path,
                    query,
                    minor: info.minor,
                    headers: &*req.headers,
                    body: &mut self.body_buf,
                };
                let resp = self.server.router.dispatch(&mut r);
                self.respond(now, info, resp, sink)
            }
            Framing::Length(_) | Framing::Chunked => self.start_body(now, head, info),
        }
    }

    /// A head announcing a body: check its length, answer `Expect: 100-continue`, keep the
    /// head and read the body next. Out of line: the request path of bodiless requests stays
    /// small.
    #[inline(never)]
    fn start_body(&mut self, now: Timestamp, head: &[u8], info: HeadInfo) {
        let decoder = match info.framing {
            // Answered by `on_head` without a body phase.
            Framing::None => return,
            Framing::Chunked => BodyDecoder::Chunked(Chunked::SizeLine),
            Framing::Length(n) => {
                // Over the limit already: 413 at once, without 100 Continue (RFC 9110 §10.1.1).
                let limit = self.server.config.max_body_bytes;
                if n > limit {
                    return self.fail(now, HttpError::BodyTooLarge { limit });
                }
                BodyDecoder::Length { remaining: n }
            }
        };
        if info.expect_continue {
            // RFC 9110 §10.1.1: tell the client to send the body. Sent even if some body
            // bytes already arrived, so the output does not depend on how reads were split.
            let buf = self.out.buf_mut();
            let start = buf.len();
            buf.extend_from_slice(CONTINUE);
            self.out.commit(start);
            self.stats.continues += 1;
        }
        self.head_buf.clear();
        self.head_buf.extend_from_slice(head);
        self.body_buf.clear();
        if let BodyDecoder::Length { remaining } = decoder {
            // Reserve what is announced, up to 64 KiB: a claim is not a reason to allocate.
            self.body_buf.reserve(
                usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(64 * 1024),
            );
        }
        self.line_buf.clear();
        self.phase = Phase::Body { info, decoder };
    }

    /// Reads body bytes; returns the bytes used. Out of line: the request path of bodiless
    /// requests stays small.
    #[inline(never)]
    fn recv_body<S: Sink>(
        &mut self,
        now: Timestamp,
        info: HeadInfo,
        mut decoder: BodyDecoder,
        input: &[u8],
        sink: Option<&mut S>,
    ) -> usize {
        let cfg = &self.server.config;
        let limits = BodyLimits {
            max_body: cfg.max_body_bytes,
            max_trailer: cfg.max_header_bytes,
        };
        match decoder.decode(input, &mut self.line_buf, &mut self.body_buf, limits) {
            Ok((n, true)) => {
                self.finish_body(now, info, sink);
                n
            }
            Ok((n, false)) => {
                self.phase = Phase::Body { info, decoder };
                n
            }
            Err(e) => {
                self.fail(now, e);
                input.len()
            }
        }
    }

    /// The body is complete: parse the stored head again (it parsed before, so it does now)
    /// and answer the request.
    fn finish_body<S: Sink>(&mut self, now: Timestamp, info: HeadInfo, sink: Option<&mut S>) {
        let head = mem::take(&mut self.head_buf);
        let mut body = mem::take(&mut self.body_buf);
        let mut slots = header_slots();
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(&head, &mut slots);
        let target = req.path.unwrap_or_default();
        match (parsed, split_target(target)) {
            (Ok(httparse::Status::Complete(_)), Ok((path, query))) => {
                let mut r = Request {
                    method: req.method.unwrap_or_default(),
                    target,
                    path,
                    query,
                    minor: info.minor,
                    headers: req.headers,
                    body: &mut body,
                };
                let resp = self.server.router.dispatch(&mut r);
                self.respond(now, info, resp, sink);
            }
            _ => self.fail(now, HttpError::BadRequest("request head changed")),
        }
        if body.capacity() > KEEP_BODY_CAPACITY {
            body = Vec::new();
        }
        self.head_buf = head;
        self.body_buf = body;
    }

    /// Queues the handler's response to a complete request.
    #[inline(always)]
    fn respond<S: Sink>(
        &mut self,
        now: Timestamp,
        info: HeadInfo,
        resp: Response,
        sink: Option<&mut S>,
    ) {
        self.stats.requests += 1;
        let keep_alive_10 = info.minor == 0 && info.keep_alive;
        let close = !info.keep_alive;
        self.queue_response(now, resp, info.is_head, close, keep_alive_10, sink);
        self.phase = if info.keep_alive {
            Phase::Head
        } else {
            Phase::Closing
        };
    }

    /// Answers with the status of `e` (if it has one) and closes after the flush: after a
    /// framing error the stream cannot be trusted (RFC 9112 §9.6 and §11.2).
    fn fail(&mut self, now: Timestamp, e: HttpError) {
        if !matches!(self.phase, Phase::Closing) {
            if let Some(status) = e.status() {
                let resp = Response::text(status, reason_phrase(status));
                self.queue_response_slow(now, resp, false, true, false);
            }
        }
        self.stats.errors += 1;
        self.last_error = Some(e);
        self.close_input();
    }

    #[inline(always)]
    fn queue_response<S: Sink>(
        &mut self,
        now: Timestamp,
        resp: Response,
        is_head: bool,
        close: bool,
        keep_alive_10: bool,
        sink: Option<&mut S>,
    ) {
        if let Some(sink) = sink {
            if self.send_cached(now, &resp, is_head, close, keep_alive_10, sink) {
                // No extra headers, a borrowed (or no) content type, a static (or no) body:
                // it owns nothing unless header space was reserved, and dropping it is then a
                // no-op, skipped.
                if resp.headers.capacity() == 0 {
                    std::mem::forget(resp);
                }
                return;
            }
        }
        self.queue_response_slow(now, resp, is_head, close, keep_alive_10);
    }

    /// The fast path of keep-alive traffic: a response whose bytes, body included, are the
    /// cached ones, first in line (nothing queued), goes from the cache to `sink`; only what
    /// the sink leaves is queued. Returns whether this applied (the response is then sent or
    /// queued, and `resp` is spent), by reference so the response is not moved through here.
    #[inline(always)]
    fn send_cached<S: Sink>(
        &mut self,
        now: Timestamp,
        resp: &Response,
        is_head: bool,
        close: bool,
        keep_alive_10: bool,
        sink: &mut S,
    ) -> bool {
        if self.last_raw.is_none() || !self.out.is_empty() {
            return false;
        }
        let secs = self.unix_secs(now);
        let flags = u8::from(is_head) | u8::from(close) << 1 | u8::from(keep_alive_10) << 2;
        let (Some(raw), Some((_, bytes))) = (self.last_raw, &self.last_head) else {
            return false;
        };
        if RawKey::of(resp, flags, secs) != Some(raw) {
            return false;
        }
        let taken = sink(bytes).min(bytes.len());
        if taken > 0 {
            self.last_activity = now;
            self.stats.bytes_sent += taken as u64;
        }
        if taken < bytes.len() {
            let start = self.out.buf_mut().len();
            self.out.buf_mut().extend_from_slice(&bytes[taken..]);
            self.out.commit(start);
            self.out.end_response();
        }
        self.stats.responses += 1;
        true
    }

    fn queue_response_slow(
        &mut self,
        now: Timestamp,
        resp: Response,
        is_head: bool,
        close: bool,
        keep_alive_10: bool,
    ) {
        let no_body = status_has_no_body(resp.status);
        let body_len = if no_body { 0 } else { resp.body.len() };
        // RFC 9110 §9.3.2: a HEAD response has the GET headers and no content.
        let send_body = !is_head && !no_body;
        let small_static = match resp.body {
            Body::Static(b) if send_body && b.len() <= CACHED_BODY => Some(b),
            _ => None,
        };
        let secs = self.unix_secs(now);
        let buf = self.out.buf_mut();
        let start = buf.len();
        // Keep-alive traffic repeats the same response: reuse the last bytes when nothing
        // they depend on differs.
        let key = HeadKey::of(&resp, body_len, close, keep_alive_10, secs, small_static);
        match (&self.last_head, key) {
            (Some((last, bytes)), Some(key)) if *last == key => buf.extend_from_slice(bytes),
            _ => {
                let params = HeadParams {
                    date_server: self.date.get(secs),
                    close,
                    keep_alive_10,
                };
                write_head(buf, &resp, body_len, params);
                if let Some(b) = small_static {
                    buf.extend_from_slice(b);
                }
                if let Some(key) = key {
                    let cached = self.last_head.get_or_insert_with(|| (key, Vec::new()));
                    cached.0 = key;
                    cached.1.clear();
                    cached.1.extend_from_slice(&buf[start..]);
                    // The fast path may send these bytes for the same inputs when they are
                    // the whole response.
                    let whole = !(send_body && small_static.is_none());
                    let flags =
                        u8::from(is_head) | u8::from(close) << 1 | u8::from(keep_alive_10) << 2;
                    self.last_raw = RawKey::of(&resp, flags, secs).filter(|_| whole);
                }
            }
        }
        self.out.commit(start);
        if send_body && small_static.is_none() {
            self.out.push_body(resp.body);
        }
        self.out.end_response();
        self.stats.responses += 1;
    }

    /// Whole seconds since the Unix epoch at `now` (for `Date`), computed once per second.
    #[inline(always)]
    fn unix_secs(&mut self, now: Timestamp) -> u64 {
        let (from, until, secs) = self.second;
        if from <= now && now < until {
            return secs;
        }
        self.new_second(now)
    }

    /// Computes the second `now` is in, and keeps it. Out of line and cold, so that its
    /// arithmetic on `now` is not hoisted into every call of the request path.
    #[cold]
    #[inline(never)]
    fn new_second(&mut self, now: Timestamp) -> u64 {
        let t = self.server.config.unix_time(now);
        let secs = t.as_secs();
        // The second `now` is in, as a range of timestamps (none when the clock saturated).
        let into = u64::from(t.subsec_nanos());
        self.second = if t == Duration::MAX {
            (now, now, secs)
        } else {
            (
                Timestamp::from_nanos(now.as_nanos().saturating_sub(into)),
                Timestamp::from_nanos(now.as_nanos().saturating_add(1_000_000_000 - into)),
                secs,
            )
        };
        secs
    }
}
