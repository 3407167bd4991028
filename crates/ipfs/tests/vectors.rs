//! Published `ipfs add` CIDs (kubo tests, sharness, IPIP-499, the UnixFS spec), reproduced
//! byte for byte: same root CID and, where the vector pins them, the same blocks.

use crust_ipfs::Block;
use crust_ipfs::importer::{DirBuilder, ImportOptions, Layout, import_bytes, wrap};

fn add(data: &[u8], opts: ImportOptions) -> String {
    let mut blocks: Vec<Block> = Vec::new();
    import_bytes(data, &opts, &mut blocks)
        .expect("import")
        .cid
        .to_string()
}

fn v1() -> ImportOptions {
    ImportOptions {
        cid_version: 1,
        ..Default::default()
    }
}

#[test]
fn empty_file() {
    assert_eq!(
        add(b"", ImportOptions::default()),
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    );
    assert_eq!(
        add(b"", v1()),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
    assert_eq!(
        add(
            b"",
            ImportOptions {
                raw_leaves: Some(false),
                ..v1()
            }
        ),
        "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"
    );
    // `--raw-leaves` alone keeps CIDv0 nodes but a single raw leaf is the root.
    assert_eq!(
        add(
            b"",
            ImportOptions {
                raw_leaves: Some(true),
                ..Default::default()
            }
        ),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
}

#[test]
fn small_files() {
    assert_eq!(
        add(b"hello world\n", ImportOptions::default()),
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    );
    assert_eq!(
        add(b"hello world\n", v1()),
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    assert_eq!(
        add(b"hello world", ImportOptions::default()),
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    );
    assert_eq!(
        add(b"hello world", v1()),
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    );
    assert_eq!(
        add(b"Hello World\n", ImportOptions::default()),
        "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"
    );
    assert_eq!(
        add(b"hello, world!", ImportOptions::default()),
        "QmQy2Dw4Wk7rdJKjThjYXzfFJNaRKRHhHP5gHHXroJMYxk"
    );
    assert_eq!(
        add(b"hello, world!", v1()),
        "bafkreidi4zlleupgp2bvrpxyja5lbvi4mym7hz5bvhyoowby2qp7g2hxfa"
    );
    assert_eq!(
        add(
            b"hello, world!",
            ImportOptions {
                raw_leaves: Some(false),
                ..v1()
            }
        ),
        "bafybeibhbcn7k7o2m6xsqkrlfiokod3nxwe47viteynhruh6uqx7hvkjfu"
    );
}

#[test]
fn million_zero_bytes_is_a_four_leaf_balanced_dag() {
    let mut blocks: Vec<Block> = Vec::new();
    let root = import_bytes(
        &vec![0u8; 1_000_000],
        &ImportOptions::default(),
        &mut blocks,
    )
    .expect("import");
    assert_eq!(
        root.cid.to_string(),
        "QmXXNNbwe4zzpdMg62ZXvnX1oU7MwSrQ3vAEtuwFKCm1oD"
    );
    assert_eq!(root.file_size, 1_000_000);
    // 4 leaves (3 full, 1 partial) and the root; the three full leaves are the same block.
    assert_eq!(blocks.len(), 5);
}

#[test]
fn tiny_chunks_balanced_and_trickle() {
    let data = b"aoeuidhtns".repeat(200);
    let s4 = ImportOptions {
        chunk_size: 4,
        ..Default::default()
    };
    assert_eq!(
        add(&data, s4.clone()),
        "QmRo11d4QJrST47aaiGVJYwPhoNA4ihRpJ5WaxBWjWDwbX"
    );
    assert_eq!(
        add(
            &data,
            ImportOptions {
                layout: Layout::Trickle,
                ..s4
            }
        ),
        "QmNNhDGttafX3M1wKWixGre6PrLFGjnoPEDXjBYpTv93HP"
    );
}

#[test]
fn wrap_with_directory() {
    let mut blocks: Vec<Block> = Vec::new();
    let file =
        import_bytes(b"hello, world!", &ImportOptions::default(), &mut blocks).expect("import");
    let dir = wrap(&[("foo".to_owned(), file)], 0, &mut blocks).expect("wrap");
    assert_eq!(
        dir.cid.to_string(),
        "QmVE9rNpj5doj7XHzp5zMUxD7BJgXEqx4pe3xZ3JBReWHE"
    );
}

#[test]
fn empty_directory() {
    let mut blocks: Vec<Block> = Vec::new();
    let (root, dirs) = DirBuilder::new().build(0, &mut blocks).expect("build");
    assert_eq!(
        root.cid.to_string(),
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    );
    assert_eq!(dirs.len(), 1);
    let (root, _) = DirBuilder::new().build(1, &mut blocks).expect("build");
    assert_eq!(
        root.cid.to_string(),
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    );
}
