//! The authenticated state store: QMDB (`current::ordered::variable`) holding the runtime's
//! key-value state, with a root in every block header and proofs any light client can check.
//!
//! The runtime executes synchronously, while QMDB reads are asynchronous, so the store keeps an
//! in-memory mirror of the committed map for execution and serves every read from it; QMDB
//! holds the same map durably and computes roots and proofs. Each block is one QMDB batch (the
//! root depends on batch boundaries, so every node must do exactly this): a block's changes
//! ([`Diff`]) are written into a batch built on its parent's batch — so blocks can be executed
//! before their parent is finalized — and the batch of a finalized block is applied and
//! committed. Reopening the store resumes from the last committed block with the same root.

use crate::hash::Hash;
use crate::layer::Diff;
use commonware_codec::{Encode as _, RangeCfg};
use commonware_cryptography::{Sha256, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::{Spawner, buffer::paged::CacheRef};
use commonware_storage::Context;
use commonware_storage::journal::contiguous::variable::Config as JournalConfig;
use commonware_storage::merkle::full::Config as MerkleConfig;
use commonware_storage::mmr;
use commonware_storage::qmdb::Error as QmdbError;
use commonware_storage::qmdb::any::{ordered::Update, value::VariableEncoding};
use commonware_storage::qmdb::current::ordered::variable::Db;
use commonware_storage::qmdb::current::{VariableConfig, batch::MerkleizedBatch};
use commonware_storage::qmdb::floor::Proportional;
use commonware_utils::{NZU64, NZUsize};
use futures::{StreamExt as _, pin_mut};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::translator::SixteenCap;

type Family = mmr::Family;
use crust_light::state_proof::CHUNK;
pub use crust_light::state_proof::{MAX_KEY_LEN, MAX_VALUE_LEN};
/// Pages of the state database's page cache when no memory plan says otherwise (16 MiB).
pub const DEFAULT_CACHE_PAGES: usize = 4096;

type Key = Vec<u8>;
type Value = Vec<u8>;
type StateDb<E> = Db<Family, E, Key, Value, Sha256, SixteenCap, CHUNK, Sequential>;
type OpCodecCfg = ((RangeCfg<usize>, ()), (RangeCfg<usize>, ()));
type Update_ = Update<Key, VariableEncoding<Value>>;

/// The post-state of one executed block: a QMDB batch, kept until its block is finalized or
/// abandoned.
pub type Speculative = Arc<MerkleizedBatch<Family, Digest, Update_, CHUNK, Sequential>>;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// QMDB failed (I/O, corruption, or a batch that no longer extends the committed state).
    #[error("state database: {0}")]
    Db(String),
    /// A key or value is larger than the store accepts.
    #[error(
        "state entry too large: key {key_len} bytes (max {MAX_KEY_LEN}), value {value_len} bytes (max {MAX_VALUE_LEN})"
    )]
    TooLarge {
        /// Key length.
        key_len: usize,
        /// Value length.
        value_len: usize,
    },
    /// The store was used after a failed operation consumed its database handle.
    #[error("state database is closed after an earlier failure; restart the node")]
    Closed,
}

impl From<QmdbError<Family>> for StoreError {
    fn from(e: QmdbError<Family>) -> Self {
        Self::Db(e.to_string())
    }
}

fn digest_to_hash(d: &Digest) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Hash(out)
}

fn config(prefix: &str, cache_pages: usize) -> VariableConfig<SixteenCap, OpCodecCfg, Sequential> {
    let page_cache = CacheRef::new(
        commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
        std::num::NonZeroUsize::new(cache_pages).unwrap_or(NZUsize!(1)),
    );
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-mmr-journal"),
            metadata_partition: format!("{prefix}-mmr-metadata"),
            items_per_blob: NZU64!(1 << 16),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-log"),
            items_per_section: NZU64!(1 << 14),
            compression: None,
            codec_config: (
                ((0..=MAX_KEY_LEN).into(), ()),
                ((0..=MAX_VALUE_LEN).into(), ()),
            ),
            page_cache,
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        },
        grafted_metadata_partition: format!("{prefix}-grafted-metadata"),
        translator: SixteenCap,
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: NZUsize!(1 << 20),
        init_concurrency: (),
    }
}

