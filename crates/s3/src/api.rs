//! Which S3 operation a request is (path-style: `/bucket/key`, the operation chosen by method
//! and query), the bucket operations and listings, and the service's own routes.

use crate::service::{Caller, Service, empty};
use crate::store::{BucketRecord, CreateBucket};
use crate::xml::{self, NS, el, parent};
use crate::{S3Error, S3Result};
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::Arc;

/// Longest key, as S3's limit.
pub const MAX_KEY: usize = 1024;
/// Largest request header section (S3's limit).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest XML request body (a 10 000-part completion fits).
pub const MAX_XML: usize = 2 * 1024 * 1024;

/// A request's query, decoded.
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// The value of `name` (`Some("")` for a bare `?name`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// An XML answer.
pub fn xml_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// Checks a bucket name by S3's rules.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !name.starts_with("xn--")
}

/// Checks an object key: non-empty, at most 1 024 bytes, no NUL, and no `.` or `..` path
/// segment (a bucket exports as a UnixFS directory, where such names cannot exist).
pub fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(S3Error::invalid_argument("the key is empty"));
    }
    if key.len() > MAX_KEY {
        return Err(S3Error::key_too_long(
            "your key is too long (at most 1024 bytes)",
        ));
    }
    if key.contains('\0') {
        return Err(S3Error::invalid_argument("a key may not contain NUL"));
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(S3Error::invalid_argument(
            "a key may not have '.' or '..' path segments",
        ));
    }
    Ok(())
}

/// Reads a small request body (XML), bounded.
pub async fn small_body(body: Body, max: usize) -> S3Result<Vec<u8>> {
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        S3Error::malformed_xml(format!("the request body is over {max} bytes or broke off"))
    })?;
    Ok(bytes.to_vec())
}

