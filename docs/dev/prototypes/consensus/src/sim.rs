//! Deterministic-runtime scenarios: 4 validators on `p2p::simulated`.

use crate::app::{Mempool, Records, SharedRecords};
use crate::block::{BLOCK_CFG, Block};
use crate::node::{
    CH_BACKFILL, CH_BROADCAST, CH_CERTS, CH_RESOLVER, CH_VOTES, Channels, NodeParams, start_node,
};
use crate::{PK, Scheme};
use commonware_consensus::{marshal, simplex};
use commonware_cryptography::{Signer as _, ed25519, sha256::Digest};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    Clock, Handle, Quota, Runner as _, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZU32, NZU64, NZUsize, ordered::Set, probability};
use std::{
    num::NonZeroU64,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub const N: usize = 4;

pub const LINK: Link = Link {
    latency: Duration::from_millis(50),
    jitter: Duration::from_millis(5),
    success_rate: probability!(0.98),
};

/// Single epoch for the prototype (FixedEpocher length). Must be > 1.
pub const EPOCH_LENGTH: NonZeroU64 = NZU64!(1_000_000);

pub fn keys() -> (Vec<ed25519::PrivateKey>, Set<PK>) {
    keys_n(N)
}

pub fn keys_n(n: usize) -> (Vec<ed25519::PrivateKey>, Set<PK>) {
    let signers: Vec<_> = (0..n as u64).map(ed25519::PrivateKey::from_seed).collect();
    let participants = Set::from_iter_dedup(signers.iter().map(|s| s.public_key()));
    (signers, participants)
}

fn since_start(ctx: &impl Clock) -> Duration {
    ctx.current().duration_since(UNIX_EPOCH).unwrap_or_default()
}

pub fn new_records() -> Vec<SharedRecords> {
    new_records_n(N)
}

pub fn new_records_n(n: usize) -> Vec<SharedRecords> {
    (0..n).map(|_| Arc::new(Mutex::new(Records::default()))).collect()
}

/// Max payload any channel must carry: max(simplex votes/certs, marshal blocks/backfill).
/// `prefixed` adds the mux subchannel varint (multi-epoch nodes mux consensus channels).
pub fn max_message_size(committee: usize) -> u32 {
    let consensus = commonware_p2p::utils::mux::prefixed(
        simplex::max_payload_size::<Scheme, Digest>(committee as u32),
    );
    let marshal = marshal::max_payload_size::<marshal::standard::Standard<Block>, Scheme>(
        committee as u32,
        &BLOCK_CFG,
    );
    consensus.max(marshal) as u32
}

/// Create network + oracle, with all validators tracked as peer set 0.
pub async fn setup_network(
    context: &deterministic::Context,
    participants: &Set<PK>,
) -> Oracle<PK, deterministic::Context> {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: max_message_size(participants.len()),
            max_peers_per_set: std::num::NonZeroUsize::new(participants.len()).unwrap(),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        participants.iter().cloned(),
    )
    .await;
    network.start();
    for a in participants.iter() {
        for b in participants.iter() {
            if a != b {
                oracle.add_link(a.clone(), b.clone(), LINK).await.unwrap();
            }
        }
    }
    oracle
}

/// Register channels and start validator `index` inside its own supervised task.
/// Aborting the returned handle kills every task of that validator (crash).
pub async fn spawn_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PK, deterministic::Context>,
    index: usize,
    signer: ed25519::PrivateKey,
    participants: Set<PK>,
    mempool: Mempool,
    records: SharedRecords,
) -> Handle<()> {
    let control = oracle.control(signer.public_key());
    let quota = Quota::per_second(NZU32!(100_000));
    let reg = async |ch| control.register(ch, quota).await.unwrap();
    let channels = Channels {
        votes: reg(CH_VOTES).await,
        certs: reg(CH_CERTS).await,
        resolver: reg(CH_RESOLVER).await,
        backfill: reg(CH_BACKFILL).await,
        broadcast: reg(CH_BROADCAST).await,
    };
    let blocker = control.clone();
    let manager = oracle.manager();
    context
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |ctx| async move {
            let params = NodeParams {
                index,
                signer,
                participants,
                mempool,
                records,
                epoch_length: EPOCH_LENGTH,
            };
            let engine = start_node(ctx, params, channels, blocker, manager).await;
            let _ = engine.await;
        })
}

