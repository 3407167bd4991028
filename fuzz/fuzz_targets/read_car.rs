//! CAR reading of hostile bytes: never panics or over-allocates; every block it yields matches
//! its CID; link extraction on those blocks never panics.
#![no_main]
use crust_ipfs::car::CarReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CarReader::new(data) else { return };
    while let Ok(Some(block)) = reader.next_block() {
        assert!(crust_ipfs::block::verify(&block.cid, &block.data).is_ok());
        let _ = crust_ipfs::links::links(&block.cid, &block.data);
    }
});
