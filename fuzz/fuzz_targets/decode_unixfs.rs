//! UnixFS `Data` decoding of hostile bytes: never panics; decoded messages re-encode and decode
//! to the same value.
#![no_main]
use crust_ipfs::unixfs::UnixFsData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = UnixFsData::decode(data) {
        assert_eq!(UnixFsData::decode(&msg.encode()).ok(), Some(msg));
    }
});
