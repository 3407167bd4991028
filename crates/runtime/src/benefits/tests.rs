//! Benefits tests: the reference's `cstrml/benefits` examples with the same numbers (report-work
//! cost 50, limit ratio 1%, market cost ratio 95%, bonding duration 2 eras, ED 1).

use super::*;
use crate::executive::{self, CheckedTransaction, InvalidTransaction};
use crate::testing::*;
use crate::{BlockContext, Call, market};

fn era(chain: &mut Chain, e: EraIndex, payout: Balance) -> Balance {
    update_era_benefit(&mut chain.state, e, payout).unwrap()
}

fn add(
    chain: &mut Chain,
    who: AccountId,
    value: Balance,
    t: FundsType,
) -> Result<(), BenefitsError> {
    let ctx = chain.ctx(who);
    crate::state::atomically(&mut chain.state, |s| add_benefit_funds(s, &ctx, value, t))
}

fn cut(
    chain: &mut Chain,
    who: AccountId,
    value: Balance,
    t: FundsType,
) -> Result<(), BenefitsError> {
    let ctx = chain.ctx(who);
    crate::state::atomically(&mut chain.state, |s| cut_benefit_funds(s, &ctx, value, t))
}

fn withdraw(chain: &mut Chain, who: AccountId) -> Result<(), BenefitsError> {
    let ctx = chain.ctx(who);
    crate::state::atomically(&mut chain.state, |s| withdraw_benefit_funds(s, &ctx))
}

fn rebond(
    chain: &mut Chain,
    who: AccountId,
    value: Balance,
    t: FundsType,
) -> Result<(), BenefitsError> {
    let ctx = chain.ctx(who);
    crate::state::atomically(&mut chain.state, |s| {
        rebond_benefit_funds(s, &ctx, value, t)
    })
}

fn chunks(list: &[(Balance, EraIndex)]) -> Vec<Unlocking> {
    list.iter()
        .map(|&(value, era)| Unlocking { value, era })
        .collect()
}

fn market_rec(
    chain: &Chain,
    who: &AccountId,
) -> Option<(Balance, Balance, Balance, Balance, EraIndex, Vec<Unlocking>)> {
    market_benefit(&chain.state, who).unwrap().map(|b| {
        (
            b.total_funds,
            b.active_funds,
            b.used_fee_reduction_quota,
            b.file_reward,
            b.refreshed_at,
            b.unlocking,
        )
    })
}

fn swork_rec(
    chain: &Chain,
    who: &AccountId,
) -> Option<(Balance, Balance, u32, u32, EraIndex, Vec<Unlocking>)> {
    swork_benefit(&chain.state, who).unwrap().map(|b| {
        (
            b.total_funds,
            b.active_funds,
            b.total_fee_reduction_count,
            b.used_fee_reduction_count,
            b.refreshed_at,
            b.unlocking,
        )
    })
}

fn era_rec(chain: &Chain) -> (Balance, Balance, Balance, EraIndex) {
    let e = era_benefits(&chain.state).unwrap();
    (
        e.total_fee_reduction_quota,
        e.total_market_active_funds,
        e.used_fee_reduction_quota,
        e.active_era,
    )
}

/// Sends a `calculate_reward` transaction (the fee-reducible call) with `fee`, authored by ZIKUN.
fn liquidation_tx(
    chain: &mut Chain,
    who: AccountId,
    fee: Balance,
) -> Result<executive::ApplyOutcome, InvalidTransaction> {
    let nonce = crate::balances::account(&chain.state, &who).unwrap().nonce;
    let tx = CheckedTransaction {
        signer: who,
        nonce,
        fee,
        tip: 0,
        call: Call::Market(market::MarketCall::CalculateReward { cid: small_cid() }),
        encoded_len: 40,
    };
    let block = BlockContext {
        height: chain.height,
        era: 0,
        author: ZIKUN,
        parent_hash: [0; 32],
        timestamp_ms: 0,
    };
    executive::apply_transaction(&mut chain.state, &block, &tx)
}

fn total_balance(chain: &Chain, who: &AccountId) -> Balance {
    let info = crate::balances::account(&chain.state, who).unwrap();
    info.free + info.reserved
}

#[test]
fn era_quota_is_one_percent_of_the_payout() {
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    assert_eq!(era_rec(&chain), (1, 0, 0, 10));
}

