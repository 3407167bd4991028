//! Cheating workers against the real runtime (D18, D29, D30): each cheat below is test code
//! (no cheating switch ships in a binary), and each ends holding no replica, no storage power
//! and — except where a piece of luck bounded by the challenge's odds is stated — no payout.
//! What the chain cannot catch alone is asserted too, so the trust table in docs/sworker.md
//! stays honest.

use super::challenge::*;
use super::challenge_tests::*;
use super::*;
use crate::market::index::AnchorEntry;
use crate::testing::*;
use crust_primitives::commitment as cc;
use crust_primitives::merkle;

/// Proofs a worker holding only `kept(file)` bytes of each file's content can make: those
/// whose every asked piece lies inside what it kept.
fn partial_pending_proofs(
    net: &Net,
    held: &Held,
    kept: impl Fn(&File) -> usize,
) -> Vec<PendingProof> {
    held.pending_proofs(&net.chain.state, &net.pk, &ALICE)
        .into_iter()
        .filter(|p| {
            let (_, f) = held.get(&p.cid).unwrap();
            p.content
                .iter()
                .all(|c| (c.proof.index as usize + 1) * cc::PIECE_BYTES <= kept(f))
        })
        .collect()
}

fn prove_in_batches(net: &mut Net, proofs: &[PendingProof]) {
    for batch in proofs.chunks(PROVE_BATCH) {
        net.prove(batch).unwrap();
    }
}

fn total_replicas(net: &Net, held: &Held) -> usize {
    held.files.iter().map(|f| net.replicas(&f.cid)).sum()
}

/// Twelve files of 16 pieces (32 KiB) each.
fn twelve() -> Held {
    Held::new(
        (10..22)
            .map(|n| File::new(n, 16 * cc::PIECE_BYTES, 4))
            .collect(),
    )
}

#[test]
fn a_worker_that_stores_nothing_earns_nothing() {
    let held = twelve();
    let mut net = Net::new(&held);
    first_report(&mut net, &held);
    // Without the content it can only make pieces up: every made-up proof fails.
    for f in &held.files {
        let fake = PendingProof {
            cid: f.cid,
            content: (0..PENDING_PIECES)
                .map(|i| ContentProof {
                    piece: vec![0; cc::PIECE_BYTES],
                    proof: merkle::prove(&[merkle::leaf(&[0; cc::PIECE_BYTES]); 16], i as usize)
                        .unwrap(),
                })
                .collect(),
        };
        assert!(net.prove(&[fake]).is_err());
    }
    net.advance(prove_deadline(&net.chain.state, SLOT + 2).unwrap() + 1);
    assert_eq!(total_replicas(&net, &held), 0);
    assert_eq!((net.spower(), net.reward()), (0, 0));
    assert!(held.files.iter().all(|f| net.entry(&f.cid).is_none()));
}

#[test]
fn a_worker_that_holds_file_a_and_claims_b_earns_nothing_for_b() {
    // A and B have the same size, so the size check alone cannot tell them apart.
    let a = File::new(30, 16 * cc::PIECE_BYTES, 4);
    let b = File::new(31, 16 * cc::PIECE_BYTES, 4);
    let claimed = Held::new(vec![b.clone()]);
    let mut net = Net::with_orders(
        [&a, &b]
            .into_iter()
            .map(|f| (f.cid, f.size(), f.commitment())),
    );
    first_report(&mut net, &claimed);
    // It answers B's pieces with A's bytes (paths from A's tree): refused.
    let seed = crate::system::block_hash(&net.chain.state, SLOT + 2)
        .unwrap()
        .unwrap();
    let asked = pending_pieces(&seed, &net.pk, &b.cid, b.commitment().pieces());
    let lie = PendingProof {
        cid: b.cid,
        content: asked.iter().map(|i| a.content_proof(*i)).collect(),
    };
    assert!(matches!(
        net.prove(&[lie]),
        Err(SworkError::IllegalProof { .. })
    ));
    net.advance(prove_deadline(&net.chain.state, SLOT + 2).unwrap() + 1);
    assert_eq!(
        (net.replicas(&b.cid), net.spower(), net.reward()),
        (0, 0, 0)
    );
}

