//! `crust devnet`: a whole network on one machine — validators, storage nodes and an IPFS node,
//! each its own `crust` process on loopback with a log in the data directory, and a one-line
//! status ticker. Ctrl-C stops every process; running it again resumes from the data directory.

use crate::chain_client::ChainClient;
use crust_chain::spec::{ChainSpec, SpecBalance, SpecValidator};
use crust_runtime::Call;
use crust_runtime::market::{self, FileInfo};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The well-known development accounts, funded in every devnet.
const DEV_NAMES: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];

/// How `crust devnet` runs.
#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Validators (each also owns the storage node with the same index, so proven storage
    /// raises its stake limit).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub validators: u16,
    /// Storage nodes (sWorker with a software enclave, Bitswap host and chain follower).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(0..=32))]
    pub storage_nodes: u16,
    /// Data directory: chain spec, one directory per process, logs.
    #[arg(long, default_value = "./crust-data/devnet")]
    pub data_dir: PathBuf,
    /// Start from a fresh network, deleting the data directory first.
    #[arg(long)]
    pub fresh: bool,
    /// JSON-RPC port of the first validator (the others use the next ports).
    #[arg(long, default_value_t = 9933)]
    pub rpc_port: u16,
    /// Chain network port of the first validator (the others use the next ports).
    #[arg(long, default_value_t = 30333)]
    pub p2p_port: u16,
    /// Kubo RPC API port of the IPFS node.
    #[arg(long, default_value_t = 5001)]
    pub api_port: u16,
    /// Gateway port of the IPFS node; storage node N serves its replicas on this port + 1 + N.
    #[arg(long, default_value_t = 8080)]
    pub gateway_port: u16,
    /// Bitswap port of the IPFS node.
    #[arg(long, default_value_t = 4001)]
    pub swarm_port: u16,
    /// Port of the pinning service (IPFS Pinning Service API and authenticated uploads; the
    /// console's upload page sends files there).
    #[arg(long, default_value_t = 5005)]
    pub pin_port: u16,
    /// Each storage node's capacity for sealed files and SRD.
    #[arg(long, default_value = "256MiB", value_parser = crate::parse_bytes)]
    pub capacity: u64,
    /// MiB per SRD unit.
    #[arg(long, default_value_t = 16)]
    pub srd_unit_mib: u32,
    /// No status ticker (a line every 30 s instead).
    #[arg(long)]
    pub quiet: bool,
}

/// The devnet's shape, fixed when its data directory is created.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct Layout {
    validators: u16,
    storage_nodes: u16,
}

/// A validator's dev name (`Alice`, …, then `Validator7`, …).
fn validator_name(i: u16) -> String {
    DEV_NAMES
        .get(usize::from(i))
        .map_or_else(|| format!("Validator{i}"), |n| (*n).to_owned())
}

/// The account owning storage node `j`: validator `j`'s stash while there are validators (their
/// stake limits come from storage), then Eve, Ferdie, then `//Storage<j>`.
pub fn storage_owner(j: u16, validators: u16) -> String {
    if j < validators {
        format!("//{}//stash", validator_name(j))
    } else {
        DEV_NAMES
            .get(usize::from(j))
            .map_or_else(|| format!("//Storage{j}"), |n| format!("//{n}"))
    }
}

/// The devnet chain spec: the `local` spec's timing (250 ms blocks, 15 s slots, 1-minute eras)
/// with `validators` genesis validators and every storage owner funded for fees.
/// Memory budgets of the devnet's processes, in MiB: with the default 4 validators and 6
/// storage nodes they add up to 1.8 GiB, so the devnet fits on an 8 GB laptop with room to
/// spare (measured idle: ~70 MB a validator, ~30–50 MB a storage node, ~20–100 MB the IPFS
/// node; see `benches/devnet_memory.py`).
pub struct DevnetMemory {
    /// Each validator's `--memory`.
    pub validator: u64,
    /// Each storage node's `--memory`.
    pub storage: u64,
    /// The IPFS node's `--memory`.
    pub ipfs: u64,
}

/// The devnet's budgets.
pub const DEVNET_MEMORY_MIB: DevnetMemory = DevnetMemory {
    validator: 256,
    storage: 96,
    ipfs: 256,
};

