//! Consensus: Commonware simplex BFT (ed25519, attributable votes) with marshal delivering
//! finalized blocks in order, one engine per era (= epoch), over this crate's blocks, mempool,
//! execution and authenticated store.
//!
//! - [`block`]: the block type as consensus sees it (digest = the header hash).
//! - [`core`]: the node's chain state shared by proposing, verifying and finalizing.
//! - [`app`]: the marshal application (propose / verify) and the finalized-block executor.
//! - [`node`]: wiring — marshal, buffered broadcast, resolver, the per-era engine orchestrator.
//! - [`sim`]: validators over the simulated network, for tests and the wide-area benchmark.
//!
//! Every Commonware type stays inside this module; the rest of the chain speaks in
//! [`crate::Block`], [`crate::Hash`] and runtime accounts.

pub mod app;
pub mod block;
pub mod core;
pub mod evidence;
pub mod finality;
pub mod node;
pub mod sim;

use crust_primitives::{AccountId, Keypair};
use std::time::Duration;

pub use crust_light::finality::{PublicKey, Scheme, public_key_of};
/// A consensus private key.
pub type PrivateKey = commonware_cryptography::ed25519::PrivateKey;
/// The consensus context given to propose/verify.
pub type Ctx = commonware_consensus::simplex::types::Context<
    commonware_cryptography::sha256::Digest,
    PublicKey,
>;

/// The consensus private key for a session key pair.
pub fn consensus_key(keypair: &Keypair) -> PrivateKey {
    use commonware_codec::DecodeExt as _;
    let seed = keypair.seed();
    PrivateKey::decode(commonware_codec::Copying(seed.as_slice()))
        .expect("any 32-byte seed is an ed25519 key")
}

/// The session account of a consensus public key.
pub fn account_of(key: &PublicKey) -> AccountId {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(key.as_ref());
    AccountId(bytes)
}

/// Consensus timeouts derived from the target block interval: a leader has the block interval
/// plus one second to propose before the others move on.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Wait for a proposal.
    pub leader: Duration,
    /// Wait for a notarization after a proposal.
    pub certification: Duration,
    /// Rebroadcast interval of a nullify vote.
    pub retry: Duration,
    /// Skip leaders that have been inactive this long.
    pub skip: Duration,
}

impl Timeouts {
    /// Timeouts for a block interval of `block_time_ms`.
    pub fn for_block_time(block_time_ms: u64) -> Self {
        let leader = Duration::from_millis(block_time_ms) + Duration::from_secs(1);
        Self {
            leader,
            certification: leader * 2,
            retry: leader * 3,
            skip: leader * 5,
        }
    }
}

/// Domain separation for every consensus signature of a chain.
pub fn namespace(chain_id: &str) -> Vec<u8> {
    format!("crust/consensus/{chain_id}").into_bytes()
}

#[cfg(test)]
mod tests;
