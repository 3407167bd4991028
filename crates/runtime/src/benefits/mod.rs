//! Benefits: funds locked (reserved) to buy fee reductions and to back merchant rewards
//! (`docs/reference.md` M9).
//!
//! - **SWORK** funds give the owner `⌊active / report_work_cost⌋` free work reports per era.
//! - **MARKET** funds are a merchant's collateral: a replica reward is credited only while
//!   `(unclaimed + reward) × collateral_ratio ≤ active`. They also let the holder's
//!   `calculate_reward` fees be covered (up to `benefit_market_cost_ratio`) from the era's
//!   fee-reduction quota, a share of the era payout, by minting.
//!
//! Cut funds unlock after the bonding duration; at most 16 unlocking chunks at once.

#[cfg(test)]
mod tests;
mod types;

pub use types::{
    BenefitsError, BenefitsEvent, EraBenefits, FundsType, MarketBenefit, SworkBenefit, Unlocking,
};

use crate::balances;
use crate::state::{State, StateExt, key};
use crate::system::{self, FeeSplit};
use crate::{CallContext, Event};
use crust_primitives::{AccountId, Balance, EraIndex, Perbill};

/// Most unlocking chunks per record (reference `MAX_UNLOCKING_CHUNKS`).
pub const MAX_UNLOCKING_CHUNKS: usize = 16;

const MODULE: &str = "benefits";

/// The state key of `who`'s `MarketBenefit` (collateral and unclaimed replica rewards; for light
/// reads over `state_proof`).
pub fn market_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "market", &[who.as_bytes()])
}

fn swork_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "swork", &[who.as_bytes()])
}

fn era_key() -> Vec<u8> {
    key(MODULE, "era", &[])
}

/// The MARKET benefit record of `who`.
pub fn market_benefit(
    state: &impl State,
    who: &AccountId,
) -> Result<Option<MarketBenefit>, BenefitsError> {
    Ok(state.read(&market_key(who))?)
}

/// The SWORK benefit record of `who`.
pub fn swork_benefit(
    state: &impl State,
    who: &AccountId,
) -> Result<Option<SworkBenefit>, BenefitsError> {
    Ok(state.read(&swork_key(who))?)
}

/// The current era's fee-reduction totals.
pub fn era_benefits(state: &impl State) -> Result<EraBenefits, BenefitsError> {
    Ok(state.read_or_default(&era_key())?)
}

fn put_market(state: &mut impl State, who: &AccountId, b: &MarketBenefit) {
    if b.total_funds == 0 && b.file_reward == 0 && b.unlocking.is_empty() {
        state.delete(&market_key(who));
    } else {
        state.write(&market_key(who), b);
    }
}

fn put_swork(state: &mut impl State, who: &AccountId, b: &SworkBenefit) {
    if b.total_funds == 0 && b.unlocking.is_empty() {
        state.delete(&swork_key(who));
    } else {
        state.write(&swork_key(who), b);
    }
}

// ---- calls ----------------------------------------------------------------------------------

/// The benefits calls a signed transaction can make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenefitsCall {
    /// Reserve `value` as benefit funds of `funds_type`.
    AddBenefitFunds {
        /// Amount.
        value: Balance,
        /// SWORK or MARKET.
        funds_type: FundsType,
    },
    /// Start unlocking up to `value` of active funds.
    CutBenefitFunds {
        /// Amount.
        value: Balance,
        /// SWORK or MARKET.
        funds_type: FundsType,
    },
    /// Release every unlocked chunk back to free balance.
    WithdrawBenefitFunds {},
    /// Move up to `value` from unlocking chunks (newest first) back to active.
    RebondBenefitFunds {
        /// Amount.
        value: Balance,
        /// SWORK or MARKET.
        funds_type: FundsType,
    },
}
crust_primitives::impl_codec_enum!(BenefitsCall {
    0 => AddBenefitFunds { value, funds_type },
    1 => CutBenefitFunds { value, funds_type },
    2 => WithdrawBenefitFunds {},
    3 => RebondBenefitFunds { value, funds_type },
});

