//! Block storage: content-addressed, verified on every read, crash-safe, fast to fill.
//!
//! [`DiskStore`] appends blocks to pack files (`blocks/pack-NNNNNNNN.dat`) instead of writing a
//! file per block, so an `add` costs one `write` per block and one `fdatasync` per batch rather
//! than one per block. A record is `len:u32 | cid_len:u8 | cid | data`. Packs roll over at
//! [`PACK_TARGET_BYTES`]; a rolled pack gets an index file (`.idx`, checksummed) so opening a
//! store reads indexes, and only the last pack is scanned. The scan verifies every record
//! against its CID and truncates at the first torn or corrupt one: a block whose `sync` returned
//! survives `kill -9`, and a half-written block is never served.
//!
//! Blocks are keyed by multihash, as in Kubo: CIDv0 and CIDv1 of the same bytes share storage.
//! Garbage collection rewrites packs that hold dead blocks ([`DiskStore::retain`]); a crash in
//! the middle leaves at worst a duplicate that the next collection removes.

use crate::block::{self, Block, BlockError};
use bytes::Bytes;
use crust_primitives::Cid;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// A pack rolls over once it grows past this.
pub const PACK_TARGET_BYTES: u64 = 256 * 1024 * 1024;
/// Largest block stored (Bitswap's limit).
pub const MAX_BLOCK_BYTES: usize = crate::dagpb::MAX_BLOCK_BYTES;
const RECORD_HEADER: usize = 5;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk failed.
    #[error("blockstore I/O: {0}")]
    Io(#[from] io::Error),
    /// Stored bytes no longer match their CID (bit rot, tampering); the block is not served.
    #[error("block {cid} is corrupt on disk (hash mismatch); it will not be served")]
    Corrupt {
        /// The damaged block.
        cid: Cid,
    },
    /// The block is too large to store.
    #[error("block {cid} is {size} bytes; the limit is {max}")]
    TooLarge {
        /// The block.
        cid: Cid,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not match the CID they were offered under.
    #[error(transparent)]
    Mismatch(#[from] BlockError),
    /// Another process has the repository open.
    #[error("the repository at {0} is in use by another process")]
    Locked(PathBuf),
}

/// What the content layer needs from block storage.
pub trait Blockstore: Send + Sync {
    /// The block's bytes, verified against `cid`; `None` when absent.
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError>;
    /// Whether the block is present (without reading it).
    fn has(&self, cid: &Cid) -> bool;
    /// The block's size, if present.
    fn size(&self, cid: &Cid) -> Option<u64>;
    /// Stores a block the caller has verified (the importer makes blocks from their bytes).
    /// Durable only after [`Blockstore::sync`].
    fn put(&self, block: &Block) -> Result<(), StoreError>;
    /// Makes every block stored so far durable.
    fn sync(&self) -> Result<(), StoreError>;

    /// The block's bytes without hashing them again, for serving peers that verify whatever
    /// they receive (Bitswap): Kubo's default (`Datastore.HashOnRead` off). Local reads use
    /// [`Blockstore::get`]. Stores that cannot skip the check just verify.
    fn get_unverified(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        self.get(cid)
    }

    /// Several blocks at once, each verified; stores may read and verify them in parallel.
    fn get_many(&self, cids: &[Cid]) -> Vec<Result<Option<Bytes>, StoreError>> {
        cids.iter().map(|c| self.get(c)).collect()
    }
}

#[derive(Clone, Copy)]
struct Location {
    pack: u32,
    offset: u64,
    len: u32,
    cid: Cid,
}

struct Writer {
    pack: u32,
    file: File,
    len: u64,
    records: Vec<(Cid, u64, u32)>,
    buf: Vec<u8>,
    dirty: bool,
    /// Bytes appended since the background flusher was last asked to write back.
    unflushed: u64,
}

/// Write-back is started every this many appended bytes, on a helper thread, so the final
/// `sync` of a large import has little left to flush (the disk works while we hash).
const WRITEBACK_BYTES: u64 = 32 * 1024 * 1024;

/// Starts a thread that `fdatasync`s the files it is handed; `try_send` drops requests while it
/// is busy, so it never queues more than one.
fn spawn_flusher() -> Option<std::sync::mpsc::SyncSender<File>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<File>(1);
    std::thread::Builder::new()
        .name("blockstore-writeback".into())
        .spawn(move || {
            while let Ok(file) = rx.recv() {
                let _ = file.sync_data();
            }
        })
        .ok()?;
    Some(tx)
}

/// The pack-file blockstore (see the module docs).
pub struct DiskStore {
    dir: PathBuf,
    index: RwLock<HashMap<Vec<u8>, Location>>,
    packs: RwLock<HashMap<u32, Arc<File>>>,
    writer: Mutex<Writer>,
    flusher: Option<std::sync::mpsc::SyncSender<File>>,
    _lock: File,
}

/// What a garbage collection did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    /// Blocks removed.
    pub removed_blocks: u64,
    /// Bytes of block data removed.
    pub removed_bytes: u64,
    /// Live blocks copied out of rewritten packs.
    pub moved_blocks: u64,
}