#[test]
fn add_funds_by_type() {
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    chain.set_free(ALICE, 200_000);
    add(&mut chain, ALICE, 100, FundsType::Swork).unwrap();
    assert_eq!(swork_rec(&chain, &ALICE), Some((100, 100, 2, 0, 0, vec![])));
    assert_eq!(market_rec(&chain, &ALICE), None);
    assert_eq!(era_rec(&chain), (1, 0, 0, 10));
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 100, 0, 0, 0, vec![]))
    );
    assert_eq!(era_rec(&chain), (1, 100, 0, 10));
    assert_eq!(
        crate::balances::reserved_balance(&chain.state, &ALICE).unwrap(),
        200
    );
}

#[test]
fn cut_funds_unlock_after_the_bonding_duration() {
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    chain.set_free(ALICE, 200_000);
    add(&mut chain, ALICE, 100, FundsType::Swork).unwrap();
    cut(&mut chain, ALICE, 50, FundsType::Swork).unwrap();
    assert_eq!(
        swork_rec(&chain, &ALICE),
        Some((100, 50, 1, 0, 0, chunks(&[(50, 12)])))
    );
    cut(&mut chain, ALICE, 50, FundsType::Swork).unwrap();
    assert_eq!(
        swork_rec(&chain, &ALICE),
        Some((100, 0, 0, 0, 0, chunks(&[(50, 12), (50, 12)])))
    );
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    cut(&mut chain, ALICE, 50, FundsType::Market).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 50, 0, 0, 0, chunks(&[(50, 12)])))
    );
    assert_eq!(era_rec(&chain), (1, 50, 0, 10));
    cut(&mut chain, ALICE, 50, FundsType::Market).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 0, 0, 0, 0, chunks(&[(50, 12), (50, 12)])))
    );
    assert_eq!(era_rec(&chain), (1, 0, 0, 10));
}

#[test]
fn free_work_reports_per_era() {
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(false));
    assert_eq!(swork_rec(&chain, &ALICE), None);
    chain.set_free(ALICE, 200_000);
    add(&mut chain, ALICE, 105, FundsType::Swork).unwrap(); // 105 / 50 = 2 per era
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(true));
    assert_eq!(
        swork_rec(&chain, &ALICE),
        Some((105, 105, 2, 1, 10, vec![]))
    );
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(true));
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(false));
    assert_eq!(
        swork_rec(&chain, &ALICE),
        Some((105, 105, 2, 2, 10, vec![]))
    );
    era(&mut chain, 11, 100);
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(true));
    assert_eq!(
        swork_rec(&chain, &ALICE),
        Some((105, 105, 2, 1, 11, vec![]))
    );
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(true));
    assert_eq!(maybe_free_count(&mut chain.state, &ALICE), Ok(false));
}

#[test]
fn market_funds_cover_95_percent_of_a_liquidation_fee() {
    // Reference `maybe_reduce_fee_should_work`: fee 20, quota 100 → pay 1, 19 minted.
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 200);
    era(&mut chain, 10, 10_000);
    assert_eq!(era_rec(&chain), (100, 0, 0, 10));
    liquidation_tx(&mut chain, ALICE, 20).unwrap();
    assert_eq!(total_balance(&chain, &ALICE), 180);
    assert_eq!(market_rec(&chain, &ALICE), None);
    add(&mut chain, ALICE, 105, FundsType::Market).unwrap();
    let issuance = crate::balances::total_issuance(&chain.state).unwrap();
    let outcome = liquidation_tx(&mut chain, ALICE, 20).unwrap();
    assert_eq!(outcome.paid, 1);
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((105, 105, 19, 0, 10, vec![]))
    );
    assert_eq!(era_rec(&chain), (100, 105, 19, 10));
    assert_eq!(total_balance(&chain, &ALICE), 179);
    // The 19 covered by the quota are minted (the reference's mock burns fees; here fees go
    // to the treasury and author, so issuance grows by exactly the minted part).
    assert_eq!(
        crate::balances::total_issuance(&chain.state).unwrap(),
        issuance + 19
    );
    // The next era start reports the used quota and resets it.
    assert_eq!(era(&mut chain, 11, 10_000), 19);
    assert_eq!(era_rec(&chain), (100, 105, 0, 11));
}