/// Routes one request to its operation.
pub async fn dispatch(service: &Arc<Service>, req: Request) -> S3Result<Response> {
    let (parts, body) = req.into_parts();
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(S3Error::request_header_too_large(format!(
            "your request header section exceeds the maximum allowed size ({header_bytes} of {MAX_HEADER_BYTES} bytes)"
        )));
    }
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let caller = service.authenticate(&parts.method, &raw_path, &raw_query, &parts.headers)?;
    // The signature's own parameters (presigned URLs) are not part of the operation.
    let query = Query(
        crate::sigv4::query_pairs(&raw_query)
            .into_iter()
            .filter(|(k, _)| {
                !k.starts_with("X-Amz-")
                    && !matches!(
                        k.as_str(),
                        "AWSAccessKeyId" | "Signature" | "Expires" | "x-id"
                    )
            })
            .collect(),
    );
    // Buckets are unversioned: every object's one version is "null".
    let mut query = query;
    if let Some(v) = query.get("versionId") {
        if v != "null" {
            return Err(S3Error {
                status: StatusCode::NOT_FOUND,
                code: "NoSuchVersion",
                message: "the specified version does not exist (buckets here are unversioned)"
                    .into(),
            });
        }
        query.0.retain(|(k, _)| k != "versionId");
    }
    let path = raw_path.strip_prefix('/').unwrap_or(&raw_path);
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, k),
        None => (path, ""),
    };
    let bucket = String::from_utf8_lossy(&crate::sigv4::percent_decode(bucket)).into_owned();
    let key = String::from_utf8(crate::sigv4::percent_decode(key))
        .map_err(|_| S3Error::invalid_argument("the key is not UTF-8"))?;
    let h = &parts.headers;
    let m = &parts.method;
    if bucket.is_empty() {
        return match *m {
            Method::GET => list_buckets(service, &caller, &query),
            _ => Err(S3Error::method_not_allowed(
                "the method is not allowed on the service",
            )),
        };
    }
    if key.is_empty() {
        return match *m {
            Method::PUT if query.0.is_empty() => {
                create_bucket(service, &caller, &bucket, h, body).await
            }
            Method::HEAD => {
                service.owned_bucket(&bucket, &caller)?;
                Ok(empty(StatusCode::OK))
            }
            Method::DELETE if query.0.is_empty() => delete_bucket(service, &caller, &bucket),
            Method::GET if query.has("location") => {
                let b = service.owned_bucket(&bucket, &caller)?;
                let text = b.location.as_str();
                Ok(xml_response(
                    StatusCode::OK,
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                        xml::escape(text)
                    ),
                ))
            }
            Method::GET if query.has("acl") => {
                service.owned_bucket(&bucket, &caller)?;
                Ok(acl_answer(&caller))
            }
            Method::PUT if query.has("acl") => {
                service.owned_bucket(&bucket, &caller)?;
                put_acl(&caller, h, body).await
            }
            Method::GET if query.has("versioning") => {
                service.owned_bucket(&bucket, &caller)?;
                Ok(xml_response(
                    StatusCode::OK,
                    xml::document("VersioningConfiguration", Some(NS), &[]),
                ))
            }
            Method::GET if query.has("uploads") => {
                crate::multipart::list_uploads(service, &caller, &bucket, &query)
            }
            Method::GET if query.has(DIRECTORY_QUERY) => {
                export_directory(service, &caller, &bucket).await
            }
            Method::GET if query.has("versions") => {
                list_versions(service, &caller, &bucket, &query)
            }
            Method::GET if query.get("list-type") == Some("2") => {
                list_objects(service, &caller, &bucket, &query, true)
            }
            Method::GET
                if query
                    .0
                    .iter()
                    .all(|(k, _)| LIST_PARAMS.contains(&k.as_str())) =>
            {
                list_objects(service, &caller, &bucket, &query, false)
            }
            Method::POST if query.has("delete") => {
                crate::object::delete_objects(service, &caller, &bucket, h, body).await
            }
            _ => Err(not_implemented(m, &query)),
        };
    }
    check_key(&key)?;
    match *m {
        Method::GET if query.has("acl") => {
            service.owned_bucket(&bucket, &caller)?;
            service
                .store
                .object(&bucket, &key)?
                .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
            Ok(acl_answer(&caller))
        }
        Method::PUT if query.has("acl") => {
            service.owned_bucket(&bucket, &caller)?;
            service
                .store
                .object(&bucket, &key)?
                .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
            put_acl(&caller, h, body).await
        }
        Method::PUT if query.has("uploadId") => {
            crate::multipart::upload_part(service, &caller, &bucket, &key, &query, h, body).await
        }
        Method::PUT if query.0.is_empty() && h.contains_key("x-amz-copy-source") => {
            crate::object::copy(service, &caller, &bucket, &key, h).await
        }
        Method::PUT if query.0.is_empty() => {
            crate::object::put(service, &caller, &bucket, &key, h, body).await
        }
        Method::GET if query.has("attributes") => {
            crate::object::attributes(service, &caller, &bucket, &key, h)
        }
        Method::GET if query.has("uploadId") => {
            crate::multipart::list_parts(service, &caller, &bucket, &key, &query)
        }
        Method::GET | Method::HEAD
            if query
                .0
                .iter()
                .all(|(k, _)| GET_PARAMS.contains(&k.as_str())) =>
        {
            crate::object::get(
                service,
                &caller,
                &bucket,
                &key,
                &query,
                h,
                *m == Method::HEAD,
            )
            .await
        }
        Method::DELETE if query.has("uploadId") => {
            crate::multipart::abort(service, &caller, &bucket, &query)
        }
        Method::DELETE if query.0.is_empty() => {
            crate::object::delete(service, &caller, &bucket, &key)
        }
        Method::POST if query.has("uploads") => {
            crate::multipart::create(service, &caller, &bucket, &key, h)
        }
        Method::POST if query.has("uploadId") => {
            crate::multipart::complete(service, &caller, &bucket, &key, &query, h, body).await
        }
        _ => Err(not_implemented(m, &query)),
    }
}

const LIST_PARAMS: [&str; 5] = ["prefix", "delimiter", "marker", "max-keys", "encoding-type"];

