//! The content-layer commands: `crust add|cat|get`, `crust ipfs daemon|dag-import|dag-export|gc`.
//!
//! Each works on the local repository directly, or — when a running daemon holds the repository
//! (or `--api` is given) — through that daemon's Kubo RPC API, so `crust add` behaves the same
//! with or without `crust ipfs daemon` running, as `ipfs add` does.

use axum::serve::ListenerExt;
use crust_ipfs::blockstore::{Blockstore, DiskStore, StoreError};
use crust_ipfs::exporter::{self, Kind, RangeReader};
use crust_ipfs::importer::{self, DirBuilder, ImportOptions, Layout};
use crust_ipfs::repo::{Repo, RepoError};
use crust_ipfs::{Cid, car};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the repository lives unless `--repo` says otherwise.
pub fn default_repo() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRUST_IPFS_REPO") {
        return dir.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".crust").join("ipfs")
}

/// The Kubo RPC API address a local daemon listens on by default: `crust ipfs daemon`'s and
/// `crust devnet`'s IPFS node (`$CRUST_API` overrides it).
pub fn default_api() -> String {
    std::env::var("CRUST_API").unwrap_or_else(|_| "http://127.0.0.1:5001".to_owned())
}

/// Whether an IPFS daemon answers at `api` (one quick `version` call; nothing listening, or
/// something that is not a Kubo RPC API, is "no").
fn daemon_answers(api: &str) -> bool {
    let Ok(http) = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_millis(1500))
        .build()
    else {
        return false;
    };
    http.post(format!("{}/api/v0/version", api.trim_end_matches('/')))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.text().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("Version").is_some())
}

/// Options shared by the client commands.
///
/// Which IPFS node a command talks to, in order: `--api`; else `--repo` (or
/// `$CRUST_IPFS_REPO`), through its daemon when one holds it; else the daemon answering at
/// the default API address ([`default_api`], where `crust ipfs daemon` and `crust devnet`
/// listen), as `crust put` does; else the default repository, opened directly.
#[derive(clap::Args, Clone)]
pub struct RepoArgs {
    /// Repository directory (default: $CRUST_IPFS_REPO or ~/.crust/ipfs).
    #[arg(long, global = true)]
    pub repo: Option<PathBuf>,
    /// Use the Kubo RPC API at this URL instead of opening the repository (default: the
    /// daemon holding the repository, or the one answering at $CRUST_API or
    /// http://127.0.0.1:5001).
    #[arg(long, global = true)]
    pub api: Option<String>,
}

/// `crust add` options (Kubo's names).
#[derive(clap::Args)]
pub struct AddArgs {
    /// Files or directories to add (directories are added recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// CID version: 0 (Qm…, default) or 1 (bafy…, implies raw leaves).
    #[arg(long, default_value_t = 0)]
    pub cid_version: u8,
    /// Store leaves as raw blocks (default: on for CIDv1).
    #[arg(long)]
    pub raw_leaves: Option<bool>,
    /// Chunker: `size-N` (default size-262144).
    #[arg(short = 's', long, default_value = "size-262144")]
    pub chunker: String,
    /// Trickle DAG layout instead of balanced.
    #[arg(long)]
    pub trickle: bool,
    /// Wrap the inputs in a directory.
    #[arg(short = 'w', long)]
    pub wrap_with_directory: bool,
    /// Only compute the CIDs; store nothing.
    #[arg(short = 'n', long)]
    pub only_hash: bool,
    /// Pin what is added (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pin: bool,
    /// Include files and directories whose names start with '.'.
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Print only the CIDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Accepted for `ipfs add -r` compatibility: directories are always added recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

impl AddArgs {
    fn options(&self) -> Result<ImportOptions, String> {
        let opts = ImportOptions {
            cid_version: self.cid_version,
            raw_leaves: self.raw_leaves,
            chunk_size: ImportOptions::parse_chunker(&self.chunker).map_err(|e| e.to_string())?,
            layout: if self.trickle {
                Layout::Trickle
            } else {
                Layout::Balanced
            },
            ..ImportOptions::default()
        };
        opts.validate().map_err(|e| e.to_string())?;
        Ok(opts)
    }
}

/// What to do with the repository: open it, or talk to the daemon that holds it.
enum Target {
    Local(Box<Repo>),
    Remote(String),
}

fn open(args: &RepoArgs) -> Result<Target, String> {
    if let Some(api) = &args.api {
        return Ok(Target::Remote(api.trim_end_matches('/').to_owned()));
    }
    let named = args.repo.is_some() || std::env::var_os("CRUST_IPFS_REPO").is_some();
    if !named {
        let api = default_api();
        if daemon_answers(&api) {
            return Ok(Target::Remote(api.trim_end_matches('/').to_owned()));
        }
    }
    let dir = args.repo.clone().unwrap_or_else(default_repo);
    fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create repository {}: {e}", dir.display()))?;
    match Repo::open(&dir) {
        Ok(repo) => Ok(Target::Local(Box::new(repo))),
        Err(RepoError::Store(StoreError::Locked(_))) => {
            let api = fs::read_to_string(dir.join("api")).map_err(|_| {
                format!("the repository {} is in use by another process and no daemon API address is recorded; pass --api", dir.display())
            })?;
            Ok(Target::Remote(api.trim().trim_end_matches('/').to_owned()))
        }
        Err(e) => Err(format!("cannot open repository {}: {e}", dir.display())),
    }
}

fn bytes_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {bytes} {binary_bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// An input file or directory entry, relative to the import root.
struct Input {
    source: PathBuf,
    name: String,
    is_dir: bool,
    size: u64,
}

fn collect_inputs(paths: &[PathBuf], hidden: bool) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_owned()))
            .ok_or_else(|| format!("{}: cannot name this input", path.display()))?;
        let base = base
            .into_string()
            .map_err(|n| format!("{n:?}: file names must be UTF-8"))?;
        if meta.is_dir() {
            walk(path, &base, hidden, &mut out)?;
        } else {
            out.push(Input {
                source: path.clone(),
                name: base,
                is_dir: false,
                size: meta.len(),
            });
        }
    }
    Ok(out)
}

