//! Storage on the chain from the command line: `crust order` places a storage order, `crust
//! file` shows a file's order and replicas, and `crust sworker` runs a storage worker that
//! follows the chain, fetches ordered files over Bitswap, seals them and reports every slot.

use crate::chain_client::ChainClient;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::repo::Repo;
use crust_ipfs::{Block, Cid};
use crust_primitives::Keypair;
use crust_runtime::Call;
use crust_runtime::market::{self, FileInfo, MarketCall};
use crust_runtime::swork::{self, PubKeyInfo, SworkCall, WorkReportRecord};
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `crust order CID`: places a storage order signed by `--from`; without `--size` the size is
/// the DAG's as the IPFS node at `api` reports it (what storage workers will report).
pub fn order(
    chain: &str,
    api: &str,
    from: &str,
    cid: &str,
    size: Option<u64>,
    tips: &str,
) -> Result<(), String> {
    let cid: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
    let size = match size {
        Some(s) => s,
        None => crate::content::dag_size(api, &cid)?,
    };
    let signer = Keypair::from_suri(from).map_err(|e| format!("--from: {e}"))?;
    let tips =
        crust_primitives::balance::parse_balance(tips).map_err(|e| format!("--tips: {e}"))?;
    let client = ChainClient::new(chain)?;
    let call = Call::Market(MarketCall::PlaceStorageOrder {
        cid,
        file_size: size,
        tips,
        memo: Vec::new(),
    });
    let hash = client.submit(&signer, call)?;
    println!("{hash}");
    eprintln!("order for {cid} ({size} bytes) submitted; watch it with  crust file {cid}");
    Ok(())
}

/// `crust file CID`: the order and its replicas, from finalized state.
pub fn file(chain: &str, cid: &str, json: bool) -> Result<(), String> {
    let cid: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
    let client = ChainClient::new(chain)?;
    let Some(info) = client.read::<FileInfo>(&market::file_key(&cid))? else {
        return Err(format!("no order for {cid} on this chain"));
    };
    if json {
        let replicas: Vec<_> = info
            .replicas
            .iter()
            .map(|r| serde_json::json!({"who": r.who.to_ss58(), "valid_at": r.valid_at}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "cid": cid.to_string(), "size": info.file_size, "expired_at": info.expired_at,
                "spower": info.spower, "replicas": replicas,
            })
        );
        return Ok(());
    }
    println!("file      {cid}");
    println!("size      {} bytes", info.file_size);
    println!("expires   block {}", info.expired_at);
    println!("spower    {}", info.spower);
    println!("replicas  {}", info.replicas.len());
    for r in &info.replicas {
        println!("  {} since block {}", r.who.to_ss58(), r.valid_at);
    }
    Ok(())
}

/// How `crust sworker` runs.
pub struct SworkerArgs {
    /// Chain RPC URL.
    pub chain: String,
    /// The worker account's secret URI (pays fees, owns the replicas).
    pub account: String,
    /// Data directory.
    pub dir: PathBuf,
    /// Bytes for files + SRD.
    pub capacity: u64,
    /// MiB per SRD unit.
    pub srd_unit_mib: u32,
    /// Bytes to keep free on the data disk.
    pub reserve: u64,
    /// Peers to fetch ordered files from.
    pub peers: Vec<String>,
    /// Dev attestation authority secret URIs.
    pub authorities: Vec<String>,
    /// Bitswap listen address.
    pub swarm_addr: String,
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

/// What the worker remembers between runs besides the worker's own state.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Follow {
    /// Last finalized block whose transactions were read.
    height: u64,
    /// Ordered files not yet stored, with the size ordered.
    queue: BTreeMap<String, u64>,
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
    let account = Keypair::from_suri(&args.account).map_err(|e| format!("--account: {e}"))?;
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
        .swarm_addr
        .parse()
        .map_err(|e| format!("--swarm-addr: {e}"))?;
    let served: Arc<dyn Blockstore> = Arc::new(Served {
        sealed: worker.sealed_handle(),
        staging: staging.clone(),
    });
    let (host, exchange) = rt.block_on(async {
        let host = crust_net::Host::start(crust_net::NetConfig {
            key_seed,
            listen: vec![listen],
        })
        .await
        .map_err(|e| e.to_string())?;
        let exchange = crust_net::Exchange::start(host.clone(), served);
        Ok::<_, String>((host, exchange))
    })?;
    eprintln!(
        "sworker: account {}, enclave {}, Bitswap on {}/p2p/{}",
        account.public().to_ss58(),
        crust_primitives::account::to_hex(&enclave.public_key()),
        host.listen_addrs()[0],
        host.peer_id()
    );

    register(&client, &account, enclave.as_ref())?;
    let added = worker.fill_srd().map_err(|e| e.to_string())?;
    eprintln!(
        "sworker: SRD {} MiB ({added} units added)",
        worker.srd().size() >> 20
    );

