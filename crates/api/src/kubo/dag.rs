//! The `dag/*` commands: CAR export and import, and DAG size.

use super::args::{Args, resolve};
use super::error::{ApiError, ApiResult};
use super::stream::{ChannelReader, QUEUED_PIECES, forward, stream_writer};
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
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUED_PIECES);
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
        forward(&mut field, &tx)
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?;
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

// ---- dag/put and dag/get: IPLD nodes in and out, transcoded between dag-json and dag-cbor ---

use ipld_core::ipld::Ipld;

/// Decodes one IPLD node given in `codec` (`dag-json`, `dag-cbor`, `json`, `cbor`, `dag-pb`
/// or `raw`).
fn decode_node(codec: &str, data: &[u8]) -> Result<Ipld, ApiError> {
    let bad = |e: String| ApiError::bad(format!("not valid {codec}: {e}"));
    match codec {
        "dag-json" => serde_ipld_dagjson::from_slice(data).map_err(|e| bad(e.to_string())),
        "dag-cbor" | "cbor" => {
            // Our own bounded walk first: it refuses nesting deep enough to exhaust the stack of
            // a recursive decoder, and anything that is not one well-formed item.
            let cid = crust_ipfs::block::cid_of(crust_ipfs::block::DAG_CBOR, data, 1);
            crust_ipfs::links::links(&cid, data).map_err(|e| bad(e.to_string()))?;
            serde_ipld_dagcbor::from_slice(data).map_err(|e| bad(e.to_string()))
        }
        // Plain JSON carries no links; the IPLD data model reads it as it is (serde_json stops
        // at 128 levels of nesting, as it does for dag-json).
        "json" => serde_json::from_slice(data).map_err(|e| bad(e.to_string())),
        "raw" => Ok(Ipld::Bytes(data.to_vec())),
        "dag-pb" => {
            let node = crust_ipfs::dagpb::PbNode::decode(data).map_err(|e| bad(e.to_string()))?;
            let mut links = Vec::with_capacity(node.links.len());
            for l in node.links {
                let cid = ipld_core::cid::Cid::try_from(l.cid.to_string().as_str())
                    .map_err(|e| bad(e.to_string()))?;
                let mut m = std::collections::BTreeMap::new();
                m.insert("Hash".to_owned(), Ipld::Link(cid));
                if let Some(name) = l.name {
                    m.insert("Name".to_owned(), Ipld::String(name));
                }
                if let Some(t) = l.tsize {
                    m.insert("Tsize".to_owned(), Ipld::Integer(i128::from(t)));
                }
                links.push(Ipld::Map(m));
            }
            let mut m = std::collections::BTreeMap::new();
            if let Some(d) = node.data {
                m.insert("Data".to_owned(), Ipld::Bytes(d));
            }
            m.insert("Links".to_owned(), Ipld::List(links));
            Ok(Ipld::Map(m))
        }
        other => Err(ApiError::bad(format!(
            "input codec {other:?} is not supported (dag-json, dag-cbor, json, cbor, dag-pb, raw)"
        ))),
    }
}

/// Encodes `node` in `codec` (`dag-cbor` or `dag-json`); returns the bytes and the codec code.
fn encode_node(codec: &str, node: &Ipld) -> Result<(Vec<u8>, u64), ApiError> {
    let fail = |e: String| ApiError::bad(format!("cannot encode as {codec}: {e}"));
    match codec {
        "dag-cbor" => Ok((
            serde_ipld_dagcbor::to_vec(node).map_err(|e| fail(e.to_string()))?,
            crust_ipfs::block::DAG_CBOR,
        )),
        "dag-json" => Ok((
            serde_ipld_dagjson::to_vec(node).map_err(|e| fail(e.to_string()))?,
            crust_ipfs::block::DAG_JSON,
        )),
        other => Err(ApiError::bad(format!(
            "codec {other:?} is not supported here (dag-cbor, dag-json)"
        ))),
    }
}

