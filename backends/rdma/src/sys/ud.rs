//! The UD queue pair and its data path: receives and sends posted in bursts (one verb call per
//! burst, work requests chained with `next`), completions polled in bursts.
//!
//! **Receive.** Each posted receive names one frame: the SGE starts 40 bytes before the pool's
//! headroom ends, so the Global Route Header that UD puts in front of every datagram lands in
//! the headroom and the Ethernet frame lands exactly at the buffer's data offset — no copy, no
//! shift. `wr_id` is the slot in [`UdQp::rx_slots`] that records the lent frame.
//!
//! **Send.** Each work request names one buffer's data window. `wr_id` is the request's sequence
//! number; only some requests ask for a completion (selective signalling, decided by the
//! caller), and since a UD send queue completes in order, a completion for request `s` returns
//! every frame up to `s` (kept oldest-first in [`UdQp::tx_ring`]) to the pool at once.

use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use cyclone_pmd::{PacketBuf, Pool, RawBuf};
use cyclone_verbs_sys as ffi;

use super::device::{Ah, Cq, Mr};
use crate::error::RdmaError;

/// Most work requests chained into one post, and completions taken per poll call.
pub(crate) const MAX_BURST: usize = 64;
/// An empty receive slot.
const EMPTY: u32 = u32::MAX;

/// What one receive poll found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RxPoll {
    /// Frames handed to the caller.
    pub(crate) received: usize,
    /// Completions with an error status or an impossible length (frame returned to the pool).
    pub(crate) bad: usize,
}

/// What one send poll found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TxPoll {
    /// Frames returned to the pool.
    pub(crate) completed: usize,
    /// Completions with an error status.
    pub(crate) errors: usize,
}

/// A UD queue pair with its two completion queues, its peer's address handle and the frames
/// lent to the device.
pub(crate) struct UdQp {
    qp: NonNull<ffi::ibv_qp>,
    qpn: u32,
    // Field order is drop order after `Drop::drop` destroyed the QP: AH and CQs before the MR
    // (and with it the PD and context), which the QP's objects were made from.
    peer: Option<(Ah, u32, u32)>,
    send_cq: Cq,
    recv_cq: Cq,
    mr: Arc<Mr>,
    pool: Pool,
    lkey: u32,
    base: u64,
    frame_shift: u32,
    frame_size: u32,
    headroom: u32,
    /// Frame lent to the device per receive slot (`EMPTY` when free).
    rx_slots: Vec<u32>,
    /// Free receive slots.
    rx_free: Vec<u32>,
    /// Frames of posted sends, oldest first.
    tx_ring: VecDeque<u32>,
    /// Send requests posted / completed so far (sequence numbers).
    tx_posted: u64,
    tx_completed: u64,
    tx_depth: usize,
    // Scratch space for one burst, kept to avoid allocating per call.
    send_wrs: Vec<ffi::ibv_send_wr>,
    send_sges: Vec<ffi::ibv_sge>,
    recv_wrs: Vec<ffi::ibv_recv_wr>,
    recv_sges: Vec<ffi::ibv_sge>,
    wcs: Vec<ffi::ibv_wc>,
    indices: Vec<u32>,
}

// SAFETY: the verbs objects may be used from any thread (libibverbs is thread-safe); the
// scratch vectors hold pointers only during one `&mut self` call; frames lent to the device
// are plain indices. Moving the queue pair to another thread moves all of it.
unsafe impl Send for UdQp {}

impl std::fmt::Debug for UdQp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdQp")
            .field("qpn", &self.qpn)
            .field("rx_posted", &self.rx_posted())
            .field("tx_in_flight", &self.tx_ring.len())
            .finish()
    }
}

fn modify(
    qp: NonNull<ffi::ibv_qp>,
    attr: &mut ffi::ibv_qp_attr,
    mask: u32,
) -> Result<(), RdmaError> {
    // SAFETY: a live QP and an initialised attribute struct for the fields in `mask`.
    let ret = unsafe { ffi::ibv_modify_qp(qp.as_ptr(), attr, mask as i32) };
    if ret != 0 {
        return Err(RdmaError::returned("ibv_modify_qp", ret));
    }
    Ok(())
}

