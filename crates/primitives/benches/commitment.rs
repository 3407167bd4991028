//! Content commitment speed (D29) against raw SHA-256 over the same bytes, in the same run.
//!
//! `cargo bench -p crust-primitives --bench commitment [-- MiB]` (default 256 MiB, best of 3).
//! The aim (issue 18): the commitment at ≥ 80% of single-core SHA-256 speed, since `crust put`
//! computes it on every upload; and a piece proof checked in under 100 µs.

use crust_primitives::commitment::{Committer, prove_piece, verify_piece};
use sha2::{Digest, Sha256};
use std::time::Instant;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let data: Vec<u8> = (0..mib << 20)
        .map(|i| ((i * 2_654_435_761usize) >> 13) as u8)
        .collect();
    let (sha_s, _) = best_of(3, || Sha256::digest(&data));
    let (commit_s, (commitment, caps)) = best_of(3, || {
        let mut c = Committer::with_caps();
        for part in data.chunks(256 * 1024) {
            c.update(part);
        }
        c.finish_with_caps()
    });
    let mbps = |s: f64| data.len() as f64 / s / 1e6;
    println!("{mib} MiB, best of 3, one core");
    println!("sha-256            {:8.1} MB/s", mbps(sha_s));
    println!(
        "commitment         {:8.1} MB/s   {:.0}% of SHA-256 (aim >= 80%)",
        mbps(commit_s),
        sha_s / commit_s * 100.0
    );
    // One answer: rebuild the 1 MiB chunk's subtree from the kept caps and prove a piece.
    let index = commitment.pieces() / 2;
    let chunk_bytes = (1usize << crust_primitives::commitment::CAP_HEIGHT)
        * crust_primitives::commitment::PIECE_BYTES;
    let start =
        index as usize / (chunk_bytes / crust_primitives::commitment::PIECE_BYTES) * chunk_bytes;
    let chunk = &data[start..(start + chunk_bytes).min(data.len())];
    let (prove_s, proof) = best_of(3, || prove_piece(&commitment, &caps, index, chunk));
    let proof = proof.expect("proof");
    let p = crust_primitives::commitment::PIECE_BYTES;
    let piece = &data[index as usize * p..(index as usize + 1) * p];
    let rounds = 10_000;
    let t = Instant::now();
    for _ in 0..rounds {
        assert!(verify_piece(&commitment, index, piece, &proof));
    }
    let verify_us = t.elapsed().as_secs_f64() / rounds as f64 * 1e6;
    println!(
        "prove one piece    {:8.2} ms (reads one 1 MiB chunk; caps kept: {} KiB for this file)",
        prove_s * 1e3,
        caps.len() * 32 / 1024
    );
    println!(
        "verify one piece   {verify_us:8.2} µs (aim < 100 µs); answer {} bytes",
        piece.len() + proof.siblings.len() * 32 + 16
    );
}
