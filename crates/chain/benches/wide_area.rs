//! Finality over a simulated wide-area network: N real validators (store, mempool, execution,
//! marshal, simplex) in Commonware's deterministic runtime, spread round-robin over seven cloud
//! regions, each link's one-way latency taken from the region table below with ±10 % jitter
//! and 1 % message loss. Time is simulated, so the figures do not depend on this machine; its
//! CPU only bounds how long a run takes.
//!
//! For each block, finality latency is the time from its proposal (the header's timestamp,
//! taken when the leader builds it) to the moment each validator has finalized it. Printed next
//! to the aim, p50 ≤ 3 × the median one-way latency + 100 ms, and to Simplex's own bound: three
//! hops (proposal, notarize votes, finalize votes), each over when a quorum has heard, so
//! three times the quorum-th fastest one-way latency rather than the median.
//!
//! `cargo bench -p crust-chain --bench wide_area [-- 4 16 50 100]` (validator counts; default
//! 4 16 50 100). `WIDE_AREA_HEIGHT` sets how many blocks each run finalizes (default 40).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark binary

use commonware_p2p::simulated::Link;
use commonware_runtime::{Clock as _, Runner as _, deterministic};
use commonware_utils::probability;
use crust_chain::consensus::sim::{self, Cores};
use crust_chain::consensus::{PublicKey, consensus_key};
use crust_chain::spec::{ChainSpec, SpecValidator};
use crust_primitives::Keypair;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// The regions validators are spread over.
const REGIONS: [&str; 7] = [
    "us-east",
    "us-west",
    "eu-west",
    "sa-east",
    "ap-northeast",
    "ap-southeast",
    "af-south",
];

/// One-way latency between regions in milliseconds (about half the round trips public cloud
/// latency tables report between these regions); the diagonal is within a region.
const ONE_WAY_MS: [[u64; 7]; 7] = [
    //us-e us-w eu   sa   tokyo sydney capetown
    [5, 35, 40, 60, 75, 100, 115],    // us-east
    [35, 5, 70, 90, 50, 70, 145],     // us-west
    [40, 70, 5, 95, 110, 140, 80],    // eu-west
    [60, 90, 95, 5, 130, 160, 170],   // sa-east
    [75, 50, 110, 130, 5, 55, 180],   // ap-northeast
    [100, 70, 140, 160, 55, 5, 205],  // ap-southeast
    [115, 145, 80, 170, 180, 205, 5], // af-south
];

fn region(i: usize) -> usize {
    i % REGIONS.len()
}

fn link(i: usize, j: usize) -> Option<Link> {
    let ms = ONE_WAY_MS[region(i)][region(j)];
    Some(Link {
        latency: Duration::from_millis(ms),
        jitter: Duration::from_millis(ms / 10),
        success_rate: probability!(0.99),
    })
}

fn session(i: usize) -> Keypair {
    Keypair::from_suri(&format!("//V{i}//session")).unwrap()
}

fn spec(n: usize) -> ChainSpec {
    let mut spec = ChainSpec::builtin("local").unwrap();
    spec.block_time_ms = 500;
    spec.report_slot_blocks = 60;
    spec.slots_per_era = 4;
    spec.genesis_time_ms = 0;
    spec.validator_count = u32::try_from(n).unwrap();
    spec.validators = (0..n)
        .map(|i| SpecValidator {
            stash: format!("//V{i}//stash"),
            session_key: format!("//V{i}//session"),
            bond: "10000 CRU".into(),
        })
        .collect();
    spec
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// The median one-way latency over every ordered pair of distinct validators.
fn median_one_way(n: usize) -> u64 {
    let mut all: Vec<u64> = (0..n)
        .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
        .map(|(i, j)| ONE_WAY_MS[region(i)][region(j)])
        .collect();
    all.sort_unstable();
    percentile(&all, 50)
}

/// Simplex's own bound: three network hops, each ending when a quorum (n − f) has heard; the
/// median over validators of the quorum-th smallest one-way latency to it, times three.
fn quorum_hops(n: usize) -> u64 {
    let f = (n - 1) / 3;
    let quorum = n - f;
    let mut per_node: Vec<u64> = (0..n)
        .map(|i| {
            let mut l: Vec<u64> = (0..n)
                .map(|j| {
                    if i == j {
                        0
                    } else {
                        ONE_WAY_MS[region(j)][region(i)]
                    }
                })
                .collect();
            l.sort_unstable();
            l[quorum - 1]
        })
        .collect();
    per_node.sort_unstable();
    3 * percentile(&per_node, 50)
}

struct Outcome {
    latencies: Vec<u64>,
    simulated: Duration,
    height: u64,
}

fn run(n: usize, height: u64, seed: u64) -> Outcome {
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let spec = spec(n);
        let keys: Vec<PublicKey> = (0..n)
            .map(|i| {
                use commonware_cryptography::Signer as _;
                consensus_key(&session(i)).public_key()
            })
            .collect();
        let oracle = sim::network(&context, &keys, link).await;
        let cores: Cores = Arc::new(std::sync::Mutex::new(vec![None; n]));
        let mut handles = Vec::new();
        for i in 0..n {
            handles.push(
                sim::spawn_validator(&context, &oracle, &spec, &session(i), i, n, cores.clone())
                    .await,
            );
        }
        // Watch every validator's finalized height every 5 ms of simulated time.
        let start = context.current();
        let mut seen = vec![0u64; n];
        let mut latencies = Vec::new();
        let warmup = 5;
        while seen.iter().any(|h| *h < height) {
            context.sleep(Duration::from_millis(5)).await;
            let now_ms = context
                .current()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let nodes: Vec<_> = cores.lock().unwrap().clone();
            for (i, core) in nodes.iter().enumerate() {
                let Some(core) = core else { continue };
                let c = core.lock().await;
                let tip = c.last_finalized.0;
                for h in seen[i] + 1..=tip {
                    if h <= warmup {
                        continue;
                    }
                    if let Some(f) = c.finalized(h) {
                        latencies.push(now_ms.saturating_sub(f.block.header.timestamp_ms));
                    }
                }
                seen[i] = seen[i].max(tip);
            }
            if context.current().duration_since(start).unwrap_or_default()
                > Duration::from_secs(1_800)
            {
                panic!("{n} validators: no progress to height {height} (tips {seen:?})");
            }
        }
        let simulated = context.current().duration_since(start).unwrap_or_default();
        drop(handles);
        latencies.sort_unstable();
        Outcome {
            latencies,
            simulated,
            height,
        }
    })
}

fn main() {
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        counts = vec![4, 16, 50, 100];
    }
    let height: u64 = std::env::var("WIDE_AREA_HEIGHT")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(40);
    println!(
        "regions: {} (one-way 5 ms within a region, 35–205 ms between; ±10 % jitter, 1 % loss); 500 ms blocks",
        REGIONS.join(", ")
    );
    println!(
        "| validators | median one-way | aim: 3× + 100 ms | 3 quorum hops | finality p50 | p99 | blocks/s (simulated) | run time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in counts {
        let started = Instant::now();
        let out = run(n, height, 7);
        let median = median_one_way(n);
        let aim = 3 * median + 100;
        let p50 = percentile(&out.latencies, 50);
        let p99 = percentile(&out.latencies, 99);
        let rate = out.height as f64 / out.simulated.as_secs_f64().max(0.001);
        println!(
            "| {n} | {median} ms | {aim} ms | {} ms | {p50} ms{} | {p99} ms | {rate:.2} | {:.0} s |",
            quorum_hops(n),
            if p50 <= aim { "" } else { " (over)" },
            started.elapsed().as_secs_f64()
        );
    }
}
