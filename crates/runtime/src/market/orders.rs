//! Placing orders (directly, or by a delegate within the payer's approval) and topping up
//! their prepaid renewal funds.

use super::*;

/// The state key of `payer`'s approval of `delegate`.
pub fn allowance_key(payer: &AccountId, delegate: &AccountId) -> Vec<u8> {
    key(
        MODULE,
        "allowance",
        &[payer.as_bytes(), delegate.as_bytes()],
    )
}

/// What `delegate` may still spend on orders for `payer`, if approved.
pub fn allowance(
    state: &impl State,
    payer: &AccountId,
    delegate: &AccountId,
) -> Result<Option<Allowance>, MarketError> {
    Ok(state.read(&allowance_key(payer, delegate))?)
}

/// Sets (or, with a cap of 0, revokes) the caller's approval of `delegate` (D32).
pub fn approve_orderer(
    state: &mut impl State,
    ctx: &CallContext,
    delegate: &AccountId,
    cap: Balance,
    expires_at: BlockHeight,
) -> Result<(), MarketError> {
    let key = allowance_key(&ctx.caller, delegate);
    if cap == 0 {
        state.delete(&key);
    } else {
        if expires_at <= ctx.height {
            return Err(MarketError::AllowanceExpired { expires_at });
        }
        state.write(
            &key,
            &Allowance {
                remaining: cap,
                expires_at,
            },
        );
    }
    state.emit(Event::Market(MarketEvent::OrdererApproved {
        payer: ctx.caller,
        delegate: *delegate,
        cap,
        expires_at,
    }));
    Ok(())
}

/// Places an order paid by `payer` within its approval of the caller: the order is exactly
/// [`place_storage_order`] with `payer` as the caller, and what it cost comes off the approval
/// (the whole call fails, and nothing is paid, if it cost more than is left).
#[allow(clippy::too_many_arguments)]
pub fn place_storage_order_for(
    state: &mut impl State,
    ctx: &CallContext,
    payer: &AccountId,
    cid: &Cid,
    reported_size: u64,
    tips: Balance,
    commitment: &ContentCommitment,
) -> Result<(), MarketError> {
    let delegate = ctx.caller;
    let Some(approved) = allowance(state, payer, &delegate)? else {
        return Err(MarketError::NoAllowance {
            payer: *payer,
            delegate,
        });
    };
    if approved.expires_at <= ctx.height {
        return Err(MarketError::AllowanceExpired {
            expires_at: approved.expires_at,
        });
    }
    let before = balances::account(state, payer)?.free;
    let as_payer = CallContext {
        caller: *payer,
        height: ctx.height,
        era: ctx.era,
    };
    place_storage_order(state, &as_payer, cid, reported_size, tips, commitment)?;
    let spent = before.saturating_sub(balances::account(state, payer)?.free);
    let Some(remaining) = approved.remaining.checked_sub(spent) else {
        return Err(MarketError::AllowanceExceeded {
            spent,
            remaining: approved.remaining,
        });
    };
    state.write(
        &allowance_key(payer, &delegate),
        &Allowance {
            remaining,
            expires_at: approved.expires_at,
        },
    );
    state.emit(Event::Market(MarketEvent::OrderPlacedFor {
        payer: *payer,
        delegate,
        cid: *cid,
        spent,
    }));
    Ok(())
}

/// Report slots a file may stay without a replica before an order with another content
/// commitment may replace it (see [`place_storage_order`]) under protocol version 1; the
/// version in effect decides ([`system::ProtocolRules::supersede_after_slots`]).
pub const SUPERSEDE_AFTER_SLOTS: u64 = 2;

