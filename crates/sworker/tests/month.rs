//! A simulated month of hourly report slots (720 fast slots of 10 blocks) with two storage
//! workers on the real runtime and the real data network:
//!
//! - a user orders a new file every three days; each worker fetches it over Bitswap from the user's
//!   node into a scratch store (nothing plaintext is kept), seals it, and its SRD shrinks to
//!   make room;
//! - a sealed block and an SRD unit of worker A are damaged on disk; validation finds them
//!   within the day, the file is re-fetched over Bitswap and re-sealed, the unit refilled;
//! - worker A restarts once after preparing a report it never sent and once after sending one
//!   whose result it never saw; neither loses nor duplicates anything on chain;
//! - worker B goes offline for three slots and is punished (zero workload) for eight; its
//!   replicas are dropped and come back when it reports its files again;
//! - every report sent is accepted, and every file ends with both workers as replicas.

mod common;

use common::{Chain, SLOT_BLOCKS, block_hash, pattern};
use crust_ipfs::Cid;
use crust_ipfs::blockstore::{DiskStore, MemStore};
use crust_net::multiaddr::Protocol;
use crust_net::{Exchange, FetchOptions, Host, Multiaddr, NetConfig};
use crust_primitives::{AccountId, Balance};
use crust_runtime::state::atomically;
use crust_runtime::{balances, market, swork};
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use std::sync::Arc;

const SLOTS: u64 = 720;
const CAPACITY: u64 = 24 << 20;

fn listen(seed: u8) -> NetConfig {
    NetConfig {
        key_seed: [seed; 32],
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootstrap: Vec::new(),
        announce: Vec::new(),
    }
}

/// Fetches `root` over Bitswap from `from` into a fresh scratch store, on a fresh host.
fn fetch(rt: &tokio::runtime::Runtime, from: &Multiaddr, root: Cid, seed: u8) -> Arc<MemStore> {
    rt.block_on(async {
        let scratch: Arc<MemStore> = Arc::new(MemStore::default());
        let host = Host::start(listen(seed)).await.expect("host");
        let exchange = Exchange::start(host.clone(), scratch.clone());
        let peer = host.dial(from.clone()).await.expect("dial the user's node");
        exchange
            .fetch_dag(&[peer], root, &FetchOptions::default(), &mut |_| {})
            .await
            .expect("fetch");
        host.shutdown().await;
        scratch
    })
}

struct Node {
    who: AccountId,
    enclave: Arc<SoftwareEnclave>,
    config: WorkerConfig,
    worker: Option<Worker>,
    net_seed: u8,
    accepted: u64,
    challenged: u64,
    srd_challenged: u64,
    proven: usize,
    /// Files repaired because a challenge landed on their damage: (slot, file).
    repaired_for_challenge: Vec<(u64, Cid)>,
}

/// This slot's challenges for `anchor`, with the CID at each picked position of the chain's
/// list of its proven replicas.
fn picks(
    chain: &Chain,
    anchor: &[u8; 32],
    slot_hash: &[u8; 32],
) -> Vec<(swork::challenge::Challenge, Cid)> {
    let count = market::index::proven_count(&chain.state, anchor).expect("state");
    swork::challenge::challenges(slot_hash, anchor, count)
        .into_iter()
        .map(|c| {
            let r = market::index::proven_at(&chain.state, anchor, c.position)
                .expect("state")
                .expect("dense list");
            (c, r.cid)
        })
        .collect()
}

impl Node {
    fn new(dir: &std::path::Path, name: &str, seed: u8) -> Self {
        let dir = dir.join(name);
        let config = WorkerConfig {
            dir: dir.clone(),
            srd: SrdConfig {
                paths: vec![dir.join("srd")],
                reserve_bytes: 0,
                leaves_per_unit: 1,
            },
            capacity_bytes: CAPACITY,
        };
        let enclave = Arc::new(SoftwareEnclave::from_seed(
            &[seed; 32],
            vec![common::authority()],
        ));
        let worker = Worker::open(config.clone(), enclave.clone()).expect("worker");
        Self {
            who: AccountId([seed; 32]),
            enclave,
            config,
            worker: Some(worker),
            net_seed: seed,
            accepted: 0,
            challenged: 0,
            srd_challenged: 0,
            proven: 0,
            repaired_for_challenge: Vec::new(),
        }
    }

    fn worker(&mut self) -> &mut Worker {
        self.worker.as_mut().expect("running")
    }

    /// A crash: the process goes away; what is on disk stays.
    fn restart(&mut self) {
        self.worker = None;
        self.worker =
            Some(Worker::open(self.config.clone(), self.enclave.clone()).expect("reopen"));
    }