/// Dummy tx generator: one tx every 25ms of simulated time.
pub fn spawn_tx_generator(context: &deterministic::Context, mempool: Mempool) {
    context.child("txgen").spawn(move |ctx| async move {
        let mut n: u64 = 0;
        loop {
            ctx.sleep(Duration::from_millis(25)).await;
            if mempool.len() < 1_000 {
                mempool.push(format!("tx-{n}").into_bytes());
            }
            n += 1;
        }
    });
}

pub fn tips(records: &[SharedRecords]) -> Vec<u64> {
    records.iter().map(|r| r.lock().unwrap().tip()).collect()
}

/// Wait (in simulated time) until `pred(tips)` holds. Panics after `limit`.
pub async fn wait_until(
    ctx: &deterministic::Context,
    records: &[SharedRecords],
    limit: Duration,
    what: &str,
    pred: impl Fn(&[u64]) -> bool,
) -> Duration {
    let start = since_start(ctx);
    loop {
        let t = tips(records);
        if pred(&t) {
            return since_start(ctx) - start;
        }
        if since_start(ctx) - start > limit {
            panic!("timed out waiting for {what}; tips={t:?}");
        }
        ctx.sleep(Duration::from_millis(10)).await;
    }
}

/// Assert every node that applied height h recorded the same state root.
/// Returns the number of heights compared across all nodes.
pub fn assert_consistent(records: &[SharedRecords], upto: u64) -> u64 {
    let snapshot: Vec<_> = records
        .iter()
        .map(|r| r.lock().unwrap().applied.clone())
        .collect();
    for h in 1..=upto {
        let roots: Vec<_> = snapshot.iter().map(|m| m.get(&h).map(|(r, _)| *r)).collect();
        let first = roots[0].expect("node 0 missing height");
        for (i, r) in roots.iter().enumerate() {
            assert_eq!(r.as_ref(), Some(&first), "node {i} differs at height {h}");
        }
    }
    upto
}

#[derive(Debug, Clone)]
pub struct PartitionReport {
    pub seed: u64,
    pub phase1_height: u64,
    pub phase1_sim: Duration,
    pub phase2_from: u64,
    pub phase2_to: u64,
    pub phase2_sim: Duration,
    pub isolated_tip_during_partition: u64,
    pub catchup_target: u64,
    pub catchup_sim: Duration,
    pub final_tips: Vec<u64>,
    pub txs_applied: u64,
    pub auditor: String,
}

impl PartitionReport {
    pub fn print(&self) {
        let ms = |d: Duration, n: u64| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
        println!(
            "seed {}: phase1 all 4 at h>={} in {:.2}s sim ({:.1} ms/block) | partition v3: v0..v2 {}->{} in {:.2}s ({:.1} ms/block), v3 stuck at {} | heal: v3 caught up to {} in {:.2}s | final tips {:?} | txs {} | auditor {}",
            self.seed,
            self.phase1_height,
            self.phase1_sim.as_secs_f64(),
            ms(self.phase1_sim, self.phase1_height),
            self.phase2_from,
            self.phase2_to,
            self.phase2_sim.as_secs_f64(),
            ms(self.phase2_sim, self.phase2_to - self.phase2_from),
            self.isolated_tip_during_partition,
            self.catchup_target,
            self.catchup_sim.as_secs_f64(),
            self.final_tips,
            self.txs_applied,
            &self.auditor[..16.min(self.auditor.len())],
        );
    }
}

