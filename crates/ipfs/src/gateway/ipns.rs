//! `/ipns/<name>[/path]`: canonical-name redirects, IPNS records, and names resolved to
//! `/ipfs/` content.

use super::headers::{attachment, insert};
use super::request::{PATH_SEGMENT, Request, segments_of};
use super::serve::serve;
use super::{Source, error};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crust_primitives::Cid;
use std::collections::HashMap;

/// `/ipns/<name>[/path]`: redirect to the canonical name, serve the record, or resolve it and
/// serve the target like `/ipfs/`, with the record's TTL instead of `immutable`.
pub(super) async fn ipns(
    State(repo): State<Source>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let trailing_slash = path.ends_with('/');
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    let Some(name_text) = parts.next() else {
        return error(StatusCode::BAD_REQUEST, "path must be /ipns/<name>[/path]");
    };
    let rest = match segments_of(parts) {
        Ok(r) => r,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let name = match crate::ipns::Name::parse(name_text) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let canonical = name.canonical();
    let mut public = format!("/ipns/{canonical}");
    for seg in &rest {
        public.push('/');
        public.push_str(&percent_encoding::utf8_percent_encode(seg, PATH_SEGMENT).to_string());
    }
    if trailing_slash {
        public.push('/');
    }
    if name_text != canonical {
        let mut location = public.clone();
        if let Some(q) = &raw_query {
            location.push('?');
            location.push_str(q);
        }
        let mut r = StatusCode::FOUND.into_response();
        insert(r.headers_mut(), header::LOCATION, &location);
        return r;
    }
    let query: HashMap<String, String> = raw_query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let wants_record = query.get("format").is_some_and(|f| f == "ipns-record")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/vnd.ipfs.ipns-record"));
    let store = crate::ipns::RecordStore::new(repo.dir());
    let lookup = name.clone();
    let found =
        tokio::task::spawn_blocking(move || store.get(&lookup, crate::ipns::now_unix())).await;
    let (bytes, record) = match found {
        Ok(Ok(r)) => r,
        Ok(Err(e @ crate::ipns::IpnsError::NotFound(_))) if wants_record => {
            return error(StatusCode::NOT_FOUND, e.to_string());
        }
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot resolve /ipns/{canonical}: {e}"),
            );
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let cache = format!("public, max-age={}", record.ttl_seconds);
    if wants_record {
        let mut r = (StatusCode::OK, bytes).into_response();
        let h = r.headers_mut();
        insert(h, header::CONTENT_TYPE, "application/vnd.ipfs.ipns-record");
        insert(h, header::CACHE_CONTROL, &cache);
        let filename = query
            .get("filename")
            .cloned()
            .unwrap_or_else(|| format!("{canonical}.ipns-record"));
        insert(h, header::CONTENT_DISPOSITION, &attachment(&filename));
        insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        insert(h, header::HeaderName::from_static("x-ipfs-path"), &public);
        return r;
    }
    let target = record
        .value
        .strip_prefix("/ipfs/")
        .unwrap_or(&record.value)
        .to_owned();
    let mut target_parts = target.split('/').filter(|s| !s.is_empty());
    let Some(cid) = target_parts.next().and_then(|c| c.parse::<Cid>().ok()) else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            format!("record value {:?} is not an /ipfs/ path", record.value),
        );
    };
    let mut segments = match segments_of(target_parts) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_GATEWAY, format!("record value: {msg}")),
    };
    segments.extend(rest);
    let req = Request {
        method,
        cid,
        segments,
        trailing_slash,
        query,
        raw_query,
        headers,
        display: Some(public),
        ttl_seconds: Some(record.ttl_seconds),
    };
    serve(repo, req).await
}
