//! dag-pb decoding of hostile bytes: never panics; whatever decodes re-encodes to the same bytes
//! (the canonical form is the only accepted one).
#![no_main]
use crust_ipfs::dagpb::PbNode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = PbNode::decode(data) {
        assert_eq!(node.encode(), data);
    }
});
