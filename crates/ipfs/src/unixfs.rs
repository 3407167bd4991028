//! The UnixFS `Data` message carried inside dag-pb nodes: what a node means as a file system
//! object (file, directory, HAMT shard …), its inline bytes and child sizes.
//!
//! Encoded as Go's proto2 code does: `Type`, then `Data` only when set, `filesize` when set
//! (always for file nodes, even when 0), `blocksizes` as non-packed repeated varints, then the
//! HAMT fields. Decoding accepts any field order (proto2) but bounds every count by the input.

use crate::pb::{self, PbError, Value};

/// UnixFS node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// A leaf holding only bytes (trickle leaves use it).
    Raw = 0,
    /// A directory with named links.
    Directory = 1,
    /// A file (leaf or internal node).
    File = 2,
    /// Extended-attributes metadata (not produced here).
    Metadata = 3,
    /// A symbolic link; `data` is the target.
    Symlink = 4,
    /// A HAMT-sharded directory node.
    HamtShard = 5,
}

impl DataType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::Raw,
            1 => Self::Directory,
            2 => Self::File,
            3 => Self::Metadata,
            4 => Self::Symlink,
            5 => Self::HamtShard,
            _ => return None,
        })
    }
}

/// The murmur3-x64-64 hash type code HAMT shards must declare.
pub const HAMT_HASH_MURMUR3: u64 = 0x22;

/// A decoded UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixFsData {
    /// Node type.
    pub kind: DataType,
    /// Inline bytes (file content, symlink target, HAMT bitfield).
    pub data: Option<Vec<u8>>,
    /// Total file size below this node.
    pub filesize: Option<u64>,
    /// File sizes of the children, in link order.
    pub blocksizes: Vec<u64>,
    /// HAMT hash function.
    pub hash_type: Option<u64>,
    /// HAMT fanout.
    pub fanout: Option<u64>,
    /// POSIX mode, when preserved.
    pub mode: Option<u32>,
    /// Modification time (seconds, nanoseconds), when preserved.
    pub mtime: Option<(i64, u32)>,
}

