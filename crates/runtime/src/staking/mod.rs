//! Staking: Guaranteed Proof of Stake (`docs/reference.md` G1–G10, decisions D20–D24).
//!
//! Stashes bond funds through a controller; validators declare a commission and a consensus
//! (session) key; guarantors split their active bond explicitly across at most 16 validators.
//! A validator's **stake limit** comes from the storage its owner group proves (the sWork
//! workload): one unit per byte while total workload is small (stage one), a proportional
//! share of the total stake limit once it is not (stage two). At each era's planning the
//! committee is elected top-N by **effective stake** — own + guarantees, clipped pro rata to
//! the stake limit — among validators with a minimum self-bond and a non-zero limit (D21). The
//! committee is written to state one slot before the era starts, which is where the chain reads
//! it. Inflation per era is scaled to the era's actual length (D6), joined by the market's
//! staking pot spread over 60 eras; only elected validators and their guarantors are paid
//! (D20). Slashes are deferred so governance can cancel them; what they take goes to the
//! treasury.

mod curve;
mod election;
mod eras;
mod rewards;
pub mod slashing;
#[cfg(test)]
mod tests;
mod types;

pub use election::{curve_ratio, effective_exposure, stake_limit, total_stake_limit};
pub use eras::on_initialize;
pub use rewards::era_inflation;
pub use slashing::{
    equivocation_fraction, equivocation_reportable, pending_slashes, report_equivocation,
    report_offence,
};
pub use types::*;

use crate::balances::{self, LockId};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, system};
use crust_primitives::codec::max_items;
use crust_primitives::{AccountId, Balance, EraIndex, Perbill};

const MODULE: &str = "staking";
/// The balance lock holding bonded funds.
pub const STAKING_LOCK: LockId = *b"staking ";

// ---- storage ------------------------------------------------------------------------------

fn bonded_key(stash: &AccountId) -> Vec<u8> {
    key(MODULE, "bonded", &[stash.as_bytes()])
}
fn ledger_key(controller: &AccountId) -> Vec<u8> {
    key(MODULE, "ledger", &[controller.as_bytes()])
}
fn validator_key(stash: &AccountId) -> Vec<u8> {
    key(MODULE, "validator", &[stash.as_bytes()])
}
pub(crate) fn validators_prefix() -> Vec<u8> {
    key(MODULE, "validator", &[])
}
fn guarantor_key(stash: &AccountId) -> Vec<u8> {
    key(MODULE, "guarantor", &[stash.as_bytes()])
}
fn backing_key(validator: &AccountId, guarantor: &AccountId) -> Vec<u8> {
    key(
        MODULE,
        "backing",
        &[validator.as_bytes(), guarantor.as_bytes()],
    )
}
pub(crate) fn backing_prefix(validator: &AccountId) -> Vec<u8> {
    key(MODULE, "backing", &[validator.as_bytes()])
}
fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}
/// The state key of [`total_active`] (for reads over RPC).
pub fn total_active_key() -> Vec<u8> {
    key(MODULE, "total_active", &[])
}
fn era_key() -> Vec<u8> {
    key(MODULE, "era", &[])
}
pub(crate) fn committee_key(era: EraIndex) -> Vec<u8> {
    key(MODULE, "committee", &[&era.to_be_bytes()])
}
pub(crate) fn exposure_key(era: EraIndex, stash: &AccountId) -> Vec<u8> {
    key(MODULE, "exposure", &[&era.to_be_bytes(), stash.as_bytes()])
}
pub(crate) fn era_prefs_key(era: EraIndex, stash: &AccountId) -> Vec<u8> {
    key(MODULE, "era_prefs", &[&era.to_be_bytes(), stash.as_bytes()])
}
pub(crate) fn era_rewards_key(era: EraIndex) -> Vec<u8> {
    key(MODULE, "era_rewards", &[&era.to_be_bytes()])
}
pub(crate) fn points_key(era: EraIndex, stash: &AccountId) -> Vec<u8> {
    key(MODULE, "points", &[&era.to_be_bytes(), stash.as_bytes()])
}
pub(crate) fn market_payout_key(era: EraIndex) -> Vec<u8> {
    key(MODULE, "market_payout", &[&era.to_be_bytes()])
}

