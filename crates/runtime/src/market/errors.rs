//! Market errors, in the reference's order where they correspond.

use crate::balances::BalancesError;
use crate::benefits::BenefitsError;
use crate::state::StateError;
use crate::system::SystemError;
use crust_primitives::{AccountId, Balance, BlockHeight, Cid};

/// Why a market call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    /// The payer cannot afford the order (base + byte + keys fee + tips).
    #[error("insufficient balance: the order costs {needed} units, {usable} usable")]
    InsufficientCurrency {
        /// Total price.
        needed: Balance,
        /// Caller's usable balance.
        usable: Balance,
    },
    /// The order's content commitment differs from the one the file's first order fixed
    /// (D29): the same CID cannot be paid for under two different contents.
    #[error("the file's first order committed to content root {stored}; this order states {given}")]
    CommitmentMismatch {
        /// The root stated (0x-hex).
        given: String,
        /// The root on chain (0x-hex).
        stored: String,
    },
    /// The order's content commitment is empty (a DAG's canonical CAR is never empty).
    #[error("the order's content commitment is empty (size 0)")]
    EmptyCommitment,
    /// A re-order stated a smaller size than the file's ordered size.
    #[error("file is {stored} bytes; an order for it must state at least that, not {reported}")]
    FileSizeNotCorrect {
        /// Size stated.
        reported: u64,
        /// Ordered size on chain.
        stored: u64,
    },
    /// The file is pending and has not been pending for a full file duration yet, so it can
    /// be neither liquidated nor closed.
    #[error(
        "file is not in its reward period (pending until a replica appears; closable with refund from block {closable_at})"
    )]
    NotInRewardPeriod {
        /// First block the pending file may be closed and refunded (D8).
        closable_at: BlockHeight,
    },
    /// The caller has no unclaimed merchant reward.
    #[error("no merchant reward to claim")]
    NotEnoughReward,
    /// The file is at or above the maximum orderable size.
    #[error("file of {size} bytes is too large; orders must be smaller than {max} bytes")]
    FileTooLarge {
        /// Size stated.
        size: u64,
        /// Exclusive maximum.
        max: u64,
    },
    /// Ordering is switched off by governance.
    #[error("the market is not accepting orders right now")]
    PlaceOrderNotAvailable,
    /// No order exists for this CID.
    #[error("no storage order exists for {cid}")]
    FileNotExist {
        /// The CID asked for.
        cid: Cid,
    },
    /// The fee adjustment interval must be at least one report slot.
    #[error("fee adjust interval must be at least 1 report slot")]
    FileFeeAdjustIntervalInvalid,
    /// A fee's minimum would exceed its maximum.
    #[error("minimum fee {min} exceeds maximum {max}")]
    MaxFeeLessThanMinFee {
        /// Minimum.
        min: Balance,
        /// Maximum.
        max: Balance,
    },
    /// The base-fee increase threshold must be below the decrease threshold.
    #[error(
        "base fee increase threshold {increase} must be below the decrease threshold {decrease}"
    )]
    BaseFeeIncreaseThresholdLargerThanDecreaseThreshold {
        /// Increase threshold.
        increase: u32,
        /// Decrease threshold.
        decrease: u32,
    },
    /// The reserved pot (treasury) holds less than a spend asks for (D11).
    #[error("reserved pot holds {available} units, less than the {requested} requested")]
    InsufficientReserved {
        /// Requested spend.
        requested: Balance,
        /// Reserved pot balance.
        available: Balance,
    },
    /// The payer has not approved the caller to order on its behalf.
    #[error("{payer} has not approved {delegate} to place orders it pays for")]
    NoAllowance {
        /// Who would pay.
        payer: AccountId,
        /// The caller.
        delegate: AccountId,
    },
    /// The approval ended (or would end before it starts).
    #[error("the approval to order on the payer's behalf ends at block {expires_at}")]
    AllowanceExpired {
        /// Its end.
        expires_at: BlockHeight,
    },
    /// The order costs more than the approval has left.
    #[error("the order costs {spent} units; the payer's approval has {remaining} left")]
    AllowanceExceeded {
        /// What the order cost.
        spent: Balance,
        /// What was left.
        remaining: Balance,
    },
    /// A balance operation failed.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// A benefits operation failed.
    #[error(transparent)]
    Benefits(#[from] BenefitsError),
    /// A system check failed (e.g. not governance).
    #[error(transparent)]
    System(#[from] SystemError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}
