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
mod hooks;
#[cfg(test)]
mod test_intel;
#[cfg(test)]
mod tests;
mod types;

pub use hooks::{consolidation, on_initialize, queued_replicas, workload};
pub use types::*;

use crate::market::{self, Anchor};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, system};
use crust_primitives::codec::{self, max_items};
use crust_primitives::{AccountId, BlockHeight, Signature};
use sha2::{Digest, Sha256};

const MODULE: &str = "swork";

// ---- storage ------------------------------------------------------------------------------

fn code_key(code: &CodeMeasurement) -> Vec<u8> {
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
fn reported_key(anchor: &Anchor, slot: u64) -> Vec<u8> {
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
fn authority_key(who: &AccountId) -> Vec<u8> {
    key(MODULE, "authority", &[who.as_bytes()])
}
fn authorities_prefix() -> Vec<u8> {
    key(MODULE, "authority", &[])
}
/// The state key of the current `SworkParams` (for light reads).
pub fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}
fn sgx_policy_key() -> Vec<u8> {
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

/// The exact bytes an enclave signs for a work report.
pub fn report_payload(report: &WorkReport) -> Vec<u8> {
    let mut payload = b"crust/work-report/v1".to_vec();
    payload.extend_from_slice(&codec::encode(report));
    payload
}

/// A report's hash: SHA-256 of its encoding; the next report names it (D14).
pub fn report_hash(report: &WorkReport) -> Root {
    Sha256::digest(codec::encode(report)).into()
}

/// The exact bytes authorities and the enclave sign to register `enclave_key` for `applier`.
pub fn registration_payload(
    code: &CodeMeasurement,
    applier: &AccountId,
    enclave_key: &EnclaveKey,
) -> Vec<u8> {
    let mut payload = b"crust/attest/v1".to_vec();
    payload.extend_from_slice(code);
    payload.extend_from_slice(applier.as_bytes());
    payload.extend_from_slice(enclave_key);
    payload
}

// ---- calls ----------------------------------------------------------------------------------

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

/// Governance: allows `code` until `expire_block`.
pub fn set_code(
    state: &mut impl State,
    ctx: &CallContext,
    code: &CodeMeasurement,
    expire_block: BlockHeight,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    state.write(&code_key(code), &expire_block);
    state.emit(Event::Swork(SworkEvent::SetCodeSuccess {
        code: *code,
        expire_block,
    }));
    Ok(())
}

/// Removes a code whose expiry has passed; a missing code is a no-op as in the reference.
pub fn clear_expired_code(
    state: &mut impl State,
    ctx: &CallContext,
    code: &CodeMeasurement,
) -> Result<(), SworkError> {
    let Some(expire) = code_expiry(state, code)? else {
        return Ok(());
    };
    if expire >= ctx.height {
        return Err(SworkError::CodeNotExpired);
    }
    state.delete(&code_key(code));
    state.emit(Event::Swork(SworkEvent::RemoveCodeSuccess { code: *code }));
    Ok(())
}

/// Governance: replaces the attestation authorities; the threshold must be 1..=len (D17a:
/// never satisfiable with zero signatures).
pub fn set_authorities(
    state: &mut impl State,
    ctx: &CallContext,
    authorities: &[AccountId],
    threshold: u32,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut sorted = authorities.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != authorities.len() {
        return Err(SworkError::AuthoritySet("duplicate authority"));
    }
    let count = u32::try_from(sorted.len()).unwrap_or(u32::MAX);
    if threshold == 0 || threshold > count {
        return Err(SworkError::AuthoritySet(
            "threshold must be between 1 and the number of authorities",
        ));
    }
    for (k, _) in state.scan(&authorities_prefix(), None, MAX_AUTHORITIES * 2) {
        state.delete(&k);
    }
    for a in &sorted {
        state.write(&authority_key(a), &true);
    }
    let mut p = params(state)?;
    p.authority_threshold = threshold;
    state.write(&params_key(), &p);
    state.emit(Event::Swork(SworkEvent::AuthoritiesChanged {
        count,
        threshold,
    }));
    Ok(())
}

/// Governance: switches storage challenges (D18) on or off.
pub fn set_challenges(
    state: &mut impl State,
    ctx: &CallContext,
    enabled: bool,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut p = params(state)?;
    p.challenges = enabled;
    state.write(&params_key(), &p);
    Ok(())
}

/// Governance: which attestation kinds' SRD counts toward stake limits (D31).
pub fn set_srd_policy(
    state: &mut impl State,
    ctx: &CallContext,
    authorities: bool,
    dcap: bool,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut p = params(state)?;
    p.srd_counts_authorities = authorities;
    p.srd_counts_dcap = dcap;
    state.write(&params_key(), &p);
    Ok(())
}

/// Governance: sets the TCB policy for SGX quotes; a policy accepting no status is refused.
pub fn set_sgx_policy(
    state: &mut impl State,
    ctx: &CallContext,
    policy: &dcap::SgxPolicy,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    if policy.accepted_statuses == 0 {
        return Err(SworkError::SgxPolicy(
            "it must accept at least one TCB status",
        ));
    }
    state.write(&sgx_policy_key(), policy);
    Ok(())
}

/// Checks an attestation for `enclave_key` running `code` for `applier`.
fn verify_attestation(
    state: &impl State,
    code: &CodeMeasurement,
    applier: &AccountId,
    enclave_key: &EnclaveKey,
    attestation: &Attestation,
) -> Result<(), SworkError> {
    match attestation {
        Attestation::Authorities { signatures } => {
            let threshold = params(state)?.authority_threshold.max(1);
            let payload = registration_payload(code, applier, enclave_key);
            let mut seen: Vec<AccountId> = Vec::new();
            for (authority, sig) in signatures {
                if seen.contains(authority) {
                    return Err(SworkError::AttestationRejected(
                        "an authority signed twice".into(),
                    ));
                }
                if state.get(&authority_key(authority)).is_none() {
                    return Err(SworkError::AttestationRejected(format!(
                        "{authority} is not an attestation authority"
                    )));
                }
                if !authority.verify(&payload, sig) {
                    return Err(SworkError::AttestationRejected(format!(
                        "bad signature from authority {authority}"
                    )));
                }
                seen.push(*authority);
            }
            if (seen.len() as u64) < u64::from(threshold) {
                return Err(SworkError::AttestationRejected(format!(
                    "{} authority signatures, {threshold} required",
                    seen.len()
                )));
            }
            Ok(())
        }
        Attestation::SgxDcap { quote, collateral } => {
            let now_secs = system::now_ms(state)? / 1000;
            let binding: [u8; 32] =
                Sha256::digest(registration_payload(code, applier, enclave_key)).into();
            dcap::verify(
                quote,
                collateral,
                now_secs,
                &sgx_policy(state)?,
                code,
                &binding,
            )
            .map_err(SworkError::AttestationRejected)
        }
    }
}

/// Registers an enclave key for the caller.
pub fn register(
    state: &mut impl State,
    ctx: &CallContext,
    code: &CodeMeasurement,
    enclave_key: &EnclaveKey,
    enclave_sig: &Signature,
    attestation: &Attestation,
) -> Result<(), SworkError> {
    if group(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupOwnerForbidden);
    }
    match code_expiry(state, code)? {
        Some(expire) if expire > ctx.height => {}
        _ => {
            return Err(SworkError::AttestationRejected(
                "code measurement is not on the allowlist".into(),
            ));
        }
    }
    let payload = registration_payload(code, &ctx.caller, enclave_key);
    if !AccountId(*enclave_key).verify(&payload, enclave_sig) {
        return Err(SworkError::AttestationRejected(
            "enclave signature does not match the key".into(),
        ));
    }
    verify_attestation(state, code, &ctx.caller, enclave_key, attestation)?;
    let kind = match attestation {
        Attestation::Authorities { .. } => AttestationKind::Authorities {},
        Attestation::SgxDcap { .. } => AttestationKind::SgxDcap {},
    };
    state.write(
        &pubkey_key(enclave_key),
        &PubKeyInfo {
            code: *code,
            anchor: None,
            kind,
        },
    );
    state.emit(Event::Swork(SworkEvent::RegisterSuccess {
        who: ctx.caller,
        pk: *enclave_key,
    }));
    Ok(())
}

/// Accepts a work report (see the module docs), or returns why not.
pub fn report_works(
    state: &mut impl State,
    ctx: &CallContext,
    report: &WorkReport,
    signature: &Signature,
    answers: &[challenge::ChallengeAnswer],
    srd_answers: &[challenge::SrdAnswer],
) -> Result<(), SworkError> {
    // 1. Ranges (list lengths are bounded by the codec).
    if report.srd_size >= SRD_LIMIT {
        return Err(SworkError::IllegalWorkReport(
            "SRD size must be below 2 PiB",
        ));
    }
    if report.files_size >= FILES_LIMIT {
        return Err(SworkError::IllegalWorkReport(
            "files size must be below 8 PiB",
        ));
    }
    if report.added.len() > FILES_COUNT_LIMIT || report.deleted.len() > FILES_COUNT_LIMIT {
        return Err(SworkError::IllegalWorkReport(
            "at most 300 added and 300 deleted files",
        ));
    }
    // 2–4. Registered key, not a group owner, code still allowed for this slot.
    let pk_info = pubkey(state, &report.curr_pk)?.ok_or(SworkError::IllegalReporter)?;
    if group(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupOwnerForbidden);
    }
    match code_expiry(state, &pk_info.code)? {
        Some(expire) if report.slot < expire => {}
        _ => return Err(SworkError::OutdatedReporter),
    }
    let hash = report_hash(report);
    let existing_identity = identity(state, &ctx.caller)?;
    // 5–6. Scenario; normal reports must come from the anchor's own identity; resends are no-ops.
    let anchor = match (pk_info.anchor, report.ab_upgrade_pk) {
        (Some(anchor), _) => {
            if existing_identity.as_ref().map(|i| i.anchor) != Some(anchor) {
                return Err(SworkError::IllegalReporter);
            }
            if let Some(accepted) = state.read::<Root>(&reported_key(&anchor, report.slot))? {
                return if accepted == hash {
                    Ok(()) // D14: the same report again changes nothing
                } else {
                    Err(SworkError::AlreadyReportedInSlot { slot: report.slot })
                };
            }
            Some(anchor)
        }
        (None, _) => None,
    };
    // 7. Timing (D16: only the current slot, no special case).
    let current = current_report_slot(state, ctx.height)?;
    let expected_hash = system::block_hash(state, report.slot)?;
    if report.slot != current || expected_hash != Some(report.slot_hash) {
        return Err(SworkError::InvalidReportTime {
            slot: report.slot,
            current,
        });
    }
    // 8. Signature.
    if !AccountId(report.curr_pk).verify(&report_payload(report), signature) {
        return Err(SworkError::IllegalWorkReportSig);
    }
    // 9–10. Transition and binding.
    let anchor = match anchor {
        Some(anchor) => anchor,
        None => match report.ab_upgrade_pk {
            Some(old_pk) => ab_upgrade(state, ctx, report, &old_pk, existing_identity.as_ref())?,
            None => bind_first_report(state, ctx, report, existing_identity)?,
        },
    };
    let previous = work_report(state, &anchor)?;
    let expected_prev = previous.as_ref().map_or([0u8; 32], |r| r.report_hash);
    if report.prev_report_hash != expected_prev {
        return Err(SworkError::PreviousReportMismatch {
            expected: crust_primitives::account::to_hex(&expected_prev),
        });
    }
    let mut files_count = report.added.len() as u64;
    if let Some(prev) = &previous {
        check_files_transition(prev, report)?;
        // 10b. Storage challenges on what the previous report committed to (D18).
        if params(state)?.challenges {
            challenge::verify(state, prev, &report.slot_hash, &anchor, answers)?;
            challenge::verify_srd(
                prev,
                report.srd_size,
                &report.slot_hash,
                &anchor,
                srd_answers,
            )?;
        }
        files_count = files_count.saturating_add(prev.files_count);
    }
    let Some(files_count) = files_count.checked_sub(report.deleted.len() as u64) else {
        return Err(SworkError::IllegalWorkReport(
            "deletes more files than the identity holds",
        ));
    };
    // 11. Record the report.
    state.write(&reported_key(&anchor, report.slot), &hash);
    state.write(
        &report_key(&anchor),
        &WorkReportRecord {
            report_slot: report.slot,
            free: report.srd_size,
            reported_files_size: report.files_size,
            srd_root: report.srd_root,
            files_root: report.files_root,
            report_hash: hash,
            files_count,
        },
    );
    // 12. Queue the replica changes for the market (applied in bounded batches per block).
    let owner = owner_of(state, &ctx.caller)?;
    for (files, added) in [(&report.added, true), (&report.deleted, false)] {
        for f in files {
            hooks::enqueue(
                state,
                &QueuedReplica {
                    cid: f.cid,
                    size: f.size,
                    reporter: ctx.caller,
                    owner,
                    anchor,
                    report_block: ctx.height,
                    added,
                },
            )?;
        }
    }
    state.emit(Event::Swork(SworkEvent::WorksReportSuccess {
        who: ctx.caller,
        pk: report.curr_pk,
        slot: report.slot,
    }));
    Ok(())
}

