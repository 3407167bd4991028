//! Balances: free, reserved and locked funds, transfers, and total issuance.
//!
//! Every account holds `free` (spendable unless locked) and `reserved` (held by a module, e.g.
//! benefit funds) balance. Named locks freeze part of `free`: the usable balance is
//! `free − max(lock)`. An ordinary account whose total falls below the existential deposit is
//! removed and the dust is burned; module accounts (pots, treasury) are permanent and may hold
//! any amount. Total issuance always equals the sum of every account's `free + reserved`; only
//! [`mint`] and [`burn`] change it.

mod errors;
mod events;
#[cfg(test)]
mod tests;
mod types;

pub use errors::BalancesError;
pub use events::BalancesEvent;
pub use types::{AccountInfo, BalanceLock, LockId};

use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, system};
use crust_primitives::{AccountId, Balance};

/// Whether a withdrawal may remove the payer's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existence {
    /// The payer must keep at least the existential deposit.
    KeepAlive,
    /// The payer's account may be removed (its dust burned).
    AllowDeath,
}

// ---- storage ------------------------------------------------------------------------------

const MODULE: &str = "balances";

/// The state key of an account's balances.
pub fn account_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "account", &[who.as_bytes()])
}

fn issuance_key() -> Vec<u8> {
    key(MODULE, "issuance", &[])
}

fn permanent_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "permanent", &[who.as_bytes()])
}

/// The key prefix under which every account record lives (for whole-state audits).
pub fn accounts_prefix() -> Vec<u8> {
    key(MODULE, "account", &[])
}

/// The account record of `who` (all zero when it does not exist).
pub fn account(state: &impl State, who: &AccountId) -> Result<AccountInfo, BalancesError> {
    Ok(state.read_or_default(&account_key(who))?)
}

fn put_account(
    state: &mut impl State,
    who: &AccountId,
    info: &AccountInfo,
) -> Result<(), BalancesError> {
    let total = info.free.saturating_add(info.reserved);
    let ed = system::config(state)?.existential_deposit;
    if total < ed && !is_permanent(state, who) {
        // An ordinary account below the existential deposit is removed; its dust is burned.
        if total > 0 {
            set_total_issuance(state, total_issuance(state)?.saturating_sub(total));
            state.emit(Event::Balances(BalancesEvent::DustLost {
                account: *who,
                amount: total,
            }));
        }
        state.delete(&account_key(who));
    } else {
        state.write(&account_key(who), info);
    }
    Ok(())
}

/// Total issuance: the sum of every account's free and reserved balance.
pub fn total_issuance(state: &impl State) -> Result<Balance, BalancesError> {
    Ok(state.read_or_default(&issuance_key())?)
}

fn set_total_issuance(state: &mut impl State, amount: Balance) {
    state.write(&issuance_key(), &amount);
}

/// Marks `who` as a permanent (module) account, exempt from the existential deposit.
pub fn make_permanent(state: &mut impl State, who: &AccountId) {
    state.write(&permanent_key(who), &true);
}

/// Whether `who` is a permanent (module) account.
pub fn is_permanent(state: &impl State, who: &AccountId) -> bool {
    state.get(&permanent_key(who)).is_some()
}

/// Free balance of `who`.
pub fn free_balance(state: &impl State, who: &AccountId) -> Result<Balance, BalancesError> {
    Ok(account(state, who)?.free)
}

/// Reserved balance of `who`.
pub fn reserved_balance(state: &impl State, who: &AccountId) -> Result<Balance, BalancesError> {
    Ok(account(state, who)?.reserved)
}

/// Free balance that no lock freezes: what `who` can spend.
pub fn usable_balance(state: &impl State, who: &AccountId) -> Result<Balance, BalancesError> {
    Ok(account(state, who)?.usable())
}

// ---- calls --------------------------------------------------------------------------------

