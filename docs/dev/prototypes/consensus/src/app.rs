//! Marshal `Application` (propose/verify) and the finalized-block executor
//! (marshal `Reporter<Activity = Update<Block>>` + an actor that applies, persists, acks).

use crate::block::{Block, compute_state_root};
use crate::{Ctx, Scheme};
use commonware_actor::Feedback;
use commonware_consensus::{
    Application, Heightable, Reporter,
    marshal::{Update, ancestry::Ancestry},
    types::{Epoch, Epocher as _, FixedEpocher, Height},
};
use commonware_cryptography::{Digested, Digestible, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Storage};
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact, channel::mpsc};
use futures::StreamExt as _;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Shared "mempool": a FIFO of opaque txs. (In the sim it is shared by all validators.)
#[derive(Clone, Default)]
pub struct Mempool(Arc<Mutex<VecDeque<Vec<u8>>>>);

impl Mempool {
    pub fn push(&self, tx: Vec<u8>) {
        self.0.lock().unwrap().push_back(tx);
    }
    pub fn drain(&self, max: usize) -> Vec<Vec<u8>> {
        let mut q = self.0.lock().unwrap();
        let n = q.len().min(max);
        q.drain(..n).collect()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// Block builder / verifier handed to `marshal::standard::Inline`.
#[derive(Clone)]
pub struct App {
    pub mempool: Mempool,
    pub max_txs_per_block: usize,
}

impl<E: Clock> Application<E> for App {
    type SigningScheme = Scheme;
    type Context = Ctx;
    type Block = Block;
    type Input = ();

    /// `ancestry` yields the PARENT first (newest to oldest).
    async fn propose(
        &mut self,
        (runtime, _ctx): (E, Ctx),
        mut ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        // `Digested<Block>` = Arc<Block> + cached digest; no Deref, use `.inner()`.
        let parent = ancestry.next().await?;
        let p = parent.inner();
        let height = p.height.next();
        let timestamp = millis(runtime.current()).max(p.timestamp + 1);
        let txs = self.mempool.drain(self.max_txs_per_block);
        let state_root = compute_state_root(&p.state_root, height, &txs);
        let block = Block {
            parent: parent.digest(),
            height,
            timestamp,
            txs,
            state_root,
        };
        Some(Digested::compute(block, &Sequential).await)
    }

    /// `ancestry` yields the CANDIDATE first, then its parent. Marshal has already checked
    /// parent digest == context parent and height == parent + 1 before calling this.
    async fn verify(&mut self, (_runtime, _ctx): (E, Ctx), mut ancestry: impl Ancestry<Block>) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let (b, p) = (block.inner(), parent.inner());
        if b.parent != parent.digest() || b.height != p.height.next() {
            return false;
        }
        if b.timestamp <= p.timestamp {
            return false;
        }
        compute_state_root(&p.state_root, b.height, &b.txs) == b.state_root
    }
}

/// What one node has applied (shared with the test harness, survives runtime restarts).
#[derive(Default, Debug)]
pub struct Records {
    /// height -> (state_root, simulated time of first application)
    pub applied: BTreeMap<u64, (Digest, Duration)>,
    /// txs included in applied blocks
    pub txs: u64,
    /// number of redelivered (duplicate) blocks seen
    pub redelivered: u64,
    /// height the executor resumed from after a restart (from persisted state)
    pub resumed_from: Option<u64>,
    /// (epoch, first height) for every epoch boundary applied
    pub epoch_starts: Vec<(u64, u64)>,
}

impl Records {
    pub fn tip(&self) -> u64 {
        self.applied.keys().next_back().copied().unwrap_or(0)
    }
}

pub type SharedRecords = Arc<Mutex<Records>>;

/// Marshal's reporter. `report` is SYNC, so forward to the executor actor.
#[derive(Clone)]
pub struct Finalizer {
    tx: mpsc::UnboundedSender<(Digested<Block>, Exact)>,
}

impl Reporter for Finalizer {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Update<Block>) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                // If the executor is gone the ack is dropped, which stops marshal (intended).
                if self.tx.send((block, ack)).is_err() {
                    return Feedback::Closed;
                }
            }
            // Tip is NOT a durability signal; just ignore it here.
            Update::Tip(_round, _height, _digest) => {}
        }
        Feedback::Ok
    }
}

