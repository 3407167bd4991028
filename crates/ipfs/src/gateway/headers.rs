//! Headers shared by the responses: CORS, caching (`Cache-Control`, `ETag`, `304 Not
//! Modified`) and `Content-Disposition`.

use super::request::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Cache-Control` for content-addressed responses.
pub(super) const IMMUTABLE: &str = "public, max-age=29030400, immutable";

/// Content-addressed data is public: any origin may read it (the specs' CORS defaults).
pub(super) async fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Range, User-Agent, X-Requested-With"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "Content-Length, Content-Range, X-Chunked-Output, X-Stream-Output, X-Ipfs-Path, X-Ipfs-Roots, Etag",
        ),
    );
    response
}

/// RFC 5987 `attr-char`: what may appear unescaped in `filename*=`.
const RFC5987_ATTR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

pub(super) fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
            })
        })
}

pub(super) fn not_modified(etag: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    insert(r.headers_mut(), header::ETAG, etag);
    insert(r.headers_mut(), header::CACHE_CONTROL, IMMUTABLE);
    r
}

pub(super) fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

pub(super) fn attachment(name: &str) -> String {
    disposition("attachment", name)
}

pub(super) fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '"' && c != '\\' && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ascii == name {
        format!("{kind}; filename=\"{name}\"")
    } else {
        let encoded = percent_encoding::utf8_percent_encode(name, RFC5987_ATTR);
        format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

pub(super) fn named_attachment(req: &Request, default: &str) -> String {
    attachment(
        req.query
            .get("filename")
            .map(String::as_str)
            .unwrap_or(default),
    )
}