/// Phase 1: all 4 reach height >= 50 and agree. Phase 2: isolate v3; v0..v2 advance +20.
/// Phase 3: heal; v3 catches up. State roots must agree everywhere.
pub fn run_partition_scenario(seed: u64) -> PartitionReport {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let (signers, participants) = keys();
        let oracle = setup_network(&context, &participants).await;
        let mempool = Mempool::default();
        spawn_tx_generator(&context, mempool.clone());
        let records = new_records();
        let mut handles = Vec::new();
        for (i, signer) in signers.into_iter().enumerate() {
            handles.push(
                spawn_validator(
                    &context,
                    &oracle,
                    i,
                    signer,
                    participants.clone(),
                    mempool.clone(),
                    records[i].clone(),
                )
                .await,
            );
        }

        // Phase 1
        let phase1_sim = wait_until(&context, &records, Duration::from_secs(120), "phase 1", |t| {
            t.iter().all(|h| *h >= 50)
        })
        .await;
        let phase1_height = *tips(&records).iter().min().unwrap();
        assert_consistent(&records, phase1_height);

        // Phase 2: cut v3 off (both directions).
        // NB: records/handles are indexed by signer index, NOT by position in the (sorted)
        // participant Set.
        let pks: Vec<PK> = participants.iter().cloned().collect();
        let iso_idx = N - 1;
        let isolated = keys().0[iso_idx].public_key();
        for p in pks.iter().filter(|p| **p != isolated) {
            oracle.remove_link(isolated.clone(), p.clone()).await.unwrap();
            oracle.remove_link(p.clone(), isolated.clone()).await.unwrap();
        }
        let others: Vec<usize> = (0..N).filter(|i| *i != iso_idx).collect();
        let t = tips(&records);
        let phase2_from = others.iter().map(|i| t[*i]).max().unwrap();
        let others2 = others.clone();
        let phase2_sim = wait_until(&context, &records, Duration::from_secs(300), "phase 2", move |t| {
            others2.iter().all(|i| t[*i] >= phase2_from + 20)
        })
        .await;
        let t = tips(&records);
        let phase2_to = others.iter().map(|i| t[*i]).min().unwrap();
        let isolated_tip_during_partition = t[iso_idx];

        // Phase 3: heal.
        for p in pks.iter().filter(|p| **p != isolated) {
            oracle.add_link(isolated.clone(), p.clone(), LINK).await.unwrap();
            oracle.add_link(p.clone(), isolated.clone(), LINK).await.unwrap();
        }
        let catchup_target = *tips(&records).iter().max().unwrap();
        let catchup_sim = wait_until(&context, &records, Duration::from_secs(300), "catch-up", move |t| {
            t[iso_idx] >= catchup_target
        })
        .await;
        let final_tips = tips(&records);
        let upto = *final_tips.iter().min().unwrap();
        assert_consistent(&records, upto);
        let txs_applied = records[0].lock().unwrap().txs;
        let auditor = context.auditor().state();
        drop(handles);
        PartitionReport {
            seed,
            phase1_height,
            phase1_sim,
            phase2_from,
            phase2_to,
            phase2_sim,
            isolated_tip_during_partition,
            catchup_target,
            catchup_sim,
            final_tips,
            txs_applied,
            auditor,
        }
    })
}

#[derive(Debug, Clone)]
pub struct RestartReport {
    pub seed: u64,
    pub tips_before_crash: Vec<u64>,
    pub resumed_from: Vec<Option<u64>>,
    pub redelivered: Vec<u64>,
    pub single_node_restart_tip: u64,
    pub final_tips: Vec<u64>,
}

/// Run 1: all 4 to h>=20, then the runtime stops (start_and_recover => crash of every node,
/// unsynced writes resolved per the storage fault config). Run 2 (Runner::from(checkpoint)):
/// restart all 4 from persisted storage; they must continue the same chain to h>=40.
/// Also crash+restart a single validator inside run 2 (abort its task, re-spawn).
pub fn run_restart_scenario(seed: u64) -> RestartReport {
    let records = new_records();
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    let recs = records.clone();
    let (tips_before_crash, checkpoint) =
        deterministic::Runner::new(cfg).start_and_recover(|context| async move {
            let (signers, participants) = keys();
            let oracle = setup_network(&context, &participants).await;
            let mempool = Mempool::default();
            spawn_tx_generator(&context, mempool.clone());
            for (i, signer) in signers.into_iter().enumerate() {
                spawn_validator(&context, &oracle, i, signer, participants.clone(), mempool.clone(), recs[i].clone()).await;
            }
            wait_until(&context, &recs, Duration::from_secs(120), "run1", |t| t.iter().all(|h| *h >= 20)).await;
            tips(&recs)
        });
    assert_consistent(&records, *tips_before_crash.iter().min().unwrap());

    let recs = records.clone();
    let single_node_restart_tip = deterministic::Runner::from(checkpoint).start(|context| async move {
        let (signers, participants) = keys();
        let oracle = setup_network(&context, &participants).await;
        let mempool = Mempool::default();
        spawn_tx_generator(&context, mempool.clone());
        let mut handles = Vec::new();
        for (i, signer) in signers.iter().cloned().enumerate() {
            handles.push(
                spawn_validator(&context, &oracle, i, signer, participants.clone(), mempool.clone(), recs[i].clone()).await,
            );
        }
        let target = tips(&recs).into_iter().max().unwrap() + 10;
        wait_until(&context, &recs, Duration::from_secs(120), "run2 after full restart", move |t| {
            t.iter().all(|h| *h >= target)
        })
        .await;

        // Crash validator 2 only (abort its supervision subtree), let others move on, restart it.
        handles[2].abort();
        let tip2 = tips(&recs)[2];
        let target = tips(&recs).into_iter().max().unwrap() + 10;
        wait_until(&context, &recs, Duration::from_secs(120), "others while v2 down", move |t| {
            [0, 1, 3].iter().all(|i| t[*i] >= target)
        })
        .await;
        assert!(tips(&recs)[2] <= tip2 + 1, "crashed node should not progress");
        handles[2] = spawn_validator(
            &context,
            &oracle,
            2,
            signers[2].clone(),
            participants.clone(),
            mempool.clone(),
            recs[2].clone(),
        )
        .await;
        let target = tips(&recs).into_iter().max().unwrap() + 5;
        wait_until(&context, &recs, Duration::from_secs(120), "v2 rejoin", move |t| {
            t.iter().all(|h| *h >= target)
        })
        .await;
        tip2
    });
    let final_tips = tips(&records);
    assert_consistent(&records, *final_tips.iter().min().unwrap());
    let (resumed_from, redelivered) = records
        .iter()
        .map(|r| {
            let r = r.lock().unwrap();
            (r.resumed_from, r.redelivered)
        })
        .unzip();
    RestartReport {
        seed,
        tips_before_crash,
        resumed_from,
        redelivered,
        single_node_restart_tip,
        final_tips,
    }
}