/// The last block a replica recorded at `since` may be proven in: one report slot later (at
/// least 10 blocks), and never beyond the block hashes the chain keeps (the challenge's seed).
pub fn prove_deadline(state: &impl State, since: BlockHeight) -> Result<BlockHeight, SworkError> {
    let window = system::config(state)?
        .report_slot_blocks
        .clamp(10, system::BLOCK_HASH_COUNT - 1);
    Ok(since.saturating_add(window))
}

/// Proves pending replicas of the caller's identity (D30). Every proof must pass, or the call
/// changes nothing; a replica that cannot join its file any more (closed, full, or its owner
/// got another copy proven first) is dropped. Replicas stay pending (and earn nothing) until
/// proven; the chain drops them at their deadline.
pub fn prove_replicas(
    state: &mut impl State,
    ctx: &CallContext,
    proofs: &[challenge::PendingProof],
) -> Result<(), SworkError> {
    let id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    let owner = id.group.unwrap_or(ctx.caller);
    if proofs.is_empty() || proofs.len() > challenge::PROVE_BATCH {
        return Err(SworkError::IllegalProof {
            proof: 0,
            why: "between 1 and PROVE_BATCH proofs per call",
        });
    }
    for (n, p) in proofs.iter().enumerate() {
        let fail = |why| SworkError::IllegalProof {
            proof: n as u64,
            why,
        };
        let Some(market::index::AnchorEntry::Pending {
            since,
            who,
            deadline,
            ..
        }) = market::index::entry(state, &id.anchor, &p.cid, &owner)?
        else {
            return Err(fail("no pending replica of this file"));
        };
        if who != ctx.caller {
            return Err(fail("another account reported this replica"));
        }
        if ctx.height > deadline {
            return Err(fail("too late: the replica's proving deadline passed"));
        }
        // The seed is the hash of the block that recorded the replica, known from the next one.
        let Some(seed) = system::block_hash(state, since)? else {
            return Err(fail("too early: the seed block is not final yet"));
        };
        let Some(file) = market::file(state, &p.cid)? else {
            return Err(fail("the file has no order"));
        };
        let asked = challenge::pending_pieces(&seed, &id.anchor, &p.cid, file.commitment.pieces());
        if asked.is_empty() || asked.len() != p.content.len() {
            return Err(fail("wrong number of content pieces"));
        }
        for (index, piece) in asked.into_iter().zip(&p.content) {
            challenge::check_content(&file.commitment, index, piece).map_err(fail)?;
        }
        market::prove_pending(state, ctx.height, &id.anchor, &p.cid, &owner)?;
    }
    state.emit(Event::Swork(SworkEvent::ReplicasProven {
        who: ctx.caller,
        count: proofs.len() as u32,
    }));
    Ok(())
}