/// Most validator candidates; bounds election work per era (D5).
pub const MAX_CANDIDATES: usize = 1000;

/// The controller of a bonded stash.
pub fn bonded(state: &impl State, stash: &AccountId) -> Result<Option<AccountId>, StakingError> {
    Ok(state.read(&bonded_key(stash))?)
}

/// The ledger held by `controller`.
pub fn ledger(
    state: &impl State,
    controller: &AccountId,
) -> Result<Option<StakingLedger>, StakingError> {
    Ok(state.read(&ledger_key(controller))?)
}

/// A stash's ledger (through its controller).
pub fn ledger_of_stash(
    state: &impl State,
    stash: &AccountId,
) -> Result<Option<(AccountId, StakingLedger)>, StakingError> {
    let Some(controller) = bonded(state, stash)? else {
        return Ok(None);
    };
    Ok(ledger(state, &controller)?.map(|l| (controller, l)))
}

/// A validator's preferences.
pub fn validator(
    state: &impl State,
    stash: &AccountId,
) -> Result<Option<ValidatorPrefs>, StakingError> {
    Ok(state.read(&validator_key(stash))?)
}

/// Every validator candidate with its preferences, in account order (at most
/// [`MAX_CANDIDATES`], as the election reads them).
pub fn validators(state: &impl State) -> Result<Vec<(AccountId, ValidatorPrefs)>, StakingError> {
    Ok(state.scan_decoded(&validators_prefix(), None, MAX_CANDIDATES)?)
}

/// A guarantor's guarantee.
pub fn guarantee_of(
    state: &impl State,
    stash: &AccountId,
) -> Result<Option<Guarantee>, StakingError> {
    Ok(state.read(&guarantor_key(stash))?)
}

/// Current staking parameters.
pub fn params(state: &impl State) -> Result<StakingParams, StakingError> {
    Ok(state.read_or_default(&params_key())?)
}

pub(crate) fn set_params(state: &mut impl State, p: &StakingParams) {
    state.write(&params_key(), p);
}

/// Era bookkeeping.
pub fn era_state(state: &impl State) -> Result<EraState, StakingError> {
    Ok(state.read_or_default(&era_key())?)
}

pub(crate) fn set_era_state(state: &mut impl State, e: &EraState) {
    state.write(&era_key(), e);
}

/// The active era.
pub fn active_era(state: &impl State) -> Result<EraIndex, StakingError> {
    Ok(era_state(state)?.active)
}

/// The committee elected for `era` (what consensus runs with in that era).
pub fn committee(
    state: &impl State,
    era: EraIndex,
) -> Result<Option<Vec<CommitteeMember>>, StakingError> {
    Ok(state.read_with(&committee_key(era), &max_items(MAX_COMMITTEE))?)
}

/// An elected validator's exposure in `era`.
pub fn exposure(
    state: &impl State,
    era: EraIndex,
    stash: &AccountId,
) -> Result<Option<Exposure>, StakingError> {
    Ok(state.read(&exposure_key(era, stash))?)
}

/// Reward bookkeeping of `era`.
pub fn era_rewards(state: &impl State, era: EraIndex) -> Result<EraRewards, StakingError> {
    Ok(state.read_or_default(&era_rewards_key(era))?)
}

/// All active bonded stake (every ledger's `active`): the electorate governance measures
/// turnout against. Kept as a running sum by [`put_ledger`] and [`kill_stash`].
pub fn total_active(state: &impl State) -> Result<Balance, StakingError> {
    Ok(state.read_or_default(&total_active_key())?)
}

