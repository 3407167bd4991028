//! The storage worker against real parts: files imported into an on-disk blockstore, sealed
//! by software enclaves into on-disk replicas, read back through the blockstore interface,
//! damaged on disk, and reported to the runtime's sWork module.

mod common;

use common::{Chain, SLOT_BLOCKS, authority, block_hash, pattern};
use crust_ipfs::blockstore::{Blockstore, DiskStore};
use crust_primitives::{AccountId, Cid, merkle};
use crust_runtime::state::atomically;
use crust_runtime::swork;
use crust_sworker::report::{self, SlotInput};
use crust_sworker::{Enclave, SealError, SealedStore, SoftwareEnclave};
use std::collections::BTreeMap;
use std::sync::Arc;

fn import(store: &DiskStore, data: &[u8]) -> Cid {
    common::import(store, data)
}

fn enclave(seed: u8) -> Arc<SoftwareEnclave> {
    Arc::new(SoftwareEnclave::from_seed(&[seed; 32], vec![authority()]))
}

#[test]
fn sealed_replicas_read_back_bit_exact_and_differ_per_identity() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = DiskStore::open(dir.path().join("source")).expect("store");
    let data = pattern(3_000_000, 1);
    let root = import(&source, &data);

    let a = SealedStore::open(&dir.path().join("a"), enclave(1)).expect("sealed a");
    let b = SealedStore::open(&dir.path().join("b"), enclave(2)).expect("sealed b");
    let file = a.seal_file(&source, root, None).expect("seal a");
    b.seal_file(&source, root, None).expect("seal b");
    assert_eq!(file.blocks.len(), 13, "12 leaves and the root");
    assert!(file.size > data.len() as u64, "leaves plus the root node");
    // Read back through the Blockstore interface (what the gateway and Bitswap use).
    assert!(crust_ipfs::exporter::cat(&a, root).expect("cat") == data);
    assert!(crust_ipfs::exporter::cat(&b, root).expect("cat") == data);
    // Two identities' replicas share no sealed block.
    let data_a = std::fs::read(dir.path().join("a").join(format!("{root}.sealed"))).unwrap();
    let data_b = std::fs::read(dir.path().join("b").join(format!("{root}.sealed"))).unwrap();
    assert_eq!(data_a.len(), data_b.len());
    assert!(
        data_a
            .chunks(4096)
            .zip(data_b.chunks(4096))
            .all(|(x, y)| x != y)
    );
    assert_ne!(
        a.file(&root).unwrap().merkle_root,
        b.file(&root).unwrap().merkle_root
    );
    // Sealing again is a no-op; the store reopens with the same replica.
    assert_eq!(
        a.seal_file(&source, root, None).expect("again").merkle_root,
        file.merkle_root
    );
    drop(a);
    let reopened = SealedStore::open(&dir.path().join("a"), enclave(1)).expect("reopen");
    assert!(crust_ipfs::exporter::cat(&reopened, root).expect("cat") == data);
}

#[test]
fn challenge_proofs_come_from_one_kept_subtree_and_match_the_full_tree() {
    // 2 600 blocks of 1 KiB chunks: three subtrees of 1 024 sealed blocks under the kept caps.
    let dir = tempfile::tempdir().expect("tmp");
    let source = DiskStore::open(dir.path().join("source")).expect("store");
    let options = crust_ipfs::importer::ImportOptions {
        chunk_size: 1024,
        ..Default::default()
    };
    let root = crust_ipfs::importer::import_file(
        &pattern(2_600_000, 4)[..],
        &options,
        &mut crust_ipfs::blockstore::StoreSink(&source),
        &mut |_| {},
    )
    .expect("import")
    .cid;
    let sealed_dir = dir.path().join("sealed");
    let store = SealedStore::open(&sealed_dir, enclave(4)).expect("sealed");
    let file = store.seal_file(&source, root, None).expect("seal");
    let n = file.blocks.len();
    assert!(n > 2 * 1024, "{n} blocks");
    let leaves: Vec<merkle::Hash> = (0..n as u64)
        .map(|i| merkle::block_leaf(&store.sealed_block(&root, i).expect("block")))
        .collect();
    for i in [0, 1, 1023, 1024, 2047, 2048, n - 1] {
        let (bytes, proof) = store.prove(&root, i as u64).expect("prove");
        assert_eq!(merkle::block_leaf(&bytes), leaves[i]);
        assert_eq!(proof, merkle::prove(&leaves, i).expect("full"), "block {i}");
        assert!(merkle::verify(
            &file.merkle_root,
            n as u64,
            &leaves[i],
            &proof
        ));
    }
    // Without the kept leaves the proof is rebuilt from the data, and is the same.
    std::fs::remove_file(sealed_dir.join(format!("{root}.leaves"))).expect("rm");
    let (_, proof) = store.prove(&root, 1500).expect("prove");
    assert_eq!(proof, merkle::prove(&leaves, 1500).expect("full"));
}

