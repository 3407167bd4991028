//! Staking types, errors and events.

use crate::balances::BalancesError;
use crate::benefits::BenefitsError;
use crate::market::MarketError;
use crate::state::StateError;
use crate::swork::SworkError;
use crate::system::SystemError;
use crust_primitives::codec::max_items;
use crust_primitives::{AccountId, Balance, EraIndex, Perbill};
use serde::{Deserialize, Serialize};

/// Most unlocking chunks per ledger (reference `MAX_UNLOCKING_CHUNKS`).
pub const MAX_UNLOCKING_CHUNKS: usize = 32;
/// Most validators one guarantor backs (reference `MAX_GUARANTEE`).
pub const MAX_GUARANTEE: usize = 16;
/// Guarantors rewarded per validator, by stake (reference `MaxGuarantorRewardedPerValidator`).
pub const MAX_REWARDED_GUARANTORS: usize = 64;
/// Eras a reward stays claimable (reference `HistoryDepth`).
pub const HISTORY_DEPTH: EraIndex = 84;
/// Eras over which a withdrawal of the market staking pot is paid out (`MarketStakingPotDuration`).
pub const MARKET_POT_ERAS: EraIndex = 60;
/// Eras a slash waits before it is applied, so governance can cancel it (`SlashDeferDuration`).
pub const SLASH_DEFER_ERAS: EraIndex = 108;
/// Authoring points per block (reference: 20).
pub const POINTS_PER_BLOCK: u32 = 20;
/// Most validators a committee can have: equal-weight BFT votes must stay affordable (D24).
pub const MAX_COMMITTEE: usize = 100;
/// Most guarantors attached to one validator's exposure (bounds era-change work, D5).
pub const MAX_EXPOSURE_GUARANTORS: usize = 512;

/// An unlocking chunk: `value` becomes withdrawable at era `era`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockChunk {
    /// Amount.
    pub value: Balance,
    /// Era it unlocks.
    pub era: EraIndex,
}
crust_primitives::impl_codec_struct!(UnlockChunk { value, era });

/// A stash's bonded funds, held by its controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakingLedger {
    /// The stash whose funds these are.
    pub stash: AccountId,
    /// Bonded total: active + unlocking.
    pub total: Balance,
    /// Bonded and at stake.
    pub active: Balance,
    /// Unbonding chunks.
    pub unlocking: Vec<UnlockChunk>,
    /// Eras whose rewards were claimed (bounded by the claim window).
    pub claimed_rewards: Vec<EraIndex>,
}
crust_primitives::impl_codec_struct!(StakingLedger {
    stash,
    total,
    active,
    unlocking: max_items(MAX_UNLOCKING_CHUNKS),
    claimed_rewards: max_items(HISTORY_DEPTH as usize + 1),
});

/// A validator's preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorPrefs {
    /// The validator's own cut of the rewards before the rest is shared by stake (D23).
    pub commission: Perbill,
    /// The consensus key the validator's node signs blocks and votes with.
    pub session_key: AccountId,
}
crust_primitives::impl_codec_struct!(ValidatorPrefs {
    commission,
    session_key
});

/// One guarantee edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuaranteeEdge {
    /// The validator backed.
    pub who: AccountId,
    /// Amount.
    pub value: Balance,
}
crust_primitives::impl_codec_struct!(GuaranteeEdge { who, value });

/// A guarantor's explicit split of its active bond across validators.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guarantee {
    /// Edges, at most 16.
    pub targets: Vec<GuaranteeEdge>,
    /// Σ edge values; never more than the guarantor's active bond (D22).
    pub total: Balance,
}
crust_primitives::impl_codec_struct!(Guarantee {
    targets: max_items(MAX_GUARANTEE),
    total
});

/// A backer's share of an exposure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndividualExposure {
    /// Guarantor.
    pub who: AccountId,
    /// Effective (clipped) amount.
    pub value: Balance,
}
crust_primitives::impl_codec_struct!(IndividualExposure { who, value });

