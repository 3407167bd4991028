//! The order policy over thousands of simulated slots, in memory: several workers (some in a
//! group) follow the same orders, decide with the chain's records, fetch (sometimes failing),
//! and their replicas appear on chain with their next report, as on the real chain.

use super::*;
use crust_primitives::commitment::ContentCommitment;
use crust_runtime::market::Replica;

const SLOT: u64 = 60;

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn cid(n: u64) -> Cid {
    Cid::v1_sha256(0x55, sha(n))
}

fn sha(n: u64) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(n.to_le_bytes()).into()
}

fn file(size: u64) -> FileInfo {
    FileInfo {
        file_size: size,
        spower: size,
        expired_at: 0,
        calculated_at: 0,
        pending_since: 0,
        amount: 1,
        prepaid: 0,
        remaining_paid_count: 4,
        orderer: account(200),
        paid_owners: Vec::new(),
        replicas: Vec::new(),
        commitment: ContentCommitment {
            root: [0; 32],
            size,
        },
    }
}

/// A deterministic generator (xorshift), so every run is the same.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct SimWorker {
    me: AccountId,
    group: Option<(AccountId, Vec<AccountId>)>,
    capacity: u64,
    min_tip: Balance,
    book: OrderBook,
    held: BTreeMap<Cid, u64>,
    /// Stored this slot: on chain once the slot's report lands.
    unreported: Vec<Cid>,
    fetches: u64,
}

impl SimWorker {
    fn new(n: u8, group: Option<(AccountId, Vec<AccountId>)>, capacity: u64) -> Self {
        Self {
            me: account(n),
            group,
            capacity,
            min_tip: 0,
            book: OrderBook::default(),
            held: BTreeMap::new(),
            unreported: Vec::new(),
            fetches: 0,
        }
    }

    fn owner(&self) -> AccountId {
        self.group.as_ref().map_or(self.me, |(o, _)| *o)
    }

    fn used(&self) -> u64 {
        self.held.values().sum()
    }
}

struct Sim {
    chain: BTreeMap<Cid, FileInfo>,
    workers: Vec<SimWorker>,
    rng: Rng,
    /// Per mille of fetches that fail (retried later).
    fail_per_mille: u64,
    /// Orders whose content is not what was ordered.
    bad: Vec<Cid>,
    now_ms: u64,
}

impl Sim {
    fn new(workers: Vec<SimWorker>) -> Self {
        Self {
            chain: BTreeMap::new(),
            workers,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            fail_per_mille: 0,
            bad: Vec::new(),
            now_ms: 0,
        }
    }

    fn order(&mut self, n: u64, size: u64, tip: Balance, height: u64) {
        let c = cid(n);
        self.chain.entry(c).or_insert_with(|| file(size));
        for w in &mut self.workers {
            w.book.ingest(
                Order {
                    cid: c,
                    file_size: size,
                    tip,
                    hints: vec![format!("/ip4/10.0.0.1/tcp/4001/p2p/hint{n}")],
                },
                height,
                SLOT,
            );
        }
    }

