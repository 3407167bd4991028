//! The chain: signed transactions, blocks, the mempool, and block execution over the runtime.
//!
//! This crate turns the runtime (a pure state machine) into a blockchain. The pieces here are
//! independent of consensus: a [`Transaction`] is signed over the chain's genesis hash so it
//! cannot be replayed on another chain, carries a nonce, fee, tip and mortality window, and
//! decodes with bounded sizes; a [`Block`] commits to its parent, height, time, proposer, state
//! root and transactions root; the [`mempool`] admits only transactions that could execute and
//! orders them by tip; [`execute`] applies a block to a state and reports what happened.

pub use crust_light::{block, hash, proof, tx};
pub mod consensus;
pub mod execute;
pub mod gossip;
pub mod handoffs;
pub mod history;
pub mod layer;
pub mod memory;
pub mod mempool;
pub mod metrics;
pub mod peers;
pub mod rpc;
pub mod service;
pub mod sizes;
pub mod spec;
pub mod store;
mod translator;

pub use block::{Block, Header};
pub use hash::Hash;
pub use tx::{Mortality, Transaction, TxError, UnsignedTransaction};

#[cfg(test)]
mod tests;
