//! CAR (Content Addressable aRchive) files: how DAGs move between IPFS implementations.
//!
//! Writes CARv1 (a dag-cbor header `{roots, version: 1}`, then `varint(len) ‖ cid ‖ data`
//! sections). Reads CARv1 and the CARv2 wrapper around it. The reader is streaming and bounded:
//! a header or section larger than the limits is an error before any allocation, and every
//! block is checked against its CID as it is read.

use crate::block::{self, Block, BlockError};
use crate::links::cbor_head;
use crate::pb;
use bytes::Bytes;
use crust_primitives::Cid;
use std::io::{self, Read};

/// Largest CAR header accepted.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// Largest section accepted (a 2 MiB block plus its CID).
pub const MAX_SECTION_BYTES: u64 = crate::dagpb::MAX_BLOCK_BYTES as u64 + 128;
const CARV2_PRAGMA: [u8; 11] = [
    0x0a, 0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02,
];

/// Why a CAR could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// Reading failed, or the stream ended inside a section.
    #[error("CAR I/O: {0}")]
    Io(#[from] io::Error),
    /// The header is not a CARv1/v2 header.
    #[error("bad CAR header: {0}")]
    Header(&'static str),
    /// A section is malformed.
    #[error("bad CAR section at byte {offset}: {reason}")]
    Section {
        /// Where the section starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A block does not match its CID.
    #[error("CAR block at byte {offset}: {source}")]
    Block {
        /// Where the section starts.
        offset: u64,
        /// The mismatch.
        source: BlockError,
    },
}

/// The CARv1 header for `roots`.
pub fn header(roots: &[Cid]) -> Vec<u8> {
    // Canonical dag-cbor: map keys sorted by length, so "roots" before "version".
    let mut cbor = vec![0xa2, 0x65];
    cbor.extend_from_slice(b"roots");
    cbor_len(&mut cbor, 4, roots.len() as u64);
    for root in roots {
        let bytes = root.to_bytes();
        cbor.extend_from_slice(&[0xd8, 42]);
        cbor_len(&mut cbor, 2, bytes.len() as u64 + 1);
        cbor.push(0);
        cbor.extend_from_slice(&bytes);
    }
    cbor.push(0x67);
    cbor.extend_from_slice(b"version");
    cbor.push(0x01);
    let mut out = Vec::with_capacity(cbor.len() + 2);
    pb::put_varint(&mut out, cbor.len() as u64);
    out.extend_from_slice(&cbor);
    out
}

fn cbor_len(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

/// One section's framing (`varint ‖ cid`); the block data follows it.
pub fn section_prefix(cid: &Cid, data_len: usize) -> Vec<u8> {
    let cid_bytes = cid.to_bytes();
    let mut out = Vec::with_capacity(cid_bytes.len() + 10);
    pb::put_varint(&mut out, (cid_bytes.len() + data_len) as u64);
    out.extend_from_slice(&cid_bytes);
    out
}

/// A streaming CAR reader.
pub struct CarReader<R> {
    reader: R,
    roots: Vec<Cid>,
    offset: u64,
    /// For CARv2: bytes of the inner CARv1 left to read.
    remaining: Option<u64>,
}

fn read_varint(
    reader: &mut (impl Read + ?Sized),
    offset: &mut u64,
) -> Result<Option<u64>, CarError> {
    let mut buf = [0u8; 10];
    for i in 0..10 {
        match reader.read(&mut buf[i..=i])? {
            0 if i == 0 => return Ok(None),
            0 => return Err(CarError::Io(io::ErrorKind::UnexpectedEof.into())),
            _ => {}
        }
        *offset += 1;
        if buf[i] & 0x80 == 0 {
            let (v, _) = pb::read_varint(&buf[..=i]).map_err(|_| CarError::Header("bad varint"))?;
            return Ok(Some(v));
        }
    }
    Err(CarError::Header("varint longer than 10 bytes"))
}

impl<R: Read> CarReader<R> {
    /// Reads the header.
    pub fn new(mut reader: R) -> Result<Self, CarError> {
        let mut offset = 0;
        let head = read_header_bytes(&mut reader, &mut offset)?;
        if head == CARV2_PRAGMA[1..] {
            // CARv2: characteristics(16) ‖ data offset ‖ data size ‖ index offset, all u64 LE.
            let mut v2 = [0u8; 40];
            reader.read_exact(&mut v2)?;
            offset += 40;
            let data_offset = u64::from_le_bytes(v2[16..24].try_into().unwrap_or_default());
            let data_size = u64::from_le_bytes(v2[24..32].try_into().unwrap_or_default());
            let skip = data_offset
                .checked_sub(offset)
                .ok_or(CarError::Header("CARv2 data offset inside the header"))?;
            io::copy(&mut (&mut reader).take(skip), &mut io::sink())?;
            let mut inner_offset = 0;
            let inner = read_header_bytes(&mut (&mut reader).take(data_size), &mut inner_offset)?;
            let roots = parse_header(&inner)?;
            return Ok(Self {
                reader,
                roots,
                offset: data_offset + inner_offset,
                remaining: Some(data_size.saturating_sub(inner_offset)),
            });
        }
        let roots = parse_header(&head)?;
        Ok(Self {
            reader,
            roots,
            offset,
            remaining: None,
        })
    }

    /// The header's roots.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The next block, verified; `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Block>, CarError> {
        if self.remaining == Some(0) {
            return Ok(None);
        }
        let start = self.offset;
        let section_err = |reason: &str| CarError::Section {
            offset: start,
            reason: reason.to_owned(),
        };
        let Some(len) = read_varint(&mut self.reader, &mut self.offset)? else {
            return Ok(None);
        };
        if len == 0 || len > MAX_SECTION_BYTES {
            return Err(section_err("section length out of bounds"));
        }
        let mut section = vec![0u8; len as usize];
        self.reader
            .read_exact(&mut section)
            .map_err(|_| section_err("stream ends inside the section"))?;
        self.offset += len;
        if let Some(rem) = &mut self.remaining {
            *rem = rem.saturating_sub(self.offset - start);
        }
        let cid_len =
            cid_length(&section).ok_or_else(|| section_err("section does not start with a CID"))?;
        let cid = Cid::from_bytes(&section[..cid_len]).map_err(|e| section_err(&e.to_string()))?;
        let data = Bytes::from(section).slice(cid_len..);
        block::verify(&cid, &data).map_err(|source| CarError::Block {
            offset: start,
            source,
        })?;
        Ok(Some(Block { cid, data }))
    }
}

fn read_header_bytes(reader: &mut dyn Read, offset: &mut u64) -> Result<Vec<u8>, CarError> {
    let len = read_varint(reader, offset)?.ok_or(CarError::Header("empty input"))?;
    if len == 0 || len > MAX_HEADER_BYTES {
        return Err(CarError::Header("header length out of bounds"));
    }
    let mut head = vec![0u8; len as usize];
    reader.read_exact(&mut head)?;
    *offset += len;
    Ok(head)
}

/// Length of the binary CID at the front of `bytes`.
fn cid_length(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 34 && bytes[0] == 0x12 && bytes[1] == 0x20 {
        return Some(34);
    }
    let (version, a) = pb::read_varint(bytes).ok()?;
    if version != 1 {
        return None;
    }
    let (_, b) = pb::read_varint(&bytes[a..]).ok()?;
    let (_, c) = pb::read_varint(&bytes[a + b..]).ok()?;
    let (digest_len, d) = pb::read_varint(&bytes[a + b + c..]).ok()?;
    let total = (a + b + c + d).checked_add(usize::try_from(digest_len).ok()?)?;
    (total <= bytes.len()).then_some(total)
}

fn parse_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let mut pos = 0;
    let (major, entries) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
    if major != 5 || entries > 8 {
        return Err(CarError::Header("header is not a small map"));
    }
    let mut roots = Vec::new();
    let mut version = None;
    for _ in 0..entries {
        let (m, n) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
        let key = crate::links::cbor_take(bytes, &mut pos, n)
            .filter(|_| m == 3)
            .ok_or(CarError::Header("bad header key"))?;
        match key {
            b"version" => {
                let (m, v) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
                if m != 0 {
                    return Err(CarError::Header("version is not an integer"));
                }
                version = Some(v);
            }
            b"roots" => {
                let (m, count) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
                if m != 4 || count > (bytes.len() as u64) {
                    return Err(CarError::Header("roots is not an array"));
                }
                for _ in 0..count {
                    let (t, tag) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
                    let (m, len) = cbor_head(bytes, &mut pos).map_err(CarError::Header)?;
                    let raw = crate::links::cbor_take(bytes, &mut pos, len)
                        .filter(|r| t == 6 && tag == 42 && m == 2 && r.first() == Some(&0))
                        .ok_or(CarError::Header("root is not a CID link"))?;
                    roots.push(
                        Cid::from_bytes(&raw[1..])
                            .map_err(|_| CarError::Header("root is not a valid CID"))?,
                    );
                }
            }
            _ => return Err(CarError::Header("unknown header key")),
        }
    }
    match version {
        Some(1) => Ok(roots),
        Some(_) => Err(CarError::Header("unsupported CAR version")),
        None => Err(CarError::Header("header has no version")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let root: Cid = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
            .parse()
            .expect("cid");
        let mut car = header(&[root]);
        let b = Block::raw(b"x".to_vec());
        car.extend_from_slice(&section_prefix(&b.cid, 1));
        car.extend_from_slice(b"x");
        let mut r = CarReader::new(&car[..]).expect("header");
        assert_eq!(r.roots(), &[root]);
        assert_eq!(r.next_block().expect("block"), Some(b));
        assert!(r.next_block().expect("end").is_none());
    }

    #[test]
    fn hostile_lengths_fail_cleanly() {
        // Header claiming 2^40 bytes.
        assert!(CarReader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20][..]).is_err());
        let mut car = header(&[]);
        car.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        let mut r = CarReader::new(&car[..]).expect("header");
        assert!(matches!(r.next_block(), Err(CarError::Section { .. })));
    }

    #[test]
    fn huge_cbor_lengths_in_the_header_fail_cleanly() {
        // Fuzz finding (read_car): a header key length near u64::MAX overflowed `pos + n`.
        let input = [
            0x0b, 0xa1, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x53, 0x34, 0xfb, 0xff, 0xff, 0xff, 0x65, 0xc8,
            0x00, 0x00,
        ];
        assert!(CarReader::new(&input[..]).is_err());
    }

    #[test]
    fn a_section_cid_with_a_huge_digest_length_fails_cleanly() {
        // Fuzz finding (read_car): digest length near u64::MAX overflowed the CID length sum.
        let mut car = header(&[]);
        let section = [
            0x01, 0x55, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
        ];
        car.push(section.len() as u8);
        car.extend_from_slice(&section);
        let mut reader = CarReader::new(&car[..]).expect("header");
        assert!(reader.next_block().is_err());
    }

    #[test]
    fn a_tampered_block_is_rejected() {
        let b = Block::raw(b"abc".to_vec());
        let mut car = header(&[b.cid]);
        car.extend_from_slice(&section_prefix(&b.cid, 3));
        car.extend_from_slice(b"abd");
        let mut r = CarReader::new(&car[..]).expect("header");
        assert!(matches!(r.next_block(), Err(CarError::Block { .. })));
    }
}

