//! Moving pin requests along. A `queued` request's content is fetched and committed to (D29),
//! then a storage order is placed for the token's account — signed by the service, paid by the
//! account through its on-chain approval of the service (`market::ApproveOrderer`), so the
//! service holds no key of the account and can spend no more than it allowed. The request is
//! then `pinning` until the chain holds at least [`Settings::replicas`] proven replicas, then
//! `pinned`; its `delegates` become the storage nodes holding them. The content layer and the
//! chain are ports ([`Content`], [`Chain`]): the node gives real ones, tests may give their own.

use crate::model::Status;
use crate::store::{PinRecord, Store, StoreError};
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{AccountId, Cid};

/// How the processor behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Proven replicas for `pinned`.
    pub replicas: usize,
    /// How long a request may wait for its content before it fails.
    pub give_up_after_ms: u64,
    /// How often a `queued` request whose content could not be fetched is tried again.
    pub retry_queued_ms: u64,
    /// How often a `pinning` request's replicas are read from the chain.
    pub recheck_pinning_ms: u64,
    /// How often a `pinned` request is checked (replicas lost, order ended).
    pub recheck_pinned_ms: u64,
    /// How long the service keeps content that was uploaded to it while its replicas are not
    /// yet proven; past it the service's copy is released (the order stays).
    pub keep_uploads_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            replicas: 3,
            give_up_after_ms: 24 * 60 * 60 * 1000,
            retry_queued_ms: 30_000,
            recheck_pinning_ms: 3_000,
            recheck_pinned_ms: 60_000,
            keep_uploads_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// When each request is due to be looked at again (by request id; kept in memory: after a
/// restart everything is looked at once).
pub type Schedule = std::collections::BTreeMap<String, u64>;

/// A DAG ready to be ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// Its size as storage nodes will report it.
    pub size: u64,
    /// Its content commitment.
    pub commitment: ContentCommitment,
}

/// The content layer: fetches a DAG (from its origins and the network) and commits to it.
pub trait Content {
    /// The DAG under `cid`, fetched and kept until the order has its replicas.
    fn prepare(&self, cid: &Cid, origins: &[String]) -> Result<Prepared, String>;
    /// The DAG under `cid` is no longer needed here (storage nodes hold it).
    fn release(&self, cid: &Cid) -> Result<(), String>;
}

/// Why an order was not placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderError {
    /// The chain refused it (no approval, approval spent or ended, funds short): final.
    Refused(String),
    /// The chain could not be reached or did not include it (yet): worth retrying.
    Unavailable(String),
}

/// A file's replicas on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnChain {
    /// Proven replicas.
    pub replicas: usize,
    /// The block its paid storage ends at (0 while pending).
    pub expires_at: u64,
    /// The commitment the order holds.
    pub commitment: ContentCommitment,
    /// Dialable addresses of the storage nodes holding replicas.
    pub holders: Vec<String>,
}

/// The chain.
pub trait Chain {
    /// Places an order for `cid` paid by `payer`; returns the block that included it.
    fn place_order(
        &self,
        payer: &AccountId,
        cid: &Cid,
        prepared: &Prepared,
        origins: &[String],
    ) -> Result<u64, OrderError>;
    /// The file's state on chain (`None`: no order, or it ended).
    fn on_chain(&self, cid: &Cid) -> Result<Option<OnChain>, String>;
}

/// Releases the service's copy of `r`'s content unless another unfinished request needs it.
fn release_unneeded(
    store: &Store,
    content: &impl Content,
    r: &PinRecord,
    cid: &Cid,
) -> Result<(), StoreError> {
    let needed = store
        .in_states(&[Status::Queued, Status::Pinning])?
        .iter()
        .any(|o| o.pin.cid == r.pin.cid && o.requestid != r.requestid);
    if !needed && let Err(e) = content.release(cid) {
        tracing::warn!(target: "crust::pinning", "releasing {cid}: {e}");
    }
    Ok(())
}

/// Whether `r` was made by an upload to this service (its content came with it).
pub fn uploaded(r: &PinRecord) -> bool {
    r.pin.meta.get("uploaded").is_some_and(|v| v == "true")
}

fn set(record: &mut PinRecord, key: &str, value: impl ToString) {
    record.info.insert(key.to_owned(), value.to_string());
}

