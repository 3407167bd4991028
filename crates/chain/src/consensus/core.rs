//! The node's chain state, shared by proposing, verifying and finalizing.
//!
//! Blocks not yet finalized are kept as [`Pending`]: their changes (and their ancestors'),
//! and their speculative authenticated state, so a child can be built or checked before its
//! parent is final. Finalizing a block commits its state and drops every pending block at or
//! below its height (those are finalized or on dead forks).

use super::evidence::{self, EvidencePool};
use crate::block::{Block, Header};
use crate::execute::{BlockOutcome, build_block, execute_block};
use crate::hash::Hash;
use crate::history::History;
use crate::layer::{Diff, Layer, stack};
use crate::mempool::Mempool;
use crate::proof::{MAX_PROVEN_KEYS, Proven, Recording};
use crate::store::{Speculative, Store, StoreError};
use crate::tx::Transaction;
use crust_primitives::AccountId;
use crust_runtime::State as _;
use std::collections::HashMap;

/// A block executed but not yet finalized.
pub struct Pending {
    /// The block.
    pub block: Block,
    /// Its own changes.
    pub diff: Diff,
    /// Its changes and those of its pending ancestors.
    pub cumulative: Diff,
    /// Its speculative authenticated state.
    pub state: Speculative,
    /// What its execution produced.
    pub outcome: BlockOutcome,
}

/// A finalized block as the node remembers it.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The block.
    pub block: Block,
    /// What its execution produced.
    pub outcome: BlockOutcome,
}

/// Limits and timing for building blocks.
#[derive(Clone, Copy, Debug)]
pub struct BuildLimits {
    /// Most transactions this node puts in a block it builds (the protocol version in effect
    /// may allow fewer; blocks from others are checked against the protocol's rules only).
    pub max_txs: usize,
    /// Most transaction bytes this node puts in a block it builds (as above).
    pub max_bytes: usize,
    /// The newest protocol version this node follows: its binary's
    /// [`crust_runtime::system::LATEST_PROTOCOL_VERSION`], or lower to act exactly as an older
    /// release would (how upgrade tests run a node that has not been updated).
    pub max_protocol_version: u32,
    /// Minimum milliseconds between a block and its parent (the chain's block interval).
    pub block_time_ms: u64,
    /// How far ahead of the verifier's clock a block's timestamp may be.
    pub max_drift_ms: u64,
    /// Blocks per era (= consensus epoch).
    pub era_blocks: u64,
}

/// Why a block cannot be built or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The parent is neither the last finalized block nor a known pending block.
    #[error("unknown parent {0}")]
    UnknownParent(Hash),
    /// The block breaks a header rule.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// A transaction is invalid or the hooks failed.
    #[error(transparent)]
    Execution(#[from] crate::execute::BlockError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The query reads too many keys or scans a range, so it cannot be proven key by key.
    #[error("this query cannot be proven key by key")]
    Unprovable,
    /// The block's evidence is invalid.
    #[error("invalid evidence: {0}")]
    Evidence(String),
    /// The block runs under a protocol version this node does not speak: the network upgraded
    /// and this node must be updated before it can follow past the upgrade height.
    #[error(
        "block {height} runs protocol version {version}, but this node speaks versions 1 to \
         {supported}: the network upgraded at block {height}. Install a release that speaks \
         version {version} and restart; the node resumes from its last finalized block"
    )]
    UnsupportedProtocol {
        /// The block's height.
        height: u64,
        /// The version in effect there.
        version: u32,
        /// The newest version this node speaks.
        supported: u32,
    },
    /// The state root differs from the header's.
    #[error("state root mismatch: header {header}, computed {computed}")]
    RootMismatch {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
}

