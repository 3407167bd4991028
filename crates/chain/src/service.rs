//! Running a node for real: the tokio runtime, on-disk storage, authenticated encrypted p2p
//! (Commonware `discovery`: peers are known by key, found through bootnodes, see
//! [`crate::peers`]), the validator, and JSON-RPC.

use crate::block::Block;
use crate::consensus::app::SharedCore;
use crate::consensus::core::{BuildLimits, ChainCore};
use crate::consensus::node::{
    CH_BACKFILL, CH_BROADCAST, CH_CERTS, CH_RESOLVER, CH_TXS, CH_VOTES, Channels, ValidatorConfig,
    channel_quota, start_validator,
};
use crate::consensus::{Timeouts, consensus_key, namespace};
use crate::layer::{Diff, Layer};
use crate::memory::NodeMemory;
use crate::mempool::Mempool;
use crate::peers::Bootnode;
use crate::spec::ChainSpec;
use crate::store::{Store, StoreError};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::Ingress;
use commonware_p2p::authenticated::discovery;
use commonware_runtime::{Clock, Runner as _, Spawner, Supervisor as _};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::{NZU64, NZUsize};
use crust_primitives::Keypair;
use futures::lock::Mutex;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The chain spec is unusable.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bootnode or the public address is unusable.
    #[error("peers: {0}")]
    Peers(String),
    /// The memory budget cannot hold this node.
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
    /// The data directory was written by a build whose on-disk format this one cannot read.
    #[error(
        "{dir}: written in on-disk format {found}, this build reads format {DATA_FORMAT} ({why}); start from an empty directory (for the devnet: crust devnet --fresh)"
    )]
    Format {
        /// The directory.
        dir: String,
        /// Its format (0: from before formats were recorded).
        found: u32,
        /// What changed.
        why: &'static str,
    },
    /// The data directory cannot be read or written.
    #[error("{0}")]
    DataDir(String),
    /// An HTTP address (RPC, metrics) cannot be listened on.
    #[error("cannot listen for {0}")]
    Listen(String),
}

/// The on-disk format of a node's data directory, recorded in its `format` file and raised
/// when a change makes older data unreadable. 2: block headers commit to a receipts root and
/// archived receipts carry their events' hash.
pub const DATA_FORMAT: u32 = 2;

