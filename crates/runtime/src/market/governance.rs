//! Governance over the market: its parameters, the reserved pot, and the staking pot's
//! drain into era rewards.

use super::*;

/// Governance: sets one market parameter, validating bounds and thresholds.
pub fn set_parameter(
    state: &mut impl State,
    ctx: &CallContext,
    param: &MarketParameter,
) -> Result<(), MarketError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut p = params(state)?;
    let check_bounds = |min: Balance, max: Balance| {
        if min > max {
            Err(MarketError::MaxFeeLessThanMinFee { min, max })
        } else {
            Ok(())
        }
    };
    match *param {
        MarketParameter::EnableMarket { enabled } => p.enable_market = enabled,
        MarketParameter::BaseFee { fee } => p.base_fee = fee,
        MarketParameter::ByteFee { fee } => p.byte_fee = fee,
        MarketParameter::KeysFee { fee } => p.keys_fee = fee,
        MarketParameter::BaseFeeBounds { min, max } => {
            check_bounds(min, max)?;
            (p.min_base_fee, p.max_base_fee) = (min, max);
        }
        MarketParameter::ByteFeeBounds { min, max } => {
            check_bounds(min, max)?;
            (p.min_byte_fee, p.max_byte_fee) = (min, max);
        }
        MarketParameter::KeysFeeBounds { min, max } => {
            check_bounds(min, max)?;
            (p.min_keys_fee, p.max_keys_fee) = (min, max);
        }
        MarketParameter::MinBaseFeeStep { step } => p.min_base_fee_step = step,
        MarketParameter::FeeAdjustInterval { slots } => {
            if slots == 0 {
                return Err(MarketError::FileFeeAdjustIntervalInvalid);
            }
            p.fee_adjust_interval_slots = slots;
        }
        MarketParameter::BaseFeeThresholds { increase, decrease } => {
            if increase >= decrease {
                return Err(
                    MarketError::BaseFeeIncreaseThresholdLargerThanDecreaseThreshold {
                        increase,
                        decrease,
                    },
                );
            }
            (p.base_fee_increase_threshold, p.base_fee_decrease_threshold) = (increase, decrease);
        }
        MarketParameter::BaseFeeRatios { increase, decrease } => {
            (p.base_fee_increase_ratio, p.base_fee_decrease_ratio) = (increase, decrease);
        }
        MarketParameter::ByteFeeRatios { increase, decrease } => {
            (p.byte_fee_increase_ratio, p.byte_fee_decrease_ratio) = (increase, decrease);
        }
        MarketParameter::KeysFeeAdjustThreshold { files } => p.keys_fee_adjust_threshold = files,
        MarketParameter::KeysFeeRatios { increase, decrease } => {
            (p.keys_fee_increase_ratio, p.keys_fee_decrease_ratio) = (increase, decrease);
        }
        MarketParameter::SpowerReadyPeriod { blocks } => p.spower_ready_period = blocks,
        MarketParameter::TargetReplicas { replicas } => p.target_replicas = replicas,
    }
    set_params(state, &p);
    state.emit(Event::Market(MarketEvent::ParameterSet {
        param: param.clone(),
    }));
    Ok(())
}

/// Governance: pays `amount` from the reserved pot to `to` (D11).
pub fn spend_reserved(
    state: &mut impl State,
    ctx: &CallContext,
    to: &AccountId,
    amount: Balance,
) -> Result<(), MarketError> {
    system::ensure_governance(state, &ctx.caller)?;
    let available = balances::free_balance(state, &reserved_pot())?;
    if available < amount {
        return Err(MarketError::InsufficientReserved {
            requested: amount,
            available,
        });
    }
    balances::transfer(state, &reserved_pot(), to, amount, Existence::AllowDeath)?;
    state.emit(Event::Market(MarketEvent::ReservedSpent {
        to: *to,
        amount,
    }));
    Ok(())
}

/// Drains the staking pot for era rewards: burns all but the existential deposit and returns
/// the amount, which staking mints back as rewards (net issuance unchanged).
pub fn withdraw_staking_pot(state: &mut impl State) -> Result<Balance, MarketError> {
    let pot = staking_pot();
    let free = balances::free_balance(state, &pot)?;
    let ed = system::config(state)?.existential_deposit;
    if free < ed {
        return Ok(0);
    }
    Ok(balances::burn(state, &pot, free - ed)?)
}
