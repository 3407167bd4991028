//! Storage challenges (D18) and proving new replicas (D30) over real Merkle trees and a real
//! chain state: honest workers pass and earn; every kind of lie fails and earns nothing.

use super::challenge::*;
use super::*;
use crate::market::index::{self, AnchorEntry};
use crate::testing::*;
use crust_primitives::commitment::{self as cc, ContentCommitment};
use crust_primitives::merkle::{self, Hash, PIECE_BYTES};
use crust_primitives::{Cid, Keypair};

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// One file as a worker holds it: the content (its canonical serialization) and its sealed
/// blocks.
#[derive(Clone)]
pub(super) struct File {
    pub(super) cid: Cid,
    pub(super) content: Vec<u8>,
    pub(super) sealed: Vec<Vec<u8>>,
}

impl File {
    /// A file of `content_len` bytes of content sealed into `blocks` blocks.
    pub(super) fn new(n: u8, content_len: usize, blocks: usize) -> Self {
        let content = bytes(content_len, n);
        let per = content_len.div_ceil(blocks.max(1)).max(1);
        let sealed = content
            .chunks(per)
            .map(|c| {
                let mut b = c.to_vec();
                b.extend_from_slice(&[n; 16]); // the seal's tag
                b.iter_mut().for_each(|x| *x ^= 0x5a);
                b
            })
            .collect();
        Self {
            cid: cid_n(n),
            content,
            sealed,
        }
    }
    pub(super) fn size(&self) -> u64 {
        self.content.len() as u64
    }
    pub(super) fn commitment(&self) -> ContentCommitment {
        cc::commit(&self.content)
    }
    pub(super) fn sealed_root(&self) -> Hash {
        merkle::root(
            &self
                .sealed
                .iter()
                .map(|b| merkle::block_leaf(b))
                .collect::<Vec<_>>(),
        )
    }
    pub(super) fn leaf(&self) -> Hash {
        file_leaf(
            &self.cid,
            self.size(),
            &self.sealed_root(),
            self.sealed.len() as u64,
        )
    }
    pub(super) fn content_proof(&self, index: u64) -> ContentProof {
        let leaves: Vec<Hash> = self
            .content
            .chunks(cc::PIECE_BYTES)
            .map(merkle::leaf)
            .collect();
        let i = index as usize;
        ContentProof {
            piece: self.content
                [i * cc::PIECE_BYTES..((i + 1) * cc::PIECE_BYTES).min(self.content.len())]
                .to_vec(),
            proof: merkle::prove(&leaves, i).unwrap(),
        }
    }
}

/// What a worker committed to in its last report: files in CID order.
pub(super) struct Held {
    pub(super) files: Vec<File>,
}

