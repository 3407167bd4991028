//! The storage market (DSM): orders by CID, dynamic prices, pots, replica payouts, renewal,
//! liquidation and spower.
//!
//! Mechanics follow the reference network (`docs/reference.md` M3–M5, M7) with its numbers;
//! the deliberate differences are D7 (re-orders extend and re-arm payouts), D8 (stale pending
//! files and unused prepaid are refunded), D9 (base-fee floor step), D10 (size fixed at order
//! time), D11 (reserved pot spendable by governance) and D12 (repair bounty). Replicas arrive
//! from sWork through [`add_replica`]/[`remove_replica`] (no privileged off-chain account, D3).
//!
//! Money lives in three pots: **staking** (72% of byte+keys fees, drained each era into
//! staking rewards), **storage** (18% + tips: each file's `amount` and `prepaid`, plus merchants'
//! unclaimed rewards) and **reserved** (the base fee and the rest; a governance treasury).

mod errors;
mod events;
mod hooks;
pub mod index;
pub mod pricing;
mod replicas;
#[cfg(test)]
mod tests;
mod types;

pub use errors::MarketError;
pub use events::MarketEvent;
pub use hooks::on_initialize;
pub use pricing::{file_fee, split_fee};
pub use replicas::{
    add_pending, add_replica, anchor_spower, calculate_spower, prove_pending, purge_anchor,
    remove_pending, remove_replica, set_storage_supply,
};
pub use types::*;

use crate::balances::{self, Existence};
use crate::state::{State, StateExt, key, var};
use crate::{CallContext, Event, benefits, system};
use crust_primitives::codec::max_items;
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{AccountId, Balance, BlockHeight, Cid, Perbill};

// ---- pots and storage -----------------------------------------------------------------------

const MODULE: &str = "market";
const MODULE_ID: &[u8; 8] = b"crmarket";

/// The storage pot: file amounts, prepaid pools and unclaimed merchant rewards.
pub fn storage_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"stor")
}

/// The staking pot: 72% of byte and keys fees, paid out as staking rewards.
pub fn staking_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"stak")
}

/// The reserved pot: base fees and the remaining ~10%; spendable by governance (D11).
pub fn reserved_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"rese")
}

/// The state key of a file's `FileInfo` (for light reads over `state_proof`).
pub fn file_key(cid: &Cid) -> Vec<u8> {
    key(MODULE, "file", &[&var(&cid.to_bytes())])
}

/// Key prefix of all file records (for audits and RPC listing).
pub fn files_prefix() -> Vec<u8> {
    key(MODULE, "file", &[])
}

/// The state key of the current `MarketParams` (prices; for light reads over `state_proof`).
pub fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}

fn counters_key() -> Vec<u8> {
    key(MODULE, "counters", &[])
}

/// Up to `limit` files in key order after `after` (for listings; pages with the last CID).
pub fn files(state: &impl State, after: Option<&Cid>, limit: usize) -> Vec<(Cid, FileInfo)> {
    let prefix = files_prefix();
    let start = after.map(file_key);
    state
        .scan(&prefix, start.as_deref(), limit)
        .into_iter()
        .filter_map(|(k, v)| {
            let cid = Cid::from_bytes(k.get(prefix.len() + 1..)?).ok()?;
            Some((cid, crust_primitives::codec::decode::<FileInfo>(&v).ok()?))
        })
        .collect()
}

/// The file ordered under `cid`, if any.
pub fn file(state: &impl State, cid: &Cid) -> Result<Option<FileInfo>, MarketError> {
    Ok(state.read(&file_key(cid))?)
}

pub(crate) fn put_file(state: &mut impl State, cid: &Cid, file: &FileInfo) {
    state.write(&file_key(cid), file);
}

fn remove_file(state: &mut impl State, cid: &Cid) {
    state.delete(&file_key(cid));
}

/// Current market parameters.
pub fn params(state: &impl State) -> Result<MarketParams, MarketError> {
    Ok(state.read_or_default(&params_key())?)
}

pub(crate) fn set_params(state: &mut impl State, params: &MarketParams) {
    state.write(&params_key(), params);
}

/// Current market counters.
pub fn counters(state: &impl State) -> Result<MarketCounters, MarketError> {
    Ok(state.read_or_default(&counters_key())?)
}

fn set_counters(state: &mut impl State, counters: &MarketCounters) {
    state.write(&counters_key(), counters);
}

/// The pots, made permanent accounts so they may hold any balance (no existential deposit).
pub(crate) fn init_pots(state: &mut impl State) {
    for pot in [storage_pot(), staking_pot(), reserved_pot()] {
        balances::make_permanent(state, &pot);
    }
}

// ---- calls ----------------------------------------------------------------------------------

