//! The storage market (DSM): orders by CID, dynamic prices, pots, replica payouts, renewal,
//! liquidation and spower.
//!
//! Mechanics follow the reference network (`docs/reference.md` M3–M5, M7) with its numbers;
//! the deliberate differences are D7 (re-orders extend and re-arm payouts), D8 (stale pending
//! files and unused prepaid are refunded), D9 (base-fee floor step), D10 (size fixed at order
//! time), D11 (reserved pot spendable by governance) and D12 (repair bounty). Replicas arrive
//! from sWork through [`add_replica`]/[`remove_replica`] (no privileged off-chain account, D3).
//!
//! Money lives in three pots: **staking** (72% of byte+keys fees, drained each era into
//! staking rewards), **storage** (18% + tips: each file's `amount` and `prepaid`, plus merchants'
//! unclaimed rewards) and **reserved** (the base fee and the rest; a governance treasury).

mod calls;
mod errors;
mod events;
mod governance;
mod hooks;
pub mod index;
mod orders;
pub mod pricing;
mod replicas;
mod settle;
#[cfg(test)]
mod tests;
mod types;

pub use calls::{MarketCall, OrderRef, dispatch};
pub use governance::{set_parameter, spend_reserved, withdraw_staking_pot};
pub use orders::{
    SUPERSEDE_AFTER_SLOTS, add_prepaid, allowance, allowance_key, approve_orderer,
    place_storage_order, place_storage_order_for,
};
use settle::{CloseReason, close_file};
pub use settle::{calculate_reward, reward_merchant, reward_ratio};

pub use errors::MarketError;
pub use events::MarketEvent;
pub use hooks::on_initialize;
pub use pricing::{file_fee, split_fee};
pub use replicas::{
    add_pending, add_replica, anchor_spower, calculate_spower, prove_pending, purge_anchor,
    remove_pending, remove_replica, set_storage_supply,
};
pub use types::*;

use crate::balances::{self, Existence};
use crate::state::{State, StateExt, key, var};
use crate::{CallContext, Event, benefits, system};
use crust_primitives::codec::max_items;
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{AccountId, Balance, BlockHeight, Cid, Perbill};

// ---- pots and storage -----------------------------------------------------------------------

const MODULE: &str = "market";
const MODULE_ID: &[u8; 8] = b"crmarket";

/// The storage pot: file amounts, prepaid pools and unclaimed merchant rewards.
pub fn storage_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"stor")
}

/// The staking pot: 72% of byte and keys fees, paid out as staking rewards.
pub fn staking_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"stak")
}

/// The reserved pot: base fees and the remaining ~10%; spendable by governance (D11).
pub fn reserved_pot() -> AccountId {
    AccountId::module_sub_account(MODULE_ID, b"rese")
}

/// The state key of a file's `FileInfo` (for light reads over `state_proof`).
pub fn file_key(cid: &Cid) -> Vec<u8> {
    key(MODULE, "file", &[&var(&cid.to_bytes())])
}

/// Key prefix of all file records (for audits and RPC listing).
pub fn files_prefix() -> Vec<u8> {
    key(MODULE, "file", &[])
}

/// The state key of the current `MarketParams` (prices; for light reads over `state_proof`).
pub fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}

fn counters_key() -> Vec<u8> {
    key(MODULE, "counters", &[])
}

/// Up to `limit` files in key order after `after` (for listings; pages with the last CID).
pub fn files(state: &impl State, after: Option<&Cid>, limit: usize) -> Vec<(Cid, FileInfo)> {
    let prefix = files_prefix();
    let start = after.map(file_key);
    state
        .scan(&prefix, start.as_deref(), limit)
        .into_iter()
        .filter_map(|(k, v)| {
            let cid = Cid::from_bytes(k.get(prefix.len() + 1..)?).ok()?;
            Some((cid, crust_primitives::codec::decode::<FileInfo>(&v).ok()?))
        })
        .collect()
}

/// The file ordered under `cid`, if any.
pub fn file(state: &impl State, cid: &Cid) -> Result<Option<FileInfo>, MarketError> {
    Ok(state.read(&file_key(cid))?)
}

pub(crate) fn put_file(state: &mut impl State, cid: &Cid, file: &FileInfo) {
    state.write(&file_key(cid), file);
}

fn remove_file(state: &mut impl State, cid: &Cid) {
    state.delete(&file_key(cid));
}

/// Current market parameters.
pub fn params(state: &impl State) -> Result<MarketParams, MarketError> {
    Ok(state.read_or_default(&params_key())?)
}

pub(crate) fn set_params(state: &mut impl State, params: &MarketParams) {
    state.write(&params_key(), params);
}

/// Current market counters.
pub fn counters(state: &impl State) -> Result<MarketCounters, MarketError> {
    Ok(state.read_or_default(&counters_key())?)
}

fn set_counters(state: &mut impl State, counters: &MarketCounters) {
    state.write(&counters_key(), counters);
}

/// The pots, made permanent accounts so they may hold any balance (no existential deposit).
pub(crate) fn init_pots(state: &mut impl State) {
    for pot in [storage_pot(), staking_pot(), reserved_pot()] {
        balances::make_permanent(state, &pot);
    }
}