impl Held {
    pub(super) fn new(mut files: Vec<File>) -> Self {
        files.sort_by_key(|f| f.cid.to_bytes());
        Self { files }
    }
    /// Files of mixed shapes: one piece, a short last piece, many blocks.
    pub(super) fn mixed() -> Self {
        Self::new(vec![
            File::new(1, 100, 1),
            File::new(2, 3 * cc::PIECE_BYTES + 5, 3),
            File::new(3, 40_000, 5),
            File::new(4, 9_000, 2),
        ])
    }
    pub(super) fn leaves(&self) -> Vec<Hash> {
        self.files.iter().map(File::leaf).collect()
    }
    pub(super) fn record(&self) -> WorkReportRecord {
        WorkReportRecord {
            files_root: merkle::root(&self.leaves()),
            files_count: self.files.len() as u64,
            ..WorkReportRecord::default()
        }
    }
    pub(super) fn get(&self, cid: &Cid) -> Option<(usize, &File)> {
        self.files.iter().enumerate().find(|(_, f)| f.cid == *cid)
    }
    pub(super) fn sealed_proof(&self, at: usize, c: &Challenge) -> SealedProof {
        let f = &self.files[at];
        let block_leaves: Vec<Hash> = f.sealed.iter().map(|b| merkle::block_leaf(b)).collect();
        let b = c.block(f.sealed.len() as u64) as usize;
        let sealed = &f.sealed[b];
        let pieces = merkle::piece_leaves(sealed);
        let p = c.piece(pieces.len() as u64) as usize;
        SealedProof {
            sealed_root: merkle::root(&block_leaves),
            block_count: f.sealed.len() as u64,
            file_proof: merkle::prove(&self.leaves(), at).unwrap(),
            piece_count: pieces.len() as u64,
            piece_root: merkle::root(&pieces),
            block_proof: merkle::prove(&block_leaves, b).unwrap(),
            piece: sealed[p * PIECE_BYTES..((p + 1) * PIECE_BYTES).min(sealed.len())].to_vec(),
            piece_proof: merkle::prove(&pieces, p).unwrap(),
        }
    }
    /// Honest answers to the slot's challenges, reading the picks from the chain.
    pub(super) fn answers(
        &self,
        state: &impl State,
        slot_hash: &Root,
        anchor: &Anchor,
    ) -> Vec<ChallengeAnswer> {
        let count = index::proven_count(state, anchor).unwrap();
        challenges(slot_hash, anchor, count)
            .iter()
            .map(|c| {
                let r = index::proven_at(state, anchor, c.position)
                    .unwrap()
                    .unwrap();
                let (at, f) = self.get(&r.cid).expect("a held file");
                ChallengeAnswer {
                    cid: f.cid,
                    content: f.content_proof(c.content_piece(f.commitment().pieces())),
                    sealed: self.sealed_proof(at, c),
                }
            })
            .collect()
    }
    /// Honest proofs for every pending replica of `anchor` whose seed is known.
    pub(super) fn pending_proofs(
        &self,
        state: &impl State,
        anchor: &Anchor,
        owner: &AccountId,
    ) -> Vec<PendingProof> {
        self.files
            .iter()
            .filter_map(|f| {
                let Some(AnchorEntry::Pending { since, .. }) =
                    index::entry(state, anchor, &f.cid, owner).unwrap()
                else {
                    return None;
                };
                let seed = crate::system::block_hash(state, since).unwrap()?;
                let asked = pending_pieces(&seed, anchor, &f.cid, f.commitment().pieces());
                Some(PendingProof {
                    cid: f.cid,
                    content: asked.into_iter().map(|i| f.content_proof(i)).collect(),
                })
            })
            .collect()
    }
}

pub(super) const SLOT: u64 = 300;
const ANCHOR: Anchor = [0xa7; 32];

pub(super) fn hash_of(h: u64) -> Root {
    let mut x = [0x3c; 32];
    x[..8].copy_from_slice(&h.to_be_bytes());
    x
}

/// A chain with one registered storage worker (ALICE's enclave `//challenged`), orders for
/// `held`'s files placed by BOB, and blocks with distinct hashes.
pub(super) struct Net {
    pub(super) chain: Chain,
    pub(super) enclave: Keypair,
    pub(super) pk: EnclaveKey,
    pub(super) prev: Root,
}

