//! Reading UnixFS back out: path resolution (through HAMT shards), directory listings, and
//! file bytes streamed by range without loading the file, plus the block selections the
//! trustless gateway serves as CARs (`dag-scope`, `entity-bytes`).

use crate::blockstore::{Blockstore, StoreError};
use crate::dagpb::{PbLink, PbNode};
use crate::hamt;
use crate::links::{self, LinksError};
use crate::unixfs::{DataType, UnixFsData};
use bytes::Bytes;
use crust_primitives::Cid;
use crust_primitives::cid::{DAG_PB, RAW};
use std::collections::HashSet;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed or a block is corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A needed block is not local.
    #[error("block {0} is not available")]
    Missing(Cid),
    /// A block does not decode as what it claims to be.
    #[error("{cid}: {reason}")]
    Decode {
        /// The block.
        cid: Cid,
        /// What is wrong.
        reason: String,
    },
    /// A path segment does not exist.
    #[error("no link named {name:?} under {parent}")]
    NotFound {
        /// The directory searched.
        parent: Cid,
        /// The missing name.
        name: String,
    },
    /// The target is not a file.
    #[error("{0} is not a file")]
    NotAFile(Cid),
    /// A path went through something that is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(Cid),
    /// The path ends inside a block, on a value that is not a link (gateways answer 501).
    #[error(
        "the path continues inside {0} past a non-link value; only paths ending at links are served"
    )]
    PathRemainder(Cid),
    /// Links could not be read.
    #[error(transparent)]
    Links(#[from] LinksError),
}

/// What a CID is, as far as a gateway cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A UnixFS file (or a raw block) of `size` bytes.
    File {
        /// Content size.
        size: u64,
    },
    /// A UnixFS directory (plain or sharded).
    Directory {
        /// Whether it is a HAMT.
        sharded: bool,
    },
    /// A UnixFS symlink to `target`.
    Symlink {
        /// The target path.
        target: String,
    },
    /// A block of another codec (dag-cbor, dag-json, …).
    Other {
        /// Its codec.
        codec: u64,
    },
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name in the directory.
    pub name: String,
    /// Target.
    pub cid: Cid,
    /// Cumulative DAG size from the link.
    pub tsize: Option<u64>,
}

fn fetch(store: &dyn Blockstore, cid: &Cid) -> Result<Bytes, ExportError> {
    store.get(cid)?.ok_or(ExportError::Missing(*cid))
}

fn decode_pb(cid: &Cid, data: &[u8]) -> Result<(PbNode, UnixFsData), ExportError> {
    let bad = |reason: String| ExportError::Decode { cid: *cid, reason };
    let node = PbNode::decode(data).map_err(|e| bad(e.to_string()))?;
    let fs = UnixFsData::decode(
        node.data
            .as_deref()
            .ok_or_else(|| bad("dag-pb node without UnixFS data".into()))?,
    )
    .map_err(|e| bad(format!("UnixFS: {e}")))?;
    Ok((node, fs))
}

/// What `cid` is.
pub fn kind(store: &dyn Blockstore, cid: &Cid) -> Result<Kind, ExportError> {
    match cid.codec() {
        RAW => Ok(Kind::File {
            size: store.size(cid).ok_or(ExportError::Missing(*cid))?,
        }),
        DAG_PB => {
            let data = fetch(store, cid)?;
            let (_, fs) = decode_pb(cid, &data)?;
            Ok(match fs.kind {
                DataType::File | DataType::Raw => Kind::File {
                    size: fs
                        .filesize
                        .unwrap_or_else(|| fs.data.as_ref().map_or(0, |d| d.len() as u64)),
                },
                DataType::Directory => Kind::Directory { sharded: false },
                DataType::HamtShard => Kind::Directory { sharded: true },
                DataType::Symlink => Kind::Symlink {
                    target: String::from_utf8_lossy(fs.data.as_deref().unwrap_or_default())
                        .into_owned(),
                },
                DataType::Metadata => Kind::Other { codec: DAG_PB },
            })
        }
        codec => Ok(Kind::Other { codec }),
    }
}

