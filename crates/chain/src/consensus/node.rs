//! Wiring one validator: marshal (spans all eras) with buffered broadcast and a backfill
//! resolver, the executor, and an orchestrator that runs one simplex engine per era with that
//! era's elected committee.

use super::app::{App, Committees, EpochHook, SharedCore, start_executor};
use super::block::{BLOCK_CFG, ConsensusBlock};
use super::evidence::{EvidencePool, EvidenceReporter};
use super::{PrivateKey, PublicKey, Scheme, Timeouts, account_of};
use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::{Actor as MarshalActor, Mailbox};
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{self};
use commonware_consensus::simplex::{self, elector::RoundRobin};
use commonware_consensus::types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta};
use commonware_cryptography::certificate::{Provider as SchemeProvider, Scoped};
use commonware_cryptography::{Digested, Sha256, Signer as _, sha256::Digest};
use commonware_macros::select;
use commonware_p2p::utils::mux::{Builder as _, MuxHandle, Muxer};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, Metrics, Quota, Spawner, Storage, buffer::paged::CacheRef,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU32, NZU64, NZUsize, channel::mpsc, non_empty_vec};
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

/// Channel ids on the chain network.
pub const CH_VOTES: u64 = 0;
/// Certificates.
pub const CH_CERTS: u64 = 1;
/// Consensus resolver (missing certificates).
pub const CH_RESOLVER: u64 = 2;
/// Marshal backfill (missing blocks and finalizations).
pub const CH_BACKFILL: u64 = 3;
/// Block broadcast.
pub const CH_BROADCAST: u64 = 4;
/// Transaction gossip ([`crate::gossip`]).
pub const CH_TXS: u64 = 5;

/// The per-peer message rate (and burst) each chain channel allows, in messages per second.
///
/// The network enforces it on what each peer sends us and on what we send each peer, and it
/// sizes memory: every channel's inbound mailbox and the shared outbound mailbox are allocated
/// up front with one burst per retained peer (`max_peers_per_set × tracked_peer_sets`), a few
/// hundred bytes a slot. A quota of 100 000/s on five channels made a validator allocate and
/// touch ~4.4 GB at start-up; these quotas keep the mailboxes to a few MB.
///
/// Sized from what consensus sends at a 250 ms block time: per view each validator sends a
/// notarize, a finalize and sometimes a nullify vote, and a few certificates; the leader
/// broadcasts one block. Marshal's backfill answers catch-up requests for blocks and
/// finalizations, so it gets the most room (a validator an hour behind, 14 400 blocks, can
/// fetch them from each peer within seconds). Transaction gossip sends at most one batch per
/// [`crate::gossip::FLUSH_AFTER`] (50 a second, up to 512 transactions each), within the
/// default 64. The consensus simulations run with these same quotas.
pub fn channel_quota(channel: u64) -> Quota {
    let per_second = match channel {
        CH_VOTES | CH_CERTS => NZU32!(256),
        CH_RESOLVER => NZU32!(256),
        CH_BACKFILL => NZU32!(1024),
        _ => NZU32!(64),
    };
    Quota::per_second(per_second)
}

/// The five channels a validator needs.
pub struct Channels<S, R> {
    /// Votes.
    pub votes: (S, R),
    /// Certificates.
    pub certs: (S, R),
    /// Consensus resolver.
    pub resolver: (S, R),
    /// Marshal backfill.
    pub backfill: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
}

/// What a validator needs to start.
pub struct ValidatorConfig<S: commonware_storage::Context + Spawner> {
    /// Storage partition prefix (unique per node in a shared simulated runtime).
    pub prefix: String,
    /// The consensus key.
    pub signer: PrivateKey,
    /// The node's chain state (store opened, genesis applied).
    pub core: SharedCore<S>,
    /// The genesis block's digest.
    pub genesis: Digest,
    /// The genesis block (marshal's starting point).
    pub genesis_block: crate::Block,
    /// Blocks per era.
    pub era_blocks: NonZeroU64,
    /// Signature namespace.
    pub namespace: Vec<u8>,
    /// Consensus timeouts.
    pub timeouts: Timeouts,
    /// Eras whose vote journals a previous run left on disk (see [`leftover_eras`]); those
    /// before the era the node starts in are removed once it is known.
    pub leftover_eras: Vec<u64>,
}