impl Net {
    pub(super) fn new(held: &Held) -> Self {
        Self::with_orders(held.files.iter().map(|f| (f.cid, f.size(), f.commitment())))
    }
    pub(super) fn with_orders(orders: impl Iterator<Item = (Cid, u64, ContentCommitment)>) -> Self {
        Self::attested(orders, |chain, payload| {
            let root = chain.root();
            let authority = Keypair::from_suri("//Authority").unwrap();
            set_authorities(&mut chain.state, &root, &[authority.public()], 1).unwrap();
            Attestation::Authorities {
                signatures: vec![(authority.public(), authority.sign(payload))],
            }
        })
    }
    /// The code every test worker runs (its MRENCLAVE under SGX).
    pub(super) const CODE: CodeMeasurement = [0xc0; 32];
    /// A worker registered by Alice with the attestation `attest` makes for its
    /// registration payload, and BOB's `orders`.
    pub(super) fn attested(
        orders: impl Iterator<Item = (Cid, u64, ContentCommitment)>,
        attest: impl FnOnce(&mut Chain, &[u8]) -> Attestation,
    ) -> Self {
        let mut chain = Chain::mock();
        let root = chain.root();
        let code = Self::CODE;
        set_code(&mut chain.state, &root, &code, 10_000_000).unwrap();
        assert!(params(&chain.state).unwrap().challenges, "on by default");
        let enclave = Keypair::from_suri("//challenged").unwrap();
        let pk = enclave.public().0;
        let payload = registration_payload(&code, &ALICE, &pk);
        let attestation = attest(&mut chain, &payload);
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
        chain.set_free(BOB, 1_000_000_000_000);
        chain.set_free(ALICE, 1_000_000_000_000);
        chain.add_collateral(ALICE, 100_000_000_000);
        for (cid, size, commitment) in orders {
            let ctx = chain.ctx(BOB);
            crate::market::place_storage_order(&mut chain.state, &ctx, &cid, size, 0, &commitment)
                .unwrap();
        }
        Self {
            chain,
            enclave,
            pk,
            prev: [0; 32],
        }
    }
    /// The block at the current height (its parent's hash as [`hash_of`] gives it).
    pub(super) fn block(&self) -> crate::BlockContext {
        crate::BlockContext {
            height: self.chain.height,
            era: 0,
            author: ROOT,
            parent_hash: hash_of(self.chain.height.saturating_sub(1)),
            timestamp_ms: 0,
        }
    }
    pub(super) fn advance(&mut self, to: u64) {
        while self.chain.height < to {
            self.chain.height += 1;
            let block = self.block();
            crate::executive::begin_block(&mut self.chain.state, &block).unwrap();
        }
    }
    pub(super) fn report(
        &self,
        slot: u64,
        held: &Held,
        added: &[&File],
        deleted: &[&File],
    ) -> WorkReport {
        let listed = |fs: &[&File]| {
            fs.iter()
                .map(|f| ReportedFile {
                    cid: f.cid,
                    size: f.size(),
                })
                .collect()
        };
        WorkReport {
            curr_pk: self.pk,
            ab_upgrade_pk: None,
            slot,
            slot_hash: hash_of(slot),
            srd_size: 0, // SRD challenges: `srd_answers_pass_and_lies_fail`
            files_size: held.files.iter().map(File::size).sum(),
            srd_root: [0; 32],
            files_root: held.record().files_root,
            added: listed(added),
            deleted: listed(deleted),
            prev_report_hash: self.prev,
        }
    }
    /// Sends `report` with `answers` at the current height.
    pub(super) fn send(
        &mut self,
        report: &WorkReport,
        answers: &[ChallengeAnswer],
    ) -> Result<(), SworkError> {
        let ctx = self.chain.ctx(ALICE);
        let sig = self.enclave.sign(&report_payload(report));
        crate::state::atomically(&mut self.chain.state, |s| {
            report_works(s, &ctx, report, &sig, answers, &[])
        })?;
        self.prev = report_hash(report);
        Ok(())
    }
    pub(super) fn prove(&mut self, proofs: &[PendingProof]) -> Result<(), SworkError> {
        let ctx = self.chain.ctx(ALICE);
        crate::state::atomically(&mut self.chain.state, |s| prove_replicas(s, &ctx, proofs))
    }
    pub(super) fn entry(&self, cid: &Cid) -> Option<AnchorEntry> {
        index::entry(&self.chain.state, &self.pk, cid, &ALICE).unwrap()
    }
    pub(super) fn replicas(&self, cid: &Cid) -> usize {
        self.chain.file(cid).map_or(0, |f| f.replicas.len())
    }
    pub(super) fn spower(&self) -> u64 {
        crate::market::anchor_spower(&self.chain.state, &self.pk).unwrap()
    }
    pub(super) fn reward(&self) -> u128 {
        self.chain.ledger(&ALICE).1
    }
}

