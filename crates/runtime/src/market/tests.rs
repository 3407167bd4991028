//! Market tests: the reference's worked examples first (same numbers), then one test per
//! error, then the deliberate differences D7–D12.

use super::*;
use crate::testing::*;

/// (size, expired_at, calculated_at, amount, prepaid, replicas, remaining paid count): the
/// fields the reference's tests assert.
fn summary(f: &FileInfo) -> (u64, u64, u64, Balance, Balance, usize, u32) {
    (
        f.file_size,
        f.expired_at,
        f.calculated_at,
        f.amount,
        f.prepaid,
        f.replicas.len(),
        f.remaining_paid_count,
    )
}

/// A chain at block 50 where `merchants` each have 20 M free and 6 M collateral, and ALICE
/// has 20 M (the common setup of the reference's replica tests).
fn chain_with_merchants(merchants: &[AccountId]) -> Chain {
    let mut chain = Chain::mock();
    chain.at(50);
    chain.set_free(ALICE, 20_000_000);
    for m in merchants {
        chain.set_free(*m, 20_000_000);
        chain.add_collateral(*m, 6_000_000);
    }
    chain
}

// ---- worked examples ----------------------------------------------------------------------

#[test]
fn order_fee_splits_72_18_10() {
    // docs/reference.md M3.0: base 1000, byte 1000/MiB, keys 1000, 100 B → 1 MiB.
    let mut chain = Chain::mock();
    chain.at(50);
    chain.set_free(ALICE, 4000);
    let root = chain.root();
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::KeysFee { fee: 1000 },
    )
    .unwrap();
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();

    let f = chain.file(&small_cid()).unwrap();
    assert_eq!(summary(&f), (100, 0, 50, 360, 0, 0, 4));
    assert_eq!(chain.pot(reserved_pot()), 1200);
    assert_eq!(chain.pot(staking_pot()), 1440);
    assert_eq!(chain.pot(storage_pot()), 360);
    assert_eq!(chain.free(&ALICE), 1000);
    assert_eq!(counters(&chain.state).unwrap().orders_count, 1);
}

#[test]
fn big_order_splits_92880_23220_13900() {
    // 134 289 408 B = 129 started MiB: value 129 000, base 1000.
    let mut chain = chain_with_merchants(&[]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 0, 50, 23_220, 0, 0, 4)
    );
    assert_eq!(chain.pot(staking_pot()), 92_880);
    assert_eq!(chain.pot(storage_pot()), 23_220);
    assert_eq!(chain.pot(reserved_pot()), 13_900);
}

#[test]
fn first_four_owners_get_2_5_percent_each_23220_to_10320() {
    // Reference `update_replicas_should_work_for_more_replicas`.
    let mut chain = chain_with_merchants(&[MERCHANT, CHARLIE, DAVE, EVE, FERDIE]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(203);
    for (who, valid_at) in [(FERDIE, 103), (CHARLIE, 203), (DAVE, 203)] {
        assert_eq!(
            chain.replica(&big_cid(), BIG_SIZE, who, who, anchor(1), valid_at),
            ReplicaOutcome::Added { reward: 3225 }
        );
    }
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, MERCHANT, MERCHANT, anchor(1), 303);
    chain.at(503);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, EVE, EVE, anchor(1), 503),
        ReplicaOutcome::Added { reward: 0 }
    );

    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(summary(&f), (BIG_SIZE, 1203, 203, 10_320, 0, 5, 0));
    let valid: Vec<_> = f
        .replicas
        .iter()
        .map(|r| (r.owner, r.valid_at, r.created_at))
        .collect();
    assert!(valid.contains(&(FERDIE, 103, Some(103))));
    assert!(valid.contains(&(EVE, 503, Some(503))));
    for m in [FERDIE, CHARLIE, DAVE, MERCHANT] {
        assert_eq!(chain.ledger(&m), (6_000_000, 3225));
    }
    assert_eq!(chain.ledger(&EVE), (6_000_000, 0));
}

#[test]
fn replicas_are_deduplicated_per_owner() {
    // Reference `update_replicas_should_only_pay_the_groups`: CHARLIE reports for FERDIE's group.
    let mut chain = chain_with_merchants(&[MERCHANT, CHARLIE, DAVE, EVE, FERDIE]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(203);
    chain.replica(&big_cid(), BIG_SIZE, FERDIE, FERDIE, anchor(0x11), 103);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, CHARLIE, FERDIE, anchor(0x22), 203),
        ReplicaOutcome::AlreadyHeld
    );
    chain.replica(&big_cid(), BIG_SIZE, DAVE, DAVE, anchor(0x33), 203);
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, MERCHANT, MERCHANT, anchor(1), 303);
    chain.at(503);
    chain.replica(&big_cid(), BIG_SIZE, EVE, EVE, anchor(1), 503);

    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(summary(&f), (BIG_SIZE, 1203, 203, 10_320, 0, 4, 0));
    for (m, reward) in [
        (FERDIE, 3225),
        (CHARLIE, 0),
        (DAVE, 3225),
        (MERCHANT, 3225),
        (EVE, 3225),
    ] {
        assert_eq!(chain.ledger(&m).1, reward, "{m:?}");
    }
}

#[test]
fn group_owner_is_paid_once_per_file() {
    // Reference `one_owner_should_work`: members of BOB's and ZIKUN's groups report.
    let mut chain = chain_with_merchants(&[BOB, ZIKUN]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, FERDIE, ZIKUN, anchor(1), 303);
    chain.replica(&big_cid(), BIG_SIZE, CHARLIE, BOB, anchor(2), 303);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, DAVE, BOB, anchor(3), 303),
        ReplicaOutcome::AlreadyHeld
    );
    chain.at(403);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, EVE, ZIKUN, anchor(4), 403),
        ReplicaOutcome::AlreadyHeld
    );
    assert_eq!(chain.ledger(&BOB), (6_000_000, 3225));
    assert_eq!(chain.ledger(&ZIKUN), (6_000_000, 3225));
}