impl UdQp {
    /// Creates a UD queue pair on `mr`'s PD with its CQs and brings it to RTS on `port` with
    /// `qkey`; `rx_depth` receives and `tx_depth` sends at most in flight.
    pub(crate) fn new(
        mr: &Arc<Mr>,
        port: u8,
        qkey: u32,
        rx_depth: u32,
        tx_depth: u32,
    ) -> Result<UdQp, RdmaError> {
        let pd = mr.pd();
        let ctx = pd.context();
        let send_cq = Cq::new(ctx, tx_depth)?;
        let recv_cq = Cq::new(ctx, rx_depth)?;
        let mut init = ffi::ibv_qp_init_attr {
            send_cq: send_cq.ptr.as_ptr(),
            recv_cq: recv_cq.ptr.as_ptr(),
            qp_type: ffi::IBV_QPT_UD,
            sq_sig_all: 0,
            ..Default::default()
        };
        init.cap.max_send_wr = tx_depth;
        init.cap.max_recv_wr = rx_depth;
        init.cap.max_send_sge = 1;
        init.cap.max_recv_sge = 1;
        // SAFETY: a live PD and CQs, and an initialised attribute struct.
        let qp = unsafe { ffi::ibv_create_qp(pd.raw(), &mut init) };
        let qp = NonNull::new(qp).ok_or_else(|| RdmaError::last_os("ibv_create_qp"))?;
        // SAFETY: the QP was just created; `qp_num` is set by `ibv_create_qp`.
        let qpn = unsafe { qp.as_ref() }.qp_num;
        let pool = mr.pool().clone();
        let config = pool.config();
        let mut this = UdQp {
            qp,
            qpn,
            peer: None,
            send_cq,
            recv_cq,
            mr: mr.clone(),
            lkey: mr.lkey(),
            base: pool.region_base().as_ptr() as u64,
            frame_shift: config.frame_size.trailing_zeros(),
            frame_size: config.frame_size,
            headroom: config.headroom,
            pool,
            rx_slots: vec![EMPTY; rx_depth as usize],
            rx_free: (0..rx_depth).rev().collect(),
            tx_ring: VecDeque::with_capacity(tx_depth as usize),
            tx_posted: 0,
            tx_completed: 0,
            tx_depth: tx_depth as usize,
            send_wrs: Vec::with_capacity(MAX_BURST),
            send_sges: Vec::with_capacity(MAX_BURST),
            recv_wrs: Vec::with_capacity(MAX_BURST),
            recv_sges: Vec::with_capacity(MAX_BURST),
            wcs: vec![ffi::ibv_wc::default(); MAX_BURST],
            indices: Vec::with_capacity(MAX_BURST),
        };
        // RESET → INIT → RTR → RTS (a UD QP needs no remote attributes).
        let mut attr = ffi::ibv_qp_attr {
            qp_state: ffi::IBV_QPS_INIT,
            pkey_index: 0,
            port_num: port,
            qkey,
            ..Default::default()
        };
        modify(
            qp,
            &mut attr,
            ffi::IBV_QP_STATE | ffi::IBV_QP_PKEY_INDEX | ffi::IBV_QP_PORT | ffi::IBV_QP_QKEY,
        )?;
        let mut attr = ffi::ibv_qp_attr {
            qp_state: ffi::IBV_QPS_RTR,
            ..Default::default()
        };
        modify(qp, &mut attr, ffi::IBV_QP_STATE)?;
        let mut attr = ffi::ibv_qp_attr {
            qp_state: ffi::IBV_QPS_RTS,
            sq_psn: 0,
            ..Default::default()
        };
        modify(qp, &mut attr, ffi::IBV_QP_STATE | ffi::IBV_QP_SQ_PSN)?;
        this.qpn = qpn;
        Ok(this)
    }

    /// The queue pair number.
    pub(crate) fn qpn(&self) -> u32 {
        self.qpn
    }

    /// Sends go to `remote_qpn` with `remote_qkey` through `ah` from now on.
    pub(crate) fn set_peer(&mut self, ah: Ah, remote_qpn: u32, remote_qkey: u32) {
        self.peer = Some((ah, remote_qpn, remote_qkey));
    }

    /// Whether a peer is set.
    pub(crate) fn has_peer(&self) -> bool {
        self.peer.is_some()
    }

