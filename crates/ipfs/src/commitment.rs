//! The content commitment of a DAG (D29): the commitment over its canonical CARv1, computed by
//! streaming [`crate::car::export`] through a [`Committer`], so no copy of the CAR is held.
//!
//! The canonical CAR is what `crust ipfs dag-export` and Kubo's `ipfs dag export` write: one
//! root, blocks depth-first in link order, each once, identity blocks left out. The same DAG
//! gives the same bytes and so the same commitment wherever it is computed.

use crate::blockstore::Blockstore;
use crate::exporter::ExportError;
use crust_primitives::Cid;
use crust_primitives::commitment::{Committer, ContentCommitment};
use crust_primitives::merkle::Hash;

/// The commitment of the DAG under `root`; every block must be in `store`.
pub fn of_dag(store: &dyn Blockstore, root: Cid) -> Result<ContentCommitment, ExportError> {
    let mut c = Committer::new();
    crate::car::export(store, root, &mut c)?;
    Ok(c.finish())
}

/// [`of_dag`] and the nodes a prover keeps ([`crust_primitives::commitment::CAP_HEIGHT`]).
pub fn of_dag_with_caps(
    store: &dyn Blockstore,
    root: Cid,
) -> Result<(ContentCommitment, Vec<Hash>), ExportError> {
    let mut c = Committer::with_caps();
    crate::car::export(store, root, &mut c)?;
    Ok(c.finish_with_caps())
}

/// Why a CAR received from elsewhere does not give a commitment.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// The stream is not a readable CAR, or a block does not match its CID.
    #[error(transparent)]
    Car(#[from] crate::car::CarError),
    /// A block's links cannot be read.
    #[error(transparent)]
    Links(#[from] crate::links::LinksError),
    /// The bytes are a valid CAR of the DAG but not its canonical serialization.
    #[error("not the canonical CAR of {root}: {reason}")]
    NotCanonical {
        /// The DAG's root.
        root: Cid,
        /// What differs.
        reason: String,
    },
}

/// The commitment of the DAG under `root` from a CAR stream received from someone else (a
/// daemon's `dag/export`), checked to be the DAG's canonical CAR: the canonical header for
/// `root` alone, every block verified against its CID, blocks in depth-first link order, each
/// once, none missing, no identity blocks, minimal section prefixes, nothing after the last
/// block. So a dishonest daemon cannot make the client commit to other bytes.
pub fn of_car_stream(
    reader: impl std::io::Read,
    root: Cid,
) -> Result<ContentCommitment, CanonicalError> {
    let not = |reason: String| CanonicalError::NotCanonical { root, reason };
    let expected_header = crate::car::header(&[root]);
    let mut tee = Tee {
        inner: reader,
        committer: Committer::new(),
        head: Vec::with_capacity(expected_header.len()),
        head_len: expected_header.len(),
    };
    let mut car = crate::car::CarReader::new(&mut tee)?;
    if car.roots() != [root] {
        return Err(not(format!("header roots {:?}", car.roots())));
    }
    let mut expected_len = expected_header.len() as u64;
    let mut order = Order::new(root);
    while let Some(block) = car.next_block()? {
        order.next(&block.cid, &block.data).map_err(&not)?;
        expected_len += (crate::car::section_prefix(&block.cid, block.data.len()).len()
            + block.data.len()) as u64;
    }
    order.finish().map_err(&not)?;
    drop(car);
    if tee.head != expected_header {
        return Err(not("the header is not the canonical CARv1 header".into()));
    }
    let commitment = tee.committer.finish();
    if commitment.size != expected_len {
        return Err(not(format!(
            "{} bytes where the canonical CAR has {expected_len} (non-minimal prefixes or trailing bytes)",
            commitment.size
        )));
    }
    Ok(commitment)
}

/// Passes bytes through to the CAR reader while committing to them and keeping the header.
struct Tee<R> {
    inner: R,
    committer: Committer,
    head: Vec<u8>,
    head_len: usize,
}

impl<R: std::io::Read> std::io::Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        let room = self.head_len.saturating_sub(self.head.len()).min(got.len());
        self.head.extend_from_slice(&got[..room]);
        self.committer.update(got);
        Ok(n)
    }
}

