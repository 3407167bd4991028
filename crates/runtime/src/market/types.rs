//! Market types: files, replicas, pricing parameters, counters.

use crust_primitives::codec::max_items;
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{AccountId, Balance, BlockHeight, Cid, Perbill};
use serde::{Deserialize, Serialize};

/// Most replicas recorded per file (reference `MAX_REPLICAS`).
pub const MAX_REPLICAS: usize = 200;
/// Replica owners paid from a file's pot per funding round (reference `REWARD_PERSON`).
pub const REWARD_PERSON: u32 = 4;
/// Most distinct owners ever paid for one file; bounds the record that stops an owner being
/// paid twice for the same file (D12).
pub const MAX_PAID_OWNERS: usize = 16;
/// Longest order memo in bytes.
pub const MAX_MEMO_BYTES: usize = 256;
/// Files whose spower matures processed per block at most (reference
/// `MAX_CALCULATE_SPOWER_FILES_COUNT`).
pub const SPOWER_MATURITY_PER_BLOCK: usize = 300;

/// The 32-byte identity anchor of a storage worker (set by sWork when it first reports).
pub type Anchor = [u8; 32];

/// One storage worker's copy of a file, keyed by its owner (the group owner, or the reporter
/// itself when it is in no group), so one owner holds at most one paid replica per file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The owner the replica counts for.
    pub owner: AccountId,
    /// The reporting account.
    pub who: AccountId,
    /// The reporting worker's anchor, whose spower the replica contributes to.
    pub anchor: Anchor,
    /// The block the worker says the file became valid, clamped to the report's block (D15).
    pub valid_at: BlockHeight,
    /// `Some(valid_at)` while the replica counts the raw file size in spower; `None` once it has
    /// matured (after the spower ready period) and counts the file's multiplied spower.
    pub created_at: Option<BlockHeight>,
}
crust_primitives::impl_codec_struct!(Replica {
    owner,
    who,
    anchor,
    valid_at,
    created_at
});

/// An ordered file and the money behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Ordered size in bytes, fixed at the first order (D10).
    pub file_size: u64,
    /// Spower each matured replica contributes (the size times the replica multiplier).
    pub spower: u64,
    /// 0 while pending (no replica yet); otherwise the block at which paid storage ends.
    pub expired_at: BlockHeight,
    /// Last settlement block; `calculated_at == expired_at` means expired, awaiting renewal
    /// or closing.
    pub calculated_at: BlockHeight,
    /// When the file last became pending; after one file duration pending it can be closed
    /// and refunded (D8).
    pub pending_since: BlockHeight,
    /// Funds in the storage pot for replica rewards; the rest goes to the liquidator.
    pub amount: Balance,
    /// Renewal pool, also in the storage pot.
    pub prepaid: Balance,
    /// Replica rewards still to pay in this funding round.
    pub remaining_paid_count: u32,
    /// The account whose order created the file: refunds go here (D8).
    pub orderer: AccountId,
    /// Owners already paid for this file; none is paid twice (D12).
    pub paid_owners: Vec<AccountId>,
    /// Replicas, sorted by owner.
    pub replicas: Vec<Replica>,
    /// The content commitment (D29) fixed by the first order: the Merkle root over the
    /// canonical CAR's pieces and its size. Challenges are answered against it.
    pub commitment: ContentCommitment,
}
crust_primitives::impl_codec_struct!(FileInfo {
    file_size,
    spower,
    expired_at,
    calculated_at,
    pending_since,
    amount,
    prepaid,
    remaining_paid_count,
    orderer,
    paid_owners: max_items(MAX_PAID_OWNERS),
    replicas: max_items(MAX_REPLICAS),
    commitment,
});

impl FileInfo {
    /// Whether no replica has been accepted since the last (re)order.
    pub fn is_pending(&self) -> bool {
        self.expired_at == 0
    }

    /// How much spower a replica contributes to its worker right now.
    pub fn contribution(&self, replica: &Replica) -> u64 {
        if replica.created_at.is_some() {
            self.file_size
        } else {
            self.spower
        }
    }
}