    /// Receives posted now.
    pub(crate) fn rx_posted(&self) -> usize {
        self.rx_slots.len() - self.rx_free.len()
    }

    /// Sends posted and not yet completed.
    pub(crate) fn tx_in_flight(&self) -> usize {
        self.tx_ring.len()
    }

    /// Room in the send queue.
    pub(crate) fn tx_room(&self) -> usize {
        self.tx_depth - self.tx_ring.len()
    }

    /// The pool the frames come from.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Posts receives into fresh frames until every slot is posted or the pool runs dry.
    /// Returns (posted, short): `short` slots stay empty because the pool had no frame.
    pub(crate) fn refill_rx(&mut self) -> Result<(usize, usize), RdmaError> {
        let (mut posted, mut short) = (0, 0);
        while !self.rx_free.is_empty() {
            let want = self.rx_free.len().min(MAX_BURST);
            self.indices.clear();
            let indices = &mut self.indices;
            let got = self.pool.alloc_indices(want, |i| indices.push(i));
            if got == 0 {
                short += want;
                break;
            }
            short += want - got;
            let grh = cyclone_verbs_sys::GRH_LEN as u64;
            let offset = u64::from(self.headroom) - grh;
            let length = self.frame_size - self.headroom + grh as u32;
            self.recv_wrs.clear();
            self.recv_sges.clear();
            let mut slots = [0u32; MAX_BURST];
            for (k, &index) in self.indices.iter().enumerate() {
                let slot = self.rx_free.pop().unwrap_or(EMPTY);
                debug_assert_ne!(slot, EMPTY);
                slots[k] = slot;
                self.recv_sges.push(ffi::ibv_sge {
                    addr: self.base + (u64::from(index) << self.frame_shift) + offset,
                    length,
                    lkey: self.lkey,
                });
                self.recv_wrs.push(ffi::ibv_recv_wr {
                    wr_id: u64::from(slot),
                    num_sge: 1,
                    ..Default::default()
                });
            }
            self.link_recv();
            let mut bad: *mut ffi::ibv_recv_wr = ptr::null_mut();
            // SAFETY: a live QP; the chain of `got` WRs and their SGEs live in `self` for the
            // call; each SGE names the GRH room plus the data room of a frame we own (taken
            // from the pool above), inside the registered region.
            let ret = unsafe {
                ffi::cyclone_ibv_post_recv(self.qp.as_ptr(), self.recv_wrs.as_mut_ptr(), &mut bad)
            };
            let ok = if ret == 0 {
                got
            } else {
                self.chain_position(
                    bad.cast_const().cast(),
                    self.recv_wrs.as_ptr().cast(),
                    std::mem::size_of::<ffi::ibv_recv_wr>(),
                    got,
                )
            };
            for (k, (&slot, &index)) in slots.iter().zip(&self.indices).enumerate() {
                if k < ok {
                    // Lent to the device until its completion is polled.
                    self.rx_slots[slot as usize] = index;
                } else {
                    self.rx_free.push(slot);
                }
            }
            posted += ok;
            if ok < got {
                // SAFETY: these frames were taken from the pool above and not posted.
                unsafe {
                    self.pool
                        .free_indices(self.indices[ok..got].iter().copied())
                };
                return Err(RdmaError::returned("ibv_post_recv", ret));
            }
        }
        Ok((posted, short))
    }

    /// Index of `bad` in a chain starting at `first` (stride `size`), i.e. how many WRs were
    /// posted before the failing one; 0 if `bad` is not in the chain (then none was).
    fn chain_position(&self, bad: *const u8, first: *const u8, size: usize, len: usize) -> usize {
        let diff = (bad as usize).wrapping_sub(first as usize);
        if bad.is_null() || diff % size != 0 || diff / size >= len {
            0
        } else {
            diff / size
        }
    }

    fn link_recv(&mut self) {
        chain(&mut self.recv_wrs, &mut self.recv_sges, |wr, sge, next| {
            wr.sg_list = sge;
            wr.next = next;
        });
    }