fn adjust_total_active(
    state: &mut impl State,
    old: Balance,
    new: Balance,
) -> Result<(), StakingError> {
    let total = total_active(state)?.saturating_sub(old).saturating_add(new);
    state.write(&total_active_key(), &total);
    Ok(())
}

fn put_ledger(
    state: &mut impl State,
    controller: &AccountId,
    l: &StakingLedger,
) -> Result<(), StakingError> {
    let old = ledger(state, controller)?.map_or(0, |o| o.active);
    adjust_total_active(state, old, l.active)?;
    balances::set_lock(state, &l.stash, STAKING_LOCK, l.total)?;
    state.write(&ledger_key(controller), l);
    Ok(())
}

fn ledger_of_controller(
    state: &impl State,
    controller: &AccountId,
) -> Result<StakingLedger, StakingError> {
    ledger(state, controller)?.ok_or(StakingError::NotController)
}

/// Keeps a guarantor's edges within its active bond (D22): edges are cut, last first.
pub(crate) fn fit_guarantee(
    state: &mut impl State,
    stash: &AccountId,
    active: Balance,
) -> Result<(), StakingError> {
    let Some(mut g) = guarantee_of(state, stash)? else {
        return Ok(());
    };
    while g.total > active {
        let excess = g.total - active;
        let Some(edge) = g.targets.last_mut() else {
            break;
        };
        let cut = excess.min(edge.value);
        edge.value -= cut;
        g.total -= cut;
        let (who, value) = (edge.who, edge.value);
        if value == 0 {
            g.targets.pop();
            state.delete(&backing_key(&who, stash));
        } else {
            state.write(&backing_key(&who, stash), &value);
        }
    }
    state.write(&guarantor_key(stash), &g);
    Ok(())
}

fn remove_guarantee(state: &mut impl State, stash: &AccountId) -> Result<(), StakingError> {
    if let Some(g) = guarantee_of(state, stash)? {
        for edge in g.targets {
            state.delete(&backing_key(&edge.who, stash));
        }
        state.delete(&guarantor_key(stash));
    }
    Ok(())
}

fn kill_stash(
    state: &mut impl State,
    stash: &AccountId,
    controller: &AccountId,
) -> Result<(), StakingError> {
    let old = ledger(state, controller)?.map_or(0, |o| o.active);
    adjust_total_active(state, old, 0)?;
    state.delete(&bonded_key(stash));
    state.delete(&ledger_key(controller));
    state.delete(&validator_key(stash));
    remove_guarantee(state, stash)?;
    slashing::clear_spans(state, stash)?;
    balances::remove_lock(state, stash, STAKING_LOCK)?;
    Ok(())
}

// ---- calls ----------------------------------------------------------------------------------

