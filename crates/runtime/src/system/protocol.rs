//! Protocol versions: the rules that change only at a height governance chose.
//!
//! A rule that every node must apply identically (a block limit, a market rule) is looked up
//! by the protocol version in effect at a height, never hard-coded: an upgrade is a governance
//! call ([`schedule_upgrade`]) naming the next version and the block it starts at, and every
//! node that knows that version switches exactly there. A node whose binary does not know the
//! version refuses to execute that block (the chain layer stops with a message saying which
//! release to install) instead of applying old rules and splitting from the network.

use super::{MODULE, SystemError, SystemEvent};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event};
use crust_primitives::BlockHeight;

/// The newest protocol version this runtime knows; [`rules`] answers for `1..=LATEST`.
pub const LATEST_PROTOCOL_VERSION: u32 = 3;

/// The least notice an upgrade gets: blocks between scheduling and activation, so operators
/// see it coming (the CLI and the RPC show scheduled upgrades).
pub const MIN_UPGRADE_NOTICE_BLOCKS: BlockHeight = 10;

/// The rules a protocol version fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolRules {
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// Most transaction bytes in one block.
    pub max_block_tx_bytes: usize,
    /// Report slots a file may stay without a replica before an order with another content
    /// commitment may replace its (presumed wrong) one.
    pub supersede_after_slots: u64,
    /// Whether the chain keeps its own history ([`crate::history`]): a record per report slot
    /// (fees, orders, proofs, proven storage) and each worker's challenge results.
    pub keeps_history: bool,
}

/// The rules of `version`, if this runtime knows it.
///
/// - **1**: the launch rules: 2 000 transactions and 4 MiB of them per block; an unreplicated
///   order's commitment may be superseded after 2 slots.
/// - **2**: 4 000 transactions per block (the same 4 MiB); a commitment no worker could store
///   may be superseded after 1 slot, so a file ordered with a wrong commitment is fixed sooner.
/// - **3**: version 2's rules, and the chain keeps its history: one record per report slot and
///   each storage worker's challenge results ([`crate::history`]), so charts over time and a
///   worker's track record are read (and proven) from state.
pub const fn rules(version: u32) -> Option<ProtocolRules> {
    match version {
        1 => Some(ProtocolRules {
            max_block_txs: 2_000,
            max_block_tx_bytes: 4 * 1024 * 1024,
            supersede_after_slots: 2,
            keeps_history: false,
        }),
        2 => Some(ProtocolRules {
            max_block_txs: 4_000,
            max_block_tx_bytes: 4 * 1024 * 1024,
            supersede_after_slots: 1,
            keeps_history: false,
        }),
        3 => Some(ProtocolRules {
            max_block_txs: 4_000,
            max_block_tx_bytes: 4 * 1024 * 1024,
            supersede_after_slots: 1,
            keeps_history: true,
        }),
        _ => None,
    }
}

/// The most transactions any known version allows in a block: the bound blocks are decoded
/// with.
pub const MAX_BLOCK_TXS_ANY_VERSION: usize = 4_000;

/// An upgrade waiting for its height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScheduledUpgrade {
    /// The version that takes effect.
    pub version: u32,
    /// The first block executed under it.
    pub at: BlockHeight,
}
crust_primitives::impl_codec_struct!(ScheduledUpgrade { version, at });

/// The state key of the version in effect.
pub fn version_key() -> Vec<u8> {
    key(MODULE, "protocol_version", &[])
}

/// The state key of the scheduled upgrade, if any.
pub fn scheduled_key() -> Vec<u8> {
    key(MODULE, "scheduled_upgrade", &[])
}

/// The protocol version in effect now (1 until an upgrade happened).
pub fn protocol_version(state: &impl State) -> Result<u32, SystemError> {
    Ok(state.read::<u32>(&version_key())?.unwrap_or(1))
}

/// The upgrade scheduled but not yet active, if any.
pub fn scheduled_upgrade(state: &impl State) -> Result<Option<ScheduledUpgrade>, SystemError> {
    Ok(state.read(&scheduled_key())?)
}

/// The version block `height` executes under, read from its parent's state: the scheduled
/// version from its activation height on, else the current one. The chain layer checks block
/// limits (and whether it knows the version at all) with this before executing a block.
pub fn version_at(state: &impl State, height: BlockHeight) -> Result<u32, SystemError> {
    match scheduled_upgrade(state)? {
        Some(up) if height >= up.at => Ok(up.version),
        _ => protocol_version(state),
    }
}

/// The rules in effect now. A state whose version this runtime does not know is refused (the
/// chain layer never executes such a block, so this only guards a corrupt state).
pub fn current_rules(state: &impl State) -> Result<ProtocolRules, SystemError> {
    let version = protocol_version(state)?;
    rules(version).ok_or(SystemError::UnknownProtocolVersion { version })
}

/// Governance: schedules `version` to take effect at block `at`. The version must be the next
/// one after the current (no skipping: every version's rules apply for at least one block) and
/// at least [`MIN_UPGRADE_NOTICE_BLOCKS`] ahead. A later call replaces the schedule.
///
/// A version this runtime does not know may be scheduled: the network can agree on an upgrade
/// before every node runs a binary that speaks it. What a binary does at that height is the
/// chain layer's concern (it refuses to go on).
pub fn schedule_upgrade(
    state: &mut impl State,
    ctx: &CallContext,
    version: u32,
    at: BlockHeight,
) -> Result<(), SystemError> {
    super::ensure_governance(state, &ctx.caller)?;
    let current = protocol_version(state)?;
    if Some(version) != current.checked_add(1) {
        return Err(SystemError::UpgradeNotNext { version, current });
    }
    let earliest = ctx.height.saturating_add(MIN_UPGRADE_NOTICE_BLOCKS);
    if at < earliest {
        return Err(SystemError::UpgradeTooSoon { at, earliest });
    }
    state.write(&scheduled_key(), &ScheduledUpgrade { version, at });
    state.emit(Event::System(SystemEvent::UpgradeScheduled { version, at }));
    Ok(())
}

/// Governance: drops the scheduled upgrade.
pub fn cancel_upgrade(state: &mut impl State, ctx: &CallContext) -> Result<(), SystemError> {
    super::ensure_governance(state, &ctx.caller)?;
    let up = scheduled_upgrade(state)?.ok_or(SystemError::NoUpgradeScheduled)?;
    state.delete(&scheduled_key());
    state.emit(Event::System(SystemEvent::UpgradeCancelled {
        version: up.version,
        at: up.at,
    }));
    Ok(())
}

/// Genesis: the chain starts under `version` (one this runtime knows).
pub(crate) fn set_genesis_version(state: &mut impl State, version: u32) -> Result<(), SystemError> {
    if rules(version).is_none() {
        return Err(SystemError::UnknownProtocolVersion { version });
    }
    if version != 1 {
        state.write(&version_key(), &version);
    }
    Ok(())
}

/// At the start of block `height`: a scheduled upgrade due now takes effect.
pub(crate) fn on_initialize(
    state: &mut impl State,
    height: BlockHeight,
) -> Result<(), SystemError> {
    if let Some(up) = scheduled_upgrade(state)?
        && height >= up.at
    {
        state.write(&version_key(), &up.version);
        state.delete(&scheduled_key());
        state.emit(Event::System(SystemEvent::ProtocolUpgraded {
            version: up.version,
            height,
        }));
    }
    Ok(())
}
