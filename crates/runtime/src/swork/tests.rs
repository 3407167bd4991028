//! sWork tests: one per rejection reason, the report lifecycle, groups, punishment, a
//! multi-owner scenario through the market, and consolidation at scale.

use super::storage::reported_key;
use super::*;
use crate::market::{self, MarketCall};
use crate::state::{StateExt, atomically};
use crate::testing::*;
use crate::{BlockContext, Call};
use crust_primitives::{Cid, Keypair};

const CODE: CodeMeasurement = [0xc0; 32];
const SLOT: u64 = 300; // the reference mock's report slot

fn block_hash_at(height: u64) -> [u8; 32] {
    let mut h = [0x5a; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    h
}

/// A chain with a code allowed until block 100 000 and one attestation authority.
struct World {
    chain: Chain,
    authority: Keypair,
}

impl World {
    fn new() -> Self {
        let mut chain = Chain::mock();
        let authority = Keypair::from_suri("//Authority").unwrap();
        let root = chain.root();
        set_code(&mut chain.state, &root, &CODE, 100_000).unwrap();
        set_authorities(&mut chain.state, &root, &[authority.public()], 1).unwrap();
        // These tests commit made-up files roots; storage challenges over real trees are
        // tested in `challenge_tests` and by the worker's tests with sealed data.
        set_challenges(&mut chain.state, &root, false).unwrap();
        let mut w = Self { chain, authority };
        w.advance_to(1);
        w
    }

    /// Runs the block hooks for every block up to `height` (recording parent hashes).
    fn advance_to(&mut self, height: u64) {
        while self.chain.height < height {
            self.chain.height += 1;
            let h = self.chain.height;
            let block = BlockContext {
                height: h,
                era: 0,
                author: ROOT,
                parent_hash: block_hash_at(h - 1),
                timestamp_ms: 0,
            };
            crate::executive::begin_block(&mut self.chain.state, &block).unwrap();
        }
    }

    fn ctx(&self, who: AccountId) -> CallContext {
        self.chain.ctx(who)
    }

    fn attest(&self, who: &AccountId, enclave: &Keypair) -> (Signature, Attestation) {
        let payload = registration_payload(&CODE, who, &enclave.public().0);
        let sig = self.authority.sign(&payload);
        (
            enclave.sign(&payload),
            Attestation::Authorities {
                signatures: vec![(self.authority.public(), sig)],
            },
        )
    }

    fn register(&mut self, who: AccountId, enclave: &Keypair) -> Result<(), SworkError> {
        let (enclave_sig, attestation) = self.attest(&who, enclave);
        let ctx = self.ctx(who);
        atomically(&mut self.chain.state, |s| {
            register(
                s,
                &ctx,
                &CODE,
                &enclave.public().0,
                &enclave_sig,
                &attestation,
            )
        })
    }

    fn send(
        &mut self,
        who: AccountId,
        report: &WorkReport,
        enclave: &Keypair,
    ) -> Result<(), SworkError> {
        let sig = enclave.sign(&report_payload(report));
        let ctx = self.ctx(who);
        atomically(&mut self.chain.state, |s| {
            report_works(s, &ctx, report, &sig, &[], &[])
        })
    }
}

/// A storage worker: an account, its enclave key, and what the chain has accepted from it.
struct Worker {
    who: AccountId,
    enclave: Keypair,
    last_hash: Root,
    files_size: u64,
}

impl Worker {
    fn new(who: AccountId, seed: &str) -> Self {
        Self {
            who,
            enclave: Keypair::from_suri(&format!("//enclave-{seed}")).unwrap(),
            last_hash: [0; 32],
            files_size: 0,
        }
    }

    fn anchor(&self) -> Anchor {
        self.enclave.public().0
    }

    /// A valid report for the current slot of `world`.
    fn report(
        &self,
        world: &World,
        srd: u64,
        added: &[(Cid, u64)],
        deleted: &[(Cid, u64)],
    ) -> WorkReport {
        let slot = world.chain.height / SLOT * SLOT;
        let files = |l: &[(Cid, u64)]| {
            l.iter()
                .map(|(cid, size)| ReportedFile {
                    cid: *cid,
                    size: *size,
                })
                .collect::<Vec<_>>()
        };
        let added_size: u64 = added.iter().map(|f| f.1).sum();
        let deleted_size: u64 = deleted.iter().map(|f| f.1).sum();
        let files_size = self.files_size + added_size - deleted_size;
        let mut files_root = [0u8; 32];
        files_root[..8].copy_from_slice(&files_size.to_be_bytes());
        WorkReport {
            curr_pk: self.anchor(),
            ab_upgrade_pk: None,
            slot,
            slot_hash: block_hash_at(slot),
            srd_size: srd,
            files_size,
            srd_root: [1; 32],
            files_root,
            added: files(added),
            deleted: files(deleted),
            prev_report_hash: self.last_hash,
        }
    }

    /// Sends a valid report and remembers it.
    fn submit(
        &mut self,
        world: &mut World,
        srd: u64,
        added: &[(Cid, u64)],
        deleted: &[(Cid, u64)],
    ) {
        let report = self.report(world, srd, added, deleted);
        world.send(self.who, &report, &self.enclave).unwrap();
        self.last_hash = report_hash(&report);
        self.files_size = report.files_size;
    }
}

fn registered(world: &mut World, who: AccountId, seed: &str) -> Worker {
    let w = Worker::new(who, seed);
    world.register(who, &w.enclave).unwrap();
    w
}

// ---- registration --------------------------------------------------------------------------

#[test]
fn registration_needs_allowed_code_proof_of_possession_and_enough_authorities() {
    let mut world = World::new();
    let enclave = Keypair::from_suri("//enclave").unwrap();
    let ctx = world.ctx(ALICE);
    let (sig, att) = world.attest(&ALICE, &enclave);
    // Code not on the allowlist.
    let other_code = [9u8; 32];
    assert!(matches!(
        register(
            &mut world.chain.state,
            &ctx,
            &other_code,
            &enclave.public().0,
            &sig,
            &att
        ),
        Err(SworkError::AttestationRejected(_))
    ));
    // Enclave signature by another key.
    let wrong = Keypair::from_suri("//wrong")
        .unwrap()
        .sign(&registration_payload(&CODE, &ALICE, &enclave.public().0));
    assert!(matches!(
        register(
            &mut world.chain.state,
            &ctx,
            &CODE,
            &enclave.public().0,
            &wrong,
            &att
        ),
        Err(SworkError::AttestationRejected(_))
    ));
    // Zero signatures never suffice (reference weakness: an empty list passed).
    let none = Attestation::Authorities { signatures: vec![] };
    assert!(matches!(
        register(&mut world.chain.state, &ctx, &CODE, &enclave.public().0, &sig, &none),
        Err(SworkError::AttestationRejected(m)) if m.contains("0 authority signatures")
    ));
    // Not an authority.
    let impostor = Keypair::from_suri("//impostor").unwrap();
    let forged = Attestation::Authorities {
        signatures: vec![(
            impostor.public(),
            impostor.sign(&registration_payload(&CODE, &ALICE, &enclave.public().0)),
        )],
    };
    assert!(matches!(
        register(
            &mut world.chain.state,
            &ctx,
            &CODE,
            &enclave.public().0,
            &sig,
            &forged
        ),
        Err(SworkError::AttestationRejected(_))
    ));
    // The authority signed for another account.
    let (_, for_bob) = world.attest(&BOB, &enclave);
    assert!(matches!(
        register(
            &mut world.chain.state,
            &ctx,
            &CODE,
            &enclave.public().0,
            &sig,
            &for_bob
        ),
        Err(SworkError::AttestationRejected(_))
    ));
    // A DCAP attestation that is not a quote is rejected, not a panic (see dcap_tests).
    let dcap = Attestation::SgxDcap {
        quote: vec![1, 2, 3],
        collateral: b"{}".to_vec(),
    };
    assert!(matches!(
        register(
            &mut world.chain.state,
            &ctx,
            &CODE,
            &enclave.public().0,
            &sig,
            &dcap
        ),
        Err(SworkError::AttestationRejected(_))
    ));
    register(
        &mut world.chain.state,
        &ctx,
        &CODE,
        &enclave.public().0,
        &sig,
        &att,
    )
    .unwrap();
    assert_eq!(
        pubkey(&world.chain.state, &enclave.public().0).unwrap(),
        Some(PubKeyInfo {
            code: CODE,
            anchor: None,
            kind: AttestationKind::Authorities {},
        })
    );
}

#[test]
fn threshold_counts_distinct_authorities() {
    let mut world = World::new();
    let (a, b) = (
        Keypair::from_suri("//A1").unwrap(),
        Keypair::from_suri("//A2").unwrap(),
    );
    let root = world.chain.root();
    assert_eq!(
        set_authorities(&mut world.chain.state, &root, &[a.public(), b.public()], 0),
        Err(SworkError::AuthoritySet(
            "threshold must be between 1 and the number of authorities"
        ))
    );
    assert_eq!(
        set_authorities(&mut world.chain.state, &root, &[a.public(), a.public()], 1),
        Err(SworkError::AuthoritySet("duplicate authority"))
    );
    let alice_ctx = world.ctx(ALICE);
    assert!(matches!(
        set_authorities(&mut world.chain.state, &alice_ctx, &[a.public()], 1),
        Err(SworkError::System(_))
    ));
    set_authorities(&mut world.chain.state, &root, &[a.public(), b.public()], 2).unwrap();
    let enclave = Keypair::from_suri("//enclave").unwrap();
    let payload = registration_payload(&CODE, &ALICE, &enclave.public().0);
    let ctx = world.ctx(ALICE);
    let twice = Attestation::Authorities {
        signatures: vec![
            (a.public(), a.sign(&payload)),
            (a.public(), a.sign(&payload)),
        ],
    };
    assert!(
        register(
            &mut world.chain.state,
            &ctx,
            &CODE,
            &enclave.public().0,
            &enclave.sign(&payload),
            &twice
        )
        .is_err()
    );
    let both = Attestation::Authorities {
        signatures: vec![
            (a.public(), a.sign(&payload)),
            (b.public(), b.sign(&payload)),
        ],
    };
    register(
        &mut world.chain.state,
        &ctx,
        &CODE,
        &enclave.public().0,
        &enclave.sign(&payload),
        &both,
    )
    .unwrap();
}

#[test]
fn codes_expire_and_can_then_be_cleared() {
    let mut world = World::new();
    let ctx = world.ctx(BOB);
    assert_eq!(
        clear_expired_code(&mut world.chain.state, &ctx, &CODE),
        Err(SworkError::CodeNotExpired)
    );
    clear_expired_code(&mut world.chain.state, &ctx, &[7; 32]).unwrap(); // unknown: no-op
    world.chain.at(100_001);
    let ctx = world.ctx(BOB);
    clear_expired_code(&mut world.chain.state, &ctx, &CODE).unwrap();
    assert_eq!(code_expiry(&world.chain.state, &CODE).unwrap(), None);
}

// ---- reports -------------------------------------------------------------------------------

#[test]
fn first_report_binds_the_anchor_and_resend_is_a_no_op() {
    let mut world = World::new();
    let mut w = registered(&mut world, ALICE, "a");
    world.advance_to(310);
    let report = w.report(&world, 1 << 30, &[], &[]);
    w.submit(&mut world, 1 << 30, &[], &[]);
    let id = identity(&world.chain.state, &ALICE).unwrap().unwrap();
    assert_eq!(
        (id.anchor, id.punishment_deadline, id.group),
        (w.anchor(), NEW_IDENTITY, None)
    );
    let before = world.chain.state.clone();
    world.send(ALICE, &report, &w.enclave).unwrap(); // D14: the same report again changes nothing
    assert_eq!(world.chain.state.entries(), before.entries());
    let mut different = report.clone();
    different.srd_size += 1;
    assert_eq!(
        world.send(ALICE, &different, &w.enclave),
        Err(SworkError::AlreadyReportedInSlot { slot: 300 })
    );
    assert_eq!(
        work_report(&world.chain.state, &w.anchor())
            .unwrap()
            .unwrap()
            .free,
        1 << 30
    );
}

#[test]
fn report_rejections_one_per_reason() {
    let mut world = World::new();
    let mut w = registered(&mut world, ALICE, "a");
    world.advance_to(310);
    let good = w.report(&world, 100, &[], &[]);
    let mut r = good.clone();
    r.srd_size = SRD_LIMIT;
    assert_eq!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::IllegalWorkReport(
            "SRD size must be below 2 PiB"
        ))
    );
    let mut r = good.clone();
    r.files_size = FILES_LIMIT;
    assert_eq!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::IllegalWorkReport(
            "files size must be below 8 PiB"
        ))
    );
    let stranger = Keypair::from_suri("//stranger").unwrap();
    let mut r = good.clone();
    r.curr_pk = stranger.public().0;
    assert_eq!(
        world.send(ALICE, &r, &stranger),
        Err(SworkError::IllegalReporter)
    );
    let mut r = good.clone();
    r.slot = 0; // the previous slot
    r.slot_hash = block_hash_at(0);
    assert_eq!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::InvalidReportTime {
            slot: 0,
            current: 300
        })
    );
    let mut r = good.clone();
    r.slot_hash = [0; 32];
    assert!(matches!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::InvalidReportTime { .. })
    ));
    let mut r = good.clone();
    r.slot = 1; // D16: no slot-1 special case
    r.slot_hash = block_hash_at(1);
    assert!(matches!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::InvalidReportTime { .. })
    ));
    assert_eq!(
        world.send(ALICE, &good, &stranger),
        Err(SworkError::IllegalWorkReportSig)
    );
    let mut r = good.clone();
    r.prev_report_hash = [3; 32];
    assert!(matches!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::PreviousReportMismatch { .. })
    ));
    w.submit(&mut world, 100, &[], &[]);

    // Next slot: a files transition that does not add up.
    world.advance_to(610);
    let mut r = w.report(&world, 100, &[(small_cid(), 100)], &[]);
    r.files_size = 50;
    assert_eq!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::IllegalFilesTransition {
            previous: 0,
            added: 100,
            deleted: 0,
            reported: 50
        })
    );
    let mut r = w.report(&world, 100, &[], &[]);
    r.files_root = [9; 32]; // no changes, yet a different root
    assert!(matches!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::IllegalFilesTransition { .. })
    ));
    // Another account cannot report with Alice's bound key.
    let r = w.report(&world, 100, &[], &[]);
    assert_eq!(
        world.send(BOB, &r, &w.enclave),
        Err(SworkError::IllegalReporter)
    );
    // Expired code.
    let root = world.chain.root();
    set_code(&mut world.chain.state, &root, &CODE, 600).unwrap();
    assert_eq!(
        world.send(ALICE, &r, &w.enclave),
        Err(SworkError::OutdatedReporter)
    );
}