    /// Polls up to `max` receive completions, appending the frames to `out`.
    pub(crate) fn poll_rx(
        &mut self,
        out: &mut Vec<PacketBuf>,
        max: usize,
    ) -> Result<RxPoll, RdmaError> {
        let mut poll = RxPoll::default();
        let mut left = max;
        while left > 0 {
            let want = left.min(MAX_BURST);
            // SAFETY: a live CQ and room for `want` completions in `self.wcs`.
            let n = unsafe {
                ffi::cyclone_ibv_poll_cq(
                    self.recv_cq.ptr.as_ptr(),
                    want as i32,
                    self.wcs.as_mut_ptr(),
                )
            };
            if n < 0 {
                return Err(RdmaError::returned("ibv_poll_cq", n));
            }
            let n = n as usize;
            for k in 0..n {
                let wc = &self.wcs[k];
                let slot = wc.wr_id as usize;
                let Some(&index) = self.rx_slots.get(slot).filter(|&&i| i != EMPTY) else {
                    poll.bad += 1;
                    continue;
                };
                self.rx_slots[slot] = EMPTY;
                self.rx_free.push(slot as u32);
                let grh = cyclone_verbs_sys::GRH_LEN as u32;
                let fits =
                    wc.byte_len >= grh && wc.byte_len - grh <= self.frame_size - self.headroom;
                if wc.status == ffi::IBV_WC_SUCCESS && fits {
                    let raw = RawBuf {
                        index,
                        offset: self.headroom,
                        len: wc.byte_len - grh,
                    };
                    // SAFETY: the completion ends the device's loan of frame `index`, recorded
                    // in our slot until now; we take it back exactly once.
                    match unsafe { PacketBuf::from_raw(&self.pool, raw) } {
                        Ok(buf) => {
                            out.push(buf);
                            poll.received += 1;
                        }
                        Err(_) => poll.bad += 1, // from_raw returned the frame to the pool
                    }
                } else {
                    // SAFETY: as above; the frame goes back to the pool instead.
                    unsafe { self.pool.free_index(index) };
                    poll.bad += 1;
                }
            }
            left -= n;
            if n < want {
                break;
            }
        }
        Ok(poll)
    }

    /// Posts the first `n` buffers of `bufs` as sends to the peer, in one chain; buffer `k`
    /// asks for a completion if `signal(k)`. Every buffer must belong to this queue pair's pool
    /// and fit the port's MTU (the caller checks); `n` must not exceed [`UdQp::tx_room`] or
    /// [`MAX_BURST`]. Returns how many were posted (removed from `bufs`); on error, the rest
    /// stay in `bufs`.
    pub(crate) fn post_tx(
        &mut self,
        bufs: &mut Vec<PacketBuf>,
        n: usize,
        mut signal: impl FnMut(usize) -> bool,
    ) -> Result<usize, RdmaError> {
        let Some((ah, remote_qpn, remote_qkey)) = &self.peer else {
            return Ok(0);
        };
        let n = n.min(bufs.len()).min(self.tx_room()).min(MAX_BURST);
        // Only frames of our own pool: an index of another pool would name the wrong bytes and
        // be returned to the wrong free list.
        let n = bufs[..n]
            .iter()
            .position(|b| b.pool_id() != self.pool.id())
            .unwrap_or(n);
        if n == 0 {
            return Ok(0);
        }
        self.send_wrs.clear();
        self.send_sges.clear();
        for (k, buf) in bufs[..n].iter().enumerate() {
            self.send_sges.push(ffi::ibv_sge {
                addr: self.base + buf.region_offset(),
                length: buf.len() as u32,
                lkey: self.lkey,
            });
            let mut wr = ffi::ibv_send_wr {
                wr_id: self.tx_posted + k as u64,
                num_sge: 1,
                opcode: ffi::IBV_WR_SEND,
                send_flags: if signal(k) { ffi::IBV_SEND_SIGNALED } else { 0 },
                ..Default::default()
            };
            wr.wr.ud = ffi::ibv_send_wr__bindgen_ty_2__bindgen_ty_3 {
                ah: ah.ptr.as_ptr(),
                remote_qpn: *remote_qpn,
                remote_qkey: *remote_qkey,
            };
            self.send_wrs.push(wr);
        }
        chain(&mut self.send_wrs, &mut self.send_sges, |wr, sge, next| {
            wr.sg_list = sge;
            wr.next = next;
        });
        let wrs = self.send_wrs.as_mut_ptr();
        let mut bad: *mut ffi::ibv_send_wr = ptr::null_mut();
        // SAFETY: a live QP and AH; the chain of `n` WRs and SGEs lives in `self` for the call;
        // each SGE names the data window of a buffer of our registered pool, owned by `bufs`
        // and not written until it is handed to the device below (the device only reads).
        let ret = unsafe { ffi::cyclone_ibv_post_send(self.qp.as_ptr(), wrs, &mut bad) };
        let posted = if ret == 0 {
            n
        } else {
            self.chain_position(
                bad.cast_const().cast(),
                wrs.cast_const().cast(),
                std::mem::size_of::<ffi::ibv_send_wr>(),
                n,
            )
        };
        for buf in bufs.drain(..posted) {
            // Lent to the device until a completion at or after it is polled.
            self.tx_ring.push_back(buf.into_raw().index);
        }
        self.tx_posted += posted as u64;
        if ret != 0 {
            return Err(RdmaError::returned("ibv_post_send", ret));
        }
        Ok(posted)
    }

