//! sWork: storage identities, attestation, work reports, groups, punishment, and the slot-end
//! workload that caps validators' stakes (`docs/reference.md` M6, decisions D13–D19).
//!
//! A storage worker registers an ed25519 enclave key with an attestation (D17), then reports
//! once per slot: its spare sealed space (SRD), its file bytes, Merkle roots over both (D13),
//! the files added and deleted since its last accepted report, and that report's hash (D14).
//! Accepted file changes are queued and applied to the market in bounded batches each block
//! (D3, D5): replicas, payouts and spower are derived on chain, never by a privileged account.
//! At each slot end, every identity's workload (`free + spower`) is summed per owner across
//! as many blocks as it takes; an identity that missed its report counts zero for
//! `punishment_slots` slots.
//!
//! This module holds the calls ([`SworkCall`]) and their [`dispatch`]; each call family lives
//! in its own submodule: `register` (enclave keys and attestation), `report` (work reports),
//! `prove` (first proofs of pending replicas), `challenge` (storage challenges), `groups`,
//! `peers` (peer records), `governance` (codes, authorities, parameters), with the state keys
//! and reads in `storage` and the per-block work in `hooks`. Everything public is re-exported
//! here, so `swork::…` paths name every item.

pub mod challenge;
#[cfg(test)]
mod challenge_tests;
#[cfg(test)]
mod cheat_tests;
pub mod dcap;
#[cfg(test)]
mod dcap_accept_tests;
#[cfg(test)]
mod dcap_tests;
mod governance;
mod groups;
mod hooks;
mod peers;
mod prove;
mod register;
mod report;
mod storage;
#[cfg(test)]
mod test_intel;
#[cfg(test)]
mod tests;
mod types;

pub use governance::{
    clear_expired_code, set_authorities, set_challenges, set_code, set_punishment, set_sgx_policy,
    set_srd_policy,
};
pub use groups::{
    add_member_into_allowlist, create_group, join_group, kick_out, quit_group,
    remove_member_from_allowlist,
};
pub use hooks::{consolidation, on_initialize, queued_replicas, workload};
pub use peers::{peer, peer_binding_payload, peers, set_peer};
pub use prove::{prove_deadline, prove_replicas};
pub use register::{register, registration_payload};
pub use report::{report_hash, report_payload, report_works};
pub use storage::{
    code_expiry, current_report_slot, group, group_key, identity, identity_key, owner_of, params,
    params_key, peer_key, pubkey, pubkey_key, report_key, reported_in_slot, sgx_policy,
    work_report,
};
pub(crate) use storage::{forget_reported, identities_prefix, put_identity};
pub use types::*;

use crate::CallContext;
use crate::market::Anchor;
use crate::state::State;
use crust_primitives::codec::max_items;
use crust_primitives::{AccountId, BlockHeight, Signature};

