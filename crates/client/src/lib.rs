//! The chain's RPC contract and a client for it.
//!
//! - [`api`]: every method, defined once — its name, its parameters and its answer. The node's
//!   server decodes and encodes these same types, and so do the CLI, the storage worker and
//!   the console, so no side indexes loose JSON.
//! - [`wire`]: JSON-RPC 2.0 framing and error codes.
//! - [`Client`]: typed calls over any [`Transport`], blocks checked against their headers,
//!   transactions priced with the runtime's own fee function and followed until applied.
//! - [`follower`]: finality certificates checked against committees learned by proof.
//!
//! Nothing here does I/O itself, so it builds for `wasm32-unknown-unknown` (`.ci/run` checks).

pub mod api;
mod client;
pub mod follower;
pub mod linker;
pub mod queries;
pub mod verify;
pub mod wire;

pub use client::{CheckedBlock, Client, ClientError, MORTALITY, Outcome, Transport, sign_call};
pub use follower::{Certified, Trust};
pub use linker::Linker;
