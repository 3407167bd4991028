//! `crust ipfs daemon`: the Kubo RPC API and the gateway over one repository, with the data
//! network behind them and pinned roots announced on the DHT.

use super::multiaddrs;
use axum::serve::ListenerExt;
use crust_ipfs::Cid;
use crust_ipfs::repo::Repo;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Addresses the daemon serves on.
#[derive(clap::Args, Clone)]
pub struct DaemonArgs {
    /// Kubo RPC API address.
    #[arg(long, default_value = "127.0.0.1:5001")]
    pub api_addr: std::net::SocketAddr,
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway_addr: std::net::SocketAddr,
    /// libp2p listen address for Bitswap and the DHT (the data network; repeatable), e.g.
    /// `/ip4/0.0.0.0/tcp/4001` or `/ip4/0.0.0.0/udp/4001/quic-v1`. Default: both, on loopback.
    #[arg(
        long = "swarm-addr",
        default_values_t = ["/ip4/127.0.0.1/tcp/4001".to_owned(), "/ip4/127.0.0.1/udp/4001/quic-v1".to_owned()]
    )]
    pub swarm_addrs: Vec<String>,
    /// DHT bootstrap peer (`…/p2p/<id>`, repeatable; `default`: Kubo's public bootstrap peers,
    /// with a public `--swarm-addr`/`--announce`); pinned roots are announced on the DHT.
    #[arg(long = "bootstrap")]
    pub bootstrap: Vec<String>,
    /// Address others should dial instead of the listen address (repeatable), e.g. a public
    /// `/ip4/<ip>/tcp/4001` behind a port forward.
    #[arg(long = "announce")]
    pub announce: Vec<String>,
    /// Memory budget (at least 64MiB): sizes the Bitswap send queue and look-ahead fetches, and
    /// must hold the repository's block index (~200 bytes a block); the daemon warns when it
    /// grows past it.
    #[arg(long, default_value = "512MiB", value_parser = crate::parse_bytes)]
    pub memory: u64,
}

/// Opens the repository and serves the Kubo RPC API and the gateway until interrupted.
pub fn daemon(repo_dir: &Path, addrs: &DaemonArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    crate::memory::watch("ipfs daemon", addrs.memory);
    runtime.block_on(serve(repo_dir, addrs, shutdown_signal(), |_| {}))
}

/// Ctrl-C or SIGTERM (a service manager stopping the daemon).
async fn shutdown_signal() {
    crate::storage::wait_for_stop_signal().await;
}

