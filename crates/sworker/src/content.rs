//! What a worker keeps to prove the ordered content (D29) from its sealed replica: the
//! commitment, the Merkle nodes at [`CAP_HEIGHT`] (32 bytes per MiB) and where each block's
//! section starts in the canonical CAR. A proof rebuilds one 1 MiB chunk of the CAR from the
//! sealed blocks that overlap it (unsealed and checked against their CIDs) and joins its
//! subtree to the kept nodes ([`commitment::prove_piece`]).
//!
//! The index is computed once, from the fetched blocks, before sealing; the worker refuses the
//! file right there if its commitment is not the order's.

use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::{Cid, block, car, exporter};
use crust_primitives::commitment::{CAP_HEIGHT, Committer, ContentCommitment, PIECE_BYTES};
use crust_primitives::merkle::{self, Hash, Proof};
use std::io;
use std::path::Path;

/// Height, above the caps, of the second level of nodes kept.
pub const TOP_HEIGHT: u32 = 10;

/// One CAR section: the block's CID, where the section starts and its length (prefix and data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The block.
    pub cid: Cid,
    /// Offset of the section in the CAR.
    pub offset: u64,
    /// Length of the section (varint, CID and data).
    pub len: u64,
}

/// A file's content commitment with what proving pieces of it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentIndex {
    /// The commitment over the canonical CAR.
    pub commitment: ContentCommitment,
    /// The tree's nodes at [`CAP_HEIGHT`].
    pub caps: Vec<Hash>,
    /// The nodes [`TOP_HEIGHT`] levels above the caps, so a proof hashes 2^[`TOP_HEIGHT`] caps
    /// and not all of them (a 1 TiB file has 2^20 caps).
    pub top: Vec<Hash>,
    /// The CAR's sections in order.
    pub sections: Vec<Section>,
}

