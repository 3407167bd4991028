//! Reading UnixFS: `cat`, `ls` and `get` (a TAR stream).

use super::args::{Args, resolve};
use super::error::{ApiError, ApiResult};
use super::stream::stream_writer;
use super::{Ctx, blocking};
use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use crust_ipfs::exporter::{self, Kind};
use serde_json::json;
use std::io;

pub(super) async fn cat(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let offset = args.uint("offset")?.unwrap_or(0);
    let length = args.uint("length")?;
    let blocks = ctx.blocks.clone();
    let (cid, size) = blocking(move || {
        let cid = resolve(&*blocks, &path)?;
        match exporter::kind(&*blocks, &cid)? {
            Kind::File { size } => Ok((cid, size)),
            Kind::Directory { .. } => Err(ApiError::fail("this dag node is a directory")),
            _ => Err(ApiError::fail("this dag node is not a UnixFS file")),
        }
    })
    .await?;
    let from = offset.min(size);
    let to = length.map_or(size, |l| from.saturating_add(l).min(size));
    let body = crust_ipfs::body::file_range(ctx.blocks.clone(), cid, from, to);
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    r.headers_mut()
        .insert("x-content-length", HeaderValue::from(to - from));
    Ok(r)
}

pub(super) async fn ls(ctx: Ctx, args: Args) -> ApiResult {
    let paths = args.paths()?;
    let blocks = ctx.blocks.clone();
    let objects = blocking(move || {
        let mut objects = Vec::new();
        for path in paths {
            let cid = resolve(&*blocks, &path)?;
            let mut links = Vec::new();
            if let Kind::Directory { .. } = exporter::kind(&*blocks, &cid)? {
                for e in exporter::list(&*blocks, &cid, &mut Vec::new())? {
                    let (kind, size) = match exporter::kind(&*blocks, &e.cid) {
                        Ok(Kind::Directory { .. }) => (1, 0),
                        Ok(Kind::File { size }) => (2, size),
                        Ok(Kind::Symlink { .. }) => (4, 0),
                        _ => (0, e.tsize.unwrap_or(0)),
                    };
                    links.push(json!({"Name": e.name, "Hash": e.cid.to_string(), "Size": size, "Type": kind, "Target": ""}));
                }
            }
            objects.push(json!({"Hash": path, "Links": links}));
        }
        Ok(objects)
    })
    .await?;
    Ok(Json(json!({"Objects": objects})).into_response())
}

pub(super) async fn get(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let blocks = ctx.blocks.clone();
    let p = path.clone();
    let cid = blocking(move || resolve(&*blocks, &p)).await?;
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let blocks = ctx.blocks.clone();
    Ok(stream_writer("application/x-tar", move |w| {
        crust_ipfs::tar::write_archive(&*blocks, cid, &name, w)
            .map_err(|e| io::Error::other(e.to_string()))
    }))
}
