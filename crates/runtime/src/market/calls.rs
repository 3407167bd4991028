//! The market calls a signed transaction can make, their encoding, and their dispatch.

use super::*;

/// The market calls a signed transaction can make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketCall {
    /// Order storage for `cid` of `file_size` bytes, with optional `tips` for the replicas.
    PlaceStorageOrder {
        /// The file's root CID.
        cid: Cid,
        /// The file's size in bytes (the UnixFS root's size; fixed at the first order, D10).
        file_size: u64,
        /// Extra pay for the storage pot.
        tips: Balance,
        /// Free-form note (not interpreted, at most 256 bytes).
        memo: Vec<u8>,
        /// The content commitment (D29), computed by the client over the DAG's canonical
        /// CAR; must equal the file's when it is already ordered.
        commitment: ContentCommitment,
    },
    /// Add `amount` to the file's renewal pool.
    AddPrepaid {
        /// File.
        cid: Cid,
        /// Amount.
        amount: Balance,
    },
    /// Settle a file: pay the liquidator after expiry, then renew it from prepaid or close it;
    /// close and refund a file pending for a whole file duration (D8).
    CalculateReward {
        /// File.
        cid: Cid,
    },
    /// Claim the caller's unclaimed replica rewards.
    RewardMerchant {},
    /// Governance: set a market parameter.
    SetParameter {
        /// Parameter and value.
        param: MarketParameter,
    },
    /// Governance: spend from the reserved pot (D11).
    SpendReserved {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Lets `delegate` place orders paid from the caller's balance, up to `cap` in all, until
    /// block `expires_at` (a pinning service holding no key of the payer). Replaces any earlier
    /// approval of the same delegate; a cap of 0 revokes it.
    ApproveOrderer {
        /// Who may order on the caller's behalf.
        delegate: AccountId,
        /// The most it may spend, orders' fees and tips together.
        cap: Balance,
        /// The first block at which the approval no longer holds.
        expires_at: BlockHeight,
    },
    /// [`MarketCall::PlaceStorageOrder`] paid by `payer`, who approved the caller
    /// ([`MarketCall::ApproveOrderer`]); the payer is the file's orderer (refunds go there).
    PlaceStorageOrderFor {
        /// Who pays (and is the orderer).
        payer: AccountId,
        /// The file's root CID.
        cid: Cid,
        /// The file's size in bytes.
        file_size: u64,
        /// Extra pay for the storage pot.
        tips: Balance,
        /// Free-form note (at most 256 bytes; storage workers read provider hints from it).
        memo: Vec<u8>,
        /// The content commitment (D29).
        commitment: ContentCommitment,
    },
}

/// What a follower needs of an order, whichever call placed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRef<'a> {
    /// The file.
    pub cid: &'a Cid,
    /// Its size.
    pub file_size: u64,
    /// The tip offered.
    pub tips: Balance,
    /// The memo.
    pub memo: &'a [u8],
}

impl MarketCall {
    /// The order this call places, if it places one (directly or for a payer).
    pub fn order(&self) -> Option<OrderRef<'_>> {
        match self {
            MarketCall::PlaceStorageOrder {
                cid,
                file_size,
                tips,
                memo,
                ..
            }
            | MarketCall::PlaceStorageOrderFor {
                cid,
                file_size,
                tips,
                memo,
                ..
            } => Some(OrderRef {
                cid,
                file_size: *file_size,
                tips: *tips,
                memo,
            }),
            _ => None,
        }
    }
}
crust_primitives::impl_codec_enum!(MarketCall {
    0 => PlaceStorageOrder { cid, file_size, tips, memo: max_items(MAX_MEMO_BYTES), commitment },
    1 => AddPrepaid { cid, amount },
    2 => CalculateReward { cid },
    3 => RewardMerchant {},
    4 => SetParameter { param },
    5 => SpendReserved { to, amount },
    6 => ApproveOrderer { delegate, cap, expires_at },
    7 => PlaceStorageOrderFor { payer, cid, file_size, tips, memo: max_items(MAX_MEMO_BYTES), commitment },
});

/// Executes a market call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &MarketCall,
) -> Result<(), MarketError> {
    match call {
        MarketCall::PlaceStorageOrder {
            cid,
            file_size,
            tips,
            memo: _,
            commitment,
        } => place_storage_order(state, ctx, cid, *file_size, *tips, commitment),
        MarketCall::AddPrepaid { cid, amount } => add_prepaid(state, ctx, cid, *amount),
        MarketCall::CalculateReward { cid } => calculate_reward(state, ctx, cid),
        MarketCall::RewardMerchant {} => reward_merchant(state, ctx),
        MarketCall::SetParameter { param } => set_parameter(state, ctx, param),
        MarketCall::SpendReserved { to, amount } => spend_reserved(state, ctx, to, *amount),
        MarketCall::ApproveOrderer {
            delegate,
            cap,
            expires_at,
        } => approve_orderer(state, ctx, delegate, *cap, *expires_at),
        MarketCall::PlaceStorageOrderFor {
            payer,
            cid,
            file_size,
            tips,
            memo: _,
            commitment,
        } => place_storage_order_for(state, ctx, payer, cid, *file_size, *tips, commitment),
    }
}