fn walk(dir: &Path, name: &str, hidden: bool, out: &mut Vec<Input>) -> Result<(), String> {
    out.push(Input {
        source: dir.to_owned(),
        name: name.to_owned(),
        is_dir: true,
        size: 0,
    });
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{n:?}: file names must be UTF-8"))?;
        if !hidden && file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let child = format!("{name}/{file_name}");
        if meta.is_dir() {
            walk(&path, &child, hidden, out)?;
        } else if meta.is_file() {
            out.push(Input {
                source: path,
                name: child,
                is_dir: false,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// `crust add`.
pub fn add(args: AddArgs) -> Result<(), String> {
    let opts = args.options()?;
    let inputs = collect_inputs(&args.paths, args.hidden)?;
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let bar = bytes_bar(Some(total));
    let print = |name: &str, cid: &Cid| {
        let line = if args.quiet {
            cid.to_string()
        } else {
            format!("added {cid} {name}")
        };
        bar.suspend(|| println!("{line}"));
    };
    match open(&args.repo)? {
        Target::Local(repo) => {
            let wrap = args.wrap_with_directory;
            let roots = repo
                .import(
                    args.pin && !args.only_hash,
                    |sink| {
                        let mut null = importer::NullSink;
                        let sink: &mut dyn importer::BlockSink =
                            if args.only_hash { &mut null } else { sink };
                        let mut tree = DirBuilder::new();
                        let mut top = Vec::new();
                        for input in &inputs {
                            if input.is_dir {
                                tree.add_dir(&input.name)?;
                                continue;
                            }
                            let file = fs::File::open(&input.source)?;
                            let imported =
                                importer::import_file(file, &opts, sink, &mut |n| bar.inc(n))?;
                            print(&input.name, &imported.cid);
                            if !input.name.contains('/') {
                                top.push(imported.cid);
                            }
                            tree.add_file(&input.name, imported)?;
                        }
                        let has_dirs = inputs.iter().any(|i| i.is_dir);
                        if !(wrap || has_dirs) {
                            return Ok(top);
                        }
                        let (root, dirs) = tree.build(opts.cid_version, sink)?;
                        let mut roots = top;
                        for d in dirs {
                            if d.path.is_empty() {
                                continue;
                            }
                            print(&d.path, &d.imported.cid);
                            if !d.path.contains('/') {
                                roots.push(d.imported.cid);
                            }
                        }
                        if wrap {
                            print("", &root.cid);
                            return Ok(vec![root.cid]);
                        }
                        Ok(roots)
                    },
                    |roots| roots.clone(),
                )
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            if roots.is_empty() {
                return Err("nothing was added".into());
            }
            Ok(())
        }
        Target::Remote(api) => {
            let result = remote_add(&api, &args, &inputs, &bar, &print);
            bar.finish_and_clear();
            result.map(|_| ())
        }
    }
}

/// Adds one file or directory through the Kubo API at `api` with the defaults of `ipfs add`
/// (CIDv0, 256 KiB chunks, pinned), showing a progress bar; returns the root CID.
pub fn add_via_api(api: &str, path: &Path) -> Result<Cid, String> {
    let args = AddArgs {
        paths: vec![path.to_owned()],
        cid_version: 0,
        raw_leaves: None,
        chunker: "size-262144".into(),
        trickle: false,
        wrap_with_directory: false,
        only_hash: false,
        pin: true,
        hidden: false,
        quiet: true,
        recursive: true,
        repo: RepoArgs {
            repo: None,
            api: Some(api.to_owned()),
        },
    };
    let inputs = collect_inputs(&args.paths, args.hidden)?;
    let root = inputs
        .first()
        .map(|i| i.name.clone())
        .ok_or("nothing to add")?;
    let bar = bytes_bar(Some(inputs.iter().map(|i| i.size).sum()));
    let added = remote_add(api.trim_end_matches('/'), &args, &inputs, &bar, &|_, _| {});
    bar.finish_and_clear();
    added?
        .into_iter()
        .find(|(name, _)| *name == root)
        .map(|(_, cid)| cid)
        .ok_or_else(|| format!("the daemon at {api} did not return a CID for {root}"))
}

/// Streams a multipart upload of `inputs` to `/api/v0/add` (the shape kubo-rpc-client sends).
fn remote_add(
    api: &str,
    args: &AddArgs,
    inputs: &[Input],
    bar: &ProgressBar,
    print: &dyn Fn(&str, &Cid),
) -> Result<Vec<(String, Cid)>, String> {
    let boundary = format!(
        "crust-{:x}",
        std::process::id() as u64 * 0x9e37_79b9 + inputs.len() as u64
    );
    let mut parts: Vec<Box<dyn Read + Send>> = Vec::new();
    for input in inputs {
        let encoded =
            percent_encoding::utf8_percent_encode(&input.name, percent_encoding::NON_ALPHANUMERIC);
        let kind = if input.is_dir {
            "application/x-directory"
        } else {
            "application/octet-stream"
        };
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{encoded}\"\r\nContent-Type: {kind}\r\n\r\n"
        );
        parts.push(Box::new(io::Cursor::new(head.into_bytes())));
        if !input.is_dir {
            let file = fs::File::open(&input.source)
                .map_err(|e| format!("{}: {e}", input.source.display()))?;
            parts.push(Box::new(bar.wrap_read(file)));
        }
        parts.push(Box::new(io::Cursor::new(b"\r\n".to_vec())));
    }
    parts.push(Box::new(io::Cursor::new(
        format!("--{boundary}--\r\n").into_bytes(),
    )));
    let body = parts
        .into_iter()
        .fold(Box::new(io::empty()) as Box<dyn Read + Send>, |acc, r| {
            Box::new(acc.chain(r))
        });
    let url = format!(
        "{api}/api/v0/add?cid-version={}&chunker={}&trickle={}&wrap-with-directory={}&only-hash={}&pin={}{}",
        args.cid_version,
        args.chunker,
        args.trickle,
        args.wrap_with_directory,
        args.only_hash,
        args.pin,
        args.raw_leaves
            .map(|r| format!("&raw-leaves={r}"))
            .unwrap_or_default()
    );
    let response = client()?
        .post(url)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::blocking::Body::new(body))
        .send()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    if !status.is_success() {
        return Err(format!("daemon at {api}: {}", kubo_message(&text)));
    }
    let mut added = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("daemon reply: {e}"))?;
        if v.get("Type").and_then(|t| t.as_str()) == Some("error") {
            return Err(v["Message"].as_str().unwrap_or("add failed").to_owned());
        }
        if let (Some(name), Some(hash)) = (v["Name"].as_str(), v["Hash"].as_str()) {
            let cid: Cid = hash
                .parse()
                .map_err(|e| format!("daemon reply: CID {hash}: {e}"))?;
            print(name, &cid);
            added.push((name.to_owned(), cid));
        }
    }
    Ok(added)
}

