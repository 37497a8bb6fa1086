//! Listeners (passive opens, RFC 9293 §3.10.1) with a bounded SYN queue and accept queue, and
//! the RST sent for segments that reach no connection (RFC 9293 §3.10.7.1).

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use super::state::ConnHandle;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

/// A listening endpoint.
#[derive(Debug)]
pub(crate) struct Listener {
    pub local: SocketAddrV4,
    /// Most connections waiting in the accept queue.
    pub backlog: usize,
    /// ESTABLISHED connections the application has not accepted yet.
    pub accept_queue: VecDeque<ConnHandle>,
    /// Embryonic (SYN-RECEIVED) connections of this listener.
    pub syn_queue: usize,
    /// The application was told about the accept queue and has not drained it.
    pub notified: bool,
}

impl Listener {
    pub(crate) fn new(local: SocketAddrV4, backlog: usize) -> Listener {
        Listener {
            local,
            backlog,
            accept_queue: VecDeque::new(),
            syn_queue: 0,
            notified: false,
        }
    }
}

/// The RST answering `repr` (which carried `payload_len` bytes) when no connection takes it
/// (RFC 9293 §3.10.7.1): "If the ACK bit is off, sequence number zero is used,
/// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>".
pub(crate) fn reset_for(repr: &TcpRepr, payload_len: usize) -> TcpRepr {
    let (seq, ack, flags) = if repr.flags.contains(TcpFlags::ACK) {
        (repr.ack, 0, TcpFlags::RST)
    } else {
        let seg_len = repr.segment_len(payload_len) as u32;
        (
            0,
            repr.seq.wrapping_add(seg_len),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    TcpRepr {
        src_port: repr.dst_port,
        dst_port: repr.src_port,
        seq,
        ack,
        flags,
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
    }
}