/// The staking calls a signed transaction can make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StakingCall {
    /// Stash: bond `value` with `controller`.
    Bond {
        /// Controller account.
        controller: AccountId,
        /// Amount.
        value: Balance,
    },
    /// Stash: bond up to `max_additional` more.
    BondExtra {
        /// Maximum extra.
        max_additional: Balance,
    },
    /// Controller: start unbonding `value`.
    Unbond {
        /// Amount.
        value: Balance,
    },
    /// Controller: move `value` back from unbonding to active.
    Rebond {
        /// Amount.
        value: Balance,
    },
    /// Controller: release unlocked chunks.
    WithdrawUnbonded {},
    /// Controller: declare the stash a validator.
    Validate {
        /// Preferences.
        prefs: ValidatorPrefs,
    },
    /// Controller: guarantee `value` to `target`.
    Guarantee {
        /// Validator.
        target: AccountId,
        /// Amount.
        value: Balance,
    },
    /// Controller: reduce the guarantee to `target` by `value`.
    CutGuarantee {
        /// Validator.
        target: AccountId,
        /// Amount.
        value: Balance,
    },
    /// Controller: stop validating and guaranteeing.
    Chill {},
    /// Stash: move the ledger to a new controller.
    SetController {
        /// New controller.
        controller: AccountId,
    },
    /// Anyone: pay out `validator`'s and its guarantors' rewards for `era`.
    RewardStakers {
        /// Validator stash.
        validator: AccountId,
        /// Era.
        era: EraIndex,
    },
    /// Governance: committee size.
    SetValidatorCount {
        /// Seats.
        count: u32,
    },
    /// Governance: minimum self-bond to be elected (D21).
    SetMinSelfBond {
        /// Amount.
        amount: Balance,
    },
    /// Governance: era forcing.
    ForceEra {
        /// Mode.
        mode: Forcing,
    },
    /// Governance: cancel pending slashes of `era` by index.
    CancelDeferredSlash {
        /// Era the slashes apply in.
        era: EraIndex,
        /// Indices in that era's list.
        indices: Vec<u32>,
    },
}
crust_primitives::impl_codec_enum!(StakingCall {
    0 => Bond { controller, value },
    1 => BondExtra { max_additional },
    2 => Unbond { value },
    3 => Rebond { value },
    4 => WithdrawUnbonded {},
    5 => Validate { prefs },
    6 => Guarantee { target, value },
    7 => CutGuarantee { target, value },
    8 => Chill {},
    9 => SetController { controller },
    10 => RewardStakers { validator, era },
    11 => SetValidatorCount { count },
    12 => SetMinSelfBond { amount },
    13 => ForceEra { mode },
    14 => CancelDeferredSlash { era, indices: max_items(1024) },
});

/// Executes a staking call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &StakingCall,
) -> Result<(), StakingError> {
    match call {
        StakingCall::Bond { controller, value } => bond(state, ctx, controller, *value),
        StakingCall::BondExtra { max_additional } => bond_extra(state, ctx, *max_additional),
        StakingCall::Unbond { value } => unbond(state, ctx, *value),
        StakingCall::Rebond { value } => rebond(state, ctx, *value),
        StakingCall::WithdrawUnbonded {} => withdraw_unbonded(state, ctx),
        StakingCall::Validate { prefs } => validate(state, ctx, prefs),
        StakingCall::Guarantee { target, value } => guarantee(state, ctx, target, *value),
        StakingCall::CutGuarantee { target, value } => cut_guarantee(state, ctx, target, *value),
        StakingCall::Chill {} => chill(state, ctx),
        StakingCall::SetController { controller } => set_controller(state, ctx, controller),
        StakingCall::RewardStakers { validator, era } => {
            rewards::reward_stakers(state, ctx, validator, *era)
        }
        StakingCall::SetValidatorCount { count } => {
            system::ensure_governance(state, &ctx.caller)?;
            if *count == 0 || *count as usize > MAX_COMMITTEE {
                return Err(StakingError::ValidatorCountOutOfRange { max: MAX_COMMITTEE });
            }
            let mut p = params(state)?;
            p.validator_count = *count;
            set_params(state, &p);
            Ok(())
        }
        StakingCall::SetMinSelfBond { amount } => {
            system::ensure_governance(state, &ctx.caller)?;
            let mut p = params(state)?;
            p.min_self_bond = *amount;
            set_params(state, &p);
            Ok(())
        }
        StakingCall::ForceEra { mode } => {
            system::ensure_governance(state, &ctx.caller)?;
            let mut p = params(state)?;
            p.force_era = *mode;
            set_params(state, &p);
            Ok(())
        }
        StakingCall::CancelDeferredSlash { era, indices } => {
            slashing::cancel_deferred_slash(state, ctx, *era, indices)
        }
    }
}

