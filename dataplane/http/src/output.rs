//! The output queue of a connection: response heads and small bodies are serialised into one
//! reused buffer; large owned bodies are queued as they are (no copy); file bodies are read in
//! 64 KiB chunks into one reused buffer only when the previous chunk has been sent. Memory per
//! connection is therefore bounded by the small-response buffer, the queued owned bodies and
//! one file chunk — never a whole file.

use std::collections::VecDeque;
use std::io::{self, Read};

use crate::error::HttpError;
use crate::response::{Body, FileBody};

/// File bodies are read this much at a time.
pub const FILE_CHUNK: usize = 64 * 1024;

/// Bodies up to this size are copied behind their head (one contiguous write for small
/// responses); larger ones are queued without a copy.
const INLINE_BODY: usize = 16 * 1024;

#[derive(Debug)]
enum Segment {
    /// The next `n` bytes of `buf` from `pos`.
    Buffered(usize),
    Owned {
        data: Vec<u8>,
        pos: usize,
    },
    Static {
        data: &'static [u8],
        pos: usize,
    },
    File(FileBody),
}

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    buf: Vec<u8>,
    pos: usize,
    segments: VecDeque<Segment>,
    /// The current file chunk: `file_buf[file_pos..file_len]` is still to send.
    file_buf: Vec<u8>,
    file_pos: usize,
    file_len: usize,
    /// Bytes ever queued / sent on this connection.
    queued: u64,
    sent: u64,
    /// Where each queued, not fully sent response ends, in `queued` bytes.
    ends: VecDeque<u64>,
}

impl OutQueue {
    /// The buffer to serialise into; follow with [`OutQueue::commit`].
    pub(crate) fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Records bytes appended to `buf` since it was `start` long.
    pub(crate) fn commit(&mut self, start: usize) {
        let n = self.buf.len() - start;
        if n == 0 {
            return;
        }
        self.queued += n as u64;
        match self.segments.back_mut() {
            Some(Segment::Buffered(len)) => *len += n,
            _ => self.segments.push_back(Segment::Buffered(n)),
        }
    }

    /// Queues a body after the head just committed.
    pub(crate) fn push_body(&mut self, body: Body) {
        match &body {
            Body::Static(d) if d.len() > INLINE_BODY => self.queued += d.len() as u64,
            Body::Bytes(d) if d.len() > INLINE_BODY => self.queued += d.len() as u64,
            Body::File(f) => self.queued += f.len,
            _ => {}
        }
        match body {
            Body::Empty => {}
            Body::Static(data) if data.len() <= INLINE_BODY => self.push_copy(data),
            Body::Bytes(data) if data.len() <= INLINE_BODY => self.push_copy(&data),
            Body::Static(data) => self.segments.push_back(Segment::Static { data, pos: 0 }),
            Body::Bytes(data) => self.segments.push_back(Segment::Owned { data, pos: 0 }),
            Body::File(f) if f.len == 0 => {}
            Body::File(f) => self.segments.push_back(Segment::File(f)),
        }
    }

    fn push_copy(&mut self, data: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        self.commit(start);
    }

    /// Marks the end of a response (everything queued so far).
    pub(crate) fn end_response(&mut self) {
        if self.queued > self.sent {
            self.ends.push_back(self.queued);
        }
    }

