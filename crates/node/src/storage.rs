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
use crust_sworker::worker::WorkerError;
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first line of an order memo that carries provider hints; each further line is a
/// multiaddr (ending in `/p2p/<peer id>`) of a node that holds the file. Storage workers fetch
/// from these besides their own peers and the DHT, so a file added to any IPFS node (Kubo,
/// Helia, …) can be ordered before it is announced anywhere.
const PROVIDERS_MEMO: &str = "crust/providers/v1";

/// The memo for `providers` (at most the chain's 256 bytes).
fn providers_memo(providers: &[String]) -> Result<Vec<u8>, String> {
    if providers.is_empty() {
        return Ok(Vec::new());
    }
    for p in providers {
        let addr: crust_net::Multiaddr = p.parse().map_err(|e| format!("--provider {p}: {e}"))?;
        if !addr
            .iter()
            .any(|c| matches!(c, crust_net::multiaddr::Protocol::P2p(_)))
        {
            return Err(format!("--provider {p}: must end in /p2p/<peer id>"));
        }
    }
    let memo = std::iter::once(PROVIDERS_MEMO.to_owned())
        .chain(providers.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    if memo.len() > 256 {
        return Err(format!(
            "the provider addresses take {} bytes; an order memo holds 256",
            memo.len()
        ));
    }
    Ok(memo.into_bytes())
}

/// The provider hints in an order memo (none if it is not a providers memo).
fn provider_hints(memo: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(memo) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some(PROVIDERS_MEMO) {
        return Vec::new();
    }
    lines
        .filter(|l| l.parse::<crust_net::Multiaddr>().is_ok())
        .map(str::to_owned)
        .collect()
}

/// What `crust order` orders.
pub struct OrderArgs<'a> {
    /// Chain RPC.
    pub chain: &'a str,
    /// The IPFS node to size the file with.
    pub api: &'a str,
    /// The payer.
    pub from: &'a str,
    /// The root CID.
    pub cid: &'a str,
    /// The size, if given.
    pub size: Option<u64>,
    /// A local copy of the file to size it from.
    pub file: Option<&'a Path>,
    /// Tips.
    pub tips: &'a str,
    /// Nodes holding the file.
    pub providers: &'a [String],
    /// The content commitment (`0xROOT:SIZE`), if given.
    pub commitment: Option<&'a str>,
}

/// `crust order CID`: places a storage order signed by `--from`. The size is `--size`, or
/// computed from `--file` (which must import to the same CID), or the DAG's as the IPFS node at
/// `api` reports it — what storage workers will report. `--provider` addresses go into the memo.
pub fn order(args: OrderArgs<'_>) -> Result<(), String> {
    let cid: Cid = args.cid.parse().map_err(|e| format!("{}: {e}", args.cid))?;
    let size = match (args.size, args.file) {
        (Some(s), _) => s,
        (None, Some(path)) => {
            let (root, size) = crate::content::file_dag(path)?;
            if root != cid {
                return Err(format!(
                    "{} imports to {root} with `ipfs add` defaults, not {cid}; give --size",
                    path.display()
                ));
            }
            size
        }
        (None, None) => crate::content::dag_size(args.api, &cid)?,
    };
    let signer = crate::keys::signer(args.from)?;
    let tips =
        crust_primitives::balance::parse_balance(args.tips).map_err(|e| format!("--tips: {e}"))?;
    let client = ChainClient::new(args.chain)?;
    let commitment = match (args.commitment, args.file) {
        (Some(text), _) => text.parse().map_err(|e| format!("--commitment: {e}"))?,
        (None, Some(path)) => crate::content::file_commitment(path)?.1,
        (None, None) => crate::content::commitment_via_api(args.api, &cid).map_err(|e| {
            format!("{e}; give --commitment 0xROOT:SIZE (`crust ipfs commitment {cid}` prints it)")
        })?,
    };
    let call = Call::Market(MarketCall::PlaceStorageOrder {
        cid,
        file_size: size,
        tips,
        memo: providers_memo(args.providers)?,
        commitment,
    });
    let (hash, height) = client.submit_and_wait(&signer, call)?;
    println!("{hash}");
    eprintln!(
        "order for {cid} ({size} bytes) placed in block {height}; watch it with  crust status {cid}"
    );
    Ok(())
}

/// Storage-owner groups (D19): several workers' storage counts for one owner.
#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Make the signing account a group owner.
    Create,
    /// Allow an account to join the signer's group.
    Allow {
        /// The member account (SS58, 0x-hex or secret URI).
        member: String,
    },
    /// Withdraw an allowance.
    Disallow {
        /// The member account.
        member: String,
    },
    /// Join a group (the signer is the worker's account; it must have no spower of its own).
    Join {
        /// The group owner.
        owner: String,
    },
    /// Leave the signer's group.
    Quit,
    /// Remove a member from the signer's group.
    Kick {
        /// The member account.
        member: String,
    },
}

/// `crust group …`: one sWork group call, waiting for its receipt.
pub fn group(command: GroupCommand, from: &str, chain: &str) -> Result<(), String> {
    let signer = crate::keys::signer(from)?;
    let account =
        |text: &str| crust_chain::spec::parse_account(text).map_err(|e| format!("{text}: {e}"));
    let call = match command {
        GroupCommand::Create => SworkCall::CreateGroup {},
        GroupCommand::Allow { member } => SworkCall::AddMemberIntoAllowlist {
            target: account(&member)?,
        },
        GroupCommand::Disallow { member } => SworkCall::RemoveMemberFromAllowlist {
            target: account(&member)?,
        },
        GroupCommand::Join { owner } => SworkCall::JoinGroup {
            owner: account(&owner)?,
        },
        GroupCommand::Quit => SworkCall::QuitGroup {},
        GroupCommand::Kick { member } => SworkCall::KickOut {
            member: account(&member)?,
        },
    };
    let (tx, height) = ChainClient::new(chain)?.submit_and_wait(&signer, Call::Swork(call))?;
    println!("{tx}");
    eprintln!("included in block {height}");
    Ok(())
}

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

/// Reads from the sealed replicas first, then the staging repository; writes go to staging.
/// The exchange serves both, so the worker serves what it holds to anyone on IPFS.
struct Served {
    sealed: Arc<crust_sworker::SealedStore>,
    staging: Arc<Repo>,
}

impl Blockstore for Served {
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        match self.sealed.get(cid)? {
            Some(b) => Ok(Some(b)),
            None => self.staging.get(cid),
        }
    }
    fn get_unverified(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        match self.sealed.get(cid)? {
            Some(b) => Ok(Some(b)),
            None => self.staging.get_unverified(cid),
        }
    }
    fn has(&self, cid: &Cid) -> bool {
        self.sealed.has(cid) || self.staging.has(cid)
    }
    fn size(&self, cid: &Cid) -> Option<u64> {
        self.sealed.size(cid).or_else(|| self.staging.size(cid))
    }
    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.staging.put(block)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.staging.sync()
    }
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

