//! The executive: applies transactions and runs the modules' block hooks. It is the top of
//! the runtime — the only place that calls every module — so the modules below it meet only
//! through their own calls and [`crate::system`]'s configuration.
//!
//! A transaction is applied in two parts. The **fee part** always happens once the transaction
//! is valid (right nonce, fee at least [`system::required_fee`], payer can afford fee + tip):
//! the nonce is bumped and the fee paid, split 80% treasury / 20% block author as in the
//! reference. The **call part** runs atomically: if it fails, its state changes are discarded
//! and an `ExtrinsicFailed` event records why, but the fee stays paid (decision D2). If the
//! runtime's own state fails while settling either part, the whole transaction is refused and
//! leaves nothing behind.

#[cfg(test)]
mod tests;

use crate::balances::{self, Existence};
use crate::state::{State, atomically};
use crate::system::{self, FeeSplit, SystemError, SystemEvent};
use crate::{
    BlockContext, Call, CallContext, Event, RuntimeError, benefits, governance, history, market,
    staking, swork,
};
use crust_primitives::{AccountId, Balance, Perbill};

/// Why a transaction cannot be included at all (it pays nothing and changes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransaction {
    /// The nonce is not the account's next one.
    #[error("nonce {got} is wrong; the account's next nonce is {expected}")]
    BadNonce {
        /// Nonce the transaction carries.
        got: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// The fee is below the minimum for the transaction's size.
    #[error("fee {got} is below the minimum {min} for this transaction")]
    FeeTooLow {
        /// Fee offered.
        got: Balance,
        /// Minimum fee.
        min: Balance,
    },
    /// The signer cannot pay fee + tip and stay above the existential deposit.
    #[error("cannot pay fee and tip: {0}")]
    CannotPay(balances::BalancesError),
    /// Nobody signs as the governance origin: privileged calls come from enactment only.
    #[error("transactions cannot be signed as the governance origin")]
    ReservedSigner,
    /// The runtime's own state is unusable.
    #[error("runtime state error: {0}")]
    System(#[from] SystemError),
    /// Looking up a work report's owner or its free reports failed.
    #[error("runtime state error: {0}")]
    Swork(#[from] swork::SworkError),
    /// Settling a benefit-funded fee failed.
    #[error("runtime state error: {0}")]
    Benefits(#[from] benefits::BenefitsError),
}

/// What applying a valid transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The call's error, if it failed (its state changes were discarded; the fee was paid).
    pub error: Option<RuntimeError>,
    /// What the signer actually paid (fee after any benefit reduction, plus tip).
    pub paid: Balance,
}

/// A transaction after signature checking: who sent it and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTransaction {
    /// The signer.
    pub signer: AccountId,
    /// The signer's nonce for this transaction.
    pub nonce: u64,
    /// The fee offered (at least [`system::required_fee`]).
    pub fee: Balance,
    /// An optional tip for the block author's priority.
    pub tip: Balance,
    /// The call.
    pub call: Call,
    /// The transaction's encoded length in bytes, for the fee check.
    pub encoded_len: usize,
}

/// Checks that `tx` could be applied now (the mempool's door check) without changing state.
pub fn validate_transaction(
    state: &impl State,
    tx: &CheckedTransaction,
) -> Result<(), InvalidTransaction> {
    if tx.signer == system::governance_origin() {
        return Err(InvalidTransaction::ReservedSigner);
    }
    let info = balances::account(state, &tx.signer).map_err(InvalidTransaction::CannotPay)?;
    if tx.nonce != info.nonce {
        return Err(InvalidTransaction::BadNonce {
            got: tx.nonce,
            expected: info.nonce,
        });
    }
    let min = system::required_fee(state, tx.encoded_len)?;
    if tx.fee < min {
        return Err(InvalidTransaction::FeeTooLow { got: tx.fee, min });
    }
    let needed = tx.fee.saturating_add(tx.tip);
    let usable = info.usable();
    let ed = system::config(state)?.existential_deposit;
    if usable < needed || info.free.saturating_add(info.reserved) - needed < ed {
        return Err(InvalidTransaction::CannotPay(
            balances::BalancesError::InsufficientBalance {
                needed: needed.saturating_add(ed),
                usable,
            },
        ));
    }
    Ok(())
}

/// Applies a checked transaction: pays the fee, bumps the nonce, runs the call atomically.
///
/// Two calls have benefit-funded fees, as in the reference: `calculate_reward` (partly covered
/// by the era's fee-reduction quota) and `report_works` (free while the owner has free reports
/// left this era; the free report is used only if the report is accepted).
pub fn apply_transaction(
    state: &mut impl State,
    block: &BlockContext,
    tx: &CheckedTransaction,
) -> Result<ApplyOutcome, InvalidTransaction> {
    atomically(state, |state| apply(state, block, tx))
}

fn apply(
    state: &mut impl State,
    block: &BlockContext,
    tx: &CheckedTransaction,
) -> Result<ApplyOutcome, InvalidTransaction> {
    validate_transaction(state, tx)?;
    let ctx = CallContext {
        caller: tx.signer,
        height: block.height,
        era: block.era,
    };
    let report_owner = match &tx.call {
        Call::Swork(swork::SworkCall::ReportWorks { .. }) => {
            let owner = swork::owner_of(state, &tx.signer)?;
            benefits::has_free_count(state, &owner)?.then_some(owner)
        }
        _ => None,
    };
    // Fee part: committed whether or not the call succeeds.
    let mut paid = match report_owner {
        Some(_) => 0,
        None => charge(state, &ctx, tx, &block.author)?,
    };
    balances::bump_nonce(state, &tx.signer).map_err(InvalidTransaction::CannotPay)?;
    // Call part: atomic; its failure is recorded, not propagated. An accepted report uses one
    // of its owner's free reports in the same step.
    let result = atomically(state, |s| -> Result<(), RuntimeError> {
        dispatch(s, &ctx, &tx.call)?;
        if let Some(owner) = &report_owner {
            benefits::maybe_free_count(s, owner)?;
        }
        Ok(())
    });
    if report_owner.is_some() && result.is_err() {
        // A rejected report pays its fee after all.
        paid = charge(state, &ctx, tx, &block.author)?;
    }
    let error = match result {
        Ok(()) => {
            state.emit(Event::System(SystemEvent::ExtrinsicSuccess {
                signer: tx.signer,
            }));
            None
        }
        Err(e) => {
            note_refused_report(state, block, tx, &e);
            state.emit(Event::System(SystemEvent::ExtrinsicFailed {
                signer: tx.signer,
                error: e.to_string(),
            }));
            Some(e)
        }
    };
    Ok(ApplyOutcome { error, paid })
}

/// Charges `tx`'s fee (after any benefit reduction) and tip; returns what the signer paid.
fn charge(
    state: &mut impl State,
    ctx: &CallContext,
    tx: &CheckedTransaction,
    author: &AccountId,
) -> Result<Balance, InvalidTransaction> {
    let fee = if matches!(
        tx.call,
        Call::Market(market::MarketCall::CalculateReward { .. })
    ) {
        benefits::maybe_reduce_fee(state, ctx, tx.fee)?
    } else {
        FeeSplit {
            from_payer: tx.fee,
            minted: 0,
        }
    };
    let payer_total = fee.from_payer.saturating_add(tx.tip);
    pay_fee(state, &tx.signer, author, payer_total, fee.minted)
        .map_err(InvalidTransaction::CannotPay)?;
    Ok(payer_total)
}

/// Collects `from_payer` from `payer` plus `minted` new units, and splits the total 80%
/// treasury / 20% block author.
fn pay_fee(
    state: &mut impl State,
    payer: &AccountId,
    author: &AccountId,
    from_payer: Balance,
    minted: Balance,
) -> Result<(), balances::BalancesError> {
    let treasury = system::treasury_account();
    let to_author = Perbill::from_percent(20).mul_nearest(from_payer.saturating_add(minted));
    balances::transfer(state, payer, &treasury, from_payer, Existence::KeepAlive)?;
    balances::mint(state, &treasury, minted)?;
    // An author share too small to open the author's account stays in the treasury; any
    // other failure is the state's and refuses the transaction.
    match balances::transfer(state, &treasury, author, to_author, Existence::AllowDeath) {
        Ok(()) | Err(balances::BalancesError::ExistentialDeposit { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A work report refused for a challenge answer goes on its worker's record (as a best effort:
/// the record is the chain's history, not part of the call, so failing to write it refuses
/// nothing and leaves nothing half-written).
fn note_refused_report(
    state: &mut impl State,
    block: &BlockContext,
    tx: &CheckedTransaction,
    error: &RuntimeError,
) {
    let (
        Call::Swork(swork::SworkCall::ReportWorks { .. }),
        RuntimeError::Swork(swork::SworkError::ChallengeFailed { challenge, why }),
    ) = (&tx.call, error)
    else {
        return;
    };
    let _ = atomically(state, |s| -> Result<(), RuntimeError> {
        if let Some(id) = swork::identity(s, &tx.signer)? {
            history::note_refused(s, &id.anchor, block.height, *challenge, why)?;
        }
        Ok(())
    });
}

/// Per-block work at the start of block `block.height`: the system's clock, block hashes and
/// any protocol upgrade due, then the modules' hooks (fee adjustments, spower upkeep, replica
/// batches, era bookkeeping), then governance: tallies of votes that closed and the calls of
/// passed proposals due now. Bounded: every hook processes at most a fixed batch.
pub fn begin_block(state: &mut impl State, block: &BlockContext) -> Result<(), RuntimeError> {
    system::on_initialize(state, block)?;
    // Before the modules' hooks: the slot-end consolidation amends the record closed here.
    history::on_initialize(state, block.height, slot_end)?;
    market::on_initialize(state, block.height)?;
    swork::on_initialize(state, block.height)?;
    // Era transitions: rewards fixed (and the benefits quota renewed) for the era that ends,
    // the next committee elected one slot ahead, authoring points.
    staking::on_initialize(state, block.height, &block.author)?;
    enact_due(state, block)
}

/// What stands at a slot's end for the chain's history: the market's fees and live files, and
/// the pots.
fn slot_end(state: &impl State) -> Result<history::SlotEnd, RuntimeError> {
    let params = market::params(state)?;
    let pot = |who| balances::free_balance(state, &who);
    Ok(history::SlotEnd {
        base_fee: params.base_fee,
        byte_fee: params.byte_fee,
        keys_fee: params.keys_fee,
        live_files: market::counters(state)?.file_keys_count,
        storage_pot: pot(market::storage_pot())?,
        staking_pot: pot(market::staking_pot())?,
        reserved_pot: pot(market::reserved_pot())?,
    })
}

/// Runs the calls of passed proposals due at this block as the governance origin, each
/// atomically: a failing call leaves nothing behind but its `EnactmentFailed` record.
fn enact_due(state: &mut impl State, block: &BlockContext) -> Result<(), RuntimeError> {
    let ctx = CallContext {
        caller: system::governance_origin(),
        height: block.height,
        era: block.era,
    };
    for (id, call) in governance::on_initialize(state, block.height)? {
        let result = atomically(state, |s| dispatch(s, &ctx, &call));
        governance::record_enactment(state, id, block.height, result.err().map(|e| e.to_string()))?;
    }
    Ok(())
}

/// Executes `call` for `ctx.caller`. Not atomic by itself: wrap it in
/// [`atomically`] (as [`apply_transaction`] does).
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &Call,
) -> Result<(), RuntimeError> {
    match call {
        Call::Balances(c) => Ok(balances::dispatch(state, ctx, c)?),
        Call::Market(c) => Ok(market::dispatch(state, ctx, c)?),
        Call::Benefits(c) => Ok(benefits::dispatch(state, ctx, c)?),
        Call::Swork(c) => Ok(swork::dispatch(state, ctx, c)?),
        Call::Staking(c) => Ok(staking::dispatch(state, ctx, c)?),
        Call::Governance(c) => Ok(governance::dispatch(state, ctx, c)?),
        Call::Root(c) => Ok(governance::dispatch_root(state, ctx, c)?),
    }
}
