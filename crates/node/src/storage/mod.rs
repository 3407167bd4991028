//! Storage on the chain from the command line: `crust order` places a storage order, `crust
//! file` shows a file's order and replicas, and `crust sworker` runs a storage worker that
//! follows the chain, fetches ordered files over Bitswap, seals them and reports every slot.

use crate::chain_client::ChainClient;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::repo::Repo;
use crust_ipfs::{Block, Cid};
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{AccountId, Keypair};
use crust_runtime::Call;
use crust_runtime::market::{self, FileInfo, MarketCall};
use crust_runtime::swork::{self, PubKeyInfo, SworkCall, WorkReportRecord, challenge};
use crust_sworker::duties::{Duty, SlotDuties, View};
use crust_sworker::orders::{Decision, Order, OrderBook, Standing, closed};
use crust_sworker::worker::WorkerError;
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod chain;
mod control;
mod fetch;
mod metrics;
mod order;
mod report;

pub(crate) use chain::replica_addrs;
use chain::*;
pub use control::control;
use control::*;
use fetch::*;
use order::provider_hints;
pub use order::{GroupCommand, OrderArgs, group, order, providers_memo_fitting};
use report::*;

/// How `crust sworker run` runs.
#[derive(clap::Args)]
pub struct SworkerArgs {
    /// The worker's account (pays fees, owns replicas) as a secret URI.
    #[arg(long)]
    pub account: String,
    /// Data directory (enclave, sealed files, SRD, state).
    #[arg(long, default_value = "./crust-data/sworker")]
    pub dir: std::path::PathBuf,
    /// Bytes for sealed files and SRD together (suffixes KiB, MiB, GiB, TiB).
    #[arg(long, default_value = "1GiB", value_parser = crate::parse_bytes)]
    pub capacity: u64,
    /// MiB per SRD unit (1024 = the reference's 1 GiB units).
    #[arg(long, default_value_t = 1024)]
    pub srd_unit_mib: u32,
    /// Bytes to keep free on the data disk.
    #[arg(long, default_value = "1GiB", value_parser = crate::parse_bytes)]
    pub reserve: u64,
    /// Memory budget (at least 64MiB): sizes the Bitswap send queue, and must hold the staging
    /// repository's block index; the worker warns when it grows past it.
    #[arg(long, default_value = "256MiB", value_parser = crate::parse_bytes)]
    pub memory: u64,
    /// A peer to fetch ordered files from (repeatable), e.g. the devnet's IPFS node.
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// Dev attestation authority (software enclave only; repeatable).
    #[arg(long = "dev-authority", default_value = "//Authority")]
    pub authorities: Vec<String>,
    /// Bitswap listen address (repeatable), e.g. `/ip4/0.0.0.0/tcp/4001` or
    /// `/ip4/0.0.0.0/udp/4001/quic-v1`.
    #[arg(long = "swarm-addr", default_value = "/ip4/127.0.0.1/tcp/0")]
    pub swarm_addrs: Vec<String>,
    /// DHT bootstrap peer (repeatable; `default`: Kubo's public bootstrap peers); sealed files
    /// are announced on the DHT.
    #[arg(long = "bootstrap")]
    pub bootstrap: Vec<String>,
    /// Address others should dial instead of the listen address (repeatable). It goes into
    /// DHT provider records and the chain's peer record for this worker's replicas.
    #[arg(long = "announce")]
    pub announce: Vec<String>,
    /// Orders that already have this many replicas are not taken.
    #[arg(long, default_value_t = 16)]
    pub replica_target: usize,
    /// Orders whose tip is below this (e.g. `0.01 CRU`) are not taken; among the rest, higher
    /// tips are stored first.
    #[arg(long, default_value = "0 CRU")]
    pub min_tip: String,
    /// Take the RPC node's word for an era's committee this worker has not learned by proof
    /// (needed once after being offline across a whole era change; otherwise only the first
    /// committee is taken on trust).
    #[arg(long)]
    pub trust_node_committee: bool,
    /// Keep this much reserved as market collateral (e.g. `100 CRU`): replica rewards are
    /// only credited while collateral covers them.
    #[arg(long, default_value = "0 CRU")]
    pub collateral: String,
    /// Control API address (status for anyone on this host; changes need the token).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub control_addr: String,
    /// HTTP gateway address (`/ipfs/<cid>`, trustless and path gateway) serving this node's
    /// sealed replicas; the bound address is written to `<dir>/gateway`. Off unless given.
    #[arg(long)]
    pub gateway_addr: Option<String>,
    /// Chain RPC.
    #[arg(long, default_value = "http://127.0.0.1:9933")]
    pub chain: String,
}