/// The eras whose vote journal partitions (`{prefix}-simplex-era{N}`) are in `dir`, the
/// node's storage directory. A node stopped mid-run, or built before journals were removed
/// with their era, leaves them behind; nothing reads them again.
pub fn leftover_eras(dir: &std::path::Path, prefix: &str) -> Vec<u64> {
    let head = format!("{prefix}-simplex-era");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut eras: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(&head)?.parse().ok())
        .collect();
    eras.sort_unstable();
    eras
}

/// Write buffer of every journal and archive: two pages of the page cache, the least the
/// storage's paged writer takes. Asking for one page (4 KiB) made it raise the buffer and log
/// a warning every time a writer opened: ~14 000 lines a minute per validator, 85 MB of logs
/// in 30 minutes of an idle devnet.
const WRITE_BUFFER: std::num::NonZeroUsize = NZUsize!(8192);

type MarshalMailbox = Mailbox<Scheme, Standard<ConsensusBlock>>;
type InlineApp<E, S> = Inline<E, Scheme, App<S>, ConsensusBlock, FixedEpocher>;

fn page_cache() -> CacheRef {
    CacheRef::new(NZU16!(4096), NZUsize!(64))
}

/// The signing scheme per era: a signer where this node is a member, a verifier otherwise.
#[derive(Clone)]
pub struct EraProvider {
    signer: PrivateKey,
    namespace: Arc<Vec<u8>>,
    committees: Committees,
    cache: Arc<std::sync::Mutex<BTreeMap<Epoch, Scoped<Scheme>>>>,
}

impl EraProvider {
    /// Forgets the schemes and committees of eras before `first` (older engines are stopped;
    /// a scheme asked for again is rebuilt from a committee that is still known).
    fn retain_from(&self, first: u64) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e, _| e.get() >= first);
        self.committees
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e, _| *e >= first);
    }
}

impl SchemeProvider for EraProvider {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache.get(&epoch) {
            return Some(s.clone());
        }
        let participants = self
            .committees
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&epoch.get())?
            .clone();
        let scoped =
            match Scheme::signer(&self.namespace, participants.clone(), self.signer.clone()) {
                Some(s) => Scoped::scheme(Arc::new(s)),
                None => Scoped::verifier(Arc::new(Scheme::verifier(&self.namespace, participants))),
            };
        cache.insert(epoch, scoped.clone());
        Some(scoped)
    }
}

/// An immutable archive's configuration under partitions `prefix-name-…`.
pub(crate) fn archive_cfg<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config,
        replay_buffer: NZUsize!(64 * 1024),
        freezer_key_write_buffer: WRITE_BUFFER,
        freezer_value_write_buffer: WRITE_BUFFER,
        ordinal_write_buffer: WRITE_BUFFER,
    }
}

