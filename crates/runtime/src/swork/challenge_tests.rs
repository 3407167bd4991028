//! Storage challenges (D18) over real Merkle trees: honest answers pass, every kind of lie
//! fails, and `report_works` refuses a report whose answers are missing or wrong.

use super::challenge::*;
use super::*;
use crate::testing::*;
use crust_primitives::merkle::{self, Hash, PIECE_BYTES};
use crust_primitives::{Cid, Keypair};

/// Sealed bytes a worker holds: files sorted by CID, each a list of sealed blocks.
struct Held {
    files: Vec<(Cid, u64, Vec<Vec<u8>>)>,
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

impl Held {
    /// Files of 1, 3 and 5 blocks of mixed sizes (a block smaller than a piece, one of
    /// exactly one piece, several spanning many pieces).
    fn new() -> Self {
        let mut files: Vec<(Cid, u64, Vec<Vec<u8>>)> = [
            (cid_n(1), vec![bytes(100, 1)]),
            (
                cid_n(2),
                vec![bytes(PIECE_BYTES, 2), bytes(262_160, 3), bytes(5_000, 4)],
            ),
            (
                cid_n(3),
                (0..5)
                    .map(|i| bytes(70_000 + i * 999, 5 + i as u8))
                    .collect(),
            ),
        ]
        .into_iter()
        .map(|(cid, blocks)| {
            let size = blocks.iter().map(|b| b.len() as u64 - 16).sum();
            (cid, size, blocks)
        })
        .collect();
        files.sort_by_key(|f| f.0.to_bytes());
        Self { files }
    }

    fn sealed_root(blocks: &[Vec<u8>]) -> Hash {
        merkle::root(
            &blocks
                .iter()
                .map(|b| merkle::block_leaf(b))
                .collect::<Vec<_>>(),
        )
    }

    fn leaves(&self) -> Vec<Hash> {
        self.files
            .iter()
            .map(|(cid, size, blocks)| {
                file_leaf(cid, *size, &Self::sealed_root(blocks), blocks.len() as u64)
            })
            .collect()
    }

    fn record(&self) -> WorkReportRecord {
        WorkReportRecord {
            files_root: merkle::root(&self.leaves()),
            files_count: self.files.len() as u64,
            ..WorkReportRecord::default()
        }
    }

    fn answer(&self, c: &Challenge) -> ChallengeAnswer {
        let (cid, size, blocks) = &self.files[c.file as usize];
        let block_leaves: Vec<Hash> = blocks.iter().map(|b| merkle::block_leaf(b)).collect();
        let b = c.block(blocks.len() as u64) as usize;
        let sealed = &blocks[b];
        let pieces = merkle::piece_leaves(sealed);
        let p = c.piece(pieces.len() as u64) as usize;
        ChallengeAnswer {
            cid: *cid,
            size: *size,
            sealed_root: merkle::root(&block_leaves),
            block_count: blocks.len() as u64,
            file_proof: merkle::prove(&self.leaves(), c.file as usize).unwrap(),
            piece_count: pieces.len() as u64,
            piece_root: merkle::root(&pieces),
            block_proof: merkle::prove(&block_leaves, b).unwrap(),
            piece: sealed[p * PIECE_BYTES..((p + 1) * PIECE_BYTES).min(sealed.len())].to_vec(),
            piece_proof: merkle::prove(&pieces, p).unwrap(),
        }
    }

    fn answers(&self, slot_hash: &Root, anchor: &Anchor) -> Vec<ChallengeAnswer> {
        challenges(slot_hash, anchor, self.files.len() as u64)
            .iter()
            .map(|c| self.answer(c))
            .collect()
    }
}

const ANCHOR: Anchor = [0xa7; 32];

#[test]
fn honest_answers_pass_for_many_seeds_and_picks_spread() {
    let held = Held::new();
    let record = held.record();
    let mut files_hit = [0u32; 3];
    for n in 0u8..=200 {
        let seed = [n; 32];
        let asked = challenges(&seed, &ANCHOR, 3);
        assert_eq!(asked.len(), FILE_CHALLENGES as usize);
        for c in &asked {
            files_hit[c.file as usize] += 1;
        }
        let answers = held.answers(&seed, &ANCHOR);
        verify(&record, &seed, &ANCHOR, &answers).unwrap();
        // The picks depend on the anchor: another identity's answers do not fit.
        let other = held.answers(&seed, &[0x11; 32]);
        if other != answers {
            assert!(verify(&record, &seed, &ANCHOR, &other).is_err());
        }
    }
    assert!(files_hit.iter().all(|&h| h > 60), "{files_hit:?}");
    // One file: one challenge; none: nothing to answer.
    assert_eq!(challenges(&[1; 32], &ANCHOR, 1).len(), 1);
    assert!(challenges(&[1; 32], &ANCHOR, 0).is_empty());
    verify(&WorkReportRecord::default(), &[1; 32], &ANCHOR, &[]).unwrap();
}

fn fails(record: &WorkReportRecord, seed: &Root, answers: &[ChallengeAnswer]) -> &'static str {
    match verify(record, seed, &ANCHOR, answers) {
        Err(SworkError::ChallengeFailed { why, .. }) => why,
        other => panic!("expected a failed challenge, got {other:?}"),
    }
}