/// A node's chain state.
pub struct ChainCore<E: commonware_storage::Context + commonware_runtime::Spawner> {
    /// The authenticated state.
    pub store: Store<E>,
    /// The hash every transaction signs over.
    pub genesis_hash: Hash,
    /// Transactions waiting for a block.
    pub mempool: Mempool,
    /// Misbehaviour evidence waiting for a block.
    pub evidence: EvidencePool,
    /// Domain of every consensus signature (for checking evidence and certificates).
    pub namespace: Vec<u8>,
    /// Finalization certificates by height (set once consensus runs).
    pub finality: Option<super::finality::Lookup>,
    /// Block limits.
    pub limits: BuildLimits,
    /// The last finalized block's height and hash.
    pub last_finalized: (u64, Hash),
    pending: HashMap<Hash, Pending>,
    /// Finalized blocks: every one on disk, the recent ones in memory.
    history: History<E>,
    /// Each era's committee proven under a block of the era before (for light clients).
    handoffs: crate::handoffs::Handoffs<E>,
    /// The genesis block (block 0 is not in the history archive; `chain_block` serves it from
    /// here). Set by [`crate::service::open_chain`].
    pub genesis_block: Option<std::sync::Arc<Finalized>>,
    /// Finalized blocks as they happen, for subscribers (the RPC's WebSocket).
    notices: tokio::sync::broadcast::Sender<std::sync::Arc<Finalized>>,
    /// Where transactions admitted from clients go to be sent to the other validators
    /// (`None` when the node gossips nothing, e.g. alone or in tests without a network).
    pub gossip: Option<crate::gossip::Outbox>,
    /// What gossip did so far.
    pub gossip_stats: crate::gossip::GossipStats,
    /// Where finalized heights and finality latency are recorded (`None` in tests).
    pub metrics: Option<crate::metrics::ChainMetrics>,
    /// Why this node stopped following the chain, if it did (a finalized block it cannot
    /// apply, such as one under a protocol version it does not speak).
    pub halted: Option<String>,
}

/// Finalized blocks a subscriber may fall behind by before it misses some.
pub const NOTICE_BUFFER: usize = 256;

/// Where a transaction is, as far as this node knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Waiting in the mempool.
    Pending,
    /// In a finalized block, with its receipt.
    Finalized {
        /// The block's height.
        height: u64,
        /// Its receipt.
        receipt: crate::execute::Receipt,
    },
    /// Neither: never seen, dropped, or finalized before the most recent transactions this
    /// node indexes ([`crate::history::HistoryConfig::indexed_txs`]).
    Unknown,
}

impl<E: commonware_storage::Context + commonware_runtime::Spawner> ChainCore<E> {
    /// A chain core over an opened store and block history whose last finalized block is
    /// `last_finalized`.
    pub fn new(
        store: Store<E>,
        history: History<E>,
        genesis_hash: Hash,
        namespace: Vec<u8>,
        mempool: Mempool,
        limits: BuildLimits,
        last_finalized: (u64, Hash),
    ) -> Self {
        Self {
            store,
            genesis_hash,
            mempool,
            evidence: EvidencePool::default(),
            namespace,
            finality: None,
            limits,
            last_finalized,
            pending: HashMap::new(),
            handoffs: history.handoff_store(),
            genesis_block: None,
            history,
            notices: tokio::sync::broadcast::channel(NOTICE_BUFFER).0,
            gossip: None,
            metrics: None,
            gossip_stats: Default::default(),
            halted: None,
        }
    }

    /// The protocol rules block `height` runs under, read from its parent's state (`layer`),
    /// or why this node cannot run it.
    fn rules_at(
        &self,
        layer: &Layer<'_>,
        height: u64,
    ) -> Result<crust_runtime::system::ProtocolRules, ChainError> {
        let version = crust_runtime::system::version_at(layer, height)
            .map_err(|e| ChainError::InvalidHeader(format!("protocol version: {e}")))?;
        let unsupported = ChainError::UnsupportedProtocol {
            height,
            version,
            supported: self.limits.max_protocol_version,
        };
        if version > self.limits.max_protocol_version {
            return Err(unsupported);
        }
        crust_runtime::system::rules(version).ok_or(unsupported)
    }

