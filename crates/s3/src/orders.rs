//! Storage orders for objects. Every object in a bucket with replicas gets a storage order for
//! its content, placed by the service and paid by the bucket owner's account through its
//! on-chain approval of the service (`market::ApproveOrderer`), followed on chain until the
//! bucket's replica count is proven, and renewed in the last quarter of its paid time for as
//! long as any object holds the content. When the last object holding it is deleted, its
//! order record goes in the same transaction: no renewal follows, and the paid time runs out.
//!
//! Records are per CID (two keys with the same bytes share one order; the first bucket's owner
//! pays). The content layer and the chain are ports ([`Prepare`], [`Ledger`]): the node gives
//! real ones (the IPFS daemon, the chain client); tests may give their own.

use crate::store::{OrderRecord, OrderState, Store, StoreError};
use crust_pinning::process::{OnChain, OrderError, Prepared};
use crust_primitives::{AccountId, Cid};

/// The content layer: sizes and commits to a DAG the daemon holds.
pub trait Prepare {
    /// The DAG's size (as storage nodes report it) and content commitment.
    fn prepare(&self, cid: &Cid) -> Result<Prepared, String>;
}

/// The chain.
pub trait Ledger {
    /// The finalized height and the chain's order duration (blocks an order pays for).
    fn head(&self) -> Result<(u64, u64), String>;
    /// Places (or renews) an order for `cid` paid by `payer`; the block that included it.
    fn place_order(
        &self,
        payer: &AccountId,
        cid: &Cid,
        prepared: &Prepared,
    ) -> Result<u64, OrderError>;
    /// The file on chain (`None`: no order, or it ended).
    fn file(&self, cid: &Cid) -> Result<Option<OnChain>, String>;
}

/// How the processor behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often a queued order whose placing failed for a passing reason is tried again.
    pub retry_ms: u64,
    /// How often an order the chain refused (no approval, funds short) is tried again: the
    /// account may approve or top up later.
    pub retry_refused_ms: u64,
    /// How often an order waiting for its replicas is read from the chain.
    pub recheck_pending_ms: u64,
    /// How often a stored object's order is read (replicas lost, renewal due).
    pub recheck_stored_ms: u64,
    /// Renew when at most this share (parts per 1 000) of the order duration is left.
    pub renew_at_permille: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retry_ms: 30_000,
            retry_refused_ms: 10 * 60_000,
            recheck_pending_ms: 3_000,
            recheck_stored_ms: 60_000,
            renew_at_permille: 250,
        }
    }
}

/// One pass over the orders that are due; returns how many changed.
pub fn step(
    store: &Store,
    content: &impl Prepare,
    chain: &impl Ledger,
    settings: &Settings,
    now_ms: u64,
) -> Result<usize, StoreError> {
    let due = store.orders_due(now_ms, 256)?;
    if due.is_empty() {
        return Ok(0);
    }
    let head = chain.head();
    let mut changed = 0;
    for (cid, before) in due {
        let mut r = before.clone();
        advance(&mut r, &cid, content, chain, &head, settings, now_ms);
        if r != before && store.update_order(&cid, &r)? {
            changed += 1;
        }
    }
    Ok(changed)
}

fn place(
    r: &mut OrderRecord,
    cid: &Cid,
    content: &impl Prepare,
    chain: &impl Ledger,
    settings: &Settings,
    now_ms: u64,
) -> bool {
    let prepared = match content.prepare(cid) {
        Ok(p) => p,
        Err(e) => {
            r.error = format!("sizing the content: {e}");
            r.next_check_ms = now_ms + settings.retry_ms;
            return false;
        }
    };
    match chain.place_order(&r.payer, cid, &prepared) {
        Ok(block) => {
            r.orders += 1;
            r.last_order_block = block;
            r.size = prepared.size;
            r.error.clear();
            true
        }
        Err(OrderError::Refused(reason)) => {
            r.state = OrderState::Refused;
            r.error = reason;
            r.next_check_ms = now_ms + settings.retry_refused_ms;
            false
        }
        Err(OrderError::Unavailable(reason)) => {
            r.error = reason;
            r.next_check_ms = now_ms + settings.retry_ms;
            false
        }
    }
}