#[test]
fn every_kind_of_wrong_answer_fails() {
    let held = Held::new();
    let record = held.record();
    let seed = [9; 32];
    let good = held.answers(&seed, &ANCHOR);
    verify(&record, &seed, &ANCHOR, &good).unwrap();

    assert_eq!(
        fails(&record, &seed, &good[..1]),
        "wrong number of challenge answers"
    );
    // A flipped bit in the revealed piece.
    let mut a = good.clone();
    a[0].piece[0] ^= 1;
    assert!(fails(&record, &seed, &a).contains("piece"));
    // A piece that is all there but from another position.
    let mut a = good.clone();
    let asked = challenges(&seed, &ANCHOR, 3);
    let mut other = asked[0];
    other.piece_pick = other.piece_pick.wrapping_add(1);
    let moved = held.answer(&other);
    if moved.piece_count > 1 {
        a[0] = moved;
        assert_eq!(fails(&record, &seed, &a), "the answer is for another piece");
    }
    // Another file than the one asked for.
    let mut a = good.clone();
    let mut wrong = asked[0];
    wrong.file = (wrong.file + 1) % 3;
    a[0] = held.answer(&wrong);
    assert_eq!(fails(&record, &seed, &a), "the answer is for another file");
    // A lie about a file's size or block count breaks its leaf.
    let mut a = good.clone();
    a[0].size += 1;
    assert_eq!(
        fails(&record, &seed, &a),
        "the file is not in the committed files root"
    );
    let mut a = good.clone();
    a[0].block_count += 1;
    assert_eq!(
        fails(&record, &seed, &a),
        "the file is not in the committed files root"
    );
    // A made-up block under the real file.
    let mut a = good.clone();
    a[0].piece_root = [7; 32];
    assert_eq!(
        fails(&record, &seed, &a),
        "the block is not in the file's sealed root"
    );
    // A prover whose tree has a different number of files than the chain counted.
    let mut bigger = held.record();
    bigger.files_count = 4;
    assert!(verify(&bigger, &seed, &ANCHOR, &good).is_err());
    // The codec bounds the piece: a 4 KiB + 1 piece does not decode.
    let mut a = good[0].clone();
    a.piece = vec![0; PIECE_BYTES + 1];
    let bytes = crust_primitives::codec::encode(&a);
    assert!(crust_primitives::codec::decode::<ChallengeAnswer>(&bytes).is_err());
    let bytes = crust_primitives::codec::encode(&good[0]);
    assert_eq!(
        crust_primitives::codec::decode::<ChallengeAnswer>(&bytes).unwrap(),
        good[0]
    );
}