fn check_files_transition(prev: &WorkReportRecord, report: &WorkReport) -> Result<(), SworkError> {
    let added: u64 = report
        .added
        .iter()
        .fold(0u64, |a, f| a.saturating_add(f.size));
    let deleted: u64 = report
        .deleted
        .iter()
        .fold(0u64, |a, f| a.saturating_add(f.size));
    let ok = if added == 0 && deleted == 0 {
        report.files_root == prev.files_root && report.files_size == prev.reported_files_size
    } else {
        prev.reported_files_size
            .saturating_add(added)
            .saturating_sub(deleted)
            == report.files_size
    };
    if ok {
        Ok(())
    } else {
        Err(SworkError::IllegalFilesTransition {
            previous: prev.reported_files_size,
            added,
            deleted,
            reported: report.files_size,
        })
    }
}

/// The first report of a key binds it as the reporter's anchor. A reporter that already had an
/// identity (a re-registered worker) starts over: its old report is dropped and its old
/// replicas are purged in the background so they stop counting.
fn bind_first_report(
    state: &mut impl State,
    ctx: &CallContext,
    report: &WorkReport,
    existing: Option<Identity>,
) -> Result<Anchor, SworkError> {
    let anchor = report.curr_pk;
    let group = match existing {
        Some(old) => {
            if old.anchor != anchor {
                state.delete(&report_key(&old.anchor));
                hooks::schedule_purge(state, &old.anchor, None);
            }
            old.group
        }
        None => None,
    };
    let mut info = pubkey(state, &report.curr_pk)?.ok_or(SworkError::IllegalReporter)?;
    state.write(
        &identity_key(&ctx.caller),
        &Identity {
            anchor,
            punishment_deadline: NEW_IDENTITY,
            group,
            attestation: info.kind,
        },
    );
    info.anchor = Some(anchor);
    state.write(&pubkey_key(&report.curr_pk), &info);
    Ok(anchor)
}