/// Executes a benefits call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &BenefitsCall,
) -> Result<(), BenefitsError> {
    match call {
        BenefitsCall::AddBenefitFunds { value, funds_type } => {
            add_benefit_funds(state, ctx, *value, *funds_type)
        }
        BenefitsCall::CutBenefitFunds { value, funds_type } => {
            cut_benefit_funds(state, ctx, *value, *funds_type)
        }
        BenefitsCall::WithdrawBenefitFunds {} => withdraw_benefit_funds(state, ctx),
        BenefitsCall::RebondBenefitFunds { value, funds_type } => {
            rebond_benefit_funds(state, ctx, *value, *funds_type)
        }
    }
}

/// Reserves `value` of the caller's balance as benefit funds.
pub fn add_benefit_funds(
    state: &mut impl State,
    ctx: &CallContext,
    value: Balance,
    funds_type: FundsType,
) -> Result<(), BenefitsError> {
    balances::reserve(state, &ctx.caller, value).map_err(|_| BenefitsError::InsufficientBalance)?;
    match funds_type {
        FundsType::Swork => {
            let mut b = swork_benefit(state, &ctx.caller)?.unwrap_or_default();
            b.active_funds = b.active_funds.saturating_add(value);
            b.total_funds = b.total_funds.saturating_add(value);
            b.total_fee_reduction_count = report_count(state, b.active_funds)?;
            put_swork(state, &ctx.caller, &b);
        }
        FundsType::Market => {
            let mut b = market_benefit(state, &ctx.caller)?.unwrap_or_default();
            b.active_funds = b.active_funds.saturating_add(value);
            b.total_funds = b.total_funds.saturating_add(value);
            put_market(state, &ctx.caller, &b);
            let mut era = era_benefits(state)?;
            era.total_market_active_funds = era.total_market_active_funds.saturating_add(value);
            state.write(&era_key(), &era);
        }
    }
    state.emit(Event::Benefits(BenefitsEvent::AddBenefitFundsSuccess {
        who: ctx.caller,
        value,
        funds_type,
    }));
    Ok(())
}

fn report_count(state: &impl State, active: Balance) -> Result<u32, BenefitsError> {
    let cost = system::config(state)?.benefit_report_work_cost.max(1);
    Ok(u32::try_from(active / cost).unwrap_or(u32::MAX))
}

/// Moves `min(value, active)` into a chunk that unlocks after the bonding duration. If what
/// stays active would be below the existential deposit, it is cut too.
pub fn cut_benefit_funds(
    state: &mut impl State,
    ctx: &CallContext,
    value: Balance,
    funds_type: FundsType,
) -> Result<(), BenefitsError> {
    let cfg = system::config(state)?;
    let mut era = era_benefits(state)?;
    let unlock_era = era.active_era.saturating_add(cfg.bonding_duration_eras);
    let cut =
        |active: &mut Balance, unlocking: &mut Vec<Unlocking>| -> Result<Balance, BenefitsError> {
            if unlocking.len() >= MAX_UNLOCKING_CHUNKS {
                return Err(BenefitsError::NoMoreChunks);
            }
            let mut v = value.min(*active);
            if v > 0 {
                *active -= v;
                if *active < cfg.existential_deposit {
                    v += *active;
                    *active = 0;
                }
                unlocking.push(Unlocking {
                    value: v,
                    era: unlock_era,
                });
            }
            Ok(v)
        };
    let actual = match funds_type {
        FundsType::Swork => {
            let mut b = swork_benefit(state, &ctx.caller)?.ok_or(BenefitsError::InvalidTarget)?;
            let v = cut(&mut b.active_funds, &mut b.unlocking)?;
            b.total_fee_reduction_count = report_count(state, b.active_funds)?;
            put_swork(state, &ctx.caller, &b);
            v
        }
        FundsType::Market => {
            let mut b = market_benefit(state, &ctx.caller)?.ok_or(BenefitsError::InvalidTarget)?;
            let v = cut(&mut b.active_funds, &mut b.unlocking)?;
            put_market(state, &ctx.caller, &b);
            era.total_market_active_funds = era.total_market_active_funds.saturating_sub(v);
            state.write(&era_key(), &era);
            v
        }
    };
    // Unlike the reference, the event reports the amount actually cut.
    state.emit(Event::Benefits(BenefitsEvent::CutBenefitFundsSuccess {
        who: ctx.caller,
        value: actual,
        funds_type,
    }));
    Ok(())
}