    /// Admits a client's transaction against the finalized state and queues it for gossip.
    pub fn admit_local(
        &mut self,
        tx: crate::tx::Transaction,
    ) -> Result<Hash, crate::mempool::MempoolError> {
        let encoded = self.gossip.as_ref().map(|_| tx.encode());
        let height = self.last_finalized.0;
        let view = Layer::new(self.store.committed(), Diff::new());
        let hash = self.mempool.submit(tx, &view, height)?;
        if let (Some(outbox), Some(encoded)) = (&self.gossip, encoded) {
            outbox.offer(encoded);
        }
        Ok(hash)
    }

    /// Admits a transaction a peer gossiped (not sent on again). One the mempool holds is
    /// dropped before its signature is checked.
    pub fn admit_heard(&mut self, bytes: &[u8]) -> crate::gossip::Heard {
        use crate::gossip::Heard;
        if self.mempool.contains(&Hash::of(&[bytes])) {
            return Heard::Known;
        }
        let Ok(tx) = crate::tx::Transaction::decode(bytes) else {
            return Heard::Refused;
        };
        let height = self.last_finalized.0;
        let view = Layer::new(self.store.committed(), Diff::new());
        match self.mempool.submit(tx, &view, height) {
            Ok(_) => Heard::Admitted,
            Err(crate::mempool::MempoolError::AlreadyKnown(_)) => Heard::Known,
            Err(_) => Heard::Refused,
        }
    }

    /// The base a child of `parent` executes on: the ancestors' changes and speculative state.
    fn base(&self, parent: &Hash) -> Result<(Diff, Option<Speculative>), ChainError> {
        if *parent == self.last_finalized.1 {
            return Ok((Diff::new(), None));
        }
        let p = self
            .pending
            .get(parent)
            .ok_or(ChainError::UnknownParent(*parent))?;
        Ok((p.cumulative.clone(), Some(p.state.clone())))
    }

    /// The era (epoch) a height belongs to.
    pub fn era_of(&self, height: u64) -> u64 {
        height / self.limits.era_blocks.max(1)
    }

    /// Builds a block on `parent` at `timestamp_ms`, proposed by `proposer`, from the mempool.
    pub async fn propose(
        &mut self,
        parent: &Header,
        timestamp_ms: u64,
        proposer: AccountId,
    ) -> Result<Block, ChainError> {
        let result = self.build(parent, timestamp_ms, proposer).await;
        self.note_unsupported(&result);
        result
    }

    /// Remembers that this node met a protocol version it does not speak (when building,
    /// checking or finalizing a block): it cannot follow the chain past there, so the node
    /// stops with the reason (see [`ChainCore::halted`]).
    fn note_unsupported<T>(&mut self, result: &Result<T, ChainError>) {
        if let Err(e @ ChainError::UnsupportedProtocol { .. }) = result
            && self.halted.is_none()
        {
            self.halted = Some(e.to_string());
        }
    }

    async fn build(
        &mut self,
        parent: &Header,
        timestamp_ms: u64,
        proposer: AccountId,
    ) -> Result<Block, ChainError> {
        let parent_hash = parent.hash();
        let (below, parent_state) = self.base(&parent_hash)?;
        let height = parent.height + 1;
        let mut header = Header {
            parent: parent_hash,
            height,
            timestamp_ms: timestamp_ms.max(parent.timestamp_ms + self.limits.block_time_ms),
            era: self.era_of(height),
            proposer,
            state_root: Hash::default(),
            tx_root: Hash::default(),
            receipts_root: Hash::default(),
            evidence_root: Hash::default(),
        };
        let mut layer = Layer::new(self.store.committed(), below.clone());
        let rules = self.rules_at(&layer, height)?;
        let (evidence, offences) = evidence::select(&layer, &self.namespace, &self.evidence);
        let candidates = self.mempool.ready(
            &layer,
            self.limits.max_txs.min(rules.max_block_txs),
            self.limits.max_bytes.min(rules.max_block_tx_bytes),
        );
        let admitted = |tx: &Transaction| self.mempool.contains(&tx.hash());
        let built = build_block(
            &mut layer,
            &header,
            &offences,
            candidates,
            &self.genesis_hash,
            &admitted,
        )?;
        for (tx, _) in &built.rejected {
            self.mempool.remove(&tx.hash());
        }
        let (diff, _) = layer.into_parts();
        let state = self
            .store
            .speculate(parent_state.as_ref(), &diff, height)
            .await?;
        header.state_root = Store::<E>::speculative_root(&state);
        header.tx_root = Block::compute_tx_root(&built.included);
        header.receipts_root = Block::compute_receipts_root(&built.outcome.receipts);
        header.evidence_root = Block::compute_evidence_root(&evidence);
        let block = Block {
            header,
            transactions: built.included,
            evidence,
        };
        let mut cumulative = below;
        stack(&mut cumulative, &diff);
        self.pending.insert(
            block.hash(),
            Pending {
                block: block.clone(),
                diff,
                cumulative,
                state,
                outcome: built.outcome,
            },
        );
        Ok(block)
    }