fn devnet_spec(layout: &Layout) -> Result<ChainSpec, String> {
    let mut spec = ChainSpec::builtin("local").map_err(|e| e.to_string())?;
    spec.name = format!(
        "Crust in Rust devnet ({} validators, {} storage nodes)",
        layout.validators, layout.storage_nodes
    );
    spec.id = "devnet".into();
    spec.validator_count = u32::from(layout.validators);
    spec.validators = (0..layout.validators)
        .map(|i| {
            let name = validator_name(i);
            SpecValidator {
                stash: format!("//{name}//stash"),
                session_key: format!("//{name}//session"),
                bond: "10000 CRU".into(),
            }
        })
        .collect();
    for j in 0..layout.storage_nodes {
        let owner = storage_owner(j, layout.validators);
        if !spec.balances.iter().any(|b| b.account == owner) {
            spec.balances.push(SpecBalance {
                account: owner,
                amount: "1000 CRU".into(),
            });
        }
    }
    spec.genesis().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// A child process of the devnet.
struct Proc {
    name: String,
    args: Vec<String>,
    child: Child,
    log: PathBuf,
    exited: bool,
}

fn spawn(name: &str, args: &[String], logs: &Path) -> Result<Proc, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let log = logs.join(format!("{name}.log"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {name}: {e}"))?;
    Ok(Proc {
        name: name.to_owned(),
        args: args.to_vec(),
        child,
        log,
        exited: false,
    })
}

/// Asks every process to stop (SIGTERM), then kills what is left after a few seconds.
fn stop_all(procs: &mut [Proc]) {
    use rustix::process::{Pid, Signal, kill_process};
    for p in procs.iter() {
        let _ = kill_process(Pid::from_child(&p.child), Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for p in procs.iter_mut() {
        while Instant::now() < deadline && matches!(p.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

/// Stops the devnet on Ctrl-C or SIGTERM.
fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            flag.store(true, Ordering::SeqCst);
        })
        .map_err(|e| e.to_string())?;
    Ok(stop)
}

fn wait_for(what: &str, stop: &AtomicBool, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        if stop.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not start within 2 minutes"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// `crust devnet`: runs until Ctrl-C.
pub fn run(args: DevnetArgs) -> Result<(), String> {
    let dir = &args.data_dir;
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let wanted = Layout {
        validators: args.validators,
        storage_nodes: args.storage_nodes,
    };
    let layout_path = dir.join("devnet.json");
    let layout = match std::fs::read(&layout_path) {
        Ok(bytes) => {
            let layout: Layout = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", layout_path.display()))?;
            if layout != wanted {
                eprintln!(
                    "devnet: resuming the network in {} with {} validators and {} storage nodes (start with --fresh to change its shape)",
                    dir.display(),
                    layout.validators,
                    layout.storage_nodes
                );
            }
            layout
        }
        Err(_) => {
            let text = serde_json::to_string_pretty(&wanted).map_err(|e| e.to_string())?;
            std::fs::write(&layout_path, text)
                .map_err(|e| format!("{}: {e}", layout_path.display()))?;
            wanted
        }
    };
    let spec_path = dir.join("chain-spec.json");
    let spec = match std::fs::read_to_string(&spec_path) {
        Ok(text) => {
            ChainSpec::from_json(&text).map_err(|e| format!("{}: {e}", spec_path.display()))?
        }
        Err(_) => {
            let spec = devnet_spec(&layout)?;
            let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
            std::fs::write(&spec_path, text)
                .map_err(|e| format!("{}: {e}", spec_path.display()))?;
            spec
        }
    };
    let stop = stop_flag()?;
    let mut procs: Vec<Proc> = Vec::new();
    let result = start_and_watch(&args, &layout, &spec, &spec_path, &stop, &mut procs);
    eprintln!("\ndevnet: stopping {} processes…", procs.len());
    stop_all(&mut procs);
    eprintln!(
        "devnet: stopped; run `crust devnet --data-dir {}` again to resume",
        dir.display()
    );
    result
}

fn start_and_watch(
    args: &DevnetArgs,
    layout: &Layout,
    spec: &ChainSpec,
    spec_path: &Path,
    stop: &AtomicBool,
    procs: &mut Vec<Proc>,
) -> Result<(), String> {
    let dir = &args.data_dir;
    let logs = dir.join("logs");
    let v = layout.validators;
    let port = |base: u16, i: u16| {
        base.checked_add(i)
            .ok_or_else(|| format!("port {base} + {i} is out of range"))
    };
    let mut peers = Vec::new();
    for i in 0..v {
        peers.push(format!(
            "//{}//session@127.0.0.1:{}",
            validator_name(i),
            port(args.p2p_port, i)?
        ));
    }
    let mut rpcs = Vec::new();
    for i in 0..v {
        let rpc = format!("127.0.0.1:{}", port(args.rpc_port, i)?);
        // A devnet made by a build with another on-disk format is refused here, before any
        // process starts, with what to do.
        crust_chain::service::check_data_format(&dir.join(format!("validator-{i}")))
            .map_err(|e| e.to_string())?;
        let mut a = vec![
            "node".to_owned(),
            "--chain".into(),
            spec_path.display().to_string(),
            "--validator".into(),
            format!("//{}//session", validator_name(i)),
            "--data-dir".into(),
            dir.join(format!("validator-{i}")).display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", port(args.p2p_port, i)?),
            "--rpc".into(),
            rpc.clone(),
            "--memory".into(),
            format!("{}MiB", DEVNET_MEMORY_MIB.validator),
            "--console-gateway".into(),
            format!("http://127.0.0.1:{}", args.gateway_port),
            "--console-pinning".into(),
            format!("http://127.0.0.1:{}", args.pin_port),
        ];
        // One bootnode each (validator 0, and validator 1 for validator 0): the others are
        // found through it, as on a network of many hosts.
        if let Some(boot) = peers.get(if i == 0 { 1 } else { 0 }) {
            a.push("--bootnode".into());
            a.push(boot.clone());
        }
        procs.push(spawn(&format!("validator-{i}"), &a, &logs)?);
        rpcs.push(format!("http://{rpc}"));
    }

    // The user's IPFS node: uploads go here, storage nodes fetch from it.
    let ipfs_dir = dir.join("ipfs");
    let swarm_file = ipfs_dir.join("swarm");
    let _ = std::fs::remove_file(&swarm_file);
    let api = format!("127.0.0.1:{}", args.api_port);
    let gateway = format!("127.0.0.1:{}", args.gateway_port);
    procs.push(spawn(
        "ipfs",
        &[
            "ipfs".into(),
            "daemon".into(),
            "--repo".into(),
            ipfs_dir.display().to_string(),
            "--api-addr".into(),
            api.clone(),
            "--gateway-addr".into(),
            gateway.clone(),
            "--swarm-addr".into(),
            format!("/ip4/127.0.0.1/tcp/{}", args.swarm_port),
            "--swarm-addr".into(),
            format!("/ip4/127.0.0.1/udp/{}/quic-v1", args.swarm_port),
            "--memory".into(),
            format!("{}MiB", DEVNET_MEMORY_MIB.ipfs),
        ],
        &logs,
    )?);
    let chain = ChainClient::new(&rpcs[0])?;
    wait_for("the first validator's RPC", stop, || chain.head().is_ok())?;
    wait_for("the IPFS node", stop, || swarm_file.exists())?;
    let ipfs_swarm = std::fs::read_to_string(&swarm_file)
        .map_err(|e| format!("{}: {e}", swarm_file.display()))?
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();

    for j in 0..layout.storage_nodes {
        let node_dir = dir.join(format!("storage-{j}"));
        let a = vec![
            "sworker".to_owned(),
            "run".into(),
            "--account".into(),
            storage_owner(j, v),
            "--dir".into(),
            node_dir.display().to_string(),
            "--capacity".into(),
            args.capacity.to_string(),
            "--srd-unit-mib".into(),
            args.srd_unit_mib.to_string(),
            "--collateral".into(),
            "100 CRU".into(),
            "--peer".into(),
            ipfs_swarm.clone(),
            "--bootstrap".into(),
            ipfs_swarm.clone(),
            "--chain".into(),
            rpcs[usize::from(j % v)].clone(),
            "--gateway-addr".into(),
            format!("127.0.0.1:{}", storage_gateway_port(args.gateway_port, j)?),
            // The devnet's validators are its own: a storage node stopped across an era change
            // takes their word for the committee it missed instead of stopping.
            "--trust-node-committee".into(),
            "--memory".into(),
            format!("{}MiB", DEVNET_MEMORY_MIB.storage),
        ];
        procs.push(spawn(&format!("storage-{j}"), &a, &logs)?);
    }

    // The pinning service, ordering for accounts that approve it (//Alice does below); the
    // consoles' upload pages send files to it.
    let pin_url = format!("http://127.0.0.1:{}", args.pin_port);
    let mut pin_args = vec![
        "pin".to_owned(),
        "serve".into(),
        "--key".into(),
        DEVNET_PIN_KEY.into(),
        "--addr".into(),
        format!("127.0.0.1:{}", args.pin_port),
        "--dir".into(),
        dir.join("pinning").display().to_string(),
        "--api".into(),
        format!("http://{api}"),
        "--chain".into(),
        rpcs[0].clone(),
        "--replicas".into(),
        layout.storage_nodes.clamp(1, 3).to_string(),
    ];
    for rpc in &rpcs {
        pin_args.push("--cors-origin".into());
        pin_args.push(rpc.clone());
    }
    procs.push(spawn("pinning", &pin_args, &logs)?);
    let upload_token = approve_uploads(&rpcs[0], dir);

    // What runs, for operators and scripts (a process can be restarted by hand with its args).
    let listing: Vec<_> = procs
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "pid": p.child.id(), "args": p.args, "log": p.log,
            })
        })
        .collect();
    let listing_path = dir.join("processes.json");
    std::fs::write(
        &listing_path,
        serde_json::to_string_pretty(&listing).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", listing_path.display()))?;
    print_endpoints(args, layout, &rpcs, &api, &gateway, &ipfs_swarm);
    match &upload_token {
        Ok(path) => eprintln!(
            "  uploads          {pin_url}  (Pinning Service API; //Alice's token for the console's upload page is in {})",
            path.display()
        ),
        Err(e) => eprintln!("  uploads          {pin_url}  (//Alice could not approve it: {e})"),
    }
    let era_blocks = spec
        .report_slot_blocks
        .saturating_mul(spec.slots_per_era)
        .max(1);
    let mut ticker = Ticker::default();
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let mut last_line = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        for p in procs.iter_mut().filter(|p| !p.exited) {
            if let Ok(Some(status)) = p.child.try_wait() {
                p.exited = true;
                let log = std::fs::read_to_string(&p.log).unwrap_or_default();
                let last = log.lines().rev().find(|l| !l.trim().is_empty());
                eprintln!(
                    "\ndevnet: {} exited ({status}){}; its log: {}",
                    p.name,
                    last.map(|l| format!(": {l}")).unwrap_or_default(),
                    p.log.display()
                );
            }
        }
        let up = procs.iter().filter(|p| !p.exited).count();
        let line = ticker.line(&rpcs, era_blocks, spec.report_slot_blocks, up, procs.len());
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if last_line.elapsed() >= Duration::from_secs(30) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// The key the devnet's pinning service signs orders with (it pays only their fees).
const DEVNET_PIN_KEY: &str = "//Ferdie";

/// Lets the devnet's pinning service order for //Alice (on chain, up to 1 000 CRU) and writes
/// her web3 token (a signature over her address, honoured while the approval lasts) to
/// `<dir>/alice-upload-token`, for the console's upload page. Returns that file.
fn approve_uploads(chain: &str, dir: &Path) -> Result<PathBuf, String> {
    let service = crate::keys::signer(DEVNET_PIN_KEY)?.public();
    let alice = crate::keys::signer("//Alice")?;
    crate::pinning::submit_approval(service, "1000CRU", 1_000_000, &alice, chain)?;
    let path = dir.join("alice-upload-token");
    std::fs::write(
        &path,
        format!("{}\n", crust_pinning::auth::web3_token(&alice)),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The gateway port of storage node `j`: right after the IPFS node's.
fn storage_gateway_port(gateway_port: u16, j: u16) -> Result<u16, String> {
    gateway_port
        .checked_add(1 + j)
        .ok_or_else(|| format!("--gateway-port {gateway_port} leaves no port for storage-{j}"))
}

fn print_endpoints(
    args: &DevnetArgs,
    layout: &Layout,
    rpcs: &[String],
    api: &str,
    gateway: &str,
    ipfs_swarm: &str,
) {
    let dir = args.data_dir.display();
    eprintln!(
        "devnet: {} validators, {} storage nodes and an IPFS node are running (data and logs in {dir})",
        layout.validators, layout.storage_nodes
    );
    eprintln!("  chain JSON-RPC   {}", rpcs.join(" "));
    if let Some(first) = rpcs.first() {
        eprintln!("  console          {first}/  (open it in a browser)");
    }
    eprintln!("  Kubo RPC API     http://{api}");
    eprintln!("  gateway          http://{gateway}/ipfs/<cid>");
    eprintln!("  IPFS (Bitswap)   {ipfs_swarm}");
    eprintln!("  storage nodes    {dir}/storage-N (crust sworker status --dir …)");
    if layout.storage_nodes > 0 {
        eprintln!(
            "  storage gateways http://127.0.0.1:{}…{}/ipfs/<cid> (storage-0…)",
            args.gateway_port.saturating_add(1),
            args.gateway_port.saturating_add(layout.storage_nodes)
        );
    }
    eprintln!(
        "  dev accounts     //Alice … //Ferdie: the phrase \"{}\" followed by //Name",
        crust_primitives::account::DEV_PHRASE
    );
    for j in 0..layout.storage_nodes {
        eprintln!(
            "    storage-{j} owner {}",
            storage_owner(j, layout.validators)
        );
    }
    eprintln!("  try              crust put FILE   then   crust status <cid>   (Ctrl-C stops)");
}

/// The status ticker: follows finalized blocks for orders and counts their replicas.
#[derive(Default)]
struct Ticker {
    followed: u64,
    files: BTreeSet<crust_primitives::Cid>,
    replicas: usize,
    replicas_at: Option<Instant>,
}

impl Ticker {
    fn line(
        &mut self,
        rpcs: &[String],
        era_blocks: u64,
        slot_blocks: u64,
        up: usize,
        total: usize,
    ) -> String {
        let Some((client, height)) = rpcs.iter().find_map(|url| {
            let c = ChainClient::new(url).ok()?;
            let h = c.head().ok()?.height;
            Some((c, h))
        }) else {
            return format!("devnet: no validator answers RPC · processes {up}/{total} up");
        };
        // Bounded catch-up per tick, so the ticker stays live after a restart.
        let until = height.min(self.followed + 200);
        while self.followed < until {
            let next = self.followed + 1;
            if let Ok(block) = client.block(next) {
                for (tx, ok) in block.txs {
                    if let (true, Call::Market(call)) = (ok, &tx.unsigned.call)
                        && let Some(order) = call.order()
                    {
                        self.files.insert(*order.cid);
                    }
                }
            }
            self.followed = next;
        }
        if self
            .replicas_at
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
        {
            self.replicas = self
                .files
                .iter()
                .filter_map(|cid| client.read::<FileInfo>(&market::file_key(cid)).ok()?)
                .map(|f| f.replicas.len())
                .sum();
            self.replicas_at = Some(Instant::now());
        }
        format!(
            "finalized #{height} · era {} · slot {} · orders {} · replicas {} · processes {up}/{total} up",
            height / era_blocks,
            height / slot_blocks.max(1),
            self.files.len(),
            self.replicas
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devnet_spec_funds_every_storage_owner_and_validates() {
        let spec = devnet_spec(&Layout {
            validators: 4,
            storage_nodes: 8,
        })
        .unwrap();
        assert_eq!(spec.validators.len(), 4);
        assert_eq!(spec.validator_count, 4);
        let owners: Vec<String> = (0..8).map(|j| storage_owner(j, 4)).collect();
        assert_eq!(owners[0], "//Alice//stash");
        assert_eq!(owners[3], "//Dave//stash");
        assert_eq!(owners[4], "//Eve");
        assert_eq!(owners[7], "//Storage7");
        for owner in &owners {
            assert!(spec.balances.iter().any(|b| &b.account == owner), "{owner}");
        }
        // The spec round-trips through the file the nodes load.
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(ChainSpec::from_json(&text).unwrap(), spec);
    }
}