/// Bonds `value` of the caller's (stash's) free balance, controlled by `controller`.
pub fn bond(
    state: &mut impl State,
    ctx: &CallContext,
    controller: &AccountId,
    value: Balance,
) -> Result<(), StakingError> {
    let stash = ctx.caller;
    if bonded(state, &stash)?.is_some() {
        return Err(StakingError::AlreadyBonded);
    }
    if ledger(state, controller)?.is_some() {
        return Err(StakingError::AlreadyPaired);
    }
    let ed = system::config(state)?.existential_deposit;
    if value < ed {
        return Err(StakingError::InsufficientValue);
    }
    let value = value.min(balances::free_balance(state, &stash)?);
    let active = active_era(state)?;
    // New stashes cannot claim eras before they bonded.
    let claimed: Vec<EraIndex> = (active.saturating_sub(HISTORY_DEPTH)..=active).collect();
    state.write(&bonded_key(&stash), controller);
    let l = StakingLedger {
        stash,
        total: value,
        active: value,
        unlocking: Vec::new(),
        claimed_rewards: claimed,
    };
    put_ledger(state, controller, &l)?;
    state.emit(Event::Staking(StakingEvent::Bonded {
        stash,
        amount: value,
    }));
    Ok(())
}

/// Bonds up to `max_additional` more of the stash's free balance.
pub fn bond_extra(
    state: &mut impl State,
    ctx: &CallContext,
    max_additional: Balance,
) -> Result<(), StakingError> {
    let stash = ctx.caller;
    let controller = bonded(state, &stash)?.ok_or(StakingError::NotStash)?;
    let mut l = ledger_of_controller(state, &controller)?;
    let free = balances::free_balance(state, &stash)?;
    let extra = free.saturating_sub(l.total).min(max_additional);
    if extra > 0 {
        l.total += extra;
        l.active += extra;
        put_ledger(state, &controller, &l)?;
        state.emit(Event::Staking(StakingEvent::Bonded {
            stash,
            amount: extra,
        }));
    }
    Ok(())
}

/// Starts unbonding `value`; a guarantor can only unbond what it has not guaranteed.
pub fn unbond(
    state: &mut impl State,
    ctx: &CallContext,
    value: Balance,
) -> Result<(), StakingError> {
    let mut l = ledger_of_controller(state, &ctx.caller)?;
    if l.unlocking.len() >= MAX_UNLOCKING_CHUNKS {
        return Err(StakingError::NoMoreChunks);
    }
    let mut value = value.min(l.active);
    if let Some(g) = guarantee_of(state, &l.stash)? {
        if g.total >= l.active && g.total > 0 {
            return Err(StakingError::AllGuaranteed);
        }
        value = value.min(l.active - g.total);
    }
    if value == 0 {
        return Ok(());
    }
    let cfg = system::config(state)?;
    l.active -= value;
    if l.active < cfg.existential_deposit {
        value += l.active;
        l.active = 0;
    }
    let era = active_era(state)?.saturating_add(cfg.bonding_duration_eras);
    l.unlocking.push(UnlockChunk { value, era });
    put_ledger(state, &ctx.caller, &l)?;
    state.emit(Event::Staking(StakingEvent::Unbonded {
        stash: l.stash,
        amount: value,
    }));
    Ok(())
}

/// Moves up to `value` from the newest unlocking chunks back to active.
pub fn rebond(
    state: &mut impl State,
    ctx: &CallContext,
    value: Balance,
) -> Result<(), StakingError> {
    let mut l = ledger_of_controller(state, &ctx.caller)?;
    if l.unlocking.is_empty() {
        return Err(StakingError::NoUnlockChunk);
    }
    let mut moved: Balance = 0;
    while moved < value {
        let Some(last) = l.unlocking.last_mut() else {
            break;
        };
        let take = (value - moved).min(last.value);
        last.value -= take;
        moved += take;
        if last.value == 0 {
            l.unlocking.pop();
        }
    }
    l.active += moved;
    if l.active < system::config(state)?.existential_deposit {
        return Err(StakingError::InsufficientValue);
    }
    put_ledger(state, &ctx.caller, &l)
}