    /// Checks a proposed block against its parent: header rules, full re-execution, root.
    pub async fn verify(
        &mut self,
        block: &Block,
        parent: &Header,
        leader: AccountId,
        now_ms: u64,
    ) -> Result<(), ChainError> {
        self.check(block, parent, Some((leader, now_ms))).await
    }

    /// Whether `hash` is the last finalized block or a block executed and not yet finalized.
    pub fn knows(&self, hash: &Hash) -> bool {
        *hash == self.last_finalized.1 || self.pending.contains_key(hash)
    }

    /// Executes a block the network already notarized but this node has not executed (its
    /// pending blocks were lost in a restart): every rule but the round's leader and the local
    /// clock, which belonged to a past round, then full re-execution and the root.
    pub async fn adopt(&mut self, block: &Block, parent: &Header) -> Result<(), ChainError> {
        self.check(block, parent, None).await
    }

    async fn check(
        &mut self,
        block: &Block,
        parent: &Header,
        round: Option<(AccountId, u64)>,
    ) -> Result<(), ChainError> {
        let result = self.check_inner(block, parent, round).await;
        self.note_unsupported(&result);
        result
    }

    async fn check_inner(
        &mut self,
        block: &Block,
        parent: &Header,
        round: Option<(AccountId, u64)>,
    ) -> Result<(), ChainError> {
        let h = &block.header;
        let invalid = |msg: String| Err(ChainError::InvalidHeader(msg));
        if h.parent != parent.hash() || h.height != parent.height + 1 {
            return invalid("does not extend its parent".into());
        }
        if h.timestamp_ms < parent.timestamp_ms + self.limits.block_time_ms {
            return invalid(format!(
                "timestamp {} is less than one block interval after the parent's",
                h.timestamp_ms
            ));
        }
        if let Some((_, now_ms)) = round
            && h.timestamp_ms > now_ms + self.limits.max_drift_ms
        {
            return invalid(format!(
                "timestamp {} is too far ahead of local time {now_ms}",
                h.timestamp_ms
            ));
        }
        if h.era != self.era_of(h.height) {
            return invalid(format!("era {} does not match height {}", h.era, h.height));
        }
        if let Some((leader, _)) = round
            && h.proposer != leader
        {
            return invalid("proposer is not the round's leader".into());
        }
        if h.tx_root != Block::compute_tx_root(&block.transactions) {
            return invalid("transactions root mismatch".into());
        }
        if h.evidence_root != Block::compute_evidence_root(&block.evidence) {
            return invalid("evidence root mismatch".into());
        }
        if self.pending.contains_key(&block.hash()) {
            return Ok(()); // built or verified already
        }
        let (below, parent_state) = self.base(&h.parent)?;
        let mut layer = Layer::new(self.store.committed(), below.clone());
        let outcome = self.execute(&mut layer, block)?;
        let (diff, _) = layer.into_parts();
        let state = self
            .store
            .speculate(parent_state.as_ref(), &diff, h.height)
            .await?;
        let computed = Store::<E>::speculative_root(&state);
        if computed != h.state_root {
            return Err(ChainError::RootMismatch {
                header: h.state_root,
                computed,
            });
        }
        let mut cumulative = below;
        stack(&mut cumulative, &diff);
        self.pending.insert(
            block.hash(),
            Pending {
                block: block.clone(),
                diff,
                cumulative,
                state,
                outcome,
            },
        );
        Ok(())
    }