    /// One slot: every worker looks at its queue (every block of the slot is one pass, as the
    /// real loop runs a pass per head change), then the reports land.
    fn slot(&mut self, slot: u64, target: usize) {
        for pass in 0..3 {
            let head = slot * SLOT + pass * 20;
            self.now_ms += 20 * 1000;
            for i in 0..self.workers.len() {
                let w = &mut self.workers[i];
                w.book.new_slot(head / SLOT * SLOT);
                for c in w.book.candidates(self.now_ms) {
                    let standing = Standing {
                        me: w.me,
                        group: w.group.clone(),
                        replica_target: target,
                        room: w.capacity.saturating_sub(w.used()),
                        min_tip: w.min_tip,
                        head,
                        slot_blocks: SLOT,
                    };
                    let info = self.chain.get(&c);
                    match w.book.decide(&c, info, &standing) {
                        Decision::Store(hints) => {
                            assert!(!hints.is_empty(), "the order's hints come along");
                            w.fetches += 1;
                            if self.bad.contains(&c) {
                                w.book
                                    .refused(&c, "the content is not what was ordered".into());
                            } else if self.rng.next() % 1000 < self.fail_per_mille {
                                w.book.retry_later(&c, self.now_ms);
                            } else {
                                let size = info.map_or(0, |f| f.file_size);
                                w.held.insert(c, size);
                                w.unreported.push(c);
                                w.book.stored(&c);
                            }
                        }
                        Decision::Wait { .. } | Decision::Forget(_) => {}
                    }
                    assert!(w.used() <= w.capacity, "capacity is never exceeded");
                }
            }
        }
        // Reports land: each new replica joins its file's record (one per owner, as the chain
        // keeps it).
        let end = (slot + 1) * SLOT;
        for w in &mut self.workers {
            let owner = w.owner();
            for c in w.unreported.drain(..) {
                let Some(f) = self.chain.get_mut(&c) else {
                    continue;
                };
                if f.replicas.iter().any(|r| r.owner == owner) {
                    continue;
                }
                f.replicas.push(Replica {
                    owner,
                    who: w.me,
                    anchor: [0; 32],
                    valid_at: end,
                    created_at: Some(end),
                });
                if f.expired_at == 0 {
                    f.expired_at = end + 500 * SLOT;
                }
            }
        }
    }
}

fn solo(n: u8, capacity: u64) -> SimWorker {
    SimWorker::new(n, None, capacity)
}

/// Six solo workers and a group of three over 2 000 slots with a steady stream of orders and
/// 5% of fetches failing: every order ends with at least the target replicas, no group holds
/// two, no worker exceeds its capacity, and retried fetches go through.
#[test]
fn every_order_reaches_its_replicas_over_two_thousand_slots() {
    let owner = account(100);
    let members = vec![account(10), account(11), account(12)];
    let mut workers: Vec<SimWorker> = (1..=6).map(|n| solo(n, 1 << 40)).collect();
    for m in &members {
        workers.push(SimWorker::new(
            m.0[0],
            Some((owner, members.clone())),
            1 << 40,
        ));
    }
    let mut sim = Sim::new(workers);
    sim.fail_per_mille = 50;
    let mut next = 0u64;
    for slot in 0..2000 {
        for _ in 0..(sim.rng.next() % 3) {
            let size = 1 + sim.rng.next() % (1 << 20);
            sim.order(next, size, 0, slot * SLOT + 1);
            next += 1;
        }
        sim.slot(slot, 3);
    }
    assert!(next > 1500, "{next} orders");
    let mut replicas = 0;
    for (c, f) in &sim.chain {
        assert!(f.replicas.len() >= 3, "{c}: {} replicas", f.replicas.len());
        let group_held = sim
            .workers
            .iter()
            .filter(|w| w.group.is_some() && w.held.contains_key(c))
            .count();
        assert!(group_held <= 2, "{c}: {group_held} group members hold it");
        replicas += f.replicas.len();
    }
    // The group spreads its files: members hold one copy of most files between them.
    let group_copies: usize = sim.workers[6..].iter().map(|w| w.held.len()).sum();
    assert!(
        group_copies < next as usize * 11 / 10,
        "{group_copies} group copies of {next} files"
    );
    assert!(replicas >= 3 * next as usize);
    assert!(sim.workers.iter().all(|w| w.book.queued().count() == 0));
}

