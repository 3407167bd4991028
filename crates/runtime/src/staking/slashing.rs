//! Slashing: offences reported with evidence (e.g. conflicting consensus votes) are recorded
//! against the offender's exposure, deferred so governance can cancel them, then applied to
//! the validator and its guarantors (`gpos.md` §7). Guarantees shrink with the bond (D22).

use super::{
    Exposure, IndividualExposure, PendingSlash, StakingError, StakingEvent, active_era,
    chill_stash, committee, exposure, fit_guarantee, ledger_of_stash, params, put_ledger,
};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, balances, system};
use crust_primitives::{AccountId, Balance, EraIndex, Perbill};

fn slashes_key(era: EraIndex) -> Vec<u8> {
    key("staking", "slashes", &[&era.to_be_bytes()])
}
fn slash_in_era_key(era: EraIndex, stash: &AccountId) -> Vec<u8> {
    key(
        "staking",
        "slash_in_era",
        &[&era.to_be_bytes(), stash.as_bytes()],
    )
}

/// The slashes waiting to be applied at the start of `era`.
pub fn pending_slashes(
    state: &impl State,
    era: EraIndex,
) -> Result<Vec<PendingSlash>, StakingError> {
    Ok(state
        .read_with(&slashes_key(era), &crust_primitives::codec::max_items(4096))?
        .unwrap_or_default())
}

/// Reports that the validator with consensus key `offender` misbehaved in `era`, to be slashed
/// by `fraction` of its exposure. A zero fraction only chills it. Returns whether it was
/// recorded (unknown offenders and repeated smaller fractions are ignored).
pub fn report_offence(
    state: &mut impl State,
    era: EraIndex,
    offender: &AccountId,
    fraction: Perbill,
    reporters: &[AccountId],
) -> Result<bool, StakingError> {
    let Some(members) = committee(state, era)? else {
        return Ok(false);
    };
    let Some(stash) = members
        .iter()
        .find(|m| m.session_key == *offender)
        .map(|m| m.stash)
    else {
        return Ok(false);
    };
    // The offender leaves the validator set, and a new era is forced so the committee changes.
    chill_stash(state, &stash)?;
    let mut forced = params(state)?;
    forced.force_era = super::Forcing::ForceNew;
    super::set_params(state, &forced);
    if fraction.is_zero() {
        return Ok(true);
    }
    let prior: Perbill = state
        .read(&slash_in_era_key(era, &stash))?
        .unwrap_or_default();
    if fraction <= prior {
        return Ok(false);
    }
    state.write(&slash_in_era_key(era, &stash), &fraction);
    let exp: Exposure = exposure(state, era, &stash)?.unwrap_or_default();
    let more = |v: Balance| fraction.mul_nearest(v).saturating_sub(prior.mul_nearest(v));
    let own = more(exp.own);
    let others: Vec<IndividualExposure> = exp
        .others
        .iter()
        .map(|o| IndividualExposure {
            who: o.who,
            value: more(o.value),
        })
        .filter(|o| o.value > 0)
        .collect();
    let total = others.iter().fold(own, |a, o| a.saturating_add(o.value));
    let p = params(state)?;
    // Reporters share half of `slash_reward_fraction` of the slash (reference REWARD_F1 = 50%).
    let payout = Perbill::from_percent(50).mul_nearest(p.slash_reward_fraction.mul_nearest(total));
    let slash = PendingSlash {
        validator: stash,
        own,
        others,
        reporters: reporters.iter().take(16).copied().collect(),
        payout,
    };
    // Applied at the start of era `active + defer + 1`, as the reference applies queued slashes
    // of era e once `e < a − defer`.
    let apply_era = active_era(state)?
        .saturating_add(p.slash_defer_eras)
        .saturating_add(1);
    state.emit(Event::Staking(StakingEvent::SlashReported {
        validator: stash,
        fraction,
        apply_era,
    }));
    if p.slash_defer_eras == 0 {
        apply(state, &slash)?;
    } else {
        let mut list = pending_slashes(state, apply_era)?;
        list.push(slash);
        state.write(&slashes_key(apply_era), &list);
    }
    Ok(true)
}

/// Governance: cancels pending slashes of `era` by index.
pub(super) fn cancel_deferred_slash(
    state: &mut impl State,
    ctx: &CallContext,
    era: EraIndex,
    indices: &[u32],
) -> Result<(), StakingError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(StakingError::DuplicateIndex);
    }
    let mut list = pending_slashes(state, era)?;
    if sorted.last().is_some_and(|&i| i as usize >= list.len()) {
        return Err(StakingError::InvalidSlashIndex);
    }
    for i in sorted.into_iter().rev() {
        list.remove(i as usize);
    }
    state.write(&slashes_key(era), &list);
    Ok(())
}

/// Applies every slash scheduled for `era` (called when it starts).
pub(super) fn apply_due(state: &mut impl State, era: EraIndex) -> Result<(), StakingError> {
    for slash in pending_slashes(state, era)? {
        apply(state, &slash)?;
    }
    state.delete(&slashes_key(era));
    Ok(())
}

fn apply(state: &mut impl State, slash: &PendingSlash) -> Result<(), StakingError> {
    let mut slashed = slash_stash(state, &slash.validator, slash.own)?;
    for other in &slash.others {
        slashed = slashed.saturating_add(slash_stash(state, &other.who, other.value)?);
    }
    let reward = slash.payout.min(slashed);
    if !slash.reporters.is_empty() && reward > 0 {
        let each = reward / slash.reporters.len() as u128;
        for r in &slash.reporters {
            balances::mint(state, r, each)?;
        }
    }
    Ok(())
}

/// Takes `amount` from a stash's bond — active first, then unlocking chunks soonest first —
/// destroys it, and shrinks its guarantees to fit (D22).
fn slash_stash(
    state: &mut impl State,
    stash: &AccountId,
    amount: Balance,
) -> Result<Balance, StakingError> {
    let Some((controller, mut ledger)) = ledger_of_stash(state, stash)? else {
        return Ok(0);
    };
    let mut left = amount.min(ledger.total);
    let from_active = left.min(ledger.active);
    ledger.active -= from_active;
    left -= from_active;
    for chunk in ledger.unlocking.iter_mut() {
        let take = left.min(chunk.value);
        chunk.value -= take;
        left -= take;
    }
    ledger.unlocking.retain(|c| c.value > 0);
    let taken = amount.min(ledger.total) - left;
    ledger.total -= taken;
    let burned = balances::slash(state, stash, taken)?;
    put_ledger(state, &controller, &ledger)?;
    fit_guarantee(state, stash, ledger.active)?;
    state.emit(Event::Staking(StakingEvent::Slash {
        stash: *stash,
        amount: burned,
    }));
    Ok(burned)
}
