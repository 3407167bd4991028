//! Finality certificates for followers. A block is final when 2f+1 of its era's committee
//! signed a finalize vote for it; simplex aggregates those votes into a finalization
//! certificate, which marshal keeps per height. A node serves the certificates over RPC
//! (`chain_finality`), and a follower that knows the era's committee checks one with
//! [`verify`]: the signatures, the quorum and the block they finalize. With ed25519 the
//! certificate is the signer bitmap plus the signatures, so nothing but the committee's public
//! keys is needed. Ancestors of a certified block are final through their hash links.

use crate::hash::Hash;
use commonware_codec::Decode as _;
use commonware_consensus::Epochable as _;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::sha256::Digest;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use crust_primitives::AccountId;
use sha2::{Digest as _, Sha256};

/// A consensus public key (ed25519), the same 32 bytes as the validator's session account.
pub type PublicKey = commonware_cryptography::ed25519::PublicKey;
/// The simplex signing scheme: ed25519, so every vote is attributable (slashing evidence).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// The consensus public key of a session account.
pub fn public_key_of(account: &AccountId) -> Option<PublicKey> {
    use commonware_codec::DecodeExt as _;
    PublicKey::decode(commonware_codec::Copying(account.as_bytes().as_slice())).ok()
}

/// A block hash as the digest consensus signs.
pub fn to_digest(hash: &Hash) -> Digest {
    Digest(hash.0)
}

/// The block hash a consensus digest names.
pub fn to_hash(digest: &Digest) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Hash(out)
}

/// Randomness for signature verification (ed25519 votes are checked one by one and do not use
/// it; a batch verifier would). Seeded from the OS and the evidence, expanded with SHA-256.
pub struct VerifyRng {
    seed: [u8; 32],
    counter: u64,
}

impl VerifyRng {
    /// A generator seeded from the OS and `salt`.
    pub fn new(salt: &Hash) -> Self {
        let mut os = [0u8; 32];
        let _ = getrandom::fill(&mut os); // on failure the salt alone seeds it
        let seed = Sha256::new()
            .chain_update(os)
            .chain_update(salt.0)
            .finalize()
            .into();
        Self { seed, counter: 0 }
    }

    fn block(&mut self) -> [u8; 32] {
        self.counter = self.counter.wrapping_add(1);
        Sha256::new()
            .chain_update(self.seed)
            .chain_update(self.counter.to_le_bytes())
            .finalize()
            .into()
    }
}

impl rand_core::TryRng for VerifyRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let b = self.block();
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let b = self.block();
        let mut out = [0u8; 8];
        out.copy_from_slice(&b[..8]);
        Ok(u64::from_le_bytes(out))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(32) {
            let b = self.block();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for VerifyRng {}

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
    let mut rng = VerifyRng::new(block);
    if !f.verify(&mut rng, &verifier, &Sequential) {
        return Err(FinalityError::BadSignatures);
    }
    Ok(())
}