/// Moves the anchor of `old_pk` to the reporting key. Unlike the reference, the reporter must
/// own that anchor.
fn ab_upgrade(
    state: &mut impl State,
    ctx: &CallContext,
    report: &WorkReport,
    old_pk: &EnclaveKey,
    identity: Option<&Identity>,
) -> Result<Anchor, SworkError> {
    let old = pubkey(state, old_pk)?.ok_or(SworkError::AbUpgradeFailed(
        "previous key is not registered",
    ))?;
    let anchor = old
        .anchor
        .ok_or(SworkError::AbUpgradeFailed("previous key never reported"))?;
    if identity.map(|i| i.anchor) != Some(anchor) {
        return Err(SworkError::AbUpgradeFailed(
            "the previous key's anchor belongs to another account",
        ));
    }
    let prev = work_report(state, &anchor)?.ok_or(SworkError::AbUpgradeFailed(
        "previous key has no work report",
    ))?;
    if !report.added.is_empty() || !report.deleted.is_empty() {
        return Err(SworkError::AbUpgradeFailed(
            "an upgrade report cannot add or delete files",
        ));
    }
    if report.srd_root != prev.srd_root || report.files_root != prev.files_root {
        return Err(SworkError::AbUpgradeFailed(
            "roots differ from the previous report",
        ));
    }
    let mut info = pubkey(state, &report.curr_pk)?.ok_or(SworkError::IllegalReporter)?;
    info.anchor = Some(anchor);
    state.write(&pubkey_key(&report.curr_pk), &info);
    state.delete(&pubkey_key(old_pk));
    // The identity now reports with the new key: its attestation is what counts (D31).
    if let Some(mut id) = identity.cloned() {
        id.attestation = info.kind;
        state.write(&identity_key(&ctx.caller), &id);
    }
    state.emit(Event::Swork(SworkEvent::AbUpgradeSuccess {
        who: ctx.caller,
        old_pk: *old_pk,
        new_pk: report.curr_pk,
    }));
    Ok(anchor)
}