/// Refuses a data directory another format wrote, with a clear message instead of a decoding
/// error deep in the block archive; records the format in a new (or empty) directory.
pub fn check_data_format(dir: &std::path::Path) -> Result<(), NodeError> {
    let io = |e: std::io::Error| NodeError::DataDir(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = dir.join("format");
    let found = match std::fs::read_to_string(&file) {
        Ok(text) => text.trim().parse::<u32>().unwrap_or(0),
        Err(_) => {
            let empty = std::fs::read_dir(dir).map_err(io)?.next().is_none();
            if empty { DATA_FORMAT } else { 0 }
        }
    };
    if found != DATA_FORMAT {
        return Err(NodeError::Format {
            dir: dir.display().to_string(),
            found,
            why: "block headers now commit to a receipts root",
        });
    }
    std::fs::write(&file, format!("{DATA_FORMAT}\n")).map_err(io)
}

/// Limits for building blocks from a chain spec.
pub fn build_limits(spec: &ChainSpec) -> BuildLimits {
    BuildLimits {
        max_txs: crate::consensus::block::BLOCK_CFG.max_txs,
        max_bytes: crate::block::MAX_BLOCK_TX_BYTES,
        max_protocol_version: crust_runtime::system::LATEST_PROTOCOL_VERSION,
        block_time_ms: spec.block_time_ms,
        max_drift_ms: 5_000,
        era_blocks: spec.report_slot_blocks * spec.slots_per_era,
    }
}

/// Opens a node's chain state under storage partitions `prefix-…`, applying genesis on first
/// start. Returns the shared state and the genesis block.
pub async fn open_chain<E>(
    ctx: E,
    spec: &ChainSpec,
    prefix: &str,
) -> Result<(SharedCore<E>, Block), NodeError>
where
    E: commonware_storage::Context + Spawner,
{
    open_chain_with(ctx, spec, prefix, &NodeMemory::default()).await
}

/// [`open_chain`] with the caches and pools sized by a memory plan.
pub async fn open_chain_with<E>(
    ctx: E,
    spec: &ChainSpec,
    prefix: &str,
    memory: &NodeMemory,
) -> Result<(SharedCore<E>, Block), NodeError>
where
    E: commonware_storage::Context + Spawner,
{
    let history =
        crate::history::History::open(ctx.child("history"), prefix, memory.history).await?;
    let mut store = Store::open_with(ctx, prefix, memory.state_cache_pages).await?;
    let fresh = store.height().is_none();
    if fresh {
        let genesis = spec.genesis()?;
        let mut layer = Layer::new(store.committed(), Diff::new());
        genesis
            .apply(&mut layer)
            .map_err(|e| NodeError::Spec(crate::spec::SpecError::Invalid(e.to_string())))?;
        let (diff, _) = layer.into_parts();
        let state = store.speculate(None, &diff, 0).await?;
        store.finalize(state, &diff, 0).await?;
    }
    let (entries, bytes) = store.size();
    memory.check_state(entries, bytes)?;
    let root = store
        .genesis_root()
        .ok_or_else(|| StoreError::Db("genesis root missing from an initialized store".into()))?;
    let genesis_block = Block::genesis(root, spec.genesis_time_ms);
    let genesis_hash = genesis_block.hash();
    let mut core = ChainCore::new(
        store,
        history,
        genesis_hash,
        crate::consensus::namespace(&spec.id),
        Mempool::new(memory.mempool.clone(), genesis_hash),
        build_limits(spec),
        (0, genesis_hash),
    );
    core.genesis_block = Some(Arc::new(crate::consensus::core::Finalized {
        block: genesis_block.clone(),
        outcome: Default::default(),
    }));
    if fresh {
        // Era 0's committee (and era 1's, if genesis elects it) proven under the genesis root.
        core.record_handoffs().await;
    }
    Ok((Arc::new(Mutex::new(core)), genesis_block))
}

/// The genesis block hash a spec gives (every transaction of the network signs over it),
/// computed by applying its genesis in a scratch directory under `scratch`, removed after.
pub fn genesis_hash(spec: &ChainSpec, scratch: &std::path::Path) -> Result<crate::Hash, NodeError> {
    let dir = scratch.join(format!("crust-genesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = commonware_runtime::tokio::Config::new()
        .with_worker_threads(1)
        .with_storage_directory(dir.clone());
    let spec = spec.clone();
    let result = commonware_runtime::tokio::Runner::new(runtime).start(|ctx| async move {
        open_chain(ctx.child("chain"), &spec, "genesis")
            .await
            .map(|(_, block)| block.hash())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A router serving every metric registered in the runtime (the node's own, Commonware's p2p,
/// consensus and storage metrics) as Prometheus text on `GET /metrics`.
fn metrics_router(ctx: &commonware_runtime::tokio::Context) -> axum::Router {
    use commonware_runtime::Metrics as _;
    let source = Arc::new(ctx.child("exporter"));
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = source.encode();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }
        }),
    )
}

/// Binds `addr` for `what` (the node refuses to start when it is taken) and serves `app` there.
async fn serve_http(
    ctx: &commonware_runtime::tokio::Context,
    what: &'static str,
    addr: SocketAddr,
    app: axum::Router,
) -> Result<(), NodeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::Listen(format!("{what} on {addr}: {e}")))?;
    tracing::info!(target: "crust::chain", "{what} on http://{addr}");
    ctx.child(what).spawn(move |_| async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

/// The exit code of a node that stopped following the chain (a finalized block it cannot
/// apply, such as one under a protocol version it does not speak).
pub const HALTED_EXIT_CODE: i32 = 3;

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The chain.
    pub spec: ChainSpec,
    /// Where state, blocks and consensus journals live.
    pub data_dir: PathBuf,
    /// The validator's session (consensus) key.
    pub session: Keypair,
    /// Address to listen on for the chain network.
    pub listen: SocketAddr,
    /// The address other nodes dial to reach this one (its public address behind NAT or a
    /// proxy); `None`: the listen address.
    pub public_addr: Option<Ingress>,
    /// Nodes dialed at start (the spec's bootnodes and any given on the command line); the rest
    /// of the network is found through them.
    pub bootnodes: Vec<Bootnode>,
    /// Address for JSON-RPC, if any.
    pub rpc: Option<SocketAddr>,
    /// Address for Prometheus metrics (`GET /metrics`), if any.
    pub metrics: Option<SocketAddr>,
    /// How the node's memory budget is divided.
    pub memory: NodeMemory,
    /// The newest protocol version to follow (see [`BuildLimits::max_protocol_version`]).
    pub max_protocol_version: u32,
    /// More HTTP routes served on the RPC address (the web console's `GET /` and assets),
    /// merged beside JSON-RPC's `POST /` and `/ws`.
    pub console: Option<axum::Router>,
}

/// Runs a node until the process is stopped.
pub fn run(config: NodeConfig) -> Result<(), NodeError> {
    check_data_format(&config.data_dir)?;
    let runtime = commonware_runtime::tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(config.data_dir.clone());
    commonware_runtime::tokio::Runner::new(runtime)
        .start(|ctx| async move { run_in(ctx, config).await })
}

async fn run_in(
    ctx: commonware_runtime::tokio::Context,
    config: NodeConfig,
) -> Result<(), NodeError> {
    let NodeConfig {
        spec,
        session,
        listen,
        public_addr,
        bootnodes,
        rpc,
        metrics: metrics_addr,
        memory,
        data_dir,
        max_protocol_version,
        console,
    } = config;
    tracing::info!(target: "crust::chain", "{}", memory.describe());
    let (core, genesis_block) =
        open_chain_with(ctx.child("chain"), &spec, "state", &memory).await?;
    let metrics = crate::metrics::ChainMetrics::register(&ctx.child("crust"));
    {
        let mut c = core.lock().await;
        c.metrics = Some(metrics.clone());
        c.limits.max_protocol_version = max_protocol_version;
    }
    tracing::info!(
        target: "crust::chain",
        "speaks protocol versions 1 to {max_protocol_version}"
    );
    if let Some(addr) = metrics_addr {
        serve_http(&ctx, "metrics", addr, metrics_router(&ctx)).await?;
    }
    let signer = consensus_key(&session);
    let ns = namespace(&spec.id);
    // The genesis committee is every genesis validator, however many seats later eras have.
    let seats = usize::try_from(spec.validator_count)
        .unwrap_or(usize::MAX)
        .max(spec.validators.len());
    let committee_size = seats.max(1);
    let mut bootstrappers = Vec::new();
    for b in bootnodes.iter().filter(|b| b.account != session.public()) {
        let key = crate::consensus::public_key_of(&b.account)
            .ok_or_else(|| NodeError::Peers(format!("{} is not an ed25519 key", b.account)))?;
        if !bootstrappers.iter().any(|(k, _)| *k == key) {
            bootstrappers.push((key, b.addr.clone()));
        }
    }
    let cap = crate::peers::max_peers_per_set(seats, bootstrappers.len());
    let mut p2p = discovery::Config::local(
        Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: signer.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        &ns,
        listen,
        public_addr.unwrap_or(Ingress::Socket(listen)),
        bootstrappers.clone(),
        std::num::NonZeroUsize::new(cap).unwrap_or(NZUsize!(4)),
        crate::consensus::node::max_message_size(committee_size),
        NZUsize!(1024),
    );
    p2p.tracked_peer_sets = NZUsize!(crate::peers::TRACKED_SETS);
    let (mut network, oracle) = discovery::Network::new(ctx.child("network"), p2p);
    let mut fixed = vec![session.public()];
    fixed.extend(bootnodes.iter().map(|b| b.account));
    ctx.child("peers").spawn({
        let (core, oracle) = (core.clone(), oracle.clone());
        move |ctx| crate::peers::track_eras(ctx, core, oracle, fixed, cap, Duration::from_secs(1))
    });
    let mut reg = |ch| network.register(ch, channel_quota(ch));
    let channels = Channels {
        votes: reg(CH_VOTES),
        certs: reg(CH_CERTS),
        resolver: reg(CH_RESOLVER),
        backfill: reg(CH_BACKFILL),
        broadcast: reg(CH_BROADCAST),
    };
    let (gossip_tx, gossip_rx) = reg(CH_TXS);
    network.start();
    // Transactions admitted from clients go to every other validator.
    let (outbox, queued) = crate::gossip::Outbox::new();
    core.lock().await.gossip = Some(outbox);
    ctx.child("gossip").spawn({
        let (core, blocker) = (core.clone(), oracle.clone());
        let max = crate::consensus::node::max_message_size(committee_size) as usize;
        move |ctx| crate::gossip::run(ctx, core, queued, gossip_tx, gossip_rx, blocker, max)
    });

    if let Some(addr) = rpc {
        let mut router = crate::rpc::router_with_metrics(core.clone(), Some(metrics.clone()));
        if let Some(console) = console {
            router = router.merge(console);
            tracing::info!(target: "crust::chain", "console on http://{addr}/");
        }
        serve_http(&ctx, "rpc", addr, router).await?;
    }
    // SIGTERM or Ctrl-C: say where the node stopped and exit. Everything the node keeps is
    // crash-safe (the state store, the block archive, the consensus journal), so stopping here
    // is a restart's clean starting point, not a repair.
    ctx.child("stop").spawn({
        let core = core.clone();
        move |_| async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            let (height, hash) = core.lock().await.last_finalized;
            tracing::info!(target: "crust::chain", "stopping at finalized #{height} {hash}");
            std::process::exit(0);
        }
    });
    // Progress: one line per finalized height change, at most every second; the mempool's size
    // for the metrics.
    let progress = core.clone();
    let gauges = metrics.clone();
    ctx.child("progress").spawn(move |ctx| async move {
        let mut last = u64::MAX;
        loop {
            ctx.sleep(Duration::from_secs(1)).await;
            let (height, hash) = {
                let c = progress.lock().await;
                gauges.mempool(c.mempool.len(), c.mempool.bytes());
                if let Some(why) = &c.halted {
                    // Stop rather than sit stalled: the message says what to do, and
                    // everything kept on disk is a clean point to resume from.
                    tracing::error!(target: "crust::chain", "stopping: {why}");
                    std::process::exit(HALTED_EXIT_CODE);
                }
                c.last_finalized
            };
            if height != last {
                tracing::info!(target: "crust::chain", "finalized #{height} {hash}");
                last = height;
            }
        }
    });
    let validator = ValidatorConfig {
        prefix: "node".into(),
        signer: signer.clone(),
        core,
        genesis: crate::consensus::app::genesis_digest(&genesis_block),
        genesis_block,
        era_blocks: NZU64!(1).max(
            std::num::NonZeroU64::new(spec.report_slot_blocks * spec.slots_per_era)
                .unwrap_or(NZU64!(1)),
        ),
        namespace: ns,
        timeouts: Timeouts::for_block_time(spec.block_time_ms),
        leftover_eras: crate::consensus::node::leftover_eras(&data_dir, "node"),
    };
    tracing::info!(
        target: "crust::chain",
        "node {} starting on {listen} ({} bootnodes, chain {})",
        signer.public_key(),
        bootstrappers.len(),
        spec.id
    );
    let handle = start_validator(
        ctx.child("validator"),
        validator,
        channels,
        oracle.clone(),
        oracle,
    )
    .await;
    let _ = handle.await;
    Ok(())
}