/// The sWork calls a signed transaction can make.
// `ReportWorks` (a report with its challenge answers) is the largest by far; see `Call`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SworkCall {
    /// Governance: allow `code` until `expire_block`.
    SetCode {
        /// Code measurement.
        code: CodeMeasurement,
        /// Expiry block.
        expire_block: BlockHeight,
    },
    /// Remove an expired code (anyone).
    ClearExpiredCode {
        /// Code measurement.
        code: CodeMeasurement,
    },
    /// Register an enclave key for the caller.
    Register {
        /// The enclave's code measurement.
        code: CodeMeasurement,
        /// The enclave's ed25519 key.
        enclave_key: EnclaveKey,
        /// The enclave's signature over the registration payload (proof of possession).
        enclave_sig: Signature,
        /// Proof the key belongs to genuine, allowed code.
        attestation: Attestation,
    },
    /// Report works for the current slot.
    ReportWorks {
        /// The report.
        report: WorkReport,
        /// The enclave's signature over [`report_payload`].
        signature: Signature,
        /// Answers to this slot's storage challenges on the previous report (D18).
        answers: Vec<challenge::ChallengeAnswer>,
        /// Answers to this slot's SRD challenges on the previous report (D18).
        srd_answers: Vec<challenge::SrdAnswer>,
    },
    /// Create a group owned by the caller.
    CreateGroup {},
    /// Allow `target` to join the caller's group.
    AddMemberIntoAllowlist {
        /// Account.
        target: AccountId,
    },
    /// Disallow `target`.
    RemoveMemberFromAllowlist {
        /// Account.
        target: AccountId,
    },
    /// Join `owner`'s group.
    JoinGroup {
        /// Group owner.
        owner: AccountId,
    },
    /// Leave the caller's group.
    QuitGroup {},
    /// Remove `member` from the caller's group.
    KickOut {
        /// Member.
        member: AccountId,
    },
    /// Governance: switch punishment for missed reports.
    SetPunishment {
        /// New value.
        enabled: bool,
    },
    /// Governance: replace the attestation authority set and threshold (D17a).
    SetAuthorities {
        /// Authority keys.
        authorities: Vec<AccountId>,
        /// Distinct signatures required (1..=len).
        threshold: u32,
    },
    /// Governance: set the TCB policy for SGX quotes (D17b).
    SetSgxPolicy {
        /// The new policy.
        policy: dcap::SgxPolicy,
    },
    /// Governance: switch storage challenges (D18).
    SetChallenges {
        /// New value.
        enabled: bool,
    },
    /// Governance: which attestation kinds' SRD counts toward stake limits (D31).
    SetSrdPolicy {
        /// SRD of authority-attested workers counts.
        authorities: bool,
        /// SRD of DCAP-attested workers counts.
        dcap: bool,
    },
    /// Prove pending replicas of the caller's identity for the first time (D30): each proof is
    /// the content pieces [`challenge::pending_pieces`] names; a proven replica starts earning.
    ProveReplicas {
        /// Up to [`challenge::PROVE_BATCH`] proofs.
        proofs: Vec<challenge::PendingProof>,
    },
    /// Announce where the caller's storage identity serves its replicas (an empty record
    /// withdraws it).
    SetPeer {
        /// The record.
        record: PeerRecord,
        /// The peer key's signature over [`peer_binding_payload`] (ignored for an empty record):
        /// nobody can claim another node's peer ID.
        signature: Signature,
    },
}
crust_primitives::impl_codec_enum!(SworkCall {
    0 => SetCode { code, expire_block },
    1 => ClearExpiredCode { code },
    2 => Register { code, enclave_key, enclave_sig, attestation },
    3 => ReportWorks { report, signature, answers: max_items(challenge::FILE_CHALLENGES as usize), srd_answers: max_items(challenge::SRD_CHALLENGES as usize) },
    4 => CreateGroup {},
    5 => AddMemberIntoAllowlist { target },
    6 => RemoveMemberFromAllowlist { target },
    7 => JoinGroup { owner },
    8 => QuitGroup {},
    9 => KickOut { member },
    10 => SetPunishment { enabled },
    11 => SetAuthorities { authorities: max_items(MAX_AUTHORITIES), threshold },
    12 => SetSgxPolicy { policy },
    13 => SetChallenges { enabled },
    14 => SetPeer { record, signature },
    15 => ProveReplicas { proofs: max_items(challenge::PROVE_BATCH) },
    16 => SetSrdPolicy { authorities, dcap },
});

/// Executes an sWork call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &SworkCall,
) -> Result<(), SworkError> {
    match call {
        SworkCall::SetCode { code, expire_block } => set_code(state, ctx, code, *expire_block),
        SworkCall::ClearExpiredCode { code } => clear_expired_code(state, ctx, code),
        SworkCall::Register {
            code,
            enclave_key,
            enclave_sig,
            attestation,
        } => register(state, ctx, code, enclave_key, enclave_sig, attestation),
        SworkCall::ReportWorks {
            report,
            signature,
            answers,
            srd_answers,
        } => report_works(state, ctx, report, signature, answers, srd_answers),
        SworkCall::CreateGroup {} => create_group(state, ctx),
        SworkCall::AddMemberIntoAllowlist { target } => {
            add_member_into_allowlist(state, ctx, target)
        }
        SworkCall::RemoveMemberFromAllowlist { target } => {
            remove_member_from_allowlist(state, ctx, target)
        }
        SworkCall::JoinGroup { owner } => join_group(state, ctx, owner),
        SworkCall::QuitGroup {} => quit_group(state, ctx),
        SworkCall::KickOut { member } => kick_out(state, ctx, member),
        SworkCall::SetPunishment { enabled } => set_punishment(state, ctx, *enabled),
        SworkCall::SetAuthorities {
            authorities,
            threshold,
        } => set_authorities(state, ctx, authorities, *threshold),
        SworkCall::SetSgxPolicy { policy } => set_sgx_policy(state, ctx, policy),
        SworkCall::SetChallenges { enabled } => set_challenges(state, ctx, *enabled),
        SworkCall::SetPeer { record, signature } => set_peer(state, ctx, record, signature),
        SworkCall::ProveReplicas { proofs } => prove_replicas(state, ctx, proofs),
        SworkCall::SetSrdPolicy { authorities, dcap } => {
            set_srd_policy(state, ctx, *authorities, *dcap)
        }
    }
}