/// Starts a validator: executor, marshal and the era orchestrator. Every task hangs off
/// `context`, so aborting the returned handle's task tree stops the node.
pub async fn start_validator<E, S, Snd, Rcv, B, P>(
    context: E,
    config: ValidatorConfig<S>,
    channels: Channels<Snd, Rcv>,
    blocker: B,
    peer_provider: P,
) -> Handle<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    S: commonware_storage::Context + Spawner,
    Snd: Sender<PublicKey = PublicKey>,
    Rcv: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
    P: Provider<PublicKey = PublicKey> + Clone,
{
    let ValidatorConfig {
        prefix,
        signer,
        core,
        genesis,
        genesis_block,
        era_blocks,
        namespace,
        timeouts,
        leftover_eras,
    } = config;
    let public_key = signer.public_key();
    let evidence = core.lock().await.evidence.clone();
    let committees: Committees = Default::default();
    let provider = EraProvider {
        signer: signer.clone(),
        namespace: Arc::new(namespace),
        committees: committees.clone(),
        cache: Default::default(),
    };
    let epocher = FixedEpocher::new(era_blocks);
    let (hook_tx, hook_rx) = mpsc::unbounded_channel();
    let finalizer = start_executor(
        context.child("app"),
        format!("{prefix}-progress"),
        core.clone(),
        committees,
        epocher.clone(),
        genesis,
        hook_tx,
    );

    let page_cache = page_cache();
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::<_, PublicKey, ConsensusBlock, _, _>::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: BLOCK_CFG,
            peer_provider,
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.broadcast);
    let Ok(finalizations) = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_cfg(
            &prefix,
            "finalizations",
            &page_cache,
            <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    else {
        return context.child("failed").spawn(|_| async {});
    };
    let Ok(blocks) = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_cfg(&prefix, "blocks", &page_cache, BLOCK_CFG),
    )
    .await
    else {
        return context.child("failed").spawn(|_| async {});
    };
    let start = marshal::Start::Genesis(Digested::precomputed(
        ConsensusBlock(genesis_block),
        genesis,
    ));
    let (actor, mailbox, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: provider.clone(),
            epocher: epocher.clone(),
            start,
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(10),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(64 * 1024),
            key_write_buffer: WRITE_BUFFER,
            value_write_buffer: WRITE_BUFFER,
            block_codec_config: BLOCK_CFG,
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(4),
            strategy: Sequential,
        },
    )
    .await;
    actor.start(finalizer, buffer, resolver);
    {
        let marshal = mailbox.clone();
        let lookup: super::finality::Lookup = Arc::new(move |height| {
            let marshal = marshal.clone();
            Box::pin(async move {
                marshal
                    .get_finalization(Height::new(height))
                    .await
                    .map(|f| super::finality::encode(&f))
            })
        });
        core.lock().await.finality = Some(lookup);
    }

    let (votes_mux, votes) = Muxer::new(
        context.child("votes_mux"),
        channels.votes.0,
        channels.votes.1,
    );
    votes_mux.start();
    let (certs_mux, certs, backup) = Muxer::builder(
        context.child("certs_mux"),
        channels.certs.0,
        channels.certs.1,
    )
    .with_backup()
    .build();
    certs_mux.start();
    let (resolver_mux, resolver) = Muxer::new(
        context.child("resolver_mux"),
        channels.resolver.0,
        channels.resolver.1,
    );
    resolver_mux.start();

    let orchestrator = Orchestrator {
        prefix,
        page_cache,
        provider,
        epocher,
        marshal: mailbox,
        app: App::new(core, account_of(&public_key)),
        evidence,
        blocker,
        votes,
        certs,
        resolver,
        timeouts,
        leftover_eras,
    };
    context
        .child("orchestrator")
        .spawn(move |ctx| orchestrator.run(ctx, hook_rx, backup))
}

struct Orchestrator<S: commonware_storage::Context + Spawner, Snd: Sender, B> {
    prefix: String,
    /// The node's one page cache, shared by marshal's archives and every era's engine (a
    /// fresh 256 KiB cache per era was freed at the era's end but left the allocator holding
    /// ~230 KB more each era).
    page_cache: CacheRef,
    provider: EraProvider,
    epocher: FixedEpocher,
    marshal: MarshalMailbox,
    app: App<S>,
    evidence: EvidencePool,
    blocker: B,
    votes: MuxHandle<Snd>,
    certs: MuxHandle<Snd>,
    resolver: MuxHandle<Snd>,
    timeouts: Timeouts,
    /// Journals a previous run left, removed at the first era this run starts.
    leftover_eras: Vec<u64>,
}

