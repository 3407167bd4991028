//! The marshal application (propose / verify) and the finalized-block executor.

use super::block::{ConsensusBlock, to_digest, to_hash};
use super::core::ChainCore;
use super::{Ctx, PublicKey, Scheme, account_of};
use commonware_actor::Feedback;
use commonware_consensus::marshal::{Update, ancestry::Ancestry};
use commonware_consensus::types::{Epoch, Epocher as _, FixedEpocher, Height};
use commonware_consensus::{Application, Heightable as _, Reporter};
use commonware_cryptography::{Digested, Digestible as _, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact, channel::mpsc, ordered::Set};
use crust_primitives::AccountId;
use futures::StreamExt as _;
use futures::lock::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Shared handle to a node's chain state.
pub type SharedCore<S> = Arc<Mutex<ChainCore<S>>>;
/// Committees (consensus keys) by era, filled from finalized state.
pub type Committees = Arc<std::sync::Mutex<BTreeMap<u64, Set<PublicKey>>>>;

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Block building and checking, handed to marshal's `Inline` wrapper.
pub struct App<S: commonware_storage::Context + Spawner> {
    core: SharedCore<S>,
    me: AccountId,
}

impl<S: commonware_storage::Context + Spawner> Clone for App<S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            me: self.me,
        }
    }
}

/// Most unexecuted ancestors a node re-executes to rejoin after a restart.
const MAX_CATCH_UP: usize = 1024;

impl<S: commonware_storage::Context + Spawner> App<S> {
    /// An application for the node with consensus account `me`.
    pub fn new(core: SharedCore<S>, me: AccountId) -> Self {
        Self { core, me }
    }

    /// Makes sure `first` and its ancestors down to a block this node knows have been
    /// executed. After a restart the in-memory unfinalized blocks are gone, while consensus may
    /// build on notarized blocks that are not final yet; without this no node could propose or
    /// verify on them again. Returns whether `first` is now known.
    async fn catch_up(
        &self,
        first: &Digested<ConsensusBlock>,
        ancestry: &mut impl Ancestry<ConsensusBlock>,
    ) -> bool {
        let mut missing: Vec<Digested<ConsensusBlock>> = Vec::new();
        let mut cursor = first.clone();
        let known_parent = loop {
            {
                let c = self.core.lock().await;
                let hash = cursor.inner().0.hash();
                if c.knows(&hash) {
                    break cursor.inner().0.header.clone();
                }
                if cursor.inner().0.header.height <= c.last_finalized.0 {
                    return false; // a fork below finality
                }
            }
            if missing.len() == MAX_CATCH_UP {
                return false;
            }
            missing.push(cursor);
            let Some(next) = ancestry.next().await else {
                return false;
            };
            cursor = next;
        };
        let mut parent = known_parent;
        for block in missing.iter().rev() {
            let block = &block.inner().0;
            let mut c = self.core.lock().await;
            // The executor may have finalized it meanwhile (the lock was let go).
            if !c.knows(&block.hash()) && c.adopt(block, &parent).await.is_err() {
                return false;
            }
            drop(c);
            parent = block.header.clone();
        }
        true
    }
}

impl<E: Clock, S: commonware_storage::Context + Spawner> Application<E> for App<S> {
    type SigningScheme = Scheme;
    type Context = Ctx;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, _ctx): (E, Ctx),
        mut ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let parent = ancestry.next().await?;
        if !self.catch_up(&parent, &mut ancestry).await {
            return None;
        }
        let parent_header = parent.inner().0.header.clone();
        // Respect the chain's block interval: wait until it has passed since the parent.
        let block_time = self.core.lock().await.limits.block_time_ms;
        let due = UNIX_EPOCH + Duration::from_millis(parent_header.timestamp_ms + block_time);
        if runtime.current() < due {
            runtime.sleep_until(due).await;
        }
        let now = millis(runtime.current());
        let block = self
            .core
            .lock()
            .await
            .propose(&parent_header, now, self.me)
            .await
            .ok()?;
        Some(Digested::compute(ConsensusBlock(block), &Sequential).await)
    }

    async fn verify(
        &mut self,
        (runtime, ctx): (E, Ctx),
        mut ancestry: impl Ancestry<ConsensusBlock>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        if !self.catch_up(&parent, &mut ancestry).await {
            return false;
        }
        let now = millis(runtime.current());
        let leader = account_of(&ctx.leader);
        self.core
            .lock()
            .await
            .verify(&block.inner().0, &parent.inner().0.header, leader, now)
            .await
            .is_ok()
    }
}

/// "Era `epoch` runs on top of block `genesis`": sent to the orchestrator at each boundary.
#[derive(Clone, Copy, Debug)]
pub struct EpochHook {
    /// The era (epoch) to start.
    pub epoch: Epoch,
    /// The last block of the previous era (the new engine's floor).
    pub genesis: Digest,
}

/// Marshal's reporter: forwards finalized blocks to the executor task.
#[derive(Clone)]
pub struct Finalizer {
    tx: mpsc::UnboundedSender<(Digested<ConsensusBlock>, Exact)>,
}