#[test]
fn tampering_is_caught_by_validation_reads_and_challenges() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = DiskStore::open(dir.path().join("source")).expect("store");
    let root = import(&source, &pattern(2_000_000, 2));
    let sealed = SealedStore::open(&dir.path().join("s"), enclave(3)).expect("sealed");
    let file = sealed.seal_file(&source, root, None).expect("seal");
    assert!(sealed.validate(&root).expect("validate").is_empty());
    let count = file.blocks.len() as u64;
    // An honest challenge answer verifies against the root in the manifest.
    let (bytes, proof) = sealed.prove(&root, 3).expect("prove");
    assert!(merkle::verify(
        &file.merkle_root,
        count,
        &merkle::block_leaf(&bytes),
        &proof
    ));

    // Flip one byte of sealed block 3 on disk.
    let path = dir.path().join("s").join(format!("{root}.sealed"));
    let mut raw = std::fs::read(&path).unwrap();
    raw[file.blocks[3].offset as usize + 100] ^= 0x40;
    std::fs::write(&path, raw).unwrap();

    assert_eq!(sealed.validate(&root).expect("validate"), vec![3]);
    let cid3: Cid = file.blocks[3].cid.parse().unwrap();
    assert!(
        sealed.get(&cid3).is_err(),
        "a damaged block is never served"
    );
    assert!(matches!(
        sealed.unseal_block(&root, 3),
        Err(SealError::Enclave(_))
    ));
    // The damaged block no longer proves against the committed root.
    let (bytes, proof) = sealed.prove(&root, 3).expect("prove");
    assert!(!merkle::verify(
        &file.merkle_root,
        count,
        &merkle::block_leaf(&bytes),
        &proof
    ));
    // With the leaf hashes kept at sealing time, intact blocks still prove next to a damaged
    // one; without them, proofs are rebuilt from the (damaged) data and the damage shows.
    let (bytes, proof) = sealed.prove(&root, 5).expect("prove");
    assert!(merkle::verify(
        &file.merkle_root,
        count,
        &merkle::block_leaf(&bytes),
        &proof
    ));
    std::fs::remove_file(dir.path().join("s").join(format!("{root}.leaves"))).unwrap();
    let (bytes, proof) = sealed.prove(&root, 3).expect("prove");
    assert!(!merkle::verify(
        &file.merkle_root,
        count,
        &merkle::block_leaf(&bytes),
        &proof
    ));
}

#[test]
fn an_interrupted_seal_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = DiskStore::open(dir.path().join("source")).expect("store");
    let root = import(&source, &pattern(1_000_000, 4));
    let sdir = dir.path().join("s");
    {
        let sealed = SealedStore::open(&sdir, enclave(5)).expect("sealed");
        sealed.seal_file(&source, root, None).expect("seal");
    }
    // What a crash leaves: a temp data file, and a data file whose manifest never landed.
    let orphan = crust_ipfs::Block::raw(b"orphan".to_vec()).cid;
    std::fs::write(sdir.join(format!("{orphan}.sealed")), b"partial").unwrap();
    std::fs::write(sdir.join(format!("{orphan}.sealed.tmp")), b"partial").unwrap();
    let sealed = SealedStore::open(&sdir, enclave(5)).expect("reopen");
    assert_eq!(sealed.files().len(), 1);
    let names: Vec<String> = std::fs::read_dir(&sdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        4,
        "data, leaf hashes, content index and manifest: {names:?}"
    );
    // A file missing from the source cannot be sealed, and leaves no trace either.
    let absent = crust_ipfs::Block::raw(b"never imported".to_vec()).cid;
    assert!(matches!(
        sealed.seal_file(&source, absent, None),
        Err(SealError::Missing(_))
    ));
    drop(sealed);
    let sealed = SealedStore::open(&sdir, enclave(5)).expect("reopen");
    assert_eq!(sealed.files().len(), 1);
}

