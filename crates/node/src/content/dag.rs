//! CARs and DAG facts: `crust ipfs dag-import|dag-export|commitment`, and the root, size and
//! commitment of a local file imported with `ipfs add` defaults.

use super::client::{arg, post_stream};
use super::{RepoArgs, Target, bytes_bar, open};
use crust_ipfs::importer::{self, ImportOptions};
use crust_ipfs::repo::{Repo, RepoError};
use crust_ipfs::{Cid, car};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
