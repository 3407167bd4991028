//! One storage identity's work: sealed files and SRD within a capacity, validation and repair,
//! and the report cycle with the chain, safe across restarts.
//!
//! Report cycle: [`Worker::prepare_report`] builds the slot's report and records it as
//! pending (durably) before anything is sent; [`Worker::reconcile`] later compares the
//! chain's last accepted report hash with the pending one and either commits it (the files it
//! listed become the reported set) or drops it. A restart between sending and seeing the result
//! therefore neither loses nor duplicates entries: the resend of a pending report is a no-op on
//! chain (D14), and a dropped one is rebuilt from the last accepted set next slot.

use crate::enclave::{Enclave, SRD_LEAF_BYTES};
use crate::report::{self, Committed, SlotInput};
use crate::seal::{SealError, SealedFile, SealedStore};
use crate::srd::{Srd, SrdConfig, SrdError};
use crust_ipfs::Cid;
use crust_ipfs::blockstore::Blockstore;
use crust_primitives::Signature;
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::merkle;
use crust_runtime::swork::challenge::{
    self, Challenge, ChallengeAnswer, ContentProof, PendingProof, SealedProof, SrdAnswer,
};
use crust_runtime::swork::{Root, WorkReport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the worker failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Sealing or reading a sealed file failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// SRD failed.
    #[error(transparent)]
    Srd(#[from] SrdError),
    /// The worker's own state file failed.
    #[error("worker state {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A storage challenge cannot be answered from the data held.
    #[error("storage challenge: {0}")]
    Challenge(String),
    /// A challenged file's data is damaged or missing: repair it (re-fetch and re-seal), then
    /// answer again.
    #[error("cannot answer for {cid}: {reason}")]
    Unanswerable {
        /// The file.
        cid: Cid,
        /// Why.
        reason: String,
    },
    /// A capacity smaller than the sealed files (files are never dropped to fit).
    #[error("capacity {capacity} is below the {files} bytes of sealed files")]
    CapacityBelowFiles {
        /// Sealed file bytes.
        files: u64,
        /// The capacity asked for.
        capacity: u64,
    },
    /// The file does not fit even with all SRD removed.
    #[error("{cid} needs {needed} bytes; only {available} are left in the capacity")]
    NoSpace {
        /// The file.
        cid: Cid,
        /// Its size.
        needed: u64,
        /// What is left.
        available: u64,
    },
}

impl WorkerError {
    /// Whether the file was refused because its content is not what the order committed to
    /// (D29): retrying cannot help.
    pub fn is_commitment_mismatch(&self) -> bool {
        matches!(self, Self::Seal(SealError::CommitmentMismatch { .. }))
    }
}

/// How much the worker may use and where.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The worker's directory (sealed files, state).
    pub dir: PathBuf,
    /// SRD layout.
    pub srd: SrdConfig,
    /// Bytes the operator gives to files + SRD together.
    pub capacity_bytes: u64,
}

/// What the chain accepted last, and the report waiting for the chain's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ReportState {
    prev_report_hash: Root,
    /// CID → size, as the chain last accepted.
    reported: Vec<(String, u64)>,
    /// The report sent (or about to be) and not yet seen on chain: its hash and its files.
    pending: Option<Pending>,
    /// The files the last accepted report's files root commits to, in its order: what this
    /// slot's storage challenges ask about (D18).
    #[serde(default)]
    committed: Vec<Committed>,
    /// The SRD units (number, root) the last accepted report's SRD root commits to, by number,
    /// and their leaf count.
    #[serde(default)]
    committed_srd: Vec<(u64, merkle::Hash)>,
    #[serde(default)]
    committed_srd_leaves: u32,
    /// Files whose orders ended: left out of reports, their sealed data kept until a report
    /// that no longer commits to them is accepted (a challenge may still ask about them).
    #[serde(default)]
    dropping: Vec<Cid>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    slot: u64,
    hash: Root,
    files: Vec<(String, u64)>,
    #[serde(default)]
    committed: Vec<Committed>,
    #[serde(default)]
    committed_srd: Vec<(u64, merkle::Hash)>,
}

