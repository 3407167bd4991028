//! The data-network commands: `swarm/*`, `bitswap/*` and `crust/peers`, and the protocols
//! `id` lists.

use super::args::Args;
use super::error::ApiError;
use super::{Ctx, Network};
use axum::Json;
use axum::response::{IntoResponse, Response};
use crust_ipfs::Cid;
use serde_json::{Value, json};

/// The protocols the node speaks on libp2p (empty without a network).
pub(super) fn protocols(ctx: &Ctx) -> Vec<&'static str> {
    match ctx.network {
        Some(_) => {
            let mut out = crust_ipfs::bitswap::PROTOCOLS.to_vec();
            out.extend(["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
            out.sort_unstable();
            out
        }
        None => Vec::new(),
    }
}

fn network(ctx: &Ctx) -> Result<&Network, ApiError> {
    ctx.network
        .as_ref()
        .ok_or_else(|| ApiError::fail("this node runs without the data network"))
}

fn peer_arg(args: &Args, name: &str) -> Result<crust_net::PeerId, ApiError> {
    let text = args
        .get(name)
        .ok_or_else(|| ApiError::bad(format!("argument \"{name}\" is required")))?;
    text.parse()
        .map_err(|e| ApiError::bad(format!("{text}: not a peer ID: {e}")))
}

fn cid_list(cids: &[Cid]) -> Vec<Value> {
    cids.iter().map(|c| json!({"/": c.to_string()})).collect()
}

/// `swarm/peers`: the connected peers.
pub(super) async fn swarm_peers(ctx: Ctx) -> Result<Response, ApiError> {
    let peers = network(&ctx)?
        .host
        .peers()
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?;
    let list: Vec<Value> = peers
        .iter()
        .map(|(peer, addr)| json!({"Addr": addr.to_string(), "Peer": peer.to_string()}))
        .collect();
    Ok(Json(json!({ "Peers": list })).into_response())
}

/// Most addresses one `swarm/connect` dials.
const MAX_CONNECT: usize = 20;
/// How long one dial may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `swarm/connect`: dials each `arg` (a multiaddr ending in `/p2p/<peer id>`), as Kubo does;
/// fails with the first address that could not be reached.
pub(super) async fn swarm_connect(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let addrs = args.all("arg");
    if addrs.is_empty() {
        return Err(ApiError::bad("argument \"address\" is required"));
    }
    if addrs.len() > MAX_CONNECT {
        return Err(ApiError::bad(format!("at most {MAX_CONNECT} addresses")));
    }
    let host = network(&ctx)?.host.clone();
    let mut strings = Vec::new();
    for text in addrs {
        let addr: crust_net::Multiaddr = text
            .parse()
            .map_err(|e| ApiError::bad(format!("{text}: {e}")))?;
        let peer = tokio::time::timeout(CONNECT_TIMEOUT, host.dial(addr))
            .await
            .map_err(|_| ApiError::fail(format!("connect {text}: timed out")))?
            .map_err(|e| ApiError::fail(format!("connect {text}: {e}")))?;
        strings.push(format!("connect {peer} success"));
    }
    Ok(Json(json!({ "Strings": strings })).into_response())
}

/// `bitswap/stat`: totals and the current wantlist.
pub(super) fn bitswap_stat(ctx: Ctx) -> Result<Response, ApiError> {
    let stats = network(&ctx)?.exchange.stats();
    let peers: Vec<String> = stats.peers.iter().map(|p| p.to_string()).collect();
    Ok(Json(json!({
        "BlocksReceived": stats.blocks_received,
        "DataReceived": stats.data_received,
        "BlocksSent": stats.blocks_sent,
        "DataSent": stats.data_sent,
        "DupBlksReceived": 0,
        "DupDataReceived": 0,
        "MessagesReceived": 0,
        "ProvideBufLen": 0,
        "Wantlist": cid_list(&stats.wantlist),
        "Peers": peers,
    }))
    .into_response())
}

/// `bitswap/wantlist[?peer=]`: what we want, or what a peer left with us.
pub(super) fn bitswap_wantlist(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let exchange = &network(&ctx)?.exchange;
    let keys = match args.get("peer") {
        Some(_) => exchange.peer_wantlist(&peer_arg(&args, "peer")?),
        None => exchange.stats().wantlist,
    };
    Ok(Json(json!({ "Keys": cid_list(&keys) })).into_response())
}

/// `bitswap/ledger?arg=<peer>`: one peer's account.
pub(super) fn bitswap_ledger(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let peer = peer_arg(&args, "arg")?;
    let account = network(&ctx)?.exchange.ledger().account(&peer);
    Ok(Json(json!({
        "Peer": peer.to_string(),
        "Value": account.debt_ratio(),
        "Sent": account.bytes_sent,
        "Recv": account.bytes_received,
        "Exchanged": account.blocks_sent + account.blocks_received,
    }))
    .into_response())
}

/// `crust/peers`: every peer we are connected to or hold an account for, with its standing.
pub(super) async fn crust_peers(ctx: Ctx) -> Result<Response, ApiError> {
    let net = network(&ctx)?;
    let connected: std::collections::HashMap<_, _> = net
        .host
        .peers()
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?
        .into_iter()
        .collect();
    let ledger = net.exchange.ledger();
    let mut peers: Vec<_> = ledger.accounts();
    for peer in connected.keys() {
        if !peers.iter().any(|(p, _)| p == peer) {
            peers.push((*peer, ledger.account(peer)));
        }
    }
    let list: Vec<Value> = peers
        .iter()
        .map(|(peer, a)| {
            json!({
                "Peer": peer.to_string(),
                "Addr": connected.get(peer).map(|a| a.to_string()),
                "Standing": format!("{:?}", ledger.standing(peer)),
                "Sent": a.bytes_sent,
                "Recv": a.bytes_received,
                "BlocksSent": a.blocks_sent,
                "BlocksRecv": a.blocks_received,
                "DebtRatio": a.debt_ratio(),
                "Violations": a.violations,
            })
        })
        .collect();
    Ok(Json(json!({ "Peers": list })).into_response())
}
