//! Request parsing: the `/ipfs/<cid>/…` path, the query, the asked-for format (`?format=` or
//! `Accept`) and the `Range` header.

use super::serve::serve;
use super::{Source, error, missing_cid};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use crust_primitives::Cid;
use std::collections::HashMap;

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Deserialized,
    Raw,
    Car,
    DagJson,
    DagCbor,
    Json,
    Cbor,
    Tar,
}

impl Format {
    pub(super) fn from_param(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => Self::Raw,
            "car" => Self::Car,
            "dag-json" => Self::DagJson,
            "dag-cbor" => Self::DagCbor,
            "json" => Self::Json,
            "cbor" => Self::Cbor,
            "tar" => Self::Tar,
            _ => return None,
        })
    }

    pub(super) fn from_accept(accept: &str) -> Option<Self> {
        for part in accept.split(',') {
            let mime = part.split(';').next().unwrap_or_default().trim();
            let f = match mime {
                "application/vnd.ipld.raw" => Self::Raw,
                "application/vnd.ipld.car" => Self::Car,
                "application/vnd.ipld.dag-json" => Self::DagJson,
                "application/vnd.ipld.dag-cbor" => Self::DagCbor,
                "application/json" => Self::Json,
                "application/cbor" => Self::Cbor,
                "application/x-tar" => Self::Tar,
                _ => continue,
            };
            return Some(f);
        }
        None
    }
}

pub(super) struct Request {
    pub(super) method: Method,
    pub(super) cid: Cid,
    pub(super) segments: Vec<String>,
    pub(super) trailing_slash: bool,
    pub(super) query: HashMap<String, String>,
    pub(super) raw_query: Option<String>,
    pub(super) headers: HeaderMap,
    /// The path the client asked for when it differs from `/ipfs/<cid>/…` (an `/ipns/` name).
    pub(super) display: Option<String>,
    /// Cache lifetime for mutable (IPNS) content instead of `immutable`.
    pub(super) ttl_seconds: Option<u64>,
}

impl Request {
    /// The path as the client sees it: `/ipns/<name>/…` or `/ipfs/<cid>/…`.
    pub(super) fn public_path(&self) -> String {
        self.display.clone().unwrap_or_else(|| self.content_path())
    }

    pub(super) fn content_path(&self) -> String {
        let mut p = format!("/ipfs/{}", self.cid);
        for s in &self.segments {
            p.push('/');
            p.push_str(&percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string());
        }
        p
    }
}

pub(super) const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/');

/// Go's `url.QueryEscape` keeps only unreserved characters.
pub(super) const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(super) async fn handle(
    State(repo): State<Source>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let trailing_slash = path.ends_with('/');
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    let Some(cid_text) = parts.next() else {
        return missing_cid().await;
    };
    let cid: Cid = match cid_text.parse() {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid CID {cid_text:?}: {e}"),
            );
        }
    };
    let mut segments = Vec::new();
    for s in parts {
        if s == ".." || s == "." {
            return error(
                StatusCode::BAD_REQUEST,
                "'.' and '..' are not allowed in content paths",
            );
        }
        segments.push(s.to_owned());
    }
    let query: HashMap<String, String> = raw_query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let req = Request {
        method,
        cid,
        segments,
        trailing_slash,
        query,
        raw_query,
        headers,
        display: None,
        ttl_seconds: None,
    };
    serve(repo, req).await
}

/// Parses `/ipfs`-style path segments, refusing `.` and `..`.
pub(super) fn segments_of<'a>(
    parts: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>, &'static str> {
    let mut segments = Vec::new();
    for s in parts {
        if s == ".." || s == "." {
            return Err("'.' and '..' are not allowed in content paths");
        }
        segments.push(s.to_owned());
    }
    Ok(segments)
}

/// `Range: bytes=…` against `size`: `Ok(None)` for no (or an ignored multi-) range.
pub(super) fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(ranges) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    // Several ranges: serve the first (allowed by RFC 9110; clients re-request the rest).
    let first = ranges.split(',').next().unwrap_or_default();
    let (a, b) = first.split_once('-').ok_or(())?;
    let (from, to) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
            if b < a {
                return Err(());
            }
            (a, b.saturating_add(1).min(size))
        }
    };
    if from >= size {
        return Err(());
    }
    Ok(Some((from, to)))
}

pub(super) fn accepts_html(req: &Request) -> bool {
    req.headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}
