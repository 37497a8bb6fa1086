//! The socket API on [`Tcp`]: listen/accept/connect, send/recv, shutdown/close/abort,
//! readiness and per-connection counters (RFC 9293 §3.9.1 user calls, adapted to a
//! non-blocking, event-driven dataplane).

use std::net::{Ipv4Addr, SocketAddrV4};

use cyclone_pmd::{Pool, Timestamp};

use super::conn::Conn;
use super::layer::{Slot, Tcp};
use super::listen::Listener;
use super::options::initial_seq;
use super::state::{ConnHandle, ListenerHandle, TcpError, TcpState};
use super::stats::ConnStats;

impl Tcp {
    /// A passive open on `local` (address 0.0.0.0 listens on every address) with an accept
    /// queue of `backlog` connections (RFC 9293 §3.10.1 OPEN, passive).
    pub fn listen(
        &mut self,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<ListenerHandle, TcpError> {
        if local.port() == 0 || backlog == 0 {
            return Err(TcpError::InvalidArgument);
        }
        if self.listen_by_addr.contains_key(&local) {
            return Err(TcpError::AddrInUse);
        }
        let listener = Listener::new(local, backlog);
        let handle = match self.free_listeners.pop() {
            Some(index) => match self.listeners.get_mut(index as usize) {
                Some(slot) => {
                    slot.value = Some(listener);
                    ListenerHandle {
                        index,
                        generation: slot.generation,
                    }
                }
                None => return Err(TcpError::InvalidArgument),
            },
            None => {
                let index = self.listeners.len() as u32;
                self.listeners.push(Slot {
                    generation: 0,
                    value: Some(listener),
                });
                ListenerHandle {
                    index,
                    generation: 0,
                }
            }
        };
        self.listen_by_addr.insert(local, handle.index);
        Ok(handle)
    }

    /// Stops listening; connections not yet accepted are aborted.
    pub fn close_listener(&mut self, listener: ListenerHandle) -> Result<(), TcpError> {
        let Some(slot) = self.listeners.get_mut(listener.index as usize) else {
            return Err(TcpError::InvalidHandle);
        };
        if slot.generation != listener.generation {
            return Err(TcpError::InvalidHandle);
        }
        let Some(l) = slot.value.take() else {
            return Err(TcpError::InvalidHandle);
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free_listeners.push(listener.index);
        self.listen_by_addr.remove(&l.local);
        for h in l.accept_queue {
            self.abort_internal(h);
        }
        // Embryonic connections: abort them too.
        let embryos: Vec<ConnHandle> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let c = s.value.as_ref()?;
                (c.listener == Some(listener) && !c.app_owned).then_some(ConnHandle {
                    index: i as u32,
                    generation: s.generation,
                })
            })
            .collect();
        for h in embryos {
            self.abort_internal(h);
        }
        Ok(())
    }

    fn abort_internal(&mut self, handle: ConnHandle) {
        if let Some(conn) = self.conn_mut(handle) {
            conn.listener = None;
            conn.in_syn_queue = false;
            conn.abort_pending = true;
            conn.released = true;
        }
        self.mark_dirty(handle);
    }

    /// Takes an established connection from the listener's accept queue.
    pub fn accept(&mut self, listener: ListenerHandle) -> Option<ConnHandle> {
        loop {
            let l = self.listener_mut(listener)?;
            let Some(handle) = l.accept_queue.pop_front() else {
                l.notified = false;
                return None;
            };
            let mut queue = false;
            if let Some(conn) = self.conn_mut(handle) {
                conn.app_owned = true;
                conn.listener = None;
                if conn.events != 0 && !conn.event_queued {
                    conn.event_queued = true;
                    queue = true;
                }
            } else {
                continue;
            }
            if queue {
                self.event_queue
                    .push(super::layer::EventSource::Conn(handle));
            }
            return Some(handle);
        }
    }

    /// An active open (RFC 9293 §3.10.1 OPEN, active) from `local` (port 0: an ephemeral
    /// port) to `remote`. The SYN goes out at the next [`Tcp::poll`].
    pub fn connect(
        &mut self,
        now: Timestamp,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<ConnHandle, TcpError> {
        self.now = self.now.max(now);
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(TcpError::InvalidArgument);
        }
        if self.live_conns >= self.config.max_connections {
            return Err(TcpError::TooManyConnections);
        }
        let local = if local.port() == 0 {
            self.ephemeral(*local.ip(), remote)?
        } else {
            local
        };
        if self.by_tuple.contains_key(&(local, remote)) {
            return Err(TcpError::AddrInUse);
        }
        let iss = initial_seq(self.config.isn_key, local, remote, self.now);
        let mut conn = Conn::new(
            &self.config,
            self.now,
            local,
            remote,
            iss,
            TcpState::SynSent,
        );
        conn.app_owned = true;
        self.stats.active_opens += 1;
        let handle = self.insert_conn(conn);
        self.mark_dirty(handle);
        Ok(handle)
    }

