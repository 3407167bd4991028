//! The Kubo RPC subset on `/api/v0`.
//!
//! Every command is `POST` (Kubo refuses `GET` with 405 since 0.5, to stop CSRF from web pages).
//! Arguments come in the query string (`arg` may repeat), files as `multipart/form-data`.
//! Errors use Kubo's body `{"Message", "Code", "Type": "error"}`: code 1 with status 400 for
//! bad arguments, code 0 with status 500 for failures. Long outputs (`add`, `cat`, `get`,
//! `dag/export`) stream as they are produced; `add` imports on a blocking thread fed from the
//! upload through a bounded channel, so a 1 GiB upload never sits in memory.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::car;
use crust_ipfs::exporter::{self, ExportError, Kind, Scope};
use crust_ipfs::importer::{self, DirBuilder, ImportOptions, Layout};
use crust_ipfs::repo::{PinKind, Repo, RepoError};
use crust_ipfs::{Block, Cid};
use serde_json::{Value, json};
use std::io::{self, Read};
use std::sync::Arc;

/// Facts `id` and `version` report.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// libp2p peer ID.
    pub peer_id: String,
    /// Base64 libp2p public key protobuf.
    pub public_key: String,
    /// Listen multiaddrs (with `/p2p/<id>`).
    pub addresses: Vec<String>,
}

/// The data network the API reports on (`swarm/peers`, `bitswap/*`, metrics) and reads
/// missing blocks from (`cat`, `get`, `ls`, `block/get`, `dag/*`, `pin/add`).
#[derive(Clone)]
pub struct Network {
    /// The libp2p host.
    pub host: crust_net::Host,
    /// Its Bitswap exchange.
    pub exchange: Arc<crust_net::Exchange>,
    /// The repository read through the network: the one the node's gateway uses too, so both
    /// share their fetches under way.
    pub fetcher: Arc<crust_net::NetworkStore>,
}

#[derive(Clone)]
struct Ctx {
    repo: Arc<Repo>,
    /// Where reads go: the repository, backed by the network when there is one.
    blocks: Arc<dyn Blockstore>,
    /// The network-backed store itself, for whole-DAG fetches (`pin/add`).
    fetcher: Option<Arc<crust_net::NetworkStore>>,
    info: Arc<NodeInfo>,
    network: Option<Network>,
}

/// Largest multipart upload for commands that buffer (`block/put`).
const MAX_BLOCK_UPLOAD: usize = crust_ipfs::dagpb::MAX_BLOCK_BYTES;

/// The `/api/v0` routes, and Prometheus metrics on `/debug/metrics/prometheus` (Kubo's path).
pub fn router(repo: Arc<Repo>, info: NodeInfo, network: Option<Network>) -> Router {
    Router::new()
        .route("/debug/metrics/prometheus", axum::routing::get(metrics))
        .route(
            "/api/v0/{*cmd}",
            post(dispatch)
                .get(method_not_allowed)
                .put(method_not_allowed)
                .delete(method_not_allowed),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state({
            let fetcher = network.as_ref().map(|n| n.fetcher.clone());
            Ctx {
                blocks: match &fetcher {
                    Some(f) => f.clone(),
                    None => repo.clone(),
                },
                fetcher,
                repo,
                info: Arc::new(info),
                network,
            }
        })
}

async fn method_not_allowed() -> Response {
    let mut r = (StatusCode::METHOD_NOT_ALLOWED, "405 - Method Not Allowed\n").into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// A Kubo-shaped error.
struct ApiError {
    status: StatusCode,
    code: u8,
    message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 1,
            message: message.into(),
        }
    }
    fn fail(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 0,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"Message": self.message, "Code": self.code, "Type": "error"})),
        )
            .into_response()
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        Self::fail(e.to_string())
    }
}
impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        Self::fail(e.to_string())
    }
}
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::fail(e.to_string())
    }
}

type ApiResult = Result<Response, ApiError>;

/// The query string, with repeated keys kept in order.
struct Args(Vec<(String, String)>);

impl Args {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(ApiError::bad(format!(
                "option {key:?}: could not parse {v:?} as a boolean"
            ))),
        }
    }
    fn uint(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad(format!("option {key:?}: {v:?} is not a number")))
            })
            .transpose()
    }
    /// Every `arg`, at least one.
    fn paths(&self) -> Result<Vec<String>, ApiError> {
        let paths: Vec<String> = self.all("arg").into_iter().map(str::to_owned).collect();
        if paths.is_empty() {
            return Err(ApiError::bad("argument \"ipfs-path\" is required"));
        }
        Ok(paths)
    }

    fn required(&self) -> Result<&str, ApiError> {
        self.get("arg")
            .ok_or_else(|| ApiError::bad("argument \"ipfs-path\" is required"))
    }
}

