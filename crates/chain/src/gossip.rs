//! Transaction gossip among validators. A transaction a node admits from a client (the RPC's
//! `author_submit`) is sent on to every other validator, so whichever leads next can include
//! it; before, it waited for the turn of the node it was submitted to and was lost if that node
//! went down.
//!
//! - One hop: validators are fully connected, so a transaction heard from a peer is admitted
//!   and not sent on again.
//! - Batched: admitted transactions go out together, up to [`MAX_GOSSIP_TXS`] or
//!   [`MAX_GOSSIP_BYTES`], at most [`FLUSH_AFTER`] after the first one waited; a full outbox
//!   drops the gossip, not the transaction (it stays in this node's mempool).
//! - Hostile input: a batch is decoded within bounds (count, each length, the total); a batch
//!   that does not decode blocks its sender. Each transaction whose hash the mempool holds is
//!   dropped before any signature check; the others go through the same admission as a
//!   client's, so each node checks a signature once. The channel's quota caps how many batches
//!   a peer may send per second ([`crate::consensus::node::channel_quota`]).

use crate::consensus::app::SharedCore;
use crate::tx::MAX_TX_BYTES;
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::channel::mpsc;
use std::time::Duration;

/// Most transactions in one gossip message.
pub const MAX_GOSSIP_TXS: usize = 512;
/// Most bytes in one gossip message (also kept under the network's message limit).
pub const MAX_GOSSIP_BYTES: usize = 512 * 1024;
/// How long an admitted transaction may wait for others to share its message.
pub const FLUSH_AFTER: Duration = Duration::from_millis(20);
/// Transactions waiting to be gossiped; beyond this, gossip is dropped.
pub const OUTBOX: usize = 16_384;

/// Why a received batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// Shorter than its header or a length says.
    #[error("gossip batch truncated")]
    Truncated,
    /// More transactions than a batch may hold, or none.
    #[error("gossip batch of {0} transactions (1..={MAX_GOSSIP_TXS} allowed)")]
    Count(usize),
    /// A transaction longer than any valid one.
    #[error("gossiped transaction of {0} bytes exceeds {MAX_TX_BYTES}")]
    TooLarge(usize),
    /// Bytes after the last transaction.
    #[error("{0} bytes after the last gossiped transaction")]
    Trailing(usize),
}

/// Encodes a batch: a big-endian u16 count, then each transaction as a u32 length and bytes.
pub fn encode_batch(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + txs.iter().map(|t| 4 + t.len()).sum::<usize>());
    out.extend_from_slice(&u16::try_from(txs.len()).unwrap_or(u16::MAX).to_be_bytes());
    for tx in txs.iter().take(u16::MAX as usize) {
        out.extend_from_slice(&u32::try_from(tx.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(tx);
    }
    out
}

/// Decodes a batch within the bounds above, without copying the transactions.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<&[u8]>, GossipError> {
    let (count, mut rest) = bytes
        .split_first_chunk::<2>()
        .ok_or(GossipError::Truncated)?;
    let count = usize::from(u16::from_be_bytes(*count));
    if count == 0 || count > MAX_GOSSIP_TXS {
        return Err(GossipError::Count(count));
    }
    let mut txs = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(GossipError::Truncated)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        if len > MAX_TX_BYTES {
            return Err(GossipError::TooLarge(len));
        }
        if tail.len() < len {
            return Err(GossipError::Truncated);
        }
        let (tx, tail) = tail.split_at(len);
        txs.push(tx);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(GossipError::Trailing(rest.len()));
    }
    Ok(txs)
}

/// Where the node puts transactions it admitted from clients, for the gossip task to send.
#[derive(Clone, Debug)]
pub struct Outbox(mpsc::Sender<Vec<u8>>);

impl Outbox {
    /// An outbox and the receiving end [`run`] takes.
    pub fn new() -> (Self, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        (Self(tx), rx)
    }

    /// Queues an encoded transaction for gossip; false when the outbox is full or closed.
    pub fn offer(&self, encoded: Vec<u8>) -> bool {
        self.0.try_send(encoded).is_ok()
    }
}

/// Counts of what gossip did (for logs and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Transactions sent on.
    pub sent: u64,
    /// Transactions heard and admitted to the mempool.
    pub admitted: u64,
    /// Transactions heard that the mempool already held (no signature checked).
    pub known: u64,
    /// Transactions heard and refused by admission (stale, already included, invalid).
    pub refused: u64,
}