/// Resolves `path` (already split, no empty segments) under `root`. `visited` receives every
/// block read on the way, in order (the CAR of a path request starts with them); the returned
/// list holds the CID each segment resolved to (`X-Ipfs-Roots`).
pub fn resolve(
    store: &dyn Blockstore,
    root: Cid,
    path: &[&str],
    visited: &mut Vec<Cid>,
) -> Result<Vec<Cid>, ExportError> {
    let mut roots = vec![root];
    let mut current = root;
    let mut rest = path;
    while let Some((name, tail)) = rest.split_first() {
        visited.push(current);
        if current.codec() == DAG_PB || current.codec() == RAW {
            current = child(store, &current, name, visited)?;
            rest = tail;
        } else {
            // IPLD pathing inside a dag-cbor/dag-json block until a link is reached.
            let data = fetch(store, &current)?;
            let mut value =
                links::inline_root(&current, &data).ok_or(ExportError::NotADirectory(current))?;
            let mut remaining = rest;
            loop {
                let Some((seg, after)) = remaining.split_first() else {
                    return Err(ExportError::PathRemainder(current));
                };
                let step =
                    links::step(&value, seg).map_err(|_| ExportError::PathRemainder(current))?;
                remaining = after;
                match step {
                    links::Step::NotFound => {
                        return Err(ExportError::NotFound {
                            parent: current,
                            name: (*seg).to_owned(),
                        });
                    }
                    links::Step::Link(cid) => {
                        current = cid;
                        break;
                    }
                    links::Step::Inline(inner) => {
                        if remaining.is_empty() {
                            return Err(ExportError::PathRemainder(current));
                        }
                        value = inner;
                    }
                }
            }
            rest = remaining;
        }
        roots.push(current);
    }
    Ok(roots)
}

fn child(
    store: &dyn Blockstore,
    dir: &Cid,
    name: &str,
    visited: &mut Vec<Cid>,
) -> Result<Cid, ExportError> {
    let not_found = || ExportError::NotFound {
        parent: *dir,
        name: name.to_owned(),
    };
    if dir.codec() != DAG_PB {
        return Err(ExportError::NotADirectory(*dir));
    }
    let data = fetch(store, dir)?;
    let (node, fs) = decode_pb(dir, &data)?;
    match fs.kind {
        DataType::Directory => node
            .links
            .iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.cid)
            .ok_or_else(not_found),
        DataType::HamtShard => {
            let mut shard = node;
            for depth in 0.. {
                let label = hamt::bucket_label(hamt::bucket(name, depth).ok_or_else(not_found)?);
                let Some(link) = shard
                    .links
                    .iter()
                    .find(|l| l.name.as_deref().is_some_and(|n| n.starts_with(&label)))
                else {
                    return Err(not_found());
                };
                let link_name = link.name.as_deref().unwrap_or_default();
                if link_name.len() == label.len() {
                    let next = link.cid;
                    visited.push(next);
                    let data = fetch(store, &next)?;
                    shard = decode_pb(&next, &data)?.0;
                } else if &link_name[label.len()..] == name {
                    return Ok(link.cid);
                } else {
                    return Err(not_found());
                }
            }
            Err(not_found())
        }
        _ => Err(ExportError::NotADirectory(*dir)),
    }
}

