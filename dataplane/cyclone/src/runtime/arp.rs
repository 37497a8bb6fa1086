//! ARP replies shared between the queues of a port.
//!
//! Every queue runs its own [`Interface`](cyclone_stack::iface::Interface) with the same MAC and
//! IP, and RSS steers each TCP flow to one queue. Frames without ports, ARP among them, land
//! on queue 0 (the memory link does this; NICs' default RSS does too). So when queue 1 asks who
//! has the client's address, the reply reaches queue 0's interface and queue 1 waits in vain.
//! [`ArpShared`] wraps each queue: every ARP reply a queue receives is also copied into the
//! other queues' inboxes (bounded lock-free queues; full means dropped, and the asking queue
//! retries) and handed to their interfaces with their next receive burst. Only replies are
//! shared: a request would make every queue answer. ARP is rare, so the copy costs nothing
//! that matters; with one queue the wrapper is a plain pass-through.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use cyclone_pmd::{PacketBuf, Pool, Queue, QueueStats, RxQueue, TxQueue};

use super::QueueWait;

/// ARP frames waiting per queue, at most.
const INBOX_LEN: usize = 64;
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ARP_OP_REPLY: [u8; 2] = [0x00, 0x02];

/// The inboxes of every queue of one port.
#[derive(Debug)]
pub(crate) struct ArpFanout {
    inboxes: Vec<ArrayQueue<Vec<u8>>>,
}

impl ArpFanout {
    /// Inboxes for `queues` queues.
    pub(crate) fn new(queues: u16) -> ArpFanout {
        ArpFanout {
            inboxes: (0..queues).map(|_| ArrayQueue::new(INBOX_LEN)).collect(),
        }
    }
}

/// A queue whose received ARP replies are shared with its sibling queues (see the module docs).
#[derive(Debug)]
pub struct ArpShared<Q> {
    inner: Q,
    index: usize,
    fanout: Option<Arc<ArpFanout>>,
}

impl<Q: Queue> ArpShared<Q> {
    /// Wraps `inner`; `fanout` is `None` for a port served with a single queue.
    pub(crate) fn new(inner: Q, fanout: Option<Arc<ArpFanout>>) -> ArpShared<Q> {
        let index = usize::from(inner.id());
        ArpShared {
            inner,
            index,
            fanout,
        }
    }

    /// The wrapped queue.
    pub fn inner_mut(&mut self) -> &mut Q {
        &mut self.inner
    }
}

/// Whether `frame` is an untagged Ethernet ARP reply.
fn is_arp_reply(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&ETHERTYPE_ARP[..]) && frame.get(20..22) == Some(&ARP_OP_REPLY[..])
}

impl<Q: Queue> RxQueue for ArpShared<Q> {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let Some(fanout) = &self.fanout else {
            return self.inner.rx_burst(out, max);
        };
        let mut got = 0;
        if let Some(inbox) = fanout.inboxes.get(self.index) {
            while got < max {
                let Some(bytes) = inbox.pop() else {
                    break;
                };
                // No buffer: the reply is lost like any frame on an empty pool; ARP retries.
                if let Some(mut buf) = self.inner.pool().alloc() {
                    if buf.extend_from_slice(&bytes).is_ok() {
                        out.push(buf);
                        got += 1;
                    }
                }
            }
        }
        let start = out.len();
        let received = self.inner.rx_burst(out, max - got);
        for buf in out.get(start..).unwrap_or_default() {
            if is_arp_reply(buf.data()) {
                for (i, inbox) in fanout.inboxes.iter().enumerate() {
                    if i != self.index {
                        // Full: dropped; the queue that asked sends its request again.
                        let _ = inbox.push(buf.data().to_vec());
                    }
                }
            }
        }
        got + received
    }
}

impl<Q: Queue> TxQueue for ArpShared<Q> {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        self.inner.tx_burst(bufs)
    }

    fn pool(&self) -> &Pool {
        self.inner.pool()
    }
}

impl<Q: Queue> Queue for ArpShared<Q> {
    fn id(&self) -> u16 {
        self.inner.id()
    }

    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
}

impl<Q: QueueWait> QueueWait for ArpShared<Q> {
    fn wait(&mut self, timeout: std::time::Duration) {
        self.inner.wait(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_untagged_arp_replies_are_shared() {
        let mut frame = vec![0u8; 42];
        frame[12..14].copy_from_slice(&ETHERTYPE_ARP);
        frame[20..22].copy_from_slice(&ARP_OP_REPLY);
        assert!(is_arp_reply(&frame));
        frame[21] = 1; // request
        assert!(!is_arp_reply(&frame));
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[21] = 2;
        assert!(!is_arp_reply(&frame));
        assert!(!is_arp_reply(&frame[..16]));
    }
}
