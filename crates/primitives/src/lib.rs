//! Primitive types shared by every layer of the network.
//!
//! Everything here is deterministic and free of I/O, so the runtime (which must replay
//! identically on every node) can depend on it:
//!
//! - [`account`]: ed25519 account keys, signatures, SS58 addresses (prefix 66) and BIP39
//!   mnemonics with Substrate-compatible derivation, so keys made by the reference network's
//!   tools map to the same accounts here.
//! - [`balance`]: the `Balance` unit (12 decimals, 1 CRU = 10^12 units), formatting and parsing.
//! - [`per_thing`]: `Perbill`/`Permill` fixed-point ratios with the reference's rounding.
//! - [`cid`]: content identifiers (CIDv0 and CIDv1) with a canonical byte form for state keys.
//! - [`codec`]: the one bounded binary codec used for state values, calls and blocks.
//! - [`constants`]: time and currency constants with their reference sources.
//! - [`merkle`]: SHA-256 Merkle trees and inclusion proofs for work reports and challenges.
//! - [`commitment`]: content commitments of orders (D29) and their piece proofs.
//! - [`signed`]: requests an account signs for a service, checked within a clock window.

pub mod account;
pub mod balance;
pub mod cid;
pub mod codec;
pub mod commitment;
pub mod constants;
pub mod merkle;
pub mod per_thing;
pub mod signed;

pub use account::{AccountId, Keypair, Signature};
pub use balance::{Balance, CRU};
pub use cid::Cid;
pub use per_thing::{Perbill, Permill};

/// A block height. Time in the protocol is counted in blocks (decision D6).
pub type BlockHeight = u64;

/// An era index: eras are `slots_per_era` report slots long, set by the chain spec.
pub type EraIndex = u64;
