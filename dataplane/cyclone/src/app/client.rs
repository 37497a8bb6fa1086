//! A small HTTP/1.1 client on the stack's TCP, for the demo, the tests and the benchmarks:
//! writes requests as the send buffer takes them and splits complete responses (framed by
//! `Content-Length`; `100 Continue` skipped) off what it reads.

use cyclone_stack::tcp::{ConnHandle, Tcp, TcpError};

/// One response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// An HTTP client on one TCP connection.
#[derive(Debug)]
pub struct HttpClient {
    conn: ConnHandle,
    outbox: Vec<u8>,
    sent: usize,
    inbox: Vec<u8>,
    responses: Vec<Response>,
    scratch: Vec<u8>,
}

impl HttpClient {
    /// A client on an open (or opening) connection.
    pub fn new(conn: ConnHandle) -> HttpClient {
        HttpClient {
            conn,
            outbox: Vec::new(),
            sent: 0,
            inbox: Vec::new(),
            responses: Vec::new(),
            scratch: vec![0; 16 * 1024],
        }
    }

    /// The TCP connection.
    pub fn conn(&self) -> ConnHandle {
        self.conn
    }

    /// Queues request bytes (one request or several, pipelined).
    pub fn send(&mut self, request: &[u8]) {
        self.outbox.extend_from_slice(request);
    }

    /// Moves bytes both ways; returns how many responses are complete so far.
    pub fn pump(&mut self, tcp: &mut Tcp) -> Result<usize, TcpError> {
        while self.sent < self.outbox.len() {
            let n = tcp.send(self.conn, &self.outbox[self.sent..])?;
            if n == 0 {
                break;
            }
            self.sent += n;
        }
        if self.sent == self.outbox.len() {
            self.outbox.clear();
            self.sent = 0;
        }
        loop {
            let n = tcp.recv(self.conn, &mut self.scratch)?;
            if n == 0 {
                break;
            }
            self.inbox.extend_from_slice(&self.scratch[..n]);
        }
        while let Some(response) = split_response(&mut self.inbox) {
            self.responses.push(response);
        }
        Ok(self.responses.len())
    }

    /// Takes the complete responses received so far.
    pub fn take_responses(&mut self) -> Vec<Response> {
        std::mem::take(&mut self.responses)
    }
}

/// Splits one complete response off the front of `buf`, skipping interim `100` responses.
fn split_response(buf: &mut Vec<u8>) -> Option<Response> {
    loop {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&buf[..end]).ok()?;
        let status: u16 = head.get(9..12)?.parse().ok()?;
        if status == 100 {
            buf.drain(..end + 4);
            continue;
        }
        let len: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() < end + 4 + len {
            return None;
        }
        let body = buf[end + 4..end + 4 + len].to_vec();
        buf.drain(..end + 4 + len);
        return Some(Response { status, body });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_split_by_content_length_and_interim_ones_skipped() {
        let mut buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".to_vec();
        assert_eq!(
            split_response(&mut buf),
            Some(Response {
                status: 200,
                body: b"ok".to_vec()
            })
        );
        assert_eq!(
            split_response(&mut buf),
            Some(Response {
                status: 404,
                body: vec![]
            })
        );
        assert_eq!(split_response(&mut buf), None, "incomplete body waits");
        buf.extend_from_slice(b"cde");
        assert_eq!(
            split_response(&mut buf).map(|r| r.body),
            Some(b"abcde".to_vec())
        );
        assert!(buf.is_empty());
    }
}
