//! A pinning service for IPFS users that speaks the IPFS Pinning Service API
//! (ipfs/pinning-services-api-spec v1.0.0), so Kubo's `ipfs pin remote`, ipfs-webui and the
//! SDKs use the network without knowing it.
//!
//! - [`model`]: the API's objects and bounds;
//! - [`store`]: tokens (hashed) and pin requests in an embedded crash-safe database;
//! - [`auth`]: bearer tokens that an account makes, lists and revokes with signed requests, and
//!   the reference network's web3 tokens;
//! - [`web3`]: a web3 token's expiry rule, the account's live on-chain approval of the service;
//! - [`funds`]: `409 INSUFFICIENT_FUNDS` for a request its account cannot pay for now;
//! - [`verdicts`]: a short memory of the chain's answers per account;
//! - [`api`]: the HTTP routes;
//! - [`upload`]: Kubo's `add` and `dag/import` behind the tokens, each root a pin request;
//! - [`process`]: moving each request along — content fetched and committed to, a storage order
//!   placed for the token's account, replicas followed on chain to `pinned`.

pub mod api;
pub mod auth;
pub mod funds;
pub mod model;
pub mod process;
pub mod store;
pub mod time;
pub mod upload;
pub mod verdicts;
pub mod web3;

pub use api::{Service, router};
pub use model::{Pin, PinResults, PinStatus, Status};
pub use store::Store;