    fn register(&mut self, chain: &mut Chain) {
        let (sig, attestation) = self.enclave.attest(&self.who).expect("attest");
        let ctx = chain.ctx(self.who);
        let (code, key) = (self.enclave.code(), self.enclave.public_key());
        atomically(&mut chain.state, |s| {
            swork::register(s, &ctx, &code, &key, &sig, &attestation)
        })
        .expect("register");
    }

    fn chain_hash(&self, chain: &Chain) -> Option<[u8; 32]> {
        swork::work_report(&chain.state, &self.enclave.public_key())
            .expect("state")
            .map(|r| r.report_hash)
    }

    /// Prepares, sends and settles this slot's report.
    fn report(&mut self, chain: &mut Chain, slot: u64, refetch: &dyn Fn(Cid) -> Arc<MemStore>) {
        let start = slot * SLOT_BLOCKS;
        if let Some(r) =
            swork::work_report(&chain.state, &self.enclave.public_key()).expect("state")
        {
            self.worker()
                .sync_reported(r.reported_files_size, r.files_root)
                .expect("sync");
        }
        let (work, sig) = self
            .worker()
            .prepare_report(start, block_hash(start))
            .expect("prepare");
        // D18: every report answers the slot's storage challenges from the sealed data, on
        // the replicas the chain picks from its own list.
        let picks = picks(chain, &self.enclave.public_key(), &block_hash(start));
        // A challenge that lands on damaged data is answered after repairing it.
        let answers = match self.worker().answers(&picks) {
            Err(crust_sworker::worker::WorkerError::Unanswerable { cid, .. }) => {
                self.worker().repair(&*refetch(cid), cid).expect("repair");
                self.repaired_for_challenge.push((slot, cid));
                self.worker().answers(&picks).expect("answers after repair")
            }
            other => other.expect("answers"),
        };
        let srd = self
            .worker()
            .srd_answers(&block_hash(start))
            .expect("SRD answers");
        self.srd_challenged += srd.len() as u64;
        let proven =
            market::index::proven_count(&chain.state, &self.enclave.public_key()).expect("state");
        assert_eq!(answers.len() as u64, proven.min(2), "slot {slot}");
        self.challenged += answers.len() as u64;
        self.send(chain, &work, &sig, &answers, &srd);
        let accepted = self.chain_hash(chain);
        assert!(
            self.worker().reconcile(accepted).expect("reconcile"),
            "slot {slot}"
        );
    }

    /// Proves the replicas the chain holds as pending for this worker (D30), once their seed
    /// block is known. Returns how many.
    fn prove(&mut self, chain: &mut Chain) -> usize {
        let anchor = self.enclave.public_key();
        let mut proofs = Vec::new();
        for f in self.worker().sealed().files() {
            let cid = f.cid();
            if let Some(market::index::AnchorEntry::Pending { since, .. }) =
                market::index::entry(&chain.state, &anchor, &cid, &self.who).expect("state")
                && let Some(seed) =
                    crust_runtime::system::block_hash(&chain.state, since).expect("state")
            {
                proofs.push(
                    self.worker()
                        .pending_proof(&cid, &seed, &anchor)
                        .expect("proof"),
                );
            }
        }
        let ctx = chain.ctx(self.who);
        for batch in proofs.chunks(swork::challenge::PROVE_BATCH) {
            atomically(&mut chain.state, |s| swork::prove_replicas(s, &ctx, batch))
                .expect("proofs accepted");
        }
        self.proven += proofs.len();
        proofs.len()
    }

    fn send(
        &mut self,
        chain: &mut Chain,
        work: &swork::WorkReport,
        sig: &crust_primitives::Signature,
        answers: &[swork::challenge::ChallengeAnswer],
        srd: &[swork::challenge::SrdAnswer],
    ) {
        let ctx = chain.ctx(self.who);
        let result = atomically(&mut chain.state, |s| {
            swork::report_works(s, &ctx, work, sig, answers, srd)
        });
        assert!(
            result.is_ok(),
            "report for slot {} refused: {result:?}",
            work.slot
        );
        self.accepted += 1;
    }
}

