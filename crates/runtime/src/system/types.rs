//! System types: configuration, errors, events.

use crate::state::StateError;
use crust_primitives::{AccountId, Balance, BlockHeight, Perbill};
use serde::Serialize;

/// Runtime configuration fixed by the chain spec at genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// A key allowed to make privileged calls directly, for dev and local chains' demos. Public
    /// networks have none: their privileged calls come only through passed proposals.
    pub sudo: Option<AccountId>,
    /// The least an ordinary account may hold (reference: 10^8 units).
    pub existential_deposit: Balance,
    /// Target block interval in milliseconds (reference: 6000); sets how many blocks make a
    /// year for the inflation schedule.
    pub block_time_ms: u64,
    /// Blocks per report slot (reference: 600).
    pub report_slot_blocks: BlockHeight,
    /// Report slots per era (reference: 6).
    pub slots_per_era: u64,
    /// Blocks of storage one order buys (reference `FileDuration`: 2 592 000).
    pub file_duration_blocks: BlockHeight,
    /// Merchant collateral must cover `collateral_ratio ×` unclaimed rewards (reference: 1).
    pub collateral_ratio: u32,
    /// Orders must be strictly smaller than this many bytes (reference: 8 GiB).
    pub maximum_file_size: u64,
    /// Fixed part of every transaction fee.
    pub tx_base_fee: Balance,
    /// Per-byte part of every transaction fee (reference `TransactionByteFee` = 10^5).
    pub tx_byte_fee: Balance,
    /// Locked SWORK funds per free work report per era (reference: 3 CRU).
    pub benefit_report_work_cost: Balance,
    /// Share of the era payout usable for fee reductions (reference: 0.2%).
    pub benefits_limit_ratio: Perbill,
    /// Share of a reduced fee covered by the quota (reference: 100%).
    pub benefit_market_cost_ratio: Perbill,
    /// Eras before cut benefit funds unlock (reference `BondingDuration`: 112).
    pub bonding_duration_eras: u64,
}
crust_primitives::impl_codec_struct!(RuntimeConfig {
    sudo,
    existential_deposit,
    block_time_ms,
    report_slot_blocks,
    slots_per_era,
    file_duration_blocks,
    collateral_ratio,
    maximum_file_size,
    tx_base_fee,
    tx_byte_fee,
    benefit_report_work_cost,
    benefits_limit_ratio,
    benefit_market_cost_ratio,
    bonding_duration_eras,
});

impl RuntimeConfig {
    /// Blocks per era.
    pub fn era_blocks(&self) -> BlockHeight {
        self.report_slot_blocks.saturating_mul(self.slots_per_era)
    }

    /// Blocks per (Julian) year at the target block interval.
    pub fn year_blocks(&self) -> BlockHeight {
        31_557_600_000 / self.block_time_ms.max(1)
    }
}

/// System errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemError {
    /// Only a passed proposal (or a dev chain's sudo key) may make this call.
    #[error("{caller} cannot make this call: it needs a passed governance proposal")]
    NotGovernance {
        /// Who tried.
        caller: AccountId,
    },
    /// The state names a protocol version this runtime does not know.
    #[error("protocol version {version} is unknown to this runtime")]
    UnknownProtocolVersion {
        /// The version.
        version: u32,
    },
    /// An upgrade must go to the next version.
    #[error("cannot schedule protocol version {version}: the next after {current} is the only one")]
    UpgradeNotNext {
        /// Version asked for.
        version: u32,
        /// Version in effect.
        current: u32,
    },
    /// An upgrade needs notice.
    #[error("upgrade at block {at} is too soon; the earliest is {earliest}")]
    UpgradeTooSoon {
        /// Height asked for.
        at: BlockHeight,
        /// Earliest allowed.
        earliest: BlockHeight,
    },
    /// Nothing to cancel.
    #[error("no upgrade is scheduled")]
    NoUpgradeScheduled,
    /// Genesis did not write a runtime configuration.
    #[error("runtime configuration missing from state (genesis not applied)")]
    NoConfig,
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}

/// System events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SystemEvent {
    /// A transaction's call succeeded.
    ExtrinsicSuccess {
        /// Signer.
        signer: AccountId,
    },
    /// A transaction's call failed; its changes were discarded and the fee kept.
    ExtrinsicFailed {
        /// Signer.
        signer: AccountId,
        /// Why the call failed.
        error: String,
    },
    /// An upgrade was scheduled.
    UpgradeScheduled {
        /// Version.
        version: u32,
        /// First block under it.
        at: BlockHeight,
    },
    /// A scheduled upgrade was dropped.
    UpgradeCancelled {
        /// Version.
        version: u32,
        /// Height it would have started at.
        at: BlockHeight,
    },
    /// A new protocol version took effect with this block.
    ProtocolUpgraded {
        /// Version now in effect.
        version: u32,
        /// The block.
        height: BlockHeight,
    },
}
