//! Fetching over Bitswap: `crust fetch` into the repository and `crust get --peer` into a
//! scratch store.

use super::read::{tempdir_near, write_tree};
use super::{RepoArgs, Target, bytes_bar, multiaddrs, open};
use crust_ipfs::Cid;
use crust_ipfs::repo::Repo;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

/// `crust fetch CID [--peer MULTIADDR…] [--bootstrap MULTIADDR…]`: pulls a whole DAG over
/// Bitswap into the repository (pinned), with a progress bar. Without `--peer`, the providers
/// are looked up on the DHT through the bootstrap peers.
pub fn fetch(
    cid: &str,
    peers: &[String],
    bootstrap: &[String],
    window: usize,
    repo: &RepoArgs,
) -> Result<(), String> {
    let cid: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
    if peers.is_empty() && bootstrap.is_empty() {
        return Err(
            "give --peer /ip4/…/tcp/…/p2p/<id> (a node that has the file) or --bootstrap (a DHT peer to find providers through)"
                .into(),
        );
    }
    let Target::Local(repo) = open(repo)? else {
        return Err("the repository is held by a running daemon; stop it to fetch (daemon-side fetch is not exposed yet)".into());
    };
    let repo: Arc<Repo> = Arc::new(*repo);
    fetch_into(&repo, cid, peers, bootstrap, window)?;
    repo.pin(cid, crust_ipfs::repo::PinKind::Recursive)
        .map_err(|e| e.to_string())?;
    eprintln!("pinned {cid}");
    Ok(())
}

/// `crust get CID --peer …`: fetches the DAG over Bitswap into a scratch store next to the
/// output, writes the tree, and removes the scratch store.
pub fn get_from_network(
    cid: &str,
    output: Option<PathBuf>,
    peers: &[String],
    bootstrap: &[String],
) -> Result<(), String> {
    let root: Cid = cid
        .trim_start_matches("/ipfs/")
        .parse()
        .map_err(|e| format!("{cid}: {e} (network fetches take a bare CID)"))?;
    let output = output.unwrap_or_else(|| PathBuf::from(root.to_string()));
    if output.exists() {
        return Err(format!(
            "{} already exists; choose another with -o",
            output.display()
        ));
    }
    let tmp = tempdir_near(&output)?;
    let result = Repo::open(&tmp)
        .map_err(|e| e.to_string())
        .map(Arc::new)
        .and_then(|repo| {
            fetch_into(&repo, root, peers, bootstrap, 64)?;
            write_tree(repo.store(), root, &output)
        });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Fetches the DAG under `cid` from `peers` (or providers found through `bootstrap`) into
/// `repo`, with a progress bar and a summary line.
fn fetch_into(
    repo: &Arc<Repo>,
    cid: Cid,
    peers: &[String],
    bootstrap: &[String],
    window: usize,
) -> Result<(), String> {
    let bootstrap = crust_net::bootstrap_addrs(bootstrap)?;
    let key = crust_ipfs::identity::NodeKey::load_or_create(repo.dir())
        .map_err(|e| format!("node key: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listen = vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}"))?];
        let host = crust_net::Host::start(crust_net::NetConfig {
            key_seed: key.seed(),
            listen,
            bootstrap,
            announce: Vec::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
        let exchange = crust_net::Exchange::start(host.clone(), repo.clone());
        let mut connected = Vec::new();
        for addr in multiaddrs(peers, "peer")? {
            match host.dial(addr).await {
                Ok(peer) => connected.push(peer),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        if connected.is_empty() {
            // Content routing: ask the DHT who provides the root.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while connected.is_empty() && std::time::Instant::now() < deadline {
                for provider in host.find_providers(cid).await.map_err(|e| e.to_string())? {
                    match host.connect(provider).await {
                        Ok(peer) => connected.push(peer),
                        Err(e) => eprintln!("warning: provider {provider}: {e}"),
                    }
                }
                if connected.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            if connected.is_empty() {
                return Err(format!("no reachable provider of {cid} found on the DHT"));
            }
            eprintln!("found {} provider(s) on the DHT", connected.len());
        }
        let started = std::time::Instant::now();
        let bar = bytes_bar(None);
        let options = crust_net::FetchOptions {
            window,
            ..Default::default()
        };
        let mut first_block = None;
        let done = exchange
            .fetch_dag(&connected, cid, &options, &mut |p| {
                first_block.get_or_insert_with(|| started.elapsed());
                bar.set_position(p.bytes)
            })
            .await
            .map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        let (blocks, bytes) = (done.blocks, done.bytes);
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let first = first_block.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        eprintln!(
            "fetched {blocks} blocks, {bytes} bytes in {secs:.2} s ({:.1} MB/s, first block after {first:.1} ms)",
            bytes as f64 / secs / 1e6
        );
        Ok::<(), String>(())
    })
}