fn advance(
    r: &mut OrderRecord,
    cid: &Cid,
    content: &impl Prepare,
    chain: &impl Ledger,
    head: &Result<(u64, u64), String>,
    settings: &Settings,
    now_ms: u64,
) {
    let (height, duration) = match head {
        Ok(h) => *h,
        Err(e) => {
            r.error = format!("the chain: {e}");
            r.next_check_ms = now_ms + settings.retry_ms;
            return;
        }
    };
    match r.state {
        OrderState::Queued | OrderState::Refused => {
            if place(r, cid, content, chain, settings, now_ms) {
                r.state = OrderState::Ordered;
                r.next_check_ms = now_ms + settings.recheck_pending_ms;
            }
        }
        OrderState::Ordered | OrderState::Stored => {
            let file = match chain.file(cid) {
                Ok(f) => f,
                Err(e) => {
                    r.error = format!("the chain: {e}");
                    r.next_check_ms = now_ms + settings.retry_ms;
                    return;
                }
            };
            let Some(file) = file else {
                // The order ended (never replicated and refunded, or expired): order again.
                r.state = OrderState::Queued;
                r.replicas = 0;
                r.expires_at = 0;
                r.next_check_ms = now_ms;
                return;
            };
            r.replicas = file.replicas as u32;
            r.expires_at = file.expires_at;
            r.error.clear();
            let renew_window = duration.saturating_mul(settings.renew_at_permille) / 1000;
            if file.expires_at != 0 && height.saturating_add(renew_window) >= file.expires_at {
                // Renewal: one more order extends the paid time from the current expiry.
                if place(r, cid, content, chain, settings, now_ms) {
                    r.renewals += 1;
                    r.next_check_ms = now_ms + settings.recheck_pending_ms;
                }
                return;
            }
            if r.replicas >= r.target {
                r.state = OrderState::Stored;
                r.next_check_ms = now_ms + settings.recheck_stored_ms;
            } else {
                r.state = OrderState::Ordered;
                r.next_check_ms = now_ms + settings.recheck_pending_ms;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BucketRecord, ObjectRecord, Precondition};
    use crust_primitives::commitment::ContentCommitment;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    struct Sized;
    impl Prepare for Sized {
        fn prepare(&self, _: &Cid) -> Result<Prepared, String> {
            Ok(Prepared {
                size: 100,
                commitment: ContentCommitment {
                    root: [1; 32],
                    size: 120,
                },
            })
        }
    }

    /// A chain in memory: files with replicas and expiry, a height the test moves, a payer
    /// with `budget` orders left, each order extending the expiry by the duration.
    #[derive(Default)]
    struct Chain {
        height: RefCell<u64>,
        files: RefCell<BTreeMap<Cid, (usize, u64)>>,
        budget: RefCell<u32>,
        placed: RefCell<u32>,
    }
    const DURATION: u64 = 1000;
    impl Ledger for Chain {
        fn head(&self) -> Result<(u64, u64), String> {
            Ok((*self.height.borrow(), DURATION))
        }
        fn place_order(&self, _: &AccountId, cid: &Cid, _: &Prepared) -> Result<u64, OrderError> {
            let mut budget = self.budget.borrow_mut();
            if *budget == 0 {
                return Err(OrderError::Refused(
                    "the account has not approved the service".into(),
                ));
            }
            *budget -= 1;
            *self.placed.borrow_mut() += 1;
            let h = *self.height.borrow();
            let mut files = self.files.borrow_mut();
            let f = files.entry(*cid).or_insert((0, 0));
            f.1 = if f.1 == 0 {
                h + DURATION
            } else {
                f.1 + DURATION
            };
            Ok(h)
        }
        fn file(&self, cid: &Cid) -> Result<Option<OnChain>, String> {
            Ok(self
                .files
                .borrow()
                .get(cid)
                .map(|(replicas, expires_at)| OnChain {
                    replicas: *replicas,
                    expires_at: *expires_at,
                    commitment: ContentCommitment {
                        root: [1; 32],
                        size: 120,
                    },
                    holders: Vec::new(),
                }))
        }
    }

    fn object(cid: Cid) -> ObjectRecord {
        ObjectRecord {
            cid,
            size: 1,
            tsize: 1,
            etag: "e".into(),
            modified_ms: 0,
            content_type: String::new(),
            headers: BTreeMap::new(),
            meta: BTreeMap::new(),
            parts: 0,
            part_sizes: Vec::new(),
            part_checksums: Vec::new(),
            checksum_type: None,
            checksum: None,
        }
    }

    #[test]
    fn objects_are_ordered_renewed_while_they_exist_and_then_left_to_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s3.redb")).unwrap();
        let owner = AccountId([7; 32]);
        let bucket = |replicas| BucketRecord {
            owner,
            created_ms: 0,
            replicas,
            location: String::new(),
        };
        store
            .create_bucket("ordered", &bucket(3), 10)
            .unwrap()
            .unwrap();
        store
            .create_bucket("local", &bucket(0), 10)
            .unwrap()
            .unwrap();
        let cid = crust_ipfs::block::cid_of(0x55, b"x", 1);
        let other = crust_ipfs::block::cid_of(0x55, b"y", 1);
        store
            .put_object("ordered", "a", &object(cid), &Precondition::default())
            .unwrap();
        store
            .put_object("ordered", "b", &object(cid), &Precondition::default())
            .unwrap();
        store
            .put_object("local", "c", &object(other), &Precondition::default())
            .unwrap();
        assert!(
            store.order(&other).unwrap().is_none(),
            "a bucket with 0 replicas orders nothing"
        );

        let chain = Chain::default();
        let s = Settings::default();
        let mut now = 1_000_000;
        // No approval yet: refused, with the chain's reason, and tried again later.
        assert_eq!(step(&store, &Sized, &chain, &s, now).unwrap(), 1);
        let r = store.order(&cid).unwrap().unwrap();
        assert_eq!(
            (r.state, r.error.as_str()),
            (
                OrderState::Refused,
                "the account has not approved the service"
            )
        );
        assert_eq!(
            step(&store, &Sized, &chain, &s, now + 1000).unwrap(),
            0,
            "not due yet"
        );
        *chain.budget.borrow_mut() = 10;
        now += s.retry_refused_ms;
        step(&store, &Sized, &chain, &s, now).unwrap();
        let r = store.order(&cid).unwrap().unwrap();
        assert_eq!(
            (r.state, r.orders, r.payer),
            (OrderState::Ordered, 1, owner)
        );
        // Replicas appear: stored once the bucket's count is proven.
        chain.files.borrow_mut().get_mut(&cid).unwrap().0 = 3;
        now += s.recheck_pending_ms;
        step(&store, &Sized, &chain, &s, now).unwrap();
        let r = store.order(&cid).unwrap().unwrap();
        assert_eq!(
            (r.state, r.replicas, r.expires_at),
            (OrderState::Stored, 3, 1000)
        );
        // Time passes: in the last quarter the order is renewed, once.
        *chain.height.borrow_mut() = 760;
        now += s.recheck_stored_ms;
        step(&store, &Sized, &chain, &s, now).unwrap();
        assert_eq!(*chain.placed.borrow(), 2);
        assert_eq!(chain.file(&cid).unwrap().unwrap().expires_at, 2000);
        for _ in 0..3 {
            now += s.recheck_stored_ms;
            step(&store, &Sized, &chain, &s, now).unwrap();
        }
        assert_eq!(*chain.placed.borrow(), 2, "renewed once per period");
        assert_eq!(store.order(&cid).unwrap().unwrap().renewals, 1);
        // Deleting one key keeps the order (the other still holds the content) …
        store.delete_object("ordered", "a").unwrap();
        assert!(store.order(&cid).unwrap().is_some());
        // … deleting the last one ends it: no renewal when the next period comes.
        store.delete_object("ordered", "b").unwrap();
        assert!(store.order(&cid).unwrap().is_none());
        *chain.height.borrow_mut() = 1900;
        now += s.recheck_stored_ms;
        assert_eq!(step(&store, &Sized, &chain, &s, now).unwrap(), 0);
        assert_eq!(*chain.placed.borrow(), 2);
    }
}