const GET_PARAMS: [&str; 7] = [
    "partNumber",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

fn not_implemented(m: &Method, query: &Query) -> S3Error {
    let what: Vec<&str> = query.0.iter().map(|(k, _)| k.as_str()).collect();
    S3Error::not_implemented(format!(
        "{m} with {} is not implemented here (see docs/s3.md for what is)",
        if what.is_empty() {
            "no subresource".to_owned()
        } else {
            what.join(", ")
        }
    ))
}

/// `GET /.crust/service`: which account the service orders with (key requests are signed to
/// it) and its region.
pub async fn service_info(State(service): State<Arc<Service>>) -> Response {
    Json(serde_json::json!({
        "service": "crust-s3",
        "account": service.account.to_ss58(),
        "region": service.settings.region,
    }))
    .into_response()
}

/// `POST /.crust/keys`: make, list or revoke access keys with a request the account signed.
pub async fn keys(State(service): State<Arc<Service>>, body: Body) -> Response {
    use crate::keys::{self, KeyError};
    let fail = |status: StatusCode, e: String| {
        (status, Json(serde_json::json!({"error": e}))).into_response()
    };
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024).await else {
        return fail(StatusCode::BAD_REQUEST, "the request is too large".into());
    };
    let req: keys::SignedRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let now = crate::http::now_ms();
    let result = keys::verify(&service.account, &req, now).and_then(|account| {
        match req.action.as_str() {
            "create" => keys::create_key(&service.store, &account, &req.label, now).map(|(id, secret)| {
                serde_json::json!({"access_key": id, "secret_key": secret, "account": account.to_ss58(), "label": req.label})
            }),
            "list" => service.store.keys_of(&account).map_err(KeyError::from).map(|ks| {
                let list: Vec<_> = ks.iter().map(|(id, k)| serde_json::json!({
                    "access_key": id, "label": k.label, "created": crate::http::iso8601(k.created_ms)
                })).collect();
                serde_json::json!({"keys": list})
            }),
            "revoke" => match service.store.revoke_key(&account, &req.label) {
                Ok(true) => Ok(serde_json::json!({"revoked": req.label})),
                Ok(false) => Err(KeyError::BadRequest(format!("no key labelled '{}'", req.label))),
                Err(e) => Err(e.into()),
            },
            other => Err(KeyError::BadRequest(format!("unknown action '{other}' (create, list, revoke)"))),
        }
    });
    match result {
        Ok(v) => Json(v).into_response(),
        Err(KeyError::Unauthorized(e)) => fail(StatusCode::UNAUTHORIZED, e),
        Err(KeyError::BadRequest(e)) => fail(StatusCode::BAD_REQUEST, e),
        Err(KeyError::Conflict(e)) => fail(StatusCode::CONFLICT, e),
        Err(KeyError::Store(e)) => fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn owner_xml(caller: &Caller) -> String {
    let id = caller.account.to_ss58();
    parent("Owner", &[el("ID", &id), el("DisplayName", &id)])
}

fn list_buckets(service: &Service, caller: &Caller, query: &Query) -> S3Result<Response> {
    let prefix = query.get("prefix").unwrap_or_default();
    let after = match query.get("continuation-token") {
        None => String::new(),
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                S3Error::invalid_argument("the continuation token provided is incorrect")
            })?,
    };
    let max = match query.get("max-buckets") {
        None => usize::MAX,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| S3Error::invalid_argument("max-buckets must be 1–10000"))?,
    };
    let all: Vec<(String, BucketRecord)> = service
        .store
        .buckets_of(&caller.account)?
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix) && *name > after)
        .collect();
    let more = all.len() > max;
    let page = &all[..all.len().min(max)];
    let buckets: Vec<String> = page
        .iter()
        .map(|(name, b)| {
            parent(
                "Bucket",
                &[
                    el("Name", name),
                    el("CreationDate", &crate::http::iso8601(b.created_ms)),
                ],
            )
        })
        .collect();
    let mut children = vec![owner_xml(caller), parent("Buckets", &buckets)];
    if more && let Some((last, _)) = page.last() {
        children.push(el(
            "ContinuationToken",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes()),
        ));
    }
    if query.has("prefix") {
        children.push(el("Prefix", prefix));
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("ListAllMyBucketsResult", Some(NS), &children),
    ))
}

