//! Housekeeping: `crust peers` (through the daemon), `crust ipfs routing-put` and
//! `crust ipfs gc`.

use super::client::post_stream;
use super::{RepoArgs, Target, default_repo, open};
use std::fs;
use std::path::Path;

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