    /// Responses queued and not fully sent.
    pub(crate) fn responses(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes held in memory for sending (small-response buffer, owned bodies, file chunk).
    pub(crate) fn buffered_bytes(&self) -> usize {
        let owned: usize = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Owned { data, pos } => data.len() - pos,
                _ => 0,
            })
            .sum();
        (self.buf.len() - self.pos) + owned + (self.file_len - self.file_pos)
    }

    /// Drops everything queued (the connection is being aborted).
    pub(crate) fn clear(&mut self) {
        self.segments.clear();
        self.buf.clear();
        self.pos = 0;
        self.file_pos = 0;
        self.file_len = 0;
        self.ends.clear();
        self.sent = self.queued;
    }

    /// Makes the front segment ready to send: reads the next file chunk if the front is a
    /// file whose previous chunk was sent.
    #[inline]
    pub(crate) fn prepare(&mut self) -> Result<(), HttpError> {
        if self.file_pos == self.file_len && matches!(self.segments.front(), Some(Segment::File(_)))
        {
            self.read_chunk()
        } else {
            Ok(())
        }
    }

    /// Reads the next chunk of the file at the front (its previous chunk was sent).
    fn read_chunk(&mut self) -> Result<(), HttpError> {
        if let Some(Segment::File(f)) = self.segments.front_mut() {
            let want = usize::try_from(f.len).unwrap_or(usize::MAX).min(FILE_CHUNK);
            if self.file_buf.len() < want {
                self.file_buf.resize(want, 0);
            }
            let n =
                read_some(&mut f.file, &mut self.file_buf[..want]).map_err(HttpError::BodyRead)?;
            if n == 0 {
                return Err(HttpError::BodyTruncated { missing: f.len });
            }
            self.file_pos = 0;
            self.file_len = n;
        }
        Ok(())
    }

    /// The next bytes to send (empty when nothing is queued); call [`OutQueue::prepare`] first.
    #[inline]
    pub(crate) fn front(&self) -> &[u8] {
        match self.segments.front() {
            None => &[],
            Some(Segment::Buffered(n)) => &self.buf[self.pos..self.pos + n],
            Some(Segment::Owned { data, pos }) => &data[*pos..],
            Some(Segment::Static { data, pos }) => &data[*pos..],
            Some(Segment::File(_)) => &self.file_buf[self.file_pos..self.file_len],
        }
    }

    /// Marks `n` bytes (at most what [`OutQueue::front`] returned) as sent.
    pub(crate) fn consume(&mut self, n: usize) {
        let Some(front) = self.segments.front_mut() else {
            return;
        };
        let (k, done) = match front {
            Segment::Buffered(len) => {
                let k = n.min(*len);
                *len -= k;
                self.pos += k;
                (k, *len == 0)
            }
            Segment::Owned { data, pos } => {
                let k = n.min(data.len() - *pos);
                *pos += k;
                (k, *pos == data.len())
            }
            Segment::Static { data, pos } => {
                let k = n.min(data.len() - *pos);
                *pos += k;
                (k, *pos == data.len())
            }
            Segment::File(f) => {
                let k = n.min(self.file_len - self.file_pos);
                self.file_pos += k;
                f.len -= k as u64;
                (k, f.len == 0)
            }
        };
        if done {
            self.segments.pop_front();
            if self.segments.is_empty() {
                self.buf.clear();
                self.pos = 0;
            }
        }
        self.sent += k as u64;
        while self.ends.front().is_some_and(|&e| e <= self.sent) {
            self.ends.pop_front();
        }
    }
}

fn read_some(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_drain_in_order_and_count_responses() {
        let mut q = OutQueue::default();
        let start = q.buf_mut().len();
        q.buf_mut().extend_from_slice(b"H1");
        q.commit(start);
        q.push_body(Body::Bytes(vec![b'a'; INLINE_BODY + 1]));
        q.end_response();
        let start = q.buf_mut().len();
        q.buf_mut().extend_from_slice(b"H2");
        q.commit(start);
        q.push_body(Body::Static(b"xy"));
        q.end_response();
        assert_eq!(q.responses(), 2);
        let mut all = Vec::new();
        loop {
            q.prepare().unwrap();
            let p = q.front();
            if p.is_empty() {
                break;
            }
            let k = p.len().min(1000);
            all.extend_from_slice(&p[..k]);
            q.consume(k);
        }
        assert_eq!(q.responses(), 0);
        assert!(q.is_empty());
        assert_eq!(all.len(), 2 + INLINE_BODY + 1 + 4);
        assert!(all.ends_with(b"aH2xy"));
    }
}
