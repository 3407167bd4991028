//! Who is asking. Pin requests carry `Authorization: Bearer <token>`; a token belongs to one
//! account and sees and pays for only that account's pins. Tokens are made, listed and revoked
//! by requests the account signs (`crust pin token create|list|revoke`), so the service never
//! holds the account's key; it keeps only each token's SHA-256. A token stops working at its
//! expiry (90 days unless asked otherwise, at most 365), so a leaked one does not live forever.
//!
//! The reference network's web3 tokens are taken too: `Bearer base64("sub-<address>:<0x
//! signature>")`, the account's signature over its own address (as wallets sign it, raw or
//! wrapped in `<Bytes>…</Bytes>`). Such a token is a signature and never expires by itself, so
//! here it is honoured only while the account's on-chain approval of this service is live (not
//! ended, something left to spend): revoking the approval (`crust pin approve --cap 0`) ends
//! every web3 token of the account at once. See [`web3_account`] and `crate::api::Approvals`.

use crate::store::{Store, StoreError, TokenRecord};
use crust_primitives::account::{from_hex, to_hex};
use crust_primitives::{AccountId, Signature, signed};
use serde::{Deserialize, Serialize};

/// Tokens start with this, so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "crustpin_";
/// How long a token lives when the request names no expiry.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The longest a token may live.
pub const MAX_TOKEN_DAYS: u32 = 365;
pub use crust_primitives::signed::MAX_CLOCK_SKEW_MS;
/// Longest token label.
pub const MAX_LABEL: usize = 64;
/// Most tokens an account may hold.
pub const MAX_TOKENS: usize = 100;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A token-management request, signed by the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedRequest {
    /// The account (SS58 or 0x-hex).
    pub account: AccountId,
    /// `create`, `list` or `revoke`.
    pub action: String,
    /// The token's label (empty for `list`).
    #[serde(default)]
    pub label: String,
    /// For `create`: days until the token expires.
    #[serde(default)]
    pub days: Option<u32>,
    /// When it was signed (ms since the UNIX epoch).
    pub timestamp_ms: u64,
    /// The account's signature over [`signed_message`] (0x-hex).
    pub signature: String,
}

/// What the account signs: the action, label, days and time, bound to this service (its
/// ordering account), so a signature for one service is no use at another.
pub fn signed_message(
    service: &AccountId,
    action: &str,
    label: &str,
    days: Option<u32>,
    timestamp_ms: u64,
) -> Vec<u8> {
    format!(
        "crust pinning token\nservice: {}\naction: {action}\nlabel: {label}\ndays: {}\ntime: {timestamp_ms}",
        service.to_ss58(),
        days.map_or_else(String::new, |d| d.to_string())
    )
    .into_bytes()
}

/// Signs a token-management request (the CLI's side).
pub fn sign_request(
    keypair: &crust_primitives::Keypair,
    service: &AccountId,
    action: &str,
    label: &str,
    days: Option<u32>,
    timestamp_ms: u64,
) -> SignedRequest {
    let signature = keypair.sign(&signed_message(service, action, label, days, timestamp_ms));
    SignedRequest {
        account: keypair.public(),
        action: action.to_owned(),
        label: label.to_owned(),
        days,
        timestamp_ms,
        signature: format!("0x{}", to_hex(&signature.0)),
    }
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No usable credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The label is taken.
    #[error("{0}")]
    Conflict(String),
    /// What the check needs (the chain) cannot be reached now.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a signed request's signature and time; returns the account.
pub fn verify(
    service: &AccountId,
    req: &SignedRequest,
    now_ms: u64,
) -> Result<AccountId, AuthError> {
    let message = signed_message(service, &req.action, &req.label, req.days, req.timestamp_ms);
    signed::check(
        &req.account,
        &message,
        &req.signature,
        req.timestamp_ms,
        now_ms,
    )
    .map_err(|why| match why {
        signed::Refused::Malformed => AuthError::BadRequest(why.message().into()),
        _ => AuthError::Unauthorized(why.message().into()),
    })?;
    Ok(req.account)
}

/// Makes a token for a verified `create` request; returns it (shown once, never stored).
pub fn create_token(
    store: &Store,
    account: &AccountId,
    req: &SignedRequest,
    now_ms: u64,
) -> Result<(String, TokenRecord), AuthError> {
    let label = req.label.trim();
    if label.is_empty()
        || label.len() > MAX_LABEL
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(AuthError::BadRequest(format!(
            "a label is 1–{MAX_LABEL} characters of letters, digits and -_.@"
        )));
    }
    let days = req.days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if days == 0 || days > MAX_TOKEN_DAYS {
        return Err(AuthError::BadRequest(format!(
            "a token lives 1–{MAX_TOKEN_DAYS} days"
        )));
    }
    if store.tokens(account)?.len() >= MAX_TOKENS {
        return Err(AuthError::Conflict(format!(
            "an account holds at most {MAX_TOKENS} tokens; revoke one first"
        )));
    }
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).map_err(|e| AuthError::BadRequest(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", bs58::encode(secret).into_string());
    let record = TokenRecord {
        account: *account,
        label: label.to_owned(),
        created_ms: now_ms,
        expires_ms: now_ms.saturating_add(u64::from(days) * DAY_MS),
    };
    if !store.add_token(&token, &record)? {
        return Err(AuthError::Conflict(format!(
            "this account already has a token labelled '{label}'"
        )));
    }
    Ok((token, record))
}

/// The token in an `Authorization: Bearer <token>` header.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let Some(value) = header else {
        return Err(AuthError::Unauthorized(
            "no access token: send Authorization: Bearer <token>".into(),
        ));
    };
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .ok_or_else(|| {
            AuthError::Unauthorized("the Authorization header is not Bearer <token>".into())
        })
}