/// The entries of a directory, HAMT shards flattened, sorted by name. `shards` receives the
/// CIDs of shard nodes below the root.
pub fn list(
    store: &dyn Blockstore,
    dir: &Cid,
    shards: &mut Vec<Cid>,
) -> Result<Vec<Entry>, ExportError> {
    if dir.codec() != DAG_PB {
        return Err(ExportError::NotADirectory(*dir));
    }
    let data = fetch(store, dir)?;
    let (node, fs) = decode_pb(dir, &data)?;
    let mut out = Vec::new();
    match fs.kind {
        DataType::Directory => out.extend(node.links.into_iter().map(entry)),
        DataType::HamtShard => flatten_shard(store, node, shards, &mut out)?,
        _ => return Err(ExportError::NotADirectory(*dir)),
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn entry(link: PbLink) -> Entry {
    Entry {
        name: link.name.unwrap_or_default(),
        cid: link.cid,
        tsize: link.tsize,
    }
}

fn flatten_shard(
    store: &dyn Blockstore,
    node: PbNode,
    shards: &mut Vec<Cid>,
    out: &mut Vec<Entry>,
) -> Result<(), ExportError> {
    for link in node.links {
        let name = link.name.clone().unwrap_or_default();
        if name.len() == 2 {
            shards.push(link.cid);
            let data = fetch(store, &link.cid)?;
            let (sub, _) = decode_pb(&link.cid, &data)?;
            flatten_shard(store, sub, shards, out)?;
        } else if name.len() > 2 && name.is_char_boundary(2) {
            out.push(Entry {
                name: name[2..].to_owned(),
                ..entry(link)
            });
        }
    }
    Ok(())
}

/// Streams the bytes `[start, end)` of a file, one leaf slice at a time; only the blocks that
/// overlap the range are read. `blocks` (if set) records every block read, for CAR selections.
pub struct RangeReader<'a> {
    store: &'a dyn Blockstore,
    start: u64,
    end: u64,
    stack: Vec<Pending>,
    blocks: Option<Vec<Cid>>,
    prefetched: std::collections::HashMap<Cid, Bytes>,
}

/// Blocks read and verified together ahead of need (in parallel by stores that can).
const READ_AHEAD: usize = 16;

/// A UnixFS file node read without copying its payload: the hot path of every download.
/// Applies the same rules as [`PbNode::decode`] and [`UnixFsData::decode`] for what it reads.
struct FileNodeView {
    links: Vec<Cid>,
    blocksizes: Vec<u64>,
    inline: Bytes,
}

impl FileNodeView {
    fn parse(cid: &Cid, block: &Bytes) -> Result<Self, ExportError> {
        let bad = |reason: &str| ExportError::Decode {
            cid: *cid,
            reason: reason.to_owned(),
        };
        let slice_of = |part: &[u8]| {
            let start = (part.as_ptr() as usize) - (block.as_ptr() as usize);
            block.slice(start..start + part.len())
        };
        let mut links = Vec::new();
        let mut unixfs = None;
        let mut reader = crate::pb::Reader::new(block);
        while let Some((field, value)) = reader.next_field().map_err(|e| bad(&e.to_string()))? {
            match (field, value) {
                (2, crate::pb::Value::Bytes(link)) if unixfs.is_none() => {
                    let mut fields = crate::pb::Reader::new(link);
                    let mut hash = None;
                    while let Some((f, v)) = fields.next_field().map_err(|e| bad(&e.to_string()))? {
                        if let (1, crate::pb::Value::Bytes(h)) = (f, v) {
                            hash = Some(
                                Cid::from_bytes(h).map_err(|_| bad("link with an invalid CID"))?,
                            );
                        }
                    }
                    links.push(hash.ok_or_else(|| bad("link without a hash"))?);
                }
                (1, crate::pb::Value::Bytes(data)) if unixfs.is_none() => unixfs = Some(data),
                _ => return Err(bad("not a canonical dag-pb node")),
            }
        }
        let unixfs = unixfs.ok_or_else(|| bad("dag-pb node without UnixFS data"))?;
        let mut kind = None;
        let mut inline = Bytes::new();
        let mut blocksizes = Vec::new();
        let mut fields = crate::pb::Reader::new(unixfs);
        while let Some((f, v)) = fields.next_field().map_err(|e| bad(&e.to_string()))? {
            match (f, v) {
                (1, crate::pb::Value::Varint(t)) => kind = Some(t),
                (2, crate::pb::Value::Bytes(d)) => inline = slice_of(d),
                (4, crate::pb::Value::Varint(size)) => blocksizes.push(size),
                (4, crate::pb::Value::Bytes(packed)) => {
                    let mut rest = packed;
                    while !rest.is_empty() {
                        let (size, used) =
                            crate::pb::read_varint(rest).map_err(|e| bad(&e.to_string()))?;
                        blocksizes.push(size);
                        rest = &rest[used..];
                    }
                }
                _ => {}
            }
        }
        if !matches!(kind, Some(0 | 2)) {
            return Err(ExportError::NotAFile(*cid));
        }
        if !links.is_empty() && links.len() != blocksizes.len() {
            return Err(bad(&format!(
                "{} links but {} blocksizes",
                links.len(),
                blocksizes.len()
            )));
        }
        if links.is_empty() {
            blocksizes.clear();
        }
        Ok(Self {
            links,
            blocksizes,
            inline,
        })
    }
}

struct Pending {
    cid: Cid,
    offset: u64,
    size: Option<u64>,
}

impl<'a> RangeReader<'a> {
    /// Reads `[start, end)` of the file at `cid` (`end` is clamped to the file size by the walk).
    pub fn new(store: &'a dyn Blockstore, cid: Cid, start: u64, end: u64) -> Self {
        Self {
            store,
            start,
            end,
            stack: vec![Pending {
                cid,
                offset: 0,
                size: None,
            }],
            blocks: None,
            prefetched: std::collections::HashMap::new(),
        }
    }

    /// Also records the CIDs of the blocks read.
    pub fn recording(mut self) -> Self {
        self.blocks = Some(Vec::new());
        self
    }

    /// The blocks read so far, in order.
    pub fn take_blocks(&mut self) -> Vec<Cid> {
        self.blocks.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Reads `item` and the next siblings the walk will need in one batch.
    fn prefetch(&mut self, item: &Pending) -> Result<(), ExportError> {
        let mut wanted = vec![item.cid];
        for next in self.stack.iter().rev().take(READ_AHEAD - 1) {
            let overlaps = next
                .size
                .is_none_or(|size| next.offset < self.end && next.offset + size > self.start);
            if overlaps && !self.prefetched.contains_key(&next.cid) {
                wanted.push(next.cid);
            }
        }
        for (cid, data) in wanted.iter().zip(self.store.get_many(&wanted)) {
            if let Some(data) = data? {
                self.prefetched.insert(*cid, data);
            }
        }
        Ok(())
    }

    fn slice(&self, data: &Bytes, offset: u64) -> Option<Bytes> {
        let from = self.start.max(offset);
        let to = self.end.min(offset + data.len() as u64);
        (from < to).then(|| data.slice((from - offset) as usize..(to - offset) as usize))
    }

    fn step(&mut self) -> Result<Option<Option<Bytes>>, ExportError> {
        let Some(item) = self.stack.pop() else {
            return Ok(None);
        };
        if let Some(size) = item.size
            && (item.offset + size <= self.start || item.offset >= self.end)
            && !(size == 0 && item.offset == self.start)
        {
            return Ok(Some(None));
        }
        let data = match self.prefetched.remove(&item.cid) {
            Some(data) => data,
            None => {
                self.prefetch(&item)?;
                match self.prefetched.remove(&item.cid) {
                    Some(data) => data,
                    None => fetch(self.store, &item.cid)?,
                }
            }
        };
        if let Some(blocks) = &mut self.blocks {
            blocks.push(item.cid);
        }
        match item.cid.codec() {
            RAW => Ok(Some(self.slice(&data, item.offset))),
            DAG_PB => {
                let view = FileNodeView::parse(&item.cid, &data)?;
                let mut offset = item.offset + view.inline.len() as u64;
                let mut children = Vec::with_capacity(view.links.len());
                for (cid, size) in view.links.into_iter().zip(view.blocksizes) {
                    children.push(Pending {
                        cid,
                        offset,
                        size: Some(size),
                    });
                    offset += size;
                }
                self.stack.extend(children.into_iter().rev());
                Ok(Some(self.slice(&view.inline, item.offset)))
            }
            _ => Err(ExportError::NotAFile(item.cid)),
        }
    }
}

impl Iterator for RangeReader<'_> {
    type Item = Result<Bytes, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step() {
                Ok(None) => return None,
                Ok(Some(Some(bytes))) => return Some(Ok(bytes)),
                Ok(Some(None)) => {}
                Err(e) => {
                    self.stack.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads a whole (small) file into memory; for tests and tiny files only.
pub fn cat(store: &dyn Blockstore, cid: Cid) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    for chunk in RangeReader::new(store, cid, 0, u64::MAX) {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// How much of the DAG under a path target a CAR response carries (trustless gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the target block.
    Block,
    /// The target entity: a whole file, or a directory's own nodes (HAMT shards included).
    Entity,
    /// Everything reachable.
    All,
    /// The blocks of the file range `[from, to)` (`entity-bytes`).
    Bytes {
        /// First byte.
        from: u64,
        /// One past the last byte.
        to: u64,
    },
}

/// The CIDs of the blocks for `scope` at `target`, in DFS order without duplicates. The
/// blocks must all be local; a missing one ends the selection with an error.
pub fn select(store: &dyn Blockstore, target: Cid, scope: Scope) -> Result<Vec<Cid>, ExportError> {
    select_blocks(store, target, scope, false)
}

/// Most blocks a selection with duplicates may list (a DAG reusing one subtree many times
/// would otherwise expand without bound).
pub const MAX_SELECTED_BLOCKS: usize = 1 << 20;

/// [`select`], optionally keeping repeated blocks where the DAG repeats them (`car-dups=y`).
pub fn select_blocks(
    store: &dyn Blockstore,
    target: Cid,
    scope: Scope,
    dups: bool,
) -> Result<Vec<Cid>, ExportError> {
    let mut out = Vec::new();
    match scope {
        Scope::Block => out.push(target),
        Scope::All => {
            let mut seen = HashSet::new();
            let mut stack = vec![target];
            while let Some(cid) = stack.pop() {
                if !seen.insert(cid) && !dups {
                    continue;
                }
                if out.len() >= MAX_SELECTED_BLOCKS {
                    return Err(ExportError::Decode {
                        cid: target,
                        reason: "selection exceeds the block limit".into(),
                    });
                }
                let data = fetch(store, &cid)?;
                out.push(cid);
                stack.extend(links::links(&cid, &data)?.into_iter().rev());
            }
        }
        Scope::Entity | Scope::Bytes { .. } => match kind(store, &target)? {
            Kind::File { size } => {
                let (from, to) = match scope {
                    Scope::Bytes { from, to } => (from, to.min(size)),
                    _ => (0, size),
                };
                let mut reader = RangeReader::new(store, target, from, to.max(from)).recording();
                for chunk in reader.by_ref() {
                    chunk?;
                }
                out = reader.take_blocks();
                if out.is_empty() {
                    out.push(target);
                }
            }
            Kind::Directory { .. } => {
                let mut shards = Vec::new();
                list(store, &target, &mut shards)?;
                out.push(target);
                out.extend(shards);
            }
            _ => out.push(target),
        },
    }
    if !dups {
        let mut seen = HashSet::new();
        out.retain(|c| seen.insert(*c));
    }
    Ok(out)
}