/// Releases every chunk whose era has come back to the caller's free balance.
pub fn withdraw_benefit_funds(
    state: &mut impl State,
    ctx: &CallContext,
) -> Result<(), BenefitsError> {
    let who = ctx.caller;
    let mut era = era_benefits(state)?;
    let mut swork = swork_benefit(state, &who)?;
    let mut market = market_benefit(state, &who)?;
    if swork.is_none() && market.is_none() {
        return Err(BenefitsError::InvalidTarget);
    }
    // Repair: if reserved funds were slashed below what the records claim, the records shrink
    // to match (market first, then swork), reducing active funds by the same amount.
    let reserved = balances::reserved_balance(state, &who)?;
    let claimed =
        swork.as_ref().map_or(0, |b| b.total_funds) + market.as_ref().map_or(0, |b| b.total_funds);
    let mut deficit = claimed.saturating_sub(reserved);
    if let Some(b) = market.as_mut() {
        let cut = deficit.min(b.total_funds);
        b.total_funds -= cut;
        let active_cut = cut.min(b.active_funds);
        b.active_funds -= active_cut;
        era.total_market_active_funds = era.total_market_active_funds.saturating_sub(active_cut);
        deficit -= cut;
    }
    if let Some(b) = swork.as_mut() {
        let cut = deficit.min(b.total_funds);
        b.total_funds -= cut;
        b.active_funds = b.active_funds.saturating_sub(cut);
    }
    let mut released: Balance = 0;
    let mut release = |total: &mut Balance, unlocking: &mut Vec<Unlocking>| {
        let (ready, waiting): (Vec<_>, Vec<_>) =
            unlocking.drain(..).partition(|c| c.era <= era.active_era);
        *unlocking = waiting;
        let value: Balance = ready.iter().map(|c| c.value).sum::<Balance>().min(*total);
        *total -= value;
        released += value;
    };
    if let Some(b) = swork.as_mut() {
        release(&mut b.total_funds, &mut b.unlocking);
        b.total_fee_reduction_count = report_count(state, b.active_funds)?;
        put_swork(state, &who, b);
    }
    if let Some(b) = market.as_mut() {
        release(&mut b.total_funds, &mut b.unlocking);
        put_market(state, &who, b);
    }
    state.write(&era_key(), &era);
    balances::unreserve(state, &who, released)?;
    state.emit(Event::Benefits(
        BenefitsEvent::WithdrawBenefitFundsSuccess {
            who,
            value: released,
        },
    ));
    Ok(())
}

/// Moves up to `value` from the newest unlocking chunks back to active funds.
pub fn rebond_benefit_funds(
    state: &mut impl State,
    ctx: &CallContext,
    value: Balance,
    funds_type: FundsType,
) -> Result<(), BenefitsError> {
    let ed = system::config(state)?.existential_deposit;
    let rebond =
        |active: &mut Balance, unlocking: &mut Vec<Unlocking>| -> Result<Balance, BenefitsError> {
            if unlocking.is_empty() {
                return Err(BenefitsError::NoUnlockChunk);
            }
            let mut moved: Balance = 0;
            while moved < value {
                let Some(last) = unlocking.last_mut() else {
                    break;
                };
                let take = (value - moved).min(last.value);
                last.value -= take;
                moved += take;
                if last.value == 0 {
                    unlocking.pop();
                }
            }
            *active = active.saturating_add(moved);
            if *active < ed {
                return Err(BenefitsError::InsufficientValue);
            }
            Ok(moved)
        };
    let moved = match funds_type {
        FundsType::Swork => {
            let mut b = swork_benefit(state, &ctx.caller)?.ok_or(BenefitsError::InvalidTarget)?;
            let moved = rebond(&mut b.active_funds, &mut b.unlocking)?;
            b.total_fee_reduction_count = report_count(state, b.active_funds)?;
            put_swork(state, &ctx.caller, &b);
            moved
        }
        FundsType::Market => {
            let mut b = market_benefit(state, &ctx.caller)?.ok_or(BenefitsError::InvalidTarget)?;
            let moved = rebond(&mut b.active_funds, &mut b.unlocking)?;
            put_market(state, &ctx.caller, &b);
            let mut era = era_benefits(state)?;
            era.total_market_active_funds = era.total_market_active_funds.saturating_add(moved);
            state.write(&era_key(), &era);
            moved
        }
    };
    state.emit(Event::Benefits(BenefitsEvent::RebondBenefitFundsSuccess {
        who: ctx.caller,
        value: moved,
        funds_type,
    }));
    Ok(())
}