/// The one ACL there is: the owner has full control (buckets and objects are private to the
/// account; there are no public or shared ones).
fn acl_answer(caller: &Caller) -> Response {
    let id = caller.account.to_ss58();
    let grantee = format!(
        "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">{}{}</Grantee>",
        el("ID", &id),
        el("DisplayName", &id)
    );
    xml_response(
        StatusCode::OK,
        xml::document(
            "AccessControlPolicy",
            Some(NS),
            &[
                owner_xml(caller),
                parent(
                    "AccessControlList",
                    &[parent(
                        "Grant",
                        &[grantee, el("Permission", "FULL_CONTROL")],
                    )],
                ),
            ],
        ),
    )
}

/// Refuses ACLs other than the owner's full control (`x-amz-acl: private`, or a policy
/// granting only that).
pub fn check_acl_headers(headers: &HeaderMap) -> S3Result<()> {
    if let Some(acl) = headers.get("x-amz-acl").and_then(|v| v.to_str().ok())
        && acl != "private"
    {
        return Err(S3Error::not_implemented(format!(
            "the canned ACL '{acl}' is not supported: buckets and objects are private to their account"
        )));
    }
    if headers
        .keys()
        .any(|k| k.as_str().starts_with("x-amz-grant-"))
    {
        return Err(S3Error::not_implemented(
            "grants are not supported: buckets and objects are private to their account",
        ));
    }
    Ok(())
}

async fn put_acl(caller: &Caller, headers: &HeaderMap, body: Body) -> S3Result<Response> {
    check_acl_headers(headers)?;
    let body = small_body(body, 64 * 1024).await?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let policy = xml::parse(&body)?;
        let id = caller.account.to_ss58();
        let grants: Vec<&xml::Element> = policy
            .child("AccessControlList")
            .map(|l| l.all("Grant").collect())
            .unwrap_or_default();
        let only_owner = grants.iter().all(|g| {
            g.text_of("Permission").map(str::trim) == Some("FULL_CONTROL")
                && g.child("Grantee")
                    .and_then(|e| e.text_of("ID"))
                    .map(str::trim)
                    == Some(id.as_str())
        });
        if !only_owner {
            return Err(S3Error::not_implemented(
                "only the owner's full control is supported: buckets and objects are private to their account",
            ));
        }
    }
    Ok(empty(StatusCode::OK))
}

async fn create_bucket(
    service: &Service,
    caller: &Caller,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> S3Result<Response> {
    if !valid_bucket_name(name) {
        return Err(S3Error::invalid_bucket_name(
            "the specified bucket is not valid",
        ));
    }
    check_acl_headers(headers)?;
    let body = small_body(body, 64 * 1024).await?;
    let mut constraint = String::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let config = xml::parse(&body)?;
        if let Some(location) = config.text_of("LocationConstraint").map(str::trim)
            && !location.is_empty()
        {
            constraint = location.to_owned();
        }
        if !constraint.is_empty() && constraint != service.settings.region {
            return Err(S3Error {
                status: StatusCode::BAD_REQUEST,
                code: "InvalidLocationConstraint",
                message: format!(
                    "the specified location constraint is not valid; this service is in '{}'",
                    service.settings.region
                ),
            });
        }
    }
    let replicas = match headers.get(crate::REPLICAS_HEADER) {
        None => service.settings.replicas,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|r| *r <= service.settings.max_replicas)
            .ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "{} must be 0–{} (0: objects are kept here but not ordered)",
                    crate::REPLICAS_HEADER,
                    service.settings.max_replicas
                ))
            })?,
    };
    let record = BucketRecord {
        owner: caller.account,
        created_ms: crate::http::now_ms(),
        replicas,
        location: constraint,
    };
    match service
        .store
        .create_bucket(name, &record, service.settings.max_buckets)?
    {
        Ok(CreateBucket::Created) => {
            let mut r = empty(StatusCode::OK);
            crate::http::put(r.headers_mut(), "location", &format!("/{name}"));
            Ok(r)
        }
        // us-east-1's historical answer: making your own bucket again succeeds (and changes
        // nothing).
        Ok(CreateBucket::Owned) if service.settings.region == "us-east-1" => {
            Ok(empty(StatusCode::OK))
        }
        Ok(CreateBucket::Owned) => Err(S3Error::bucket_owned(
            "your previous request to create the named bucket succeeded and you already own it",
        )),
        Ok(CreateBucket::Taken) => Err(S3Error::bucket_exists(
            "the requested bucket name is not available; bucket names are shared by all users",
        )),
        Err(()) => Err(S3Error::too_many_buckets(format!(
            "you have attempted to create more than {} buckets",
            service.settings.max_buckets
        ))),
    }
}

