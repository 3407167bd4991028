//! In-memory sizes of transactions, for the caches and pools that a memory budget bounds.
//!
//! A budget is only as true as what is counted against it: a decoded transaction is as large
//! as its largest call (~600 bytes), three times a transfer's ~180-byte encoding, so a limit on
//! encoded bytes let the mempool and the recent-block cache hold about three times their share.
//! These estimates are checked against a counting allocator in `tests/cache_bytes.rs`.

use crate::tx::Transaction;

/// Encoded bytes of a transaction that stay inline once decoded: its fixed fields and a call
/// without variable-length data (a transfer owns no heap).
const TX_INLINE_ENCODED: usize = 200;

/// Heap bytes per encoded byte of a call's variable-length data: a decoded CID takes ~2.4× its
/// encoding (its multihash sits in a 64-byte array), a byte string 1×.
const TX_HEAP_FACTOR: usize = 2;

/// Heap bytes a decoded transaction of `encoded_len` bytes owns beyond its inline size.
pub fn tx_heap_bytes(encoded_len: usize) -> usize {
    TX_HEAP_FACTOR.saturating_mul(encoded_len.saturating_sub(TX_INLINE_ENCODED))
}

/// Bytes a decoded transaction of `encoded_len` bytes takes: inline and on the heap.
pub fn tx_bytes(encoded_len: usize) -> usize {
    std::mem::size_of::<Transaction>().saturating_add(tx_heap_bytes(encoded_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_is_its_inline_size_and_large_calls_add_their_data() {
        let inline = std::mem::size_of::<Transaction>();
        assert!(
            inline >= 400,
            "the estimate assumes a wide call enum: {inline}"
        );
        assert_eq!(tx_bytes(180), inline);
        assert_eq!(tx_bytes(10_200), inline + 20_000);
    }
}
