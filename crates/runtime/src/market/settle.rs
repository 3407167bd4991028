//! Settling files: paying replicas for a file's period, renewing or closing it, and paying
//! merchants their accumulated rewards.

use super::*;

/// Settles a file (see [`MarketCall::CalculateReward`]).
pub fn calculate_reward(
    state: &mut impl State,
    ctx: &CallContext,
    cid: &Cid,
) -> Result<(), MarketError> {
    // Like the reference, settling a file that does not exist is a no-op (the fee is paid).
    let Some(mut f) = file(state, cid)? else {
        return Ok(());
    };
    let now = ctx.height;
    let cfg = system::config(state)?;
    if f.is_pending() {
        // D8: a file nobody replicated for a whole file duration is closed and refunded.
        let closable_at = f.pending_since.saturating_add(cfg.file_duration_blocks);
        if now < closable_at {
            return Err(MarketError::NotInRewardPeriod { closable_at });
        }
        close_file(state, cid, &f, CloseReason::NeverReplicated)?;
        state.emit(Event::Market(MarketEvent::CalculateSuccess { cid: *cid }));
        return Ok(());
    }

    // Pay the liquidator everything left in `amount` once the paid period is over.
    if now >= f.expired_at && f.amount > 0 {
        let amount = f.amount;
        balances::transfer(
            state,
            &storage_pot(),
            &ctx.caller,
            amount,
            Existence::AllowDeath,
        )?;
        f.amount = 0;
        state.emit(Event::Market(MarketEvent::LiquidatorRewarded {
            liquidator: ctx.caller,
            cid: *cid,
            amount,
        }));
    }
    f.calculated_at = now.min(f.expired_at);

    if f.expired_at == f.calculated_at {
        // Renew from prepaid at current prices, if it covers them.
        let params = params(state)?;
        let (base_fee, value) = file_fee(&params, f.file_size);
        let price = base_fee.saturating_add(value);
        if f.prepaid >= price {
            f.prepaid -= price;
            let storage_amount = split_fee(
                state,
                &storage_pot(),
                value,
                base_fee,
                0,
                Existence::AllowDeath,
            )?;
            f.amount = f.amount.saturating_add(storage_amount);
            if f.replicas.is_empty() {
                f.expired_at = 0;
                f.calculated_at = now;
                f.pending_since = now;
                f.remaining_paid_count = REWARD_PERSON;
            } else {
                f.expired_at = now.saturating_add(cfg.file_duration_blocks);
                f.calculated_at = now;
            }
            let mut counters = counters(state)?;
            counters.has_new_order = true;
            set_counters(state, &counters);
            crate::history::note_renewal(state)?;
            state.emit(Event::Market(MarketEvent::RenewFileSuccess {
                liquidator: ctx.caller,
                cid: *cid,
            }));
        }
    }

    if f.expired_at != 0 && f.expired_at <= now && f.expired_at == f.calculated_at {
        close_file(state, cid, &f, CloseReason::Expired)?;
    } else {
        put_file(state, cid, &f);
    }
    state.emit(Event::Market(MarketEvent::CalculateSuccess { cid: *cid }));
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseReason {
    /// Paid period over and prepaid could not renew it.
    Expired,
    /// Pending for a whole file duration (D8).
    NeverReplicated,
}

/// Removes a file: its spower contributions go, unused prepaid returns to the orderer (D8),
/// and any remaining `amount` goes to the reserved pot (or, for a never-replicated file, back
/// to the orderer as well).
pub(super) fn close_file(
    state: &mut impl State,
    cid: &Cid,
    f: &FileInfo,
    reason: CloseReason,
) -> Result<(), MarketError> {
    let (refund, to_reserved) = match reason {
        CloseReason::Expired => (f.prepaid, f.amount),
        CloseReason::NeverReplicated => (f.amount.saturating_add(f.prepaid), 0),
    };
    if to_reserved > 0 {
        balances::transfer(
            state,
            &storage_pot(),
            &reserved_pot(),
            to_reserved,
            Existence::AllowDeath,
        )?;
    }
    if refund > 0 {
        // A refund too small to create the orderer's account goes to the reserved pot instead.
        let target = if balances::transfer(
            state,
            &storage_pot(),
            &f.orderer,
            refund,
            Existence::AllowDeath,
        )
        .is_ok()
        {
            f.orderer
        } else {
            balances::transfer(
                state,
                &storage_pot(),
                &reserved_pot(),
                refund,
                Existence::AllowDeath,
            )?;
            reserved_pot()
        };
        state.emit(Event::Market(MarketEvent::Refunded {
            cid: *cid,
            orderer: target,
            amount: refund,
        }));
    }
    replicas::remove_all_contributions(state, cid, f)?;
    remove_file(state, cid);
    let mut counters = counters(state)?;
    counters.file_keys_count = counters.file_keys_count.saturating_sub(1);
    set_counters(state, &counters);
    state.emit(Event::Market(MarketEvent::FileClosed { cid: *cid }));
    Ok(())
}

/// Pays out the caller's unclaimed replica rewards from the storage pot.
pub fn reward_merchant(state: &mut impl State, ctx: &CallContext) -> Result<(), MarketError> {
    let (_, reward) = benefits::collateral_and_reward(state, &ctx.caller)?;
    if reward == 0 {
        return Err(MarketError::NotEnoughReward);
    }
    balances::transfer(
        state,
        &storage_pot(),
        &ctx.caller,
        reward,
        Existence::AllowDeath,
    )?;
    benefits::set_file_reward(state, &ctx.caller, 0)?;
    state.emit(Event::Market(MarketEvent::RewardMerchantSuccess {
        who: ctx.caller,
        amount: reward,
    }));
    Ok(())
}

/// The reward ratio for the next paid replica when `remaining` rewards are left: each of the
/// first four owners gets 2.5% of the order value (2.5/18, 2.5/15.5, 2.5/13, 2.5/10.5 of what
/// remains of the 18% storage share).
pub fn reward_ratio(remaining: u32) -> Perbill {
    match remaining {
        4 => Perbill::from_parts(138_888_888),
        3 => Perbill::from_parts(161_290_320),
        2 => Perbill::from_parts(192_307_690),
        1 => Perbill::from_parts(238_095_240),
        _ => Perbill::zero(),
    }
}