/// The node's state: durable QMDB plus the in-memory mirror execution reads from.
pub struct Store<E: Context + Spawner> {
    db: Option<StateDb<E>>,
    mirror: BTreeMap<Vec<u8>, Vec<u8>>,
    height: Option<u64>,
    /// Remembers the genesis state root, which the genesis block (and so the genesis hash
    /// every transaction signs over) commits to.
    genesis: Option<commonware_storage::metadata::Metadata<E, u64, Digest>>,
}

impl<E: Context + Spawner> Store<E> {
    /// Opens (or creates, or recovers) the store under storage partitions named `prefix-…`,
    /// and loads the committed state into memory.
    pub async fn open(ctx: E, prefix: &str) -> Result<Self, StoreError> {
        Self::open_with(ctx, prefix, DEFAULT_CACHE_PAGES).await
    }

    /// [`Store::open`] with a page cache of `cache_pages` pages (4 KiB each).
    pub async fn open_with(ctx: E, prefix: &str, cache_pages: usize) -> Result<Self, StoreError> {
        let genesis = commonware_storage::metadata::Metadata::init(
            ctx.child("genesis"),
            commonware_storage::metadata::Config {
                partition: format!("{prefix}-genesis"),
                codec_config: (),
            },
        )
        .await
        .map_err(|e| StoreError::Db(e.to_string()))?;
        let db = StateDb::init(ctx, config(prefix, cache_pages), None).await?;
        let height = db
            .get_metadata()
            .await?
            .and_then(|m| <[u8; 8]>::try_from(m.as_slice()).ok())
            .map(u64::from_be_bytes);
        let mut mirror = BTreeMap::new();
        {
            let stream =
                db.stream_range((Bound::<Vec<u8>>::Unbounded, Bound::<Vec<u8>>::Unbounded));
            pin_mut!(stream);
            while let Some(item) = stream.next().await {
                let (k, v) = item?;
                mirror.insert(k, v);
            }
        }
        Ok(Self {
            db: Some(db),
            mirror,
            height,
            genesis: Some(genesis),
        })
    }

    /// The state root right after genesis (recorded when block 0 was committed).
    pub fn genesis_root(&self) -> Option<Hash> {
        self.genesis.as_ref()?.get(&0).map(digest_to_hash)
    }

    fn db(&self) -> Result<&StateDb<E>, StoreError> {
        self.db.as_ref().ok_or(StoreError::Closed)
    }

    /// The height of the last committed block (`None` before genesis).
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// The committed state root.
    pub fn root(&self) -> Result<Hash, StoreError> {
        Ok(digest_to_hash(&self.db()?.root()))
    }

    /// Entries and key-plus-value bytes of the committed state (what its in-memory mirror
    /// holds).
    pub fn size(&self) -> (u64, u64) {
        let bytes = self
            .mirror
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        (self.mirror.len() as u64, bytes)
    }

    /// The committed state, for execution and queries.
    pub fn committed(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.mirror
    }

    /// Computes the post-state of a block at `height` whose changes are `diff`, on top of its
    /// parent's speculative state (`None` = the committed state).
    pub async fn speculate(
        &self,
        parent: Option<&Speculative>,
        diff: &Diff,
        height: u64,
    ) -> Result<Speculative, StoreError> {
        let db = self.db()?;
        let mut batch = match parent {
            None => db.new_batch(),
            Some(p) => p.new_batch::<Sha256>(),
        };
        for (k, v) in diff {
            let value_len = v.as_ref().map_or(0, Vec::len);
            if k.len() > MAX_KEY_LEN || value_len > MAX_VALUE_LEN {
                return Err(StoreError::TooLarge {
                    key_len: k.len(),
                    value_len,
                });
            }
            batch = batch.write(k.clone(), v.clone());
        }
        Ok(batch
            .merkleize(db, Some(height.to_be_bytes().to_vec()), &mut Proportional)
            .await?)
    }