/// Sends what the node admits from clients and admits what peers send, until the outbox or
/// the channel closes. `max_message` is the network's message limit.
pub async fn run<E, S, R, B>(
    context: E,
    core: SharedCore<E>,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    mut sender: S,
    mut receiver: R,
    mut blocker: B,
    max_message: usize,
) where
    E: commonware_storage::Context + Spawner + Clock,
    S: Sender,
    R: Receiver<PublicKey = S::PublicKey>,
    B: Blocker<PublicKey = S::PublicKey>,
{
    let max_bytes = MAX_GOSSIP_BYTES.min(max_message.saturating_sub(64));
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut batch_bytes = 2usize;
    let mut first_at = None;
    loop {
        let flush_in = first_at.map_or(Duration::from_secs(3600), |at: std::time::SystemTime| {
            FLUSH_AFTER.saturating_sub(context.current().duration_since(at).unwrap_or_default())
        });
        select! {
            queued = outbox.recv() => {
                let Some(tx) = queued else { return };
                if batch_bytes + 4 + tx.len() > max_bytes {
                    flush(&mut sender, &mut batch, &core).await;
                    batch_bytes = 2;
                    first_at = None;
                }
                batch_bytes += 4 + tx.len();
                batch.push(tx);
                first_at.get_or_insert_with(|| context.current());
                if batch.len() >= MAX_GOSSIP_TXS {
                    flush(&mut sender, &mut batch, &core).await;
                    batch_bytes = 2;
                    first_at = None;
                }
            },
            heard = receiver.recv() => {
                let Ok((peer, message)) = heard else { return };
                match decode_batch(message.as_ref()) {
                    Ok(txs) => {
                        let mut c = core.lock().await;
                        let mut stats = c.gossip_stats;
                        for tx in txs {
                            match c.admit_heard(tx) {
                                Heard::Admitted => stats.admitted += 1,
                                Heard::Known => stats.known += 1,
                                Heard::Refused => stats.refused += 1,
                            }
                        }
                        c.gossip_stats = stats;
                    }
                    Err(e) => {
                        tracing::warn!(target: "crust::chain", "blocking {peer}: {e}");
                        let _ = blocker.block(peer);
                    }
                }
            },
            _ = context.sleep(flush_in) => {
                flush(&mut sender, &mut batch, &core).await;
                batch_bytes = 2;
                first_at = None;
            },
        }
    }
}

async fn flush<E, S>(sender: &mut S, batch: &mut Vec<Vec<u8>>, core: &SharedCore<E>)
where
    E: commonware_storage::Context + Spawner,
    S: Sender,
{
    if batch.is_empty() {
        return;
    }
    let message = encode_batch(batch);
    let n = batch.len() as u64;
    batch.clear();
    sender.send(Recipients::All, message, false);
    core.lock().await.gossip_stats.sent += n;
}

/// What became of a transaction heard from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Admitted to the mempool.
    Admitted,
    /// The mempool already holds it.
    Known,
    /// Refused by admission.
    Refused,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn batches_round_trip_and_hostile_ones_are_refused() {
        let txs = vec![vec![1u8; 10], vec![], vec![2u8; 300]];
        let encoded = encode_batch(&txs);
        let decoded: Vec<Vec<u8>> = decode_batch(&encoded)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(decoded, txs);
        assert_eq!(decode_batch(&[]), Err(GossipError::Truncated));
        assert_eq!(decode_batch(&[0, 0]), Err(GossipError::Count(0)));
        assert_eq!(
            decode_batch(&encode_batch(&vec![vec![0u8]; MAX_GOSSIP_TXS + 1])),
            Err(GossipError::Count(MAX_GOSSIP_TXS + 1))
        );
        assert_eq!(
            decode_batch(&encoded[..encoded.len() - 1]),
            Err(GossipError::Truncated)
        );
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing), Err(GossipError::Trailing(1)));
        // A length far past the end, and one past any valid transaction.
        assert_eq!(
            decode_batch(&[0, 1, 0, 0, 0, 5, 1]),
            Err(GossipError::Truncated)
        );
        assert_eq!(
            decode_batch(&[0, 1, 255, 255, 255, 255]),
            Err(GossipError::TooLarge(u32::MAX as usize))
        );
    }

    proptest! {
        /// Any bytes decode to a bounded batch or a typed error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            if let Ok(txs) = decode_batch(&bytes) {
                prop_assert!(!txs.is_empty() && txs.len() <= MAX_GOSSIP_TXS);
                prop_assert!(txs.iter().all(|t| t.len() <= MAX_TX_BYTES));
                prop_assert_eq!(encode_batch(&txs.iter().map(|t| t.to_vec()).collect::<Vec<_>>()), bytes);
            }
        }
    }
}