/// `/ipfs/<cid>/a/b`, `<cid>/a` or `<cid>` → root CID and path segments.
fn parse_path(text: &str) -> Result<(Cid, Vec<String>), ApiError> {
    let trimmed = text.strip_prefix("/ipfs/").unwrap_or(text);
    let mut parts = trimmed.split('/').filter(|s| !s.is_empty());
    let first = parts
        .next()
        .ok_or_else(|| ApiError::bad(format!("invalid path {text:?}")))?;
    let cid: Cid = first
        .parse()
        .map_err(|e| ApiError::bad(format!("invalid path {text:?}: {e}")))?;
    let segs: Vec<String> = parts.map(str::to_owned).collect();
    if segs.iter().any(|s| s == "..") {
        return Err(ApiError::bad("'..' is not allowed in paths"));
    }
    Ok((cid, segs))
}

fn resolve(blocks: &dyn Blockstore, text: &str) -> Result<Cid, ApiError> {
    let (root, segs) = parse_path(text)?;
    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let roots = exporter::resolve(blocks, root, &refs, &mut Vec::new())?;
    Ok(*roots.last().unwrap_or(&root))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?
}

async fn dispatch(State(ctx): State<Ctx>, Path(cmd): Path<String>, req: Request) -> Response {
    let args = Args(
        req.uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
    );
    let result = match cmd.trim_end_matches('/') {
        "version" => version(),
        "id" => Ok(Json(json!({
            "ID": ctx.info.peer_id,
            "PublicKey": ctx.info.public_key,
            "Addresses": ctx.info.addresses,
            "AgentVersion": format!("crust/{}", env!("CARGO_PKG_VERSION")),
            "Protocols": protocols(&ctx),
        }))
        .into_response()),
        "swarm/peers" => swarm_peers(ctx).await,
        "swarm/connect" => swarm_connect(ctx, args).await,
        "bitswap/stat" => bitswap_stat(ctx),
        "bitswap/wantlist" => bitswap_wantlist(ctx, args),
        "bitswap/ledger" => bitswap_ledger(ctx, args),
        "crust/peers" => crust_peers(ctx).await,
        "add" => add(ctx, args, req).await,
        "cat" => cat(ctx, args).await,
        "ls" => ls(ctx, args).await,
        "get" => get(ctx, args).await,
        "block/get" => block_get(ctx, args).await,
        "block/stat" => block_stat(ctx, args).await,
        "block/put" => block_put(ctx, args, req).await,
        "dag/export" => dag_export(ctx, args).await,
        "dag/stat" => dag_stat(ctx, args).await,
        "dag/import" => dag_import(ctx, args, req).await,
        "pin/add" => pin_add(ctx, args).await,
        "pin/ls" => pin_ls(ctx, args).await,
        "pin/rm" => pin_rm(ctx, args).await,
        "repo/gc" => repo_gc(ctx).await,
        "routing/put" => routing_put(ctx, args, req).await,
        "name/resolve" => name_resolve(ctx, args).await,
        other => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: 0,
            message: format!("unknown command {other:?}"),
        }),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn version() -> ApiResult {
    Ok(Json(json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Commit": "",
        "Repo": "crust-1",
        "System": format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
        "Golang": "none (crust, Rust)",
    }))
    .into_response())
}

type LineTx = crust_ipfs::body::Tx;

fn ndjson_stream(rx: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>) -> Response {
    let mut r = Response::new(crust_ipfs::body::from_receiver(rx));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-chunked-output", HeaderValue::from_static("1"));
    r
}

fn send_line(tx: &LineTx, value: &Value) -> bool {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    tx.blocking_send(Ok(line.into())).is_ok()
}

/// Upload events handed from the async multipart reader to the blocking importer.
enum Upload {
    Dir(String),
    File(
        String,
        tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    ),
}

/// Reads a channel of chunks as a byte stream.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

fn add_options(args: &Args) -> Result<ImportOptions, ApiError> {
    let cid_version = match args.uint("cid-version")? {
        Some(v @ 0..=1) => v as u8,
        Some(v) => return Err(ApiError::bad(format!("unknown CID version {v}"))),
        None => 0,
    };
    if let Some(hash) = args.get("hash")
        && hash != "sha2-256"
    {
        return Err(ApiError::bad(format!(
            "hash {hash:?} is not supported; use sha2-256"
        )));
    }
    let opts = ImportOptions {
        cid_version,
        raw_leaves: args
            .get("raw-leaves")
            .filter(|v| !v.is_empty())
            .map(|_| args.flag("raw-leaves", false))
            .transpose()?,
        chunk_size: ImportOptions::parse_chunker(args.get("chunker").unwrap_or_default())
            .map_err(|e| ApiError::bad(e.to_string()))?,
        layout: if args.flag("trickle", false)? {
            Layout::Trickle
        } else {
            Layout::Balanced
        },
        ..ImportOptions::default()
    };
    opts.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(opts)
}