/// Persisted executor state: (height, state_root, block digest) of the last applied block, plus
/// the genesis digest of the epoch that contains height+1 (= last block of the previous epoch).
type Persisted = (u64, Digest, Digest, Digest);

/// "Epoch `epoch` starts on top of block `genesis`" (sent to the orchestrator).
#[derive(Clone, Copy, Debug)]
pub struct EpochHook {
    pub epoch: Epoch,
    pub genesis: Digest,
}

/// Optional epoch plumbing for the executor.
pub type EpochHooks = (FixedEpocher, mpsc::UnboundedSender<EpochHook>);
const STATE_KEY: u64 = 0;

/// Spawn the executor actor. Returns the reporter to hand to marshal's `Actor::start`.
pub fn start_executor<E>(
    context: E,
    node: usize,
    records: SharedRecords,
    epochs: Option<EpochHooks>,
) -> Finalizer
where
    E: commonware_runtime::Spawner + Clock + Storage + Metrics,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(Digested<Block>, Exact)>();
    context.child("executor").spawn(move |context| async move {
        let mut meta: Metadata<_, u64, Persisted> = Metadata::init(
            context.child("state"),
            metadata::Config {
                partition: format!("app-state-{node}"),
                codec_config: ((), (), (), ()),
            },
        )
        .await
        .expect("init app state");
        let genesis = Block::genesis();
        let (mut last_height, mut last_root, mut last_digest, mut epoch_genesis) = meta
            .get(&STATE_KEY)
            .copied()
            .unwrap_or((0, genesis.state_root, genesis.digest(), genesis.digest()));
        if last_height > 0 {
            records.lock().unwrap().resumed_from = Some(last_height);
        }
        // Tell the orchestrator which epoch to (re)start with, from persisted state.
        if let Some((epocher, tx)) = &epochs {
            let epoch = epocher
                .containing(Height::new(last_height + 1))
                .expect("epocher covers height")
                .epoch();
            let _ = tx.send(EpochHook { epoch, genesis: epoch_genesis });
        }
        while let Some((block, ack)) = rx.recv().await {
            let h = block.height().get();
            let b = block.inner();
            if h <= last_height {
                // At-least-once delivery: redelivery after restart. Idempotent: just ack.
                records.lock().unwrap().redelivered += 1;
                ack.acknowledge();
                continue;
            }
            assert_eq!(h, last_height + 1, "node {node}: gap in finalized delivery");
            assert_eq!(b.parent, last_digest, "node {node}: parent mismatch at {h}");
            // Re-execute (here: recompute the root chain) and check against the header.
            let root = compute_state_root(&last_root, b.height, &b.txs);
            assert_eq!(root, b.state_root, "node {node}: state root mismatch at {h}");
            last_height = h;
            last_root = root;
            last_digest = block.digest();

            // Epoch boundary: the last block of epoch e is the genesis of epoch e+1.
            let hook = epochs
                .as_ref()
                .and_then(|(epocher, _)| crate::node::next_epoch_start(epocher, h, last_digest));
            if let Some(hook) = hook {
                epoch_genesis = hook.genesis;
            }

            // Persist BEFORE acknowledging: marshal only redelivers from its own processed
            // height, so the app must never be behind what it acked.
            meta.put(STATE_KEY, (last_height, last_root, last_digest, epoch_genesis));
            meta = meta.sync().await.expect("sync app state");
            {
                let now = context.current().duration_since(UNIX_EPOCH).unwrap_or_default();
                let mut r = records.lock().unwrap();
                r.applied.insert(h, (root, now));
                r.txs += b.txs.len() as u64;
                if let Some(hook) = hook {
                    r.epoch_starts.push((hook.epoch.get(), h + 1));
                }
            }
            if let (Some(hook), Some((_, tx))) = (hook, &epochs) {
                let _ = tx.send(hook);
            }
            ack.acknowledge();
        }
    });
    Finalizer { tx }
}

