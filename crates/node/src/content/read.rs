//! Reading content out: `crust cat` and `crust get`, and DAGs written out as files and
//! directories.

use super::client::{arg, post_stream};
use super::{RepoArgs, Target, bytes_bar, open};
use crust_ipfs::blockstore::{Blockstore, DiskStore};
use crust_ipfs::exporter::{self, Kind, RangeReader};
use crust_ipfs::{Cid, car};
use indicatif::ProgressBar;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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

pub(super) fn tempdir_near(output: &Path) -> Result<PathBuf, String> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join(format!(".crust-get-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

pub(super) fn write_tree(store: &dyn Blockstore, cid: Cid, output: &Path) -> Result<(), String> {
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
