//! Finality certificates for followers. A block is final when 2f+1 of its era's committee
//! signed a finalize vote for it; simplex aggregates those votes into a finalization
//! certificate, which marshal keeps per height. A node serves the certificates over RPC
//! (`chain_finality`), and a follower that knows the era's committee checks one with
//! [`verify`]: the signatures, the quorum and the block they finalize. With ed25519 the
//! certificate is the signer bitmap plus the signatures, so nothing but the committee's public
//! keys is needed. Ancestors of a certified block are final through their hash links.

use commonware_codec::Encode as _;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::sha256::Digest;
use futures::future::BoxFuture;
use std::sync::Arc;

use super::Scheme;
pub use crust_light::finality::{FinalityError, describe, verify};

/// Looks up the encoded finalization certificate of a height, if this node has one (blocks
/// finalized only through a descendant have none).
pub type Lookup = Arc<dyn Fn(u64) -> BoxFuture<'static, Option<Vec<u8>>> + Send + Sync>;

/// Encodes a certificate for the wire.
pub(crate) fn encode(f: &Finalization<Scheme, Digest>) -> Vec<u8> {
    f.encode().to_vec()
}