/// What the worker remembers between runs besides the worker's own state.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Follow {
    /// Last finalized block whose transactions were read.
    height: u64,
    /// Ordered files not yet stored, with the size ordered.
    queue: BTreeMap<String, u64>,
    /// Provider hints from the orders' memos, by CID.
    #[serde(default)]
    hints: BTreeMap<String, Vec<String>>,
    /// Live orders not taken (enough replicas, no room), looked at again every slot.
    #[serde(default)]
    watch: BTreeMap<String, u64>,
    /// The slot the watch list was last looked at.
    #[serde(default)]
    watched_slot: u64,
    /// The report slot each queued order was first seen in (for the group's rendezvous order).
    #[serde(default)]
    first_seen: BTreeMap<String, u64>,
    /// The largest tip offered for each queued order.
    #[serde(default)]
    tips: BTreeMap<String, u128>,
    /// Hash of the block at `height` (the next block must extend it).
    #[serde(default)]
    last_hash: Option<String>,
    /// The committees whose finality certificates this worker accepts.
    #[serde(default)]
    trust: crate::chain_client::Trust,
}

impl Follow {
    /// Drops everything kept for an order: stored, refused, or not to be stored.
    fn done_with(&mut self, cid: &str) {
        self.queue.remove(cid);
        self.watch.remove(cid);
        self.hints.remove(cid);
        self.first_seen.remove(cid);
        self.tips.remove(cid);
    }
}

