//! Finality certificates for followers. A block is final when 2f+1 of its era's committee
//! signed a finalize vote for it; simplex aggregates those votes into a finalization
//! certificate, which marshal keeps per height. A node serves the certificates over RPC
//! (`chain_finality`), and a follower that knows the era's committee checks one with
//! [`verify`]: the signatures, the quorum and the block they finalize. With ed25519 the
//! certificate is the signer bitmap plus the signatures, so nothing but the committee's public
//! keys is needed. Ancestors of a certified block are final through their hash links.

use super::block::{to_digest, to_hash};
use super::{Scheme, public_key_of};
use crate::hash::Hash;
use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::Epochable as _;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::sha256::Digest;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use crust_primitives::AccountId;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Looks up the encoded finalization certificate of a height, if this node has one (blocks
/// finalized only through a descendant have none).
pub type Lookup = Arc<dyn Fn(u64) -> BoxFuture<'static, Option<Vec<u8>>> + Send + Sync>;

/// Most signers a certificate may name when read without knowing the committee.
const MAX_SIGNERS: usize = 1024;

/// What a certificate claims: the era (epoch) whose committee signed it and the block.
pub fn describe(certificate: &[u8]) -> Option<(u64, Hash)> {
    let f = Finalization::<Scheme, Digest>::decode_cfg(
        commonware_codec::Copying(certificate),
        &MAX_SIGNERS,
    )
    .ok()?;
    Some((f.epoch().get(), to_hash(&f.proposal.payload)))
}

/// Why a certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
    /// The bytes are not a finalization certificate.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// It was signed in another era than expected.
    #[error("the certificate is from era {found}, not {expected}")]
    WrongEra {
        /// In the certificate.
        found: u64,
        /// Expected.
        expected: u64,
    },
    /// It finalizes another block.
    #[error("the certificate finalizes block {0}, not the one asked about")]
    WrongBlock(Hash),
    /// The signatures or the quorum do not check out under the committee.
    #[error("the signatures do not form a quorum of the committee")]
    BadSignatures,
}

/// Checks that `certificate` finalizes block `block` with a quorum of `committee` (the session
/// keys of era `era`'s committee) under the chain's signature `namespace`.
pub fn verify(
    namespace: &[u8],
    committee: &[AccountId],
    era: u64,
    block: &Hash,
    certificate: &[u8],
) -> Result<(), FinalityError> {
    let participants = Set::from_iter_dedup(committee.iter().filter_map(public_key_of));
    let verifier = Scheme::verifier(namespace, participants);
    let f = Finalization::<Scheme, Digest>::decode_cfg(
        commonware_codec::Copying(certificate),
        &verifier.certificate_codec_config(),
    )
    .map_err(|e| FinalityError::Malformed(e.to_string()))?;
    if f.epoch().get() != era {
        return Err(FinalityError::WrongEra {
            found: f.epoch().get(),
            expected: era,
        });
    }
    if f.proposal.payload != to_digest(block) {
        return Err(FinalityError::WrongBlock(to_hash(&f.proposal.payload)));
    }
    let mut rng = super::evidence::VerifyRng::new(block);
    if !f.verify(&mut rng, &verifier, &Sequential) {
        return Err(FinalityError::BadSignatures);
    }
    Ok(())
}

/// Encodes a certificate for the wire.
pub(crate) fn encode(f: &Finalization<Scheme, Digest>) -> Vec<u8> {
    f.encode().to_vec()
}