/// What a peer key signs to bind its peer ID and addresses to a storage account: a node
/// vouches for where it can be dialed, so an account cannot point others at a false address
/// under a real node's name.
pub fn peer_binding_payload(who: &AccountId, record: &PeerRecord) -> Vec<u8> {
    [
        b"crust/swork/peer/v2".as_slice(),
        who.as_bytes(),
        &codec::encode(record),
    ]
    .concat()
}

/// Records where the caller's storage identity serves its replicas. The caller must have
/// reported works (only identities hold replicas); the peer ID must be an ed25519 peer ID
/// (base58 `12D3Koo…`) whose key signed [`peer_binding_payload`], and each address a
/// `/`-separated multiaddr in printable ASCII. An empty record removes it.
pub fn set_peer(
    state: &mut impl State,
    ctx: &CallContext,
    record: &PeerRecord,
    signature: &Signature,
) -> Result<(), SworkError> {
    if identity(state, &ctx.caller)?.is_none() {
        return Err(SworkError::IdentityNotExist);
    }
    if record.peer_id.is_empty() {
        if !record.addrs.is_empty() {
            return Err(SworkError::IllegalPeer("addresses without a peer ID"));
        }
        state.delete(&peer_key(&ctx.caller));
    } else {
        let Some(key) = AccountId::from_peer_id(&record.peer_id) else {
            return Err(SworkError::IllegalPeer("not an ed25519 peer ID in base58"));
        };
        if !key.verify(&peer_binding_payload(&ctx.caller, record), signature) {
            return Err(SworkError::IllegalPeer(
                "the peer key did not sign this account",
            ));
        }
        let printable = |a: &Vec<u8>| a.iter().all(|b| b.is_ascii_graphic());
        if !record
            .addrs
            .iter()
            .all(|a| a.len() > 1 && a.first() == Some(&b'/') && printable(a))
        {
            return Err(SworkError::IllegalPeer("address is not a multiaddr"));
        }
        state.write(&peer_key(&ctx.caller), record);
    }
    state.emit(Event::Swork(SworkEvent::PeerSet { who: ctx.caller }));
    Ok(())
}