fn part_path(field: &axum::extract::multipart::Field<'_>) -> String {
    let raw = field.file_name().or(field.name()).unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .trim_start_matches('/')
        .to_owned()
}

async fn add(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let opts = add_options(&args)?;
    let wrap = args.flag("wrap-with-directory", false)?;
    let pin = args.flag("pin", true)?;
    let progress = args.flag("progress", false)?;
    let only_hash = args.flag("only-hash", false)?;
    let quiet = args.flag("quiet", false)? || args.flag("quieter", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(format!("add needs a multipart/form-data body: {e}")))?;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<Upload>(4);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel(64);
    // Feed the upload into the importer as it arrives.
    tokio::spawn(async move {
        loop {
            let mut field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let (tx, rx) = tokio::sync::mpsc::channel(1);
                    let _ = tx
                        .send(Err(io::Error::other(format!("reading the upload: {e}"))))
                        .await;
                    let _ = events_tx.send(Upload::File(String::new(), rx)).await;
                    break;
                }
            };
            let path = part_path(&field);
            if field.content_type() == Some("application/x-directory") {
                if events_tx.send(Upload::Dir(path)).await.is_err() {
                    break;
                }
                continue;
            }
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            if events_tx.send(Upload::File(path, rx)).await.is_err() {
                break;
            }
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx
                            .send(Err(io::Error::other(format!("reading the upload: {e}"))))
                            .await;
                        return;
                    }
                }
            }
        }
    });
    let repo = ctx.repo.clone();
    tokio::task::spawn_blocking(move || {
        let result = repo.import(
            pin && !only_hash,
            |sink| {
                let mut null = importer::NullSink;
                let sink: &mut dyn importer::BlockSink = if only_hash { &mut null } else { sink };
                let mut tree = DirBuilder::new();
                let mut top: Vec<(String, crust_ipfs::Imported)> = Vec::new();
                let mut dirs_seen = false;
                while let Some(event) = events_rx.blocking_recv() {
                    match event {
                        Upload::Dir(path) => {
                            tree.add_dir(&path)?;
                            dirs_seen = true;
                        }
                        Upload::File(path, rx) => {
                            let name = if path.is_empty() {
                                "file".to_owned()
                            } else {
                                path
                            };
                            let mut sent = 0u64;
                            let mut last_report = 0u64;
                            let tx = out_tx.clone();
                            let file_name = name.clone();
                            let mut report = |n: u64| {
                                sent += n;
                                if progress && sent - last_report >= 256 * 1024 {
                                    last_report = sent;
                                    send_line(&tx, &json!({"Name": file_name, "Bytes": sent}));
                                }
                            };
                            let reader = ChannelReader {
                                rx,
                                current: Bytes::new(),
                            };
                            let imported = importer::import_file(reader, &opts, sink, &mut report)?;
                            if progress {
                                send_line(
                                    &out_tx,
                                    &json!({"Name": name, "Bytes": imported.file_size}),
                                );
                            }
                            if !quiet {
                                send_line(&out_tx, &added_line(&name, &imported));
                            }
                            if name.contains('/') {
                                dirs_seen = true;
                            } else {
                                top.push((name.clone(), imported));
                            }
                            tree.add_file(&name, imported)?;
                        }
                    }
                }
                let mut roots = Vec::new();
                if wrap || dirs_seen {
                    let (root, dirs) = tree.build(opts.cid_version, sink)?;
                    for entry in dirs {
                        if entry.path.is_empty() && !wrap {
                            continue;
                        }
                        if !entry.path.is_empty() && !entry.path.contains('/') {
                            roots.push(entry.imported.cid);
                        }
                        send_line(&out_tx, &added_line(&entry.path, &entry.imported));
                    }
                    if wrap {
                        roots = vec![root.cid];
                    } else {
                        roots.extend(top.iter().map(|(_, i)| i.cid));
                    }
                } else {
                    roots.extend(top.iter().map(|(_, i)| i.cid));
                    if quiet && let Some((name, last)) = top.last() {
                        send_line(&out_tx, &added_line(name, last));
                    }
                }
                Ok(roots)
            },
            |roots| roots.clone(),
        );
        if let Err(e) = result {
            send_line(
                &out_tx,
                &json!({"Message": e.to_string(), "Code": 0, "Type": "error"}),
            );
        }
    });
    Ok(ndjson_stream(out_rx))
}