fn delete_bucket(service: &Service, caller: &Caller, name: &str) -> S3Result<Response> {
    service.owned_bucket(name, caller)?;
    if !service.store.delete_bucket(name)? {
        return Err(S3Error::bucket_not_empty(
            "the bucket you tried to delete is not empty",
        ));
    }
    service.release.notify_one();
    Ok(empty(StatusCode::NO_CONTENT))
}

fn encode_key(key: &str, url: bool) -> String {
    if url {
        crate::sigv4::uri_encode(key.as_bytes(), false)
    } else {
        key.to_owned()
    }
}

fn list_objects(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    query: &Query,
    v2: bool,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let prefix = query.get("prefix").unwrap_or_default();
    let delimiter = query.get("delimiter").filter(|d| !d.is_empty());
    let max = match query.get("max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| S3Error::invalid_argument("max-keys must be a non-negative integer"))?
            .min(1000) as usize,
    };
    let url = match query.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "invalid encoding method specified in request",
            ));
        }
    };
    let token = query.get("continuation-token");
    let after = if v2 {
        match token {
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument("the continuation token provided is incorrect")
                })?,
            None => query.get("start-after").unwrap_or_default().to_owned(),
        }
    } else {
        query.get("marker").unwrap_or_default().to_owned()
    };
    let page = if max == 0 {
        crate::store::Page::default()
    } else {
        service.store.list(bucket, prefix, delimiter, &after, max)?
    };
    // ListObjects (v1) gives the prefix back as it was asked; v2 encodes it too.
    let mut children = vec![
        el("Name", bucket),
        el("Prefix", &encode_key(prefix, url && v2)),
    ];
    if v2 {
        if let Some(t) = token {
            children.push(el("ContinuationToken", t));
        }
        if let Some(s) = query.get("start-after") {
            children.push(el("StartAfter", &encode_key(s, url)));
        }
        children.push(el(
            "KeyCount",
            &(page.objects.len() + page.prefixes.len()).to_string(),
        ));
    } else {
        children.push(el("Marker", &encode_key(&after, url)));
    }
    children.push(el("MaxKeys", &max.to_string()));
    if let Some(d) = delimiter {
        children.push(el("Delimiter", &encode_key(d, url)));
    }
    if url {
        children.push(el("EncodingType", "url"));
    }
    children.push(el(
        "IsTruncated",
        if page.truncated { "true" } else { "false" },
    ));
    if page.truncated
        && let Some(last) = &page.last
    {
        if v2 {
            let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes());
            children.push(el("NextContinuationToken", &t));
        } else if delimiter.is_some() {
            children.push(el("NextMarker", &encode_key(last, url)));
        }
    }
    let fetch_owner = !v2 || query.get("fetch-owner") == Some("true");
    for (key, o) in &page.objects {
        let mut c = vec![
            el("Key", &encode_key(key, url)),
            el("LastModified", &crate::http::iso8601(o.modified_ms)),
            el("ETag", &format!("\"{}\"", o.etag)),
            el("Size", &o.size.to_string()),
            el("StorageClass", "STANDARD"),
        ];
        if fetch_owner {
            c.push(owner_xml(caller));
        }
        c.push(el("Cid", &o.cid.to_string()));
        children.push(parent("Contents", &c));
    }
    for p in &page.prefixes {
        children.push(parent(
            "CommonPrefixes",
            &[el("Prefix", &encode_key(p, url))],
        ));
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("ListBucketResult", Some(NS), &children),
    ))
}