impl UnixFsData {
    /// A node of `kind` with nothing else set.
    pub fn new(kind: DataType) -> Self {
        Self {
            kind,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    /// A file leaf holding `chunk` (empty chunks carry no `Data` field, as in Go).
    pub fn leaf(kind: DataType, chunk: &[u8]) -> Self {
        Self {
            data: (!chunk.is_empty()).then(|| chunk.to_vec()),
            filesize: Some(chunk.len() as u64),
            ..Self::new(kind)
        }
    }

    /// The encoding Go produces.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.data.as_ref().map_or(0, Vec::len) + 4 * self.blocksizes.len(),
        );
        pb::put_uint_field(&mut out, 1, self.kind as u64);
        if let Some(data) = &self.data {
            pb::put_bytes_field(&mut out, 2, data);
        }
        if let Some(size) = self.filesize {
            pb::put_uint_field(&mut out, 3, size);
        }
        for size in &self.blocksizes {
            pb::put_uint_field(&mut out, 4, *size);
        }
        if let Some(h) = self.hash_type {
            pb::put_uint_field(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            pb::put_uint_field(&mut out, 6, f);
        }
        if let Some(mode) = self.mode {
            pb::put_uint_field(&mut out, 7, u64::from(mode));
        }
        if let Some((secs, nanos)) = self.mtime {
            let mut t = Vec::new();
            pb::put_uint_field(&mut t, 1, secs as u64);
            if nanos != 0 {
                pb::put_varint(&mut t, (2 << 3) | u64::from(pb::FIXED32));
                t.extend_from_slice(&nanos.to_le_bytes());
            }
            pb::put_bytes_field(&mut out, 8, &t);
        }
        out
    }

    /// Decodes a `Data` message.
    pub fn decode(bytes: &[u8]) -> Result<Self, PbError> {
        let mut kind = None;
        let mut out = Self::new(DataType::Raw);
        let mut reader = pb::Reader::new(bytes);
        while let Some((field, value)) = reader.next_field()? {
            match (field, value) {
                (1, Value::Varint(v)) => {
                    kind =
                        Some(DataType::from_u64(v).ok_or(PbError::Schema("unknown UnixFS type"))?)
                }
                (2, Value::Bytes(b)) => out.data = Some(b.to_vec()),
                (3, Value::Varint(v)) => out.filesize = Some(v),
                (4, Value::Varint(v)) => out.blocksizes.push(v),
                (4, Value::Bytes(packed)) => {
                    let mut rest = packed;
                    while !rest.is_empty() {
                        let (v, used) = pb::read_varint(rest)?;
                        out.blocksizes.push(v);
                        rest = &rest[used..];
                    }
                }
                (5, Value::Varint(v)) => out.hash_type = Some(v),
                (6, Value::Varint(v)) => out.fanout = Some(v),
                (7, Value::Varint(v)) => out.mode = Some(v as u32),
                (8, Value::Bytes(t)) => out.mtime = Some(decode_mtime(t)?),
                (_, Value::Varint(_) | Value::Bytes(_) | Value::Fixed32(_) | Value::Fixed64(_))
                    if field > 8 => {}
                _ => return Err(PbError::Schema("UnixFS field has the wrong wire type")),
            }
        }
        out.kind = kind.ok_or(PbError::Schema("UnixFS data without a type"))?;
        Ok(out)
    }
}

/// The whole dag-pb block of a file leaf, built in one allocation (the import hot path):
/// `PBNode{Data: UnixFS{Type, Data: chunk, filesize}}`, byte-identical to encoding
/// [`UnixFsData::leaf`] inside a [`crate::dagpb::PbNode`].
pub fn leaf_node_bytes(kind: DataType, chunk: &[u8]) -> Vec<u8> {
    let len = chunk.len() as u64;
    let data_field = if chunk.is_empty() {
        0
    } else {
        1 + pb::varint_len(len) + chunk.len()
    };
    let inner = 2 + data_field + 1 + pb::varint_len(len);
    let mut out = Vec::with_capacity(1 + pb::varint_len(inner as u64) + inner);
    out.push(0x0a);
    pb::put_varint(&mut out, inner as u64);
    out.extend_from_slice(&[0x08, kind as u8]);
    if !chunk.is_empty() {
        out.push(0x12);
        pb::put_varint(&mut out, len);
        out.extend_from_slice(chunk);
    }
    out.push(0x18);
    pb::put_varint(&mut out, len);
    out
}

fn decode_mtime(bytes: &[u8]) -> Result<(i64, u32), PbError> {
    let mut secs = 0i64;
    let mut nanos = 0u32;
    let mut reader = pb::Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Varint(v)) => secs = v as i64,
            (2, Value::Fixed32(v)) => nanos = v,
            _ => {}
        }
    }
    Ok((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_leaf_has_filesize_zero_and_no_data() {
        assert_eq!(
            UnixFsData::leaf(DataType::File, b"").encode(),
            [0x08, 0x02, 0x18, 0x00]
        );
    }

    #[test]
    fn blocksizes_are_not_packed() {
        let mut d = UnixFsData::new(DataType::File);
        d.filesize = Some(300);
        d.blocksizes = vec![256, 44];
        let bytes = d.encode();
        assert_eq!(
            bytes,
            [0x08, 0x02, 0x18, 0xac, 0x02, 0x20, 0x80, 0x02, 0x20, 0x2c]
        );
        assert_eq!(UnixFsData::decode(&bytes).expect("valid"), d);
    }

    #[test]
    fn fast_leaf_encoding_equals_the_general_one() {
        for len in [0usize, 1, 127, 128, 262_144] {
            let chunk = vec![9u8; len];
            for kind in [DataType::File, DataType::Raw] {
                let general = crate::dagpb::PbNode {
                    links: Vec::new(),
                    data: Some(UnixFsData::leaf(kind, &chunk).encode()),
                }
                .encode();
                assert_eq!(leaf_node_bytes(kind, &chunk), general, "len {len}");
            }
        }
    }

    #[test]
    fn directory_is_two_bytes() {
        assert_eq!(UnixFsData::new(DataType::Directory).encode(), [0x08, 0x01]);
    }
}
