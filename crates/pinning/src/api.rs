//! The HTTP side: the Pinning Service API (`/pins`, `/pins/{requestid}`) for IPFS clients
//! (Kubo's `ipfs pin remote`, ipfs-webui, SDKs), `GET /` describing the service, and `POST
//! /tokens` for the account-signed token requests.

use crate::auth::{self, AuthError, SignedRequest};
use crate::model::{
    DEFAULT_LIMIT, Failure, FailureError, MAX_CID_FILTER, MAX_LIMIT, MAX_NAME, Pin, PinResults,
    Status, TextMatch,
};
use crate::store::{PinRecord, Store};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use crust_primitives::AccountId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest request body (a pin with 1000 meta entries fits).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Most requests served at once; beyond it the service answers 429 at once rather than queue.
pub const MAX_CONCURRENT: usize = 256;
/// Pin requests one account may keep by default (failed ones count until deleted).
pub const DEFAULT_PIN_CAP: u64 = 10_000;

/// The service's shared state.
pub struct Service {
    /// Tokens and pins.
    pub store: Store,
    /// The account that signs orders for payers (the audience of token requests).
    pub account: AccountId,
    /// Multiaddrs of the IPFS node that receives content for pins (always at least one).
    pub delegates: Vec<String>,
    /// Pin requests one account may keep ([`DEFAULT_PIN_CAP`] unless set).
    pub pin_cap: u64,
    /// Web3 tokens' gate (none: web3 tokens are refused).
    pub web3: Option<crate::web3::Web3Gate>,
    /// Where authenticated uploads go (none: the service takes no uploads).
    pub uploads: Option<crate::upload::Uploads>,
    /// The check that an account can pay before its request is taken (none: no check).
    pub funds: Option<crate::funds::FundsGate>,
    /// The last `created` handed out, so every request has its own (pages by `before` and
    /// `after` never skip one).
    last_created: AtomicU64,
}

impl Service {
    /// A service over `store`, ordering as `account`, with content received at `delegates`.
    pub fn new(store: Store, account: AccountId, delegates: Vec<String>) -> Self {
        Self {
            store,
            account,
            delegates,
            pin_cap: DEFAULT_PIN_CAP,
            web3: None,
            uploads: None,
            funds: None,
            last_created: AtomicU64::new(0),
        }
    }

    /// The same service taking web3 tokens while their accounts' approvals of it are live, as
    /// `approvals` tells, trusting a live answer for `recheck_ms`.
    pub fn with_web3(
        mut self,
        approvals: Arc<dyn crate::web3::Approvals>,
        recheck_ms: u64,
    ) -> Self {
        self.web3 = Some(crate::web3::Web3Gate::new(approvals, recheck_ms));
        self
    }

    /// The same service taking authenticated uploads into the IPFS daemon at `api` (Kubo RPC),
    /// at most `max_bytes` each.
    pub fn with_uploads(mut self, api: &str, max_bytes: u64) -> Self {
        self.uploads = Some(crate::upload::Uploads::new(api, max_bytes));
        self
    }

    /// The same service refusing (`409 INSUFFICIENT_FUNDS`) new requests of accounts that
    /// `funds` says cannot pay for an order now, trusting a "can pay" answer for `recheck_ms`.
    pub fn with_funds(mut self, funds: Arc<dyn crate::funds::Funds>, recheck_ms: u64) -> Self {
        self.funds = Some(crate::funds::FundsGate::new(funds, recheck_ms));
        self
    }

    /// `Ok` if `account` may add a request now as far as its funds go.
    pub(crate) async fn can_pay(&self, account: AccountId) -> Result<(), ApiError> {
        match &self.funds {
            Some(gate) => gate.check(account, crate::time::now_ms()).await,
            None => Ok(()),
        }
    }

    /// The same service with at most `cap` pin requests per account.
    pub fn with_pin_cap(mut self, cap: u64) -> Self {
        self.pin_cap = cap;
        self
    }

