//! Order pricing, the fee split into the pots, and the periodic fee adjustments
//! (`docs/reference.md` M4 and M5.1).

use super::{MarketError, MarketParams, StorageSupply, reserved_pot, staking_pot, storage_pot};
use crate::balances::{self, Existence};
use crate::state::State;
use crust_primitives::constants::MIB;
use crust_primitives::{AccountId, Balance, Perbill};

/// Share of byte + keys fees for the staking pot (reference `StakingRatio`).
pub const STAKING_RATIO: Perbill = Perbill::from_percent(72);
/// Share of byte + keys fees for the storage pot (reference `StorageRatio`).
pub const STORAGE_RATIO: Perbill = Perbill::from_percent(18);

/// The price of storing `size_bytes` for one file duration: `(base_fee, value)`, where
/// `value = byte_fee × ⌈size / MiB⌉ + keys_fee`. As in the reference, a byte price that
/// overflows counts as 0.
pub fn file_fee(params: &MarketParams, size_bytes: u64) -> (Balance, Balance) {
    let mib = u128::from(size_bytes.div_ceil(MIB));
    let byte_price = params.byte_fee.checked_mul(mib).unwrap_or(0);
    (params.base_fee, byte_price.saturating_add(params.keys_fee))
}

/// Moves a paid price from `payer` into the pots: 72% of `value` to staking, 18% of `value`
/// plus `tips` to storage, and the rest (the base fee, ~10% of `value` and rounding dust) to
/// reserved. Returns what went to the storage pot, which is added to the file's `amount`.
pub fn split_fee(
    state: &mut impl State,
    payer: &AccountId,
    value: Balance,
    base_fee: Balance,
    tips: Balance,
    existence: Existence,
) -> Result<Balance, MarketError> {
    let staking = STAKING_RATIO.mul_nearest(value);
    let storage = STORAGE_RATIO.mul_nearest(value);
    let reserved = value.saturating_add(base_fee) - staking - storage;
    let storage = storage.saturating_add(tips);
    // The reference's transfer order: reserved, staking, storage. When the payer is the
    // storage pot itself (a renewal from prepaid), the storage share simply stays put.
    for (pot, amount) in [
        (reserved_pot(), reserved),
        (staking_pot(), staking),
        (storage_pot(), storage),
    ] {
        balances::transfer(state, payer, &pot, amount, existence)?;
    }
    Ok(storage)
}

/// The next byte fee: down while used storage is at most half of all storage (supply exceeds
/// demand), up by at least one unit otherwise; clamped to the bounds.
pub fn next_byte_fee(params: &MarketParams, supply: &StorageSupply) -> Balance {
    let total = supply.used_bytes.saturating_add(supply.free_bytes);
    let fee = params.byte_fee;
    // Reference `StorageReferenceRatio` = 50/100.
    let next = if supply.used_bytes.saturating_mul(100) <= total.saturating_mul(50) {
        fee - params.byte_fee_decrease_ratio.mul_nearest(fee)
    } else {
        fee.saturating_add(params.byte_fee_increase_ratio.mul_nearest(fee).max(1))
    };
    next.clamp(
        params.min_byte_fee,
        params.max_byte_fee.max(params.min_byte_fee),
    )
}

/// The next keys fee: up (by at least one unit) while more files are live than the threshold,
/// down otherwise; clamped to the bounds.
pub fn next_keys_fee(params: &MarketParams, live_files: u64) -> Balance {
    let fee = params.keys_fee;
    let next = if live_files > params.keys_fee_adjust_threshold {
        fee.saturating_add(params.keys_fee_increase_ratio.mul_nearest(fee).max(1))
    } else {
        fee - params.keys_fee_decrease_ratio.mul_nearest(fee)
    };
    next.clamp(
        params.min_keys_fee,
        params.max_keys_fee.max(params.min_keys_fee),
    )
}

/// The next base fee from replication demand: `alpha = added replicas / orders`. No orders or
/// `alpha` above the decrease threshold lowers it; `alpha` below the increase threshold raises
/// it by at least `min_base_fee_step` (D9); in between it stays. Clamped to the bounds.
pub fn next_base_fee(params: &MarketParams, added_replicas: u32, orders: u32) -> Balance {
    let fee = params.base_fee;
    let decrease = || fee - params.base_fee_decrease_ratio.mul_nearest(fee);
    let increase = || {
        fee.saturating_add(
            params
                .base_fee_increase_ratio
                .mul_nearest(fee)
                .max(params.min_base_fee_step),
        )
    };
    let next = match added_replicas.checked_div(orders) {
        None => decrease(),
        Some(alpha) if alpha < params.base_fee_increase_threshold => increase(),
        Some(alpha) if alpha <= params.base_fee_decrease_threshold => fee,
        Some(_) => decrease(),
    };
    next.clamp(
        params.min_base_fee,
        params.max_base_fee.max(params.min_base_fee),
    )
}
