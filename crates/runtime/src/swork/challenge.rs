//! Storage challenges (D18): what the chain asks a worker about the replicas it is paid for.
//!
//! **Which replicas.** The chain keeps each worker's proven replicas in a dense list
//! ([`crate::market::index`]); each report is asked about [`FILE_CHALLENGES`] positions of that
//! list, picked from the hash of the report slot's first block (nobody knew it when the
//! previous report was made) and the worker's anchor. A worker cannot steer the picks to files
//! it kept: the list is the chain's, not a list the worker declares.
//!
//! **Two proofs per picked replica.**
//! - *Content* (D29): one [`PIECE_BYTES`](crust_primitives::commitment::PIECE_BYTES) piece of
//!   the file's canonical serialization with its path to the order's content commitment.
//!   The chain checks it alone: the commitment was fixed by the order, and the piece index and
//!   piece count come from the chain, never from the prover.
//! - *Sealed replica* (D25): one 4 KiB piece of the worker's sealed copy, with its path through
//!   the block's piece root and the file's sealed root up to the files root the previous report
//!   committed to. That the sealed bytes encrypt the content, under a key no other identity
//!   has, is vouched for by the attested enclave, not by the chain: it is what keeps one
//!   plaintext copy from answering for two identities.
//!
//! **New replicas** (D30) earn nothing until they prove the content once: a reported replica
//! is pending; [`pending_piece`] picks a piece from the hash of the block that recorded it (after
//! the report, so unknown to the worker when it reported), and a `ProveReplicas` call answers
//! with [`PendingProof`]s. Unproven by its deadline, the replica is dropped.
//!
//! A wrong or missing answer refuses the report; a worker without an accepted report misses
//! the slot, which drops all its replicas and zeroes its workload (D18's missed-report rule).
//!
//! SRD is challenged the same way ([`verify_srd`]): one 4 KiB piece of one 1 MiB leaf of one
//! unit the previous report's SRD root committed to. Units are removed newest first (to make
//! room for files) and appended at the end, so only positions below both reports' unit counts
//! are asked about; the unit size is bound into each unit's leaf ([`srd_leaf`]). What SRD is
//! made of is vouched for by the enclave alone.

use super::{Anchor, Root, SworkError, WorkReportRecord};
use crate::market::{self, index};
use crate::state::State;
use crust_primitives::Cid;
use crust_primitives::codec::max_items;
use crust_primitives::commitment::{self, ContentCommitment};
use crust_primitives::merkle::{self, Hash, PIECE_BYTES, Proof};
use sha2::{Digest, Sha256};

/// Replicas challenged per report (fewer when the worker holds fewer proven replicas).
pub const FILE_CHALLENGES: u64 = 2;

/// Content pieces a pending replica proves before it earns (fewer for a file of fewer pieces):
/// a worker holding a fraction q of a file passes with probability q^4 (1/16 for half of it).
pub const PENDING_PIECES: u64 = 4;

/// Pending replicas one `ProveReplicas` call may prove (each proof is under 12.5 KiB).
pub const PROVE_BATCH: usize = 4;

/// The most pieces a sealed block may have (a 4 MiB block).
pub const MAX_PIECES: u64 = 1024;

/// A piece of a file's canonical serialization and its path to the order's commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentProof {
    /// The piece's bytes (the last piece may be short).
    pub piece: Vec<u8>,
    /// Its path to the commitment's root.
    pub proof: Proof,
}
crust_primitives::impl_codec_struct!(ContentProof {
    piece: max_items(commitment::PIECE_BYTES),
    proof,
});

/// A piece of a sealed block of a committed file, with its path up to the files root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedProof {
    /// The root over the file's sealed blocks.
    pub sealed_root: Hash,
    /// How many sealed blocks it has.
    pub block_count: u64,
    /// The file's leaf in the files root.
    pub file_proof: Proof,
    /// The challenged block's piece count.
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
crust_primitives::impl_codec_struct!(SealedProof {
    sealed_root,
    block_count,
    file_proof,
    piece_count,
    piece_root,
    block_proof,
    piece: max_items(PIECE_BYTES),
    piece_proof,
});