/// Releases every chunk whose era has come; a stash left with nothing is removed.
pub fn withdraw_unbonded(state: &mut impl State, ctx: &CallContext) -> Result<(), StakingError> {
    let mut l = ledger_of_controller(state, &ctx.caller)?;
    let current = active_era(state)?;
    let before = l.total;
    let (ready, waiting): (Vec<_>, Vec<_>) = l.unlocking.drain(..).partition(|c| c.era <= current);
    l.unlocking = waiting;
    l.total -= ready.iter().map(|c| c.value).sum::<Balance>().min(l.total);
    if l.unlocking.is_empty() && l.active == 0 {
        kill_stash(state, &l.stash, &ctx.caller)?;
    } else {
        put_ledger(state, &ctx.caller, &l)?;
    }
    if l.total < before {
        state.emit(Event::Staking(StakingEvent::Withdrawn {
            stash: l.stash,
            amount: before - l.total,
        }));
    }
    Ok(())
}

/// Declares the stash a validator with `prefs` (commission = its own cut, D23).
pub fn validate(
    state: &mut impl State,
    ctx: &CallContext,
    prefs: &ValidatorPrefs,
) -> Result<(), StakingError> {
    let l = ledger_of_controller(state, &ctx.caller)?;
    if validator(state, &l.stash)?.is_none() {
        let count = state
            .scan(&validators_prefix(), None, MAX_CANDIDATES + 1)
            .len();
        if count >= MAX_CANDIDATES {
            return Err(StakingError::ExceedGuaranteeLimit);
        }
    }
    remove_guarantee(state, &l.stash)?;
    state.write(&validator_key(&l.stash), prefs);
    state.emit(Event::Staking(StakingEvent::ValidateSuccess {
        stash: l.stash,
        prefs: prefs.clone(),
    }));
    Ok(())
}

/// Guarantees up to `value` of the unguaranteed active bond to `target`.
pub fn guarantee(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
    value: Balance,
) -> Result<(), StakingError> {
    let l = ledger_of_controller(state, &ctx.caller)?;
    if validator(state, target)?.is_none() || *target == l.stash {
        return Err(StakingError::InvalidTarget);
    }
    if value <= system::config(state)?.existential_deposit {
        return Err(StakingError::InsufficientValue);
    }
    let mut g = guarantee_of(state, &l.stash)?.unwrap_or_default();
    let real = value.min(l.active.saturating_sub(g.total));
    if real == 0 {
        return Err(StakingError::ExceedGuaranteeLimit);
    }
    match g.targets.iter_mut().find(|e| e.who == *target) {
        Some(edge) => edge.value += real,
        None => {
            if g.targets.len() >= MAX_GUARANTEE {
                return Err(StakingError::ExceedGuaranteeLimit);
            }
            let backers = state
                .scan(&backing_prefix(target), None, MAX_EXPOSURE_GUARANTORS)
                .len();
            if backers >= MAX_EXPOSURE_GUARANTORS {
                return Err(StakingError::ExceedGuaranteeLimit);
            }
            g.targets.push(GuaranteeEdge {
                who: *target,
                value: real,
            });
        }
    }
    g.total += real;
    let edge_value = g
        .targets
        .iter()
        .find(|e| e.who == *target)
        .map_or(real, |e| e.value);
    state.write(&backing_key(target, &l.stash), &edge_value);
    state.write(&guarantor_key(&l.stash), &g);
    state.delete(&validator_key(&l.stash));
    state.emit(Event::Staking(StakingEvent::GuaranteeSuccess {
        guarantor: l.stash,
        target: *target,
        amount: real,
    }));
    Ok(())
}

