//! Authenticated uploads: `POST /api/v0/add` and `POST /api/v0/dag/import`, Kubo's own routes,
//! behind the service's tokens, so a user behind NAT (whose IPFS node no storage node can
//! reach) stores files through the service. The upload streams to the service's IPFS daemon
//! unchanged, the daemon's answer goes back unchanged (Kubo's clients read it as Kubo's), and
//! each top-level root becomes a pin request of the caller's: ordered on chain for the caller's
//! account and followed to proven replicas. The daemon holds the data until then; the
//! processor releases it once the pin is `pinned`, or when the request fails or is deleted.

use crate::api::{ApiError, Service};
use crate::model::{Pin, Status};
use crate::store::PinRecord;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt as _;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The header naming the pin requests an upload made (comma-separated request ids).
pub const PIN_REQUESTS_HEADER: &str = "x-crust-pin-requests";

/// Where uploads go and how large they may be.
pub struct Uploads {
    /// The IPFS daemon's Kubo RPC API (`http://host:port`).
    pub api: String,
    /// Largest upload body, in bytes.
    pub max_bytes: u64,
    http: reqwest::Client,
}

impl Uploads {
    /// Uploads to the daemon at `api`, at most `max_bytes` each.
    pub fn new(api: &str, max_bytes: u64) -> Self {
        Self {
            api: api.trim_end_matches('/').to_owned(),
            max_bytes,
            http: reqwest::Client::new(),
        }
    }
}

/// Which Kubo route an upload goes to.
#[derive(Clone, Copy)]
pub(crate) enum Route {
    /// `/api/v0/add`: a multipart upload of files and directories.
    Add,
    /// `/api/v0/dag/import`: CAR files.
    DagImport,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Add => "/api/v0/add",
            Route::DagImport => "/api/v0/dag/import",
        }
    }
}

fn failure(status: StatusCode, reason: &'static str, details: String) -> ApiError {
    ApiError(status, reason, details)
}

/// `POST /api/v0/add`.
pub(crate) async fn add(
    state: State<Arc<Service>>,
    headers: HeaderMap,
    query: RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    upload(state, headers, query, body, Route::Add).await
}

/// `POST /api/v0/dag/import`.
pub(crate) async fn dag_import(
    state: State<Arc<Service>>,
    headers: HeaderMap,
    query: RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    upload(state, headers, query, body, Route::DagImport).await
}