fn client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .map_err(|e| e.to_string())
}

fn kubo_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["Message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

fn post_stream(api: &str, cmd: &str, query: &str) -> Result<reqwest::blocking::Response, String> {
    let url = format!("{api}/api/v0/{cmd}?{query}");
    let r = client()?
        .post(url)
        .send()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    if !r.status().is_success() {
        let text = r.text().unwrap_or_default();
        return Err(kubo_message(&text));
    }
    Ok(r)
}

fn arg(path: &str) -> String {
    format!(
        "arg={}",
        percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// Resolves `/ipfs/<cid>/path`, `<cid>/path` or `<cid>`.
fn resolve(store: &dyn Blockstore, path: &str) -> Result<Cid, String> {
    let trimmed = path.strip_prefix("/ipfs/").unwrap_or(path);
    let mut parts = trimmed.split('/').filter(|s| !s.is_empty());
    let root: Cid = parts
        .next()
        .ok_or("empty path")?
        .parse()
        .map_err(|e| format!("{path}: {e}"))?;
    let segs: Vec<&str> = parts.collect();
    let roots =
        exporter::resolve(store, root, &segs, &mut Vec::new()).map_err(|e| e.to_string())?;
    Ok(*roots.last().unwrap_or(&root))
}

/// `crust cat`.
pub fn cat(path: &str, offset: u64, length: Option<u64>, repo: &RepoArgs) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    match open(repo)? {
        Target::Local(repo) => {
            let cid = resolve(repo.store(), path)?;
            let size = match exporter::kind(repo.store(), &cid).map_err(|e| e.to_string())? {
                Kind::File { size } => size,
                Kind::Directory { .. } => {
                    return Err(format!("{path} is a directory; use `crust get`"));
                }
                _ => return Err(format!("{path} is not a UnixFS file")),
            };
            let from = offset.min(size);
            let to = length.map_or(size, |l| from.saturating_add(l).min(size));
            for chunk in RangeReader::new(repo.store(), cid, from, to) {
                stdout
                    .write_all(&chunk.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            }
        }
        Target::Remote(api) => {
            let mut q = format!("{}&offset={offset}", arg(path));
            if let Some(l) = length {
                q.push_str(&format!("&length={l}"));
            }
            let mut r = post_stream(&api, "cat", &q)?;
            io::copy(&mut r, &mut stdout).map_err(|e| e.to_string())?;
        }
    }
    stdout.flush().map_err(|e| e.to_string())
}

/// `crust get`: writes a file or directory tree to `output` (default: the CID or last path
/// segment). Through a daemon, the DAG arrives as a CAR and every block is verified here.
pub fn get(path: &str, output: Option<PathBuf>, repo: &RepoArgs) -> Result<(), String> {
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .to_owned();
    let output = output.unwrap_or_else(|| PathBuf::from(&name));
    if output.exists() {
        return Err(format!(
            "{} already exists; choose another with -o",
            output.display()
        ));
    }
    match open(repo)? {
        Target::Local(repo) => {
            let cid = resolve(repo.store(), path)?;
            write_tree(repo.store(), cid, &output)
        }
        Target::Remote(api) => {
            let mut r = post_stream(&api, "dag/export", &arg(path))?;
            let tmp = tempdir_near(&output)?;
            let store = DiskStore::open(&tmp).map_err(|e| e.to_string())?;
            let mut sink = crust_ipfs::blockstore::StoreSink(&store);
            let imported =
                car::import(&mut r, &mut sink).map_err(|e| format!("CAR from the daemon: {e}"))?;
            let root = *imported
                .roots
                .first()
                .ok_or("the daemon's CAR has no root")?;
            // The daemon resolved the path: the CAR's root is the target.
            let result = write_tree(&store, root, &output);
            drop(store);
            let _ = fs::remove_dir_all(&tmp);
            result
        }
    }
}

fn tempdir_near(output: &Path) -> Result<PathBuf, String> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join(format!(".crust-get-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write_tree(store: &dyn Blockstore, cid: Cid, output: &Path) -> Result<(), String> {
    let bar = bytes_bar(None);
    let result = write_entry(store, cid, output, &bar);
    bar.finish_and_clear();
    result
}

fn write_entry(
    store: &dyn Blockstore,
    cid: Cid,
    output: &Path,
    bar: &ProgressBar,
) -> Result<(), String> {
    match exporter::kind(store, &cid).map_err(|e| e.to_string())? {
        Kind::File { size } => {
            let tmp = output.with_extension("crust-partial");
            let mut file = io::BufWriter::new(
                fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?,
            );
            for chunk in RangeReader::new(store, cid, 0, size) {
                let chunk = chunk.map_err(|e| e.to_string())?;
                file.write_all(&chunk).map_err(|e| e.to_string())?;
                bar.inc(chunk.len() as u64);
            }
            file.flush().map_err(|e| e.to_string())?;
            fs::rename(&tmp, output).map_err(|e| e.to_string())
        }
        Kind::Directory { .. } => {
            fs::create_dir_all(output).map_err(|e| format!("{}: {e}", output.display()))?;
            for entry in exporter::list(store, &cid, &mut Vec::new()).map_err(|e| e.to_string())? {
                if entry.name.is_empty()
                    || entry.name.contains('/')
                    || entry.name == "."
                    || entry.name == ".."
                {
                    return Err(format!(
                        "refusing unsafe entry name {:?} in {cid}",
                        entry.name
                    ));
                }
                write_entry(store, entry.cid, &output.join(&entry.name), bar)?;
            }
            Ok(())
        }
        Kind::Symlink { target } => Err(format!(
            "{cid} is a symlink to {target:?}; symlinks are not written"
        )),
        Kind::Other { codec } => Err(format!(
            "{cid} has codec 0x{codec:x}, not UnixFS; use `crust ipfs dag-export`"
        )),
    }
}

/// `crust ipfs dag-import`.
pub fn dag_import(files: &[PathBuf], pin_roots: bool, repo: &RepoArgs) -> Result<(), String> {
    let Target::Local(repo) = open(repo)? else {
        return Err("dag-import through a daemon is not supported yet; stop the daemon or use its /api/v0/dag/import".into());
    };
    let mut failed = Vec::new();
    for path in files {
        if let Err(e) = import_one_car(&repo, path, pin_roots) {
            eprintln!("error: {e}");
            failed.push(path.display().to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} CAR files failed: {}",
            failed.len(),
            files.len(),
            failed.join(", ")
        ))
    }
}

fn import_one_car(repo: &Repo, path: &Path, pin_roots: bool) -> Result<(), String> {
    {
        let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bar = bytes_bar(file.metadata().ok().map(|m| m.len()));
        let imported = repo
            .import(
                false,
                |sink| {
                    car::import(bar.wrap_read(file), sink)
                        .map_err(|e| RepoError::Io(io::Error::other(e.to_string())))
                },
                |_| Vec::new(),
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
        bar.finish_and_clear();
        for root in &imported.roots {
            let pinned = if pin_roots {
                match repo.pin(*root, crust_ipfs::repo::PinKind::Recursive) {
                    Ok(()) => "pinned".to_owned(),
                    Err(e) => format!("not pinned: {e}"),
                }
            } else {
                "not pinned".to_owned()
            };
            println!("root {root} ({pinned})");
        }
        eprintln!(
            "{}: {} blocks, {} bytes",
            path.display(),
            imported.blocks,
            imported.bytes
        );
    }
    Ok(())
}

/// `crust ipfs dag-export` to stdout.
pub fn dag_export(cid: &str, repo: &RepoArgs) -> Result<(), String> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    match open(repo)? {
        Target::Local(repo) => {
            let cid: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
            car::export(repo.store(), cid, &mut out).map_err(|e| e.to_string())?;
        }
        Target::Remote(api) => {
            let mut r = post_stream(&api, "dag/export", &arg(cid))?;
            io::copy(&mut r, &mut out).map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}

/// `crust ipfs commitment CID`: the DAG's content commitment, from the local repository or
/// from the daemon's CAR (checked to be canonical, every block verified).
pub fn commitment(
    cid: &str,
    repo: &RepoArgs,
) -> Result<crust_primitives::commitment::ContentCommitment, String> {
    let root: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
    match open(repo)? {
        Target::Local(repo) => {
            crust_ipfs::commitment::of_dag(repo.store(), root).map_err(|e| e.to_string())
        }
        Target::Remote(api) => {
            let r = post_stream(&api, "dag/export", &arg(cid))?;
            crust_ipfs::commitment::of_car_stream(r, root)
                .map_err(|e| format!("the daemon at {api}: {e}"))
        }
    }
}

fn multiaddrs(list: &[String], flag: &str) -> Result<Vec<crust_net::Multiaddr>, String> {
    list.iter()
        .map(|a| a.parse().map_err(|e| format!("--{flag} {a}: {e}")))
        .collect()
}

/// `crust fetch CID [--peer MULTIADDR…] [--bootstrap MULTIADDR…]`: pulls a whole DAG over
/// Bitswap into the repository (pinned), with a progress bar. Without `--peer`, the providers
/// are looked up on the DHT through the bootstrap peers.
pub fn fetch(
    cid: &str,
    peers: &[String],
    bootstrap: &[String],
    window: usize,
    repo: &RepoArgs,
) -> Result<(), String> {
    let cid: Cid = cid.parse().map_err(|e| format!("{cid}: {e}"))?;
    if peers.is_empty() && bootstrap.is_empty() {
        return Err(
            "give --peer /ip4/…/tcp/…/p2p/<id> (a node that has the file) or --bootstrap (a DHT peer to find providers through)"
                .into(),
        );
    }
    let Target::Local(repo) = open(repo)? else {
        return Err("the repository is held by a running daemon; stop it to fetch (daemon-side fetch is not exposed yet)".into());
    };
    let repo: Arc<Repo> = Arc::new(*repo);
    fetch_into(&repo, cid, peers, bootstrap, window)?;
    repo.pin(cid, crust_ipfs::repo::PinKind::Recursive)
        .map_err(|e| e.to_string())?;
    eprintln!("pinned {cid}");
    Ok(())
}

/// `crust get CID --peer …`: fetches the DAG over Bitswap into a scratch store next to the
/// output, writes the tree, and removes the scratch store.
pub fn get_from_network(
    cid: &str,
    output: Option<PathBuf>,
    peers: &[String],
    bootstrap: &[String],
) -> Result<(), String> {
    let root: Cid = cid
        .trim_start_matches("/ipfs/")
        .parse()
        .map_err(|e| format!("{cid}: {e} (network fetches take a bare CID)"))?;
    let output = output.unwrap_or_else(|| PathBuf::from(root.to_string()));
    if output.exists() {
        return Err(format!(
            "{} already exists; choose another with -o",
            output.display()
        ));
    }
    let tmp = tempdir_near(&output)?;
    let result = Repo::open(&tmp)
        .map_err(|e| e.to_string())
        .map(Arc::new)
        .and_then(|repo| {
            fetch_into(&repo, root, peers, bootstrap, 64)?;
            write_tree(repo.store(), root, &output)
        });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Fetches the DAG under `cid` from `peers` (or providers found through `bootstrap`) into
/// `repo`, with a progress bar and a summary line.
fn fetch_into(
    repo: &Arc<Repo>,
    cid: Cid,
    peers: &[String],
    bootstrap: &[String],
    window: usize,
) -> Result<(), String> {
    let bootstrap = crust_net::bootstrap_addrs(bootstrap)?;
    let key = crust_ipfs::identity::NodeKey::load_or_create(repo.dir())
        .map_err(|e| format!("node key: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listen = vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}"))?];
        let host = crust_net::Host::start(crust_net::NetConfig {
            key_seed: key.seed(),
            listen,
            bootstrap,
            announce: Vec::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
        let exchange = crust_net::Exchange::start(host.clone(), repo.clone());
        let mut connected = Vec::new();
        for addr in multiaddrs(peers, "peer")? {
            match host.dial(addr).await {
                Ok(peer) => connected.push(peer),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        if connected.is_empty() {
            // Content routing: ask the DHT who provides the root.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while connected.is_empty() && std::time::Instant::now() < deadline {
                for provider in host.find_providers(cid).await.map_err(|e| e.to_string())? {
                    match host.connect(provider).await {
                        Ok(peer) => connected.push(peer),
                        Err(e) => eprintln!("warning: provider {provider}: {e}"),
                    }
                }
                if connected.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            if connected.is_empty() {
                return Err(format!("no reachable provider of {cid} found on the DHT"));
            }
            eprintln!("found {} provider(s) on the DHT", connected.len());
        }
        let started = std::time::Instant::now();
        let bar = bytes_bar(None);
        let options = crust_net::FetchOptions {
            window,
            ..Default::default()
        };
        let mut first_block = None;
        let done = exchange
            .fetch_dag(&connected, cid, &options, &mut |p| {
                first_block.get_or_insert_with(|| started.elapsed());
                bar.set_position(p.bytes)
            })
            .await
            .map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        let (blocks, bytes) = (done.blocks, done.bytes);
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let first = first_block.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        eprintln!(
            "fetched {blocks} blocks, {bytes} bytes in {secs:.2} s ({:.1} MB/s, first block after {first:.1} ms)",
            bytes as f64 / secs / 1e6
        );
        Ok::<(), String>(())
    })
}

/// The root CID and DAG size (unique blocks' bytes, what `dag/stat` reports) of a file imported
/// with `ipfs add` defaults (CIDv0, 256 KiB chunks, balanced), computed without storing it.
pub fn file_dag(path: &Path) -> Result<(Cid, u64), String> {
    struct Sizes(std::collections::HashMap<Cid, u64>);
    impl importer::BlockSink for Sizes {
        fn put(&mut self, block: crust_ipfs::Block) -> io::Result<()> {
            self.0.insert(block.cid, block.data.len() as u64);
            Ok(())
        }
    }
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut sizes = Sizes(std::collections::HashMap::new());
    let imported = importer::import_file(file, &ImportOptions::default(), &mut sizes, &mut |_| {})
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((imported.cid, sizes.0.values().sum()))
}

/// The content commitment of a local file imported with `ipfs add` defaults (held in memory
/// while it is computed), and the root it imports to.
pub fn file_commitment(
    path: &Path,
) -> Result<(Cid, crust_primitives::commitment::ContentCommitment), String> {
    let store = crust_ipfs::blockstore::MemStore::default();
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let imported = importer::import_file(
        file,
        &ImportOptions::default(),
        &mut crust_ipfs::blockstore::StoreSink(&store),
        &mut |_| {},
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let commitment =
        crust_ipfs::commitment::of_dag(&store, imported.cid).map_err(|e| e.to_string())?;
    Ok((imported.cid, commitment))
}

/// The content commitment of the DAG under `cid`, from the CAR the daemon at `api` exports
/// (checked to be the canonical CAR of `cid`, every block verified).
pub fn commitment_via_api(
    api: &str,
    cid: &Cid,
) -> Result<crust_primitives::commitment::ContentCommitment, String> {
    let api = api.trim_end_matches('/');
    let r = post_stream(api, "dag/export", &arg(&cid.to_string()))?;
    crust_ipfs::commitment::of_car_stream(r, *cid).map_err(|e| format!("the daemon at {api}: {e}"))
}

/// Asks the daemon at `api` to connect to `addrs` (`swarm/connect`); returns how many it
/// reached (an unreachable one is skipped).
pub fn connect_via_api(api: &str, addrs: &[String]) -> usize {
    let api = api.trim_end_matches('/');
    addrs
        .iter()
        .filter(|a| post_stream(api, "swarm/connect", &arg(a)).is_ok())
        .count()
}

/// Pins the DAG under `cid` in the daemon at `api` (`pin/add`), which fetches what it lacks
/// from the network.
pub fn pin_via_api(api: &str, cid: &Cid) -> Result<(), String> {
    let api = api.trim_end_matches('/');
    post_stream(api, "pin/add", &arg(&cid.to_string()))?
        .text()
        .map(|_| ())
        .map_err(|e| format!("daemon at {api}: {e}"))
}

/// Unpins the DAG under `cid` in the daemon at `api` (`pin/rm`; its blocks go at the next GC).
pub fn unpin_via_api(api: &str, cid: &Cid) -> Result<(), String> {
    let api = api.trim_end_matches('/');
    post_stream(api, "pin/rm", &arg(&cid.to_string()))?
        .text()
        .map(|_| ())
        .map_err(|e| format!("daemon at {api}: {e}"))
}

/// The size of the DAG under `cid` as the daemon at `api` stores it (`dag/stat`).
pub fn dag_size(api: &str, cid: &Cid) -> Result<u64, String> {
    let api = api.trim_end_matches('/');
    let text = post_stream(api, "dag/stat", &arg(&cid.to_string()))?
        .text()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["TotalSize"].as_u64())
        .ok_or_else(|| format!("daemon at {api}: no TotalSize in dag/stat"))
}

/// `crust peers`: the daemon's peers with their credit accounts.
pub fn peers(repo: &RepoArgs) -> Result<(), String> {
    let Target::Remote(api) = open(repo)? else {
        return Err("no daemon holds this repository; start `crust ipfs daemon` (or `crust devnet`), or pass --api".into());
    };
    let text = post_stream(&api, "crust/peers", "")?
        .text()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("daemon at {api}: {e}"))?;
    let peers = body["Peers"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        println!("no peers");
        return Ok(());
    }
    println!(
        "{:<54} {:<13} {:>12} {:>12} {:>10} {:>4}  ADDRESS",
        "PEER", "STANDING", "SENT", "RECEIVED", "DEBT", "VIOL"
    );
    for p in peers {
        println!(
            "{:<54} {:<13} {:>12} {:>12} {:>10.2} {:>4}  {}",
            p["Peer"].as_str().unwrap_or("?"),
            p["Standing"].as_str().unwrap_or("?"),
            human_bytes(p["Sent"].as_u64().unwrap_or(0)),
            human_bytes(p["Recv"].as_u64().unwrap_or(0)),
            p["DebtRatio"].as_f64().unwrap_or(0.0),
            p["Violations"].as_u64().unwrap_or(0),
            p["Addr"].as_str().unwrap_or("(not connected)"),
        );
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// `crust ipfs routing-put /ipns/<name> FILE`.
pub fn routing_put(key: &str, record: &Path, repo: &RepoArgs) -> Result<(), String> {
    let text = key
        .strip_prefix("/ipns/")
        .ok_or("the key must be /ipns/<name>")?;
    let name =
        crust_ipfs::ipns::Name::parse(text.trim_end_matches('/')).map_err(|e| e.to_string())?;
    let bytes = fs::read(record).map_err(|e| format!("{}: {e}", record.display()))?;
    let dir = repo.repo.clone().unwrap_or_else(default_repo);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stored = crust_ipfs::ipns::RecordStore::new(&dir)
        .put(&name, &bytes, crust_ipfs::ipns::now_unix())
        .map_err(|e| format!("{key}: {e}"))?;
    println!(
        "/ipns/{} -> {} (sequence {})",
        name.canonical(),
        stored.value,
        stored.sequence
    );
    Ok(())
}

/// `crust ipfs gc`.
pub fn gc(repo: &RepoArgs) -> Result<(), String> {
    let Target::Local(repo) = open(repo)? else {
        return Err(
            "the repository is held by a daemon; run gc through its API (/api/v0/repo/gc)".into(),
        );
    };
    let stats = repo.gc().map_err(|e| e.to_string())?;
    println!(
        "removed {} blocks ({} bytes); moved {}",
        stats.removed_blocks, stats.removed_bytes, stats.moved_blocks
    );
    Ok(())
}

/// Addresses the daemon serves on.
#[derive(clap::Args, Clone)]
pub struct DaemonArgs {
    /// Kubo RPC API address.
    #[arg(long, default_value = "127.0.0.1:5001")]
    pub api_addr: std::net::SocketAddr,
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway_addr: std::net::SocketAddr,
    /// libp2p listen address for Bitswap and the DHT (the data network; repeatable), e.g.
    /// `/ip4/0.0.0.0/tcp/4001` or `/ip4/0.0.0.0/udp/4001/quic-v1`. Default: both, on loopback.
    #[arg(
        long = "swarm-addr",
        default_values_t = ["/ip4/127.0.0.1/tcp/4001".to_owned(), "/ip4/127.0.0.1/udp/4001/quic-v1".to_owned()]
    )]
    pub swarm_addrs: Vec<String>,
    /// DHT bootstrap peer (`…/p2p/<id>`, repeatable; `default`: Kubo's public bootstrap peers,
    /// with a public `--swarm-addr`/`--announce`); pinned roots are announced on the DHT.
    #[arg(long = "bootstrap")]
    pub bootstrap: Vec<String>,
    /// Address others should dial instead of the listen address (repeatable), e.g. a public
    /// `/ip4/<ip>/tcp/4001` behind a port forward.
    #[arg(long = "announce")]
    pub announce: Vec<String>,
    /// Memory budget (at least 64MiB): sizes the Bitswap send queue and look-ahead fetches, and
    /// must hold the repository's block index (~200 bytes a block); the daemon warns when it
    /// grows past it.
    #[arg(long, default_value = "512MiB", value_parser = crate::parse_bytes)]
    pub memory: u64,
}

/// Opens the repository and serves the Kubo RPC API and the gateway until interrupted.
pub fn daemon(repo_dir: &Path, addrs: &DaemonArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    crate::memory::watch("ipfs daemon", addrs.memory);
    runtime.block_on(serve(repo_dir, addrs, shutdown_signal(), |_| {}))
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Announces the repository's pinned roots on the DHT: new pins within seconds, all of them
/// again every 12 hours (provider records expire after a day).
async fn announce_pins(host: crust_net::Host, repo: Arc<Repo>) {
    let mut announced: std::collections::HashMap<Cid, std::time::Instant> =
        std::collections::HashMap::new();
    let every = std::time::Duration::from_secs(12 * 3600);
    loop {
        for (cid, _) in repo.pins() {
            if announced.get(&cid).is_some_and(|t| t.elapsed() < every) {
                continue;
            }
            // A lone node has nobody to store the record; it is retried on the next round.
            if host.provide(cid).await.is_ok() {
                announced.insert(cid, std::time::Instant::now());
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Serves until `shutdown` resolves; writes `<repo>/api` so CLI commands find the daemon.
/// `ready` hears once whether the listeners are up.
pub async fn serve(
    repo_dir: &Path,
    addrs: &DaemonArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(Result<(), String>),
) -> Result<(), String> {
    let started = start(repo_dir, addrs).await;
    let (api_listener, gw_listener, api, gateway) = match started {
        Ok(parts) => {
            ready(Ok(()));
            parts
        }
        Err(e) => {
            ready(Err(e.clone()));
            return Err(e);
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let api_task = tokio::spawn(
        axum::serve(api_listener.tap_io(no_delay), api)
            .with_graceful_shutdown(wait(rx.clone()))
            .into_future(),
    );
    let gw_task = tokio::spawn(
        axum::serve(gw_listener.tap_io(no_delay), gateway)
            .with_graceful_shutdown(wait(rx))
            .into_future(),
    );
    shutdown.await;
    let _ = tx.send(true);
    let _ = api_task.await;
    let _ = gw_task.await;
    let _ = fs::remove_file(repo_dir.join("api"));
    let _ = fs::remove_file(repo_dir.join("gateway"));
    let _ = fs::remove_file(repo_dir.join("swarm"));
    tracing::info!(target: "crust::ipfs", "stopped");
    Ok(())
}

/// Responses are written as headers then body; without `TCP_NODELAY` Nagle's algorithm holds
/// the body back until the client's delayed ACK (~40 ms per small response).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

type Started = (
    tokio::net::TcpListener,
    tokio::net::TcpListener,
    axum::Router,
    axum::Router,
);

async fn start(repo_dir: &Path, addrs: &DaemonArgs) -> Result<Started, String> {
    fs::create_dir_all(repo_dir)
        .map_err(|e| format!("cannot create {}: {e}", repo_dir.display()))?;
    let repo = Arc::new(
        Repo::open(repo_dir)
            .map_err(|e| format!("cannot open repository {}: {e}", repo_dir.display()))?,
    );
    let key = crust_ipfs::identity::NodeKey::load_or_create(repo_dir)
        .map_err(|e| format!("node key: {e}"))?;
    let api_listener = tokio::net::TcpListener::bind(addrs.api_addr)
        .await
        .map_err(|e| format!("cannot listen for the API on {}: {e}", addrs.api_addr))?;
    let gw_listener = tokio::net::TcpListener::bind(addrs.gateway_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot listen for the gateway on {}: {e}",
                addrs.gateway_addr
            )
        })?;
    let api_addr = api_listener.local_addr().map_err(|e| e.to_string())?;
    let gw_addr = gw_listener.local_addr().map_err(|e| e.to_string())?;
    // The data network: libp2p + Bitswap over the same repository.
    let listen = multiaddrs(&addrs.swarm_addrs, "swarm-addr")?;
    let host = crust_net::Host::start(crust_net::NetConfig {
        key_seed: key.seed(),
        listen,
        bootstrap: crust_net::bootstrap_addrs(&addrs.bootstrap)?,
        announce: multiaddrs(&addrs.announce, "announce")?,
    })
    .await
    .map_err(|e| format!("data network: {e}"))?;
    let blocks = repo.store().len() as u64;
    let memory = crate::memory::ContentMemory::plan("ipfs daemon", addrs.memory, blocks)?;
    tracing::info!(target: "crust::ipfs", "{}", memory.describe(blocks));
    let exchange = crust_net::Exchange::start_with(host.clone(), repo.clone(), &memory.net);
    tokio::spawn(announce_pins(host.clone(), repo.clone()));
    let swarm_addrs: Vec<String> = host
        .listen_addrs()
        .iter()
        .map(|a| format!("{a}/p2p/{}", host.peer_id()))
        .collect();
    fs::write(repo_dir.join("swarm"), swarm_addrs.join("\n") + "\n").map_err(|e| e.to_string())?;
    let info = crust_api::kubo::NodeInfo {
        peer_id: key.peer_id(),
        public_key: key.public_key_base64(),
        addresses: swarm_addrs.clone(),
    };
    // The gateway answers for any CID on the network, fetching what the repository lacks.
    // One for the gateway and the API, so they share their fetches under way.
    let fetcher = Arc::new(crust_net::NetworkStore::with_memory(
        repo.clone(),
        host.clone(),
        exchange.clone(),
        &memory.net,
    ));
    let gateway = crust_ipfs::gateway::router_for(crust_ipfs::gateway::Source::new(
        fetcher.clone(),
        repo.dir(),
    ));
    let network = crust_api::kubo::Network {
        host: host.clone(),
        exchange,
        fetcher,
    };
    let api = crust_api::kubo::router(repo.clone(), info, Some(network));
    fs::write(repo_dir.join("api"), format!("http://{api_addr}\n")).map_err(|e| e.to_string())?;
    fs::write(repo_dir.join("gateway"), format!("http://{gw_addr}\n"))
        .map_err(|e| e.to_string())?;
    tracing::info!(
        target: "crust::ipfs",
        "peer {}; repository {}",
        key.peer_id(),
        repo_dir.display()
    );
    tracing::info!(
        target: "crust::ipfs",
        "Kubo RPC API on http://{api_addr}/api/v0  gateway on http://{gw_addr}/ipfs/<cid>"
    );
    tracing::info!(target: "crust::ipfs", "Bitswap on {}", swarm_addrs.join(" "));
    Ok((api_listener, gw_listener, api, gateway))
}