#[test]
fn group_owners_cannot_register_or_report() {
    let mut world = World::new();
    let w = registered(&mut world, ALICE, "a");
    world.advance_to(310);
    let ctx = world.ctx(BOB);
    create_group(&mut world.chain.state, &ctx).unwrap();
    assert_eq!(
        world.register(BOB, &Keypair::from_suri("//b").unwrap()),
        Err(SworkError::GroupOwnerForbidden)
    );
    let r = w.report(&world, 1, &[], &[]);
    assert_eq!(
        world.send(BOB, &r, &w.enclave),
        Err(SworkError::GroupOwnerForbidden)
    );
    // And an account with an identity cannot create a group.
    let mut w = w;
    w.submit(&mut world, 1, &[], &[]);
    let ctx = world.ctx(ALICE);
    assert_eq!(
        create_group(&mut world.chain.state, &ctx),
        Err(SworkError::GroupOwnerForbidden)
    );
    let ctx = world.ctx(BOB);
    assert_eq!(
        create_group(&mut world.chain.state, &ctx),
        Err(SworkError::GroupAlreadyExist)
    );
}

#[test]
fn ab_upgrade_moves_the_anchor_to_the_new_key() {
    let mut world = World::new();
    let mut old = registered(&mut world, ALICE, "old");
    world.advance_to(310);
    old.submit(&mut world, 100, &[], &[]);
    let new = Worker {
        who: ALICE,
        enclave: Keypair::from_suri("//enclave-new").unwrap(),
        last_hash: old.last_hash,
        files_size: 0,
    };
    world.register(ALICE, &new.enclave).unwrap();
    world.advance_to(610);
    let mut r = new.report(&world, 100, &[], &[]);
    r.ab_upgrade_pk = Some(old.anchor());
    r.files_root = work_report(&world.chain.state, &old.anchor())
        .unwrap()
        .unwrap()
        .files_root;
    let mut bad = r.clone();
    bad.srd_root = [7; 32];
    assert_eq!(
        world.send(ALICE, &bad, &new.enclave),
        Err(SworkError::AbUpgradeFailed(
            "roots differ from the previous report"
        ))
    );
    assert_eq!(
        world.send(BOB, &r, &new.enclave),
        Err(SworkError::AbUpgradeFailed(
            "the previous key's anchor belongs to another account"
        ))
    );
    let mut with_files = r.clone();
    with_files.added = vec![ReportedFile {
        cid: small_cid(),
        size: 1,
    }];
    assert_eq!(
        world.send(ALICE, &with_files, &new.enclave),
        Err(SworkError::AbUpgradeFailed(
            "an upgrade report cannot add or delete files"
        ))
    );
    world.send(ALICE, &r, &new.enclave).unwrap();
    assert_eq!(
        pubkey(&world.chain.state, &new.anchor())
            .unwrap()
            .unwrap()
            .anchor,
        Some(old.anchor())
    );
    assert_eq!(pubkey(&world.chain.state, &old.anchor()).unwrap(), None);
}

