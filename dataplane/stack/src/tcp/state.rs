//! Connection states (RFC 9293 §3.3.2), handles, errors and events of the socket API.

use std::fmt;

/// The state of a connection (RFC 9293 §3.3.2). LISTEN belongs to listeners
/// ([`ListenerHandle`]); a connection is never in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// Waiting for a connection request from any remote TCP (listeners only).
    Listen,
    /// Sent a SYN, waiting for the matching SYN.
    SynSent,
    /// Received and sent a SYN, waiting for the ACK of ours.
    SynReceived,
    /// Open; data flows both ways.
    Established,
    /// We closed; waiting for the ACK of our FIN or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for our application to close.
    CloseWait,
    /// Both closed at once (simultaneous close); waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged; waiting 2·MSL for stray segments to die out.
    TimeWait,
    /// No connection.
    Closed,
}

impl TcpState {
    /// Whether the state is synchronized (RFC 9293 §3.5: after the SYNs were exchanged).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::Listen | TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
        )
    }

    /// Whether we may still receive data (the peer's FIN has not arrived).
    pub fn can_receive_data(self) -> bool {
        matches!(
            self,
            TcpState::SynReceived | TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        )
    }

    /// Whether the application may still queue data (we have not sent FIN).
    pub fn can_queue_data(self) -> bool {
        matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Closed => "CLOSED",
        };
        f.write_str(name)
    }
}

/// A connection, as the application holds it: a slot index plus the slot's generation, so a
/// handle kept after its connection is gone never reaches the connection that reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A listener (a passive open, RFC 9293 §3.10.1), generation-checked like [`ConnHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Why a socket call failed, or why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    /// The handle is stale (its connection or listener is gone) or was closed by the application.
    #[error("invalid or stale handle")]
    InvalidHandle,
    /// A listener or connection already uses the address.
    #[error("address in use")]
    AddrInUse,
    /// No free ephemeral port for this remote address.
    #[error("no free ephemeral port")]
    NoEphemeralPort,
    /// The connection table is full (`TcpConfig::max_connections`).
    #[error("connection table full")]
    TooManyConnections,
    /// The call is not valid in the connection's state.
    #[error("operation not valid in state {0}")]
    InvalidState(TcpState),
    /// The peer refused the connection (RST in SYN-SENT).
    #[error("connection refused")]
    ConnectionRefused,
    /// The peer reset the connection (RST).
    #[error("connection reset by peer")]
    ConnectionReset,
    /// Retransmissions (or keep-alives) went unanswered: the connection was given up
    /// (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5).
    #[error("connection timed out")]
    TimedOut,
    /// The application aborted the connection.
    #[error("connection aborted")]
    Aborted,
    /// A listen backlog of 0 or an unspecified port for `listen`.
    #[error("invalid argument")]
    InvalidArgument,
}

/// Something an application may want to act on, from [`Tcp::take_events`](super::Tcp::take_events).
/// Events are edge-triggered hints: after one, calling the matching function (accept, recv,
/// send, state) tells the current truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpEvent {
    /// A listener has at least one connection ready to [`accept`](super::Tcp::accept).
    Acceptable(ListenerHandle),
    /// An active open completed (SYN-SENT → ESTABLISHED).
    Connected(ConnHandle),
    /// New data (or EOF) can be read.
    Readable(ConnHandle),
    /// Send-buffer space became free after a short write.
    Writable(ConnHandle),
    /// The peer sent FIN: after the buffered data, reads return EOF.
    PeerClosed(ConnHandle),
    /// The connection is fully closed, in order: both FINs were sent and acknowledged. Raised
    /// on leaving LAST-ACK and on *entering* TIME-WAIT, not 2·MSL later: TIME-WAIT (RFC 9293
    /// §3.10.7.4) only protects later incarnations of the 4-tuple from old duplicates; the
    /// stack keeps it on its own (as kernels do after `close`), nothing can be sent or received
    /// any more, and an application waiting a minute to free its resources would gain nothing.
    /// [`Tcp::state`](super::Tcp::state) still says TIME-WAIT until it ends;
    /// [`Tcp::is_closed`](super::Tcp::is_closed) is already true.
    Closed(ConnHandle),
    /// The connection was reset or timed out; [`Tcp::error`](super::Tcp::error) says why.
    Reset(ConnHandle),
}