/// The answer to one challenge on a picked replica: both proofs for the file at the picked
/// position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeAnswer {
    /// The file's CID (must be the one at the picked position).
    pub cid: Cid,
    /// A piece of the ordered content.
    pub content: ContentProof,
    /// A piece of the sealed replica.
    pub sealed: SealedProof,
}
crust_primitives::impl_codec_struct!(ChallengeAnswer {
    cid,
    content,
    sealed
});

/// A pending replica's first proof (D30): the pieces [`pending_pieces`] names, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingProof {
    /// The file.
    pub cid: Cid,
    /// The pieces and their paths to the order's commitment.
    pub content: Vec<ContentProof>,
}
crust_primitives::impl_codec_struct!(PendingProof {
    cid,
    content: max_items(PENDING_PIECES as usize)
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

fn picks(domain: &[u8], slot_hash: &Root, anchor: &Anchor, n: u64) -> [u64; 4] {
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
    [word(0), word(1), word(2), word(3)]
}

/// The raw SRD picks for `anchor` in the slot `slot_hash`: (unit, leaf, piece), each reduced
/// modulo the counts (units below both reports', the unit's leaves, [`SRD_LEAF_PIECES`]).
pub fn srd_picks(slot_hash: &Root, anchor: &Anchor) -> [u64; 3] {
    let [unit, leaf, piece, _] = picks(b"crust/challenge/srd/v1", slot_hash, anchor, 0);
    [unit, leaf, piece]
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

/// One challenge: which replica (a position in the worker's proven list), and the raw picks
/// for the content piece, the sealed block and the sealed piece (reduced modulo the counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Position in the worker's list of proven replicas.
    pub position: u64,
    /// Content piece pick (modulo the commitment's piece count).
    pub content_pick: u64,
    /// Sealed block pick (modulo the file's sealed block count).
    pub block_pick: u64,
    /// Sealed piece pick (modulo the block's piece count).
    pub piece_pick: u64,
}

impl Challenge {
    /// The content piece for a commitment of `pieces` pieces.
    pub fn content_piece(&self, pieces: u64) -> u64 {
        self.content_pick % pieces.max(1)
    }
    /// The sealed block index for a file of `block_count` blocks.
    pub fn block(&self, block_count: u64) -> u64 {
        self.block_pick % block_count.max(1)
    }
    /// The sealed piece index for a block of `piece_count` pieces.
    pub fn piece(&self, piece_count: u64) -> u64 {
        self.piece_pick % piece_count.max(1)
    }
}

/// The challenges for `anchor` in the slot whose first block hashes to `slot_hash`, over a
/// worker holding `replica_count` proven replicas: distinct positions, as many as
/// [`FILE_CHALLENGES`] or the replicas allow.
pub fn challenges(slot_hash: &Root, anchor: &Anchor, replica_count: u64) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    for n in 0..FILE_CHALLENGES.min(replica_count) {
        let [position, content_pick, block_pick, piece_pick] =
            picks(b"crust/challenge/v2", slot_hash, anchor, n);
        let mut position = position % replica_count;
        while out.iter().any(|c| c.position == position) {
            position = (position + 1) % replica_count;
        }
        out.push(Challenge {
            position,
            content_pick,
            block_pick,
            piece_pick,
        });
    }
    out
}

/// The content pieces a pending replica of `cid` held by `anchor` must prove, for a
/// commitment of `pieces` pieces, from `seed` (the hash of the block that recorded the
/// replica): [`PENDING_PIECES`] distinct pieces, or all of a smaller file's.
pub fn pending_pieces(seed: &Root, anchor: &Anchor, cid: &Cid, pieces: u64) -> Vec<u64> {
    let mut h = Sha256::new();
    h.update(b"crust/challenge/pending/v1");
    h.update(seed);
    h.update(anchor);
    h.update(cid.to_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut out: Vec<u64> = Vec::new();
    let pieces = pieces.max(1);
    for word in d.chunks_exact(8).take(PENDING_PIECES.min(pieces) as usize) {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let mut i = u64::from_be_bytes(b) % pieces;
        while out.contains(&i) {
            i = (i + 1) % pieces;
        }
        out.push(i);
    }
    out
}

/// Checks a content proof for piece `index` against the order's commitment.
pub fn check_content(
    commitment: &ContentCommitment,
    index: u64,
    a: &ContentProof,
) -> Result<(), &'static str> {
    if a.proof.index != index {
        return Err("the content piece is another than the one asked for");
    }
    if !commitment::verify_piece(commitment, index, &a.piece, &a.proof) {
        return Err("the content piece does not match the order's commitment");
    }
    Ok(())
}

/// Checks a sealed-replica proof for `cid` of `size` bytes against the files root `committed`
/// to, for challenge `c`.
pub fn check_sealed(
    committed: &WorkReportRecord,
    cid: &Cid,
    size: u64,
    c: &Challenge,
    a: &SealedProof,
) -> Result<(), &'static str> {
    let leaf = file_leaf(cid, size, &a.sealed_root, a.block_count);
    if !merkle::verify(
        &committed.files_root,
        committed.files_count,
        &leaf,
        &a.file_proof,
    ) {
        return Err("the file is not in the committed files root");
    }
    if a.block_count == 0 || a.block_proof.index != c.block(a.block_count) {
        return Err("the answer is for another sealed block");
    }
    let block = merkle::block_leaf_from(a.piece_count, &a.piece_root);
    if !merkle::verify(&a.sealed_root, a.block_count, &block, &a.block_proof) {
        return Err("the block is not in the file's sealed root");
    }
    if a.piece_count == 0
        || a.piece_count > MAX_PIECES
        || a.piece_proof.index != c.piece(a.piece_count)
    {
        return Err("the answer is for another sealed piece");
    }
    if a.piece.is_empty()
        || !merkle::verify(
            &a.piece_root,
            a.piece_count,
            &merkle::leaf(&a.piece),
            &a.piece_proof,
        )
    {
        return Err("the sealed piece does not match the block's piece root");
    }
    Ok(())
}

