//! Finalized blocks and their receipts, on disk, so `chain_block` and `author_txStatus` answer
//! for any height while memory holds only a bounded window.
//!
//! Before this, a node kept the last 4 096 finalized blocks (bodies and receipts) in memory and
//! nothing older: at saturation (2 000 transfers a block) that window alone held over 1 GB, and
//! a restarted node answered for no block at all. Now every finalized block is written to an
//! immutable archive (keyed by height and hash) before its state is committed, and memory keeps:
//! - the most recent blocks, within `cache_bytes` (always at least the last one), with the
//!   events their execution emitted (the archive keeps blocks and receipts, not events);
//! - a transaction-hash index over the most recent `indexed_txs` transactions, for
//!   `author_txStatus` (clients ask soon after submitting; mortality bounds how long).

use crate::block::Block;
use crate::consensus::core::Finalized;
use crate::execute::{BlockOutcome, Receipt};
use crate::hash::Hash;
use crate::store::StoreError;
use commonware_cryptography::sha256::Digest;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_storage::archive::{Archive as _, Identifier, immutable};
use commonware_utils::{NZU16, NZUsize};
use crust_primitives::codec::{Buf, BufMut, EncodeSize, Error as CodecError, Read, Write};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Longest receipt error message kept on disk (longer ones are cut at a character boundary).
const MAX_ERROR_BYTES: usize = crate::block::MAX_RECEIPT_ERROR_BYTES;

/// How much of the history a node keeps in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Approximate bytes of recent finalized blocks (with receipts and events) kept in memory.
    pub cache_bytes: usize,
    /// Most recent transactions whose block `author_txStatus` can find.
    pub indexed_txs: usize,
}

impl Default for HistoryConfig {
    /// 32 MiB of recent blocks (~45 blocks of 500 transfers, every block of a quiet hour) and
    /// the last 229 376 transactions (~1 minute at 4 000/s, 28 MiB).
    fn default() -> Self {
        Self {
            cache_bytes: 32 << 20,
            indexed_txs: Self::index_for_bytes(32 << 20),
        }
    }
}

impl HistoryConfig {
    /// Bytes the transaction index takes: its hash table and arrival queue are allocated once,
    /// at open, and never grow while the node runs. The table gets room for twice the entries:
    /// entries come and go all the time, and a table more than half full that runs out of free
    /// slots to removals' tombstones doubles itself instead of cleaning up in place.
    pub fn index_bytes(&self) -> usize {
        let n = self.indexed_txs;
        if n == 0 {
            return 0;
        }
        index_slots(n).saturating_mul(INDEX_SLOT_BYTES)
            + 16
            + n.saturating_mul(std::mem::size_of::<Hash>())
    }

    /// The most transactions an index of at most `bytes` can hold, using its table fully.
    pub fn index_for_bytes(bytes: usize) -> usize {
        // Slots a power of two, 7/16 of them used: ~126 bytes an entry.
        let per_slot = INDEX_SLOT_BYTES + std::mem::size_of::<Hash>() * 7 / 16;
        let slots = bytes.saturating_sub(16) / per_slot;
        if slots < 16 {
            return 0;
        }
        let slots = 1usize << (usize::BITS - 1 - slots.leading_zeros());
        slots / 16 * 7
    }
}

/// Bytes of one slot of the index's hash table: a hash, a height and a control byte.
const INDEX_SLOT_BYTES: usize = std::mem::size_of::<(Hash, u64)>() + 1;

/// Slots of the index's hash table for `n` entries: room for `2n`, as the standard library's
/// table rounds it (a power of two, 7/8 of them usable).
fn index_slots(n: usize) -> usize {
    let room = n.saturating_mul(2);
    if room < 8 {
        (room + 1).next_power_of_two()
    } else {
        (room.saturating_mul(8) / 7).next_power_of_two()
    }
}

/// A finalized block as the archive stores it: the block and its receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archived {
    /// The block.
    pub block: Block,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
}

impl Write for Archived {
    fn write(&self, buf: &mut impl BufMut) {
        self.block.write(buf);
        (self.receipts.len() as u32).write(buf);
        for r in &self.receipts {
            r.tx_hash.write(buf);
            r.success.write(buf);
            let error = r.error.as_deref().map(|e| truncate(e, MAX_ERROR_BYTES));
            match error {
                Some(e) => {
                    true.write(buf);
                    (e.len() as u32).write(buf);
                    buf.put_slice(e.as_bytes());
                }
                None => false.write(buf),
            }
            r.paid.write(buf);
            r.events_hash.write(buf);
        }
    }
}