fn load_follow(path: &Path) -> Follow {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_follow(path: &Path, follow: &Follow) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(follow).map_err(|e| e.to_string())?)
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
    eprintln!(
        "sworker: account {}, enclave {}, Bitswap on {}",
        account.public().to_ss58(),
        crust_primitives::account::to_hex(&enclave.public_key()),
        swarm.join(" ")
    );
    eprintln!("sworker: {}", memory.describe(blocks));

    if let Some(addr) = &args.gateway_addr {
        let source = crust_ipfs::gateway::Source::new(served.clone(), args.dir.join("staging"));
        let bound = serve_gateway(&net.rt, addr, source, &args.dir)?;
        eprintln!("sworker: gateway on http://{bound}/ipfs/<cid>");
    }

    register(&client, &account, enclave.as_ref())?;
    ensure_collateral(&client, &account, &args.collateral)?;
    let added = worker.fill_srd().map_err(|e| e.to_string())?;
    eprintln!(
        "sworker: SRD {} MiB ({added} units added)",
        worker.srd().size() >> 20
    );

    // The control API (D27): status for anyone on localhost, changes with the token.
    let status = Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    let (commands, inbox) = std::sync::mpsc::channel::<Control>();
    let control_addr = start_control(&net.rt, &args, status.clone(), commands)?;
    eprintln!(
        "sworker: control API on http://{control_addr} (token in {})",
        args.dir.join("control.token").display()
    );

    let follow_path = args.dir.join("follow.json");
    let mut follow = load_follow(&follow_path);
    follow.trust.allow_unproven = args.trust_node_committee;
    let mut last_report_slot = None;
    // The report sent this slot, resent with fresh answers if the chain did not take it
    // (D14: the same report again is a no-op once one copy landed).
    let mut sent: Option<SentReport> = None;
    let mut last_validated_slot = None;
    // Files whose replica may be pending on chain (D30): checked and proven until proven.
    let mut to_prove: std::collections::BTreeSet<Cid> =
        worker.sealed().files().iter().map(|f| f.cid()).collect();
    let mut proof_sent: BTreeMap<Cid, Instant> = BTreeMap::new();
    let mut repaired = (0u64, 0u64);
    // Files found damaged and not yet re-sealed (retried every slot).
    let mut lost: std::collections::BTreeSet<Cid> = std::collections::BTreeSet::new();
    let min_tip = crust_primitives::balance::parse_balance(&args.min_tip)
        .map_err(|e| format!("--min-tip: {e}"))?;
    let mut retry_at: BTreeMap<String, Instant> = BTreeMap::new();
    // Orders refused for content other than what was ordered (D29), newest last, for the
    // operator's status; the chain refunds such an order once it stays unreplicated (D8).
    let mut refused: std::collections::VecDeque<(String, String)> = Default::default();
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
            let mut blocks: Vec<(u64, crate::chain_client::BlockTxs)> = Vec::new();
            let mut parent = follow
                .last_hash
                .as_deref()
                .and_then(crust_chain::Hash::from_hex);
            for h in follow.height + 1..=certified.height {
                match client.block(h) {
                    Ok(block) => {
                        if block.header.height != h {
                            return Err(format!(
                                "the node sent block {} for height {h}",
                                block.header.height
                            ));
                        }
                        if let Some(p) = parent
                            && block.header.parent != p
                        {
                            return Err(format!(
                                "block {h} does not extend the followed block {p}: refusing the RPC node's chain"
                            ));
                        }
                        parent = Some(crust_chain::Hash(block.hash));
                        blocks.push((h, block));
                    }
                    // Older than the node keeps: what came before cannot be linked to the
                    // certified block, so it is dropped unread (orders there are not seen).
                    Err(e) => {
                        eprintln!("sworker: block {h}: {e}; skipping to the blocks after it");
                        blocks.clear();
                        parent = None;
                    }
                }
            }
            match blocks.last() {
                Some((_, last)) if last.hash != certified.hash => {
                    return Err(format!(
                        "block {} is not the block its finality certificate names",
                        certified.height
                    ));
                }
                Some((_, last))
                    if last.header.era != certified.era && last.header.era + 1 != certified.era =>
                {
                    return Err(format!(
                        "block {} of era {} is certified by era {}",
                        certified.height, last.header.era, certified.era
                    ));
                }
                _ => {}
            }
            if let Err(e) = client.learn_next_committee(&mut follow.trust, certified.era) {
                eprintln!("sworker: {e}");
            }
            for (next, block) in blocks {
                for (tx, ok) in block.txs {
                    if let (
                        true,
                        Call::Market(MarketCall::PlaceStorageOrder {
                            cid,
                            file_size,
                            memo,
                            tips,
                            ..
                        }),
                    ) = (ok, tx.unsigned.call)
                    {
                        follow.queue.insert(cid.to_string(), file_size);
                        let tip = follow.tips.entry(cid.to_string()).or_default();
                        *tip = (*tip).max(tips);
                        follow
                            .first_seen
                            .entry(cid.to_string())
                            .or_insert(next / slot_blocks * slot_blocks);
                        let hints = provider_hints(&memo);
                        if !hints.is_empty() {
                            follow.hints.insert(cid.to_string(), hints);
                        }
                    }
                }
            }
            follow.height = certified.height;
            follow.last_hash = Some(crust_chain::Hash(certified.hash).to_hex());
        }
        let head = crate::chain_client::Head {
            height: follow.height,
        };
        save_follow(&follow_path, &follow)?;

        // 2. Store queued files (fetch over Bitswap, seal), with back-off on failure; once a
        // slot, orders passed over before are looked at again.
        let this_slot = head.height / slot_blocks * slot_blocks;
        if this_slot > follow.watched_slot {
            follow.watched_slot = this_slot;
            let watched = std::mem::take(&mut follow.watch);
            follow.queue.extend(watched.clone());
            follow.watch = watched;
        }
        let group = my_group(&client, &account.public())?;
        for text in by_tip(&follow.queue, &follow.tips) {
            if retry_at.get(&text).is_some_and(|t| *t > Instant::now()) {
                continue;
            }
            let Ok(cid) = text.parse::<Cid>() else {
                follow.queue.remove(&text);
                continue;
            };
            let info = client.read::<FileInfo>(&market::file_key(&cid))?;
            let room = worker.capacity().saturating_sub(worker.files_bytes());
            let mut decision = decide(info.as_ref(), head.height, args.replica_target, room);
            let tip = follow.tips.get(&text).copied().unwrap_or(0);
            if decision == Decision::Store && tip < min_tip {
                decision = Decision::Forget(format!(
                    "its tip {} is below --min-tip {}",
                    crust_primitives::balance::Cru(tip),
                    crust_primitives::balance::Cru(min_tip)
                ));
            }
            if let (Decision::Store, Some((owner, members)), Some(f)) =
                (&decision, &group, info.as_ref())
            {
                let first = follow.first_seen.get(&text).copied().unwrap_or(this_slot);
                let waited = this_slot.saturating_sub(first) / slot_blocks;
                if let Some(why) = group_turn(&cid, &account.public(), owner, members, f, waited) {
                    decision = Decision::Wait(why);
                }
            }
            match decision {
                Decision::Store => {}
                Decision::Wait(why) => {
                    if !follow.watch.contains_key(&text) {
                        eprintln!("sworker: not storing {cid} for now: {why}");
                    }
                    if let Some(size) = follow.queue.remove(&text) {
                        follow.watch.insert(text, size);
                    }
                    continue;
                }
                Decision::Forget(why) => {
                    eprintln!("sworker: not storing {cid}: {why}");
                    follow.done_with(&text);
                    continue;
                }
            }
            // The chain's replica holders first, then the order's provider hints.
            let mut hints = replica_addrs(&client, info.as_ref(), &me);
            hints.extend(follow.hints.get(&text).cloned().unwrap_or_default());
            let commitment = info.as_ref().map(|f| f.commitment);
            match net.store(&mut worker, cid, commitment.as_ref(), &hints) {
                Ok(size) => {
                    eprintln!("sworker: sealed {cid} ({size} bytes)");
                    to_prove.insert(cid);
                    follow.done_with(&text);
                    retry_at.remove(&text);
                }
                Err(StoreFailure::Retry(e)) => {
                    eprintln!("sworker: {cid}: {e}; retrying in 10 s");
                    retry_at.insert(text, Instant::now() + Duration::from_secs(10));
                }
                Err(StoreFailure::Refuse(e)) => {
                    // D29: never store or report content other than what was ordered.
                    eprintln!("sworker: refusing {cid}: {e}");
                    if refused.len() == REFUSED_SHOWN {
                        refused.pop_front();
                    }
                    refused.push_back((text.clone(), e));
                    follow.done_with(&text);
                    retry_at.remove(&text);
                }
            }
        }
        save_follow(&follow_path, &follow)?;

        // 3. Report once per slot, once block `slot` is finalized (its hash is known).
        let slot = head.height / slot_blocks * slot_blocks;
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
                    eprintln!("sworker: report for slot {pending_slot} accepted");
                } else {
                    eprintln!("sworker: report for slot {pending_slot} was not accepted");
                }
            }
        }
        // After a restart, this slot's report may already be on chain.
        if record.as_ref().is_some_and(|r| r.report_slot == slot) {
            last_report_slot = Some(slot);
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
                    Ok(_) => eprintln!("sworker: announcing peer {} on chain", net.host.peer_id()),
                    Err(e) => eprintln!("sworker: announcing the peer record: {e}"),
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
                Err(e) => eprintln!("sworker: reading replica holders: {e}"),
            }
        }
        // Drop files whose order expired or disappeared, once per slot before reporting (the
        // report then lists them as deleted and the space goes back to SRD).
        if slot > 0 && last_report_slot != Some(slot) {
            for file in worker.sealed().files() {
                let cid = file.cid();
                let info = client.read::<FileInfo>(&market::file_key(&cid))?;
                if let Some(why) = closed(info.as_ref(), head.height) {
                    worker.drop_file(&cid).map_err(|e| e.to_string())?;
                    eprintln!("sworker: dropped {cid}: {why}");
                }
            }
        }
        // D30: new replicas earn once proven; prove them as soon as their seed block is final.
        let my_anchor = anchor(&client, &enclave.public_key())?;
        let owner = group.as_ref().map_or(me, |(o, _)| *o);
        // Not while this slot's report is due or unconfirmed: a replica proven between reading
        // the chain's picks and the report's inclusion would move the picks.
        let reported_this_slot = record.as_ref().is_some_and(|r| r.report_slot == slot);
        if reported_this_slot
            && let Err(e) = prove_pending(
                &client,
                &account,
                &worker,
                &my_anchor,
                &owner,
                head.height,
                &mut to_prove,
                &mut proof_sent,
            )
        {
            eprintln!("sworker: proving new replicas: {e}");
        }
        // Like the reference's workers, report after a delay within the slot (here a fixed
        // per-identity offset in its first third), so reports spread over blocks.
        let delay = report_delay(&enclave.public_key(), slot, slot_blocks);
        if slot > 0 && head.height > slot + delay && last_report_slot != Some(slot) {
            // After a missed report the chain dropped this identity's files: report them anew.
            if let Some(r) = &record
                && worker
                    .sync_reported(r.reported_files_size, r.files_root)
                    .map_err(|e| e.to_string())?
            {
                eprintln!(
                    "sworker: the chain dropped this node's replicas after a missed report; reporting every file again"
                );
                to_prove.extend(worker.sealed().files().iter().map(|f| f.cid()));
            }
            let hash = client.block(slot)?.hash;
            let (report, signature) = worker
                .prepare_report(slot, hash)
                .map_err(|e| e.to_string())?;
            let mut this = SentReport {
                slot,
                slot_hash: hash,
                report,
                signature,
                at: head.height,
                attempts: 0,
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
            last_report_slot = Some(slot);
        } else if let Some(this) = sent.as_mut()
            && this.slot == slot
            && record.as_ref().is_none_or(|r| r.report_slot != slot)
            && head.height >= this.at + RESEND_AFTER_BLOCKS
            && this.attempts < REPORT_ATTEMPTS
        {
            // Not taken (a replica list that moved under the answers, a node that dropped
            // the transaction): the same report with fresh answers.
            eprintln!(
                "sworker: report for slot {slot} not on chain after {} blocks; sending it again",
                head.height - this.at
            );
            this.at = head.height;
            repaired.0 += send_report(&client, &account, &mut worker, &net, &my_anchor, &me, this);
        }

        // 4. Validate once per slot, seeded by the slot's block hash; repair what failed.
        if slot > 0 && head.height > slot && last_validated_slot != Some(slot) {
            let seed = client.block(slot)?.hash;
            match worker.validate(&seed, 16) {
                Ok(found) => {
                    for unit in &found.srd_repaired {
                        eprintln!("sworker: SRD unit {unit} was damaged; refilled");
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
                                eprintln!("sworker: {cid} was damaged; re-fetched and re-sealed");
                            }
                            Err(e) => {
                                eprintln!("sworker: {cid} is damaged and not yet repaired: {e}")
                            }
                        }
                    }
                }
                Err(e) => eprintln!("sworker: validation: {e}"),
            }
            last_validated_slot = Some(slot);
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
            "chain_height": head.height,
            "files": worker.sealed().files().len(),
            "files_bytes": worker.files_bytes(),
            "queued": follow.queue.len(),
            // Per state: valid (sealed and reported), lost (damaged, being re-fetched),
            // dropping (order ended, kept until no report commits to it), pending (ordered,
            // not stored yet), watching (passed over, looked at again each slot).
            "files_valid": worker.sealed().files().len().saturating_sub(lost.len() + worker.dropping().len()),
            "files_lost": lost.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "files_dropping": worker.dropping().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "files_pending": follow.queue.keys().collect::<Vec<_>>(),
            "files_watching": follow.watch.len(),
            // The last orders refused because their content is not what they committed to.
            "files_refused": refused.iter().map(|(cid, why)| serde_json::json!({"cid": cid, "reason": why})).collect::<Vec<_>>(),
            "disk_free_bytes": crust_sworker::srd::free_bytes(&args.dir).ok(),
            "srd_bytes": worker.srd().size(),
            "attestation": attestation.map(|k| k.name()),
            "srd_counts": attestation.is_some_and(|k| swork_params.srd_counts(k)),
            "capacity_bytes": worker.capacity(),
            "last_report_slot": last_report_slot,
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
    loop {
        match step() {
            Ok(()) => std::thread::sleep(Duration::from_millis(500)),
            Err(e) => {
                eprintln!("sworker: {e}; retrying");
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Whether to take a queued order.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Store,
    /// Not now (enough replicas, no room), but the order is live: look again next slot, so a
    /// lost replica is replaced (D12) and freed space is used.
    Wait(String),
    /// Never (the order is gone or expired).
    Forget(String),
}

/// The selection strategy: store an order unless it is gone or expired, already has
/// `target` replicas, or is larger than the room left for files (SRD yields to files).
fn decide(info: Option<&FileInfo>, head: u64, target: usize, room: u64) -> Decision {
    let Some(f) = info else {
        return Decision::Forget("the order is not on chain".into());
    };
    if let Some(why) = closed(Some(f), head) {
        return Decision::Forget(why.into());
    }
    if f.replicas.len() >= target {
        return Decision::Wait(format!("it already has {} replicas", f.replicas.len()));
    }
    if f.file_size > room {
        return Decision::Wait(format!(
            "{} bytes do not fit in the {room} bytes left",
            f.file_size
        ));
    }
    Decision::Store
}

/// The queued orders, higher tips first (ties by CID, so every pass is in the same order).
fn by_tip(queue: &BTreeMap<String, u64>, tips: &BTreeMap<String, u128>) -> Vec<String> {
    let mut queued: Vec<String> = queue.keys().cloned().collect();
    queued.sort_by_key(|c| std::cmp::Reverse(tips.get(c).copied().unwrap_or(0)));
    queued
}

/// This account's group, if it is a member of one: the owner and the members.
fn my_group(
    client: &ChainClient,
    me: &AccountId,
) -> Result<Option<(AccountId, Vec<AccountId>)>, String> {
    let Some(owner) = client
        .read::<swork::Identity>(&swork::identity_key(me))?
        .and_then(|i| i.group)
    else {
        return Ok(None);
    };
    Ok(client
        .read::<swork::Group>(&swork::group_key(&owner))?
        .map(|g| (owner, g.members)))
}

/// A member's place in its group's rendezvous order for `cid` (0 = first): members ranked by
/// SHA-256(cid ‖ member), highest first. Every member computes the same order.
fn rendezvous_rank(cid: &Cid, me: &AccountId, members: &[AccountId]) -> usize {
    use sha2::Digest as _;
    let score = |m: &AccountId| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(cid.to_bytes());
        h.update(m.as_bytes());
        h.finalize().into()
    };
    let mine = score(me);
    members
        .iter()
        .filter(|m| *m != me && score(m) > mine)
        .count()
}

/// Groups spread their files (a group earns one replica per file, D19): a member stores an
/// order only when the group holds no replica of it yet and it is the member's turn — the
/// first in the rendezvous order at once, the next one slot later (if the first has not
/// stored it by then), and so on. Returns why to wait, or `None` to store.
fn group_turn(
    cid: &Cid,
    me: &AccountId,
    owner: &AccountId,
    members: &[AccountId],
    file: &FileInfo,
    waited_slots: u64,
) -> Option<String> {
    if file.replicas.iter().any(|r| r.owner == *owner) {
        return Some("a member of its group already holds a replica".into());
    }
    let rank = rendezvous_rank(cid, me, members) as u64;
    (rank > waited_slots).then(|| {
        format!("{rank} group members come before this one in the rendezvous order for it")
    })
}

/// Why a held file should go: its order is gone or past its expiry (a pending order, not yet
/// started, has `expired_at` 0 and stays).
fn closed(info: Option<&FileInfo>, head: u64) -> Option<&'static str> {
    match info {
        None => Some("the order is gone"),
        Some(f) if f.expired_at != 0 && f.expired_at <= head => Some("the order expired"),
        Some(_) => None,
    }
}