// ---- replicas through the market ----------------------------------------------------------

#[test]
fn reported_files_become_paid_replicas_in_the_next_block() {
    let mut world = World::new();
    world.chain.set_free(ALICE, 20_000_000);
    world.chain.set_free(BOB, 20_000_000);
    world.chain.add_collateral(BOB, 6_000_000);
    world.chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let mut w = registered(&mut world, BOB, "b");
    world.advance_to(310);
    w.submit(
        &mut world,
        1 << 30,
        &[(big_cid(), BIG_SIZE), (small_cid(), 7)],
        &[],
    );
    assert_eq!(queued_replicas(&world.chain.state), 2);
    world.advance_to(311);
    assert_eq!(queued_replicas(&world.chain.state), 0);
    let f = world.chain.file(&big_cid()).unwrap();
    assert_eq!(
        (f.replicas.len(), f.amount, f.expired_at),
        (1, 19_995, 311 + 1000)
    );
    assert_eq!(
        f.replicas[0].valid_at, 310,
        "valid from the report's block (D15)"
    );
    assert_eq!(world.chain.ledger(&BOB).1, 3225);
    assert_eq!(
        market::anchor_spower(&world.chain.state, &w.anchor()).unwrap(),
        BIG_SIZE
    );
    // Deleting it in the next slot removes the replica and its spower.
    world.advance_to(610);
    w.submit(&mut world, 1 << 30, &[], &[(big_cid(), BIG_SIZE)]);
    world.advance_to(611);
    assert_eq!(world.chain.file(&big_cid()).unwrap().replicas.len(), 0);
    assert_eq!(
        market::anchor_spower(&world.chain.state, &w.anchor()).unwrap(),
        0
    );
}