/// Places (or extends) a storage order for `cid`.
pub fn place_storage_order(
    state: &mut impl State,
    ctx: &CallContext,
    cid: &Cid,
    reported_size: u64,
    tips: Balance,
    commitment: &ContentCommitment,
) -> Result<(), MarketError> {
    let params = params(state)?;
    if !params.enable_market {
        return Err(MarketError::PlaceOrderNotAvailable);
    }
    if commitment.size == 0 {
        return Err(MarketError::EmptyCommitment);
    }
    let mut existing = file(state, cid)?;
    if let Some(f) = &existing
        && f.commitment != *commitment
    {
        // D29: the first order fixes the commitment while the file is live. An order that got
        // no replica for a few report slots (the protocol version's `supersede_after_slots`:
        // 2 in version 1, 1 from version 2) is presumed wrong (workers refuse
        // content that does not match it), so another commitment may replace it: the stale
        // order is closed and refunded first (D8). Without this, anyone could block a CID by
        // ordering it first with a made-up commitment.
        let slot_blocks = system::config(state)?.report_slot_blocks;
        let slots = system::current_rules(state)?.supersede_after_slots;
        let stale_at = f
            .pending_since
            .saturating_add(slot_blocks.saturating_mul(slots));
        if !f.replicas.is_empty() || ctx.height < stale_at {
            return Err(MarketError::CommitmentMismatch {
                given: crust_primitives::account::to_hex(&commitment.root),
                stored: crust_primitives::account::to_hex(&f.commitment.root),
            });
        }
        close_file(state, cid, f, CloseReason::NeverReplicated)?;
        existing = None;
    }
    let charged_size = match &existing {
        Some(f) if f.file_size <= reported_size => f.file_size,
        Some(f) => {
            return Err(MarketError::FileSizeNotCorrect {
                reported: reported_size,
                stored: f.file_size,
            });
        }
        None => reported_size,
    };
    let cfg = system::config(state)?;
    if charged_size >= cfg.maximum_file_size {
        return Err(MarketError::FileTooLarge {
            size: charged_size,
            max: cfg.maximum_file_size,
        });
    }
    let (base_fee, value) = file_fee(&params, charged_size);
    let needed = base_fee.saturating_add(value).saturating_add(tips);
    let usable = balances::usable_balance(state, &ctx.caller)?;
    if usable < needed {
        return Err(MarketError::InsufficientCurrency { needed, usable });
    }
    let storage_amount = split_fee(
        state,
        &ctx.caller,
        value,
        base_fee,
        tips,
        Existence::AllowDeath,
    )?;

    let now = ctx.height;
    let duration = cfg.file_duration_blocks;
    let mut counters = counters(state)?;
    let file = match existing {
        Some(mut f) => {
            if f.replicas.is_empty() {
                // No replica: (back to) pending, and the refund clock restarts with the new money.
                f.expired_at = 0;
                f.pending_since = now;
            } else {
                if f.expired_at == f.calculated_at {
                    f.calculated_at = now;
                }
                // D7: extend from the current expiry, and re-arm payouts so new money pays new
                // replicas instead of the liquidator.
                f.expired_at = f.expired_at.max(now).saturating_add(duration);
                f.remaining_paid_count = REWARD_PERSON;
            }
            f.amount = f.amount.saturating_add(storage_amount);
            f
        }
        None => {
            counters.file_keys_count = counters.file_keys_count.saturating_add(1);
            FileInfo {
                file_size: charged_size,
                spower: 0,
                expired_at: 0,
                calculated_at: now,
                pending_since: now,
                amount: storage_amount,
                prepaid: 0,
                remaining_paid_count: REWARD_PERSON,
                orderer: ctx.caller,
                paid_owners: Vec::new(),
                replicas: Vec::new(),
                commitment: *commitment,
            }
        }
    };
    put_file(state, cid, &file);
    counters.has_new_order = true;
    counters.orders_count = counters.orders_count.saturating_add(1);
    set_counters(state, &counters);
    crate::history::note_order(state, charged_size)?;
    state.emit(Event::Market(MarketEvent::FileSuccess {
        who: ctx.caller,
        cid: *cid,
    }));
    Ok(())
}

/// Adds `amount` to a file's renewal pool.
pub fn add_prepaid(
    state: &mut impl State,
    ctx: &CallContext,
    cid: &Cid,
    amount: Balance,
) -> Result<(), MarketError> {
    let usable = balances::usable_balance(state, &ctx.caller)?;
    if usable < amount {
        return Err(MarketError::InsufficientCurrency {
            needed: amount,
            usable,
        });
    }
    let mut f = file(state, cid)?.ok_or(MarketError::FileNotExist { cid: *cid })?;
    balances::transfer(
        state,
        &ctx.caller,
        &storage_pot(),
        amount,
        Existence::AllowDeath,
    )?;
    f.prepaid = f.prepaid.saturating_add(amount);
    put_file(state, cid, &f);
    state.emit(Event::Market(MarketEvent::AddPrepaidSuccess {
        who: ctx.caller,
        cid: *cid,
        amount,
    }));
    Ok(())
}
