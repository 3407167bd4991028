//! Wiring of one validator: marshal (standard, Inline) + buffered broadcast + marshal
//! resolver + simplex engine (ed25519) + executor. Generic over runtime and p2p.

use crate::app::{App, EpochHook, Finalizer, Mempool, SharedRecords, start_executor};
use crate::block::{BLOCK_CFG, Block};
use crate::{NAMESPACE, PK, Scheme};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox},
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{self, elector::RoundRobin},
    types::{Epoch, Epocher, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digested, Digestible as _, Sha256,
    certificate::{ConstantProvider, Provider as SchemeProvider},
    ed25519,
    sha256::Digest,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize, ordered::Set};
use std::{num::NonZeroU64, time::Duration};

/// p2p channel ids (one `register` per id per peer).
pub const CH_VOTES: u64 = 0;
pub const CH_CERTS: u64 = 1;
pub const CH_RESOLVER: u64 = 2;
pub const CH_BACKFILL: u64 = 3;
pub const CH_BROADCAST: u64 = 4;

/// All five (sender, receiver) pairs a validator needs.
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certs: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub broadcast: (S, R),
}

pub struct NodeParams {
    pub index: usize,
    pub signer: ed25519::PrivateKey,
    pub participants: Set<PK>,
    pub mempool: Mempool,
    pub records: SharedRecords,
    /// Blocks per epoch for the `FixedEpocher` (single-epoch prototype => huge).
    pub epoch_length: NonZeroU64,
}

/// Timeouts used by simplex (see GUIDE.md for meaning).
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(1);
pub const CERTIFICATION_TIMEOUT: Duration = Duration::from_secs(2);
pub const TIMEOUT_RETRY: Duration = Duration::from_secs(3);
pub const SKIP_TIMEOUT: Duration = Duration::from_secs(5);

pub type MarshalMailbox = Mailbox<Scheme, Standard<Block>>;
pub type InlineApp<E> = Inline<E, Scheme, App, Block, FixedEpocher>;

fn page_cache() -> CacheRef {
    CacheRef::new(NZU16!(4096), NZUsize!(64))
}

/// Start buffered broadcast + marshal backfill resolver + marshal actor (one per node, spans
/// all epochs). Finalized blocks go to `reporter` in order.
#[allow(clippy::too_many_arguments)]
pub async fn start_marshal<E, S, R, B, P, Pr>(
    context: &E,
    index: usize,
    public_key: PK,
    provider: Pr,
    epocher: FixedEpocher,
    backfill: (S, R),
    broadcast: (S, R),
    blocker: B,
    peer_provider: P,
    reporter: Finalizer,
) -> MarshalMailbox
where
    E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    S: Sender<PublicKey = PK>,
    R: Receiver<PublicKey = PK>,
    B: Blocker<PublicKey = PK> + Clone,
    P: Provider<PublicKey = PK> + Clone,
    Pr: SchemeProvider<Scope = Epoch, Scheme = Scheme>,
{
    let prefix = format!("node{index}");
    let page_cache = page_cache();

    // marshal backfill resolver (p2p request/response for missing blocks/certs)
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peer_provider.clone(),
            blocker,
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );

    // buffered broadcast: disseminates full (not yet finalized) blocks
    let (broadcast_engine, buffer) = buffered::Engine::<_, PK, Block, _, _>::new(
        context.child("broadcast"),
        buffered::Config {
            public_key,
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: BLOCK_CFG,
            peer_provider,
            strategy: Sequential,
        },
    );
    broadcast_engine.start(broadcast);

    // marshal archives (finalized certificates by height + finalized blocks by height)
    let finalizations_by_height = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_cfg(
            &prefix,
            "finalizations",
            &page_cache,
            <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .expect("init finalizations archive");
    let finalized_blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_cfg(&prefix, "blocks", &page_cache, BLOCK_CFG),
    )
    .await
    .expect("init blocks archive");

    let genesis = Block::genesis();
    let genesis_digest = genesis.digest();
    let (actor, mailbox, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations_by_height,
        finalized_blocks,
        marshal::Config {
            provider,
            epocher,
            start: marshal::Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(10),
            page_cache,
            replay_buffer: NZUsize!(64 * 1024),
            key_write_buffer: NZUsize!(4096),
            value_write_buffer: NZUsize!(4096),
            block_codec_config: BLOCK_CFG,
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(4),
            strategy: Sequential,
        },
    )
    .await;
    actor.start(reporter, buffer, resolver);
    mailbox
}