impl EncodeSize for Archived {
    fn encode_size(&self) -> usize {
        self.block.encode_size()
            + 4
            + self
                .receipts
                .iter()
                .map(|r| {
                    32 + 1
                        + 1
                        + r.error
                            .as_deref()
                            .map_or(0, |e| 4 + truncate(e, MAX_ERROR_BYTES).len())
                        + 16
                        + 32
                })
                .sum::<usize>()
    }
}

impl Read for Archived {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let block = Block::read_cfg(buf, &())?;
        let n = u32::read_cfg(buf, &())? as usize;
        if n != block.transactions.len() {
            return Err(CodecError::Invalid(
                "Archived",
                "one receipt per transaction",
            ));
        }
        let mut receipts = Vec::with_capacity(n);
        for _ in 0..n {
            let tx_hash = Hash::read_cfg(buf, &())?;
            let success = bool::read_cfg(buf, &())?;
            let error = if bool::read_cfg(buf, &())? {
                let len = u32::read_cfg(buf, &())? as usize;
                if len > MAX_ERROR_BYTES || buf.remaining() < len {
                    return Err(CodecError::Invalid("Archived", "receipt error length"));
                }
                let mut bytes = vec![0u8; len];
                buf.copy_to_slice(&mut bytes);
                Some(
                    String::from_utf8(bytes)
                        .map_err(|_| CodecError::Invalid("Archived", "receipt error utf-8"))?,
                )
            } else {
                None
            };
            let paid = u128::read_cfg(buf, &())?;
            let events_hash = Hash::read_cfg(buf, &())?;
            receipts.push(Receipt {
                tx_hash,
                success,
                error,
                paid,
                events_hash,
            });
        }
        Ok(Self { block, receipts })
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Bytes a cached block holds beyond its parts: the `Arc` (two counts and the allocator's
/// header) and its entry in the cache's B-tree map (nodes about half full).
const CACHE_ENTRY_OVERHEAD: usize = 96;

/// Bytes a finalized block takes while cached: each part at its in-memory size plus what it
/// owns on the heap ([`crate::sizes`]). Counting encoded sizes instead under-counted the cache
/// ~3×, so its budget held three times what it said.
pub fn cached_bytes(f: &Finalized) -> usize {
    use crust_runtime::{Event, system::SystemEvent};
    use std::mem::size_of;
    let block = &f.block;
    let txs: usize = block
        .transactions
        .iter()
        .map(|t| crate::sizes::tx_heap_bytes(t.encode_size()))
        .sum();
    let evidence: usize = block.evidence.iter().map(|e| e.proof.capacity()).sum();
    let errors: usize = f
        .outcome
        .receipts
        .iter()
        .filter_map(|r| r.error.as_ref().map(String::capacity))
        .sum();
    let event_heap: usize = f
        .outcome
        .events
        .iter()
        .map(|(_, e)| match e {
            Event::System(SystemEvent::ExtrinsicFailed { error, .. }) => error.capacity(),
            _ => 0,
        })
        .sum();
    size_of::<Finalized>()
        + CACHE_ENTRY_OVERHEAD
        + block.transactions.capacity() * size_of::<crate::tx::Transaction>()
        + txs
        + block.evidence.capacity() * size_of::<crate::block::Evidence>()
        + evidence
        + f.outcome.receipts.capacity() * size_of::<Receipt>()
        + errors
        + f.outcome.events.capacity() * size_of::<(Option<u32>, crust_runtime::Event)>()
        + event_heap
}

type BlockArchive<E> = immutable::Archive<E, Digest, Archived>;

/// The same archive layout as marshal's block archive, under `prefix-history-…`.
fn archive_config(prefix: &str) -> immutable::Config<()> {
    crate::consensus::node::archive_cfg(
        prefix,
        "history",
        &CacheRef::new(NZU16!(4096), NZUsize!(16)),
        (),
    )
}

fn key_of(hash: &Hash) -> Result<Digest, StoreError> {
    use commonware_codec::DecodeExt as _;
    Digest::decode(commonware_codec::Copying(hash.0.as_slice()))
        .map_err(|e| StoreError::Db(format!("block hash as archive key: {e}")))
}

/// The on-disk archive, shared by the node (which appends) and readers (RPC), so reading old
/// blocks never needs the node's chain lock.
struct Disk<E: commonware_storage::Context> {
    ctx: E,
    prefix: String,
    archive: tokio::sync::RwLock<Option<BlockArchive<E>>>,
}

/// A handle that reads finalized blocks from disk without the node's chain lock.
pub struct HistoryReader<E: commonware_storage::Context>(Arc<Disk<E>>);

impl<E: commonware_storage::Context> Clone for HistoryReader<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: commonware_storage::Context> HistoryReader<E> {
    /// The finalized block at `height` as the archive holds it (without events).
    pub async fn get(&self, height: u64) -> Result<Option<Arc<Finalized>>, StoreError> {
        let guard = self.0.archive.read().await;
        let archive = guard.as_ref().ok_or(StoreError::Closed)?;
        let found = archive
            .get(Identifier::Index(height))
            .await
            .map_err(|e| StoreError::Db(format!("block history: {e}")))?;
        Ok(found.map(|a| {
            Arc::new(Finalized {
                block: a.block,
                outcome: BlockOutcome {
                    receipts: a.receipts,
                    events: Vec::new(),
                },
            })
        }))
    }
}

/// Finalized blocks: on disk for every height, in memory for a bounded recent window.
pub struct History<E: commonware_storage::Context + commonware_runtime::Spawner> {
    disk: Arc<Disk<E>>,
    config: HistoryConfig,
    recent: BTreeMap<u64, Arc<Finalized>>,
    recent_bytes: usize,
    included: HashMap<Hash, u64>,
    included_order: VecDeque<Hash>,
}

impl<E: commonware_storage::Context + commonware_runtime::Spawner> History<E> {
    /// Opens (or creates) the archive under partitions named `prefix-history-…`.
    pub async fn open(ctx: E, prefix: &str, config: HistoryConfig) -> Result<Self, StoreError> {
        let archive = BlockArchive::init(ctx.child("archive"), archive_config(prefix))
            .await
            .map_err(|e| StoreError::Db(format!("block history: {e}")))?;
        Ok(Self {
            disk: Arc::new(Disk {
                ctx,
                prefix: prefix.to_owned(),
                archive: tokio::sync::RwLock::new(Some(archive)),
            }),
            config,
            recent: BTreeMap::new(),
            recent_bytes: 0,
            included: HashMap::with_capacity(config.indexed_txs.saturating_mul(2)),
            included_order: VecDeque::with_capacity(config.indexed_txs),
        })
    }

    /// The memory limits in force.
    pub fn config(&self) -> HistoryConfig {
        self.config
    }

    /// Writes a finalized block durably (before its state is committed, so a crash in between
    /// leaves no gap: the block is finalized again on restart and the write is a no-op).
    /// A failed write consumes the archive handle (Commonware's rule); the archive is opened
    /// again from disk, so one transient error does not stop finalization for good.
    pub async fn persist(&mut self, f: &Finalized) -> Result<(), StoreError> {
        let value = Archived {
            block: f.block.clone(),
            receipts: f.outcome.receipts.clone(),
        };
        let key = key_of(&f.block.hash())?;
        let mut guard = self.disk.archive.write().await;
        let archive = match guard.take() {
            Some(a) => a,
            None => BlockArchive::init(
                self.disk.ctx.child("archive"),
                archive_config(&self.disk.prefix),
            )
            .await
            .map_err(|e| StoreError::Db(format!("block history (reopening): {e}")))?,
        };
        match archive.put_sync(f.block.header.height, key, &value).await {
            Ok(archive) => {
                *guard = Some(archive);
                Ok(())
            }
            Err(e) => {
                *guard = BlockArchive::init(
                    self.disk.ctx.child("archive"),
                    archive_config(&self.disk.prefix),
                )
                .await
                .ok();
                Err(StoreError::Db(format!("block history: {e}")))
            }
        }
    }

    /// The committee handoff records kept beside this history (`prefix-handoffs`).
    pub fn handoff_store(&self) -> crate::handoffs::Handoffs<E> {
        crate::handoffs::Handoffs::new(self.disk.ctx.child("handoffs"), &self.disk.prefix)
    }

    /// A reader of the on-disk blocks that does not need this history (or the chain lock).
    pub fn reader(&self) -> HistoryReader<E> {
        HistoryReader(self.disk.clone())
    }

    /// Remembers a just-finalized (and persisted) block in memory, evicting the oldest blocks
    /// past the byte budget and the oldest transactions past the index size.
    pub fn remember(&mut self, f: Arc<Finalized>) {
        let height = f.block.header.height;
        let max = self.config.indexed_txs;
        for r in f.outcome.receipts.iter().filter(|_| max > 0) {
            if let Some(at) = self.included.get_mut(&r.tx_hash) {
                *at = height;
                continue;
            }
            // Make room first, so the table never holds more than it was allocated for.
            while self.included_order.len() >= max {
                match self.included_order.pop_front() {
                    Some(old) => {
                        self.included.remove(&old);
                    }
                    None => break,
                }
            }
            self.included.insert(r.tx_hash, height);
            self.included_order.push_back(r.tx_hash);
        }
        self.recent_bytes += cached_bytes(&f);
        self.recent.insert(height, f);
        while self.recent_bytes > self.config.cache_bytes && self.recent.len() > 1 {
            if let Some((_, old)) = self.recent.pop_first() {
                self.recent_bytes = self.recent_bytes.saturating_sub(cached_bytes(&old));
            }
        }
    }

    /// A finalized block still in memory (with its events).
    pub fn cached(&self, height: u64) -> Option<&Arc<Finalized>> {
        self.recent.get(&height)
    }

    /// Blocks in memory and their approximate bytes.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.recent.len(), self.recent_bytes)
    }

    /// Transactions in the hash index.
    pub fn indexed(&self) -> usize {
        self.included_order.len()
    }

    /// The height of the block that included transaction `hash`, if it is among the most
    /// recent `indexed_txs` transactions.
    pub fn height_of(&self, hash: &Hash) -> Option<u64> {
        self.included.get(hash).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Header;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    fn block(height: u64, txs: usize) -> Finalized {
        let receipts = (0..txs)
            .map(|i| Receipt {
                tx_hash: Hash::of(&[&height.to_be_bytes(), &(i as u64).to_be_bytes()]),
                success: i % 2 == 0,
                error: (i % 2 == 1).then(|| "é".repeat(600)),
                paid: 10 + i as u128,
                events_hash: Hash::of(&[&[i as u8]]),
            })
            .collect();
        Finalized {
            block: Block {
                header: Header {
                    height,
                    ..Block::genesis(Hash::default(), 0).header
                },
                transactions: Vec::new(),
                evidence: Vec::new(),
            },
            outcome: BlockOutcome {
                receipts,
                events: Vec::new(),
            },
        }
    }

    #[test]
    fn archived_round_trips_and_refuses_bad_input() {
        let mut f = block(7, 0);
        f.outcome.receipts.clear();
        let a = Archived {
            block: f.block.clone(),
            receipts: Vec::new(),
        };
        let bytes = crust_primitives::codec::encode(&a);
        assert_eq!(bytes.len(), a.encode_size());
        assert_eq!(
            crust_primitives::codec::decode::<Archived>(&bytes).unwrap(),
            a
        );
        for cut in 0..bytes.len() {
            assert!(crust_primitives::codec::decode::<Archived>(&bytes[..cut]).is_err());
        }
        // A receipt count that does not match the transactions is refused.
        let mut wrong = a.clone();
        wrong.receipts.push(Receipt {
            tx_hash: Hash::default(),
            success: true,
            error: None,
            paid: 0,
            events_hash: Hash::default(),
        });
        let bytes = crust_primitives::codec::encode(&wrong);
        assert!(crust_primitives::codec::decode::<Archived>(&bytes).is_err());
    }

    #[test]
    fn memory_stays_within_budget_and_disk_keeps_everything() {
        deterministic::Runner::default().start(|ctx| async move {
            let config = HistoryConfig {
                cache_bytes: 8 * 1024,
                indexed_txs: 50,
            };
            let mut h = History::open(ctx.child("h"), "t", config).await.unwrap();
            for height in 1..=40u64 {
                // Receipts only (no transactions): the archive keeps a receipt per transaction,
                // so store these blocks' receipts in memory only and check memory bounds.
                let f = Arc::new(block(height, 10));
                h.remember(f);
                let (_, bytes) = h.cache_usage();
                assert!(bytes <= 8 * 1024 || h.cache_usage().0 == 1);
                assert!(h.included.len() <= 50 && h.included_order.len() <= 50);
            }
            let (blocks, _) = h.cache_usage();
            assert!(blocks < 40, "the cache kept every block");
            assert!(h.cached(40).is_some() && h.cached(1).is_none());
            // Only the last 50 transactions are indexed: block 40's and 36's, not block 1's.
            assert_eq!(
                h.height_of(&block(40, 10).outcome.receipts[3].tx_hash),
                Some(40)
            );
            assert_eq!(h.height_of(&block(1, 10).outcome.receipts[3].tx_hash), None);

            // Disk keeps every persisted block, also after a restart.
            for height in 1..=30u64 {
                let mut f = block(height, 0);
                f.outcome.receipts.clear();
                h.persist(&f).await.unwrap();
            }
            drop(h);
            let h = History::open(ctx.child("h2"), "t", config).await.unwrap();
            for height in 1..=30u64 {
                let got = h
                    .reader()
                    .get(height)
                    .await
                    .unwrap()
                    .expect("persisted block");
                assert_eq!(got.block.header.height, height);
            }
            assert!(h.reader().get(31).await.unwrap().is_none());
        });
    }
}