/// A set of a connection's events, as bits: what [`Tcp::take_ready`](super::Tcp::take_ready)
/// reports for one connection at once (each set bit is one [`TcpEvent`] of
/// [`Tcp::take_events`](super::Tcp::take_events)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpEvents(u8);

impl TcpEvents {
    /// [`TcpEvent::Connected`].
    pub const CONNECTED: TcpEvents = TcpEvents(1);
    /// [`TcpEvent::Readable`].
    pub const READABLE: TcpEvents = TcpEvents(2);
    /// [`TcpEvent::Writable`].
    pub const WRITABLE: TcpEvents = TcpEvents(4);
    /// [`TcpEvent::PeerClosed`].
    pub const PEER_CLOSED: TcpEvents = TcpEvents(8);
    /// [`TcpEvent::Closed`].
    pub const CLOSED: TcpEvents = TcpEvents(16);
    /// [`TcpEvent::Reset`].
    pub const RESET: TcpEvents = TcpEvents(32);
    /// Every reportable bit.
    pub(crate) const ALL: u8 = 63;

    /// The set with these bits (only the reportable ones are kept).
    pub(crate) const fn from_bits(bits: u8) -> TcpEvents {
        TcpEvents(bits & Self::ALL)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// No event.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every event of `other` is in the set.
    pub const fn contains(self, other: TcpEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Some event of `other` is in the set.
    pub const fn intersects(self, other: TcpEvents) -> bool {
        self.0 & other.0 != 0
    }

    /// The events as [`TcpEvent`]s of `handle`, in [`Tcp::take_events`](super::Tcp::take_events)'s
    /// order (Connected, Readable, Writable, PeerClosed, Closed, Reset).
    pub fn events(self, handle: ConnHandle) -> impl Iterator<Item = TcpEvent> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let bit = bits & bits.wrapping_neg();
            bits &= bits - 1;
            Some(match TcpEvents(bit) {
                TcpEvents::CONNECTED => TcpEvent::Connected(handle),
                TcpEvents::READABLE => TcpEvent::Readable(handle),
                TcpEvents::WRITABLE => TcpEvent::Writable(handle),
                TcpEvents::PEER_CLOSED => TcpEvent::PeerClosed(handle),
                TcpEvents::CLOSED => TcpEvent::Closed(handle),
                _ => TcpEvent::Reset(handle),
            })
        })
    }
}

impl std::ops::BitOr for TcpEvents {
    type Output = TcpEvents;
    fn bitor(self, rhs: TcpEvents) -> TcpEvents {
        TcpEvents(self.0 | rhs.0)
    }
}

/// One entry of [`Tcp::take_ready`](super::Tcp::take_ready): who has events, in the order
/// [`Tcp::take_events`](super::Tcp::take_events) would list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ready {
    /// [`TcpEvent::Acceptable`].
    Acceptable(ListenerHandle),
    /// A connection's events, never empty.
    Conn(ConnHandle, TcpEvents),
}

impl Ready {
    /// The entry as [`TcpEvent`]s, in [`Tcp::take_events`](super::Tcp::take_events)'s order.
    pub fn events(self) -> impl Iterator<Item = TcpEvent> {
        let (listener, conn) = match self {
            Ready::Acceptable(l) => (Some(TcpEvent::Acceptable(l)), None),
            Ready::Conn(h, set) => (None, Some(set.events(h))),
        };
        listener.into_iter().chain(conn.into_iter().flatten())
    }
}