/// Without failures a group stores each file exactly once, and the member first in the
/// rendezvous order for it is the one.
#[test]
fn a_group_stores_each_file_once_by_rendezvous_order() {
    let owner = account(100);
    let members = vec![account(10), account(11), account(12), account(13)];
    let workers = members
        .iter()
        .map(|m| SimWorker::new(m.0[0], Some((owner, members.clone())), 1 << 40))
        .collect();
    let mut sim = Sim::new(workers);
    for n in 0..300 {
        sim.order(n, 1000, 0, 1);
    }
    for slot in 0..10 {
        sim.slot(slot, 8);
    }
    for n in 0..300 {
        let c = cid(n);
        let holders: Vec<&SimWorker> = sim
            .workers
            .iter()
            .filter(|w| w.held.contains_key(&c))
            .collect();
        assert_eq!(holders.len(), 1, "{c}");
        assert_eq!(rendezvous_rank(&c, &holders[0].me, &members), 0);
    }
    let fetches: u64 = sim.workers.iter().map(|w| w.fetches).sum();
    assert_eq!(
        fetches, 300,
        "no member fetched a file another member holds"
    );
}

/// When a member first in line cannot fetch (its fetches all fail), the next one takes over a
/// slot later.
#[test]
fn the_next_member_takes_over_when_the_first_cannot_fetch() {
    let owner = account(100);
    let members = vec![account(10), account(11)];
    let c = cid(7);
    let first = if rendezvous_rank(&c, &members[0], &members) == 0 {
        0
    } else {
        1
    };
    let mut workers: Vec<SimWorker> = members
        .iter()
        .map(|m| SimWorker::new(m.0[0], Some((owner, members.clone())), 1 << 40))
        .collect();
    workers[first].capacity = 10; // cannot take a 1000-byte file
    let mut sim = Sim::new(workers);
    sim.order(7, 1000, 0, 1);
    sim.slot(0, 3);
    assert!(
        sim.chain[&c].replicas.is_empty(),
        "the second waits its turn"
    );
    sim.slot(1, 3);
    assert_eq!(sim.chain[&c].replicas.len(), 1);
    assert!(sim.workers[1 - first].held.contains_key(&c));
}

/// With room for only some files, the highest tips are stored first; tips under a worker's
/// minimum are never stored by it.
#[test]
fn higher_tips_first_and_none_below_the_minimum() {
    let mut w = solo(1, 10 * 1000);
    w.min_tip = 5;
    let mut sim = Sim::new(vec![w]);
    for n in 0..30u64 {
        sim.order(n, 1000, u128::from(n), 1);
    }
    sim.slot(0, 3);
    let held: Vec<u64> = (0..30)
        .filter(|n| sim.workers[0].held.contains_key(&cid(*n)))
        .collect();
    assert_eq!(held, (20..30).collect::<Vec<_>>(), "the ten best tips");
    // Room freed later goes to the next best tips, never to those below the minimum.
    sim.workers[0].capacity = 100 * 1000;
    sim.slot(1, 3);
    sim.slot(2, 3);
    let held: Vec<u64> = (0..30)
        .filter(|n| sim.workers[0].held.contains_key(&cid(*n)))
        .collect();
    assert_eq!(held, (5..30).collect::<Vec<_>>());
}

