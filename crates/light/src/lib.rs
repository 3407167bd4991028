//! What a light client checks without trusting a node: block headers and their hashes
//! ([`block`], [`hash`]), signed transactions ([`tx`]), proofs of state entries under a
//! committed root ([`state_proof`]) and of whole queries ([`proof`]), and finality
//! certificates ([`finality`]). The full node (`crust-chain`) uses the same code, so a
//! follower — the storage worker, the CLI, or the console in a browser (this crate builds for
//! `wasm32-unknown-unknown`) — checks exactly what validators produce.

pub mod block;
pub mod finality;
pub mod hash;
pub mod hex;
pub mod proof;
pub mod state_proof;
pub mod tx;

pub use block::{Block, Header};
pub use hash::Hash;
pub use tx::{Mortality, Transaction, TxError, UnsignedTransaction};