/// Slot 300 adds every held file; the replicas are pending and earn nothing.
pub(super) fn first_report(net: &mut Net, held: &Held) {
    net.advance(SLOT + 1);
    let all: Vec<&File> = held.files.iter().collect();
    let r = net.report(SLOT, held, &all, &[]);
    net.send(&r, &[]).unwrap();
    net.advance(SLOT + 2); // the queued replicas are applied, pending
    assert!(
        held.pending_proofs(&net.chain.state, &net.pk, &ALICE)
            .is_empty(),
        "no seed yet"
    );
    net.advance(SLOT + 3); // block SLOT + 2's hash, their seed, is known
}

#[test]
fn new_replicas_earn_only_after_their_first_proof() {
    let held = Held::mixed();
    let mut net = Net::new(&held);
    first_report(&mut net, &held);
    for f in &held.files {
        assert!(matches!(
            net.entry(&f.cid),
            Some(AnchorEntry::Pending { .. })
        ));
        assert_eq!(
            net.replicas(&f.cid),
            0,
            "a pending replica is not a replica"
        );
    }
    assert_eq!(
        (net.spower(), net.reward()),
        (0, 0),
        "pending earns nothing"
    );
    // The seed (the hash of the block that recorded them) is known from the next block.
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    assert_eq!(proofs.len(), held.files.len());
    // One wrong proof refuses the whole call.
    let mut bad = proofs.clone();
    bad[1].content[0].piece[0] ^= 1;
    assert!(matches!(
        net.prove(&bad),
        Err(SworkError::IllegalProof { proof: 1, .. })
    ));
    // A proof for another piece than the one named.
    let f = &held.files[2];
    let seed = crate::system::block_hash(&net.chain.state, SLOT + 2)
        .unwrap()
        .unwrap();
    let named = pending_pieces(&seed, &net.pk, &f.cid, f.commitment().pieces());
    assert_eq!(named.len(), 4);
    let mut other = PendingProof {
        cid: f.cid,
        content: named.iter().map(|i| f.content_proof(*i)).collect(),
    };
    other.content[3] = f.content_proof((named[3] + 1) % f.commitment().pieces());
    assert!(net.prove(&[other.clone()]).is_err());
    other.content.pop();
    assert!(net.prove(&[other]).is_err(), "too few pieces");
    assert_eq!(net.spower(), 0);
    net.prove(&proofs).unwrap();
    for f in &held.files {
        assert!(matches!(
            net.entry(&f.cid),
            Some(AnchorEntry::Proven { .. })
        ));
        assert_eq!(net.replicas(&f.cid), 1);
    }
    assert_eq!(net.spower(), held.files.iter().map(File::size).sum::<u64>());
    assert!(
        net.reward() > 0,
        "the first-four payout comes with the proof"
    );
    // Proving again: nothing is pending any more.
    assert!(net.prove(&proofs[..1]).is_err());
    assert_eq!(index::proven_count(&net.chain.state, &net.pk).unwrap(), 4);
}

#[test]
fn an_unproven_replica_is_dropped_at_its_deadline() {
    let held = Held::mixed();
    let mut net = Net::new(&held);
    first_report(&mut net, &held);
    let deadline = prove_deadline(&net.chain.state, SLOT + 2).unwrap();
    net.advance(deadline);
    assert!(
        net.entry(&held.files[0].cid).is_some(),
        "the deadline block still takes proofs"
    );
    net.advance(deadline + 1);
    for f in &held.files {
        assert_eq!(net.entry(&f.cid), None, "dropped unproven");
        assert_eq!(net.replicas(&f.cid), 0);
    }
    assert_eq!((net.spower(), net.reward()), (0, 0));
    // Too late to prove.
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    assert!(proofs.is_empty());
}

/// An honest worker through `slots` report slots: proves its new replicas, answers every
/// challenge; returns the net.
pub(super) fn honest_run(held: &Held, slots: u64) -> Net {
    let mut net = Net::new(held);
    first_report(&mut net, held);
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    net.prove(&proofs).unwrap();
    for k in 2..=slots {
        net.advance(k * SLOT + 1);
        let r = net.report(k * SLOT, held, &[], &[]);
        let answers = held.answers(&net.chain.state, &hash_of(k * SLOT), &net.pk);
        assert_eq!(answers.len() as u64, FILE_CHALLENGES);
        net.send(&r, &answers).unwrap();
    }
    net
}