/// Blocks into the slot before this identity reports: a stable offset in the slot's first
/// third, from the enclave key and the slot.
fn report_delay(key: &[u8; 32], slot: u64, slot_blocks: u64) -> u64 {
    let window = (slot_blocks / 3).max(1);
    let mut seed = [0u8; 32];
    seed.copy_from_slice(key);
    crust_sworker::sample(&seed, slot) % window
}

/// A change asked for over the control API, applied by the worker loop.
enum Control {
    Capacity(u64, std::sync::mpsc::Sender<Result<(), String>>),
}

/// Serves the control API on `--control-addr`: `GET /status`, and `POST /capacity?bytes=N`
/// with `Authorization: Bearer <token>` (the token is in `<dir>/control.token`, the address
/// in `<dir>/control`).
fn start_control(
    rt: &tokio::runtime::Runtime,
    args: &SworkerArgs,
    status: Arc<std::sync::Mutex<serde_json::Value>>,
    commands: std::sync::mpsc::Sender<Control>,
) -> Result<std::net::SocketAddr, String> {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    let token_path = args.dir.join("control.token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) if t.trim().len() >= 32 => t.trim().to_owned(),
        _ => {
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw).map_err(|e| e.to_string())?;
            let t = crust_primitives::account::to_hex(&raw);
            write_private(&token_path, &t)?;
            t
        }
    };
    #[derive(Clone)]
    struct Ctx {
        status: Arc<std::sync::Mutex<serde_json::Value>>,
        commands: std::sync::mpsc::Sender<Control>,
        token: Arc<String>,
    }
    async fn status_handler(State(ctx): State<Ctx>) -> axum::Json<serde_json::Value> {
        axum::Json(ctx.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    async fn capacity_handler(
        State(ctx): State<Ctx>,
        headers: HeaderMap,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> (StatusCode, String) {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(ctx.token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n".into(),
            );
        }
        let Some(bytes) = q.get("bytes").and_then(|b| crate::parse_bytes(b).ok()) else {
            return (
                StatusCode::BAD_REQUEST,
                "bytes=N (e.g. 2GiB) is required\n".into(),
            );
        };
        let (reply, answer) = std::sync::mpsc::channel();
        if ctx.commands.send(Control::Capacity(bytes, reply)).is_err() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the worker loop stopped\n".into(),
            );
        }
        match tokio::task::spawn_blocking(move || answer.recv_timeout(Duration::from_secs(60)))
            .await
        {
            Ok(Ok(Ok(()))) => (StatusCode::OK, format!("capacity set to {bytes} bytes\n")),
            Ok(Ok(Err(e))) => (StatusCode::CONFLICT, format!("{e}\n")),
            _ => (
                StatusCode::GATEWAY_TIMEOUT,
                "the worker loop did not answer\n".into(),
            ),
        }
    }
    let ctx = Ctx {
        status,
        commands,
        token: Arc::new(token),
    };
    let app = axum::Router::new()
        .route("/status", get(status_handler))
        .route("/capacity", post(capacity_handler))
        .with_state(ctx);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.control_addr))
        .map_err(|e| format!("--control-addr {}: {e}", args.control_addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(args.dir.join("control"), format!("http://{addr}\n"))
        .map_err(|e| e.to_string())?;
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Serves the HTTP gateway over this node's replicas on `addr`; writes the bound address to
/// `<dir>/gateway`.
fn serve_gateway(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    source: crust_ipfs::gateway::Source,
    dir: &Path,
) -> Result<std::net::SocketAddr, String> {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| format!("--gateway-addr {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(dir.join("gateway"), format!("http://{bound}\n")).map_err(|e| e.to_string())?;
    let app = crust_ipfs::gateway::router_for(source);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

/// Writes a secret readable only by its owner.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `crust sworker status|capacity`: talks to a running worker's control API. The status is a
/// summary in text, or the worker's whole status object with `--output json`.
pub fn control(dir: &Path, capacity: Option<u64>, output: crate::Output) -> Result<(), String> {
    let base = std::fs::read_to_string(dir.join("control")).map_err(|_| {
        format!(
            "no running worker found in {} (no control file)",
            dir.display()
        )
    })?;
    let base = base.trim();
    let http = reqwest::blocking::Client::new();
    match capacity {
        None => {
            let text = http
                .get(format!("{base}/status"))
                .send()
                .and_then(|r| r.text())
                .map_err(|e| format!("worker at {base}: {e}"))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("worker at {base}: {e}"))?;
            match output {
                crate::Output::Json => crate::print_json(&v),
                crate::Output::Text => print!("{}", status_text(&v)),
            }
        }
        Some(bytes) => {
            let token = std::fs::read_to_string(dir.join("control.token"))
                .map_err(|e| format!("control.token: {e}"))?;
            let r = http
                .post(format!("{base}/capacity?bytes={bytes}"))
                .header("authorization", format!("Bearer {}", token.trim()))
                .send()
                .map_err(|e| format!("worker at {base}: {e}"))?;
            let ok = r.status().is_success();
            let text = r.text().unwrap_or_default();
            if !ok {
                return Err(text.trim().to_owned());
            }
            print!("{text}");
        }
    }
    Ok(())
}

/// A worker's status object as a few lines for a person (`--output json` prints all of it).
fn status_text(v: &serde_json::Value) -> String {
    let bytes = |key: &str| {
        v[key]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |b| indicatif::BinaryBytes(b).to_string())
    };
    let num = |key: &str| {
        v[key]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    };
    let list = |key: &str| v[key].as_array().map_or(0, Vec::len);
    let srd_counts = if v["srd_counts"].as_bool() == Some(true) {
        "counts toward stake limits"
    } else {
        "does not count toward stake limits"
    };
    let mut out = format!(
        "account      {}\n\
         enclave      {}\n\
         attestation  {} (SRD {srd_counts})\n\
         chain        at #{}; last report for slot {}, last accepted slot {}\n\
         files        {} valid ({}), {} lost, {} dropping, {} pending, {} watching, {} refused\n\
         space        capacity {}, SRD {}, disk free {}\n\
         repaired     {} files, {} SRD units\n\
         peer         {}\n",
        v["account"].as_str().unwrap_or("-"),
        v["enclave"].as_str().unwrap_or("-"),
        v["attestation"].as_str().unwrap_or("not registered yet"),
        num("chain_height"),
        num("last_report_slot"),
        num("last_accepted_slot"),
        num("files_valid"),
        bytes("files_bytes"),
        list("files_lost"),
        list("files_dropping"),
        list("files_pending"),
        num("files_watching"),
        list("files_refused"),
        bytes("capacity_bytes"),
        bytes("srd_bytes"),
        bytes("disk_free_bytes"),
        num("files_repaired"),
        num("srd_units_repaired"),
        v["peer_id"].as_str().unwrap_or("-"),
    );
    for r in v["files_refused"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "refused      {}: {}\n",
            r["cid"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("?")
        ));
    }
    out
}

/// Why a fetch failed: the DAG outgrew the bound (it is not the ordered content), or anything
/// else (worth retrying).
enum FetchFailure {
    TooLarge(String),
    Failed(String),
}

impl From<FetchFailure> for String {
    fn from(f: FetchFailure) -> Self {
        match f {
            FetchFailure::TooLarge(e) | FetchFailure::Failed(e) => e,
        }
    }
}

/// Blocks to wait for a sent report before sending it again.
const RESEND_AFTER_BLOCKS: u64 = 3;
/// Sends of one slot's report at most.
const REPORT_ATTEMPTS: u32 = 8;

/// A slot's report, kept to be resent with fresh answers.
struct SentReport {
    slot: u64,
    slot_hash: [u8; 32],
    report: swork::WorkReport,
    signature: crust_primitives::Signature,
    at: u64,
    attempts: u32,
}

/// Answers the slot's challenges (D18) and submits the report with them. A challenge on
/// damaged data repairs the file first (re-fetched from the other replica holders). Returns
/// how many files it repaired.
fn send_report(
    client: &ChainClient,
    account: &Keypair,
    worker: &mut Worker,
    net: &Net,
    anchor: &[u8; 32],
    me: &AccountId,
    this: &mut SentReport,
) -> u64 {
    this.attempts += 1;
    let mut repaired = 0;
    let slot = this.slot;
    let answered = challenge_picks(client, anchor, &this.slot_hash).and_then(|picks| {
        let answers = match worker.answers(&picks) {
            Err(WorkerError::Unanswerable { cid, reason }) => {
                eprintln!(
                    "sworker: challenged on {cid}, which is damaged here ({reason}); repairing it before answering"
                );
                let info = client.read::<FileInfo>(&market::file_key(&cid))?;
                let holders = replica_addrs(client, info.as_ref(), me);
                net.repair(worker, cid, &holders)?;
                repaired += 1;
                eprintln!("sworker: {cid} was damaged; re-fetched and re-sealed");
                worker.answers(&picks).map_err(|e| e.to_string())?
            }
            other => other.map_err(|e| e.to_string())?,
        };
        let srd = worker
            .srd_answers(&this.slot_hash)
            .map_err(|e| e.to_string())?;
        Ok((answers, srd))
    });
    let (answers, srd_answers) = match answered {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "sworker: cannot answer slot {slot}'s storage challenges ({e}); without a report this slot the chain drops this node's replicas and it reports them anew"
            );
            return repaired;
        }
    };
    let (added, deleted) = (this.report.added.len(), this.report.deleted.len());
    let challenged = answers.len() + srd_answers.len();
    match client.submit(
        account,
        Call::Swork(SworkCall::ReportWorks {
            report: this.report.clone(),
            signature: this.signature,
            answers,
            srd_answers,
        }),
    ) {
        Ok(_) => eprintln!(
            "sworker: report for slot {slot} sent (+{added} −{deleted} files, SRD {} MiB, {challenged} challenges answered)",
            worker.srd().size() >> 20
        ),
        Err(e) => eprintln!("sworker: report for slot {slot}: {e}"),
    }
    repaired
}

