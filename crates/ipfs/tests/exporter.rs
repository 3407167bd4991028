//! Export: byte ranges over multi-level DAGs, path resolution through plain and sharded
//! directories, and the trustless-gateway block selections.

use crust_ipfs::blockstore::{Blockstore, MemStore, StoreSink};
use crust_ipfs::exporter::{self, Kind, RangeReader, Scope};
use crust_ipfs::importer::{DirBuilder, ImportOptions, Layout, import_bytes, import_file};
use proptest::prelude::*;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn store_file(store: &MemStore, bytes: &[u8], opts: &ImportOptions) -> crust_ipfs::Cid {
    import_file(bytes, opts, &mut StoreSink(store), &mut |_| {})
        .expect("import")
        .cid
}

fn read(store: &MemStore, cid: crust_ipfs::Cid, from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in RangeReader::new(store, cid, from, to) {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_range_of_any_layout_reads_back_exactly(
        len in 0usize..20_000,
        chunk in 1usize..700,
        trickle in any::<bool>(),
        v1 in any::<bool>(),
        a in 0u64..21_000,
        b in 0u64..21_000,
    ) {
        let store = MemStore::default();
        let bytes = data(len, 7);
        let opts = ImportOptions {
            chunk_size: chunk,
            cid_version: u8::from(v1),
            max_links: 5,
            layout: if trickle { Layout::Trickle } else { Layout::Balanced },
            ..Default::default()
        };
        let cid = store_file(&store, &bytes, &opts);
        let (from, to) = (a.min(b), a.max(b));
        let lo = (from as usize).min(len);
        let hi = (to as usize).min(len);
        prop_assert_eq!(read(&store, cid, from, to), bytes[lo..hi.max(lo)].to_vec());
        prop_assert_eq!(exporter::kind(&store, &cid).expect("kind"), Kind::File { size: len as u64 });
    }
}

#[test]
fn paths_resolve_through_nested_directories() {
    let store = MemStore::default();
    let mut tree = DirBuilder::new();
    let opts = ImportOptions::default();
    let world = store_file(&store, b"world", &opts);
    tree.add_file(
        "abc/def",
        import_bytes(b"world", &opts, &mut Vec::new()).expect("import"),
    )
    .expect("add");
    tree.add_dir("empty").expect("dir");
    let (root, _) = tree.build(0, &mut StoreSink(&store)).expect("build");
    let mut visited = Vec::new();
    let roots =
        exporter::resolve(&store, root.cid, &["abc", "def"], &mut visited).expect("resolve");
    assert_eq!(roots.last(), Some(&world));
    assert_eq!(visited.len(), 2);
    assert!(matches!(
        exporter::resolve(&store, root.cid, &["abc", "nope"], &mut Vec::new()),
        Err(exporter::ExportError::NotFound { .. })
    ));
    assert!(matches!(
        exporter::resolve(&store, root.cid, &["abc", "def", "x"], &mut Vec::new()),
        Err(exporter::ExportError::NotADirectory(_))
    ));
    let names: Vec<String> = exporter::list(&store, &root.cid, &mut Vec::new())
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["abc", "empty"]);
}

#[test]
fn sharded_directories_list_and_resolve_every_entry() {
    let store = MemStore::default();
    let opts = ImportOptions::default();
    let mut tree = DirBuilder::new();
    // 5000 entries × (≈22-byte name + 34-byte CID) is past the 256 KiB links-bytes threshold.
    let count = 5000;
    for i in 0..count {
        let body = format!("file {i}");
        let file = import_file(body.as_bytes(), &opts, &mut StoreSink(&store), &mut |_| {})
            .expect("import");
        tree.add_file(&format!("entry-with-a-long-name-{i:05}"), file)
            .expect("add");
    }
    let (root, _) = tree.build(0, &mut StoreSink(&store)).expect("build");
    assert_eq!(
        exporter::kind(&store, &root.cid).expect("kind"),
        Kind::Directory { sharded: true }
    );
    let mut shards = Vec::new();
    let entries = exporter::list(&store, &root.cid, &mut shards).expect("list");
    assert_eq!(entries.len(), count);
    assert!(
        !shards.is_empty(),
        "5000 entries in 256 buckets need sub-shards"
    );
    for i in [0, 1, 2499, 4999] {
        let name = format!("entry-with-a-long-name-{i:05}");
        let mut visited = Vec::new();
        let target = *exporter::resolve(&store, root.cid, &[name.as_str()], &mut visited)
            .expect("resolve")
            .last()
            .expect("cid");
        assert_eq!(
            exporter::cat(&store, target).expect("cat"),
            format!("file {i}").into_bytes()
        );
    }
    // Entity scope of a sharded directory: the root and every shard, no file blocks.
    let sel = exporter::select(&store, root.cid, Scope::Entity).expect("select");
    assert_eq!(sel.len(), 1 + shards.len());
}

#[test]
fn entity_bytes_selects_only_the_blocks_of_the_range() {
    let store = MemStore::default();
    let opts = ImportOptions {
        chunk_size: 1000,
        max_links: 4,
        ..Default::default()
    };
    let cid = store_file(&store, &data(10_000, 1), &opts);
    let all = exporter::select(&store, cid, Scope::All).expect("all");
    let entity = exporter::select(&store, cid, Scope::Entity).expect("entity");
    assert_eq!(all, entity);
    let part = exporter::select(&store, cid, Scope::Bytes { from: 0, to: 1500 }).expect("bytes");
    assert!(part.len() < all.len(), "{} < {}", part.len(), all.len());
    assert_eq!(part.first(), Some(&cid));
    assert_eq!(
        exporter::select(&store, cid, Scope::Block).expect("block"),
        vec![cid]
    );
    assert!(store.has(&cid));
}