/// Governance-set pricing and market parameters. Defaults are the reference's initial values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketParams {
    /// Orders are accepted only while enabled.
    pub enable_market: bool,
    /// Flat fee per order, all to the reserved pot.
    pub base_fee: Balance,
    /// Lower bound of the base fee.
    pub min_base_fee: Balance,
    /// Upper bound of the base fee.
    pub max_base_fee: Balance,
    /// Smallest base-fee increase, so the fee can climb back from 0 (D9).
    pub min_base_fee_step: Balance,
    /// Fee per started MiB.
    pub byte_fee: Balance,
    /// Lower bound of the byte fee.
    pub min_byte_fee: Balance,
    /// Upper bound of the byte fee.
    pub max_byte_fee: Balance,
    /// Fee per order for the state it occupies.
    pub keys_fee: Balance,
    /// Lower bound of the keys fee.
    pub min_keys_fee: Balance,
    /// Upper bound of the keys fee.
    pub max_keys_fee: Balance,
    /// Fee adjustment interval, in report slots.
    pub fee_adjust_interval_slots: u32,
    /// Base fee rises when added replicas per order fall below this.
    pub base_fee_increase_threshold: u32,
    /// Base fee falls when added replicas per order exceed this.
    pub base_fee_decrease_threshold: u32,
    /// Base fee rise per adjustment.
    pub base_fee_increase_ratio: Perbill,
    /// Base fee fall per adjustment.
    pub base_fee_decrease_ratio: Perbill,
    /// Byte fee rise per adjustment.
    pub byte_fee_increase_ratio: Perbill,
    /// Byte fee fall per adjustment.
    pub byte_fee_decrease_ratio: Perbill,
    /// Keys fee rises while more live files than this exist.
    pub keys_fee_adjust_threshold: u64,
    /// Keys fee rise per adjustment.
    pub keys_fee_increase_ratio: Perbill,
    /// Keys fee fall per adjustment.
    pub keys_fee_decrease_ratio: Perbill,
    /// Blocks before a new replica counts multiplied spower.
    pub spower_ready_period: BlockHeight,
    /// Replica count below which a live file offers a repair bounty (D12).
    pub target_replicas: u32,
}
crust_primitives::impl_codec_struct!(MarketParams {
    enable_market,
    base_fee,
    min_base_fee,
    max_base_fee,
    min_base_fee_step,
    byte_fee,
    min_byte_fee,
    max_byte_fee,
    keys_fee,
    min_keys_fee,
    max_keys_fee,
    fee_adjust_interval_slots,
    base_fee_increase_threshold,
    base_fee_decrease_threshold,
    base_fee_increase_ratio,
    base_fee_decrease_ratio,
    byte_fee_increase_ratio,
    byte_fee_decrease_ratio,
    keys_fee_adjust_threshold,
    keys_fee_increase_ratio,
    keys_fee_decrease_ratio,
    spower_ready_period,
    target_replicas,
});

impl Default for MarketParams {
    /// The reference's storage defaults (`docs/reference.md` M1.3, M2.1); the market starts
    /// disabled as in the reference, and a chain spec enables it.
    fn default() -> Self {
        use crust_primitives::constants::{CENTS, MILLICENTS};
        Self {
            enable_market: false,
            base_fee: 0,
            min_base_fee: 0,
            max_base_fee: 5 * CENTS,
            min_base_fee_step: 1,
            byte_fee: MILLICENTS / 1_000,
            min_byte_fee: 0,
            max_byte_fee: MILLICENTS / 10,
            keys_fee: MILLICENTS / 10,
            min_keys_fee: 0,
            max_keys_fee: MILLICENTS,
            fee_adjust_interval_slots: 1,
            base_fee_increase_threshold: 10,
            base_fee_decrease_threshold: 30,
            base_fee_increase_ratio: Perbill::from_parts(3_300_000),
            base_fee_decrease_ratio: Perbill::from_parts(3_000_000),
            byte_fee_increase_ratio: Perbill::from_parts(3_300_000),
            byte_fee_decrease_ratio: Perbill::from_parts(3_000_000),
            keys_fee_adjust_threshold: 5_000_000,
            keys_fee_increase_ratio: Perbill::from_parts(3_300_000),
            keys_fee_decrease_ratio: Perbill::from_parts(3_000_000),
            spower_ready_period: 1_296_000,
            target_replicas: REWARD_PERSON,
        }
    }
}

/// Market counters that drive the fee adjustments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketCounters {
    /// Orders since the last base-fee adjustment.
    pub orders_count: u32,
    /// Live (not closed) files.
    pub file_keys_count: u64,
    /// Whether an order or renewal happened since the last byte/keys fee adjustment.
    pub has_new_order: bool,
    /// Replicas reported for ordered files since the last base-fee adjustment.
    pub added_replicas: u32,
    /// Last block a fee was adjusted.
    pub last_fee_adjust_block: BlockHeight,
}
crust_primitives::impl_codec_struct!(MarketCounters {
    orders_count,
    file_keys_count,
    has_new_order,
    added_replicas,
    last_fee_adjust_block,
});

/// A payer's approval of a delegate to place orders it pays for
/// ([`super::MarketCall::ApproveOrderer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// What the delegate may still spend.
    pub remaining: Balance,
    /// The first block at which it may not.
    pub expires_at: BlockHeight,
}
crust_primitives::impl_codec_struct!(Allowance {
    remaining,
    expires_at
});