#[test]
fn honest_answers_pass_slot_after_slot_and_picks_spread() {
    let held = Held::mixed();
    let mut net = honest_run(&held, 3);
    let mut hit = std::collections::BTreeMap::<Cid, u32>::new();
    for n in 0u8..=200 {
        let seed = [n; 32];
        let asked = challenges(&seed, &net.pk, 4);
        assert_eq!(asked.len(), 2);
        assert_ne!(asked[0].position, asked[1].position, "distinct picks");
        for c in &asked {
            let r = index::proven_at(&net.chain.state, &net.pk, c.position)
                .unwrap()
                .unwrap();
            *hit.entry(r.cid).or_default() += 1;
        }
        let answers = held.answers(&net.chain.state, &seed, &net.pk);
        let prev = work_report(&net.chain.state, &net.pk).unwrap().unwrap();
        challenge::verify(&net.chain.state, &prev, &seed, &net.pk, &answers).unwrap();
    }
    assert_eq!(hit.len(), 4);
    assert!(hit.values().all(|&h| h > 60), "{hit:?}");
    // A report without answers, or with last slot's, is refused; the slot stays open.
    net.advance(4 * SLOT + 1);
    let r = net.report(4 * SLOT, &held, &[], &[]);
    assert!(matches!(
        net.send(&r, &[]),
        Err(SworkError::ChallengeFailed { .. })
    ));
    let stale = held.answers(&net.chain.state, &hash_of(3 * SLOT), &net.pk);
    let fresh = held.answers(&net.chain.state, &hash_of(4 * SLOT), &net.pk);
    if stale != fresh {
        assert!(net.send(&r, &stale).is_err());
    }
    net.send(&r, &fresh).unwrap();
    // One file: one challenge; none: nothing to answer.
    assert_eq!(challenges(&[1; 32], &net.pk, 1).len(), 1);
    assert!(challenges(&[1; 32], &net.pk, 0).is_empty());
}

fn fails(net: &Net, seed: &Root, answers: &[ChallengeAnswer]) -> &'static str {
    let prev = work_report(&net.chain.state, &net.pk).unwrap().unwrap();
    match challenge::verify(&net.chain.state, &prev, seed, &net.pk, answers) {
        Err(SworkError::ChallengeFailed { why, .. }) => why,
        other => panic!("expected a failed challenge, got {other:?}"),
    }
}