fn pack_path(dir: &Path, pack: u32, ext: &str) -> PathBuf {
    dir.join(format!("pack-{pack:08}.{ext}"))
}

fn lock_poisoned() -> io::Error {
    io::Error::other("blockstore lock poisoned by a panicked thread")
}

impl DiskStore {
    /// Opens (or creates) the store under `dir`, recovering from any crash.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().join("blocks");
        fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir));
        }
        let mut ids: Vec<u32> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("pack-")?
                    .strip_suffix(".dat")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        let mut index = HashMap::new();
        let mut packs = HashMap::new();
        let last = ids.last().copied();
        let mut writer = None;
        for &id in &ids {
            let path = pack_path(&dir, id, "dat");
            let entries = match (Some(id) != last).then(|| read_idx(&dir, id)).flatten() {
                Some(entries) => entries,
                None => scan_pack(&path)?,
            };
            for &(cid, offset, len) in &entries {
                index.insert(
                    block::multihash_key(&cid),
                    Location {
                        pack: id,
                        offset,
                        len,
                        cid,
                    },
                );
            }
            let file = OpenOptions::new().read(true).append(true).open(&path)?;
            if Some(id) == last {
                let len = file.metadata()?.len();
                writer = Some(Writer {
                    pack: id,
                    file: file.try_clone()?,
                    len,
                    records: entries,
                    buf: Vec::new(),
                    dirty: false,
                    unflushed: 0,
                });
            }
            packs.insert(id, Arc::new(file));
        }
        let writer = match writer {
            Some(w) => w,
            None => {
                let (w, file) = new_writer(&dir, 1)?;
                packs.insert(1, file);
                w
            }
        };
        Ok(Self {
            dir,
            index: RwLock::new(index),
            packs: RwLock::new(packs),
            writer: Mutex::new(writer),
            flusher: spawn_flusher(),
            _lock: lock,
        })
    }

    /// Number of distinct blocks stored.
    pub fn len(&self) -> usize {
        self.index.read().map(|i| i.len()).unwrap_or(0)
    }

    /// Whether the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored CID (as first stored).
    pub fn cids(&self) -> Vec<Cid> {
        self.index
            .read()
            .map(|i| i.values().map(|l| l.cid).collect())
            .unwrap_or_default()
    }

    /// Removes every block whose multihash key is not in `live`, rewriting the packs that held
    /// them. Durable when it returns.
    pub fn retain(&self, live: &HashSet<Vec<u8>>) -> Result<GcStats, StoreError> {
        let mut w = self.writer.lock().map_err(|_| lock_poisoned())?;
        self.roll(&mut w)?;
        let mut stats = GcStats::default();
        let (dead_packs, dead): (HashSet<u32>, Vec<(Vec<u8>, Location)>) = {
            let index = self.index.read().map_err(|_| lock_poisoned())?;
            let dead: Vec<_> = index
                .iter()
                .filter(|(k, _)| !live.contains(*k))
                .map(|(k, l)| (k.clone(), *l))
                .collect();
            let mut packs: HashSet<u32> = dead.iter().map(|(_, l)| l.pack).collect();
            // Packs no index entry points at (duplicates left by an interrupted collection).
            let referenced: HashSet<u32> = index.values().map(|l| l.pack).collect();
            let existing = self.packs.read().map_err(|_| lock_poisoned())?;
            packs.extend(
                existing
                    .keys()
                    .filter(|p| !referenced.contains(p) && **p != w.pack),
            );
            (packs, dead)
        };
        for (key, loc) in &dead {
            stats.removed_blocks += 1;
            stats.removed_bytes += u64::from(loc.len);
            self.index.write().map_err(|_| lock_poisoned())?.remove(key);
        }
        let movers: Vec<(Vec<u8>, Location)> = {
            let index = self.index.read().map_err(|_| lock_poisoned())?;
            index
                .iter()
                .filter(|(_, l)| dead_packs.contains(&l.pack))
                .map(|(k, l)| (k.clone(), *l))
                .collect()
        };
        for (key, loc) in movers {
            let data = self.read_location(&loc, true)?;
            let new = self.append(&mut w, &loc.cid, &data)?;
            self.index
                .write()
                .map_err(|_| lock_poisoned())?
                .insert(key, new);
            stats.moved_blocks += 1;
        }
        if w.dirty {
            w.file.sync_data()?;
            w.dirty = false;
        }
        for pack in dead_packs {
            self.packs
                .write()
                .map_err(|_| lock_poisoned())?
                .remove(&pack);
            let _ = fs::remove_file(pack_path(&self.dir, pack, "idx"));
            fs::remove_file(pack_path(&self.dir, pack, "dat"))?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(stats)
    }

    fn read_location(&self, loc: &Location, verify: bool) -> Result<Bytes, StoreError> {
        let file = self
            .packs
            .read()
            .map_err(|_| lock_poisoned())?
            .get(&loc.pack)
            .cloned();
        let file =
            file.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "pack file vanished"))?;
        let mut data = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut data, loc.offset)?;
        if verify && block::verify(&loc.cid, &data).is_err() {
            return Err(StoreError::Corrupt { cid: loc.cid });
        }
        Ok(data.into())
    }

    fn append(&self, w: &mut Writer, cid: &Cid, data: &[u8]) -> Result<Location, StoreError> {
        if w.len >= PACK_TARGET_BYTES {
            self.roll(w)?;
        }
        let cid_bytes = cid.to_bytes();
        let payload = 1 + cid_bytes.len() + data.len();
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.extend_from_slice(&(payload as u32).to_le_bytes());
        buf.push(cid_bytes.len() as u8);
        buf.extend_from_slice(&cid_bytes);
        buf.extend_from_slice(data);
        let result = w.file.write_all(&buf);
        w.buf = buf;
        if let Err(e) = result {
            // Drop whatever part of the record landed; the pack stays a sequence of whole records.
            let _ = w.file.set_len(w.len);
            return Err(e.into());
        }
        let offset = w.len + (RECORD_HEADER + cid_bytes.len()) as u64;
        w.len += (4 + payload) as u64;
        w.dirty = true;
        w.unflushed += (4 + payload) as u64;
        if w.unflushed >= WRITEBACK_BYTES {
            w.unflushed = 0;
            if let (Some(flusher), Ok(file)) = (&self.flusher, w.file.try_clone()) {
                let _ = flusher.try_send(file);
            }
        }
        w.records.push((*cid, offset, data.len() as u32));
        Ok(Location {
            pack: w.pack,
            offset,
            len: data.len() as u32,
            cid: *cid,
        })
    }

    /// Seals the active pack (sync + index file) and starts a new one, if it holds anything.
    fn roll(&self, w: &mut Writer) -> Result<(), StoreError> {
        if w.len == 0 {
            return Ok(());
        }
        w.file.sync_data()?;
        write_idx(&self.dir, w.pack, &w.records)?;
        let (next, file) = new_writer(&self.dir, w.pack + 1)?;
        self.packs
            .write()
            .map_err(|_| lock_poisoned())?
            .insert(next.pack, file);
        *w = next;
        Ok(())
    }
}

