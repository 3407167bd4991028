//! An order-preserving index translator over the first 16 key bytes.
//!
//! QMDB's in-memory index buckets keys by a translated prefix; the stock translators stop at 8
//! bytes. State keys start with a 4-byte item tag, and several key kinds (CIDs) have a few more
//! fixed bytes after it, so 8 bytes would put most keys of an item in one bucket and make every
//! read walk it on disk. Sixteen bytes keep buckets small while preserving key order.

use commonware_storage::translator::{OrderedTranslator, Translator};
use core::hash::{BuildHasher, Hasher};

/// Indexes keys by their first 16 bytes (zero-padded), big-endian, so order is preserved.
#[derive(Clone, Copy, Debug, Default)]
pub struct SixteenCap;

impl Translator for SixteenCap {
    type Key = u128;

    fn transform(&self, key: &[u8]) -> u128 {
        let mut buf = [0u8; 16];
        let n = key.len().min(16);
        buf[..n].copy_from_slice(&key[..n]);
        u128::from_be_bytes(buf)
    }
}

impl OrderedTranslator for SixteenCap {}

/// A cheap mixing hasher for the already-compact translated keys.
#[derive(Clone, Debug, Default)]
pub struct U128Mix(u64);

impl Hasher for U128Mix {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(b))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(29);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for SixteenCap {
    type Hasher = U128Mix;

    fn build_hasher(&self) -> U128Mix {
        U128Mix::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_preserves_order() {
        let t = SixteenCap;
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"a\0",
            b"ab",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"b",
        ];
        for pair in keys.windows(2) {
            assert!(t.transform(pair[0]) <= t.transform(pair[1]));
        }
    }
}