fn added_line(name: &str, imported: &crust_ipfs::Imported) -> Value {
    json!({"Name": name, "Hash": imported.cid.to_string(), "Size": imported.tsize.to_string()})
}

async fn cat(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let offset = args.uint("offset")?.unwrap_or(0);
    let length = args.uint("length")?;
    let blocks = ctx.blocks.clone();
    let (cid, size) = blocking(move || {
        let cid = resolve(&*blocks, &path)?;
        match exporter::kind(&*blocks, &cid)? {
            Kind::File { size } => Ok((cid, size)),
            Kind::Directory { .. } => Err(ApiError::fail("this dag node is a directory")),
            _ => Err(ApiError::fail("this dag node is not a UnixFS file")),
        }
    })
    .await?;
    let from = offset.min(size);
    let to = length.map_or(size, |l| from.saturating_add(l).min(size));
    let body = crust_ipfs::body::file_range(ctx.blocks.clone(), cid, from, to);
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    r.headers_mut()
        .insert("x-content-length", HeaderValue::from(to - from));
    Ok(r)
}

async fn ls(ctx: Ctx, args: Args) -> ApiResult {
    let paths = args.paths()?;
    let blocks = ctx.blocks.clone();
    let objects = blocking(move || {
        let mut objects = Vec::new();
        for path in paths {
            let cid = resolve(&*blocks, &path)?;
            let mut links = Vec::new();
            if let Kind::Directory { .. } = exporter::kind(&*blocks, &cid)? {
                for e in exporter::list(&*blocks, &cid, &mut Vec::new())? {
                    let (kind, size) = match exporter::kind(&*blocks, &e.cid) {
                        Ok(Kind::Directory { .. }) => (1, 0),
                        Ok(Kind::File { size }) => (2, size),
                        Ok(Kind::Symlink { .. }) => (4, 0),
                        _ => (0, e.tsize.unwrap_or(0)),
                    };
                    links.push(json!({"Name": e.name, "Hash": e.cid.to_string(), "Size": size, "Type": kind, "Target": ""}));
                }
            }
            objects.push(json!({"Hash": path, "Links": links}));
        }
        Ok(objects)
    })
    .await?;
    Ok(Json(json!({"Objects": objects})).into_response())
}

fn stream_writer(
    content_type: &'static str,
    produce: impl FnOnce(&mut crust_ipfs::body::ChunkWriter) -> io::Result<()> + Send + 'static,
) -> Response {
    let mut r = Response::new(crust_ipfs::body::from_writer(produce));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    r
}

async fn get(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let blocks = ctx.blocks.clone();
    let p = path.clone();
    let cid = blocking(move || resolve(&*blocks, &p)).await?;
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let blocks = ctx.blocks.clone();
    Ok(stream_writer("application/x-tar", move |w| {
        crust_ipfs::tar::write_archive(&*blocks, cid, &name, w)
            .map_err(|e| io::Error::other(e.to_string()))
    }))
}

async fn block_get(ctx: Ctx, args: Args) -> ApiResult {
    let cid = resolve_block_arg(&args)?;
    let blocks = ctx.blocks.clone();
    let data = blocking(move || {
        blocks
            .get(&cid)?
            .ok_or_else(|| ApiError::fail(format!("block {cid} not found")))
    })
    .await?;
    let mut r = Response::new(Body::from(data));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    Ok(r)
}

fn resolve_block_arg(args: &Args) -> Result<Cid, ApiError> {
    let (cid, segs) = parse_path(args.required()?)?;
    if !segs.is_empty() {
        return Err(ApiError::bad("block commands take a CID, not a path"));
    }
    Ok(cid)
}

async fn block_stat(ctx: Ctx, args: Args) -> ApiResult {
    let cid = resolve_block_arg(&args)?;
    let size = ctx
        .repo
        .store()
        .size(&cid)
        .ok_or_else(|| ApiError::fail(format!("block {cid} not found locally")))?;
    Ok(Json(json!({"Key": cid.to_string(), "Size": size})).into_response())
}

fn codec_by_name(name: &str) -> Option<u64> {
    Some(match name {
        "raw" => 0x55,
        "dag-pb" | "protobuf" => 0x70,
        "dag-cbor" | "cbor" => 0x71,
        "dag-json" => 0x0129,
        "json" => 0x0200,
        _ => return None,
    })
}

