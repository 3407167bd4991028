//! What storage proofs cost per report slot (D18), against hashing the data outright.
//!
//! - baseline: single-core SHA-256 throughput, measured in this run; hashing 1 TiB at that
//!   speed is what proving possession by reading everything would cost;
//! - validation: one `Worker::validate` round (16 sealed blocks unsealed and checked), per slot;
//! - answers: `Worker::answers` for one slot's challenges over a sealed file of `<MiB>`;
//! - proof for 1 TiB: the part of an answer that grows with the file — the Merkle proof over
//!   the sealed blocks' leaves — on 4 Mi leaves (1 TiB of 256 KiB blocks);
//! - on-chain: the checks `swork::challenge::verify` runs on one slot's answers (the content
//!   piece against the order's commitment, the sealed piece against the files root), without
//!   the state reads;
//! - pending proof: `Worker::pending_proof` (4 content pieces rebuilt from the sealed copy).
//!
//! Run: `cargo bench -p crust-sworker --bench challenge` (optionally `-- <MiB>`, default 256).

use crust_ipfs::blockstore::{MemStore, StoreSink};
use crust_ipfs::importer::{ImportOptions, import_file};
use crust_primitives::merkle;
use crust_runtime::swork::{WorkReportRecord, challenge};
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

const TIB: f64 = (1u64 << 40) as f64;
const ROUNDS: u32 = 50;

fn main() {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let bytes = mib << 20;
    let data: Vec<u8> = (0..bytes as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();

    // Baseline: SHA-256 over the same bytes.
    let t = Instant::now();
    black_box(Sha256::digest(&data));
    let sha_bps = bytes as f64 / t.elapsed().as_secs_f64();
    let hash_tib = TIB / sha_bps;

    // A worker holding one sealed file, with a report accepted (its files root committed).
    let dir = tempfile::tempdir().expect("tmp");
    let enclave = Arc::new(SoftwareEnclave::from_seed(&[3; 32], vec![]));
    let mut worker = Worker::open(
        WorkerConfig {
            dir: dir.path().to_owned(),
            srd: SrdConfig {
                paths: vec![dir.path().join("srd")],
                reserve_bytes: 0,
                leaves_per_unit: 1,
            },
            capacity_bytes: (bytes as u64) * 2,
        },
        enclave.clone(),
    )
    .expect("worker");
    let source = MemStore::default();
    let root = import_file(
        &data[..],
        &ImportOptions::default(),
        &mut StoreSink(&source),
        &mut |_| {},
    )
    .expect("import")
    .cid;
    let sealed = worker.store_file(&source, root, None).expect("seal");
    let commitment = worker
        .sealed()
        .content_index(&root)
        .expect("index")
        .commitment;
    let (report, _) = worker.prepare_report(1, [1; 32]).expect("report");
    worker
        .reconcile(Some(crust_sworker::report::hash(&report)))
        .expect("reconcile");
    let record = WorkReportRecord {
        files_root: report.files_root,
        files_count: 1,
        ..WorkReportRecord::default()
    };
    let anchor = enclave.public_key();

    let t = Instant::now();
    for r in 0..ROUNDS {
        black_box(worker.validate(&[r as u8; 32], 16).expect("validate"));
    }
    let validate = t.elapsed().as_secs_f64() / f64::from(ROUNDS);

    let seeds: Vec<[u8; 32]> = (0..ROUNDS).map(|r| [r as u8 ^ 0x5a; 32]).collect();
    let t = Instant::now();
    let answers: Vec<_> = seeds
        .iter()
        .map(|s| {
            let picks: Vec<_> = challenge::challenges(s, &anchor, 1)
                .into_iter()
                .map(|c| (c, root))
                .collect();
            worker.answers(&picks).expect("answers")
        })
        .collect();
    let answer = t.elapsed().as_secs_f64() / f64::from(ROUNDS);

    let t = Instant::now();
    for (s, a) in seeds.iter().zip(&answers) {
        for (c, a) in challenge::challenges(s, &anchor, 1).iter().zip(a) {
            challenge::check_content(
                &commitment,
                c.content_piece(commitment.pieces()),
                &a.content,
            )
            .expect("content");
            challenge::check_sealed(&record, &root, sealed.size, c, &a.sealed).expect("sealed");
        }
    }
    let verify = t.elapsed().as_secs_f64() / f64::from(ROUNDS);
    let t = Instant::now();
    let pending: Vec<_> = seeds
        .iter()
        .map(|s| {
            worker
                .pending_proof(&root, s, &anchor)
                .expect("pending proof")
        })
        .collect();
    let pending_time = t.elapsed().as_secs_f64() / f64::from(ROUNDS);
    let pending_bytes = crust_primitives::codec::encode(&pending[0]).len();
    let answer_bytes: usize = answers[0]
        .iter()
        .map(|a| crust_primitives::codec::encode(a).len())
        .sum();

    // The size-dependent part at 1 TiB: a proof over 4 Mi block leaves (read from the leaves
    // file the sealed store keeps: 128 MiB).
    let leaves: Vec<merkle::Hash> = (0u64..1 << 22)
        .map(|i| merkle::leaf(&i.to_le_bytes()))
        .collect();
    let t = Instant::now();
    black_box(merkle::prove(&leaves, 1_234_567).expect("proof"));
    let tib_proof = t.elapsed().as_secs_f64();
    // Per slot at 1 TiB: validation (independent of size) + two answers, each a tree proof
    // over the challenged file (worst case: one 1 TiB file) plus the measured answer cost.
    let asked = answers[0].len().max(1) as f64;
    let tib_slot = validate + challenge::FILE_CHALLENGES as f64 * (tib_proof + answer / asked);

    println!("sealed file: {mib} MiB in {} blocks", sealed.blocks.len());
    println!(
        "baseline   SHA-256 {:>8.0} MB/s: hashing 1 TiB takes {hash_tib:.0} s",
        sha_bps / 1e6
    );
    println!(
        "validation {:>8.2} ms per slot (16 sealed blocks)",
        validate * 1e3
    );
    println!(
        "answers    {:>8.2} ms per slot ({} challenge(s) on one file, {answer_bytes} bytes on chain)",
        answer * 1e3,
        answers[0].len()
    );
    println!(
        "on-chain   {:>8.1} µs to verify one slot's answers",
        verify * 1e6
    );
    println!(
        "pending    {:>8.2} ms per new replica's proof ({} pieces, {pending_bytes} bytes on chain)",
        pending_time * 1e3,
        pending[0].content.len()
    );
    println!(
        "1 TiB      {:>8.0} ms per tree proof over 4 Mi leaves; ~{:.2} s per slot with {} challenges = {:.5} of hashing 1 TiB",
        tib_proof * 1e3,
        tib_slot,
        challenge::FILE_CHALLENGES,
        tib_slot / hash_tib
    );
}