    /// The root a speculative state would have once committed.
    pub fn speculative_root(batch: &Speculative) -> Hash {
        digest_to_hash(&batch.root())
    }

    /// Makes a finalized block's state durable and current. Blocks must be finalized in order,
    /// each extending the committed state.
    pub async fn finalize(
        &mut self,
        batch: Speculative,
        diff: &Diff,
        height: u64,
    ) -> Result<(), StoreError> {
        let db = self.db.take().ok_or(StoreError::Closed)?;
        if let Err(e) = db.validate_batch(&batch) {
            self.db = Some(db);
            return Err(e.into());
        }
        let db = db.apply_batch(batch).await?.commit().await?;
        self.db = Some(db);
        if height == 0
            && let Some(meta) = self.genesis.take()
        {
            let mut meta = meta;
            meta.put(0, self.db()?.root());
            self.genesis = Some(
                meta.sync()
                    .await
                    .map_err(|e| StoreError::Db(e.to_string()))?,
            );
        }
        for (k, v) in diff {
            match v {
                Some(v) => self.mirror.insert(k.clone(), v.clone()),
                None => self.mirror.remove(k),
            };
        }
        self.height = Some(height);
        Ok(())
    }

    /// A proof of `key`'s current value (or of its absence) against the committed root.
    pub async fn prove(&self, key: &[u8]) -> Result<StateProof, StoreError> {
        let db = self.db()?;
        let k = key.to_vec();
        match self.mirror.get(key) {
            Some(value) => {
                let proof = db.key_value_proof(k).await?;
                Ok(StateProof {
                    key: key.to_vec(),
                    value: Some(value.clone()),
                    proof: proof.encode().to_vec(),
                })
            }
            None => {
                let proof = db.exclusion_proof(&k).await?;
                Ok(StateProof {
                    key: key.to_vec(),
                    value: None,
                    proof: proof.encode().to_vec(),
                })
            }
        }
    }
}

