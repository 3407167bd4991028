//! A repository: the blockstore, the pin set and garbage collection, under one directory.
//!
//! Pins follow Kubo: a recursive pin keeps a whole DAG, a direct pin one block; collection
//! removes every block no pin reaches. Imports hold the collection lock for reading, so a
//! collection never removes the blocks of an `add` that has not yet pinned its root.

use crate::block::Block;
use crate::blockstore::{Blockstore, DiskStore, GcStats, StoreError, StoreSink};
use crate::importer::{self, BlockSink, ImportError, ImportOptions, Imported};
use crate::links::{self, LinksError};
use crust_primitives::Cid;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// Kind of pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinKind {
    /// The whole DAG below the root.
    Recursive,
    /// Only the block itself.
    Direct,
    /// Reached from a recursive pin (reported, never stored).
    Indirect,
}

impl PinKind {
    /// Kubo's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recursive => "recursive",
            Self::Direct => "direct",
            Self::Indirect => "indirect",
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct PinSet {
    recursive: BTreeSet<Cid>,
    direct: BTreeSet<Cid>,
}

impl PinSet {
    /// Applies one journal line (`+r`, `+d`, `-r`, `-d` and a CID); `false` if it is not one.
    fn apply(&mut self, line: &str) -> bool {
        let Some((op, cid)) = line.split_once(' ') else {
            return false;
        };
        let Ok(cid) = cid.parse::<Cid>() else {
            return false;
        };
        match op {
            "+r" => {
                self.direct.remove(&cid);
                self.recursive.insert(cid);
            }
            "+d" => {
                if !self.recursive.contains(&cid) {
                    self.direct.insert(cid);
                }
            }
            "-r" => {
                self.recursive.remove(&cid);
            }
            "-d" => {
                self.direct.remove(&cid);
            }
            _ => return false,
        }
        true
    }
}

/// The pin journal: every pin change is one appended line, made durable before the change is
/// acknowledged, so a change costs one small write however many pins there are. The journal is
/// folded into `pins.json` (written whole, atomically) once it outgrows the pin set; replaying
/// it over a snapshot that already holds its changes gives the same set, so a crash between
/// the two steps loses nothing.
struct Journal {
    file: File,
    lines: usize,
}

/// Journal lines before it is folded into the snapshot, at least.
const JOURNAL_MIN_LINES: usize = 4096;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The blockstore failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The import failed.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A block of the DAG is not stored locally.
    #[error("block {0} is not in the local store")]
    Missing(Cid),
    /// A block could not be traversed.
    #[error(transparent)]
    Links(#[from] LinksError),
    /// The CID is not pinned (or only indirectly).
    #[error("{0} is not pinned{1}")]
    NotPinned(Cid, &'static str),
    /// Reading or writing repository files failed.
    #[error("repository I/O: {0}")]
    Io(#[from] io::Error),
}

/// Blockstore + pins + GC.
pub struct Repo {
    dir: PathBuf,
    store: DiskStore,
    pins: Mutex<PinSet>,
    journal: Mutex<Journal>,
    gc: RwLock<()>,
}

impl Repo {
    /// Opens or creates the repository at `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, RepoError> {
        let dir = dir.as_ref().to_path_buf();
        let store = DiskStore::open(&dir)?;
        let mut pins: PinSet = match fs::read(dir.join("pins.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("pins.json: {e}"))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => PinSet::default(),
            Err(e) => return Err(e.into()),
        };
        // Replay the journal; a last line cut short by a crash was never acknowledged.
        let log_path = dir.join("pins.log");
        let mut lines = 0;
        match fs::read(&log_path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let complete = text.rfind('\n').map_or("", |end| &text[..end]);
                for line in complete.lines() {
                    if pins.apply(line) {
                        lines += 1;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let repo = Self {
            dir,
            store,
            pins: Mutex::new(pins),
            journal: Mutex::new(Journal { file, lines }),
            gc: RwLock::new(()),
        };
        // A torn last line is dropped by folding the journal now.
        if lines > 0 {
            let pins = repo
                .pins
                .lock()
                .map_err(|_| io::Error::other("pin lock poisoned"))?;
            repo.fold(&pins)?;
        }
        Ok(repo)
    }

    /// The blockstore.
    pub fn store(&self) -> &DiskStore {
        &self.store
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs an import with the blockstore as sink under the collection guard, makes it durable,
    /// and pins recursively the roots `pins` names (only when `pin`), each after checking that
    /// its whole DAG is local (a CAR may name blocks it does not carry).
    pub fn import<T>(
        &self,
        pin: bool,
        f: impl FnOnce(&mut dyn BlockSink) -> Result<T, RepoError>,
        pins: impl Fn(&T) -> Vec<Cid>,
    ) -> Result<T, RepoError> {
        self.run_import(pin, true, f, pins)
    }

    /// [`Self::import`] for a DAG the closure builds itself (the UnixFS importer): every block
    /// its roots reach was written by this call, under the collection guard, so the pins are
    /// recorded without reading the whole DAG back (for 1 GiB, a second pass over 1 GiB).
    pub fn import_built<T>(
        &self,
        pin: bool,
        f: impl FnOnce(&mut dyn BlockSink) -> Result<T, RepoError>,
        pins: impl Fn(&T) -> Vec<Cid>,
    ) -> Result<T, RepoError> {
        self.run_import(pin, false, f, pins)
    }

    fn run_import<T>(
        &self,
        pin: bool,
        walk: bool,
        f: impl FnOnce(&mut dyn BlockSink) -> Result<T, RepoError>,
        pins: impl Fn(&T) -> Vec<Cid>,
    ) -> Result<T, RepoError> {
        let _guard = self
            .gc
            .read()
            .map_err(|_| io::Error::other("gc lock poisoned"))?;
        let mut sink = StoreSink(&self.store);
        let out = f(&mut sink)?;
        self.store.sync()?;
        if pin {
            for root in pins(&out) {
                if walk {
                    self.set_pin(root, PinKind::Recursive)?;
                } else if self.store.has(&root) {
                    self.record_pin(root, PinKind::Recursive)?;
                } else {
                    return Err(RepoError::Missing(root));
                }
            }
        }
        Ok(out)
    }

    /// `ipfs add` of one stream.
    pub fn add_file(
        &self,
        reader: impl Read,
        opts: &ImportOptions,
        pin: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Imported, RepoError> {
        self.import_built(
            pin,
            |sink| Ok(importer::import_file(reader, opts, sink, progress)?),
            |i| vec![i.cid],
        )
    }

    /// Stores a block after checking it against its CID.
    pub fn put_block(&self, block: &Block) -> Result<(), RepoError> {
        crate::block::verify(&block.cid, &block.data).map_err(StoreError::from)?;
        self.store.put(block)?;
        self.store.sync()?;
        Ok(())
    }

    /// Pins `cid`; a recursive pin requires the whole DAG to be local.
    pub fn pin(&self, cid: Cid, kind: PinKind) -> Result<(), RepoError> {
        let _guard = self
            .gc
            .read()
            .map_err(|_| io::Error::other("gc lock poisoned"))?;
        self.set_pin(cid, kind)
    }

    fn set_pin(&self, cid: Cid, kind: PinKind) -> Result<(), RepoError> {
        match kind {
            PinKind::Recursive => walk(&self.store, cid, &mut |_, _| Ok(()))?,
            _ => {
                if !self.store.has(&cid) {
                    return Err(RepoError::Missing(cid));
                }
            }
        }
        self.record_pin(cid, kind)
    }

    /// Records a pin (its blocks known to be local).
    fn record_pin(&self, cid: Cid, kind: PinKind) -> Result<(), RepoError> {
        let mut pins = self
            .pins
            .lock()
            .map_err(|_| io::Error::other("pin lock poisoned"))?;
        let changed = match kind {
            PinKind::Recursive => pins.direct.remove(&cid) | pins.recursive.insert(cid),
            _ => !pins.recursive.contains(&cid) && pins.direct.insert(cid),
        };
        if changed {
            let op = match kind {
                PinKind::Recursive => "+r",
                _ => "+d",
            };
            self.record(&pins, op, &cid)?;
        }
        Ok(())
    }

    /// Removes a pin (recursive or direct).
    pub fn unpin(&self, cid: Cid) -> Result<PinKind, RepoError> {
        let mut pins = self
            .pins
            .lock()
            .map_err(|_| io::Error::other("pin lock poisoned"))?;
        let kind = if pins.recursive.remove(&cid) {
            PinKind::Recursive
        } else if pins.direct.remove(&cid) {
            PinKind::Direct
        } else {
            return Err(RepoError::NotPinned(cid, ""));
        };
        let op = match kind {
            PinKind::Recursive => "-r",
            _ => "-d",
        };
        self.record(&pins, op, &cid)?;
        Ok(kind)
    }

    /// The explicit pins.
    pub fn pins(&self) -> Vec<(Cid, PinKind)> {
        let Ok(pins) = self.pins.lock() else {
            return Vec::new();
        };
        pins.recursive
            .iter()
            .map(|c| (*c, PinKind::Recursive))
            .chain(pins.direct.iter().map(|c| (*c, PinKind::Direct)))
            .collect()
    }

    /// How `cid` is pinned, if at all (indirect pins are found by walking recursive pins).
    pub fn pin_kind(&self, cid: &Cid) -> Result<Option<PinKind>, RepoError> {
        let roots: Vec<Cid> = {
            let pins = self
                .pins
                .lock()
                .map_err(|_| io::Error::other("pin lock poisoned"))?;
            if pins.recursive.contains(cid) {
                return Ok(Some(PinKind::Recursive));
            }
            if pins.direct.contains(cid) {
                return Ok(Some(PinKind::Direct));
            }
            pins.recursive.iter().copied().collect()
        };
        let key = crate::block::multihash_key(cid);
        let mut seen = HashSet::new();
        for root in roots {
            let mut found = false;
            walk_with(&self.store, root, &mut seen, &mut |c, _| {
                found |= crate::block::multihash_key(c) == key;
                Ok(())
            })?;
            if found {
                return Ok(Some(PinKind::Indirect));
            }
        }
        Ok(None)
    }

    /// Removes every block no pin reaches.
    pub fn gc(&self) -> Result<GcStats, RepoError> {
        let _guard = self
            .gc
            .write()
            .map_err(|_| io::Error::other("gc lock poisoned"))?;
        let (recursive, direct): (Vec<Cid>, Vec<Cid>) = {
            let pins = self
                .pins
                .lock()
                .map_err(|_| io::Error::other("pin lock poisoned"))?;
            (
                pins.recursive.iter().copied().collect(),
                pins.direct.iter().copied().collect(),
            )
        };
        let mut live = HashSet::new();
        let mut seen = HashSet::new();
        for root in recursive {
            walk_with(&self.store, root, &mut seen, &mut |c, _| {
                live.insert(crate::block::multihash_key(c));
                Ok(())
            })?;
        }
        live.extend(direct.iter().map(crate::block::multihash_key));
        Ok(self.store.retain(&live)?)
    }

    /// Makes one pin change durable (the caller holds the pin lock, so lines keep its order).
    fn record(&self, pins: &PinSet, op: &str, cid: &Cid) -> Result<(), RepoError> {
        let fold = {
            let mut journal = self
                .journal
                .lock()
                .map_err(|_| io::Error::other("pin journal lock poisoned"))?;
            journal.file.write_all(format!("{op} {cid}\n").as_bytes())?;
            journal.file.sync_data()?;
            journal.lines += 1;
            journal.lines > JOURNAL_MIN_LINES.max(2 * (pins.recursive.len() + pins.direct.len()))
        };
        if fold {
            self.fold(pins)?;
        }
        Ok(())
    }

    /// Writes the whole pin set to `pins.json` (atomically) and empties the journal.
    fn fold(&self, pins: &PinSet) -> Result<(), RepoError> {
        let bytes = serde_json::to_vec_pretty(pins).map_err(io::Error::other)?;
        let tmp = self.dir.join("pins.json.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join("pins.json"))?;
        File::open(&self.dir)?.sync_all()?;
        let mut journal = self
            .journal
            .lock()
            .map_err(|_| io::Error::other("pin journal lock poisoned"))?;
        journal.file.set_len(0)?;
        journal.file.sync_all()?;
        journal.lines = 0;
        Ok(())
    }
}

/// Blocks a walk reads at once.
const WALK_BATCH: usize = 32;

/// Walks the DAG under `root`, each block once, verified (in no particular order); fails on
/// the first missing block.
pub fn walk(
    store: &dyn Blockstore,
    root: Cid,
    visit: &mut dyn FnMut(&Cid, &bytes::Bytes) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    walk_with(store, root, &mut HashSet::new(), visit)
}

fn walk_with(
    store: &dyn Blockstore,
    root: Cid,
    seen: &mut HashSet<Vec<u8>>,
    visit: &mut dyn FnMut(&Cid, &bytes::Bytes) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    // Blocks are read in batches (a node's children together), so the store can read and
    // verify them in parallel; the order of visits is not depth-first.
    let mut stack = vec![root];
    while !stack.is_empty() {
        let from = stack.len().saturating_sub(WALK_BATCH);
        let batch: Vec<Cid> = stack
            .drain(from..)
            .filter(|c| seen.insert(crate::block::multihash_key(c)))
            .collect();
        for (cid, data) in batch.iter().zip(store.get_many(&batch)) {
            let data = data?.ok_or(RepoError::Missing(*cid))?;
            visit(cid, &data)?;
            stack.extend(links::links(cid, &data)?.into_iter().rev());
        }
    }
    Ok(())
}

/// A repository is a blockstore (its pack store), so network services can share it.
impl Blockstore for Repo {
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        self.store.get(cid)
    }
    fn get_unverified(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        self.store.get_unverified(cid)
    }
    fn has(&self, cid: &Cid) -> bool {
        self.store.has(cid)
    }
    fn size(&self, cid: &Cid) -> Option<u64> {
        self.store.size(cid)
    }
    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.store.put(block)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.store.sync()
    }
    fn get_many(&self, cids: &[Cid]) -> Vec<Result<Option<bytes::Bytes>, StoreError>> {
        self.store.get_many(cids)
    }
}