/// Reduces the guarantee to `target` by up to `value`.
pub fn cut_guarantee(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
    value: Balance,
) -> Result<(), StakingError> {
    let l = ledger_of_controller(state, &ctx.caller)?;
    if value <= system::config(state)?.existential_deposit {
        return Err(StakingError::InsufficientValue);
    }
    let mut g = guarantee_of(state, &l.stash)?.ok_or(StakingError::InvalidTarget)?;
    let pos = g
        .targets
        .iter()
        .position(|e| e.who == *target)
        .ok_or(StakingError::InvalidTarget)?;
    let cut = value.min(g.targets[pos].value);
    g.targets[pos].value -= cut;
    g.total -= cut;
    if g.targets[pos].value == 0 {
        g.targets.remove(pos);
        state.delete(&backing_key(target, &l.stash));
    } else {
        state.write(&backing_key(target, &l.stash), &g.targets[pos].value);
    }
    state.write(&guarantor_key(&l.stash), &g);
    state.emit(Event::Staking(StakingEvent::CutGuaranteeSuccess {
        guarantor: l.stash,
        target: *target,
        amount: cut,
    }));
    Ok(())
}

/// Stops validating and guaranteeing.
pub fn chill(state: &mut impl State, ctx: &CallContext) -> Result<(), StakingError> {
    let l = ledger_of_controller(state, &ctx.caller)?;
    chill_stash(state, &l.stash)
}

pub(crate) fn chill_stash(state: &mut impl State, stash: &AccountId) -> Result<(), StakingError> {
    state.delete(&validator_key(stash));
    remove_guarantee(state, stash)?;
    state.emit(Event::Staking(StakingEvent::Chilled { stash: *stash }));
    Ok(())
}

/// Moves the stash's ledger to a new controller.
pub fn set_controller(
    state: &mut impl State,
    ctx: &CallContext,
    controller: &AccountId,
) -> Result<(), StakingError> {
    let old = bonded(state, &ctx.caller)?.ok_or(StakingError::NotStash)?;
    if ledger(state, controller)?.is_some() {
        return Err(StakingError::AlreadyPaired);
    }
    let l = ledger_of_controller(state, &old)?;
    state.delete(&ledger_key(&old));
    state.write(&ledger_key(controller), &l);
    state.write(&bonded_key(&ctx.caller), controller);
    Ok(())
}

/// Era 0's committee: the genesis validators, with their bonds as exposures.
pub(crate) fn genesis_committee(
    state: &mut impl State,
    members: &[(AccountId, AccountId, Balance)],
) -> Result<(), StakingError> {
    let mut list = Vec::new();
    let mut total: Balance = 0;
    for (stash, session_key, bond) in members {
        state.write(
            &exposure_key(0, stash),
            &Exposure {
                total: *bond,
                own: *bond,
                others: Vec::new(),
            },
        );
        state.write(
            &era_prefs_key(0, stash),
            &ValidatorPrefs {
                commission: Perbill::zero(),
                session_key: *session_key,
            },
        );
        list.push(CommitteeMember {
            stash: *stash,
            session_key: *session_key,
            stake: *bond,
        });
        total = total.saturating_add(*bond);
    }
    if !list.is_empty() {
        state.write(&committee_key(0), &list);
    }
    state.write(
        &era_rewards_key(0),
        &EraRewards {
            total_stake: total,
            ..EraRewards::default()
        },
    );
    Ok(())
}

/// Writes genesis stakers: each bonds, then validates with its session key or stays idle.
pub(crate) fn genesis_staker(
    state: &mut impl State,
    stash: &AccountId,
    controller: &AccountId,
    value: Balance,
    session_key: Option<AccountId>,
) -> Result<(), StakingError> {
    let ctx = CallContext {
        caller: *stash,
        height: 0,
        era: 0,
    };
    bond(state, &ctx, controller, value)?;
    if let Some(session_key) = session_key {
        let ctx = CallContext {
            caller: *controller,
            height: 0,
            era: 0,
        };
        validate(
            state,
            &ctx,
            &ValidatorPrefs {
                commission: Perbill::zero(),
                session_key,
            },
        )?;
    }
    Ok(())
}
