//! HTTP gateways over the local repository: the trustless gateway (`?format=raw|car`, verified
//! by the client) and the path gateway (deserialized files with ranges, directories, redirects),
//! as specified in ipfs/specs `http-gateways/{trustless,path}-gateway.md`.
//!
//! This gateway never fetches from the network: a block that is not local is a 404 before the
//! response starts and ends the stream after it started (an incomplete CAR, as the spec says).
//! Large bodies are streamed from a blocking task through a bounded channel, so memory stays
//! flat whatever the file size.
//!
//! This module holds the public entry points ([`Source`], [`router`], [`router_for`]) and the
//! error responses; requests are parsed in `request` and `ipns`, served in `serve`, and each
//! response format has its own submodule (`car`, `block`, `unixfs`, `dir`), with shared
//! headers in `headers` and content types in `mime`.

mod block;
mod car;
mod dir;
mod headers;
mod ipns;
mod mime;
mod request;
mod serve;
mod unixfs;

pub use mime::{mime_from_name, sniff};

use crate::blockstore::Blockstore;
use crate::exporter::ExportError;
use crate::repo::Repo;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use headers::cors;
use ipns::ipns;
use request::handle;
use std::path::PathBuf;
use std::sync::Arc;

/// What a gateway serves: blocks from any store (a repository, or a storage node's sealed
/// replicas), and IPNS records kept in a repository directory.
#[derive(Clone)]
pub struct Source {
    store: Arc<dyn Blockstore>,
    ipns_dir: PathBuf,
}

impl Source {
    /// Blocks from `store`, IPNS records from `ipns_dir`.
    pub fn new(store: Arc<dyn Blockstore>, ipns_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            ipns_dir: ipns_dir.into(),
        }
    }

    fn store(&self) -> &dyn Blockstore {
        self.store.as_ref()
    }

    fn dir(&self) -> &std::path::Path {
        &self.ipns_dir
    }
}

/// The gateway routes (`/ipfs/…`, `/ipns/…`) over a repository, to be served or merged into a
/// larger router.
pub fn router(repo: Arc<Repo>) -> Router {
    let dir = repo.dir().to_path_buf();
    router_for(Source::new(repo, dir))
}

/// The gateway routes over any [`Source`].
pub fn router_for(repo: Source) -> Router {
    Router::new()
        .route("/ipfs/{*path}", get(handle).head(handle).options(preflight))
        .route("/ipfs/", get(missing_cid).head(missing_cid))
        .route("/ipns/{*path}", get(ipns).head(ipns).options(preflight))
        .layer(axum::middleware::map_response(cors))
        .with_state(repo)
}

async fn preflight() -> Response {
    StatusCode::OK.into_response()
}

async fn missing_cid() -> Response {
    error(StatusCode::BAD_REQUEST, "path must be /ipfs/<cid>[/path]")
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (status, format!("{}\n", msg.into())).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn export_error(e: ExportError) -> Response {
    match e {
        ExportError::Missing(cid) => error(
            StatusCode::NOT_FOUND,
            format!("block {cid} is not available on this gateway"),
        ),
        ExportError::NotFound { .. } => error(StatusCode::NOT_FOUND, e.to_string()),
        ExportError::NotADirectory(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        ExportError::NotAFile(_) => error(StatusCode::BAD_REQUEST, e.to_string()),
        ExportError::PathRemainder(_) => error(StatusCode::NOT_IMPLEMENTED, e.to_string()),
        ExportError::Decode { .. } | ExportError::Links(_) => {
            error(StatusCode::BAD_GATEWAY, e.to_string())
        }
        ExportError::Store(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
