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
//! SRD is challenged the same way ([`verify_srd`]): one 4 KiB piece of one 1 MiB leaf of one
//! unit the previous report's SRD root committed to. Units are removed newest first (to make
//! room for files) and appended at the end, so only positions below both reports' unit counts
//! are asked about; the unit size is bound into each unit's leaf ([`srd_leaf`]).
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

/// SRD challenged per report (none when either report holds no SRD).
pub const SRD_CHALLENGES: u64 = 1;

/// Bytes of one SRD leaf (a unit is a whole number of them).
pub const SRD_LEAF_BYTES: u64 = 1 << 20;

/// Pieces in one SRD leaf.
pub const SRD_LEAF_PIECES: u64 = SRD_LEAF_BYTES / PIECE_BYTES as u64;

/// The most leaves an SRD unit may have (a 1 TiB unit).
pub const MAX_SRD_UNIT_LEAVES: u32 = 1 << 20;

/// The answer to an SRD challenge: a piece of a leaf of a committed unit, with its path up to
/// the SRD root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrdAnswer {
    /// The unit's number.
    pub unit_id: u64,
    /// Leaves per unit (the worker's unit size in MiB).
    pub unit_leaves: u32,
    /// The root over the unit's leaves.
    pub unit_root: Hash,
    /// The unit's leaf in the SRD root.
    pub unit_proof: Proof,
    /// Root over the challenged leaf's pieces.
    pub piece_root: Hash,
    /// The leaf's place in the unit root.
    pub leaf_proof: Proof,
    /// The challenged piece.
    pub piece: Vec<u8>,
    /// The piece's leaf under the piece root.
    pub piece_proof: Proof,
}
crust_primitives::impl_codec_struct!(SrdAnswer {
    unit_id,
    unit_leaves,
    unit_root,
    unit_proof,
    piece_root,
    leaf_proof,
    piece: max_items(PIECE_BYTES),
    piece_proof,
});

/// A unit's leaf in an SRD root: its number, its leaf count and its root.
pub fn srd_leaf(unit_id: u64, unit_leaves: u32, unit_root: &Hash) -> Hash {
    let mut data = unit_id.to_be_bytes().to_vec();
    data.extend_from_slice(&unit_leaves.to_be_bytes());
    data.extend_from_slice(unit_root);
    merkle::leaf(&data)
}

fn picks(domain: &[u8], slot_hash: &Root, anchor: &Anchor, n: u64) -> [u64; 3] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(slot_hash);
    h.update(anchor);
    h.update(n.to_be_bytes());
    let d: [u8; 32] = h.finalize().into();
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[i * 8..i * 8 + 8]);
        u64::from_be_bytes(b)
    };
    [word(0), word(1), word(2)]
}

/// The raw SRD picks for `anchor` in the slot `slot_hash`: (unit, leaf, piece), each reduced
/// modulo the counts (units below both reports', the unit's leaves, [`SRD_LEAF_PIECES`]).
pub fn srd_picks(slot_hash: &Root, anchor: &Anchor) -> [u64; 3] {
    picks(b"crust/challenge/srd/v1", slot_hash, anchor, 0)
}

/// How many SRD challenges a report of `srd_size` bytes answers on a previous one of
/// `committed_srd` bytes.
pub fn srd_challenge_count(committed_srd: u64, srd_size: u64) -> u64 {
    if committed_srd == 0 || srd_size == 0 {
        0
    } else {
        SRD_CHALLENGES
    }
}

/// Checks the SRD answers of a report of `srd_size` bytes on the SRD `committed` to before.
pub fn verify_srd(
    committed: &WorkReportRecord,
    srd_size: u64,
    slot_hash: &Root,
    anchor: &Anchor,
    answers: &[SrdAnswer],
) -> Result<(), SworkError> {
    let fail = |why| SworkError::ChallengeFailed {
        challenge: FILE_CHALLENGES,
        why,
    };
    let asked = srd_challenge_count(committed.free, srd_size);
    if answers.len() as u64 != asked {
        return Err(fail("wrong number of SRD challenge answers"));
    }
    let Some(a) = answers.first() else {
        return Ok(());
    };
    if a.unit_leaves == 0 || a.unit_leaves > MAX_SRD_UNIT_LEAVES {
        return Err(fail("SRD unit size out of range"));
    }
    let unit_bytes = u64::from(a.unit_leaves) * SRD_LEAF_BYTES;
    if !committed.free.is_multiple_of(unit_bytes) || !srd_size.is_multiple_of(unit_bytes) {
        return Err(fail("SRD sizes are not whole units of the answer's size"));
    }
    let committed_units = committed.free / unit_bytes;
    let [unit_pick, leaf_pick, piece_pick] = srd_picks(slot_hash, anchor);
    let unit = unit_pick % committed_units.min(srd_size / unit_bytes);
    if a.unit_proof.index != unit {
        return Err(fail("the answer is for another SRD unit"));
    }
    let leaf = srd_leaf(a.unit_id, a.unit_leaves, &a.unit_root);
    if !merkle::verify(&committed.srd_root, committed_units, &leaf, &a.unit_proof) {
        return Err(fail("the unit is not in the committed SRD root"));
    }
    if a.leaf_proof.index != leaf_pick % u64::from(a.unit_leaves) {
        return Err(fail("the answer is for another SRD leaf"));
    }
    let block = merkle::block_leaf_from(SRD_LEAF_PIECES, &a.piece_root);
    if !merkle::verify(
        &a.unit_root,
        u64::from(a.unit_leaves),
        &block,
        &a.leaf_proof,
    ) {
        return Err(fail("the leaf is not in the unit's root"));
    }
    if a.piece_proof.index != piece_pick % SRD_LEAF_PIECES {
        return Err(fail("the answer is for another SRD piece"));
    }
    if a.piece.len() != PIECE_BYTES
        || !merkle::verify(
            &a.piece_root,
            SRD_LEAF_PIECES,
            &merkle::leaf(&a.piece),
            &a.piece_proof,
        )
    {
        return Err(fail("the piece does not match the SRD leaf"));
    }
    Ok(())
}

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
            let [file, block_pick, piece_pick] = picks(b"crust/challenge/v1", slot_hash, anchor, n);
            Challenge {
                file: file % files_count,
                block_pick,
                piece_pick,
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