#[test]
fn replica_queue_is_processed_in_bounded_batches_without_loss() {
    let mut world = World::new();
    world.chain.set_free(ALICE, 1_000_000_000);
    let mut workers = Vec::new();
    for i in 0..5u8 {
        let who = AccountId([100 + i; 32]);
        workers.push(registered(&mut world, who, &format!("w{i}")));
    }
    let cids: Vec<Cid> = (0..300u32)
        .map(|i| {
            Cid::v1_sha256(0x55, {
                let mut d = [0u8; 32];
                d[..4].copy_from_slice(&i.to_be_bytes());
                d
            })
        })
        .collect();
    for cid in &cids {
        world.chain.order(ALICE, cid, 10, 0).unwrap();
    }
    world.advance_to(310);
    let files: Vec<(Cid, u64)> = cids.iter().map(|c| (*c, 10)).collect();
    for w in &mut workers {
        w.submit(&mut world, 0, &files, &[]);
    }
    assert_eq!(queued_replicas(&world.chain.state), 1500);
    world.advance_to(311);
    assert_eq!(
        queued_replicas(&world.chain.state),
        500,
        "one batch of {REPLICA_BATCH} per block"
    );
    world.advance_to(312);
    assert_eq!(queued_replicas(&world.chain.state), 0);
    assert!(
        cids.iter()
            .all(|c| world.chain.file(c).unwrap().replicas.len() == 5)
    );
}

// ---- groups --------------------------------------------------------------------------------

