//! Parsing user-typed addresses, CIDs, amounts and secret URIs must never panic.
#![no_main]

use crust_primitives::{AccountId, Cid, account::Keypair, balance::parse_balance};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<AccountId>();
        let _ = text.parse::<Cid>();
        let _ = parse_balance(text);
        if text.len() < 200 {
            let _ = Keypair::from_suri(text);
        }
    }
});