#[test]
fn liquidator_takes_the_rest_after_expiry_19995() {
    // docs/reference.md M3.6: order at 50, replica at 303 (expires 1303), liquidation at 2503.
    let mut chain = chain_with_merchants(&[BOB]);
    let charlie = chain.ctx(CHARLIE);
    calculate_reward(&mut chain.state, &charlie, &big_cid()).unwrap(); // no file: a no-op
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let charlie = chain.ctx(CHARLIE);
    assert!(matches!(
        calculate_reward(&mut chain.state, &charlie, &big_cid()),
        Err(MarketError::NotInRewardPeriod { .. })
    ));
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    assert_eq!(chain.file(&big_cid()).unwrap().amount, 19_995);
    chain.at(2503);
    let charlie = chain.ctx(CHARLIE);
    calculate_reward(&mut chain.state, &charlie, &big_cid()).unwrap();
    assert_eq!(chain.free(&CHARLIE), 19_995);
    assert!(chain.file(&big_cid()).is_none());
    assert_eq!(
        chain.pot(storage_pot()),
        3225,
        "only BOB's unclaimed reward stays in the pot"
    );
}

#[test]
fn prepaid_renews_400000_270000_140000_10000() {
    // docs/reference.md M3.6, prepaid variant; the final close refunds the 10 000 left (D8).
    let mut chain = chain_with_merchants(&[BOB]);
    let alice = chain.ctx(ALICE);
    assert_eq!(
        add_prepaid(&mut chain.state, &alice, &big_cid(), 400_000),
        Err(MarketError::FileNotExist { cid: big_cid() })
    );
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(chain.pot(reserved_pot()), 13_900);
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    let alice = chain.ctx(ALICE);
    add_prepaid(&mut chain.state, &alice, &big_cid(), 400_000).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 303, 19_995, 400_000, 1, 3)
    );

    let settle = |chain: &mut Chain, at: u64| {
        chain.at(at);
        let ctx = chain.ctx(CHARLIE);
        calculate_reward(&mut chain.state, &ctx, &big_cid()).unwrap();
    };
    settle(&mut chain, 2503);
    assert_eq!(chain.free(&CHARLIE), 19_995);
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 3503, 2503, 23_220, 270_000, 1, 3)
    );
    assert_eq!(chain.pot(reserved_pot()), 27_800);

    settle(&mut chain, 8000);
    assert_eq!(chain.free(&CHARLIE), 43_215);
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 9000, 8000, 23_220, 140_000, 1, 3)
    );
    assert_eq!(chain.pot(reserved_pot()), 41_700);

    settle(&mut chain, 10_000);
    assert_eq!(chain.free(&CHARLIE), 66_435);
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 11_000, 10_000, 23_220, 10_000, 1, 3)
    );
    assert_eq!(chain.pot(reserved_pot()), 55_600);

    let alice_before = chain.free(&ALICE);
    settle(&mut chain, 11_000);
    assert_eq!(chain.free(&CHARLIE), 89_655);
    assert!(chain.file(&big_cid()).is_none());
    // Reference: the 10 000 go to the reserved pot (65 600). D8: they go back to the orderer.
    assert_eq!(chain.pot(reserved_pot()), 55_600);
    assert_eq!(chain.free(&ALICE), alice_before + 10_000);
}

#[test]
fn storage_pot_stays_balanced_through_renewals() {
    // Reference `storage_pot_should_be_balanced` (pot seeded with 1 unit as there).
    let mut chain = chain_with_merchants(&[BOB]);
    chain.set_free(storage_pot(), 1);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(chain.pot(storage_pot()), 23_221);
    assert_eq!(chain.pot(reserved_pot()), 13_900);
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    let alice = chain.ctx(ALICE);
    add_prepaid(&mut chain.state, &alice, &big_cid(), 400_000).unwrap();
    assert_eq!(chain.pot(storage_pot()), 423_221);
    for (at, pot) in [
        (2503, 296_446),
        (8000, 166_446),
        (9000, 36_446),
        (10_000, 3226),
    ] {
        chain.at(at);
        let ctx = chain.ctx(CHARLIE);
        calculate_reward(&mut chain.state, &ctx, &big_cid()).unwrap();
        assert_eq!(chain.pot(storage_pot()), pot, "at block {at}");
    }
    // 13 900 × 4 base+reserved shares; the last 10 000 prepaid was refunded (D8), not reserved.
    assert_eq!(chain.pot(reserved_pot()), 55_600);
}

#[test]
fn settling_an_ongoing_file_only_moves_calculated_at() {
    // Reference `renew_onging_file_should_not_work`.
    let mut chain = chain_with_merchants(&[BOB]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    let alice = chain.ctx(ALICE);
    add_prepaid(&mut chain.state, &alice, &big_cid(), 400_000).unwrap();
    chain.at(503);
    let ctx = chain.ctx(CHARLIE);
    calculate_reward(&mut chain.state, &ctx, &big_cid()).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 503, 19_995, 400_000, 1, 3)
    );
    assert_eq!(chain.free(&CHARLIE), 0);
}

#[test]
fn renewal_uses_current_prices_prepaid_200000_to_21000() {
    // Reference `change_base_fee_should_work`: base fee 50 000.
    let mut chain = Chain::mock();
    chain.at(50);
    chain.set_free(ALICE, 2_000_000);
    chain.set_free(MERCHANT, 60_200);
    chain.add_collateral(MERCHANT, 60_000);
    let root = chain.root();
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::BaseFee { fee: 50_000 },
    )
    .unwrap();
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(chain.pot(reserved_pot()), 62_900);
    assert_eq!(chain.pot(staking_pot()), 92_880);
    assert_eq!(chain.pot(storage_pot()), 23_220);
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, MERCHANT, MERCHANT, anchor(1), 303);
    let alice = chain.ctx(ALICE);
    add_prepaid(&mut chain.state, &alice, &big_cid(), 200_000).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 303, 19_995, 200_000, 1, 3)
    );
    chain.at(2503);
    let alice = chain.ctx(ALICE);
    calculate_reward(&mut chain.state, &alice, &big_cid()).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 3503, 2503, 23_220, 21_000, 1, 3)
    );
}