fn new_writer(dir: &Path, pack: u32) -> Result<(Writer, Arc<File>), StoreError> {
    let path = pack_path(dir, pack, "dat");
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)?;
    File::open(dir)?.sync_all()?;
    let len = file.metadata()?.len();
    let writer = Writer {
        pack,
        file: file.try_clone()?,
        len,
        records: Vec::new(),
        buf: Vec::new(),
        dirty: false,
        unflushed: 0,
    };
    Ok((writer, Arc::new(file)))
}

/// Reads every whole, verified record of a pack; truncates the file after the last good one.
fn scan_pack(path: &Path) -> Result<Vec<(Cid, u64, u32)>, StoreError> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let total = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut entries = Vec::new();
    let mut good = 0u64;
    let mut data = Vec::new();
    loop {
        let mut header = [0u8; RECORD_HEADER];
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        let payload = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let cid_len = u64::from(header[4]);
        if payload <= cid_len
            || payload > (MAX_BLOCK_BYTES + 256) as u64
            || good + 4 + payload > total
        {
            break;
        }
        let mut cid_bytes = vec![0u8; cid_len as usize];
        data.resize((payload - 1 - cid_len) as usize, 0);
        if reader.read_exact(&mut cid_bytes).is_err() || reader.read_exact(&mut data).is_err() {
            break;
        }
        let Ok(cid) = Cid::from_bytes(&cid_bytes) else {
            break;
        };
        if block::verify(&cid, &data).is_err() {
            break;
        }
        entries.push((
            cid,
            good + RECORD_HEADER as u64 + cid_len,
            data.len() as u32,
        ));
        good += 4 + payload;
    }
    if good < total {
        file.set_len(good)?;
        file.sync_all()?;
    }
    Ok(entries)
}

