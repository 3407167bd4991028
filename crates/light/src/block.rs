//! Blocks: a header that commits to everything, and the transactions.

use crate::hash::{Hash, merkle_root};
use crate::tx::Transaction;
use crust_primitives::codec::{self, max_items};
use crust_primitives::{AccountId, BlockHeight, EraIndex};
use serde::{Deserialize, Serialize};

/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 20_000;
/// Most encoded transaction bytes a proposer puts in one block (what the network carries for a
/// block is bounded by this, not by the count times the largest transaction).
pub const MAX_BLOCK_TX_BYTES: usize = 4 * 1024 * 1024;
/// Most pieces of misbehaviour evidence in one block.
pub const MAX_BLOCK_EVIDENCE: usize = 16;
/// Largest encoded piece of evidence (two ed25519 votes take about 250 bytes).
pub const MAX_EVIDENCE_BYTES: usize = 2048;

/// Proof that a validator signed conflicting consensus votes in `era`: the consensus engine's
/// encoded conflicting-vote activity. Every node checks the signatures against that era's
/// committee before it accepts a block carrying it; executing the block slashes the signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The era (consensus epoch) the votes were cast in.
    pub era: EraIndex,
    /// The encoded activity (two conflicting votes of one signer in one round).
    #[serde(with = "crate::hex")]
    pub proof: Vec<u8>,
}
crust_primitives::impl_codec_struct!(Evidence {
    era,
    proof: max_items(MAX_EVIDENCE_BYTES)
});

impl Evidence {
    /// Its identity: SHA-256 of its encoding under a domain of its own.
    pub fn hash(&self) -> Hash {
        Hash::of(&[b"crust/evidence/v1", &codec::encode(self)])
    }
}

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
    /// Merkle root of the transactions' receipt leaves ([`Receipt::leaf`]), in block order:
    /// what each transaction did, provable to a client that trusts only certified headers.
    pub receipts_root: Hash,
    /// Merkle root of the evidence hashes, in block order.
    pub evidence_root: Hash,
}
crust_primitives::impl_codec_struct!(Header {
    parent,
    height,
    timestamp_ms,
    era,
    proposer,
    state_root,
    tx_root,
    receipts_root,
    evidence_root
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
    /// Misbehaviour evidence, applied before the transactions.
    pub evidence: Vec<Evidence>,
}
crust_primitives::impl_codec_struct!(Block {
    header,
    transactions: max_items(MAX_BLOCK_TXS),
    evidence: max_items(MAX_BLOCK_EVIDENCE)
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

    /// The Merkle root of these receipts' leaves ([`Receipt::leaf`]).
    pub fn compute_receipts_root(receipts: &[Receipt]) -> Hash {
        let leaves: Vec<Hash> = receipts.iter().map(Receipt::leaf).collect();
        merkle_root(&leaves)
    }

    /// The Merkle root of these pieces of evidence's hashes.
    pub fn compute_evidence_root(evidence: &[Evidence]) -> Hash {
        let hashes: Vec<Hash> = evidence.iter().map(Evidence::hash).collect();
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
                receipts_root: merkle_root(&[]),
                evidence_root: merkle_root(&[]),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        }
    }
}

/// What one included transaction did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Hash,
    /// Whether its call succeeded (a failed call still paid its fee).
    pub success: bool,
    /// Why the call failed.
    pub error: Option<String>,
    /// What the signer paid.
    pub paid: u128,
    /// SHA-256 over the events the transaction emitted ([`Receipt::events_hash_of`]).
    #[serde(default)]
    pub events_hash: Hash,
}

/// Longest error text a receipt keeps (longer ones are cut at a character boundary), so
/// receipts stay small and every node commits to the same text.
pub const MAX_RECEIPT_ERROR_BYTES: usize = 1024;

impl Receipt {
    /// The leaf this receipt adds to its block's receipts root: the transaction's hash,
    /// whether it succeeded, what it paid, its error text and its events' hash.
    pub fn leaf(&self) -> Hash {
        let error = self.error.as_deref().unwrap_or("");
        let has_error = [u8::from(self.error.is_some())];
        Hash::of(&[
            b"crust/receipt/v1",
            &self.tx_hash.0,
            &[u8::from(self.success)],
            &self.paid.to_be_bytes(),
            &has_error,
            &(error.len() as u64).to_be_bytes(),
            error.as_bytes(),
            &self.events_hash.0,
        ])
    }

    /// The hash a receipt commits to for its events, given their canonical encodings in
    /// emission order (each length-prefixed; no events: the hash of nothing).
    pub fn events_hash_of<'a>(encoded: impl IntoIterator<Item = &'a [u8]>) -> Hash {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for e in encoded {
            let mut p = (e.len() as u64).to_be_bytes().to_vec();
            p.extend_from_slice(e);
            parts.push(p);
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Hash::of(&refs)
    }

    /// `text` cut to at most [`MAX_RECEIPT_ERROR_BYTES`] at a character boundary.
    pub fn clip_error(text: &str) -> &str {
        if text.len() <= MAX_RECEIPT_ERROR_BYTES {
            return text;
        }
        let mut end = MAX_RECEIPT_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            tx_hash: Hash([1; 32]),
            success: false,
            error: Some("balance too low".into()),
            paid: 1_000,
            events_hash: Receipt::events_hash_of([b"one".as_slice(), b"two".as_slice()]),
        }
    }

    #[test]
    fn a_receipt_leaf_commits_to_every_field() {
        let base = receipt();
        let leaf = base.leaf();
        let variants = [
            Receipt {
                tx_hash: Hash([2; 32]),
                ..base.clone()
            },
            Receipt {
                success: true,
                ..base.clone()
            },
            Receipt {
                error: None,
                ..base.clone()
            },
            Receipt {
                error: Some(String::new()),
                ..base.clone()
            },
            Receipt {
                error: Some("balance too lo".into()),
                ..base.clone()
            },
            Receipt {
                paid: 1_001,
                ..base.clone()
            },
            Receipt {
                events_hash: Receipt::events_hash_of([]),
                ..base.clone()
            },
        ];
        for v in &variants {
            assert_ne!(v.leaf(), leaf, "{v:?}");
        }
        // Events are framed: moving bytes between two events changes the hash.
        assert_ne!(
            Receipt::events_hash_of([b"ab".as_slice(), b"c".as_slice()]),
            Receipt::events_hash_of([b"a".as_slice(), b"bc".as_slice()])
        );
        let root = Block::compute_receipts_root(&[base.clone(), variants[1].clone()]);
        assert_ne!(
            root,
            Block::compute_receipts_root(&[variants[1].clone(), base])
        );
    }

    #[test]
    fn long_errors_are_clipped_at_a_character_boundary() {
        let long = "é".repeat(600); // 1 200 bytes
        let clipped = Receipt::clip_error(&long);
        assert!(clipped.len() <= MAX_RECEIPT_ERROR_BYTES);
        assert_eq!(clipped.len(), MAX_RECEIPT_ERROR_BYTES);
        assert_eq!(Receipt::clip_error("short"), "short");
        let odd = format!("x{}", "é".repeat(600));
        assert_eq!(Receipt::clip_error(&odd).len(), MAX_RECEIPT_ERROR_BYTES - 1);
    }
}
