//! Registration: an enclave key proven to run allowed code, by the attestation authorities'
//! signatures or an SGX DCAP quote (D17).

use super::storage::{authority_key, code_expiry, group, params, pubkey_key, sgx_policy};
use super::{
    Attestation, AttestationKind, CodeMeasurement, EnclaveKey, PubKeyInfo, SworkError, SworkEvent,
    dcap,
};
use crate::state::{State, StateExt};
use crate::{CallContext, Event, system};
use crust_primitives::{AccountId, Signature};
use sha2::{Digest, Sha256};

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