#[test]
fn a_report_must_answer_the_challenges_on_the_previous_one() {
    const SLOT: u64 = 300;
    let mut chain = Chain::mock();
    let root = chain.root();
    let code = [0xc0; 32];
    set_code(&mut chain.state, &root, &code, 100_000).unwrap();
    let authority = Keypair::from_suri("//Authority").unwrap();
    set_authorities(&mut chain.state, &root, &[authority.public()], 1).unwrap();
    assert!(params(&chain.state).unwrap().challenges, "on by default");
    let enclave = Keypair::from_suri("//challenged").unwrap();
    let pk = enclave.public().0;
    let payload = registration_payload(&code, &ALICE, &pk);
    let attestation = Attestation::Authorities {
        signatures: vec![(authority.public(), authority.sign(&payload))],
    };
    let ctx = chain.ctx(ALICE);
    register(
        &mut chain.state,
        &ctx,
        &code,
        &pk,
        &enclave.sign(&payload),
        &attestation,
    )
    .unwrap();

    let hash_of = |h: u64| {
        let mut x = [0x3c; 32];
        x[..8].copy_from_slice(&h.to_be_bytes());
        x
    };
    let advance = |chain: &mut Chain, to: u64| {
        while chain.height < to {
            chain.height += 1;
            let block = crate::BlockContext {
                height: chain.height,
                era: 0,
                author: ROOT,
                parent_hash: hash_of(chain.height - 1),
                timestamp_ms: 0,
            };
            crate::system::begin_block(&mut chain.state, &block).unwrap();
        }
    };
    let held = Held::new();
    let record = held.record();
    let report = |slot: u64, prev: Root, added: Vec<ReportedFile>| WorkReport {
        curr_pk: pk,
        ab_upgrade_pk: None,
        slot,
        slot_hash: hash_of(slot),
        srd_size: 0, // SRD challenges: `srd_answers_pass_and_lies_fail`
        files_size: held.files.iter().map(|f| f.1).sum(),
        srd_root: [0; 32],
        files_root: record.files_root,
        added,
        deleted: vec![],
        prev_report_hash: prev,
    };
    // Slot 300: the first report commits to three files (nothing to answer yet).
    advance(&mut chain, SLOT + 1);
    let added = held
        .files
        .iter()
        .map(|(cid, size, _)| ReportedFile {
            cid: *cid,
            size: *size,
        })
        .collect();
    let first = report(SLOT, [0; 32], added);
    let ctx = chain.ctx(ALICE);
    report_works(
        &mut chain.state,
        &ctx,
        &first,
        &enclave.sign(&report_payload(&first)),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        work_report(&chain.state, &pk).unwrap().unwrap().files_count,
        3
    );

    // Slot 600: no answers, then wrong answers, are refused; the right ones are accepted.
    advance(&mut chain, 2 * SLOT + 1);
    let second = report(2 * SLOT, report_hash(&first), vec![]);
    let sig = enclave.sign(&report_payload(&second));
    let ctx = chain.ctx(ALICE);
    assert!(matches!(
        report_works(&mut chain.state, &ctx, &second, &sig, &[], &[]),
        Err(SworkError::ChallengeFailed { .. })
    ));
    // Answers made for the previous slot's seed do not fit this slot's.
    let stale = held.answers(&hash_of(SLOT), &pk);
    let fresh = held.answers(&hash_of(2 * SLOT), &pk);
    if stale != fresh {
        assert!(matches!(
            report_works(&mut chain.state, &ctx, &second, &sig, &stale, &[]),
            Err(SworkError::ChallengeFailed { .. })
        ));
    }
    report_works(&mut chain.state, &ctx, &second, &sig, &fresh, &[]).unwrap();
    assert_eq!(
        work_report(&chain.state, &pk).unwrap().unwrap().report_slot,
        2 * SLOT
    );
}

/// SRD a worker holds: units of `leaves` 1 MiB leaves, by number.
struct Srd {
    leaves: u32,
    units: Vec<(u64, Vec<Vec<u8>>)>,
}

impl Srd {
    fn new(units: u64, leaves: u32) -> Self {
        let units = (0..units)
            .map(|id| {
                let data = (0..leaves)
                    .map(|l| bytes(SRD_LEAF_BYTES as usize, (id * 7 + u64::from(l)) as u8))
                    .collect();
                (id, data)
            })
            .collect();
        Self { leaves, units }
    }

    fn unit_root(leaves: &[Vec<u8>]) -> Hash {
        merkle::root(
            &leaves
                .iter()
                .map(|l| merkle::block_leaf(l))
                .collect::<Vec<_>>(),
        )
    }

    fn leaves(&self) -> Vec<Hash> {
        self.units
            .iter()
            .map(|(id, l)| srd_leaf(*id, self.leaves, &Self::unit_root(l)))
            .collect()
    }

    fn bytes(&self) -> u64 {
        self.units.len() as u64 * u64::from(self.leaves) * SRD_LEAF_BYTES
    }

    fn record(&self) -> WorkReportRecord {
        WorkReportRecord {
            free: self.bytes(),
            srd_root: merkle::root(&self.leaves()),
            ..WorkReportRecord::default()
        }
    }

