//! sWork's state keys, and the reads other modules (and light clients over `state_proof`) make
//! through them.

use super::{
    CodeMeasurement, EnclaveKey, Group, Identity, PubKeyInfo, SworkError, SworkParams,
    WorkReportRecord, dcap,
};
use crate::market::Anchor;
use crate::state::{State, StateExt, key};
use crate::system;
use crust_primitives::{AccountId, BlockHeight};

pub(super) const MODULE: &str = "swork";

pub(super) fn code_key(code: &CodeMeasurement) -> Vec<u8> {
    key(MODULE, "code", &[code])
}
/// The state key of an enclave key's `PubKeyInfo` (for light reads over `state_proof`).
pub fn pubkey_key(pk: &EnclaveKey) -> Vec<u8> {
    key(MODULE, "pubkey", &[pk])
}
/// The state key of an account's storage `Identity` (for light reads).
pub fn identity_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "identity", &[who.as_bytes()])
}
pub(crate) fn identities_prefix() -> Vec<u8> {
    key(MODULE, "identity", &[])
}
/// The state key of an anchor's last `WorkReportRecord` (for light reads over `state_proof`).
pub fn report_key(anchor: &Anchor) -> Vec<u8> {
    key(MODULE, "report", &[anchor])
}
pub(super) fn reported_key(anchor: &Anchor, slot: u64) -> Vec<u8> {
    key(MODULE, "reported", &[anchor, &slot.to_be_bytes()])
}
/// The state key of a `Group` by its owner (for light reads).
pub fn group_key(owner: &AccountId) -> Vec<u8> {
    key(MODULE, "group", &[owner.as_bytes()])
}
/// The state key of an account's `PeerRecord` (for light reads).
pub fn peer_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "peer", &[who.as_bytes()])
}
pub(super) fn authority_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "authority", &[who.as_bytes()])
}
pub(super) fn authorities_prefix() -> Vec<u8> {
    key(MODULE, "authority", &[])
}
/// The state key of the current `SworkParams` (for light reads).
pub fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}
pub(super) fn sgx_policy_key() -> Vec<u8> {
    key(MODULE, "sgx_policy", &[])
}

/// The TCB policy SGX quotes are checked against (D17b).
pub fn sgx_policy(state: &impl State) -> Result<dcap::SgxPolicy, SworkError> {
    Ok(state.read_or_default(&sgx_policy_key())?)
}

/// The current sWork parameters.
pub fn params(state: &impl State) -> Result<SworkParams, SworkError> {
    Ok(state.read_or_default(&params_key())?)
}

/// The expiry block of an allowed code.
pub fn code_expiry(
    state: &impl State,
    code: &CodeMeasurement,
) -> Result<Option<BlockHeight>, SworkError> {
    Ok(state.read(&code_key(code))?)
}

/// A registered enclave key.
pub fn pubkey(state: &impl State, pk: &EnclaveKey) -> Result<Option<PubKeyInfo>, SworkError> {
    Ok(state.read(&pubkey_key(pk))?)
}

/// An account's storage identity.
pub fn identity(state: &impl State, who: &AccountId) -> Result<Option<Identity>, SworkError> {
    Ok(state.read(&identity_key(who))?)
}

/// A worker's last accepted report.
pub fn work_report(
    state: &impl State,
    anchor: &Anchor,
) -> Result<Option<WorkReportRecord>, SworkError> {
    Ok(state.read(&report_key(anchor))?)
}

/// A group.
pub fn group(state: &impl State, owner: &AccountId) -> Result<Option<Group>, SworkError> {
    Ok(state.read(&group_key(owner))?)
}

/// Whether `anchor` had a report accepted for `slot`.
pub fn reported_in_slot(state: &impl State, anchor: &Anchor, slot: u64) -> bool {
    state.get(&reported_key(anchor, slot)).is_some()
}

/// The owner an account's workload and replicas count for: its group owner, or itself.
pub fn owner_of(state: &impl State, who: &AccountId) -> Result<AccountId, SworkError> {
    Ok(identity(state, who)?.and_then(|i| i.group).unwrap_or(*who))
}

/// The first block of the report slot containing `height`.
pub fn current_report_slot(state: &impl State, height: BlockHeight) -> Result<u64, SworkError> {
    let len = system::config(state)?.report_slot_blocks.max(1);
    Ok(height / len * len)
}

pub(crate) fn put_identity(state: &mut impl State, who: &AccountId, id: &Identity) {
    state.write(&identity_key(who), id);
}

pub(crate) fn forget_reported(state: &mut impl State, anchor: &Anchor, slot: u64) {
    state.delete(&reported_key(anchor, slot));
}
