//! The on-disk store against real files: durability across reopen, torn tails, bit rot, GC.

use crust_ipfs::Block;
use crust_ipfs::blockstore::{Blockstore, DiskStore, StoreError};
use crust_ipfs::importer::{ImportOptions, import_bytes};
use crust_ipfs::repo::{PinKind, Repo, RepoError};
use std::fs::{self, OpenOptions};
use std::io::Write;

fn pack(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("blocks").join("pack-00000001.dat")
}

#[test]
fn blocks_survive_reopen_and_are_deduplicated() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Block::raw(b"alpha".to_vec());
    let b = Block::dag_pb(vec![0x0a, 0x02, 0x08, 0x01], 0);
    {
        let store = DiskStore::open(dir.path()).expect("open");
        store.put(&a).expect("put");
        store.put(&b).expect("put");
        store.put(&a).expect("put again");
        store.sync().expect("sync");
        assert_eq!(store.len(), 2);
    }
    let store = DiskStore::open(dir.path()).expect("reopen");
    assert_eq!(store.len(), 2);
    assert_eq!(
        store.get(&a.cid).expect("get").as_deref(),
        Some(&b"alpha"[..])
    );
    assert_eq!(store.get(&b.cid).expect("get"), Some(b.data.clone()));
    // CIDv1 of the same dag-pb bytes shares the block.
    let v1 = crust_ipfs::block::cid_of(0x70, &b.data, 1);
    assert!(store.has(&v1));
}

#[test]
fn second_open_of_a_repository_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let _first = DiskStore::open(dir.path()).expect("open");
    assert!(matches!(
        DiskStore::open(dir.path()),
        Err(StoreError::Locked(_))
    ));
}

#[test]
fn a_torn_tail_is_cut_and_earlier_blocks_survive() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Block::raw(vec![7u8; 10_000]);
    let b = Block::raw(vec![8u8; 10_000]);
    {
        let store = DiskStore::open(dir.path()).expect("open");
        store.put(&a).expect("put");
        store.put(&b).expect("put");
        store.sync().expect("sync");
    }
    // A crash mid-write: the second record lost its last bytes.
    let len = fs::metadata(pack(dir.path())).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(pack(dir.path()))
        .expect("open")
        .set_len(len - 100)
        .expect("truncate");
    let store = DiskStore::open(dir.path()).expect("recover");
    assert_eq!(store.len(), 1);
    assert!(store.get(&a.cid).expect("get").is_some());
    assert_eq!(store.get(&b.cid).expect("get"), None);
    // The store keeps working after recovery.
    store.put(&b).expect("put");
    store.sync().expect("sync");
    drop(store);
    let store = DiskStore::open(dir.path()).expect("reopen");
    assert_eq!(store.len(), 2);
}

#[test]
fn garbage_after_the_last_record_is_ignored() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Block::raw(b"kept".to_vec());
    {
        let store = DiskStore::open(dir.path()).expect("open");
        store.put(&a).expect("put");
        store.sync().expect("sync");
    }
    let mut f = OpenOptions::new()
        .append(true)
        .open(pack(dir.path()))
        .expect("open");
    f.write_all(&[0xff; 37]).expect("garbage");
    drop(f);
    let store = DiskStore::open(dir.path()).expect("recover");
    assert_eq!(store.len(), 1);
}

