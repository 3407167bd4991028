//! Content commitments on hostile input: the canonical-CAR check never panics and accepts only
//! bytes whose commitment it reports; piece verification never panics on any proof.
#![no_main]
use crust_primitives::commitment::{ContentCommitment, commit, verify_piece};
use crust_primitives::merkle::Proof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The stream is checked against the root its own header names (if it parses at all).
    if let Ok(reader) = crust_ipfs::car::CarReader::new(data)
        && let Some(root) = reader.roots().first().copied()
        && let Ok(c) = crust_ipfs::commitment::of_car_stream(data, root)
    {
        assert_eq!(c, commit(data));
    }
    // A proof decoded from the input, checked against a commitment from the input.
    if data.len() >= 48 {
        let mut root = [0u8; 32];
        root.copy_from_slice(&data[..32]);
        let size = u64::from_le_bytes(data[32..40].try_into().unwrap_or_default());
        let index = u64::from_le_bytes(data[40..48].try_into().unwrap_or_default());
        let c = ContentCommitment { root, size };
        let rest = &data[48..];
        if let Ok(proof) = crust_primitives::codec::decode::<Proof>(rest) {
            let _ = verify_piece(&c, index, &[], &proof);
        }
        let _ = verify_piece(&c, index, rest, &Proof { index, count: c.pieces(), siblings: vec![] });
    }
});
