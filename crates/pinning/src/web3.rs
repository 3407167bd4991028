//! Whether a web3 token's account may use the service now: only while its on-chain approval of
//! the service is live (not ended, something left to spend). The token itself is a signature
//! and never expires ([`crate::auth::web3_account`]); this is its expiry rule.
//!
//! The chain is asked through [`Approvals`] (`crust pin serve` reads the approval from its chain
//! node, the same node it places orders through); verdicts are cached briefly so a busy client does not cost a chain read a
//! request: live ones for `recheck`, refusals for a fifth of it.

use crate::auth::AuthError;
use crust_primitives::AccountId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The chain's answer for a payer's approval of this service.
pub trait Approvals: Send + Sync + 'static {
    /// Whether `payer`'s approval of the service is live now; an error if the chain could not
    /// be read. Called off the async runtime (it may block).
    fn live(&self, payer: &AccountId) -> Result<bool, String>;
}

/// Most accounts whose verdicts are kept (the cache starts over when full).
const MAX_CACHED: usize = 10_000;

/// Web3 tokens' gate: the chain's answers with a short memory.
pub struct Web3Gate {
    approvals: Arc<dyn Approvals>,
    recheck_ms: u64,
    verdicts: Mutex<HashMap<AccountId, (bool, u64)>>,
}

impl Web3Gate {
    /// A gate asking `approvals`, trusting a live verdict for `recheck_ms`.
    pub fn new(approvals: Arc<dyn Approvals>, recheck_ms: u64) -> Self {
        Self {
            approvals,
            recheck_ms,
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, who: &AccountId, now_ms: u64) -> Option<bool> {
        let verdicts = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        let (live, at) = *verdicts.get(who)?;
        let ttl = if live {
            self.recheck_ms
        } else {
            self.recheck_ms / 5
        };
        (now_ms.saturating_sub(at) < ttl).then_some(live)
    }

    /// Admits `who` if its approval of the service is live.
    pub async fn admit(&self, who: AccountId, now_ms: u64) -> Result<(), AuthError> {
        let live = match self.cached(&who, now_ms) {
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
                let mut verdicts = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
                if verdicts.len() >= MAX_CACHED {
                    verdicts.clear();
                }
                verdicts.insert(who, (live, now_ms));
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