    /// Checks a block's evidence against `layer` (its parent's state) and executes the block
    /// on it.
    fn execute(&self, layer: &mut Layer<'_>, block: &Block) -> Result<BlockOutcome, ChainError> {
        // The protocol version in effect decides the block limits, and a version this node
        // does not speak stops it here, before anything is applied.
        let rules = self.rules_at(layer, block.header.height)?;
        let tx_bytes: usize = block
            .transactions
            .iter()
            .map(crust_primitives::codec::EncodeSize::encode_size)
            .sum();
        if block.transactions.len() > rules.max_block_txs || tx_bytes > rules.max_block_tx_bytes {
            return Err(ChainError::InvalidHeader(format!(
                "{} transactions of {tx_bytes} bytes exceed the block limits",
                block.transactions.len()
            )));
        }
        let offences = evidence::check_all(&*layer, &self.namespace, &block.evidence)
            .map_err(ChainError::Evidence)?;
        // Transactions this node admitted had their signatures checked then.
        let admitted = |tx: &Transaction| self.mempool.contains(&tx.hash());
        let outcome = execute_block(
            layer,
            &block.header,
            &offences,
            &block.transactions,
            &self.genesis_hash,
            &admitted,
        )?;
        // What the transactions did is committed to in the header, so clients can prove it.
        if Block::compute_receipts_root(&outcome.receipts) != block.header.receipts_root {
            return Err(ChainError::InvalidHeader("receipts root mismatch".into()));
        }
        Ok(outcome)
    }

    /// Commits a finalized block (the next after the last finalized one).
    pub async fn finalize(&mut self, block: &Block) -> Result<(), ChainError> {
        let result = self.commit(block).await;
        self.note_unsupported(&result);
        result
    }

    async fn commit(&mut self, block: &Block) -> Result<(), ChainError> {
        let hash = block.hash();
        let h = &block.header;
        if h.height != self.last_finalized.0 + 1 || h.parent != self.last_finalized.1 {
            return Err(ChainError::InvalidHeader(format!(
                "finalized block {} at height {} does not extend the last finalized block {} at {}",
                hash, h.height, self.last_finalized.1, self.last_finalized.0
            )));
        }
        let pending = match self.pending.remove(&hash) {
            Some(p) => p,
            None => {
                // Not seen before (caught up from peers): execute on the committed state.
                let mut layer = Layer::new(self.store.committed(), Diff::new());
                let outcome = self.execute(&mut layer, block)?;
                let (diff, _) = layer.into_parts();
                let state = self.store.speculate(None, &diff, h.height).await?;
                Pending {
                    block: block.clone(),
                    cumulative: diff.clone(),
                    diff,
                    state,
                    outcome,
                }
            }
        };
        let computed = Store::<E>::speculative_root(&pending.state);
        if computed != h.state_root {
            return Err(ChainError::RootMismatch {
                header: h.state_root,
                computed,
            });
        }
        let Pending {
            state,
            diff,
            outcome,
            ..
        } = pending;
        let finalized = std::sync::Arc::new(Finalized {
            block: block.clone(),
            outcome,
        });
        // The block goes to disk before its state is committed: a crash in between finalizes
        // it again on restart, and history never has a gap.
        self.history.persist(&finalized).await?;
        self.store.finalize(state, &diff, h.height).await?;
        self.last_finalized = (h.height, hash);
        self.pending.retain(|_, p| p.block.header.height > h.height);
        let view = Layer::new(self.store.committed(), Diff::new());
        self.mempool.prune(&view, h.height);
        self.evidence.remove(&block.evidence);
        if self.notices.receiver_count() > 0 {
            // A send only fails when nobody listens.
            let _ = self.notices.send(finalized.clone());
        }
        self.history.remember(finalized);
        self.record_handoffs().await;
        Ok(())
    }

