//! Whether a web3 token's account may use the service now: only while its on-chain approval of
//! the service is live (not ended, something left to spend). The token itself is a signature
//! and never expires ([`crate::auth::web3_account`]); this is its expiry rule.
//!
//! The chain is asked through [`Approvals`] (`crust pin serve` reads the approval from its chain
//! node, the same node it places orders through); verdicts are kept briefly
//! ([`crate::verdicts`]): live ones for `recheck`, refusals for a fifth of it.

use crate::auth::AuthError;
use crate::verdicts::Verdicts;
use crust_primitives::AccountId;
use std::sync::Arc;

/// The chain's answer for a payer's approval of this service.
pub trait Approvals: Send + Sync + 'static {
    /// Whether `payer`'s approval of the service is live now; an error if the chain could not
    /// be read. Called off the async runtime (it may block).
    fn live(&self, payer: &AccountId) -> Result<bool, String>;
}

/// Web3 tokens' gate: the chain's answers with a short memory.
pub struct Web3Gate {
    approvals: Arc<dyn Approvals>,
    verdicts: Verdicts<bool>,
}

impl Web3Gate {
    /// A gate asking `approvals`, trusting a live verdict for `recheck_ms`.
    pub fn new(approvals: Arc<dyn Approvals>, recheck_ms: u64) -> Self {
        Self {
            approvals,
            verdicts: Verdicts::new(recheck_ms),
        }
    }

    /// Admits `who` if its approval of the service is live.
    pub async fn admit(&self, who: AccountId, now_ms: u64) -> Result<(), AuthError> {
        let live = match self.verdicts.get(&who, now_ms, |live| *live) {
            Some(live) => live,
            None => {
                let approvals = self.approvals.clone();
                let answer = tokio::task::spawn_blocking(move || approvals.live(&who))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                let live = match answer {
                    Ok(live) => live,
                    Err(e) => {
                        tracing::warn!(target: "crust::pinning", "reading {who}'s approval: {e}");
                        return Err(AuthError::Unavailable(
                            "the chain could not be read to check this web3 token; try again"
                                .into(),
                        ));
                    }
                };
                self.verdicts.put(who, live, now_ms);
                live
            }
        };
        if live {
            Ok(())
        } else {
            Err(AuthError::Unauthorized(format!(
                "web3 token of {}: the account has no live approval of this service on chain (a web3 token is honoured only while it lasts: crust pin approve)",
                who.to_ss58()
            )))
        }
    }
}
