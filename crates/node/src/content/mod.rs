//! The content-layer commands: `crust add|cat|get`, `crust ipfs daemon|dag-import|dag-export|gc`.
//!
//! Each works on the local repository directly, or — when a running daemon holds the repository
//! (or `--api` is given) — through that daemon's Kubo RPC API, so `crust add` behaves the same
//! with or without `crust ipfs daemon` running, as `ipfs add` does.
//!
//! This module decides which node a command talks to ([`RepoArgs`]); the commands live in
//! `add`, `read` (`cat`, `get`), `dag` (CARs and commitments), `fetch` (Bitswap), `admin`
//! (`peers`, `routing-put`, `gc`) and `daemon`, and the Kubo HTTP client they share (and other
//! modules call through the `*_via_api` functions) in `client`.

mod add;
mod admin;
mod client;
mod daemon;
mod dag;
mod fetch;
mod read;

pub use add::{AddArgs, add};
pub use admin::{gc, peers, routing_put};
pub use client::{
    add_via_api, add_via_api_as, commitment_via_api, connect_via_api, dag_size, pin_via_api,
    unpin_via_api,
};
pub use daemon::{DaemonArgs, daemon};
pub use dag::{commitment, dag_export, dag_import, file_commitment, file_dag};
pub use fetch::{fetch, get_from_network};
pub use read::{cat, get};

use client::daemon_answers;
use crust_ipfs::blockstore::StoreError;
use crust_ipfs::repo::{Repo, RepoError};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::path::PathBuf;

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

fn multiaddrs(list: &[String], flag: &str) -> Result<Vec<crust_net::Multiaddr>, String> {
    list.iter()
        .map(|a| a.parse().map_err(|e| format!("--{flag} {a}: {e}")))
        .collect()
}