/// What a CAR import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarImport {
    /// The header's roots.
    pub roots: Vec<Cid>,
    /// Blocks read (including ones already stored).
    pub blocks: u64,
    /// Bytes of block data read.
    pub bytes: u64,
}

/// Reads a whole CAR into `sink`, verifying every block. Nothing is pinned here: the caller
/// decides (a CAR may legitimately be partial, so pinning its roots can fail).
pub fn import(
    reader: impl Read,
    sink: &mut dyn crate::importer::BlockSink,
) -> Result<CarImport, CarError> {
    let mut car = CarReader::new(reader)?;
    let mut out = CarImport {
        roots: car.roots().to_vec(),
        blocks: 0,
        bytes: 0,
    };
    while let Some(block) = car.next_block()? {
        out.blocks += 1;
        out.bytes += block.data.len() as u64;
        sink.put(block)?;
    }
    Ok(out)
}

/// Writes the whole DAG under `root` as a CARv1 (DFS, no duplicates, identity blocks left out).
pub fn export(
    store: &dyn crate::blockstore::Blockstore,
    root: Cid,
    out: &mut impl io::Write,
) -> Result<u64, crate::exporter::ExportError> {
    let blocks = crate::exporter::select(store, root, crate::exporter::Scope::All)?;
    let io_err = |e: io::Error| crate::exporter::ExportError::Store(e.into());
    out.write_all(&header(&[root])).map_err(io_err)?;
    let mut written = 0;
    for cid in blocks {
        if block::identity_data(&cid).is_some() {
            continue;
        }
        let data = store
            .get(&cid)?
            .ok_or(crate::exporter::ExportError::Missing(cid))?;
        out.write_all(&section_prefix(&cid, data.len()))
            .map_err(io_err)?;
        out.write_all(&data).map_err(io_err)?;
        written += 1;
    }
    Ok(written)
}
