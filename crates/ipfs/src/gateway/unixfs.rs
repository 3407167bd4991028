//! UnixFS file responses: whole files and byte ranges with their content type, and TAR
//! archives (`?format=tar`).

use super::headers::{
    IMMUTABLE, attachment, disposition, etag_matches, insert, named_attachment, not_modified,
};
use super::mime::{mime_from_name, sniff};
use super::request::{Request, parse_range};
use super::{Source, error};
use crate::exporter::RangeReader;
use axum::http::{StatusCode, header};
use axum::response::Response;
use crust_primitives::Cid;

pub(super) fn file_response(repo: Source, req: &Request, target: Cid, size: u64) -> Response {
    let etag = format!("\"{target}\"");
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let range = match parse_range(&req.headers, size) {
        Ok(r) => r,
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
            return r;
        }
    };
    let (from, to) = range.unwrap_or((0, size));
    let name = req
        .query
        .get("filename")
        .cloned()
        .or_else(|| req.segments.last().cloned());
    // Sniff from the first bytes when the name does not tell.
    let content_type = name
        .as_deref()
        .and_then(mime_from_name)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let head: Vec<u8> = RangeReader::new(repo.store(), target, 0, size.min(512))
                .filter_map(Result::ok)
                .flat_map(|b| b.to_vec())
                .collect();
            sniff(&head).to_owned()
        });
    let body = crate::body::file_range(repo.store.clone(), target, from, to);
    let mut r = Response::new(body);
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    *r.status_mut() = status;
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, &content_type);
    insert(h, header::CONTENT_LENGTH, &(to - from).to_string());
    insert(h, header::ACCEPT_RANGES, "bytes");
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    if range.is_some() {
        insert(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {from}-{}/{size}", to.saturating_sub(1)),
        );
    }
    let download = req.query.get("download").is_some_and(|v| v == "true");
    if let Some(filename) = req.query.get("filename") {
        insert(
            h,
            header::CONTENT_DISPOSITION,
            &disposition(if download { "attachment" } else { "inline" }, filename),
        );
    } else if download {
        insert(
            h,
            header::CONTENT_DISPOSITION,
            &attachment(name.as_deref().unwrap_or(&target.to_string())),
        );
    }
    r
}

pub(super) fn tar_response(repo: Source, req: &Request, target: Cid) -> Response {
    let etag = format!("W/\"{target}.x-tar\"");
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let name = target.to_string();
    let body = crate::body::from_writer(move |w| {
        crate::tar::write_archive(repo.store(), target, &name, w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    let mut r = Response::new(body);
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, "application/x-tar");
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &named_attachment(req, &format!("{target}.tar")),
    );
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}
