//! Balances errors.

use crate::state::StateError;
use crate::system::SystemError;
use crust_primitives::Balance;

/// Why a balances operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalancesError {
    /// The account cannot spend that much: its free balance minus locks is too small.
    #[error("insufficient balance: needed {needed} units, {usable} usable")]
    InsufficientBalance {
        /// Amount needed.
        needed: Balance,
        /// Free balance minus locks.
        usable: Balance,
    },
    /// The payment would leave the payer below the existential deposit; send less, or use a
    /// transfer that allows the account to be removed.
    #[error(
        "payment would leave {remaining} units, below the existential deposit of {existential_deposit}"
    )]
    KeepAlive {
        /// What would remain.
        remaining: Balance,
        /// The minimum an account must hold.
        existential_deposit: Balance,
    },
    /// A new account must receive at least the existential deposit.
    #[error(
        "{amount} units is below the existential deposit of {existential_deposit} needed to create an account"
    )]
    ExistentialDeposit {
        /// Amount sent.
        amount: Balance,
        /// The minimum an account must hold.
        existential_deposit: Balance,
    },
    /// The account already carries the maximum number of locks.
    #[error("too many balance locks (max {max})")]
    TooManyLocks {
        /// Maximum locks per account.
        max: usize,
    },
    /// A balance would exceed the largest representable amount.
    #[error("balance overflow")]
    Overflow,
    /// The runtime configuration is unavailable.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}