#[test]
fn reward_merchant_pays_unclaimed_rewards() {
    // Reference `reward_merchant_should_work`: pot 121, collateral 180, reward 120.
    let mut chain = Chain::mock();
    chain.at(50);
    chain.set_free(storage_pot(), 121);
    chain.set_free(MERCHANT, 180);
    chain.add_collateral(MERCHANT, 180);
    benefits::set_file_reward(&mut chain.state, &MERCHANT, 120).unwrap();
    let merchant = chain.ctx(MERCHANT);
    reward_merchant(&mut chain.state, &merchant).unwrap();
    assert_eq!(chain.ledger(&MERCHANT), (180, 0));
    assert_eq!(chain.free(&MERCHANT), 120);
    assert_eq!(chain.pot(storage_pot()), 1);
    assert_eq!(
        reward_merchant(&mut chain.state, &merchant),
        Err(MarketError::NotEnoughReward)
    );
    let alice = chain.ctx(ALICE);
    assert_eq!(
        reward_merchant(&mut chain.state, &alice),
        Err(MarketError::NotEnoughReward)
    );
}

#[test]
fn staking_pot_withdrawal_keeps_the_existential_deposit_719() {
    // Reference `withdraw_staking_pot_should_work`: keys fee 0, 100 B order.
    let mut chain = Chain::mock();
    chain.at(50);
    assert_eq!(withdraw_staking_pot(&mut chain.state), Ok(0));
    chain.set_free(ALICE, 20_000);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    assert_eq!(
        summary(&chain.file(&small_cid()).unwrap()),
        (100, 0, 50, 180, 0, 0, 4)
    );
    assert_eq!(chain.pot(reserved_pot()), 1100);
    assert_eq!(chain.pot(staking_pot()), 720);
    assert_eq!(chain.pot(storage_pot()), 180);
    let issuance = balances::total_issuance(&chain.state).unwrap();
    assert_eq!(withdraw_staking_pot(&mut chain.state), Ok(719));
    assert_eq!(chain.pot(staking_pot()), 1);
    assert_eq!(
        balances::total_issuance(&chain.state).unwrap(),
        issuance - 719
    );
}

#[test]
fn spower_multiplier_table() {
    // docs/reference.md M7.1 test vectors (size 1000) and the 129 MiB file's 1-replica spower.
    for (n, expected) in [
        (0, 1000),
        (16, 2000),
        (128, 180_000),
        (146, 190_000),
        (200, 200_000),
        (250, 200_000),
    ] {
        assert_eq!(calculate_spower(1000, n), expected, "n = {n}");
    }
    assert_eq!(calculate_spower(BIG_SIZE, 1), 147_718_348);
    assert_eq!(calculate_spower(BIG_SIZE, 10), 268_578_816);
    assert_eq!(calculate_spower(BIG_SIZE, 20), 537_157_632);
}

#[test]
fn spower_follows_replica_count_and_caps_at_200_replicas() {
    // Reference `dynamic_spower_should_work`, with spower derived on chain (D3).
    let mut chain = chain_with_merchants(&[]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    let acct = |i: u16| {
        AccountId([
            (i % 256) as u8,
            (i / 256) as u8,
            0xaa,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ])
    };
    for i in 0..10 {
        chain.replica(&big_cid(), BIG_SIZE, acct(i), acct(i), anchor(1), 303);
    }
    assert_eq!(
        chain.file(&big_cid()).unwrap().spower,
        calculate_spower(BIG_SIZE, 10)
    );
    for i in 10..220 {
        chain.replica(&big_cid(), BIG_SIZE, acct(i), acct(i), anchor(1), 303);
    }
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(
        (f.replicas.len(), f.spower),
        (200, calculate_spower(BIG_SIZE, 200))
    );
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, acct(300), acct(300), anchor(1), 303),
        ReplicaOutcome::Full
    );
    for i in 0..140 {
        assert!(remove_replica(&mut chain.state, 303, &big_cid(), &acct(i), &acct(i)).unwrap());
    }
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(
        (f.replicas.len(), f.spower),
        (60, calculate_spower(BIG_SIZE, 60))
    );
    // None matured yet: every replica counts the raw size.
    assert_eq!(
        anchor_spower(&chain.state, &anchor(1)).unwrap(),
        60 * BIG_SIZE
    );
}

#[test]
fn spower_matures_after_the_ready_period() {
    // Reference `spower_delay_should_work` (ready period 300), matured by the block hook.
    let mut chain = chain_with_merchants(&[BOB, CHARLIE]);
    let root = chain.root();
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::SpowerReadyPeriod { blocks: 300 },
    )
    .unwrap();
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    chain.run_hooks_to(503);
    chain.replica(&big_cid(), BIG_SIZE, CHARLIE, CHARLIE, anchor(2), 503);
    chain.run_hooks_to(602);
    let f = chain.file(&big_cid()).unwrap();
    assert!(f.replicas.iter().all(|r| r.created_at.is_some()));
    assert_eq!(anchor_spower(&chain.state, &anchor(1)).unwrap(), BIG_SIZE);

    chain.run_hooks_to(603); // BOB's replica (valid 303) matures
    let two = calculate_spower(BIG_SIZE, 2);
    assert_eq!(anchor_spower(&chain.state, &anchor(1)).unwrap(), two);
    assert_eq!(anchor_spower(&chain.state, &anchor(2)).unwrap(), BIG_SIZE);
    chain.run_hooks_to(803); // CHARLIE's (valid 503) matures
    assert_eq!(anchor_spower(&chain.state, &anchor(2)).unwrap(), two);
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(summary(&f), (BIG_SIZE, 1303, 303, 16_770, 0, 2, 2));
    assert!(f.replicas.iter().all(|r| r.created_at.is_none()));

    // Removing a matured replica removes its multiplied contribution; the other re-prices.
    assert!(remove_replica(&mut chain.state, 803, &big_cid(), &BOB, &BOB).unwrap());
    assert_eq!(anchor_spower(&chain.state, &anchor(1)).unwrap(), 0);
    assert_eq!(
        anchor_spower(&chain.state, &anchor(2)).unwrap(),
        calculate_spower(BIG_SIZE, 1)
    );
    // Closing the file removes every contribution entirely.
    chain.at(5000);
    let ctx = chain.ctx(DAVE);
    chain.set_free(DAVE, 1);
    calculate_reward(&mut chain.state, &ctx, &big_cid()).unwrap();
    assert!(chain.file(&big_cid()).is_none());
    assert_eq!(anchor_spower(&chain.state, &anchor(2)).unwrap(), 0);
}