    pub(crate) fn next_created(&self) -> u64 {
        let now = crate::time::now_ms();
        let mut last = self.last_created.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.last_created.compare_exchange(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

/// An API error: a status code and the spec's `Failure` body.
pub struct ApiError(
    pub(crate) StatusCode,
    pub(crate) &'static str,
    pub(crate) String,
);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Failure {
            error: FailureError {
                reason: self.1.to_owned(),
                details: Some(self.2),
            },
        };
        (self.0, Json(body)).into_response()
    }
}

fn bad(details: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "BAD_REQUEST", details.into())
}

fn not_found(requestid: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no pin request {requestid}"),
    )
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(m) => ApiError(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m),
            AuthError::BadRequest(m) => bad(m),
            AuthError::Conflict(m) => ApiError(StatusCode::CONFLICT, "CONFLICT", m),
            AuthError::Unavailable(m) => {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", m)
            }
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(target: "crust::pinning", "{e}");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the service's database failed; try again".into(),
        )
    }
}

type Shared = Arc<Service>;

/// Answers 429 when [`MAX_CONCURRENT`] requests are already being served.
async fn limit(
    State(permits): State<Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "the service is busy; try again shortly".into(),
        )
        .into_response(),
    }
}

/// The service's router.
pub fn router(service: Shared) -> Router {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    Router::new()
        .route("/", get(describe))
        .route("/tokens", post(tokens))
        .route("/pins", get(list).post(add))
        .route(
            "/pins/{requestid}",
            get(get_one).post(replace).delete(remove),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        // Uploads stream through with their own limit (`Uploads::max_bytes`).
        .route("/api/v0/add", post(crate::upload::add))
        .route("/api/v0/dag/import", post(crate::upload::dag_import))
        .route("/api/v0/version", post(crate::upload::version))
        .layer(axum::middleware::from_fn_with_state(permits, limit))
        .with_state(service)
}

/// Lets web pages from `origins` (exact `scheme://host[:port]`, e.g. the console's) call this
/// service from a browser: uploads, pin requests and their status, with the token in the
/// `Authorization` header (never a cookie, so no credentials mode). Pages from any other origin
/// get no CORS headers, so their browsers keep the answers from them.
pub fn cors(origins: &[String]) -> Result<tower_http::cors::CorsLayer, String> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let mut allowed = Vec::with_capacity(origins.len());
    for o in origins {
        let trimmed = o.trim_end_matches('/');
        let host = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"));
        let ok = host.is_some_and(|h| !h.is_empty() && !h.contains('/'));
        if !ok {
            return Err(format!(
                "--cors-origin {o}: an origin is scheme://host[:port], with no path"
            ));
        }
        allowed
            .push(HeaderValue::from_str(trimmed).map_err(|e| format!("--cors-origin {o}: {e}"))?);
    }
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([HeaderName::from_static(crate::upload::PIN_REQUESTS_HEADER)])
        .max_age(std::time::Duration::from_secs(600)))
}

/// Who is asking: a token this service made, or a web3 token whose account's approval of the
/// service is live.
pub(crate) async fn caller(service: &Service, headers: &HeaderMap) -> Result<AccountId, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = crate::time::now_ms();
    let token = auth::bearer_token(header)?;
    if let Some(account) = auth::web3_account(token)? {
        let Some(gate) = &service.web3 else {
            return Err(AuthError::Unauthorized(
                "this service does not take web3 tokens; make a token with crust pin token create"
                    .into(),
            )
            .into());
        };
        gate.admit(account, now).await?;
        return Ok(account);
    }
    Ok(auth::bearer(&service.store, header, now)?)
}

async fn describe(State(service): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "service": "crust pinning",
        "api": "IPFS Pinning Service API v1.0.0",
        "account": service.account.to_ss58(),
        "delegates": service.delegates,
    }))
}