/// How long one dial of a fetch's hints may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the worker checks its own peer record on chain.
const PEER_REFRESH: Duration = Duration::from_secs(20);
/// How long a sent peer record has to land before it is sent again.
const PEER_RESEND: Duration = Duration::from_secs(120);
/// How often the replica holders are reloaded from the chain's peer records.
const HOLDERS_REFRESH: Duration = Duration::from_secs(60);

/// Most blocks followed between two finality checks.
const FOLLOW_BATCH: u64 = 512;

/// What the worker remembers between runs besides the worker's own state and its order book
/// (both kept in `follow.json`, as one object).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Follow {
    /// Last finalized block whose transactions were read.
    height: u64,
    /// Hash of the block at `height` (the next block must extend it).
    #[serde(default)]
    last_hash: Option<String>,
    /// The committees whose finality certificates this worker accepts.
    #[serde(default)]
    trust: crate::chain_client::Trust,
}

/// The follow state and the order book from `follow.json` (defaults if absent or unreadable).
fn load_follow(path: &Path) -> (Follow, OrderBook) {
    let value: serde_json::Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (
        serde_json::from_value(value.clone()).unwrap_or_default(),
        serde_json::from_value(value).unwrap_or_default(),
    )
}

/// Writes both into `follow.json` atomically (a temporary file renamed over it).
fn save_follow(path: &Path, follow: &Follow, book: &OrderBook) -> Result<(), String> {
    let mut value = serde_json::to_value(follow).map_err(|e| e.to_string())?;
    if let (Some(out), serde_json::Value::Object(orders)) = (
        value.as_object_mut(),
        serde_json::to_value(book).map_err(|e| e.to_string())?,
    ) {
        out.extend(orders);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&value).map_err(|e| e.to_string())?)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn node_secret(dir: &Path) -> Result<[u8; 32], String> {
    let path = dir.join("node.secret");
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| format!("{} must hold 32 bytes", path.display())),
        Err(_) => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
            std::fs::write(&path, secret).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(secret)
        }
    }
}

