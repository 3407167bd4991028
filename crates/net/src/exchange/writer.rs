//! The server's outbound edge: per peer, a few outbound streams that queued messages are
//! written to (coalesced up to the target size), and the bytes in flight to that peer that
//! its budget bounds.

use super::server::MESSAGE_TARGET_BYTES;
use crust_ipfs::bitswap::{self, Message};
use futures::AsyncWriteExt as _;
use libp2p::{PeerId, StreamProtocol};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How long one message may take to write before the stream is dropped with everything queued
/// behind it: a peer that stops reading must not hold the server's shared budget.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// Outbound streams the server writes blocks to one peer on. Each Yamux stream's receive
/// window is at most 1 MiB here and starts at 256 KiB (see `host::YAMUX_MAX_STREAMS`), so one
/// stream carries about 256 KiB per round trip until its window grows; across a long link the
/// streams together must hold a round trip's worth of the link. Measured across a 100 ms,
/// 100 Mbit/s link (`benches/shaped_retrieval.py`): 4 streams carried 41 Mbit/s (Kubo: 39),
/// 16 streams 81 Mbit/s, 32 no more. Wants and cancels always take the first stream, so they
/// keep their order.
const WRITE_STREAMS: usize = 16;

/// Bytes queued or being written to one peer, and a wake-up when they drain.
#[derive(Default)]
pub struct InFlight {
    bytes: Mutex<usize>,
    drained: Notify,
}

impl InFlight {
    /// Waits until `bytes` more fit under `budget` (a message larger than the budget waits
    /// for an empty pipe), then counts them.
    pub async fn reserve(&self, bytes: usize, budget: usize) {
        loop {
            let drained = self.drained.notified();
            {
                let mut queued = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
                if *queued == 0 || *queued + bytes <= budget {
                    *queued += bytes;
                    return;
                }
            }
            drained.await;
        }
    }

    /// `bytes` were written or dropped.
    pub fn release(&self, bytes: usize) {
        let mut queued = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        *queued = queued.saturating_sub(bytes);
        drop(queued);
        self.drained.notify_waiters();
    }
}

/// A message on its way to a peer, holding `accounted` bytes of the peer's budget and, for
/// blocks, room in the server's shared budget.
pub struct Outgoing {
    /// The message.
    pub msg: Message,
    /// Bytes of the peer's budget it holds.
    pub accounted: usize,
    /// Room in the shared serve queue, released once written.
    pub permit: Option<crate::queue::Permit>,
}

/// One peer's outbound streams.
#[derive(Default)]
pub struct PeerWriters {
    writers: [Option<mpsc::Sender<Outgoing>>; WRITE_STREAMS],
    next: usize,
    /// Bytes in flight to the peer.
    pub in_flight: Arc<InFlight>,
}

impl PeerWriters {
    /// The queue of the stream a message with `bytes` of blocks goes to (wants and cancels on
    /// the first stream, blocks round-robin), opened by `open` when it has none; and its slot.
    pub fn queue(
        &mut self,
        bytes: usize,
        open: impl FnOnce(Arc<InFlight>) -> mpsc::Sender<Outgoing>,
    ) -> (mpsc::Sender<Outgoing>, usize) {
        let slot = if bytes == 0 {
            0
        } else {
            self.next = (self.next + 1) % WRITE_STREAMS;
            self.next
        };
        let in_flight = self.in_flight.clone();
        let tx = self.writers[slot]
            .get_or_insert_with(|| open(in_flight))
            .clone();
        (tx, slot)
    }

    /// The writer of `slot` ended; the next message opens a new one.
    pub fn closed(&mut self, slot: usize) {
        if let Some(w) = self.writers.get_mut(slot) {
            *w = None;
        }
    }
}

/// Roughly the encoded size of a message: its block bytes plus ~40 bytes per entry.
pub fn message_bytes(msg: &Message) -> usize {
    msg.blocks.iter().map(|b| b.data.len() + 40).sum::<usize>()
        + 40 * (msg.wants.len() + msg.presences.len())
}

/// Whether a queued message of `next_size` bytes joins one of `size` bytes holding `wants`
/// entries: Kubo answers one batch of wants far better than a burst of one-want messages, but
/// a message stays under the target size and the entry limit.
pub fn joins(size: usize, wants: usize, next: &Message, next_size: usize) -> bool {
    size < MESSAGE_TARGET_BYTES
        && size + next_size <= MESSAGE_TARGET_BYTES
        && wants + next.wants.len() <= bitswap::MAX_ENTRIES
}