/// Storage supply and use, reported by sWork; drives the byte fee.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSupply {
    /// Bytes of files held across all workers.
    pub used_bytes: u128,
    /// Bytes of spare sealed space (SRD) across all workers.
    pub free_bytes: u128,
}
crust_primitives::impl_codec_struct!(StorageSupply {
    used_bytes,
    free_bytes
});

/// One governance-settable market parameter and its new value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarketParameter {
    /// Accept orders or not.
    EnableMarket {
        /// New value.
        enabled: bool,
    },
    /// Base fee.
    BaseFee {
        /// New value.
        fee: Balance,
    },
    /// Byte fee per MiB.
    ByteFee {
        /// New value.
        fee: Balance,
    },
    /// Keys fee per order.
    KeysFee {
        /// New value.
        fee: Balance,
    },
    /// Base fee bounds.
    BaseFeeBounds {
        /// Minimum.
        min: Balance,
        /// Maximum.
        max: Balance,
    },
    /// Byte fee bounds.
    ByteFeeBounds {
        /// Minimum.
        min: Balance,
        /// Maximum.
        max: Balance,
    },
    /// Keys fee bounds.
    KeysFeeBounds {
        /// Minimum.
        min: Balance,
        /// Maximum.
        max: Balance,
    },
    /// Smallest base-fee increase (D9).
    MinBaseFeeStep {
        /// New value.
        step: Balance,
    },
    /// Fee adjustment interval in report slots (> 0).
    FeeAdjustInterval {
        /// New value.
        slots: u32,
    },
    /// Base-fee thresholds (increase < decrease).
    BaseFeeThresholds {
        /// Increase below this many added replicas per order.
        increase: u32,
        /// Decrease above this many.
        decrease: u32,
    },
    /// Base-fee adjustment ratios.
    BaseFeeRatios {
        /// Rise per adjustment.
        increase: Perbill,
        /// Fall per adjustment.
        decrease: Perbill,
    },
    /// Byte-fee adjustment ratios.
    ByteFeeRatios {
        /// Rise per adjustment.
        increase: Perbill,
        /// Fall per adjustment.
        decrease: Perbill,
    },
    /// Keys-fee threshold of live files.
    KeysFeeAdjustThreshold {
        /// New value.
        files: u64,
    },
    /// Keys-fee adjustment ratios.
    KeysFeeRatios {
        /// Rise per adjustment.
        increase: Perbill,
        /// Fall per adjustment.
        decrease: Perbill,
    },
    /// Blocks before a replica counts multiplied spower.
    SpowerReadyPeriod {
        /// New value.
        blocks: BlockHeight,
    },
    /// Replica count below which a repair bounty is offered (D12).
    TargetReplicas {
        /// New value.
        replicas: u32,
    },
}
crust_primitives::impl_codec_enum!(MarketParameter {
    0 => EnableMarket { enabled },
    1 => BaseFee { fee },
    2 => ByteFee { fee },
    3 => KeysFee { fee },
    4 => BaseFeeBounds { min, max },
    5 => ByteFeeBounds { min, max },
    6 => KeysFeeBounds { min, max },
    7 => MinBaseFeeStep { step },
    8 => FeeAdjustInterval { slots },
    9 => BaseFeeThresholds { increase, decrease },
    10 => BaseFeeRatios { increase, decrease },
    11 => ByteFeeRatios { increase, decrease },
    12 => KeysFeeAdjustThreshold { files },
    13 => KeysFeeRatios { increase, decrease },
    14 => SpowerReadyPeriod { blocks },
    15 => TargetReplicas { replicas },
});

/// A replica report for one file, as sWork passes it after verifying a work report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaReport {
    /// The file.
    pub cid: Cid,
    /// The reporting account.
    pub who: AccountId,
    /// Its owner (group owner, or `who`).
    pub owner: AccountId,
    /// The reporting worker's anchor.
    pub anchor: Anchor,
    /// The block the worker says the file became valid.
    pub valid_at: BlockHeight,
    /// The size the worker reports; must equal the ordered size (D10).
    pub reported_size: u64,
}

/// What happened to a reported replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaOutcome {
    /// Recorded; `reward` was credited to the owner (0 if nothing was due or no collateral).
    Added {
        /// Reward credited to the owner's unclaimed merchant reward.
        reward: Balance,
    },
    /// Recorded as pending: it earns once its first challenge passes (D30).
    Pending,
    /// The owner already holds a replica of this file.
    AlreadyHeld,
    /// The file already has the maximum number of replicas.
    Full,
    /// No live order exists for this CID.
    UnknownFile,
    /// The reported size differs from the ordered size; the report is rejected for this file.
    SizeMismatch {
        /// Ordered size.
        ordered: u64,
        /// Reported size.
        reported: u64,
    },
}
