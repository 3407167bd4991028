//! The Kubo RPC subset on `/api/v0`.
//!
//! Every command is `POST` (Kubo refuses `GET` with 405 since 0.5, to stop CSRF from web pages).
//! Arguments come in the query string (`arg` may repeat), files as `multipart/form-data`.
//! Errors use Kubo's body `{"Message", "Code", "Type": "error"}`: code 1 with status 400 for
//! bad arguments, code 0 with status 500 for failures. Long outputs (`add`, `cat`, `get`,
//! `dag/export`) stream as they are produced; `add` imports on a blocking thread fed from the
//! upload through a bounded channel, so a 1 GiB upload never sits in memory.
//!
//! This module holds the public entry points ([`router`], [`NodeInfo`], [`Network`]) and the
//! dispatch from command names to handlers; the handlers live in one submodule per command
//! family.

mod add;
mod args;
mod block;
mod dag;
mod error;
mod files;
mod ipns;
mod metrics;
mod pin;
mod stream;
mod swarm;

use add::add;
use args::Args;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use block::{block_get, block_put, block_stat};
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::repo::Repo;
use dag::{dag_export, dag_get, dag_import, dag_put, dag_stat};
use error::{ApiError, ApiResult};
use files::{cat, get, ls};
use ipns::{name_resolve, routing_put};
use metrics::metrics;
use pin::{pin_add, pin_ls, pin_rm, repo_gc};
use serde_json::json;
use std::sync::Arc;
use swarm::{
    bitswap_ledger, bitswap_stat, bitswap_wantlist, crust_peers, protocols, swarm_connect,
    swarm_peers,
};

/// Facts `id` and `version` report.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// libp2p peer ID.
    pub peer_id: String,
    /// Base64 libp2p public key protobuf.
    pub public_key: String,
    /// Listen multiaddrs (with `/p2p/<id>`).
    pub addresses: Vec<String>,
}

/// The data network the API reports on (`swarm/peers`, `bitswap/*`, metrics) and reads
/// missing blocks from (`cat`, `get`, `ls`, `block/get`, `dag/*`, `pin/add`).
#[derive(Clone)]
pub struct Network {
    /// The libp2p host.
    pub host: crust_net::Host,
    /// Its Bitswap exchange.
    pub exchange: Arc<crust_net::Exchange>,
    /// The repository read through the network: the one the node's gateway uses too, so both
    /// share their fetches under way.
    pub fetcher: Arc<crust_net::NetworkStore>,
}

#[derive(Clone)]
struct Ctx {
    repo: Arc<Repo>,
    /// Where reads go: the repository, backed by the network when there is one.
    blocks: Arc<dyn Blockstore>,
    /// The network-backed store itself, for whole-DAG fetches (`pin/add`).
    fetcher: Option<Arc<crust_net::NetworkStore>>,
    info: Arc<NodeInfo>,
    network: Option<Network>,
}

/// The `/api/v0` routes, and Prometheus metrics on `/debug/metrics/prometheus` (Kubo's path).
pub fn router(repo: Arc<Repo>, info: NodeInfo, network: Option<Network>) -> Router {
    Router::new()
        .route("/debug/metrics/prometheus", axum::routing::get(metrics))
        .route(
            "/api/v0/{*cmd}",
            post(dispatch)
                .get(method_not_allowed)
                .put(method_not_allowed)
                .delete(method_not_allowed),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state({
            let fetcher = network.as_ref().map(|n| n.fetcher.clone());
            Ctx {
                blocks: match &fetcher {
                    Some(f) => f.clone(),
                    None => repo.clone(),
                },
                fetcher,
                repo,
                info: Arc::new(info),
                network,
            }
        })
}

async fn method_not_allowed() -> Response {
    let mut r = (StatusCode::METHOD_NOT_ALLOWED, "405 - Method Not Allowed\n").into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?
}

async fn dispatch(State(ctx): State<Ctx>, Path(cmd): Path<String>, req: Request) -> Response {
    let args = Args(
        req.uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
    );
    let result = match cmd.trim_end_matches('/') {
        "version" => version(),
        "id" => Ok(Json(json!({
            "ID": ctx.info.peer_id,
            "PublicKey": ctx.info.public_key,
            "Addresses": ctx.info.addresses,
            "AgentVersion": format!("crust/{}", env!("CARGO_PKG_VERSION")),
            "Protocols": protocols(&ctx),
        }))
        .into_response()),
        "swarm/peers" => swarm_peers(ctx).await,
        "swarm/connect" => swarm_connect(ctx, args).await,
        "bitswap/stat" => bitswap_stat(ctx),
        "bitswap/wantlist" => bitswap_wantlist(ctx, args),
        "bitswap/ledger" => bitswap_ledger(ctx, args),
        "crust/peers" => crust_peers(ctx).await,
        "add" => add(ctx, args, req).await,
        "cat" => cat(ctx, args).await,
        "ls" => ls(ctx, args).await,
        "get" => get(ctx, args).await,
        "block/get" => block_get(ctx, args).await,
        "block/stat" => block_stat(ctx, args).await,
        "block/put" => block_put(ctx, args, req).await,
        "dag/export" => dag_export(ctx, args).await,
        "dag/stat" => dag_stat(ctx, args).await,
        "dag/import" => dag_import(ctx, args, req).await,
        "dag/put" => dag_put(ctx, args, req).await,
        "dag/get" => dag_get(ctx, args).await,
        "pin/add" => pin_add(ctx, args).await,
        "pin/ls" => pin_ls(ctx, args).await,
        "pin/rm" => pin_rm(ctx, args).await,
        "repo/gc" => repo_gc(ctx).await,
        "routing/put" => routing_put(ctx, args, req).await,
        "name/resolve" => name_resolve(ctx, args).await,
        other => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: 0,
            message: format!("unknown command {other:?}"),
        }),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn version() -> ApiResult {
    Ok(Json(json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Commit": "",
        "Repo": "crust-1",
        "System": format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
        "Golang": "none (crust, Rust)",
    }))
    .into_response())
}
