//! Single-block responses: raw blocks (`?format=raw`), dag-json/dag-cbor/json/cbor blocks as
//! stored, and the HTML preview of a codec block for browsers.

use super::headers::{
    IMMUTABLE, disposition, etag_matches, insert, named_attachment, not_modified,
};
use super::request::{Format, Request, parse_range};
use super::{Source, error};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use crust_primitives::Cid;
use std::fmt::Write as _;

pub(super) async fn raw_block(repo: &Source, req: &Request, target: Cid) -> Response {
    let etag = format!("\"{target}.raw\"");
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let mut r = block_body(&req.headers, data);
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, "application/vnd.ipld.raw");
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &named_attachment(req, &format!("{target}.bin")),
    );
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(h, header::VARY, "Accept");
    r
}

/// A block from the local store, or the response saying why there is none.
fn local_block(repo: &Source, cid: &Cid) -> Result<Bytes, Box<Response>> {
    match repo.store().get(cid) {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("block {cid} is not available on this gateway"),
        ))),
        Err(e) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))),
    }
}

pub(super) async fn codec_response(
    repo: &Source,
    req: &Request,
    target: Cid,
    codec: u64,
    asked: Option<Format>,
) -> Response {
    let native = match (codec, asked) {
        (crate::block::DAG_JSON, _) => Some((Format::DagJson, "application/vnd.ipld.dag-json")),
        (crate::block::DAG_CBOR, _) => Some((Format::DagCbor, "application/vnd.ipld.dag-cbor")),
        (0x0200, _) => Some((Format::Json, "application/json")),
        (0x51, _) => Some((Format::Cbor, "application/cbor")),
        // Raw bytes asked for as plain JSON/CBOR are served as such, unconverted.
        (crust_primitives::cid::RAW, Some(Format::Json)) => {
            Some((Format::Json, "application/json"))
        }
        (crust_primitives::cid::RAW, Some(Format::Cbor)) => {
            Some((Format::Cbor, "application/cbor"))
        }
        _ => None,
    };
    let Some((native_format, native_mime)) = native else {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            format!("codec 0x{codec:x} cannot be returned as {asked:?}; use ?format=raw"),
        );
    };
    // No codec conversion (IPIP-524): the block is returned as-is; json/cbor are the plain
    // views of dag-json/dag-cbor bytes, anything else is a mismatch.
    let mime = match (native_format, asked) {
        (_, None) => native_mime,
        (a, Some(b)) if a == b => native_mime,
        (Format::DagJson, Some(Format::Json)) => "application/json",
        (Format::DagCbor, Some(Format::Cbor)) => "application/cbor",
        (Format::Json, Some(Format::DagJson)) => "application/vnd.ipld.dag-json",
        (Format::Cbor, Some(Format::DagCbor)) => "application/vnd.ipld.dag-cbor",
        (_, Some(asked)) => {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                format!("{target} is {native_mime}; conversion to {asked:?} is not supported"),
            );
        }
    };
    let etag = format!(
        "\"{target}.{}\"",
        mime.rsplit(['.', '/']).next().unwrap_or("block")
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let mut r = block_body(&req.headers, data);
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, mime);
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    // JSON is shown inline, binary CBOR downloaded (the path gateway spec's defaults).
    let json = mime.ends_with("json");
    let ext = if json { "json" } else { "cbor" };
    let download = req.query.get("download").is_some_and(|v| v == "true");
    let kind = if json && !download {
        "inline"
    } else {
        "attachment"
    };
    let name = req
        .query
        .get("filename")
        .cloned()
        .unwrap_or_else(|| format!("{target}.{ext}"));
    insert(h, header::CONTENT_DISPOSITION, &disposition(kind, &name));
    r
}

/// An HTML view of a dag-json/dag-cbor block for browsers (`Accept: text/html`).
pub(super) async fn dag_preview(repo: &Source, req: &Request, target: Cid, codec: u64) -> Response {
    let etag = format!(
        "\"DagIndex-{:x}_CID-{target}\"",
        crate::hamt::murmur3_x64_64(b"crust-dag-preview-v1")
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let links = crate::links::links(&target, &data).unwrap_or_default();
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{target}</title></head><body>\n<h1>{target}</h1>\n<p>Codec 0x{codec:x}, {} bytes. Download as <a href=\"?format=raw\">raw block</a>.</p>\n<ul>\n",
        data.len()
    );
    for link in links {
        let _ = writeln!(html, "<li><a href=\"/ipfs/{link}/\">{link}</a></li>");
    }
    html.push_str("</ul>\n</body></html>\n");
    let mut r = (StatusCode::OK, html).into_response();
    insert(r.headers_mut(), header::CONTENT_TYPE, "text/html");
    insert(r.headers_mut(), header::ETAG, &etag);
    insert(
        r.headers_mut(),
        header::CACHE_CONTROL,
        "public, max-age=604800, stale-while-revalidate=2678400",
    );
    r
}

/// A whole in-memory block as the body, honouring a single `Range`.
fn block_body(headers: &HeaderMap, data: Bytes) -> Response {
    let size = data.len() as u64;
    match parse_range(headers, size) {
        Ok(Some((from, to))) => {
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                data.slice(from as usize..to as usize),
            )
                .into_response();
            insert(
                r.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {from}-{}/{size}", to - 1),
            );
            r
        }
        Ok(None) => (StatusCode::OK, data).into_response(),
        Err(()) => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range not satisfiable for {size} bytes"),
            );
            insert(
                r.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            r
        }
    }
}
