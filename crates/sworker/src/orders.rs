//! Which orders a storage worker takes, and when: the storage manager's order policy as a
//! state machine. The process around it (`crust sworker run`) feeds it the orders it reads
//! from certified blocks ([`OrderBook::ingest`]), asks it which order to look at next
//! ([`OrderBook::candidates`]), lets it decide with the order's on-chain record
//! ([`OrderBook::decide`]), and tells it what the fetch did ([`OrderBook::stored`],
//! [`OrderBook::retry_later`], [`OrderBook::refused`]). Nothing here does I/O or reads a clock:
//! time is passed in, so the policies are tested in memory over thousands of slots.
//!
//! The policies:
//! - **pick**: higher tips first (ties by CID, so every pass is in the same order); orders
//!   whose tip is below the operator's minimum are dropped;
//! - **take**: store an order unless it is gone or expired (forget it), already has the target
//!   number of replicas or does not fit in the room left (watch it: look again every slot, so a
//!   lost replica is replaced and freed space is used);
//! - **groups** (a group earns one replica per file, D19): a member stores an order only when
//!   the group holds no replica yet and it is the member's turn in the rendezvous order for that
//!   file — the first at once, the next one slot later, and so on;
//! - **back off**: a fetch that failed for a reason worth retrying waits [`RETRY_AFTER_MS`];
//!   content that is not what was ordered (D29) is refused for good and remembered for the
//!   operator.

use crust_primitives::{AccountId, Balance, Cid};
use crust_runtime::market::FileInfo;
use std::collections::{BTreeMap, VecDeque};

/// How long a fetch that failed for a retryable reason waits before the next attempt.
pub const RETRY_AFTER_MS: u64 = 10_000;
/// How many refused orders are remembered for the operator's status.
pub const REFUSED_SHOWN: usize = 32;

/// An order as read from a finalized block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// The file.
    pub cid: Cid,
    /// The size ordered.
    pub file_size: u64,
    /// The tip offered.
    pub tip: Balance,
    /// Where the orderer says the file can be fetched from (multiaddrs).
    pub hints: Vec<String>,
}

/// The worker's standing: what the policies need besides the order's record.
#[derive(Clone, Debug)]
pub struct Standing {
    /// This worker's account.
    pub me: AccountId,
    /// Its group (owner, members), if it belongs to one.
    pub group: Option<(AccountId, Vec<AccountId>)>,
    /// Stop taking an order once it has this many replicas.
    pub replica_target: usize,
    /// Bytes left for files.
    pub room: u64,
    /// The smallest tip worth storing for.
    pub min_tip: Balance,
    /// The finalized height.
    pub head: u64,
    /// Blocks per report slot.
    pub slot_blocks: u64,
}

/// What to do with an order now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Fetch and seal it, trying these addresses first (the order's provider hints).
    Store(Vec<String>),
    /// Not now, but the order is live: it is looked at again next slot. `first` is true the
    /// first time it is passed over (worth telling the operator).
    Wait {
        /// Why.
        why: String,
        /// Whether this is news.
        first: bool,
    },
    /// Never: the order is gone, expired, or pays less than the minimum tip.
    Forget(String),
}

/// The orders a worker knows about and has not finished with (kept on disk between runs; the
/// field names are the worker's `follow.json`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct OrderBook {
    /// Ordered files not yet stored, with the size ordered.
    queue: BTreeMap<Cid, u64>,
    /// Provider hints from the orders' memos.
    #[serde(default)]
    hints: BTreeMap<Cid, Vec<String>>,
    /// Live orders not taken (enough replicas, no room), looked at again every slot.
    #[serde(default)]
    watch: BTreeMap<Cid, u64>,
    /// The slot the watch list was last looked at.
    #[serde(default)]
    watched_slot: u64,
    /// The report slot each queued order was first seen in (for the group's rendezvous order).
    #[serde(default)]
    first_seen: BTreeMap<Cid, u64>,
    /// The largest tip offered for each queued order.
    #[serde(default)]
    tips: BTreeMap<Cid, Balance>,
    /// When each backed-off order may be tried again (not kept across restarts).
    #[serde(skip)]
    retry_at: BTreeMap<Cid, u64>,
    /// The last orders refused for content other than what was ordered, newest last.
    #[serde(skip)]
    refused: VecDeque<(Cid, String)>,
}

