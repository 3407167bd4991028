//! System: runtime configuration, governance, transaction fees and nonces, and block hooks.
//!
//! A transaction is applied in two parts. The **fee part** always happens once the transaction
//! is valid (right nonce, fee at least [`required_fee`], payer can afford fee + tip): the nonce
//! is bumped and the fee paid, split 80% treasury / 20% block author as in the reference. The
//! **call part** runs atomically: if it fails, its state changes are discarded and an
//! `ExtrinsicFailed` event records why, but the fee stays paid (decision D2).

#[cfg(test)]
mod tests;
mod types;

pub use types::{RuntimeConfig, SystemError, SystemEvent};

use crate::balances::{self, Existence};
use crate::state::{State, StateExt, atomically, key};
use crate::{BlockContext, Call, CallContext, Event, RuntimeError, benefits, market};
use crust_primitives::{AccountId, Balance, BlockHeight, Perbill};

const MODULE: &str = "system";

/// The state key of the `RuntimeConfig` (for light reads over `state_proof`).
pub fn config_key() -> Vec<u8> {
    key(MODULE, "config", &[])
}

/// The treasury: receives 80% of transaction fees and tips (reference `DealWithFees`).
pub fn treasury_account() -> AccountId {
    AccountId::module_account(b"py/trsry")
}

/// The runtime configuration written at genesis.
pub fn config(state: &impl State) -> Result<RuntimeConfig, SystemError> {
    state.read(&config_key())?.ok_or(SystemError::NoConfig)
}

pub(crate) fn set_config(state: &mut impl State, config: &RuntimeConfig) {
    state.write(&config_key(), config);
}

/// Fails unless `who` is the governance account (the `sudo`-style key set in genesis).
pub fn ensure_governance(state: &impl State, who: &AccountId) -> Result<(), SystemError> {
    if config(state)?.governance == *who {
        Ok(())
    } else {
        Err(SystemError::NotGovernance { caller: *who })
    }
}