/// This slot's challenges on `anchor`'s proven replicas (D18), each with the CID the chain's
/// list holds at the picked position.
fn challenge_picks(
    client: &ChainClient,
    anchor: &[u8; 32],
    slot_hash: &[u8; 32],
) -> Result<Vec<(challenge::Challenge, Cid)>, String> {
    let count = client
        .read::<u64>(&market::index::count_key(anchor))?
        .unwrap_or(0);
    challenge::challenges(slot_hash, anchor, count)
        .into_iter()
        .map(|c| {
            let at = client
                .read::<market::index::IndexedReplica>(&market::index::position_key(
                    anchor, c.position,
                ))?
                .ok_or_else(|| format!("no replica at position {} on chain", c.position))?;
            Ok((c, at.cid))
        })
        .collect()
}

/// Proves the replicas of `to_prove` that the chain holds as pending for this identity (D30),
/// once their seed block is final, [`challenge::PROVE_BATCH`] per transaction; a file whose
/// replica is proven, or that is no longer held, leaves the set. A proof is not resent within
/// 30 s.
#[allow(clippy::too_many_arguments)]
fn prove_pending(
    client: &ChainClient,
    account: &Keypair,
    worker: &Worker,
    anchor: &[u8; 32],
    owner: &AccountId,
    height: u64,
    to_prove: &mut std::collections::BTreeSet<Cid>,
    proof_sent: &mut BTreeMap<Cid, Instant>,
) -> Result<(), String> {
    use market::index::AnchorEntry;
    let mut proofs = Vec::new();
    for cid in to_prove.clone() {
        if worker.sealed().file(&cid).is_none() {
            to_prove.remove(&cid);
            continue;
        }
        match client.read::<AnchorEntry>(&market::index::entry_key(anchor, &cid, owner))? {
            Some(AnchorEntry::Proven { .. }) => {
                to_prove.remove(&cid);
                proof_sent.remove(&cid);
            }
            Some(AnchorEntry::Pending { since, .. }) if since < height => {
                if proof_sent
                    .get(&cid)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
                {
                    continue;
                }
                // The proof is checked against the order's commitment: a file sealed for
                // another one (a superseded order) cannot prove and must not sink a batch.
                let ordered = client
                    .read::<FileInfo>(&market::file_key(&cid))?
                    .map(|f| f.commitment);
                let held = worker
                    .sealed()
                    .content_index(&cid)
                    .ok()
                    .map(|i| i.commitment);
                if ordered.is_none() || ordered != held {
                    eprintln!(
                        "sworker: not proving {cid}: the order's commitment is not the content held"
                    );
                    to_prove.remove(&cid);
                    continue;
                }
                let seed = client.block(since)?.hash;
                match worker.pending_proof(&cid, &seed, anchor) {
                    Ok(p) => proofs.push(p),
                    Err(e) => eprintln!("sworker: cannot prove {cid}: {e}"),
                }
            }
            // Not reported yet, or its seed block is not final yet.
            _ => {}
        }
    }
    for batch in proofs.chunks(challenge::PROVE_BATCH) {
        let call = SworkCall::ProveReplicas {
            proofs: batch.to_vec(),
        };
        match client.submit(account, Call::Swork(call)) {
            Ok(_) => {
                for p in batch {
                    proof_sent.insert(p.cid, Instant::now());
                }
                eprintln!("sworker: proving {} new replica(s)", batch.len());
            }
            Err(e) => eprintln!("sworker: proving new replicas: {e}"),
        }
    }
    Ok(())
}

