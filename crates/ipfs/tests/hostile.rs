//! Hostile input: every decoder fails cleanly (typed error, no panic, no huge allocation) on
//! arbitrary, truncated or mutated bytes. The fuzz targets in `fuzz/` explore the same
//! properties with coverage guidance; these run on every `cargo test`.

use crust_ipfs::car::{self, CarReader};
use crust_ipfs::dagpb::PbNode;
use crust_ipfs::importer::{DirBuilder, ImportOptions, import_bytes};
use crust_ipfs::unixfs::UnixFsData;
use crust_ipfs::{Block, links};
use proptest::prelude::*;

fn sample_car() -> Vec<u8> {
    let mut blocks: Vec<Block> = Vec::new();
    let opts = ImportOptions {
        chunk_size: 100,
        ..Default::default()
    };
    let file = import_bytes(&[7u8; 1000], &opts, &mut blocks).expect("import");
    let mut tree = DirBuilder::new();
    tree.add_file("f", file).expect("add");
    let (root, _) = tree.build(1, &mut blocks).expect("build");
    let mut out = car::header(&[root.cid]);
    for b in blocks.iter().rev() {
        out.extend_from_slice(&car::section_prefix(&b.cid, b.data.len()));
        out.extend_from_slice(&b.data);
    }
    out
}

fn read_all(bytes: &[u8]) -> Result<usize, car::CarError> {
    let mut reader = CarReader::new(bytes)?;
    let mut n = 0;
    while let Some(block) = reader.next_block()? {
        let _ = links::links(&block.cid, &block.data);
        n += 1;
    }
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dagpb_decodes_only_canonical_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(node) = PbNode::decode(&data) {
            prop_assert_eq!(node.encode(), data);
        }
    }

    #[test]
    fn unixfs_decoding_round_trips_or_fails(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(msg) = UnixFsData::decode(&data) {
            prop_assert_eq!(UnixFsData::decode(&msg.encode()).ok(), Some(msg));
        }
    }

    #[test]
    fn links_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), codec in prop_oneof![Just(0x55u64), Just(0x70), Just(0x71), Just(0x0129)]) {
        let cid = crust_ipfs::block::cid_of(codec, &data, 1);
        let _ = links::links(&cid, &data);
    }

    #[test]
    fn bitswap_messages_decode_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(msg) = crust_ipfs::bitswap::Message::decode(&data) {
            // Whatever decodes re-encodes to a message that decodes to the same value.
            prop_assert_eq!(crust_ipfs::bitswap::Message::decode(&msg.encode()), Ok(msg));
        }
        let mut buf = bytes::BytesMut::from(&data[..]);
        let _ = crust_ipfs::bitswap::take_frames(&mut buf);
        // The zero-copy decoder agrees with the copying one.
        let frame = bytes::Bytes::from(data.clone());
        prop_assert_eq!(
            crust_ipfs::bitswap::Message::decode_frame(&frame),
            crust_ipfs::bitswap::Message::decode(&data)
        );
    }

    #[test]
    fn mutated_cars_fail_cleanly(index in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
        let mut bytes = sample_car();
        let i = index % bytes.len();
        bytes[i] = byte;
        // Any outcome but a panic is fine; verified blocks are the only ones returned.
        let _ = read_all(&bytes);
        let good = sample_car();
        let _ = read_all(&good[..cut % good.len()]);
    }
}

#[test]
fn the_sample_car_reads_back_completely() {
    assert_eq!(read_all(&sample_car()).expect("valid"), 12);
}

#[test]
fn truncated_car_reports_where() {
    let car = sample_car();
    let err = read_all(&car[..car.len() - 10]).expect_err("truncated");
    assert!(err.to_string().contains("section"), "{err}");
}
