//! Sealed replicas on disk.
//!
//! A file's DAG is sealed block by block by the enclave (D25) into one data file, with a
//! manifest naming each block's CID, offset and length and the Merkle root over the sealed
//! blocks (the root a storage challenge is answered against, D18). The manifest is renamed
//! into place only after the data is durable, so a crash mid-seal leaves nothing that looks
//! sealed. Reads unseal and check the block against its CID, so the store can sit behind the
//! gateway and Bitswap like any other blockstore.

use crate::content::ContentIndex;
use crate::enclave::{Enclave, EnclaveError};
use bytes::Bytes;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::{Block, Cid};
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::merkle::{self, Hash, Proof};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why sealing or reading a sealed file failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The source store lacks a block of the DAG.
    #[error("block {0} of the file is not available to seal")]
    Missing(Cid),
    /// The source store failed.
    #[error("source store: {0}")]
    Source(#[from] StoreError),
    /// A block could not be parsed for links.
    #[error("block {0} cannot be read for links")]
    Links(Cid),
    /// Disk I/O failed.
    #[error("sealed store I/O: {0}")]
    Io(#[from] io::Error),
    /// A manifest is unreadable.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The enclave rejected a sealed block.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// Unsealed bytes do not match the block's CID.
    #[error("block {0} unsealed to bytes that do not match its CID")]
    Corrupt(Cid),
    /// No such sealed file.
    #[error("{0} is not sealed here")]
    NotSealed(Cid),
    /// The content index could not be built or used.
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    /// The fetched content is not what the order committed to (D29): never sealed.
    #[error(
        "its content commits to {} ({} bytes) but the order states {} ({} bytes)",
        hex(&actual.root), actual.size, hex(&expected.root), expected.size
    )]
    CommitmentMismatch {
        /// What the content commits to.
        actual: ContentCommitment,
        /// What the order states.
        expected: ContentCommitment,
    },
}

fn hex(h: &Hash) -> String {
    crust_primitives::account::to_hex(h)
}

/// Height of the sealed-leaf tree's nodes kept next to the leaves: each covers 2^10 sealed
/// blocks (256 MiB of 256 KiB blocks), so a proof reads and hashes 32 KiB of leaves.
pub const LEAF_CAP_HEIGHT: u32 = 10;

/// One sealed block's place in its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBlock {
    /// The plaintext block's CID.
    pub cid: String,
    /// Offset of the sealed bytes in the data file.
    pub offset: u64,
    /// Length of the sealed bytes.
    pub len: u32,
}

/// A sealed replica of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedFile {
    /// The file's root CID.
    pub root: String,
    /// Plaintext bytes over all its blocks (the size reported on chain).
    pub size: u64,
    /// Blocks in DAG order (depth-first, each once).
    pub blocks: Vec<SealedBlock>,
    /// Merkle root over the sealed blocks' leaf hashes.
    pub merkle_root: Hash,
}

impl SealedFile {
    /// The root CID.
    pub fn cid(&self) -> Cid {
        self.root
            .parse()
            .unwrap_or_else(|_| unreachable!("manifests are checked on load"))
    }
}

/// Visits every block of the DAG under `root` once, depth-first with children in link order.
fn walk(
    source: &dyn Blockstore,
    root: Cid,
    visit: &mut dyn FnMut(Cid, Bytes) -> Result<(), SealError>,
) -> Result<(), SealError> {
    let mut stack = vec![root];
    let mut seen = HashSet::from([root]);
    while let Some(cid) = stack.pop() {
        let data = source.get(&cid)?.ok_or(SealError::Missing(cid))?;
        let links = crust_ipfs::links::links(&cid, &data).map_err(|_| SealError::Links(cid))?;
        for link in links.into_iter().rev() {
            if seen.insert(link) {
                stack.push(link);
            }
        }
        visit(cid, data)?;
    }
    Ok(())
}

/// Bytes over all blocks of the DAG under `root`, each once: what sealing it stores (less
/// the per-block tag) and the size a report gives for it.
pub fn dag_bytes(source: &dyn Blockstore, root: Cid) -> Result<u64, SealError> {
    let mut total = 0u64;
    walk(source, root, &mut |_, data| {
        total += data.len() as u64;
        Ok(())
    })?;
    Ok(total)
}

/// The sealed replicas of one identity.
pub struct SealedStore {
    dir: PathBuf,
    enclave: Arc<dyn Enclave>,
    files: RwLock<BTreeMap<Cid, Arc<SealedFile>>>,
    /// Block CID → (file root, position).
    index: RwLock<HashMap<Cid, (Cid, u64)>>,
}