#[test]
fn group_rules_one_per_reason() {
    let mut world = World::new();
    let mut alice = registered(&mut world, ALICE, "a");
    let ctx = |w: &World, who| w.ctx(who);
    let c = ctx(&world, ALICE);
    assert_eq!(
        join_group(&mut world.chain.state, &c, &BOB),
        Err(SworkError::IdentityNotExist)
    );
    world.advance_to(310);
    alice.submit(&mut world, 1, &[], &[]);
    let c = ctx(&world, ALICE);
    assert_eq!(
        join_group(&mut world.chain.state, &c, &BOB),
        Err(SworkError::NotOwner(BOB))
    );
    let b = ctx(&world, BOB);
    assert_eq!(
        add_member_into_allowlist(&mut world.chain.state, &b, &ALICE),
        Err(SworkError::NotOwner(BOB))
    );
    create_group(&mut world.chain.state, &b).unwrap();
    assert_eq!(
        join_group(&mut world.chain.state, &c, &BOB),
        Err(SworkError::NotInAllowlist)
    );
    add_member_into_allowlist(&mut world.chain.state, &b, &ALICE).unwrap();
    join_group(&mut world.chain.state, &c, &BOB).unwrap();
    assert_eq!(owner_of(&world.chain.state, &ALICE).unwrap(), BOB);
    assert_eq!(
        join_group(&mut world.chain.state, &c, &BOB),
        Err(SworkError::AlreadyJoint)
    );
    assert_eq!(
        add_member_into_allowlist(&mut world.chain.state, &b, &ALICE),
        Err(SworkError::AlreadyJoint)
    );
    let e = ctx(&world, EVE);
    assert_eq!(
        kick_out(&mut world.chain.state, &e, &ALICE),
        Err(SworkError::NotOwner(EVE))
    );
    assert_eq!(
        quit_group(&mut world.chain.state, &e),
        Err(SworkError::IdentityNotExist)
    );
    quit_group(&mut world.chain.state, &c).unwrap();
    assert_eq!(
        quit_group(&mut world.chain.state, &c),
        Err(SworkError::NotJoint)
    );
    assert_eq!(
        kick_out(&mut world.chain.state, &b, &ALICE),
        Err(SworkError::NotJoint)
    );
    remove_member_from_allowlist(&mut world.chain.state, &b, &ALICE).unwrap();
    assert!(
        group(&world.chain.state, &BOB)
            .unwrap()
            .unwrap()
            .allowlist
            .is_empty()
    );
}

#[test]
fn d19_join_rejects_spower_and_kick_out_resets_like_quit() {
    let mut world = World::new();
    world.chain.set_free(ALICE, 20_000_000);
    world.chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let mut eve = registered(&mut world, EVE, "e");
    world.advance_to(310);
    eve.submit(&mut world, 1, &[(big_cid(), BIG_SIZE)], &[]);
    world.advance_to(311);
    let b = world.ctx(BOB);
    create_group(&mut world.chain.state, &b).unwrap();
    add_member_into_allowlist(&mut world.chain.state, &b, &EVE).unwrap();
    let e = world.ctx(EVE);
    assert_eq!(
        join_group(&mut world.chain.state, &e, &BOB),
        Err(SworkError::IllegalSpower { spower: BIG_SIZE })
    );
    // Drop the file, then join and re-add it for the group.
    world.advance_to(610);
    eve.submit(&mut world, 1, &[], &[(big_cid(), BIG_SIZE)]);
    world.advance_to(611);
    let e = world.ctx(EVE);
    join_group(&mut world.chain.state, &e, &BOB).unwrap();
    world.advance_to(910);
    eve.submit(&mut world, 1, &[(big_cid(), BIG_SIZE)], &[]);
    world.advance_to(911);
    let f = world.chain.file(&big_cid()).unwrap();
    assert_eq!(
        f.replicas
            .iter()
            .map(|r| (r.owner, r.who))
            .collect::<Vec<_>>(),
        vec![(BOB, EVE)]
    );
    // Kicked out: the worker's files record resets and its replica for BOB is purged.
    let b = world.ctx(BOB);
    kick_out(&mut world.chain.state, &b, &EVE).unwrap();
    assert_eq!(
        work_report(&world.chain.state, &eve.anchor())
            .unwrap()
            .unwrap()
            .reported_files_size,
        0
    );
    world.advance_to(912);
    assert!(world.chain.file(&big_cid()).unwrap().replicas.is_empty());
    assert_eq!(
        market::anchor_spower(&world.chain.state, &eve.anchor()).unwrap(),
        0
    );
    assert_eq!(
        identity(&world.chain.state, &EVE).unwrap().unwrap().group,
        None
    );
}

// ---- consolidation and punishment ---------------------------------------------------------

#[test]
fn missed_report_zeroes_workload_for_eight_slots() {
    let mut world = World::new();
    let mut diligent = registered(&mut world, ALICE, "a");
    let mut lazy = registered(&mut world, BOB, "b");
    world.advance_to(310);
    diligent.submit(&mut world, 1000, &[], &[]);
    lazy.submit(&mut world, 500, &[], &[]);
    // Slot 300 is evaluated at block 600: both count (and it is both's first check).
    world.advance_to(600);
    assert_eq!(
        (
            workload(&world.chain.state, &ALICE).unwrap(),
            workload(&world.chain.state, &BOB).unwrap()
        ),
        (1000, 500)
    );
    // Slot 600: BOB misses.
    world.advance_to(610);
    diligent.submit(&mut world, 1000, &[], &[]);
    world.advance_to(900);
    assert_eq!(workload(&world.chain.state, &ALICE).unwrap(), 1000);
    assert_eq!(workload(&world.chain.state, &BOB).unwrap(), 0);
    assert_eq!(
        identity(&world.chain.state, &BOB)
            .unwrap()
            .unwrap()
            .punishment_deadline,
        600 + 8 * SLOT
    );
    // BOB reports again but counts zero until slot 3000.
    let mut slot = 900;
    while slot < 3300 {
        world.advance_to(slot + 10);
        diligent.submit(&mut world, 1000, &[], &[]);
        lazy.submit(&mut world, 500, &[], &[]);
        world.advance_to(slot + SLOT);
        let expected = if slot >= 600 + 8 * SLOT { 500 } else { 0 };
        assert_eq!(
            workload(&world.chain.state, &BOB).unwrap(),
            expected,
            "slot {slot}"
        );
        slot += SLOT;
    }
    let c = consolidation(&world.chain.state)
        .unwrap()
        .completed
        .unwrap();
    assert_eq!((c.slot, c.free, c.identities), (3000, 1500, 2));
}

