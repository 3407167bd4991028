//! Benefits types, errors and events.

use crate::balances::BalancesError;
use crate::state::StateError;
use crate::system::SystemError;
use crust_primitives::codec::{
    Buf, BufMut, Error as CodecError, FixedSize, Read, ReadExt, Write, max_items,
};
use crust_primitives::{AccountId, Balance, EraIndex};
use serde::Serialize;

/// What benefit funds are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FundsType {
    /// Free work reports for a storage owner.
    Swork,
    /// Merchant collateral and liquidation fee reductions.
    Market,
}

impl Write for FundsType {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}
impl FixedSize for FundsType {
    const SIZE: usize = 1;
}
impl Read for FundsType {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Swork),
            1 => Ok(Self::Market),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// Funds on their way out: `value` unlocks at era `era`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Unlocking {
    /// Amount.
    pub value: Balance,
    /// Era from which it can be withdrawn.
    pub era: EraIndex,
}
crust_primitives::impl_codec_struct!(Unlocking { value, era });

/// A merchant's MARKET benefit record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MarketBenefit {
    /// Reserved funds (active + unlocking).
    pub total_funds: Balance,
    /// Active funds: the collateral.
    pub active_funds: Balance,
    /// Fee-reduction quota used this era.
    pub used_fee_reduction_quota: Balance,
    /// Unclaimed replica rewards.
    pub file_reward: Balance,
    /// Era the usage counter was last reset.
    pub refreshed_at: EraIndex,
    /// Chunks unlocking.
    pub unlocking: Vec<Unlocking>,
}
crust_primitives::impl_codec_struct!(MarketBenefit {
    total_funds,
    active_funds,
    used_fee_reduction_quota,
    file_reward,
    refreshed_at,
    unlocking: max_items(super::MAX_UNLOCKING_CHUNKS),
});

/// An owner's SWORK benefit record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SworkBenefit {
    /// Reserved funds (active + unlocking).
    pub total_funds: Balance,
    /// Active funds.
    pub active_funds: Balance,
    /// Free work reports per era.
    pub total_fee_reduction_count: u32,
    /// Free work reports used this era.
    pub used_fee_reduction_count: u32,
    /// Era the usage counter was last reset.
    pub refreshed_at: EraIndex,
    /// Chunks unlocking.
    pub unlocking: Vec<Unlocking>,
}
crust_primitives::impl_codec_struct!(SworkBenefit {
    total_funds,
    active_funds,
    total_fee_reduction_count,
    used_fee_reduction_count,
    refreshed_at,
    unlocking: max_items(super::MAX_UNLOCKING_CHUNKS),
});

/// Network-wide fee-reduction totals for the active era.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EraBenefits {
    /// Quota for the era.
    pub total_fee_reduction_quota: Balance,
    /// Sum of all MARKET active funds.
    pub total_market_active_funds: Balance,
    /// Quota used so far this era.
    pub used_fee_reduction_quota: Balance,
    /// The era these totals belong to.
    pub active_era: EraIndex,
}
crust_primitives::impl_codec_struct!(EraBenefits {
    total_fee_reduction_quota,
    total_market_active_funds,
    used_fee_reduction_quota,
    active_era,
});

/// Why a benefits call failed (reference order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenefitsError {
    /// The caller's usable balance cannot cover the funds to lock.
    #[error("insufficient usable balance to lock these funds")]
    InsufficientBalance,
    /// The caller has no benefit record of this type.
    #[error("no benefit funds of this type for this account")]
    InvalidTarget,
    /// Already 16 chunks unlocking; withdraw or rebond first.
    #[error("too many unlocking chunks (max 16); withdraw or rebond first")]
    NoMoreChunks,
    /// Nothing is unlocking, so nothing can be rebonded.
    #[error("no unlocking funds to rebond")]
    NoUnlockChunk,
    /// Active funds after rebonding would be below the existential deposit.
    #[error("active funds would be below the existential deposit")]
    InsufficientValue,
    /// A balance operation failed.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// A system check failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What the benefits module reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BenefitsEvent {
    /// Funds were locked.
    AddBenefitFundsSuccess {
        /// Account.
        who: AccountId,
        /// Amount.
        value: Balance,
        /// Type.
        funds_type: FundsType,
    },
    /// Funds started unlocking.
    CutBenefitFundsSuccess {
        /// Account.
        who: AccountId,
        /// Amount actually cut.
        value: Balance,
        /// Type.
        funds_type: FundsType,
    },
    /// Unlocked funds were released.
    WithdrawBenefitFundsSuccess {
        /// Account.
        who: AccountId,
        /// Amount released.
        value: Balance,
    },
    /// Unlocking funds were made active again.
    RebondBenefitFundsSuccess {
        /// Account.
        who: AccountId,
        /// Amount.
        value: Balance,
        /// Type.
        funds_type: FundsType,
    },
}
