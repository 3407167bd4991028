//! Work reports: what the enclave tells the chain each slot (`docs/reference.md` M6).

use crate::enclave::Enclave;
use crate::seal::SealedFile;
use crust_primitives::merkle::{self, Hash};
use crust_primitives::{Cid, Signature};
use crust_runtime::swork::{self, ReportedFile, Root, WorkReport};
use std::collections::BTreeMap;

/// The files root: a Merkle tree over the sealed files sorted by CID, each leaf binding the
/// CID, the size, the file's sealed-block Merkle root and its block count
/// ([`swork::challenge::file_leaf`]).
pub fn files_root(files: &[&SealedFile]) -> Hash {
    let leaves: Vec<Hash> = committed(files).iter().map(Committed::leaf).collect();
    merkle::root(&leaves)
}

/// One file as a files root commits to it: what a storage challenge on that root asks about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Committed {
    /// The file's root CID.
    pub cid: Cid,
    /// Its size.
    pub size: u64,
    /// The root over its sealed blocks.
    pub sealed_root: Hash,
    /// Its sealed block count.
    pub block_count: u64,
}

impl Committed {
    /// Its leaf in the files root.
    pub fn leaf(&self) -> Hash {
        swork::challenge::file_leaf(&self.cid, self.size, &self.sealed_root, self.block_count)
    }
}

/// The files in files-root order (sorted by CID bytes).
pub fn committed(files: &[&SealedFile]) -> Vec<Committed> {
    let sorted: BTreeMap<Vec<u8>, Committed> = files
        .iter()
        .map(|f| {
            (
                f.cid().to_bytes(),
                Committed {
                    cid: f.cid(),
                    size: f.size,
                    sealed_root: f.merkle_root,
                    block_count: f.blocks.len() as u64,
                },
            )
        })
        .collect();
    sorted.into_values().collect()
}

/// What goes into one slot's report besides the files themselves.
#[derive(Clone, Debug)]
pub struct SlotInput {
    /// The report slot (its first block's height).
    pub slot: u64,
    /// That block's hash.
    pub slot_hash: Root,
    /// SRD bytes and root.
    pub srd: (u64, Hash),
    /// The last accepted report's hash (zero before the first).
    pub prev_report_hash: Root,
}

/// Builds and signs the report for `input`: `files` is everything sealed now, `reported` what
/// the chain accepted last time; added and deleted are the difference, sorted by CID.
pub fn build(
    enclave: &dyn Enclave,
    input: &SlotInput,
    files: &[&SealedFile],
    reported: &BTreeMap<Cid, u64>,
) -> (WorkReport, Signature) {
    let now: BTreeMap<Cid, u64> = files.iter().map(|f| (f.cid(), f.size)).collect();
    let entry = |(cid, size): (&Cid, &u64)| ReportedFile {
        cid: *cid,
        size: *size,
    };
    let added = now
        .iter()
        .filter(|(c, _)| !reported.contains_key(c))
        .map(entry)
        .collect();
    let deleted = reported
        .iter()
        .filter(|(c, _)| !now.contains_key(c))
        .map(entry)
        .collect();
    let report = WorkReport {
        curr_pk: enclave.public_key(),
        ab_upgrade_pk: None,
        slot: input.slot,
        slot_hash: input.slot_hash,
        srd_size: input.srd.0,
        files_size: now.values().sum(),
        srd_root: input.srd.1,
        files_root: files_root(files),
        added,
        deleted,
        prev_report_hash: input.prev_report_hash,
    };
    let signature = enclave.sign_report(&report);
    (report, signature)
}

/// The hash the next report must name.
pub fn hash(report: &WorkReport) -> Root {
    swork::report_hash(report)
}
