//! Bitswap message decoding of hostile bytes: never panics; decoded messages re-encode to an
//! equal message; every decoded block matches its CID.
#![no_main]
use crust_ipfs::bitswap::{take_frames, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = bytes::BytesMut::from(data);
    let _ = take_frames(&mut buf);
    let frame = bytes::Bytes::copy_from_slice(data);
    assert_eq!(Message::decode_frame(&frame), Message::decode(data));
    if let Ok(msg) = Message::decode(data) {
        for b in &msg.blocks {
            assert!(crust_ipfs::block::verify(&b.cid, &b.data).is_ok());
        }
        assert_eq!(Message::decode(&msg.encode()), Ok(msg));
    }
});