#[test]
fn group_workload_goes_to_the_owner() {
    let mut world = World::new();
    let b = world.ctx(BOB);
    create_group(&mut world.chain.state, &b).unwrap();
    let mut members = vec![
        registered(&mut world, ALICE, "a"),
        registered(&mut world, EVE, "e"),
    ];
    world.advance_to(310);
    for m in &mut members {
        m.submit(&mut world, 700, &[], &[]);
        let b = world.ctx(BOB);
        add_member_into_allowlist(&mut world.chain.state, &b, &m.who).unwrap();
        let c = world.ctx(m.who);
        join_group(&mut world.chain.state, &c, &BOB).unwrap();
    }
    world.advance_to(600);
    assert_eq!(workload(&world.chain.state, &BOB).unwrap(), 1400);
    assert_eq!(workload(&world.chain.state, &ALICE).unwrap(), 0);
}

#[test]
fn free_reports_from_swork_benefits() {
    let mut world = World::new();
    world.chain.set_free(ALICE, 1_000);
    let ctx = world.ctx(ALICE);
    crate::benefits::add_benefit_funds(
        &mut world.chain.state,
        &ctx,
        100,
        crate::benefits::FundsType::Swork,
    )
    .unwrap();
    let mut w = registered(&mut world, ALICE, "a");
    world.advance_to(310);
    let report = w.report(&world, 5, &[], &[]);
    let signature = w.enclave.sign(&report_payload(&report));
    let tx = crate::executive::CheckedTransaction {
        signer: ALICE,
        nonce: 0,
        fee: 10,
        tip: 0,
        call: Call::Swork(SworkCall::ReportWorks {
            report,
            signature,
            answers: vec![],
            srd_answers: vec![],
        }),
        encoded_len: 10,
    };
    let block = BlockContext {
        height: 310,
        era: 0,
        author: ROOT,
        parent_hash: [0; 32],
        timestamp_ms: 0,
    };
    let outcome = crate::executive::apply_transaction(&mut world.chain.state, &block, &tx).unwrap();
    assert_eq!((outcome.error, outcome.paid), (None, 0));
    assert_eq!(
        crate::benefits::swork_benefit(&world.chain.state, &ALICE)
            .unwrap()
            .unwrap()
            .used_fee_reduction_count,
        1
    );
    w.last_hash = [0; 32];
    // A rejected report pays its fee and keeps the free count.
    let bad = w.report(&world, 6, &[], &[]);
    let tx = crate::executive::CheckedTransaction {
        nonce: 1,
        call: Call::Swork(SworkCall::ReportWorks {
            signature: w.enclave.sign(b"x"),
            report: bad,
            answers: vec![],
            srd_answers: vec![],
        }),
        ..tx
    };
    let outcome = crate::executive::apply_transaction(&mut world.chain.state, &block, &tx).unwrap();
    assert!(outcome.error.is_some());
    assert_eq!(outcome.paid, 10);
    assert_eq!(
        crate::benefits::swork_benefit(&world.chain.state, &ALICE)
            .unwrap()
            .unwrap()
            .used_fee_reduction_count,
        1
    );
}