#[test]
fn a_files_root_over_fabricated_leaves_proves_nothing_without_the_content() {
    // The worker commits a files root over tiny made-up "sealed blocks" for real CIDs (the
    // attack the old challenges let through) and keeps no content.
    let real = twelve();
    let fabricated = Held::new(
        real.files
            .iter()
            .map(|f| File {
                cid: f.cid,
                content: f.content.clone(), // only to give the report the ordered sizes
                sealed: vec![vec![0xab; 32]],
            })
            .collect(),
    );
    let mut net = Net::new(&real);
    first_report(&mut net, &fabricated);
    // Its sealed proofs would check out against its own root, but a replica only earns after
    // proving the ordered content, which it does not have.
    let fake_content: Vec<PendingProof> = fabricated
        .pending_proofs(&net.chain.state, &net.pk, &ALICE)
        .into_iter()
        .map(|mut p| {
            for c in &mut p.content {
                c.piece.iter_mut().for_each(|b| *b = 0);
            }
            p
        })
        .collect();
    for p in &fake_content {
        assert!(net.prove(std::slice::from_ref(p)).is_err());
    }
    net.advance(prove_deadline(&net.chain.state, SLOT + 2).unwrap() + 1);
    assert_eq!(
        (total_replicas(&net, &real), net.spower(), net.reward()),
        (0, 0, 0)
    );
}

#[test]
fn a_worker_that_keeps_the_first_half_of_each_file_is_caught() {
    let held = twelve();
    let honest = {
        let mut net = Net::new(&held);
        first_report(&mut net, &held);
        let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
        prove_in_batches(&mut net, &proofs);
        net.reward()
    };
    let half = |f: &File| f.content.len() / 2;
    let mut net = Net::new(&held);
    first_report(&mut net, &held);
    let proofs = partial_pending_proofs(&net, &held, half);
    // Each file is proven only if all 4 asked pieces fall in the kept half: odds 1/16.
    assert!(proofs.len() <= 3, "{} of 12 proven", proofs.len());
    prove_in_batches(&mut net, &proofs);
    let earned = net.reward();
    assert!(
        earned * 4 <= honest,
        "earned {earned} of an honest {honest}"
    );
    // Unproven replicas are dropped at their deadline.
    net.advance(prove_deadline(&net.chain.state, SLOT + 2).unwrap() + 1);
    assert_eq!(total_replicas(&net, &held), proofs.len());
    // Each slot two of its proven replicas are challenged on a uniformly picked piece: it
    // answers while the picks fall in the kept half, and misses the first slot they do not.
    let mut slot = 2;
    loop {
        net.advance(slot * SLOT + 1);
        let count = crate::market::index::proven_count(&net.chain.state, &net.pk).unwrap();
        if count == 0 {
            break;
        }
        let answers = held.answers(&net.chain.state, &hash_of(slot * SLOT), &net.pk);
        let can = answers.iter().all(|a| {
            let (_, f) = held.get(&a.cid).unwrap();
            (a.content.proof.index as usize + 1) * cc::PIECE_BYTES <= half(f)
        });
        if !can {
            // No report this slot: the next slot's consolidation punishes it and purges all
            // its replicas.
            net.advance((slot + 1) * SLOT + 2);
            break;
        }
        let r = net.report(slot * SLOT, &held, &[], &[]);
        net.send(&r, &answers).unwrap();
        slot += 1;
        assert!(slot < 40, "never caught");
    }
    eprintln!(
        "first-half keeper: {} of 12 proven, earned {earned} of an honest {honest}, caught in slot {slot}",
        proofs.len()
    );
    assert_eq!(total_replicas(&net, &held), 0);
    assert_eq!(net.spower(), 0);
}

