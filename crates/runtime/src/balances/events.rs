//! Balances events.

use crust_primitives::{AccountId, Balance};
use serde::Serialize;

/// What the balances module reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BalancesEvent {
    /// `amount` moved from `from` to `to`.
    Transfer {
        /// Payer.
        from: AccountId,
        /// Payee.
        to: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// An account fell below the existential deposit and was removed; `amount` was burned.
    DustLost {
        /// The removed account.
        account: AccountId,
        /// Burned dust.
        amount: Balance,
    },
    /// New units were created.
    Minted {
        /// Recipient.
        account: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// Units were destroyed.
    Burned {
        /// Account debited.
        account: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// Free balance moved to reserved.
    Reserved {
        /// Account.
        account: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// Reserved balance moved back to free.
    Unreserved {
        /// Account.
        account: AccountId,
        /// Amount in units.
        amount: Balance,
    },
    /// Reserved balance was destroyed.
    Slashed {
        /// Account.
        account: AccountId,
        /// Amount in units.
        amount: Balance,
    },
}