#[test]
fn scenario_three_owners_orders_replicas_payouts_and_workloads() {
    let mut world = World::new();
    let owners = [BOB, CHARLIE, DAVE];
    world.chain.set_free(ALICE, 100_000_000);
    for o in owners {
        world.chain.set_free(o, 20_000_000);
        world.chain.add_collateral(o, 6_000_000);
    }
    let files: Vec<(Cid, u64)> = (1..=4)
        .map(|i| (cid_n(i), 1_048_576 * u64::from(i)))
        .collect();
    for (cid, size) in &files {
        let ctx = world.ctx(ALICE);
        atomically(&mut world.chain.state, |s| {
            crate::dispatch(
                s,
                &ctx,
                &Call::Market(MarketCall::PlaceStorageOrder {
                    cid: *cid,
                    file_size: *size,
                    tips: 0,
                    memo: vec![],
                    commitment: crate::testing::commitment_for(cid),
                }),
            )
        })
        .unwrap();
    }
    let mut workers: Vec<Worker> = owners
        .iter()
        .enumerate()
        .map(|(i, o)| registered(&mut world, *o, &format!("s{i}")))
        .collect();
    world.advance_to(310);
    for w in workers.iter_mut() {
        w.submit(&mut world, 1 << 30, &files, &[]);
    }
    world.advance_to(600);
    // DAVE's worker goes offline for a slot; the others keep reporting. Evaluating slot 600 (at
    // block 900) punishes DAVE and drops his replicas; the chain forgets his files, so when he
    // comes back he reports them again as new (and is not paid twice).
    for slot in [600u64, 900, 1200] {
        world.advance_to(slot + 10);
        if slot == 900 {
            for (cid, _) in &files {
                let f = world.chain.file(cid).unwrap();
                assert!(f.replicas.iter().all(|r| r.owner != DAVE), "dropped");
                assert_eq!(f.remaining_paid_count, 2, "repair bounty for the lost copy");
            }
            let record = crate::swork::work_report(&world.chain.state, &workers[2].anchor());
            assert_eq!(record.unwrap().unwrap().reported_files_size, 0);
        }
        for w in workers.iter_mut().filter(|w| w.who != DAVE || slot != 600) {
            if w.who == DAVE && slot == 900 {
                w.files_size = 0;
                w.submit(&mut world, 1 << 30, &files, &[]);
            } else {
                w.submit(&mut world, 1 << 30, &[], &[]);
            }
        }
        world.advance_to(slot + SLOT);
    }
    let total_size: u64 = files.iter().map(|f| f.1).sum();
    for o in [BOB, CHARLIE] {
        assert_eq!(
            workload(&world.chain.state, &o).unwrap(),
            (1u128 << 30) + u128::from(total_size)
        );
    }
    assert_eq!(
        workload(&world.chain.state, &DAVE).unwrap(),
        0,
        "punished for the missed slot"
    );
    for (cid, _) in &files {
        let f = world.chain.file(cid).unwrap();
        assert_eq!((f.replicas.len(), f.remaining_paid_count), (3, 2));
    }
    // Each owner was paid 2.5% of each order's value (byte fee 1000/MiB, keys 0).
    let expected: u128 = files
        .iter()
        .map(|(_, size)| {
            let amount = crust_primitives::Perbill::from_percent(18)
                .mul_nearest(u128::from(size / 1_048_576) * 1000);
            crust_primitives::Perbill::from_parts(138_888_888).mul_nearest(amount)
        })
        .sum();
    assert!(owners.iter().any(|o| world.chain.ledger(o).1 == expected));
    let paid: u128 = owners.iter().map(|o| world.chain.ledger(o).1).sum();
    assert!(paid > expected * 2);
    let supply = crate::state::StateExt::read::<market::StorageSupply>(
        &world.chain.state,
        &crate::state::key("market", "supply", &[]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(supply.free_bytes, 2 << 30);
}

#[test]
fn consolidation_covers_100_000_identities_across_blocks() {
    let mut world = World::new();
    let n = 100_000u32;
    let slot_len = SLOT;
    world.advance_to(slot_len + 1); // the (empty) round for slot 0 is done
    // Identities that reported in slot 300, written directly (registration is tested above).
    for i in 0..n {
        let mut who = [0u8; 32];
        who[..4].copy_from_slice(&i.to_be_bytes());
        let who = AccountId(who);
        let mut anchor = [1u8; 32];
        anchor[..4].copy_from_slice(&i.to_be_bytes());
        put_identity(
            &mut world.chain.state,
            &who,
            &Identity {
                anchor,
                punishment_deadline: 0,
                group: None,
                attestation: AttestationKind::Authorities {},
            },
        );
        world.chain.state.write(
            &report_key(&anchor),
            &WorkReportRecord {
                free: 10,
                ..WorkReportRecord::default()
            },
        );
        world
            .chain
            .state
            .write(&reported_key(&anchor, slot_len), &[0u8; 32]);
    }
    world.advance_to(2 * slot_len); // round for slot 300 starts at block 600
    let blocks_needed = u64::from(n).div_ceil(IDENTITY_BATCH as u64);
    world.advance_to(2 * slot_len + blocks_needed);
    let done = consolidation(&world.chain.state)
        .unwrap()
        .completed
        .unwrap();
    assert_eq!(
        (done.slot, done.identities, done.free),
        (slot_len, u64::from(n), u128::from(n) * 10)
    );
    let sample = AccountId({
        let mut w = [0u8; 32];
        w[..4].copy_from_slice(&77_777u32.to_be_bytes());
        w
    });
    assert_eq!(workload(&world.chain.state, &sample).unwrap(), 10);
}

#[test]
fn srd_counts_only_under_attestations_that_vouch_for_it() {
    // D31: an authority-attested and a DCAP-attested worker, 1 GiB of SRD each, no files.
    let mut world = World::new();
    let root = world.chain.root();
    set_srd_policy(&mut world.chain.state, &root, false, true).unwrap();
    let ctx = world.chain.ctx(ALICE);
    assert!(
        set_srd_policy(&mut world.chain.state, &ctx, true, true).is_err(),
        "governance only"
    );
    let workers = [
        (AccountId([0x31; 32]), AttestationKind::Authorities {}),
        (AccountId([0x32; 32]), AttestationKind::SgxDcap {}),
    ];
    let round = |world: &mut World, slot: u64| {
        for (i, (who, kind)) in workers.iter().enumerate() {
            let anchor = [0x40 + i as u8; 32];
            put_identity(
                &mut world.chain.state,
                who,
                &Identity {
                    anchor,
                    punishment_deadline: 0,
                    group: None,
                    attestation: *kind,
                },
            );
            world.chain.state.write(
                &report_key(&anchor),
                &WorkReportRecord {
                    free: 1 << 30,
                    ..WorkReportRecord::default()
                },
            );
            world
                .chain
                .state
                .write(&reported_key(&anchor, slot), &[0u8; 32]);
        }
        world.advance_to(slot + SLOT + 2);
        workers.map(|(who, _)| workload(&world.chain.state, &who).unwrap())
    };
    world.advance_to(SLOT + 1);
    assert_eq!(round(&mut world, SLOT), [0, 1 << 30]);
    // Governance may trust its authorities' SRD (dev chains do).
    let root = world.chain.root();
    set_srd_policy(&mut world.chain.state, &root, true, true).unwrap();
    assert_eq!(round(&mut world, 2 * SLOT), [1 << 30, 1 << 30]);
}

#[test]
fn work_report_round_trips_the_codec() {
    let w = Worker::new(ALICE, "x");
    let world = World::new();
    let r = w.report(&world, 5, &[(small_cid(), 3)], &[]);
    assert_eq!(
        crust_primitives::codec::decode::<WorkReport>(&crust_primitives::codec::encode(&r)).ok(),
        Some(r)
    );
}

/// A libp2p ed25519 peer ID (base58) for `key`.
fn peer_id_of(key: &Keypair) -> Vec<u8> {
    let mut mh = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    mh.extend_from_slice(key.public().as_bytes());
    bs58::encode(mh).into_string().into_bytes()
}

#[test]
fn peer_records_need_an_identity_a_signed_peer_id_and_printable_addresses() {
    let mut world = World::new();
    let mut w = registered(&mut world, ALICE, "a");
    let node = Keypair::from_seed(&[7; 32]);
    let record = PeerRecord {
        peer_id: peer_id_of(&node),
        addrs: vec![b"/ip4/10.0.0.7/tcp/4001".to_vec()],
    };
    assert!(record.peer_id_text().starts_with("12D3KooW"));
    let signed =
        |who: &AccountId, record: &PeerRecord| node.sign(&peer_binding_payload(who, record));
    let set = |world: &mut World, who: AccountId, record: &PeerRecord, sig: &Signature| {
        let ctx = world.ctx(who);
        atomically(&mut world.chain.state, |s| set_peer(s, &ctx, record, sig))
    };
    let sig = signed(&ALICE, &record);
    // Registered but never reported: no identity, no replicas to serve.
    assert_eq!(
        set(&mut world, ALICE, &record, &sig),
        Err(SworkError::IdentityNotExist)
    );
    world.advance_to(310);
    w.submit(&mut world, 1 << 30, &[], &[]);
    set(&mut world, ALICE, &record, &sig).unwrap();
    assert_eq!(
        peer(&world.chain.state, &ALICE).unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        peers(&world.chain.state, None, 10).unwrap(),
        vec![(ALICE, record.clone())]
    );
    assert!(
        peers(&world.chain.state, Some(&ALICE), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        record.addr_texts(),
        vec!["/ip4/10.0.0.7/tcp/4001".to_owned()]
    );
    // Refused, changing nothing: a peer ID signed for another account or other addresses, a
    // signature by another key, an RSA peer ID, text that is not base58, and addresses that
    // are not multiaddrs.
    let stranger = Keypair::from_seed(&[8; 32]);
    let rsa = PeerRecord {
        peer_id: b"QmVgPq5iP232uJkU4LrD4Gsm1XXH5ky6tEvYCyanurxZgh".to_vec(),
        ..record.clone()
    };
    let bad = [
        (record.clone(), signed(&BOB, &record)),
        // Addresses the node did not sign for (a real node's name on a false address).
        (
            PeerRecord {
                addrs: vec![b"/ip4/6.6.6.6/tcp/4001".to_vec()],
                ..record.clone()
            },
            sig,
        ),
        (
            record.clone(),
            stranger.sign(&peer_binding_payload(&ALICE, &record)),
        ),
        (rsa.clone(), signed(&ALICE, &rsa)),
        (
            PeerRecord {
                peer_id: b"12D3 Koo".to_vec(),
                ..record.clone()
            },
            sig,
        ),
        (
            PeerRecord {
                addrs: vec![b"ip4/10.0.0.7".to_vec()],
                ..record.clone()
            },
            sig,
        ),
        (
            PeerRecord {
                addrs: vec!["/ip4/\u{00e9}".as_bytes().to_vec()],
                ..record.clone()
            },
            sig,
        ),
        (
            PeerRecord {
                peer_id: vec![],
                addrs: record.addrs.clone(),
            },
            sig,
        ),
    ];
    for (b, s) in &bad {
        assert!(
            matches!(
                set(&mut world, ALICE, b, s),
                Err(SworkError::IllegalPeer(_))
            ),
            "{b:?}"
        );
    }
    assert_eq!(
        peer(&world.chain.state, &ALICE).unwrap(),
        Some(record.clone())
    );
    // Oversized records do not even decode.
    let call = SworkCall::SetPeer {
        record: PeerRecord {
            peer_id: vec![b'a'; MAX_PEER_ID_BYTES + 1],
            addrs: vec![],
        },
        signature: sig,
    };
    let bytes = crust_primitives::codec::encode(&call);
    assert!(crust_primitives::codec::decode::<SworkCall>(&bytes).is_err());
    let call = SworkCall::SetPeer {
        record: PeerRecord {
            peer_id: b"id".to_vec(),
            addrs: vec![b"/a".to_vec(); MAX_PEER_ADDRS + 1],
        },
        signature: sig,
    };
    let bytes = crust_primitives::codec::encode(&call);
    assert!(crust_primitives::codec::decode::<SworkCall>(&bytes).is_err());
    let ok = SworkCall::SetPeer {
        record: record.clone(),
        signature: sig,
    };
    assert_eq!(
        crust_primitives::codec::decode::<SworkCall>(&crust_primitives::codec::encode(&ok)).ok(),
        Some(ok)
    );
    // An empty record withdraws it (no signature needed).
    set(
        &mut world,
        ALICE,
        &PeerRecord::default(),
        &Signature([0; 64]),
    )
    .unwrap();
    assert_eq!(peer(&world.chain.state, &ALICE).unwrap(), None);
}
