//! Serving a parsed request: path resolution, the choice of response by format and kind, and
//! the headers every content response carries (`X-Ipfs-Path`, `X-Ipfs-Roots`).

use super::block::{codec_response, dag_preview, raw_block};
use super::car::car_response;
use super::dir::directory_response;
use super::headers::insert;
use super::request::{Format, Request, accepts_html};
use super::unixfs::{file_response, tar_response};
use super::{Source, error, export_error};
use crate::exporter::{self, ExportError, Kind};
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crust_primitives::Cid;

/// Serves a parsed content request.
pub(super) async fn serve(repo: Source, req: Request) -> Response {
    let format = match req.query.get("format") {
        Some(f) if !f.is_empty() => match Format::from_param(f) {
            Some(f) => f,
            None => return error(StatusCode::BAD_REQUEST, format!("unsupported format {f:?}")),
        },
        _ => req
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_accept)
            .unwrap_or(Format::Deserialized),
    };
    let only_if_cached = req
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("only-if-cached"));
    if only_if_cached && !repo.store().has(&req.cid) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            format!("{} is not in this gateway's cache", req.cid),
        );
    }
    let repo2 = repo.clone();
    let segs: Vec<String> = req.segments.clone();
    let root = req.cid;
    // Path resolution reads blocks: keep it off the async workers.
    let resolved = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let mut visited = Vec::new();
        let roots = exporter::resolve(repo2.store(), root, &refs, &mut visited)?;
        let target = *roots.last().unwrap_or(&root);
        let kind = match format {
            Format::Raw | Format::Car => None,
            _ => Some(exporter::kind(repo2.store(), &target)?),
        };
        Ok::<_, ExportError>((roots, visited, target, kind))
    })
    .await;
    let (roots, visited, target, kind) = match resolved {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return export_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut resp = match format {
        Format::Raw => raw_block(&repo, &req, target).await,
        Format::Car => car_response(repo.clone(), &req, target, visited).await,
        Format::Deserialized => match kind {
            Some(Kind::File { size }) => file_response(repo.clone(), &req, target, size),
            Some(Kind::Directory { .. }) => directory_response(repo.clone(), &req, target).await,
            Some(Kind::Symlink { target: link }) => {
                let mut r = (StatusCode::OK, link).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("inode/symlink"),
                );
                r
            }
            Some(Kind::Other { codec }) if accepts_html(&req) => {
                dag_preview(&repo, &req, target, codec).await
            }
            Some(Kind::Other { codec }) => codec_response(&repo, &req, target, codec, None).await,
            None => error(StatusCode::INTERNAL_SERVER_ERROR, "unresolved kind"),
        },
        Format::DagJson | Format::DagCbor | Format::Json | Format::Cbor => {
            let codec = target.codec();
            codec_response(&repo, &req, target, codec, Some(format)).await
        }
        Format::Tar => {
            let check_repo = repo.clone();
            let name = target.to_string();
            let checked = tokio::task::spawn_blocking(move || {
                crate::tar::check_paths(check_repo.store(), target, &name)
            })
            .await;
            match checked {
                Ok(Ok(())) => tar_response(repo.clone(), &req, target),
                Ok(Err(crate::tar::TarError::Export(e))) => export_error(*e),
                Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("cannot build a TAR: {e}")),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
    };
    let h = resp.headers_mut();
    let mut shown_path = req.public_path();
    if req.trailing_slash && !shown_path.ends_with('/') {
        shown_path.push('/');
    }
    if let (Some(ttl), Some(cc)) = (req.ttl_seconds, h.get(header::CACHE_CONTROL))
        && cc.to_str().is_ok_and(|v| v.contains("immutable"))
    {
        insert(h, header::CACHE_CONTROL, &format!("public, max-age={ttl}"));
    }
    if let Ok(v) = HeaderValue::from_str(&shown_path) {
        h.insert("x-ipfs-path", v);
    }
    let roots_text: Vec<String> = roots.iter().map(Cid::to_string).collect();
    if let Ok(v) = HeaderValue::from_str(&roots_text.join(",")) {
        h.insert("x-ipfs-roots", v);
    }
    if req.method == Method::HEAD {
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    resp
}