#[allow(dead_code)]
fn _unused(_: SystemTime) {}

// ---------------------------------------------------------------------------------------------
// Multi-epoch scenario
// ---------------------------------------------------------------------------------------------

pub const MULTI_EPOCH_LENGTH: u64 = 20;

pub async fn spawn_epoch_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PK, deterministic::Context>,
    index: usize,
    signer: ed25519::PrivateKey,
    committee: crate::epochs::CommitteeFn,
    mempool: Mempool,
    records: SharedRecords,
) -> Handle<()> {
    let control = oracle.control(signer.public_key());
    let quota = Quota::per_second(NZU32!(100_000));
    let reg = async |ch| control.register(ch, quota).await.unwrap();
    let channels = Channels {
        votes: reg(CH_VOTES).await,
        certs: reg(CH_CERTS).await,
        resolver: reg(CH_RESOLVER).await,
        backfill: reg(CH_BACKFILL).await,
        broadcast: reg(CH_BROADCAST).await,
    };
    let blocker = control.clone();
    let manager = oracle.manager();
    context
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |ctx| async move {
            let params = crate::epochs::EpochNodeParams {
                index,
                signer,
                committee,
                mempool,
                records,
                epocher: commonware_consensus::types::FixedEpocher::new(NZU64!(MULTI_EPOCH_LENGTH)),
            };
            let h = crate::epochs::start_epoch_node(ctx, params, channels, blocker, manager).await;
            let _ = h.await;
        })
}

#[derive(Debug, Clone)]
pub struct EpochReport {
    pub seed: u64,
    pub phase1_height: u64,
    pub phase1_sim: Duration,
    pub epoch_starts_v0: Vec<(u64, u64)>,
    pub partition_from: u64,
    pub partition_to: u64,
    pub isolated_tip: u64,
    pub catchup_target: u64,
    pub catchup_sim: Duration,
    pub epoch_starts_v3: Vec<(u64, u64)>,
    pub final_tips: Vec<u64>,
}

