//! A short memory of the chain's verdicts per account, so a busy client does not cost a chain
//! read per request: a good verdict is trusted for `ttl`, a bad one for a fifth of it (so an
//! approval or a top-up the user just made shows soon).

use crust_primitives::AccountId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most accounts whose verdicts are kept (the memory starts over when full).
const MAX_KEPT: usize = 10_000;

/// Verdicts of type `V` by account, each with the time it was read.
pub struct Verdicts<V> {
    ttl_ms: u64,
    kept: Mutex<HashMap<AccountId, (V, u64)>>,
}

impl<V: Clone> Verdicts<V> {
    /// An empty memory trusting good verdicts for `ttl_ms`.
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// `who`'s verdict if still trusted at `now_ms`; `good` tells a good verdict from a bad one.
    pub fn get(&self, who: &AccountId, now_ms: u64, good: impl Fn(&V) -> bool) -> Option<V> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (verdict, at) = kept.get(who)?;
        let ttl = if good(verdict) {
            self.ttl_ms
        } else {
            self.ttl_ms / 5
        };
        (now_ms.saturating_sub(*at) < ttl).then(|| verdict.clone())
    }

    /// Remembers `who`'s verdict read at `now_ms`.
    pub fn put(&self, who: AccountId, verdict: V, now_ms: u64) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(who, (verdict, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_verdicts_last_longer_than_bad_ones() {
        let v = Verdicts::new(1000);
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        v.put(a, true, 10_000);
        v.put(b, false, 10_000);
        let good = |x: &bool| *x;
        assert_eq!(v.get(&a, 10_999, good), Some(true));
        assert_eq!(v.get(&a, 11_000, good), None);
        assert_eq!(v.get(&b, 10_199, good), Some(false));
        assert_eq!(v.get(&b, 10_200, good), None);
        assert_eq!(v.get(&AccountId([3; 32]), 10_000, good), None);
    }
}
