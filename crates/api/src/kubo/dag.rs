//! The `dag/*` commands: CAR export and import, and DAG size.

use super::args::{Args, resolve};
use super::error::{ApiError, ApiResult};
use super::stream::{ChannelReader, stream_writer};
use super::{Ctx, blocking};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::response::IntoResponse;
use bytes::Bytes;
use crust_ipfs::car;
use crust_ipfs::exporter::{self, Scope};
use crust_ipfs::repo::{PinKind, RepoError};
use serde_json::json;
use std::io;

pub(super) async fn dag_export(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let blocks = ctx.blocks.clone();
    let cid = blocking(move || resolve(&*blocks, &path)).await?;
    let blocks = ctx.blocks.clone();
    // Fail before the response starts when the DAG is incomplete (or cannot be fetched).
    blocking(move || Ok(exporter::select(&*blocks, cid, Scope::All)?)).await?;
    let blocks = ctx.blocks.clone();
    Ok(stream_writer("application/vnd.ipld.car", move |w| {
        car::export(&*blocks, cid, w)
            .map(|_| ())
            .map_err(|e| io::Error::other(e.to_string()))
    }))
}

/// `dag/stat`: blocks and bytes under a root, each block once (Kubo's shape). The size is what a
/// storage order for the root must name.
pub(super) async fn dag_stat(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let store = ctx.blocks.clone();
    let (cid, size, blocks) = blocking(move || {
        let cid = resolve(&*store, &path)?;
        let cids = exporter::select(&*store, cid, Scope::All)?;
        let size: u64 = cids.iter().filter_map(|c| store.size(c)).sum();
        Ok((cid, size, cids.len()))
    })
    .await?;
    Ok(Json(json!({
        "DagStats": [{"Cid": {"/": cid.to_string()}, "Size": size, "NumBlocks": blocks}],
        "TotalSize": size,
        "SharedSize": 0,
        "Ratio": 1,
    }))
    .into_response())
}

pub(super) async fn dag_import(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let pin_roots = args.flag("pin-roots", true)?;
    let stats = args.flag("stats", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut roots = Vec::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let repo = ctx.repo.clone();
        let import = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            repo.import(
                false,
                |sink| {
                    car::import(reader, sink)
                        .map_err(|e| RepoError::Io(io::Error::other(e.to_string())))
                },
                |_| Vec::new(),
            )
        });
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?
        {
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        drop(tx);
        let imported = import
            .await
            .map_err(|e| ApiError::fail(e.to_string()))?
            .map_err(|e| ApiError::fail(format!("importing CAR: {e}")))?;
        roots.extend(imported.roots);
        count += imported.blocks;
        bytes += imported.bytes;
    }
    let mut out = String::new();
    for root in &roots {
        let mut msg = String::new();
        if pin_roots {
            let repo = ctx.repo.clone();
            let r = *root;
            if let Err(e) = blocking(move || Ok(repo.pin(r, PinKind::Recursive)?)).await {
                msg = e.message;
            }
        }
        out.push_str(
            &json!({"Root": {"Cid": {"/": root.to_string()}, "PinErrorMsg": msg}}).to_string(),
        );
        out.push('\n');
    }
    if stats {
        out.push_str(
            &json!({"Stats": {"BlockCount": count, "BlockBytesCount": bytes}}).to_string(),
        );
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-chunked-output"), "1"),
        ],
        out,
    )
        .into_response())
}
