//! Requests an account signs for a service (making access keys or tokens): an ed25519
//! signature over a message the service defines, checked within a clock window so a captured
//! request cannot be replayed later. The S3 service and the pinning service share this check.

use crate::account::from_hex;
use crate::{AccountId, Signature};

/// How far a signed request's time may be from the service's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Why a signed request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its time is more than [`MAX_CLOCK_SKEW_MS`] from the service's clock.
    Stale,
    /// The signature is not 64 bytes of hex (a malformed request, not a wrong one).
    Malformed,
    /// The signature does not verify under the account.
    WrongSignature,
}

impl Refused {
    /// What to tell the caller.
    pub fn message(self) -> &'static str {
        match self {
            Self::Stale => "the request's time is more than 5 minutes from the service's clock",
            Self::Malformed => "signature must be 64 bytes of hex",
            Self::WrongSignature => "the signature does not match the account",
        }
    }
}

/// Checks that `account` signed `message` (`signature_hex`) at `timestamp_ms`, within
/// [`MAX_CLOCK_SKEW_MS`] of `now_ms`.
pub fn check(
    account: &AccountId,
    message: &[u8],
    signature_hex: &str,
    timestamp_ms: u64,
    now_ms: u64,
) -> Result<(), Refused> {
    if timestamp_ms.abs_diff(now_ms) > MAX_CLOCK_SKEW_MS {
        return Err(Refused::Stale);
    }
    let sig = from_hex(signature_hex)
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or(Refused::Malformed)?;
    if account.verify(message, &Signature(sig)) {
        Ok(())
    } else {
        Err(Refused::WrongSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use crate::account::to_hex;

    #[test]
    fn a_fresh_signature_by_the_account_passes_and_nothing_else_does() {
        let alice = Keypair::from_suri("//Alice").unwrap_or_else(|_| unreachable!());
        let sig = to_hex(&alice.sign(b"make a key").0);
        let now = 1_000_000_000;
        assert_eq!(
            check(&alice.public(), b"make a key", &sig, now, now),
            Ok(())
        );
        assert_eq!(
            check(
                &alice.public(),
                b"make a key",
                &sig,
                now - MAX_CLOCK_SKEW_MS - 1,
                now
            ),
            Err(Refused::Stale)
        );
        assert_eq!(
            check(&alice.public(), b"make another", &sig, now, now),
            Err(Refused::WrongSignature)
        );
        assert_eq!(
            check(&alice.public(), b"make a key", "0x1234", now, now),
            Err(Refused::Malformed)
        );
        assert_eq!(
            check(&alice.public(), b"make a key", "not hex", now, now),
            Err(Refused::Malformed)
        );
    }
}