#[test]
fn reports_of_sealed_files_are_accepted_slot_after_slot() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = DiskStore::open(dir.path().join("source")).expect("store");
    let enclave = enclave(7);
    let sealed = SealedStore::open(&dir.path().join("s"), enclave.clone()).expect("sealed");
    let mut chain = Chain::new(enclave.code());
    let worker = AccountId([0x11; 32]);

    // Registration with the dev attestation the software enclave produces.
    let (enclave_sig, attestation) = enclave.attest(&worker).expect("attest");
    let ctx = chain.ctx(worker);
    atomically(&mut chain.state, |s| {
        swork::register(
            s,
            &ctx,
            &enclave.code(),
            &enclave.public_key(),
            &enclave_sig,
            &attestation,
        )
    })
    .expect("registered");
    // This test drives the report builder over a bare sealed store that deletes files at
    // once; storage challenges are answered by the `Worker` (the week test).
    let gov = chain.ctx(chain.governance);
    swork::set_challenges(&mut chain.state, &gov, false).expect("challenges off");

    let mut reported: BTreeMap<Cid, u64> = BTreeMap::new();
    let mut prev = [0u8; 32];
    let first = import(&source, &pattern(600_000, 8));
    let second = import(&source, &pattern(900_000, 9));
    for (slot, to_seal, to_drop) in [(1u64, Some(first), None), (2, Some(second), Some(first))] {
        chain.advance_to(slot * SLOT_BLOCKS + 1);
        if let Some(cid) = to_seal {
            sealed.seal_file(&source, cid, None).expect("seal");
        }
        if let Some(cid) = to_drop {
            sealed.remove(&cid).expect("remove");
        }
        let files = sealed.files();
        let refs: Vec<&crust_sworker::SealedFile> = files.iter().map(|f| f.as_ref()).collect();
        let input = SlotInput {
            slot: slot * SLOT_BLOCKS,
            slot_hash: block_hash(slot * SLOT_BLOCKS),
            srd: (0, [0; 32]),
            prev_report_hash: prev,
        };
        let (work, sig) = report::build(enclave.as_ref(), &input, &refs, &reported);
        let ctx = chain.ctx(worker);
        atomically(&mut chain.state, |s| {
            swork::report_works(s, &ctx, &work, &sig, &[], &[])
        })
        .unwrap_or_else(|e| panic!("slot {slot}: {e}"));
        // Resending after a restart is a no-op (D14), not an illegal transition.
        atomically(&mut chain.state, |s| {
            swork::report_works(s, &ctx, &work, &sig, &[], &[])
        })
        .expect("resend is a no-op");
        assert_eq!(work.files_size, refs.iter().map(|f| f.size).sum::<u64>());
        if slot == 2 {
            assert_eq!(work.added.len(), 1);
            assert_eq!(work.deleted.len(), 1);
        }
        prev = report::hash(&work);
        reported = refs.iter().map(|f| (f.cid(), f.size)).collect();
    }
    // A report signed by another enclave is refused.
    chain.advance_to(3 * SLOT_BLOCKS + 1);
    let input = SlotInput {
        slot: 3 * SLOT_BLOCKS,
        slot_hash: block_hash(3 * SLOT_BLOCKS),
        srd: (0, [0; 32]),
        prev_report_hash: prev,
    };
    let (work, _) = report::build(enclave.as_ref(), &input, &[], &reported);
    let forged =
        crust_sworker::enclave::SoftwareEnclave::from_seed(&[99; 32], vec![]).sign_report(&work);
    let ctx = chain.ctx(worker);
    assert!(
        atomically(&mut chain.state, |s| swork::report_works(
            s,
            &ctx,
            &work,
            &forged,
            &[],
            &[]
        ))
        .is_err()
    );
}
