//! System: the bottom of the runtime — configuration, who may make privileged calls, protocol
//! versions and upgrades, the fee formula and its 80% treasury / 20% author split, the chain's
//! clock and recent block hashes. It calls no other module (every module reads its
//! configuration, so it sits below them all); paying fees, applying transactions and running
//! the modules' block hooks is the executive's job.

mod protocol;
mod types;

pub(crate) use protocol::set_genesis_version;
pub use protocol::{
    LATEST_PROTOCOL_VERSION, MAX_BLOCK_TXS_ANY_VERSION, MIN_UPGRADE_NOTICE_BLOCKS, ProtocolRules,
    ScheduledUpgrade, cancel_upgrade, current_rules, protocol_version, rules, schedule_upgrade,
    scheduled_key, scheduled_upgrade, version_at, version_key,
};
pub use types::{RuntimeConfig, SystemError, SystemEvent};

use crate::BlockContext;
use crate::state::{State, StateExt, key};
use crust_primitives::{AccountId, Balance, BlockHeight};

const MODULE: &str = "system";

/// The state key of the `RuntimeConfig` (for light reads over `state_proof`).
pub fn config_key() -> Vec<u8> {
    key(MODULE, "config", &[])
}

/// The treasury: receives 80% of transaction fees and tips (reference `DealWithFees`) and
/// staking slashes; only passed proposals spend from it.
pub fn treasury_account() -> AccountId {
    AccountId::module_account(b"py/trsry")
}

/// The runtime configuration written at genesis.
pub fn config(state: &impl State) -> Result<RuntimeConfig, SystemError> {
    state.read(&config_key())?.ok_or(SystemError::NoConfig)
}

pub(crate) fn set_config(state: &mut impl State, config: &RuntimeConfig) {
    state.write(&config_key(), config);
}

/// The origin privileged calls carry when a passed proposal enacts them. It is a module
/// account: nobody holds its key, and the executive refuses transactions signed as it, so the
/// only way to act as it is through the governance module's enactment.
pub fn governance_origin() -> AccountId {
    AccountId::module_account(b"py/gvrnc")
}

/// Fails unless `who` may make privileged calls: the governance origin (a passed proposal being
/// enacted), or the spec's `sudo` key on chains that have one (dev and local specs only).
pub fn ensure_governance(state: &impl State, who: &AccountId) -> Result<(), SystemError> {
    if *who == governance_origin() || config(state)?.sudo == Some(*who) {
        Ok(())
    } else {
        Err(SystemError::NotGovernance { caller: *who })
    }
}

/// The smallest fee a transaction of `encoded_len` bytes may carry.
pub fn required_fee(state: &impl State, encoded_len: usize) -> Result<Balance, SystemError> {
    Ok(fee_for(&config(state)?, encoded_len))
}

/// The smallest fee a transaction of `encoded_len` bytes may carry under `cfg`: the formula
/// the chain checks, for clients that price transactions before signing them.
pub fn fee_for(cfg: &RuntimeConfig, encoded_len: usize) -> Balance {
    let len = u128::try_from(encoded_len).unwrap_or(u128::MAX);
    cfg.tx_base_fee
        .saturating_add(cfg.tx_byte_fee.saturating_mul(len))
}

/// How a fee is covered: what the payer pays and what the fee-reduction quota mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSplit {
    /// Withdrawn from the payer.
    pub from_payer: Balance,
    /// Newly minted to cover the rest (benefits fee reduction).
    pub minted: Balance,
}

/// How many recent block hashes the runtime keeps (reference `BlockHashCount`).
pub const BLOCK_HASH_COUNT: u64 = 2400;

fn block_hash_key(height: BlockHeight) -> Vec<u8> {
    key(MODULE, "block_hash", &[&height.to_be_bytes()])
}

/// The hash of block `height`, if it is among the last [`BLOCK_HASH_COUNT`] blocks.
pub fn block_hash(
    state: &impl State,
    height: BlockHeight,
) -> Result<Option<[u8; 32]>, SystemError> {
    Ok(state.read(&block_hash_key(height))?)
}

pub(crate) fn now_key() -> Vec<u8> {
    key(MODULE, "now", &[])
}

/// The current block's timestamp in milliseconds since the Unix epoch (0 before the first
/// block): the chain's clock, agreed by consensus, never the local one.
pub fn now_ms(state: &impl State) -> Result<u64, SystemError> {
    Ok(state.read_or_default(&now_key())?)
}

/// The system's part of the start of block `block.height`: the chain's clock and the
/// parent's hash (kept for [`BLOCK_HASH_COUNT`] blocks).
pub(crate) fn on_initialize(
    state: &mut impl State,
    block: &BlockContext,
) -> Result<(), SystemError> {
    protocol::on_initialize(state, block.height)?;
    state.write(&now_key(), &block.timestamp_ms);
    if let Some(parent) = block.height.checked_sub(1) {
        state.write(&block_hash_key(parent), &block.parent_hash);
        if let Some(old) = parent.checked_sub(BLOCK_HASH_COUNT) {
            state.delete(&block_hash_key(old));
        }
    }
    Ok(())
}