impl OrderBook {
    /// Notes an order seen in block `height` (an order placed again keeps its largest tip and
    /// its first slot).
    pub fn ingest(&mut self, order: Order, height: u64, slot_blocks: u64) {
        let slot_blocks = slot_blocks.max(1);
        self.queue.insert(order.cid, order.file_size);
        let tip = self.tips.entry(order.cid).or_default();
        *tip = (*tip).max(order.tip);
        self.first_seen
            .entry(order.cid)
            .or_insert(height / slot_blocks * slot_blocks);
        if !order.hints.is_empty() {
            self.hints.insert(order.cid, order.hints);
        }
    }

    /// Once per slot, the orders passed over before are looked at again.
    pub fn new_slot(&mut self, slot: u64) {
        if slot > self.watched_slot {
            self.watched_slot = slot;
            self.queue
                .extend(self.watch.iter().map(|(cid, size)| (*cid, *size)));
        }
    }

    /// The queued orders to look at now, higher tips first (ties by CID), skipping those
    /// backing off at `now_ms`.
    pub fn candidates(&self, now_ms: u64) -> Vec<Cid> {
        let mut queued: Vec<Cid> = self
            .queue
            .keys()
            .filter(|c| self.retry_at.get(*c).is_none_or(|t| *t <= now_ms))
            .copied()
            .collect();
        queued.sort_by_key(|c| std::cmp::Reverse(self.tips.get(c).copied().unwrap_or(0)));
        queued
    }

    /// Decides about queued order `cid` given its on-chain record (`None`: not on chain) and
    /// the worker's standing, and files it accordingly: a waiting order moves to the watch
    /// list, a forgotten one is dropped.
    pub fn decide(&mut self, cid: &Cid, info: Option<&FileInfo>, s: &Standing) -> Decision {
        let slot = s.head / s.slot_blocks.max(1) * s.slot_blocks.max(1);
        let mut decision = take(info, s.head, s.replica_target, s.room).err();
        let tip = self.tips.get(cid).copied().unwrap_or(0);
        if decision.is_none() && tip < s.min_tip {
            decision = Some(Decision::Forget(format!(
                "its tip {} is below --min-tip {}",
                crust_primitives::balance::Cru(tip),
                crust_primitives::balance::Cru(s.min_tip)
            )));
        }
        if decision.is_none()
            && let (Some((owner, members)), Some(f)) = (&s.group, info)
        {
            let first = self.first_seen.get(cid).copied().unwrap_or(slot);
            let waited = slot.saturating_sub(first) / s.slot_blocks.max(1);
            if let Some(why) = group_turn(cid, &s.me, owner, members, f, waited) {
                decision = Some(Decision::Wait { why, first: true });
            }
        }
        match decision {
            None => Decision::Store(self.hints.get(cid).cloned().unwrap_or_default()),
            Some(Decision::Wait { why, .. }) => {
                let first = !self.watch.contains_key(cid);
                if let Some(size) = self.queue.remove(cid) {
                    self.watch.insert(*cid, size);
                }
                Decision::Wait { why, first }
            }
            Some(forget) => {
                self.done_with(cid);
                forget
            }
        }
    }

    /// The order was fetched and sealed.
    pub fn stored(&mut self, cid: &Cid) {
        self.done_with(cid);
        self.retry_at.remove(cid);
    }

    /// The fetch failed for a reason worth retrying (no peer, a network or disk error): try
    /// again after [`RETRY_AFTER_MS`].
    pub fn retry_later(&mut self, cid: &Cid, now_ms: u64) {
        self.retry_at
            .insert(*cid, now_ms.saturating_add(RETRY_AFTER_MS));
    }

