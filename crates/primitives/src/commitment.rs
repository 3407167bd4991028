//! Content commitments (D29): what an order commits to, so the chain alone can check that a
//! storage worker holds the ordered content.
//!
//! A commitment is the [`merkle`] root over the fixed-size pieces ([`PIECE_BYTES`]) of one
//! canonical byte serialization of the file's DAG, with that serialization's length. The
//! serialization is the canonical CARv1 (one root; blocks in depth-first order, each once;
//! identity blocks left out) — Filecoin's choice for its piece commitment — so it covers files,
//! directories and any codec, and anyone holding the DAG computes the same bytes
//! (`crust_ipfs::commitment` computes it from a blockstore). The last piece may be short; it is
//! hashed as it is, without padding, and the size fixes the piece count, which the verifier
//! takes from the order, never from the prover.
//!
//! A challenge names a piece; the answer is the piece's bytes and a [`merkle::Proof`], checked
//! with [`verify_piece`] in a few microseconds. A worker keeps only the tree's nodes at
//! [`CAP_HEIGHT`] (32 bytes per 1 MiB of content) and rebuilds one 1 MiB subtree to answer
//! ([`merkle::join`]).

use crate::merkle::{self, Hash, Proof};

/// Bytes per piece: what a challenge answer reveals. 2 KiB keeps the commitment above 90% of
/// raw SHA-256 speed (each piece costs one leaf hash; every two pieces add one 65-byte node)
/// while an answer for a 1 TiB file stays under 3 KiB (the piece and 29 sibling hashes).
pub const PIECE_BYTES: usize = 2048;

/// Height of the nodes a prover keeps: each covers 2^9 pieces (1 MiB of content).
pub const CAP_HEIGHT: u32 = 9;

/// An order's content commitment: the root over the canonical serialization's pieces and its
/// length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentCommitment {
    /// The Merkle root over the pieces.
    pub root: Hash,
    /// Length of the canonical serialization, in bytes.
    pub size: u64,
}

crate::impl_codec_struct!(ContentCommitment { root, size });

impl serde::Serialize for ContentCommitment {
    /// `{"root": "0x…", "size": n}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("ContentCommitment", 2)?;
        s.serialize_field("root", &format!("0x{}", crate::account::to_hex(&self.root)))?;
        s.serialize_field("size", &self.size)?;
        s.end()
    }
}

impl<'de> serde::Deserialize<'de> for ContentCommitment {
    /// The form [`serde::Serialize`] writes: `{"root": "0x…", "size": n}`.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            root: String,
            size: u64,
        }
        let w = Wire::deserialize(deserializer)?;
        let root = crate::account::from_hex(&w.root)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| serde::de::Error::custom("root: expected 32 hex bytes"))?;
        Ok(Self { root, size: w.size })
    }
}

impl std::str::FromStr for ContentCommitment {
    type Err = String;
    /// `0x<64 hex>:<size>`, as `crust ipfs commitment` prints it.
    fn from_str(text: &str) -> Result<Self, String> {
        let (root, size) = text
            .split_once(':')
            .ok_or_else(|| format!("'{text}' is not ROOT:SIZE"))?;
        let hex = root.strip_prefix("0x").unwrap_or(root);
        let bytes = crate::account::from_hex(hex)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| format!("'{root}' is not 32 bytes of hex"))?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        let size = size
            .parse()
            .map_err(|_| format!("'{size}' is not a byte count"))?;
        Ok(Self { root: out, size })
    }
}

impl ContentCommitment {
    /// Number of pieces (the last one may be short).
    pub fn pieces(&self) -> u64 {
        self.size.div_ceil(PIECE_BYTES as u64)
    }

    /// Length of piece `index`, or `None` past the end.
    pub fn piece_len(&self, index: u64) -> Option<usize> {
        let start = index.checked_mul(PIECE_BYTES as u64)?;
        if start >= self.size {
            return None;
        }
        Some((self.size - start).min(PIECE_BYTES as u64) as usize)
    }
}

/// Computes a commitment from bytes that arrive in any slicing, in O(log n) memory.
#[derive(Clone, Debug)]
pub struct Committer {
    tree: merkle::Builder,
    partial: Vec<u8>,
    size: u64,
}

impl Default for Committer {
    fn default() -> Self {
        Self::new()
    }
}