async fn block_put(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    if let Some(mh) = args.get("mhtype")
        && mh != "sha2-256"
    {
        return Err(ApiError::bad(format!(
            "mhtype {mh:?} is not supported; use sha2-256"
        )));
    }
    let format = args.get("format").filter(|f| !f.is_empty());
    let codec_name = args.get("cid-codec").filter(|f| !f.is_empty());
    let (codec, version) = match (format, codec_name) {
        (Some("v0"), _) | (Some("protobuf"), None) => (0x70, 0u8),
        (_, Some(name)) | (Some(name), None) => (
            codec_by_name(name).ok_or_else(|| ApiError::bad(format!("unknown codec {name:?}")))?,
            1,
        ),
        (None, None) => (0x55, 1),
    };
    let version = match args.uint("version")? {
        Some(0) if codec == 0x70 => 0,
        Some(0) => return Err(ApiError::bad("CIDv0 only supports dag-pb")),
        _ => version,
    };
    let pin = args.flag("pin", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut results = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        let mut data = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?
        {
            if data.len() + chunk.len() > MAX_BLOCK_UPLOAD {
                return Err(ApiError::bad(
                    "produced block is over 2MiB: big blocks can't be exchanged with other peers; use UnixFS (add) for automatic chunking",
                ));
            }
            data.extend_from_slice(&chunk);
        }
        if codec == 0x70 {
            crust_ipfs::dagpb::PbNode::decode(&data)
                .map_err(|e| ApiError::bad(format!("not a valid dag-pb block: {e}")))?;
        }
        let cid = crust_ipfs::block::cid_of(codec, &data, version);
        let block = Block {
            cid,
            data: data.into(),
        };
        let repo = ctx.repo.clone();
        let size = block.data.len();
        blocking(move || {
            repo.put_block(&block)?;
            if pin {
                repo.pin(block.cid, PinKind::Recursive)?;
            }
            Ok(())
        })
        .await?;
        results.push(json!({"Key": cid.to_string(), "Size": size}));
    }
    match results.len() {
        0 => Err(ApiError::bad("file argument 'data' is required")),
        1 => Ok(Json(results.remove(0)).into_response()),
        _ => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            results.iter().map(|r| format!("{r}\n")).collect::<String>(),
        )
            .into_response()),
    }
}

async fn dag_export(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let blocks = ctx.blocks.clone();
    let cid = blocking(move || resolve(&*blocks, &path)).await?;
    let blocks = ctx.blocks.clone();
    // Fail before the response starts when the DAG is incomplete (or cannot be fetched).
    blocking(move || Ok(exporter::select(&*blocks, cid, Scope::All)?)).await?;
    let blocks = ctx.blocks.clone();
    Ok(stream_writer("application/vnd.ipld.car", move |w| {
        car::export(&*blocks, cid, w)
            .map(|_| ())
            .map_err(|e| io::Error::other(e.to_string()))
    }))
}

/// `dag/stat`: blocks and bytes under a root, each block once (Kubo's shape). The size is what a
/// storage order for the root must name.
async fn dag_stat(ctx: Ctx, args: Args) -> ApiResult {
    let path = args.required()?.to_owned();
    let store = ctx.blocks.clone();
    let (cid, size, blocks) = blocking(move || {
        let cid = resolve(&*store, &path)?;
        let cids = exporter::select(&*store, cid, Scope::All)?;
        let size: u64 = cids.iter().filter_map(|c| store.size(c)).sum();
        Ok((cid, size, cids.len()))
    })
    .await?;
    Ok(Json(json!({
        "DagStats": [{"Cid": {"/": cid.to_string()}, "Size": size, "NumBlocks": blocks}],
        "TotalSize": size,
        "SharedSize": 0,
        "Ratio": 1,
    }))
    .into_response())
}

async fn dag_import(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let pin_roots = args.flag("pin-roots", true)?;
    let stats = args.flag("stats", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut roots = Vec::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let repo = ctx.repo.clone();
        let import = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            repo.import(
                false,
                |sink| {
                    car::import(reader, sink)
                        .map_err(|e| RepoError::Io(io::Error::other(e.to_string())))
                },
                |_| Vec::new(),
            )
        });
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?
        {
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        drop(tx);
        let imported = import
            .await
            .map_err(|e| ApiError::fail(e.to_string()))?
            .map_err(|e| ApiError::fail(format!("importing CAR: {e}")))?;
        roots.extend(imported.roots);
        count += imported.blocks;
        bytes += imported.bytes;
    }
    let mut out = String::new();
    for root in &roots {
        let mut msg = String::new();
        if pin_roots {
            let repo = ctx.repo.clone();
            let r = *root;
            if let Err(e) = blocking(move || Ok(repo.pin(r, PinKind::Recursive)?)).await {
                msg = e.message;
            }
        }
        out.push_str(
            &json!({"Root": {"Cid": {"/": root.to_string()}, "PinErrorMsg": msg}}).to_string(),
        );
        out.push('\n');
    }
    if stats {
        out.push_str(
            &json!({"Stats": {"BlockCount": count, "BlockBytesCount": bytes}}).to_string(),
        );
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-chunked-output"), "1"),
        ],
        out,
    )
        .into_response())
}