/// An elected validator's effective stake for an era, clipped to its stake limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// own + Σ others.
    pub total: Balance,
    /// The validator's own effective stake.
    pub own: Balance,
    /// Guarantors' effective stakes.
    pub others: Vec<IndividualExposure>,
}
crust_primitives::impl_codec_struct!(Exposure {
    total,
    own,
    others: max_items(MAX_EXPOSURE_GUARANTORS)
});

/// A member of an era's committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitteeMember {
    /// The validator's stash.
    pub stash: AccountId,
    /// Its consensus key.
    pub session_key: AccountId,
    /// Its effective stake.
    pub stake: Balance,
}
crust_primitives::impl_codec_struct!(CommitteeMember {
    stash,
    session_key,
    stake
});

/// How eras advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Forcing {
    /// Eras follow the configured length.
    #[default]
    NotForcing,
    /// Start a new era at the next slot boundary, once.
    ForceNew,
    /// Never start a new era.
    ForceNone,
}
crust_primitives::impl_codec_enum!(Forcing {
    0 => NotForcing {},
    1 => ForceNew {},
    2 => ForceNone {},
});

/// Staking parameters set by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakingParams {
    /// Seats in the committee (≤ [`MAX_COMMITTEE`]).
    pub validator_count: u32,
    /// Below this many candidates the old committee stays.
    pub minimum_validator_count: u32,
    /// A validator needs at least this much own bond to be elected (D21).
    pub min_self_bond: Balance,
    /// Era forcing.
    pub force_era: Forcing,
    /// First era that mints inflation (market payouts flow regardless).
    pub start_reward_era: EraIndex,
    /// Share of a slash paid to reporters (reference 10%, of which half is paid).
    pub slash_reward_fraction: Perbill,
    /// Eras a slash waits before it is applied (reference `SlashDeferDuration` = 108).
    pub slash_defer_eras: EraIndex,
}
crust_primitives::impl_codec_struct!(StakingParams {
    validator_count,
    minimum_validator_count,
    min_self_bond,
    force_era,
    start_reward_era,
    slash_reward_fraction,
    slash_defer_eras,
});

impl Default for StakingParams {
    fn default() -> Self {
        Self {
            validator_count: 4,
            minimum_validator_count: 1,
            min_self_bond: 0,
            force_era: Forcing::NotForcing,
            start_reward_era: 0,
            slash_reward_fraction: Perbill::from_percent(10),
            slash_defer_eras: SLASH_DEFER_ERAS,
        }
    }
}

/// Era bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraState {
    /// The active era.
    pub active: EraIndex,
    /// Height at which the active era started.
    pub active_start: u64,
    /// Height at which the planned next era starts, once planned.
    pub next_start: Option<u64>,
}
crust_primitives::impl_codec_struct!(EraState {
    active,
    active_start,
    next_start
});

/// Reward bookkeeping for one era.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraRewards {
    /// Σ effective stake of the elected committee.
    pub total_stake: Balance,
    /// Staking reward to share by stake (set when the era ends).
    pub staking_payout: Balance,
    /// Authoring reward to share by points (set when the era ends).
    pub authoring_payout: Balance,
    /// Σ points.
    pub total_points: u32,
    /// Whether the era has ended and its rewards are claimable.
    pub ended: bool,
}
crust_primitives::impl_codec_struct!(EraRewards {
    total_stake,
    staking_payout,
    authoring_payout,
    total_points,
    ended
});

/// A slash waiting for its era.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSlash {
    /// The offending validator.
    pub validator: AccountId,
    /// Its own slash.
    pub own: Balance,
    /// Its guarantors' slashes.
    pub others: Vec<IndividualExposure>,
    /// Who reported it.
    pub reporters: Vec<AccountId>,
    /// Reporters' reward.
    pub payout: Balance,
}
crust_primitives::impl_codec_struct!(PendingSlash {
    validator,
    own,
    others: max_items(MAX_EXPOSURE_GUARANTORS),
    reporters: max_items(16),
    payout,
});

