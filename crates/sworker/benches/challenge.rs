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
use crust_primitives::{commitment, merkle};
use crust_runtime::swork::{WorkReportRecord, challenge};
use crust_sworker::content::ContentIndex;
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

    // The size-dependent parts at 1 TiB, on synthetic trees of that shape:
    // - sealed: 4 Mi block leaves (256 KiB blocks); the store keeps the nodes 10 levels up,
    //   so a proof hashes one subtree of 1 024 leaves and the 4 096 kept nodes;
    // - content: 2^29 pieces; the index keeps the 2^20 nodes over 1 MiB chunks and the 1 024
    //   nodes above them, so a proof hashes one chunk and 1 024 + 1 024 nodes.
    let leaves: Vec<merkle::Hash> = (0u64..1 << 22)
        .map(|i| merkle::leaf(&i.to_le_bytes()))
        .collect();
    let mut b = merkle::Builder::with_cap(crust_sworker::seal::LEAF_CAP_HEIGHT);
    for l in &leaves {
        b.push(*l);
    }
    let (sealed_root, leaf_caps) = b.finish_with_cap();
    let target = 1_234_567usize;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let span = 1usize << crust_sworker::seal::LEAF_CAP_HEIGHT;
        let start = target / span * span;
        let lower = merkle::prove(&leaves[start..start + span], target - start).expect("lower");
        let upper = merkle::prove(&leaf_caps, target / span).expect("upper");
        let proof = merkle::join(
            target as u64,
            leaves.len() as u64,
            crust_sworker::seal::LEAF_CAP_HEIGHT,
            &lower,
            &upper,
        )
        .expect("join");
        assert!(merkle::verify(
            &sealed_root,
            leaves.len() as u64,
            &leaves[target],
            &proof
        ));
    }
    let tib_sealed = t.elapsed().as_secs_f64() / f64::from(ROUNDS);
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let chunk_leaves: Vec<merkle::Hash> = chunk
        .chunks(commitment::PIECE_BYTES)
        .map(merkle::leaf)
        .collect();
    let mut caps: Vec<merkle::Hash> = (0u32..1 << 20)
        .map(|i| merkle::leaf(&i.to_be_bytes()))
        .collect();
    caps[777_777] = merkle::root(&chunk_leaves);
    let tib = ContentIndex {
        commitment: commitment::ContentCommitment {
            root: merkle::root(&caps),
            size: 1 << 40,
        },
        top: {
            let mut b = merkle::Builder::with_cap(crust_sworker::content::TOP_HEIGHT);
            for c in &caps {
                b.push(*c);
            }
            b.finish_with_cap().1
        },
        caps,
        sections: Vec::new(),
    };
    let piece = 777_777u64 * 512 + 300;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let proof = tib.prove_in_chunk(piece, &chunk).expect("content proof");
        let at = 300 * commitment::PIECE_BYTES;
        assert!(commitment::verify_piece(
            &tib.commitment,
            piece,
            &chunk[at..at + commitment::PIECE_BYTES],
            &proof
        ));
    }
    let tib_content = t.elapsed().as_secs_f64() / f64::from(ROUNDS);
    // Reading a chunk back means unsealing 1 MiB: the measured pending proof over this run's
    // file is 4 such chunk rebuilds.
    let unseal_chunk = pending_time / 4.0;
    let tib_slot =
        validate + challenge::FILE_CHALLENGES as f64 * (tib_sealed + tib_content + unseal_chunk);
    let tib_pending = 4.0 * (tib_content + unseal_chunk);

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
        "1 TiB      sealed proof {:.2} ms, content proof {:.2} ms (+{:.1} ms to rebuild a chunk); \
~{:.3} s per slot with {} challenges = {:.6} of hashing 1 TiB; a new replica's proof {:.3} s",
        tib_sealed * 1e3,
        tib_content * 1e3,
        unseal_chunk * 1e3,
        tib_slot,
        challenge::FILE_CHALLENGES,
        tib_slot / hash_tib,
        tib_pending
    );
}