#[test]
fn byte_fee_follows_supply_1000_990_980_990() {
    // Reference `update_file_byte_fee_should_work` (ratios 1%).
    let mut p = reference_mock().market;
    p.byte_fee_increase_ratio = Perbill::from_percent(1);
    p.byte_fee_decrease_ratio = Perbill::from_percent(1);
    let supply = |used, free| StorageSupply {
        used_bytes: used,
        free_bytes: free,
    };
    let mut step = |used, free| {
        p.byte_fee = pricing::next_byte_fee(&p, &supply(used, free));
        p.byte_fee
    };
    assert_eq!(step(0, 0), 990);
    assert_eq!(step(10_000, 40_000), 980);
    assert_eq!(step(60_000, 40_000), 990);
    p.byte_fee = 40;
    let step = |p: &mut MarketParams, used, free| {
        p.byte_fee = pricing::next_byte_fee(p, &supply(used, free));
        p.byte_fee
    };
    assert_eq!(step(&mut p, 1000, 40_000), 40, "1% of 40 rounds to 0");
    assert_eq!(step(&mut p, 60_000, 40_000), 41, "increase is at least 1");
    p.min_byte_fee = 80;
    assert_eq!(step(&mut p, 1000, 40_000), 80);
    assert_eq!(step(&mut p, 1000, 40_000), 80);
}

#[test]
fn base_fee_follows_replication_demand_1000_950_997_1047_995() {
    // Reference `update_base_fee_should_work` (thresholds 10/30, ratios 5%).
    let mut p = reference_mock().market;
    p.base_fee_increase_ratio = Perbill::from_percent(5);
    p.base_fee_decrease_ratio = Perbill::from_percent(5);
    let step = |p: &mut MarketParams, added, orders| {
        p.base_fee = pricing::next_base_fee(p, added, orders);
        p.base_fee
    };
    assert_eq!(step(&mut p, 500, 0), 950);
    assert_eq!(step(&mut p, 200, 10), 950);
    assert_eq!(step(&mut p, 0, 100), 997);
    assert_eq!(step(&mut p, 60, 10), 1047);
    assert_eq!(step(&mut p, 1500, 10), 995);
    p.min_base_fee = 1300;
    assert_eq!(step(&mut p, 1500, 10), 1300);
    assert_eq!(step(&mut p, 60, 10), 1365);
}

#[test]
fn byte_fee_adjusts_at_block_597_of_a_slot_after_orders() {
    // Reference `update_file_byte_fee_per_blocks_should_work` (report slot 300).
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 20_000);
    let root = chain.root();
    let one = Perbill::from_percent(1);
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::ByteFeeRatios {
            increase: one,
            decrease: one,
        },
    )
    .unwrap();
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    let byte_fee = |chain: &mut Chain, at| {
        on_initialize(&mut chain.state, at).unwrap();
        params(&chain.state).unwrap().byte_fee
    };
    assert_eq!(byte_fee(&mut chain, 6), 1000);
    assert_eq!(byte_fee(&mut chain, 597), 990);
    set_storage_supply(
        &mut chain.state,
        &StorageSupply {
            used_bytes: 10_000,
            free_bytes: 10_000,
        },
    );
    assert_eq!(
        byte_fee(&mut chain, 1197),
        990,
        "no order since the last adjustment"
    );
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    assert_eq!(byte_fee(&mut chain, 1796), 990);
    assert_eq!(byte_fee(&mut chain, 1797), 980);
}

#[test]
fn keys_fee_follows_live_file_count() {
    // Reference `update_file_keys_count_fee_per_blocks_should_work`.
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 20_000);
    let root = chain.root();
    let one = Perbill::from_percent(1);
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::KeysFeeRatios {
            increase: one,
            decrease: one,
        },
    )
    .unwrap();
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::KeysFee { fee: 1000 },
    )
    .unwrap();
    let keys_fee = |chain: &mut Chain, at| {
        on_initialize(&mut chain.state, at).unwrap();
        params(&chain.state).unwrap().keys_fee
    };
    assert_eq!(keys_fee(&mut chain, 596), 1000);
    assert_eq!(keys_fee(&mut chain, 597), 990);
    assert_eq!(keys_fee(&mut chain, 1197), 990);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    assert_eq!(keys_fee(&mut chain, 1796), 990);
    assert_eq!(keys_fee(&mut chain, 1797), 980);

    let with_files = |chain: &mut Chain, files: u64| {
        let mut c = counters(&chain.state).unwrap();
        c.file_keys_count = files;
        set_counters(&mut chain.state, &c);
        chain.order(ALICE, &small_cid(), 100, 0).unwrap();
        keys_fee(chain, 2397)
    };
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::KeysFee { fee: 40 },
    )
    .unwrap();
    assert_eq!(with_files(&mut chain, 2_000_000), 40);
    assert_eq!(with_files(&mut chain, 5_000_001), 41);
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::KeysFeeBounds {
            min: 80,
            max: 1_000_000,
        },
    )
    .unwrap();
    assert_eq!(with_files(&mut chain, 5_000_000), 80);
    assert_eq!(with_files(&mut chain, 5_000_001), 81);
}

#[test]
fn base_fee_adjusts_at_block_578_and_resets_counters() {
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 20_000);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    on_initialize(&mut chain.state, 577).unwrap();
    assert_eq!(params(&chain.state).unwrap().base_fee, 1000);
    // 1 order, 0 replicas: alpha 0 < 10 → +0.33% (3.3 → 3).
    on_initialize(&mut chain.state, 578).unwrap();
    assert_eq!(params(&chain.state).unwrap().base_fee, 1003);
    let c = counters(&chain.state).unwrap();
    assert_eq!((c.orders_count, c.added_replicas), (0, 0));
}

// ---- one test per error ---------------------------------------------------------------------

#[test]
fn error_insufficient_currency() {
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 100);
    assert_eq!(
        chain.order(ALICE, &small_cid(), 100, 0),
        Err(MarketError::InsufficientCurrency {
            needed: 2000,
            usable: 100
        })
    );
    chain.order(ALICE, &small_cid(), 100, 0).unwrap_err();
    let ctx = chain.ctx(ALICE);
    assert!(matches!(
        add_prepaid(&mut chain.state, &ctx, &small_cid(), 1000),
        Err(MarketError::InsufficientCurrency { .. })
    ));
}