#[test]
fn every_kind_of_wrong_answer_fails() {
    let held = Held::mixed();
    let net = honest_run(&held, 2);
    let seed = [9; 32];
    let good = held.answers(&net.chain.state, &seed, &net.pk);
    assert_eq!(
        fails(&net, &seed, &good[..1]),
        "wrong number of challenge answers"
    );
    // A flipped bit in the content piece, or in the sealed piece.
    let mut a = good.clone();
    a[0].content.piece[0] ^= 1;
    assert_eq!(
        fails(&net, &seed, &a),
        "the content piece does not match the order's commitment"
    );
    let mut a = good.clone();
    a[0].sealed.piece[0] ^= 1;
    assert_eq!(
        fails(&net, &seed, &a),
        "the sealed piece does not match the block's piece root"
    );
    // The answers swapped: each is for another file than the one picked.
    let a = vec![good[1].clone(), good[0].clone()];
    assert_eq!(fails(&net, &seed, &a), "the answer is for another file");
    // Another content piece than the one asked for.
    let asked = challenges(&seed, &net.pk, 4);
    let (_, f) = held.get(&good[0].cid).unwrap();
    let pieces = f.commitment().pieces();
    if pieces > 1 {
        let mut a = good.clone();
        a[0].content = f.content_proof((asked[0].content_piece(pieces) + 1) % pieces);
        assert_eq!(
            fails(&net, &seed, &a),
            "the content piece is another than the one asked for"
        );
    }
    // A lie about the sealed block count breaks the file's leaf; a made-up block, its root.
    let mut a = good.clone();
    a[0].sealed.block_count += 1;
    assert_eq!(
        fails(&net, &seed, &a),
        "the file is not in the committed files root"
    );
    let mut a = good.clone();
    a[0].sealed.piece_root = [7; 32];
    assert_eq!(
        fails(&net, &seed, &a),
        "the block is not in the file's sealed root"
    );
    // The codec bounds the pieces: a 2 KiB + 1 content piece does not decode.
    let mut a = good[0].clone();
    a.content.piece = vec![0; cc::PIECE_BYTES + 1];
    let bytes = crust_primitives::codec::encode(&a);
    assert!(crust_primitives::codec::decode::<ChallengeAnswer>(&bytes).is_err());
    let bytes = crust_primitives::codec::encode(&good[0]);
    assert_eq!(
        crust_primitives::codec::decode::<ChallengeAnswer>(&bytes).unwrap(),
        good[0]
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

#[test]
fn the_history_keeps_a_workers_answers_refusals_and_misses() {
    use crate::history::{self, Refusal};
    let held = Held::mixed();
    let mut net = Net::new(&held);
    crate::system::set_genesis_version(&mut net.chain.state, 3).unwrap();
    crate::history::start(&mut net.chain.state).unwrap();
    first_report(&mut net, &held);
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    net.prove(&proofs).unwrap();
    net.advance(2 * SLOT + 1);
    let r = net.report(2 * SLOT, &held, &[], &[]);
    let answers = held.answers(&net.chain.state, &hash_of(2 * SLOT), &net.pk);
    net.send(&r, &answers).unwrap();
    // Slot 3: a report without answers, sent as a transaction, is refused and recorded.
    net.advance(3 * SLOT + 1);
    let report = net.report(3 * SLOT, &held, &[], &[]);
    let tx = crate::executive::CheckedTransaction {
        signer: ALICE,
        nonce: crate::balances::account(&net.chain.state, &ALICE)
            .unwrap()
            .nonce,
        fee: 1_000,
        tip: 0,
        call: crate::Call::Swork(SworkCall::ReportWorks {
            signature: net.enclave.sign(&report_payload(&report)),
            report,
            answers: Vec::new(),
            srd_answers: Vec::new(),
        }),
        encoded_len: 100,
    };
    let block = net.block();
    let outcome = crate::executive::apply_transaction(&mut net.chain.state, &block, &tx).unwrap();
    assert!(matches!(
        outcome.error,
        Some(crate::RuntimeError::Swork(
            SworkError::ChallengeFailed { .. }
        ))
    ));
    // Slot 3 ends without an accepted report: its consolidation counts a miss.
    net.advance(4 * SLOT + 5);
    let w = history::worker(&net.chain.state, &net.pk).unwrap();
    assert_eq!(
        (w.reports, w.replica_challenges, w.srd_challenges),
        (2, FILE_CHALLENGES, 0),
        "the first report answered nothing, the second two replica challenges"
    );
    assert_eq!((w.replicas_proven, w.replicas_unproven), (4, 0));
    assert_eq!(w.failed_reports, 1);
    assert_eq!(
        w.last_failure,
        Some(Refusal {
            slot: 3 * SLOT,
            challenge: 0,
            why: b"wrong number of challenge answers".to_vec(),
        })
    );
    assert_eq!((w.missed_reports, w.last_missed), (1, Some(3 * SLOT)));
    // The same events in the slots' records.
    let slot = |s| history::slot(&net.chain.state, s).unwrap().unwrap();
    assert_eq!((slot(SLOT).reports, slot(SLOT).replicas_added), (1, 4));
    assert_eq!(
        (slot(2 * SLOT).reports, slot(2 * SLOT).replica_challenges),
        (1, 2)
    );
    let third = slot(3 * SLOT);
    assert_eq!(
        (third.reports, third.failed_reports, third.missed_reports),
        (0, 1, 1)
    );
    let totals = slot(2 * SLOT).storage.expect("slot 2 consolidated");
    assert_eq!(totals.identities, 1);
    let held_bytes: u64 = held.files.iter().map(File::size).sum();
    assert_eq!(totals.files, u128::from(held_bytes));
}