/// An order passed over because it had enough replicas is looked at again each slot, so a
/// lost replica is replaced (D12); an expired or vanished order is forgotten.
#[test]
fn watched_orders_replace_lost_replicas_and_closed_orders_are_forgotten() {
    let mut sim = Sim::new((1..=3).map(|n| solo(n, 1 << 30)).collect());
    sim.order(1, 1000, 0, 1);
    sim.order(2, 1000, 0, 1);
    sim.slot(0, 2);
    // All three saw 0 replicas in the slot and stored: replicas land together.
    assert_eq!(sim.chain[&cid(1)].replicas.len(), 3);
    // A late worker sees the target met and watches.
    sim.workers.push(solo(4, 1 << 30));
    sim.workers[3].book.ingest(
        Order {
            cid: cid(1),
            file_size: 1000,
            tip: 0,
            hints: vec!["/ip4/10.0.0.1/tcp/1/p2p/x".into()],
        },
        SLOT + 1,
        SLOT,
    );
    sim.slot(1, 3);
    assert_eq!(sim.workers[3].book.watching(), 1);
    assert!(!sim.workers[3].held.contains_key(&cid(1)));
    // Replicas are lost (their workers failed a report): the watcher replaces one next slot.
    sim.chain.get_mut(&cid(1)).unwrap().replicas.truncate(1);
    sim.slot(2, 3);
    assert!(sim.workers[3].held.contains_key(&cid(1)));
    assert_eq!(sim.workers[3].book.watching(), 0);
    // Expired and vanished orders: forgotten, not watched.
    let head = 3 * SLOT;
    let mut book = OrderBook::default();
    for n in [5, 6] {
        book.ingest(
            Order {
                cid: cid(n),
                file_size: 1,
                tip: 0,
                hints: Vec::new(),
            },
            head,
            SLOT,
        );
    }
    let standing = Standing {
        me: account(9),
        group: None,
        replica_target: 3,
        room: 1 << 20,
        min_tip: 0,
        head,
        slot_blocks: SLOT,
    };
    let mut expired = file(1);
    expired.expired_at = head;
    assert!(matches!(
        book.decide(&cid(5), Some(&expired), &standing),
        Decision::Forget(_)
    ));
    assert!(matches!(
        book.decide(&cid(6), None, &standing),
        Decision::Forget(_)
    ));
    assert_eq!(book.queued().count() + book.watching(), 0);
}

/// A failed fetch waits out its back-off; content that is not what was ordered is refused for
/// good and shown to the operator (the last 32).
#[test]
fn retries_back_off_and_refusals_are_final() {
    let mut sim = Sim::new(vec![solo(1, 1 << 30)]);
    sim.bad = (0..40).map(cid).collect();
    for n in 0..41 {
        sim.order(n, 10, 0, 1);
    }
    sim.slot(0, 3);
    let w = &sim.workers[0];
    assert_eq!(w.book.refused_orders().count(), REFUSED_SHOWN);
    assert!(w.held.contains_key(&cid(40)));
    assert_eq!(w.fetches, 41, "each refused order was fetched once");
    sim.slot(1, 3);
    assert_eq!(sim.workers[0].fetches, 41, "never again");

    let mut book = OrderBook::default();
    book.ingest(
        Order {
            cid: cid(1),
            file_size: 1,
            tip: 0,
            hints: Vec::new(),
        },
        0,
        SLOT,
    );
    book.retry_later(&cid(1), 1_000);
    assert!(book.candidates(1_000 + RETRY_AFTER_MS - 1).is_empty());
    assert_eq!(book.candidates(1_000 + RETRY_AFTER_MS), vec![cid(1)]);
}

/// The book reads the worker's `follow.json` as earlier versions wrote it (CIDs as map keys,
/// tips as numbers) and writes the same shape.
#[test]
fn the_book_reads_and_writes_the_workers_follow_file() {
    let c = cid(3).to_string();
    let old = format!(
        r#"{{"height": 120, "queue": {{"{c}": 42}}, "hints": {{"{c}": ["/ip4/1.2.3.4/tcp/1/p2p/x"]}},
            "watch": {{}}, "watched_slot": 60, "first_seen": {{"{c}": 60}}, "tips": {{"{c}": 7}}}}"#
    );
    let book: OrderBook = serde_json::from_str(&old).unwrap();
    assert_eq!(book.candidates(0), vec![cid(3)]);
    assert_eq!(book.tips[&cid(3)], 7);
    let again: serde_json::Value = serde_json::to_value(&book).unwrap();
    assert_eq!(again["queue"][&c], 42);
    assert_eq!(again["first_seen"][&c], 60);
}