#[test]
fn error_file_size_not_correct_and_larger_reorder_charges_stored_size() {
    // Reference `double_place_storage_order_file_size_check_should_work`.
    let mut chain = chain_with_merchants(&[MERCHANT]);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    chain.at(303);
    chain.replica(&small_cid(), 100, MERCHANT, MERCHANT, anchor(1), 303);
    assert_eq!(
        summary(&chain.file(&small_cid()).unwrap()),
        (100, 1303, 303, 155, 0, 1, 3)
    );
    assert_eq!(
        chain.order(ALICE, &small_cid(), 80, 0),
        Err(MarketError::FileSizeNotCorrect {
            reported: 80,
            stored: 100
        })
    );
    chain.order(ALICE, &small_cid(), 12_000_000, 0).unwrap();
    // Charged as 100 B (1 MiB): +180. D7: expiry extends 1303 → 2303, payouts re-armed.
    assert_eq!(
        summary(&chain.file(&small_cid()).unwrap()),
        (100, 2303, 303, 335, 0, 1, 4)
    );
}

#[test]
fn error_not_in_reward_period_for_pending_files() {
    let mut chain = chain_with_merchants(&[]);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    let ctx = chain.ctx(BOB);
    assert_eq!(
        calculate_reward(&mut chain.state, &ctx, &small_cid()),
        Err(MarketError::NotInRewardPeriod { closable_at: 1050 })
    );
}

#[test]
fn error_file_too_large() {
    let mut chain = chain_with_merchants(&[]);
    assert_eq!(
        chain.order(ALICE, &small_cid(), 437_438_953_472, 0),
        Err(MarketError::FileTooLarge {
            size: 437_438_953_472,
            max: 137_438_953_472
        })
    );
    // The maximum itself is excluded.
    assert!(matches!(
        chain.order(ALICE, &small_cid(), 137_438_953_472, 0),
        Err(MarketError::FileTooLarge { .. })
    ));
}

#[test]
fn error_place_order_not_available_when_market_disabled() {
    let mut chain = chain_with_merchants(&[]);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    let root = chain.root();
    set_parameter(
        &mut chain.state,
        &root,
        &MarketParameter::EnableMarket { enabled: false },
    )
    .unwrap();
    assert_eq!(
        chain.order(ALICE, &small_cid(), 100, 0),
        Err(MarketError::PlaceOrderNotAvailable)
    );
}

#[test]
fn error_governance_parameter_checks() {
    let mut chain = Chain::mock();
    let root = chain.root();
    let mut set = |p| set_parameter(&mut chain.state, &root, &p);
    assert_eq!(
        set(MarketParameter::FeeAdjustInterval { slots: 0 }),
        Err(MarketError::FileFeeAdjustIntervalInvalid)
    );
    assert_eq!(
        set(MarketParameter::ByteFeeBounds { min: 5, max: 4 }),
        Err(MarketError::MaxFeeLessThanMinFee { min: 5, max: 4 })
    );
    assert_eq!(
        set(MarketParameter::BaseFeeThresholds {
            increase: 30,
            decrease: 30
        }),
        Err(
            MarketError::BaseFeeIncreaseThresholdLargerThanDecreaseThreshold {
                increase: 30,
                decrease: 30
            }
        )
    );
    let alice = chain.ctx(ALICE);
    assert_eq!(
        set_parameter(
            &mut chain.state,
            &alice,
            &MarketParameter::BaseFee { fee: 1 }
        ),
        Err(MarketError::System(system::SystemError::NotGovernance {
            caller: ALICE
        }))
    );
    assert_eq!(
        spend_reserved(&mut chain.state, &alice, &ALICE, 1),
        Err(MarketError::System(system::SystemError::NotGovernance {
            caller: ALICE
        }))
    );
}

#[test]
fn every_setter_emits_an_event() {
    let mut chain = Chain::mock();
    let root = chain.root();
    let param = MarketParameter::TargetReplicas { replicas: 6 };
    set_parameter(&mut chain.state, &root, &param).unwrap();
    assert_eq!(
        chain.state.take_events(),
        vec![crate::Event::Market(MarketEvent::ParameterSet { param })]
    );
    assert_eq!(params(&chain.state).unwrap().target_replicas, 6);
}

// ---- deliberate differences -----------------------------------------------------------------

#[test]
fn d7_reorder_extends_from_current_expiry_and_rearms_payouts() {
    // Reference `place_storage_order_should_work_for_extend_scenarios`, with D7's numbers.
    let mut chain = chain_with_merchants(&[MERCHANT, BOB]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 0, 50, 23_220, 0, 0, 4)
    );
    assert_eq!(
        (chain.pot(staking_pot()), chain.pot(storage_pot())),
        (92_880, 23_220)
    );
    chain.at(250);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 0, 50, 46_440, 0, 0, 4)
    );
    assert_eq!(
        (chain.pot(staking_pot()), chain.pot(storage_pot())),
        (185_760, 46_440)
    );

    chain.at(700);
    chain.replica(&big_cid(), BIG_SIZE, MERCHANT, MERCHANT, anchor(1), 303);
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(summary(&f), (BIG_SIZE, 1700, 700, 39_990, 0, 1, 3));
    assert_eq!(f.replicas[0].created_at, Some(303));

    chain.at(900);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    // Reference: expiry reset to 900 + 1000 = 1900, 3 payouts left. D7: 1700 + 1000, 4 left.
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 2700, 700, 63_210, 0, 1, 4)
    );
    chain.at(1000);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 200).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 3700, 700, 86_630, 0, 1, 4)
    );
    assert_eq!(counters(&chain.state).unwrap().orders_count, 4);
    // New money pays the next new owner, not the liquidator.
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(2), 1000),
        ReplicaOutcome::Added { reward: 12_032 }
    );
    // MERCHANT was paid once for this file and is never paid again, even after re-adding.
    assert!(remove_replica(&mut chain.state, 1000, &big_cid(), &MERCHANT, &MERCHANT).unwrap());
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, MERCHANT, MERCHANT, anchor(1), 1000),
        ReplicaOutcome::Added { reward: 0 }
    );
}