/// The account a service-made bearer token stands for.
pub fn bearer(store: &Store, header: Option<&str>, now_ms: u64) -> Result<AccountId, AuthError> {
    let token = bearer_token(header)?;
    let Some(record) = store.token(token)? else {
        return Err(AuthError::Unauthorized(
            "unknown or revoked access token".into(),
        ));
    };
    if record.expires_ms <= now_ms {
        return Err(AuthError::Unauthorized(format!(
            "the access token '{}' expired at {}",
            record.label,
            crate::time::rfc3339_ms(record.expires_ms)
        )));
    }
    Ok(record.account)
}

/// What a web3 token starts with, once decoded.
const WEB3_PREFIX: &str = "sub-";

/// Makes the reference network's web3 token for `keypair`: its signature over its own SS58
/// address, as `base64("sub-<address>:0x<signature>")`.
pub fn web3_token(keypair: &crust_primitives::Keypair) -> String {
    use base64::Engine as _;
    let address = keypair.public().to_ss58();
    let signature = keypair.sign(address.as_bytes());
    base64::engine::general_purpose::STANDARD
        .encode(format!("{WEB3_PREFIX}{address}:0x{}", to_hex(&signature.0)))
}

/// The account a web3 token is signed by, checked: `Ok(None)` if `token` is not shaped like
/// one (base64 of `sub-<address>:<signature>`), an error if it is but does not verify. The
/// signature may be over the address itself or over `<Bytes><address></Bytes>` (what browser
/// wallets sign for raw data). Whether the account may use it now is the caller's question
/// (its on-chain approval of the service).
pub fn web3_account(token: &str) -> Result<Option<AccountId>, AuthError> {
    use base64::Engine as _;
    if token.starts_with(TOKEN_PREFIX) || token.len() > 512 {
        return Ok(None);
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let Some(decoded) = engines.iter().find_map(|e| e.decode(token).ok()) else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return Ok(None);
    };
    let Some((address, signature)) = text
        .strip_prefix(WEB3_PREFIX)
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return Ok(None);
    };
    let bad = |why: &str| AuthError::Unauthorized(format!("web3 token: {why}"));
    let account = AccountId::from_ss58(address)
        .or_else(|_| address.parse::<AccountId>())
        .map_err(|_| bad("the subject is not an account address"))?;
    let signature = from_hex(signature)
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(Signature)
        .ok_or_else(|| bad("the signature is not 64 bytes of hex"))?;
    let wrapped = format!("<Bytes>{address}</Bytes>");
    if account.verify(address.as_bytes(), &signature)
        || account.verify(wrapped.as_bytes(), &signature)
    {
        Ok(Some(account))
    } else {
        Err(bad("the signature is not the account's over its address"))
    }
}