impl<S, Snd, B> Orchestrator<S, Snd, B>
where
    S: commonware_storage::Context + Spawner,
    Snd: Sender<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
{
    async fn run<E>(
        mut self,
        context: E,
        mut hooks: mpsc::UnboundedReceiver<EpochHook>,
        mut backup: mpsc::Receiver<(u64, commonware_p2p::Message<PublicKey>)>,
    ) where
        E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    {
        let mut current: Option<Epoch> = None;
        let mut engines: BTreeMap<Epoch, Handle<()>> = BTreeMap::new();
        // The era whose engine was stopped last; its journal is removed at the next stop.
        let mut stopped: Option<Epoch> = None;
        loop {
            select! {
                hook = hooks.recv() => {
                    let Some(EpochHook { epoch, genesis }) = hook else { break };
                    if current.is_some_and(|c| epoch <= c) {
                        continue;
                    }
                    current = Some(epoch);
                    for old in std::mem::take(&mut self.leftover_eras) {
                        if old < epoch.get() {
                            let partition = format!("{}-simplex-era{old}", self.prefix);
                            if let Err(e) = context.remove(&partition, None).await {
                                tracing::warn!(target: "crust::chain", "cannot remove {partition}: {e}");
                            }
                        }
                    }
                    let Some(scheme) = self.provider.scheme(epoch) else {
                        continue; // not a member this era: follow through marshal only
                    };
                    let sub = epoch.get();
                    let (Ok(votes), Ok(certs), Ok(resolver)) = (
                        self.votes.register(sub).await,
                        self.certs.register(sub).await,
                        self.resolver.register(sub).await,
                    ) else {
                        continue;
                    };
                    let ctx = context.child("era").with_attribute("era", sub);
                    let inline: InlineApp<E, S> = Inline::new(ctx.child("inline"), self.app.clone(), self.marshal.clone(), self.epocher.clone());
                    let engine = simplex::Engine::new(
                        ctx.child("engine"),
                        simplex::Config {
                            scheme: (*scheme).clone(),
                            elector: RoundRobin::<Sha256>::default(),
                            blocker: self.blocker.clone(),
                            automaton: inline.clone(),
                            relay: inline.clone(),
                            reporter: EvidenceReporter::new(inline, sub, self.evidence.clone()),
                            strategy: Sequential,
                            partition: format!("{}-simplex-era{sub}", self.prefix),
                            mailbox_size: NZUsize!(1024),
                            epoch,
                            floor: simplex::Floor::Genesis(genesis),
                            replay_buffer: NZUsize!(64 * 1024),
                            write_buffer: WRITE_BUFFER,
                            page_cache: self.page_cache.clone(),
                            leader_timeout: self.timeouts.leader,
                            certification_timeout: self.timeouts.certification,
                            timeout_retry: self.timeouts.retry,
                            view_retention: ViewDelta::new(256),
                            skip: simplex::SkipPolicy::Enabled { timeout: self.timeouts.skip, budget: simplex::SkipBudget::Participants },
                            fetch_timeout: NZDuration!(Duration::from_secs(1)),
                            fetch_retry_delay: Duration::from_millis(100),
                            forward: simplex::ForwardPolicy::SilentVoters,
                            track_historical_votes: false,
                        },
                    );
                    engines.insert(epoch, engine.start(votes, certs, resolver));
                    // Keep the previous era's engine for laggards; stop older ones, and drop
                    // what only they needed: their signing schemes, and their vote journals
                    // on disk (one partition per era, never read again; ~3 MB an era on dev).
                    // A stopped engine's tasks may still touch its journal for a moment, so
                    // a partition is removed one era after its engine was stopped.
                    while engines.len() > 2 {
                        if let Some((old_epoch, old)) = engines.pop_first() {
                            old.abort();
                            if let Some(done) = stopped.replace(old_epoch) {
                                let partition = format!("{}-simplex-era{}", self.prefix, done.get());
                                if let Err(e) = context.remove(&partition, None).await {
                                    tracing::warn!(target: "crust::chain", "cannot remove {partition}: {e}");
                                }
                            }
                        }
                    }
                    self.provider.retain_from(epoch.get().saturating_sub(1));
                },
                msg = backup.recv() => {
                    let Some((sub, (peer, _))) = msg else { break };
                    // A peer speaks in a later era: fetch the finalization of our era's last
                    // block from it, so marshal backfills and the next era can start.
                    if let Some(c) = current
                        && sub > c.get()
                        && let Some(last) = self.epocher.last(c)
                    {
                        self.marshal.hint_finalized(last, non_empty_vec![peer]);
                    }
                },
            }
        }
    }
}

/// The largest message any chain channel carries for a committee of `committee` members.
pub fn max_message_size(committee: usize) -> u32 {
    let consensus = commonware_p2p::utils::mux::prefixed(
        simplex::max_payload_size::<Scheme, Digest>(committee as u32),
    );
    let blocks =
        marshal::max_payload_size::<Standard<ConsensusBlock>, Scheme>(committee as u32, &BLOCK_CFG);
    u32::try_from(consensus.max(blocks)).unwrap_or(u32::MAX)
}
