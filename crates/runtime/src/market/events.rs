//! Market events.

use super::types::{MarketParameter, ReplicaOutcome};
use crust_primitives::{AccountId, Balance, BlockHeight, Cid};
use serde::Serialize;

/// What the market reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum MarketEvent {
    /// A payer approved a delegate to order on its behalf (a cap of 0 revoked it).
    OrdererApproved {
        /// Who pays.
        payer: AccountId,
        /// Who may order.
        delegate: AccountId,
        /// The most it may spend.
        cap: Balance,
        /// When the approval ends.
        expires_at: BlockHeight,
    },
    /// A delegate placed an order its payer paid for.
    OrderPlacedFor {
        /// Who paid.
        payer: AccountId,
        /// Who ordered.
        delegate: AccountId,
        /// File.
        cid: Cid,
        /// What it cost the payer.
        spent: Balance,
    },
    /// An order was placed (or a file re-ordered).
    FileSuccess {
        /// Payer.
        who: AccountId,
        /// File.
        cid: Cid,
    },
    /// A file was renewed from its prepaid pool.
    RenewFileSuccess {
        /// Whoever triggered the renewal.
        liquidator: AccountId,
        /// File.
        cid: Cid,
    },
    /// Prepaid funds were added to a file.
    AddPrepaidSuccess {
        /// Payer.
        who: AccountId,
        /// File.
        cid: Cid,
        /// Amount added.
        amount: Balance,
    },
    /// A file was settled by `calculate_reward`.
    CalculateSuccess {
        /// File.
        cid: Cid,
    },
    /// The liquidator received the file's remaining amount after expiry.
    LiquidatorRewarded {
        /// Liquidator.
        liquidator: AccountId,
        /// File.
        cid: Cid,
        /// Amount paid.
        amount: Balance,
    },
    /// A merchant claimed its replica rewards.
    RewardMerchantSuccess {
        /// Merchant.
        who: AccountId,
        /// Amount claimed.
        amount: Balance,
    },
    /// Governance changed a market parameter.
    ParameterSet {
        /// The parameter and its new value.
        param: MarketParameter,
    },
    /// A file was closed and removed.
    FileClosed {
        /// File.
        cid: Cid,
    },
    /// Funds of a closed file went back to its orderer (D8).
    Refunded {
        /// File.
        cid: Cid,
        /// Recipient (the orderer).
        orderer: AccountId,
        /// Amount refunded.
        amount: Balance,
    },
    /// A replica report was applied to a file.
    ReplicaReported {
        /// File.
        cid: Cid,
        /// Owner.
        owner: AccountId,
        /// What happened.
        outcome: ReplicaOutcome,
    },
    /// A replica was removed from a file.
    ReplicaRemoved {
        /// File.
        cid: Cid,
        /// Owner.
        owner: AccountId,
    },
    /// A pending replica was not proven in time (D30): it is dropped and never earned.
    ReplicaUnproven {
        /// File.
        cid: Cid,
        /// Owner.
        owner: AccountId,
        /// The worker that reported it.
        anchor: [u8; 32],
    },
    /// A live file fell below the target replica count and now pays new owners again (D12).
    RepairBountyOffered {
        /// File.
        cid: Cid,
        /// Paid replica slots now open.
        slots: u32,
    },
    /// A file's per-replica spower changed.
    SpowerUpdated {
        /// File.
        cid: Cid,
        /// New per-replica spower.
        spower: u64,
    },
    /// Governance spent from the reserved pot (D11).
    ReservedSpent {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// The storage fees were adjusted.
    FeesAdjusted {
        /// New base fee.
        base_fee: Balance,
        /// New byte fee.
        byte_fee: Balance,
        /// New keys fee.
        keys_fee: Balance,
    },
}
