//! The storage worker: the part of a storage node that turns "I have the file" into something
//! the chain can trust (the reference network's sWorker).
//!
//! - [`enclave`]: the trust boundary — identity key and attestation, per-replica sealing keys
//!   (D25), SRD derivation (D26), report signing — and an in-process software enclave.
//! - [`seal`]: sealed replicas on disk with per-file Merkle trees, served back as a verified
//!   blockstore and provable block by block (D18).
//! - [`report`]: work reports built from what is sealed and what the chain last accepted.

pub mod enclave;
pub mod report;
pub mod seal;

pub use enclave::{Enclave, EnclaveError, SoftwareEnclave};
pub use seal::{SealError, SealedFile, SealedStore};