#[test]
fn d7_reorder_of_an_expired_unsettled_file_restarts_from_now() {
    // Reference `place_storage_order_for_expired_file_should_inherit_the_status`.
    let mut chain = chain_with_merchants(&[BOB, CHARLIE]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 303, 19_995, 0, 1, 3)
    );
    chain.at(503);
    chain.replica(&big_cid(), BIG_SIZE, CHARLIE, CHARLIE, anchor(2), 503);
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 303, 16_770, 0, 2, 2)
    );
    chain.at(1803);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 2803, 303, 39_990, 0, 2, 4)
    );
    assert_eq!(
        (chain.ledger(&BOB).1, chain.ledger(&CHARLIE).1),
        (3225, 3225)
    );
    assert_eq!(chain.pot(reserved_pot()), 27_800);
}

#[test]
fn d8_unreplicated_file_is_refunded_after_one_file_duration() {
    let mut chain = chain_with_merchants(&[]);
    let start = chain.free(&ALICE);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let alice = chain.ctx(ALICE);
    add_prepaid(&mut chain.state, &alice, &big_cid(), 5000).unwrap();
    chain.at(1049);
    let ctx = chain.ctx(BOB);
    assert_eq!(
        calculate_reward(&mut chain.state, &ctx, &big_cid()),
        Err(MarketError::NotInRewardPeriod { closable_at: 1050 })
    );
    chain.at(1050);
    let ctx = chain.ctx(BOB);
    calculate_reward(&mut chain.state, &ctx, &big_cid()).unwrap();
    assert!(chain.file(&big_cid()).is_none());
    // amount 23 220 + prepaid 5 000 back; the base fee and the staking/reserved shares are spent.
    assert_eq!(chain.free(&ALICE), start - 130_000 + 23_220);
    assert_eq!(chain.pot(storage_pot()), 0);
    assert_eq!(counters(&chain.state).unwrap().file_keys_count, 0);
}

#[test]
fn d8_losing_all_replicas_then_reordering_makes_the_file_pending_again() {
    // Reference `place_storage_order_for_file_should_make_it_pending_if_replicas_is_zero`.
    let mut chain = chain_with_merchants(&[BOB, CHARLIE]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 303);
    chain.at(503);
    chain.replica(&big_cid(), BIG_SIZE, CHARLIE, CHARLIE, anchor(2), 503);
    assert!(remove_replica(&mut chain.state, 503, &big_cid(), &BOB, &BOB).unwrap());
    assert!(remove_replica(&mut chain.state, 503, &big_cid(), &CHARLIE, &CHARLIE).unwrap());
    // D12: below target, all four paid slots reopen (reference keeps 2).
    assert_eq!(
        summary(&chain.file(&big_cid()).unwrap()),
        (BIG_SIZE, 1303, 303, 16_770, 0, 0, 4)
    );
    chain.at(1203);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(summary(&f), (BIG_SIZE, 0, 303, 39_990, 0, 0, 4));
    assert_eq!(f.pending_since, 1203);
}

#[test]
fn d9_base_fee_recovers_from_zero() {
    let mut p = reference_mock().market;
    p.base_fee = 0;
    // alpha 0 < 10 → increase by max(0.33% × 0, step 1).
    assert_eq!(pricing::next_base_fee(&p, 0, 5), 1);
    p.min_base_fee_step = 1000;
    assert_eq!(pricing::next_base_fee(&p, 0, 5), 1000);
}

#[test]
fn d10_reported_size_must_match_the_order() {
    // Reference `scenario_test_for_reported_file_size_is_not_same_with_file_size` shrank the
    // file (90) or closed it and paid the reporter (1000); here both reports are rejected.
    let mut chain = chain_with_merchants(&[MERCHANT]);
    chain.order(ALICE, &small_cid(), 100, 0).unwrap();
    chain.at(303);
    assert_eq!(
        chain.replica(&small_cid(), 90, MERCHANT, MERCHANT, anchor(1), 303),
        ReplicaOutcome::SizeMismatch {
            ordered: 100,
            reported: 90
        }
    );
    assert_eq!(
        chain.replica(&small_cid(), 1000, MERCHANT, MERCHANT, anchor(1), 303),
        ReplicaOutcome::SizeMismatch {
            ordered: 100,
            reported: 1000
        }
    );
    assert_eq!(
        summary(&chain.file(&small_cid()).unwrap()),
        (100, 0, 50, 180, 0, 0, 4)
    );
    assert_eq!(chain.ledger(&MERCHANT).1, 0);
    assert_eq!(
        chain.replica(&small_cid(), 100, MERCHANT, MERCHANT, anchor(1), 303),
        ReplicaOutcome::Added { reward: 25 }
    );
    assert_eq!(
        summary(&chain.file(&small_cid()).unwrap()),
        (100, 1303, 303, 155, 0, 1, 3)
    );
    assert_eq!(
        chain.replica(&cid_n(9), 100, MERCHANT, MERCHANT, anchor(1), 303),
        ReplicaOutcome::UnknownFile
    );
}

#[test]
fn d11_governance_spends_the_reserved_pot() {
    let mut chain = chain_with_merchants(&[]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    let root = chain.root();
    assert_eq!(
        spend_reserved(&mut chain.state, &root, &BOB, 20_000),
        Err(MarketError::InsufficientReserved {
            requested: 20_000,
            available: 13_900
        })
    );
    spend_reserved(&mut chain.state, &root, &BOB, 13_900).unwrap();
    assert_eq!((chain.free(&BOB), chain.pot(reserved_pot())), (13_900, 0));
}

#[test]
fn d12_lost_replicas_reopen_paid_slots_for_new_owners() {
    let mut chain = chain_with_merchants(&[BOB, CHARLIE, DAVE, EVE, FERDIE]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    for (i, who) in [BOB, CHARLIE, DAVE, EVE].into_iter().enumerate() {
        chain.replica(&big_cid(), BIG_SIZE, who, who, anchor(i as u8), 303);
    }
    assert_eq!(chain.file(&big_cid()).unwrap().remaining_paid_count, 0);
    chain.at(400);
    assert!(remove_replica(&mut chain.state, 400, &big_cid(), &EVE, &EVE).unwrap());
    let f = chain.file(&big_cid()).unwrap();
    assert_eq!(
        (f.replicas.len(), f.remaining_paid_count, f.amount),
        (3, 1, 10_320)
    );
    // The bounty: 2.5/10.5 of what remains goes to the next new owner.
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, FERDIE, FERDIE, anchor(9), 400),
        ReplicaOutcome::Added { reward: 2457 }
    );
    // EVE, paid before, gets nothing for coming back.
    assert!(remove_replica(&mut chain.state, 400, &big_cid(), &FERDIE, &FERDIE).unwrap());
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, EVE, EVE, anchor(3), 400),
        ReplicaOutcome::Added { reward: 0 }
    );
}