async fn tokens(
    State(service): State<Shared>,
    Json(req): Json<SignedRequest>,
) -> Result<Response, ApiError> {
    let now = crate::time::now_ms();
    let account = auth::verify(&service.account, &req, now)?;
    let view = |r: &crate::store::TokenRecord| {
        serde_json::json!({
            "label": r.label,
            "created": crate::time::rfc3339_ms(r.created_ms),
            "expires": crate::time::rfc3339_ms(r.expires_ms),
        })
    };
    match req.action.as_str() {
        "create" => {
            let (token, record) = auth::create_token(&service.store, &account, &req, now)?;
            let mut body = view(&record);
            body["token"] = serde_json::json!(token);
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        "list" => {
            let list: Vec<_> = service
                .store
                .tokens(&account)?
                .iter()
                .map(|(_, r)| view(r))
                .collect();
            Ok(Json(serde_json::json!({ "tokens": list })).into_response())
        }
        "revoke" => {
            if service.store.revoke_token(&account, &req.label)? {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("no token labelled '{}'", req.label),
                ))
            }
        }
        other => Err(bad(format!(
            "action '{other}' is not one of create, list, revoke"
        ))),
    }
}

/// `GET /pins` query parameters, as text (parsed and checked in [`Filter::parse`]).
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cid: Option<String>,
    name: Option<String>,
    #[serde(rename = "match")]
    match_: Option<String>,
    status: Option<String>,
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
    meta: Option<String>,
}

/// A listing's filters.
struct Filter {
    cids: Vec<String>,
    name: Option<(String, TextMatch)>,
    statuses: Vec<Status>,
    before: Option<u64>,
    after: Option<u64>,
    limit: usize,
    meta: BTreeMap<String, String>,
}

impl Filter {
    fn parse(q: ListQuery) -> Result<Self, ApiError> {
        let cids: Vec<String> = q
            .cid
            .as_deref()
            .map(|c| {
                c.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if cids.len() > MAX_CID_FILTER {
            return Err(bad(format!("at most {MAX_CID_FILTER} CIDs per filter")));
        }
        if let Some(c) = cids
            .iter()
            .find(|c| c.parse::<crust_primitives::Cid>().is_err())
        {
            return Err(bad(format!("'{c}' is not a CID")));
        }
        let mode: TextMatch = q
            .match_
            .as_deref()
            .unwrap_or("exact")
            .parse()
            .map_err(bad)?;
        if q.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            return Err(bad(format!("name is longer than {MAX_NAME} characters")));
        }
        // The spec: "when no filter is provided, only successful pins are returned"; with any
        // filter (a name, a CID, times, meta) every status matches unless `status` says.
        let filtered = q.cid.is_some()
            || q.name.is_some()
            || q.before.is_some()
            || q.after.is_some()
            || q.meta.is_some();
        let statuses = match q.status.as_deref() {
            None if filtered => vec![
                Status::Queued,
                Status::Pinning,
                Status::Pinned,
                Status::Failed,
            ],
            None => vec![Status::Pinned],
            Some(text) => text
                .split(',')
                .map(|s| s.trim().parse::<Status>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?,
        };
        let time = |t: Option<&str>| t.map(crate::time::parse_ms).transpose().map_err(bad);
        let limit = match q.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| bad(format!("limit must be 1–{MAX_LIMIT}")))?,
        };
        let meta = match q.meta.as_deref() {
            None => BTreeMap::new(),
            Some(text) if text.len() > crate::api::MAX_BODY => {
                return Err(bad("meta is too large"));
            }
            Some(text) => serde_json::from_str(text)
                .map_err(|e| bad(format!("meta must be a JSON object of strings: {e}")))?,
        };
        Ok(Self {
            cids,
            name: q.name.map(|n| (n, mode)),
            statuses,
            before: time(q.before.as_deref())?,
            after: time(q.after.as_deref())?,
            limit,
            meta,
        })
    }

    fn keeps(&self, r: &PinRecord) -> bool {
        (self.cids.is_empty() || self.cids.contains(&r.pin.cid))
            && self.statuses.contains(&r.status)
            && self.before.is_none_or(|b| r.created_ms < b)
            && self.after.is_none_or(|a| r.created_ms > a)
            && self.name.as_ref().is_none_or(|(wanted, mode)| {
                r.pin
                    .name
                    .as_deref()
                    .is_some_and(|n| mode.matches(n, wanted))
            })
            && self.meta.iter().all(|(k, v)| r.pin.meta.get(k) == Some(v))
    }
}