fn data_path(dir: &Path, root: &Cid) -> PathBuf {
    dir.join(format!("{root}.sealed"))
}

fn leaves_path(dir: &Path, root: &Cid) -> PathBuf {
    dir.join(format!("{root}.leaves"))
}

fn content_path(dir: &Path, root: &Cid) -> PathBuf {
    dir.join(format!("{root}.content"))
}

fn manifest_path(dir: &Path, root: &Cid) -> PathBuf {
    dir.join(format!("{root}.json"))
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl SealedStore {
    /// Opens (or creates) the store in `dir`, dropping what an interrupted seal left behind.
    pub fn open(dir: &Path, enclave: Arc<dyn Enclave>) -> Result<Self, SealError> {
        fs::create_dir_all(dir)?;
        let store = Self {
            dir: dir.to_owned(),
            enclave,
            files: RwLock::new(BTreeMap::new()),
            index: RwLock::new(HashMap::new()),
        };
        let mut data_files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("tmp") => fs::remove_file(&path)?,
                Some("sealed" | "leaves" | "content") => data_files.push(path),
                Some("json") => {
                    let bad = |reason: String| SealError::Manifest {
                        path: path.clone(),
                        reason,
                    };
                    let file: SealedFile = serde_json::from_slice(&fs::read(&path)?)
                        .map_err(|e| bad(e.to_string()))?;
                    let root: Cid = file.root.parse().map_err(|_| bad("bad root CID".into()))?;
                    store.insert(root, file).map_err(bad)?;
                }
                _ => {}
            }
        }
        // A data file without a manifest is an interrupted seal.
        let sealed: HashSet<PathBuf> = read(&store.files)
            .keys()
            .flat_map(|root| {
                [
                    data_path(dir, root),
                    leaves_path(dir, root),
                    content_path(dir, root),
                ]
            })
            .collect();
        for path in data_files {
            if !sealed.contains(&path) {
                fs::remove_file(&path)?;
            }
        }
        Ok(store)
    }

    fn insert(&self, root: Cid, file: SealedFile) -> Result<(), String> {
        let mut index = write(&self.index);
        for (i, block) in file.blocks.iter().enumerate() {
            let cid: Cid = block.cid.parse().map_err(|_| "bad block CID".to_owned())?;
            index.insert(cid, (root, i as u64));
        }
        write(&self.files).insert(root, Arc::new(file));
        Ok(())
    }

    /// The sealed files, by root CID.
    pub fn files(&self) -> Vec<Arc<SealedFile>> {
        read(&self.files).values().cloned().collect()
    }

    /// One sealed file.
    pub fn file(&self, root: &Cid) -> Option<Arc<SealedFile>> {
        read(&self.files).get(root).cloned()
    }

    /// Seals the DAG under `root` from `source`; sealing a file twice is a no-op. The content
    /// commitment is computed first (with what proving it takes, [`ContentIndex`]); a file
    /// whose commitment is not `expected` is refused before anything is written (D29).
    pub fn seal_file(
        &self,
        source: &dyn Blockstore,
        root: Cid,
        expected: Option<&ContentCommitment>,
    ) -> Result<Arc<SealedFile>, SealError> {
        if let Some(done) = self.file(&root) {
            return Ok(done);
        }
        let index = ContentIndex::build(source, root).map_err(|e| match e {
            crate::content::ContentError::Export(e) => match *e {
                crust_ipfs::exporter::ExportError::Missing(cid) => SealError::Missing(cid),
                other => crate::content::ContentError::Export(Box::new(other)).into(),
            },
            other => other.into(),
        })?;
        if let Some(expected) = expected
            && index.commitment != *expected
        {
            return Err(SealError::CommitmentMismatch {
                actual: index.commitment,
                expected: *expected,
            });
        }
        let tmp_data = data_path(&self.dir, &root).with_extension("sealed.tmp");
        let mut out = io::BufWriter::with_capacity(4 << 20, File::create(&tmp_data)?);
        let (mut blocks, mut leaves) = (Vec::new(), Vec::new());
        let (mut offset, mut size) = (0u64, 0u64);
        walk(source, root, &mut |cid, data| {
            let sealed = self.enclave.seal(&root, blocks.len() as u64, &data);
            out.write_all(&sealed)?;
            leaves.push(merkle::block_leaf(&sealed));
            blocks.push(SealedBlock {
                cid: cid.to_string(),
                offset,
                len: sealed.len() as u32,
            });
            offset += sealed.len() as u64;
            size += data.len() as u64;
            Ok(())
        })?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let file = SealedFile {
            root: root.to_string(),
            size,
            blocks,
            merkle_root: merkle::root(&leaves),
        };
        // The leaf hashes and the tree's nodes at [`LEAF_CAP_HEIGHT`], so a challenge is
        // answered from one subtree's leaves without re-reading (or re-hashing) the file.
        let mut caps = merkle::Builder::with_cap(LEAF_CAP_HEIGHT);
        for leaf in &leaves {
            caps.push(*leaf);
        }
        let (_, caps) = caps.finish_with_cap();
        let tmp_leaves = leaves_path(&self.dir, &root).with_extension("leaves.tmp");
        {
            let mut f = File::create(&tmp_leaves)?;
            f.write_all(&leaves.concat())?;
            f.write_all(&caps.concat())?;
            f.sync_all()?;
        }
        let tmp_content = content_path(&self.dir, &root).with_extension("content.tmp");
        {
            let mut f = File::create(&tmp_content)?;
            f.write_all(&index.encode())?;
            f.sync_all()?;
        }
        let tmp_manifest = manifest_path(&self.dir, &root).with_extension("json.tmp");
        let json = serde_json::to_vec(&file).map_err(|e| io::Error::other(e.to_string()))?;
        {
            let mut f = File::create(&tmp_manifest)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        fs::rename(&tmp_data, data_path(&self.dir, &root))?;
        fs::rename(&tmp_leaves, leaves_path(&self.dir, &root))?;
        fs::rename(&tmp_content, content_path(&self.dir, &root))?;
        fs::rename(&tmp_manifest, manifest_path(&self.dir, &root))?;
        File::open(&self.dir)?.sync_all()?;
        self.insert(root, file).map_err(io::Error::other)?;
        Ok(self
            .file(&root)
            .unwrap_or_else(|| unreachable!("just inserted")))
    }

    /// The sealed bytes of block `index` of file `root`.
    pub fn sealed_block(&self, root: &Cid, index: u64) -> Result<Vec<u8>, SealError> {
        let file = self.file(root).ok_or(SealError::NotSealed(*root))?;
        let block = usize::try_from(index)
            .ok()
            .and_then(|i| file.blocks.get(i))
            .ok_or(SealError::NotSealed(*root))?;
        let mut buf = vec![0u8; block.len as usize];
        File::open(data_path(&self.dir, root))?.read_exact_at(&mut buf, block.offset)?;
        Ok(buf)
    }

    /// Unseals block `index` of `root` and checks it against its CID.
    pub fn unseal_block(&self, root: &Cid, index: u64) -> Result<Block, SealError> {
        let file = self.file(root).ok_or(SealError::NotSealed(*root))?;
        let cid: Cid = usize::try_from(index)
            .ok()
            .and_then(|i| file.blocks.get(i))
            .and_then(|b| b.cid.parse().ok())
            .ok_or(SealError::NotSealed(*root))?;
        let sealed = self.sealed_block(root, index)?;
        let plain = self.enclave.unseal(root, index, &sealed)?;
        crust_ipfs::block::verify(&cid, &plain).map_err(|_| SealError::Corrupt(cid))?;
        Ok(Block {
            cid,
            data: Bytes::from(plain),
        })
    }

    /// A storage-challenge answer: the sealed bytes of block `index` and their Merkle proof,
    /// from the leaf hashes and cap nodes kept at sealing time (one subtree of
    /// 2^[`LEAF_CAP_HEIGHT`] leaves read and hashed), or rebuilt from the data if they are lost
    /// or do not match the committed root.
    pub fn prove(&self, root: &Cid, index: u64) -> Result<(Vec<u8>, Proof), SealError> {
        let file = self.file(root).ok_or(SealError::NotSealed(*root))?;
        let sealed = self.sealed_block(root, index)?;
        let count = file.blocks.len() as u64;
        if let Some(proof) = self.prove_from_kept(root, &file, index) {
            return Ok((sealed, proof));
        }
        let mut leaves = Vec::with_capacity(file.blocks.len());
        for i in 0..count {
            leaves.push(merkle::block_leaf(&self.sealed_block(root, i)?));
        }
        let proof = merkle::prove(&leaves, index as usize).ok_or(SealError::NotSealed(*root))?;
        Ok((sealed, proof))
    }

    /// The proof of leaf `index` from the kept leaves and caps, if they are there and match.
    fn prove_from_kept(&self, root: &Cid, file: &SealedFile, index: u64) -> Option<Proof> {
        let count = file.blocks.len() as u64;
        if index >= count {
            return None;
        }
        let span = 1u64 << LEAF_CAP_HEIGHT;
        let caps_len = count.div_ceil(span);
        let f = File::open(leaves_path(&self.dir, root)).ok()?;
        if f.metadata().ok()?.len() != (count + caps_len) * 32 {
            return None;
        }
        let hashes = |at: u64, n: u64| -> Option<Vec<Hash>> {
            let mut raw = vec![0u8; usize::try_from(n * 32).ok()?];
            f.read_exact_at(&mut raw, at * 32).ok()?;
            Some(
                raw.chunks_exact(32)
                    .map(|c| <Hash>::try_from(c).unwrap_or_else(|_| unreachable!("32-byte chunks")))
                    .collect(),
            )
        };
        let caps = hashes(count, caps_len)?;
        if merkle::root(&caps) != file.merkle_root {
            return None;
        }
        let start = index / span * span;
        let subtree = hashes(start, span.min(count - start))?;
        let at = usize::try_from(index / span).ok()?;
        if merkle::root(&subtree) != *caps.get(at)? {
            return None;
        }
        let lower = merkle::prove(&subtree, usize::try_from(index - start).ok()?)?;
        let upper = merkle::prove(&caps, at)?;
        merkle::join(index, count, LEAF_CAP_HEIGHT, &lower, &upper)
    }

    /// The content index of a sealed file: its commitment and what proving it takes.
    pub fn content_index(&self, root: &Cid) -> Result<ContentIndex, SealError> {
        if self.file(root).is_none() {
            return Err(SealError::NotSealed(*root));
        }
        Ok(ContentIndex::load(&content_path(&self.dir, root))?)
    }

    /// Piece `index` of `root`'s canonical CAR with its path to the content commitment (of
    /// `content`, the file's [`Self::content_index`]), rebuilt from the sealed blocks (each
    /// unsealed and checked against its CID).
    pub fn prove_content(
        &self,
        content: &ContentIndex,
        root: &Cid,
        index: u64,
    ) -> Result<(Vec<u8>, Proof), SealError> {
        let read = |cid: &Cid| -> Result<Vec<u8>, String> {
            match Blockstore::get(self, cid) {
                Ok(Some(data)) => Ok(data.to_vec()),
                Ok(None) => Err("not in the sealed store".into()),
                Err(e) => Err(e.to_string()),
            }
        };
        Ok(content.prove(root, index, &read)?)
    }

    /// Deletes a sealed replica (its order ended or space is needed).
    pub fn remove(&self, root: &Cid) -> Result<(), SealError> {
        let Some(file) = write(&self.files).remove(root) else {
            return Ok(());
        };
        {
            let mut index = write(&self.index);
            for block in &file.blocks {
                if let Ok(cid) = block.cid.parse::<Cid>()
                    && index.get(&cid).map(|(r, _)| r) == Some(root)
                {
                    index.remove(&cid);
                }
            }
        }
        fs::remove_file(manifest_path(&self.dir, root))?;
        fs::remove_file(data_path(&self.dir, root))?;
        for path in [leaves_path(&self.dir, root), content_path(&self.dir, root)] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks every block of `root`: unseals it and verifies it against its CID. Returns the
    /// positions that failed.
    pub fn validate(&self, root: &Cid) -> Result<Vec<u64>, SealError> {
        let file = self.file(root).ok_or(SealError::NotSealed(*root))?;
        Ok((0..file.blocks.len() as u64)
            .filter(|i| self.unseal_block(root, *i).is_err())
            .collect())
    }
}

impl Blockstore for SealedStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let Some((root, index)) = read(&self.index).get(cid).copied() else {
            return Ok(None);
        };
        match self.unseal_block(&root, index) {
            Ok(block) => Ok(Some(block.data)),
            Err(SealError::Io(e)) => Err(StoreError::Io(e)),
            Err(_) => Err(StoreError::Corrupt { cid: *cid }),
        }
    }

    fn has(&self, cid: &Cid) -> bool {
        read(&self.index).contains_key(cid)
    }

    fn size(&self, cid: &Cid) -> Option<u64> {
        let (root, index) = read(&self.index).get(cid).copied()?;
        let file = self.file(&root)?;
        let block = file.blocks.get(index as usize)?;
        Some(u64::from(block.len).saturating_sub(crate::enclave::SEAL_OVERHEAD as u64))
    }

    fn put(&self, block: &Block) -> Result<(), StoreError> {
        Err(StoreError::Io(io::Error::other(format!(
            "{}: the sealed store only takes whole files through seal_file",
            block.cid
        ))))
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
