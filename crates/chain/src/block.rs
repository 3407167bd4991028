//! Blocks: a header that commits to everything, and the transactions.

use crate::hash::{Hash, merkle_root};
use crate::tx::Transaction;
use crust_primitives::codec::{self, max_items};
use crust_primitives::{AccountId, BlockHeight, EraIndex};
use serde::Serialize;

/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 20_000;

/// What a block commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Hash of the parent block's header (all zero for genesis).
    pub parent: Hash,
    /// Height: the parent's plus one (0 for genesis).
    pub height: BlockHeight,
    /// Proposer's clock in milliseconds since the Unix epoch; strictly after the parent's.
    pub timestamp_ms: u64,
    /// The era (= consensus epoch) this block belongs to.
    pub era: EraIndex,
    /// The validator that proposed it (also the account paid 20% of fees).
    pub proposer: AccountId,
    /// Root of the state after executing this block.
    pub state_root: Hash,
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
}
crust_primitives::impl_codec_struct!(Header {
    parent,
    height,
    timestamp_ms,
    era,
    proposer,
    state_root,
    tx_root
});

impl Header {
    /// The block hash: SHA-256 of the header encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&[&codec::encode(self)])
    }
}

/// A block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub transactions: Vec<Transaction>,
}
crust_primitives::impl_codec_struct!(Block {
    header,
    transactions: max_items(MAX_BLOCK_TXS)
});

impl Block {
    /// The block hash (its header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The Merkle root of these transactions' hashes.
    pub fn compute_tx_root(transactions: &[Transaction]) -> Hash {
        let hashes: Vec<Hash> = transactions.iter().map(Transaction::hash).collect();
        merkle_root(&hashes)
    }

    /// Decodes a block from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        codec::decode(bytes)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The genesis block for a chain whose initial state has `state_root`.
    pub fn genesis(state_root: Hash, timestamp_ms: u64) -> Self {
        Self {
            header: Header {
                parent: Hash::default(),
                height: 0,
                timestamp_ms,
                era: 0,
                proposer: AccountId::default(),
                state_root,
                tx_root: merkle_root(&[]),
            },
            transactions: Vec::new(),
        }
    }
}