async fn list(
    State(service): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PinResults>, ApiError> {
    let account = caller(&service, &headers).await?;
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let filter = Filter::parse(q)?;
    let (count, page) = service
        .store
        .list(&account, filter.limit, |r| filter.keeps(r))?;
    Ok(Json(PinResults {
        count,
        results: page
            .iter()
            .map(|r| r.to_status(&service.delegates))
            .collect(),
    }))
}

pub(crate) fn new_requestid() -> Result<String, ApiError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| bad(e.to_string()))?;
    Ok(crust_primitives::account::to_hex(&id))
}

fn parse_pin(
    body: Result<Json<Pin>, axum::extract::rejection::JsonRejection>,
) -> Result<Pin, ApiError> {
    let Json(pin) = body.map_err(|e| bad(e.body_text()))?;
    pin.validate().map_err(bad)?;
    Ok(pin)
}

async fn add(
    State(service): State<Shared>,
    headers: HeaderMap,
    body: Result<Json<Pin>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let account = caller(&service, &headers).await?;
    let pin = parse_pin(body)?;
    service.can_pay(account).await?;
    let record = PinRecord {
        requestid: new_requestid()?,
        account,
        created_ms: service.next_created(),
        pin,
        status: Status::Queued,
        info: BTreeMap::new(),
        delegates: Vec::new(),
    };
    if !service.store.put_pin(&record, None, service.pin_cap)? {
        return Err(pin_limit(service.pin_cap));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(record.to_status(&service.delegates)),
    )
        .into_response())
}

/// The answer when an account holds `cap` pin requests already.
pub(crate) fn pin_limit(cap: u64) -> ApiError {
    ApiError(
        StatusCode::FORBIDDEN,
        "PIN_LIMIT_REACHED",
        format!(
            "this account has {cap} pin requests, the most this service keeps for one account; delete some first"
        ),
    )
}

/// A request of the caller's (another account's requests do not exist for it).
fn own(service: &Service, account: &AccountId, requestid: &str) -> Result<PinRecord, ApiError> {
    if requestid.len() > 64 {
        return Err(not_found(requestid));
    }
    match service.store.pin(requestid)? {
        Some(r) if r.account == *account => Ok(r),
        _ => Err(not_found(requestid)),
    }
}

async fn get_one(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(requestid): Path<String>,
) -> Result<Response, ApiError> {
    let account = caller(&service, &headers).await?;
    let record = own(&service, &account, &requestid)?;
    Ok(Json(record.to_status(&service.delegates)).into_response())
}

/// Replaces a request with a new one (a new id); the old one's order is left to run out
/// unless the new pin is the same CID, whose order carries on.
async fn replace(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(requestid): Path<String>,
    body: Result<Json<Pin>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let account = caller(&service, &headers).await?;
    let old = own(&service, &account, &requestid)?;
    let pin = parse_pin(body)?;
    let same_cid = pin.cid == old.pin.cid;
    if !same_cid {
        service.can_pay(account).await?;
    }
    let record = PinRecord {
        requestid: new_requestid()?,
        account,
        created_ms: service.next_created(),
        pin,
        status: if same_cid { old.status } else { Status::Queued },
        info: if same_cid {
            old.info.clone()
        } else {
            BTreeMap::new()
        },
        delegates: if same_cid {
            old.delegates.clone()
        } else {
            Vec::new()
        },
    };
    service
        .store
        .put_pin(&record, Some(&old), service.pin_cap)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(record.to_status(&service.delegates)),
    )
        .into_response())
}

/// Removes a request: its order is not renewed (it never deletes anyone's data).
async fn remove(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(requestid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = caller(&service, &headers).await?;
    let record = own(&service, &account, &requestid)?;
    service.store.remove_pin(&record)?;
    Ok(StatusCode::ACCEPTED)
}