async fn pin_add(ctx: Ctx, args: Args) -> ApiResult {
    let recursive = args.flag("recursive", true)?;
    let paths = args.paths()?;
    let blocks = ctx.blocks.clone();
    let roots = blocking(move || {
        let mut roots = Vec::new();
        for p in paths {
            let cid = resolve(&*blocks, &p)?;
            // A direct pin needs only the root (fetched if missing).
            if !recursive && blocks.get(&cid)?.is_none() {
                return Err(ApiError::fail(format!("block {cid} not found")));
            }
            roots.push(cid);
        }
        Ok(roots)
    })
    .await?;
    // Fetch whatever of each DAG is missing first, many blocks at a time.
    if recursive && let Some(fetcher) = &ctx.fetcher {
        for cid in &roots {
            fetcher
                .fetch_dag(*cid)
                .await
                .map_err(|e| ApiError::fail(format!("fetching {cid}: {e}")))?;
        }
    }
    let repo = ctx.repo.clone();
    let pins = blocking(move || {
        let mut pinned = Vec::new();
        for cid in roots {
            repo.pin(
                cid,
                if recursive {
                    PinKind::Recursive
                } else {
                    PinKind::Direct
                },
            )?;
            pinned.push(cid.to_string());
        }
        Ok(pinned)
    })
    .await?;
    Ok(Json(json!({"Pins": pins})).into_response())
}

async fn pin_ls(ctx: Ctx, args: Args) -> ApiResult {
    let kind = args
        .get("type")
        .filter(|t| !t.is_empty())
        .unwrap_or("all")
        .to_owned();
    if !matches!(kind.as_str(), "all" | "recursive" | "direct" | "indirect") {
        return Err(ApiError::bad(format!(
            "invalid type {kind:?}, must be one of {{direct, indirect, recursive, all}}"
        )));
    }
    let stream = args.flag("stream", false)?;
    let paths: Vec<String> = args.all("arg").into_iter().map(str::to_owned).collect();
    let repo = ctx.repo.clone();
    let entries = blocking(move || {
        let mut out: Vec<(Cid, PinKind)> = Vec::new();
        if paths.is_empty() {
            out = repo
                .pins()
                .into_iter()
                .filter(|(_, k)| kind == "all" || k.as_str() == kind)
                .collect();
        } else {
            for p in paths {
                let cid = resolve(repo.store(), &p)?;
                match repo.pin_kind(&cid)? {
                    Some(k) if kind == "all" || k.as_str() == kind => out.push((cid, k)),
                    _ => return Err(ApiError::fail(format!("path '{p}' is not pinned"))),
                }
            }
        }
        Ok(out)
    })
    .await?;
    if stream {
        let body: String = entries
            .iter()
            .map(|(c, k)| {
                format!(
                    "{}\n",
                    json!({"Cid": c.to_string(), "Type": k.as_str(), "Name": ""})
                )
            })
            .collect();
        return Ok((
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("x-chunked-output"), "1"),
            ],
            body,
        )
            .into_response());
    }
    let keys: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(c, k)| (c.to_string(), json!({"Type": k.as_str(), "Name": ""})))
        .collect();
    Ok(Json(json!({"Keys": keys})).into_response())
}

async fn pin_rm(ctx: Ctx, args: Args) -> ApiResult {
    let paths = args.paths()?;
    let repo = ctx.repo.clone();
    let pins = blocking(move || {
        let mut removed = Vec::new();
        for p in paths {
            let (cid, segs) = parse_path(&p)?;
            let cid = if segs.is_empty() {
                cid
            } else {
                resolve(repo.store(), &p)?
            };
            repo.unpin(cid).map_err(|e| match e {
                RepoError::NotPinned(..) => ApiError::fail(format!("{cid} is not pinned")),
                e => ApiError::from(e),
            })?;
            removed.push(cid.to_string());
        }
        Ok(removed)
    })
    .await?;
    Ok(Json(json!({"Pins": pins})).into_response())
}

async fn repo_gc(ctx: Ctx) -> ApiResult {
    let repo = ctx.repo.clone();
    let stats = blocking(move || Ok(repo.gc()?)).await?;
    Ok(
        Json(json!({"RemovedBlocks": stats.removed_blocks, "RemovedBytes": stats.removed_bytes}))
            .into_response(),
    )
}

