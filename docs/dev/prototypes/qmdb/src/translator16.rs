//! A custom order-preserving translator that indexes the first 16 key bytes (stock translators
//! stop at 8: `EightCap`, `Cap<N<=8>`). Useful when many keys share an 8-byte prefix
//! (e.g. `"balance/"`), which would otherwise put them all in one collision bucket.

use commonware_storage::translator::{OrderedTranslator, Translator};
use core::hash::{BuildHasher, Hasher};

#[derive(Clone, Copy, Default)]
pub struct SixteenCap;

impl Translator for SixteenCap {
    type Key = u128;

    #[inline]
    fn transform(&self, key: &[u8]) -> u128 {
        // Truncate / zero-pad to 16 bytes, big-endian: preserves lexicographic order
        // (a <= b  =>  transform(a) <= transform(b)).
        let mut buf = [0u8; 16];
        let n = key.len().min(16);
        buf[..n].copy_from_slice(&key[..n]);
        u128::from_be_bytes(buf)
    }
}

impl OrderedTranslator for SixteenCap {}

/// Cheap hasher for the (already compact) translated keys stored in the overflow map.
#[derive(Default, Clone)]
pub struct U128Mix(u64);

impl Hasher for U128Mix {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.0 = (self.0 ^ u64::from_le_bytes(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
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