/// The canonical block order, checked one block at a time: depth-first in link order, each
/// block once, identity blocks skipped (their links still followed).
struct Order {
    stack: Vec<Cid>,
    seen: std::collections::HashSet<Cid>,
}

impl Order {
    fn new(root: Cid) -> Self {
        Self {
            stack: vec![root],
            seen: Default::default(),
        }
    }

    /// The next CID the canonical order expects, following identity blocks inline.
    fn expected(&mut self) -> Result<Option<Cid>, String> {
        while let Some(cid) = self.stack.pop() {
            if !self.seen.insert(cid) {
                continue;
            }
            if let Some(inline) = crate::block::identity_data(&cid) {
                let links = crate::links::links(&cid, inline).map_err(|e| e.to_string())?;
                self.push_unseen(links);
                continue;
            }
            if self.seen.len() > crate::exporter::MAX_SELECTED_BLOCKS {
                return Err("the DAG exceeds the block limit".into());
            }
            return Ok(Some(cid));
        }
        Ok(None)
    }

    /// Pushes a block's links (last first, so the first is visited first), leaving out those
    /// already seen: they would be skipped when popped, and a DAG repeating links many times
    /// must not grow the stack.
    fn push_unseen(&mut self, links: Vec<Cid>) {
        self.stack
            .extend(links.into_iter().rev().filter(|c| !self.seen.contains(c)));
    }

    fn next(&mut self, cid: &Cid, data: &[u8]) -> Result<(), String> {
        match self.expected()? {
            Some(want) if want == *cid => {
                let links = crate::links::links(cid, data).map_err(|e| e.to_string())?;
                self.push_unseen(links);
                Ok(())
            }
            Some(want) => Err(format!("block {cid} where {want} comes next")),
            None => Err(format!("block {cid} after the last block of the DAG")),
        }
    }

