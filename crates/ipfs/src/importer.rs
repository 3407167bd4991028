//! UnixFS import: turns a byte stream or a directory tree into blocks with the same CIDs
//! `ipfs add` gives.
//!
//! Defaults are Kubo's (the IPIP-499 `unixfs-v0-2015` profile): CIDv0, 256 KiB fixed chunks,
//! balanced DAG with 174 links per node, dag-pb `File` leaves; `cid_version = 1` switches to raw
//! leaves. Memory is bounded by one chunk plus one pending link list per tree level, whatever
//! the file size. Blocks go to a [`BlockSink`] as soon as they exist.

use crate::block::Block;
use crate::dagpb::{PbLink, PbNode};
use crate::hamt::ShardBuilder;
use crate::unixfs::{DataType, UnixFsData};
use crust_primitives::Cid;
use std::collections::BTreeMap;
use std::io::{self, Read};

/// Kubo's default chunk size.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Largest chunk Kubo accepts (`2 MiB − 256`, leaving room for the dag-pb envelope).
pub const MAX_CHUNK_SIZE: usize = 2 * 1024 * 1024 - 256;
/// Kubo's links per file node (`8192 / (34 + 8 + 5)`).
pub const DEFAULT_MAX_LINKS: usize = 174;
/// Kubo switches a directory to a HAMT when the links-bytes estimate exceeds this.
pub const HAMT_THRESHOLD_BYTES: usize = 256 * 1024;
/// Trickle DAGs repeat each layer depth this many times (boxo `depthRepeat`).
const TRICKLE_DEPTH_REPEAT: usize = 4;

/// DAG shape for files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// All leaves at the same depth (Kubo's default).
    #[default]
    Balanced,
    /// Append-friendly trickle DAG (`--trickle`).
    Trickle,
}

/// How to import: the `ipfs add` flags that change CIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// CID version of dag-pb nodes (0 or 1).
    pub cid_version: u8,
    /// Raw leaves; `None` means Kubo's rule (on for CIDv1, off for CIDv0).
    pub raw_leaves: Option<bool>,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// DAG layout.
    pub layout: Layout,
    /// Links per file node.
    pub max_links: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            cid_version: 0,
            raw_leaves: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            layout: Layout::Balanced,
            max_links: DEFAULT_MAX_LINKS,
        }
    }
}

impl ImportOptions {
    /// Whether leaves are raw blocks.
    pub fn raw_leaves(&self) -> bool {
        self.raw_leaves.unwrap_or(self.cid_version == 1)
    }

    /// Rejects options Kubo would reject.
    pub fn validate(&self) -> Result<(), ImportError> {
        if self.cid_version > 1 {
            return Err(ImportError::Options(format!(
                "unknown CID version {}",
                self.cid_version
            )));
        }
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(ImportError::Options(format!(
                "chunk size {} is outside 1..={MAX_CHUNK_SIZE}",
                self.chunk_size
            )));
        }
        if self.max_links < 2 {
            return Err(ImportError::Options(
                "a file node needs at least 2 links".into(),
            ));
        }
        Ok(())
    }

    /// Parses a Kubo chunker spec (`size-N`; the default when empty).
    pub fn parse_chunker(spec: &str) -> Result<usize, ImportError> {
        if spec.is_empty() || spec == "default" {
            return Ok(DEFAULT_CHUNK_SIZE);
        }
        spec.strip_prefix("size-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                ImportError::Options(format!("unsupported chunker {spec:?}: use size-N"))
            })
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the input or writing a block failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The options are not valid.
    #[error("invalid import options: {0}")]
    Options(String),
    /// A path inside a directory import is not usable.
    #[error("invalid path {path:?}: {reason}")]
    Path {
        /// The offending path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Two entries of a sharded directory hash alike.
    #[error(transparent)]
    Hamt(#[from] crate::hamt::HashCollision),
}

/// Where imported blocks go.
pub trait BlockSink {
    /// Stores one block.
    fn put(&mut self, block: Block) -> io::Result<()>;
}

impl BlockSink for Vec<Block> {
    fn put(&mut self, block: Block) -> io::Result<()> {
        self.push(block);
        Ok(())
    }
}

/// Discards blocks: hash-only imports (`--only-hash`).
pub struct NullSink;

impl BlockSink for NullSink {
    fn put(&mut self, _: Block) -> io::Result<()> {
        Ok(())
    }
}

/// The result of importing one file or directory: enough to link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Root CID.
    pub cid: Cid,
    /// Cumulative size of all blocks of the DAG (a link's `Tsize`).
    pub tsize: u64,
    /// File content size (0 for directories).
    pub file_size: u64,
}