/// Checks the answers to this slot's challenges on `anchor`'s proven replicas: the replicas
/// are read from the chain's list, their commitments and sizes from their orders, and the
/// sealed proofs go up to the files root of the previous report (`committed`).
pub fn verify(
    state: &impl State,
    committed: &WorkReportRecord,
    slot_hash: &Root,
    anchor: &Anchor,
    answers: &[ChallengeAnswer],
) -> Result<(), SworkError> {
    // A worker whose files root was reset (a missed slot, a group left) is asked nothing
    // about files until it commits to them again; its replicas are being purged meanwhile.
    let count = if committed.files_count == 0 {
        0
    } else {
        index::proven_count(state, anchor)?
    };
    let asked = challenges(slot_hash, anchor, count);
    if answers.len() != asked.len() {
        return Err(SworkError::ChallengeFailed {
            challenge: answers.len().min(asked.len()) as u64,
            why: "wrong number of challenge answers",
        });
    }
    for (n, (c, a)) in asked.iter().zip(answers).enumerate() {
        let fail = |why| SworkError::ChallengeFailed {
            challenge: n as u64,
            why,
        };
        let Some(replica) = index::proven_at(state, anchor, c.position)? else {
            return Err(fail("no replica at the picked position"));
        };
        if replica.cid != a.cid {
            return Err(fail("the answer is for another file"));
        }
        let Some(file) = market::file(state, &a.cid)? else {
            return Err(fail("the picked file has no order"));
        };
        check_content(
            &file.commitment,
            c.content_piece(file.commitment.pieces()),
            &a.content,
        )
        .map_err(fail)?;
        check_sealed(committed, &a.cid, file.file_size, c, &a.sealed).map_err(fail)?;
    }
    Ok(())
}
