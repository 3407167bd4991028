//! Commonware 2026.10.0 prototype: simplex (ed25519) + marshal (standard/Inline) over a
//! custom Block, in the deterministic runtime with the simulated p2p network.

pub mod app;
pub mod block;
pub mod epochs;
pub mod node;
pub mod sim;

pub type PK = commonware_cryptography::ed25519::PublicKey;
/// simplex ed25519 certificate scheme (attributable, linear-size certificates).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;
/// Consensus context handed to propose/verify.
pub type Ctx = commonware_consensus::simplex::types::Context<commonware_cryptography::sha256::Digest, PK>;

/// Signing namespace (domain separation for all consensus signatures).
pub const NAMESPACE: &[u8] = b"cwproto";