/// Writes queued messages to one outbound stream to `peer`, reopening it after an error.
pub async fn write_stream(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut rx: mpsc::Receiver<Outgoing>,
    in_flight: Arc<InFlight>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    let mut carried: Option<Outgoing> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match rx.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut msg = first.msg;
        let mut accounted = first.accounted;
        let mut permits = vec![first.permit];
        let mut size = message_bytes(&msg);
        while size < MESSAGE_TARGET_BYTES {
            let Ok(next) = rx.try_recv() else { break };
            let next_size = message_bytes(&next.msg);
            if !joins(size, msg.wants.len(), &next.msg, next_size) {
                carried = Some(next);
                break;
            }
            size += next_size;
            accounted += next.accounted;
            permits.push(next.permit);
            msg.wants.extend(next.msg.wants);
            msg.blocks.extend(next.msg.blocks);
            msg.presences.extend(next.msg.presences);
        }
        let body = msg.encode();
        let prefix = bitswap::frame_prefix(body.len());
        for _attempt in 0..2 {
            if stream.is_none() {
                stream = open(&mut control, peer).await;
            }
            let Some(s) = stream.as_mut() else { break };
            let written = async {
                s.write_all(&prefix).await?;
                s.write_all(&body).await?;
                s.flush().await
            };
            match tokio::time::timeout(WRITE_TIMEOUT, written).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => super::trace(|| format!("bitswap: write to {peer} failed: {e}")),
                Err(_) => {
                    // The peer stopped reading: drop the stream, and what is queued for it
                    // (its client re-sends the wants it still has).
                    super::trace(|| format!("bitswap: {peer} stopped reading; dropping its queue"));
                    stream = None;
                    while let Ok(queued) = rx.try_recv() {
                        in_flight.release(queued.accounted);
                    }
                    break;
                }
            }
            stream = None;
        }
        in_flight.release(accounted);
        drop(permits);
    }
}

async fn open(control: &mut libp2p_stream::Control, peer: PeerId) -> Option<libp2p::Stream> {
    for id in bitswap::PROTOCOLS {
        if let Ok(s) = control.open_stream(peer, StreamProtocol::new(id)).await {
            return Some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crust_ipfs::Block;
    use crust_ipfs::bitswap::{Entry, WantType};

    fn wants(n: usize) -> Message {
        let cid = Block::raw(b"w".to_vec()).cid;
        Message {
            wants: vec![
                Entry {
                    cid,
                    priority: 1,
                    cancel: false,
                    want_type: WantType::Block,
                    send_dont_have: true,
                };
                n
            ],
            ..Default::default()
        }
    }

    #[test]
    fn queued_messages_join_up_to_the_target_size_and_entry_limit() {
        let block = Message {
            blocks: vec![Block::raw(vec![0u8; 600 * 1024])],
            ..Default::default()
        };
        let size = message_bytes(&block);
        assert_eq!(size, 600 * 1024 + 40);
        assert!(joins(0, 0, &block, size));
        assert!(!joins(size, 0, &block, size), "two would pass 1 MiB");
        let w = wants(600);
        assert!(joins(0, 0, &w, message_bytes(&w)));
        assert!(
            !joins(message_bytes(&w), 600, &w, message_bytes(&w)),
            "1 200 entries > 1 024"
        );
        assert!(
            !joins(MESSAGE_TARGET_BYTES, 0, &wants(1), 40),
            "a full message takes nothing more"
        );
    }

    #[test]
    fn wants_take_the_first_stream_and_blocks_rotate() {
        let mut w = PeerWriters::default();
        let opened = std::cell::Cell::new(0);
        let open = |_: Arc<InFlight>| {
            opened.set(opened.get() + 1);
            mpsc::channel(1).0
        };
        assert_eq!(w.queue(0, open).1, 0);
        let n = WRITE_STREAMS;
        let slots: Vec<usize> = (0..=n).map(|_| w.queue(10, open).1).collect();
        let mut rotation: Vec<usize> = (1..n).collect();
        rotation.extend([0, 1]);
        assert_eq!(slots, rotation);
        assert_eq!(w.queue(0, open).1, 0);
        assert_eq!(opened.get(), n, "one stream per slot, reused");
        w.closed(2);
        w.queue(10, open);
        w.queue(10, open);
        assert_eq!(opened.get(), n + 1, "a closed slot reopens");
    }

    #[tokio::test]
    async fn bytes_in_flight_wait_for_the_budget() {
        let f = Arc::new(InFlight::default());
        f.reserve(600, 1000).await;
        // An oversized message still goes when the pipe is empty; here it must wait.
        let g = f.clone();
        let waiting = tokio::spawn(async move { g.reserve(600, 1000).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        f.release(600);
        waiting.await.unwrap();
        f.release(600);
        f.reserve(5000, 1000).await;
    }
}