impl Imported {
    fn link(&self, name: &str) -> PbLink {
        PbLink {
            cid: self.cid,
            name: Some(name.to_owned()),
            tsize: Some(self.tsize),
        }
    }
}

/// Fixed-size chunker with one chunk of look-ahead, so the builders know when data ends.
struct Chunker<R> {
    reader: R,
    size: usize,
    next: Option<Vec<u8>>,
}

impl<R: Read> Chunker<R> {
    fn new(reader: R, size: usize) -> io::Result<Self> {
        let mut c = Self {
            reader,
            size,
            next: None,
        };
        c.next = c.read_chunk()?;
        Ok(c)
    }

    fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        // `read_to_end` into reserved capacity: no zero-filling, short reads retried. Reading
        // and hashing stay on one thread: measured faster here than a read-ahead thread or
        // hashing batches on two threads (the chunk would be hashed from another core's cache).
        let mut buf = Vec::with_capacity(self.size);
        let n = (&mut self.reader)
            .take(self.size as u64)
            .read_to_end(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(buf))
    }

    fn done(&self) -> bool {
        self.next.is_none()
    }

    fn take(&mut self) -> io::Result<Option<Vec<u8>>> {
        let chunk = self.next.take();
        if chunk.is_some() {
            self.next = self.read_chunk()?;
        }
        Ok(chunk)
    }
}

/// Builds file nodes and hands their blocks to the sink.
struct FileBuilder<'a, S: ?Sized> {
    opts: &'a ImportOptions,
    sink: &'a mut S,
    progress: &'a mut dyn FnMut(u64),
}

impl<S: BlockSink + ?Sized> FileBuilder<'_, S> {
    fn leaf(&mut self, chunk: Vec<u8>, kind: DataType) -> io::Result<Imported> {
        let len = chunk.len() as u64;
        (self.progress)(len);
        let block = if self.opts.raw_leaves() {
            Block::raw(chunk)
        } else {
            Block::dag_pb(
                crate::unixfs::leaf_node_bytes(kind, &chunk),
                self.opts.cid_version,
            )
        };
        self.emit(block, len, 0)
    }

    fn internal(&mut self, children: &[Imported]) -> io::Result<Imported> {
        let mut data = UnixFsData::new(DataType::File);
        data.filesize = Some(children.iter().map(|c| c.file_size).sum());
        data.blocksizes = children.iter().map(|c| c.file_size).collect();
        let node = PbNode {
            links: children.iter().map(|c| c.link("")).collect(),
            data: Some(data.encode()),
        };
        let file_size = data.filesize.unwrap_or(0);
        let below: u64 = children.iter().map(|c| c.tsize).sum();
        self.emit(
            Block::dag_pb(node.encode(), self.opts.cid_version),
            file_size,
            below,
        )
    }

    fn emit(&mut self, block: Block, file_size: u64, below: u64) -> io::Result<Imported> {
        let imported = Imported {
            cid: block.cid,
            tsize: block.data.len() as u64 + below,
            file_size,
        };
        self.sink.put(block)?;
        Ok(imported)
    }

    fn balanced<R: Read>(&mut self, chunks: &mut Chunker<R>) -> io::Result<Imported> {
        let max = self.opts.max_links;
        // levels[0] holds leaves, levels[i] nodes of height i; a full level is folded upward at once.
        let mut levels: Vec<Vec<Imported>> = vec![Vec::new()];
        if chunks.done() {
            return self.leaf(Vec::new(), DataType::File);
        }
        while let Some(chunk) = chunks.take()? {
            let leaf = self.leaf(chunk, DataType::File)?;
            self.push_level(&mut levels, 0, leaf, max)?;
        }
        // Fold: every partial level becomes one node of the next level until one node is left.
        let mut height = 0;
        loop {
            let top = levels.iter().rposition(|l| !l.is_empty()).unwrap_or(0);
            if height == top && levels[height].len() == 1 {
                return Ok(levels[height][0]);
            }
            if !levels[height].is_empty() {
                let group = std::mem::take(&mut levels[height]);
                let node = self.internal(&group)?;
                self.push_level(&mut levels, height + 1, node, max)?;
            }
            height += 1;
        }
    }

    fn push_level(
        &mut self,
        levels: &mut Vec<Vec<Imported>>,
        height: usize,
        item: Imported,
        max: usize,
    ) -> io::Result<()> {
        if levels.len() <= height {
            levels.push(Vec::new());
        }
        levels[height].push(item);
        if levels[height].len() == max {
            let group = std::mem::take(&mut levels[height]);
            let node = self.internal(&group)?;
            self.push_level(levels, height + 1, node, max)?;
        }
        Ok(())
    }

    /// boxo `trickle.Layout`: fill a node with leaves, then add layers of sub-trees of depth
    /// 1, 2, … (`TRICKLE_DEPTH_REPEAT` of each), each itself a trickle tree.
    fn trickle<R: Read>(
        &mut self,
        chunks: &mut Chunker<R>,
        max_depth: Option<usize>,
    ) -> io::Result<Imported> {
        let mut children = Vec::new();
        while children.len() < self.opts.max_links {
            match chunks.take()? {
                Some(chunk) => children.push(self.leaf(chunk, DataType::Raw)?),
                None => break,
            }
        }
        let mut depth = 1;
        while max_depth.is_none_or(|max| depth < max) && !chunks.done() {
            for _ in 0..TRICKLE_DEPTH_REPEAT {
                if chunks.done() {
                    break;
                }
                children.push(self.trickle(chunks, Some(depth))?);
            }
            depth += 1;
        }
        self.internal(&children)
    }
}

