//! The `pin/*` commands and `repo/gc`.

use super::args::{Args, parse_path, resolve};
use super::error::{ApiError, ApiResult};
use super::{Ctx, blocking};
use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use crust_ipfs::Cid;
use crust_ipfs::repo::{PinKind, RepoError};
use serde_json::{Value, json};

pub(super) async fn pin_add(ctx: Ctx, args: Args) -> ApiResult {
    let recursive = args.flag("recursive", true)?;
    let paths = args.paths()?;
    let blocks = ctx.blocks.clone();
    let roots = blocking(move || {
        let mut roots = Vec::new();
        for p in paths {
            let cid = resolve(&*blocks, &p)?;
            // A direct pin needs only the root (fetched if missing).
            if !recursive && blocks.get(&cid)?.is_none() {
                return Err(ApiError::fail(format!("block {cid} not found")));
            }
            roots.push(cid);
        }
        Ok(roots)
    })
    .await?;
    // Fetch whatever of each DAG is missing first, many blocks at a time.
    if recursive && let Some(fetcher) = &ctx.fetcher {
        for cid in &roots {
            fetcher
                .fetch_dag(*cid)
                .await
                .map_err(|e| ApiError::fail(format!("fetching {cid}: {e}")))?;
        }
    }
    let repo = ctx.repo.clone();
    let pins = blocking(move || {
        let mut pinned = Vec::new();
        for cid in roots {
            repo.pin(
                cid,
                if recursive {
                    PinKind::Recursive
                } else {
                    PinKind::Direct
                },
            )?;
            pinned.push(cid.to_string());
        }
        Ok(pinned)
    })
    .await?;
    Ok(Json(json!({"Pins": pins})).into_response())
}

pub(super) async fn pin_ls(ctx: Ctx, args: Args) -> ApiResult {
    let kind = args
        .get("type")
        .filter(|t| !t.is_empty())
        .unwrap_or("all")
        .to_owned();
    if !matches!(kind.as_str(), "all" | "recursive" | "direct" | "indirect") {
        return Err(ApiError::bad(format!(
            "invalid type {kind:?}, must be one of {{direct, indirect, recursive, all}}"
        )));
    }
    let stream = args.flag("stream", false)?;
    let paths: Vec<String> = args.all("arg").into_iter().map(str::to_owned).collect();
    let repo = ctx.repo.clone();
    let entries = blocking(move || {
        let mut out: Vec<(Cid, PinKind)> = Vec::new();
        if paths.is_empty() {
            out = repo
                .pins()
                .into_iter()
                .filter(|(_, k)| kind == "all" || k.as_str() == kind)
                .collect();
        } else {
            for p in paths {
                let cid = resolve(repo.store(), &p)?;
                match repo.pin_kind(&cid)? {
                    Some(k) if kind == "all" || k.as_str() == kind => out.push((cid, k)),
                    _ => return Err(ApiError::fail(format!("path '{p}' is not pinned"))),
                }
            }
        }
        Ok(out)
    })
    .await?;
    if stream {
        let body: String = entries
            .iter()
            .map(|(c, k)| {
                format!(
                    "{}\n",
                    json!({"Cid": c.to_string(), "Type": k.as_str(), "Name": ""})
                )
            })
            .collect();
        return Ok((
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("x-chunked-output"), "1"),
            ],
            body,
        )
            .into_response());
    }
    let keys: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(c, k)| (c.to_string(), json!({"Type": k.as_str(), "Name": ""})))
        .collect();
    Ok(Json(json!({"Keys": keys})).into_response())
}

pub(super) async fn pin_rm(ctx: Ctx, args: Args) -> ApiResult {
    let paths = args.paths()?;
    let repo = ctx.repo.clone();
    let pins = blocking(move || {
        let mut removed = Vec::new();
        for p in paths {
            let (cid, segs) = parse_path(&p)?;
            let cid = if segs.is_empty() {
                cid
            } else {
                resolve(repo.store(), &p)?
            };
            repo.unpin(cid).map_err(|e| match e {
                RepoError::NotPinned(..) => ApiError::fail(format!("{cid} is not pinned")),
                e => ApiError::from(e),
            })?;
            removed.push(cid.to_string());
        }
        Ok(removed)
    })
    .await?;
    Ok(Json(json!({"Pins": pins})).into_response())
}

pub(super) async fn repo_gc(ctx: Ctx) -> ApiResult {
    let repo = ctx.repo.clone();
    let stats = blocking(move || Ok(repo.gc()?)).await?;
    Ok(
        Json(json!({"RemovedBlocks": stats.removed_blocks, "RemovedBytes": stats.removed_bytes}))
            .into_response(),
    )
}