    /// Polls send completions and returns the frames they cover to the pool.
    pub(crate) fn poll_tx(&mut self) -> Result<TxPoll, RdmaError> {
        let mut poll = TxPoll::default();
        loop {
            // SAFETY: a live CQ and room for `MAX_BURST` completions in `self.wcs`.
            let n = unsafe {
                ffi::cyclone_ibv_poll_cq(
                    self.send_cq.ptr.as_ptr(),
                    MAX_BURST as i32,
                    self.wcs.as_mut_ptr(),
                )
            };
            if n < 0 {
                return Err(RdmaError::returned("ibv_poll_cq", n));
            }
            let n = n as usize;
            for k in 0..n {
                let wc = &self.wcs[k];
                if wc.status != ffi::IBV_WC_SUCCESS {
                    poll.errors += 1;
                }
                // Sends complete in order: this one covers every earlier unsignalled send.
                let upto = wc.wr_id.saturating_add(1);
                if upto <= self.tx_completed || upto > self.tx_posted {
                    continue; // not a sequence number we posted
                }
                let count = (upto - self.tx_completed) as usize;
                self.tx_completed = upto;
                let ring = &mut self.tx_ring;
                // SAFETY: the completion ends the device's loan of the `count` oldest send
                // frames, recorded only in `tx_ring`, which we pop as we give them back.
                unsafe { self.pool.free_indices(ring.drain(..count.min(ring.len()))) };
                poll.completed += count;
            }
            if n < MAX_BURST {
                break;
            }
        }
        Ok(poll)
    }
}

/// Chains work requests: each gets a pointer to its SGE and to the next request (NULL for the
/// last). Pointers are only computed here, never dereferenced; they stay valid for the post
/// because neither vector is resized (both have room for [`MAX_BURST`]) before it.
fn chain<W>(
    wrs: &mut [W],
    sges: &mut [ffi::ibv_sge],
    mut set: impl FnMut(&mut W, *mut ffi::ibv_sge, *mut W),
) {
    let n = wrs.len();
    let sge0 = sges.as_mut_ptr();
    let wr0 = wrs.as_mut_ptr();
    for (k, wr) in wrs.iter_mut().enumerate() {
        let next = if k + 1 < n {
            wr0.wrapping_add(k + 1)
        } else {
            ptr::null_mut()
        };
        set(wr, sge0.wrapping_add(k), next);
    }
}

impl Drop for UdQp {
    fn drop(&mut self) {
        // SAFETY: a live QP, destroyed once. After it returns the device no longer reads or
        // writes any frame lent to it.
        let ret = unsafe { ffi::ibv_destroy_qp(self.qp.as_ptr()) };
        if ret != 0 {
            // The device may still use the frames and the region: leak both rather than free
            // memory a device writes to.
            std::mem::forget(self.mr.clone());
            std::mem::forget(self.pool.clone());
            return;
        }
        let rx = self.rx_slots.iter().copied().filter(|&i| i != EMPTY);
        // SAFETY: the QP is destroyed, so every frame recorded as lent is ours again, once.
        unsafe { self.pool.free_indices(rx) };
        // SAFETY: as above, for the frames of sends not reaped.
        unsafe { self.pool.free_indices(self.tx_ring.drain(..)) };
    }
}