#[test]
fn files_reported_again_after_a_missed_slot_must_be_proven_again() {
    let held = Held::mixed();
    let mut net = honest_run(&held, 2);
    let before = net.spower();
    assert!(before > 0);
    // Slot 900: no report. Slot 1200's first block punishes it, resets its files root and
    // schedules the purge of its replicas; in that very block, before the purge ran, it is
    // asked about no file (its root commits to none) — an honest worker is not locked out.
    net.advance(4 * SLOT);
    let record = work_report(&net.chain.state, &net.pk).unwrap().unwrap();
    assert_eq!(record.files_count, 0);
    assert!(crate::market::index::proven_count(&net.chain.state, &net.pk).unwrap() > 0);
    let seed = hash_of(4 * SLOT);
    challenge::verify(&net.chain.state, &record, &seed, &net.pk, &[]).unwrap();
    net.advance(4 * SLOT + 2);
    assert_eq!(net.spower(), 0);
    assert_eq!(total_replicas(&net, &held), 0);
    // Slot 1200: the worker lists every file as new — they come back pending, not earning.
    let all: Vec<&File> = held.files.iter().collect();
    let record = work_report(&net.chain.state, &net.pk).unwrap().unwrap();
    assert_eq!(record.files_count, 0);
    let r = net.report(4 * SLOT, &held, &all, &[]);
    net.send(&r, &[]).unwrap();
    net.advance(4 * SLOT + 4);
    for f in &held.files {
        assert!(matches!(
            net.entry(&f.cid),
            Some(AnchorEntry::Pending { .. })
        ));
    }
    assert_eq!((net.spower(), total_replicas(&net, &held)), (0, 0));
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    prove_in_batches(&mut net, &proofs);
    assert_eq!(net.spower(), before);
}

#[test]
fn what_the_chain_alone_cannot_catch_is_stated() {
    // 1. One plaintext copy for two identities: the content proofs of both pass (possession
    //    of the content is all the chain can check). Only per-replica sealing under an
    //    attested enclave (D25) makes the two sealed copies differ.
    let held = Held::mixed();
    let net = honest_run(&held, 2);
    let seed = [5; 32];
    let answers = held.answers(&net.chain.state, &seed, &net.pk);
    let prev = work_report(&net.chain.state, &net.pk).unwrap().unwrap();
    challenge::verify(&net.chain.state, &prev, &seed, &net.pk, &answers).unwrap();
    // The same sealed bytes would pass for any identity that commits to them: the chain
    // sees roots, not keys.
    let same_sealed = held.sealed_proof(0, &challenges(&seed, &net.pk, 4)[0]);
    assert!(
        check_sealed(
            &prev,
            &held.files[0].cid,
            held.files[0].size(),
            &challenges(&seed, &net.pk, 4)[0],
            &same_sealed
        )
        .is_ok()
    );
    // 2. SRD built from identical units: every unit's root is the same, and the answers
    //    check out. Only the enclave, deriving each leaf from its secret (D26), keeps SRD
    //    honest; D31 counts SRD only where the attestation vouches for it.
    let unit = [vec![7u8; SRD_LEAF_BYTES as usize]];
    let unit_root = merkle::root(&[merkle::block_leaf(&unit[0])]);
    let leaves: Vec<_> = (0..4).map(|id| srd_leaf(id, 1, &unit_root)).collect();
    let record = WorkReportRecord {
        free: 4 * SRD_LEAF_BYTES,
        srd_root: merkle::root(&leaves),
        ..WorkReportRecord::default()
    };
    let anchor = [0x55; 32];
    let [u, _, p] = srd_picks(&seed, &anchor);
    let index = (u % 4) as usize;
    let pieces = merkle::piece_leaves(&unit[0]);
    let piece = (p % SRD_LEAF_PIECES) as usize;
    let answer = SrdAnswer {
        unit_id: index as u64,
        unit_leaves: 1,
        unit_root,
        unit_proof: merkle::prove(&leaves, index).unwrap(),
        piece_root: merkle::root(&pieces),
        leaf_proof: merkle::prove(&[merkle::block_leaf(&unit[0])], 0).unwrap(),
        piece: unit[0][piece * merkle::PIECE_BYTES..(piece + 1) * merkle::PIECE_BYTES].to_vec(),
        piece_proof: merkle::prove(&pieces, piece).unwrap(),
    };
    verify_srd(&record, 4 * SRD_LEAF_BYTES, &seed, &anchor, &[answer]).unwrap();
}