    let follow_path = args.dir.join("follow.json");
    let mut follow = load_follow(&follow_path);
    let mut last_report_slot = None;
    let mut retry_at: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        let head = match client.head() {
            Ok(h) => h,
            Err(e) => {
                eprintln!("sworker: {e}; retrying");
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        // 1. Follow finalized blocks for orders.
        while follow.height < head.height {
            let next = follow.height + 1;
            match client.block(next) {
                Ok(block) => {
                    for (tx, ok) in block.txs {
                        if let (
                            true,
                            Call::Market(MarketCall::PlaceStorageOrder { cid, file_size, .. }),
                        ) = (ok, tx.unsigned.call)
                        {
                            follow.queue.insert(cid.to_string(), file_size);
                        }
                    }
                }
                // Older than the node keeps: skip ahead (orders there are not seen).
                Err(e) => eprintln!("sworker: block {next}: {e}"),
            }
            follow.height = next;
        }
        save_follow(&follow_path, &follow)?;

        // 2. Store queued files (fetch over Bitswap, seal), with back-off on failure.
        let queued: Vec<(String, u64)> =
            follow.queue.iter().map(|(c, s)| (c.clone(), *s)).collect();
        for (text, _size) in queued {
            if retry_at.get(&text).is_some_and(|t| *t > Instant::now()) {
                continue;
            }
            let Ok(cid) = text.parse::<Cid>() else {
                follow.queue.remove(&text);
                continue;
            };
            match store(
                &rt,
                &host,
                &exchange,
                &staging,
                &mut worker,
                cid,
                &args.peers,
            ) {
                Ok(size) => {
                    eprintln!("sworker: sealed {cid} ({size} bytes)");
                    follow.queue.remove(&text);
                    retry_at.remove(&text);
                }
                Err(e) => {
                    eprintln!("sworker: {cid}: {e}; retrying in 10 s");
                    retry_at.insert(text, Instant::now() + Duration::from_secs(10));
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
        if record.is_some_and(|r| r.report_slot == slot) {
            last_report_slot = Some(slot);
        }
        if slot > 0 && head.height > slot && last_report_slot != Some(slot) {
            let hash = client.block(slot)?.hash;
            let (report, signature) = worker
                .prepare_report(slot, hash)
                .map_err(|e| e.to_string())?;
            let (added, deleted) = (report.added.len(), report.deleted.len());
            match client.submit(
                &account,
                Call::Swork(SworkCall::ReportWorks { report, signature }),
            ) {
                Ok(_) => eprintln!(
                    "sworker: report for slot {slot} sent (+{added} −{deleted} files, SRD {} MiB)",
                    worker.srd().size() >> 20
                ),
                Err(e) => eprintln!("sworker: report for slot {slot}: {e}"),
            }
            last_report_slot = Some(slot);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The anchor reports are filed under: the enclave key the identity was first bound to.
fn anchor(client: &ChainClient, key: &[u8; 32]) -> Result<[u8; 32], String> {
    Ok(client
        .read::<PubKeyInfo>(&swork::pubkey_key(key))?
        .and_then(|i| i.anchor)
        .unwrap_or(*key))
}

/// Registers the enclave key unless the chain already knows it, and waits for it to land.
fn register(client: &ChainClient, account: &Keypair, enclave: &dyn Enclave) -> Result<(), String> {
    let key = enclave.public_key();
    if client
        .read::<PubKeyInfo>(&swork::pubkey_key(&key))?
        .is_some()
    {
        return Ok(());
    }
    let (enclave_sig, attestation) = enclave
        .attest(&account.public())
        .map_err(|e| e.to_string())?;
    client.submit(
        account,
        Call::Swork(SworkCall::Register {
            code: enclave.code(),
            enclave_key: key,
            enclave_sig,
            attestation,
        }),
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .read::<PubKeyInfo>(&swork::pubkey_key(&key))?
            .is_some()
        {
            eprintln!("sworker: enclave registered");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(
        "registration did not land within 60 s (is the code allowlisted and the authority right?)"
            .into(),
    )
}

/// Fetches `cid` from the configured peers into staging and seals it; returns its size.
fn store(
    rt: &tokio::runtime::Runtime,
    host: &crust_net::Host,
    exchange: &Arc<crust_net::Exchange>,
    staging: &Arc<Repo>,
    worker: &mut Worker,
    cid: Cid,
    peers: &[String],
) -> Result<u64, String> {
    if let Some(done) = worker.sealed().file(&cid) {
        return Ok(done.size);
    }
    rt.block_on(async {
        let mut connected: Vec<crust_net::PeerId> = Vec::new();
        for addr in peers {
            let addr = addr.parse().map_err(|e| format!("--peer {addr}: {e}"))?;
            if let Ok(peer) = host.dial(addr).await {
                connected.push(peer);
            }
        }
        if connected.is_empty() {
            return Err("no --peer reachable".to_owned());
        }
        exchange
            .fetch_dag(
                &connected,
                cid,
                &crust_net::FetchOptions::default(),
                &mut |_| {},
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    })?;
    let sealed = worker
        .store_file(&**staging, cid)
        .map_err(|e| e.to_string())?;
    // The plaintext copy is no longer needed: nothing in staging is pinned.
    let _ = staging.gc();
    Ok(sealed.size)
}

#[cfg(test)]
mod tests {
    use super::*;

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