/// The anchor reports are filed under: the enclave key the identity was first bound to.
fn anchor(client: &ChainClient, key: &[u8; 32]) -> Result<[u8; 32], String> {
    Ok(client
        .read::<PubKeyInfo>(&swork::pubkey_key(key))?
        .and_then(|i| i.anchor)
        .unwrap_or(*key))
}

/// Registers the enclave key unless the chain already knows it, and waits for it to land.
/// Tops the owner's market collateral up to `wanted`.
fn ensure_collateral(client: &ChainClient, account: &Keypair, wanted: &str) -> Result<(), String> {
    use crust_runtime::benefits::{self, BenefitsCall, FundsType, MarketBenefit};
    let wanted = crust_primitives::balance::parse_balance(wanted)
        .map_err(|e| format!("--collateral: {e}"))?;
    let active = || -> Result<u128, String> {
        Ok(client
            .read::<MarketBenefit>(&benefits::market_key(&account.public()))?
            .map_or(0, |b| b.active_funds))
    };
    let call = |have: u128| {
        Call::Benefits(BenefitsCall::AddBenefitFunds {
            value: wanted - have,
            funds_type: FundsType::Market,
        })
    };
    land(client, account, "the collateral", || {
        let have = active()?;
        Ok((have < wanted).then(|| call(have)))
    })?;
    eprintln!(
        "sworker: collateral {}",
        crust_primitives::balance::Cru(wanted)
    );
    Ok(())
}

fn register(client: &ChainClient, account: &Keypair, enclave: &dyn Enclave) -> Result<(), String> {
    let key = enclave.public_key();
    land(client, account, "the enclave registration", || {
        if client
            .read::<PubKeyInfo>(&swork::pubkey_key(&key))?
            .is_some()
        {
            return Ok(None);
        }
        let (enclave_sig, attestation) = enclave
            .attest(&account.public())
            .map_err(|e| e.to_string())?;
        Ok(Some(Call::Swork(SworkCall::Register {
            code: enclave.code(),
            enclave_key: key,
            enclave_sig,
            attestation,
        })))
    })
    .map_err(|e| format!("{e} (is the enclave's code allowlisted and the authority right?)"))?;
    eprintln!("sworker: enclave registered");
    Ok(())
}

/// Brings about a start-up change on chain. `needed` reads the chain and returns the call still
/// needed, if any. A slow or restarting chain, or a dropped transaction, is logged and retried
/// with back-off for as long as it takes (the worker is no use without it); the chain refusing
/// the call ends the worker with the chain's reason (a configuration error to fix).
fn land(
    client: &ChainClient,
    account: &Keypair,
    what: &str,
    mut needed: impl FnMut() -> Result<Option<Call>, String>,
) -> Result<(), String> {
    let mut backoff = Duration::from_secs(1);
    let mut retry = |e: String| {
        eprintln!("sworker: {what}: {e}; retrying in {} s", backoff.as_secs());
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    };
    // The nonce of the last attempt: a retry signs with it again while the chain has not used
    // it, so an attempt that lands late and its retry cannot both take effect.
    let mut last_nonce: Option<u64> = None;
    loop {
        // The nonce is read before the state: if the last attempt lands in between, the nonce
        // still says unused, and the retry signed with it is refused as stale.
        let committed = match client.committed_nonce(&account.public()) {
            Ok(committed) => committed,
            Err(e) => {
                retry(e);
                continue;
            }
        };
        let call = match needed() {
            Ok(None) => return Ok(()),
            Ok(Some(call)) => call,
            Err(e) => {
                retry(e);
                continue;
            }
        };
        let nonce = last_nonce.filter(|n| committed <= *n);
        let hash = match client.submit_with_nonce(account, call, nonce) {
            Ok((nonce, hash)) => {
                last_nonce = Some(nonce);
                hash
            }
            Err(e) => {
                retry(e);
                continue;
            }
        };
        match client.outcome(&hash, Duration::from_secs(120)) {
            // Landed: the next look at the chain sees it.
            Ok(crate::chain_client::Outcome::Succeeded(_)) => {}
            Ok(crate::chain_client::Outcome::Failed(height, reason)) => {
                return Err(format!("{what} failed in block {height}: {reason}"));
            }
            Err(e) => retry(e),
        }
    }
}

