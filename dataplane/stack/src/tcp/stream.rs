//! Reading in place: [`Tcp::recv_with`] hands the application the received bytes where they
//! lie in the receive buffer, with a [`ConnSender`] to answer on the same connection while
//! it reads — the request-reply path without copying each request out first, and with one
//! connection lookup for the read and the replies. The bytes it consumes count as read by
//! [`Tcp::recv`] (same window updates); what it sends, as sent by [`Tcp::send`].

use super::conn::Conn;
use super::layer::Tcp;
use super::send::SendBuffer;
use super::state::{ConnHandle, TcpError, TcpState};

/// What one [`Tcp::recv_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    /// Bytes consumed (read).
    pub len: usize,
    /// Whether bytes are left to read (the buffer wrapped, or the reader took fewer).
    pub more: bool,
    /// The peer's FIN has arrived and nothing is left unread (as [`Tcp::recv_eof`] says).
    pub at_eof: bool,
}

/// Sends on the connection being read by [`Tcp::recv_with`]: [`Tcp::send`] without the
/// lookup. (The connection's state, error and FIN cannot change while it reads.)
#[derive(Debug)]
pub struct ConnSender<'a> {
    send: &'a mut SendBuffer,
    want_writable: &'a mut bool,
    marked: &'a mut bool,
    dirty: &'a mut Vec<ConnHandle>,
    handle: ConnHandle,
    state: TcpState,
    error: Option<TcpError>,
    fin_queued: bool,
}

impl ConnSender<'_> {
    /// Copies as much of `data` as fits into the send buffer: [`Tcp::send`].
    #[inline(always)]
    pub fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.state.can_queue_data() || self.fin_queued {
            return Err(TcpError::InvalidState(self.state));
        }
        let n = self.send.write(data);
        if n < data.len() {
            *self.want_writable = true;
        }
        // `mark_dirty`, on the connection at hand.
        if n > 0 && !*self.marked {
            *self.marked = true;
            self.dirty.push(self.handle);
        }
        Ok(n)
    }
}

impl Tcp {
    /// Calls `f` with the received bytes (the first contiguous run of them: call again while
    /// [`Consumed::more`]) and a sender for replies on the same connection; `f` returns how
    /// many bytes it consumed (at most those given), which are then read as by
    /// [`Tcp::recv_eof`], whose results this gives too. `f` is not called when nothing is
    /// readable: `Ok` with `len` 0, or the connection's error after a reset.
    #[inline]
    pub fn recv_with(
        &mut self,
        handle: ConnHandle,
        f: impl FnOnce(&[u8], &mut ConnSender<'_>) -> usize,
    ) -> Result<Consumed, TcpError> {
        let Tcp { conns, dirty, .. } = self;
        let conn = match super::layer::live_conn(conns, handle) {
            Some(c) if c.app_owned && !c.released => c,
            _ => return Err(TcpError::InvalidHandle),
        };
        let nothing = |conn: &Conn| Consumed {
            len: 0,
            more: false,
            at_eof: conn.at_eof(),
        };
        if matches!(conn.state, TcpState::SynSent | TcpState::SynReceived) {
            // Text that came with a SYN waits for ESTABLISHED (RFC 9293 §3.10.7.3).
            return Ok(nothing(conn));
        }
        let Conn {
            recv,
            send,
            want_writable,
            dirty: marked,
            state,
            error,
            fin_queued,
            ..
        } = conn;
        let data = recv.readable();
        if data.is_empty() {
            if let Some(e) = *error {
                return Err(e);
            }
            return Ok(nothing(conn));
        }
        let mut sender = ConnSender {
            send,
            want_writable,
            marked,
            dirty,
            handle,
            state: *state,
            error: *error,
            fin_queued: *fin_queued,
        };
        let n = f(data, &mut sender).min(data.len());
        recv.consume(n);
        let done = Consumed {
            len: n,
            more: recv.len() > 0,
            at_eof: conn.at_eof(),
        };
        if n > 0 && conn.read_opens_window() {
            conn.ack_now = true;
            self.mark_dirty(handle);
        }
        Ok(done)
    }
}