    fn ephemeral(&mut self, ip: Ipv4Addr, remote: SocketAddrV4) -> Result<SocketAddrV4, TcpError> {
        let (lo, hi) = self.config.ephemeral_ports;
        let (lo, hi) = (lo.min(hi).max(1), hi.max(lo).max(1));
        let span = u32::from(hi - lo) + 1;
        for _ in 0..span {
            let port = self.next_ephemeral.clamp(lo, hi);
            self.next_ephemeral = if port >= hi { lo } else { port + 1 };
            let local = SocketAddrV4::new(ip, port);
            if !self.by_tuple.contains_key(&(local, remote))
                && !self.listen_by_addr.contains_key(&local)
            {
                return Ok(local);
            }
        }
        Err(TcpError::NoEphemeralPort)
    }

    fn owned(&self, handle: ConnHandle) -> Result<&Conn, TcpError> {
        match self.conn(handle) {
            Some(c) if c.app_owned && !c.released => Ok(c),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    fn owned_mut(&mut self, handle: ConnHandle) -> Result<&mut Conn, TcpError> {
        match self.conn_mut(handle) {
            Some(c) if c.app_owned && !c.released => Ok(c),
            _ => Err(TcpError::InvalidHandle),
        }
    }

    /// Copies as much of `data` as fits into the send buffer; never blocks. A short count
    /// arms a [`TcpEvent::Writable`](super::TcpEvent::Writable) for when space frees up.
    #[inline]
    pub fn send(&mut self, handle: ConnHandle, data: &[u8]) -> Result<usize, TcpError> {
        // The pool is borrowed beside the connection (both are fields of `self`).
        let pool = self.pool.take();
        let written = self.send_with(handle, data, pool.as_ref());
        self.pool = pool;
        written
    }

    /// [`Tcp::send`] with the pool for the send buffer's frames.
    #[inline(always)]
    fn send_with(
        &mut self,
        handle: ConnHandle,
        data: &[u8],
        pool: Option<&Pool>,
    ) -> Result<usize, TcpError> {
        let conn = self.owned_mut(handle)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if !conn.state.can_queue_data() || conn.fin_queued {
            return Err(TcpError::InvalidState(conn.state));
        }
        let segment = conn.eff_mss() as usize;
        let n = conn.send.write(data, pool, segment);
        if n < data.len() {
            conn.want_writable = true;
        }
        // `mark_dirty`, on the connection already at hand.
        if n > 0 && !conn.dirty {
            conn.dirty = true;
            self.dirty.push(handle);
        }
        Ok(n)
    }

    /// Reads received data into `buf`. `Ok(0)` means nothing now: [`Tcp::peer_closed`] (or
    /// the state) tells EOF from "nothing yet" — [`Tcp::recv_eof`] reads and tells in one
    /// call; a reset connection gives its error.
    pub fn recv(&mut self, handle: ConnHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.recv_eof(handle, buf).map(|(n, _)| n)
    }

    /// [`Tcp::recv`] and then [`Tcp::peer_closed`] in one call (one connection lookup): the
    /// count read, and whether the peer's FIN has arrived with nothing left unread after
    /// this read.
    #[inline]
    pub fn recv_eof(
        &mut self,
        handle: ConnHandle,
        buf: &mut [u8],
    ) -> Result<(usize, bool), TcpError> {
        let conn = self.owned_mut(handle)?;
        if matches!(conn.state, TcpState::SynSent | TcpState::SynReceived) {
            // Text that came with a SYN waits for ESTABLISHED (RFC 9293 §3.10.7.3).
            return Ok((0, conn.at_eof()));
        }
        let n = conn.recv.read(buf);
        if n == 0 {
            if let Some(e) = conn.error {
                return Err(e);
            }
            return Ok((0, conn.at_eof()));
        }
        let eof = conn.at_eof();
        // Window update (RFC 9293 §3.8.6.2.2): tell the peer once the window has opened by
        // enough to matter.
        let advertised = conn.rcv_wnd_advertised();
        let mss = conn.eff_mss();
        let cap = u32::try_from(conn.recv.capacity()).unwrap_or(u32::MAX);
        let threshold = (2 * mss).min(cap / 2);
        // The offer never exceeds the buffer (`rcv_window` <= free space <= capacity): when
        // the window advertised is at least an MSS and within `threshold` of the capacity,
        // no offer can be an update, and `rcv_window` need not be computed.
        if advertised >= mss && cap.saturating_sub(advertised) < threshold {
            return Ok((n, eof));
        }
        let offer = conn.rcv_window();
        if conn.state.is_synchronized()
            && offer > advertised
            && (offer - advertised >= threshold || advertised < mss)
        {
            conn.ack_now = true;
            self.mark_dirty(handle);
        }
        Ok((n, eof))
    }

    /// Half-close: FIN follows the queued data (RFC 9293 §3.10.4); receiving continues.
    pub fn shutdown(&mut self, handle: ConnHandle) -> Result<(), TcpError> {
        let conn = self.owned_mut(handle)?;
        match conn.state {
            TcpState::SynReceived | TcpState::Established | TcpState::CloseWait => {
                conn.queue_fin();
                self.mark_dirty(handle);
                Ok(())
            }
            TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::TimeWait => Ok(()),
            state => Err(TcpError::InvalidState(state)),
        }
    }

    /// Full close (RFC 9293 §3.10.4): the handle becomes invalid; queued data and FIN are
    /// still delivered. Unread received data, or data arriving later, makes it an abort
    /// with RST (RFC 9293 §3.6.1, RFC 1122 §4.2.2.13).
    pub fn close(&mut self, handle: ConnHandle) -> Result<(), TcpError> {
        let conn = match self.conn_mut(handle) {
            Some(c) if c.app_owned && !c.released => c,
            _ => return Err(TcpError::InvalidHandle),
        };
        conn.released = true;
        match conn.state {
            TcpState::SynSent | TcpState::Closed => {
                conn.state = TcpState::Closed;
                conn.clear_timers();
            }
            _ if conn.recv.len() > 0 && conn.state.is_synchronized() => {
                conn.abort_pending = true;
            }
            TcpState::SynReceived | TcpState::Established | TcpState::CloseWait => {
                conn.queue_fin();
            }
            _ => {}
        }
        if conn.state == TcpState::Closed {
            self.free_conn(handle);
        } else {
            self.mark_dirty(handle);
        }
        Ok(())
    }

    /// Abort (RFC 9293 §3.10.5): RST to the peer, the handle becomes invalid.
    pub fn abort(&mut self, handle: ConnHandle) -> Result<(), TcpError> {
        let conn = match self.conn_mut(handle) {
            Some(c) if c.app_owned && !c.released => c,
            _ => return Err(TcpError::InvalidHandle),
        };
        conn.released = true;
        if conn.state == TcpState::Closed || conn.state == TcpState::TimeWait {
            self.free_conn(handle);
            return Ok(());
        }
        conn.abort_pending = true;
        conn.error = Some(TcpError::Aborted);
        self.mark_dirty(handle);
        Ok(())
    }

    /// The connection's state.
    pub fn state(&self, handle: ConnHandle) -> Result<TcpState, TcpError> {
        Ok(self.owned(handle)?.state)
    }

    /// Why the connection ended, if it ended abnormally.
    pub fn error(&self, handle: ConnHandle) -> Option<TcpError> {
        self.owned(handle).ok()?.error
    }

    /// Whether `recv` would return data, EOF or an error.
    pub fn can_recv(&self, handle: ConnHandle) -> bool {
        self.owned(handle)
            .is_ok_and(|c| c.recv.len() > 0 || c.fin_received || c.error.is_some())
    }

    /// Whether `send` would accept at least one byte.
    pub fn can_send(&self, handle: ConnHandle) -> bool {
        self.owned(handle).is_ok_and(|c| {
            c.state.can_queue_data() && !c.fin_queued && c.error.is_none() && c.send.free() > 0
        })
    }

    /// Whether the peer sent FIN and every byte before it was read (EOF).
    pub fn peer_closed(&self, handle: ConnHandle) -> bool {
        self.owned(handle).is_ok_and(Conn::at_eof)
    }

    /// Whether the connection is over (CLOSED, TIME-WAIT) or the handle is stale.
    pub fn is_closed(&self, handle: ConnHandle) -> bool {
        self.owned(handle).map_or(true, |c| {
            matches!(c.state, TcpState::Closed | TcpState::TimeWait)
        })
    }

    /// Bytes ready to read.
    pub fn recv_available(&self, handle: ConnHandle) -> usize {
        self.owned(handle).map_or(0, |c| c.recv.len())
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self, handle: ConnHandle) -> usize {
        self.owned(handle).map_or(0, |c| c.send.free())
    }

    /// Bytes queued and not yet acknowledged.
    pub fn send_queued(&self, handle: ConnHandle) -> usize {
        self.owned(handle).map_or(0, |c| c.send.len())
    }

    /// The connection's local and remote addresses.
    pub fn addrs(&self, handle: ConnHandle) -> Option<(SocketAddrV4, SocketAddrV4)> {
        self.owned(handle).ok().map(|c| (c.local, c.remote))
    }

    /// The connection's counters.
    pub fn conn_stats(&self, handle: ConnHandle) -> Option<ConnStats> {
        self.owned(handle).ok().map(|c| c.stats_snapshot())
    }

    /// Number of connections in any state (embryonic and TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.live_conns
    }

    /// The slot of `handle`'s connection: a small integer, unique among the connections that
    /// exist at one time and reused once a connection is freed (the handle's generation tells
    /// the uses apart). Slots are dense (below the most connections ever open at once plus
    /// the ones in TIME-WAIT), so an application can keep per-connection state in a vector
    /// indexed by the slot instead of a map keyed by the handle; it must still compare the
    /// handle it stored there.
    pub fn conn_slot(handle: ConnHandle) -> usize {
        handle.index as usize
    }
}