/// One pass over the requests that are due (see [`Settings`]); returns how many changed.
pub fn step(
    store: &Store,
    content: &impl Content,
    chain: &impl Chain,
    settings: &Settings,
    now_ms: u64,
    schedule: &mut Schedule,
) -> Result<usize, StoreError> {
    let mut changed = 0;
    let due = |schedule: &Schedule, id: &str| schedule.get(id).is_none_or(|t| *t <= now_ms);
    schedule.retain(|_, t| *t > now_ms); // due entries are re-set below; gone requests drop out
    for mut r in store.in_states(&[Status::Queued])? {
        if !due(schedule, &r.requestid) {
            continue;
        }
        let before = r.clone();
        let Ok(cid) = r.pin.cid.parse::<Cid>() else {
            r.status = Status::Failed;
            set(&mut r, "reason", "the CID does not parse");
            store.update_pin(&r)?;
            changed += 1;
            continue;
        };
        match content.prepare(&cid, &r.pin.origins) {
            Err(e) => {
                if now_ms.saturating_sub(r.created_ms) >= settings.give_up_after_ms {
                    r.status = Status::Failed;
                    set(
                        &mut r,
                        "reason",
                        format!("the content could not be fetched: {e}"),
                    );
                } else {
                    set(&mut r, "waiting", format!("fetching the content: {e}"));
                }
            }
            Ok(prepared) => match chain.place_order(&r.account, &cid, &prepared, &r.pin.origins) {
                Ok(block) => {
                    r.status = Status::Pinning;
                    r.info.remove("waiting");
                    set(&mut r, "order_block", block);
                    set(&mut r, "size", prepared.size);
                    set(
                        &mut r,
                        "commitment",
                        format!(
                            "0x{}:{}",
                            crust_primitives::account::to_hex(&prepared.commitment.root),
                            prepared.commitment.size
                        ),
                    );
                }
                Err(OrderError::Refused(reason)) => {
                    r.status = Status::Failed;
                    r.info.remove("waiting");
                    set(&mut r, "reason", reason);
                    // Nothing will store it: the copy prepared here goes.
                    release_unneeded(store, content, &r, &cid)?;
                }
                Err(OrderError::Unavailable(e)) => {
                    set(&mut r, "waiting", format!("placing the order: {e}"));
                }
            },
        }
        if r.status == Status::Queued {
            schedule.insert(
                r.requestid.clone(),
                now_ms.saturating_add(settings.retry_queued_ms),
            );
        }
        if r != before {
            store.update_pin(&r)?;
            changed += 1;
        }
    }
    for mut r in store.in_states(&[Status::Pinning, Status::Pinned])? {
        if !due(schedule, &r.requestid) {
            continue;
        }
        let before = r.clone();
        let Ok(cid) = r.pin.cid.parse::<Cid>() else {
            continue;
        };
        match chain.on_chain(&cid) {
            Ok(Some(file)) => {
                r.status = if file.replicas >= settings.replicas {
                    Status::Pinned
                } else {
                    Status::Pinning
                };
                // Replicated: the service's own copy goes, unless another request still needs it.
                if r.status == Status::Pinned && before.status != Status::Pinned {
                    release_unneeded(store, content, &r, &cid)?;
                }
                // Uploaded content is kept for its replicas only so long.
                if r.status == Status::Pinning
                    && uploaded(&r)
                    && !r.info.contains_key("released")
                    && now_ms.saturating_sub(r.created_ms) >= settings.keep_uploads_ms
                {
                    release_unneeded(store, content, &r, &cid)?;
                    set(
                        &mut r,
                        "released",
                        "the upload was kept as long as the service keeps uploads; the order stays",
                    );
                }
                set(&mut r, "replicas", file.replicas);
                set(&mut r, "expires_at_block", file.expires_at);
                r.delegates = file
                    .holders
                    .into_iter()
                    .take(crate::model::MAX_ORIGINS)
                    .collect();
            }
            Ok(None) => {
                r.status = Status::Failed;
                set(
                    &mut r,
                    "reason",
                    "the storage order ended (expired or closed)",
                );
            }
            Err(e) => tracing::warn!(target: "crust::pinning", "reading {cid}: {e}"),
        }
        let every = if r.status == Status::Pinned {
            settings.recheck_pinned_ms
        } else {
            settings.recheck_pinning_ms
        };
        schedule.insert(r.requestid.clone(), now_ms.saturating_add(every));
        if r != before {
            store.update_pin(&r)?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pin;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// Content that is there for some CIDs only.
    struct Have(Vec<Cid>, RefCell<Vec<Cid>>, RefCell<u32>);
    impl Content for Have {
        fn prepare(&self, cid: &Cid, _: &[String]) -> Result<Prepared, String> {
            *self.2.borrow_mut() += 1;
            self.0
                .contains(cid)
                .then_some(Prepared {
                    size: 100,
                    commitment: ContentCommitment {
                        root: [1; 32],
                        size: 120,
                    },
                })
                .ok_or_else(|| "no provider found".to_owned())
        }
        fn release(&self, cid: &Cid) -> Result<(), String> {
            self.1.borrow_mut().push(*cid);
            Ok(())
        }
    }

    /// A chain ledger: orders by CID, a payer that can afford `budget` orders, replicas set by
    /// the test, and a switch for being unreachable.
    #[derive(Default)]
    struct Ledger {
        files: RefCell<BTreeMap<Cid, usize>>,
        budget: RefCell<usize>,
        down: RefCell<bool>,
        reads: RefCell<u32>,
    }
    impl Chain for Ledger {
        fn place_order(
            &self,
            _: &AccountId,
            cid: &Cid,
            _: &Prepared,
            _: &[String],
        ) -> Result<u64, OrderError> {
            if *self.down.borrow() {
                return Err(OrderError::Unavailable("connection refused".into()));
            }
            let mut budget = self.budget.borrow_mut();
            if *budget == 0 {
                return Err(OrderError::Refused(
                    "the order costs 2000 units; the payer's approval has 0 left".into(),
                ));
            }
            *budget -= 1;
            self.files.borrow_mut().insert(*cid, 0);
            Ok(7)
        }
        fn on_chain(&self, cid: &Cid) -> Result<Option<OnChain>, String> {
            *self.reads.borrow_mut() += 1;
            Ok(self.files.borrow().get(cid).map(|replicas| OnChain {
                replicas: *replicas,
                expires_at: 1000,
                commitment: ContentCommitment {
                    root: [1; 32],
                    size: 120,
                },
                holders: (0..*replicas)
                    .map(|i| format!("/ip4/10.0.0.{i}/tcp/1/p2p/x"))
                    .collect(),
            }))
        }
    }

    fn cid(n: u8) -> Cid {
        Cid::v1_sha256(0x55, [n; 32])
    }

    fn add(store: &Store, n: u8, created_ms: u64) -> String {
        let r = PinRecord {
            requestid: format!("r{n}"),
            account: AccountId([9; 32]),
            created_ms,
            pin: Pin {
                cid: cid(n).to_string(),
                ..Pin::default()
            },
            status: Status::Queued,
            info: BTreeMap::new(),
            delegates: Vec::new(),
        };
        store.put_pin(&r, None, u64::MAX).unwrap();
        r.requestid
    }

    fn step_at(
        store: &Store,
        content: &Have,
        chain: &Ledger,
        settings: &Settings,
        schedule: &mut Schedule,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        step(store, content, chain, settings, now_ms, schedule)
    }

    fn status(store: &Store, id: &str) -> (Status, BTreeMap<String, String>) {
        let r = store.pin(id).unwrap().unwrap();
        (r.status, r.info)
    }

    /// queued → pinning once the content is there and the order lands → pinned at 3 proven
    /// replicas (with the holders as delegates); missing content waits, then fails after the
    /// give-up time; a refused order fails with the chain's reason; an unreachable chain
    /// waits; an order that ends fails the pin.
    #[test]
    fn requests_move_from_queued_to_pinned_and_fail_for_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        let settings = Settings {
            replicas: 3,
            give_up_after_ms: 60_000,
            retry_queued_ms: 0,
            recheck_pinning_ms: 0,
            recheck_pinned_ms: 0,
            keep_uploads_ms: 100_000,
        };
        let mut schedule = Schedule::new();
        let content = Have(
            vec![cid(1), cid(3), cid(4)],
            RefCell::default(),
            RefCell::default(),
        );
        let chain = Ledger::default();
        *chain.budget.borrow_mut() = 1;
        let ok = add(&store, 1, 0);
        let missing = add(&store, 2, 0);
        let broke = add(&store, 3, 0);

        step_at(&store, &content, &chain, &settings, &mut schedule, 1_000).unwrap();
        let (s, info) = status(&store, &ok);
        assert_eq!(s, Status::Pinning);
        assert_eq!(info["order_block"], "7");
        assert_eq!(info["size"], "100");
        let (s, info) = status(&store, &missing);
        assert_eq!(s, Status::Queued);
        assert!(info["waiting"].contains("no provider"));
        let (s, info) = status(&store, &broke);
        assert_eq!(s, Status::Failed);
        assert!(info["reason"].contains("approval has 0 left"), "{info:?}");
        assert_eq!(
            *content.1.borrow(),
            vec![cid(3)],
            "a refused order's copy goes at once"
        );

        // Replicas arrive: pinning until 3, then pinned, the holders as delegates.
        chain.files.borrow_mut().insert(cid(1), 2);
        step_at(&store, &content, &chain, &settings, &mut schedule, 2_000).unwrap();
        assert_eq!(status(&store, &ok).0, Status::Pinning);
        chain.files.borrow_mut().insert(cid(1), 3);
        step_at(&store, &content, &chain, &settings, &mut schedule, 3_000).unwrap();
        let r = store.pin(&ok).unwrap().unwrap();
        assert_eq!(r.status, Status::Pinned);
        assert_eq!(r.info["replicas"], "3");
        assert_eq!(r.delegates.len(), 3);
        assert_eq!(
            *content.1.borrow(),
            vec![cid(3), cid(1)],
            "its copy released once replicated"
        );

        // The content never shows up: failed after the give-up time.
        step_at(&store, &content, &chain, &settings, &mut schedule, 60_000).unwrap();
        let (s, info) = status(&store, &missing);
        assert_eq!(s, Status::Failed);
        assert!(info["reason"].contains("could not be fetched"));

        // An unreachable chain: the request waits and is ordered once it is back.
        *chain.budget.borrow_mut() = 5;
        *chain.down.borrow_mut() = true;
        let later = add(&store, 4, 60_000);
        step_at(&store, &content, &chain, &settings, &mut schedule, 61_000).unwrap();
        let (s, info) = status(&store, &later);
        assert_eq!(s, Status::Queued);
        assert!(info["waiting"].contains("connection refused"));
        *chain.down.borrow_mut() = false;
        step_at(&store, &content, &chain, &settings, &mut schedule, 62_000).unwrap();
        assert_eq!(status(&store, &later).0, Status::Pinning);
        assert!(!status(&store, &later).1.contains_key("waiting"));

        // The order ends: the pin fails.
        chain.files.borrow_mut().remove(&cid(1));
        step_at(&store, &content, &chain, &settings, &mut schedule, 63_000).unwrap();
        let (s, info) = status(&store, &ok);
        assert_eq!(s, Status::Failed);
        assert!(info["reason"].contains("ended"));
        // Nothing changes on a pass with nothing new.
        assert_eq!(
            step_at(&store, &content, &chain, &settings, &mut schedule, 64_000).unwrap(),
            0
        );
    }

    /// Content uploaded to the service is kept while its replicas are not yet proven, for
    /// `keep_uploads_ms`; then the service's copy goes (once) and the order stays.
    #[test]
    fn uploaded_content_is_kept_for_its_replicas_only_so_long() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        let settings = Settings {
            retry_queued_ms: 0,
            recheck_pinning_ms: 0,
            keep_uploads_ms: 10_000,
            ..Settings::default()
        };
        let content = Have(vec![cid(5), cid(6)], RefCell::default(), RefCell::default());
        let chain = Ledger::default();
        *chain.budget.borrow_mut() = 2;
        let mut schedule = Schedule::new();
        let upload = add(&store, 5, 0);
        let mut r = store.pin(&upload).unwrap().unwrap();
        r.pin.meta.insert("uploaded".into(), "true".into());
        store.update_pin(&r).unwrap();
        assert!(uploaded(&r));
        let plain = add(&store, 6, 0);
        step_at(&store, &content, &chain, &settings, &mut schedule, 1_000).unwrap();
        assert_eq!(status(&store, &upload).0, Status::Pinning);
        step_at(&store, &content, &chain, &settings, &mut schedule, 9_000).unwrap();
        assert!(content.1.borrow().is_empty(), "kept before the time");
        step_at(&store, &content, &chain, &settings, &mut schedule, 10_000).unwrap();
        step_at(&store, &content, &chain, &settings, &mut schedule, 11_000).unwrap();
        assert_eq!(*content.1.borrow(), vec![cid(5)], "released once");
        let (s, info) = status(&store, &upload);
        assert_eq!(s, Status::Pinning, "the order stays");
        assert!(info.contains_key("released"));
        assert_eq!(status(&store, &plain).0, Status::Pinning);
    }

    /// With the default pace, a pinned request is read from the chain once a minute and a
    /// request whose content is missing is tried every 30 s, not on every pass.
    #[test]
    fn passes_read_the_chain_at_a_pace_not_on_every_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        let settings = Settings::default();
        let content = Have(vec![cid(1)], RefCell::default(), RefCell::default());
        let chain = Ledger::default();
        *chain.budget.borrow_mut() = 1;
        let mut schedule = Schedule::new();
        let ok = add(&store, 1, 0);
        let missing = add(&store, 2, 0);
        // A pass a second for two minutes; the replicas are there from the second pass on.
        for t in 0..120u64 {
            step(
                &store,
                &content,
                &chain,
                &settings,
                1_000 * t,
                &mut schedule,
            )
            .unwrap();
            chain.files.borrow_mut().insert(cid(1), 3);
        }
        assert_eq!(status(&store, &ok).0, Status::Pinned);
        let reads = *chain.reads.borrow();
        assert!(
            (2..=4).contains(&reads),
            "{reads} chain reads in 120 passes"
        );
        assert_eq!(status(&store, &missing).0, Status::Queued);
        // One fetch of the present content, and the missing one at 0, 30, 60 and 90 s.
        assert_eq!(*content.2.borrow(), 5, "content fetches in 120 passes");
        assert_eq!(schedule.len(), 2);
    }
}
