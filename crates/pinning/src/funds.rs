//! Whether an account can pay for another order, asked before a pin request is taken (`POST
//! /pins`, `POST /pins/{requestid}`, uploads). A request its account cannot pay for now is
//! answered at once with `409 INSUFFICIENT_FUNDS`, as the Pinning Service API specifies, instead
//! of being accepted and failing later. What this cannot see — orders already queued that will
//! spend the approval first — still ends a request `failed` with the chain's reason when its
//! order is refused (`process`); nothing is charged for it.
//!
//! The chain is asked through [`Funds`] (`crust pin serve` reads the account's approval of the
//! service, its balance and the market's prices from its chain node); verdicts are kept briefly
//! ([`crate::verdicts`]). If the chain cannot be read the request is taken (the order, placed
//! later, is checked by the chain anyway).

use crate::api::ApiError;
use crate::verdicts::Verdicts;
use axum::http::StatusCode;
use crust_primitives::AccountId;
use std::sync::Arc;

/// The chain's answer for whether a payer can pay for the smallest order now.
pub trait Funds: Send + Sync + 'static {
    /// Why `payer` cannot pay for even the smallest order now (`None`: it can); an error if the
    /// chain could not be read. Called off the async runtime (it may block).
    fn shortfall(&self, payer: &AccountId) -> Result<Option<String>, String>;
}

/// The check in front of every new pin request.
pub struct FundsGate {
    funds: Arc<dyn Funds>,
    verdicts: Verdicts<Option<String>>,
}

impl FundsGate {
    /// A gate asking `funds`, trusting a "can pay" verdict for `recheck_ms`.
    pub fn new(funds: Arc<dyn Funds>, recheck_ms: u64) -> Self {
        Self {
            funds,
            verdicts: Verdicts::new(recheck_ms),
        }
    }

    /// `Ok` if `who` can pay for an order now (or the chain could not say); `409
    /// INSUFFICIENT_FUNDS` with the reason otherwise.
    pub async fn check(&self, who: AccountId, now_ms: u64) -> Result<(), ApiError> {
        let verdict = match self.verdicts.get(&who, now_ms, Option::is_none) {
            Some(v) => v,
            None => {
                let funds = self.funds.clone();
                let answer = tokio::task::spawn_blocking(move || funds.shortfall(&who))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                match answer {
                    Ok(v) => {
                        self.verdicts.put(who, v.clone(), now_ms);
                        v
                    }
                    Err(e) => {
                        tracing::warn!(target: "crust::pinning", "reading {who}'s funds: {e}");
                        None
                    }
                }
            }
        };
        match verdict {
            None => Ok(()),
            Some(why) => Err(insufficient(why)),
        }
    }
}

/// The spec's answer for a request its account cannot pay for.
pub(crate) fn insufficient(why: String) -> ApiError {
    ApiError(StatusCode::CONFLICT, "INSUFFICIENT_FUNDS", why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting(AtomicU32, Option<String>);
    impl Funds for Counting {
        fn shortfall(&self, _: &AccountId) -> Result<Option<String>, String> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(self.1.clone())
        }
    }

    #[tokio::test]
    async fn a_payer_that_cannot_pay_is_refused_with_the_reason_and_verdicts_are_kept() {
        let short = Arc::new(Counting(AtomicU32::new(0), Some("approval spent".into())));
        let gate = FundsGate::new(short.clone(), 1000);
        let who = AccountId([1; 32]);
        let e = gate.check(who, 5_000).await.err().map(|e| (e.0, e.1, e.2));
        assert_eq!(
            e,
            Some((
                StatusCode::CONFLICT,
                "INSUFFICIENT_FUNDS",
                "approval spent".into()
            ))
        );
        assert!(gate.check(who, 5_100).await.is_err());
        assert_eq!(short.0.load(Ordering::Relaxed), 1, "kept for a fifth");
        assert!(gate.check(who, 5_300).await.is_err());
        assert_eq!(short.0.load(Ordering::Relaxed), 2, "read again after");
        let fine = Arc::new(Counting(AtomicU32::new(0), None));
        let gate = FundsGate::new(fine.clone(), 1000);
        assert!(gate.check(who, 0).await.is_ok());
        assert!(gate.check(who, 900).await.is_ok());
        assert_eq!(fine.0.load(Ordering::Relaxed), 1);
    }
}