/// Announces the repository's pinned roots on the DHT: new pins within seconds, all of them
/// again every 12 hours (provider records expire after a day).
async fn announce_pins(host: crust_net::Host, repo: Arc<Repo>) {
    let mut announced: std::collections::HashMap<Cid, std::time::Instant> =
        std::collections::HashMap::new();
    let every = std::time::Duration::from_secs(12 * 3600);
    loop {
        for (cid, _) in repo.pins() {
            if announced.get(&cid).is_some_and(|t| t.elapsed() < every) {
                continue;
            }
            // A lone node has nobody to store the record; it is retried on the next round.
            if host.provide(cid).await.is_ok() {
                announced.insert(cid, std::time::Instant::now());
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Serves until `shutdown` resolves; writes `<repo>/api` so CLI commands find the daemon.
/// `ready` hears once whether the listeners are up.
pub async fn serve(
    repo_dir: &Path,
    addrs: &DaemonArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(Result<(), String>),
) -> Result<(), String> {
    let started = start(repo_dir, addrs).await;
    let (api_listener, gw_listener, api, gateway) = match started {
        Ok(parts) => {
            ready(Ok(()));
            parts
        }
        Err(e) => {
            ready(Err(e.clone()));
            return Err(e);
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let api_task = tokio::spawn(
        axum::serve(api_listener.tap_io(no_delay), api)
            .with_graceful_shutdown(wait(rx.clone()))
            .into_future(),
    );
    let gw_task = tokio::spawn(
        axum::serve(gw_listener.tap_io(no_delay), gateway)
            .with_graceful_shutdown(wait(rx))
            .into_future(),
    );
    shutdown.await;
    let _ = tx.send(true);
    let _ = api_task.await;
    let _ = gw_task.await;
    let _ = fs::remove_file(repo_dir.join("api"));
    let _ = fs::remove_file(repo_dir.join("gateway"));
    let _ = fs::remove_file(repo_dir.join("swarm"));
    tracing::info!(target: "crust::ipfs", "stopped");
    Ok(())
}

/// Responses are written as headers then body; without `TCP_NODELAY` Nagle's algorithm holds
/// the body back until the client's delayed ACK (~40 ms per small response).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

type Started = (
    tokio::net::TcpListener,
    tokio::net::TcpListener,
    axum::Router,
    axum::Router,
);

async fn start(repo_dir: &Path, addrs: &DaemonArgs) -> Result<Started, String> {
    fs::create_dir_all(repo_dir)
        .map_err(|e| format!("cannot create {}: {e}", repo_dir.display()))?;
    let repo = Arc::new(
        Repo::open(repo_dir)
            .map_err(|e| format!("cannot open repository {}: {e}", repo_dir.display()))?,
    );
    let key = crust_ipfs::identity::NodeKey::load_or_create(repo_dir)
        .map_err(|e| format!("node key: {e}"))?;
    let api_listener = tokio::net::TcpListener::bind(addrs.api_addr)
        .await
        .map_err(|e| format!("cannot listen for the API on {}: {e}", addrs.api_addr))?;
    let gw_listener = tokio::net::TcpListener::bind(addrs.gateway_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot listen for the gateway on {}: {e}",
                addrs.gateway_addr
            )
        })?;
    let api_addr = api_listener.local_addr().map_err(|e| e.to_string())?;
    let gw_addr = gw_listener.local_addr().map_err(|e| e.to_string())?;
    // The data network: libp2p + Bitswap over the same repository.
    let listen = multiaddrs(&addrs.swarm_addrs, "swarm-addr")?;
    let host = crust_net::Host::start(crust_net::NetConfig {
        key_seed: key.seed(),
        listen,
        bootstrap: crust_net::bootstrap_addrs(&addrs.bootstrap)?,
        announce: multiaddrs(&addrs.announce, "announce")?,
    })
    .await
    .map_err(|e| format!("data network: {e}"))?;
    let blocks = repo.store().len() as u64;
    let memory = crate::memory::ContentMemory::plan("ipfs daemon", addrs.memory, blocks)?;
    tracing::info!(target: "crust::ipfs", "{}", memory.describe(blocks));
    let exchange = crust_net::Exchange::start_with(host.clone(), repo.clone(), &memory.net);
    tokio::spawn(announce_pins(host.clone(), repo.clone()));
    let swarm_addrs: Vec<String> = host
        .listen_addrs()
        .iter()
        .map(|a| format!("{a}/p2p/{}", host.peer_id()))
        .collect();
    fs::write(repo_dir.join("swarm"), swarm_addrs.join("\n") + "\n").map_err(|e| e.to_string())?;
    let info = crust_api::kubo::NodeInfo {
        peer_id: key.peer_id(),
        public_key: key.public_key_base64(),
        addresses: swarm_addrs.clone(),
    };
    // The gateway answers for any CID on the network, fetching what the repository lacks.
    // One for the gateway and the API, so they share their fetches under way.
    let fetcher = Arc::new(crust_net::NetworkStore::with_memory(
        repo.clone(),
        host.clone(),
        exchange.clone(),
        &memory.net,
    ));
    let gateway = crust_ipfs::gateway::router_for(crust_ipfs::gateway::Source::new(
        fetcher.clone(),
        repo.dir(),
    ));
    let network = crust_api::kubo::Network {
        host: host.clone(),
        exchange,
        fetcher,
    };
    let api = crust_api::kubo::router(repo.clone(), info, Some(network));
    fs::write(repo_dir.join("api"), format!("http://{api_addr}\n")).map_err(|e| e.to_string())?;
    fs::write(repo_dir.join("gateway"), format!("http://{gw_addr}\n"))
        .map_err(|e| e.to_string())?;
    tracing::info!(
        target: "crust::ipfs",
        "peer {}; repository {}",
        key.peer_id(),
        repo_dir.display()
    );
    tracing::info!(
        target: "crust::ipfs",
        "Kubo RPC API on http://{api_addr}/api/v0  gateway on http://{gw_addr}/ipfs/<cid>"
    );
    tracing::info!(target: "crust::ipfs", "Bitswap on {}", swarm_addrs.join(" "));
    Ok((api_listener, gw_listener, api, gateway))
}