fn write_idx(dir: &Path, pack: u32, records: &[(Cid, u64, u32)]) -> Result<(), StoreError> {
    let mut out = Vec::with_capacity(records.len() * 48 + 32);
    for (cid, offset, len) in records {
        let bytes = cid.to_bytes();
        out.push(bytes.len() as u8);
        out.extend_from_slice(&bytes);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    let sum = block::sha256(&out);
    out.extend_from_slice(&sum);
    let tmp = pack_path(dir, pack, "idx.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&out)?;
    f.sync_all()?;
    fs::rename(&tmp, pack_path(dir, pack, "idx"))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// A pack's index, or `None` when missing or damaged (the caller rescans the pack).
fn read_idx(dir: &Path, pack: u32) -> Option<Vec<(Cid, u64, u32)>> {
    let bytes = fs::read(pack_path(dir, pack, "idx")).ok()?;
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if block::sha256(body) != sum {
        return None;
    }
    let mut entries = Vec::new();
    let mut rest = body;
    while let Some((&cid_len, tail)) = rest.split_first() {
        let (cid, tail) = tail.split_at_checked(cid_len as usize)?;
        let (offset, tail) = tail.split_first_chunk::<8>()?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        entries.push((
            Cid::from_bytes(cid).ok()?,
            u64::from_le_bytes(*offset),
            u32::from_le_bytes(*len),
        ));
        rest = tail;
    }
    Some(entries)
}

impl DiskStore {
    fn read(&self, cid: &Cid, verify: bool) -> Result<Option<Bytes>, StoreError> {
        if let Some(data) = block::identity_data(cid) {
            return Ok(Some(Bytes::copy_from_slice(data)));
        }
        let key = block::multihash_key(cid);
        // A collection may move the block between the index read and the file read: retry once.
        for _ in 0..2 {
            let Some(loc) = self
                .index
                .read()
                .map_err(|_| lock_poisoned())?
                .get(&key)
                .copied()
            else {
                return Ok(None);
            };
            match self.read_location(&loc, verify) {
                Err(StoreError::Io(e)) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(StoreError::Corrupt { .. }) => return Err(StoreError::Corrupt { cid: *cid }),
                other => return other.map(Some),
            }
        }
        Ok(None)
    }
}

impl Blockstore for DiskStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        self.read(cid, true)
    }

    fn get_unverified(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        self.read(cid, false)
    }

    fn has(&self, cid: &Cid) -> bool {
        block::identity_data(cid).is_some()
            || self
                .index
                .read()
                .map(|i| i.contains_key(&block::multihash_key(cid)))
                .unwrap_or(false)
    }

    fn size(&self, cid: &Cid) -> Option<u64> {
        if let Some(data) = block::identity_data(cid) {
            return Some(data.len() as u64);
        }
        self.index
            .read()
            .ok()?
            .get(&block::multihash_key(cid))
            .map(|l| u64::from(l.len))
    }

    fn put(&self, block: &Block) -> Result<(), StoreError> {
        if block::identity_data(&block.cid).is_some() {
            return Ok(());
        }
        if block.data.len() > MAX_BLOCK_BYTES {
            return Err(StoreError::TooLarge {
                cid: block.cid,
                size: block.data.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        let key = block::multihash_key(&block.cid);
        if self
            .index
            .read()
            .map_err(|_| lock_poisoned())?
            .contains_key(&key)
        {
            return Ok(());
        }
        let mut w = self.writer.lock().map_err(|_| lock_poisoned())?;
        let loc = self.append(&mut w, &block.cid, &block.data)?;
        self.index
            .write()
            .map_err(|_| lock_poisoned())?
            .insert(key, loc);
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(|_| lock_poisoned())?;
        if w.dirty {
            w.file.sync_data()?;
            w.dirty = false;
        }
        Ok(())
    }

    /// Verification (hashing) dominates reads, so large batches are verified on two threads.
    fn get_many(&self, cids: &[Cid]) -> Vec<Result<Option<Bytes>, StoreError>> {
        if cids.len() < 4 {
            return cids.iter().map(|c| self.get(c)).collect();
        }
        let (left, right) = cids.split_at(cids.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| right.iter().map(|c| self.get(c)).collect::<Vec<_>>());
            let mut out: Vec<_> = left.iter().map(|c| self.get(c)).collect();
            match other.join() {
                Ok(rest) => out.extend(rest),
                Err(_) => out.extend(right.iter().map(|c| self.get(c))),
            }
            out
        })
    }
}

/// The in-memory twin, for tests and hash-only work.
#[derive(Default)]
pub struct MemStore {
    blocks: RwLock<HashMap<Vec<u8>, Block>>,
}

impl Blockstore for MemStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        if let Some(data) = block::identity_data(cid) {
            return Ok(Some(Bytes::copy_from_slice(data)));
        }
        Ok(self
            .blocks
            .read()
            .map_err(|_| lock_poisoned())?
            .get(&block::multihash_key(cid))
            .map(|b| b.data.clone()))
    }
    fn has(&self, cid: &Cid) -> bool {
        self.size(cid).is_some()
    }
    fn size(&self, cid: &Cid) -> Option<u64> {
        if let Some(data) = block::identity_data(cid) {
            return Some(data.len() as u64);
        }
        self.blocks
            .read()
            .ok()?
            .get(&block::multihash_key(cid))
            .map(|b| b.data.len() as u64)
    }
    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.blocks
            .write()
            .map_err(|_| lock_poisoned())?
            .insert(block::multihash_key(&block.cid), block.clone());
        Ok(())
    }
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Lets a blockstore receive an import directly.
pub struct StoreSink<'a, S: Blockstore + ?Sized>(pub &'a S);

impl<S: Blockstore + ?Sized> crate::importer::BlockSink for StoreSink<'_, S> {
    fn put(&mut self, block: Block) -> io::Result<()> {
        self.0.put(&block).map_err(|e| match e {
            StoreError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
    }
}