fn ipns_name(arg: &str) -> Result<crust_ipfs::ipns::Name, ApiError> {
    let text = arg
        .strip_prefix("/ipns/")
        .unwrap_or(arg)
        .trim_end_matches('/');
    crust_ipfs::ipns::Name::parse(text).map_err(|e| ApiError::bad(e.to_string()))
}

/// `routing/put /ipns/<name>` with the record as the file: verified, then stored.
async fn routing_put(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let key = args.required()?.to_owned();
    if !key.starts_with("/ipns/") {
        return Err(ApiError::bad("only /ipns/<name> keys can be put"));
    }
    let name = ipns_name(&key)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut field = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
        .ok_or_else(|| ApiError::bad("file argument 'value-file' is required"))?;
    let mut record = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        if record.len() + chunk.len() > crust_ipfs::ipns::MAX_RECORD_BYTES {
            return Err(ApiError::bad("IPNS record is larger than 10 KiB"));
        }
        record.extend_from_slice(&chunk);
    }
    let store = crust_ipfs::ipns::RecordStore::new(ctx.repo.dir());
    blocking(move || {
        store
            .put(&name, &record, crust_ipfs::ipns::now_unix())
            .map_err(|e| ApiError::fail(e.to_string()))
    })
    .await?;
    Ok(Json(json!({"Extra": "", "ID": "", "Responses": null, "Type": 5})).into_response())
}

/// `name/resolve /ipns/<name>` from the local record store.
async fn name_resolve(ctx: Ctx, args: Args) -> ApiResult {
    let name = ipns_name(args.required()?)?;
    let store = crust_ipfs::ipns::RecordStore::new(ctx.repo.dir());
    let record = blocking(move || {
        store
            .get(&name, crust_ipfs::ipns::now_unix())
            .map(|(_, r)| r)
            .map_err(|e| ApiError::fail(e.to_string()))
    })
    .await?;
    Ok(Json(json!({"Path": record.value})).into_response())
}