    /// The content is not what was ordered (D29): never stored, remembered for the operator.
    pub fn refused(&mut self, cid: &Cid, why: String) {
        if self.refused.len() == REFUSED_SHOWN {
            self.refused.pop_front();
        }
        self.refused.push_back((*cid, why));
        self.done_with(cid);
        self.retry_at.remove(cid);
    }

    /// Orders waiting to be stored.
    pub fn queued(&self) -> impl Iterator<Item = &Cid> {
        self.queue.keys()
    }

    /// How many live orders are watched (passed over, looked at every slot).
    pub fn watching(&self) -> usize {
        self.watch.len()
    }

    /// The last orders refused for their content, newest last.
    pub fn refused_orders(&self) -> impl Iterator<Item = &(Cid, String)> {
        self.refused.iter()
    }

    /// Drops everything kept for an order: stored, refused, or not to be stored.
    fn done_with(&mut self, cid: &Cid) {
        self.queue.remove(cid);
        self.watch.remove(cid);
        self.hints.remove(cid);
        self.first_seen.remove(cid);
        self.tips.remove(cid);
    }
}

/// The selection strategy: store an order unless it is gone or expired (forget), already has
/// `target` replicas, or is larger than the room left for files (wait: SRD yields to files).
fn take(info: Option<&FileInfo>, head: u64, target: usize, room: u64) -> Result<(), Decision> {
    let Some(f) = info else {
        return Err(Decision::Forget("the order is not on chain".into()));
    };
    if let Some(why) = closed(Some(f), head) {
        return Err(Decision::Forget(why.into()));
    }
    let wait = |why: String| Err(Decision::Wait { why, first: true });
    if f.replicas.len() >= target {
        return wait(format!("it already has {} replicas", f.replicas.len()));
    }
    if f.file_size > room {
        return wait(format!(
            "{} bytes do not fit in the {room} bytes left",
            f.file_size
        ));
    }
    Ok(())
}

/// Why a held file should go: its order is gone or past its expiry (a pending order, not yet
/// started, has `expired_at` 0 and stays).
pub fn closed(info: Option<&FileInfo>, head: u64) -> Option<&'static str> {
    match info {
        None => Some("the order is gone"),
        Some(f) if f.expired_at != 0 && f.expired_at <= head => Some("the order expired"),
        Some(_) => None,
    }
}

/// A member's place in its group's rendezvous order for `cid` (0 = first): members ranked by
/// SHA-256(cid ‖ member), highest first. Every member computes the same order.
pub fn rendezvous_rank(cid: &Cid, me: &AccountId, members: &[AccountId]) -> usize {
    use sha2::Digest as _;
    let score = |m: &AccountId| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(cid.to_bytes());
        h.update(m.as_bytes());
        h.finalize().into()
    };
    let mine = score(me);
    members
        .iter()
        .filter(|m| *m != me && score(m) > mine)
        .count()
}

/// Groups spread their files (a group earns one replica per file, D19): a member stores an
/// order only when the group holds no replica of it yet and it is the member's turn — the
/// first in the rendezvous order at once, the next one slot later (if the first has not
/// stored it by then), and so on. Returns why to wait, or `None` to store.
pub fn group_turn(
    cid: &Cid,
    me: &AccountId,
    owner: &AccountId,
    members: &[AccountId],
    file: &FileInfo,
    waited_slots: u64,
) -> Option<String> {
    if file.replicas.iter().any(|r| r.owner == *owner) {
        return Some("a member of its group already holds a replica".into());
    }
    let rank = rendezvous_rank(cid, me, members) as u64;
    (rank > waited_slots).then(|| {
        format!("{rank} group members come before this one in the rendezvous order for it")
    })
}

/// Blocks into the slot before an identity reports: a stable offset in the slot's first third,
/// from the enclave key and the slot, so reports spread over blocks.
pub fn report_delay(key: &[u8; 32], slot: u64, slot_blocks: u64) -> u64 {
    let window = (slot_blocks / 3).max(1);
    crate::sample(key, slot) % window
}

#[cfg(test)]
mod tests;