/// The market calls a signed transaction can make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketCall {
    /// Order storage for `cid` of `file_size` bytes, with optional `tips` for the replicas.
    PlaceStorageOrder {
        /// The file's root CID.
        cid: Cid,
        /// The file's size in bytes (the UnixFS root's size; fixed at the first order, D10).
        file_size: u64,
        /// Extra pay for the storage pot.
        tips: Balance,
        /// Free-form note (not interpreted, at most 256 bytes).
        memo: Vec<u8>,
        /// The content commitment (D29), computed by the client over the DAG's canonical
        /// CAR; must equal the file's when it is already ordered.
        commitment: ContentCommitment,
    },
    /// Add `amount` to the file's renewal pool.
    AddPrepaid {
        /// File.
        cid: Cid,
        /// Amount.
        amount: Balance,
    },
    /// Settle a file: pay the liquidator after expiry, then renew it from prepaid or close it;
    /// close and refund a file pending for a whole file duration (D8).
    CalculateReward {
        /// File.
        cid: Cid,
    },
    /// Claim the caller's unclaimed replica rewards.
    RewardMerchant {},
    /// Governance: set a market parameter.
    SetParameter {
        /// Parameter and value.
        param: MarketParameter,
    },
    /// Governance: spend from the reserved pot (D11).
    SpendReserved {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Lets `delegate` place orders paid from the caller's balance, up to `cap` in all, until
    /// block `expires_at` (a pinning service holding no key of the payer). Replaces any earlier
    /// approval of the same delegate; a cap of 0 revokes it.
    ApproveOrderer {
        /// Who may order on the caller's behalf.
        delegate: AccountId,
        /// The most it may spend, orders' fees and tips together.
        cap: Balance,
        /// The first block at which the approval no longer holds.
        expires_at: BlockHeight,
    },
    /// [`MarketCall::PlaceStorageOrder`] paid by `payer`, who approved the caller
    /// ([`MarketCall::ApproveOrderer`]); the payer is the file's orderer (refunds go there).
    PlaceStorageOrderFor {
        /// Who pays (and is the orderer).
        payer: AccountId,
        /// The file's root CID.
        cid: Cid,
        /// The file's size in bytes.
        file_size: u64,
        /// Extra pay for the storage pot.
        tips: Balance,
        /// Free-form note (at most 256 bytes; storage workers read provider hints from it).
        memo: Vec<u8>,
        /// The content commitment (D29).
        commitment: ContentCommitment,
    },
}

/// What a follower needs of an order, whichever call placed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRef<'a> {
    /// The file.
    pub cid: &'a Cid,
    /// Its size.
    pub file_size: u64,
    /// The tip offered.
    pub tips: Balance,
    /// The memo.
    pub memo: &'a [u8],
}

impl MarketCall {
    /// The order this call places, if it places one (directly or for a payer).
    pub fn order(&self) -> Option<OrderRef<'_>> {
        match self {
            MarketCall::PlaceStorageOrder {
                cid,
                file_size,
                tips,
                memo,
                ..
            }
            | MarketCall::PlaceStorageOrderFor {
                cid,
                file_size,
                tips,
                memo,
                ..
            } => Some(OrderRef {
                cid,
                file_size: *file_size,
                tips: *tips,
                memo,
            }),
            _ => None,
        }
    }
}
crust_primitives::impl_codec_enum!(MarketCall {
    0 => PlaceStorageOrder { cid, file_size, tips, memo: max_items(MAX_MEMO_BYTES), commitment },
    1 => AddPrepaid { cid, amount },
    2 => CalculateReward { cid },
    3 => RewardMerchant {},
    4 => SetParameter { param },
    5 => SpendReserved { to, amount },
    6 => ApproveOrderer { delegate, cap, expires_at },
    7 => PlaceStorageOrderFor { payer, cid, file_size, tips, memo: max_items(MAX_MEMO_BYTES), commitment },
});

/// Executes a market call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &MarketCall,
) -> Result<(), MarketError> {
    match call {
        MarketCall::PlaceStorageOrder {
            cid,
            file_size,
            tips,
            memo: _,
            commitment,
        } => place_storage_order(state, ctx, cid, *file_size, *tips, commitment),
        MarketCall::AddPrepaid { cid, amount } => add_prepaid(state, ctx, cid, *amount),
        MarketCall::CalculateReward { cid } => calculate_reward(state, ctx, cid),
        MarketCall::RewardMerchant {} => reward_merchant(state, ctx),
        MarketCall::SetParameter { param } => set_parameter(state, ctx, param),
        MarketCall::SpendReserved { to, amount } => spend_reserved(state, ctx, to, *amount),
        MarketCall::ApproveOrderer {
            delegate,
            cap,
            expires_at,
        } => approve_orderer(state, ctx, delegate, *cap, *expires_at),
        MarketCall::PlaceStorageOrderFor {
            payer,
            cid,
            file_size,
            tips,
            memo: _,
            commitment,
        } => place_storage_order_for(state, ctx, payer, cid, *file_size, *tips, commitment),
    }
}

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
/// commitment may replace it (see [`place_storage_order`]).
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
        // no replica for SUPERSEDE_AFTER_SLOTS report slots is presumed wrong (workers refuse
        // content that does not match it), so another commitment may replace it: the stale
        // order is closed and refunded first (D8). Without this, anyone could block a CID by
        // ordering it first with a made-up commitment.
        let slot_blocks = system::config(state)?.report_slot_blocks;
        let stale_at = f
            .pending_since
            .saturating_add(slot_blocks.saturating_mul(SUPERSEDE_AFTER_SLOTS));
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
enum CloseReason {
    /// Paid period over and prepaid could not renew it.
    Expired,
    /// Pending for a whole file duration (D8).
    NeverReplicated,
}

/// Removes a file: its spower contributions go, unused prepaid returns to the orderer (D8),
/// and any remaining `amount` goes to the reserved pot (or, for a never-replicated file, back
/// to the orderer as well).
fn close_file(
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