/// `crust sworker`: runs until killed.
pub fn sworker(args: SworkerArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let account = crate::keys::signer(&args.account)?;
    let authorities = args
        .authorities
        .iter()
        .map(|a| Keypair::from_suri(a).map_err(|e| format!("--dev-authority {a}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let enclave = Arc::new(
        SoftwareEnclave::open(
            &args.dir.join("enclave"),
            &node_secret(&args.dir)?,
            authorities,
        )
        .map_err(|e| e.to_string())?,
    );
    let config = WorkerConfig {
        dir: args.dir.join("worker"),
        srd: SrdConfig {
            paths: vec![args.dir.join("srd")],
            reserve_bytes: args.reserve,
            leaves_per_unit: args.srd_unit_mib.max(1),
        },
        capacity_bytes: args.capacity,
    };
    let mut worker = Worker::open(config, enclave.clone()).map_err(|e| e.to_string())?;
    let staging = Arc::new(Repo::open(args.dir.join("staging")).map_err(|e| e.to_string())?);
    let blocks = staging.store().len() as u64;
    let memory = crate::memory::ContentMemory::plan("storage worker", args.memory, blocks)?;
    crate::memory::watch("storage worker", args.memory);
    let client = ChainClient::new(&args.chain)?;
    // The node may still be starting: wait up to a minute for its RPC.
    let deadline = Instant::now() + Duration::from_secs(60);
    let config = loop {
        match client
            .read::<crust_runtime::system::RuntimeConfig>(&crust_runtime::system::config_key())
        {
            Ok(c) => break c.ok_or("the chain has no runtime config")?,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    let slot_blocks = config.report_slot_blocks.max(1);

    // The data network: fetch ordered files, serve sealed replicas.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let key_seed = crust_ipfs::identity::NodeKey::load_or_create(&args.dir)
        .map_err(|e| format!("node key: {e}"))?
        .seed();
    let listen = args
        .swarm_addrs
        .iter()
        .map(|a| a.parse().map_err(|e| format!("--swarm-addr {a}: {e}")))
        .collect::<Result<Vec<_>, String>>()?;
    let served: Arc<dyn Blockstore> = Arc::new(Served {
        sealed: worker.sealed_handle(),
        staging: staging.clone(),
    });
    let (host, exchange) = rt.block_on(async {
        let host = crust_net::Host::start(crust_net::NetConfig {
            key_seed,
            listen,
            bootstrap: crust_net::bootstrap_addrs(&args.bootstrap)?,
            announce: args
                .announce
                .iter()
                .map(|a| a.parse().map_err(|e| format!("--announce {a}: {e}")))
                .collect::<Result<_, String>>()?,
        })
        .await
        .map_err(|e| e.to_string())?;
        let exchange = crust_net::Exchange::start_with(host.clone(), served.clone(), &memory.net);
        Ok::<_, String>((host, exchange))
    })?;
    let net = Net {
        rt,
        host,
        exchange,
        staging,
        peers: args.peers.clone(),
    };
    let swarm: Vec<String> = net
        .host
        .listen_addrs()
        .iter()
        .map(|a| format!("{a}/p2p/{}", net.host.peer_id()))
        .collect();
    // Where to fetch this node's replicas from, for scripts and the devnet.
    std::fs::write(args.dir.join("swarm"), swarm.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    tracing::info!(
        target: "crust::sworker", "account {}, enclave {}, Bitswap on {}",
        account.public().to_ss58(),
        crust_primitives::account::to_hex(&enclave.public_key()),
        swarm.join(" ")
    );
    tracing::info!(target: "crust::sworker", "{}", memory.describe(blocks));

    if let Some(addr) = &args.gateway_addr {
        let source = crust_ipfs::gateway::Source::new(served.clone(), args.dir.join("staging"));
        let bound = serve_gateway(&net.rt, addr, source, &args.dir)?;
        tracing::info!(target: "crust::sworker", "gateway on http://{bound}/ipfs/<cid>");
    }

    register(&client, &account, enclave.as_ref())?;
    ensure_collateral(&client, &account, &args.collateral)?;
    let added = worker.fill_srd().map_err(|e| e.to_string())?;
    tracing::info!(
        target: "crust::sworker", "SRD {} MiB ({added} units added)",
        worker.srd().size() >> 20
    );

    // The control API (D27): status for anyone on localhost, changes with the token.
    let status = Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    let (commands, inbox) = std::sync::mpsc::channel::<Control>();
    let control_addr = start_control(&net, &args, status.clone(), commands)?;
    tracing::info!(
        target: "crust::sworker", "control API on http://{control_addr} (token in {})",
        args.dir.join("control.token").display()
    );

    let follow_path = args.dir.join("follow.json");
    let (mut follow, mut book) = load_follow(&follow_path);
    follow.trust.allow_unproven = args.trust_node_committee;
    // When to report, resend, prove and validate (a state machine; heights are its clock).
    let mut duties = SlotDuties::new(enclave.public_key(), slot_blocks);
    // The report sent this slot, resent with fresh answers if the chain did not take it
    // (D14: the same report again is a no-op once one copy landed).
    let mut sent: Option<SentReport> = None;
    // Files whose replica may be pending on chain (D30): checked and proven until proven.
    let mut to_prove: std::collections::BTreeSet<Cid> =
        worker.sealed().files().iter().map(|f| f.cid()).collect();
    let mut proof_sent: BTreeMap<Cid, Instant> = BTreeMap::new();
    let mut repaired = (0u64, 0u64);
    // Files found damaged and not yet re-sealed (retried every slot).
    let mut lost: std::collections::BTreeSet<Cid> = std::collections::BTreeSet::new();
    let min_tip = crust_primitives::balance::parse_balance(&args.min_tip)
        .map_err(|e| format!("--min-tip: {e}"))?;
    // The order policy's clock: milliseconds since the worker started.
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The chain's peer records: this worker's own, kept in step with its addresses (checked
    // every PEER_REFRESH, not re-sent within PEER_RESEND), and the replica holders the server
    // credits first (reloaded every HOLDERS_REFRESH, as every worker pages through them all).
    let mut peer_checked: Option<Instant> = None;
    let mut peer_sent: Option<Instant> = None;
    let mut holders_loaded: Option<Instant> = None;
    let me = account.public();
    // One pass: commands, follow, store, report, validate. A failed pass (the chain node
    // restarting, say) is retried; the worker's own state is always consistent on disk.
    let mut step = || -> Result<(), String> {
        // Operator commands from the control API.
        while let Ok(command) = inbox.try_recv() {
            match command {
                Control::Capacity(bytes, reply) => {
                    let _ = reply.send(worker.set_capacity(bytes).map_err(|e| e.to_string()));
                }
            }
        }
        // 1. Follow finalized blocks for orders: up to a block whose finality certificate checks
        // out against its era's committee, every block linked to it by parent hashes, so the
        // RPC node is not trusted with what is final.
        let tip = client.head()?;
        if follow.height < tip.height {
            let target = tip.height.min(follow.height + FOLLOW_BATCH);
            let certified = client.certified(&mut follow.trust, target)?;
            let mut linker = crust_client::Linker::new(
                follow
                    .last_hash
                    .as_deref()
                    .and_then(crust_chain::Hash::from_hex),
            );
            for h in follow.height + 1..=certified.height {
                match client.block(h) {
                    Ok(block) => linker.push(h, block)?,
                    // Older than the node keeps: dropped unread (orders there are not seen).
                    Err(e) => {
                        tracing::warn!(target: "crust::sworker", "block {h}: {e}; skipping to the blocks after it");
                        linker.gap();
                    }
                }
            }
            let blocks = linker.finish(&certified)?;
            if let Err(e) = client.learn_next_committee(&mut follow.trust, certified.era) {
                tracing::warn!(target: "crust::sworker", "learning the next committee: {e}");
            }
            for (next, block) in blocks {
                for (tx, ok) in block.txs {
                    // Orders placed directly or by a delegate for its payer alike.
                    if let (true, Call::Market(call)) = (ok, &tx.unsigned.call)
                        && let Some(o) = call.order()
                    {
                        let order = Order {
                            cid: *o.cid,
                            file_size: o.file_size,
                            tip: o.tips,
                            hints: provider_hints(o.memo),
                        };
                        book.ingest(order, next, slot_blocks);
                    }
                }
            }
            follow.height = certified.height;
            follow.last_hash = Some(certified.hash.to_hex());
        }
        let head_height = follow.height;
        save_follow(&follow_path, &follow, &book)?;

        // 2. Store queued files (fetch over Bitswap, seal), with back-off on failure; once a
        // slot, orders passed over before are looked at again.
        book.new_slot(head_height / slot_blocks * slot_blocks);
        let group = my_group(&client, &account.public())?;
        for cid in book.candidates(now_ms()) {
            let info = client.read::<FileInfo>(&market::file_key(&cid))?;
            let standing = Standing {
                me,
                group: group.clone(),
                replica_target: args.replica_target,
                room: worker.capacity().saturating_sub(worker.files_bytes()),
                min_tip,
                head: head_height,
                slot_blocks,
            };
            let order_hints = match book.decide(&cid, info.as_ref(), &standing) {
                Decision::Store(hints) => hints,
                Decision::Wait { why, first } => {
                    if first {
                        tracing::info!(target: "crust::sworker", "not storing {cid} for now: {why}");
                    }
                    continue;
                }
                Decision::Forget(why) => {
                    tracing::info!(target: "crust::sworker", "not storing {cid}: {why}");
                    continue;
                }
            };
            // The chain's replica holders first, then the order's provider hints.
            let mut hints = replica_addrs(&client, info.as_ref(), &me);
            hints.extend(order_hints);
            let commitment = info.as_ref().map(|f| f.commitment);
            match net.store(&mut worker, cid, commitment.as_ref(), &hints) {
                Ok(size) => {
                    tracing::info!(target: "crust::sworker", "sealed {cid} ({size} bytes)");
                    metrics::add(&metrics::COUNTERS.files_stored, 1);
                    to_prove.insert(cid);
                    book.stored(&cid);
                }
                Err(StoreFailure::Retry(e)) => {
                    tracing::warn!(
                        target: "crust::sworker", "{cid}: {e}; retrying in {} s",
                        crust_sworker::orders::RETRY_AFTER_MS / 1000
                    );
                    book.retry_later(&cid, now_ms());
                }
                Err(StoreFailure::Refuse(e)) => {
                    // D29: never store or report content other than what was ordered; the
                    // chain refunds such an order once it stays unreplicated (D8).
                    tracing::warn!(target: "crust::sworker", "refusing {cid}: {e}");
                    book.refused(&cid, e);
                    metrics::add(&metrics::COUNTERS.orders_refused, 1);
                }
            }
        }
        save_follow(&follow_path, &follow, &book)?;

        // 3. Report once per slot, once block `slot` is finalized (its hash is known).
        let slot = head_height / slot_blocks * slot_blocks;
        let record = client.read::<WorkReportRecord>(&swork::report_key(&anchor(
            &client,
            &enclave.public_key(),
        )?))?;
        let accepted = record.as_ref().map(|r| r.report_hash);
        // Settle the pending report once it landed, or once its slot is over (then its
        // changes go into the next report, built from what the chain did accept).
        if let Some(pending_slot) = worker.pending_slot() {
            let landed = accepted.is_some() && accepted == worker.pending_hash();
            if landed || slot > pending_slot {
                if worker.reconcile(accepted).map_err(|e| e.to_string())? {
                    tracing::info!(target: "crust::sworker", "report for slot {pending_slot} accepted");
                    metrics::add(&metrics::COUNTERS.reports_accepted, 1);
                } else {
                    tracing::warn!(target: "crust::sworker", "report for slot {pending_slot} was not accepted");
                    metrics::add(&metrics::COUNTERS.reports_not_accepted, 1);
                }
            }
        }
        // The peer records: ours once this worker has an identity (it has reported), so
        // fetchers find its replicas; everyone's, so the server credits replica holders.
        if record.is_some()
            && peer_checked.is_none_or(|t| t.elapsed() >= PEER_REFRESH)
            && peer_sent.is_none_or(|t| t.elapsed() >= PEER_RESEND)
        {
            peer_checked = Some(Instant::now());
            let own = own_peer_record(&net.host);
            let on_chain = client.read::<swork::PeerRecord>(&swork::peer_key(&me))?;
            if on_chain.as_ref() != Some(&own) {
                peer_sent = Some(Instant::now());
                // The node key signs the binding, so no one else can claim this peer ID.
                let signature =
                    Keypair::from_seed(&key_seed).sign(&swork::peer_binding_payload(&me, &own));
                let call = SworkCall::SetPeer {
                    record: own,
                    signature,
                };
                match client.submit(&account, Call::Swork(call)) {
                    Ok(_) => {
                        tracing::info!(target: "crust::sworker", "announcing peer {} on chain", net.host.peer_id())
                    }
                    Err(e) => {
                        tracing::warn!(target: "crust::sworker", "announcing the peer record: {e}")
                    }
                }
            }
        }
        if holders_loaded.is_none_or(|t| t.elapsed() >= HOLDERS_REFRESH) {
            holders_loaded = Some(Instant::now());
            match replica_holders(&client) {
                Ok(holders) => {
                    let mine = net.host.peer_id();
                    let others = holders.into_iter().filter(|p| *p != mine);
                    net.exchange.ledger().set_replica_holders(others);
                }
                Err(e) => tracing::warn!(target: "crust::sworker", "reading replica holders: {e}"),
            }
        }
        let due = duties.due(View {
            head: head_height,
            on_chain: record.as_ref().map(|r| r.report_slot),
        });
        let my_anchor = anchor(&client, &enclave.public_key())?;
        let owner = group.as_ref().map_or(me, |(o, _)| *o);
        for duty in due {
            match duty {
                // Files whose order expired or disappeared go just before the report (which
                // then lists them as deleted, and the space goes back to SRD).
                Duty::DropClosed => {
                    for file in worker.sealed().files() {
                        let cid = file.cid();
                        let info = client.read::<FileInfo>(&market::file_key(&cid))?;
                        if let Some(why) = closed(info.as_ref(), head_height) {
                            worker.drop_file(&cid).map_err(|e| e.to_string())?;
                            tracing::info!(target: "crust::sworker", "dropped {cid}: {why}");
                        }
                    }
                }
                // D30: new replicas earn once proven; prove them as soon as their seed block
                // is final.
                Duty::Prove => {
                    if let Err(e) = prove_pending(
                        &client,
                        &account,
                        &worker,
                        &my_anchor,
                        &owner,
                        head_height,
                        &mut to_prove,
                        &mut proof_sent,
                    ) {
                        tracing::warn!(target: "crust::sworker", "proving new replicas: {e}");
                    }
                }
                Duty::Report { slot } => {
                    // After a missed report the chain dropped this identity's files: report
                    // them anew.
                    if let Some(r) = &record
                        && worker
                            .sync_reported(r.reported_files_size, r.files_root)
                            .map_err(|e| e.to_string())?
                    {
                        tracing::warn!(
                            target: "crust::sworker", "the chain dropped this node's replicas after a missed report; reporting every file again"
                        );
                        to_prove.extend(worker.sealed().files().iter().map(|f| f.cid()));
                    }
                    let hash = client.block(slot)?.hash.0;
                    let (report, signature) = worker
                        .prepare_report(slot, hash)
                        .map_err(|e| e.to_string())?;
                    let mut this = SentReport {
                        slot,
                        slot_hash: hash,
                        report,
                        signature,
                    };
                    repaired.0 += send_report(
                        &client,
                        &account,
                        &mut worker,
                        &net,
                        &my_anchor,
                        &me,
                        &mut this,
                    );
                    sent = Some(this);
                    duties.sent(slot, head_height);
                }
                // Not taken (a replica list that moved under the answers, a node that dropped
                // the transaction): the same report with fresh answers.
                Duty::Resend { slot, waited } => {
                    if let Some(this) = sent.as_mut().filter(|s| s.slot == slot) {
                        tracing::warn!(
                            target: "crust::sworker", "report for slot {slot} not on chain after {waited} blocks; sending it again"
                        );
                        repaired.0 += send_report(
                            &client,
                            &account,
                            &mut worker,
                            &net,
                            &my_anchor,
                            &me,
                            this,
                        );
                    }
                    duties.sent(slot, head_height);
                }
                // Seeded by the slot's block hash; what failed is repaired.
                Duty::Validate { slot } => {
                    let seed = client.block(slot)?.hash.0;
                    match worker.validate(&seed, 16) {
                        Ok(found) => {
                            for unit in &found.srd_repaired {
                                tracing::warn!(target: "crust::sworker", "SRD unit {unit} was damaged; refilled");
                            }
                            repaired.1 += found.srd_repaired.len() as u64;
                            lost.extend(found.files_lost);
                            for cid in lost.clone() {
                                let info = client.read::<FileInfo>(&market::file_key(&cid))?;
                                let holders = replica_addrs(&client, info.as_ref(), &me);
                                match net.repair(&mut worker, cid, &holders) {
                                    Ok(()) => {
                                        repaired.0 += 1;
                                        lost.remove(&cid);
                                        tracing::warn!(target: "crust::sworker", "{cid} was damaged; re-fetched and re-sealed");
                                    }
                                    Err(e) => {
                                        tracing::warn!(target: "crust::sworker", "{cid} is damaged and not yet repaired: {e}")
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(target: "crust::sworker", "validation: {e}"),
                    }
                    duties.validated(slot);
                }
            }
        }

        // D31: how this identity was attested, and whether its SRD counts toward stake limits.
        let attestation = client
            .read::<swork::Identity>(&swork::identity_key(&me))?
            .map(|i| i.attestation);
        let swork_params: swork::SworkParams =
            client.read(&swork::params_key())?.unwrap_or_default();
        *status.lock().unwrap_or_else(|p| p.into_inner()) = serde_json::json!({
            "account": account.public().to_ss58(),
            "enclave": crust_primitives::account::to_hex(&enclave.public_key()),
            "chain_height": head_height,
            "report_slot_blocks": slot_blocks,
            "files": worker.sealed().files().len(),
            "files_bytes": worker.files_bytes(),
            "queued": book.queued().count(),
            // Per state: valid (sealed and reported), lost (damaged, being re-fetched),
            // dropping (order ended, kept until no report commits to it), pending (ordered,
            // not stored yet), watching (passed over, looked at again each slot).
            "files_valid": worker.sealed().files().len().saturating_sub(lost.len() + worker.dropping().len()),
            "files_lost": lost.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "files_dropping": worker.dropping().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "files_pending": book.queued().map(|c| c.to_string()).collect::<Vec<_>>(),
            "files_watching": book.watching(),
            // The last orders refused because their content is not what they committed to.
            "files_refused": book.refused_orders().map(|(cid, why)| serde_json::json!({"cid": cid.to_string(), "reason": why})).collect::<Vec<_>>(),
            "disk_free_bytes": crust_sworker::srd::free_bytes(&args.dir).ok(),
            "srd_bytes": worker.srd().size(),
            "attestation": attestation.map(|k| k.name()),
            "srd_counts": attestation.is_some_and(|k| swork_params.srd_counts(k)),
            "capacity_bytes": worker.capacity(),
            "last_report_slot": duties.last_report_slot(),
            "last_accepted_slot": record.map(|r| r.report_slot),
            "files_repaired": repaired.0,
            "peer_id": net.host.peer_id().to_string(),
            // Other workers' peers the chain shows holding replicas: served first and most.
            "replica_holder_peers": net.exchange.ledger().replica_holders().iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "serve_queue": { "in_flight_bytes": net.exchange.serve_queue().in_flight(), "waiting": net.exchange.serve_queue().waiting() },
            "srd_units_repaired": repaired.1,
        });
        Ok(())
    };
    // SIGTERM or Ctrl-C: finish the step under way (a seal, a report), then stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    net.rt.spawn({
        let stop = stop.clone();
        async move {
            wait_for_stop_signal().await;
            tracing::info!(target: "crust::sworker", "stopping after the current step");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(target: "crust::sworker", "stopped");
            return Ok(());
        }
        match step() {
            Ok(()) => std::thread::sleep(Duration::from_millis(500)),
            Err(e) => {
                tracing::warn!(target: "crust::sworker", "{e}; retrying");
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Resolves on SIGTERM (a service manager stopping the role) or Ctrl-C.
pub(crate) async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