#[test]
fn fee_reductions_respect_personal_and_global_quotas() {
    // Reference `free_fee_limit_should_work`.
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 200);
    chain.set_free(BOB, 300);
    era(&mut chain, 10, 10_000);
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    add(&mut chain, BOB, 100, FundsType::Market).unwrap();
    liquidation_tx(&mut chain, ALICE, 40).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 100, 38, 0, 10, vec![]))
    );
    assert_eq!(era_rec(&chain), (100, 200, 38, 10));
    assert_eq!(total_balance(&chain, &ALICE), 198);
    liquidation_tx(&mut chain, ALICE, 40).unwrap(); // 76 > own quota 50: full fee
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 100, 38, 0, 10, vec![]))
    );
    assert_eq!(total_balance(&chain, &ALICE), 158);
    cut(&mut chain, BOB, 100, FundsType::Market).unwrap();
    assert_eq!(era_rec(&chain), (100, 100, 38, 10));
    liquidation_tx(&mut chain, ALICE, 40).unwrap(); // own quota now 100
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((100, 100, 76, 0, 10, vec![]))
    );
    assert_eq!(era_rec(&chain), (100, 100, 76, 10));
    assert_eq!(total_balance(&chain, &ALICE), 156);
    add(&mut chain, BOB, 100, FundsType::Market).unwrap();
    liquidation_tx(&mut chain, BOB, 40).unwrap(); // 76 + 38 > global 100: full fee
    assert_eq!(
        market_rec(&chain, &BOB),
        Some((200, 100, 0, 0, 0, chunks(&[(100, 12)])))
    );
    assert_eq!(era_rec(&chain), (100, 200, 76, 10));
    assert_eq!(total_balance(&chain, &BOB), 260);
}

#[test]
fn fee_that_cannot_be_paid_is_rejected() {
    // Reference `currency_is_insufficient`.
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 30);
    era(&mut chain, 10, 10_000);
    assert!(matches!(
        liquidation_tx(&mut chain, ALICE, 40),
        Err(InvalidTransaction::CannotPay(_))
    ));
    add(&mut chain, ALICE, 25, FundsType::Market).unwrap();
    assert!(matches!(
        liquidation_tx(&mut chain, ALICE, 200),
        Err(InvalidTransaction::CannotPay(_))
    ));
    assert_eq!(total_balance(&chain, &ALICE), 30);
}

#[test]
fn error_no_more_chunks_after_16() {
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    chain.set_free(ALICE, 200);
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    for i in 0..16u128 {
        cut(&mut chain, ALICE, 5, FundsType::Market).unwrap();
        let rec = market_rec(&chain, &ALICE).unwrap();
        assert_eq!((rec.1, rec.5.len()), (95 - 5 * i, i as usize + 1));
        assert_eq!(era_rec(&chain), (1, 95 - 5 * i, 0, 10));
    }
    assert_eq!(
        cut(&mut chain, ALICE, 5, FundsType::Market),
        Err(BenefitsError::NoMoreChunks)
    );
}

#[test]
fn error_invalid_target_and_no_unlock_chunk() {
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 200);
    assert_eq!(
        cut(&mut chain, ALICE, 5, FundsType::Swork),
        Err(BenefitsError::InvalidTarget)
    );
    assert_eq!(
        withdraw(&mut chain, ALICE),
        Err(BenefitsError::InvalidTarget)
    );
    assert_eq!(
        rebond(&mut chain, ALICE, 5, FundsType::Market),
        Err(BenefitsError::InvalidTarget)
    );
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    assert_eq!(
        rebond(&mut chain, ALICE, 5, FundsType::Market),
        Err(BenefitsError::NoUnlockChunk)
    );
    assert_eq!(
        add(&mut chain, ALICE, 1000, FundsType::Market),
        Err(BenefitsError::InsufficientBalance)
    );
}

#[test]
fn withdraw_releases_only_unlocked_chunks() {
    // Reference `withdraw_benefits_funds_should_work`.
    let mut chain = Chain::mock();
    era(&mut chain, 10, 100);
    chain.set_free(ALICE, 200);
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    cut(&mut chain, ALICE, 15, FundsType::Market).unwrap();
    era(&mut chain, 11, 100);
    cut(&mut chain, ALICE, 10, FundsType::Market).unwrap();
    era(&mut chain, 12, 100);
    cut(&mut chain, ALICE, 5, FundsType::Market).unwrap();
    era(&mut chain, 13, 100);
    withdraw(&mut chain, ALICE).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((75, 70, 0, 0, 0, chunks(&[(5, 14)])))
    );
    cut(&mut chain, ALICE, 15, FundsType::Market).unwrap();
    era(&mut chain, 14, 100);
    withdraw(&mut chain, ALICE).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((70, 55, 0, 0, 0, chunks(&[(15, 15)])))
    );
    era(&mut chain, 15, 100);
    withdraw(&mut chain, ALICE).unwrap();
    assert_eq!(market_rec(&chain, &ALICE), Some((55, 55, 0, 0, 0, vec![])));
    cut(&mut chain, ALICE, 55, FundsType::Market).unwrap();
    era(&mut chain, 17, 100);
    set_file_reward(&mut chain.state, &ALICE, 100).unwrap();
    withdraw(&mut chain, ALICE).unwrap();
    assert_eq!(
        market_rec(&chain, &ALICE),
        Some((0, 0, 0, 100, 0, vec![])),
        "kept while a reward is unclaimed"
    );
    set_file_reward(&mut chain.state, &ALICE, 0).unwrap();
    assert_eq!(market_rec(&chain, &ALICE), None);
    assert_eq!(
        (
            chain.free(&ALICE),
            crate::balances::reserved_balance(&chain.state, &ALICE).unwrap()
        ),
        (200, 0)
    );
}