/// Why the index could not be built, read or used.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The DAG cannot be exported from the source.
    #[error(transparent)]
    Export(#[from] Box<exporter::ExportError>),
    /// Disk I/O.
    #[error("content index I/O: {0}")]
    Io(#[from] io::Error),
    /// The index file is damaged.
    #[error("content index is damaged: {0}")]
    Damaged(&'static str),
    /// A block needed for the piece is unavailable or damaged.
    #[error("block {0} of the CAR cannot be read: {1}")]
    Block(Cid, String),
    /// The rebuilt chunk does not match the kept nodes.
    #[error("piece {0} does not rebuild to the committed tree")]
    Mismatch(u64),
}

impl ContentIndex {
    /// Computes the index of the DAG under `root` from `source` (every block must be there).
    pub fn build(source: &dyn Blockstore, root: Cid) -> Result<Self, ContentError> {
        let order = exporter::select(source, root, exporter::Scope::All).map_err(Box::new)?;
        let mut committer = Committer::with_caps();
        let header = car::header(&[root]);
        committer.update(&header);
        let mut offset = header.len() as u64;
        let mut sections = Vec::with_capacity(order.len());
        for cid in order {
            if block::identity_data(&cid).is_some() {
                continue;
            }
            let data = source
                .get(&cid)
                .map_err(|e| Box::new(exporter::ExportError::from(e)))?
                .ok_or_else(|| Box::new(exporter::ExportError::Missing(cid)))?;
            let prefix = car::section_prefix(&cid, data.len());
            committer.update(&prefix);
            committer.update(&data);
            let len = (prefix.len() + data.len()) as u64;
            sections.push(Section { cid, offset, len });
            offset += len;
        }
        let (commitment, caps) = committer.finish_with_caps();
        let top = top_of(&caps);
        Ok(Self {
            commitment,
            caps,
            top,
            sections,
        })
    }

    /// The proof of piece `index`: its bytes and path, with `read` giving a block's data by
    /// CID (from the sealed replica) and `root` the file's root CID (for the CAR header).
    pub fn prove(
        &self,
        root: &Cid,
        index: u64,
        read: &dyn Fn(&Cid) -> Result<Vec<u8>, String>,
    ) -> Result<(Vec<u8>, Proof), ContentError> {
        let span = 1u64 << CAP_HEIGHT;
        let chunk_start = index / span * span * PIECE_BYTES as u64;
        let chunk_end = (chunk_start + span * PIECE_BYTES as u64).min(self.commitment.size);
        if chunk_start >= chunk_end {
            return Err(ContentError::Mismatch(index));
        }
        let mut chunk = Vec::with_capacity((chunk_end - chunk_start) as usize);
        let header = car::header(&[*root]);
        let copy = |chunk: &mut Vec<u8>, bytes: &[u8], at: u64| {
            let from = chunk_start.max(at);
            let to = chunk_end.min(at + bytes.len() as u64);
            if from < to {
                chunk.extend_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
            }
        };
        copy(&mut chunk, &header, 0);
        let first = self
            .sections
            .partition_point(|s| s.offset + s.len <= chunk_start);
        for s in self.sections[first..]
            .iter()
            .take_while(|s| s.offset < chunk_end)
        {
            let data = read(&s.cid).map_err(|e| ContentError::Block(s.cid, e))?;
            let mut section = car::section_prefix(&s.cid, data.len());
            section.extend_from_slice(&data);
            if section.len() as u64 != s.len {
                return Err(ContentError::Block(s.cid, "its length changed".into()));
            }
            copy(&mut chunk, &section, s.offset);
        }
        let proof = self
            .prove_in_chunk(index, &chunk)
            .ok_or(ContentError::Mismatch(index))?;
        let start = ((index * PIECE_BYTES as u64) - chunk_start) as usize;
        let end = (start + PIECE_BYTES).min(chunk.len());
        Ok((chunk[start..end].to_vec(), proof))
    }

    /// The path of piece `index` from the bytes of its 1 MiB chunk (`None` if they do not fit): within the chunk, then
    /// within its 2^[`TOP_HEIGHT`] caps, then over the kept top nodes. Each level is checked
    /// against the one above it.
    pub fn prove_in_chunk(&self, index: u64, chunk: &[u8]) -> Option<Proof> {
        let span = 1u64 << CAP_HEIGHT;
        let chunk_index = index / span;
        let leaves: Vec<Hash> = chunk.chunks(PIECE_BYTES).map(merkle::leaf).collect();
        let at = usize::try_from(chunk_index).ok()?;
        if merkle::root(&leaves) != *self.caps.get(at)? {
            return None;
        }
        let lower = merkle::prove(&leaves, usize::try_from(index - chunk_index * span).ok()?)?;
        let top_span = 1usize << TOP_HEIGHT;
        let group = at / top_span * top_span;
        let caps = self
            .caps
            .get(group..(group + top_span).min(self.caps.len()))?;
        if merkle::root(caps) != *self.top.get(at / top_span)? {
            return None;
        }
        let caps_lower = merkle::prove(caps, at - group)?;
        let caps_upper = merkle::prove(&self.top, at / top_span)?;
        let caps_proof = merkle::join(
            chunk_index,
            self.caps.len() as u64,
            TOP_HEIGHT,
            &caps_lower,
            &caps_upper,
        )?;
        merkle::join(
            index,
            self.commitment.pieces(),
            CAP_HEIGHT,
            &lower,
            &caps_proof,
        )
    }

    /// The binary form kept next to the sealed replica.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"crust-content-index/v1\n".to_vec();
        out.extend_from_slice(&self.commitment.root);
        out.extend_from_slice(&self.commitment.size.to_be_bytes());
        out.extend_from_slice(&(self.caps.len() as u64).to_be_bytes());
        for c in &self.caps {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&(self.top.len() as u64).to_be_bytes());
        for t in &self.top {
            out.extend_from_slice(t);
        }
        out.extend_from_slice(&(self.sections.len() as u64).to_be_bytes());
        for s in &self.sections {
            let cid = s.cid.to_bytes();
            out.push(cid.len() as u8);
            out.extend_from_slice(&cid);
            out.extend_from_slice(&s.offset.to_be_bytes());
            out.extend_from_slice(&s.len.to_be_bytes());
        }
        out
    }

    /// Reads [`Self::encode`]'s form back, checking its shape.
    pub fn decode(bytes: &[u8]) -> Result<Self, ContentError> {
        let mut r = Reader(bytes);
        if r.take(23)? != b"crust-content-index/v1\n" {
            return Err(ContentError::Damaged("not a content index"));
        }
        let root: Hash = r
            .take(32)?
            .try_into()
            .map_err(|_| ContentError::Damaged("root"))?;
        let size = r.u64()?;
        let commitment = ContentCommitment { root, size };
        let caps_len = r.u64()?;
        if caps_len != commitment.pieces().div_ceil(1 << CAP_HEIGHT) {
            return Err(ContentError::Damaged("cap count"));
        }
        let caps = r.hashes(caps_len)?;
        let top_len = r.u64()?;
        if top_len != caps_len.div_ceil(1 << TOP_HEIGHT) {
            return Err(ContentError::Damaged("top count"));
        }
        let top = r.hashes(top_len)?;
        let n = r.u64()?;
        let mut sections = Vec::new();
        for _ in 0..n {
            let len = r.take(1)?[0] as usize;
            let cid = Cid::from_bytes(r.take(len)?).map_err(|_| ContentError::Damaged("CID"))?;
            sections.push(Section {
                cid,
                offset: r.u64()?,
                len: r.u64()?,
            });
        }
        if !r.0.is_empty() {
            return Err(ContentError::Damaged("trailing bytes"));
        }
        if merkle::root(&top) != commitment.root && commitment.size > 0 {
            return Err(ContentError::Damaged("caps do not give the root"));
        }
        Ok(Self {
            commitment,
            caps,
            top,
            sections,
        })
    }

    /// Reads the index kept at `path`.
    pub fn load(path: &Path) -> Result<Self, ContentError> {
        Self::decode(&std::fs::read(path)?)
    }
}

/// The nodes [`TOP_HEIGHT`] levels above `caps`.
fn top_of(caps: &[Hash]) -> Vec<Hash> {
    let mut b = merkle::Builder::with_cap(TOP_HEIGHT);
    for c in caps {
        b.push(*c);
    }
    b.finish_with_cap().1
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ContentError> {
        if self.0.len() < n {
            return Err(ContentError::Damaged("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    /// `n` 32-byte hashes (the count is not trusted for the allocation).
    fn hashes(&mut self, n: u64) -> Result<Vec<Hash>, ContentError> {
        let mut out = Vec::with_capacity((n as usize).min(self.0.len() / 32));
        for _ in 0..n {
            let mut h = [0u8; 32];
            h.copy_from_slice(self.take(32)?);
            out.push(h);
        }
        Ok(out)
    }
    fn u64(&mut self) -> Result<u64, ContentError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

/// A block reader over a map, for tests and for proving from a plain blockstore.
pub fn reader(store: &dyn Blockstore) -> impl Fn(&Cid) -> Result<Vec<u8>, String> + '_ {
    move |cid| match store.get(cid) {
        Ok(Some(b)) => Ok(b.to_vec()),
        Ok(None) => Err("missing".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crust_ipfs::blockstore::{MemStore, StoreSink};
    use crust_ipfs::importer::{ImportOptions, import_file};
    use crust_primitives::commitment;

    #[test]
    fn proofs_from_the_index_verify_against_the_commitment_and_kubo_s_car() {
        let source = MemStore::default();
        // 3.3 MiB: several 1 MiB chunks, sections straddling chunk and piece boundaries.
        let data: Vec<u8> = (0..3_400_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let root = import_file(
            &data[..],
            &ImportOptions::default(),
            &mut StoreSink(&source),
            &mut |_| {},
        )
        .unwrap()
        .cid;
        let index = ContentIndex::build(&source, root).unwrap();
        assert_eq!(
            index.commitment,
            crust_ipfs::commitment::of_dag(&source, root).unwrap()
        );
        let mut car = Vec::new();
        car::export(&source, root, &mut car).unwrap();
        assert_eq!(car.len() as u64, index.commitment.size);
        let read = reader(&source);
        let pieces = index.commitment.pieces();
        for i in [0, 1, 511, 512, 513, 1000, pieces / 2, pieces - 1] {
            let (piece, proof) = index.prove(&root, i, &read).unwrap();
            let at = i as usize * PIECE_BYTES;
            assert_eq!(piece, car[at..(at + PIECE_BYTES).min(car.len())]);
            assert!(commitment::verify_piece(
                &index.commitment,
                i,
                &piece,
                &proof
            ));
        }
        assert!(index.prove(&root, pieces, &read).is_err());
        // The binary form round-trips; damage is caught.
        let bytes = index.encode();
        assert_eq!(ContentIndex::decode(&bytes).unwrap(), index);
        assert!(ContentIndex::decode(&bytes[..bytes.len() - 1]).is_err());
        // A block that changed underneath fails to rebuild its chunk.
        let bad = |cid: &Cid| -> Result<Vec<u8>, String> {
            let mut d = read(cid)?;
            d[0] ^= 1;
            Ok(d)
        };
        assert!(index.prove(&root, 700, &bad).is_err());
    }

    #[test]
    fn proofs_in_a_large_file_go_through_the_kept_top_nodes() {
        // 3 000 chunks (three groups of 1 024 caps under the top nodes); only chunk 2 500 has
        // real bytes, the other caps are stand-ins: a proof reads one chunk and 1 024 caps.
        let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let leaves: Vec<Hash> = chunk.chunks(PIECE_BYTES).map(merkle::leaf).collect();
        let mut caps: Vec<Hash> = (0..3000u32)
            .map(|i| merkle::leaf(&i.to_be_bytes()))
            .collect();
        caps[2500] = merkle::root(&leaves);
        let size = 3000u64 << 20;
        let index = ContentIndex {
            commitment: ContentCommitment {
                root: merkle::root(&caps),
                size,
            },
            top: top_of(&caps),
            caps,
            sections: Vec::new(),
        };
        assert_eq!(index.top.len(), 3);
        for piece in [2500 * 512, 2500 * 512 + 77, 2501 * 512 - 1] {
            let proof = index.prove_in_chunk(piece, &chunk).expect("proof");
            let at = (piece - 2500 * 512) as usize * PIECE_BYTES;
            assert!(crust_primitives::commitment::verify_piece(
                &index.commitment,
                piece,
                &chunk[at..at + PIECE_BYTES],
                &proof
            ));
        }
        // Bytes of another chunk do not fit.
        assert!(index.prove_in_chunk(10 * 512, &chunk).is_none());
        let bytes = index.encode();
        assert_eq!(ContentIndex::decode(&bytes).unwrap(), index);
    }
}