fn info(size: u64, expired_at: u64, replicas: usize) -> FileInfo {
    let mut f = FileInfo {
        file_size: size,
        spower: 0,
        expired_at,
        calculated_at: 0,
        pending_since: 0,
        amount: 0,
        prepaid: 0,
        remaining_paid_count: 4,
        orderer: AccountId([9; 32]),
        paid_owners: Vec::new(),
        replicas: Vec::new(),
        commitment: ContentCommitment {
            root: [1; 32],
            size: size.max(1),
        },
    };
    for i in 0..replicas {
        f.replicas.push(Replica {
            owner: AccountId([i as u8; 32]),
            who: AccountId([i as u8; 32]),
            anchor: [i as u8; 32],
            valid_at: 1,
            created_at: Some(1),
        });
    }
    f
}

#[test]
fn orders_are_taken_only_when_live_short_of_replicas_and_fitting() {
    assert_eq!(take(Some(&info(100, 0, 0)), 50, 4, 1000), Ok(()));
    assert_eq!(take(Some(&info(100, 900, 3)), 50, 4, 1000), Ok(()));
    assert!(matches!(take(None, 50, 4, 1000), Err(Decision::Forget(_))));
    assert!(matches!(
        take(Some(&info(100, 40, 0)), 50, 4, 1000),
        Err(Decision::Forget(_))
    ));
    // Live orders passed over are looked at again later (repair, freed space).
    assert!(matches!(
        take(Some(&info(100, 900, 4)), 50, 4, 1000),
        Err(Decision::Wait { .. })
    ));
    assert!(matches!(
        take(Some(&info(2000, 900, 0)), 50, 4, 1000),
        Err(Decision::Wait { .. })
    ));
}

#[test]
fn held_files_go_when_their_order_is_gone_or_expired() {
    assert_eq!(closed(Some(&info(1, 0, 1)), 10), None, "pending stays");
    assert_eq!(closed(Some(&info(1, 11, 1)), 10), None);
    assert!(closed(Some(&info(1, 10, 1)), 10).is_some());
    assert!(closed(None, 10).is_some());
}

#[test]
fn report_delays_stay_in_the_first_third_and_differ_by_identity() {
    let delays: Vec<u64> = (0..20u8).map(|k| report_delay(&[k; 32], 600, 60)).collect();
    assert!(delays.iter().all(|d| *d < 20));
    assert!(delays.iter().any(|d| *d != delays[0]));
    assert_eq!(report_delay(&[1; 32], 600, 2), 0);
}

#[test]
fn a_group_spreads_files_by_rendezvous_and_fails_over_slot_by_slot() {
    let members: Vec<AccountId> = (1..=4u8).map(|i| AccountId([i; 32])).collect();
    let owner = AccountId([0x99; 32]);
    let file = info(100, 900, 0);
    let mut firsts = [0usize; 4];
    for n in 0..400u32 {
        let mut digest = [0u8; 32];
        digest[..4].copy_from_slice(&n.to_be_bytes());
        let cid = Cid::v1_sha256(0x55, digest);
        // Every member agrees on one order: the ranks are a permutation.
        let mut ranks: Vec<usize> = members
            .iter()
            .map(|m| rendezvous_rank(&cid, m, &members))
            .collect();
        let first = ranks.iter().position(|r| *r == 0).unwrap();
        firsts[first] += 1;
        ranks.sort_unstable();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
        // At first only the first member stores; each slot without a group replica lets
        // the next one in.
        for waited in 0..4u64 {
            let storing = members
                .iter()
                .filter(|m| group_turn(&cid, m, &owner, &members, &file, waited).is_none())
                .count();
            assert_eq!(storing as u64, waited + 1);
        }
    }
    // The files spread over the members (100 each on average).
    assert!(firsts.iter().all(|&f| f > 60), "{firsts:?}");
    // Once the group holds a replica, no member stores another.
    let mut held = info(100, 900, 0);
    held.replicas.push(Replica {
        owner,
        who: members[2],
        anchor: [2; 32],
        valid_at: 1,
        created_at: Some(1),
    });
    let cid = Cid::v1_sha256(0x55, [7; 32]);
    assert!(
        members
            .iter()
            .all(|m| group_turn(&cid, m, &owner, &members, &held, 9).is_some())
    );
}
