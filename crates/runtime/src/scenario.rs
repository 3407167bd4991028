//! The whole economic loop through real calls and real block hooks: storage owners register
//! workers and report, orders get replicas and pay their owners, proven storage sets stake
//! limits, an era elects its committee by effective stake, rewards are claimed, and total
//! issuance moves only by what was minted or burned.

use crate::market::MarketCall;
use crate::staking::{StakingCall, ValidatorPrefs};
use crate::state::atomically;
use crate::swork::{self, Attestation, ReportedFile, WorkReport};
use crate::testing::*;
use crate::{BlockContext, Call, balances, benefits, staking};
use crust_primitives::{AccountId, Balance, CRU, Cid, Keypair, Perbill};

const SLOT: u64 = 300;
const CODE: [u8; 32] = [0xc0; 32];

struct Owner {
    stash: AccountId,
    session_key: AccountId,
    enclave: Keypair,
    last_hash: [u8; 32],
    files_size: u64,
}

fn send(chain: &mut Chain, who: AccountId, call: Call) -> Result<(), crate::RuntimeError> {
    let ctx = chain.ctx(who);
    atomically(&mut chain.state, |s| crate::dispatch(s, &ctx, &call))
}

fn run_to(chain: &mut Chain, height: u64, author: AccountId) {
    while chain.height < height {
        chain.height += 1;
        let h = chain.height;
        let block = BlockContext {
            height: h,
            era: 0,
            author,
            parent_hash: [(h - 1) as u8; 32],
            timestamp_ms: 0,
        };
        crate::executive::begin_block(&mut chain.state, &block).unwrap();
    }
}

fn report(chain: &mut Chain, o: &mut Owner, srd: u64, added: &[(Cid, u64)]) {
    let slot = chain.height / SLOT * SLOT;
    let files_size = o.files_size + added.iter().map(|f| f.1).sum::<u64>();
    let mut files_root = [0u8; 32];
    files_root[..8].copy_from_slice(&files_size.to_be_bytes());
    let r = WorkReport {
        curr_pk: o.enclave.public().0,
        ab_upgrade_pk: None,
        slot,
        slot_hash: [(slot) as u8; 32],
        srd_size: srd,
        files_size,
        srd_root: [1; 32],
        files_root,
        added: added
            .iter()
            .map(|(cid, size)| ReportedFile {
                cid: *cid,
                size: *size,
            })
            .collect(),
        deleted: vec![],
        prev_report_hash: o.last_hash,
    };
    let signature = o.enclave.sign(&swork::report_payload(&r));
    send(
        chain,
        o.stash,
        Call::Swork(swork::SworkCall::ReportWorks {
            report: r.clone(),
            signature,
            answers: vec![],
            srd_answers: vec![],
        }),
    )
    .unwrap();
    o.last_hash = swork::report_hash(&r);
    o.files_size = files_size;
}