    fn finish(mut self) -> Result<(), String> {
        match self.expected()? {
            Some(missing) => Err(format!("block {missing} is missing")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::ImportOptions;
    use crate::repo::Repo;
    use crust_primitives::commitment::commit;

    fn add(repo: &Repo, data: &[u8], opts: &ImportOptions) -> Cid {
        repo.add_file(data, opts, false, &mut |_| {})
            .expect("import")
            .cid
    }

    #[test]
    fn the_commitment_is_the_one_over_the_exported_car() {
        let dir = tempfile::tempdir().unwrap();
        let store = Repo::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let opts = ImportOptions::default();
        let root = add(&store, &data, &opts);
        let mut car = Vec::new();
        crate::car::export(&store, root, &mut car).unwrap();
        let c = of_dag(&store, root).unwrap();
        assert_eq!(c, commit(&car));
        assert_eq!(c.size, car.len() as u64);
        let (with_caps, caps) = of_dag_with_caps(&store, root).unwrap();
        assert_eq!(with_caps, c);
        assert_eq!(caps.len() as u64, c.pieces().div_ceil(1 << 9));
        // Another layout of the same bytes is another DAG, and another commitment.
        let v1 = add(
            &store,
            &data,
            &ImportOptions {
                cid_version: 1,
                raw_leaves: Some(true),
                ..ImportOptions::default()
            },
        );
        assert_ne!(of_dag(&store, v1).unwrap(), c);
        // A missing block is an error, not a commitment over part of the DAG.
        let empty = Repo::open(dir.path().join("empty")).unwrap();
        assert!(of_dag(&empty, root).is_err());
    }

    #[test]
    fn a_received_car_commits_only_when_it_is_the_canonical_one() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let opts = ImportOptions::default();
        // Four identical chunks, then distinct ones: the canonical CAR holds the repeated
        // chunk once, so the order check must skip what it has seen.
        let mut data = vec![7u8; 4 * 262_144];
        data.extend((0..700_000u32).map(|i| (i % 253) as u8));
        let root = add(&repo, &data, &opts);
        let mut car = Vec::new();
        crate::car::export(&repo, root, &mut car).unwrap();
        let good = of_car_stream(&car[..], root).unwrap();
        assert_eq!(good, of_dag(&repo, root).unwrap());

        // Read the sections back to build bad variants.
        let mut reader = crate::car::CarReader::new(&car[..]).unwrap();
        let mut blocks = Vec::new();
        while let Some(b) = reader.next_block().unwrap() {
            blocks.push(b);
        }
        // Root, the repeated chunk once, three distinct chunks.
        assert_eq!(blocks.len(), 5);
        let build = |head: Vec<u8>, order: &[usize], extra: &[u8]| {
            let mut out = head;
            for &i in order {
                let b = &blocks[i];
                out.extend(crate::car::section_prefix(&b.cid, b.data.len()));
                out.extend_from_slice(&b.data);
            }
            out.extend_from_slice(extra);
            out
        };
        let head = crate::car::header(&[root]);
        let all: Vec<usize> = (0..blocks.len()).collect();
        assert_eq!(build(head.clone(), &all, &[]), car);
        let mut swapped = all.clone();
        swapped.swap(1, 2);
        let mut dup = all.clone();
        dup.push(1);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("reordered", build(head.clone(), &swapped, &[])),
            (
                "missing last",
                build(head.clone(), &all[..all.len() - 1], &[]),
            ),
            ("duplicate", build(head.clone(), &dup, &[])),
            ("trailing byte", build(head.clone(), &all, &[0])),
            (
                "other root",
                build(crate::car::header(&[blocks[1].cid]), &all, &[]),
            ),
            (
                "two roots",
                build(crate::car::header(&[root, root]), &all, &[]),
            ),
        ];
        for (name, bytes) in bad {
            assert!(of_car_stream(&bytes[..], root).is_err(), "{name} accepted");
        }
        // A non-minimal varint prefix: same blocks, other bytes.
        let mut padded = head.clone();
        for b in &blocks {
            let prefix = crate::car::section_prefix(&b.cid, b.data.len());
            let (len, used) = crate::pb::read_varint(&prefix).unwrap();
            let mut v = len;
            let mut varint = Vec::new();
            while v >= 0x80 {
                varint.push((v as u8) | 0x80);
                v >>= 7;
            }
            varint.push(v as u8 | 0x80);
            varint.push(0);
            padded.extend(varint);
            padded.extend_from_slice(&prefix[used..]);
            padded.extend_from_slice(&b.data);
        }
        // (Our CAR reader already refuses non-minimal varints; the length check would too.)
        assert!(of_car_stream(&padded[..], root).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Hostile CAR streams: flipped, cut or inserted bytes never panic the check, and
        /// whatever it accepts is exactly the canonical CAR (so the commitment is the real one).
        #[test]
        fn mutated_cars_are_refused_or_canonical(
            edits in proptest::collection::vec((0usize..100_000, 0u8..=255, 0u8..3), 1..4)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repo::open(dir.path()).unwrap();
            let mut data = vec![3u8; 2 * 262_144];
            data.extend((0..300_000u32).map(|i| (i % 241) as u8));
            let root = add(&repo, &data, &ImportOptions::default());
            let mut car = Vec::new();
            crate::car::export(&repo, root, &mut car).unwrap();
            let canonical = commit(&car);
            let mut bytes = car.clone();
            for (at, value, kind) in edits {
                let at = at % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] ^= value.max(1),
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, value),
                }
            }
            if let Ok(c) = of_car_stream(&bytes[..], root) {
                proptest::prop_assert_eq!(c, canonical);
                proptest::prop_assert_eq!(&bytes, &car);
            }
        }
    }
}