pub use crust_light::state_proof::StateProof;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::{execute_block, unverified};
    use crate::layer::Layer;
    use crate::tx::{Mortality, Transaction, UnsignedTransaction};
    use crate::{Hash, Header};
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
    use crust_primitives::{AccountId, CRU, Keypair};
    use crust_runtime::balances::{self, BalancesCall};
    use crust_runtime::{Call, Genesis};

    fn genesis() -> Genesis {
        Genesis::reference(Keypair::from_suri("//Root").unwrap().public())
            .with_balance(Keypair::from_suri("//Alice").unwrap().public(), 100 * CRU)
    }

    fn transfer(nonce: u64, to: AccountId) -> Transaction {
        let alice = Keypair::from_suri("//Alice").unwrap();
        UnsignedTransaction {
            signer: alice.public(),
            nonce,
            fee: CRU / 100,
            tip: 0,
            mortality: Mortality::from(0, 100),
            call: Call::Balances(BalancesCall::Transfer {
                dest: to,
                amount: CRU,
            }),
        }
        .sign(&alice, &Hash::default())
    }

    fn header(height: u64) -> Header {
        Header {
            parent: Hash::default(),
            height,
            timestamp_ms: height,
            era: 0,
            proposer: AccountId([9; 32]),
            state_root: Hash::default(),
            tx_root: Hash::default(),
            receipts_root: Hash::default(),
            evidence_root: Hash::default(),
        }
    }

    /// Executes `txs` at `height` over the committed state plus `below`; returns the block's diff.
    fn run(
        store: &Store<deterministic::Context>,
        below: &Diff,
        height: u64,
        txs: &[Transaction],
    ) -> Diff {
        let mut layer = Layer::new(store.committed(), below.clone());
        execute_block(
            &mut layer,
            &header(height),
            &[],
            txs,
            &Hash::default(),
            &unverified,
        )
        .unwrap();
        layer.into_parts().0
    }

    #[test]
    fn blocks_fork_finalize_prove_and_survive_restart() {
        let bob = AccountId([2; 32]);
        let charlie = AccountId([3; 32]);
        let ((root, height), checkpoint) =
            deterministic::Runner::seeded(7).start_and_recover(|ctx| async move {
                let mut store = Store::open(ctx.child("state"), "state").await.unwrap();
                assert_eq!(store.height(), None);
                let mut layer = Layer::new(store.committed(), Diff::new());
                genesis().apply(&mut layer).unwrap();
                let genesis_diff = layer.into_parts().0;
                let g = store.speculate(None, &genesis_diff, 0).await.unwrap();
                let g_root = Store::<deterministic::Context>::speculative_root(&g);
                store.finalize(g, &genesis_diff, 0).await.unwrap();
                assert_eq!(store.root().unwrap(), g_root);

                // Two competing blocks at height 1 get different roots.
                let diff_a = run(&store, &Diff::new(), 1, &[transfer(0, bob)]);
                let diff_b = run(&store, &Diff::new(), 1, &[transfer(0, charlie)]);
                let a = store.speculate(None, &diff_a, 1).await.unwrap();
                let b = store.speculate(None, &diff_b, 1).await.unwrap();
                assert_ne!(
                    Store::<deterministic::Context>::speculative_root(&a),
                    Store::<deterministic::Context>::speculative_root(&b)
                );
                // A child of A, before A is final, sees A's effects.
                let diff_c = run(&store, &diff_a, 2, &[transfer(1, bob)]);
                let c = store.speculate(Some(&a), &diff_c, 2).await.unwrap();
                let c_root = Store::<deterministic::Context>::speculative_root(&c);
                store.finalize(a, &diff_a, 1).await.unwrap();
                // B lost: it no longer extends the committed state.
                assert!(store.finalize(b, &diff_b, 1).await.is_err());
                store.finalize(c, &diff_c, 2).await.unwrap();
                assert_eq!(store.root().unwrap(), c_root);
                let mirror = MemoryMirror(store.committed());
                assert_eq!(balances::free_balance(&mirror, &bob).unwrap(), 2 * CRU);

                // Proofs verify against the root with nothing else; tampering fails.
                let root = store.root().unwrap();
                let key = balances::accounts_prefix()
                    .into_iter()
                    .chain(bob.0)
                    .collect::<Vec<u8>>();
                let proof = store.prove(&key).await.unwrap();
                assert!(proof.value.is_some() && proof.verify(&root));
                let mut forged = proof.clone();
                forged.value = Some(vec![1, 2, 3]);
                assert!(!forged.verify(&root));
                assert!(!proof.verify(&Hash::of(&[b"other root"])));
                let absent = balances::accounts_prefix()
                    .into_iter()
                    .chain([0x77; 32])
                    .collect::<Vec<u8>>();
                let proof = store.prove(&absent).await.unwrap();
                assert!(proof.value.is_none() && proof.verify(&root));
                let mut garbage = proof;
                garbage.proof.truncate(10);
                assert!(!garbage.verify(&root));
                (root, store.height())
            });
        deterministic::Runner::from(checkpoint).start(|ctx| async move {
            let store = Store::open(ctx.child("state"), "state").await.unwrap();
            assert_eq!(store.root().unwrap(), root);
            assert_eq!(store.height(), height);
            let mirror = MemoryMirror(store.committed());
            assert_eq!(balances::free_balance(&mirror, &bob).unwrap(), 2 * CRU);
        });
    }

    /// A read-only runtime view of a committed map.
    struct MemoryMirror<'a>(&'a BTreeMap<Vec<u8>, Vec<u8>>);

    impl crust_runtime::State for MemoryMirror<'_> {
        fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
            self.0.get(key).cloned()
        }
        fn put(&mut self, _: &[u8], _: Vec<u8>) {}
        fn delete(&mut self, _: &[u8]) {}
        fn scan(
            &self,
            prefix: &[u8],
            after: Option<&[u8]>,
            limit: usize,
        ) -> Vec<(Vec<u8>, Vec<u8>)> {
            Layer::new(self.0, Diff::new()).scan(prefix, after, limit)
        }
        fn emit(&mut self, _: crust_runtime::Event) {}
    }
}
