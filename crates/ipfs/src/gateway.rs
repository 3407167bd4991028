//! HTTP gateways over the local repository: the trustless gateway (`?format=raw|car`, verified
//! by the client) and the path gateway (deserialized files with ranges, directories, redirects),
//! as specified in ipfs/specs `http-gateways/{trustless,path}-gateway.md`.
//!
//! This gateway never fetches from the network: a block that is not local is a 404 before the
//! response starts and ends the stream after it started (an incomplete CAR, as the spec says).
//! Large bodies are streamed from a blocking task through a bounded channel, so memory stays
//! flat whatever the file size.

use crate::blockstore::Blockstore;
use crate::car;
use crate::exporter::{self, ExportError, Kind, RangeReader, Scope};
use crate::repo::Repo;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use crust_primitives::Cid;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// `Cache-Control` for content-addressed responses.
const IMMUTABLE: &str = "public, max-age=29030400, immutable";

/// What a gateway serves: blocks from any store (a repository, or a storage node's sealed
/// replicas), and IPNS records kept in a repository directory.
#[derive(Clone)]
pub struct Source {
    store: Arc<dyn Blockstore>,
    ipns_dir: PathBuf,
}

impl Source {
    /// Blocks from `store`, IPNS records from `ipns_dir`.
    pub fn new(store: Arc<dyn Blockstore>, ipns_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            ipns_dir: ipns_dir.into(),
        }
    }

    fn store(&self) -> &dyn Blockstore {
        self.store.as_ref()
    }

    fn dir(&self) -> &std::path::Path {
        &self.ipns_dir
    }
}

/// The gateway routes (`/ipfs/…`, `/ipns/…`) over a repository, to be served or merged into a
/// larger router.
pub fn router(repo: Arc<Repo>) -> Router {
    let dir = repo.dir().to_path_buf();
    router_for(Source::new(repo, dir))
}

/// The gateway routes over any [`Source`].
pub fn router_for(repo: Source) -> Router {
    Router::new()
        .route("/ipfs/{*path}", get(handle).head(handle).options(preflight))
        .route("/ipfs/", get(missing_cid).head(missing_cid))
        .route("/ipns/{*path}", get(ipns).head(ipns).options(preflight))
        .layer(axum::middleware::map_response(cors))
        .with_state(repo)
}