/// Why a staking call failed (reference names where they correspond).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// The caller is not a controller.
    #[error("not a controller account")]
    NotController,
    /// The account is not a bonded stash.
    #[error("not a bonded stash")]
    NotStash,
    /// The stash is already bonded.
    #[error("stash already bonded")]
    AlreadyBonded,
    /// The controller already controls a stash.
    #[error("controller already paired with a stash")]
    AlreadyPaired,
    /// All active funds are guaranteed; cut a guarantee first.
    #[error("all active funds are guaranteed; cut a guarantee before unbonding")]
    AllGuaranteed,
    /// A slash index is listed twice.
    #[error("duplicate slash index")]
    DuplicateIndex,
    /// A slash index does not exist.
    #[error("no pending slash with that index")]
    InvalidSlashIndex,
    /// The target is not a validator, or no guarantee to it exists.
    #[error("target is not a validator or not guaranteed")]
    InvalidTarget,
    /// The amount is too small (below the existential deposit).
    #[error("amount too small")]
    InsufficientValue,
    /// Too many unlocking chunks; withdraw first.
    #[error("too many unlocking chunks (max 32); withdraw first")]
    NoMoreChunks,
    /// Guarantee limit reached (16 targets) or nothing left to guarantee.
    #[error("guarantee limit reached or no unguaranteed active funds left")]
    ExceedGuaranteeLimit,
    /// The era is outside the claim window or has not ended.
    #[error("era {era} is not claimable")]
    InvalidEraToReward {
        /// Era.
        era: EraIndex,
    },
    /// Already claimed.
    #[error("rewards for era {era} were already claimed")]
    AlreadyClaimed {
        /// Era.
        era: EraIndex,
    },
    /// Nothing is unlocking.
    #[error("no unlocking funds to rebond")]
    NoUnlockChunk,
    /// The committee size is out of bounds.
    #[error("validator count must be between 1 and {max}")]
    ValidatorCountOutOfRange {
        /// Maximum committee size.
        max: usize,
    },
    /// A governance or system check failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// A balances operation failed.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// A market operation failed.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// A benefits operation failed.
    #[error(transparent)]
    Benefits(#[from] BenefitsError),
    /// An sWork read failed.
    #[error(transparent)]
    Swork(#[from] SworkError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What staking reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StakingEvent {
    /// Funds bonded.
    Bonded {
        /// Stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Funds started unbonding.
    Unbonded {
        /// Stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Unbonded funds were released.
    Withdrawn {
        /// Stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A stash declared itself a validator.
    ValidateSuccess {
        /// Stash.
        stash: AccountId,
        /// Preferences.
        prefs: ValidatorPrefs,
    },
    /// A guarantee was added (amount actually applied).
    GuaranteeSuccess {
        /// Guarantor stash.
        guarantor: AccountId,
        /// Validator.
        target: AccountId,
        /// Amount applied.
        amount: Balance,
    },
    /// A guarantee was cut (amount actually removed).
    CutGuaranteeSuccess {
        /// Guarantor stash.
        guarantor: AccountId,
        /// Validator.
        target: AccountId,
        /// Amount removed.
        amount: Balance,
    },
    /// A stash stopped validating or guaranteeing.
    Chilled {
        /// Stash.
        stash: AccountId,
    },
    /// The committee of an era was elected.
    CommitteeElected {
        /// Era.
        era: EraIndex,
        /// Members.
        members: u32,
        /// Σ effective stake.
        total_stake: Balance,
    },
    /// An era started.
    EraStarted {
        /// Era.
        era: EraIndex,
        /// First block.
        height: u64,
    },
    /// An era's rewards were fixed.
    EraReward {
        /// Era.
        era: EraIndex,
        /// Authoring part.
        authoring: Balance,
        /// Staking part.
        staking: Balance,
    },
    /// A reward was paid (and bonded).
    Reward {
        /// Stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A slash was applied.
    Slash {
        /// Stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A slash was scheduled.
    SlashReported {
        /// Validator.
        validator: AccountId,
        /// Fraction.
        fraction: Perbill,
        /// Era it applies in.
        apply_era: EraIndex,
    },
}
