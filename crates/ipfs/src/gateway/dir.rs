//! Directory responses: `index.html` when there is one, else an HTML listing.

use super::headers::{etag_matches, insert, not_modified};
use super::request::{PATH_SEGMENT, QUERY_VALUE, Request};
use super::unixfs::file_response;
use super::{Source, error, export_error};
use crate::exporter::{self, ExportError, Kind};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crust_primitives::Cid;
use std::fmt::Write as _;

pub(super) async fn directory_response(repo: Source, req: &Request, target: Cid) -> Response {
    if !req.trailing_slash {
        let mut location = format!("{}/", req.public_path());
        if let Some(q) = &req.raw_query {
            location.push('?');
            location.push_str(q);
        }
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        insert(r.headers_mut(), header::LOCATION, &location);
        return r;
    }
    let store_repo = repo.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let store = store_repo.store();
        let entries = exporter::list(store, &target, &mut Vec::new())?;
        let index = entries
            .iter()
            .find(|e| e.name == "index.html")
            .map(|e| e.cid);
        if let Some(index) = index
            && let Kind::File { size } = exporter::kind(store, &index)?
        {
            return Ok((entries, Some((index, size))));
        }
        Ok::<_, ExportError>((entries, None))
    })
    .await;
    let (entries, index) = match listed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return export_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Some((index, size)) = index {
        let dir_etag = format!("\"{target}\"");
        if etag_matches(&req.headers, &dir_etag) {
            return not_modified(&dir_etag);
        }
        let mut r = file_response(repo, req, index, size);
        insert(r.headers_mut(), header::CONTENT_TYPE, "text/html");
        insert(r.headers_mut(), header::ETAG, &dir_etag);
        return r;
    }
    let etag = format!(
        "\"DirIndex-{:x}_CID-{target}\"",
        crate::hamt::murmur3_x64_64(b"crust-dir-listing-v1")
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let path = req.content_path();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0}/</title></head><body>\n<div>Index of {1}</div>\n<table>\n",
        escape_html(&path),
        breadcrumbs(req)
    );
    if !req.segments.is_empty() {
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{}/..\">..</a></td><td></td><td></td></tr>",
            escape_html(&path)
        );
    }
    for e in &entries {
        let href = percent_encoding::utf8_percent_encode(&e.name, PATH_SEGMENT).to_string();
        let size = e.tsize.map(|s| s.to_string()).unwrap_or_default();
        let query_name = percent_encoding::utf8_percent_encode(&href, QUERY_VALUE).to_string();
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{}/{href}\">{}</a></td><td><a class=\"ipfs-hash\" translate=\"no\" href=\"/ipfs/{}?filename={query_name}\">{}</a></td><td>{size}</td></tr>",
            escape_html(&path),
            escape_html(&e.name),
            e.cid,
            e.cid,
        );
    }
    html.push_str("</table>\n</body></html>\n");
    let mut r = (StatusCode::OK, html).into_response();
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, "text/html");
    insert(h, header::ETAG, &etag);
    // Listings are rendered by this gateway's code, so they are cacheable but not immutable.
    insert(
        h,
        header::CACHE_CONTROL,
        "public, max-age=604800, stale-while-revalidate=2678400",
    );
    r
}

/// `/ipfs/<a href="/ipfs/cid">cid</a>/<a href="/ipfs/cid/a">a</a>/…`
fn breadcrumbs(req: &Request) -> String {
    let mut href = format!("/ipfs/{}", req.cid);
    let mut out = format!("/ipfs/<a href=\"{href}\">{}</a>", req.cid);
    for seg in &req.segments {
        href.push('/');
        href.push_str(&percent_encoding::utf8_percent_encode(seg, PATH_SEGMENT).to_string());
        let _ = write!(out, "/<a href=\"{href}\">{}</a>", escape_html(seg));
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