/// Imports one file from `reader`. `progress` is called with the byte count of each chunk.
pub fn import_file<S: BlockSink + ?Sized>(
    reader: impl Read,
    opts: &ImportOptions,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
) -> Result<Imported, ImportError> {
    opts.validate()?;
    let mut chunks = Chunker::new(reader, opts.chunk_size)?;
    let mut builder = FileBuilder {
        opts,
        sink,
        progress,
    };
    Ok(match opts.layout {
        Layout::Balanced => builder.balanced(&mut chunks)?,
        Layout::Trickle => builder.trickle(&mut chunks, None)?,
    })
}

/// Imports an in-memory buffer (tests, small uploads).
pub fn import_bytes<S: BlockSink + ?Sized>(
    bytes: &[u8],
    opts: &ImportOptions,
    sink: &mut S,
) -> Result<Imported, ImportError> {
    import_file(bytes, opts, sink, &mut |_| {})
}

/// A directory tree being assembled from already imported files, then built bottom-up.
#[derive(Default)]
pub struct DirBuilder {
    root: DirNode,
}

#[derive(Default)]
struct DirNode {
    entries: BTreeMap<String, DirEntry>,
}

enum DirEntry {
    Link(Imported),
    Dir(DirNode),
}

/// One line of `ipfs add` output: a path inside the import and what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedEntry {
    /// Slash-separated path relative to the import root (`""` for the root itself).
    pub path: String,
    /// The result.
    pub imported: Imported,
}

/// Splits a relative path into checked components (no `..`, no empty names, no NUL).
pub fn path_components(path: &str) -> Result<Vec<&str>, ImportError> {
    let bad = |reason| ImportError::Path {
        path: path.to_owned(),
        reason,
    };
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in &parts {
        if *part == ".." {
            return Err(bad("'..' is not allowed"));
        }
        if part.contains('\0') {
            return Err(bad("NUL in a name"));
        }
    }
    Ok(parts)
}