/// The balances calls a signed transaction can make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BalancesCall {
    /// Send `amount` to `dest`; the sender's account may be emptied and removed.
    Transfer {
        /// Recipient.
        dest: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// Send `amount` to `dest`, failing if the sender would drop below the existential deposit.
    TransferKeepAlive {
        /// Recipient.
        dest: AccountId,
        /// Amount in units.
        amount: Balance,
    },
}

crust_primitives::impl_codec_enum!(BalancesCall {
    0 => Transfer { dest, amount },
    1 => TransferKeepAlive { dest, amount },
});

/// Executes a balances call for the signer in `ctx`.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &BalancesCall,
) -> Result<(), BalancesError> {
    match call {
        BalancesCall::Transfer { dest, amount } => {
            transfer(state, &ctx.caller, dest, *amount, Existence::AllowDeath)
        }
        BalancesCall::TransferKeepAlive { dest, amount } => {
            transfer(state, &ctx.caller, dest, *amount, Existence::KeepAlive)
        }
    }
}

// ---- operations used by other modules -----------------------------------------------------

/// Moves `amount` of free balance from `from` to `to`.
pub fn transfer(
    state: &mut impl State,
    from: &AccountId,
    to: &AccountId,
    amount: Balance,
    existence: Existence,
) -> Result<(), BalancesError> {
    if amount == 0 || from == to {
        return Ok(());
    }
    let mut sender = account(state, from)?;
    let usable = sender.usable();
    if usable < amount {
        return Err(BalancesError::InsufficientBalance {
            needed: amount,
            usable,
        });
    }
    let ed = system::config(state)?.existential_deposit;
    let remaining = sender.free - amount + sender.reserved;
    if existence == Existence::KeepAlive && remaining < ed && !is_permanent(state, from) {
        return Err(BalancesError::KeepAlive {
            remaining,
            existential_deposit: ed,
        });
    }
    let mut receiver = account(state, to)?;
    let receiver_total = receiver.free.saturating_add(receiver.reserved);
    if receiver_total == 0 && amount < ed && !is_permanent(state, to) {
        return Err(BalancesError::ExistentialDeposit {
            amount,
            existential_deposit: ed,
        });
    }
    receiver.free = receiver
        .free
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    sender.free -= amount;
    put_account(state, from, &sender)?;
    put_account(state, to, &receiver)?;
    state.emit(Event::Balances(BalancesEvent::Transfer {
        from: *from,
        to: *to,
        amount,
    }));
    Ok(())
}

/// Creates `amount` new units in `who`'s free balance (rewards, fee-reduction quota).
pub fn mint(state: &mut impl State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    if amount == 0 {
        return Ok(());
    }
    let issuance = total_issuance(state)?
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    let mut info = account(state, who)?;
    info.free = info
        .free
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_total_issuance(state, issuance);
    put_account(state, who, &info)?;
    state.emit(Event::Balances(BalancesEvent::Minted {
        account: *who,
        amount,
    }));
    Ok(())
}

