//! Balances types.

use crust_primitives::Balance;
use crust_primitives::codec::max_items;

/// Most locks one account can carry (staking, benefits, vesting, …).
pub const MAX_LOCKS: usize = 8;

/// A lock's name, e.g. `*b"staking "`.
pub type LockId = [u8; 8];

/// A named lock freezing part of an account's free balance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BalanceLock {
    /// Lock name.
    pub id: LockId,
    /// Frozen amount.
    pub amount: Balance,
}
crust_primitives::impl_codec_struct!(BalanceLock { id, amount });

/// One account's record: transaction nonce and balances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountInfo {
    /// Transactions sent so far; the next transaction must carry this nonce.
    pub nonce: u64,
    /// Spendable balance (minus locks).
    pub free: Balance,
    /// Balance held by modules.
    pub reserved: Balance,
    /// Named locks over `free`; they overlap, so the largest one counts.
    pub locks: Vec<BalanceLock>,
}
crust_primitives::impl_codec_struct!(AccountInfo {
    nonce,
    free,
    reserved,
    locks: max_items(MAX_LOCKS)
});

impl AccountInfo {
    /// The largest lock: the part of `free` that cannot be spent.
    pub fn frozen(&self) -> Balance {
        self.locks.iter().map(|l| l.amount).max().unwrap_or(0)
    }

    /// Free balance not frozen by any lock.
    pub fn usable(&self) -> Balance {
        self.free.saturating_sub(self.frozen())
    }
}
