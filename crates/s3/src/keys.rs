//! Access keys. An account makes, lists and revokes its keys with requests it signs
//! (`crust s3 key create|list|revoke`), so the service never holds the account's own key; each
//! access key is bound to the account that signed for it, which owns the buckets it makes and
//! pays (through its on-chain approval of the service) for what it stores. The service keeps
//! each key's secret, since SigV4 checks signatures with it (S3 does the same).

use crate::store::{KeyRecord, Store, StoreError};
use crust_primitives::account::to_hex;
use crust_primitives::{AccountId, signed};
use serde::{Deserialize, Serialize};

/// Access key ids start with this (20 characters in all, as AWS's).
pub const KEY_PREFIX: &str = "CRST";
pub use crust_primitives::signed::MAX_CLOCK_SKEW_MS;
/// Longest key label.
pub const MAX_LABEL: usize = 64;
/// Most keys an account may hold.
pub const MAX_KEYS: usize = 100;

/// A key-management request, signed by the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedRequest {
    /// The account.
    pub account: AccountId,
    /// `create`, `list` or `revoke`.
    pub action: String,
    /// The key's label (empty for `list`).
    #[serde(default)]
    pub label: String,
    /// When it was signed (ms since the UNIX epoch).
    pub timestamp_ms: u64,
    /// The account's signature over [`signed_message`] (0x-hex).
    pub signature: String,
}

/// What the account signs, bound to this service (its ordering account) so a signature for
/// one service is no use at another, and distinct from every other message the node signs.
pub fn signed_message(
    service: &AccountId,
    action: &str,
    label: &str,
    timestamp_ms: u64,
) -> Vec<u8> {
    format!(
        "crust s3 access key\nservice: {}\naction: {action}\nlabel: {label}\ntime: {timestamp_ms}",
        service.to_ss58()
    )
    .into_bytes()
}

/// Signs a key-management request (the CLI's side).
pub fn sign_request(
    keypair: &crust_primitives::Keypair,
    service: &AccountId,
    action: &str,
    label: &str,
    timestamp_ms: u64,
) -> SignedRequest {
    let signature = keypair.sign(&signed_message(service, action, label, timestamp_ms));
    SignedRequest {
        account: keypair.public(),
        action: action.to_owned(),
        label: label.to_owned(),
        timestamp_ms,
        signature: format!("0x{}", to_hex(&signature.0)),
    }
}

/// Why a key request is refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The signature or time is wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The label is taken, or too many keys.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a signed request's signature and time; returns the account.
pub fn verify(
    service: &AccountId,
    req: &SignedRequest,
    now_ms: u64,
) -> Result<AccountId, KeyError> {
    let message = signed_message(service, &req.action, &req.label, req.timestamp_ms);
    signed::check(
        &req.account,
        &message,
        &req.signature,
        req.timestamp_ms,
        now_ms,
    )
    .map_err(|why| match why {
        signed::Refused::Malformed => KeyError::BadRequest(why.message().into()),
        _ => KeyError::Unauthorized(why.message().into()),
    })?;
    Ok(req.account)
}

fn random_chars(n: usize, alphabet: &[u8]) -> Result<String, KeyError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::BadRequest(e.to_string()))?;
    // 256 is a multiple of both alphabets' sizes (32 and 64): no bias.
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

/// Makes a key for a verified `create` request; returns (access key id, secret), the secret
/// shown once to the account.
pub fn create_key(
    store: &Store,
    account: &AccountId,
    label: &str,
    now_ms: u64,
) -> Result<(String, String), KeyError> {
    let label = label.trim();
    if label.is_empty()
        || label.len() > MAX_LABEL
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(KeyError::BadRequest(format!(
            "a label is 1–{MAX_LABEL} characters of letters, digits and -_.@"
        )));
    }
    if store.keys_of(account)?.len() >= MAX_KEYS {
        return Err(KeyError::Conflict(format!(
            "an account holds at most {MAX_KEYS} keys; revoke one first"
        )));
    }
    let id = format!(
        "{KEY_PREFIX}{}",
        random_chars(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")?
    );
    let secret = random_chars(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    )?;
    let record = KeyRecord {
        secret: secret.clone(),
        account: *account,
        label: label.to_owned(),
        created_ms: now_ms,
    };
    if !store.add_key(&id, &record)? {
        return Err(KeyError::Conflict(format!(
            "the account already has a key labelled '{label}'"
        )));
    }
    Ok((id, secret))
}
