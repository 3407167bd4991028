//! The storage worker: the part of a storage node that turns "I have the file" into something
//! the chain can trust (the reference network's sWorker).
//!
//! - [`enclave`]: the trust boundary — identity key and attestation, per-replica sealing keys
//!   (D25), SRD derivation (D26), report signing — and an in-process software enclave.
//! - [`content`]: the content commitment's index kept with each replica, to prove pieces of
//!   the ordered content (D29) from the sealed copy.
//! - [`seal`]: sealed replicas on disk with per-file Merkle trees, served back as a verified
//!   blockstore and provable block by block (D18).
//! - [`srd`]: spare capacity filled with enclave-derived data, shrunk for files, repaired.
//! - [`report`]: work reports built from what is sealed and what the chain last accepted.
//! - [`worker`]: one identity's capacity, validation and repair, and the restart-safe report
//!   cycle with the chain.

pub mod content;
pub mod duties;
pub mod enclave;
pub mod orders;
pub mod report;
pub mod seal;
pub mod srd;
pub mod worker;

pub use enclave::{Enclave, EnclaveError, SoftwareEnclave};
pub use seal::{SealError, SealedFile, SealedStore};
pub use srd::{Srd, SrdConfig};
pub use worker::{Worker, WorkerConfig};

/// A deterministic 64-bit sample number `n` from `seed` (validation and challenge picks).
pub fn sample(seed: &[u8; 32], n: u64) -> u64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(seed)
        .chain_update(n.to_be_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}