/// The protocols the node speaks on libp2p (empty without a network).
fn protocols(ctx: &Ctx) -> Vec<&'static str> {
    match ctx.network {
        Some(_) => {
            let mut out = crust_ipfs::bitswap::PROTOCOLS.to_vec();
            out.extend(["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
            out.sort_unstable();
            out
        }
        None => Vec::new(),
    }
}

fn network(ctx: &Ctx) -> Result<&Network, ApiError> {
    ctx.network
        .as_ref()
        .ok_or_else(|| ApiError::fail("this node runs without the data network"))
}

fn peer_arg(args: &Args, name: &str) -> Result<crust_net::PeerId, ApiError> {
    let text = args
        .get(name)
        .ok_or_else(|| ApiError::bad(format!("argument \"{name}\" is required")))?;
    text.parse()
        .map_err(|e| ApiError::bad(format!("{text}: not a peer ID: {e}")))
}

fn cid_list(cids: &[Cid]) -> Vec<Value> {
    cids.iter().map(|c| json!({"/": c.to_string()})).collect()
}

/// `swarm/peers`: the connected peers.
async fn swarm_peers(ctx: Ctx) -> Result<Response, ApiError> {
    let peers = network(&ctx)?
        .host
        .peers()
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?;
    let list: Vec<Value> = peers
        .iter()
        .map(|(peer, addr)| json!({"Addr": addr.to_string(), "Peer": peer.to_string()}))
        .collect();
    Ok(Json(json!({ "Peers": list })).into_response())
}

/// Most addresses one `swarm/connect` dials.
const MAX_CONNECT: usize = 20;
/// How long one dial may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `swarm/connect`: dials each `arg` (a multiaddr ending in `/p2p/<peer id>`), as Kubo does;
/// fails with the first address that could not be reached.
async fn swarm_connect(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let addrs = args.all("arg");
    if addrs.is_empty() {
        return Err(ApiError::bad("argument \"address\" is required"));
    }
    if addrs.len() > MAX_CONNECT {
        return Err(ApiError::bad(format!("at most {MAX_CONNECT} addresses")));
    }
    let host = network(&ctx)?.host.clone();
    let mut strings = Vec::new();
    for text in addrs {
        let addr: crust_net::Multiaddr = text
            .parse()
            .map_err(|e| ApiError::bad(format!("{text}: {e}")))?;
        let peer = tokio::time::timeout(CONNECT_TIMEOUT, host.dial(addr))
            .await
            .map_err(|_| ApiError::fail(format!("connect {text}: timed out")))?
            .map_err(|e| ApiError::fail(format!("connect {text}: {e}")))?;
        strings.push(format!("connect {peer} success"));
    }
    Ok(Json(json!({ "Strings": strings })).into_response())
}

/// `bitswap/stat`: totals and the current wantlist.
fn bitswap_stat(ctx: Ctx) -> Result<Response, ApiError> {
    let stats = network(&ctx)?.exchange.stats();
    let peers: Vec<String> = stats.peers.iter().map(|p| p.to_string()).collect();
    Ok(Json(json!({
        "BlocksReceived": stats.blocks_received,
        "DataReceived": stats.data_received,
        "BlocksSent": stats.blocks_sent,
        "DataSent": stats.data_sent,
        "DupBlksReceived": 0,
        "DupDataReceived": 0,
        "MessagesReceived": 0,
        "ProvideBufLen": 0,
        "Wantlist": cid_list(&stats.wantlist),
        "Peers": peers,
    }))
    .into_response())
}

/// `bitswap/wantlist[?peer=]`: what we want, or what a peer left with us.
fn bitswap_wantlist(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let exchange = &network(&ctx)?.exchange;
    let keys = match args.get("peer") {
        Some(_) => exchange.peer_wantlist(&peer_arg(&args, "peer")?),
        None => exchange.stats().wantlist,
    };
    Ok(Json(json!({ "Keys": cid_list(&keys) })).into_response())
}

/// `bitswap/ledger?arg=<peer>`: one peer's account.
fn bitswap_ledger(ctx: Ctx, args: Args) -> Result<Response, ApiError> {
    let peer = peer_arg(&args, "arg")?;
    let account = network(&ctx)?.exchange.ledger().account(&peer);
    Ok(Json(json!({
        "Peer": peer.to_string(),
        "Value": account.debt_ratio(),
        "Sent": account.bytes_sent,
        "Recv": account.bytes_received,
        "Exchanged": account.blocks_sent + account.blocks_received,
    }))
    .into_response())
}

/// `crust/peers`: every peer we are connected to or hold an account for, with its standing.
async fn crust_peers(ctx: Ctx) -> Result<Response, ApiError> {
    let net = network(&ctx)?;
    let connected: std::collections::HashMap<_, _> = net
        .host
        .peers()
        .await
        .map_err(|e| ApiError::fail(e.to_string()))?
        .into_iter()
        .collect();
    let ledger = net.exchange.ledger();
    let mut peers: Vec<_> = ledger.accounts();
    for peer in connected.keys() {
        if !peers.iter().any(|(p, _)| p == peer) {
            peers.push((*peer, ledger.account(peer)));
        }
    }
    let list: Vec<Value> = peers
        .iter()
        .map(|(peer, a)| {
            json!({
                "Peer": peer.to_string(),
                "Addr": connected.get(peer).map(|a| a.to_string()),
                "Standing": format!("{:?}", ledger.standing(peer)),
                "Sent": a.bytes_sent,
                "Recv": a.bytes_received,
                "BlocksSent": a.blocks_sent,
                "BlocksRecv": a.blocks_received,
                "DebtRatio": a.debt_ratio(),
                "Violations": a.violations,
            })
        })
        .collect();
    Ok(Json(json!({ "Peers": list })).into_response())
}

/// Prometheus text exposition of the node's counters.
async fn metrics(State(ctx): State<Ctx>) -> Response {
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Registry;
    let mut registry = Registry::with_prefix("crust");
    if let Some(net) = &ctx.network {
        let stats = net.exchange.stats();
        let counters = [
            (
                "bitswap_blocks_received",
                "Wanted blocks received",
                stats.blocks_received,
            ),
            (
                "bitswap_data_received_bytes",
                "Wanted block bytes received",
                stats.data_received,
            ),
            ("bitswap_blocks_sent", "Blocks sent", stats.blocks_sent),
            (
                "bitswap_data_sent_bytes",
                "Block bytes sent",
                stats.data_sent,
            ),
        ];
        for (name, help, value) in counters {
            registry.register(name, help, ConstCounter::new(value));
        }
        registry.register(
            "bitswap_wantlist_length",
            "Blocks this node is waiting for",
            ConstGauge::new(stats.wantlist.len() as i64),
        );
        let queue = net.exchange.serve_queue();
        let ledger = net.exchange.ledger();
        let gauges = [
            (
                "bitswap_server_in_flight_bytes",
                "Block bytes the server has in flight to all peers",
                queue.in_flight(),
            ),
            (
                "bitswap_server_waiting_peers",
                "Sends waiting for the server's shared budget",
                queue.waiting(),
            ),
            (
                "bitswap_replica_holders",
                "Peers credited as replica holders",
                ledger.replica_holders().len(),
            ),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value as i64));
        }
        let peers = net.host.peers().await.map(|p| p.len()).unwrap_or(0);
        registry.register(
            "swarm_peers",
            "Connected libp2p peers",
            ConstGauge::new(peers as i64),
        );
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