/// `GET /bucket?versions`: buckets are unversioned, so each object is its one version, "null".
fn list_versions(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    query: &Query,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let prefix = query.get("prefix").unwrap_or_default();
    let delimiter = query.get("delimiter").filter(|d| !d.is_empty());
    let max = match query.get("max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-keys must be a non-negative integer"))?
            .min(1000),
    };
    let url = query.get("encoding-type") == Some("url");
    let key_marker = query.get("key-marker").unwrap_or_default();
    let page = if max == 0 {
        crate::store::Page::default()
    } else {
        service
            .store
            .list(bucket, prefix, delimiter, key_marker, max)?
    };
    let mut children = vec![
        el("Name", bucket),
        el("Prefix", &encode_key(prefix, url)),
        el("KeyMarker", &encode_key(key_marker, url)),
        el(
            "VersionIdMarker",
            query.get("version-id-marker").unwrap_or_default(),
        ),
        el("MaxKeys", &max.to_string()),
        el("IsTruncated", if page.truncated { "true" } else { "false" }),
    ];
    if let Some(d) = delimiter {
        children.push(el("Delimiter", &encode_key(d, url)));
    }
    if url {
        children.push(el("EncodingType", "url"));
    }
    if page.truncated
        && let Some(last) = &page.last
    {
        children.push(el("NextKeyMarker", &encode_key(last, url)));
        children.push(el("NextVersionIdMarker", "null"));
    }
    for (key, o) in &page.objects {
        children.push(parent(
            "Version",
            &[
                el("Key", &encode_key(key, url)),
                el("VersionId", "null"),
                el("IsLatest", "true"),
                el("LastModified", &crate::http::iso8601(o.modified_ms)),
                el("ETag", &format!("\"{}\"", o.etag)),
                el("Size", &o.size.to_string()),
                owner_xml(caller),
                el("StorageClass", "STANDARD"),
            ],
        ));
    }
    for p in &page.prefixes {
        children.push(parent(
            "CommonPrefixes",
            &[el("Prefix", &encode_key(p, url))],
        ));
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("ListVersionsResult", Some(NS), &children),
    ))
}

/// The query parameter of `GET /bucket?crust-directory`: the bucket as one UnixFS directory.
pub const DIRECTORY_QUERY: &str = "crust-directory";

/// `GET /bucket?crust-directory`: every object of the bucket as one UnixFS directory (keys
/// split at `/`, as `ipfs add -r` would lay the tree out, sharded as Kubo shards), so the
/// bucket can be fetched, pinned or ordered by one CID. The directory's own nodes are stored
/// on the daemon but not pinned (the objects' content is): exporting again gives the same CID.
/// Keys that cannot be paths in one tree (a key that is also another key's folder, empty
/// segments that make two keys one path) are left out and named in the answer.
async fn export_directory(service: &Service, caller: &Caller, bucket: &str) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let objects = service.store.all_objects(bucket)?;
    let mut tree = crust_ipfs::importer::DirBuilder::new();
    let mut skipped = Vec::new();
    for (key, o) in &objects {
        let result = if key.ends_with('/') && o.size == 0 {
            // A folder marker, as S3 consoles make them.
            tree.add_dir(key)
        } else {
            tree.add_file(
                key,
                crust_ipfs::importer::Imported {
                    cid: o.cid,
                    tsize: o.tsize,
                    file_size: o.size,
                },
            )
        };
        if result.is_err() {
            skipped.push(key.clone());
        }
    }
    let mut blocks: Vec<crust_ipfs::Block> = Vec::new();
    let (root, _) = tree
        .build(0, &mut blocks)
        .map_err(|e| S3Error::internal(format!("building the directory: {e}")))?;
    for block in blocks {
        let cid = service
            .daemon
            .put_dag_pb(block.data.to_vec())
            .await
            .map_err(S3Error::service_unavailable)?;
        if cid != block.cid {
            return Err(S3Error::internal(format!(
                "the daemon stored a directory node as {cid}, expected {}",
                block.cid
            )));
        }
    }
    let mut children = vec![
        el("Bucket", bucket),
        el("Cid", &root.cid.to_string()),
        el("Objects", &(objects.len() - skipped.len()).to_string()),
        el("Size", &root.tsize.to_string()),
    ];
    for key in &skipped {
        children.push(el("Skipped", key));
    }
    let mut r = xml_response(
        StatusCode::OK,
        xml::document("DirectoryExport", Some(NS), &children),
    );
    crate::http::put(r.headers_mut(), crate::CID_HEADER, &root.cid.to_string());
    Ok(r)
}