// ---- interfaces for other modules -----------------------------------------------------------

/// A merchant's collateral (MARKET active funds) and unclaimed replica rewards.
pub fn collateral_and_reward(
    state: &impl State,
    who: &AccountId,
) -> Result<(Balance, Balance), BenefitsError> {
    Ok(market_benefit(state, who)?.map_or((0, 0), |b| (b.active_funds, b.file_reward)))
}

/// Sets a merchant's unclaimed replica reward (the market credits and pays it out).
pub fn set_file_reward(
    state: &mut impl State,
    who: &AccountId,
    reward: Balance,
) -> Result<(), BenefitsError> {
    let mut b = market_benefit(state, who)?.unwrap_or_default();
    b.file_reward = reward;
    put_market(state, who, &b);
    Ok(())
}

/// Whether `owner` has a free work report left this era (without using it).
pub fn has_free_count(state: &impl State, owner: &AccountId) -> Result<bool, BenefitsError> {
    let Some(b) = swork_benefit(state, owner)? else {
        return Ok(false);
    };
    let active_era = era_benefits(state)?.active_era;
    Ok(
        b.refreshed_at < active_era && b.total_fee_reduction_count > 0
            || b.used_fee_reduction_count < b.total_fee_reduction_count,
    )
}

/// Uses one of `owner`'s free work reports for this era, if any is left.
pub fn maybe_free_count(state: &mut impl State, owner: &AccountId) -> Result<bool, BenefitsError> {
    let Some(mut b) = swork_benefit(state, owner)? else {
        return Ok(false);
    };
    let active_era = era_benefits(state)?.active_era;
    if b.refreshed_at < active_era {
        b.used_fee_reduction_count = 0;
        b.refreshed_at = active_era;
    }
    if b.used_fee_reduction_count < b.total_fee_reduction_count {
        b.used_fee_reduction_count += 1;
        put_swork(state, owner, &b);
        return Ok(true);
    }
    Ok(false)
}

/// How a `fee` for `ctx.caller`'s `calculate_reward` is covered: if the caller's share of the
/// era quota (by MARKET active funds) and the global quota both have room for
/// `benefit_market_cost_ratio × fee`, that part is minted and only the rest is charged.
pub fn maybe_reduce_fee(
    state: &mut impl State,
    ctx: &CallContext,
    fee: Balance,
) -> Result<FeeSplit, BenefitsError> {
    let full = FeeSplit {
        from_payer: fee,
        minted: 0,
    };
    let Some(mut b) = market_benefit(state, &ctx.caller)? else {
        return Ok(full);
    };
    let mut era = era_benefits(state)?;
    if b.refreshed_at < era.active_era {
        b.used_fee_reduction_quota = 0;
        b.refreshed_at = era.active_era;
    }
    let cost = system::config(state)?
        .benefit_market_cost_ratio
        .mul_nearest(fee);
    let own_quota =
        Perbill::from_rational_approximation(b.active_funds, era.total_market_active_funds)
            .mul_nearest(era.total_fee_reduction_quota);
    let own_used = b.used_fee_reduction_quota.saturating_add(cost);
    let global_used = era.used_fee_reduction_quota.saturating_add(cost);
    if own_used > own_quota || global_used > era.total_fee_reduction_quota {
        return Ok(full);
    }
    b.used_fee_reduction_quota = own_used;
    era.used_fee_reduction_quota = global_used;
    put_market(state, &ctx.caller, &b);
    state.write(&era_key(), &era);
    Ok(FeeSplit {
        from_payer: fee - cost,
        minted: cost,
    })
}

/// Starts `era`: the fee-reduction quota becomes `benefits_limit_ratio × total_payout`, and the
/// quota used in the era that ended is returned (staking deducts it from that era's payout,
/// offsetting the minting).
pub fn update_era_benefit(
    state: &mut impl State,
    era: EraIndex,
    total_payout: Balance,
) -> Result<Balance, BenefitsError> {
    let ratio = system::config(state)?.benefits_limit_ratio;
    let mut e = era_benefits(state)?;
    let used = e.used_fee_reduction_quota;
    e.total_fee_reduction_quota = ratio.mul_nearest(total_payout);
    e.used_fee_reduction_quota = 0;
    e.active_era = era;
    state.write(&era_key(), &e);
    Ok(used)
}