impl Committer {
    /// An empty committer.
    pub fn new() -> Self {
        Self::with_tree(merkle::Builder::new())
    }

    /// A committer that also keeps the nodes at [`CAP_HEIGHT`], for a prover.
    pub fn with_caps() -> Self {
        Self::with_tree(merkle::Builder::with_cap(CAP_HEIGHT))
    }

    fn with_tree(tree: merkle::Builder) -> Self {
        Self {
            tree,
            partial: Vec::with_capacity(PIECE_BYTES),
            size: 0,
        }
    }

    /// Bytes taken so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the serialization.
    pub fn update(&mut self, mut data: &[u8]) {
        self.size = self.size.saturating_add(data.len() as u64);
        if !self.partial.is_empty() {
            let take = (PIECE_BYTES - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < PIECE_BYTES {
                return;
            }
            self.tree.push(merkle::leaf(&self.partial));
            self.partial.clear();
        }
        let mut pieces = data.chunks_exact(PIECE_BYTES);
        for piece in pieces.by_ref() {
            self.tree.push(merkle::leaf(piece));
        }
        self.partial.extend_from_slice(pieces.remainder());
    }

    fn flush(&mut self) {
        if !self.partial.is_empty() {
            self.tree.push(merkle::leaf(&self.partial));
            self.partial.clear();
        }
    }

    /// The commitment over everything taken.
    pub fn finish(mut self) -> ContentCommitment {
        self.flush();
        ContentCommitment {
            root: self.tree.finish(),
            size: self.size,
        }
    }

    /// The commitment and the nodes at [`CAP_HEIGHT`] (from a [`Committer::with_caps`]).
    pub fn finish_with_caps(mut self) -> (ContentCommitment, Vec<Hash>) {
        self.flush();
        let (root, caps) = self.tree.finish_with_cap();
        (
            ContentCommitment {
                root,
                size: self.size,
            },
            caps,
        )
    }
}

impl std::io::Write for Committer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The commitment over `data` in one call.
pub fn commit(data: &[u8]) -> ContentCommitment {
    let mut c = Committer::new();
    c.update(data);
    c.finish()
}

/// Whether `piece` is piece `index` of the content `commitment` commits to, by `proof`. The
/// piece must have exactly the length the commitment's size gives it. Never panics.
pub fn verify_piece(
    commitment: &ContentCommitment,
    index: u64,
    piece: &[u8],
    proof: &Proof,
) -> bool {
    commitment.piece_len(index) == Some(piece.len())
        && proof.index == index
        && merkle::verify(
            &commitment.root,
            commitment.pieces(),
            &merkle::leaf(piece),
            proof,
        )
}

/// The proof for piece `index`, from the [`CAP_HEIGHT`] nodes kept at commit time and the
/// bytes of the 1 MiB chunk (2^[`CAP_HEIGHT`] pieces) that holds the piece: what a worker
/// answers a challenge with, reading one chunk. `None` if the chunk's length does not fit the
/// commitment or the caps do not match it.
pub fn prove_piece(
    commitment: &ContentCommitment,
    caps: &[Hash],
    index: u64,
    chunk: &[u8],
) -> Option<Proof> {
    let span = 1u64 << CAP_HEIGHT;
    let chunk_index = index / span;
    let chunk_start = chunk_index.checked_mul(span * PIECE_BYTES as u64)?;
    let chunk_len = commitment
        .size
        .checked_sub(chunk_start)?
        .min(span * PIECE_BYTES as u64);
    if chunk.len() as u64 != chunk_len || caps.len() as u64 != commitment.pieces().div_ceil(span) {
        return None;
    }
    let leaves: Vec<Hash> = chunk.chunks(PIECE_BYTES).map(merkle::leaf).collect();
    let within = usize::try_from(index - chunk_index * span).ok()?;
    let lower = merkle::prove(&leaves, within)?;
    if merkle::root(&leaves) != *caps.get(usize::try_from(chunk_index).ok()?)? {
        return None;
    }
    let upper = merkle::prove(caps, usize::try_from(chunk_index).ok()?)?;
    merkle::join(index, commitment.pieces(), CAP_HEIGHT, &lower, &upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic test content: byte i is (i * 31 + i / 251) mod 256.
    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Test vectors, also produced by the independent Python reference in docs/commitment.md:
    /// other implementations (a browser client, another worker) must match them.
    #[test]
    fn vectors() {
        let cases: [(usize, &str); 5] = [
            (
                0,
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            (
                1,
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            ),
            (
                PIECE_BYTES,
                "298d04453a55de9d31193529f3eeeb510723f67fe5afbed55a904566df124f36",
            ),
            (
                3 * PIECE_BYTES + 5,
                "c9d895195f9487d3baf76012473de0310bc3b381fc992e2db4b4d855815d2073",
            ),
            (
                (1 << 20) + 3,
                "b65f28969390a81fc4f580135fe796f33e839ab0e1f56eb2cad9ee029e2b1e20",
            ),
        ];
        for (len, root) in cases {
            let c = commit(&content(len));
            assert_eq!(c.size, len as u64);
            assert_eq!(hex(&c.root), root, "length {len}");
        }
    }

    #[test]
    fn slicing_does_not_change_the_commitment() {
        let data = content(5 * PIECE_BYTES + 77);
        let whole = commit(&data);
        for step in [1usize, 7, 2047, 2048, 2049, 10_000] {
            let mut c = Committer::new();
            for part in data.chunks(step) {
                c.update(part);
            }
            assert_eq!(c.finish(), whole, "step {step}");
        }
    }

    #[test]
    fn every_piece_proves_and_nothing_else_does() {
        // Three chunks, the last one partial with a short last piece.
        let span = 1usize << CAP_HEIGHT;
        let len = 2 * span * PIECE_BYTES + 3 * PIECE_BYTES + 100;
        let data = content(len);
        let mut c = Committer::with_caps();
        c.update(&data);
        let (commitment, caps) = c.finish_with_caps();
        assert_eq!(commitment, commit(&data));
        assert_eq!(caps.len(), 3);
        let chunk_bytes = span * PIECE_BYTES;
        for index in (0..commitment.pieces())
            .step_by(97)
            .chain([commitment.pieces() - 1])
        {
            let i = index as usize;
            let chunk_start = i / span * chunk_bytes;
            let chunk = &data[chunk_start..(chunk_start + chunk_bytes).min(len)];
            let proof = prove_piece(&commitment, &caps, index, chunk).expect("proof");
            let piece = &data[i * PIECE_BYTES..((i + 1) * PIECE_BYTES).min(len)];
            assert!(verify_piece(&commitment, index, piece, &proof), "piece {i}");
            // Another piece's bytes, a truncated piece, a wrong index, a wrong size fail.
            let other = &data[((i + 1) % 5) * PIECE_BYTES..][..PIECE_BYTES];
            if other != piece {
                assert!(!verify_piece(&commitment, index, other, &proof));
            }
            assert!(!verify_piece(
                &commitment,
                index,
                &piece[..piece.len() - 1],
                &proof
            ));
            assert!(!verify_piece(&commitment, index + 1, piece, &proof));
            let bigger = ContentCommitment {
                size: commitment.size + PIECE_BYTES as u64,
                ..commitment
            };
            assert!(!verify_piece(&bigger, index, piece, &proof));
        }
        // A chunk of the wrong length or content gives no proof.
        assert!(prove_piece(&commitment, &caps, 0, &data[..chunk_bytes - 1]).is_none());
        let mut tampered = data[..chunk_bytes].to_vec();
        tampered[5] ^= 1;
        assert!(prove_piece(&commitment, &caps, 0, &tampered).is_none());
        assert!(prove_piece(&commitment, &caps, commitment.pieces(), &[]).is_none());
    }

    #[test]
    fn piece_lengths_follow_the_size() {
        let c = ContentCommitment {
            root: [0; 32],
            size: 2 * PIECE_BYTES as u64 + 1,
        };
        assert_eq!(c.pieces(), 3);
        assert_eq!(c.piece_len(0), Some(PIECE_BYTES));
        assert_eq!(c.piece_len(2), Some(1));
        assert_eq!(c.piece_len(3), None);
        assert_eq!(c.piece_len(u64::MAX), None);
        let empty = ContentCommitment {
            root: [0; 32],
            size: 0,
        };
        assert_eq!(empty.pieces(), 0);
        assert_eq!(empty.piece_len(0), None);
    }
}