/// Destroys up to `amount` of `who`'s usable free balance; returns what was destroyed.
pub fn burn(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<Balance, BalancesError> {
    let mut info = account(state, who)?;
    let burned = amount.min(info.usable());
    if burned == 0 {
        return Ok(0);
    }
    info.free -= burned;
    set_total_issuance(state, total_issuance(state)?.saturating_sub(burned));
    put_account(state, who, &info)?;
    state.emit(Event::Balances(BalancesEvent::Burned {
        account: *who,
        amount: burned,
    }));
    Ok(burned)
}

/// Moves `amount` from free to reserved.
pub fn reserve(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<(), BalancesError> {
    let mut info = account(state, who)?;
    let usable = info.usable();
    if usable < amount {
        return Err(BalancesError::InsufficientBalance {
            needed: amount,
            usable,
        });
    }
    info.free -= amount;
    info.reserved = info
        .reserved
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    put_account(state, who, &info)?;
    state.emit(Event::Balances(BalancesEvent::Reserved {
        account: *who,
        amount,
    }));
    Ok(())
}

/// Moves up to `amount` from reserved back to free; returns what was moved.
pub fn unreserve(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<Balance, BalancesError> {
    let mut info = account(state, who)?;
    let moved = amount.min(info.reserved);
    if moved == 0 {
        return Ok(0);
    }
    info.reserved -= moved;
    info.free = info
        .free
        .checked_add(moved)
        .ok_or(BalancesError::Overflow)?;
    put_account(state, who, &info)?;
    state.emit(Event::Balances(BalancesEvent::Unreserved {
        account: *who,
        amount: moved,
    }));
    Ok(moved)
}

/// Destroys up to `amount` of `who`'s reserved balance (a slash); returns what was destroyed.
pub fn slash_reserved(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<Balance, BalancesError> {
    let mut info = account(state, who)?;
    let slashed = amount.min(info.reserved);
    if slashed == 0 {
        return Ok(0);
    }
    info.reserved -= slashed;
    commit_slash(state, who, &info, slashed)
}

/// Destroys up to `amount` of `who`'s funds — free first (locks do not protect against a
/// slash), then reserved — and returns what was destroyed.
pub fn slash(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<Balance, BalancesError> {
    let mut info = account(state, who)?;
    let from_free = amount.min(info.free);
    let from_reserved = (amount - from_free).min(info.reserved);
    let slashed = from_free + from_reserved;
    if slashed == 0 {
        return Ok(0);
    }
    info.free -= from_free;
    info.reserved -= from_reserved;
    commit_slash(state, who, &info, slashed)
}

/// Stores `info` after `slashed` was taken from it, burns that amount from total issuance and
/// emits the event.
fn commit_slash(
    state: &mut impl State,
    who: &AccountId,
    info: &AccountInfo,
    slashed: Balance,
) -> Result<Balance, BalancesError> {
    set_total_issuance(state, total_issuance(state)?.saturating_sub(slashed));
    put_account(state, who, info)?;
    state.emit(Event::Balances(BalancesEvent::Slashed {
        account: *who,
        amount: slashed,
    }));
    Ok(slashed)
}

/// Sets (or replaces) the lock `id` on `who` to freeze `amount` of free balance.
pub fn set_lock(
    state: &mut impl State,
    who: &AccountId,
    id: LockId,
    amount: Balance,
) -> Result<(), BalancesError> {
    let mut info = account(state, who)?;
    info.locks.retain(|l| l.id != id);
    if amount > 0 {
        if info.locks.len() >= types::MAX_LOCKS {
            return Err(BalancesError::TooManyLocks {
                max: types::MAX_LOCKS,
            });
        }
        info.locks.push(BalanceLock { id, amount });
    }
    put_account(state, who, &info)
}

/// Removes the lock `id` from `who`.
pub fn remove_lock(
    state: &mut impl State,
    who: &AccountId,
    id: LockId,
) -> Result<(), BalancesError> {
    set_lock(state, who, id, 0)
}

/// Increments `who`'s transaction nonce. Like the reference, a removed account starts again at
/// nonce 0; the chain's transaction mortality window is what stops old transactions replaying.
pub(crate) fn bump_nonce(state: &mut impl State, who: &AccountId) -> Result<(), BalancesError> {
    let mut info = account(state, who)?;
    info.nonce = info.nonce.checked_add(1).ok_or(BalancesError::Overflow)?;
    put_account(state, who, &info)
}

/// Endows `who` at genesis: adds to free balance and issuance without an existential check.
pub(crate) fn endow(
    state: &mut impl State,
    who: &AccountId,
    amount: Balance,
) -> Result<(), BalancesError> {
    let mut info = account(state, who)?;
    info.free = info
        .free
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    let issuance = total_issuance(state)?
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_total_issuance(state, issuance);
    state.write(&account_key(who), &info);
    Ok(())
}