/// Epochs of 20 blocks, one simplex engine per epoch per node. Phase 1: all reach h>=70
/// (3 epoch switches). Phase 2: v3 isolated while the others cross >=1 epoch boundary.
/// Phase 3: heal; v3 must catch up across epochs (backup-channel hint -> marshal backfill).
pub fn run_epoch_scenario(seed: u64) -> EpochReport {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let (signers, participants) = keys();
        let committee_set = participants.clone();
        let committee: crate::epochs::CommitteeFn = Arc::new(move |_epoch| committee_set.clone());
        let oracle = setup_network(&context, &participants).await;
        let mempool = Mempool::default();
        spawn_tx_generator(&context, mempool.clone());
        let records = new_records();
        for (i, signer) in signers.into_iter().enumerate() {
            spawn_epoch_validator(&context, &oracle, i, signer, committee.clone(), mempool.clone(), records[i].clone()).await;
        }
        let phase1_sim = wait_until(&context, &records, Duration::from_secs(300), "epoch phase 1", |t| {
            t.iter().all(|h| *h >= 70)
        })
        .await;
        let phase1_height = *tips(&records).iter().min().unwrap();
        assert_consistent(&records, phase1_height);

        // isolate v3 across an epoch boundary
        let iso = N - 1;
        let isolated = keys().0[iso].public_key();
        for p in participants.iter().filter(|p| **p != isolated) {
            oracle.remove_link(isolated.clone(), p.clone()).await.unwrap();
            oracle.remove_link(p.clone(), isolated.clone()).await.unwrap();
        }
        let partition_from = tips(&records)[..iso].iter().copied().max().unwrap();
        wait_until(&context, &records, Duration::from_secs(600), "epoch phase 2", move |t| {
            t[..iso].iter().all(|h| *h >= partition_from + 30)
        })
        .await;
        let partition_to = tips(&records)[..iso].iter().copied().min().unwrap();
        let isolated_tip = tips(&records)[iso];

        for p in participants.iter().filter(|p| **p != isolated) {
            oracle.add_link(isolated.clone(), p.clone(), LINK).await.unwrap();
            oracle.add_link(p.clone(), isolated.clone(), LINK).await.unwrap();
        }
        let catchup_target = tips(&records).into_iter().max().unwrap();
        let catchup_sim = wait_until(&context, &records, Duration::from_secs(600), "epoch catch-up", move |t| {
            t[iso] >= catchup_target
        })
        .await;
        // and v3 participates again: everyone moves on together
        let target = tips(&records).into_iter().max().unwrap() + 10;
        wait_until(&context, &records, Duration::from_secs(600), "epoch final", move |t| {
            t.iter().all(|h| *h >= target)
        })
        .await;
        let final_tips = tips(&records);
        assert_consistent(&records, *final_tips.iter().min().unwrap());
        let epoch_starts_v0 = records[0].lock().unwrap().epoch_starts.clone();
        let epoch_starts_v3 = records[iso].lock().unwrap().epoch_starts.clone();
        EpochReport {
            seed,
            phase1_height,
            phase1_sim,
            epoch_starts_v0,
            partition_from,
            partition_to,
            isolated_tip,
            catchup_target,
            catchup_sim,
            epoch_starts_v3,
            final_tips,
        }
    })
}

#[derive(Debug, Clone)]
pub struct RotationReport {
    pub seed: u64,
    pub sim: Duration,
    pub final_tips: Vec<u64>,
    /// (epoch, excluded validator index)
    pub schedule: Vec<(u64, usize)>,
    pub epoch_starts_v0: Vec<(u64, u64)>,
}

/// 5 validators, committees of 4 rotating per epoch (epoch e excludes validator e % 5).
/// Non-members run marshal only and catch up through the backup-channel hint.
pub fn run_rotation_scenario(seed: u64) -> RotationReport {
    const V: usize = 5;
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let (signers, participants) = keys_n(V);
        let pks: Vec<PK> = signers.iter().map(|s| s.public_key()).collect();
        let committee: crate::epochs::CommitteeFn = Arc::new(move |epoch| {
            let excluded = (epoch.get() % V as u64) as usize;
            Set::from_iter_dedup(
                pks.iter().enumerate().filter(|(i, _)| *i != excluded).map(|(_, p)| p.clone()),
            )
        });
        let oracle = setup_network(&context, &participants).await;
        let mempool = Mempool::default();
        spawn_tx_generator(&context, mempool.clone());
        let records = new_records_n(V);
        for (i, signer) in signers.into_iter().enumerate() {
            spawn_epoch_validator(&context, &oracle, i, signer, committee.clone(), mempool.clone(), records[i].clone()).await;
        }
        let target = 6 * MULTI_EPOCH_LENGTH + 1;
        let sim = wait_until(&context, &records, Duration::from_secs(900), "rotation", move |t| {
            t.iter().all(|h| *h >= target)
        })
        .await;
        let final_tips = tips(&records);
        assert_consistent(&records, *final_tips.iter().min().unwrap());
        let epoch_starts_v0 = records[0].lock().unwrap().epoch_starts.clone();
        RotationReport {
            seed,
            sim,
            final_tips,
            schedule: (0..7).map(|e| (e, (e % V as u64) as usize)).collect(),
            epoch_starts_v0,
        }
    })
}
