//! CAR responses (`?format=car`): the trustless gateway's DAG scopes, entity bytes, order and
//! duplicates.

use super::headers::{IMMUTABLE, etag_matches, insert, named_attachment, not_modified};
use super::request::Request;
use super::{Source, error, export_error};
use crate::car;
use crate::exporter::{self, ExportError, Kind, Scope};
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use crust_primitives::Cid;

/// Parses `entity-bytes=from:to` against a known size into `[from, to)`.
fn entity_bytes(spec: &str, size: u64) -> Result<(u64, u64), String> {
    let (a, b) = spec.split_once(':').ok_or("entity-bytes must be from:to")?;
    let pos = |s: &str| -> Result<i128, String> {
        s.parse::<i128>()
            .map_err(|_| format!("bad entity-bytes bound {s:?}"))
    };
    let resolve = |v: i128| -> u64 {
        if v < 0 {
            (size as i128 + v).max(0) as u64
        } else {
            v as u64
        }
    };
    let from = resolve(pos(a)?);
    let to = if b == "*" {
        size
    } else {
        (resolve(pos(b)?) + 1).min(size)
    };
    if b != "*" && pos(b)? >= 0 && pos(a)? >= 0 && pos(b)? < pos(a)? {
        return Err("entity-bytes: to is before from".into());
    }
    Ok((from, to.max(from)))
}

pub(super) async fn car_response(
    repo: Source,
    req: &Request,
    target: Cid,
    visited: Vec<Cid>,
) -> Response {
    if let Some(v) = req.query.get("car-version")
        && v != "1"
    {
        return error(
            StatusCode::BAD_REQUEST,
            "only CARv1 responses are supported (car-version=1)",
        );
    }
    let accept = req
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("version=2") && !req.query.contains_key("car-version") {
        return error(
            StatusCode::BAD_REQUEST,
            "only CARv1 responses are supported",
        );
    }
    let dups = req
        .query
        .get("car-dups")
        .map(String::as_str)
        .or_else(|| accept_param(accept, "dups"))
        .unwrap_or("n");
    let order = req
        .query
        .get("car-order")
        .map(String::as_str)
        .or_else(|| accept_param(accept, "order"))
        .unwrap_or("dfs");
    if !matches!(order, "dfs" | "unk") || !matches!(dups, "y" | "n") {
        return error(
            StatusCode::BAD_REQUEST,
            "car-order must be dfs|unk and car-dups y|n",
        );
    }
    let dups = dups.to_owned();
    let order = order.to_owned();
    let scope_name = req
        .query
        .get("dag-scope")
        .map(String::as_str)
        .unwrap_or("all");
    let bytes_spec = req.query.get("entity-bytes").cloned();
    let scope = match (scope_name, &bytes_spec) {
        (_, Some(_)) => None,
        ("all", None) => Some(Scope::All),
        ("entity", None) => Some(Scope::Entity),
        ("block", None) => Some(Scope::Block),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown dag-scope {scope_name:?}"),
            );
        }
    };
    let params = format!(
        "{}.{}.{}",
        scope_name,
        bytes_spec.as_deref().unwrap_or(""),
        dups
    );
    let etag = format!(
        "W/\"{target}.car.{:x}\"",
        crate::hamt::murmur3_x64_64(format!("{}{}", req.content_path(), params).as_bytes())
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let store_repo = repo.clone();
    let dedupe = dups == "n";
    let selection = tokio::task::spawn_blocking(move || {
        let store = store_repo.store();
        let scope = match (scope, bytes_spec) {
            (Some(s), _) => s,
            (None, Some(spec)) => match exporter::kind(store, &target)? {
                Kind::File { size } => match entity_bytes(&spec, size) {
                    Ok((from, to)) => Scope::Bytes { from, to },
                    Err(msg) => return Ok(Err(msg)),
                },
                _ => Scope::Entity,
            },
            (None, None) => Scope::All,
        };
        let mut blocks = visited;
        blocks.extend(
            exporter::select_blocks(store, target, scope, !dedupe).or_else(|e| match e {
                // Blocks past the first missing one cannot be known: serve what is there.
                ExportError::Missing(_) if store.has(&target) => Ok(vec![target]),
                e => Err(e),
            })?,
        );
        if dedupe {
            let mut seen = std::collections::HashSet::new();
            blocks.retain(|c| seen.insert(*c));
        }
        Ok::<_, ExportError>(Ok(blocks))
    })
    .await;
    let blocks = match selection {
        Ok(Ok(Ok(b))) => b,
        Ok(Ok(Err(msg))) => return error(StatusCode::BAD_REQUEST, msg),
        Ok(Err(e)) => return export_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if !repo.store().has(blocks.first().unwrap_or(&target)) {
        return error(
            StatusCode::NOT_FOUND,
            format!("block {target} is not available on this gateway"),
        );
    }
    let root = req.cid;
    let body = crate::body::from_blocking(move |tx| {
        if tx
            .blocking_send(Ok(Bytes::from(car::header(&[root]))))
            .is_err()
        {
            return;
        }
        for cid in blocks {
            if crate::block::identity_data(&cid).is_some() {
                continue;
            }
            let data = match repo.store().get(&cid) {
                Ok(Some(d)) => d,
                _ => return, // incomplete CAR: the client sees the stream end early
            };
            let mut section = car::section_prefix(&cid, data.len());
            section.extend_from_slice(&data);
            if tx.blocking_send(Ok(Bytes::from(section))).is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(body);
    let h = r.headers_mut();
    insert(
        h,
        header::CONTENT_TYPE,
        &format!("application/vnd.ipld.car; version=1; order={order}; dups={dups}"),
    );
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &named_attachment(req, &format!("{target}.car")),
    );
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(h, header::VARY, "Accept");
    insert(h, header::ACCEPT_RANGES, "none");
    r
}

fn accept_param<'a>(accept: &'a str, name: &str) -> Option<&'a str> {
    accept
        .split(',')
        .find(|p| p.trim_start().starts_with("application/vnd.ipld.car"))?
        .split(';')
        .skip(1)
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}