/// This worker's peer record: its peer ID and up to four announced addresses.
fn own_peer_record(host: &crust_net::Host) -> swork::PeerRecord {
    swork::PeerRecord {
        peer_id: host.peer_id().to_base58().into_bytes(),
        addrs: host
            .announce_addrs()
            .iter()
            .map(|a| a.to_string().into_bytes())
            .filter(|a| a.len() <= swork::MAX_PEER_ADDR_BYTES)
            .take(swork::MAX_PEER_ADDRS)
            .collect(),
    }
}

/// Dialable addresses (`…/p2p/<id>`) of the other workers the chain lists as holding `cid`:
/// the first place to fetch it from.
fn replica_addrs(client: &ChainClient, info: Option<&FileInfo>, me: &AccountId) -> Vec<String> {
    let mut out = Vec::new();
    let holders = info.map(|f| f.replicas.as_slice()).unwrap_or_default();
    for who in holders.iter().map(|r| r.who).filter(|w| w != me) {
        let Ok(Some(record)) = client.read::<swork::PeerRecord>(&swork::peer_key(&who)) else {
            continue;
        };
        let Ok(peer) = record.peer_id_text().parse::<crust_net::PeerId>() else {
            continue;
        };
        for addr in record.addr_texts() {
            if let Ok(addr) = addr.parse::<crust_net::Multiaddr>() {
                out.push(format!("{addr}/p2p/{peer}"));
            }
        }
    }
    out
}

