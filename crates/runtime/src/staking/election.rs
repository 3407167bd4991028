//! Stake limits from proven storage, effective stake, and the top-N committee election
//! (`docs/reference.md` G4–G5, D20, D21, D24).

use super::{
    CommitteeMember, EraRewards, Exposure, IndividualExposure, MAX_CANDIDATES, MAX_COMMITTEE,
    MAX_EXPOSURE_GUARANTORS, StakingError, StakingEvent, ValidatorPrefs, active_era,
    backing_prefix, committee_key, era_prefs_key, era_rewards, era_rewards_key, exposure_key,
    ledger_of_stash, params, validators_prefix,
};
use crate::state::{State, StateExt};
use crate::{Event, balances, swork};
use crust_primitives::codec::decode;
use crust_primitives::{AccountId, Balance, EraIndex, Perbill, Permill};

/// Workload bytes per unit of stake limit (reference `SPowerRatio` = 1: 1 TB proves 1 CRU).
pub const SPOWER_RATIO: u128 = 1;

/// The total-stake-limit curve `r(s)` as `(whole, fraction)`: for the staking ratio `s` in
/// buckets of 0.1%, roughly `r = 330 / (k + 0.5) − 0.65`, and 0.35 from 33% up (the reference's
/// generated table, reproduced exactly in [`super::curve::CURVE`]).
pub fn curve_ratio(staking_ratio: Permill) -> (u128, Perbill) {
    let k = (staking_ratio.deconstruct() / 1000) as usize;
    match super::curve::CURVE.get(k) {
        Some(&(whole, parts)) => (u128::from(whole), Perbill::from_parts(parts)),
        None => (0, Perbill::from_parts(350_000_000)),
    }
}

/// The total stake limit: total issuance × `r(s)`, where `s` is the active era's effective
/// stake over total issuance.
pub fn total_stake_limit(state: &impl State) -> Result<Balance, StakingError> {
    let issuance = balances::total_issuance(state)?;
    let staked = era_rewards(state, active_era(state)?)?.total_stake;
    let s = Permill::from_rational_approximation(staked, issuance);
    let (whole, fraction) = curve_ratio(s);
    Ok(whole
        .saturating_mul(issuance)
        .saturating_add(fraction.mul_nearest(issuance)))
}

/// A validator stash's stake limit from its owner workload `w` given total workload `total`,
/// total stake limit `tsl` and units of limit per workload byte: `w × ratio` while
/// `total × ratio < tsl` (stage one), else `w`'s share of `tsl` computed in KiB as the
/// reference does (stage two).
pub fn limit_from_workload(w: u128, total: u128, tsl: Balance, spower_ratio: u128) -> Balance {
    if total.saturating_mul(spower_ratio) < tsl {
        return w.saturating_mul(spower_ratio);
    }
    let (w_kib, total_kib) = (w / 1024, total / 1024);
    if total_kib == 0 {
        return 0;
    }
    match w_kib.checked_mul(tsl) {
        Some(product) => product / total_kib,
        // Far beyond any real issuance; keep the proportion without overflowing.
        None => tsl / total_kib * w_kib,
    }
}

/// A stash's current stake limit from the last consolidated sWork workloads.
pub fn stake_limit(state: &impl State, stash: &AccountId) -> Result<Balance, StakingError> {
    let w = swork::workload(state, stash)?;
    let total = swork::consolidation(state)?
        .completed
        .map_or(0, |c| c.workload());
    Ok(limit_from_workload(
        w,
        total,
        total_stake_limit(state)?,
        SPOWER_RATIO,
    ))
}

/// Clips a validator's own stake and its guarantees pro rata so the total does not exceed the
/// stake limit (`docs/reference.md` G4.3): ratio = min(1, ⌊limit / (own + Σ guarantees)⌋ in
/// Perbill).
pub fn effective_exposure(
    limit: Balance,
    own: Balance,
    others: &[(AccountId, Balance)],
) -> Exposure {
    let total: Balance = others
        .iter()
        .fold(own, |acc, (_, v)| acc.saturating_add(*v));
    let ratio = if limit >= total {
        Perbill::one()
    } else {
        Perbill::from_rational_approximation(limit, total)
    };
    let own_eff = ratio.mul_nearest(own);
    let mut list: Vec<IndividualExposure> = others
        .iter()
        .map(|(who, value)| IndividualExposure {
            who: *who,
            value: ratio.mul_nearest(*value),
        })
        .filter(|e| e.value > 0)
        .collect();
    // Largest first, so the rewarded top 64 are a prefix (stable: ties keep account order).
    list.sort_by_key(|e| std::cmp::Reverse(e.value));
    let total_eff = list
        .iter()
        .fold(own_eff, |acc, e| acc.saturating_add(e.value));
    Exposure {
        total: total_eff,
        own: own_eff,
        others: list,
    }
}

/// Elects the committee for `era` and records exposures, preferences and total stake. Returns
/// `false` (and elects nothing) when there are too few eligible candidates, in which case the
/// previous committee carries over.
pub(super) fn elect(state: &mut impl State, era: EraIndex) -> Result<bool, StakingError> {
    let p = params(state)?;
    let prefix = validators_prefix();
    let mut candidates: Vec<(AccountId, ValidatorPrefs, Exposure)> = Vec::new();
    for (k, v) in state.scan(&prefix, None, MAX_CANDIDATES) {
        let (Ok(stash), Ok(prefs)) = (
            decode::<AccountId>(&k[prefix.len()..]),
            decode::<ValidatorPrefs>(&v),
        ) else {
            continue;
        };
        let Some((_, ledger)) = ledger_of_stash(state, &stash)? else {
            continue;
        };
        let limit = stake_limit(state, &stash)?;
        // D21: a minimum self-bond and a non-zero stake limit.
        if limit == 0 || ledger.active < p.min_self_bond || ledger.active == 0 {
            continue;
        }
        let bp = backing_prefix(&stash);
        let others: Vec<(AccountId, Balance)> =
            state.scan_decoded(&bp, None, MAX_EXPOSURE_GUARANTORS)?;
        candidates.push((
            stash,
            prefs,
            effective_exposure(limit, ledger.active, &others),
        ));
    }
    if candidates.len() < p.minimum_validator_count.max(1) as usize {
        return Ok(false);
    }
    // D24: top-N by effective stake, ties by account id (candidates are in account order).
    candidates.sort_by(|a, b| b.2.total.cmp(&a.2.total).then(a.0.cmp(&b.0)));
    candidates.truncate((p.validator_count as usize).min(MAX_COMMITTEE));
    let mut members = Vec::with_capacity(candidates.len());
    let mut total_stake: Balance = 0;
    for (stash, prefs, exposure) in candidates {
        total_stake = total_stake.saturating_add(exposure.total);
        members.push(CommitteeMember {
            stash,
            session_key: prefs.session_key,
            stake: exposure.total,
        });
        state.write(&exposure_key(era, &stash), &exposure);
        state.write(&era_prefs_key(era, &stash), &prefs);
    }
    let mut rewards: EraRewards = state.read_or_default(&era_rewards_key(era))?;
    rewards.total_stake = total_stake;
    state.write(&era_rewards_key(era), &rewards);
    state.write(&committee_key(era), &members);
    state.emit(Event::Staking(StakingEvent::CommitteeElected {
        era,
        members: u32::try_from(members.len()).unwrap_or(u32::MAX),
        total_stake,
    }));
    Ok(true)
}