#[test]
fn storage_to_stake_to_rewards() {
    let genesis_key = AccountId([0x40; 32]);
    let mut chain = Chain::new(
        reference_mock()
            .with_config(|c| c.slots_per_era = 2) // 600-block eras, the next one planned at block 300
            .with_validator(AccountId([0x30; 32]), 10 * CRU, genesis_key)
            .with_balance(ALICE, 100_000_000),
    );
    let authority = Keypair::from_suri("//Authority").unwrap();
    send(
        &mut chain,
        ROOT,
        Call::Swork(swork::SworkCall::SetCode {
            code: CODE,
            expire_block: 1_000_000,
        }),
    )
    .unwrap();
    send(
        &mut chain,
        ROOT,
        Call::Swork(swork::SworkCall::SetAuthorities {
            authorities: vec![authority.public()],
            threshold: 1,
        }),
    )
    .unwrap();
    send(
        &mut chain,
        ROOT,
        Call::Staking(StakingCall::SetValidatorCount { count: 2 }),
    )
    .unwrap();
    // The reports below commit made-up files roots; storage challenges (D18) are tested with
    // real trees in swork's challenge tests and with sealed data by the worker's tests.
    send(
        &mut chain,
        ROOT,
        Call::Swork(swork::SworkCall::SetChallenges { enabled: false }),
    )
    .unwrap();

    // Three storage owners: each bonds 100 CRU, validates, and runs one worker, with collateral.
    let mut owners: Vec<Owner> = [BOB, CHARLIE, DAVE]
        .iter()
        .enumerate()
        .map(|(i, stash)| Owner {
            stash: *stash,
            session_key: AccountId([0x50 + i as u8; 32]),
            enclave: Keypair::from_suri(&format!("//worker{i}")).unwrap(),
            last_hash: [0; 32],
            files_size: 0,
        })
        .collect();
    for o in &owners {
        chain.set_free(o.stash, 200 * CRU);
        chain.add_collateral(o.stash, 10 * CRU);
        send(
            &mut chain,
            o.stash,
            Call::Staking(StakingCall::Bond {
                controller: o.stash,
                value: 100 * CRU,
            }),
        )
        .unwrap();
        let prefs = ValidatorPrefs {
            commission: Perbill::from_percent(10),
            session_key: o.session_key,
        };
        send(
            &mut chain,
            o.stash,
            Call::Staking(StakingCall::Validate { prefs }),
        )
        .unwrap();
        let payload = swork::registration_payload(&CODE, &o.stash, &o.enclave.public().0);
        let attestation = Attestation::Authorities {
            signatures: vec![(authority.public(), authority.sign(&payload))],
        };
        let register = swork::SworkCall::Register {
            code: CODE,
            enclave_key: o.enclave.public().0,
            enclave_sig: o.enclave.sign(&payload),
            attestation,
        };
        send(&mut chain, o.stash, Call::Swork(register)).unwrap();
    }

    // ALICE orders two files.
    let files: Vec<(Cid, u64)> = vec![(cid_n(1), 3 * 1_048_576), (cid_n(2), 5 * 1_048_576)];
    for (cid, size) in &files {
        let order = MarketCall::PlaceStorageOrder {
            cid: *cid,
            file_size: *size,
            tips: 0,
            memo: vec![],
            commitment: crate::testing::commitment_for(cid),
        };
        send(&mut chain, ALICE, Call::Market(order)).unwrap();
    }
    let issuance_start = balances::total_issuance(&chain.state).unwrap();

    // Slot 0: BOB and CHARLIE store both files and 1 GiB of SRD; DAVE only 0.25 GiB of SRD.
    run_to(&mut chain, 10, genesis_key);
    report(&mut chain, &mut owners[0], 1 << 30, &files);
    report(&mut chain, &mut owners[1], 1 << 30, &files);
    report(&mut chain, &mut owners[2], 1 << 28, &[]);
    run_to(&mut chain, 11, genesis_key);
    for (cid, _) in &files {
        let f = chain.file(cid).unwrap();
        assert_eq!(f.replicas.len(), 2);
    }
    // Each file paid its first two owners 2.5% of the order value.
    let paid_each: Balance = files
        .iter()
        .map(|(_, size)| {
            let amount = Perbill::from_percent(18).mul_nearest(u128::from(size / 1_048_576) * 1000);
            Perbill::from_parts(138_888_888).mul_nearest(amount)
        })
        .sum();
    assert!(chain.ledger(&BOB).1 >= paid_each - 2 && chain.ledger(&CHARLIE).1 > 0);

    // Block 300: slot 0 is consolidated and era 1 is planned from the resulting stake limits.
    run_to(&mut chain, 300, genesis_key);
    let files_bytes: u64 = files.iter().map(|f| f.1).sum();
    let w_bob = swork::workload(&chain.state, &BOB).unwrap();
    assert_eq!(w_bob, (1u128 << 30) + u128::from(files_bytes));
    assert_eq!(swork::workload(&chain.state, &DAVE).unwrap(), 1 << 28);
    assert_eq!(
        staking::stake_limit(&chain.state, &BOB).unwrap(),
        w_bob,
        "stage one: 1 unit per byte"
    );
    let committee = staking::committee(&chain.state, 1).unwrap().unwrap();
    // Top 2 by effective stake (= the stake limit, far below the 100 CRU bonds).
    assert_eq!(
        committee.iter().map(|m| m.stash).collect::<Vec<_>>(),
        vec![BOB, CHARLIE]
    );
    // Clipping uses a Perbill ratio of the 100 CRU bond: exact to 1e-9 of it (100 000 units).
    assert!(
        w_bob - committee[0].stake < 100_000,
        "{} vs {w_bob}",
        committee[0].stake
    );

    // Slot 300: DAVE misses its report; the others report. Era 1 starts at block 600.
    run_to(&mut chain, 310, genesis_key);
    report(&mut chain, &mut owners[0], 1 << 30, &[]);
    report(&mut chain, &mut owners[1], 1 << 30, &[]);
    run_to(&mut chain, 600, genesis_key);
    assert_eq!(staking::active_era(&chain.state).unwrap(), 1);
    assert_eq!(
        swork::workload(&chain.state, &DAVE).unwrap(),
        0,
        "missed slot: workload zeroed"
    );

    // Era 1: BOB's and CHARLIE's nodes author blocks in turn; both keep reporting.
    for (slot, author) in [
        (600u64, owners[0].session_key),
        (900, owners[1].session_key),
    ] {
        run_to(&mut chain, slot + 10, author);
        report(&mut chain, &mut owners[0], 1 << 30, &[]);
        report(&mut chain, &mut owners[1], 1 << 30, &[]);
        run_to(&mut chain, slot + SLOT - 1, author);
    }
    run_to(&mut chain, 1200, owners[0].session_key);
    let rewards = staking::era_rewards(&chain.state, 1).unwrap();
    assert!(rewards.ended && rewards.staking_payout > 0 && rewards.authoring_payout > 0);

    // Claims mint the rewards; nothing else changed issuance since the orders except the market
    // staking pot, which was burned when the era ended and is paid out over 60 eras.
    let before_claims = balances::total_issuance(&chain.state).unwrap();
    let bonded = |chain: &Chain, who| staking::ledger(&chain.state, who).unwrap().unwrap().active;
    let (bob0, charlie0) = (bonded(&chain, &BOB), bonded(&chain, &CHARLIE));
    send(
        &mut chain,
        ALICE,
        Call::Staking(StakingCall::RewardStakers {
            validator: BOB,
            era: 1,
        }),
    )
    .unwrap();
    send(
        &mut chain,
        ALICE,
        Call::Staking(StakingCall::RewardStakers {
            validator: CHARLIE,
            era: 1,
        }),
    )
    .unwrap();
    let minted = (bonded(&chain, &BOB) - bob0) + (bonded(&chain, &CHARLIE) - charlie0);
    assert!(minted > 0);
    assert_eq!(
        balances::total_issuance(&chain.state).unwrap(),
        before_claims + minted
    );
    assert!(minted <= rewards.staking_payout + rewards.authoring_payout);
    // DAVE was a candidate but not elected: no exposure, nothing to claim (D20).
    assert!(
        send(
            &mut chain,
            ALICE,
            Call::Staking(StakingCall::RewardStakers {
                validator: DAVE,
                era: 1
            })
        )
        .is_err()
    );
    // The market staking pot (72% of the order fees) was withdrawn into era payouts.
    assert!(balances::free_balance(&chain.state, &crate::market::staking_pot()).unwrap() <= 1);
    assert!(
        before_claims < issuance_start,
        "the pot was burned, to be re-minted over 60 eras"
    );
    assert_eq!(benefits::era_benefits(&chain.state).unwrap().active_era, 2);
}
