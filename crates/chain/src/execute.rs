//! Block execution: run the block hooks and every transaction on a state.
//!
//! The same function serves the proposer (which skips transactions that turn out invalid)
//! and verifiers (for whom one invalid transaction makes the whole block invalid). Execution
//! is deterministic: the state, the block and the genesis hash decide the result.

use crate::block::Header;
use crate::hash::Hash;
use crate::tx::{Transaction, TxError};
use crust_runtime::executive;
use crust_runtime::state::{Overlay, State};
use crust_runtime::{BlockContext, Event, RuntimeError};
use serde::Serialize;

pub use crust_light::block::Receipt;

/// Everything a block's execution produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockOutcome {
    /// One receipt per included transaction, in order.
    pub receipts: Vec<Receipt>,
    /// Events with the index of the transaction that emitted them (`None` for block hooks).
    pub events: Vec<(Option<u32>, Event)>,
}

/// A checked piece of evidence: `offender` (a consensus key) signed conflicting votes in round
/// `view` of `era`. Produced by the consensus layer, which verified the signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Offence {
    /// The era of the votes.
    pub era: u64,
    /// The consensus round (view) within the era.
    pub view: u64,
    /// The signer's consensus key.
    pub offender: crust_primitives::AccountId,
}

/// Why a block cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A transaction in the block could not be included (bad signature, mortality, nonce, fee).
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTransaction {
        /// Its position in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The block hooks failed (corrupt state or missing genesis).
    #[error("block hooks failed: {0}")]
    Hooks(#[from] RuntimeError),
}

/// A state wrapper that records the events emitted through it.
struct Recorder<'a, S: State + ?Sized> {
    inner: &'a mut S,
    events: Vec<Event>,
}

impl<S: State + ?Sized> State for Recorder<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }
    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) {
        self.inner.delete(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.inner.scan(prefix, after, limit)
    }
    fn emit(&mut self, event: Event) {
        self.events.push(event)
    }
}

/// Whether a transaction's signature was already checked by this node: true only for the very
/// bytes it verified before (a transaction its mempool admitted, matched by hash, which covers
/// the signature). Block execution skips the signature check for those.
pub type Verified<'a> = &'a dyn Fn(&Transaction) -> bool;

/// Checks nothing in advance: every signature is verified.
pub fn unverified(_: &Transaction) -> bool {
    false
}

fn admit(
    tx: &Transaction,
    header: &Header,
    genesis: &Hash,
    verified: Verified<'_>,
) -> Result<(), TxError> {
    tx.check_mortality(header.height)?;
    if verified(tx) {
        return Ok(());
    }
    tx.verify_signature(genesis)
}

/// A block in progress: its context, the state (recording events), and what it produced.
struct BlockRun<'a, S: State + ?Sized> {
    block: BlockContext,
    rec: Recorder<'a, S>,
    outcome: BlockOutcome,
}

impl<'a, S: State + ?Sized> BlockRun<'a, S> {
    /// Runs the block hooks for `header` on `state`, then slashes the block's offences.
    fn start(state: &'a mut S, header: &Header, offences: &[Offence]) -> Result<Self, BlockError> {
        let block = BlockContext {
            height: header.height,
            era: header.era,
            author: header.proposer,
            parent_hash: header.parent.0,
            timestamp_ms: header.timestamp_ms,
        };
        let mut rec = Recorder {
            inner: state,
            events: Vec::new(),
        };
        executive::begin_block(&mut rec, &block)?;
        for o in offences {
            crust_runtime::staking::report_equivocation(
                &mut rec,
                o.era,
                o.view,
                &o.offender,
                &header.proposer,
            )
            .map_err(RuntimeError::from)?;
        }
        let mut outcome = BlockOutcome::default();
        outcome
            .events
            .extend(rec.events.drain(..).map(|e| (None, e)));
        Ok(Self {
            block,
            rec,
            outcome,
        })
    }

    /// Records an applied transaction at position `index` with the events it emitted.
    fn record(&mut self, tx: &Transaction, applied: executive::ApplyOutcome, index: usize) {
        let tx_index = u32::try_from(index).unwrap_or(u32::MAX);
        let events_hash = events_hash(&self.rec.events);
        self.outcome
            .events
            .extend(self.rec.events.drain(..).map(|e| (Some(tx_index), e)));
        self.outcome.receipts.push(Receipt {
            tx_hash: tx.hash(),
            success: applied.error.is_none(),
            error: applied
                .error
                .map(|e| Receipt::clip_error(&e.to_string()).to_owned()),
            paid: applied.paid,
            events_hash,
        });
    }
}

/// The hash a receipt commits to for `events`: each event's JSON encoding (the runtime's
/// events are plain data, so the encoding is the same on every node), in emission order.
pub fn events_hash(events: &[Event]) -> Hash {
    let encoded: Vec<Vec<u8>> = events
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap_or_default())
        .collect();
    Receipt::events_hash_of(encoded.iter().map(Vec::as_slice))
}

/// Executes a block's hooks, offences and transactions on `state`. Any invalid transaction is
/// an error; the caller runs this on a speculative copy and discards it on error.
pub fn execute_block<S: State + ?Sized>(
    state: &mut S,
    header: &Header,
    offences: &[Offence],
    transactions: &[Transaction],
    genesis: &Hash,
    verified: Verified<'_>,
) -> Result<BlockOutcome, BlockError> {
    let mut run = BlockRun::start(state, header, offences)?;
    for (index, tx) in transactions.iter().enumerate() {
        let invalid = |reason: String| BlockError::InvalidTransaction { index, reason };
        admit(tx, header, genesis, verified).map_err(|e| invalid(e.to_string()))?;
        let applied = executive::apply_transaction(&mut run.rec, &run.block, &tx.checked())
            .map_err(|e| invalid(e.to_string()))?;
        run.record(tx, applied, index);
    }
    Ok(run.outcome)
}

/// A block body assembled by [`build_block`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltBlock {
    /// Transactions included, in order.
    pub included: Vec<Transaction>,
    /// Candidates left out, with the reason (the mempool should drop them).
    pub rejected: Vec<(Transaction, String)>,
    /// What executing the included transactions did.
    pub outcome: BlockOutcome,
}

/// Builds a block body from `candidates` in order: runs the hooks and slashes `offences`, then
/// includes each candidate that applies, skipping the ones that no longer can.
pub fn build_block<S: State + ?Sized>(
    state: &mut S,
    header: &Header,
    offences: &[Offence],
    candidates: Vec<Transaction>,
    genesis: &Hash,
    verified: Verified<'_>,
) -> Result<BuiltBlock, BlockError> {
    let mut run = BlockRun::start(state, header, offences)?;
    let mut included = Vec::new();
    let mut rejected = Vec::new();
    for tx in candidates {
        if let Err(e) = admit(&tx, header, genesis, verified) {
            rejected.push((tx, e.to_string()));
            continue;
        }
        // Apply in an overlay so a rejected transaction leaves nothing behind.
        let mut overlay = Overlay::new(&mut run.rec);
        match executive::apply_transaction(&mut overlay, &run.block, &tx.checked()) {
            Ok(applied) => {
                overlay.commit();
                run.record(&tx, applied, included.len());
                included.push(tx);
            }
            Err(e) => {
                drop(overlay);
                rejected.push((tx, e.to_string()));
            }
        }
    }
    let outcome = run.outcome;
    Ok(BuiltBlock {
        included,
        rejected,
        outcome,
    })
}
