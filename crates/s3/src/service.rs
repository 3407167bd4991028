//! The service: settings, shared state, the router, and the dispatch of each request by
//! S3's rules (path-style addressing, the operation chosen by method and query), behind a
//! concurrency limit and SigV4.

use crate::content::Daemon;
use crate::sigv4::{self, Secrets, Signed, Verifier};
use crate::store::{BucketRecord, Store};
use crate::{S3Error, S3Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use crust_primitives::AccountId;
use std::sync::Arc;
use tokio::sync::{Notify, RwLock, Semaphore};

/// How the service behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The region requests are signed for.
    pub region: String,
    /// Largest object in one PUT, and largest part.
    pub max_object: u64,
    /// Smallest part but the last.
    pub min_part: u64,
    /// Buckets one account may have.
    pub max_buckets: usize,
    /// Replicas a new bucket's objects are ordered with, unless it asks otherwise.
    pub replicas: u32,
    /// Most replicas a bucket may ask for.
    pub max_replicas: u32,
    /// Requests served at once; more get 503 `SlowDown`.
    pub max_requests: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            max_object: 5 * 1024 * 1024 * 1024,
            min_part: 5 * 1024 * 1024,
            max_buckets: 1000,
            replicas: 3,
            max_replicas: 16,
            max_requests: 256,
        }
    }
}

/// The service's state.
pub struct Service {
    /// Buckets, objects, uploads, keys.
    pub store: Store,
    /// The IPFS daemon holding the content.
    pub daemon: Daemon,
    /// How it behaves.
    pub settings: Settings,
    /// The account it orders with (key requests are signed to it).
    pub account: AccountId,
    verifier: Verifier,
    /// Held (shared) by every upload from its first byte until its object is recorded, and
    /// (exclusively) while unreferenced content is unpinned, so a release never unpins
    /// content an upload has just pinned but not yet recorded.
    pub(crate) pin_gate: RwLock<()>,
    /// Wakes the release loop.
    pub(crate) release: Notify,
    requests: Semaphore,
}

impl Secrets for Service {
    fn secret(&self, access_key: &str) -> Result<Option<String>, S3Error> {
        Ok(self.store.key(access_key)?.map(|k| k.secret))
    }
}

/// Who a request is from.
pub struct Caller {
    /// The account the access key is bound to.
    pub account: AccountId,
    /// The checked signature (for chunk signatures).
    pub signed: Signed,
}

impl Service {
    /// A service over `store` and `daemon`, ordering as `account`.
    pub fn new(store: Store, daemon: Daemon, account: AccountId, settings: Settings) -> Self {
        Self {
            store,
            daemon,
            verifier: Verifier {
                region: settings.region.clone(),
            },
            requests: Semaphore::new(settings.max_requests),
            settings,
            account,
            pin_gate: RwLock::new(()),
            release: Notify::new(),
        }
    }

    /// Checks a request's signature; anonymous requests are refused (no public buckets).
    pub fn authenticate(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> S3Result<Caller> {
        let req = sigv4::Request {
            method: method.as_str(),
            path,
            query,
            headers,
        };
        let now = crate::http::now_ms() as i64;
        let Some(signed) = self.verifier.check(&req, self, now)? else {
            return Err(S3Error::access_denied(
                "anonymous access is not allowed; sign requests with an access key",
            ));
        };
        let key = self.store.key(&signed.access_key)?.ok_or_else(|| {
            S3Error::invalid_access_key(
                "the access key Id you provided does not exist in our records",
            )
        })?;
        Ok(Caller {
            account: key.account,
            signed,
        })
    }

    /// The bucket `name`, if `caller` owns it.
    pub fn owned_bucket(&self, name: &str, caller: &Caller) -> S3Result<BucketRecord> {
        let bucket = self
            .store
            .bucket(name)?
            .ok_or_else(|| S3Error::no_such_bucket("the specified bucket does not exist"))?;
        if bucket.owner != caller.account {
            return Err(S3Error::access_denied(
                "the bucket belongs to another account",
            ));
        }
        Ok(bucket)
    }

    /// Unpins content nothing holds any more (see [`crate::store`]); returns how many.
    pub async fn release_unreferenced(&self) -> Result<usize, String> {
        let mut released = 0;
        loop {
            // The gate is taken per batch, so uploads wait at most one batch.
            let _gate = self.pin_gate.write().await;
            let batch = self.store.unreferenced(64).map_err(|e| e.to_string())?;
            if batch.is_empty() {
                return Ok(released);
            }
            for cid in batch {
                if self.store.refs(&cid).map_err(|e| e.to_string())? == 0 {
                    self.daemon.unpin(&cid).await?;
                    released += 1;
                }
                self.store.released(&cid).map_err(|e| e.to_string())?;
            }
        }
    }

    /// Works off the release queue whenever something is deleted or replaced (and every
    /// minute, to retry after a daemon outage). Runs until the task is dropped.
    pub async fn release_loop(self: Arc<Self>) {
        loop {
            match self.release_unreferenced().await {
                Ok(n) if n > 0 => tracing::debug!(target: "crust::s3", "released {n} pins"),
                Ok(_) => {}
                Err(e) => tracing::warn!(target: "crust::s3", "releasing content: {e}"),
            }
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(60), self.release.notified())
                    .await;
        }
    }
}

/// The HTTP routes: S3 on every path, and the service's own `/.crust/…` (bucket names cannot
/// start with a dot, so they never collide).
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/.crust/service",
            axum::routing::get(crate::api::service_info),
        )
        .route("/.crust/keys", axum::routing::post(crate::api::keys))
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(service)
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    sigv4::hex(&b).to_uppercase()
}

async fn handle(State(service): State<Arc<Service>>, req: Request) -> Response {
    let id = request_id();
    let head = req.method() == Method::HEAD;
    // A request that asked for `100 Continue` but whose body is empty (or is refused before
    // its body is read) gets its answer without one. botocore then keeps the answer's status
    // for the connection's next request (its AWSConnection reuses the response class), which
    // breaks that request; closing such connections keeps every client right.
    let expects = req
        .headers()
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty_body = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    let mut response = match service.requests.try_acquire() {
        Err(_) => S3Error::slow_down("please reduce your request rate").response(&id),
        Ok(_permit) => match crate::api::dispatch(&service, req).await {
            Ok(r) => r,
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::warn!(target: "crust::s3", "{e}");
                }
                let mut r = e.response(&id);
                if head || r.status() == StatusCode::NOT_MODIFIED {
                    *r.body_mut() = Body::empty();
                }
                r
            }
        },
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amz-request-id", v);
    }
    if expects && (empty_body || !response.status().is_success()) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
        .headers_mut()
        .insert("server", HeaderValue::from_static("crust-s3"));
    response
}

/// An empty answer with `status`.
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}
