//! Governance calls: allowed code measurements, the attestation authorities, the SGX TCB
//! policy, and the switches in `SworkParams` (challenges, SRD policy, punishment).

use super::storage::{
    authorities_prefix, authority_key, code_expiry, code_key, params, params_key, sgx_policy_key,
};
use super::{CodeMeasurement, MAX_AUTHORITIES, SworkError, SworkEvent, dcap};
use crate::state::{State, StateExt};
use crate::{CallContext, Event, system};
use crust_primitives::{AccountId, BlockHeight};

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