#[test]
fn collateral_caps_unclaimed_rewards() {
    // 6 000 collateral at ratio 10 covers up to 600 unclaimed; a 3 225 reward is not paid and the
    // paid slot stays open for the next owner.
    let mut chain = chain_with_merchants(&[BOB]);
    chain.set_free(CHARLIE, 10_000);
    chain.add_collateral(CHARLIE, 6_000);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, CHARLIE, CHARLIE, anchor(1), 303),
        ReplicaOutcome::Added { reward: 0 }
    );
    assert_eq!(chain.file(&big_cid()).unwrap().remaining_paid_count, 4);
    assert_eq!(
        chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(2), 303),
        ReplicaOutcome::Added { reward: 3225 }
    );
}

#[test]
fn valid_at_is_clamped_to_the_report_block() {
    // D15: an enclave cannot claim a replica was valid before it was reported.
    let mut chain = chain_with_merchants(&[BOB]);
    chain.order(ALICE, &big_cid(), BIG_SIZE, 0).unwrap();
    chain.at(303);
    chain.replica(&big_cid(), BIG_SIZE, BOB, BOB, anchor(1), 9_999);
    assert_eq!(chain.file(&big_cid()).unwrap().replicas[0].valid_at, 303);
}

#[test]
fn calls_round_trip_through_the_codec() {
    use crust_primitives::codec::{decode, encode};
    let calls = [
        MarketCall::PlaceStorageOrder {
            cid: big_cid(),
            file_size: BIG_SIZE,
            tips: 7,
            memo: b"hello".to_vec(),
            commitment: crate::testing::commitment_for(&big_cid()),
        },
        MarketCall::AddPrepaid {
            cid: small_cid(),
            amount: 1,
        },
        MarketCall::CalculateReward { cid: small_cid() },
        MarketCall::RewardMerchant {},
        MarketCall::SetParameter {
            param: MarketParameter::ByteFeeRatios {
                increase: Perbill::from_percent(1),
                decrease: Perbill::one(),
            },
        },
        MarketCall::SpendReserved { to: BOB, amount: 9 },
    ];
    for call in calls {
        assert_eq!(decode::<MarketCall>(&encode(&call)).ok(), Some(call));
    }
    let too_long = MarketCall::PlaceStorageOrder {
        cid: big_cid(),
        file_size: 1,
        tips: 0,
        memo: vec![0; MAX_MEMO_BYTES + 1],
        commitment: crate::testing::commitment_for(&big_cid()),
    };
    assert!(decode::<MarketCall>(&encode(&too_long)).is_err());
}

#[test]
fn corrupt_state_is_a_typed_error_not_a_panic() {
    let mut chain = chain_with_merchants(&[]);
    chain.state.put(&file_key(&small_cid()), vec![0xff, 0x01]);
    let ctx = chain.ctx(ALICE);
    let result = crate::dispatch(
        &mut chain.state,
        &ctx,
        &crate::Call::Market(MarketCall::CalculateReward { cid: small_cid() }),
    );
    assert!(matches!(
        result,
        Err(crate::RuntimeError::Market(MarketError::State(
            crate::state::StateError::Corrupt { .. }
        )))
    ));
}

/// D29: the first order fixes the file's content commitment; a re-order must state the same
/// one, a different one (or an empty one) is refused and nothing is paid.
#[test]
fn the_first_order_fixes_the_content_commitment() {
    let mut chain = chain_with_merchants(&[]);
    let cid = small_cid();
    let first = crate::testing::commitment_for(&cid);
    chain.order(ALICE, &cid, 100, 0).unwrap();
    assert_eq!(chain.file(&cid).unwrap().commitment, first);
    let ctx = chain.ctx(ALICE);
    let before = chain.free(&ALICE);
    let other = crust_primitives::commitment::ContentCommitment {
        root: [9; 32],
        ..first
    };
    let longer = crust_primitives::commitment::ContentCommitment {
        size: first.size + 1,
        ..first
    };
    for bad in [other, longer] {
        let e = crate::state::atomically(&mut chain.state, |s| {
            place_storage_order(s, &ctx, &cid, 100, 0, &bad)
        })
        .unwrap_err();
        assert!(matches!(e, MarketError::CommitmentMismatch { .. }), "{e:?}");
    }
    let empty = crust_primitives::commitment::ContentCommitment {
        root: [0; 32],
        size: 0,
    };
    let e = crate::state::atomically(&mut chain.state, |s| {
        place_storage_order(s, &ctx, &big_cid(), 100, 0, &empty)
    })
    .unwrap_err();
    assert_eq!(e, MarketError::EmptyCommitment);
    assert_eq!(chain.free(&ALICE), before, "a refused order paid something");
    // The same commitment again is a renewal.
    chain.order(ALICE, &cid, 100, 0).unwrap();
    assert_eq!(chain.file(&cid).unwrap().commitment, first);

    // No replica for SUPERSEDE_AFTER_SLOTS slots: the order is presumed wrong and another
    // commitment replaces it; the stale order is refunded to its orderer first.
    let slot = crate::system::config(&chain.state)
        .unwrap()
        .report_slot_blocks;
    let pending_since = chain.file(&cid).unwrap().pending_since;
    chain.at(pending_since + SUPERSEDE_AFTER_SLOTS * slot - 1);
    let ctx = chain.ctx(BOB);
    chain.set_free(BOB, 20_000_000);
    let e = crate::state::atomically(&mut chain.state, |s| {
        place_storage_order(s, &ctx, &cid, 100, 0, &other)
    })
    .unwrap_err();
    assert!(matches!(e, MarketError::CommitmentMismatch { .. }), "{e:?}");
    chain.at(pending_since + SUPERSEDE_AFTER_SLOTS * slot);
    let stale = chain.file(&cid).unwrap();
    let alice_before = chain.free(&ALICE);
    let ctx = chain.ctx(BOB);
    crate::state::atomically(&mut chain.state, |s| {
        place_storage_order(s, &ctx, &cid, 100, 0, &other)
    })
    .unwrap();
    assert_eq!(
        chain.free(&ALICE),
        alice_before + stale.amount + stale.prepaid
    );
    let f = chain.file(&cid).unwrap();
    assert_eq!((f.commitment, f.orderer), (other, BOB));
}

