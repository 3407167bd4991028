//! Work reports: the checks a report must pass (D13, D14, D16, D18), the binding of a first
//! report and A/B upgrades, and the replica changes queued for the market.

use super::storage::{
    code_expiry, current_report_slot, group, identity, identity_key, owner_of, params, pubkey,
    pubkey_key, report_key, reported_key, work_report,
};
use super::{
    EnclaveKey, FILES_COUNT_LIMIT, FILES_LIMIT, Identity, NEW_IDENTITY, QueuedReplica, Root,
    SRD_LIMIT, SworkError, SworkEvent, WorkReport, WorkReportRecord, challenge, hooks,
};
use crate::market::Anchor;
use crate::state::{State, StateExt};
use crate::{CallContext, Event, system};
use crust_primitives::codec;
use crust_primitives::{AccountId, Signature};
use sha2::{Digest, Sha256};

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
    let mut answered = (0, 0);
    if let Some(prev) = &previous {
        check_files_transition(prev, report)?;
        // 10b. Storage challenges on what the previous report committed to (D18).
        if params(state)?.challenges {
            answered = (answers.len() as u64, srd_answers.len() as u64);
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
    crate::history::note_report(state, &anchor, answered.0, answered.1)?;
    state.emit(Event::Swork(SworkEvent::WorksReportSuccess {
        who: ctx.caller,
        pk: report.curr_pk,
        slot: report.slot,
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
