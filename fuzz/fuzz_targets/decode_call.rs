//! Decoding hostile bytes as a call or a state value must never panic, and anything that
//! decodes must have exactly one encoding.
#![no_main]

use crust_primitives::codec::{decode, encode};
use crust_runtime::{Call, balances::AccountInfo, market::FileInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = decode::<Call>(data) {
        assert_eq!(encode(&call), data);
    }
    if let Ok(file) = decode::<FileInfo>(data) {
        assert_eq!(encode(&file), data);
    }
    let _ = decode::<AccountInfo>(data);
});