/// The body's first file, at most one block's worth.
async fn one_upload(req: Request) -> Result<Vec<u8>, ApiError> {
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    else {
        return Err(ApiError::bad("file argument 'object data' is required"));
    };
    let mut data = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        if data.len() + chunk.len() > crust_ipfs::dagpb::MAX_BLOCK_BYTES {
            return Err(ApiError::bad(
                "the node is over 2MiB, the largest block peers exchange",
            ));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// `dag/put`: one IPLD node in its input codec (default dag-json), decoded and stored in its
/// store codec (default dag-cbor), as Kubo does; answers `{"Cid": {"/": …}}`.
pub(super) async fn dag_put(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    for key in ["hash", "hash-alg"] {
        if let Some(h) = args.get(key)
            && h != "sha2-256"
        {
            return Err(ApiError::bad(format!(
                "hash {h:?} is not supported; use sha2-256"
            )));
        }
    }
    let store = args.get("store-codec").unwrap_or("dag-cbor").to_owned();
    let input = args.get("input-codec").unwrap_or("dag-json").to_owned();
    let pin = args.flag("pin", false)?;
    let data = one_upload(req).await?;
    let node = decode_node(&input, &data)?;
    let (bytes, codec) = encode_node(&store, &node)?;
    let cid = crust_ipfs::block::cid_of(codec, &bytes, 1);
    let block = crust_ipfs::Block {
        cid,
        data: bytes.into(),
    };
    super::block::store_block(&ctx, block, pin).await?;
    Ok(Json(json!({"Cid": {"/": cid.to_string()}})).into_response())
}

/// `dag/get`: the node at a CID (or a path through links) in the output codec (default
/// dag-json), whatever codec it is stored in.
pub(super) async fn dag_get(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let output = args.get("output-codec").unwrap_or("dag-json").to_owned();
    let store = ctx.blocks.clone();
    let (cid, data) = blocking(move || {
        let cid = resolve(&*store, &path)?;
        let data = store
            .get(&cid)?
            .ok_or_else(|| ApiError::fail(format!("block {cid} not found")))?;
        Ok((cid, data))
    })
    .await?;
    let codec = match cid.codec() {
        0x55 => "raw",
        0x70 => "dag-pb",
        crust_ipfs::block::DAG_CBOR => "dag-cbor",
        crust_ipfs::block::DAG_JSON => "dag-json",
        0x0200 => "json",
        other => {
            return Err(ApiError::bad(format!(
                "codec 0x{other:x} of {cid} cannot be decoded"
            )));
        }
    };
    let node = decode_node(codec, &data)?;
    let (bytes, _) = encode_node(&output, &node)?;
    let content_type = if output == "dag-json" {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_transcode_and_hostile_nesting_is_refused() {
        let json = br#"{"a":[1,2,{"/":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"}],"b":{"/":{"bytes":"AQID"}}}"#;
        let node = decode_node("dag-json", json).unwrap();
        let (cbor, code) = encode_node("dag-cbor", &node).unwrap();
        assert_eq!(code, crust_ipfs::block::DAG_CBOR);
        let back = decode_node("dag-cbor", &cbor).unwrap();
        assert_eq!(back, node);
        assert_eq!(encode_node("dag-json", &back).unwrap().0, json.to_vec());
        // A million nested arrays: refused with an error, not a crashed stack.
        let deep = [vec![0x81u8; 1_000_000], vec![0x01]].concat();
        assert!(decode_node("dag-cbor", &deep).is_err());
        let deep_json = format!("{}1{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(decode_node("dag-json", deep_json.as_bytes()).is_err());
        assert!(decode_node("json", deep_json.as_bytes()).is_err());
        assert!(decode_node("dag-cbor", &[0xff, 0x00]).is_err());
        assert!(encode_node("raw", &node).is_err());
    }
}