/// What a validation round found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// SRD units found damaged and refilled.
    pub srd_repaired: Vec<u64>,
    /// Files with a damaged block: to be re-fetched and re-sealed (D28).
    pub files_lost: Vec<Cid>,
}

/// A storage identity at work.
pub struct Worker {
    config: WorkerConfig,
    enclave: Arc<dyn Enclave>,
    sealed: Arc<SealedStore>,
    srd: Srd,
    state: ReportState,
}

const STATE_FILE: &str = "worker.json";

fn to_map(list: &[(String, u64)]) -> BTreeMap<Cid, u64> {
    list.iter()
        .filter_map(|(c, s)| Some((c.parse().ok()?, *s)))
        .collect()
}

impl Worker {
    /// Opens the worker's stores and state under `config.dir`.
    pub fn open(config: WorkerConfig, enclave: Arc<dyn Enclave>) -> Result<Self, WorkerError> {
        let sealed = Arc::new(SealedStore::open(
            &config.dir.join("sealed"),
            enclave.clone(),
        )?);
        let srd = Srd::open(config.srd.clone(), enclave.clone())?;
        let path = config.dir.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| WorkerError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ReportState::default(),
            Err(e) => {
                return Err(WorkerError::State {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Ok(Self {
            config,
            enclave,
            sealed,
            srd,
            state,
        })
    }

    fn save(&self) -> Result<(), WorkerError> {
        let path = self.config.dir.join(STATE_FILE);
        let fail = |e: &dyn std::fmt::Display| WorkerError::State {
            path: path.clone(),
            reason: e.to_string(),
        };
        let json = serde_json::to_vec(&self.state).map_err(|e| fail(&e))?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| fail(&e))?;
        f.write_all(&json).map_err(|e| fail(&e))?;
        f.sync_all().map_err(|e| fail(&e))?;
        std::fs::rename(&tmp, &path).map_err(|e| fail(&e))
    }

    /// The sealed store (it also serves reads as a blockstore).
    pub fn sealed(&self) -> &SealedStore {
        &self.sealed
    }

    /// A shared handle on the sealed store, to serve sealed replicas over the network.
    pub fn sealed_handle(&self) -> Arc<SealedStore> {
        self.sealed.clone()
    }

    /// The SRD.
    pub fn srd(&self) -> &Srd {
        &self.srd
    }

    /// Plaintext bytes of sealed files.
    pub fn files_bytes(&self) -> u64 {
        self.sealed.files().iter().map(|f| f.size).sum()
    }

    fn unit_bytes(&self) -> u64 {
        u64::from(self.config.srd.leaves_per_unit) * SRD_LEAF_BYTES as u64
    }

    /// Fills what the capacity leaves after files with SRD. Returns the units added.
    pub fn fill_srd(&mut self) -> Result<u64, WorkerError> {
        let used = self.files_bytes() + self.srd.size();
        let room = self.config.capacity_bytes.saturating_sub(used) / self.unit_bytes();
        Ok(self.srd.fill(Some(room), &mut |_, _| {})?)
    }

    /// Bytes the operator gives to files + SRD.
    pub fn capacity(&self) -> u64 {
        self.config.capacity_bytes
    }

    /// Changes the capacity: SRD shrinks or grows to fit; files are never dropped for it.
    pub fn set_capacity(&mut self, bytes: u64) -> Result<(), WorkerError> {
        let files = self.files_bytes();
        if files > bytes {
            return Err(WorkerError::CapacityBelowFiles {
                files,
                capacity: bytes,
            });
        }
        self.config.capacity_bytes = bytes;
        let over = (files + self.srd.size()).saturating_sub(bytes);
        if over > 0 {
            self.srd.shrink(over)?;
        }
        self.fill_srd()?;
        Ok(())
    }

    /// Seals the file under `root` from `source`, removing SRD first when the capacity
    /// needs the room. With `expected`, a file whose content commitment differs is refused
    /// before anything is sealed ([`WorkerError::is_commitment_mismatch`], D29).
    pub fn store_file(
        &mut self,
        source: &dyn Blockstore,
        root: Cid,
        expected: Option<&ContentCommitment>,
    ) -> Result<Arc<SealedFile>, WorkerError> {
        if let Some(done) = self.sealed.file(&root) {
            // Sealed for an order with another commitment (since superseded): not this
            // order's content, so it goes (D29).
            if let Some(expected) = expected {
                let actual = self.sealed.content_index(&root)?.commitment;
                if actual != *expected {
                    self.drop_file(&root)?;
                    return Err(SealError::CommitmentMismatch {
                        actual,
                        expected: *expected,
                    }
                    .into());
                }
            }
            // Ordered again while being dropped: keep it (and report it) after all.
            if self.state.dropping.contains(&root) {
                self.state.dropping.retain(|c| *c != root);
                self.save()?;
            }
            return Ok(done);
        }
        let needed = crate::seal::dag_bytes(source, root)?;
        let files = self.files_bytes();
        if files + needed > self.config.capacity_bytes {
            return Err(WorkerError::NoSpace {
                cid: root,
                needed,
                available: self.config.capacity_bytes.saturating_sub(files),
            });
        }
        let over = (files + self.srd.size() + needed).saturating_sub(self.config.capacity_bytes);
        if over > 0 {
            self.srd.shrink(over)?;
        }
        Ok(self.sealed.seal_file(source, root, expected)?)
    }

    /// Drops a sealed file (its order ended): the next report deletes it, and its data goes
    /// (the space back to SRD on the next fill) once the chain no longer holds the worker to it.
    pub fn drop_file(&mut self, root: &Cid) -> Result<(), WorkerError> {
        if self.sealed.file(root).is_none() || self.state.dropping.contains(root) {
            return Ok(());
        }
        let committed = self.state.committed.iter().any(|c| c.cid == *root)
            || self
                .state
                .pending
                .as_ref()
                .is_some_and(|p| p.committed.iter().any(|c| c.cid == *root));
        if !committed {
            return Ok(self.sealed.remove(root)?);
        }
        self.state.dropping.push(*root);
        self.save()
    }

    /// Files being dropped (order ended) whose data a report may still be challenged on.
    pub fn dropping(&self) -> &[Cid] {
        &self.state.dropping
    }

    /// Removes the data of dropped files that neither the accepted nor the pending report
    /// commits to.
    fn purge_dropped(&mut self) -> Result<(), WorkerError> {
        let held = |c: &Cid, s: &ReportState| {
            s.committed.iter().any(|x| x.cid == *c)
                || s.pending
                    .as_ref()
                    .is_some_and(|p| p.committed.iter().any(|x| x.cid == *c))
        };
        let (gone, kept): (Vec<Cid>, Vec<Cid>) = std::mem::take(&mut self.state.dropping)
            .into_iter()
            .partition(|c| !held(c, &self.state));
        self.state.dropping = kept;
        for root in &gone {
            self.sealed.remove(root)?;
        }
        self.save()
    }

    /// The sealed files a report should list: all but those being dropped.
    fn live_files(&self) -> Vec<Arc<SealedFile>> {
        let mut files = self.sealed.files();
        files.retain(|f| !self.state.dropping.contains(&f.cid()));
        files
    }

    /// Answers this slot's SRD challenge on the last accepted report (D18): a 4 KiB piece of a
    /// committed unit's leaf, for a report holding the SRD this worker holds now.
    pub fn srd_answers(&self, slot_hash: &Root) -> Result<Vec<SrdAnswer>, WorkerError> {
        let committed = &self.state.committed_srd;
        let leaves = self.state.committed_srd_leaves;
        let unit_bytes = u64::from(leaves) * challenge::SRD_LEAF_BYTES;
        let now: Vec<u64> = self.srd.units().map(|u| u.id).collect();
        if challenge::srd_challenge_count(committed.len() as u64 * unit_bytes, self.srd.size()) == 0
        {
            return Ok(Vec::new());
        }
        let anchor = self.enclave.public_key();
        let [unit_pick, leaf_pick, piece_pick] = challenge::srd_picks(slot_hash, &anchor);
        let index = unit_pick % (committed.len().min(now.len()) as u64).max(1);
        let (id, unit_root) = committed[index as usize];
        let unit_leaves: Vec<merkle::Hash> = committed
            .iter()
            .map(|(id, root)| challenge::srd_leaf(*id, leaves, root))
            .collect();
        let unit_proof = merkle::prove(&unit_leaves, index as usize)
            .ok_or_else(|| WorkerError::Challenge("no proof for the SRD unit".into()))?;
        let leaf_index = (leaf_pick % u64::from(leaves.max(1))) as u32;
        let (leaf, leaf_proof) = self.srd.prove(id, leaf_index)?;
        let pieces = merkle::piece_leaves(&leaf);
        let piece = (piece_pick % challenge::SRD_LEAF_PIECES) as usize;
        let piece_proof = merkle::prove(&pieces, piece)
            .ok_or_else(|| WorkerError::Challenge("short SRD leaf".into()))?;
        let start = piece * merkle::PIECE_BYTES;
        Ok(vec![SrdAnswer {
            unit_id: id,
            unit_leaves: leaves,
            unit_root,
            unit_proof,
            piece_root: merkle::root(&pieces),
            leaf_proof,
            piece: leaf
                .get(start..start + merkle::PIECE_BYTES)
                .ok_or_else(|| WorkerError::Challenge("short SRD leaf".into()))?
                .to_vec(),
            piece_proof,
        }])
    }

    /// Answers this slot's storage challenges (D18): `picks` are the challenges with the CID
    /// the chain's list holds at each picked position. Each answer proves a piece of the
    /// ordered content (against the order's commitment) and a 4 KiB piece of the sealed copy
    /// (up to the files root of the last accepted report).
    pub fn answers(&self, picks: &[(Challenge, Cid)]) -> Result<Vec<ChallengeAnswer>, WorkerError> {
        let committed = &self.state.committed;
        let leaves: Vec<merkle::Hash> = committed.iter().map(Committed::leaf).collect();
        let mut out = Vec::new();
        for (c, cid) in picks {
            let Some(at) = committed.iter().position(|f| f.cid == *cid) else {
                return Err(WorkerError::Challenge(format!(
                    "{cid} is challenged but the last accepted report does not hold it"
                )));
            };
            let file = &committed[at];
            let file_proof = merkle::prove(&leaves, at)
                .ok_or_else(|| WorkerError::Challenge("no proof for the file".into()))?;
            let damaged = |e: &dyn std::fmt::Display| WorkerError::Unanswerable {
                cid: *cid,
                reason: e.to_string(),
            };
            let block = c.block(file.block_count);
            let (sealed, block_proof) = self
                .sealed
                .prove(&file.cid, block)
                .map_err(|e| damaged(&e))?;
            let pieces = merkle::piece_leaves(&sealed);
            let piece = c.piece(pieces.len() as u64);
            let piece_proof = merkle::prove(&pieces, piece as usize)
                .ok_or_else(|| WorkerError::Challenge("empty sealed block".into()))?;
            let start = piece as usize * merkle::PIECE_BYTES;
            let end = (start + merkle::PIECE_BYTES).min(sealed.len());
            let content = self
                .content_proof(cid, |pieces| vec![c.content_piece(pieces)])
                .map_err(|e| damaged(&e))?;
            out.push(ChallengeAnswer {
                cid: *cid,
                content: content
                    .into_iter()
                    .next()
                    .ok_or_else(|| WorkerError::Challenge("no content piece".into()))?,
                sealed: SealedProof {
                    sealed_root: file.sealed_root,
                    block_count: file.block_count,
                    file_proof,
                    piece_count: pieces.len() as u64,
                    piece_root: merkle::root(&pieces),
                    block_proof,
                    piece: sealed[start..end].to_vec(),
                    piece_proof,
                },
            });
        }
        Ok(out)
    }

    /// The first proof of a pending replica of `cid` held under `anchor` (D30), for the seed
    /// the chain gives it (the hash of the block that recorded the replica).
    pub fn pending_proof(
        &self,
        cid: &Cid,
        seed: &Root,
        anchor: &Root,
    ) -> Result<PendingProof, WorkerError> {
        let content = self.content_proof(cid, |pieces| {
            challenge::pending_pieces(seed, anchor, cid, pieces)
        })?;
        Ok(PendingProof { cid: *cid, content })
    }

    /// Content proofs of the pieces `which` names for a file of that many pieces.
    fn content_proof(
        &self,
        cid: &Cid,
        which: impl FnOnce(u64) -> Vec<u64>,
    ) -> Result<Vec<ContentProof>, WorkerError> {
        let index = self.sealed.content_index(cid)?;
        which(index.commitment.pieces())
            .into_iter()
            .map(|i| {
                let (piece, proof) = self.sealed.prove_content(&index, cid, i)?;
                Ok(ContentProof { piece, proof })
            })
            .collect()
    }

    /// One validation round: `samples` SRD leaves and `samples` sealed blocks chosen from
    /// `seed`. Damaged SRD is refilled here; lost files are returned for re-fetching.
    pub fn validate(&mut self, seed: &[u8; 32], samples: u32) -> Result<Validation, WorkerError> {
        let srd_repaired = self.srd.validate(seed, samples)?;
        let files = self.sealed.files();
        let mut files_lost: Vec<Cid> = Vec::new();
        if !files.is_empty() {
            for n in 0..samples {
                let pick = crate::sample(seed, u64::from(n) | 1 << 63);
                let file = &files[(pick % files.len() as u64) as usize];
                let index = (pick >> 32) % file.blocks.len().max(1) as u64;
                let cid = file.cid();
                if !files_lost.contains(&cid) && self.sealed.unseal_block(&cid, index).is_err() {
                    files_lost.push(cid);
                }
            }
        }
        Ok(Validation {
            srd_repaired,
            files_lost,
        })
    }

    /// Re-seals a lost file from `source` (the blocks re-fetched from the data network).
    pub fn repair(&mut self, source: &dyn Blockstore, root: Cid) -> Result<(), WorkerError> {
        let expected = self.sealed.content_index(&root).ok().map(|i| i.commitment);
        self.sealed.remove(&root)?;
        self.sealed.seal_file(source, root, expected.as_ref())?;
        Ok(())
    }

    /// Builds and signs this slot's report and records it as pending before it is sent.
    pub fn prepare_report(
        &mut self,
        slot: u64,
        slot_hash: Root,
    ) -> Result<(WorkReport, Signature), WorkerError> {
        let files = self.live_files();
        let refs: Vec<&SealedFile> = files.iter().map(|f| f.as_ref()).collect();
        let input = SlotInput {
            slot,
            slot_hash,
            srd: (self.srd.size(), self.srd.root()),
            prev_report_hash: self.state.prev_report_hash,
        };
        let (work, signature) = report::build(
            self.enclave.as_ref(),
            &input,
            &refs,
            &to_map(&self.state.reported),
        );
        self.state.pending = Some(Pending {
            slot,
            hash: report::hash(&work),
            files: refs.iter().map(|f| (f.root.clone(), f.size)).collect(),
            committed: report::committed(&refs),
            committed_srd: self.srd.units().map(|u| (u.id, u.root)).collect(),
        });
        self.save()?;
        Ok((work, signature))
    }

    /// Catches up with a chain that dropped this identity's files after a missed report (D18):
    /// when the chain's record for it holds no files while the worker believes some were
    /// accepted, the next report lists every held file as new. Returns whether it did.
    pub fn sync_reported(
        &mut self,
        chain_files_size: u64,
        chain_files_root: Root,
    ) -> Result<bool, WorkerError> {
        if chain_files_size != 0 || chain_files_root != [0; 32] || self.state.reported.is_empty() {
            return Ok(false);
        }
        self.state.reported.clear();
        // The chain keeps the SRD of the last accepted report, so `committed_srd` stays.
        self.state.committed.clear();
        self.purge_dropped()?;
        Ok(true)
    }

    /// The pending report's slot, if one waits for the chain.
    pub fn pending_slot(&self) -> Option<u64> {
        self.state.pending.as_ref().map(|p| p.slot)
    }

    /// The pending report's hash, if one waits for the chain.
    pub fn pending_hash(&self) -> Option<Root> {
        self.state.pending.as_ref().map(|p| p.hash)
    }

    /// Settles the pending report against the chain: `accepted` is the hash of the last
    /// report the chain accepted for this identity. Returns whether the pending one was it.
    pub fn reconcile(&mut self, accepted: Option<Root>) -> Result<bool, WorkerError> {
        let Some(pending) = self.state.pending.take() else {
            return Ok(false);
        };
        let committed = accepted == Some(pending.hash);
        if committed {
            self.state.prev_report_hash = pending.hash;
            self.state.reported = pending.files;
            self.state.committed = pending.committed;
            self.state.committed_srd = pending.committed_srd;
            self.state.committed_srd_leaves = self.srd.leaves_per_unit();
        }
        self.purge_dropped()?;
        Ok(committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftwareEnclave;
    use crust_ipfs::blockstore::{MemStore, StoreSink};
    use crust_ipfs::importer::{ImportOptions, import_file};
    use std::path::Path;

    fn config(dir: &Path, capacity_mib: u64) -> WorkerConfig {
        WorkerConfig {
            dir: dir.to_owned(),
            srd: SrdConfig {
                paths: vec![dir.join("srd")],
                reserve_bytes: 0,
                leaves_per_unit: 1,
            },
            capacity_bytes: capacity_mib << 20,
        }
    }

    /// Bytes whose 256 KiB chunks all differ (identical chunks would be stored once).
    fn distinct(len: u32, seed: u32) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    }

    #[test]
    fn srd_yields_to_files_and_refills_after_they_go() {
        let dir = tempfile::tempdir().expect("tmp");
        let enclave = Arc::new(SoftwareEnclave::from_seed(&[1; 32], vec![]));
        let mut worker = Worker::open(config(dir.path(), 8), enclave).expect("open");
        assert_eq!(worker.fill_srd().expect("fill"), 8);
        assert_eq!(worker.srd().size(), 8 << 20);
        let source = MemStore::default();
        let data = distinct(3 << 20, 1);
        let root = import_file(
            &data[..],
            &ImportOptions::default(),
            &mut StoreSink(&source),
            &mut |_| {},
        )
        .expect("import")
        .cid;
        worker.store_file(&source, root, None).expect("store");
        // 3 MiB of file data (plus the root node) pushed out 4 units of SRD.
        assert_eq!(worker.srd().size(), 4 << 20);
        assert!(worker.files_bytes() + worker.srd().size() <= 8 << 20);
        let too_big = import_file(
            &distinct(9 << 20, 2)[..],
            &ImportOptions::default(),
            &mut StoreSink(&source),
            &mut |_| {},
        )
        .expect("import")
        .cid;
        assert!(matches!(
            worker.store_file(&source, too_big, None),
            Err(WorkerError::NoSpace { .. })
        ));
        worker.drop_file(&root).expect("drop");
        assert_eq!(worker.fill_srd().expect("refill"), 4);
        assert_eq!(worker.srd().size(), 8 << 20);
    }

    #[test]
    fn a_dropped_file_stays_until_no_report_commits_to_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let enclave = Arc::new(SoftwareEnclave::from_seed(&[2; 32], vec![]));
        let mut worker = Worker::open(config(dir.path(), 8), enclave).expect("open");
        let source = MemStore::default();
        let root = import_file(
            &distinct(1 << 20, 3)[..],
            &ImportOptions::default(),
            &mut StoreSink(&source),
            &mut |_| {},
        )
        .expect("import")
        .cid;
        worker.store_file(&source, root, None).expect("store");
        let accept = |worker: &mut Worker, slot: u64| {
            let (report, _) = worker
                .prepare_report(slot, [slot as u8; 32])
                .expect("report");
            assert!(
                worker
                    .reconcile(Some(report::hash(&report)))
                    .expect("reconcile")
            );
            report
        };
        accept(&mut worker, 10);
        // Dropped: left out of the next report, but still there to answer a challenge.
        worker.drop_file(&root).expect("drop");
        assert_eq!(worker.dropping(), [root]);
        let pick = vec![(challenge::challenges(&[1; 32], &[0; 32], 1)[0], root)];
        assert_eq!(worker.answers(&pick).expect("answers").len(), 1);
        // Ordered again before it went: it is kept and reported again.
        worker.store_file(&source, root, None).expect("store again");
        assert!(worker.dropping().is_empty());
        let report = accept(&mut worker, 20);
        assert!(report.deleted.is_empty() && report.added.is_empty());
        // Dropped for good: the report that deletes it is accepted, then the data goes.
        worker.drop_file(&root).expect("drop");
        let report = accept(&mut worker, 30);
        assert_eq!(report.deleted.len(), 1);
        assert!(worker.sealed().file(&root).is_none());
        assert!(worker.dropping().is_empty());
        assert!(worker.answers(&pick).is_err(), "no longer held");
    }

    #[test]
    fn content_that_is_not_what_was_ordered_is_refused_and_proofs_verify() {
        let dir = tempfile::tempdir().expect("tmp");
        let enclave = Arc::new(SoftwareEnclave::from_seed(&[3; 32], vec![]));
        let mut worker = Worker::open(config(dir.path(), 16), enclave).expect("open");
        let source = MemStore::default();
        let root = import_file(
            &distinct(3 << 20, 9)[..],
            &ImportOptions::default(),
            &mut StoreSink(&source),
            &mut |_| {},
        )
        .expect("import")
        .cid;
        let real = crust_ipfs::commitment::of_dag(&source, root).expect("commitment");
        let made_up = ContentCommitment {
            root: [1; 32],
            size: real.size,
        };
        let refused = worker.store_file(&source, root, Some(&made_up));
        assert!(
            refused
                .as_ref()
                .is_err_and(WorkerError::is_commitment_mismatch)
        );
        assert!(worker.sealed().file(&root).is_none(), "nothing sealed");
        worker
            .store_file(&source, root, Some(&real))
            .expect("store");
        // A pending proof and challenge answers, from the sealed copy, verify as the chain
        // checks them.
        let seed = [7; 32];
        let anchor = worker.enclave.public_key();
        let proof = worker
            .pending_proof(&root, &seed, &anchor)
            .expect("pending proof");
        let asked = challenge::pending_pieces(&seed, &anchor, &root, real.pieces());
        assert_eq!(proof.content.len(), asked.len());
        for (i, p) in asked.iter().zip(&proof.content) {
            challenge::check_content(&real, *i, p).expect("verifies");
        }
        let (report, _) = worker.prepare_report(10, [10; 32]).expect("report");
        assert!(
            worker
                .reconcile(Some(report::hash(&report)))
                .expect("reconcile")
        );
        let record = crust_runtime::swork::WorkReportRecord {
            files_root: report.files_root,
            files_count: 1,
            ..Default::default()
        };
        for n in 0..8u8 {
            let c = challenge::challenges(&[n; 32], &anchor, 1)[0];
            let a = worker.answers(&[(c, root)]).expect("answers").remove(0);
            challenge::check_content(&real, c.content_piece(real.pieces()), &a.content)
                .expect("content");
            challenge::check_sealed(&record, &root, worker.files_bytes(), &c, &a.sealed)
                .expect("sealed");
        }
    }
}