/// Where `who` serves its replicas, if it said.
pub fn peer(state: &impl State, who: &AccountId) -> Result<Option<PeerRecord>, SworkError> {
    Ok(state.read(&peer_key(who))?)
}

/// Up to `limit` peer records of accounts after `after`, in account order.
pub fn peers(
    state: &impl State,
    after: Option<&AccountId>,
    limit: usize,
) -> Result<Vec<(AccountId, PeerRecord)>, SworkError> {
    let prefix = key(MODULE, "peer", &[]);
    let after = after.map(|a| [prefix.as_slice(), a.as_bytes()].concat());
    Ok(state.scan_decoded(&prefix, after.as_deref(), limit)?)
}

/// Creates a group owned by the caller, who must never have reported works.
pub fn create_group(state: &mut impl State, ctx: &CallContext) -> Result<(), SworkError> {
    if identity(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupOwnerForbidden);
    }
    if group(state, &ctx.caller)?.is_some() {
        return Err(SworkError::GroupAlreadyExist);
    }
    state.write(&group_key(&ctx.caller), &Group::default());
    state.emit(Event::Swork(SworkEvent::CreateGroupSuccess {
        owner: ctx.caller,
    }));
    Ok(())
}

/// Allows `target` to join the caller's group.
pub fn add_member_into_allowlist(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, &ctx.caller)?.ok_or(SworkError::NotOwner(ctx.caller))?;
    if identity(state, target)?.is_some_and(|i| i.group.is_some()) {
        return Err(SworkError::AlreadyJoint);
    }
    if let Err(pos) = g.allowlist.binary_search(target) {
        if g.allowlist.len() >= MAX_GROUP_SIZE {
            return Err(SworkError::ExceedAllowlistLimit {
                max: MAX_GROUP_SIZE,
            });
        }
        g.allowlist.insert(pos, *target);
    }
    state.write(&group_key(&ctx.caller), &g);
    state.emit(Event::Swork(SworkEvent::AddIntoAllowlistSuccess {
        owner: ctx.caller,
        who: *target,
    }));
    Ok(())
}

/// Removes `target` from the caller's allowlist.
pub fn remove_member_from_allowlist(
    state: &mut impl State,
    ctx: &CallContext,
    target: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, &ctx.caller)?.ok_or(SworkError::NotOwner(ctx.caller))?;
    g.allowlist.retain(|a| a != target);
    state.write(&group_key(&ctx.caller), &g);
    state.emit(Event::Swork(SworkEvent::RemoveFromAllowlistSuccess {
        owner: ctx.caller,
        who: *target,
    }));
    Ok(())
}