#[test]
fn a_flipped_bit_is_reported_never_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Block::raw(vec![1u8; 4096]);
    let store = DiskStore::open(dir.path()).expect("open");
    store.put(&a).expect("put");
    store.sync().expect("sync");
    let f = OpenOptions::new()
        .write(true)
        .open(pack(dir.path()))
        .expect("open");
    std::os::unix::fs::FileExt::write_all_at(&f, &[2u8], 2000).expect("flip");
    match store.get(&a.cid) {
        Err(StoreError::Corrupt { cid }) => assert_eq!(cid, a.cid),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn gc_keeps_pinned_dags_and_drops_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Repo::open(dir.path()).expect("repo");
    let opts = ImportOptions {
        chunk_size: 1024,
        ..Default::default()
    };
    let kept = repo
        .add_file(&vec![1u8; 50_000][..], &opts, true, &mut |_| {})
        .expect("add");
    let dropped = repo
        .add_file(&vec![2u8; 50_000][..], &opts, false, &mut |_| {})
        .expect("add");
    let blocks_before = repo.store().len();
    let stats = repo.gc().expect("gc");
    assert!(stats.removed_blocks >= 2, "{stats:?}");
    assert_eq!(
        repo.store().len() as u64,
        blocks_before as u64 - stats.removed_blocks
    );
    assert!(repo.store().has(&kept.cid));
    assert!(!repo.store().has(&dropped.cid));
    // Every block of the kept DAG is still readable after its pack was rewritten.
    let mut mem = Vec::new();
    import_bytes(&vec![1u8; 50_000], &opts, &mut mem).expect("reimport");
    for b in &mem {
        assert_eq!(repo.store().get(&b.cid).expect("get"), Some(b.data.clone()));
    }
    drop(repo);
    let repo = Repo::open(dir.path()).expect("reopen");
    assert_eq!(repo.pins(), vec![(kept.cid, PinKind::Recursive)]);
    assert!(repo.store().has(&kept.cid) && !repo.store().has(&dropped.cid));
    // Unpin then collect: the store empties.
    repo.unpin(kept.cid).expect("unpin");
    repo.gc().expect("gc");
    assert_eq!(repo.store().len(), 0);
    assert!(matches!(
        repo.unpin(kept.cid),
        Err(RepoError::NotPinned(..))
    ));
}

#[test]
fn recursive_pin_of_an_incomplete_dag_names_the_missing_block() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Repo::open(dir.path()).expect("repo");
    let mut blocks = Vec::new();
    let root = import_bytes(
        &vec![3u8; 3000],
        &ImportOptions {
            chunk_size: 1000,
            ..Default::default()
        },
        &mut blocks,
    )
    .expect("import");
    // Store only the root block.
    let root_block = blocks.iter().find(|b| b.cid == root.cid).expect("root");
    repo.put_block(root_block).expect("put");
    assert!(matches!(
        repo.pin(root.cid, PinKind::Recursive),
        Err(RepoError::Missing(_))
    ));
    repo.pin(root.cid, PinKind::Direct)
        .expect("direct pin needs only the block");
}

#[test]
fn pin_changes_are_journaled_folded_and_survive_a_torn_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Repo::open(dir.path()).expect("repo");
    let opts = ImportOptions::default();
    // 6 000 pins and 3 000 unpins: more journal lines than the fold threshold, so the journal
    // is folded into pins.json on the way, and each change stays one small write.
    let mut cids = Vec::new();
    for i in 0..6_000u32 {
        let added = repo
            .add_file(&i.to_be_bytes()[..], &opts, true, &mut |_| {})
            .expect("add");
        cids.push(added.cid);
    }
    for cid in cids.iter().step_by(2) {
        repo.unpin(*cid).expect("unpin");
    }
    let log = fs::metadata(dir.path().join("pins.log"))
        .expect("journal")
        .len();
    assert!(log < 2_000 * 60, "the journal was folded ({log} bytes)");
    let want: Vec<_> = {
        let mut v: Vec<_> = cids.iter().skip(1).step_by(2).copied().collect();
        v.sort();
        v
    };
    let pinned = |repo: &Repo| {
        let mut v: Vec<_> = repo.pins().into_iter().map(|(c, _)| c).collect();
        v.sort();
        v
    };
    assert_eq!(pinned(&repo), want);
    drop(repo);
    // A crash in the middle of a journal line: the line was never acknowledged, the rest is.
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.path().join("pins.log"))
        .expect("journal");
    f.write_all(format!("-r {}", cids[1]).as_bytes())
        .expect("torn");
    drop(f);
    let repo = Repo::open(dir.path()).expect("reopen");
    assert_eq!(pinned(&repo), want);
    repo.unpin(cids[1]).expect("unpin after reopen");
    drop(repo);
    let repo = Repo::open(dir.path()).expect("reopen");
    assert_eq!(pinned(&repo).len(), want.len() - 1);
}