/// Content-addressed data is public: any origin may read it (the specs' CORS defaults).
async fn cors(mut response: Response) -> Response {
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

async fn preflight() -> Response {
    StatusCode::OK.into_response()
}

async fn missing_cid() -> Response {
    error(StatusCode::BAD_REQUEST, "path must be /ipfs/<cid>[/path]")
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (status, format!("{}\n", msg.into())).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn export_error(e: ExportError) -> Response {
    match e {
        ExportError::Missing(cid) => error(
            StatusCode::NOT_FOUND,
            format!("block {cid} is not available on this gateway"),
        ),
        ExportError::NotFound { .. } => error(StatusCode::NOT_FOUND, e.to_string()),
        ExportError::NotADirectory(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        ExportError::NotAFile(_) => error(StatusCode::BAD_REQUEST, e.to_string()),
        ExportError::PathRemainder(_) => error(StatusCode::NOT_IMPLEMENTED, e.to_string()),
        ExportError::Decode { .. } | ExportError::Links(_) => {
            error(StatusCode::BAD_GATEWAY, e.to_string())
        }
        ExportError::Store(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
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
    fn from_param(s: &str) -> Option<Self> {
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

    fn from_accept(accept: &str) -> Option<Self> {
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

struct Request {
    method: Method,
    cid: Cid,
    segments: Vec<String>,
    trailing_slash: bool,
    query: HashMap<String, String>,
    raw_query: Option<String>,
    headers: HeaderMap,
    /// The path the client asked for when it differs from `/ipfs/<cid>/…` (an `/ipns/` name).
    display: Option<String>,
    /// Cache lifetime for mutable (IPNS) content instead of `immutable`.
    ttl_seconds: Option<u64>,
}

impl Request {
    /// The path as the client sees it: `/ipns/<name>/…` or `/ipfs/<cid>/…`.
    fn public_path(&self) -> String {
        self.display.clone().unwrap_or_else(|| self.content_path())
    }

    fn content_path(&self) -> String {
        let mut p = format!("/ipfs/{}", self.cid);
        for s in &self.segments {
            p.push('/');
            p.push_str(&percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string());
        }
        p
    }
}

const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
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
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
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

async fn handle(
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
fn segments_of<'a>(parts: impl Iterator<Item = &'a str>) -> Result<Vec<String>, &'static str> {
    let mut segments = Vec::new();
    for s in parts {
        if s == ".." || s == "." {
            return Err("'.' and '..' are not allowed in content paths");
        }
        segments.push(s.to_owned());
    }
    Ok(segments)
}

/// `/ipns/<name>[/path]`: redirect to the canonical name, serve the record, or resolve it and
/// serve the target like `/ipfs/`, with the record's TTL instead of `immutable`.
async fn ipns(
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

/// Serves a parsed content request.
async fn serve(repo: Source, req: Request) -> Response {
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

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
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

fn not_modified(etag: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    insert(r.headers_mut(), header::ETAG, etag);
    insert(r.headers_mut(), header::CACHE_CONTROL, IMMUTABLE);
    r
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn attachment(name: &str) -> String {
    disposition("attachment", name)
}

fn disposition(kind: &str, name: &str) -> String {
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

async fn raw_block(repo: &Source, req: &Request, target: Cid) -> Response {
    let etag = format!("\"{target}.raw\"");
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let mut r = block_body(&req.headers, data);
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, "application/vnd.ipld.raw");
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &named_attachment(req, &format!("{target}.bin")),
    );
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(h, header::VARY, "Accept");
    r
}

/// A block from the local store, or the response saying why there is none.
fn local_block(repo: &Source, cid: &Cid) -> Result<Bytes, Box<Response>> {
    match repo.store().get(cid) {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("block {cid} is not available on this gateway"),
        ))),
        Err(e) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))),
    }
}

fn named_attachment(req: &Request, default: &str) -> String {
    attachment(
        req.query
            .get("filename")
            .map(String::as_str)
            .unwrap_or(default),
    )
}

/// Parses `entity-bytes=from:to` against a known size into `[from, to)`.
fn entity_bytes(spec: &str, size: u64) -> Result<(u64, u64), String> {
    let (a, b) = spec.split_once(':').ok_or("entity-bytes must be from:to")?;
    let pos = |s: &str| -> Result<i128, String> {
        s.parse::<i128>()
            .map_err(|_| format!("bad entity-bytes bound {s:?}"))
    };
    let resolve = |v: i128| -> u64 {
        if v < 0 {
            (size as i128 + v).max(0) as u64
        } else {
            v as u64
        }
    };
    let from = resolve(pos(a)?);
    let to = if b == "*" {
        size
    } else {
        (resolve(pos(b)?) + 1).min(size)
    };
    if b != "*" && pos(b)? >= 0 && pos(a)? >= 0 && pos(b)? < pos(a)? {
        return Err("entity-bytes: to is before from".into());
    }
    Ok((from, to.max(from)))
}

async fn car_response(repo: Source, req: &Request, target: Cid, visited: Vec<Cid>) -> Response {
    if let Some(v) = req.query.get("car-version")
        && v != "1"
    {
        return error(
            StatusCode::BAD_REQUEST,
            "only CARv1 responses are supported (car-version=1)",
        );
    }
    let accept = req
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("version=2") && !req.query.contains_key("car-version") {
        return error(
            StatusCode::BAD_REQUEST,
            "only CARv1 responses are supported",
        );
    }
    let dups = req
        .query
        .get("car-dups")
        .map(String::as_str)
        .or_else(|| accept_param(accept, "dups"))
        .unwrap_or("n");
    let order = req
        .query
        .get("car-order")
        .map(String::as_str)
        .or_else(|| accept_param(accept, "order"))
        .unwrap_or("dfs");
    if !matches!(order, "dfs" | "unk") || !matches!(dups, "y" | "n") {
        return error(
            StatusCode::BAD_REQUEST,
            "car-order must be dfs|unk and car-dups y|n",
        );
    }
    let dups = dups.to_owned();
    let order = order.to_owned();
    let scope_name = req
        .query
        .get("dag-scope")
        .map(String::as_str)
        .unwrap_or("all");
    let bytes_spec = req.query.get("entity-bytes").cloned();
    let scope = match (scope_name, &bytes_spec) {
        (_, Some(_)) => None,
        ("all", None) => Some(Scope::All),
        ("entity", None) => Some(Scope::Entity),
        ("block", None) => Some(Scope::Block),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown dag-scope {scope_name:?}"),
            );
        }
    };
    let params = format!(
        "{}.{}.{}",
        scope_name,
        bytes_spec.as_deref().unwrap_or(""),
        dups
    );
    let etag = format!(
        "W/\"{target}.car.{:x}\"",
        crate::hamt::murmur3_x64_64(format!("{}{}", req.content_path(), params).as_bytes())
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let store_repo = repo.clone();
    let dedupe = dups == "n";
    let selection = tokio::task::spawn_blocking(move || {
        let store = store_repo.store();
        let scope = match (scope, bytes_spec) {
            (Some(s), _) => s,
            (None, Some(spec)) => match exporter::kind(store, &target)? {
                Kind::File { size } => match entity_bytes(&spec, size) {
                    Ok((from, to)) => Scope::Bytes { from, to },
                    Err(msg) => return Ok(Err(msg)),
                },
                _ => Scope::Entity,
            },
            (None, None) => Scope::All,
        };
        let mut blocks = visited;
        blocks.extend(
            exporter::select_blocks(store, target, scope, !dedupe).or_else(|e| match e {
                // Blocks past the first missing one cannot be known: serve what is there.
                ExportError::Missing(_) if store.has(&target) => Ok(vec![target]),
                e => Err(e),
            })?,
        );
        if dedupe {
            let mut seen = std::collections::HashSet::new();
            blocks.retain(|c| seen.insert(*c));
        }
        Ok::<_, ExportError>(Ok(blocks))
    })
    .await;
    let blocks = match selection {
        Ok(Ok(Ok(b))) => b,
        Ok(Ok(Err(msg))) => return error(StatusCode::BAD_REQUEST, msg),
        Ok(Err(e)) => return export_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if !repo.store().has(blocks.first().unwrap_or(&target)) {
        return error(
            StatusCode::NOT_FOUND,
            format!("block {target} is not available on this gateway"),
        );
    }
    let root = req.cid;
    let body = crate::body::from_blocking(move |tx| {
        if tx
            .blocking_send(Ok(Bytes::from(car::header(&[root]))))
            .is_err()
        {
            return;
        }
        for cid in blocks {
            if crate::block::identity_data(&cid).is_some() {
                continue;
            }
            let data = match repo.store().get(&cid) {
                Ok(Some(d)) => d,
                _ => return, // incomplete CAR: the client sees the stream end early
            };
            let mut section = car::section_prefix(&cid, data.len());
            section.extend_from_slice(&data);
            if tx.blocking_send(Ok(Bytes::from(section))).is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(body);
    let h = r.headers_mut();
    insert(
        h,
        header::CONTENT_TYPE,
        &format!("application/vnd.ipld.car; version=1; order={order}; dups={dups}"),
    );
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    insert(
        h,
        header::CONTENT_DISPOSITION,
        &named_attachment(req, &format!("{target}.car")),
    );
    insert(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(h, header::VARY, "Accept");
    insert(h, header::ACCEPT_RANGES, "none");
    r
}

fn accept_param<'a>(accept: &'a str, name: &str) -> Option<&'a str> {
    accept
        .split(',')
        .find(|p| p.trim_start().starts_with("application/vnd.ipld.car"))?
        .split(';')
        .skip(1)
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}

/// `Range: bytes=…` against `size`: `Ok(None)` for no (or an ignored multi-) range.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
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

fn file_response(repo: Source, req: &Request, target: Cid, size: u64) -> Response {
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

async fn directory_response(repo: Source, req: &Request, target: Cid) -> Response {
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

async fn codec_response(
    repo: &Source,
    req: &Request,
    target: Cid,
    codec: u64,
    asked: Option<Format>,
) -> Response {
    let native = match (codec, asked) {
        (crate::block::DAG_JSON, _) => Some((Format::DagJson, "application/vnd.ipld.dag-json")),
        (crate::block::DAG_CBOR, _) => Some((Format::DagCbor, "application/vnd.ipld.dag-cbor")),
        (0x0200, _) => Some((Format::Json, "application/json")),
        (0x51, _) => Some((Format::Cbor, "application/cbor")),
        // Raw bytes asked for as plain JSON/CBOR are served as such, unconverted.
        (crust_primitives::cid::RAW, Some(Format::Json)) => {
            Some((Format::Json, "application/json"))
        }
        (crust_primitives::cid::RAW, Some(Format::Cbor)) => {
            Some((Format::Cbor, "application/cbor"))
        }
        _ => None,
    };
    let Some((native_format, native_mime)) = native else {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            format!("codec 0x{codec:x} cannot be returned as {asked:?}; use ?format=raw"),
        );
    };
    // No codec conversion (IPIP-524): the block is returned as-is; json/cbor are the plain
    // views of dag-json/dag-cbor bytes, anything else is a mismatch.
    let mime = match (native_format, asked) {
        (_, None) => native_mime,
        (a, Some(b)) if a == b => native_mime,
        (Format::DagJson, Some(Format::Json)) => "application/json",
        (Format::DagCbor, Some(Format::Cbor)) => "application/cbor",
        (Format::Json, Some(Format::DagJson)) => "application/vnd.ipld.dag-json",
        (Format::Cbor, Some(Format::DagCbor)) => "application/vnd.ipld.dag-cbor",
        (_, Some(asked)) => {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                format!("{target} is {native_mime}; conversion to {asked:?} is not supported"),
            );
        }
    };
    let etag = format!(
        "\"{target}.{}\"",
        mime.rsplit(['.', '/']).next().unwrap_or("block")
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let mut r = block_body(&req.headers, data);
    let h = r.headers_mut();
    insert(h, header::CONTENT_TYPE, mime);
    insert(h, header::ETAG, &etag);
    insert(h, header::CACHE_CONTROL, IMMUTABLE);
    // JSON is shown inline, binary CBOR downloaded (the path gateway spec's defaults).
    let json = mime.ends_with("json");
    let ext = if json { "json" } else { "cbor" };
    let download = req.query.get("download").is_some_and(|v| v == "true");
    let kind = if json && !download {
        "inline"
    } else {
        "attachment"
    };
    let name = req
        .query
        .get("filename")
        .cloned()
        .unwrap_or_else(|| format!("{target}.{ext}"));
    insert(h, header::CONTENT_DISPOSITION, &disposition(kind, &name));
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

fn accepts_html(req: &Request) -> bool {
    req.headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// An HTML view of a dag-json/dag-cbor block for browsers (`Accept: text/html`).
async fn dag_preview(repo: &Source, req: &Request, target: Cid, codec: u64) -> Response {
    let etag = format!(
        "\"DagIndex-{:x}_CID-{target}\"",
        crate::hamt::murmur3_x64_64(b"crust-dag-preview-v1")
    );
    if etag_matches(&req.headers, &etag) {
        return not_modified(&etag);
    }
    let data = match local_block(repo, &target) {
        Ok(d) => d,
        Err(resp) => return *resp,
    };
    let links = crate::links::links(&target, &data).unwrap_or_default();
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{target}</title></head><body>\n<h1>{target}</h1>\n<p>Codec 0x{codec:x}, {} bytes. Download as <a href=\"?format=raw\">raw block</a>.</p>\n<ul>\n",
        data.len()
    );
    for link in links {
        let _ = writeln!(html, "<li><a href=\"/ipfs/{link}/\">{link}</a></li>");
    }
    html.push_str("</ul>\n</body></html>\n");
    let mut r = (StatusCode::OK, html).into_response();
    insert(r.headers_mut(), header::CONTENT_TYPE, "text/html");
    insert(r.headers_mut(), header::ETAG, &etag);
    insert(
        r.headers_mut(),
        header::CACHE_CONTROL,
        "public, max-age=604800, stale-while-revalidate=2678400",
    );
    r
}

/// A whole in-memory block as the body, honouring a single `Range`.
fn block_body(headers: &HeaderMap, data: Bytes) -> Response {
    let size = data.len() as u64;
    match parse_range(headers, size) {
        Ok(Some((from, to))) => {
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                data.slice(from as usize..to as usize),
            )
                .into_response();
            insert(
                r.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {from}-{}/{size}", to - 1),
            );
            r
        }
        Ok(None) => (StatusCode::OK, data).into_response(),
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
            r
        }
    }
}

fn tar_response(repo: Source, req: &Request, target: Cid) -> Response {
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

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// MIME type from a file name's extension.
pub fn mime_from_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html",
        "txt" | "text" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "md" => "text/markdown; charset=utf-8",
        "xml" => "application/xml",
        _ => return None,
    })
}

/// Content sniffing for nameless files (a subset of the WHATWG rules Go's `DetectContentType`
/// follows).
pub fn sniff(head: &[u8]) -> &'static str {
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&head[..0], |i| &head[i..]);
    let lower: Vec<u8> = trimmed
        .iter()
        .take(16)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        "text/html; charset=utf-8"
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if head.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        "image/gif"
    } else if head.starts_with(b"%PDF-") {
        "application/pdf"
    } else if lower.starts_with(b"<svg") || lower.starts_with(b"<?xml") {
        "text/xml; charset=utf-8"
    } else if (trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && serde_json::from_slice::<serde_json::Value>(head).is_ok()
    {
        "application/json"
    } else if std::str::from_utf8(head).is_ok()
        || head.len() >= 509 && std::str::from_utf8(&head[..head.len() - 3]).is_ok()
    {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}