/// `POST /api/v0/version`: the daemon's, which Kubo's CLI asks before any command it sends
/// to a remote API. Needs a token like the upload routes.
pub(crate) async fn version(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    crate::api::caller(&service, &headers).await?;
    let Some(uploads) = &service.uploads else {
        return Err(failure(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "this service takes no uploads".into(),
        ));
    };
    let answer = uploads
        .http
        .post(format!("{}/api/v0/version", uploads.api))
        .send()
        .await
        .map_err(|e| daemon_error(e.to_string()))?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = answer
        .text()
        .await
        .map_err(|e| daemon_error(e.to_string()))?;
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn upload(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
    route: Route,
) -> Result<Response, ApiError> {
    let account = crate::api::caller(&service, &headers).await?;
    let Some(uploads) = &service.uploads else {
        return Err(failure(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "this service takes no uploads".into(),
        ));
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > uploads.max_bytes
    {
        return Err(too_large(uploads.max_bytes));
    }
    // Room for at least one more request, and funds for its order, before anything is stored.
    if service.store.pin_count(&account)? >= service.pin_cap {
        return Err(crate::api::pin_limit(service.pin_cap));
    }
    service.can_pay(account).await?;
    // Kubo's options pass through, except that the daemon always pins what it is sent here
    // (it must keep it until the replicas are proven).
    let query: Vec<(String, String)> = query
        .as_deref()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k != "pin").then(|| (k.to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut url = format!("{}{}?pin=true", uploads.api, route.path());
    for (k, v) in &query {
        url.push('&');
        url.push_str(k);
        url.push('=');
        url.push_str(v);
    }
    let limit = uploads.max_bytes;
    let mut seen = 0u64;
    // Set when the body passes the limit, so the failed send is told apart from the daemon's.
    let overflowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = overflowed.clone();
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk| {
            seen = seen.saturating_add(chunk.len() as u64);
            let over = seen > limit;
            if over {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            async move {
                if over {
                    Err(std::io::Error::other(format!(
                        "upload larger than {limit} bytes"
                    )))
                } else {
                    Ok(chunk)
                }
            }
        });
    let mut request = uploads
        .http
        .post(&url)
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(kind) = headers.get(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, kind);
    }
    let answer = request.send().await.map_err(|e| {
        if overflowed.load(std::sync::atomic::Ordering::Relaxed) {
            too_large(limit)
        } else {
            daemon_error(e.to_string())
        }
    })?;
    let status = answer.status();
    let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
    let text = answer
        .text()
        .await
        .map_err(|e| daemon_error(e.to_string()))?;
    if !status.is_success() {
        return Ok((
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            text,
        )
            .into_response());
    }
    let roots = match route {
        Route::Add => add_roots(&text),
        Route::DagImport => import_roots(&text),
    };
    let mut ids = Vec::new();
    for (cid, name) in roots {
        let record = PinRecord {
            requestid: crate::api::new_requestid()?,
            account,
            created_ms: service.next_created(),
            pin: Pin {
                cid,
                name: Some(name),
                origins: Vec::new(),
                meta: BTreeMap::from([("uploaded".to_owned(), "true".to_owned())]),
            },
            status: Status::Queued,
            info: BTreeMap::new(),
            delegates: Vec::new(),
        };
        if record.pin.validate().is_err() {
            continue;
        }
        if !service.store.put_pin(&record, None, service.pin_cap)? {
            return Err(crate::api::pin_limit(service.pin_cap));
        }
        ids.push(record.requestid);
    }
    let mut response = (StatusCode::OK, text).into_response();
    if let Some(kind) = kind {
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
    }
    if let Ok(value) = HeaderValue::from_str(&ids.join(",")) {
        response.headers_mut().insert(PIN_REQUESTS_HEADER, value);
    }
    Ok(response)
}

fn too_large(limit: u64) -> ApiError {
    failure(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("an upload is at most {limit} bytes"),
    )
}

fn daemon_error(e: String) -> ApiError {
    tracing::warn!(target: "crust::pinning", "upload to the IPFS daemon: {e}");
    failure(
        StatusCode::BAD_GATEWAY,
        "BAD_GATEWAY",
        "the service's IPFS daemon did not take the upload; try again".into(),
    )
}

/// The top-level entries of an `/api/v0/add` answer (one JSON object a line: `Name`, `Hash`):
/// names without a `/`, each its own pin.
fn add_roots(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let name = v.get("Name")?.as_str()?.to_owned();
            let hash = v.get("Hash")?.as_str()?.to_owned();
            let name = if name.is_empty() { hash.clone() } else { name };
            (!name.contains('/')).then_some((hash, name))
        })
        .collect()
}

/// The roots of a `/api/v0/dag/import` answer (`{"Root":{"Cid":{"/":"…"}}}` lines).
fn import_roots(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let cid = v.get("Root")?.get("Cid")?.get("/")?.as_str()?.to_owned();
            Some((cid.clone(), format!("car {cid}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_read_from_kubo_s_answers() {
        let add = "{\"Name\":\"dir/a.txt\",\"Hash\":\"QmA\",\"Size\":\"3\"}\n{\"Name\":\"dir\",\"Hash\":\"QmD\",\"Size\":\"60\"}\n{\"Name\":\"b.bin\",\"Hash\":\"QmB\",\"Size\":\"9\"}\n";
        assert_eq!(
            add_roots(add),
            vec![
                ("QmD".to_owned(), "dir".to_owned()),
                ("QmB".to_owned(), "b.bin".to_owned())
            ]
        );
        let import = "{\"Root\":{\"Cid\":{\"/\":\"bafyroot\"},\"PinErrorMsg\":\"\"}}\n{\"Stats\":{\"BlockCount\":3}}\n";
        assert_eq!(
            import_roots(import),
            vec![("bafyroot".to_owned(), "car bafyroot".to_owned())]
        );
        assert!(add_roots("not json\n").is_empty());
    }
}