/// Joins `owner`'s group. The caller must have an identity with no spower (D19).
pub fn join_group(
    state: &mut impl State,
    ctx: &CallContext,
    owner: &AccountId,
) -> Result<(), SworkError> {
    let mut id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    if id.group.is_some() {
        return Err(SworkError::AlreadyJoint);
    }
    let mut g = group(state, owner)?.ok_or(SworkError::NotOwner(*owner))?;
    if g.members.len() >= MAX_GROUP_SIZE {
        return Err(SworkError::ExceedGroupLimit {
            max: MAX_GROUP_SIZE,
        });
    }
    let Ok(pos) = g.allowlist.binary_search(&ctx.caller) else {
        return Err(SworkError::NotInAllowlist);
    };
    let spower = market::anchor_spower(state, &id.anchor)?;
    if spower > 0 {
        return Err(SworkError::IllegalSpower { spower });
    }
    g.allowlist.remove(pos);
    if let Err(pos) = g.members.binary_search(&ctx.caller) {
        g.members.insert(pos, ctx.caller);
    }
    state.write(&group_key(owner), &g);
    id.group = Some(*owner);
    state.write(&identity_key(&ctx.caller), &id);
    state.emit(Event::Swork(SworkEvent::JoinGroupSuccess {
        member: ctx.caller,
        owner: *owner,
    }));
    Ok(())
}

/// Leaves the caller's group; the worker's file record resets so it re-adds its files under
/// its own account, and the replicas it held for the group are purged in the background.
pub fn quit_group(state: &mut impl State, ctx: &CallContext) -> Result<(), SworkError> {
    let id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    let owner = id.group.ok_or(SworkError::NotJoint)?;
    leave_group(state, &ctx.caller, id, &owner)?;
    state.emit(Event::Swork(SworkEvent::QuitGroupSuccess {
        member: ctx.caller,
        owner,
    }));
    Ok(())
}

/// Removes `member` from the caller's group, with the same reset as quitting (D19).
pub fn kick_out(
    state: &mut impl State,
    ctx: &CallContext,
    member: &AccountId,
) -> Result<(), SworkError> {
    if group(state, &ctx.caller)?.is_none() {
        return Err(SworkError::NotOwner(ctx.caller));
    }
    let id = identity(state, member)?.ok_or(SworkError::IdentityNotExist)?;
    if id.group != Some(ctx.caller) {
        return Err(SworkError::NotJoint);
    }
    leave_group(state, member, id, &ctx.caller)?;
    state.emit(Event::Swork(SworkEvent::KickOutSuccess { member: *member }));
    Ok(())
}

fn leave_group(
    state: &mut impl State,
    member: &AccountId,
    mut id: Identity,
    owner: &AccountId,
) -> Result<(), SworkError> {
    let mut g = group(state, owner)?.ok_or(SworkError::NotJoint)?;
    g.members.retain(|m| m != member);
    state.write(&group_key(owner), &g);
    id.group = None;
    state.write(&identity_key(member), &id);
    if let Some(mut wr) = work_report(state, &id.anchor)? {
        wr.reported_files_size = 0;
        wr.files_root = [0; 32];
        wr.files_count = 0;
        state.write(&report_key(&id.anchor), &wr);
    }
    hooks::schedule_purge(state, &id.anchor, Some(owner));
    Ok(())
}

/// Governance: switches punishment for missed reports.
pub fn set_punishment(
    state: &mut impl State,
    ctx: &CallContext,
    enabled: bool,
) -> Result<(), SworkError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut p = params(state)?;
    p.enable_punishment = enabled;
    state.write(&params_key(), &p);
    state.emit(Event::Swork(SworkEvent::SetPunishmentSuccess { enabled }));
    Ok(())
}

pub(crate) fn put_identity(state: &mut impl State, who: &AccountId, id: &Identity) {
    state.write(&identity_key(who), id);
}

pub(crate) fn forget_reported(state: &mut impl State, anchor: &Anchor, slot: u64) {
    state.delete(&reported_key(anchor, slot));
}
