//! The `block/*` commands: single blocks by CID.

use super::args::{Args, parse_path};
use super::error::{ApiError, ApiResult};
use super::{Ctx, blocking};
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::repo::PinKind;
use crust_ipfs::{Block, Cid};
use serde_json::json;

/// Largest multipart upload for commands that buffer (`block/put`).
const MAX_BLOCK_UPLOAD: usize = crust_ipfs::dagpb::MAX_BLOCK_BYTES;

pub(super) async fn block_get(ctx: Ctx, args: Args) -> ApiResult {
    let cid = resolve_block_arg(&args)?;
    let blocks = ctx.blocks.clone();
    let data = blocking(move || {
        blocks
            .get(&cid)?
            .ok_or_else(|| ApiError::fail(format!("block {cid} not found")))
    })
    .await?;
    let mut r = Response::new(Body::from(data));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    Ok(r)
}

fn resolve_block_arg(args: &Args) -> Result<Cid, ApiError> {
    let (cid, segs) = parse_path(args.required()?)?;
    if !segs.is_empty() {
        return Err(ApiError::bad("block commands take a CID, not a path"));
    }
    Ok(cid)
}

pub(super) async fn block_stat(ctx: Ctx, args: Args) -> ApiResult {
    let cid = resolve_block_arg(&args)?;
    let size = ctx
        .repo
        .store()
        .size(&cid)
        .ok_or_else(|| ApiError::fail(format!("block {cid} not found locally")))?;
    Ok(Json(json!({"Key": cid.to_string(), "Size": size})).into_response())
}

fn codec_by_name(name: &str) -> Option<u64> {
    Some(match name {
        "raw" => 0x55,
        "dag-pb" | "protobuf" => 0x70,
        "dag-cbor" | "cbor" => 0x71,
        "dag-json" => 0x0129,
        "json" => 0x0200,
        _ => return None,
    })
}

/// Stores `block` in the repository and, with `pin`, pins it recursively (`block/put`,
/// `dag/put`).
pub(super) async fn store_block(ctx: &Ctx, block: Block, pin: bool) -> Result<(), ApiError> {
    let repo = ctx.repo.clone();
    blocking(move || {
        repo.put_block(&block)?;
        if pin {
            repo.pin(block.cid, PinKind::Recursive)?;
        }
        Ok(())
    })
    .await
}

pub(super) async fn block_put(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    if let Some(mh) = args.get("mhtype")
        && mh != "sha2-256"
    {
        return Err(ApiError::bad(format!(
            "mhtype {mh:?} is not supported; use sha2-256"
        )));
    }
    let format = args.get("format").filter(|f| !f.is_empty());
    let codec_name = args.get("cid-codec").filter(|f| !f.is_empty());
    let (codec, version) = match (format, codec_name) {
        (Some("v0"), _) | (Some("protobuf"), None) => (0x70, 0u8),
        (_, Some(name)) | (Some(name), None) => (
            codec_by_name(name).ok_or_else(|| ApiError::bad(format!("unknown codec {name:?}")))?,
            1,
        ),
        (None, None) => (0x55, 1),
    };
    let version = match args.uint("version")? {
        Some(0) if codec == 0x70 => 0,
        Some(0) => return Err(ApiError::bad("CIDv0 only supports dag-pb")),
        _ => version,
    };
    let pin = args.flag("pin", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut results = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        let mut data = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?
        {
            if data.len() + chunk.len() > MAX_BLOCK_UPLOAD {
                return Err(ApiError::bad(
                    "produced block is over 2MiB: big blocks can't be exchanged with other peers; use UnixFS (add) for automatic chunking",
                ));
            }
            data.extend_from_slice(&chunk);
        }
        if codec == 0x70 {
            crust_ipfs::dagpb::PbNode::decode(&data)
                .map_err(|e| ApiError::bad(format!("not a valid dag-pb block: {e}")))?;
        }
        let cid = crust_ipfs::block::cid_of(codec, &data, version);
        let block = Block {
            cid,
            data: data.into(),
        };
        let size = block.data.len();
        store_block(&ctx, block, pin).await?;
        results.push(json!({"Key": cid.to_string(), "Size": size}));
    }
    match results.len() {
        0 => Err(ApiError::bad("file argument 'data' is required")),
        1 => Ok(Json(results.remove(0)).into_response()),
        _ => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            results.iter().map(|r| format!("{r}\n")).collect::<String>(),
        )
            .into_response()),
    }
}