#[test]
fn rebond_takes_from_the_newest_chunks() {
    // Reference `rebond_market_benefits_funds_should_work` and the SWORK twin.
    for t in [FundsType::Market, FundsType::Swork] {
        let mut chain = Chain::mock();
        era(&mut chain, 10, 100);
        chain.set_free(ALICE, 200);
        add(&mut chain, ALICE, 100, t).unwrap();
        for (amount, next_era) in [(15, 11), (10, 12), (5, 13), (15, 14)] {
            cut(&mut chain, ALICE, amount, t).unwrap();
            era(&mut chain, next_era, 100);
        }
        let state = |chain: &Chain| match t {
            FundsType::Market => market_rec(chain, &ALICE).map(|r| (r.1, r.5)),
            FundsType::Swork => swork_rec(chain, &ALICE).map(|r| (r.1, r.5)),
        };
        rebond(&mut chain, ALICE, 10, t).unwrap();
        assert_eq!(
            state(&chain),
            Some((65, chunks(&[(15, 12), (10, 13), (5, 14), (5, 15)])))
        );
        rebond(&mut chain, ALICE, 10, t).unwrap();
        assert_eq!(state(&chain), Some((75, chunks(&[(15, 12), (10, 13)]))));
        rebond(&mut chain, ALICE, 100, t).unwrap();
        assert_eq!(state(&chain), Some((100, vec![])));
        match t {
            FundsType::Market => assert_eq!(era_rec(&chain), (1, 100, 0, 14)),
            FundsType::Swork => assert_eq!(swork_rec(&chain, &ALICE).unwrap().2, 2),
        }
    }
}

#[test]
fn withdraw_repairs_records_after_a_slash() {
    // Reference `withdraw_*_benefits_funds_in_weird_situation`: 150 of 200 slashed.
    for t in [FundsType::Market, FundsType::Swork] {
        let mut chain = Chain::mock();
        era(&mut chain, 10, 100);
        chain.set_free(ALICE, 200);
        add(&mut chain, ALICE, 100, t).unwrap();
        cut(&mut chain, ALICE, 200, t).unwrap(); // clipped to the 100 active
        chain.set_free(ALICE, 0);
        crate::balances::slash_reserved(&mut chain.state, &ALICE, 50).unwrap();
        era(&mut chain, 13, 100);
        withdraw(&mut chain, ALICE).unwrap();
        assert_eq!(market_rec(&chain, &ALICE), None);
        assert_eq!(swork_rec(&chain, &ALICE), None);
        assert_eq!(era_rec(&chain), (1, 0, 0, 13));

        chain.set_free(ALICE, 200);
        add(&mut chain, ALICE, 100, t).unwrap();
        chain.set_free(ALICE, 0);
        crate::balances::slash_reserved(&mut chain.state, &ALICE, 50).unwrap();
        withdraw(&mut chain, ALICE).unwrap();
        match t {
            FundsType::Market => {
                assert_eq!(market_rec(&chain, &ALICE), Some((50, 50, 0, 0, 0, vec![])));
                assert_eq!(era_rec(&chain), (1, 50, 0, 13));
            }
            FundsType::Swork => {
                assert_eq!(swork_rec(&chain, &ALICE), Some((50, 50, 1, 0, 0, vec![])))
            }
        }
    }
}

#[test]
fn collateral_is_market_active_funds() {
    let mut chain = Chain::mock();
    chain.set_free(ALICE, 200);
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    set_file_reward(&mut chain.state, &ALICE, 100).unwrap();
    assert_eq!(collateral_and_reward(&chain.state, &ALICE), Ok((100, 100)));
    assert_eq!(collateral_and_reward(&chain.state, &BOB), Ok((0, 0)));
}

#[test]
fn error_insufficient_value_when_rebonding_below_the_existential_deposit() {
    let mut chain = Chain::new(reference_mock().with_config(|c| c.existential_deposit = 10));
    chain.set_free(ALICE, 200);
    add(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    cut(&mut chain, ALICE, 100, FundsType::Market).unwrap();
    assert_eq!(
        rebond(&mut chain, ALICE, 5, FundsType::Market),
        Err(BenefitsError::InsufficientValue)
    );
    rebond(&mut chain, ALICE, 10, FundsType::Market).unwrap();
}
