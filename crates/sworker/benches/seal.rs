//! Seal throughput on one core against the raw AEAD measured in the same run.
//!
//! - raw: ChaCha20-Poly1305 over 256 KiB blocks under one fixed key (the cipher's ceiling);
//! - enclave seal: `Enclave::seal`, which adds the per-block HKDF key derivation (D25);
//! - seal_file: a whole imported file from an in-memory blockstore into the on-disk sealed
//!   store (DAG walk, sealing, Merkle leaves, write and fsync).
//!
//! Run: `cargo bench -p crust-sworker --bench seal` (optionally `-- <MiB>`, default 256).
//! Prints MB/s and each result as a ratio of raw (the aim: at least 0.8).

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use crust_ipfs::blockstore::{MemStore, StoreSink};
use crust_ipfs::importer::{ImportOptions, import_file};
use crust_sworker::{Enclave, SealedStore, SoftwareEnclave};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

const BLOCK: usize = 256 * 1024;

fn main() {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let bytes = mib * 1024 * 1024;
    let data: Vec<u8> = (0..bytes as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();

    let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
    let t = Instant::now();
    for (i, b) in blocks.iter().enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
        black_box(cipher.encrypt(&Nonce::from(nonce), *b).expect("encrypt"));
    }
    let raw = bytes as f64 / t.elapsed().as_secs_f64() / 1e6;

    let enclave = Arc::new(SoftwareEnclave::from_seed(&[1; 32], vec![]));
    let file_cid = crust_ipfs::Block::raw(b"bench".to_vec()).cid;
    let t = Instant::now();
    for (i, b) in blocks.iter().enumerate() {
        black_box(enclave.seal(&file_cid, i as u64, b));
    }
    let seal = bytes as f64 / t.elapsed().as_secs_f64() / 1e6;

    let source = MemStore::default();
    let root = import_file(
        &data[..],
        &ImportOptions::default(),
        &mut StoreSink(&source),
        &mut |_| {},
    )
    .expect("import")
    .cid;
    let dir = tempfile::tempdir().expect("tmp");
    let store = SealedStore::open(dir.path(), enclave).expect("sealed store");
    let t = Instant::now();
    store.seal_file(&source, root, None).expect("seal file");
    let file = bytes as f64 / t.elapsed().as_secs_f64() / 1e6;

    println!("seal throughput, {mib} MiB in 256 KiB blocks, one core");
    println!("raw ChaCha20-Poly1305      {raw:8.1} MB/s   (baseline)");
    println!(
        "Enclave::seal (+HKDF)      {seal:8.1} MB/s   x{:.2} of raw",
        seal / raw
    );
    println!(
        "SealedStore::seal_file     {file:8.1} MB/s   x{:.2} of raw (disk, fsync)",
        file / raw
    );
}