/// Start one simplex engine for `epoch` (call again with a new epoch/scheme/channels for the
/// next committee). `floor` = genesis digest of the epoch (epoch 0: genesis block; epoch e>0:
/// last block of epoch e-1).
#[allow(clippy::too_many_arguments)]
pub fn start_engine<E, S, R, B>(
    context: E,
    index: usize,
    epoch: Epoch,
    scheme: Scheme,
    floor: Digest,
    inline: InlineApp<E>,
    blocker: B,
    votes: (S, R),
    certs: (S, R),
    resolver: (S, R),
) -> Handle<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    S: Sender<PublicKey = PK>,
    R: Receiver<PublicKey = PK>,
    B: Blocker<PublicKey = PK> + Clone,
{
    let engine = simplex::Engine::new(
        context,
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            // must be unique per epoch
            partition: format!("node{index}-simplex-epoch{}", epoch.get()),
            mailbox_size: NZUsize!(1024),
            epoch,
            floor: simplex::Floor::Genesis(floor),
            replay_buffer: NZUsize!(64 * 1024),
            write_buffer: NZUsize!(4096),
            page_cache: page_cache(),
            leader_timeout: LEADER_TIMEOUT,
            certification_timeout: CERTIFICATION_TIMEOUT,
            timeout_retry: TIMEOUT_RETRY,
            view_retention: ViewDelta::new(256),
            skip: simplex::SkipPolicy::Enabled {
                timeout: SKIP_TIMEOUT,
                budget: simplex::SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: simplex::ForwardPolicy::SilentVoters,
            track_historical_votes: false,
        },
    );
    engine.start(votes, certs, resolver)
}

/// Single-epoch validator. Every task hangs off `context`, so aborting the task that owns
/// `context` (or dropping the runtime) stops the whole validator.
pub async fn start_node<E, S, R, B, P>(
    context: E,
    params: NodeParams,
    channels: Channels<S, R>,
    blocker: B,
    peer_provider: P,
) -> Handle<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core::CryptoRng,
    S: Sender<PublicKey = PK>,
    R: Receiver<PublicKey = PK>,
    B: Blocker<PublicKey = PK> + Clone,
    P: Provider<PublicKey = PK> + Clone,
{
    let NodeParams {
        index,
        signer,
        participants,
        mempool,
        records,
        epoch_length,
    } = params;
    let public_key = commonware_cryptography::Signer::public_key(&signer);

    // signing scheme (participants + own key) and a constant per-epoch provider
    let scheme =
        Scheme::signer(NAMESPACE, participants, signer).expect("signer must be a participant");
    let provider = ConstantProvider::<Scheme, Epoch>::new(scheme.clone());
    let epocher = FixedEpocher::new(epoch_length);

    let finalizer = start_executor(context.child("app"), index, records, None);
    let marshal = start_marshal(
        &context,
        index,
        public_key,
        provider,
        epocher.clone(),
        channels.backfill,
        channels.broadcast,
        blocker.clone(),
        peer_provider,
        finalizer,
    )
    .await;

    // Inline wrapper = Automaton + CertifiableAutomaton + Relay + Reporter for simplex
    let app = App {
        mempool,
        max_txs_per_block: 4,
    };
    let inline = Inline::new(context.child("inline"), app, marshal, epocher);
    let genesis = Block::genesis().digest();
    start_engine(
        context.child("engine"),
        index,
        Epoch::zero(),
        scheme,
        genesis,
        inline,
        blocker,
        channels.votes,
        channels.certs,
        channels.resolver,
    )
}

/// Config for one marshal immutable archive (freezer + ordinal + metadata partitions).
fn archive_cfg<C>(
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
        freezer_key_write_buffer: NZUsize!(4096),
        freezer_value_write_buffer: NZUsize!(4096),
        ordinal_write_buffer: NZUsize!(4096),
    }
}

/// Epoch of the block that follows `height` and the digest it builds on.
pub fn next_epoch_start(epocher: &FixedEpocher, height: u64, digest: Digest) -> Option<EpochHook> {
    let info = epocher.containing(commonware_consensus::types::Height::new(height))?;
    (info.last().get() == height).then(|| EpochHook {
        epoch: info.epoch().next(),
        genesis: digest,
    })
}