impl DirBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    fn dir_mut(&mut self, parts: &[&str], path: &str) -> Result<&mut DirNode, ImportError> {
        let mut node = &mut self.root;
        for part in parts {
            let entry = node
                .entries
                .entry((*part).to_owned())
                .or_insert_with(|| DirEntry::Dir(DirNode::default()));
            node = match entry {
                DirEntry::Dir(d) => d,
                DirEntry::Link(_) => {
                    return Err(ImportError::Path {
                        path: path.to_owned(),
                        reason: "a file is in the way",
                    });
                }
            };
        }
        Ok(node)
    }

    /// Adds a (possibly empty) directory at `path`.
    pub fn add_dir(&mut self, path: &str) -> Result<(), ImportError> {
        let parts = path_components(path)?;
        self.dir_mut(&parts, path).map(|_| ())
    }

    /// Adds an imported file at `path`.
    pub fn add_file(&mut self, path: &str, file: Imported) -> Result<(), ImportError> {
        let parts = path_components(path)?;
        let (name, parents) = parts.split_last().ok_or_else(|| ImportError::Path {
            path: path.to_owned(),
            reason: "empty file name",
        })?;
        let dir = self.dir_mut(parents, path)?;
        if matches!(dir.entries.get(*name), Some(DirEntry::Dir(_))) {
            return Err(ImportError::Path {
                path: path.to_owned(),
                reason: "a directory is in the way",
            });
        }
        dir.entries.insert((*name).to_owned(), DirEntry::Link(file));
        Ok(())
    }

    /// Builds every directory node; returns the root and one entry per directory (post-order).
    pub fn build<S: BlockSink + ?Sized>(
        self,
        cid_version: u8,
        sink: &mut S,
    ) -> Result<(Imported, Vec<AddedEntry>), ImportError> {
        let mut dirs = Vec::new();
        let root = build_dir(self.root, String::new(), cid_version, sink, &mut dirs)?;
        Ok((root, dirs))
    }
}

fn build_dir<S: BlockSink + ?Sized>(
    node: DirNode,
    path: String,
    cid_version: u8,
    sink: &mut S,
    out: &mut Vec<AddedEntry>,
) -> Result<Imported, ImportError> {
    let mut links = Vec::with_capacity(node.entries.len());
    for (name, entry) in node.entries {
        let child = match entry {
            DirEntry::Link(f) => f,
            DirEntry::Dir(d) => {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                build_dir(d, child_path, cid_version, sink, out)?
            }
        };
        links.push(child.link(&name));
    }
    let imported = directory_node(links, cid_version, sink)?;
    out.push(AddedEntry { path, imported });
    Ok(imported)
}

/// Builds one directory from its links (sorted by name), as a HAMT when Kubo would shard it.
pub fn directory_node<S: BlockSink + ?Sized>(
    links: Vec<PbLink>,
    cid_version: u8,
    sink: &mut S,
) -> Result<Imported, ImportError> {
    // Kubo's "links" size estimation: Σ(len(name) + len(cid bytes)), shard when strictly above.
    let estimate: usize = links
        .iter()
        .map(|l| l.name.as_ref().map_or(0, String::len) + l.cid.to_bytes().len())
        .sum();
    let mut emit = |node: PbNode| -> io::Result<PbLink> {
        let below: u64 = node.links.iter().filter_map(|l| l.tsize).sum();
        let block = Block::dag_pb(node.encode(), cid_version);
        let link = PbLink {
            cid: block.cid,
            name: None,
            tsize: Some(block.data.len() as u64 + below),
        };
        sink.put(block)?;
        Ok(link)
    };
    let link = if estimate > HAMT_THRESHOLD_BYTES {
        let mut shard = ShardBuilder::default();
        for link in links {
            let name = link.name.clone().unwrap_or_default();
            shard.insert(name, link)?;
        }
        shard.build(&mut emit)?
    } else {
        emit(PbNode {
            links,
            data: Some(UnixFsData::new(DataType::Directory).encode()),
        })?
    };
    Ok(Imported {
        cid: link.cid,
        tsize: link.tsize.unwrap_or(0),
        file_size: 0,
    })
}

/// `ipfs add -w`: wraps named entries in one directory.
pub fn wrap<S: BlockSink + ?Sized>(
    entries: &[(String, Imported)],
    cid_version: u8,
    sink: &mut S,
) -> Result<Imported, ImportError> {
    let mut tree = DirBuilder::new();
    for (name, imported) in entries {
        tree.add_file(name, *imported)?;
    }
    Ok(tree.build(cid_version, sink)?.0)
}