#[test]
fn a_simulated_month() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // The user's IPFS node, serving over Bitswap.
    let user_store: Arc<DiskStore> =
        Arc::new(DiskStore::open(dir.path().join("user")).expect("store"));
    let user_addr = rt.block_on(async {
        let host = Host::start(listen(200)).await.expect("user host");
        let _exchange = Exchange::start(host.clone(), user_store.clone());
        std::mem::forget(_exchange); // keep serving for the whole test
        host.listen_addrs()[0]
            .clone()
            .with(Protocol::P2p(host.peer_id()))
    });

    let user = AccountId([0x55; 32]);
    let enclave_code = SoftwareEnclave::from_seed(&[0; 32], vec![]).code();
    let mut chain = Chain::new(enclave_code);
    balances::mint(&mut chain.state, &user, 1_000_000 * crust_primitives::CRU).expect("mint");
    let mut a = Node::new(dir.path(), "a", 1);
    let mut b = Node::new(dir.path(), "b", 2);
    for node in [&mut a, &mut b] {
        node.register(&mut chain);
        // Collateral, so the first-four payouts reach them (D30: once proven).
        balances::mint(&mut chain.state, &node.who, 1_000 * crust_primitives::CRU).expect("mint");
        let ctx = chain.ctx(node.who);
        atomically(&mut chain.state, |s| {
            crust_runtime::benefits::add_benefit_funds(
                s,
                &ctx,
                500 * crust_primitives::CRU,
                crust_runtime::benefits::FundsType::Market,
            )
        })
        .expect("collateral");
        assert_eq!(node.worker().fill_srd().expect("fill"), CAPACITY >> 20);
    }
    let srd_at_start = a.worker().srd().size();

    let mut files: Vec<Cid> = Vec::new();
    let (mut file_repaired_at, mut srd_repaired_at) = (None, None);
    let mut b_punished_slots = 0;
    for slot in 1..=SLOTS {
        chain.advance_to(slot * SLOT_BLOCKS + 1);
        let b_offline = (100..=102).contains(&slot);

        // A new order every three days.
        if slot % 72 == 1 {
            let data = pattern(1_000_000 + (slot as usize % 3) * 700_000, slot as u32);
            let cid = common::import(&*user_store, &data);
            let size = crust_sworker::seal::dag_bytes(&*user_store, cid).expect("size");
            let commitment = crust_ipfs::commitment::of_dag(&*user_store, cid).expect("commitment");
            let ctx = chain.ctx(user);
            atomically(&mut chain.state, |s| {
                market::place_storage_order(s, &ctx, &cid, size, 0 as Balance, &commitment)
            })
            .expect("order");
            for node in [&mut a, &mut b] {
                let scratch = fetch(&rt, &user_addr, cid, node.net_seed + 100);
                node.worker()
                    .store_file(&*scratch, cid, Some(&commitment))
                    .expect("store");
                assert!(node.worker().files_bytes() + node.worker().srd().size() <= CAPACITY);
            }
            files.push(cid);
        }

        // Damage on A's disks.
        if slot == 50 {
            let root = files[0];
            let file = a.worker().sealed().file(&root).expect("sealed");
            let path = a.config.dir.join("sealed").join(format!("{root}.sealed"));
            let mut raw = std::fs::read(&path).expect("read");
            raw[file.blocks[2].offset as usize + 7] ^= 0xff;
            std::fs::write(&path, raw).expect("write");
        }
        if slot == 60 {
            let unit = a.worker().srd().units().next().expect("a unit").id;
            let path = a.config.srd.paths[0].join(format!("{unit}.srd"));
            let mut raw = std::fs::read(&path).expect("read");
            raw[1234] ^= 0xff;
            std::fs::write(&path, raw).expect("write");
        }

        // Validation and repair, seeded by the slot's block hash.
        for (node, offline) in [(&mut a, false), (&mut b, b_offline)] {
            if offline {
                continue;
            }
            let seed = block_hash(slot * SLOT_BLOCKS);
            let found = node.worker().validate(&seed, 8).expect("validate");
            for lost in &found.files_lost {
                let scratch = fetch(&rt, &user_addr, *lost, node.net_seed + 150);
                node.worker().repair(&*scratch, *lost).expect("repair");
                file_repaired_at.get_or_insert(slot);
            }
            if !found.srd_repaired.is_empty() {
                srd_repaired_at.get_or_insert(slot);
            }
        }

        // New replicas are proven once their seed is known, before they are challenged.
        for (node, offline) in [(&mut a, false), (&mut b, b_offline)] {
            if !offline {
                node.prove(&mut chain);
            }
        }

        // Reports, with A's two restarts.
        match slot {
            80 => {
                // Prepared, then the process dies before sending.
                let start = slot * SLOT_BLOCKS;
                a.worker()
                    .prepare_report(start, block_hash(start))
                    .expect("prepare");
                a.restart();
                assert_eq!(a.worker().pending_slot(), Some(start));
                let accepted = a.chain_hash(&chain);
                assert!(
                    !a.worker().reconcile(accepted).expect("reconcile"),
                    "never sent"
                );
                a.report(&mut chain, slot, &|cid| fetch(&rt, &user_addr, cid, 181));
            }
            90 => {
                // Sent and accepted, then the process dies before seeing the result.
                let start = slot * SLOT_BLOCKS;
                let (work, sig) = a
                    .worker()
                    .prepare_report(start, block_hash(start))
                    .expect("prepare");
                let picks = picks(&chain, &a.enclave.public_key(), &block_hash(start));
                let answers = a.worker().answers(&picks).expect("answers");
                let srd = a
                    .worker()
                    .srd_answers(&block_hash(start))
                    .expect("SRD answers");
                a.send(&mut chain, &work, &sig, &answers, &srd);
                a.restart();
                let accepted = a.chain_hash(&chain);
                assert!(
                    a.worker().reconcile(accepted).expect("reconcile"),
                    "it was accepted"
                );
                // The resend a cautious worker makes is a no-op on chain.
                a.send(&mut chain, &work, &sig, &answers, &srd);
                a.accepted -= 1;
            }
            _ => a.report(&mut chain, slot, &|cid| fetch(&rt, &user_addr, cid, 181)),
        }
        if !b_offline {
            b.report(&mut chain, slot, &|cid| fetch(&rt, &user_addr, cid, 182));
        }

        // B's punishment shows in the workload the chain computed for the previous slot:
        // zero for the three slots it missed (100–102) and for eight slots from the last miss
        // (102–109); it counts again from slot 110.
        // A missed report drops the identity's replicas (D18); B earns them back by reporting
        // its files again when it returns.
        if slot == 102 {
            for cid in &files {
                let info = market::file(&chain.state, cid)
                    .expect("state")
                    .expect("file");
                assert!(
                    info.replicas.iter().all(|r| r.who != b.who),
                    "{cid} dropped"
                );
            }
        }
        let b_workload = swork::workload(&chain.state, &b.who).expect("workload");
        let consolidated = slot - 1;
        if (100..110).contains(&consolidated) {
            assert_eq!(b_workload, 0, "B punished for slot {consolidated}");
            b_punished_slots += 1;
        } else if consolidated >= 1 {
            assert!(b_workload > 0, "B counts for slot {consolidated}");
        }
    }
    chain.advance_to((SLOTS + 1) * SLOT_BLOCKS + 1);

    assert_eq!(a.accepted, SLOTS);
    assert_eq!(b.accepted, SLOTS - 3);
    // Every report after the first file arrived answered storage challenges (D18).
    assert!(
        a.challenged > SLOTS,
        "A answered {} challenges",
        a.challenged
    );
    assert!(
        b.challenged > SLOTS,
        "B answered {} challenges",
        b.challenged
    );
    assert!(
        a.srd_challenged > 100,
        "A answered {} SRD challenges",
        a.srd_challenged
    );
    assert_eq!(b_punished_slots, 10);
    assert!(swork::workload(&chain.state, &a.who).expect("workload") > 0);
    assert!(
        swork::workload(&chain.state, &b.who).expect("workload") > 0,
        "B counts again"
    );
    // The damage is found by validation or by a challenge landing on it, whichever first.
    let by_challenge = a.repaired_for_challenge.first().map(|(slot, _)| *slot);
    let repaired = match (file_repaired_at, by_challenge) {
        (Some(x), Some(y)) => x.min(y),
        (x, y) => x.or(y).expect("the damaged file was found"),
    };
    assert!(
        (50..50 + 24).contains(&repaired),
        "found at slot {repaired}"
    );
    let refilled = srd_repaired_at.expect("the damaged unit was found");
    assert!(
        (60..60 + 24).contains(&refilled),
        "found at slot {refilled}"
    );
    for node in [&mut a, &mut b] {
        let w = node.worker();
        for f in w.sealed().files() {
            assert!(w.sealed().validate(&f.cid()).expect("validate").is_empty());
        }
        assert!(w.srd().size() < srd_at_start, "SRD made room for files");
        assert!(w.files_bytes() + w.srd().size() <= CAPACITY);
    }
    // The chain's view matches the workers': both hold every file as a replica.
    assert_eq!(files.len(), 10);
    for cid in &files {
        let info = market::file(&chain.state, cid)
            .expect("state")
            .expect("ordered file");
        let holders: Vec<_> = info.replicas.iter().map(|r| r.who).collect();
        assert!(
            holders.contains(&a.who) && holders.contains(&b.who),
            "{cid}: {holders:?}"
        );
        // Both were paid for every file, once each, after proving it (D12, D30).
        assert!(
            info.paid_owners.contains(&a.who) && info.paid_owners.contains(&b.who),
            "{cid} paid {:?}",
            info.paid_owners
        );
    }
    for node in [&a, &b] {
        let (_, reward) =
            crust_runtime::benefits::collateral_and_reward(&chain.state, &node.who).expect("state");
        assert!(reward > 0, "rewards kept");
    }
    // Every replica was proven before it counted: A once per file (10), B twice for the files
    // it held before going offline.
    assert_eq!(a.proven, 10);
    assert!(b.proven > 10, "B proved {} times", b.proven);
    let record = swork::work_report(&chain.state, &a.enclave.public_key())
        .expect("state")
        .expect("record");
    assert_eq!(record.reported_files_size, a.worker().files_bytes());
}