/// The peers of every worker that reports holding files, from the chain's peer records.
fn replica_holders(client: &ChainClient) -> Result<Vec<crust_net::PeerId>, String> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.call_json("swork_peers", serde_json::json!({ "after": after }))?;
        for p in page["peers"].as_array().into_iter().flatten() {
            if p["files_size"].as_u64().unwrap_or(0) == 0 {
                continue;
            }
            if let Some(peer) = p["peer_id"].as_str().and_then(|t| t.parse().ok()) {
                out.push(peer);
            }
        }
        match page["next"].as_str() {
            Some(next) if out.len() < 100_000 => after = Some(next.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Why a file was not stored.
enum StoreFailure {
    /// Worth trying again (no peer, a network or disk error).
    Retry(String),
    /// Never to be stored: the content is not what was ordered.
    Refuse(String),
}

/// The worker's side of the data network.
struct Net {
    rt: tokio::runtime::Runtime,
    host: crust_net::Host,
    exchange: Arc<crust_net::Exchange>,
    staging: Arc<Repo>,
    peers: Vec<String>,
}

impl Net {
    /// Fetches every block of `cid` from the peers into staging (whatever is held elsewhere).
    fn fetch(
        &self,
        cid: Cid,
        hints: &[String],
        max_bytes: Option<u64>,
    ) -> Result<(), FetchFailure> {
        self.rt.block_on(async {
            // Dial every hint at once (stale addresses on chain must not hold the fetch up).
            let mut dials = Vec::new();
            for addr in hints.iter().chain(&self.peers) {
                let addr = addr
                    .parse()
                    .map_err(|e| FetchFailure::Failed(format!("peer {addr}: {e}")))?;
                dials.push(tokio::time::timeout(DIAL_TIMEOUT, self.host.dial(addr)));
            }
            let mut connected: Vec<crust_net::PeerId> = Vec::new();
            for peer in futures::future::join_all(dials)
                .await
                .into_iter()
                .flatten()
                .flatten()
            {
                if !connected.contains(&peer) {
                    connected.push(peer);
                }
            }
            // Whoever announces the file on the DHT too (the user's own IPFS node, other
            // storage nodes): the session asks them all and routes around those without it.
            let lookup = self.host.find_providers(cid);
            if let Ok(Ok(providers)) = tokio::time::timeout(Duration::from_secs(10), lookup).await {
                for provider in providers {
                    if provider == self.host.peer_id() || connected.contains(&provider) {
                        continue;
                    }
                    if let Ok(peer) = self.host.connect(provider).await {
                        connected.push(peer);
                    }
                }
            }
            if connected.is_empty() {
                return Err(FetchFailure::Failed(
                    "no peer, provider hint or DHT provider reachable".to_owned(),
                ));
            }
            self.exchange
                .fetch_dag_into(
                    &*self.staging,
                    &connected,
                    cid,
                    &crust_net::FetchOptions {
                        max_bytes,
                        ..crust_net::FetchOptions::default()
                    },
                    &mut |_| {},
                )
                .await
                .map_err(|e| match e {
                    crust_net::exchange::ExchangeError::TooLarge(_) => {
                        FetchFailure::TooLarge(e.to_string())
                    }
                    other => FetchFailure::Failed(other.to_string()),
                })?;
            Ok(())
        })
    }

    /// Fetches `cid`, checks it against the order's content commitment (D29) and seals it;
    /// returns its size. Content whose commitment differs is dropped, never sealed.
    fn store(
        &self,
        worker: &mut Worker,
        cid: Cid,
        expected: Option<&ContentCommitment>,
        hints: &[String],
    ) -> Result<u64, StoreFailure> {
        if let Some(done) = worker.sealed().file(&cid) {
            return Ok(done.size);
        }
        let Some(expected) = expected else {
            return Err(StoreFailure::Retry("the chain has no order for it".into()));
        };
        // The blocks of a DAG take less than its canonical CAR (which adds the CIDs and
        // lengths): anything more than the commitment's size is not the ordered content.
        match self.fetch(cid, hints, Some(expected.size)) {
            Ok(()) => {}
            Err(FetchFailure::TooLarge(e)) => {
                let _ = self.staging.gc();
                return Err(StoreFailure::Refuse(e));
            }
            Err(FetchFailure::Failed(e)) => return Err(StoreFailure::Retry(e)),
        }
        // D29: the worker computes the content commitment before sealing and refuses content
        // that is not what the order committed to.
        let sealed = match worker.store_file(&*self.staging, cid, Some(expected)) {
            Ok(sealed) => sealed,
            Err(e) if e.is_commitment_mismatch() => {
                let _ = self.staging.gc();
                return Err(StoreFailure::Refuse(e.to_string()));
            }
            Err(e) => return Err(StoreFailure::Retry(e.to_string())),
        };
        // The plaintext copy is no longer needed: nothing in staging is pinned.
        let _ = self.staging.gc();
        // Anyone on IPFS can now find this replica (best effort: a lone node has no DHT).
        let _ = self.rt.block_on(self.host.provide(cid));
        Ok(sealed.size)
    }

    /// Re-fetches a damaged file and re-seals it (D28), from the other replica holders first.
    fn repair(&self, worker: &mut Worker, cid: Cid, holders: &[String]) -> Result<(), String> {
        self.fetch(cid, holders, None).map_err(String::from)?;
        worker
            .repair(&*self.staging, cid)
            .map_err(|e| e.to_string())?;
        let _ = self.staging.gc();
        Ok(())
    }
}

/// How many refused orders the status lists.
const REFUSED_SHOWN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_hints_round_trip_through_the_memo() {
        let kubo = "/ip4/127.0.0.1/tcp/4001/p2p/QmVgPq5iP232uJkU4LrD4Gsm1XXH5ky6tEvYCyanurxZgh";
        let memo = providers_memo(&[kubo.to_owned()]).unwrap();
        assert_eq!(provider_hints(&memo), vec![kubo.to_owned()]);
        assert!(providers_memo(&[]).unwrap().is_empty());
        assert!(
            providers_memo(&["/ip4/127.0.0.1/tcp/4001".into()]).is_err(),
            "no peer id"
        );
        assert!(
            providers_memo(&vec![kubo.to_owned(); 4]).is_err(),
            "over 256 bytes"
        );
        // Memos that are not provider lists, or hostile ones, give no hints.
        assert!(provider_hints(b"my holiday photos").is_empty());
        assert!(provider_hints(&[0xff, 0xfe]).is_empty());
        assert!(provider_hints(b"crust/providers/v1\nnot an address").is_empty());
    }

    #[test]
    fn dev_chains_allow_the_software_enclave_and_its_authority() {
        let code = crust_sworker::enclave::software_code_measurement();
        let authority = Keypair::from_suri("//Authority").expect("dev uri").public();
        for name in ["dev", "local"] {
            let genesis = crust_chain::spec::ChainSpec::builtin(name)
                .expect("spec")
                .genesis()
                .expect("genesis");
            assert!(
                genesis.swork_codes.iter().any(|(c, _)| *c == code),
                "{name}.json must allow this build's software enclave (version bump?)"
            );
            assert_eq!(genesis.swork_authorities, (vec![authority], 1));
        }
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;
    use crust_runtime::market::Replica;

    fn info(size: u64, expired_at: u64, replicas: usize) -> FileInfo {
        let mut f = FileInfo {
            file_size: size,
            spower: 0,
            expired_at,
            calculated_at: 0,
            pending_since: 0,
            amount: 0,
            prepaid: 0,
            remaining_paid_count: 4,
            orderer: crust_primitives::AccountId([9; 32]),
            paid_owners: Vec::new(),
            replicas: Vec::new(),
            commitment: ContentCommitment {
                root: [1; 32],
                size: size.max(1),
            },
        };
        for i in 0..replicas {
            f.replicas.push(Replica {
                owner: crust_primitives::AccountId([i as u8; 32]),
                who: crust_primitives::AccountId([i as u8; 32]),
                anchor: [i as u8; 32],
                valid_at: 1,
                created_at: Some(1),
            });
        }
        f
    }

    #[test]
    fn orders_are_taken_only_when_live_short_of_replicas_and_fitting() {
        assert_eq!(decide(Some(&info(100, 0, 0)), 50, 4, 1000), Decision::Store);
        assert_eq!(
            decide(Some(&info(100, 900, 3)), 50, 4, 1000),
            Decision::Store
        );
        assert!(matches!(decide(None, 50, 4, 1000), Decision::Forget(_)));
        assert!(matches!(
            decide(Some(&info(100, 40, 0)), 50, 4, 1000),
            Decision::Forget(_)
        ));
        // Live orders passed over are looked at again later (repair, freed space).
        assert!(matches!(
            decide(Some(&info(100, 900, 4)), 50, 4, 1000),
            Decision::Wait(_)
        ));
        assert!(matches!(
            decide(Some(&info(2000, 900, 0)), 50, 4, 1000),
            Decision::Wait(_)
        ));
    }

    #[test]
    fn held_files_go_when_their_order_is_gone_or_expired() {
        assert_eq!(closed(Some(&info(1, 0, 1)), 10), None, "pending stays");
        assert_eq!(closed(Some(&info(1, 11, 1)), 10), None);
        assert!(closed(Some(&info(1, 10, 1)), 10).is_some());
        assert!(closed(None, 10).is_some());
    }

    #[test]
    fn report_delays_stay_in_the_first_third_and_differ_by_identity() {
        let delays: Vec<u64> = (0..20u8).map(|k| report_delay(&[k; 32], 600, 60)).collect();
        assert!(delays.iter().all(|d| *d < 20));
        assert!(delays.iter().any(|d| *d != delays[0]));
        assert_eq!(report_delay(&[1; 32], 600, 2), 0);
    }

    #[test]
    fn higher_tips_are_stored_first() {
        let queue: BTreeMap<String, u64> = [("a", 1), ("b", 2), ("c", 3)]
            .map(|(c, s)| (c.to_owned(), s))
            .into();
        let tips: BTreeMap<String, u128> =
            [("b", 5), ("c", 9)].map(|(c, t)| (c.to_owned(), t)).into();
        assert_eq!(by_tip(&queue, &tips), ["c", "b", "a"]);
        assert_eq!(by_tip(&queue, &BTreeMap::new()), ["a", "b", "c"]);
    }

    #[test]
    fn a_group_spreads_files_by_rendezvous_and_fails_over_slot_by_slot() {
        use crust_primitives::AccountId;
        let members: Vec<AccountId> = (1..=4u8).map(|i| AccountId([i; 32])).collect();
        let owner = AccountId([0x99; 32]);
        let file = info(100, 900, 0);
        let mut firsts = [0usize; 4];
        for n in 0..400u32 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&n.to_be_bytes());
            let cid = Cid::v1_sha256(0x55, digest);
            // Every member agrees on one order: the ranks are a permutation.
            let mut ranks: Vec<usize> = members
                .iter()
                .map(|m| rendezvous_rank(&cid, m, &members))
                .collect();
            let first = ranks.iter().position(|r| *r == 0).unwrap();
            firsts[first] += 1;
            ranks.sort_unstable();
            assert_eq!(ranks, vec![0, 1, 2, 3]);
            // At first only the first member stores; each slot without a group replica lets
            // the next one in.
            for waited in 0..4u64 {
                let storing = members
                    .iter()
                    .filter(|m| group_turn(&cid, m, &owner, &members, &file, waited).is_none())
                    .count();
                assert_eq!(storing as u64, waited + 1);
            }
        }
        // The files spread over the members (100 each on average).
        assert!(firsts.iter().all(|&f| f > 60), "{firsts:?}");
        // Once the group holds a replica, no member stores another.
        let mut held = info(100, 900, 0);
        held.replicas.push(Replica {
            owner,
            who: members[2],
            anchor: [2; 32],
            valid_at: 1,
            created_at: Some(1),
        });
        let cid = Cid::v1_sha256(0x55, [7; 32]);
        assert!(
            members
                .iter()
                .all(|m| group_turn(&cid, m, &owner, &members, &held, 9).is_some())
        );
    }
}
