//! Storage challenges (D18): each report answers random questions about the data the previous
//! report committed to.
//!
//! A report commits to a files root: a Merkle tree over the held files sorted by CID, each
//! leaf binding the CID, the size, the root over the file's sealed blocks and their count
//! ([`file_leaf`]); each sealed block's leaf is the root over its 4 KiB pieces
//! ([`merkle::block_leaf`]). The next report is made in a later slot, whose first block's hash
//! nobody knew when the commitment was made; from it and the anchor the chain derives
//! [`FILE_CHALLENGES`] picks (a file, a block of it, a piece of that block) and the report must
//! carry, for each, the piece's bytes with the three inclusion proofs. The chain checks them
//! against the committed root and the file count it keeps itself. A worker that lost or never
//! kept the sealed data cannot answer; its report is refused, so it misses the slot, which
//! drops its replicas and zeroes its workload (D18's missed-report rule).
//!
//! What this proves: the worker holds the sealed bytes it committed to, now. Sealing with a
//! per-replica key makes two identities' bytes different, so one copy cannot answer for two.
//! That the committed bytes are an encryption of the file is vouched for by the attested
//! enclave that sealed them, not by the chain.

use super::{Anchor, Root, SworkError, WorkReportRecord};
use crust_primitives::Cid;
use crust_primitives::codec::max_items;
use crust_primitives::merkle::{self, Hash, PIECE_BYTES, Proof};
use sha2::{Digest, Sha256};

/// Files challenged per report (fewer when the worker holds fewer files).
pub const FILE_CHALLENGES: u64 = 2;

/// The most pieces a sealed block may have (a 4 MiB block).
pub const MAX_PIECES: u64 = 1024;

/// The answer to one challenge: a piece of a sealed block of a committed file, with its path
/// up to the files root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeAnswer {
    /// The file's CID.
    pub cid: Cid,
    /// Its size (as in the files-root leaf).
    pub size: u64,
    /// The root over its sealed blocks.
    pub sealed_root: Hash,
    /// How many sealed blocks it has.
    pub block_count: u64,
    /// The file's leaf in the files root.
    pub file_proof: Proof,
    /// The challenged block's piece count and the root over its pieces.
    pub piece_count: u64,
    /// Root over the challenged block's pieces.
    pub piece_root: Hash,
    /// The block's leaf in the file's sealed root.
    pub block_proof: Proof,
    /// The challenged piece's sealed bytes.
    pub piece: Vec<u8>,
    /// The piece's leaf under the block's piece root.
    pub piece_proof: Proof,
}
crust_primitives::impl_codec_struct!(ChallengeAnswer {
    cid,
    size,
    sealed_root,
    block_count,
    file_proof,
    piece_count,
    piece_root,
    block_proof,
    piece: max_items(PIECE_BYTES),
    piece_proof,
});

/// A file's leaf in a files root.
pub fn file_leaf(cid: &Cid, size: u64, sealed_root: &Hash, block_count: u64) -> Hash {
    let mut data = cid.to_bytes();
    data.extend_from_slice(&size.to_be_bytes());
    data.extend_from_slice(sealed_root);
    data.extend_from_slice(&block_count.to_be_bytes());
    merkle::leaf(&data)
}

/// One challenge: which file (by position in the CID-sorted list), and the raw picks for the
/// block and the piece (reduced modulo the counts the answer's file and block commit to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Position of the file in the committed, CID-sorted list.
    pub file: u64,
    /// Block pick (modulo the file's block count).
    pub block_pick: u64,
    /// Piece pick (modulo the block's piece count).
    pub piece_pick: u64,
}

impl Challenge {
    /// The block index for a file of `block_count` blocks.
    pub fn block(&self, block_count: u64) -> u64 {
        self.block_pick % block_count.max(1)
    }
    /// The piece index for a block of `piece_count` pieces.
    pub fn piece(&self, piece_count: u64) -> u64 {
        self.piece_pick % piece_count.max(1)
    }
}

/// The challenges for `anchor` in the slot whose first block hashes to `slot_hash`, over a
/// commitment of `files_count` files.
pub fn challenges(slot_hash: &Root, anchor: &Anchor, files_count: u64) -> Vec<Challenge> {
    if files_count == 0 {
        return Vec::new();
    }
    (0..FILE_CHALLENGES.min(files_count))
        .map(|n| {
            let mut h = Sha256::new();
            h.update(b"crust/challenge/v1");
            h.update(slot_hash);
            h.update(anchor);
            h.update(n.to_be_bytes());
            let d: [u8; 32] = h.finalize().into();
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[i * 8..i * 8 + 8]);
                u64::from_be_bytes(b)
            };
            Challenge {
                file: word(0) % files_count,
                block_pick: word(1),
                piece_pick: word(2),
            }
        })
        .collect()
}

/// Checks the answers to the challenges on `committed` for `anchor` in the slot `slot_hash`.
pub fn verify(
    committed: &WorkReportRecord,
    slot_hash: &Root,
    anchor: &Anchor,
    answers: &[ChallengeAnswer],
) -> Result<(), SworkError> {
    let asked = challenges(slot_hash, anchor, committed.files_count);
    if answers.len() != asked.len() {
        return Err(SworkError::ChallengeFailed {
            challenge: answers.len().min(asked.len()) as u64,
            why: "wrong number of challenge answers",
        });
    }
    for (n, (c, a)) in asked.iter().zip(answers).enumerate() {
        check(committed, c, a).map_err(|why| SworkError::ChallengeFailed {
            challenge: n as u64,
            why,
        })?;
    }
    Ok(())
}

fn check(
    committed: &WorkReportRecord,
    c: &Challenge,
    a: &ChallengeAnswer,
) -> Result<(), &'static str> {
    if a.file_proof.index != c.file {
        return Err("the answer is for another file");
    }
    let leaf = file_leaf(&a.cid, a.size, &a.sealed_root, a.block_count);
    if !merkle::verify(
        &committed.files_root,
        committed.files_count,
        &leaf,
        &a.file_proof,
    ) {
        return Err("the file is not in the committed files root");
    }
    if a.block_count == 0 || a.block_proof.index != c.block(a.block_count) {
        return Err("the answer is for another block");
    }
    let block = merkle::block_leaf_from(a.piece_count, &a.piece_root);
    if !merkle::verify(&a.sealed_root, a.block_count, &block, &a.block_proof) {
        return Err("the block is not in the file's sealed root");
    }
    if a.piece_count == 0
        || a.piece_count > MAX_PIECES
        || a.piece_proof.index != c.piece(a.piece_count)
    {
        return Err("the answer is for another piece");
    }
    if a.piece.is_empty()
        || !merkle::verify(
            &a.piece_root,
            a.piece_count,
            &merkle::leaf(&a.piece),
            &a.piece_proof,
        )
    {
        return Err("the piece does not match the block's piece root");
    }
    Ok(())
}
