//! Era rewards: inflation scaled to the era's length (D6), the market staking pot spread over
//! 60 eras, the authoring/staking split, and payouts to elected validators and their
//! guarantors (`docs/reference.md` G6, D20, D23).

use super::{
    HISTORY_DEPTH, MARKET_POT_ERAS, MAX_REWARDED_GUARANTORS, POINTS_PER_BLOCK, STAKING_LOCK,
    StakingError, StakingEvent, ValidatorPrefs, active_era, committee, era_prefs_key, era_rewards,
    era_rewards_key, exposure, ledger_of_stash, market_payout_key, params, points_key, put_ledger,
};
use crate::state::{State, StateExt};
use crate::{CallContext, Event, balances, benefits, market, system};
use crust_primitives::{AccountId, Balance, CRU, EraIndex, Perbill};

/// First-year inflation (reference `FIRST_YEAR_REWARDS`).
pub const FIRST_YEAR_REWARDS: Balance = 5_000_000 * CRU;

/// The inflation minted for one era: year `n`'s amount (5 M CRU, then ×0.88 a year with a floor
/// of 2.8% of issuance; from year 4 an extra `(1 − s/30%) × 8%` of issuance while the
/// staking ratio `s` is below 30%) times `era_blocks / year_blocks` (D6).
pub fn era_inflation(
    year: u64,
    issuance: Balance,
    staking_ratio: Perbill,
    era_blocks: u64,
    year_blocks: u64,
) -> Balance {
    let mut yearly = FIRST_YEAR_REWARDS;
    for _ in 0..year.min(200) {
        yearly = yearly / 100 * 88 + yearly % 100 * 88 / 100;
    }
    if year >= 1 {
        yearly = yearly.max(issuance / 1000 * 28);
    }
    if year >= 4 && staking_ratio < Perbill::from_percent(30) {
        let full = issuance / 100 * 8;
        let reduction = staking_ratio.mul_nearest(issuance).saturating_mul(8) / 30;
        yearly = yearly.saturating_add(full.saturating_sub(reduction));
    }
    yearly.saturating_mul(u128::from(era_blocks)) / u128::from(year_blocks.max(1))
}

/// The authoring share by committee size (reference: 20% up to 500 validators).
fn authoring_share(committee_size: usize) -> Perbill {
    match committee_size {
        0..=500 => Perbill::from_percent(20),
        501..=1000 => Perbill::from_percent(25),
        1001..=2500 => Perbill::from_percent(30),
        2501..=5000 => Perbill::from_percent(40),
        _ => Perbill::from_percent(50),
    }
}

/// Awards authoring points to the committee member whose session key authored a block.
pub(super) fn note_author(
    state: &mut impl State,
    era: EraIndex,
    author: &AccountId,
) -> Result<(), StakingError> {
    let Some(members) = committee(state, era)? else {
        return Ok(());
    };
    let Some(member) = members.iter().find(|m| m.session_key == *author) else {
        return Ok(());
    };
    let key = points_key(era, &member.stash);
    let points: u32 = state.read_or_default(&key)?;
    state.write(&key, &points.saturating_add(POINTS_PER_BLOCK));
    let mut r = era_rewards(state, era)?;
    r.total_points = r.total_points.saturating_add(POINTS_PER_BLOCK);
    state.write(&era_rewards_key(era), &r);
    Ok(())
}

/// Fixes the rewards of `era`, which lasted `era_blocks` blocks. Nothing is minted here:
/// rewards are minted when claimed.
pub(super) fn end_era(
    state: &mut impl State,
    era: EraIndex,
    era_blocks: u64,
) -> Result<(), StakingError> {
    let cfg = system::config(state)?;
    let p = params(state)?;
    let mut rewards = era_rewards(state, era)?;
    let issuance = balances::total_issuance(state)?;
    let gpos = if era >= p.start_reward_era {
        let nominal = cfg.era_blocks().max(1);
        let eras_per_year = (cfg.year_blocks() / nominal).max(1);
        let year = (era - p.start_reward_era) / eras_per_year;
        let s = Perbill::from_rational_approximation(rewards.total_stake, issuance);
        era_inflation(year, issuance, s, era_blocks, cfg.year_blocks())
    } else {
        0
    };
    // The market staking pot: burned now, paid out 1/60 per era over the next 60 eras.
    let pot = market::withdraw_staking_pot(state)?;
    let per_era =
        Perbill::from_rational_approximation(1, u128::from(MARKET_POT_ERAS)).mul_nearest(pot);
    if per_era > 0 {
        for e in era..era + MARKET_POT_ERAS {
            let k = market_payout_key(e);
            let v: Balance = state.read_or_default(&k)?;
            state.write(&k, &v.saturating_add(per_era));
        }
    }
    let market_payout: Balance = state.read_or_default(&market_payout_key(era))?;
    state.delete(&market_payout_key(era));
    let mut total = gpos.saturating_add(market_payout);
    // Fees waived by benefits during the era come out of its rewards.
    let used = benefits::update_era_benefit(state, era + 1, total)?;
    total = total.saturating_sub(used);
    let size = committee(state, era)?.map_or(0, |c| c.len());
    let mut authoring = authoring_share(size).mul_nearest(total);
    if rewards.total_points == 0 {
        authoring = 0; // nobody authored: everything is shared by stake
    }
    rewards.authoring_payout = authoring;
    rewards.staking_payout = total - authoring;
    rewards.ended = true;
    state.write(&era_rewards_key(era), &rewards);
    state.emit(Event::Staking(StakingEvent::EraReward {
        era,
        authoring,
        staking: total - authoring,
    }));
    Ok(())
}