/// The smallest fee a transaction of `encoded_len` bytes may carry.
pub fn required_fee(state: &impl State, encoded_len: usize) -> Result<Balance, SystemError> {
    let cfg = config(state)?;
    let len = u128::try_from(encoded_len).unwrap_or(u128::MAX);
    Ok(cfg
        .tx_base_fee
        .saturating_add(cfg.tx_byte_fee.saturating_mul(len)))
}

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
    /// The runtime's own state is unusable.
    #[error("runtime state error: {0}")]
    System(#[from] SystemError),
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
    /// The fee offered (at least [`required_fee`]).
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
    let info = balances::account(state, &tx.signer).map_err(InvalidTransaction::CannotPay)?;
    if tx.nonce != info.nonce {
        return Err(InvalidTransaction::BadNonce {
            got: tx.nonce,
            expected: info.nonce,
        });
    }
    let min = required_fee(state, tx.encoded_len)?;
    if tx.fee < min {
        return Err(InvalidTransaction::FeeTooLow { got: tx.fee, min });
    }
    let needed = tx.fee.saturating_add(tx.tip);
    let usable = info.usable();
    let ed = config(state)?.existential_deposit;
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
    validate_transaction(state, tx)?;
    let ctx = CallContext {
        caller: tx.signer,
        height: block.height,
        era: block.era,
    };
    let module_err = |e: String| InvalidTransaction::System(SystemError::Module(e));
    let report_owner = match &tx.call {
        Call::Swork(crate::swork::SworkCall::ReportWorks { .. }) => {
            let owner =
                crate::swork::owner_of(state, &tx.signer).map_err(|e| module_err(e.to_string()))?;
            benefits::has_free_count(state, &owner)
                .map_err(|e| module_err(e.to_string()))?
                .then_some(owner)
        }
        _ => None,
    };
    // Fee part: committed whether or not the call succeeds.
    let paid = atomically(state, |s| -> Result<Balance, InvalidTransaction> {
        let paid = match report_owner {
            Some(_) => 0,
            None => charge(s, &ctx, tx, &block.author)?,
        };
        balances::bump_nonce(s, &tx.signer).map_err(InvalidTransaction::CannotPay)?;
        Ok(paid)
    })?;
    // Call part: atomic; failure is recorded, not propagated.
    let result = atomically(state, |s| crate::dispatch(s, &ctx, &tx.call));
    let mut paid = paid;
    if let Some(owner) = report_owner {
        // A free report is used only by an accepted report; a rejected one pays its fee.
        let settled = atomically(state, |s| -> Result<Balance, InvalidTransaction> {
            if result.is_ok() {
                benefits::maybe_free_count(s, &owner).map_err(|e| module_err(e.to_string()))?;
                Ok(0)
            } else {
                charge(s, &ctx, tx, &block.author)
            }
        });
        paid = settled.unwrap_or(0);
    }
    let error = match result {
        Ok(()) => {
            state.emit(Event::System(SystemEvent::ExtrinsicSuccess {
                signer: tx.signer,
            }));
            None
        }
        Err(e) => {
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
        benefits::maybe_reduce_fee(state, ctx, tx.fee)
            .map_err(|e| InvalidTransaction::System(SystemError::Module(e.to_string())))?
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

/// How a fee is covered: what the payer pays and what the fee-reduction quota mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSplit {
    /// Withdrawn from the payer.
    pub from_payer: Balance,
    /// Newly minted to cover the rest (benefits fee reduction).
    pub minted: Balance,
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
    let treasury = treasury_account();
    let to_author = Perbill::from_percent(20).mul_nearest(from_payer.saturating_add(minted));
    balances::transfer(state, payer, &treasury, from_payer, Existence::KeepAlive)?;
    balances::mint(state, &treasury, minted)?;
    // An author share too small to open the author's account stays in the treasury.
    let _ = balances::transfer(state, &treasury, author, to_author, Existence::AllowDeath);
    Ok(())
}

/// How many recent block hashes the runtime keeps (reference `BlockHashCount`).
pub const BLOCK_HASH_COUNT: u64 = 2400;

fn block_hash_key(height: BlockHeight) -> Vec<u8> {
    key(MODULE, "block_hash", &[&height.to_be_bytes()])
}

/// The hash of block `height`, if it is among the last [`BLOCK_HASH_COUNT`] blocks.
pub fn block_hash(
    state: &impl State,
    height: BlockHeight,
) -> Result<Option<[u8; 32]>, SystemError> {
    Ok(state.read(&block_hash_key(height))?)
}

pub(crate) fn now_key() -> Vec<u8> {
    key(MODULE, "now", &[])
}

/// The current block's timestamp in milliseconds since the Unix epoch (0 before the first
/// block): the chain's clock, agreed by consensus, never the local one.
pub fn now_ms(state: &impl State) -> Result<u64, SystemError> {
    Ok(state.read_or_default(&now_key())?)
}

/// Per-block work at the start of block `block.height`: record the timestamp and the parent's
/// hash, then the modules' hooks (fee adjustments, spower upkeep, replica batches, era
/// bookkeeping). Bounded: every hook processes at most a fixed batch.
pub fn begin_block(state: &mut impl State, block: &BlockContext) -> Result<(), RuntimeError> {
    state.write(&now_key(), &block.timestamp_ms);
    if let Some(parent) = block.height.checked_sub(1) {
        state.write(&block_hash_key(parent), &block.parent_hash);
        if let Some(old) = parent.checked_sub(BLOCK_HASH_COUNT) {
            state.delete(&block_hash_key(old));
        }
    }
    market::on_initialize(state, block.height)?;
    crate::swork::on_initialize(state, block.height)?;
    // Era transitions: rewards fixed (and the benefits quota renewed) for the era that ends,
    // the next committee elected one slot ahead, authoring points.
    crate::staking::on_initialize(state, block.height, &block.author)?;
    Ok(())
}
