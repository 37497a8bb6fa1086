//! One side of a bulk TCP transfer, for the demo, the tests and the benchmarks: sends its bytes
//! as the send buffer takes them, shuts down when all are queued, and collects what the peer
//! sends until end of stream.

use cyclone_stack::tcp::{ConnHandle, Tcp};

/// One end of a bulk transfer on one TCP connection.
#[derive(Debug)]
pub struct BulkEnd {
    conn: ConnHandle,
    data: Vec<u8>,
    sent: usize,
    shut: bool,
    received: Vec<u8>,
    eof: bool,
    scratch: Vec<u8>,
}

impl BulkEnd {
    /// An end that will send `data` (possibly empty) on `conn`.
    pub fn new(conn: ConnHandle, data: Vec<u8>) -> BulkEnd {
        BulkEnd {
            conn,
            data,
            sent: 0,
            shut: false,
            received: Vec::new(),
            eof: false,
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Moves bytes both ways; returns whether the peer's stream has ended (all read).
    pub fn pump(&mut self, tcp: &mut Tcp) -> bool {
        while self.sent < self.data.len() {
            match tcp.send(self.conn, &self.data[self.sent..]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        if self.sent == self.data.len() && !self.shut {
            self.shut = tcp.shutdown(self.conn).is_ok();
        }
        while let Ok(n) = tcp.recv(self.conn, &mut self.scratch) {
            if n == 0 {
                break;
            }
            self.received.extend_from_slice(&self.scratch[..n]);
        }
        if tcp.peer_closed(self.conn) && tcp.recv_available(self.conn) == 0 {
            self.eof = true;
        }
        self.eof
    }

    /// What the peer sent so far.
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// Takes what the peer sent.
    pub fn into_received(self) -> Vec<u8> {
        self.received
    }
}