    /// Records the committee handoffs the finalized state now allows ([`crate::handoffs`]):
    /// the next era's committee once elected (and again if a forced election changes it), and
    /// at genesis era 0's and era 1's. Called after each commit and once on a fresh chain; a
    /// failure is logged, never fatal (light clients then fall back to fewer proven eras).
    pub async fn record_handoffs(&mut self) {
        if let Err(e) = self.try_record_handoffs().await {
            tracing::warn!(target: "crust::chain", "recording the committee handoff failed: {e}");
        }
    }

    async fn try_record_handoffs(&mut self) -> Result<(), ChainError> {
        use crust_runtime::staking;
        let height = self.last_finalized.0;
        let wanted: Vec<(u64, Vec<AccountId>)> = {
            let view = self.view();
            let active = staking::active_era(&view)
                .map_err(|e| StoreError::Db(format!("active era: {e}")))?;
            let eras = if height == 0 {
                vec![0, 1]
            } else {
                vec![active.saturating_add(1)]
            };
            eras.into_iter()
                .filter_map(|era| {
                    let members = staking::committee(&view, era).ok().flatten()?;
                    Some((era, members.iter().map(|m| m.session_key).collect()))
                })
                .collect()
        };
        for (era, keys) in wanted {
            if self.handoffs.known(era) == Some(&keys) {
                continue;
            }
            if let Some(r) = self.handoffs.get(era).await?
                && r.session_keys == keys
            {
                self.handoffs.remember(era, keys);
                continue;
            }
            let proven = self
                .prove_query(|s| crust_client::queries::committee(s, Some(era)))
                .await?;
            let record = crate::handoffs::Recorded {
                era,
                session_keys: keys,
                proof: proven.proof(),
            };
            self.handoffs.put(&record).await?;
        }
        Ok(())
    }

    /// The recorded handoff of `era`'s committee, if this node kept one.
    pub async fn handoff(
        &mut self,
        era: u64,
    ) -> Result<Option<crate::handoffs::Recorded>, StoreError> {
        self.handoffs.get(era).await
    }

    /// Every block finalized from now on, in order (a subscriber more than [`NOTICE_BUFFER`]
    /// blocks behind is told how many it missed).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<Finalized>> {
        self.notices.subscribe()
    }

    /// A recently finalized block still held in memory (with its events).
    pub fn finalized(&self, height: u64) -> Option<&Finalized> {
        self.history.cached(height).map(|f| f.as_ref())
    }

    /// The block history (memory limits and usage).
    pub fn history(&self) -> &History<E> {
        &self.history
    }

    /// Runs the read-only `query` on the committed state and proves every key it read (value
    /// or absence) under the committed root, the last finalized block's state root.
    pub async fn prove_query<T>(
        &self,
        query: impl FnOnce(&Recording<'_, Layer<'_>>) -> T,
    ) -> Result<Proven<T>, ChainError> {
        let (value, keys) = {
            let view = self.view();
            let recording = Recording::new(&view);
            let value = query(&recording);
            (value, recording.into_keys())
        };
        let keys = keys
            .filter(|k| k.len() <= MAX_PROVEN_KEYS)
            .ok_or(ChainError::Unprovable)?;
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            entries.push(self.store.prove(&key).await?);
        }
        Ok(Proven {
            value,
            height: self.last_finalized.0,
            state_root: self.store.root()?,
            entries,
        })
    }

    /// A read-only view of the committed state for queries.
    pub fn view(&self) -> Layer<'_> {
        Layer::new(self.store.committed(), Diff::new())
    }

    /// The committee (consensus keys) of `era` from committed state, if elected.
    pub fn committee(&self, era: u64) -> Option<Vec<AccountId>> {
        let view = self.view();
        crust_runtime::staking::committee(&view, era)
            .ok()
            .flatten()
            .map(|c| c.into_iter().map(|m| m.session_key).collect())
    }

    /// Balances of an account in committed state (a convenience for tests and tools).
    pub fn free_balance(&self, who: &AccountId) -> u128 {
        crust_runtime::balances::free_balance(&self.view(), who).unwrap_or(0)
    }

    /// Raw committed value (for tools).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.view().get(key)
    }
}
