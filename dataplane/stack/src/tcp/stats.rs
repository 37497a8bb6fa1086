//! Counters: one [`TcpStats`] per [`Tcp`](super::Tcp) instance and one [`ConnStats`] per
//! connection. Plain integers, updated on the packet path, read by the runtime's metrics.

use std::time::Duration;

/// Global counters of one TCP instance (the MIB of RFC 4022, trimmed to what we count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Connections opened by `connect` (tcpActiveOpens).
    pub active_opens: u64,
    /// Connections opened from a listener (tcpPassiveOpens).
    pub passive_opens: u64,
    /// Connections that reached ESTABLISHED.
    pub established: u64,
    /// Connection attempts that failed (refused, timed out in SYN-SENT/SYN-RECEIVED).
    pub attempt_fails: u64,
    /// Segments received (handed to `input`).
    pub segments_in: u64,
    /// Segments sent (accepted by the sink).
    pub segments_out: u64,
    /// Segments the sink refused (no buffer): treated as lost on the wire.
    pub segments_sink_refused: u64,
    /// Segments retransmitted (RTO, fast retransmit, SACK recovery).
    pub retransmits: u64,
    /// Retransmission timeouts that fired.
    pub rto_expirations: u64,
    /// Fast retransmits (RFC 5681 §3.2 / RFC 6675 §5).
    pub fast_retransmits: u64,
    /// RSTs sent.
    pub resets_sent: u64,
    /// RSTs received that reset a connection.
    pub resets_received: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 §7).
    pub challenge_acks_suppressed: u64,
    /// Segments to a port with no listener or connection (answered with RST).
    pub drop_no_listener: u64,
    /// SYNs dropped because the listener's accept queue or SYN queue was full.
    pub drop_backlog_full: u64,
    /// SYNs dropped because the connection table is full.
    pub drop_table_full: u64,
    /// Segments failing the acceptability test (RFC 9293 §3.10.7.4 first check).
    pub drop_out_of_window: u64,
    /// Segments with an unacceptable ACK (RFC 5961 §5) or an ACK in a state that refuses it.
    pub drop_bad_ack: u64,
    /// Segments dropped for a bad sequence number in SYN-SENT/LISTEN (bad SYN/ACK, RST).
    pub drop_bad_seq: u64,
    /// Segments dropped by PAWS (RFC 7323 §5).
    pub drop_paws: u64,
    /// Out-of-order segments dropped because the reassembly queue was full.
    pub drop_reassembly_full: u64,
    /// Segments dropped for other reasons (no ACK bit, state refuses data, ...).
    pub drop_other: u64,
    /// SYN-RECEIVED entries that expired (SYN-ACK retransmissions exhausted).
    pub syn_received_expired: u64,
    /// Connections reset because retransmissions were exhausted.
    pub timeouts: u64,
    /// Connections reset after unanswered keep-alives.
    pub keepalive_timeouts: u64,
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments received for this connection.
    pub segments_in: u64,
    /// Segments sent.
    pub segments_out: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Bytes of data sent (new data, not retransmissions).
    pub bytes_sent: u64,
    /// Bytes of data retransmitted.
    pub bytes_retransmitted: u64,
    /// Bytes delivered in order to the receive buffer.
    pub bytes_received: u64,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Duplicate or out-of-window data segments received.
    pub segments_dropped: u64,
    /// Smoothed RTT (RFC 6298 SRTT), once measured.
    pub srtt: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Slow-start threshold in bytes.
    pub ssthresh: u32,
    /// Peer's advertised window in bytes (scaled).
    pub snd_wnd: u32,
    /// Fast-recovery episodes entered.
    pub recoveries: u64,
}