/// Mints `amount` to `stash` and bonds it (rewards are always re-staked, as in the reference).
/// A stash that is no longer bonded gets nothing.
fn pay_staked(
    state: &mut impl State,
    stash: &AccountId,
    amount: Balance,
) -> Result<Balance, StakingError> {
    if amount == 0 {
        return Ok(0);
    }
    let Some((controller, mut ledger)) = ledger_of_stash(state, stash)? else {
        return Ok(0);
    };
    balances::mint(state, stash, amount)?;
    ledger.active = ledger.active.saturating_add(amount);
    ledger.total = ledger.total.saturating_add(amount);
    put_ledger(state, &controller, &ledger)?;
    state.emit(Event::Staking(StakingEvent::Reward {
        stash: *stash,
        amount,
    }));
    Ok(amount)
}

/// Pays an elected validator and its top-64 guarantors for `era` (anyone may call, once per
/// validator and era, within 84 eras). The validator first takes its commission (D23); the
/// rest is shared by effective stake; shares of guarantors beyond the top 64 go to the
/// validator.
pub(super) fn reward_stakers(
    state: &mut impl State,
    _ctx: &CallContext,
    validator: &AccountId,
    era: EraIndex,
) -> Result<(), StakingError> {
    let active = active_era(state)?;
    let rewards = era_rewards(state, era)?;
    if era > active || era.saturating_add(HISTORY_DEPTH) < active || !rewards.ended {
        return Err(StakingError::InvalidEraToReward { era });
    }
    let (controller, mut ledger) =
        ledger_of_stash(state, validator)?.ok_or(StakingError::NotStash)?;
    if ledger.claimed_rewards.contains(&era) {
        return Err(StakingError::AlreadyClaimed { era });
    }
    let exp = exposure(state, era, validator)?.ok_or(StakingError::InvalidEraToReward { era })?;
    let prefs: Option<ValidatorPrefs> = state.read(&era_prefs_key(era, validator))?;
    let commission = prefs.map_or(Perbill::zero(), |p| p.commission);
    let points: u32 = state.read_or_default(&points_key(era, validator))?;
    let authoring = Perbill::from_rational_approximation(
        u128::from(points),
        u128::from(rewards.total_points.max(1)),
    )
    .mul_nearest(rewards.authoring_payout);
    let staking = Perbill::from_rational_approximation(exp.total, rewards.total_stake.max(1))
        .mul_nearest(rewards.staking_payout);
    let reward = authoring.saturating_add(staking);
    let cut = commission.mul_nearest(reward);
    let shared = reward - cut;
    let total = exp.total.max(1);
    let mut to_guarantors: Vec<(AccountId, Balance)> = Vec::new();
    for other in exp.others.iter().take(MAX_REWARDED_GUARANTORS) {
        to_guarantors.push((
            other.who,
            Perbill::from_rational_approximation(other.value, total).mul_nearest(shared),
        ));
    }
    let guarantor_sum: Balance = to_guarantors.iter().map(|(_, v)| *v).sum();
    let to_validator = reward.saturating_sub(guarantor_sum);

    ledger
        .claimed_rewards
        .retain(|e| e.saturating_add(HISTORY_DEPTH) >= active);
    ledger.claimed_rewards.push(era);
    state.write(&super::ledger_key(&controller), &ledger);
    balances::set_lock(state, validator, STAKING_LOCK, ledger.total)?;
    pay_staked(state, validator, to_validator)?;
    for (who, amount) in to_guarantors {
        pay_staked(state, &who, amount)?;
    }
    Ok(())
}