/// Protocol version 2 lets another commitment replace an unreplicated one after one slot
/// instead of two (`system::rules`); the rule follows the version in effect, nothing else.
#[test]
fn under_protocol_version_2_a_wrong_commitment_is_superseded_after_one_slot() {
    use crate::state::StateExt as _;
    let mut chain = chain_with_merchants(&[]);
    chain.state.write(&crate::system::version_key(), &2u32);
    let cid = small_cid();
    chain.order(ALICE, &cid, 100, 0).unwrap();
    let other = crust_primitives::commitment::ContentCommitment {
        root: [9; 32],
        ..crate::testing::commitment_for(&cid)
    };
    let slot = crate::system::config(&chain.state)
        .unwrap()
        .report_slot_blocks;
    let pending_since = chain.file(&cid).unwrap().pending_since;
    chain.at(pending_since + slot - 1);
    chain.set_free(BOB, 20_000_000);
    let ctx = chain.ctx(BOB);
    let e = crate::state::atomically(&mut chain.state, |s| {
        place_storage_order(s, &ctx, &cid, 100, 0, &other)
    })
    .unwrap_err();
    assert!(matches!(e, MarketError::CommitmentMismatch { .. }), "{e:?}");
    chain.at(pending_since + slot);
    let ctx = chain.ctx(BOB);
    crate::state::atomically(&mut chain.state, |s| {
        place_storage_order(s, &ctx, &cid, 100, 0, &other)
    })
    .unwrap();
    assert_eq!(chain.file(&cid).unwrap().commitment, other);
}

// ---- orders a delegate places for a payer (the pinning service's path) ----------------------

fn order_for(
    chain: &mut Chain,
    delegate: AccountId,
    payer: AccountId,
    cid: &Cid,
    size: u64,
) -> Result<(), MarketError> {
    let ctx = chain.ctx(delegate);
    crate::state::atomically(&mut chain.state, |s| {
        place_storage_order_for(s, &ctx, &payer, cid, size, 0, &commitment_for(cid))
    })
}

/// A delegate orders only with the payer's approval, within its cap and before its end; each
/// order is the payer's (it pays, it is the orderer), the cap shrinks by what it cost, and an
/// order that would go past the cap fails whole: nothing paid, no file.
#[test]
fn a_delegate_orders_within_the_payers_approval_and_no_further() {
    let mut chain = Chain::mock();
    chain.at(50);
    chain.set_free(ALICE, 20_000_000);
    chain.set_free(BOB, 1_000);
    assert!(matches!(
        order_for(&mut chain, BOB, ALICE, &cid_n(1), 100),
        Err(MarketError::NoAllowance { .. })
    ));
    let alice = chain.ctx(ALICE);
    approve_orderer(&mut chain.state, &alice, &BOB, 2_500, 1_000).unwrap();
    assert!(matches!(
        approve_orderer(&mut chain.state, &alice, &BOB, 2_500, 50),
        Err(MarketError::AllowanceExpired { .. })
    ));

    // base 1000 + byte fee 1000 (up to 1 MiB) = 2000.
    let before = chain.free(&ALICE);
    order_for(&mut chain, BOB, ALICE, &cid_n(1), 100).unwrap();
    assert_eq!(before - chain.free(&ALICE), 2_000);
    assert_eq!(chain.free(&BOB), 1_000, "the delegate pays nothing");
    assert_eq!(chain.file(&cid_n(1)).unwrap().orderer, ALICE);
    let left = allowance(&chain.state, &ALICE, &BOB).unwrap().unwrap();
    assert_eq!(left.remaining, 500);

    // Past the cap: refused whole.
    let before = chain.free(&ALICE);
    assert_eq!(
        order_for(&mut chain, BOB, ALICE, &cid_n(2), 100),
        Err(MarketError::AllowanceExceeded {
            spent: 2_000,
            remaining: 500
        })
    );
    assert_eq!(chain.free(&ALICE), before);
    assert!(chain.file(&cid_n(2)).is_none());
    assert_eq!(allowance(&chain.state, &ALICE, &BOB).unwrap(), Some(left));

    // Someone else cannot use Bob's approval.
    assert!(matches!(
        order_for(&mut chain, CHARLIE, ALICE, &cid_n(2), 100),
        Err(MarketError::NoAllowance { .. })
    ));

    // A new approval replaces the old; it ends at its block; a cap of 0 revokes.
    approve_orderer(&mut chain.state, &alice, &BOB, 10_000, 100).unwrap();
    order_for(&mut chain, BOB, ALICE, &cid_n(2), 100).unwrap();
    chain.at(100);
    assert!(matches!(
        order_for(&mut chain, BOB, ALICE, &cid_n(3), 100),
        Err(MarketError::AllowanceExpired { expires_at: 100 })
    ));
    let alice = chain.ctx(ALICE);
    approve_orderer(&mut chain.state, &alice, &BOB, 0, 0).unwrap();
    assert_eq!(allowance(&chain.state, &ALICE, &BOB).unwrap(), None);
}

/// Followers see an order the same way whichever call placed it.
#[test]
fn both_order_calls_read_as_orders() {
    let direct = MarketCall::PlaceStorageOrder {
        cid: cid_n(1),
        file_size: 10,
        tips: 3,
        memo: b"m".to_vec(),
        commitment: commitment_for(&cid_n(1)),
    };
    let delegated = MarketCall::PlaceStorageOrderFor {
        payer: ALICE,
        cid: cid_n(1),
        file_size: 10,
        tips: 3,
        memo: b"m".to_vec(),
        commitment: commitment_for(&cid_n(1)),
    };
    assert_eq!(direct.order(), delegated.order());
    assert_eq!(direct.order().unwrap().file_size, 10);
    assert!(MarketCall::RewardMerchant {}.order().is_none());
    let bytes = crust_primitives::codec::encode(&delegated);
    assert_eq!(
        crust_primitives::codec::decode::<MarketCall>(&bytes).unwrap(),
        delegated
    );
}