    /// The honest answer for a new report holding `now_units` units.
    fn answer(&self, seed: &Root, anchor: &Anchor, now_units: u64) -> SrdAnswer {
        let [u, l, p] = srd_picks(seed, anchor);
        let index = u % (self.units.len() as u64).min(now_units);
        let (id, leaves) = &self.units[index as usize];
        let leaf_index = (l % u64::from(self.leaves)) as usize;
        let leaf = &leaves[leaf_index];
        let pieces = merkle::piece_leaves(leaf);
        let piece = (p % SRD_LEAF_PIECES) as usize;
        let block_leaves: Vec<Hash> = leaves.iter().map(|l| merkle::block_leaf(l)).collect();
        SrdAnswer {
            unit_id: *id,
            unit_leaves: self.leaves,
            unit_root: merkle::root(&block_leaves),
            unit_proof: merkle::prove(&self.leaves(), index as usize).unwrap(),
            piece_root: merkle::root(&pieces),
            leaf_proof: merkle::prove(&block_leaves, leaf_index).unwrap(),
            piece: leaf[piece * PIECE_BYTES..(piece + 1) * PIECE_BYTES].to_vec(),
            piece_proof: merkle::prove(&pieces, piece).unwrap(),
        }
    }
}

fn srd_fails(
    record: &WorkReportRecord,
    size: u64,
    seed: &Root,
    answers: &[SrdAnswer],
) -> &'static str {
    match verify_srd(record, size, seed, &ANCHOR, answers) {
        Err(SworkError::ChallengeFailed { why, .. }) => why,
        other => panic!("expected a failed SRD challenge, got {other:?}"),
    }
}

#[test]
fn srd_answers_pass_and_lies_fail() {
    let srd = Srd::new(5, 2);
    let record = srd.record();
    let unit = 2 * SRD_LEAF_BYTES;
    // Honest answers pass whether the SRD stayed, shrank (units removed newest first) or grew.
    for n in 0u8..40 {
        let seed = [n; 32];
        for now_units in [5u64, 2, 9] {
            let a = srd.answer(&seed, &ANCHOR, now_units);
            verify_srd(&record, now_units * unit, &seed, &ANCHOR, &[a]).unwrap();
        }
    }
    // No SRD on either side: nothing to answer, and an answer is then one too many.
    let seed = [3; 32];
    verify_srd(&record, 0, &seed, &ANCHOR, &[]).unwrap();
    verify_srd(&WorkReportRecord::default(), 5 * unit, &seed, &ANCHOR, &[]).unwrap();
    let good = srd.answer(&seed, &ANCHOR, 5);
    assert_eq!(
        srd_fails(&record, 0, &seed, std::slice::from_ref(&good)),
        "wrong number of SRD challenge answers"
    );
    assert_eq!(
        srd_fails(&record, 5 * unit, &seed, &[]),
        "wrong number of SRD challenge answers"
    );
    // A flipped bit in the piece, a wrong piece, another unit, a lie about the unit size.
    let mut a = good.clone();
    a.piece[9] ^= 1;
    assert_eq!(
        srd_fails(&record, 5 * unit, &seed, &[a]),
        "the piece does not match the SRD leaf"
    );
    let mut a = good.clone();
    a.piece_proof.index = (a.piece_proof.index + 1) % SRD_LEAF_PIECES;
    assert_eq!(
        srd_fails(&record, 5 * unit, &seed, &[a]),
        "the answer is for another SRD piece"
    );
    let mut a = good.clone();
    a.unit_proof.index = (a.unit_proof.index + 1) % 5;
    assert_eq!(
        srd_fails(&record, 5 * unit, &seed, &[a]),
        "the answer is for another SRD unit"
    );
    let mut a = good.clone();
    a.unit_leaves = 1;
    assert!(verify_srd(&record, 5 * unit, &seed, &ANCHOR, &[a]).is_err());
    // A report whose SRD is not a whole number of the answer's units is refused.
    assert_eq!(
        srd_fails(&record, 5 * unit + 1, &seed, std::slice::from_ref(&good)),
        "SRD sizes are not whole units of the answer's size"
    );
    // A worker that kept fewer units than it committed to cannot answer for the missing ones:
    // a tree of 3 real units claimed as 5.
    let small = Srd::new(3, 2);
    let claimed = WorkReportRecord {
        free: 5 * unit,
        ..small.record()
    };
    let mut refused = 0;
    for n in 0u8..40 {
        let seed = [n; 32];
        let [u, _, _] = srd_picks(&seed, &ANCHOR);
        if u % 5 >= 3 {
            let mut a = small.answer(&seed, &ANCHOR, 3);
            a.unit_proof.index = u % 5;
            assert!(verify_srd(&claimed, 5 * unit, &seed, &ANCHOR, &[a]).is_err());
            refused += 1;
        }
    }
    assert!(refused > 5, "{refused}");
    // The codec round-trips an answer.
    let bytes = crust_primitives::codec::encode(&good);
    assert_eq!(
        crust_primitives::codec::decode::<SrdAnswer>(&bytes).unwrap(),
        good
    );
}