impl Reporter for Finalizer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Update<ConsensusBlock>) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                if self.tx.send((block, ack)).is_err() {
                    return Feedback::Closed;
                }
            }
            Update::Tip(..) => {}
        }
        Feedback::Ok
    }
}

/// Persisted executor progress: last applied height and block digest, and the floor (genesis)
/// digest of the era that contains the next height.
type Progress = (u64, Digest, Digest);
const PROGRESS_KEY: u64 = 0;

/// The committee of `era` as a consensus participant set, from committed state.
pub fn committee_set<S: commonware_storage::Context + Spawner>(
    core: &ChainCore<S>,
    era: u64,
) -> Option<Set<PublicKey>> {
    let keys = core.committee(era)?;
    Some(Set::from_iter_dedup(
        keys.iter().filter_map(super::public_key_of),
    ))
}

/// Spawns the executor: applies finalized blocks in order (idempotently: marshal redelivers
/// after a restart), persists progress before acknowledging, publishes each next era's
/// committee, and tells the orchestrator when an era starts. Returns the reporter for marshal.
pub fn start_executor<E, S>(
    context: E,
    partition: String,
    core: SharedCore<S>,
    committees: Committees,
    epocher: FixedEpocher,
    genesis: Digest,
    hooks: mpsc::UnboundedSender<EpochHook>,
) -> Finalizer
where
    E: Spawner + Clock + Storage + Metrics,
    S: commonware_storage::Context + Spawner,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(Digested<ConsensusBlock>, Exact)>();
    context.child("executor").spawn(move |context| async move {
        let cfg = metadata::Config {
            partition,
            codec_config: ((), (), ()),
        };
        let Ok(mut progress) =
            Metadata::<_, u64, Progress>::init(context.child("progress"), cfg).await
        else {
            return; // dropping the receiver stops marshal: the node cannot run without it
        };
        let (mut height, mut last, mut floor) = progress
            .get(&PROGRESS_KEY)
            .copied()
            .unwrap_or((0, genesis, genesis));
        {
            let mut c = core.lock().await;
            // The store may be one block ahead if the node crashed between its commit and this
            // record; marshal redelivers that block first, and the loop adopts it below.
            c.last_finalized = (height, to_hash(&last));
            let era = c.era_of(height + 1);
            let mut map = committees.lock().unwrap_or_else(|e| e.into_inner());
            for e in [era.saturating_sub(1), era, era + 1] {
                if let Some(set) = committee_set(&c, e) {
                    map.insert(e, set);
                }
            }
        }
        if let Some(info) = epocher.containing(Height::new(height + 1)) {
            let _ = hooks.send(EpochHook {
                epoch: info.epoch(),
                genesis: floor,
            });
        }
        while let Some((block, ack)) = rx.recv().await {
            let h = block.height().get();
            let digest = block.digest();
            let mut c = core.lock().await;
            if h <= height {
                ack.acknowledge(); // already applied: at-least-once redelivery
                continue;
            }
            if h == c.store.height().unwrap_or(0)
                && c.store.root().ok() == Some(block.inner().0.header.state_root)
            {
                // Committed before a crash but not yet recorded.
                c.last_finalized = (h, to_hash(&digest));
            } else if let Err(e) = c.finalize(&block.inner().0).await {
                // A finalized block that does not apply means this node's state is wrong, or
                // the network upgraded to a protocol this node does not speak; stop (dropping
                // the acknowledgement halts marshal) rather than diverge.
                let why = format!("cannot apply finalized block {h}: {e}");
                tracing_error(&why);
                c.halted.get_or_insert(why);
                return;
            }
            height = h;
            last = digest;
            if let Some(m) = &c.metrics {
                m.finalized(
                    h,
                    block.inner().0.header.timestamp_ms,
                    millis(context.current()),
                );
            }
            let boundary = epocher
                .containing(Height::new(h))
                .filter(|info| info.last().get() == h);
            if let Some(info) = &boundary {
                floor = digest;
                let next = info.epoch().next();
                if let Some(set) = committee_set(&c, next.get()) {
                    committees
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(next.get(), set);
                }
            }
            drop(c);
            progress.put(PROGRESS_KEY, (height, last, floor));
            progress = match progress.sync().await {
                Ok(p) => p,
                Err(e) => {
                    tracing_error(&format!("cannot persist progress: {e}"));
                    return;
                }
            };
            if let Some(info) = boundary {
                let _ = hooks.send(EpochHook {
                    epoch: info.epoch().next(),
                    genesis: floor,
                });
            }
            ack.acknowledge();
        }
    });
    Finalizer { tx }
}

fn tracing_error(msg: &str) {
    tracing::error!(target: "crust::chain", "{msg}");
}

/// The marshal genesis for a chain whose genesis block is `block`.
pub fn genesis_digest(block: &crate::Block) -> Digest {
    to_digest(&block.hash())
}
